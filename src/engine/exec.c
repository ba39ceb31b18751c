/* exec.c — executes one claimed run, step by step (see exec_run in engine.h).
 *
 * The run's durable state is (pc, item, attempt, context): pc is the next
 * step, item the next foreach item, attempt the attempts already made of
 * that step/item, and context a JSON object
 *     {"steps": {id: output}, "vars": {...},
 *      "foreach": {id: {"n": number of items}},
 *      "wait_until": ms, "intent": "<step id>#<item>", "deferrals": n}
 * Every step outcome is committed together with the next state in one
 * store transaction (store_step_commit), so after a crash the run resumes at
 * the first step whose result was not recorded. Waiting (retry backoff,
 * delay, approval) is a stored state with a wake time: the worker returns.
 *
 * A foreach step's items and outputs are not in the context (each item's
 * commit would rewrite them all: O(N^2) bytes for N items). When the step
 * begins, its items are stored once (store_foreach_begin) and the context
 * gets only the marker foreach.<id> = {"n": N}; each item is read back from
 * the store when it runs, and its commit saves what it adds to the outputs
 * array (store_step_rec.result: the unredacted output, unlike the history
 * record) beside it. When item == N the outputs array is read back
 * (store_foreach_outputs), becomes steps.<id>, and the commit that records it
 * deletes the stored items (store_run_next.foreach_clear). A context written
 * by an older idflow, with foreach.<id> = {"items", "outputs"}, is moved to
 * the store the first time the step runs again.
 *
 * Secrets an action gives (secret-named keys of its output: tempPassword,
 * ...) are listed in context.secrets; everything written to the store goes
 * through dump_state (run state: each string holding one is sealed with
 * env->key, or redacted once the run ends) or dump_history (step records:
 * redacted), see secrets.c.
 *
 * Called on worker threads (and by `idflow run`); uses only the env given. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connections/connections.h"
#include "connectors/connector.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/seal.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/status.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "store/store.h"

#define EXEC_APPROVAL_DEFAULT_MS (7LL * 24 * 3600 * 1000)
#define EXEC_MAX_OUTPUT_TEXT (1u << 20) /* a step output larger than this is truncated in history */
#define EXEC_MIN_DEFER_MS 50            /* shortest wait after a deferred call */
#define EXEC_MAX_DEFERRALS 10000        /* deferred calls of one step before it fails */
#define EXEC_MAX_FOREACH_ITEMS STORE_FOREACH_MAX /* items of one foreach step */

struct exec_state {
    struct exec_env *env;
    const struct flow *f;
    const struct store_run *run;
    json_t *event;   /* parsed run->event */
    json_t *ctx;     /* context, owned */
    int pc, item, attempt;
    bool finished;   /* the run's final "succeeded" state is already committed */
    json_t *result;  /* a foreach item's output recorded for the next commit to save, or NULL */
    bool foreach_clear; /* the next commit ends the foreach step: its stored items go */
};

static char *dump(const json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

/* Run state v as stored: the run's secrets sealed, or redacted once the run
 * ends (secrets.c). Caller frees; NULL when v is NULL or memory ran out. */
static char *dump_state(const struct exec_state *st, const json_t *v, bool ends)
{
    json_t *p = engine__secrets_persist(v, engine__secrets_of(st->ctx), ends ? NULL : st->env->key, st->run->id);
    char *t = dump(p);
    json_decref(p);
    return t;
}

/* v as history shows it: redacted, the run's secrets masked. Caller frees. */
static char *dump_history(const struct exec_state *st, const json_t *v, bool redact)
{
    const json_t *secrets = engine__secrets_of(st->ctx);
    json_t *h = redact ? engine__secrets_history(v, secrets) : engine__secrets_persist(v, secrets, NULL, 0);
    char *t = dump(h);
    json_decref(h);
    return t;
}

/* The jq input {event, steps, vars, run, workflow[, item/<as>]}. */
static json_t *jq_input(struct exec_state *st, const json_t *item, const char *as)
{
    json_t *in = json_object();
    json_t *run = json_object();
    json_t *wf = json_object();

    json_object_set(in, "event", st->event);
    json_object_set(in, "steps", json_object_get(st->ctx, "steps"));
    json_object_set(in, "vars", json_object_get(st->ctx, "vars"));
    json_object_set_new(run, "id", json_integer(st->run->id));
    json_object_set_new(run, "attempt", json_integer(st->attempt + 1));
    json_object_set_new(in, "run", run);
    json_object_set_new(wf, "name", json_string(st->f->name));
    json_object_set_new(wf, "version", json_integer(st->run->version));
    json_object_set_new(in, "workflow", wf);
    if (item) {
        json_object_set(in, "item", (json_t *)item);
        if (as && strcmp(as, "item") != 0)
            json_object_set(in, as, (json_t *)item);
    }
    return in;
}

static void trace(struct exec_state *st, const struct flow_step *s, int item, const char *what,
                  const char *detail)
{
    FILE *t = st->env->trace;
    if (!t)
        return;
    if (item >= 0)
        fprintf(t, "  %-24s [%d] %-10s %s\n", s->id, item, what, detail ? detail : "");
    else
        fprintf(t, "  %-24s %-14s %s\n", s->id, what, detail ? detail : "");
    fflush(t);
}

/* `idflow run` in the foreground: the secrets an action gave (tempPassword,
 * ...) are shown once to the caller who ran it; history never holds them. */
static void trace_secrets(struct exec_state *st, const struct flow_step *s, int item, const json_t *output)
{
    const char *k;
    json_t *v;
    char line[1200];

    if (!st->env->trace || !json_is_object(output))
        return;
    json_object_foreach((json_t *)output, k, v)
    {
        if (json_is_string(v) && json_string_length(v) && engine__secrets_key(k)) {
            snprintf(line, sizeof line, "%s: %s (shown once; not stored)", k, json_string_value(v));
            trace(st, s, item, "secret", line);
            seal_wipe(line, sizeof line);
        }
    }
}

/* Commits a step record and the next run state. */
static int commit(struct exec_state *st, const struct flow_step *s, int item, enum engine_step_status step_status,
                  int attempts, const json_t *input, const json_t *output, const json_t *error,
                  int64_t started, enum engine_run_status run_status, int64_t wake_at, const char *run_error,
                  const char *approval_msg, struct idf_err *err)
{
    struct store_step_rec rec;
    struct store_run_next next;
    char *in_text = NULL, *out_text = NULL, *err_text = NULL, *ctx_text = NULL, *res_text = NULL;
    char *run_err = NULL, *appr = NULL;
    const json_t *secrets = engine__secrets_of(st->ctx);
    bool ends;
    int64_t now = time_now_ms();
    int rc;

    if (s) {
        in_text = dump_history(st, input, true);
        out_text = dump_history(st, output, true);
        if (out_text && strlen(out_text) > EXEC_MAX_OUTPUT_TEXT) {
            free(out_text);
            out_text = strdup("{\"truncated\":true}");
        }
        err_text = dump_history(st, error, false);
        memset(&rec, 0, sizeof rec);
        rec.index = (int)(s - st->f->steps);
        rec.step_id = s->id;
        rec.item = item;
        rec.status = engine_step_status_name(step_status);
        rec.attempts = attempts;
        rec.input = in_text;
        rec.output = out_text;
        rec.error = err_text;
        rec.started_at = started;
        rec.finished_at = step_status == ENGINE_STEP_WAITING ? 0 : now;
        if (item >= 0 && st->result) {
            res_text = dump_state(st, st->result, false); /* kept until the step ends: sealed */
            if (!res_text) {
                rc = idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
                goto out;
            }
            rec.result = res_text;
        }
    }
    /* the last step's outcome and the run's success share one transaction */
    if (run_status == ENGINE_RUN_RUNNING && st->pc >= (int)st->f->n_steps) {
        run_status = ENGINE_RUN_SUCCEEDED;
        st->finished = true;
    }
    /* once the run ends, nothing secret stays: its secrets are redacted, not sealed */
    ends = run_status != ENGINE_RUN_RUNNING && run_status != ENGINE_RUN_WAITING;
    ctx_text = dump_state(st, st->ctx, ends);
    run_err = run_error ? engine__secrets_mask_str(run_error, secrets) : NULL;
    appr = approval_msg ? engine__secrets_mask_str(approval_msg, secrets) : NULL;
    if (!ctx_text || (run_error && !run_err) || (approval_msg && !appr)) {
        rc = idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
        goto out;
    }
    memset(&next, 0, sizeof next);
    next.status = engine_run_status_name(run_status);
    next.pc = st->pc;
    next.item = st->item;
    next.attempt = st->attempt;
    next.context = ctx_text;
    next.wake_at = wake_at;
    next.error = run_err;
    next.foreach_clear = st->foreach_clear;
    if (approval_msg) {
        next.approval_step_id = s->id;
        next.approval_message = appr;
    }
    if (run_status != ENGINE_RUN_RUNNING && st->env->begin_next > 0 && !st->env->next_begun) {
        /* this thread leaves the run: the next one it executes begins in the same transaction */
        next.begin_run = st->env->begin_next;
        next.begin_lease_until = now + st->env->lease_ms;
    }
    rc = store_step_commit(st->env->store, st->run->id, st->env->owner, now, s ? &rec : NULL, &next, err);
    if ((rc == 0 || rc == IDF_ECANCELLED) && next.begin_run) {
        st->env->next_begun = true;
        st->env->lease_renewed_at = now; /* the next run's lease was extended with it */
    }
    if (rc == 0 && st->env->engine)
        engine__count_step(st->env->engine, s ? step_status : ENGINE_STEP_NONE, run_status);
out:
    json_decref(st->result);
    st->result = NULL;
    st->foreach_clear = false;
    free(in_text);
    free(out_text);
    free(err_text);
    free(ctx_text);
    free(res_text);
    free(run_err);
    free(appr);
    return rc;
}

static json_t *error_obj(const char *message, const json_t *detail)
{
    json_t *e = json_object();
    json_object_set_new(e, "message", json_string(message));
    if (detail)
        json_object_set(e, "detail", (json_t *)detail);
    return e;
}

/* Records `output` as the result of step s (item `item`, or -1) and advances.
 * A foreach item's output is saved by the next commit (st->result). */
static void record_output(struct exec_state *st, const struct flow_step *s, int item, json_t *output)
{
    json_t *steps = json_object_get(st->ctx, "steps");
    json_object_del(st->ctx, "intent"); /* the outcome is known */
    json_object_del(st->ctx, "deferrals");
    if (item >= 0) {
        json_decref(st->result);
        st->result = json_incref(output ? output : json_null());
        st->item++;
    } else {
        json_t *foreach = json_object_get(st->ctx, "foreach");
        if (json_object_get(foreach, s->id)) { /* the foreach step ends without its outputs array */
            json_object_del(foreach, s->id);
            st->foreach_clear = true;
        }
        json_object_set(steps, s->id, output ? output : json_null());
        st->pc++;
        st->item = 0;
    }
    st->attempt = 0;
}

/* A step failed with message/detail. Decides retry / continue / fail and commits. */
#define EXPR_MSG_MAX 1400 /* an expression failure's message: location, what, the expression's own */

/* The message of an expression that failed: "file:line:col: what: msg", or
 * "file:line:col: what.key: ..." when msg starts with the template path
 * (".url: ${{ .x }}: ..."). Budgets (time, memory, a crash in jq) are named
 * by msg itself (expr.h). */
static void expr_failure(char msg[EXPR_MSG_MAX], const struct exec_state *st, struct flow_pos at, const char *what,
                         const char *emsg)
{
    snprintf(msg, EXPR_MSG_MAX, "%s:%d:%d: %s%s%s", st->f->path ? st->f->path : st->f->name, at.line, at.col, what,
             emsg[0] == '.' ? "" : ": ", emsg);
}

static int on_failure(struct exec_state *st, const struct flow_step *s, int item, const json_t *input,
                      const char *message, const json_t *detail, bool retryable, int64_t retry_after_ms,
                      int64_t started, struct exec_outcome *out, bool *stop, struct idf_err *err)
{
    int attempts = st->attempt + 1;
    json_t *e = error_obj(message, detail);
    int rc;

    json_object_set_new(e, "retryable", json_boolean(retryable));
    /* A failure answered by the remote API is a known outcome; a retryable one
     * (timeout, dropped connection) may have landed: keep the intent so the next
     * attempt looks before it writes. */
    if (!retryable)
        json_object_del(st->ctx, "intent");
    json_object_del(st->ctx, "deferrals");
    if (retryable && attempts < s->retry_max) {
        int64_t delay = time_backoff_ms(attempts, s->retry_backoff_ms, s->retry_max_delay_ms);
        int64_t wake;
        if (retry_after_ms > delay)
            delay = retry_after_ms;
        wake = time_now_ms() + delay;
        st->attempt = attempts;
        trace(st, s, item, "retrying", message);
        rc = commit(st, s, item, ENGINE_STEP_RETRYING, attempts, input, NULL, e, started,
                    ENGINE_RUN_WAITING, wake, NULL, NULL, err);
        out->status = ENGINE_RUN_WAITING;
        out->wake_at = wake;
        *stop = true;
    } else if (s->continue_on_error) {
        json_t *o = json_object();
        json_object_set(o, "error", e);
        trace(st, s, item, "failed", message);
        record_output(st, s, item, o);
        json_decref(o);
        rc = commit(st, s, item, ENGINE_STEP_FAILED, attempts, input, NULL, e, started, ENGINE_RUN_RUNNING,
                    0, NULL, NULL, err);
    } else {
        char run_err[1200];
        snprintf(run_err, sizeof run_err, "step '%s' failed: %s", s->id, message);
        trace(st, s, item, "failed", message);
        rc = commit(st, s, item, ENGINE_STEP_FAILED, attempts, input, NULL, e, started, ENGINE_RUN_FAILED,
                    0, run_err, NULL, err);
        out->status = ENGINE_RUN_FAILED;
        *stop = true;
    }
    json_decref(e);
    return rc;
}

/* delay and approval: the first visit stores wait_until and a waiting state;
 * later visits (woken by the timer or a decision) finish or wait again. */
static int wait_step(struct exec_state *st, const struct flow_step *s, int item, const json_t *params,
                     int64_t started, struct exec_outcome *out, bool *stop, struct idf_err *err)
{
    bool approval = s->action->kind == CONN_K_APPROVAL;
    json_t *until_v = json_object_get(st->ctx, "wait_until");
    const json_t *dur_v = json_object_get(params, approval ? "timeout" : "duration");
    int64_t now = time_now_ms();
    int64_t dur = approval ? EXEC_APPROVAL_DEFAULT_MS : 0;
    const int attempts = st->attempt + 1;
    json_t *o = NULL;
    int rc = 0;

    if (json_is_integer(dur_v))
        dur = json_integer_value(dur_v) * 1000;
    else if (json_is_string(dur_v) && time_parse_duration(json_string_value(dur_v), &dur))
        return on_failure(st, s, item, params, "invalid duration", NULL, false, 0, started, out, stop, err);

    if (st->env->dry_run) {
        trace(st, s, item, approval ? "would wait for approval" : "would wait", NULL);
        o = json_pack("{s:b}", "dry_run", 1);
        record_output(st, s, item, o);
        rc = commit(st, s, item, ENGINE_STEP_SUCCEEDED, 1, params, o, NULL, started, ENGINE_RUN_RUNNING, 0, NULL,
                    NULL, err);
        json_decref(o);
        return rc;
    }
    if (!until_v) {
        int64_t until = now + dur;
        json_object_set_new(st->ctx, "wait_until", json_integer(until));
        trace(st, s, item, "waiting", approval ? "for approval" : NULL);
        rc = commit(st, s, item, ENGINE_STEP_WAITING, st->attempt + 1, params, NULL, NULL, started,
                    ENGINE_RUN_WAITING, until, NULL,
                    approval ? (json_string_value(json_object_get(params, "message"))
                                    ? json_string_value(json_object_get(params, "message"))
                                    : "approval requested")
                             : NULL,
                    err);
        out->status = ENGINE_RUN_WAITING;
        out->wake_at = until;
        *stop = true;
        return rc;
    }
    if (approval) {
        char *status = NULL, *actor = NULL;
        enum engine_approval_status decided = ENGINE_APPROVAL_PENDING;
        int arc = store_approval_get(st->env->store, st->run->id, s->id, &status, &actor);
        if (arc == 0 && engine_approval_status_parse(status, &decided))
            decided = ENGINE_APPROVAL_PENDING; /* the schema allows no other text */
        if (arc == 0 && decided == ENGINE_APPROVAL_APPROVED) {
            o = json_pack("{s:b,s:s?}", "approved", 1, "actor", actor);
        } else if (arc == 0 && decided == ENGINE_APPROVAL_REJECTED) {
            char msg[300];
            snprintf(msg, sizeof msg, "rejected by %s", actor ? actor : "an approver");
            json_object_del(st->ctx, "wait_until");
            free(status);
            free(actor);
            return on_failure(st, s, item, params, msg, NULL, false, 0, started, out, stop, err);
        }
        free(status);
        free(actor);
    } else if (now >= json_integer_value(until_v)) {
        o = json_pack("{s:I}", "waited_ms", (json_int_t)dur);
    }
    if (!o && now >= json_integer_value(until_v)) {
        json_object_del(st->ctx, "wait_until");
        return on_failure(st, s, item, params, "approval timed out", NULL, false, 0, started, out, stop, err);
    }
    if (!o) { /* woken early: wait again */
        rc = commit(st, NULL, -1, ENGINE_STEP_NONE, 0, NULL, NULL, NULL, 0, ENGINE_RUN_WAITING, json_integer_value(until_v),
                    NULL, NULL, err);
        out->status = ENGINE_RUN_WAITING;
        out->wake_at = json_integer_value(until_v);
        *stop = true;
        return rc;
    }
    json_object_del(st->ctx, "wait_until");
    trace(st, s, item, approval ? "approved" : "succeeded", NULL);
    record_output(st, s, item, o);
    rc = commit(st, s, item, ENGINE_STEP_SUCCEEDED, attempts, params, o, NULL, started, ENGINE_RUN_RUNNING,
                0, NULL, NULL, err);
    json_decref(o);
    return rc;
}

/* The action was not carried out (paced, busy, refused before doing anything):
 * wait and call again without counting an attempt. The number of deferrals of
 * the current step is kept in the context and capped. */
static int on_deferred(struct exec_state *st, const struct flow_step *s, int item, const json_t *input,
                       const char *message, const json_t *detail, int64_t retry_after_ms, int64_t started,
                       struct exec_outcome *out, bool *stop, struct idf_err *err)
{
    json_int_t n = json_integer_value(json_object_get(st->ctx, "deferrals")) + 1;
    json_t *e;
    int64_t wake;
    int rc;

    if (n > EXEC_MAX_DEFERRALS) {
        char msg[1200];
        json_object_del(st->ctx, "deferrals");
        snprintf(msg, sizeof msg, "deferred %d times, giving up: %s", EXEC_MAX_DEFERRALS, message);
        return on_failure(st, s, item, input, msg, detail, false, 0, started, out, stop, err);
    }
    json_object_set_new(st->ctx, "deferrals", json_integer(n));
    json_object_del(st->ctx, "intent"); /* nothing was sent: the next call is not uncertain */
    wake = time_now_ms() + (retry_after_ms > EXEC_MIN_DEFER_MS ? retry_after_ms : EXEC_MIN_DEFER_MS);
    e = error_obj(message, detail);
    json_object_set_new(e, "deferred", json_true());
    trace(st, s, item, "deferred", message);
    rc = commit(st, s, item, ENGINE_STEP_RETRYING, st->attempt, input, NULL, e, started, ENGINE_RUN_WAITING, wake, NULL,
                NULL, err);
    json_decref(e);
    out->status = ENGINE_RUN_WAITING;
    out->wake_at = wake;
    *stop = true;
    return rc;
}

/* ------------------------------------------------------------ foreach */

/* Stores the items of foreach step s and, for a context written by an older
 * idflow, the outputs its first items produced, then commits the run with
 * the step's marker foreach.<id> = {"n": N}, in one transaction. With no
 * items only the marker is set (nothing to store). */
static int foreach_begin(struct exec_state *st, const struct flow_step *s, const json_t *items, const json_t *outputs,
                         struct idf_err *err)
{
    size_t n = json_array_size(items), n_res = json_array_size(outputs);
    struct store_run_next next;
    char **texts = NULL, *ctx_text = NULL;
    int rc = 0;

    json_object_set_new(json_object_get(st->ctx, "foreach"), s->id, json_pack("{s:I}", "n", (json_int_t)n));
    if (n == 0)
        return 0;
    if (n_res > n)
        n_res = n;
    texts = calloc(n + n_res, sizeof *texts);
    if (!texts)
        return idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
    for (size_t i = 0; i < n + n_res; i++) {
        texts[i] = dump_state(st, i < n ? json_array_get(items, i) : json_array_get(outputs, i - n), false);
        if (!texts[i]) {
            rc = idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
            goto out;
        }
    }
    ctx_text = dump_state(st, st->ctx, false);
    if (!ctx_text) {
        rc = idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
        goto out;
    }
    memset(&next, 0, sizeof next);
    next.status = engine_run_status_name(ENGINE_RUN_RUNNING);
    next.pc = st->pc;
    next.item = st->item;
    next.attempt = st->attempt;
    next.context = ctx_text;
    rc = store_foreach_begin(st->env->store, st->run->id, st->env->owner, time_now_ms(), (int)(s - st->f->steps),
                             (const char *const *)texts, n, (const char *const *)(texts + n), n_res, &next, err);
out:
    for (size_t i = 0; texts && i < n + n_res; i++)
        free(texts[i]);
    free(texts);
    free(ctx_text);
    return rc;
}

/* After the last item: the stored results become steps.<id> (the outputs
 * array), and the commit that records it deletes the stored items. */
static int foreach_finish(struct exec_state *st, const struct flow_step *s, int64_t started, struct exec_outcome *out,
                          bool *stop, struct idf_err *err)
{
    char *text = NULL;
    json_t *outputs = NULL;
    int rc = store_foreach_outputs(st->env->store, st->run->id, (int)(s - st->f->steps), &text);

    if (rc == IDF_ETOOBIG)
        return on_failure(st, s, -1, NULL, "foreach: the outputs of its items are larger than a run may hold (16 MiB)",
                          NULL, false, 0, started, out, stop, err);
    if (rc)
        return idf_err_set(err, rc, "run %lld: cannot read the outputs of foreach step '%s'", (long long)st->run->id,
                           s->id);
    outputs = engine__secrets_open(json_loads(text, 0, NULL), st->env->key, st->run->id, false);
    free(text);
    if (!outputs)
        return idf_err_set(err, IDF_EDB, "run %lld: the stored outputs of foreach step '%s' do not parse",
                           (long long)st->run->id, s->id);
    json_object_set_new(json_object_get(st->ctx, "steps"), s->id, outputs);
    json_object_del(json_object_get(st->ctx, "foreach"), s->id);
    st->foreach_clear = true;
    st->pc++;
    st->item = 0;
    st->attempt = 0;
    trace(st, s, -1, "done", NULL);
    return commit(st, NULL, -1, ENGINE_STEP_NONE, 0, NULL, NULL, NULL, started, ENGINE_RUN_RUNNING, 0, NULL, NULL, err);
}

/* The foreach part of a step: begins it (the list is evaluated once), or
 * ends it after the last item, or reads the current item from the store.
 * *handled is set when the step's visit is over (begun and failed, or
 * ended); otherwise *item_out and *item_v_out (new reference) are the item
 * to run. */
static int foreach_current(struct exec_state *st, const struct flow_step *s, int64_t started,
                           struct exec_outcome *out, bool *stop, int *item_out, json_t **item_v_out, bool *handled,
                           struct idf_err *err)
{
    json_t *foreach = json_object_get(st->ctx, "foreach");
    json_t *fe = json_object_get(foreach, s->id);
    json_t *items = NULL;
    struct idf_err e2;
    char *text = NULL;
    char msg[EXPR_MSG_MAX];
    int rc = 0;

    idf_err_clear(&e2);
    if (fe && json_is_array(json_object_get(fe, "items"))) {
        /* a context from before foreach state was stored apart */
        json_t *old = json_incref(fe);
        rc = foreach_begin(st, s, json_object_get(old, "items"), json_object_get(old, "outputs"), err);
        json_decref(old);
        if (rc)
            return rc;
        fe = json_object_get(foreach, s->id);
    }
    if (!fe) {
        json_t *tmpl = json_string(s->foreach_expr);
        json_t *input = jq_input(st, NULL, NULL);
        rc = expr_render(st->env->expr, tmpl, input, &items, &e2);
        json_decref(tmpl);
        json_decref(input);
        if (rc || !json_is_array(items) || json_array_size(items) > EXEC_MAX_FOREACH_ITEMS) {
            if (rc)
                expr_failure(msg, st, s->foreach_at, "foreach", e2.msg);
            else if (!json_is_array(items))
                snprintf(msg, sizeof msg, "foreach: the expression must give an array");
            else
                snprintf(msg, sizeof msg, "foreach: %zu items, more than the %d a step may have",
                         json_array_size(items), EXEC_MAX_FOREACH_ITEMS);
            json_decref(items);
            *handled = true;
            return on_failure(st, s, -1, NULL, msg, NULL, false, 0, started, out, stop, err);
        }
        rc = foreach_begin(st, s, items, NULL, err);
        json_decref(items);
        if (rc)
            return rc;
        fe = json_object_get(foreach, s->id);
    }
    if (st->item >= json_integer_value(json_object_get(fe, "n"))) {
        *handled = true;
        return foreach_finish(st, s, started, out, stop, err);
    }
    *item_out = st->item;
    rc = store_foreach_item(st->env->store, st->run->id, (int)(s - st->f->steps), st->item, &text);
    if (rc && rc != IDF_ENOTFOUND)
        return idf_err_set(err, rc, "run %lld: cannot read item %d of foreach step '%s'", (long long)st->run->id,
                           st->item, s->id);
    *item_v_out = text ? engine__secrets_open(json_loads(text, JSON_DECODE_ANY, NULL), st->env->key, st->run->id, false)
                       : NULL;
    free(text);
    if (!*item_v_out) {
        snprintf(msg, sizeof msg, "foreach: item %d is %s", st->item, rc ? "not stored" : "not valid JSON");
        *handled = true;
        return on_failure(st, s, st->item, NULL, msg, NULL, false, 0, started, out, stop, err);
    }
    return 0;
}

/* Runs one step (or one foreach item). Sets *stop when the run waits or ends. */
static int run_step(struct exec_state *st, const struct flow_step *s, struct exec_outcome *out, bool *stop,
                    struct idf_err *err)
{
    struct idf_err e2;
    json_t *input = NULL, *params = NULL, *item_v = NULL;
    int item = -1;
    int64_t started = time_now_ms();
    const int attempts = st->attempt + 1; /* this attempt, counted from 1 (record_output resets st->attempt) */
    int rc = 0;

    idf_err_clear(&e2);
    /* if: evaluated once, before the first attempt of the step */
    if (s->if_expr && st->item == 0 && st->attempt == 0 &&
        !json_object_get(json_object_get(st->ctx, "foreach"), s->id)) {
        bool yes = false;
        input = jq_input(st, NULL, NULL);
        if (expr_truthy(st->env->expr, s->if_expr, input, &yes, &e2)) {
            char msg[EXPR_MSG_MAX], what[120];
            snprintf(what, sizeof what, "if '%.80s%s'", s->if_expr, strlen(s->if_expr) > 80 ? "..." : "");
            expr_failure(msg, st, s->if_at, what, e2.msg);
            rc = on_failure(st, s, -1, NULL, msg, NULL, false, 0, started, out, stop, err);
            goto out;
        }
        if (!yes) {
            trace(st, s, -1, "skipped", "if: false");
            record_output(st, s, -1, NULL);
            rc = commit(st, s, -1, ENGINE_STEP_SKIPPED, 0, NULL, NULL, NULL, started, ENGINE_RUN_RUNNING, 0,
                        NULL, NULL, err);
            goto out;
        }
        json_decref(input);
        input = NULL;
    }
    if (s->foreach_expr) {
        bool handled = false;
        rc = foreach_current(st, s, started, out, stop, &item, &item_v, &handled, err);
        if (rc || handled)
            goto out;
    }

    input = jq_input(st, item_v, s->as);
    if (expr_render(st->env->expr, s->with, input, &params, &e2)) {
        char msg[EXPR_MSG_MAX];
        expr_failure(msg, st, s->with_at, "with", e2.msg);
        rc = on_failure(st, s, item, NULL, msg, NULL, false, 0, started, out, stop, err);
        goto out;
    }
    if (s->action->kind != CONN_K_SET && conn_params_check(s->action, params, &e2)) {
        rc = on_failure(st, s, item, params, e2.msg, NULL, false, 0, started, out, stop, err);
        goto out;
    }

    switch (s->action->kind) {
    case CONN_K_SET: {
        json_t *vars = json_object_get(st->ctx, "vars");
        json_object_update(vars, params);
        trace(st, s, item, "succeeded", NULL);
        record_output(st, s, item, params);
        rc = commit(st, s, item, ENGINE_STEP_SUCCEEDED, attempts, params, params, NULL, started,
                    ENGINE_RUN_RUNNING, 0, NULL, NULL, err);
        break;
    }
    case CONN_K_FAIL:
        rc = on_failure(st, s, item, params, json_string_value(json_object_get(params, "message")), NULL,
                        false, 0, started, out, stop, err);
        break;
    case CONN_K_DELAY:
    case CONN_K_APPROVAL:
        rc = wait_step(st, s, item, params, started, out, stop, err);
        break;
    case CONN_K_ACTION:
    default: {
        struct conn_result res;
        struct conn_call call;
        const struct connector *owner = registry_action_owner(s->action);
        int idx = registry_connector_index(owner);

        memset(&res, 0, sizeof res);
        if (st->env->dry_run) {
            json_t *red = log_redact(params);
            char *p = dump(red);
            if (st->env->trace)
                fprintf(st->env->trace, "  %-24s would call %s %s\n", s->id, s->action->name, p ? p : "{}");
            free(p);
            json_decref(red);
            res.output = json_pack("{s:b,s:s}", "dry_run", 1, "action", s->action->name);
            record_output(st, s, item, res.output);
            rc = commit(st, s, item, ENGINE_STEP_SUCCEEDED, 1, params, res.output, NULL, started,
                        ENGINE_RUN_RUNNING, 0, NULL, NULL, err);
            json_decref(res.output);
            break;
        }
        memset(&call, 0, sizeof call);
        if (owner && owner->connection) {
            /* the step's `connection:`, else the connection the event came from, else the
             * only connection of that kind */
            struct idf_err ce;
            const char *cname = s->connection;
            const char *src = json_string_value(json_object_get(st->event, "source"));
            if (!cname && src && strcmp(src, owner->name) == 0)
                cname = json_string_value(json_object_get(st->event, "connection"));
            idf_err_clear(&ce);
            rc = connections_for_action(st->env->conns, st->env->store, owner, cname, &call.connection, &ce);
            if (rc) {
                rc = on_failure(st, s, item, params, ce.msg, NULL, rc == IDF_EBUSY || rc == IDF_EDB, 0, started,
                                out, stop, err);
                break;
            }
            call.connection_name = json_string_value(json_object_get(call.connection, "name"));
        }
        if (s->action->records_intent) {
            /* a non-idempotent write: record the intent durably before the call, so a
             * crash in the window is known on resume (call.uncertain) */
            char key[300];
            const char *prev = json_string_value(json_object_get(st->ctx, "intent"));
            snprintf(key, sizeof key, "%s#%d", s->id, item);
            call.uncertain = prev && strcmp(prev, key) == 0;
            json_object_set_new(st->ctx, "intent", json_string(key));
            rc = commit(st, s, item, ENGINE_STEP_STARTED, attempts, params, NULL, NULL, started, ENGINE_RUN_RUNNING, 0,
                        NULL, NULL, err);
            if (rc)
                break;
        }
        call.item = item;
        call.http = st->env->http;
        call.run_id = st->run->id;
        call.step_id = s->id;
        call.attempt = st->attempt + 1;
        call.allow_http = st->f->allow_http;
        call.allow_private_network = st->f->allow_private_network;
        call.timeout_ms = s->timeout_ms;
        call.thread_slot = idx >= 0 && idx < ENGINE_MAX_CONNECTORS ? &st->env->slots[idx] : NULL;
        if (s->action->fn(&call, params, &res) == 0) {
            int src = engine__secrets_collect(st->ctx, res.output);
            if (src) {
                json_decref(res.output);
                res.output = NULL;
                rc = on_failure(st, s, item, params,
                                src == IDF_ETOOBIG ? "the run's actions gave more secrets than a run may hold"
                                                   : "out of memory",
                                NULL, false, 0, started, out, stop, err);
                json_decref(res.detail);
                break;
            }
            trace(st, s, item, "succeeded", NULL);
            trace_secrets(st, s, item, res.output);
            record_output(st, s, item, res.output);
            rc = commit(st, s, item, ENGINE_STEP_SUCCEEDED, attempts, params, res.output, NULL, started,
                        ENGINE_RUN_RUNNING, 0, NULL, NULL, err);
        } else if (res.deferred) {
            rc = on_deferred(st, s, item, params, res.message[0] ? res.message : "deferred", res.detail,
                             res.retry_after_ms, started, out, stop, err);
        } else {
            rc = on_failure(st, s, item, params, res.message[0] ? res.message : "action failed", res.detail,
                            res.retryable, res.retry_after_ms, started, out, stop, err);
        }
        json_decref(res.output);
        json_decref(res.detail);
        break;
    }
    }
out:
    json_decref(input);
    json_decref(params);
    json_decref(item_v);
    return rc;
}

/* Poison runs: the run was taken from a dead owner run->interrupted times in
 * a row while at this step (store.h: a commit that moves it on resets the
 * count), so what it does here kills the process (an abort in a library, the
 * memory killer, ...). It is failed without executing anything, through the
 * normal commit: the step's record and the run say why. fresh: the run has no
 * context yet (its vars were not rendered). */
static int fail_interrupted(struct exec_state *st, bool fresh, struct exec_outcome *out, struct idf_err *err)
{
    const bool in_vars = fresh && st->f->vars && json_object_size(st->f->vars); /* a fresh run renders them first */
    const struct flow_step *s = !in_vars && st->pc < (int)st->f->n_steps ? &st->f->steps[st->pc] : NULL;
    int item = -1;
    char where[400], msg[600];
    json_t *e;
    int rc;

    if (s && json_object_get(json_object_get(st->ctx, "foreach"), s->id))
        item = st->item; /* inside a begun foreach: that item */
    if (in_vars)
        snprintf(where, sizeof where, "the workflow's vars"); /* no step record: no step began */
    else if (!s)
        snprintf(where, sizeof where, "the end of the run");
    else if (item >= 0)
        snprintf(where, sizeof where, "step '%s' (item %d)", s->id, item);
    else
        snprintf(where, sizeof where, "step '%s'", s->id);
    snprintf(msg, sizeof msg, "interrupted %d times while running %s; not retried", st->run->interrupted, where);
    log_warn("run %lld: %s", (long long)st->run->id, msg);
    e = error_obj(msg, NULL);
    json_object_set_new(e, "retryable", json_false());
    if (s)
        trace(st, s, item, "failed", msg);
    rc = commit(st, s, item, ENGINE_STEP_FAILED, st->attempt > 0 ? st->attempt : 1, NULL, NULL, e, time_now_ms(),
                ENGINE_RUN_FAILED, 0, msg, NULL, err);
    json_decref(e);
    out->status = ENGINE_RUN_FAILED;
    return rc;
}

int exec_run(struct exec_env *env, const struct flow *f, const struct store_run *run, struct exec_outcome *out,
             struct idf_err *err)
{
    const int max_interruptions =
        env->max_interruptions > 0 ? env->max_interruptions : ENGINE_DEFAULT_MAX_INTERRUPTIONS;
    struct exec_state st;
    struct idf_err e2;
    json_t *input = NULL;
    bool stop = false, fresh;
    int rc = 0;

    memset(&st, 0, sizeof st);
    memset(out, 0, sizeof *out);
    out->status = ENGINE_RUN_RUNNING;
    st.env = env;
    st.f = f;
    st.run = run;
    st.pc = run->pc;
    st.item = run->item;
    st.attempt = run->attempt;
    st.event = run->event ? json_loads(run->event, JSON_DECODE_ANY, NULL) : NULL;
    if (!st.event)
        st.event = json_object();
    st.ctx = run->context ? engine__secrets_open(json_loads(run->context, 0, NULL), env->key, run->id, true) : NULL;
    idf_err_clear(&e2);
    fresh = !st.ctx;
    if (fresh)
        st.ctx = json_pack("{s:{},s:{},s:{}}", "steps", "vars", "foreach");
    if (run->interrupted >= max_interruptions) {
        rc = fail_interrupted(&st, fresh, out, err); /* before anything is evaluated or called */
        goto out;
    }
    /* from here a death of this process counts against the run (store_run_begin), unless its
     * claim or the commit that ended the run before it marked it begun already */
    if (!env->begun) {
        env->lease_renewed_at = time_now_ms();
        rc = store_run_begin(env->store, run->id, env->owner, env->lease_renewed_at + env->lease_ms);
        if (rc) {
            idf_err_set(err, rc, "run %lld: lease lost", (long long)run->id);
            goto out;
        }
    }
    if (fresh) {
        json_t *vars = NULL;
        if (f->vars && json_object_size(f->vars)) {
            input = jq_input(&st, NULL, NULL);
            if (expr_render(env->expr, f->vars, input, &vars, &e2)) {
                char msg[EXPR_MSG_MAX];
                expr_failure(msg, &st, f->vars_at, "vars", e2.msg);
                rc = commit(&st, NULL, -1, ENGINE_STEP_NONE, 0, NULL, NULL, NULL, 0, ENGINE_RUN_FAILED, 0, msg, NULL, err);
                out->status = ENGINE_RUN_FAILED;
                goto out;
            }
            json_object_set_new(st.ctx, "vars", vars);
        }
    }
    while (!stop && st.pc < (int)f->n_steps) {
        int64_t now = time_now_ms();
        if (env->lease_ms > 0 && now - env->lease_renewed_at > env->lease_ms / 3) {
            rc = store_run_renew(env->store, run->id, env->owner, now + env->lease_ms);
            if (rc) {
                idf_err_set(err, rc, "run %lld: lease lost", (long long)run->id);
                goto out;
            }
            env->lease_renewed_at = now;
        }
        rc = run_step(&st, &f->steps[st.pc], out, &stop, err);
        if (rc)
            goto out;
    }
    if (!stop) {
        if (!st.finished)
            rc = commit(&st, NULL, -1, ENGINE_STEP_NONE, 0, NULL, NULL, NULL, 0, ENGINE_RUN_SUCCEEDED, 0, NULL, NULL, err);
        out->status = ENGINE_RUN_SUCCEEDED;
    }
out:
    if (rc == IDF_ECANCELLED) {
        /* cancelled while it ran (store_run_cancel_request): the last step is
         * recorded and the run is already "cancelled" in the store */
        out->status = ENGINE_RUN_CANCELLED;
        idf_err_clear(err);
        rc = 0;
    }
    json_decref(input);
    json_decref(st.event);
    json_decref(st.ctx);
    json_decref(st.result);
    return rc;
}

void exec_env_release(struct exec_env *env)
{
    registry_free_slots(env->slots, ENGINE_MAX_CONNECTORS);
}

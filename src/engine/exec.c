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
 * Each visit of a step (or foreach item) ends in one struct step_outcome
 * (succeeded, skipped, failed, deferred, waiting, an intent, interrupted, or
 * the run's state alone) handed to exec__finish(), the one place that
 * applies the step's policy (retries with backoff, on_error: continue, the
 * deferral cap), moves the run's state on, and commits (commit(): the
 * step's record and the run's next state, struct exec_commit). Statuses are enums
 * (engine/status.h), named only where the store record is filled.
 *
 * Secrets an action gives (secret-named keys of its output: tempPassword,
 * ...) are listed in context.secrets; everything written to the store goes
 * through exec__dump_state (run state: each string holding one is sealed
 * with env->key, or redacted once the run ends) or dump_history (step
 * records: redacted), see secrets.c.
 *
 * Called on worker threads (and by `idflow run`); uses only the env given. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credentials/credentials.h"
#include "connectors/connector.h"
#include "core/invariant.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/seal.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/exec_internal.h"
#include "engine/status.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "store/store.h"

#define EXEC_APPROVAL_DEFAULT_MS (7LL * 24 * 3600 * 1000)
#define EXEC_MAX_OUTPUT_TEXT (1u << 20) /* a step output larger than this is truncated in history */
#define EXEC_MIN_DEFER_MS 50            /* shortest wait after a deferred call */
#define EXEC_MAX_DEFERRALS 10000        /* deferred calls of one step before it fails */
#define EXEC_MAX_FOREACH_ITEMS STORE_FOREACH_MAX /* items of one foreach step */

char *exec__dump(const json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

/* Run state v as stored: the run's secrets sealed, or redacted once the run
 * ends (secrets.c). Caller frees; NULL when v is NULL or memory ran out. */
char *exec__dump_state(const struct exec_state *st, const json_t *v, bool ends)
{
    json_t *p = engine__secrets_persist(v, engine__secrets_of(st->ctx), ends ? NULL : st->env->key, st->run->id);
    char *t = exec__dump(p);
    json_decref(p);
    return t;
}

/* v as history shows it: redacted, the run's secrets masked. Caller frees. */
static char *dump_history(const struct exec_state *st, const json_t *v, bool redact)
{
    const json_t *secrets = engine__secrets_of(st->ctx);
    json_t *h = redact ? engine__secrets_history(v, secrets) : engine__secrets_persist(v, secrets, NULL, 0);
    char *t = exec__dump(h);
    json_decref(h);
    return t;
}

/* The jq input {event, steps, vars, run, workflow[, item/<as>]}. */
json_t *exec__jq_input(struct exec_state *st, const json_t *item, const char *as)
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

void exec__trace(struct exec_state *st, const struct flow_step *s, int item, const char *what, const char *detail)
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
            exec__trace(st, s, item, "secret", line);
            seal_wipe(line, sizeof line);
        }
    }
}

/* ------------------------------------------------------------ outcomes */

/* What one commit writes: the record of a step (none when s is NULL) and
 * the run's next state, whose pc, item, attempt and context are st's. Every
 * pointer is borrowed; history gets input, output and error redacted. */
struct exec_commit {
    const struct flow_step *s;    /* the step recorded, or NULL: the run's state only */
    int item;                     /* its foreach item, or -1 */
    enum engine_step_status step; /* the record's status */
    int attempts;                 /* the record's attempts */
    const json_t *input;          /* the parameters as rendered, or NULL */
    const json_t *output;         /* what the step gave, or NULL */
    const json_t *error;          /* {message, detail, retryable[, deferred]}, or NULL */
    enum engine_run_status run;   /* the run's next status (running: it goes on) */
    int64_t wake_at;              /* when run is waiting: when it is runnable again */
    const char *run_error;        /* the run's error when it fails, or NULL */
    const char *approval;         /* opens an approval of s with this message, or NULL */
};

/* The texts one commit writes (owned, freed by texts_free). */
struct commit_texts {
    char *input, *output, *error, *ctx, *result, *run_error, *approval;
};

static void texts_free(struct commit_texts *t)
{
    free(t->input);
    free(t->output);
    free(t->error);
    free(t->ctx);
    free(t->result);
    free(t->run_error);
    free(t->approval);
}

/* Fills rec, the history record of c's step, with texts kept in t. */
static int fill_record(struct exec_state *st, const struct exec_commit *c, int64_t now, struct store_step_rec *rec,
                       struct commit_texts *t, struct idf_err *err)
{
    t->input = dump_history(st, c->input, true);
    t->output = dump_history(st, c->output, true);
    if (t->output && strlen(t->output) > EXEC_MAX_OUTPUT_TEXT) {
        free(t->output);
        t->output = strdup("{\"truncated\":true}");
    }
    t->error = dump_history(st, c->error, false);
    memset(rec, 0, sizeof *rec);
    rec->index = (int)(c->s - st->f->steps);
    rec->step_id = c->s->id;
    rec->item = c->item;
    rec->status = engine_step_status_name(c->step);
    rec->attempts = c->attempts;
    rec->input = t->input;
    rec->output = t->output;
    rec->error = t->error;
    rec->started_at = st->started;
    rec->finished_at = c->step == ENGINE_STEP_WAITING ? 0 : now;
    if (c->item >= 0 && st->result) {
        t->result = exec__dump_state(st, st->result, false); /* kept until the step ends: sealed */
        if (!t->result)
            return idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
        rec->result = t->result;
    }
    return 0;
}

/* The step record c would write next to the record this execution last
 * wrote of the same step and item (ENGINE_STEP_NONE: none). */
static enum engine_step_status step_before(const struct exec_state *st, const struct exec_commit *c)
{
    bool same = st->last.step != ENGINE_STEP_NONE && st->last.index == (int)(c->s - st->f->steps) &&
                st->last.item == c->item;
    return same ? st->last.step : ENGINE_STEP_NONE;
}

/* Invariants of a commit (core/invariant.h; debug builds): the executor
 * commits only while the run is running under its lease (a run that
 * finished, waits or was cancelled is never stepped again), and the run's
 * and the step record's changes are ones the state machines allow
 * (engine/status.c). */
static void check_transition(const struct exec_state *st, const struct exec_commit *c, enum engine_run_status run)
{
    IDF_INVARIANT(st->status == ENGINE_RUN_RUNNING, "run %lld: a commit after the run became %s",
                  (long long)st->run->id, engine_run_status_name(st->status));
    IDF_INVARIANT(engine_run_transition_ok(st->status, run), "run %lld: %s -> %s", (long long)st->run->id,
                  engine_run_status_name(st->status), engine_run_status_name(run));
    IDF_INVARIANT(!c->s || engine_step_transition_ok(step_before(st, c), c->step),
                  "run %lld step '%s' item %d: %s -> %s", (long long)st->run->id, c->s ? c->s->id : "", c->item,
                  c->s ? engine_step_status_name(step_before(st, c)) : "", engine_step_status_name(c->step));
}

/* A commit of c was recorded: the run is now `run`, c's record the last one. */
static void moved(struct exec_state *st, const struct exec_commit *c, enum engine_run_status run)
{
    st->status = run;
    if (c->s) {
        st->last.index = (int)(c->s - st->f->steps);
        st->last.item = c->item;
        st->last.step = c->step;
    }
}

/* Writes c: the step's record and the run's next state in one transaction
 * (store_step_commit), only while the lease is held. The foreach result
 * and foreach_clear of st go with it and are reset. */
static int commit(struct exec_state *st, const struct exec_commit *c, struct idf_err *err)
{
    struct store_step_rec rec;
    struct store_run_next next;
    struct commit_texts t;
    const json_t *secrets = engine__secrets_of(st->ctx);
    enum engine_run_status run = c->run;
    int64_t now = time_now_ms();
    int rc = 0;

    memset(&t, 0, sizeof t);
    if (c->s && (rc = fill_record(st, c, now, &rec, &t, err)))
        goto out;
    /* the last step's outcome and the run's success share one transaction */
    if (run == ENGINE_RUN_RUNNING && st->pc >= (int)st->f->n_steps) {
        run = ENGINE_RUN_SUCCEEDED;
        st->finished = true;
    }
    check_transition(st, c, run);
    /* once the run ends, nothing secret stays: its secrets are redacted, not sealed */
    t.ctx = exec__dump_state(st, st->ctx, run != ENGINE_RUN_RUNNING && run != ENGINE_RUN_WAITING);
    t.run_error = c->run_error ? engine__secrets_mask_str(c->run_error, secrets) : NULL;
    t.approval = c->approval ? engine__secrets_mask_str(c->approval, secrets) : NULL;
    if (!t.ctx || (c->run_error && !t.run_error) || (c->approval && !t.approval)) {
        rc = idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
        goto out;
    }
    memset(&next, 0, sizeof next);
    next.status = engine_run_status_name(run);
    next.pc = st->pc;
    next.item = st->item;
    next.attempt = st->attempt;
    next.context = t.ctx;
    next.wake_at = c->wake_at;
    next.error = t.run_error;
    next.foreach_clear = st->foreach_clear;
    if (c->approval) {
        next.approval_step_id = c->s->id;
        next.approval_message = t.approval;
    }
    if (run != ENGINE_RUN_RUNNING && st->env->begin_next > 0 && !st->env->next_begun) {
        /* this thread leaves the run: the next one it executes begins in the same transaction */
        next.begin_run = st->env->begin_next;
        next.begin_lease_until = now + st->env->lease_ms;
    }
    rc = store_step_commit(st->env->store, st->run->id, st->env->owner, now, c->s ? &rec : NULL, &next, err);
    if ((rc == 0 || rc == IDF_ECANCELLED) && next.begin_run) {
        st->env->next_begun = true;
        st->env->lease_renewed_at = now; /* the next run's lease was extended with it */
    }
    if (rc == 0 || rc == IDF_ECANCELLED)
        moved(st, c, rc == IDF_ECANCELLED ? ENGINE_RUN_CANCELLED : run);
    if (rc == 0 && st->env->engine)
        engine__count_step(st->env->engine, c->s ? c->step : ENGINE_STEP_NONE, run);
out:
    json_decref(st->result);
    st->result = NULL;
    st->foreach_clear = false;
    texts_free(&t);
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
static void record_output(struct exec_state *st, const struct flow_step *s, int item, const json_t *output)
{
    json_t *steps = json_object_get(st->ctx, "steps");
    json_object_del(st->ctx, "intent"); /* the outcome is known */
    json_object_del(st->ctx, "deferrals");
    if (item >= 0) {
        json_decref(st->result);
        st->result = json_incref(output ? (json_t *)output : json_null());
        st->item++;
    } else {
        json_t *foreach = json_object_get(st->ctx, "foreach");
        if (json_object_get(foreach, s->id)) { /* the foreach step ends without its outputs array */
            json_object_del(foreach, s->id);
            st->foreach_clear = true;
        }
        json_object_set(steps, s->id, output ? (json_t *)output : json_null());
        st->pc++;
        st->item = 0;
    }
    st->attempt = 0;
}

#define EXEC_RUN_ERROR_MAX 1200 /* "step '<id>' failed: <message>" */

/* The message of an expression that failed: "file:line:col: what: msg", or
 * "file:line:col: what.key: ..." when msg starts with the template path
 * (".url: ${{ .x }}: ..."). Budgets (time, memory, a crash in jq) are named
 * by msg itself (expr.h). */
void exec__expr_failure(char msg[EXPR_MSG_MAX], const struct exec_state *st, struct flow_pos at, const char *what,
                        const char *emsg)
{
    snprintf(msg, EXPR_MSG_MAX, "%s:%d:%d: %s%s%s", st->f->path ? st->f->path : st->f->name, at.line, at.col, what,
             emsg[0] == '.' ? "" : ": ", emsg);
}

/* SUCCEEDED: the output becomes the step's (or the item's) result. */
static void settle_success(struct exec_state *st, const struct flow_step *s, const struct step_outcome *oc,
                           struct exec_commit *c)
{
    if (oc->trace)
        exec__trace(st, s, oc->item, oc->trace, NULL);
    if (oc->show_secrets)
        trace_secrets(st, s, oc->item, oc->output);
    c->step = ENGINE_STEP_SUCCEEDED;
    if (oc->attempts)
        c->attempts = oc->attempts;
    c->output = oc->output;
    record_output(st, s, oc->item, oc->output);
}

/* FAILED: another attempt after a backoff while the step's retry allows it,
 * else (on_error: continue) {error} becomes its output, else the run fails
 * with "step '<id>' failed: <message>" (written into run_err). Returns the
 * error object c->error points to; caller releases it. */
static json_t *settle_failure(struct exec_state *st, const struct flow_step *s, const struct step_outcome *oc,
                              struct exec_commit *c, char run_err[EXEC_RUN_ERROR_MAX])
{
    const int attempts = st->attempt + 1;
    json_t *e = error_obj(oc->message, oc->detail);

    json_object_set_new(e, "retryable", json_boolean(oc->retryable));
    /* A failure answered by the remote API is a known outcome; a retryable one
     * (timeout, dropped connection) may have landed: keep the intent so the next
     * attempt looks before it writes. */
    if (!oc->retryable)
        json_object_del(st->ctx, "intent");
    json_object_del(st->ctx, "deferrals");
    c->step = ENGINE_STEP_FAILED;
    c->attempts = attempts;
    c->error = e;
    if (oc->retryable && attempts < s->retry_max) {
        int64_t delay = time_backoff_ms(attempts, s->retry_backoff_ms, s->retry_max_delay_ms);
        if (oc->retry_after_ms > delay)
            delay = oc->retry_after_ms;
        c->step = ENGINE_STEP_RETRYING;
        c->run = ENGINE_RUN_WAITING;
        c->wake_at = time_now_ms() + delay;
        st->attempt = attempts;
        exec__trace(st, s, oc->item, "retrying", oc->message);
    } else if (s->continue_on_error) {
        json_t *o = json_object();
        json_object_set(o, "error", e);
        exec__trace(st, s, oc->item, "failed", oc->message);
        record_output(st, s, oc->item, o);
        json_decref(o);
    } else {
        snprintf(run_err, EXEC_RUN_ERROR_MAX, "step '%s' failed: %s", s->id, oc->message);
        exec__trace(st, s, oc->item, "failed", oc->message);
        c->run = ENGINE_RUN_FAILED;
        c->run_error = run_err;
    }
    return e;
}

/* DEFERRED (the action was not carried out: paced, busy, refused before
 * doing anything): wait and call again without counting an attempt. The
 * deferrals of the current step are counted in the context (capped by
 * finish). Returns the error object c->error points to; caller releases it. */
static json_t *settle_deferral(struct exec_state *st, const struct flow_step *s, const struct step_outcome *oc,
                               struct exec_commit *c)
{
    json_int_t n = json_integer_value(json_object_get(st->ctx, "deferrals")) + 1;
    json_t *e = error_obj(oc->message, oc->detail);

    json_object_set_new(st->ctx, "deferrals", json_integer(n));
    json_object_del(st->ctx, "intent"); /* nothing was sent: the next call is not uncertain */
    json_object_set_new(e, "deferred", json_true());
    exec__trace(st, s, oc->item, "deferred", oc->message);
    c->step = ENGINE_STEP_RETRYING;
    c->attempts = st->attempt;
    c->error = e;
    c->run = ENGINE_RUN_WAITING;
    c->wake_at = time_now_ms() + (oc->retry_after_ms > EXEC_MIN_DEFER_MS ? oc->retry_after_ms : EXEC_MIN_DEFER_MS);
    return e;
}

/* Finishes one visit of step s (NULL for OUTCOME_RUN) as oc says: applies
 * the step's policy (retry, on_error, the deferral cap), moves the run's
 * state on, and commits the step's record with the run's next state. When
 * the run waits or fails, st->out says so and st->stop is set. Returns the
 * commit's answer (IDF_ECANCELLED: cancelled meanwhile, recorded anyway). */
int exec__finish(struct exec_state *st, const struct flow_step *s, const struct step_outcome *oc, struct idf_err *err)
{
    struct exec_commit c = {.s = s, .item = oc->item, .attempts = st->attempt + 1, .input = oc->input,
                            .run = ENGINE_RUN_RUNNING};
    char run_err[EXEC_RUN_ERROR_MAX];
    json_t *e = NULL;
    int rc;

    switch (oc->kind) {
    case OUTCOME_SUCCEEDED: settle_success(st, s, oc, &c); break;
    case OUTCOME_SKIPPED:
        exec__trace(st, s, -1, "skipped", "if: false");
        record_output(st, s, -1, NULL);
        c.item = -1;
        c.step = ENGINE_STEP_SKIPPED;
        c.attempts = 0;
        break;
    case OUTCOME_FAILED: e = settle_failure(st, s, oc, &c, run_err); break;
    case OUTCOME_DEFERRED:
        if (json_integer_value(json_object_get(st->ctx, "deferrals")) + 1 > EXEC_MAX_DEFERRALS) {
            char msg[EXEC_RUN_ERROR_MAX];
            json_object_del(st->ctx, "deferrals");
            snprintf(msg, sizeof msg, "deferred %d times, giving up: %s", EXEC_MAX_DEFERRALS, oc->message);
            return exec__finish(st, s,
                                &(struct step_outcome){.kind = OUTCOME_FAILED, .item = oc->item, .input = oc->input,
                                                       .message = msg, .detail = oc->detail},
                                err);
        }
        e = settle_deferral(st, s, oc, &c);
        break;
    case OUTCOME_WAITING:
        json_object_set_new(st->ctx, "wait_until", json_integer(oc->wake_at));
        exec__trace(st, s, oc->item, "waiting", oc->approval ? "for approval" : NULL);
        c.step = ENGINE_STEP_WAITING;
        c.run = ENGINE_RUN_WAITING;
        c.wake_at = oc->wake_at;
        c.approval = oc->approval;
        break;
    case OUTCOME_INTENT: c.step = ENGINE_STEP_STARTED; break;
    case OUTCOME_INTERRUPTED:
        e = error_obj(oc->message, NULL);
        json_object_set_new(e, "retryable", json_false());
        if (s)
            exec__trace(st, s, oc->item, "failed", oc->message);
        c.step = ENGINE_STEP_FAILED;
        c.attempts = oc->attempts;
        c.error = e;
        c.run = ENGINE_RUN_FAILED;
        c.run_error = oc->message;
        break;
    case OUTCOME_RUN:
        c.s = NULL;
        c.run = oc->run;
        c.wake_at = oc->wake_at;
        c.run_error = oc->message;
        break;
    }
    rc = commit(st, &c, err);
    if (c.run == ENGINE_RUN_WAITING || c.run == ENGINE_RUN_FAILED) {
        st->out->status = c.run;
        if (c.run == ENGINE_RUN_WAITING)
            st->out->wake_at = c.wake_at;
        st->stop = true;
    }
    json_decref(e);
    return rc;
}

/* ------------------------------------------------------------ delay, approval */

/* A later visit of a delay or an approval (woken by its timer or by a
 * decision) that began at `until - dur`: it ends (approved, rejected, timed
 * out, waited) or, woken early, waits again until `until`. */
static int wait_over(struct exec_state *st, const struct flow_step *s, int item, const json_t *params, bool approval,
                     int64_t dur, int64_t until, int64_t now, struct idf_err *err)
{
    json_t *o = NULL;
    char msg[300];
    int rc;

    if (approval) {
        char *status = NULL, *actor = NULL;
        enum engine_approval_status decided = ENGINE_APPROVAL_PENDING;
        if (store_approval_get(st->env->store, st->run->id, s->id, &status, &actor) == 0 &&
            engine_approval_status_parse(status, &decided))
            decided = ENGINE_APPROVAL_PENDING; /* the schema allows no other text */
        if (decided == ENGINE_APPROVAL_APPROVED)
            o = json_pack("{s:b,s:s?}", "approved", 1, "actor", actor);
        else if (decided == ENGINE_APPROVAL_REJECTED)
            snprintf(msg, sizeof msg, "rejected by %s", actor ? actor : "an approver");
        free(status);
        free(actor);
        if (decided == ENGINE_APPROVAL_REJECTED) {
            json_object_del(st->ctx, "wait_until");
            return exec__finish(st, s,
                                &(struct step_outcome){.kind = OUTCOME_FAILED, .item = item, .input = params,
                                                       .message = msg},
                                err);
        }
    } else if (now >= until) {
        o = json_pack("{s:I}", "waited_ms", (json_int_t)dur);
    }
    if (!o && now >= until) {
        json_object_del(st->ctx, "wait_until");
        return exec__finish(st, s,
                            &(struct step_outcome){.kind = OUTCOME_FAILED, .item = item, .input = params,
                                                   .message = "approval timed out"},
                            err);
    }
    if (!o) /* woken early: wait again */
        return exec__finish(st, NULL,
                            &(struct step_outcome){.kind = OUTCOME_RUN, .item = -1, .run = ENGINE_RUN_WAITING,
                                                   .wake_at = until},
                            err);
    json_object_del(st->ctx, "wait_until");
    rc = exec__finish(st, s,
                      &(struct step_outcome){.kind = OUTCOME_SUCCEEDED, .item = item, .input = params, .output = o,
                                             .trace = approval ? "approved" : "succeeded"},
                      err);
    json_decref(o);
    return rc;
}

/* delay and approval: the first visit stores wait_until and a waiting state;
 * later visits (woken by the timer or a decision) finish or wait again. */
int exec__wait_step(struct exec_state *st, const struct flow_step *s, int item, const json_t *params,
                    struct idf_err *err)
{
    bool approval = s->action->kind == CONN_K_APPROVAL;
    json_t *until_v = json_object_get(st->ctx, "wait_until");
    const json_t *dur_v = json_object_get(params, approval ? "timeout" : "duration");
    const char *message = json_string_value(json_object_get(params, "message"));
    int64_t now = time_now_ms();
    int64_t dur = approval ? EXEC_APPROVAL_DEFAULT_MS : 0;
    int rc;

    if (json_is_integer(dur_v))
        dur = json_integer_value(dur_v) * 1000;
    else if (json_is_string(dur_v) && time_parse_duration(json_string_value(dur_v), &dur))
        return exec__finish(st, s,
                            &(struct step_outcome){.kind = OUTCOME_FAILED, .item = item, .input = params,
                                                   .message = "invalid duration"},
                            err);
    if (st->env->dry_run) {
        json_t *o = json_pack("{s:b}", "dry_run", 1);
        exec__trace(st, s, item, approval ? "would wait for approval" : "would wait", NULL);
        rc = exec__finish(st, s,
                          &(struct step_outcome){.kind = OUTCOME_SUCCEEDED, .item = item, .input = params, .output = o,
                                                 .attempts = 1},
                          err);
        json_decref(o);
        return rc;
    }
    if (!until_v)
        return exec__finish(st, s,
                            &(struct step_outcome){.kind = OUTCOME_WAITING, .item = item, .input = params,
                                                   .wake_at = now + dur,
                                                   .approval = approval ? (message ? message : "approval requested")
                                                                        : NULL},
                            err);
    return wait_over(st, s, item, params, approval, dur, json_integer_value(until_v), now, err);
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
        texts[i] = exec__dump_state(st, i < n ? json_array_get(items, i) : json_array_get(outputs, i - n), false);
        if (!texts[i]) {
            rc = idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
            goto out;
        }
    }
    ctx_text = exec__dump_state(st, st->ctx, false);
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
static int foreach_finish(struct exec_state *st, const struct flow_step *s, struct idf_err *err)
{
    char *text = NULL;
    json_t *outputs = NULL;
    int rc = store_foreach_outputs(st->env->store, st->run->id, (int)(s - st->f->steps), &text);

    if (rc == IDF_ETOOBIG)
        return exec__finish(st, s,
                            &(struct step_outcome){.kind = OUTCOME_FAILED, .item = -1,
                                                   .message = "foreach: the outputs of its items are larger than a run "
                                                              "may hold (16 MiB)"},
                            err);
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
    exec__trace(st, s, -1, "done", NULL);
    return exec__finish(st, NULL, &(struct step_outcome){.kind = OUTCOME_RUN, .item = -1, .run = ENGINE_RUN_RUNNING},
                        err);
}

/* The first visit of foreach step s: its list is evaluated (once) and its
 * items stored. A list that fails, is not an array or is too long fails
 * the step (*done). */
static int foreach_start(struct exec_state *st, const struct flow_step *s, bool *done, struct idf_err *err)
{
    json_t *tmpl = json_string(s->foreach_expr);
    json_t *input = exec__jq_input(st, NULL, NULL);
    json_t *items = NULL;
    struct idf_err e2;
    char msg[EXPR_MSG_MAX];
    int rc;

    idf_err_clear(&e2);
    rc = expr_render(st->env->expr, tmpl, input, &items, &e2);
    json_decref(tmpl);
    json_decref(input);
    if (rc || !json_is_array(items) || json_array_size(items) > EXEC_MAX_FOREACH_ITEMS) {
        if (rc)
            exec__expr_failure(msg, st, s->foreach_at, "foreach", e2.msg);
        else if (!json_is_array(items))
            snprintf(msg, sizeof msg, "foreach: the expression must give an array");
        else
            snprintf(msg, sizeof msg, "foreach: %zu items, more than the %d a step may have", json_array_size(items),
                     EXEC_MAX_FOREACH_ITEMS);
        json_decref(items);
        *done = true;
        return exec__finish(st, s, &(struct step_outcome){.kind = OUTCOME_FAILED, .item = -1, .message = msg}, err);
    }
    rc = foreach_begin(st, s, items, NULL, err);
    json_decref(items);
    return rc;
}

/* The foreach part of a step: begins it (the list is evaluated once), or
 * ends it after the last item, or reads the current item from the store.
 * *done is set when the step's visit is over (begun and failed, or ended);
 * otherwise *item_out and *item_v_out (new reference) are the item to run. */
int exec__foreach_current(struct exec_state *st, const struct flow_step *s, int *item_out, json_t **item_v_out,
                          bool *done, struct idf_err *err)
{
    json_t *foreach = json_object_get(st->ctx, "foreach");
    json_t *fe = json_object_get(foreach, s->id);
    char *text = NULL;
    char msg[EXPR_MSG_MAX];
    int rc = 0;

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
        rc = foreach_start(st, s, done, err);
        if (rc || *done)
            return rc;
        fe = json_object_get(foreach, s->id);
    }
    if (st->item >= json_integer_value(json_object_get(fe, "n"))) {
        *done = true;
        return foreach_finish(st, s, err);
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
        *done = true;
        return exec__finish(st, s, &(struct step_outcome){.kind = OUTCOME_FAILED, .item = st->item, .message = msg},
                            err);
    }
    return 0;
}

/* ------------------------------------------------------------ one step */

/* if: evaluated once, before the first attempt of the step. *done when the
 * visit is over: the condition was false (skipped) or failed. */
static int step_if(struct exec_state *st, const struct flow_step *s, bool *done, struct idf_err *err)
{
    struct idf_err e2;
    json_t *input;
    bool yes = false;
    int rc = 0;

    if (!s->if_expr || st->item != 0 || st->attempt != 0 || json_object_get(json_object_get(st->ctx, "foreach"), s->id))
        return 0;
    idf_err_clear(&e2);
    input = exec__jq_input(st, NULL, NULL);
    if (expr_truthy(st->env->expr, s->if_expr, input, &yes, &e2)) {
        char msg[EXPR_MSG_MAX], what[120];
        snprintf(what, sizeof what, "if '%.80s%s'", s->if_expr, strlen(s->if_expr) > 80 ? "..." : "");
        exec__expr_failure(msg, st, s->if_at, what, e2.msg);
        *done = true;
        rc = exec__finish(st, s, &(struct step_outcome){.kind = OUTCOME_FAILED, .item = -1, .message = msg}, err);
    } else if (!yes) {
        *done = true;
        rc = exec__finish(st, s, &(struct step_outcome){.kind = OUTCOME_SKIPPED, .item = -1}, err);
    }
    json_decref(input);
    return rc;
}

/* Renders the step's with: (for item item_v) into *params (new reference,
 * caller releases it, also on failure) and checks it against the action's
 * descriptor. *done when it failed (the visit is over). */
static int step_params(struct exec_state *st, const struct flow_step *s, int item, const json_t *item_v,
                       json_t **params, bool *done, struct idf_err *err)
{
    json_t *input = exec__jq_input(st, item_v, s->as);
    struct idf_err e2;
    int rc = 0;

    idf_err_clear(&e2);
    if (expr_render(st->env->expr, s->with, input, params, &e2)) {
        char msg[EXPR_MSG_MAX];
        exec__expr_failure(msg, st, s->with_at, "with", e2.msg);
        *done = true;
        rc = exec__finish(st, s, &(struct step_outcome){.kind = OUTCOME_FAILED, .item = item, .message = msg}, err);
    } else if (s->action->kind != CONN_K_SET && conn_params_check(s->action, *params, &e2)) {
        *done = true;
        rc = exec__finish(st, s,
                          &(struct step_outcome){.kind = OUTCOME_FAILED, .item = item, .input = *params,
                                                 .message = e2.msg},
                          err);
    }
    json_decref(input);
    return rc;
}

/* A dry run calls no action: it prints what it would call and succeeds. */
static int dry_call(struct exec_state *st, const struct flow_step *s, int item, const json_t *params,
                    struct idf_err *err)
{
    json_t *red = log_redact(params);
    char *p = exec__dump(red);
    json_t *o;
    int rc;

    if (st->env->trace)
        fprintf(st->env->trace, "  %-24s would call %s %s\n", s->id, s->action->name, p ? p : "{}");
    free(p);
    json_decref(red);
    o = json_pack("{s:b,s:s}", "dry_run", 1, "action", s->action->name);
    rc = exec__finish(st, s,
                      &(struct step_outcome){.kind = OUTCOME_SUCCEEDED, .item = item, .input = params, .output = o,
                                             .attempts = 1},
                      err);
    json_decref(o);
    return rc;
}

/* The connection the call uses: the step's `connection:`, else the
 * connection the event came from, else the only connection of that kind.
 * When none can be had the visit fails (*done; retryable when the store was
 * busy). */
static int action_connection(struct exec_state *st, const struct flow_step *s, const struct connector *owner, int item,
                             const json_t *params, struct conn_call *call, bool *done, struct idf_err *err)
{
    const char *cname = s->connection;
    const char *src = json_string_value(json_object_get(st->event, "source"));
    struct idf_err ce;
    int rc;

    if (!owner || !owner->connection)
        return 0;
    if (!cname && src && strcmp(src, owner->name) == 0)
        cname = json_string_value(json_object_get(st->event, "connection"));
    idf_err_clear(&ce);
    rc = cred_for_action(st->env->conns, st->env->store, owner, cname, &call->connection, &ce);
    if (rc) {
        *done = true;
        return exec__finish(st, s,
                            &(struct step_outcome){.kind = OUTCOME_FAILED, .item = item, .input = params,
                                                   .message = ce.msg, .retryable = rc == IDF_EBUSY || rc == IDF_EDB},
                            err);
    }
    call->connection_name = json_string_value(json_object_get(call->connection, "name"));
    return 0;
}

/* A non-idempotent write: its intent is recorded durably before the call,
 * so a crash in the window is known on resume (call->uncertain: the same
 * intent was recorded before). */
static int record_intent(struct exec_state *st, const struct flow_step *s, int item, const json_t *params,
                         struct conn_call *call, struct idf_err *err)
{
    char key[300];
    const char *prev = json_string_value(json_object_get(st->ctx, "intent"));

    snprintf(key, sizeof key, "%s#%d", s->id, item);
    call->uncertain = prev && strcmp(prev, key) == 0;
    json_object_set_new(st->ctx, "intent", json_string(key));
    return exec__finish(st, s, &(struct step_outcome){.kind = OUTCOME_INTENT, .item = item, .input = params}, err);
}

/* Calls the action and finishes the visit with what it answered. */
static int call_action(struct exec_state *st, const struct flow_step *s, int item, const json_t *params,
                       struct conn_call *call, struct idf_err *err)
{
    struct conn_result res;
    int rc;

    memset(&res, 0, sizeof res);
    if (s->action->fn(call, params, &res) == 0) {
        int src = engine__secrets_collect(st->ctx, res.output);
        if (src)
            rc = exec__finish(st, s,
                              &(struct step_outcome){.kind = OUTCOME_FAILED, .item = item, .input = params,
                                                     .message =
                                                         src == IDF_ETOOBIG
                                                             ? "the run's actions gave more secrets than a run may hold"
                                                             : "out of memory"},
                              err);
        else
            rc = exec__finish(st, s,
                              &(struct step_outcome){.kind = OUTCOME_SUCCEEDED, .item = item, .input = params,
                                                     .output = res.output, .trace = "succeeded", .show_secrets = true},
                              err);
    } else if (res.deferred) {
        rc = exec__finish(st, s,
                          &(struct step_outcome){.kind = OUTCOME_DEFERRED, .item = item, .input = params,
                                                 .message = res.message[0] ? res.message : "deferred",
                                                 .detail = res.detail, .retry_after_ms = res.retry_after_ms},
                          err);
    } else {
        rc = exec__finish(st, s,
                          &(struct step_outcome){.kind = OUTCOME_FAILED, .item = item, .input = params,
                                                 .message = res.message[0] ? res.message : "action failed",
                                                 .detail = res.detail, .retryable = res.retryable,
                                                 .retry_after_ms = res.retry_after_ms},
                          err);
    }
    json_decref(res.output);
    json_decref(res.detail);
    return rc;
}

/* A connector's action: its connection, its intent when it records one, the call. */
static int action_step(struct exec_state *st, const struct flow_step *s, int item, const json_t *params,
                       struct idf_err *err)
{
    struct conn_call call;
    bool done = false;
    int rc;
    const struct registry *reg = st->env->connectors ? st->env->connectors : registry_default();
    const struct connector *owner = registry_action_owner(reg, s->action);
    int idx = registry_connector_index(reg, owner);

    if (st->env->dry_run)
        return dry_call(st, s, item, params, err);
    memset(&call, 0, sizeof call);
    rc = action_connection(st, s, owner, item, params, &call, &done, err);
    if (rc || done)
        return rc;
    if (s->action->records_intent && (rc = record_intent(st, s, item, params, &call, err)))
        return rc;
    call.item = item;
    call.http = st->env->http;
    call.run_id = st->run->id;
    call.step_id = s->id;
    call.attempt = st->attempt + 1;
    call.allow_http = st->f->allow_http;
    call.allow_private_network = st->f->allow_private_network;
    call.timeout_ms = s->timeout_ms;
    call.thread_slot = idx >= 0 && idx < ENGINE_MAX_CONNECTORS ? &st->env->slots[idx] : NULL;
    return call_action(st, s, item, params, &call, err);
}

/* Runs one step (or one foreach item): if:, foreach, with:, then the
 * control step itself or the action. Sets st->stop when the run waits or ends. */
int exec__run_step(struct exec_state *st, const struct flow_step *s, struct idf_err *err)
{
    json_t *params = NULL, *item_v = NULL;
    int item = -1;
    bool done = false;
    int rc;

    st->started = time_now_ms();
    rc = step_if(st, s, &done, err);
    if (!rc && !done && s->foreach_expr)
        rc = exec__foreach_current(st, s, &item, &item_v, &done, err);
    if (!rc && !done)
        rc = step_params(st, s, item, item_v, &params, &done, err);
    if (rc || done)
        goto out;
    switch (s->action->kind) {
    case CONN_K_SET:
        json_object_update(json_object_get(st->ctx, "vars"), params);
        rc = exec__finish(st, s,
                          &(struct step_outcome){.kind = OUTCOME_SUCCEEDED, .item = item, .input = params,
                                                 .output = params, .trace = "succeeded"},
                          err);
        break;
    case CONN_K_FAIL:
        rc = exec__finish(st, s,
                          &(struct step_outcome){.kind = OUTCOME_FAILED, .item = item, .input = params,
                                                 .message = json_string_value(json_object_get(params, "message"))},
                          err);
        break;
    case CONN_K_DELAY:
    case CONN_K_APPROVAL: rc = exec__wait_step(st, s, item, params, err); break;
    case CONN_K_ACTION:
    default: rc = action_step(st, s, item, params, err); break;
    }
out:
    json_decref(params);
    json_decref(item_v);
    return rc;
}

/* ------------------------------------------------------------ the run */

/* Poison runs: the run was taken from a dead owner run->interrupted times in
 * a row while at this step (store.h: a commit that moves it on resets the
 * count), so what it does here kills the process (an abort in a library, the
 * memory killer, ...). It is failed without executing anything, through the
 * normal commit: the step's record and the run say why. fresh: the run has no
 * context yet (its vars were not rendered). */
static int fail_interrupted(struct exec_state *st, bool fresh, struct idf_err *err)
{
    const bool in_vars = fresh && st->f->vars && json_object_size(st->f->vars); /* a fresh run renders them first */
    const struct flow_step *s = !in_vars && st->pc < (int)st->f->n_steps ? &st->f->steps[st->pc] : NULL;
    int item = -1;
    char where[400], msg[600];

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
    st->started = time_now_ms();
    return exec__finish(st, s,
                        &(struct step_outcome){.kind = OUTCOME_INTERRUPTED, .item = item, .message = msg,
                                               .attempts = st->attempt > 0 ? st->attempt : 1},
                        err);
}

/* Sets st up for run (context opened, or a fresh one). Returns whether the
 * run is fresh: no context yet, its vars not rendered. */
static bool state_init(struct exec_state *st, struct exec_env *env, const struct flow *f, const struct store_run *run,
                       struct exec_outcome *out)
{
    memset(st, 0, sizeof *st);
    st->status = ENGINE_RUN_RUNNING; /* claimed (exec_run checks it) */
    st->last.step = ENGINE_STEP_NONE;
    st->env = env;
    st->f = f;
    st->run = run;
    st->out = out;
    st->pc = run->pc;
    st->item = run->item;
    st->attempt = run->attempt;
    st->event = run->event ? json_loads(run->event, JSON_DECODE_ANY, NULL) : NULL;
    if (!st->event)
        st->event = json_object();
    st->ctx = run->context ? engine__secrets_open(json_loads(run->context, 0, NULL), env->key, run->id, true) : NULL;
    if (st->ctx)
        return false;
    st->ctx = json_pack("{s:{},s:{},s:{}}", "steps", "vars", "foreach");
    return true;
}

/* Renders the workflow's vars: into the fresh run's context, or failing the run. */
static int render_vars(struct exec_state *st, struct idf_err *err)
{
    struct idf_err e2;
    json_t *input, *vars = NULL;
    int rc = 0;

    if (!st->f->vars || !json_object_size(st->f->vars))
        return 0;
    idf_err_clear(&e2);
    input = exec__jq_input(st, NULL, NULL);
    if (expr_render(st->env->expr, st->f->vars, input, &vars, &e2)) {
        char msg[EXPR_MSG_MAX];
        exec__expr_failure(msg, st, st->f->vars_at, "vars", e2.msg);
        rc = exec__finish(st, NULL,
                          &(struct step_outcome){.kind = OUTCOME_RUN, .item = -1, .run = ENGINE_RUN_FAILED,
                                                 .message = msg},
                          err);
    } else {
        json_object_set_new(st->ctx, "vars", vars);
    }
    json_decref(input);
    return rc;
}

/* From here a death of this process counts against the run (store_run_begin),
 * unless its claim or the commit that ended the run before it marked it begun. */
static int begin_run(struct exec_state *st, struct idf_err *err)
{
    struct exec_env *env = st->env;
    int rc;

    if (env->begun)
        return 0;
    env->lease_renewed_at = time_now_ms();
    rc = store_run_begin(env->store, st->run->id, env->owner, env->lease_renewed_at + env->lease_ms);
    if (rc)
        idf_err_set(err, rc, "run %lld: lease lost", (long long)st->run->id);
    return rc;
}

/* Extends the lease when a third of it has passed. */
static int renew_lease(struct exec_state *st, struct idf_err *err)
{
    struct exec_env *env = st->env;
    int64_t now = time_now_ms();
    int rc;

    if (env->lease_ms <= 0 || now - env->lease_renewed_at <= env->lease_ms / 3)
        return 0;
    rc = store_run_renew(env->store, st->run->id, env->owner, now + env->lease_ms);
    if (rc) {
        idf_err_set(err, rc, "run %lld: lease lost", (long long)st->run->id);
        return rc;
    }
    env->lease_renewed_at = now;
    return 0;
}

int exec_run(struct exec_env *env, const struct flow *f, const struct store_run *run, struct exec_outcome *out,
             struct idf_err *err)
{
    const int max_interruptions =
        env->max_interruptions > 0 ? env->max_interruptions : ENGINE_DEFAULT_MAX_INTERRUPTIONS;
    struct exec_state st;
    bool fresh;
    int rc;

    IDF_INVARIANT(engine_run_status_is(run->status, ENGINE_RUN_RUNNING),
                  "run %lld is %s: only a claimed run is executed, a finished one never again", (long long)run->id,
                  run->status ? run->status : "(null)");
    memset(out, 0, sizeof *out);
    out->status = ENGINE_RUN_RUNNING;
    fresh = state_init(&st, env, f, run, out);
    if (run->interrupted >= max_interruptions) {
        rc = fail_interrupted(&st, fresh, err); /* before anything is evaluated or called */
        goto out;
    }
    rc = begin_run(&st, err);
    if (!rc && fresh)
        rc = render_vars(&st, err);
    while (!rc && !st.stop && st.pc < (int)f->n_steps) {
        rc = renew_lease(&st, err);
        if (!rc)
            rc = exec__run_step(&st, &f->steps[st.pc], err);
    }
    if (!rc && !st.stop) {
        IDF_INVARIANT(st.finished == (st.status == ENGINE_RUN_SUCCEEDED), "run %lld: finished but %s",
                      (long long)run->id, engine_run_status_name(st.status));
        if (!st.finished)
            rc = exec__finish(&st, NULL,
                              &(struct step_outcome){.kind = OUTCOME_RUN, .item = -1, .run = ENGINE_RUN_SUCCEEDED},
                              err);
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
    json_decref(st.event);
    json_decref(st.ctx);
    json_decref(st.result);
    return rc;
}

void exec_env_release(struct exec_env *env)
{
    registry_free_slots(env->connectors ? env->connectors : registry_default(), env->slots,
                        ENGINE_MAX_CONNECTORS);
}

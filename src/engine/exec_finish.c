/* exec_finish.c — what one visit of a step comes to, and the commit. It
 * leaves running the step to exec_step.c, exec_foreach.c and exec_wait.c
 * (they only fill a struct step_outcome), and sealing and masking secrets
 * to secrets.c.
 *
 * Each visit of a step (or foreach item) ends in one struct step_outcome
 * (succeeded, skipped, failed, deferred, waiting, an intent, interrupted, or
 * the run's state alone) handed to exec__finish(), the one place that
 * applies the step's policy (retries with backoff, on_error: continue, the
 * deferral cap), moves the run's state on, and commits (commit(): the
 * step's record and the run's next state, struct exec_commit). Statuses are
 * enums (engine/status.h), named only where the store record is filled.
 *
 * Secrets an action gives (secret-named keys of its output: tempPassword,
 * ...) are listed in context.secrets; everything written to the store goes
 * through exec__dump_state (run state: each string holding one is sealed
 * with env->key, or redacted once the run ends) or dump_history (step
 * records: redacted), see secrets.c.
 *
 * Called on worker threads (and by `idflow run`); uses only the env given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/invariant.h"
#include "core/timeutil.h"
#include "crypto/seal.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/exec_internal.h"
#include "engine/status.h"
#include "engine/subjects.h"
#include "flow/flow.h"
#include "store/store.h"

#define EXEC_MAX_OUTPUT_TEXT (1u << 20) /* a step output larger than this is truncated in history */
#define EXEC_MIN_DEFER_MS 50            /* shortest wait after a deferred call */
#define EXEC_MAX_DEFERRALS 10000        /* deferred calls of one step before it fails */
#define EXEC_RUN_ERROR_MAX 1200 /* "step '<id>' failed: <message>" */

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
    const char *hold;             /* with approval and run held: the approval is a guardrail hold of this
                                     connection (issue 19) */
    const char *change;           /* what the step changed, for a person, or NULL (issue 17) */
    const json_t *subjects;       /* the subjects its action reported (connector.h), or NULL (issue 17) */
};

/* The texts one commit writes (owned, freed by texts_free). */
struct commit_texts {
    char *input, *output, *error, *ctx, *result, *run_error, *approval, *change;
    struct engine_subjects subjects; /* the step record's (issue 17) */
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
    free(t->change);
    engine_subjects_clear(&t->subjects);
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
    /* issue 17: what the step changed (its run's secrets masked) and whom its action resolved */
    if (c->change && *c->change) {
        t->change = engine__secrets_mask_str(c->change, engine__secrets_of(st->ctx));
        if (!t->change)
            return idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
        rec->change = t->change;
    }
    if (engine_subjects_add(&t->subjects, c->subjects, c->s->id))
        return idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
    rec->subjects = t->subjects.n ? t->subjects.v : NULL;
    rec->n_subjects = t->subjects.n;
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

void exec__next_state(const struct exec_state *st, enum engine_run_status status, const char *ctx_text,
                      struct store_run_next *next)
{
    memset(next, 0, sizeof *next);
    next->status = engine_run_status_name(status);
    next->pc = st->pc;
    next->item = st->item;
    next->attempt = st->attempt;
    next->context = ctx_text;
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

    memset(&t, 0, sizeof t); /* t.subjects too: as engine_subjects_init */
    if (c->s && (rc = fill_record(st, c, now, &rec, &t, err)))
        goto out;
    /* the last step's outcome and the run's success share one transaction */
    if (run == ENGINE_RUN_RUNNING && st->pc >= (int)st->f->n_steps) {
        run = ENGINE_RUN_SUCCEEDED;
        st->finished = true;
    }
    check_transition(st, c, run);
    /* once the run ends, nothing secret stays: its secrets are redacted, not
     * sealed. A succeeded run keeps no context at all (the store drops it:
     * nothing reads it, and only failed or cancelled runs are re-run), so
     * none is written (issue 20) */
    t.ctx = run == ENGINE_RUN_SUCCEEDED
                ? NULL
                : exec__dump_state(st, st->ctx,
                                   run != ENGINE_RUN_RUNNING && run != ENGINE_RUN_WAITING && run != ENGINE_RUN_HELD);
    t.run_error = c->run_error ? engine__secrets_mask_str(c->run_error, secrets) : NULL;
    t.approval = c->approval ? engine__secrets_mask_str(c->approval, secrets) : NULL;
    if ((!t.ctx && run != ENGINE_RUN_SUCCEEDED) || (c->run_error && !t.run_error) || (c->approval && !t.approval)) {
        rc = idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
        goto out;
    }
    exec__next_state(st, run, t.ctx, &next);
    next.wake_at = c->wake_at;
    next.error = t.run_error;
    next.foreach_clear = st->foreach_clear;
    if (c->approval) {
        next.approval_step_id = c->s->id;
        next.approval_message = t.approval;
        next.hold = c->hold;
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
    c->change = oc->change;
    c->subjects = oc->subjects;
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
    c->subjects = oc->subjects; /* whom it resolved before failing (issue 17) */
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
 * exec__finish). Returns the error object c->error points to; caller
 * releases it. */
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
    case OUTCOME_HELD:
        /* not an attempt: nothing was sent. The record says why it waits; the hold is the decision. */
        e = error_obj(oc->message, NULL);
        json_object_set_new(e, "held", json_true());
        json_object_set_new(st->ctx, "guardrail", json_pack("{s:s,s:s}", "step", s->id, "connection", oc->hold));
        exec__trace(st, s, oc->item, "held", oc->message);
        c.step = ENGINE_STEP_WAITING;
        c.attempts = st->attempt;
        c.error = e;
        c.run = ENGINE_RUN_HELD;
        c.approval = oc->message;
        c.hold = oc->hold;
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
    if (c.run == ENGINE_RUN_WAITING || c.run == ENGINE_RUN_FAILED || c.run == ENGINE_RUN_HELD) {
        st->out->status = c.run;
        if (c.run == ENGINE_RUN_WAITING)
            st->out->wake_at = c.wake_at;
        st->stop = true;
    }
    json_decref(e);
    return rc;
}

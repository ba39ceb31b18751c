/* exec.c — executes one claimed run, step by step (see exec_run in engine.h).
 *
 * This file owns the run: exec_run's loop over the steps, the state it
 * sets up from the claim (the context opened, or a fresh one whose vars it
 * renders), the lease (begun; held in the node's lease keeper, keeper.c,
 * which renews it while steps run, or renewed between steps when there is
 * none), poison runs failed without running,
 * and what every visit of a step uses (the jq input, the foreground trace,
 * an expression's failure message). It leaves one visit of a step to
 * exec_step.c, what the visit's outcome does and the commit to
 * exec_finish.c, foreach to exec_foreach.c, delay and approval to
 * exec_wait.c; exec_internal.h holds the state they share.
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
 * Called on worker threads (and by `idflow run`); uses only the env given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "core/invariant.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/exec_internal.h"
#include "engine/status.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "store/store.h"

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

/* Before each step: with a keeper (a node's worker), the lease is renewed
 * by it while the steps run, and a renewal that found it lost stops the
 * run here; without one (`idflow run`), the lease is extended when a third
 * of it has passed. */
static int renew_lease(struct exec_state *st, struct idf_err *err)
{
    struct exec_env *env = st->env;
    int64_t now = time_now_ms();
    int rc;

    if (env->keeper) {
        if (!engine__keeper_lost(env->keeper, env->keeper_slot))
            return 0;
        return idf_err_set(err, IDF_ESTATE, "run %lld: lease lost (another node took it over)",
                           (long long)st->run->id);
    }
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
    if (!rc)
        engine__keeper_hold(env->keeper, env->keeper_slot, run->id, env->owner); /* until its last commit */
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
    engine__keeper_drop(env->keeper, env->keeper_slot);
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

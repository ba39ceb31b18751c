/* guard.c — the blast-radius checks of one destructive call (issue 19;
 * docs/security.md, "Blast radius"; docs/internals/engine.md, "Guardrails"):
 * the connection's protected accounts, asked of the connector before the
 * call (connector.h, "protected accounts"), and the connection's budget of
 * destructive calls. A call either passes both or is not made: a protected
 * target fails the step (audited), a spent budget holds the run.
 *
 * The engine knows no action by name: it reads the action's effect
 * (connector.h, "blast radius"). Called on worker threads (and by
 * `idflow run`), from exec_step.c, after the connection was resolved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "core/log.h"
#include "core/rate.h"
#include "core/timeutil.h"
#include "engine/engine.h"
#include "engine/exec_internal.h"
#include "engine/status.h"
#include "flow/flow.h"
#include "store/store.h"

/* The target is protected: an audit record, and the step fails without the
 * call, not retried (nothing about the target will change by waiting). */
static int refuse(struct exec_state *st, const struct flow_step *s, int item, const json_t *params,
                  const struct conn_call *call, const struct conn_protect *p, struct idf_err *err)
{
    char msg[1024], actor[300], target[600];
    json_t *detail;
    char *dtext;

    snprintf(msg, sizeof msg, "refused: %s is protected on connection '%s' (%s); %s was not called",
             p->target[0] ? p->target : "the target", call->connection_name ? call->connection_name : "?", p->rule,
             s->action->name);
    snprintf(actor, sizeof actor, "workflow:%s", st->f->name);
    snprintf(target, sizeof target, "connection:%s", call->connection_name ? call->connection_name : "?");
    detail = json_pack("{s:I,s:s,s:i,s:s,s:s,s:s}", "run", (json_int_t)st->run->id, "step", s->id, "item", item,
                       "action", s->action->name, "target", p->target, "rule", p->rule);
    dtext = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    /* The refusal is recorded even when the audit write fails: the step's own record says it too. */
    if (store_audit_add(st->env->store, actor, "guardrail.protected", target, dtext))
        log_warn("guardrail: run %lld: could not audit the refusal of %s", (long long)st->run->id, s->action->name);
    free(dtext);
    json_decref(detail);
    log_warn("guardrail: run %lld step %s: %s", (long long)st->run->id, s->id, msg);
    return exec__finish(
        st, s, &(struct step_outcome){.kind = OUTCOME_FAILED, .item = item, .input = params, .message = msg}, err);
}

/* The step fails without the call because the guardrail could not be
 * checked (the store failed): retried, as the store may be back. */
static int unchecked(struct exec_state *st, const struct flow_step *s, int item, const json_t *params, const char *conn,
                     const char *what, bool *done, struct idf_err *err)
{
    char msg[600];

    snprintf(msg, sizeof msg, "could not %s of connection '%s', so %s was not called", what, conn, s->action->name);
    *done = true;
    return exec__finish(st, s,
                        &(struct step_outcome){
                            .kind = OUTCOME_FAILED, .item = item, .input = params, .message = msg, .retryable = true},
                        err);
}

/* Whether an admin decided this run's hold (the run's context "guardrail"
 * names the step it was held at): released, the run's destructive calls go
 * on uncounted (*pass); rejected, the step fails (*done). A run never held
 * reads nothing. */
static int decision(struct exec_state *st, const struct flow_step *s, int item, const json_t *params, bool *pass,
                    bool *done, struct idf_err *err)
{
    json_t *g = json_object_get(st->ctx, "guardrail");
    const char *step = json_string_value(json_object_get(g, "step"));
    const char *conn = json_string_value(json_object_get(g, "connection"));
    char *status = NULL, *actor = NULL, msg[600];
    enum engine_approval_status d = ENGINE_APPROVAL_PENDING;
    int rc = 0;

    if (!step)
        return 0;
    if (json_is_true(json_object_get(g, "released"))) {
        *pass = true;
        return 0;
    }
    rc = store_approval_get(st->env->store, st->run->id, step, &status, &actor);
    if (rc == IDF_ENOTFOUND) {
        /* a re-run copies its run's context, not its decisions: this run was never held */
        json_object_del(st->ctx, "guardrail");
        rc = 0;
    } else if (rc || engine_approval_status_parse(status, &d)) {
        rc = unchecked(st, s, item, params, conn ? conn : "?", "read the decision on the guardrail hold", done, err);
    } else if (d == ENGINE_APPROVAL_APPROVED) {
        json_object_set_new(g, "released", json_true());
        json_object_set_new(g, "by", json_string(actor ? actor : "?"));
        *pass = true;
    } else if (d == ENGINE_APPROVAL_REJECTED) {
        snprintf(msg, sizeof msg, "rejected at the guardrail of connection '%s' by %s; %s was not called",
                 conn ? conn : "?", actor ? actor : "an admin", s->action->name);
        *done = true;
        rc = exec__finish(
            st, s, &(struct step_outcome){.kind = OUTCOME_FAILED, .item = item, .input = params, .message = msg}, err);
    }
    free(status);
    free(actor);
    return rc;
}

/* Raises idflow.guardrail_tripped for the alert workflows (engine_submit_events:
 * stored, then matched like any event). Only a server has an engine: `idflow
 * run` logs it. A failure is logged: the hold itself is already recorded. */
static void raise_tripped(struct exec_state *st, const struct flow_step *s, const char *conn, const char *budget,
                          const json_t *params, const char *why)
{
    json_t *red = log_redact(params), *evs;
    char id[400];
    size_t n = 0;
    struct idf_err e2;

    snprintf(id, sizeof id, "guardrail:%s:run-%lld", conn, (long long)st->run->id);
    evs =
        json_pack("[{s:s,s:s,s:{s:s,s:s,s:I,s:s,s:s,s:s,s:O,s:s}}]", "id", id, "type", "idflow.guardrail_tripped",
                  "data", "connection", conn, "budget", budget, "run", (json_int_t)st->run->id, "workflow", st->f->name,
                  "step", s->id, "action", s->action->name, "params", red ? red : json_null(), "reason", why);
    idf_err_clear(&e2);
    if (!st->env->engine)
        log_warn("guardrail: connection '%s' tripped (no server to raise idflow.guardrail_tripped): %s", conn, why);
    else if (!evs || engine_submit_events(st->env->engine, "idflow", NULL, conn, evs, &n, &e2))
        log_error("guardrail: could not raise idflow.guardrail_tripped for connection '%s': %s", conn,
                  e2.msg[0] ? e2.msg : "out of memory");
    json_decref(evs);
    json_decref(red);
}

/* The connection's budget of destructive calls: one is taken for this call
 * (step and item: a retry, a deferral or a resume of it takes none again);
 * none left, or runs held on this connection already, and the run is held. */
static int budget(struct exec_state *st, const struct flow_step *s, int item, const json_t *params,
                  const struct conn_call *call, bool *done, struct idf_err *err)
{
    const char *conn = call->connection_name;
    const char *text = json_string_value(json_object_get(call->connection, CONN_MAX_DESTRUCTIVE_FIELD));
    struct rate_spec spec;
    char key[300], wkey[300], canon[32], why[700];
    const char *taken = json_string_value(json_object_get(st->ctx, "guard_taken"));
    int64_t held = 0, wait = 0;
    int rc;

    if (!conn || !call->connection)
        return 0; /* a connector without connections: nothing to count against */
    if (rate_spec_parse(text ? text : CONN_MAX_DESTRUCTIVE_DEFAULT, CONN_MAX_DESTRUCTIVE_FIELD, &spec, NULL)) {
        /* stored before the field was checked (or edited by hand): the default, never no budget */
        log_warn("guardrail: connection '%s': %s is not valid; using %s", conn, CONN_MAX_DESTRUCTIVE_FIELD,
                 CONN_MAX_DESTRUCTIVE_DEFAULT);
        if (rate_spec_parse(CONN_MAX_DESTRUCTIVE_DEFAULT, CONN_MAX_DESTRUCTIVE_FIELD, &spec, NULL))
            return idf_err_set(err, IDF_EINVAL, "guardrail: bad default budget");
    }
    if (spec.off)
        return 0;
    snprintf(key, sizeof key, "%lld:%s#%d", (long long)st->run->id, s->id, item); /* a re-run's context has its
                                                                                     run's: not counted there */
    if (taken && strcmp(taken, key) == 0)
        return 0;
    rate_spec_format(&spec, canon, sizeof canon);
    if (store_guard_held(st->env->store, conn, &held))
        return unchecked(st, s, item, params, conn, "count the runs held at the guardrail", done, err);
    if (held == 0) {
        snprintf(wkey, sizeof wkey, "guardrail:%s", conn);
        if (store_window_take(st->env->store, wkey, spec.n, spec.period_ms, time_now_ms(), &wait))
            return unchecked(st, s, item, params, conn, "count the destructive calls", done, err);
        if (wait == 0) {
            json_object_set_new(st->ctx, "guard_taken", json_string(key));
            return 0;
        }
        snprintf(why, sizeof why,
                 "held: connection '%s' has spent its budget of destructive calls (%s); %s was not called. "
                 "Release the run (idflow release %lld) or reject it",
                 conn, canon, s->action->name, (long long)st->run->id);
    } else {
        snprintf(why, sizeof why,
                 "held: the guardrail of connection '%s' is tripped (%lld run%s held, budget %s); %s was not "
                 "called. Release the run (idflow release %lld) or reject it",
                 conn, (long long)held, held == 1 ? "" : "s", canon, s->action->name, (long long)st->run->id);
    }
    log_warn("guardrail: run %lld step %s: %s", (long long)st->run->id, s->id, why);
    *done = true;
    rc = exec__finish(
        st, s,
        &(struct step_outcome){.kind = OUTCOME_HELD, .item = item, .input = params, .message = why, .hold = conn}, err);
    if (rc == 0 && held == 0)
        raise_tripped(st, s, conn, canon, params, why);
    return rc;
}

int exec__guard(struct exec_state *st, const struct flow_step *s, const struct connector *owner, int item,
                const json_t *params, struct conn_call *call, bool *done, struct idf_err *err)
{
    struct conn_protect p;
    bool refused = false, released = false;
    int rc;

    if (conn_action_effect(s->action, params) != CONN_EFFECT_DESTRUCTIVE)
        return 0;
    if (owner && owner->protect && call->connection) {
        memset(&p, 0, sizeof p);
        rc = owner->protect(call, s->action, params, &refused, &p);
        if (rc) {
            char msg[600];
            snprintf(msg, sizeof msg,
                     "could not check the protected accounts of connection '%s', so %s was not "
                     "called: %s",
                     call->connection_name ? call->connection_name : "?", s->action->name,
                     p.rule[0] ? p.rule : "unknown error");
            *done = true;
            /* The check's own read was paced or answered 429: nothing was asked of the target yet; wait
             * and ask again without counting an attempt, as a deferred action would (a step without
             * retry: would otherwise fail on its first paced check). */
            if (p.deferred)
                return exec__finish(st, s,
                                    &(struct step_outcome){.kind = OUTCOME_DEFERRED,
                                                           .item = item,
                                                           .input = params,
                                                           .message = msg,
                                                           .retry_after_ms = p.retry_after_ms},
                                    err);
            return exec__finish(st, s,
                                &(struct step_outcome){.kind = OUTCOME_FAILED,
                                                       .item = item,
                                                       .input = params,
                                                       .message = msg,
                                                       .retryable = p.retryable,
                                                       .retry_after_ms = p.retry_after_ms},
                                err);
        }
        if (refused) {
            *done = true;
            return refuse(st, s, item, params, call, &p, err);
        }
    }
    /* protected accounts first: an admin's release never lets a protected target through */
    rc = decision(st, s, item, params, &released, done, err);
    if (rc || *done || released)
        return rc;
    return budget(st, s, item, params, call, done, err);
}

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
#include "engine/exec_internal.h"
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

int exec__guard(struct exec_state *st, const struct flow_step *s, const struct connector *owner, int item,
                const json_t *params, struct conn_call *call, bool *done, struct idf_err *err)
{
    struct conn_protect p;
    bool refused = false;
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
    return 0;
}

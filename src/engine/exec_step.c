/* exec_step.c — one visit of a step (or one foreach item): if:, the foreach
 * part (exec_foreach.c), with: rendered and checked, then the step itself:
 * set and fail here, delay and approval in exec_wait.c, a connector's
 * action here (its connection, its intent when it records one, the call,
 * or a dry run's line). Every visit ends in exec__finish (exec_finish.c),
 * which records it.
 *
 * Called on worker threads (and by `idflow run`); uses only the env given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "connectors/registry.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "credentials/credentials.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/exec_internal.h"
#include "expr/expr.h"
#include "flow/flow.h"

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
        fprintf(st->env->trace, "  %-24s would call %s %s%s\n", s->id, s->action->name, p ? p : "{}",
                conn_action_effect(s->action, params) == CONN_EFFECT_DESTRUCTIVE ? " (destructive)" : "");
    free(p);
    json_decref(red);
    o = json_pack("{s:b,s:s,s:s}", "dry_run", 1, "action", s->action->name, "effect",
                  conn_effect_name(conn_action_effect(s->action, params)));
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
                                                     .output = res.output, .trace = "succeeded", .show_secrets = true,
                                                     .change = res.change, .subjects = res.subjects},
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
                                                 .retry_after_ms = res.retry_after_ms, .subjects = res.subjects},
                          err);
    }
    conn_result_clear(&res);
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
    call.item = item;
    call.http = st->env->http;
    call.run_id = st->run->id;
    call.step_id = s->id;
    call.attempt = st->attempt + 1;
    call.allow_http = st->f->allow_http;
    call.allow_private_network = st->f->allow_private_network;
    call.timeout_ms = s->timeout_ms;
    call.thread_slot = idx >= 0 && idx < ENGINE_MAX_CONNECTORS ? &st->env->slots[idx] : NULL;
    call.coord = st->env->coord;
    rc = exec__guard(st, s, owner, item, params, &call, &done, err);
    if (rc || done)
        return rc;
    if (s->action->records_intent && (rc = record_intent(st, s, item, params, &call, err)))
        return rc;
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

/* exec_wait.c — the delay and approval steps: the first visit stores
 * wait_until (and opens the approval) and the run waits; a later visit,
 * woken by the timer or a decision, ends the step (waited, approved,
 * rejected, timed out) or waits again. Deciding an approval is the API's
 * and the store's.
 *
 * Called on worker threads (and by `idflow run`); uses only the env given. */
#include <stdio.h>
#include <stdlib.h>

#include "connectors/connector.h"
#include "core/timeutil.h"
#include "engine/engine.h"
#include "engine/exec_internal.h"
#include "engine/status.h"
#include "flow/flow.h"
#include "store/store.h"

#define EXEC_APPROVAL_DEFAULT_MS (7LL * 24 * 3600 * 1000)

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

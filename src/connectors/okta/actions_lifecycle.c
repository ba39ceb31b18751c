/* actions_lifecycle.c — the converging user lifecycle: okta.activate_user,
 * okta.reactivate_user, okta.deactivate_user, okta.suspend_user,
 * okta.unsuspend_user, okta.unlock_user, and the engine they share with the
 * security actions (oktac__lifecycle).
 *
 * Every operation reads the user first (status, transitioningToStatus and,
 * where Okta documents it, the single-user `_links`) and decides from a
 * table (struct oktac_lc_op):
 *   - an asynchronous transition in progress: already underway (changed:
 *     false) when it goes where we want, else retryable (Okta would answer
 *     409 E0000112);
 *   - already in the wanted state: success, changed: false, no call;
 *   - a state Okta refuses the call from: a non-retryable error naming both
 *     states, no call;
 *   - otherwise the call; a refusal Okta still answers (the user changed in
 *     between) is re-read: if the user is now where we wanted, changed:
 *     false, else the error names both states and carries Okta's text.
 * On a retried attempt (call->attempt > 1) a user found in the result of
 * the operation is taken as the earlier attempt's work (its answer was
 * lost), so retries converge even where a first call would be refused.
 * deactivate never deletes. Worker threads; no state of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/okta/okta_internal.h"

static const char *const known_statuses[] = {"STAGED",    "PROVISIONED",      "ACTIVE",
                                             "RECOVERY",  "PASSWORD_EXPIRED", "LOCKED_OUT",
                                             "SUSPENDED", "DEPROVISIONED",    NULL};

static bool in(const char *const *list, const char *s)
{
    for (; list && *list; list++) {
        if (strcmp(*list, s) == 0)
            return true;
    }
    return false;
}

bool oktac__user_has_link(const json_t *user, const char *name)
{
    return json_object_get(json_object_get(user, "_links"), name) != NULL;
}

/* Advice on what moves a user out of status, for refusal messages. */
static const char *hint(const char *status)
{
    static const struct {
        const char *status, *text;
    } hints[] = {
        {"DEPROVISIONED", "the user is deactivated; okta.activate_user brings them back"},
        {"SUSPENDED", "okta.unsuspend_user lifts the suspension"},
        {"LOCKED_OUT", "okta.unlock_user unlocks the user"},
        {"STAGED", "the user was never activated; okta.activate_user activates them"},
        {"PROVISIONED", "the user has not finished activation; okta.reactivate_user restarts it"},
        {"ACTIVE", "the user is already active"},
        {"RECOVERY", "the user is in a password reset"},
        {"PASSWORD_EXPIRED", "the user must change their password at the next sign-in"},
    };
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        if (strcmp(hints[i].status, status) == 0)
            return hints[i].text;
    }
    return NULL;
}

static bool state_error(const struct oktac_resp *r)
{
    static const char *const codes[] = {"E0000001", "E0000016", "E0000017", "E0000032",
                                        "E0000038", "E0000107", "E0000007", NULL};
    return r->status >= 400 && r->status < 500 && in(codes, oktac__error_code(r));
}

static json_t *status_list(const char *const *a, const char *const *b)
{
    json_t *l = json_array();
    for (; a && *a; a++)
        json_array_append_new(l, json_string(*a));
    for (; b && *b; b++)
        json_array_append_new(l, json_string(*b));
    return l;
}

/* The output: user (stolen) + changed + previous_status + answer's extras. */
static json_t *lc_output(struct oktac *o, json_t *user, bool changed, const char *prev, const json_t *answer)
{
    json_t *out = oktac__user_output(o, user, changed);
    const char *k;
    json_t *v;

    json_object_set_new(out, "previous_status", json_string(prev));
    if (json_is_object(answer)) {
        json_object_foreach ((json_t *)answer, k, v) {
            if (!json_object_get(out, k))
                json_object_set(out, k, v);
        }
    }
    return out;
}

static void clear_failure(struct oktac *o)
{
    o->s.res->message[0] = '\0';
    o->s.res->retryable = false;
    o->s.res->retry_after_ms = 0;
    json_decref(o->s.res->detail);
    o->s.res->detail = NULL;
}

/* After a refusal: re-reads the user; true (with *now) when it is already
 * where op wanted (someone else did it meanwhile). */
static bool converged_meanwhile(struct oktac *o, const struct oktac_lc_op *op, const char *id, json_t **now)
{
    json_t *u = NULL;
    const char *st;

    *now = NULL;
    if (oktac__user_get(o, id, &u) != 0) {
        clear_failure(o);
        return false;
    }
    st = json_string_value(json_object_get(u, "status")) ?: "";
    if (in(op->done, st) || (op->is_done && op->is_done(u)) ||
        (op->result && strcmp(op->result, st) == 0 && !in(op->from, st))) {
        *now = u;
        return true;
    }
    json_decref(u);
    return false;
}

int oktac__lifecycle(struct oktac *o, const struct oktac_lc_op *op, const char *key, const char *query, json_t **out)
{
    json_t *user = NULL, *now = NULL;
    struct oktac_resp r = {0};
    char prev[32], *path = NULL;
    const char *status, *trans, *id, *login, *h;
    int rc;

    *out = NULL;
    rc = oktac__user_get(o, key, &user);
    if (rc)
        goto out;
    status = json_string_value(json_object_get(user, "status")) ?: "";
    trans = json_string_value(json_object_get(user, "transitioningToStatus"));
    if ((!trans || !*trans) && strcmp(status, "ACTIVATING") == 0)
        trans = "ACTIVE"; /* the spec's transitional status: an activation under way */
    id = json_string_value(json_object_get(user, "id")) ?: key;
    login = oktac__login(user);
    snprintf(prev, sizeof prev, "%s", status);

    if (trans && *trans) {
        if (in(op->trans_done, trans)) {
            *out = lc_output(o, json_incref(user), false, prev, NULL);
            goto out;
        }
        json_decref(o->s.res->detail);
        o->s.res->detail = json_pack("{s:s, s:s}", "status", status, "transitioningToStatus", trans);
        rc = oktac__fail(o, IDF_EBUSY, true, OKTAC_TRANSITION_RETRY_MS,
                         "%s: cannot %s %s yet: Okta is still moving the user to %s (status %s); retry later",
                         o->s.action, op->verb, login, trans, status);
        goto out;
    }
    if ((op->is_done && op->is_done(user)) || in(op->done, status) ||
        (o->s.call->attempt > 1 && in(op->retry_done, status))) {
        *out = lc_output(o, json_incref(user), false, prev, NULL);
        goto out;
    }
    if (!in(op->from, status) && !(op->can_do && op->can_do(user)) && !in(op->maybe, status) &&
        in(known_statuses, status)) {
        h = hint(status);
        rc = oktac__fail_state(o, NULL, IDF_ESTATE, "cannot %s %s: status is %s, not %s%s%s%s", op->verb, login, status,
                               op->from_text, h ? " (" : "", h ? h : "", h ? ")" : "");
        json_object_set_new(o->s.res->detail, "status", json_string(status));
        json_object_set_new(o->s.res->detail, "expected", status_list(op->from, NULL));
        goto out;
    }

    if (asprintf(&path, "/api/v1/users/%s/lifecycle/%s%s", id, op->endpoint, query ? query : "") < 0) {
        path = NULL;
        rc = oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
        goto out;
    }
    rc = oktac__send(o, "POST", path, NULL, &r);
    if (rc)
        goto out;
    if (!oktac__ok(&r)) {
        char what[200];
        if (strcmp(oktac__error_code(&r), "E0000112") != 0 && state_error(&r)) {
            if (converged_meanwhile(o, op, id, &now)) {
                *out = lc_output(o, now, false, prev, NULL);
                now = NULL;
                goto out;
            }
            rc = oktac__fail_state(o, &r, IDF_ESTATE, "cannot %s %s: status is %s, not %s", op->verb, login, status,
                                   op->from_text);
            json_object_set_new(o->s.res->detail, "status", json_string(status));
            goto out;
        }
        snprintf(what, sizeof what, "%s %s", op->verb, login);
        rc = oktac__fail_http(o, &r, what);
        goto out;
    }
    if (op->answer_is_user && json_is_object(r.json) && json_object_get(r.json, "id")) {
        json_decref(user);
        user = json_incref(r.json);
    } else if (op->reread) {
        char rid[OKTAC_MAX_REQUEST_ID];
        snprintf(rid, sizeof rid, "%s", o->request_id);
        if (oktac__user_get(o, id, &now) == 0) {
            json_decref(user);
            user = now;
            now = NULL;
        } else {
            clear_failure(o); /* the change is made; report it with what we know */
        }
        snprintf(o->request_id, sizeof o->request_id, "%s", rid);
    } else if (op->result) {
        json_object_set_new(user, "status", json_string(op->result));
        json_object_del(user, "transitioningToStatus");
    }
    *out = lc_output(o, json_incref(user), true, prev, op->answer_is_user ? NULL : r.json);
out:
    oktac__resp_free(&r);
    json_decref(user);
    json_decref(now);
    free(path);
    return rc;
}

/* ------------------------------------------------------------ the ops */

static const char *const S_ACTIVE[] = {"ACTIVE", NULL};
static const char *const S_SUSPENDED[] = {"SUSPENDED", NULL};
static const char *const S_DEPROVISIONED[] = {"DEPROVISIONED", NULL};
static const char *const S_LOCKED_OUT[] = {"LOCKED_OUT", NULL};
static const char *const S_ACTIVATED[] = {"ACTIVE", "PROVISIONED", NULL};
static const char *const S_ACTIVATE_FROM[] = {"STAGED", "DEPROVISIONED", NULL};
static const char *const S_REACTIVATE_FROM[] = {"PROVISIONED", "RECOVERY", NULL};
static const char *const S_NOT_DEPROVISIONED[] = {"STAGED",           "PROVISIONED", "ACTIVE",    "RECOVERY",
                                                  "PASSWORD_EXPIRED", "LOCKED_OUT",  "SUSPENDED", NULL};

static const struct oktac_lc_op op_activate = {
    .verb = "activate user",
    .endpoint = "activate",
    .done = S_ACTIVATED,
    .from = S_ACTIVATE_FROM,
    .trans_done = S_ACTIVATED,
    .from_text = "STAGED or DEPROVISIONED",
    .reread = true,
};
/* Reactivation re-sends activation: from PROVISIONED it is never "done". */
static const struct oktac_lc_op op_reactivate = {
    .verb = "reactivate user",
    .endpoint = "reactivate",
    .result = "PROVISIONED",
    .from = S_REACTIVATE_FROM,
    .from_text = "PROVISIONED or RECOVERY",
};
static const struct oktac_lc_op op_deactivate = {
    .verb = "deactivate user",
    .endpoint = "deactivate",
    .result = "DEPROVISIONED",
    .done = S_DEPROVISIONED,
    .from = S_NOT_DEPROVISIONED,
    .trans_done = S_DEPROVISIONED,
    .from_text = "any status but DEPROVISIONED",
};
static const struct oktac_lc_op op_suspend = {
    .verb = "suspend user",
    .endpoint = "suspend",
    .result = "SUSPENDED",
    .done = S_SUSPENDED,
    .from = S_ACTIVE,
    .from_text = "ACTIVE",
};
/* Unsuspending an ACTIVE user is refused (there is no suspension to lift),
 * except on a retry, where ACTIVE is the earlier attempt's result. */
static const struct oktac_lc_op op_unsuspend = {
    .verb = "unsuspend user",
    .endpoint = "unsuspend",
    .result = "ACTIVE",
    .from = S_SUSPENDED,
    .retry_done = S_ACTIVE,
    .from_text = "SUSPENDED",
};

/* An ACTIVE user needs unlocking only when blocked from unknown devices,
 * which the single-user `_links.unlock` shows. */
static bool unlock_done(const json_t *u)
{
    return strcmp(json_string_value(json_object_get(u, "status")) ?: "", "ACTIVE") == 0 &&
           !oktac__user_has_link(u, "unlock");
}
static bool unlock_can(const json_t *u)
{
    return oktac__user_has_link(u, "unlock");
}
static const struct oktac_lc_op op_unlock = {
    .verb = "unlock user",
    .endpoint = "unlock",
    .result = "ACTIVE",
    .from = S_LOCKED_OUT,
    .is_done = unlock_done,
    .can_do = unlock_can,
    .from_text = "LOCKED_OUT",
};

/* ------------------------------------------------------------ actions */

int oktac__run_lifecycle(struct conn_call *call, const json_t *params, struct conn_result *res, const char *action,
                         const struct oktac_lc_op *op, const char *query)
{
    struct oktac o;
    char scratch[32];
    int rc = oktac__open(&o, call, res, action);

    if (rc == 0)
        rc = oktac__lifecycle(&o, op, oktac__param_str(params, "user", scratch, sizeof scratch), query, &res->output);
    return oktac__close(&o, rc);
}

static const char *send_email_query(const json_t *params, bool dflt)
{
    return oktac__param_bool(params, "send_email", dflt) ? "?sendEmail=true" : "?sendEmail=false";
}

OKTAC__ACTION(oktac__act_activate_user)
{
    return oktac__run_lifecycle(call, params, res, "okta.activate_user", &op_activate, send_email_query(params, true));
}

OKTAC__ACTION(oktac__act_reactivate_user)
{
    return oktac__run_lifecycle(call, params, res, "okta.reactivate_user", &op_reactivate,
                                send_email_query(params, false));
}

OKTAC__ACTION(oktac__act_deactivate_user)
{
    return oktac__run_lifecycle(call, params, res, "okta.deactivate_user", &op_deactivate,
                                send_email_query(params, false));
}

OKTAC__ACTION(oktac__act_suspend_user)
{
    return oktac__run_lifecycle(call, params, res, "okta.suspend_user", &op_suspend, "");
}

OKTAC__ACTION(oktac__act_unsuspend_user)
{
    return oktac__run_lifecycle(call, params, res, "okta.unsuspend_user", &op_unsuspend, "");
}

OKTAC__ACTION(oktac__act_unlock_user)
{
    return oktac__run_lifecycle(call, params, res, "okta.unlock_user", &op_unlock, "");
}

/* actions_security.c — user security actions: okta.reset_password,
 * okta.expire_password, okta.reset_factors (converging, through the
 * lifecycle engine of actions_lifecycle.c) and okta.clear_sessions.
 *
 * Convergence: a user already in RECOVERY is not reset again (no second
 * email) unless `force`; an expired password is not expired again unless a
 * temporary password is asked for; factors are reset only when the user's
 * `_links.resetFactors` shows enrolled factors (Okta: "This link is present
 * only if the user is currently enrolled in one or more MFA factors").
 * Clearing sessions cannot be observed first; it always calls (changed:
 * true, idempotent in effect). Worker threads; no state of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/okta/okta_internal.h"
#include "net/http.h"

static const char *const S_RECOVERY[] = {"RECOVERY", NULL};
static const char *const S_EXPIRED[] = {"PASSWORD_EXPIRED", NULL};
static const char *const S_ACTIVE[] = {"ACTIVE", NULL};
static const char *const S_ACTIVE_EXPIRED[] = {"ACTIVE", "PASSWORD_EXPIRED", NULL};
static const char *const S_RESET_FROM[] = {"ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", NULL};
static const char *const S_RESET_FROM_FORCED[] = {"ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY", NULL};
static const char *const S_EXPIRE_MAYBE[] = {"RECOVERY", "LOCKED_OUT", NULL};

static const struct oktac_lc_op op_reset_password = {
    .verb = "reset the password of user",
    .endpoint = "reset_password",
    .result = "RECOVERY",
    .done = S_RECOVERY,
    .from = S_RESET_FROM,
    .from_text = "ACTIVE, PASSWORD_EXPIRED or LOCKED_OUT",
};
static const struct oktac_lc_op op_reset_password_forced = {
    .verb = "reset the password of user",
    .endpoint = "reset_password",
    .result = "RECOVERY",
    .from = S_RESET_FROM_FORCED,
    .from_text = "ACTIVE, PASSWORD_EXPIRED, LOCKED_OUT or RECOVERY",
};
static const struct oktac_lc_op op_expire_password = {
    .verb = "expire the password of user",
    .endpoint = "expire_password",
    .result = "PASSWORD_EXPIRED",
    .done = S_EXPIRED,
    .from = S_ACTIVE,
    .maybe = S_EXPIRE_MAYBE,
    .from_text = "ACTIVE",
    .answer_is_user = true,
};
static const struct oktac_lc_op op_expire_password_temp = {
    .verb = "expire the password of user",
    .endpoint = "expire_password_with_temp_password",
    .result = "PASSWORD_EXPIRED",
    .from = S_ACTIVE_EXPIRED,
    .maybe = S_EXPIRE_MAYBE,
    .retry_done = S_EXPIRED,
    .from_text = "ACTIVE or PASSWORD_EXPIRED",
};

static bool factors_done(const json_t *u)
{
    return strcmp(json_string_value(json_object_get(u, "status")) ?: "", "DEPROVISIONED") != 0 &&
           !oktac__user_has_link(u, "resetFactors");
}
static bool factors_can(const json_t *u)
{
    return oktac__user_has_link(u, "resetFactors");
}
static const struct oktac_lc_op op_reset_factors = {
    .verb = "reset the factors of user",
    .endpoint = "reset_factors",
    .is_done = factors_done,
    .can_do = factors_can,
    .from_text = "a status with enrolled factors (any but DEPROVISIONED)",
};

OKTAC__ACTION(oktac__act_reset_password)
{
    char query[80];
    /* Okta's spec makes sendEmail required: it is always sent. */
    snprintf(query, sizeof query, "?sendEmail=%s&revokeSessions=%s",
             oktac__param_bool(params, "send_email", true) ? "true" : "false",
             oktac__param_bool(params, "revoke_sessions", false) ? "true" : "false");
    return oktac__run_lifecycle(
        call, params, res, "okta.reset_password",
        oktac__param_bool(params, "force", false) ? &op_reset_password_forced : &op_reset_password, query);
}

OKTAC__ACTION(oktac__act_expire_password)
{
    if (oktac__param_bool(params, "temp_password", false)) {
        char query[40];
        snprintf(query, sizeof query, "?revokeSessions=%s",
                 oktac__param_bool(params, "revoke_sessions", false) ? "true" : "false");
        return oktac__run_lifecycle(call, params, res, "okta.expire_password", &op_expire_password_temp, query);
    }
    return oktac__run_lifecycle(call, params, res, "okta.expire_password", &op_expire_password, "");
}

OKTAC__ACTION(oktac__act_reset_factors)
{
    return oktac__run_lifecycle(call, params, res, "okta.reset_factors", &op_reset_factors, "");
}

OKTAC__ACTION(oktac__act_clear_sessions)
{
    struct oktac o;
    struct oktac_resp r = {0};
    json_t *user = NULL;
    char scratch[32], *path = NULL, what[300];
    const json_t *fd = json_object_get(params, "forget_devices");
    int rc = oktac__open(&o, call, res, "okta.clear_sessions");

    if (rc)
        goto out;
    /* The sessions path takes the id only: read the user (also checks it exists). */
    rc = oktac__user_get(&o, oktac__param_str(params, "user", scratch, sizeof scratch), &user);
    if (rc)
        goto out;
    if (asprintf(&path, "/api/v1/users/%s/sessions?oauthTokens=%s%s%s",
                 json_string_value(json_object_get(user, "id")) ?: "",
                 oktac__param_bool(params, "oauth_tokens", false) ? "true" : "false",
                 json_is_boolean(fd) ? "&forgetDevices=" : "",
                 json_is_boolean(fd) ? (json_is_true(fd) ? "true" : "false") : "") < 0) {
        path = NULL;
        rc = oktac__fail(&o, IDF_ENOMEM, true, 0, "okta.clear_sessions: out of memory");
        goto out;
    }
    snprintf(what, sizeof what, "clearing the sessions of %s", oktac__login(user));
    rc = oktac__call(&o, "DELETE", path, NULL, &r, what);
    if (rc)
        goto out;
    res->output = oktac__user_output(&o, user, true);
    user = NULL;
out:
    oktac__resp_free(&r);
    json_decref(user);
    free(path);
    return oktac__close(&o, rc);
}

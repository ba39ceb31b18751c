/* okta/lifecycle.c — the user status machine: every POST
 * /api/v1/users/{id}/lifecycle/{op} and DELETE /users/{userId}/sessions.
 *
 * Each operation either moves the user as API-NOTES §b's table says and
 * logs its event, or refuses with the exact status, errorCode, errorSummary
 * and errorCauses of the notes' "refused transitions" table. Where the notes
 * are silent the documented neighbour is used and named in docs/sandbox.md:
 * activate from a status other than STAGED/DEPROVISIONED/ACTIVE is 403
 * E0000038; unlock of an ACTIVE user is a 200 no-op (the recorded
 * behaviour); expire_password is allowed from ACTIVE and PASSWORD_EXPIRED
 * (403 E0000038 otherwise); reset_password from ACTIVE, RECOVERY,
 * PASSWORD_EXPIRED and LOCKED_OUT (403 E0000017 otherwise).
 *
 * Called with sb->lock held. */
#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"
#include "sandbox/okta/internal.h"

static bool is(const json_t *user, const char *status)
{
    return strcmp(sbok__user_status(user), status) == 0;
}

void sbok__user_clear_sessions(json_t *user)
{
    json_object_set_new(sbok__sbx(user), "sessions", json_array());
}

/* Deactivation: DEPROVISIONED, sessions ended, direct app assignments
 * removed (Okta deprovisions the user from every app); group memberships are
 * kept. */
void sbok__user_deactivate(struct sbok_ctx *c, json_t *user)
{
    const char *uid = json_string_value(json_object_get(user, "id"));
    size_t i, j;
    json_t *app;
    json_array_foreach(c->o->apps, i, app)
    {
        json_t *arr = json_object_get(json_object_get(app, "_sbx"), "users");
        for (j = json_array_size(arr); j-- > 0;)
            if (strcmp(json_string_value(json_object_get(json_array_get(arr, j), "id")) ?: "", uid) == 0)
                json_array_remove(arr, j);
    }
    sbok__user_clear_sessions(user);
    json_object_del(user, "transitioningToStatus");
    json_object_del(sbok__sbx(user), "transitionUntil");
    sbok__user_set_status(user, "DEPROVISIONED");
    sbok__event_user(c, "user.lifecycle.deactivate", user);
}

static void not_allowed(struct sbok_ctx *c)
{
    sbok__error(c, 403, "E0000038", "This operation is not allowed in the user's current status.", NULL);
}

/* {} or {activationUrl, activationToken} (sendEmail=false). */
static json_t *activation_token(struct sbok_ctx *c, bool send_email)
{
    if (send_email)
        return json_object();
    char tok[24], url[400];
    sbok__rand_alnum(tok, 20);
    snprintf(url, sizeof url, "%s/tokens/%s/verify", c->base, tok);
    return json_pack("{s:s, s:s}", "activationUrl", url, "activationToken", tok);
}

static void op_activate(struct sbok_ctx *c, json_t *u)
{
    if (is(u, "ACTIVE"))
        return sbok__error(c, 403, "E0000016", "Activation failed because the user is already active", NULL);
    if (!is(u, "STAGED") && !is(u, "DEPROVISIONED"))
        return not_allowed(c);
    bool password = json_is_true(json_object_get(sbok__sbx(u), "password"));
    const char *to = is(u, "STAGED") && password ? "ACTIVE" : "PROVISIONED";
    if (c->o->activation_ms > 0) {
        json_object_set_new(u, "transitioningToStatus", json_string(to));
        json_object_set_new(sbok__sbx(u), "transitionUntil", json_integer(time_now_ms() + c->o->activation_ms));
        sbok__user_touch(u);
    } else {
        sbok__user_set_status(u, to);
    }
    sbok__event_user(c, "user.lifecycle.activate", u);
    sbok__json(c, 200, activation_token(c, sbok__q_bool(c, "sendEmail", true)));
}

static void op_reactivate(struct sbok_ctx *c, json_t *u)
{
    if (!is(u, "PROVISIONED") && !is(u, "RECOVERY"))
        return not_allowed(c);
    sbok__user_set_status(u, "PROVISIONED");
    sbok__event_user(c, "user.lifecycle.reactivate", u);
    sbok__json(c, 200, activation_token(c, sbok__q_bool(c, "sendEmail", false)));
}

static void op_deactivate(struct sbok_ctx *c, json_t *u)
{
    if (is(u, "DEPROVISIONED"))
        return sbok__not_found(c, c->seg[1], "User");
    sbok__user_deactivate(c, u);
    sbok__empty_ok(c);
}

static void op_suspend(struct sbok_ctx *c, json_t *u)
{
    if (!is(u, "ACTIVE"))
        return sbok__error1(c, 400, "E0000001", "Api validation failed: suspendUser",
                            "Cannot suspend a user that is not active");
    sbok__user_set_status(u, "SUSPENDED");
    sbok__user_clear_sessions(u);
    sbok__event_user(c, "user.lifecycle.suspend", u);
    sbok__json(c, 200, json_object());
}

static void op_unsuspend(struct sbok_ctx *c, json_t *u)
{
    if (!is(u, "SUSPENDED"))
        return sbok__error1(c, 400, "E0000001", "Api validation failed: unsuspendUser",
                            "Cannot unsuspend a user that is not suspended");
    sbok__user_set_status(u, "ACTIVE");
    sbok__event_user(c, "user.lifecycle.unsuspend", u);
    sbok__json(c, 200, json_object());
}

static void op_unlock(struct sbok_ctx *c, json_t *u)
{
    if (is(u, "ACTIVE"))
        return sbok__json(c, 200, json_object()); /* recorded: 200 {} for a user not locked */
    if (!is(u, "LOCKED_OUT"))
        return sbok__error(c, 403, "E0000032", "Unlock is not allowed for this user.", NULL);
    json_object_set_new(sbok__sbx(u), "failed", json_integer(0));
    sbok__user_set_status(u, "ACTIVE");
    sbok__event_user(c, "user.account.unlock_by_admin", u);
    sbok__json(c, 200, json_object());
}

static void op_reset_password(struct sbok_ctx *c, json_t *u)
{
    const char *send = sbok__q(c, "sendEmail");
    if (!send)
        return sbok__error1(c, 400, "E0000028", "The request is missing a required parameter.", "sendEmail");
    if (!is(u, "ACTIVE") && !is(u, "RECOVERY") && !is(u, "PASSWORD_EXPIRED") && !is(u, "LOCKED_OUT"))
        return sbok__error1(c, 403, "E0000017", "Password reset failed",
                            "Password reset is not allowed in the user's current status");
    json_object_set_new(sbok__sbx(u), "failed", json_integer(0));
    sbok__user_set_status(u, "RECOVERY");
    if (sbok__q_bool(c, "revokeSessions", false))
        sbok__user_clear_sessions(u);
    sbok__event_user(c, "user.account.reset_password", u);
    if (sbok__q_bool(c, "sendEmail", true))
        return sbok__json(c, 200, json_object());
    char tok[24], url[400];
    sbok__rand_alnum(tok, 20);
    snprintf(url, sizeof url, "%s/signin/reset-password/%s", c->base, tok);
    sbok__json(c, 200, json_pack("{s:s}", "resetPasswordUrl", url));
}

static void op_expire_password(struct sbok_ctx *c, json_t *u, bool temp)
{
    if (!is(u, "ACTIVE") && !is(u, "PASSWORD_EXPIRED"))
        return not_allowed(c);
    sbok__user_set_status(u, "PASSWORD_EXPIRED");
    sbok__event_user(c, "user.account.expire_password", u);
    if (!temp)
        return sbok__json(c, 200, sbok__user_public(c, u));
    if (sbok__q_bool(c, "revokeSessions", false))
        sbok__user_clear_sessions(u);
    char pw[16];
    sbok__rand_alnum(pw, 10);
    json_object_set_new(sbok__sbx(u), "password", json_true());
    sbok__json(c, 200, json_pack("{s:s}", "tempPassword", pw));
}

static void op_reset_factors(struct sbok_ctx *c, json_t *u)
{
    if (is(u, "DEPROVISIONED"))
        return not_allowed(c);
    json_object_set_new(sbok__sbx(u), "factors", json_array());
    sbok__user_touch(u);
    sbok__event_user(c, "user.mfa.factor.reset_all", u);
    sbok__empty_ok(c);
}

void sbok__lifecycle(struct sbok_ctx *c)
{
    json_t *u = sbok__user_find_path(c->o, c->seg[1]);
    const char *op = c->seg[3];
    if (!u)
        return sbok__not_found(c, c->seg[1], "User");
    if (sbok__user_busy(c, u))
        return;
    if (strcmp(op, "activate") == 0)
        op_activate(c, u);
    else if (strcmp(op, "reactivate") == 0)
        op_reactivate(c, u);
    else if (strcmp(op, "deactivate") == 0)
        op_deactivate(c, u);
    else if (strcmp(op, "suspend") == 0)
        op_suspend(c, u);
    else if (strcmp(op, "unsuspend") == 0)
        op_unsuspend(c, u);
    else if (strcmp(op, "unlock") == 0)
        op_unlock(c, u);
    else if (strcmp(op, "reset_password") == 0)
        op_reset_password(c, u);
    else if (strcmp(op, "expire_password") == 0)
        op_expire_password(c, u, false);
    else if (strcmp(op, "expire_password_with_temp_password") == 0)
        op_expire_password(c, u, true);
    else if (strcmp(op, "reset_factors") == 0)
        op_reset_factors(c, u);
    else
        sbok__not_found(c, c->req->path, "Page");
}

void sbok__sessions_clear(struct sbok_ctx *c)
{
    json_t *u = sbok__find_id(c->o->users, c->seg[1]); /* the id only, not a login */
    if (!u)
        return sbok__not_found(c, c->seg[1], "User");
    sbok__user_clear_sessions(u);
    sbok__event_user(c, "user.session.clear", u);
    sbok__no_content(c);
}

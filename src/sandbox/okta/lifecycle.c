/* okta_lifecycle.c — the user status machine: every POST
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
    return strcmp(okta__user_status(user), status) == 0;
}

void okta__user_clear_sessions(json_t *user)
{
    json_object_set_new(okta__sbx(user), "sessions", json_array());
}

/* Deactivation: DEPROVISIONED, sessions ended, direct app assignments
 * removed (Okta deprovisions the user from every app); group memberships are
 * kept. */
void okta__user_deactivate(struct okta_ctx *c, json_t *user)
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
    okta__user_clear_sessions(user);
    json_object_del(user, "transitioningToStatus");
    json_object_del(okta__sbx(user), "transitionUntil");
    okta__user_set_status(user, "DEPROVISIONED");
    okta__event_user(c, "user.lifecycle.deactivate", user);
}

static void not_allowed(struct okta_ctx *c)
{
    okta__error(c, 403, "E0000038", "This operation is not allowed in the user's current status.", NULL);
}

/* {} or {activationUrl, activationToken} (sendEmail=false). */
static json_t *activation_token(struct okta_ctx *c, bool send_email)
{
    if (send_email)
        return json_object();
    char tok[24], url[400];
    okta__rand_alnum(tok, 20);
    snprintf(url, sizeof url, "%s/tokens/%s/verify", c->base, tok);
    return json_pack("{s:s, s:s}", "activationUrl", url, "activationToken", tok);
}

static void op_activate(struct okta_ctx *c, json_t *u)
{
    if (is(u, "ACTIVE"))
        return okta__error(c, 403, "E0000016", "Activation failed because the user is already active", NULL);
    if (!is(u, "STAGED") && !is(u, "DEPROVISIONED"))
        return not_allowed(c);
    bool password = json_is_true(json_object_get(okta__sbx(u), "password"));
    const char *to = is(u, "STAGED") && password ? "ACTIVE" : "PROVISIONED";
    if (c->o->activation_ms > 0) {
        json_object_set_new(u, "transitioningToStatus", json_string(to));
        json_object_set_new(okta__sbx(u), "transitionUntil", json_integer(time_now_ms() + c->o->activation_ms));
        okta__user_touch(u);
    } else {
        okta__user_set_status(u, to);
    }
    okta__event_user(c, "user.lifecycle.activate", u);
    okta__json(c, 200, activation_token(c, okta__q_bool(c, "sendEmail", true)));
}

static void op_reactivate(struct okta_ctx *c, json_t *u)
{
    if (!is(u, "PROVISIONED") && !is(u, "RECOVERY"))
        return not_allowed(c);
    okta__user_set_status(u, "PROVISIONED");
    okta__event_user(c, "user.lifecycle.reactivate", u);
    okta__json(c, 200, activation_token(c, okta__q_bool(c, "sendEmail", false)));
}

static void op_deactivate(struct okta_ctx *c, json_t *u)
{
    if (is(u, "DEPROVISIONED"))
        return okta__not_found(c, c->seg[1], "User");
    okta__user_deactivate(c, u);
    okta__empty_ok(c);
}

static void op_suspend(struct okta_ctx *c, json_t *u)
{
    if (!is(u, "ACTIVE"))
        return okta__error1(c, 400, "E0000001", "Api validation failed: suspendUser",
                            "Cannot suspend a user that is not active");
    okta__user_set_status(u, "SUSPENDED");
    okta__user_clear_sessions(u);
    okta__event_user(c, "user.lifecycle.suspend", u);
    okta__json(c, 200, json_object());
}

static void op_unsuspend(struct okta_ctx *c, json_t *u)
{
    if (!is(u, "SUSPENDED"))
        return okta__error1(c, 400, "E0000001", "Api validation failed: unsuspendUser",
                            "Cannot unsuspend a user that is not suspended");
    okta__user_set_status(u, "ACTIVE");
    okta__event_user(c, "user.lifecycle.unsuspend", u);
    okta__json(c, 200, json_object());
}

static void op_unlock(struct okta_ctx *c, json_t *u)
{
    if (is(u, "ACTIVE"))
        return okta__json(c, 200, json_object()); /* recorded: 200 {} for a user not locked */
    if (!is(u, "LOCKED_OUT"))
        return okta__error(c, 403, "E0000032", "Unlock is not allowed for this user.", NULL);
    json_object_set_new(okta__sbx(u), "failed", json_integer(0));
    okta__user_set_status(u, "ACTIVE");
    okta__event_user(c, "user.account.unlock_by_admin", u);
    okta__json(c, 200, json_object());
}

static void op_reset_password(struct okta_ctx *c, json_t *u)
{
    const char *send = okta__q(c, "sendEmail");
    if (!send)
        return okta__error1(c, 400, "E0000028", "The request is missing a required parameter.", "sendEmail");
    if (!is(u, "ACTIVE") && !is(u, "RECOVERY") && !is(u, "PASSWORD_EXPIRED") && !is(u, "LOCKED_OUT"))
        return okta__error1(c, 403, "E0000017", "Password reset failed",
                            "Password reset is not allowed in the user's current status");
    json_object_set_new(okta__sbx(u), "failed", json_integer(0));
    okta__user_set_status(u, "RECOVERY");
    if (okta__q_bool(c, "revokeSessions", false))
        okta__user_clear_sessions(u);
    okta__event_user(c, "user.account.reset_password", u);
    if (okta__q_bool(c, "sendEmail", true))
        return okta__json(c, 200, json_object());
    char tok[24], url[400];
    okta__rand_alnum(tok, 20);
    snprintf(url, sizeof url, "%s/signin/reset-password/%s", c->base, tok);
    okta__json(c, 200, json_pack("{s:s}", "resetPasswordUrl", url));
}

static void op_expire_password(struct okta_ctx *c, json_t *u, bool temp)
{
    if (!is(u, "ACTIVE") && !is(u, "PASSWORD_EXPIRED"))
        return not_allowed(c);
    okta__user_set_status(u, "PASSWORD_EXPIRED");
    okta__event_user(c, "user.account.expire_password", u);
    if (!temp)
        return okta__json(c, 200, okta__user_public(c, u));
    if (okta__q_bool(c, "revokeSessions", false))
        okta__user_clear_sessions(u);
    char pw[16];
    okta__rand_alnum(pw, 10);
    json_object_set_new(okta__sbx(u), "password", json_true());
    okta__json(c, 200, json_pack("{s:s}", "tempPassword", pw));
}

static void op_reset_factors(struct okta_ctx *c, json_t *u)
{
    if (is(u, "DEPROVISIONED"))
        return not_allowed(c);
    json_object_set_new(okta__sbx(u), "factors", json_array());
    okta__user_touch(u);
    okta__event_user(c, "user.mfa.factor.reset_all", u);
    okta__empty_ok(c);
}

void okta__lifecycle(struct okta_ctx *c)
{
    json_t *u = okta__user_find_path(c->o, c->seg[1]);
    const char *op = c->seg[3];
    if (!u)
        return okta__not_found(c, c->seg[1], "User");
    if (okta__user_busy(c, u))
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
        okta__not_found(c, c->req->path, "Page");
}

void okta__sessions_clear(struct okta_ctx *c)
{
    json_t *u = okta__find_id(c->o->users, c->seg[1]); /* the id only, not a login */
    if (!u)
        return okta__not_found(c, c->seg[1], "User");
    okta__user_clear_sessions(u);
    okta__event_user(c, "user.session.clear", u);
    okta__no_content(c);
}

/* okta/admin.c — /_sandbox/okta/...: simulating people, and settings.
 *
 *   POST /users/{idOrLogin}/fail_signin   {"count": n}  wrong passwords; auto-lock
 *   POST /users/{idOrLogin}/signin                      a successful sign-in (a session)
 *   POST /users/{idOrLogin}/set_password                the user sets a password (→ ACTIVE)
 *   POST /users/{idOrLogin}/auto_unlock                 the lockout policy unlocks
 *   POST /users/{idOrLogin}/profile  {"profile": {..}, "actor": login}  an admin edits in the console
 *   POST /events  {"eventType": .., "target": [..], ..., "count": n}  any other System Log event (n of them)
 *   GET|POST /config  {"rateLimit","buckets","concurrencyLimit","lockoutAttempts","activationDelayMs",
 *                      "dpopResourceNonce", "dpopClockSkewS"}
 *   POST /apps/{client_id}/dpop  {"required": bool}    the service app's "Require DPoP" switch
 *   GET  /dpop                                         DPoP counters (proofs accepted, challenges, refusals)
 *   POST /dpop/nonce                                   new DPoP nonces (token endpoint and resources)
 *
 * Events from these carry the person as actor (sign-ins, the lock: as in
 * Okta's real user.account.lock, whose actor is the locked user and whose
 * target is null — left out here), a browser client, and no
 * requestApiTokenId, so a workflow sees them as Okta would show them.
 * Answers are sandbox JSON ({"error": "..."} on bad input). Called with
 * sb->lock held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "sandbox/okta/internal.h"

#define ADMIN_MAX_FAIL_COUNT 100
#define ADMIN_MAX_EVENT_COUNT 1000 /* events one POST /events may append */
#define SIM_UA "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
#define SIM_IP "203.0.113.24"

static void admin_error(struct sbok_ctx *c, int status, const char *msg)
{
    sbok__json(c, status, json_pack("{s:s}", "error", msg));
}

static json_t *user_actor(const json_t *u)
{
    char name[256];
    sbok__user_display(u, name, sizeof name);
    return json_pack("{s:s, s:s, s:s, s:s}", "id", json_string_value(json_object_get(u, "id")), "type", "User",
                     "alternateId", json_string_value(json_object_get(json_object_get(u, "profile"), "login")) ?: "",
                     "displayName", name);
}

/* Makes c look like the person's browser session. */
static void as_person(struct sbok_ctx *c, json_t *actor)
{
    json_decref(c->actor);
    c->actor = actor;
    c->token_id[0] = '\0';
    c->ua = SIM_UA;
    c->ip = SIM_IP;
}

/* Points the event's debugData at the Okta URI a real one would show. */
static void set_uri(json_t *ev, const char *uri)
{
    json_t *dd = json_object_get(json_object_get(ev, "debugContext"), "debugData");
    char url[512];
    snprintf(url, sizeof url, "%s?", uri);
    json_object_set_new(dd, "requestUri", json_string(uri));
    json_object_set_new(dd, "url", json_string(url));
}

static void signin_event(struct sbok_ctx *c, const char *result, const char *reason)
{
    json_t *ev = sbok__event_new(c, "user.session.start");
    json_object_set_new(ev, "outcome", reason ? json_pack("{s:s, s:s}", "result", result, "reason", reason)
                                              : json_pack("{s:s}", "result", result));
    json_object_set_new(json_object_get(ev, "client"), "device", json_string("Computer"));
    sbok__event_target(ev, "AuthenticatorEnrollment", "lae1sandboxpassword0", "unknown", "Password");
    sbok__event_target(ev, "AppInstance", "0oa1sandboxdashboard", "Okta Dashboard", "Okta Dashboard");
    set_uri(ev, "/idp/idx/identify");
    sbok__event_commit(c, ev);
}

static void fail_signin(struct sbok_ctx *c, json_t *u)
{
    json_int_t count = 1;
    if (json_object_get(c->body, "count")) {
        count = json_integer_value(json_object_get(c->body, "count"));
        if (!json_is_integer(json_object_get(c->body, "count")) || count < 1 || count > ADMIN_MAX_FAIL_COUNT)
            return admin_error(c, 400, "count must be an integer from 1 to 100");
    }
    json_t *s = sbok__sbx(u);
    bool locked_now = false;
    for (json_int_t i = 0; i < count; i++) {
        const char *st = sbok__user_status(u);
        bool can_fail = strcmp(st, "ACTIVE") == 0 || strcmp(st, "PASSWORD_EXPIRED") == 0;
        if (!can_fail) {
            signin_event(c, "FAILURE", strcmp(st, "LOCKED_OUT") == 0 ? "LOCKED_OUT" : "USER_NOT_ACTIVE");
            continue;
        }
        json_int_t failed = json_integer_value(json_object_get(s, "failed")) + 1;
        json_object_set_new(s, "failed", json_integer(failed));
        signin_event(c, "FAILURE", "INVALID_CREDENTIALS");
        if (failed >= c->o->lockout_attempts) {
            sbok__user_set_status(u, "LOCKED_OUT");
            sbok__user_clear_sessions(u);
            json_t *ev = sbok__event_new(c, "user.account.lock");
            json_object_del(ev, "target"); /* Okta's sample: target null, the user is the actor */
            json_object_set_new(ev, "outcome", json_pack("{s:s, s:s}", "result", "FAILURE", "reason", "LOCKED_OUT"));
            json_object_set_new(json_object_get(ev, "client"), "device", json_string("Computer"));
            set_uri(ev, "/api/v1/authn");
            sbok__event_commit(c, ev);
            locked_now = true;
        }
    }
    sbok__json(c, 200, json_pack("{s:s, s:I, s:b}", "status", sbok__user_status(u), "failedSignIns",
                                 json_integer_value(json_object_get(s, "failed")), "locked", locked_now));
}

static void signin(struct sbok_ctx *c, json_t *u)
{
    const char *st = sbok__user_status(u);
    if (strcmp(st, "ACTIVE") != 0) {
        const char *reason = strcmp(st, "LOCKED_OUT") == 0         ? "LOCKED_OUT"
                             : strcmp(st, "PASSWORD_EXPIRED") == 0 ? "PASSWORD_EXPIRED"
                                                                   : "USER_NOT_ACTIVE";
        signin_event(c, "FAILURE", reason);
        return sbok__json(c, 409, json_pack("{s:s, s:s, s:s}", "result", "FAILURE", "reason", reason, "status", st));
    }
    char sid[32], now[32], exp[32];
    sbok__rand_alnum(sid + 3, 22);
    memcpy(sid, "102", 3);
    sbok__now_iso(now);
    time_format_iso(time_now_ms() + 2 * 3600 * 1000, exp, sizeof exp);
    json_t *s = sbok__sbx(u), *sessions = json_object_get(s, "sessions");
    if (!sessions) {
        sessions = json_array();
        json_object_set_new(s, "sessions", sessions);
    }
    if (json_array_size(sessions) >= SBOK_MAX_SESSIONS)
        json_array_remove(sessions, 0);
    json_t *sess = json_pack("{s:s, s:s, s:s}", "id", sid, "createdAt", now, "expiresAt", exp);
    json_array_append(sessions, sess);
    json_object_set_new(s, "failed", json_integer(0));
    json_object_set_new(u, "lastLogin", json_string(now));
    signin_event(c, "SUCCESS", NULL);
    sbok__json(c, 200, json_pack("{s:s, s:o}", "result", "SUCCESS", "session", sess));
}

static void set_password(struct sbok_ctx *c, json_t *u)
{
    const char *st = sbok__user_status(u);
    if (strcmp(st, "PROVISIONED") != 0 && strcmp(st, "RECOVERY") != 0 && strcmp(st, "PASSWORD_EXPIRED") != 0 &&
        strcmp(st, "ACTIVE") != 0)
        return admin_error(c, 409, "the user cannot set a password in this status");
    char now[32];
    sbok__now_iso(now);
    json_object_set_new(sbok__sbx(u), "password", json_true());
    json_object_set_new(json_object_get(u, "credentials"), "password", json_object());
    json_object_set_new(u, "passwordChanged", json_string(now));
    sbok__user_set_status(u, "ACTIVE");
    json_t *ev = sbok__event_new(c, "user.account.update_password");
    sbok__event_target_user(ev, u);
    set_uri(ev, "/idp/idx/challenge/answer");
    sbok__event_commit(c, ev);
    sbok__json(c, 200, sbok__user_public(c, u));
}

static void auto_unlock(struct sbok_ctx *c, json_t *u)
{
    if (strcmp(sbok__user_status(u), "LOCKED_OUT") != 0)
        return admin_error(c, 409, "the user is not locked out");
    json_object_set_new(sbok__sbx(u), "failed", json_integer(0));
    sbok__user_set_status(u, "ACTIVE");
    as_person(c, json_pack("{s:s, s:s, s:s, s:s}", "id", "0oa1sandboxsystem000", "type", "SystemPrincipal",
                           "alternateId", "system@okta.com", "displayName", "Okta System"));
    sbok__event_user(c, "user.account.unlock", u);
    sbok__json(c, 200, sbok__user_public(c, u));
}

static void console_profile(struct sbok_ctx *c, json_t *u)
{
    json_t *profile = json_object_get(c->body, "profile");
    const char *who = json_string_value(json_object_get(c->body, "actor"));
    if (!json_is_object(profile))
        return admin_error(c, 400, "profile must be an object");
    json_t *admin = sbok__user_find(c->o, who ? who : json_string_value(json_object_get(c->o->org, "consoleAdminId")));
    if (!admin)
        return admin_error(c, 400, "unknown admin (actor)");
    as_person(c, user_actor(admin));
    json_t *changes = NULL;
    if (!sbok__profile_apply(c, u, profile, false, &changes))
        return;
    sbok__user_touch(u);
    if (changes) {
        json_t *ev = sbok__event_new(c, "user.account.update_profile");
        sbok__event_target_user(ev, u);
        json_object_set(json_array_get(json_object_get(ev, "target"), 0), "changeDetails", changes);
        struct buf names;
        buf_init(&names, 4096);
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(changes, "to"), k, v)
        {
            if (buf_printf(&names, "%s%s", names.len ? "," : "", k) != 0)
                break;
        }
        json_t *dd = json_object_get(json_object_get(ev, "debugContext"), "debugData");
        json_object_set_new(dd, "changedAttributes", json_string(names.data ? names.data : ""));
        buf_free(&names);
        char uri[128];
        snprintf(uri, sizeof uri, "/admin/user/profile/update/%s", json_string_value(json_object_get(u, "id")));
        set_uri(ev, uri);
        sbok__event_commit(c, ev);
        json_decref(changes);
    }
    sbok__json(c, 200, sbok__user_public(c, u));
}

/* Appends the event described by the body; with "count": n, n such events
 * (each its own uuid) from one call, so they go to the hooks as one
 * delivery (a large debugContext then makes an oversized delivery). */
static void inject_event(struct sbok_ctx *c)
{
    const char *type = json_string_value(json_object_get(c->body, "eventType"));
    json_t *jn = json_object_get(c->body, "count"), *all = NULL;
    json_int_t n = 1;
    if (!type || !*type || strlen(type) > 128)
        return admin_error(c, 400, "eventType (a string) is required");
    if (jn && (!json_is_integer(jn) || json_integer_value(jn) < 1 || json_integer_value(jn) > ADMIN_MAX_EVENT_COUNT))
        return admin_error(c, 400, "count must be an integer from 1 to 1000");
    if (jn) {
        n = json_integer_value(jn);
        all = json_array();
    }
    for (json_int_t k = 0; k < n; k++) {
        json_t *ev = sbok__event_new(c, type);
        const char *keys[] = {"actor", "target", "outcome", "displayMessage", "severity", "debugContext", NULL};
        if (!ev)
            break;
        for (int i = 0; keys[i]; i++) {
            json_t *v = json_object_get(c->body, keys[i]);
            if (v)
                json_object_set(ev, keys[i], v);
        }
        sbok__event_commit(c, ev);
        if (!all)
            return sbok__json(c, 200, sbok__public(ev));
        json_array_append_new(all, json_pack("{s:O}", "uuid", json_object_get(ev, "uuid")));
    }
    sbok__json(c, 200, json_pack("{s:o}", "events", all));
}

static bool int_field(struct sbok_ctx *c, const char *k, json_int_t lo, json_int_t hi, json_int_t *out)
{
    json_t *v = json_object_get(c->body, k);
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be an integer from %lld to %lld", k, (long long)lo, (long long)hi);
        admin_error(c, 400, msg);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

static void config(struct sbok_ctx *c)
{
    struct sbok_org *o = c->o;
    if (strcmp(c->req->method, "POST") == 0) {
        json_int_t rate = o->rate_override, conc = o->concurrency_limit, lock = o->lockout_attempts,
                   act = o->activation_ms, share = o->token_share, window = o->rate_window_ms,
                   skew = o->dpop.clock_skew_s;
        if (!int_field(c, "rateLimit", 0, 1000000, &rate) || !int_field(c, "tokenShare", 1, 100, &share) ||
            !int_field(c, "rateWindowMs", 1000, 3600000, &window) ||
            !int_field(c, "concurrencyLimit", 1, SBOK_MAX_CONCURRENCY_TRACK, &conc) ||
            !int_field(c, "lockoutAttempts", 1, 100, &lock) || !int_field(c, "activationDelayMs", 0, 600000, &act) ||
            !int_field(c, "dpopClockSkewS", -SBOK_MAX_CLOCK_SKEW_S, SBOK_MAX_CLOCK_SKEW_S, &skew))
            return;
        json_t *buckets = json_object_get(c->body, "buckets");
        if (buckets && !json_is_object(buckets))
            return admin_error(c, 400, "buckets must be an object {bucket name: limit}");
        json_t *rsn = json_object_get(c->body, "dpopResourceNonce");
        if (rsn && !json_is_boolean(rsn))
            return admin_error(c, 400, "dpopResourceNonce must be true or false");
        if (rsn)
            o->dpop.rs_nonce_on = json_is_true(rsn);
        o->dpop.clock_skew_s = skew;
        o->rate_override = (int)rate;
        o->token_share = (int)share;
        o->rate_window_ms = window;
        o->concurrency_limit = (int)conc;
        o->lockout_attempts = (int)lock;
        o->activation_ms = act;
        sbok__rate_reset(o);
        const char *k;
        json_t *v;
        json_object_foreach(buckets, k, v)
        {
            for (int b = 0; b < SBOK_B_COUNT; b++)
                if (strcmp(k, sbok__bucket_name(b)) == 0 && json_is_integer(v) && json_integer_value(v) >= 0)
                    o->buckets[b].limit = (int)json_integer_value(v);
        }
    }
    json_t *buckets = json_object();
    for (int b = 0; b < SBOK_B_COUNT; b++)
        json_object_set_new(buckets, sbok__bucket_name(b), json_integer(o->buckets[b].limit));
    sbok__json(c, 200, json_pack("{s:i, s:o, s:i, s:I, s:i, s:i, s:I, s:b, s:I}", "rateLimit", o->rate_override,
                                 "buckets", buckets, "tokenShare", o->token_share, "rateWindowMs",
                                 (json_int_t)o->rate_window_ms, "concurrencyLimit", o->concurrency_limit,
                                 "lockoutAttempts", o->lockout_attempts, "activationDelayMs",
                                 (json_int_t)o->activation_ms, "dpopResourceNonce", o->dpop.rs_nonce_on,
                                 "dpopClockSkewS", (json_int_t)o->dpop.clock_skew_s));
}

/* POST /apps/{client_id}/dpop {"required": bool}: the app's "Require
 * Demonstrating Proof of Possession (DPoP) header in token requests". */
static void app_dpop(struct sbok_ctx *c, const char *client_id)
{
    json_t *app = sbok__oauth_client(c->o, client_id);
    json_t *req = json_object_get(c->body, "required");
    if (!app)
        return admin_error(c, 404, "no service app with this client_id");
    if (!json_is_boolean(req))
        return admin_error(c, 400, "required must be true or false");
    json_t *settings = json_object_get(app, "settings");
    if (!json_is_object(settings)) {
        settings = json_object();
        json_object_set_new(app, "settings", settings);
    }
    json_t *oc = json_object_get(settings, "oauthClient");
    if (!json_is_object(oc)) {
        oc = json_object();
        json_object_set_new(settings, "oauthClient", oc);
    }
    json_object_set_new(oc, "dpop_bound_access_tokens", json_boolean(json_is_true(req)));
    sbok__json(c, 200, json_pack("{s:s, s:b}", "client_id", client_id, "required", json_is_true(req)));
}

bool sbok__admin_route(struct sbok_ctx *c, const char *rest)
{
    (void)rest;
    bool post = strcmp(c->req->method, "POST") == 0;
    if (c->nseg == 1 && strcmp(c->seg[0], "config") == 0 && (post || strcmp(c->req->method, "GET") == 0)) {
        if (post && !sbok__body(c, true))
            return true;
        config(c);
        return true;
    }
    if (c->nseg == 1 && strcmp(c->seg[0], "dpop") == 0 && strcmp(c->req->method, "GET") == 0) {
        sbok__json(c, 200, sbok__dpop_stats(c->o));
        return true;
    }
    if (!post)
        return false;
    if (!sbok__body(c, true))
        return true;
    if (c->nseg == 2 && strcmp(c->seg[0], "dpop") == 0 && strcmp(c->seg[1], "nonce") == 0) {
        sbok__dpop_rotate(c->o);
        sbok__json(c, 200, json_pack("{s:b}", "rotated", 1));
        return true;
    }
    if (c->nseg == 3 && strcmp(c->seg[0], "apps") == 0 && strcmp(c->seg[2], "dpop") == 0) {
        app_dpop(c, c->seg[1]);
        return true;
    }
    if (c->nseg == 1 && strcmp(c->seg[0], "events") == 0) {
        as_person(c, json_pack("{s:s, s:s, s:s, s:s}", "id", "0oa1sandboxsystem000", "type", "SystemPrincipal",
                               "alternateId", "system@okta.com", "displayName", "Okta System"));
        inject_event(c);
        return true;
    }
    if (c->nseg != 3 || strcmp(c->seg[0], "users") != 0)
        return false;
    json_t *u = sbok__user_find(c->o, c->seg[1]);
    if (!u) {
        admin_error(c, 404, "no such user");
        return true;
    }
    const char *op = c->seg[2];
    if (strcmp(op, "profile") == 0) {
        console_profile(c, u);
        return true;
    }
    as_person(c, user_actor(u));
    if (strcmp(op, "fail_signin") == 0)
        fail_signin(c, u);
    else if (strcmp(op, "signin") == 0)
        signin(c, u);
    else if (strcmp(op, "set_password") == 0)
        set_password(c, u);
    else if (strcmp(op, "auto_unlock") == 0)
        auto_unlock(c, u);
    else
        return false;
    return true;
}

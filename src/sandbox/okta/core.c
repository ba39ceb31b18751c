/* okta/core.c — the Okta half's entry points: init/free/dump, and one
 * request's way through authentication, rate limits and routing.
 *
 * A request under /api/v1/ goes: request id → concurrency and bucket budget
 * (X-Rate-Limit-* on every answer) → 411 for a body-less POST/PUT without
 * Content-Length → credentials (SSWS token, an OAuth access token as
 * Bearer, or a DPoP-bound one as DPoP with a valid proof; 401 E0000011
 * otherwise, with a WWW-Authenticate naming the defect) → route → the
 * scope the route needs (403 E0000006) → handler → the events the request
 * caused go to the event hooks as one batch. /oauth2/v1/token skips
 * credentials (it is how a service app gets them).
 *
 * Called on HTTP server threads with sb->lock held. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "sandbox/okta/internal.h"

typedef void (*route_fn)(struct sbok_ctx *c);

struct route {
    const char *method;
    const char *pattern; /* segments after /api/v1/, '*' = any one segment */
    route_fn fn;
    const char *scope;   /* "okta.users": + ".read" for GET, ".manage" otherwise */
};

static void users_replace(struct sbok_ctx *c) { sbok__users_update(c, true); }
static void users_update(struct sbok_ctx *c) { sbok__users_update(c, false); }

static const struct route routes[] = {
    {"GET", "users", sbok__users_list, "okta.users"},
    {"POST", "users", sbok__users_create, "okta.users"},
    {"GET", "users/*", sbok__users_get, "okta.users"},
    {"POST", "users/*", users_update, "okta.users"},
    {"PUT", "users/*", users_replace, "okta.users"},
    {"DELETE", "users/*", sbok__users_delete, "okta.users"},
    {"POST", "users/*/lifecycle/*", sbok__lifecycle, "okta.users"},
    {"DELETE", "users/*/sessions", sbok__sessions_clear, "okta.users"},
    {"GET", "users/*/groups", sbok__users_groups, "okta.users"},
    {"GET", "users/*/appLinks", sbok__users_app_links, "okta.users"},
    {"GET", "groups", sbok__groups_list, "okta.groups"},
    {"GET", "groups/*", sbok__groups_get, "okta.groups"},
    {"GET", "groups/*/users", sbok__groups_members, "okta.groups"},
    {"PUT", "groups/*/users/*", sbok__groups_add_member, "okta.groups"},
    {"DELETE", "groups/*/users/*", sbok__groups_remove_member, "okta.groups"},
    {"GET", "apps", sbok__apps_list, "okta.apps"},
    {"GET", "apps/*", sbok__apps_get, "okta.apps"},
    {"GET", "apps/*/users", sbok__apps_users, "okta.apps"},
    {"POST", "apps/*/users", sbok__apps_assign, "okta.apps"},
    {"GET", "apps/*/users/*", sbok__apps_get_user, "okta.apps"},
    {"DELETE", "apps/*/users/*", sbok__apps_unassign, "okta.apps"},
    {"GET", "logs", sbok__logs_list, "okta.logs"},
    {"GET", "eventHooks", sbok__hooks_list, "okta.eventHooks"},
    {"POST", "eventHooks", sbok__hooks_create, "okta.eventHooks"},
    {"GET", "eventHooks/*", sbok__hooks_get, "okta.eventHooks"},
    {"PUT", "eventHooks/*", sbok__hooks_replace, "okta.eventHooks"},
    {"DELETE", "eventHooks/*", sbok__hooks_delete, "okta.eventHooks"},
    {"POST", "eventHooks/*/lifecycle/*", sbok__hooks_lifecycle, "okta.eventHooks"},
};

/* ------------------------------------------------------------ context */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Splits the raw path after the prefix into decoded segments. A segment
 * that is too long, or too many of them, leaves nseg = -1 (no route). */
static void split_path(struct sbok_ctx *c, const char *rest)
{
    c->nseg = 0;
    while (*rest == '/')
        rest++;
    while (*rest) {
        size_t len = strcspn(rest, "/");
        char *s = c->nseg < SBOK_MAX_PATH_SEGS && len < SBOK_MAX_SEG_LEN ? malloc(len + 1) : NULL, *w = s;
        if (!s) { /* too many or too long segments: no route matches */
            for (int i = 0; i < c->nseg; i++)
                free(c->seg[i]);
            c->nseg = -1;
            return;
        }
        for (size_t i = 0; i < len; i++) {
            int h, l;
            if (rest[i] == '%' && i + 2 < len && (h = hexval(rest[i + 1])) >= 0 &&
                (l = hexval(rest[i + 2])) >= 0) {
                *w++ = (char)(h * 16 + l);
                i += 2;
            } else {
                *w++ = rest[i];
            }
        }
        *w = '\0';
        c->seg[c->nseg++] = s;
        rest += len;
        while (*rest == '/')
            rest++;
    }
}

void sbok__ctx_init(struct sbok_ctx *c, struct sandbox *sb, const struct http_req *req, struct http_resp *resp,
                    const char *path_after)
{
    memset(c, 0, sizeof *c);
    c->sb = sb;
    c->o = sb->okta;
    c->req = req;
    c->resp = resp;
    memcpy(c->request_id, "req", 3);
    sbok__rand_alnum(c->request_id + 3, 22);
    const char *host = req ? http_req_header(req, "Host") : NULL;
    if (host && strlen(host) < 200 && !strpbrk(host, " <>\"\r\n"))
        snprintf(c->base, sizeof c->base, "http://%s", host);
    else
        snprintf(c->base, sizeof c->base, "http://%s:%d", sb->opts.addr ? sb->opts.addr : "127.0.0.1",
                 sandbox_port(sb));
    c->ua = req ? http_req_header(req, "User-Agent") : NULL;
    c->ip = req ? req->remote : NULL;
    if (path_after)
        split_path(c, path_after);
}

void sbok__ctx_free(struct sbok_ctx *c)
{
    for (int i = 0; i < c->nseg; i++)
        free(c->seg[i]);
    json_decref(c->actor);
    json_decref(c->body);
    json_decref(c->events);
    memset(c, 0, sizeof *c);
}

void sbok__ctx_flush_events(struct sbok_ctx *c)
{
    if (c->events && json_array_size(c->events) > 0)
        sbok__hooks_deliver(c, c->events);
    json_decref(c->events);
    c->events = NULL;
}

/* ------------------------------------------------------ credentials */

/* The LogActor of the admin who owns the API token. */
static json_t *token_actor(struct sbok_org *o)
{
    const char *uid = json_string_value(json_object_get(o->org, "apiTokenUserId"));
    json_t *u = sbok__find_id(o->users, uid);
    if (!u)
        return json_pack("{s:s, s:s, s:s, s:s}", "id", uid ? uid : "00u0000000000000api0", "type", "User",
                         "alternateId", "api-token-owner", "displayName", "API Token Owner");
    char name[256];
    sbok__user_display(u, name, sizeof name);
    return json_pack("{s:s, s:s, s:s, s:s}", "id", json_string_value(json_object_get(u, "id")), "type", "User",
                     "alternateId", json_string_value(json_object_get(json_object_get(u, "profile"), "login")),
                     "displayName", name);
}

/* Constant-time comparison of two NUL-terminated strings. */
static bool secret_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

/* The access token of an "Authorization: Bearer <t>" or "DPoP <t>" header
 * (borrowed from auth), NULL for another scheme; *dpop says which. */
static const char *access_token_of(const char *auth, bool *dpop)
{
    *dpop = false;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
        return auth + 7;
    if (auth && strncasecmp(auth, "DPoP ", 5) == 0) {
        *dpop = true;
        return auth + 5;
    }
    return NULL;
}

/* Names the credential the request presents, for its share of the rate
 * limits: "ssws:<token id>" for the API token, "oauth:<client id>" for a
 * live access token (Bearer or DPoP scheme, the proof not yet checked);
 * "" when neither is valid (counted org-wide only). */
static void identify(struct sbok_ctx *c)
{
    const char *auth = http_req_header(c->req, "Authorization");
    const char *tok = c->sb->opts.token ? c->sb->opts.token : "sandbox-okta-token";
    size_t i;
    json_t *t;

    c->principal[0] = '\0';
    if (auth && strncasecmp(auth, "SSWS ", 5) == 0 && secret_eq(auth + 5, tok)) {
        snprintf(c->principal, sizeof c->principal, "ssws:%s",
                 json_string_value(json_object_get(c->o->org, "apiTokenId")) ?: "00Tsandbox000000000");
        return;
    }
    bool dpop;
    const char *at = access_token_of(auth, &dpop);
    if (!at)
        return;
    json_array_foreach(c->o->tokens, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "token")) ?: "", at) != 0)
            continue;
        if (json_integer_value(json_object_get(t, "expMs")) > time_now_ms())
            snprintf(c->principal, sizeof c->principal, "oauth:%s",
                     json_string_value(json_object_get(t, "clientId")) ?: "");
        return;
    }
}

/* Answers 401 E0000011 with `WWW-Authenticate: <scheme> error="<error>",
 * error_description="<desc>"` (desc: a static sentence without quotes). */
static void refuse_token(struct sbok_ctx *c, const char *scheme, const char *error, const char *desc)
{
    char h[512];
    snprintf(h, sizeof h, "%s error=\"%s\", error_description=\"%s\"", scheme, error, desc);
    sbok__header(c, "WWW-Authenticate", h);
    sbok__error(c, 401, "E0000011", "Invalid token provided", NULL);
}

/* An access token sent with the DPoP scheme: the token must be DPoP-bound
 * and the request's proof valid for it (ath, its key), with the resource
 * nonce when that is switched on. False after answering 401. */
static bool authenticate_dpop(struct sbok_ctx *c, const json_t *rec, const char *token)
{
    struct sbok_dpop *d = &c->o->dpop;
    char jkt[JWK_THUMBPRINT_SIZE];
    const char *why = NULL;
    if (!json_is_true(json_object_get(rec, "dpop"))) {
        sbok__dpop_count(c->o, "unbound_token");
        refuse_token(c, "DPoP", "invalid_token",
                     "The access token is not bound to a DPoP key: send it with the Bearer scheme.");
        return false;
    }
    struct sbok_dpop_want want = {.access_token = token,
                                  .jkt = json_string_value(json_object_get(rec, "jkt")) ?: "-",
                                  .nonce = d->rs_nonce_on ? d->rs_nonce : NULL};
    enum sbok_dpop_verdict v = sbok__dpop_check(c, &want, jkt, &why);
    if (v == SBOK_DPOP_USE_NONCE) {
        sbok__header(c, "DPoP-Nonce", d->rs_nonce);
        refuse_token(c, "DPoP", "use_dpop_nonce", "Resource server requires nonce in DPoP proof");
        return false;
    }
    if (v != SBOK_DPOP_OK) {
        refuse_token(c, "DPoP", "invalid_dpop_proof", why);
        return false;
    }
    return true;
}

/* Fills the caller's identity; false after answering 401. */
static bool authenticate(struct sbok_ctx *c)
{
    const char *auth = http_req_header(c->req, "Authorization");
    const char *tok = c->sb->opts.token ? c->sb->opts.token : "sandbox-okta-token";
    bool dpop;
    if (auth && strncasecmp(auth, "SSWS ", 5) == 0 && secret_eq(auth + 5, tok)) {
        c->actor = token_actor(c->o);
        snprintf(c->token_id, sizeof c->token_id, "%s",
                 json_string_value(json_object_get(c->o->org, "apiTokenId")) ?: "00Tsandbox000000000");
        return true;
    }
    const char *at = access_token_of(auth, &dpop);
    if (!at) {
        sbok__error(c, 401, "E0000011", "Invalid token provided", NULL);
        return false;
    }
    const json_t *rec = sbok__oauth_lookup(c, at);
    if (!rec) {
        refuse_token(c, dpop ? "DPoP" : "Bearer", "invalid_token", "The token is not valid.");
        return false;
    }
    if (dpop && !authenticate_dpop(c, rec, at))
        return false;
    if (!dpop && json_is_true(json_object_get(rec, "dpop"))) {
        sbok__dpop_count(c->o, "bearer_scheme");
        refuse_token(c, "DPoP", "invalid_token",
                     "The access token is bound to a DPoP key: send it with the DPoP scheme and a proof.");
        return false;
    }
    c->scopes = json_object_get(rec, "scopes");
    c->dpop = dpop;
    return true;
}

/* ------------------------------------------------------------ routes */

static bool pattern_match(const char *pattern, char *const *seg, int nseg)
{
    int i = 0;
    const char *p = pattern;
    while (*p) {
        size_t len = strcspn(p, "/");
        if (i >= nseg)
            return false;
        if (!(len == 1 && *p == '*') && (strlen(seg[i]) != len || strncmp(seg[i], p, len) != 0))
            return false;
        i++;
        p += len;
        if (*p == '/')
            p++;
    }
    return i == nseg;
}

static void dispatch(struct sbok_ctx *c)
{
    const struct route *hit = NULL;
    bool other_method = false;
    for (size_t i = 0; c->nseg >= 0 && i < sizeof routes / sizeof routes[0]; i++) {
        if (!pattern_match(routes[i].pattern, c->seg, c->nseg))
            continue;
        if (strcmp(routes[i].method, c->req->method) == 0) {
            hit = &routes[i];
            break;
        }
        other_method = true;
    }
    if (!hit) {
        if (other_method)
            sbok__error(c, 405, "E0000022", "The endpoint does not support the provided HTTP method", NULL);
        else
            sbok__not_found(c, c->req->path, "Page");
        return;
    }
    if (c->scopes) {
        char need[64];
        snprintf(need, sizeof need, "%s.%s", hit->scope, strcmp(c->req->method, "GET") == 0 ? "read" : "manage");
        if (!sbok__scope_allows(c->scopes, need)) {
            char h[160];
            snprintf(h, sizeof h, "%s error=\"insufficient_scope\", scope=\"%s\"", c->dpop ? "DPoP" : "Bearer",
                     need);
            sbok__header(c, "WWW-Authenticate", h);
            sbok__error(c, 403, "E0000006", "You do not have permission to perform the requested action", NULL);
            return;
        }
    }
    hit->fn(c);
}

bool sbok__handle(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    const char *path = req->raw_path;
    bool api = strcmp(path, "/api/v1") == 0 || strncmp(path, "/api/v1/", 8) == 0;
    bool oauth = strcmp(path, "/oauth2/v1/token") == 0;
    if (!api && !oauth && strncmp(path, "/oauth2/", 8) != 0)
        return false;
    struct sbok_ctx c;
    sbok__ctx_init(&c, sb, req, resp, api ? path + 7 : NULL);
    sbok__users_tick(c.o);
    sbok__header(&c, "X-Okta-Request-Id", c.request_id);
    if (api)
        identify(&c);
    if (!sbok__rate_check(&c, sbok__bucket_for(req->method, c.seg, c.nseg > 0 ? c.nseg : 0, !api)))
        goto out;
    if ((strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) && !req->has_content_length) {
        http_resp_text(resp, 411, "text/html", "<html><body><h1>411 Length Required</h1></body></html>\n");
        goto out;
    }
    if (!api) {
        if (oauth && strcmp(req->method, "POST") == 0)
            sbok__oauth_token(&c);
        else
            sbok__not_found(&c, req->path, "Page");
        goto out;
    }
    if (!authenticate(&c))
        goto out;
    dispatch(&c);
    sbok__ctx_flush_events(&c);
out:
    sbok__ctx_free(&c);
    return true;
}

bool sbok__admin(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    const char *pfx = "/_sandbox/okta";
    size_t n = strlen(pfx);
    if (strncmp(req->raw_path, pfx, n) != 0 || (req->raw_path[n] && req->raw_path[n] != '/'))
        return false;
    struct sbok_ctx c;
    sbok__ctx_init(&c, sb, req, resp, req->raw_path + n);
    sbok__users_tick(c.o);
    sbok__header(&c, "X-Okta-Request-Id", c.request_id);
    if (!sbok__admin_route(&c, req->raw_path + n))
        sbok__not_found(&c, req->path, "Page");
    sbok__ctx_flush_events(&c);
    sbok__ctx_free(&c);
    return true;
}

/* ----------------------------------------------------- init and dump */

int sbok__init(struct sandbox *sb, const json_t *seed, struct sbok_org **out, struct idf_err *err)
{
    *out = NULL;
    struct sbok_org *o = calloc(1, sizeof *o);
    if (!o)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    o->users = json_array();
    o->groups = json_array();
    o->apps = json_array();
    o->logs = json_array();
    o->hooks = json_array();
    o->tokens = json_array();
    o->jtis = json_array();
    o->org = json_object();
    if (sbok__dpop_init(o) != 0) {
        sbok__free(o);
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    }
    o->rate_override = sb->opts.rate_limit;
    o->token_share = sb->opts.token_share > 0 ? sb->opts.token_share : SBOK_DEFAULT_TOKEN_SHARE;
    o->rate_window_ms = sb->opts.rate_window_ms > 0 ? sb->opts.rate_window_ms : SBOK_DEFAULT_RATE_WINDOW_MS;
    o->concurrency_limit = SBOK_DEFAULT_CONCURRENCY;
    o->lockout_attempts = SBOK_DEFAULT_LOCKOUT;
    sbok__rate_reset(o);
    int rc = sbok__seed_load(sb, o, seed, err);
    if (rc != 0) {
        sbok__free(o);
        return rc;
    }
    *out = o;
    return 0;
}

void sbok__free(struct sbok_org *o)
{
    if (!o)
        return;
    json_decref(o->org);
    json_decref(o->users);
    json_decref(o->groups);
    json_decref(o->apps);
    json_decref(o->logs);
    json_decref(o->hooks);
    json_decref(o->tokens);
    json_decref(o->jtis);
    sbok__dpop_free(o);
    free(o);
}

json_t *sbok__dump(struct sandbox *sb)
{
    struct sbok_org *o = sb->okta;
    if (!o)
        return json_null();
    json_t *hooks = json_deep_copy(o->hooks);
    size_t i;
    json_t *h;
    json_array_foreach(hooks, i, h)
    {
        json_t *s = json_object_get(h, "_sbx");
        if (json_object_get(s, "authValue"))
            json_object_set_new(s, "authValue", json_string("[redacted]"));
    }
    json_t *tokens = json_array();
    json_array_foreach(o->tokens, i, h)
    {
        json_t *t = json_pack("{s:O, s:O, s:O, s:b}", "clientId", json_object_get(h, "clientId"), "scopes",
                              json_object_get(h, "scopes"), "expMs", json_object_get(h, "expMs"), "dpop",
                              json_is_true(json_object_get(h, "dpop")));
        if (json_object_get(h, "jkt")) /* the key's thumbprint: public, never the token */
            json_object_set(t, "jkt", json_object_get(h, "jkt"));
        json_array_append_new(tokens, t);
    }
    json_t *buckets = json_object();
    for (int b = 0; b < SBOK_B_COUNT; b++)
        json_object_set_new(buckets, sbok__bucket_name(b),
                            json_pack("{s:i, s:i, s:I}", "limit", o->buckets[b].limit, "used", o->buckets[b].used,
                                      "resetMs", (json_int_t)o->buckets[b].reset_ms));
    return json_pack("{s:O, s:O, s:O, s:O, s:i, s:o, s:o, s:o, s:{s:i, s:i, s:I}}", "org", o->org, "users",
                     o->users, "groups", o->groups, "apps", o->apps, "logEvents", (int)json_array_size(o->logs),
                     "eventHooks", hooks, "tokens", tokens, "rateLimits", buckets, "settings",
                     "concurrencyLimit", o->concurrency_limit, "lockoutAttempts", o->lockout_attempts,
                     "activationDelayMs", (json_int_t)o->activation_ms);
}

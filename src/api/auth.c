/* auth.c — who is calling the REST API, and whether their role allows the
 * request (crypto/token.h for the roles).
 *
 * Every /api/ route and /metrics is one row of `routes` below: a method, a
 * path pattern whose "*" stands for exactly one non-empty segment, and the
 * role it needs. A request no row matches is answered 405 (the path exists
 * with another method) or 404, after the caller proved a token like any
 * other; there is no rule by prefix or suffix, so a name that collides with
 * a route word (a connection called "test", a workflow called "runs") can
 * never change the role a request needs.
 *
 * A request either carries "Authorization: Bearer idf_..." — the token is
 * hashed and looked up (unknown, revoked or expired: 401), and its role must
 * reach the route's (403 naming both) — or it carries nothing. Without a
 * token a request is let in as admin ("local") only while the store was
 * never initialized (store_initialized: the first token, or `idflow init`,
 * sets a permanent mark) and only when it comes from this machine: a
 * loopback peer address, a loopback Host, and no proxy forwarding headers
 * (a reverse proxy on loopback must not lend the internet its address).
 * Once the mark is seen, `api.closed` caches it: the API never opens again,
 * whatever happens to the tokens. Hooks (/hooks/) are not here: each checks
 * its own secret.
 *
 * The token never reaches a log line, an error message or the audit log:
 * callers are named "token:<name>". HTTP server threads; the only state is
 * api.closed (set once, never cleared). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/token.h"
#include "store/store.h"

static const struct api__route routes[] = {
    {"GET", "/metrics", TOKEN_VIEWER},
    {"GET", "/api/v1/me", TOKEN_VIEWER},
    {"POST", "/api/v1/events", TOKEN_OPERATOR},
    {"GET", "/api/v1/runs", TOKEN_VIEWER},
    {"GET", "/api/v1/runs/*", TOKEN_VIEWER},
    {"GET", "/api/v1/history", TOKEN_VIEWER}, /* issue 17: a subject's timeline */
    {"POST", "/api/v1/runs/*/rerun", TOKEN_OPERATOR},
    {"POST", "/api/v1/runs/*/cancel", TOKEN_OPERATOR},
    {"POST", "/api/v1/runs/*/approve", TOKEN_APPROVER},
    {"POST", "/api/v1/runs/*/reject", TOKEN_APPROVER},
    {"POST", "/api/v1/runs/*/release", TOKEN_ADMIN}, /* issue 19: a guardrail hold */
    {"GET", "/api/v1/approvals", TOKEN_VIEWER},
    {"GET", "/api/v1/workflows", TOKEN_VIEWER},
    {"GET", "/api/v1/workflows/*", TOKEN_VIEWER},
    {"GET", "/api/v1/connectors", TOKEN_VIEWER},
    {"GET", "/api/v1/connections", TOKEN_VIEWER},
    {"GET", "/api/v1/connections/*", TOKEN_VIEWER},
    {"PUT", "/api/v1/connections/*", TOKEN_ADMIN},
    {"DELETE", "/api/v1/connections/*", TOKEN_ADMIN},
    {"POST", "/api/v1/connections/*/test", TOKEN_OPERATOR},
    {"GET", "/api/v1/tokens", TOKEN_ADMIN},
    {"POST", "/api/v1/tokens", TOKEN_ADMIN},
    {"DELETE", "/api/v1/tokens/*", TOKEN_ADMIN},
    {"GET", "/api/v1/audit", TOKEN_ADMIN},
    {NULL, NULL, 0},
};

const struct api__route *api__routes(void)
{
    return routes;
}

/* Whether path matches pattern segment by segment ("*": one non-empty
 * segment without '/'). */
static bool path_matches(const char *pattern, const char *path)
{
    while (*pattern && *path) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0)
                return false;
            path += n;
            pattern++;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

int api__route_find(const char *method, const char *path, enum token_role *role_out)
{
    bool other_method = false;

    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    for (const struct api__route *r = routes; r->method; r++) {
        if (!path_matches(r->pattern, path))
            continue;
        if (strcmp(r->method, method) == 0) {
            *role_out = r->role;
            return 0;
        }
        other_method = true;
    }
    return other_method ? 405 : 404;
}

static void deny(struct http_resp *resp, int status, const char *msg)
{
    if (status == 401 && http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"idflow\"") != 0)
        log_warn("api: could not add WWW-Authenticate");
    api__error(resp, status, msg);
}

/* Whether the request came through a proxy that says so. */
static bool forwarded(const struct http_req *req)
{
    return http_req_header(req, "Forwarded") || http_req_header(req, "X-Forwarded-For") ||
           http_req_header(req, "X-Forwarded-Host") || http_req_header(req, "X-Real-IP");
}

/* A request without a token: 0 when it may go in as "local" admin. */
static int open_door(struct api *a, struct store *st, const struct http_req *req, struct http_resp *resp)
{
    bool init = true;

    if (!atomic_load(&a->closed)) {
        if (store_initialized(st, &init) != 0) {
            deny(resp, 503, "the token store is not available; try again");
            return -1;
        }
        if (init)
            atomic_store(&a->closed, true);
    }
    if (init) {
        deny(resp, 401,
             "this needs an API token: send \"Authorization: Bearer idf_...\" (create one with: idflow token "
             "create NAME --role viewer|approver|operator|admin)");
        return -1;
    }
    if (!api__peer_is_loopback(req) || !api__host_is_loopback(http_req_header(req, "Host")) || forwarded(req)) {
        deny(resp, 401,
             "this idflow has no API token yet, so only requests made on its own machine (loopback, not through "
             "a proxy) are served without one: create a token there first (idflow token create NAME --role "
             "admin), or run idflow init");
        return -1;
    }
    return 0;
}

int api__authorize(struct api *a, struct store *st, const struct http_req *req, enum token_role need,
                   struct api__caller *out, struct http_resp *resp)
{
    const char *h = http_req_header(req, "Authorization");
    char hash[TOKEN_HASH_HEX + 1], msg[300];
    struct store_token *t = NULL;
    enum token_role have;
    int rc;

    memset(out, 0, sizeof *out);
    if (!h) {
        if (open_door(a, st, req, resp) != 0)
            return -1;
        out->role = TOKEN_ADMIN;
        out->open = true;
        snprintf(out->actor, sizeof out->actor, "local");
        return 0;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        deny(resp, 401, "the Authorization header must be \"Bearer\" followed by an idflow API token");
        return -1;
    }
    h += 7;
    while (*h == ' ')
        h++;
    if (!token_well_formed(h)) {
        deny(resp, 401, "the bearer value is not an idflow API token (idf_ followed by 43 characters)");
        return -1;
    }
    if (token_hash(h, hash, sizeof hash) != 0) {
        deny(resp, 500, "could not hash the token");
        return -1;
    }
    rc = store_token_lookup(st, hash, time_now_ms(), &t);
    if (rc == IDF_ENOTFOUND) {
        deny(resp, 401, "unknown, revoked or expired API token");
        return -1;
    }
    if (rc) {
        deny(resp, 503, "the token store is not available; try again");
        return -1;
    }
    have = token_role_parse(t->role);
    snprintf(out->actor, sizeof out->actor, "token:%s", t->name);
    out->role = have;
    if (have < need) {
        snprintf(msg, sizeof msg, "this needs the %s role; token '%s' has the %s role", token_role_name(need),
                 t->name, token_role_name(have));
        store_token_free(t);
        deny(resp, 403, msg);
        return -1;
    }
    store_token_free(t);
    return 0;
}

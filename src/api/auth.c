/* auth.c — who is calling the REST API, and whether their role allows the
 * request (crypto/token.h for the roles).
 *
 * A request either carries "Authorization: Bearer idf_..." — the token is
 * hashed and looked up (unknown, revoked or expired: 401), and its role must
 * reach the one the route needs (403 naming both) — or it carries nothing.
 * Without a token a request is let in only while the store holds no token
 * at all and the server listens on loopback (api.open_until_token): the
 * state of a fresh install, so the demo and a first local try need no
 * set-up. Creating the first token closes that door for good; a server on
 * any other address never opens it (serve refuses such an address until a
 * token exists). Hooks (/hooks/) are not here: each checks its own secret.
 *
 * The token never reaches a log line, an error message or the audit log:
 * callers are named "token:<name>". HTTP server threads; no state. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/token.h"
#include "store/store.h"

static void deny(struct http_resp *resp, int status, const char *msg)
{
    if (status == 401 && http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"idflow\"") != 0)
        log_warn("api: could not add WWW-Authenticate");
    api__error(resp, status, msg);
}

int api__authorize(struct api *a, struct store *st, const struct http_req *req, enum token_role need,
                   struct api__caller *out, struct http_resp *resp)
{
    const char *h = http_req_header(req, "Authorization");
    char hash[TOKEN_HASH_HEX + 1], msg[300];
    struct store_token *t = NULL;
    enum token_role have;
    int64_t n = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (!h) {
        if (a->open_until_token && store_token_count(st, time_now_ms(), &n) == 0 && n == 0) {
            out->role = TOKEN_ADMIN;
            snprintf(out->actor, sizeof out->actor, "local");
            return 0;
        }
        deny(resp, 401,
             "this needs an API token: send \"Authorization: Bearer idf_...\" (create one with: idflow token "
             "create NAME --role viewer|approver|operator|admin)");
        return -1;
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

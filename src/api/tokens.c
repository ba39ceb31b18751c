/* tokens.c — /api/v1/tokens: the admin's API over API tokens.
 *
 *   GET    /api/v1/tokens          {"tokens": [{id, name, role, prefix, ...}]}
 *   POST   /api/v1/tokens          {"name", "role", "expires_in": "90d"?}
 *                                  → 201 {"token": "idf_...", "name", "role", "expires_at"}
 *   DELETE /api/v1/tokens/NAME     → 200 {"revoked": NAME}; the last admin token
 *                                  → 409 unless ?force=true (store_token_revoke)
 *
 * The new token is in the 201 answer and nowhere else: the store keeps its
 * hash. The first token, asked for through the open door (no token yet,
 * this machine: auth.c), must be an admin's: it closes the API for good
 * (store_initialized), so any other role would lock out the very console
 * that asked for it; another role is refused (400) and nothing changes.
 * Every change is audited by the store, with the caller as actor. The route
 * is reached only after auth.c let an admin in. HTTP server threads. */
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/render.h"
#include "core/timeutil.h"
#include "store/store.h"

#define API_TOKEN_MAX_TTL_MS (3650LL * 24 * 3600 * 1000) /* ten years */
#define API_FIRST_TOKEN_MSG                                                                                            \
    "the first API token must have the admin role (\"role\": \"admin\"): once it exists, every request needs a "       \
    "token, this console's included, and only an admin token can create others"

static void create(struct store *st, const struct api__caller *who, const struct http_req *req,
                   struct http_resp *resp)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    const char *name, *role, *ttl;
    char tok[TOKEN_LEN + 1], hash[TOKEN_HASH_HEX + 1], prefix[TOKEN_PREFIX_LEN + 1], msg[400];
    int64_t expires_at = 0, ttl_ms = 0;
    struct idf_err err;
    int rc;

    if (!json_is_object(body)) {
        snprintf(msg, sizeof msg, "the body must be a JSON object {\"name\", \"role\", \"expires_in\"}%s%s",
                 body ? "" : ": ", body ? "" : jerr.text);
        api__error(resp, 400, msg);
        goto out;
    }
    name = json_string_value(json_object_get(body, "name"));
    role = json_string_value(json_object_get(body, "role"));
    ttl = json_string_value(json_object_get(body, "expires_in"));
    if (!token_name_valid(name)) {
        api__error(resp, 400, "\"name\" must be 1 to 64 of A-Z a-z 0-9 . _ -");
        goto out;
    }
    if (!token_role_parse(role)) {
        api__error(resp, 400, "\"role\" must be viewer, approver, operator or admin");
        goto out;
    }
    if (who->open && token_role_parse(role) != TOKEN_ADMIN) {
        api__error(resp, 400, API_FIRST_TOKEN_MSG);
        goto out;
    }
    if (json_object_get(body, "expires_in") &&
        (!ttl || time_parse_duration(ttl, &ttl_ms) != 0 || ttl_ms <= 0 || ttl_ms > API_TOKEN_MAX_TTL_MS)) {
        api__error(resp, 400, "\"expires_in\" must be a duration such as \"90d\" or \"12h\", at most 3650d");
        goto out;
    }
    if (ttl_ms)
        expires_at = time_now_ms() + ttl_ms;
    if (token_new(tok, sizeof tok, hash, sizeof hash, prefix, sizeof prefix) != 0) {
        api__error(resp, 500, "could not generate a token");
        goto out;
    }
    rc = store_token_create(st, name, role, hash, prefix, expires_at, who->actor, NULL, &err);
    if (rc) {
        api__error(resp, rc == IDF_EEXIST ? 409 : 500, err.msg);
        goto out;
    }
    http_resp_json(resp, 201, json_pack("{s:s,s:s,s:s,s:I}", "token", tok, "name", name, "role", role,
                                        "expires_at", (json_int_t)expires_at));
out:
    memset(tok, 0, sizeof tok);
    json_decref(body);
}

void api__tokens_route(struct api *a, struct store *st, const struct api__caller *who, const struct http_req *req,
                       struct http_resp *resp, const char *rest)
{
    struct idf_err err;
    const char *force;
    int rc;

    (void)a;
    if (*rest == '\0') {
        if (strcmp(req->method, "GET") == 0) {
            struct store_token *rows = NULL;
            size_t n = 0;
            if (store_token_list(st, &rows, &n))
                api__error(resp, 500, "could not list tokens");
            else
                http_resp_json(resp, 200, json_pack("{s:o}", "tokens", render_tokens(rows, n, time_now_ms())));
            store_token_list_free(rows, n);
        } else if (strcmp(req->method, "POST") == 0) {
            create(st, who, req, resp);
        } else {
            api__error(resp, 405, "use GET or POST");
        }
        return;
    }
    if (*rest != '/' || !token_name_valid(rest + 1)) {
        api__error(resp, 404, "no such token");
        return;
    }
    if (strcmp(req->method, "DELETE") != 0) {
        api__error(resp, 405, "use DELETE to revoke a token");
        return;
    }
    force = http_req_query(req, "force");
    rc = store_token_revoke(st, rest + 1, who->actor, force && strcmp(force, "true") == 0, &err);
    if (rc == IDF_ESTATE)
        api__error(resp, 409, err.msg);
    else if (rc)
        api__error(resp, rc == IDF_ENOTFOUND ? 404 : 500, rc == IDF_ENOTFOUND ? "no such token" : err.msg);
    else
        http_resp_json(resp, 200, json_pack("{s:s}", "revoked", rest + 1));
}

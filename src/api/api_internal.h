/* api_internal.h — shared between the files of src/api/ (private). */
#ifndef IDF_API_INTERNAL_H
#define IDF_API_INTERNAL_H

#include "api/api.h"

#define API_HOOKS_PREFIX "/hooks/"
#define API_HOOKS_MAX_BODY (1u << 20) /* a hook delivery's body: 1 MiB (Okta batches stay far below) */

/* Every error answer of the API: {"error": msg} with status. */
static inline void api__error(struct http_resp *resp, int status, const char *msg)
{
    http_resp_json(resp, status, json_pack("{s:s}", "error", msg));
}

/* hooks.c: /hooks/<connector>/<connection> — any connector whose descriptor
 * has an ingress hook (connectors/connector.h). rest is the path after
 * API_HOOKS_PREFIX. Answers only after every event of the delivery was
 * acknowledged by the engine (durable, deduplicated). */
void api__hooks_route(struct api *a, const struct http_req *req, struct http_resp *resp, const char *rest);

/* auth.c: the caller of an /api/ request, once let in. */
#include "crypto/token.h"
struct store;
struct api__caller {
    enum token_role role;
    char actor[TOKEN_NAME_MAX + 16]; /* "token:<name>" or "local" */
};

/* Lets the request in when it carries a valid token whose role reaches
 * `need` (or, see auth.c, when it may go without one): 0 and *out filled.
 * Otherwise answers 401/403/503 into resp and returns -1. */
int api__authorize(struct api *a, struct store *st, const struct http_req *req, enum token_role need,
                   struct api__caller *out, struct http_resp *resp);

/* tokens.c: /api/v1/tokens[/NAME] (admin) — list, create (the token is in
 * the answer once), revoke. rest is the path after "/api/v1/tokens". */
void api__tokens_route(struct api *a, struct store *st, const struct api__caller *who, const struct http_req *req,
                       struct http_resp *resp, const char *rest);

/* ui.c: the web UI's static assets, embedded in the binary: "/" and
 * "/ui/<file>". Needs no token (the assets hold no data); the pages call
 * the API with the token the user gives them. */
void api__ui_route(struct api *a, const struct http_req *req, struct http_resp *resp);

/* connections.c: GET /api/v1/connectors; /api/v1/connections[/NAME[/test]]
 * (rest is the path after "/api/v1/connections"). */
void api__connectors(struct http_resp *resp);
void api__connections_route(struct api *a, struct store *st, const struct api__caller *who,
                            const struct http_req *req, struct http_resp *resp, const char *rest);

#endif

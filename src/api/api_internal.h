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

/* thread.c: the calling HTTP thread's store connection and connection
 * cache, opened on first use and kept until the thread ends (one pthread key;
 * its destructor closes both). Borrowed: valid until the thread ends, used by
 * this thread only. NULL with err set when they cannot be opened. */
struct store;
struct cred_cache;
struct store *api__thread_store(struct api *a, struct idf_err *err);
struct cred_cache *api__thread_conns(struct api *a, struct idf_err *err);

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
    bool open;                       /* let in without a token: the API was never initialized (auth.c) */
};

/* One row of the route table (auth.c): every /api/ route and /metrics. */
struct api__route {
    const char *method;   /* "GET", "POST", "PUT", "DELETE" (HEAD is looked up as GET) */
    const char *pattern;  /* "/api/v1/runs/ * /approve" without the spaces: "*" is one non-empty segment */
    enum token_role role; /* the least role that may call it */
};

/* The table, terminated by a row whose method is NULL (for tests). */
const struct api__route *api__routes(void);

/* The role the route (method, path) needs: 0 and *role_out, or 405 when the
 * path is a route with other methods, 404 when it is none. */
int api__route_find(const char *method, const char *path, enum token_role *role_out);

/* Lets the request in when it carries a valid token whose role reaches
 * `need` (or, see auth.c, when it may go without one): 0 and *out filled.
 * Otherwise answers 401/403/503 into resp and returns -1. */
int api__authorize(struct api *a, struct store *st, const struct http_req *req, enum token_role need,
                   struct api__caller *out, struct http_resp *resp);

/* guard.c: where a request may come from (see its opening comment). */
/* Host names this server (loopback, the listen address, public_url, allowed_hosts). */
bool api__host_allowed(const struct api *a, const char *host);
bool api__host_is_loopback(const char *host);
/* The peer address is loopback (127/8, ::1, ::ffff:127.x). */
bool api__peer_is_loopback(const struct http_req *req);
/* 0 when the Host is allowed; otherwise answers 421 and returns -1. */
int api__guard_host(struct api *a, const struct http_req *req, struct http_resp *resp);
/* 0 for a read, or a write (any method but GET/HEAD) sent as
 * application/json whose Origin, when present, is this server; otherwise
 * answers 415 or 403 and returns -1. */
int api__guard_write(struct api *a, const struct http_req *req, struct http_resp *resp);

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

/* workflows.c (helper "inputs"): GET /api/v1/workflows (name NULL) and
 * /api/v1/workflows/NAME: the store's rows with each workflow's
 * definition (description, triggers, connections, inputs) and last run. */
void api__workflows_route(struct api *a, struct store *st, struct http_resp *resp, const char *name);

/* workflows.c (helper "inputs"): the data to start a manual run of workflow
 * with (data borrowed, may be NULL): checked against the workflow's
 * declared inputs, defaults filled in (flow_inputs_apply); as it is when the
 * workflow declares none, is unknown or is not started by a caller (the
 * engine then says so). 0 with *data_out a new reference (or NULL for
 * NULL), or -1 after answering 400 naming the input. */
int api__start_data(struct api *a, const char *workflow, const json_t *data, json_t **data_out,
                    struct http_resp *resp);

#endif

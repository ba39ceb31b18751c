/* api.h — the HTTP surface of `idflow serve`: health, metrics, the REST API
 * under /api/v1/ (docs/api.md). One handler, called on the HTTP server's
 * threads; each thread opens its own store connection on first use. */
#ifndef IDF_API_API_H
#define IDF_API_API_H

#include "net/http.h"

struct engine;
struct seal_key;

struct api {
    struct engine *engine;      /* borrowed */
    const char *db_url;         /* borrowed */
    const struct seal_key *key; /* borrowed; unseals connections for /hooks/ (NULL: hooks answer 503) */
    bool open_until_token;      /* loopback only: requests without a token are let in while the store
                                   holds no API token at all (api/auth.c) */
};

/* The http_handler_fn for the server; ud is a struct api *. */
void api_handle(void *ud, const struct http_req *req, struct http_resp *resp);

/* Frees the calling thread's store connection, if any. */
void api_thread_cleanup(void);

#endif

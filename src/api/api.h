/* api.h — the HTTP surface of `idflow serve`: health, metrics, the REST API
 * under /api/v1/ (docs/api.md). One handler, called on the HTTP server's
 * threads; each thread opens its own store connection on first use and
 * closes it when the thread ends (api/thread.c). */
#ifndef IDF_API_API_H
#define IDF_API_API_H

#include <stdatomic.h>

#include "net/http.h"

struct engine;
struct seal_key;

/* Filled by the caller before the server starts; read-only afterwards but
 * for `closed`, which api/auth.c sets once (never cleared). */
struct api {
    struct engine *engine;      /* borrowed */
    const char *db_url;         /* borrowed */
    const struct seal_key *key; /* borrowed; unseals connections for /hooks/ (NULL: hooks answer 503) */
    const char *listen_addr;    /* borrowed: the address listened on; an IP literal other than a
                                   wildcard is also one of the server's names (api/guard.c) */
    const char *const *allowed_hosts; /* borrowed, NULL-terminated, may be NULL: the further names
                                   browsers and proxies reach idflow by ("host" any port, "host:port") */
    const char *public_origin;  /* borrowed, may be NULL: "https://idflow.example.com" (public_url's
                                   scheme://host[:port]); its host is allowed and it is a valid Origin */
    atomic_bool closed;         /* the store was seen initialized: the API is never open again */
};

/* The http_handler_fn for the server; ud is a struct api *. */
void api_handle(void *ud, const struct http_req *req, struct http_resp *resp);

#endif

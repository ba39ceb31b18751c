/* sandbox_internal.h — how the sandbox's parts fit together (private).
 *
 * sandbox.c owns the listener, the state lock, the call log, fault injection,
 * the /_sandbox/ admin endpoints and routing; it hands each request to the
 * Okta half (src/sandbox/okta/, prefix sbok) or the HappyFox half
 * (src/sandbox/happyfox/, prefix sbhf). The core's own names (the files
 * directly in src/sandbox/) use the prefix sbx. Each half keeps its own state
 * struct, created from its part of the seed ("okta" and "happyfox" keys of
 * the seed JSON). Handlers are called WITH sb->lock held, so they
 * may touch state freely but must not block on the network: outgoing
 * deliveries (Okta event hooks, HappyFox webhooks) are queued and sent by the
 * delivery thread (sbx__deliver_enqueue) without the lock. */
#ifndef IDF_SANDBOX_INTERNAL_H
#define IDF_SANDBOX_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "net/http.h"
#include "sandbox/sandbox.h"

struct sbok_org;     /* src/sandbox/okta/ */
struct sbhf_account; /* src/sandbox/happyfox/ */

struct sandbox {
    struct http_server *srv;
    pthread_mutex_t lock;          /* guards everything below */
    struct sandbox_opts opts;      /* strings copied */
    struct sbok_org *okta;
    struct sbhf_account *hf;
    json_t *calls;                 /* the call log: [{method, path, status, at}] (capped) */
    json_t *faults;                /* active fault rules */
    int64_t seq;                   /* for ids */
    struct sbx_delivery *delivery; /* outgoing delivery queue + thread */
};

/* One outgoing HTTP call made by the sandbox on behalf of a half: POSTed (or
 * GET for verification) by the delivery thread, outside the lock. */
struct sbx_outgoing {
    const char *method;            /* "POST" */
    const char *url;
    const char *const *headers;    /* NULL-terminated "Name: value" */
    const char *body;
    int64_t timeout_ms;            /* Okta: 3000 */
    int retries_on_5xx;            /* Okta: 1 (also on timeout); never on 4xx */
};

/* url as JSON for a view or a record, with the secret segment of a hook
 * path ("/hooks/<connector>/<connection>/<secret>") masked: a webhook URL
 * may carry its secret there. A new reference, never NULL. */
json_t *sbx__url_json(const char *url);

/* Copies o and queues it; returns immediately. */
void sbx__deliver_enqueue(struct sandbox *sb, const struct sbx_outgoing *o);

/* A fresh id with a prefix ("00u", "00g", "0oa", "who", ...): 20 chars like Okta's. */
void sbx__new_id(struct sandbox *sb, const char *prefix, char out[32]);

/* Okta half. init takes the "okta" object of the seed (borrowed). handle
 * returns true when it answered the request (paths /api/v1/..., /oauth2/...). */
int sbok__init(struct sandbox *sb, const json_t *seed, struct sbok_org **out, struct idf_err *err);
bool sbok__handle(struct sandbox *sb, const struct http_req *req, struct http_resp *resp);
json_t *sbok__dump(struct sandbox *sb);          /* state snapshot for /_sandbox/state */
bool sbok__admin(struct sandbox *sb, const struct http_req *req, struct http_resp *resp); /* /_sandbox/okta/... */
void sbok__free(struct sbok_org *o);

/* HappyFox half, same shape (paths /api/1.1/json/..., /_sandbox/happyfox/...). */
int sbhf__init(struct sandbox *sb, const json_t *seed, struct sbhf_account **out, struct idf_err *err);
bool sbhf__handle(struct sandbox *sb, const struct http_req *req, struct http_resp *resp);
json_t *sbhf__dump(struct sandbox *sb);
bool sbhf__admin(struct sandbox *sb, const struct http_req *req, struct http_resp *resp);
void sbhf__free(struct sbhf_account *h);

#endif

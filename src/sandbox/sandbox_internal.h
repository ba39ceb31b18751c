/* sandbox_internal.h — how the sandbox's parts fit together (private).
 *
 * sandbox.c owns the listener, the state lock, the call log, fault injection,
 * the /_sandbox/ admin endpoints and routing; it hands each request to the
 * Okta half (okta_*.c) or the HappyFox half (happyfox*.c). Each half keeps its
 * own state struct, created from its part of the seed ("okta" and "happyfox"
 * keys of the seed JSON). Handlers are called WITH sb->lock held, so they
 * may touch state freely but must not block on the network: outgoing
 * deliveries (Okta event hooks, HappyFox webhooks) are queued and sent by the
 * delivery thread (sbx_deliver_enqueue) without the lock. */
#ifndef IDF_SANDBOX_INTERNAL_H
#define IDF_SANDBOX_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "net/http.h"
#include "sandbox/sandbox.h"

struct sbx_okta;     /* okta_*.c */
struct sbx_happyfox; /* happyfox*.c */

struct sandbox {
    struct http_server *srv;
    pthread_mutex_t lock;          /* guards everything below */
    struct sandbox_opts opts;      /* strings copied */
    struct sbx_okta *okta;
    struct sbx_happyfox *hf;
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
int sbx__okta_init(struct sandbox *sb, const json_t *seed, struct sbx_okta **out, struct idf_err *err);
bool sbx__okta_handle(struct sandbox *sb, const struct http_req *req, struct http_resp *resp);
json_t *sbx__okta_dump(struct sandbox *sb);          /* state snapshot for /_sandbox/state */
bool sbx__okta_admin(struct sandbox *sb, const struct http_req *req, struct http_resp *resp); /* /_sandbox/okta/... */
void sbx__okta_free(struct sbx_okta *o);

/* HappyFox half, same shape (paths /api/1.1/json/..., /_sandbox/happyfox/...). */
int sbx__hf_init(struct sandbox *sb, const json_t *seed, struct sbx_happyfox **out, struct idf_err *err);
bool sbx__hf_handle(struct sandbox *sb, const struct http_req *req, struct http_resp *resp);
json_t *sbx__hf_dump(struct sandbox *sb);
bool sbx__hf_admin(struct sandbox *sb, const struct http_req *req, struct http_resp *resp);
void sbx__hf_free(struct sbx_happyfox *h);

#endif

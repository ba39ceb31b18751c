/* sandbox_core.h — the sandbox core's private pieces shared by sandbox.c,
 * sandbox_faults.c, sandbox_deliver.c and the halves that need them.
 *
 * sandbox.c allocates a `struct sbx_main` whose first member is the
 * `struct sandbox` of sandbox_internal.h, so the core can keep what the
 * halves never touch (the seed for /_sandbox/reset, the delivery log) without
 * changing that contract. */
#ifndef IDF_SANDBOX_CORE_H
#define IDF_SANDBOX_CORE_H

#include <jansson.h>
#include <stdint.h>

#include "net/http.h"
#include "sandbox/sandbox_internal.h"

#define SBX_MAX_CALLS 10000        /* entries kept in the call log (oldest dropped) */
#define SBX_MAX_DELIVERIES 2000    /* entries kept in the delivery log */
#define SBX_MAX_QUEUE 10000        /* outgoing deliveries waiting to be sent */
#define SBX_MAX_FAULT_RULES 64     /* fault rules active at once */
#define SBX_MAX_FAULT_SPEC 4096    /* --faults string length */
#define SBX_MAX_BODY (4u << 20)    /* the listener's body cap (413 above, before any handler) */
#define SBX_MAX_SEED (16u << 20)   /* seed file size */

struct sbx_main {
    struct sandbox sb;       /* must stay first: sandbox_start hands &sb out */
    json_t *seed;            /* the parsed seed, kept for /_sandbox/reset; guarded by sb.lock */
    json_t *deliveries;      /* the delivery log [{method,url,attempts:[...],ok}]; guarded by sb.lock */
    int64_t call_seq;        /* last call log sequence number; guarded by sb.lock */
    int64_t delivery_seq;    /* last delivery log sequence number; guarded by sb.lock */
};

static inline struct sbx_main *sbx__main(struct sandbox *sb)
{
    return (struct sbx_main *)sb;
}

/* ------------------------------------------------------ sandbox_faults.c */

/* Parses a --faults spec (see docs/sandbox.md) into rule objects. */
int sbx__faults_parse(const char *spec, json_t **rules_out, struct idf_err *err) IDF_MUST_USE;
/* Validates rules given as JSON (the admin endpoint) into normalized rules. */
int sbx__faults_from_json(const json_t *in, json_t **rules_out, struct idf_err *err) IDF_MUST_USE;
/* Applies the active rules to one API request (lock held). Returns true when
 * the request was answered (error, 429 burst or drop); otherwise it may set
 * resp->delay_ms for latency and the request goes on. */
bool sbx__faults_apply(struct sandbox *sb, const struct http_req *req, struct http_resp *resp);

/* ----------------------------------------------------- sandbox_deliver.c */

/* Starts / stops the delivery thread (stop drains nothing: queued items are
 * dropped). */
int sbx__deliver_start(struct sandbox *sb, struct idf_err *err) IDF_MUST_USE;
void sbx__deliver_stop(struct sandbox *sb);
/* Empties the queue (reset). Lock held. */
void sbx__deliver_clear(struct sandbox *sb);

/* Performs o synchronously on behalf of a handler that holds sb->lock:
 * RELEASES the lock during the network call and re-acquires it before
 * returning, so callers must look their state up again afterwards. Retries
 * once on a 5xx, a timeout or a network error when o->retries_on_5xx, never
 * on a 4xx. Returns 0 with *resp filled (any status; caller frees with
 * http_response_free), or IDF_EIO / IDF_ETIMEOUT with err set. */
int sbx__fetch_unlocked(struct sandbox *sb, const struct sbx_outgoing *o, struct http_response *resp,
                        struct idf_err *err) IDF_MUST_USE;

#endif

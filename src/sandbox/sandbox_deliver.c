/* sandbox_deliver.c — outgoing calls the sandbox makes on behalf of its
 * halves: the queue and thread behind sbx__deliver_enqueue (Okta event hook
 * deliveries, HappyFox webhooks), and the synchronous, lock-releasing
 * sbx__fetch_unlocked (event hook verification).
 *
 * Threads: one delivery thread owns its own http_client. The queue lives
 * behind sb->lock (the halves enqueue while holding it); the thread sleeps on
 * `cond` with that lock and sends with the lock released. Every delivery is
 * recorded in the delivery log (/_sandbox/deliveries) with each attempt's
 * status or error, never its headers (they carry secrets). Retry rule (Okta):
 * one more attempt after a 5xx, a timeout or a network error; none after a
 * 4xx. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "sandbox/sandbox_core.h"

#define DELIVERY_MAX_HEADERS 32

struct item {
    struct item *next;
    char *method, *url, *body;
    char *headers[DELIVERY_MAX_HEADERS + 1]; /* NULL-terminated */
    int64_t timeout_ms;
    int retries;
};

struct sbx_delivery {
    pthread_t thread;
    pthread_cond_t cond;   /* signalled on enqueue and stop; waits with sb->lock */
    struct item *head, *tail; /* guarded by sb->lock */
    size_t n;              /* guarded by sb->lock */
    bool stop;             /* guarded by sb->lock */
    bool started;
};

json_t *sbx__url_json(const char *url)
{
    char *c = strdup(url ? url : "");
    json_t *j;

    if (!c)
        return json_string("");
    log_mask_secrets(c); /* a webhook URL may carry a secret: /hooks/<c>/<conn>/<secret> */
    j = json_string(c);
    free(c);
    return j ? j : json_string("");
}

static void item_free(struct item *it)
{
    if (!it)
        return;
    free(it->method);
    free(it->url);
    free(it->body);
    for (int i = 0; it->headers[i]; i++)
        free(it->headers[i]);
    free(it);
}

/* Appends one outgoing call to the delivery log (/_sandbox/deliveries),
 * stealing attempts; the oldest entry goes beyond SBX_MAX_DELIVERIES. The
 * URL is recorded masked (sbx__url_json). With sb->lock held. */
static void record(struct sandbox *sb, const char *method, const char *url, json_t *attempts, bool ok)
{
    struct sbx_main *m = sbx__main(sb);
    char at[32];

    time_format_iso(time_now_ms(), at, sizeof at);
    json_array_append_new(m->deliveries, json_pack("{s:I, s:s, s:o, s:s, s:o, s:b}", "seq",
                                                   (json_int_t)++m->delivery_seq, "method", method, "url",
                                                   sbx__url_json(url), "at", at, "attempts", attempts, "ok", ok));
    if (json_array_size(m->deliveries) > SBX_MAX_DELIVERIES)
        json_array_remove(m->deliveries, 0);
}

/* One request with the retry rule; fills attempts (array of {status}|{error}). */
static int send_with_retry(struct http_client *cl, const struct sbx_outgoing *o, struct http_response *resp,
                           json_t *attempts, struct idf_err *err)
{
    int tries = 1 + (o->retries_on_5xx > 0 ? 1 : 0), rc = 0;
    for (int t = 0; t < tries; t++) {
        struct http_request rq = {.method = o->method, .url = o->url, .headers = o->headers, .body = o->body,
                                  .body_len = o->body ? strlen(o->body) : 0, .timeout_ms = o->timeout_ms,
                                  .connect_timeout_ms = o->timeout_ms, .https_only = false};
        http_response_free(resp);
        memset(resp, 0, sizeof *resp);
        idf_err_clear(err);
        rc = http_client_do(cl, &rq, resp, err);
        if (rc != 0) {
            json_array_append_new(attempts, json_pack("{s:s}", "error", rc == IDF_ETIMEOUT ? "timeout" : err->msg));
            continue; /* network error or timeout: retried */
        }
        json_array_append_new(attempts, json_pack("{s:i}", "status", (int)resp->status));
        if (resp->status < 500)
            break; /* success or 4xx: no retry */
    }
    return rc;
}

int sbx__fetch_unlocked(struct sandbox *sb, const struct sbx_outgoing *o, struct http_response *resp,
                        struct idf_err *err)
{
    struct http_client *cl = NULL;
    json_t *attempts = json_array();
    int rc;
    memset(resp, 0, sizeof *resp);
    pthread_mutex_unlock(&sb->lock);
    rc = http_client_new(&cl);
    if (rc == 0)
        rc = send_with_retry(cl, o, resp, attempts, err);
    else
        idf_err_set(err, rc, "cannot create an HTTP client");
    http_client_free(cl);
    pthread_mutex_lock(&sb->lock);
    record(sb, o->method, o->url, attempts, rc == 0 && resp->status >= 200 && resp->status < 300);
    return rc;
}

static void *delivery_main(void *arg)
{
    struct sandbox *sb = arg;
    struct sbx_delivery *d = sb->delivery;
    struct http_client *cl = NULL;
    if (http_client_new(&cl) != 0)
        log_error("sandbox: the delivery thread has no HTTP client; deliveries are dropped");
    pthread_mutex_lock(&sb->lock);
    for (;;) {
        while (!d->stop && !d->head)
            pthread_cond_wait(&d->cond, &sb->lock);
        if (d->stop)
            break;
        struct item *it = d->head;
        d->head = it->next;
        if (!d->head)
            d->tail = NULL;
        d->n--;
        pthread_mutex_unlock(&sb->lock);

        struct sbx_outgoing o = {.method = it->method, .url = it->url, .headers = (const char *const *)it->headers,
                                 .body = it->body, .timeout_ms = it->timeout_ms, .retries_on_5xx = it->retries};
        struct http_response resp = {0};
        struct idf_err err = {0};
        json_t *attempts = json_array();
        int rc = cl ? send_with_retry(cl, &o, &resp, attempts, &err) : IDF_ENOMEM;
        bool ok = rc == 0 && resp.status >= 200 && resp.status < 300;
        http_response_free(&resp);

        pthread_mutex_lock(&sb->lock);
        record(sb, it->method, it->url, attempts, ok);
        item_free(it);
    }
    pthread_mutex_unlock(&sb->lock);
    http_client_free(cl);
    return NULL;
}

void sbx__deliver_enqueue(struct sandbox *sb, const struct sbx_outgoing *o)
{
    struct sbx_delivery *d = sb->delivery;
    if (!d || d->n >= SBX_MAX_QUEUE) {
        log_warn("sandbox: delivery queue full; a delivery to a hook was dropped");
        return;
    }
    struct item *it = calloc(1, sizeof *it);
    if (!it)
        return;
    it->method = strdup(o->method ? o->method : "POST");
    it->url = strdup(o->url ? o->url : "");
    it->body = o->body ? strdup(o->body) : NULL;
    for (int i = 0; o->headers && o->headers[i] && i < DELIVERY_MAX_HEADERS; i++)
        it->headers[i] = strdup(o->headers[i]);
    it->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 3000;
    it->retries = o->retries_on_5xx;
    if (!it->method || !it->url || (o->body && !it->body)) {
        item_free(it);
        return;
    }
    if (d->tail)
        d->tail->next = it;
    else
        d->head = it;
    d->tail = it;
    d->n++;
    pthread_cond_signal(&d->cond);
}

void sbx__deliver_clear(struct sandbox *sb)
{
    struct sbx_delivery *d = sb->delivery;
    while (d && d->head) {
        struct item *it = d->head;
        d->head = it->next;
        item_free(it);
    }
    if (d) {
        d->tail = NULL;
        d->n = 0;
    }
}

int sbx__deliver_start(struct sandbox *sb, struct idf_err *err)
{
    struct sbx_delivery *d = calloc(1, sizeof *d);
    if (!d)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    pthread_cond_init(&d->cond, NULL);
    sb->delivery = d;
    if (pthread_create(&d->thread, NULL, delivery_main, sb) != 0) {
        pthread_cond_destroy(&d->cond);
        free(d);
        sb->delivery = NULL;
        return idf_err_set(err, IDF_ENOMEM, "cannot start the delivery thread");
    }
    d->started = true;
    return 0;
}

void sbx__deliver_stop(struct sandbox *sb)
{
    struct sbx_delivery *d = sb->delivery;
    if (!d)
        return;
    pthread_mutex_lock(&sb->lock);
    d->stop = true;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&sb->lock);
    if (d->started)
        pthread_join(d->thread, NULL);
    pthread_mutex_lock(&sb->lock);
    sbx__deliver_clear(sb);
    pthread_mutex_unlock(&sb->lock);
    pthread_cond_destroy(&d->cond);
    free(d);
    sb->delivery = NULL;
}

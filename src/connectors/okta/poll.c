/* poll.c — one page of Okta's System Log for the poller (conn_poll_fn).
 *
 * Follows API-NOTES §h: the first poll of a connection is a polling request
 * (`since` = now, no `until`, ascending); after that the checkpoint is the
 * `next` link of the last page, requested as given (never rebuilt). A
 * polling request always has a `next` link, even on an empty page, so the
 * checkpoint always moves forward. Requests go through the connector's
 * client (client.c): the connection's credentials, its rate-limit scope and
 * Okta's 429 reset; a 429 comes back as retryable with retry_after_ms.
 *
 * Threads: the poller thread only, one connection at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/okta/events.h"
#include "connectors/okta/okta_internal.h"
#include "core/timeutil.h"
#include "net/http.h"

#define OKTAC_POLL_LIMIT 200           /* events asked per page (Okta allows up to 1000) */
#define OKTAC_POLL_MORE_MS 200         /* pause before the next page when this one was full */
#define OKTAC_POLL_INTERVAL_MAX 3600   /* seconds: the longest poll_interval accepted */

/* The connection's poll_interval (seconds) in ms, or the default. */
static int64_t interval_ms(const json_t *conn)
{
    const json_t *v = json_object_get(conn, "poll_interval");
    json_int_t s = json_is_integer(v) ? json_integer_value(v) : 0;
    if (s < 1 || s > OKTAC_POLL_INTERVAL_MAX)
        return oktac__ingress.poll_interval_ms ? oktac__ingress.poll_interval_ms : CONN_POLL_DEFAULT_MS;
    return (int64_t)s * 1000;
}

int oktac__poll(struct conn_poll *p)
{
    struct conn_call call;
    struct conn_result res;
    struct oktac o;
    struct oktac_resp r;
    char path[OKTAC_MAX_URL], ts[40], msg[300];
    const char *url;
    size_t nb;
    int rc;

    memset(&res, 0, sizeof res);
    memset(&r, 0, sizeof r);
    p->events = NULL;
    p->cursor_out = NULL;
    ctk_ingress_call(&call, p->http, p->connection, p->connection_name, "poll", p->thread_slot);
    call.coord = p->coord; /* the org's limits are every node's */
    rc = oktac__open(&o, &call, &res, "okta System Log poll");
    if (rc)
        goto out;
    nb = strlen(o.s.base);
    url = p->cursor;
    if (url && (strncmp(url, o.s.base, nb) != 0 || url[nb] != '/')) {
        /* the connection now points at another org: start afresh */
        url = NULL;
    }
    if (!url) {
        char *since;
        time_format_iso(time_now_ms(), ts, sizeof ts);
        since = http_urlencode(ts);
        if (!since) {
            rc = oktac__fail(&o, IDF_ENOMEM, true, 0, "out of memory");
            goto out;
        }
        snprintf(path, sizeof path, "/api/v1/logs?since=%s&sortOrder=ASCENDING&limit=%d", since, OKTAC_POLL_LIMIT);
        free(since);
        url = path;
    }
    rc = oktac__call(&o, "GET", url, NULL, &r, "GET /api/v1/logs");
    if (rc)
        goto out;
    rc = oktac__events_normalize(r.json, &p->events, msg, sizeof msg);
    if (rc) {
        rc = oktac__fail(&o, rc, false, 0, "okta System Log poll: %s", msg);
        goto out;
    }
    if (r.next) {
        p->cursor_out = r.next;
        r.next = NULL;
    }
    p->next_poll_ms = json_array_size(r.json) >= OKTAC_POLL_LIMIT ? OKTAC_POLL_MORE_MS : interval_ms(p->connection);
out:
    oktac__resp_free(&r);
    rc = oktac__close(&o, rc);
    if (rc)
        ctk_poll_fail(p, &res, "the System Log poll failed");
    ctk_result_release(&res); /* the failure detail is not kept */
    return rc;
}

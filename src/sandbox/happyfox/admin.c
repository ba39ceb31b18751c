/* happyfox/admin.c — the sandbox-only controls of the HappyFox half, under
 * /_sandbox/happyfox/: "limits" (budgets, window, lock-out, per-ticket
 * in-flight time, counters), "webhook" (the Smart Rule stand-in's target) and
 * "error_2xx" (answer some calls 2xx with {"error": ...}); and the state dump
 * behind /_sandbox/state.
 *
 * sandbox.c routes here with sb->lock held. Admin calls are not counted in
 * the API budgets. The webhook's header value is a secret: it is never
 * returned or dumped, only whether one is set. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "sandbox/happyfox/internal.h"

static json_t *limits_view(struct sbhf_account *h)
{
    int64_t now = time_mono_ms();
    bool locked = h->locked_until && now < h->locked_until;
    json_t *busy = json_array();
    size_t i;

    for (i = 0; i < h->n_tickets; i++) {
        if (h->tickets[i].busy_until > now)
            json_array_append_new(busy, json_integer((json_int_t)h->tickets[i].id));
    }
    return json_pack("{s:i,s:i,s:f,s:f,s:b,s:I,s:{s:i,s:i},s:b,s:I,s:I,s:I,s:o}", "get_per_minute", h->get_ring.limit,
                     "post_per_minute", h->post_ring.limit, "window_seconds", (double)h->window_ms / 1000.0,
                     "lockout_seconds", (double)h->lockout_ms / 1000.0, "lockout_extends", h->lockout_extends,
                     "ticket_busy_ms", (json_int_t)h->ticket_busy_ms, "used", "get",
                     locked ? 0 : sbhf__ring_used(&h->get_ring, now, h->window_ms), "post",
                     locked ? 0 : sbhf__ring_used(&h->post_ring, now, h->window_ms), "locked_out", locked,
                     "locked_for_ms", (json_int_t)(locked ? h->locked_until - now : 0), "refused_429",
                     (json_int_t)h->n_429, "refused_409", (json_int_t)h->n_409, "busy_tickets", busy);
}

static json_t *webhook_view(const struct sbhf_account *h)
{
    /* the URL may carry idflow's hook secret in its path: shown masked */
    return json_pack("{s:o?,s:s?,s:b,s:O?,s:I}", "url", h->wh_url ? sbx__url_json(h->wh_url) : NULL, "header_name",
                     h->wh_header_name, "header_value_set", h->wh_header != NULL, "events", h->wh_events, "queued",
                     (json_int_t)h->wh_queued);
}

static json_t *error_2xx_view(const struct sbhf_account *h)
{
    const struct sbhf_quirk *q = &h->quirk;
    return json_pack("{s:i,s:s?,s:s?,s:i,s:s?,s:b}", "count", q->remaining, "path_prefix", q->prefix, "method",
                     q->method, "status", q->status, "message", q->message, "applied", q->applied);
}

/* A number of seconds in obj[key] into *ms, at least min_ms; 0 absent, 1 set, -1 bad. */
static int read_seconds(const json_t *obj, const char *key, int64_t min_ms, int64_t *ms, struct sbhf_verr *v)
{
    const json_t *x = json_object_get(obj, key);
    double d;

    if (!x)
        return 0;
    d = json_is_number(x) ? json_number_value(x) : json_is_string(x) ? strtod(json_string_value(x), NULL) : -1;
    if (d * 1000 < (double)min_ms || d > 366.0 * 86400) {
        sbhf__verr_add(v, key, "expected seconds, at least %.1f", (double)min_ms / 1000.0);
        return -1;
    }
    *ms = (int64_t)(d * 1000);
    return 1;
}

static void limits_post(struct sbhf_account *h, const json_t *in, struct http_resp *resp)
{
    struct sbhf_verr v = {NULL};
    int64_t gl = 0, pl = 0, win = h->window_ms, lock = h->lockout_ms, busy = h->ticket_busy_ms;
    bool extends = h->lockout_extends, reset = false;

    if ((sbhf__get_id(in, "get_per_minute", &gl, &v) == 1 && gl > SBHF_LIMIT_MAX))
        sbhf__verr_add(&v, "get_per_minute", "at most %d", SBHF_LIMIT_MAX);
    if ((sbhf__get_id(in, "post_per_minute", &pl, &v) == 1 && pl > SBHF_LIMIT_MAX))
        sbhf__verr_add(&v, "post_per_minute", "at most %d", SBHF_LIMIT_MAX);
    read_seconds(in, "window_seconds", SBHF_WINDOW_MIN_MS, &win, &v);
    read_seconds(in, "lockout_seconds", SBHF_WINDOW_MIN_MS, &lock, &v);
    sbhf__get_bool(in, "lockout_extends", &extends, &v);
    if (!json_object_get(in, "lockout_extends"))
        extends = h->lockout_extends;
    sbhf__get_bool(in, "reset", &reset, &v);
    if (json_object_get(in, "ticket_busy_ms") &&
        (!sbhf__as_id(json_object_get(in, "ticket_busy_ms"), &busy) || busy < 0 || busy > SBHF_BUSY_MAX_MS))
        sbhf__verr_add(&v, "ticket_busy_ms", "expected 0 to %d milliseconds", SBHF_BUSY_MAX_MS);
    if (sbhf__verr_any(&v)) {
        sbhf__verr_respond(&v, resp);
        return;
    }
    if ((gl && sbhf__ring_init(&h->get_ring, (int)gl)) || (pl && sbhf__ring_init(&h->post_ring, (int)pl))) {
        sbhf__error(resp, 500, "out of memory");
        return;
    }
    h->window_ms = win;
    h->lockout_ms = lock;
    h->lockout_extends = extends;
    h->ticket_busy_ms = busy;
    if (reset || gl || pl) {
        size_t i;
        h->locked_until = 0;
        sbhf__ring_clear(&h->get_ring);
        sbhf__ring_clear(&h->post_ring);
        for (i = 0; reset && i < h->n_tickets; i++)
            h->tickets[i].busy_until = 0;
    }
    http_resp_json(resp, 200, limits_view(h));
}

static bool header_ok(const char *s, bool name)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || (name && (c == ':' || isspace(c))))
            return false;
    }
    return true;
}

static void webhook_clear(struct sbhf_account *h)
{
    free(h->wh_url);
    free(h->wh_header);
    free(h->wh_header_name);
    json_decref(h->wh_events);
    h->wh_url = h->wh_header = h->wh_header_name = NULL;
    h->wh_events = NULL;
}

static void webhook_post(struct sbhf_account *h, const json_t *in, struct http_resp *resp)
{
    struct sbhf_verr v = {NULL};
    const char *url = NULL, *hn = NULL, *hv = NULL;
    json_t *events = NULL, *e;
    size_t i;

    sbhf__get_str(in, "url", SBHF_URL_MAX, &url, &v);
    sbhf__get_str(in, "header_name", SBHF_HEADER_MAX, &hn, &v);
    sbhf__get_str(in, "header_value", SBHF_HEADER_MAX, &hv, &v);
    if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        sbhf__verr_add(&v, "url", "expected an http:// or https:// URL");
    if (url && (!header_ok(url, false) || strchr(url, ' ')))
        sbhf__verr_add(&v, "url", "must not hold spaces or control characters");
    if ((hn && !header_ok(hn, true)) || (hv && !header_ok(hv, false)) || (!hn != !hv))
        sbhf__verr_add(&v, "header_name",
                       "give header_name and header_value together, without control "
                       "characters");
    if (sbhf__get_list(in, "events", &events, &v) == 1) {
        json_array_foreach (events, i, e) {
            const char *s = json_string_value(e);
            if (strcmp(s, "ticket_created") != 0 && strcmp(s, "ticket_updated") != 0 &&
                strcmp(s, "ticket_status_changed") != 0)
                sbhf__verr_add(&v, "events", "unknown event \"%s\"", s);
        }
    }
    if (sbhf__verr_any(&v)) {
        json_decref(events);
        sbhf__verr_respond(&v, resp);
        return;
    }
    webhook_clear(h);
    if (url) {
        h->wh_url = strdup(url);
        h->wh_events = events;
        events = NULL;
        if (hn) {
            h->wh_header_name = strdup(hn);
            if (asprintf(&h->wh_header, "%s: %s", hn, hv) < 0)
                h->wh_header = NULL;
        }
    }
    json_decref(events);
    http_resp_json(resp, 200, webhook_view(h));
}

static void error_2xx_post(struct sbhf_account *h, const json_t *in, struct http_resp *resp)
{
    struct sbhf_verr v = {NULL};
    struct sbhf_quirk *q = &h->quirk;
    const char *prefix = NULL, *method = NULL, *msg = NULL;
    int64_t count = 0, status = 200;
    bool applied = false;

    if (sbhf__get_id(in, "count", &count, &v) == 1 && count > 1000000)
        sbhf__verr_add(&v, "count", "at most 1000000");
    if (sbhf__get_id(in, "status", &status, &v) == 0)
        status = 200;
    if (status < 200 || status > 299)
        sbhf__verr_add(&v, "status", "expected a 2xx status");
    sbhf__get_str(in, "path_prefix", 256, &prefix, &v);
    sbhf__get_str(in, "method", 16, &method, &v);
    sbhf__get_str(in, "message", 400, &msg, &v);
    sbhf__get_bool(in, "applied", &applied, &v);
    if (sbhf__verr_any(&v)) {
        sbhf__verr_respond(&v, resp);
        return;
    }
    free(q->prefix);
    free(q->method);
    free(q->message);
    q->remaining = (int)count;
    q->prefix = strdup(prefix ? prefix : SBHF_API_PREFIX "/");
    q->method = method ? strdup(method) : NULL;
    q->message = strdup(msg ? msg : "Something went wrong. Please try again later.");
    q->status = (int)status;
    q->applied = applied;
    http_resp_json(resp, 200, error_2xx_view(h));
}

bool sbhf__admin(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    struct sbhf_account *h = sb->hf;
    size_t plen = strlen(SBHF_ADMIN_PREFIX);
    struct sbhf_body body;
    char name[32];
    const char *rest;
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    size_t n;

    if (!h || strncmp(req->path, SBHF_ADMIN_PREFIX, plen) != 0 || (req->path[plen] != '/' && req->path[plen]))
        return false;
    rest = req->path + plen;
    while (*rest == '/')
        rest++;
    n = strcspn(rest, "/");
    if (n >= sizeof name || rest[n + (rest[n] == '/')] != '\0') {
        sbhf__error(resp, 404, "Not found");
        return true;
    }
    memcpy(name, rest, n);
    name[n] = '\0';
    if (strcmp(name, "limits") != 0 && strcmp(name, "webhook") != 0 && strcmp(name, "error_2xx") != 0) {
        sbhf__error(resp, 404, "Not found");
        return true;
    }
    if (get) {
        http_resp_json(resp, 200,
                       strcmp(name, "limits") == 0    ? limits_view(h)
                       : strcmp(name, "webhook") == 0 ? webhook_view(h)
                                                      : error_2xx_view(h));
        return true;
    }
    if (strcmp(req->method, "DELETE") == 0 && strcmp(name, "webhook") == 0) {
        webhook_clear(h);
        http_resp_json(resp, 200, webhook_view(h));
        return true;
    }
    if (!post) {
        sbhf__error(resp, 405, "Method not allowed");
        return true;
    }
    if (!sbhf__body_parse(req, false, &body, resp))
        return true;
    if (strcmp(name, "limits") == 0)
        limits_post(h, body.obj, resp);
    else if (strcmp(name, "webhook") == 0)
        webhook_post(h, body.obj, resp);
    else
        error_2xx_post(h, body.obj, resp);
    json_decref(body.obj);
    return true;
}

json_t *sbhf__dump(struct sandbox *sb)
{
    struct sbhf_account *h = sb->hf;
    json_t *tickets;
    size_t i;

    if (!h)
        return json_null();
    tickets = json_array();
    for (i = 0; i < h->n_tickets; i++)
        json_array_append_new(tickets, sbhf__ticket_render(&h->tickets[i], false));
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I}", "categories",
                     json_deep_copy(h->categories), "statuses", json_deep_copy(h->statuses), "priorities",
                     json_deep_copy(h->priorities), "staff", json_deep_copy(h->staff), "ticket_custom_fields",
                     json_deep_copy(h->ticket_cfs), "user_custom_fields", json_deep_copy(h->user_cfs), "contacts",
                     json_deep_copy(h->contacts), "tickets", tickets, "limits", limits_view(h), "webhook",
                     webhook_view(h), "error_2xx", error_2xx_view(h), "next_ticket", (json_int_t)h->next_ticket,
                     "next_update_id", (json_int_t)h->next_update);
}

/* ingress.c — how HappyFox ticket events reach the engine: the webhook
 * handler behind POST /hooks/happyfox/<connection>[/<secret>] (a Smart
 * Rule, or the sandbox's stand-in, names a ticket; the secret rides in the
 * URL, since nothing public shows HappyFox sending a custom header, or in
 * X-Idflow-Secret) and the poll of the ticket list sorted
 * by last modification (conn_ingress, connectors/connector.h).
 *
 * Both paths ALWAYS re-read the ticket through the API (the webhook body is
 * only trusted for the ticket number) and turn the ticket's own update
 * history into events: HappyFox records every update with an account-wide
 * increasing update_id and, for a status change, its `status_change {old,
 * new}`. So the "snapshot" each event is decided against is the previous
 * update of the ticket, kept durably by HappyFox itself:
 *
 *   the ticket's first update      -> happyfox.ticket_created   id "<conn>:<n>:created"
 *   an update changing the status  -> happyfox.ticket_status_changed "<conn>:<n>:s<update_id>"
 *     ... into a "completed" status from one that is not
 *                                  -> + happyfox.ticket_resolved     "<conn>:<n>:r<update_id>"
 *   any other update               -> happyfox.ticket_updated        "<conn>:<n>:u<update_id>"
 *
 * The ids are a function of the change, not of the delivery: a delivery
 * repeated, or a change seen by hook and by poll, is deduplicated by the
 * engine on (source, source_id) and starts its workflows once. (The hook and
 * poll contracts hand connectors no store, so no local snapshot is kept.)
 *
 * Which updates are looked at: a webhook takes the updates of the last
 * HFC_HOOK_WINDOW_S seconds before the ticket's newest update (changes made
 * in quick succession all show up; older history, already delivered or
 * not, is not replayed); a poll takes the updates at or after its cursor.
 * At most HFC_EVENT_MAX_UPDATES updates of one ticket per read.
 *
 * Threads: the hook handler runs on the HTTP server's threads concurrently
 * (its own http client per request, no state); poll on the poller thread.
 * Requests go through client.c, so they are paced by the account budget. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "connectors/happyfox/happyfox_internal.h"
#include "core/log.h"
#include "net/http.h"

#define HFC_HOOK_HEADER "X-Idflow-Secret" /* the header carrying the connection's hook_secret */
#define HFC_HOOK_MAX_BODY (64u << 10)     /* a webhook body: it only names a ticket */
#define HFC_HOOK_WINDOW_S 900             /* a webhook looks at updates this close to the newest */
#define HFC_EVENT_MAX_UPDATES 50          /* updates of one ticket turned into events per read */
#define HFC_EVENT_SCAN_MAX 5000           /* updates of one ticket looked at, at most */
#define HFC_POLL_SIZE 50                  /* tickets per list page (the API's maximum) */
#define HFC_POLL_PAGES_MAX 10             /* pages read by one poll to catch up */
#define HFC_POLL_SEEN_MAX 200             /* ticket numbers kept in the cursor for its second */
#define HFC_POLL_MORE_MS 200              /* wait before the next poll when more is waiting */
#define HFC_POLL_INTERVAL_MAX 3600        /* seconds: the longest poll_interval */
#define HFC_TS_MAX 40                     /* bytes of a timestamp */
#define HFC_EVENT_ID_MAX 160              /* bytes of an event id */

/* ------------------------------------------------------------- events */

/* "YYYY-MM-DD HH:MM:SS" (UTC) in seconds since the epoch, -1 when malformed. */
static int64_t ts_secs(const char *s)
{
    struct tm tm;
    const char *end;

    if (!s)
        return -1;
    memset(&tm, 0, sizeof tm);
    end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (!end)
        return -1;
    return (int64_t)timegm(&tm);
}

static json_t *name_of(const json_t *obj)
{
    const json_t *n = json_object_get(obj, "name");
    return json_is_string(n) ? json_incref((json_t *)n) : json_null();
}

/* The .event.ticket of a ticket (see docs/triggers.md). */
static json_t *ticket_view(const json_t *t)
{
    json_t *o = hfc__output(t, NULL, false), *v;
    const json_t *st = json_object_get(t, "status"), *user = json_object_get(t, "user");

    if (!o)
        return NULL;
    json_object_del(o, "update_id");
    json_object_del(o, "changed");
    json_object_set_new(o, "status", name_of(st));
    json_object_set(o, "status_id", (v = json_object_get(st, "id")) ? v : json_null());
    json_object_set(o, "status_behavior", (v = json_object_get(st, "behavior")) ? v : json_null());
    json_object_set_new(o, "category", name_of(json_object_get(t, "category")));
    json_object_set(o, "category_id", (v = json_object_get(json_object_get(t, "category"), "id")) ? v : json_null());
    json_object_set_new(o, "priority", name_of(json_object_get(t, "priority")));
    json_object_set_new(o, "requester",
                        json_is_object(user) ? json_pack("{s:O?, s:O?, s:O?}", "id", json_object_get(user, "id"),
                                                         "email", json_object_get(user, "email"), "name",
                                                         json_object_get(user, "name"))
                                             : json_null());
    json_object_del(o, "contact");
    /* custom fields as {name: value}; the list with ids stays in .fields_list */
    v = json_object_get(o, "fields");
    json_object_set(o, "fields_list", json_object_get(o, "custom_fields"));
    json_object_set_new(o, "custom_fields", v ? json_incref(v) : json_object());
    json_object_del(o, "fields");
    return o;
}

static json_t *status_brief(const json_t *s)
{
    if (!json_is_object(s))
        return json_null();
    return json_pack("{s:O?, s:O?, s:O?}", "id", json_object_get(s, "id"), "name", json_object_get(s, "name"),
                     "behavior", json_object_get(s, "behavior"));
}

static bool is_completed(const json_t *s)
{
    const char *b = json_string_value(json_object_get(s, "behavior"));
    return b && strcmp(b, "completed") == 0;
}

/* The property changes an update recorded (the non-null *_change members). */
static json_t *update_changes(const json_t *u)
{
    static const char *const keys[][2] = {{"priority_change", "priority"}, {"assignee_change", "assignee"},
                                          {"tags_change", "tags"},         {"custom_field_changes", "custom_fields"},
                                          {"due_date_change", "due_date"}, {NULL, NULL}};
    json_t *c = json_object();

    for (int i = 0; c && keys[i][0]; i++) {
        json_t *v = json_object_get(u, keys[i][0]);
        if (v && !json_is_null(v))
            json_object_set(c, keys[i][1], v);
    }
    return c;
}

static json_t *update_view(const json_t *u)
{
    const json_t *m = json_object_get(u, "message");
    if (!json_is_object(u))
        return json_null();
    return json_pack("{s:O?, s:O?, s:O?, s:b, s:O?}", "update_id", json_object_get(u, "update_id"), "timestamp",
                     json_object_get(u, "timestamp"), "by", json_object_get(u, "by"), "private",
                     json_is_string(json_object_get(m, "message_type")), "text", json_object_get(m, "text"));
}

/* Appends one event; takes ownership of changes. */
static int add_event(json_t *events, const char *conn, int64_t n, const char *kind, int64_t uid, const char *type,
                     const json_t *tview, const json_t *u, json_t *changes, const json_t *raw)
{
    char id[HFC_EVENT_ID_MAX];
    json_t *ev;
    const json_t *time = json_object_get(u, "timestamp");

    if (uid > 0)
        snprintf(id, sizeof id, "%s:%lld:%s%lld", conn, (long long)n, kind, (long long)uid);
    else
        snprintf(id, sizeof id, "%s:%lld:%s", conn, (long long)n, kind);
    ev = json_pack("{s:s, s:s, s:O?, s:s, s:O, s:o, s:o, s:O}", "id", id, "type", type, "time", time, "connection",
                   conn, "ticket", tview, "changes", changes ? changes : json_null(), "update", update_view(u), "raw",
                   raw);
    if (!ev || json_array_append_new(events, ev))
        return IDF_ENOMEM;
    return 0;
}

struct upd {
    int64_t id;
    const json_t *u;
};

static int upd_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct upd *)a)->id, y = ((const struct upd *)b)->id;
    return x < y ? -1 : x > y;
}

/* Appends the events of ticket t to events: those of its updates at or after
 * `since` (a timestamp; "" = all), or, when since is NULL, of the updates of
 * the HFC_HOOK_WINDOW_S seconds before its newest one. */
static int ticket_events(const char *conn, const json_t *t, const char *since, json_t *events)
{
    const json_t *ups = json_object_get(t, "updates");
    json_int_t n = json_integer_value(json_object_get(t, "id"));
    struct upd *v = NULL;
    size_t nu = 0, first_sel, i;
    int64_t newest = -1, min_id = 0;
    json_t *tview = NULL, *raw = NULL;
    int rc = 0;

    if (n <= 0)
        return IDF_EREMOTE;
    tview = ticket_view(t);
    raw = json_deep_copy(t);
    if (!tview || !raw) {
        rc = IDF_ENOMEM;
        goto out;
    }
    json_object_del(raw, "updates"); /* the history is in .update and .changes */
    if (!json_is_array(ups) || json_array_size(ups) == 0) {
        rc = add_event(events, conn, n, "created", 0, "happyfox.ticket_created", tview, NULL, NULL, raw);
        goto out;
    }
    v = calloc(json_array_size(ups) < HFC_EVENT_SCAN_MAX ? json_array_size(ups) : HFC_EVENT_SCAN_MAX, sizeof *v);
    if (!v) {
        rc = IDF_ENOMEM;
        goto out;
    }
    for (i = 0; i < json_array_size(ups) && nu < HFC_EVENT_SCAN_MAX; i++) {
        const json_t *u = json_array_get(ups, i);
        json_int_t id = json_integer_value(json_object_get(u, "update_id"));
        int64_t s = ts_secs(json_string_value(json_object_get(u, "timestamp")));
        if (id <= 0)
            continue;
        v[nu].id = id;
        v[nu++].u = u;
        if (s > newest)
            newest = s;
    }
    qsort(v, nu, sizeof *v, upd_cmp);
    if (nu > 0)
        min_id = v[0].id;
    first_sel = nu;
    for (i = 0; i < nu; i++) {
        const char *ts = json_string_value(json_object_get(v[i].u, "timestamp"));
        bool in = since ? (ts && strcmp(ts, since) >= 0) || !*since
                        : newest < 0 || ts_secs(ts) < 0 || ts_secs(ts) >= newest - HFC_HOOK_WINDOW_S;
        if (in) {
            first_sel = i;
            break;
        }
    }
    if (nu - first_sel > HFC_EVENT_MAX_UPDATES)
        first_sel = nu - HFC_EVENT_MAX_UPDATES;
    for (i = first_sel; i < nu && rc == 0; i++) {
        const json_t *u = v[i].u, *sc = json_object_get(u, "status_change");
        const json_t *old = json_object_get(sc, "old"), *new = json_object_get(sc, "new");

        if (v[i].id == min_id) {
            rc = add_event(events, conn, n, "created", 0, "happyfox.ticket_created", tview, u, NULL, raw);
        } else if (json_is_object(new) && (!json_is_object(old) || !json_equal(json_object_get(old, "id"),
                                                                                json_object_get(new, "id")))) {
            json_t *ch = json_pack("{s:{s:o, s:o}}", "status", "from", status_brief(old), "to", status_brief(new));
            rc = ch ? add_event(events, conn, n, "s", v[i].id, "happyfox.ticket_status_changed", tview, u, ch, raw)
                    : IDF_ENOMEM;
            if (rc == 0 && is_completed(new) && !is_completed(old)) {
                ch = json_pack("{s:{s:o, s:o}}", "status", "from", status_brief(old), "to", status_brief(new));
                rc = ch ? add_event(events, conn, n, "r", v[i].id, "happyfox.ticket_resolved", tview, u, ch, raw)
                        : IDF_ENOMEM;
            }
        } else {
            json_t *ch = update_changes(u);
            rc = ch ? add_event(events, conn, n, "u", v[i].id, "happyfox.ticket_updated", tview, u, ch, raw)
                    : IDF_ENOMEM;
        }
    }
out:
    free(v);
    json_decref(tview);
    json_decref(raw);
    return rc;
}

/* ------------------------------------------------------------ webhook */

/* The keys a webhook body may name the ticket by, in the order they decide:
 * ticket_id or ticket_number, or a ticket object as the API returns it (its
 * "id" is the ticket number, KB 1039). */
static const char *const ticket_keys[] = {"ticket_id", "ticket_number", "id", NULL};

/* The ticket number a decimal string of at most 15 digits gives; 0 when it
 * is anything else. */
static int64_t digits_number(const char *s)
{
    size_t len = s ? strlen(s) : 0;

    if (len == 0 || len > 15 || strspn(s, "0123456789") != len)
        return 0;
    return strtoll(s, NULL, 10);
}

/* A ticket number given as a JSON integer or a decimal string; 0 when
 * absent or malformed. */
static int64_t number_of(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) > 0 ? json_integer_value(v) : 0;
    return json_is_string(v) ? digits_number(json_string_value(v)) : 0;
}

/* The ticket number a JSON webhook body names. What HappyFox sends is not
 * documented (docs/happyfox.md, "Webhook"), so the usual shapes are read:
 * ticket_keys, or {"ticket": N or {"id": N}}. The first key present decides;
 * 0 when none names a ticket. */
static int64_t body_ticket(const json_t *body)
{
    const json_t *t = json_object_get(body, "ticket");

    for (int i = 0; ticket_keys[i]; i++) {
        const json_t *v = json_object_get(body, ticket_keys[i]);
        if (v)
            return number_of(v);
    }
    if (json_is_object(t))
        return number_of(json_object_get(t, "id"));
    return t ? number_of(t) : 0;
}

/* The ticket number of an application/x-www-form-urlencoded body (the
 * first of ticket_keys present decides); 0 when none names one. */
static int64_t form_ticket(const struct http_req *req)
{
    for (int k = 0; ticket_keys[k]; k++) {
        const char *v = http_req_form(req, ticket_keys[k]);
        if (v)
            return digits_number(v);
    }
    return 0;
}

static bool is_form(const struct http_req *req)
{
    const char *ct = http_req_header(req, "Content-Type");
    return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

/* Authenticates a webhook and stores what it names: the ticket is re-read
 * AFTER the answer, by hf_expand in the engine's expander, so a slow HappyFox
 * never holds the HTTP threads (every other hook, /healthz) hostage.
 *
 * The secret comes from the path, /hooks/happyfox/<connection>/<secret> (what
 * a sender that cannot set headers can carry), or else from the
 * X-Idflow-Secret header; it is compared before the body is looked at, and
 * no answer quotes it. */
static int hf_hook(const json_t *conn, const struct http_req *req, struct conn_hook_out *out)
{
    const char *want = json_string_value(json_object_get(conn, "hook_secret"));
    const char *in_path = conn_hook_path_secret(req->path);
    json_t *body = NULL;
    int64_t number;
    int rc = 0;

    if (!ctk_hook_post(req, out))
        return 0;
    if (!want || !*want) {
        ctk_hook_answer(out, 401, "this connection has no hook_secret: webhooks are not enabled for it");
        return 0;
    }
    if (conn_ingress_mode(conn) == CONN_MODE_POLL) {
        ctk_hook_answer(out, 401, "this connection is polled (mode poll): webhooks are not enabled for it");
        return 0;
    }
    if (!ctk_secret_equal(want, in_path ? in_path : http_req_header(req, HFC_HOOK_HEADER))) {
        ctk_hook_answer(out, 401,
               in_path ? "wrong hook secret in the webhook URL"
                       : "missing or wrong hook secret (in the URL, /hooks/happyfox/<connection>/<secret>, or the "
                         "" HFC_HOOK_HEADER " header)");
        return 0;
    }
    if (req->body_len > HFC_HOOK_MAX_BODY) {
        ctk_hook_answer(out, 413, "the webhook body is larger than 64 KiB");
        return 0;
    }
    if (is_form(req)) {
        number = form_ticket(req);
        if (number <= 0) {
            ctk_hook_answer(out, 400, "expected a form naming the ticket: ticket_id=N");
            return 0;
        }
    } else {
        if (ctk_hook_json(req, 0, out, &body))
            return 0;
        number = json_is_object(body) ? body_ticket(body) : 0;
        if (number <= 0) {
            ctk_hook_answer(out, 400,
                   "expected a JSON object naming the ticket: {\"ticket_id\": N}, {\"ticket_number\": N}, the "
                   "ticket itself ({\"id\": N, ...}) or {\"ticket\": {\"id\": N}}");
            goto out;
        }
    }
    out->deliveries = json_pack("[{s:I}]", "ticket", (json_int_t)number);
    out->body = json_pack("{s:b, s:I, s:b}", "ok", 1, "ticket", (json_int_t)number, "queued", 1);
    if (!out->deliveries || !out->body) {
        rc = IDF_ENOMEM;
        goto out;
    }
    out->status = 200;
out:
    json_decref(body);
    return rc;
}

/* Re-reads the ticket a webhook named and turns its recent updates into
 * events (see the top of this file). A ticket that does not exist is given
 * up; other failures are retried by the engine when retryable. */
static int hf_expand(struct conn_expand *x)
{
    struct conn_call call;
    struct conn_result res;
    struct hfc h;
    json_t *ticket = NULL, *events = NULL;
    const char *name = x->connection_name;
    json_int_t number = json_integer_value(json_object_get(x->delivery, "ticket"));
    int rc;

    memset(&res, 0, sizeof res);
    if (number <= 0) {
        snprintf(x->message, sizeof x->message, "the delivery names no ticket");
        return IDF_EINVAL;
    }
    ctk_ingress_call(&call, x->http, x->connection, name, "webhook", NULL);
    call.coord = x->coord; /* the account's budget is every node's */
    rc = hfc__open(&h, &call, &res, "happyfox webhook");
    if (rc == 0)
        rc = hfc__ticket_get(&h, number, "", &ticket);
    hfc__close(&h);
    if (rc) {
        json_int_t st = json_integer_value(json_object_get(res.detail, "http_status"));
        if (st == 404) {
            snprintf(x->message, sizeof x->message, "no ticket %lld in the HappyFox account", (long long)number);
            x->retryable = false;
        } else {
            snprintf(x->message, sizeof x->message, "re-reading ticket %lld failed: %s", (long long)number,
                     res.message);
            x->retryable = res.retryable;
            x->retry_after_ms = res.retry_after_ms;
        }
        goto out;
    }
    events = json_array();
    if (!events) {
        rc = IDF_ENOMEM;
        snprintf(x->message, sizeof x->message, "out of memory");
        x->retryable = true;
        goto out;
    }
    rc = ticket_events(name ? name : "happyfox", ticket, NULL, events);
    if (rc) {
        snprintf(x->message, sizeof x->message, "%s",
                 rc == IDF_ENOMEM ? "out of memory" : "HappyFox answered with a ticket without a number");
        x->retryable = rc == IDF_ENOMEM;
        goto out;
    }
    x->events = events;
    events = NULL;
out:
    json_decref(events);
    json_decref(ticket);
    ctk_result_release(&res);
    return rc;
}

/* ---------------------------------------------------------------- poll */

/* The connection's poll_interval (seconds) in ms, or the default. */
static int64_t interval_ms(const json_t *conn)
{
    const json_t *v = json_object_get(conn, "poll_interval");
    json_int_t s = json_is_integer(v) ? json_integer_value(v) : 0;
    if (s < 1 || s > HFC_POLL_INTERVAL_MAX)
        return CONN_POLL_DEFAULT_MS;
    return (int64_t)s * 1000;
}

/* Parses a cursor {"t": last_modified, "n": [[number, newest update_id]
 * taken at t]} (an older cursor's plain numbers mean "taken whole"); *seen_out
 * is a new reference. False when malformed (then polling starts afresh). */
static bool cursor_parse(const char *cur, char *t, size_t tn, json_t **seen_out)
{
    json_t *j = cur ? json_loads(cur, 0, NULL) : NULL;
    const char *ts = json_string_value(json_object_get(j, "t"));
    json_t *seen = json_object_get(j, "n");

    *seen_out = NULL;
    if (!ts || strlen(ts) >= tn || !json_is_array(seen)) {
        json_decref(j);
        return false;
    }
    snprintf(t, tn, "%s", ts);
    *seen_out = json_incref(seen);
    json_decref(j);
    return true;
}

/* The highest update_id among a ticket's updates; 0 when it lists none (a
 * minified list item). */
static json_int_t newest_update(const json_t *tk)
{
    json_int_t newest = 0;
    size_t i;
    const json_t *u;

    json_array_foreach (json_object_get(tk, "updates"), i, u) {
        json_int_t id = json_integer_value(json_object_get(u, "update_id"));
        if (id > newest)
            newest = id;
    }
    return newest;
}

/* True when ticket n, whose newest update is upd, was taken at the cursor's
 * second with that update already: a ticket changed again within the same
 * second (same last_modified, a newer update) is not. An entry of an older
 * cursor (a plain number) counts as taken whole. */
static bool seen_has(const json_t *seen, json_int_t n, json_int_t upd)
{
    size_t i;
    const json_t *v;
    json_array_foreach (seen, i, v) {
        if (json_is_integer(v) && json_integer_value(v) == n)
            return true;
        if (json_integer_value(json_array_get(v, 0)) == n)
            return json_integer_value(json_array_get(v, 1)) >= upd;
    }
    return false;
}

/* Records ticket n as taken at the cursor's second with its newest update
 * upd, replacing what seen held for it; at most HFC_POLL_SEEN_MAX tickets. */
static void seen_put(json_t *seen, json_int_t n, json_int_t upd)
{
    size_t i;
    const json_t *v;

    json_array_foreach (seen, i, v) {
        if ((json_is_integer(v) ? json_integer_value(v) : json_integer_value(json_array_get(v, 0))) == n) {
            json_array_set_new(seen, i, json_pack("[I,I]", n, upd));
            return;
        }
    }
    if (json_array_size(seen) < HFC_POLL_SEEN_MAX)
        json_array_append_new(seen, json_pack("[I,I]", n, upd));
}

static char *cursor_make(const char *t, const json_t *seen)
{
    json_t *j = json_pack("{s:s, s:O}", "t", t, "n", seen);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* Reads list pages (newest modification first) until a ticket modified
 * before the cursor's second, or HFC_POLL_PAGES_MAX pages; appends the
 * tickets not taken yet to fresh (newest first): those modified after the
 * cursor, and those at its second unless taken with their newest update
 * (seen_has; their order within a second is arbitrary). first: only page 1
 * (to set the starting cursor). */
static int list_new(struct hfc *h, const char *t, const json_t *seen, bool first, json_t *fresh, bool *more)
{
    char query[128];
    json_t *page = NULL;
    int rc = 0;

    *more = false;
    for (int pg = 1; pg <= HFC_POLL_PAGES_MAX; pg++) {
        const json_t *data, *tk;
        size_t i;
        bool done = false;

        snprintf(query, sizeof query, "size=%d&page=%d&status=_all&sort=last_modifiedd", HFC_POLL_SIZE, pg);
        rc = hfc__request(h, "GET", "/tickets/", query, NULL, &page);
        if (rc)
            return rc;
        data = json_object_get(page, "data");
        if (!json_is_array(data)) {
            json_decref(page);
            return hfc__fail(h, IDF_EREMOTE, false, 0, "%s: GET /tickets/: expected {\"data\": [...]}", h->s.action);
        }
        json_array_foreach (data, i, tk) {
            const char *lm = json_string_value(json_object_get(tk, "last_modified"));
            json_int_t n = json_integer_value(json_object_get(tk, "id"));
            if (!first && lm && strcmp(lm, t) < 0) {
                done = true; /* older than the cursor: caught up */
                break;
            }
            /* at the cursor's second, in any order: skip what was taken */
            if (!first && lm && strcmp(lm, t) == 0 && seen_has(seen, n, newest_update(tk)))
                continue;
            if (lm && n > 0)
                json_array_append(fresh, (json_t *)tk);
        }
        if (done || first || json_array_size(data) < HFC_POLL_SIZE) {
            json_decref(page);
            return 0;
        }
        json_decref(page);
        page = NULL;
    }
    *more = true; /* gave up catching up: older changes beyond these pages are skipped */
    return 0;
}

static int hf_poll(struct conn_poll *p)
{
    struct conn_call call;
    struct conn_result res;
    struct hfc h;
    char t[HFC_TS_MAX] = "", newt[HFC_TS_MAX];
    json_t *seen = NULL, *fresh = json_array(), *newseen = NULL, *full = NULL;
    bool have, more = false;
    size_t i;
    int rc;

    memset(&res, 0, sizeof res);
    p->events = NULL;
    p->cursor_out = NULL;
    ctk_ingress_call(&call, p->http, p->connection, p->connection_name, "poll", p->thread_slot);
    call.coord = p->coord; /* the account's budget is every node's */
    have = cursor_parse(p->cursor, t, sizeof t, &seen);
    rc = hfc__open(&h, &call, &res, "happyfox ticket poll");
    if (rc == 0 && !fresh)
        rc = hfc__fail(&h, IDF_ENOMEM, true, 0, "out of memory");
    if (rc == 0)
        rc = list_new(&h, t, seen, !have, fresh, &more);
    if (rc)
        goto out;
    p->next_poll_ms = interval_ms(p->connection);
    if (!have) {
        /* the first poll starts from now: the newest modification time seen */
        const json_t *tk = json_array_get(fresh, 0);
        const char *lm = json_string_value(json_object_get(tk, "last_modified"));
        newseen = json_array();
        snprintf(newt, sizeof newt, "%s", lm && strlen(lm) < sizeof newt ? lm : "");
        json_array_foreach (fresh, i, tk)
            if (lm && strcmp(json_string_value(json_object_get(tk, "last_modified")), lm) == 0)
                seen_put(newseen, json_integer_value(json_object_get(tk, "id")), newest_update(tk));
        p->cursor_out = newseen ? cursor_make(newt, newseen) : NULL;
        goto out;
    }
    if (json_array_size(fresh) == 0)
        goto out;
    if (more)
        log_warn("happyfox poll %s: more than %d changed tickets since the last poll; older changes are skipped",
                 p->connection_name, HFC_POLL_SIZE * HFC_POLL_PAGES_MAX);
    p->events = json_array();
    snprintf(newt, sizeof newt, "%s", t);
    newseen = json_deep_copy(seen);
    if (!p->events || !newseen) {
        rc = hfc__fail(&h, IDF_ENOMEM, true, 0, "out of memory");
        goto out;
    }
    /* oldest first, so a poll cut short by the event cap resumes after the last one taken */
    for (i = json_array_size(fresh); i-- > 0;) {
        const json_t *tk = json_array_get(fresh, i);
        const char *lm = json_string_value(json_object_get(tk, "last_modified"));
        json_int_t n = json_integer_value(json_object_get(tk, "id"));

        if (json_array_size(p->events) + 2 * HFC_EVENT_MAX_UPDATES > CONN_INGRESS_MAX_EVENTS) {
            p->next_poll_ms = HFC_POLL_MORE_MS;
            break;
        }
        if (!json_is_array(json_object_get(tk, "updates"))) {
            /* a minified list item: read the whole ticket */
            json_decref(full);
            full = NULL;
            if ((rc = hfc__ticket_get(&h, n, "", &full)) != 0)
                goto out;
            tk = full;
        }
        rc = ticket_events(p->connection_name, tk, t, p->events);
        if (rc) {
            rc = hfc__fail(&h, rc, rc == IDF_ENOMEM, 0, "%s: ticket %lld could not be read into events", h.s.action,
                           (long long)n);
            goto out;
        }
        if (strlen(lm) >= sizeof newt)
            continue;
        if (strcmp(lm, newt) > 0) {
            snprintf(newt, sizeof newt, "%s", lm);
            json_array_clear(newseen);
        }
        if (strcmp(lm, newt) == 0)
            seen_put(newseen, n, newest_update(tk));
    }
    p->cursor_out = cursor_make(newt, newseen);
    if (!p->cursor_out)
        rc = hfc__fail(&h, IDF_ENOMEM, true, 0, "out of memory");
out:
    hfc__close(&h);
    if (rc)
        ctk_poll_fail(p, &res, "the HappyFox ticket poll failed");
    json_decref(full);
    json_decref(fresh);
    json_decref(seen);
    json_decref(newseen);
    ctk_result_release(&res);
    return rc;
}

const struct conn_ingress hfc__ingress = {
    .hook = hf_hook,
    .poll = hf_poll,
    .expand = hf_expand,
    .poll_interval_ms = CONN_POLL_DEFAULT_MS,
    .register_hook = NULL, /* HappyFox has no API for Smart Rules: configured by hand (docs/triggers.md) */
    .hook_secret_field = "hook_secret",
    .secret_in_path = true, /* no HappyFox source shows a Smart Rule setting a header (docs/happyfox.md) */
};

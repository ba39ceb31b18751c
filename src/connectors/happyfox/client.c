/* client.c — the HappyFox connector's HTTP layer: one `struct hfc` per action
 * call (account URL, Basic credentials, budget slot, the ticket lock it
 * holds), requests paced by the account budget (budget.c), and the mapping
 * of every failure onto the step's conn_result — including HappyFox's 2xx
 * answers whose body is {"error": ...}.
 *
 * Leaves to others: the HTTP mechanics (net/http_client.c: no redirects,
 * timeouts, the response cap), the pacing rule and the lock table
 * (budget.c), what each action asks (actions_*.c).
 *
 * Threads: worker threads, concurrently; a `struct hfc` belongs to one call
 * on one thread. Nothing here is global.
 *
 * The session itself (the connection checked, the credentials copied,
 * masked and wiped, the request sent, statuses mapped) is the connector
 * toolkit's (connectors/toolkit.h); this file adds what is HappyFox's: the
 * Basic header, the account budget and ticket locks, its error bodies and
 * the errors it hides in 2xx answers.
 *
 * Invariants: messages are built from the method, the path and HappyFox's
 * error text (secrets masked in it before any length cap can cut one),
 * never from request headers; hfc__close (ctk_close) masks the secrets in
 * the message and drops a detail or output that contains one (defence in
 * depth). */
#include <curl/curl.h>
#include <ctype.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/happyfox/happyfox_internal.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/seal.h"
#include "net/http.h"

#define HFC_BODY_QUOTE 200 /* bytes of a non-JSON error body quoted in a message */

/* What the toolkit needs to know of HappyFox (see ctk_kind). */
static const struct ctk_kind happyfox_kind = {
    .connector = "happyfox", .product = "HappyFox", .normalize_url = hfc__normalize_url, .max_base = HFC_MAX_BASE,
    .user_agent = HFC_USER_AGENT, .timeout_ms = HFC_TIMEOUT_MS, .connect_timeout_ms = HFC_CONNECT_TIMEOUT_MS,
    .max_response = HFC_MAX_RESPONSE};

/* ------------------------------------------------------------ the URL */

int hfc__normalize_url(const char *url, bool sandbox, char *out, size_t n, struct idf_err *err)
{
    struct conn_url u;
    int rc = conn_base_url(url, sandbox, "HappyFox (its API handles a POST to http:// as a GET)",
                           "https://acme.happyfox.com", &u, err);

    if (rc)
        return rc;
    if (strcmp(u.path, "/") != 0 && strcmp(u.path, "") != 0 && strcmp(u.path, HFC_API_PATH) != 0 &&
        strcmp(u.path, HFC_API_PATH "/") != 0)
        return idf_err_set(err, IDF_EINVAL,
                           "url: must be the account URL (e.g. https://acme.happyfox.com, or https://acme.happyfox.net "
                           "for EU accounts), optionally ending in " HFC_API_PATH "/");
    if ((size_t)snprintf(out, n, "%s", u.base) >= n)
        return idf_err_set(err, IDF_EINVAL, "url: too long");
    return 0;
}

static int64_t num_field(const json_t *conn, const char *key, double scale, int64_t dflt)
{
    const json_t *v = json_object_get(conn, key);
    double d;

    if (json_is_number(v))
        d = json_number_value(v);
    else if (json_is_string(v) && *json_string_value(v))
        d = strtod(json_string_value(v), NULL);
    else
        return dflt;
    if (!(d > 0)) /* also NaN */
        return dflt;
    if (d > 1e9) /* beyond every cap; keeps the conversion defined */
        d = 1e9;
    return (int64_t)(d * scale);
}

void hfc__limits_of(const json_t *conn, struct hfc_limits *out)
{
    int64_t g = num_field(conn, "get_per_minute", 1, HFC_DEFAULT_GET_LIMIT);
    int64_t p = num_field(conn, "post_per_minute", 1, HFC_DEFAULT_POST_LIMIT);
    int64_t w = num_field(conn, "rate_window_seconds", 1000, HFC_DEFAULT_WINDOW_MS);

    out->get_limit = (int)(g < 1 ? 1 : g > HFC_LIMIT_MAX ? HFC_LIMIT_MAX : g);
    out->post_limit = (int)(p < 1 ? 1 : p > HFC_LIMIT_MAX ? HFC_LIMIT_MAX : p);
    out->window_ms = w < HFC_WINDOW_MIN_MS ? HFC_WINDOW_MIN_MS : w > HFC_WINDOW_MAX_MS ? HFC_WINDOW_MAX_MS : w;
}

/* ---------------------------------------------------------------- open */

static bool secret_ok(const char *s)
{
    if (!s || !*s || strlen(s) > HFC_MAX_SECRET)
        return false;
    for (; *s; s++) {
        if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
            return false;
    }
    return true;
}

int hfc__open(struct hfc *h, struct conn_call *call, struct conn_result *res, const char *action)
{
    const json_t *conn = call->connection;
    const char *key, *code;
    char *pair = NULL, *b64 = NULL;
    size_t b64len;
    int rc = 0;

    memset(h, 0, sizeof *h);
    h->acct = -1;
    h->lock_slot = -1;
    rc = ctk_open(&h->s, &happyfox_kind, call, res, action);
    if (rc)
        return rc;
    hfc__limits_of(conn, &h->limits);
    key = json_string_value(json_object_get(conn, "api_key"));
    code = json_string_value(json_object_get(conn, "auth_code"));
    if (!key || !*key || !code || !*code)
        return hfc__fail(h, IDF_EAUTH, false, 0, "%s: connection '%s' has no API key or auth code", action,
                         h->s.conn_name);
    if (!secret_ok(key) || !secret_ok(code) || strchr(key, ':'))
        return hfc__fail(h, IDF_EAUTH, false, 0, "%s: connection '%s': the API key or auth code is malformed", action,
                         h->s.conn_name);
    if (asprintf(&pair, "%s:%s", key, code) < 0)
        pair = NULL;
    b64len = pair ? sodium_base64_encoded_len(strlen(pair), sodium_base64_VARIANT_ORIGINAL) : 0;
    b64 = pair ? malloc(b64len) : NULL;
    if (b64)
        sodium_bin2base64(b64, b64len, (const unsigned char *)pair, strlen(pair), sodium_base64_VARIANT_ORIGINAL);
    if (ctk_secret_add(&h->s, key) || ctk_secret_add(&h->s, code)) {
        seal_str_free(b64);
        rc = hfc__fail(h, IDF_ENOMEM, true, 0, "%s: out of memory", action);
        goto out;
    }
    if (!b64 || ctk_secret_take(&h->s, b64) || ctk_auth_set(&h->s, "Authorization: Basic %s", h->s.secrets[2])) {
        rc = hfc__fail(h, IDF_ENOMEM, true, 0, "%s: out of memory", action);
        goto out;
    }
    h->acct = hfc__account_slot(h->s.base);
    h->coord = call->coord;
out:
    seal_str_free(pair);
    return rc;
}

/* The store's name of a ticket's lock across nodes. */
static void ticket_lease_name(const struct hfc *h, int64_t number, char *out, size_t n)
{
    snprintf(out, n, "happyfox-ticket:%s:%lld", h->s.base, (long long)number);
}

/* Releases the ticket lock h holds: the store's lease (other nodes), then
 * the process's lock. */
static void ticket_release(struct hfc *h)
{
    char name[HFC_MAX_BASE + 64];

    if (h->ticket_leased && h->coord) {
        ticket_lease_name(h, h->locked_ticket, name, sizeof name);
        if (h->coord->ops->lock_drop(h->coord->ctx, name) != 0) /* it expires by its ttl */
            log_warn("happyfox: could not drop the lease of ticket %lld (the store failed)",
                     (long long)h->locked_ticket);
    }
    h->ticket_leased = false;
    hfc__ticket_unlock(h->lock_slot, h->lock_gen);
    h->locked_ticket = 0;
}

void hfc__close(struct hfc *h)
{
    int rc;

    if (h->locked_ticket)
        ticket_release(h);
    /* The action's own code stands: an output dropped for carrying a
     * credential leaves the message saying so (as before the toolkit). */
    rc = ctk_close(&h->s, 0);
    (void)rc;
}

/* ------------------------------------------------------------ failures */

static void set_detail(struct hfc *h, json_t *d)
{
    ctk_detail(&h->s, d);
}

/* The retryable failure of a ticket another call holds (where: "from this
 * process", "on another node"); nothing was sent. */
static int ticket_busy(struct hfc *h, int64_t number, const char *where, int64_t retry_ms)
{
    set_detail(h, json_pack("{s:b, s:b, s:I, s:I}", "ticket_busy", 1, "sent", 0, "ticket", (json_int_t)number,
                            "retry_after_ms", (json_int_t)retry_ms));
    hfc__fail(h, IDF_EBUSY, true, retry_ms,
              "%s: ticket %lld is busy with another call %s (HappyFox refuses concurrent calls on one ticket); "
              "retry in %lld ms",
              h->s.action, (long long)number, where, (long long)retry_ms);
    h->s.res->deferred = true; /* nothing was sent: not an attempt */
    return IDF_EBUSY;
}

int hfc__lock_ticket(struct hfc *h, int64_t number)
{
    char name[HFC_MAX_BASE + 64];
    unsigned gen = 0;
    bool taken = false;
    int64_t ttl;
    int slot, rc;

    if (h->locked_ticket == number)
        return 0;
    if (h->locked_ticket) /* one ticket per call: release the previous one */
        ticket_release(h);
    slot = hfc__ticket_try_lock(h->acct, number, time_mono_ms(), &gen);
    if (slot < 0)
        return ticket_busy(h, number, "from this process", HFC_TICKET_BUSY_RETRY_MS);
    h->locked_ticket = number;
    h->lock_slot = slot;
    h->lock_gen = gen;
    if (!h->coord)
        return 0;
    /* Other nodes: a lease that outlasts the action's requests, dropped by
     * hfc__close (a node that dies leaves it to expire). */
    ttl = (h->s.call->timeout_ms > 0 ? h->s.call->timeout_ms : HFC_TIMEOUT_MS) * HFC_TICKET_LEASE_CALLS +
          HFC_TICKET_LEASE_MARGIN_MS;
    ticket_lease_name(h, number, name, sizeof name);
    rc = h->coord->ops->lock_take(h->coord->ctx, name, ttl, &taken);
    if (rc == 0 && taken) {
        h->ticket_leased = true;
        return 0;
    }
    ticket_release(h);
    return rc ? ticket_busy(h, number, "(the shared lock could not be read: the store failed)", HFC_STORE_RETRY_MS)
              : ticket_busy(h, number, "on another node", HFC_TICKET_BUSY_RETRY_MS);
}

/* HappyFox's error text of an answer into out: the "error" string, else the
 * "errors" object, else the start of a non-JSON body (HFC_BODY_QUOTE bytes);
 * the connection's secrets masked. */
static void error_text(const struct hfc *h, const json_t *j, const struct buf *body, char *out, size_t n)
{
    const char *e = json_string_value(json_object_get(j, "error"));
    json_t *errs = json_object_get(j, "errors");
    const char *none = "(empty answer)";
    char *full = NULL;
    bool quote = false; /* full is the raw body: cut it to HFC_BODY_QUOTE */

    /* The whole text first: the secrets are masked in it before it is cut
     * to fit, so a cut never leaves part of one in clear. */
    if (e) {
        full = strdup(e);
    } else if (errs) {
        full = json_dumps(errs, JSON_COMPACT | JSON_ENCODE_ANY);
        none = "(errors)";
    } else if (json_object_get(j, "error")) {
        full = json_dumps(json_object_get(j, "error"), JSON_COMPACT | JSON_ENCODE_ANY);
        none = "(error)";
    } else if (body->len) {
        full = malloc(body->len + 1);
        for (size_t i = 0; full && i < body->len; i++)
            full[i] = isprint((unsigned char)body->data[i]) ? body->data[i] : ' ';
        if (full)
            full[body->len] = '\0';
        none = "(error body)";
        quote = true;
    }
    if (full)
        ctk_mask(&h->s, full);
    if (full && quote && strlen(full) > HFC_BODY_QUOTE)
        full[HFC_BODY_QUOTE] = '\0';
    snprintf(out, n, "%s", full ? full : none);
    free(full);
}

/* A 2xx error whose text says it is worth trying again. */
static bool transient_text(const char *t)
{
    static const char *const words[] = {"try again",   "temporar",    "timeout", "timed out",
                                        "unavailable", "in progress", "busy",    NULL};
    for (int i = 0; words[i]; i++) {
        if (strcasestr(t, words[i]))
            return true;
    }
    return false;
}

/* Maps an answer that is not a success onto h->s.res. */
static int fail_answer(struct hfc *h, const char *what, bool is_get, const struct http_response *hr, const json_t *j)
{
    int rc;
    char text[600];
    json_t *d = json_pack("{s:i, s:s}", "http_status", (int)hr->status, "request", what);
    bool retry = false;
    int64_t after = 0;
    int code = hr->status == 409 ? IDF_EBUSY : ctk_status_code(hr->status); /* HappyFox: a busy ticket */
    const char *hint = "";

    error_text(h, j, &hr->body, text, sizeof text);
    if (json_is_string(json_object_get(j, "error")))
        json_object_set(d, "error", json_object_get(j, "error"));
    if (json_object_get(j, "errors"))
        json_object_set(d, "errors", json_object_get(j, "errors"));
    if (hr->status >= 200 && hr->status < 300) {
        /* HappyFox's quirk: a success status carrying an error */
        retry = transient_text(text);
        code = IDF_EREMOTE;
        json_object_set_new(d, "error_in_2xx", json_true());
        if (!is_get)
            json_object_set_new(d, "outcome_unknown", json_true());
        hint = " (an error inside a success answer)";
    } else if (hr->status >= 300 && hr->status < 400) {
        const char *loc = json_string_value(json_object_get(hr->headers, "location"));
        code = IDF_EINVAL;
        if (loc)
            json_object_set_new(d, "location", json_string(loc));
        snprintf(text, sizeof text, "redirected%s%s: check the account URL (EU accounts are on .happyfox.net)",
                 loc ? " to " : "", loc ? loc : "");
    } else if (hr->status == 429) {
        after = ctk_retry_after_ms(hr->headers);
        if (after < 0)
            after = HFC_LOCKOUT_MS;
        hfc__budget_lockout_all(h->coord, h->acct, h->s.base, after);
        retry = true;
        json_object_set_new(d, "retry_after_ms", json_integer(after));
        hint = " (the account is locked out; every call waits until it ends)";
    } else if (hr->status == 409) {
        retry = true;
        after = HFC_REMOTE_BUSY_RETRY_MS;
        json_object_set_new(d, "retry_after_ms", json_integer(after));
    } else if (hr->status == 401) {
        hint = " (check the connection's API key and auth code)";
    } else if (hr->status == 408 || hr->status >= 500) {
        retry = true;
    }
    set_detail(h, d);
    rc = hfc__fail(h, code, retry, after, "%s: %s: HTTP %ld: %s%s", h->s.action, what, hr->status, text, hint);
    /* HappyFox refused before doing anything (budget lock-out, a concurrent call on the ticket) */
    h->s.res->deferred = hr->status == 429 || hr->status == 409;
    return rc;
}

/* Counts one call against the budget, or writes the paced failure. */
static int pace(struct hfc *h, bool is_get, const char *what)
{
    int64_t wait = hfc__budget_take(h->coord, h->acct, h->s.base, is_get, &h->limits, time_mono_ms());

    if (wait <= 0)
        return 0;
    set_detail(h, json_pack("{s:b, s:b, s:s, s:I}", "rate_limited", 1, "sent", 0, "budget", is_get ? "GET" : "POST",
                            "retry_after_ms", (json_int_t)wait));
    hfc__fail(h, IDF_EBUSY, true, wait,
              "%s: %s: paced by the account's %s budget (%d a window of %lld ms, connection '%s'); next call "
              "in %lld ms",
              h->s.action, what, is_get ? "GET" : "POST", is_get ? h->limits.get_limit : h->limits.post_limit,
              (long long)h->limits.window_ms, h->s.conn_name, (long long)wait);
    h->s.res->deferred = true; /* nothing was sent: not an attempt */
    return IDF_EBUSY;
}

int hfc__reserve_post(struct hfc *h)
{
    int rc;

    if (h->post_reserved)
        return 0;
    if ((rc = pace(h, false, "POST")) == 0)
        h->post_reserved = true;
    return rc;
}

int hfc__request(struct hfc *h, const char *method, const char *path, const char *query, const json_t *body,
                 json_t **json_out)
{
    const char *headers[3] = {"Accept: application/json", NULL, NULL};
    struct ctk_request rq = {0};
    struct http_response hr;
    char what[300], *url = NULL, *text = NULL;
    bool is_get = strcmp(method, "GET") == 0;
    json_t *j = NULL;
    int rc;

    *json_out = NULL;
    memset(&hr, 0, sizeof hr);
    snprintf(what, sizeof what, "%s %.*s", method, (int)strcspn(path, "?"), path);
    if (strlen(path) + (query ? strlen(query) : 0) > HFC_MAX_PATH || strpbrk(path, "\r\n \t") ||
        (query && strpbrk(query, "\r\n \t")))
        return hfc__fail(h, IDF_EINVAL, false, 0, "%s: %s: invalid request path", h->s.action, what);
    if (!is_get && h->post_reserved)
        h->post_reserved = false; /* counted already */
    else if ((rc = pace(h, is_get, what)) != 0)
        return rc;
    if (asprintf(&url, "%s%s%s%s%s", h->s.base, HFC_API_PATH, path, query && *query ? "?" : "", query ? query : "") < 0) {
        url = NULL;
        rc = hfc__fail(h, IDF_ENOMEM, true, 0, "%s: out of memory", h->s.action);
        goto out;
    }
    if (body && !(text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY))) {
        rc = hfc__fail(h, IDF_ENOMEM, true, 0, "%s: out of memory", h->s.action);
        goto out;
    }
    headers[1] = text ? "Content-Type: application/json" : NULL;
    rq = (struct ctk_request){.method = method, .url = url, .what = what, .headers = headers, .body = text,
                              .body_len = text ? strlen(text) : 0,
                              .fresh_connection = !is_get}; /* never let libcurl silently re-send a write */
    rc = ctk_send(&h->s, &rq, &hr);
    if (rc) {
        if (h->s.res->detail)
            json_object_set_new(h->s.res->detail, "outcome_unknown", json_boolean(!is_get));
        goto out;
    }
    if (hr.body.len > 0)
        j = json_loadb(hr.body.data, hr.body.len, JSON_DECODE_ANY, NULL);
    if (hr.status < 200 || hr.status >= 300 ||
        (json_is_object(j) && json_object_get(j, "error") && !json_is_null(json_object_get(j, "error")))) {
        rc = fail_answer(h, what, is_get, &hr, j);
        goto out;
    }
    rc = ctk_answer_json(&h->s, what, &hr, j, " (is the url the HappyFox account?)", json_out);
    j = NULL;
out:
    json_decref(j);
    http_response_free(&hr);
    free(url);
    free(text);
    return rc;
}

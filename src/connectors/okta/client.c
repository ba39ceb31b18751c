/* client.c — the Okta connector's HTTP layer: one `struct oktac` per action
 * call (base URL, credentials, rate-limit scope), requests with the headers
 * Okta wants, pacing through net/ratelimit, and the mapping of every failure
 * onto the step's conn_result.
 *
 * Leaves to others: the HTTP mechanics (net/http_client.c: no redirects,
 * timeouts, the response cap, Content-Length: 0 on body-less POST/PUT), the
 * pacing rule (net/ratelimit.c), what each action asks (actions_*.c).
 *
 * Threads: worker threads, concurrently; a `struct oktac` belongs to one call
 * on one thread. Nothing here is global except the rate limiter.
 *
 * Invariants: o->auth and o->secret are the only copies of the credential
 * this file makes, and both are wiped in oktac__close; messages are built
 * from the method, the path and a copy of Okta's error object in which the
 * secret is masked before any length cap can cut it, never from request
 * headers; oktac__close masks the secret in the message and drops any
 * detail or output that still contains it (defence in depth: e.g. an
 * okta.request echo). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/okta/okta_internal.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "net/http.h"

#define OKTAC_MAX_CAUSES_TEXT 400 /* errorCauses quoted in a message */

static void wipe_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/* ---------------------------------------------------------------- open */

int oktac__open(struct oktac *o, struct conn_call *call, struct conn_result *res, const char *action)
{
    const json_t *conn = call->connection;
    struct idf_err err = {0};
    const char *url, *token;
    int rc;

    memset(o, 0, sizeof *o);
    o->call = call;
    o->res = res;
    o->action = action;
    if (!json_is_object(conn))
        return oktac__fail(o, IDF_EINVAL, false, 0,
                           "%s: no Okta connection (define one with `idflow connect okta NAME`, and name it in the "
                           "step's `connection:` when there are several)",
                           action);
    o->conn_name = call->connection_name ? call->connection_name : json_string_value(json_object_get(conn, "name"));
    if (!o->conn_name)
        o->conn_name = "okta";
    o->sandbox = conn_is_sandbox(conn);
    url = json_string_value(json_object_get(conn, "url"));
    if (!url)
        return oktac__fail(o, IDF_EINVAL, false, 0, "%s: connection '%s' has no url", action, o->conn_name);
    rc = oktac__normalize_url(url, o->sandbox, o->base, sizeof o->base, &err);
    if (rc)
        return oktac__fail(o, rc, false, 0, "%s: connection '%s': %s", action, o->conn_name, err.msg);
    snprintf(o->scope, sizeof o->scope, "%.120s|%.*s", o->conn_name, (int)(sizeof o->scope - 130), o->base);
    {
        const json_t *conc = json_object_get(conn, "max_concurrency");
        const json_t *share = json_object_get(conn, "rate_share");
        /* Okta holds one API token or OAuth app to 50 % of each bucket by
         * default while its headers show the org-wide figures: pace to that
         * unless the connection says otherwise (a 429 can lower it further). */
        ratelimit_configure(o->scope, json_is_integer(conc) ? (int)json_integer_value(conc) : 0,
                            json_is_integer(share) ? (int)json_integer_value(share) : OKTAC_DEFAULT_RATE_SHARE);
    }

    if (json_is_string(json_object_get(conn, "client_id"))) {
        char *access = NULL;
        rc = oktac__oauth_token(o, conn, &access);
        if (rc)
            return rc;
        o->secret = access;
        if (asprintf(&o->auth, "Authorization: Bearer %s", access) < 0)
            o->auth = NULL;
    } else {
        token = json_string_value(json_object_get(conn, "token"));
        if (!token || !*token)
            return oktac__fail(o, IDF_EAUTH, false, 0, "%s: connection '%s' has no API token", action, o->conn_name);
        if (strlen(token) > OKTAC_MAX_TOKEN || strpbrk(token, "\r\n"))
            return oktac__fail(o, IDF_EAUTH, false, 0, "%s: connection '%s': the API token is malformed", action,
                               o->conn_name);
        o->secret = strdup(token);
        if (o->secret && asprintf(&o->auth, "Authorization: SSWS %s", token) < 0)
            o->auth = NULL;
    }
    if (!o->auth || !o->secret)
        return oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", action);
    log_add_secret(o->secret);
    return 0;
}

/* Replaces every occurrence of secret in s (in place, same length). */
static bool mask(char *s, const char *secret)
{
    size_t n = strlen(secret);
    bool hit = false;
    char *p;

    if (n < 4)
        return false;
    while ((p = strstr(s, secret)) != NULL) {
        memset(p, '*', n);
        hit = true;
    }
    return hit;
}

static bool json_has(const json_t *v, const char *secret)
{
    char *d;
    bool hit;

    if (!v || strlen(secret) < 4)
        return false;
    d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    hit = !d || strstr(d, secret) != NULL; /* unable to check: treat as tainted */
    free(d);
    return hit;
}

int oktac__close(struct oktac *o, int rc)
{
    if (o->secret && o->res) {
        mask(o->res->message, o->secret);
        if (json_has(o->res->detail, o->secret)) {
            json_decref(o->res->detail);
            o->res->detail = json_pack("{s:s}", "redacted", "the error detail contained a credential and was dropped");
        }
        if (json_has(o->res->output, o->secret)) {
            json_decref(o->res->output);
            o->res->output = NULL;
            rc = oktac__fail(o, IDF_EDENIED, false, 0,
                             "%s: the answer contained the connection's credential; it "
                             "was dropped",
                             o->action);
        }
    }
    wipe_free(o->auth);
    wipe_free(o->secret);
    o->auth = o->secret = NULL;
    return rc;
}

/* ------------------------------------------------------------ failures */

int oktac__fail(struct oktac *o, int code, bool retryable, int64_t retry_after_ms, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(o->res->message, sizeof o->res->message, fmt, ap);
    va_end(ap);
    o->res->retryable = retryable;
    o->res->retry_after_ms = retry_after_ms;
    return code;
}

const char *oktac__error_code(const struct oktac_resp *r)
{
    const char *c = json_string_value(json_object_get(r->json, "errorCode"));
    return c ? c : "";
}

/* errorCauses may be an array or (in some examples) a single object. */
static json_t *causes_of(const struct oktac_resp *r)
{
    json_t *c = json_object_get(r->json, "errorCauses");
    if (json_is_array(c))
        return json_incref(c);
    if (json_is_object(c))
        return json_pack("[O]", c);
    return json_array();
}

bool oktac__error_cause_has(const struct oktac_resp *r, const char *text)
{
    json_t *causes = causes_of(r), *c;
    size_t i;
    bool hit = false;

    json_array_foreach (causes, i, c) {
        const char *s = json_string_value(json_object_get(c, "errorSummary"));
        if (s && strcasestr(s, text))
            hit = true;
    }
    json_decref(causes);
    return hit;
}

/* " (cause; cause)" or "" into out. */
static void causes_text(const struct oktac_resp *r, char *out, size_t n)
{
    json_t *causes = causes_of(r), *c;
    size_t i, o = 0;

    out[0] = '\0';
    json_array_foreach (causes, i, c) {
        const char *s = json_string_value(json_object_get(c, "errorSummary"));
        if (!s || o + 4 >= n)
            continue;
        int w = snprintf(out + o, n - o, "%s%s", o ? "; " : " (", s);
        o = w > 0 && (size_t)w < n - o ? o + (size_t)w : n - 1;
    }
    if (o && o + 1 < n) {
        out[o++] = ')';
        out[o] = '\0';
    }
    json_decref(causes);
}

static json_t *http_detail(const struct oktac_resp *r)
{
    json_t *d = json_pack("{s:i}", "http_status", (int)r->status);
    const char *keys[] = {"errorCode", "errorSummary", "errorId", NULL};

    for (int i = 0; keys[i]; i++) {
        json_t *v = json_object_get(r->json, keys[i]);
        if (json_is_string(v))
            json_object_set(d, keys[i], v);
    }
    if (json_object_get(r->json, "errorCauses"))
        json_object_set_new(d, "errorCauses", causes_of(r));
    if (r->request_id[0])
        json_object_set_new(d, "request_id", json_string(r->request_id));
    if (r->status == 429)
        json_object_set_new(d, "retry_after_ms", json_integer(r->retry_after_ms));
    return d;
}

static int code_for(long status)
{
    switch (status) {
    case 400: return IDF_EINVAL;
    case 401: return IDF_EAUTH;
    case 403: return IDF_EDENIED;
    case 404: return IDF_ENOTFOUND;
    case 409: return IDF_ESTATE;
    case 429: return IDF_EBUSY;
    default: return IDF_EREMOTE;
    }
}

/* "HTTP 400 E0000001 summary (causes) [request id]" into out. */
static void okta_text(const struct oktac_resp *r, char *out, size_t n)
{
    char causes[OKTAC_MAX_CAUSES_TEXT];
    const char *code = oktac__error_code(r);
    const char *summary = json_string_value(json_object_get(r->json, "errorSummary"));

    causes_text(r, causes, sizeof causes);
    snprintf(out, n, "HTTP %ld%s%s%s%s%s%s%s%s", r->status, *code ? " " : "", code, summary ? " " : "",
             summary                               ? summary
             : r->status >= 300 && r->status < 400 ? " (a redirect: not followed; check the org URL)"
             : r->json                             ? ""
                                                   : " (no Okta error object)",
             causes, r->request_id[0] ? " [request " : "", r->request_id, r->request_id[0] ? "]" : "");
}

/* Masks secret in every string of v, in place (v is a private copy). */
static void mask_strings(json_t *v, const char *secret)
{
    const char *key;
    json_t *x;
    size_t i;

    if (json_is_string(v)) {
        char *t = strdup(json_string_value(v));
        if (t && mask(t, secret))
            json_string_set(v, t);
        free(t);
    } else if (json_is_object(v)) {
        json_object_foreach (v, key, x)
            mask_strings(x, secret);
    } else if (json_is_array(v)) {
        json_array_foreach (v, i, x)
            mask_strings(x, secret);
    }
}

/* r with its error object replaced by a copy in which the connection's
 * secret is masked (the caller frees safe->json). Messages and details are
 * built from this copy, so a server echoing the credential in its error
 * never has it quoted, not even the part left when a length cap cuts it. */
static void resp_masked(const struct oktac *o, const struct oktac_resp *r, struct oktac_resp *safe)
{
    *safe = *r;
    safe->json = r->json ? json_deep_copy(r->json) : NULL;
    if (safe->json && o->secret)
        mask_strings(safe->json, o->secret);
}

int oktac__fail_http(struct oktac *o, const struct oktac_resp *r, const char *what)
{
    struct oktac_resp safe;
    char text[700];
    bool e112 = strcmp(oktac__error_code(r), "E0000112") == 0;
    /* An OAuth access token refused: forget it; the next attempt gets a new one. */
    bool stale_token = r->status == 401 && o->oauth_key[0];
    bool retry = r->status == 408 || r->status == 429 || r->status >= 500 || e112 || stale_token;
    int64_t after = r->status == 429 ? r->retry_after_ms : e112 ? OKTAC_TRANSITION_RETRY_MS : 0;
    int rc;

    if (stale_token)
        oktac__oauth_forget(o);
    resp_masked(o, r, &safe);
    okta_text(&safe, text, sizeof text);
    json_decref(o->res->detail);
    o->res->detail = http_detail(&safe);
    rc = oktac__fail(o, e112 ? IDF_EBUSY : code_for(r->status), retry, after, "%s: %s: %s", o->action, what, text);
    /* Okta refused before doing anything (rate limit, user still activating): not an attempt */
    o->res->deferred = r->status == 429 || e112;
    json_decref(safe.json);
    return rc;
}

int oktac__fail_state(struct oktac *o, const struct oktac_resp *r, int code, const char *fmt, ...)
{
    char text[700], msg[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(o->res->detail);
    if (r) {
        struct oktac_resp safe;
        resp_masked(o, r, &safe);
        o->res->detail = http_detail(&safe);
        okta_text(&safe, text, sizeof text);
        json_decref(safe.json);
        return oktac__fail(o, code, false, 0, "%s: %s (Okta: %s)", o->action, msg, text);
    }
    o->res->detail = json_object();
    return oktac__fail(o, code, false, 0, "%s: %s", o->action, msg);
}

/* ------------------------------------------------------------ buckets */

/* Okta's rate-limit buckets (rl-global-mgmt, the legacy page's rule: "Extensions to the base URLs listed
 * below are included in the specified limit, unless the URL is followed by 'only'"), by our names:
 *   users       GET|POST /api/v1/users, and GET|POST /api/v1/users/{id}/... (lifecycle, groups, ...)
 *   user        GET /api/v1/users/{idOrLogin} only
 *   user_write  POST|PUT|DELETE /api/v1/users/{id} only
 *   groups      /api/v1/groups, and /api/v1/groups/{id}/... (membership)
 *   group       /api/v1/groups/{id} only
 *   apps        /api/v1/apps, and /api/v1/apps/{id}/... (app users: 100 a minute on Workforce)
 *   app         /api/v1/apps/{id} only
 *   logs        /api/v1/logs
 *   token       /oauth2/v1/... (the org authorization server)
 *   other       the rest of /api/v1 (eventHooks; PUT/DELETE on a users sub-path, e.g. sessions: inferred)
 * The sandbox classifies on its own (src/sandbox/okta/rate.c); tests/unit/test_okta_buckets.c holds both to
 * one table. */
const char *oktac__bucket(const char *method, const char *path)
{
    char seg[3][64];
    int nseg = 0;
    const char *p;
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;

    if (strncmp(path, "/oauth2/", 8) == 0)
        return "token";
    if (strncmp(path, "/api/v1/", 8) != 0)
        return "other";
    p = path + 8;
    while (*p && *p != '?' && *p != '#') {
        size_t len = strcspn(p, "/?#");
        if (len == 0) { /* "//": skipped, as the server does */
            p++;
            continue;
        }
        if (nseg < 3)
            snprintf(seg[nseg], sizeof seg[0], "%.*s", (int)(len < 63 ? len : 63), p);
        nseg++;
        p += len;
        if (*p == '/')
            p++;
    }
    if (nseg == 0)
        return "other";
    if (strcmp(seg[0], "users") == 0) {
        if (nseg == 2)
            return get ? "user" : "user_write";
        return get || post ? "users" : "other";
    }
    if (strcmp(seg[0], "groups") == 0)
        return nseg == 2 ? "group" : "groups";
    if (strcmp(seg[0], "apps") == 0)
        return nseg == 2 ? "app" : "apps";
    if (strcmp(seg[0], "logs") == 0)
        return "logs";
    return "other";
}

/* ------------------------------------------------------------ requests */

/* Finds the rel="next" target in a Link header value ("<u>; rel=\"self\",
 * <v>; rel=\"next\""); a new string or NULL. */
static char *link_next(const char *link)
{
    const char *p = link;

    while (p && (p = strchr(p, '<')) != NULL) {
        const char *end = strchr(p, '>');
        if (!end)
            return NULL;
        const char *params = end + 1, *stop = params;
        while (*stop && *stop != '<')
            stop++;
        char tmp[64];
        size_t pl = (size_t)(stop - params);
        snprintf(tmp, sizeof tmp, "%.*s", (int)(pl < 63 ? pl : 63), params);
        if (strcasestr(tmp, "rel=\"next\"") || strcasestr(tmp, "rel=next"))
            return strndup(p + 1, (size_t)(end - p - 1));
        p = stop;
    }
    return NULL;
}

void oktac__resp_free(struct oktac_resp *r)
{
    if (!r)
        return;
    json_decref(r->json);
    json_decref(r->headers);
    free(r->next);
    memset(r, 0, sizeof *r);
}

/* Builds the absolute URL of path into *url_out (caller frees); a failure
 * when the path is malformed or points outside the org. */
static int target_url(struct oktac *o, const char *path, char **url_out)
{
    size_t nb = strlen(o->base);
    char *url = NULL;

    *url_out = NULL;
    if (strpbrk(path, "\r\n \t") || strlen(path) > OKTAC_MAX_URL - OKTAC_MAX_BASE)
        return oktac__fail(o, IDF_EINVAL, false, 0, "%s: invalid request path", o->action);
    if (path[0] == '/' && path[1] != '/') {
        if (asprintf(&url, "%s%s", o->base, path) < 0)
            url = NULL;
    } else if (strncmp(path, o->base, nb) == 0 && (path[nb] == '/' || path[nb] == '\0')) {
        url = strdup(path);
    } else {
        return oktac__fail(o, IDF_EDENIED, false, 0, "%s: refusing a URL outside the Okta org %s", o->action, o->base);
    }
    if (!url)
        return oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->action);
    *url_out = url;
    return 0;
}

/* "GET /api/v1/users/x" for messages: the path without the query. */
static void what_of(const struct oktac *o, const char *method, const char *path, char *out, size_t n)
{
    size_t nb = strlen(o->base);
    if (strncmp(path, o->base, nb) == 0)
        path += nb;
    snprintf(out, n, "%s %.*s", method, (int)strcspn(path, "?"), path);
}

int oktac__send(struct oktac *o, const char *method, const char *path, const json_t *body, struct oktac_resp *r)
{
    const char *headers[5];
    struct http_request rq;
    struct http_response hr;
    struct ratelimit_grant g;
    struct ratelimit_obs obs;
    struct idf_err err = {0};
    char what[300], *url = NULL, *text = NULL;
    const char *bucket;
    int64_t wait, tmo;
    int rc;

    memset(r, 0, sizeof *r);
    memset(&hr, 0, sizeof hr);
    what_of(o, method, path, what, sizeof what);
    rc = target_url(o, path, &url);
    if (rc)
        return rc;
    bucket = oktac__bucket(method, url + strlen(o->base));
    wait = ratelimit_acquire(o->scope, bucket, time_now_ms(), o->sent > 0, &g);
    if (wait > 0) {
        json_decref(o->res->detail);
        o->res->detail = json_pack("{s:b, s:b, s:s, s:I}", "rate_limited", 1, "sent", 0, "bucket", bucket,
                                   "retry_after_ms", (json_int_t)wait);
        rc = oktac__fail(o, IDF_EBUSY, true, wait,
                         "%s: %s: paced by the rate limiter (connection '%s', bucket %s); next call in %lld ms",
                         o->action, what, o->conn_name, bucket, (long long)wait);
        o->res->deferred = true; /* nothing of this request was sent: not an attempt */
        goto out;
    }
    if (body) {
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) {
            ratelimit_release(&g, NULL);
            rc = oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->action);
            goto out;
        }
    }
    headers[0] = "Accept: application/json";
    headers[1] = "Content-Type: application/json";
    headers[2] = o->auth;
    headers[3] = NULL;
    tmo = o->call->timeout_ms > 0 && o->call->timeout_ms < OKTAC_TIMEOUT_MS ? o->call->timeout_ms : OKTAC_TIMEOUT_MS;
    memset(&rq, 0, sizeof rq);
    rq.method = method;
    rq.url = url;
    rq.headers = headers;
    rq.body = text;
    rq.body_len = text ? strlen(text) : 0;
    rq.timeout_ms = tmo;
    rq.connect_timeout_ms = OKTAC_CONNECT_TIMEOUT_MS;
    rq.max_response = OKTAC_MAX_RESPONSE;
    rq.https_only = !o->sandbox;
    http_client_set_user_agent(o->call->http, OKTAC_USER_AGENT);
    o->sent++;
    rc = http_client_do(o->call->http, &rq, &hr, &err);
    if (rc) {
        bool retry = rc == IDF_EIO || rc == IDF_ETIMEOUT || rc == IDF_ENOMEM;
        ratelimit_release(&g, NULL);
        json_decref(o->res->detail);
        o->res->detail = json_pack("{s:b, s:s}", "network_error", 1, "request", what);
        rc = oktac__fail(o, rc, retry, 0, "%s: %s: %s", o->action, what, err.msg);
        goto out;
    }
    ratelimit_parse_headers(hr.headers, hr.status, time_now_ms(), &obs);
    {
        int learned = ratelimit_release(&g, &obs);
        if (learned > 0)
            log_warn("okta connection '%s': Okta answered 429 in bucket %s while its headers showed %ld of %ld "
                     "calls left org-wide: this credential's share of each bucket looks like %d %%, not more; "
                     "idflow paces at %d %% from now on (set rate_share: %d on the connection to start there)",
                     o->conn_name, bucket, obs.remaining, obs.limit, learned, learned, learned);
    }
    r->status = hr.status;
    r->headers = hr.headers;
    hr.headers = NULL;
    if (hr.body.len > 0)
        r->json = json_loadb(hr.body.data, hr.body.len, JSON_DECODE_ANY, NULL);
    snprintf(r->request_id, sizeof r->request_id, "%s",
             json_string_value(json_object_get(r->headers, "x-okta-request-id")) ?: "");
    if (r->request_id[0])
        snprintf(o->request_id, sizeof o->request_id, "%s", r->request_id);
    if (r->status == 429)
        r->retry_after_ms = ratelimit_retry_after_ms(&obs);
    {
        const char *link = json_string_value(json_object_get(r->headers, "link"));
        char *next = link ? link_next(link) : NULL;
        size_t nb = strlen(o->base);
        /* Follow only links back to the org itself (never send the token elsewhere). */
        if (next && strncmp(next, o->base, nb) == 0 && next[nb] == '/')
            r->next = next;
        else
            free(next);
    }
    rc = 0;
out:
    http_response_free(&hr);
    free(url);
    free(text);
    return rc;
}

int oktac__call(struct oktac *o, const char *method, const char *path, const json_t *body, struct oktac_resp *r,
                const char *what)
{
    char w[300];
    int rc = oktac__send(o, method, path, body, r);

    if (rc)
        return rc;
    if (!oktac__ok(r)) {
        if (!what) {
            what_of(o, method, path, w, sizeof w);
            what = w;
        }
        return oktac__fail_http(o, r, what);
    }
    return 0;
}

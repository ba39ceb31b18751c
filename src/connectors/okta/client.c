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
 * The session itself (the connection checked, the credential copied, masked
 * and wiped, the request sent, the status mapped) is the connector
 * toolkit's (connectors/toolkit.h); this file adds what is Okta's: the SSWS
 * or OAuth Bearer header, the rate-limit scope and buckets, Okta's error
 * object (errorCode, errorSummary, errorCauses) and E0000112.
 *
 * Invariants: messages are built from the method, the path and a copy of
 * Okta's error object in which the secret is masked before any length cap
 * can cut it, never from request headers; oktac__close (ctk_close) masks
 * the secret in the message and drops any detail or output that still
 * contains it (defence in depth: e.g. an okta.request echo). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/okta/okta_internal.h"
#include "core/log.h"
#include "crypto/dpop.h"
#include "core/timeutil.h"
#include "net/http.h"

#define OKTAC_MAX_CAUSES_TEXT 400 /* errorCauses quoted in a message */

/* What the toolkit needs to know of Okta (see ctk_kind). */
static const struct ctk_kind okta_kind = {
    .connector = "okta", .product = "Okta", .normalize_url = oktac__normalize_url, .max_base = OKTAC_MAX_BASE,
    .user_agent = OKTAC_USER_AGENT, .timeout_ms = OKTAC_TIMEOUT_MS, .connect_timeout_ms = OKTAC_CONNECT_TIMEOUT_MS,
    .max_response = OKTAC_MAX_RESPONSE};

/* ---------------------------------------------------------------- open */

int oktac__open(struct oktac *o, struct conn_call *call, struct conn_result *res, const char *action)
{
    const json_t *conn = call->connection;
    const char *token;
    int rc;

    memset(o, 0, sizeof *o);
    rc = ctk_open(&o->s, &okta_kind, call, res, action);
    if (rc)
        return rc;
    snprintf(o->scope, sizeof o->scope, "%.120s|%.*s", o->s.conn_name, (int)(sizeof o->scope - 130), o->s.base);
    {
        const json_t *conc = json_object_get(conn, "max_concurrency");
        const json_t *share = json_object_get(conn, "rate_share");
        /* Okta holds one API token or OAuth app to 50 % of each bucket by
         * default while its headers show the org-wide figures: pace to that
         * unless the connection says otherwise (a 429 can lower it further). */
        ratelimit_configure(o->scope, json_is_integer(conc) ? (int)json_integer_value(conc) : 0,
                            json_is_integer(share) ? (int)json_integer_value(share) : OKTAC_DEFAULT_RATE_SHARE);
    }
    if (call->coord) { /* several nodes: each takes its part of the cap and the pace (net/ratelimit.h) */
        int nodes = 1;
        if (call->coord->ops->nodes(call->coord->ctx, &nodes) != 0)
            log_warn("okta: could not count the live nodes (the store failed); using the last count, %d", nodes);
        ratelimit_nodes(o->scope, nodes);
    }

    if (json_is_string(json_object_get(conn, "client_id"))) {
        char *access = NULL;
        rc = oktac__oauth_token(o, conn, &access, &o->dpop_key);
        if (rc)
            return rc;
        /* a DPoP-bound token goes with the DPoP scheme and a proof per request (oktac__send) */
        if (ctk_secret_take(&o->s, access) ||
            ctk_auth_set(&o->s, "Authorization: %s %s", o->dpop_key ? "DPoP" : "Bearer", o->s.secrets[0]))
            return oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", action);
    } else {
        token = json_string_value(json_object_get(conn, "token"));
        if (!token || !*token)
            return oktac__fail(o, IDF_EAUTH, false, 0, "%s: connection '%s' has no API token", action,
                               o->s.conn_name);
        if (strlen(token) > OKTAC_MAX_TOKEN || strpbrk(token, "\r\n"))
            return oktac__fail(o, IDF_EAUTH, false, 0, "%s: connection '%s': the API token is malformed", action,
                               o->s.conn_name);
        if (ctk_secret_add(&o->s, token) || ctk_auth_set(&o->s, "Authorization: SSWS %s", token))
            return oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", action);
    }
    return 0;
}

int oktac__close(struct oktac *o, int rc)
{
    if (o->s.res)
        oktac__report_change(o, rc); /* issue 17: what the call changed, before the scrub */
    EVP_PKEY_free(o->dpop_key);
    o->dpop_key = NULL;
    return ctk_close(&o->s, rc);
}

/* ------------------------------------------------------------ failures */

/* The value of parameter name (e.g. "error") in a WWW-Authenticate
 * challenge of scheme ("DPoP") into out; false when absent. Quoted values
 * are copied up to the closing quote, at most n - 1 bytes. */
static bool challenge_param(const char *header, const char *scheme, const char *name, char *out, size_t n)
{
    const char *p = header ? strcasestr(header, scheme) : NULL;
    size_t nl = strlen(name);

    out[0] = '\0';
    if (!p || (p != header && p[-1] != ' ' && p[-1] != ','))
        return false;
    for (p += strlen(scheme); (p = strcasestr(p, name)) != NULL; p += nl) {
        if ((p[-1] != ' ' && p[-1] != ',') || p[nl] != '=')
            continue;
        p += nl + 1;
        size_t len = *p == '"' ? strcspn(p + 1, "\"") : strcspn(p, " ,");
        if (*p == '"')
            p++;
        snprintf(out, n, "%.*s", (int)len, p);
        return true;
    }
    return false;
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

/* r with its error object replaced by a copy in which the connection's
 * secret is masked (the caller frees safe->json). Messages and details are
 * built from this copy, so a server echoing the credential in its error
 * never has it quoted, not even the part left when a length cap cuts it. */
static void resp_masked(const struct oktac *o, const struct oktac_resp *r, struct oktac_resp *safe)
{
    *safe = *r;
    safe->json = ctk_masked_copy(&o->s, r->json);
}

int oktac__fail_http(struct oktac *o, const struct oktac_resp *r, const char *what)
{
    struct oktac_resp safe;
    char text[700];
    bool e112 = strcmp(oktac__error_code(r), "E0000112") == 0;
    /* An OAuth access token refused: forget it; the next attempt gets a new one. */
    bool stale_token = r->status == 401 && o->oauth_key[0];
    bool retry = ctk_status_retryable(r->status) || e112 || stale_token;
    int64_t after = r->status == 429 ? r->retry_after_ms : e112 ? OKTAC_TRANSITION_RETRY_MS : 0;
    int rc;

    if (stale_token)
        oktac__oauth_forget(o);
    resp_masked(o, r, &safe);
    okta_text(&safe, text, sizeof text);
    if (r->status == 401 && o->dpop_key) { /* what the API said of the DPoP proof or token (RFC 9449 §7.1) */
        const char *wa = json_string_value(json_object_get(r->headers, "www-authenticate"));
        char err[64], desc[200];
        if (challenge_param(wa, "DPoP", "error", err, sizeof err)) {
            challenge_param(wa, "DPoP", "error_description", desc, sizeof desc);
            size_t used = strlen(text);
            snprintf(text + used, sizeof text - used, " (DPoP: %s%s%s)", err, desc[0] ? ": " : "", desc);
            ctk_mask(&o->s, text);
        }
    }
    json_decref(o->s.res->detail);
    o->s.res->detail = http_detail(&safe);
    rc = oktac__fail(o, e112 ? IDF_EBUSY : ctk_status_code(r->status), retry, after, "%s: %s: %s", o->s.action, what, text);
    /* Okta refused before doing anything (rate limit, user still activating): not an attempt */
    o->s.res->deferred = r->status == 429 || e112;
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
    json_decref(o->s.res->detail);
    if (r) {
        struct oktac_resp safe;
        resp_masked(o, r, &safe);
        o->s.res->detail = http_detail(&safe);
        okta_text(&safe, text, sizeof text);
        json_decref(safe.json);
        return oktac__fail(o, code, false, 0, "%s: %s (Okta: %s)", o->s.action, msg, text);
    }
    o->s.res->detail = json_object();
    return oktac__fail(o, code, false, 0, "%s: %s", o->s.action, msg);
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
    size_t nb = strlen(o->s.base);
    char *url = NULL;

    *url_out = NULL;
    if (strpbrk(path, "\r\n \t") || strlen(path) > OKTAC_MAX_URL - OKTAC_MAX_BASE)
        return oktac__fail(o, IDF_EINVAL, false, 0, "%s: invalid request path", o->s.action);
    if (path[0] == '/' && path[1] != '/') {
        if (asprintf(&url, "%s%s", o->s.base, path) < 0)
            url = NULL;
    } else if (strncmp(path, o->s.base, nb) == 0 && (path[nb] == '/' || path[nb] == '\0')) {
        url = strdup(path);
    } else {
        return oktac__fail(o, IDF_EDENIED, false, 0, "%s: refusing a URL outside the Okta org %s", o->s.action, o->s.base);
    }
    if (!url)
        return oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
    *url_out = url;
    return 0;
}

/* "GET /api/v1/users/x" for messages: the path without the query. */
static void what_of(const struct oktac *o, const char *method, const char *path, char *out, size_t n)
{
    size_t nb = strlen(o->s.base);
    if (strncmp(path, o->s.base, nb) == 0)
        path += nb;
    snprintf(out, n, "%s %.*s", method, (int)strcspn(path, "?"), path);
}

/* One request: paced, with a fresh DPoP proof when the token is DPoP-bound,
 * its answer in r. *nonce_challenge is set when the API refused with
 * `WWW-Authenticate: DPoP error="use_dpop_nonce"` and sent a new nonce. */
static int send_once(struct oktac *o, const char *method, const char *url, const char *what, const char *bucket,
                     const char *text, struct oktac_resp *r, bool *nonce_challenge)
{
    const char *headers[] = {"Accept: application/json", "Content-Type: application/json", NULL, NULL};
    struct ctk_request rq = {0};
    struct http_response hr;
    struct ratelimit_grant g;
    struct ratelimit_obs obs;
    char *dpop_line = NULL, *proof = NULL;
    int64_t wait;
    int rc;

    memset(&hr, 0, sizeof hr);
    *nonce_challenge = false;
    wait = ratelimit_acquire(o->scope, bucket, time_now_ms(), o->sent > 0, &g);
    if (wait > 0) {
        json_decref(o->s.res->detail);
        o->s.res->detail = json_pack("{s:b, s:b, s:s, s:I}", "rate_limited", 1, "sent", 0, "bucket", bucket,
                                     "retry_after_ms", (json_int_t)wait);
        rc = oktac__fail(o, IDF_EBUSY, true, wait,
                         "%s: %s: paced by the rate limiter (connection '%s', bucket %s); next call in %lld ms",
                         o->s.action, what, o->s.conn_name, bucket, (long long)wait);
        o->s.res->deferred = true; /* nothing of this request was sent: not an attempt */
        return rc;
    }
    if (o->dpop_key) { /* RFC 9449 §7: a proof per request, bound to the token by ath */
        char nonce[DPOP_MAX_NONCE];
        oktac__dpop_nonce(o, nonce, sizeof nonce);
        proof = dpop_proof(o->dpop_key, method, url, nonce, o->s.secrets[0]);
        if (!proof || asprintf(&dpop_line, "DPoP: %s", proof) < 0) {
            free(proof);
            ratelimit_release(&g, NULL);
            return oktac__fail(o, IDF_ENOMEM, true, 0, "%s: %s: cannot make the DPoP proof", o->s.action, what);
        }
        free(proof);
        headers[2] = dpop_line;
    }
    rq = (struct ctk_request){
        .method = method, .url = url, .what = what, .headers = headers, .body = text, .body_len = text ? strlen(text) : 0};
    o->sent++;
    rc = ctk_send(&o->s, &rq, &hr);
    free(dpop_line);
    if (rc) {
        ratelimit_release(&g, NULL);
        goto out;
    }
    ratelimit_parse_headers(hr.headers, hr.status, time_now_ms(), &obs);
    {
        int learned = ratelimit_release(&g, &obs);
        if (learned > 0)
            log_warn("okta connection '%s': Okta answered 429 in bucket %s while its headers showed %ld of %ld "
                     "calls left org-wide: this credential's share of each bucket looks like %d %%, not more; "
                     "idflow paces at %d %% from now on (set rate_share: %d on the connection to start there)",
                     o->s.conn_name, bucket, obs.remaining, obs.limit, learned, learned, learned);
    }
    r->status = hr.status;
    r->headers = hr.headers;
    hr.headers = NULL;
    if (o->dpop_key) { /* keep the API's newest nonce; answer its challenge once */
        const char *nonce = json_string_value(json_object_get(r->headers, "dpop-nonce"));
        char err[64];
        oktac__dpop_nonce_keep(o, nonce);
        *nonce_challenge = r->status == 401 && oktac__dpop_nonce_ok(nonce) &&
                           challenge_param(json_string_value(json_object_get(r->headers, "www-authenticate")), "DPoP",
                                           "error", err, sizeof err) &&
                           strcmp(err, "use_dpop_nonce") == 0;
    }
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
        size_t nb = strlen(o->s.base);
        /* Follow only links back to the org itself (never send the token elsewhere). */
        if (next && strncmp(next, o->s.base, nb) == 0 && next[nb] == '/')
            r->next = next;
        else
            free(next);
    }
    rc = 0;
out:
    http_response_free(&hr);
    return rc;
}

int oktac__send(struct oktac *o, const char *method, const char *path, const json_t *body, struct oktac_resp *r)
{
    char what[300], *url = NULL, *text = NULL;
    const char *bucket;
    bool challenge = false;
    int rc;

    memset(r, 0, sizeof *r);
    what_of(o, method, path, what, sizeof what);
    rc = target_url(o, path, &url);
    if (rc)
        return rc;
    bucket = oktac__bucket(method, url + strlen(o->s.base));
    if (body) {
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) {
            rc = oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
            goto out;
        }
    }
    rc = send_once(o, method, url, what, bucket, text, r, &challenge);
    if (rc == 0 && challenge) { /* RFC 9449 §9: the API wants its nonce in the proof: once more with it */
        oktac__resp_free(r);
        rc = send_once(o, method, url, what, bucket, text, r, &challenge);
    }
out:
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

/* request.c — the connector toolkit's requests (toolkit.h, prefix ctk_): one
 * HTTP request with the connector's caps, timeouts and headers plus the
 * session's auth line; network failures, and answers outside 2xx, written
 * onto the step's conn_result with the status mapped to an IDF_E* code and
 * a retry decision.
 *
 * Leaves to others: the HTTP mechanics (net/http_client.c: no redirects,
 * the response cap, Content-Length: 0 on a body-less POST/PUT), pacing
 * (the connector's), what an error body says (the connector's parser).
 *
 * Threads: the calling worker's, with its http client; no state. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/toolkit.h"
#include "core/buf.h"
#include "net/http.h"

int ctk_send(struct ctk_session *s, const struct ctk_request *rq, struct http_response *hr)
{
    const struct ctk_kind *k = s->kind;
    const char *headers[CTK_MAX_HEADERS + 2];
    struct http_request h = {0};
    struct idf_err err = {0};
    int64_t tmo = s->call->timeout_ms > 0 && s->call->timeout_ms < k->timeout_ms ? s->call->timeout_ms : k->timeout_ms;
    int n = 0, rc;

    memset(hr, 0, sizeof *hr);
    for (; rq->headers && rq->headers[n] && n < CTK_MAX_HEADERS; n++)
        headers[n] = rq->headers[n];
    if (s->auth)
        headers[n++] = s->auth;
    headers[n] = NULL;
    h = (struct http_request){.method = rq->method,
                              .url = rq->url,
                              .headers = headers,
                              .body = rq->body,
                              .body_len = rq->body_len,
                              .timeout_ms = tmo,
                              .connect_timeout_ms = k->connect_timeout_ms,
                              .max_response = k->max_response,
                              .https_only = !s->sandbox,
                              .fresh_connection = rq->fresh_connection};
    if (k->user_agent)
        http_client_set_user_agent(s->call->http, k->user_agent);
    rc = http_client_do(s->call->http, &h, hr, &err);
    if (rc) {
        bool retry = rc == IDF_EIO || rc == IDF_ETIMEOUT || rc == IDF_ENOMEM;
        ctk_detail(s, json_pack("{s:b, s:s}", "network_error", 1, "request", rq->what));
        rc = ctk_fail(s, rc, retry, 0, "%s: %s: %s", s->action, rq->what, err.msg);
    }
    return rc;
}

int ctk_answer_json(struct ctk_session *s, const char *what, const struct http_response *hr, json_t *json,
                    const char *hint, json_t **json_out)
{
    *json_out = NULL;
    if (hr->body.len > 0 && !json) {
        ctk_detail(s, json_pack("{s:i, s:s}", "http_status", (int)hr->status, "request", what));
        return ctk_fail(s, IDF_EREMOTE, false, 0, "%s: %s: HTTP %ld with an answer that is not JSON%s", s->action, what,
                        hr->status, hint);
    }
    *json_out = json ? json : json_null();
    return 0;
}

int ctk_status_code(long status)
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

bool ctk_status_retryable(long status)
{
    return status == 408 || status == 429 || status >= 500;
}

int64_t ctk_retry_after_ms(const json_t *headers)
{
    const char *v = json_string_value(json_object_get(headers, "retry-after"));
    char *end = NULL;
    long long sec;

    if (!v)
        return -1;
    sec = strtoll(v, &end, 10);
    if (end == v || sec < 0)
        return -1;
    return sec > CTK_MAX_RETRY_AFTER_MS / 1000 ? CTK_MAX_RETRY_AFTER_MS : sec * 1000;
}

int ctk_fail_http(struct ctk_session *s, const char *what, const struct http_response *hr, ctk_error_body_fn parse)
{
    char text[CTK_ERROR_TEXT] = "";
    json_t *j = hr->body.len ? json_loadb(hr->body.data, hr->body.len, JSON_DECODE_ANY, NULL) : NULL;
    int64_t after = 0;
    bool retry = ctk_status_retryable(hr->status);

    if (parse)
        parse(j, &hr->body, text, sizeof text);
    for (char *p = text; *p; p++) { /* one line, printable */
        if (!isprint((unsigned char)*p))
            *p = ' ';
    }
    ctk_mask(s, text); /* before the message cuts it: no part of a secret is left */
    if (hr->status == 429) {
        after = ctk_retry_after_ms(hr->headers);
        if (after < 0)
            after = CTK_RETRY_AFTER_DEFAULT_MS;
    }
    ctk_detail(s, json_pack("{s:i, s:s}", "http_status", (int)hr->status, "request", what));
    json_decref(j);
    return ctk_fail(s, ctk_status_code(hr->status), retry, after, "%s: %s: HTTP %ld: %s", s->action, what, hr->status,
                    text[0] ? text : "(no error text)");
}

int ctk_call(struct ctk_session *s, const char *method, const char *path, const json_t *body, ctk_error_body_fn parse,
             json_t **json_out)
{
    const char *headers[] = {"Accept: application/json", body ? "Content-Type: application/json" : NULL, NULL};
    struct http_response hr;
    struct ctk_request rq = {0};
    char what[300], *url = NULL, *text = NULL;
    json_t *j = NULL;
    int rc;

    *json_out = NULL;
    memset(&hr, 0, sizeof hr);
    snprintf(what, sizeof what, "%s %.*s", method, (int)strcspn(path, "?"), path);
    if (path[0] != '/' || path[1] == '/' || strlen(path) > CTK_MAX_PATH || strpbrk(path, "\r\n \t"))
        return ctk_fail(s, IDF_EINVAL, false, 0, "%s: %s: invalid request path", s->action, what);
    if (asprintf(&url, "%s%s", s->base, path) < 0) {
        url = NULL;
        rc = ctk_fail(s, IDF_ENOMEM, true, 0, "%s: out of memory", s->action);
        goto out;
    }
    if (body && !(text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY))) {
        rc = ctk_fail(s, IDF_ENOMEM, true, 0, "%s: out of memory", s->action);
        goto out;
    }
    rq = (struct ctk_request){.method = method,
                              .url = url,
                              .what = what,
                              .headers = headers,
                              .body = text,
                              .body_len = text ? strlen(text) : 0,
                              .fresh_connection = strcmp(method, "GET") != 0};
    rc = ctk_send(s, &rq, &hr);
    if (rc)
        goto out;
    if (hr.status < 200 || hr.status >= 300) {
        rc = ctk_fail_http(s, what, &hr, parse);
        goto out;
    }
    if (hr.body.len > 0)
        j = json_loadb(hr.body.data, hr.body.len, JSON_DECODE_ANY, NULL);
    rc = ctk_answer_json(s, what, &hr, j, "", json_out);
out:
    http_response_free(&hr);
    free(url);
    free(text);
    return rc;
}

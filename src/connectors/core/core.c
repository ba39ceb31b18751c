/* core.c — the `core` connector: the generic http.request action, the
 * control steps (set, delay, fail, approval: carried out by the engine, only
 * described here), the `manual` trigger and the `schedule` trigger (its
 * parameters are checked here; the ticker that raises its events is
 * src/engine/schedule.c).
 *
 * http.request runs on worker threads with the thread's http client; it keeps
 * no state of its own. Plain http:// is refused unless the URL is loopback or
 * the workflow opted in (`allow_http: true`). Its URL is often built from
 * event data, so it is treated as hostile: unless the workflow opted in
 * (`allow_private_network: true`) the client connects to public addresses
 * only (http_request.public_only: the address connected to is judged, not
 * the host name), so a workflow cannot reach idflow's own API, the sandbox,
 * cloud metadata or the internal network. Redirects are never followed. */
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "connectors/toolkit.h"
#include "core/buf.h"
#include "core/cron.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "net/http.h"

#define HTTP_ACTION_MAX_HEADERS 32
#define HTTP_ACTION_TIMEOUT_MS 30000

static const struct conn_param http_params[] = {
    {"method", CONN_P_STRING, false, "GET (default), POST, PUT, PATCH, DELETE or HEAD"},
    {"url", CONN_P_STRING, true,
     "https URL (plain http only for loopback or with allow_http; private addresses only with "
     "allow_private_network)"},
    {"headers", CONN_P_OBJECT, false, "request headers, name to value"},
    {"query", CONN_P_OBJECT, false, "query parameters, name to value (URL-encoded for you)"},
    {"json", CONN_P_ANY, false, "a JSON body (sets Content-Type: application/json)"},
    {"body", CONN_P_STRING, false, "a text body"},
    {"timeout", CONN_P_DURATION, false, "whole-request timeout (default 30s)"},
    {NULL, 0, false, NULL},
};

static bool method_ok(const char *m)
{
    static const char *const ok[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};
    for (int i = 0; ok[i]; i++) {
        if (strcmp(ok[i], m) == 0)
            return true;
    }
    return false;
}

static char *value_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static int http_request_fn(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    const char *method = "GET";
    const json_t *hdrs = json_object_get(params, "headers");
    const json_t *query = json_object_get(params, "query");
    const json_t *jbody = json_object_get(params, "json");
    const json_t *tbody = json_object_get(params, "body");
    const json_t *timeout = json_object_get(params, "timeout");
    const char *header_list[HTTP_ACTION_MAX_HEADERS + 2];
    char *owned[HTTP_ACTION_MAX_HEADERS + 1];
    int n_h = 0;
    char *url = NULL;
    char *body = NULL;
    struct http_request rq;
    struct http_response rs;
    struct idf_err err;
    json_t *out = NULL;
    json_t *parsed = NULL;
    int rc = 0;

    memset(&rs, 0, sizeof rs);
    memset(owned, 0, sizeof owned);
    if (json_is_string(json_object_get(params, "method")))
        method = json_string_value(json_object_get(params, "method"));
    if (!method_ok(method)) {
        rc = conn_fail(res, IDF_EINVAL, false, "http.request: unsupported method '%s'", method);
        goto out;
    }
    if (jbody && tbody && !json_is_null(jbody) && !json_is_null(tbody)) {
        rc = conn_fail(res, IDF_EINVAL, false, "http.request: give either 'json' or 'body', not both");
        goto out;
    }
    url = query && json_is_object(query)
              ? http_url_with_query(json_string_value(json_object_get(params, "url")), query, HTTP_MAX_URL)
              : strdup(json_string_value(json_object_get(params, "url")));
    if (!url) {
        rc = conn_fail(res, IDF_ETOOBIG, false, "http.request: URL too long");
        goto out;
    }
    if (hdrs && json_is_object(hdrs)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)hdrs, k, v)
        {
            char *text;
            if (n_h >= HTTP_ACTION_MAX_HEADERS) {
                rc = conn_fail(res, IDF_EINVAL, false, "http.request: more than %d headers",
                               HTTP_ACTION_MAX_HEADERS);
                goto out;
            }
            if (strpbrk(k, "\r\n:") || !*k) {
                rc = conn_fail(res, IDF_EINVAL, false, "http.request: invalid header name '%s'", k);
                goto out;
            }
            text = value_text(v);
            if (!text || strpbrk(text, "\r\n")) {
                free(text);
                rc = conn_fail(res, IDF_EINVAL, false, "http.request: invalid value for header '%s'", k);
                goto out;
            }
            if (asprintf(&owned[n_h], "%s: %s", k, text) < 0)
                owned[n_h] = NULL;
            free(text);
            if (!owned[n_h]) {
                rc = conn_fail(res, IDF_ENOMEM, false, "out of memory");
                goto out;
            }
            header_list[n_h] = owned[n_h];
            n_h++;
        }
    }
    if (jbody && !json_is_null(jbody)) {
        body = json_dumps(jbody, JSON_ENCODE_ANY | JSON_COMPACT);
        header_list[n_h++] = "Content-Type: application/json";
    } else if (tbody && json_is_string(tbody)) {
        body = strdup(json_string_value(tbody));
    }
    header_list[n_h] = NULL;

    rq = (struct http_request){.method = method,
                               .url = url,
                               .headers = header_list,
                               .body = body,
                               .body_len = body ? strlen(body) : 0,
                               .timeout_ms = HTTP_ACTION_TIMEOUT_MS};
    if (timeout) {
        int64_t ms = 0;
        if (json_is_integer(timeout))
            ms = json_integer_value(timeout) * 1000;
        else if (time_parse_duration(json_string_value(timeout), &ms))
            ms = 0;
        if (ms <= 0) {
            rc = conn_fail(res, IDF_EINVAL, false, "http.request: invalid timeout");
            goto out;
        }
        rq.timeout_ms = ms;
    }
    if (call->timeout_ms > 0 && call->timeout_ms < rq.timeout_ms)
        rq.timeout_ms = call->timeout_ms;
    rq.https_only = !call->allow_http;
    rq.public_only = !call->allow_private_network;

    idf_err_clear(&err);
    rc = http_client_do(call->http, &rq, &rs, &err);
    if (rc) {
        conn_fail(res, rc, rc != IDF_EDENIED && rc != IDF_EINVAL, "http.request: %s", err.msg);
        if (rc == IDF_EDENIED && rs.denied_address)
            snprintf(res->message, sizeof res->message,
                     "http.request: %s; set allow_private_network: true in the workflow to allow private "
                     "destinations", err.msg);
        else if (rc == IDF_EDENIED)
            snprintf(res->message, sizeof res->message,
                     "http.request: %s (plain http is allowed only for loopback, or with "
                     "`allow_http: true` in the workflow)", err.msg);
        goto out;
    }

    out = json_object();
    json_object_set_new(out, "status", json_integer(rs.status));
    json_object_set_new(out, "headers", rs.headers ? json_incref(rs.headers) : json_object());
    {
        const char *ct = rs.headers ? json_string_value(json_object_get(rs.headers, "content-type")) : NULL;
        if (ct && strstr(ct, "json") && rs.body.len)
            parsed = json_loadb(rs.body.data, rs.body.len, JSON_DECODE_ANY, NULL);
        if (parsed)
            json_object_set_new(out, "json", parsed);
        else
            json_object_set_new(out, "body", json_stringn(rs.body.data ? rs.body.data : "", rs.body.len));
        if (!json_object_get(out, "body") && !parsed)
            json_object_set_new(out, "body", json_string(""));
    }
    if (rs.status >= 400) {
        bool retry = ctk_status_retryable(rs.status);
        rc = conn_fail(res, IDF_EREMOTE, retry, "http.request: %s %s answered HTTP %ld", method,
                       json_string_value(json_object_get(params, "url")), rs.status);
        res->detail = out;
        out = NULL;
        goto out;
    }
    res->output = out;
    out = NULL;
out:
    for (int i = 0; i < HTTP_ACTION_MAX_HEADERS + 1; i++)
        free(owned[i]);
    json_decref(out);
    http_response_free(&rs);
    free(url);
    free(body);
    return rc;
}

static const struct conn_param set_params[] = {{NULL, 0, false, NULL}};
static const struct conn_param delay_params[] = {
    {"duration", CONN_P_DURATION, true, "how long the run waits (durably: a restart does not reset it)"},
    {NULL, 0, false, NULL},
};
static const struct conn_param fail_params[] = {
    {"message", CONN_P_STRING, true, "why the run fails"},
    {NULL, 0, false, NULL},
};
static const struct conn_param approval_params[] = {
    {"message", CONN_P_STRING, false, "what the approver is asked"},
    {"timeout", CONN_P_DURATION, false, "how long to wait before the step fails (default 7d)"},
    {NULL, 0, false, NULL},
};

static const struct conn_action core_actions[] = {
    {.name = "http.request",
     .doc = "Calls any HTTP API. A status >= 400 fails the step with the response attached (retryable for "
            "408, 429 and 5xx). Redirects are not followed. Loopback, private, link-local and other "
            "non-public addresses are refused (the address connected to is checked, after DNS) unless the "
            "workflow says allow_private_network: true.",
     .params = http_params,
     .kind = CONN_K_ACTION,
     .fn = http_request_fn,
     .effect = CONN_EFFECT_CHANGE,
     .output_doc = "status, headers, and json (when the response is JSON) or body"},
    {.name = "set",
     .doc = "Computes values into .vars: every parameter becomes .vars.<name>.",
     .params = set_params,
     .kind = CONN_K_SET,
     .output_doc = "the values set"},
    {.name = "delay",
     .doc = "Waits for a duration. The wait is durable: it survives restarts.",
     .params = delay_params,
     .kind = CONN_K_DELAY,
     .output_doc = "waited_ms"},
    {.name = "fail", .doc = "Ends the run as failed with a message.", .params = fail_params, .kind = CONN_K_FAIL},
    {.name = "approval",
     .doc = "Waits until someone approves or rejects the run (idflow approve|reject RUN, or the API). "
            "Rejection or the timeout fails the step.",
     .params = approval_params,
     .kind = CONN_K_APPROVAL,
     .output_doc = "approved, actor"},
    {.name = NULL},
};

static const struct conn_param manual_params[] = {{NULL, 0, false, NULL}};
static const struct conn_param schedule_params[] = {
    {"cron", CONN_P_STRING, true,
     "when: minute hour day-of-month month day-of-week (a 6-field expression starts with seconds)"},
    {"timezone", CONN_P_STRING, false, "IANA time zone the expression is read in (default UTC)"},
    {NULL, 0, false, NULL},
};

/* schedule: the cron expression parses and the zone exists. */
static int schedule_validate(const json_t *params, const char **param_out, struct idf_err *err)
{
    const char *cron = json_string_value(json_object_get(params, "cron"));
    const char *tz = json_string_value(json_object_get(params, "timezone"));
    struct cron_expr c;
    int rc;

    if (cron && (rc = cron_parse(cron, &c, err)) != 0) {
        *param_out = "cron";
        return rc;
    }
    if (tz && (rc = cron_tz_check(tz, err)) != 0) {
        *param_out = "timezone";
        return rc;
    }
    return 0;
}

static const struct conn_trigger core_triggers[] = {
    {.name = "manual",
     .doc = "Started by name from the CLI, the console or POST /api/v1/events, with the caller's JSON as "
            ".event.data; `inputs:` declares what that data holds (checked before a run starts).",
     .params = manual_params,
     .takes_inputs = true},
    {"schedule",
     "Started by the clock at each tick of a cron expression, once per tick even across restarts and "
     "nodes; .event.data is {scheduled_for, fired_at, timezone}.",
     schedule_params, NULL, schedule_validate},
    {.name = "idflow.guardrail_tripped",
     .doc = "A connection's budget of destructive calls was spent (issue 19): the step that would have gone "
            "over it, and every later destructive step on that connection, is held until an admin releases "
            "or rejects it. Raised once per trip, with .event.connection, and .event.data {connection, "
            "budget, run, workflow, step, action, target, held}: for alert workflows (a ticket, a page)."},
    {.name = NULL},
};

const struct connector connector_core = {
    .name = "core",
    .actions = core_actions,
    .triggers = core_triggers,
};

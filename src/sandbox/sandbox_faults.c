/* sandbox_faults.c — fault injection: errors, latency, dropped connections
 * and 429 bursts, per path prefix, from `--faults` or /_sandbox/faults.
 *
 * A rule is a JSON object {path, method, error_rate, status, latency_ms,
 * drop_rate, burst_429, count, fired}: `path` is a prefix of the request
 * path ("/" = all), `count` (0 = unlimited) caps how many times the rule may
 * answer a request (error, drop; a 429 burst counts itself down), `fired`
 * counts those answers. Rules are tried in order; the first that answers
 * wins; latency adds up to the largest matching rule's latency. Answers look
 * like the API's own errors: the Okta error object (with the X-Rate-Limit-*
 * headers on a 429) under /api/v1/ and /oauth2/, {"error": ...} elsewhere.
 *
 * Spec format (docs/sandbox.md): RULE[;RULE...], RULE = key=value[,key=value...]
 *   keys: path, method, error_rate, status, latency (250ms, 2s), drop_rate, burst429, count
 * Called with sb->lock held (apply) or before the listener starts (parse). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "sandbox/sandbox_core.h"

#define FAULT_MAX_LATENCY_MS 60000
#define FAULT_MAX_BURST 1000000
#define FAULT_MAX_PATH 512

static int rule_check(json_t *r, struct idf_err *err)
{
    const char *path = json_string_value(json_object_get(r, "path"));
    double er = json_number_value(json_object_get(r, "error_rate"));
    double dr = json_number_value(json_object_get(r, "drop_rate"));
    json_int_t st = json_integer_value(json_object_get(r, "status"));
    json_int_t lat = json_integer_value(json_object_get(r, "latency_ms"));
    json_int_t burst = json_integer_value(json_object_get(r, "burst_429"));
    json_int_t count = json_integer_value(json_object_get(r, "count"));
    if (!path || path[0] != '/' || strlen(path) > FAULT_MAX_PATH)
        return idf_err_set(err, IDF_EINVAL, "fault rule: path must be a prefix starting with '/'");
    if (er < 0 || er > 1 || dr < 0 || dr > 1)
        return idf_err_set(err, IDF_EINVAL, "fault rule: error_rate and drop_rate must be between 0 and 1");
    if (st < 400 || st > 599)
        return idf_err_set(err, IDF_EINVAL, "fault rule: status must be between 400 and 599");
    if (lat < 0 || lat > FAULT_MAX_LATENCY_MS)
        return idf_err_set(err, IDF_EINVAL, "fault rule: latency must be between 0 and 60s");
    if (burst < 0 || burst > FAULT_MAX_BURST || count < 0)
        return idf_err_set(err, IDF_EINVAL, "fault rule: burst429 and count must be >= 0");
    return 0;
}

static json_t *rule_new(void)
{
    return json_pack("{s:s, s:n, s:f, s:i, s:i, s:f, s:i, s:i, s:i}", "path", "/", "method", "error_rate", 0.0,
                     "status", 500, "latency_ms", 0, "drop_rate", 0.0, "burst_429", 0, "count", 0, "fired", 0);
}

/* Sets one key of a rule from its text value. */
static int rule_set(json_t *r, const char *k, const char *v, struct idf_err *err)
{
    char *end = NULL;
    if (strcmp(k, "path") == 0) {
        json_object_set_new(r, "path", json_string(v));
    } else if (strcmp(k, "method") == 0) {
        json_object_set_new(r, "method", json_string(v));
    } else if (strcmp(k, "error_rate") == 0 || strcmp(k, "drop_rate") == 0) {
        double d = strtod(v, &end);
        if (!*v || *end)
            return idf_err_set(err, IDF_EINVAL, "fault rule: %s=%s is not a number", k, v);
        json_object_set_new(r, k, json_real(d));
    } else if (strcmp(k, "latency") == 0 || strcmp(k, "latency_ms") == 0) {
        int64_t ms;
        if (strcmp(k, "latency_ms") == 0 ? (ms = strtoll(v, &end, 10), !*v || *end) : time_parse_duration(v, &ms) != 0)
            return idf_err_set(err, IDF_EINVAL, "fault rule: bad latency '%s' (e.g. 250ms, 2s)", v);
        json_object_set_new(r, "latency_ms", json_integer(ms));
    } else if (strcmp(k, "status") == 0 || strcmp(k, "burst429") == 0 || strcmp(k, "burst_429") == 0 ||
               strcmp(k, "count") == 0) {
        long long n = strtoll(v, &end, 10);
        if (!*v || *end)
            return idf_err_set(err, IDF_EINVAL, "fault rule: %s=%s is not an integer", k, v);
        json_object_set_new(r, strncmp(k, "burst", 5) == 0 ? "burst_429" : k, json_integer(n));
    } else {
        return idf_err_set(err, IDF_EINVAL, "fault rule: unknown key '%s'", k);
    }
    return 0;
}

int sbx__faults_parse(const char *spec, json_t **rules_out, struct idf_err *err)
{
    *rules_out = NULL;
    if (strlen(spec) > SBX_MAX_FAULT_SPEC)
        return idf_err_set(err, IDF_ETOOBIG, "fault spec longer than %d characters", SBX_MAX_FAULT_SPEC);
    json_t *rules = json_array();
    char *copy = strdup(spec), *save1 = NULL;
    int rc = copy ? 0 : idf_err_set(err, IDF_ENOMEM, "out of memory");
    for (char *rs = copy ? strtok_r(copy, ";", &save1) : NULL; rs && rc == 0; rs = strtok_r(NULL, ";", &save1)) {
        while (*rs == ' ')
            rs++;
        if (!*rs)
            continue;
        json_t *r = rule_new();
        char *save2 = NULL;
        for (char *kv = strtok_r(rs, ",", &save2); kv && rc == 0; kv = strtok_r(NULL, ",", &save2)) {
            while (*kv == ' ')
                kv++;
            char *eq = strchr(kv, '=');
            if (!eq)
                rc = idf_err_set(err, IDF_EINVAL, "fault rule: expected key=value, got '%s'", kv);
            else {
                *eq = '\0';
                rc = rule_set(r, kv, eq + 1, err);
            }
        }
        if (rc == 0)
            rc = rule_check(r, err);
        if (rc == 0 && json_array_size(rules) >= SBX_MAX_FAULT_RULES)
            rc = idf_err_set(err, IDF_ETOOBIG, "more than %d fault rules", SBX_MAX_FAULT_RULES);
        if (rc == 0)
            json_array_append(rules, r);
        json_decref(r);
    }
    free(copy);
    if (rc != 0) {
        json_decref(rules);
        return rc;
    }
    *rules_out = rules;
    return 0;
}

int sbx__faults_from_json(const json_t *in, json_t **rules_out, struct idf_err *err)
{
    *rules_out = NULL;
    const json_t *list = json_object_get(in, "rules");
    json_t *single = NULL;
    if (!list) { /* one rule given directly */
        single = json_array();
        json_array_append(single, (json_t *)in);
        list = single;
    }
    if (!json_is_array(list) || json_array_size(list) > SBX_MAX_FAULT_RULES) {
        json_decref(single);
        return idf_err_set(err, IDF_EINVAL, "rules must be an array of at most %d rules", SBX_MAX_FAULT_RULES);
    }
    json_t *rules = json_array(), *in_r;
    size_t i;
    int rc = 0;
    json_array_foreach(list, i, in_r)
    {
        json_t *r = rule_new();
        const char *k;
        json_t *v;
        if (!json_is_object(in_r))
            rc = idf_err_set(err, IDF_EINVAL, "rules[%zu] must be an object", i);
        json_object_foreach((json_t *)in_r, k, v)
        {
            if (rc != 0)
                break;
            char text[FAULT_MAX_PATH + 1];
            if (json_is_string(v))
                snprintf(text, sizeof text, "%s", json_string_value(v));
            else if (json_is_integer(v))
                snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
            else if (json_is_real(v))
                snprintf(text, sizeof text, "%.17g", json_real_value(v));
            else if (json_is_null(v) && strcmp(k, "method") == 0)
                continue;
            else {
                rc = idf_err_set(err, IDF_EINVAL, "rules[%zu].%s has the wrong type", i, k);
                break;
            }
            if (strcmp(k, "latency_ms") == 0 && json_is_string(v))
                k = "latency";
            if (strcmp(k, "fired") != 0)
                rc = rule_set(r, k, text, err);
        }
        if (rc == 0)
            rc = rule_check(r, err);
        if (rc == 0)
            json_array_append(rules, r);
        json_decref(r);
        if (rc != 0)
            break;
    }
    json_decref(single);
    if (rc != 0) {
        json_decref(rules);
        return rc;
    }
    *rules_out = rules;
    return 0;
}

/* ------------------------------------------------------------ apply */

static bool chance(double p)
{
    if (p <= 0)
        return false;
    if (p >= 1)
        return true;
    return arc4random_uniform(1000000) < (uint32_t)(p * 1000000);
}

static bool okta_path(const char *p)
{
    return strncmp(p, "/api/v1", 7) == 0 || strncmp(p, "/oauth2/", 8) == 0;
}

static void fault_answer(const struct http_req *req, struct http_resp *resp, int status)
{
    if (!okta_path(req->raw_path)) {
        const char *msg = status == 429 ? "Too many requests" : status >= 500 ? "Internal Server Error" : "Bad request";
        return http_resp_json(resp, status, json_pack("{s:s}", "error", msg));
    }
    const char *code = "E0000009", *summary = "Internal Server Error";
    if (status == 429)
        code = "E0000047", summary = "API call exceeded rate limit due to too many requests.";
    else if (status == 401)
        code = "E0000011", summary = "Invalid token provided";
    else if (status == 403)
        code = "E0000006", summary = "You do not have permission to perform the requested action";
    else if (status == 404)
        code = "E0000007", summary = "Not found: Resource not found: injected fault (Page)";
    else if (status < 500)
        code = "E0000001", summary = "Api validation failed: injected fault";
    char rid[32] = "req", eid[32] = "oae", reset[32];
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (int i = 3; i < 25; i++) {
        rid[i] = abc[arc4random_uniform(sizeof abc - 1)];
        eid[i] = abc[arc4random_uniform(sizeof abc - 1)];
    }
    rid[25] = eid[25] = '\0';
    int bad = http_resp_header(resp, "X-Okta-Request-Id", rid);
    if (status == 429) {
        snprintf(reset, sizeof reset, "%lld", (long long)(time_now_ms() / 1000 + 60));
        bad |= http_resp_header(resp, "X-Rate-Limit-Limit", "0");
        bad |= http_resp_header(resp, "X-Rate-Limit-Remaining", "0");
        bad |= http_resp_header(resp, "X-Rate-Limit-Reset", reset);
    }
    (void)bad; /* a full header table only loses headers */
    http_resp_json(resp, status, json_pack("{s:s, s:s, s:s, s:s, s:[]}", "errorCode", code, "errorSummary", summary,
                                           "errorLink", code, "errorId", eid, "errorCauses"));
}

bool sbx__faults_apply(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    size_t i;
    json_t *r;
    int64_t delay = 0;
    json_array_foreach(sb->faults, i, r)
    {
        const char *path = json_string_value(json_object_get(r, "path")) ?: "/";
        const char *method = json_string_value(json_object_get(r, "method"));
        if (strncmp(req->raw_path, path, strlen(path)) != 0 || (method && strcasecmp(method, req->method) != 0))
            continue;
        json_int_t count = json_integer_value(json_object_get(r, "count"));
        json_int_t fired = json_integer_value(json_object_get(r, "fired"));
        json_int_t burst = json_integer_value(json_object_get(r, "burst_429"));
        json_int_t lat = json_integer_value(json_object_get(r, "latency_ms"));
        if (lat > delay)
            delay = lat;
        bool may_fire = count == 0 || fired < count;
        int answer = 0; /* 0 none, 1 drop, else a status */
        if (burst > 0) {
            json_object_set_new(r, "burst_429", json_integer(burst - 1));
            answer = 429;
        } else if (may_fire && chance(json_number_value(json_object_get(r, "drop_rate")))) {
            answer = 1;
        } else if (may_fire && chance(json_number_value(json_object_get(r, "error_rate")))) {
            answer = (int)json_integer_value(json_object_get(r, "status"));
        }
        if (!answer)
            continue;
        json_object_set_new(r, "fired", json_integer(fired + 1));
        resp->delay_ms = delay;
        if (answer == 1)
            resp->drop = true;
        else
            fault_answer(req, resp, answer);
        return true;
    }
    resp->delay_ms = delay;
    return false;
}

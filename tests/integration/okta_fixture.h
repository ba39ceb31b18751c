/* okta_fixture.h — helpers for the Okta connector tests (test_okta*.c, and
 * bench/okta.c without cmocka: define OKTA_FIXTURE_NO_CMOCKA first).
 *
 * A fixture is a real sandbox on 127.0.0.1:0 (default seed, a known token)
 * plus one http_client and a connection object pointing at it with
 * "sandbox": true, under a connection name unique to the fixture (so the
 * process-wide rate limiter starts fresh for each). ofx_act() calls an
 * action's fn exactly as the engine does (params checked against the
 * descriptors first) and asserts the invariants every call must keep: a
 * success has an output with `changed` and `request_id`, a failure has a
 * message, and the token appears in none of them. */
#ifndef IDF_TESTS_OKTA_FIXTURE_H
#define IDF_TESTS_OKTA_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/connector.h"
#include "connectors/registry.h"
#include "core/timeutil.h"
#include "net/http.h"
#include "sandbox/sandbox.h"
#include "support/testutil.h"

#define OFN static __attribute__((unused))
#define OFX_TOKEN "okta-fixture-SECRET-token-7f3a9c1e5b"

#ifdef OKTA_FIXTURE_NO_CMOCKA
#define ofx_check(cond, ...)                                                                                          \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)
#else
#define ofx_check(cond, ...)                                                                                          \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            fail_msg(__VA_ARGS__);                                                                                     \
    } while (0)
#endif

struct ofx {
    struct sandbox *sb;
    struct http_client *http;
    char base[64];
    char name[64];  /* the connection's name (unique: the rate-limit scope) */
    json_t *conn;   /* {"name","kind","url","token","sandbox"} */
    bool raw;       /* false: ofx_act waits out rate-limiter pacing itself, as the engine would */
    int paced;      /* pacing waits ofx_act sat out */
    int64_t timeout_ms; /* the step timeout handed to actions (0 = theirs) */
};

OFN struct ofx *ofx_start_opts(struct sandbox_opts o)
{
    static int seq;
    struct ofx *f = calloc(1, sizeof *f);
    struct idf_err err = {0};

    ofx_check(f != NULL, "out of memory");
    o.addr = "127.0.0.1";
    o.port = 0;
    o.token = OFX_TOKEN;
    ofx_check(sandbox_start(&o, &f->sb, &err) == 0, "sandbox_start: %s", err.msg);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", sandbox_port(f->sb));
    snprintf(f->name, sizeof f->name, "okta-test-%d-%d", sandbox_port(f->sb), ++seq);
    ofx_check(http_client_new(&f->http) == 0, "http_client_new");
    f->conn = json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", f->name, "kind", "okta", "url", f->base, "token",
                        OFX_TOKEN, "sandbox", 1);
    return f;
}

OFN struct ofx *ofx_start(void)
{
    struct sandbox_opts o = {0};
    return ofx_start_opts(o);
}

OFN void ofx_stop(struct ofx *f)
{
    if (!f)
        return;
    json_decref(f->conn);
    http_client_free(f->http);
    sandbox_stop(f->sb);
    free(f);
}

OFN void res_clear(struct conn_result *r)
{
    conn_result_clear(r);
}

/* Asserts that s never contains the token. */
OFN void no_token(const char *what, const char *s)
{
    ofx_check(!s || !strstr(s, OFX_TOKEN), "%s contains the token: %s", what, s);
}

OFN void no_token_json(const char *what, const json_t *v)
{
    char *d = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    no_token(what, d);
    free(d);
}

OFN void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Calls action with params (JSON text) on connection conn, as attempt. */
OFN int ofx_act_conn(struct ofx *f, const json_t *conn, const char *action, int attempt, struct conn_result *res,
                     const char *params)
{
    const struct conn_action *a = registry_find_action(registry_default(), action);
    json_error_t je;
    json_t *p = json_loads(params, 0, &je);
    struct idf_err err = {0};
    void *slot = NULL;
    int rc;

    ofx_check(a != NULL, "no action %s", action);
    ofx_check(p != NULL, "bad params %s: %s", params, je.text);
    ofx_check(conn_params_check(a, p, &err) == 0, "%s: %s", action, err.msg);
    struct conn_call c = {.http = f->http, .connection = conn,
                          .connection_name = json_string_value(json_object_get(conn, "name")), .run_id = 1,
                          .step_id = "test", .attempt = attempt, .thread_slot = &slot,
                          .timeout_ms = f->timeout_ms};
    for (int tries = 0;; tries++) {
        memset(res, 0, sizeof *res);
        rc = a->fn(&c, p, res);
        /* Paced before anything was sent: the engine would store a wait and
         * call again; functional tests do the same unless they test pacing. */
        if (rc == 0 || f->raw || tries > 200 || !json_is_true(json_object_get(res->detail, "rate_limited")))
            break;
        int64_t w = res->retry_after_ms;
        json_decref(res->detail);
        json_decref(res->subjects);
        f->paced++;
        sleep_ms(w > 0 ? w : 1);
    }
    json_decref(p);
    if (rc == 0) {
        ofx_check(json_is_object(res->output), "%s succeeded without an output", action);
        ofx_check(json_is_boolean(json_object_get(res->output, "changed")), "%s: output has no `changed`", action);
        ofx_check(json_is_string(json_object_get(res->output, "request_id")), "%s: output has no request_id", action);
    } else {
        ofx_check(rc < 0 && res->message[0], "%s failed (%d) without a message", action, rc);
        ofx_check(!res->output, "%s failed but left an output", action);
    }
    no_token("message", res->message);
    no_token_json("detail", res->detail);
    no_token_json("output", res->output);
    /* issue 17: what a call reports for the run's history carries no credential, and a change
     * is reported only by a call that changed something */
    no_token_json("subjects", res->subjects);
    no_token("change", res->change);
    ofx_check(!res->change[0] || (rc == 0 && json_is_true(json_object_get(res->output, "changed"))),
              "%s reported the change '%s' without changing anything", action, res->change);
    ofx_check(!res->subjects || json_is_array(res->subjects), "%s: subjects is not an array", action);
    return rc;
}

OFN int ofx_actf(struct ofx *f, const char *action, int attempt, struct conn_result *res, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
OFN int ofx_actf(struct ofx *f, const char *action, int attempt, struct conn_result *res, const char *fmt, ...)
{
    char params[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(params, sizeof params, fmt, ap);
    va_end(ap);
    return ofx_act_conn(f, f->conn, action, attempt, res, params);
}

/* Plays the engine: retries a retryable failure after retry_after_ms (at
 * least min_wait_ms) up to max_attempts; returns the last rc, *attempts the
 * attempts made. */
OFN int ofx_until(struct ofx *f, const char *action, const char *params, int max_attempts, int min_wait_ms,
                  struct conn_result *res, int *attempts)
{
    int rc = 0;
    for (int a = 1; a <= max_attempts; a++) {
        rc = ofx_act_conn(f, f->conn, action, a, res, params);
        if (attempts)
            *attempts = a;
        if (rc == 0 || !res->retryable || a == max_attempts)
            return rc;
        int64_t w = res->retry_after_ms > min_wait_ms ? res->retry_after_ms : min_wait_ms;
        res_clear(res);
        sleep_ms(w);
    }
    return rc;
}

/* An admin request to the sandbox; returns the parsed answer (caller decrefs). */
OFN json_t *sbx(struct ofx *f, const char *method, const char *path, const char *body)
{
    char url[256];
    struct http_request rq = {.method = method, .url = url, .body = body, .body_len = body ? strlen(body) : 0,
                              .timeout_ms = 20000};
    struct http_response r = {0};
    struct idf_err err = {0};
    const char *h[] = {"Content-Type: application/json", NULL};
    json_t *j = NULL;

    rq.headers = body ? h : NULL;
    snprintf(url, sizeof url, "%s%s", f->base, path);
    ofx_check(http_client_do(f->http, &rq, &r, &err) == 0, "%s %s: %s", method, path, err.msg);
    ofx_check(r.status < 400, "%s %s: HTTP %ld %s", method, path, r.status, r.body.data ? r.body.data : "");
    if (r.body.len)
        j = json_loadb(r.body.data, r.body.len, 0, NULL);
    http_response_free(&r);
    return j ? j : json_object();
}

OFN void sbx_post(struct ofx *f, const char *path, const char *body)
{
    json_decref(sbx(f, "POST", path, body));
}

/* Calls in the sandbox's log whose method matches (NULL = any), whose path
 * contains `part` (NULL = any) and whose status is `status` (-1 = any). */
OFN int count_calls(struct ofx *f, const char *method, const char *part, int status)
{
    json_t *j = sbx(f, "GET", "/_sandbox/calls", NULL), *c;
    size_t i;
    int n = 0;

    json_array_foreach(json_object_get(j, "calls"), i, c)
    {
        const char *m = json_string_value(json_object_get(c, "method")) ?: "";
        const char *p = json_string_value(json_object_get(c, "path")) ?: "";
        int st = (int)json_integer_value(json_object_get(c, "status"));
        if ((!method || strcmp(m, method) == 0) && (!part || strstr(p, part)) && (status < 0 || st == status))
            n++;
    }
    json_decref(j);
    return n;
}

/* The stored user with this login in the sandbox state (borrowed from *state; caller decrefs *state). */
OFN json_t *sbx_user(struct ofx *f, const char *login, json_t **state)
{
    json_t *u;
    size_t i;
    *state = sbx(f, "GET", "/_sandbox/state", NULL);
    json_array_foreach(json_object_get(json_object_get(*state, "okta"), "users"), i, u)
    {
        if (strcmp(json_string_value(json_object_get(json_object_get(u, "profile"), "login")) ?: "", login) == 0)
            return u;
    }
    return NULL;
}

/* The sandbox's status of the user with this login ("" when absent); copied into out. */
OFN const char *sbx_status(struct ofx *f, const char *login, char out[32])
{
    json_t *st, *u = sbx_user(f, login, &st);
    snprintf(out, 32, "%s", u ? json_string_value(json_object_get(u, "status")) ?: "" : "");
    json_decref(st);
    return out;
}

OFN const char *ostr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

OFN bool ochanged(const struct conn_result *r)
{
    return json_is_true(json_object_get(r->output, "changed"));
}

/* The okta connector of the default registry. */
OFN const struct connector *ofx_okta(void)
{
    const struct connector *c = registry_find(registry_default(), "okta");
    ofx_check(c != NULL, "no okta connector in the registry");
    return c;
}

/* An OAuth service-app connection to f's sandbox named name, for the app
 * client, with the private key in tests/data/<pem_file> (under IDFLOW_SRC,
 * else the current folder), and key_id kid and scopes when not NULL.
 * Caller decrefs. */
OFN json_t *ofx_oauth_conn(struct ofx *f, const char *name, const char *client, const char *pem_file, const char *kid,
                           const char *scopes)
{
    char path[512];
    const char *src = getenv("IDFLOW_SRC");
    snprintf(path, sizeof path, "%s/tests/data/%s", src ? src : ".", pem_file);
    char *pem = tu_read_file(path, NULL);
    ofx_check(pem != NULL, "cannot read %s (set IDFLOW_SRC)", path);
    json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "name", name, "kind", "okta", "url", f->base, "client_id",
                          client, "private_key", pem, "sandbox", 1);
    if (kid)
        json_object_set_new(c, "key_id", json_string(kid));
    if (scopes)
        json_object_set_new(c, "scopes", json_string(scopes));
    explicit_bzero(pem, strlen(pem));
    free(pem);
    return c;
}

#endif

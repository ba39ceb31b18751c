/* test_access.c — where a request to `idflow serve` may come from and what
 * each role may call, against a real server on loopback (api/guard.c and
 * the route table of api/auth.c):
 *  - a Host that is not one of the server's names is refused (DNS
 *    rebinding), before any route runs, also while the API is open;
 *  - a write must say application/json, and its Origin, when present, must
 *    be the server itself; no answer carries a CORS header;
 *  - while the store is uninitialized, only local callers go without a
 *    token: a request through a proxy (forwarding headers) or for a
 *    non-loopback Host is refused; `idflow init` closes the API for good;
 *  - the first token asked for through the open API must be an admin's
 *    (another role would lock out the console that asked): 400, and the
 *    API stays open until an admin token is made;
 *  - every route × every role: exactly the table's share, with names that
 *    collide with route words ("test", "runs"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "api/api_internal.h"
#include "net/http.h"
#include "support/testutil.h"

struct srv {
    struct tu_proc p;
    char db[300];
    char base[128];
    int port;
};

static const char *BIN;
/* A copy of the running server's process, so a test that fails half-way
 * (cmocka leaves the function) does not leave it running: see per_test. */
static struct tu_proc LIVE;
static bool LIVE_SET;
static char *DIR_;
static char WFDIR[400];

static const char WF_HELLO[] = "name: hello\n"
                               "on: manual\n"
                               "steps:\n"
                               "  - id: s\n"
                               "    do: set\n"
                               "    with: {x: 1}\n";

/* Starts serve on 127.0.0.1 with its own store `dbname` and extra env. */
static void srv_start(struct srv *s, const char *dbname, const char *const *env)
{
    char listen[64], url[200];

    memset(s, 0, sizeof *s);
    s->port = tu_free_port();
    snprintf(s->db, sizeof s->db, "sqlite:%s/%s", DIR_, dbname);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    const char *argv[] = {BIN, "serve", "--db", s->db, "--listen", listen, "--workflows", WFDIR, NULL};
    assert_int_equal(tu_spawn(argv, env, &s->p), 0);
    LIVE = s->p;
    LIVE_SET = true;
    snprintf(url, sizeof url, "%s/readyz", s->base);
    if (tu_wait_http_ok(url, 15000)) {
        char *err = tu_proc_stderr(&s->p);
        fprintf(stderr, "idflow serve did not become ready:\n%s\n", err);
        free(err);
        fail();
    }
}

/* Stops serve; returns its log (caller frees). */
static char *srv_stop(struct srv *s)
{
    char *log;
    LIVE_SET = false;
    tu_kill(&s->p, SIGTERM);
    assert_int_equal(tu_wait(&s->p, 15000), 0);
    log = tu_proc_stderr(&s->p);
    tu_proc_cleanup(&s->p);
    return log;
}

/* One request with exactly the headers given (no Content-Type added): the
 * status, the answer parsed (ans, may be NULL) and the answer's headers
 * (hdrs, may be NULL; lower-cased names). */
static long raw(const struct srv *s, const char *method, const char *path, const char *body,
                const char *const *headers, json_t **ans, json_t **hdrs)
{
    struct http_client *c = NULL;
    struct http_request rq = {0};
    struct http_response rs = {0};
    struct idf_err err = {0};
    char url[400];
    long status;

    snprintf(url, sizeof url, "%s%s", s->base, path);
    assert_int_equal(http_client_new(&c), 0);
    rq.method = method;
    rq.url = url;
    rq.headers = headers;
    rq.body = body;
    rq.body_len = body ? strlen(body) : 0;
    rq.timeout_ms = 10000;
    assert_int_equal(http_client_do(c, &rq, &rs, &err), 0);
    status = rs.status;
    if (ans)
        *ans = json_loadb(rs.body.data ? rs.body.data : "", rs.body.len, 0, NULL);
    if (hdrs)
        *hdrs = json_incref(rs.headers);
    http_response_free(&rs);
    http_client_free(c);
    return status;
}

/* A JSON request with an optional token. */
static long call(const struct srv *s, const char *method, const char *path, const char *body, const char *token,
                 json_t **ans)
{
    char auth[200];
    const char *h[3] = {"Content-Type: application/json", NULL, NULL};
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h[1] = auth;
    }
    return raw(s, method, path, body, h, ans, NULL);
}

static const char *err_of(json_t *ans)
{
    const char *e = json_string_value(json_object_get(ans, "error"));
    return e ? e : "";
}

static size_t n_runs(const struct srv *s, const char *token)
{
    json_t *ans = NULL;
    size_t n;
    assert_int_equal(call(s, "GET", "/api/v1/runs?limit=1000", NULL, token, &ans), 200);
    n = json_array_size(json_object_get(ans, "runs"));
    json_decref(ans);
    return n;
}

static int setup(void **state)
{
    char *p;
    (void)state;
    BIN = getenv("IDFLOW_BIN");
    if (!BIN) {
        fprintf(stderr, "IDFLOW_BIN must be set (make test sets it)\n");
        return -1;
    }
    DIR_ = tu_mktemp_dir();
    snprintf(WFDIR, sizeof WFDIR, "%s/wf", DIR_);
    mkdir(WFDIR, 0700);
    p = tu_path(WFDIR, "hello.yaml");
    tu_write_file(p, WF_HELLO);
    free(p);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rm_rf(DIR_);
    free(DIR_);
    return 0;
}

/* 1. DNS rebinding: a page on rebind.evil.example resolving to 127.0.0.1
 * sends its own name as Host. Refused (421) on every route but health and
 * hooks, while the API is open and once it is closed; the allowed names
 * (loopback, public_url, allowed_hosts) pass. */
static void foreign_host_is_refused(void **state)
{
    struct srv s;
    const char *env[] = {"IDFLOW_ALLOWED_HOSTS=idflow.corp.example, ops.example:9443",
                         "IDFLOW_PUBLIC_URL=https://IDFLOW.public.example/console", NULL};
    const char *evil[] = {"Host: rebind.evil.example", "Content-Type: application/json", NULL};
    char hosthdr[100];
    const char *h[] = {hosthdr, NULL};
    json_t *ans = NULL;
    char *log;
    (void)state;

    srv_start(&s, "rebind.db", env);
    /* the open install would mint an admin token for the page: refused, nothing made */
    assert_int_equal(raw(&s, "POST", "/api/v1/tokens", "{\"name\":\"pwn\",\"role\":\"admin\"}", evil, &ans, NULL),
                     421);
    assert_non_null(strstr(err_of(ans), "rebind.evil.example"));
    assert_non_null(strstr(err_of(ans), "allowed_hosts"));
    json_decref(ans);
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, evil, NULL, NULL), 421);
    assert_int_equal(raw(&s, "GET", "/api/v1/tokens", NULL, evil, NULL, NULL), 421);
    assert_int_equal(raw(&s, "GET", "/metrics", NULL, evil, NULL, NULL), 421);
    assert_int_equal(raw(&s, "GET", "/", NULL, evil, NULL, NULL), 421);
    assert_int_equal(call(&s, "GET", "/api/v1/tokens", NULL, NULL, &ans), 200);
    assert_int_equal(json_array_size(json_object_get(ans, "tokens")), 0);
    json_decref(ans);
    /* a name with a port of its own, an IPv6 literal, junk */
    snprintf(hosthdr, sizeof hosthdr, "Host: idflow.corp.example.evil.example:%d", s.port);
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, h, NULL, NULL), 421);
    snprintf(hosthdr, sizeof hosthdr, "Host: ops.example:9444");
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, h, NULL, NULL), 421);
    snprintf(hosthdr, sizeof hosthdr, "Host: [fe80::1]:%d", s.port);
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, h, NULL, NULL), 421);
    snprintf(hosthdr, sizeof hosthdr, "Host: 127.0.0.1@evil.example");
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, h, NULL, NULL), 421);

    /* health and hooks do not look at Host */
    assert_int_equal(raw(&s, "GET", "/healthz", NULL, evil, NULL, NULL), 200);
    assert_int_equal(raw(&s, "POST", "/hooks/webhook/none", "{}", evil, NULL, NULL), 404);

    /* the server's own names: loopback forms, allowed_hosts, public_url's host */
    snprintf(hosthdr, sizeof hosthdr, "Host: localhost:%d", s.port);
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, h, NULL, NULL), 200);
    snprintf(hosthdr, sizeof hosthdr, "Host: [::1]:%d", s.port);
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, h, NULL, NULL), 200);
    snprintf(hosthdr, sizeof hosthdr, "Host: 127.0.0.1");
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, h, NULL, NULL), 200);
    /* not loopback names: let through the Host check, but the open door is
     * only for local names (401, not the admin answer) */
    snprintf(hosthdr, sizeof hosthdr, "Host: IDFLOW.corp.example");
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, h, &ans, NULL), 401);
    assert_non_null(strstr(err_of(ans), "no API token yet"));
    json_decref(ans);
    snprintf(hosthdr, sizeof hosthdr, "Host: ops.example:9443");
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, h, NULL, NULL), 401);
    snprintf(hosthdr, sizeof hosthdr, "Host: idflow.public.example");
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, h, NULL, NULL), 401);

    log = srv_stop(&s);
    assert_non_null(strstr(log, "refused a request for Host 'rebind.evil.example'"));
    free(log);
}

/* 2. Cross-site writes: a page on another origin can send a text/plain or
 * form POST without a preflight; such a POST deactivated a user. Writes
 * must be JSON, a foreign Origin is refused, and no answer carries CORS
 * headers (so a preflighted request fails in the browser). */
static void cross_origin_writes_are_refused(void **state)
{
    struct srv s;
    char origin[200], self[200];
    const char *plain[] = {"Content-Type: text/plain", NULL};
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    const char *none[] = {NULL};
    const char *jsonish[] = {"Content-Type: application/jsonp", NULL};
    const char *foreign[] = {"Content-Type: application/json", "Origin: https://evil.example", NULL};
    const char *null_origin[] = {"Content-Type: application/json", "Origin: null", NULL};
    const char *same[] = {"Content-Type: application/json; charset=utf-8", self, NULL};
    const char *same_https[] = {"Content-Type: application/json", origin, NULL};
    const char *preflight[] = {"Origin: https://evil.example", "Access-Control-Request-Method: POST",
                               "Access-Control-Request-Headers: content-type", NULL};
    const char *body = "{\"workflow\":\"hello\"}";
    json_t *ans = NULL, *hdrs = NULL;
    (void)state;

    srv_start(&s, "csrf.db", NULL);
    assert_int_equal(raw(&s, "POST", "/api/v1/events", body, plain, &ans, &hdrs), 415);
    assert_non_null(strstr(err_of(ans), "Content-Type: application/json"));
    assert_null(json_object_get(hdrs, "access-control-allow-origin"));
    json_decref(ans);
    json_decref(hdrs);
    assert_int_equal(raw(&s, "POST", "/api/v1/events", body, form, NULL, NULL), 415);
    assert_int_equal(raw(&s, "POST", "/api/v1/events", body, none, NULL, NULL), 415);
    assert_int_equal(raw(&s, "POST", "/api/v1/events", body, jsonish, NULL, NULL), 415);
    assert_int_equal(raw(&s, "POST", "/api/v1/tokens", "{\"name\":\"x\",\"role\":\"admin\"}", plain, NULL, NULL), 415);
    assert_int_equal(raw(&s, "POST", "/api/v1/events", body, foreign, &ans, &hdrs), 403);
    assert_non_null(strstr(err_of(ans), "https://evil.example"));
    assert_null(json_object_get(hdrs, "access-control-allow-origin"));
    json_decref(ans);
    json_decref(hdrs);
    assert_int_equal(raw(&s, "POST", "/api/v1/events", body, null_origin, NULL, NULL), 403);
    /* nothing ran, no token was made */
    assert_int_equal(n_runs(&s, NULL), 0);

    /* a preflight gets no CORS grant */
    assert_int_equal(raw(&s, "OPTIONS", "/api/v1/events", NULL, preflight, NULL, &hdrs) / 100, 4);
    assert_null(json_object_get(hdrs, "access-control-allow-origin"));
    assert_null(json_object_get(hdrs, "access-control-allow-methods"));
    json_decref(hdrs);

    /* the server's own pages (http, or https through a TLS proxy) may write */
    snprintf(self, sizeof self, "Origin: http://127.0.0.1:%d", s.port);
    assert_int_equal(raw(&s, "POST", "/api/v1/events", body, same, NULL, NULL), 202);
    snprintf(origin, sizeof origin, "Origin: https://127.0.0.1:%d", s.port);
    assert_int_equal(raw(&s, "POST", "/api/v1/events", body, same_https, NULL, NULL), 202);
    /* a different port is another origin */
    snprintf(self, sizeof self, "Origin: http://127.0.0.1:%d", s.port + 1);
    assert_int_equal(raw(&s, "POST", "/api/v1/events", body, same, NULL, NULL), 403);
    assert_int_equal(n_runs(&s, NULL), 2);
    /* reads need neither */
    assert_int_equal(raw(&s, "GET", "/api/v1/runs", NULL, foreign, NULL, NULL), 200);
    free(srv_stop(&s));
}

/* 3. While uninitialized, the open door is for this machine only: not for a
 * request a proxy forwarded (its peer address is loopback too); `idflow
 * init` closes the API for good, with no token at all. */
static void open_only_to_local_callers_until_init(void **state)
{
    struct srv s;
    const char *xff[] = {"X-Forwarded-For: 203.0.113.9", NULL};
    const char *fwd[] = {"Forwarded: for=203.0.113.9;proto=https", NULL};
    const char *xrip[] = {"X-Real-IP: 203.0.113.9", NULL};
    const char *xfh[] = {"X-Forwarded-Host: idflow.example", NULL};
    json_t *ans = NULL;
    char *out = NULL, *log;
    (void)state;

    srv_start(&s, "init.db", NULL);
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, NULL, &ans, NULL), 200);
    assert_string_equal(json_string_value(json_object_get(ans, "actor")), "local");
    json_decref(ans);
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, xff, &ans, NULL), 401);
    assert_non_null(strstr(err_of(ans), "not through a proxy"));
    json_decref(ans);
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, fwd, NULL, NULL), 401);
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, xrip, NULL, NULL), 401);
    assert_int_equal(raw(&s, "GET", "/api/v1/me", NULL, xfh, NULL, NULL), 401);

    /* idflow init: the next request is refused, no token exists */
    assert_int_equal(tu_idflow_db(BIN, s.db, &out, NULL, "init", NULL), 0);
    assert_non_null(strstr(out, "initialized"));
    free(out);
    assert_int_equal(call(&s, "GET", "/api/v1/me", NULL, NULL, &ans), 401);
    assert_non_null(strstr(err_of(ans), "needs an API token"));
    json_decref(ans);
    assert_int_equal(call(&s, "POST", "/api/v1/events", "{\"workflow\":\"hello\"}", NULL, NULL), 401);
    assert_int_equal(call(&s, "GET", "/metrics", NULL, NULL, NULL), 401);
    assert_int_equal(tu_idflow_db(BIN, s.db, &out, NULL, "init", NULL), 0);
    assert_non_null(strstr(out, "already initialized"));
    free(out);
    log = srv_stop(&s);
    assert_non_null(strstr(log, "the API is open"));
    free(log);

    /* restarted on the initialized store: no warning, still closed */
    srv_start(&s, "init.db", NULL);
    assert_int_equal(call(&s, "GET", "/api/v1/me", NULL, NULL, NULL), 401);
    log = srv_stop(&s);
    assert_null(strstr(log, "the API is open"));
    free(log);
}

/* 3b. The first token made through the open API (the console's API tokens
 * page) is an admin's: a viewer token would close the API and lock its
 * caller out, so it is refused (400 naming the admin role) and nothing
 * changes; an admin token is made, and from then on a token is needed. */
static void first_token_over_the_open_api_is_an_admins(void **state)
{
    struct srv s;
    json_t *ans = NULL, *row;
    char tok[100];
    (void)state;

    srv_start(&s, "first.db", NULL);
    assert_int_equal(call(&s, "POST", "/api/v1/tokens", "{\"name\":\"desk\",\"role\":\"viewer\"}", NULL, &ans), 400);
    assert_non_null(strstr(err_of(ans), "first API token must have the admin role"));
    json_decref(ans);
    /* nothing changed: still open, still no token */
    assert_int_equal(call(&s, "GET", "/api/v1/tokens", NULL, NULL, &ans), 200);
    assert_int_equal(json_array_size(json_object_get(ans, "tokens")), 0);
    json_decref(ans);
    assert_int_equal(call(&s, "POST", "/api/v1/tokens", "{\"name\":\"ops\",\"role\":\"operator\"}", NULL, NULL), 400);

    assert_int_equal(call(&s, "POST", "/api/v1/tokens", "{\"name\":\"root\",\"role\":\"admin\"}", NULL, &ans), 201);
    assert_string_equal(json_string_value(json_object_get(ans, "role")), "admin");
    snprintf(tok, sizeof tok, "%s", json_string_value(json_object_get(ans, "token")));
    json_decref(ans);
    assert_int_equal(call(&s, "GET", "/api/v1/tokens", NULL, NULL, NULL), 401);
    /* the new token may do what the open API did: list, and make a viewer */
    assert_int_equal(call(&s, "GET", "/api/v1/tokens", NULL, tok, &ans), 200);
    assert_int_equal(json_array_size(json_object_get(ans, "tokens")), 1);
    row = json_array_get(json_object_get(ans, "tokens"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "role")), "admin");
    assert_string_equal(json_string_value(json_object_get(row, "created_by")), "local");
    json_decref(ans);
    assert_int_equal(call(&s, "POST", "/api/v1/tokens", "{\"name\":\"desk\",\"role\":\"viewer\"}", tok, NULL), 201);
    free(srv_stop(&s));
}

/* ------------------------------------------------------------ routes × roles */

struct want {
    const char *method, *pattern; /* as in the route table */
    const char *path;             /* a concrete request for it */
    enum token_role role;
};

/* What each route must need, written independently of api/auth.c's table;
 * names collide with route words on purpose. */
static const struct want WANT[] = {
    {"GET", "/metrics", "/metrics", TOKEN_VIEWER},
    {"GET", "/api/v1/me", "/api/v1/me", TOKEN_VIEWER},
    {"POST", "/api/v1/events", "/api/v1/events", TOKEN_OPERATOR},
    {"GET", "/api/v1/runs", "/api/v1/runs", TOKEN_VIEWER},
    {"GET", "/api/v1/runs/*", "/api/v1/runs/999", TOKEN_VIEWER},
    {"POST", "/api/v1/runs/*/rerun", "/api/v1/runs/999/rerun", TOKEN_OPERATOR},
    {"POST", "/api/v1/runs/*/cancel", "/api/v1/runs/999/cancel", TOKEN_OPERATOR},
    {"POST", "/api/v1/runs/*/approve", "/api/v1/runs/999/approve", TOKEN_APPROVER},
    {"POST", "/api/v1/runs/*/reject", "/api/v1/runs/999/reject", TOKEN_APPROVER},
    {"POST", "/api/v1/runs/*/release", "/api/v1/runs/999/release", TOKEN_ADMIN}, /* issue 19: a guardrail hold */
    {"GET", "/api/v1/history", "/api/v1/history", TOKEN_VIEWER}, /* issue 17: a subject's timeline */
    {"GET", "/api/v1/approvals", "/api/v1/approvals", TOKEN_VIEWER},
    {"GET", "/api/v1/workflows", "/api/v1/workflows", TOKEN_VIEWER},
    {"GET", "/api/v1/workflows/*", "/api/v1/workflows/runs", TOKEN_VIEWER},
    {"GET", "/api/v1/connectors", "/api/v1/connectors", TOKEN_VIEWER},
    {"GET", "/api/v1/connections", "/api/v1/connections", TOKEN_VIEWER},
    {"GET", "/api/v1/connections/*", "/api/v1/connections/test", TOKEN_VIEWER},
    {"PUT", "/api/v1/connections/*", "/api/v1/connections/test", TOKEN_ADMIN},
    {"DELETE", "/api/v1/connections/*", "/api/v1/connections/test", TOKEN_ADMIN},
    {"POST", "/api/v1/connections/*/test", "/api/v1/connections/test/test", TOKEN_OPERATOR},
    {"GET", "/api/v1/tokens", "/api/v1/tokens", TOKEN_ADMIN},
    {"POST", "/api/v1/tokens", "/api/v1/tokens", TOKEN_ADMIN},
    {"DELETE", "/api/v1/tokens/*", "/api/v1/tokens/test", TOKEN_ADMIN},
    {"GET", "/api/v1/audit", "/api/v1/audit", TOKEN_ADMIN},
};
#define N_WANT (sizeof WANT / sizeof WANT[0])

/* Requests that must match no route whatever the role: 405 or 404 (after
 * the token), never a route's handler. */
static const struct {
    const char *method, *path;
    long status;
} NOT_ROUTES[] = {
    {"PUT", "/api/v1/connections/test/test", 405},   {"DELETE", "/api/v1/connections/test/test", 405},
    {"POST", "/api/v1/connections/test", 405},       {"PUT", "/api/v1/tokens/test", 405},
    {"DELETE", "/api/v1/runs/999", 405},             {"POST", "/api/v1/runs/999/test", 404},
    {"POST", "/api/v1/runs/999/approve/x", 404},     {"GET", "/api/v1/connections//test", 404},
    {"DELETE", "/api/v1/connections/a/b/test", 404}, {"GET", "/api/v1/nothing", 404},
    {"POST", "/metrics", 405},
};

/* Every row of the server's table has its expectation here (a new route
 * without one fails this test). */
static void route_table_is_covered(void)
{
    for (const struct api__route *r = api__routes(); r->method; r++) {
        bool found = false;
        for (size_t i = 0; i < N_WANT; i++) {
            if (strcmp(WANT[i].method, r->method) == 0 && strcmp(WANT[i].pattern, r->pattern) == 0) {
                assert_int_equal(WANT[i].role, r->role);
                found = true;
            }
        }
        if (!found)
            fail_msg("route %s %s has no expectation in test_access", r->method, r->pattern);
    }
}

static void every_route_every_role(void **state)
{
    static const char *const roles[] = {"viewer", "approver", "operator", "admin"};
    char tok[4][64];
    struct srv s;
    json_t *ans = NULL;
    (void)state;

    route_table_is_covered();
    srv_start(&s, "roles.db", NULL);
    for (int r = 0; r < 4; r++)
        assert_int_equal(tu_idflow_token(BIN, s.db, roles[r], roles[r], tok[r], sizeof tok[r]), 0);
    /* a connection named like the route word, made by the admin */
    assert_int_equal(call(&s, "PUT", "/api/v1/connections/test",
                          "{\"kind\":\"webhook\",\"config\":{\"secret\":\"a-long-enough-hook-secret\"}}", tok[3],
                          &ans),
                     201);
    json_decref(ans);

    for (size_t i = 0; i < N_WANT; i++) {
        const char *body = strcmp(WANT[i].method, "GET") == 0 ? NULL : "{}";
        /* no token: 401, whatever the route (the store is initialized) */
        assert_int_equal(call(&s, WANT[i].method, WANT[i].path, body, NULL, NULL), 401);
        for (int r = 0; r < 4; r++) {
            /* the admin's write routes with side effects are checked below */
            if (r == 3 && strcmp(WANT[i].method, "DELETE") == 0)
                continue;
            long st = call(&s, WANT[i].method, WANT[i].path, body, tok[r], &ans);
            if ((enum token_role)(TOKEN_VIEWER + r) < WANT[i].role) {
                if (st != 403)
                    fail_msg("%s %s as %s: %ld, want 403", WANT[i].method, WANT[i].path, roles[r], st);
                assert_non_null(strstr(err_of(ans), token_role_name(WANT[i].role)));
            } else if (st == 401 || st == 403 || st == 405) {
                fail_msg("%s %s as %s: %ld, want it let in", WANT[i].method, WANT[i].path, roles[r], st);
            }
            json_decref(ans);
            ans = NULL;
        }
    }
    for (size_t i = 0; i < sizeof NOT_ROUTES / sizeof NOT_ROUTES[0]; i++) {
        const char *body = strcmp(NOT_ROUTES[i].method, "GET") == 0 ? NULL : "{}";
        assert_int_equal(call(&s, NOT_ROUTES[i].method, NOT_ROUTES[i].path, body, NULL, NULL), 401);
        for (int r = 0; r < 4; r++) {
            long st = call(&s, NOT_ROUTES[i].method, NOT_ROUTES[i].path, body, tok[r], NULL);
            if (st != NOT_ROUTES[i].status)
                fail_msg("%s %s as %s: %ld, want %ld", NOT_ROUTES[i].method, NOT_ROUTES[i].path, roles[r], st,
                         NOT_ROUTES[i].status);
        }
    }

    /* the operator cannot remove or replace the connection named "test" */
    assert_int_equal(call(&s, "DELETE", "/api/v1/connections/test", "{}", tok[2], NULL), 403);
    assert_int_equal(call(&s, "GET", "/api/v1/connections/test", NULL, tok[0], NULL), 200);
    /* the admin can; and a token named "test" is revoked by its name only */
    assert_int_equal(call(&s, "DELETE", "/api/v1/connections/test", "{}", tok[3], NULL), 200);
    assert_int_equal(call(&s, "GET", "/api/v1/connections/test", NULL, tok[0], NULL), 404);
    assert_int_equal(call(&s, "DELETE", "/api/v1/tokens/test", "{}", tok[3], NULL), 404);
    free(srv_stop(&s));
}

/* After each test: the server a failed test left running is stopped. */
static int per_test(void **state)
{
    (void)state;
    if (LIVE_SET)
        tu_proc_cleanup(&LIVE);
    LIVE_SET = false;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(foreign_host_is_refused, per_test),
        cmocka_unit_test_teardown(cross_origin_writes_are_refused, per_test),
        cmocka_unit_test_teardown(open_only_to_local_callers_until_init, per_test),
        cmocka_unit_test_teardown(first_token_over_the_open_api_is_an_admins, per_test),
        cmocka_unit_test_teardown(every_route_every_role, per_test),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

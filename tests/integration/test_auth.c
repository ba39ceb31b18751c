/* test_auth.c — API tokens and roles against a real `idflow serve` on
 * loopback: a fresh install answers local callers without a token; the
 * first token closes that; each role may do exactly its share; revocation
 * and bad tokens are refused at once; every decision and token change is in
 * the audit log with its actor; no token ever appears in serve's log, the
 * audit log or a listing; the API never opens again once a token existed
 * (the last one revoked or expired); and serve refuses a non-loopback
 * address until a token exists. Tokens are created with the real CLI (`idflow token`). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "support/serve_fixture.h"

struct env {
    char viewer[64], approver[64], operator_[64], admin[64];
};

static struct env E;
static struct sfx F = {.no_sandbox = true}; /* the tokens become its secrets once made */

static const char WF_HELLO[] = "name: hello\n"
                               "on: manual\n"
                               "steps:\n"
                               "  - id: s\n"
                               "    do: set\n"
                               "    with: {x: 1}\n";
static const char WF_GATE[] = "name: gate\n"
                              "on: manual\n"
                              "steps:\n"
                              "  - id: ok\n"
                              "    do: approval\n"
                              "    with: {message: \"go?\"}\n"
                              "  - id: after\n"
                              "    do: set\n"
                              "    with: {done: true}\n";

/* A serve of its own (another address or database) for one test. */
static int start_serve_at(const char *listen, struct tu_proc *p)
{
    const char *argv[] = {F.bin, "serve", "--db", F.db, "--listen", listen, "--workflows", F.wfdir, NULL};
    return tu_spawn(argv, NULL, p);
}

static int setup(void **state)
{
    (void)state;
    if (sfx_start(&F, NULL) || sfx_write_wf(&F, "hello", WF_HELLO) || sfx_write_wf(&F, "gate", WF_GATE))
        return -1;
    return sfx_serve_start(&F, NULL, NULL);
}

static int teardown(void **state)
{
    (void)state;
    sfx_stop(&F);
    return 0;
}

#define cli(out, err, ...) tu_idflow_db(F.bin, F.db, out, err, __VA_ARGS__)

/* `idflow token create NAME --role ROLE`: the token, alone on stdout. */
static void create_token(const char *name, const char *role, char *tok, size_t n)
{
    assert_int_equal(tu_idflow_token(F.bin, F.db, name, role, tok, n), 0);
}

/* One API call with an optional token; the status, and the answer parsed. */
static long call(const char *method, const char *path, const char *body, const char *token, json_t **ans)
{
    char url[300], auth[200], *resp = NULL;
    const char *h[3] = {"Content-Type: application/json", NULL, NULL};
    long status = 0;
    snprintf(url, sizeof url, "%s%s", F.base, path);
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h[1] = auth;
    }
    assert_int_equal(tu_http(method, url, body, h, &status, &resp), 0);
    if (ans)
        *ans = resp ? json_loads(resp, 0, NULL) : NULL;
    free(resp);
    return status;
}

static const char *err_of(json_t *ans)
{
    return json_string_value(json_object_get(ans, "error"));
}

static int64_t n_runs(const char *token)
{
    json_t *ans = NULL;
    int64_t n;
    assert_int_equal(call("GET", "/api/v1/runs?limit=1000", NULL, token, &ans), 200);
    n = (int64_t)json_array_size(json_object_get(ans, "runs"));
    json_decref(ans);
    return n;
}

struct wait_arg {
    int64_t id;
    const char *status;
    const char *token;
};

static bool run_has_status(void *ud)
{
    struct wait_arg *w = ud;
    char path[100];
    json_t *ans = NULL;
    bool ok;
    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)w->id);
    if (call("GET", path, NULL, w->token, &ans) != 200) {
        json_decref(ans);
        return false;
    }
    ok = strcmp(json_string_value(json_object_get(ans, "status")), w->status) == 0;
    json_decref(ans);
    return ok;
}

static bool token_refused(void *ud)
{
    return call("GET", "/api/v1/me", NULL, (const char *)ud, NULL) == 401;
}

/* 1. A fresh install on loopback answers without a token, as "local". */
static void fresh_install_is_open_on_loopback_only_until_a_token_exists(void **state)
{
    json_t *ans = NULL;
    (void)state;
    assert_int_equal(call("GET", "/api/v1/me", NULL, NULL, &ans), 200);
    assert_string_equal(json_string_value(json_object_get(ans, "actor")), "local");
    json_decref(ans);
    assert_int_equal(call("POST", "/api/v1/events", "{\"workflow\":\"hello\"}", NULL, &ans), 202);
    json_decref(ans);

    create_token("viewer1", "viewer", E.viewer, sizeof E.viewer);
    /* from the first token on, a request without one is refused, and changes nothing */
    assert_int_equal(call("POST", "/api/v1/events", "{\"workflow\":\"hello\"}", NULL, &ans), 401);
    assert_non_null(strstr(err_of(ans), "needs an API token"));
    json_decref(ans);
    assert_int_equal(call("GET", "/api/v1/runs", NULL, NULL, &ans), 401);
    json_decref(ans);
    assert_int_equal(call("GET", "/metrics", NULL, NULL, NULL), 401);
    assert_int_equal(n_runs(E.viewer), 1);
    /* health checks stay open for load balancers */
    assert_int_equal(call("GET", "/healthz", NULL, NULL, NULL), 200);
}

/* 2. Bad tokens: malformed, unknown, wrong scheme — 401, nothing done. */
static void bad_tokens_are_refused(void **state)
{
    char path[300], auth[200], *resp = NULL, url[300];
    const char *h[2] = {auth, NULL};
    json_t *ans = NULL;
    long status = 0;
    (void)state;
    assert_int_equal(call("GET", "/api/v1/me", NULL, "not-a-token", &ans), 401);
    assert_non_null(strstr(err_of(ans), "not an idflow API token"));
    json_decref(ans);
    assert_int_equal(call("GET", "/api/v1/me", NULL, "idf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &ans), 401);
    assert_string_equal(err_of(ans), "unknown, revoked or expired API token");
    json_decref(ans);
    snprintf(auth, sizeof auth, "Authorization: Basic %s", E.viewer);
    snprintf(url, sizeof url, "%s/api/v1/me", F.base);
    assert_int_equal(tu_http("GET", url, NULL, h, &status, &resp), 0);
    assert_int_equal(status, 401);
    free(resp);
    /* a token for one more character is another token */
    snprintf(path, sizeof path, "%sA", E.viewer);
    assert_int_equal(call("GET", "/api/v1/me", NULL, path, NULL), 401);
}

/* 3. Each role may do exactly its share. */
static void roles_allow_exactly_their_share(void **state)
{
    json_t *ans = NULL;
    int64_t run;
    struct wait_arg w;
    char path[100];
    (void)state;
    create_token("approver1", "approver", E.approver, sizeof E.approver);
    create_token("ops1", "operator", E.operator_, sizeof E.operator_);
    create_token("root", "admin", E.admin, sizeof E.admin);

    /* viewer: reads, but starts nothing */
    assert_int_equal(call("GET", "/api/v1/me", NULL, E.viewer, &ans), 200);
    assert_string_equal(json_string_value(json_object_get(ans, "role")), "viewer");
    json_decref(ans);
    assert_int_equal(call("GET", "/api/v1/workflows", NULL, E.viewer, NULL), 200);
    assert_int_equal(call("GET", "/metrics", NULL, E.viewer, NULL), 200);
    assert_int_equal(call("POST", "/api/v1/events", "{\"workflow\":\"gate\"}", E.viewer, &ans), 403);
    assert_string_equal(err_of(ans), "this needs the operator role; token 'viewer1' has the viewer role");
    json_decref(ans);
    assert_int_equal(call("GET", "/api/v1/audit", NULL, E.viewer, NULL), 403);
    assert_int_equal(call("GET", "/api/v1/tokens", NULL, E.operator_, NULL), 403);
    assert_int_equal(n_runs(E.viewer), 1);

    /* approver cannot start runs either */
    assert_int_equal(call("POST", "/api/v1/events", "{\"workflow\":\"gate\"}", E.approver, NULL), 403);

    /* operator starts one; the event records who */
    assert_int_equal(call("POST", "/api/v1/events", "{\"workflow\":\"gate\"}", E.operator_, &ans), 202);
    run = json_integer_value(json_array_get(json_object_get(ans, "run_ids"), 0));
    json_decref(ans);
    assert_true(run > 0);
    w.id = run;
    w.status = "waiting";
    w.token = E.viewer;
    assert_true(tu_wait_until(run_has_status, &w, 15000));
    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)run);
    assert_int_equal(call("GET", path, NULL, E.viewer, &ans), 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ans, "event"), "actor")), "token:ops1");
    json_decref(ans);

    /* a viewer may not approve; an approver may, and is recorded as the decider
     * whatever name the body claims */
    snprintf(path, sizeof path, "/api/v1/runs/%lld/approve", (long long)run);
    assert_int_equal(call("POST", path, "{}", E.viewer, &ans), 403);
    assert_string_equal(err_of(ans), "this needs the approver role; token 'viewer1' has the viewer role");
    json_decref(ans);
    assert_int_equal(call("POST", path, "{\"actor\":\"the-ceo\",\"comment\":\"fine\"}", E.approver, NULL), 200);
    w.status = "succeeded";
    assert_true(tu_wait_until(run_has_status, &w, 15000));

    /* admin: the audit log shows the decision with the real decider */
    assert_int_equal(call("GET", "/api/v1/audit", NULL, E.admin, &ans), 200);
    {
        json_t *a = json_array_get(json_object_get(ans, "audit"), 0);
        char target[40];
        snprintf(target, sizeof target, "run:%lld", (long long)run);
        assert_string_equal(json_string_value(json_object_get(a, "action")), "approval.approve");
        assert_string_equal(json_string_value(json_object_get(a, "actor")), "token:approver1");
        assert_string_equal(json_string_value(json_object_get(a, "target")), target);
    }
    json_decref(ans);
}

/* 4. Admins manage tokens over the API; a revoked token stops at once. */
static void admin_creates_and_revokes_tokens(void **state)
{
    json_t *ans = NULL, *list;
    char bot[64];
    size_t n_before;
    (void)state;
    assert_int_equal(call("GET", "/api/v1/tokens", NULL, E.admin, &ans), 200);
    n_before = json_array_size(json_object_get(ans, "tokens"));
    assert_int_equal(n_before, 4);
    json_decref(ans);

    /* bad input changes nothing */
    assert_int_equal(call("POST", "/api/v1/tokens", "{\"name\":\"x\",", E.admin, NULL), 400);
    assert_int_equal(call("POST", "/api/v1/tokens", "{\"name\":\"bot\",\"role\":\"god\"}", E.admin, &ans), 400);
    assert_non_null(strstr(err_of(ans), "viewer, approver, operator or admin"));
    json_decref(ans);
    assert_int_equal(call("POST", "/api/v1/tokens", "{\"name\":\"a b\",\"role\":\"viewer\"}", E.admin, NULL), 400);
    assert_int_equal(
        call("POST", "/api/v1/tokens", "{\"name\":\"bot\",\"role\":\"viewer\",\"expires_in\":\"soon\"}", E.admin, NULL),
        400);
    assert_int_equal(call("POST", "/api/v1/tokens", "{\"name\":\"ops1\",\"role\":\"viewer\"}", E.admin, &ans), 409);
    json_decref(ans);
    assert_int_equal(call("GET", "/api/v1/tokens", NULL, E.admin, &ans), 200);
    assert_int_equal(json_array_size(json_object_get(ans, "tokens")), n_before);
    json_decref(ans);

    assert_int_equal(call("POST", "/api/v1/tokens", "{\"name\":\"bot\",\"role\":\"operator\",\"expires_in\":\"30d\"}",
                          E.admin, &ans),
                     201);
    snprintf(bot, sizeof bot, "%s", json_string_value(json_object_get(ans, "token")));
    assert_true(json_integer_value(json_object_get(ans, "expires_at")) > 0);
    json_decref(ans);
    assert_int_equal(call("GET", "/api/v1/me", NULL, bot, &ans), 200);
    assert_string_equal(json_string_value(json_object_get(ans, "actor")), "token:bot");
    json_decref(ans);

    /* the listing never holds a token or its hash */
    assert_int_equal(call("GET", "/api/v1/tokens", NULL, E.admin, &ans), 200);
    list = json_object_get(ans, "tokens");
    assert_int_equal(json_array_size(list), n_before + 1);
    {
        char *s = json_dumps(ans, 0);
        assert_null(strstr(s, bot));
        assert_null(strstr(s, E.viewer));
        assert_null(strstr(s, "hash"));
        free(s);
    }
    json_decref(ans);

    assert_int_equal(call("DELETE", "/api/v1/tokens/bot", NULL, E.admin, NULL), 200);
    assert_int_equal(call("GET", "/api/v1/me", NULL, bot, NULL), 401);
    assert_int_equal(call("DELETE", "/api/v1/tokens/bot", NULL, E.admin, NULL), 404);

    /* the CLI revokes too, with the same immediate effect */
    assert_int_equal(cli(NULL, NULL, "token", "revoke", "approver1", NULL), 0);
    assert_int_equal(call("GET", "/api/v1/me", NULL, E.approver, NULL), 401);
    assert_int_equal(cli(NULL, NULL, "token", "revoke", "approver1", NULL), 1);
}

/* 4b. Once a token existed the API never opens again: not when the last
 * token is revoked (that needs --force, which says what it means), not when
 * the last one expires. The API's own revocation of the last admin token is
 * refused the same way. */
static void api_never_reopens(void **state)
{
    char *out = NULL, *err = NULL, tmp[64], path[100];
    json_t *ans = NULL;
    (void)state;
    /* the admin token is the last admin: refused over the API and the CLI, nothing changes */
    assert_int_equal(call("DELETE", "/api/v1/tokens/root", NULL, E.admin, &ans), 409);
    assert_non_null(strstr(err_of(ans), "last admin token"));
    json_decref(ans);
    assert_int_equal(cli(NULL, &err, "token", "revoke", "root", NULL), 1);
    assert_non_null(strstr(err, "last admin token"));
    assert_non_null(strstr(err, "--force"));
    free(err);
    assert_int_equal(call("GET", "/api/v1/me", NULL, E.admin, NULL), 200);

    /* every token but one short-lived admin, then the admin too (forced) */
    assert_int_equal(cli(NULL, NULL, "token", "revoke", "viewer1", NULL), 0);
    assert_int_equal(cli(NULL, NULL, "token", "revoke", "ops1", NULL), 0);
    assert_int_equal(cli(&out, NULL, "token", "create", "brief", "--role", "admin", "--expires-in", "1s", NULL), 0);
    snprintf(tmp, sizeof tmp, "%.*s", (int)strcspn(out, "\n"), out);
    free(out);
    assert_int_equal(cli(NULL, NULL, "token", "revoke", "root", "--force", NULL), 0);
    assert_int_equal(call("GET", "/api/v1/me", NULL, E.admin, NULL), 401);
    /* the last live token expires: wait until the server says so, then no
     * request without a token is served either */
    snprintf(path, sizeof path, "%s", tmp);
    assert_true(tu_wait_until(token_refused, path, 15000));
    assert_int_equal(call("GET", "/api/v1/me", NULL, NULL, &ans), 401);
    assert_non_null(strstr(err_of(ans), "needs an API token"));
    json_decref(ans);
    assert_int_equal(call("POST", "/api/v1/tokens", "{\"name\":\"x\",\"role\":\"admin\"}", NULL, NULL), 401);
    assert_int_equal(call("GET", "/metrics", NULL, NULL, NULL), 401);
    /* the CLI on the store is the way back in */
    create_token("root", "admin", E.admin, sizeof E.admin);
    create_token("viewer1", "viewer", E.viewer, sizeof E.viewer);
    create_token("ops1", "operator", E.operator_, sizeof E.operator_);
    assert_int_equal(call("GET", "/api/v1/me", NULL, E.admin, NULL), 200);
}

/* 5. The audit log names every actor; no token is anywhere it should not be. */
static void audit_log_and_no_token_leaks(void **state)
{
    char *out = NULL, *err = NULL;
    (void)state;
    assert_int_equal(cli(&out, NULL, "audit", "--json", "--limit", "100", NULL), 0);
    assert_non_null(strstr(out, "\"action\": \"token.create\""));
    assert_non_null(strstr(out, "\"target\": \"token:bot\""));
    assert_non_null(strstr(out, "\"actor\": \"token:root\""));
    assert_non_null(strstr(out, "\"action\": \"token.revoke\""));
    assert_non_null(strstr(out, "\"actor\": \"cli:"));
    assert_null(strstr(out, "idf_"));
    free(out);
    assert_int_equal(cli(&out, &err, "token", "list", "--json", NULL), 0);
    assert_null(strstr(out, E.viewer));
    assert_null(strstr(out, E.admin));
    free(out);
    free(err);
    /* bad CLI input: usage errors, nothing created */
    assert_int_equal(cli(NULL, NULL, "token", "create", "x", "--role", "root", NULL), 2);
    assert_int_equal(cli(NULL, NULL, "token", "create", "x", NULL), 2);
    assert_int_equal(cli(NULL, NULL, "token", "create", "viewer1", "--role", "viewer", NULL), 1);

    /* serve stops cleanly and its log holds none of the tokens */
    F.secrets[0] = E.viewer;
    F.secrets[1] = E.operator_;
    F.secrets[2] = E.admin;
    F.secrets[3] = E.approver;
    for (int i = 0; i < 4; i++)
        assert_true(strlen(F.secrets[i]) > 20); /* made: an empty one would match any log */
    assert_int_equal(sfx_serve_stop(&F), 0);
}

/* 6. Beyond loopback: refused while the store has no token; with one, the
 * API never answers without a token. */
static void non_loopback_needs_a_token(void **state)
{
    struct tu_proc p;
    char listen[64], url[200], *err, db[300];
    long status = 0;
    int port = tu_free_port();
    json_t *ans = NULL;
    (void)state;

    /* an empty store: refused with the reason */
    snprintf(db, sizeof db, "%s", F.db);
    snprintf(F.db, sizeof F.db, "sqlite:%s/empty.db", F.dir);
    snprintf(listen, sizeof listen, "0.0.0.0:%d", port);
    assert_int_equal(start_serve_at(listen, &p), 0);
    assert_int_equal(tu_wait(&p, 15000), 2);
    err = tu_proc_stderr(&p);
    assert_non_null(strstr(err, "has no API token yet"));
    free(err);
    tu_proc_cleanup(&p);

    /* the store with tokens: serves, and a request without a token is refused */
    snprintf(F.db, sizeof F.db, "%s", db);
    assert_int_equal(start_serve_at(listen, &p), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/readyz", port);
    assert_int_equal(tu_wait_http_ok(url, 15000), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/me", port);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, NULL), 0);
    assert_int_equal(status, 401);
    snprintf(F.base, sizeof F.base, "http://127.0.0.1:%d", port);
    assert_int_equal(call("GET", "/api/v1/me", NULL, E.viewer, &ans), 200);
    json_decref(ans);
    tu_kill(&p, SIGTERM);
    assert_int_equal(tu_wait(&p, 15000), 0);
    tu_proc_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fresh_install_is_open_on_loopback_only_until_a_token_exists),
        cmocka_unit_test(bad_tokens_are_refused),
        cmocka_unit_test(roles_allow_exactly_their_share),
        cmocka_unit_test(admin_creates_and_revokes_tokens),
        cmocka_unit_test(api_never_reopens),
        cmocka_unit_test(audit_log_and_no_token_leaks),
        cmocka_unit_test(non_loopback_needs_a_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

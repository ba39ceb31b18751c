/* test_api_admin.c — the API's administration routes against a real
 * `idflow serve` and a real `idflow sandbox` on loopback: connections
 * stored only after a real credential check and never returned with their
 * secrets, testing and removing them, the connector catalogue, a
 * workflow's YAML, and cancelling runs — each with its role and its audit
 * record. Tokens are made with the real CLI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/serve_fixture.h"
#include "support/testsrv.h"

#define SBX_TOKEN "sbx-0123456789-abcdefghij-TOKEN" /* what the sandbox accepts */
#define WRONG "sbx-wrong-token-zyxwvutsrq-9876"

struct env {
    struct testsrv *slow; /* what the "slow" workflow calls: 100 ms per answer */
    char viewer[64], operator_[64], admin[64];
};

static struct env E;
/* the admin's API token joins the secrets once it is made */
static struct sfx F = {.secrets = {SBX_TOKEN, WRONG}};

static const char WF_GATE[] = "name: gate\n"
                              "on: manual\n"
                              "steps:\n"
                              "  - id: ok\n"
                              "    do: approval\n"
                              "    with: {message: \"go?\"}\n"
                              "  - id: after\n"
                              "    do: set\n"
                              "    with: {done: true}\n";

static const char WF_SLOW[] = "name: slow\n"
                              "on: manual\n"
                              "allow_private_network: true\n" /* the target is a loopback test server */
                              "steps:\n"
                              "  - id: each\n"
                              "    foreach: ${{ [range(40)] }}\n"
                              "    as: n\n"
                              "    do: http.request\n"
                              "    with:\n"
                              "      url: \"${{ .event.data.base }}/item/${{ .n }}\"\n"
                              "  - id: never\n"
                              "    do: http.request\n"
                              "    with:\n"
                              "      url: \"${{ .event.data.base }}/never\"\n";

static bool answer_slowly(void *ud, const struct http_req *req, struct http_resp *resp)
{
    (void)ud;
    (void)req;
    resp->delay_ms = 100;
    http_resp_json(resp, 200, json_pack("{s:b}", "ok", 1));
    return true;
}

static void token(const char *name, const char *role, char *tok, size_t n)
{
    assert_int_equal(tu_idflow_token(F.bin, F.db, name, role, tok, n), 0);
}

static int setup(void **state)
{
    (void)state;
    if (sfx_start(&F, (const char *[]){"--token", SBX_TOKEN, NULL}) || sfx_write_wf(&F, "gate", WF_GATE) ||
        sfx_write_wf(&F, "slow", WF_SLOW))
        return -1;
    E.slow = testsrv_start();
    testsrv_set_handler(E.slow, answer_slowly, NULL);
    if (sfx_serve_start(&F, NULL, NULL))
        return -1;
    token("view", "viewer", E.viewer, sizeof E.viewer);
    token("ops", "operator", E.operator_, sizeof E.operator_);
    token("root", "admin", E.admin, sizeof E.admin);
    F.secrets[2] = E.admin;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sfx_stop(&F); /* stops serve if a test failed before serve_log_holds_no_secret */
    testsrv_stop(E.slow);
    return 0;
}

/* One API call; the status, the raw answer in *raw (may be NULL), parsed in *ans. */
static long call(const char *method, const char *path, const char *body, const char *tok, json_t **ans)
{
    char url[300], auth[200], *resp = NULL;
    const char *h[3] = {"Content-Type: application/json", auth, NULL};
    long status = 0;
    snprintf(url, sizeof url, "%s%s", F.base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    assert_int_equal(tu_http(method, url, body, h, &status, &resp), 0);
    if (resp) {
        assert_null(strstr(resp, SBX_TOKEN)); /* no answer ever carries a secret */
        assert_null(strstr(resp, WRONG));
    }
    if (ans)
        *ans = resp ? json_loads(resp, 0, NULL) : NULL;
    free(resp);
    return status;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void connector_catalogue_lists_fields_and_secrets(void **state)
{
    json_t *ans = NULL, *c, *f;
    size_t i, j;
    bool okta = false, token_secret = false, url_plain = false;
    (void)state;
    assert_int_equal(call("GET", "/api/v1/connectors", NULL, E.viewer, &ans), 200);
    json_array_foreach (json_object_get(ans, "connectors"), i, c) {
        if (strcmp(str(c, "name"), "okta") != 0)
            continue;
        okta = true;
        json_array_foreach (json_object_get(c, "fields"), j, f) {
            if (strcmp(str(f, "name"), "token") == 0)
                token_secret = json_is_true(json_object_get(f, "secret"));
            if (strcmp(str(f, "name"), "url") == 0)
                url_plain = json_is_false(json_object_get(f, "secret")) && json_is_true(json_object_get(f, "required"));
        }
    }
    assert_true(okta && token_secret && url_plain);
    json_decref(ans);
}

static void connection_stored_only_after_a_real_check(void **state)
{
    char body[600];
    json_t *ans = NULL, *list;
    (void)state;
    /* bad input: 400, nothing stored */
    assert_int_equal(call("PUT", "/api/v1/connections/acme", "{\"kind\":", E.admin, NULL), 400);
    assert_int_equal(call("PUT", "/api/v1/connections/acme", "{\"kind\":\"nope\",\"config\":{}}", E.admin, &ans), 400);
    assert_non_null(strstr(str(ans, "error"), "kind"));
    json_decref(ans);
    snprintf(body, sizeof body, "{\"kind\":\"okta\",\"config\":{\"url\":\"%s\",\"token\":\"%s\"}}", F.sb, SBX_TOKEN);
    assert_int_equal(call("PUT", "/api/v1/connections/acme", body, E.admin, &ans), 400); /* http without sandbox */
    assert_non_null(strstr(str(ans, "error"), "url"));
    json_decref(ans);
    /* the remote refuses the credentials: 422, nothing stored, the secret not echoed */
    snprintf(body, sizeof body, "{\"kind\":\"okta\",\"config\":{\"url\":\"%s\",\"sandbox\":true,\"token\":\"%s\"}}",
             F.sb, WRONG);
    assert_int_equal(call("PUT", "/api/v1/connections/acme", body, E.admin, &ans), 422);
    assert_string_equal(str(ans, "check"), "failed");
    assert_non_null(strstr(str(ans, "error"), "nothing was stored"));
    assert_string_equal(str(ans, "cause"), "refused");
    assert_null(strstr(str(ans, "error"), "could not reach"));
    json_decref(ans);
    /* a remote that does not answer did not refuse anything: "could not
     * reach HOST", cause "unreachable" (port 1 on loopback: nothing listens) */
    snprintf(body, sizeof body,
             "{\"kind\":\"okta\",\"config\":{\"url\":\"http://127.0.0.1:1\",\"sandbox\":true,\"token\":\"%s\"}}",
             SBX_TOKEN);
    assert_int_equal(call("PUT", "/api/v1/connections/acme", body, E.admin, &ans), 422);
    assert_string_equal(str(ans, "cause"), "unreachable");
    assert_non_null(strstr(str(ans, "error"), "nothing was stored: could not reach 127.0.0.1:1: "));
    assert_null(strstr(str(ans, "error"), SBX_TOKEN));
    json_decref(ans);
    snprintf(body, sizeof body,
             "{\"kind\":\"happyfox\",\"config\":{\"url\":\"http://127.0.0.1:1\",\"sandbox\":true,"
             "\"api_key\":\"k0123456789\",\"auth_code\":\"c0123456789\"}}");
    assert_int_equal(call("PUT", "/api/v1/connections/desk", body, E.admin, &ans), 422);
    assert_string_equal(str(ans, "cause"), "unreachable");
    assert_non_null(strstr(str(ans, "error"), "could not reach 127.0.0.1:1: happyfox connection check"));
    json_decref(ans);
    /* roles: viewers and operators may not store */
    snprintf(body, sizeof body, "{\"kind\":\"okta\",\"config\":{\"url\":\"%s\",\"sandbox\":true,\"token\":\"%s\"}}",
             F.sb, SBX_TOKEN);
    assert_int_equal(call("PUT", "/api/v1/connections/acme", body, E.operator_, NULL), 403);
    assert_int_equal(call("GET", "/api/v1/connections", NULL, E.viewer, &ans), 200);
    assert_int_equal(json_array_size(json_object_get(ans, "connections")), 0);
    json_decref(ans);

    assert_int_equal(call("PUT", "/api/v1/connections/acme", body, E.admin, &ans), 201);
    assert_true(json_is_true(json_object_get(ans, "created")));
    assert_true(json_is_object(json_object_get(ans, "whoami")));
    json_decref(ans);
    assert_int_equal(call("PUT", "/api/v1/connections/acme", body, E.admin, &ans), 200); /* replaced */
    assert_true(json_is_false(json_object_get(ans, "created")));
    json_decref(ans);
    /* an edit that keeps the url may leave the secret out: the stored one is kept (and checked) */
    snprintf(body, sizeof body, "{\"kind\":\"okta\",\"config\":{\"url\":\"%s\",\"sandbox\":true}}", F.sb);
    assert_int_equal(call("PUT", "/api/v1/connections/acme", body, E.admin, &ans), 200);
    assert_true(json_is_object(json_object_get(ans, "whoami")));
    json_decref(ans);
    /* pointing the connection elsewhere needs the secret again: a stored token never
     * follows a new url (it could be read there) */
    snprintf(body, sizeof body, "{\"kind\":\"okta\",\"config\":{\"url\":\"http://localhost%s\",\"sandbox\":true}}",
             strrchr(F.sb, ':')); /* the same sandbox under another name */
    assert_int_equal(call("PUT", "/api/v1/connections/acme", body, E.admin, &ans), 400);
    assert_non_null(strstr(str(ans, "error"), "token"));
    json_decref(ans);
    assert_int_equal(call("GET", "/api/v1/connections", NULL, E.viewer, &ans), 200);
    list = json_object_get(ans, "connections");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(str(json_object_get(json_array_get(list, 0), "config"), "url"), F.sb);
    assert_string_equal(str(json_array_get(list, 0), "kind"), "okta");
    assert_null(json_object_get(json_object_get(json_array_get(list, 0), "config"), "token"));
    json_decref(ans);
}

static void connection_test_and_delete(void **state)
{
    json_t *ans = NULL, *a;
    size_t i;
    bool created = false, deleted = false;
    (void)state;
    assert_int_equal(call("POST", "/api/v1/connections/acme/test", NULL, E.viewer, NULL), 403);
    assert_int_equal(call("POST", "/api/v1/connections/acme/test", NULL, E.operator_, &ans), 200);
    assert_true(json_is_true(json_object_get(ans, "ok")));
    json_decref(ans);
    assert_int_equal(call("POST", "/api/v1/connections/nope/test", NULL, E.operator_, NULL), 404);
    assert_int_equal(call("DELETE", "/api/v1/connections/acme", NULL, E.operator_, NULL), 403);
    assert_int_equal(call("DELETE", "/api/v1/connections/acme", NULL, E.admin, NULL), 200);
    assert_int_equal(call("DELETE", "/api/v1/connections/acme", NULL, E.admin, NULL), 404);
    assert_int_equal(call("POST", "/api/v1/connections/acme/test", NULL, E.operator_, NULL), 404);
    /* the audit log names the token that did each change */
    assert_int_equal(call("GET", "/api/v1/audit", NULL, E.admin, &ans), 200);
    json_array_foreach (json_object_get(ans, "audit"), i, a) {
        if (strcmp(str(a, "target"), "connection:acme") != 0)
            continue;
        assert_string_equal(str(a, "actor"), "token:root");
        created |= strcmp(str(a, "action"), "connection.create") == 0;
        deleted |= strcmp(str(a, "action"), "connection.delete") == 0;
    }
    assert_true(created && deleted);
    json_decref(ans);
}

static void workflow_yaml_is_readable(void **state)
{
    json_t *ans = NULL;
    (void)state;
    assert_int_equal(call("GET", "/api/v1/workflows/gate", NULL, E.viewer, &ans), 200);
    assert_string_equal(str(ans, "name"), "gate");
    assert_string_equal(str(ans, "source"), WF_GATE);
    json_decref(ans);
    assert_int_equal(call("GET", "/api/v1/workflows/nope", NULL, E.viewer, NULL), 404);
}

struct wait_arg {
    int64_t id;
    const char *status;
};

static bool has_status(void *ud)
{
    struct wait_arg *w = ud;
    char path[80];
    json_t *ans = NULL;
    bool ok;
    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)w->id);
    ok = call("GET", path, NULL, E.viewer, &ans) == 200 && strcmp(str(ans, "status"), w->status) == 0;
    json_decref(ans);
    return ok;
}

static void waiting_run_is_cancelled_by_an_operator(void **state)
{
    json_t *ans = NULL;
    struct wait_arg w;
    char path[100];
    (void)state;
    assert_int_equal(call("POST", "/api/v1/events", "{\"workflow\":\"gate\"}", E.operator_, &ans), 202);
    w.id = json_integer_value(json_array_get(json_object_get(ans, "run_ids"), 0));
    json_decref(ans);
    w.status = "waiting";
    assert_true(tu_wait_until(has_status, &w, 15000));

    snprintf(path, sizeof path, "/api/v1/runs/%lld/cancel", (long long)w.id);
    assert_int_equal(call("POST", path, "{\"reason\":\"ticket withdrawn\"}", E.viewer, NULL), 403);
    assert_int_equal(call("POST", path, "{\"reason\":\"ticket withdrawn\"}", E.operator_, &ans), 200);
    assert_string_equal(str(ans, "status"), "cancelled");
    json_decref(ans);
    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)w.id);
    assert_int_equal(call("GET", path, NULL, E.viewer, &ans), 200);
    assert_string_equal(str(ans, "status"), "cancelled");
    assert_string_equal(str(ans, "error"), "cancelled by token:ops: ticket withdrawn");
    json_decref(ans);
    /* a finished run cannot be cancelled; the pending approval is gone with the run */
    snprintf(path, sizeof path, "/api/v1/runs/%lld/cancel", (long long)w.id);
    assert_int_equal(call("POST", path, NULL, E.operator_, NULL), 409);
    snprintf(path, sizeof path, "/api/v1/runs/%lld/approve", (long long)w.id);
    assert_int_equal(call("POST", path, NULL, E.admin, NULL), 409);
    assert_int_equal(call("GET", "/api/v1/audit?limit=5", NULL, E.admin, &ans), 200);
    assert_string_equal(str(json_array_get(json_object_get(ans, "audit"), 0), "action"), "run.cancel");
    assert_string_equal(str(json_array_get(json_object_get(ans, "audit"), 0), "actor"), "token:ops");
    json_decref(ans);
}

/* A running run asked to stop records the call in flight, then ends as
 * cancelled: no further item, no later step. */
static void running_run_stops_after_its_current_step(void **state)
{
    json_t *ans = NULL, *steps, *s;
    struct wait_arg w;
    char body[300], path[100];
    int calls, recorded = 0;
    size_t i;
    (void)state;
    snprintf(body, sizeof body, "{\"workflow\":\"slow\",\"data\":{\"base\":\"%s\"}}", testsrv_url(E.slow));
    assert_int_equal(call("POST", "/api/v1/events", body, E.operator_, &ans), 202);
    w.id = json_integer_value(json_array_get(json_object_get(ans, "run_ids"), 0));
    json_decref(ans);
    assert_int_equal(testsrv_wait_calls(E.slow, NULL, 3, 15000), 0);

    snprintf(path, sizeof path, "/api/v1/runs/%lld/cancel", (long long)w.id);
    assert_int_equal(call("POST", path, "{\"reason\":\"wrong group\"}", E.operator_, &ans), 200);
    assert_string_equal(str(ans, "status"), "cancelling");
    json_decref(ans);
    w.status = "cancelled";
    assert_true(tu_wait_until(has_status, &w, 15000));

    calls = testsrv_calls(E.slow, NULL);
    assert_true(calls < 40);
    assert_int_equal(testsrv_calls(E.slow, "/never"), 0);
    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)w.id);
    assert_int_equal(call("GET", path, NULL, E.viewer, &ans), 200);
    assert_string_equal(str(ans, "error"), "cancelled by token:ops: wrong group");
    steps = json_object_get(ans, "steps");
    json_array_foreach (steps, i, s) {
        if (strcmp(str(s, "step_id"), "each") == 0 && strcmp(str(s, "status"), "succeeded") == 0)
            recorded++;
    }
    assert_int_equal(recorded, calls); /* every call made is in the history, the last one included */
    json_decref(ans);
    /* a finished run stays finished */
    snprintf(path, sizeof path, "/api/v1/runs/%lld/cancel", (long long)w.id);
    assert_int_equal(call("POST", path, NULL, E.operator_, NULL), 409);
}

/* Issue 17 ("approvals-reruns"): a rejected run answers who rejected it and
 * why (the run, its approvals, the audit record); it is not re-run as if it
 * had failed (409 naming the decider) unless forced, and a forced re-run
 * asks the approvers again; a run is re-run once: the next re-run is
 * refused with 409 naming the first (rerun_as) unless forced. */
static void rejected_run_and_rerun_once(void **state)
{
    json_t *ans = NULL, *rej, *ap;
    struct wait_arg w;
    char path[100], want[80];
    int64_t again, orig;
    (void)state;
    assert_int_equal(call("POST", "/api/v1/events", "{\"workflow\":\"gate\"}", E.operator_, &ans), 202);
    w.id = json_integer_value(json_array_get(json_object_get(ans, "run_ids"), 0));
    json_decref(ans);
    w.status = "waiting";
    assert_true(tu_wait_until(has_status, &w, 15000));
    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)w.id);
    assert_int_equal(call("GET", path, NULL, E.viewer, &ans), 200);
    ap = json_array_get(json_object_get(ans, "approvals"), 0);
    assert_string_equal(str(ap, "status"), "pending");
    assert_true(json_is_null(json_object_get(ap, "actor")));
    assert_null(json_object_get(ans, "rejected"));
    json_decref(ans);

    snprintf(path, sizeof path, "/api/v1/runs/%lld/reject", (long long)w.id);
    assert_int_equal(call("POST", path, "{\"comment\":\"not before Friday\"}", E.admin, NULL), 200);
    w.status = "failed";
    assert_true(tu_wait_until(has_status, &w, 15000));
    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)w.id);
    assert_int_equal(call("GET", path, NULL, E.viewer, &ans), 200);
    rej = json_object_get(ans, "rejected");
    assert_non_null(rej);
    assert_string_equal(str(rej, "by"), "token:root");
    assert_string_equal(str(rej, "comment"), "not before Friday");
    assert_string_equal(str(rej, "step_id"), "ok");
    assert_true(json_integer_value(json_object_get(rej, "at")) > 0);
    ap = json_array_get(json_object_get(ans, "approvals"), 0);
    assert_string_equal(str(ap, "status"), "rejected");
    assert_string_equal(str(ap, "actor"), "token:root");
    assert_string_equal(str(ap, "comment"), "not before Friday");
    assert_string_equal(str(ap, "message"), "go?");
    assert_true(json_integer_value(json_object_get(ap, "decided_at")) > 0);
    json_decref(ans);
    assert_int_equal(call("GET", "/api/v1/audit?limit=5", NULL, E.admin, &ans), 200);
    ap = json_array_get(json_object_get(ans, "audit"), 0);
    assert_string_equal(str(ap, "action"), "approval.reject");
    assert_string_equal(str(json_object_get(ap, "detail"), "comment"), "not before Friday");
    json_decref(ans);

    snprintf(path, sizeof path, "/api/v1/runs/%lld/rerun", (long long)w.id);
    assert_int_equal(call("POST", path, "{}", E.operator_, &ans), 409);
    assert_non_null(strstr(str(ans, "error"), "rejected by token:root: not before Friday"));
    json_decref(ans);
    assert_int_equal(call("POST", path, "{\"force\":\"yes\"}", E.operator_, &ans), 400);
    assert_non_null(strstr(str(ans, "error"), "\"force\""));
    json_decref(ans);
    assert_int_equal(call("POST", path, "{\"force\":true}", E.operator_, &ans), 202);
    again = json_integer_value(json_object_get(ans, "run_id"));
    json_decref(ans);
    orig = w.id;
    /* a forced re-run of a rejection asks the approvers again */
    w.id = again;
    w.status = "waiting";
    assert_true(tu_wait_until(has_status, &w, 15000));

    /* re-run once: the next one is refused naming it, unless forced */
    assert_int_equal(call("POST", path, NULL, E.operator_, &ans), 409);
    snprintf(want, sizeof want, "re-run as run #%lld", (long long)again);
    assert_non_null(strstr(str(ans, "error"), want));
    assert_int_equal(json_integer_value(json_object_get(ans, "rerun_as")), again);
    json_decref(ans);
    /* the original links to its re-run, the re-run back to it */
    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)orig);
    assert_int_equal(call("GET", path, NULL, E.viewer, &ans), 200);
    assert_int_equal(json_integer_value(json_object_get(ans, "rerun_as")), again);
    json_decref(ans);
    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)again);
    assert_int_equal(call("GET", path, NULL, E.viewer, &ans), 200);
    assert_int_equal(json_integer_value(json_object_get(ans, "rerun_of")), orig);
    assert_true(json_is_null(json_object_get(ans, "rerun_as")));
    json_decref(ans);
}

/* Last: SIGTERM ends serve with status 0, and its log holds neither the
 * sandbox's token, the wrong one tried, nor the admin's API token
 * (F.secrets: sfx_serve_stop fails on any of them). */
static void serve_log_holds_no_secret(void **state)
{
    (void)state;
    assert_non_null(F.secrets[2]);
    assert_int_equal(sfx_serve_stop(&F), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connector_catalogue_lists_fields_and_secrets),
        cmocka_unit_test(connection_stored_only_after_a_real_check),
        cmocka_unit_test(connection_test_and_delete),
        cmocka_unit_test(workflow_yaml_is_readable),
        cmocka_unit_test(waiting_run_is_cancelled_by_an_operator),
        cmocka_unit_test(running_run_stops_after_its_current_step),
        cmocka_unit_test(rejected_run_and_rerun_once), /* issue 17, "approvals-reruns" */
        cmocka_unit_test(serve_log_holds_no_secret),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

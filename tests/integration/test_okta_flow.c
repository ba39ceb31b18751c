/* test_okta_flow.c — Okta workflows through the whole stack: the sandbox org
 * (with a small rate budget), `idflow connect` (token sealed), `idflow
 * serve` with workflows whose steps have NO retry:, runs started through the
 * API (the processes: serve_fixture.h). Proves that:
 *  - a paced call is deferred, not failed: runs without retry: still succeed,
 *    each step with one attempt, and the sandbox never answered 429;
 *  - the run's steps see the connection without naming it (the only one);
 *  - the workflows converge: a second run changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/serve_fixture.h"

#define TOKEN "flow-test-okta-token"

static struct sfx F = {.secrets = {TOKEN}};

static const char wf_lookup[] = "name: lookup-many\n"
                                "on: manual\n"
                                "steps:\n"
                                "  - id: each\n"
                                "    foreach: ${{ .event.data.logins }}\n"
                                "    as: login\n"
                                "    do: okta.get_user\n"
                                "    with:\n"
                                "      user: ${{ .login }}\n"
                                "  - id: count\n"
                                "    do: set\n"
                                "    with:\n"
                                "      n: ${{ .steps.each | length }}\n";

static const char wf_suspend[] = "name: suspend\n"
                                 "on: manual\n"
                                 "steps:\n"
                                 "  - id: suspend\n"
                                 "    do: okta.suspend_user\n"
                                 "    with:\n"
                                 "      user: ${{ .event.data.login }}\n";

static int setup(void **state)
{
    const char *env[] = {"FLOW_TEST_TOKEN=" TOKEN, NULL};
    (void)state;
    /* every Okta bucket: 300 requests a minute */
    if (sfx_start(&F, (const char *[]){"--token", TOKEN, "--rate-limit", "300", NULL}) ||
        sfx_write_wf(&F, "lookup", wf_lookup) || sfx_write_wf(&F, "suspend", wf_suspend))
        return -1;
    if (sfx_idflow(&F, env, NULL, "connect", "okta", "acme", "--url", F.sb, "--token-env", "FLOW_TEST_TOKEN",
                   "--sandbox", "--db", F.db, NULL))
        return -1;
    return sfx_serve_start(&F, NULL, (const char *[]){"--workers", "4", NULL});
}

static int teardown(void **state)
{
    (void)state;
    sfx_stop(&F); /* stops serve if a test failed before serve_exits_cleanly */
    return 0;
}

static int64_t start(const char *workflow, const char *data)
{
    char url[200], body[2048], *resp = NULL;
    long status = 0;
    json_t *a;
    int64_t id;
    snprintf(url, sizeof url, "%s/api/v1/events", F.base);
    snprintf(body, sizeof body, "{\"workflow\":\"%s\",\"data\":%s}", workflow, data);
    assert_int_equal(tu_http("POST", url, body, NULL, &status, &resp), 0);
    assert_int_equal(status, 202);
    a = json_loads(resp, 0, NULL);
    free(resp);
    id = json_integer_value(json_array_get(json_object_get(a, "run_ids"), 0));
    json_decref(a);
    assert_true(id > 0);
    return id;
}

static json_t *wait_final(int64_t id, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        char url[200], *resp = NULL;
        long status = 0;
        json_t *r;
        const char *st;
        snprintf(url, sizeof url, "%s/api/v1/runs/%lld", F.base, (long long)id);
        assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
        r = json_loads(resp, 0, NULL);
        free(resp);
        st = json_string_value(json_object_get(r, "status"));
        if (st && (!strcmp(st, "succeeded") || !strcmp(st, "failed")))
            return r;
        json_decref(r);
        assert_true(tu_now_ms() < deadline);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static int sandbox_429s(void)
{
    char url[200], *resp = NULL;
    long status = 0;
    json_t *r, *c;
    size_t i;
    int n = 0;
    snprintf(url, sizeof url, "%s/_sandbox/calls", F.sb);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    r = json_loads(resp, 0, NULL);
    free(resp);
    json_array_foreach (json_object_get(r, "calls"), i, c) {
        if (json_integer_value(json_object_get(c, "status")) == 429)
            n++;
    }
    json_decref(r);
    return n;
}

static void paced_calls_are_deferred_not_failed(void **state)
{
    const char *logins = "[\"maria.gonzalez@acme.example\",\"james.okafor@acme.example\","
                         "\"priya.raman@acme.example\",\"marcus.lee@acme.example\",\"sofia.rossi@acme.example\","
                         "\"ethan.brooks@acme.example\",\"hannah.kim@acme.example\",\"noah.schmidt@acme.example\"]";
    char data[1024];
    int64_t ids[3];
    int deferred = 0;
    (void)state;
    snprintf(data, sizeof data, "{\"logins\":%s}", logins);
    for (int i = 0; i < 3; i++)
        ids[i] = start("lookup-many", data);
    for (int i = 0; i < 3; i++) {
        json_t *r = wait_final(ids[i], 60000), *s;
        size_t k;
        assert_string_equal(json_string_value(json_object_get(r, "status")), "succeeded");
        json_array_foreach (json_object_get(r, "steps"), k, s) {
            const char *st = json_string_value(json_object_get(s, "status"));
            if (!strcmp(st, "succeeded"))
                assert_int_equal(json_integer_value(json_object_get(s, "attempts")), 1);
        }
        /* the last step saw every lookup */
        {
            json_t *steps = json_object_get(r, "steps");
            json_t *last = json_array_get(steps, json_array_size(steps) - 1);
            assert_int_equal(json_integer_value(json_object_get(json_object_get(last, "output"), "n")), 8);
        }
        json_decref(r);
    }
    /* the three runs competed for the budget: some calls were paced */
    {
        char url[200], *resp = NULL;
        long status = 0;
        snprintf(url, sizeof url, "%s/metrics", F.base);
        assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
        char *p = strstr(resp, "idflow_steps_total{status=\"retrying\"} ");
        assert_non_null(p);
        deferred = atoi(p + strlen("idflow_steps_total{status=\"retrying\"} "));
        free(resp);
    }
    assert_true(deferred > 0);
    assert_int_equal(sandbox_429s(), 0);
}

static void suspension_converges(void **state)
{
    json_t *r;
    (void)state;
    r = wait_final(start("suspend", "{\"login\":\"grace.liu@acme.example\"}"), 30000);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "succeeded");
    assert_true(json_is_true(
        json_object_get(json_object_get(json_array_get(json_object_get(r, "steps"), 0), "output"), "changed")));
    json_decref(r);
    r = wait_final(start("suspend", "{\"login\":\"grace.liu@acme.example\"}"), 30000);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "succeeded");
    assert_true(json_is_false(
        json_object_get(json_object_get(json_array_get(json_object_get(r, "steps"), 0), "output"), "changed")));
    json_decref(r);
    assert_int_equal(sandbox_429s(), 0);
}

/* Last: SIGTERM ends serve with status 0 (under ASan: no leak or error
 * report), and its log never held the token. */
static void serve_exits_cleanly(void **state)
{
    (void)state;
    assert_int_equal(sfx_serve_stop(&F), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paced_calls_are_deferred_not_failed),
        cmocka_unit_test(suspension_converges),
        cmocka_unit_test(serve_exits_cleanly),
    };
    return cmocka_run_group_tests_name("okta_flow", tests, setup, teardown);
}

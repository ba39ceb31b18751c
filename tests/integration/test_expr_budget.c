/* test_expr_budget.c — a real `idflow serve` (expr_timeout_ms 300) whose
 * workflows hold expressions that abort libjq 1.6 or loop, in `with:`,
 * `if:`, `foreach:` and `when_any:`: each bad step fails with a message
 * naming the file:line:col, the expression and the limit (and the run
 * follows its on_error), the bad `when` only skips the event, `/healthz`
 * answers throughout, an unrelated workflow's run succeeds, and serve ends
 * cleanly at the end (it never died). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/serve_fixture.h"

#define WAIT_MS 20000 /* what any run here may take, loaded machine included */

static const char *const WORKFLOWS[][2] = {
    {"w-with.yaml", "name: w-with\n"
                    "on:\n"
                    "  manual:\n"
                    "steps:\n"
                    "  - id: bad\n"
                    "    do: set\n"
                    "    with:\n"
                    "      at: ${{ .event.data.ts | todate }}\n" /* line 8, col 7 */
                    "    on_error: continue\n"
                    "  - id: after\n"
                    "    do: set\n"
                    "    with:\n"
                    "      ok: true\n"},
    {"w-if.yaml", "name: w-if\n"
                  "on:\n"
                  "  manual:\n"
                  "steps:\n"
                  "  - id: bad\n"
                  "    if: '[1, 2] | .[nan:] | length > 0'\n" /* line 6, col 9 */
                  "    do: set\n"
                  "    with:\n"
                  "      x: 1\n"},
    {"w-foreach.yaml", "name: w-foreach\n"
                       "on:\n"
                       "  manual:\n"
                       "steps:\n"
                       "  - id: each\n"
                       "    foreach: '${{ .event.data.n as $r | [0 | until(. >= $r; . + 1)] }}'\n" /* 6:14 */
                       "    do: set\n"
                       "    with:\n"
                       "      i: ${{ .item }}\n"},
    {"w-loop.yaml", "name: w-loop\n"
                    "on:\n"
                    "  manual:\n"
                    "steps:\n"
                    "  - id: bad\n"
                    "    do: set\n"
                    "    with:\n"
                    "      n: ${{ [range(1e10)] | length }}\n" /* 8:7 */
                    "      m: '${{ def f: f; f }}'\n"},
    {"w-when.yaml", "name: w-when\n"
                    "on:\n"
                    "  manual:\n"
                    "when_any:\n"
                    "  - .event.data.ts | todate | length > 0\n"                                  /* 5:5 */
                    "  - (.event.data.retries // 0) as $r | 0 | until(. >= $r; . + 1) | . >= 0\n" /* 6:5 */
                    "steps:\n"
                    "  - id: s\n"
                    "    do: set\n"
                    "    with:\n"
                    "      x: 1\n"},
    {"w-ok.yaml", "name: w-ok\n"
                  "on:\n"
                  "  manual:\n"
                  "steps:\n"
                  "  - id: add\n"
                  "    do: set\n"
                  "    with:\n"
                  "      v: ${{ .event.data.v + 1 }}\n"},
};

static const char *const SERVE_ENV[] = {"IDFLOW_EXPR_TIMEOUT_MS=300", NULL};
static struct sfx F = {.no_sandbox = true, .serve_env = SERVE_ENV};

static int start_serve(void **state)
{
    (void)state;
    if (sfx_start(&F, NULL))
        return -1;
    for (size_t i = 0; i < sizeof WORKFLOWS / sizeof WORKFLOWS[0]; i++) {
        char *p = tu_path(F.wfdir, WORKFLOWS[i][0]);
        int rc = tu_write_file(p, WORKFLOWS[i][1]);
        free(p);
        if (rc)
            return -1;
    }
    return sfx_serve_start(&F, NULL, (const char *[]){"--workers", "2", NULL});
}

static int stop_serve(void **state)
{
    (void)state;
    sfx_stop(&F); /* stops serve if a test failed before serve_exits_cleanly */
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static void assert_healthy(void)
{
    char url[200];
    long status = 0;
    snprintf(url, sizeof url, "%s/healthz", F.base);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, NULL), 0);
    assert_int_equal(status, 200);
}

/* Starts workflow with data; returns the run ids in the answer (0 or 1 here). */
static int64_t post(const char *workflow, const char *data, size_t want_runs)
{
    char url[200], body[1024], *resp = NULL;
    long status = 0;
    json_t *ans, *ids;
    int64_t id = 0;

    snprintf(url, sizeof url, "%s/api/v1/events", F.base);
    snprintf(body, sizeof body, "{\"workflow\":\"%s\",\"data\":%s}", workflow, data);
    assert_int_equal(tu_http("POST", url, body, NULL, &status, &resp), 0);
    assert_int_equal(status, 202);
    ans = json_loads(resp, 0, NULL);
    assert_non_null(ans);
    ids = json_object_get(ans, "run_ids");
    assert_int_equal(json_array_size(ids), want_runs);
    if (want_runs)
        id = json_integer_value(json_array_get(ids, 0));
    json_decref(ans);
    free(resp);
    return id;
}

static json_t *get_run(int64_t id)
{
    char url[200], *resp = NULL;
    long status = 0;
    json_t *r;
    snprintf(url, sizeof url, "%s/api/v1/runs/%lld", F.base, (long long)id);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    r = json_loads(resp, 0, NULL);
    free(resp);
    assert_non_null(r);
    return r;
}

/* Polls until the run has finished (succeeded or failed) and returns it. */
static json_t *wait_done(int64_t id)
{
    int64_t deadline = tu_now_ms() + WAIT_MS;
    for (;;) {
        json_t *r = get_run(id);
        const char *st = json_string_value(json_object_get(r, "status"));
        struct timespec ts = {0, 20 * 1000000};
        if (!strcmp(st, "succeeded") || !strcmp(st, "failed"))
            return r;
        if (tu_now_ms() > deadline) {
            char *s = json_dumps(r, JSON_INDENT(1));
            fail_msg("run %lld still %s:\n%s", (long long)id, st, s);
        }
        json_decref(r);
        nanosleep(&ts, NULL);
    }
}

static json_t *step_of(json_t *run, const char *id)
{
    size_t i;
    json_t *s;
    json_array_foreach (json_object_get(run, "steps"), i, s) {
        if (!strcmp(json_string_value(json_object_get(s, "step_id")), id))
            return s;
    }
    fail_msg("run has no step %s", id);
    return NULL;
}

static void assert_has(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
}

static const char *step_error(json_t *run, const char *id)
{
    return json_string_value(json_object_get(json_object_get(step_of(run, id), "error"), "message"));
}

static void assert_status(json_t *run, const char *want)
{
    const char *st = json_string_value(json_object_get(run, "status"));
    if (strcmp(st, want)) {
        char *s = json_dumps(run, JSON_INDENT(1));
        fail_msg("run is %s, expected %s:\n%s", st, want, s);
    }
}

/* ------------------------------------------------------------------ tests */

static void bad_expressions_fail_their_step_and_the_daemon_serves_on(void **state)
{
    int64_t with_id, if_id, fe_id, loop_id, ok_id;
    json_t *run;

    (void)state;
    /* when_any: an aborting and a looping condition, both evaluated; the
     * event starts nothing, and the answer comes */
    post("w-when", "{\"ts\": 1e17, \"retries\": 1e18}", 0);
    assert_healthy();

    with_id = post("w-with", "{\"ts\": 1e17}", 1);
    if_id = post("w-if", "{}", 1);
    fe_id = post("w-foreach", "{\"n\": 1e18}", 1);
    loop_id = post("w-loop", "{}", 1);
    ok_id = post("w-ok", "{\"v\": 41}", 1);
    assert_healthy();

    run = wait_done(with_id); /* on_error: continue: the next step ran */
    assert_status(run, "succeeded");
    assert_has(step_error(run, "bad"), "w-with.yaml:8:7: with.at: ${{ .event.data.ts | todate }}: the expression's "
                                       "evaluation crashed inside jq (signal 6, SIGABRT)");
    assert_string_equal(json_string_value(json_object_get(step_of(run, "after"), "status")), "succeeded");
    json_decref(run);

    run = wait_done(if_id);
    assert_status(run, "failed");
    assert_has(step_error(run, "bad"), "w-if.yaml:6:9: if '[1, 2] | .[nan:] | length > 0': the expression's "
                                       "evaluation crashed inside jq (signal 6, SIGABRT)");
    json_decref(run);

    run = wait_done(fe_id);
    assert_status(run, "failed");
    assert_has(json_string_value(json_object_get(run, "error")),
               "w-foreach.yaml:6:14: foreach: ${{ .event.data.n as $r | [0 | until(. >= $r; . + 1)] }}: the "
               "expression ran longer than its time budget (300 ms, expr_timeout_ms)");
    json_decref(run);

    run = wait_done(loop_id);
    assert_status(run, "failed");
    assert_has(step_error(run, "bad"), "w-loop.yaml:8:7: with.n: ${{ [range(1e10)] | length }}: the expression ran "
                                       "longer than its time budget (300 ms, expr_timeout_ms)");
    json_decref(run);

    run = wait_done(ok_id);
    assert_status(run, "succeeded");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(step_of(run, "add"), "output"), "v")), 42);
    json_decref(run);

    /* the daemon is the same process, still answering, and a new unrelated run succeeds */
    assert_healthy();
    run = wait_done(post("w-ok", "{\"v\": 1}", 1));
    assert_status(run, "succeeded");
    json_decref(run);
    {
        char *log = tu_proc_stderr(&F.serve);
        assert_has(log, "w-when.yaml:5:5: when_any[0] '.event.data.ts | todate | length > 0' failed, the event "
                        "does not start it: the expression's evaluation crashed inside jq (signal 6, SIGABRT)");
        assert_has(log, "w-when.yaml:6:5: when_any[1]");
        assert_has(log, "the expression ran longer than its time budget (300 ms, expr_timeout_ms)");
        free(log);
    }
}

/* Last: serve never died; SIGTERM ends it cleanly (exit 0, no sanitizer report). */
static void serve_exits_cleanly(void **state)
{
    (void)state;
    assert_true(F.serving);
    assert_int_equal(sfx_serve_stop(&F), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_expressions_fail_their_step_and_the_daemon_serves_on),
        cmocka_unit_test(serve_exits_cleanly),
    };
    return cmocka_run_group_tests(tests, start_serve, stop_serve);
}

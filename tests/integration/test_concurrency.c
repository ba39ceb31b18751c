/* test_concurrency.c — `concurrency: N` against a real `idflow serve`.
 *
 * A flood of events for a `concurrency: 1` workflow whose step is slow (a
 * loopback server that answers after FLOOD_DELAY_MS) must not take every
 * worker: another workflow's run, started after the flood, succeeds while the
 * flood's backlog is still queued, /healthz answers, and the flood's runs
 * are never more than one "running" at once (read through the API's run list
 * all the while the flood drains). Serve runs 2 workers that claim up to 16
 * runs each: without the cap the flood's runs fill both workers' claims and
 * the other run waits for seconds behind them. */
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
#include "support/testsrv.h"

#define N_FLOOD 40
#define FLOOD_DELAY_MS 250     /* each flood run holds its worker this long */
#define OTHER_DEADLINE_MS 3000 /* the other run succeeds within this (uncapped: >= 4 s behind 16 x 250 ms) */
#define DRAIN_DEADLINE_MS 60000

static const char FLOOD_YAML[] = "name: flood\n"
                                 "on: manual\n"
                                 "concurrency: 1\n"
                                 "# the step calls a slow test double on loopback, a private address\n"
                                 "allow_private_network: true\n"
                                 "steps:\n"
                                 "  - id: slow\n"
                                 "    do: http.request\n"
                                 "    with:\n"
                                 "      url: \"${{ .event.data.base }}/slow\"\n";

static const char OTHER_YAML[] = "name: other\n"
                                 "on: manual\n"
                                 "allow_private_network: true\n"
                                 "steps:\n"
                                 "  - id: fast\n"
                                 "    do: http.request\n"
                                 "    with:\n"
                                 "      url: \"${{ .event.data.base }}/fast\"\n";

struct env {
    struct testsrv *target;
};

static struct env E;
static struct sfx F = {.no_sandbox = true};

static int start_serve(void **state)
{
    (void)state;
    E.target = testsrv_start();
    testsrv_on(E.target, "/slow", &(struct testsrv_answer){200, "{}", .delay_ms = FLOOD_DELAY_MS}, -1);
    if (sfx_start(&F, NULL) || sfx_write_wf(&F, "flood", FLOOD_YAML) || sfx_write_wf(&F, "other", OTHER_YAML))
        return -1;
    return sfx_serve_start(&F, NULL, (const char *[]){"--workers", "2", NULL});
}

static int stop_serve(void **state)
{
    (void)state;
    sfx_stop(&F); /* stops serve if the test failed before stopping it */
    testsrv_stop(E.target);
    return 0;
}

/* Starts workflow wf with {"base": target}; returns the run id. */
static int64_t start_run(const char *wf, int i)
{
    char url[200], body[400], *resp = NULL;
    long status = 0;
    json_t *a;
    int64_t id;

    snprintf(url, sizeof url, "%s/api/v1/events", F.base);
    snprintf(body, sizeof body, "{\"workflow\":\"%s\",\"id\":\"%s-%d\",\"data\":{\"base\":\"%s\"}}", wf, wf, i,
             testsrv_url(E.target));
    assert_int_equal(tu_http("POST", url, body, NULL, &status, &resp), 0);
    assert_int_equal(status, 202);
    a = json_loads(resp, 0, NULL);
    free(resp);
    assert_non_null(a);
    id = (int64_t)json_integer_value(json_array_get(json_object_get(a, "run_ids"), 0));
    json_decref(a);
    assert_true(id > 0);
    return id;
}

/* How many runs of wf the API lists in status st (one snapshot of the store). */
static size_t count_runs(const char *wf, const char *st)
{
    char url[300], *resp = NULL;
    long status = 0;
    json_t *r;
    size_t n;

    snprintf(url, sizeof url, "%s/api/v1/runs?workflow=%s&status=%s&limit=1000", F.base, wf, st);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    r = json_loads(resp, 0, NULL);
    free(resp);
    assert_non_null(r);
    n = json_array_size(json_object_get(r, "runs"));
    json_decref(r);
    return n;
}

static const char *run_status(int64_t id)
{
    static char out[32];
    char url[200], *resp = NULL;
    long status = 0;
    json_t *r;

    snprintf(url, sizeof url, "%s/api/v1/runs/%lld", F.base, (long long)id);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    r = json_loads(resp, 0, NULL);
    free(resp);
    assert_non_null(r);
    snprintf(out, sizeof out, "%s", json_string_value(json_object_get(r, "status")) ?: "?");
    json_decref(r);
    return out;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void flood_does_not_take_every_worker(void **state)
{
    int64_t other, t0, deadline;
    size_t max_running = 0, polls = 0, queued_at_other = 0;
    char url[200];
    (void)state;

    for (int i = 0; i < N_FLOOD; i++)
        start_run("flood", i);
    /* the flood is under way: its first run called the slow server */
    assert_int_equal(testsrv_wait_calls(E.target, "/slow", 1, 10000), 0);

    /* another workflow's run, started behind the whole flood, succeeds
     * promptly: the claim finds it past the flood's queued backlog */
    t0 = tu_now_ms();
    other = start_run("other", 0);
    for (;;) {
        const char *st = run_status(other);
        size_t running = count_runs("flood", "running");
        if (running > max_running)
            max_running = running;
        if (!strcmp(st, "succeeded"))
            break;
        if (tu_now_ms() - t0 > OTHER_DEADLINE_MS) {
            print_message("run %lld of 'other' is still %s after %d ms; flood: %zu running, %zu queued\n",
                          (long long)other, st, OTHER_DEADLINE_MS, running, count_runs("flood", "queued"));
            fail();
        }
        pause_ms(20);
    }
    queued_at_other = count_runs("flood", "queued");
    print_message("other succeeded after %lld ms with %zu flood runs still queued\n", (long long)(tu_now_ms() - t0),
                  queued_at_other);
    assert_true(queued_at_other > 0); /* it did not wait for the flood to end */
    assert_int_equal(testsrv_calls(E.target, "/fast"), 1);

    /* /healthz answers while the flood drains */
    snprintf(url, sizeof url, "%s/healthz", F.base);
    assert_int_equal(tu_wait_http_ok(url, 2000), 0);

    /* the flood drains one run at a time: never two running */
    deadline = tu_now_ms() + DRAIN_DEADLINE_MS;
    for (;;) {
        size_t running = count_runs("flood", "running");
        size_t done = count_runs("flood", "succeeded");
        polls++;
        if (running > max_running)
            max_running = running;
        assert_true(running <= 1);
        if (done == N_FLOOD)
            break;
        if (tu_now_ms() > deadline) {
            print_message("flood: %zu of %d succeeded after %d ms\n", done, N_FLOOD, DRAIN_DEADLINE_MS);
            fail();
        }
        pause_ms(25);
    }
    print_message("flood drained; %zu polls, at most %zu running\n", polls, max_running);
    assert_int_equal(max_running, 1); /* the polls did see the flood running */
    assert_int_equal(testsrv_calls(E.target, "/slow"), N_FLOOD);
    assert_int_equal(count_runs("flood", "queued"), 0);

    assert_int_equal(sfx_serve_stop(&F), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(flood_does_not_take_every_worker, start_serve, stop_serve),
    };
    return cmocka_run_group_tests_name("concurrency", tests, NULL, NULL);
}

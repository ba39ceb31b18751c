/* test_poison.c — poison runs and cancellations against a real `idflow
 * serve` killed with SIGKILL (issue 12, "Poison runs stop"):
 *  - a run whose step is in flight every time the process dies is run again
 *    after each restart until it was interrupted max_interruptions times
 *    (IDFLOW_MAX_INTERRUPTIONS=2 here), then failed with "interrupted 2 times
 *    while running step 'slow'; not retried" without calling the step again;
 *    a step recorded before the first kill is never called again, and
 *    /healthz and an unrelated run still succeed;
 *  - a running run cancelled (API and `idflow cancel`) whose process is then
 *    killed ends cancelled at the restart, with the reason asked, and its
 *    step is not called again.
 * The step in flight is a call to a loopback server that answers after a
 * minute: the test waits until the server has received the call (so the run
 * is running and inside the step), then kills. */
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
#include <time.h>

#include "support/testsrv.h"
#include "support/testutil.h"

#define DEADLINE_MS 30000
#define SLOW_MS 60000 /* the slow step's answer: the kill always comes first */

struct fx {
    const char *bin;
    char *dir;
    char db[400], listen[64], base[128], wfdir[600];
    struct testsrv *target;
    struct tu_proc serve;
    bool running;
};

static const char SLOW_STEP[] = "  - id: slow\n"
                                "    do: http.request\n"
                                "    with:\n"
                                "      url: \"${{ .event.data.base }}/%s/slow\"\n"
                                "      timeout: 120s\n";

static void write_workflow(struct fx *f, const char *name, const char *steps)
{
    char path[700], text[2000];
    snprintf(path, sizeof path, "%s/%s.yaml", f->wfdir, name);
    snprintf(text, sizeof text,
             "name: %s\n"
             "on:\n"
             "  manual:\n"
             "# the steps call a recording server on loopback (a test double)\n"
             "allow_private_network: true\n"
             "steps:\n%s",
             name, steps);
    assert_int_equal(tu_write_file(path, text), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char steps[1000];

    f->bin = getenv("IDFLOW_BIN");
    assert_non_null(f->bin);
    f->dir = tu_mktemp_dir();
    f->target = testsrv_start();
    testsrv_set_default(f->target, &(struct testsrv_answer){200, "{\"ok\":true}"});
    testsrv_on(f->target, "/poison/slow", &(struct testsrv_answer){200, "{\"ok\":true}", .delay_ms = SLOW_MS}, -1);
    testsrv_on(f->target, "/cancelme/slow", &(struct testsrv_answer){200, "{\"ok\":true}", .delay_ms = SLOW_MS}, -1);
    snprintf(f->db, sizeof f->db, "sqlite:%s/idflow.db", f->dir);
    snprintf(f->listen, sizeof f->listen, "127.0.0.1:%d", tu_free_port());
    snprintf(f->base, sizeof f->base, "http://%s", f->listen);
    snprintf(f->wfdir, sizeof f->wfdir, "%s/workflows", f->dir);
    assert_int_equal(mkdir(f->wfdir, 0700), 0);
    /* poison: a first step that is recorded, then the step every process dies in */
    snprintf(steps, sizeof steps,
             "  - id: prep\n"
             "    do: http.request\n"
             "    with:\n"
             "      url: \"${{ .event.data.base }}/poison/prep\"\n");
    snprintf(steps + strlen(steps), sizeof steps - strlen(steps), SLOW_STEP, "poison");
    write_workflow(f, "poison", steps);
    snprintf(steps, sizeof steps, SLOW_STEP, "cancelme");
    write_workflow(f, "cancelme", steps);
    write_workflow(f, "each",
                   "  - id: each\n"
                   "    foreach: ${{ [0, 1, 2, 3] }}\n"
                   "    do: http.request\n"
                   "    with:\n"
                   "      url: \"${{ .event.data.base }}/each/${{ .item }}\"\n"
                   "      timeout: 120s\n");
    write_workflow(f, "other",
                   "  - id: ok\n"
                   "    do: http.request\n"
                   "    with:\n"
                   "      url: \"${{ .event.data.base }}/other/ok\"\n");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->running) {
        tu_kill(&f->serve, SIGKILL);
        tu_wait(&f->serve, 10000);
        tu_proc_cleanup(&f->serve);
    }
    testsrv_stop(f->target);
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void serve_start(struct fx *f)
{
    const char *argv[] = {f->bin,   "serve",     "--db", f->db,       "--listen",    f->listen, "--workflows",
                          f->wfdir, "--workers", "2",    "--node-id", "poison-node", NULL};
    const char *env[] = {"IDFLOW_MAX_INTERRUPTIONS=2", NULL};
    char url[200];
    assert_int_equal(tu_spawn(argv, env, &f->serve), 0);
    f->running = true;
    snprintf(url, sizeof url, "%s/readyz", f->base);
    assert_int_equal(tu_wait_http_ok(url, 15000), 0);
}

static void serve_kill9(struct fx *f)
{
    tu_kill(&f->serve, SIGKILL);
    assert_int_equal(tu_wait(&f->serve, 10000), 128 + SIGKILL);
    tu_proc_cleanup(&f->serve);
    f->running = false;
}

static long start_run(struct fx *f, const char *workflow)
{
    char url[200], body[400], *resp = NULL;
    long status = 0, id;
    json_t *a;
    snprintf(url, sizeof url, "%s/api/v1/events", f->base);
    snprintf(body, sizeof body, "{\"workflow\":\"%s\",\"data\":{\"base\":\"%s\"}}", workflow, testsrv_url(f->target));
    assert_int_equal(tu_http("POST", url, body, NULL, &status, &resp), 0);
    assert_int_equal(status, 202);
    a = json_loads(resp, 0, NULL);
    free(resp);
    id = (long)json_integer_value(json_array_get(json_object_get(a, "run_ids"), 0));
    json_decref(a);
    assert_true(id > 0);
    return id;
}

static json_t *get_run(struct fx *f, long id)
{
    char url[200], *resp = NULL;
    long status = 0;
    json_t *r;
    snprintf(url, sizeof url, "%s/api/v1/runs/%ld", f->base, id);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    r = json_loads(resp, 0, NULL);
    free(resp);
    assert_non_null(r);
    return r;
}

/* Polls the run until its status is `want` (or the deadline fails the test). */
static json_t *wait_status(struct fx *f, long id, const char *want)
{
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    for (;;) {
        json_t *r = get_run(f, id);
        const char *st = json_string_value(json_object_get(r, "status"));
        if (st && strcmp(st, want) == 0)
            return r;
        if (tu_now_ms() > deadline)
            fail_msg("run %ld is %s, not %s, after %d ms", id, st ? st : "?", want, DEADLINE_MS);
        json_decref(r);
        nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
    }
}

static const json_t *step_of(const json_t *run, const char *step_id)
{
    size_t i;
    json_t *s;
    json_array_foreach (json_object_get(run, "steps"), i, s) {
        if (strcmp(json_string_value(json_object_get(s, "step_id")), step_id) == 0)
            return s;
    }
    return NULL;
}

/* /healthz answers, and a run of an unrelated workflow succeeds */
static void still_serving(struct fx *f)
{
    char url[200];
    long status = 0;
    json_t *r;
    snprintf(url, sizeof url, "%s/healthz", f->base);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, NULL), 0);
    assert_int_equal(status, 200);
    r = wait_status(f, start_run(f, "other"), "succeeded");
    json_decref(r);
}

static void poison_run_fails_after_max_interruptions(void **state)
{
    struct fx *f = *state;
    const char *msg = "interrupted 2 times while running step 'slow'; not retried";
    const json_t *s;
    json_t *r;
    long id;

    serve_start(f);
    id = start_run(f, "poison");
    /* the process dies while the run is in step slow: twice */
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(testsrv_wait_calls(f->target, "/poison/slow", i, DEADLINE_MS), 0);
        r = get_run(f, id);
        assert_string_equal(json_string_value(json_object_get(r, "status")), "running");
        json_decref(r);
        serve_kill9(f);
        serve_start(f);
    }
    r = wait_status(f, id, "failed");
    assert_string_equal(json_string_value(json_object_get(r, "error")), msg);
    s = step_of(r, "slow");
    assert_non_null(s);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "error"), "message")), msg);
    s = step_of(r, "prep");
    assert_string_equal(json_string_value(json_object_get(s, "status")), "succeeded");
    json_decref(r);

    still_serving(f);
    /* slow was not called a third time; prep, recorded, never again */
    assert_int_equal(testsrv_calls(f->target, "/poison/slow"), 2);
    assert_int_equal(testsrv_calls(f->target, "/poison/prep"), 1);
    assert_int_equal(testsrv_calls(f->target, "/other/ok"), 1);

    /* and a restart leaves the failed run as it is */
    serve_kill9(f);
    serve_start(f);
    r = get_run(f, id);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "failed");
    json_decref(r);
    still_serving(f);
    assert_int_equal(testsrv_calls(f->target, "/poison/slow"), 2);
}

/* The count is of deaths in a row at one step or item: a death at item 1,
 * then progress, then deaths at item 2 fail the run only after the second
 * at item 2, and the error names the item. */
static void interruptions_count_per_item_in_a_row(void **state)
{
    struct fx *f = *state;
    const char *msg = "interrupted 2 times while running step 'each' (item 2); not retried";
    json_t *r;
    long id;

    /* item 1 is slow once (the first process dies in it), item 2 always */
    testsrv_on(f->target, "/each/1", &(struct testsrv_answer){200, "{}", .delay_ms = SLOW_MS}, 1);
    testsrv_on(f->target, "/each/2", &(struct testsrv_answer){200, "{}", .delay_ms = SLOW_MS}, -1);
    serve_start(f);
    id = start_run(f, "each");
    assert_int_equal(testsrv_wait_calls(f->target, "/each/1", 1, DEADLINE_MS), 0);
    serve_kill9(f);
    serve_start(f);
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(testsrv_wait_calls(f->target, "/each/2", i, DEADLINE_MS), 0);
        serve_kill9(f);
        serve_start(f);
    }
    r = wait_status(f, id, "failed");
    assert_string_equal(json_string_value(json_object_get(r, "error")), msg);
    json_decref(r);
    still_serving(f);
    assert_int_equal(testsrv_calls(f->target, "/each/0"), 1);
    assert_int_equal(testsrv_calls(f->target, "/each/1"), 2);
    assert_int_equal(testsrv_calls(f->target, "/each/2"), 2);
    assert_int_equal(testsrv_calls(f->target, "/each/3"), 0);
}

static void cancel_of_a_killed_running_run_ends_it_at_restart(void **state)
{
    struct fx *f = *state;
    char url[200], ids[32], *resp = NULL, *out = NULL;
    long status = 0, a, b;
    json_t *r;

    serve_start(f);
    /* one at a time: a worker claims every queued run at once (a batch) and
     * runs them in turn, so b must be queued once a's worker is busy */
    a = start_run(f, "cancelme");
    assert_int_equal(testsrv_wait_calls(f->target, "/cancelme/slow", 1, DEADLINE_MS), 0);
    b = start_run(f, "cancelme");
    assert_int_equal(testsrv_wait_calls(f->target, "/cancelme/slow", 2, DEADLINE_MS), 0);

    /* both are running, inside their step: the cancellations are pending */
    snprintf(url, sizeof url, "%s/api/v1/runs/%ld/cancel", f->base, a);
    assert_int_equal(tu_http("POST", url, "{\"reason\":\"wrong user\"}", NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    assert_non_null(strstr(resp, "\"cancelling\""));
    free(resp);
    snprintf(ids, sizeof ids, "%ld", b);
    assert_int_equal(tu_idflow_db(f->bin, f->db, &out, NULL, "cancel", ids, "--reason", "duplicate", NULL), 0);
    assert_non_null(strstr(out, "is running"));
    free(out);
    r = get_run(f, a);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "running");
    json_decref(r);

    /* the process dies before the step's commit could apply them */
    serve_kill9(f);
    serve_start(f);
    r = wait_status(f, a, "cancelled");
    assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "wrong user"));
    json_decref(r);
    r = wait_status(f, b, "cancelled");
    assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "duplicate"));
    json_decref(r);

    still_serving(f); /* the workers ran (an unrelated run went through) ... */
    assert_int_equal(testsrv_calls(f->target, "/cancelme/slow"), 2); /* ... and never the cancelled step */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(poison_run_fails_after_max_interruptions, setup, teardown),
        cmocka_unit_test_setup_teardown(interruptions_count_per_item_in_a_row, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_of_a_killed_running_run_ends_it_at_restart, setup, teardown),
    };
    return cmocka_run_group_tests_name("poison", tests, NULL, NULL);
}

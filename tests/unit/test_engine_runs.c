/* test_engine_runs.c — a run's life beyond one step, in engines started
 * inside the test program with the fake connector as their connector table
 * (tests/support/engine_fixture.h, fakeconn.h); no idflow process:
 *  - cancel: a waiting run is cancelled at once and never called again; a
 *    running one ends cancelled when its step in flight answers, and its
 *    next step is not called;
 *  - lease expiry: a run whose owner stops answering mid-step (its call hangs
 *    past the lease and its lease keeper is off, as in a stalled process) is taken over by another node, resumed at
 * that step (not before), counted as an interruption, and its non-idempotent write is told the earlier attempt's
 * outcome is unknown; the old owner's late answer changes nothing;
 *  - foreach: items fan out (one call each, in order), their outputs are
 *    gathered for the next step; one failing item fails the run there (the
 *    items after it are not called), or, with on_error: continue, leaves its
 *    error in its place;
 *  - concurrency: a workflow's `concurrency: 1` keeps its runs one at a time
 *    (counted by the fake connector) while other workers are free;
 *  - priority: a `priority: high` workflow's run is taken before older runs
 *    of a normal one (issue 20). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "expr/expr.h"
#include "support/engine_fixture.h"
#include "support/fakeconn.h"
#include "support/testutil.h"

#define WAIT_MS 10000 /* deadline of every wait: generous for a loaded machine */

static void get_call(const char *key, int i, struct fakeconn_call *c)
{
    if (!fakeconn_call_get(key, i, c))
        fail_msg("no call %d with key '%s'", i, key ? key : "(any)");
}

static const char *status_of(json_t *steps, const char *id, int item)
{
    return json_string_value(json_object_get(ef_step(steps, id, item), "status")) ?: "(none)";
}

/* ---------------------------------------------------------------- cancel */

static const char *TWO_STEPS = "on: fake.event\n"
                               "steps:\n"
                               "  - id: s1\n"
                               "    do: fake.call\n"
                               "    with: {key: s1}\n"
                               "    retry: {max: 3, backoff: 300ms}\n"
                               "  - id: s2\n"
                               "    do: fake.call\n"
                               "    with: {key: s2}\n";

/* A new run of TWO_STEPS goes through, and it is the only run that ever called s2. */
static void only_a_new_run_calls_s2(struct ef *f, struct engine *e)
{
    struct fakeconn_call c;
    int64_t run = ef_submit(f, e, "w", NULL);

    assert_true(ef_wait_status(f, run, "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_calls("s2"), 1);
    get_call("s2", 0, &c);
    assert_int_equal(c.run_id, run);
    json_decref(c.params);
}

static bool past(void *ud)
{
    return time_now_ms() > *(const int64_t *)ud;
}

static void a_waiting_run_cancelled_is_never_called_again(void **state)
{
    struct ef *f = *state;
    struct store_run *r;
    struct idf_err err;
    bool pending = true;
    int64_t wake_at;

    assert_int_equal(ef_workflow(f, "w", TWO_STEPS), 0);
    fakeconn_script("s1", &(struct fakeconn_answer){FAKECONN_FAIL, .message = "503", .retryable = true}, 1);
    struct engine *e = ef_engine(f, NULL);
    assert_non_null(e);
    int64_t run = ef_submit(f, e, "w", NULL);
    assert_true(ef_wait_status(f, run, "waiting", WAIT_MS));
    r = ef_run(f, run);
    wake_at = r->wake_at;
    store_run_free(r);

    assert_int_equal(store_run_stop(f->st, run, "stopped by the test", time_now_ms(), "test", &pending, &err), 0);
    assert_false(pending);
    r = ef_run(f, run);
    assert_string_equal(r->status, "cancelled");
    assert_string_equal(r->error, "stopped by the test");
    store_run_free(r);

    /* past its wake time a newer run is executed: the cancelled one, older, would have been first */
    assert_true(tu_wait_until(past, &wake_at, WAIT_MS));
    only_a_new_run_calls_s2(f, e);
    r = ef_run(f, run);
    assert_string_equal(r->status, "cancelled");
    store_run_free(r);
    assert_int_equal(fakeconn_calls("s1"), 2); /* the cancelled run's first attempt, the new run's */
}

static void a_running_run_cancelled_stops_after_its_step_in_flight(void **state)
{
    struct ef *f = *state;
    struct store_run *r;
    struct idf_err err;
    bool pending = false;
    json_t *steps;

    assert_int_equal(ef_workflow(f, "w", TWO_STEPS), 0);
    fakeconn_script("s1", &(struct fakeconn_answer){FAKECONN_OK, .gate = "s1"}, 1);
    struct engine *e = ef_engine(f, NULL);
    assert_non_null(e);
    int64_t run = ef_submit(f, e, "w", NULL);
    assert_true(fakeconn_wait_calls("s1", 1, WAIT_MS));

    assert_int_equal(store_run_stop(f->st, run, "stopped by the test", time_now_ms(), "test", &pending, &err), 0);
    assert_true(pending);
    r = ef_run(f, run);
    assert_string_equal(r->status, "running"); /* asked: its worker ends it */
    store_run_free(r);

    fakeconn_open("s1");
    assert_true(ef_wait_status(f, run, "cancelled", WAIT_MS));
    r = ef_run(f, run);
    assert_string_equal(r->error, "stopped by the test");
    store_run_free(r);
    steps = ef_steps(f, run);
    assert_string_equal(status_of(steps, "s1", -1), "succeeded"); /* the step in flight is recorded as it went */
    assert_null(ef_step(steps, "s2", -1));
    json_decref(steps);
    only_a_new_run_calls_s2(f, e); /* the engine is idle once another run went through */
}

/* ---------------------------------------------------------------- lease expiry */

static void a_run_whose_owner_stopped_answering_is_taken_over_at_its_step(void **state)
{
    struct ef *f = *state;
    int64_t created_at;
    struct fakeconn_call c1, c2;
    struct store_run *r;
    json_t *steps;

    assert_int_equal(ef_workflow(f, "w",
                                 "on: fake.event\n"
                                 "steps:\n"
                                 "  - id: a\n"
                                 "    do: fake.call\n"
                                 "    with: {key: a}\n"
                                 "  - id: w\n"
                                 "    do: fake.write\n"
                                 "    with: {key: w}\n"
                                 "  - id: c\n"
                                 "    do: fake.call\n"
                                 "    with: {key: c, value: '${{ .steps.w.call }}'}\n"),
                     0);
    /* node A's call of w hangs (its node is as good as dead); node B's is held until the test looked */
    fakeconn_script("w", &(struct fakeconn_answer){FAKECONN_OK, .gate = "node-a"}, 1);
    fakeconn_script("w", &(struct fakeconn_answer){FAKECONN_OK, .gate = "node-b"}, 1);
    /* no lease keeper on A: its process stalled, so nothing renews its lease (keeper.c) */
    struct engine *a = ef_engine(
        f, &(struct engine_opts){.node_id = "node-a", .workers = 1, .lease_ms = 400, .lease_renew_ms = -1});
    assert_non_null(a);
    int64_t run = ef_submit(f, a, "w", NULL);
    assert_true(fakeconn_wait_calls("w", 1, WAIT_MS));
    steps = ef_steps(f, run);
    assert_string_equal(status_of(steps, "a", -1), "succeeded");
    assert_string_equal(status_of(steps, "w", -1), "started");
    json_decref(steps);

    /* node B takes the run once A's lease ran out, at step w */
    struct engine *b = ef_engine(f, &(struct engine_opts){.node_id = "node-b", .workers = 1, .lease_ms = 400});
    assert_non_null(b);
    assert_true(fakeconn_wait_calls("w", 2, WAIT_MS));
    r = ef_run(f, run);
    assert_string_equal(r->status, "running");
    assert_int_equal(r->pc, 1);
    assert_int_equal(r->interrupted, 1);
    created_at = r->created_at;
    store_run_free(r);
    get_call("w", 0, &c1);
    get_call("w", 1, &c2);
    assert_int_equal(c1.attempt, 1);
    assert_false(c1.uncertain);
    assert_int_equal(c2.run_id, run);
    assert_int_equal(c2.attempt, 2);               /* the interrupted attempt counts */
    assert_true(c2.uncertain);                     /* its intent was recorded and its outcome never was */
    assert_true(c2.started_ms > created_at + 400); /* not before A's lease, taken after the run was made, ran out */
    json_decref(c1.params);
    json_decref(c2.params);
    assert_int_equal(fakeconn_calls("a"), 1); /* resumed at w, not from the start */

    fakeconn_open("node-b");
    assert_true(ef_wait_status(f, run, "succeeded", WAIT_MS));
    r = ef_run(f, run);
    assert_int_equal(r->interrupted, 0); /* a step moved it on */
    store_run_free(r);

    /* A's late answer: its lease is gone, so its commit is refused and nothing changes */
    fakeconn_open("node-a");
    ef_engine_free(f, a); /* returns once A's call answered and its commit was tried */
    r = ef_run(f, run);
    assert_string_equal(r->status, "succeeded");
    store_run_free(r);
    assert_int_equal(fakeconn_calls("c"), 1);
    struct fakeconn_call cc;
    get_call("c", 0, &cc);
    assert_int_equal(json_integer_value(json_object_get(cc.params, "value")), 2); /* B's answer was w's */
    json_decref(cc.params);
    steps = ef_steps(f, run);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ef_step(steps, "w", -1), "output"), "call")),
                     2);
    json_decref(steps);
}

/* ---------------------------------------------------------------- foreach */

#define FOREACH_FLOW(extra)                                                                                            \
    "on: fake.event\n"                                                                                                 \
    "steps:\n"                                                                                                         \
    "  - id: each\n"                                                                                                   \
    "    do: fake.call\n"                                                                                              \
    "    foreach: ${{ .event.data.items }}\n"                                                                          \
    "    with: {key: 'item-${{ .item }}', value: '${{ .item }}'}\n" extra "  - id: after\n"                            \
    "    do: fake.call\n"                                                                                              \
    "    with: {key: after, value: '${{ .steps.each }}'}\n"

static void foreach_items_fan_out_and_their_outputs_are_gathered(void **state)
{
    struct ef *f = *state;
    struct fakeconn_call c;
    json_t *steps, *gathered;

    assert_int_equal(ef_workflow(f, "w", FOREACH_FLOW("")), 0);
    struct engine *e = ef_engine(f, NULL);
    assert_non_null(e);
    int64_t run = ef_submit(f, e, "w", "{\"items\": [\"a\", \"b\", \"c\"]}");
    assert_true(ef_wait_status(f, run, "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_calls(NULL), 4);
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf(key, sizeof key, "item-%c", 'a' + i);
        assert_int_equal(fakeconn_calls(key), 1);
        get_call(NULL, i, &c); /* in item order */
        assert_string_equal(c.key, key);
        assert_int_equal(c.item, i);
        assert_string_equal(c.step_id, "each");
        json_decref(c.params);
    }
    get_call("after", 0, &c);
    gathered = json_object_get(c.params, "value");
    assert_int_equal(json_array_size(gathered), 3);
    for (int i = 0; i < 3; i++) {
        char key[16], val[2] = {(char)('a' + i), 0};
        snprintf(key, sizeof key, "item-%c", 'a' + i);
        assert_string_equal(json_string_value(json_object_get(json_array_get(gathered, (size_t)i), "key")), key);
        assert_string_equal(json_string_value(json_object_get(json_array_get(gathered, (size_t)i), "value")), val);
    }
    json_decref(c.params);
    steps = ef_steps(f, run);
    for (int i = 0; i < 3; i++)
        assert_string_equal(status_of(steps, "each", i), "succeeded");
    json_decref(steps);
}

static void a_failing_foreach_item_fails_the_run_there(void **state)
{
    struct ef *f = *state;
    struct store_run *r;
    json_t *steps;

    assert_int_equal(ef_workflow(f, "w", FOREACH_FLOW("")), 0);
    fakeconn_script("item-b", &(struct fakeconn_answer){FAKECONN_FAIL, .message = "user b is locked"}, -1);
    struct engine *e = ef_engine(f, NULL);
    assert_non_null(e);
    int64_t run = ef_submit(f, e, "w", "{\"items\": [\"a\", \"b\", \"c\"]}");
    assert_true(ef_wait_status(f, run, "failed", WAIT_MS));
    r = ef_run(f, run);
    assert_string_equal(r->error, "step 'each' failed: user b is locked");
    store_run_free(r);
    assert_int_equal(fakeconn_calls("item-a"), 1);
    assert_int_equal(fakeconn_calls("item-b"), 1);
    assert_int_equal(fakeconn_calls("item-c"), 0);
    assert_int_equal(fakeconn_calls("after"), 0);
    steps = ef_steps(f, run);
    assert_string_equal(status_of(steps, "each", 0), "succeeded");
    assert_string_equal(status_of(steps, "each", 1), "failed");
    assert_null(ef_step(steps, "each", 2));
    json_decref(steps);
}

static void a_failing_foreach_item_with_on_error_continue_leaves_its_error_in_place(void **state)
{
    struct ef *f = *state;
    struct fakeconn_call c;
    json_t *gathered;

    assert_int_equal(ef_workflow(f, "w", FOREACH_FLOW("    on_error: continue\n")), 0);
    fakeconn_script("item-b", &(struct fakeconn_answer){FAKECONN_FAIL, .message = "user b is locked"}, -1);
    struct engine *e = ef_engine(f, NULL);
    assert_non_null(e);
    int64_t run = ef_submit(f, e, "w", "{\"items\": [\"a\", \"b\", \"c\"]}");
    assert_true(ef_wait_status(f, run, "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_calls("item-c"), 1);
    get_call("after", 0, &c);
    gathered = json_object_get(c.params, "value");
    assert_int_equal(json_array_size(gathered), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(gathered, 0), "key")), "item-a");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(gathered, 1), "error"), "message")),
        "user b is locked");
    assert_null(json_object_get(json_array_get(gathered, 1), "key"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(gathered, 2), "key")), "item-c");
    json_decref(c.params);
}

/* ---------------------------------------------------------------- concurrency */

static void a_capped_workflow_runs_one_at_a_time_while_workers_are_free(void **state)
{
    struct ef *f = *state;
    int64_t runs[3], free_run;

    assert_int_equal(ef_workflow(f, "capped",
                                 "on: fake.event\n"
                                 "concurrency: 1\n"
                                 "steps:\n"
                                 "  - id: one\n"
                                 "    do: fake.call\n"
                                 "    with: {key: capped}\n"),
                     0);
    assert_int_equal(ef_workflow(f, "free",
                                 "on: fake.event\n"
                                 "steps:\n"
                                 "  - id: one\n"
                                 "    do: fake.call\n"
                                 "    with: {key: free}\n"),
                     0);
    fakeconn_script("capped", &(struct fakeconn_answer){FAKECONN_OK, .gate = "capped"}, -1);
    struct engine *e = ef_engine(f, &(struct engine_opts){.workers = 4});
    assert_non_null(e);
    for (int i = 0; i < 3; i++)
        assert_true((runs[i] = ef_submit(f, e, "capped", NULL)) > 0);
    assert_true(fakeconn_wait_calls("capped", 1, WAIT_MS));
    /* another workflow's run goes through while the capped ones wait: workers were free */
    assert_true((free_run = ef_submit(f, e, "free", NULL)) > 0);
    assert_true(ef_wait_status(f, free_run, "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_calls("capped"), 1);
    assert_int_equal(fakeconn_in_flight(), 1);

    fakeconn_open("capped");
    for (int i = 0; i < 3; i++)
        assert_true(ef_wait_status(f, runs[i], "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_calls("capped"), 3);
    assert_int_equal(fakeconn_max_in_flight("capped"), 1);
    assert_int_equal(fakeconn_max_in_flight(NULL), 2); /* the free run's call beside the capped one */
}

/* ------------------------------------------------------------ priority */

/* `priority: high` reaches the claim (issue 20): with the one worker busy,
 * two runs of a normal workflow and then one of a high-priority workflow
 * queue up; when the worker is free again it takes the high one first,
 * though it is the newest. */
static void a_high_priority_run_goes_before_older_normal_runs(void **state)
{
    struct ef *f = *state;
    struct fakeconn_call c;
    int64_t blocker, normal[2], urgent;
    static const char STEP[] = "steps:\n"
                               "  - id: one\n"
                               "    do: fake.call\n";

    char y[3][200];
    snprintf(y[0], sizeof y[0], "on: fake.event\n%s    with: {key: blocker}\n", STEP);
    snprintf(y[1], sizeof y[1], "on: fake.event\n%s    with: {key: normal}\n", STEP);
    snprintf(y[2], sizeof y[2], "on: fake.event\npriority: high\n%s    with: {key: urgent}\n", STEP);
    assert_int_equal(ef_workflow(f, "blocker", y[0]), 0);
    assert_int_equal(ef_workflow(f, "normal", y[1]), 0);
    assert_int_equal(ef_workflow(f, "urgent", y[2]), 0);
    fakeconn_script("blocker", &(struct fakeconn_answer){FAKECONN_OK, .gate = "blocker"}, -1);
    struct engine *e = ef_engine(f, &(struct engine_opts){.workers = 1, .claim_batch = 1});
    assert_non_null(e);
    assert_true((blocker = ef_submit(f, e, "blocker", NULL)) > 0);
    assert_true(fakeconn_wait_calls("blocker", 1, WAIT_MS)); /* the worker is busy */
    for (int i = 0; i < 2; i++)
        assert_true((normal[i] = ef_submit(f, e, "normal", NULL)) > 0);
    assert_true((urgent = ef_submit(f, e, "urgent", NULL)) > 0);
    fakeconn_open("blocker");
    for (int i = 0; i < 2; i++)
        assert_true(ef_wait_status(f, normal[i], "succeeded", WAIT_MS));
    assert_true(ef_wait_status(f, urgent, "succeeded", WAIT_MS));
    get_call(NULL, 1, &c); /* the call after the blocker's */
    assert_string_equal(c.key, "urgent");
    assert_int_equal(c.run_id, urgent);
    get_call(NULL, 2, &c);
    assert_int_equal(c.run_id, normal[0]);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_waiting_run_cancelled_is_never_called_again, ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(a_running_run_cancelled_stops_after_its_step_in_flight, ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(a_run_whose_owner_stopped_answering_is_taken_over_at_its_step, ef_setup,
                                        ef_teardown),
        cmocka_unit_test_setup_teardown(foreach_items_fan_out_and_their_outputs_are_gathered, ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(a_failing_foreach_item_fails_the_run_there, ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(a_failing_foreach_item_with_on_error_continue_leaves_its_error_in_place,
                                        ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(a_capped_workflow_runs_one_at_a_time_while_workers_are_free, ef_setup,
                                        ef_teardown),
        cmocka_unit_test_setup_teardown(a_high_priority_run_goes_before_older_normal_runs, ef_setup, ef_teardown),
    };
    if (argc >= 2 && !strcmp(argv[1], "__expr-worker")) /* the engine's evaluators exec this program */
        return expr_worker_main(argc - 1, argv + 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

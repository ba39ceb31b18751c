/* test_engine_steps.c — one step's outcomes, in an engine started inside the
 * test program with the fake connector as its whole connector table
 * (tests/support/engine_fixture.h, fakeconn.h); no idflow process:
 *  - the table is an option: a workflow using the fake connector's action
 *    validates in it and is an unknown action in the built-in one;
 *  - retries: a retryable failure waits (at least the remote's retry-after)
 *    and the next attempt succeeds, with the attempts and the error recorded;
 *    a permanent failure fails the run with its error at once; a step whose
 *    attempts run out fails;
 *  - deferrals: a deferred call is called again after its wake time without
 *    counting an attempt;
 *  - intents: a non-idempotent write is recorded "started" before the call,
 *    and the attempt after a retryable failure is told it is uncertain (a
 *    deferral, which sent nothing, clears that). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "support/engine_fixture.h"
#include "support/fakeconn.h"

#define WAIT_MS 10000 /* deadline of every wait: generous for a loaded machine */

static void get_call(const char *key, int i, struct fakeconn_call *c)
{
    if (!fakeconn_call_get(key, i, c))
        fail_msg("no call %d with key '%s'", i, key);
    json_decref(c->params); /* the tests here read the plain fields */
    c->params = NULL;
}

static const char *str(const json_t *o, const char *path1, const char *path2)
{
    const json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v) ? json_string_value(v) : "";
}

/* ---------------------------------------------------------------- the table */

static const char *FAKE_FLOW = "on: fake.event\n"
                               "steps:\n"
                               "  - id: a\n"
                               "    do: fake.call\n"
                               "    with: {key: a}\n";

static void the_connector_table_is_an_option(void **state)
{
    struct ef *f = *state;
    struct expr_ctx *ectx = NULL;
    struct flow *fl = NULL;
    struct flow_diags *d = calloc(1, sizeof *d);
    struct engine_opts o;
    struct engine *e = NULL;
    struct idf_err err;
    const struct connector *many[ENGINE_MAX_CONNECTORS + 1];
    struct registry too_many = {many, ENGINE_MAX_CONNECTORS + 1};

    assert_non_null(d);
    assert_int_equal(expr_ctx_new(&ectx), 0);
    /* parsed in the fake table, the action and the trigger resolve there */
    assert_int_equal(flow_parse(fakeconn_registry(), "w.yaml", FAKE_FLOW, strlen(FAKE_FLOW), ectx, &fl, d), 0);
    assert_ptr_equal(fl->steps[0].action, registry_find_action(fakeconn_registry(), "fake.call"));
    assert_ptr_equal(fl->trigger, registry_find_trigger(fakeconn_registry(), "fake.event"));
    assert_ptr_equal(registry_find(fakeconn_registry(), "fake"),
                     registry_action_owner(fakeconn_registry(), fl->steps[0].action));
    flow_free(fl);
    fl = NULL;
    /* the built-in table knows neither */
    assert_int_equal(flow_parse(registry_default(), "w.yaml", FAKE_FLOW, strlen(FAKE_FLOW), ectx, &fl, d), IDF_EINVAL);
    assert_null(fl);
    assert_true(d->n >= 2);
    assert_non_null(strstr(d->items[0].msg, "unknown trigger 'fake.event'"));
    assert_non_null(strstr(d->items[1].msg, "unknown action 'fake.call'"));
    assert_null(registry_find(registry_default(), "fake"));
    assert_non_null(registry_find(registry_default(), "okta"));
    assert_non_null(registry_find_n(registry_default(), "okta/x", 4));
    assert_null(registry_find_n(registry_default(), "okt", 3));
    expr_ctx_free(ectx);
    free(d);

    /* an engine on the built-in table refuses the workflow; on the fake one it runs it */
    assert_int_equal(ef_workflow(f, "w", FAKE_FLOW), 0);
    memset(&o, 0, sizeof o);
    o.db_url = f->db_url;
    o.workflows_dir = f->wfdir;
    o.connectors = registry_default();
    idf_err_clear(&err);
    assert_int_equal(engine_new(&o, &e, &err), IDF_EINVAL);
    assert_null(e);
    /* more connectors than per-thread slots: refused, naming the cap */
    for (int i = 0; i <= ENGINE_MAX_CONNECTORS; i++)
        many[i] = registry_find(fakeconn_registry(), "fake");
    o.connectors = &too_many;
    idf_err_clear(&err);
    assert_int_equal(engine_new(&o, &e, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "at most 16"));
    assert_null(e);

    e = ef_engine(f, NULL);
    assert_non_null(e);
    int64_t run = ef_submit(f, e, "w", NULL);
    assert_true(run > 0);
    assert_true(ef_wait_status(f, run, "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_calls("a"), 1);
}

/* ---------------------------------------------------------------- retries */

static void a_retryable_failure_waits_then_the_next_attempt_succeeds(void **state)
{
    struct ef *f = *state;
    struct fakeconn_call c1, c2;
    struct store_run *r;
    json_t *steps, *rec;

    assert_int_equal(ef_workflow(f, "w",
                                 "on: fake.event\n"
                                 "steps:\n"
                                 "  - id: r\n"
                                 "    do: fake.call\n"
                                 "    with: {key: r}\n"
                                 "    retry: {max: 3, backoff: 50ms}\n"),
                     0);
    fakeconn_script("r",
                    &(struct fakeconn_answer){FAKECONN_FAIL, .message = "remote said 503", .retryable = true,
                                              .retry_after_ms = 300},
                    1);
    fakeconn_script("r", &(struct fakeconn_answer){FAKECONN_OK, .gate = "second"}, 1);
    struct engine *e = ef_engine(f, NULL);
    assert_non_null(e);
    int64_t run = ef_submit(f, e, "w", NULL);
    assert_true(run > 0);

    /* the second attempt is in the call: what the first left is on record */
    assert_true(fakeconn_wait_calls("r", 2, WAIT_MS));
    steps = ef_steps(f, run);
    rec = ef_step(steps, "r", -1);
    assert_non_null(rec);
    assert_string_equal(str(rec, "status", NULL), "retrying");
    assert_int_equal(json_integer_value(json_object_get(rec, "attempts")), 1);
    assert_string_equal(str(rec, "error", "message"), "remote said 503");
    assert_true(json_is_true(json_object_get(json_object_get(rec, "error"), "retryable")));
    json_decref(steps);
    r = ef_run(f, run);
    assert_non_null(r);
    assert_int_equal(r->attempt, 1);
    store_run_free(r);

    get_call("r", 0, &c1);
    get_call("r", 1, &c2);
    assert_int_equal(c1.attempt, 1);
    assert_int_equal(c2.attempt, 2);
    assert_int_equal(c1.run_id, run);
    /* the wait was the remote's retry-after (longer than the 50ms backoff), counted from the answer */
    assert_true(c2.started_ms >= c1.ended_ms + 300);

    fakeconn_open("second");
    assert_true(ef_wait_status(f, run, "succeeded", WAIT_MS));
    steps = ef_steps(f, run);
    rec = ef_step(steps, "r", -1);
    assert_string_equal(str(rec, "status", NULL), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(rec, "attempts")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rec, "output"), "call")), 2);
    json_decref(steps);
    assert_int_equal(fakeconn_calls("r"), 2);
}

static void a_permanent_failure_fails_the_run_with_its_error(void **state)
{
    struct ef *f = *state;
    struct store_run *r;
    json_t *steps, *rec;

    assert_int_equal(ef_workflow(f, "w",
                                 "on: fake.event\n"
                                 "steps:\n"
                                 "  - id: p\n"
                                 "    do: fake.call\n"
                                 "    with: {key: p}\n"
                                 "    retry: {max: 5, backoff: 10ms}\n"
                                 "  - id: q\n"
                                 "    do: fake.call\n"
                                 "    with: {key: q}\n"),
                     0);
    fakeconn_script("p", &(struct fakeconn_answer){FAKECONN_FAIL, .message = "no such user", .retryable = false}, -1);
    struct engine *e = ef_engine(f, NULL);
    assert_non_null(e);
    int64_t run = ef_submit(f, e, "w", NULL);
    assert_true(ef_wait_status(f, run, "failed", WAIT_MS));
    r = ef_run(f, run);
    assert_string_equal(r->error, "step 'p' failed: no such user");
    store_run_free(r);
    steps = ef_steps(f, run);
    rec = ef_step(steps, "p", -1);
    assert_string_equal(str(rec, "status", NULL), "failed");
    assert_int_equal(json_integer_value(json_object_get(rec, "attempts")), 1);
    assert_null(ef_step(steps, "q", -1));
    json_decref(steps);
    assert_int_equal(fakeconn_calls("p"), 1);
    assert_int_equal(fakeconn_calls("q"), 0);
}

static void a_step_whose_attempts_run_out_fails(void **state)
{
    struct ef *f = *state;
    struct store_run *r;
    json_t *steps;

    assert_int_equal(ef_workflow(f, "w",
                                 "on: fake.event\n"
                                 "steps:\n"
                                 "  - id: x\n"
                                 "    do: fake.call\n"
                                 "    with: {key: x}\n"
                                 "    retry: {max: 3, backoff: 10ms, max_delay: 20ms}\n"),
                     0);
    fakeconn_script("x", &(struct fakeconn_answer){FAKECONN_FAIL, .message = "timed out", .retryable = true}, -1);
    struct engine *e = ef_engine(f, NULL);
    assert_non_null(e);
    int64_t run = ef_submit(f, e, "w", NULL);
    assert_true(ef_wait_status(f, run, "failed", WAIT_MS));
    assert_int_equal(fakeconn_calls("x"), 3);
    r = ef_run(f, run);
    assert_string_equal(r->error, "step 'x' failed: timed out");
    store_run_free(r);
    steps = ef_steps(f, run);
    assert_int_equal(json_integer_value(json_object_get(ef_step(steps, "x", -1), "attempts")), 3);
    json_decref(steps);
}

/* ---------------------------------------------------------------- deferrals */

static void a_deferred_call_resumes_after_its_wake_time_without_counting_an_attempt(void **state)
{
    struct ef *f = *state;
    struct fakeconn_call c[3];
    json_t *steps, *rec;

    /* no retry: a deferral is not a failure, so three calls still fit in max 1 */
    assert_int_equal(ef_workflow(f, "w",
                                 "on: fake.event\n"
                                 "steps:\n"
                                 "  - id: d\n"
                                 "    do: fake.call\n"
                                 "    with: {key: d}\n"),
                     0);
    fakeconn_script("d", &(struct fakeconn_answer){FAKECONN_DEFER, .message = "budget spent", .retry_after_ms = 300},
                    1);
    fakeconn_script(
        "d",
        &(struct fakeconn_answer){FAKECONN_DEFER, .message = "budget spent", .retry_after_ms = 200, .gate = "second"},
        1);
    struct engine *e = ef_engine(f, NULL);
    assert_non_null(e);
    int64_t run = ef_submit(f, e, "w", NULL);

    assert_true(fakeconn_wait_calls("d", 2, WAIT_MS));
    steps = ef_steps(f, run);
    rec = ef_step(steps, "d", -1);
    assert_string_equal(str(rec, "status", NULL), "retrying");
    assert_true(json_is_true(json_object_get(json_object_get(rec, "error"), "deferred")));
    assert_string_equal(str(rec, "error", "message"), "budget spent");
    json_decref(steps);
    fakeconn_open("second");

    assert_true(ef_wait_status(f, run, "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_calls("d"), 3);
    for (int i = 0; i < 3; i++) {
        get_call("d", i, &c[i]);
        assert_int_equal(c[i].attempt, 1);
    }
    assert_true(c[1].started_ms >= c[0].ended_ms + 300);
    assert_true(c[2].started_ms >= c[1].ended_ms + 200);
    steps = ef_steps(f, run);
    rec = ef_step(steps, "d", -1);
    assert_string_equal(str(rec, "status", NULL), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(rec, "attempts")), 1);
    json_decref(steps);
}

/* ---------------------------------------------------------------- intents */

static const char *WRITE_FLOW = "on: fake.event\n"
                                "steps:\n"
                                "  - id: a\n"
                                "    do: fake.call\n"
                                "    with: {key: a}\n"
                                "  - id: w\n"
                                "    do: fake.write\n"
                                "    with: {key: w, value: '${{ .steps.a.key }}'}\n"
                                "    retry: {max: 3, backoff: 10ms, max_delay: 20ms}\n"
                                "  - id: c\n"
                                "    do: fake.call\n"
                                "    with: {key: c}\n";

static void a_write_records_its_intent_and_the_attempt_after_an_unknown_outcome_is_uncertain(void **state)
{
    struct ef *f = *state;
    struct fakeconn_call c1, c2;
    json_t *steps, *rec;

    assert_int_equal(ef_workflow(f, "w", WRITE_FLOW), 0);
    fakeconn_script(
        "w",
        &(struct fakeconn_answer){FAKECONN_FAIL, .message = "connection reset", .retryable = true, .gate = "first"}, 1);
    fakeconn_script("w", &(struct fakeconn_answer){FAKECONN_OK, .gate = "second"}, 1);
    struct engine *e = ef_engine(f, NULL);
    assert_non_null(e);
    int64_t run = ef_submit(f, e, "w", NULL);

    /* in the first call: the intent is on record before it */
    assert_true(fakeconn_wait_calls("w", 1, WAIT_MS));
    steps = ef_steps(f, run);
    rec = ef_step(steps, "w", -1);
    assert_non_null(rec);
    assert_string_equal(str(rec, "status", NULL), "started");
    assert_string_equal(str(rec, "input", "value"), "a");
    assert_string_equal(str(ef_step(steps, "a", -1), "status", NULL), "succeeded");
    json_decref(steps);
    get_call("w", 0, &c1);
    assert_false(c1.uncertain);
    assert_int_equal(c1.attempt, 1);

    /* the failure may have landed: the next attempt is told to look first */
    fakeconn_open("first");
    assert_true(fakeconn_wait_calls("w", 2, WAIT_MS));
    get_call("w", 1, &c2);
    assert_true(c2.uncertain);
    assert_int_equal(c2.attempt, 2);
    steps = ef_steps(f, run);
    assert_string_equal(str(ef_step(steps, "w", -1), "status", NULL), "started");
    json_decref(steps);

    fakeconn_open("second");
    assert_true(ef_wait_status(f, run, "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_calls("a"), 1);
    assert_int_equal(fakeconn_calls("w"), 2);
    assert_int_equal(fakeconn_calls("c"), 1);
    steps = ef_steps(f, run);
    assert_string_equal(str(ef_step(steps, "w", -1), "status", NULL), "succeeded");
    json_decref(steps);
}

static void a_deferred_write_sent_nothing_so_the_next_call_is_not_uncertain(void **state)
{
    struct ef *f = *state;
    struct fakeconn_call c2;

    assert_int_equal(ef_workflow(f, "w", WRITE_FLOW), 0);
    fakeconn_script("w", &(struct fakeconn_answer){FAKECONN_DEFER, .message = "busy", .retry_after_ms = 60}, 1);
    struct engine *e = ef_engine(f, NULL);
    assert_non_null(e);
    int64_t run = ef_submit(f, e, "w", NULL);
    assert_true(ef_wait_status(f, run, "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_calls("w"), 2);
    get_call("w", 1, &c2);
    assert_false(c2.uncertain);
    assert_int_equal(c2.attempt, 1);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_connector_table_is_an_option, ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(a_retryable_failure_waits_then_the_next_attempt_succeeds, ef_setup,
                                        ef_teardown),
        cmocka_unit_test_setup_teardown(a_permanent_failure_fails_the_run_with_its_error, ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(a_step_whose_attempts_run_out_fails, ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(a_deferred_call_resumes_after_its_wake_time_without_counting_an_attempt,
                                        ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(
            a_write_records_its_intent_and_the_attempt_after_an_unknown_outcome_is_uncertain, ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(a_deferred_write_sent_nothing_so_the_next_call_is_not_uncertain, ef_setup,
                                        ef_teardown),
    };
    if (argc >= 2 && !strcmp(argv[1], "__expr-worker")) /* the engine's evaluators exec this program */
        return expr_worker_main(argc - 1, argv + 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_engine_status.c — engine/status.h: every status's name parses back
 * to it, the store's words are the names, and text that is not a status
 * (unknown, another enum's word, a different case, NULL) is refused and
 * leaves the output alone; the state machines allow exactly the transitions
 * docs/internals/engine.md draws (every pair is checked, allowed and refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <string.h>

#include "engine/status.h"
#include "store/store.h"

static void run_statuses_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < ENGINE_RUN_N_; i++) {
        enum engine_run_status s = ENGINE_RUN_N_;
        const char *name = engine_run_status_name((enum engine_run_status)i);
        assert_non_null(name);
        assert_int_equal(engine_run_status_parse(name, &s), 0);
        assert_int_equal(s, i);
    }
    assert_string_equal(engine_run_status_name(ENGINE_RUN_QUEUED), STORE_RUN_QUEUED);
    assert_string_equal(engine_run_status_name(ENGINE_RUN_RUNNING), STORE_RUN_RUNNING);
    assert_string_equal(engine_run_status_name(ENGINE_RUN_WAITING), STORE_RUN_WAITING);
    assert_string_equal(engine_run_status_name(ENGINE_RUN_SUCCEEDED), STORE_RUN_SUCCEEDED);
    assert_string_equal(engine_run_status_name(ENGINE_RUN_FAILED), STORE_RUN_FAILED);
    assert_string_equal(engine_run_status_name(ENGINE_RUN_CANCELLED), STORE_RUN_CANCELLED);
    assert_null(engine_run_status_name(ENGINE_RUN_N_));
}

static void step_statuses_round_trip(void **state)
{
    (void)state;
    for (int i = ENGINE_STEP_STARTED; i < ENGINE_STEP_N_; i++) {
        enum engine_step_status s = ENGINE_STEP_N_;
        const char *name = engine_step_status_name((enum engine_step_status)i);
        assert_non_null(name);
        assert_int_equal(engine_step_status_parse(name, &s), 0);
        assert_int_equal(s, i);
    }
    assert_string_equal(engine_step_status_name(ENGINE_STEP_STARTED), STORE_STEP_STARTED);
    assert_string_equal(engine_step_status_name(ENGINE_STEP_SUCCEEDED), STORE_STEP_SUCCEEDED);
    assert_string_equal(engine_step_status_name(ENGINE_STEP_FAILED), STORE_STEP_FAILED);
    assert_string_equal(engine_step_status_name(ENGINE_STEP_SKIPPED), STORE_STEP_SKIPPED);
    assert_string_equal(engine_step_status_name(ENGINE_STEP_RETRYING), STORE_STEP_RETRYING);
    assert_string_equal(engine_step_status_name(ENGINE_STEP_WAITING), STORE_STEP_WAITING);
    assert_string_equal(engine_step_status_name(ENGINE_STEP_REUSED), STORE_STEP_REUSED);
    assert_null(engine_step_status_name(ENGINE_STEP_NONE)); /* never stored */
    assert_null(engine_step_status_name(ENGINE_STEP_N_));
}

static void approval_statuses_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < ENGINE_APPROVAL_N_; i++) {
        enum engine_approval_status s = ENGINE_APPROVAL_N_;
        const char *name = engine_approval_status_name((enum engine_approval_status)i);
        assert_non_null(name);
        assert_int_equal(engine_approval_status_parse(name, &s), 0);
        assert_int_equal(s, i);
    }
    assert_string_equal(engine_approval_status_name(ENGINE_APPROVAL_PENDING), "pending");
    assert_string_equal(engine_approval_status_name(ENGINE_APPROVAL_APPROVED), "approved");
    assert_string_equal(engine_approval_status_name(ENGINE_APPROVAL_REJECTED), "rejected");
}

static void unknown_text_is_refused(void **state)
{
    static const char *const bad[] = {"", "none", "Running", "running ", "done", "approved", "skipped\n"};
    enum engine_run_status r = ENGINE_RUN_CANCELLED;
    enum engine_step_status s = ENGINE_STEP_REUSED;
    enum engine_approval_status a = ENGINE_APPROVAL_REJECTED;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(engine_run_status_parse(bad[i], &r), IDF_EINVAL);
        assert_int_equal(r, ENGINE_RUN_CANCELLED); /* unchanged */
    }
    assert_int_equal(engine_run_status_parse(NULL, &r), IDF_EINVAL);
    assert_int_equal(engine_step_status_parse("none", &s), IDF_EINVAL);
    assert_int_equal(engine_step_status_parse("queued", &s), IDF_EINVAL); /* a run's word, not a step's */
    assert_int_equal(engine_step_status_parse(NULL, &s), IDF_EINVAL);
    assert_int_equal(s, ENGINE_STEP_REUSED);
    assert_int_equal(engine_approval_status_parse("succeeded", &a), IDF_EINVAL);
    assert_int_equal(engine_approval_status_parse(NULL, &a), IDF_EINVAL);
    assert_int_equal(a, ENGINE_APPROVAL_REJECTED);
}

static void final_statuses(void **state)
{
    (void)state;
    assert_true(engine_run_status_is("waiting", ENGINE_RUN_WAITING));
    assert_false(engine_run_status_is("waiting", ENGINE_RUN_RUNNING));
    assert_false(engine_run_status_is("Waiting", ENGINE_RUN_WAITING));
    assert_false(engine_run_status_is(NULL, ENGINE_RUN_WAITING));
    assert_false(engine_run_status_final(ENGINE_RUN_QUEUED));
    assert_false(engine_run_status_final(ENGINE_RUN_RUNNING));
    assert_false(engine_run_status_final(ENGINE_RUN_WAITING));
    assert_true(engine_run_status_final(ENGINE_RUN_SUCCEEDED));
    assert_true(engine_run_status_final(ENGINE_RUN_FAILED));
    assert_true(engine_run_status_final(ENGINE_RUN_CANCELLED));
    assert_false(engine_run_status_final(ENGINE_RUN_HELD)); /* issue 19: held runs wait for a decision */
    assert_true(engine_run_status_is("held", ENGINE_RUN_HELD));
}

/* The run's state machine, every pair: 1 = allowed. Rows from, columns to:
 * queued running waiting succeeded failed cancelled held. */
static const int run_expected[ENGINE_RUN_N_][ENGINE_RUN_N_] = {
    /* queued    */ {0, 1, 0, 0, 0, 1, 0},
    /* running   */ {1, 1, 1, 1, 1, 1, 1},
    /* waiting   */ {1, 1, 0, 0, 0, 1, 0},
    /* succeeded */ {0, 0, 0, 0, 0, 0, 0},
    /* failed    */ {0, 0, 0, 0, 0, 0, 0},
    /* cancelled */ {0, 0, 0, 0, 0, 0, 0},
    /* held      */ {1, 0, 0, 0, 0, 1, 0}, /* issue 19: released or rejected (queued), cancelled; never claimed */
};

static void run_transitions(void **state)
{
    (void)state;
    for (int f = 0; f < ENGINE_RUN_N_; f++)
        for (int t = 0; t < ENGINE_RUN_N_; t++) {
            bool ok = engine_run_transition_ok((enum engine_run_status)f, (enum engine_run_status)t);
            if (ok != (bool)run_expected[f][t])
                fail_msg("run %s -> %s: %s, expected %s", engine_run_status_name((enum engine_run_status)f),
                         engine_run_status_name((enum engine_run_status)t), ok ? "allowed" : "refused",
                         run_expected[f][t] ? "allowed" : "refused");
        }
    /* named cases the executor's invariants rely on */
    assert_true(engine_run_transition_ok(ENGINE_RUN_RUNNING, ENGINE_RUN_SUCCEEDED));
    assert_false(engine_run_transition_ok(ENGINE_RUN_SUCCEEDED, ENGINE_RUN_RUNNING)); /* never stepped again */
    assert_false(engine_run_transition_ok(ENGINE_RUN_FAILED, ENGINE_RUN_QUEUED));     /* a rerun is a new run */
    assert_false(engine_run_transition_ok(ENGINE_RUN_QUEUED, ENGINE_RUN_SUCCEEDED));  /* only a claimed run ends */
    assert_false(engine_run_transition_ok(ENGINE_RUN_N_, ENGINE_RUN_RUNNING));
    assert_false(engine_run_transition_ok(ENGINE_RUN_RUNNING, ENGINE_RUN_N_));
}

/* The step record's state machine, every pair. Rows from, columns to: none
 * started succeeded failed skipped retrying waiting reused. */
static const int step_expected[ENGINE_STEP_N_][ENGINE_STEP_N_] = {
    /* none      */ {0, 1, 1, 1, 1, 1, 1, 1},
    /* started   */ {0, 1, 1, 1, 0, 1, 0, 0},
    /* succeeded */ {0, 0, 0, 0, 0, 0, 0, 0},
    /* failed    */ {0, 0, 0, 0, 0, 0, 0, 0},
    /* skipped   */ {0, 0, 0, 0, 0, 0, 0, 0},
    /* retrying  */ {0, 1, 1, 1, 1, 1, 1, 0}, /* waiting: held at a guardrail after a deferral (issue 19) */
    /* waiting   */ {0, 1, 1, 1, 1, 1, 0, 0}, /* started, retrying: the call after a guardrail release */
    /* reused    */ {0, 0, 0, 0, 0, 0, 0, 0},
};

static void step_transitions(void **state)
{
    (void)state;
    for (int f = 0; f < ENGINE_STEP_N_; f++)
        for (int t = 0; t < ENGINE_STEP_N_; t++) {
            bool ok = engine_step_transition_ok((enum engine_step_status)f, (enum engine_step_status)t);
            if (ok != (bool)step_expected[f][t])
                fail_msg("step %d -> %d: %s, expected %s", f, t, ok ? "allowed" : "refused",
                         step_expected[f][t] ? "allowed" : "refused");
        }
    assert_true(engine_step_transition_ok(ENGINE_STEP_STARTED, ENGINE_STEP_SUCCEEDED)); /* the intent, then the call */
    assert_false(
        engine_step_transition_ok(ENGINE_STEP_SUCCEEDED, ENGINE_STEP_STARTED)); /* a done step never runs again */
    assert_false(engine_step_transition_ok(ENGINE_STEP_WAITING, ENGINE_STEP_WAITING));
    assert_false(engine_step_transition_ok(ENGINE_STEP_NONE, ENGINE_STEP_NONE));
    assert_false(engine_step_transition_ok(ENGINE_STEP_N_, ENGINE_STEP_FAILED));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(run_statuses_round_trip),
        cmocka_unit_test(step_statuses_round_trip),
        cmocka_unit_test(approval_statuses_round_trip),
        cmocka_unit_test(unknown_text_is_refused),
        cmocka_unit_test(final_statuses),
        cmocka_unit_test(run_transitions),
        cmocka_unit_test(step_transitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

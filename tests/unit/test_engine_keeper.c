/* test_engine_keeper.c — the lease keeper (src/engine/keeper.c), in engines
 * started inside the test program with the fake connector as their
 * connector table (tests/support/engine_fixture.h, fakeconn.h):
 *  - a step that runs for several lease times (its call held at a gate)
 *    keeps its run: a second engine on the same database, claiming all the
 *    while, never takes it over, and the step is called once;
 *  - the same with the keeper off (lease_renew_ms < 0, a stalled node): the
 *    second engine takes the run over mid-step (what the keeper prevents). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timeutil.h"
#include "expr/expr.h"
#include "support/engine_fixture.h"
#include "support/fakeconn.h"

#define WAIT_MS 10000  /* deadline of every wait: generous for a loaded machine */
#define LEASE_MS 300   /* the run lease of both engines */
#define HELD_LEASES 6  /* how many lease times the step is held */

static const char FLOW[] = "on: fake.event\n"
                           "steps:\n"
                           "  - id: slow\n"
                           "    do: fake.write\n"
                           "    with: {key: slow}\n"
                           "  - id: after\n"
                           "    do: fake.call\n"
                           "    with: {key: after}\n";

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Engine A runs the step, held at its gate; engine B claims all the while.
 * Returns how many times the step was called while held. */
static int hold_the_step(struct ef *f, int64_t renew_ms, int64_t *run_out)
{
    fakeconn_script("slow", &(struct fakeconn_answer){FAKECONN_OK, .gate = "slow"}, 1);
    struct engine *a = ef_engine(
        f, &(struct engine_opts){.node_id = "node-a", .workers = 1, .lease_ms = LEASE_MS, .lease_renew_ms = renew_ms});
    assert_non_null(a);
    *run_out = ef_submit(f, a, "w", NULL);
    assert_true(*run_out > 0);
    assert_true(fakeconn_wait_calls("slow", 1, WAIT_MS));
    struct engine *b = ef_engine(f, &(struct engine_opts){.node_id = "node-b", .workers = 2, .lease_ms = LEASE_MS});
    assert_non_null(b);
    /* B polls every 20 ms (the fixture's idle_poll_ms): it has many chances to claim an expired lease */
    sleep_ms((int64_t)HELD_LEASES * LEASE_MS);
    return fakeconn_calls("slow");
}

static void a_step_held_for_several_leases_keeps_its_run(void **state)
{
    struct ef *f = *state;
    int64_t run;
    struct store_run *r;

    assert_int_equal(ef_workflow(f, "w", FLOW), 0);
    assert_int_equal(hold_the_step(f, 0, &run), 1); /* the keeper renews every LEASE_MS / 3 */
    r = ef_run(f, run);
    assert_non_null(r);
    assert_string_equal(r->status, "running");
    assert_int_equal(r->interrupted, 0); /* never taken from its owner */
    assert_int_equal(r->attempt, 0);
    store_run_free(r);

    fakeconn_open("slow");
    assert_true(ef_wait_status(f, run, "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_calls("slow"), 1);
    assert_int_equal(fakeconn_calls("after"), 1);
    struct fakeconn_call c;
    assert_true(fakeconn_call_get("after", 0, &c));
    assert_int_equal(c.run_id, run);
    json_decref(c.params);
}

static void without_the_keeper_another_node_takes_the_run_mid_step(void **state)
{
    struct ef *f = *state;
    int64_t run;

    assert_int_equal(ef_workflow(f, "w", FLOW), 0);
    assert_int_equal(hold_the_step(f, -1, &run), 2); /* the lease ran out: B called the step again */
    /* B finished the run while A's call of the step is still held */
    assert_true(ef_wait_status(f, run, "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_in_flight(), 1);
    fakeconn_open("slow");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_step_held_for_several_leases_keeps_its_run, ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(without_the_keeper_another_node_takes_the_run_mid_step, ef_setup,
                                        ef_teardown),
    };
    if (argc >= 2 && !strcmp(argv[1], "__expr-worker")) /* the engine's evaluators exec this program */
        return expr_worker_main(argc - 1, argv + 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_engine_pg_claims.c — claim batches on a shared database: a worker of
 * an engine on PostgreSQL claims ENGINE_CLAIM_BATCH_SHARED runs at a time
 * (not ENGINE_CLAIM_BATCH), so a node that dies strands few runs for a
 * lease and a live one does not hold runs other nodes could run.
 *
 * An engine started inside the test program (tests/support/engine_fixture.h,
 * fakeconn.h) on a fresh PostgreSQL schema (IDFLOW_TEST_STORE_URL with "%s":
 * tests/support/storeurl.h; run by tests/pg/run.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "expr/expr.h"
#include "store/store.h"
#include "support/engine_fixture.h"
#include "support/fakeconn.h"
#include "support/storeurl.h"

#define WAIT_MS 15000
#define N_RUNS 8 /* more than ENGINE_CLAIM_BATCH_SHARED, fewer than ENGINE_CLAIM_BATCH */

static int setup(void **state)
{
    static int seq;
    const char *tmpl = getenv("IDFLOW_TEST_STORE_URL");
    struct ef *f = calloc(1, sizeof *f);
    char tag[64], url[1100];

    *state = f;
    if (!f || !tmpl || !*tmpl) {
        fprintf(stderr, "IDFLOW_TEST_STORE_URL must be set (tests/pg/run.sh sets it)\n");
        return -1;
    }
    snprintf(tag, sizeof tag, "claims%d_%d", (int)getpid(), ++seq);
    if (tu_store_url(tmpl, tag, url, sizeof url))
        return -1;
    return ef_init_url(f, url);
}

static int teardown(void **state)
{
    struct ef *f = *state;
    if (f) {
        ef_cleanup(f);
        free(f);
    }
    return 0;
}

static void a_worker_on_a_shared_database_claims_few_runs_ahead(void **state)
{
    struct ef *f = *state;
    struct engine_event evs[N_RUNS];
    struct engine_ack acks[N_RUNS];
    struct idf_err err;
    json_t *data = json_object();
    int running = 0;

    assert_int_equal(ef_workflow(f, "w", "on: fake.event\nsteps:\n  - id: s\n    do: fake.call\n    with: {key: k}\n"), 0);
    fakeconn_script("k", &(struct fakeconn_answer){FAKECONN_OK, .gate = "k"}, 1); /* the first run holds its worker */
    struct engine *e = ef_engine(f, &(struct engine_opts){.node_id = "claims", .workers = 1});
    assert_non_null(e);
    /* every run made in one transaction, so the worker's first claim sees them all */
    memset(evs, 0, sizeof evs);
    for (int i = 0; i < N_RUNS; i++) {
        evs[i].source = "test";
        evs[i].type = "fake.event";
        evs[i].workflow = "w";
        evs[i].data = data;
    }
    assert_int_equal(engine_submit_many(e, evs, N_RUNS, acks, &err), 0);
    json_decref(data);
    assert_true(fakeconn_wait_calls("k", 1, WAIT_MS));

    /* the worker is held inside its first claim's first run: what it claimed is "running" */
    for (int i = 0; i < N_RUNS; i++) {
        struct store_run *r = ef_run(f, acks[i].run_ids[0]);
        assert_non_null(r);
        running += strcmp(r->status, "running") == 0;
        store_run_free(r);
    }
    assert_int_equal(running, ENGINE_CLAIM_BATCH_SHARED);

    fakeconn_open("k");
    for (int i = 0; i < N_RUNS; i++)
        assert_true(ef_wait_status(f, acks[i].run_ids[0], "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_calls("k"), N_RUNS);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_worker_on_a_shared_database_claims_few_runs_ahead, setup, teardown),
    };
    if (argc >= 2 && !strcmp(argv[1], "__expr-worker")) /* the engine's evaluators exec this program */
        return expr_worker_main(argc - 1, argv + 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

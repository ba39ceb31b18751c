/* test_store_gate.c — the SQLite writer gate (src/store/sqlite_gate.c):
 * this process's writers to one database file take turns in the order they
 * came, the turn handed to the oldest waiter so that no newcomer barges
 * past it, and a writer is never starved by another that commits back to
 * back (issue 20: the ingest thread's group commits starved the workers,
 * which waited in SQLite's sleeping busy handler); a writer that waits too
 * long gives up its place with an error instead of hanging; every
 * connection to one file shares one gate; and step commits that wait
 * meanwhile are combined into one transaction, each op's failure its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store.h"
#include "support/testutil.h"

struct waiter {
    struct store__sq_gate *g;
    int64_t timeout_ms;
    bool entered;
    atomic_int *turns; /* (optional) the order writers got in */
    int turn;
};

static void *enter_gate(void *arg)
{
    struct waiter *w = arg;
    w->entered = store__sq_gate_enter(w->g, w->timeout_ms);
    if (w->entered && w->turns)
        w->turn = atomic_fetch_add(w->turns, 1);
    if (w->entered)
        store__sq_gate_leave(w->g);
    return NULL;
}

/* Until n writers wait in g (each thread queues itself; no sleep). */
static void wait_queued(struct store__sq_gate *g, size_t n)
{
    while (store__sq_gate_waiting(g) < n)
        sched_yield();
}

/* The turn goes to the oldest waiter: while the gate is held, A queues,
 * then B; at the leave A gets in first, then B. (Released to whoever
 * grabbed it first, as SQLite's busy handler does, B could come first.) */
static void gate_hands_over_in_order(void **state)
{
    char *dir = tu_mktemp_dir(), *path = tu_path(dir, "g.db");
    struct store__sq_gate *g = NULL;
    struct waiter a, b;
    atomic_int turns = 0;
    struct idf_err err;
    pthread_t ta, tb;

    (void)state;
    assert_int_equal(tu_write_file(path, ""), 0);
    assert_int_equal(store__sq_gate_open(path, &g, &err), 0);
    for (int round = 0; round < 20; round++) {
        atomic_store(&turns, 0);
        a = (struct waiter){g, 5000, false, &turns, -1};
        b = a;
        assert_true(store__sq_gate_enter(g, 1000));
        assert_int_equal(pthread_create(&ta, NULL, enter_gate, &a), 0);
        wait_queued(g, 1);
        assert_int_equal(pthread_create(&tb, NULL, enter_gate, &b), 0);
        wait_queued(g, 2);
        store__sq_gate_leave(g);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        assert_true(a.entered && b.entered);
        assert_int_equal(a.turn, 0);
        assert_int_equal(b.turn, 1);
    }
    store__sq_gate_close(g);
    tu_rm_rf(dir);
    free(path);
    free(dir);
}

/* One gate per file, shared by its openers; a writer that waits longer than
 * its timeout gives up (false), and the turn still passes on afterwards. */
static void gate_is_shared_and_times_out(void **state)
{
    char *dir = tu_mktemp_dir(), *path = tu_path(dir, "g.db");
    struct store__sq_gate *a = NULL, *b = NULL;
    struct waiter w;
    struct idf_err err;
    pthread_t t;

    (void)state;
    assert_int_equal(tu_write_file(path, ""), 0);
    assert_int_equal(store__sq_gate_open(path, &a, &err), 0);
    assert_int_equal(store__sq_gate_open(path, &b, &err), 0);
    assert_ptr_equal(a, b);
    assert_non_null(store__sq_gate_writer(a)->db);

    assert_true(store__sq_gate_enter(a, 1000));
    w = (struct waiter){b, 50, true, NULL, 0};
    assert_int_equal(pthread_create(&t, NULL, enter_gate, &w), 0);
    pthread_join(t, NULL);
    assert_false(w.entered); /* the turn was held all along */
    store__sq_gate_leave(a);
    w = (struct waiter){b, 5000, false, NULL, 0};
    assert_int_equal(pthread_create(&t, NULL, enter_gate, &w), 0);
    pthread_join(t, NULL);
    assert_true(w.entered); /* the timed-out waiter left no stale place behind */

    store__sq_gate_close(a);
    store__sq_gate_close(b);
    assert_int_equal(store__sq_gate_open("/nonexistent/idflow/g.db", &a, &err), IDF_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/idflow/g.db"));
    tu_rm_rf(dir);
    free(path);
    free(dir);
}

/* ------------------------------------------------------ combined commits */

#define T0 1700000000000LL
#define LEASE 30000

struct committer {
    const char *url;
    int64_t run_id;
    const char *owner;
    int rc;
    struct idf_err err;
};

/* One step commit (the run's only step, succeeded) on a store of its own. */
static void *commit_step(void *arg)
{
    struct committer *c = arg;
    struct store *s = NULL;
    struct store_step_rec st = {0, "only", -1, STORE_STEP_SUCCEEDED, 1, NULL, "{\"ok\":true}", NULL, T0, T0};
    struct store_run_next nx = {.status = STORE_RUN_SUCCEEDED, .pc = 1};

    c->rc = store_open(c->url, &s, &c->err);
    if (c->rc == 0)
        c->rc = store_step_commit(s, c->run_id, c->owner, T0 + 1, &st, &nx, &c->err);
    store_close(s);
    return NULL;
}

/* Two workers' step commits that wait while another writer holds the gate
 * run in one transaction: the first granted takes the other's with its own.
 * One of them is not the run's owner (its lease check fails): that commit
 * alone fails with its own error and leaves nothing, the other is kept. */
static void step_commits_combine(void **state)
{
    char *dir = tu_mktemp_dir(), url[600];
    struct store *s = NULL;
    struct store__sq *c;
    struct store_run_in runs[2] = {{"wf", 1}, {"wf", 1}};
    int64_t ids[2] = {0, 0};
    struct store_ingest_item it = {0};
    struct store_run *claimed[2] = {NULL, NULL};
    struct store_run *r = NULL;
    struct store_step *steps = NULL;
    struct committer cm[2];
    struct idf_err err = {0};
    size_t n = 0, before;
    pthread_t t[2];

    (void)state;
    snprintf(url, sizeof url, "sqlite:%s/combine.db", dir);
    assert_int_equal(store_open(url, &s, &err), 0);
    c = (struct store__sq *)s;
    it.event = (struct store_event_in){"test", NULL, "manual", NULL, "{\"user\":\"ann@example.com\"}"};
    it.runs = runs;
    it.n_runs = 2;
    it.run_ids = ids;
    assert_int_equal(store_ingest(s, &it, 1, &err), 0);
    assert_int_equal(store_run_claim(s, "worker", T0, LEASE, 2, NULL, 0, claimed, &n, &err), 0);
    assert_int_equal(n, 2);
    store_run_free(claimed[0]);
    store_run_free(claimed[1]);

    cm[0] = (struct committer){url, ids[0], "worker", -1, {0}};
    cm[1] = (struct committer){url, ids[1], "intruder", -1, {0}}; /* not its owner */
    before = store__sq_gate_combined(c->gate);
    assert_int_equal(store__sq_begin(c, SQ_SYNC_NORMAL, &err), 0); /* hold the gate */
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, commit_step, &cm[i]), 0);
    wait_queued(c->gate, 2);
    assert_int_equal(store__sq_commit(c, &err), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(store__sq_gate_combined(c->gate) - before, 1); /* one op ran in the other's transaction */

    assert_int_equal(cm[0].rc, 0);
    assert_int_equal(cm[1].rc, IDF_ESTATE);
    assert_non_null(strstr(cm[1].err.msg, "lease"));
    assert_int_equal(store_run_get(s, ids[0], &r), 0);
    assert_string_equal(r->status, STORE_RUN_SUCCEEDED);
    store_run_free(r);
    assert_int_equal(store_step_list(s, ids[0], &steps, &n), 0);
    assert_int_equal(n, 1);
    store_step_list_free(steps, n);
    assert_int_equal(store_run_get(s, ids[1], &r), 0);
    assert_string_equal(r->status, STORE_RUN_RUNNING); /* the intruder's commit left nothing */
    store_run_free(r);
    assert_int_equal(store_step_list(s, ids[1], &steps, &n), 0);
    assert_int_equal(n, 0);
    store_close(s);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gate_hands_over_in_order),
        cmocka_unit_test(step_commits_combine),
        cmocka_unit_test(gate_is_shared_and_times_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

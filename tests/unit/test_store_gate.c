/* test_store_gate.c — the SQLite writer gate (src/store/sqlite_gate.c):
 * this process's writers to one database file take turns in the order they
 * came, so a writer is never starved by another that commits back to back
 * (issue 20: the ingest thread's group commits starved the workers, which
 * waited in SQLite's sleeping busy handler); a writer that waits too long
 * gives up its place with an error instead of hanging; and every connection
 * to one file shares one gate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store.h"
#include "support/testutil.h"

#define HOG_TX 3000 /* transactions the hog commits back to back */

struct race {
    char url[600];
    atomic_int hog_commits; /* committed by the hog so far */
    atomic_bool hog_started;
    int rc;
};

/* Commits HOG_TX small write transactions back to back on its own store. */
static void *hog(void *arg)
{
    struct race *r = arg;
    struct store *st = NULL;
    struct idf_err err;

    if (store_open(r->url, &st, &err)) {
        r->rc = -1;
        return NULL;
    }
    for (int i = 0; i < HOG_TX; i++) {
        if (store_cursor_set(st, "hog", i % 2 ? "a" : "b")) {
            r->rc = -1;
            break;
        }
        atomic_fetch_add(&r->hog_commits, 1);
        atomic_store(&r->hog_started, true);
    }
    store_close(st);
    return NULL;
}

/* While another thread commits back to back, a second writer of the same
 * process gets its turn after at most the hog's current transaction and one
 * more: each of its five writes is committed within 3 of the hog's commits
 * of the moment it asked. Without the gate the second writer slept in
 * SQLite's busy handler (1, 2, 5 ... ms) while the hog committed hundreds. */
static void writer_is_not_starved(void **state)
{
    char *dir = tu_mktemp_dir();
    struct race r;
    struct store *st = NULL;
    struct idf_err err;
    pthread_t t;
    int worst = 0, writes = 0;

    (void)state;
    memset(&r, 0, sizeof r);
    snprintf(r.url, sizeof r.url, "sqlite:%s/gate.db", dir);
    assert_int_equal(store_open(r.url, &st, &err), 0);
    assert_int_equal(pthread_create(&t, NULL, hog, &r), 0);
    while (!atomic_load(&r.hog_started))
        ;
    for (; writes < 5 && atomic_load(&r.hog_commits) < HOG_TX - 100; writes++) {
        int before = atomic_load(&r.hog_commits), after;
        assert_int_equal(store_cursor_set(st, "writer", "x"), 0);
        after = atomic_load(&r.hog_commits);
        if (after - before > worst)
            worst = after - before;
    }
    pthread_join(t, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(writes, 5); /* all five asked while the hog was committing */
    assert_in_range(worst, 0, 3);
    store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

struct waiter {
    struct store__sq_gate *g;
    int64_t timeout_ms;
    bool entered;
};

static void *enter_gate(void *arg)
{
    struct waiter *w = arg;
    w->entered = store__sq_gate_enter(w->g, w->timeout_ms);
    if (w->entered)
        store__sq_gate_leave(w->g);
    return NULL;
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
    w = (struct waiter){b, 50, true};
    assert_int_equal(pthread_create(&t, NULL, enter_gate, &w), 0);
    pthread_join(t, NULL);
    assert_false(w.entered); /* the turn was held all along */
    store__sq_gate_leave(a);
    w = (struct waiter){b, 5000, false};
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writer_is_not_starved),
        cmocka_unit_test(gate_is_shared_and_times_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_engine_group_commit.c — concurrent acknowledgements share one
 * durable commit (group commit), on SQLite and on PostgreSQL.
 *
 * An engine inside the test program (engine_fixture.h) on the database the
 * environment names: the fixture's SQLite file by default; a fresh
 * PostgreSQL schema when tests/pg/run.sh runs this program with
 * IDFLOW_TEST_STORE_URL. The test takes the database's write lock from a
 * connection of its own (SQLite: BEGIN IMMEDIATE; PostgreSQL: LOCK TABLE
 * events), so the ingest thread's transaction waits; N submitters meanwhile
 * queue behind it (the engine's metrics idflow_ingest_queued and
 * idflow_ingest_writing say where each is, so the test knows without
 * sleeping when all have arrived). Once the lock goes, every submission is
 * acknowledged and the N events took at most two store transactions
 * (idflow_ingest_batches_total): the one that waited, and one for all that
 * queued behind it. Without group commit they take N. Each event's run
 * then runs once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expr/expr.h"
#include "support/engine_fixture.h"
#include "support/storeurl.h"
#include "support/testutil.h"

#define N_SUBMIT 32           /* submissions while the database is locked (< ENGINE_INGEST_BATCH) */
#define ARRIVE_MS 30000       /* deadline for every submission to reach the ingest thread */
#define SQLITE_HOLD_MS 4000   /* SQLite's writers give up after 5 s (STORE__SQ_BUSY_MS): stay under it */
#define WAIT_MS 30000

static const char *WF = "on: fake.event\n"
                        "steps:\n"
                        "  - id: a\n"
                        "    do: fake.call\n"
                        "    with: {key: g}\n";

/* A metric of the engine's Prometheus text, or -1. */
static long long metric(struct engine *e, const char *name)
{
    char *text = engine_metrics(e), pat[128], *p;
    long long v = -1;

    snprintf(pat, sizeof pat, "\n%s ", name);
    if (text && (p = strstr(text, pat)))
        v = atoll(p + strlen(pat));
    free(text);
    return v;
}

/* Puts the fixture on a fresh PostgreSQL schema when IDFLOW_TEST_STORE_URL names one. */
static void use_env_store(struct ef *f)
{
    const char *tmpl = getenv("IDFLOW_TEST_STORE_URL");
    struct idf_err err = {0};
    char tag[64];

    if (!tmpl || !*tmpl)
        return;
    snprintf(tag, sizeof tag, "gc_%d", (int)getpid());
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(tu_store_url(tmpl, tag, f->db_url, sizeof f->db_url), 0);
    if (store_open(f->db_url, &f->st, &err))
        fail_msg("store_open: %s", err.msg);
}

/* The write lock of the database, from a connection of the test's. */
struct db_lock {
    sqlite3 *lite;
    PGconn *pg;
};

static void lock_take(struct ef *f, struct db_lock *l)
{
    memset(l, 0, sizeof *l);
    if (strncmp(f->db_url, "sqlite:", 7) == 0) {
        assert_int_equal(sqlite3_open(f->db_url + 7, &l->lite), SQLITE_OK);
        /* the engine's own writers (its node lease, its pollers' and schedule's leases) may
         * hold the write lock a moment: wait for it as the engine's connections do */
        assert_int_equal(sqlite3_busy_timeout(l->lite, 5000), SQLITE_OK);
        assert_int_equal(sqlite3_exec(l->lite, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        return;
    }
    l->pg = PQconnectdb(f->db_url);
    assert_int_equal(PQstatus(l->pg), CONNECTION_OK);
    PGresult *r = PQexec(l->pg, "BEGIN; LOCK TABLE events IN EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
}

static void lock_drop(struct db_lock *l)
{
    if (l->lite) {
        sqlite3_exec(l->lite, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(l->lite);
    }
    if (l->pg) {
        PQclear(PQexec(l->pg, "ROLLBACK"));
        PQfinish(l->pg);
    }
    memset(l, 0, sizeof *l);
}

struct submitter {
    struct ef *f;
    struct engine *e;
    int64_t run;
    pthread_t th;
};

static void *submit_one(void *arg)
{
    struct submitter *s = arg;
    s->run = ef_submit(s->f, s->e, "gc", NULL);
    return NULL;
}

struct arrival {
    struct engine *e;
    int want;
};

/* Every submission reached the ingest thread: some in the transaction that waits, the rest queued. */
static bool all_arrived(void *ud)
{
    const struct arrival *a = ud;
    long long q = metric(a->e, "idflow_ingest_queued"), w = metric(a->e, "idflow_ingest_writing");
    return w >= 1 && q + w == a->want;
}

/* N submissions that arrive while the database is locked are acknowledged
 * after at most two commits, and each run runs once. */
static void concurrent_acknowledgements_share_a_commit(void **state)
{
    struct ef *f = *state;
    struct submitter subs[N_SUBMIT];
    struct db_lock lk;
    struct engine *e;
    struct arrival want;
    long long batches0, events0;
    bool arrived;

    use_env_store(f);
    assert_int_equal(ef_workflow(f, "gc", WF), 0);
    e = ef_engine(f, NULL);
    assert_non_null(e);
    batches0 = metric(e, "idflow_ingest_batches_total");
    events0 = metric(e, "idflow_events_total");
    assert_true(batches0 >= 0 && events0 >= 0);

    lock_take(f, &lk);
    for (int i = 0; i < N_SUBMIT; i++) {
        subs[i] = (struct submitter){.f = f, .e = e, .run = -1};
        assert_int_equal(pthread_create(&subs[i].th, NULL, submit_one, &subs[i]), 0);
    }
    want = (struct arrival){.e = e, .want = N_SUBMIT};
    arrived = tu_wait_until(all_arrived, &want, lk.lite ? SQLITE_HOLD_MS : ARRIVE_MS);
    lock_drop(&lk);
    for (int i = 0; i < N_SUBMIT; i++)
        pthread_join(subs[i].th, NULL);
    assert_true(arrived);

    assert_int_equal(metric(e, "idflow_events_total") - events0, N_SUBMIT);
    /* the transaction that waited, then one for everything queued behind it */
    assert_in_range(metric(e, "idflow_ingest_batches_total") - batches0, 1, 2);
    assert_int_equal(metric(e, "idflow_ingest_queued"), 0);
    assert_int_equal(metric(e, "idflow_ingest_writing"), 0);
    for (int i = 0; i < N_SUBMIT; i++) {
        assert_true(subs[i].run > 0);
        assert_true(ef_wait_status(f, subs[i].run, "succeeded", WAIT_MS));
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(concurrent_acknowledgements_share_a_commit, ef_setup, ef_teardown),
    };
    if (argc >= 2 && !strcmp(argv[1], "__expr-worker")) /* the engine's evaluators exec this program */
        return expr_worker_main(argc - 1, argv + 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

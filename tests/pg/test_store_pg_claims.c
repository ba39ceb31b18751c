/* test_store_pg_claims.c — what the PostgreSQL backend's claims promise
 * across connections, which the SQLite backend (one writer) cannot show:
 *  - a claim passes over runs another transaction holds locked (SKIP
 *    LOCKED) instead of waiting for them;
 *  - two connections claiming at once never hand out one run, and both get
 *    runs;
 *  - a workflow cap holds while another connection's claim of the same
 *    workflow is in flight (the advisory lock of postgres_caps.c).
 * "Another node" is a raw libpq connection holding a transaction open at the
 * point that matters, so each race is made to happen, not hoped for.
 *
 * Run by tests/pg/run.sh against its throwaway cluster:
 * IDFLOW_TEST_STORE_URL is the template of support/storeurl.h (each test
 * gets a fresh schema of its own). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/postgres_internal.h"
#include "store/store.h"
#include "support/storeurl.h"

#define T0 1700000000000LL
#define LEASE 60000
#define OK(x) assert_int_equal((x), 0)
#define WAIT_MS 20000 /* deadline for a condition a test waits for */

struct fx {
    char url[1024]; /* the test's database (its own schema) */
    struct store *s;
    PGconn *raw; /* "another node": a plain libpq connection to the same schema */
};

static int n_tests;

static int setup(void **state)
{
    const char *tmpl = getenv("IDFLOW_TEST_STORE_URL");
    struct fx *f = calloc(1, sizeof *f);
    struct idf_err err = {0};
    char tag[64];

    if (!f)
        return -1;
    if (!tmpl || strncmp(tmpl, "postgresql://", 13) != 0) {
        fprintf(stderr, "test_store_pg_claims needs IDFLOW_TEST_STORE_URL=postgresql://... (a PostgreSQL "
                        "server: run it through tests/pg/run.sh)\n");
        free(f);
        return -1;
    }
    snprintf(tag, sizeof tag, "pgclaims_%d_%d", (int)getpid(), ++n_tests);
    if (tu_store_url(tmpl, tag, f->url, sizeof f->url) != 0 || store_open(f->url, &f->s, &err) != 0) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        free(f);
        return -1;
    }
    f->raw = PQconnectdb(f->url);
    if (PQstatus(f->raw) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(f->raw));
        PQfinish(f->raw);
        store_close(f->s);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    PQfinish(f->raw);
    free(f);
    return 0;
}

/* ------------------------------------------------------------- helpers */

/* n queued runs of workflow wf (one event each); ids (may be NULL) gets them. */
static void new_runs(struct store *s, const char *wf, size_t n, int64_t *ids)
{
    for (size_t i = 0; i < n; i++) {
        struct store_run_in run = {wf, 1};
        struct store_ingest_item it = {0};
        int64_t id = 0;
        it.event = (struct store_event_in){"test", NULL, "manual", NULL, "{}"};
        it.runs = &run;
        it.n_runs = 1;
        it.run_ids = &id;
        OK(store_ingest(s, &it, 1, NULL));
        if (ids)
            ids[i] = id;
    }
}

/* Runs sql on the raw connection; its single value as an integer (0 when none). */
static long long raw_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long long v = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    assert_true(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static void ms_sleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A claim on its own thread and connection (the store's connections are their opener's). */
struct claim_job {
    const char *url;
    const char *owner;
    size_t max;
    const struct store_cap *caps;
    size_t n_caps;
    int64_t ids[64];
    size_t n;
    int rc;
    volatile int done;
};

static void *claim_thread(void *arg)
{
    struct claim_job *j = arg;
    struct store *s = NULL;
    struct store_run *r[64] = {NULL};
    struct idf_err err = {0};

    j->rc = store_open(j->url, &s, &err);
    if (j->rc == 0)
        j->rc = store_run_claim(s, j->owner, T0, LEASE, j->max, j->caps, j->n_caps, r, &j->n, &err);
    for (size_t i = 0; j->rc == 0 && i < j->n; i++) {
        j->ids[i] = r[i]->id;
        store_run_free(r[i]);
    }
    if (j->rc)
        fprintf(stderr, "claim: %s\n", err.msg);
    store_close(s);
    __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Waits until the job is done or a backend of this database waits on a lock
 * of `kind` ("tuple"/"transactionid" for a row, "advisory"); true when the
 * job finished. Fails the test when neither happens within WAIT_MS. */
static bool done_or_waiting(struct fx *f, volatile int *job_done, const char *kind)
{
    PGconn *probe =
        PQconnectdb(f->url); /* outside the raw transaction: pg_stat_activity is read once per transaction */
    char sql[256];
    bool done = false;
    assert_int_equal(PQstatus(probe), CONNECTION_OK);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
             "WHERE NOT l.granted AND a.datname = current_database() AND l.locktype %s",
             kind);
    for (int waited = 0;; waited += 5) {
        if (__atomic_load_n(job_done, __ATOMIC_SEQ_CST)) {
            done = true;
            break;
        }
        if (raw_exec(probe, sql) > 0)
            break;
        if (waited >= WAIT_MS) {
            PQfinish(probe);
            fail_msg("the claim neither finished nor waited on a lock within %d ms", WAIT_MS);
        }
        ms_sleep(5);
    }
    PQfinish(probe);
    return done;
}

/* ------------------------------------------------------------- tests */

/* A claim passes over a run another transaction holds (a claim in flight on
 * another node) without waiting, and takes it once it is released. */
static void test_claim_skips_locked_rows(void **state)
{
    struct fx *f = *state;
    struct claim_job j = {.url = f->url, .owner = "node-a/w0", .max = 3};
    int64_t ids[5];
    char sql[128];
    pthread_t t;
    bool finished;

    new_runs(f->s, "wf", 5, ids);
    raw_exec(f->raw, "BEGIN");
    snprintf(sql, sizeof sql, "SELECT id FROM runs WHERE id = %lld FOR UPDATE", (long long)ids[0]);
    assert_int_equal(raw_exec(f->raw, sql), ids[0]);

    pthread_create(&t, NULL, claim_thread, &j);
    finished = done_or_waiting(f, &j.done, "IN ('tuple', 'transactionid')");
    raw_exec(f->raw, "ROLLBACK"); /* lets a blocked claim go, so the thread ends either way */
    pthread_join(t, NULL);
    assert_true(finished); /* it did not wait for the locked row */
    OK(j.rc);
    assert_int_equal(j.n, 3); /* the three oldest it could take, the locked one passed over */
    assert_int_equal(j.ids[0], ids[1]);
    assert_int_equal(j.ids[1], ids[2]);
    assert_int_equal(j.ids[2], ids[3]);

    /* released: the next claim takes it (oldest first) */
    {
        struct store_run *r[2] = {NULL};
        size_t n = 0;
        OK(store_run_claim(f->s, "node-b/w0", T0, LEASE, 2, NULL, 0, r, &n, NULL));
        assert_int_equal(n, 2);
        assert_int_equal(r[0]->id, ids[0]);
        assert_int_equal(r[1]->id, ids[4]);
        store_run_free(r[0]);
        store_run_free(r[1]);
    }
}

/* Two connections claiming in a loop at once: every run is handed out
 * exactly once, and both get runs. */
struct loop_job {
    const char *url;
    const char *owner;
    pthread_barrier_t *start;
    int64_t *seen; /* run ids claimed, in claim order */
    size_t n_seen;
    int rc;
};

#define LOOP_RUNS 600

static void *claim_loop(void *arg)
{
    struct loop_job *j = arg;
    struct store *s = NULL;
    struct idf_err err = {0};

    j->rc = store_open(j->url, &s, &err);
    pthread_barrier_wait(j->start);
    while (j->rc == 0) {
        struct store_run *r[4] = {NULL};
        size_t n = 0;
        j->rc = store_run_claim(s, j->owner, T0, LEASE, 4, NULL, 0, r, &n, &err);
        if (j->rc == IDF_EBUSY)
            j->rc = 0; /* contention: try again */
        for (size_t i = 0; i < n; i++) {
            j->seen[j->n_seen++] = r[i]->id;
            store_run_free(r[i]);
        }
        if (j->rc == 0 && n == 0)
            break;
    }
    if (j->rc)
        fprintf(stderr, "%s: %s\n", j->owner, err.msg);
    store_close(s);
    return NULL;
}

static void test_concurrent_claims_disjoint(void **state)
{
    struct fx *f = *state;
    static int64_t seen_a[LOOP_RUNS], seen_b[LOOP_RUNS];
    static unsigned char hits[LOOP_RUNS];
    int64_t ids[LOOP_RUNS];
    pthread_barrier_t start;
    struct loop_job a = {f->url, "node-a/w0", &start, seen_a, 0, 0};
    struct loop_job b = {f->url, "node-b/w0", &start, seen_b, 0, 0};
    pthread_t ta, tb;

    new_runs(f->s, "wf", LOOP_RUNS, ids);
    memset(hits, 0, sizeof hits);
    pthread_barrier_init(&start, NULL, 2);
    pthread_create(&ta, NULL, claim_loop, &a);
    pthread_create(&tb, NULL, claim_loop, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&start);
    OK(a.rc);
    OK(b.rc);
    assert_true(a.n_seen > 0); /* both made progress */
    assert_true(b.n_seen > 0);
    assert_int_equal(a.n_seen + b.n_seen, LOOP_RUNS);
    for (size_t i = 0; i < a.n_seen + b.n_seen; i++) {
        int64_t id = i < a.n_seen ? seen_a[i] : seen_b[i - a.n_seen];
        assert_true(id >= ids[0] && id <= ids[LOOP_RUNS - 1]);
        assert_int_equal(hits[id - ids[0]], 0); /* never handed out twice */
        hits[id - ids[0]] = 1;
    }
    /* and the database agrees: every run is running, with one of the two leases */
    assert_int_equal(raw_exec(f->raw, "SELECT count(*) FROM runs WHERE status = 'running' AND lease_owner IN "
                                      "('node-a/w0', 'node-b/w0')"),
                     LOOP_RUNS);
}

/* A cap of 1 holds while another connection's claim of the workflow is in
 * flight: that claim (here by hand, as postgres_caps.c does it: the cap's
 * advisory lock, then a run made running) has not committed yet, and a
 * second claim must not count 0 running and start another run. */
static void test_cap_holds_across_connections(void **state)
{
    struct fx *f = *state;
    struct store_cap cap = {"capped", 1};
    struct claim_job j = {.url = f->url, .owner = "node-b/w0", .max = 4, .caps = &cap, .n_caps = 1};
    int64_t ids[3];
    char sql[256];
    pthread_t t;

    new_runs(f->s, "capped", 3, ids);
    new_runs(f->s, "free", 1, NULL);
    raw_exec(f->raw, "BEGIN");
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%d, hashtext('capped'))", STORE__PG_LOCK_CAP);
    raw_exec(f->raw, sql);
    snprintf(sql, sizeof sql,
             "UPDATE runs SET status = 'running', lease_owner = 'node-a/w0', lease_until = %lld WHERE id = %lld",
             (long long)(T0 + LEASE), (long long)ids[0]);
    raw_exec(f->raw, sql);

    pthread_create(&t, NULL, claim_thread, &j);
    (void)done_or_waiting(f, &j.done, "= 'advisory'"); /* with the lock: waits for node-a's claim */
    raw_exec(f->raw, "COMMIT");
    pthread_join(t, NULL);
    OK(j.rc);
    /* node-b got the uncapped run only: "capped" has its one running run */
    assert_int_equal(j.n, 1);
    assert_int_equal(raw_exec(f->raw, "SELECT count(*) FROM runs WHERE workflow = 'capped' AND status = 'running'"), 1);
    assert_int_equal(raw_exec(f->raw, "SELECT count(*) FROM runs WHERE workflow = 'free' AND status = 'running'"), 1);
}

/* Two threads claiming a capped workflow at once, again and again (each
 * finishes what it got before claiming again): never two running. */
struct cap_job {
    const char *url;
    const char *owner;
    pthread_barrier_t *start;
    int over; /* claims that saw more than one run of "capped" running */
    int got;
    int rc;
};

static void *cap_loop(void *arg)
{
    struct cap_job *j = arg;
    struct store_cap cap = {"capped", 1};
    struct store *s = NULL;
    struct idf_err err = {0};

    j->rc = store_open(j->url, &s, &err);
    pthread_barrier_wait(j->start);
    for (int round = 0; j->rc == 0 && round < 200; round++) {
        struct store_run *r[2] = {NULL};
        size_t n = 0;
        j->rc = store_run_claim(s, j->owner, T0, LEASE, 2, &cap, 1, r, &n, &err);
        if (j->rc == IDF_EBUSY)
            j->rc = 0;
        if (n > 1)
            j->over++;
        for (size_t i = 0; i < n; i++) {
            struct store_run_next nx = {.status = STORE_RUN_SUCCEEDED};
            struct store_run_counts counts;
            j->got++;
            /* while it is running, nobody else may run one */
            if (store_run_counts(s, &counts) == 0 && counts.running > 1)
                j->over++;
            if (j->rc == 0)
                j->rc = store_step_commit(s, r[i]->id, j->owner, T0, NULL, &nx, &err);
            store_run_free(r[i]);
        }
    }
    if (j->rc)
        fprintf(stderr, "%s: %s\n", j->owner, err.msg);
    store_close(s);
    return NULL;
}

static void test_cap_concurrent_threads(void **state)
{
    struct fx *f = *state;
    pthread_barrier_t start;
    struct cap_job a = {f->url, "node-a/w0", &start, 0, 0, 0};
    struct cap_job b = {f->url, "node-b/w0", &start, 0, 0, 0};
    pthread_t ta, tb;

    new_runs(f->s, "capped", 300, NULL);
    pthread_barrier_init(&start, NULL, 2);
    pthread_create(&ta, NULL, cap_loop, &a);
    pthread_create(&tb, NULL, cap_loop, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&start);
    OK(a.rc);
    OK(b.rc);
    assert_int_equal(a.over + b.over, 0);
    assert_true(a.got + b.got > 0);
}

/* A step commit racing a takeover: node-a's lease expired and node-b's
 * claim (here by hand) has taken the run but not committed. node-a's commit
 * must wait for that claim and then find the lease lost (IDF_ESTATE, nothing
 * written), not pass its check on the old row and overwrite node-b's. */
struct commit_job {
    const char *url;
    int64_t run_id;
    int rc;
    char msg[256];
    volatile int done;
};

static void *commit_thread(void *arg)
{
    struct commit_job *j = arg;
    struct store *s = NULL;
    struct idf_err err = {0};
    struct store_step_rec st = {.index = 0, .step_id = "a", .item = -1, .status = STORE_STEP_SUCCEEDED};
    struct store_run_next nx = {.status = STORE_RUN_RUNNING, .pc = 1};

    j->rc = store_open(j->url, &s, &err);
    if (j->rc == 0)
        j->rc = store_step_commit(s, j->run_id, "node-a/w0", T0 + 2 * LEASE, &st, &nx, &err);
    snprintf(j->msg, sizeof j->msg, "%s", err.msg);
    store_close(s);
    __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_step_commit_waits_for_takeover(void **state)
{
    struct fx *f = *state;
    struct store_run *r[1] = {NULL};
    struct commit_job j = {.url = f->url};
    size_t n = 0;
    char sql[256];
    pthread_t t;

    new_runs(f->s, "wf", 1, &j.run_id);
    OK(store_run_claim(f->s, "node-a/w0", T0, LEASE, 1, NULL, 0, r, &n, NULL));
    assert_int_equal(n, 1);
    store_run_free(r[0]);

    raw_exec(f->raw, "BEGIN");
    snprintf(sql, sizeof sql,
             "UPDATE runs SET lease_owner = 'node-b/w0', lease_until = %lld, attempt = attempt + 1 WHERE id = %lld",
             (long long)(T0 + 3 * LEASE), (long long)j.run_id);
    raw_exec(f->raw, sql);
    pthread_create(&t, NULL, commit_thread, &j);
    (void)done_or_waiting(f, &j.done, "IN ('tuple', 'transactionid')");
    raw_exec(f->raw, "COMMIT");
    pthread_join(t, NULL);
    assert_int_equal(j.rc, IDF_ESTATE);
    assert_non_null(strstr(j.msg, "lease"));
    snprintf(sql, sizeof sql, "SELECT pc FROM runs WHERE id = %lld AND lease_owner = 'node-b/w0'", (long long)j.run_id);
    assert_int_equal(raw_exec(f->raw, sql), 0); /* node-b's takeover stands, at pc 0 */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE id = %lld AND lease_owner = 'node-b/w0'",
             (long long)j.run_id);
    assert_int_equal(raw_exec(f->raw, sql), 1);
    assert_int_equal(raw_exec(f->raw, "SELECT count(*) FROM steps"), 0); /* nothing written */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claim_skips_locked_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_claims_disjoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cap_holds_across_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cap_concurrent_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_step_commit_waits_for_takeover, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

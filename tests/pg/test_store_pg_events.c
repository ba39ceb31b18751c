/* test_store_pg_events.c — what the PostgreSQL backend's event, workflow and
 * token writes promise when several connections (several nodes) write at
 * the same moment, which one SQLite file cannot show: an event acknowledged
 * twice at once is stored once and starts its runs once, the other side
 * reporting a duplicate; an event settled by two matchers at once starts its
 * runs once; two saves of one workflow at once number their versions one
 * after the other; two revocations at once never remove the last admin
 * tokens both.
 *
 * Each test makes the two writers overlap for certain, not by luck: a third,
 * plain libpq connection first takes a lock the writers need (an
 * uncommitted row of the same key, a row lock), each writer runs on its own
 * thread with its own store connection, the test waits until
 * pg_stat_activity shows both blocked on a lock, then releases the lock.
 *
 * Database: IDFLOW_TEST_STORE_URL, a postgresql:// URL template whose "%s"
 * names a fresh schema per test (support/storeurl.h); required: tests/pg/run.sh
 * starts a throwaway cluster and sets it. */
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

#include "core/timeutil.h"
#include "store/store.h"
#include "support/storeurl.h"

#define OK(x) assert_int_equal((x), 0)
#define WAIT_MS 10000 /* longest wait for the writers to block */

struct fx {
    char url[1024];
    struct store *s; /* the main thread's connection */
    PGconn *raw;     /* the lock holder */
    PGconn *obs;     /* watches the writers (pg_stat_activity: outside raw's transaction,
                        whose snapshot of it would never change) */
    int raw_pid;     /* raw's backend */
};

static int setup(void **state)
{
    static int n;
    const char *env = getenv("IDFLOW_TEST_STORE_URL");
    struct fx *f = calloc(1, sizeof *f);
    struct idf_err err = {0};
    char tag[64];

    if (!f)
        return -1;
    if (!env || strncmp(env, "postgresql://", 13) != 0) {
        fprintf(stderr, "test_store_pg_events: IDFLOW_TEST_STORE_URL must be a postgresql:// URL "
                        "(tests/pg/run.sh starts a server and sets it)\n");
        free(f);
        return -1;
    }
    snprintf(tag, sizeof tag, "pgev%d_%d", (int)getpid(), ++n);
    if (tu_store_url(env, tag, f->url, sizeof f->url) != 0) /* creates the test's schema */
        goto fail;
    f->raw = PQconnectdb(f->url);
    f->obs = PQconnectdb(f->url);
    if (PQstatus(f->raw) != CONNECTION_OK || PQstatus(f->obs) != CONNECTION_OK) {
        fprintf(stderr, "PQconnectdb: %s\n", PQerrorMessage(f->raw));
        goto fail;
    }
    f->raw_pid = PQbackendPID(f->raw);
    if (store_open(f->url, &f->s, &err) != 0) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        goto fail;
    }
    *state = f;
    return 0;
fail:
    PQfinish(f->raw);
    PQfinish(f->obs);
    free(f);
    return -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    PQfinish(f->raw);
    PQfinish(f->obs);
    store_close(f->s);
    free(f);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

/* Runs sql on the raw connection; asserts it worked. */
static void raw(struct fx *f, const char *sql)
{
    PGresult *r = PQexec(f->raw, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(f->raw));
    PQclear(r);
}

/* The integer the one-row, one-column query sql returns on conn. */
static long long conn_int(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    long long v;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static long long raw_int(struct fx *f, const char *sql)
{
    return conn_int(f->raw, sql);
}

/* Waits until n backends are blocked on a lock, behind the raw connection;
 * false when they were not after WAIT_MS. */
static bool wait_blocked(struct fx *f, int n)
{
    int64_t until = time_now_ms() + WAIT_MS;
    for (;;) {
        /* blocked by the raw connection, or by a backend it blocks */
        char sql[512];
        long long k;
        snprintf(sql, sizeof sql,
                 "WITH b1 AS (SELECT pid FROM pg_stat_activity WHERE %d = ANY (pg_blocking_pids(pid))), "
                 "b2 AS (SELECT pid FROM pg_stat_activity "
                 "  WHERE pg_blocking_pids(pid) && ARRAY(SELECT pid FROM b1)) "
                 "SELECT count(*) FROM (SELECT pid FROM b1 UNION SELECT pid FROM b2) x",
                 f->raw_pid);
        k = conn_int(f->obs, sql);
        if (k >= n)
            return true;
        if (time_now_ms() > until) {
            print_error("only %lld of %d writers blocked after %d ms\n", k, n, WAIT_MS);
            return false;
        }
        nanosleep(&(struct timespec){0, 2000000}, NULL); /* poll the condition: 2 ms */
    }
}

/* A writer on its own thread and its own store connection. */
struct writer {
    const char *url;
    int (*fn)(struct store *s, struct writer *w);
    int rc;
    char msg[IDF_ERR_MSG_MAX];
    /* the operation's in/out */
    const char *source_id;
    const char *source_id2; /* a second item, or NULL */
    int64_t event_id;
    int64_t event_id2;
    bool duplicate;
    bool settled;
    int64_t run_ids[2];
    const char *name; /* workflow or token */
    int64_t version;
    bool created;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct store *s = NULL;
    struct idf_err err = {0};

    w->rc = store_open(w->url, &s, &err);
    if (w->rc == 0)
        w->rc = w->fn(s, w);
    else
        snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    store_close(s);
    return NULL;
}

static const struct store_run_in RUNS[2] = {{"wf-a", 1}, {"wf-b", 1}};

/* Ingests source_id (starting RUNS) and then source_id2 (no runs) if set. */
static int do_ingest(struct store *s, struct writer *w)
{
    struct store_ingest_item it[2];
    struct idf_err err = {0};
    int rc;

    memset(it, 0, sizeof it);

    it[0].event = (struct store_event_in){"pgtest", w->source_id, "manual", NULL, "{\"user\":\"ann@example.com\"}"};
    it[0].runs = RUNS;
    it[0].n_runs = 2;
    it[0].run_ids = w->run_ids;
    it[1].event = (struct store_event_in){"pgtest", w->source_id2, "manual", NULL, "{}"};
    rc = store_ingest(s, it, w->source_id2 ? 2 : 1, &err);
    w->event_id = it[0].event_id;
    w->duplicate = it[0].duplicate;
    w->event_id2 = it[1].event_id;
    snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    return rc;
}

static int do_settle(struct store *s, struct writer *w)
{
    struct store_settle it = {.event_id = w->event_id, .runs = RUNS, .n_runs = 2, .run_ids = w->run_ids};
    struct idf_err err = {0};
    int rc = store_events_settle(s, &it, 1, &err);
    w->settled = it.settled;
    snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    return rc;
}

static int do_save(struct store *s, struct writer *w)
{
    struct idf_err err = {0};
    char src[64];
    int rc;
    snprintf(src, sizeof src, "name: wf\n# %s\n", w->source_id);
    rc = store_workflow_save(s, w->name, src, w->source_id, &w->version, &w->created, &err);
    snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    return rc;
}

static int do_revoke(struct store *s, struct writer *w)
{
    struct idf_err err = {0};
    int rc = store_token_revoke(s, w->name, "test", false, &err);
    snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    return rc;
}

/* Starts a on its thread, waits until it blocks, then b, waits until both
 * block, releases the raw connection's lock (ROLLBACK) and joins them. */
static void race(struct fx *f, struct writer *a, struct writer *b)
{
    pthread_t ta, tb;

    bool ok;

    a->url = b->url = f->url;
    assert_int_equal(pthread_create(&ta, NULL, writer_main, a), 0);
    ok = wait_blocked(f, 1);
    assert_int_equal(pthread_create(&tb, NULL, writer_main, b), 0);
    ok = ok && wait_blocked(f, 2);
    raw(f, "ROLLBACK");
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    if (!ok)
        fail_msg("the writers did not overlap (a: %d %s; b: %d %s)", a->rc, a->msg, b->rc, b->msg);
}

/* ------------------------------------------------------------------ tests */

/* Two nodes acknowledge the same delivery at once: the second waits for the
 * first's uncommitted row and then reports a duplicate of it (no unique
 * violation, no second set of runs). Writer a holds its event K uncommitted
 * while it waits for the raw connection's row Z; b ingests K meanwhile. */
static void test_ingest_same_key_at_once(void **state)
{
    struct fx *f = *state;
    struct writer a = {.fn = do_ingest, .source_id = "K", .source_id2 = "Z"};
    struct writer b = {.fn = do_ingest, .source_id = "K"};
    char sql[256];

    raw(f, "BEGIN");
    raw(f, "INSERT INTO events (source, source_id, type, received_at, data) VALUES ('pgtest', 'Z', 'manual', 0, '{}')");
    race(f, &a, &b);

    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_false(a.duplicate);
    assert_true(a.event_id > 0);
    assert_true(a.event_id2 > 0); /* the raw insert rolled back: a's Z is new */
    assert_true(b.duplicate);
    assert_int_equal(b.event_id, a.event_id);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM events WHERE source = 'pgtest' AND source_id = 'K'"), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE event_id = %lld", (long long)a.event_id);
    assert_int_equal(raw_int(f, sql), 2);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE event_id = %lld AND id IN (%lld, %lld)",
             (long long)a.event_id, (long long)a.run_ids[0], (long long)a.run_ids[1]);
    assert_int_equal(raw_int(f, sql), 2);
}

/* Two matchers settle the same event at once: one creates its runs, the
 * other finds it settled (the stage guard re-checked on the row the first
 * committed) and creates nothing. */
static void test_settle_same_event_at_once(void **state)
{
    struct fx *f = *state;
    struct store_ingest_item it = {0};
    struct idf_err err = {0};
    struct writer a = {.fn = do_settle}, b = {.fn = do_settle};
    char sql[256];

    it.event = (struct store_event_in){"pgtest", "M", "manual", NULL, "{}", STORE_EVENT_MATCH};
    OK(store_ingest(f->s, &it, 1, &err));
    a.event_id = b.event_id = it.event_id;

    raw(f, "BEGIN");
    snprintf(sql, sizeof sql, "SELECT 1 FROM events WHERE id = %lld FOR UPDATE", (long long)it.event_id);
    raw(f, sql);
    race(f, &a, &b);

    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_true(a.settled != b.settled);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE event_id = %lld", (long long)it.event_id);
    assert_int_equal(raw_int(f, sql), 2);
    snprintf(sql, sizeof sql, "SELECT stage FROM events WHERE id = %lld", (long long)it.event_id);
    assert_int_equal(raw_int(f, sql), 0);
}

/* Two nodes save new sources of one workflow at once: both succeed, as
 * versions 1 and 2 (no unique violation on (name, version)). The raw
 * connection holds an uncommitted version 1, so the first saver blocks after
 * reading the newest version; the second must not read it before the first
 * commits. */
static void test_workflow_save_at_once(void **state)
{
    struct fx *f = *state;
    struct writer a = {.fn = do_save, .name = "wf", .source_id = "hash-a"};
    struct writer b = {.fn = do_save, .name = "wf", .source_id = "hash-b"};

    raw(f, "BEGIN");
    raw(f, "INSERT INTO workflows (name, version, source, hash, created_at) VALUES ('wf', 1, 'x', 'hash-x', 0)");
    race(f, &a, &b);

    if (a.rc || b.rc)
        fail_msg("a: %d %s; b: %d %s", a.rc, a.msg, b.rc, b.msg);
    assert_true(a.created);
    assert_true(b.created);
    assert_int_equal(a.version + b.version, 3);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM workflows WHERE name = 'wf'"), 2);
}

/* Two operators on two nodes revoke the two last admin tokens at once: one
 * revocation goes through, the other is refused as the last admin token. */
static void test_revoke_last_admins_at_once(void **state)
{
    struct fx *f = *state;
    struct idf_err err = {0};
    struct writer a = {.fn = do_revoke, .name = "adm-1"};
    struct writer b = {.fn = do_revoke, .name = "adm-2"};

    OK(store_token_create(f->s, "adm-1", "admin", "hash-1", "idf_1", 0, "test", NULL, &err));
    OK(store_token_create(f->s, "adm-2", "admin", "hash-2", "idf_2", 0, "test", NULL, &err));
    raw(f, "BEGIN");
    raw(f, "SELECT 1 FROM tokens FOR UPDATE");
    race(f, &a, &b);

    assert_true((a.rc == 0 && b.rc == IDF_ESTATE) || (a.rc == IDF_ESTATE && b.rc == 0));
    assert_non_null(strstr(a.rc ? a.msg : b.msg, "last admin token"));
    assert_int_equal(raw_int(f, "SELECT count(*) FROM tokens WHERE role = 'admin'"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ingest_same_key_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settle_same_event_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workflow_save_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_last_admins_at_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* bench/subjects.c — finding runs by subject in a long history (issue 17,
 * "subjects"; docs/internals/store.md, "Run subjects"): the target is an
 * answer in under 50 ms with 1,000,000 runs.
 *
 * Fills a SQLite database (a temp file) with BENCH_RUNS runs (default
 * 1,000,000) over a year, written straight with SQLite in a few big
 * transactions (the bench's own bulk path: the store's per-event ingest
 * would take an hour), in the store's schema (opened once with store_open,
 * which migrates it). Subjects are spread the way an Okta org's history is:
 * 50,000 users (id and login keys), one of them hot (a service account in
 * 1% of the runs); 30% of the runs about one of 100,000 tickets (number and
 * display id); 20% with a step that removed the user from one of 300 groups
 * (id and name keys, the change recorded). Statuses: 90% succeeded, 7%
 * failed, 3% cancelled; sources okta/hook, okta/poll, happyfox/hook.
 *
 * Then times, through the store API (store_run_list / store_run_count /
 * store_run_changes, as GET /api/v1/runs and /api/v1/history call them), the
 * median, p99 and max of BENCH_QUERIES queries (default 300) for random
 * subjects of each shape: a typical user; the hot user; a group; each with
 * status=failed, with since (the last 30 days), both, and source; the
 * total count of each; the whole timeline (list + changes); and the
 * unfiltered list and count.
 *
 * With BENCH_PG=1 (or BENCH_PG_URL set) the same queries also run on
 * PostgreSQL, on BENCH_PG_RUNS runs (default 1,000,000) filled by the server
 * itself (INSERT ... SELECT FROM generate_series); without BENCH_PG_URL a
 * throwaway cluster is started with tests/pg/cluster.sh and stopped.
 * Env: BENCH_RUNS, BENCH_QUERIES, BENCH_KEEP (keep the SQLite file, printed). */
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "store/store.h"

#define USERS 50000
#define TICKETS 100000
#define GROUPS 300
#define DAY_MS 86400000LL
#define YEAR_MS (365 * DAY_MS)

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench/subjects: %s: %s\n", what, msg);
    exit(1);
}

/* ------------------------------------------------------------ SQLite fill */

static void sq_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        die(sql, msg ? msg : "?");
}

static sqlite3_stmt *sq_prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die(sql, sqlite3_errmsg(db));
    return st;
}

static void sq_step(sqlite3 *db, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        die("insert", sqlite3_errmsg(db));
    sqlite3_reset(st);
}

static void subj(sqlite3 *db, sqlite3_stmt *st, int64_t run, const char *key, const char *kind, const char *label,
                 const char *step)
{
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, label, -1, SQLITE_TRANSIENT);
    if (step)
        sqlite3_bind_text(st, 5, step, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    sq_step(db, st);
}

/* The user of run i: the hot one (0) for 1%, else uniform. */
static int pick_user(void)
{
    return next_rand() % 100 == 0 ? 0 : 1 + (int)(next_rand() % (USERS - 1));
}

static void fill_sqlite(const char *path, int n_runs, int64_t now)
{
    static const char *const status[] = {"succeeded", "failed", "cancelled"};
    static const char *const src[][2] = {{"okta", "hook"}, {"okta", "poll"}, {"happyfox", "hook"}};
    sqlite3 *db = NULL;
    sqlite3_stmt *ev, *run, *sj, *step;
    int64_t t0 = time_mono_ns();

    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("open", sqlite3_errmsg(db));
    /* the fill only: no journal, no sync (a crash loses a bench database); WAL again after */
    sq_exec(db, "PRAGMA synchronous = OFF; PRAGMA journal_mode = OFF; PRAGMA cache_size = -262144");
    ev = sq_prep(db, "INSERT INTO events (id, source, source_id, type, connection, received_at, data, via) "
                     "VALUES (?1, ?2, ?1, ?3, 'prod', ?4, '{}', ?5)");
    run = sq_prep(db, "INSERT INTO runs (id, workflow, version, event_id, status, pc, created_at, updated_at, "
                      "finished_at) VALUES (?1, ?2, 1, ?1, ?3, 2, ?4, ?4, ?4)");
    sj = sq_prep(db,
                 "INSERT OR IGNORE INTO run_subjects (run_id, key, kind, label, step_id) VALUES (?1, ?2, ?3, ?4, ?5)");
    step = sq_prep(db, "INSERT INTO steps (run_id, idx, item, step_id, status, attempts, started_at, finished_at, "
                       "change) VALUES (?1, 1, -1, 'remove', 'succeeded', 1, ?2, ?2, ?3)");
    sq_exec(db, "BEGIN");
    for (int64_t i = 1; i <= n_runs; i++) {
        int64_t at = now - YEAR_MS + (YEAR_MS * i) / n_runs;
        int r = (int)(next_rand() % 100), s = (int)(next_rand() % 3), u = pick_user();
        char key[64], login[64];
        bool ticket = next_rand() % 10 < 3, group = next_rand() % 10 < 2;

        sqlite3_bind_int64(ev, 1, i);
        sqlite3_bind_text(ev, 2, src[s][0], -1, SQLITE_STATIC);
        sqlite3_bind_text(ev, 3, s == 2 ? "happyfox.ticket_created" : "okta.user_deactivated", -1, SQLITE_STATIC);
        sqlite3_bind_int64(ev, 4, at);
        sqlite3_bind_text(ev, 5, src[s][1], -1, SQLITE_STATIC);
        sq_step(db, ev);
        sqlite3_bind_int64(run, 1, i);
        sqlite3_bind_text(run, 2, group ? "offboard" : "lock-notify", -1, SQLITE_STATIC);
        sqlite3_bind_text(run, 3, status[r < 90 ? 0 : r < 97 ? 1 : 2], -1, SQLITE_STATIC);
        sqlite3_bind_int64(run, 4, at);
        sq_step(db, run);
        snprintf(key, sizeof key, "00ub%07d", u);
        snprintf(login, sizeof login, "user%d@acme.example", u);
        subj(db, sj, i, key, "okta.user", login, NULL);
        subj(db, sj, i, login, "okta.user", login, NULL);
        if (ticket) {
            int t = 1 + (int)(next_rand() % TICKETS);
            char num[16], disp[32], label[32];
            snprintf(num, sizeof num, "%d", t);
            snprintf(disp, sizeof disp, "hf%08d", t);
            snprintf(label, sizeof label, "#HF%08d", t);
            subj(db, sj, i, num, "happyfox.ticket", label, NULL);
            subj(db, sj, i, disp, "happyfox.ticket", label, NULL);
        }
        if (group) {
            int g = (int)(next_rand() % GROUPS);
            char gid[32], name[32], change[64];
            snprintf(gid, sizeof gid, "00g%05d", g);
            snprintf(name, sizeof name, "group-%d", g);
            snprintf(change, sizeof change, "removed from group-%d", g);
            subj(db, sj, i, gid, "okta.group", name, "remove");
            subj(db, sj, i, name, "okta.group", name, "remove");
            sqlite3_bind_int64(step, 1, i);
            sqlite3_bind_int64(step, 2, at);
            sqlite3_bind_text(step, 3, change, -1, SQLITE_TRANSIENT);
            sq_step(db, step);
        }
        if (i % 100000 == 0) {
            sq_exec(db, "COMMIT; BEGIN");
            fprintf(stderr, "  %lld runs written\n", (long long)i);
        }
    }
    sq_exec(db, "COMMIT");
    /* the triggers kept run_counts; the planner's statistics as a running system gathers them */
    sq_exec(db, "PRAGMA optimize; PRAGMA journal_mode = WAL");
    sqlite3_finalize(ev);
    sqlite3_finalize(run);
    sqlite3_finalize(sj);
    sqlite3_finalize(step);
    sqlite3_close(db);
    printf("filled %d runs in %.1f s\n", n_runs, (double)(time_mono_ns() - t0) / 1e9);
}

/* ------------------------------------------------------------ PostgreSQL fill */

static void pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die(sql, PQerrorMessage(c));
    PQclear(r);
}

/* The same distribution as fill_sqlite, drawn by the server (random()). */
static void fill_pg(const char *url, int n_runs, int64_t now)
{
    PGconn *c = PQconnectdb(url);
    char sql[4096];
    int64_t t0 = time_mono_ns();

    if (PQstatus(c) != CONNECTION_OK)
        die("connect", PQerrorMessage(c));
    pg_exec(c, "SET synchronous_commit = off");
    snprintf(sql, sizeof sql,
             "CREATE TEMP TABLE g AS SELECT i, "
             "CASE WHEN random() < 0.01 THEN 0 ELSE 1 + floor(random() * 49999)::int END AS u, "
             "floor(random() * 3)::int AS s, floor(random() * 100)::int AS r, "
             "CASE WHEN random() < 0.3 THEN 1 + floor(random() * 100000)::int END AS t, "
             "CASE WHEN random() < 0.2 THEN floor(random() * 300)::int END AS g, "
             "%lld::bigint - %lld::bigint + (%lld::bigint * i) / %d AS at "
             "FROM generate_series(1, %d) AS i",
             (long long)now, (long long)YEAR_MS, (long long)YEAR_MS, n_runs, n_runs);
    pg_exec(c, sql);
    pg_exec(c, "INSERT INTO events (id, source, source_id, type, connection, received_at, data, via) "
               "SELECT i, (ARRAY['okta','okta','happyfox'])[s + 1], i::text, "
               "CASE WHEN s = 2 THEN 'happyfox.ticket_created' ELSE 'okta.user_deactivated' END, 'prod', at, '{}', "
               "(ARRAY['hook','poll','hook'])[s + 1] FROM g");
    pg_exec(c, "INSERT INTO runs (id, workflow, version, event_id, status, pc, created_at, updated_at, finished_at) "
               "SELECT i, CASE WHEN g IS NULL THEN 'lock-notify' ELSE 'offboard' END, 1, i, "
               "CASE WHEN r < 90 THEN 'succeeded' WHEN r < 97 THEN 'failed' ELSE 'cancelled' END, 2, at, at, at "
               "FROM g");
    pg_exec(c, "INSERT INTO run_subjects (run_id, key, kind, label, step_id) "
               "SELECT i, k, kind, l, st FROM g, LATERAL (VALUES "
               "('00ub' || lpad(u::text, 7, '0'), 'okta.user', 'user' || u || '@acme.example', NULL::text, 1), "
               "('user' || u || '@acme.example', 'okta.user', 'user' || u || '@acme.example', NULL, 2), "
               "(t::text, 'happyfox.ticket', '#HF' || lpad(t::text, 8, '0'), NULL, 3), "
               "('hf' || lpad(t::text, 8, '0'), 'happyfox.ticket', '#HF' || lpad(t::text, 8, '0'), NULL, 4), "
               "('00g' || lpad(g::text, 5, '0'), 'okta.group', 'group-' || g, 'remove', 5), "
               "('group-' || g, 'okta.group', 'group-' || g, 'remove', 6)) AS v(k, kind, l, st, o) "
               "WHERE k IS NOT NULL ORDER BY i, o ON CONFLICT DO NOTHING");
    pg_exec(c, "INSERT INTO steps (run_id, idx, item, step_id, status, attempts, started_at, finished_at, change) "
               "SELECT i, 1, -1, 'remove', 'succeeded', 1, at, at, 'removed from group-' || g FROM g "
               "WHERE g IS NOT NULL");
    pg_exec(c, "SELECT setval(pg_get_serial_sequence('runs', 'id'), (SELECT max(id) FROM runs))");
    pg_exec(c, "SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT max(id) FROM events))");
    pg_exec(c, "ANALYZE");
    PQfinish(c);
    printf("filled %d runs in %.1f s\n", n_runs, (double)(time_mono_ns() - t0) / 1e9);
}

/* ------------------------------------------------------------ queries */

enum who { TYPICAL, HOT, GROUP };

static const char *subject_of(enum who w, char *buf, size_t n)
{
    if (w == HOT)
        snprintf(buf, n, "user0@acme.example");
    else if (w == GROUP)
        snprintf(buf, n, "group-%d", (int)(next_rand() % GROUPS));
    else
        snprintf(buf, n, "user%d@acme.example", 1 + (int)(next_rand() % (USERS - 1)));
    return buf;
}

struct shape {
    const char *name;
    enum who who;
    bool subject, failed, since, source, count, history;
};

static void run_shape(struct store *s, const struct shape *sh, int queries, int64_t now, int64_t *lat)
{
    int64_t rows_total = 0, matches = 0;

    for (int q = 0; q < queries; q++) {
        char subj[64];
        struct store_run_filter f = {0};
        struct store_run *rows = NULL;
        size_t n = 0;
        int64_t t0, cnt = 0;

        if (sh->subject)
            f.subject = subject_of(sh->who, subj, sizeof subj);
        if (sh->failed)
            f.status = STORE_RUN_FAILED;
        if (sh->since)
            f.since = now - 30 * DAY_MS;
        if (sh->source)
            f.source = "okta/poll";
        t0 = time_mono_ns();
        if (sh->count) {
            if (store_run_count(s, &f, &cnt))
                die(sh->name, "count failed");
            matches += cnt;
        } else {
            if (store_run_list(s, &f, &rows, &n))
                die(sh->name, "list failed");
            if (sh->history) {
                int64_t ids[STORE_LIST_MAX];
                struct store_change *ch = NULL;
                size_t n_ch = 0;
                for (size_t i = 0; i < n; i++)
                    ids[i] = rows[i].id;
                if (store_run_count(s, &f, &cnt) || (n && store_run_changes(s, ids, n, &ch, &n_ch)))
                    die(sh->name, "history failed");
                store_change_list_free(ch, n_ch);
            }
            rows_total += (int64_t)n;
        }
        lat[q] = (time_mono_ns() - t0) / 1000;
        store_run_list_free(rows, n);
    }
    qsort(lat, (size_t)queries, sizeof *lat, cmp64);
    printf("  %-44s median %8.2f ms   p99 %8.2f ms   max %8.2f ms   (%s %.1f)\n", sh->name,
           (double)lat[queries / 2] / 1000, (double)lat[queries * 99 / 100] / 1000, (double)lat[queries - 1] / 1000,
           sh->count ? "count" : "rows", sh->count ? (double)matches / queries : (double)rows_total / queries);
}

static void time_queries(const char *url, int queries, int64_t now)
{
    static const struct shape shapes[] = {
        {"subject=typical user (list, 50)", TYPICAL, true, false, false, false, false, false},
        {"subject=typical user, status=failed", TYPICAL, true, true, false, false, false, false},
        {"subject=typical user, since=30 days", TYPICAL, true, false, true, false, false, false},
        {"subject=typical user, count", TYPICAL, true, false, false, false, true, false},
        {"history typical user (list+count+changes)", TYPICAL, true, false, false, false, false, true},
        {"subject=hot user (10k runs, list, 50)", HOT, true, false, false, false, false, false},
        {"subject=hot user, status=failed", HOT, true, true, false, false, false, false},
        {"subject=hot user, status=failed, since=30d", HOT, true, true, true, false, false, false},
        {"subject=hot user, source=okta/poll", HOT, true, false, false, true, false, false},
        {"subject=hot user, count", HOT, true, false, false, false, true, false},
        {"subject=hot user, status=failed, count", HOT, true, true, false, false, true, false},
        {"subject=group (3k runs), status=failed, 30d", GROUP, true, true, true, false, false, false},
        {"subject=group, count", GROUP, true, false, false, false, true, false},
        {"history group (list+count+changes)", GROUP, true, false, false, false, false, true},
        {"no filter (list, 50)", TYPICAL, false, false, false, false, false, false},
        {"no filter, count (total)", TYPICAL, false, false, false, false, true, false},
        {"status=failed, count", TYPICAL, false, true, false, false, true, false},
        {"since=30 days, count", TYPICAL, false, false, true, false, true, false},
    };
    struct store *s = NULL;
    struct idf_err err = {0};
    int64_t *lat = calloc((size_t)queries, sizeof *lat);

    if (store_open(url, &s, &err))
        die("store_open", err.msg);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        run_shape(s, &shapes[i], shapes[i].count && !shapes[i].subject ? queries / 10 + 1 : queries, now, lat);
    store_close(s);
    free(lat);
}

/* Creates the schema at url (store_open migrates it). */
static void migrate(const char *url)
{
    struct store *s = NULL;
    struct idf_err err = {0};
    if (store_open(url, &s, &err))
        die("store_open", err.msg);
    store_close(s);
}

static void pg_part(int64_t now, int queries)
{
    const char *env = getenv("BENCH_PG_URL");
    char dir[512] = "", url[600], cmd[800];
    int n = getenv("BENCH_PG_RUNS") ? atoi(getenv("BENCH_PG_RUNS")) : 1000000;
    FILE *p;

    if (env && *env) {
        snprintf(url, sizeof url, "%s", env);
    } else {
        p = popen("tests/pg/cluster.sh start", "r");
        if (!p || !fgets(dir, sizeof dir, p))
            die("postgresql", "could not start a cluster (tests/pg/cluster.sh start)");
        pclose(p);
        dir[strcspn(dir, "\n")] = '\0';
        snprintf(cmd, sizeof cmd, "tests/pg/cluster.sh url '%s'", dir);
        p = popen(cmd, "r");
        if (!p || !fgets(url, sizeof url, p))
            die("postgresql", "no cluster url");
        pclose(p);
        url[strcspn(url, "\n")] = '\0';
    }
    printf("PostgreSQL (%s), %d runs:\n", env && *env ? "BENCH_PG_URL" : "a throwaway cluster", n);
    migrate(url);
    fill_pg(url, n, now);
    time_queries(url, queries, now);
    if (dir[0]) {
        snprintf(cmd, sizeof cmd, "tests/pg/cluster.sh stop '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench/subjects: could not stop the cluster at %s\n", dir);
    }
}

int main(void)
{
    int n_runs = getenv("BENCH_RUNS") ? atoi(getenv("BENCH_RUNS")) : 1000000;
    int queries = getenv("BENCH_QUERIES") ? atoi(getenv("BENCH_QUERIES")) : 300;
    int64_t now = time_now_ms();
    char dir[] = "/tmp/idflow-bench-subjects-XXXXXX", path[600], url[700];

    if (n_runs < 1000 || queries < 10)
        die("env", "BENCH_RUNS >= 1000, BENCH_QUERIES >= 10");
    if (!mkdtemp(dir))
        die("mkdtemp", "failed");
    snprintf(path, sizeof path, "%s/subjects.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    printf("SQLite, %d runs (temp file %s):\n", n_runs, path);
    migrate(url);
    fill_sqlite(path, n_runs, now);
    time_queries(url, queries, now);
    if (!getenv("BENCH_KEEP")) {
        char f[700];
        const char *const sfx[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(f, sizeof f, "%s%s", path, sfx[i]);
            unlink(f);
        }
        rmdir(dir);
    }
    if ((getenv("BENCH_PG") && *getenv("BENCH_PG") == '1') || (getenv("BENCH_PG_URL") && *getenv("BENCH_PG_URL")))
        pg_part(now, queries);
    return 0;
}

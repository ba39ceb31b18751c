/* bench/storage.c — what one event and the one-step run it starts cost on
 * disk (issue 20: at most 3 KB).
 *
 * The flow of the issue: `idflow serve` with an Okta connection takes
 * event-hook deliveries (POST /hooks/okta/bench), each one user.account.lock
 * LogEvent (Okta's sample, tests/data/okta-samples/06-..., with a fresh uuid
 * and user: about 1.9 KB a delivery) → okta.user_locked → one http.request
 * step posting a ticket to a loopback stub. After BENCH_RUNS (default 5000)
 * runs succeeded the server is stopped, the WAL checkpointed into the
 * database file, and the growth of the file's used pages (page_count −
 * freelist_count, times page_size) since before the first delivery is
 * divided by the runs. Prints "bytes per one-step run: N" and, per table and
 * index, the bytes per run (SQLite's dbstat). Env: IDFLOW_BIN (set by make
 * bench), BENCH_RUNS, BENCH_KEEP=1 (keep the database and print its path),
 * BENCH_PG_URL (a postgresql:// URL of an empty schema: measure PostgreSQL
 * instead, per table with its indexes and TOAST, pg_total_relation_size).
 * Also prints the server's CPU time per run (user + system, from its start
 * to its stop: the packing and unpacking of event data is in it). */
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench.h"
#include "hookload.h"
#include "net/http.h"
#include "support/testsrv.h"
#include "support/testutil.h"

#define CONC 16
#define SAMPLE "tests/data/okta-samples/06-logevent-user.account.lock.google-secops-sample.json"
#define DELIVERY_MAX 8192

static const char *bin;
static json_t *sample; /* the LogEvent every delivery is made from */

struct load {
    char url[200];
    int total;
    atomic_int next;
    atomic_int errors;
};

/* Delivery i: the sample with its own uuid, user and time. */
static int delivery(char *out, size_t n, int i)
{
    json_t *ev = json_deep_copy(sample), *actor = json_object_get(ev, "actor");
    char s[120];
    char *text;
    int len;

    snprintf(s, sizeof s, "5b90a94a-d7ba-11ea-834a-%012d", i);
    json_object_set_new(ev, "uuid", json_string(s));
    snprintf(s, sizeof s, "00u4j7xcb5N6z%07d", i);
    json_object_set_new(actor, "id", json_string(s));
    snprintf(s, sizeof s, "user%d@cymbal-investments.org", i);
    json_object_set_new(actor, "alternateId", json_string(s));
    snprintf(s, sizeof s, "2026-06-19T21:%02d:%02d.%03dZ", i / 60000 % 60, i / 1000 % 60, i % 1000);
    json_object_set_new(ev, "published", json_string(s));
    text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    len = snprintf(out, n,
                   "{\"eventType\":\"com.okta.event_hook\",\"eventTypeVersion\":\"1.0\","
                   "\"cloudEventsVersion\":\"0.1\",\"source\":\"https://acme.okta.com/api/v1/eventHooks/"
                   "who3p0a3y5uKucF8I0g7\",\"eventId\":\"bench-%d\",\"data\":{\"events\":[%s]}}",
                   i, text ? text : "{}");
    free(text);
    return len;
}

static void *load_thread(void *arg)
{
    struct load *l = arg;
    struct http_client *c = NULL;
    char *body = malloc(DELIVERY_MAX);
    if (!body || http_client_new(&c)) {
        free(body);
        return NULL;
    }
    for (;;) {
        int i = atomic_fetch_add(&l->next, 1);
        if (i >= l->total)
            break;
        delivery(body, DELIVERY_MAX, i);
        if (!bench_post_delivery(c, l->url, body))
            atomic_fetch_add(&l->errors, 1);
    }
    http_client_free(c);
    free(body);
    return NULL;
}

/* The stub's answer: a ticket, as a help desk would return it. */
static bool answer_ticket(void *ud, const struct http_req *req, struct http_resp *resp)
{
    static atomic_int n;
    int id = atomic_fetch_add(&n, 1) + 1;
    (void)ud;
    (void)req;
    http_resp_json(resp, 201,
                   json_pack("{s:i,s:s#,s:s,s:s}", "id", id, "display_id", "#HF00000000", (int)11, "status", "New",
                             "created_at", "2026-06-19 21:51:51"));
    return true;
}

static long metric(const char *base, const char *name)
{
    return bench_metric(base, NULL, name);
}

/* Checkpoints the WAL into the file and reads the used bytes (0 on failure);
 * with per_run > 0 also prints dbstat's bytes per table and index per run,
 * less those of `before` (name → bytes, NULL: none). */
static long long used_bytes(const char *path, json_t *sizes)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long pages = 0, freel = 0, psize = 0;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        goto out;
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(db,
                           "SELECT (SELECT page_count FROM pragma_page_count), (SELECT freelist_count FROM "
                           "pragma_freelist_count), (SELECT page_size FROM pragma_page_size)",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        pages = sqlite3_column_int64(st, 0);
        freel = sqlite3_column_int64(st, 1);
        psize = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sizes &&
        sqlite3_prepare_v2(db, "SELECT name, sum(pgsize) FROM dbstat GROUP BY name", -1, &st, NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            json_object_set_new(sizes, (const char *)sqlite3_column_text(st, 0),
                                json_integer(sqlite3_column_int64(st, 1)));
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return (pages - freel) * psize;
}

/* PostgreSQL (BENCH_PG_URL): the bytes of the tables and indexes of the
 * current schema (pg_total_relation_size), after a VACUUM, or after a VACUUM
 * FULL (the live rows compacted) with full; per relation into sizes. */
static long long pg_bytes(const char *url, bool full, json_t *sizes)
{
    PGconn *db = PQconnectdb(url);
    PGresult *res = NULL;
    long long total = 0;
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "postgresql: %s", PQerrorMessage(db));
        goto out;
    }
    PQclear(PQexec(db, full ? "VACUUM FULL" : "VACUUM"));
    res = PQexec(db, "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON "
                     "n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'");
    for (int i = 0; PQresultStatus(res) == PGRES_TUPLES_OK && i < PQntuples(res); i++) {
        long long b = atoll(PQgetvalue(res, i, 1));
        json_object_set_new(sizes, PQgetvalue(res, i, 0), json_integer(b));
        total += b;
    }
out:
    PQclear(res);
    PQfinish(db);
    return total;
}

int main(void)
{
    int total = bench_env_int("BENCH_RUNS", 5000, 100, 10000000);
    struct tu_proc srv;
    struct testsrv *stub;
    struct load l;
    char *dir, db[600], file[600], wfdir[600], path[700], base[128];
    char wf[1500];
    const char *pg = getenv("BENCH_PG_URL");
    long long before, after;
    int64_t cpu0;
    json_t *sz0 = json_object(), *sz1 = json_object();
    pthread_t t[CONC];

    setvbuf(stdout, NULL, _IOLBF, 0);
    bin = getenv("IDFLOW_BIN");
    sample = json_load_file(SAMPLE, 0, NULL);
    if (!bin || !sample) {
        fprintf(stderr, "IDFLOW_BIN must be set (make bench sets it), run from the repository (%s)\n", SAMPLE);
        return 1;
    }
    stub = testsrv_start();
    testsrv_set_handler(stub, answer_ticket, NULL);
    dir = tu_mktemp_dir();
    snprintf(file, sizeof file, "%s/idflow.db", dir);
    snprintf(db, sizeof db, "sqlite:%s", file);
    if (pg) { /* a shared database: every command is given the key (a bench-only one) */
        snprintf(db, sizeof db, "%s", pg);
        setenv("IDFLOW_MASTER_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1);
    }
    snprintf(wfdir, sizeof wfdir, "%s/wf", dir);
    snprintf(path, sizeof path, "%s/lock.yaml", wfdir);
    snprintf(wf, sizeof wf,
             "name: lock-ticket\n"
             "on:\n  okta.user_locked: {}\n"
             "allow_private_network: true\n"
             "steps:\n"
             "  - id: ticket\n"
             "    do: http.request\n"
             "    with:\n"
             "      method: POST\n"
             "      url: %s/api/1.1/json/tickets/\n"
             "      json:\n"
             "        subject: \"Okta account locked: ${{ .event.user.login }}\"\n"
             "        text: \"${{ .event.display_message }} (${{ .event.outcome.reason }})\"\n"
             "        email: \"${{ .event.user.login }}\"\n"
             "        name: \"${{ .event.user.name }}\"\n"
             "        category: 1\n"
             "        priority: 2\n",
             testsrv_url(stub));
    if (mkdir(wfdir, 0700) || tu_write_file(path, wf)) {
        fprintf(stderr, "cannot prepare %s\n", dir);
        return 1;
    }
    if (bench_hook_setup(bin, dir, db, false, NULL, NULL, 0)) {
        fprintf(stderr, "idflow connect failed (database kept: %s)\n", dir);
        return 1;
    }
    if (bench_serve_start(bin, db, wfdir, &srv, base, sizeof base)) {
        fprintf(stderr, "idflow serve did not start (database kept: %s)\n", dir);
        return 1;
    }
    before = pg ? pg_bytes(pg, true, sz0) : used_bytes(file, sz0);
    {
        char d[DELIVERY_MAX];
        printf("delivery: %d bytes\n", delivery(d, sizeof d, 0));
    }
    memset(&l, 0, sizeof l);
    snprintf(l.url, sizeof l.url, "%s/hooks/okta/bench", base);
    l.total = total;
    for (int i = 0; i < CONC; i++)
        pthread_create(&t[i], NULL, load_thread, &l);
    for (int i = 0; i < CONC; i++)
        pthread_join(t[i], NULL);
    {
        int64_t deadline = tu_now_ms() + 600000;
        while (metric(base, "idflow_runs_finished_total{status=\"succeeded\"} ") < total) {
            struct timespec ts = {0, 20 * 1000000};
            if (tu_now_ms() > deadline) {
                fprintf(stderr, "timed out waiting for the runs (database kept: %s)\n", dir);
                tu_kill(&srv, SIGTERM);
                tu_wait(&srv, 30000);
                return 1;
            }
            nanosleep(&ts, NULL);
        }
    }
    cpu0 = bench_cpu_us(RUSAGE_CHILDREN); /* the sandbox and connect, waited for already */
    tu_kill(&srv, SIGTERM);
    tu_wait(&srv, 30000);
    tu_proc_cleanup(&srv);
    printf("server CPU per run (user + system, start to stop, its evaluator children included): %.3f ms\n",
           (double)(bench_cpu_us(RUSAGE_CHILDREN) - cpu0) / 1000.0 / total);
    if (pg) {
        json_t *vac = json_object();
        printf("bytes per one-step run after a VACUUM (dead row versions kept for reuse): %.0f\n",
               (double)(pg_bytes(pg, false, vac) - before) / total);
        json_decref(vac);
    }
    after = pg ? pg_bytes(pg, true, sz1) : used_bytes(file, sz1);
    if (atomic_load(&l.errors) || testsrv_calls(stub, NULL) < total)
        fprintf(stderr, "warning: %d deliveries failed, %d tickets posted\n", atomic_load(&l.errors),
                testsrv_calls(stub, NULL));
    {
        const char *name;
        json_t *v;
        json_object_foreach (sz1, name, v) {
            long long d = json_integer_value(v) - json_integer_value(json_object_get(sz0, name));
            if (d >= total / 10)
                printf("  %-24s %7.0f bytes per run\n", name, (double)d / total);
        }
    }
    printf("bytes per one-step run: %.0f (%d runs with their events, %s)\n", (double)(after - before) / total, total,
           pg ? "PostgreSQL, the schema's tables and indexes after a VACUUM FULL"
              : "the file's used pages after a checkpoint");
    json_decref(sz0);
    json_decref(sz1);
    json_decref(sample);
    testsrv_stop(stub);
    if (getenv("BENCH_KEEP"))
        printf("database kept: %s\n", file);
    else
        tu_rm_rf(dir);
    free(dir);
    return 0;
}

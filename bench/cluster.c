/* bench/cluster.c — several `idflow serve` nodes on one database, on this
 * machine.
 *
 *  1. completed runs per second with one, two and three nodes (4 workers
 *     each, a fresh database each time): BENCH_RUNS events (default 3000)
 *     POSTed to /api/v1/events at concurrency 16, spread over the nodes,
 *     timed from the first POST until the store counts every run succeeded;
 *     with the CPU each node used (utime + stime from /proc/PID/stat, the
 *     whole life of the process) and the p99 of the acknowledgements;
 *  2. failover: three nodes, the same load, the steps' server holding
 *     every call while it comes in, then letting a tenth of the runs
 *     through (the workers claim again from the backlog) and holding the
 *     calls again until node-2 is killed with SIGKILL (each worker is then
 *     inside a step with the rest of its claim batch leased); the runs it held (leased to
 *     "node-2/...", read from the database right after the kill) and the
 *     time from the kill to the first step commit of one of them on another
 *     node (steps.finished_at), against the lease time.
 * The workflow has two steps: an http.request to a loopback server in this
 * process, and a `set`.
 *
 * Usage: cluster [DB]   DB: a postgresql:// URL (each measurement gets a
 * schema of its own, created empty); default: a SQLite file per
 * measurement in a temporary directory. Env: IDFLOW_BIN (set by make
 * bench), BENCH_RUNS, BENCH_ROUNDS (default 1: every figure is then the
 * median of the rounds), BENCH_FAILOVER_ONLY=1 (only 2.), BENCH_LEASE_MS
 * (the nodes' --lease-ms; default serve's). Prints one line per figure. */
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "engine/engine.h"
#include "net/http.h"
#include "support/cluster_fixture.h"
#include "support/storeurl.h"
#include "support/testsrv.h"
#include "support/testutil.h"

#define CONC 16
#define WORKERS 4
#define MAX_NODES 3
#define MAX_ROUNDS 9
#define MAX_HELD 1024
#define DONE_MS (ENGINE_DEFAULT_LEASE_MS + 120000) /* at most: the longest lease BENCH_LEASE_MS would set is the default */

static const char *db_arg;     /* NULL: SQLite */
static char *dir;              /* the temporary directory */
static struct sfx F;           /* the directory, binary and workflows (no sandbox) */
static struct testsrv *target; /* the steps' loopback server */
static int n_runs = 3000;
static bool only_failover; /* BENCH_FAILOVER_ONLY=1: skip the runs/s */
static const char *lease_arg; /* BENCH_LEASE_MS: the nodes' --lease-ms, or NULL */
static atomic_bool hold_calls; /* failover: the steps' server answers nothing until the kill */

/* ---------------------------------------------------------------- database */

static bool is_pg(const char *url)
{
    return !strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11);
}

/* Runs sql on url and reads up to max integers of the first column (NULL
 * reads as 0): how many, or -1 (printed). */
static int db_ints(const char *url, const char *sql, int64_t *out, int max)
{
    int n = 0;

    if (is_pg(url)) {
        PGconn *c = PQconnectdb(url);
        PGresult *r = c && PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
        if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "bench: %s: %s\n", sql, c ? PQerrorMessage(c) : "no memory");
            n = -1;
        } else {
            for (int i = 0; i < PQntuples(r) && n < max; i++)
                out[n++] = PQgetisnull(r, i, 0) ? 0 : atoll(PQgetvalue(r, i, 0));
        }
        PQclear(r);
        PQfinish(c);
    } else {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_open_v2(url + strlen("sqlite:"), &db, SQLITE_OPEN_READONLY, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_busy_timeout(db, 10000);
            rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        }
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW && n < max) {
            out[n++] = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
        if (rc != SQLITE_DONE && rc != SQLITE_OK && rc != SQLITE_ROW) {
            fprintf(stderr, "bench: %s: %s\n", sql, sqlite3_errmsg(db));
            n = -1;
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    return n;
}

static int64_t db_int(const char *url, const char *sql)
{
    int64_t v = -1;
    return db_ints(url, sql, &v, 1) == 1 ? v : -1;
}

/* A fresh database for one measurement into f->db. */
static void fresh_db(const char *tag)
{
    if (!db_arg) {
        snprintf(F.db, sizeof F.db, "sqlite:%s/%s.db", dir, tag);
        return;
    }
    char tmpl[400], t[64];
    /* each measurement in a schema of its own */
    snprintf(tmpl, sizeof tmpl, "%s%s", db_arg,
             strstr(db_arg, "%s")  ? ""
             : strchr(db_arg, '?') ? "&options=-csearch_path%3D%s"
                                   : "?options=-csearch_path%3D%s");
    snprintf(t, sizeof t, "%s_%d", tag, (int)getpid());
    if (tu_store_url(tmpl, t, F.db, sizeof F.db)) {
        fprintf(stderr, "bench: cannot make a schema on %s\n", db_arg);
        exit(1);
    }
}

/* ---------------------------------------------------------------- load */

struct load {
    struct cfx_node *nodes;
    int n_nodes;
    int total;
    atomic_int next;
    atomic_int errors;
    int64_t *lat_us;
};

static void *load_thread(void *arg)
{
    struct load *l = arg;
    struct http_client *c = NULL;
    const char *h[] = {"Content-Type: application/json", NULL};
    char body[300], url[200];

    if (http_client_new(&c))
        return NULL;
    for (;;) {
        int i = atomic_fetch_add(&l->next, 1);
        struct http_request rq;
        struct http_response rs;
        struct idf_err err;
        const struct cfx_node *n;
        int64_t t0;
        if (i >= l->total)
            break;
        n = &l->nodes[i % l->n_nodes];
        snprintf(url, sizeof url, "%s/api/v1/events", n->base);
        snprintf(body, sizeof body, "{\"workflow\":\"bench-cluster\",\"data\":{\"base\":\"%s\"}}", testsrv_url(target));
        memset(&rq, 0, sizeof rq);
        rq.method = "POST";
        rq.url = url;
        rq.headers = h;
        rq.body = body;
        rq.body_len = strlen(body);
        rq.timeout_ms = 60000;
        t0 = time_mono_ns();
        if (http_client_do(c, &rq, &rs, &err) || rs.status != 202)
            atomic_fetch_add(&l->errors, 1);
        l->lat_us[i] = (time_mono_ns() - t0) / 1000;
        http_response_free(&rs);
    }
    http_client_free(c);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until the store counts at least n succeeded runs: 0, or -1 after DONE_MS. */
static int wait_succeeded(int n)
{
    for (int64_t deadline = tu_now_ms() + DONE_MS;;) {
        if (db_int(F.db, "SELECT count(*) FROM runs WHERE status = 'succeeded'") >= n)
            return 0;
        if (tu_now_ms() > deadline)
            return -1;
        sleep_ms(20);
    }
}

static void start_nodes(struct cfx_node *nodes, int k)
{
    for (int i = 0; i < k; i++) {
        char id[16];
        snprintf(id, sizeof id, "node-%d", i + 1);
        memset(&nodes[i], 0, sizeof nodes[i]);
        const char *const lease[] = {"--lease-ms", lease_arg, NULL};
        if (cfx_node_start(&F, &nodes[i], id, WORKERS, lease_arg ? lease : NULL)) {
            fprintf(stderr, "bench: node %s did not start\n", id);
            exit(1);
        }
    }
}

static void stop_nodes(struct cfx_node *nodes, int k)
{
    for (int i = 0; i < k; i++)
        if (cfx_node_stop(&F, &nodes[i]))
            fprintf(stderr, "warning: node-%d did not stop cleanly\n", i + 1);
}

struct figures {
    double runs_per_s;
    double p99_ms;
    double cpu_s[MAX_NODES];
};

/* Starts the load on its threads (joined by load_join). */
static void load_start(struct load *l, pthread_t *t, struct cfx_node *nodes, int k)
{
    memset(l, 0, sizeof *l);
    l->nodes = nodes;
    l->n_nodes = k;
    l->total = n_runs;
    l->lat_us = calloc((size_t)n_runs, sizeof(int64_t));
    for (int i = 0; i < CONC; i++)
        pthread_create(&t[i], NULL, load_thread, l);
}

static double load_join(struct load *l, pthread_t *t)
{
    double p99;
    for (int i = 0; i < CONC; i++)
        pthread_join(t[i], NULL);
    if (atomic_load(&l->errors))
        fprintf(stderr, "warning: %d events were not acknowledged\n", atomic_load(&l->errors));
    qsort(l->lat_us, (size_t)l->total, sizeof(int64_t), cmp64);
    p99 = (double)l->lat_us[(size_t)l->total * 99 / 100] / 1000.0;
    free(l->lat_us);
    return p99;
}

/* One measurement of runs/s with k nodes. */
static void throughput(int k, int round, struct figures *fig)
{
    struct cfx_node nodes[MAX_NODES];
    pthread_t t[CONC];
    struct load l;
    char tag[32];
    int64_t t0;

    snprintf(tag, sizeof tag, "tp%d_r%d", k, round);
    fresh_db(tag);
    start_nodes(nodes, k);
    t0 = tu_now_ms();
    load_start(&l, t, nodes, k);
    fig->p99_ms = load_join(&l, t);
    if (wait_succeeded(n_runs)) {
        fprintf(stderr, "bench: the runs did not finish with %d node(s)\n", k);
        exit(1);
    }
    fig->runs_per_s = n_runs * 1000.0 / (double)(tu_now_ms() - t0);
    for (int i = 0; i < k; i++)
        fig->cpu_s[i] = (double)cfx_cpu_ms(nodes[i].p.pid) / 1000.0;
    stop_nodes(nodes, k);
}

struct failover {
    double takeover_ms;   /* kill -> first step commit of a held run elsewhere */
    double lease_left_ms; /* kill -> the earliest lease expiry of a held run (as the dead node left it) */
    int held;
};

static void failover(int round, struct failover *fo)
{
    struct cfx_node nodes[MAX_NODES];
    pthread_t t[CONC];
    struct load l;
    char tag[32], sql[16384];
    int64_t held[MAX_HELD], v;
    int n_held;
    size_t off;

    snprintf(tag, sizeof tag, "fo_r%d", round);
    fresh_db(tag);
    start_nodes(nodes, 3);
    /* the steps' server holds every call until the kill: each worker is inside a step with the
     * rest of its claim batch leased and waiting, as under a backlog (without it the runs may
     * all be done before the kill, and the dead node holds nothing) */
    atomic_store(&hold_calls, true);
    load_start(&l, t, nodes, 3);
    load_join(&l, t);
    /* every run is queued now; the workers claimed while the load came in (a run or two each): let
     * a tenth through, so each worker claims again from the backlog, then hold the calls again */
    atomic_store(&hold_calls, false);
    if (wait_succeeded(n_runs / 10)) {
        fprintf(stderr, "bench: no progress before the kill\n");
        exit(1);
    }
    atomic_store(&hold_calls, true);
    sleep_ms(500); /* the workers reach the first step of their new claims */
    /* kill while node-2 holds runs (it may be between claims) */
    for (int64_t deadline = tu_now_ms() + 10000;
         db_int(F.db, "SELECT count(*) FROM runs WHERE status = 'running' AND lease_owner LIKE 'node-2/%'") < 1;) {
        if (tu_now_ms() > deadline) {
            fprintf(stderr, "bench: node-2 never held a run\n");
            exit(1);
        }
    }
    if (cfx_node_kill9(&nodes[1])) {
        fprintf(stderr, "bench: kill -9 failed\n");
        exit(1);
    }
    n_held =
        db_ints(F.db, "SELECT id FROM runs WHERE status = 'running' AND lease_owner LIKE 'node-2/%'", held, MAX_HELD);
    fo->held = n_held;
    v = db_int(F.db, "SELECT min(lease_until) FROM runs WHERE status = 'running' AND lease_owner LIKE 'node-2/%'");
    fo->lease_left_ms = v > 0 ? (double)(v - nodes[1].killed_at) : -1;
    atomic_store(&hold_calls, false);
    if (wait_succeeded(n_runs)) {
        fprintf(stderr, "bench: the runs did not finish after the kill\n");
        exit(1);
    }
    fo->takeover_ms = -1;
    if (n_held > 0) {
        off = (size_t)snprintf(sql, sizeof sql,
                               "SELECT min(finished_at) FROM steps WHERE finished_at > %lld AND run_id IN (",
                               (long long)nodes[1].killed_at);
        for (int i = 0; i < n_held && off < sizeof sql - 32; i++)
            off += (size_t)snprintf(sql + off, sizeof sql - off, "%s%lld", i ? "," : "", (long long)held[i]);
        snprintf(sql + off, sizeof sql - off, ")");
        v = db_int(F.db, sql);
        if (v > 0)
            fo->takeover_ms = (double)(v - nodes[1].killed_at);
    }
    printf("  failover round %d: node-2 held %d run(s) at the kill; first lease expiry +%.0f ms; first step commit "
           "of one of them elsewhere +%.0f ms\n",
           round + 1, fo->held, fo->lease_left_ms, fo->takeover_ms);
    fflush(stdout);
    stop_nodes(nodes, 3);
}

static bool ok_handler(void *ud, const struct http_req *req, struct http_resp *resp)
{
    (void)ud;
    (void)req;
    while (atomic_load(&hold_calls))
        sleep_ms(5);
    http_resp_json(resp, 200, json_pack("{s:b}", "ok", 1));
    return true;
}

int main(int argc, char **argv)
{
    struct figures fig[MAX_NODES][MAX_ROUNDS];
    struct failover fo[MAX_ROUNDS];
    const char *e;
    int rounds = 1;

    if (argc > 2 || (argc == 2 && !is_pg(argv[1]))) {
        fprintf(stderr, "usage: cluster [postgresql://...]   (default: SQLite files)\n");
        return 2;
    }
    db_arg = argc == 2 ? argv[1] : NULL;
    if ((e = getenv("BENCH_RUNS")) && atoi(e) > 0)
        n_runs = atoi(e);
    only_failover = (e = getenv("BENCH_FAILOVER_ONLY")) && !strcmp(e, "1");
    lease_arg = (e = getenv("BENCH_LEASE_MS")) && *e ? e : NULL;
    if ((e = getenv("BENCH_ROUNDS")) && atoi(e) > 0)
        rounds = atoi(e) > MAX_ROUNDS ? MAX_ROUNDS : atoi(e);
    F.no_sandbox = true;
    {
        static const char *const env[] = {"IDFLOW_LOG_LEVEL=warn", NULL};
        F.serve_env = env;
    }
    if (sfx_start(&F, NULL))
        return 1;
    dir = F.dir;
    {
        /* the nodes' master key, beside the fixture: on a shared database serve makes none (every
         * node must be given the same one), so the bench writes it (64 random hex digits, 0600) */
        char key[500], hex[66];
        unsigned char b[32];
        FILE *kf;
        snprintf(key, sizeof key, "%s/idflow.key", dir);
        if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
            fprintf(stderr, "bench: no random bytes for the master key\n");
            return 1;
        }
        for (size_t i = 0; i < sizeof b; i++)
            snprintf(hex + 2 * i, 3, "%02x", b[i]);
        umask(077);
        if (access(key, F_OK) != 0 && (!(kf = fopen(key, "wx")) || fprintf(kf, "%s\n", hex) < 0 || fclose(kf) != 0)) {
            fprintf(stderr, "bench: cannot write the master key %s\n", key);
            return 1;
        }
        setenv("IDFLOW_KEY_FILE", key, 1);
    }
    if (sfx_write_wf(&F, "bench",
                     "name: bench-cluster\non:\n  manual:\nallow_private_network: true\nsteps:\n"
                     "  - id: a\n    do: http.request\n"
                     "    with: {url: '${{ .event.data.base }}/a', query: {run: '${{ .run.id }}'}}\n"
                     "  - id: b\n    do: set\n    with: {done: true}\n"))
        return 1;
    target = testsrv_start();
    testsrv_set_handler(target, ok_handler, NULL);

    printf("cluster: %s, %d runs a measurement, %d worker(s) a node, %d round(s), %ld CPU(s)\n",
           db_arg ? "PostgreSQL" : "SQLite (one file, WAL)", n_runs, WORKERS, rounds, sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
    for (int r = 0; r < rounds; r++) {
        for (int k = 1; k <= MAX_NODES && !only_failover; k++)
            throughput(k, r, &fig[k - 1][r]);
        failover(r, &fo[r]);
    }
    for (int k = 1; k <= MAX_NODES && !only_failover; k++) {
        double v[MAX_ROUNDS], p[MAX_ROUNDS], cpu[MAX_NODES];
        for (int r = 0; r < rounds; r++) {
            v[r] = fig[k - 1][r].runs_per_s;
            p[r] = fig[k - 1][r].p99_ms;
        }
        for (int i = 0; i < k; i++) {
            double c[MAX_ROUNDS];
            for (int r = 0; r < rounds; r++)
                c[r] = fig[k - 1][r].cpu_s[i];
            cpu[i] = median(c, rounds);
        }
        printf("%d node(s): %.0f completed runs/s, p99 acknowledgement %.1f ms, CPU", k, median(v, rounds),
               median(p, rounds));
        for (int i = 0; i < k; i++)
            printf(" node-%d %.1f s", i + 1, cpu[i]);
        printf("\n");
    }
    {
        double tk[MAX_ROUNDS], left[MAX_ROUNDS];
        int held = 0;
        for (int r = 0; r < rounds; r++) {
            tk[r] = fo[r].takeover_ms;
            left[r] = fo[r].lease_left_ms;
            held += fo[r].held;
        }
        printf("failover: node-2 killed holding %d run(s) (mean of rounds); their first lease expired %.0f ms after "
               "the kill; the first step commit of one of them on another node came %.0f ms after the kill "
               "(lease %d ms; goal: under lease + 1000 ms)\n",
               held / rounds, median(left, rounds), median(tk, rounds),
               lease_arg ? atoi(lease_arg) : ENGINE_DEFAULT_LEASE_MS);
    }
    testsrv_stop(target);
    sfx_stop(&F);
    return 0;
}

/* bench/flood.c — do runs keep pace with a flood of events? (issue 20)
 *
 * The flow of the peer comparison: each request is an Okta
 * event-hook delivery of one `user.account.lock` event (~1.9 KB, a fresh
 * uuid) to `idflow serve` (POST /hooks/okta/<connection>), which starts
 * `okta.user_locked` → one `http.request` step posting a ticket to a
 * loopback stub (this program's own recording server). Prints:
 *
 *  0. the drain rate: with the stub holding its answers (the workers wait
 *     in their calls), BENCH_FLOOD_BACKLOG (default 10000) events are
 *     acknowledged; then the stub answers, and the tickets/s until the last
 *     one is how fast the workers drain a backlog with no events arriving;
 *  1. a burst of BENCH_FLOOD_SECS (default 10) seconds at concurrency
 *     BENCH_FLOOD_CONC (default 16): acknowledgements/s, tickets/s during
 *     the burst, and their ratio to the drain rate (the goal is
 *     >= 70 %);
 *  2. the server's CPU (user + system, from /proc, expression evaluator
 *     processes included) per event over burst and drain, in ms, and what
 *     it wrote (/proc/PID/io wchar: WAL frames and checkpoints) per event;
 *     and, from step 0, the CPU per acknowledgement while the backlog
 *     builds (the workers wait in their held calls) and per run while it
 *     drains (no event arrives): the two halves of an event's cost;
 *  3. event → ticket latency at a steady open-loop load of half the
 *     capacity (the lesser of the acknowledgements/s and the drain rate;
 *     BENCH_FLOOD_STEADY_SECS, default 5): p50 / p99 / max;
 *  4. the database's bytes per run (file + WAL after the drain, ÷ runs).
 *  5. RSS of serve (VmRSS idle, VmHWM after).
 * BENCH_FLOOD_ROUNDS (default 1) repeats 1–4 with a fresh server and
 * database, and prints the median of each figure. Env: IDFLOW_BIN (set by
 * make bench). */
#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench.h"
#include "hookload.h"
#include "core/timeutil.h"
#include "net/http.h"
#include "support/testsrv.h"
#include "support/testutil.h"

#define MAX_EVENTS 2000000
#define MAX_CONC 64

static const char *bin;
static int64_t *arrive_ns; /* by event index: when its ticket reached the stub (0 = not yet) */
static atomic_int tickets;
static atomic_bool stub_hold; /* the stub keeps its answers back (a backlog builds) */

/* The stub's handler: notes when event i's ticket arrived (the login carries
 * i) and answers 201. */
static bool stub(void *ud, const struct http_req *req, struct http_resp *resp)
{
    const char *at = strstr(req->body, "\"user");
    (void)ud;
    for (int waited = 0; atomic_load(&stub_hold) && waited < 120000; waited++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (at) {
        long i = strtol(at + 5, NULL, 10);
        if (i >= 0 && i < MAX_EVENTS && !arrive_ns[i])
            arrive_ns[i] = time_mono_ns();
    }
    atomic_fetch_add(&tickets, 1);
    bench_answer_ticket(resp);
    return true;
}

struct load {
    char url[200];
    int round;
    int64_t end_ns;      /* burst: stop at this time */
    int64_t interval_ns; /* steady: one request per interval across all threads (0 = closed loop) */
    int64_t start_ns;
    int first, limit; /* event indexes first .. limit-1 */
    atomic_int next;
    atomic_int acked, errors;
    int64_t *sent_ns;
};

static void *load_thread(void *arg)
{
    struct load *l = arg;
    struct http_client *c = NULL;
    char body[4096];

    if (http_client_new(&c))
        return NULL;
    for (;;) {
        int k = atomic_fetch_add(&l->next, 1), i = l->first + k;
        if (i >= l->limit)
            break;
        if (l->interval_ns) {
            int64_t due = l->start_ns + (int64_t)k * l->interval_ns, now = time_mono_ns();
            if (due > now) {
                struct timespec ts = {(due - now) / 1000000000, (due - now) % 1000000000};
                nanosleep(&ts, NULL);
            }
        } else if (time_mono_ns() >= l->end_ns) {
            break;
        }
        bench_okta_lock_delivery(body, sizeof body, l->round, i);
        l->sent_ns[i] = time_mono_ns();
        if (bench_post_delivery(c, l->url, body))
            atomic_fetch_add(&l->acked, 1);
        else
            atomic_fetch_add(&l->errors, 1);
    }
    http_client_free(c);
    return NULL;
}

static void run_load(struct load *l, int conc)
{
    pthread_t t[MAX_CONC];
    for (int i = 0; i < conc; i++)
        pthread_create(&t[i], NULL, load_thread, l);
    for (int i = 0; i < conc; i++)
        pthread_join(t[i], NULL);
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* Moves the WAL into the database file and truncates it, so that the file
 * size is the database's. */
static void checkpoint(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK)
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(db);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Waits until the stub has n tickets or timeout_ms pass: the time it took
 * (ns), or -1 on timeout. */
static int64_t wait_tickets(int n, int timeout_ms)
{
    int64_t t0 = time_mono_ns(), deadline = t0 + (int64_t)timeout_ms * 1000000;
    while (atomic_load(&tickets) < n) {
        struct timespec ts = {0, 2 * 1000000};
        if (time_mono_ns() > deadline)
            return -1;
        nanosleep(&ts, NULL);
    }
    return time_mono_ns() - t0;
}

struct figures {
    double acks_s, burst_runs_s, drain_runs_s, ratio, cpu_ms, ack_cpu_ms, run_cpu_ms, written_kb, p50_ms, p99_ms,
        max_ms, bytes_run, rss_idle_mb, rss_peak_mb, per_commit;
};

static int one_round(int round, int secs, int conc, int steady_secs, int backlog, const char *stub_url,
                     struct figures *fg)
{
    struct tu_proc srv;
    struct load l;
    char *dir = tu_mktemp_dir(), db[600], dbfile[600], wal[620], wfdir[600], base[128];
    int64_t t0, burst_ns, drain_ns;
    int at_burst_end, acked = 0, first;
    long long cpu0, cpu1, cpu_held, w0, w1, ev0, ev1, tx0, tx1;
    long hz = sysconf(_SC_CLK_TCK);
    int rc = 1;

    memset(fg, 0, sizeof *fg);
    snprintf(dbfile, sizeof dbfile, "%s/idflow.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", dbfile);
    snprintf(db, sizeof db, "sqlite:%s", dbfile);
    snprintf(wfdir, sizeof wfdir, "%s/wf", dir);
    if (bench_lockout_workflow(wfdir, stub_url) || bench_hook_setup(bin, dir, db, false, NULL, NULL, 0)) {
        fprintf(stderr, "flood: cannot prepare %s\n", dir);
        goto out;
    }
    if (bench_serve_start(bin, db, wfdir, &srv, base, sizeof base)) {
        fprintf(stderr, "flood: idflow serve did not start\n");
        goto out;
    }
    fg->rss_idle_mb = bench_proc_status_kb(srv.pid, "VmRSS") / 1024.0;
    atomic_store(&tickets, 0);
    memset(arrive_ns, 0, MAX_EVENTS * sizeof *arrive_ns);

    /* 0. the drain rate of a backlog */
    memset(&l, 0, sizeof l);
    snprintf(l.url, sizeof l.url, "%s/hooks/okta/bench", base);
    l.round = round;
    l.sent_ns = calloc(MAX_EVENTS, sizeof *l.sent_ns);
    l.first = MAX_EVENTS / 2 + MAX_EVENTS / 4;
    l.limit = l.first + backlog;
    l.end_ns = INT64_MAX;
    atomic_store(&stub_hold, true);
    cpu0 = bench_proc_cpu_ticks(srv.pid);
    run_load(&l, conc);
    cpu_held = bench_proc_cpu_ticks(srv.pid); /* acknowledgements only: the workers wait in their calls */
    atomic_store(&stub_hold, false);
    drain_ns = wait_tickets(backlog, 600000);
    cpu1 = bench_proc_cpu_ticks(srv.pid); /* the runs only: no event arrives */
    fg->ack_cpu_ms = (double)(cpu_held - cpu0) * 1000.0 / (double)hz / backlog;
    fg->run_cpu_ms = (double)(cpu1 - cpu_held) * 1000.0 / (double)hz / backlog;
    if (drain_ns <= 0 || atomic_load(&l.errors)) {
        fprintf(stderr, "flood: the backlog of %d was not drained (%d failed deliveries)\n", backlog,
                atomic_load(&l.errors));
        goto stop;
    }
    fg->drain_runs_s = backlog / (drain_ns / 1e9);
    atomic_store(&tickets, 0);

    /* 1. the burst, and the runs it left */
    atomic_store(&l.next, 0);
    atomic_store(&l.acked, 0);
    l.first = 0;
    l.limit = MAX_EVENTS / 2;
    ev0 = bench_metric(base, NULL, "idflow_events_total ");
    tx0 = bench_metric(base, NULL, "idflow_ingest_batches_total ");
    cpu0 = bench_proc_cpu_ticks(srv.pid);
    w0 = bench_proc_wchar(srv.pid);
    t0 = time_mono_ns();
    l.end_ns = t0 + (int64_t)secs * 1000000000;
    run_load(&l, conc);
    burst_ns = time_mono_ns() - t0;
    ev1 = bench_metric(base, NULL, "idflow_events_total ");
    tx1 = bench_metric(base, NULL, "idflow_ingest_batches_total ");
    fg->per_commit = tx1 > tx0 ? (double)(ev1 - ev0) / (double)(tx1 - tx0) : 0;
    at_burst_end = atomic_load(&tickets);
    acked = atomic_load(&l.acked);
    drain_ns = wait_tickets(acked, 600000);
    cpu1 = bench_proc_cpu_ticks(srv.pid);
    w1 = bench_proc_wchar(srv.pid);
    if (drain_ns < 0) {
        fprintf(stderr, "flood: only %d of %d tickets within 10 minutes of the burst\n", atomic_load(&tickets), acked);
        goto stop;
    }
    fg->acks_s = acked / (burst_ns / 1e9);
    fg->burst_runs_s = at_burst_end / (burst_ns / 1e9);
    fg->ratio = fg->burst_runs_s / fg->drain_runs_s;
    fg->cpu_ms = (double)(cpu1 - cpu0) * 1000.0 / (double)hz / (acked ? acked : 1);
    fg->written_kb = (double)(w1 - w0) / 1024.0 / (acked ? acked : 1);
    if (atomic_load(&l.errors))
        fprintf(stderr, "flood: %d deliveries failed during the burst\n", atomic_load(&l.errors));

    /* 3. a steady load at half the drain rate */
    {
        /* capacity: what the server sustains end to end, the lesser of its
         * acknowledgements/s and its drain rate */
        double rate = (fg->drain_runs_s < fg->acks_s ? fg->drain_runs_s : fg->acks_s) / 2;
        int n = (int)(rate * steady_secs), got = 0;
        int64_t *lat;
        struct load s;
        if (n < 10)
            n = 10;
        first = l.limit;
        memset(&s, 0, sizeof s);
        memcpy(s.url, l.url, sizeof s.url);
        s.round = round;
        s.first = first;
        s.limit = first + n;
        s.sent_ns = l.sent_ns;
        s.interval_ns = (int64_t)(1e9 / rate);
        s.start_ns = time_mono_ns();
        run_load(&s, conc);
        if (wait_tickets(acked + n, 60000) < 0)
            fprintf(stderr, "flood: the steady load's tickets did not all arrive\n");
        lat = calloc((size_t)n, sizeof *lat);
        for (int i = first; i < first + n; i++)
            if (arrive_ns[i] && s.sent_ns[i])
                lat[got++] = arrive_ns[i] - s.sent_ns[i];
        qsort(lat, (size_t)got, sizeof *lat, cmp64);
        if (got) {
            fg->p50_ms = lat[got / 2] / 1e6;
            fg->p99_ms = lat[(size_t)got * 99 / 100] / 1e6;
            fg->max_ms = lat[got - 1] / 1e6;
        }
        printf("flood round %d: steady %.0f events/s for %d s: %d events\n", round, rate, steady_secs, n);
        free(lat);
        acked += n;
    }
    fg->rss_peak_mb = bench_proc_status_kb(srv.pid, "VmHWM") / 1024.0;
    rc = 0;
stop:
    tu_kill(&srv, SIGTERM);
    tu_wait(&srv, 60000);
    tu_proc_cleanup(&srv);
    checkpoint(dbfile);
    fg->bytes_run = (double)(file_size(dbfile) + file_size(wal)) / (acked + backlog);
    free(l.sent_ns);
out:
    tu_rm_rf(dir);
    free(dir);
    return rc;
}

int main(void)
{
    int secs = bench_env_int("BENCH_FLOOD_SECS", 10, 1, 600), conc = bench_env_int("BENCH_FLOOD_CONC", 16, 1, MAX_CONC),
        steady = bench_env_int("BENCH_FLOOD_STEADY_SECS", 5, 1, 600),
        rounds = bench_env_int("BENCH_FLOOD_ROUNDS", 1, 1, 15),
        backlog = bench_env_int("BENCH_FLOOD_BACKLOG", 10000, 100, MAX_EVENTS / 4);
    struct figures fg[15];
    struct testsrv *ts;
    double v[15];

    bin = getenv("IDFLOW_BIN");
    if (!bin) {
        fprintf(stderr, "IDFLOW_BIN must be set (make bench sets it)\n");
        return 1;
    }
    arrive_ns = calloc(MAX_EVENTS, sizeof *arrive_ns);
    ts = testsrv_start();
    testsrv_set_handler(ts, stub, NULL);
    for (int r = 0; r < rounds; r++) {
        if (one_round(r + 1, secs, conc, steady, backlog, testsrv_url(ts), &fg[r]))
            return 1;
        testsrv_reset(ts); /* the recorded requests */
        printf("flood round %d: %.0f acks/s, runs/s during the burst %.0f, draining %.0f (%.0f %%), "
               "CPU per event %.3f ms (backlog: %.3f per acknowledgement, %.3f per run), written per event %.1f KB, "
               "%.1f events per ingest commit, steady p50 %.1f ms p99 %.1f ms max %.1f ms, %.0f "
               "bytes per run, "
               "RSS idle %.1f MB peak %.1f MB\n",
               r + 1, fg[r].acks_s, fg[r].burst_runs_s, fg[r].drain_runs_s, fg[r].ratio * 100, fg[r].cpu_ms,
               fg[r].ack_cpu_ms, fg[r].run_cpu_ms, fg[r].written_kb, fg[r].per_commit, fg[r].p50_ms, fg[r].p99_ms,
               fg[r].max_ms, fg[r].bytes_run, fg[r].rss_idle_mb, fg[r].rss_peak_mb);
        fflush(stdout);
    }
#define MEDIAN(field, label, fmt)                                                                                      \
    do {                                                                                                               \
        for (int r = 0; r < rounds; r++)                                                                               \
            v[r] = fg[r].field;                                                                                        \
        printf("flood: " label ": " fmt "\n", bench_median(v, rounds));                                                \
    } while (0)
    printf("flood: %d s bursts at concurrency %d, medians of %d round(s):\n", secs, conc, rounds);
    MEDIAN(acks_s, "acknowledgements/s", "%.0f");
    MEDIAN(burst_runs_s, "runs/s during the burst", "%.0f");
    MEDIAN(drain_runs_s, "runs/s draining the backlog", "%.0f");
    MEDIAN(ratio * 100, "runs during the burst, %% of the drain rate", "%.0f");
    MEDIAN(cpu_ms, "server CPU per event (ms)", "%.3f");
    MEDIAN(ack_cpu_ms, "server CPU per acknowledgement, building the backlog (ms)", "%.3f");
    MEDIAN(run_cpu_ms, "server CPU per one-step run, draining the backlog (ms)", "%.3f");
    MEDIAN(written_kb, "bytes written per event (KB, WAL frames and checkpoints)", "%.1f");
    MEDIAN(per_commit, "events per ingest commit during the burst", "%.1f");
    MEDIAN(p99_ms, "event -> ticket p99 at half capacity (ms)", "%.1f");
    MEDIAN(bytes_run, "database bytes per one-step run", "%.0f");
    MEDIAN(rss_peak_mb, "RSS peak (MB)", "%.1f");
    testsrv_stop(ts);
    free(arrive_ns);
    return 0;
}

/* bench/engine.c — what the engine sustains on this machine.
 *
 *  1. durable event acknowledgements per second at concurrency 32
 *     (POST /api/v1/events, each answered only after its fsync'd commit);
 *  2. completed runs per second, one-step and three-step workflows whose steps
 *     call a loopback HTTP server (events posted at concurrency 32, timed
 *     until the last run succeeded);
 *  3. the same with BENCH_HISTORY (default 1,000,000) finished runs already in
 *     the store;
 *  4. peak resident memory of `idflow serve` working through 100,000 queued
 *     runs.
 * Acknowledgements are measured twice: as a fresh loopback install takes
 * them (no API token exists) and as production does, each request carrying
 * an operator token that is looked up and checked.
 * Acknowledgements of hook deliveries (a generic webhook) are measured too:
 * those are answered once stored, and matched after the answer.
 * Prints one line per figure. Env: IDFLOW_BIN (set by make bench),
 * BENCH_RUNS (default 20000), BENCH_HISTORY, BENCH_QUEUED (default 100000),
 * BENCH_ACKS_ONLY=1 (stop after the acknowledgements), BENCH_QUICK=1 (stop
 * after the runs/s of 2.: what bench/isolation.sh compares between two
 * binaries), BENCH_SKIP_ACKS=1 (start at 2.). The peak memory of 4. adds the
 * expression evaluator processes. */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hookload.h"
#include "core/timeutil.h"
#include "crypto/token.h"
#include "net/http.h"
#include "store/store.h"
#include "support/testsrv.h"
#include "support/testutil.h"

#define CONC 32
#define HOOK_SECRET "bench-hook-secret-0123456789abcdef"

static const char *bin;
static char wfdir[600];
static char auth_header[100]; /* "Authorization: Bearer ..." once a token is in use, else "" */

struct server {
    struct tu_proc p;
    char base[128];
};

static void start_server(struct server *s, const char *db, int workers)
{
    char listen[64], url[200], w[16];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", tu_free_port());
    snprintf(s->base, sizeof s->base, "http://%s", listen);
    snprintf(w, sizeof w, "%d", workers);
    const char *argv[] = {bin, "serve", "--db", db, "--listen", listen, "--workflows", wfdir, "--workers", w, NULL};
    const char *env[] = {"IDFLOW_LOG_LEVEL=warn", NULL};
    if (tu_spawn(argv, env, &s->p)) {
        fprintf(stderr, "cannot start idflow\n");
        exit(1);
    }
    snprintf(url, sizeof url, "%s/readyz", s->base);
    if (tu_wait_http_ok(url, 600000)) {
        char *e = tu_proc_stderr(&s->p);
        fprintf(stderr, "idflow did not become ready:\n%s\n", e);
        exit(1);
    }
}

static void stop_server(struct server *s)
{
    tu_kill(&s->p, SIGTERM);
    tu_wait(&s->p, 30000);
    tu_proc_cleanup(&s->p);
}

/* ------------------------------------------------------------ load */

struct load {
    const char *url;
    const char *workflow; /* NULL: a webhook delivery of data itself */
    const char *data; /* JSON */
    int total;
    atomic_int next;
    atomic_int errors;
    int64_t *lat_us; /* per request */
};

static void *load_thread(void *arg)
{
    struct load *l = arg;
    struct http_client *c = NULL;
    const char *h[] = {"Content-Type: application/json", auth_header[0] ? auth_header : NULL, NULL, NULL};
    char body[1024], id[64];
    if (http_client_new(&c))
        return NULL;
    for (;;) {
        int i = atomic_fetch_add(&l->next, 1);
        struct http_request rq;
        struct http_response rs;
        struct idf_err err;
        int64_t t0;
        if (i >= l->total)
            break;
        if (l->workflow) {
            snprintf(body, sizeof body, "{\"workflow\":\"%s\",\"data\":%s}", l->workflow, l->data);
        } else {
            snprintf(body, sizeof body, "%s", l->data);
            snprintf(id, sizeof id, "X-Idflow-Event-Id: bench-%d", i);
            h[1] = "Authorization: Bearer " HOOK_SECRET;
            h[2] = id;
        }
        memset(&rq, 0, sizeof rq);
        rq.method = "POST";
        rq.url = l->url;
        rq.headers = h;
        rq.body = body;
        rq.body_len = strlen(body);
        rq.timeout_ms = 60000;
        t0 = time_mono_ns();
        if (http_client_do(c, &rq, &rs, &err) || rs.status != (l->workflow ? 202 : 200))
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

/* Posts `total` events at concurrency CONC (workflow NULL: to the webhook
 * /hooks/webhook/bench, data as the body); returns elapsed seconds. */
static double post_events(const char *base, const char *workflow, const char *data, int total, double *p99_ms)
{
    pthread_t t[CONC];
    char url[200];
    struct load l;
    int64_t t0;
    double secs;
    snprintf(url, sizeof url, workflow ? "%s/api/v1/events" : "%s/hooks/webhook/bench", base);
    memset(&l, 0, sizeof l);
    l.url = url;
    l.workflow = workflow;
    l.data = data;
    l.total = total;
    l.lat_us = calloc((size_t)total, sizeof(int64_t));
    t0 = time_mono_ns();
    for (int i = 0; i < CONC; i++)
        pthread_create(&t[i], NULL, load_thread, &l);
    for (int i = 0; i < CONC; i++)
        pthread_join(t[i], NULL);
    secs = (double)(time_mono_ns() - t0) / 1e9;
    if (atomic_load(&l.errors))
        fprintf(stderr, "warning: %d requests failed\n", atomic_load(&l.errors));
    qsort(l.lat_us, (size_t)total, sizeof(int64_t), cmp64);
    if (p99_ms)
        *p99_ms = (double)l.lat_us[(size_t)total * 99 / 100] / 1000.0;
    free(l.lat_us);
    return secs;
}

/* Creates the webhook connection "bench" (bearer HOOK_SECRET) in db with the binary under test. */
static void connect_webhook(const char *db, const char *dir)
{
    char secret[600];
    struct tu_proc p;
    snprintf(secret, sizeof secret, "%s/hook-secret", dir);
    if (tu_write_file(secret, HOOK_SECRET) || chmod(secret, 0600)) {
        fprintf(stderr, "cannot write %s\n", secret);
        exit(1);
    }
    const char *argv[] = {bin, "connect", "webhook", "bench", "--secret-file", secret, "--db", db, NULL};
    if (tu_spawn(argv, NULL, &p) || tu_wait(&p, 60000) != 0) {
        char *e = tu_proc_stderr(&p);
        fprintf(stderr, "idflow connect webhook failed:\n%s\n", e);
        exit(1);
    }
    tu_proc_cleanup(&p);
}

/* Makes an operator token in db with the binary under test (so a build
 * older than this bench's store code can be measured) and puts it in
 * auth_header. */
static void use_token(const char *db)
{
    char tok[200];
    if (tu_idflow_token(bin, db, "bench", "operator", tok, sizeof tok)) {
        fprintf(stderr, "cannot create a token with %s\n", bin);
        exit(1);
    }
    snprintf(auth_header, sizeof auth_header, "Authorization: Bearer %s", tok);
}

static long metric(const char *base, const char *name)
{
    return bench_metric(base, auth_header[0] ? auth_header : NULL, name);
}

static void wait_metric(const char *base, const char *name, long want, int timeout_s)
{
    int64_t deadline = tu_now_ms() + timeout_s * 1000LL;
    while (metric(base, name) < want) {
        if (tu_now_ms() > deadline) {
            fprintf(stderr, "timed out waiting for %s >= %ld (at %ld)\n", name, want, metric(base, name));
            exit(1);
        }
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static bool answer_fast(void *ud, const struct http_req *req, struct http_resp *resp)
{
    (void)ud;
    (void)req;
    http_resp_json(resp, 200, json_pack("{s:b}", "ok", 1));
    return true;
}

/* Completed runs per second for workflow wf (N runs). */
static double runs_per_sec(const char *db, const char *wf, int n, struct testsrv *target)
{
    struct server s;
    char data[300];
    int64_t t0;
    double secs;
    start_server(&s, db, 4);
    snprintf(data, sizeof data, "{\"base\":\"%s\"}", testsrv_url(target));
    t0 = time_mono_ns();
    post_events(s.base, wf, data, n, NULL);
    wait_metric(s.base, "idflow_runs_finished_total{status=\"succeeded\"} ", n, 3600);
    secs = (double)(time_mono_ns() - t0) / 1e9;
    stop_server(&s);
    return n / secs;
}

/* Writes `count` finished runs of bench-one into db through the store API. */
static void fill_history(const char *db, long count)
{
    struct store *st = NULL;
    struct idf_err err;
    long done = 0;
    int64_t t0 = time_mono_ns();
    if (store_open(db, &st, &err)) {
        fprintf(stderr, "store: %s\n", err.msg);
        exit(1);
    }
    {
        int64_t v;
        bool created;
        char *src = tu_read_file("bench/workflows/bench-one.yaml", NULL);
        if (!src || store_workflow_save(st, "bench-one", src, "history-version", &v, &created, &err)) {
            fprintf(stderr, "cannot save workflow: %s\n", err.msg);
            exit(1);
        }
        free(src);
    }
    while (done < count) {
        enum { B = 1000 };
        static struct store_ingest_item items[B];
        static int64_t ids[B];
        static struct store_run *claimed[B];
        struct store_run_in rin = {"bench-one", 1};
        size_t n = 0;
        memset(items, 0, sizeof items);
        for (int i = 0; i < B; i++) {
            items[i].event.source = "bench";
            items[i].event.type = "manual";
            items[i].event.data = "{\"data\":{}}";
            items[i].runs = &rin;
            items[i].n_runs = 1;
            items[i].run_ids = &ids[i];
        }
        if (store_ingest(st, items, B, &err)) {
            fprintf(stderr, "store: %s\n", err.msg);
            exit(1);
        }
        /* the store caps one claim; claim until this batch is all finished */
        for (size_t got = 0; got < B; got += n) {
            if (store_run_claim(st, "history", time_now_ms(), 600000, B, NULL, 0, claimed, &n, &err) || n == 0) {
                fprintf(stderr, "store: cannot claim the history runs: %s\n", err.msg);
                exit(1);
            }
            for (size_t i = 0; i < n; i++) {
                struct store_run_next next = {STORE_RUN_SUCCEEDED, 1, 0, 0, "{}", 0, NULL, NULL, NULL};
                struct store_step_rec rec = {
                    0,    "call",        -1,           STORE_STEP_SUCCEEDED, 1, "{}", "{\"status\":200}",
                    NULL, time_now_ms(), time_now_ms()};
                if (store_step_commit(st, claimed[i]->id, "history", time_now_ms(), &rec, &next, &err)) {
                    fprintf(stderr, "store: %s\n", err.msg);
                    exit(1);
                }
                store_run_free(claimed[i]);
            }
        }
        done += B;
    }
    fprintf(stderr, "(history of %ld finished runs written in %.0f s)\n", count, (double)(time_mono_ns() - t0) / 1e9);
    store_close(st);
}

/* Sum of the peak resident memory of pid's children (the expression
 * evaluators of `idflow serve`), and how many there are. */
static long children_rss_kb(pid_t pid, int *n_out)
{
    char path[64];
    long kb = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    *n_out = 0;
    while (d && (de = readdir(d)) != NULL) {
        char *s, *p;
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/status", de->d_name);
        s = tu_read_file(path, NULL);
        if (!s)
            continue;
        p = strstr(s, "PPid:");
        if (p && atol(p + 5) == (long)pid && (p = strstr(s, "VmHWM:")) != NULL) {
            kb += atol(p + 6);
            (*n_out)++;
        }
        free(s);
    }
    if (d)
        closedir(d);
    return kb;
}

static long peak_rss_kb(pid_t pid)
{
    char path[64], *s, *p;
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    s = tu_read_file(path, NULL);
    if (!s)
        return -1;
    p = strstr(s, "VmHWM:");
    if (p)
        kb = atol(p + 6);
    free(s);
    return kb;
}

int main(void)
{
    struct testsrv *target;
    char *dir;
    char db[400];
    int n_runs = getenv("BENCH_RUNS") ? atoi(getenv("BENCH_RUNS")) : 20000;
    long history = getenv("BENCH_HISTORY") ? atol(getenv("BENCH_HISTORY")) : 1000000;
    int queued = getenv("BENCH_QUEUED") ? atoi(getenv("BENCH_QUEUED")) : 100000;
    double one, three, one_h, three_h;

    setvbuf(stdout, NULL, _IOLBF, 0); /* each figure as soon as it is measured */
    bin = getenv("IDFLOW_BIN");
    if (!bin) {
        fprintf(stderr, "set IDFLOW_BIN (make bench does)\n");
        return 2;
    }
    snprintf(wfdir, sizeof wfdir, "bench/workflows");
    target = testsrv_start();
    testsrv_set_handler(target, answer_fast, NULL);
    dir = tu_mktemp_dir();

    /* 1. acknowledgements */
    if (!getenv("BENCH_SKIP_ACKS")) {
        struct server s;
        double secs, p99;
        int n = n_runs * 2;
        snprintf(db, sizeof db, "sqlite:%s/acks.db", dir);
        start_server(&s, db, 4);
        secs = post_events(s.base, "bench-noop", "{\"start\":false}", n, &p99);
        printf("acks/s (concurrency %d, durable, no run started): %.0f  (p99 %.2f ms)\n", CONC, n / secs, p99);
        stop_server(&s);
        snprintf(db, sizeof db, "sqlite:%s/acks-token.db", dir);
        use_token(db);
        start_server(&s, db, 4);
        secs = post_events(s.base, "bench-noop", "{\"start\":false}", n, &p99);
        printf("acks/s with an operator token on each request: %.0f  (p99 %.2f ms)\n", n / secs, p99);
        stop_server(&s);
        auth_header[0] = '\0';
        /* hook deliveries (generic webhook, bearer secret): matched after the answer */
        snprintf(db, sizeof db, "sqlite:%s/acks-hook.db", dir);
        connect_webhook(db, dir);
        start_server(&s, db, 4);
        secs = post_events(s.base, NULL, "{\"start\":false}", n, &p99);
        printf("hook acks/s (webhook deliveries, durable, no run started): %.0f  (p99 %.2f ms)\n", n / secs, p99);
        stop_server(&s);
        if (getenv("BENCH_ACKS_ONLY"))
            return 0;
    }
    /* 2. runs */
    snprintf(db, sizeof db, "sqlite:%s/runs1.db", dir);
    one = runs_per_sec(db, "bench-one", n_runs, target);
    printf("one-step runs/s (loopback HTTP step): %.0f\n", one);
    snprintf(db, sizeof db, "sqlite:%s/runs1jq.db", dir);
    printf("one-step runs/s, the step's parameter a jq expression, not a plain path: %.0f\n",
           runs_per_sec(db, "bench-one-jq", n_runs, target));
    snprintf(db, sizeof db, "sqlite:%s/runs3.db", dir);
    three = runs_per_sec(db, "bench-three", n_runs / 2, target);
    printf("three-step runs/s (loopback HTTP steps): %.0f\n", three);
    if (getenv("BENCH_QUICK"))
        return 0;

    /* 3. with a large history */
    snprintf(db, sizeof db, "sqlite:%s/history.db", dir);
    fill_history(db, history);
    one_h = runs_per_sec(db, "bench-one", n_runs, target);
    three_h = runs_per_sec(db, "bench-three", n_runs / 2, target);
    printf("with %ld finished runs in the history: one-step %.0f runs/s (%+.1f%%), three-step %.0f runs/s (%+.1f%%)\n",
           history, one_h, (one_h / one - 1) * 100, three_h, (three_h / three - 1) * 100);

    /* 4. memory with queued runs */
    {
        struct server s;
        char data[300];
        snprintf(db, sizeof db, "sqlite:%s/queued.db", dir);
        start_server(&s, db, 4);
        snprintf(data, sizeof data, "{}");
        post_events(s.base, "bench-wait", data, queued, NULL);
        wait_metric(s.base, "idflow_runs{status=\"waiting\"} ", queued, 3600);
        {
            int n_eval = 0;
            long eval_kb = children_rss_kb(s.p.pid, &n_eval);
            printf("peak resident memory with %d runs queued then waiting: %.1f MB (+ %d expression evaluator(s): "
                   "%.1f MB)\n",
                   queued, peak_rss_kb(s.p.pid) / 1024.0, n_eval, eval_kb / 1024.0);
        }
        stop_server(&s);
    }
    testsrv_stop(target);
    tu_rm_rf(dir);
    free(dir);
    return 0;
}

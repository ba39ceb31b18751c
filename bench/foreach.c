/* bench/foreach.c — what one large `foreach` costs: one run of
 * bench/workflows/bench-foreach.yaml (a foreach over N users, each a loopback
 * HTTP call, then a step reporting how many outputs the foreach produced)
 * on a fresh SQLite database, for each N of BENCH_FOREACH (default
 * "1000,10000,50000").
 *
 * For each N it prints the wall time from the event's acknowledgement to the
 * run's success, and the bytes `idflow serve` passed to write(2) meanwhile
 * (wchar of /proc/PID/io: SQLite's WAL appends and checkpoints; the HTTP
 * traffic goes through send(2) and is not counted), in total and per item,
 * and the size of the database and its WAL at the end. A run that does not
 * finish within BENCH_FOREACH_TIMEOUT seconds (default 3600) is reported with
 * the items it had done. BENCH_FOREACH_LIST=1 runs bench-foreach-list.yaml
 * instead: the items come from a previous step's output (a loopback call
 * answering N users), so the list is also part of the run's context.
 * Env: IDFLOW_BIN (set by make bench). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hookload.h"
#include "core/timeutil.h"
#include "support/testsrv.h"
#include "support/testutil.h"

#define BENCH_WORKERS "2"
#define BENCH_POLL_MS 20

static const char *bin;
static const char *workflow = "bench-foreach";

static bool answer_fast(void *ud, const struct http_req *req, struct http_resp *resp)
{
    (void)ud;
    if (strcmp(req->path, "/list") == 0) { /* n users, as a group-members listing would give */
        const char *nq = http_req_query(req, "n");
        int n = nq ? atoi(nq) : 0;
        json_t *arr = json_array();
        for (int i = 0; i < n; i++) {
            char id[32], login[64];
            snprintf(id, sizeof id, "00u%d", i);
            snprintf(login, sizeof login, "user%d@bench.example", i);
            json_array_append_new(arr, json_pack("{s:s,s:s}", "id", id, "login", login));
        }
        http_resp_json(resp, 200, arr);
        return true;
    }
    http_resp_json(resp, 200, json_pack("{s:b}", "ok", 1));
    return true;
}

/* A counter of /proc/PID/io ("wchar: "), or -1. */
static long long proc_io(pid_t pid, const char *field)
{
    char path[64], *s, *p;
    long long v = -1;
    snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
    s = tu_read_file(path, NULL);
    if (!s)
        return -1;
    p = strstr(s, field);
    if (p)
        v = atoll(p + strlen(field));
    free(s);
    return v;
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* A counter line of /metrics ("name value"), or -1. */
static long metric(const char *base, const char *name)
{
    return bench_metric(base, NULL, name);
}

static int bench_one(struct testsrv *target, int n, int timeout_s)
{
    char *dir = tu_mktemp_dir();
    char db[400], dbfile[400], wal[400], listen[64], base[128], url[200], body[600], *resp = NULL;
    struct tu_proc p;
    long status = 0;
    long long w0, w1;
    int64_t t0, deadline;
    double secs;
    int rc = 1;
    const char *env[] = {"IDFLOW_LOG_LEVEL=warn", NULL};

    snprintf(dbfile, sizeof dbfile, "%s/foreach.db", dir);
    snprintf(wal, sizeof wal, "%s/foreach.db-wal", dir);
    snprintf(db, sizeof db, "sqlite:%s", dbfile);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", tu_free_port());
    snprintf(base, sizeof base, "http://%s", listen);
    {
        const char *argv[] = {bin,         "serve",       "--db",        db,
                              "--listen",  listen,        "--workflows", "bench/workflows",
                              "--workers", BENCH_WORKERS, NULL};
        if (tu_spawn(argv, env, &p)) {
            fprintf(stderr, "cannot start idflow\n");
            exit(1);
        }
    }
    snprintf(url, sizeof url, "%s/readyz", base);
    if (tu_wait_http_ok(url, 60000)) {
        char *e = tu_proc_stderr(&p);
        fprintf(stderr, "idflow did not become ready:\n%s\n", e);
        exit(1);
    }
    testsrv_reset(target);
    w0 = proc_io(p.pid, "wchar: ");
    snprintf(url, sizeof url, "%s/api/v1/events", base);
    snprintf(body, sizeof body, "{\"workflow\":\"%s\",\"data\":{\"base\":\"%s\",\"n\":%d}}", workflow,
             testsrv_url(target), n);
    t0 = time_mono_ns();
    if (tu_http("POST", url, body, NULL, &status, &resp) || status != 202) {
        fprintf(stderr, "event refused (%ld): %s\n", status, resp ? resp : "");
        goto out;
    }
    deadline = tu_now_ms() + (int64_t)timeout_s * 1000;
    for (;;) {
        struct timespec ts = {0, BENCH_POLL_MS * 1000000L};
        if (metric(base, "idflow_runs_finished_total{status=\"succeeded\"} ") >= 1)
            break;
        if (metric(base, "idflow_runs_finished_total{status=\"failed\"} ") >= 1) {
            char *e = tu_proc_stderr(&p);
            printf("foreach over %6d items: the run FAILED after %d items (%.1f s)\n%s", n,
                   testsrv_calls(target, "/suspend"), (double)(time_mono_ns() - t0) / 1e9, e);
            free(e);
            goto out;
        }
        if (tu_now_ms() > deadline) {
            int done = testsrv_calls(target, "/suspend");
            w1 = proc_io(p.pid, "wchar: ");
            printf("foreach over %6d items: NOT FINISHED after %d s: %d items done, %.1f MB written "
                   "(%.0f bytes/item so far)\n",
                   n, timeout_s, done, (double)(w1 - w0) / 1e6, done ? (double)(w1 - w0) / done : 0.0);
            goto out;
        }
        nanosleep(&ts, NULL);
    }
    secs = (double)(time_mono_ns() - t0) / 1e9;
    w1 = proc_io(p.pid, "wchar: ");
    {
        json_t *req = testsrv_request(target, "/report", -1);
        const char *q = req ? json_string_value(json_object_get(req, "query")) : NULL;
        char want[64];
        snprintf(want, sizeof want, "count=%d", n);
        if (!q || !strstr(q, want))
            fprintf(stderr, "warning: the report step saw %s, expected %s\n", q ? q : "nothing", want);
        json_decref(req);
    }
    printf("foreach over %6d items: %8.2f s  %7.0f us/item  %10.1f MB written  %8.0f bytes/item  "
           "(database %.1f MB + WAL %.1f MB)\n",
           n, secs, secs * 1e6 / n, (double)(w1 - w0) / 1e6, (double)(w1 - w0) / n, file_size(dbfile) / 1e6,
           file_size(wal) / 1e6);
    fflush(stdout);
    rc = 0;
out:
    free(resp);
    tu_kill(&p, SIGTERM);
    tu_wait(&p, 60000);
    tu_proc_cleanup(&p);
    tu_rm_rf(dir);
    free(dir);
    return rc;
}

int main(void)
{
    const char *list = getenv("BENCH_FOREACH") ? getenv("BENCH_FOREACH") : "1000,10000,50000";
    int timeout_s = getenv("BENCH_FOREACH_TIMEOUT") ? atoi(getenv("BENCH_FOREACH_TIMEOUT")) : 3600;
    struct testsrv *target;
    char *copy, *tok, *save = NULL;
    int rc = 0;

    bin = getenv("IDFLOW_BIN");
    if (getenv("BENCH_FOREACH_LIST") && atoi(getenv("BENCH_FOREACH_LIST")))
        workflow = "bench-foreach-list";
    printf("workflow %s\n", workflow);
    if (!bin) {
        fprintf(stderr, "set IDFLOW_BIN (make bench does)\n");
        return 2;
    }
    target = testsrv_start();
    testsrv_set_handler(target, answer_fast, NULL);
    copy = strdup(list);
    for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        int n = atoi(tok);
        if (n > 0 && bench_one(target, n, timeout_s))
            rc = 1;
    }
    free(copy);
    testsrv_stop(target);
    return rc;
}

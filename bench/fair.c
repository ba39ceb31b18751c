/* bench/fair.c — fair queues (issue 20): how long a run of one workflow
 * waits behind a backlog of another.
 *
 * Each round: a fresh SQLite database holding BENCH_FAIR_BACKLOG (default
 * 20,000) queued runs of workflow "a-bulk", whose one step calls a loopback
 * server that answers after BENCH_FAIR_DELAY_MS (default 5); `idflow serve`
 * (4 workers) starts on it and begins draining; once it answers /readyz, one
 * event for workflow "b-lockout" (one fast step) is posted through
 * POST /api/v1/events, and the bench waits until that run has finished.
 * Printed per round and as the median of BENCH_FAIR_ROUNDS (default 3):
 *  - b's wait: the run's finished_at - created_at (the server's clock: from
 *    the event's durable commit to the run's last commit);
 *  - the wall time from the POST to the bench seeing the run finished;
 *  - how many runs of a-bulk had finished by then (today's oldest-first
 *    claim makes b wait for all of them).
 * The backlog is written straight into the store before serve starts (the
 * bench links the store), so every round starts from the same queue. Env:
 * IDFLOW_BIN (set by make bench: the binary measured; an older build may be
 * measured the same way, the schema being the same), BENCH_FAIR_BACKLOG,
 * BENCH_FAIR_DELAY_MS, BENCH_FAIR_ROUNDS. */
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"
#include "core/timeutil.h"
#include "store/store.h"
#include "support/testsrv.h"
#include "support/testutil.h"

#define WORKERS "4"
#define WAIT_MAX_MS 600000 /* give up on a round after 10 minutes */

static const char *bin;

/* Writes backlog queued runs of a-bulk (version 1, source a_yaml) into db. */
static void fill_backlog(const char *db, const char *a_yaml, int backlog)
{
    enum { B = 1000 };
    static struct store_ingest_item items[B];
    static int64_t ids[B];
    struct store_run_in rin = {"a-bulk", 1};
    struct store *st = NULL;
    struct idf_err err;
    int64_t v;
    bool created;

    if (store_open(db, &st, &err) || store_workflow_save(st, "a-bulk", a_yaml, "bench-fair", &v, &created, &err)) {
        fprintf(stderr, "store: %s\n", err.msg);
        exit(1);
    }
    for (int done = 0; done < backlog; done += B) {
        int n = backlog - done < B ? backlog - done : B;
        memset(items, 0, sizeof items);
        for (int i = 0; i < n; i++) {
            items[i].event.source = "bench";
            items[i].event.type = "manual";
            items[i].event.data = "{\"data\":{}}";
            items[i].runs = &rin;
            items[i].n_runs = 1;
            items[i].run_ids = &ids[i];
        }
        if (store_ingest(st, items, (size_t)n, &err)) {
            fprintf(stderr, "store: %s\n", err.msg);
            exit(1);
        }
    }
    store_close(st);
}

/* GET url as JSON (caller decrefs), or NULL. */
static json_t *get_json(const char *url)
{
    char *resp = NULL;
    long status = 0;
    json_t *j = NULL;
    if (tu_http("GET", url, NULL, NULL, &status, &resp) == 0 && status == 200)
        j = json_loads(resp, 0, NULL);
    free(resp);
    return j;
}

/* One round; *wait_ms: b's finished_at - created_at, *wall_ms: POST to seen
 * finished, *a_done: a-bulk runs finished by then. */
static void round_once(const char *dir, const char *a_yaml, int backlog, double *wait_ms, double *wall_ms, long *a_done)
{
    char db[700], listen[64], base[128], url[300], *resp = NULL;
    struct tu_proc p;
    long status = 0;
    json_t *j;
    int64_t run = 0, t0;

    snprintf(db, sizeof db, "sqlite:%s/fair-%lld.db", dir, (long long)time_now_ms());
    fill_backlog(db, a_yaml, backlog);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", tu_free_port());
    snprintf(base, sizeof base, "http://%s", listen);
    {
        char wf[700];
        snprintf(wf, sizeof wf, "%s/workflows", dir);
        const char *argv[] = {bin,           "serve", "--db",      db,      "--listen", listen,
                              "--workflows", wf,      "--workers", WORKERS, NULL};
        const char *env[] = {"IDFLOW_LOG_LEVEL=warn", NULL};
        if (tu_spawn(argv, env, &p)) {
            fprintf(stderr, "cannot start idflow\n");
            exit(1);
        }
    }
    snprintf(url, sizeof url, "%s/readyz", base);
    if (tu_wait_http_ok(url, 60000)) {
        fprintf(stderr, "idflow did not become ready:\n%s\n", tu_proc_stderr(&p));
        exit(1);
    }
    snprintf(url, sizeof url, "%s/api/v1/events", base);
    t0 = time_mono_ns();
    if (tu_http("POST", url, "{\"workflow\":\"b-lockout\",\"data\":{}}", NULL, &status, &resp) || status != 202 ||
        !(j = json_loads(resp, 0, NULL))) {
        fprintf(stderr, "cannot post the event of b-lockout (%ld): %s\n", status, resp ? resp : "");
        exit(1);
    }
    run = (int64_t)json_integer_value(json_array_get(json_object_get(j, "run_ids"), 0));
    json_decref(j);
    free(resp);
    snprintf(url, sizeof url, "%s/api/v1/runs/%lld", base, (long long)run);
    for (;;) {
        json_t *r = get_json(url);
        json_t *o = r ? json_object_get(r, "run") : NULL;
        const char *st;
        if (!o)
            o = r;
        st = json_string_value(json_object_get(o, "status"));
        if (st && (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0)) {
            *wall_ms = (double)(time_mono_ns() - t0) / 1e6;
            *wait_ms = (double)(json_integer_value(json_object_get(o, "finished_at")) -
                                json_integer_value(json_object_get(o, "created_at")));
            if (strcmp(st, "succeeded") != 0)
                fprintf(stderr, "warning: the run of b-lockout %s\n", st);
            json_decref(r);
            break;
        }
        json_decref(r);
        if ((time_mono_ns() - t0) / 1000000 > WAIT_MAX_MS) {
            fprintf(stderr, "the run of b-lockout did not finish within %d s\n", WAIT_MAX_MS / 1000);
            exit(1);
        }
        nanosleep(&(struct timespec){0, 2000000}, NULL); /* poll every 2 ms */
    }
    snprintf(url, sizeof url, "%s/api/v1/runs?workflow=a-bulk&status=succeeded&limit=1", base);
    {
        json_t *r = get_json(url);
        json_t *t = r ? json_object_get(r, "total") : NULL;
        *a_done = t ? (long)json_integer_value(t) : -1;
        json_decref(r);
    }
    tu_kill(&p, SIGTERM);
    tu_wait(&p, 60000);
    tu_proc_cleanup(&p);
}

int main(void)
{
    const int backlog = bench_env_int("BENCH_FAIR_BACKLOG", 20000, 1, 1000000);
    const int delay = bench_env_int("BENCH_FAIR_DELAY_MS", 5, 0, 1000);
    const int rounds = bench_env_int("BENCH_FAIR_ROUNDS", 3, 1, 15);
    struct testsrv *target;
    char *dir, wf[700], path[800], a_yaml[1024], b_yaml[1024];
    double waits[15], walls[15];

    bin = getenv("IDFLOW_BIN") ? getenv("IDFLOW_BIN") : "build/idflow";
    target = testsrv_start();
    testsrv_on(target, "/slow", &(struct testsrv_answer){200, "{}", .delay_ms = delay}, -1);
    testsrv_on(target, "/fast", &(struct testsrv_answer){200, "{}"}, -1);
    dir = tu_mktemp_dir();
    if (!dir)
        return 1;
    snprintf(wf, sizeof wf, "%s/workflows", dir);
    if (mkdir(wf, 0700) != 0) {
        fprintf(stderr, "cannot make %s\n", wf);
        return 1;
    }
    snprintf(a_yaml, sizeof a_yaml,
             "name: a-bulk\non: manual\nallow_private_network: true\n"
             "steps:\n  - id: slow\n    do: http.request\n    with:\n      url: \"%s/slow\"\n",
             testsrv_url(target));
    snprintf(b_yaml, sizeof b_yaml,
             "name: b-lockout\non: manual\nallow_private_network: true\n"
             "steps:\n  - id: fast\n    do: http.request\n    with:\n      url: \"%s/fast\"\n",
             testsrv_url(target));
    snprintf(path, sizeof path, "%s/a-bulk.yaml", wf);
    if (tu_write_file(path, a_yaml))
        return 1;
    snprintf(path, sizeof path, "%s/b-lockout.yaml", wf);
    if (tu_write_file(path, b_yaml))
        return 1;

    printf("fair queues: one run of b-lockout behind %d queued runs of a-bulk (a step of %d ms), %s workers,\n"
           "  SQLite, %s\n",
           backlog, delay, WORKERS, bin);
    for (int r = 0; r < rounds; r++) {
        long a_done = 0;
        round_once(dir, a_yaml, backlog, &waits[r], &walls[r], &a_done);
        printf("  round %d: b's run finished %.0f ms after its event (seen %.0f ms after the POST); "
               "%ld runs of a-bulk had finished\n",
               r + 1, waits[r], walls[r], a_done);
        fflush(stdout);
    }
    printf("b's wait behind the backlog, median of %d: %.0f ms (event committed -> run finished); "
           "%.0f ms POST -> seen finished\n",
           rounds, bench_median(waits, rounds), bench_median(walls, rounds));
    tu_rm_rf(dir);
    free(dir);
    testsrv_stop(target);
    return 0;
}

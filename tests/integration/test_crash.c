/* test_crash.c — `kill -9` of idflow serve while hundreds of runs are in
 * flight, then a restart on the same database:
 *  - every acknowledged event has its run, and every run finishes;
 *  - no step whose result was recorded before the kill is called again
 *    (counted on the loopback server, per run and step);
 *  - steps that were in flight at the kill are the only ones called twice,
 *    and there are at most as many as workers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/testsrv.h"
#include "support/testutil.h"

#define N_EVENTS 300
#define WORKERS 4
#define N_STEPS 3

static const char *bin, *src;
static char dir_db[400], listen_addr[64], base[128], wfdir[600];
static struct testsrv *target;

/* calls[run][step] counted by the handler; runs are numbered from 1 */
static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static int calls[N_EVENTS + 2][N_STEPS];

static bool count_call(void *ud, const struct http_req *req, struct http_resp *resp)
{
    const char *run = http_req_query(req, "run");
    int step = -1;
    long id = run ? atol(run) : 0;
    (void)ud;
    if (!strcmp(req->path, "/crash/a"))
        step = 0;
    else if (!strcmp(req->path, "/crash/b"))
        step = 1;
    else if (!strcmp(req->path, "/crash/c"))
        step = 2;
    if (step >= 0 && id > 0 && id <= N_EVENTS + 1) {
        pthread_mutex_lock(&calls_lock);
        calls[id][step]++;
        pthread_mutex_unlock(&calls_lock);
    }
    resp->delay_ms = 20; /* keep runs in flight long enough to be caught by the kill */
    http_resp_json(resp, 200, json_pack("{s:b}", "ok", 1));
    return true;
}

static int spawn_serve(struct tu_proc *p)
{
    const char *argv[] = {bin, "serve", "--db", dir_db, "--listen", listen_addr, "--workflows", wfdir,
                          "--workers", "4", "--node-id", "crash-node", NULL};
    char url[200];
    if (tu_spawn(argv, NULL, p))
        return -1;
    snprintf(url, sizeof url, "%s/readyz", base);
    return tu_wait_http_ok(url, 15000);
}

static json_t *show_run(long id)
{
    char ids[32], *out;
    struct tu_proc p;
    json_t *r;
    const char *argv[] = {bin, "show", ids, "--json", "--db", dir_db, NULL};
    snprintf(ids, sizeof ids, "%ld", id);
    assert_int_equal(tu_spawn(argv, NULL, &p), 0);
    assert_int_equal(tu_wait(&p, 10000), 0);
    out = tu_proc_stdout(&p);
    tu_proc_cleanup(&p);
    r = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(r);
    return r;
}

static void kill_9_then_restart_loses_nothing_and_repeats_nothing(void **state)
{
    struct tu_proc serve;
    char *dir = tu_mktemp_dir();
    long run_ids[N_EVENTS];
    int recorded[N_EVENTS + 2][N_STEPS];
    int calls_at_kill[N_EVENTS + 2][N_STEPS];
    int in_flight_repeats = 0;
    (void)state;

    bin = getenv("IDFLOW_BIN");
    src = getenv("IDFLOW_SRC");
    assert_non_null(bin);
    assert_non_null(src);
    target = testsrv_start();
    testsrv_set_handler(target, count_call, NULL);
    snprintf(dir_db, sizeof dir_db, "sqlite:%s/idflow.db", dir);
    snprintf(listen_addr, sizeof listen_addr, "127.0.0.1:%d", tu_free_port());
    snprintf(base, sizeof base, "http://%s", listen_addr);
    snprintf(wfdir, sizeof wfdir, "%s/tests/data/serve", src);
    assert_int_equal(spawn_serve(&serve), 0);

    /* acknowledge N events: each 202 promises a durable run */
    for (int i = 0; i < N_EVENTS; i++) {
        char url[200], body[400], *resp = NULL;
        long status = 0;
        json_t *a;
        snprintf(url, sizeof url, "%s/api/v1/events", base);
        snprintf(body, sizeof body, "{\"workflow\":\"crash\",\"id\":\"e%d\",\"data\":{\"base\":\"%s\"}}", i,
                 testsrv_url(target));
        assert_int_equal(tu_http("POST", url, body, NULL, &status, &resp), 0);
        assert_int_equal(status, 202);
        a = json_loads(resp, 0, NULL);
        free(resp);
        run_ids[i] = (long)json_integer_value(json_array_get(json_object_get(a, "run_ids"), 0));
        assert_true(run_ids[i] > 0 && run_ids[i] <= N_EVENTS + 1);
        json_decref(a);
    }
    /* kill once a good part of the work is done, with runs still in flight */
    assert_int_equal(testsrv_wait_calls(target, NULL, N_EVENTS, 30000), 0);
    tu_kill(&serve, SIGKILL);
    assert_int_equal(tu_wait(&serve, 10000), 128 + SIGKILL);
    tu_proc_cleanup(&serve);
    pthread_mutex_lock(&calls_lock);
    memcpy(calls_at_kill, calls, sizeof calls);
    pthread_mutex_unlock(&calls_lock);
    assert_true(testsrv_calls(target, NULL) < N_EVENTS * N_STEPS); /* the kill really interrupted work */

    /* what the store recorded as done at the kill */
    memset(recorded, 0, sizeof recorded);
    for (int i = 0; i < N_EVENTS; i++) {
        json_t *r = show_run(run_ids[i]), *s;
        size_t k;
        json_array_foreach(json_object_get(r, "steps"), k, s)
        {
            int idx = (int)json_integer_value(json_object_get(s, "index"));
            if (!strcmp(json_string_value(json_object_get(s, "status")), "succeeded") && idx >= 0 && idx < N_STEPS)
                recorded[run_ids[i]][idx] = 1;
        }
        json_decref(r);
    }

    /* restart: every run finishes */
    assert_int_equal(spawn_serve(&serve), 0);
    {
        int64_t deadline = tu_now_ms() + 60000;
        for (;;) {
            char url[200], *resp = NULL;
            long status = 0;
            json_t *r;
            size_t n;
            snprintf(url, sizeof url, "%s/api/v1/runs?status=succeeded&limit=1000", base);
            assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
            r = json_loads(resp, 0, NULL);
            free(resp);
            n = json_array_size(json_object_get(r, "runs"));
            json_decref(r);
            if (n == N_EVENTS)
                break;
            assert_true(tu_now_ms() < deadline);
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    tu_kill(&serve, SIGTERM);
    assert_int_equal(tu_wait(&serve, 10000), 0); /* a clean shutdown (and no sanitizer report) */
    tu_proc_cleanup(&serve);

    pthread_mutex_lock(&calls_lock);
    for (int i = 0; i < N_EVENTS; i++) {
        long id = run_ids[i];
        for (int s = 0; s < N_STEPS; s++) {
            assert_true(calls[id][s] >= 1);
            if (recorded[id][s])
                assert_int_equal(calls[id][s], calls_at_kill[id][s]); /* recorded: never called again */
            if (calls[id][s] > 1)
                in_flight_repeats += calls[id][s] - 1;
        }
    }
    pthread_mutex_unlock(&calls_lock);
    /* only a step in flight at the kill may run twice: one per worker at most */
    assert_true(in_flight_repeats <= WORKERS);
    testsrv_stop(target);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill_9_then_restart_loses_nothing_and_repeats_nothing),
    };
    return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}

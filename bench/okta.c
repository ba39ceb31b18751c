/* bench/okta.c — the Okta connector's own cost and its use of a rate budget.
 *
 *  1. CPU time per action call (the calling thread's user+system time:
 *     connector, rate limiter, JSON, curl) against an in-process sandbox with
 *     no latency and a budget too large to pace: okta.get_user (1 request),
 *     okta.suspend_user / okta.unsuspend_user (2 requests each),
 *     okta.add_to_group / okta.remove_from_group (4 requests each).
 *  2. The achieved share of a rate budget: suspending users from 8 threads
 *     that honour retry_after_ms as the engine's durable waits do, against a
 *     sandbox budget of BENCH_OKTA_BUDGET a minute per bucket (default 1200)
 *     for BENCH_OKTA_USERS users (default 300); zero 429s required.
 *  3. With BENCH_OKTA_LONG=1, the scenario: 2,000 users suspended at
 *     600 requests a minute (about 3.5 minutes).
 * Prints one line per figure. Exits 1 when a 429 was answered. */
#define OKTA_FIXTURE_NO_CMOCKA 1
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "integration/okta_fixture.h"
#include "support/testutil.h"

#define CPU_CALLS 1000
#define SHARE_THREADS 8

/* A seed of n ACTIVE users u00000@bench.example... and one group. */
static char *write_seed(const char *dir, int n)
{
    size_t cap = (size_t)n * 200 + 4096, len = 0;
    char *s = malloc(cap), *path = tu_path(dir, "seed.json");
    len += (size_t)snprintf(s + len, cap - len, "{\"okta\": {\"org\": {\"name\": \"bench\", \"apiTokenOwner\": "
                                                "\"u00000@bench.example\"}, \"users\": [");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len,
                                "%s{\"profile\": {\"login\": \"u%05d@bench.example\", \"email\": \"u%05d@bench.example\","
                                " \"firstName\": \"U\", \"lastName\": \"%d\"}}",
                                i ? "," : "", i, i, i);
    snprintf(s + len, cap - len, "], \"groups\": [{\"type\": \"OKTA_GROUP\", \"profile\": {\"name\": \"Bench\"}}]}}");
    if (tu_write_file(path, s) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    free(s);
    return path;
}

static void must(int rc, const struct conn_result *r, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", what, r->message);
        exit(1);
    }
}

/* ------------------------------------------------------------ CPU cost */

static void cpu_cost(const char *seed)
{
    struct sandbox_opts o = {.rate_limit = 100000000, .seed_path = seed};
    struct ofx *f = ofx_start_opts(o);
    struct conn_result r;
    struct {
        const char *name;
        int requests;
        int64_t cpu, wall;
    } m[3] = {{"get_user", 1, 0, 0}, {"suspend_user+unsuspend_user", 2, 0, 0},
              {"add_to_group+remove_from_group", 4, 0, 0}};

    for (int i = 0; i < 50; i++) { /* warm up: connection, caches */
        must(ofx_actf(f, "okta.get_user", 1, &r, "{\"user\": \"u%05d@bench.example\"}", i), &r, "get_user");
        res_clear(&r);
    }
    for (int k = 0; k < 3; k++) {
        int64_t c0 = bench_cpu_us(RUSAGE_THREAD), w0 = time_mono_ns();
        for (int i = 0; i < CPU_CALLS; i++) {
            int u = i % 100;
            if (k == 0) {
                must(ofx_actf(f, "okta.get_user", 1, &r, "{\"user\": \"u%05d@bench.example\"}", u), &r, "get_user");
            } else if (k == 1) {
                must(ofx_actf(f, i % 2 ? "okta.unsuspend_user" : "okta.suspend_user", 1, &r,
                              "{\"user\": \"u%05d@bench.example\"}", 100 + i / 2 % 100), &r, "suspend");
            } else {
                must(ofx_actf(f, i % 2 ? "okta.remove_from_group" : "okta.add_to_group", 1, &r,
                              "{\"user\": \"u%05d@bench.example\", \"group\": \"Bench\"}", 200 + i / 2 % 100), &r,
                     "group");
            }
            res_clear(&r);
        }
        m[k].cpu = bench_cpu_us(RUSAGE_THREAD) - c0;
        m[k].wall = (time_mono_ns() - w0) / 1000;
    }
    for (int k = 0; k < 3; k++)
        printf("okta cpu per action, %-32s %6.1f us CPU (%5.1f us per request), %6.1f us wall, %d requests each\n",
               m[k].name, (double)m[k].cpu / CPU_CALLS, (double)m[k].cpu / CPU_CALLS / m[k].requests,
               (double)m[k].wall / CPU_CALLS, m[k].requests);
    if (f->paced)
        printf("  (%d pacing waits during the CPU runs)\n", f->paced);
    ofx_stop(f);
}

/* ----------------------------------------------------- budget share */

struct share {
    struct ofx *f;
    int users;
    atomic_int next;
    atomic_int done, waits, errors;
    pthread_mutex_t lock;
    int64_t first_ms, last_ms;
};

static void *share_thread(void *ud)
{
    struct share *s = ud;
    struct http_client *http = NULL;
    const struct conn_action *a = registry_find_action(registry_default(), "okta.suspend_user");

    if (http_client_new(&http) != 0)
        return NULL;
    for (;;) {
        int i = atomic_fetch_add(&s->next, 1);
        if (i >= s->users)
            break;
        char login[64];
        snprintf(login, sizeof login, "u%05d@bench.example", i);
        json_t *params = json_pack("{s:s}", "user", login);
        for (int attempt = 1;; attempt++) {
            struct conn_result r = {0};
            struct conn_call c = {.http = http, .connection = s->f->conn, .attempt = attempt};
            int rc = a->fn(&c, params, &r);
            bool retry = rc != 0 && r.retryable;
            int64_t wait = r.retry_after_ms;
            if (rc == 0) {
                int64_t now = time_mono_ns() / 1000000;
                pthread_mutex_lock(&s->lock);
                if (!s->first_ms)
                    s->first_ms = now;
                s->last_ms = now;
                pthread_mutex_unlock(&s->lock);
                atomic_fetch_add(&s->done, 1);
            } else if (retry) {
                atomic_fetch_add(&s->waits, 1);
            } else {
                fprintf(stderr, "%s: %s\n", login, r.message);
                atomic_fetch_add(&s->errors, 1);
            }
            conn_result_clear(&r);
            if (!retry)
                break;
            sleep_ms(wait > 0 ? wait : 10); /* the engine's durable wait */
        }
        json_decref(params);
    }
    http_client_free(http);
    return NULL;
}

static int budget_share(const char *seed, int users, int budget)
{
    struct sandbox_opts o = {.rate_limit = budget, .seed_path = seed};
    struct share s = {.f = ofx_start_opts(o), .users = users};
    pthread_t th[SHARE_THREADS];
    int64_t t0 = time_mono_ns() / 1000000;

    pthread_mutex_init(&s.lock, NULL);
    for (int i = 0; i < SHARE_THREADS; i++)
        pthread_create(&th[i], NULL, share_thread, &s);
    for (int i = 0; i < SHARE_THREADS; i++)
        pthread_join(th[i], NULL);
    int64_t t1 = time_mono_ns() / 1000000;
    int org = budget;
    budget = budget * 50 / 100; /* the token's budget: the sandbox (like Okta) holds one token to 50 % */
    int r429 = count_calls(s.f, NULL, NULL, 429);
    int writes = count_calls(s.f, "POST", "/lifecycle/suspend", 200);
    double minutes = (double)(t1 - t0) / 60000.0;
    double per_min = writes / minutes;
    /* the first calls of a window go back to back (the burst): the pace
     * after them is the steady share */
    double steady = s.last_ms > s.first_ms ? (double)(writes - 1) * 60000.0 / (double)(s.last_ms - s.first_ms) : 0;
    printf("okta budget %d/min per bucket org-wide, %d/min for the token: %d users suspended by %d threads in %.1f s = "
           "%.0f writes/min = %.1f%% of the token's budget (pace between first and last write %.1f%%), %d pacing "
           "waits, %d 429s, %d errors\n",
           org, budget, writes, SHARE_THREADS, (double)(t1 - t0) / 1000.0, per_min, 100.0 * per_min / budget,
           100.0 * steady / budget, atomic_load(&s.waits), r429, atomic_load(&s.errors));
    pthread_mutex_destroy(&s.lock);
    ofx_stop(s.f);
    return r429 == 0 && writes == users && atomic_load(&s.errors) == 0 ? 0 : 1;
}

int main(void)
{
    const char *e_users = getenv("BENCH_OKTA_USERS"), *e_budget = getenv("BENCH_OKTA_BUDGET");
    int users = e_users ? atoi(e_users) : 300, budget = e_budget ? atoi(e_budget) : 1200;
    bool long_mode = getenv("BENCH_OKTA_LONG") && strcmp(getenv("BENCH_OKTA_LONG"), "1") == 0;
    char *dir = tu_mktemp_dir();
    int n = long_mode ? 2000 : (users > 300 ? users : 300);
    char *seed = write_seed(dir, n);
    int rc = 0;

    cpu_cost(seed);
    rc |= budget_share(seed, users, budget);
    if (long_mode)
        rc |= budget_share(seed, 2000, 600);
    else
        printf("okta: set BENCH_OKTA_LONG=1 for the 2,000-user suspend at 600/min (about 3.5 minutes)\n");
    tu_rm_rf(dir);
    free(dir);
    free(seed);
    return rc;
}

/* bench/guard.c — what a connection's budget of destructive calls costs
 * each destructive call (issue 19, engine/guard.c): the two store calls the
 * guard makes before the call, store_guard_held (are runs held on this
 * connection?) and store_window_take (one send from the window
 * "guardrail:<connection>"), on a SQLite file database like a single node's,
 * at the default budget (20 an hour: a window holds at most 20 sends; each
 * connection takes 20 and the next call is the next connection's, so that
 * nothing is held). BENCH_GUARD_CALLS calls a round
 * (default 5,000), BENCH_GUARD_ROUNDS rounds (default 5), with
 * BENCH_GUARD_HELD runs held on another connection (default 200: the held
 * runs of others are not read); the median round's microseconds per call
 * (wall, and the process's CPU) are printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "core/timeutil.h"
#include "store/store.h"
#include "support/testutil.h"

#define MAX_ROUNDS 21

/* n runs held at the guardrail of connection "other". */
static int hold_runs(struct store *s, int n)
{
    struct idf_err err;
    struct store_run_next hold = {.status = STORE_RUN_HELD, .approval_step_id = "s", .hold = "other"};
    for (int i = 0; i < n; i++) {
        struct store_run_in run = {"wf", 1};
        struct store_ingest_item it = {0};
        char sid[32];
        int64_t id = 0;
        struct store_run *r[1] = {NULL};
        size_t got = 0;
        snprintf(sid, sizeof sid, "e%d", i);
        it.event = (struct store_event_in){"bench", sid, "manual", NULL, "{}"};
        it.runs = &run;
        it.n_runs = 1;
        it.run_ids = &id;
        if (store_ingest(s, &it, 1, &err) || store_run_claim(s, "w", time_now_ms(), 60000, 1, NULL, 0, r, &got, &err) ||
            got != 1)
            return -1;
        store_run_free(r[0]);
        if (store_step_commit(s, id, "w", time_now_ms(), NULL, &hold, &err))
            return -1;
    }
    return 0;
}

int main(void)
{
    int calls = bench_env_int("BENCH_GUARD_CALLS", 5000, 10, 1000000);
    int rounds = bench_env_int("BENCH_GUARD_ROUNDS", 5, 1, MAX_ROUNDS);
    int held = bench_env_int("BENCH_GUARD_HELD", 200, 0, 100000);
    double wall[MAX_ROUNDS], cpu[MAX_ROUNDS];
    char *dir = tu_mktemp_dir(), url[600];
    struct store *s = NULL;
    struct idf_err err;
    int rc = 1;

    if (!dir)
        return 1;
    snprintf(url, sizeof url, "sqlite:%s/bench.db", dir);
    if (store_open(url, &s, &err) || hold_runs(s, held)) {
        fprintf(stderr, "bench/guard: setup failed: %s\n", err.msg);
        goto out;
    }
    for (int r = 0; r < rounds; r++) {
        int64_t t0 = time_mono_ns(), c0 = bench_cpu_us(RUSAGE_SELF);
        for (int i = 0; i < calls; i++) {
            int64_t n = 0, wait = 0;
            char key[64];
            /* the default budget, 20 an hour: a window never holds more than 20 sends, so each
             * connection's key takes 20 and the next call is another connection's */
            snprintf(key, sizeof key, "guardrail:c%d-%d", r, i / 20);
            if (store_guard_held(s, key + 10, &n) || n != 0 ||
                store_window_take(s, key, 20, 3600000, time_now_ms(), &wait) || wait != 0) {
                fprintf(stderr, "bench/guard: a call failed or was held\n");
                goto out;
            }
        }
        wall[r] = (double)(time_mono_ns() - t0) / 1000.0 / calls;
        cpu[r] = (double)(bench_cpu_us(RUSAGE_SELF) - c0) / calls;
    }
    printf("guard.budget_check: %.1f us wall, %.1f us CPU per destructive call (median of %d rounds of %d calls; "
           "%d runs held on another connection; SQLite file)\n",
           bench_median(wall, rounds), bench_median(cpu, rounds), rounds, calls, held);
    rc = 0;
out:
    store_close(s);
    tu_rm_rf(dir);
    free(dir);
    return rc;
}

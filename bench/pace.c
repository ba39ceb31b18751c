/* bench/pace.c — what the store's pacing windows cost on PostgreSQL
 * (docs/operations.md, "Several nodes: budgets and shares").
 *
 * Measures, on one database: a bare round trip (store_cursor_get of a
 * missing name: one prepared SELECT, no transaction), and store_window_take
 * (one transaction: lock the key, read the window, record the send), from
 * one connection and from three at once on the SAME key (the worst case: the
 * three nodes of a cluster spending one HappyFox budget, every take
 * serialized on the key's row). Prints the median, p99 and max in
 * microseconds and the takes per second.
 *
 * Env: BENCH_PG_URL (a postgresql:// URL; unset: a throwaway cluster is
 * started with tests/pg/cluster.sh and stopped), BENCH_TAKES (default 5000
 * per connection). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "store/store.h"

#define MAX_CONNS 3
#define BENCH_LIMIT 500     /* HappyFox's GET budget */
#define BENCH_WINDOW_MS 100 /* short, so that every take is admitted (the full path) */

struct load {
    const char *url;
    int n;
    bool take;       /* a window take; false: a bare round trip */
    const char *key; /* the window's key */
    pthread_barrier_t *go;
    int64_t *lat_us; /* n entries */
    int failed;
};

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void *worker(void *ud)
{
    struct load *l = ud;
    struct store *s = NULL;
    struct idf_err err = {0};

    if (store_open(l->url, &s, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        l->failed = 1;
    }
    pthread_barrier_wait(l->go);
    for (int i = 0; s && i < l->n; i++) {
        int64_t t = time_mono_ns(), wait = 0;
        char *v = NULL;
        int rc = l->take ? store_window_take(s, l->key, BENCH_LIMIT, BENCH_WINDOW_MS, time_now_ms(), &wait)
                         : store_cursor_get(s, "bench-missing", &v);
        free(v);
        if (rc && !(rc == IDF_ENOTFOUND && !l->take))
            l->failed = 1;
        l->lat_us[i] = (time_mono_ns() - t) / 1000;
    }
    store_close(s);
    return NULL;
}

static void measure(const char *url, const char *what, bool take, const char *key, int conns, int n)
{
    struct load l[MAX_CONNS];
    pthread_t t[MAX_CONNS];
    pthread_barrier_t go;
    int64_t *all = calloc((size_t)(conns * n), sizeof *all);
    int64_t t0, t1;

    pthread_barrier_init(&go, NULL, (unsigned)conns + 1);
    for (int i = 0; i < conns; i++) {
        l[i] = (struct load){.url = url, .n = n, .take = take, .key = key, .go = &go, .lat_us = all + (size_t)i * n};
        pthread_create(&t[i], NULL, worker, &l[i]);
    }
    pthread_barrier_wait(&go);
    t0 = time_mono_ns();
    for (int i = 0; i < conns; i++)
        pthread_join(t[i], NULL);
    t1 = time_mono_ns();
    pthread_barrier_destroy(&go);
    for (int i = 0; i < conns; i++) {
        if (l[i].failed)
            printf("%s: FAILED\n", what);
    }
    qsort(all, (size_t)(conns * n), sizeof *all, cmp64);
    printf("%-44s conns %d  median %5lld us  p99 %6lld us  max %6lld us  %7.0f /s\n", what, conns,
           (long long)all[conns * n / 2], (long long)all[conns * n * 99 / 100], (long long)all[conns * n - 1],
           (double)(conns * n) / ((double)(t1 - t0) / 1e9));
    free(all);
}

int main(void)
{
    const char *env = getenv("BENCH_PG_URL");
    int n = getenv("BENCH_TAKES") ? atoi(getenv("BENCH_TAKES")) : 5000;
    char url[512] = "", dir[512] = "", cmd[1200];
    FILE *p;
    struct store *s = NULL;
    struct idf_err err = {0};

    if (n < 100)
        n = 100;
    if (env && *env) {
        snprintf(url, sizeof url, "%s", env);
    } else {
        p = popen("tests/pg/cluster.sh start", "r");
        if (!p || !fgets(dir, sizeof dir, p) || pclose(p) != 0) {
            fprintf(stderr, "bench/pace: could not start a PostgreSQL cluster (tests/pg/cluster.sh start)\n");
            return 1;
        }
        dir[strcspn(dir, "\n")] = '\0';
        snprintf(cmd, sizeof cmd, "tests/pg/cluster.sh url '%s'", dir);
        p = popen(cmd, "r");
        if (!p || !fgets(url, sizeof url, p))
            url[0] = '\0';
        if (p)
            pclose(p);
        url[strcspn(url, "\n")] = '\0';
    }
    if (store_open(url, &s, &err) != 0) { /* migrations, once */
        fprintf(stderr, "bench/pace: %s\n", err.msg);
        return 1;
    }
    store_close(s);
    measure(url, "round trip (one prepared SELECT)", false, NULL, 1, n);
    measure(url, "round trip (one prepared SELECT)", false, NULL, 3, n);
    measure(url, "store_window_take (one key)", true, "bench-1|GET", 1, n);
    measure(url, "store_window_take (one key, 3 connections)", true, "bench-3|GET", 3, n);
    if (dir[0]) {
        snprintf(cmd, sizeof cmd, "tests/pg/cluster.sh stop '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench/pace: could not stop the cluster in %s\n", dir);
    }
    return 0;
}

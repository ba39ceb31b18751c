/* test_schedule.c — the `schedule` trigger end to end with a real `idflow
 * serve` (IDFLOW_BIN). A workflow ticks every two seconds ("*\/2 * * * * *",
 * a 6-field expression starting with seconds) in Europe/Paris. Asserts:
 * each tick starts exactly one run, whose event is
 * {id "tick:<tick>", data {scheduled_for, fired_at, timezone}}, ticks are
 * consecutive; after a stop long enough to miss several ticks, the restart
 * fires only the most recent missed tick, once, and no tick ever starts two
 * runs; two nodes on one database fire each tick once between them; serve
 * exits 0 every time (clean shutdown, no sanitizer report); `idflow
 * validate` points at a bad expression or zone with file:line:column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/testutil.h"

#define WAIT_MS 20000
#define MAX_TICKS 500
#define WF "name: tick\non:\n  schedule: {cron: \"*/2 * * * * *\", timezone: Europe/Paris}\nsteps:\n" \
           "  - id: who\n    do: set\n    with: {at: '${{ .event.data.scheduled_for }}'}\n"

struct node {
    struct tu_proc p;
    char listen[64];
    char base[128];
};

static struct {
    const char *bin;
    char *dir;
    char db[400];
    char wfdir[400];
    struct node a, b;
} E;

/* ---------------------------------------------------------------- helpers */

static int start_node(struct node *n, const char *node_id)
{
    char url[200];
    int port = tu_free_port();
    const char *argv[] = {E.bin, "serve", "--db", E.db, "--listen", n->listen, "--workflows", E.wfdir,
                          "--workers", "2", "--node-id", node_id, NULL};
    snprintf(n->listen, sizeof n->listen, "127.0.0.1:%d", port);
    snprintf(n->base, sizeof n->base, "http://127.0.0.1:%d", port);
    if (tu_spawn(argv, NULL, &n->p))
        return -1;
    snprintf(url, sizeof url, "%s/readyz", n->base);
    if (tu_wait_http_ok(url, WAIT_MS)) {
        char *err = tu_proc_stderr(&n->p);
        fprintf(stderr, "idflow serve did not become ready:\n%s\n", err);
        free(err);
        return -1;
    }
    return 0;
}

/* SIGTERM; the exit code (0 after a clean shutdown without sanitizer report). */
static int stop_node(struct node *n)
{
    int rc;
    char *err;
    if (!n->p.pid)
        return 0;
    tu_kill(&n->p, SIGTERM);
    rc = tu_wait(&n->p, 15000);
    err = tu_proc_stderr(&n->p);
    if (rc != 0 || strstr(err, "Sanitizer") || strstr(err, "runtime error")) {
        fprintf(stderr, "idflow serve exited with %d:\n%s\n", rc, err);
        if (rc == 0)
            rc = 1;
    }
    free(err);
    tu_proc_cleanup(&n->p);
    memset(&n->p, 0, sizeof n->p);
    return rc;
}

static json_t *get_json(const struct node *n, const char *path)
{
    char url[400], *resp = NULL;
    long status = 0;
    json_t *j;
    snprintf(url, sizeof url, "%s%s", n->base, path);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    j = json_loads(resp, 0, NULL);
    assert_non_null(j);
    free(resp);
    return j;
}

static int64_t parse_tick(const char *iso)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    assert_non_null(iso);
    assert_non_null(strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm));
    return (int64_t)timegm(&tm);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The tick of every run of workflow "tick" (sorted); checks each run's event. */
static size_t ticks(const struct node *n, int64_t *out)
{
    json_t *list = get_json(n, "/api/v1/runs?workflow=tick&limit=500"), *r;
    size_t i, k = 0;

    json_array_foreach(json_object_get(list, "runs"), i, r)
    {
        char path[100], want_id[100];
        json_t *full, *ev, *data;
        const char *sf;
        snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)json_integer_value(json_object_get(r, "id")));
        full = get_json(n, path);
        ev = json_object_get(full, "event");
        data = json_object_get(ev, "data");
        sf = json_string_value(json_object_get(data, "scheduled_for"));
        assert_non_null(sf);
        snprintf(want_id, sizeof want_id, "tick:%s", sf);
        assert_string_equal(json_string_value(json_object_get(ev, "id")), want_id);
        assert_string_equal(json_string_value(json_object_get(ev, "type")), "schedule");
        assert_string_equal(json_string_value(json_object_get(data, "timezone")), "Europe/Paris");
        {   /* fired at or after its time */
            struct tm fm;
            const char *fa = json_string_value(json_object_get(data, "fired_at"));
            memset(&fm, 0, sizeof fm);
            assert_non_null(fa);
            assert_non_null(strptime(fa, "%Y-%m-%dT%H:%M:%S", &fm));
            assert_true((int64_t)timegm(&fm) >= parse_tick(sf));
        }
        assert_true(k < MAX_TICKS);
        out[k++] = parse_tick(sf);
        json_decref(full);
    }
    json_decref(list);
    qsort(out, k, sizeof *out, cmp_i64);
    return k;
}

/* No tick started two runs; every tick is even (the expression's seconds). */
static void assert_unique_even(const int64_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(t[i] % 2, 0);
        if (i)
            assert_true(t[i] > t[i - 1]);
    }
}

struct want {
    const struct node *n;
    size_t runs;
};

static bool has_runs(void *ud)
{
    struct want *w = ud;
    static int64_t buf[MAX_TICKS];
    return ticks(w->n, buf) >= w->runs;
}

static void wait_runs(const struct node *n, size_t runs)
{
    struct want w = {n, runs};
    if (!tu_wait_until(has_runs, &w, WAIT_MS))
        fail_msg("fewer than %zu runs of tick after %d ms", runs, WAIT_MS);
}

/* ---------------------------------------------------------------- tests */

static void test_each_tick_starts_one_run(void **state)
{
    int64_t t[MAX_TICKS];
    size_t n;
    (void)state;
    wait_runs(&E.a, 3);
    n = ticks(&E.a, t);
    assert_unique_even(t, n);
    /* consecutive ticks while serving: none skipped, none doubled */
    for (size_t i = 1; i < n; i++)
        assert_int_equal(t[i] - t[i - 1], 2);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct after_want {
    const struct node *n;
    int64_t after;
    size_t runs;
};

static bool has_runs_after(void *ud)
{
    struct after_want *w = ud;
    static int64_t buf[MAX_TICKS];
    size_t n = ticks(w->n, buf), k = 0;
    for (size_t i = 0; i < n; i++)
        k += buf[i] > w->after;
    return k >= w->runs;
}

/* an even second has just begun, at or after *ud */
static bool even_second_begun(void *ud)
{
    int64_t ms = now_ms();
    return ms / 1000 >= *(int64_t *)ud && (ms / 1000) % 2 == 0 && ms % 1000 < 300;
}

static void test_restart_fires_latest_missed_tick_once(void **state)
{
    int64_t t[MAX_TICKS], stop_at, earliest, restart_ms, ready_ms, k2;
    size_t n, first;
    struct after_want w;
    (void)state;

    assert_int_equal(stop_node(&E.a), 0);
    stop_at = now_ms() / 1000;
    /* stay down for at least three ticks, and come back just after an even
     * second k2: the restart then owes ticks up to k2 */
    earliest = stop_at + 7;
    assert_true(tu_wait_until(even_second_begun, &earliest, WAIT_MS));
    restart_ms = now_ms();
    k2 = restart_ms / 1000;
    assert_int_equal(start_node(&E.a, "a"), 0);
    ready_ms = now_ms();
    w.n = &E.a;
    w.after = stop_at;
    w.runs = 3;
    if (!tu_wait_until(has_runs_after, &w, WAIT_MS))
        fail_msg("fewer than 3 runs after the restart");
    n = ticks(&E.a, t);
    assert_unique_even(t, n);
    for (first = 0; first < n && t[first] <= stop_at; first++)
        ;
    assert_true(first >= 3); /* the first life's runs are still there, once */
    /* none of the older missed ticks fired ... */
    assert_true(t[first] >= k2);
    /* ... and the latest one did, when the server was up before the next tick
     * (k2 + 2) could be the reason of the first run */
    if (ready_ms < (k2 + 1) * 1000)
        assert_int_equal(t[first], k2);
    else
        fprintf(stderr, "# slow start (%lld ms): only checked that no older missed tick fired\n",
                (long long)(ready_ms - restart_ms));
    /* from there on every tick once */
    for (size_t k = first + 1; k < n; k++)
        assert_int_equal(t[k] - t[k - 1], 2);
}

static void test_two_nodes_fire_each_tick_once(void **state)
{
    int64_t t[MAX_TICKS], from;
    size_t n, k, first;
    (void)state;

    /* a second node on the same database: both tickers submit every tick */
    n = ticks(&E.a, t);
    from = n ? t[n - 1] : 0;
    assert_int_equal(start_node(&E.b, "b"), 0);
    wait_runs(&E.a, n + 4);
    n = ticks(&E.a, t);
    assert_unique_even(t, n);
    for (first = 0; first < n && t[first] <= from; first++)
        ;
    assert_true(n - first >= 4);
    for (k = first + 1; k < n; k++)
        assert_int_equal(t[k] - t[k - 1], 2);
    assert_int_equal(stop_node(&E.b), 0);
}

/* `idflow validate` rejects a bad expression and an unknown zone, each at
 * its file:line:column, and accepts a good schedule. */
static void test_validate_points_at_bad_cron_and_zone(void **state)
{
    char bad[500], good[500], *err;
    const char *argv[] = {E.bin, "validate", bad, good, NULL};
    struct tu_proc p;
    (void)state;
    snprintf(bad, sizeof bad, "%s/bad.yaml", E.dir);
    snprintf(good, sizeof good, "%s/good.yaml", E.dir);
    assert_int_equal(tu_write_file(bad, "name: bad\non:\n  schedule:\n    cron: \"0 25 * * *\"\n"
                                        "steps:\n  - id: s\n    do: set\n    with: {x: 1}\n"), 0);
    assert_int_equal(tu_write_file(good, "name: good\non:\n  schedule: {cron: \"30 2 * * MON-FRI\", "
                                         "timezone: Mars/Olympus}\nsteps:\n  - id: s\n    do: set\n"
                                         "    with: {x: 1}\n"), 0);
    assert_int_equal(tu_spawn(argv, NULL, &p), 0);
    assert_int_equal(tu_wait(&p, 30000), 1);
    err = tu_proc_stderr(&p);
    if (!strstr(err, "bad.yaml:4:11: trigger schedule: cron: hour field '25': 25 is out of range 0-23") ||
        !strstr(err, "good.yaml:3:50: trigger schedule: unknown time zone 'Mars/Olympus'"))
        fail_msg("unexpected diagnostics:\n%s", err);
    free(err);
    tu_proc_cleanup(&p);
    /* with a real zone it is valid */
    assert_int_equal(tu_write_file(good, "name: good\non:\n  schedule: {cron: \"30 2 * * MON-FRI\", "
                                         "timezone: Europe/Paris}\nsteps:\n  - id: s\n    do: set\n"
                                         "    with: {x: 1}\n"), 0);
    argv[2] = good;
    argv[3] = NULL;
    assert_int_equal(tu_spawn(argv, NULL, &p), 0);
    assert_int_equal(tu_wait(&p, 30000), 0);
    tu_proc_cleanup(&p);
}

/* ---------------------------------------------------------------- setup */

static int group_setup(void **state)
{
    char path[500], cmd[600];
    (void)state;
    E.bin = getenv("IDFLOW_BIN");
    if (!E.bin) {
        fprintf(stderr, "IDFLOW_BIN must be set (make test sets it)\n");
        return -1;
    }
    E.dir = tu_mktemp_dir();
    if (!E.dir)
        return -1;
    snprintf(E.db, sizeof E.db, "sqlite:%s/idflow.db", E.dir);
    snprintf(E.wfdir, sizeof E.wfdir, "%s/wf", E.dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", E.wfdir);
    if (system(cmd) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/tick.yaml", E.wfdir);
    if (tu_write_file(path, WF))
        return -1;
    return start_node(&E.a, "a");
}

static int group_teardown(void **state)
{
    int rc;
    (void)state;
    rc = stop_node(&E.a) | stop_node(&E.b);
    if (E.dir) {
        tu_rm_rf(E.dir);
        free(E.dir);
    }
    return rc == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_tick_starts_one_run),
        cmocka_unit_test(test_restart_fires_latest_missed_tick_once),
        cmocka_unit_test(test_two_nodes_fire_each_tick_once),
        cmocka_unit_test(test_validate_points_at_bad_cron_and_zone),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

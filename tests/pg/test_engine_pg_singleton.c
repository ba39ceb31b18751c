/* test_engine_pg_singleton.c — one node at a time on PostgreSQL: engines
 * started inside the test program on one PostgreSQL schema (a fresh one per
 * test, IDFLOW_TEST_STORE_URL with "%s": tests/support/storeurl.h; run by
 * tests/pg/run.sh):
 *  - a schedule ticks once per tick with two nodes (no submission absorbed
 *    as a duplicate), and on when the holder stops;
 *  - a second engine with the node id of a live one is refused, saying so.
 * The connector table is the fake connector and core (the `schedule`
 * trigger); waits poll with a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/registry.h"
#include "core/log.h"
#include "engine/engine.h"
#include "expr/expr.h"
#include "store/store.h"
#include "support/fakeconn.h"
#include "support/storeurl.h"
#include "support/testutil.h"

#define WAIT_MS 15000
#define TTL_MS 600
#define OK(x) assert_int_equal((x), 0)

static const char *TICK = "name: tick\non:\n  schedule: {cron: \"* * * * * *\"}\nsteps:\n"
                          "  - id: s\n    do: fake.call\n    with: {key: tick}\n";

static const struct connector *list[2];
static const struct registry reg = {list, 2};

struct fx {
    char *dir;       /* the workflows folder's parent (owned) */
    char wfdir[600]; /* "<dir>/workflows" */
    char url[1024];  /* this test's schema */
    struct store *st;
    struct engine *e[2];
};

static int n_tests;

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    const char *tmpl = getenv("IDFLOW_TEST_STORE_URL");
    char tag[64], path[700];
    struct idf_err err;

    if (!f || !tmpl || !*tmpl) {
        fprintf(stderr, "IDFLOW_TEST_STORE_URL must be set (tests/pg/run.sh sets it)\n");
        free(f);
        return -1;
    }
    *state = f;
    fakeconn_reset();
    list[0] = fakeconn_registry()->list[0];
    list[1] = registry_find(registry_default(), "core");
    snprintf(tag, sizeof tag, "eng%d_%d", (int)getpid(), ++n_tests);
    if (tu_store_url(tmpl, tag, f->url, sizeof f->url) || !(f->dir = tu_mktemp_dir()))
        return -1;
    snprintf(f->wfdir, sizeof f->wfdir, "%s/workflows", f->dir);
    snprintf(path, sizeof path, "%s/tick.yaml", f->wfdir);
    if (mkdir(f->wfdir, 0700) || tu_write_file(path, TICK))
        return -1;
    if (store_open(f->url, &f->st, &err)) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fakeconn_release_all();
    for (int i = 0; i < 2; i++)
        engine_free(f->e[i]);
    store_close(f->st);
    if (f->dir) {
        tu_rm_rf(f->dir);
        free(f->dir);
    }
    free(f);
    return 0;
}

static int new_engine(struct fx *f, const char *node, struct engine **out, struct idf_err *err)
{
    struct engine_opts o = {.db_url = f->url,
                            .workflows_dir = f->wfdir,
                            .node_id = node,
                            .workers = 1,
                            .idle_poll_ms = 20,
                            .singleton_ttl_ms = TTL_MS,
                            .connectors = &reg};
    int rc;
    idf_err_clear(err);
    rc = engine_new(&o, out, err);
    if (rc == 0 && (rc = engine_start(*out, err)) != 0) {
        engine_free(*out);
        *out = NULL;
    }
    return rc;
}

static long long metric(struct engine *e, const char *name)
{
    char *m = engine_metrics(e), *at, line[128];
    long long v = -1;
    assert_non_null(m);
    snprintf(line, sizeof line, "\n%s ", name);
    at = strstr(m, line);
    if (at)
        v = atoll(at + strlen(line));
    free(m);
    return v;
}

/* Runs of tick that ran (each calls fake.call once; the list reads are not
 * all written on PostgreSQL yet, so the test counts calls, not rows). */
static size_t tick_runs(struct fx *f)
{
    (void)f;
    return (size_t)fakeconn_calls("tick");
}

struct want {
    struct fx *f;
    size_t n;
};
static bool runs_reach(void *ud)
{
    struct want *w = ud;
    return tick_runs(w->f) >= w->n;
}

static void a_schedule_ticks_once_per_tick_with_two_nodes(void **state)
{
    struct fx *f = *state;
    struct idf_err err;
    struct want w = {f, 4};
    char *owner = NULL;
    int h;

    OK(new_engine(f, "node-a", &f->e[0], &err));
    OK(new_engine(f, "node-b", &f->e[1], &err));
    assert_true(tu_wait_until(runs_reach, &w, WAIT_MS));
    assert_int_equal(
        metric(f->e[0], "idflow_events_duplicate_total") + metric(f->e[1], "idflow_events_duplicate_total"), 0);

    OK(store_lease_get(f->st, "schedule", &owner, NULL));
    h = strncmp(owner, "node-a#", 7) == 0 ? 0 : 1;
    free(owner);
    engine_free(f->e[h]);
    f->e[h] = NULL;
    w.n = tick_runs(f) + 3;
    assert_true(tu_wait_until(runs_reach, &w, WAIT_MS));
    assert_int_equal(metric(f->e[1 - h], "idflow_events_duplicate_total"), 0);
}

static void a_live_node_id_is_refused(void **state)
{
    struct fx *f = *state;
    struct idf_err err;

    OK(new_engine(f, "same", &f->e[0], &err));
    assert_int_equal(new_engine(f, "same", &f->e[1], &err), IDF_EBUSY);
    assert_null(f->e[1]);
    assert_non_null(strstr(err.msg, "node id same is in use by a live node"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_schedule_ticks_once_per_tick_with_two_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(a_live_node_id_is_refused, setup, teardown),
    };
    if (argc >= 2 && !strcmp(argv[1], "__expr-worker")) /* the engine's evaluators exec this program */
        return expr_worker_main(argc - 1, argv + 1);
    log_set_level(LOG_WARN); /* the engines' info lines would bury the TAP output */
    return cmocka_run_group_tests(tests, NULL, NULL);
}

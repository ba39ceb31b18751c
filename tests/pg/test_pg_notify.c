/* test_pg_notify.c — wake-ups across connections and nodes (LISTEN/NOTIFY):
 *
 * Store level (store_notify / store_listen / store_wait):
 *  - a listening connection is woken by another connection's notification,
 *    well within a deadline (no sleep: it waits with a generous timeout and
 *    must come back woken);
 *  - notifications that arrived together are one wake-up, and the
 *    connection's own never wake it;
 *  - a readable wake_fd ends the wait (not woken); a broken connection is
 *    IDF_EDB; bad channel names are refused;
 *  - store_notify leaves the session's synchronous_commit on (it is turned
 *    off only inside the notification's own transaction);
 *  - SQLite: notify succeeds doing nothing, listen and wait IDF_ENOTSUP.
 *
 * Engine level: two engines in this process on one database, both with
 * idle_poll_ms of an hour, so that a worker finds new runs only when woken.
 * Node A's one worker is held inside a call (a gate of the fake
 * connector); an event acknowledged by A is run by B, which can only learn
 * of it through A's notification. The same after B's listening connection
 * is killed (it reconnects), for a run A's matcher created after the
 * acknowledgement, for a rerun and an approval asked through the API or
 * the CLI (each notifies after its commit), and for the runs a node coming back released
 * from its earlier life. A node notifies at most once per
 * ENGINE__NOTIFY_GAP_MS, and not for events that started no run. The time from A's acknowledgement to B's call
 * starting is printed (median, p99) over NOTIFY_EVENTS events (default 200).
 *
 * Run by tests/pg/run.sh against its throwaway cluster: IDFLOW_TEST_STORE_URL
 * is the template of support/storeurl.h (each test gets its own schema). A
 * notification reaches every schema's listeners of the database: the tests
 * of this program run one at a time, and a stray one could only make a
 * negative check fail, never a positive one pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "connectors/registry.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "engine/engine.h"
#include "engine/engine_internal.h" /* ENGINE__NOTIFY_GAP_MS */
#include "expr/expr.h"
#include "net/http.h"
#include "store/postgres_internal.h"
#include "store/store.h"
#include "support/engine_fixture.h"
#include "support/fakeconn.h"
#include "support/storeurl.h"
#include "support/testutil.h"

#define OK(x) assert_int_equal((x), 0)
#define WAIT_MS 20000     /* deadline for what a test waits for: generous for a loaded machine */
#define QUIET_MS 300      /* a wait that must end NOT woken: bounded, it proves an absence */
#define HOUR_MS 3600000LL /* the engines' idle_poll_ms: no worker looks by itself during a test */

static int n_tests;

static int64_t mono_ms(void)
{
    return time_mono_ns() / 1000000;
}

/* The test's database URL (a schema of its own) into out; false when the
 * runner did not give one (the reason printed). */
static bool test_url(const char *what, char *out, size_t n)
{
    const char *tmpl = getenv("IDFLOW_TEST_STORE_URL");
    char tag[64];

    if (!tmpl || strncmp(tmpl, "postgresql://", 13) != 0) {
        fprintf(stderr, "test_pg_notify needs IDFLOW_TEST_STORE_URL=postgresql://... (a PostgreSQL server: run it "
                        "through tests/pg/run.sh)\n");
        return false;
    }
    snprintf(tag, sizeof tag, "pgnotify_%s_%d_%d", what, (int)getpid(), ++n_tests);
    return tu_store_url(tmpl, tag, out, n) == 0;
}

static struct store *open_store(const char *url)
{
    struct store *s = NULL;
    struct idf_err err = {0};
    if (store_open(url, &s, &err) != 0)
        fail_msg("store_open: %s", err.msg);
    return s;
}

/* One SQL statement on a store's own connection (the test reaches into the
 * backend: postgres_internal.h); the first value of its result, copied into
 * out (n bytes), "" when none. */
static void sql_on(struct store *s, const char *sql, char *out, size_t n)
{
    PGresult *r = PQexec(store__pg(s)->conn, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(store__pg(s)->conn));
    snprintf(out, n, "%s", st == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
}

/* ------------------------------------------------------------ store level */

static void a_listener_is_woken_by_another_connections_notify(void **state)
{
    char url[1100];
    struct store *l, *s;
    bool woken = false;
    int64_t t0, took;

    (void)state;
    assert_true(test_url("wake", url, sizeof url));
    l = open_store(url);
    s = open_store(url);
    OK(store_listen(l, STORE_CHANNEL_WORK));
    t0 = mono_ms();
    OK(store_notify(s, STORE_CHANNEL_WORK));
    OK(store_wait(l, WAIT_MS, -1, &woken));
    took = mono_ms() - t0;
    assert_true(woken);
    assert_true(took < WAIT_MS);
    printf("# a notification from another connection woke the listener after %lld ms\n", (long long)took);
    /* it was consumed: the next wait ends by its timeout */
    OK(store_wait(l, 0, -1, &woken));
    assert_false(woken);
    store_close(s);
    store_close(l);
}

static void notifications_that_arrived_together_are_one_wakeup_and_its_own_never_wake_it(void **state)
{
    char url[1100];
    struct store *l, *s;
    bool woken = false;

    (void)state;
    assert_true(test_url("coalesce", url, sizeof url));
    l = open_store(url);
    s = open_store(url);
    OK(store_listen(l, STORE_CHANNEL_WORK));
    for (int i = 0; i < 5; i++)
        OK(store_notify(s, STORE_CHANNEL_WORK));
    /* a round trip of the listener's own after those commits: its backend
     * reads the queue (in commit order) up to its own notification before
     * answering, so all five are in libpq when the wait starts */
    OK(store_notify(l, STORE_CHANNEL_WORK));
    OK(store_wait(l, WAIT_MS, -1, &woken));
    assert_true(woken);
    OK(store_wait(l, QUIET_MS, -1, &woken));
    assert_false(woken); /* the five were one wake-up */

    OK(store_notify(l, STORE_CHANNEL_WORK)); /* its own alone */
    OK(store_wait(l, QUIET_MS, -1, &woken));
    assert_false(woken);
    store_close(s);
    store_close(l);
}

static void a_readable_wake_fd_ends_the_wait_not_woken(void **state)
{
    char url[1100];
    struct store *l;
    bool woken = true;
    int fds[2];
    int64_t t0;

    (void)state;
    assert_true(test_url("wakefd", url, sizeof url));
    l = open_store(url);
    OK(store_listen(l, STORE_CHANNEL_WORK));
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    t0 = mono_ms();
    OK(store_wait(l, WAIT_MS, fds[0], &woken));
    assert_false(woken);
    assert_true(mono_ms() - t0 < WAIT_MS);
    close(fds[0]);
    close(fds[1]);
    store_close(l);
}

static void a_broken_listening_connection_is_edb(void **state)
{
    char url[1100], pid[32], sql[128], got[16];
    struct store *l, *s;
    bool woken = false;

    (void)state;
    assert_true(test_url("broken", url, sizeof url));
    l = open_store(url);
    s = open_store(url);
    OK(store_listen(l, STORE_CHANNEL_WORK));
    snprintf(pid, sizeof pid, "%d", PQbackendPID(store__pg(l)->conn));
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", pid);
    sql_on(s, sql, got, sizeof got);
    assert_string_equal(got, "t");
    assert_int_equal(store_wait(l, WAIT_MS, -1, &woken), IDF_EDB);
    assert_false(woken);
    store_close(s);
    store_close(l);
}

static void bad_channels_are_refused(void **state)
{
    char url[1100], longname[STORE_CHANNEL_MAX + 2];
    struct store *s;
    const char *bad[] = {"", "Idflow", "idflow work", "idflow\"; DROP TABLE runs; --", "idflow-work"};
    bool woken;

    (void)state;
    assert_true(test_url("bad", url, sizeof url));
    s = open_store(url);
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(store_notify(s, bad[i]), IDF_EINVAL);
        assert_int_equal(store_listen(s, bad[i]), IDF_EINVAL);
    }
    assert_int_equal(store_notify(s, longname), IDF_EINVAL);
    assert_int_equal(store_notify(s, NULL), IDF_EINVAL);
    assert_int_equal(store_wait(s, -1, -1, &woken), IDF_EINVAL);
    assert_int_equal(store_wait(s, 0, -1, NULL), IDF_EINVAL);
    longname[STORE_CHANNEL_MAX] = '\0';
    OK(store_notify(s, longname)); /* the longest allowed */
    store_close(s);
}

static void notify_keeps_the_sessions_commits_durable(void **state)
{
    char url[1100], got[16];
    struct store *s;

    (void)state;
    assert_true(test_url("durable", url, sizeof url));
    s = open_store(url);
    OK(store_notify(s, STORE_CHANNEL_WORK));
    sql_on(s, "SHOW synchronous_commit", got, sizeof got);
    assert_string_equal(got, "on");
    store_close(s);
}

static void sqlite_notify_does_nothing_and_cannot_listen(void **state)
{
    char *dir = tu_mktemp_dir();
    char url[700];
    struct store *s;
    bool woken = true;

    (void)state;
    assert_non_null(dir);
    snprintf(url, sizeof url, "sqlite:%s/idflow.db", dir);
    assert_false(store_url_listens(url));
    s = open_store(url);
    OK(store_notify(s, STORE_CHANNEL_WORK));
    assert_int_equal(store_listen(s, STORE_CHANNEL_WORK), IDF_ENOTSUP);
    assert_int_equal(store_wait(s, 0, -1, &woken), IDF_ENOTSUP);
    assert_false(woken);
    store_close(s);
    tu_rm_rf(dir);
    free(dir);
}

/* ----------------------------------------------------------- engine level */

/* The workflows of the two nodes: each event starts one (ef_submit names it;
 * a connector's event with route "matched" starts "matched" alone). */
#define WF(key, cond)                                                                                                  \
    "on: fake.event\nwhen: .event.route == " cond "\nsteps:\n  - id: go\n    do: fake.call\n    with: {key: " key "}"  \
    "\n"
static const char HELD[] = WF("held", "null");
static const char ONCE[] = WF("once", "null");
static const char QUICK[] = WF("quick", "null");
static const char MATCHED[] = WF("matched", "\"matched\"");
static const char ASK[] = "on: fake.event\nwhen: .event.route == null\nsteps:\n  - id: ask\n    do: approval\n"
                          "    with: {message: go?}\n  - id: go\n    do: fake.call\n    with: {key: asked}\n";

struct pgstat {
    PGconn *c;
    const char *app;
    bool show; /* print the connections when not */
};

/* True when the engine whose connections carry application_name p->app
 * listens (its listener's last statement was LISTEN) and every one of its
 * connections is idle (no claim under way). */
static bool listening_and_idle(void *ud)
{
    struct pgstat *p = ud;
    const char *params[1] = {p->app};
    PGresult *r = PQexecParams(p->c,
                               "SELECT count(*) FILTER (WHERE query LIKE 'LISTEN %'), "
                               "count(*) FILTER (WHERE state <> 'idle') "
                               "FROM pg_stat_activity WHERE application_name = $1",
                               1, NULL, params, NULL, NULL, 0);
    bool ok =
        r && PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) == 1 && atoi(PQgetvalue(r, 0, 1)) == 0;
    PQclear(r);
    if (!ok && p->show) { /* the deadline passed: what there was */
        r = PQexecParams(p->c, "SELECT state, left(query, 60) FROM pg_stat_activity WHERE application_name = $1", 1,
                         NULL, params, NULL, NULL, 0);
        for (int i = 0; r && PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
            fprintf(stderr, "# %s: %s: %s\n", p->app, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        PQclear(r);
    }
    return ok;
}

/* Waits until listening_and_idle; prints the connections when it never is. */
static bool wait_listening(struct pgstat *p)
{
    p->show = false;
    if (tu_wait_until(listening_and_idle, p, WAIT_MS))
        return true;
    p->show = true;
    return listening_and_idle(p);
}

struct eng2 {
    struct ef f;
    char url[1100];   /* the test's schema */
    char url_b[1200]; /* the same, with B's application_name */
    PGconn *raw;      /* the test's own connection, for pg_stat_activity */
    struct engine *a, *b;
};

/* The core connector (approval) and the fake one: the nodes' table. */
static const struct registry *core_and_fake(void)
{
    static const struct connector *list[2];
    static struct registry reg = {list, 2};

    list[0] = registry_find(registry_default(), "core");
    list[1] = registry_find(fakeconn_registry(), "fake");
    assert_non_null(list[0]);
    assert_non_null(list[1]);
    return &reg;
}

/* A with one worker held in a call of workflow "held"; B started after, idle,
 * listening. Both poll once an hour. */
static void two_nodes(struct eng2 *t, const char *what)
{
    struct pgstat ps;
    int64_t held;

    assert_true(test_url(what, t->url, sizeof t->url));
    snprintf(t->url_b, sizeof t->url_b, "%s&application_name=idflow_test_b", t->url);
    assert_int_equal(ef_init_url(&t->f, t->url), 0);
    assert_int_equal(ef_workflow(&t->f, "held", HELD), 0);
    assert_int_equal(ef_workflow(&t->f, "quick", QUICK), 0);
    assert_int_equal(ef_workflow(&t->f, "once", ONCE), 0);
    assert_int_equal(ef_workflow(&t->f, "matched", MATCHED), 0);
    assert_int_equal(ef_workflow(&t->f, "ask", ASK), 0);
    fakeconn_script("held", &(struct fakeconn_answer){.gate = "held"}, -1);
    t->a = ef_engine(&t->f,
                     &(struct engine_opts){
                         .node_id = "node-a", .workers = 1, .idle_poll_ms = HOUR_MS, .connectors = core_and_fake()});
    assert_non_null(t->a);
    held = ef_submit(&t->f, t->a, "held", NULL);
    assert_true(held > 0);
    assert_true(fakeconn_wait_calls("held", 1, WAIT_MS)); /* A's only worker is inside it now */
    t->b = ef_engine(&t->f, &(struct engine_opts){.db_url = t->url_b,
                                                  .connectors = core_and_fake(),
                                                  .node_id = "node-b",
                                                  .workers = 1,
                                                  .idle_poll_ms = HOUR_MS});
    assert_non_null(t->b);
    t->raw = PQconnectdb(t->url);
    assert_int_equal(PQstatus(t->raw), CONNECTION_OK);
    ps.c = t->raw;
    ps.app = "idflow_test_b";
    assert_true(wait_listening(&ps));
}

static int eng2_setup(void **state)
{
    *state = calloc(1, sizeof(struct eng2));
    return *state ? 0 : -1;
}

/* Whatever the test reached: opens the gate, frees both engines. */
static int eng2_teardown(void **state)
{
    struct eng2 *t = *state;
    if (t) {
        PQfinish(t->raw);
        ef_cleanup(&t->f);
    }
    free(t);
    *state = NULL;
    return 0;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

static void an_event_acknowledged_by_a_busy_node_is_run_by_an_idle_node_it_notified(void **state)
{
    struct eng2 *t = *state;
    const char *env = getenv("NOTIFY_EVENTS");
    int n = env && atoi(env) > 0 ? atoi(env) : 200;
    int64_t *lat = calloc((size_t)n, sizeof *lat);

    assert_non_null(lat);
    two_nodes(t, "engines");
    for (int i = 0; i < n; i++) {
        struct fakeconn_call c;
        int64_t run = ef_submit(&t->f, t->a, "quick", NULL), acked = time_now_ms();

        assert_true(run > 0);
        /* A's worker is held: B runs it, and B polls once an hour */
        assert_true(fakeconn_wait_calls("quick", i + 1, WAIT_MS));
        assert_true(ef_wait_status(&t->f, run, "succeeded", WAIT_MS));
        assert_true(fakeconn_call_get("quick", i, &c));
        json_decref(c.params);
        assert_int_equal(c.run_id, run);
        lat[i] = c.started_ms > acked ? c.started_ms - acked : 0;
    }
    assert_int_equal(fakeconn_calls("held"), 1); /* A never got further */
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    printf("# %d events: A's acknowledgement to B's call, median %lld ms, p99 %lld ms, max %lld ms "
           "(ms clock; idle_poll_ms is an hour)\n",
           n, (long long)lat[n / 2], (long long)lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1],
           (long long)lat[n - 1]);
    free(lat);
}

static void a_node_whose_listening_connection_was_killed_listens_again(void **state)
{
    struct eng2 *t = *state;
    struct pgstat ps;
    PGresult *r;
    int64_t run;

    two_nodes(t, "relisten");
    r = PQexec(t->raw, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE application_name = 'idflow_test_b' AND query LIKE 'LISTEN %'");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);
    ps.c = t->raw;
    ps.app = "idflow_test_b";
    assert_true(wait_listening(&ps)); /* a new listening connection */
    run = ef_submit(&t->f, t->a, "quick", NULL);
    assert_true(run > 0);
    assert_true(ef_wait_status(&t->f, run, "succeeded", WAIT_MS));
}

/* `idflow CMD RUN --db URL` (the binary of IDFLOW_BIN): exits 0; its
 * stdout (caller frees). */
static char *idflow_cli(struct eng2 *t, const char *cmd, int64_t run)
{
    const char *bin = getenv("IDFLOW_BIN");
    char id[32], *out = NULL, *errs = NULL;
    int rc;

    assert_non_null(bin);
    snprintf(id, sizeof id, "%lld", (long long)run);
    rc = tu_idflow_db(bin, t->url, &out, &errs, cmd, id, NULL);
    if (rc != 0)
        fprintf(stderr, "# idflow %s: %d: %s%s\n", cmd, rc, out ? out : "", errs ? errs : "");
    free(errs);
    assert_int_equal(rc, 0);
    assert_non_null(out);
    return out;
}

/* The CLI's rerun and approve work on the database directly, from another
 * process: they notify after their commit too, and idle B runs the run. */
static void a_rerun_and_an_approval_from_the_cli_wake_an_idle_node(void **state)
{
    struct eng2 *t = *state;
    long long rerun = 0;
    int64_t run, asked;
    char *out;

    two_nodes(t, "cli");
    fakeconn_script("once", &(struct fakeconn_answer){.what = FAKECONN_FAIL}, 1);
    run = ef_submit(&t->f, t->a, "once", NULL);
    assert_true(run > 0);
    assert_true(ef_wait_status(&t->f, run, "failed", WAIT_MS));
    out = idflow_cli(t, "rerun", run);
    assert_int_equal(sscanf(out, "run %lld queued", &rerun), 1); /* "run N queued: rerun of run R ..." */
    free(out);
    assert_true(ef_wait_status(&t->f, rerun, "succeeded", WAIT_MS)); /* A is held: B ran it */

    asked = ef_submit(&t->f, t->a, "ask", NULL);
    assert_true(asked > 0);
    assert_true(ef_wait_status(&t->f, asked, "waiting", WAIT_MS));
    free(idflow_cli(t, "approve", asked));
    assert_true(ef_wait_status(&t->f, asked, "succeeded", WAIT_MS));
}

/* A connector's event is acknowledged before it is matched: A's matcher
 * creates its run later (the settle), and that commit is announced too. */
static void a_run_the_matcher_created_after_the_acknowledgement_is_run_by_an_idle_node(void **state)
{
    struct eng2 *t = *state;
    json_t *evs = json_pack("[{s:s, s:s, s:s}]", "id", "m1", "type", "fake.event", "route", "matched");
    struct idf_err err;
    size_t n_new = 0;

    assert_non_null(evs);
    two_nodes(t, "matched");
    OK(engine_submit_events(t->a, "fake", NULL, NULL, evs, &n_new, &err));
    json_decref(evs);
    assert_int_equal(n_new, 1);
    assert_true(fakeconn_wait_calls("matched", 1, WAIT_MS)); /* A is held: B ran it */
    assert_int_equal(fakeconn_calls("quick"), 0);
}

/* POST path (run id) to idflow's API, served in this process on loopback by
 * api_handle on the test's database (no token exists: a fresh install on
 * loopback); the answer's status, and its body parsed (caller decrefs). */
static json_t *api_post(struct eng2 *t, const char *action, int64_t run, long want)
{
    struct api api;
    struct http_server_opts so;
    struct http_server *srv = NULL;
    struct idf_err err;
    char url[256];
    long status = 0;
    char *body = NULL;
    json_t *ans;

    memset(&api, 0, sizeof api);
    api.engine = t->a;
    api.db_url = t->url;
    api.listen_addr = "127.0.0.1";
    atomic_init(&api.closed, false);
    memset(&so, 0, sizeof so);
    so.addr = "127.0.0.1";
    so.max_body = BUF_CAP_HTTP_BODY;
    so.threads = 1;
    so.handler = api_handle;
    so.ud = &api;
    OK(http_server_start(&so, &srv, &err));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/runs/%lld/%s", http_server_port(srv), (long long)run, action);
    OK(tu_http("POST", url, "{}", NULL, &status, &body));
    http_server_stop(srv);
    if (status != want)
        fprintf(stderr, "# %s answered %ld: %s\n", action, status, body ? body : "");
    assert_int_equal(status, want);
    ans = json_loads(body ? body : "", 0, NULL);
    free(body);
    assert_non_null(ans);
    return ans;
}

/* A rerun asked through the API is run by idle B: the API's own
 * notification after its commit is the only way B learns of it. */
static void a_rerun_asked_through_the_api_wakes_an_idle_node(void **state)
{
    struct eng2 *t = *state;
    json_t *ans;
    int64_t run, rerun;

    two_nodes(t, "rerun");
    fakeconn_script("once", &(struct fakeconn_answer){.what = FAKECONN_FAIL}, 1); /* the first call fails */
    run = ef_submit(&t->f, t->a, "once", NULL);
    assert_true(run > 0);
    assert_true(ef_wait_status(&t->f, run, "failed", WAIT_MS)); /* only a failed run is re-run */
    ans = api_post(t, "rerun", run, 202);
    rerun = json_integer_value(json_object_get(ans, "run_id"));
    json_decref(ans);
    assert_true(rerun > run);
    assert_true(ef_wait_status(&t->f, rerun, "succeeded", WAIT_MS)); /* A is held: B ran it */
}

/* So is a run an approval through the API put back in the queue. */
static void an_approval_through_the_api_wakes_an_idle_node(void **state)
{
    struct eng2 *t = *state;
    int64_t run;

    two_nodes(t, "approve");
    run = ef_submit(&t->f, t->a, "ask", NULL);
    assert_true(run > 0);
    assert_true(ef_wait_status(&t->f, run, "waiting", WAIT_MS)); /* B ran it to its approval */
    json_decref(api_post(t, "approve", run, 200));
    assert_true(ef_wait_status(&t->f, run, "succeeded", WAIT_MS)); /* A is held: B ran the rest */
    assert_int_equal(fakeconn_calls("asked"), 1);
}

/* A node coming back (engine_new) puts the runs its earlier life held back
 * in the queue, and says so: idle B runs them. Node C is only created,
 * never started, so its own workers cannot take them. */
static void a_node_releasing_its_earlier_lifes_runs_wakes_an_idle_node(void **state)
{
    struct eng2 *t = *state;
    struct store_run_in rin = {"quick", 1};
    struct store_ingest_item it;
    struct store_run *claimed[4];
    struct engine_opts o;
    struct engine *c = NULL;
    struct idf_err err;
    int64_t run = 0;
    size_t n = 0;

    two_nodes(t, "released");
    memset(&it, 0, sizeof it);
    it.event.source = "test";
    it.event.type = "fake.event";
    it.event.data = "{}";
    it.runs = &rin;
    it.n_runs = 1;
    it.run_ids = &run;
    /* The store alone: no engine tells anyone. B's worker may still make one claim round
     * just after it started (a wake-up at its listener's start), and take a run created
     * then before node-c's claim: then it runs that one, and the next is node-c's. */
    for (int tries = 0; tries < 20 && n == 0; tries++) {
        it.event.source_id = NULL; /* a fresh event each try (the store generates its id) */
        OK(store_ingest(t->f.st, &it, 1, &err));
        OK(store_run_claim(t->f.st, "node-c/w0", time_now_ms(), HOUR_MS, 4, NULL, 0, claimed, &n, &err));
    }
    assert_int_equal(n, 1);
    assert_int_equal(claimed[0]->id, run);
    store_run_free(claimed[0]);

    memset(&o, 0, sizeof o);
    o.db_url = t->url;
    o.workflows_dir = t->f.wfdir;
    o.connectors = core_and_fake();
    o.node_id = "node-c";
    o.workers = 1;
    o.idle_poll_ms = HOUR_MS;
    OK(engine_new(&o, &c, &err)); /* releases node-c's leases */
    engine_free(c);
    assert_true(ef_wait_status(&t->f, run, "succeeded", WAIT_MS)); /* A is held: B ran it */
}

/* Reads the notifications on raw (a LISTENing libpq connection) until none
 * came for QUIET_MS; adds them to *n, and the monotonic ms of the last to
 * *last_ms. */
static void collect(PGconn *raw, int *n, int64_t *last_ms)
{
    for (;;) {
        struct pollfd p = {.fd = PQsocket(raw), .events = POLLIN};
        PGnotify *nt;
        int got = 0;

        if (poll(&p, 1, QUIET_MS) <= 0)
            return;
        assert_int_equal(PQconsumeInput(raw), 1);
        while ((nt = PQnotifies(raw)) != NULL) {
            got++;
            PQfreemem(nt);
        }
        *n += got;
        if (got)
            *last_ms = mono_ms();
    }
}

static void a_node_notifies_at_most_once_per_gap_and_never_for_nothing_runnable(void **state)
{
    struct eng2 *t = *state;
    const int n_events = 60;
    struct engine_event ev;
    struct engine_ack ack;
    struct idf_err err;
    json_t *data = json_object();
    PGresult *r;
    int n = 0;
    int64_t t0, last = 0, elapsed;

    assert_true(test_url("gap", t->url, sizeof t->url));
    assert_int_equal(ef_init_url(&t->f, t->url), 0);
    assert_int_equal(ef_workflow(&t->f, "quick", QUICK), 0);
    t->a = ef_engine(&t->f, &(struct engine_opts){.node_id = "node-a", .workers = 1, .idle_poll_ms = HOUR_MS});
    assert_non_null(t->a);
    t->raw = PQconnectdb(t->url);
    assert_int_equal(PQstatus(t->raw), CONNECTION_OK);
    r = PQexec(t->raw, "LISTEN " STORE_CHANNEL_WORK);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    /* acknowledged events that start no run: nothing became runnable */
    memset(&ev, 0, sizeof ev);
    ev.source = "test";
    ev.type = "other.event";
    ev.data = data;
    for (int i = 0; i < 5; i++)
        OK(engine_submit(t->a, &ev, &ack, &err));
    assert_int_equal(ack.n_runs, 0);
    collect(t->raw, &n, &last);
    assert_int_equal(n, 0);

    /* commits one after the other, each creating a run */
    t0 = mono_ms();
    for (int i = 0; i < n_events; i++)
        assert_true(ef_submit(&t->f, t->a, "quick", NULL) > 0);
    collect(t->raw, &n, &last);
    elapsed = last - t0;
    printf("# %d commits in %lld ms: %d notifications (at most one per %d ms)\n", n_events, (long long)elapsed, n,
           ENGINE__NOTIFY_GAP_MS);
    assert_true(n >= 1);
    assert_true(n < n_events);
    assert_true(n <= (elapsed + 1) / ENGINE__NOTIFY_GAP_MS + 1); /* sends >= the gap apart; +1: ms clock */
    json_decref(data);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_listener_is_woken_by_another_connections_notify),
        cmocka_unit_test(notifications_that_arrived_together_are_one_wakeup_and_its_own_never_wake_it),
        cmocka_unit_test(a_readable_wake_fd_ends_the_wait_not_woken),
        cmocka_unit_test(a_broken_listening_connection_is_edb),
        cmocka_unit_test(bad_channels_are_refused),
        cmocka_unit_test(notify_keeps_the_sessions_commits_durable),
        cmocka_unit_test(sqlite_notify_does_nothing_and_cannot_listen),
        cmocka_unit_test_setup_teardown(an_event_acknowledged_by_a_busy_node_is_run_by_an_idle_node_it_notified,
                                        eng2_setup, eng2_teardown),
        cmocka_unit_test_setup_teardown(a_node_whose_listening_connection_was_killed_listens_again, eng2_setup,
                                        eng2_teardown),
        cmocka_unit_test_setup_teardown(a_run_the_matcher_created_after_the_acknowledgement_is_run_by_an_idle_node,
                                        eng2_setup, eng2_teardown),
        cmocka_unit_test_setup_teardown(an_approval_through_the_api_wakes_an_idle_node, eng2_setup, eng2_teardown),
        cmocka_unit_test_setup_teardown(a_rerun_and_an_approval_from_the_cli_wake_an_idle_node, eng2_setup,
                                        eng2_teardown),
        cmocka_unit_test_setup_teardown(a_rerun_asked_through_the_api_wakes_an_idle_node, eng2_setup, eng2_teardown),
        cmocka_unit_test_setup_teardown(a_node_releasing_its_earlier_lifes_runs_wakes_an_idle_node, eng2_setup,
                                        eng2_teardown),
        cmocka_unit_test_setup_teardown(a_node_notifies_at_most_once_per_gap_and_never_for_nothing_runnable, eng2_setup,
                                        eng2_teardown),
    };
    if (argc >= 2 && !strcmp(argv[1], "__expr-worker")) /* the engines' evaluators exec this program */
        return expr_worker_main(argc - 1, argv + 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_engine_singleton.c — what must happen once in a cluster happens
 * once: two engines started inside the test program on one database
 * (tests/support/engine_fixture.h), no idflow process:
 *  - pollers: a polled connection is polled by one node only (the poll
 *    calls come from one poller thread); when that node stops, the other
 *    takes over; when it stalls inside a poll past the lease, the other
 *    takes over, and the stalled one does not poll again once it returns;
 *  - schedule: a tick fires once per tick with two nodes (no submission is
 *    absorbed as a duplicate), and the ticks go on when the holder stops; a
 *    restarted node takes back at once the schedule its dead process held;
 *  - node identity: an engine with the node id of a live one is refused
 *    with a message saying so, and the live node's runs are untouched; once
 *    the dead holder's node lease expired the node id starts and puts its
 *    runs back in the queue; a holder that was a process of this machine
 *    and is gone is taken over at once.
 * The leases' ttl is short here (engine_opts.singleton_ttl_ms,
 * node_ttl_ms) and every wait polls with a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "connectors/registry.h"
#include "core/timeutil.h"
#include "credentials/credentials.h"
#include "crypto/seal.h"
#include "expr/expr.h"
#include "support/engine_fixture.h"
#include "support/fakeconn.h"
#include "support/testutil.h"

#define WAIT_MS 10000 /* deadline of every wait: generous for a loaded machine */
#define TTL_MS 600    /* the singleton leases' ttl in these tests */
#define OK(x) assert_int_equal((x), 0)

/* ------------------------------------------- a connector that is polled */

#define POLLS_MAX 100000

/* Every poll call's thread, in order; the thread that blocks its polls
 * while `stall` is set. Guarded by lock. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t who[POLLS_MAX];
    int n;
    bool stall;
    pthread_t stall_thread;
} P = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static int poll_fn(struct conn_poll *cp)
{
    pthread_t self = pthread_self();

    pthread_mutex_lock(&P.lock);
    if (P.n < POLLS_MAX)
        P.who[P.n++] = self;
    while (P.stall && pthread_equal(P.stall_thread, self))
        pthread_cond_wait(&P.cond, &P.lock);
    pthread_mutex_unlock(&P.lock);
    cp->next_poll_ms = 20;
    return 0;
}

static const struct conn_field poll_fields[] = {
    {"token", true, true, "a secret"},
    {"mode", false, false, "poll"},
    {NULL, false, false, NULL},
};
static int poll_validate(json_t *config, struct idf_err *err)
{
    (void)config;
    (void)err;
    return 0;
}
static const struct conn_connection_kind poll_kind = {poll_fields, poll_validate, NULL};
static const struct conn_ingress poll_ingress = {.poll = poll_fn, .poll_interval_ms = 20};
static const struct conn_trigger poll_triggers[] = {{.name = "pollme.event", .doc = "polled"}, {.name = NULL}};
static const struct connector pollme = {
    .name = "pollme", .connection = &poll_kind, .triggers = poll_triggers, .ingress = &poll_ingress};

static int polls(void)
{
    int n;
    pthread_mutex_lock(&P.lock);
    n = P.n;
    pthread_mutex_unlock(&P.lock);
    return n;
}

static pthread_t poll_thread(int i)
{
    pthread_t t;
    pthread_mutex_lock(&P.lock);
    t = P.who[i];
    pthread_mutex_unlock(&P.lock);
    return t;
}

/* Distinct threads among polls [from, to). */
static int poll_threads(int from, int to)
{
    pthread_t seen[8];
    int n = 0;
    for (int i = from; i < to; i++) {
        pthread_t t = poll_thread(i);
        bool dup = false;
        for (int k = 0; k < n; k++)
            dup = dup || pthread_equal(seen[k], t);
        if (!dup && n < 8)
            seen[n++] = t;
    }
    return n;
}

static bool polls_reach(void *ud)
{
    return polls() >= *(int *)ud;
}

/* a poll after index `from` came from a thread other than `t` */
struct other_want {
    int from;
    pthread_t t;
};
static bool other_polled(void *ud)
{
    struct other_want *w = ud;
    int n = polls();
    for (int i = w->from; i < n; i++)
        if (!pthread_equal(poll_thread(i), w->t))
            return true;
    return false;
}

/* the fake connector and pollme (set by pfx_setup: fakeconn's is not a constant) */
static const struct connector *poll_list[2];
static const struct registry poll_registry = {poll_list, 2};

struct pfx {
    struct ef f;
    struct seal_key *key;
};

static int pfx_setup(void **state)
{
    struct pfx *p = calloc(1, sizeof *p);
    struct idf_err err;
    json_t *cfg;
    int rc;

    if (!p)
        return -1;
    *state = p;
    poll_list[0] = fakeconn_registry()->list[0];
    poll_list[1] = &pollme;
    pthread_mutex_lock(&P.lock);
    P.n = 0;
    P.stall = false;
    pthread_mutex_unlock(&P.lock);
    if (ef_init(&p->f) || seal_key_random(&p->key, &err))
        return -1;
    cfg = json_pack("{s:s, s:s}", "token", "t0k3n", "mode", "poll");
    rc = cred_save(p->f.st, p->key, &pollme, "c1", cfg, "cli:tester", NULL, &err);
    json_decref(cfg);
    if (rc)
        fprintf(stderr, "cred_save: %s\n", err.msg);
    return rc ? -1 : 0;
}

static int pfx_teardown(void **state)
{
    struct pfx *p = *state;
    pthread_mutex_lock(&P.lock);
    P.stall = false;
    pthread_cond_broadcast(&P.cond);
    pthread_mutex_unlock(&P.lock);
    ef_cleanup(&p->f);
    seal_key_free(p->key);
    free(p);
    return 0;
}

static struct engine *poll_engine(struct pfx *p, const char *node)
{
    struct engine_opts o = {
        .node_id = node, .workers = 1, .singleton_ttl_ms = TTL_MS, .key = p->key, .connectors = &poll_registry};
    struct engine *e = ef_engine(&p->f, &o);
    assert_non_null(e);
    return e;
}

/* The engine of fx whose node holds lease `name` now. */
static struct engine *holder_of(struct pfx *p, const char *name, struct engine *a, struct engine *b)
{
    char *owner = NULL;
    struct engine *e;
    OK(store_lease_get(p->f.st, name, &owner, NULL));
    e = strncmp(owner, "node-a#", 7) == 0 ? a : strncmp(owner, "node-b#", 7) == 0 ? b : NULL;
    if (!e)
        fail_msg("lease %s held by %s", name, owner);
    free(owner);
    return e;
}

static void one_node_polls_and_the_other_takes_over_when_it_stops(void **state)
{
    struct pfx *p = *state;
    struct engine *a = poll_engine(p, "node-a"), *b = poll_engine(p, "node-b"), *h;
    struct other_want w;
    int want = 40, n;

    /* 40 polls at 20 ms: over a second, so each node tried the lease several times */
    assert_true(tu_wait_until(polls_reach, &want, WAIT_MS));
    n = polls();
    assert_int_equal(poll_threads(0, n), 1);
    h = holder_of(p, "poll:pollme:c1", a, b);

    w.from = polls();
    w.t = poll_thread(n - 1);
    ef_engine_free(&p->f, h); /* a clean stop drops the lease */
    assert_true(tu_wait_until(other_polled, &w, WAIT_MS));
    want = polls() + 10;
    assert_true(tu_wait_until(polls_reach, &want, WAIT_MS));
    assert_int_equal(poll_threads(w.from, polls()), 1);
}

static void a_stalled_holder_loses_the_connection_to_the_other_node(void **state)
{
    struct pfx *p = *state;
    struct other_want w;
    int want = 20, n, after;
    int64_t stalled_at;

    (void)poll_engine(p, "node-a");
    (void)poll_engine(p, "node-b");
    assert_true(tu_wait_until(polls_reach, &want, WAIT_MS));
    n = polls();
    assert_int_equal(poll_threads(0, n), 1);

    /* the holder's next poll hangs (a node that stopped answering) */
    pthread_mutex_lock(&P.lock);
    P.stall_thread = P.who[P.n - 1];
    P.stall = true;
    pthread_mutex_unlock(&P.lock);
    stalled_at = time_now_ms();
    w.from = n;
    w.t = P.stall_thread;
    assert_true(tu_wait_until(other_polled, &w, WAIT_MS));
    /* not before its lease ran out */
    assert_true(time_now_ms() - stalled_at >= TTL_MS / 2);

    /* the stalled node comes back: it finds the lease taken and polls no more */
    pthread_mutex_lock(&P.lock);
    P.stall = false;
    pthread_cond_broadcast(&P.cond);
    after = P.n;
    pthread_mutex_unlock(&P.lock);
    want = after + 2 * TTL_MS / 20; /* two ttl's worth of polls */
    assert_true(tu_wait_until(polls_reach, &want, WAIT_MS));
    n = polls();
    for (int i = after; i < n; i++)
        if (pthread_equal(poll_thread(i), w.t))
            fail_msg("poll %d (of %d) came from the node that lost the lease", i, n);
}

/* ----------------------------------------------------------- schedule */

static const char *TICK = "name: tick\non:\n  schedule: {cron: \"* * * * * *\"}\nsteps:\n"
                          "  - id: s\n    do: fake.call\n    with: {key: tick}\n";

static long long metric(struct engine *e, const char *name)
{
    char *m = engine_metrics(e), *at, line[128];
    long long v = -1;
    assert_non_null(m);
    snprintf(line, sizeof line, "\n%s ", name); /* the sample, not its # HELP line */
    at = strstr(m, line);
    if (at)
        v = atoll(at + strlen(line));
    free(m);
    return v;
}

static size_t tick_runs(struct ef *f)
{
    struct store_run_filter flt = {.workflow = "tick", .limit = 1000};
    struct store_run *rows = NULL;
    size_t n = 0;
    OK(store_run_list(f->st, &flt, &rows, &n));
    store_run_list_free(rows, n);
    return n;
}

struct runs_want {
    struct ef *f;
    size_t n;
};
static bool runs_reach(void *ud)
{
    struct runs_want *w = ud;
    return tick_runs(w->f) >= w->n;
}

/* Both engines' acknowledged events add up to the tick runs in the store.
 * An engine counts an event after its commit, and a tick a second goes on
 * meanwhile, so the two are read together until they agree (a tick that
 * made no run, or two, would never let them). */
struct two_engines {
    struct ef *f;
    struct engine *a, *b;
};
static bool events_match_runs(void *ud)
{
    struct two_engines *t = ud;
    return metric(t->a, "idflow_events_total") + metric(t->b, "idflow_events_total") == (long long)tick_runs(t->f);
}

/* the fake connector and core (whose trigger `schedule` is) */
static const struct connector *tick_list[2];
static const struct registry tick_registry = {tick_list, 2};

static void a_schedule_ticks_once_per_tick_with_two_nodes(void **state)
{
    struct ef *f = *state;
    struct engine_opts o = {.workers = 1, .singleton_ttl_ms = TTL_MS, .connectors = &tick_registry};
    struct engine *a, *b, *h;
    struct runs_want w = {f, 4};
    char *owner = NULL;
    size_t before;

    tick_list[0] = fakeconn_registry()->list[0];
    tick_list[1] = registry_find(registry_default(), "core");
    assert_non_null(tick_list[1]);
    OK(ef_workflow(f, "tick", TICK));
    o.node_id = "node-a";
    a = ef_engine(f, &o);
    o.node_id = "node-b";
    b = ef_engine(f, &o);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(tu_wait_until(runs_reach, &w, WAIT_MS));
    /* every tick was submitted once: none came in twice and was absorbed */
    assert_int_equal(metric(a, "idflow_events_duplicate_total") + metric(b, "idflow_events_duplicate_total"), 0);
    struct two_engines both = {f, a, b};
    if (!tu_wait_until(events_match_runs, &both, WAIT_MS))
        fail_msg("events %lld + %lld, tick runs %zu", metric(a, "idflow_events_total"),
                 metric(b, "idflow_events_total"), tick_runs(f));

    /* the holder stops: the other one ticks on */
    OK(store_lease_get(f->st, "schedule", &owner, NULL));
    h = strncmp(owner, "node-a#", 7) == 0 ? a : b;
    free(owner);
    ef_engine_free(f, h);
    before = tick_runs(f);
    w.n = before + 3;
    assert_true(tu_wait_until(runs_reach, &w, WAIT_MS));
    assert_int_equal(metric(h == a ? b : a, "idflow_events_duplicate_total"), 0);
}

/* A restarted node gets back at once the schedule its earlier, dead process
 * held (an owner "<node_id>#..." other than its own: the node lease proves
 * that process gone), rather than after that lease's ttl. */
static void a_restarted_node_takes_back_its_dead_processs_schedule_at_once(void **state)
{
    struct ef *f = *state;
    struct engine_opts o = {.node_id = "solo", .workers = 1, .singleton_ttl_ms = TTL_MS, .connectors = &tick_registry};
    struct runs_want w = {f, 2};
    bool held = false;

    tick_list[0] = fakeconn_registry()->list[0];
    tick_list[1] = registry_find(registry_default(), "core");
    OK(ef_workflow(f, "tick", TICK));
    OK(store_lease_take(f->st, "schedule", "solo#4242.1.0@another-machine:pid:[1]", time_now_ms(), 3600000, &held,
                        NULL));
    assert_true(held);
    assert_non_null(ef_engine(f, &o));
    assert_true(tu_wait_until(runs_reach, &w, WAIT_MS));
}

/* ------------------------------------------------------ node identity */

static bool run_status_is(struct ef *f, int64_t id, const char *status)
{
    struct store_run *r = ef_run(f, id);
    bool ok = r && strcmp(r->status, status) == 0;
    store_run_free(r);
    return ok;
}

static const char *SLOW = "on: fake.event\nsteps:\n  - id: s\n    do: fake.call\n    with: {key: slow}\n";

static void a_second_engine_with_a_live_node_id_is_refused_and_changes_nothing(void **state)
{
    struct ef *f = *state;
    struct engine_opts o = {.node_id = "same", .workers = 1};
    struct fakeconn_answer gate = {.what = FAKECONN_OK, .gate = "slow"};
    struct engine *a, *b = NULL;
    struct store_run *r;
    struct idf_err err;
    int64_t run;
    int attempt;

    OK(ef_workflow(f, "slow", SLOW));
    fakeconn_script("slow", &gate, -1);
    a = ef_engine(f, &o);
    assert_non_null(a);
    run = ef_submit(f, a, "slow", NULL);
    assert_true(fakeconn_wait_calls("slow", 1, WAIT_MS)); /* running, leased to same/w0 */
    r = ef_run(f, run);
    assert_non_null(r);
    attempt = r->attempt;
    store_run_free(r);

    o.db_url = f->db_url;
    o.workflows_dir = f->wfdir;
    o.connectors = fakeconn_registry();
    idf_err_clear(&err);
    assert_int_equal(engine_new(&o, &b, &err), IDF_EBUSY);
    assert_null(b);
    assert_non_null(strstr(err.msg, "node id same is in use by a live node (held until "));
    assert_non_null(strstr(err.msg, "give each node its own --node-id"));
    /* the live node's run is its own still */
    r = ef_run(f, run);
    assert_non_null(r);
    assert_string_equal(r->status, "running");
    assert_int_equal(r->attempt, attempt);
    assert_int_equal(r->interrupted, 0);
    store_run_free(r);
    fakeconn_open("slow");
    assert_true(ef_wait_status(f, run, "succeeded", WAIT_MS));
    assert_int_equal(fakeconn_calls("slow"), 1);
}

/* A run of workflow "slow" claimed by owner (a node's worker), in the store only. */
static int64_t claimed_run(struct ef *f, const char *owner)
{
    struct store_run_in runs[1] = {{"slow", 1}};
    struct store_ingest_item it = {0};
    struct store_run *got = NULL;
    size_t n = 0;
    int64_t id = 0;

    it.event = (struct store_event_in){"test", NULL, "fake.event", NULL, "{}"};
    it.runs = runs;
    it.n_runs = 1;
    it.run_ids = &id;
    OK(store_ingest(f->st, &it, 1, NULL));
    OK(store_run_claim(f->st, owner, time_now_ms(), 60000, 1, NULL, 0, &got, &n, NULL));
    assert_int_equal(n, 1);
    assert_int_equal(got[0].id, id);
    store_run_list_free(got, n);
    return id;
}

/* engine_new of node id `node` (not started), freed at once: its rc. */
static int new_engine(struct ef *f, const char *node, struct idf_err *err)
{
    struct engine_opts o = {.node_id = node,
                            .workers = 1,
                            .db_url = f->db_url,
                            .workflows_dir = f->wfdir,
                            .connectors = fakeconn_registry()};
    struct engine *e = NULL;
    int rc;
    idf_err_clear(err);
    rc = engine_new(&o, &e, err);
    engine_free(e);
    return rc;
}

struct new_want {
    struct ef *f;
    const char *node;
};
static bool engine_starts(void *ud)
{
    struct new_want *w = ud;
    struct idf_err err;
    return new_engine(w->f, w->node, &err) == 0;
}

static void a_dead_nodes_id_starts_once_its_lease_expired_and_resumes_its_runs(void **state)
{
    struct ef *f = *state;
    struct new_want w = {f, "ghost"};
    struct idf_err err;
    bool held = false;
    int64_t run, t0;

    OK(ef_workflow(f, "slow", SLOW));
    OK(new_engine(f, "loader", &err)); /* stores the workflow */
    run = claimed_run(f, "ghost/w0");
    /* node ghost died on another machine, its node lease still running */
    t0 = time_now_ms();
    OK(store_lease_take(f->st, "node:ghost", "ghost#4242.1.0@another-machine:pid:[1]", t0, 800, &held, NULL));
    assert_true(held);
    assert_int_equal(new_engine(f, "ghost", &err), IDF_EBUSY);
    assert_non_null(strstr(err.msg, "node id ghost is in use by a live node"));
    assert_true(run_status_is(f, run, "running")); /* nothing released */

    assert_true(tu_wait_until(engine_starts, &w, WAIT_MS));
    /* the engine that started dropped its node lease when it was freed */
    assert_int_equal(store_lease_get(f->st, "node:ghost", NULL, NULL), IDF_ENOTFOUND);
    assert_true(time_now_ms() >= t0 + 800);       /* not before it expired */
    assert_true(run_status_is(f, run, "queued")); /* its run is back in the queue */
}

/* This machine's "<boot_id>:<pid namespace>", as node.c writes it. */
static void host_ident(char *out, size_t n)
{
    char boot[64] = "", ns[64] = "";
    FILE *fp = fopen("/proc/sys/kernel/random/boot_id", "r");
    ssize_t k = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
    assert_non_null(fp);
    assert_non_null(fgets(boot, sizeof boot, fp));
    fclose(fp);
    boot[strcspn(boot, "\n")] = '\0';
    assert_true(k > 0);
    ns[k] = '\0';
    snprintf(out, n, "%s:%s", boot, ns);
}

static void a_crashed_process_of_this_machine_is_taken_over_at_once(void **state)
{
    struct ef *f = *state;
    char host[128], owner[256];
    struct idf_err err;
    bool held = false;
    pid_t child = fork();
    int64_t run;

    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child); /* its pid is free now: a dead process */
    OK(ef_workflow(f, "slow", SLOW));
    OK(new_engine(f, "loader", &err));
    run = claimed_run(f, "crashed/w0");
    host_ident(host, sizeof host);
    snprintf(owner, sizeof owner, "crashed#%ld.12345.0@%s", (long)child, host);
    OK(store_lease_take(f->st, "node:crashed", owner, time_now_ms(), 3600000, &held, NULL));
    assert_true(held);
    /* an hour left on the lease, but its process is gone */
    OK(new_engine(f, "crashed", &err));
    assert_true(run_status_is(f, run, "queued"));

    /* a live process of this machine (this one, another engine) is not */
    snprintf(owner, sizeof owner, "alive#%ld.1.99@%s", (long)getpid(), host);
    OK(store_lease_take(f->st, "node:alive", owner, time_now_ms(), 3600000, &held, NULL));
    assert_int_equal(new_engine(f, "alive", &err), IDF_EBUSY);
}

static void a_node_id_with_a_hash_or_a_slash_is_refused(void **state)
{
    struct ef *f = *state;
    struct idf_err err;
    assert_int_equal(new_engine(f, "a#b", &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "without '#' or '/'"));
    /* a '/' would let node "a" release node "a/b"'s runs at its start */
    assert_int_equal(new_engine(f, "a/b", &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "node id 'a/b'"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_node_polls_and_the_other_takes_over_when_it_stops, pfx_setup, pfx_teardown),
        cmocka_unit_test_setup_teardown(a_stalled_holder_loses_the_connection_to_the_other_node, pfx_setup,
                                        pfx_teardown),
        cmocka_unit_test_setup_teardown(a_schedule_ticks_once_per_tick_with_two_nodes, ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(a_restarted_node_takes_back_its_dead_processs_schedule_at_once, ef_setup,
                                        ef_teardown),
        cmocka_unit_test_setup_teardown(a_second_engine_with_a_live_node_id_is_refused_and_changes_nothing, ef_setup,
                                        ef_teardown),
        cmocka_unit_test_setup_teardown(a_dead_nodes_id_starts_once_its_lease_expired_and_resumes_its_runs, ef_setup,
                                        ef_teardown),
        cmocka_unit_test_setup_teardown(a_crashed_process_of_this_machine_is_taken_over_at_once, ef_setup, ef_teardown),
        cmocka_unit_test_setup_teardown(a_node_id_with_a_hash_or_a_slash_is_refused, ef_setup, ef_teardown),
    };
    if (argc >= 2 && !strcmp(argv[1], "__expr-worker")) /* the engine's evaluators exec this program */
        return expr_worker_main(argc - 1, argv + 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_pace_nodes.c — budgets, ticket locks and Okta's concurrency cap hold
 * across nodes sharing one database (engine/coord.c, connector.h "coordination
 * across nodes").
 *
 *  - HappyFox: two `idflow serve` nodes on one database and one sandbox
 *    account with a small budget (the sandbox locks the account out with a
 *    429 past it, as HappyFox does) and a ticket that answers 409 to an
 *    overlapping call. Every run of a workflow writes a note on the SAME
 *    ticket; runs are claimed by both nodes. Together the nodes stay within
 *    the one budget (no 429) and never overlap on the ticket (no 409), and
 *    every note lands once.
 *  - Okta: two "nodes" in this process (two connection names on one sandbox
 *    org: two rate-limiter scopes, each the limiter of one node) whose
 *    threads each hand the actions a coord over its own store connection, on
 *    a store where two node leases are live. Each node is configured with
 *    the org's whole concurrency limit; with the cap split by the node count
 *    the sandbox never answers the concurrency 429 that two nodes at the full
 *    cap meet at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "connectors/registry.h"
#include "core/timeutil.h"
#include "engine/coord.h"
#include "net/http.h"
#include "sandbox/sandbox.h"
#include "store/store.h"
#include "support/serve_fixture.h"

#define HOOK_SECRET "hook-secret-0123456789-abcdefXYZ"
#define HF_BASIC "Authorization: Basic c2FuZGJveC1oZi1rZXk6c2FuZGJveC1oZi1jb2Rl" /* sandbox-hf-key:sandbox-hf-code */
#define N_NOTES 40
#define HF_POST_BUDGET 12 /* POSTs a window, the account's (and the connection's) */
#define HF_GET_BUDGET 30
#define WAIT_MS 90000

static struct sfx A = {.secrets = {HOOK_SECRET, NULL}};
static struct sfx B = {.secrets = {HOOK_SECRET, NULL}, .no_sandbox = true};

static json_t *call(const char *method, const char *url, const char *body, const char *const *headers, long want)
{
    long status = 0;
    json_t *j = sfx_assert_http_json(method, url, body, headers, &status);
    if (status != want) {
        char *d = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        fail_msg("%s %s: HTTP %ld, expected %ld: %s", method, url, status, want, d ? d : "");
    }
    return j;
}

static json_t *hf_limits_at(const char *sb)
{
    char url[300];
    snprintf(url, sizeof url, "%s/_sandbox/happyfox/limits", sb);
    return call("GET", url, NULL, NULL, 200);
}

static json_t *hf_limits(void)
{
    return hf_limits_at(A.sb);
}

/* Runs of workflow `wf` in status. */
static int count_runs(struct sfx *f, const char *wf, const char *status)
{
    char url[300];
    json_t *l;
    int n;
    snprintf(url, sizeof url, "%s/api/v1/runs?workflow=%s&status=%s&limit=500", f->base, wf, status);
    l = call("GET", url, NULL, NULL, 200);
    n = (int)json_array_size(json_object_get(l, "runs"));
    json_decref(l);
    return n;
}

static bool all_notes_done(void *ud)
{
    (void)ud;
    return count_runs(&A, "note-on-ticket", "succeeded") == N_NOTES;
}

static long long metric(struct sfx *f, const char *name)
{
    long long v = -1;
    assert_int_equal(sfx_metric(f, name, &v), 0);
    return v;
}

/* Node b finished a few runs: the budget binds it (it is waiting on it
 * for the rest of its half) when node a joins. */
static bool b_is_under_way(void *ud)
{
    long long v = -1;
    (void)ud;
    return sfx_metric(&B, "idflow_runs_finished_total{status=\"succeeded\"}", &v) == 0 && v >= 5;
}

/* Webhook events n = from..to-1 through node f, each a note on ticket. */
static void post_notes(struct sfx *f, long long ticket, int from, int to)
{
    const char *h[] = {"Authorization: Bearer " HOOK_SECRET, NULL};
    char url[300], body[200];

    snprintf(url, sizeof url, "%s/hooks/webhook/gh", f->base);
    for (int n = from; n < to; n++) {
        snprintf(body, sizeof body, "{\"ticket\": %lld, \"n\": %d}", ticket, n);
        json_decref(call("POST", url, body, h, 200));
    }
}

/* Both nodes' finished-run counters add up to every note. A worker bumps
 * its counter after its run's commit, so the store can show the last run
 * succeeded a moment before its node's counter does. */
static bool counters_add_up(void *ud)
{
    long long a = -1, b = -1;
    (void)ud;
    return sfx_metric(&A, "idflow_runs_finished_total{status=\"succeeded\"}", &a) == 0 &&
           sfx_metric(&B, "idflow_runs_finished_total{status=\"succeeded\"}", &b) == 0 && a + b >= N_NOTES;
}

static void test_happyfox_two_nodes_one_budget_one_ticket(void **state)
{
    const char *hf_env[] = {"HF_KEY=sandbox-hf-key", "HF_CODE=sandbox-hf-code", NULL};
    const char *basic[] = {HF_BASIC, NULL};
    char url[300], hs[400], limits[300];
    long long ticket, done_a, done_b;
    json_t *t, *lim;
    int notes = 0;
    size_t i;
    (void)state;

    assert_int_equal(sfx_start(&A, NULL), 0);
    assert_int_equal(sfx_start(&B, NULL), 0);
    snprintf(B.db, sizeof B.db, "%s", A.db); /* one database */
    assert_int_equal(sfx_write_secret(&A, "hook_secret", HOOK_SECRET, hs, sizeof hs), 0);
    /* the ticket every run writes (created before the budget is set) */
    snprintf(url, sizeof url, "%s/api/1.1/json/tickets/", A.sb);
    t = call(
        "POST", url,
        "{\"category\":1,\"subject\":\"Shared\",\"text\":\"help\",\"name\":\"Lin Chen\",\"email\":\"lin@acme.test\"}",
        basic, 200);
    ticket = (long long)json_integer_value(json_object_get(t, "id"));
    json_decref(t);
    assert_true(ticket > 0);
    /* the account: a small budget a 2-second window, a ticket busy for 200 ms per call */
    snprintf(url, sizeof url, "%s/_sandbox/happyfox/limits", A.sb);
    snprintf(limits, sizeof limits,
             "{\"post_per_minute\": %d, \"get_per_minute\": %d, \"window_seconds\": 2, \"lockout_seconds\": 60, "
             "\"ticket_busy_ms\": 200}",
             HF_POST_BUDGET, HF_GET_BUDGET);
    json_decref(call("POST", url, limits, NULL, 200));

    assert_int_equal(
        sfx_write_wf(&A, "note",
                     "name: note-on-ticket\non:\n  webhook: {connection: gh}\nsteps:\n"
                     "  - id: note\n    do: happyfox.add_note\n"
                     "    with: {ticket: '${{ .event.data.ticket }}', text: 'note ${{ .event.data.n }}'}\n"),
        0);
    char post[16], get[16];
    snprintf(post, sizeof post, "%d", HF_POST_BUDGET);
    snprintf(get, sizeof get, "%d", HF_GET_BUDGET);
    assert_int_equal(sfx_idflow(&A, hf_env, NULL, "connect", "happyfox", "hd", "--url", A.sb, "--api-key-env", "HF_KEY",
                                "--auth-code-env", "HF_CODE", "--sandbox", "--staff", "Priya Raman",
                                "--post-per-minute", post, "--get-per-minute", get, "--rate-window-seconds", "2",
                                "--mode", "hook", "--hook-secret-file", hs, "--db", A.db, NULL),
                     0);
    assert_int_equal(sfx_idflow(&A, NULL, NULL, "connect", "webhook", "gh", "--secret-file", hs, "--db", A.db, NULL),
                     0);
    /* Node b starts and takes the first half of the events (its workers
     * claim them as they come); once it is working through them under the
     * budget, node a starts and is handed the second half (its workers,
     * woken by their own acknowledgements, claim them first): the two spend
     * the account's budget at the same time. */
    assert_int_equal(sfx_serve_start(&B, A.wfdir, (const char *[]){"--workers", "3", "--node-id", "node-b", NULL}), 0);
    post_notes(&B, ticket, 0, N_NOTES / 2);
    if (!tu_wait_until(b_is_under_way, NULL, WAIT_MS))
        fail_msg("node b finished no run");
    assert_int_equal(sfx_serve_start(&A, NULL, (const char *[]){"--workers", "3", "--node-id", "node-a", NULL}), 0);
    post_notes(&A, ticket, N_NOTES / 2, N_NOTES);
    bool finished = tu_wait_until(all_notes_done, NULL, WAIT_MS);

    lim = hf_limits();
    print_message("# happyfox: sandbox saw %lld x 429, %lld x 409\n",
                  (long long)json_integer_value(json_object_get(lim, "refused_429")),
                  (long long)json_integer_value(json_object_get(lim, "refused_409")));
    assert_int_equal(json_integer_value(json_object_get(lim, "refused_429")), 0);
    assert_int_equal(json_integer_value(json_object_get(lim, "refused_409")), 0);
    assert_false(json_is_true(json_object_get(lim, "locked_out")));
    json_decref(lim);
    if (!finished)
        fail_msg("%d of %d runs succeeded in %d ms", count_runs(&A, "note-on-ticket", "succeeded"), N_NOTES, WAIT_MS);
    /* both nodes ran some of them */
    (void)tu_wait_until(counters_add_up, NULL, WAIT_MS);
    done_a = metric(&A, "idflow_runs_finished_total{status=\"succeeded\"}");
    done_b = metric(&B, "idflow_runs_finished_total{status=\"succeeded\"}");
    print_message("# happyfox: %d notes, node a ran %lld, node b %lld; 0 x 429, 0 x 409\n", N_NOTES, done_a, done_b);
    /* (Which node claims which run is the engine's choice: usually both run
     * some, sometimes one runs them all; test_happyfox_two_processes_one_budget
     * is the deterministic two-sender case. This one checks the engine hands
     * every worker a coord.) */
    assert_int_equal(done_a + done_b, N_NOTES);
    /* every note landed exactly once (raise the budget so the check reads freely) */
    snprintf(url, sizeof url, "%s/_sandbox/happyfox/limits", A.sb);
    json_decref(call("POST", url, "{\"get_per_minute\": 1000, \"window_seconds\": 60}", NULL, 200));
    snprintf(url, sizeof url, "%s/api/1.1/json/ticket/%lld/", A.sb, ticket);
    t = call("GET", url, NULL, basic, 200);
    json_t *u;
    json_array_foreach (json_object_get(t, "updates"), i, u) {
        const char *mt = json_string_value(json_object_get(json_object_get(u, "message"), "message_type"));
        notes += mt && strcmp(mt, "p") == 0;
    }
    json_decref(t);
    assert_int_equal(notes, N_NOTES);
    assert_int_equal(sfx_serve_stop(&B), 0);
    assert_int_equal(sfx_serve_stop(&A), 0);
    assert_int_equal(sfx_stop(&B), 0);
    assert_int_equal(sfx_stop(&A), 0);
}

/* ------------------------------------------- two processes, one account */

#define PROC_THREADS 2 /* per process */
#define PROC_NOTES 10  /* per thread */

struct hf_node_thread {
    const char *db;     /* the shared store */
    const json_t *conn; /* the account's connection */
    const char *node;   /* "p1", "p2": its lock holder names */
    int index;
    long long ticket;
    int failed;
};

static void *hf_node_thread(void *ud)
{
    struct hf_node_thread *t = ud;
    const struct conn_action *a = registry_find_action(registry_default(), "happyfox.add_note");
    struct http_client *http = NULL;
    struct store *st = NULL;
    struct engine_coord co;
    struct idf_err err = {0};
    char owner[64];

    snprintf(owner, sizeof owner, "%s/t%d", t->node, t->index);
    if (http_client_new(&http) || store_open(t->db, &st, &err)) {
        fprintf(stderr, "%s: setup: %s\n", owner, err.msg);
        t->failed++;
        goto out;
    }
    engine_coord_init(&co, st, owner);
    for (int i = 0; i < PROC_NOTES;) {
        json_t *params = json_pack("{s:I, s:s}", "ticket", (json_int_t)t->ticket, "text", owner);
        struct conn_result r = {0};
        /* run ids tell the processes' notes apart (the duplicate-write marker) */
        struct conn_call c = {.http = http,
                              .connection = t->conn,
                              .run_id = (t->node[1] - '0') * 1000 + t->index,
                              .step_id = "note",
                              .item = i,
                              .attempt = 1,
                              .coord = &co.pub};
        int rc = a->fn(&c, params, &r);
        if (rc == 0) {
            i++;
        } else if (r.retryable) {
            int64_t ms = r.retry_after_ms > 0 && r.retry_after_ms < 2000 ? r.retry_after_ms : 200;
            struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
            nanosleep(&ts, NULL); /* the engine's durable wait */
        } else {
            fprintf(stderr, "%s: %s\n", owner, r.message);
            t->failed++;
            i++;
        }
        conn_result_clear(&r);
        json_decref(params);
    }
out:
    store_close(st);
    http_client_free(http);
    return NULL;
}

/* One node: PROC_THREADS threads of PROC_NOTES notes each, thread i on
 * tickets[i]. 0 when all landed. */
static int run_hf_node(const char *node, const char *db, const json_t *conn, const long long *tickets)
{
    struct hf_node_thread th[PROC_THREADS];
    pthread_t pt[PROC_THREADS];
    int failed = 0;

    for (int i = 0; i < PROC_THREADS; i++) {
        th[i] = (struct hf_node_thread){.db = db, .conn = conn, .node = node, .index = i, .ticket = tickets[i]};
        if (pthread_create(&pt[i], NULL, hf_node_thread, &th[i]) != 0)
            return -1;
    }
    for (int i = 0; i < PROC_THREADS; i++) {
        pthread_join(pt[i], NULL);
        failed += th[i].failed;
    }
    return failed ? -1 : 0;
}

/* Two processes (each its own in-process budget and ticket locks, as two
 * nodes) write notes on one account at the same time, each handing the
 * connector a coord over its own connections to one store. one_ticket: all
 * on one ticket that answers 409 to an overlapping call (the ticket lease:
 * without it the processes overlap); else each thread on a ticket of its
 * own (the budget: without the store's window each process spends a whole
 * budget and the account answers 429 and locks itself out). Either way: no
 * 429, no 409, every note lands once. */
static void two_processes(bool one_ticket)
{
    struct sfx S = {.secrets = {NULL}};
    const char *basic[] = {HF_BASIC, NULL};
    char url[300], limits[300];
    struct store *st = NULL;
    struct idf_err err = {0};
    json_t *conn, *t, *lim, *u;
    long long tickets[2 * PROC_THREADS];
    int status = -1, notes = 0;
    size_t i;
    pid_t child;

    assert_int_equal(sfx_start(&S, NULL), 0);
    assert_int_equal(store_open(S.db, &st, &err), 0); /* the schema, before two processes open it */
    store_close(st);
    snprintf(url, sizeof url, "%s/api/1.1/json/tickets/", S.sb);
    for (int k = 0; k < 2 * PROC_THREADS; k++) {
        if (one_ticket && k > 0) {
            tickets[k] = tickets[0];
            continue;
        }
        t = call("POST", url,
                 "{\"category\":1,\"subject\":\"Shared\",\"text\":\"help\",\"name\":\"Lin Chen\",\"email\":"
                 "\"lin@acme.test\"}",
                 basic, 200);
        tickets[k] = (long long)json_integer_value(json_object_get(t, "id"));
        json_decref(t);
        assert_true(tickets[k] > 0);
    }
    snprintf(url, sizeof url, "%s/_sandbox/happyfox/limits", S.sb);
    snprintf(limits, sizeof limits,
             "{\"post_per_minute\": %d, \"get_per_minute\": %d, \"window_seconds\": 2, \"lockout_seconds\": 10, "
             "\"ticket_busy_ms\": %d}",
             HF_POST_BUDGET, HF_GET_BUDGET, one_ticket ? 200 : 0);
    json_decref(call("POST", url, limits, NULL, 200));
    conn =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:i, s:i, s:i}", "name", "hd", "kind", "happyfox", "url", S.sb,
                  "api_key", "sandbox-hf-key", "auth_code", "sandbox-hf-code", "staff", "Priya Raman", "sandbox", 1,
                  "post_per_minute", HF_POST_BUDGET, "get_per_minute", HF_GET_BUDGET, "rate_window_seconds", 2);

    child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(run_hf_node("p2", S.db, conn, tickets + PROC_THREADS) == 0 ? 0 : 1);
    assert_int_equal(run_hf_node("p1", S.db, conn, tickets), 0);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    lim = hf_limits_at(S.sb);
    print_message("# happyfox: 2 processes x %d threads x %d notes on %s: %lld x 429, %lld x 409\n", PROC_THREADS,
                  PROC_NOTES, one_ticket ? "one ticket" : "a ticket each",
                  (long long)json_integer_value(json_object_get(lim, "refused_429")),
                  (long long)json_integer_value(json_object_get(lim, "refused_409")));
    assert_int_equal(json_integer_value(json_object_get(lim, "refused_429")), 0);
    assert_int_equal(json_integer_value(json_object_get(lim, "refused_409")), 0);
    json_decref(lim);
    snprintf(url, sizeof url, "%s/_sandbox/happyfox/limits", S.sb);
    json_decref(call("POST", url, "{\"get_per_minute\": 1000, \"window_seconds\": 60}", NULL, 200));
    for (int k = 0; k < (one_ticket ? 1 : 2 * PROC_THREADS); k++) {
        snprintf(url, sizeof url, "%s/api/1.1/json/ticket/%lld/", S.sb, tickets[k]);
        t = call("GET", url, NULL, basic, 200);
        json_array_foreach (json_object_get(t, "updates"), i, u) {
            const char *mt = json_string_value(json_object_get(json_object_get(u, "message"), "message_type"));
            notes += mt && strcmp(mt, "p") == 0;
        }
        json_decref(t);
    }
    assert_int_equal(notes, 2 * PROC_THREADS * PROC_NOTES);
    json_decref(conn);
    assert_int_equal(sfx_stop(&S), 0);
}

static void test_happyfox_two_processes_one_budget(void **state)
{
    (void)state;
    two_processes(false);
}

static void test_happyfox_two_processes_one_ticket(void **state)
{
    (void)state;
    two_processes(true);
}

/* ------------------------------------------------------------------ okta */

#define OKTA_TOKEN "sbx-0123456789-abcdefghij-TOKEN"
#define OKTA_CONC 4    /* the org's concurrency limit, and each node's configured cap */
#define OKTA_THREADS 4 /* per node */
#define OKTA_CALLS 6   /* per thread */

struct okta_node_thread {
    const char *db;     /* the shared store */
    const json_t *conn; /* the node's connection */
    int ok, failed;
    char problem[256];
};

static void *okta_thread(void *ud)
{
    struct okta_node_thread *t = ud;
    const struct conn_action *a = registry_find_action(registry_default(), "okta.get_user");
    json_t *params = json_pack("{s:s}", "user", "james.okafor@acme.example");
    struct http_client *http = NULL;
    struct store *st = NULL;
    struct engine_coord co;
    struct idf_err err = {0};
    char owner[64];

    snprintf(owner, sizeof owner, "test/%p", (void *)t);
    if (http_client_new(&http) || store_open(t->db, &st, &err)) {
        snprintf(t->problem, sizeof t->problem, "setup: %s", err.msg);
        t->failed++;
        goto out;
    }
    engine_coord_init(&co, st, owner);
    for (int i = 0; i < OKTA_CALLS;) {
        struct conn_result r = {0};
        struct conn_call c = {.http = http, .connection = t->conn, .attempt = 1, .item = -1, .coord = &co.pub};
        int rc = a->fn(&c, params, &r);
        if (rc == 0) {
            t->ok++;
            i++;
        } else if (r.retryable) {
            struct timespec ts = {0, (long)(r.retry_after_ms > 0 && r.retry_after_ms < 2000 ? r.retry_after_ms : 50) *
                                         1000000L};
            nanosleep(&ts, NULL); /* the engine's durable wait */
        } else {
            snprintf(t->problem, sizeof t->problem, "%s", r.message);
            t->failed++;
            i++;
        }
        conn_result_clear(&r);
    }
out:
    store_close(st);
    http_client_free(http);
    json_decref(params);
    return NULL;
}

static int count_okta_429(const char *sb)
{
    char url[300];
    json_t *calls;
    size_t i;
    json_t *c;
    int n = 0;
    snprintf(url, sizeof url, "%s/_sandbox/calls", sb);
    calls = call("GET", url, NULL, NULL, 200);
    json_array_foreach (json_is_array(calls) ? calls : json_object_get(calls, "calls"), i, c)
        n += json_integer_value(json_object_get(c, "status")) == 429;
    json_decref(calls);
    return n;
}

static void test_okta_two_nodes_split_the_cap(void **state)
{
    struct sfx S = {.secrets = {NULL}};
    struct okta_node_thread th[2 * OKTA_THREADS];
    pthread_t pt[2 * OKTA_THREADS];
    json_t *conn[2];
    struct store *st = NULL;
    struct idf_err err = {0};
    char url[300], spec[200];
    bool held = false;
    int ok = 0, n429;
    (void)state;

    assert_int_equal(sfx_start(&S, (const char *[]){"--token", OKTA_TOKEN, NULL}), 0);
    /* two live nodes in the shared store */
    assert_int_equal(store_open(S.db, &st, &err), 0);
    assert_int_equal(store_lease_take(st, "node:okta-a", "okta-a#1", time_now_ms(), 600000, &held, NULL), 0);
    assert_int_equal(store_lease_take(st, "node:okta-b", "okta-b#1", time_now_ms(), 600000, &held, NULL), 0);
    store_close(st);
    /* the org: OKTA_CONC calls in flight at most, each held 150 ms */
    snprintf(url, sizeof url, "%s/_sandbox/okta/config", S.sb);
    snprintf(spec, sizeof spec, "{\"concurrencyLimit\": %d}", OKTA_CONC);
    json_decref(call("POST", url, spec, NULL, 200));
    snprintf(url, sizeof url, "%s/_sandbox/faults", S.sb);
    json_decref(call("POST", url, "{\"spec\": \"path=/api/v1/users,latency=150ms\"}", NULL, 200));
    for (int k = 0; k < 2; k++)
        conn[k] = json_pack("{s:s, s:s, s:s, s:s, s:b, s:i}", "name", k ? "okta-node-b" : "okta-node-a", "kind", "okta",
                            "url", S.sb, "token", OKTA_TOKEN, "sandbox", 1, "max_concurrency", OKTA_CONC);
    for (int i = 0; i < 2 * OKTA_THREADS; i++) {
        th[i] = (struct okta_node_thread){.db = S.db, .conn = conn[i % 2]};
        assert_int_equal(pthread_create(&pt[i], NULL, okta_thread, &th[i]), 0);
    }
    for (int i = 0; i < 2 * OKTA_THREADS; i++) {
        pthread_join(pt[i], NULL);
        if (th[i].failed)
            fail_msg("thread %d: %s", i, th[i].problem);
        ok += th[i].ok;
    }
    n429 = count_okta_429(S.sb);
    print_message("# okta: %d calls from 2 nodes x %d threads, cap %d each, org limit %d: %d x 429\n", ok, OKTA_THREADS,
                  OKTA_CONC, OKTA_CONC, n429);
    assert_int_equal(ok, 2 * OKTA_THREADS * OKTA_CALLS);
    assert_int_equal(n429, 0);
    json_decref(conn[0]);
    json_decref(conn[1]);
    assert_int_equal(sfx_stop(&S), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_okta_two_nodes_split_the_cap),
        cmocka_unit_test(test_happyfox_two_processes_one_budget),
        cmocka_unit_test(test_happyfox_two_processes_one_ticket),
        cmocka_unit_test(test_happyfox_two_nodes_one_budget_one_ticket),
    };
    return cmocka_run_group_tests_name("pace_nodes", tests, NULL, NULL);
}

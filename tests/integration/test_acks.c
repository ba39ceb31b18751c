/* test_acks.c — acknowledgements never wait on a remote or a workflow.
 *
 * A real `idflow serve` and `idflow sandbox` on loopback; an Okta connection
 * ("sb", hooks only) and a HappyFox one ("hd", webhooks only). HappyFox is
 * made to answer every ticket read in 30 s (the sandbox's fault injection),
 * then 24 HappyFox webhooks arrive at once: each is answered within 3 s
 * (stored; the ticket is re-read after the answer). With those in the
 * engine, Okta's deliveries and /healthz are answered within Okta's 3-second
 * window and the Okta-driven run succeeds. Stopping serve does not wait for
 * the 30-second read. After a restart with HappyFox healthy again, every
 * acknowledged webhook has started its workflow exactly once: nothing
 * acknowledged was lost.
 *
 * Eight webhooks whose event makes a workflow's `when:` loop are answered at
 * once; the condition runs to the evaluator's budget after the answer,
 * starts nothing and is logged with its place in the file, while /healthz,
 * Okta's delivery and the Okta-driven run go through.
 *
 * And an event acknowledged but not yet matched when the process died (a
 * stored event in stage "match", written here straight into the store) is
 * matched at the next start and starts its run once.
 * IDFLOW_BIN is the binary, IDFLOW_SRC the source tree (for Okta samples). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "support/testutil.h"

#define TOKEN "sbx-0123456789-abcdefghij-TOKEN"
#define HOOK_SECRET "hook-secret-0123456789-abcdefXYZ"
#define HF_BASIC "Authorization: Basic c2FuZGJveC1oZi1rZXk6c2FuZGJveC1oZi1jb2Rl" /* key:code */
#define OKTA_WINDOW_MS 3000 /* Okta gives up on an event hook after 3 s */
#define N_TICKETS 4
#define N_WEBHOOKS 24 /* N_TICKETS tickets, each delivered 6 times */
#define WAIT_MS 20000
#define EXPR_BUDGET_MS 300 /* the evaluator's time budget in these tests */
#define STR_(x) #x
#define STR(x) STR_(x)

struct env {
    const char *bin, *src;
    struct tu_proc sandbox, serve;
    char sb[128], base[128], listen[64];
    char *dir;
    char db[400], wfdir[400];
    long long tickets[N_TICKETS];
};

static struct env E;

/* ---------------------------------------------------------------- helpers */

static json_t *call(const char *method, const char *url, const char *body, const char *const *headers, long want)
{
    char *resp = NULL;
    long status = 0;
    json_t *j;
    assert_int_equal(tu_http(method, url, body, headers, &status, &resp), 0);
    if (status != want)
        fail_msg("%s %s: HTTP %ld, expected %ld: %s", method, url, status, want, resp ? resp : "");
    j = resp && *resp ? json_loads(resp, JSON_DECODE_ANY, NULL) : NULL;
    free(resp);
    return j;
}

static void sandbox_faults(const char *body)
{
    char url[300];
    snprintf(url, sizeof url, "%s/_sandbox/faults", E.sb);
    json_decref(call(body ? "POST" : "DELETE", url, body, NULL, body ? 200 : 204));
}

static long long create_ticket(const char *subject)
{
    const char *h[] = {HF_BASIC, NULL};
    char url[300], body[400];
    json_t *t;
    long long n;
    snprintf(url, sizeof url, "%s/api/1.1/json/tickets/", E.sb);
    snprintf(body, sizeof body,
             "{\"category\":1,\"subject\":\"%s\",\"text\":\"help\",\"name\":\"Lin Chen\",\"email\":\"lin@acme.test\"}",
             subject);
    t = call("POST", url, body, h, 200);
    n = (long long)json_integer_value(json_object_get(t, "id"));
    json_decref(t);
    assert_true(n > 0);
    return n;
}

/* Runs of workflow in status (NULL: any). */
static int count_runs(const char *workflow, const char *status)
{
    char url[300];
    json_t *l;
    int n;
    snprintf(url, sizeof url, "%s/api/v1/runs?workflow=%s&limit=500%s%s", E.base, workflow,
             status ? "&status=" : "", status ? status : "");
    l = call("GET", url, NULL, NULL, 200);
    n = (int)json_array_size(json_object_get(l, "runs"));
    json_decref(l);
    return n;
}

struct want {
    const char *wf, *status;
    int n;
};

static bool runs_reached(void *ud)
{
    const struct want *w = ud;
    return count_runs(w->wf, w->status) >= w->n;
}

static void wait_runs(const char *wf, const char *status, int n)
{
    struct want w = {wf, status, n};
    if (!tu_wait_until(runs_reached, &w, WAIT_MS))
        fail_msg("no %d %s run(s) of %s after %d ms", n, status ? status : "", wf, WAIT_MS);
}

static int run_idflow(const char *const *args, const char *const *env)
{
    const char *argv[40];
    struct tu_proc p;
    int n = 0, rc;
    argv[n++] = E.bin;
    for (; *args && n < 39; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    if (tu_spawn(argv, env, &p))
        return -1;
    rc = tu_wait(&p, 30000);
    if (rc) {
        char *e = tu_proc_stderr(&p);
        fprintf(stderr, "idflow %s failed (%d):\n%s\n", args[0], rc, e);
        free(e);
    }
    tu_proc_cleanup(&p);
    return rc;
}

static int start_serve(void)
{
    char url[200];
    const char *argv[] = {E.bin, "serve", "--db", E.db, "--listen", E.listen, "--workflows", E.wfdir,
                          "--workers", "2", NULL};
    const char *env[] = {"IDFLOW_EXPR_TIMEOUT_MS=" STR(EXPR_BUDGET_MS), NULL};
    if (tu_spawn(argv, env, &E.serve))
        return -1;
    snprintf(url, sizeof url, "%s/readyz", E.base);
    if (tu_wait_http_ok(url, WAIT_MS)) {
        char *err = tu_proc_stderr(&E.serve);
        fprintf(stderr, "idflow serve did not become ready:\n%s\n", err);
        free(err);
        return -1;
    }
    return 0;
}

/* SIGTERM; serve's exit code (0 after a clean stop, no sanitizer report, no secret logged). */
static int stop_serve(int timeout_ms)
{
    char *err;
    int rc;
    tu_kill(&E.serve, SIGTERM);
    rc = tu_wait(&E.serve, timeout_ms);
    err = tu_proc_stderr(&E.serve);
    if (rc != 0 || strstr(err, "Sanitizer") || strstr(err, "runtime error") || strstr(err, HOOK_SECRET)) {
        fprintf(stderr, "idflow serve exited with %d:\n%s\n", rc, err);
        rc = rc ? rc : 1;
    }
    free(err);
    tu_proc_cleanup(&E.serve);
    return rc;
}

static int write_wf(const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s.yaml", E.wfdir, name);
    return tu_write_file(path, text);
}

static bool sandbox_up(void *ud)
{
    (void)ud;
    return tu_sandbox_url(&E.sandbox, E.sb, sizeof E.sb);
}

/* -------------------------------------------------------------- fixture */

static int group_setup(void **state)
{
    const char *sb_argv[] = {NULL, "sandbox", "--listen", "127.0.0.1:0", "--token", TOKEN, NULL};
    char tok[500], hs[500], cmd[1200];
    int port;
    (void)state;

    E.bin = getenv("IDFLOW_BIN");
    E.src = getenv("IDFLOW_SRC");
    if (!E.bin) {
        fprintf(stderr, "IDFLOW_BIN must be set (make test sets it)\n");
        return -1;
    }
    sb_argv[0] = E.bin;
    if (tu_spawn(sb_argv, NULL, &E.sandbox) || !tu_wait_until(sandbox_up, NULL, WAIT_MS))
        return -1;
    E.dir = tu_mktemp_dir();
    snprintf(E.db, sizeof E.db, "sqlite:%s/idflow.db", E.dir);
    snprintf(E.wfdir, sizeof E.wfdir, "%s/wf", E.dir);
    snprintf(tok, sizeof tok, "%s/token", E.dir);
    snprintf(hs, sizeof hs, "%s/hook_secret", E.dir);
    if (tu_write_file(tok, TOKEN) || tu_write_file(hs, HOOK_SECRET))
        return -1;
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && chmod 600 '%s' '%s'", E.wfdir, tok, hs);
    if (system(cmd) != 0)
        return -1;
    if (write_wf("deact", "name: on-deactivate\non:\n  okta.user_deactivated: {}\nsteps:\n"
                          "  - id: who\n    do: set\n    with: {login: '${{ .event.user.login }}'}\n") ||
        write_wf("ticket", "name: on-ticket\non:\n  happyfox.ticket_created: {}\nsteps:\n"
                           "  - id: who\n    do: set\n    with: {subject: '${{ .event.ticket.subject }}'}\n") ||
        write_wf("manual", "name: by-hand\non:\n  manual: {}\nsteps:\n"
                           "  - id: who\n    do: set\n    with: {n: '${{ .event.data.n }}'}\n") ||
        /* a condition that loops as long as the event says */
        write_wf("loop", "name: loop-hook\non:\n  webhook: {connection: gh}\nwhen:\n"
                         "  - (.event.data.retries // 0) as $r | 0 | until(. >= $r; . + 1) | . >= 0\nsteps:\n"
                         "  - id: who\n    do: set\n    with: {n: 1}\n"))
        return -1;
    {
        const char *okta[] = {"connect", "okta", "sb", "--url", E.sb, "--sandbox", "--token-file", tok,
                              "--hook-secret-file", hs, "--mode", "hook", "--db", E.db, NULL};
        const char *hf[] = {"connect", "happyfox", "hd", "--url", E.sb, "--api-key-env", "HF_KEY",
                            "--auth-code-env", "HF_CODE", "--sandbox", "--hook-secret-file", hs, "--mode", "hook",
                            "--db", E.db, NULL};
        const char *env[] = {"HF_KEY=sandbox-hf-key", "HF_CODE=sandbox-hf-code", NULL};
        const char *gh[] = {"connect", "webhook", "gh", "--secret-file", hs, "--db", E.db, NULL};
        if (run_idflow(okta, NULL) || run_idflow(hf, env) || run_idflow(gh, NULL))
            return -1;
    }
    port = tu_free_port();
    snprintf(E.listen, sizeof E.listen, "127.0.0.1:%d", port);
    snprintf(E.base, sizeof E.base, "http://127.0.0.1:%d", port);
    return start_serve();
}

static int group_teardown(void **state)
{
    int rc = 0;
    (void)state;
    if (E.serve.pid > 0)
        rc = stop_serve(15000);
    tu_kill(&E.sandbox, SIGTERM);
    tu_wait(&E.sandbox, 10000);
    tu_proc_cleanup(&E.sandbox);
    if (E.dir) {
        tu_rm_rf(E.dir);
        free(E.dir);
    }
    return rc == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ tests */

struct poster {
    pthread_t t;
    long long ticket;
    long status;
    int rc;
};

/* One HappyFox webhook, answered within Okta's window or counted as a failure. */
static void *post_webhook(void *arg)
{
    struct poster *p = arg;
    char url[300], body[100];
    const char *h[] = {"X-Idflow-Secret: " HOOK_SECRET, NULL};
    snprintf(url, sizeof url, "%s/hooks/happyfox/hd", E.base);
    snprintf(body, sizeof body, "{\"ticket_id\":%lld}", p->ticket);
    p->rc = tu_http_within("POST", url, body, h, OKTA_WINDOW_MS, &p->status, NULL);
    return NULL;
}

static void test_slow_happyfox_does_not_hold_okta_or_health(void **state)
{
    struct poster ps[N_WEBHOOKS];
    char url[300], path[600], *body;
    const char *okta_auth[] = {"Authorization: " HOOK_SECRET, NULL};
    long status = 0;
    (void)state;

    for (int i = 0; i < N_TICKETS; i++) {
        char subject[64];
        snprintf(subject, sizeof subject, "Slow HappyFox %d", i);
        E.tickets[i] = create_ticket(subject);
    }
    /* every ticket read now takes 30 s */
    sandbox_faults("{\"rules\":[{\"path\":\"/api/1.1/json/ticket/\",\"method\":\"GET\",\"latency\":\"30s\"}]}");
    for (int i = 0; i < N_WEBHOOKS; i++) {
        ps[i].ticket = E.tickets[i % N_TICKETS];
        assert_int_equal(pthread_create(&ps[i].t, NULL, post_webhook, &ps[i]), 0);
    }
    for (int i = 0; i < N_WEBHOOKS; i++) {
        assert_int_equal(pthread_join(ps[i].t, NULL), 0);
        assert_int_equal(ps[i].rc, 0); /* answered within 3 s */
        assert_int_equal(ps[i].status, 200);
    }
    /* with the re-reads under way: Okta's delivery and /healthz within Okta's window */
    snprintf(path, sizeof path, "%s/tests/data/okta-samples/03-eventhook-delivery-user.lifecycle.deactivate."
                                "RECONSTRUCTED.json",
             E.src ? E.src : ".");
    body = tu_read_file(path, NULL);
    assert_non_null(body);
    snprintf(url, sizeof url, "%s/hooks/okta/sb", E.base);
    assert_int_equal(tu_http_within("POST", url, body, okta_auth, OKTA_WINDOW_MS, &status, NULL), 0);
    assert_int_equal(status, 200);
    free(body);
    snprintf(url, sizeof url, "%s/healthz", E.base);
    assert_int_equal(tu_http_within("GET", url, NULL, NULL, OKTA_WINDOW_MS, &status, NULL), 0);
    assert_int_equal(status, 200);
    /* the unrelated, Okta-driven run goes through meanwhile */
    wait_runs("on-deactivate", "succeeded", 1);
    assert_int_equal(count_runs("on-ticket", NULL), 0); /* HappyFox has not answered yet */

    /* stopping does not wait 30 s for HappyFox: the read in flight is abandoned */
    assert_int_equal(stop_serve(10000), 0);
    sandbox_faults(NULL);
    assert_int_equal(start_serve(), 0);
    /* every acknowledged webhook was kept: each ticket starts its workflow once */
    wait_runs("on-ticket", "succeeded", N_TICKETS);
    assert_true(tu_wait_events_settled(E.db, WAIT_MS));
    assert_int_equal(count_runs("on-ticket", NULL), N_TICKETS);
    assert_int_equal(count_runs("on-deactivate", NULL), 1);
}

/* One webhook POSTed, answered within Okta's window or counted as a failure. */
static void *post_loop(void *arg)
{
    struct poster *p = arg;
    char url[300], id[64];
    const char *h[] = {"Authorization: Bearer " HOOK_SECRET, id, NULL};
    snprintf(url, sizeof url, "%s/hooks/webhook/gh", E.base);
    snprintf(id, sizeof id, "X-Idflow-Event-Id: loop-%lld", p->ticket);
    p->rc = tu_http_within("POST", url, "{\"retries\": 1e18}", h, OKTA_WINDOW_MS, &p->status, NULL);
    return NULL;
}

/* Eight deliveries whose event makes a workflow's `when:` loop: each is
 * answered at once (matching comes after the answer), the condition runs to
 * its budget in the evaluator and starts nothing, the log names it, and
 * meanwhile /healthz and Okta's delivery are answered and the unrelated run
 * succeeds. */
static void test_looping_condition_fed_by_hooks_holds_nothing(void **state)
{
    struct poster ps[8];
    char url[300], path[600], *body, *log;
    const char *okta_auth[] = {"Authorization: " HOOK_SECRET, NULL};
    long status = 0;
    int before;
    (void)state;

    before = count_runs("on-deactivate", "succeeded");
    for (int i = 0; i < 8; i++) {
        ps[i].ticket = i;
        assert_int_equal(pthread_create(&ps[i].t, NULL, post_loop, &ps[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(ps[i].t, NULL), 0);
        assert_int_equal(ps[i].rc, 0);
        assert_int_equal(ps[i].status, 200);
    }
    snprintf(url, sizeof url, "%s/healthz", E.base);
    assert_int_equal(tu_http_within("GET", url, NULL, NULL, OKTA_WINDOW_MS, &status, NULL), 0);
    assert_int_equal(status, 200);
    /* a deactivation Okta has not delivered before (the sample's uuid changed) */
    snprintf(path, sizeof path, "%s/tests/data/okta-samples/03-eventhook-delivery-user.lifecycle.deactivate."
                                "RECONSTRUCTED.json",
             E.src ? E.src : ".");
    body = tu_read_file(path, NULL);
    assert_non_null(body);
    {
        char *u = strstr(body, "\"uuid\"");
        assert_non_null(u);
        u = strchr(u + 6, '"');
        assert_non_null(u);
        u[1] = u[1] == 'f' ? 'e' : 'f'; /* another event id */
    }
    snprintf(url, sizeof url, "%s/hooks/okta/sb", E.base);
    assert_int_equal(tu_http_within("POST", url, body, okta_auth, OKTA_WINDOW_MS, &status, NULL), 0);
    assert_int_equal(status, 200);
    free(body);
    wait_runs("on-deactivate", "succeeded", before + 1);
    assert_true(tu_wait_events_settled(E.db, WAIT_MS));
    assert_int_equal(count_runs("loop-hook", NULL), 0);
    log = tu_proc_stderr(&E.serve);
    assert_non_null(strstr(log, "loop.yaml:5:5: when[0]"));
    assert_non_null(strstr(log, "time budget (" STR(EXPR_BUDGET_MS) " ms, expr_timeout_ms)"));
    free(log);
}

/* An event acknowledged but not matched when the process died is matched at
 * the next start, once. */
static void test_event_stored_before_a_crash_is_matched_at_start(void **state)
{
    struct store *s = NULL;
    struct store_ingest_item it = {0};
    struct idf_err err = {0};
    (void)state;

    assert_int_equal(stop_serve(15000), 0);
    assert_int_equal(store_open(E.db, &s, &err), 0);
    it.event = (struct store_event_in){"manual", "left-behind-1", "manual", NULL,
                                       "{\"id\":\"left-behind-1\",\"source\":\"manual\",\"type\":\"manual\","
                                       "\"time\":\"2026-12-07T00:00:00Z\",\"data\":{\"n\":7}}",
                                       STORE_EVENT_MATCH};
    assert_int_equal(store_ingest(s, &it, 1, &err), 0);
    store_close(s);
    assert_int_equal(start_serve(), 0);
    wait_runs("by-hand", "succeeded", 1);
    assert_true(tu_wait_events_settled(E.db, WAIT_MS));
    assert_int_equal(count_runs("by-hand", NULL), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_happyfox_does_not_hold_okta_or_health),
        cmocka_unit_test(test_looping_condition_fed_by_hooks_holds_nothing),
        cmocka_unit_test(test_event_stored_before_a_crash_is_matched_at_start),
    };
    return cmocka_run_group_tests_name("acks", tests, group_setup, group_teardown);
}

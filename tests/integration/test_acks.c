/* test_acks.c — acknowledgements never wait on a remote or a workflow.
 *
 * A real `idflow serve` and `idflow sandbox` on loopback (serve_fixture.h);
 * an Okta connection ("sb", hooks only) and a HappyFox one ("hd", webhooks
 * only). HappyFox is
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "support/serve_fixture.h"

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
#define SERVE_ARGS ((const char *[]){"--workers", "2", NULL})

static const char *const SERVE_ENV[] = {"IDFLOW_EXPR_TIMEOUT_MS=" STR(EXPR_BUDGET_MS), NULL};
static struct sfx F = {.secrets = {HOOK_SECRET, TOKEN}, .serve_env = SERVE_ENV};
static long long tickets[N_TICKETS];

/* ---------------------------------------------------------------- helpers */

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

static void sandbox_faults(const char *body)
{
    char url[300];
    snprintf(url, sizeof url, "%s/_sandbox/faults", F.sb);
    json_decref(call(body ? "POST" : "DELETE", url, body, NULL, body ? 200 : 204));
}

static long long create_ticket(const char *subject)
{
    const char *h[] = {HF_BASIC, NULL};
    char url[300], body[400];
    json_t *t;
    long long n;
    snprintf(url, sizeof url, "%s/api/1.1/json/tickets/", F.sb);
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
    snprintf(url, sizeof url, "%s/api/v1/runs?workflow=%s&limit=500%s%s", F.base, workflow, status ? "&status=" : "",
             status ? status : "");
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

/* -------------------------------------------------------------- fixture */

static int group_setup(void **state)
{
    char tok[500], hs[500];
    const char *hf_env[] = {"HF_KEY=sandbox-hf-key", "HF_CODE=sandbox-hf-code", NULL};
    (void)state;

    if (sfx_start(&F, (const char *[]){"--token", TOKEN, NULL}) ||
        sfx_write_secret(&F, "token", TOKEN, tok, sizeof tok) ||
        sfx_write_secret(&F, "hook_secret", HOOK_SECRET, hs, sizeof hs))
        return -1;
    if (sfx_write_wf(&F, "deact",
                     "name: on-deactivate\non:\n  okta.user_deactivated: {}\nsteps:\n"
                     "  - id: who\n    do: set\n    with: {login: '${{ .event.user.login }}'}\n") ||
        sfx_write_wf(&F, "ticket",
                     "name: on-ticket\non:\n  happyfox.ticket_created: {}\nsteps:\n"
                     "  - id: who\n    do: set\n    with: {subject: '${{ .event.ticket.subject }}'}\n") ||
        sfx_write_wf(&F, "manual",
                     "name: by-hand\non:\n  manual: {}\nsteps:\n"
                     "  - id: who\n    do: set\n    with: {n: '${{ .event.data.n }}'}\n") ||
        /* a condition that loops as long as the event says */
        sfx_write_wf(&F, "loop",
                     "name: loop-hook\non:\n  webhook: {connection: gh}\nwhen:\n"
                     "  - (.event.data.retries // 0) as $r | 0 | until(. >= $r; . + 1) | . >= 0\nsteps:\n"
                     "  - id: who\n    do: set\n    with: {n: 1}\n"))
        return -1;
    if (sfx_idflow(&F, NULL, NULL, "connect", "okta", "sb", "--url", F.sb, "--sandbox", "--token-file", tok,
                   "--hook-secret-file", hs, "--mode", "hook", "--db", F.db, NULL) ||
        sfx_idflow(&F, hf_env, NULL, "connect", "happyfox", "hd", "--url", F.sb, "--api-key-env", "HF_KEY",
                   "--auth-code-env", "HF_CODE", "--sandbox", "--hook-secret-file", hs, "--mode", "hook", "--db", F.db,
                   NULL) ||
        sfx_idflow(&F, NULL, NULL, "connect", "webhook", "gh", "--secret-file", hs, "--db", F.db, NULL))
        return -1;
    return sfx_serve_start(&F, NULL, SERVE_ARGS);
}

static int group_teardown(void **state)
{
    (void)state;
    return sfx_stop(&F) == 0 ? 0 : -1;
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
    snprintf(url, sizeof url, "%s/hooks/happyfox/hd", F.base);
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
        tickets[i] = create_ticket(subject);
    }
    /* every ticket read now takes 30 s */
    sandbox_faults("{\"rules\":[{\"path\":\"/api/1.1/json/ticket/\",\"method\":\"GET\",\"latency\":\"30s\"}]}");
    for (int i = 0; i < N_WEBHOOKS; i++) {
        ps[i].ticket = tickets[i % N_TICKETS];
        assert_int_equal(pthread_create(&ps[i].t, NULL, post_webhook, &ps[i]), 0);
    }
    for (int i = 0; i < N_WEBHOOKS; i++) {
        assert_int_equal(pthread_join(ps[i].t, NULL), 0);
        assert_int_equal(ps[i].rc, 0); /* answered within 3 s */
        assert_int_equal(ps[i].status, 200);
    }
    /* with the re-reads under way: Okta's delivery and /healthz within Okta's window */
    snprintf(path, sizeof path,
             "%s/tests/data/okta-samples/03-eventhook-delivery-user.lifecycle.deactivate."
             "RECONSTRUCTED.json",
             F.src ? F.src : ".");
    body = tu_read_file(path, NULL);
    assert_non_null(body);
    snprintf(url, sizeof url, "%s/hooks/okta/sb", F.base);
    assert_int_equal(tu_http_within("POST", url, body, okta_auth, OKTA_WINDOW_MS, &status, NULL), 0);
    assert_int_equal(status, 200);
    free(body);
    snprintf(url, sizeof url, "%s/healthz", F.base);
    assert_int_equal(tu_http_within("GET", url, NULL, NULL, OKTA_WINDOW_MS, &status, NULL), 0);
    assert_int_equal(status, 200);
    /* the unrelated, Okta-driven run goes through meanwhile */
    wait_runs("on-deactivate", "succeeded", 1);
    assert_int_equal(count_runs("on-ticket", NULL), 0); /* HappyFox has not answered yet */

    /* stopping does not wait 30 s for HappyFox: the read in flight is abandoned */
    assert_int_equal(sfx_serve_stop_within(&F, 10000), 0);
    sandbox_faults(NULL);
    assert_int_equal(sfx_serve_start(&F, NULL, SERVE_ARGS), 0);
    /* every acknowledged webhook was kept: each ticket starts its workflow once */
    wait_runs("on-ticket", "succeeded", N_TICKETS);
    assert_true(tu_wait_events_settled(F.db, WAIT_MS));
    assert_int_equal(count_runs("on-ticket", NULL), N_TICKETS);
    assert_int_equal(count_runs("on-deactivate", NULL), 1);
}

/* One webhook POSTed, answered within Okta's window or counted as a failure. */
static void *post_loop(void *arg)
{
    struct poster *p = arg;
    char url[300], id[64];
    const char *h[] = {"Authorization: Bearer " HOOK_SECRET, id, NULL};
    snprintf(url, sizeof url, "%s/hooks/webhook/gh", F.base);
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
    snprintf(url, sizeof url, "%s/healthz", F.base);
    assert_int_equal(tu_http_within("GET", url, NULL, NULL, OKTA_WINDOW_MS, &status, NULL), 0);
    assert_int_equal(status, 200);
    /* a deactivation Okta has not delivered before (the sample's uuid changed) */
    snprintf(path, sizeof path,
             "%s/tests/data/okta-samples/03-eventhook-delivery-user.lifecycle.deactivate."
             "RECONSTRUCTED.json",
             F.src ? F.src : ".");
    body = tu_read_file(path, NULL);
    assert_non_null(body);
    {
        char *u = strstr(body, "\"uuid\"");
        assert_non_null(u);
        u = strchr(u + 6, '"');
        assert_non_null(u);
        u[1] = u[1] == 'f' ? 'e' : 'f'; /* another event id */
    }
    snprintf(url, sizeof url, "%s/hooks/okta/sb", F.base);
    assert_int_equal(tu_http_within("POST", url, body, okta_auth, OKTA_WINDOW_MS, &status, NULL), 0);
    assert_int_equal(status, 200);
    free(body);
    wait_runs("on-deactivate", "succeeded", before + 1);
    assert_true(tu_wait_events_settled(F.db, WAIT_MS));
    assert_int_equal(count_runs("loop-hook", NULL), 0);
    log = tu_proc_stderr(&F.serve);
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

    assert_int_equal(sfx_serve_stop(&F), 0);
    assert_int_equal(store_open(F.db, &s, &err), 0);
    it.event = (struct store_event_in){"manual",
                                       "left-behind-1",
                                       "manual",
                                       NULL,
                                       "{\"id\":\"left-behind-1\",\"source\":\"manual\",\"type\":\"manual\","
                                       "\"time\":\"2026-12-07T00:00:00Z\",\"data\":{\"n\":7}}",
                                       STORE_EVENT_MATCH};
    assert_int_equal(store_ingest(s, &it, 1, &err), 0);
    store_close(s);
    assert_int_equal(sfx_serve_start(&F, NULL, SERVE_ARGS), 0);
    wait_runs("by-hand", "succeeded", 1);
    assert_true(tu_wait_events_settled(F.db, WAIT_MS));
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

/* test_happyfox_triggers.c — HappyFox ticket events reaching workflows end
 * to end: a real `idflow sandbox` and a real `idflow serve` as processes.
 * The happyfox connection is made with `idflow connect happyfox --sandbox`
 * (mode both, poll interval 1 s, a hook secret), and the sandbox's Smart-Rule
 * stand-in (/_sandbox/happyfox/webhook) is pointed at
 * /hooks/happyfox/hd with the secret in X-Idflow-Secret. People are
 * simulated through the sandbox's HappyFox API.
 *
 * Asserts: a ticket created starts the ticket_created workflow once with the
 * right ticket (category, requester), and a category filter (by name, any
 * case) picks the Onboarding ticket, with its custom fields by name, and
 * keeps other categories quiet; a move to a completed status raises
 * ticket_status_changed (from/to) and ticket_resolved exactly once although
 * the change arrives by webhook AND by poll; a note raises ticket_updated; the
 * same delivery posted twice runs nothing again; bad input (wrong or missing
 * secret, malformed JSON, no ticket number, unknown connection, a body
 * over 64 KiB) is a 4xx that starts nothing while the server keeps serving,
 * and an unknown ticket is acknowledged and then given up; a webhook-only
 * connection ("hh", never polled) raises its events by webhook alone; a
 * re-read that HappyFox fails is retried after the answer and delivers once;
 * a ticket created while idflow is stopped is picked up by the poller after
 * the restart; serve exits 0 (no sanitizer report) and never logs a secret.
 * IDFLOW_BIN is the binary. */
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

#include "support/serve_fixture.h"
#include "support/testutil.h"

#define HF_KEY "sandbox-hf-key"
#define HF_CODE "sandbox-hf-code"
#define HF_BASIC "Authorization: Basic c2FuZGJveC1oZi1rZXk6c2FuZGJveC1oZi1jb2Rl" /* key:code */
#define HOOK_SECRET "hf-hook-secret-0123456789-abcXYZ"
#define WAIT_MS 15000

/* the sandbox help desk and serve (its log must never hold a secret: the hook secret, the
 * auth code, the Basic credentials) */
static struct sfx F = {.secrets = {HOOK_SECRET, HF_CODE, "c2FuZGJveC1oZi1rZXk6"}, .settle_ms = 20000};
static int markers; /* poll markers made so far */

/* ---------------------------------------------------------------- helpers */

#define http_json sfx_assert_http_json

static json_t *hf_api(const char *method, const char *path, const char *body, long want)
{
    const char *h[] = {HF_BASIC, "Content-Type: application/json", NULL};
    char url[600];
    long status = 0;
    json_t *j;
    snprintf(url, sizeof url, "%s/api/1.1/json%s", F.sb, path);
    j = http_json(method, url, body, h, &status);
    if (status != want)
        fail_msg("%s %s: HTTP %ld, expected %ld", method, path, status, want);
    return j;
}

static void sandbox_admin(const char *method, const char *path, const char *body)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    char url[600];
    long status = 0;
    json_t *j;
    snprintf(url, sizeof url, "%s%s", F.sb, path);
    j = http_json(method, url, body, h, &status);
    if (status != 200 && status != 204)
        fail_msg("%s %s: HTTP %ld", method, path, status);
    json_decref(j);
}

static void webhook_on(void)
{
    char body[600];
    snprintf(body, sizeof body,
             "{\"url\":\"%s/hooks/happyfox/hd/" HOOK_SECRET "\"}", /* what a Smart Rule can carry: a URL */
             F.base);
    sandbox_admin("POST", "/_sandbox/happyfox/webhook", body);
}

static void webhook_off(void) { sandbox_admin("DELETE", "/_sandbox/happyfox/webhook", NULL); }

/* Creates a ticket in IT Support (category 1); returns its number. */
static long long create_ticket(const char *subject, const char *email)
{
    char body[600];
    json_t *t;
    long long n;
    snprintf(body, sizeof body,
             "{\"category\":1,\"subject\":\"%s\",\"text\":\"please help\",\"name\":\"Lin Chen\",\"email\":\"%s\"}",
             subject, email);
    t = hf_api("POST", "/tickets/", body, 200);
    n = (long long)json_integer_value(json_object_get(t, "id"));
    json_decref(t);
    assert_true(n > 0);
    return n;
}

static void staff_update(long long n, const char *kind, const char *body)
{
    char path[100];
    snprintf(path, sizeof path, "/ticket/%lld/%s/", n, kind);
    json_decref(hf_api("POST", path, body, 200));
}

/* Runs an idflow command to its end: its exit code, and its stdout in *out
 * when out is not NULL (caller frees); a failure's stderr is printed. */
#define run_idflow_out(args, env, out) sfx_idflow_argv(&F, args, env, out)

static const char *const SERVE_ARGS[] = {"--workers", "2", NULL};

static int group_setup(void **state)
{
    char hs[500];
    (void)state;

    if (sfx_start(&F, NULL) || sfx_write_secret(&F, "hook_secret", HOOK_SECRET, hs, sizeof hs))
        return -1;
    if (sfx_write_wf(&F, "created", "name: hf-created\non:\n  happyfox.ticket_created: {}\n"
                            "when:\n  - .event.connection == \"hd\"\nsteps:\n"
                            "  - id: who\n    do: set\n    with: {subject: '${{ .event.ticket.subject }}', "
                            "category: '${{ .event.ticket.category }}', email: '${{ .event.ticket.requester.email }}', "
                            "status: '${{ .event.ticket.status }}'}\n") ||
        sfx_write_wf(&F, "onboarding", "name: hf-onboarding\non:\n  happyfox.ticket_created: {category: onboarding}\n"
                               "when:\n  - .event.ticket.category == \"Onboarding\"\n"
                               "steps:\n  - id: who\n    do: set\n    with: {subject: '${{ .event.ticket.subject }}', "
                               "dept: '${{ .event.ticket.custom_fields.Department }}', "
                               "first: '${{ .event.ticket.custom_fields[\"First Name\"] }}'}\n") ||
        sfx_write_wf(&F, "resolved", "name: hf-resolved\non:\n  happyfox.ticket_resolved: {}\nsteps:\n"
                             "  - id: who\n    do: set\n    with: {subject: '${{ .event.ticket.subject }}', "
                             "to: '${{ .event.changes.status.to.name }}'}\n") ||
        sfx_write_wf(&F, "status", "name: hf-status\non:\n  happyfox.ticket_status_changed: {from: New, to: Solved}\n"
                           "steps:\n  - id: who\n    do: set\n    with: {subject: '${{ .event.ticket.subject }}', "
                           "from: '${{ .event.changes.status.from.name }}', "
                           "to: '${{ .event.changes.status.to.name }}'}\n") ||
        sfx_write_wf(&F, "status-other", "name: hf-status-other\non:\n  happyfox.ticket_status_changed: {to: Closed}\n"
                                 "steps:\n  - id: who\n    do: set\n    with: {subject: '${{ .event.ticket.subject }}'}\n") ||
        sfx_write_wf(&F, "hook-only", "name: hf-hook-only\non:\n  happyfox.ticket_created: {}\n"
                              "when:\n  - .event.connection == \"hh\"\nsteps:\n"
                              "  - id: who\n    do: set\n    with: {subject: '${{ .event.ticket.subject }}'}\n") ||
        sfx_write_wf(&F, "poll-default", "name: hf-poll-default\non:\n  happyfox.ticket_created: {}\n"
                                 "when:\n  - .event.connection == \"hp\"\nsteps:\n"
                                 "  - id: who\n    do: set\n    with: {subject: '${{ .event.ticket.subject }}'}\n") ||
        sfx_write_wf(&F, "updated", "name: hf-updated\non:\n  happyfox.ticket_updated: {}\nsteps:\n"
                            "  - id: who\n    do: set\n    with: {subject: '${{ .event.ticket.subject }}', "
                            "private: '${{ .event.update.private | tostring }}'}\n"))
        return -1;
    {
        const char *args[] = {"connect", "happyfox", "hd", "--url", F.sb, "--api-key-env", "HF_KEY",
                              "--auth-code-env", "HF_CODE", "--sandbox", "--hook-secret-file", hs, "--mode", "both",
                              "--poll-interval", "1", "--db", F.db, NULL};
        const char *env[] = {"HF_KEY=" HF_KEY, "HF_CODE=" HF_CODE, NULL};
        /* "hh": webhook only (never polled), to prove the webhook path on its own */
        const char *args2[] = {"connect", "happyfox", "hh", "--url", F.sb, "--api-key-env", "HF_KEY",
                               "--auth-code-env", "HF_CODE", "--sandbox", "--hook-secret-file", hs, "--mode", "hook",
                               "--db", F.db, NULL};
        if (run_idflow_out(args, env, NULL) != 0 || run_idflow_out(args2, env, NULL) != 0)
            return -1;
    }
    if (sfx_serve_start(&F, NULL, SERVE_ARGS))
        return -1;
    webhook_on();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return sfx_stop(&F) == 0 ? 0 : -1;
}

/* Runs of wf whose step "who" has output[key] == value (each run read whole, after every
 * stored event was matched); every run of wf; waiting until n runs have it. */
#define count_runs(wf, key, value) sfx_assert_count_runs(&F, wf, "who", key, value)
#define count_all_runs(wf) sfx_assert_count_all_runs(&F, wf)
#define wait_runs(wf, key, value, n) sfx_assert_wait_runs(&F, wf, "who", key, value, n, WAIT_MS)

/* Waits until the poller has caught up with everything so far: a ticket
 * created now with the webhook off can only arrive by poll, and the poller
 * submits changed tickets oldest first. */
static void wait_poller_caught_up(void)
{
    char subject[64];
    snprintf(subject, sizeof subject, "poll marker %d", ++markers);
    webhook_off();
    create_ticket(subject, "marker@acme.test");
    wait_runs("hf-created", "subject", subject, 1);
    webhook_on();
}

static long post_hook_resp(const char *conn, const char *secret, const char *body, json_t **resp_out)
{
    char url[300], hdr[300];
    const char *h[] = {"Content-Type: application/json", hdr, NULL};
    long status = 0;
    char *resp = NULL;
    snprintf(url, sizeof url, "%s/hooks/happyfox/%s", F.base, conn);
    if (secret)
        snprintf(hdr, sizeof hdr, "X-Idflow-Secret: %s", secret);
    else
        h[1] = NULL;
    assert_int_equal(tu_http("POST", url, body, h, &status, &resp), 0);
    if (resp && secret)
        assert_null(strstr(resp, secret));
    if (resp_out)
        *resp_out = resp ? json_loads(resp, 0, NULL) : NULL;
    free(resp);
    return status;
}

static long post_hook(const char *conn, const char *secret, const char *body)
{
    return post_hook_resp(conn, secret, body, NULL);
}

/* POSTs to /hooks/happyfox/<conn>/<secret> (the secret in the URL, no
 * header) with the given Content-Type; the answer must not quote the secret. */
static long post_hook_path(const char *conn, const char *secret, const char *ctype, const char *body)
{
    char url[400], ct[200];
    const char *h[] = {ct, NULL};
    long status = 0;
    char *resp = NULL;
    snprintf(url, sizeof url, "%s/hooks/happyfox/%s/%s", F.base, conn, secret);
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
    assert_int_equal(tu_http("POST", url, body, h, &status, &resp), 0);
    if (resp)
        assert_null(strstr(resp, secret));
    free(resp);
    return status;
}


static bool serve_log_has(void *ud)
{
    char *log = tu_proc_stderr(&F.serve);
    bool has = log && strstr(log, (const char *)ud);
    free(log);
    return has;
}

/* True when the database files hold the bytes of s anywhere. */
static bool db_holds(const char *s)
{
    static const char *const files[] = {"idflow.db", "idflow.db-wal", NULL};
    bool found = false;
    for (int i = 0; files[i]; i++) {
        char path[600];
        size_t len = 0;
        char *data;
        snprintf(path, sizeof path, "%s/%s", F.dir, files[i]);
        data = tu_read_file(path, &len);
        if (data && memmem(data, len, s, strlen(s)))
            found = true;
        free(data);
    }
    return found;
}

/* ------------------------------------------------------------------ tests */

static long long T1; /* the ticket of the first tests */

static void test_created_runs_once_with_the_ticket(void **state)
{
    (void)state;
    T1 = create_ticket("Laptop broken T1", "lin.t1@acme.test");
    wait_runs("hf-created", "subject", "Laptop broken T1", 1);
    wait_poller_caught_up(); /* the creation was also polled */
    assert_int_equal(count_runs("hf-created", "subject", "Laptop broken T1"), 1);
    assert_int_equal(count_runs("hf-created", "category", "IT Support"), 1 + markers);
    assert_int_equal(count_runs("hf-created", "email", "lin.t1@acme.test"), 1);
    assert_int_equal(count_runs("hf-created", "status", "New"), 1 + markers);
    /* category filter: no IT Support ticket starts the Onboarding workflow */
    assert_int_equal(count_all_runs("hf-onboarding"), 0);
    /* creation is not an update */
    assert_int_equal(count_runs("hf-updated", "subject", "Laptop broken T1"), 0);
}

static void test_category_filter_and_custom_fields(void **state)
{
    json_t *t;
    (void)state;
    t = hf_api("POST", "/tickets/",
               "{\"category\":2,\"subject\":\"New starter: Lin\",\"text\":\"starts Monday\",\"name\":\"Lin Chen\","
               "\"email\":\"lin.chen@acme.test\",\"t-cf-11\":\"Lin\",\"t-cf-12\":\"Chen\","
               "\"t-cf-13\":\"lin.chen@acme.example\",\"t-cf-14\":101}",
               200);
    json_decref(t);
    wait_runs("hf-onboarding", "subject", "New starter: Lin", 1);
    wait_poller_caught_up();
    assert_int_equal(count_all_runs("hf-onboarding"), 1);
    assert_int_equal(count_runs("hf-onboarding", "dept", "Engineering"), 1);
    assert_int_equal(count_runs("hf-onboarding", "first", "Lin"), 1);
    assert_int_equal(count_runs("hf-created", "category", "Onboarding"), 1);
}

static void test_resolved_once_with_from_and_to(void **state)
{
    (void)state;
    staff_update(T1, "staff_update", "{\"staff\":1,\"status\":4,\"text\":\"replaced the laptop\"}");
    wait_runs("hf-resolved", "subject", "Laptop broken T1", 1);
    wait_runs("hf-status", "from", "New", 1);
    wait_poller_caught_up();
    assert_int_equal(count_runs("hf-resolved", "subject", "Laptop broken T1"), 1);
    assert_int_equal(count_runs("hf-resolved", "to", "Solved"), 1);
    assert_int_equal(count_runs("hf-status", "subject", "Laptop broken T1"), 1);
    assert_int_equal(count_runs("hf-status", "to", "Solved"), 1);
    assert_int_equal(count_all_runs("hf-status-other"), 0); /* to: Closed does not match */
    /* a status change is reported as such, not also as an update */
    assert_int_equal(count_runs("hf-updated", "subject", "Laptop broken T1"), 0);

    /* Solved -> Closed: a status change, but not a resolution (completed already) */
    staff_update(T1, "staff_update", "{\"staff\":1,\"status\":5}");
    wait_runs("hf-status-other", "subject", "Laptop broken T1", 1);
    wait_poller_caught_up();
    assert_int_equal(count_runs("hf-resolved", "subject", "Laptop broken T1"), 1);
    assert_int_equal(count_runs("hf-status", "subject", "Laptop broken T1"), 1);
}

static void test_note_raises_updated(void **state)
{
    (void)state;
    staff_update(T1, "staff_pvtnote", "{\"staff\":1,\"text\":\"checked the warranty\"}");
    wait_runs("hf-updated", "subject", "Laptop broken T1", 1);
    wait_poller_caught_up();
    assert_int_equal(count_runs("hf-updated", "subject", "Laptop broken T1"), 1);
    assert_int_equal(count_runs("hf-updated", "private", "true"), 1);
}

static void test_same_delivery_twice_runs_once(void **state)
{
    char body[200];
    json_t *resp = NULL;
    (void)state;
    snprintf(body, sizeof body, "{\"event\":\"ticket_updated\",\"ticket_id\":%lld}", T1);
    /* acknowledged as soon as it is stored (the ticket is re-read after the
     * answer, and its recent history, closed and a note, handed over again) ... */
    assert_int_equal(post_hook_resp("hd", HOOK_SECRET, body, &resp), 200);
    assert_true(json_is_true(json_object_get(resp, "queued")));
    assert_int_equal(json_integer_value(json_object_get(resp, "ticket")), T1);
    json_decref(resp);
    /* ... and deduplicated: nothing runs twice */
    assert_int_equal(post_hook("hd", HOOK_SECRET, body), 200);
    /* a body that lies about the ticket changes nothing: idflow re-reads it */
    snprintf(body, sizeof body,
             "{\"ticket_number\":\"%lld\",\"status\":{\"id\":4,\"name\":\"Solved\",\"behavior\":\"completed\"},"
             "\"previous_status\":{\"id\":1,\"name\":\"New\"}}",
             T1);
    assert_int_equal(post_hook("hd", HOOK_SECRET, body), 200);
    wait_poller_caught_up(); /* anything these could have started has started by now */
    assert_int_equal(count_runs("hf-created", "subject", "Laptop broken T1"), 1);
    assert_int_equal(count_runs("hf-resolved", "subject", "Laptop broken T1"), 1);
    assert_int_equal(count_runs("hf-status", "subject", "Laptop broken T1"), 1);
    assert_int_equal(count_runs("hf-updated", "subject", "Laptop broken T1"), 1);
}

static void test_bad_input_is_4xx_and_starts_nothing(void **state)
{
    char body[200], url[200];
    int created, resolved, updated;
    (void)state;
    created = count_all_runs("hf-created");
    resolved = count_all_runs("hf-resolved");
    updated = count_all_runs("hf-updated");
    snprintf(body, sizeof body, "{\"ticket_id\":%lld}", T1);
    assert_int_equal(post_hook("hd", "not-the-secret", body), 401);
    assert_int_equal(post_hook("hd", HOOK_SECRET "x", body), 401);
    assert_int_equal(post_hook("hd", NULL, body), 401);
    assert_int_equal(post_hook("hd", HOOK_SECRET, "{\"ticket_id\": 1,"), 400);
    assert_int_equal(post_hook("hd", HOOK_SECRET, "[1,2]"), 400);
    assert_int_equal(post_hook("hd", HOOK_SECRET, "{\"ticket_id\":\"12x\"}"), 400);
    assert_int_equal(post_hook("hd", HOOK_SECRET, "{\"ticket_id\":-3}"), 400);
    /* a ticket that does not exist is acknowledged (the answer never waits on
     * HappyFox), then given up when the re-read says 404: nothing starts */
    assert_int_equal(post_hook("hd", HOOK_SECRET, "{\"ticket_id\":999999}"), 200);
    assert_int_equal(post_hook("nope", HOOK_SECRET, body), 404);
    {
        /* a webhook only names a ticket: more than 64 KiB is refused */
        size_t pad = 100 * 1024, n;
        char *big = malloc(pad + 128);
        assert_non_null(big);
        n = (size_t)snprintf(big, 64, "{\"ticket_id\":%lld,\"pad\":\"", T1);
        memset(big + n, 'x', pad);
        memcpy(big + n + pad, "\"}", 3);
        assert_int_equal(post_hook("hd", HOOK_SECRET, big), 413);
        free(big);
    }
    wait_poller_caught_up();
    assert_int_equal(count_all_runs("hf-created"), created + 1); /* the marker only */
    assert_int_equal(count_all_runs("hf-resolved"), resolved);
    assert_int_equal(count_all_runs("hf-updated"), updated);
    snprintf(url, sizeof url, "%s/readyz", F.base);
    assert_int_equal(tu_wait_http_ok(url, 2000), 0);
    {
        char *log = tu_proc_stderr(&F.serve);
        assert_non_null(strstr(log, "no ticket 999999 in the HappyFox account"));
        free(log);
    }
}

/* HappyFox failing on the re-read: the webhook was acknowledged already
 * (200: the answer never waits on HappyFox), the expander retries after a
 * backoff, and the retry delivers, once. */
static void test_reread_failure_is_retried_after_the_answer(void **state)
{
    char body[200];
    long long n;
    (void)state;
    webhook_off();
    n = create_ticket("Reread fails once", "reread@acme.test");
    webhook_on();
    sandbox_admin("POST", "/_sandbox/faults",
                  "{\"rules\":[{\"path\":\"/api/1.1/json/ticket/\",\"method\":\"GET\",\"error_rate\":1,"
                  "\"status\":502,\"count\":1}]}");
    snprintf(body, sizeof body, "{\"ticket_id\":%lld}", n);
    assert_int_equal(post_hook("hh", HOOK_SECRET, body), 200);
    wait_runs("hf-hook-only", "subject", "Reread fails once", 1);
    assert_int_equal(count_runs("hf-hook-only", "subject", "Reread fails once"), 1);
    sandbox_admin("DELETE", "/_sandbox/faults", NULL);
}

static void test_webhook_alone_raises_events(void **state)
{
    char body[200];
    long long n;
    (void)state;
    webhook_off();
    n = create_ticket("Hook only", "hook.only@acme.test");
    webhook_on();
    snprintf(body, sizeof body, "{\"ticket_id\":%lld}", n);
    assert_int_equal(post_hook("hh", HOOK_SECRET, body), 200);
    wait_runs("hf-hook-only", "subject", "Hook only", 1);
    assert_int_equal(post_hook("hh", HOOK_SECRET, body), 200);
    wait_poller_caught_up();
    assert_int_equal(count_all_runs("hf-hook-only"), 1);
}

static void test_poll_picks_up_changes_made_while_stopped(void **state)
{
    long long n;
    (void)state;
    assert_int_equal(sfx_serve_stop(&F), 0);
    /* idflow is down: the webhook deliveries fail and are not retried */
    n = create_ticket("Created while stopped", "offline@acme.test");
    staff_update(n, "staff_update", "{\"staff\":1,\"status\":4,\"text\":\"fixed\"}");
    assert_int_equal(sfx_serve_start(&F, NULL, SERVE_ARGS), 0);
    wait_runs("hf-created", "subject", "Created while stopped", 1);
    wait_runs("hf-resolved", "subject", "Created while stopped", 1);
    wait_runs("hf-status", "subject", "Created while stopped", 1);
    wait_poller_caught_up();
    assert_int_equal(count_runs("hf-created", "subject", "Created while stopped"), 1);
    assert_int_equal(count_runs("hf-resolved", "subject", "Created while stopped"), 1);
    assert_int_equal(count_runs("hf-created", "email", "offline@acme.test"), 1);
}

/* The secret in the URL path, the form HappyFox can carry: accepted with
 * the body shapes a sender may use; a wrong one is 401, decided before the
 * body (an oversized body with a wrong secret is 401, not 413); a connector
 * that does not take a path secret is 404; the secret is in no answer, in
 * no stored event or delivery, and (sfx_serve_stop) in no log line. */
static void test_secret_in_path(void **state)
{
    char body[200], form[100], big_url[300];
    int created, resolved, updated;
    (void)state;
    created = count_all_runs("hf-created");
    resolved = count_all_runs("hf-resolved");
    updated = count_all_runs("hf-updated");
    snprintf(body, sizeof body, "{\"ticket_id\":%lld}", T1);
    assert_int_equal(post_hook_path("hd", HOOK_SECRET, "application/json", body), 200);
    snprintf(form, sizeof form, "event=ticket_updated&ticket_id=%lld", T1);
    assert_int_equal(post_hook_path("hd", HOOK_SECRET, "application/x-www-form-urlencoded", form), 200);
    snprintf(body, sizeof body, "{\"id\":%lld,\"display_id\":\"#HF%08lld\",\"subject\":\"x\"}", T1, T1);
    assert_int_equal(post_hook_path("hd", HOOK_SECRET, "application/json", body), 200);
    snprintf(body, sizeof body, "{\"ticket\":{\"id\":%lld}}", T1);
    assert_int_equal(post_hook_path("hd", HOOK_SECRET, "application/json", body), 200);
    /* wrong secrets in the path */
    assert_int_equal(post_hook_path("hd", "not-the-secret", "application/json", body), 401);
    assert_int_equal(post_hook_path("hd", HOOK_SECRET "x", "application/json", body), 401);
    assert_int_equal(post_hook_path("hd", "hf-hook-secret", "application/json", body), 401);
    /* a wrong path secret wins over the right header: the path decides */
    {
        char url[300];
        const char *h[] = {"X-Idflow-Secret: " HOOK_SECRET, NULL};
        long status = 0;
        snprintf(url, sizeof url, "%s/hooks/happyfox/hd/wrong-secret", F.base);
        assert_int_equal(tu_http("POST", url, body, h, &status, NULL), 0);
        assert_int_equal(status, 401);
    }
    /* decided before the body: a wrong secret with a body over 64 KiB is 401 */
    {
        size_t pad = 100 * 1024, n;
        char *big = malloc(pad + 128);
        assert_non_null(big);
        n = (size_t)snprintf(big, 64, "{\"ticket_id\":%lld,\"pad\":\"", T1);
        memset(big + n, 'x', pad);
        memcpy(big + n + pad, "\"}", 3);
        assert_int_equal(post_hook_path("hd", "wrong-secret", "application/json", big), 401);
        assert_int_equal(post_hook_path("hd", HOOK_SECRET, "application/json", big), 413);
        free(big);
    }
    assert_int_equal(post_hook_path("hd", HOOK_SECRET, "application/x-www-form-urlencoded", "ticket_id=12x"), 400);
    assert_int_equal(post_hook_path("hd", HOOK_SECRET, "application/json", "{\"subject\":\"x\"}"), 400);
    /* a connector that takes no secret in the path: no such hook */
    {
        long status = 0;
        char *resp = NULL;
        snprintf(big_url, sizeof big_url, "%s/hooks/okta/acme/" HOOK_SECRET, F.base);
        assert_int_equal(tu_http("POST", big_url, "{}", NULL, &status, &resp), 0);
        assert_int_equal(status, 404);
        assert_null(resp ? strstr(resp, HOOK_SECRET) : NULL);
        free(resp);
    }
    wait_poller_caught_up();
    /* T1's changes were delivered long ago: nothing runs again */
    assert_int_equal(count_all_runs("hf-created"), created + 1); /* the marker only */
    assert_int_equal(count_all_runs("hf-resolved"), resolved);
    assert_int_equal(count_all_runs("hf-updated"), updated);
    /* the secret was in every delivery's URL, and is in no stored byte */
    assert_false(db_holds(HOOK_SECRET));
    /* nor in what the sandbox shows of its Smart Rule stand-in */
    {
        static const char *const views[] = {"/_sandbox/happyfox/webhook", "/_sandbox/deliveries", NULL};
        for (int i = 0; views[i]; i++) {
            char url[300], *resp = NULL;
            long status = 0;
            snprintf(url, sizeof url, "%s%s", F.sb, views[i]);
            assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
            assert_int_equal(status, 200);
            assert_non_null(strstr(resp, "/hooks/happyfox/hd/*"));
            assert_null(strstr(resp, HOOK_SECRET));
            free(resp);
        }
    }
}

/* A connection made without --mode is polled, takes no webhook (even with
 * a path secret), and connect prints no webhook URL; mode hook needs a
 * hook_secret; a hook connection's connect prints the URL with the secret,
 * once, on stdout. */
static void test_default_mode_is_poll(void **state)
{
    const char *env[] = {"HF_KEY=" HF_KEY, "HF_CODE=" HF_CODE, NULL};
    char hs[500], *out = NULL;
    (void)state;
    snprintf(hs, sizeof hs, "%s/hook_secret", F.dir);
    {
        const char *args[] = {"connect", "happyfox", "hp", "--url", F.sb, "--api-key-env", "HF_KEY",
                              "--auth-code-env", "HF_CODE", "--sandbox", "--poll-interval", "1", "--db", F.db, NULL};
        assert_int_equal(run_idflow_out(args, env, &out), 0);
        assert_null(strstr(out, "/hooks/"));
        free(out);
    }
    {
        const char *args[] = {"connections", "--db", F.db, NULL};
        assert_int_equal(run_idflow_out(args, NULL, &out), 0);
        assert_non_null(strstr(out, "\"mode\":\"poll\""));
        free(out);
    }
    {
        /* mode hook without a secret is refused, nothing stored */
        const char *args[] = {"connect", "happyfox", "hq", "--url", F.sb, "--api-key-env", "HF_KEY",
                              "--auth-code-env", "HF_CODE", "--sandbox", "--mode", "hook", "--db", F.db, NULL};
        assert_int_equal(run_idflow_out(args, env, &out), 1);
        free(out);
    }
    {
        const char *args[] = {"connect", "happyfox", "hw", "--url", F.sb, "--api-key-env", "HF_KEY",
                              "--auth-code-env", "HF_CODE", "--sandbox", "--hook-secret-file", hs, "--mode", "hook",
                              "--db", F.db, NULL};
        assert_int_equal(run_idflow_out(args, env, &out), 0);
        assert_non_null(strstr(out, "/hooks/happyfox/hw/" HOOK_SECRET "\n"));
        free(out);
    }
    /* no hook_secret: a webhook, even with a secret in its URL, is 401 */
    assert_int_equal(post_hook_path("hp", HOOK_SECRET, "application/json", "{\"ticket_id\":1}"), 401);
    /* the poller takes hp up; its first poll starts from "now", so a ticket
     * created before that poll is its starting point, not an event: create
     * one per round until a round's ticket arrives by polling */
    assert_true(tu_wait_until(serve_log_has, "polling happyfox connection hp", WAIT_MS));
    webhook_off();
    {
        bool got = false;
        for (int round = 0; round < 5 && !got; round++) {
            char subject[64];
            snprintf(subject, sizeof subject, "Default poll %d", round);
            create_ticket(subject, "poll.default@acme.test");
            got = sfx_wait_runs(&F, "hf-poll-default", "who", "subject", subject, 1, 5000);
            if (got)
                assert_int_equal(count_runs("hf-poll-default", "subject", subject), 1);
        }
        assert_true(got);
    }
    webhook_on();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_created_runs_once_with_the_ticket),
        cmocka_unit_test(test_category_filter_and_custom_fields),
        cmocka_unit_test(test_resolved_once_with_from_and_to),
        cmocka_unit_test(test_note_raises_updated),
        cmocka_unit_test(test_same_delivery_twice_runs_once),
        cmocka_unit_test(test_bad_input_is_4xx_and_starts_nothing),
        cmocka_unit_test(test_webhook_alone_raises_events),
        cmocka_unit_test(test_reread_failure_is_retried_after_the_answer),
        cmocka_unit_test(test_secret_in_path),
        cmocka_unit_test(test_poll_picks_up_changes_made_while_stopped),
        cmocka_unit_test(test_default_mode_is_poll),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

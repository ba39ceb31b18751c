/* test_usecases.c — the shipped workflows of examples/workflows/, end to
 * end, the way they run in production: the sandbox org and help desk
 * (`idflow sandbox`), both connections (`idflow connect`), the Okta event
 * hook registered by `idflow connect okta --register-hook` and verified by
 * the sandbox, and `idflow serve` loading examples/workflows. Each case
 * makes something happen in the sandbox, lets it reach idflow by hook, and
 * checks the final state of both sides and the run's step records; each
 * has a negative case that starts no run.
 *   1. onboarding ticket -> Okta user, groups, apps, reply, resolved;
 *   2. lock-out -> ticket for the on-call agent;
 *   3. offboarding ticket resolved -> groups, apps, deactivation, private note;
 *   4. MFA Reset ticket resolved -> factors reset;
 *   5. department/manager change -> access-review ticket;
 *   6. Security Incident ticket -> suspended; resolved -> unsuspended;
 * and the offboarding variant that waits for an approval (shipped disabled):
 * serve restarts with it enabled in place of the plain one. */
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

#include "support/serve_fixture.h"
#include "support/testutil.h"

#define TOKEN "usecase-okta-token-0123456789"
#define HF_HOOK_SECRET "usecase-hf-hook-secret-0123456789"

static struct sfx F;

/* Runs `idflow ARGS... NULL` with env to its end: its exit code (a failure's stderr printed). */
#define idflow(env, ...) sfx_idflow(&F, env, NULL, __VA_ARGS__)

static int setup(void **state)
{
    const char *sandbox_args[] = {"--token", TOKEN, NULL};
    char wfdir[600], hook[300];
    (void)state;
    if (!getenv("IDFLOW_SRC") || sfx_start(&F, sandbox_args))
        return -1;
    {
        const char *env[] = {"UC_TOKEN=" TOKEN, "HF_KEY=sandbox-hf-key", "HF_CODE=sandbox-hf-code",
                             "HF_HOOK=" HF_HOOK_SECRET, NULL};
        if (idflow(env, "connect", "okta", "acme", "--url", F.sb, "--token-env", "UC_TOKEN", "--sandbox", "--db",
                   F.db, NULL) ||
            idflow(env, "connect", "happyfox", "helpdesk", "--url", F.sb, "--api-key-env", "HF_KEY",
                   "--auth-code-env", "HF_CODE", "--staff", "IT On-call", "--hook-secret-env", "HF_HOOK", "--mode",
                   "hook", "--sandbox", "--db", F.db, NULL))
            return -1;
    }
    snprintf(wfdir, sizeof wfdir, "%s/examples/workflows", F.src);
    if (sfx_serve_start(&F, wfdir, NULL))
        return -1;
    /* HappyFox's Smart Rule webhook (the sandbox's stand-in) calls idflow */
    {
        char url[300], body[600];
        long status = 0;
        const char *h[] = {"Content-Type: application/json", NULL};
        snprintf(url, sizeof url, "%s/_sandbox/happyfox/webhook", F.sb);
        snprintf(body, sizeof body,
                 "{\"url\":\"%s/hooks/happyfox/helpdesk/" HF_HOOK_SECRET "\"}", /* the secret in the URL */
                 F.base);
        if (tu_http("POST", url, body, h, &status, NULL) || status != 200)
            return -1;
    }
    snprintf(hook, sizeof hook, "%s/hooks/okta/acme", F.base);
    return idflow(NULL, "connect", "okta", "acme", "--register-hook", hook, "--db", F.db, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    /* serve_exits_cleanly and offboarding_with_approval_waits_for_a_person stop serve and
     * assert its exit; after a failure before that, it is stopped here */
    sfx_stop(&F);
    return 0;
}

static json_t *get(const char *base, const char *path)
{
    char url[600], *resp = NULL;
    long status = 0;
    json_t *j;
    snprintf(url, sizeof url, "%s%s", base, path);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    j = json_loads(resp, 0, NULL);
    free(resp);
    assert_non_null(j);
    return j;
}

static void simulate(const char *path, const char *body)
{
    char url[600];
    long status = 0;
    const char *h[] = {"Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "%s%s", F.sb, path);
    assert_int_equal(tu_http("POST", url, body, h, &status, NULL), 0);
    assert_true(status >= 200 && status < 300);
}

#define metric(name) sfx_assert_metric(&F, name)

static size_t runs_of(const char *wf)
{
    char path[200];
    json_t *r;
    size_t n;
    snprintf(path, sizeof path, "/api/v1/runs?workflow=%s&limit=1000", wf);
    r = get(F.base, path);
    n = json_array_size(json_object_get(r, "runs"));
    json_decref(r);
    return n;
}

/* The newest run of wf (new reference) once wf has at least want_runs runs,
 * else NULL; the count and the run come from one answer. */
static json_t *newest_run(const char *wf, size_t want_runs)
{
    char path[200];
    json_t *l, *r = NULL;
    snprintf(path, sizeof path, "/api/v1/runs?workflow=%s&limit=1000", wf);
    l = get(F.base, path);
    if (json_array_size(json_object_get(l, "runs")) >= want_runs)
        r = json_incref(json_array_get(json_object_get(l, "runs"), 0)); /* newest first */
    json_decref(l);
    return r;
}

/* Waits for the newest run of wf (once it has want_runs runs) to finish;
 * returns it with its steps. */
static json_t *finished_run(const char *wf, size_t want_runs)
{
    int64_t deadline = tu_now_ms() + 20000;
    for (;;) {
        json_t *n = newest_run(wf, want_runs);
        if (n) {
            char path[200];
            json_t *r;
            const char *st;
            snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)json_integer_value(json_object_get(n, "id")));
            json_decref(n);
            r = get(F.base, path);
            st = json_string_value(json_object_get(r, "status"));
            if (st && (!strcmp(st, "succeeded") || !strcmp(st, "failed")))
                return r;
            json_decref(r);
        }
        assert_true(tu_now_ms() < deadline);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    assert_true(tu_wait_events_settled(F.db, 15000));
}

/* The sandbox ticket whose subject is `subject`; asserts there is exactly one. */
static json_t *the_ticket(const char *subject)
{
    json_t *st = get(F.sb, "/_sandbox/state"), *t, *found = NULL;
    size_t i;
    int n = 0;
    json_array_foreach(json_object_get(json_object_get(st, "happyfox"), "tickets"), i, t)
    {
        if (!strcmp(json_string_value(json_object_get(t, "subject")), subject)) {
            n++;
            found = t;
        }
    }
    assert_int_equal(n, 1);
    json_incref(found);
    json_decref(st);
    return found;
}

/* Events acknowledged so far; waits until it passes `after`. */
static long long events_after(long long after)
{
    int64_t deadline = tu_now_ms() + 15000;
    long long v;
    while ((v = metric("idflow_events_total")) <= after) {
        assert_true(tu_now_ms() < deadline);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    return v;
}

static void lockout_opens_a_ticket_for_the_on_call_agent(void **state)
{
    json_t *run, *t, *user;
    const char *text;
    (void)state;
    simulate("/_sandbox/okta/users/sofia.rossi%40acme.example/fail_signin", "{\"count\": 10}");
    run = finished_run("lockout-to-ticket", 1);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "succeeded");
    assert_int_equal(json_array_size(json_object_get(run, "steps")), 2);
    json_decref(run);

    t = the_ticket("Okta account locked: sofia.rossi@acme.example");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "category"), "name")), "IT Support");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "priority"), "name")), "High");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "assigned_to"), "email")),
                        "it-oncall@acme.example");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "user"), "email")),
                        "sofia.rossi@acme.example");
    text = json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(t, "updates"), 0), "message"),
                                             "text"));
    assert_non_null(strstr(text, "too many failed sign-ins"));
    assert_non_null(strstr(text, "Department: Sales"));
    json_decref(t);
    /* idflow did not unlock the account: a person decides */
    user = get(F.sb, "/_sandbox/state");
    {
        json_t *u;
        size_t i;
        json_array_foreach(json_object_get(json_object_get(user, "okta"), "users"), i, u)
        {
            if (!strcmp(json_string_value(json_object_get(json_object_get(u, "profile"), "login")),
                        "sofia.rossi@acme.example"))
                assert_string_equal(json_string_value(json_object_get(u, "status")), "LOCKED_OUT");
        }
    }
    json_decref(user);
}

static void a_sign_in_that_does_not_lock_starts_nothing(void **state)
{
    long long before = metric("idflow_events_total");
    size_t runs = runs_of("lockout-to-ticket");
    (void)state;
    simulate("/_sandbox/okta/users/ethan.brooks%40acme.example/fail_signin", "{\"count\": 2}");
    /* the two failed sign-ins are not subscribed; a console edit after them is: once it is
     * acknowledged, everything before it was too */
    simulate("/_sandbox/okta/users/ethan.brooks%40acme.example/profile", "{\"profile\": {\"title\": \"AE\"}}");
    events_after(before);
    assert_int_equal(runs_of("lockout-to-ticket"), runs);
}

static void department_change_opens_an_access_review(void **state)
{
    json_t *run, *t;
    const char *text;
    (void)state;
    simulate("/_sandbox/okta/users/hannah.kim%40acme.example/profile", "{\"profile\": {\"department\": \"Sales\"}}");
    run = finished_run("profile-change-review", 1);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "succeeded");
    assert_int_equal(json_array_size(json_object_get(run, "steps")), 4);
    json_decref(run);
    t = the_ticket("Access review after a profile change: hannah.kim@acme.example");
    text = json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(t, "updates"), 0), "message"),
                                             "text"));
    assert_non_null(strstr(text, "- department: Marketing -> Sales"));
    assert_non_null(strstr(text, "Groups: "));
    assert_non_null(strstr(text, "Apps: "));
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "priority"), "name")), "Medium");
    json_decref(t);
}

static void other_profile_changes_start_nothing(void **state)
{
    long long before = metric("idflow_events_total");
    size_t runs = runs_of("profile-change-review");
    (void)state;
    simulate("/_sandbox/okta/users/noah.schmidt%40acme.example/profile",
             "{\"profile\": {\"mobilePhone\": \"+1 555 0100\"}}");
    events_after(before); /* the event was acknowledged ... */
    assert_int_equal(runs_of("profile-change-review"), runs); /* ... and started nothing */
}

/* ------------------------------------------------ HappyFox and Okta state */

/* POSTs to the sandbox's HappyFox API; returns the answer. */
static json_t *hf(const char *path, const char *body)
{
    char url[600], *resp = NULL;
    long status = 0;
    const char *h[] = {"Content-Type: application/json", "Authorization: Basic c2FuZGJveC1oZi1rZXk6c2FuZGJveC1oZi1jb2Rl",
                       NULL}; /* sandbox-hf-key:sandbox-hf-code */
    json_t *j;
    snprintf(url, sizeof url, "%s/api/1.1/json%s", F.sb, path);
    assert_int_equal(tu_http("POST", url, body, h, &status, &resp), 0);
    if (status != 200)
        fail_msg("POST %s: HTTP %ld: %s", path, status, resp);
    j = json_loads(resp, 0, NULL);
    free(resp);
    assert_non_null(j);
    return j;
}

static int64_t new_ticket(int category, const char *subject, const char *fields)
{
    char body[2000];
    json_t *t;
    int64_t n;
    snprintf(body, sizeof body,
             "{\"category\": %d, \"subject\": \"%s\", \"text\": \"Please handle.\", \"name\": \"HR Team\", "
             "\"email\": \"hr@acme.example\"%s%s}",
             category, subject, fields ? ", " : "", fields ? fields : "");
    t = hf("/tickets/", body);
    n = json_integer_value(json_object_get(t, "id"));
    json_decref(t);
    assert_true(n > 0);
    return n;
}

/* Moves ticket n to status (4 = Solved, 3 = On Hold) as the on-call agent. */
static void ticket_status(int64_t n, int status)
{
    char path[100], body[200];
    snprintf(path, sizeof path, "/ticket/%lld/staff_update/", (long long)n);
    snprintf(body, sizeof body, "{\"staff\": 2, \"status\": %d, \"text\": \"Done on our side.\"}", status);
    json_decref(hf(path, body));
}

static json_t *okta_user(const char *login)
{
    json_t *st = get(F.sb, "/_sandbox/state"), *u, *found = NULL;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(st, "okta"), "users"), i, u)
    {
        if (!strcmp(json_string_value(json_object_get(json_object_get(u, "profile"), "login")), login))
            found = json_incref(u);
    }
    json_decref(st);
    assert_non_null(found);
    return found;
}

static const char *status_of(json_t *u)
{
    return json_string_value(json_object_get(u, "status"));
}

/* Names of the user's OKTA_GROUP groups, comma-joined, into out. */
static void groups_of(const char *login, char *out, size_t n)
{
    char path[300];
    const char *h[] = {"Authorization: SSWS " TOKEN, NULL};
    char url[400], *resp = NULL;
    long status = 0;
    json_t *u = okta_user(login), *g, *arr;
    size_t i;
    snprintf(path, sizeof path, "/api/v1/users/%s/groups", json_string_value(json_object_get(u, "id")));
    snprintf(url, sizeof url, "%s%s", F.sb, path);
    json_decref(u);
    assert_int_equal(tu_http("GET", url, NULL, h, &status, &resp), 0);
    arr = json_loads(resp, 0, NULL);
    free(resp);
    out[0] = '\0';
    json_array_foreach(arr, i, g)
    {
        if (!strcmp(json_string_value(json_object_get(g, "type")), "OKTA_GROUP")) {
            size_t l = strlen(out);
            snprintf(out + l, n - l, "%s%s", l ? "," : "", json_string_value(json_object_get(json_object_get(g, "profile"), "name")));
        }
    }
    json_decref(arr);
}

static json_t *ticket_by_number(int64_t num)
{
    json_t *st = get(F.sb, "/_sandbox/state"), *t, *found = NULL;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(st, "happyfox"), "tickets"), i, t)
    {
        if (json_integer_value(json_object_get(t, "id")) == num)
            found = json_incref(t);
    }
    json_decref(st);
    assert_non_null(found);
    return found;
}

/* The text of the ticket's last update. */
static const char *last_update_text(json_t *t)
{
    json_t *ups = json_object_get(t, "updates");
    return json_string_value(json_object_get(json_object_get(json_array_get(ups, json_array_size(ups) - 1), "message"),
                                             "text"));
}

/* ------------------------------------------------------ the ticket cases */

static void onboarding_ticket_creates_the_user(void **state)
{
    json_t *run, *u, *t;
    char groups[400];
    int64_t n;
    (void)state;
    n = new_ticket(2, "New starter: Lin Chen",
                   "\"t-cf-11\": \"Lin\", \"t-cf-12\": \"Chen\", \"t-cf-13\": \"lin.chen@acme.example\", "
                   "\"t-cf-14\": 101, \"t-cf-15\": [202, 210], \"t-cf-16\": [301, 303]");
    run = finished_run("onboarding-from-ticket", 1);
    if (strcmp(json_string_value(json_object_get(run, "status")), "succeeded") != 0)
        fail_msg("onboarding run: %s", json_dumps(run, JSON_INDENT(1)));
    json_decref(run);
    u = okta_user("lin.chen@acme.example");
    assert_string_equal(status_of(u), "PROVISIONED"); /* activated without a password: the email goes out */
    assert_string_equal(json_string_value(json_object_get(json_object_get(u, "profile"), "department")), "Engineering");
    json_decref(u);
    groups_of("lin.chen@acme.example", groups, sizeof groups);
    assert_non_null(strstr(groups, "Engineering"));
    assert_non_null(strstr(groups, "VPN Users"));
    t = ticket_by_number(n);
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "status"), "name")), "Solved");
    assert_non_null(strstr(last_update_text(t), "lin.chen@acme.example"));
    json_decref(t);
}

/* Webhook deliveries to idflow's HappyFox hook that idflow acknowledged: it
 * answers once the delivery is durable; the ticket is re-read and the runs
 * created after (wait_deliveries waits for that too). */
static size_t hf_deliveries_ok(void)
{
    json_t *d = get(F.sb, "/_sandbox/deliveries"), *x;
    size_t i, n = 0;
    json_array_foreach(json_object_get(d, "deliveries"), i, x)
    {
        const char *url = json_string_value(json_object_get(x, "url"));
        if (url && strstr(url, "/hooks/happyfox/") && json_is_true(json_object_get(x, "ok")))
            n++;
    }
    json_decref(d);
    return n;
}

static void wait_deliveries(size_t at_least)
{
    int64_t deadline = tu_now_ms() + 15000;
    while (hf_deliveries_ok() < at_least) {
        assert_true(tu_now_ms() < deadline);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* An IT Support ticket, created and then resolved, starts none of the
 * ticket-driven workflows: each listens to its own category. */
static void a_ticket_in_another_category_starts_no_onboarding(void **state)
{
    static const char *const wfs[] = {"onboarding-from-ticket", "security-incident", "offboarding-on-resolve",
                                      "mfa-reset-on-resolve", "security-incident-resolved"};
    size_t runs[5], delivered = hf_deliveries_ok();
    int64_t n;
    (void)state;
    for (int i = 0; i < 5; i++)
        runs[i] = runs_of(wfs[i]);
    n = new_ticket(1, "Printer jam on floor 3", NULL);
    wait_deliveries(delivered + 1); /* ticket_created stored */
    ticket_status(n, 4);
    wait_deliveries(delivered + 2); /* the resolution stored (each delivery re-reads the ticket) */
    for (int i = 0; i < 5; i++)
        assert_int_equal(runs_of(wfs[i]), runs[i]);
}

static void offboarding_ticket_resolved_deactivates(void **state)
{
    json_t *run, *u, *t;
    char groups[400];
    int64_t n;
    (void)state;
    n = new_ticket(3, "Leaver: James Okafor", "\"t-cf-18\": \"james.okafor@acme.example\"");
    ticket_status(n, 3); /* On Hold: not resolved, nothing happens */
    ticket_status(n, 4); /* Solved */
    run = finished_run("offboarding-on-resolve", 1);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "succeeded");
    json_decref(run);
    assert_int_equal(runs_of("offboarding-on-resolve"), 1); /* On Hold started nothing */
    u = okta_user("james.okafor@acme.example");
    assert_string_equal(status_of(u), "DEPROVISIONED");
    json_decref(u);
    groups_of("james.okafor@acme.example", groups, sizeof groups);
    assert_string_equal(groups, "");
    t = ticket_by_number(n);
    assert_non_null(strstr(last_update_text(t), "Offboarded james.okafor@acme.example"));
    assert_non_null(strstr(last_update_text(t), "removed from groups: "));
    json_decref(t);
}

static void mfa_reset_ticket_resolved_resets_factors(void **state)
{
    json_t *run, *u;
    int64_t n;
    (void)state;
    u = okta_user("priya.raman@acme.example");
    assert_true(json_array_size(json_object_get(json_object_get(u, "_sbx"), "factors")) > 0);
    json_decref(u);
    n = new_ticket(4, "Lost my phone", "\"t-cf-18\": \"priya.raman@acme.example\"");
    ticket_status(n, 4);
    run = finished_run("mfa-reset-on-resolve", 1);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "succeeded");
    json_decref(run);
    u = okta_user("priya.raman@acme.example");
    assert_int_equal(json_array_size(json_object_get(json_object_get(u, "_sbx"), "factors")), 0);
    assert_string_equal(status_of(u), "ACTIVE");
    json_decref(u);
}

static void security_ticket_suspends_then_resolution_unsuspends(void **state)
{
    json_t *run, *u;
    int64_t n;
    (void)state;
    n = new_ticket(5, "Phishing: credentials entered", "\"t-cf-18\": \"omar.haddad@acme.example\"");
    run = finished_run("security-incident", 1);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "succeeded");
    json_decref(run);
    u = okta_user("omar.haddad@acme.example");
    assert_string_equal(status_of(u), "SUSPENDED");
    json_decref(u);
    ticket_status(n, 4);
    run = finished_run("security-incident-resolved", 1);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "succeeded");
    json_decref(run);
    u = okta_user("omar.haddad@acme.example");
    assert_string_equal(status_of(u), "ACTIVE");
    json_decref(u);
}

static void serve_exits_cleanly(void **state)
{
    (void)state;
    assert_int_equal(sfx_serve_stop(&F), 0);
}

/* serve again on the same port (the webhooks point there) with the approval
 * variant of use case 3 enabled instead of the plain offboarding. */
static void start_serve_with_the_approval_variant(void)
{
    char dir[600], cmd[2000];
    snprintf(dir, sizeof dir, "%s/wf-approval", F.dir);
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cp '%s'/examples/workflows/*.yaml '%s'/ && rm '%s/offboarding-on-resolve.yaml' && "
             "sed -i 's/^enabled: false$/enabled: true/' '%s/offboarding-with-approval.yaml'",
             dir, F.src, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(sfx_serve_start(&F, dir, NULL), 0);
}

/* Waits until the newest run of wf (once it has want_runs runs) is waiting
 * at its approval; returns its id. */
static int64_t waiting_run(const char *wf, size_t want_runs)
{
    int64_t deadline = tu_now_ms() + 20000;
    for (;;) {
        json_t *n = newest_run(wf, want_runs);
        const char *st = json_string_value(json_object_get(n, "status"));
        if (st && !strcmp(st, "waiting")) {
            int64_t id = json_integer_value(json_object_get(n, "id"));
            json_decref(n);
            return id;
        }
        json_decref(n);
        assert_true(tu_now_ms() < deadline);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static void offboarding_with_approval_waits_for_a_person(void **state)
{
    json_t *run, *u;
    int64_t n, id;
    char ids[32];
    (void)state;
    start_serve_with_the_approval_variant();

    /* approved: the offboarding goes ahead */
    n = new_ticket(3, "Leaver: Ethan Brooks", "\"t-cf-18\": \"ethan.brooks@acme.example\"");
    ticket_status(n, 4);
    id = waiting_run("offboarding-with-approval", 1);
    u = okta_user("ethan.brooks@acme.example");
    assert_string_equal(status_of(u), "ACTIVE"); /* nothing changed before the approval */
    json_decref(u);
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    assert_int_equal(idflow(NULL, "approve", ids, "--db", F.db, "--comment", "HR confirmed", NULL), 0);
    run = finished_run("offboarding-with-approval", 1);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "succeeded");
    json_decref(run);
    u = okta_user("ethan.brooks@acme.example");
    assert_string_equal(status_of(u), "DEPROVISIONED");
    json_decref(u);

    /* rejected: the run fails and the user is left as they were */
    n = new_ticket(3, "Leaver (wrong person)", "\"t-cf-18\": \"chloe.dubois@acme.example\"");
    ticket_status(n, 4);
    id = waiting_run("offboarding-with-approval", 2);
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    assert_int_equal(idflow(NULL, "reject", ids, "--db", F.db, "--comment", "not leaving", NULL), 0);
    run = finished_run("offboarding-with-approval", 2);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "failed");
    assert_non_null(strstr(json_string_value(json_object_get(run, "error")), "rejected"));
    json_decref(run);
    u = okta_user("chloe.dubois@acme.example");
    assert_string_equal(status_of(u), "ACTIVE");
    json_decref(u);

    assert_int_equal(sfx_serve_stop(&F), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lockout_opens_a_ticket_for_the_on_call_agent),
        cmocka_unit_test(a_sign_in_that_does_not_lock_starts_nothing),
        cmocka_unit_test(department_change_opens_an_access_review),
        cmocka_unit_test(other_profile_changes_start_nothing),
        cmocka_unit_test(onboarding_ticket_creates_the_user),
        cmocka_unit_test(a_ticket_in_another_category_starts_no_onboarding),
        cmocka_unit_test(offboarding_ticket_resolved_deactivates),
        cmocka_unit_test(mfa_reset_ticket_resolved_resets_factors),
        cmocka_unit_test(security_ticket_suspends_then_resolution_unsuspends),
        cmocka_unit_test(serve_exits_cleanly),
        cmocka_unit_test(offboarding_with_approval_waits_for_a_person),
    };
    return cmocka_run_group_tests_name("usecases", tests, setup, teardown);
}

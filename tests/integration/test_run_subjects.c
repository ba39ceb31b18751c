/* test_run_subjects.c — the write side of run subjects (issue 17), end to
 * end: a real `idflow sandbox` (Okta org and help desk) and `idflow serve`
 * as processes. Every way an event arrives is recorded with the run (via
 * and actor) and the run carries its subjects (the event's, from its
 * connector, and those its steps' actions resolved) and its steps' changes:
 *   - an Okta lock-out read from the System Log (connection mode poll):
 *     via poll; the locked user by login and id; "unlocked", a converged
 *     second unlock with no change, and the ticket it opened;
 *   - that ticket's creation reaching idflow by HappyFox webhook (a
 *     delivery the expander reads): via hook; the ticket by number and by
 *     "#HF..." display id; "ticket #HF... resolved";
 *   - an Okta event hook delivery: via hook, its connection;
 *   - POST /api/v1/events with a token: via api, actor token:NAME; the
 *     user the steps resolved; "suspended", "added to VPN Users"; the same
 *     again changes nothing and records no change;
 *   - `idflow run`: via cli, actor cli:USER, the event file's user;
 *   - a schedule tick: via schedule, no actor, no subject.
 * Runs are then found by every key (GET /api/v1/runs?subject=) and the
 * timeline (GET /api/v1/history) lists what each changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "support/serve_fixture.h"
#include "support/testutil.h"

#define TOKEN "subjects-okta-token-0123456789"
#define HF_HOOK_SECRET "subjects-hf-hook-secret-0123456789"
#define OKTA_HOOK_SECRET "subjects-okta-hook-secret-0123456789"
#define ST "@acme.example"

static struct sfx F = {.secrets = {TOKEN, HF_HOOK_SECRET, OKTA_HOOK_SECRET}};
static char API_TOKEN[200]; /* alice's, admin */
static char AUTH[260];      /* "Authorization: Bearer <API_TOKEN>" */

static const char wf_locked[] = "name: locked\n"
                                "on:\n  okta.user_locked: {}\n"
                                "steps:\n"
                                "  - id: unlock\n    do: okta.unlock_user\n    connection: acme\n"
                                "    with: {user: '${{ .event.user.login }}'}\n"
                                "  - id: again\n    do: okta.unlock_user\n    connection: acme\n"
                                "    with: {user: '${{ .event.user.login }}'}\n"
                                "  - id: ticket\n    do: happyfox.create_ticket\n"
                                "    with:\n      category: IT Support\n"
                                "      subject: 'Locked out: ${{ .event.user.login }}'\n"
                                "      email: '${{ .event.user.login }}'\n      text: unlocked by idflow\n";

static const char wf_resolve[] = "name: resolve\n"
                                 "on:\n  happyfox.ticket_created: {}\n"
                                 "steps:\n"
                                 "  - id: solve\n    do: happyfox.set_status\n"
                                 "    with: {ticket: '${{ .event.ticket.number }}', status: Solved}\n";

static const char wf_manual[] = "name: offboard\n"
                                "on: manual\n"
                                "steps:\n"
                                "  - id: suspend\n    do: okta.suspend_user\n    connection: acme\n"
                                "    with: {user: '${{ .event.data.login }}'}\n"
                                "  - id: vpn\n    do: okta.add_to_group\n    connection: acme\n"
                                "    with: {user: '${{ .event.data.login }}', group: VPN Users}\n";

static const char wf_bulk[] = "name: bulk\n"
                              "on: manual\n"
                              "steps:\n"
                              "  - id: each\n    foreach: ${{ .event.data.logins }}\n    as: login\n"
                              "    do: okta.suspend_user\n    connection: acme\n    with: {user: '${{ .login }}'}\n";

static const char wf_tick[] = "name: tick\n"
                              "on:\n  schedule: {cron: \"*/2 * * * * *\"}\n"
                              "steps:\n  - id: t\n    do: set\n    with: {at: '${{ .event.data.scheduled_for }}'}\n";

static const char wf_cli[] = "name: look\n"
                             "on:\n  okta.user_locked: {}\n"
                             "steps:\n  - id: user\n    do: okta.get_user\n    connection: acme\n"
                             "    with: {user: '${{ .event.user.login }}'}\n";

static int setup(void **state)
{
    const char *env[] = {"ST_TOKEN=" TOKEN,         "HF_KEY=sandbox-hf-key",     "HF_CODE=sandbox-hf-code",
                         "HF_HOOK=" HF_HOOK_SECRET, "OK_HOOK=" OKTA_HOOK_SECRET, NULL};
    char *out = NULL;
    (void)state;

    if (sfx_start(&F, (const char *[]){"--token", TOKEN, NULL}) || sfx_write_wf(&F, "locked", wf_locked) ||
        sfx_write_wf(&F, "resolve", wf_resolve) || sfx_write_wf(&F, "offboard", wf_manual) ||
        sfx_write_wf(&F, "tick", wf_tick) || sfx_write_wf(&F, "bulk", wf_bulk))
        return -1;
    /* acme: the System Log poller only; acmehook: event hooks only (the same org) */
    if (sfx_idflow(&F, env, NULL, "connect", "okta", "acme", "--url", F.sb, "--token-env", "ST_TOKEN", "--sandbox",
                   "--mode", "poll", "--poll-interval", "1", "--db", F.db, NULL) ||
        sfx_idflow(&F, env, NULL, "connect", "okta", "acmehook", "--url", F.sb, "--token-env", "ST_TOKEN", "--sandbox",
                   "--mode", "hook", "--hook-secret-env", "OK_HOOK", "--db", F.db, NULL) ||
        sfx_idflow(&F, env, NULL, "connect", "happyfox", "helpdesk", "--url", F.sb, "--api-key-env", "HF_KEY",
                   "--auth-code-env", "HF_CODE", "--staff", "IT On-call", "--hook-secret-env", "HF_HOOK", "--mode",
                   "hook", "--sandbox", "--db", F.db, NULL))
        return -1;
    if (sfx_idflow(&F, NULL, &out, "token", "create", "alice", "--role", "admin", "--db", F.db, NULL) || !out)
        return -1;
    snprintf(API_TOKEN, sizeof API_TOKEN, "%.*s", (int)strcspn(out, "\r\n"), out);
    free(out);
    snprintf(AUTH, sizeof AUTH, "Authorization: Bearer %s", API_TOKEN);
    F.secrets[3] = API_TOKEN;
    if (sfx_serve_start(&F, NULL, (const char *[]){"--workers", "2", NULL}))
        return -1;
    {
        char url[300], body[600];
        long status = 0;
        const char *h[] = {"Content-Type: application/json", NULL};
        snprintf(url, sizeof url, "%s/_sandbox/happyfox/webhook", F.sb);
        snprintf(body, sizeof body, "{\"url\":\"%s/hooks/happyfox/helpdesk/" HF_HOOK_SECRET "\"}", F.base);
        if (tu_http("POST", url, body, h, &status, NULL) || status != 200)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sfx_stop(&F);
    return 0;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* GET F.base + path with alice's token: the answer (status 200 asserted). */
static json_t *api_get(const char *path)
{
    const char *h[] = {AUTH, NULL};
    char url[700];
    long status = 0;
    json_t *j;
    snprintf(url, sizeof url, "%s%s", F.base, path);
    j = sfx_assert_http_json("GET", url, NULL, h, &status);
    if (status != 200)
        fail_msg("GET %s: %ld", path, status);
    return j;
}

/* The newest run listed by query (a /api/v1/runs query string) once it is
 * final, read whole; fails after 20 s. */
static json_t *final_run(const char *query)
{
    int64_t deadline = tu_now_ms() + 20000;
    for (;;) {
        char path[600];
        json_t *l = api_get((snprintf(path, sizeof path, "/api/v1/runs?%s", query), path));
        json_t *row = json_array_get(json_object_get(l, "runs"), 0);
        if (row) {
            json_t *r;
            const char *st;
            snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)json_integer_value(json_object_get(row, "id")));
            r = api_get(path);
            st = json_string_value(json_object_get(r, "status"));
            if (st && (!strcmp(st, "succeeded") || !strcmp(st, "failed"))) {
                json_decref(l);
                return r;
            }
            json_decref(r);
        }
        json_decref(l);
        if (tu_now_ms() > deadline)
            fail_msg("no final run for %s after 20 s", query);
        pause_ms(50);
    }
}

static const char *sget(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

/* The subject of run r with that key (normalized) and step (NULL: the event's), or NULL. */
static const json_t *subject(const json_t *r, const char *key, const char *step)
{
    size_t i, k;
    const json_t *s, *v;
    json_array_foreach (json_object_get(r, "subjects"), i, s) {
        const char *sid = sget(s, "step_id", NULL);
        if (step ? !sid || strcmp(sid, step) != 0 : sid != NULL)
            continue;
        json_array_foreach (json_object_get(s, "keys"), k, v) {
            if (!strcmp(json_string_value(v), key))
                return s;
        }
    }
    return NULL;
}

/* The change of run r's step record (item -1), or NULL for no change; fails when there is no such step. */
static const char *change_of(const json_t *r, const char *step)
{
    size_t i;
    const json_t *s;
    json_array_foreach (json_object_get(r, "steps"), i, s) {
        if (!strcmp(sget(s, "step_id", NULL), step))
            return sget(s, "change", NULL);
    }
    fail_msg("run has no step %s", step);
    return NULL;
}

static void assert_source(const json_t *r, const char *name, const char *via, const char *actor)
{
    const json_t *src = json_object_get(r, "source");
    assert_string_equal(sget(src, "name", NULL), name);
    assert_string_equal(sget(src, "via", NULL), via);
    if (actor)
        assert_string_equal(sget(src, "actor", NULL), actor);
    else
        assert_true(json_is_null(json_object_get(src, "actor")));
}

/* Runs listed for subject=key (URL-safe key): how many. */
static size_t runs_for(const char *key)
{
    char path[300];
    json_t *l = api_get((snprintf(path, sizeof path, "/api/v1/runs?subject=%s", key), path));
    size_t n = json_array_size(json_object_get(l, "runs"));
    json_decref(l);
    return n;
}

/* A System Log lock-out (poller: via poll) and the ticket it opened (HappyFox webhook: via hook). */
/* Waits until the System Log poller of "acme" has stored its first cursor:
 * its first poll asks for events since that moment (an idflow that starts
 * does not replay the org's past), so an event made before it is never read.
 * Fails after 20 s. */
static void wait_first_poll(void)
{
    int64_t deadline = tu_now_ms() + 20000;
    struct store *st = NULL;
    struct idf_err err;
    char *cursor = NULL;
    int rc;

    assert_int_equal(store_open(F.db, &st, &err), 0);
    while ((rc = store_cursor_get(st, "poll:okta:acme", &cursor)) == IDF_ENOTFOUND) {
        if (tu_now_ms() > deadline)
            fail_msg("the System Log poller of acme did not poll within 20 s");
        pause_ms(50);
    }
    assert_int_equal(rc, 0);
    free(cursor);
    store_close(st);
}

static void poll_and_webhook_record_subjects_and_changes(void **state)
{
    json_t *r, *t;
    char disp[32], num[16], q[200], uid[32];
    const json_t *s;
    (void)state;
    wait_first_poll();
    {
        char url[300];
        long status = 0;
        const char *h[] = {"Content-Type: application/json", NULL};
        snprintf(url, sizeof url, "%s/_sandbox/okta/users/hannah.kim%%40acme.example/fail_signin", F.sb);
        assert_int_equal(tu_http("POST", url, "{\"count\": 10}", h, &status, NULL), 0);
        assert_true(status >= 200 && status < 300);
    }
    r = final_run("workflow=locked&source=okta/poll");
    assert_string_equal(sget(r, "status", NULL), "succeeded");
    assert_source(r, "okta", "poll", NULL);
    assert_string_equal(sget(r, "source", "connection"), "acme");
    assert_string_equal(sget(r, "trigger", NULL), "okta.user_locked");
    assert_string_equal(sget(r, "subject", NULL), "hannah.kim" ST);
    /* the event's user, by login and by id */
    s = subject(r, "hannah.kim" ST, NULL);
    assert_non_null(s);
    assert_string_equal(sget(s, "kind", NULL), "okta.user");
    assert_int_equal(json_array_size(json_object_get(s, "keys")), 2);
    snprintf(uid, sizeof uid, "%s", json_string_value(json_array_get(json_object_get(s, "keys"), 0)));
    assert_true(strncmp(uid, "00u", 3) == 0);
    /* the user the steps resolved is the event's (a key is stored once, where it was first
     * seen); the ticket is the "ticket" step's */
    assert_null(subject(r, "hannah.kim" ST, "unlock"));
    assert_string_equal(change_of(r, "unlock"), "unlocked");
    assert_null(change_of(r, "again")); /* converged: nothing changed, nothing recorded */
    t = json_incref(json_object_get(json_array_get(json_object_get(r, "steps"), 2), "output"));
    snprintf(disp, sizeof disp, "%s", sget(t, "display_id", NULL));
    snprintf(num, sizeof num, "%lld", (long long)json_integer_value(json_object_get(t, "number")));
    json_decref(t);
    assert_true(disp[0] == '#');
    {
        char want[80], key[40];
        snprintf(want, sizeof want, "ticket %s created", disp);
        assert_string_equal(change_of(r, "ticket"), want);
        snprintf(key, sizeof key, "%s", disp + 1);
        for (char *p = key; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        assert_non_null(subject(r, key, "ticket"));
        assert_non_null(subject(r, num, "ticket"));
    }
    json_decref(r);

    /* the ticket's creation came back by HappyFox webhook: its run concerns the ticket */
    snprintf(q, sizeof q, "workflow=resolve&source=happyfox/hook&subject=%%23%s", disp + 1); /* "#HF..." */
    r = final_run(q);
    assert_string_equal(sget(r, "status", NULL), "succeeded");
    assert_source(r, "happyfox", "hook", NULL);
    assert_string_equal(sget(r, "subject", NULL), disp);
    assert_non_null(subject(r, num, NULL));
    assert_non_null(subject(r, "hannah.kim" ST, NULL)); /* the requester, by email */
    {
        char want[80];
        snprintf(want, sizeof want, "ticket %s resolved", disp);
        assert_string_equal(change_of(r, "solve"), want);
    }
    json_decref(r);

    /* found by every key: login, id, display id, number */
    assert_true(runs_for("hannah.kim" ST) >= 2);
    assert_true(runs_for(uid) >= 1);
    snprintf(q, sizeof q, "%%23%s", disp + 1);
    assert_int_equal(runs_for(q), 2); /* the run that made it and the run it started */
    assert_int_equal(runs_for(num), 2);
}

/* An Okta event hook delivery: via hook, the connection it came through. */
static void okta_hook_is_via_hook(void **state)
{
    char url[300], body[1500];
    long status = 0;
    const char *h[] = {"Content-Type: application/json", "Authorization: " OKTA_HOOK_SECRET, NULL};
    json_t *r;
    (void)state;

    snprintf(url, sizeof url, "%s/hooks/okta/acmehook", F.base);
    snprintf(body, sizeof body,
             "{\"eventType\":\"com.okta.event_hook\",\"data\":{\"events\":[{\"uuid\":\"subj-hook-1\","
             "\"published\":\"2026-12-07T10:00:00.000Z\",\"eventType\":\"user.account.lock\","
             "\"displayMessage\":\"Max sign in attempts exceeded\",\"outcome\":{\"result\":\"FAILURE\","
             "\"reason\":\"LOCKED_OUT\"},\"actor\":{\"id\":\"00uJULIA000000000001\",\"type\":\"User\","
             "\"alternateId\":\"julia.santos" ST "\",\"displayName\":\"Julia Santos\"},\"target\":null}]}}");
    assert_int_equal(tu_http("POST", url, body, h, &status, NULL), 0);
    assert_int_equal(status, 200);
    r = final_run("workflow=locked&source=okta/hook");
    assert_source(r, "okta", "hook", NULL);
    assert_string_equal(sget(r, "source", "connection"), "acmehook");
    assert_non_null(subject(r, "00ujulia000000000001", NULL));
    assert_non_null(subject(r, "julia.santos" ST, NULL));
    assert_string_equal(change_of(r, "unlock"), "unlocked");
    json_decref(r);
    assert_true(runs_for("julia.santos" ST) >= 1);
}

/* POST /api/v1/events with a token: via api, actor token:alice; the run's
 * subjects are its steps' (a manual event names nobody); the same again
 * changes nothing and records no change. */
static void api_run_has_actor_and_changes(void **state)
{
    const char *h[] = {AUTH, "Content-Type: application/json", NULL};
    char url[300];
    long status = 0;
    json_t *a, *r, *hist, *run;
    int64_t first;
    (void)state;

    snprintf(url, sizeof url, "%s/api/v1/events", F.base);
    for (int round = 0; round < 2; round++) {
        char q[100];
        int64_t id;
        a = sfx_assert_http_json("POST", url, "{\"workflow\":\"offboard\",\"data\":{\"login\":\"grace.liu" ST "\"}}", h,
                                 &status);
        assert_int_equal(status, 202);
        id = json_integer_value(json_array_get(json_object_get(a, "run_ids"), 0));
        json_decref(a);
        assert_true(id > 0);
        /* this run, as the list finds it: by workflow, source/via and the id bound */
        snprintf(q, sizeof q, "workflow=offboard&source=manual/api&before=%lld", (long long)id + 1);
        r = final_run(q);
        assert_int_equal(json_integer_value(json_object_get(r, "id")), id);
        assert_string_equal(sget(r, "status", NULL), "succeeded");
        assert_source(r, "manual", "api", "token:alice");
        assert_string_equal(sget(r, "subject", NULL), "grace.liu" ST);
        assert_non_null(subject(r, "grace.liu" ST, "suspend")); /* first resolved by suspend */
        assert_non_null(subject(r, "vpn users", "vpn"));
        if (round == 0) {
            first = id;
            assert_string_equal(change_of(r, "suspend"), "suspended");
            assert_string_equal(change_of(r, "vpn"), "added to VPN Users");
        } else {
            assert_true(id > first);
            assert_null(change_of(r, "suspend")); /* already suspended */
            assert_null(change_of(r, "vpn"));     /* already a member */
        }
        json_decref(r);
    }
    /* the timeline: both runs, newest first; only the first changed anything */
    hist = api_get("/api/v1/history?subject=Grace.Liu" ST);
    assert_int_equal(json_array_size(json_object_get(hist, "runs")), 2);
    run = json_array_get(json_object_get(hist, "runs"), 0);
    assert_int_equal(json_array_size(json_object_get(run, "changes")), 0);
    run = json_array_get(json_object_get(hist, "runs"), 1);
    assert_int_equal(json_integer_value(json_object_get(run, "id")), first);
    assert_int_equal(json_array_size(json_object_get(run, "changes")), 2);
    assert_string_equal(sget(json_array_get(json_object_get(run, "changes"), 0), "change", NULL), "suspended");
    json_decref(hist);
}

/* A foreach step: each item's record carries its own change, and each
 * item's user is a subject of the run (from that step). */
static void foreach_items_carry_their_own(void **state)
{
    const char *h[] = {AUTH, "Content-Type: application/json", NULL};
    char url[300];
    long status = 0;
    json_t *a, *r, *hist;
    size_t i, items = 0;
    const json_t *st;
    (void)state;

    snprintf(url, sizeof url, "%s/api/v1/events", F.base);
    a = sfx_assert_http_json("POST", url,
                             "{\"workflow\":\"bulk\",\"data\":{\"logins\":[\"liam.obrien" ST "\",\"ava.patel" ST
                             "\",\"peter.novak" ST "\"]}}",
                             h, &status);
    assert_int_equal(status, 202);
    json_decref(a);
    r = final_run("workflow=bulk");
    assert_string_equal(sget(r, "status", NULL), "succeeded");
    json_array_foreach (json_object_get(r, "steps"), i, st) {
        int item = (int)json_integer_value(json_object_get(st, "item"));
        if (item < 0)
            continue;
        items++;
        if (item < 2)
            assert_string_equal(sget(st, "change", NULL), "suspended");
        else
            assert_true(json_is_null(json_object_get(st, "change"))); /* peter was SUSPENDED already */
    }
    assert_int_equal(items, 3);
    assert_non_null(subject(r, "liam.obrien" ST, "each"));
    assert_non_null(subject(r, "ava.patel" ST, "each"));
    assert_non_null(subject(r, "peter.novak" ST, "each"));
    json_decref(r);
    hist = api_get("/api/v1/history?subject=ava.patel" ST);
    assert_int_equal(json_array_size(json_object_get(hist, "runs")), 1);
    assert_string_equal(
        sget(json_array_get(json_object_get(json_array_get(json_object_get(hist, "runs"), 0), "changes"), 0), "change",
             NULL),
        "suspended");
    json_decref(hist);
}

/* `idflow run`: via cli, actor cli:USER, the event file's user. */
static void cli_run_is_via_cli(void **state)
{
    char wf[600], ev[600], *out = NULL;
    json_t *r;
    const char *user;
    (void)state;

    snprintf(wf, sizeof wf, "%s/look.yaml", F.dir);
    snprintf(ev, sizeof ev, "%s/lock-event.json", F.dir);
    assert_int_equal(tu_write_file(wf, wf_cli), 0);
    assert_int_equal(tu_write_file(ev, "{\"type\": \"okta.user_locked\", \"user\": {\"id\": \"00uJAMES00000000001\","
                                       " \"login\": \"james.okafor" ST "\", \"type\": \"User\"}}"),
                     0);
    /* serve's workers share the database and may claim the stored run before `idflow run` does
     * (it then says "another process holds it"): who executes it does not matter here, what the
     * event was stored with does */
    (void)sfx_idflow(&F, NULL, &out, "run", wf, "--event", ev, "--db", F.db, NULL);
    free(out);
    r = final_run("workflow=look&source=cli/cli");
    assert_string_equal(sget(r, "status", NULL), "succeeded");
    user = sget(json_object_get(r, "source"), "actor", NULL);
    assert_non_null(user);
    assert_true(strncmp(user, "cli:", 4) == 0);
    assert_source(r, "cli", "cli", user);
    assert_non_null(subject(r, "james.okafor" ST, NULL));
    assert_non_null(subject(r, "00ujames00000000001", NULL));
    {
        /* get_user read the real user: its real id is the step's (the event file's id was made up) */
        const json_t *o = json_object_get(json_array_get(json_object_get(r, "steps"), 0), "output");
        char id[40];
        snprintf(id, sizeof id, "%s", sget(o, "id", NULL));
        for (char *p = id; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        assert_non_null(subject(r, id, "user"));
    }
    assert_null(change_of(r, "user"));
    json_decref(r);
}

/* A schedule tick: via schedule, no actor, no subject. */
static void schedule_is_via_schedule(void **state)
{
    json_t *r;
    (void)state;
    r = final_run("workflow=tick");
    assert_source(r, "schedule", "schedule", NULL);
    assert_true(json_is_null(json_object_get(r, "subject")));
    assert_int_equal(json_array_size(json_object_get(r, "subjects")), 0);
    json_decref(r);
}

static void serve_exits_cleanly(void **state)
{
    (void)state;
    assert_int_equal(sfx_serve_stop(&F), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(poll_and_webhook_record_subjects_and_changes),
        cmocka_unit_test(okta_hook_is_via_hook),
        cmocka_unit_test(api_run_has_actor_and_changes),
        cmocka_unit_test(foreach_items_carry_their_own),
        cmocka_unit_test(cli_run_is_via_cli),
        cmocka_unit_test(schedule_is_via_schedule),
        cmocka_unit_test(serve_exits_cleanly),
    };
    return cmocka_run_group_tests_name("test_run_subjects", tests, setup, teardown);
}

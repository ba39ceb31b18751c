/* test_triggers.c — Okta events reaching workflows end to end: a real
 * `idflow sandbox` and a real `idflow serve` as processes. The okta
 * connection is made with `idflow connect okta --sandbox` (mode both, so
 * the hook AND the System Log poller run), an event hook is registered and
 * verified through the sandbox's eventHooks API, and people are simulated
 * through /_sandbox/okta/. Asserts: a lock-out starts its workflow once with
 * the locked user although it arrives by hook and by poll; a profile change
 * carries its changes; a group add its group; loop prevention; a delivery
 * posted twice runs once; events emitted while idflow is stopped are picked
 * up by the poller after the restart; bad input is a 4xx that stores
 * nothing while the server keeps serving; `idflow connect --register-hook`
 * updates the hook for the workflows' event types and rotates its secret;
 * a delivery over 1 MiB (413, which Okta never retries) is repaired by the
 * poller, each of its events starting its workflow once;
 * the generic webhook connector (bearer and hmac): a signed request replayed,
 * or replayed under a new X-Idflow-Event-Id, starts nothing new, and event
 * ids and timestamps outside their one spelling are refused;
 * the server exits cleanly (no sanitizer report) and never logs a secret.
 * IDFLOW_BIN is the binary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/serve_fixture.h"
#include "support/testutil.h"

#define TOKEN "sbx-0123456789-abcdefghij-TOKEN"
#define HOOK_SECRET "hook-secret-0123456789-abcdefXYZ"
#define TOKEN_ID "00Tsandboxidflow0001" /* the default seed's org.apiTokenId */
#define WAIT_MS 15000

/* the sandbox org and serve (its log must never hold the token or the hook secret) */
static struct sfx F = {.secrets = {HOOK_SECRET, TOKEN}};
static char hook_id[64]; /* the event hook registered in the sandbox org */

/* ---------------------------------------------------------------- helpers */

#define http_json sfx_assert_http_json

static json_t *okta_api(const char *method, const char *path, const char *body, long want)
{
    const char *h[] = {"Authorization: SSWS " TOKEN, "Content-Type: application/json", "Accept: application/json",
                       NULL};
    char url[600];
    long status = 0;
    json_t *j;
    snprintf(url, sizeof url, "%s%s", F.sb, path);
    j = http_json(method, url, body ? body : (strcmp(method, "GET") ? "" : NULL), h, &status);
    if (status != want)
        fail_msg("%s %s: HTTP %ld, expected %ld", method, path, status, want);
    return j;
}

static void sandbox_admin(const char *path, const char *body)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    char url[600];
    long status = 0;
    json_t *j;
    snprintf(url, sizeof url, "%s%s", F.sb, path);
    j = http_json("POST", url, body, h, &status);
    if (status != 200)
        fail_msg("POST %s: HTTP %ld", path, status);
    json_decref(j);
}

static const char *const SERVE_ARGS[] = {"--workers", "2", NULL};

static int group_setup(void **state)
{
    const char *sandbox_args[] = {"--token", TOKEN, NULL};
    char tok[500], hs[500], body[1200];
    json_t *h;
    (void)state;

    if (sfx_start(&F, sandbox_args) || sfx_write_secret(&F, "token", TOKEN, tok, sizeof tok) ||
        sfx_write_secret(&F, "hook_secret", HOOK_SECRET, hs, sizeof hs))
        return -1;
    if (sfx_write_wf(&F, "lock", "name: on-lock\non:\n  okta.user_locked: {connection: sb}\nsteps:\n"
                         "  - id: who\n    do: set\n    with: {login: '${{ .event.user.login }}'}\n") ||
        sfx_write_wf(&F, "deact", "name: on-deactivate\non:\n  okta.user_deactivated: {}\nsteps:\n"
                          "  - id: who\n    do: set\n    with: {login: '${{ .event.user.login }}'}\n") ||
        sfx_write_wf(&F, "profile", "name: on-profile\non:\n  okta.user_profile_updated: {}\n"
                            "when:\n  - .event.changes.department != null\nsteps:\n"
                            "  - id: who\n    do: set\n    with: {to: '${{ .event.changes.department.to }}'}\n") ||
        /* the marker of wait_poller_caught_up: a trailing '*' cannot be subscribed by a hook,
         * so --register-hook leaves sign-ins to the poller */
        sfx_write_wf(&F, "signin", "name: on-signin\non:\n  okta.event: {type: 'user.session.start*'}\n"
                           "when:\n  - .event.outcome.result == \"SUCCESS\"\nsteps:\n"
                           "  - id: who\n    do: set\n    with: {login: '${{ .event.user.login }}'}\n") ||
        sfx_write_wf(&F, "webhook", "name: on-webhook\non:\n  webhook: {connection: gh}\nsteps:\n"
                            "  - id: who\n    do: set\n    with: {name: '${{ .event.data.name }}'}\n") ||
        sfx_write_wf(&F, "signed", "name: on-signed\non:\n  webhook: {connection: signed}\nsteps:\n"
                           "  - id: who\n    do: set\n    with: {name: '${{ .event.data.name }}'}\n") ||
        /* not hook-eligible (Okta's list): --register-hook leaves it to the poller */
        sfx_write_wf(&F, "signon", "name: on-signon-policy\non:\n  okta.event: {type: policy.evaluate_sign_on}\nsteps:\n"
                           "  - id: who\n    do: set\n    with: {login: '${{ .event.user.login }}'}\n") ||
        sfx_write_wf(&F, "group", "name: on-group\non:\n  okta.user_added_to_group: {}\nsteps:\n"
                          "  - id: who\n    do: set\n    with: {group: '${{ .event.group.name }}'}\n") ||
        sfx_write_wf(&F, "group-noloop", "name: on-group-noloop\non:\n  okta.user_added_to_group: {ignore_own_token: true}\n"
                                 "steps:\n  - id: who\n    do: set\n    with: {group: '${{ .event.group.name }}'}\n"))
        return -1;
    if (sfx_idflow(&F, NULL, NULL, "connect", "webhook", "gh", "--secret-file", hs, "--db", F.db, NULL) != 0 ||
        sfx_idflow(&F, NULL, NULL, "connect", "webhook", "signed", "--secret-file", hs, "--auth", "hmac", "--replay-window", "60",
                   "--db", F.db, NULL) != 0)
        return -1;
    if (sfx_idflow(&F, NULL, NULL, "connect", "okta", "sb", "--url", F.sb, "--sandbox", "--token-file", tok, "--hook-secret-file", hs,
                   "--mode", "both", "--poll-interval", "1", "--token-id", TOKEN_ID, "--db", F.db, NULL) != 0)
        return -1;
    if (sfx_serve_start(&F, NULL, SERVE_ARGS))
        return -1;
    /* register the event hook in the (sandbox) org and verify it */
    snprintf(body, sizeof body,
             "{\"name\":\"idflow\",\"events\":{\"type\":\"EVENT_TYPE\",\"items\":[\"user.account.lock\","
             "\"user.account.update_profile\",\"group.user_membership.add\",\"user.lifecycle.deactivate\"]},"
             "\"channel\":{\"type\":\"HTTP\",\"version\":\"1.0.0\",\"config\":{\"uri\":\"%s/hooks/okta/sb\","
             "\"authScheme\":{\"type\":\"HEADER\",\"key\":\"Authorization\",\"value\":\"" HOOK_SECRET "\"}}}}",
             F.base);
    h = okta_api("POST", "/api/v1/eventHooks", body, 200);
    snprintf(hook_id, sizeof hook_id, "%s", json_string_value(json_object_get(h, "id")));
    json_decref(h);
    {
        char path[200];
        snprintf(path, sizeof path, "/api/v1/eventHooks/%s/lifecycle/verify", hook_id);
        h = okta_api("POST", path, NULL, 200);
        if (strcmp(json_string_value(json_object_get(h, "verificationStatus")), "VERIFIED") != 0)
            return -1;
        json_decref(h);
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return sfx_stop(&F) == 0 ? 0 : -1;
}

/* The value of one metric line of /metrics ("name value"). */
#define metric(name) sfx_assert_metric(&F, name)

/* Runs of wf whose step "who" has output[key] == value (each run read whole, after every
 * stored event was matched); every run of wf; waiting until n runs have it. */
#define count_runs(wf, key, value) sfx_assert_count_runs(&F, wf, "who", key, value)
#define count_all_runs(wf) sfx_assert_count_all_runs(&F, wf)
#define wait_runs(wf, key, value, n) sfx_assert_wait_runs(&F, wf, "who", key, value, n, WAIT_MS)

/* Waits until the poller has caught up with everything that happened so
 * far: a sign-in appended now (user.session.start is not subscribed by the
 * hook, only the poller brings it; events are submitted in log order) has
 * started its marker workflow. */
static void wait_poller_caught_up(void)
{
    int n = count_runs("on-signin", "login", "dana.whitfield@acme.example");
    sandbox_admin("/_sandbox/okta/users/dana.whitfield%40acme.example/signin", "{}");
    wait_runs("on-signin", "login", "dana.whitfield@acme.example", n + 1);
}

static long post_hook(const char *conn, const char *secret, const char *body, char **resp_out)
{
    char url[300], auth[300];
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    long status = 0;
    char *resp = NULL;
    snprintf(url, sizeof url, "%s/hooks/okta/%s", F.base, conn);
    if (secret)
        snprintf(auth, sizeof auth, "Authorization: %s", secret);
    else
        h[1] = NULL;
    assert_int_equal(tu_http("POST", url, body, h, &status, &resp), 0);
    if (resp_out)
        *resp_out = resp;
    else
        free(resp);
    return status;
}

static char *sample(const char *name)
{
    char path[600];
    char *s;
    snprintf(path, sizeof path, "%s/tests/data/okta-samples/%s", F.src ? F.src : ".", name);
    s = tu_read_file(path, NULL);
    assert_non_null(s);
    return s;
}

/* ------------------------------------------------------------------ tests */

static void test_lockout_by_hook_and_poll_runs_once(void **state)
{
    (void)state;
    sandbox_admin("/_sandbox/okta/users/james.okafor%40acme.example/fail_signin", "{\"count\":10}");
    wait_runs("on-lock", "login", "james.okafor@acme.example", 1);
    /* the lock event came by hook and, with mode both, also by poll: once the
     * poller has caught up, there is still exactly one run */
    wait_poller_caught_up();
    assert_int_equal(count_runs("on-lock", "login", "james.okafor@acme.example"), 1);
    assert_int_equal(count_all_runs("on-lock"), 1);
    {
        char url[300], *resp = NULL;
        long status = 0;
        snprintf(url, sizeof url, "%s/_sandbox/deliveries", F.sb);
        assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
        assert_non_null(strstr(resp, "\"method\":\"POST\"")); /* it really was delivered by the hook */
        free(resp);
    }
    assert_true(metric("idflow_events_duplicate_total") >= 1);
}

static void test_profile_change_carries_changes(void **state)
{
    (void)state;
    sandbox_admin("/_sandbox/okta/users/maria.gonzalez%40acme.example/profile",
                  "{\"profile\":{\"department\":\"Sales Engineering\"}}");
    wait_runs("on-profile", "to", "Sales Engineering", 1);
    /* a change without department does not match the workflow's `when` */
    sandbox_admin("/_sandbox/okta/users/maria.gonzalez%40acme.example/profile", "{\"profile\":{\"title\":\"CTO\"}}");
    wait_poller_caught_up();
    assert_int_equal(count_runs("on-profile", "to", "Sales Engineering"), 1);
}

static void test_group_add_and_loop_prevention(void **state)
{
    json_t *groups, *user;
    char path[300];
    const char *gid, *uid;
    (void)state;
    groups = okta_api("GET", "/api/v1/groups?q=Finance", NULL, 200);
    user = okta_api("GET", "/api/v1/users/james.okafor%40acme.example", NULL, 200);
    gid = json_string_value(json_object_get(json_array_get(groups, 0), "id"));
    uid = json_string_value(json_object_get(user, "id"));
    assert_non_null(gid);
    assert_non_null(uid);
    snprintf(path, sizeof path, "/api/v1/groups/%s/users/%s", gid, uid);
    json_decref(okta_api("PUT", path, NULL, 204));
    wait_runs("on-group", "group", "Finance", 1);
    wait_poller_caught_up();
    /* the change was made with the connection's own API token: the workflow
     * that ignores its own token's events did not run */
    assert_int_equal(count_runs("on-group-noloop", "group", "Finance"), 0);
    assert_int_equal(count_runs("on-group", "group", "Finance"), 1);
    json_decref(groups);
    json_decref(user);
}

static void test_delivery_posted_twice_runs_once(void **state)
{
    char *body = sample("03-eventhook-delivery-user.lifecycle.deactivate.RECONSTRUCTED.json");
    (void)state;
    assert_int_equal(post_hook("sb", HOOK_SECRET, body, NULL), 200);
    /* answered once the event was stored; the matcher creates its run after
     * (count_all_runs waits until every stored event was matched) */
    assert_int_equal(count_all_runs("on-deactivate"), 1);
    assert_int_equal(post_hook("sb", HOOK_SECRET, body, NULL), 200);
    assert_int_equal(count_all_runs("on-deactivate"), 1);
    wait_runs("on-deactivate", "login", "john.doe@example.com", 1);
    assert_int_equal(count_runs("on-deactivate", "login", "john.doe@example.com"), 1);
    free(body);
}

static void test_every_sample_is_accepted(void **state)
{
    static const char *const deliveries[] = {
        "01-eventhook-delivery-user.session.start.okta-docs.json",
        "05-eventhook-delivery-group.user_membership.add.preview-aws-sample.json",
        "07-eventhook-delivery-user.lifecycle.activate+update_profile.RECONSTRUCTED.json",
    };
    long long events = metric("idflow_events_total"), dups;
    (void)state;
    for (size_t i = 0; i < sizeof deliveries / sizeof deliveries[0]; i++) {
        char *body = sample(deliveries[i]);
        assert_int_equal(post_hook("sb", HOOK_SECRET, body, NULL), 200);
        free(body);
    }
    /* four events acknowledged (the last delivery batches two) */
    assert_true(metric("idflow_events_total") >= events + 4);
    /* delivered again: all four are duplicates */
    dups = metric("idflow_events_duplicate_total");
    for (size_t i = 0; i < sizeof deliveries / sizeof deliveries[0]; i++) {
        char *body = sample(deliveries[i]);
        assert_int_equal(post_hook("sb", HOOK_SECRET, body, NULL), 200);
        free(body);
    }
    assert_true(metric("idflow_events_duplicate_total") >= dups + 4);
}

static void test_bad_input_stores_nothing(void **state)
{
    long long before;
    char *body = sample("03-eventhook-delivery-user.lifecycle.deactivate.RECONSTRUCTED.json");
    char *big, *resp = NULL, url[300];
    long status = 0;
    (void)state;
    wait_poller_caught_up(); /* nothing else arrives meanwhile */
    before = metric("idflow_events_total");
    assert_int_equal(post_hook("sb", "wrong-secret", body, &resp), 401);
    assert_null(strstr(resp, HOOK_SECRET));
    free(resp);
    assert_int_equal(post_hook("sb", NULL, body, NULL), 401);
    assert_int_equal(post_hook("sb", HOOK_SECRET "x", body, NULL), 401);
    assert_int_equal(post_hook("sb", HOOK_SECRET, "{\"data\": {\"events\": [", NULL), 400);
    assert_int_equal(post_hook("sb", HOOK_SECRET, "[1,2,3]", NULL), 400);
    assert_int_equal(post_hook("nosuch", HOOK_SECRET, body, NULL), 404);
    assert_int_equal(post_hook("a%2Fb", HOOK_SECRET, body, NULL), 404);
    big = malloc((2u << 20) + 1);
    memset(big, ' ', 2u << 20);
    big[2u << 20] = '\0';
    big[0] = '{';
    big[(2u << 20) - 1] = '}';
    assert_int_equal(post_hook("sb", HOOK_SECRET, big, NULL), 413);
    free(big);
    snprintf(url, sizeof url, "%s/hooks/nosuchconnector/sb", F.base);
    assert_int_equal(tu_http("POST", url, "{}", NULL, &status, NULL), 0);
    assert_int_equal(status, 404);
    /* nothing was stored, and the server still serves */
    assert_int_equal(metric("idflow_events_total"), before);
    snprintf(url, sizeof url, "%s/healthz", F.base);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, NULL), 0);
    assert_int_equal(status, 200);
    /* the verification GET answers the challenge */
    {
        const char *h[] = {"x-okta-verification-challenge: abc123", NULL};
        json_t *j;
        snprintf(url, sizeof url, "%s/hooks/okta/sb", F.base);
        j = http_json("GET", url, NULL, h, &status);
        assert_int_equal(status, 200);
        assert_string_equal(json_string_value(json_object_get(j, "verification")), "abc123");
        json_decref(j);
    }
    free(body);
}

static void test_events_while_stopped_are_polled_after_restart(void **state)
{
    (void)state;
    wait_poller_caught_up(); /* the checkpoint is past everything so far */
    assert_int_equal(sfx_serve_stop(&F), 0);
    /* the hook delivery fails now (nobody listens): only the poller can bring it */
    sandbox_admin("/_sandbox/okta/users/olivia.chen%40acme.example/fail_signin", "{\"count\":10}");
    assert_int_equal(sfx_serve_start(&F, NULL, SERVE_ARGS), 0);
    wait_runs("on-lock", "login", "olivia.chen@acme.example", 1);
    wait_poller_caught_up();
    assert_int_equal(count_runs("on-lock", "login", "olivia.chen@acme.example"), 1);
    /* and the earlier lock-out was not started again by re-reading old pages */
    assert_int_equal(count_runs("on-lock", "login", "james.okafor@acme.example"), 1);
}

/* /api/v1/logs calls the sandbox received since seq, by status. */
static void logs_calls(long long since, int *n_total, int *n_429, int *n_5xx)
{
    char url[300];
    long status = 0;
    json_t *j, *c;
    size_t i;
    *n_total = *n_429 = *n_5xx = 0;
    snprintf(url, sizeof url, "%s/_sandbox/calls?since=%lld&path=/api/v1/logs", F.sb, since);
    j = http_json("GET", url, NULL, NULL, &status);
    assert_int_equal(status, 200);
    json_array_foreach(json_object_get(j, "calls"), i, c)
    {
        json_int_t st = json_integer_value(json_object_get(c, "status"));
        (*n_total)++;
        *n_429 += st == 429;
        *n_5xx += st >= 500;
    }
    json_decref(j);
}

static void test_poller_backs_off_on_429_and_5xx(void **state)
{
    char url[300];
    long status = 0;
    json_t *j;
    long long seq;
    int total, n429, n5xx;
    (void)state;
    wait_poller_caught_up();
    snprintf(url, sizeof url, "%s/_sandbox/calls?path=/api/v1/logs", F.sb);
    j = http_json("GET", url, NULL, NULL, &status);
    seq = json_integer_value(json_object_get(j, "last"));
    json_decref(j);
    /* the next poll gets a 429, the one after that a 503 */
    sandbox_admin("/_sandbox/faults", "{\"spec\": \"path=/api/v1/logs,burst429=1;"
                                      "path=/api/v1/logs,error_rate=1,status=503,count=1\"}");
    sandbox_admin("/_sandbox/okta/users/ethan.brooks%40acme.example/fail_signin", "{\"count\":10}");
    /* the poller gets through (the sign-in marker only comes by poll) */
    wait_poller_caught_up();
    logs_calls(seq, &total, &n429, &n5xx);
    assert_int_equal(n429, 1);
    assert_int_equal(n5xx, 1);
    /* it waited between attempts instead of hammering: a handful of calls, not hundreds */
    assert_true(total <= 8);
    assert_int_equal(count_runs("on-lock", "login", "ethan.brooks@acme.example"), 1);
    snprintf(url, sizeof url, "%s/_sandbox/faults", F.sb);
    assert_int_equal(tu_http("DELETE", url, NULL, NULL, &status, NULL), 0);
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* A workflow listening to an event type Okta cannot put in an event hook, on
 * a hook-only connection, would never run: idflow validate warns (naming the
 * file, the type and the fix) without failing, and idflow serve logs it once
 * at start. A hook-eligible type, or mode both, is no warning. */
static void test_ineligible_type_on_hook_only_connection_warns(void **state)
{
    char dir[500], db[560], wfdir[560], tok[560], bad[600], good[600], listen[64], url[200], *err = NULL;
    const char *msg = "Okta event type 'policy.evaluate_sign_on' is not eligible for event hooks";
    struct tu_proc serve;
    (void)state;

    snprintf(dir, sizeof dir, "%s/hookonly", F.dir);
    snprintf(db, sizeof db, "sqlite:%s/idflow.db", dir);
    snprintf(wfdir, sizeof wfdir, "%s/wf", dir);
    snprintf(tok, sizeof tok, "%s/token", F.dir);
    snprintf(bad, sizeof bad, "%s/signon.yaml", wfdir);
    snprintf(good, sizeof good, "%s/sso.yaml", wfdir);
    {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", wfdir);
        assert_int_equal(system(cmd), 0);
    }
    assert_int_equal(tu_write_file(bad, "name: signon\non:\n  okta.event: {type: policy.evaluate_sign_on, connection: "
                                        "ho}\nsteps:\n  - id: s\n    do: set\n    with: {a: 1}\n"),
                     0);
    assert_int_equal(tu_write_file(good, "name: sso\non:\n  okta.event: {type: user.authentication.sso}\nsteps:\n"
                                         "  - id: s\n    do: set\n    with: {a: 1}\n"),
                     0);
    /* with no store to read connections from, validate checks the files only */
    {
        const char *argv[] = {F.bin, "validate", "--db", db, bad, NULL};
        assert_int_equal(tu_run(argv, NULL, 30000, NULL, &err), 0);
        assert_non_null(strstr(err, "no store at"));
        assert_null(strstr(err, msg));
        free(err);
    }
    /* mode hook: the default */
    assert_int_equal(sfx_idflow(&F, NULL, NULL, "connect", "okta", "ho", "--url", F.sb, "--sandbox", "--token-file", tok, "--db", db,
                                NULL),
                     0);
    {
        const char *argv[] = {F.bin, "validate", "--db", db, bad, good, NULL};
        char want[300];
        assert_int_equal(tu_run(argv, NULL, 30000, NULL, &err), 0); /* a warning, not a failure */
        snprintf(want, sizeof want, "%s: warning: trigger okta.event, connection 'ho' (okta): %s", bad, msg);
        assert_non_null(strstr(err, want));
        assert_non_null(strstr(err, "Set the connection's mode to both (or poll)"));
        assert_int_equal(count_of(err, "warning:"), 1); /* not for sso.yaml: eligible */
        free(err);
    }
    /* idflow serve logs it once, at start */
    snprintf(listen, sizeof listen, "127.0.0.1:%d", tu_free_port());
    {
        const char *argv[] = {F.bin, "serve", "--db", db, "--listen", listen, "--workflows", wfdir, "--workers", "1",
                              NULL};
        assert_int_equal(tu_spawn(argv, NULL, &serve), 0);
    }
    snprintf(url, sizeof url, "http://%s/readyz", listen);
    assert_int_equal(tu_wait_http_ok(url, WAIT_MS), 0);
    tu_kill(&serve, SIGTERM);
    assert_int_equal(tu_wait(&serve, 15000), 0);
    err = tu_proc_stderr(&serve);
    tu_proc_cleanup(&serve);
    assert_int_equal(count_of(err, msg), 1);
    assert_non_null(strstr(err, "workflow signon, trigger okta.event: connection 'ho' (okta)"));
    free(err);
    /* mode both: the poller brings it, no warning */
    assert_int_equal(sfx_idflow(&F, NULL, NULL, "connect", "okta", "ho", "--url", F.sb, "--sandbox", "--token-file", tok, "--mode",
                                "both", "--db", db, NULL),
                     0);
    {
        const char *argv[] = {F.bin, "validate", "--db", db, bad, good, NULL};
        assert_int_equal(tu_run(argv, NULL, 30000, NULL, &err), 0);
        assert_null(strstr(err, "warning:"));
        free(err);
    }
}

/* The deliveries the sandbox recorded (its /_sandbox/deliveries list). */
static json_t *deliveries(void)
{
    char url[300];
    long status = 0;
    json_t *j;
    snprintf(url, sizeof url, "%s/_sandbox/deliveries", F.sb);
    j = http_json("GET", url, NULL, NULL, &status);
    assert_int_equal(status, 200);
    return j;
}

static bool one_delivery_done(void *ud)
{
    json_t *j = deliveries();
    bool done = json_array_size(json_object_get(j, "deliveries")) >= 1;
    (void)ud;
    json_decref(j);
    return done;
}

#define OVERSIZE_EVENTS 4
#define OVERSIZE_PAD 300000 /* bytes of debugData per event: 4 of them pass 1 MiB */

/* A delivery over 1 MiB is answered 413; Okta does not retry a 4xx
 * ("Responses with a 4xx status code are not retried"), so its events are
 * lost to the hook path. With mode both the System Log poller brings each
 * of them, and each starts its workflow exactly once. */
static void test_oversized_delivery_is_repaired_by_the_poller(void **state)
{
    char url[300], *body, *p;
    long status = 0;
    json_t *j, *d, *attempts;
    (void)state;
    wait_poller_caught_up();
    snprintf(url, sizeof url, "%s/_sandbox/deliveries", F.sb);
    assert_int_equal(tu_http("DELETE", url, NULL, NULL, &status, NULL), 0);

    body = malloc(OVERSIZE_PAD + 1000);
    assert_non_null(body);
    p = body + sprintf(body, "{\"eventType\":\"user.account.lock\",\"count\":%d,"
                             "\"actor\":{\"id\":\"00uoversizedbatch001\",\"type\":\"User\","
                             "\"alternateId\":\"big.batch@acme.example\",\"displayName\":\"Big Batch\"},"
                             "\"outcome\":{\"result\":\"FAILURE\",\"reason\":\"LOCKED_OUT\"},"
                             "\"debugContext\":{\"debugData\":{\"pad\":\"",
                       OVERSIZE_EVENTS);
    memset(p, 'x', OVERSIZE_PAD);
    strcpy(p + OVERSIZE_PAD, "\"}}}");
    sandbox_admin("/_sandbox/okta/events", body);
    free(body);

    /* the hook got one delivery with every event, and refused it: 413, and
     * no retry after a 413. idflow closes the connection once the body passes
     * 1 MiB, so a sender still writing may see the close before the answer: a
     * network error, which Okta retries once (as the sandbox does), with the
     * same outcome. Either way no attempt was accepted. */
    assert_true(tu_wait_until(one_delivery_done, NULL, WAIT_MS));
    j = deliveries();
    assert_int_equal(json_array_size(json_object_get(j, "deliveries")), 1);
    d = json_array_get(json_object_get(j, "deliveries"), 0);
    assert_string_equal(json_string_value(json_object_get(d, "method")), "POST");
    assert_true(json_is_false(json_object_get(d, "ok")));
    attempts = json_object_get(d, "attempts");
    assert_in_range(json_array_size(attempts), 1, 2);
    for (size_t k = 0; k < json_array_size(attempts); k++) {
        const json_t *a = json_array_get(attempts, k);
        if (json_object_get(a, "status")) {
            assert_int_equal(json_integer_value(json_object_get(a, "status")), 413);
            assert_int_equal(k, json_array_size(attempts) - 1); /* nothing after a 413 */
        } else {
            assert_non_null(json_string_value(json_object_get(a, "error")));
        }
    }
    json_decref(j);

    /* the poller repairs it: every event, once */
    wait_runs("on-lock", "login", "big.batch@acme.example", OVERSIZE_EVENTS);
    wait_poller_caught_up();
    assert_int_equal(count_runs("on-lock", "login", "big.batch@acme.example"), OVERSIZE_EVENTS);
}

static void test_register_hook_rotates_secret(void **state)
{
    char url[300], *resp = NULL, *body;
    long status = 0;
    json_t *hooks, *items;
    const json_t *h = NULL;
    size_t i;
    static const char *const want[] = {"user.account.lock", "user.lifecycle.deactivate",
                                       "user.account.update_profile", "group.user_membership.add"};
    (void)state;
    snprintf(url, sizeof url, "%s/hooks/okta/sb", F.base);
    /* the hook registered by hand in setup points at url: it is updated, not duplicated */
    assert_int_equal(sfx_idflow(&F, NULL, NULL, "connect", "okta", "sb", "--register-hook", url, "--db", F.db, NULL), 0);
    hooks = okta_api("GET", "/api/v1/eventHooks", NULL, 200);
    assert_int_equal(json_array_size(hooks), 1);
    h = json_array_get(hooks, 0);
    assert_string_equal(json_string_value(json_object_get(h, "id")), hook_id);
    assert_string_equal(json_string_value(json_object_get(h, "verificationStatus")), "VERIFIED");
    items = json_object_get(json_object_get(h, "events"), "items");
    /* exactly the event types of the enabled workflows' triggers that Okta allows in a hook: not
     * policy.evaluate_sign_on (on-signon-policy), which the poller brings (mode both) */
    assert_int_equal(json_array_size(items), 4);
    for (size_t k = 0; k < 4; k++) {
        bool found = false;
        json_t *v;
        json_array_foreach(items, i, v) found = found || !strcmp(json_string_value(v), want[k]);
        assert_true(found);
    }
    json_decref(hooks);
    /* the secret was rotated: the old one is refused ... */
    body = sample("03-eventhook-delivery-user.lifecycle.deactivate.RECONSTRUCTED.json");
    {
        /* the server re-reads a connection within 2 s; until then the old secret
         * still works (re-posting an already stored event is harmless) */
        int64_t deadline = tu_now_ms() + WAIT_MS;
        while (post_hook("sb", HOOK_SECRET, body, NULL) != 401) {
            struct timespec ts = {0, 20 * 1000000};
            if (tu_now_ms() > deadline)
                fail_msg("the old hook secret is still accepted after %d ms", WAIT_MS);
            nanosleep(&ts, NULL);
        }
    }
    free(body);
    /* ... and the hook's deliveries, with the new one, are accepted */
    snprintf(url, sizeof url, "%s/_sandbox/deliveries", F.sb);
    assert_int_equal(tu_http("DELETE", url, NULL, NULL, &status, NULL), 0);
    sandbox_admin("/_sandbox/okta/users/sofia.rossi%40acme.example/fail_signin", "{\"count\":10}");
    wait_runs("on-lock", "login", "sofia.rossi@acme.example", 1);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    assert_non_null(strstr(resp, "\"method\":\"POST\""));
    assert_null(strstr(resp, "\"status\":401"));
    free(resp);
}

static long post_webhook_resp(const char *conn, const char *const *headers, const char *body, char **resp_out)
{
    char url[300];
    long status = 0;
    snprintf(url, sizeof url, "%s/hooks/webhook/%s", F.base, conn);
    assert_int_equal(tu_http("POST", url, body, headers, &status, resp_out), 0);
    return status;
}

static long post_webhook(const char *conn, const char *const *headers, const char *body)
{
    return post_webhook_resp(conn, headers, body, NULL);
}

static void test_webhook_bearer(void **state)
{
    const char *ok[] = {"Authorization: Bearer " HOOK_SECRET, "X-Idflow-Event-Id: build-1", NULL};
    const char *bad[] = {"Authorization: Bearer nope", NULL};
    const char *none[] = {"X-Idflow-Event-Id: build-2", NULL};
    const char *dotted[] = {"Authorization: Bearer " HOOK_SECRET, "X-Idflow-Event-Id: build.3", NULL};
    const char *unnamed[] = {"Authorization: Bearer " HOOK_SECRET, NULL};
    (void)state;
    assert_int_equal(post_webhook("gh", ok, "{\"name\":\"wh-one\"}"), 200);
    assert_int_equal(count_all_runs("on-webhook"), 1);
    /* the same event id again: acknowledged, nothing new */
    assert_int_equal(post_webhook("gh", ok, "{\"name\":\"wh-one\"}"), 200);
    assert_int_equal(count_all_runs("on-webhook"), 1);
    wait_runs("on-webhook", "name", "wh-one", 1);
    assert_int_equal(post_webhook("gh", bad, "{\"name\":\"x\"}"), 401);
    assert_int_equal(post_webhook("gh", none, "{\"name\":\"x\"}"), 401);
    assert_int_equal(post_webhook("gh", ok, "{\"name\":"), 400);
    assert_int_equal(post_webhook("nosuch", ok, "{}"), 404);
    /* event ids follow one rule in both modes: no '.' */
    assert_int_equal(post_webhook("gh", dotted, "{\"name\":\"x\"}"), 400);
    /* the other webhook connection's workflow is not started by this one */
    assert_int_equal(count_all_runs("on-signed"), 0);
    assert_int_equal(count_all_runs("on-webhook"), 1);
    /* an unnamed bearer request is always a new event */
    assert_int_equal(post_webhook("gh", unnamed, "{\"name\":\"wh-two\"}"), 200);
    assert_int_equal(post_webhook("gh", unnamed, "{\"name\":\"wh-two\"}"), 200);
    assert_int_equal(count_all_runs("on-webhook"), 3);
}

/* "X-Idflow-Signature: sha256=<hex HMAC-SHA256(HOOK_SECRET, text)>" into hdr. */
static void sign_text(const char *text, char *hdr, size_t n)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char hex[2 * crypto_auth_hmacsha256_BYTES + 1];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)HOOK_SECRET, strlen(HOOK_SECRET));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)text, strlen(text));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    snprintf(hdr, n, "X-Idflow-Signature: sha256=%s", hex);
}

/* A request to the hmac connection "signed": the headers of one delivery. */
struct signed_req {
    char tsh[100], sig[200], idh[400];
    const char *h[4]; /* tsh, sig, idh or NULL, NULL */
};

/* Signs "<ts>.<id>.<body>" (id NULL: no X-Idflow-Event-Id header, signed as empty). */
static void signed_req(struct signed_req *r, const char *ts, const char *id, const char *body)
{
    char *text;
    size_t n = strlen(ts) + (id ? strlen(id) : 0) + strlen(body) + 3;
    assert_true(strlen(ts) < 80 && (!id || strlen(id) < 300));
    text = malloc(n);
    assert_non_null(text);
    snprintf(text, n, "%s.%s.%s", ts, id ? id : "", body);
    sign_text(text, r->sig, sizeof r->sig);
    free(text);
    snprintf(r->tsh, sizeof r->tsh, "X-Idflow-Timestamp: %s", ts);
    r->h[0] = r->tsh;
    r->h[1] = r->sig;
    r->h[2] = NULL;
    r->h[3] = NULL;
    if (id) {
        snprintf(r->idh, sizeof r->idh, "X-Idflow-Event-Id: %s", id);
        r->h[2] = r->idh;
    }
}

static void now_ts(char *ts, size_t n, long long delta)
{
    snprintf(ts, n, "%lld", (long long)time(NULL) + delta);
}

/* The .event.id of the newest run of workflow (caller frees). */
static char *newest_run_event_id(const char *workflow)
{
    char url[300], *id;
    long status = 0;
    json_t *list, *full;
    long long best = 0;
    size_t i;
    json_t *r;
    snprintf(url, sizeof url, "%s/api/v1/runs?workflow=%s&limit=500", F.base, workflow);
    list = http_json("GET", url, NULL, NULL, &status);
    assert_int_equal(status, 200);
    json_array_foreach(json_object_get(list, "runs"), i, r)
    {
        long long v = (long long)json_integer_value(json_object_get(r, "id"));
        best = v > best ? v : best;
    }
    json_decref(list);
    assert_true(best > 0);
    snprintf(url, sizeof url, "%s/api/v1/runs/%lld", F.base, best);
    full = http_json("GET", url, NULL, NULL, &status);
    assert_int_equal(status, 200);
    id = strdup(json_string_value(json_object_get(json_object_get(full, "event"), "id")));
    json_decref(full);
    assert_non_null(id);
    return id;
}

static void test_webhook_hmac_and_replay(void **state)
{
    const char *body = "{\"name\":\"signed-one\"}";
    char ts[64];
    struct signed_req r;
    int n0;
    (void)state;
    n0 = count_all_runs("on-signed");
    now_ts(ts, sizeof ts, 0);
    signed_req(&r, ts, NULL, body);
    assert_int_equal(post_webhook("signed", r.h, body), 200);
    assert_int_equal(count_all_runs("on-signed"), n0 + 1);
    /* the same signed request replayed: one event, no new run */
    assert_int_equal(post_webhook("signed", r.h, body), 200);
    assert_int_equal(count_all_runs("on-signed"), n0 + 1);
    wait_runs("on-signed", "name", "signed-one", 1);
    /* a tampered body fails the signature */
    assert_int_equal(post_webhook("signed", r.h, "{\"name\":\"signed-two\"}"), 401);
    /* a correctly signed request outside the 60 s replay window is refused */
    now_ts(ts, sizeof ts, -3600);
    signed_req(&r, ts, NULL, body);
    assert_int_equal(post_webhook("signed", r.h, body), 401);
    /* bearer is not accepted on an hmac connection */
    {
        const char *b[] = {"Authorization: Bearer " HOOK_SECRET, NULL};
        assert_int_equal(post_webhook("signed", b, body), 401);
    }
    assert_int_equal(count_all_runs("on-signed"), n0 + 1);
}

/* The event id is signed: a request replayed under new ids starts nothing. */
static void test_webhook_hmac_replay_with_new_id_starts_nothing(void **state)
{
    const char *body = "{\"name\":\"signed-id\"}";
    char ts[64], *resp = NULL, *ev_id;
    struct signed_req r;
    int n0;
    (void)state;
    n0 = count_all_runs("on-signed");
    now_ts(ts, sizeof ts, 0);
    /* a properly signed request with an id: one run, whose event id is that id */
    signed_req(&r, ts, "order-7:created_A-1", body);
    assert_int_equal(post_webhook("signed", r.h, body), 200);
    assert_int_equal(count_all_runs("on-signed"), n0 + 1);
    ev_id = newest_run_event_id("on-signed");
    assert_string_equal(ev_id, "order-7:created_A-1");
    free(ev_id);
    /* the same request (same id) again: a duplicate, still one run */
    assert_int_equal(post_webhook("signed", r.h, body), 200);
    assert_int_equal(count_all_runs("on-signed"), n0 + 1);
    /* replayed with other ids: the signature does not hold */
    for (int i = 0; i < 5; i++) {
        char idh[100];
        snprintf(idh, sizeof idh, "X-Idflow-Event-Id: replay-%d", i);
        r.h[2] = idh;
        assert_int_equal(post_webhook_resp("signed", r.h, body, &resp), 401);
        assert_non_null(strstr(resp, "signature"));
        assert_null(strstr(resp, HOOK_SECRET));
        free(resp);
        resp = NULL;
    }
    assert_int_equal(count_all_runs("on-signed"), n0 + 1);
    /* a request signed without an id, with an id added afterwards */
    signed_req(&r, ts, NULL, body);
    {
        const char *h[] = {r.tsh, r.sig, "X-Idflow-Event-Id: added-later", NULL};
        assert_int_equal(post_webhook("signed", h, body), 401);
    }
    /* the former format ("<timestamp>.<body>", the id unsigned) is refused */
    {
        char text[200], sig[200], tsh[100];
        const char *h[] = {tsh, sig, "X-Idflow-Event-Id: old-format-1", NULL};
        snprintf(text, sizeof text, "%s.%s", ts, body);
        sign_text(text, sig, sizeof sig);
        snprintf(tsh, sizeof tsh, "X-Idflow-Timestamp: %s", ts);
        assert_int_equal(post_webhook("signed", h, body), 401);
    }
    assert_int_equal(count_all_runs("on-signed"), n0 + 1);
}

/* Event ids are 1 to 200 bytes of [A-Za-z0-9_:-]: a signed id outside that is a 400. */
static void test_webhook_hmac_bad_event_id(void **state)
{
    const char *body = "{\"name\":\"signed-bad-id\"}";
    char ts[64], long_id[202], *resp = NULL;
    const char *bad[] = {"a.b", "team/build", "ci@acme", "two words", long_id};
    struct signed_req r;
    int n0;
    (void)state;
    memset(long_id, 'a', 201);
    long_id[201] = '\0';
    n0 = count_all_runs("on-signed");
    now_ts(ts, sizeof ts, 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        signed_req(&r, ts, bad[i], body);
        assert_int_equal(post_webhook_resp("signed", r.h, body, &resp), 400);
        assert_non_null(strstr(resp, "X-Idflow-Event-Id"));
        assert_non_null(strstr(resp, "A-Z a-z 0-9 _ : -"));
        free(resp);
        resp = NULL;
    }
    /* 200 bytes is allowed */
    long_id[200] = '\0';
    signed_req(&r, ts, long_id, body);
    assert_int_equal(post_webhook("signed", r.h, body), 200);
    assert_int_equal(count_all_runs("on-signed"), n0 + 1);
}

/* The timestamp is digits only: other spellings of a time are refused even when signed. */
static void test_webhook_hmac_timestamp_digits_only(void **state)
{
    const char *body = "{\"name\":\"signed-ts\"}";
    char now[64], ts[80];
    struct signed_req r;
    int n0;
    (void)state;
    n0 = count_all_runs("on-signed");
    now_ts(now, sizeof now, 0);
    {
        /* each signed as sent; HTTP drops the spaces around a header value, so those two
         * reach the server as the digits alone, and their signature then does not hold */
        const char *around[][2] = {{"+", ""}, {"-", ""}, {" ", ""}, {"", " "}, {"", ".0"}, {"0x", ""}, {"", "s"}};
        for (size_t i = 0; i < sizeof around / sizeof *around; i++) {
            snprintf(ts, sizeof ts, "%s%s%s", around[i][0], now, around[i][1]);
            signed_req(&r, ts, "ts-form", body);
            assert_int_equal(post_webhook("signed", r.h, body), 401);
        }
    }
    /* scientific notation near the current time */
    snprintf(ts, sizeof ts, "%.9e", (double)time(NULL));
    signed_req(&r, ts, "ts-form", body);
    assert_int_equal(post_webhook("signed", r.h, body), 401);
    assert_int_equal(count_all_runs("on-signed"), n0);
    /* the plain digits are accepted */
    signed_req(&r, now, "ts-form", body);
    assert_int_equal(post_webhook("signed", r.h, body), 200);
    assert_int_equal(count_all_runs("on-signed"), n0 + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lockout_by_hook_and_poll_runs_once),
        cmocka_unit_test(test_profile_change_carries_changes),
        cmocka_unit_test(test_group_add_and_loop_prevention),
        cmocka_unit_test(test_delivery_posted_twice_runs_once),
        cmocka_unit_test(test_every_sample_is_accepted),
        cmocka_unit_test(test_bad_input_stores_nothing),
        cmocka_unit_test(test_events_while_stopped_are_polled_after_restart),
        cmocka_unit_test(test_poller_backs_off_on_429_and_5xx),
        cmocka_unit_test(test_oversized_delivery_is_repaired_by_the_poller),
        cmocka_unit_test(test_register_hook_rotates_secret),
        cmocka_unit_test(test_ineligible_type_on_hook_only_connection_warns),
        cmocka_unit_test(test_webhook_bearer),
        cmocka_unit_test(test_webhook_hmac_and_replay),
        cmocka_unit_test(test_webhook_hmac_replay_with_new_id_starts_nothing),
        cmocka_unit_test(test_webhook_hmac_bad_event_id),
        cmocka_unit_test(test_webhook_hmac_timestamp_digits_only),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

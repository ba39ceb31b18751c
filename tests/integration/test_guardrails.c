/* test_guardrails.c — a connection's budget of destructive calls through
 * the whole stack (issue 19): `idflow connect --max-destructive 5/1h`
 * against the sandbox, then `idflow serve` runs a workflow whose foreach
 * would suspend 30 users. Exactly 5 are suspended and the run is held (not
 * failed); idflow.guardrail_tripped starts the alert workflow once; a
 * second run's destructive step on the same connection is held too without
 * a call; a restart of serve keeps both held and suspends nobody more; an
 * approver can neither release nor approve a hold; `idflow release` lets
 * the first run finish (all 30 suspended), `idflow release --reject` fails
 * the second with its user untouched; the audit log has both decisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/serve_fixture.h"

#define TOKEN "guardrail-sandbox-token"
#define N_USERS 30
#define BUDGET 5

static struct sfx F = {.secrets = {TOKEN}};
static char admin[128], approver[128], viewer[128], operator_[128];
static char logins[N_USERS][128]; /* ACTIVE users of the sandbox, read at setup */
static char extra[128];           /* one more ACTIVE user, not in logins */

static const char wf_mass[] = "name: mass\n"
                              "on: manual\n"
                              "steps:\n"
                              "  - id: suspend\n"
                              "    do: okta.suspend_user\n"
                              "    connection: okta\n"
                              "    foreach: ${{ .event.data.users }}\n"
                              "    with:\n"
                              "      user: ${{ .item }}\n";

static const char wf_one[] = "name: one\n"
                             "on: manual\n"
                             "steps:\n"
                             "  - id: who\n"
                             "    do: okta.get_user\n"
                             "    connection: okta\n"
                             "    with:\n"
                             "      user: ${{ .event.data.user }}\n"
                             "  - id: suspend\n"
                             "    do: okta.suspend_user\n"
                             "    connection: okta\n"
                             "    with:\n"
                             "      user: ${{ .steps.who.id }}\n";

/* The alert workflow: records what the event said. */
static const char wf_alert[] = "name: alert\n"
                               "on: idflow.guardrail_tripped\n"
                               "steps:\n"
                               "  - id: note\n"
                               "    do: set\n"
                               "    with:\n"
                               "      connection: ${{ .event.data.connection }}\n"
                               "      budget: ${{ .event.data.budget }}\n";

/* A workflow with no Okta step, to know the workers went round after a restart. */
static const char wf_ping[] = "name: ping\n"
                              "on: manual\n"
                              "steps:\n"
                              "  - id: pong\n"
                              "    do: set\n"
                              "    with:\n"
                              "      ok: true\n";

static json_t *get_json(const char *path, const char *token, long *status)
{
    char url[400], auth[200];
    snprintf(url, sizeof url, "%s%s", F.base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    return sfx_assert_http_json("GET", url, NULL, (const char *[]){auth, NULL}, status);
}

/* The sandbox's view of one user's status ("ACTIVE", "SUSPENDED"). */
static char *okta_status(const char *login)
{
    static char buf[32];
    char url[400];
    long status = 0;
    snprintf(url, sizeof url, "%s/api/v1/users/%s", F.sb, login);
    json_t *u = sfx_assert_http_json(
        "GET", url, NULL, (const char *[]){"Authorization: SSWS " TOKEN, "Accept: application/json", NULL}, &status);
    assert_int_equal(status, 200);
    snprintf(buf, sizeof buf, "%s", json_string_value(json_object_get(u, "status")) ?: "?");
    json_decref(u);
    return buf;
}

static int suspended_count(void)
{
    int n = 0;
    for (int i = 0; i < N_USERS; i++)
        n += strcmp(okta_status(logins[i]), "SUSPENDED") == 0;
    return n;
}

static int64_t start(const char *workflow, const char *data)
{
    char url[200], auth[200], *body, *resp = NULL;
    long status = 0;
    size_t n = strlen(data) + 100;
    int64_t id;

    body = malloc(n);
    assert_non_null(body);
    snprintf(body, n, "{\"workflow\":\"%s\",\"data\":%s}", workflow, data);
    snprintf(url, sizeof url, "%s/api/v1/events", F.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", operator_);
    assert_int_equal(tu_http("POST", url, body, (const char *[]){auth, NULL}, &status, &resp), 0);
    free(body);
    assert_int_equal(status, 202);
    json_t *a = json_loads(resp, 0, NULL);
    free(resp);
    id = json_integer_value(json_array_get(json_object_get(a, "run_ids"), 0));
    json_decref(a);
    assert_true(id > 0);
    return id;
}

/* The runs of the alert workflow that succeeded; *note_out (may be NULL):
 * the first one's step output (caller decrefs). */
static int alert_runs(json_t **note_out)
{
    long status = 0;
    int n = 0;
    json_t *l = get_json("/api/v1/runs?workflow=alert&limit=50", viewer, &status), *runs;
    runs = json_is_array(l) ? l : json_object_get(l, "runs");
    for (size_t i = 0; i < json_array_size(runs); i++) {
        json_t *r = json_array_get(runs, i);
        char path[100];
        if (strcmp(json_string_value(json_object_get(r, "status")) ?: "", "succeeded") != 0)
            continue;
        if (n++ == 0 && note_out) {
            snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)json_integer_value(json_object_get(r, "id")));
            json_t *full = get_json(path, viewer, &status);
            *note_out = json_incref(json_object_get(json_array_get(json_object_get(full, "steps"), 0), "output"));
            json_decref(full);
        }
    }
    json_decref(l);
    return n;
}

static bool one_alert(void *ud)
{
    (void)ud;
    return alert_runs(NULL) >= 1;
}

struct want {
    int64_t id;
    const char *status;
};

static bool run_is(void *ud)
{
    struct want *w = ud;
    char path[100];
    long status = 0;
    bool yes;
    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)w->id);
    json_t *r = get_json(path, viewer, &status);
    yes = status == 200 && strcmp(json_string_value(json_object_get(r, "status")) ?: "", w->status) == 0;
    json_decref(r);
    return yes;
}

static void wait_status(int64_t id, const char *status)
{
    struct want w = {id, status};
    if (!tu_wait_until(run_is, &w, SFX_WAIT_MS)) {
        char path[100];
        long st = 0;
        snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)id);
        json_t *r = get_json(path, viewer, &st);
        char *t = json_dumps(r, JSON_COMPACT);
        fail_msg("run %lld never became %s: %.600s", (long long)id, status, t ? t : "?");
    }
}

/* N_USERS ACTIVE users of the sandbox: its own, then new ones. */
static int read_logins(void)
{
    char url[400], *resp = NULL;
    long status = 0;
    json_t *a;
    size_t i, n = 0;
    snprintf(url, sizeof url, "%s/api/v1/users?limit=200&filter=status%%20eq%%20%%22ACTIVE%%22", F.sb);
    if (tu_http("GET", url, NULL, (const char *[]){"Authorization: SSWS " TOKEN, NULL}, &status, &resp) ||
        status != 200)
        return -1;
    a = json_loads(resp, 0, NULL);
    free(resp);
    for (i = 0; i < json_array_size(a) && n < N_USERS; i++) {
        const char *login =
            json_string_value(json_object_get(json_object_get(json_array_get(a, i), "profile"), "login"));
        if (login)
            snprintf(logins[n++], sizeof logins[0], "%s", login);
    }
    json_decref(a);
    /* the seed has fewer: the rest are created ACTIVE (with a password), as an HR import would; and
     * one more for a second workflow, outside the list */
    for (; n <= N_USERS; n++) {
        char body[600], *login = n < N_USERS ? logins[n] : extra;
        snprintf(login, sizeof logins[0], "temp.worker%zu@acme.example", n);
        snprintf(body, sizeof body,
                 "{\"profile\":{\"firstName\":\"Temp\",\"lastName\":\"Worker%zu\",\"email\":\"%s\","
                 "\"login\":\"%s\"},\"credentials\":{\"password\":{\"value\":\"Guard-rail-%zu-pass!\"}}}",
                 n, login, login, n);
        snprintf(url, sizeof url, "%s/api/v1/users?activate=true", F.sb);
        if (tu_http("POST", url, body,
                    (const char *[]){"Authorization: SSWS " TOKEN, "Content-Type: application/json", NULL}, &status,
                    &resp) ||
            status != 200) {
            fprintf(stderr, "could not create %s: %ld %s\n", login, status, resp ? resp : "");
            free(resp);
            return -1;
        }
        free(resp);
        resp = NULL;
    }
    if (n < N_USERS + 1) {
        fprintf(stderr, "the sandbox has %zu ACTIVE users, the test needs %d\n", n, N_USERS);
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    const char *env[] = {"GUARD_TEST_TOKEN=" TOKEN, NULL};
    (void)state;
    if (sfx_start(&F, (const char *[]){"--token", TOKEN, NULL}) || read_logins())
        return -1;
    if (sfx_write_wf(&F, "mass", wf_mass) || sfx_write_wf(&F, "one", wf_one) || sfx_write_wf(&F, "alert", wf_alert) ||
        sfx_write_wf(&F, "ping", wf_ping))
        return -1;
    if (sfx_idflow(&F, env, NULL, "connect", "okta", "okta", "--url", F.sb, "--token-env", "GUARD_TEST_TOKEN",
                   "--sandbox", "--max-destructive", "5/1h", "--db", F.db, NULL))
        return -1;
    if (tu_idflow_token(F.bin, F.db, "boss", "admin", admin, sizeof admin) ||
        tu_idflow_token(F.bin, F.db, "ok-er", "approver", approver, sizeof approver) ||
        tu_idflow_token(F.bin, F.db, "reader", "viewer", viewer, sizeof viewer) ||
        tu_idflow_token(F.bin, F.db, "starter", "operator", operator_, sizeof operator_))
        return -1;
    return sfx_serve_start(&F, NULL, (const char *[]){"--workers", "2", NULL});
}

static int teardown(void **state)
{
    (void)state;
    sfx_stop(&F);
    return 0;
}

static int64_t mass_run, one_run;

/* A bad budget is refused at connect, naming the field, and nothing is stored. */
static void connect_refuses_a_bad_budget(void **state)
{
    const char *env[] = {"GUARD_TEST_TOKEN=" TOKEN, NULL};
    char *out = NULL;
    (void)state;
    assert_int_not_equal(sfx_idflow(&F, env, &out, "connect", "okta", "bad", "--url", F.sb, "--token-env",
                                    "GUARD_TEST_TOKEN", "--sandbox", "--max-destructive", "lots", "--db", F.db, NULL),
                         0);
    free(out);
    assert_int_equal(tu_idflow_db(F.bin, F.db, &out, NULL, "connections", NULL), 0);
    assert_null(strstr(out, "bad"));
    assert_non_null(strstr(out, "okta"));
    free(out);
}

/* 30 suspensions against a budget of 5: five are made, the run is held. */
static void budget_holds_the_run(void **state)
{
    char data[N_USERS * 140 + 32];
    size_t off = 0;
    long status = 0;
    (void)state;
    off += (size_t)snprintf(data + off, sizeof data - off, "{\"users\":[");
    for (int i = 0; i < N_USERS; i++)
        off += (size_t)snprintf(data + off, sizeof data - off, "%s\"%s\"", i ? "," : "", logins[i]);
    snprintf(data + off, sizeof data - off, "]}");
    mass_run = start("mass", data);
    wait_status(mass_run, "held");
    assert_int_equal(suspended_count(), BUDGET);
    assert_string_equal(okta_status(logins[BUDGET]), "ACTIVE"); /* the item it stopped at was not called */

    /* listed for an admin, naming the connection */
    json_t *a = get_json("/api/v1/approvals", viewer, &status);
    json_t *hold =
        json_object_get(a, "approvals") ? json_array_get(json_object_get(a, "approvals"), 0) : json_array_get(a, 0);
    assert_non_null(hold);
    assert_int_equal(json_integer_value(json_object_get(hold, "run_id")), mass_run);
    assert_string_equal(json_string_value(json_object_get(hold, "hold")), "okta");
    assert_non_null(strstr(json_string_value(json_object_get(hold, "message")), "budget"));
    json_decref(a);

    /* the alert workflow ran once, with the connection and the budget */
    assert_true(tu_wait_until(one_alert, NULL, SFX_WAIT_MS));
    json_t *note = NULL;
    assert_int_equal(alert_runs(&note), 1);
    assert_string_equal(json_string_value(json_object_get(note, "connection")), "okta");
    assert_string_equal(json_string_value(json_object_get(note, "budget")), "5/1h");
    json_decref(note);
}

/* While the connection is tripped, another run's destructive step waits too. */
static void tripped_connection_holds_others(void **state)
{
    (void)state;
    char data[200];
    snprintf(data, sizeof data, "{\"user\":\"%s\"}", extra);
    one_run = start("one", data);
    wait_status(one_run, "held");
    assert_string_equal(okta_status(extra), "ACTIVE");
    assert_int_equal(alert_runs(NULL), 1); /* one alert per trip */
}

/* A restart keeps both held and calls nothing more. */
static void restart_keeps_them_held(void **state)
{
    (void)state;
    assert_int_equal(sfx_serve_stop(&F), 0);
    assert_int_equal(sfx_serve_start(&F, NULL, (const char *[]){"--workers", "2", NULL}), 0);
    /* a run after the restart finishing means the workers claimed since: a held run would have been taken */
    int64_t ping = start("ping", "{}");
    wait_status(ping, "succeeded");
    wait_status(mass_run, "held");
    wait_status(one_run, "held");
    assert_int_equal(suspended_count(), BUDGET);
    /* what an admin reads on the server */
    char ids[32], *out = NULL;
    snprintf(ids, sizeof ids, "%lld", (long long)mass_run);
    assert_int_equal(tu_idflow_db(F.bin, F.db, &out, NULL, "show", ids, NULL), 0);
    assert_non_null(strstr(out, "held at the guardrail of connection 'okta' at step suspend"));
    assert_non_null(strstr(out, "budget of destructive calls (5/1h)"));
    free(out);
    assert_int_equal(tu_idflow_db(F.bin, F.db, &out, NULL, "runs", "--status", "held", "--json", NULL), 0);
    json_t *l = json_loads(out, 0, NULL);
    free(out);
    json_t *runs = json_is_array(l) ? l : json_object_get(l, "runs");
    assert_int_equal(json_array_size(runs), 2);
    json_decref(l);
}

/* Neither an approver's release nor an approval's decision lets a hold go. */
static void only_an_admin_releases(void **state)
{
    char url[200], auth[200], *resp = NULL;
    long status = 0;
    (void)state;
    snprintf(url, sizeof url, "%s/api/v1/runs/%lld/release", F.base, (long long)mass_run);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", approver);
    assert_int_equal(tu_http("POST", url, "{}", (const char *[]){auth, NULL}, &status, &resp), 0);
    free(resp);
    assert_int_equal(status, 403);
    snprintf(url, sizeof url, "%s/api/v1/runs/%lld/approve", F.base, (long long)mass_run);
    assert_int_equal(tu_http("POST", url, "{}", (const char *[]){auth, NULL}, &status, &resp), 0);
    assert_int_equal(status, 409);
    assert_non_null(strstr(resp, "guardrail"));
    free(resp);
    wait_status(mass_run, "held");
}

/* `idflow release` lets the run finish; --reject fails the other untouched. */
static void release_and_reject(void **state)
{
    char ids[32], *out = NULL;
    long status = 0;
    (void)state;
    snprintf(ids, sizeof ids, "%lld", (long long)mass_run);
    assert_int_equal(tu_idflow_db(F.bin, F.db, &out, NULL, "release", ids, "--comment", "reviewed the list", NULL), 0);
    assert_non_null(strstr(out, "released"));
    free(out);
    wait_status(mass_run, "succeeded");
    assert_int_equal(suspended_count(), N_USERS);

    snprintf(ids, sizeof ids, "%lld", (long long)one_run);
    assert_int_equal(tu_idflow_db(F.bin, F.db, &out, NULL, "release", "--reject", ids, NULL), 0);
    free(out);
    wait_status(one_run, "failed");
    assert_string_equal(okta_status(extra), "ACTIVE");
    assert_int_equal(alert_runs(NULL), 1); /* no second trip: the budget was not spent again */
    /* a run that is not held is refused by name */
    assert_int_not_equal(tu_idflow_db(F.bin, F.db, &out, NULL, "release", ids, NULL), 0);
    free(out);

    json_t *au = get_json("/api/v1/audit?limit=20", admin, &status);
    char *t = json_dumps(au, JSON_COMPACT);
    assert_non_null(strstr(t, "\"guardrail.release\""));
    assert_non_null(strstr(t, "\"guardrail.reject\""));
    assert_non_null(strstr(t, "reviewed the list"));
    free(t);
    json_decref(au);
    assert_int_equal(sfx_serve_stop(&F), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_refuses_a_bad_budget),    cmocka_unit_test(budget_holds_the_run),
        cmocka_unit_test(tripped_connection_holds_others), cmocka_unit_test(restart_keeps_them_held),
        cmocka_unit_test(only_an_admin_releases),          cmocka_unit_test(release_and_reject),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

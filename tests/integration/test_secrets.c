/* test_secrets.c — secrets in run history (issue 11), through the whole
 * stack: the Okta sandbox, a recording loopback server standing for the
 * agent's help desk, `idflow connect` and `idflow serve` with API tokens
 * (the processes: serve_fixture.h). Proves that:
 *  - a run's event payload is answered redacted: GET /api/v1/runs/ID (viewer
 *    token), GET /api/v1/runs, `idflow show ID --json` and `idflow show ID`
 *    never contain a password sent in the event, and show "[redacted]";
 *  - a temporary password okta.expire_password returns reaches the later
 *    step of the same run that sends it to the caller who asked (after a
 *    durable delay in between, so across two claims), yet no byte of the
 *    database files (db, -wal, -shm) holds it, nor do the API or CLI answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/serve_fixture.h"
#include "support/testsrv.h"

#define TOKEN "secrets-test-okta-token"
#define EVENT_SECRET "hunter2-SECRET"
#define NOTE_PREFIX "Your temporary password: "

static struct sfx F = {.secrets = {TOKEN, EVENT_SECRET}};
static struct testsrv *desk;
static char viewer[128], operator_[128];

static const char wf_echo[] = "name: echo\n"
                              "on: manual\n"
                              "steps:\n"
                              "  - id: who\n"
                              "    do: set\n"
                              "    with:\n"
                              "      user: ${{ .event.data.user }}\n";

/* the temporary password goes to the agent (the recording server), after a
 * delay that makes the run wait: the next claim reads it back from the store */
static const char wf_temp_fmt[] = "name: temp\n"
                                  "on: manual\n"
                                  "allow_private_network: true\n" /* the recording server is on loopback */
                                  "steps:\n"
                                  "  - id: expire\n"
                                  "    do: okta.expire_password\n"
                                  "    with:\n"
                                  "      user: ${{ .event.data.user }}\n"
                                  "      temp_password: true\n"
                                  "  - id: pause\n"
                                  "    do: delay\n"
                                  "    with:\n"
                                  "      duration: 1s\n"
                                  "  - id: tell\n"
                                  "    do: http.request\n"
                                  "    with:\n"
                                  "      method: POST\n"
                                  "      url: %s/note\n"
                                  "      json:\n"
                                  "        text: \"" NOTE_PREFIX "${{ .steps.expire.tempPassword }}\"\n"
                                  "  - id: remember\n"
                                  "    do: set\n"
                                  "    with:\n"
                                  "      note: \"sent ${{ .steps.expire.tempPassword }}\"\n";

static int setup(void **state)
{
    char wf[2048];
    const char *env[] = {"SECRETS_TEST_TOKEN=" TOKEN, NULL};
    (void)state;
    if (sfx_start(&F, (const char *[]){"--token", TOKEN, NULL}))
        return -1;
    desk = testsrv_start();
    snprintf(wf, sizeof wf, wf_temp_fmt, testsrv_url(desk));
    if (sfx_write_wf(&F, "echo", wf_echo) || sfx_write_wf(&F, "temp", wf))
        return -1;
    if (sfx_idflow(&F, env, NULL, "connect", "okta", "acme", "--url", F.sb, "--token-env", "SECRETS_TEST_TOKEN",
                   "--sandbox", "--db", F.db, NULL))
        return -1;
    if (tu_idflow_token(F.bin, F.db, "reader", "viewer", viewer, sizeof viewer) ||
        tu_idflow_token(F.bin, F.db, "starter", "operator", operator_, sizeof operator_))
        return -1;
    return sfx_serve_start(&F, NULL, (const char *[]){"--workers", "2", NULL});
}

static int teardown(void **state)
{
    (void)state;
    sfx_stop(&F); /* stops serve if a test failed before temp_password_is_never_stored */
    testsrv_stop(desk);
    return 0;
}

/* GET path with the viewer token: the body (caller frees), asserting 200. */
static char *get_as_viewer(const char *path)
{
    char url[300], auth[200], *resp = NULL;
    const char *h[] = {auth, NULL};
    long status = 0;
    snprintf(url, sizeof url, "%s%s", F.base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", viewer);
    assert_int_equal(tu_http("GET", url, NULL, h, &status, &resp), 0);
    assert_int_equal(status, 200);
    return resp;
}

static int64_t start(const char *workflow, const char *data)
{
    char url[200], body[2048], auth[200], *resp = NULL;
    const char *h[] = {auth, NULL};
    long status = 0;
    json_t *a;
    int64_t id;
    snprintf(url, sizeof url, "%s/api/v1/events", F.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", operator_);
    snprintf(body, sizeof body, "{\"workflow\":\"%s\",\"data\":%s}", workflow, data);
    assert_int_equal(tu_http("POST", url, body, h, &status, &resp), 0);
    assert_int_equal(status, 202);
    a = json_loads(resp, 0, NULL);
    free(resp);
    id = json_integer_value(json_array_get(json_object_get(a, "run_ids"), 0));
    json_decref(a);
    assert_true(id > 0);
    return id;
}

/* The run's answer once it has ended (caller frees), failing the test at the deadline. */
static char *wait_final(int64_t id, int timeout_ms)
{
    char *resp = sfx_run_final(&F, viewer, (long long)id, timeout_ms);
    assert_non_null(resp);
    return resp;
}

/* `idflow show ID [--json]`: its stdout (caller frees), asserting success. */
static char *show(int64_t id, bool as_json)
{
    char ids[32], *out = NULL;
    int rc;
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    if (as_json)
        rc = tu_idflow_db(F.bin, F.db, &out, NULL, "show", ids, "--json", NULL);
    else
        rc = tu_idflow_db(F.bin, F.db, &out, NULL, "show", ids, NULL);
    assert_int_equal(rc, 0);
    return out;
}

static void event_payload_is_answered_redacted(void **state)
{
    char *resp, *out;
    json_t *r;
    int64_t id;
    (void)state;
    id = start("echo", "{\"user\":\"maria.gonzalez@acme.example\",\"password\":\"" EVENT_SECRET "\"}");
    resp = wait_final(id, 20000);
    assert_null(strstr(resp, EVENT_SECRET));
    r = json_loads(resp, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "succeeded");
    /* redacted, not dropped: the other fields are there */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(r, "event"), "data"), "password")),
        "[redacted]");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(r, "event"), "data"), "user")),
        "maria.gonzalez@acme.example");
    json_decref(r);
    free(resp);

    resp = get_as_viewer("/api/v1/runs");
    assert_null(strstr(resp, EVENT_SECRET));
    free(resp);

    out = show(id, true);
    assert_null(strstr(out, EVENT_SECRET));
    r = json_loads(out, 0, NULL);
    assert_non_null(r);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(r, "event"), "data"), "password")),
        "[redacted]");
    json_decref(r);
    free(out);

    out = show(id, false);
    assert_non_null(strstr(out, "succeeded"));
    assert_null(strstr(out, EVENT_SECRET));
    free(out);
}

static void temp_password_is_never_stored(void **state)
{
    char *resp, *out;
    char pw[64] = "";
    json_t *r, *note, *body;
    const char *text;
    int64_t id;
    (void)state;
    id = start("temp", "{\"user\":\"james.okafor@acme.example\"}");
    resp = wait_final(id, 30000);
    r = json_loads(resp, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "succeeded");
    json_decref(r);

    /* the caller who asked got it, after the run had waited (a second claim) */
    assert_int_equal(testsrv_calls(desk, "/note"), 1);
    note = testsrv_request(desk, "/note", -1);
    body = testsrv_req_json(note);
    text = json_string_value(json_object_get(body, "text"));
    assert_non_null(text);
    assert_int_equal(strncmp(text, NOTE_PREFIX, strlen(NOTE_PREFIX)), 0);
    snprintf(pw, sizeof pw, "%s", text + strlen(NOTE_PREFIX));
    json_decref(body);
    json_decref(note);
    assert_int_equal(strlen(pw), 10); /* the sandbox's temporary passwords: 10 letters and digits */
    assert_null(strstr(pw, "redacted"));

    /* no answer holds it */
    assert_null(strstr(resp, pw));
    assert_non_null(strstr(resp, "[redacted]"));
    free(resp);
    out = show(id, true);
    assert_null(strstr(out, pw));
    free(out);
    out = show(id, false);
    assert_null(strstr(out, pw));
    free(out);
    assert_int_equal(tu_idflow_db(F.bin, F.db, &out, NULL, "audit", "--json", NULL), 0);
    assert_null(strstr(out, pw));
    free(out);

    /* nor any byte of the database, while serve runs and after it stopped */
    assert_false(sfx_db_files_hold(&F, pw));
    assert_int_equal(sfx_serve_stop(&F), 0); /* exit 0, and its log held neither the token nor the event's secret */
    assert_false(sfx_db_files_hold(&F, pw));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(event_payload_is_answered_redacted),
        cmocka_unit_test(temp_password_is_never_stored),
    };
    return cmocka_run_group_tests_name("secrets", tests, setup, teardown);
}

/* test_dpop_serve.c — an Okta OAuth service app with DPoP through the whole
 * stack (issue 18): `idflow connect` against the sandbox's DPoP-required
 * app (the default) and against the same app with "Require DPoP" off, each
 * saying which mode the app uses; then `idflow serve` runs a workflow whose
 * Okta steps go with DPoP-bound tokens, and neither serve's log, nor the
 * run's history (API and `idflow show --json`), nor the database files hold
 * a JWT (the client assertion, a DPoP proof, an access token: the
 * sandbox's are JWT-shaped like Okta's) or the private key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox.h"
#include "support/serve_fixture.h"

#define SVC "0oa1idflowsvc0000001"
/* How each JWT idflow sends or gets begins (base64url of its header's
 * start): a DPoP proof ({"typ":"dpop+jwt",...), the client assertion
 * ({"typ":"JWT",...) and the sandbox's access tokens
 * ({"kid":"sandbox-at","alg":"RS256"}, JWT-shaped like Okta's). */
#define PROOF_MARK "eyJ0eXAiOiJkcG9wK2p3dC"
#define ASSERTION_MARK "eyJ0eXAiOiJKV1Qi"
#define TOKEN_MARK SANDBOX_OKTA_TOKEN_HEADER
#define KEY_MARK "PRIVATE KEY"
#define ST "@acme.example"

static struct sfx F = {.secrets = {PROOF_MARK, ASSERTION_MARK, TOKEN_MARK, KEY_MARK}};
static char keyfile[600];
static char viewer[128], operator_[128];

static const char wf_offboard[] = "name: lockdown\n"
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

static void no_marks(const char *text)
{
    static const char *const marks[] = {PROOF_MARK, ASSERTION_MARK, TOKEN_MARK, KEY_MARK, NULL};
    for (int i = 0; marks[i]; i++)
        if (strstr(text, marks[i]))
            fail_msg("'%s' found in: %.300s", marks[i], text);
}

static void set_required(bool required)
{
    char url[300];
    long status = 0;
    snprintf(url, sizeof url, "%s/_sandbox/okta/apps/" SVC "/dpop", F.sb);
    json_t *j = sfx_assert_http_json("POST", url, required ? "{\"required\": true}" : "{\"required\": false}",
                                     (const char *[]){"Content-Type: application/json", NULL}, &status);
    json_decref(j);
    assert_int_equal(status, 200);
}

static int setup(void **state)
{
    char path[600], *pem;
    (void)state;
    if (sfx_start(&F, NULL))
        return -1;
    snprintf(path, sizeof path, "%s/tests/data/sandbox_service_ec.pem", F.src ? F.src : ".");
    pem = tu_read_file(path, NULL);
    if (!pem || sfx_write_secret(&F, "svc.pem", pem, keyfile, sizeof keyfile))
        return -1;
    free(pem);
    if (sfx_write_wf(&F, "lockdown", wf_offboard))
        return -1;
    if (tu_idflow_token(F.bin, F.db, "reader", "viewer", viewer, sizeof viewer) ||
        tu_idflow_token(F.bin, F.db, "starter", "operator", operator_, sizeof operator_))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sfx_stop(&F);
    return 0;
}

static int connect_app(const char *name, char **out)
{
    return sfx_idflow(&F, NULL, out, "connect", "okta", name, "--url", F.sb, "--client-id", SVC, "--private-key-file",
                      keyfile, "--key-id", "sandbox-ec-1", "--sandbox", "--db", F.db, NULL);
}

/* `idflow connect` says which mode the app uses, learnt from Okta. */
static void connect_says_the_mode(void **state)
{
    char *out = NULL;
    (void)state;
    set_required(false);
    assert_int_equal(connect_app("plain", &out), 0);
    assert_non_null(strstr(out, "\"token_type\":\"Bearer\""));
    assert_non_null(strstr(out, "not required by the app"));
    no_marks(out);
    free(out);
    set_required(true); /* as Okta creates an API Services app today */
    assert_int_equal(connect_app("okta", &out), 0);
    assert_non_null(strstr(out, "\"token_type\":\"DPoP\""));
    assert_non_null(strstr(out, "required by the app: every call carries a DPoP proof"));
    no_marks(out);
    free(out);
}

/* A run's Okta steps with a DPoP-bound token; no JWT and no key anywhere
 * after (serve's log is checked by sfx_serve_stop against F.secrets). */
static void run_with_dpop_leaves_no_proof(void **state)
{
    char url[200], auth[200], *resp = NULL, *out = NULL, ids[32];
    const char *h[] = {auth, NULL};
    long status = 0;
    (void)state;
    assert_int_equal(sfx_serve_start(&F, NULL, (const char *[]){"--workers", "2", NULL}), 0);
    snprintf(url, sizeof url, "%s/api/v1/events", F.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", operator_);
    assert_int_equal(tu_http("POST", url, "{\"workflow\":\"lockdown\",\"data\":{\"user\":\"james.okafor" ST "\"}}", h,
                             &status, &resp),
                     0);
    assert_int_equal(status, 202);
    json_t *a = json_loads(resp, 0, NULL);
    free(resp);
    int64_t id = json_integer_value(json_array_get(json_object_get(a, "run_ids"), 0));
    json_decref(a);
    assert_true(id > 0);
    resp = sfx_run_final(&F, viewer, (long long)id, SFX_WAIT_MS);
    assert_non_null(resp);
    json_t *run = json_loads(resp, 0, NULL);
    if (strcmp(json_string_value(json_object_get(run, "status")) ?: "", "succeeded") != 0)
        fail_msg("run %lld did not succeed: %s", (long long)id, resp);
    json_decref(run);
    no_marks(resp);
    free(resp);
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    assert_int_equal(tu_idflow_db(F.bin, F.db, &out, NULL, "show", ids, "--json", NULL), 0);
    assert_non_null(strstr(out, "SUSPENDED"));
    no_marks(out);
    free(out);
    /* the sandbox saw proofs and no replay */
    snprintf(url, sizeof url, "%s/_sandbox/okta/dpop", F.sb);
    json_t *d = sfx_assert_http_json("GET", url, NULL, NULL, &status);
    assert_true(json_integer_value(json_object_get(d, "proofs_accepted")) >= 2);
    assert_int_equal(json_integer_value(json_object_get(d, "replays")), 0);
    json_decref(d);
    assert_int_equal(sfx_serve_stop(&F), 0); /* and its log held no JWT and no key */
    assert_false(sfx_db_files_hold(&F, PROOF_MARK));
    assert_false(sfx_db_files_hold(&F, ASSERTION_MARK));
    assert_false(sfx_db_files_hold(&F, TOKEN_MARK));
    assert_false(sfx_db_files_hold(&F, KEY_MARK)); /* the key is sealed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_says_the_mode),
        cmocka_unit_test(run_with_dpop_leaves_no_proof),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

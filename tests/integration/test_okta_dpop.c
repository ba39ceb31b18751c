/* test_okta_dpop.c — the Okta connector's OAuth service app with DPoP
 * (issue 18) against the sandbox's emulation, which checks every proof as
 * Okta does (signature, htm, htu, iat, jti never seen before, ath, the key
 * the token is bound to, nonces) and refuses what Okta refuses:
 *  - a DPoP-required app (the sandbox's default, as Okta's for a new API
 *    Services app): the check says so, the token endpoint's nonce
 *    challenge is answered once, actions work, no jti is ever repeated;
 *  - an app that does not require DPoP: the same connection gets a Bearer
 *    token, without being told;
 *  - the API's own nonce challenge, and nonces renewed by the server;
 *  - a 429 with a DPoP-bound token: retryable, then a fresh proof works;
 *  - a refused proof or token names DPoP's error in the step's message;
 *  - a PEM key whose line breaks were lost still reads.
 * The sandbox's counters (GET /_sandbox/okta/dpop) count accepted proofs,
 * nonce challenges, refusals and replays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "integration/okta_fixture.h"
#include "net/ratelimit.h"
#include "support/testutil.h"

#define ST "@acme.example"
#define SVC "0oa1idflowsvc0000001"
#define USER "{\"user\": \"james.okafor" ST "\"}"

/* An OAuth connection to the fixture's sandbox for the seeded service app,
 * with the EC (or RSA) key in tests/data; a name of its own (its own token
 * cache entry and rate-limit scope). */
static json_t *oauth_conn(struct ofx *f, const char *name, bool ec)
{
    char full[128];
    snprintf(full, sizeof full, "%s-%s", f->name, name);
    return ofx_oauth_conn(f, full, SVC, ec ? "sandbox_service_ec.pem" : "sandbox_service_rsa.pem",
                          ec ? "sandbox-ec-1" : "sandbox-rsa-1", NULL);
}

/* The sandbox's DPoP counters. */
static json_int_t dpop_count(struct ofx *f, const char *name)
{
    json_t *j = sbx(f, "GET", "/_sandbox/okta/dpop", NULL);
    json_int_t n = json_integer_value(json_object_get(j, name));
    json_decref(j);
    return n;
}

static void set_required(struct ofx *f, bool required)
{
    char body[64];
    snprintf(body, sizeof body, "{\"required\": %s}", required ? "true" : "false");
    sbx_post(f, "/_sandbox/okta/apps/" SVC "/dpop", body);
}

/* A DPoP-required app: the check says so; the token endpoint challenges
 * once for its nonce; reads and writes go through with proofs the sandbox
 * accepts; the token is fetched once and never sent as Bearer. */
static void test_dpop_required_app(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct conn_result r;
    struct idf_err err = {0};
    json_t *who = NULL, *c = oauth_conn(f, "req", true);

    assert_int_equal(ofx_okta()->connection->check(f->http, c, &who, &err), 0);
    assert_string_equal(ostr(who, "kind"), "oauth");
    assert_string_equal(ostr(who, "token_type"), "DPoP");
    assert_non_null(strstr(ostr(who, "dpop"), "required by the app"));
    json_decref(who);
    assert_int_equal(count_calls(f, "POST", "/oauth2/v1/token", 400), 1); /* use_dpop_nonce */
    assert_int_equal(count_calls(f, "POST", "/oauth2/v1/token", 200), 1);
    assert_int_equal(dpop_count(f, "nonce_challenges"), 1);

    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 1, &r, USER), 0);
    res_clear(&r);
    assert_int_equal(ofx_act_conn(f, c, "okta.suspend_user", 1, &r, USER), 0);
    assert_true(ochanged(&r));
    res_clear(&r);
    assert_int_equal(ofx_act_conn(f, c, "okta.unsuspend_user", 1, &r, USER), 0);
    assert_true(ochanged(&r));
    res_clear(&r);
    /* a list (several pages would carry several proofs) */
    assert_int_equal(ofx_act_conn(f, c, "okta.list_user_groups", 1, &r, USER), 0);
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/oauth2/v1/token", -1), 2); /* cached since */
    assert_int_equal(count_calls(f, NULL, "/api/v1/", 401), 0);
    assert_int_equal(dpop_count(f, "replays"), 0);
    assert_true(dpop_count(f, "proofs_accepted") >= 6);
    json_decref(c);
    ofx_stop(f);
}

/* The same connection against an app whose "Require DPoP" is off: idflow
 * learns it from the answer (a Bearer token) and sends Bearer. */
static void test_bearer_app(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct conn_result r;
    struct idf_err err = {0};
    json_t *who = NULL, *c = oauth_conn(f, "bearer", false);

    set_required(f, false);
    assert_int_equal(ofx_okta()->connection->check(f->http, c, &who, &err), 0);
    assert_string_equal(ostr(who, "token_type"), "Bearer");
    assert_non_null(strstr(ostr(who, "dpop"), "not required"));
    json_decref(who);
    assert_int_equal(count_calls(f, "POST", "/oauth2/v1/token", 400), 0);
    assert_int_equal(ofx_act_conn(f, c, "okta.suspend_user", 1, &r, USER), 0);
    assert_true(ochanged(&r));
    res_clear(&r);
    assert_int_equal(count_calls(f, NULL, "/api/v1/", 401), 0);
    json_decref(c);
    ofx_stop(f);
}

/* The API asks for its own nonce: the call is answered after one retry with
 * it; when the server renews its nonces, the next call (API) and the next
 * token request (token endpoint) each take the new one after one challenge. */
static void test_nonces(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct conn_result r;
    json_t *c = oauth_conn(f, "nonce", true);

    sbx_post(f, "/_sandbox/okta/config", "{\"dpopResourceNonce\": true}");
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 1, &r, USER), 0);
    res_clear(&r);
    assert_int_equal(count_calls(f, "GET", "/api/v1/users/", 401), 1);     /* the API's challenge */
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 1, &r, USER), 0); /* its nonce kept: no challenge */
    res_clear(&r);
    assert_int_equal(count_calls(f, "GET", "/api/v1/users/", 401), 1);
    assert_int_equal(dpop_count(f, "nonce_challenges"), 2); /* token endpoint + API */

    sbx_post(f, "/_sandbox/okta/dpop/nonce", "{}"); /* the server renews both */
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 1, &r, USER), 0);
    res_clear(&r);
    assert_int_equal(count_calls(f, "GET", "/api/v1/users/", 401), 2);
    assert_int_equal(dpop_count(f, "nonce_challenges"), 3);

    /* the org forgets its tokens and its nonces (a reset): the token is
     * refused once (retryable, dropped); the next attempt's token request
     * carries the old nonce, is challenged with the new one, and succeeds */
    sbx_post(f, "/_sandbox/reset", "{}");
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 1, &r, USER), IDF_EAUTH);
    assert_true(r.retryable);
    res_clear(&r);
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 2, &r, USER), 0);
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/oauth2/v1/token", 400), 1);
    assert_int_equal(count_calls(f, "POST", "/oauth2/v1/token", 200), 1);
    assert_int_equal(dpop_count(f, "nonce_challenges"), 1);
    assert_int_equal(dpop_count(f, "replays"), 0);
    json_decref(c);
    ofx_stop(f);
}

/* A 429 on a DPoP-bound call is the same retryable wait as with any token;
 * the retry carries a new proof that the sandbox accepts. */
static void test_429_with_dpop(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct conn_result r;
    json_t *c = oauth_conn(f, "429", true);

    f->raw = true;
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 1, &r, USER), 0); /* token first */
    res_clear(&r);
    sbx_post(f, "/_sandbox/faults", "{\"spec\": \"path=/api/v1/users,burst429=1\"}");
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 1, &r, USER), IDF_EBUSY);
    assert_true(r.retryable);
    assert_true(r.retry_after_ms >= 1000 && r.retry_after_ms <= RATELIMIT_CONC_429_BLOCK_MS);
    int64_t w = r.retry_after_ms;
    res_clear(&r);
    sleep_ms(w); /* Okta's Retry-After, as the engine waits it */
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 2, &r, USER), 0);
    res_clear(&r);
    assert_int_equal(count_calls(f, NULL, NULL, 429), 1);
    assert_int_equal(count_calls(f, "POST", "/oauth2/v1/token", 200), 1);
    assert_int_equal(dpop_count(f, "replays"), 0);
    json_decref(c);
    ofx_stop(f);
}

/* The org refuses the proofs (here: its clock runs ten minutes ahead, so
 * every iat is stale): an API call's refusal drops the token and is
 * retryable, naming DPoP's error; the token request's refusal is final and
 * says to check the clock; when the clocks agree again, it works. */
static void test_refused_proof(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct conn_result r;
    json_t *c = oauth_conn(f, "refused", true);

    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 1, &r, USER), 0);
    res_clear(&r);
    sbx_post(f, "/_sandbox/okta/config", "{\"dpopClockSkewS\": 600}");
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 1, &r, USER), IDF_EAUTH);
    assert_true(r.retryable);
    assert_non_null(strstr(r.message, "(DPoP: invalid_dpop_proof: "));
    assert_non_null(strstr(r.message, "stale"));
    res_clear(&r);
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 2, &r, USER), IDF_EAUTH);
    assert_false(r.retryable);
    assert_non_null(strstr(r.message, "invalid_dpop_proof"));
    assert_non_null(strstr(r.message, "check this machine's time"));
    res_clear(&r);
    sbx_post(f, "/_sandbox/okta/config", "{\"dpopClockSkewS\": 0}");
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 3, &r, USER), 0);
    res_clear(&r);
    json_t *d = sbx(f, "GET", "/_sandbox/okta/dpop", NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "refused"), "iat_stale")), 2);
    json_decref(d);
    json_decref(c);
    ofx_stop(f);
}

/* A PEM pasted where line breaks are lost (a browser's password input)
 * still reads: idflow puts the lines back; one cut short does not. */
static void test_flat_pem(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct conn_result r;
    struct idf_err err = {0};
    json_t *c = oauth_conn(f, "flat", true);
    char *pem = strdup(ostr(c, "private_key")), *w = pem;
    for (const char *p = pem; *p; p++)
        if (*p != '\n' && *p != '\r')
            *w++ = *p;
    *w = '\0';
    assert_null(strchr(pem, '\n'));
    json_object_set_new(c, "private_key", json_string(pem));
    assert_int_equal(ofx_okta()->connection->validate(c, &err), 0);
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 1, &r, USER), 0);
    res_clear(&r);
    pem[strlen(pem) / 2] = '\0'; /* half a key */
    json_object_set_new(c, "private_key", json_string(pem));
    assert_int_equal(ofx_okta()->connection->validate(c, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "private_key"));
    explicit_bzero(pem, strlen(pem));
    free(pem);
    json_decref(c);
    ofx_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dpop_required_app), cmocka_unit_test(test_bearer_app),    cmocka_unit_test(test_nonces),
        cmocka_unit_test(test_429_with_dpop),     cmocka_unit_test(test_refused_proof), cmocka_unit_test(test_flat_pem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_sandbox_okta_oauth.c — OAuth 2.0 service apps in the sandbox's Okta:
 * client credentials with a private_key_jwt assertion at /oauth2/v1/token,
 * and the scoped bearer tokens it issues.
 *
 * Assertions are signed here with the private keys in tests/data/
 * (sandbox_service_rsa.pem for RS256, sandbox_service_ec.pem for ES256)
 * whose public JWKs the default seed registers on its two service apps.
 *
 * DPoP (RFC 9449): both seeded apps require DPoP-bound tokens. Good proofs
 * are made with dpop_proof() as the connector makes them; each bad one is a
 * good one with one defect, signed with jws_sign() on a hand-made header
 * and claims, and carrying the current nonce, so that without the check
 * that refuses it the call would succeed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "crypto/dpop.h"
#include "crypto/jwk.h"
#include "crypto/jws.h"
#include "test_sandbox_common.h"

#define FULL_CLIENT "0oa1idflowsvc0000001"
#define RO_CLIENT "0oa1idflowro00000001"
#define ASSERTION_TYPE "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"

static EVP_PKEY *load_key(const char *name)
{
    char path[512];
    const char *src = getenv("IDFLOW_SRC");
    snprintf(path, sizeof path, "%s/tests/data/%s", src ? src : ".", name);
    FILE *fp = fopen(path, "r");
    if (!fp)
        fail_msg("cannot open %s", path);
    EVP_PKEY *k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(k);
    return k;
}

/* A client assertion over claims with key (jws_sign picks alg from the key). */
static char *sign_jwt(EVP_PKEY *key, const char *kid, json_t *claims)
{
    json_t *hdr = json_pack("{s:s}", "typ", "JWT");
    if (kid)
        json_object_set_new(hdr, "kid", json_string(kid));
    char *jwt = jws_sign(key, hdr, claims);
    assert_non_null(jwt);
    json_decref(hdr);
    return jwt;
}

/* The app's "Require DPoP" switch (POST /_sandbox/okta/apps/{client_id}/dpop). */
static void dpop_required(struct fx *f, const char *client, bool on)
{
    char path[128];
    snprintf(path, sizeof path, "/_sandbox/okta/apps/%s/dpop", client);
    if (fx_raw(f, "POST", path, on ? "{\"required\": true}" : "{\"required\": false}", NULL) != 200)
        fail_msg("dpop switch: %ld %s", f->status, f->body);
    assert_string_equal(jstr(f->json, "client_id"), client);
    assert_true(json_is_true(json_object_get(f->json, "required")) == on);
}

static json_t *claims_for(struct fx *f, const char *client, int64_t exp_in_s)
{
    char aud[128], jti[40];
    static int n;
    snprintf(aud, sizeof aud, "%s/oauth2/v1/token", f->base);
    snprintf(jti, sizeof jti, "jti-%d-%ld", ++n, (long)time_now_ms());
    int64_t now = time_now_ms() / 1000;
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", client, "sub", client, "aud", aud, "iat", (json_int_t)now,
                     "exp", (json_int_t)(now + exp_in_s), "jti", jti);
}

/* POSTs the token form; returns the status. */
static long token_call(struct fx *f, const char *grant, const char *scope, const char *jwt)
{
    char *body = NULL;
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json", NULL};
    assert_true(asprintf(&body, "grant_type=%s&scope=%s&client_assertion_type=%s&client_assertion=%s", grant, scope,
                         ASSERTION_TYPE, jwt ? jwt : "") > 0);
    long st = fx_raw(f, "POST", "/oauth2/v1/token", body, h);
    free(body);
    return st;
}

static char *get_token(struct fx *f, EVP_PKEY *key, const char *kid, const char *client, const char *scope)
{
    json_t *cl = claims_for(f, client, 300);
    char *jwt = sign_jwt(key, kid, cl);
    json_decref(cl);
    if (token_call(f, "client_credentials", scope, jwt) != 200)
        fail_msg("token: %ld %s", f->status, f->body);
    free(jwt);
    assert_string_equal(jstr(f->json, "token_type"), "Bearer");
    assert_int_equal(json_integer_value(json_object_get(f->json, "expires_in")), 3600);
    assert_string_equal(fx_header(f, "cache-control"), "no-store");
    return strdup(jstr(f->json, "access_token"));
}

static long bearer_call(struct fx *f, const char *token, const char *method, const char *path)
{
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *h[] = {auth, "Accept: application/json", NULL};
    return fx_raw(f, method, path, NULL, h);
}

static void test_token_and_scopes(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    dpop_required(f, FULL_CLIENT, false); /* Bearer tokens here; DPoP below */
    dpop_required(f, RO_CLIENT, false);
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *ec = load_key("sandbox_service_ec.pem");
    char path[256];

    /* RS256, every scope: read and manage */
    char *tok = get_token(f, rsa, "sandbox-rsa-1", FULL_CLIENT, "okta.users.read%20okta.users.manage%20okta.logs.read");
    assert_string_equal(jstr(f->json, "scope"), "okta.users.read okta.users.manage okta.logs.read");
    assert_int_equal(bearer_call(f, tok, "GET", "/api/v1/users?limit=1"), 200);
    assert_int_equal(json_array_size(f->json), 1);
    assert_non_null(fx_header(f, "x-rate-limit-remaining"));
    char *id = user_id(f, "ben.carter@acme.example");
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/suspend", id);
    assert_int_equal(bearer_call(f, tok, "POST", path), 200);
    /* events caused through OAuth: the service app is the actor, no API token id */
    json_t *ev = events_of(f, "user.lifecycle.suspend", id);
    assert_int_equal(json_array_size(ev), 1);
    assert_string_equal(jstr(ev, "0.actor.type"), "PublicClientApp");
    assert_string_equal(jstr(ev, "0.actor.id"), FULL_CLIENT);
    assert_string_equal(jstr(ev, "0.actor.displayName"), "idflow service");
    assert_null(jstr(ev, "0.transaction.detail.requestApiTokenId"));
    json_decref(ev);
    /* scopes not requested are not granted, even if the app could have them */
    assert_int_equal(bearer_call(f, tok, "GET", "/api/v1/groups"), 403);
    assert_okta_error(f, 403, "E0000006");
    assert_non_null(strstr(fx_header(f, "www-authenticate"), "insufficient_scope"));
    assert_non_null(strstr(fx_header(f, "www-authenticate"), "okta.groups.read"));

    /* ES256, the read-only app: reads work, writes are refused by scope */
    char *ro = get_token(f, ec, "sandbox-ec-1", RO_CLIENT, "okta.users.read%20okta.logs.read");
    assert_int_equal(bearer_call(f, ro, "GET", "/api/v1/users/me"), 404); /* `me` is an API-token user */
    assert_int_equal(bearer_call(f, ro, "GET", "/api/v1/logs?limit=1"), 200);
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/unsuspend", id);
    assert_int_equal(bearer_call(f, ro, "POST", path), 403);
    assert_okta_error(f, 403, "E0000006");
    assert_non_null(strstr(fx_header(f, "www-authenticate"), "okta.users.manage"));
    /* manage implies read */
    char *mg = get_token(f, rsa, NULL, FULL_CLIENT, "okta.groups.manage");
    assert_int_equal(bearer_call(f, mg, "GET", "/api/v1/groups?limit=1"), 200);
    /* an unknown bearer token */
    assert_int_equal(bearer_call(f, "not-a-token", "GET", "/api/v1/users"), 401);
    assert_okta_error(f, 401, "E0000011");
    assert_non_null(strstr(fx_header(f, "www-authenticate"), "invalid_token"));
    free(mg);
    free(ro);
    free(id);
    free(tok);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    fx_stop(f);
}

static void expect_oauth_error(struct fx *f, long status, const char *error)
{
    if (f->status != status || strcmp(jstr(f->json, "error") ?: "", error) != 0)
        fail_msg("wanted %ld %s, got %ld %s", status, error, f->status, f->body);
    assert_non_null(jstr(f->json, "error_description"));
}

static void test_token_refusals(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    dpop_required(f, FULL_CLIENT, false); /* the assertion's refusals, without DPoP */
    dpop_required(f, RO_CLIENT, false);
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *ec = load_key("sandbox_service_ec.pem");
    EVP_PKEY *other = EVP_RSA_gen(2048);
    assert_non_null(other);
    json_t *cl;
    char *jwt;

    /* signed by a key the app does not have */
    cl = claims_for(f, FULL_CLIENT, 300);
    jwt = sign_jwt(other, "sandbox-rsa-1", cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    expect_oauth_error(f, 401, "invalid_client");
    assert_non_null(strstr(jstr(f->json, "error_description"), "signature"));
    free(jwt);
    json_decref(cl);
    /* an EC signature presented as RS256 */
    cl = claims_for(f, FULL_CLIENT, 300);
    jwt = sign_jwt(ec, "sandbox-ec-1", cl);
    char *dot = strchr(jwt, '.');
    char *bad_hdr = NULL, *h = jws_b64url((const unsigned char *)"{\"alg\":\"RS256\",\"kid\":\"sandbox-ec-1\"}", 36);
    assert_true(asprintf(&bad_hdr, "%s%s", h, dot) > 0);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", bad_hdr), 401);
    expect_oauth_error(f, 401, "invalid_client");
    free(h);
    free(bad_hdr);
    free(jwt);
    json_decref(cl);
    /* wrong audience, expired, too far ahead, sub != iss, unknown client */
    cl = claims_for(f, FULL_CLIENT, 300);
    json_object_set_new(cl, "aud", json_string("https://elsewhere.example/oauth2/v1/token"));
    jwt = sign_jwt(rsa, NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    assert_non_null(strstr(jstr(f->json, "error_description"), "audience"));
    free(jwt);
    json_decref(cl);
    cl = claims_for(f, FULL_CLIENT, -600);
    jwt = sign_jwt(rsa, NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    assert_non_null(strstr(jstr(f->json, "error_description"), "expired"));
    free(jwt);
    json_decref(cl);
    cl = claims_for(f, FULL_CLIENT, 7200);
    jwt = sign_jwt(rsa, NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    free(jwt);
    json_decref(cl);
    cl = claims_for(f, FULL_CLIENT, 300);
    json_object_set_new(cl, "sub", json_string("someone-else"));
    jwt = sign_jwt(rsa, NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    free(jwt);
    json_decref(cl);
    cl = claims_for(f, "0oaunknownclient0000", 300);
    jwt = sign_jwt(rsa, NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    expect_oauth_error(f, 401, "invalid_client");
    free(jwt);
    json_decref(cl);

    /* a good assertion works once; replaying its jti is refused */
    cl = claims_for(f, FULL_CLIENT, 300);
    jwt = sign_jwt(rsa, "sandbox-rsa-1", cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 200);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    assert_non_null(strstr(jstr(f->json, "error_description"), "already been used"));
    free(jwt);
    json_decref(cl);

    /* scopes the app was not granted; no scope; wrong grant; no assertion; not a JWT */
    cl = claims_for(f, RO_CLIENT, 300);
    jwt = sign_jwt(rsa, NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.manage", jwt), 400);
    expect_oauth_error(f, 400, "invalid_scope");
    free(jwt);
    json_decref(cl);
    cl = claims_for(f, FULL_CLIENT, 300);
    jwt = sign_jwt(rsa, NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "", jwt), 400);
    expect_oauth_error(f, 400, "invalid_scope");
    free(jwt);
    json_decref(cl);
    assert_int_equal(token_call(f, "password", "okta.users.read", "x.y.z"), 400);
    expect_oauth_error(f, 400, "unsupported_grant_type");
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    assert_int_equal(fx_raw(f, "POST", "/oauth2/v1/token", "scope=okta.users.read", form), 400);
    expect_oauth_error(f, 400, "invalid_request");
    assert_int_equal(fx_raw(f, "POST", "/oauth2/v1/token", "grant_type=client_credentials&scope=okta.users.read", form),
                     401);
    expect_oauth_error(f, 401, "invalid_client");
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", "not-a-jwt"), 401);
    expect_oauth_error(f, 401, "invalid_client");
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", "a.b.c"), 401);
    assert_int_equal(fx_raw(f, "GET", "/oauth2/v1/token", NULL, NULL), 404);
    EVP_PKEY_free(other);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    fx_stop(f);
}

/* ------------------------------------------------------------- DPoP */

#define TOKEN_PATH "/oauth2/v1/token"
#define DPOP_MISSING "The DPoP proof JWT header is missing."

/* A fresh RS256 client assertion for client. Caller frees. */
static char *assertion(struct fx *f, EVP_PKEY *rsa, const char *client)
{
    json_t *cl = claims_for(f, client, 300);
    char *jwt = sign_jwt(rsa, "sandbox-rsa-1", cl);
    json_decref(cl);
    return jwt;
}

/* POSTs the token form for FULL_CLIENT with a new assertion and, when not
 * NULL, the DPoP proof; returns the status. */
static long dpop_token_call(struct fx *f, EVP_PKEY *rsa, const char *scope, const char *proof)
{
    char *jwt = assertion(f, rsa, FULL_CLIENT), *body = NULL, *dp = NULL;
    assert_true(asprintf(&body, "grant_type=client_credentials&scope=%s&client_assertion_type=%s&client_assertion=%s",
                         scope, ASSERTION_TYPE, jwt) > 0);
    if (proof)
        assert_true(asprintf(&dp, "DPoP: %s", proof) > 0);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json", dp, NULL};
    long st = fx_raw(f, "POST", TOKEN_PATH, body, h);
    free(dp);
    free(body);
    free(jwt);
    return st;
}

/* The URL of path on the sandbox as the tests call it. */
static void url_of(struct fx *f, const char *path, char *out, size_t n)
{
    snprintf(out, n, "%s%s", f->base, path);
}

/* A good proof, as the connector makes it. Caller frees. */
static char *good_proof(struct fx *f, EVP_PKEY *key, const char *method, const char *path, const char *nonce,
                        const char *token)
{
    char url[256];
    url_of(f, path, url, sizeof url);
    char *p = dpop_proof(key, method, url, nonce, token);
    assert_non_null(p);
    return p;
}

/* The claims of a good proof, to be spoiled by a test. Caller decrefs. */
static json_t *proof_claims(struct fx *f, const char *method, const char *path, const char *nonce, const char *token)
{
    char url[256], jti[DPOP_JTI_SIZE];
    url_of(f, path, url, sizeof url);
    dpop_jti(jti);
    json_t *cl = json_pack("{s:s, s:s, s:s, s:I}", "jti", jti, "htm", method, "htu", url, "iat",
                           (json_int_t)(time_now_ms() / 1000));
    if (nonce)
        json_object_set_new(cl, "nonce", json_string(nonce));
    if (token) {
        char *ath = dpop_ath(token);
        json_object_set_new(cl, "ath", json_string(ath));
        free(ath);
    }
    return cl;
}

/* The header of a good proof by key (jws_sign adds alg). Caller decrefs. */
static json_t *proof_header(EVP_PKEY *key)
{
    json_t *jwk = jwk_public(key);
    assert_non_null(jwk);
    return json_pack("{s:s, s:o}", "typ", "dpop+jwt", "jwk", jwk);
}

/* Signs hdr and claims (both stolen) with key. Caller frees. */
static char *sign_proof(EVP_PKEY *key, json_t *hdr, json_t *claims)
{
    char *p = jws_sign(key, hdr, claims);
    assert_non_null(p);
    json_decref(hdr);
    json_decref(claims);
    return p;
}

/* The token endpoint's current nonce, learnt as a client learns it: a
 * proof without one is answered 400 use_dpop_nonce with a DPoP-Nonce. */
static char *as_nonce(struct fx *f, EVP_PKEY *rsa, EVP_PKEY *key)
{
    char *p = good_proof(f, key, "POST", TOKEN_PATH, NULL, NULL);
    dpop_token_call(f, rsa, "okta.users.read", p);
    free(p);
    if (f->status != 400 || strcmp(jstr(f->json, "error") ?: "", "use_dpop_nonce") != 0)
        fail_msg("wanted use_dpop_nonce, got %ld %s", f->status, f->body);
    assert_string_equal(jstr(f->json, "error_description"), "Authorization server requires nonce in DPoP proof.");
    assert_non_null(fx_header(f, "dpop-nonce"));
    return strdup(fx_header(f, "dpop-nonce"));
}

/* A DPoP-bound token for FULL_CLIENT (nonce challenge answered). Caller frees. */
static char *dpop_token(struct fx *f, EVP_PKEY *rsa, EVP_PKEY *key, const char *scope)
{
    char *nonce = as_nonce(f, rsa, key);
    char *p = good_proof(f, key, "POST", TOKEN_PATH, nonce, NULL);
    if (dpop_token_call(f, rsa, scope, p) != 200)
        fail_msg("token: %ld %s", f->status, f->body);
    assert_string_equal(jstr(f->json, "token_type"), "DPoP");
    free(p);
    free(nonce);
    return strdup(jstr(f->json, "access_token"));
}

static void expect_bad_proof(struct fx *f, const char *what)
{
    if (f->status != 400 || strcmp(jstr(f->json, "error") ?: "", "invalid_dpop_proof") != 0 ||
        !strstr(jstr(f->json, "error_description") ?: "", what))
        fail_msg("wanted 400 invalid_dpop_proof naming '%s', got %ld %s", what, f->status, f->body);
    assert_string_equal(fx_header(f, "cache-control"), "no-store");
}

/* One /api/v1 call with `Authorization: <scheme> token` and a DPoP header
 * when proof is not NULL. */
static long scheme_call(struct fx *f, const char *scheme, const char *token, const char *proof, const char *method,
                        const char *path)
{
    char auth[200], *dp = NULL;
    snprintf(auth, sizeof auth, "Authorization: %s %s", scheme, token);
    if (proof)
        assert_true(asprintf(&dp, "DPoP: %s", proof) > 0);
    const char *h[] = {auth, "Accept: application/json", dp, NULL};
    long st = fx_raw(f, method, path, NULL, h);
    free(dp);
    return st;
}

/* A 401 E0000011 whose WWW-Authenticate is `DPoP error="error"` and whose
 * description holds what. */
static void expect_refused(struct fx *f, const char *error, const char *what)
{
    char want[64];
    snprintf(want, sizeof want, "DPoP error=\"%s\"", error);
    assert_okta_error(f, 401, "E0000011");
    const char *h = fx_header(f, "www-authenticate");
    if (!h || strncmp(h, want, strlen(want)) != 0 || !strstr(h, what))
        fail_msg("wanted WWW-Authenticate %s naming '%s', got '%s'", want, what, h ? h : "(none)");
}

static json_int_t counter(struct fx *f, const char *name)
{
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/okta/dpop", NULL, NULL), 200);
    if (strncmp(name, "refused.", 8) == 0)
        return json_integer_value(json_object_get(json_object_get(f->json, "refused"), name + 8));
    return json_integer_value(json_object_get(f->json, name));
}

/* A token request whose proof is a good one (current nonce) spoiled by
 * spoil(); it must be refused naming what. */
typedef void (*spoil_fn)(json_t *hdr, json_t *claims);

static void token_refused(const char *what, spoil_fn spoil, bool other_signer)
{
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new(), *other = dpop_key_new();
    char *nonce = as_nonce(f, rsa, key);
    json_t *hdr = proof_header(key), *cl = proof_claims(f, "POST", TOKEN_PATH, nonce, NULL);
    spoil(hdr, cl);
    char *p = sign_proof(other_signer ? other : key, hdr, cl);
    dpop_token_call(f, rsa, "okta.users.read", p);
    expect_bad_proof(f, what);
    assert_null(jstr(f->json, "access_token"));
    free(p);
    free(nonce);
    EVP_PKEY_free(other);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void spoil_nothing(json_t *hdr, json_t *cl)
{
    (void)hdr, (void)cl;
}
static void spoil_htm(json_t *hdr, json_t *cl)
{
    (void)hdr;
    json_object_set_new(cl, "htm", json_string("GET"));
}
static void spoil_htu(json_t *hdr, json_t *cl)
{
    (void)hdr;
    json_object_set_new(cl, "htu", json_string("https://elsewhere.example/oauth2/v1/token"));
}
static void spoil_stale(json_t *hdr, json_t *cl)
{
    (void)hdr;
    json_object_set_new(cl, "iat", json_integer(time_now_ms() / 1000 - 400));
}
static void spoil_future(json_t *hdr, json_t *cl)
{
    (void)hdr;
    json_object_set_new(cl, "iat", json_integer(time_now_ms() / 1000 + 180));
}
static void spoil_private(json_t *hdr, json_t *cl)
{
    (void)cl;
    json_object_set_new(json_object_get(hdr, "jwk"), "d", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
}
static void spoil_typ(json_t *hdr, json_t *cl)
{
    (void)cl;
    json_object_set_new(hdr, "typ", json_string("JWT"));
}

static void test_token_dpop_missing(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem");
    assert_int_equal(dpop_token_call(f, rsa, "okta.users.read", NULL), 400);
    assert_string_equal(jstr(f->json, "error"), "invalid_dpop_proof");
    assert_string_equal(jstr(f->json, "error_description"), DPOP_MISSING);
    assert_null(fx_header(f, "dpop-nonce"));
    /* not a JWS at all */
    dpop_token_call(f, rsa, "okta.users.read", "not-a-proof");
    expect_bad_proof(f, "not a compact JWS");
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_token_dpop_nonce_then_token(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    char *nonce = as_nonce(f, rsa, key);
    assert_string_equal(fx_header(f, "cache-control"), "no-store");
    /* a nonce that is not the current one is challenged again */
    char *p = good_proof(f, key, "POST", TOKEN_PATH, "not-the-nonce", NULL);
    assert_int_equal(dpop_token_call(f, rsa, "okta.users.read", p), 400);
    assert_string_equal(jstr(f->json, "error"), "use_dpop_nonce");
    assert_string_equal(fx_header(f, "dpop-nonce"), nonce);
    free(p);
    /* the retry: a new assertion (new jti) and a new proof with the nonce */
    p = good_proof(f, key, "POST", TOKEN_PATH, nonce, NULL);
    if (dpop_token_call(f, rsa, "okta.users.read", p) != 200)
        fail_msg("token: %ld %s", f->status, f->body);
    assert_string_equal(jstr(f->json, "token_type"), "DPoP");
    assert_int_equal(json_integer_value(json_object_get(f->json, "expires_in")), 3600);
    assert_non_null(jstr(f->json, "access_token"));
    /* the stored token is bound to the proof key's thumbprint */
    json_t *jwk = jwk_public(key);
    char jkt[JWK_THUMBPRINT_SIZE];
    assert_int_equal(jwk_thumbprint(jwk, jkt), 0);
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/state", NULL, NULL), 200);
    json_t *toks = json_object_get(json_object_get(f->json, "okta"), "tokens");
    assert_int_equal(json_array_size(toks), 1);
    assert_true(json_is_true(json_object_get(json_array_get(toks, 0), "dpop")));
    assert_string_equal(jstr(toks, "0.jkt"), jkt);
    assert_null(json_object_get(json_array_get(toks, 0), "token"));
    json_decref(jwk);
    free(p);
    free(nonce);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_token_dpop_bad_signature(void **state)
{
    (void)state;
    token_refused("signature", spoil_nothing, true); /* the jwk is one key, the signer another */
}

static void test_token_dpop_wrong_htm(void **state)
{
    (void)state;
    token_refused("htm", spoil_htm, false);
}

static void test_token_dpop_wrong_htu(void **state)
{
    (void)state;
    token_refused("htu", spoil_htu, false);
}

static void test_token_dpop_stale_iat(void **state)
{
    (void)state;
    token_refused("300 seconds old", spoil_stale, false);
}

static void test_token_dpop_future_iat(void **state)
{
    (void)state;
    token_refused("in the future", spoil_future, false);
}

static void test_token_dpop_private_jwk(void **state)
{
    (void)state;
    token_refused("private key member", spoil_private, false);
}

static void test_token_dpop_wrong_typ(void **state)
{
    (void)state;
    token_refused("typ", spoil_typ, false);
}

static void spoil_jwk(json_t *hdr, json_t *cl)
{
    (void)cl;
    json_object_set_new(hdr, "jwk",
                        json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", "AAAA", "y", "AAAA"));
}

static void test_token_dpop_unusable_jwk(void **state)
{
    (void)state;
    token_refused("not a usable EC or RSA public key", spoil_jwk, false);
}

/* An alg that is not asymmetric (HS256) and two DPoP headers. */
static void test_token_dpop_alg_and_two_headers(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    char *nonce = as_nonce(f, rsa, key);
    json_t *hdr = proof_header(key), *cl = proof_claims(f, "POST", TOKEN_PATH, nonce, NULL);
    json_object_set_new(hdr, "alg", json_string("HS256"));
    char *hs = json_dumps(hdr, JSON_COMPACT), *cs = json_dumps(cl, JSON_COMPACT);
    char *hb = jws_b64url((const unsigned char *)hs, strlen(hs)),
         *cb = jws_b64url((const unsigned char *)cs, strlen(cs));
    char *p = NULL;
    assert_true(asprintf(&p, "%s.%s.c2lnbmF0dXJl", hb, cb) > 0);
    dpop_token_call(f, rsa, "okta.users.read", p);
    expect_bad_proof(f, "alg is not supported");
    free(p);
    /* two good proofs in two DPoP headers */
    char *p1 = good_proof(f, key, "POST", TOKEN_PATH, nonce, NULL),
         *p2 = good_proof(f, key, "POST", TOKEN_PATH, nonce, NULL);
    char *jwt = assertion(f, rsa, FULL_CLIENT), *body = NULL, *d1 = NULL, *d2 = NULL;
    assert_true(asprintf(&body,
                         "grant_type=client_credentials&scope=okta.users.read&client_assertion_type=%s&"
                         "client_assertion=%s",
                         ASSERTION_TYPE, jwt) > 0);
    assert_true(asprintf(&d1, "DPoP: %s", p1) > 0);
    assert_true(asprintf(&d2, "DPoP: %s", p2) > 0);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", d1, d2, NULL};
    fx_raw(f, "POST", TOKEN_PATH, body, h);
    expect_bad_proof(f, "more than one DPoP header");
    free(d2);
    free(d1);
    free(body);
    free(jwt);
    free(p2);
    free(p1);
    free(hb);
    free(cb);
    free(hs);
    free(cs);
    json_decref(hdr);
    json_decref(cl);
    free(nonce);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_token_dpop_replayed_jti(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    char *nonce = as_nonce(f, rsa, key);
    char *p = good_proof(f, key, "POST", TOKEN_PATH, nonce, NULL);
    assert_int_equal(dpop_token_call(f, rsa, "okta.users.read", p), 200);
    assert_int_equal(counter(f, "replays"), 0);
    /* the same proof again, with a new assertion */
    dpop_token_call(f, rsa, "okta.users.read", p);
    expect_bad_proof(f, "jti has already been used");
    assert_int_equal(counter(f, "replays"), 1);
    free(p);
    free(nonce);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_resource_dpop_success(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    char *tok = dpop_token(f, rsa, key, "okta.users.read%20okta.users.manage");
    /* the query is not part of htu: dpop_proof leaves it out */
    char *p = good_proof(f, key, "GET", "/api/v1/users?limit=1", NULL, tok);
    if (scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users?limit=1") != 200)
        fail_msg("GET: %ld %s", f->status, f->body);
    assert_int_equal(json_array_size(f->json), 1);
    free(p);
    char *id = user_id(f, "ben.carter@acme.example"), path[256];
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/suspend", id);
    p = good_proof(f, key, "POST", path, NULL, tok);
    assert_int_equal(scheme_call(f, "DPoP", tok, p, "POST", path), 200);
    json_t *ev = events_of(f, "user.lifecycle.suspend", id);
    assert_string_equal(jstr(ev, "0.actor.id"), FULL_CLIENT);
    json_decref(ev);
    free(p);
    /* a scope not granted: 403, challenged with the scheme the call used */
    p = good_proof(f, key, "GET", "/api/v1/groups", NULL, tok);
    assert_int_equal(scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/groups"), 403);
    assert_okta_error(f, 403, "E0000006");
    assert_non_null(fx_header(f, "www-authenticate"));
    assert_int_equal(strncmp(fx_header(f, "www-authenticate"), "DPoP error=\"insufficient_scope\"", 31), 0);
    free(p);
    /* neither the token nor a proof reaches the call log */
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/calls", NULL, NULL), 200);
    assert_null(strstr(f->body, tok));
    assert_null(strstr(f->body, "eyJ"));
    assert_int_equal(counter(f, "proofs_accepted"), 4); /* the token request, the GETs, the POST */
    free(id);
    free(tok);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_resource_dpop_wrong_ath(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    char *tok = dpop_token(f, rsa, key, "okta.users.read");
    char *p = good_proof(f, key, "GET", "/api/v1/users", NULL, "another-token");
    scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users");
    expect_refused(f, "invalid_dpop_proof", "ath does not match");
    free(p);
    free(tok);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_resource_dpop_other_key(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new(), *other = dpop_key_new();
    char *tok = dpop_token(f, rsa, key, "okta.users.read");
    char *p = good_proof(f, other, "GET", "/api/v1/users", NULL, tok);
    scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users");
    expect_refused(f, "invalid_dpop_proof", "a key other than the one the access token is bound to");
    free(p);
    free(tok);
    EVP_PKEY_free(other);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_resource_dpop_replayed_jti(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    char *tok = dpop_token(f, rsa, key, "okta.users.read");
    char *p = good_proof(f, key, "GET", "/api/v1/users", NULL, tok);
    assert_int_equal(scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users"), 200);
    scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users");
    expect_refused(f, "invalid_dpop_proof", "jti has already been used");
    assert_int_equal(counter(f, "replays"), 1);
    free(p);
    free(tok);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_resource_dpop_token_as_bearer(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    char *tok = dpop_token(f, rsa, key, "okta.users.read");
    char *p = good_proof(f, key, "GET", "/api/v1/users", NULL, tok);
    scheme_call(f, "Bearer", tok, p, "GET", "/api/v1/users"); /* even with a good proof */
    expect_refused(f, "invalid_token", "bound to a DPoP key: send it with the DPoP scheme");
    assert_int_equal(counter(f, "refused.bearer_scheme"), 1);
    free(p);
    free(tok);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_resource_dpop_missing_proof(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    char *tok = dpop_token(f, rsa, key, "okta.users.read");
    scheme_call(f, "DPoP", tok, NULL, "GET", "/api/v1/users");
    expect_refused(f, "invalid_dpop_proof", DPOP_MISSING);
    /* an unknown token with the DPoP scheme */
    char *p = good_proof(f, key, "GET", "/api/v1/users", NULL, "not-a-token");
    scheme_call(f, "DPoP", "not-a-token", p, "GET", "/api/v1/users");
    expect_refused(f, "invalid_token", "not valid");
    free(p);
    free(tok);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_resource_dpop_rs_nonce(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    char *tok = dpop_token(f, rsa, key, "okta.users.read");
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/okta/config", NULL, NULL), 200);
    assert_true(json_is_false(json_object_get(f->json, "dpopResourceNonce")));
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", "{\"dpopResourceNonce\": true}", NULL), 200);
    assert_true(json_is_true(json_object_get(f->json, "dpopResourceNonce")));
    json_int_t challenges = counter(f, "nonce_challenges");
    char *p = good_proof(f, key, "GET", "/api/v1/users", NULL, tok);
    scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users");
    expect_refused(f, "use_dpop_nonce", "Resource server requires nonce in DPoP proof");
    assert_non_null(fx_header(f, "dpop-nonce"));
    char *rs = strdup(fx_header(f, "dpop-nonce"));
    free(p);
    assert_int_equal(counter(f, "nonce_challenges"), challenges + 1);
    p = good_proof(f, key, "GET", "/api/v1/users", rs, tok);
    if (scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users") != 200)
        fail_msg("GET: %ld %s", f->status, f->body);
    free(p);
    free(rs);
    free(tok);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_dpop_nonce_rotation(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    char *tok = dpop_token(f, rsa, key, "okta.users.read");
    char *old = as_nonce(f, rsa, key);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", "{\"dpopResourceNonce\": true}", NULL), 200);
    char *p = good_proof(f, key, "GET", "/api/v1/users", NULL, tok);
    scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users");
    char *old_rs = strdup(fx_header(f, "dpop-nonce"));
    free(p);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/dpop/nonce", NULL, NULL), 200);
    assert_true(json_is_true(json_object_get(f->json, "rotated")));
    /* the token endpoint: the old nonce is challenged, the new one given */
    p = good_proof(f, key, "POST", TOKEN_PATH, old, NULL);
    assert_int_equal(dpop_token_call(f, rsa, "okta.users.read", p), 400);
    assert_string_equal(jstr(f->json, "error"), "use_dpop_nonce");
    assert_string_not_equal(fx_header(f, "dpop-nonce"), old);
    char *fresh = strdup(fx_header(f, "dpop-nonce"));
    free(p);
    p = good_proof(f, key, "POST", TOKEN_PATH, fresh, NULL);
    assert_int_equal(dpop_token_call(f, rsa, "okta.users.read", p), 200);
    free(p);
    /* the resource server likewise */
    p = good_proof(f, key, "GET", "/api/v1/users", old_rs, tok);
    scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users");
    expect_refused(f, "use_dpop_nonce", "Resource server requires nonce");
    assert_string_not_equal(fx_header(f, "dpop-nonce"), old_rs);
    assert_string_not_equal(fx_header(f, "dpop-nonce"), fresh);
    free(p);
    free(fresh);
    free(old_rs);
    free(old);
    free(tok);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_dpop_unbound_token_as_dpop(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    dpop_required(f, FULL_CLIENT, false);
    char *tok = get_token(f, rsa, "sandbox-rsa-1", FULL_CLIENT, "okta.users.read");
    char *p = good_proof(f, key, "GET", "/api/v1/users", NULL, tok);
    scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users");
    expect_refused(f, "invalid_token", "not bound to a DPoP key");
    free(p);
    free(tok);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_dpop_not_required(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    dpop_required(f, FULL_CLIENT, false);
    assert_int_equal(fx_raw(f, "GET", "/api/v1/apps?limit=50", NULL, (const char *[]){SSWS, NULL}), 200);
    /* an unsolicited proof (even one without the nonce) is ignored: a Bearer token */
    char *p = good_proof(f, key, "POST", TOKEN_PATH, NULL, NULL);
    if (dpop_token_call(f, rsa, "okta.users.read", p) != 200)
        fail_msg("token: %ld %s", f->status, f->body);
    assert_string_equal(jstr(f->json, "token_type"), "Bearer");
    char *tok = strdup(jstr(f->json, "access_token"));
    assert_int_equal(bearer_call(f, tok, "GET", "/api/v1/users?limit=1"), 200);
    assert_int_equal(counter(f, "proofs_accepted"), 0);
    /* no proof: Bearer as well */
    assert_int_equal(dpop_token_call(f, rsa, "okta.users.read", NULL), 200);
    assert_string_equal(jstr(f->json, "token_type"), "Bearer");
    /* switched back on: a proof is needed again */
    dpop_required(f, FULL_CLIENT, true);
    assert_int_equal(dpop_token_call(f, rsa, "okta.users.read", NULL), 400);
    assert_string_equal(jstr(f->json, "error_description"), DPOP_MISSING);
    free(p);
    free(tok);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

static void test_dpop_admin_bad_input(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/apps/0oaunknownclient0000/dpop", "{\"required\": false}", NULL),
                     404);
    assert_non_null(jstr(f->json, "error"));
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/apps/" FULL_CLIENT "/dpop", "{\"required\": \"no\"}", NULL),
                     400);
    assert_non_null(strstr(jstr(f->json, "error") ?: "", "required"));
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/apps/" FULL_CLIENT "/dpop", "{}", NULL), 400);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/apps/" FULL_CLIENT "/dpop", "[1", NULL), 400);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", "{\"dpopResourceNonce\": 1}", NULL), 400);
    /* nothing changed: the app still requires DPoP, the resource nonce is off */
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/okta/config", NULL, NULL), 200);
    assert_true(json_is_false(json_object_get(f->json, "dpopResourceNonce")));
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/state", NULL, NULL), 200);
    size_t i;
    json_t *a;
    int seen = 0;
    json_array_foreach (json_object_get(json_object_get(f->json, "okta"), "apps"), i, a) {
        if (strcmp(jstr(a, "credentials.oauthClient.client_id") ?: "", FULL_CLIENT) == 0 ||
            strcmp(jstr(a, "credentials.oauthClient.client_id") ?: "", RO_CLIENT) == 0) {
            assert_true(json_is_true(json_object_get(json_object_get(json_object_get(a, "settings"), "oauthClient"),
                                                     "dpop_bound_access_tokens")));
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    fx_stop(f);
}

static void test_dpop_counters(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/okta/dpop", NULL, NULL), 200);
    assert_int_equal(json_integer_value(json_object_get(f->json, "proofs_accepted")), 0);
    assert_int_equal(json_object_size(json_object_get(f->json, "refused")), 0);
    dpop_token_call(f, rsa, "okta.users.read", NULL);       /* refused: missing */
    char *tok = dpop_token(f, rsa, key, "okta.users.read"); /* 1 challenge, 1 accepted */
    char *p = good_proof(f, key, "GET", "/api/v1/users", NULL, tok);
    assert_int_equal(scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users"), 200); /* accepted */
    scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users");                        /* replay */
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/okta/dpop", NULL, NULL), 200);
    assert_int_equal(json_integer_value(json_object_get(f->json, "proofs_accepted")), 2);
    assert_int_equal(json_integer_value(json_object_get(f->json, "nonce_challenges")), 1);
    assert_int_equal(json_integer_value(json_object_get(f->json, "replays")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f->json, "refused"), "missing")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f->json, "refused"), "replay")), 1);
    assert_int_equal(json_object_size(json_object_get(f->json, "refused")), 2);
    free(p);
    free(tok);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

/* A DPoP token counts against its client's share of a bucket, as a Bearer
 * one does: identify() knows the DPoP scheme. */
static void test_dpop_token_share(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *key = dpop_key_new();
    char *tok = dpop_token(f, rsa, key, "okta.users.read");
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", "{\"rateLimit\": 4, \"tokenShare\": 50}", NULL), 200);
    for (int i = 0; i < 3; i++) {
        char *p = good_proof(f, key, "GET", "/api/v1/users", NULL, tok);
        scheme_call(f, "DPoP", tok, p, "GET", "/api/v1/users");
        free(p);
        if (i < 2 && f->status != 200)
            fail_msg("call %d: %ld %s", i, f->status, f->body);
    }
    assert_okta_error(f, 429, "E0000047");                           /* the app's half of 4 is spent */
    assert_int_equal(ok_call(f, "GET", "/api/v1/users", NULL), 200); /* the org's is not */
    free(tok);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
    fx_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_and_scopes),
        cmocka_unit_test(test_token_refusals),
        cmocka_unit_test(test_token_dpop_missing),
        cmocka_unit_test(test_token_dpop_nonce_then_token),
        cmocka_unit_test(test_token_dpop_bad_signature),
        cmocka_unit_test(test_token_dpop_wrong_htm),
        cmocka_unit_test(test_token_dpop_wrong_htu),
        cmocka_unit_test(test_token_dpop_stale_iat),
        cmocka_unit_test(test_token_dpop_future_iat),
        cmocka_unit_test(test_token_dpop_private_jwk),
        cmocka_unit_test(test_token_dpop_wrong_typ),
        cmocka_unit_test(test_token_dpop_replayed_jti),
        cmocka_unit_test(test_token_dpop_unusable_jwk),
        cmocka_unit_test(test_token_dpop_alg_and_two_headers),
        cmocka_unit_test(test_resource_dpop_success),
        cmocka_unit_test(test_resource_dpop_wrong_ath),
        cmocka_unit_test(test_resource_dpop_other_key),
        cmocka_unit_test(test_resource_dpop_replayed_jti),
        cmocka_unit_test(test_resource_dpop_token_as_bearer),
        cmocka_unit_test(test_resource_dpop_missing_proof),
        cmocka_unit_test(test_resource_dpop_rs_nonce),
        cmocka_unit_test(test_dpop_nonce_rotation),
        cmocka_unit_test(test_dpop_unbound_token_as_dpop),
        cmocka_unit_test(test_dpop_not_required),
        cmocka_unit_test(test_dpop_admin_bad_input),
        cmocka_unit_test(test_dpop_counters),
        cmocka_unit_test(test_dpop_token_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_sandbox_okta_oauth.c — OAuth 2.0 service apps in the sandbox's Okta:
 * client credentials with a private_key_jwt assertion at /oauth2/v1/token,
 * and the scoped bearer tokens it issues.
 *
 * Assertions are signed here with the private keys in tests/data/
 * (sandbox_service_rsa.pem for RS256, sandbox_service_ec.pem for ES256)
 * whose public JWKs the default seed registers on its two service apps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "test_sandbox_common.h"

#define FULL_CLIENT "0oa1idflowsvc0000001"
#define RO_CLIENT "0oa1idflowro00000001"
#define ASSERTION_TYPE "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"

static char *b64url(const unsigned char *p, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n * 4 / 3 + 4), *w = out;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *w++ = abc[v >> 18 & 63], *w++ = abc[v >> 12 & 63], *w++ = abc[v >> 6 & 63], *w++ = abc[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        *w++ = abc[v >> 18 & 63], *w++ = abc[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        *w++ = abc[v >> 18 & 63], *w++ = abc[v >> 12 & 63], *w++ = abc[v >> 6 & 63];
    }
    *w = '\0';
    return out;
}

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

/* A signed JWT over header/claims JSON with key (RS256 or ES256). */
static char *sign_jwt(EVP_PKEY *key, const char *alg, const char *kid, json_t *claims)
{
    json_t *hdr = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
    if (kid)
        json_object_set_new(hdr, "kid", json_string(kid));
    char *h = json_dumps(hdr, JSON_COMPACT), *c = json_dumps(claims, JSON_COMPACT);
    char *hb = b64url((unsigned char *)h, strlen(h)), *cb = b64url((unsigned char *)c, strlen(c));
    char *input = NULL;
    assert_true(asprintf(&input, "%s.%s", hb, cb) > 0);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t slen = 0;
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestSign(md, NULL, &slen, (unsigned char *)input, strlen(input)), 1);
    unsigned char *sig = malloc(slen);
    assert_int_equal(EVP_DigestSign(md, sig, &slen, (unsigned char *)input, strlen(input)), 1);
    unsigned char raw[64];
    if (alg[0] == 'E') { /* DER -> r||s */
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)slen);
        assert_non_null(es);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        memcpy(sig, raw, 64);
        slen = 64;
    }
    char *sb = b64url(sig, slen), *jwt = NULL;
    assert_true(asprintf(&jwt, "%s.%s", input, sb) > 0);
    free(sb);
    free(sig);
    EVP_MD_CTX_free(md);
    free(input);
    free(hb);
    free(cb);
    free(h);
    free(c);
    json_decref(hdr);
    return jwt;
}

static json_t *claims_for(struct fx *f, const char *client, int64_t exp_in_s)
{
    char aud[128], jti[40];
    static int n;
    snprintf(aud, sizeof aud, "%s/oauth2/v1/token", f->base);
    snprintf(jti, sizeof jti, "jti-%d-%ld", ++n, (long)time_now_ms());
    int64_t now = time_now_ms() / 1000;
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", client, "sub", client, "aud", aud, "iat",
                     (json_int_t)now, "exp", (json_int_t)(now + exp_in_s), "jti", jti);
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

static char *get_token(struct fx *f, EVP_PKEY *key, const char *alg, const char *kid, const char *client,
                       const char *scope)
{
    json_t *cl = claims_for(f, client, 300);
    char *jwt = sign_jwt(key, alg, kid, cl);
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
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *ec = load_key("sandbox_service_ec.pem");
    char path[256];

    /* RS256, every scope: read and manage */
    char *tok = get_token(f, rsa, "RS256", "sandbox-rsa-1", FULL_CLIENT,
                          "okta.users.read%20okta.users.manage%20okta.logs.read");
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
    char *ro = get_token(f, ec, "ES256", "sandbox-ec-1", RO_CLIENT, "okta.users.read%20okta.logs.read");
    assert_int_equal(bearer_call(f, ro, "GET", "/api/v1/users/me"), 404); /* `me` is an API-token user */
    assert_int_equal(bearer_call(f, ro, "GET", "/api/v1/logs?limit=1"), 200);
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/unsuspend", id);
    assert_int_equal(bearer_call(f, ro, "POST", path), 403);
    assert_okta_error(f, 403, "E0000006");
    assert_non_null(strstr(fx_header(f, "www-authenticate"), "okta.users.manage"));
    /* manage implies read */
    char *mg = get_token(f, rsa, "RS256", NULL, FULL_CLIENT, "okta.groups.manage");
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
    EVP_PKEY *rsa = load_key("sandbox_service_rsa.pem"), *ec = load_key("sandbox_service_ec.pem");
    EVP_PKEY *other = EVP_RSA_gen(2048);
    assert_non_null(other);
    json_t *cl;
    char *jwt;

    /* signed by a key the app does not have */
    cl = claims_for(f, FULL_CLIENT, 300);
    jwt = sign_jwt(other, "RS256", "sandbox-rsa-1", cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    expect_oauth_error(f, 401, "invalid_client");
    assert_non_null(strstr(jstr(f->json, "error_description"), "signature"));
    free(jwt);
    json_decref(cl);
    /* an EC signature presented as RS256 */
    cl = claims_for(f, FULL_CLIENT, 300);
    jwt = sign_jwt(ec, "ES256", "sandbox-ec-1", cl);
    char *dot = strchr(jwt, '.');
    char *bad_hdr = NULL, *h = b64url((const unsigned char *)"{\"alg\":\"RS256\",\"kid\":\"sandbox-ec-1\"}", 36);
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
    jwt = sign_jwt(rsa, "RS256", NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    assert_non_null(strstr(jstr(f->json, "error_description"), "audience"));
    free(jwt);
    json_decref(cl);
    cl = claims_for(f, FULL_CLIENT, -600);
    jwt = sign_jwt(rsa, "RS256", NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    assert_non_null(strstr(jstr(f->json, "error_description"), "expired"));
    free(jwt);
    json_decref(cl);
    cl = claims_for(f, FULL_CLIENT, 7200);
    jwt = sign_jwt(rsa, "RS256", NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    free(jwt);
    json_decref(cl);
    cl = claims_for(f, FULL_CLIENT, 300);
    json_object_set_new(cl, "sub", json_string("someone-else"));
    jwt = sign_jwt(rsa, "RS256", NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    free(jwt);
    json_decref(cl);
    cl = claims_for(f, "0oaunknownclient0000", 300);
    jwt = sign_jwt(rsa, "RS256", NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    expect_oauth_error(f, 401, "invalid_client");
    free(jwt);
    json_decref(cl);

    /* a good assertion works once; replaying its jti is refused */
    cl = claims_for(f, FULL_CLIENT, 300);
    jwt = sign_jwt(rsa, "RS256", "sandbox-rsa-1", cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 200);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.read", jwt), 401);
    assert_non_null(strstr(jstr(f->json, "error_description"), "already been used"));
    free(jwt);
    json_decref(cl);

    /* scopes the app was not granted; no scope; wrong grant; no assertion; not a JWT */
    cl = claims_for(f, RO_CLIENT, 300);
    jwt = sign_jwt(rsa, "RS256", NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "okta.users.manage", jwt), 400);
    expect_oauth_error(f, 400, "invalid_scope");
    free(jwt);
    json_decref(cl);
    cl = claims_for(f, FULL_CLIENT, 300);
    jwt = sign_jwt(rsa, "RS256", NULL, cl);
    assert_int_equal(token_call(f, "client_credentials", "", jwt), 400);
    expect_oauth_error(f, 400, "invalid_scope");
    free(jwt);
    json_decref(cl);
    assert_int_equal(token_call(f, "password", "okta.users.read", "x.y.z"), 400);
    expect_oauth_error(f, 400, "unsupported_grant_type");
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    assert_int_equal(fx_raw(f, "POST", "/oauth2/v1/token", "scope=okta.users.read", form), 400);
    expect_oauth_error(f, 400, "invalid_request");
    assert_int_equal(fx_raw(f, "POST", "/oauth2/v1/token", "grant_type=client_credentials&scope=okta.users.read",
                            form),
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_and_scopes),
        cmocka_unit_test(test_token_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

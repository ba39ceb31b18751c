/* test_dpop.c — JWS signing and DPoP proofs (crypto/jws.h, crypto/dpop.h,
 * jwk_public / jwk_thumbprint in crypto/jwk.h): RFC 9449's and RFC 7638's
 * own example values, a proof's header and claims checked against RFC 9449
 * §4.2 and verified with the key it carries, htu without query and
 * fragment, and jtis that do not repeat across many proofs and threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "crypto/dpop.h"
#include "crypto/jwk.h"
#include "crypto/jws.h"

#define JTI_THREADS 4
#define JTI_PER_THREAD 5000

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* RFC 9449 §7.1: the ath of its example token; §6.1: the jkt of the §4.2
 * example key (computed by RFC 7638's rule). */
static void rfc_examples(void **state)
{
    (void)state;
    char *ath = dpop_ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"), jkt[JWK_THUMBPRINT_SIZE];
    assert_string_equal(ath, "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
    free(ath);
    json_t *jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "x", "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
                            "y", "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA", "crv", "P-256");
    assert_int_equal(jwk_thumbprint(jwk, jkt), 0);
    assert_string_equal(jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
    /* members outside the required ones do not change it */
    json_object_set_new(jwk, "kid", json_string("k1"));
    json_object_set_new(jwk, "use", json_string("sig"));
    assert_int_equal(jwk_thumbprint(jwk, jkt), 0);
    assert_string_equal(jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
    json_object_del(jwk, "y");
    assert_int_equal(jwk_thumbprint(jwk, jkt), -1);
    json_decref(jwk);
    jwk = json_pack("{s:s}", "kty", "oct");
    assert_int_equal(jwk_thumbprint(jwk, jkt), -1);
    json_decref(jwk);
}

static void htu_rules(void **state)
{
    (void)state;
    char out[DPOP_MAX_HTU];
    assert_int_equal(dpop_htu("https://acme.okta.com/api/v1/users?limit=1#x", out, sizeof out), 0);
    assert_string_equal(out, "https://acme.okta.com/api/v1/users");
    assert_int_equal(dpop_htu("http://127.0.0.1:8080/oauth2/v1/token", out, sizeof out), 0);
    assert_string_equal(out, "http://127.0.0.1:8080/oauth2/v1/token");
    assert_int_equal(dpop_htu("https://acme.okta.com#frag", out, sizeof out), 0);
    assert_string_equal(out, "https://acme.okta.com");
    assert_int_equal(dpop_htu("/api/v1/users", out, sizeof out), IDF_EINVAL);
    assert_int_equal(dpop_htu("ftp://acme.okta.com/", out, sizeof out), IDF_EINVAL);
    assert_int_equal(dpop_htu("https:///path", out, sizeof out), IDF_EINVAL);
    assert_int_equal(dpop_htu("https://acme.okta.com/abc", out, 10), IDF_EINVAL);
}

/* A proof as RFC 9449 §4.2 wants it, verified with the jwk it carries; the
 * private half never in it. */
static void proof_shape(void **state)
{
    (void)state;
    EVP_PKEY *key = dpop_key_new();
    assert_non_null(key);
    assert_string_equal(jws_alg_of(key), "ES256");
    int64_t now = time_now_ms() / 1000;
    char *p = dpop_proof(key, "GET", "https://acme.okta.com/api/v1/users/00u1?x=1", "n-1", "tok123");
    assert_non_null(p);
    struct jws_parts jp;
    assert_int_equal(jws_split(p, &jp), 0);
    assert_string_equal(jstr(jp.header, "typ"), "dpop+jwt");
    assert_string_equal(jstr(jp.header, "alg"), "ES256");
    const json_t *jwk = json_object_get(jp.header, "jwk");
    assert_string_equal(jstr(jwk, "kty"), "EC");
    assert_string_equal(jstr(jwk, "crv"), "P-256");
    assert_null(json_object_get(jwk, "d"));
    assert_string_equal(jstr(jp.claims, "htm"), "GET");
    assert_string_equal(jstr(jp.claims, "htu"), "https://acme.okta.com/api/v1/users/00u1");
    assert_string_equal(jstr(jp.claims, "nonce"), "n-1");
    char *ath = dpop_ath("tok123");
    assert_string_equal(jstr(jp.claims, "ath"), ath);
    free(ath);
    json_int_t iat = json_integer_value(json_object_get(jp.claims, "iat"));
    assert_true(iat >= now && iat <= now + 2);
    assert_int_equal(strlen(jstr(jp.claims, "jti")), DPOP_JTI_SIZE - 1);
    EVP_PKEY *pub = jwk_to_pkey(jwk, false);
    assert_non_null(pub);
    assert_true(jws_verify(pub, "ES256", (const unsigned char *)p, jp.signed_len, jp.sig, jp.sig_len));
    /* one changed byte of the signed part fails */
    p[5] ^= 1;
    assert_false(jws_verify(pub, "ES256", (const unsigned char *)p, jp.signed_len, jp.sig, jp.sig_len));
    /* another alg with the same key fails */
    p[5] ^= 1;
    assert_false(jws_verify(pub, "RS256", (const unsigned char *)p, jp.signed_len, jp.sig, jp.sig_len));
    assert_false(jws_verify(pub, "ES384", (const unsigned char *)p, jp.signed_len, jp.sig, jp.sig_len));
    /* the thumbprint of the carried jwk is the key's own */
    char a[JWK_THUMBPRINT_SIZE], b[JWK_THUMBPRINT_SIZE];
    json_t *mine = jwk_public(key);
    assert_int_equal(jwk_thumbprint(jwk, a), 0);
    assert_int_equal(jwk_thumbprint(mine, b), 0);
    assert_string_equal(a, b);
    json_decref(mine);
    EVP_PKEY_free(pub);
    jws_parts_free(&jp);
    free(p);

    /* no nonce, no token: neither claim */
    p = dpop_proof(key, "POST", "https://acme.okta.com/oauth2/v1/token", NULL, NULL);
    assert_int_equal(jws_split(p, &jp), 0);
    assert_null(json_object_get(jp.claims, "nonce"));
    assert_null(json_object_get(jp.claims, "ath"));
    jws_parts_free(&jp);
    free(p);
    assert_null(dpop_proof(key, "GET", "/relative", NULL, NULL));
    EVP_PKEY_free(key);
}

/* An RSA key signs RS256 and its public JWK reads back as the same key. */
static void rsa_sign_verify(void **state)
{
    (void)state;
    EVP_PKEY *key = EVP_RSA_gen(2048);
    assert_non_null(key);
    json_t *hdr = json_pack("{s:s}", "typ", "JWT"), *claims = json_pack("{s:s}", "sub", "x");
    char *jwt = jws_sign(key, hdr, claims);
    assert_string_equal(jstr(hdr, "alg"), "RS256");
    struct jws_parts jp;
    assert_int_equal(jws_split(jwt, &jp), 0);
    json_t *pubj = jwk_public(key);
    assert_null(json_object_get(pubj, "d"));
    EVP_PKEY *pub = jwk_to_pkey(pubj, false);
    assert_true(jws_verify(pub, "RS256", (const unsigned char *)jwt, jp.signed_len, jp.sig, jp.sig_len));
    assert_false(jws_verify(pub, "ES256", (const unsigned char *)jwt, jp.signed_len, jp.sig, jp.sig_len));
    jws_parts_free(&jp);
    assert_int_equal(jws_split("a.b", &jp), -1);
    assert_int_equal(jws_split("e30.e30.", &jp), -1);
    assert_int_equal(jws_split("e30.WzFd.AA", &jp), -1); /* a payload that is not an object */
    EVP_PKEY_free(pub);
    json_decref(pubj);
    free(jwt);
    json_decref(hdr);
    json_decref(claims);
    EVP_PKEY_free(key);
}

struct jti_batch {
    char (*jti)[DPOP_JTI_SIZE];
};

static void *make_jtis(void *arg)
{
    struct jti_batch *b = arg;
    for (int i = 0; i < JTI_PER_THREAD; i++)
        dpop_jti(b->jti[i]);
    return NULL;
}

static int cmp_jti(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* jtis from several threads at once: all distinct. */
static void jti_never_repeats(void **state)
{
    (void)state;
    char(*all)[DPOP_JTI_SIZE] = calloc(JTI_THREADS * JTI_PER_THREAD, DPOP_JTI_SIZE);
    pthread_t t[JTI_THREADS];
    struct jti_batch b[JTI_THREADS];
    assert_non_null(all);
    for (int i = 0; i < JTI_THREADS; i++) {
        b[i].jti = all + i * JTI_PER_THREAD;
        assert_int_equal(pthread_create(&t[i], NULL, make_jtis, &b[i]), 0);
    }
    for (int i = 0; i < JTI_THREADS; i++)
        pthread_join(t[i], NULL);
    qsort(all, JTI_THREADS * JTI_PER_THREAD, DPOP_JTI_SIZE, cmp_jti);
    for (int i = 1; i < JTI_THREADS * JTI_PER_THREAD; i++)
        assert_true(strcmp(all[i - 1], all[i]) != 0);
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_examples),    cmocka_unit_test(htu_rules),         cmocka_unit_test(proof_shape),
        cmocka_unit_test(rsa_sign_verify), cmocka_unit_test(jti_never_repeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_jwk.c — JWK into EVP_PKEY (crypto/jwk.h): RSA and EC P-256/384/521
 * keys generated here, exported as JWKs, read back private and public (the
 * same key, and a signature by the private one verifies with the public
 * one); members missing, a wrong kty or curve, coordinates of the wrong
 * size and bad base64url give NULL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/jwk.h"

/* base64url without padding (libsodium's encoder), a new string. */
static char *b64url(const unsigned char *p, size_t n)
{
    size_t len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(len);

    assert_non_null(out);
    sodium_bin2base64(out, len, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

/* Sets member k of jwk to the big number param of pkey (padded to pad bytes when pad > 0). */
static void put_bn(json_t *jwk, const char *k, const EVP_PKEY *pkey, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    unsigned char raw[1024];
    int n;
    char *s;

    assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
    n = pad > 0 ? BN_bn2binpad(bn, raw, pad) : BN_bn2bin(bn, raw);
    assert_true(n > 0);
    s = b64url(raw, (size_t)n);
    json_object_set_new(jwk, k, json_string(s));
    free(s);
    BN_clear_free(bn);
}

static json_t *rsa_jwk(EVP_PKEY *pkey)
{
    json_t *jwk = json_pack("{s:s}", "kty", "RSA");

    put_bn(jwk, "n", pkey, OSSL_PKEY_PARAM_RSA_N, 0);
    put_bn(jwk, "e", pkey, OSSL_PKEY_PARAM_RSA_E, 0);
    put_bn(jwk, "d", pkey, OSSL_PKEY_PARAM_RSA_D, 0);
    put_bn(jwk, "p", pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, 0);
    put_bn(jwk, "q", pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, 0);
    put_bn(jwk, "dp", pkey, OSSL_PKEY_PARAM_RSA_EXPONENT1, 0);
    put_bn(jwk, "dq", pkey, OSSL_PKEY_PARAM_RSA_EXPONENT2, 0);
    put_bn(jwk, "qi", pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0);
    return jwk;
}

static json_t *ec_jwk(EVP_PKEY *pkey, const char *crv, int coord)
{
    json_t *jwk = json_pack("{s:s, s:s}", "kty", "EC", "crv", crv);

    put_bn(jwk, "x", pkey, OSSL_PKEY_PARAM_EC_PUB_X, coord);
    put_bn(jwk, "y", pkey, OSSL_PKEY_PARAM_EC_PUB_Y, coord);
    put_bn(jwk, "d", pkey, OSSL_PKEY_PARAM_PRIV_KEY, coord);
    return jwk;
}

/* A signature by priv verifies with pub. */
static void sign_verify(EVP_PKEY *priv, EVP_PKEY *pub)
{
    static const unsigned char msg[] = "header.claims";
    unsigned char sig[1024];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *m = EVP_MD_CTX_new();

    assert_int_equal(EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, priv), 1);
    assert_int_equal(EVP_DigestSign(m, sig, &siglen, msg, sizeof msg), 1);
    EVP_MD_CTX_free(m);
    m = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, pub), 1);
    assert_int_equal(EVP_DigestVerify(m, sig, siglen, msg, sizeof msg), 1);
    sig[siglen / 2] ^= 1;
    EVP_MD_CTX_free(m);
    m = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, pub), 1);
    assert_int_not_equal(EVP_DigestVerify(m, sig, siglen, msg, sizeof msg), 1);
    EVP_MD_CTX_free(m);
}

/* The JWK read back private and public is the generated key. */
static void round_trip(EVP_PKEY *orig, json_t *jwk)
{
    EVP_PKEY *priv = jwk_to_pkey(jwk, true), *pub = jwk_to_pkey(jwk, false);

    assert_non_null(priv);
    assert_non_null(pub);
    assert_int_equal(EVP_PKEY_eq(orig, priv), 1);
    assert_int_equal(EVP_PKEY_eq(orig, pub), 1); /* compares the public halves */
    sign_verify(priv, pub);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(pub);
}

static void rsa_private_and_public(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    json_t *jwk, *pub;
    EVP_PKEY *p;

    assert_non_null(k);
    jwk = rsa_jwk(k);
    round_trip(k, jwk);
    /* the CRT values are optional in a private JWK */
    json_object_del(jwk, "p");
    json_object_del(jwk, "q");
    json_object_del(jwk, "dp");
    json_object_del(jwk, "dq");
    json_object_del(jwk, "qi");
    p = jwk_to_pkey(jwk, true);
    assert_non_null(p);
    EVP_PKEY_free(p);
    /* a public JWK (n, e) gives a public key, not a private one */
    pub = json_pack("{s:s, s:O, s:O}", "kty", "RSA", "n", json_object_get(jwk, "n"), "e", json_object_get(jwk, "e"));
    p = jwk_to_pkey(pub, false);
    assert_non_null(p);
    assert_int_equal(EVP_PKEY_eq(k, p), 1);
    EVP_PKEY_free(p);
    assert_null(jwk_to_pkey(pub, true)); /* no d */
    json_decref(pub);
    json_decref(jwk);
    EVP_PKEY_free(k);
}

static void ec_curves(void **state)
{
    static const struct {
        const char *group, *crv;
        int coord;
    } c[] = {{"P-256", "P-256", 32}, {"P-384", "P-384", 48}, {"P-521", "P-521", 66}};
    (void)state;

    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", c[i].group);
        json_t *jwk;

        assert_non_null(k);
        jwk = ec_jwk(k, c[i].crv, c[i].coord);
        round_trip(k, jwk);
        json_decref(jwk);
        EVP_PKEY_free(k);
    }
}

static void missing_members(void **state)
{
    (void)state;
    EVP_PKEY *r = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *e = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    const char *rsa_required[] = {"n", "e", "d"}, *ec_required[] = {"x", "y", "d", "crv"};

    for (size_t i = 0; i < 3; i++) {
        json_t *jwk = rsa_jwk(r);
        json_object_del(jwk, rsa_required[i]);
        assert_null(jwk_to_pkey(jwk, true));
        if (i < 2)
            assert_null(jwk_to_pkey(jwk, false));
        json_decref(jwk);
    }
    for (size_t i = 0; i < 4; i++) {
        json_t *jwk = ec_jwk(e, "P-256", 32);
        json_object_del(jwk, ec_required[i]);
        assert_null(jwk_to_pkey(jwk, true));
        if (i != 2)
            assert_null(jwk_to_pkey(jwk, false));
        json_decref(jwk);
    }
    assert_null(jwk_to_pkey(NULL, false));
    EVP_PKEY_free(r);
    EVP_PKEY_free(e);
}

static void wrong_kty_or_curve(void **state)
{
    (void)state;
    EVP_PKEY *e = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    json_t *jwk = ec_jwk(e, "P-256", 32), *arr = json_array();

    json_object_set_new(jwk, "kty", json_string("OKP"));
    assert_null(jwk_to_pkey(jwk, true));
    json_object_set_new(jwk, "kty", json_string("oct"));
    assert_null(jwk_to_pkey(jwk, false));
    json_object_set_new(jwk, "kty", json_string("RSA")); /* EC members under an RSA kty */
    assert_null(jwk_to_pkey(jwk, true));
    json_object_set_new(jwk, "kty", json_string("EC"));
    json_object_set_new(jwk, "crv", json_string("P-384")); /* P-256 coordinates under another curve */
    assert_null(jwk_to_pkey(jwk, true));
    json_object_set_new(jwk, "crv", json_string("secp256k1"));
    assert_null(jwk_to_pkey(jwk, false));
    json_object_set_new(jwk, "crv", json_string("P-256"));
    json_object_set_new(jwk, "kty", json_integer(1));
    assert_null(jwk_to_pkey(jwk, false));
    assert_null(jwk_to_pkey(arr, false));
    json_decref(arr);
    json_decref(jwk);
    EVP_PKEY_free(e);
}

static void bad_base64url(void **state)
{
    (void)state;
    EVP_PKEY *r = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *e = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    json_t *jwk = rsa_jwk(r);
    char *x;
    size_t n = 0;
    unsigned char *raw;

    json_object_set_new(jwk, "n", json_string("not base64url!"));
    assert_null(jwk_to_pkey(jwk, true));
    assert_null(jwk_to_pkey(jwk, false));
    json_decref(jwk);
    jwk = ec_jwk(e, "P-256", 32);
    x = strdup(json_string_value(json_object_get(jwk, "x")));
    x[5] = '*';
    json_object_set_new(jwk, "x", json_string(x));
    assert_null(jwk_to_pkey(jwk, false));
    free(x);
    json_decref(jwk);
    /* the decoder: padding optional, url and standard alphabets, nothing else */
    raw = jwk_b64url_decode("aGk", 3, &n);
    assert_non_null(raw);
    assert_int_equal(n, 2);
    assert_memory_equal(raw, "hi", 2);
    free(raw);
    raw = jwk_b64url_decode("aGk=", 4, &n);
    assert_non_null(raw);
    assert_int_equal(n, 2);
    free(raw);
    raw = jwk_b64url_decode("-_+/", 4, &n);
    assert_non_null(raw);
    assert_int_equal(n, 3);
    assert_memory_equal(raw, "\xfb\xff\xbf", 3);
    free(raw);
    assert_null(jwk_b64url_decode("aG=k", 4, &n));
    assert_null(jwk_b64url_decode("aG k", 4, &n));
    assert_null(jwk_b64url_decode("aGkab", 5, &n)); /* a lone sixth of a byte */
    EVP_PKEY_free(r);
    EVP_PKEY_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rsa_private_and_public), cmocka_unit_test(ec_curves),     cmocka_unit_test(missing_members),
        cmocka_unit_test(wrong_kty_or_curve),     cmocka_unit_test(bad_base64url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* jwk.c — JSON Web Keys into OpenSSL EVP_PKEYs (jwk.h): RSA and EC on the
 * three NIST curves JWS uses (P-256, P-384, P-521), public or private.
 *
 * Leaves to the callers where the JWK comes from, which algorithm it signs
 * or verifies with, and key ids. Built with OpenSSL 3's EVP_PKEY_fromdata;
 * the private numbers pass through BIGNUMs cleared when freed and byte
 * buffers wiped before they are freed. Pure; any thread. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/jwk.h"
#include "crypto/jws.h"

#define JWK_RSA_MEMBERS 8   /* n, e, d and the five CRT values */
#define JWK_EC_MAX_COORD 66 /* bytes of a P-521 coordinate */

static int b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-' || ch == '+')
        return 62;
    if (ch == '_' || ch == '/')
        return 63;
    return -1;
}

unsigned char *jwk_b64url_decode(const char *s, size_t len, size_t *out_len)
{
    unsigned char *out;
    unsigned acc = 0;
    size_t o = 0;
    int bits = 0;

    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1) /* six bits cannot end a byte string */
        return NULL;
    out = malloc(len * 3 / 4 + 3);
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *out_len = o;
    return out;
}

/* The big number in member k of the JWK; NULL when absent or malformed. */
static BIGNUM *member_bn(const json_t *jwk, const char *k)
{
    const char *s = json_string_value(json_object_get(jwk, k));
    size_t n = 0;
    unsigned char *raw = s ? jwk_b64url_decode(s, strlen(s), &n) : NULL;
    BIGNUM *bn = raw && n > 0 ? BN_bin2bn(raw, (int)n, NULL) : NULL;

    if (raw)
        OPENSSL_cleanse(raw, n);
    free(raw);
    return bn;
}

/* The RSA members into bld: n, e (and d with the optional CRT values when
 * private). False when a required one is missing or malformed. */
static bool rsa_params(const json_t *jwk, bool want_private, OSSL_PARAM_BLD *bld, BIGNUM *bn[JWK_RSA_MEMBERS])
{
    static const char *const m[JWK_RSA_MEMBERS][2] = {
        {"n", OSSL_PKEY_PARAM_RSA_N},          {"e", OSSL_PKEY_PARAM_RSA_E},
        {"d", OSSL_PKEY_PARAM_RSA_D},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
        {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
        {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2}, {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
    };
    int count = want_private ? JWK_RSA_MEMBERS : 2;

    for (int i = 0; i < count; i++) {
        bn[i] = member_bn(jwk, m[i][0]);
        if (!bn[i] && i < 3)
            return false; /* n, e (and d) are required; the CRT values are optional */
        if (bn[i] && !OSSL_PARAM_BLD_push_BN(bld, m[i][1], bn[i]))
            return false;
    }
    return true;
}

/* The EC members into bld: the curve, the point x||y in pub (the caller's:
 * bld refers to it until OSSL_PARAM_BLD_to_param) and d when private.
 * False for another curve or a malformed member. */
static bool ec_params(const json_t *jwk, bool want_private, OSSL_PARAM_BLD *bld,
                      unsigned char pub[1 + 2 * JWK_EC_MAX_COORD], BIGNUM **d)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv")), *group = NULL;
    const char *xs = json_string_value(json_object_get(jwk, "x")), *ys = json_string_value(json_object_get(jwk, "y"));
    unsigned char *x = NULL, *y = NULL;
    size_t want = 0, xl = 0, yl = 0;
    bool ok = false;

    if (crv && strcmp(crv, "P-256") == 0)
        group = "prime256v1", want = 32;
    else if (crv && strcmp(crv, "P-384") == 0)
        group = "secp384r1", want = 48;
    else if (crv && strcmp(crv, "P-521") == 0)
        group = "secp521r1", want = 66;
    if (!group || !xs || !ys || !(x = jwk_b64url_decode(xs, strlen(xs), &xl)) ||
        !(y = jwk_b64url_decode(ys, strlen(ys), &yl)) || xl != want || yl != want)
        goto out;
    if (want_private && !(*d = member_bn(jwk, "d")))
        goto out;
    pub[0] = 0x04; /* uncompressed point */
    memcpy(pub + 1, x, want);
    memcpy(pub + 1 + want, y, want);
    ok = OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
         OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * want) &&
         (!want_private || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, *d));
out:
    free(x);
    free(y);
    return ok;
}

EVP_PKEY *jwk_to_pkey(const json_t *jwk, bool want_private)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn[JWK_RSA_MEMBERS] = {0};
    unsigned char pub[1 + 2 * JWK_EC_MAX_COORD]; /* the EC point, referred to by bld */
    bool ok;

    if (!json_is_object(jwk) || !kty || !(bld = OSSL_PARAM_BLD_new()))
        goto out;
    if (strcmp(kty, "RSA") == 0)
        ok = rsa_params(jwk, want_private, bld, bn);
    else if (strcmp(kty, "EC") == 0)
        ok = ec_params(jwk, want_private, bld, pub, &bn[0]);
    else
        ok = false;
    if (!ok)
        goto out;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, kty, NULL);
    params = OSSL_PARAM_BLD_to_param(bld);
    if (!ctx || !params || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, want_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    for (int i = 0; i < JWK_RSA_MEMBERS; i++)
        BN_clear_free(bn[i]);
    return pkey;
}

/* base64url of bn, left-padded with zeros to pad bytes (0: its own size). */
static char *bn_b64url(const BIGNUM *bn, int pad)
{
    int n = pad > 0 ? pad : BN_num_bytes(bn);
    unsigned char buf[1024];

    if (n <= 0 || n > (int)sizeof buf || BN_bn2binpad(bn, buf, n) < 0)
        return NULL;
    return jws_b64url(buf, (size_t)n);
}

json_t *jwk_public(EVP_PKEY *key)
{
    BIGNUM *a = NULL, *b = NULL;
    char *sa = NULL, *sb = NULL, group[64] = "";
    json_t *out = NULL;

    if (!key)
        return NULL;
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &a) == 1 &&
            EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &b) == 1 && (sa = bn_b64url(a, 0)) &&
            (sb = bn_b64url(b, 0)))
            out = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", sa, "e", sb);
    } else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
        const char *crv = NULL;
        int coord = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) == 1) {
            if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
                crv = "P-256", coord = 32;
            else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
                crv = "P-384", coord = 48;
            else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
                crv = "P-521", coord = JWK_EC_MAX_COORD;
        }
        if (crv && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &a) == 1 &&
            EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &b) == 1 && (sa = bn_b64url(a, coord)) &&
            (sb = bn_b64url(b, coord)))
            out = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", crv, "x", sa, "y", sb);
    }
    BN_free(a);
    BN_free(b);
    free(sa);
    free(sb);
    return out;
}

int jwk_thumbprint(const json_t *jwk, char out[JWK_THUMBPRINT_SIZE])
{
    static const char *const ec[] = {"crv", "kty", "x", "y", NULL}, *const rsa[] = {"e", "kty", "n", NULL};
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *const *members = kty && strcmp(kty, "EC") == 0 ? ec : kty && strcmp(kty, "RSA") == 0 ? rsa : NULL;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    json_t *req;
    char *text = NULL, *b64 = NULL;
    int rc = -1;

    out[0] = '\0';
    if (!members || !(req = json_object()))
        return -1;
    for (const char *const *m = members; *m; m++) {
        const json_t *v = json_object_get(jwk, *m);
        if (!json_is_string(v) || json_object_set_new(req, *m, json_string(json_string_value(v))) != 0)
            goto out;
    }
    /* RFC 7638 §3: no whitespace, members in lexicographic order */
    text = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
    if (text && EVP_Digest(text, strlen(text), digest, &dlen, EVP_sha256(), NULL) == 1 &&
        (b64 = jws_b64url(digest, dlen)) && strlen(b64) < JWK_THUMBPRINT_SIZE) {
        memcpy(out, b64, strlen(b64) + 1);
        rc = 0;
    }
out:
    free(text);
    free(b64);
    json_decref(req);
    return rc;
}

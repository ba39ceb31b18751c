/* jws.c — compact JWS signing, splitting and verification (jws.h).
 *
 * Owns the JOSE side of a signature: the alg a key signs with, the r||s
 * form of ECDSA signatures (OpenSSL speaks DER), base64url encoding. The
 * JWK side (keys from JSON) is crypto/jwk.c's; base64url is libsodium's
 * encoder. Pure; any thread. */
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/jwk.h"
#include "crypto/jws.h"

#define JWS_MAX_COORD 66 /* bytes of a P-521 coordinate */

char *jws_b64url(const unsigned char *p, size_t n)
{
    size_t len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(len);

    if (out)
        sodium_bin2base64(out, len, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

/* The digest and coordinate size of alg ("RS256", "ES384", ...); false for
 * an alg this module does not know. */
static bool alg_params(const char *alg, bool *ec, const EVP_MD **md, size_t *coord)
{
    if (!alg || strlen(alg) != 5 || (strncmp(alg, "RS", 2) != 0 && strncmp(alg, "ES", 2) != 0))
        return false;
    *ec = alg[0] == 'E';
    if (strcmp(alg + 2, "256") == 0)
        *md = EVP_sha256(), *coord = 32;
    else if (strcmp(alg + 2, "384") == 0)
        *md = EVP_sha384(), *coord = 48;
    else if (strcmp(alg + 2, "512") == 0)
        *md = EVP_sha512(), *coord = 66;
    else
        return false;
    return true;
}

const char *jws_alg_of(EVP_PKEY *key)
{
    if (!key)
        return NULL;
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA)
        return "RS256";
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return NULL;
    int bits = EVP_PKEY_get_bits(key);
    return bits <= 256 ? "ES256" : bits <= 384 ? "ES384" : "ES512";
}

char *jws_sign(EVP_PKEY *key, json_t *header, const json_t *claims)
{
    const char *alg = jws_alg_of(key);
    const EVP_MD *md = NULL;
    size_t coord = 0, siglen = 0;
    bool ec = false;
    char *h = NULL, *c = NULL, *h64 = NULL, *c64 = NULL, *input = NULL, *s64 = NULL, *jwt = NULL;
    unsigned char *sig = NULL, raw[2 * JWS_MAX_COORD];
    EVP_MD_CTX *mctx = NULL;
    ECDSA_SIG *es = NULL;

    if (!alg || !alg_params(alg, &ec, &md, &coord) || json_object_set_new(header, "alg", json_string(alg)) != 0)
        return NULL;
    h = json_dumps(header, JSON_COMPACT);
    c = json_dumps(claims, JSON_COMPACT);
    h64 = h ? jws_b64url((const unsigned char *)h, strlen(h)) : NULL;
    c64 = c ? jws_b64url((const unsigned char *)c, strlen(c)) : NULL;
    if (!h64 || !c64 || asprintf(&input, "%s.%s", h64, c64) < 0) {
        input = NULL;
        goto out;
    }
    mctx = EVP_MD_CTX_new();
    if (!mctx || EVP_DigestSignInit(mctx, NULL, md, NULL, key) != 1 ||
        EVP_DigestSign(mctx, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1 ||
        !(sig = OPENSSL_malloc(siglen)) ||
        EVP_DigestSign(mctx, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    if (ec) { /* DER -> r||s of the curve's size */
        const unsigned char *p = sig;
        const BIGNUM *r, *s;
        if (!(es = d2i_ECDSA_SIG(NULL, &p, (long)siglen)))
            goto out;
        ECDSA_SIG_get0(es, &r, &s);
        if (BN_bn2binpad(r, raw, (int)coord) < 0 || BN_bn2binpad(s, raw + coord, (int)coord) < 0)
            goto out;
        s64 = jws_b64url(raw, 2 * coord);
    } else {
        s64 = jws_b64url(sig, siglen);
    }
    if (s64 && asprintf(&jwt, "%s.%s", input, s64) < 0)
        jwt = NULL;
out:
    if (c) /* the claims may hold a secret (a client assertion's are not, but stay careful) */
        OPENSSL_cleanse(c, strlen(c));
    free(h);
    free(c);
    free(h64);
    free(c64);
    free(input);
    free(s64);
    OPENSSL_free(sig);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(mctx);
    return jwt;
}

static json_t *b64url_json(const char *s, size_t len)
{
    size_t n = 0;
    unsigned char *raw = jwk_b64url_decode(s, len, &n);
    json_t *j = raw ? json_loadb((const char *)raw, n, 0, NULL) : NULL;

    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

int jws_split(const char *compact, struct jws_parts *out)
{
    const char *d1 = compact ? strchr(compact, '.') : NULL, *d2 = d1 ? strchr(d1 + 1, '.') : NULL;

    memset(out, 0, sizeof *out);
    if (!d1 || !d2 || strchr(d2 + 1, '.') || !d2[1])
        return -1;
    out->header = b64url_json(compact, (size_t)(d1 - compact));
    out->claims = b64url_json(d1 + 1, (size_t)(d2 - d1 - 1));
    out->sig = jwk_b64url_decode(d2 + 1, strlen(d2 + 1), &out->sig_len);
    out->signed_len = (size_t)(d2 - compact);
    if (!out->header || !out->claims || !out->sig) {
        jws_parts_free(out);
        return -1;
    }
    return 0;
}

void jws_parts_free(struct jws_parts *p)
{
    if (!p)
        return;
    json_decref(p->header);
    json_decref(p->claims);
    free(p->sig);
    memset(p, 0, sizeof *p);
}

bool jws_verify(EVP_PKEY *key, const char *alg, const unsigned char *data, size_t len, const unsigned char *sig,
                size_t sig_len)
{
    const EVP_MD *md = NULL;
    size_t coord = 0;
    bool ec = false, ok = false;
    unsigned char *der = NULL;
    ECDSA_SIG *es = NULL;
    EVP_MD_CTX *mctx = NULL;

    if (!key || !alg_params(alg, &ec, &md, &coord))
        return false;
    if (EVP_PKEY_get_base_id(key) != (ec ? EVP_PKEY_EC : EVP_PKEY_RSA))
        return false;
    if (ec) { /* the curve must be the alg's: ES256 with P-256, ... */
        int bits = EVP_PKEY_get_bits(key);
        if ((coord == 32 && bits != 256) || (coord == 48 && bits != 384) || (coord == 66 && bits != 521))
            return false;
        if (sig_len != 2 * coord)
            return false;
        BIGNUM *r = BN_bin2bn(sig, (int)coord, NULL), *s = BN_bin2bn(sig + coord, (int)coord, NULL);
        es = ECDSA_SIG_new();
        if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
            BN_free(r);
            BN_free(s);
            goto out;
        }
        int dl = i2d_ECDSA_SIG(es, &der);
        if (dl <= 0)
            goto out;
        sig = der;
        sig_len = (size_t)dl;
    }
    mctx = EVP_MD_CTX_new();
    ok = mctx && EVP_DigestVerifyInit(mctx, NULL, md, NULL, key) == 1 &&
         EVP_DigestVerify(mctx, sig, sig_len, data, len) == 1;
out:
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(mctx);
    return ok;
}

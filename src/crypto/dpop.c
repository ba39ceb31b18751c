/* dpop.c — the client's side of DPoP (dpop.h): the ES256 key pair, one
 * proof JWT per request, the access token's `ath`, and jtis that a process
 * never repeats.
 *
 * Owns the proof's shape (RFC 9449 §4.2); when to send one, which nonce to
 * put in it and what a server's refusal means are the caller's (the Okta
 * connector's oauth.c and client.c). The jti prefix is drawn once per
 * process (pthread_once); the counter is a C11 atomic. */
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "crypto/dpop.h"
#include "crypto/jwk.h"
#include "crypto/jws.h"

#define DPOP_JTI_PREFIX 12 /* random bytes drawn once per process */

static pthread_once_t jti_once = PTHREAD_ONCE_INIT;
static unsigned char jti_prefix[DPOP_JTI_PREFIX]; /* written once, under jti_once */
static _Atomic uint64_t jti_counter;

static void jti_init(void)
{
    if (RAND_bytes(jti_prefix, sizeof jti_prefix) != 1) {
        /* no randomness: the time and the pid still keep processes apart */
        int64_t t = time_now_ms();
        memcpy(jti_prefix, &t, sizeof t);
    }
}

void dpop_jti(char out[DPOP_JTI_SIZE])
{
    unsigned char raw[DPOP_JTI_PREFIX + 8];
    uint64_t n = atomic_fetch_add(&jti_counter, 1);
    char *b;

    pthread_once(&jti_once, jti_init);
    memcpy(raw, jti_prefix, DPOP_JTI_PREFIX);
    for (int i = 0; i < 8; i++)
        raw[DPOP_JTI_PREFIX + i] = (unsigned char)(n >> (56 - 8 * i));
    b = jws_b64url(raw, sizeof raw);
    if (b && strlen(b) < DPOP_JTI_SIZE)
        memcpy(out, b, strlen(b) + 1);
    else /* memory: the counter alone in hex is still unique in this process */
        snprintf(out, DPOP_JTI_SIZE, "c%016llx", (unsigned long long)n);
    free(b);
}

EVP_PKEY *dpop_key_new(void)
{
    return EVP_EC_gen("P-256");
}

int dpop_htu(const char *url, char *out, size_t n)
{
    const char *rest;
    size_t len;

    if (!url || (strncasecmp(url, "https://", 8) != 0 && strncasecmp(url, "http://", 7) != 0))
        return IDF_EINVAL;
    rest = strstr(url, "://") + 3;
    if (!*rest || *rest == '/')
        return IDF_EINVAL;
    len = (size_t)(rest - url) + strcspn(rest, "?#");
    if (len >= n)
        return IDF_EINVAL;
    memcpy(out, url, len);
    out[len] = '\0';
    return 0;
}

char *dpop_ath(const char *access_token)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;

    if (!access_token || EVP_Digest(access_token, strlen(access_token), digest, &dlen, EVP_sha256(), NULL) != 1)
        return NULL;
    return jws_b64url(digest, dlen);
}

char *dpop_proof(EVP_PKEY *key, const char *method, const char *url, const char *nonce, const char *access_token)
{
    char htu[DPOP_MAX_HTU], jti[DPOP_JTI_SIZE], *ath = NULL, *jwt = NULL;
    json_t *hdr = NULL, *claims = NULL, *jwk = NULL;

    if (!key || !method || dpop_htu(url, htu, sizeof htu) != 0)
        return NULL;
    if (access_token && !(ath = dpop_ath(access_token)))
        return NULL;
    dpop_jti(jti);
    jwk = jwk_public(key);
    hdr = jwk ? json_pack("{s:s, s:O}", "typ", "dpop+jwt", "jwk", jwk) : NULL;
    claims = json_pack("{s:s, s:s, s:s, s:I}", "jti", jti, "htm", method, "htu", htu, "iat",
                       (json_int_t)(time_now_ms() / 1000));
    if (hdr && claims && (!nonce || !*nonce || json_object_set_new(claims, "nonce", json_string(nonce)) == 0) &&
        (!ath || json_object_set_new(claims, "ath", json_string(ath)) == 0))
        jwt = jws_sign(key, hdr, claims);
    json_decref(jwk);
    json_decref(hdr);
    json_decref(claims);
    free(ath);
    return jwt;
}

/* jws.h — compact JSON Web Signatures (RFC 7515) with RSA and EC keys
 * (prefix jws_): signing a header and claims, splitting a compact JWS into
 * its parts, verifying a signature, and the base64url text of bytes.
 *
 * One implementation for every JWT idflow makes or checks: the Okta
 * connector's client assertion and DPoP proofs (connectors/okta/oauth.c,
 * crypto/dpop.c) and the sandbox's checks of both (src/sandbox/okta/).
 * Algorithms: RS256 for RSA keys (RS384/RS512 verified too), ES256, ES384
 * and ES512 for EC keys on P-256, P-384 and P-521 (the signature is r||s of
 * the curve's size, as JWS wants, not OpenSSL's DER). Pure; any thread. */
#ifndef IDF_CRYPTO_JWS_H
#define IDF_CRYPTO_JWS_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

/* A compact JWS cut into its parts (jws_split). */
struct jws_parts {
    json_t *header;     /* owned: the decoded protected header (an object) */
    json_t *claims;     /* owned: the decoded payload (an object) */
    unsigned char *sig; /* owned: the decoded signature */
    size_t sig_len;
    size_t signed_len; /* bytes of the input signed: "header.payload" */
};

/* base64url without padding (RFC 4648 §5) of the n bytes at p; NULL when
 * memory runs out. Caller frees (wiping first when secret). */
char *jws_b64url(const unsigned char *p, size_t n);

/* The JWS algorithm idflow signs with for key: "RS256" for RSA, "ES256" /
 * "ES384" / "ES512" for EC on P-256 / P-384 / P-521; NULL for another key. */
const char *jws_alg_of(EVP_PKEY *key);

/* Signs header (its "alg" is set from the key: the caller gives the rest,
 * e.g. typ, kid, jwk) and claims with key; the compact JWS
 * "header.payload.signature", or NULL (another kind of key, memory).
 * Caller frees. */
char *jws_sign(EVP_PKEY *key, json_t *header, const json_t *claims);

/* Cuts compact (three base64url parts, header and payload JSON objects)
 * into out; 0, or -1 for anything else (out is then zeroed). Nothing is
 * verified. Free with jws_parts_free. */
int jws_split(const char *compact, struct jws_parts *out);
void jws_parts_free(struct jws_parts *p);

/* True when sig (JWS form: r||s for EC) is alg's signature of the len bytes
 * at data under key. alg: RS256/384/512 with an RSA key, ES256/384/512 with
 * an EC key of the matching curve; false for any other pairing. */
bool jws_verify(EVP_PKEY *key, const char *alg, const unsigned char *data, size_t len, const unsigned char *sig,
                size_t sig_len);

#endif

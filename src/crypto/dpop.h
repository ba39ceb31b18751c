/* dpop.h — DPoP proofs (RFC 9449, OAuth 2.0 Demonstrating Proof of
 * Possession) made by a client (prefix dpop_): the key pair, the proof JWT
 * for one HTTP request, and the `ath` of an access token.
 *
 * A proof is a JWS with header {typ: "dpop+jwt", alg, jwk: the public key}
 * and claims {jti, htm, htu, iat[, nonce][, ath]}. Its `jti` is never
 * repeated by a process: a random 96-bit prefix drawn once per process and
 * a 64-bit counter (a random jti could repeat, however unlikely; a replayed
 * one is refused by the server). Thread-safe: the counter is atomic. Used
 * by the Okta connector (connectors/okta/oauth.c, client.c). */
#ifndef IDF_CRYPTO_DPOP_H
#define IDF_CRYPTO_DPOP_H

#include <openssl/evp.h>
#include <stddef.h>

#include "core/err.h"

#define DPOP_MAX_NONCE 512 /* bytes of a server's DPoP-Nonce we keep; a longer one is not used */
#define DPOP_JTI_SIZE 28   /* base64url of 20 bytes (27 characters) and its NUL */
#define DPOP_MAX_HTU 2048  /* bytes of a proof's htu */

/* A new ES256 key pair (P-256) for proofs; NULL when OpenSSL cannot make
 * one. Caller frees with EVP_PKEY_free. */
EVP_PKEY *dpop_key_new(void);

/* The htu of url: scheme, authority and path, without query and fragment
 * (RFC 9449 §4.2). 0, or IDF_EINVAL when url is not absolute http(s) or
 * does not fit n bytes. */
int dpop_htu(const char *url, char *out, size_t n) IDF_MUST_USE;

/* The `ath` of an access token: base64url of its SHA-256 (RFC 9449 §4.2);
 * NULL when memory runs out. Caller frees. */
char *dpop_ath(const char *access_token);

/* A fresh jti (see above) into out. */
void dpop_jti(char out[DPOP_JTI_SIZE]);

/* The proof for one request: method (e.g. "POST"), the request's url (its
 * query and fragment are left out of htu), iat now, a fresh jti, the
 * server's nonce when not NULL or "", and ath when access_token is not
 * NULL. NULL when the url is not absolute or signing fails. Caller frees. */
char *dpop_proof(EVP_PKEY *key, const char *method, const char *url, const char *nonce, const char *access_token);

#endif

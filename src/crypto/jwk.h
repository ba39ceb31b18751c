/* jwk.h — JSON Web Keys (RFC 7517/7518) into OpenSSL keys (prefix jwk_).
 *
 * One conversion for every place that reads a JWK: the Okta connector's
 * private key for the OAuth client assertion (connectors/okta/oauth.c) and
 * the sandbox's check of that assertion against the service app's public
 * key (src/sandbox/); and the other way, a key's public JWK and its
 * thumbprint, for DPoP proofs (crypto/dpop.c) and the sandbox's token
 * binding. Pure functions, any thread. */
#ifndef IDF_CRYPTO_JWK_H
#define IDF_CRYPTO_JWK_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

/* The key a JWK object describes: kty "RSA" (n, e; with want_private also d,
 * and p, q, dp, dq, qi when present) or kty "EC" with crv P-256, P-384 or
 * P-521 (x, y of the curve's size; with want_private also d). A public key
 * is built from the public members only (a private JWK gives its public
 * half). NULL for anything else: another kty or curve, a member missing or
 * not valid base64url, coordinates of the wrong size, a key OpenSSL
 * refuses. Caller frees with EVP_PKEY_free. */
EVP_PKEY *jwk_to_pkey(const json_t *jwk, bool want_private);

/* Decodes base64url (RFC 4648 §5; '+' and '/' are accepted too, trailing
 * '=' padding is optional) of the len bytes at s. NULL for any other
 * character or memory failure. Caller frees (wiping first when secret). */
unsigned char *jwk_b64url_decode(const char *s, size_t len, size_t *out_len);

#define JWK_THUMBPRINT_SIZE 44 /* base64url of a SHA-256 (43 characters) and its NUL */

/* The public JWK of key: {kty: "EC", crv, x, y} (P-256/384/521, coordinates
 * padded to the curve's size) or {kty: "RSA", n, e}; never a private
 * member. NULL for another key or a memory failure. Caller decrefs. */
json_t *jwk_public(EVP_PKEY *key);

/* The RFC 7638 thumbprint of a public JWK: base64url of the SHA-256 of its
 * required members in lexicographic order ({"crv","kty","x","y"} for EC,
 * {"e","kty","n"} for RSA), as DPoP's cnf.jkt binds a token to a key. 0,
 * or -1 for another kty or a member missing or not a string. */
int jwk_thumbprint(const json_t *jwk, char out[JWK_THUMBPRINT_SIZE]);

#endif

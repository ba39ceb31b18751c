/* token.h — API tokens: generation, hashing, and the roles they carry.
 *
 * A token is "idf_" followed by 43 characters of URL-safe base64 (32 random
 * bytes from libsodium). It is shown once, when created, and never stored:
 * the store keeps its BLAKE2b-256 hash (hex) and its first TOKEN_PREFIX_LEN
 * characters, so a listing can tell tokens apart. 256 random bits need no
 * slow password hash: guessing is hopeless, and a fast hash lets every API
 * request look its token up by hash.
 *
 * Roles are ordered; each includes what the roles before it may do:
 *   viewer   read runs, workflows, approvals, metrics
 *   approver + approve or reject waiting runs
 *   operator + start manual workflows, re-run failed runs
 *   admin    + API tokens and the audit log
 *
 * Any thread; no state. */
#ifndef IDF_CRYPTO_TOKEN_H
#define IDF_CRYPTO_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define TOKEN_MARK "idf_"
#define TOKEN_RANDOM_BYTES 32u
#define TOKEN_LEN 47u          /* "idf_" + 43 base64url characters */
#define TOKEN_HASH_HEX 64u     /* hex characters of the stored hash */
#define TOKEN_PREFIX_LEN 12u   /* characters of a token kept for listings ("idf_" + 8) */
#define TOKEN_NAME_MAX 64u     /* a token's name: [A-Za-z0-9._-], 1..64 */

enum token_role { TOKEN_VIEWER = 1, TOKEN_APPROVER, TOKEN_OPERATOR, TOKEN_ADMIN };

/* Writes a new token (TOKEN_LEN + 1 bytes with the NUL) into out. */
int token_generate(char *out, size_t n) IDF_MUST_USE;

/* A new token with what the store keeps of it: tok (TOKEN_LEN + 1 bytes),
 * hash (TOKEN_HASH_HEX + 1) and prefix (TOKEN_PREFIX_LEN + 1). */
int token_new(char *tok, size_t tok_n, char *hash, size_t hash_n, char *prefix, size_t prefix_n) IDF_MUST_USE;

/* Writes the hex hash of token (TOKEN_HASH_HEX + 1 bytes) into out. */
int token_hash(const char *token, char *out, size_t n) IDF_MUST_USE;

/* Whether s has a token's shape (mark, length, alphabet): a cheap check
 * before any lookup, and how `idflow` recognizes a token pasted by mistake. */
bool token_well_formed(const char *s);

/* "viewer" | "approver" | "operator" | "admin" → role; 0 when unknown. */
enum token_role token_role_parse(const char *s);
const char *token_role_name(enum token_role r);

/* A valid token name: 1..TOKEN_NAME_MAX of [A-Za-z0-9._-]. */
bool token_name_valid(const char *s);

#endif

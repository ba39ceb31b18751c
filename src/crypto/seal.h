/* seal.h — sealing secrets at rest with idflow's master key (libsodium).
 *
 * A sealed value is XChaCha20-Poly1305 (IETF) authenticated encryption of a
 * byte string under the 32-byte master key, with "additional data" that binds
 * the ciphertext to where it is stored (for a connection row:
 * "idflow-connection:v1:<kind>:<name>", see seal_ad_connection), so a sealed
 * blob copied into another row does not open. Layout of a sealed blob:
 *
 *     version (1 byte, SEAL_FORMAT_V1) | nonce (24 bytes, random) | ciphertext + tag (16)
 *
 * The master key comes from IDFLOW_MASTER_KEY (64 hex characters, or base64
 * of 32 bytes; the variable is erased and removed from the environment as
 * soon as it is read) or else from a key file (mode 0600, created on first
 * use with 32 random bytes written as 64 hex characters). Keys live in
 * sodium_malloc'd memory (guard pages, locked, read-only) and are wiped when
 * freed.
 *
 * Threads: seal_init may be called from any thread any number of times (it
 * runs sodium_init once). Loading a key from the environment must happen
 * before other threads start (it calls unsetenv). A loaded key is read-only
 * and may be shared by all threads; seal_seal and seal_open are thread-safe. */
#ifndef IDF_CRYPTO_SEAL_H
#define IDF_CRYPTO_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define SEAL_KEY_BYTES 32u
#define SEAL_FORMAT_V1 0x01u
#define SEAL_NONCE_BYTES 24u
#define SEAL_TAG_BYTES 16u
#define SEAL_OVERHEAD (1u + SEAL_NONCE_BYTES + SEAL_TAG_BYTES)
#define SEAL_PLAIN_MAX (1u << 20)  /* cap on one sealed secret: 1 MiB */
#define SEAL_AD_MAX 640u           /* cap on the additional data, with its NUL */
#define SEAL_KEY_FILE_MAX 4096u    /* bytes read from a key file at most */
#define SEAL_FINGERPRINT_LEN 16u   /* hex chars of seal_key_fingerprint */

#define SEAL_ENV_KEY "IDFLOW_MASTER_KEY"
#define SEAL_ENV_KEY_FILE "IDFLOW_KEY_FILE"

struct seal_key;

/* Initializes libsodium once (thread-safe). IDF_EIO when it cannot. */
int seal_init(struct idf_err *err) IDF_MUST_USE;

/* A key from text: 64 hex characters or base64 (standard or URL-safe, with or
 * without padding) of exactly 32 bytes; surrounding white space is ignored.
 * IDF_EINVAL with a message that never quotes the text. Caller frees with
 * seal_key_free. */
int seal_key_parse(const char *text, size_t len, struct seal_key **out, struct idf_err *err) IDF_MUST_USE;

/* A fresh random key (tests, and the key file's first use). */
int seal_key_random(struct seal_key **out, struct idf_err *err) IDF_MUST_USE;

/* Reads IDFLOW_MASTER_KEY. When it is set, the value is parsed, then the
 * bytes of every IDFLOW_MASTER_KEY value in the environment are wiped and the
 * variable is removed (seal_env_scrub), whether or not it parsed; *found_out
 * is true and *out the key (an unparsable value is IDF_EINVAL). When unset:
 * 0, *found_out false, *out NULL. Not thread-safe (call before threads
 * start). */
int seal_key_from_env(struct seal_key **out, bool *found_out, struct idf_err *err) IDF_MUST_USE;

/* Wipes the value of every IDFLOW_MASTER_KEY entry of the environment in
 * place (also in the process's initial environment block, which
 * /proc/<pid>/environ shows) and removes the variable. For processes that
 * must not hold or pass on a master key they do not use. Not thread-safe. */
void seal_env_scrub(void);

/* Loads the key file at path. It must be a regular file that neither group
 * nor others can read or write (else IDF_EDENIED naming the chmod fix). When
 * it does not exist and create is true, it is created atomically with mode
 * 0600 (a concurrent creator's file wins and is loaded); *created_out (may be
 * NULL) says whether this call created it. Missing and !create: IDF_ENOTFOUND. */
int seal_key_file_load(const char *path, bool create, struct seal_key **out, bool *created_out,
                       struct idf_err *err) IDF_MUST_USE;

/* Wipes and frees a key. k may be NULL. */
void seal_key_free(struct seal_key *k);

/* A short public fingerprint of the key (first 8 bytes of a keyed BLAKE2b
 * hash, as hex): lets an operator tell which key a database needs without
 * revealing it. out holds at least SEAL_FINGERPRINT_LEN + 1 bytes. */
void seal_key_fingerprint(const struct seal_key *k, char *out, size_t n);

/* Writes the additional data of a connection row into out:
 * "idflow-connection:v1:<kind>:<name>". IDF_ETOOBIG when it does not fit. */
int seal_ad_connection(const char *kind, const char *name, char *out, size_t n) IDF_MUST_USE;

/* Seals plain (plain_len <= SEAL_PLAIN_MAX bytes) bound to ad (a C string,
 * may be ""). On success *out (caller frees with free()) holds
 * plain_len + SEAL_OVERHEAD bytes, *out_len their count. */
int seal_seal(const struct seal_key *k, const void *plain, size_t plain_len, const char *ad, unsigned char **out,
              size_t *out_len, struct idf_err *err) IDF_MUST_USE;

/* Opens a sealed blob bound to ad. On success *plain_out holds the plaintext
 * followed by a NUL (not counted in *plain_len_out); the caller frees it with
 * seal_plain_free. IDF_EAUTH when the key is wrong or the blob was altered or
 * belongs to another row (deliberately one message: the three cannot be told
 * apart); IDF_EINVAL for a blob of an unknown format version or too short. */
int seal_open(const struct seal_key *k, const unsigned char *sealed, size_t sealed_len, const char *ad,
              char **plain_out, size_t *plain_len_out, struct idf_err *err) IDF_MUST_USE;

/* Writes the additional data of a secret a run produced (engine/secrets.c):
 * "idflow-run:v1:<run_id>", so the value opens only in the run it belongs to. */
int seal_ad_run(long long run_id, char *out, size_t n) IDF_MUST_USE;

/* seal_seal, as text: *out (caller frees with free()) is the sealed blob in
 * URL-safe base64 without padding, for values kept inside JSON. */
int seal_seal_text(const struct seal_key *k, const char *plain, size_t plain_len, const char *ad, char **out,
                   struct idf_err *err) IDF_MUST_USE;

/* Opens what seal_seal_text wrote, as seal_open (the same errors; text that
 * is not such base64 is IDF_EINVAL). */
int seal_open_text(const struct seal_key *k, const char *text, const char *ad, char **plain_out,
                   size_t *plain_len_out, struct idf_err *err) IDF_MUST_USE;

/* Wipes len bytes of p (plus its NUL) and frees it. p may be NULL. */
void seal_plain_free(char *p, size_t len);

/* Wipes the string s (up to its NUL) and frees it. s may be NULL. */
void seal_str_free(char *s);

/* Wipes n bytes at p (sodium_memzero: not optimized away). */
void seal_wipe(void *p, size_t n);

#endif

/* internal.h — shared internals of src/credentials/ (private). */
#ifndef IDF_CREDENTIALS_INTERNAL_H
#define IDF_CREDENTIALS_INTERNAL_H

#include "credentials/credentials.h"

#define CRED__KIND_MAX 64 /* bytes of a kind (a connector name) */

/* Builds the resolved object {"name", "kind", config..., secrets...} of a
 * stored row: parses config_text (an object), opens sealed (may be NULL when
 * the connection has no secrets) with key bound to (kind, name), and
 * registers every secret with log_add_secret. Caller frees *out with
 * cred_wipe_free. */
int cred__build(const struct seal_key *key, const char *kind, const char *name, const char *config_text,
                       const unsigned char *sealed, size_t sealed_len, json_t **out,
                       struct idf_err *err) IDF_MUST_USE;

#endif

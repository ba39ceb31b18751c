/* connections_internal.h — shared internals of src/connections/ (private). */
#ifndef IDF_CONNECTIONS_CONNECTIONS_INTERNAL_H
#define IDF_CONNECTIONS_CONNECTIONS_INTERNAL_H

#include "connections/connections.h"

#define CONNECTIONS__KIND_MAX 64 /* bytes of a kind (a connector name) */

/* Builds the resolved object {"name", "kind", config..., secrets...} of a
 * stored row: parses config_text (an object), opens sealed (may be NULL when
 * the connection has no secrets) with key bound to (kind, name), and
 * registers every secret with log_add_secret. Caller frees *out with
 * connections_wipe_free. */
int connections__build(const struct seal_key *key, const char *kind, const char *name, const char *config_text,
                       const unsigned char *sealed, size_t sealed_len, json_t **out,
                       struct idf_err *err) IDF_MUST_USE;

#endif

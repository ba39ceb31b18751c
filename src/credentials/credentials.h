/* credentials.h — stored connections (the credentials for one remote
 * account; the module is named credentials/ so that it is not taken for
 * connectors/, the code that talks to the remote): saving them with their secrets sealed, and resolving them for actions.
 *
 * A connection is a row of the store's `connections` table: a name, a kind
 * (the connector's name: "okta", "happyfox"), a config JSON holding the
 * NON-secret fields, and one sealed blob (crypto/seal.h) holding a JSON
 * object of the secret fields, sealed with the additional data
 * "idflow-connection:v1:<kind>:<name>". Which fields are secret is the
 * connector's `struct conn_connection_kind` (connectors/connector.h).
 *
 * Resolving: each worker thread owns a `struct cred_cache`, which
 * turns (kind, name) into the object actions receive as call->connection:
 * {"name", "kind", <config fields...>, <secret fields...>}. It re-reads a
 * connection when its updated_at changed, checking at most every recheck_ms;
 * every secret it unseals is registered with log_add_secret(), so it is
 * masked in any later log line. Unsealed secrets are wiped when dropped.
 *
 * Threads: cred_cache is per thread (never shared); the master key is
 * loaded once before threads start and shared read-only. cred_save
 * and friends take the caller's store connection. */
#ifndef IDF_CREDENTIALS_CREDENTIALS_H
#define IDF_CREDENTIALS_CREDENTIALS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct connector;
struct conn_connection_kind;
struct seal_key;
struct store;

#define CRED_NAME_MAX 64          /* bytes of a connection name: [A-Za-z0-9][A-Za-z0-9._-]* */
#define CRED_CACHE_MAX 64         /* connections one worker keeps resolved */
#define CRED_RECHECK_MS 2000      /* default: how long a resolved connection is trusted */
#define CRED_SECRET_MAX (64u << 10) /* one secret field value: 64 KiB (a PEM key fits) */
#define CRED_CONFIG_MAX (256u << 10) /* a whole config, as JSON text */
#define CRED_KEY_FILE "idflow.key" /* default key file name, next to the database */

/* ---------------------------------------------------------------- key */

/* Where the key file is: key_file_flag when set, else $IDFLOW_KEY_FILE, else
 * "idflow.key" in the directory of the SQLite database of db_url (the working
 * directory for other URLs). Writes the path into out. */
int cred_key_path(const char *db_url, const char *key_file_flag, char *out, size_t n,
                         struct idf_err *err) IDF_MUST_USE;

/* Loads the master key: IDFLOW_MASTER_KEY when set (then wiped and removed
 * from the environment), else the key file of cred_key_path, created
 * (mode 0600, 32 random bytes) when absent and create is true. *created_out
 * (may be NULL) tells whether a new key file was made. Call before threads
 * start. Caller frees the key with seal_key_free.
 * A database several nodes share (a URL that is not a SQLite file:
 * store_url_listens) needs the same key on every node, so the key file is
 * never created at the default path there (./idflow.key of whatever
 * directory the process runs in): only at a path named by key_file_flag or
 * IDFLOW_KEY_FILE. When no key is found then, IDF_ENOTFOUND with a message
 * saying every node needs the same key and how to give it. */
int cred_load_key(const char *db_url, const char *key_file_flag, bool create, struct seal_key **out,
                         bool *created_out, struct idf_err *err) IDF_MUST_USE;

/* ---------------------------------------------------------------- save */

/* True when name is a valid connection name (see CRED_NAME_MAX). */
bool cred_name_valid(const char *name);

/* Checks config (an object of field values) against the connector's fields:
 * every required field present, secrets non-empty strings of at most
 * CRED_SECRET_MAX bytes, no unknown field (except "sandbox", a
 * boolean every kind accepts), then runs the connector's validate, which may
 * rewrite config in place. IDF_EINVAL naming the field; never quotes a
 * secret. c->connection must be non-NULL. */
int cred_validate(const struct connector *c, json_t *config, struct idf_err *err) IDF_MUST_USE;

/* Validates config (cred_validate; config may be rewritten), seals
 * its secret fields with key, and stores the connection under name with an
 * audit record by actor ("cli:alice"), replacing any connection of that
 * name. *created_out (may be NULL) tells whether it is new. */
int cred_save(struct store *s, const struct seal_key *key, const struct connector *c, const char *name,
                     json_t *config, const char *actor, bool *created_out, struct idf_err *err) IDF_MUST_USE;

/* Tries the credentials of config (validated, with secrets) with the
 * connector's real call, as actions will see them (config plus "name" and
 * "kind"). On success *whoami_out (may be NULL; caller decrefs) says whom
 * they belong to, or is NULL when the kind does not report it; a kind
 * without a check succeeds. On failure err says why, with every secret of
 * config and every registered secret masked. */
int cred_check(const struct connector *c, const char *name, const json_t *config, json_t **whoami_out,
                      struct idf_err *err) IDF_MUST_USE;

/* Completes config (validated and checked, with secrets) through the
 * connector's `prepare` (connector.h), as actions will see it (plus "name"
 * and "kind", which are not copied back): e.g. Okta resolves the protected
 * groups' names to ids. Members the connector rewrote are set on config. A
 * kind without prepare succeeds without a call. On failure nothing of
 * config changed and err says why, every secret masked as in cred_check. */
int cred_prepare(const struct connector *c, const char *name, json_t *config, struct idf_err *err) IDF_MUST_USE;

/* What a failed cred_check's code says happened, for people and for the
 * API's "cause": "unreachable" (no answer: connection refused, DNS, TLS, a
 * timeout — err then reads "could not reach HOST: ..."), "refused" (the
 * remote answered 401 or 403, or the credentials are unusable as given) or
 * "failed" (any other error answer). Static strings. */
#define CRED_CAUSE_UNREACHABLE "unreachable"
#define CRED_CAUSE_REFUSED "refused"
#define CRED_CAUSE_FAILED "failed"
const char *cred_check_cause(int code);

/* Reads one stored connection and unseals it: *out is {"name", "kind",
 * fields...} with secrets (caller frees with cred_wipe_free). Used by
 * `idflow connect --test`; workers use the cache below. IDF_ENOTFOUND when
 * absent; IDF_EAUTH when the secrets do not open with key. */
int cred_load(struct store *s, const struct seal_key *key, const char *name, json_t **out,
                     struct idf_err *err) IDF_MUST_USE;

/* Wipes every string in v (secrets) and decrefs it. v may be NULL. Only for
 * objects this module built (their strings are not shared elsewhere). */
void cred_wipe_free(json_t *v);

/* The non-secret config of a connection as the store lists it
 * (store_connection_info.config, JSON text) as a value: parsed, or a JSON
 * string holding a text that does not parse, or null for NULL (as the API
 * shows it). Caller frees with json_decref; NULL only on ENOMEM. */
json_t *cred_config_json(const char *text);

/* ---------------------------------------------------------------- cache */

struct cred_cache;

/* A cache for one thread. key is borrowed and must outlive the cache (NULL:
 * connections with secrets fail to resolve with a clear error). recheck_ms:
 * how long a resolved connection is used before its updated_at is read again
 * (0: on every call; CRED_RECHECK_MS in production). Caller frees with
 * cred_cache_free. */
int cred_cache_new(const struct seal_key *key, int64_t recheck_ms,
                          struct cred_cache **out) IDF_MUST_USE;

/* Wipes the secrets held and frees. c may be NULL. */
void cred_cache_free(struct cred_cache *c);

/* Resolves the connection of kind named name, or, when name is NULL, the only
 * connection of that kind (an error naming the choices when there are none or
 * several). *conn_out is {"name", "kind", fields...} with secrets unsealed;
 * borrowed, valid until the next call on this cache or its free. Errors:
 * IDF_ENOTFOUND (no such connection, or none of that kind), IDF_EINVAL (it is
 * of another kind, or several match), IDF_EAUTH (the secrets do not open with
 * this key), store errors. */
int cred_resolve(struct cred_cache *c, struct store *s, const char *kind, const char *name,
                        const json_t **conn_out, struct idf_err *err) IDF_MUST_USE;

/* What the engine calls before an action: when the action's connector needs
 * no connection (owner == NULL or owner->connection == NULL) *conn_out is
 * NULL and 0 is returned; otherwise cred_resolve(c, s, owner->name,
 * name, ...). c NULL (no cache in this context): IDF_ESTATE. */
int cred_for_action(struct cred_cache *c, struct store *s, const struct connector *owner,
                           const char *name, const json_t **conn_out, struct idf_err *err) IDF_MUST_USE;

/* ---------------------------------------------------------------- reach */

struct conn_trigger;
struct registry;

/* Warnings about a workflow's trigger t (with its params) against the stored
 * connections: for each connection of t's connector that the trigger listens
 * to (the one its `connection:` parameter names, else every connection of
 * that kind) on which the connector says its events would never arrive
 * (conn_ingress.reachable: an Okta event type that event hooks cannot carry,
 * on a hook-only connection), one string "connection 'NAME' (KIND): why and
 * what to do" is appended to warnings (an array). Reads only the non-secret
 * configs (no key needed). reg: the connector table t belongs to (borrowed).
 * 0, or a store error (warnings unchanged). */
int cred_reach_warnings(struct store *s, const struct registry *reg, const struct conn_trigger *t,
                               const json_t *params, json_t *warnings) IDF_MUST_USE;

#endif

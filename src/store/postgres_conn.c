/* postgres_conn.c — the PostgreSQL backend's connections table (sealed
 * credentials for remote accounts) and API tokens table, with the API's
 * "initialized" mark; the same rules as sqlite_conn.c,
 * sqlite_connections.c and sqlite_tokens.c (the lists are in
 * postgres_lists.c).
 *
 * Connections: the store sees only the non-secret config (JSON text) and an
 * opaque sealed blob (crypto/seal.h), stored as BYTEA and sent as a binary
 * parameter; it never holds, logs or returns a plaintext secret, and no
 * message quotes a value. A put is one upsert whose RETURNING tells a
 * creation from an update (xmax = 0: the row is new), with its audit record
 * in the same transaction, and sets updated_at to at least one more than
 * before, so a cache keyed on updated_at never misses a change made within
 * the same millisecond, on any node.
 *
 * Tokens: only hashes are stored. Creation and revocation are one
 * transaction with their audit record; the first creation also sets the
 * permanent "initialized" mark (settings) in that transaction. Revoking the
 * last unexpired admin token needs `force`: the admin rows are locked
 * (FOR UPDATE) before they are counted, so two revocations on two nodes at
 * once cannot each leave the other's token as "the last one" and remove
 * both. A lookup writes last_used_at only when it is older than
 * STORE_TOKEN_TOUCH_MS, as one statement outside any transaction, and a
 * failure of that write is ignored (a hint, never a reason to refuse a
 * request). The caller's thread owns the connection. */
#include "store/postgres_internal.h"

#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

/* ---------------------------------------------------------- connections */

int store__pg_connection_put(struct store *s, const char *name, const char *kind, const char *config,
                             const unsigned char *sealed, size_t sealed_len, const char *actor, bool *created_out,
                             struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    int64_t now = time_now_ms();
    char target[STORE__NAME_MAX + 16];
    char b_now[STORE__PG_INT_LEN];
    char *detail = NULL;
    bool created = false;
    int rc;

    if (sealed && sealed_len > (size_t)STORE__TEXT_MAX)
        return idf_err_set(err, IDF_ETOOBIG, "store: sealed secret of %zu bytes is too big", sealed_len);
    detail = store__detail("kind", kind);
    if (!detail) {
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        goto out;
    }
    rc = store__pg_begin(c, err);
    if (rc)
        goto out;
    {
        const char *p[] = {name, kind, config, (const char *)sealed, store__pg_i64(b_now, now)};
        const int lens[] = {0, 0, 0, (int)sealed_len, 0};
        const bool bin[] = {false, false, false, true, false};
        rc = store__pg_execb(c, "save connection",
                             "INSERT INTO connections (name, kind, config, secret, nonce, created_at, updated_at) "
                             "VALUES ($1, $2, $3, $4, NULL, $5::bigint, $5::bigint) ON CONFLICT (name) DO UPDATE SET "
                             "kind = excluded.kind, config = excluded.config, secret = excluded.secret, nonce = NULL, "
                             "updated_at = greatest(excluded.updated_at, connections.updated_at + 1) "
                             "RETURNING xmax = 0",
                             5, p, lens, bin, &r, err);
    }
    if (rc)
        goto out;
    created = PQntuples(r) == 1 && store__pg_get_bool(r, 0, 0);
    snprintf(target, sizeof target, "connection:%s", name);
    rc = store__pg_audit(c, now, actor, created ? "connection.create" : "connection.update", target, detail, err);
    if (rc)
        goto out;
    rc = store__pg_commit(c, err);
    if (rc == 0)
        *created_out = created;
out:
    PQclear(r);
    free(detail);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

int store__pg_connection_get(struct store *s, const char *name, char **kind_out, char **config_out,
                             unsigned char **sealed_out, size_t *sealed_len_out, int64_t *updated_at_out)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    const char *p[] = {name};
    char *kind = NULL, *config = NULL;
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    bool oom = false;
    int rc;

    rc = store__pg_exec(c, "read connection",
                        "SELECT kind, config, secret, updated_at FROM connections WHERE name = $1", 1, p, &r, NULL);
    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        rc = IDF_ENOTFOUND;
        goto out;
    }
    kind = store__pg_get_dup(r, 0, 0, &oom);
    config = store__pg_get_dup(r, 0, 1, &oom);
    if (oom || !kind || !config) {
        rc = IDF_ENOMEM;
        goto out;
    }
    rc = store__pg_get_bytea(r, 0, 2, &sealed, &sealed_len);
    if (rc)
        goto out;
    if (sealed_len == 0) { /* as SQLite: an empty blob reads as none */
        free(sealed);
        sealed = NULL;
    }
    *updated_at_out = store__pg_get_i64(r, 0, 3);
    *kind_out = kind;
    *config_out = config;
    *sealed_out = sealed;
    *sealed_len_out = sealed_len;
    kind = config = NULL;
    sealed = NULL;
out:
    PQclear(r);
    free(kind);
    free(config);
    free(sealed);
    return rc;
}

int store__pg_connection_delete(struct store *s, const char *name, const char *actor, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    const char *p[] = {name};
    char target[STORE__NAME_MAX + 16];
    char *detail = NULL;
    int rc;

    rc = store__pg_begin(c, err);
    if (rc)
        return rc;
    rc =
        store__pg_exec(c, "delete connection", "DELETE FROM connections WHERE name = $1 RETURNING kind", 1, p, &r, err);
    if (rc)
        goto out;
    if (PQntuples(r) == 0) {
        rc = idf_err_set(err, IDF_ENOTFOUND, "store: no connection named %s", name);
        goto out;
    }
    detail = store__detail("kind", PQgetvalue(r, 0, 0));
    if (!detail) {
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        goto out;
    }
    snprintf(target, sizeof target, "connection:%s", name);
    rc = store__pg_audit(c, time_now_ms(), actor, "connection.delete", target, detail, err);
    if (rc == 0)
        rc = store__pg_commit(c, err);
out:
    PQclear(r);
    free(detail);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

/* --------------------------------------------------------------- tokens */

/* Appends the audit record of a token change inside the open transaction. */
static int token_audit(struct store__pg *c, const char *actor, const char *action, const char *name, const char *detail,
                       struct idf_err *err)
{
    char target[STORE__NAME_MAX + 16];

    snprintf(target, sizeof target, "token:%s", name);
    return store__pg_audit(c, time_now_ms(), actor, action, target, detail, err);
}

/* Sets the "initialized" mark inside the open transaction, with its audit
 * record when it is new (*changed). */
static int mark_initialized(struct store__pg *c, const char *actor, const char *how, bool *changed, struct idf_err *err)
{
    PGresult *r = NULL;
    int64_t now = time_now_ms();
    char b_now[STORE__PG_INT_LEN];
    const char *p[] = {how, store__pg_i64(b_now, now)};
    int rc;

    *changed = false;
    rc = store__pg_exec(c, "mark initialized",
                        "INSERT INTO settings (key, value, updated_at) VALUES ('initialized', $1, $2::bigint) "
                        "ON CONFLICT (key) DO NOTHING RETURNING key",
                        2, p, &r, err);
    if (rc)
        return rc;
    *changed = PQntuples(r) > 0;
    PQclear(r);
    if (!*changed)
        return 0;
    return store__pg_audit(c, now, actor, "api.initialize", "api", NULL, err);
}

int store__pg_initialized(struct store *s, bool *out)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    int rc;

    rc = store__pg_exec(c, "read the initialized mark", "SELECT 1 FROM settings WHERE key = 'initialized'", 0, NULL, &r,
                        NULL);
    if (rc)
        return rc;
    *out = PQntuples(r) > 0;
    PQclear(r);
    return 0;
}

int store__pg_initialize(struct store *s, const char *actor, bool *changed_out, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    bool changed = false;
    int rc;

    rc = store__pg_begin(c, err);
    if (rc)
        return rc;
    rc = mark_initialized(c, actor, "idflow init", &changed, err);
    if (rc == 0)
        rc = store__pg_commit(c, err);
    if (rc)
        store__pg_rollback(c);
    else if (changed_out)
        *changed_out = changed;
    return rc;
}

int store__pg_token_create(struct store *s, const char *name, const char *role, const char *hash, const char *prefix,
                           int64_t expires_at, const char *actor, int64_t *id_out, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    char b_now[STORE__PG_INT_LEN], b_exp[STORE__PG_INT_LEN];
    struct buf b;
    char *detail = NULL;
    bool first = false;
    int rc;

    buf_init(&b, BUF_CAP_SMALL);
    if (buf_puts(&b, "{\"role\":") == 0 && store__json_quote(&b, role) == 0 &&
        buf_printf(&b, ",\"expires_at\":%lld}", (long long)expires_at) == 0)
        detail = buf_take(&b);
    buf_free(&b);
    if (!detail)
        return idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    rc = store__pg_begin(c, err);
    if (rc)
        goto out;
    {
        const char *p[] = {
            name, hash, role, prefix, store__pg_i64(b_now, time_now_ms()), store__pg_i64(b_exp, expires_at), actor};
        rc = store__pg_exec(c, "create token",
                            "INSERT INTO tokens (name, hash, role, prefix, created_at, expires_at, created_by) "
                            "VALUES ($1, $2, $3, $4, $5::bigint, $6::bigint, $7) RETURNING id",
                            7, p, &r, err);
    }
    if (rc == IDF_EEXIST) {
        /* the name (the hash is 256 random bits: it does not collide) */
        rc = idf_err_set(err, IDF_EEXIST, "store: a token named %s already exists (revoke it first)", name);
        goto out;
    }
    if (rc)
        goto out;
    if (id_out)
        *id_out = store__pg_get_i64(r, 0, 0);
    rc = token_audit(c, actor, "token.create", name, detail, err);
    if (rc == 0)
        rc = mark_initialized(c, actor, "first API token", &first, err);
    if (rc == 0)
        rc = store__pg_commit(c, err);
out:
    PQclear(r);
    free(detail);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

int store__pg_token_lookup(struct store *s, const char *hash, int64_t now_ms, struct store_token **out)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    struct store_token *t = NULL;
    char b_now[STORE__PG_INT_LEN];
    const char *p[] = {hash, store__pg_i64(b_now, now_ms)};
    bool oom = false;
    int rc;

    rc = store__pg_exec(c, "look up token",
                        "SELECT id, name, role, prefix, created_at, expires_at, coalesce(last_used_at, 0) "
                        "FROM tokens WHERE hash = $1 AND (expires_at = 0 OR expires_at > $2::bigint)",
                        2, p, &r, NULL);
    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        rc = IDF_ENOTFOUND;
        goto out;
    }
    t = calloc(1, sizeof *t);
    if (!t) {
        rc = IDF_ENOMEM;
        goto out;
    }
    t->id = store__pg_get_i64(r, 0, 0);
    t->name = store__pg_get_dup(r, 0, 1, &oom);
    t->role = store__pg_get_dup(r, 0, 2, &oom);
    t->prefix = store__pg_get_dup(r, 0, 3, &oom);
    t->created_at = store__pg_get_i64(r, 0, 4);
    t->expires_at = store__pg_get_i64(r, 0, 5);
    t->last_used_at = store__pg_get_i64(r, 0, 6);
    if (oom || !t->name || !t->role) {
        rc = IDF_ENOMEM;
        goto out;
    }
    if (now_ms - t->last_used_at >= STORE_TOKEN_TOUCH_MS) {
        /* one statement on its own (autocommit), best effort */
        char b_id[STORE__PG_INT_LEN];
        const char *q[] = {store__pg_i64(b_id, t->id), b_now};
        if (store__pg_exec(c, "touch token", "UPDATE tokens SET last_used_at = $2::bigint WHERE id = $1::bigint", 2, q,
                           NULL, NULL) == 0)
            t->last_used_at = now_ms;
    }
    *out = t;
    t = NULL;
out:
    PQclear(r);
    store_token_free(t);
    return rc;
}

/* Refuses (IDF_ESTATE) to revoke `name` when it is the last unexpired
 * admin token; IDF_ENOTFOUND when there is no such token. Inside the open
 * transaction, after locking every admin token row, so the count holds
 * until the commit. */
static int check_not_last_admin(struct store__pg *c, const char *name, struct idf_err *err)
{
    PGresult *r = NULL;
    char b_now[STORE__PG_INT_LEN];
    const char *p[] = {name, store__pg_i64(b_now, time_now_ms())};
    int rc;

    rc = store__pg_exec(c, "revoke token", "SELECT id FROM tokens WHERE role = 'admin' ORDER BY id FOR UPDATE", 0, NULL,
                        NULL, err);
    if (rc)
        return rc;
    /* a new statement: its snapshot sees what a revocation we waited for removed */
    rc = store__pg_exec(c, "revoke token",
                        "SELECT t.role = 'admin' AND (t.expires_at = 0 OR t.expires_at > $2::bigint), "
                        "  (SELECT count(*) FROM tokens o WHERE o.role = 'admin' AND o.name <> t.name "
                        "     AND (o.expires_at = 0 OR o.expires_at > $2::bigint)) "
                        "FROM tokens t WHERE t.name = $1",
                        2, p, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) == 0)
        rc = idf_err_set(err, IDF_ENOTFOUND, "store: no token named %s", name);
    else if (store__pg_get_bool(r, 0, 0) && store__pg_get_i64(r, 0, 1) == 0)
        rc = idf_err_set(err, IDF_ESTATE,
                         "store: %s is the last admin token: without it no API caller can manage tokens or read "
                         "the audit log, and the API does not reopen (only `idflow token create` on the store "
                         "makes a new one); create another admin token first, or revoke it with force",
                         name);
    PQclear(r);
    return rc;
}

int store__pg_token_revoke(struct store *s, const char *name, const char *actor, bool force, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    const char *p[] = {name};
    int rc;

    rc = store__pg_begin(c, err);
    if (rc)
        return rc;
    if (!force) {
        rc = check_not_last_admin(c, name, err);
        if (rc)
            goto out;
    }
    rc = store__pg_exec(c, "revoke token", "DELETE FROM tokens WHERE name = $1", 1, p, &r, err);
    if (rc)
        goto out;
    if (strcmp(PQcmdTuples(r), "0") == 0) {
        rc = idf_err_set(err, IDF_ENOTFOUND, "store: no token named %s", name);
        goto out;
    }
    rc = token_audit(c, actor, "token.revoke", name, force ? "{\"force\":true}" : NULL, err);
    if (rc == 0)
        rc = store__pg_commit(c, err);
out:
    PQclear(r);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

/* sqlite_conn.c — the SQLite backend's connections table: sealed credentials
 * for remote accounts, stored as the connections module hands them over
 * (put, get, list; delete is in sqlite_connections.c).
 *
 * The store sees only the non-secret config (JSON text) and an opaque sealed
 * blob (crypto/seal.h): it never holds, logs or returns a plaintext secret,
 * and store_connection_list never returns the blob at all. Every put writes
 * its audit record in the same transaction, and bumps updated_at to at least
 * one more than before, so a cache keyed on updated_at never misses a change
 * made within the same millisecond.
 *
 * Callers: CLI, API and worker threads, each on its own connection. */
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

int store__sq_connection_put(struct store *s, const char *name, const char *kind, const char *config,
                             const unsigned char *sealed, size_t sealed_len, const char *actor, bool *created_out,
                             struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int64_t now = time_now_ms();
    char target[STORE__NAME_MAX + 16];
    char *detail = NULL;
    bool exists = false;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        return rc;
    rc = store__sq_prep(c, SQ_CONN_EXISTS, "SELECT 1 FROM connections WHERE name = ?1", &st, err);
    if (rc)
        goto out;
    store__sq_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    store__sq_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rc = store__sq_fail(c, rc, "read connection", err);
        goto out;
    }
    exists = rc == SQLITE_ROW;

    rc = store__sq_prep(c, SQ_CONN_PUT,
                        "INSERT INTO connections (name, kind, config, secret, nonce, created_at, updated_at) "
                        "VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?5) ON CONFLICT (name) DO UPDATE SET "
                        "kind = excluded.kind, config = excluded.config, secret = excluded.secret, nonce = NULL, "
                        "updated_at = max(excluded.updated_at, connections.updated_at + 1)",
                        &st, err);
    if (rc)
        goto out;
    store__sq_bind_text(st, 1, name);
    store__sq_bind_text(st, 2, kind);
    store__sq_bind_text(st, 3, config);
    if (sealed)
        sqlite3_bind_blob64(st, 4, sealed, sealed_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, now);
    rc = sqlite3_step(st);
    store__sq_done(st);
    if (rc != SQLITE_DONE) {
        rc = store__sq_fail(c, rc, "save connection", err);
        goto out;
    }

    detail = store__detail("kind", kind);
    if (!detail) {
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        goto out;
    }
    snprintf(target, sizeof target, "connection:%s", name);
    rc = store__sq_audit(c, now, actor, exists ? "connection.update" : "connection.create", target, detail, err);
    if (rc)
        goto out;
    rc = store__sq_commit(c, err);
    if (rc == 0)
        *created_out = !exists;
out:
    free(detail);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_connection_get(struct store *s, const char *name, char **kind_out, char **config_out,
                             unsigned char **sealed_out, size_t *sealed_len_out, int64_t *updated_at_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    char *kind = NULL, *config = NULL;
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    bool oom = false;
    int rc;

    rc = store__sq_prep(c, SQ_CONN_GET, "SELECT kind, config, secret, updated_at FROM connections WHERE name = ?1", &st,
                        NULL);
    if (rc)
        return rc;
    store__sq_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? IDF_ENOTFOUND : store__sq_fail(c, rc, "read connection", NULL);
        goto out;
    }
    kind = store__sq_col_dup(st, 0, &oom);
    config = store__sq_col_dup(st, 1, &oom);
    if (sqlite3_column_type(st, 2) != SQLITE_NULL && sqlite3_column_bytes(st, 2) > 0) {
        const void *b = sqlite3_column_blob(st, 2);
        sealed_len = (size_t)sqlite3_column_bytes(st, 2);
        sealed = malloc(sealed_len);
        if (!sealed || !b)
            oom = true;
        else
            memcpy(sealed, b, sealed_len);
    }
    *updated_at_out = sqlite3_column_int64(st, 3);
    rc = oom ? IDF_ENOMEM : 0;
out:
    store__sq_done(st);
    if (rc) {
        free(kind);
        free(config);
        free(sealed);
        return rc;
    }
    *kind_out = kind;
    *config_out = config;
    *sealed_out = sealed;
    *sealed_len_out = sealed_len;
    return 0;
}

static int connection_row(sqlite3_stmt *st, void *row)
{
    struct store_connection_info *ci = row;
    bool oom = false;

    ci->name = store__sq_col_dup(st, 0, &oom);
    ci->kind = store__sq_col_dup(st, 1, &oom);
    ci->config = store__sq_col_dup(st, 2, &oom);
    ci->created_at = sqlite3_column_int64(st, 3);
    ci->updated_at = sqlite3_column_int64(st, 4);
    return oom ? IDF_ENOMEM : 0;
}

int store__sq_connection_list(struct store *s, struct store_connection_info **rows_out, size_t *n_out)
{
    void *rows = NULL;
    /* Never selects `secret`: the sealed blob does not leave through a list. */
    int rc = store__sq_list(
        store__sq(s), SQ_CONN_LIST, "SELECT name, kind, config, created_at, updated_at FROM connections ORDER BY name",
        NULL, NULL, connection_row, store__connection_info_clear, sizeof **rows_out, &rows, n_out, "list connections");

    *rows_out = rows;
    return rc;
}

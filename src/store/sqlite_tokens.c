/* sqlite_tokens.c — the SQLite backend's API tokens table (store.h, "API
 * tokens"). Only hashes are stored: the token itself never reaches the store.
 *
 * Creation and revocation are one transaction with their audit record; the
 * first creation also sets the permanent "initialized" mark (settings table,
 * migration 5) in that transaction, so no crash can leave a token without
 * the mark. Revoking the last unexpired admin token needs `force`. A
 * lookup is a read of the unique hash index; it writes (last_used_at) only
 * when the stored time is older than STORE_TOKEN_TOUCH_MS, in a transaction
 * of its own (never inside a caller's), and a failure of that write (the
 * database busy with the engine) is ignored: the time of last use is a hint, never a reason to
 * refuse a request. The caller's thread owns the connection. */
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/timeutil.h"

/* Appends the audit record of a token change inside the open transaction. */
static int audit(struct store__sq *c, const char *actor, const char *action, const char *name, const char *detail,
                 struct idf_err *err)
{
    char target[STORE__NAME_MAX + 16];

    snprintf(target, sizeof target, "token:%s", name);
    return store__sq_audit(c, time_now_ms(), actor, action, target, detail, err);
}

/* Sets the "initialized" mark inside the open transaction, with its audit
 * record when it is new (*changed). */
static int mark_initialized(struct store__sq *c, const char *actor, const char *how, bool *changed,
                            struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t now = time_now_ms();
    int rc;

    *changed = false;
    rc = sqlite3_prepare_v2(c->db,
                            "INSERT INTO settings (key, value, updated_at) VALUES ('initialized', ?1, ?2) "
                            "ON CONFLICT (key) DO NOTHING",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return store__sq_fail(c, rc, "mark initialized", err);
    }
    store__sq_bind_text(st, 1, how);
    sqlite3_bind_int64(st, 2, now);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store__sq_fail(c, rc, "mark initialized", err);
    if (sqlite3_changes(c->db) == 0)
        return 0;
    *changed = true;
    return store__sq_audit(c, now, actor, "api.initialize", "api", NULL, err);
}

int store__sq_initialized(struct store *s, bool *out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__sq_prep(c, SQ_INITIALIZED, "SELECT 1 FROM settings WHERE key = 'initialized'", &st, NULL);
    if (rc)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        *out = rc == SQLITE_ROW;
        rc = 0;
    } else {
        rc = store__sq_fail(c, rc, "read the initialized mark", NULL);
    }
    store__sq_done(st);
    return rc;
}

int store__sq_initialize(struct store *s, const char *actor, bool *changed_out, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_FULL, err);
    if (rc)
        return rc;
    rc = mark_initialized(c, actor, "idflow init", changed_out, err);
    if (rc == 0)
        rc = store__sq_commit(c, err);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_token_create(struct store *s, const char *name, const char *role, const char *hash, const char *prefix,
                           int64_t expires_at, const char *actor, int64_t *id_out, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    struct buf b;
    char *detail = NULL;
    int rc;

    buf_init(&b, BUF_CAP_SMALL);
    if (buf_puts(&b, "{\"role\":") == 0 && store__json_quote(&b, role) == 0 &&
        buf_printf(&b, ",\"expires_at\":%lld}", (long long)expires_at) == 0)
        detail = buf_take(&b);
    buf_free(&b);
    if (!detail)
        return idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        goto out;
    rc = sqlite3_prepare_v2(c->db,
                            "INSERT INTO tokens (name, hash, role, prefix, created_at, expires_at, created_by) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        st = NULL;
        rc = store__sq_fail(c, rc, "prepare", err);
        goto out;
    }
    store__sq_bind_text(st, 1, name);
    store__sq_bind_text(st, 2, hash);
    store__sq_bind_text(st, 3, role);
    store__sq_bind_text(st, 4, prefix);
    sqlite3_bind_int64(st, 5, time_now_ms());
    sqlite3_bind_int64(st, 6, expires_at);
    store__sq_bind_text(st, 7, actor);
    rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT) {
        /* the name (the hash is 256 random bits: it does not collide) */
        rc = idf_err_set(err, IDF_EEXIST, "store: a token named %s already exists (revoke it first)", name);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        rc = store__sq_fail(c, rc, "create token", err);
        goto out;
    }
    if (id_out)
        *id_out = sqlite3_last_insert_rowid(c->db);
    rc = audit(c, actor, "token.create", name, detail, err);
    if (rc == 0) {
        bool first = false;
        rc = mark_initialized(c, actor, "first API token", &first, err);
    }
    if (rc == 0)
        rc = store__sq_commit(c, err);
out:
    sqlite3_finalize(st);
    free(detail);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_token_lookup(struct store *s, const char *hash, int64_t now_ms, struct store_token **out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    struct store_token *t = NULL;
    bool oom = false;
    int rc;

    rc = store__sq_prep(c, SQ_TOKEN_LOOKUP,
                        "SELECT id, name, role, prefix, created_at, expires_at, coalesce(last_used_at, 0) "
                        "FROM tokens WHERE hash = ?1 AND (expires_at = 0 OR expires_at > ?2)",
                        &st, NULL);
    if (rc)
        return rc;
    store__sq_bind_text(st, 1, hash);
    sqlite3_bind_int64(st, 2, now_ms);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        store__sq_done(st);
        return IDF_ENOTFOUND;
    }
    if (rc != SQLITE_ROW) {
        rc = store__sq_fail(c, rc, "look up token", NULL);
        store__sq_done(st);
        return rc;
    }
    t = calloc(1, sizeof *t);
    if (t) {
        t->id = sqlite3_column_int64(st, 0);
        t->name = store__sq_col_dup(st, 1, &oom);
        t->role = store__sq_col_dup(st, 2, &oom);
        t->prefix = store__sq_col_dup(st, 3, &oom);
        t->created_at = sqlite3_column_int64(st, 4);
        t->expires_at = sqlite3_column_int64(st, 5);
        t->last_used_at = sqlite3_column_int64(st, 6);
    }
    store__sq_done(st);
    if (!t || oom || !t->name || !t->role) {
        store_token_free(t);
        return IDF_ENOMEM;
    }
    /* a transaction of its own, so that it waits its turn in this process's
     * writer gate (sqlite_gate.c) rather than in SQLite's busy handler */
    if (now_ms - t->last_used_at >= STORE_TOKEN_TOUCH_MS && store__sq_begin(c, SQ_SYNC_NORMAL, NULL) == 0) {
        if (store__sq_prep(c, SQ_TOKEN_TOUCH, "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1", &st, NULL) == 0) {
            sqlite3_bind_int64(st, 1, t->id);
            sqlite3_bind_int64(st, 2, now_ms);
            rc = sqlite3_step(st);
            store__sq_done(st);
        }
        if (rc == SQLITE_DONE && store__sq_commit(c, NULL) == 0)
            t->last_used_at = now_ms;
        else
            store__sq_rollback(c);
    }
    *out = t;
    return 0;
}

static int token_row(sqlite3_stmt *st, void *row)
{
    struct store_token *t = row;
    bool oom = false;

    t->id = sqlite3_column_int64(st, 0);
    t->name = store__sq_col_dup(st, 1, &oom);
    t->role = store__sq_col_dup(st, 2, &oom);
    t->prefix = store__sq_col_dup(st, 3, &oom);
    t->created_at = sqlite3_column_int64(st, 4);
    t->created_by = store__sq_col_dup(st, 5, &oom);
    t->expires_at = sqlite3_column_int64(st, 6);
    t->last_used_at = sqlite3_column_int64(st, 7);
    return oom ? IDF_ENOMEM : 0;
}

int store__sq_token_list(struct store *s, struct store_token **rows_out, size_t *n_out)
{
    void *rows = NULL;
    int rc = store__sq_list(store__sq(s), SQ_TOKEN_LIST,
                            "SELECT id, name, role, prefix, created_at, created_by, expires_at, "
                            "coalesce(last_used_at, 0) FROM tokens ORDER BY name",
                            NULL, NULL, token_row, store__token_clear, sizeof **rows_out, &rows, n_out,
                            "list tokens");

    *rows_out = rows;
    return rc;
}

/* Refuses (IDF_ESTATE) to revoke `name` when it is the last unexpired
 * admin token; IDF_ENOTFOUND when there is no such token. Inside the open
 * transaction. */
static int check_not_last_admin(struct store__sq *c, const char *name, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t now = time_now_ms();
    int rc;

    rc = sqlite3_prepare_v2(c->db,
                            "SELECT t.role = 'admin' AND (t.expires_at = 0 OR t.expires_at > ?2), "
                            "  (SELECT count(*) FROM tokens o WHERE o.role = 'admin' AND o.name <> t.name "
                            "     AND (o.expires_at = 0 OR o.expires_at > ?2)) "
                            "FROM tokens t WHERE t.name = ?1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return store__sq_fail(c, rc, "prepare", err);
    }
    store__sq_bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, now);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        rc = idf_err_set(err, IDF_ENOTFOUND, "store: no token named %s", name);
    else if (rc != SQLITE_ROW)
        rc = store__sq_fail(c, rc, "revoke token", err);
    else if (sqlite3_column_int(st, 0) && sqlite3_column_int64(st, 1) == 0)
        rc = idf_err_set(err, IDF_ESTATE,
                         "store: %s is the last admin token: without it no API caller can manage tokens or read "
                         "the audit log, and the API does not reopen (only `idflow token create` on the store "
                         "makes a new one); create another admin token first, or revoke it with force",
                         name);
    else
        rc = 0;
    sqlite3_finalize(st);
    return rc;
}

int store__sq_token_revoke(struct store *s, const char *name, const char *actor, bool force, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        return rc;
    if (!force) {
        rc = check_not_last_admin(c, name, err);
        if (rc)
            goto out;
    }
    rc = sqlite3_prepare_v2(c->db, "DELETE FROM tokens WHERE name = ?1", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        st = NULL;
        rc = store__sq_fail(c, rc, "prepare", err);
        goto out;
    }
    store__sq_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = store__sq_fail(c, rc, "revoke token", err);
        goto out;
    }
    if (sqlite3_changes(c->db) == 0) {
        rc = idf_err_set(err, IDF_ENOTFOUND, "store: no token named %s", name);
        goto out;
    }
    rc = audit(c, actor, "token.revoke", name, force ? "{\"force\":true}" : NULL, err);
    if (rc == 0)
        rc = store__sq_commit(c, err);
out:
    sqlite3_finalize(st);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

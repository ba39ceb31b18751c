/* sqlite_connections.c — the SQLite backend's removal of a connection (the
 * rest of the connections table, put/get/list, is in sqlite_conn.c).
 *
 * A delete and its audit record ("connection.delete", target
 * "connection:<name>", detail {"kind"}) are one transaction: either the row
 * is gone and the removal is recorded, or neither. The sealed blob goes with
 * the row; nothing of it is read or copied.
 *
 * The statement is prepared per call (a rare administrative write), so this
 * file needs no statement-cache slot. The caller's thread owns the
 * connection. */
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

int store__sq_connection_delete(struct store *s, const char *name, const char *actor, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    char target[STORE__NAME_MAX + 16];
    char *detail = NULL;
    bool oom = false;
    char *kind = NULL;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        return rc;
    rc = sqlite3_prepare_v2(c->db, "DELETE FROM connections WHERE name = ?1 RETURNING kind", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        st = NULL;
        rc = store__sq_fail(c, rc, "prepare", err);
        goto out;
    }
    store__sq_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = idf_err_set(err, IDF_ENOTFOUND, "store: no connection named %s", name);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        rc = store__sq_fail(c, rc, "delete connection", err);
        goto out;
    }
    kind = store__sq_col_dup(st, 0, &oom);
    detail = kind ? store__detail("kind", kind) : NULL;
    if (!detail) {
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = store__sq_fail(c, rc, "delete connection", err);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;

    snprintf(target, sizeof target, "connection:%s", name);
    rc = store__sq_audit(c, time_now_ms(), actor, "connection.delete", target, detail, err);
    if (rc == 0)
        rc = store__sq_commit(c, err);
out:
    sqlite3_finalize(st); /* only the uncached DELETE is still held here */
    free(kind);
    free(detail);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

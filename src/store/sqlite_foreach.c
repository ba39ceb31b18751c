/* sqlite_foreach.c — the SQLite backend's foreach state: the items of the
 * foreach step a run is in, and the result each item contributed (store.h,
 * "foreach state"; table foreach_items, migration 3).
 *
 * Why a table: a run's context used to carry the items and every output so
 * far, and every item's commit rewrote it, so a foreach over N items wrote
 * O(N^2) bytes. Here the items are written once, when the step begins (one
 * row each), an item's commit updates only its own row (in the transaction
 * of store_step_commit), and the outputs array is assembled once, when the
 * step ends; the step's rows are then deleted in the transaction that puts
 * the array into the context (store_run_next.foreach_clear).
 *
 * Invariants: rows exist only for the step a run is in (at most one foreach
 * step per run is begun and not ended); item numbers of a step are 0..n-1;
 * `result` is NULL until the item's outcome is committed. The texts are JSON
 * written by the engine and never parsed here: the outputs array is their
 * concatenation. The history (steps table) is not involved: results are not
 * redacted and are never listed.
 *
 * Callers: worker threads (through store.c), each on its own connection;
 * store__sq_foreach_result/_clear/_copy run inside a transaction opened by
 * sqlite_runs.c or sqlite_admin.c. */
#include "store/sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* Deletes every stored item of the run (inside the caller's transaction). */
int store__sq_foreach_clear(struct store__sq *c, int64_t run_id, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_FE_CLEAR, "DELETE FROM foreach_items WHERE run_id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    rc = sqlite3_step(st);
    store__sq_done(st);
    return rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "clear foreach items", err);
}

int store__sq_foreach_result(struct store__sq *c, int64_t run_id, const struct store_step_rec *step,
                             struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(
        c, SQ_FE_RESULT, "UPDATE foreach_items SET result = ?4 WHERE run_id = ?1 AND idx = ?2 AND item = ?3", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int(st, 2, step->index);
    sqlite3_bind_int(st, 3, step->item);
    store__sq_bind_text(st, 4, step->result);
    rc = sqlite3_step(st);
    store__sq_done(st);
    if (rc != SQLITE_DONE)
        return store__sq_fail(c, rc, "save foreach result", err);
    if (sqlite3_changes(c->db) != 1)
        return idf_err_set(err, IDF_ESTATE, "store: run %lld: item %d of step %d was not begun as a foreach item",
                           (long long)run_id, step->item, step->index);
    return 0;
}

int store__sq_foreach_copy(struct store__sq *c, int64_t from_run, int64_t to_run, struct idf_err *err)
{
    return store__sq_copy_run_rows(c, SQ_FE_COPY,
                                   "INSERT INTO foreach_items (run_id, idx, item, value, result) "
                                   "SELECT ?2, idx, item, value, result FROM foreach_items WHERE run_id = ?1",
                                   from_run, to_run, "copy foreach items", err);
}

int store__sq_foreach_begin(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int index,
                            const char *const *items, size_t n, const char *const *results, size_t n_results,
                            const struct store_run_next *next, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        return rc;
    rc = store__sq_check_lease(c, run_id, owner, err);
    if (rc == 0)
        rc = store__sq_foreach_clear(c, run_id, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = store__sq_prep(c, SQ_FE_INSERT,
                            "INSERT INTO foreach_items (run_id, idx, item, value, result) VALUES (?1, ?2, ?3, ?4, ?5)",
                            &st, err);
        if (rc)
            break;
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int(st, 2, index);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
        store__sq_bind_text(st, 4, items[i]);
        store__sq_bind_text(st, 5, i < n_results ? results[i] : NULL);
        rc = sqlite3_step(st);
        store__sq_done(st);
        rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "save foreach items", err);
    }
    if (rc == 0)
        rc = store__sq_advance_run(c, run_id, now_ms, next, err);
    if (rc == 0)
        rc = store__sq_commit(c, err);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_foreach_item(struct store *s, int64_t run_id, int index, int item, char **item_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    bool oom = false;
    char *v = NULL;
    int rc;

    rc = store__sq_prep(c, SQ_FE_ITEM, "SELECT value FROM foreach_items WHERE run_id = ?1 AND idx = ?2 AND item = ?3",
                        &st, NULL);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int(st, 2, index);
    sqlite3_bind_int(st, 3, item);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        v = store__sq_col_dup(st, 0, &oom);
        rc = oom ? IDF_ENOMEM : v ? 0 : IDF_EDB;
    } else {
        rc = rc == SQLITE_DONE ? IDF_ENOTFOUND : store__sq_fail(c, rc, "read foreach item", NULL);
    }
    store__sq_done(st);
    if (rc)
        free(v);
    else
        *item_out = v;
    return rc;
}

int store__sq_foreach_outputs(struct store *s, int64_t run_id, int index, char **json_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    struct buf b;
    bool first = true;
    int rc;

    buf_init(&b, STORE__TEXT_MAX);
    rc = store__sq_prep(c, SQ_FE_OUTPUTS,
                        "SELECT result FROM foreach_items WHERE run_id = ?1 AND idx = ?2 ORDER BY item", &st, NULL);
    if (rc)
        goto out;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int(st, 2, index);
    rc = buf_puts(&b, "[");
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *t = sqlite3_column_blob(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        rc = first ? 0 : buf_puts(&b, ",");
        first = false;
        if (rc == 0)
            rc = t ? buf_append(&b, t, (size_t)n) : buf_puts(&b, "null");
    }
    if (rc == SQLITE_DONE)
        rc = buf_puts(&b, "]");
    else if (rc > 0)
        rc = store__sq_fail(c, rc, "read foreach results", NULL);
out:
    store__sq_done(st);
    if (rc == 0) {
        *json_out = buf_take(&b);
        rc = *json_out ? 0 : IDF_ENOMEM;
    }
    buf_free(&b);
    return rc;
}

/* postgres_foreach.c — the PostgreSQL backend's foreach state: the items of
 * the foreach step a run is in, and the result each item contributed
 * (store.h, "foreach state"; table foreach_items). The rules are
 * sqlite_foreach.c's: items written once when the step begins, an item's
 * commit updates its own row, the outputs array is assembled once when the
 * step ends, and the rows go in the transaction that ends the step.
 *
 * Items cross as text[] literals (store__pg_array_elem) unnested by one
 * INSERT per batch: a batch holds at most FE_BATCH_ITEMS items and stops
 * growing past FE_BATCH_BYTES of literal (one item alone may exceed it: a
 * JSON text is at most STORE__TEXT_MAX, twice that escaped), so a step of
 * STORE_FOREACH_MAX items costs a few hundred statements, not a million, and
 * no statement nears libpq's or the server's limits. The outputs array is
 * built by the server (string_agg in item order) and refused past
 * STORE__TEXT_MAX (IDF_ETOOBIG), as SQLite's buffer cap does.
 *
 * The texts are JSON written by the engine and never parsed here.
 *
 * Callers: worker threads (through store.c), each on its own connection;
 * store__pg_foreach_result/_clear run inside a step commit's transaction
 * (postgres_runs.c); a rerun copies the state in its own (postgres_admin.c). */
#include "store/postgres_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define FE_BATCH_ITEMS 10000u     /* items in one INSERT */
#define FE_BATCH_BYTES (8u << 20) /* literal bytes after which a batch is sent */

int store__pg_array_elem(struct buf *b, const char *v, bool first)
{
    int rc = first ? 0 : buf_puts(b, ",");
    const char *s, *run;

    if (rc || !v)
        return rc ? rc : buf_puts(b, "NULL");
    rc = buf_puts(b, "\"");
    for (s = run = v; rc == 0 && *s; s++) {
        if (*s != '"' && *s != '\\')
            continue;
        rc = buf_append(b, run, (size_t)(s - run));
        if (rc == 0)
            rc = buf_append(b, "\\", 1);
        run = s; /* the quote or backslash itself goes with the next run */
    }
    if (rc == 0)
        rc = buf_append(b, run, (size_t)(s - run));
    return rc ? rc : buf_puts(b, "\"");
}

int store__pg_foreach_clear(struct store__pg *c, int64_t run_id, struct idf_err *err)
{
    char b_id[STORE__PG_INT_LEN];
    const char *p[1] = {store__pg_i64(b_id, run_id)};
    return store__pg_exec(c, "clear foreach items", "DELETE FROM foreach_items WHERE run_id = $1::bigint", 1, p, NULL,
                          err);
}

int store__pg_foreach_result(struct store__pg *c, int64_t run_id, const struct store_step_rec *step,
                             struct idf_err *err)
{
    char b_id[STORE__PG_INT_LEN], b_idx[STORE__PG_INT_LEN], b_item[STORE__PG_INT_LEN];
    const char *p[4] = {store__pg_i64(b_id, run_id), store__pg_i64(b_idx, step->index),
                        store__pg_i64(b_item, step->item), step->result};
    PGresult *res = NULL;
    int rc = store__pg_exec(c, "save foreach result",
                            "UPDATE foreach_items SET result = $4::text WHERE run_id = $1::bigint AND idx = $2::int "
                            "AND item = $3::int",
                            4, p, &res, err);
    if (rc == 0 && strcmp(PQcmdTuples(res), "1") != 0)
        rc = idf_err_set(err, IDF_ESTATE, "store: run %lld: item %d of step %d was not begun as a foreach item",
                         (long long)run_id, step->item, step->index);
    PQclear(res);
    return rc;
}

/* Inserts the batch in vals/ress (text[] literals without their closing
 * brace) as items first.. of step index, and empties the buffers. */
static int flush_batch(struct store__pg *c, int64_t run_id, int index, size_t first, struct buf *vals, struct buf *ress,
                       struct idf_err *err)
{
    char b_id[STORE__PG_INT_LEN], b_idx[STORE__PG_INT_LEN], b_first[STORE__PG_INT_LEN];
    int rc = buf_puts(vals, "}");
    if (rc == 0)
        rc = buf_puts(ress, "}");
    if (rc)
        return idf_err_set(err, rc, "store: foreach items: cannot batch the items");
    {
        const char *p[5] = {store__pg_i64(b_id, run_id), store__pg_i64(b_idx, index),
                            store__pg_i64(b_first, (int64_t)first), vals->data, ress->data};
        rc = store__pg_exec(c, "save foreach items",
                            "INSERT INTO foreach_items (run_id, idx, item, value, result) "
                            "SELECT $1::bigint, $2::int, $3::int + (t.k - 1)::int, t.v, t.r "
                            "FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS t(v, r, k)",
                            5, p, NULL, err);
    }
    buf_reset(vals);
    buf_reset(ress);
    return rc;
}

int store__pg_foreach_begin(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int index,
                            const char *const *items, size_t n, const char *const *results, size_t n_results,
                            const struct store_run_next *next, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    const size_t cap = FE_BATCH_BYTES + 2 * (size_t)STORE__TEXT_MAX + 16; /* one item alone, escaped, fits */
    struct buf vals, ress;
    size_t first = 0, in_batch = 0;
    int rc;

    buf_init(&vals, cap);
    buf_init(&ress, cap);
    rc = store__pg_begin(c, err);
    if (rc)
        goto out;
    rc = store__pg_check_lease(c, run_id, owner, NULL, err);
    if (rc == 0)
        rc = store__pg_foreach_clear(c, run_id, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (in_batch == 0)
            rc = buf_puts(&vals, "{");
        if (rc == 0 && in_batch == 0)
            rc = buf_puts(&ress, "{");
        if (rc == 0)
            rc = store__pg_array_elem(&vals, items[i], in_batch == 0);
        if (rc == 0)
            rc = store__pg_array_elem(&ress, i < n_results ? results[i] : NULL, in_batch == 0);
        if (rc) {
            rc = idf_err_set(err, rc, "store: foreach items: cannot batch the items");
            break;
        }
        in_batch++;
        if (in_batch == FE_BATCH_ITEMS || vals.len + ress.len >= FE_BATCH_BYTES || i + 1 == n) {
            rc = flush_batch(c, run_id, index, first, &vals, &ress, err);
            first = i + 1;
            in_batch = 0;
        }
    }
    if (rc == 0)
        rc = store__pg_advance_run(c, run_id, now_ms, next, err);
    if (rc == 0)
        rc = store__pg_commit(c, err);
out:
    if (rc)
        store__pg_rollback(c);
    buf_free(&vals);
    buf_free(&ress);
    return rc;
}

int store__pg_foreach_item(struct store *s, int64_t run_id, int index, int item, char **item_out)
{
    char b_id[STORE__PG_INT_LEN], b_idx[STORE__PG_INT_LEN], b_item[STORE__PG_INT_LEN];
    const char *p[3] = {store__pg_i64(b_id, run_id), store__pg_i64(b_idx, index), store__pg_i64(b_item, item)};
    PGresult *res = NULL;
    bool oom = false;
    char *v = NULL;
    int rc = store__pg_exec(store__pg(s), "read foreach item",
                            "SELECT value FROM foreach_items WHERE run_id = $1::bigint AND idx = $2::int "
                            "AND item = $3::int",
                            3, p, &res, NULL);
    if (rc)
        goto out;
    if (PQntuples(res) != 1) {
        rc = IDF_ENOTFOUND;
        goto out;
    }
    v = store__pg_get_dup(res, 0, 0, &oom);
    rc = oom ? IDF_ENOMEM : v ? 0 : IDF_EDB;
out:
    PQclear(res);
    if (rc)
        free(v);
    else
        *item_out = v;
    return rc;
}

int store__pg_foreach_outputs(struct store *s, int64_t run_id, int index, char **json_out)
{
    char b_id[STORE__PG_INT_LEN], b_idx[STORE__PG_INT_LEN];
    const char *p[2] = {store__pg_i64(b_id, run_id), store__pg_i64(b_idx, index)};
    PGresult *res = NULL;
    bool oom = false;
    char *v = NULL;
    int rc =
        store__pg_exec(store__pg(s), "read foreach results",
                       "SELECT '[' || coalesce(string_agg(coalesce(result, 'null'), ',' ORDER BY item), '') || ']' "
                       "FROM foreach_items WHERE run_id = $1::bigint AND idx = $2::int",
                       2, p, &res, NULL);
    if (rc)
        goto out;
    if (PQntuples(res) != 1 || store__pg_is_null(res, 0, 0)) {
        rc = IDF_EDB;
        goto out;
    }
    if ((size_t)PQgetlength(res, 0, 0) > STORE__TEXT_MAX) { /* what a JSON text of the store may be */
        rc = IDF_ETOOBIG;
        goto out;
    }
    v = store__pg_get_dup(res, 0, 0, &oom);
    rc = oom ? IDF_ENOMEM : 0;
out:
    PQclear(res);
    if (rc)
        free(v);
    else
        *json_out = v;
    return rc;
}

/* postgres_replay.c — the PostgreSQL side of the replay reads (store.h,
 * "replay"; issue 19): the events of a window, and the runs of one workflow
 * an event started. Reads only, each one statement outside a transaction.
 * The connection's thread only. */
#include <libpq-fe.h>

#include "store/postgres_internal.h"

/* By the primary key from after_id: the window's first page may scan the
 * older events once (no index on received_at). */
int store__pg_event_list(struct store *s, int64_t since_ms, int64_t after_id, int limit, struct store_event **rows_out,
                         size_t *n_out)
{
    char b_since[STORE__PG_INT_LEN], b_after[STORE__PG_INT_LEN], b_limit[STORE__PG_INT_LEN];
    const char *p[3] = {store__pg_i64(b_since, since_ms), store__pg_i64(b_after, after_id),
                        store__pg_i64(b_limit, limit)};
    void *rows = NULL;
    int rc = store__pg_list(store__pg(s), "list events",
                            "SELECT " STORE__PG_EVENT_COLUMNS
                            " FROM events WHERE id > $2::bigint AND received_at >= $1::bigint ORDER BY id "
                            "LIMIT $3::integer",
                            3, p, false, store__pg_event_row, store__event_clear, sizeof **rows_out, &rows, n_out);

    *rows_out = rows;
    return rc;
}

static int run_row(const PGresult *res, int i, void *row)
{
    struct store_run *r = row;
    bool oom = false;

    r->id = store__pg_get_i64(res, i, 0);
    r->workflow = store__pg_get_dup(res, i, 1, &oom);
    r->version = store__pg_get_i64(res, i, 2);
    r->event_id = store__pg_get_i64(res, i, 3);
    r->status = store__pg_get_dup(res, i, 4, &oom);
    r->error = store__pg_get_dup(res, i, 5, &oom);
    r->created_at = store__pg_get_i64(res, i, 6);
    r->finished_at = store__pg_get_i64(res, i, 7);
    r->rerun_of = store__pg_get_i64(res, i, 8);
    return oom ? IDF_ENOMEM : 0;
}

int store__pg_event_runs(struct store *s, int64_t event_id, const char *workflow, struct store_run **rows_out,
                         size_t *n_out)
{
    char b_id[STORE__PG_INT_LEN], b_limit[STORE__PG_INT_LEN];
    const char *p[3] = {store__pg_i64(b_id, event_id), workflow, store__pg_i64(b_limit, STORE_LIST_MAX)};
    void *rows = NULL;
    int rc = store__pg_list(store__pg(s), "list the runs of an event",
                            "SELECT id, workflow, version, event_id, status, error, created_at, finished_at, "
                            "rerun_of FROM runs WHERE event_id = $1::bigint AND workflow = $2::text ORDER BY id "
                            "LIMIT $3::integer",
                            3, p, false, run_row, store__run_clear, sizeof **rows_out, &rows, n_out);

    *rows_out = rows;
    return rc;
}

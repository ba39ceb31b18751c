/* sqlite_replay.c — the SQLite side of the replay reads (store.h,
 * "replay"; issue 19): the events of a window, and the runs of one workflow
 * an event started. Reads only, each one statement outside a transaction.
 * The connection's thread only. */
#include <sqlite3.h>

#include "store/sqlite_internal.h"

struct window {
    int64_t since, after;
    int limit;
};

static void bind_window(sqlite3_stmt *st, const void *arg)
{
    const struct window *w = arg;
    sqlite3_bind_int64(st, 1, w->since);
    sqlite3_bind_int64(st, 2, w->after);
    sqlite3_bind_int(st, 3, w->limit);
}

/* By rowid from after_id: the window's first page scans the older events
 * once (no index on received_at), later pages start at their id. */
int store__sq_event_list(struct store *s, int64_t since_ms, int64_t after_id, int limit, struct store_event **rows_out,
                         size_t *n_out)
{
    struct window w = {since_ms, after_id, limit};
    void *rows = NULL;
    int rc = store__sq_list(
        store__sq(s), SQ_REPLAY_EVENTS,
        "SELECT " STORE__EVENT_COLUMNS " FROM events WHERE id > ?2 AND received_at >= ?1 ORDER BY id LIMIT ?3",
        bind_window, &w, store__sq_event_row, store__event_clear, sizeof **rows_out, &rows, n_out, "list events");

    *rows_out = rows;
    return rc;
}

struct event_wf {
    int64_t event_id;
    const char *workflow;
};

static void bind_event_wf(sqlite3_stmt *st, const void *arg)
{
    const struct event_wf *a = arg;
    sqlite3_bind_int64(st, 1, a->event_id);
    store__sq_bind_text(st, 2, a->workflow);
    sqlite3_bind_int(st, 3, STORE_LIST_MAX);
}

static int run_row(sqlite3_stmt *st, void *row)
{
    struct store_run *r = row;
    bool oom = false;

    r->id = sqlite3_column_int64(st, 0);
    r->workflow = store__sq_col_dup(st, 1, &oom);
    r->version = sqlite3_column_int64(st, 2);
    r->event_id = sqlite3_column_int64(st, 3);
    r->status = store__sq_col_dup(st, 4, &oom);
    r->error = store__sq_col_dup(st, 5, &oom);
    r->created_at = sqlite3_column_int64(st, 6);
    r->finished_at = sqlite3_column_int64(st, 7);
    r->rerun_of = sqlite3_column_int64(st, 8);
    return oom ? IDF_ENOMEM : 0;
}

int store__sq_event_runs(struct store *s, int64_t event_id, const char *workflow, struct store_run **rows_out,
                         size_t *n_out)
{
    struct event_wf a = {event_id, workflow};
    void *rows = NULL;
    int rc = store__sq_list(store__sq(s), SQ_REPLAY_RUNS,
                            "SELECT id, workflow, version, event_id, status, error, created_at, "
                            "finished_at, rerun_of FROM runs "
                            "WHERE event_id = ?1 AND workflow = ?2 ORDER BY id LIMIT ?3",
                            bind_event_wf, &a, run_row, store__run_clear, sizeof **rows_out, &rows, n_out,
                            "list the runs of an event");

    *rows_out = rows;
    return rc;
}

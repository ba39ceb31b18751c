/* postgres_lists.c — the PostgreSQL backend's list and get ops that return
 * typed rows (store.h): workflows, one event, runs, a run's steps, run
 * counts, pending approvals, audit, connections and API tokens. The same
 * queries, order, limits and NULL handling as the SQLite backend's
 * (sqlite_events.c, sqlite_runs.c, sqlite_admin.c, sqlite_conn.c,
 * sqlite_tokens.c).
 *
 * Every list goes through one loop, pg_list: it runs the statement, grows an
 * array of row_size-byte rows and fills each zeroed row from the result with
 * the list's row function; on any failure it clears the rows filled with the
 * store__*_clear function of store_internal.h, frees the array and leaves
 * *rows_out NULL and *n_out 0 (the contract of store_ops' list ops). JSON
 * columns (event data, step input/output/error, audit detail, connection
 * config) are copied as the text stored, never parsed; rendering is
 * api/render.c's. A NULL integer column reads as 0, as in SQLite.
 *
 * Reads only: no transaction is opened (each statement sees one snapshot,
 * READ COMMITTED). Callers: any thread, each on its own connection. */
#include "store/postgres_internal.h"

#include <stdlib.h>
#include <string.h>

#define PG_LIST_FIRST 16 /* rows of a list's first allocation (then doubled) */

int store__pg_list(struct store__pg *c, const char *what, const char *sql, int n, const char *const *params, bool once,
                   store__pg_row_fn row_fn, void (*clear)(void *row), size_t row_size, void **rows_out, size_t *n_out)
{
    PGresult *res = NULL;
    char *rows = NULL;
    size_t nrows = 0, cap = 0;
    int rc;

    store__pg_check_thread(c, what);
    rc = once ? store__pg_exec_once(c, what, sql, n, params, &res, NULL)
              : store__pg_exec(c, what, sql, n, params, &res, NULL);
    if (rc)
        goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        if (nrows == cap) {
            size_t ncap = cap ? cap * 2 : PG_LIST_FIRST;
            char *grown = ncap > SIZE_MAX / row_size ? NULL : realloc(rows, ncap * row_size);
            if (!grown) {
                rc = IDF_ENOMEM;
                goto out;
            }
            rows = grown;
            cap = ncap;
        }
        memset(rows + nrows * row_size, 0, row_size);
        rc = row_fn(res, i, rows + nrows * row_size);
        if (rc) {
            clear(rows + nrows * row_size);
            goto out;
        }
        nrows++;
    }
out:
    PQclear(res);
    if (rc) {
        for (size_t i = 0; i < nrows; i++)
            clear(rows + i * row_size);
        free(rows);
        return rc;
    }
    if (!nrows) {
        free(rows);
        rows = NULL;
    }
    *rows_out = rows;
    *n_out = nrows;
    return 0;
}

/* ------------------------------------------------------------ workflows */

static int workflow_row(const PGresult *res, int i, void *row)
{
    struct store_workflow_info *w = row;
    bool oom = false;

    w->name = store__pg_get_dup(res, i, 0, &oom);
    w->version = store__pg_get_i64(res, i, 1);
    w->enabled = store__pg_get_i64(res, i, 2) != 0;
    w->hash = store__pg_get_dup(res, i, 3, &oom);
    w->updated_at = store__pg_get_i64(res, i, 4);
    return oom ? IDF_ENOMEM : 0;
}

int store__pg_workflow_list(struct store *s, struct store_workflow_info **rows_out, size_t *n_out)
{
    void *rows = NULL;
    /* ORDER BY name COLLATE "C": byte order, as SQLite's BINARY collation,
     * whatever the database's locale. */
    int rc = store__pg_list(store__pg(s), "list workflows",
                            "SELECT w.name, w.version, s.enabled, w.hash, s.updated_at FROM workflow_state s "
                            "JOIN workflows w ON w.name = s.name "
                            "AND w.version = (SELECT max(version) FROM workflows WHERE name = s.name) "
                            "ORDER BY s.name COLLATE \"C\"",
                            0, NULL, false, workflow_row, store__workflow_info_clear, sizeof **rows_out, &rows, n_out);

    *rows_out = rows;
    return rc;
}

/* (helper "inputs") max(id) of one workflow: the last entry of its part of
 * runs_workflow (workflow, id). */
static int last_run_row(const PGresult *res, int i, void *row)
{
    struct store_last_run *r = row;
    bool oom = false;

    r->workflow = store__pg_get_dup(res, i, 0, &oom);
    r->id = store__pg_get_i64(res, i, 1);
    r->status = store__pg_get_dup(res, i, 2, &oom);
    r->created_at = store__pg_get_i64(res, i, 3);
    return oom ? IDF_ENOMEM : 0;
}

int store__pg_workflow_last_runs(struct store *s, struct store_last_run **rows_out, size_t *n_out)
{
    void *rows = NULL;
    int rc = store__pg_list(store__pg(s), "list the workflows' last runs",
                            "SELECT s.name, r.id, r.status, r.created_at FROM workflow_state s "
                            "JOIN runs r ON r.id = (SELECT max(id) FROM runs WHERE workflow = s.name) "
                            "ORDER BY s.name COLLATE \"C\"",
                            0, NULL, false, last_run_row, store__last_run_clear, sizeof **rows_out, &rows, n_out);

    *rows_out = rows;
    return rc;
}

/* --------------------------------------------------------------- events */

static int hex_digit(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

int store__pg_get_data(const PGresult *r, int row, int col, char **out)
{
    const char *v;
    size_t n, half;
    unsigned char *bytes = NULL;
    bool oom = false;
    int rc = 0;

    *out = NULL;
    if (PQgetisnull(r, row, col))
        return 0;
    v = PQgetvalue(r, row, col);
    n = (size_t)PQgetlength(r, row, col);
    if (n >= 1 && v[0] == 't') {
        *out = store__pg_get_dup(r, row, col, &oom);
        if (*out)
            memmove(*out, *out + 1, n); /* the tag off, the NUL moved along */
        return oom ? IDF_ENOMEM : 0;
    }
    if (n < 1 || v[0] != 'z' || (n - 1) % 2 != 0)
        return IDF_EDB;
    half = (n - 1) / 2;
    bytes = malloc(half ? half : 1);
    if (!bytes)
        return IDF_ENOMEM;
    for (size_t i = 0; i < half && rc == 0; i++) {
        int hi = hex_digit(v[1 + 2 * i]), lo = hex_digit(v[2 + 2 * i]);
        if (hi < 0 || lo < 0)
            rc = IDF_EDB;
        bytes[i] = (unsigned char)(hi << 4 | lo);
    }
    if (rc == 0)
        rc = store__unpack(bytes, half, out);
    free(bytes);
    return rc;
}

/* One event row of a result with the columns STORE__PG_EVENT_COLUMNS (row i):
 * for store__pg_event_get and the replay's list. */
int store__pg_event_row(const PGresult *res, int i, void *row)
{
    struct store_event *ev = row;
    bool oom = false;
    int rc;

    ev->id = store__pg_get_i64(res, i, 0);
    ev->source = store__pg_get_dup(res, i, 1, &oom);
    ev->source_id = store__pg_get_dup(res, i, 2, &oom);
    ev->type = store__pg_get_dup(res, i, 3, &oom);
    ev->connection = store__pg_get_dup(res, i, 4, &oom);
    ev->received_at = store__pg_get_i64(res, i, 5);
    rc = store__pg_get_data(res, i, 6, &ev->data);
    switch (store__pg_get_i64(res, i, 7)) {
    case STORE_EVENT_MATCH: ev->stage = STORE_EVENT_MATCH; break;
    case STORE_EVENT_EXPAND: ev->stage = STORE_EVENT_EXPAND; break;
    default: ev->stage = STORE_EVENT_DONE; break;
    }
    ev->tries = (int)store__pg_get_i64(res, i, 8);
    ev->note = store__pg_get_dup(res, i, 9, &oom);
    return oom ? IDF_ENOMEM : rc;
}

int store__pg_event_get(struct store *s, int64_t id, struct store_event **out)
{
    struct store__pg *c = store__pg(s);
    char b_id[STORE__PG_INT_LEN];
    const char *p[1] = {store__pg_i64(b_id, id)};
    struct store_event *ev = NULL;
    PGresult *res = NULL;
    int rc;

    rc = store__pg_exec(c, "read event", "SELECT " STORE__PG_EVENT_COLUMNS " FROM events WHERE id = $1::bigint", 1, p,
                        &res, NULL);
    if (rc)
        goto out;
    if (PQntuples(res) != 1) {
        rc = IDF_ENOTFOUND;
        goto out;
    }
    if (!(ev = calloc(1, sizeof *ev))) {
        rc = IDF_ENOMEM;
        goto out;
    }
    rc = store__pg_event_row(res, 0, ev);
out:
    PQclear(res);
    if (rc)
        store_event_free(ev);
    else
        *out = ev;
    return rc;
}

/* ----------------------------------------------------------------- runs */

/* (the run list: postgres_subjects.c) */

static int step_row(const PGresult *res, int i, void *row)
{
    struct store_step *sp = row;
    bool oom = false;

    sp->index = (int)store__pg_get_i64(res, i, 0);
    sp->step_id = store__pg_get_dup(res, i, 1, &oom);
    sp->item = (int)store__pg_get_i64(res, i, 2);
    sp->status = store__pg_get_dup(res, i, 3, &oom);
    sp->attempts = (int)store__pg_get_i64(res, i, 4);
    sp->input = store__pg_get_dup(res, i, 5, &oom);
    sp->output = store__pg_get_dup(res, i, 6, &oom);
    sp->error = store__pg_get_dup(res, i, 7, &oom);
    sp->started_at = store__pg_get_i64(res, i, 8);
    sp->finished_at = store__pg_get_i64(res, i, 9);
    sp->change = store__pg_get_dup(res, i, 10, &oom); /* issue 17 */
    return oom ? IDF_ENOMEM : 0;
}

int store__pg_step_list(struct store *s, int64_t run_id, struct store_step **rows_out, size_t *n_out)
{
    char b_id[STORE__PG_INT_LEN];
    const char *p[1] = {store__pg_i64(b_id, run_id)};
    void *rows = NULL;
    int rc =
        store__pg_list(store__pg(s), "list steps",
                       "SELECT idx, step_id, item, status, attempts, input, output, error, started_at, finished_at, "
                       "change FROM steps WHERE run_id = $1::bigint ORDER BY idx, item",
                       1, p, false, step_row, store__step_clear, sizeof **rows_out, &rows, n_out);

    *rows_out = rows;
    return rc;
}

int store__pg_run_counts(struct store *s, struct store_run_counts *out)
{
    struct store__pg *c = store__pg(s);
    PGresult *res = NULL;
    int rc;

    /* No counter table (postgres_migrations.c: it would serialize every
     * writer): one statement, one snapshot. The live statuses are counted
     * through their partial indexes (runs_queued_wf, runs_running,
     * runs_waiting); the finished ones through runs_status, which grows with
     * the history (docs/internals/store.md has the figures). */
    rc = store__pg_exec(c, "count runs",
                        "SELECT (SELECT count(*) FROM runs WHERE status = 'queued'), "
                        "(SELECT count(*) FROM runs WHERE status = 'running'), "
                        "(SELECT count(*) FROM runs WHERE status = 'waiting'), "
                        "(SELECT count(*) FROM runs WHERE status = 'succeeded'), "
                        "(SELECT count(*) FROM runs WHERE status = 'failed'), "
                        "(SELECT count(*) FROM runs WHERE status = 'cancelled'), "
                        "(SELECT count(*) FROM runs WHERE status = 'held')",
                        0, NULL, &res, NULL);
    if (rc)
        goto out;
    if (PQntuples(res) != 1 || PQnfields(res) != 7) {
        rc = IDF_EDB;
        goto out;
    }
    out->queued = store__pg_get_i64(res, 0, 0);
    out->running = store__pg_get_i64(res, 0, 1);
    out->waiting = store__pg_get_i64(res, 0, 2);
    out->succeeded = store__pg_get_i64(res, 0, 3);
    out->failed = store__pg_get_i64(res, 0, 4);
    out->cancelled = store__pg_get_i64(res, 0, 5);
    out->held = store__pg_get_i64(res, 0, 6);
out:
    PQclear(res);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

/* ------------------------------------------------------------ approvals */

static int approval_row(const PGresult *res, int i, void *row)
{
    struct store_approval *a = row;
    bool oom = false;

    a->run_id = store__pg_get_i64(res, i, 0);
    a->step_id = store__pg_get_dup(res, i, 1, &oom);
    a->workflow = store__pg_get_dup(res, i, 2, &oom);
    a->message = store__pg_get_dup(res, i, 3, &oom);
    a->created_at = store__pg_get_i64(res, i, 4);
    a->hold = PQgetisnull(res, i, 5) ? NULL : store__pg_get_dup(res, i, 5, &oom); /* issue 19 */
    return oom ? IDF_ENOMEM : 0;
}

int store__pg_approval_list(struct store *s, struct store_approval **rows_out, size_t *n_out)
{
    char b_max[STORE__PG_INT_LEN];
    const char *p[1] = {store__pg_i64(b_max, STORE_LIST_MAX)};
    void *rows = NULL;
    /* Only approvals a decision can still act on: the run is waiting (held, for a guardrail hold). */
    int rc = store__pg_list(store__pg(s), "list approvals",
                            "SELECT a.run_id, a.step_id, r.workflow, a.message, a.created_at, a.hold FROM approvals a "
                            "JOIN runs r ON r.id = a.run_id WHERE a.status = 'pending' AND "
                            "r.status = CASE WHEN a.hold IS NULL THEN 'waiting' ELSE 'held' END "
                            "ORDER BY a.created_at, a.run_id LIMIT $1::integer",
                            1, p, false, approval_row, store__approval_clear, sizeof **rows_out, &rows, n_out);

    *rows_out = rows;
    return rc;
}

/* Issue 17 ("approvals-reruns"): one approval of a run with its decision. */
static int run_approval_row(const PGresult *res, int i, void *row)
{
    struct store_approval *a = row;
    bool oom = approval_row(res, i, row) != 0; /* columns 0-5 as a pending one's */

    a->status = store__pg_get_dup(res, i, 6, &oom);
    a->actor = store__pg_get_dup(res, i, 7, &oom);
    a->comment = store__pg_get_dup(res, i, 8, &oom);
    a->decided_at = store__pg_get_i64(res, i, 9);
    return oom ? IDF_ENOMEM : 0;
}

int store__pg_run_approvals(struct store *s, int64_t run_id, struct store_approval **rows_out, size_t *n_out)
{
    char b_id[STORE__PG_INT_LEN];
    const char *p[1] = {store__pg_i64(b_id, run_id)};
    void *rows = NULL;
    int rc =
        store__pg_list(store__pg(s), "list a run's approvals",
                       "SELECT a.run_id, a.step_id, r.workflow, a.message, a.created_at, a.hold, a.status, a.actor, "
                       "a.comment, coalesce(a.decided_at, 0) FROM approvals a JOIN runs r ON r.id = a.run_id "
                       "WHERE a.run_id = $1::bigint ORDER BY a.created_at, a.step_id",
                       1, p, false, run_approval_row, store__approval_clear, sizeof **rows_out, &rows, n_out);

    *rows_out = rows;
    return rc;
}

/* Issue 19: the runs held at connection's guardrail. */
int store__pg_guard_held(struct store *s, const char *connection, int64_t *n_out)
{
    PGresult *res = NULL;
    const char *p[1] = {connection};
    int rc = store__pg_exec(store__pg(s), "count held runs",
                            "SELECT count(*) FROM approvals a JOIN runs r ON r.id = a.run_id "
                            "WHERE a.hold = $1::text AND a.status = 'pending' AND r.status = 'held'",
                            1, p, &res, NULL);
    if (rc == 0)
        *n_out = store__pg_get_i64(res, 0, 0);
    PQclear(res);
    return rc;
}

/* ---------------------------------------------------------------- audit */

static int audit_row(const PGresult *res, int i, void *row)
{
    struct store_audit *a = row;
    bool oom = false;

    a->id = store__pg_get_i64(res, i, 0);
    a->at = store__pg_get_i64(res, i, 1);
    a->actor = store__pg_get_dup(res, i, 2, &oom);
    a->action = store__pg_get_dup(res, i, 3, &oom);
    a->target = store__pg_get_dup(res, i, 4, &oom);
    a->detail = store__pg_get_dup(res, i, 5, &oom);
    return oom ? IDF_ENOMEM : 0;
}

int store__pg_audit_list(struct store *s, int limit, struct store_audit **rows_out, size_t *n_out)
{
    char b_limit[STORE__PG_INT_LEN];
    const char *p[1] = {store__pg_i64(b_limit, limit)};
    void *rows = NULL;
    int rc =
        store__pg_list(store__pg(s), "list audit",
                       "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT $1::integer", 1,
                       p, false, audit_row, store__audit_clear, sizeof **rows_out, &rows, n_out);

    *rows_out = rows;
    return rc;
}

/* ---------------------------------------------------------- connections */

static int connection_row(const PGresult *res, int i, void *row)
{
    struct store_connection_info *ci = row;
    bool oom = false;

    ci->name = store__pg_get_dup(res, i, 0, &oom);
    ci->kind = store__pg_get_dup(res, i, 1, &oom);
    ci->config = store__pg_get_dup(res, i, 2, &oom);
    ci->created_at = store__pg_get_i64(res, i, 3);
    ci->updated_at = store__pg_get_i64(res, i, 4);
    return oom ? IDF_ENOMEM : 0;
}

int store__pg_connection_list(struct store *s, struct store_connection_info **rows_out, size_t *n_out)
{
    void *rows = NULL;
    /* Never selects `secret`: the sealed blob does not leave through a list. */
    int rc =
        store__pg_list(store__pg(s), "list connections",
                       "SELECT name, kind, config, created_at, updated_at FROM connections ORDER BY name COLLATE \"C\"",
                       0, NULL, false, connection_row, store__connection_info_clear, sizeof **rows_out, &rows, n_out);

    *rows_out = rows;
    return rc;
}

/* --------------------------------------------------------------- tokens */

static int token_row(const PGresult *res, int i, void *row)
{
    struct store_token *t = row;
    bool oom = false;

    t->id = store__pg_get_i64(res, i, 0);
    t->name = store__pg_get_dup(res, i, 1, &oom);
    t->role = store__pg_get_dup(res, i, 2, &oom);
    t->prefix = store__pg_get_dup(res, i, 3, &oom);
    t->created_at = store__pg_get_i64(res, i, 4);
    t->created_by = store__pg_get_dup(res, i, 5, &oom);
    t->expires_at = store__pg_get_i64(res, i, 6);
    t->last_used_at = store__pg_get_i64(res, i, 7);
    return oom ? IDF_ENOMEM : 0;
}

int store__pg_token_list(struct store *s, struct store_token **rows_out, size_t *n_out)
{
    void *rows = NULL;
    /* Never selects `hash`. */
    int rc =
        store__pg_list(store__pg(s), "list tokens",
                       "SELECT id, name, role, prefix, created_at, created_by, expires_at, coalesce(last_used_at, 0) "
                       "FROM tokens ORDER BY name COLLATE \"C\"",
                       0, NULL, false, token_row, store__token_clear, sizeof **rows_out, &rows, n_out);

    *rows_out = rows;
    return rc;
}

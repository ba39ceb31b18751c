/* sqlite_subjects.c — the SQLite backend's run subjects (issue 17,
 * "subjects"): writing a run's subject rows inside the transactions that
 * create runs or commit steps, copying them to a re-run, and the reads that
 * find runs by subject, source and time (the run list and its count), a
 * run's subjects and what runs changed.
 *
 * run_subjects holds one row per (run_id, key) (migration 11): INSERT OR
 * IGNORE keeps the first label written for a key. A list by subject walks
 * the index run_subjects_key (key, run_id) backwards from before_id, so
 * "newest runs of key K" reads only K's rows whatever the history's length;
 * the other filters are checked on each run reached. The statement of a list
 * or a count depends on which filters are set, so it is prepared per call
 * (a few tens of microseconds), not cached. The caller's thread owns the
 * connection. */
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* The label of a run's first subject: its event's, else its first step's. */
#define SUBJECT_COL                                                                                                    \
    "(SELECT x.label FROM run_subjects x WHERE x.run_id = r.id ORDER BY x.step_id IS NOT NULL, x.rowid LIMIT 1)"
/* The newest run re-run from r (the partial index runs_rerun_of). */
#define RERUN_AS_COL "(SELECT max(y.id) FROM runs y WHERE y.rerun_of = r.id AND y.rerun_of > 0)"

/* ------------------------------------------------------------- writing */

int store__sq_subjects_write(struct store__sq *c, int64_t run_id, const struct store_subject *subjects, size_t n,
                             const char *step_id, struct idf_err *err)
{
    struct store__subject_row row;
    sqlite3_stmt *st = NULL;
    size_t kept = 0;
    int rc;

    for (size_t i = 0; i < n && kept < STORE_SUBJECTS_MAX; i++) {
        if (!store__subject_prep(&subjects[i], step_id, &row))
            continue; /* cannot be stored: skipped, never refused */
        kept++;
        rc = store__sq_prep(c, SQ_SUBJ_INSERT,
                            "INSERT OR IGNORE INTO run_subjects (run_id, key, kind, label, step_id) "
                            "VALUES (?1, ?2, ?3, ?4, ?5)",
                            &st, err);
        if (rc)
            return rc;
        sqlite3_bind_int64(st, 1, run_id);
        store__sq_bind_text(st, 2, row.key);
        store__sq_bind_text(st, 3, row.kind);
        store__sq_bind_text(st, 4, row.label);
        store__sq_bind_text(st, 5, row.step_id);
        rc = sqlite3_step(st);
        store__sq_done(st);
        if (rc != SQLITE_DONE)
            return store__sq_fail(c, rc, "save run subject", err);
    }
    return 0;
}

int store__sq_subjects_copy(struct store__sq *c, int64_t from_run, int64_t to_run, struct idf_err *err)
{
    return store__sq_copy_run_rows(c, SQ_SUBJ_COPY,
                                   "INSERT OR IGNORE INTO run_subjects (run_id, key, kind, label, step_id) "
                                   "SELECT ?2, key, kind, label, step_id FROM run_subjects WHERE run_id = ?1 "
                                   "ORDER BY rowid",
                                   from_run, to_run, "copy run subjects", err);
}

/* ------------------------------------------------------------- one run */

int store__sq_run_extra(struct store__sq *c, struct store_run *r)
{
    sqlite3_stmt *st = NULL;
    bool oom = false;
    int rc = store__sq_prep(c, SQ_RUN_EXTRA,
                            "SELECT e.source, e.via, e.actor, e.type, e.connection, " SUBJECT_COL ", " RERUN_AS_COL
                            " FROM runs r LEFT JOIN events e ON e.id = r.event_id WHERE r.id = ?1",
                            &st, NULL);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, r->id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r->source = store__sq_col_dup(st, 0, &oom);
        r->via = store__sq_col_dup(st, 1, &oom);
        r->actor = store__sq_col_dup(st, 2, &oom);
        r->trigger = store__sq_col_dup(st, 3, &oom);
        r->connection = store__sq_col_dup(st, 4, &oom);
        r->subject = store__sq_col_dup(st, 5, &oom);
        r->rerun_as = sqlite3_column_int64(st, 6);
        rc = oom ? IDF_ENOMEM : 0;
    } else {
        rc = rc == SQLITE_DONE ? IDF_ENOTFOUND : store__sq_fail(c, rc, "read run", NULL);
    }
    store__sq_done(st);
    return rc;
}

/* ---------------------------------------------------- lists and counts */

enum { P_SUBJECT = 1, P_STATUS, P_WORKFLOW, P_SOURCE, P_VIA, P_SINCE, P_UNTIL, P_BEFORE, P_LIMIT };

/* Appends FROM and WHERE for q to b (ids as "id", the run as r); list: with
 * the event's columns joined and before_id applied. */
static int query_from(struct buf *b, const struct store__run_query *q, bool list)
{
    bool by_subject = q->subject != NULL;
    const char *id = by_subject ? "s.run_id" : "r.id";
    int rc = 0;

    if (by_subject)
        rc = buf_puts(b, " FROM run_subjects s INDEXED BY run_subjects_key CROSS JOIN runs r ON r.id = s.run_id");
    else if (q->status && q->workflow)
        rc = buf_puts(b, " FROM runs r INDEXED BY runs_workflow");
    else
        rc = buf_puts(b, " FROM runs r");
    if (rc == 0 && (list || q->source))
        rc = buf_puts(b, " LEFT JOIN events e ON e.id = r.event_id");
    if (rc == 0)
        rc = buf_puts(b, by_subject ? " WHERE s.key = ?1" : " WHERE 1");
    if (rc == 0 && q->status)
        rc = buf_puts(b, " AND r.status = ?2");
    if (rc == 0 && q->workflow)
        rc = buf_puts(b, " AND r.workflow = ?3");
    if (rc == 0 && q->source)
        rc = buf_puts(b, " AND e.source = ?4");
    if (rc == 0 && q->via)
        rc = buf_puts(b, " AND e.via = ?5");
    if (rc == 0 && q->since)
        rc = buf_puts(b, " AND r.created_at >= ?6");
    if (rc == 0 && q->until)
        rc = buf_puts(b, " AND r.created_at < ?7");
    if (rc == 0 && list && q->before_id > 0)
        rc = buf_printf(b, " AND %s < ?8", id);
    if (rc == 0 && list)
        rc = buf_printf(b, " ORDER BY %s DESC LIMIT ?9", id);
    return rc;
}

static void bind_query(sqlite3_stmt *st, const struct store__run_query *q)
{
    /* parameters the statement does not use answer SQLITE_RANGE: harmless */
    store__sq_bind_text(st, P_SUBJECT, q->subject);
    store__sq_bind_text(st, P_STATUS, q->status);
    store__sq_bind_text(st, P_WORKFLOW, q->workflow);
    store__sq_bind_text(st, P_SOURCE, q->source);
    store__sq_bind_text(st, P_VIA, q->via);
    sqlite3_bind_int64(st, P_SINCE, q->since);
    sqlite3_bind_int64(st, P_UNTIL, q->until);
    sqlite3_bind_int64(st, P_BEFORE, q->before_id);
    sqlite3_bind_int(st, P_LIMIT, q->limit);
}

/* Prepares the statement of sql (not cached) with q bound. */
static int prepare_query(struct store__sq *c, const char *sql, const struct store__run_query *q, sqlite3_stmt **out)
{
    int rc;

    store__sq_check_thread(c, "a statement");
    rc = sqlite3_prepare_v2(c->db, sql, -1, out, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(*out);
        *out = NULL;
        return store__sq_fail(c, rc, "prepare run query", NULL);
    }
    bind_query(*out, q);
    return 0;
}

static int list_row(sqlite3_stmt *st, struct store_run *r)
{
    bool oom = false;

    r->id = sqlite3_column_int64(st, 0);
    r->workflow = store__sq_col_dup(st, 1, &oom);
    r->version = sqlite3_column_int64(st, 2);
    r->event_id = sqlite3_column_int64(st, 3);
    r->status = store__sq_col_dup(st, 4, &oom);
    r->pc = sqlite3_column_int(st, 5);
    r->error = store__sq_col_dup(st, 6, &oom);
    r->created_at = sqlite3_column_int64(st, 7);
    r->updated_at = sqlite3_column_int64(st, 8);
    r->finished_at = sqlite3_column_int64(st, 9);
    r->rerun_of = sqlite3_column_int64(st, 10);
    r->source = store__sq_col_dup(st, 11, &oom);
    r->via = store__sq_col_dup(st, 12, &oom);
    r->actor = store__sq_col_dup(st, 13, &oom);
    r->trigger = store__sq_col_dup(st, 14, &oom);
    r->connection = store__sq_col_dup(st, 15, &oom);
    r->subject = store__sq_col_dup(st, 16, &oom);
    r->rerun_as = sqlite3_column_int64(st, 17);
    return oom ? IDF_ENOMEM : 0;
}

int store__sq_run_list(struct store *s, const struct store__run_query *q, struct store_run **rows_out, size_t *n_out)
{
    struct store__sq *c = store__sq(s);
    struct store_run *rows = NULL;
    sqlite3_stmt *st = NULL;
    struct buf b;
    size_t n = 0;
    int rc;

    buf_init(&b, 8192);
    rc = buf_puts(
        &b, "SELECT r.id, r.workflow, r.version, r.event_id, r.status, r.pc, r.error, r.created_at, "
            "r.updated_at, r.finished_at, r.rerun_of, e.source, e.via, e.actor, e.type, e.connection, " SUBJECT_COL
            ", " RERUN_AS_COL);
    if (rc == 0)
        rc = query_from(&b, q, true);
    if (rc)
        goto out;
    rc = prepare_query(c, b.data, q, &st);
    if (rc)
        goto out;
    rows = calloc((size_t)q->limit, sizeof *rows);
    if (!rows) {
        rc = IDF_ENOMEM;
        goto out;
    }
    while (n < (size_t)q->limit) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        rc = list_row(st, &rows[n++]);
        if (rc)
            goto out;
    }
    if (rc > 0) /* SQLite's codes: DONE (or the limit reached, rc 0) is the end */
        rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "list runs", NULL);
out:
    sqlite3_finalize(st);
    buf_free(&b);
    if (rc || n == 0) {
        store_run_list_free(rows, n);
        rows = NULL;
        n = 0;
    }
    *rows_out = rows;
    *n_out = n;
    return rc;
}

int store__sq_run_count(struct store *s, const struct store__run_query *q, int64_t *n_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    struct buf b;
    int rc;

    buf_init(&b, 4096);
    if (!q->subject && !q->workflow && !q->source && !q->since && !q->until) {
        /* by status only: the counts the triggers keep (run_counts) */
        rc = q->status ? buf_puts(&b, "SELECT coalesce(sum(n), 0) FROM run_counts WHERE status = ?2")
                       : buf_puts(&b, "SELECT coalesce(sum(n), 0) FROM run_counts");
    } else if (!q->status && !q->workflow && !q->source && !q->since && !q->until) {
        /* by subject only: its range of run_subjects_key, no run read (a row's
         * run exists: ON DELETE CASCADE) */
        rc = buf_puts(&b, "SELECT count(*) FROM run_subjects INDEXED BY run_subjects_key WHERE key = ?1");
    } else {
        rc = buf_puts(&b, "SELECT count(*)");
        if (rc == 0)
            rc = query_from(&b, q, false);
    }
    if (rc)
        goto out;
    rc = prepare_query(c, b.data, q, &st);
    if (rc)
        goto out;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *n_out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = store__sq_fail(c, rc, "count runs", NULL);
    }
out:
    sqlite3_finalize(st);
    buf_free(&b);
    return rc;
}

/* ------------------------------------------------ subjects and changes */

static int subject_row(sqlite3_stmt *st, void *row)
{
    struct store_run_subject *r = row;
    bool oom = false;

    r->kind = store__sq_col_dup(st, 0, &oom);
    r->key = store__sq_col_dup(st, 1, &oom);
    r->label = store__sq_col_dup(st, 2, &oom);
    r->step_id = store__sq_col_dup(st, 3, &oom);
    return oom ? IDF_ENOMEM : 0;
}

int store__sq_run_subjects(struct store *s, int64_t run_id, struct store_run_subject **rows_out, size_t *n_out)
{
    void *rows = NULL;
    int rc = store__sq_list(store__sq(s), SQ_SUBJ_LIST,
                            "SELECT kind, key, label, step_id FROM run_subjects WHERE run_id = ?1 "
                            "ORDER BY step_id IS NOT NULL, rowid",
                            store__sq_bind_id, &run_id, subject_row, store__run_subject_clear, sizeof **rows_out, &rows, n_out,
                            "list run subjects");
    *rows_out = rows;
    return rc;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int store__sq_run_changes(struct store *s, const int64_t *run_ids, size_t n, struct store_change **rows_out,
                          size_t *n_out)
{
    struct store__sq *c = store__sq(s);
    struct store_change *rows = NULL;
    sqlite3_stmt *st = NULL;
    int64_t *ids = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;

    ids = malloc(n * sizeof *ids);
    if (!ids)
        return IDF_ENOMEM;
    memcpy(ids, run_ids, n * sizeof *ids);
    qsort(ids, n, sizeof *ids, cmp_id);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i > 0 && ids[i] == ids[i - 1])
            continue;
        rc = store__sq_prep(c, SQ_CHANGE_LIST,
                            "SELECT step_id, item, change, finished_at FROM steps "
                            "WHERE run_id = ?1 AND change IS NOT NULL ORDER BY idx, item",
                            &st, NULL);
        if (rc)
            break;
        sqlite3_bind_int64(st, 1, ids[i]);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            bool oom = false;
            if (count == cap) {
                size_t ncap = cap ? cap * 2 : SQ_LIST_FIRST;
                struct store_change *grown = realloc(rows, ncap * sizeof *rows);
                if (!grown) {
                    rc = IDF_ENOMEM;
                    break;
                }
                rows = grown;
                cap = ncap;
            }
            memset(&rows[count], 0, sizeof rows[count]);
            rows[count].run_id = ids[i];
            rows[count].step_id = store__sq_col_dup(st, 0, &oom);
            rows[count].item = sqlite3_column_int(st, 1);
            rows[count].change = store__sq_col_dup(st, 2, &oom);
            rows[count].finished_at = sqlite3_column_int64(st, 3);
            count++;
            if (oom) {
                rc = IDF_ENOMEM;
                break;
            }
        }
        if (rc == SQLITE_DONE)
            rc = 0;
        else if (rc > 0)
            rc = store__sq_fail(c, rc, "list run changes", NULL);
        store__sq_done(st);
        st = NULL;
    }
    free(ids);
    if (rc || count == 0) {
        store_change_list_free(rows, count);
        rows = NULL;
        count = 0;
    }
    *rows_out = rows;
    *n_out = count;
    return rc;
}

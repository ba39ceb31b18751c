/* postgres_subjects.c — the PostgreSQL backend's run subjects (issue 17,
 * "subjects"): the same rules, order and results as sqlite_subjects.c.
 *
 * Writing: the subjects of an event or a step record cross as text[]
 * literals (store__pg_array_elem), with the ids of the runs they belong to,
 * and one INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING writes
 * them all (the first label of a (run_id, key) stays), so an event starting
 * several runs costs one statement. seq (an identity) keeps the order they
 * were written in.
 *
 * Reading: a list or count depends on which filters are set, so its text is
 * built per call and planned with its values (store__pg_exec_once), as the
 * filtered run lists were before: a list by subject reads run_subjects_key
 * (key, run_id) newest first and checks the other filters on each run.
 * Reads open no transaction. Callers: any thread, each on its own
 * connection; the writers run inside the caller's open transaction. */
#include "store/postgres_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define SUBJ_LITERAL_MAX (1u << 20) /* bytes of one text[] literal: 64 subjects of at most ~1 KiB escaped */

/* The label of a run's first subject: its event's, else its first step's. */
#define SUBJECT_COL                                                                                                    \
    "(SELECT x.label FROM run_subjects x WHERE x.run_id = r.id ORDER BY x.step_id IS NOT NULL, x.seq LIMIT 1)"
#define RERUN_AS_COL "(SELECT max(y.id) FROM runs y WHERE y.rerun_of = r.id AND y.rerun_of > 0)"

/* ------------------------------------------------------------- writing */

int store__pg_subjects_write(struct store__pg *c, const int64_t *run_ids, size_t n_runs,
                             const struct store_subject *subjects, size_t n, const char *step_id, struct idf_err *err)
{
    struct store__subject_row row;
    struct buf ids, keys, kinds, labels;
    PGresult *r = NULL;
    size_t kept = 0;
    int rc = 0;

    if (n_runs == 0 || n == 0)
        return 0;
    buf_init(&ids, SUBJ_LITERAL_MAX);
    buf_init(&keys, SUBJ_LITERAL_MAX);
    buf_init(&kinds, SUBJ_LITERAL_MAX);
    buf_init(&labels, SUBJ_LITERAL_MAX);
    rc = buf_puts(&ids, "{");
    for (size_t j = 0; j < n_runs && rc == 0; j++)
        rc = buf_printf(&ids, "%s%lld", j ? "," : "", (long long)run_ids[j]);
    if (rc == 0)
        rc = buf_puts(&ids, "}");
    if (rc == 0)
        rc = buf_puts(&keys, "{");
    if (rc == 0)
        rc = buf_puts(&kinds, "{");
    if (rc == 0)
        rc = buf_puts(&labels, "{");
    for (size_t i = 0; i < n && kept < STORE_SUBJECTS_MAX && rc == 0; i++) {
        if (!store__subject_prep(&subjects[i], step_id, &row))
            continue; /* cannot be stored: skipped, never refused */
        rc = store__pg_array_elem(&keys, row.key, kept == 0);
        if (rc == 0)
            rc = store__pg_array_elem(&kinds, row.kind, kept == 0);
        if (rc == 0)
            rc = store__pg_array_elem(&labels, row.label, kept == 0);
        kept++;
    }
    if (rc == 0)
        rc = buf_puts(&keys, "}");
    if (rc == 0)
        rc = buf_puts(&kinds, "}");
    if (rc == 0)
        rc = buf_puts(&labels, "}");
    if (rc) {
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        goto out;
    }
    if (kept == 0)
        goto out;
    {
        const char *p[] = {ids.data, keys.data, kinds.data, labels.data, step_id};
        rc = store__pg_exec(c, "save run subjects",
                            "INSERT INTO run_subjects (run_id, key, kind, label, step_id) "
                            "SELECT r.id, u.k, u.kind, u.l, $5 FROM unnest($1::bigint[]) WITH ORDINALITY AS r(id, o), "
                            "unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(k, kind, l, o) "
                            "ORDER BY r.o, u.o ON CONFLICT (run_id, key) DO NOTHING",
                            5, p, &r, err);
    }
out:
    PQclear(r);
    buf_free(&ids);
    buf_free(&keys);
    buf_free(&kinds);
    buf_free(&labels);
    return rc;
}

int store__pg_subjects_copy(struct store__pg *c, int64_t from_run, int64_t to_run, struct idf_err *err)
{
    char b_from[STORE__PG_INT_LEN], b_to[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_from, from_run), store__pg_i64(b_to, to_run)};
    PGresult *r = NULL;
    int rc = store__pg_exec(c, "copy run subjects",
                            "INSERT INTO run_subjects (run_id, key, kind, label, step_id) "
                            "SELECT $2::bigint, key, kind, label, step_id FROM run_subjects WHERE run_id = $1::bigint "
                            "ORDER BY seq ON CONFLICT (run_id, key) DO NOTHING",
                            2, p, &r, err);
    PQclear(r);
    return rc;
}

/* ------------------------------------------------------------- one run */

int store__pg_run_extra(struct store__pg *c, struct store_run *run)
{
    char b_id[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_id, run->id)};
    PGresult *r = NULL;
    bool oom = false;
    int rc = store__pg_exec(c, "read run",
                            "SELECT e.source, e.via, e.actor, e.type, e.connection, " SUBJECT_COL ", " RERUN_AS_COL
                            " FROM runs r LEFT JOIN events e ON e.id = r.event_id WHERE r.id = $1::bigint",
                            1, p, &r, NULL);
    if (rc)
        return rc;
    if (PQntuples(r) != 1) {
        rc = IDF_ENOTFOUND;
        goto out;
    }
    run->source = store__pg_get_dup(r, 0, 0, &oom);
    run->via = store__pg_get_dup(r, 0, 1, &oom);
    run->actor = store__pg_get_dup(r, 0, 2, &oom);
    run->trigger = store__pg_get_dup(r, 0, 3, &oom);
    run->connection = store__pg_get_dup(r, 0, 4, &oom);
    run->subject = store__pg_get_dup(r, 0, 5, &oom);
    run->rerun_as = store__pg_get_i64(r, 0, 6);
    rc = oom ? IDF_ENOMEM : 0;
out:
    PQclear(r);
    return rc;
}

/* ---------------------------------------------------- lists and counts */

/* The parameters of a query: only those its text uses are sent (PostgreSQL
 * types every $N it is given), numbered in the order they are added. */
struct params {
    const char *v[10];
    int n;
    char b_since[STORE__PG_INT_LEN], b_until[STORE__PG_INT_LEN], b_before[STORE__PG_INT_LEN],
        b_limit[STORE__PG_INT_LEN];
};

/* Appends " AND <what> = $N<cast>" for the next parameter v. */
static int add_param(struct buf *b, struct params *ps, const char *what, const char *cast, const char *v)
{
    ps->v[ps->n++] = v;
    return buf_printf(b, " AND %s $%d%s", what, ps->n, cast);
}

/* Appends FROM and WHERE (and for a list ORDER BY and LIMIT) for q to b,
 * collecting the parameters into ps. */
static int query_from(struct buf *b, struct params *ps, const struct store__run_query *q, bool list)
{
    bool by_subject = q->subject != NULL;
    const char *id = by_subject ? "s.run_id" : "r.id";
    int rc;

    rc = buf_puts(b, by_subject ? " FROM run_subjects s JOIN runs r ON r.id = s.run_id" : " FROM runs r");
    if (rc == 0 && (list || q->source))
        rc = buf_puts(b, " LEFT JOIN events e ON e.id = r.event_id");
    if (rc == 0)
        rc = buf_puts(b, " WHERE true");
    if (rc == 0 && by_subject)
        rc = add_param(b, ps, "s.key =", "", q->subject);
    if (rc == 0 && q->status)
        rc = add_param(b, ps, "r.status =", "", q->status);
    if (rc == 0 && q->workflow)
        rc = add_param(b, ps, "r.workflow =", "", q->workflow);
    if (rc == 0 && q->source)
        rc = add_param(b, ps, "e.source =", "", q->source);
    if (rc == 0 && q->via)
        rc = add_param(b, ps, "e.via =", "", q->via);
    if (rc == 0 && q->since)
        rc = add_param(b, ps, "r.created_at >=", "::bigint", store__pg_i64(ps->b_since, q->since));
    if (rc == 0 && q->until)
        rc = add_param(b, ps, "r.created_at <", "::bigint", store__pg_i64(ps->b_until, q->until));
    if (rc == 0 && list && q->before_id > 0) {
        ps->v[ps->n++] = store__pg_i64(ps->b_before, q->before_id);
        rc = buf_printf(b, " AND %s < $%d::bigint", id, ps->n);
    }
    if (rc == 0 && list) {
        ps->v[ps->n++] = store__pg_i64(ps->b_limit, q->limit);
        rc = buf_printf(b, " ORDER BY %s DESC LIMIT $%d::integer", id, ps->n);
    }
    return rc;
}

static int list_row(const PGresult *res, int i, void *row)
{
    struct store_run *r = row;
    bool oom = false;

    r->id = store__pg_get_i64(res, i, 0);
    r->workflow = store__pg_get_dup(res, i, 1, &oom);
    r->version = store__pg_get_i64(res, i, 2);
    r->event_id = store__pg_get_i64(res, i, 3);
    r->status = store__pg_get_dup(res, i, 4, &oom);
    r->pc = (int)store__pg_get_i64(res, i, 5);
    r->error = store__pg_get_dup(res, i, 6, &oom);
    r->created_at = store__pg_get_i64(res, i, 7);
    r->updated_at = store__pg_get_i64(res, i, 8);
    r->finished_at = store__pg_get_i64(res, i, 9);
    r->rerun_of = store__pg_get_i64(res, i, 10);
    r->source = store__pg_get_dup(res, i, 11, &oom);
    r->via = store__pg_get_dup(res, i, 12, &oom);
    r->actor = store__pg_get_dup(res, i, 13, &oom);
    r->trigger = store__pg_get_dup(res, i, 14, &oom);
    r->connection = store__pg_get_dup(res, i, 15, &oom);
    r->subject = store__pg_get_dup(res, i, 16, &oom);
    r->rerun_as = store__pg_get_i64(res, i, 17);
    return oom ? IDF_ENOMEM : 0;
}

int store__pg_run_list(struct store *s, const struct store__run_query *q, struct store_run **rows_out, size_t *n_out)
{
    struct params ps = {.n = 0};
    void *rows = NULL;
    struct buf b;
    int rc;

    buf_init(&b, 8192);
    rc = buf_puts(
        &b, "SELECT r.id, r.workflow, r.version, r.event_id, r.status, r.pc, r.error, r.created_at, "
            "r.updated_at, r.finished_at, r.rerun_of, e.source, e.via, e.actor, e.type, e.connection, " SUBJECT_COL
            ", " RERUN_AS_COL);
    if (rc == 0)
        rc = query_from(&b, &ps, q, true);
    /* a text built here: planned at each call (the statement cache keeps literals only) */
    rc = rc ? IDF_ENOMEM
            : store__pg_list(store__pg(s), "list runs", b.data, ps.n, ps.v, true, list_row, store__run_clear,
                             sizeof **rows_out, &rows, n_out);
    buf_free(&b);
    *rows_out = rows;
    return rc;
}

int store__pg_run_count(struct store *s, const struct store__run_query *q, int64_t *n_out)
{
    struct store__pg *c = store__pg(s);
    struct params ps = {.n = 0};
    PGresult *res = NULL;
    struct buf b;
    int rc;

    store__pg_check_thread(c, "count runs");
    buf_init(&b, 4096);
    if (q->subject && !q->status && !q->workflow && !q->source && !q->since && !q->until) {
        /* by subject only: its range of run_subjects_key, no run read (a row's
         * run exists: ON DELETE CASCADE) */
        ps.v[ps.n++] = q->subject;
        rc = buf_puts(&b, "SELECT count(*) FROM run_subjects WHERE key = $1");
    } else {
        rc = buf_puts(&b, "SELECT count(*)");
        if (rc == 0)
            rc = query_from(&b, &ps, q, false);
    }
    if (rc) {
        rc = IDF_ENOMEM;
        goto out;
    }
    rc = store__pg_exec_once(c, "count runs", b.data, ps.n, ps.v, &res, NULL);
    if (rc == 0)
        *n_out = store__pg_get_i64(res, 0, 0);
out:
    PQclear(res);
    buf_free(&b);
    return rc;
}

/* ------------------------------------------------ subjects and changes */

static int subject_row(const PGresult *res, int i, void *row)
{
    struct store_run_subject *r = row;
    bool oom = false;

    r->kind = store__pg_get_dup(res, i, 0, &oom);
    r->key = store__pg_get_dup(res, i, 1, &oom);
    r->label = store__pg_get_dup(res, i, 2, &oom);
    r->step_id = store__pg_get_dup(res, i, 3, &oom);
    return oom ? IDF_ENOMEM : 0;
}

int store__pg_run_subjects(struct store *s, int64_t run_id, struct store_run_subject **rows_out, size_t *n_out)
{
    char b_id[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_id, run_id)};
    void *rows = NULL;
    int rc = store__pg_list(store__pg(s), "list run subjects",
                            "SELECT kind, key, label, step_id FROM run_subjects WHERE run_id = $1::bigint "
                            "ORDER BY step_id IS NOT NULL, seq",
                            1, p, false, subject_row, store__run_subject_clear, sizeof **rows_out, &rows, n_out);
    *rows_out = rows;
    return rc;
}

static int change_row(const PGresult *res, int i, void *row)
{
    struct store_change *r = row;
    bool oom = false;

    r->run_id = store__pg_get_i64(res, i, 0);
    r->step_id = store__pg_get_dup(res, i, 1, &oom);
    r->item = (int)store__pg_get_i64(res, i, 2);
    r->change = store__pg_get_dup(res, i, 3, &oom);
    r->finished_at = store__pg_get_i64(res, i, 4);
    return oom ? IDF_ENOMEM : 0;
}

int store__pg_run_changes(struct store *s, const int64_t *run_ids, size_t n, struct store_change **rows_out,
                          size_t *n_out)
{
    void *rows = NULL;
    struct buf ids;
    int rc;

    buf_init(&ids, (size_t)STORE_LIST_MAX * STORE__PG_INT_LEN + 4);
    rc = buf_puts(&ids, "{");
    for (size_t j = 0; j < n && rc == 0; j++)
        rc = buf_printf(&ids, "%s%lld", j ? "," : "", (long long)run_ids[j]);
    if (rc == 0)
        rc = buf_puts(&ids, "}");
    if (rc == 0) {
        const char *p[] = {ids.data};
        rc = store__pg_list(store__pg(s), "list run changes",
                            "SELECT run_id, step_id, item, change, finished_at FROM steps "
                            "WHERE run_id = ANY ($1::bigint[]) AND change IS NOT NULL ORDER BY run_id, idx, item",
                            1, p, false, change_row, store__change_clear, sizeof **rows_out, &rows, n_out);
    } else {
        rc = IDF_ENOMEM;
    }
    buf_free(&ids);
    *rows_out = rows;
    return rc;
}

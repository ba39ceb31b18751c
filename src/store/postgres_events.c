/* postgres_events.c — the PostgreSQL backend's workflows, event ingestion,
 * the matcher's and expander's event stages, cursors and the audit log (the
 * same rules as sqlite_events.c; the lists are in postgres_lists.c).
 *
 * store_ingest is the durable acknowledgement path: the whole batch is one
 * READ COMMITTED transaction, and the session's synchronous_commit = on makes
 * the COMMIT durable before it returns (several backends' commits share one
 * WAL flush: PostgreSQL's own group commit). Each item is ONE statement, a
 * data-modifying CTE: the event's INSERT ... ON CONFLICT (source, source_id)
 * DO NOTHING RETURNING id feeds the INSERT of its runs (one multi-row INSERT
 * from unnest of two arrays), so a duplicate inserts no run, and the same
 * statement returns the id of a duplicate committed before it began. An
 * insert of the same key by another transaction still open makes ours wait
 * for it: if that one commits, ours inserts nothing and its snapshot (taken
 * before) does not see the row, so a second statement reads the id; if it
 * rolls back, ours inserts. So two nodes acknowledging the same delivery
 * write one event and one set of runs, and the other reports a duplicate.
 * Cost: one round trip per item (two for that race), plus BEGIN and COMMIT.
 *
 * events_settle and event_expand move an event out of its stage with an
 * UPDATE guarded by the stage in its WHERE (... AND stage = 1), and create
 * runs only from what that UPDATE returned, in the same statement: a second
 * matcher handed the same event blocks on the row lock, re-reads the row
 * once the first commits (READ COMMITTED re-checks the WHERE on the new
 * version), finds it done, and creates nothing.
 *
 * Run ids: the multi-row INSERT takes its rows in the order of the runs
 * given (ORDER BY the array ordinal), so the ids it draws from the sequence
 * rise in that order; the statement returns them sorted, run_ids[j] is the
 * j-th. Workflow versions are immutable rows; saving one takes a
 * transaction-scoped advisory lock on the name (STORE__PG_LOCK_WORKFLOW), so
 * two nodes saving the same workflow at once number versions one after the
 * other. The caller's thread owns the connection. */
#include "store/postgres_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/timeutil.h"

/* ------------------------------------------------------------- workflows */

int store__pg_workflow_save(struct store *s, const char *name, const char *source, const char *hash,
                            int64_t *version_out, bool *created_out, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    char b_lock[STORE__PG_INT_LEN], b_ver[STORE__PG_INT_LEN], b_now[STORE__PG_INT_LEN];
    int64_t newest = 0;
    bool same = false;
    int rc;

    store__pg_i64(b_lock, STORE__PG_LOCK_WORKFLOW);
    store__pg_i64(b_now, time_now_ms());
    rc = store__pg_begin(c, err);
    if (rc)
        return rc;
    {
        const char *p[] = {b_lock, name};
        rc = store__pg_exec(c, "lock workflow", "SELECT pg_advisory_xact_lock($1::int, hashtext($2))", 2, p, NULL, err);
    }
    if (rc)
        goto out;
    {
        const char *p[] = {name};
        rc = store__pg_exec(c, "read workflow",
                            "SELECT version, hash FROM workflows WHERE name = $1 ORDER BY version DESC LIMIT 1", 1, p,
                            &r, err);
    }
    if (rc)
        goto out;
    if (PQntuples(r) > 0) {
        newest = store__pg_get_i64(r, 0, 0);
        same = strcmp(PQgetvalue(r, 0, 1), hash) == 0;
    }
    PQclear(r);
    r = NULL;
    if (same) {
        rc = store__pg_commit(c, err);
        if (rc == 0) {
            *version_out = newest;
            *created_out = false;
        }
        goto out;
    }

    store__pg_i64(b_ver, newest + 1);
    {
        const char *p[] = {name, b_ver, source, hash, b_now};
        rc = store__pg_exec(c, "save workflow",
                            "INSERT INTO workflows (name, version, source, hash, created_at) "
                            "VALUES ($1, $2::bigint, $3, $4, $5::bigint)",
                            5, p, NULL, err);
    }
    if (rc)
        goto out;
    {
        /* a new workflow is enabled (the column's default); a disabled one stays so */
        const char *p[] = {name, b_now};
        rc = store__pg_exec(c, "save workflow state",
                            "INSERT INTO workflow_state (name, updated_at) VALUES ($1, $2::bigint) "
                            "ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at",
                            2, p, NULL, err);
    }
    if (rc)
        goto out;
    rc = store__pg_commit(c, err);
    if (rc == 0) {
        *version_out = newest + 1;
        *created_out = true;
    }
out:
    PQclear(r);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

int store__pg_workflow_source(struct store *s, const char *name, int64_t version, char **source_out,
                              int64_t *version_out)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    char b_ver[STORE__PG_INT_LEN];
    const char *p[] = {name, store__pg_i64(b_ver, version)};
    bool oom = false;
    int rc;

    rc = store__pg_exec(c, "read workflow",
                        "SELECT source, version FROM workflows WHERE name = $1 AND ($2::bigint = 0 OR version = "
                        "$2::bigint) ORDER BY version DESC LIMIT 1",
                        2, p, &r, NULL);
    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        rc = IDF_ENOTFOUND;
        goto out;
    }
    *source_out = store__pg_get_dup(r, 0, 0, &oom);
    if (oom) {
        rc = IDF_ENOMEM;
        goto out;
    }
    if (version_out)
        *version_out = store__pg_get_i64(r, 0, 1);
out:
    PQclear(r);
    return rc;
}

int store__pg_workflow_set_enabled(struct store *s, const char *name, bool enabled)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    char b_now[STORE__PG_INT_LEN];
    const char *p[] = {name, enabled ? "1" : "0", store__pg_i64(b_now, time_now_ms())};
    int rc;

    rc = store__pg_begin(c, NULL);
    if (rc)
        return rc;
    rc = store__pg_exec(c, "enable workflow",
                        "UPDATE workflow_state SET enabled = $2, updated_at = $3::bigint WHERE name = $1", 3, p, &r,
                        NULL);
    if (rc)
        goto out;
    if (strcmp(PQcmdTuples(r), "0") == 0) {
        rc = IDF_ENOTFOUND;
        goto out;
    }
    rc = store__pg_commit(c, NULL);
out:
    PQclear(r);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

/* --------------------------------------------------------------- events */

/* The runs of one event as two PostgreSQL array literals ({"wf",...} and
 * {1,...}) for the unnest of the run insert; both "{}" when n is 0.
 * Caller frees *names_out and *versions_out. */
static int runs_arrays(const struct store_run_in *runs, size_t n, char **names_out, char **versions_out)
{
    size_t nlen = 3, vlen = 3;
    char *names = NULL, *versions = NULL, *p, *q;

    for (size_t j = 0; j < n; j++) {
        nlen += 3 + 2 * strlen(runs[j].workflow); /* quotes, comma, each byte escaped at worst */
        vlen += STORE__PG_INT_LEN + 1;
    }
    names = malloc(nlen);
    versions = malloc(vlen);
    if (!names || !versions) {
        free(names);
        free(versions);
        return IDF_ENOMEM;
    }
    p = names;
    q = versions;
    *p++ = '{';
    *q++ = '{';
    for (size_t j = 0; j < n; j++) {
        char b[STORE__PG_INT_LEN];
        size_t l;
        if (j) {
            *p++ = ',';
            *q++ = ',';
        }
        *p++ = '"';
        for (const char *w = runs[j].workflow; *w; w++) {
            if (*w == '"' || *w == '\\')
                *p++ = '\\';
            *p++ = *w;
        }
        *p++ = '"';
        l = strlen(store__pg_i64(b, runs[j].version));
        memcpy(q, b, l);
        q += l;
    }
    *p++ = '}';
    *q++ = '}';
    *p = '\0';
    *q = '\0';
    *names_out = names;
    *versions_out = versions;
    return 0;
}

/* Reads the sorted run ids of column col ("{12,13}", NULL when none were
 * inserted) into run_ids[0..n). IDF_EDB when their number is not n. */
static int read_run_ids(const PGresult *r, int col, int64_t *run_ids, size_t n, struct idf_err *err)
{
    const char *v = store__pg_is_null(r, 0, col) ? "{}" : PQgetvalue(r, 0, col);
    size_t k = 0;

    if (*v == '{')
        v++;
    while (*v && *v != '}') {
        char *end = NULL;
        long long id;
        errno = 0;
        id = strtoll(v, &end, 10);
        if (errno || end == v || k >= n)
            return idf_err_set(err, IDF_EDB, "store: create runs: unexpected ids returned");
        run_ids[k++] = id;
        v = *end == ',' ? end + 1 : end;
    }
    if (k != n)
        return idf_err_set(err, IDF_EDB, "store: create runs: %zu of %zu runs created", k, n);
    return 0;
}

/* One item's event and its runs, one statement: the runs are inserted only
 * when the event was. Returns (id, run ids, inserted): for a duplicate, the
 * id of the row the statement's snapshot sees (looked up only then: the
 * subqueries of coalesce run lazily), NULL when the row was committed by a
 * transaction this statement waited for (then ingest_one looks again). */
static const char SQL_INGEST[] =
    "WITH e AS (INSERT INTO events (source, source_id, type, connection, received_at, data, stage, via, actor, "
    "  packed) VALUES ($1, $2, $3, $4, $5::bigint, $6, $7::int, $10, $11, decode($12, 'hex')) "
    "  ON CONFLICT (source, source_id) DO NOTHING RETURNING id), "
    "r AS (INSERT INTO runs (workflow, version, event_id, status, created_at, updated_at) "
    "  SELECT u.w, u.v, e.id, 'queued', $5::bigint, $5::bigint "
    "  FROM e, unnest($8::text[], $9::bigint[]) WITH ORDINALITY AS u(w, v, o) ORDER BY u.o RETURNING id) "
    "SELECT coalesce((SELECT id FROM e), (SELECT id FROM events WHERE source = $1 AND source_id = $2)), "
    "  (SELECT array_agg(id ORDER BY id) FROM r), EXISTS (SELECT 1 FROM e)";

/* Marks one event done (with its note) if it is in stage MATCH, and creates
 * its runs only then, one statement; a NULL id: it was not in the stage. */
static const char SQL_SETTLE[] =
    "WITH e AS (UPDATE events SET stage = 0, note = $2 WHERE id = $1::bigint AND stage = 1 RETURNING id), "
    "r AS (INSERT INTO runs (workflow, version, event_id, status, created_at, updated_at) "
    "  SELECT u.w, u.v, e.id, 'queued', $3::bigint, $3::bigint "
    "  FROM e, unnest($4::text[], $5::bigint[]) WITH ORDINALITY AS u(w, v, o) ORDER BY u.o RETURNING id) "
    "SELECT (SELECT id FROM e), (SELECT array_agg(id ORDER BY id) FROM r)";

/* The packed form of data (store__pack) as hex text into *out (caller
 * frees), or *out NULL when data is to be stored as text. 0 or IDF_ENOMEM. */
static int packed_hex(const char *data, char **out)
{
    unsigned char *bytes = NULL;
    size_t n = 0;
    int rc = store__pack(data, &bytes, &n);

    *out = NULL;
    if (rc || !bytes)
        return rc;
    *out = malloc(2 * n + 1);
    if (!*out) {
        free(bytes);
        return IDF_ENOMEM;
    }
    sodium_bin2hex(*out, 2 * n + 1, bytes, n); /* lowercase, as decode(..., 'hex') takes it */
    free(bytes);
    return 0;
}

/* Stores one item inside the open ingest transaction: its data as text, or
 * packed (events.packed, data NULL) when store__pack finds it worth it. */
static int ingest_one(struct store__pg *c, struct store_ingest_item *it, const char *b_now, struct idf_err *err)
{
    PGresult *r = NULL;
    char *names = NULL, *versions = NULL, *packed = NULL;
    char b_stage[STORE__PG_INT_LEN];
    int rc;

    rc = runs_arrays(it->runs, it->n_runs, &names, &versions);
    if (rc == 0)
        rc = packed_hex(it->event.data, &packed);
    if (rc) {
        free(names);
        free(versions);
        return idf_err_set(err, rc, "store: out of memory");
    }
    {
        const char *p[] = {it->event.source,
                           it->event.source_id,
                           it->event.type,
                           it->event.connection,
                           b_now,
                           packed ? NULL : it->event.data,
                           store__pg_i64(b_stage, (int64_t)it->event.stage),
                           names,
                           versions,
                           it->event.via,
                           it->event.actor,
                           packed};
        rc = store__pg_exec(c, "store event", SQL_INGEST, 12, p, &r, err);
    }
    if (rc)
        goto out;
    if (store__pg_get_bool(r, 0, 2)) {
        it->event_id = store__pg_get_i64(r, 0, 0);
        rc = read_run_ids(r, 1, it->run_ids, it->n_runs, err);
        if (rc == 0) /* issue 17: the event's subjects, for each run it started */
            rc = store__pg_subjects_write(c, it->run_ids, it->n_runs, it->event.subjects, it->event.n_subjects, NULL,
                                          err);
        goto out;
    }
    if (!store__pg_is_null(r, 0, 0)) { /* a duplicate of a row committed before */
        it->event_id = store__pg_get_i64(r, 0, 0);
        it->duplicate = true;
        goto out;
    }
    /* A duplicate of a row committed by the inserter this statement waited
     * for: a new statement's snapshot sees it. */
    PQclear(r);
    r = NULL;
    {
        const char *p[] = {it->event.source, it->event.source_id};
        rc = store__pg_exec(c, "find duplicate event", "SELECT id FROM events WHERE source = $1 AND source_id = $2", 2,
                            p, &r, err);
    }
    if (rc)
        goto out;
    if (PQntuples(r) == 0) {
        /* deleted (prune) between the two statements: the caller retries the batch */
        rc = idf_err_set(err, IDF_EBUSY, "store: find duplicate event: it was deleted meanwhile");
        goto out;
    }
    it->event_id = store__pg_get_i64(r, 0, 0);
    it->duplicate = true;
out:
    PQclear(r);
    free(names);
    free(versions);
    free(packed);
    return rc;
}

/* Marks event id done (with note) inside the open transaction if it is in
 * stage `from`; *changed tells whether it was. */
static int mark_done(struct store__pg *c, int64_t id, int from, const char *note, bool *changed, struct idf_err *err)
{
    PGresult *r = NULL;
    char b_id[STORE__PG_INT_LEN], b_from[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_id, id), store__pg_i64(b_from, from), note};
    int rc;

    rc = store__pg_exec(c, "settle event",
                        "UPDATE events SET stage = 0, note = $3 WHERE id = $1::bigint AND stage = $2::int", 3, p, &r,
                        err);
    if (rc == 0)
        *changed = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    return rc;
}

/* Stores items in one transaction; with delivery > 0, also marks that
 * delivery (stage EXPAND) done with note, or writes nothing (IDF_ESTATE)
 * when it is not waiting to be expanded. */
static int ingest_tx(struct store__pg *c, struct store_ingest_item *items, size_t n, int64_t delivery, const char *note,
                     struct idf_err *err)
{
    char b_now[STORE__PG_INT_LEN];
    bool changed = false;
    int rc;

    store__pg_i64(b_now, time_now_ms());
    for (size_t i = 0; i < n; i++) {
        items[i].event_id = 0;
        items[i].duplicate = false;
    }
    rc = store__pg_begin(c, err);
    if (rc)
        return rc;
    if (delivery > 0) {
        rc = mark_done(c, delivery, STORE_EVENT_EXPAND, note, &changed, err);
        if (rc == 0 && !changed)
            rc = idf_err_set(err, IDF_ESTATE, "store: event %lld is not a delivery waiting to be expanded",
                             (long long)delivery);
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = ingest_one(c, &items[i], b_now, err);
    if (rc == 0)
        rc = store__pg_commit(c, err);
    if (rc) {
        store__pg_rollback(c);
        for (size_t i = 0; i < n; i++) {
            items[i].event_id = 0;
            items[i].duplicate = false;
        }
    }
    return rc;
}

int store__pg_ingest(struct store *s, struct store_ingest_item *items, size_t n, struct idf_err *err)
{
    return ingest_tx(store__pg(s), items, n, 0, NULL, err);
}

int store__pg_events_pending(struct store *s, enum store_event_stage stage, int64_t now_ms, size_t max,
                             struct store_event **out, size_t *n_out, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    char b_stage[STORE__PG_INT_LEN], b_now[STORE__PG_INT_LEN], b_max[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_stage, (int64_t)stage), store__pg_i64(b_now, now_ms),
                       store__pg_i64(b_max, (int64_t)max)};
    bool oom = false;
    size_t n = 0;
    int rc, bad = 0;

    *n_out = 0;
    rc = store__pg_exec(
        c, "find waiting events",
        "SELECT id, source, source_id, type, connection, " STORE__PG_EVENT_DATA ", tries FROM events "
        "WHERE stage = $1::int AND stage > 0 AND next_at <= $2::bigint ORDER BY next_at, id LIMIT $3::bigint",
        3, p, &r, err);
    if (rc)
        return rc;
    for (int i = 0; i < PQntuples(r) && n < max && !oom; i++) {
        struct store_event *ev = calloc(1, sizeof *ev);
        if (!ev) {
            oom = true;
            break;
        }
        out[n++] = ev;
        ev->id = store__pg_get_i64(r, i, 0);
        ev->source = store__pg_get_dup(r, i, 1, &oom);
        ev->source_id = store__pg_get_dup(r, i, 2, &oom);
        ev->type = store__pg_get_dup(r, i, 3, &oom);
        ev->connection = store__pg_get_dup(r, i, 4, &oom);
        bad = store__pg_get_data(r, i, 5, &ev->data);
        ev->tries = (int)store__pg_get_i64(r, i, 6);
        if (bad)
            break;
    }
    PQclear(r);
    if (oom || bad) {
        int64_t id = n ? out[n - 1]->id : 0;
        for (size_t i = 0; i < n; i++) {
            store_event_free(out[i]);
            out[i] = NULL;
        }
        if (!oom && bad != IDF_ENOMEM)
            return idf_err_set(err, bad, "store: event %lld: its stored data is damaged", (long long)id);
        return idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    }
    *n_out = n;
    return 0;
}

int store__pg_events_settle(struct store *s, struct store_settle *items, size_t n, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    char *names = NULL, *versions = NULL;
    char b_now[STORE__PG_INT_LEN];
    int rc;

    store__pg_i64(b_now, time_now_ms());
    rc = store__pg_begin(c, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char b_id[STORE__PG_INT_LEN];
        rc = runs_arrays(items[i].runs, items[i].n_runs, &names, &versions);
        if (rc) {
            rc = idf_err_set(err, rc, "store: out of memory");
            break;
        }
        {
            const char *p[] = {store__pg_i64(b_id, items[i].event_id), items[i].note, b_now, names, versions};
            rc = store__pg_exec(c, "settle event", SQL_SETTLE, 5, p, &r, err);
        }
        free(names);
        free(versions);
        names = versions = NULL;
        if (rc == 0 && !store__pg_is_null(r, 0, 0)) {
            rc = read_run_ids(r, 1, items[i].run_ids, items[i].n_runs, err);
            if (rc == 0) /* issue 17: the event's subjects, for each run it started */
                rc = store__pg_subjects_write(c, items[i].run_ids, items[i].n_runs, items[i].subjects,
                                              items[i].n_subjects, NULL, err);
            items[i].settled = rc == 0;
        }
        PQclear(r);
        r = NULL;
    }
    if (rc == 0)
        rc = store__pg_commit(c, err);
    if (rc) {
        store__pg_rollback(c);
        for (size_t i = 0; i < n; i++)
            items[i].settled = false;
    }
    return rc;
}

int store__pg_event_expand(struct store *s, int64_t delivery_id, struct store_ingest_item *items, size_t n,
                           const char *note, struct idf_err *err)
{
    return ingest_tx(store__pg(s), items, n, delivery_id, note, err);
}

int store__pg_event_retry(struct store *s, int64_t id, int64_t next_at_ms, const char *note, bool give_up,
                          struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    char b_id[STORE__PG_INT_LEN], b_next[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_id, id), store__pg_i64(b_next, next_at_ms), note, give_up ? "true" : "false"};
    int rc;

    rc = store__pg_begin(c, err);
    if (rc)
        return rc;
    /* the stage guard: an event another node settled or expanded meanwhile is left alone */
    rc = store__pg_exec(c, "put off event",
                        "UPDATE events SET tries = tries + 1, note = $3, next_at = $2::bigint, "
                        "stage = CASE WHEN $4::boolean THEN 0 ELSE stage END WHERE id = $1::bigint AND stage > 0",
                        4, p, &r, err);
    if (rc)
        goto out;
    if (strcmp(PQcmdTuples(r), "0") == 0) {
        rc = idf_err_set(err, IDF_ESTATE, "store: event %lld is not waiting in a stage", (long long)id);
        goto out;
    }
    rc = store__pg_commit(c, err);
out:
    PQclear(r);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

/* -------------------------------------------------------------- cursors */

int store__pg_cursor_get(struct store *s, const char *name, char **value_out)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    const char *p[] = {name};
    bool oom = false;
    int rc;

    rc = store__pg_exec(c, "read cursor", "SELECT value FROM cursors WHERE name = $1", 1, p, &r, NULL);
    if (rc)
        return rc;
    if (PQntuples(r) == 0)
        rc = IDF_ENOTFOUND;
    else {
        *value_out = store__pg_get_dup(r, 0, 0, &oom);
        rc = oom ? IDF_ENOMEM : 0;
    }
    PQclear(r);
    return rc;
}

int store__pg_cursor_set(struct store *s, const char *name, const char *value)
{
    struct store__pg *c = store__pg(s);
    char b_now[STORE__PG_INT_LEN];
    const char *p[] = {name, value, store__pg_i64(b_now, time_now_ms())};
    int rc;

    rc = store__pg_begin(c, NULL);
    if (rc)
        return rc;
    rc = store__pg_exec(c, "save cursor",
                        "INSERT INTO cursors (name, value, updated_at) VALUES ($1, $2, $3::bigint) "
                        "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                        3, p, NULL, NULL);
    if (rc == 0)
        rc = store__pg_commit(c, NULL);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

/* ---------------------------------------------------------------- audit */

int store__pg_audit_add(struct store *s, const char *actor, const char *action, const char *target, const char *detail)
{
    struct store__pg *c = store__pg(s);
    int rc;

    rc = store__pg_begin(c, NULL);
    if (rc)
        return rc;
    rc = store__pg_audit(c, time_now_ms(), actor, action, target, detail, NULL);
    if (rc == 0)
        rc = store__pg_commit(c, NULL);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

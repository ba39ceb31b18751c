/* sqlite_events.c — the SQLite backend's workflows, event ingestion, cursors
 * and audit log.
 *
 * store_ingest is the durable acknowledgement path: the whole batch (events,
 * dedup look-ups and the runs they start) is one BEGIN IMMEDIATE transaction
 * committed with synchronous=FULL, so one fsync covers every event of the
 * batch and an acknowledged event survives a power loss. Deduplication rests
 * on the UNIQUE (source, source_id) constraint: INSERT ... ON CONFLICT DO
 * NOTHING, then a look-up of the existing id when nothing was inserted.
 *
 * Workflow versions are immutable rows (name, version); workflow_state holds
 * what changes (enabled). The caller's thread owns the connection. */
#include "store/sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

/* ------------------------------------------------------------- workflows */

int store__sq_workflow_save(struct store *s, const char *name, const char *source, const char *hash,
                            int64_t *version_out, bool *created_out, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int64_t newest = 0;
    int64_t now = time_now_ms();
    bool same = false;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        return rc;
    rc = store__sq_prep(c, SQ_WF_NEWEST,
                        "SELECT version, hash FROM workflows WHERE name = ?1 ORDER BY version DESC LIMIT 1", &st, err);
    if (rc)
        goto out;
    store__sq_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        newest = sqlite3_column_int64(st, 0);
        same = strcmp((const char *)sqlite3_column_text(st, 1), hash) == 0;
    } else if (rc != SQLITE_DONE) {
        rc = store__sq_fail(c, rc, "read workflow", err);
        goto out;
    }
    store__sq_done(st);
    if (same) {
        *version_out = newest;
        *created_out = false;
        rc = store__sq_commit(c, err);
        goto out;
    }

    rc = store__sq_prep(c, SQ_WF_INSERT,
                        "INSERT INTO workflows (name, version, source, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        &st, err);
    if (rc)
        goto out;
    store__sq_bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, newest + 1);
    store__sq_bind_text(st, 3, source);
    store__sq_bind_text(st, 4, hash);
    sqlite3_bind_int64(st, 5, now);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = store__sq_fail(c, rc, "save workflow", err);
        goto out;
    }
    store__sq_done(st);
    rc = store__sq_prep(c, SQ_WF_STATE_INSERT,
                        "INSERT INTO workflow_state (name, enabled, updated_at) VALUES (?1, 1, ?2) "
                        "ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at",
                        &st, err);
    if (rc)
        goto out;
    store__sq_bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, now);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = store__sq_fail(c, rc, "save workflow state", err);
        goto out;
    }
    store__sq_done(st);
    st = NULL;
    rc = store__sq_commit(c, err);
    if (rc == 0) {
        *version_out = newest + 1;
        *created_out = true;
    }
out:
    store__sq_done(st);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_workflow_source(struct store *s, const char *name, int64_t version, char **source_out,
                              int64_t *version_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    bool oom = false;
    int rc;

    rc = store__sq_prep(c, SQ_WF_SOURCE,
                        "SELECT source, version FROM workflows WHERE name = ?1 AND (?2 = 0 OR version = ?2) "
                        "ORDER BY version DESC LIMIT 1",
                        &st, NULL);
    if (rc)
        return rc;
    store__sq_bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, version);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *source_out = store__sq_col_dup(st, 0, &oom);
        if (version_out)
            *version_out = sqlite3_column_int64(st, 1);
        rc = oom ? IDF_ENOMEM : 0;
    } else {
        rc = rc == SQLITE_DONE ? IDF_ENOTFOUND : store__sq_fail(c, rc, "read workflow", NULL);
    }
    store__sq_done(st);
    return rc;
}

int store__sq_workflow_set_enabled(struct store *s, const char *name, bool enabled)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, NULL);
    if (rc)
        return rc;
    rc = store__sq_prep(c, SQ_WF_SET_ENABLED, "UPDATE workflow_state SET enabled = ?2, updated_at = ?3 WHERE name = ?1",
                        &st, NULL);
    if (rc)
        goto out;
    store__sq_bind_text(st, 1, name);
    sqlite3_bind_int(st, 2, enabled ? 1 : 0);
    sqlite3_bind_int64(st, 3, time_now_ms());
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = store__sq_fail(c, rc, "enable workflow", NULL);
        goto out;
    }
    rc = sqlite3_changes(c->db) == 0 ? IDF_ENOTFOUND : 0;
    store__sq_done(st);
    st = NULL;
    if (rc == 0)
        rc = store__sq_commit(c, NULL);
out:
    store__sq_done(st);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

static int workflow_row(sqlite3_stmt *st, void *row)
{
    struct store_workflow_info *w = row;
    bool oom = false;

    w->name = store__sq_col_dup(st, 0, &oom);
    w->version = sqlite3_column_int64(st, 1);
    w->enabled = sqlite3_column_int(st, 2) != 0;
    w->hash = store__sq_col_dup(st, 3, &oom);
    w->updated_at = sqlite3_column_int64(st, 4);
    return oom ? IDF_ENOMEM : 0;
}

int store__sq_workflow_list(struct store *s, struct store_workflow_info **rows_out, size_t *n_out)
{
    void *rows = NULL;
    int rc = store__sq_list(store__sq(s), SQ_WF_LIST,
                          "SELECT w.name, w.version, s.enabled, w.hash, s.updated_at FROM workflow_state s "
                          "JOIN workflows w ON w.name = s.name "
                          "AND w.version = (SELECT max(version) FROM workflows WHERE name = s.name) "
                          "ORDER BY s.name",
                          NULL, NULL, workflow_row, store__workflow_info_clear, sizeof **rows_out, &rows, n_out,
                            "list workflows");

    *rows_out = rows;
    return rc;
}

/* (helper "inputs") max(id) of one workflow is a seek at the end of its
 * runs_workflow entries (the index ends with the rowid). */
static int last_run_row(sqlite3_stmt *st, void *row)
{
    struct store_last_run *r = row;
    bool oom = false;

    r->workflow = store__sq_col_dup(st, 0, &oom);
    r->id = sqlite3_column_int64(st, 1);
    r->status = store__sq_col_dup(st, 2, &oom);
    r->created_at = sqlite3_column_int64(st, 3);
    return oom ? IDF_ENOMEM : 0;
}

int store__sq_workflow_last_runs(struct store *s, struct store_last_run **rows_out, size_t *n_out)
{
    void *rows = NULL;
    int rc = store__sq_list(store__sq(s), SQ_WF_LAST_RUNS,
                            "SELECT s.name, r.id, r.status, r.created_at FROM workflow_state s "
                            "JOIN runs r ON r.id = (SELECT max(id) FROM runs WHERE workflow = s.name) "
                            "ORDER BY s.name",
                            NULL, NULL, last_run_row, store__last_run_clear, sizeof **rows_out, &rows, n_out,
                            "list the workflows' last runs");

    *rows_out = rows;
    return rc;
}

/* --------------------------------------------------------------- events */

/* Creates the n queued runs of event_id inside the open transaction, each
 * with the event's subjects (issue 17). */
static int create_runs(struct store__sq *c, int64_t event_id, const struct store_run_in *runs, size_t n,
                       int64_t *run_ids, const struct store_subject *subjects, size_t n_subjects, int64_t now,
                       struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    for (size_t j = 0; j < n; j++) {
        rc = store__sq_prep(c, SQ_RUN_INSERT,
                            "INSERT INTO runs (workflow, version, event_id, status, created_at, updated_at) "
                            "VALUES (?1, ?2, ?3, 'queued', ?4, ?4)",
                            &st, err);
        if (rc)
            return rc;
        store__sq_bind_text(st, 1, runs[j].workflow);
        sqlite3_bind_int64(st, 2, runs[j].version);
        sqlite3_bind_int64(st, 3, event_id);
        sqlite3_bind_int64(st, 4, now);
        rc = sqlite3_step(st);
        store__sq_done(st);
        if (rc != SQLITE_DONE)
            return store__sq_fail(c, rc, "create run", err);
        run_ids[j] = sqlite3_last_insert_rowid(c->db);
        rc = store__sq_subjects_write(c, run_ids[j], subjects, n_subjects, NULL, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Stores one item inside the open ingest transaction; packed (n bytes, NULL:
 * none) is its data as store__pack made it, stored instead of the text: a BLOB
 * in events.data, which every reader tells from text by its type. */
static int ingest_one(struct store__sq *c, struct store_ingest_item *it, const unsigned char *packed, size_t n,
                      int64_t now, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__sq_prep(c, SQ_EV_INSERT,
                        "INSERT INTO events (source, source_id, type, connection, received_at, data, stage, via, "
                        "actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (source, source_id) DO NOTHING",
                        &st, err);
    if (rc)
        return rc;
    store__sq_bind_text(st, 1, it->event.source);
    store__sq_bind_text(st, 2, it->event.source_id);
    store__sq_bind_text(st, 3, it->event.type);
    store__sq_bind_text(st, 4, it->event.connection);
    sqlite3_bind_int64(st, 5, now);
    if (packed)
        sqlite3_bind_blob(st, 6, packed, (int)n, SQLITE_STATIC);
    else
        store__sq_bind_text(st, 6, it->event.data);
    sqlite3_bind_int(st, 7, (int)it->event.stage);
    store__sq_bind_text(st, 8, it->event.via);
    store__sq_bind_text(st, 9, it->event.actor);
    rc = sqlite3_step(st);
    store__sq_done(st);
    if (rc != SQLITE_DONE)
        return store__sq_fail(c, rc, "store event", err);

    if (sqlite3_changes(c->db) == 0) {
        rc = store__sq_prep(c, SQ_EV_FIND, "SELECT id FROM events WHERE source = ?1 AND source_id = ?2", &st, err);
        if (rc)
            return rc;
        store__sq_bind_text(st, 1, it->event.source);
        store__sq_bind_text(st, 2, it->event.source_id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            it->event_id = sqlite3_column_int64(st, 0);
            it->duplicate = true;
            rc = 0;
        } else {
            rc = store__sq_fail(c, rc, "find duplicate event", err);
        }
        store__sq_done(st);
        return rc;
    }
    it->event_id = sqlite3_last_insert_rowid(c->db);
    return create_runs(c, it->event_id, it->runs, it->n_runs, it->run_ids, it->event.subjects, it->event.n_subjects,
                       now, err);
}

static int mark_done(struct store__sq *c, int64_t id, int from, const char *note, bool *changed,
                     struct idf_err *err);

/* Stores items in one transaction at sync; with delivery > 0, also marks
 * that delivery (stage EXPAND) done with note, or writes nothing
 * (IDF_ESTATE) when it is not waiting to be expanded. */
static int ingest_tx(struct store__sq *c, struct store_ingest_item *items, size_t n, int64_t delivery,
                     const char *note, enum store__sq_sync sync, struct idf_err *err)
{
    int64_t now = time_now_ms();
    bool changed = false;
    unsigned char **packed = NULL; /* each item's packed data, NULL: stored as text */
    size_t *packed_n = NULL;
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        items[i].event_id = 0;
        items[i].duplicate = false;
    }
    /* packed before the write lock is taken: its CPU is not spent holding it */
    if (n > 0) {
        packed = calloc(n, sizeof *packed);
        packed_n = calloc(n, sizeof *packed_n);
        if (!packed || !packed_n)
            rc = IDF_ENOMEM;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = store__pack(items[i].event.data, &packed[i], &packed_n[i]);
    if (rc) {
        rc = idf_err_set(err, rc, "store: out of memory");
        goto out;
    }
    rc = store__sq_begin(c, sync, err);
    if (rc)
        goto out;
    if (delivery > 0) {
        rc = mark_done(c, delivery, STORE_EVENT_EXPAND, note, &changed, err);
        if (rc == 0 && !changed)
            rc = idf_err_set(err, IDF_ESTATE, "store: event %lld is not a delivery waiting to be expanded",
                             (long long)delivery);
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = ingest_one(c, &items[i], packed[i], packed_n[i], now, err);
    if (rc == 0)
        rc = store__sq_commit(c, err);
    if (rc)
        store__sq_rollback(c);
out:
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            items[i].event_id = 0;
            items[i].duplicate = false;
        }
    }
    for (size_t i = 0; packed && i < n; i++)
        free(packed[i]);
    free(packed);
    free(packed_n);
    return rc;
}

int store__sq_ingest(struct store *s, struct store_ingest_item *items, size_t n, struct idf_err *err)
{
    return ingest_tx(store__sq(s), items, n, 0, NULL, SQ_SYNC_FULL, err);
}

int store__sq_col_data(sqlite3_stmt *st, int col, char **out)
{
    bool oom = false;

    *out = NULL;
    if (sqlite3_column_type(st, col) != SQLITE_BLOB) { /* text, as every event before migration 13 */
        *out = store__sq_col_dup(st, col, &oom);
        return oom ? IDF_ENOMEM : 0;
    }
    return store__unpack(sqlite3_column_blob(st, col), (size_t)sqlite3_column_bytes(st, col), out);
}

/* One event row of a statement with the columns STORE__EVENT_COLUMNS: for
 * store__sq_event_get and the replay's list. */
int store__sq_event_row(sqlite3_stmt *st, void *row)
{
    struct store_event *ev = row;
    bool oom = false;
    int rc;

    ev->id = sqlite3_column_int64(st, 0);
    ev->source = store__sq_col_dup(st, 1, &oom);
    ev->source_id = store__sq_col_dup(st, 2, &oom);
    ev->type = store__sq_col_dup(st, 3, &oom);
    ev->connection = store__sq_col_dup(st, 4, &oom);
    ev->received_at = sqlite3_column_int64(st, 5);
    rc = store__sq_col_data(st, 6, &ev->data);
    switch (sqlite3_column_int(st, 7)) {
    case STORE_EVENT_MATCH: ev->stage = STORE_EVENT_MATCH; break;
    case STORE_EVENT_EXPAND: ev->stage = STORE_EVENT_EXPAND; break;
    default: ev->stage = STORE_EVENT_DONE; break;
    }
    ev->tries = sqlite3_column_int(st, 8);
    ev->note = store__sq_col_dup(st, 9, &oom);
    return oom ? IDF_ENOMEM : rc;
}

int store__sq_event_get(struct store *s, int64_t id, struct store_event **out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    struct store_event *ev = NULL;
    int rc;

    rc = store__sq_prep(c, SQ_EV_GET, "SELECT " STORE__EVENT_COLUMNS " FROM events WHERE id = ?1", &st, NULL);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? IDF_ENOTFOUND : store__sq_fail(c, rc, "read event", NULL);
        goto out;
    }
    if (!(ev = calloc(1, sizeof *ev))) {
        rc = IDF_ENOMEM;
        goto out;
    }
    rc = store__sq_event_row(st, ev);
out:
    store__sq_done(st);
    if (rc)
        store_event_free(ev);
    else
        *out = ev;
    return rc;
}

int store__sq_events_pending(struct store *s, enum store_event_stage stage, int64_t now_ms, size_t max,
                             struct store_event **out, size_t *n_out, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    bool oom = false;
    size_t n = 0;
    int rc, bad = 0;

    /* "stage > 0" is the partial index's own condition, spelled out: SQLite
     * uses a partial index only when the query states its WHERE term, and
     * "stage = ?1" does not (without it every poll read the whole table) */
    rc = store__sq_prep(c, SQ_EV_PENDING,
                        "SELECT id, source, source_id, type, connection, data, tries FROM events "
                        "WHERE stage = ?1 AND stage > 0 AND next_at <= ?2 ORDER BY next_at, id LIMIT ?3",
                        &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, (int)stage);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_event *ev = calloc(1, sizeof *ev);
        if (!ev) {
            oom = true;
            break;
        }
        out[n++] = ev;
        ev->id = sqlite3_column_int64(st, 0);
        ev->source = store__sq_col_dup(st, 1, &oom);
        ev->source_id = store__sq_col_dup(st, 2, &oom);
        ev->type = store__sq_col_dup(st, 3, &oom);
        ev->connection = store__sq_col_dup(st, 4, &oom);
        bad = store__sq_col_data(st, 5, &ev->data);
        ev->tries = sqlite3_column_int(st, 6);
        if (oom || bad)
            break;
    }
    if (oom || bad == IDF_ENOMEM)
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    else if (bad)
        rc = idf_err_set(err, bad, "store: event %lld: its stored data is damaged", (long long)out[n - 1]->id);
    else
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "find waiting events", err);
    store__sq_done(st);
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            store_event_free(out[i]);
            out[i] = NULL;
        }
        n = 0;
    }
    *n_out = n;
    return rc;
}

/* Marks event id done (with note) inside the open transaction if it is in
 * stage `from`; *changed tells whether it was. */
static int mark_done(struct store__sq *c, int64_t id, int from, const char *note, bool *changed, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_EV_SETTLE, "UPDATE events SET stage = 0, note = ?3 WHERE id = ?1 AND stage = ?2",
                            &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, from);
    store__sq_bind_text(st, 3, note);
    rc = sqlite3_step(st);
    store__sq_done(st);
    if (rc != SQLITE_DONE)
        return store__sq_fail(c, rc, "settle event", err);
    *changed = sqlite3_changes(c->db) > 0;
    return 0;
}

int store__sq_events_settle(struct store *s, struct store_settle *items, size_t n, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    int64_t now = time_now_ms();
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        bool changed = false;
        rc = mark_done(c, items[i].event_id, STORE_EVENT_MATCH, items[i].note, &changed, err);
        if (rc == 0 && changed)
            rc = create_runs(c, items[i].event_id, items[i].runs, items[i].n_runs, items[i].run_ids,
                             items[i].subjects, items[i].n_subjects, now, err);
        items[i].settled = rc == 0 && changed;
    }
    if (rc == 0)
        rc = store__sq_commit(c, err);
    if (rc) {
        store__sq_rollback(c);
        for (size_t i = 0; i < n; i++)
            items[i].settled = false;
    }
    return rc;
}

int store__sq_event_expand(struct store *s, int64_t delivery_id, struct store_ingest_item *items, size_t n,
                           const char *note, struct idf_err *err)
{
    /* NORMAL: a delivery lost with its events at a power loss is still waiting, and is expanded again */
    return ingest_tx(store__sq(s), items, n, delivery_id, note, SQ_SYNC_NORMAL, err);
}

int store__sq_event_retry(struct store *s, int64_t id, int64_t next_at_ms, const char *note, bool give_up,
                          struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        return rc;
    rc = store__sq_prep(c, SQ_EV_RETRY,
                        "UPDATE events SET tries = tries + 1, note = ?3, next_at = ?2, "
                        "stage = CASE WHEN ?4 THEN 0 ELSE stage END WHERE id = ?1 AND stage > 0",
                        &st, err);
    if (rc)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, next_at_ms);
    store__sq_bind_text(st, 3, note);
    sqlite3_bind_int(st, 4, give_up ? 1 : 0);
    rc = sqlite3_step(st);
    store__sq_done(st);
    st = NULL;
    if (rc != SQLITE_DONE) {
        rc = store__sq_fail(c, rc, "put off event", err);
        goto out;
    }
    rc = sqlite3_changes(c->db) == 0
             ? idf_err_set(err, IDF_ESTATE, "store: event %lld is not waiting in a stage", (long long)id)
             : 0;
    if (rc == 0)
        rc = store__sq_commit(c, err);
out:
    if (rc)
        store__sq_rollback(c);
    return rc;
}

/* -------------------------------------------------------------- cursors */

int store__sq_cursor_get(struct store *s, const char *name, char **value_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    bool oom = false;
    int rc;

    rc = store__sq_prep(c, SQ_CURSOR_GET, "SELECT value FROM cursors WHERE name = ?1", &st, NULL);
    if (rc)
        return rc;
    store__sq_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *value_out = store__sq_col_dup(st, 0, &oom);
        rc = oom ? IDF_ENOMEM : 0;
    } else {
        rc = rc == SQLITE_DONE ? IDF_ENOTFOUND : store__sq_fail(c, rc, "read cursor", NULL);
    }
    store__sq_done(st);
    return rc;
}

/* Runs one cached single-statement write in its own transaction. bind fills
 * the parameters; arg is passed through. */
static int write_one(struct store__sq *c, enum store__sq_slot slot, const char *sql, const char *what,
                     void (*bind)(sqlite3_stmt *st, const void *arg), const void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, NULL);
    if (rc)
        return rc;
    rc = store__sq_prep(c, slot, sql, &st, NULL);
    if (rc)
        goto out;
    bind(st, arg);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, what, NULL);
    store__sq_done(st);
    if (rc == 0)
        rc = store__sq_commit(c, NULL);
out:
    if (rc)
        store__sq_rollback(c);
    return rc;
}

struct kv {
    const char *a, *b, *c, *d;
};

static void bind_cursor(sqlite3_stmt *st, const void *arg)
{
    const struct kv *kv = arg;
    store__sq_bind_text(st, 1, kv->a);
    store__sq_bind_text(st, 2, kv->b);
    sqlite3_bind_int64(st, 3, time_now_ms());
}

int store__sq_cursor_set(struct store *s, const char *name, const char *value)
{
    struct kv kv = {name, value, NULL, NULL};
    return write_one(store__sq(s), SQ_CURSOR_SET,
                     "INSERT INTO cursors (name, value, updated_at) VALUES (?1, ?2, ?3) "
                     "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                     "save cursor", bind_cursor, &kv);
}

/* ---------------------------------------------------------------- audit */

static void bind_audit(sqlite3_stmt *st, const void *arg)
{
    const struct kv *kv = arg;
    sqlite3_bind_int64(st, 1, time_now_ms());
    store__sq_bind_text(st, 2, kv->a);
    store__sq_bind_text(st, 3, kv->b);
    store__sq_bind_text(st, 4, kv->c);
    store__sq_bind_text(st, 5, kv->d);
}

int store__sq_audit_add(struct store *s, const char *actor, const char *action, const char *target, const char *detail)
{
    struct kv kv = {actor, action, target, detail};
    return write_one(store__sq(s), SQ_AUDIT_ADD, SQ_SQL_AUDIT_ADD, "add audit record", bind_audit, &kv);
}

static int audit_row(sqlite3_stmt *st, void *row)
{
    struct store_audit *a = row;
    bool oom = false;

    a->id = sqlite3_column_int64(st, 0);
    a->at = sqlite3_column_int64(st, 1);
    a->actor = store__sq_col_dup(st, 2, &oom);
    a->action = store__sq_col_dup(st, 3, &oom);
    a->target = store__sq_col_dup(st, 4, &oom);
    a->detail = store__sq_col_dup(st, 5, &oom);
    return oom ? IDF_ENOMEM : 0;
}

static void bind_limit(sqlite3_stmt *st, const void *arg)
{
    sqlite3_bind_int(st, 1, *(const int *)arg);
}

int store__sq_audit_list(struct store *s, int limit, struct store_audit **rows_out, size_t *n_out)
{
    void *rows = NULL;
    int rc = store__sq_list(store__sq(s), SQ_AUDIT_LIST,
                          "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?1",
                          bind_limit, &limit, audit_row, store__audit_clear, sizeof **rows_out, &rows, n_out,
                            "list audit");

    *rows_out = rows;
    return rc;
}

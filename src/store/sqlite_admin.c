/* sqlite_admin.c — the SQLite backend's operator actions: rerun, cancel,
 * approval decisions, and retention (prune).
 *
 * Each action is one BEGIN IMMEDIATE transaction that first reads the run's
 * state and refuses (IDF_ESTATE) when the action does not apply, so a
 * concurrent worker's step commit and an operator's action are serialized
 * and never interleave. Pruning is the exception: it deletes in small
 * batches, each its own transaction, so it never holds the write lock long
 * enough to delay an event acknowledgement.
 *
 * Callers: API and CLI threads, each on its own connection. */
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRUNE_RUN_BATCH 500     /* finished runs deleted per transaction */
#define PRUNE_EVENT_WINDOW 2000 /* event ids examined per transaction */

/* Reads the status (copied into status, at most n bytes) and pc of a run. */
static int run_state(struct store__sq *c, int64_t run_id, char *status, size_t n, int *pc_out, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_RUN_STATE, "SELECT status, pc FROM runs WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        snprintf(status, n, "%s", s ? s : "");
        if (pc_out)
            *pc_out = sqlite3_column_int(st, 1);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = idf_err_set(err, IDF_ENOTFOUND, "store: no run %lld", (long long)run_id);
    } else {
        rc = store__sq_fail(c, rc, "read run", err);
    }
    store__sq_done(st);
    return rc;
}

/* Steps a prepared, bound write statement and resets it. */
static int step_write(struct store__sq *c, sqlite3_stmt *st, const char *what, struct idf_err *err)
{
    int rc = sqlite3_step(st);
    store__sq_done(st);
    return rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, what, err);
}

/* ---------------------------------------------------------- rerun, cancel */

/* Issue 17 ("approvals-reruns"): why a failed or cancelled run must not be
 * re-run without force, read inside the rerun's transaction (the write lock
 * BEGIN IMMEDIATE took makes a concurrent re-run wait, then see this one's).
 * IDF_EEXIST (*prev_out the newest re-run) when it was re-run already;
 * IDF_ESTATE when it failed at an approval step that was rejected. */
/* The newest re-run of run_id into *id_out (0 when none). */
static int newest_rerun(struct store__sq *c, int64_t run_id, int64_t *id_out, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_RERUN_PREV, "SELECT max(id) FROM runs WHERE rerun_of = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id_out = sqlite3_column_int64(st, 0); /* 0 for NULL: never re-run */
        rc = 0;
    } else {
        rc = store__sq_fail(c, rc, "read re-runs", err);
    }
    store__sq_done(st);
    return rc;
}

static int rerun_refusal(struct store__sq *c, int64_t run_id, int pc, int64_t *prev_out, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = newest_rerun(c, run_id, prev_out, err);
    if (rc)
        return rc;
    if (*prev_out)
        return store__rerun_refused_done(err, run_id, *prev_out);
    rc = store__sq_prep(c, SQ_RERUN_REJECTED,
                        "SELECT a.actor, a.comment FROM approvals a JOIN steps s ON s.run_id = a.run_id "
                        "AND s.step_id = a.step_id WHERE a.run_id = ?1 AND a.status = 'rejected' AND s.idx = ?2 "
                        "LIMIT 1",
                        &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int(st, 2, pc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rc = store__rerun_refused_rejected(err, run_id, (const char *)sqlite3_column_text(st, 0),
                                           (const char *)sqlite3_column_text(st, 1));
    } else {
        rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "read approvals", err);
    }
    store__sq_done(st);
    return rc;
}

int store__sq_run_rerun(struct store *s, int64_t run_id, int64_t now_ms, const char *actor, bool force,
                        int64_t *new_id_out, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    char status[32];
    int64_t new_id = 0, prev = 0;
    int pc = 0;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        return rc;
    rc = run_state(c, run_id, status, sizeof status, &pc, err);
    if (rc)
        goto out;
    if (strcmp(status, STORE_RUN_FAILED) != 0 && strcmp(status, STORE_RUN_CANCELLED) != 0) {
        rc = idf_err_set(err, IDF_ESTATE, "store: run %lld is %s; only a failed or cancelled run can be re-run",
                         (long long)run_id, status);
        goto out;
    }
    if (!force) {
        rc = rerun_refusal(c, run_id, pc, &prev, err);
        if (rc) {
            if (rc == IDF_EEXIST)
                *new_id_out = prev;
            goto out;
        }
    }
    rc = store__sq_prep(c, SQ_RERUN_INSERT,
                        "INSERT INTO runs (workflow, version, event_id, status, pc, item, attempt, context, "
                        "created_at, updated_at, rerun_of) "
                        "SELECT workflow, version, event_id, 'queued', pc, item, 0, context, ?2, ?2, id "
                        "FROM runs WHERE id = ?1",
                        &st, err);
    if (rc)
        goto out;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, now_ms);
    rc = step_write(c, st, "create rerun", err);
    if (rc)
        goto out;
    new_id = sqlite3_last_insert_rowid(c->db);

    rc = store__sq_prep(c, SQ_RERUN_STEPS,
                        "INSERT INTO steps (run_id, idx, item, step_id, status, attempts, input, output, error, "
                        "started_at, finished_at) "
                        "SELECT ?2, idx, item, step_id, 'reused', attempts, input, output, error, started_at, "
                        "finished_at FROM steps WHERE run_id = ?1 AND idx < ?3",
                        &st, err);
    if (rc)
        goto out;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, new_id);
    sqlite3_bind_int(st, 3, pc);
    rc = step_write(c, st, "copy steps", err);
    if (rc)
        goto out;
    /* a run stopped inside a foreach step resumes at its item with the same
     * items and the results of the items before it (sqlite_foreach.c) */
    rc = store__sq_foreach_copy(c, run_id, new_id, err);
    if (rc)
        goto out;
    rc = store__sq_subjects_copy(c, run_id, new_id, err); /* issue 17: the re-run concerns the same subjects */
    if (rc)
        goto out;
    {
        char target[40], detail[80];
        snprintf(target, sizeof target, "run:%lld", (long long)run_id);
        snprintf(detail, sizeof detail, "{\"new_run\":%lld%s}", (long long)new_id, force ? ",\"forced\":true" : "");
        rc = store__sq_audit(c, now_ms, actor, "run.rerun", target, detail, err);
    }
    if (rc)
        goto out;
    rc = store__sq_commit(c, err);
    if (rc == 0)
        *new_id_out = new_id;
out:
    if (rc)
        store__sq_rollback(c);
    return rc;
}

/* Cancels run_id inside the open transaction: IDF_ESTATE unless it is
 * queued or waiting (status is what run_state read). */
static int cancel_now(struct store__sq *c, int64_t run_id, const char *status, const char *reason, int64_t now_ms,
                      struct idf_err *err)
{
    sqlite3_stmt *st = NULL;

    int rc = store__cancel_state_ok(run_id, status, err);

    if (rc)
        return rc;
    rc = store__sq_prep(c, SQ_CANCEL,
                        "UPDATE runs SET status = 'cancelled', error = coalesce(?2, 'cancelled'), wake_at = 0, "
                        "updated_at = ?3, finished_at = ?3, lease_owner = NULL, lease_until = NULL WHERE id = ?1",
                        &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    store__sq_bind_text(st, 2, reason);
    sqlite3_bind_int64(st, 3, now_ms);
    return step_write(c, st, "cancel run", err);
}

int store__sq_run_cancel(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    char status[32];
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        return rc;
    rc = run_state(c, run_id, status, sizeof status, NULL, err);
    if (rc == 0)
        rc = cancel_now(c, run_id, status, reason, now_ms, err);
    if (rc == 0)
        rc = store__sq_commit(c, err);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_run_stop(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, const char *actor,
                       bool *pending_out, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    char status[32], target[40];
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        return rc;
    rc = run_state(c, run_id, status, sizeof status, NULL, err);
    if (rc)
        goto out;
    *pending_out = strcmp(status, STORE_RUN_RUNNING) == 0;
    if (!*pending_out) {
        /* queued, waiting or held: cancelled now, under the same lock */
        rc = cancel_now(c, run_id, status, reason, now_ms, err);
    } else {
        /* running: its worker's next step commit applies it (sqlite_runs.c) */
        rc = sqlite3_prepare_v2(c->db, "UPDATE runs SET cancel_requested = ?2, updated_at = ?3 WHERE id = ?1", -1,
                                &st, NULL);
        if (rc != SQLITE_OK) {
            st = NULL;
            rc = store__sq_fail(c, rc, "prepare", err);
            goto out;
        }
        sqlite3_bind_int64(st, 1, run_id);
        store__sq_bind_text(st, 2, reason);
        sqlite3_bind_int64(st, 3, now_ms);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "ask run to cancel", err);
    }
    snprintf(target, sizeof target, "run:%lld", (long long)run_id);
    if (rc == 0)
        rc = store__sq_audit(c, now_ms, actor, "run.cancel", target, NULL, err);
    if (rc == 0)
        rc = store__sq_commit(c, err);
out:
    sqlite3_finalize(st);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

/* ------------------------------------------------------------ approvals */

/* Finds the pending approval of run_id (its step id copied into step, n
 * bytes; the connection of a guardrail hold into hold, n bytes, "" for an
 * approval step). IDF_ESTATE when the run's approvals are all decided,
 * IDF_ENOTFOUND when it has none. */
static int pending_approval(struct store__sq *c, int64_t run_id, char *step, char *hold, size_t n, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_APPROVAL_PENDING,
                            "SELECT step_id, hold FROM approvals WHERE run_id = ?1 AND status = 'pending' LIMIT 1", &st,
                            err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        const char *h = (const char *)sqlite3_column_text(st, 1);
        if (!v || strlen(v) >= n || (h && strlen(h) >= n))
            rc = idf_err_set(err, IDF_EDB, "store: bad approval row");
        else {
            memcpy(step, v, strlen(v) + 1);
            snprintf(hold, n, "%s", h ? h : "");
            rc = 0;
        }
        store__sq_done(st);
        return rc;
    }
    store__sq_done(st);
    if (rc != SQLITE_DONE)
        return store__sq_fail(c, rc, "read approval", err);

    rc = store__sq_prep(c, SQ_APPROVAL_ANY, "SELECT 1 FROM approvals WHERE run_id = ?1 LIMIT 1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    rc = sqlite3_step(st);
    store__sq_done(st);
    if (rc == SQLITE_ROW)
        return idf_err_set(err, IDF_ESTATE, "store: the approval of run %lld was already decided", (long long)run_id);
    if (rc == SQLITE_DONE)
        return idf_err_set(err, IDF_ENOTFOUND, "store: run %lld has no approval", (long long)run_id);
    return store__sq_fail(c, rc, "read approval", err);
}

int store__sq_approval_decide(struct store *s, int64_t run_id, bool approve, bool hold_expected, const char *actor,
                              const char *comment, int64_t now_ms, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    char status[32];
    char step[STORE__NAME_MAX + 1], hold[STORE__NAME_MAX + 1];
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        return rc;
    rc = run_state(c, run_id, status, sizeof status, NULL, err);
    if (rc == 0)
        rc = pending_approval(c, run_id, step, hold, sizeof step, err);
    if (rc)
        goto out;
    if ((rc = store__decide_state_ok(run_id, status, hold, hold_expected, err)) != 0)
        goto out;
    rc = store__sq_prep(c, SQ_APPROVAL_SET,
                        "UPDATE approvals SET status = ?3, actor = ?4, comment = ?5, decided_at = ?6 "
                        "WHERE run_id = ?1 AND step_id = ?2",
                        &st, err);
    if (rc)
        goto out;
    sqlite3_bind_int64(st, 1, run_id);
    store__sq_bind_text(st, 2, step);
    store__sq_bind_text(st, 3, approve ? "approved" : "rejected");
    store__sq_bind_text(st, 4, actor);
    store__sq_bind_text(st, 5, comment);
    sqlite3_bind_int64(st, 6, now_ms);
    rc = step_write(c, st, "decide approval", err);
    if (rc)
        goto out;
    rc = store__sq_prep(c, SQ_RUN_REQUEUE,
                        "UPDATE runs SET status = 'queued', wake_at = 0, updated_at = ?2 WHERE id = ?1", &st, err);
    if (rc)
        goto out;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, now_ms);
    rc = step_write(c, st, "queue run", err);
    if (rc)
        goto out;
    /* the decision's audit record, in the same transaction */
    {
        char target[40];
        char *detail = store__approval_detail(step, comment, hold[0] ? hold : NULL);
        snprintf(target, sizeof target, "run:%lld", (long long)run_id);
        rc = detail ? store__sq_audit(c, now_ms, actor, store__approval_action(approve, hold[0] != '\0'), target,
                                      detail, err)
                    : idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        free(detail);
    }
    if (rc == 0)
        rc = store__sq_commit(c, err);
out:
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_approval_get(struct store *s, int64_t run_id, const char *step_id, char **status_out, char **actor_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    char *status = NULL, *actor = NULL;
    bool oom = false;
    int rc;

    rc = store__sq_prep(c, SQ_APPROVAL_GET, "SELECT status, actor FROM approvals WHERE run_id = ?1 AND step_id = ?2",
                        &st, NULL);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    store__sq_bind_text(st, 2, step_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        status = store__sq_col_dup(st, 0, &oom);
        actor = store__sq_col_dup(st, 1, &oom);
        rc = oom ? IDF_ENOMEM : 0;
    } else {
        rc = rc == SQLITE_DONE ? IDF_ENOTFOUND : store__sq_fail(c, rc, "read approval", NULL);
    }
    store__sq_done(st);
    if (rc) {
        free(status);
        free(actor);
        return rc;
    }
    *status_out = status;
    if (actor_out)
        *actor_out = actor;
    else
        free(actor);
    return 0;
}

static int approval_row(sqlite3_stmt *st, void *row)
{
    struct store_approval *a = row;
    bool oom = false;

    a->run_id = sqlite3_column_int64(st, 0);
    a->step_id = store__sq_col_dup(st, 1, &oom);
    a->workflow = store__sq_col_dup(st, 2, &oom);
    a->message = store__sq_col_dup(st, 3, &oom);
    a->created_at = sqlite3_column_int64(st, 4);
    a->hold = store__sq_col_dup(st, 5, &oom); /* issue 19 */
    return oom ? IDF_ENOMEM : 0;
}

static void bind_list_max(sqlite3_stmt *st, const void *arg)
{
    (void)arg;
    sqlite3_bind_int(st, 1, STORE_LIST_MAX);
}

int store__sq_approval_list(struct store *s, struct store_approval **rows_out, size_t *n_out)
{
    void *rows = NULL;
    /* Only approvals a decision can still act on: the run is waiting (held, for a guardrail hold). */
    int rc = store__sq_list(store__sq(s), SQ_APPROVAL_LIST,
                            "SELECT a.run_id, a.step_id, r.workflow, a.message, a.created_at, a.hold FROM approvals a "
                            "JOIN runs r ON r.id = a.run_id WHERE a.status = 'pending' AND "
                            "r.status = CASE WHEN a.hold IS NULL THEN 'waiting' ELSE 'held' END "
                            "ORDER BY a.created_at, a.run_id LIMIT ?1",
                            bind_list_max, NULL, approval_row, store__approval_clear, sizeof **rows_out, &rows, n_out,
                            "list approvals");

    *rows_out = rows;
    return rc;
}

/* Issue 17 ("approvals-reruns"): one approval of a run with its decision. */
static int run_approval_row(sqlite3_stmt *st, void *row)
{
    struct store_approval *a = row;
    bool oom = approval_row(st, row) != 0; /* columns 0-5 as a pending one's */

    a->status = store__sq_col_dup(st, 6, &oom);
    a->actor = store__sq_col_dup(st, 7, &oom);
    a->comment = store__sq_col_dup(st, 8, &oom);
    a->decided_at = sqlite3_column_int64(st, 9);
    return oom ? IDF_ENOMEM : 0;
}

int store__sq_run_approvals(struct store *s, int64_t run_id, struct store_approval **rows_out, size_t *n_out)
{
    void *rows = NULL;
    int rc = store__sq_list(store__sq(s), SQ_RUN_APPROVALS,
                            "SELECT a.run_id, a.step_id, r.workflow, a.message, a.created_at, a.hold, a.status, "
                            "a.actor, a.comment, coalesce(a.decided_at, 0) FROM approvals a JOIN runs r ON r.id = "
                            "a.run_id "
                            "WHERE a.run_id = ?1 ORDER BY a.created_at, a.step_id",
                            store__sq_bind_id, &run_id, run_approval_row, store__approval_clear, sizeof **rows_out,
                            &rows, n_out, "list a run's approvals");

    *rows_out = rows;
    return rc;
}

/* Issue 19: the runs held at connection's guardrail. */
int store__sq_guard_held(struct store *s, const char *connection, int64_t *n_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_GUARD_HELD,
                            "SELECT count(*) FROM approvals a JOIN runs r ON r.id = a.run_id "
                            "WHERE a.hold = ?1 AND a.status = 'pending' AND r.status = 'held'",
                            &st, NULL);
    if (rc)
        return rc;
    store__sq_bind_text(st, 1, connection);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *n_out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = store__sq_fail(c, rc, "count held runs", NULL);
    }
    store__sq_done(st);
    return rc;
}

/* ------------------------------------------------------------ retention */

/* Runs one bound delete statement in its own transaction; *changes_out: rows deleted. */
static int delete_batch(struct store__sq *c, enum store__sq_slot slot, const char *sql, int64_t a, int64_t b, int64_t d,
                        int64_t *changes_out)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_begin(c, SQ_SYNC_NORMAL, NULL);
    if (rc)
        return rc;
    rc = store__sq_prep(c, slot, sql, &st, NULL);
    if (rc == 0) {
        const int64_t v[3] = {a, b, d};
        for (int i = 0; i < sqlite3_bind_parameter_count(st) && i < 3; i++)
            sqlite3_bind_int64(st, i + 1, v[i]);
        rc = step_write(c, st, "prune", NULL);
    }
    if (rc == 0) {
        *changes_out = sqlite3_changes(c->db);
        rc = store__sq_commit(c, NULL);
    }
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_prune(struct store *s, int64_t before_ms, int64_t *n_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int64_t changed = 0, min_id = 0, max_id = 0;
    int rc;

    *n_out = 0;
    /* Finished runs; their steps and approvals go by ON DELETE CASCADE. */
    do {
        rc = delete_batch(
            c, SQ_PRUNE_RUNS,
            "DELETE FROM runs WHERE id IN (SELECT id FROM runs INDEXED BY runs_finished WHERE finished_at > 0 "
            "AND finished_at < ?1 AND status IN ('succeeded', 'failed', 'cancelled') LIMIT ?2)",
            before_ms, PRUNE_RUN_BATCH, 0, &changed);
        if (rc)
            return rc;
        *n_out += changed;
    } while (changed == PRUNE_RUN_BATCH);

    /* Events received before the cut-off that no run refers to any more,
     * walked in id windows so each transaction stays short. */
    rc =
        store__sq_prep(c, SQ_EVENTS_MAX_ID, "SELECT coalesce(min(id), 1), coalesce(max(id), 0) FROM events", &st, NULL);
    if (rc)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        min_id = sqlite3_column_int64(st, 0);
        max_id = sqlite3_column_int64(st, 1);
    }
    rc = rc == SQLITE_ROW ? 0 : store__sq_fail(c, rc, "prune", NULL);
    store__sq_done(st);
    for (int64_t lo = min_id - 1; rc == 0 && lo < max_id; lo += PRUNE_EVENT_WINDOW)
        rc = delete_batch(c, SQ_PRUNE_EVENTS,
                          "DELETE FROM events WHERE id > ?1 AND id <= ?2 AND received_at < ?3 "
                          "AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.event_id = events.id)",
                          lo, lo + PRUNE_EVENT_WINDOW, before_ms, &changed);
    return rc;
}

/* postgres_admin.c — the PostgreSQL backend's operator actions: rerun,
 * cancel, approval decisions, and retention (prune); the same rules as
 * sqlite_admin.c.
 *
 * Each action is one transaction that first reads the run's state with
 * SELECT ... FOR UPDATE and refuses (IDF_ESTATE) when the action does not
 * apply. The row lock is what SQLite's BEGIN IMMEDIATE gave: a worker's step
 * commit on any node (an UPDATE of the same row) waits for the action, or the
 * action waits for the commit and then reads the state it left, so the two
 * never interleave. Pruning deletes in small batches, each its own
 * transaction, so it never holds locks long enough to delay an
 * acknowledgement.
 *
 * A rerun copies the steps before the run's pc ("reused") and the foreach
 * state (the items and results of the foreach step it stopped in) with
 * INSERT ... SELECT here, in the rerun's transaction.
 *
 * Callers: API and CLI threads, each on its own connection. */
#include "store/postgres_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRUNE_RUN_BATCH 500     /* finished runs deleted per transaction */
#define PRUNE_EVENT_WINDOW 2000 /* event ids examined per transaction */

/* Reads and locks (FOR UPDATE) the status (copied into status, at most n
 * bytes) and pc of a run, inside the open transaction. */
static int run_state(struct store__pg *c, int64_t run_id, char *status, size_t n, int *pc_out, struct idf_err *err)
{
    PGresult *r = NULL;
    char b_id[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_id, run_id)};
    int rc;

    rc = store__pg_exec(c, "read run", "SELECT status, pc FROM runs WHERE id = $1::bigint FOR UPDATE", 1, p, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        rc = idf_err_set(err, IDF_ENOTFOUND, "store: no run %lld", (long long)run_id);
    } else {
        snprintf(status, n, "%s", PQgetvalue(r, 0, 0));
        if (pc_out)
            *pc_out = (int)store__pg_get_i64(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

/* ---------------------------------------------------------- rerun, cancel */

/* Issue 17 ("approvals-reruns"): why a failed or cancelled run must not be
 * re-run without force, read inside the rerun's transaction after
 * run_state locked the run's row (a concurrent re-run of the same run waits
 * for that lock, then sees this one's new run). IDF_EEXIST (*prev_out the
 * newest re-run) when it was re-run already; IDF_ESTATE when it failed at an
 * approval step that was rejected. */
/* The newest re-run of run_id into *id_out (0 when none). */
static int newest_rerun(struct store__pg *c, int64_t run_id, int64_t *id_out, struct idf_err *err)
{
    PGresult *r = NULL;
    char b_id[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_id, run_id)};
    int rc = store__pg_exec(c, "read re-runs", "SELECT coalesce(max(id), 0) FROM runs WHERE rerun_of = $1::bigint",
                            1, p, &r, err);

    if (rc == 0)
        *id_out = PQntuples(r) ? store__pg_get_i64(r, 0, 0) : 0;
    PQclear(r);
    return rc;
}

static int rerun_refusal(struct store__pg *c, int64_t run_id, int pc, int64_t *prev_out, struct idf_err *err)
{
    PGresult *r = NULL;
    char b_id[STORE__PG_INT_LEN], b_pc[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_id, run_id), store__pg_i64(b_pc, pc)};
    int rc = newest_rerun(c, run_id, prev_out, err);

    if (rc)
        return rc;
    if (*prev_out)
        return store__rerun_refused_done(err, run_id, *prev_out);
    rc = store__pg_exec(c, "read approvals",
                        "SELECT a.actor, a.comment FROM approvals a JOIN steps s ON s.run_id = a.run_id "
                        "AND s.step_id = a.step_id WHERE a.run_id = $1::bigint AND a.status = 'rejected' "
                        "AND s.idx = $2::int LIMIT 1",
                        2, p, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r))
        rc = store__rerun_refused_rejected(err, run_id, PQgetisnull(r, 0, 0) ? NULL : PQgetvalue(r, 0, 0),
                                           PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1));
    PQclear(r);
    return rc;
}

int store__pg_run_rerun(struct store *s, int64_t run_id, int64_t now_ms, const char *actor, bool force,
                        int64_t *new_id_out, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    char status[32], target[40], detail[80];
    char b_id[STORE__PG_INT_LEN], b_now[STORE__PG_INT_LEN], b_new[STORE__PG_INT_LEN], b_pc[STORE__PG_INT_LEN];
    int64_t new_id = 0, prev = 0;
    int pc = 0;
    int rc;

    store__pg_i64(b_id, run_id);
    store__pg_i64(b_now, now_ms);
    rc = store__pg_begin(c, err);
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
    {
        const char *p[] = {b_id, b_now};
        rc = store__pg_exec(c, "create rerun",
                            "INSERT INTO runs (workflow, version, event_id, status, pc, item, attempt, context, "
                            "created_at, updated_at, rerun_of) "
                            "SELECT workflow, version, event_id, 'queued', pc, item, 0, context, $2::bigint, "
                            "$2::bigint, id FROM runs WHERE id = $1::bigint RETURNING id",
                            2, p, &r, err);
    }
    if (rc)
        goto out;
    if (PQntuples(r) != 1) {
        rc = idf_err_set(err, IDF_EDB, "store: create rerun: no row inserted");
        goto out;
    }
    new_id = store__pg_get_i64(r, 0, 0);
    PQclear(r);
    r = NULL;
    store__pg_i64(b_new, new_id);
    store__pg_i64(b_pc, pc);
    {
        const char *p[] = {b_id, b_new, b_pc};
        rc = store__pg_exec(c, "copy steps",
                            "INSERT INTO steps (run_id, idx, item, step_id, status, attempts, input, output, error, "
                            "started_at, finished_at) "
                            "SELECT $2::bigint, idx, item, step_id, 'reused', attempts, input, output, error, "
                            "started_at, finished_at FROM steps WHERE run_id = $1::bigint AND idx < $3::int",
                            3, p, NULL, err);
    }
    if (rc)
        goto out;
    {
        /* a run stopped inside a foreach step resumes at its item with the
         * same items and the results of the items before it */
        const char *p[] = {b_id, b_new};
        rc = store__pg_exec(c, "copy foreach items",
                            "INSERT INTO foreach_items (run_id, idx, item, value, result) "
                            "SELECT $2::bigint, idx, item, value, result FROM foreach_items WHERE run_id = $1::bigint",
                            2, p, NULL, err);
    }
    if (rc)
        goto out;
    rc = store__pg_subjects_copy(c, run_id, new_id, err); /* issue 17: the re-run concerns the same subjects */
    if (rc)
        goto out;
    snprintf(target, sizeof target, "run:%lld", (long long)run_id);
    snprintf(detail, sizeof detail, "{\"new_run\":%lld%s}", (long long)new_id, force ? ",\"forced\":true" : "");
    rc = store__pg_audit(c, now_ms, actor, "run.rerun", target, detail, err);
    if (rc)
        goto out;
    rc = store__pg_commit(c, err);
    if (rc == 0)
        *new_id_out = new_id;
out:
    PQclear(r);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

/* Cancels run_id inside the open transaction: IDF_ESTATE unless it is
 * queued, waiting or held (status is what run_state read and locked). */
static int cancel_now(struct store__pg *c, int64_t run_id, const char *status, const char *reason, int64_t now_ms,
                      struct idf_err *err)
{
    char b_id[STORE__PG_INT_LEN], b_now[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_id, run_id), reason, store__pg_i64(b_now, now_ms)};

    int rc = store__cancel_state_ok(run_id, status, err);

    if (rc)
        return rc;
    return store__pg_exec(c, "cancel run",
                          "UPDATE runs SET status = 'cancelled', error = coalesce($2, 'cancelled'), wake_at = 0, "
                          "updated_at = $3::bigint, finished_at = $3::bigint, lease_owner = NULL, lease_until = NULL "
                          "WHERE id = $1::bigint",
                          3, p, NULL, err);
}

int store__pg_run_cancel(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    char status[32];
    int rc;

    rc = store__pg_begin(c, err);
    if (rc)
        return rc;
    rc = run_state(c, run_id, status, sizeof status, NULL, err);
    if (rc == 0)
        rc = cancel_now(c, run_id, status, reason, now_ms, err);
    if (rc == 0)
        rc = store__pg_commit(c, err);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

int store__pg_run_stop(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, const char *actor,
                       bool *pending_out, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    char status[32], target[40];
    int rc;

    rc = store__pg_begin(c, err);
    if (rc)
        return rc;
    rc = run_state(c, run_id, status, sizeof status, NULL, err);
    if (rc)
        goto out;
    *pending_out = strcmp(status, STORE_RUN_RUNNING) == 0;
    if (!*pending_out) {
        /* queued, waiting or held: cancelled now, under the same row lock */
        rc = cancel_now(c, run_id, status, reason, now_ms, err);
    } else {
        /* running: its worker's next step commit applies it (postgres_runs.c) */
        char b_id[STORE__PG_INT_LEN], b_now[STORE__PG_INT_LEN];
        const char *p[] = {store__pg_i64(b_id, run_id), reason, store__pg_i64(b_now, now_ms)};
        rc = store__pg_exec(c, "ask run to cancel",
                            "UPDATE runs SET cancel_requested = $2, updated_at = $3::bigint WHERE id = $1::bigint", 3,
                            p, NULL, err);
    }
    if (rc)
        goto out;
    snprintf(target, sizeof target, "run:%lld", (long long)run_id);
    rc = store__pg_audit(c, now_ms, actor, "run.cancel", target, NULL, err);
    if (rc == 0)
        rc = store__pg_commit(c, err);
out:
    if (rc)
        store__pg_rollback(c);
    return rc;
}

/* ------------------------------------------------------------ approvals */

/* Finds the pending approval of run_id (its step id copied into step, n
 * bytes; the connection of a guardrail hold into hold, n bytes, "" for an
 * approval step). IDF_ESTATE when the run's approvals are all decided,
 * IDF_ENOTFOUND when it has none. */
static int pending_approval(struct store__pg *c, int64_t run_id, char *step, char *hold, size_t n, struct idf_err *err)
{
    PGresult *r = NULL;
    char b_id[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_id, run_id)};
    int rc;

    rc = store__pg_exec(
        c, "read approval",
        "SELECT step_id, status = 'pending', coalesce(hold, '') FROM approvals WHERE run_id = $1::bigint "
        "ORDER BY status = 'pending' DESC LIMIT 1",
        1, p, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) == 0)
        rc = idf_err_set(err, IDF_ENOTFOUND, "store: run %lld has no approval", (long long)run_id);
    else if (!store__pg_get_bool(r, 0, 1))
        rc = idf_err_set(err, IDF_ESTATE, "store: the approval of run %lld was already decided", (long long)run_id);
    else if ((size_t)PQgetlength(r, 0, 0) >= n || (size_t)PQgetlength(r, 0, 2) >= n)
        rc = idf_err_set(err, IDF_EDB, "store: bad approval row");
    else {
        memcpy(step, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0) + 1);
        memcpy(hold, PQgetvalue(r, 0, 2), (size_t)PQgetlength(r, 0, 2) + 1);
    }
    PQclear(r);
    return rc;
}

int store__pg_approval_decide(struct store *s, int64_t run_id, bool approve, bool hold_expected, const char *actor,
                              const char *comment, int64_t now_ms, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    char status[32], target[40];
    char step[STORE__NAME_MAX + 1], hold[STORE__NAME_MAX + 1];
    char b_id[STORE__PG_INT_LEN], b_now[STORE__PG_INT_LEN];
    char *detail = NULL;
    int rc;

    store__pg_i64(b_id, run_id);
    store__pg_i64(b_now, now_ms);
    rc = store__pg_begin(c, err);
    if (rc)
        return rc;
    /* the run's row lock serializes two deciders and the run's own worker */
    rc = run_state(c, run_id, status, sizeof status, NULL, err);
    if (rc == 0)
        rc = pending_approval(c, run_id, step, hold, sizeof step, err);
    if (rc == 0)
        rc = store__decide_state_ok(run_id, status, hold, hold_expected, err);
    if (rc)
        goto out;
    {
        const char *p[] = {b_id, step, approve ? "approved" : "rejected", actor, comment, b_now};
        rc = store__pg_exec(c, "decide approval",
                            "UPDATE approvals SET status = $3, actor = $4, comment = $5, decided_at = $6::bigint "
                            "WHERE run_id = $1::bigint AND step_id = $2",
                            6, p, NULL, err);
    }
    if (rc)
        goto out;
    {
        const char *p[] = {b_id, b_now};
        rc = store__pg_exec(c, "queue run",
                            "UPDATE runs SET status = 'queued', wake_at = 0, updated_at = $2::bigint "
                            "WHERE id = $1::bigint",
                            2, p, NULL, err);
    }
    if (rc)
        goto out;
    /* the decision's audit record, in the same transaction */
    detail = store__approval_detail(step, comment, hold[0] ? hold : NULL);
    if (!detail) {
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        goto out;
    }
    snprintf(target, sizeof target, "run:%lld", (long long)run_id);
    rc = store__pg_audit(c, now_ms, actor, store__approval_action(approve, hold[0] != '\0'), target, detail, err);
    if (rc == 0)
        rc = store__pg_commit(c, err);
out:
    free(detail);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

int store__pg_approval_get(struct store *s, int64_t run_id, const char *step_id, char **status_out, char **actor_out)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    char b_id[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_id, run_id), step_id};
    char *status = NULL, *actor = NULL;
    bool oom = false;
    int rc;

    rc = store__pg_exec(c, "read approval",
                        "SELECT status, actor FROM approvals WHERE run_id = $1::bigint AND step_id = $2", 2, p, &r,
                        NULL);
    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        rc = IDF_ENOTFOUND;
        goto out;
    }
    status = store__pg_get_dup(r, 0, 0, &oom);
    actor = store__pg_get_dup(r, 0, 1, &oom);
    if (oom || !status) {
        rc = IDF_ENOMEM;
        goto out;
    }
    *status_out = status;
    status = NULL;
    if (actor_out) {
        *actor_out = actor;
        actor = NULL;
    }
out:
    PQclear(r);
    free(status);
    free(actor);
    return rc;
}

/* ------------------------------------------------------------ retention */

/* Runs one delete statement (parameters a, b, d as bigints) in its own
 * transaction; *changes_out: rows deleted. */
static int delete_batch(struct store__pg *c, const char *sql, int n, int64_t a, int64_t b, int64_t d,
                        int64_t *changes_out)
{
    PGresult *r = NULL;
    char b_a[STORE__PG_INT_LEN], b_b[STORE__PG_INT_LEN], b_d[STORE__PG_INT_LEN];
    const char *p[] = {store__pg_i64(b_a, a), store__pg_i64(b_b, b), store__pg_i64(b_d, d)};
    int rc;

    rc = store__pg_begin(c, NULL);
    if (rc)
        return rc;
    rc = store__pg_exec(c, "prune", sql, n, p, &r, NULL);
    if (rc == 0) {
        *changes_out = strtoll(PQcmdTuples(r), NULL, 10);
        rc = store__pg_commit(c, NULL);
    }
    PQclear(r);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

int store__pg_prune(struct store *s, int64_t before_ms, int64_t *n_out)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    int64_t changed = 0, min_id = 0, max_id = 0;
    int rc;

    *n_out = 0;
    /* Finished runs; their steps, approvals and foreach state go by ON DELETE CASCADE. */
    do {
        rc = delete_batch(c,
                          "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE finished_at > 0 "
                          "AND finished_at < $1::bigint AND status IN ('succeeded', 'failed', 'cancelled') "
                          "LIMIT $2::bigint)",
                          2, before_ms, PRUNE_RUN_BATCH, 0, &changed);
        if (rc)
            return rc;
        *n_out += changed;
    } while (changed == PRUNE_RUN_BATCH);

    /* Events received before the cut-off that no run refers to any more,
     * walked in id windows so each transaction stays short. */
    rc = store__pg_exec(c, "prune", "SELECT coalesce(min(id), 1), coalesce(max(id), 0) FROM events", 0, NULL, &r, NULL);
    if (rc)
        return rc;
    min_id = store__pg_get_i64(r, 0, 0);
    max_id = store__pg_get_i64(r, 0, 1);
    PQclear(r);
    for (int64_t lo = min_id - 1; rc == 0 && lo < max_id; lo += PRUNE_EVENT_WINDOW)
        rc = delete_batch(c,
                          "DELETE FROM events WHERE id > $1::bigint AND id <= $2::bigint AND received_at < $3::bigint "
                          "AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.event_id = events.id)",
                          3, lo, lo + PRUNE_EVENT_WINDOW, before_ms, &changed);
    return rc;
}

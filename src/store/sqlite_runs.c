/* sqlite_runs.c — the SQLite backend's run life cycle: claims and leases,
 * step commits, and reading runs, steps and counts.
 *
 * A claim is one BEGIN IMMEDIATE transaction: it takes the runs whose lease
 * expired first (oldest lease first, a range of the partial index
 * runs_running), then queued and due waiting runs per workflow, within each
 * one's free slots (`concurrency:`), by priority and round-robin across
 * workflows (sqlite_caps.c, store_fair.c), and marks the chosen ones running
 * with the caller's lease, in that order. Because SQLite
 * has a single writer, two connections can never take the same run; the
 * PostgreSQL backend gets the same property from FOR UPDATE SKIP LOCKED. No
 * scan touches a finished run, so a long history does not slow claims.
 *
 * Taking a run from a dead owner (an expired lease, or releasing a restarted
 * node's leases) adds one to its attempt: the attempt under way when the owner
 * died may have reached the remote side, and the next one must know. When the
 * owner had begun executing it (store_run_begin sets `begun`; a run claimed in
 * a batch waits for the runs before it), it also adds one to `interrupted`,
 * which a step commit that moves the run on (pc or item changes) sets back to
 * 0: the engine stops a run that kills its process again and again (poison
 * runs, docs/internals/engine.md). A dead owner's run
 * whose cancellation was asked (cancel_requested) is not handed out: the claim
 * (end_cancelled) or the release ends it as cancelled in its transaction.
 *
 * A step commit checks the lease (status running and lease_owner = owner),
 * upserts the step record, saves a foreach item's result or deletes the
 * foreach state the run leaves (sqlite_foreach.c), moves the run to its next
 * state and opens an approval, all in one transaction, or writes nothing.
 * The lease is held until another owner claims the run: a commit after
 * lease_until but before anyone else claimed the run still succeeds (nobody
 * else ran it).
 *
 * Callers: any thread, each on its own connection. */
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

#define RUN_COLUMNS                                                                                                    \
    "r.id, r.workflow, r.version, r.event_id, r.status, r.pc, r.item, r.attempt, r.context, e.data, "                  \
    "r.error, r.wake_at, r.created_at, r.updated_at, r.finished_at, r.rerun_of, r.interrupted, r.begun "               \
    "FROM runs r LEFT JOIN events e ON e.id = r.event_id "

/* ------------------------------------------------------------ reading */

int store__sq_read_run(struct store__sq *c, int64_t id, struct store_run **out, struct idf_err *err)
{
    struct store_run *r = NULL;
    sqlite3_stmt *st = NULL;
    bool oom = false;
    int rc, bad = 0;

    *out = NULL;
    rc = store__sq_prep(c, SQ_RUN_GET, "SELECT " RUN_COLUMNS "WHERE r.id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? IDF_ENOTFOUND : store__sq_fail(c, rc, "read run", err);
        if (rc == IDF_ENOTFOUND)
            idf_err_set(err, rc, "store: no run %lld", (long long)id);
        goto out;
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        rc = IDF_ENOMEM;
        goto out;
    }
    r->id = sqlite3_column_int64(st, 0);
    r->workflow = store__sq_col_dup(st, 1, &oom);
    r->version = sqlite3_column_int64(st, 2);
    r->event_id = sqlite3_column_int64(st, 3);
    r->status = store__sq_col_dup(st, 4, &oom);
    r->pc = sqlite3_column_int(st, 5);
    r->item = sqlite3_column_int(st, 6);
    r->attempt = sqlite3_column_int(st, 7);
    r->context = store__sq_col_dup(st, 8, &oom);
    bad = store__sq_col_data(st, 9, &r->event);
    r->error = store__sq_col_dup(st, 10, &oom);
    r->wake_at = sqlite3_column_int64(st, 11);
    r->created_at = sqlite3_column_int64(st, 12);
    r->updated_at = sqlite3_column_int64(st, 13);
    r->finished_at = sqlite3_column_int64(st, 14);
    r->rerun_of = sqlite3_column_int64(st, 15);
    r->interrupted = sqlite3_column_int(st, 16);
    r->begun = sqlite3_column_int(st, 17) != 0;
    if (oom || bad == IDF_ENOMEM)
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    else if (bad)
        rc = idf_err_set(err, bad, "store: run %lld: its event's stored data is damaged", (long long)id);
    else
        rc = 0;
out:
    store__sq_done(st);
    if (rc)
        store_run_free(r);
    else
        *out = r;
    return rc;
}

int store__sq_run_get(struct store *s, int64_t id, struct store_run **out)
{
    int rc = store__sq_read_run(store__sq(s), id, out, NULL);
    if (rc == 0)
        rc = store__sq_run_extra(store__sq(s), *out); /* issue 17: source, subject, rerun_as */
    if (rc) {
        store_run_free(*out);
        *out = NULL;
    }
    return rc;
}

/* --------------------------------------------------------------- claims */

/* Appends up to max ids from a candidate query (?1 limit, ?2 now) to ids. */
static int candidates(struct store__sq *c, enum store__sq_slot slot, const char *sql, int64_t now, size_t max,
                      int64_t *ids, size_t *n, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, slot, sql, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    sqlite3_bind_int64(st, 2, now);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ids[(*n)++] = sqlite3_column_int64(st, 0);
    rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "find runnable runs", err);
    store__sq_done(st);
    return rc;
}

/* Inside a claim's transaction: ends as cancelled, with the reason asked,
 * every run whose owner died (running, lease expired) while a cancellation
 * was pending (store_run_stop), so no claim hands it out again. The scan is
 * the expired-lease range of runs_running that the claim reads anyway. */
static int end_cancelled(struct store__sq *c, int64_t now_ms, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_CLAIM_CANCELLED,
                            "UPDATE runs SET status = 'cancelled', error = cancel_requested, wake_at = 0, "
                            "updated_at = ?1, finished_at = ?1, lease_owner = NULL, lease_until = NULL "
                            "WHERE status = 'running' AND lease_until < ?1 AND cancel_requested IS NOT NULL",
                            &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, now_ms);
    rc = sqlite3_step(st);
    store__sq_done(st);
    return rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "end cancelled runs", err);
}

int store__sq_run_claim(struct store *s, const char *owner, int64_t now_ms, int64_t lease_ms, size_t max,
                        const struct store_cap *caps, size_t n_caps, struct store_run **out, size_t *n_out,
                        struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    int64_t *ids = NULL;
    size_t n_ids = 0, n = 0;
    sqlite3_stmt *st = NULL;
    int rc;

    ids = malloc(max * sizeof *ids);
    if (!ids)
        return idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        goto out;
    rc = end_cancelled(c, now_ms, err); /* before the candidates: a cancelled run is not one */
    if (rc)
        goto out;
    /* runs whose owner died first, oldest lease first: they waited longest */
    rc = candidates(c, SQ_CLAIM_EXPIRED,
                    "SELECT id FROM runs WHERE status = 'running' AND lease_until < ?2 "
                    "ORDER BY lease_until LIMIT ?1",
                    now_ms, max, ids, &n_ids, err);
    /* then queued and due runs, by priority and round-robin across workflows
     * within their caps (sqlite_caps.c, store_fair.c) */
    if (rc == 0 && n_ids < max)
        rc = store__sq_claim_fair(c, caps, n_caps, now_ms, max, ids, &n_ids, err);
    if (rc)
        goto out;

    for (size_t i = 0; i < n_ids; i++) {
        rc = store__sq_prep(c, SQ_CLAIM_SET,
                            "UPDATE runs SET attempt = CASE WHEN status = 'running' THEN attempt + 1 ELSE attempt END, "
                            "interrupted = CASE WHEN status = 'running' THEN interrupted + begun ELSE interrupted END, begun = ?5, "
                            "status = 'running', lease_owner = ?2, lease_until = ?3, updated_at = ?4 WHERE id = ?1",
                            &st, err);
        if (rc)
            goto out;
        sqlite3_bind_int64(st, 1, ids[i]);
        store__sq_bind_text(st, 2, owner);
        sqlite3_bind_int64(st, 3, now_ms + lease_ms);
        sqlite3_bind_int64(st, 4, now_ms);
        sqlite3_bind_int(st, 5, i == 0); /* the owner executes the first at once; the others wait their turn */
        rc = sqlite3_step(st);
        store__sq_done(st);
        if (rc != SQLITE_DONE) {
            rc = store__sq_fail(c, rc, "claim run", err);
            goto out;
        }
        rc = store__sq_read_run(c, ids[i], &out[n], err);
        if (rc)
            goto out;
        n++;
    }
    rc = store__sq_commit(c, err);
out:
    if (rc) {
        store__sq_rollback(c);
        for (size_t i = 0; i < n; i++) {
            store_run_free(out[i]);
            out[i] = NULL;
        }
        n = 0;
    }
    *n_out = n;
    free(ids);
    return rc;
}

int store__sq_run_claim_id(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int64_t lease_ms,
                           struct store_run **out, struct idf_err *err)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int rc;

    *out = NULL;
    rc = store__sq_begin(c, SQ_SYNC_NORMAL, err);
    if (rc)
        return rc;
    rc = end_cancelled(c, now_ms, err);
    if (rc)
        goto out;
    rc = store__sq_prep(c, SQ_CLAIM_ID,
                        "UPDATE runs SET attempt = CASE WHEN status = 'running' THEN attempt + 1 ELSE attempt END, "
                        "interrupted = CASE WHEN status = 'running' THEN interrupted + begun ELSE interrupted END, begun = 0, "
                        "status = 'running', lease_owner = ?2, lease_until = ?3, updated_at = ?4 WHERE id = ?1 AND (status = 'queued' OR (status = 'waiting' AND wake_at > 0 AND "
                        "wake_at <= ?4) OR (status = 'running' AND lease_until < ?4))",
                        &st, err);
    if (rc)
        goto out;
    sqlite3_bind_int64(st, 1, run_id);
    store__sq_bind_text(st, 2, owner);
    sqlite3_bind_int64(st, 3, now_ms + lease_ms);
    sqlite3_bind_int64(st, 4, now_ms);
    rc = sqlite3_step(st);
    store__sq_done(st);
    if (rc != SQLITE_DONE) {
        rc = store__sq_fail(c, rc, "claim run", err);
        goto out;
    }
    rc = 0;
    if (sqlite3_changes(c->db) == 1)
        rc = store__sq_read_run(c, run_id, out, err);
    if (rc == 0)
        rc = store__sq_commit(c, err);
out:
    if (rc) {
        store__sq_rollback(c);
        store_run_free(*out);
        *out = NULL;
    }
    return rc;
}

/* Runs one cached write statement (bound by the caller through st) in its
 * own transaction; *changes_out: rows it changed. */
static int write_changes(struct store__sq *c, sqlite3_stmt *st, const char *what, int64_t *changes_out)
{
    int rc = sqlite3_step(st);
    store__sq_done(st);
    if (rc != SQLITE_DONE)
        return store__sq_fail(c, rc, what, NULL);
    *changes_out = sqlite3_changes(c->db);
    return store__sq_commit(c, NULL);
}

int store__sq_run_renew(struct store *s, int64_t run_id, const char *owner, int64_t lease_until)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int64_t changed = 0;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, NULL);
    if (rc)
        return rc;
    rc = store__sq_prep(c, SQ_RENEW,
                        "UPDATE runs SET lease_until = ?3 WHERE id = ?1 AND status = 'running' AND lease_owner = ?2",
                        &st, NULL);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, run_id);
        store__sq_bind_text(st, 2, owner);
        sqlite3_bind_int64(st, 3, lease_until);
        rc = write_changes(c, st, "renew lease", &changed);
    }
    if (rc)
        store__sq_rollback(c);
    return rc ? rc : changed ? 0 : IDF_ESTATE;
}

/* Marks run_id begun with lease_until inside the open transaction while
 * owner holds it; *changed (may be NULL) tells whether it did. */
static int begin_run(struct store__sq *c, int64_t run_id, const char *owner, int64_t lease_until, int64_t *changed,
                     struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t n = 0;
    int rc = store__sq_prep(c, SQ_RUN_BEGIN,
                            "UPDATE runs SET lease_until = ?3, begun = 1 WHERE id = ?1 AND status = 'running' AND "
                            "lease_owner = ?2",
                            &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    store__sq_bind_text(st, 2, owner);
    sqlite3_bind_int64(st, 3, lease_until);
    rc = sqlite3_step(st);
    store__sq_done(st);
    if (rc != SQLITE_DONE)
        return store__sq_fail(c, rc, "begin run", err);
    n = sqlite3_changes(c->db);
    if (changed)
        *changed = n;
    return 0;
}

int store__sq_run_begin(struct store *s, int64_t run_id, const char *owner, int64_t lease_until)
{
    struct store__sq *c = store__sq(s);
    int64_t changed = 0;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, NULL);
    if (rc)
        return rc;
    rc = begin_run(c, run_id, owner, lease_until, &changed, NULL);
    if (rc == 0)
        rc = store__sq_commit(c, NULL);
    if (rc)
        store__sq_rollback(c);
    return rc ? rc : changed ? 0 : IDF_ESTATE;
}

int store__sq_release_leases(struct store *s, const char *owner, int64_t *n_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, NULL);
    if (rc)
        return rc;
    /* a run whose cancellation was asked ends cancelled instead (as in a claim) */
    rc = store__sq_prep(c, SQ_RELEASE_CANCELLED,
                        "UPDATE runs SET status = 'cancelled', error = cancel_requested, wake_at = 0, "
                        "updated_at = ?2, finished_at = ?2, lease_owner = NULL, lease_until = NULL "
                        "WHERE status = 'running' AND cancel_requested IS NOT NULL "
                        "AND (lease_owner = ?1 OR substr(lease_owner, 1, length(?1) + 1) = ?1 || '/')",
                        &st, NULL);
    if (rc == 0) {
        store__sq_bind_text(st, 1, owner);
        sqlite3_bind_int64(st, 2, time_now_ms());
        rc = sqlite3_step(st);
        store__sq_done(st);
        rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "end cancelled runs", NULL);
    }
    if (rc == 0)
        rc = store__sq_prep(
            c, SQ_RELEASE,
            "UPDATE runs SET status = 'queued', attempt = attempt + 1, interrupted = interrupted + begun, begun = 0, "
            "lease_owner = NULL, lease_until = NULL, updated_at = ?2 "
            "WHERE status = 'running' AND (lease_owner = ?1 OR substr(lease_owner, 1, length(?1) + 1) = ?1 || '/')",
            &st, NULL);
    if (rc == 0) {
        store__sq_bind_text(st, 1, owner);
        sqlite3_bind_int64(st, 2, time_now_ms());
        rc = write_changes(c, st, "release leases", n_out);
    }
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_next_wake(struct store *s, int64_t *wake_at_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__sq_prep(c, SQ_NEXT_WAKE, "SELECT min(wake_at) FROM runs WHERE status = 'waiting' AND wake_at > 0", &st,
                        NULL);
    if (rc)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *wake_at_out = sqlite3_column_int64(st, 0); /* NULL reads as 0 */
        rc = 0;
    } else {
        rc = store__sq_fail(c, rc, "read next wake", NULL);
    }
    store__sq_done(st);
    return rc;
}

/* ---------------------------------------------------------- step commit */

int store__sq_check_lease(struct store__sq *c, int64_t run_id, const char *owner, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_LEASE_CHECK, "SELECT status, lease_owner FROM runs WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 0);
        const char *holder = (const char *)sqlite3_column_text(st, 1);
        if (status && strcmp(status, STORE_RUN_RUNNING) == 0 && holder && strcmp(holder, owner) == 0)
            rc = 0;
        else
            rc = idf_err_set(err, IDF_ESTATE, "store: run %lld: lease lost (the run is %s%s)", (long long)run_id,
                             status ? status : "?", holder ? " and leased by another owner" : "");
    } else if (rc == SQLITE_DONE) {
        rc = idf_err_set(err, IDF_ENOTFOUND, "store: no run %lld", (long long)run_id);
    } else {
        rc = store__sq_fail(c, rc, "check lease", err);
    }
    store__sq_done(st);
    return rc;
}

static int upsert_step(struct store__sq *c, int64_t run_id, const struct store_step_rec *step, struct idf_err *err)
{
    char change[STORE__CHANGE_MAX + 1];
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_STEP_UPSERT,
                            "INSERT INTO steps (run_id, idx, item, step_id, status, attempts, input, output, error, "
                            "started_at, finished_at, change) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                            "?12) ON CONFLICT (run_id, idx, item) DO UPDATE SET step_id = excluded.step_id, "
                            "status = excluded.status, attempts = excluded.attempts, input = excluded.input, "
                            "output = excluded.output, error = excluded.error, started_at = excluded.started_at, "
                            "finished_at = excluded.finished_at, change = excluded.change",
                            &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int(st, 2, step->index);
    sqlite3_bind_int(st, 3, step->item);
    store__sq_bind_text(st, 4, step->step_id);
    store__sq_bind_text(st, 5, step->status);
    sqlite3_bind_int(st, 6, step->attempts);
    store__sq_bind_text(st, 7, step->input);
    store__sq_bind_text(st, 8, step->output);
    store__sq_bind_text(st, 9, step->error);
    sqlite3_bind_int64(st, 10, step->started_at);
    sqlite3_bind_int64(st, 11, step->finished_at);
    store__sq_bind_text(st, 12, store__text_cut(step->change, change, STORE__CHANGE_MAX)); /* issue 17 */
    rc = sqlite3_step(st);
    store__sq_done(st);
    return rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "save step", err);
}

int store__sq_advance_run(struct store__sq *c, int64_t run_id, int64_t now_ms, const struct store_run_next *next,
                          struct idf_err *err)
{
    bool waiting = strcmp(next->status, STORE_RUN_WAITING) == 0;
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_RUN_ADVANCE,
                            "UPDATE runs SET status = ?2, pc = ?3, item = ?4, attempt = ?5, "
                            "interrupted = CASE WHEN pc = ?3 AND item = ?4 THEN interrupted ELSE 0 END, "
                            "context = CASE WHEN ?2 = 'succeeded' THEN NULL ELSE coalesce(?6, context) END, "
                            "wake_at = ?7, error = ?8, updated_at = ?9, "
                            "finished_at = ?10, "
                            "lease_owner = CASE WHEN ?2 = 'running' THEN lease_owner END, "
                            "lease_until = CASE WHEN ?2 = 'running' THEN lease_until END "
                            "WHERE id = ?1",
                            &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    store__sq_bind_text(st, 2, next->status);
    sqlite3_bind_int(st, 3, next->pc);
    sqlite3_bind_int(st, 4, next->item);
    sqlite3_bind_int(st, 5, next->attempt);
    store__sq_bind_text(st, 6, next->context);
    sqlite3_bind_int64(st, 7, waiting ? next->wake_at : 0);
    store__sq_bind_text(st, 8, next->error);
    sqlite3_bind_int64(st, 9, now_ms);
    sqlite3_bind_int64(st, 10, store__run_status_final(next->status) ? now_ms : 0);
    rc = sqlite3_step(st);
    store__sq_done(st);
    return rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "update run", err);
}

/* Opens a pending approval; an approval already recorded for this step
 * (pending or decided) is kept as it is. */
static int open_approval(struct store__sq *c, int64_t run_id, int64_t now_ms, const struct store_run_next *next,
                         struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_APPROVAL_OPEN,
                            "INSERT INTO approvals (run_id, step_id, status, message, created_at, hold) "
                            "VALUES (?1, ?2, 'pending', ?3, ?4, ?5) ON CONFLICT (run_id, step_id) DO NOTHING",
                            &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    store__sq_bind_text(st, 2, next->approval_step_id);
    store__sq_bind_text(st, 3, next->approval_message);
    sqlite3_bind_int64(st, 4, now_ms);
    store__sq_bind_text(st, 5, next->hold); /* issue 19: a guardrail hold, or NULL */
    rc = sqlite3_step(st);
    store__sq_done(st);
    return rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "open approval", err);
}

/* The reason of a cancellation asked of the run (store_run_cancel_request),
 * copied into buf; "" when none was asked. */
static int cancel_requested(struct store__sq *c, int64_t run_id, char *buf, size_t n, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    const char *v;
    int rc = store__sq_prep(c, SQ_CANCEL_REQUESTED, "SELECT cancel_requested FROM runs WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    buf[0] = '\0';
    sqlite3_bind_int64(st, 1, run_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        v = (const char *)sqlite3_column_text(st, 0);
        if (v)
            snprintf(buf, n, "%s", v);
        rc = 0;
    } else {
        rc = store__sq_fail(c, rc, "read cancellation", err);
    }
    store__sq_done(st);
    return rc;
}

/* A step commit as an op of a combined transaction (store__sq_combine):
 * its arguments, and whether a cancellation ended the run. */
struct step_commit_op {
    struct store__sq_op base; /* must be first */
    int64_t run_id;
    const char *owner;
    int64_t now_ms;
    const struct store_step_rec *step;
    const struct store_run_next *next_in;
    struct store_run_next cancelled;
    bool was_cancelled;
    char reason[1024];
};

static int step_commit_op(struct store__sq *c, struct store__sq_op *base, struct idf_err *err)
{
    struct step_commit_op *o = (struct step_commit_op *)base;
    const struct store_run_next *next = o->next_in;
    const struct store_step_rec *step = o->step;
    int64_t run_id = o->run_id;
    int rc;

    o->was_cancelled = false;
    rc = store__sq_check_lease(c, run_id, o->owner, err);
    /* a cancellation asked while the run ran: the step is recorded, the run
     * ends here instead of moving on (the caller is told to stop) */
    if (rc == 0 && !store__run_status_final(o->next_in->status)) {
        rc = cancel_requested(c, run_id, o->reason, sizeof o->reason, err);
        if (rc == 0 && o->reason[0]) {
            o->cancelled = *o->next_in;
            o->cancelled.status = STORE_RUN_CANCELLED;
            o->cancelled.error = o->reason;
            o->cancelled.wake_at = 0;
            o->cancelled.approval_step_id = NULL;
            o->cancelled.approval_message = NULL;
            o->cancelled.hold = NULL;
            next = &o->cancelled;
            o->was_cancelled = true;
        }
    }
    if (rc == 0 && step)
        rc = upsert_step(c, run_id, step, err);
    if (rc == 0 && step) /* issue 17: what the step resolved or changed */
        rc = store__sq_subjects_write(c, run_id, step->subjects, step->n_subjects, step->step_id, err);
    /* foreach state (sqlite_foreach.c): the item's result, or the end of the step */
    if (rc == 0 && step && step->item >= 0 && step->result)
        rc = store__sq_foreach_result(c, run_id, step, err);
    if (rc == 0 && next->foreach_clear)
        rc = store__sq_foreach_clear(c, run_id, err);
    if (rc == 0)
        rc = store__sq_advance_run(c, run_id, o->now_ms, next, err);
    if (rc == 0 && next->approval_step_id)
        rc = open_approval(c, run_id, o->now_ms, next, err);
    if (rc == 0 && o->next_in->begin_run > 0)
        rc = begin_run(c, o->next_in->begin_run, o->owner, o->next_in->begin_lease_until, NULL, err);
    return rc;
}

/* A step commit is combined with the step commits of this process's other
 * workers that wait meanwhile: one transaction, one commit for several
 * (docs/internals/store.md, "Transactions"). */
int store__sq_step_commit(struct store *s, int64_t run_id, const char *owner, int64_t now_ms,
                          const struct store_step_rec *step, const struct store_run_next *next_in, struct idf_err *err)
{
    struct step_commit_op o = {.base = {.fn = step_commit_op, .err = err},
                               .run_id = run_id,
                               .owner = owner,
                               .now_ms = now_ms,
                               .step = step,
                               .next_in = next_in};
    int rc = store__sq_combine(store__sq(s), &o.base);

    if (rc == 0 && o.was_cancelled)
        rc = idf_err_set(err, IDF_ECANCELLED, "run %lld was cancelled: %s", (long long)run_id, o.reason);
    return rc;
}

/* -------------------------------------------------------------- listing */

/* (the run list: sqlite_subjects.c) */

static int step_row(sqlite3_stmt *st, void *row)
{
    struct store_step *sp = row;
    bool oom = false;

    sp->index = sqlite3_column_int(st, 0);
    sp->step_id = store__sq_col_dup(st, 1, &oom);
    sp->item = sqlite3_column_int(st, 2);
    sp->status = store__sq_col_dup(st, 3, &oom);
    sp->attempts = sqlite3_column_int(st, 4);
    sp->input = store__sq_col_dup(st, 5, &oom);
    sp->output = store__sq_col_dup(st, 6, &oom);
    sp->error = store__sq_col_dup(st, 7, &oom);
    sp->started_at = sqlite3_column_int64(st, 8);
    sp->finished_at = sqlite3_column_int64(st, 9);
    sp->change = store__sq_col_dup(st, 10, &oom);
    return oom ? IDF_ENOMEM : 0;
}

int store__sq_step_list(struct store *s, int64_t run_id, struct store_step **rows_out, size_t *n_out)
{
    void *rows = NULL;
    int rc = store__sq_list(store__sq(s), SQ_STEP_LIST,
                            "SELECT idx, step_id, item, status, attempts, input, output, error, started_at, "
                            "finished_at, change FROM steps WHERE run_id = ?1 ORDER BY idx, item",
                            store__sq_bind_id, &run_id, step_row, store__step_clear, sizeof **rows_out, &rows, n_out,
                            "list steps");

    *rows_out = rows;
    return rc;
}

int store__sq_run_counts(struct store *s, struct store_run_counts *out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int rc;

    /* run_counts is kept by triggers in the transaction of every change. */
    rc = store__sq_prep(c, SQ_RUN_COUNTS, "SELECT status, n FROM run_counts", &st, NULL);
    if (rc)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        if (!status)
            continue;
        if (strcmp(status, STORE_RUN_QUEUED) == 0)
            out->queued = n;
        else if (strcmp(status, STORE_RUN_RUNNING) == 0)
            out->running = n;
        else if (strcmp(status, STORE_RUN_WAITING) == 0)
            out->waiting = n;
        else if (strcmp(status, STORE_RUN_SUCCEEDED) == 0)
            out->succeeded = n;
        else if (strcmp(status, STORE_RUN_FAILED) == 0)
            out->failed = n;
        else if (strcmp(status, STORE_RUN_CANCELLED) == 0)
            out->cancelled = n;
        else if (strcmp(status, STORE_RUN_HELD) == 0)
            out->held = n;
    }
    rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "count runs", NULL);
    store__sq_done(st);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

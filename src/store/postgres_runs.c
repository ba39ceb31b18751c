/* postgres_runs.c — the PostgreSQL backend's run life cycle: claims and
 * leases, step commits, and reading runs. The same rules as sqlite_runs.c
 * (store.h's contract), kept across connections and nodes by row locks
 * instead of SQLite's single writer.
 *
 * A claim is one READ COMMITTED transaction:
 *  - a dead owner's run whose cancellation was asked is ended cancelled
 *    (end_cancelled), never handed out;
 *  - candidates are picked with SELECT ... ORDER BY ... LIMIT ... FOR UPDATE
 *    SKIP LOCKED: running with an expired lease, by lease_until, first; then
 *    per workflow its queued runs by id and its due waiting runs by wake_at
 *    (postgres_caps.c), put in the fair order (store_fair.c). SKIP LOCKED is what lets
 *    several nodes claim at once: a row another claim has locked is passed
 *    over instead of waited for, and a row another claim took and committed
 *    meanwhile is re-checked against the WHERE on its newest version (READ
 *    COMMITTED's re-check after a lock), so it no longer qualifies. Two
 *    claims therefore never hand out one run, and neither waits for the
 *    other. Capped workflows are counted under an advisory lock
 *    (postgres_caps.c);
 *  - the first max candidates (all locked by this transaction) in that
 *    order are updated to running with the caller's lease in
 *    one UPDATE ... RETURNING the runs; rows locked and not taken are released
 *    at commit.
 * Taking a run from a dead owner adds one to attempt, and one to interrupted
 * when that owner had begun it (begun); the first run of a claim is begun at
 * once (its owner executes it), the others wait their turn.
 *
 * A step commit locks the run's row (SELECT ... FOR UPDATE) and checks the
 * lease on it: while the lock is held no claim can take the run over (a
 * takeover's candidate scan skips the row, or, if it locked it first, the
 * commit waits and then sees the new owner: IDF_ESTATE, nothing written).
 * Then, in the same transaction: the step upsert (ON CONFLICT), a foreach
 * item's result or the foreach clear (postgres_foreach.c), the run's next
 * state, an approval, and begin_run.
 *
 * Callers: any thread, each on its own connection (a connection is its
 * opener's). */
#include "store/postgres_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/timeutil.h"

/* The columns of struct store_run, as read by run_from_row, over runs r. */
#define RUN_COLS                                                                                                       \
    "r.id, r.workflow, r.version, r.event_id, r.status, r.pc, r.item, r.attempt, r.context, "                          \
    "(SELECT " STORE__PG_EVENT_DATA " FROM events e WHERE e.id = r.event_id), r.error, r.wake_at, "                    \
    "r.created_at, r.updated_at, r.finished_at, r.rerun_of, r.interrupted, r.begun "

/* A takeover's counters: from a running run (its owner died) attempt + 1,
 * interrupted + 1 when begun; a queued or due run keeps both. */
#define TAKEOVER_SET                                                                                                   \
    "attempt = CASE WHEN r.status = 'running' THEN r.attempt + 1 ELSE r.attempt END, "                                 \
    "interrupted = CASE WHEN r.status = 'running' THEN r.interrupted + r.begun ELSE r.interrupted END, "

/* ------------------------------------------------------------ reading */

/* A new struct store_run from row `row` of a result with RUN_COLS. */
static int run_from_row(const PGresult *res, int row, struct store_run **out, struct idf_err *err)
{
    struct store_run *r = calloc(1, sizeof *r);
    bool oom = false;
    int bad;

    *out = NULL;
    if (!r)
        return idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    r->id = store__pg_get_i64(res, row, 0);
    r->workflow = store__pg_get_dup(res, row, 1, &oom);
    r->version = store__pg_get_i64(res, row, 2);
    r->event_id = store__pg_get_i64(res, row, 3);
    r->status = store__pg_get_dup(res, row, 4, &oom);
    r->pc = (int)store__pg_get_i64(res, row, 5);
    r->item = (int)store__pg_get_i64(res, row, 6);
    r->attempt = (int)store__pg_get_i64(res, row, 7);
    r->context = store__pg_get_dup(res, row, 8, &oom);
    bad = store__pg_get_data(res, row, 9, &r->event);
    r->error = store__pg_get_dup(res, row, 10, &oom);
    r->wake_at = store__pg_get_i64(res, row, 11);
    r->created_at = store__pg_get_i64(res, row, 12);
    r->updated_at = store__pg_get_i64(res, row, 13);
    r->finished_at = store__pg_get_i64(res, row, 14);
    r->rerun_of = store__pg_get_i64(res, row, 15);
    r->interrupted = (int)store__pg_get_i64(res, row, 16);
    r->begun = store__pg_get_bool(res, row, 17);
    if (oom || bad) {
        int64_t id = r->id;
        store_run_free(r);
        if (oom || bad == IDF_ENOMEM)
            return idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        return idf_err_set(err, bad, "store: run %lld: its event's stored data is damaged", (long long)id);
    }
    *out = r;
    return 0;
}

int store__pg_read_run(struct store__pg *c, int64_t id, struct store_run **out, struct idf_err *err)
{
    char b_id[STORE__PG_INT_LEN];
    const char *p[1] = {store__pg_i64(b_id, id)};
    PGresult *res = NULL;
    int rc;

    *out = NULL;
    rc = store__pg_exec(c, "read run", "SELECT " RUN_COLS "FROM runs r WHERE r.id = $1::bigint", 1, p, &res, err);
    if (rc)
        goto out;
    if (PQntuples(res) != 1) {
        rc = idf_err_set(err, IDF_ENOTFOUND, "store: no run %lld", (long long)id);
        goto out;
    }
    rc = run_from_row(res, 0, out, err);
out:
    PQclear(res);
    return rc;
}

int store__pg_run_get(struct store *s, int64_t id, struct store_run **out)
{
    int rc = store__pg_read_run(store__pg(s), id, out, NULL);
    if (rc == 0)
        rc = store__pg_run_extra(store__pg(s), *out); /* issue 17: source, subject, rerun_as */
    if (rc) {
        store_run_free(*out);
        *out = NULL;
    }
    return rc;
}

/* --------------------------------------------------------------- claims */

/* Inside a claim's transaction: ends as cancelled, with the reason asked,
 * every run whose owner died (running, lease expired) while a cancellation
 * was pending (store_run_stop), so no claim hands it out again. SKIP LOCKED:
 * a row another transaction holds (a claim taking it, a commit of its live
 * owner) is left to that one. */
static int end_cancelled(struct store__pg *c, int64_t now_ms, struct idf_err *err)
{
    char b_now[STORE__PG_INT_LEN];
    const char *p[1] = {store__pg_i64(b_now, now_ms)};
    return store__pg_exec(c, "end cancelled runs",
                          "UPDATE runs SET status = 'cancelled', error = cancel_requested, wake_at = 0, "
                          "updated_at = $1::bigint, finished_at = $1::bigint, lease_owner = NULL, lease_until = NULL "
                          "WHERE id IN (SELECT id FROM runs WHERE status = 'running' AND lease_until < $1::bigint "
                          "AND cancel_requested IS NOT NULL FOR UPDATE SKIP LOCKED)",
                          1, p, NULL, err);
}

/* Candidates whose owner died: running with an expired lease, oldest lease
 * first, appended to ids (at most max in all). Taking one over keeps its
 * workflow's running count: no cap. */
static int claim_expired(struct store__pg *c, int64_t now_ms, size_t max, int64_t *ids, size_t *n_ids,
                         struct idf_err *err)
{
    char b_now[STORE__PG_INT_LEN], b_max[STORE__PG_INT_LEN];
    const char *p[2] = {store__pg_i64(b_now, now_ms), store__pg_i64(b_max, (int64_t)max)};
    PGresult *res = NULL;
    int rc = store__pg_exec(c, "find expired leases",
                            "SELECT id FROM runs WHERE status = 'running' AND lease_until < $1::bigint "
                            "ORDER BY lease_until LIMIT $2::bigint FOR UPDATE SKIP LOCKED",
                            2, p, &res, err);
    for (int i = 0; rc == 0 && i < PQntuples(res) && *n_ids < max; i++)
        ids[(*n_ids)++] = store__pg_get_i64(res, i, 0);
    PQclear(res);
    return rc;
}

/* Appends "{id,id,...}" (a bigint[] literal of ids[0..n)) to b. */
static int ids_literal(struct buf *b, const int64_t *ids, size_t n)
{
    int rc = buf_puts(b, "{");
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = buf_printf(b, "%s%lld", i ? "," : "", (long long)ids[i]);
    return rc ? rc : buf_puts(b, "}");
}

/* Marks the runs ids[0..n) (locked by this transaction) running for owner and
 * reads them into out[0..n), in the order of ids (ids[0] is begun). */
static int take_runs(struct store__pg *c, const int64_t *ids, size_t n, const char *owner, int64_t now_ms,
                     int64_t lease_ms, struct store_run **out, size_t *n_out, struct idf_err *err)
{
    char b_until[STORE__PG_INT_LEN], b_now[STORE__PG_INT_LEN], b_first[STORE__PG_INT_LEN];
    PGresult *res = NULL;
    struct buf b;
    size_t got = 0;
    int rc;

    buf_init(&b, (STORE__CLAIM_MAX + 2) * STORE__PG_INT_LEN);
    rc = ids_literal(&b, ids, n);
    if (rc) {
        rc = idf_err_set(err, rc, "store: claim: cannot list the runs");
        goto out;
    }
    {
        const char *p[5] = {b.data, owner, store__pg_i64(b_until, now_ms + lease_ms), store__pg_i64(b_now, now_ms),
                            store__pg_i64(b_first, ids[0])};
        /* the owner executes the first at once (begun); the others wait their turn */
        rc = store__pg_exec(c, "claim runs",
                            "UPDATE runs r SET " TAKEOVER_SET
                            "begun = CASE WHEN r.id = $5::bigint THEN 1 ELSE 0 END, status = 'running', "
                            "lease_owner = $2::text, lease_until = $3::bigint, updated_at = $4::bigint "
                            "WHERE r.id = ANY ($1::bigint[]) RETURNING " RUN_COLS,
                            5, p, &res, err);
    }
    if (rc)
        goto out;
    for (size_t j = 0; j < n; j++) { /* the rows come in any order: put them in ids' (n is small) */
        for (int i = 0; i < PQntuples(res); i++) {
            if (store__pg_get_i64(res, i, 0) != ids[j])
                continue;
            rc = run_from_row(res, i, &out[got], err);
            if (rc)
                goto out;
            got++;
            break;
        }
    }
out:
    if (rc) {
        for (size_t i = 0; i < got; i++) {
            store_run_free(out[i]);
            out[i] = NULL;
        }
        got = 0;
    }
    *n_out = got;
    buf_free(&b);
    PQclear(res);
    return rc;
}

int store__pg_run_claim(struct store *s, const char *owner, int64_t now_ms, int64_t lease_ms, size_t max,
                        const struct store_cap *caps, size_t n_caps, struct store_run **out, size_t *n_out,
                        struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    int64_t *ids = NULL;
    size_t n_ids = 0, n = 0;
    int rc;

    *n_out = 0;
    ids = malloc(max * sizeof *ids);
    if (!ids)
        return idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    rc = store__pg_begin(c, err);
    if (rc)
        goto out_free;
    rc = end_cancelled(c, now_ms, err); /* before the candidates: a cancelled run is not one */
    if (rc == 0)                        /* runs whose owner died first, oldest lease first: they waited longest */
        rc = claim_expired(c, now_ms, max, ids, &n_ids, err);
    if (rc == 0 && n_ids < max) /* then by priority, round-robin across workflows, within caps */
        rc = store__pg_claim_fair(c, caps, n_caps, now_ms, max, ids, &n_ids, err);
    if (rc == 0 && n_ids)
        rc = take_runs(c, ids, n_ids, owner, now_ms, lease_ms, out, &n, err);
    if (rc == 0)
        rc = store__pg_commit(c, err);
    if (rc) {
        store__pg_rollback(c);
        for (size_t i = 0; i < n; i++) {
            store_run_free(out[i]);
            out[i] = NULL;
        }
        n = 0;
    }
    *n_out = n;
out_free:
    free(ids);
    return rc;
}

int store__pg_run_claim_id(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int64_t lease_ms,
                           struct store_run **out, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    char b_id[STORE__PG_INT_LEN], b_until[STORE__PG_INT_LEN], b_now[STORE__PG_INT_LEN];
    const char *p[4] = {store__pg_i64(b_id, run_id), owner, store__pg_i64(b_until, now_ms + lease_ms),
                        store__pg_i64(b_now, now_ms)};
    PGresult *res = NULL;
    int rc;

    *out = NULL;
    rc = store__pg_begin(c, err);
    if (rc)
        return rc;
    rc = end_cancelled(c, now_ms, err);
    if (rc)
        goto out;
    /* SKIP LOCKED: a run another transaction holds is not runnable now */
    rc = store__pg_exec(c, "claim run",
                        "UPDATE runs r SET " TAKEOVER_SET "begun = 0, status = 'running', "
                        "lease_owner = $2::text, lease_until = $3::bigint, updated_at = $4::bigint "
                        "WHERE r.id = (SELECT id FROM runs WHERE id = $1::bigint AND (status = 'queued' OR "
                        "(status = 'waiting' AND wake_at > 0 AND wake_at <= $4::bigint) OR "
                        "(status = 'running' AND lease_until < $4::bigint)) FOR UPDATE SKIP LOCKED) "
                        "RETURNING " RUN_COLS,
                        4, p, &res, err);
    if (rc == 0 && PQntuples(res) == 1)
        rc = run_from_row(res, 0, out, err);
    if (rc == 0)
        rc = store__pg_commit(c, err);
out:
    PQclear(res);
    if (rc) {
        store__pg_rollback(c);
        store_run_free(*out);
        *out = NULL;
    }
    return rc;
}

/* Runs one write (n params) in its own transaction; *changed: rows it
 * changed. */
static int write_one(struct store__pg *c, const char *what, const char *sql, int n, const char *const *p,
                     int64_t *changed)
{
    PGresult *res = NULL;
    int rc = store__pg_begin(c, NULL);
    if (rc)
        return rc;
    rc = store__pg_exec(c, what, sql, n, p, &res, NULL);
    if (rc == 0) {
        *changed = strtoll(PQcmdTuples(res), NULL, 10);
        rc = store__pg_commit(c, NULL);
    }
    PQclear(res);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

int store__pg_run_renew(struct store *s, int64_t run_id, const char *owner, int64_t lease_until)
{
    char b_id[STORE__PG_INT_LEN], b_until[STORE__PG_INT_LEN];
    const char *p[3] = {store__pg_i64(b_id, run_id), owner, store__pg_i64(b_until, lease_until)};
    int64_t changed = 0;
    int rc = write_one(store__pg(s), "renew lease",
                       "UPDATE runs SET lease_until = $3::bigint WHERE id = $1::bigint AND status = 'running' "
                       "AND lease_owner = $2::text",
                       3, p, &changed);
    return rc ? rc : changed ? 0 : IDF_ESTATE;
}

/* The SQL of store_run_begin and a step commit's begin_run. */
static const char SQL_BEGIN_RUN[] = "UPDATE runs SET lease_until = $3::bigint, begun = 1 WHERE id = $1::bigint "
                                    "AND status = 'running' AND lease_owner = $2::text";

int store__pg_run_begin(struct store *s, int64_t run_id, const char *owner, int64_t lease_until)
{
    char b_id[STORE__PG_INT_LEN], b_until[STORE__PG_INT_LEN];
    const char *p[3] = {store__pg_i64(b_id, run_id), owner, store__pg_i64(b_until, lease_until)};
    int64_t changed = 0;
    int rc = write_one(store__pg(s), "begin run", SQL_BEGIN_RUN, 3, p, &changed);
    return rc ? rc : changed ? 0 : IDF_ESTATE;
}

int store__pg_release_leases(struct store *s, const char *owner, int64_t *n_out)
{
    struct store__pg *c = store__pg(s);
    char b_now[STORE__PG_INT_LEN];
    const char *p[2] = {owner, store__pg_i64(b_now, time_now_ms())};
    PGresult *res = NULL;
    int rc;

    rc = store__pg_begin(c, NULL);
    if (rc)
        return rc;
    /* a run whose cancellation was asked ends cancelled instead (as in a claim) */
    rc = store__pg_exec(c, "end cancelled runs",
                        "UPDATE runs SET status = 'cancelled', error = cancel_requested, wake_at = 0, "
                        "updated_at = $2::bigint, finished_at = $2::bigint, lease_owner = NULL, lease_until = NULL "
                        "WHERE status = 'running' AND cancel_requested IS NOT NULL "
                        "AND (lease_owner = $1::text OR left(lease_owner, length($1::text) + 1) = $1::text || '/')",
                        2, p, NULL, NULL);
    if (rc == 0)
        rc = store__pg_exec(c, "release leases",
                            "UPDATE runs SET status = 'queued', attempt = attempt + 1, "
                            "interrupted = interrupted + begun, begun = 0, lease_owner = NULL, "
                            "lease_until = NULL, updated_at = $2::bigint WHERE status = 'running' "
                            "AND (lease_owner = $1::text OR left(lease_owner, length($1::text) + 1) = $1::text || '/')",
                            2, p, &res, NULL);
    if (rc == 0) {
        *n_out = strtoll(PQcmdTuples(res), NULL, 10);
        rc = store__pg_commit(c, NULL);
    }
    PQclear(res);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

int store__pg_next_wake(struct store *s, int64_t *wake_at_out)
{
    PGresult *res = NULL;
    int rc =
        store__pg_exec(store__pg(s), "read next wake",
                       "SELECT min(wake_at) FROM runs WHERE status = 'waiting' AND wake_at > 0", 0, NULL, &res, NULL);
    if (rc == 0)
        *wake_at_out = PQntuples(res) == 1 ? store__pg_get_i64(res, 0, 0) : 0; /* NULL reads as 0 */
    PQclear(res);
    return rc;
}

/* ---------------------------------------------------------- step commit */

int store__pg_check_lease(struct store__pg *c, int64_t run_id, const char *owner, char **cancel_out,
                          struct idf_err *err)
{
    char b_id[STORE__PG_INT_LEN];
    const char *p[1] = {store__pg_i64(b_id, run_id)};
    PGresult *res = NULL;
    bool oom = false;
    int rc;

    if (cancel_out)
        *cancel_out = NULL;
    /* FOR UPDATE: the row stays ours until commit, so no claim takes the run
     * over between this check and the writes that rely on it */
    rc = store__pg_exec(c, "check lease",
                        "SELECT status, lease_owner, cancel_requested FROM runs WHERE id = $1::bigint FOR UPDATE", 1, p,
                        &res, err);
    if (rc)
        goto out;
    if (PQntuples(res) != 1) {
        rc = idf_err_set(err, IDF_ENOTFOUND, "store: no run %lld", (long long)run_id);
        goto out;
    }
    {
        const char *status = PQgetvalue(res, 0, 0);
        bool held = !store__pg_is_null(res, 0, 1);
        if (strcmp(status, STORE_RUN_RUNNING) != 0 || !held || strcmp(PQgetvalue(res, 0, 1), owner) != 0) {
            rc = idf_err_set(err, IDF_ESTATE, "store: run %lld: lease lost (the run is %s%s)", (long long)run_id,
                             status, held ? " and leased by another owner" : "");
            goto out;
        }
    }
    if (cancel_out) {
        *cancel_out = store__pg_get_dup(res, 0, 2, &oom);
        if (oom)
            rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    }
out:
    PQclear(res);
    return rc;
}

static int upsert_step(struct store__pg *c, int64_t run_id, const struct store_step_rec *step, struct idf_err *err)
{
    char b_id[STORE__PG_INT_LEN], b_idx[STORE__PG_INT_LEN], b_item[STORE__PG_INT_LEN], b_att[STORE__PG_INT_LEN],
        b_start[STORE__PG_INT_LEN], b_fin[STORE__PG_INT_LEN];
    char change[STORE__CHANGE_MAX + 1]; /* issue 17: what it changed, cut to its cap */
    const char *p[12] = {store__pg_i64(b_id, run_id),
                         store__pg_i64(b_idx, step->index),
                         store__pg_i64(b_item, step->item),
                         step->step_id,
                         step->status,
                         store__pg_i64(b_att, step->attempts),
                         step->input,
                         step->output,
                         step->error,
                         store__pg_i64(b_start, step->started_at),
                         store__pg_i64(b_fin, step->finished_at),
                         store__text_cut(step->change, change, STORE__CHANGE_MAX)};
    return store__pg_exec(c, "save step",
                          "INSERT INTO steps (run_id, idx, item, step_id, status, attempts, input, output, error, "
                          "started_at, finished_at, change) VALUES ($1::bigint, $2::int, $3::int, $4::text, $5::text, "
                          "$6::int, $7::text, $8::text, $9::text, $10::bigint, $11::bigint, $12::text) "
                          "ON CONFLICT (run_id, idx, item) DO UPDATE SET step_id = EXCLUDED.step_id, "
                          "status = EXCLUDED.status, attempts = EXCLUDED.attempts, input = EXCLUDED.input, "
                          "output = EXCLUDED.output, error = EXCLUDED.error, started_at = EXCLUDED.started_at, "
                          "finished_at = EXCLUDED.finished_at, change = EXCLUDED.change",
                          12, p, NULL, err);
}

int store__pg_advance_run(struct store__pg *c, int64_t run_id, int64_t now_ms, const struct store_run_next *next,
                          struct idf_err *err)
{
    bool waiting = strcmp(next->status, STORE_RUN_WAITING) == 0;
    char b_id[STORE__PG_INT_LEN], b_pc[STORE__PG_INT_LEN], b_item[STORE__PG_INT_LEN], b_att[STORE__PG_INT_LEN],
        b_wake[STORE__PG_INT_LEN], b_now[STORE__PG_INT_LEN], b_fin[STORE__PG_INT_LEN];
    const char *p[10] = {store__pg_i64(b_id, run_id),
                         next->status,
                         store__pg_i64(b_pc, next->pc),
                         store__pg_i64(b_item, next->item),
                         store__pg_i64(b_att, next->attempt),
                         next->context,
                         store__pg_i64(b_wake, waiting ? next->wake_at : 0),
                         next->error,
                         store__pg_i64(b_now, now_ms),
                         store__pg_i64(b_fin, store__run_status_final(next->status) ? now_ms : 0)};
    return store__pg_exec(c, "update run",
                          "UPDATE runs SET status = $2::text, pc = $3::int, item = $4::int, attempt = $5::int, "
                          "interrupted = CASE WHEN pc = $3::int AND item = $4::int THEN interrupted ELSE 0 END, "
                          "context = CASE WHEN $2::text = 'succeeded' THEN NULL ELSE coalesce($6::text, context) END, "
                          "wake_at = $7::bigint, error = $8::text, "
                          "updated_at = $9::bigint, finished_at = $10::bigint, "
                          "lease_owner = CASE WHEN $2::text = 'running' THEN lease_owner END, "
                          "lease_until = CASE WHEN $2::text = 'running' THEN lease_until END "
                          "WHERE id = $1::bigint",
                          10, p, NULL, err);
}

/* Opens a pending approval; an approval already recorded for this step
 * (pending or decided) is kept as it is. */
static int open_approval(struct store__pg *c, int64_t run_id, int64_t now_ms, const struct store_run_next *next,
                         struct idf_err *err)
{
    char b_id[STORE__PG_INT_LEN], b_now[STORE__PG_INT_LEN];
    const char *p[5] = {store__pg_i64(b_id, run_id), next->approval_step_id, next->approval_message,
                        store__pg_i64(b_now, now_ms), next->hold /* issue 19: a guardrail hold, or NULL */};
    return store__pg_exec(c, "open approval",
                          "INSERT INTO approvals (run_id, step_id, status, message, created_at, hold) "
                          "VALUES ($1::bigint, $2::text, 'pending', $3::text, $4::bigint, $5::text) "
                          "ON CONFLICT (run_id, step_id) DO NOTHING",
                          5, p, NULL, err);
}

int store__pg_step_commit(struct store *s, int64_t run_id, const char *owner, int64_t now_ms,
                          const struct store_step_rec *step, const struct store_run_next *next_in, struct idf_err *err)
{
    struct store__pg *c = store__pg(s);
    struct store_run_next cancelled;
    const struct store_run_next *next = next_in;
    char *reason = NULL;
    int rc;

    rc = store__pg_begin(c, err);
    if (rc)
        return rc;
    rc = store__pg_check_lease(c, run_id, owner, &reason, err);
    if (rc)
        goto out;
    /* a cancellation asked while the run ran: the step is recorded, the run
     * ends here instead of moving on (the caller is told to stop) */
    if (reason && reason[0] && !store__run_status_final(next_in->status)) {
        cancelled = *next_in;
        cancelled.status = STORE_RUN_CANCELLED;
        cancelled.error = reason;
        cancelled.wake_at = 0;
        cancelled.approval_step_id = NULL;
        cancelled.approval_message = NULL;
        cancelled.hold = NULL;
        next = &cancelled;
    }
    if (step)
        rc = upsert_step(c, run_id, step, err);
    if (rc == 0 && step) /* issue 17: what the step resolved or changed */
        rc = store__pg_subjects_write(c, &run_id, 1, step->subjects, step->n_subjects, step->step_id, err);
    /* foreach state (postgres_foreach.c): the item's result, or the end of the step */
    if (rc == 0 && step && step->item >= 0 && step->result)
        rc = store__pg_foreach_result(c, run_id, step, err);
    if (rc == 0 && next->foreach_clear)
        rc = store__pg_foreach_clear(c, run_id, err);
    if (rc == 0)
        rc = store__pg_advance_run(c, run_id, now_ms, next, err);
    if (rc == 0 && next->approval_step_id)
        rc = open_approval(c, run_id, now_ms, next, err);
    if (rc == 0 && next_in->begin_run > 0) {
        char b_id[STORE__PG_INT_LEN], b_until[STORE__PG_INT_LEN];
        const char *p[3] = {store__pg_i64(b_id, next_in->begin_run), owner,
                            store__pg_i64(b_until, next_in->begin_lease_until)};
        rc = store__pg_exec(c, "begin run", SQL_BEGIN_RUN, 3, p, NULL, err); /* nothing when no longer held */
    }
    if (rc == 0)
        rc = store__pg_commit(c, err);
out:
    if (rc)
        store__pg_rollback(c);
    else if (next == &cancelled)
        rc = idf_err_set(err, IDF_ECANCELLED, "run %lld was cancelled: %s", (long long)run_id, reason);
    free(reason);
    return rc;
}

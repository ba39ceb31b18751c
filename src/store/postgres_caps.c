/* postgres_caps.c — the PostgreSQL claim's choice of queued and due runs when
 * some workflows are capped (`concurrency:`, struct store_cap). The rule is
 * sqlite_caps.c's; what differs is how it holds across connections.
 *
 * Why a lock. Under READ COMMITTED two claims on two connections (or nodes)
 * each count running(W) in their own snapshot, and SKIP LOCKED makes them
 * take DIFFERENT queued runs of W: with cap 1 and nobody running, both see
 * 0, both take one, and two run. Row locks cannot prevent it (each claim
 * locks only its own new rows). So before counting, a claim takes
 * pg_advisory_xact_lock(STORE__PG_LOCK_CAP, hashtext(W)) for every capped W:
 * a second claim of W waits until the first commits, and its count (a new
 * statement, so a new snapshot under READ COMMITTED) then sees the runs the
 * first made running. The lock is transaction-scoped: released by the
 * commit or rollback, never leaked by a dead connection. Only claims of the
 * same capped workflows serialize, for the few milliseconds of a claim;
 * claims of uncapped workflows never take it.
 *
 * No deadlocks: one statement takes all the locks of a claim in ascending
 * key order (not name order: two names may share a hashtext, and two nodes
 * may hold different cap lists during a rolling change, so only the key
 * order is the same for everybody), each key once.
 *
 * Candidates, all FOR UPDATE SKIP LOCKED, oldest first:
 *  - per capped workflow with free slots, its first min(max, free) queued
 *    runs and its first min(max, free) due waiting runs (a LATERAL range per
 *    workflow, so a capped backlog is never read past its free slots);
 *  - the first max queued and max due runs of every other workflow
 *    (workflow <> ALL (capped names)). This range walks the id order past the
 *    rows of capped workflows (SQLite's claim seeks per workflow instead):
 *    its cost grows with the capped backlog ahead of the oldest uncapped run.
 * The caller merges them by id and counts the capped ones against free.
 *
 * Callers: store__pg_run_claim, inside its transaction, on the connection's
 * thread. */
#include "store/postgres_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* "{...}": the capped names as a text[] literal, in caps order. */
static int names_literal(struct buf *b, const struct store_cap *caps, size_t n_caps)
{
    int rc = buf_puts(b, "{");
    for (size_t i = 0; rc == 0 && i < n_caps; i++)
        rc = store__pg_array_elem(b, caps[i].workflow, i == 0);
    return rc ? rc : buf_puts(b, "}");
}

/* Takes the advisory lock of every capped workflow, in key order. */
static int lock_caps(struct store__pg *c, const char *names, struct idf_err *err)
{
    char b_key[STORE__PG_INT_LEN];
    const char *p[2] = {store__pg_i64(b_key, STORE__PG_LOCK_CAP), names};
    /* DISTINCT ... ORDER BY in a subquery is not flattened: the outer
     * aggregate calls the lock function in the subquery's order */
    return store__pg_exec(c, "lock workflow caps",
                          "SELECT count(pg_advisory_xact_lock($1::int, t.h)) FROM "
                          "(SELECT DISTINCT hashtext(w) AS h FROM unnest($2::text[]) AS w ORDER BY 1) t",
                          2, p, NULL, err);
}

/* slots[k] = caps[k].max - running runs of caps[k].workflow (at least 0). */
static int count_slots(struct store__pg *c, const struct store_cap *caps, size_t n_caps, const char *names, int *slots,
                       struct idf_err *err)
{
    const char *p[1] = {names};
    PGresult *res = NULL;
    int rc = store__pg_exec(c, "count running runs",
                            "SELECT c.k - 1, count(*) FROM unnest($1::text[]) WITH ORDINALITY AS c(w, k) "
                            "JOIN runs r ON r.workflow = c.w AND r.status = 'running' GROUP BY c.k",
                            1, p, &res, err);
    if (rc)
        return rc;
    for (size_t k = 0; k < n_caps; k++)
        slots[k] = caps[k].max;
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t k = store__pg_get_i64(res, i, 0), used = store__pg_get_i64(res, i, 1);
        if (k >= 0 && (size_t)k < n_caps)
            slots[k] = used >= caps[k].max ? 0 : caps[k].max - (int)used;
    }
    PQclear(res);
    return 0;
}

int store__pg_claim_capped(struct store__pg *c, const struct store_cap *caps, size_t n_caps, int64_t now_ms, size_t max,
                           struct store__pg_cands *cs, struct idf_err *err)
{
    char b_now[STORE__PG_INT_LEN], b_max[STORE__PG_INT_LEN];
    PGresult *res = NULL;
    struct buf names, lims;
    int rc;

    buf_init(&names, (size_t)n_caps * (2 * STORE__NAME_MAX + 3) + 3);
    buf_init(&lims, (size_t)n_caps * STORE__PG_INT_LEN + 3);
    cs->slots = calloc(n_caps, sizeof *cs->slots);
    if (!cs->slots) {
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        goto out;
    }
    rc = names_literal(&names, caps, n_caps);
    if (rc) {
        rc = idf_err_set(err, rc, "store: claim: cannot list the caps");
        goto out;
    }
    rc = lock_caps(c, names.data, err);
    if (rc == 0)
        rc = count_slots(c, caps, n_caps, names.data, cs->slots, err);
    if (rc)
        goto out;
    rc = buf_puts(&lims, "{");
    for (size_t k = 0; rc == 0 && k < n_caps; k++)
        rc = buf_printf(&lims, "%s%d", k ? "," : "", (size_t)cs->slots[k] < max ? cs->slots[k] : (int)max);
    if (rc == 0)
        rc = buf_puts(&lims, "}");
    if (rc) {
        rc = idf_err_set(err, rc, "store: claim: cannot list the caps");
        goto out;
    }
    {
        const char *p[4] = {names.data, lims.data, store__pg_i64(b_now, now_ms), store__pg_i64(b_max, (int64_t)max)};
        rc = store__pg_exec(c, "find capped runs",
                            "SELECT q.id, c.k - 1 FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS c(w, lim, k), "
                            "LATERAL (SELECT id FROM runs WHERE status = 'queued' AND workflow = c.w ORDER BY id "
                            "LIMIT c.lim FOR UPDATE SKIP LOCKED) q WHERE c.lim > 0 "
                            "UNION ALL "
                            "SELECT d.id, c.k - 1 FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS c(w, lim, k), "
                            "LATERAL (SELECT id FROM runs WHERE status = 'waiting' AND wake_at > 0 "
                            "AND wake_at <= $3::bigint AND workflow = c.w ORDER BY wake_at "
                            "LIMIT c.lim FOR UPDATE SKIP LOCKED) d WHERE c.lim > 0",
                            3, p, &res, err);
        if (rc == 0)
            rc = store__pg_cands_read(cs, res, true, err);
        PQclear(res);
        res = NULL;
        if (rc)
            goto out;
        p[1] = b_max; /* $2 max, $3 now for the uncapped ranges */
        p[2] = b_now;
        rc = store__pg_exec(c, "find runnable runs",
                            "SELECT id FROM (SELECT id FROM runs WHERE status = 'queued' "
                            "AND workflow <> ALL ($1::text[]) ORDER BY id LIMIT $2::bigint FOR UPDATE SKIP LOCKED) q "
                            "UNION ALL SELECT id FROM (SELECT id FROM runs WHERE status = 'waiting' AND wake_at > 0 "
                            "AND wake_at <= $3::bigint AND workflow <> ALL ($1::text[]) ORDER BY wake_at "
                            "LIMIT $2::bigint FOR UPDATE SKIP LOCKED) d",
                            3, p, &res, err);
        if (rc == 0)
            rc = store__pg_cands_read(cs, res, false, err);
    }
out:
    PQclear(res);
    buf_free(&names);
    buf_free(&lims);
    return rc;
}

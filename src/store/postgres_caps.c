/* postgres_caps.c — the PostgreSQL claim's queued and due candidates, per
 * workflow, within the workflows' caps (`concurrency:`, struct store_cap);
 * store_fair.c puts them in the claim's fair order. The rule is
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
 * Candidates, all FOR UPDATE SKIP LOCKED: the workflows with queued runs
 * (and, separately, with due waiting runs) are listed by a recursive walk of
 * the partial index runs_queued_wf (runs_due_wf), one index probe per
 * distinct name (PostgreSQL has no skip scan; min(workflow) above the last
 * name is one), and each gives, through a LATERAL range of the same index,
 * its first min(max, free slots) queued runs by id and as many due runs by
 * wake_at (max for an uncapped workflow). So no backlog is read past max
 * runs, whatever its length (issue 20; before, the uncapped range walked the
 * id order past every capped backlog). store__fair_pick then orders them
 * (priority, round-robin across workflows) and counts the capped ones
 * against their slots; the rows locked and not taken are released at
 * commit.
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

/* The workflows with queued (qn) and with waiting-with-a-wake (dn) runs, one
 * index probe each (a loose index scan), joined with the claim's limits ($1
 * names, $2 limits; $4 for a workflow not listed), and per workflow its
 * first runs of each kind, locked. $3: now. "workflow >= w AND workflow <=
 * w" instead of "workflow = w", on purpose: with an equality the planner
 * (which cannot know w) walks the primary key in id order and filters,
 * reading every run of the other workflows' backlogs ahead (EXPLAIN
 * ANALYZE: 20,000 rows removed by the filter to find one); with the range
 * only runs_queued_wf (workflow, id) / runs_due_wf (workflow, wake_at) give
 * the ORDER BY, one index range each (docs/internals/store.md). */
static const char SQL_FAIR[] =
    "WITH RECURSIVE qn(w) AS ("
    " SELECT min(workflow) FROM runs WHERE status = 'queued'"
    " UNION ALL SELECT (SELECT min(workflow) FROM runs WHERE status = 'queued' AND workflow > qn.w) FROM qn"
    " WHERE qn.w IS NOT NULL), "
    "dn(w) AS ("
    " SELECT min(workflow) FROM runs WHERE status = 'waiting' AND wake_at > 0"
    " UNION ALL SELECT (SELECT min(workflow) FROM runs WHERE status = 'waiting' AND wake_at > 0 AND workflow > dn.w)"
    " FROM dn WHERE dn.w IS NOT NULL), "
    "lim(w, n) AS (SELECT w, n FROM unnest($1::text[], $2::int[]) AS c(w, n)) "
    "SELECT q.id, x.w FROM (SELECT qn.w, coalesce(lim.n, $4::int) AS n FROM qn LEFT JOIN lim ON lim.w = qn.w"
    " WHERE qn.w IS NOT NULL) x, "
    "LATERAL (SELECT id FROM runs WHERE status = 'queued' AND workflow >= x.w AND workflow <= x.w"
    " ORDER BY workflow, id LIMIT x.n"
    " FOR UPDATE SKIP LOCKED) q WHERE x.n > 0 "
    "UNION ALL "
    "SELECT d.id, x.w FROM (SELECT dn.w, coalesce(lim.n, $4::int) AS n FROM dn LEFT JOIN lim ON lim.w = dn.w"
    " WHERE dn.w IS NOT NULL) x, "
    "LATERAL (SELECT id FROM runs WHERE status = 'waiting' AND wake_at > 0 AND wake_at <= $3::bigint"
    " AND workflow >= x.w AND workflow <= x.w ORDER BY workflow, wake_at LIMIT x.n FOR UPDATE SKIP LOCKED) d"
    " WHERE x.n > 0";

int store__pg_claim_fair(struct store__pg *c, const struct store_cap *caps, size_t n_caps, int64_t now_ms, size_t max,
                         int64_t *ids, size_t *n_ids, struct idf_err *err)
{
    char b_now[STORE__PG_INT_LEN], b_max[STORE__PG_INT_LEN];
    struct store_cap *capped = NULL;
    struct store__fair_cand *cands = NULL;
    int *room = NULL, *slots = NULL;
    size_t n_capped = 0;
    PGresult *res = NULL;
    struct buf names, lims;
    int rc = 0;

    buf_init(&names, (size_t)n_caps * (2 * STORE__NAME_MAX + 3) + 3);
    buf_init(&lims, (size_t)n_caps * STORE__PG_INT_LEN + 3);
    capped = malloc((n_caps ? n_caps : 1) * sizeof *capped);
    room = calloc(n_caps ? n_caps : 1, sizeof *room);
    slots = calloc(n_caps ? n_caps : 1, sizeof *slots);
    if (!capped || !room || !slots) {
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        goto out;
    }
    for (size_t k = 0; k < n_caps; k++)
        if (caps[k].max > 0)
            capped[n_capped++] = caps[k];
    if (n_capped) { /* lock and count the capped workflows only */
        rc = names_literal(&names, capped, n_capped);
        if (rc) {
            rc = idf_err_set(err, rc, "store: claim: cannot list the caps");
            goto out;
        }
        rc = lock_caps(c, names.data, err);
        if (rc == 0)
            rc = count_slots(c, capped, n_capped, names.data, slots, err);
        if (rc)
            goto out;
        buf_reset(&names);
    }
    for (size_t k = 0, j = 0; k < n_caps; k++) /* capped is caps' capped entries in order */
        room[k] = caps[k].max > 0 ? slots[j++] : (int)max;
    rc = names_literal(&names, caps, n_caps);
    if (rc == 0)
        rc = buf_puts(&lims, "{");
    for (size_t k = 0; rc == 0 && k < n_caps; k++)
        rc = buf_printf(&lims, "%s%d", k ? "," : "", (size_t)room[k] < max ? room[k] : (int)max);
    if (rc == 0)
        rc = buf_puts(&lims, "}");
    if (rc) {
        rc = idf_err_set(err, rc, "store: claim: cannot list the caps");
        goto out;
    }
    {
        const char *p[4] = {names.data, lims.data, store__pg_i64(b_now, now_ms), store__pg_i64(b_max, (int64_t)max)};
        int nt;
        rc = store__pg_exec(c, "find runnable runs", SQL_FAIR, 4, p, &res, err);
        if (rc)
            goto out;
        nt = PQntuples(res);
        cands = malloc((nt > 0 ? (size_t)nt : 1) * sizeof *cands);
        if (!cands) {
            rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
            goto out;
        }
        for (int i = 0; i < nt; i++) { /* the names borrow res, freed below */
            cands[i].id = store__pg_get_i64(res, i, 0);
            cands[i].workflow = PQgetvalue(res, i, 1);
        }
        if (store__fair_pick(&c->base, cands, (size_t)nt, caps, n_caps, room, max, ids, n_ids))
            rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    }
out:
    PQclear(res);
    free(cands);
    free(capped);
    free(room);
    free(slots);
    buf_free(&names);
    buf_free(&lims);
    return rc;
}

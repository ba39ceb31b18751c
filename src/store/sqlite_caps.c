/* sqlite_caps.c — the SQLite claim's choice of queued and due runs when some
 * workflows are capped (`concurrency:`, struct store_cap).
 *
 * Without caps the claim takes the oldest queued and due runs with one
 * LIMITed range scan each (sqlite_runs.c). With caps that is wrong twice: a
 * capped workflow's backlog ahead of everything fills the LIMIT with runs
 * that may not start, so the runs of other workflows behind it would never be
 * reached. So here the candidates are read per workflow:
 *
 *  - running(W), the runs of each capped W in status running, is counted in
 *    the claim's transaction (one grouped scan of runs_running, which holds
 *    only live runs: at most the leases of every worker of every node);
 *  - the workflows that have queued runs are listed by seeking the partial
 *    index runs_queued_wf once per distinct name (not once per run), and each
 *    gives its oldest min(max, slots) runs, where slots = cap - running(W) for
 *    a capped W and max for the others: a range of the same index;
 *  - the same for due waiting runs through runs_due_wf, oldest wake first;
 *  - then all candidates are merged oldest first (by id, as without caps) and
 *    taken while the workflow's slots last, up to max.
 *
 * The cost is one seek per distinct workflow with live runs plus the runs
 * read, whatever the length of any backlog. Runs whose lease expired are the
 * caller's third candidate scan: taking one over keeps running(W), so it
 * needs no slot. INDEXED BY pins each query to its index (the planner, with
 * no statistics, would otherwise sort a whole status range to find one
 * name); if a migration ever dropped one the prepare fails loudly.
 *
 * Callers: store__sq_run_claim, inside its BEGIN IMMEDIATE, on the
 * connection's thread. */
#include "store/sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

struct cand {
    int64_t id;
    int cap; /* index into caps, or -1 for an uncapped workflow */
};

struct cands {
    struct cand *v; /* malloc'd, grows by doubling */
    size_t n, cap;
};

static int cands_push(struct cands *cs, int64_t id, int cap)
{
    if (cs->n == cs->cap) {
        size_t nc = cs->cap ? 2 * cs->cap : 64;
        struct cand *p = realloc(cs->v, nc * sizeof *p);
        if (!p)
            return IDF_ENOMEM;
        cs->v = p;
        cs->cap = nc;
    }
    cs->v[cs->n].id = id;
    cs->v[cs->n].cap = cap;
    cs->n++;
    return 0;
}

static int cmp_cap_name(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const struct store_cap *)elem)->workflow);
}

/* The index of workflow in caps (sorted by name), or -1. */
static int find_cap(const struct store_cap *caps, size_t n_caps, const char *workflow)
{
    const struct store_cap *c = n_caps ? bsearch(workflow, caps, n_caps, sizeof *caps, cmp_cap_name) : NULL;
    return c ? (int)(c - caps) : -1;
}

/* used[i] = runs of caps[i].workflow in status running. */
static int count_running(struct store__sq *c, const struct store_cap *caps, size_t n_caps, int *used,
                         struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_CAP_RUNNING,
                            "SELECT workflow, count(*) FROM runs INDEXED BY runs_running WHERE status = 'running' "
                            "GROUP BY workflow",
                            &st, err);
    if (rc)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *w = (const char *)sqlite3_column_text(st, 0);
        int k = w ? find_cap(caps, n_caps, w) : -1;
        if (k >= 0)
            used[k] = sqlite3_column_int(st, 1);
    }
    rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "count running runs", err);
    store__sq_done(st);
    return rc;
}

/* One kind of candidate (queued, or due waiting): next_sql lists the next
 * workflow name after ?1 that has such runs, ids_sql gives the ids of one
 * workflow (?1 name, ?2 now, ?3 limit) in claim order. */
struct source {
    enum store__sq_slot next_slot;
    const char *next_sql;
    enum store__sq_slot ids_slot;
    const char *ids_sql;
    const char *what;
};

static const struct source QUEUED = {
    SQ_CAP_QUEUED_NEXT,
    "SELECT workflow FROM runs INDEXED BY runs_queued_wf WHERE status = 'queued' AND workflow > ?1 "
    "ORDER BY workflow LIMIT 1",
    SQ_CAP_QUEUED,
    "SELECT id FROM runs INDEXED BY runs_queued_wf WHERE status = 'queued' AND workflow = ?1 "
    "ORDER BY id LIMIT ?3", /* ?2 unused */
    "find queued runs",
};

static const struct source DUE = {
    SQ_CAP_DUE_NEXT,
    "SELECT workflow FROM runs INDEXED BY runs_due_wf WHERE status = 'waiting' AND wake_at > 0 AND workflow > ?1 "
    "ORDER BY workflow LIMIT 1",
    SQ_CAP_DUE,
    "SELECT id FROM runs INDEXED BY runs_due_wf WHERE status = 'waiting' AND wake_at > 0 AND workflow = ?1 "
    "AND wake_at <= ?2 ORDER BY wake_at LIMIT ?3",
    "find due runs",
};

/* Reads the next workflow name after *name (a malloc'd string, "" at first)
 * into *name; *done when there is none. */
static int next_workflow(struct store__sq *c, const struct source *src, char **name, bool *done, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, src->next_slot, src->next_sql, &st, err);
    if (rc)
        return rc;
    store__sq_bind_text(st, 1, *name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
        char *dup = strdup((const char *)sqlite3_column_text(st, 0));
        if (!dup) {
            rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        } else {
            free(*name);
            *name = dup;
            rc = 0;
        }
    } else if (rc == SQLITE_DONE || rc == SQLITE_ROW) { /* none left (a name is NOT NULL TEXT) */
        *done = true;
        rc = 0;
    } else {
        rc = store__sq_fail(c, rc, src->what, err);
    }
    store__sq_done(st);
    return rc;
}

/* Appends, for every workflow with runs of this kind, its first runs in
 * claim order: up to max for an uncapped workflow, up to its free slots (at
 * most max) for a capped one. */
static int gather(struct store__sq *c, const struct source *src, const struct store_cap *caps, size_t n_caps,
                  const int *used, int64_t now_ms, size_t max, struct cands *cs, struct idf_err *err)
{
    char *name = strdup("");
    bool done = false;
    int rc = name ? 0 : idf_err_set(err, IDF_ENOMEM, "store: out of memory");

    while (rc == 0 && !(rc = next_workflow(c, src, &name, &done, err)) && !done) {
        int k = find_cap(caps, n_caps, name);
        int64_t lim = (int64_t)max;
        sqlite3_stmt *st = NULL;

        if (k >= 0 && caps[k].max - used[k] < lim)
            lim = caps[k].max - used[k];
        if (lim <= 0)
            continue; /* at its cap: its runs stay where they are */
        rc = store__sq_prep(c, src->ids_slot, src->ids_sql, &st, err);
        if (rc)
            break;
        store__sq_bind_text(st, 1, name);
        sqlite3_bind_int64(st, 2, now_ms);
        sqlite3_bind_int64(st, 3, lim);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if ((rc = cands_push(cs, sqlite3_column_int64(st, 0), k)))
                break;
        }
        if (rc == IDF_ENOMEM)
            idf_err_set(err, rc, "store: out of memory");
        else
            rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, src->what, err);
        store__sq_done(st);
    }
    free(name);
    return rc;
}

static int cmp_cand(const void *a, const void *b)
{
    int64_t x = ((const struct cand *)a)->id, y = ((const struct cand *)b)->id;
    return (x > y) - (x < y);
}

int store__sq_claim_capped(struct store__sq *c, const struct store_cap *caps, size_t n_caps, int64_t now_ms, size_t max,
                           int64_t *ids, size_t *n_ids, struct idf_err *err)
{
    struct cands cs = {NULL, 0, 0};
    int *used = NULL;
    int rc;

    used = calloc(n_caps ? n_caps : 1, 2 * sizeof *used); /* used[k], then taken[k] */
    if (!used)
        return idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    rc = count_running(c, caps, n_caps, used, err);
    if (rc == 0)
        rc = gather(c, &QUEUED, caps, n_caps, used, now_ms, max, &cs, err);
    if (rc == 0)
        rc = gather(c, &DUE, caps, n_caps, used, now_ms, max, &cs, err);
    if (rc)
        goto out;
    if (cs.n)
        qsort(cs.v, cs.n, sizeof *cs.v, cmp_cand);
    for (size_t i = 0, taken = 0; i < cs.n && taken < max; i++) {
        int k = cs.v[i].cap;
        if (k >= 0) {
            int *took = &used[n_caps + (size_t)k];
            if (used[k] + *took >= caps[k].max)
                continue;
            (*took)++;
        }
        ids[(*n_ids)++] = cs.v[i].id;
        taken++;
    }
out:
    free(cs.v);
    free(used);
    return rc;
}

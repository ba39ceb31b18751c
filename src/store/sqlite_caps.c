/* sqlite_caps.c — the SQLite claim's queued and due candidates, per
 * workflow, within the workflows' caps (`concurrency:`, struct store_cap);
 * store_fair.c puts them in the claim's fair order.
 *
 * One LIMITed range scan in id order would be wrong twice: a backlog of one
 * workflow ahead of everything fills the LIMIT, so a run of another workflow
 * behind it waits for the whole backlog (unfair, issue 20), and a capped
 * workflow's backlog whose runs may not start hides every run behind it
 * (#12). So the candidates are read per workflow:
 *
 *  - running(W), the runs of each capped W in status running, is counted in
 *    the claim's transaction (one grouped scan of runs_running, which holds
 *    only live runs: at most the leases of every worker of every node), only
 *    when some workflow is capped;
 *  - the workflows that have queued runs are listed by seeking the partial
 *    index runs_queued_wf once per distinct name (not once per run), and each
 *    gives its oldest min(max, slots) runs, where slots = cap - running(W) for
 *    a capped W and max for the others: a range of the same index;
 *  - the same for due waiting runs through runs_due_wf, oldest wake first;
 *  - store__fair_pick orders them (priority, round-robin) and takes them
 *    while each workflow's slots last, up to max.
 *
 * The cost is one seek per distinct workflow with live runs plus at most max
 * runs read per workflow, whatever the length of any backlog. Runs whose
 * lease expired are the caller's own candidates: taking one over keeps
 * running(W), so it needs no slot. INDEXED BY pins each query to its index
 * (the planner, with no statistics, would otherwise sort a whole status
 * range to find one name); if a migration ever dropped one the prepare
 * fails loudly.
 *
 * Callers: store__sq_run_claim, inside its BEGIN IMMEDIATE, on the
 * connection's thread. */
#include "store/sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

/* The candidates and the workflow names they borrow. */
struct cands {
    struct store__fair_cand *v; /* malloc'd, grows by doubling */
    size_t n, cap;
    char **names; /* malloc'd, each name once per kind of candidate */
    size_t n_names, cap_names;
};

static int cands_push(struct cands *cs, int64_t id, const char *workflow)
{
    if (cs->n == cs->cap) {
        size_t nc = cs->cap ? 2 * cs->cap : 64;
        struct store__fair_cand *p = realloc(cs->v, nc * sizeof *p);
        if (!p)
            return IDF_ENOMEM;
        cs->v = p;
        cs->cap = nc;
    }
    cs->v[cs->n].id = id;
    cs->v[cs->n].workflow = workflow;
    cs->n++;
    return 0;
}

/* Keeps name (takes ownership; freed on failure too). */
static int names_keep(struct cands *cs, char *name)
{
    if (cs->n_names == cs->cap_names) {
        size_t nc = cs->cap_names ? 2 * cs->cap_names : 16;
        char **p = realloc(cs->names, nc * sizeof *p);
        if (!p) {
            free(name);
            return IDF_ENOMEM;
        }
        cs->names = p;
        cs->cap_names = nc;
    }
    cs->names[cs->n_names++] = name;
    return 0;
}

static void cands_clear(struct cands *cs)
{
    for (size_t i = 0; i < cs->n_names; i++)
        free(cs->names[i]);
    free(cs->names);
    free(cs->v);
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
        int k = w ? store__cap_find(caps, n_caps, w) : -1;
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

/* Reads the next workflow name after after (a name, "" at first) into
 * *name (malloc'd, caller frees); *name NULL when there is none. */
static int next_workflow(struct store__sq *c, const struct source *src, const char *after, char **name,
                         struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, src->next_slot, src->next_sql, &st, err);
    if (rc)
        return rc;
    *name = NULL;
    store__sq_bind_text(st, 1, after);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
        *name = strdup((const char *)sqlite3_column_text(st, 0));
        rc = *name ? 0 : idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    } else if (rc == SQLITE_DONE || rc == SQLITE_ROW) { /* none left (a name is NOT NULL TEXT) */
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
                  const int *room, int64_t now_ms, size_t max, struct cands *cs, struct idf_err *err)
{
    const char *after = "";
    int rc = 0;

    for (;;) {
        char *name = NULL;
        int k;
        int64_t lim = (int64_t)max;
        sqlite3_stmt *st = NULL;

        rc = next_workflow(c, src, after, &name, err);
        if (rc || !name)
            break;
        if ((rc = names_keep(cs, name))) {
            idf_err_set(err, rc, "store: out of memory");
            break;
        }
        after = name;
        k = store__cap_find(caps, n_caps, name);
        if (k >= 0 && caps[k].max > 0 && room[k] < lim)
            lim = room[k];
        if (lim <= 0)
            continue; /* at its cap: its runs stay where they are */
        rc = store__sq_prep(c, src->ids_slot, src->ids_sql, &st, err);
        if (rc)
            break;
        store__sq_bind_text(st, 1, name);
        sqlite3_bind_int64(st, 2, now_ms);
        sqlite3_bind_int64(st, 3, lim);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if ((rc = cands_push(cs, sqlite3_column_int64(st, 0), name)))
                break;
        }
        if (rc == IDF_ENOMEM)
            idf_err_set(err, rc, "store: out of memory");
        else
            rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, src->what, err);
        store__sq_done(st);
        if (rc)
            break;
    }
    return rc;
}

int store__sq_claim_fair(struct store__sq *c, const struct store_cap *caps, size_t n_caps, int64_t now_ms, size_t max,
                         int64_t *ids, size_t *n_ids, struct idf_err *err)
{
    struct cands cs = {0};
    int *room = NULL;
    bool capped = false;
    int rc;

    for (size_t k = 0; k < n_caps; k++)
        capped |= caps[k].max > 0;
    room = calloc(n_caps ? n_caps : 1, sizeof *room);
    if (!room)
        return idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    rc = capped ? count_running(c, caps, n_caps, room, err) : 0; /* room[k] = running(W) for now */
    for (size_t k = 0; rc == 0 && k < n_caps; k++)
        room[k] = caps[k].max > room[k] ? caps[k].max - room[k] : 0;
    if (rc == 0)
        rc = gather(c, &QUEUED, caps, n_caps, room, now_ms, max, &cs, err);
    if (rc == 0)
        rc = gather(c, &DUE, caps, n_caps, room, now_ms, max, &cs, err);
    if (rc == 0 && store__fair_pick(&c->base, cs.v, cs.n, caps, n_caps, room, max, ids, n_ids))
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    cands_clear(&cs);
    free(room);
    return rc;
}

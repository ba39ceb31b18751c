/* store_fair.c — the order in which a claim hands out queued and due runs
 * (issue 20, "fair queues"): by priority, then round-robin across workflows.
 *
 * The backends find the candidates (per workflow, its first runs up to its
 * room: sqlite_caps.c, postgres_caps.c); this file only orders them, the same
 * for every backend. Why round-robin and not oldest first: oldest first makes
 * a run of workflow B wait behind every run of a workflow A queued before it
 * (a bulk import in Okta fires thousands of events at once). Round-robin
 * takes the first run of each workflow in turn, then the second, so B's run
 * is in the next claim whatever A's backlog.
 *
 * Priorities are strict: every candidate of a higher priority is taken
 * before any of a lower one (a high-priority backlog does delay normal
 * workflows; that is what the operator asked for, and `concurrency:` bounds
 * it). Within one priority the turn starts at the first workflow after the
 * one this connection served last (struct store.fair_after, in name order,
 * wrapping): with a claim smaller than the number of workflows with work,
 * each claim moves the turn on, so none is passed over twice in a row. The
 * turn is per connection (each worker has its own), not shared: every
 * worker goes round all workflows by itself, which bounds any workflow's
 * wait to one claim per worker without a write per claim.
 *
 * Cost: a sort of the candidates (at most max per workflow with work) and of
 * the workflows; no database access.
 *
 * Callers: the backends' run_claim, inside the claim's transaction, on the
 * connection's thread. */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

struct group {
    const char *name; /* borrowed from the candidates */
    size_t first, n;  /* the group's candidates: cands[first..first+n), by id */
    size_t took;      /* taken so far */
    size_t room;      /* the most it may give */
    int priority;
    int after; /* 1: its name sorts after the turn (served first), 0: at or before it */
};

static int cmp_cap_name(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const struct store_cap *)elem)->workflow);
}

int store__cap_find(const struct store_cap *caps, size_t n_caps, const char *workflow)
{
    const struct store_cap *c = n_caps ? bsearch(workflow, caps, n_caps, sizeof *caps, cmp_cap_name) : NULL;
    return c ? (int)(c - caps) : -1;
}

static int cmp_cand(const void *a, const void *b)
{
    const struct store__fair_cand *x = a, *y = b;
    int c = strcmp(x->workflow, y->workflow);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* Higher priority first; then the workflows after the turn, then the others;
 * by name within each. */
static int cmp_group(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    if (x->priority != y->priority)
        return y->priority - x->priority;
    if (x->after != y->after)
        return y->after - x->after;
    return strcmp(x->name, y->name);
}

int store__fair_pick(struct store *s, struct store__fair_cand *cands, size_t n, const struct store_cap *caps,
                     size_t n_caps, const int *room, size_t max, int64_t *ids, size_t *n_ids)
{
    struct group *g = NULL;
    const char *last = NULL;
    size_t ng = 0, m = 0;

    if (n == 0 || *n_ids >= max)
        return 0;
    qsort(cands, n, sizeof *cands, cmp_cand);
    for (size_t i = 0; i < n; i++) /* drop a run listed twice (adjacent after the sort) */
        if (m == 0 || cands[i].id != cands[m - 1].id || strcmp(cands[i].workflow, cands[m - 1].workflow) != 0)
            cands[m++] = cands[i];
    n = m;
    g = malloc(n * sizeof *g); /* at most one group per candidate */
    if (!g)
        return IDF_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int k;
        if (ng && strcmp(g[ng - 1].name, cands[i].workflow) == 0) {
            g[ng - 1].n++;
            continue;
        }
        k = store__cap_find(caps, n_caps, cands[i].workflow);
        g[ng].name = cands[i].workflow;
        g[ng].first = i;
        g[ng].n = 1;
        g[ng].took = 0;
        g[ng].room = max;
        if (k >= 0 && caps[k].max > 0 && room)
            g[ng].room = room[k] > 0 ? (size_t)room[k] : 0;
        g[ng].priority = k >= 0 ? caps[k].priority : STORE_PRIORITY_NORMAL;
        g[ng].after = strcmp(cands[i].workflow, s->fair_after) > 0;
        ng++;
    }
    qsort(g, ng, sizeof *g, cmp_group);
    /* one priority at a time, round-robin within it, until max */
    for (size_t lo = 0, hi; lo < ng && *n_ids < max; lo = hi) {
        bool more = true;
        for (hi = lo; hi < ng && g[hi].priority == g[lo].priority; hi++)
            ;
        while (more && *n_ids < max) {
            more = false;
            for (size_t j = lo; j < hi && *n_ids < max; j++) {
                if (g[j].took >= g[j].n || g[j].took >= g[j].room)
                    continue;
                ids[(*n_ids)++] = cands[g[j].first + g[j].took].id;
                g[j].took++;
                last = g[j].name;
                more = true;
            }
        }
    }
    if (last) {
        size_t len = strlen(last);
        if (len > STORE__NAME_MAX)
            len = STORE__NAME_MAX;
        memcpy(s->fair_after, last, len);
        s->fair_after[len] = '\0';
    }
    free(g);
    return 0;
}

/* wfset.c — the engine's set of workflows (see engine_internal.h).
 *
 * Invariant: `cur` holds the current version of each workflow name, at most
 * one entry per name; `old` holds older versions loaded for runs that began
 * on them. Entries are never removed before engine__wfset_free, so borrowed
 * flow pointers stay valid for the engine's life. `gen` changes with every
 * change of `cur`, so a worker rebuilds its copy of the caps (`concurrency:`)
 * only then. Any thread; `lock` guards both arrays and gen. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/engine_internal.h"
#include "flow/flow.h"
#include "store/store.h"

#define WFSET_MAX 1024 /* workflows in one directory */

_Static_assert(WFSET_MAX <= STORE_CAPS_MAX && FLOW_MAX_CONCURRENCY <= STORE_CAP_MAX,
               "every current workflow's cap must fit one claim");

struct wf_entry {
    struct flow *flow;
    int64_t version;
};

struct wfset {
    pthread_rwlock_t lock;
    struct wf_entry *cur; /* guarded by lock */
    size_t n_cur;
    unsigned long gen;    /* guarded by lock; 1 + changes of cur (for engine__wfset_caps) */
    struct wf_entry *old; /* guarded by lock */
    size_t n_old;
    const struct registry *reg; /* borrowed: the connector table flows are parsed in */
};

int engine__wfset_new(const struct registry *reg, struct wfset **out)
{
    struct wfset *ws = calloc(1, sizeof *ws);
    if (!ws)
        return IDF_ENOMEM;
    pthread_rwlock_init(&ws->lock, NULL);
    ws->gen = 1;
    ws->reg = reg;
    *out = ws;
    return 0;
}

void engine__wfset_free(struct wfset *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; i < ws->n_cur; i++)
        flow_free(ws->cur[i].flow);
    for (size_t i = 0; i < ws->n_old; i++)
        flow_free(ws->old[i].flow);
    free(ws->cur);
    free(ws->old);
    pthread_rwlock_destroy(&ws->lock);
    free(ws);
}

static int has_yaml_ext(const char *n)
{
    size_t l = strlen(n);
    return (l > 5 && strcmp(n + l - 5, ".yaml") == 0) || (l > 4 && strcmp(n + l - 4, ".yml") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_entry(struct wf_entry **arr, size_t *n, struct flow *f, int64_t version)
{
    struct wf_entry *p = realloc(*arr, (*n + 1) * sizeof **arr);
    if (!p)
        return IDF_ENOMEM;
    *arr = p;
    p[*n].flow = f;
    p[*n].version = version;
    (*n)++;
    return 0;
}

/* The *.yaml / *.yml files of dir (hidden ones skipped), sorted: names[0..*n_out),
 * each "dir/file", caller frees each. On failure nothing is left to free. */
static int list_yaml(const char *dir, char *names[WFSET_MAX], size_t *n_out, struct idf_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;
    int rc = 0;

    if (!d)
        return idf_err_set(err, IDF_ENOTFOUND, "cannot open workflows directory '%s'", dir);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !has_yaml_ext(de->d_name))
            continue;
        if (n == WFSET_MAX) {
            rc = idf_err_set(err, IDF_ETOOBIG, "more than %d workflow files in '%s'", WFSET_MAX, dir);
            break;
        }
        if (asprintf(&names[n], "%s/%s", dir, de->d_name) < 0) {
            rc = IDF_ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        return rc;
    }
    qsort(names, n, sizeof names[0], cmp_str);
    *n_out = n;
    return 0;
}

int engine__wfset_load_dir(struct wfset *ws, struct store *st, struct expr_ctx *ectx, const char *dir,
                           struct idf_err *err)
{
    char *names[WFSET_MAX];
    struct flow *flows[WFSET_MAX];
    size_t n = 0, bad = 0;
    int rc;

    memset(flows, 0, sizeof flows);
    rc = list_yaml(dir, names, &n, err);
    if (rc)
        return rc;

    for (size_t i = 0; i < n; i++) {
        struct flow_diags *diags = calloc(1, sizeof *diags);
        if (!diags) {
            rc = IDF_ENOMEM;
            goto out;
        }
        if (flow_load_file(ws->reg, names[i], ectx, &flows[i], diags)) {
            flow_diags_print(names[i], diags, stderr);
            bad++;
        }
        free(diags);
    }
    for (size_t i = 0; i < n && !bad; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(flows[i]->name, flows[j]->name) == 0) {
                fprintf(stderr, "%s: workflow name '%s' is also used by %s\n", names[i], flows[i]->name, names[j]);
                bad++;
            }
        }
    }
    if (bad) {
        rc = idf_err_set(err, IDF_EINVAL, "%zu workflow file(s) in '%s' are invalid; nothing was loaded", bad, dir);
        goto out;
    }
    pthread_rwlock_wrlock(&ws->lock);
    for (size_t i = 0; i < n; i++) {
        int64_t version = 0;
        bool created = false;
        rc = store_workflow_save(st, flows[i]->name, flows[i]->source, flows[i]->hash, &version, &created, err);
        if (rc == 0 && !flows[i]->enabled)
            rc = store_workflow_set_enabled(st, flows[i]->name, false);
        if (rc == 0)
            rc = add_entry(&ws->cur, &ws->n_cur, flows[i], version);
        ws->gen++;
        if (rc) {
            pthread_rwlock_unlock(&ws->lock);
            goto out;
        }
        log_info("loaded workflow %s version %lld%s", flows[i]->name, (long long)version,
                 created ? " (new version)" : "");
        flows[i] = NULL;
    }
    pthread_rwlock_unlock(&ws->lock);
out:
    for (size_t i = 0; i < n; i++) {
        flow_free(flows[i]);
        free(names[i]);
    }
    return rc;
}

int engine__wfset_load_store(struct wfset *ws, struct store *st, struct expr_ctx *ectx, struct idf_err *err)
{
    struct store_workflow_info *rows = NULL;
    size_t n = 0;
    int rc = store_workflow_list(st, &rows, &n);

    if (rc)
        return idf_err_set(err, rc, "cannot list workflows in the store");
    for (size_t i = 0; i < n; i++) {
        const char *name = rows[i].name;
        int64_t version = rows[i].version;
        const struct flow *f = engine__wfset_get(ws, st, ectx, name, version, err);
        if (!f) {
            log_warn("workflow %s version %lld no longer loads: %s", name, (long long)version, err->msg);
            continue;
        }
        pthread_rwlock_wrlock(&ws->lock);
        /* move it from old to cur */
        for (size_t j = 0; j < ws->n_old; j++) {
            if (ws->old[j].flow == f) {
                rc = add_entry(&ws->cur, &ws->n_cur, ws->old[j].flow, version);
                ws->gen++;
                if (rc == 0) {
                    ws->old[j] = ws->old[ws->n_old - 1];
                    ws->n_old--;
                }
                break;
            }
        }
        pthread_rwlock_unlock(&ws->lock);
        if (rc)
            break;
    }
    store_workflow_list_free(rows, n);
    return rc;
}

static const struct flow *find(struct wf_entry *arr, size_t n, const char *name, int64_t version)
{
    for (size_t i = 0; i < n; i++) {
        if (arr[i].version == version && strcmp(arr[i].flow->name, name) == 0)
            return arr[i].flow;
    }
    return NULL;
}

const struct flow *engine__wfset_get(struct wfset *ws, struct store *st, struct expr_ctx *ectx, const char *name,
                                     int64_t version, struct idf_err *err)
{
    const struct flow *f;
    struct flow *nf = NULL;
    struct flow_diags *diags = NULL;
    char *src = NULL;
    int64_t got = 0;

    pthread_rwlock_rdlock(&ws->lock);
    f = find(ws->cur, ws->n_cur, name, version);
    if (!f)
        f = find(ws->old, ws->n_old, name, version);
    pthread_rwlock_unlock(&ws->lock);
    if (f)
        return f;

    if (store_workflow_source(st, name, version, &src, &got)) {
        idf_err_set(err, IDF_ENOTFOUND, "workflow %s version %lld is not in the store", name, (long long)version);
        return NULL;
    }
    diags = calloc(1, sizeof *diags);
    if (!diags || flow_parse(ws->reg, name, src, strlen(src), ectx, &nf, diags)) {
        idf_err_set(err, IDF_EINVAL, "workflow %s version %lld no longer validates%s%s", name, (long long)version,
                    diags && diags->n ? ": " : "", diags && diags->n ? diags->items[0].msg : "");
        free(diags);
        free(src);
        return NULL;
    }
    free(diags);
    free(src);
    free(nf->name);
    nf->name = strdup(name);
    pthread_rwlock_wrlock(&ws->lock);
    f = find(ws->old, ws->n_old, name, version);
    if (!f && add_entry(&ws->old, &ws->n_old, nf, version) == 0) {
        f = nf;
        nf = NULL;
    }
    pthread_rwlock_unlock(&ws->lock);
    flow_free(nf);
    return f;
}

/* (helper "inputs") Entries of cur are never freed before the set, so the
 * pointer outlives the lock. */
const struct flow *engine__wfset_current(struct wfset *ws, const char *name, int64_t *version_out)
{
    const struct flow *f = NULL;

    if (!ws || !name)
        return NULL;
    pthread_rwlock_rdlock(&ws->lock);
    for (size_t i = 0; i < ws->n_cur && !f; i++) {
        if (strcmp(ws->cur[i].flow->name, name) == 0) {
            f = ws->cur[i].flow;
            if (version_out)
                *version_out = ws->cur[i].version;
        }
    }
    pthread_rwlock_unlock(&ws->lock);
    return f;
}

void engine__wfset_each(struct wfset *ws, wfset_each_fn fn, void *ud)
{
    pthread_rwlock_rdlock(&ws->lock);
    for (size_t i = 0; i < ws->n_cur; i++)
        fn(ud, ws->cur[i].flow, ws->cur[i].version);
    pthread_rwlock_unlock(&ws->lock);
}

static int cmp_cap(const void *a, const void *b)
{
    return strcmp(((const struct store_cap *)a)->workflow, ((const struct store_cap *)b)->workflow);
}

int engine__wfset_caps(struct wfset *ws, struct wfset_caps *wc)
{
    struct store_cap *v = NULL;
    size_t n = 0;
    int rc = 0;

    pthread_rwlock_rdlock(&ws->lock);
    if (wc->gen == ws->gen)
        goto out;
    for (size_t i = 0; i < ws->n_cur; i++) /* an entry for a cap or a priority; none for the others */
        n += ws->cur[i].flow->concurrency > 0 || ws->cur[i].flow->priority != FLOW_PRIORITY_NORMAL;
    if (n && !(v = malloc(n * sizeof *v))) {
        rc = IDF_ENOMEM;
        goto out;
    }
    n = 0;
    for (size_t i = 0; i < ws->n_cur; i++) {
        const struct flow *f = ws->cur[i].flow;
        if (f->concurrency > 0 || f->priority != FLOW_PRIORITY_NORMAL) {
            v[n].workflow = f->name;
            v[n].max = f->concurrency; /* 0: no cap */
            v[n].priority = f->priority == FLOW_PRIORITY_HIGH  ? STORE_PRIORITY_HIGH
                            : f->priority == FLOW_PRIORITY_LOW ? STORE_PRIORITY_LOW
                                                               : STORE_PRIORITY_NORMAL;
            n++;
        }
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_cap); /* names are unique in cur */
    free(wc->v);
    wc->v = v;
    wc->n = n;
    wc->gen = ws->gen;
out:
    pthread_rwlock_unlock(&ws->lock);
    return rc;
}

void engine__wfset_caps_clear(struct wfset_caps *wc)
{
    if (!wc)
        return;
    free(wc->v);
    wc->v = NULL;
    wc->n = 0;
    wc->gen = 0;
}

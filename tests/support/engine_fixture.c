/* engine_fixture.c — in-process engines on a temporary store (engine_fixture.h).
 *
 * Owns the fixture's directory, its store connection (the test thread's)
 * and the engines it started. Everything runs on the test's thread; the
 * engines' own threads only touch the store file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/render.h"
#include "connectors/registry.h"
#include "support/engine_fixture.h"
#include "support/fakeconn.h"
#include "support/testutil.h"

#define EF_POLL_NS (5 * 1000 * 1000)

int ef_init(struct ef *f)
{
    return ef_init_url(f, NULL);
}

int ef_init_url(struct ef *f, const char *db_url)
{
    struct idf_err err;

    memset(f, 0, sizeof *f);
    fakeconn_reset();
    f->dir = tu_mktemp_dir();
    if (!f->dir) {
        fprintf(stderr, "ef: cannot create a temporary directory\n");
        return -1;
    }
    if (db_url && strlen(db_url) >= sizeof f->db_url) {
        fprintf(stderr, "ef: the database URL is longer than %zu bytes\n", sizeof f->db_url - 1);
        return -1;
    }
    if (db_url)
        snprintf(f->db_url, sizeof f->db_url, "%s", db_url);
    else
        snprintf(f->db_url, sizeof f->db_url, "sqlite:%s/idflow.db", f->dir);
    snprintf(f->wfdir, sizeof f->wfdir, "%s/workflows", f->dir);
    if (mkdir(f->wfdir, 0700) != 0) {
        fprintf(stderr, "ef: cannot create %s\n", f->wfdir);
        return -1;
    }
    if (store_open(f->db_url, &f->st, &err)) {
        fprintf(stderr, "ef: cannot open the store: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int ef_workflow(struct ef *f, const char *name, const char *yaml)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s.yaml", f->wfdir, name);
    return tu_write_file(path, yaml);
}

struct engine *ef_engine(struct ef *f, const struct engine_opts *opts)
{
    struct engine_opts o;
    struct engine *e = NULL;
    struct idf_err err;
    int slot = -1;

    for (int i = 0; i < EF_MAX_ENGINES && slot < 0; i++)
        if (!f->engines[i])
            slot = i;
    if (slot < 0) {
        fprintf(stderr, "ef: more than %d engines\n", EF_MAX_ENGINES);
        return NULL;
    }
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    if (!o.db_url)
        o.db_url = f->db_url; /* a URL of the same database may name the engine's connections differently */
    o.workflows_dir = f->wfdir;
    if (!o.connectors)
        o.connectors = fakeconn_registry();
    if (o.workers <= 0)
        o.workers = 2;
    if (o.idle_poll_ms <= 0)
        o.idle_poll_ms = 20;
    idf_err_clear(&err);
    if (engine_new(&o, &e, &err)) {
        fprintf(stderr, "ef: engine_new: %s\n", err.msg);
        return NULL;
    }
    f->engines[slot] = e; /* freed by ef_cleanup even when it does not start */
    if (engine_start(e, &err)) {
        fprintf(stderr, "ef: engine_start: %s\n", err.msg);
        return NULL;
    }
    return e;
}

void ef_engine_free(struct ef *f, struct engine *e)
{
    for (int i = 0; i < EF_MAX_ENGINES; i++)
        if (f->engines[i] == e)
            f->engines[i] = NULL;
    engine_free(e);
}

int64_t ef_submit(struct ef *f, struct engine *e, const char *workflow, const char *data)
{
    struct engine_event ev;
    struct engine_ack ack;
    struct idf_err err;
    json_t *d = data ? json_loads(data, 0, NULL) : json_object();
    int rc;

    (void)f;
    if (!d) {
        fprintf(stderr, "ef: the event data is not JSON: %s\n", data);
        return -1;
    }
    memset(&ev, 0, sizeof ev);
    memset(&ack, 0, sizeof ack);
    ev.source = "test";
    ev.type = "fake.event";
    ev.workflow = workflow;
    ev.data = d;
    ev.actor = "test";
    idf_err_clear(&err);
    rc = engine_submit(e, &ev, &ack, &err);
    json_decref(d);
    if (rc || ack.n_runs == 0) {
        fprintf(stderr, "ef: submit: %s\n", rc ? err.msg : "no run was created");
        return -1;
    }
    return ack.run_ids[0];
}

struct store_run *ef_run(struct ef *f, int64_t run_id)
{
    struct store_run *r = NULL;
    return store_run_get(f->st, run_id, &r) == 0 ? r : NULL;
}

json_t *ef_steps(struct ef *f, int64_t run_id)
{
    struct store_step *rows = NULL;
    json_t *steps = NULL;
    size_t n = 0;

    if (store_step_list(f->st, run_id, &rows, &n) == 0)
        steps = render_steps(rows, n);
    store_step_list_free(rows, n);
    return steps;
}

json_t *ef_step(json_t *steps, const char *step_id, int item)
{
    size_t i;
    json_t *s;

    json_array_foreach (steps, i, s) {
        if (!strcmp(json_string_value(json_object_get(s, "step_id")) ?: "", step_id) &&
            json_integer_value(json_object_get(s, "item")) == item)
            return s;
    }
    return NULL;
}

struct wait_status {
    struct ef *f;
    int64_t run_id;
    const char *status;
    char last[32];
};

static bool has_status(void *ud)
{
    struct wait_status *w = ud;
    struct store_run *r = ef_run(w->f, w->run_id);
    bool ok = r && !strcmp(r->status, w->status);
    snprintf(w->last, sizeof w->last, "%s", r ? r->status : "(none)");
    store_run_free(r);
    return ok;
}

bool ef_wait_status(struct ef *f, int64_t run_id, const char *status, int timeout_ms)
{
    struct wait_status w = {f, run_id, status, ""};
    if (tu_wait_until(has_status, &w, timeout_ms))
        return true;
    fprintf(stderr, "ef: run %lld is %s, not %s, after %d ms\n", (long long)run_id, w.last, status, timeout_ms);
    return false;
}

void ef_cleanup(struct ef *f)
{
    fakeconn_release_all();
    for (int i = 0; i < EF_MAX_ENGINES; i++) {
        engine_free(f->engines[i]);
        f->engines[i] = NULL;
    }
    store_close(f->st);
    f->st = NULL;
    if (f->dir) {
        tu_rm_rf(f->dir);
        free(f->dir);
        f->dir = NULL;
    }
    fakeconn_reset();
}

int ef_setup(void **state)
{
    struct ef *f = calloc(1, sizeof *f);

    *state = f;
    if (!f)
        return -1;
    return ef_init(f) == 0 ? 0 : -1;
}

int ef_teardown(void **state)
{
    if (*state)
        ef_cleanup(*state);
    free(*state);
    *state = NULL;
    return 0;
}

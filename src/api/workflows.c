/* workflows.c — GET /api/v1/workflows[/NAME], and the check of a manual
 * start's data against the workflow's declared inputs (issue 17, helper
 * "inputs"; docs/api.md "Workflows" and "Events").
 *
 * A workflow's row comes from the store (name, newest version, enabled,
 * hash, updated_at), what its definition says (description, triggers,
 * connections, inputs) from the engine's loaded copy (engine_workflow), and
 * its newest run from one store read for the whole list
 * (store_workflow_last_runs). JSON is render.c's. HTTP server threads; the
 * flows read are immutable and outlive the engine's callers. */
#include <string.h>

#include "api/api_internal.h"
#include "api/render.h"
#include "connectors/connector.h"
#include "engine/engine.h"
#include "flow/flow.h"
#include "store/store.h"

/* One workflow object: the row, its definition and its last run (lr may be NULL). */
static json_t *workflow_json(struct api *a, const struct store_workflow_info *w, const struct store_last_run *lr)
{
    json_t *o = render_workflow(w);

    if (o && (render_workflow_def(o, engine_workflow(a->engine, w->name, NULL)) ||
              json_object_set_new(o, "last_run", render_last_run(lr)))) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* The last run of name in runs (sorted by name, as the workflows are), from *j on. */
static const struct store_last_run *last_run_of(const struct store_last_run *runs, size_t n, size_t *j,
                                                const char *name)
{
    while (*j < n && strcmp(runs[*j].workflow, name) < 0)
        (*j)++;
    return *j < n && strcmp(runs[*j].workflow, name) == 0 ? &runs[*j] : NULL;
}

void api__workflows_route(struct api *a, struct store *st, struct http_resp *resp, const char *name)
{
    struct store_workflow_info *rows = NULL;
    struct store_last_run *last = NULL;
    size_t n = 0, n_last = 0, j = 0;
    json_t *list = NULL, *one = NULL;
    char *source = NULL;
    int64_t version = 0;

    if (store_workflow_list(st, &rows, &n) || store_workflow_last_runs(st, &last, &n_last)) {
        api__error(resp, 500, "could not list workflows");
        goto out;
    }
    if (!name && !(list = json_array())) {
        api__error(resp, 500, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *wn = rows[i].name ? rows[i].name : "";
        const struct store_last_run *lr = last_run_of(last, n_last, &j, wn);
        json_t *o;
        if (name && strcmp(wn, name) != 0)
            continue;
        if (!(o = workflow_json(a, &rows[i], lr)) || (list && json_array_append_new(list, o))) {
            api__error(resp, 500, "out of memory");
            goto out;
        }
        if (name) {
            one = o;
            break;
        }
    }
    if (!name) {
        http_resp_json(resp, 200, json_pack("{s:O}", "workflows", list));
        goto out;
    }
    if (!one) {
        api__error(resp, 404, "no such workflow");
        goto out;
    }
    if (store_workflow_source(st, name, 0, &source, &version) == 0)
        json_object_set_new(one, "source", json_string(source));
    http_resp_json(resp, 200, one);
    one = NULL;
out:
    json_decref(one);
    json_decref(list);
    free(source);
    store_workflow_last_runs_free(last, n_last);
    store_workflow_list_free(rows, n);
}

int api__start_data(struct api *a, const char *workflow, const json_t *data, json_t **data_out, struct http_resp *resp)
{
    const struct flow *f = engine_workflow(a->engine, workflow, NULL);
    struct idf_err err;

    *data_out = NULL;
    if (!f || !f->trigger->takes_inputs) {
        /* unknown, or not started this way: engine_submit says which */
        *data_out = data ? json_incref((json_t *)data) : NULL;
        return 0;
    }
    idf_err_clear(&err);
    if (flow_inputs_apply(f, data, data_out, &err)) {
        api__error(resp, err.code == IDF_ENOMEM ? 500 : 400, err.msg);
        return -1;
    }
    return 0;
}

/* render.c — owns the JSON shape of the store's rows (render.h): the one
 * place that turns struct store_run, store_step, store_audit, ... into the
 * objects the API answers and the CLI prints. It reads nothing and writes
 * nothing: the rows come from the caller's store call, and what to do with
 * the JSON (answer it, print it) is the caller's. Object keys are inserted
 * in the documented order (jansson keeps insertion order when dumping), so
 * the bytes of an answer do not depend on the backend. Stateless; any
 * thread. */
#include "api/render.h"

#include <string.h>

#include "connectors/connector.h"
#include "core/log.h"
#include "flow/flow.h"

/* A text column: a JSON string, or null for NULL. */
static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *render_json_text(const char *text)
{
    json_t *v;

    if (!text)
        return json_null();
    v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(text);
}

/* An array of n rows of size bytes, each rendered by one. */
static json_t *array_of(const void *rows, size_t n, size_t size, json_t *(*one)(const void *row))
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = one((const char *)rows + i * size);
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

json_t *render_workflow(const struct store_workflow_info *w)
{
    return json_pack("{s:o, s:I, s:b, s:o, s:I}", "name", text_or_null(w->name), "version", (json_int_t)w->version,
                     "enabled", w->enabled, "hash", text_or_null(w->hash), "updated_at", (json_int_t)w->updated_at);
}

static json_t *workflow_row(const void *row)
{
    return render_workflow(row);
}

json_t *render_workflows(const struct store_workflow_info *rows, size_t n)
{
    return array_of(rows, n, sizeof *rows, workflow_row);
}

/* ---- a workflow's definition (helper "inputs") ---- */

static json_t *inputs_json(const struct flow *f)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < f->n_inputs; i++) {
        const struct flow_input *in = &f->inputs[i];
        json_t *o = json_pack("{s:s, s:s, s:b, s:o}", "name", in->name, "type", flow_input_type_name(in->type),
                              "required", in->required, "description", text_or_null(in->description));
        json_t *opts = NULL;
        if (o && in->def && json_object_set(o, "default", in->def))
            goto fail;
        if (o && in->type == FLOW_INPUT_CHOICE) {
            if (!(opts = json_array()) || json_object_set_new(o, "options", opts))
                goto fail;
            for (size_t j = 0; j < in->n_options; j++) {
                if (json_array_append_new(opts, json_string(in->options[j])))
                    goto fail;
            }
        }
        if (o && json_array_append_new(arr, o) == 0)
            continue;
        o = NULL;
    fail:
        json_decref(o);
        json_decref(arr);
        arr = NULL;
    }
    return arr;
}

/* Appends name to arr unless it is there already. */
static int add_once(json_t *arr, const char *name)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        if (strcmp(json_string_value(v), name) == 0)
            return 0;
    }
    return json_array_append_new(arr, json_string(name));
}

int render_workflow_def(json_t *o, const struct flow *f)
{
    json_t *triggers = json_array(), *conns = json_array(), *inputs = NULL;
    const char *tc;
    int rc = IDF_ENOMEM;

    if (!triggers || !conns)
        goto out;
    if (f) {
        json_t *t = json_pack("{s:s, s:O}", "name", f->trigger->name, "params", f->trigger_params);
        if (!t || json_array_append_new(triggers, t))
            goto out;
        if ((tc = json_string_value(json_object_get(f->trigger_params, "connection"))) && add_once(conns, tc))
            goto out;
        for (size_t i = 0; i < f->n_steps; i++) {
            if (f->steps[i].connection && add_once(conns, f->steps[i].connection))
                goto out;
        }
        if (f->has_inputs && !(inputs = inputs_json(f)))
            goto out;
    }
    /* each json_object_set_new takes its value, also when it fails */
    rc = json_object_set_new(o, "description", text_or_null(f ? f->description : NULL)) ? IDF_ENOMEM : 0;
    rc = json_object_set_new(o, "triggers", triggers) ? IDF_ENOMEM : rc;
    rc = json_object_set_new(o, "connections", conns) ? IDF_ENOMEM : rc;
    rc = json_object_set_new(o, "startable", json_boolean(f && f->trigger->takes_inputs)) ? IDF_ENOMEM : rc;
    rc = json_object_set_new(o, "inputs", inputs ? inputs : json_null()) ? IDF_ENOMEM : rc;
    return rc;
out:
    json_decref(triggers);
    json_decref(conns);
    json_decref(inputs);
    return rc;
}

json_t *render_last_run(const struct store_last_run *r)
{
    if (!r)
        return json_null();
    return json_pack("{s:I, s:o, s:I}", "id", (json_int_t)r->id, "status", text_or_null(r->status), "created_at",
                     (json_int_t)r->created_at);
}

static const char *stage_name(enum store_event_stage stage)
{
    return stage == STORE_EVENT_MATCH ? "match" : stage == STORE_EVENT_EXPAND ? "expand" : "done";
}

json_t *render_event(const struct store_event *ev)
{
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:s, s:i, s:o}", "id", (json_int_t)ev->id, "source",
                     text_or_null(ev->source), "source_id", text_or_null(ev->source_id), "type", text_or_null(ev->type),
                     "connection", text_or_null(ev->connection), "received_at", (json_int_t)ev->received_at, "data",
                     render_json_text(ev->data), "stage", stage_name(ev->stage), "tries", ev->tries, "note",
                     text_or_null(ev->note));
}

/* ---- issue 17 ("subjects"): where a run came from, whom it concerns ---- */

/* Adds source {name, via, actor, connection}, trigger, subject and rerun_as
 * (null when none) to the run object o; o is NULL-safe (returned as is). */
static json_t *add_origin(json_t *o, const struct store_run *r)
{
    json_t *src;

    if (!o)
        return NULL;
    src = json_pack("{s:o, s:o, s:o, s:o}", "name", text_or_null(r->source), "via", text_or_null(r->via), "actor",
                    text_or_null(r->actor), "connection", text_or_null(r->connection));
    if (!src || json_object_set_new(o, "source", src) ||
        json_object_set_new(o, "trigger", text_or_null(r->trigger)) ||
        json_object_set_new(o, "subject", text_or_null(r->subject)) ||
        json_object_set_new(o, "rerun_as", r->rerun_as ? json_integer(r->rerun_as) : json_null())) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Whether two optional texts are equal (NULL only to NULL). */
static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

json_t *render_run_subjects(const struct store_run_subject *rows, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < n; i++) {
        json_t *keys = NULL, *o;
        bool seen = false;
        /* one entry per (kind, label, step_id), in the order first met */
        for (size_t j = 0; j < i && !seen; j++)
            seen = same_text(rows[j].kind, rows[i].kind) && same_text(rows[j].label, rows[i].label) &&
                   same_text(rows[j].step_id, rows[i].step_id);
        if (seen)
            continue;
        keys = json_array();
        for (size_t j = i; keys && j < n; j++)
            if (same_text(rows[j].kind, rows[i].kind) && same_text(rows[j].label, rows[i].label) &&
                same_text(rows[j].step_id, rows[i].step_id) && json_array_append_new(keys, text_or_null(rows[j].key))) {
                json_decref(keys);
                keys = NULL;
            }
        o = keys ? json_pack("{s:o, s:o, s:o, s:o}", "kind", text_or_null(rows[i].kind), "label",
                             text_or_null(rows[i].label), "step_id", text_or_null(rows[i].step_id), "keys", keys)
                 : NULL;
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static json_t *change_row(const struct store_change *c)
{
    return json_pack("{s:o, s:i, s:o, s:I}", "step_id", text_or_null(c->step_id), "item", c->item, "change",
                     text_or_null(c->change), "finished_at", (json_int_t)c->finished_at);
}

static json_t *run_row(const void *row);

json_t *render_history(const char *key, int64_t total, const struct store_run *runs, size_t n,
                       const struct store_change *changes, size_t n_changes)
{
    json_t *arr = json_array(), *o;

    for (size_t i = 0; arr && i < n; i++) {
        json_t *r = run_row(&runs[i]), *ch = json_array();
        for (size_t j = 0; r && ch && j < n_changes; j++) {
            if (changes[j].run_id == runs[i].id && json_array_append_new(ch, change_row(&changes[j]))) {
                json_decref(ch);
                ch = NULL;
            }
        }
        if (!r || !ch || json_object_set_new(r, "changes", ch) || json_array_append_new(arr, r)) {
            json_decref(r);
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!arr)
        return NULL;
    o = json_pack("{s:s, s:I, s:o}", "subject", key, "total", (json_int_t)total, "runs", arr);
    return o;
}
/* (end of "subjects") */

static json_t *run_row(const void *row)
{
    const struct store_run *r = row;
    return add_origin(json_pack("{s:I, s:o, s:I, s:I, s:o, s:i, s:o, s:I, s:I, s:I, s:I}", "id", (json_int_t)r->id, "workflow",
                     text_or_null(r->workflow), "version", (json_int_t)r->version, "event_id", (json_int_t)r->event_id,
                     "status", text_or_null(r->status), "pc", r->pc, "error", text_or_null(r->error), "created_at",
                     (json_int_t)r->created_at, "updated_at", (json_int_t)r->updated_at, "finished_at",
                     (json_int_t)r->finished_at, "rerun_of", (json_int_t)r->rerun_of), r);
}

json_t *render_runs(const struct store_run *rows, size_t n)
{
    return array_of(rows, n, sizeof *rows, run_row);
}

json_t *render_run(const struct store_run *r)
{
    json_t *o = json_pack("{s:I,s:s,s:I,s:I,s:s,s:i,s:I,s:I,s:I}", "id", (json_int_t)r->id, "workflow", r->workflow,
                          "version", (json_int_t)r->version, "event_id", (json_int_t)r->event_id, "status", r->status,
                          "pc", r->pc, "created_at", (json_int_t)r->created_at, "updated_at", (json_int_t)r->updated_at,
                          "finished_at", (json_int_t)r->finished_at);
    if (!o)
        return NULL;
    if (r->error)
        json_object_set_new(o, "error", json_string(r->error));
    if (r->wake_at)
        json_object_set_new(o, "wake_at", json_integer(r->wake_at));
    if (r->rerun_of)
        json_object_set_new(o, "rerun_of", json_integer(r->rerun_of));
    if (r->event) {
        /* stored as sent (the run needs it); answers redact it like step records */
        json_t *ev = log_redact_text(r->event);
        if (ev)
            json_object_set_new(o, "event", ev);
    }
    return add_origin(o, r); /* issue 17 */
}

static json_t *step_row(const void *row)
{
    const struct store_step *sp = row;
    return json_pack("{s:i, s:o, s:i, s:o, s:i, s:o, s:o, s:o, s:I, s:I, s:o}", "index", sp->index, "step_id",
                     text_or_null(sp->step_id), "item", sp->item, "status", text_or_null(sp->status), "attempts",
                     sp->attempts, "input", render_json_text(sp->input), "output", render_json_text(sp->output),
                     "error", render_json_text(sp->error), "started_at", (json_int_t)sp->started_at, "finished_at",
                     (json_int_t)sp->finished_at, "change", text_or_null(sp->change));
}

json_t *render_steps(const struct store_step *rows, size_t n)
{
    return array_of(rows, n, sizeof *rows, step_row);
}

json_t *render_run_counts(const struct store_run_counts *c)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", STORE_RUN_QUEUED, (json_int_t)c->queued, STORE_RUN_RUNNING,
                     (json_int_t)c->running, STORE_RUN_WAITING, (json_int_t)c->waiting, STORE_RUN_SUCCEEDED,
                     (json_int_t)c->succeeded, STORE_RUN_FAILED, (json_int_t)c->failed, STORE_RUN_CANCELLED,
                     (json_int_t)c->cancelled, STORE_RUN_HELD, (json_int_t)c->held);
}

static json_t *approval_row(const void *row)
{
    const struct store_approval *a = row;
    /* hold (issue 19): the connection whose guardrail holds the run, null for an approval step */
    return json_pack("{s:I, s:o, s:o, s:o, s:I, s:o}", "run_id", (json_int_t)a->run_id, "step_id",
                     text_or_null(a->step_id), "workflow", text_or_null(a->workflow), "message",
                     text_or_null(a->message), "created_at", (json_int_t)a->created_at, "hold", text_or_null(a->hold));
}

json_t *render_approvals(const struct store_approval *rows, size_t n)
{
    return array_of(rows, n, sizeof *rows, approval_row);
}

/* ---- issue 17 ("approvals-reruns"): decisions and re-runs of one run ---- */

const struct store_approval *render_rejection(const struct store_run *r, const struct store_step *steps,
                                              size_t n_steps, const struct store_approval *approvals,
                                              size_t n_approvals)
{
    if (!r->status || strcmp(r->status, STORE_RUN_FAILED) != 0)
        return NULL;
    for (size_t i = 0; i < n_steps; i++) {
        if (steps[i].index != r->pc || !steps[i].step_id)
            continue;
        for (size_t j = 0; j < n_approvals; j++) {
            const struct store_approval *a = &approvals[j];
            if (a->status && strcmp(a->status, "rejected") == 0 && a->step_id &&
                strcmp(a->step_id, steps[i].step_id) == 0)
                return a;
        }
    }
    return NULL;
}

static json_t *decision_row(const void *row)
{
    const struct store_approval *a = row;
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:o}", "step_id", text_or_null(a->step_id), "status",
                     text_or_null(a->status), "message", text_or_null(a->message), "actor", text_or_null(a->actor),
                     "comment", text_or_null(a->comment), "created_at", (json_int_t)a->created_at, "decided_at",
                     (json_int_t)a->decided_at, "hold", text_or_null(a->hold));
}

int render_run_decisions(json_t *o, const struct store_run *r, const struct store_step *steps, size_t n_steps,
                         const struct store_approval *approvals, size_t n_approvals)
{
    const struct store_approval *rej = render_rejection(r, steps, n_steps, approvals, n_approvals);
    json_t *list = array_of(approvals, n_approvals, sizeof *approvals, decision_row);

    if (!list || json_object_set_new(o, "approvals", list))
        return -1;
    if (rej && json_object_set_new(o, "rejected",
                                   json_pack("{s:o, s:o, s:o, s:I}", "step_id", text_or_null(rej->step_id), "by",
                                             text_or_null(rej->actor), "comment", text_or_null(rej->comment), "at",
                                             (json_int_t)rej->decided_at)))
        return -1;
    if (r->rerun_as && json_object_set_new(o, "rerun_as", json_integer(r->rerun_as)))
        return -1;
    return 0;
}
/* ---- (end of "approvals-reruns") ---- */

static json_t *audit_row(const void *row)
{
    const struct store_audit *a = row;
    return json_pack("{s:I, s:I, s:o, s:o, s:o, s:o}", "id", (json_int_t)a->id, "at", (json_int_t)a->at, "actor",
                     text_or_null(a->actor), "action", text_or_null(a->action), "target", text_or_null(a->target),
                     "detail", render_json_text(a->detail));
}

json_t *render_audit(const struct store_audit *rows, size_t n)
{
    return array_of(rows, n, sizeof *rows, audit_row);
}

json_t *render_connection(const struct store_connection_info *c)
{
    return json_pack("{s:o, s:o, s:o, s:I, s:I}", "name", text_or_null(c->name), "kind", text_or_null(c->kind),
                     "config", render_json_text(c->config), "created_at", (json_int_t)c->created_at, "updated_at",
                     (json_int_t)c->updated_at);
}

static json_t *connection_row(const void *row)
{
    return render_connection(row);
}

json_t *render_connections(const struct store_connection_info *rows, size_t n)
{
    return array_of(rows, n, sizeof *rows, connection_row);
}

json_t *render_tokens(const struct store_token *rows, size_t n, int64_t now_ms)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < n; i++) {
        const struct store_token *t = &rows[i];
        json_t *o = json_pack("{s:I,s:o,s:o,s:o,s:I,s:o,s:I,s:I,s:b}", "id", (json_int_t)t->id, "name",
                              text_or_null(t->name), "role", text_or_null(t->role), "prefix", text_or_null(t->prefix),
                              "created_at", (json_int_t)t->created_at, "created_by", text_or_null(t->created_by),
                              "expires_at", (json_int_t)t->expires_at, "last_used_at", (json_int_t)t->last_used_at,
                              "expired", t->expires_at != 0 && t->expires_at <= now_ms);
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

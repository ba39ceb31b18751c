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

#include "core/log.h"

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
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", STORE_RUN_QUEUED, (json_int_t)c->queued, STORE_RUN_RUNNING,
                     (json_int_t)c->running, STORE_RUN_WAITING, (json_int_t)c->waiting, STORE_RUN_SUCCEEDED,
                     (json_int_t)c->succeeded, STORE_RUN_FAILED, (json_int_t)c->failed, STORE_RUN_CANCELLED,
                     (json_int_t)c->cancelled);
}

static json_t *approval_row(const void *row)
{
    const struct store_approval *a = row;
    return json_pack("{s:I, s:o, s:o, s:o, s:I}", "run_id", (json_int_t)a->run_id, "step_id", text_or_null(a->step_id),
                     "workflow", text_or_null(a->workflow), "message", text_or_null(a->message), "created_at",
                     (json_int_t)a->created_at);
}

json_t *render_approvals(const struct store_approval *rows, size_t n)
{
    return array_of(rows, n, sizeof *rows, approval_row);
}

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

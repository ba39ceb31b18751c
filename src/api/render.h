/* render.h — the JSON of what the store returns, in one place.
 *
 * The store hands out typed rows (store/store.h); these functions turn them
 * into the JSON the API answers and the CLI prints (--json, and the values
 * `idflow show` prints), so both say the same thing the same way whatever
 * the backend. Field names, types, and null versus absent are part of the
 * API (docs/api.md): change them here or nowhere.
 *
 * Every function returns a new reference (caller frees with json_decref), or
 * NULL when memory ran out; the rows are borrowed for the call. Arrays of
 * rows may be NULL when n is 0. Any thread may call them. */
#ifndef IDF_API_RENDER_H
#define IDF_API_RENDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* A stored JSON text as a value: null for NULL, the parsed value, or (a text
 * that does not parse) a JSON string holding it. */
json_t *render_json_text(const char *text);

/* {name, version, enabled, hash, updated_at} */
json_t *render_workflow(const struct store_workflow_info *w);
json_t *render_workflows(const struct store_workflow_info *rows, size_t n);

/* {id, source, source_id, type, connection, received_at, data (parsed),
 * stage ("done", "match", "expand"), tries, note (null when none)} */
json_t *render_event(const struct store_event *ev);

/* A list row: {id, workflow, version, event_id, status, pc, error,
 * created_at, updated_at, finished_at, rerun_of, source {name, via, actor,
 * connection}, trigger, subject, rerun_as} (error, the source's fields,
 * trigger, subject null when none; rerun_as null when none). */
json_t *render_runs(const struct store_run *rows, size_t n);

/* One run as GET /api/v1/runs/ID answers it (without its steps): {id,
 * workflow, version, event_id, status, pc, created_at, updated_at,
 * finished_at}, then error, wake_at and rerun_of only when set, then event
 * (the event's data, redacted as log_redact_text does) when it parses, then
 * source, trigger, subject and rerun_as as in a list row. */
json_t *render_run(const struct store_run *r);

/* [{index, step_id, item, status, attempts, input, output, error,
 * started_at, finished_at, change}] with input/output/error as
 * render_json_text, change null when the step changed nothing. */
json_t *render_steps(const struct store_step *rows, size_t n);

/* {"queued": n, "running": n, "waiting": n, "succeeded": n, "failed": n,
 * "cancelled": n}, in that order. */
json_t *render_run_counts(const struct store_run_counts *c);

/* [{run_id, step_id, workflow, message (null when none), created_at}] */
json_t *render_approvals(const struct store_approval *rows, size_t n);

/* [{id, at, actor, action, target, detail}], detail as render_json_text. */
json_t *render_audit(const struct store_audit *rows, size_t n);

/* {name, kind, config (render_json_text), created_at, updated_at}: never a
 * secret (the row holds none). */
json_t *render_connection(const struct store_connection_info *c);
json_t *render_connections(const struct store_connection_info *rows, size_t n);

/* [{id, name, role, prefix, created_at, created_by, expires_at,
 * last_used_at, expired}], expired: expires_at is set and at or before
 * now_ms. Never a hash (the rows hold none). */
json_t *render_tokens(const struct store_token *rows, size_t n, int64_t now_ms);

/* issue 17 ("subjects"): a run's subjects, one entry per (kind, label,
 * step_id) with every key that finds it, in the order first stored:
 * [{kind, label, step_id (null: the event's), keys: [...]}]. */
json_t *render_run_subjects(const struct store_run_subject *rows, size_t n);

/* A timeline (GET /api/v1/history, `idflow history --json`): {subject: key,
 * total, runs: [list row + changes: [{step_id, item, change, finished_at}]]},
 * each run's changes taken from changes (store_run_changes) by run id. */
json_t *render_history(const char *key, int64_t total, const struct store_run *runs, size_t n,
                       const struct store_change *changes, size_t n_changes);

#endif

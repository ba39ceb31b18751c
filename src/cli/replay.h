/* replay.h — `idflow replay`'s two halves (issue 19): replay.c reads the
 * window and makes the dry runs, replay_report.c compares the two versions'
 * calls and prints the report. Private to src/cli/. Main thread only.
 *
 * The report is one JSON document (what --json prints):
 *   {workflow, file, database, since, since_iso, events_read, other_events,
 *    deliveries_pending, events: [EVENT...], summary: {...}, destructive_new}
 * EVENT: {event, type, source, connection?, received_at, would_start,
 *    reason? ("trigger" | "trigger_params" | "condition" | "event"), why?,
 *    edited? {status, error?, calls: [CALL...]},
 *    stored: [{run, version, status, error?, rerun_of, calls: [CALL...], unreadable?}],
 *    added: [CALL...], removed: [CALL...], new_destructive: [CALL...], destructive_new}
 * CALL: {step, item (-1: not a foreach item), action, effect, params (redacted
 *    as in history), status} */
#ifndef IDF_CLI_REPLAY_H
#define IDF_CLI_REPLAY_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

/* --since: a duration before now_ms ("7d"; > 0) or an ISO-8601 time not
 * after now_ms, into *since_out (ms). IDF_EINVAL for anything else. */
int replay__parse_since(const char *s, int64_t now_ms, int64_t *since_out) IDF_MUST_USE;

/* Sets one EVENT's added, removed, new_destructive and destructive_new from
 * its edited and stored calls (the rule: docs/operations.md, "Replay before
 * you enable"). 0, or IDF_ENOMEM. */
int replay__compare(json_t *event) IDF_MUST_USE;

/* Sets the document's summary and destructive_new from its events. 0, or
 * IDF_ENOMEM. */
int replay__summarize(json_t *doc) IDF_MUST_USE;

void replay__print_json(const json_t *doc, FILE *out);
void replay__print_text(const json_t *doc, FILE *out);

#endif

/* store_replay.c — the public side of the replay reads (store.h, "replay";
 * issue 19): checks the input, then dispatches to the backend
 * (sqlite_replay.c, postgres_replay.c).
 *
 * Kept apart from store.c so that the block of store.h it serves has one
 * file of its own; the rules are store.c's (input checked here, SQL in the
 * backends only). Reads only. Any thread, on the connection it opened. */
#include <string.h>

#include "store/store_internal.h"

int store_event_list(struct store *s, int64_t since_ms, int64_t after_id, int limit, struct store_event **rows_out,
                     size_t *n_out)
{
    if (!s || !rows_out || !n_out)
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    if (since_ms < 0 || after_id < 0 || limit < 1 || limit > STORE_LIST_MAX)
        return IDF_EINVAL;
    return s->ops->event_list(s, since_ms, after_id, limit, rows_out, n_out);
}

void store_event_list_free(struct store_event *rows, size_t n)
{
    store__rows_free(rows, n, sizeof *rows, store__event_clear);
}

int store_event_runs(struct store *s, int64_t event_id, const char *workflow, struct store_run **rows_out,
                     size_t *n_out)
{
    if (!s || !rows_out || !n_out)
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    if (!workflow || !*workflow || strnlen(workflow, STORE__NAME_MAX + 1) > STORE__NAME_MAX)
        return IDF_EINVAL;
    return s->ops->event_runs(s, event_id, workflow, rows_out, n_out);
}

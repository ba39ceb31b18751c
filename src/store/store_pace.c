/* store_pace.c — the public side of the pacing windows (store.h, "pacing
 * windows"): checks the input, then dispatches to the backend
 * (sqlite_pace.c, postgres_pace.c).
 *
 * Kept apart from store.c so that the block of store.h it serves has one
 * file of its own; the rules are store.c's (input checked here, SQL in the
 * backends only). Any thread, on the connection it opened. */
#include <string.h>

#include "store/store_internal.h"

static bool key_ok(const char *key)
{
    return key && *key && strnlen(key, STORE__NAME_MAX + 1) <= STORE__NAME_MAX;
}

int store_window_take(struct store *s, const char *key, int limit, int64_t window_ms, int64_t now_ms,
                      int64_t *wait_ms_out)
{
    if (wait_ms_out)
        *wait_ms_out = 0;
    if (!s || !wait_ms_out || !key_ok(key) || limit < 1 || limit > STORE_WINDOW_LIMIT_MAX || window_ms < 1 ||
        window_ms > STORE_WINDOW_MS_MAX || now_ms < 0)
        return IDF_EINVAL;
    return s->ops->window_take(s, key, limit, window_ms, now_ms, wait_ms_out);
}

int store_lease_count(struct store *s, const char *prefix, int64_t now_ms, int *n_out)
{
    if (n_out)
        *n_out = 0;
    if (!s || !n_out || !key_ok(prefix) || now_ms < 0)
        return IDF_EINVAL;
    return s->ops->lease_count(s, prefix, now_ms, n_out);
}

int store_window_block(struct store *s, const char *key, int64_t until_ms)
{
    if (!s || !key_ok(key) || until_ms < 0)
        return IDF_EINVAL;
    return s->ops->window_block(s, key, until_ms);
}

/* store_notify.c — the wake-up calls of store.h ("wake-ups across
 * connections"): checks the channel name and dispatches to the backend's
 * notify / listen / wait ops, standing in for a backend that has none
 * (SQLite: notify does nothing, listen and wait are not supported). The
 * SQL is the backend's (postgres_notify.c). Any thread, on its own
 * connection, as every store call. */
#include <string.h>

#include "store/store_internal.h"

/* A channel name the backends take as is: lower-case letters, digits and
 * '_', 1..STORE_CHANNEL_MAX bytes (so PostgreSQL needs no quoting rules of
 * its own and nothing is folded or cut). */
static bool channel_ok(const char *ch)
{
    size_t n = ch ? strlen(ch) : 0;

    if (n == 0 || n > STORE_CHANNEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = ch[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

bool store_url_listens(const char *url)
{
    return url && (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0);
}

int store_notify(struct store *s, const char *channel)
{
    if (!s || !channel_ok(channel))
        return IDF_EINVAL;
    return s->ops->notify ? s->ops->notify(s, channel) : 0;
}

int store_listen(struct store *s, const char *channel)
{
    if (!s || !channel_ok(channel))
        return IDF_EINVAL;
    return s->ops->listen ? s->ops->listen(s, channel) : IDF_ENOTSUP;
}

int store_wait(struct store *s, int64_t timeout_ms, int wake_fd, bool *woken_out)
{
    if (woken_out)
        *woken_out = false;
    if (!s || !woken_out || timeout_ms < 0 || wake_fd < -1)
        return IDF_EINVAL;
    return s->ops->wait ? s->ops->wait(s, timeout_ms, wake_fd, woken_out) : IDF_ENOTSUP;
}

/* postgres_notify.c — the PostgreSQL backend's wake-ups (store.h,
 * "wake-ups across connections"): NOTIFY through pg_notify(), LISTEN, and
 * the wait on a listening connection's socket (PQsocket + poll(),
 * PQconsumeInput, PQnotifies).
 *
 * Why the notification is its own short transaction, committed without
 * waiting for the WAL flush: PreCommit_Notify (src/backend/commands/async.c)
 * takes a heavyweight lock on "database 0" -- one lock for the whole
 * cluster -- and holds it until the notifying transaction ends, i.e. past
 * its commit record's flush. A NOTIFY inside an ingest or a step commit
 * would therefore line up every such commit, on every node, behind each
 * other's fsync. Sent alone with synchronous_commit off (a notification
 * carries no data that needs to be durable), the lock is held for a commit
 * that writes but does not wait for its flush. docs/internals/store.md,
 * "Wake-ups", cites the source.
 *
 * Threads: as every op, on the connection's opener only. */
#include "store/postgres_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"

/* One statement, its own implicit transaction: set_config(..., true) is
 * local to that transaction, so the session keeps synchronous_commit on for
 * the writes it makes afterwards. */
static const char NOTIFY_SQL[] = "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1::text, '')";

int store__pg_notify(struct store *s, const char *channel)
{
    struct store__pg *c = store__pg(s);
    const char *params[1] = {channel};

    store__pg_check_idle(c);
    return store__pg_exec(c, "notify", NOTIFY_SQL, 1, params, NULL, NULL);
}

int store__pg_listen(struct store *s, const char *channel)
{
    struct store__pg *c = store__pg(s);
    PGresult *r = NULL;
    char sql[32 + STORE_CHANNEL_MAX];
    int rc = 0;

    store__pg_check_idle(c);
    /* a utility statement takes no parameters and cannot be prepared; the
     * channel is [a-z0-9_]+ (store_notify.c), quoted as an identifier */
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", channel);
    r = PQexec(c->conn, sql);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = IDF_EDB;
    else
        c->listening = true; /* from now on a break is the listener's to see (postgres.c, reconnect) */
    PQclear(r);
    return rc;
}

/* Consumes what arrived on the socket and every notification libpq holds;
 * *woken set when one came from another backend. IDF_EDB when the
 * connection broke. */
static int drain(struct store__pg *c, bool *woken)
{
    PGnotify *n;
    int self = PQbackendPID(c->conn);

    if (!PQconsumeInput(c->conn))
        return IDF_EDB;
    while ((n = PQnotifies(c->conn)) != NULL) {
        if (n->be_pid != self)
            *woken = true;
        PQfreemem(n);
    }
    return PQstatus(c->conn) == CONNECTION_OK ? 0 : IDF_EDB;
}

int store__pg_wait(struct store *s, int64_t timeout_ms, int wake_fd, bool *woken_out)
{
    struct store__pg *c = store__pg(s);
    int64_t deadline = (time_mono_ns() / 1000000) + timeout_ms;
    int sock = PQsocket(c->conn);
    int rc;

    store__pg_check_idle(c);
    if (sock < 0)
        return IDF_EDB;
    /* notifications that came in during an earlier call are in libpq already */
    rc = drain(c, woken_out);
    while (rc == 0 && !*woken_out) {
        struct pollfd fds[2] = {{.fd = sock, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
        int64_t left = deadline - (time_mono_ns() / 1000000);
        int n;

        if (left <= 0)
            break;
        n = poll(fds, wake_fd >= 0 ? 2 : 1, left > 60000 ? 60000 : (int)left);
        if (n < 0 && errno != EINTR)
            return IDF_EDB;
        if (n <= 0)
            continue;
        if (fds[0].revents)
            rc = drain(c, woken_out); /* POLLHUP / POLLERR show up as a failed read */
        if (wake_fd >= 0 && fds[1].revents)
            break;
    }
    return rc;
}

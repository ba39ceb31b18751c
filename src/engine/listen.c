/* listen.c — wake-ups across the nodes sharing one PostgreSQL database
 * (docs/internals/engine.md, "Wake-ups across nodes").
 *
 * Within a process, whoever makes runs runnable wakes the idle workers
 * itself (engine__wake_workers: ingest, the matcher). Another node's idle
 * workers learn of them here: one listener thread per node, on a store
 * connection of its own, LISTENs on STORE_CHANNEL_WORK, wakes this node's
 * idle workers when another connection notifies it, and sends this node's
 * own notifications on the same connection. Nothing else changes: the
 * workers' poll (idle_poll_ms) stays as it was, so a notification lost
 * (the listener reconnecting, the server restarting) costs at most one
 * poll interval.
 *
 * Coalescing: engine__notify_work only marks a notification pending and
 * pokes the thread (a byte in a pipe, written when pending goes from false
 * to true); the thread sends at most one per ENGINE__NOTIFY_GAP_MS,
 * however many commits asked, and none when nothing asked. Each
 * notification is its own short transaction, after the commits it
 * announces (store_notify: why it must not sit inside them).
 *
 * A broken connection is closed and opened again with backoff; the first
 * failure is logged, and the recovery, once each. After it reconnects the
 * thread wakes this node's workers (notifications sent meanwhile were
 * lost) and sends what is pending.
 *
 * Threads: engine__notify_work from any thread (ingest, the matcher);
 * everything else on the listener thread, started first by engine_start
 * (e->listener is set before any thread that reads it exists) and stopped
 * by engine_free after the ingest thread and the matcher (so no commit asks
 * for a notification after it is gone). On SQLite there is no
 * listener (store_url_listens is false): engine__notify_work does nothing.
 *
 * Invariants: `pending` and `stopping` are guarded by `lock`; the pipe
 * holds a byte whenever pending turned true and the thread has not read it
 * since (so a wait started after that returns at once). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "engine/engine_internal.h"
#include "engine/engine_obj.h"
#include "store/store.h"

/* One wait with nothing to send (poll() notices a broken connection sooner). */
#define LISTEN_IDLE_MS 30000
#define LISTEN_BACKOFF_BASE_MS 200 /* reconnecting: first delay */
#define LISTEN_BACKOFF_MAX_MS 10000
#define GAP_NS ((int64_t)ENGINE__NOTIFY_GAP_MS * 1000000)

struct listener {
    struct engine *e; /* borrowed: outlives the listener */
    pthread_t thread;
    pthread_mutex_t lock;
    bool pending;         /* guarded by lock: a notification was asked for and is not sent yet */
    bool stopping;        /* guarded by lock */
    int pipe_rd, pipe_wr; /* non-blocking; a byte wakes the thread's wait */
};

static void poke(struct listener *l)
{
    char b = 1;
    ssize_t n = write(l->pipe_wr, &b, 1); /* EAGAIN: a byte is there already */
    (void)n;
}

static void unpoke(struct listener *l)
{
    char buf[64];
    while (read(l->pipe_rd, buf, sizeof buf) > 0)
        ;
}

void engine__notify_work(struct engine *e)
{
    struct listener *l = e->listener;

    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    if (!l->pending) {
        l->pending = true;
        poke(l);
    }
    pthread_mutex_unlock(&l->lock);
}

/* Takes the pending request (true when there was one, and clears it); *stop_out: stopping. */
static bool take_pending(struct listener *l, bool take, bool *stop_out)
{
    bool p;

    pthread_mutex_lock(&l->lock);
    p = l->pending;
    if (take)
        l->pending = false;
    *stop_out = l->stopping;
    pthread_mutex_unlock(&l->lock);
    return p;
}

static void put_back_pending(struct listener *l)
{
    pthread_mutex_lock(&l->lock);
    l->pending = true;
    pthread_mutex_unlock(&l->lock);
}

/* Sleeps ms or until poked (the engine stops). */
static void nap(struct listener *l, int64_t ms)
{
    struct pollfd p = {.fd = l->pipe_rd, .events = POLLIN};
    if (poll(&p, 1, (int)ms) > 0)
        unpoke(l);
}

static void *listen_main(void *arg)
{
    struct listener *l = arg;
    struct engine *e = l->e;
    struct store *st = NULL;
    struct idf_err err;
    int64_t last_sent = 0; /* monotonic ns of the last notification sent; 0: none yet */
    int attempt = 0;       /* connections opened since one proved healthy (a wait ended well) */
    bool down = false;     /* the failure was logged; the recovery will be */

    for (;;) {
        bool stop, pend, woken = false;
        int64_t now, timeout;
        int rc;

        pend = take_pending(l, false, &stop);
        if (stop)
            break;
        if (!st) {
            if (attempt++ > 0) { /* the first reconnect is at once; then with backoff */
                nap(l, time_backoff_ms(attempt - 1, LISTEN_BACKOFF_BASE_MS, LISTEN_BACKOFF_MAX_MS));
                (void)take_pending(l, false, &stop);
                if (stop)
                    break;
            }
            idf_err_clear(&err);
            rc = store_open(e->db_url, &st, &err);
            if (rc == 0)
                rc = store_listen(st, STORE_CHANNEL_WORK);
            if (rc) {
                if (!down)
                    log_warn("listener: cannot listen for other nodes' work (%s); idle workers look every %lld ms "
                             "until it is back",
                             err.msg[0] ? err.msg : idf_strerror(rc), (long long)e->opts.idle_poll_ms);
                down = true;
                store_close(st);
                st = NULL;
                continue;
            }
            if (down)
                log_info("listener: listening for other nodes' work again");
            down = false;
            engine__wake_workers(e); /* what others announced meanwhile was lost */
        }
        now = time_mono_ns();
        if (pend && (last_sent == 0 || now - last_sent >= GAP_NS)) {
            (void)take_pending(l, true, &stop);
            if (store_notify(st, STORE_CHANNEL_WORK)) {
                put_back_pending(l);
                store_close(st); /* the connection is suspect: reopen it */
                st = NULL;
                continue;
            }
            last_sent = now;
            pend = take_pending(l, false, &stop);
        }
        /* pending and too soon: wait out the gap (rounded up to a ms) */
        timeout = pend ? (last_sent + GAP_NS - now + 999999) / 1000000 : LISTEN_IDLE_MS;
        rc = store_wait(st, timeout < 0 ? 0 : timeout, l->pipe_rd, &woken);
        unpoke(l);
        if (rc) {
            if (!down)
                log_warn("listener: the listening connection broke (%s); reconnecting, idle workers look every "
                         "%lld ms meanwhile",
                         idf_strerror(rc), (long long)e->opts.idle_poll_ms);
            down = true;
            store_close(st);
            st = NULL;
            continue;
        }
        attempt = 0; /* the connection works */
        if (woken)
            engine__wake_workers(e);
    }
    /* the last commits before the stop may still wait for their notification */
    if (st && take_pending(l, true, &(bool){false}) && store_notify(st, STORE_CHANNEL_WORK))
        log_warn("listener: could not send the last wake-up; other nodes find that work by polling");
    store_close(st);
    return NULL;
}

int engine__listen_start(struct engine *e, struct idf_err *err)
{
    struct listener *l = NULL;
    int fds[2];

    if (!store_url_listens(e->db_url))
        return 0;
    l = calloc(1, sizeof *l);
    if (!l)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(l);
        return idf_err_set(err, IDF_EIO, "cannot create the listener's pipe: %s", strerror(errno));
    }
    l->e = e;
    l->pipe_rd = fds[0];
    l->pipe_wr = fds[1];
    pthread_mutex_init(&l->lock, NULL);
    if (pthread_create(&l->thread, NULL, listen_main, l) != 0) {
        pthread_mutex_destroy(&l->lock);
        close(fds[0]);
        close(fds[1]);
        free(l);
        return idf_err_set(err, IDF_ENOMEM, "cannot start the listener thread");
    }
    e->listener = l;
    return 0;
}

void engine__listen_stop(struct engine *e)
{
    struct listener *l = e->listener;

    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->stopping = true;
    poke(l);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    e->listener = NULL;
    pthread_mutex_destroy(&l->lock);
    close(l->pipe_rd);
    close(l->pipe_wr);
    free(l);
}

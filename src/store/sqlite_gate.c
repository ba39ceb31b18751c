/* sqlite_gate.c — the writer gate: one FIFO queue per database file per
 * process, which every write transaction of this process's SQLite
 * connections to that file passes before its BEGIN IMMEDIATE
 * (store__sq_begin) and leaves at its COMMIT or ROLLBACK.
 *
 * Why: SQLite admits one writer at a time and makes the others wait in its
 * busy handler, which sleeps and polls (1, 2, 5, 10 … 100 ms). Under a flood
 * of events the ingest thread commits back to back, and a worker that missed
 * the lock sleeps through many of those commits: in a 10-second burst the
 * workers completed about a tenth of the runs they complete once the burst
 * stops (issue 20; docs/internals/performance.md has the evidence). In the
 * gate the writers of one process queue instead, woken in the order they
 * came the moment the lock is free, so ingest and the workers alternate.
 * Writers in other processes (the CLI) still meet SQLite's busy handler.
 *
 * A gate is keyed by the file's device and inode, shared by every
 * connection to it (reference counted), and freed with the last one. The
 * lock is handed over: leave() grants it to the oldest waiter, so no
 * newcomer can barge past a waiting writer. A writer that waits longer than
 * its timeout gives up its place (store__sq_begin then answers IDF_EBUSY, as
 * SQLite's own busy timeout does).
 *
 * The gate also owns the process's writer connection to the file: every
 * transaction in the gate runs on it (store__sq_begin switches to it), so
 * its page cache stays valid from one transaction to the next. With a
 * connection per thread, each transaction found its cache stale after
 * another connection's commit and read its pages again (pread was a quarter
 * of the server's CPU in a flood). Reads outside a transaction stay on each
 * store's own connection.
 *
 * Combining: a writer whose transaction is data (a step commit: struct
 * store__sq_op) queues as an op; the writer the turn is handed to takes the
 * queued ops out (store__sq_gate_take_ops) and runs them in its own
 * transaction (store__sq_combine, sqlite.c), then hands each its result
 * (store__sq_gate_ops_done). A taken op's owner waits for that result past
 * its timeout: the holder is already running it.
 *
 * Threads: any; the registry and each gate have their own mutex. The writer
 * connection is opened NOMUTEX and used by one thread at a time: the one
 * inside the gate (the gate's mutex orders the hand-overs). */
#include "store/sqlite_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/timeutil.h"

struct gate_waiter {
    pthread_cond_t cond;
    bool granted;            /* the gate is its (handed over) */
    struct store__sq_op *op; /* NULL: a transaction of its own; else combinable */
    bool taken;              /* a holder took op out of the queue: wait for done, whatever the timeout */
    bool done;               /* ... and ran it: op->rc is set */
    struct gate_waiter *next;
};

struct store__sq_gate {
    dev_t dev;
    ino_t ino;
    int refs; /* under registry_lock */
    pthread_mutex_t lock;
    bool held;                       /* a writer is inside */
    struct gate_waiter *head, *tail; /* waiting writers, oldest first */
    struct store__sq_link writer;    /* the connection every transaction in the gate writes through */
    size_t combined;                 /* ops taken into another writer's transaction (tests) */
    struct store__sq_gate *next;     /* the registry's list */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store__sq_gate *registry;

int store__sq_gate_open(const char *path, struct store__sq_gate **out, struct idf_err *err)
{
    struct store__sq_gate *g;
    struct stat sb;
    int rc = 0;

    *out = NULL;
    if (stat(path, &sb) != 0)
        return idf_err_set(err, IDF_EIO, "store: cannot stat %s: %s", path, strerror(errno));
    pthread_mutex_lock(&registry_lock);
    for (g = registry; g; g = g->next)
        if (g->dev == sb.st_dev && g->ino == sb.st_ino)
            break;
    if (!g) {
        g = calloc(1, sizeof *g);
        if (!g) {
            rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
            goto out;
        }
        rc = store__sq_open_link(path, false, &g->writer, err);
        if (rc) {
            store__sq_close_link(&g->writer);
            free(g);
            g = NULL;
            goto out;
        }
        g->dev = sb.st_dev;
        g->ino = sb.st_ino;
        pthread_mutex_init(&g->lock, NULL);
        g->next = registry;
        registry = g;
    }
    g->refs++;
    *out = g;
out:
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

struct store__sq_link *store__sq_gate_writer(struct store__sq_gate *g)
{
    return &g->writer;
}

void store__sq_gate_close(struct store__sq_gate *g)
{
    struct store__sq_gate **p;

    if (!g)
        return;
    pthread_mutex_lock(&registry_lock);
    if (--g->refs == 0) {
        for (p = &registry; *p && *p != g; p = &(*p)->next)
            ;
        if (*p)
            *p = g->next;
        store__sq_close_link(&g->writer);
        pthread_mutex_destroy(&g->lock);
        free(g);
    }
    pthread_mutex_unlock(&registry_lock);
}

/* Takes g out of the waiters' queue (under g->lock). */
static void unlink_waiter(struct store__sq_gate *g, struct gate_waiter *w)
{
    struct gate_waiter *prev = NULL;

    for (struct gate_waiter *it = g->head; it; prev = it, it = it->next) {
        if (it != w)
            continue;
        if (prev)
            prev->next = w->next;
        else
            g->head = w->next;
        if (g->tail == w)
            g->tail = prev;
        return;
    }
}

enum store__sq_gate_in store__sq_gate_enter_op(struct store__sq_gate *g, struct store__sq_op *op, int64_t timeout_ms)
{
    struct gate_waiter w = {.granted = false, .op = op, .next = NULL};
    enum store__sq_gate_in in = STORE__SQ_GATE_HELD;
    struct timespec until;

    if (!g)
        return STORE__SQ_GATE_HELD;
    pthread_mutex_lock(&g->lock);
    if (!g->held && !g->head) {
        g->held = true;
        pthread_mutex_unlock(&g->lock);
        return STORE__SQ_GATE_HELD;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &attr);
    pthread_condattr_destroy(&attr);
    if (op)
        op->waiter = &w;
    if (g->tail)
        g->tail->next = &w;
    else
        g->head = &w;
    g->tail = &w;
    time_deadline_ts(CLOCK_MONOTONIC, timeout_ms, &until);
    while (!w.granted && !w.done) {
        if (w.taken) { /* its holder runs it now: the result comes, timeout or not */
            pthread_cond_wait(&w.cond, &g->lock);
            continue;
        }
        if (pthread_cond_timedwait(&w.cond, &g->lock, &until) == ETIMEDOUT && !w.granted && !w.taken) {
            unlink_waiter(g, &w);
            in = STORE__SQ_GATE_TIMEOUT;
            break;
        }
    }
    if (w.done)
        in = STORE__SQ_GATE_DONE;
    pthread_mutex_unlock(&g->lock);
    pthread_cond_destroy(&w.cond);
    if (op)
        op->waiter = NULL;
    return in;
}

bool store__sq_gate_enter(struct store__sq_gate *g, int64_t timeout_ms)
{
    return store__sq_gate_enter_op(g, NULL, timeout_ms) == STORE__SQ_GATE_HELD;
}

size_t store__sq_gate_take_ops(struct store__sq_gate *g, struct store__sq_op **ops, size_t max)
{
    struct gate_waiter *prev = NULL, *w, *next;
    size_t n = 0;

    if (!g)
        return 0;
    pthread_mutex_lock(&g->lock);
    for (w = g->head; w && n < max; w = next) {
        next = w->next;
        if (!w->op) {
            prev = w;
            continue;
        }
        if (prev)
            prev->next = next;
        else
            g->head = next;
        if (g->tail == w)
            g->tail = prev;
        w->taken = true;
        ops[n++] = w->op;
    }
    g->combined += n;
    pthread_mutex_unlock(&g->lock);
    return n;
}

void store__sq_gate_ops_done(struct store__sq_gate *g, struct store__sq_op **ops, size_t n)
{
    if (!g || !n)
        return;
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; i < n; i++) {
        struct gate_waiter *w = ops[i]->waiter;
        w->done = true;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&g->lock);
}

size_t store__sq_gate_combined(struct store__sq_gate *g)
{
    size_t n;

    pthread_mutex_lock(&g->lock);
    n = g->combined;
    pthread_mutex_unlock(&g->lock);
    return n;
}

size_t store__sq_gate_waiting(struct store__sq_gate *g)
{
    size_t n = 0;

    if (!g)
        return 0;
    pthread_mutex_lock(&g->lock);
    for (struct gate_waiter *w = g->head; w; w = w->next)
        n++;
    pthread_mutex_unlock(&g->lock);
    return n;
}

void store__sq_gate_leave(struct store__sq_gate *g)
{
    struct gate_waiter *w;

    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    w = g->head;
    if (w) { /* hand the lock over: held stays true */
        g->head = w->next;
        if (!g->head)
            g->tail = NULL;
        w->granted = true;
        pthread_cond_signal(&w->cond);
    } else {
        g->held = false;
    }
    pthread_mutex_unlock(&g->lock);
}

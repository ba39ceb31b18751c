/* keeper.c — the lease keeper: renews, while a step runs, the lease of every
 * run this node's workers are executing (docs/internals/engine.md, "The
 * lease keeper").
 *
 * A run's lease (engine_opts.lease_ms) must outlast whatever one step does,
 * and one action may make several HTTP calls of up to its connector's
 * timeout each: renewed only between steps, a lease could run out in the
 * middle of a long step and another node take the run over while the step
 * still runs (the step would run twice at once). So each node has one
 * keeper thread, on a store connection of its own, that renews every
 * renew interval (engine_opts.lease_renew_ms, default a third of the lease)
 * the lease of each run held in its table.
 *
 * The table has one slot per worker: a worker holds its run there from the
 * start of exec_run until its last commit is done (engine__keeper_hold /
 * engine__keeper_drop, called by exec.c through exec_env.keeper). A renewal
 * checks the owner (store_run_renew), so one that comes after the run moved
 * on (it waits, it ended) or was taken over changes nothing; when it finds
 * the lease lost while the slot still holds that same run, it marks the slot
 * lost, and the worker starts no further step of the run
 * (engine__keeper_lost; its commit would fail with IDF_ESTATE anyway).
 *
 * Threads: hold, drop and lost on the worker owning the slot; the keeper
 * thread opens its own store connection (engine__keeper_start waits until
 * it did) and renews. Invariants: every slot field and `stopping` are guarded by
 * `lock`; a slot's `seq` changes at each hold, so a renewal that began for
 * an earlier hold never marks a later one lost. The owner name a slot
 * points to is the worker's (borrowed; the worker outlives its holds). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "engine/engine_internal.h"
#include "engine/engine_obj.h"
#include "store/store.h"

struct keeper_slot {
    int64_t run_id;    /* the run a worker executes now; 0: none */
    const char *owner; /* its lease owner (the worker's, borrowed) */
    unsigned long seq; /* bumped at each hold */
    bool lost;         /* a renewal found the lease of this hold lost */
};

struct keeper {
    struct engine *e; /* borrowed: outlives the keeper */
    int opened;       /* guarded by lock: 0 while the thread opens its connection, 1 opened, -1 failed */
    struct idf_err open_err; /* why it failed (written before opened becomes -1) */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping; /* guarded by lock */
    int64_t every_ms; /* the renew interval */
    struct keeper_slot slots[ENGINE_MAX_WORKERS]; /* guarded by lock */
};

void engine__keeper_hold(struct keeper *k, int slot, int64_t run_id, const char *owner)
{
    if (!k || slot < 0 || slot >= ENGINE_MAX_WORKERS)
        return;
    pthread_mutex_lock(&k->lock);
    k->slots[slot].run_id = run_id;
    k->slots[slot].owner = owner;
    k->slots[slot].seq++;
    k->slots[slot].lost = false;
    pthread_mutex_unlock(&k->lock);
}

void engine__keeper_drop(struct keeper *k, int slot)
{
    if (!k || slot < 0 || slot >= ENGINE_MAX_WORKERS)
        return;
    pthread_mutex_lock(&k->lock);
    k->slots[slot].run_id = 0;
    k->slots[slot].owner = NULL;
    k->slots[slot].lost = false;
    pthread_mutex_unlock(&k->lock);
}

bool engine__keeper_lost(struct keeper *k, int slot)
{
    bool v;
    if (!k || slot < 0 || slot >= ENGINE_MAX_WORKERS)
        return false;
    pthread_mutex_lock(&k->lock);
    v = k->slots[slot].lost;
    pthread_mutex_unlock(&k->lock);
    return v;
}

/* Waits until `at` (ms since the epoch) or until the keeper stops; true when it stops. */
static bool keeper_wait(struct keeper *k, int64_t at)
{
    struct timespec ts;
    bool stopping;

    ts.tv_sec = (time_t)(at / 1000);
    ts.tv_nsec = (long)(at % 1000) * 1000000L;
    pthread_mutex_lock(&k->lock);
    while (!k->stopping)
        if (pthread_cond_timedwait(&k->cond, &k->lock, &ts) == ETIMEDOUT)
            break;
    stopping = k->stopping;
    pthread_mutex_unlock(&k->lock);
    return stopping;
}

/* One round: renews the lease of every held slot. The owner name is copied
 * under the lock (the worker may drop the slot while the renewal runs). */
static void keeper_round(struct keeper *k, struct store *st)
{
    const int64_t lease_ms = k->e->opts.lease_ms;

    for (int i = 0; i < ENGINE_MAX_WORKERS; i++) {
        char owner[ENGINE_LEASE_OWNER_MAX];
        int64_t run_id;
        unsigned long seq;
        int rc;

        pthread_mutex_lock(&k->lock);
        run_id = k->slots[i].lost ? 0 : k->slots[i].run_id;
        seq = k->slots[i].seq;
        if (run_id)
            snprintf(owner, sizeof owner, "%s", k->slots[i].owner);
        pthread_mutex_unlock(&k->lock);
        if (!run_id)
            continue;
        rc = store_run_renew(st, run_id, owner, time_now_ms() + lease_ms);
        if (rc == IDF_ESTATE) {
            pthread_mutex_lock(&k->lock);
            if (k->slots[i].seq == seq && k->slots[i].run_id == run_id) {
                /* still this hold: the run was taken over, or it left "running" and its worker is at its end */
                k->slots[i].lost = true;
            }
            pthread_mutex_unlock(&k->lock);
        } else if (rc) {
            log_warn("keeper: cannot renew the lease of run %lld (store error %d); trying again in %lld ms",
                     (long long)run_id, rc, (long long)k->every_ms);
        }
    }
}

/* The thread opens its own connection (a connection is its opener's), tells
 * engine__keeper_start how that went, and renews until the keeper stops. */
static void *keeper_main(void *arg)
{
    struct keeper *k = arg;
    struct store *st = NULL;
    int rc = store_open(k->e->db_url, &st, &k->open_err);

    pthread_mutex_lock(&k->lock);
    k->opened = rc ? -1 : 1;
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->lock);
    if (rc)
        return NULL;
    while (!keeper_wait(k, time_now_ms() + k->every_ms))
        keeper_round(k, st);
    store_close(st);
    return NULL;
}

int engine__keeper_start(struct engine *e, struct keeper **out, struct idf_err *err)
{
    struct keeper *k;
    int rc;

    *out = NULL;
    if (e->opts.lease_renew_ms < 0)
        return 0; /* no keeper: leases are renewed between steps (exec.c) */
    k = calloc(1, sizeof *k);
    if (!k)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    k->e = e;
    k->every_ms = e->opts.lease_renew_ms > 0 ? e->opts.lease_renew_ms : e->opts.lease_ms / 3;
    if (k->every_ms < 1)
        k->every_ms = 1;
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->cond, NULL);
    if (pthread_create(&k->thread, NULL, keeper_main, k) != 0) {
        pthread_mutex_destroy(&k->lock);
        pthread_cond_destroy(&k->cond);
        free(k);
        return idf_err_set(err, IDF_ENOMEM, "cannot start the lease keeper thread");
    }
    pthread_mutex_lock(&k->lock);
    while (k->opened == 0)
        pthread_cond_wait(&k->cond, &k->lock);
    pthread_mutex_unlock(&k->lock);
    if (k->opened < 0) { /* the thread has returned */
        rc = k->open_err.code ? k->open_err.code : IDF_EIO;
        idf_err_set(err, rc, "lease keeper: %s", k->open_err.msg);
        pthread_join(k->thread, NULL);
        pthread_mutex_destroy(&k->lock);
        pthread_cond_destroy(&k->cond);
        free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void engine__keeper_stop(struct keeper *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->lock);
    k->stopping = true;
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->lock);
    pthread_join(k->thread, NULL);
    pthread_mutex_destroy(&k->lock);
    pthread_cond_destroy(&k->cond);
    free(k);
}

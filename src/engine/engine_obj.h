/* engine_obj.h — the engine object, shared by the files that run its
 * threads (private to engine.c, ingest.c, worker.c and listen.c; the other files of
 * src/engine/ reach the engine only through engine_internal.h's functions).
 *
 * Invariants: a submission is answered only after store_ingest returned for
 * its batch; `q_head..q_tail` and `stopping` are guarded by `q_lock`,
 * `work_gen` by `work_lock`; the metrics are atomics. */
#ifndef IDF_ENGINE_ENGINE_OBJ_H
#define IDF_ENGINE_ENGINE_OBJ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "engine/engine.h"
#include "engine/engine_internal.h"

struct pending; /* ingest.c: one queued submission */

struct engine {
    struct engine_opts opts;
    char *db_url;
    char *node_id;
    struct store *store;    /* the main thread's connection (loading) */
    struct wfset *wfs;
    /* ingest queue */
    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;    /* ingest thread waits for work */
    pthread_cond_t done_cond; /* submitters wait for their batch */
    struct pending *q_head, *q_tail; /* guarded by q_lock */
    bool stopping;            /* guarded by q_lock */
    pthread_t ingest_thread;
    bool ingest_started;
    /* workers */
    pthread_mutex_t work_lock;
    pthread_cond_t work_cond;
    unsigned long work_gen;   /* guarded by work_lock: bumped when runs are created */
    pthread_t workers[ENGINE_MAX_WORKERS];
    int n_workers;
    atomic_int workers_ready;
    struct pollers *pollers;  /* poller.c: the System Log / list pollers, or NULL */
    struct schedule *schedule;/* schedule.c: the ticker of scheduled workflows, or NULL */
    struct matcher *matcher;  /* match.c: matches events after their acknowledgement, expands deliveries */
    /* node identity (node.c; helper "singleton") */
    char lease_owner[ENGINE_LEASE_OWNER_MAX]; /* "<node_id>#<pid>@<random>"; set by engine__node_claim */
    bool node_held;           /* the node lease was taken (engine_new): drop it at the end */
    pthread_t node_thread;    /* the heartbeat */
    bool node_started;
    pthread_mutex_t node_lock;
    pthread_cond_t node_cond;
    bool node_stopping;       /* guarded by node_lock */
    struct listener *listener;/* listen.c: wake-ups from and to other nodes (PostgreSQL), or NULL */
    struct keeper *keeper;    /* keeper.c: renews the leases of the runs in flight (helper "keeper"), or NULL */
    /* metrics */
    atomic_llong m_events, m_events_dup, m_runs_created, m_batches;
    atomic_llong m_ingest_queued;  /* events queued, not yet taken into a batch (a gauge) */
    atomic_llong m_ingest_writing; /* events in the store transaction under way (a gauge) */
    atomic_llong m_steps_ok, m_steps_failed, m_steps_retrying, m_steps_skipped, m_steps_waiting;
    atomic_llong m_runs_succeeded, m_runs_failed;
};

/* engine.c, engine_start: the argument of one worker thread (the thread frees it). */
struct worker_arg {
    struct engine *e;
    int index;
};

/* ingest.c: the ingest thread (arg: the engine): writes what submitters
 * queued, one store transaction per batch, until the engine stops. */
void *engine__ingest_main(void *arg);

/* worker.c: a worker thread (arg: a struct worker_arg, freed by it): claims
 * runs and executes them until the engine stops. */
void *engine__worker_main(void *arg);
/* Wakes every idle worker: runs were created, a slot was freed, or the
 * engine stops. */
void engine__wake_workers(struct engine *e);

#endif

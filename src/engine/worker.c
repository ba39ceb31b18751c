/* worker.c — the worker threads: each claims runnable runs with a lease
 * (store_run_claim, within the workflows' `concurrency:` caps) and executes
 * them in turn (exec_run, exec.c); when idle it sleeps on `work_cond` until
 * woken by new runs or for at most idle_poll_ms (to pick up due timers).
 * Each worker owns its store connection, HTTP client, connection cache and
 * expression context, and leases under its own owner id. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credentials/credentials.h"
#include "core/invariant.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/coord.h"
#include "engine/engine_internal.h"
#include "engine/engine_obj.h"
#include "flow/flow.h"
#include "net/http.h"
#include "store/store.h"

void engine__wake_workers(struct engine *e)
{
    pthread_mutex_lock(&e->work_lock);
    e->work_gen++;
    pthread_cond_broadcast(&e->work_cond);
    pthread_mutex_unlock(&e->work_lock);
}

void engine__runs_created(struct engine *e, size_t n)
{
    if (!n)
        return;
    atomic_fetch_add(&e->m_runs_created, (long long)n);
    engine__wake_workers(e);
    engine__notify_work(e); /* and the other nodes' (listen.c) */
}

static void fail_unloadable(struct store *st, const char *owner, const struct store_run *r, const char *msg)
{
    struct store_run_next next;
    struct idf_err err;
    memset(&next, 0, sizeof next);
    next.status = engine_run_status_name(ENGINE_RUN_FAILED);
    next.pc = r->pc;
    next.item = r->item;
    next.attempt = r->attempt;
    next.error = msg;
    if (store_step_commit(st, r->id, owner, time_now_ms(), NULL, &next, &err))
        log_error("run %lld: could not record failure: %s", (long long)r->id, err.msg);
}

/* Executes the n runs a worker claimed (env's thread), in turn, and frees
 * them. The claim marked the first begun, the end of each marks the next
 * (exec_env.begin_next): no transaction of its own starts one. */
static void run_batch(struct engine *e, struct exec_env *env, struct store_run **runs, size_t n)
{
    struct idf_err err;

    for (size_t i = 0; i < n; i++) {
        const struct flow *f =
            engine__wfset_get(e->wfs, env->store, env->expr, runs[i]->workflow, runs[i]->version, &err);
        struct exec_outcome oc;
        IDF_INVARIANT(engine_run_status_is(runs[i]->status, ENGINE_RUN_RUNNING),
                      "claimed run %lld is %s: a finished run is never claimed", (long long)runs[i]->id,
                      runs[i]->status ? runs[i]->status : "(null)");
        env->begun = runs[i]->begun || env->next_begun;
        env->next_begun = false;
        env->begin_next = i + 1 < n ? runs[i + 1]->id : 0;
        if (env->coord) /* the run holds the locks its actions take (coord.h) */
            engine_coord_for_run(env->coord->ctx, runs[i]->id);
        if (!f) {
            fail_unloadable(env->store, env->owner, runs[i], err.msg);
        } else if (exec_run(env, f, runs[i], &oc, &err)) {
            log_error("run %lld: %s", (long long)runs[i]->id, err.msg);
        }
        if (f && f->concurrency > 0)
            engine__wake_workers(e); /* it freed a slot: an idle worker may take the next run of f */
        store_run_free(runs[i]);
    }
    env->next_begun = false;
    env->begin_next = 0;
    if (env->coord)
        engine_coord_for_run(env->coord->ctx, 0);
}

/* An idle worker sleeps until runs are created (work_gen moves on from gen)
 * or idle_poll_ms pass (due timers). */
static void idle_wait(struct engine *e, unsigned long gen)
{
    struct timespec ts;
    int64_t wait_ms = e->opts.idle_poll_ms;

    time_deadline_ts(CLOCK_REALTIME, wait_ms, &ts);
    pthread_mutex_lock(&e->work_lock);
    while (e->work_gen == gen) {
        if (pthread_cond_timedwait(&e->work_cond, &e->work_lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&e->work_lock);
}

/* Starts a worker's round: *gen_out is the work generation before it looks
 * for runs (idle_wait wakes when it moves on). True when the engine stops. */
static bool worker_round(struct engine *e, unsigned long *gen_out)
{
    bool stopping;

    pthread_mutex_lock(&e->work_lock);
    *gen_out = e->work_gen;
    pthread_mutex_unlock(&e->work_lock);
    pthread_mutex_lock(&e->q_lock);
    stopping = e->stopping;
    pthread_mutex_unlock(&e->q_lock);
    return stopping;
}

void *engine__worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct engine *e = wa->e;
    struct exec_env env;
    struct engine_coord coord; /* this worker's view of the other nodes (helper "pacing") */
    struct store *st = NULL;
    struct http_client *http = NULL;
    struct idf_err err;
    struct store_run *runs[ENGINE_CLAIM_BATCH_MAX];
    struct wfset_caps caps = {NULL, 0, 0}; /* this worker's copy of the workflows' `concurrency:` */
    char owner[300];
    const int index = wa->index;
    bool ready = false;

    memset(&env, 0, sizeof env);
    /* each worker leases under its own owner id: a sibling can never commit
     * into a run this worker still executes after its lease expired */
    snprintf(owner, sizeof owner, "%s/w%d", e->node_id, wa->index);
    free(wa);
    if (store_open(e->db_url, &st, &err)) {
        log_error("worker: cannot open the store: %s", err.msg);
        return NULL;
    }
    if (http_client_new(&http) || cred_cache_new(e->opts.key, CRED_RECHECK_MS, &env.conns)) {
        log_error("worker: cannot create an http client or a connection cache");
        http_client_free(http);
        store_close(st);
        return NULL;
    }
    env.store = st;
    env.expr = engine__thread_expr(e);
    env.http = http;
    env.owner = owner;
    env.lease_ms = e->opts.lease_ms;
    env.engine = e;
    env.key = e->opts.key;
    env.max_interruptions = e->opts.max_interruptions;
    env.connectors = e->opts.connectors;
    engine_coord_init(&coord, st, owner);
    env.coord = &coord.pub;
    env.keeper = e->keeper; /* renews the lease of the run this worker executes (keeper.c) */
    env.keeper_slot = index;
    atomic_fetch_add(&e->workers_ready, 1);
    ready = true;

    for (;;) {
        size_t n = 0;
        unsigned long gen;
        int rc;

        if (worker_round(e, &gen))
            break;
        env.lease_renewed_at = time_now_ms();
        if (engine__wfset_caps(e->wfs, &caps))
            log_error("worker: out of memory reading the workflows' caps; claiming with the previous ones");
        rc = store_run_claim(st, owner, env.lease_renewed_at, e->opts.lease_ms, (size_t)e->opts.claim_batch, caps.v, caps.n,
                             runs, &n, &err);
        if (rc) {
            log_error("worker: claim failed: %s", err.msg);
            n = 0;
        }
        run_batch(e, &env, runs, n);
        if (n > 0)
            continue; /* there may be more right away */
        idle_wait(e, gen);
    }
    if (ready)
        atomic_fetch_sub(&e->workers_ready, 1);
    engine__wfset_caps_clear(&caps);
    exec_env_release(&env);
    cred_cache_free(env.conns);
    http_client_free(http);
    store_close(st);
    return NULL;
}

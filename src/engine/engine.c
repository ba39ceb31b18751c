/* engine.c — the engine's life cycle (see engine.h): engine_new loads the
 * workflows and releases the leases an earlier process of this node held
 * (only after taking the node id's lease, node.c); engine_start starts the
 * listener (PostgreSQL: listen.c), the node heartbeat, the lease keeper
 * (keeper.c), the ingest thread,
 * the workers, the matcher, the pollers and the schedule; engine_free stops
 * them in order. Also each
 * thread's expression context and the metrics. Submissions and the ingest
 * thread are ingest.c's, the workers worker.c's; the engine object and its
 * invariants: engine_obj.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "credentials/credentials.h"
#include "connectors/connector.h"
#include "core/log.h"
#include "engine/engine_internal.h"
#include "engine/engine_obj.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "store/store.h"

/* ------------------------------------------------------- thread expr ctx */

static pthread_key_t expr_key;
static pthread_once_t expr_once = PTHREAD_ONCE_INIT;

static void expr_key_free(void *p) { expr_ctx_free(p); }
static void expr_key_init(void) { pthread_key_create(&expr_key, expr_key_free); }

struct expr_ctx *engine__thread_expr(const struct engine *e)
{
    struct expr_limits lim = {e->opts.expr_timeout_ms, e->opts.expr_memory_mb};
    struct expr_ctx *c;
    pthread_once(&expr_once, expr_key_init);
    c = pthread_getspecific(expr_key);
    if (!c && expr_ctx_new_isolated(&lim, &c) == 0)
        pthread_setspecific(expr_key, c);
    return c;
}

void engine__thread_expr_release(void)
{
    pthread_once(&expr_once, expr_key_init);
    expr_ctx_free(pthread_getspecific(expr_key));
    pthread_setspecific(expr_key, NULL);
}

/* ------------------------------------------------------------- metrics */

void engine__count_step(struct engine *e, enum engine_step_status step, enum engine_run_status run)
{
    switch (step) {
    case ENGINE_STEP_SUCCEEDED: atomic_fetch_add(&e->m_steps_ok, 1); break;
    case ENGINE_STEP_FAILED: atomic_fetch_add(&e->m_steps_failed, 1); break;
    case ENGINE_STEP_RETRYING: atomic_fetch_add(&e->m_steps_retrying, 1); break;
    case ENGINE_STEP_SKIPPED: atomic_fetch_add(&e->m_steps_skipped, 1); break;
    case ENGINE_STEP_WAITING: atomic_fetch_add(&e->m_steps_waiting, 1); break;
    default: break; /* none, started, reused: not counted */
    }
    if (run == ENGINE_RUN_SUCCEEDED)
        atomic_fetch_add(&e->m_runs_succeeded, 1);
    else if (run == ENGINE_RUN_FAILED)
        atomic_fetch_add(&e->m_runs_failed, 1);
}

char *engine_metrics(struct engine *e)
{
    char *out = NULL;
    if (asprintf(&out,
                 "# HELP idflow_events_total Events acknowledged (stored durably).\n"
                 "# TYPE idflow_events_total counter\n"
                 "idflow_events_total %lld\n"
                 "# HELP idflow_events_duplicate_total Events ignored because they were already stored.\n"
                 "# TYPE idflow_events_duplicate_total counter\n"
                 "idflow_events_duplicate_total %lld\n"
                 "# HELP idflow_ingest_batches_total Store transactions that acknowledged events.\n"
                 "# TYPE idflow_ingest_batches_total counter\n"
                 "idflow_ingest_batches_total %lld\n"
                 "# HELP idflow_ingest_queued Acknowledgements waiting for the ingest thread (the next group commit).\n"
                 "# TYPE idflow_ingest_queued gauge\n"
                 "idflow_ingest_queued %lld\n"
                 "# HELP idflow_ingest_writing Events in the store transaction under way.\n"
                 "# TYPE idflow_ingest_writing gauge\n"
                 "idflow_ingest_writing %lld\n"
                 "# HELP idflow_runs_created_total Runs created by events.\n"
                 "# TYPE idflow_runs_created_total counter\n"
                 "idflow_runs_created_total %lld\n"
                 "# HELP idflow_runs_finished_total Runs finished by this process, by status.\n"
                 "# TYPE idflow_runs_finished_total counter\n"
                 "idflow_runs_finished_total{status=\"succeeded\"} %lld\n"
                 "idflow_runs_finished_total{status=\"failed\"} %lld\n"
                 "# HELP idflow_steps_total Step outcomes recorded by this process, by status.\n"
                 "# TYPE idflow_steps_total counter\n"
                 "idflow_steps_total{status=\"succeeded\"} %lld\n"
                 "idflow_steps_total{status=\"failed\"} %lld\n"
                 "idflow_steps_total{status=\"retrying\"} %lld\n"
                 "idflow_steps_total{status=\"skipped\"} %lld\n"
                 "idflow_steps_total{status=\"waiting\"} %lld\n"
                 "# HELP idflow_workers Worker threads running.\n"
                 "# TYPE idflow_workers gauge\n"
                 "idflow_workers %d\n",
                 (long long)e->m_events, (long long)e->m_events_dup, (long long)e->m_batches,
                 (long long)atomic_load(&e->m_ingest_queued), (long long)atomic_load(&e->m_ingest_writing),
                 (long long)e->m_runs_created, (long long)e->m_runs_succeeded, (long long)e->m_runs_failed,
                 (long long)e->m_steps_ok, (long long)e->m_steps_failed, (long long)e->m_steps_retrying,
                 (long long)e->m_steps_skipped, (long long)e->m_steps_waiting, atomic_load(&e->workers_ready)) < 0)
        return NULL;
    return out;
}

bool engine_ready(struct engine *e)
{
    return atomic_load(&e->workers_ready) == e->n_workers && e->n_workers > 0;
}

/* ------------------------------------------------------------ lifecycle */

/* wfset_each_fn: logs, once, each stored connection the workflow's trigger
 * listens to but would never receive its events on (cred_reach_warnings:
 * an Okta event type that event hooks cannot carry, on a hook-only
 * connection). ud: the engine. */
static void warn_unreachable(void *ud, const struct flow *f, int64_t version)
{
    const struct engine *e = ud;
    json_t *warnings = json_array();
    size_t i;
    json_t *w;

    (void)version;
    if (!warnings || !f->enabled ||
        cred_reach_warnings(e->store, e->opts.connectors, f->trigger, f->trigger_params, warnings)) {
        json_decref(warnings);
        return;
    }
    json_array_foreach(warnings, i, w)
    {
        log_warn("workflow %s, trigger %s: %s", f->name, f->trigger->name, json_string_value(w));
    }
    json_decref(warnings);
}

int engine_new(const struct engine_opts *opts, struct engine **out, struct idf_err *err)
{
    struct engine *e = calloc(1, sizeof *e);
    char host[256];
    int64_t released = 0;
    int rc = 0;

    *out = NULL;
    if (!e)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    e->opts = *opts;
    if (e->opts.workers <= 0)
        e->opts.workers = 4;
    if (e->opts.workers > ENGINE_MAX_WORKERS)
        e->opts.workers = ENGINE_MAX_WORKERS;
    if (e->opts.lease_ms <= 0)
        e->opts.lease_ms = ENGINE_DEFAULT_LEASE_MS;
    if (e->opts.idle_poll_ms <= 0)
        e->opts.idle_poll_ms = 200;
    if (e->opts.max_interruptions <= 0)
        e->opts.max_interruptions = ENGINE_DEFAULT_MAX_INTERRUPTIONS;
    if (e->opts.claim_batch <= 0) /* runs claimed ahead are held for a lease: few where other nodes could run them */
        e->opts.claim_batch = store_url_listens(opts->db_url) ? ENGINE_CLAIM_BATCH_SHARED : ENGINE_CLAIM_BATCH;
    if (e->opts.claim_batch > ENGINE_CLAIM_BATCH_MAX)
        e->opts.claim_batch = ENGINE_CLAIM_BATCH_MAX;
    if (!e->opts.connectors)
        e->opts.connectors = registry_default();
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "idflow");
    host[sizeof host - 1] = '\0';
    e->node_id = strdup(opts->node_id ? opts->node_id : host);
    e->db_url = strdup(opts->db_url);
    pthread_mutex_init(&e->q_lock, NULL);
    pthread_cond_init(&e->q_cond, NULL);
    pthread_cond_init(&e->done_cond, NULL);
    pthread_mutex_init(&e->work_lock, NULL);
    pthread_cond_init(&e->work_cond, NULL);
    pthread_mutex_init(&e->node_lock, NULL);
    pthread_cond_init(&e->node_cond, NULL);
    if (!e->node_id || !e->db_url) {
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
        goto out;
    }
    if (!e->node_id[0] || strpbrk(e->node_id, "#/")) {
        /* '#' separates the node id from the process in a node lease's owner
         * (node.c), '/' from the worker in a run lease's owner ("<node>/w3"):
         * with '/' in ids, node "a" releasing its leases at start would take
         * node "a/b"'s runs too (store_release_leases matches "a/...") */
        rc = idf_err_set(err, IDF_EINVAL, "node id '%s': must be non-empty and without '#' or '/'", e->node_id);
        goto out;
    }
    if (e->opts.connectors->n > ENGINE_MAX_CONNECTORS) {
        rc = idf_err_set(err, IDF_EINVAL, "%zu connectors: the engine holds at most %d", e->opts.connectors->n,
                         ENGINE_MAX_CONNECTORS);
        goto out;
    }
    rc = store_open(e->db_url, &e->store, err);
    if (rc)
        goto out;
    rc = engine__wfset_new(e->opts.connectors, &e->wfs);
    if (rc)
        goto out;
    if (opts->workflows_dir)
        rc = engine__wfset_load_dir(e->wfs, e->store, engine__thread_expr(e), opts->workflows_dir, err);
    else
        rc = engine__wfset_load_store(e->wfs, e->store, engine__thread_expr(e), err);
    engine__thread_expr_release(); /* this thread evaluates nothing more: its evaluator goes */
    if (rc)
        goto out;
    engine__wfset_each(e->wfs, warn_unreachable, e);
    /* only once no other live process has this node id are its run leases ours to release */
    rc = engine__node_claim(e, err);
    if (rc)
        goto out;
    rc = store_release_leases(e->store, e->node_id, &released);
    if (rc) {
        idf_err_set(err, rc, "cannot release the leases of an earlier run of node '%s'", e->node_id);
        goto out;
    }
    if (released) {
        log_info("resuming %lld run(s) left running by an earlier process of node %s", (long long)released,
                 e->node_id);
        if (store_notify(e->store, STORE_CHANNEL_WORK)) /* queued again: other nodes may take them */
            log_warn("could not tell other nodes about the released runs; they find them by polling");
    }
out:
    if (rc) {
        engine_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

int engine_start(struct engine *e, struct idf_err *err)
{
    /* first: e->listener is set before any thread that notifies exists */
    int rc = engine__listen_start(e, err);
    if (rc)
        return rc;
    if (engine__node_start(e, err))
        return IDF_ENOMEM;
    rc = engine__keeper_start(e, &e->keeper, err); /* before the workers, which hold runs in it */
    if (rc)
        return rc;
    if (pthread_create(&e->ingest_thread, NULL, engine__ingest_main, e) != 0)
        return idf_err_set(err, IDF_ENOMEM, "cannot start the ingest thread");
    e->ingest_started = true;
    for (int i = 0; i < e->opts.workers; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (!wa)
            return idf_err_set(err, IDF_ENOMEM, "out of memory");
        wa->e = e;
        wa->index = i;
        if (pthread_create(&e->workers[i], NULL, engine__worker_main, wa) != 0) {
            free(wa);
            return idf_err_set(err, IDF_ENOMEM, "cannot start worker %d", i);
        }
        e->n_workers++;
    }
    rc = engine__matcher_start(e, e->wfs, &e->opts, &e->matcher, err);
    if (rc)
        return rc;
    rc = engine__pollers_start(e, &e->opts, &e->pollers, err);
    return rc ? rc : engine__schedule_start(e, e->wfs, &e->opts, &e->schedule, err);
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    engine__schedule_stop(e->schedule);
    engine__pollers_stop(e->pollers);
    pthread_mutex_lock(&e->q_lock);
    e->stopping = true;
    pthread_cond_broadcast(&e->q_cond);
    pthread_mutex_unlock(&e->q_lock);
    engine__wake_workers(e);
    for (int i = 0; i < e->n_workers; i++)
        pthread_join(e->workers[i], NULL);
    if (e->ingest_started)
        pthread_join(e->ingest_thread, NULL);
    engine__matcher_stop(e->matcher); /* after ingest: nothing wakes it any more */
    engine__keeper_stop(e->keeper);   /* after the workers: no run is held any more */
    e->keeper = NULL;
    engine__node_stop(e);             /* after the workers: a successor may release our runs now */
    engine__listen_stop(e);           /* after the matcher and ingest: nothing notifies any more */
    engine__wfset_free(e->wfs);
    engine__thread_expr_release(); /* the context engine_new used on this thread */
    store_close(e->store);
    pthread_mutex_destroy(&e->q_lock);
    pthread_cond_destroy(&e->q_cond);
    pthread_cond_destroy(&e->done_cond);
    pthread_mutex_destroy(&e->work_lock);
    pthread_cond_destroy(&e->work_cond);
    pthread_mutex_destroy(&e->node_lock);
    pthread_cond_destroy(&e->node_cond);
    free(e->node_id);
    free(e->db_url);
    free(e);
}

/* (helper "inputs") */
const struct flow *engine_workflow(struct engine *e, const char *name, int64_t *version_out)
{
    return e ? engine__wfset_current(e->wfs, name, version_out) : NULL;
}

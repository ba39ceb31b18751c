/* engine.c — engine life cycle, event ingestion with group commit, workers
 * and metrics (see engine.h).
 *
 * Threads: submitters (HTTP threads) match an event against the workflows,
 * queue it and wait; the ingest thread takes everything queued (up to
 * ENGINE_INGEST_BATCH) and writes it in ONE durable store transaction, then
 * wakes the submitters and the workers. Workers claim runs with a lease and
 * execute them (exec.c); when idle they sleep on `work_cond` until woken by
 * new runs or for at most idle_poll_ms (to pick up due timers). The engine
 * object and its invariants: engine_obj.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "credentials/credentials.h"
#include "connectors/connector.h"
#include "core/invariant.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/engine_internal.h"
#include "engine/engine_obj.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "net/http.h"
#include "store/store.h"

struct pending {
    struct store_ingest_item item;
    struct engine__match match; /* for an event matched now: its runs (item.runs points here) */
    int64_t run_ids[ENGINE_ACK_MAX_RUNS];
    char *data_text;
    bool done;
    int rc;
    char errmsg[256];
    struct pending *next;
};

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

/* -------------------------------------------------------------- ingest */

static void pending_free(struct pending *p)
{
    if (p) {
        free(p->data_text);
        free(p);
    }
}

json_t *engine__event_json(const struct engine_event *ev)
{
    char ts[40];
    json_t *event;

    time_format_iso(time_now_ms(), ts, sizeof ts);
    if (!ev->fields)
        return json_pack("{s:s?,s:s,s:s,s:s,s:s?,s:s?,s:O}", "id", ev->source_id, "source", ev->source, "type",
                         ev->type, "time", ts, "connection", ev->connection, "actor", ev->actor, "data",
                         ev->data ? ev->data : json_null());
    /* a connector's normalized event: its members are .event's */
    event = json_deep_copy(ev->fields);
    if (event && (json_object_set_new(event, "source", json_string(ev->source)) ||
                  json_object_set_new(event, "type", json_string(ev->type)) ||
                  (ev->source_id && json_object_set_new(event, "id", json_string(ev->source_id))) ||
                  (ev->connection && json_object_set_new(event, "connection", json_string(ev->connection))) ||
                  (!json_is_string(json_object_get(event, "time")) &&
                   json_object_set_new(event, "time", json_string(ts))))) {
        json_decref(event);
        event = NULL;
    }
    return event;
}

/* Builds ev's ingest item (borrowing ev's strings). stage DONE: the event is
 * normalized and matched now (its runs go into the same transaction); MATCH:
 * it is normalized and stored for the matcher; EXPAND: ev->data is stored
 * as it is, a delivery for the expander. Nothing is queued. */
static int prepare(struct engine *e, const struct engine_event *ev, enum store_event_stage stage,
                   struct pending **out, struct idf_err *err)
{
    struct pending *p = calloc(1, sizeof *p);
    json_t *event = NULL;
    int rc = 0;

    *out = NULL;
    if (!p)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    if (stage == STORE_EVENT_EXPAND) {
        p->data_text = json_dumps(ev->data ? ev->data : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
        if (!p->data_text) {
            rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
            goto out;
        }
        goto fill;
    }
    event = engine__event_json(ev);
    if (!event) {
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
        goto out;
    }
    if (stage == STORE_EVENT_DONE) {
        struct engine__match *m = &p->match;
        struct expr_ctx *ectx = engine__thread_expr(e);
        if (!ectx) {
            rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
            goto out;
        }
        m->type = ev->type;
        m->workflow = ev->workflow;
        engine__match(e->wfs, ectx, event, m);
        if (ev->workflow && !m->found_named) {
            rc = idf_err_set(err, IDF_ENOTFOUND, "unknown workflow '%s'", ev->workflow);
            goto out;
        }
        if (ev->workflow && m->named_wrong_trigger) {
            rc = idf_err_set(err, IDF_EINVAL, "workflow '%s' is not started by a '%s' event", ev->workflow, ev->type);
            goto out;
        }
        p->item.runs = m->runs;
        p->item.n_runs = m->n_runs;
        p->item.run_ids = p->run_ids;
    }
    p->data_text = json_dumps(event, JSON_COMPACT);
    if (!p->data_text) {
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
        goto out;
    }
fill:
    p->item.event.source = ev->source;
    p->item.event.source_id = ev->source_id;
    p->item.event.type = ev->type;
    p->item.event.connection = ev->connection;
    p->item.event.data = p->data_text;
    p->item.event.stage = stage;
out:
    json_decref(event);
    if (rc)
        pending_free(p);
    else
        *out = p;
    return rc;
}

/* Queues n events (all in `stage`), waits until their batch is durable, and fills acks. */
static int submit(struct engine *e, const struct engine_event *evs, size_t n, enum store_event_stage stage,
                  struct engine_ack *acks, struct idf_err *err)
{
    struct pending **ps = calloc(n ? n : 1, sizeof *ps);
    int rc = 0;

    if (!ps)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        memset(&acks[i], 0, sizeof acks[i]);
        rc = prepare(e, &evs[i], stage, &ps[i], err);
        if (rc)
            goto out; /* nothing was queued */
    }
    pthread_mutex_lock(&e->q_lock);
    if (e->stopping) {
        pthread_mutex_unlock(&e->q_lock);
        rc = idf_err_set(err, IDF_EBUSY, "the server is shutting down");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (e->q_tail)
            e->q_tail->next = ps[i];
        else
            e->q_head = ps[i];
        e->q_tail = ps[i];
    }
    pthread_cond_signal(&e->q_cond);
    for (size_t i = 0; i < n; i++) {
        while (!ps[i]->done)
            pthread_cond_wait(&e->done_cond, &e->q_lock);
    }
    pthread_mutex_unlock(&e->q_lock);

    for (size_t i = 0; i < n; i++) {
        struct pending *p = ps[i];
        if (p->rc) {
            if (!rc)
                rc = idf_err_set(err, p->rc, "%s", p->errmsg);
            continue;
        }
        acks[i].event_id = p->item.event_id;
        acks[i].duplicate = p->item.duplicate;
        if (!p->item.duplicate) {
            acks[i].n_runs = p->item.n_runs;
            memcpy(acks[i].run_ids, p->run_ids, sizeof(int64_t) * p->item.n_runs);
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        pending_free(ps[i]);
    free(ps);
    return rc;
}

int engine_submit_many(struct engine *e, const struct engine_event *evs, size_t n, struct engine_ack *acks,
                       struct idf_err *err)
{
    return submit(e, evs, n, STORE_EVENT_DONE, acks, err);
}

int engine_submit(struct engine *e, const struct engine_event *ev, struct engine_ack *ack, struct idf_err *err)
{
    return submit(e, ev, 1, STORE_EVENT_DONE, ack, err);
}

int engine_submit_deliveries(struct engine *e, const char *source, const char *connection, const json_t *deliveries,
                             struct idf_err *err)
{
    size_t i, n = json_array_size(deliveries);
    const json_t *item;
    struct engine_event *evs = calloc(n ? n : 1, sizeof *evs);
    struct engine_ack *acks = calloc(n ? n : 1, sizeof *acks);
    char type[128];
    int rc;

    if (!evs || !acks) {
        free(evs);
        free(acks);
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    }
    snprintf(type, sizeof type, "%s.delivery", source);
    json_array_foreach(deliveries, i, item)
    {
        evs[i].source = source;
        evs[i].type = type;
        evs[i].connection = connection;
        evs[i].data = (json_t *)item;
    }
    rc = n ? submit(e, evs, n, STORE_EVENT_EXPAND, acks, err) : 0;
    free(evs);
    free(acks);
    return rc;
}

int engine_submit_events(struct engine *e, const char *source, const char *connection, const json_t *events,
                         size_t *n_new_out, struct idf_err *err)
{
    size_t i, n = 0, total = json_array_size(events);
    const json_t *item;
    struct engine_event *evs = calloc(total ? total : 1, sizeof *evs);
    struct engine_ack *acks = calloc(total ? total : 1, sizeof *acks);
    int rc;

    *n_new_out = 0;
    if (!evs || !acks) {
        free(evs);
        free(acks);
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    }
    json_array_foreach(events, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));
        const char *type = json_string_value(json_object_get(item, "type"));
        if (!id || !type) {
            log_warn("%s/%s: event %zu has no id or type; skipped", source, connection ? connection : "-", i);
            continue;
        }
        evs[n].source = source;
        evs[n].source_id = id;
        evs[n].type = type;
        evs[n].connection = connection;
        evs[n].fields = item;
        n++;
    }
    rc = n ? submit(e, evs, n, STORE_EVENT_MATCH, acks, err) : 0;
    for (size_t k = 0; rc == 0 && k < n; k++) {
        if (!acks[k].duplicate)
            (*n_new_out)++;
    }
    free(evs);
    free(acks);
    return rc;
}

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
}

void *engine__ingest_main(void *arg)
{
    struct engine *e = arg;
    struct store *st = NULL;
    struct idf_err err;
    struct store_ingest_item *items = calloc(ENGINE_INGEST_BATCH, sizeof *items);
    struct pending *batch[ENGINE_INGEST_BATCH];

    if (!items || store_open(e->db_url, &st, &err)) {
        log_error("ingest: cannot open the store: %s", items ? err.msg : "out of memory");
        /* fail every submission from now on */
    }
    pthread_mutex_lock(&e->q_lock);
    for (;;) {
        size_t n = 0;
        int rc;
        bool created = false, later = false;

        while (!e->q_head && !e->stopping)
            pthread_cond_wait(&e->q_cond, &e->q_lock);
        if (!e->q_head && e->stopping)
            break;
        while (e->q_head && n < ENGINE_INGEST_BATCH) {
            batch[n] = e->q_head;
            e->q_head = e->q_head->next;
            n++;
        }
        if (!e->q_head)
            e->q_tail = NULL;
        pthread_mutex_unlock(&e->q_lock);

        for (size_t i = 0; i < n; i++)
            items[i] = batch[i]->item;
        idf_err_clear(&err);
        rc = st ? store_ingest(st, items, n, &err) : IDF_EDB;
        if (rc && !st)
            snprintf(err.msg, sizeof err.msg, "the store is not available");
        atomic_fetch_add(&e->m_batches, 1);

        pthread_mutex_lock(&e->q_lock);
        for (size_t i = 0; i < n; i++) {
            if (!rc && !items[i].duplicate && items[i].event.stage != STORE_EVENT_DONE)
                later = true;
            batch[i]->rc = rc;
            if (rc) {
                snprintf(batch[i]->errmsg, sizeof batch[i]->errmsg, "could not store the event: %s", err.msg);
                continue;
            }
            batch[i]->item.event_id = items[i].event_id;
            batch[i]->item.duplicate = items[i].duplicate;
            atomic_fetch_add(&e->m_events, 1);
            if (items[i].duplicate) {
                atomic_fetch_add(&e->m_events_dup, 1);
            } else if (items[i].n_runs) {
                atomic_fetch_add(&e->m_runs_created, (long long)items[i].n_runs);
                created = true;
            }
        }
        for (size_t i = 0; i < n; i++)
            batch[i]->done = true;
        pthread_cond_broadcast(&e->done_cond);
        pthread_mutex_unlock(&e->q_lock);
        if (created)
            engine__wake_workers(e);
        if (later)
            engine__matcher_wake(e->matcher);
        pthread_mutex_lock(&e->q_lock);
    }
    pthread_mutex_unlock(&e->q_lock);
    store_close(st);
    free(items);
    return NULL;
}

/* -------------------------------------------------------------- workers */

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
}

/* An idle worker sleeps until runs are created (work_gen moves on from gen)
 * or idle_poll_ms pass (due timers). */
static void idle_wait(struct engine *e, unsigned long gen)
{
    struct timespec ts;
    int64_t wait_ms = e->opts.idle_poll_ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (wait_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
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
    struct store *st = NULL;
    struct http_client *http = NULL;
    struct idf_err err;
    struct store_run *runs[ENGINE_CLAIM_BATCH];
    struct wfset_caps caps = {NULL, 0, 0}; /* this worker's copy of the workflows' `concurrency:` */
    char owner[300];
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
        rc = store_run_claim(st, owner, env.lease_renewed_at, e->opts.lease_ms, ENGINE_CLAIM_BATCH, caps.v, caps.n,
                             runs, &n, &err);
        if (rc) {
            log_error("worker: claim failed: %s", err.msg);
            n = 0;
        }
        run_batch(e, &env, runs, n);
        if (n == ENGINE_CLAIM_BATCH)
            continue;
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
    if (!e->node_id || !e->db_url) {
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
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
    rc = store_release_leases(e->store, e->node_id, &released);
    if (rc) {
        idf_err_set(err, rc, "cannot release the leases of an earlier run of node '%s'", e->node_id);
        goto out;
    }
    if (released)
        log_info("resuming %lld run(s) left running by an earlier process of node %s", (long long)released,
                 e->node_id);
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
    int rc = engine__matcher_start(e, e->wfs, &e->opts, &e->matcher, err);
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
    engine__wfset_free(e->wfs);
    engine__thread_expr_release(); /* the context engine_new used on this thread */
    store_close(e->store);
    pthread_mutex_destroy(&e->q_lock);
    pthread_cond_destroy(&e->q_cond);
    pthread_cond_destroy(&e->done_cond);
    pthread_mutex_destroy(&e->work_lock);
    pthread_cond_destroy(&e->work_cond);
    free(e->node_id);
    free(e->db_url);
    free(e);
}

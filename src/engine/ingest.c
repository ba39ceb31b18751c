/* ingest.c — event submission and the ingest thread, with group commit
 * (engine_submit* in engine.h).
 *
 * Threads: submitters (HTTP threads, the pollers, the schedule) normalize
 * an event (engine_submit and engine_submit_many also match it against the
 * workflows now), queue it and wait; the ingest thread takes everything
 * queued (up to ENGINE_INGEST_BATCH) and writes it in ONE durable store
 * transaction, then wakes the submitters, the workers (runs were created)
 * and the matcher (events wait for it). A submission is answered only after
 * store_ingest returned for its batch. Matching after the answer is
 * match.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "engine/engine_internal.h"
#include "engine/engine_obj.h"
#include "engine/subjects.h"
#include "store/store.h"

struct pending {
    struct store_ingest_item item;
    struct engine__match match; /* for an event matched now: its runs (item.runs points here) */
    int64_t run_ids[ENGINE_ACK_MAX_RUNS];
    char *data_text;
    struct engine_subjects subjects; /* the event's (issue 17), borrowed by item.event until freed */
    bool done;
    int rc;
    char errmsg[256];
    struct pending *next;
};

static void pending_free(struct pending *p)
{
    if (p) {
        engine_subjects_clear(&p->subjects);
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
    /* a connector's normalized event: its members are .event's. A shallow
     * copy: only top-level members are set below, and every caller reads the
     * result and drops it (a deep copy was ~3% of a flood's CPU, issue 20) */
    event = json_copy((json_t *)ev->fields);
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
 * it is normalized, and matched now too when that needs no workflow's
 * expressions (then it is stored DONE with its runs), else stored for the
 * matcher; EXPAND: ev->data is stored as it is, a delivery for the
 * expander. Nothing is queued. */
static int prepare(struct engine *e, const struct engine_event *ev, enum store_event_stage stage,
                   struct pending **out, struct idf_err *err)
{
    struct pending *p = calloc(1, sizeof *p);
    json_t *event = NULL;
    int rc = 0;

    *out = NULL;
    if (!p)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    engine_subjects_init(&p->subjects);
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
    if (stage == STORE_EVENT_MATCH) {
        /* decided now when no workflow's expressions are needed: then the
         * runs are created with the event, and the matcher has nothing to do */
        struct engine__match *m = &p->match;
        m->type = ev->type;
        m->workflow = NULL;
        m->plain_only = true;
        engine__match(e->wfs, NULL, event, m); /* no expression is evaluated: no context */
        if (!m->deferred && !m->note[0])
            stage = STORE_EVENT_DONE; /* else its runs are the matcher's to decide: none is used here */
    } else if (stage == STORE_EVENT_DONE) {
        struct engine__match *m = &p->match;
        struct expr_ctx *ectx = engine__thread_expr(e);
        if (!ectx) {
            rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
            goto out;
        }
        m->type = ev->type;
        m->workflow = ev->workflow;
        m->plain_only = false;
        engine__match(e->wfs, ectx, event, m);
        if (ev->workflow && !m->found_named) {
            rc = idf_err_set(err, IDF_ENOTFOUND, "unknown workflow '%s'", ev->workflow);
            goto out;
        }
        if (ev->workflow && m->named_wrong_trigger) {
            rc = idf_err_set(err, IDF_EINVAL, "workflow '%s' is not started by a '%s' event", ev->workflow, ev->type);
            goto out;
        }
    }
    if (stage == STORE_EVENT_DONE) {
        struct engine__match *m = &p->match;
        p->item.runs = m->runs;
        p->item.n_runs = m->n_runs;
        p->item.run_ids = p->run_ids;
        /* issue 17: whom the event concerns, from its connector, written with the runs it starts (an
         * event stored for the matcher gets them when it is settled: match.c) */
        if (m->n_runs && engine_subjects_of_event(&p->subjects, e->opts.connectors, ev->source, ev->type, event)) {
            rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
            goto out;
        }
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
    p->item.event.via = ev->via;
    p->item.event.actor = ev->actor;
    p->item.event.subjects = p->subjects.n ? p->subjects.v : NULL;
    p->item.event.n_subjects = p->subjects.n;
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
    atomic_fetch_add(&e->m_ingest_queued, (long long)n);
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

int engine_submit_deliveries(struct engine *e, const char *source, const char *via, const char *connection,
                             const json_t *deliveries, struct idf_err *err)
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
        evs[i].via = via;
        evs[i].data = (json_t *)item;
    }
    rc = n ? submit(e, evs, n, STORE_EVENT_EXPAND, acks, err) : 0;
    free(evs);
    free(acks);
    return rc;
}

int engine_submit_events(struct engine *e, const char *source, const char *via, const char *connection,
                         const json_t *events, size_t *n_new_out, struct idf_err *err)
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
        evs[n].via = via;
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
        atomic_fetch_sub(&e->m_ingest_queued, (long long)n);
        atomic_store(&e->m_ingest_writing, (long long)n);
        pthread_mutex_unlock(&e->q_lock);

        for (size_t i = 0; i < n; i++)
            items[i] = batch[i]->item;
        idf_err_clear(&err);
        rc = st ? store_ingest(st, items, n, &err) : IDF_EDB;
        if (rc && !st)
            snprintf(err.msg, sizeof err.msg, "the store is not available");
        atomic_fetch_add(&e->m_batches, 1);
        atomic_store(&e->m_ingest_writing, 0);

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
        if (created) {
            engine__wake_workers(e);
            engine__notify_work(e); /* and the other nodes' (listen.c) */
        }
        if (later)
            engine__matcher_wake(e->matcher);
        pthread_mutex_lock(&e->q_lock);
    }
    pthread_mutex_unlock(&e->q_lock);
    store_close(st);
    free(items);
    return NULL;
}

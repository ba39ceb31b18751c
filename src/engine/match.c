/* match.c — deciding which workflows an event starts, and doing it after the
 * acknowledgement: the matcher and the expander threads.
 *
 * Matching (engine__match) runs a workflow's trigger filter and its `when:`
 * / `when_any:` conditions on the normalized event. It is called inline by
 * engine_submit for events whose submitter wants the run ids in its answer
 * (the API's POST /api/v1/events, the schedule), and by the matcher thread
 * for what arrives from outside (hooks, polls) when deciding needs a
 * workflow's `when:` / `when_any:` expressions: those events are stored in
 * stage MATCH, acknowledged, and only then matched, so a hook's answer never
 * waits on a workflow's expressions. An outside event that no workflow's
 * expressions decide (only trigger types and the connectors' C filters of
 * trigger parameters) is matched before it is stored, its runs created in
 * the ingest transaction (plain_only, engine_submit_events): under a flood
 * that saved a second transaction per event, its pages and a parse of the
 * stored event (issue 20). engine_match_flow makes
 * the same decision (the same code, `starts`) for one workflow outside the
 * set, enabled or not, and says why not (`idflow replay`, issue 19).
 *
 * The matcher takes the events waiting in stage MATCH (oldest first, up to
 * MATCHER_BATCH), matches each, and settles the batch in ONE transaction:
 * the runs are created and the events marked done together
 * (store_events_settle), so a crash in between leaves the events waiting and
 * they are matched again at the next start; an event starts its runs once.
 * A condition that fails (a jq error, or a limit of the isolated evaluator)
 * does not start that workflow; the event's note and the log say which
 * condition, where, and why.
 *
 * The expander takes the deliveries waiting in stage EXPAND (a HappyFox
 * webhook names a ticket to re-read), asks the connector's ingress->expand
 * for the events they stand for, and replaces each delivery by its events
 * (stage MATCH) in one transaction (store_event_expand). A retryable failure
 * puts the delivery off with an exponential backoff (EXPANDER_BACKOFF_*),
 * never less than a rate-limit reset the connector reports, and gives it up
 * after EXPANDER_MAX_TRIES; a permanent one gives it up at once, with a note
 * on the delivery and an error in the log. It is a thread of its own so a
 * slow remote delays only its own deliveries, never matching.
 *
 * Threads: one matcher and one expander, each with its own store connection
 * (and, for the expander, http client, connection cache and per-connector
 * slots). The ingest thread wakes them (engine__matcher_wake) after storing
 * events for them; each also looks again every MATCHER_IDLE_MS. `stopping`
 * and `gen` are guarded by `lock`. engine__matcher_stop (the engine's owner
 * thread) signals and joins both; an expansion in flight finishes first. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "credentials/credentials.h"
#include "connectors/connector.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/coord.h"
#include "engine/engine_internal.h"
#include "engine/engine_obj.h"
#include "engine/subjects.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "net/http.h"
#include "store/store.h"

#define MATCHER_BATCH 256              /* events matched and settled in one transaction */
#define MATCHER_IDLE_MS 1000           /* how often an idle thread looks again without a wake-up */
#define MATCHER_FAIL_MS 1000           /* pause after a store failure */
#define EXPANDER_BATCH 16              /* deliveries read at once */
#define EXPANDER_MAX_TRIES 20          /* retryable failures before a delivery is given up */
#define EXPANDER_BACKOFF_BASE_MS 1000  /* first retry after a failure */
#define EXPANDER_BACKOFF_MAX_MS 300000 /* longest pause between two tries */

/* ------------------------------------------------------------ matching */

struct match_ctx {
    const json_t *event; /* normalized event (jq .event), borrowed */
    struct expr_ctx *ectx;
    struct engine__match *out; /* NULL for engine_match_flow */
    char *note;                /* where failed conditions are noted (out->note, or the caller's why) */
    size_t note_n;
};

/* Appends "; " and the formatted text to m->note (truncated when full). */
static void note_add(struct match_ctx *m, const char *fmt, ...) IDF_PRINTF(2, 3);

static void note_add(struct match_ctx *m, const char *fmt, ...)
{
    size_t n;
    va_list ap;

    if (!m->note || !m->note_n)
        return;
    n = strlen(m->note);
    if (n + 3 >= m->note_n)
        return;
    if (n) {
        memcpy(m->note + n, "; ", 3);
        n += 2;
    }
    va_start(ap, fmt);
    vsnprintf(m->note + n, m->note_n - n, fmt, ap);
    va_end(ap);
}

/* One condition (kind "when" or "when_any", index i, written at `at`); a
 * failure counts as false and is logged and noted with where it is. */
static bool condition(struct match_ctx *m, const struct flow *f, const char *kind, size_t i, const char *jq,
                      struct flow_pos at, const json_t *in)
{
    struct idf_err e;
    bool yes = false;

    idf_err_clear(&e);
    if (expr_truthy(m->ectx, jq, in, &yes, &e)) {
        log_warn("workflow %s: %s:%d:%d: %s[%zu] '%.80s' failed, the event does not start it: %s", f->name, f->path,
                 at.line, at.col, kind, i, jq, e.msg);
        note_add(m, "workflow %s: %s:%d:%d: %s[%zu] '%.80s' failed: %s", f->name, f->path, at.line, at.col, kind, i, jq,
                 e.msg);
        return false;
    }
    return yes;
}

/* The conditions of f on the event. When m->out is NULL (engine_match_flow)
 * a false one is noted too (which one), not only a failed one. */
static bool conditions_hold(struct match_ctx *m, const struct flow *f)
{
    json_t *in = json_pack("{s:O,s:{s:s}}", "event", m->event, "workflow", "name", f->name);
    bool ok = in != NULL;

    if (!in)
        note_add(m, "out of memory");
    for (size_t i = 0; ok && i < f->n_when; i++) {
        ok = condition(m, f, "when", i, f->when[i], f->when_at[i], in);
        if (!ok && !m->out && !m->note[0])
            note_add(m, "%s:%d:%d: when[%zu] '%.80s' is false", f->path, f->when_at[i].line, f->when_at[i].col, i,
                     f->when[i]);
    }
    if (ok && f->n_when_any) {
        bool any = false;
        for (size_t i = 0; !any && i < f->n_when_any; i++)
            any = condition(m, f, "when_any", i, f->when_any[i], f->when_any_at[i], in);
        ok = any;
        if (!ok && !m->out && !m->note[0])
            note_add(m, "%s:%d:%d: none of the %zu when_any conditions holds", f->path, f->when_any_at[0].line,
                     f->when_any_at[0].col, f->n_when_any);
    }
    json_decref(in);
    return ok;
}

/* Whether the event (of type `type`) starts f, enabled or not: its trigger,
 * the trigger's parameters, then its conditions (the one decision both
 * engine__match and engine_match_flow make). */
static enum engine_start_why starts(struct match_ctx *m, const struct flow *f, const char *type)
{
    if (strcmp(f->trigger->name, type) != 0)
        return ENGINE_NOT_TRIGGER;
    if (f->trigger->match && !f->trigger->match(f->trigger_params, m->event))
        return ENGINE_NOT_PARAMS;
    if (!conditions_hold(m, f))
        return ENGINE_NOT_CONDITION;
    return ENGINE_STARTS;
}

static void match_one(void *ud, const struct flow *f, int64_t version)
{
    struct match_ctx *m = ud;
    struct engine__match *o = m->out;

    if (o->workflow) {
        if (strcmp(o->workflow, f->name) != 0)
            return;
        o->found_named = true;
        if (strcmp(f->trigger->name, o->type) != 0) {
            o->named_wrong_trigger = true;
            return;
        }
    } else if (strcmp(f->trigger->name, o->type) != 0) {
        return;
    }
    if (!f->enabled || o->deferred)
        return;
    if (o->plain_only && (f->n_when || f->n_when_any)) {
        o->deferred = true;
        return;
    }
    if (starts(m, f, o->type) != ENGINE_STARTS)
        return;
    if (o->n_runs >= ENGINE_ACK_MAX_RUNS) {
        log_warn("event matches more than %d workflows; %s not started", ENGINE_ACK_MAX_RUNS, f->name);
        note_add(m, "more than %d workflows match: %s not started", ENGINE_ACK_MAX_RUNS, f->name);
        return;
    }
    o->runs[o->n_runs].workflow = f->name;
    o->runs[o->n_runs].version = version;
    o->n_runs++;
}

enum engine_start_why engine_match_flow(struct expr_ctx *ectx, const struct flow *f, const char *type,
                                        const json_t *event, char *why, size_t why_n)
{
    char none[1] = "";
    struct match_ctx m = {
        .event = event, .ectx = ectx, .note = why && why_n ? why : none, .note_n = why && why_n ? why_n : sizeof none};

    m.note[0] = '\0';
    return starts(&m, f, type);
}

void engine__match(struct wfset *ws, struct expr_ctx *ectx, const json_t *event, struct engine__match *out)
{
    struct match_ctx m = {.event = event, .ectx = ectx, .out = out, .note = out->note, .note_n = sizeof out->note};

    out->found_named = false;
    out->named_wrong_trigger = false;
    out->deferred = false;
    out->n_runs = 0;
    out->note[0] = '\0';
    engine__wfset_each(ws, match_one, &m);
    if (out->deferred)
        out->n_runs = 0;
}

/* ------------------------------------------------------------- threads */

struct matcher {
    struct engine *e; /* borrowed */
    struct wfset *ws; /* borrowed */
    char *db_url;
    const struct seal_key *key; /* borrowed */
    const struct registry *reg; /* borrowed: the engine's connector table */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned long gen; /* guarded by lock: bumped by every wake-up */
    bool stopping;     /* guarded by lock */
    atomic_bool abort; /* set when stopping: abandons the expander's request in flight */
    pthread_t match_thread, expand_thread;
    bool match_started, expand_started;
};

void engine__matcher_wake(struct matcher *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->gen++;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

/* Waits until woken after gen, stopped, or ms passed. False when stopping. */
static bool wait_for(struct matcher *m, unsigned long gen, int64_t ms)
{
    struct timespec ts;
    bool go;

    time_deadline_ts(CLOCK_REALTIME, ms, &ts);
    pthread_mutex_lock(&m->lock);
    while (!m->stopping && m->gen == gen)
        if (pthread_cond_timedwait(&m->cond, &m->lock, &ts) == ETIMEDOUT)
            break;
    go = !m->stopping;
    pthread_mutex_unlock(&m->lock);
    return go;
}

static unsigned long current_gen(struct matcher *m, bool *stopping)
{
    unsigned long g;
    pthread_mutex_lock(&m->lock);
    g = m->gen;
    *stopping = m->stopping;
    pthread_mutex_unlock(&m->lock);
    return g;
}

/* Matches and settles one batch of waiting events; *n_out how many were read. */
static int match_batch(struct matcher *m, struct store *st, struct expr_ctx *ectx, size_t *n_out)
{
    struct store_event *evs[MATCHER_BATCH];
    struct store_settle *items = NULL;
    struct engine__match *res = NULL;
    struct engine_subjects *subj = NULL; /* each event's (issue 17) */
    int64_t *ids = NULL;
    struct idf_err err;
    size_t n = 0, created = 0;
    int rc;

    *n_out = 0;
    rc = store_events_pending(st, STORE_EVENT_MATCH, time_now_ms(), MATCHER_BATCH, evs, &n, &err);
    if (rc) {
        log_error("matcher: cannot read the waiting events: %s", err.msg);
        return rc;
    }
    if (n == 0)
        return 0;
    items = calloc(n, sizeof *items);
    res = calloc(n, sizeof *res);
    ids = calloc(n * ENGINE_ACK_MAX_RUNS, sizeof *ids);
    subj = calloc(n, sizeof *subj); /* zeroed: as engine_subjects_init */
    if (!items || !res || !ids || !subj) {
        rc = IDF_ENOMEM;
        log_error("matcher: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_error_t jerr;
        json_t *event = json_loads(evs[i]->data, JSON_DECODE_ANY, &jerr);

        res[i].type = evs[i]->type;
        items[i].event_id = evs[i]->id;
        items[i].run_ids = ids + i * ENGINE_ACK_MAX_RUNS;
        if (!event) {
            snprintf(res[i].note, sizeof res[i].note, "the stored event is not JSON: %s", jerr.text);
            log_error("matcher: event %lld: %s", (long long)evs[i]->id, res[i].note);
        } else {
            engine__match(m->ws, ectx, event, &res[i]);
            /* the event's subjects, written with each run it starts; without them (out of
             * memory) the runs are still created */
            if (res[i].n_runs && engine_subjects_of_event(&subj[i], m->reg, evs[i]->source, evs[i]->type, event))
                engine_subjects_clear(&subj[i]);
            json_decref(event);
        }
        items[i].subjects = subj[i].n ? subj[i].v : NULL;
        items[i].n_subjects = subj[i].n;
        items[i].runs = res[i].runs;
        items[i].n_runs = res[i].n_runs;
        items[i].note = res[i].note[0] ? res[i].note : NULL;
    }
    rc = store_events_settle(st, items, n, &err);
    if (rc) {
        log_error("matcher: cannot store the runs of %zu event(s); they stay waiting: %s", n, err.msg);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (items[i].settled)
            created += items[i].n_runs;
    engine__runs_created(m->e, created);
    *n_out = n;
out:
    for (size_t i = 0; i < n; i++) {
        store_event_free(evs[i]);
        if (subj)
            engine_subjects_clear(&subj[i]);
    }
    free(items);
    free(res);
    free(ids);
    free(subj);
    return rc;
}

static void *matcher_main(void *arg)
{
    struct matcher *m = arg;
    struct store *st = NULL;
    struct expr_ctx *ectx = engine__thread_expr(m->e);
    struct idf_err err;

    if (store_open(m->db_url, &st, &err) || !ectx) {
        log_error("matcher: cannot start: %s", ectx ? err.msg : "no expression context");
        store_close(st);
        return NULL;
    }
    for (;;) {
        bool stopping;
        unsigned long gen = current_gen(m, &stopping);
        size_t n = 0;
        int rc;

        if (stopping)
            break;
        rc = match_batch(m, st, ectx, &n);
        if (rc == 0 && n == MATCHER_BATCH)
            continue; /* more may be waiting */
        if (!wait_for(m, gen, rc ? MATCHER_FAIL_MS : MATCHER_IDLE_MS))
            break;
    }
    store_close(st);
    return NULL;
}

/* ---------------------------------------------------------- expander */

struct expander {
    struct matcher *m;
    struct store *st;
    struct http_client *http;
    struct cred_cache *conns;
    void *slots[ENGINE_MAX_CONNECTORS];
    struct engine_coord coord; /* over st, for the connectors' budgets (helper "pacing") */
};

static const struct connector *expanding_connector(const struct registry *reg, const char *name)
{
    const struct connector *c = registry_find(reg, name);
    return c && c->ingress && c->ingress->expand ? c : NULL;
}

/* Puts a delivery off after a failure, or gives it up (permanent, or too many tries). */
static void put_off(struct expander *x, const struct store_event *d, bool retryable, int64_t least_ms, const char *why)
{
    struct idf_err err;
    bool give_up = !retryable || d->tries + 1 >= EXPANDER_MAX_TRIES;
    int64_t wait = EXPANDER_BACKOFF_BASE_MS << (d->tries < 12 ? d->tries : 12);
    char note[700];

    if (wait > EXPANDER_BACKOFF_MAX_MS)
        wait = EXPANDER_BACKOFF_MAX_MS;
    if (wait < least_ms)
        wait = least_ms;
    if (give_up) {
        snprintf(note, sizeof note, "given up after %d tr%s: %s", d->tries + 1, d->tries ? "ies" : "y", why);
        log_error("expander: %s/%s delivery %lld %s", d->source, d->connection ? d->connection : "-", (long long)d->id,
                  note);
    } else {
        snprintf(note, sizeof note, "try %d failed, next in %lld ms: %s", d->tries + 1, (long long)wait, why);
        log_warn("expander: %s/%s delivery %lld: %s", d->source, d->connection ? d->connection : "-", (long long)d->id,
                 note);
    }
    if (store_event_retry(x->st, d->id, time_now_ms() + wait, note, give_up, &err))
        log_error("expander: cannot put delivery %lld off: %s", (long long)d->id, err.msg);
}

/* Stores the events ce_events (a connector's answer for delivery d, borrowed)
 * in place of the delivery, in stage match; puts the delivery off when it
 * cannot (too many, out of memory, the store failed). */
static void store_expansion(struct expander *x, const struct store_event *d, const struct connector *c,
                            const json_t *ce_events)
{
    struct store_ingest_item *items = NULL;
    struct engine_event *evs = NULL;
    char **texts = NULL;
    json_t *item;
    struct idf_err err;
    size_t n = json_array_size(ce_events), i;
    int rc;

    idf_err_clear(&err);
    if (n > CONN_INGRESS_MAX_EVENTS) {
        put_off(x, d, false, 0, "the delivery stands for more events than one delivery may yield");
        return;
    }
    items = calloc(n ? n : 1, sizeof *items);
    evs = calloc(n ? n : 1, sizeof *evs);
    texts = calloc(n ? n : 1, sizeof *texts);
    if (!items || !evs || !texts) {
        n = 0;
        put_off(x, d, true, 0, "out of memory");
        goto out;
    }
    n = 0;
    json_array_foreach ((json_t *)ce_events, i, item) {
        const char *id = json_string_value(json_object_get(item, "id"));
        const char *type = json_string_value(json_object_get(item, "type"));
        json_t *ev;
        if (!id || !type) {
            log_warn("expander: %s/%s: event %zu has no id or type; skipped", c->name, d->connection, i);
            continue;
        }
        evs[n].source = c->name;
        evs[n].source_id = id;
        evs[n].type = type;
        evs[n].connection = d->connection;
        evs[n].fields = item;
        evs[n].via = STORE_VIA_HOOK; /* deliveries come from hooks */
        ev = engine__event_json(&evs[n]);
        texts[n] = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
        json_decref(ev);
        if (!texts[n]) {
            put_off(x, d, true, 0, "out of memory");
            goto out;
        }
        items[n].event.source = c->name;
        items[n].event.source_id = id;
        items[n].event.type = type;
        items[n].event.connection = d->connection;
        items[n].event.data = texts[n];
        items[n].event.stage = STORE_EVENT_MATCH;
        items[n].event.via = evs[n].via; /* its subjects: when it is settled (match_batch) */
        n++;
    }
    rc = store_event_expand(x->st, d->id, items, n, NULL, &err);
    if (rc == IDF_ESTATE) {
        log_debug("expander: delivery %lld was expanded already", (long long)d->id);
    } else if (rc) {
        put_off(x, d, true, 0, err.msg);
    } else {
        size_t fresh = 0;
        for (size_t k = 0; k < n; k++)
            fresh += !items[k].duplicate;
        log_debug("expander: %s/%s delivery %lld: %zu event(s), %zu new", c->name, d->connection, (long long)d->id, n,
                  fresh);
        if (fresh)
            engine__matcher_wake(x->m);
    }
out:
    for (size_t k = 0; texts && k < n; k++)
        free(texts[k]);
    free(texts);
    free(items);
    free(evs);
}

/* Expands one delivery into its events (its connector's ingress->expand)
 * and stores them in its place (store_expansion). */
static void expand_one(struct expander *x, const struct store_event *d)
{
    const struct connector *c = expanding_connector(x->m->reg, d->source);
    struct conn_expand ce;
    const json_t *conn = NULL;
    json_t *delivery = NULL;
    struct idf_err err;
    int idx, rc;

    memset(&ce, 0, sizeof ce);
    idf_err_clear(&err);
    if (!c) {
        put_off(x, d, false, 0, "no connector expands this delivery");
        return;
    }
    if (!d->connection) {
        put_off(x, d, false, 0, "the delivery names no connection");
        return;
    }
    rc = cred_resolve(x->conns, x->st, c->name, d->connection, &conn, &err);
    if (rc) {
        put_off(x, d, rc != IDF_ENOTFOUND && rc != IDF_EINVAL, 0, err.msg);
        return;
    }
    delivery = json_loads(d->data, 0, NULL);
    if (!delivery) {
        put_off(x, d, false, 0, "the stored delivery is not JSON");
        return;
    }
    idx = registry_connector_index(x->m->reg, c);
    ce.http = x->http;
    ce.connection = conn;
    ce.connection_name = d->connection;
    ce.delivery = delivery;
    ce.thread_slot = idx >= 0 && idx < ENGINE_MAX_CONNECTORS ? &x->slots[idx] : NULL;
    ce.coord = &x->coord.pub;
    rc = c->ingress->expand(&ce);
    if (rc && atomic_load(&x->m->abort))
        goto out; /* abandoned because idflow stops: not a failure of the delivery */
    if (rc) {
        put_off(x, d, ce.retryable, ce.retry_after_ms, ce.message[0] ? ce.message : "the connector failed");
        goto out;
    }
    store_expansion(x, d, c, ce.events);
out:
    json_decref(ce.events);
    json_decref(delivery);
}

static void *expander_main(void *arg)
{
    struct matcher *m = arg;
    struct expander x;
    struct idf_err err;

    memset(&x, 0, sizeof x);
    x.m = m;
    if (store_open(m->db_url, &x.st, &err) || http_client_new(&x.http) ||
        cred_cache_new(m->key, CRED_RECHECK_MS, &x.conns)) {
        log_error("expander: cannot start: %s", x.st ? "no http client or connection cache" : err.msg);
        goto out;
    }
    http_client_set_abort(x.http, &m->abort);
    {
        char owner[ENGINE_COORD_OWNER_MAX];
        snprintf(owner, sizeof owner, "%s/expand", m->e->node_id);
        engine_coord_init(&x.coord, x.st, owner);
    }
    for (;;) {
        struct store_event *ds[EXPANDER_BATCH];
        bool stopping;
        unsigned long gen = current_gen(m, &stopping);
        size_t n = 0;
        int rc;

        if (stopping)
            break;
        rc = store_events_pending(x.st, STORE_EVENT_EXPAND, time_now_ms(), EXPANDER_BATCH, ds, &n, &err);
        if (rc)
            log_error("expander: cannot read the waiting deliveries: %s", err.msg);
        for (size_t i = 0; i < n; i++) {
            bool stop_now;
            (void)current_gen(m, &stop_now);
            if (!stop_now)
                expand_one(&x, ds[i]);
            store_event_free(ds[i]);
        }
        if (rc == 0 && n == EXPANDER_BATCH)
            continue;
        if (!wait_for(m, gen, rc ? MATCHER_FAIL_MS : MATCHER_IDLE_MS))
            break;
    }
out:
    registry_free_slots(x.m->reg, x.slots, ENGINE_MAX_CONNECTORS);
    cred_cache_free(x.conns);
    http_client_free(x.http);
    store_close(x.st);
    return NULL;
}

/* ---------------------------------------------------------- life cycle */

int engine__matcher_start(struct engine *e, struct wfset *ws, const struct engine_opts *opts, struct matcher **out,
                          struct idf_err *err)
{
    struct matcher *m = calloc(1, sizeof *m);

    *out = NULL;
    if (!m || !(m->db_url = strdup(opts->db_url))) {
        free(m);
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    }
    m->e = e;
    m->ws = ws;
    m->key = opts->key;
    m->reg = opts->connectors;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    *out = m;
    if (pthread_create(&m->match_thread, NULL, matcher_main, m) != 0)
        return idf_err_set(err, IDF_ENOMEM, "cannot start the matcher thread");
    m->match_started = true;
    if (pthread_create(&m->expand_thread, NULL, expander_main, m) != 0)
        return idf_err_set(err, IDF_ENOMEM, "cannot start the expander thread");
    m->expand_started = true;
    return 0;
}

void engine__matcher_stop(struct matcher *m)
{
    if (!m)
        return;
    atomic_store(&m->abort, true);
    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    if (m->match_started)
        pthread_join(m->match_thread, NULL);
    if (m->expand_started)
        pthread_join(m->expand_thread, NULL);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m->db_url);
    free(m);
}

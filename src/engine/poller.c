/* poller.c — the pull ingress: one thread that polls every connection whose
 * connector can be polled (connectors/connector.h, conn_ingress.poll) and
 * whose `mode` is "poll" or "both", and submits what it finds.
 *
 * For each connection: read its checkpoint (store cursor
 * "poll:<connector>:<connection>"), call the connector's poll, submit every
 * event through engine_submit (durable and deduplicated on (source,
 * source_id), so an event also pushed by a hook starts its workflows once),
 * and only then store the new checkpoint. A crash between the two re-reads
 * the page after the restart; the duplicates are absorbed by the dedup. A
 * failed poll or submission keeps the old checkpoint and backs off
 * exponentially (with jitter), never less than a rate-limit reset the
 * connector reports (a 429's X-Rate-Limit-Reset).
 *
 * The engine knows no connector by name here: everything goes through the
 * registry's descriptors. The set of connections is re-read every
 * POLLER_RESCAN_MS, so connections added or switched to polling while the
 * server runs are picked up.
 *
 * One node at a time: with several nodes on one database, each connection
 * is polled only by the node holding the lease "poll:<connector>:<connection>"
 * (engine__lease_take; the same name as its checkpoint, in the leases table).
 * Every entry's lease is taken or renewed every third of the singleton ttl
 * (engine_opts.singleton_ttl_ms), whether or not the connection is due; a
 * node that does not hold it makes no remote call for that connection and
 * tries again at its next renewal time, so when the holder dies the lease
 * expires and another node takes it within the ttl plus a third of it, and
 * goes on from the stored checkpoint. A stopping node drops its leases, so
 * another takes over at its next try. The dedup on (source, source_id)
 * stays the safety net for the overlap of a holder that stalled past its
 * lease.
 *
 * Threads: one poller thread owns its store connection, http client,
 * connection cache and per-connector slots; engine__pollers_stop (the
 * engine's owner thread) signals and joins it. `stopping` is guarded by
 * `lock`. */
#include <errno.h>
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
#include "net/http.h"
#include "store/store.h"

#define POLLER_MAX_CONNECTIONS 64   /* connections polled at once */
#define POLLER_RESCAN_MS 5000       /* how often the connection list is re-read */
#define POLLER_BACKOFF_BASE_MS 1000 /* first retry after a failure */
#define POLLER_BACKOFF_MAX_MS 300000
#define POLLER_CURSOR_MAX 300       /* bytes of a cursor name */

struct poll_entry {
    char name[CRED_NAME_MAX + 1];
    const struct connector *c;
    int64_t next_at;  /* when to poll next (ms since the epoch) */
    int attempt;      /* consecutive failures */
    bool seen;        /* still listed at the last rescan */
    bool held;        /* this node holds the entry's lease (as of lease_at's try) */
    int64_t lease_at; /* when to take or renew the lease next (ms) */
};

struct pollers {
    struct engine *e;          /* borrowed */
    char *db_url;
    const struct seal_key *key;/* borrowed */
    const struct registry *reg;/* borrowed: the engine's connector table */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;             /* guarded by lock */
    /* thread-owned */
    struct poll_entry entries[POLLER_MAX_CONNECTIONS];
    int n;
    void *slots[ENGINE_MAX_CONNECTORS];
    struct engine_coord coord; /* over the thread's store, for the connectors' budgets (helper "pacing") */
};

static bool stopping(struct pollers *p)
{
    bool s;
    pthread_mutex_lock(&p->lock);
    s = p->stopping;
    pthread_mutex_unlock(&p->lock);
    return s;
}

static void lease_name(const struct poll_entry *pe, char *out, size_t n)
{
    snprintf(out, n, "poll:%s:%s", pe->c->name, pe->name);
}

/* Gives up the entry's lease, if held, so another node takes it at once. */
static void drop_lease(struct pollers *p, struct store *st, struct poll_entry *pe)
{
    char name[POLLER_CURSOR_MAX];

    if (!pe->held)
        return;
    lease_name(pe, name, sizeof name);
    if (store_lease_drop(st, name, engine__lease_owner(p->e)) != 0)
        log_warn("poller: %s: cannot drop the lease (it expires by itself)", pe->name);
    pe->held = false;
}

/* Takes or renews the entry's lease when its time has come. */
static void renew_lease(struct pollers *p, struct store *st, struct poll_entry *pe, int64_t now)
{
    char name[POLLER_CURSOR_MAX];
    bool was = pe->held, held = false;

    if (now < pe->lease_at)
        return;
    lease_name(pe, name, sizeof name);
    if (engine__lease_take(p->e, st, name, &held) != 0) {
        log_warn("poller: %s: cannot take or renew the lease; not polling it until that works", pe->name);
        held = false;
    }
    pe->held = held;
    pe->lease_at = now + engine__singleton_ttl(p->e) / 3;
    if (held && !was)
        log_info("poller: %s: this node polls it now", pe->name);
    else if (!held && was)
        log_info("poller: %s: another node polls it now", pe->name);
}

/* Re-reads the connections to poll: adds new ones (due now), drops gone ones. */
static void rescan(struct pollers *p, struct store *st)
{
    struct store_connection_info *rows = NULL;
    size_t n_rows = 0;

    if (store_connection_list(st, &rows, &n_rows)) {
        log_warn("poller: cannot list connections");
        return;
    }
    for (int k = 0; k < p->n; k++)
        p->entries[k].seen = false;
    for (size_t i = 0; i < n_rows; i++) {
        const char *name = rows[i].name, *kind = rows[i].kind;
        const struct connector *c = NULL;
        json_t *config = cred_config_json(rows[i].config);
        enum conn_ingress_mode mode = conn_ingress_mode(config);
        int k;

        json_decref(config);

        if (!name || !kind || strlen(name) > CRED_NAME_MAX || !(mode & CONN_MODE_POLL))
            continue;
        c = registry_find(p->reg, kind);
        if (!c || !c->ingress || !c->ingress->poll)
            continue;
        for (k = 0; k < p->n; k++)
            if (p->entries[k].c == c && !strcmp(p->entries[k].name, name))
                break;
        if (k == p->n) {
            if (p->n == POLLER_MAX_CONNECTIONS) {
                log_warn("poller: more than %d connections to poll; %s is not polled", POLLER_MAX_CONNECTIONS, name);
                continue;
            }
            memset(&p->entries[k], 0, sizeof p->entries[k]);
            snprintf(p->entries[k].name, sizeof p->entries[k].name, "%s", name);
            p->entries[k].c = c;
            p->entries[k].next_at = 0;
            p->n++;
            log_info("poller: polling %s connection %s", c->name, name);
        }
        p->entries[k].seen = true;
    }
    for (int k = 0; k < p->n;) {
        if (!p->entries[k].seen) {
            log_info("poller: no longer polling %s", p->entries[k].name);
            drop_lease(p, st, &p->entries[k]);
            p->entries[k] = p->entries[--p->n];
        } else {
            k++;
        }
    }
    store_connection_list_free(rows, n_rows);
}

static void fail_later(struct poll_entry *pe, int64_t now, int64_t at_least_ms, const char *what)
{
    int64_t wait;
    pe->attempt++;
    wait = time_backoff_ms(pe->attempt, POLLER_BACKOFF_BASE_MS, POLLER_BACKOFF_MAX_MS);
    if (wait < at_least_ms)
        wait = at_least_ms;
    pe->next_at = now + wait;
    log_warn("poller: %s: %s; next attempt in %lld ms", pe->name, what, (long long)wait);
}

/* Polls one connection once. */
static void poll_one(struct pollers *p, struct store *st, struct http_client *http, struct cred_cache *cc,
                     struct poll_entry *pe)
{
    struct conn_poll cp;
    struct idf_err err;
    const json_t *conn = NULL;
    char cname[POLLER_CURSOR_MAX], *cursor = NULL;
    int64_t now = time_now_ms();
    int idx = registry_connector_index(p->reg, pe->c);
    size_t n_new = 0;
    int rc;

    memset(&cp, 0, sizeof cp);
    idf_err_clear(&err);
    snprintf(cname, sizeof cname, "poll:%s:%s", pe->c->name, pe->name);
    if (cred_resolve(cc, st, pe->c->name, pe->name, &conn, &err)) {
        fail_later(pe, now, 0, err.msg);
        return;
    }
    rc = store_cursor_get(st, cname, &cursor);
    if (rc && rc != IDF_ENOTFOUND) {
        fail_later(pe, now, 0, "cannot read the checkpoint");
        return;
    }
    cp.http = http;
    cp.connection = conn;
    cp.connection_name = pe->name;
    cp.cursor = cursor;
    cp.thread_slot = idx >= 0 && idx < ENGINE_MAX_CONNECTORS ? &p->slots[idx] : NULL;
    cp.coord = &p->coord.pub;
    rc = pe->c->ingress->poll(&cp);
    if (rc) {
        fail_later(pe, time_now_ms(), cp.retryable ? cp.retry_after_ms : POLLER_BACKOFF_MAX_MS, cp.message);
        goto out;
    }
    if (cp.events && engine_submit_events(p->e, pe->c->name, STORE_VIA_POLL, pe->name, cp.events, &n_new, &err)) {
        fail_later(pe, time_now_ms(), 0, err.msg);
        goto out;
    }
    /* every event is acknowledged: only now does the checkpoint move */
    if (cp.cursor_out && (!cursor || strcmp(cursor, cp.cursor_out) != 0) &&
        store_cursor_set(st, cname, cp.cursor_out)) {
        fail_later(pe, time_now_ms(), 0, "cannot store the checkpoint");
        goto out;
    }
    if (n_new)
        log_info("poller: %s: %zu new event(s)", pe->name, n_new);
    pe->attempt = 0;
    pe->next_at = time_now_ms() + (cp.next_poll_ms > 0 ? cp.next_poll_ms
                                   : pe->c->ingress->poll_interval_ms > 0 ? pe->c->ingress->poll_interval_ms
                                                                          : CONN_POLL_DEFAULT_MS);
out:
    json_decref(cp.events);
    free(cp.cursor_out);
    free(cursor);
}

static void wait_until(struct pollers *p, int64_t at)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(at / 1000);
    ts.tv_nsec = (long)(at % 1000) * 1000000L;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&p->lock);
}

static void *poller_main(void *arg)
{
    struct pollers *p = arg;
    struct store *st = NULL;
    struct http_client *http = NULL;
    struct cred_cache *cc = NULL;
    struct idf_err err;
    int64_t next_scan = 0;

    if (store_open(p->db_url, &st, &err) || http_client_new(&http) ||
        cred_cache_new(p->key, CRED_RECHECK_MS, &cc)) {
        log_error("poller: cannot start (store, http client or connection cache)");
        goto out;
    }
    {
        char owner[ENGINE_COORD_OWNER_MAX];
        snprintf(owner, sizeof owner, "%s/poll", p->e->node_id);
        engine_coord_init(&p->coord, st, owner);
    }
    while (!stopping(p)) {
        int64_t now = time_now_ms(), next;
        if (now >= next_scan) {
            rescan(p, st);
            next_scan = now + POLLER_RESCAN_MS;
        }
        for (int k = 0; k < p->n && !stopping(p); k++) {
            renew_lease(p, st, &p->entries[k], time_now_ms());
            if (p->entries[k].held && p->entries[k].next_at <= time_now_ms())
                poll_one(p, st, http, cc, &p->entries[k]);
        }
        next = next_scan;
        for (int k = 0; k < p->n; k++) {
            if (p->entries[k].held && p->entries[k].next_at < next)
                next = p->entries[k].next_at;
            if (p->entries[k].lease_at < next)
                next = p->entries[k].lease_at;
        }
        if (next > time_now_ms())
            wait_until(p, next);
    }
    for (int k = 0; k < p->n && st; k++)
        drop_lease(p, st, &p->entries[k]); /* stopping: another node takes over at its next try */
out:
    registry_free_slots(p->reg, p->slots, ENGINE_MAX_CONNECTORS);
    cred_cache_free(cc);
    http_client_free(http);
    store_close(st);
    return NULL;
}

int engine__pollers_start(struct engine *e, const struct engine_opts *opts, struct pollers **out,
                          struct idf_err *err)
{
    struct pollers *p;
    bool any = false;

    *out = NULL;
    for (size_t i = 0; i < opts->connectors->n; i++)
        any = any || (opts->connectors->list[i]->ingress && opts->connectors->list[i]->ingress->poll);
    if (!any)
        return 0;
    p = calloc(1, sizeof *p);
    if (!p || !(p->db_url = strdup(opts->db_url))) {
        free(p);
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    }
    p->e = e;
    p->key = opts->key;
    p->reg = opts->connectors;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (pthread_create(&p->thread, NULL, poller_main, p) != 0) {
        engine__pollers_stop(p);
        return idf_err_set(err, IDF_ENOMEM, "cannot start the poller thread");
    }
    p->started = true;
    *out = p;
    return 0;
}

void engine__pollers_stop(struct pollers *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (p->started)
        pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->db_url);
    free(p);
}

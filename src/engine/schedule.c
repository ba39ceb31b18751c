/* schedule.c — the clock ingress: one thread that fires the ticks of every
 * enabled workflow whose trigger is `schedule` (connectors/core/core.c
 * declares the trigger and checks its parameters; core/cron.h computes the
 * ticks).
 *
 * Each tick T of workflow W is submitted through engine_submit as a
 * `schedule` event for W alone, with source "schedule" and source_id
 * "W:<T as ISO-8601 UTC>", and data {scheduled_for, fired_at, timezone}.
 * The store deduplicates on (source, source_id), so a tick starts its run
 * once however often it is submitted: by a retry after a crash, or by two
 * nodes during a takeover.
 *
 * One node at a time: with several nodes on one database only the node
 * holding the lease "schedule" (engine__lease_take) fires ticks, so the
 * event rate does not grow with the nodes. Every node with scheduled
 * workflows runs this thread; each takes or renews the lease every third of
 * the singleton ttl (engine_opts.singleton_ttl_ms). A node that gains the
 * lease resumes every workflow from its cursor first (below), so a tick the
 * dead holder missed fires late, once; the dedup absorbs a tick both fired
 * (the holder died between submitting it and storing its cursor). Takeover
 * after a holder's death: within the ttl plus a third of it, plus up to one
 * tick. A stopping node drops the lease.
 *
 * Restarts: after each acknowledged tick the ticker stores T in the store
 * cursor "schedule:W". At start, when the cursor exists and ticks fell
 * between it and now (idflow was down), the most recent of them fires once;
 * the older ones are dropped. A workflow seen for the first time gets the
 * cursor "now" and fires nothing until its next tick. The same rule covers
 * a clock that jumps forward while running (a suspended machine): one late
 * tick, not a burst.
 *
 * Threads: the ticker owns its store connection and its entries; the
 * engine's owner thread starts it (engine_start) and stops it
 * (engine__schedule_stop, before the engine stops taking submissions).
 * Between ticks it sleeps on `cond` until the earliest next tick (wall
 * clock: CLOCK_REALTIME, the condition variable's default) or until stop
 * wakes it; `stopping` is guarded by `lock`. Flows are borrowed from the
 * workflow set, which outlives the ticker. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/connector.h"
#include "core/cron.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/engine_internal.h"
#include "flow/flow.h"
#include "store/store.h"

#define SCHEDULE_TRIGGER "schedule"        /* the core connector's trigger name */
#define SCHEDULE_MAX_WORKFLOWS 10000       /* scheduled workflows handled at most */
#define SCHEDULE_NAME_MAX 512              /* bytes of a cursor name or source id */
#define SCHEDULE_RETRY_BASE_MS 1000        /* first retry after a failed submission */
#define SCHEDULE_RETRY_MAX_MS 60000
#define SCHEDULE_LEASE "schedule"          /* the lease naming the node that fires ticks */

struct sched_entry {
    const struct flow *f;      /* borrowed from the workflow set */
    struct cron_expr cron;
    char tz[CRON_TZ_MAX + 1];  /* "UTC" when not stated */
    int64_t next;              /* the next tick to fire (s since the epoch), -1: none ever */
    int64_t retry_at;          /* after a failed submission: not before (ms), else 0 */
    int attempt;               /* consecutive failed submissions */
};

struct schedule {
    struct engine *e;          /* borrowed */
    char *db_url;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;             /* guarded by lock */
    /* built before the thread starts, then thread-owned */
    struct sched_entry *entries;
    size_t n, cap;
    int oom;                   /* collecting ran out of memory */
    bool held;                 /* thread-owned: this node holds the lease "schedule" */
    int64_t lease_at;          /* thread-owned: when to take or renew it next (ms) */
};

static bool stopping(struct schedule *s)
{
    bool v;
    pthread_mutex_lock(&s->lock);
    v = s->stopping;
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void iso_s(int64_t t, char *out, size_t n)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* wfset_each callback: keeps the enabled schedule workflows. */
static void collect(void *ud, const struct flow *f, int64_t version)
{
    struct schedule *s = ud;
    struct sched_entry *en;
    const char *cron = json_string_value(json_object_get(f->trigger_params, "cron"));
    const char *tz = json_string_value(json_object_get(f->trigger_params, "timezone"));
    struct idf_err err;

    (void)version;
    if (!f->enabled || strcmp(f->trigger->name, SCHEDULE_TRIGGER) != 0)
        return;
    if (s->n == SCHEDULE_MAX_WORKFLOWS) {
        log_warn("schedule: more than %d scheduled workflows; %s is not scheduled", SCHEDULE_MAX_WORKFLOWS,
                 f->name);
        return;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct sched_entry *p = realloc(s->entries, cap * sizeof *p);
        if (!p) {
            s->oom = 1;
            return;
        }
        s->entries = p;
        s->cap = cap;
    }
    en = &s->entries[s->n];
    memset(en, 0, sizeof *en);
    en->f = f;
    snprintf(en->tz, sizeof en->tz, "%s", tz && *tz ? tz : "UTC");
    /* validated when the workflow was loaded; a failure here is a bug elsewhere, not a crash */
    if (!cron || cron_parse(cron, &en->cron, &err) || cron_tz_check(en->tz, &err)) {
        log_warn("schedule: %s: not scheduled: %s", f->name, cron ? err.msg : "no cron expression");
        return;
    }
    s->n++;
}

/* Submits tick t of en and records it in the cursor. 0 once acknowledged. */
static int fire(struct schedule *s, struct store *st, struct sched_entry *en, int64_t t)
{
    char tick[40], fired[40], sid[SCHEDULE_NAME_MAX], cname[SCHEDULE_NAME_MAX];
    struct engine_event ev;
    struct engine_ack ack;
    struct idf_err err;
    json_t *data = NULL;
    int rc;

    iso_s(t, tick, sizeof tick);
    time_format_iso(time_now_ms(), fired, sizeof fired);
    snprintf(sid, sizeof sid, "%s:%s", en->f->name, tick);
    snprintf(cname, sizeof cname, "schedule:%s", en->f->name);
    data = json_pack("{s:s,s:s,s:s}", "scheduled_for", tick, "fired_at", fired, "timezone", en->tz);
    if (!data)
        return IDF_ENOMEM;
    memset(&ev, 0, sizeof ev);
    ev.source = SCHEDULE_TRIGGER;
    ev.source_id = sid;
    ev.type = SCHEDULE_TRIGGER;
    ev.workflow = en->f->name;
    ev.via = STORE_VIA_SCHEDULE; /* issue 17 */
    ev.data = data;
    idf_err_clear(&err);
    rc = engine_submit(s->e, &ev, &ack, &err);
    if (rc) {
        en->attempt++;
        en->retry_at = time_now_ms() + time_backoff_ms(en->attempt, SCHEDULE_RETRY_BASE_MS, SCHEDULE_RETRY_MAX_MS);
        log_warn("schedule: %s: tick %s not submitted (%s); retrying", en->f->name, tick, err.msg);
        goto out;
    }
    en->attempt = 0;
    en->retry_at = 0;
    if (ack.duplicate)
        log_info("schedule: %s: tick %s was already fired", en->f->name, tick);
    else
        log_info("schedule: %s: tick %s started %zu run(s)", en->f->name, tick, ack.n_runs);
    if (store_cursor_set(st, cname, tick))
        log_warn("schedule: %s: cannot store the last tick (a restart may submit it again: deduplicated)",
                 en->f->name);
out:
    json_decref(data);
    return rc;
}

/* After tick `from` (fired, or the restart point): the next one to fire,
 * which is the latest tick already due when the clock is past several. */
static void plan(struct sched_entry *en, int64_t from, int64_t now)
{
    struct idf_err err;
    int64_t t;

    if (cron_next(&en->cron, en->tz, from, &t, &err)) {
        log_warn("schedule: %s: %s; no further ticks", en->f->name, err.msg);
        en->next = -1;
        return;
    }
    if (t <= now) {
        int64_t first = t;
        if (cron_last(&en->cron, en->tz, from, now, &t, &err) == 0 && t != first)
            log_info("schedule: %s: several ticks were missed; firing only the latest", en->f->name);
    }
    en->next = t;
}

/* At thread start: where each workflow's schedule resumes. */
static void resume(struct store *st, struct sched_entry *en)
{
    char cname[SCHEDULE_NAME_MAX], now_iso[40], *cursor = NULL;
    int64_t now = time_now_ms() / 1000, last_ms;
    int rc;

    snprintf(cname, sizeof cname, "schedule:%s", en->f->name);
    rc = store_cursor_get(st, cname, &cursor);
    if (rc == 0 && time_parse_iso(cursor, &last_ms) == 0 && last_ms / 1000 <= now) {
        plan(en, last_ms / 1000, now);
    } else {
        if (rc && rc != IDF_ENOTFOUND)
            log_warn("schedule: %s: cannot read the last tick; starting from now", en->f->name);
        iso_s(now, now_iso, sizeof now_iso);
        if (store_cursor_set(st, cname, now_iso))
            log_warn("schedule: %s: cannot store the start point", en->f->name);
        plan(en, now, now);
    }
    free(cursor);
}

static void wait_until_ms(struct schedule *s, int64_t at)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(at / 1000);
    ts.tv_nsec = (long)(at % 1000) * 1000000L;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&s->lock);
}

static void *schedule_main(void *arg)
{
    struct schedule *s = arg;
    struct store *st = NULL;
    struct idf_err err;

    if (store_open(s->db_url, &st, &err)) {
        log_error("schedule: cannot open the store: %s; no scheduled workflow will run", err.msg);
        goto out;
    }
    while (!stopping(s)) {
        int64_t now_ms = time_now_ms(), wake = INT64_MAX;

        if (now_ms >= s->lease_at) {
            bool was = s->held;
            if (engine__lease_take(s->e, st, SCHEDULE_LEASE, &s->held) != 0) {
                log_warn("schedule: cannot take or renew the lease; no tick fires until that works");
                s->held = false;
            }
            s->lease_at = now_ms + engine__singleton_ttl(s->e) / 3;
            if (s->held && !was) {
                /* the cursors moved while another node ticked: start from them */
                log_info("schedule: this node fires the ticks now");
                for (size_t i = 0; i < s->n; i++)
                    resume(st, &s->entries[i]);
            } else if (!s->held && was) {
                log_info("schedule: another node fires the ticks now");
            }
        }
        for (size_t i = 0; i < s->n && s->held && !stopping(s); i++) {
            struct sched_entry *en = &s->entries[i];
            if (en->next < 0 || en->next * 1000 > now_ms || en->retry_at > now_ms)
                continue;
            if (fire(s, st, en, en->next) == 0)
                plan(en, en->next, time_now_ms() / 1000);
        }
        for (size_t i = 0; i < s->n && s->held; i++) {
            const struct sched_entry *en = &s->entries[i];
            int64_t at = en->retry_at > en->next * 1000 ? en->retry_at : en->next * 1000;
            if (en->next >= 0 && at < wake)
                wake = at;
        }
        if (s->lease_at < wake)
            wake = s->lease_at; /* renew, or try to take over */
        if (wake > time_now_ms())
            wait_until_ms(s, wake);
    }
    if (s->held && store_lease_drop(st, SCHEDULE_LEASE, engine__lease_owner(s->e)) != 0)
        log_warn("schedule: cannot drop the lease (it expires by itself)");
out:
    store_close(st);
    return NULL;
}

int engine__schedule_start(struct engine *e, struct wfset *ws, const struct engine_opts *opts,
                           struct schedule **out, struct idf_err *err)
{
    struct schedule *s = calloc(1, sizeof *s);
    int rc = 0;

    *out = NULL;
    if (!s || !(s->db_url = strdup(opts->db_url))) {
        free(s);
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    }
    s->e = e;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    engine__wfset_each(ws, collect, s);
    if (s->oom) {
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
        goto out;
    }
    if (s->n == 0)
        goto out; /* nothing scheduled: no thread */
    if (pthread_create(&s->thread, NULL, schedule_main, s) != 0) {
        rc = idf_err_set(err, IDF_ENOMEM, "cannot start the schedule thread");
        goto out;
    }
    s->started = true;
    log_info("schedule: %zu scheduled workflow(s)", s->n);
    *out = s;
    s = NULL;
out:
    engine__schedule_stop(s);
    return rc;
}

void engine__schedule_stop(struct schedule *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->started)
        pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s->entries);
    free(s->db_url);
    free(s);
}

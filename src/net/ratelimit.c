/* ratelimit.c — the process-wide rate limiter (see ratelimit.h for the
 * protocol and the pacing rule).
 *
 * Owns: the table of scopes and their buckets, pacing decisions, the skew
 * between the server's clock and ours, parsing of the rate-limit headers.
 * Leaves to callers: choosing the scope key and the bucket of a request,
 * turning a wait into a retryable failure, performing the call.
 *
 * Threads: any. The singleton `rl_scopes` is guarded by `rl_lock`; every
 * critical section is a few comparisons, never a call out.
 *
 * Invariants (under rl_lock), per scope slot s and bucket b:
 *  - s->inflight == sum of b->pending over its buckets == grants handed out
 *    and not yet released (a recycled slot bumps s->gen, and releases of
 *    older generations are ignored, so counters never go negative);
 *  - a slot is recycled only when s->inflight == 0;
 *  - b->known implies b->limit > 0 and b->reset_s > 0; b->remaining is the
 *    lowest X-Rate-Limit-Remaining seen for the window ending at b->reset_s;
 *  - b->tokens <= burst_of(b) (negative: the debt of follow-up calls) are
 *    the calls that may go back to back, refilled at (budget left) / (time
 *    to the reset): the budget is spread over the window while an action's
 *    few sequential calls do not wait on an idle connection;
 *  - s->skew_ms never exceeds the true (server - local) clock offset: it
 *    follows the largest sample (each <= that offset), decaying slowly
 *    towards newer samples so a clock change is followed. */
#include "net/ratelimit.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL_SKEW_DECAY_MS 10        /* per sample, so a clock change is followed */
#define RL_NO_DATE_PAD_MS 1000     /* reset padding when the server sent no Date */
#define RL_WINDOW_GUESS_MS 60000.0 /* window length assumed to spread waiters past a reset (Okta: a minute) */

struct rl_bucket {
    char name[RATELIMIT_MAX_BUCKET_NAME];
    bool known;            /* rate headers seen */
    bool unmetered;        /* answers came without rate headers: only the concurrency cap applies */
    long limit;            /* X-Rate-Limit-Limit of the current window */
    long remaining;        /* lowest remaining seen in the current window */
    int64_t reset_s;       /* end of the current window, server epoch seconds */
    double tokens;         /* pacing: calls that may go at once (refilled at budget / time left) */
    int64_t tok_ms;        /* when tokens were last refilled */
    int64_t promised_ms;   /* latest time a waiter was told to come back */
    int64_t blocked_until; /* after a 429: no grant before this local time */
    int pending;           /* granted, not released */
    uint64_t granted, waits, seen_429;
};

struct rl_scope {
    unsigned gen; /* bumped when the slot is (re)assigned */
    char key[RATELIMIT_MAX_KEY];
    int max_conc;          /* calls in flight allowed */
    int share_pct;         /* share of each bucket's limit this scope may use, as configured */
    int learned_pct;       /* share learned from a 429 (0 = none): the lower of the two is used */
    int nodes;             /* live nodes sharing the remote's limits (>= 1): the cap is split (ratelimit.h) */
    int inflight;          /* granted, not released */
    int64_t blocked_until; /* after a concurrency 429 */
    bool skew_known;
    int64_t skew_ms;  /* server clock - local clock (estimate, <= truth) */
    int64_t last_use; /* for recycling idle slots */
    int nb;
    struct rl_bucket b[RATELIMIT_MAX_BUCKETS];
};

static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rl_scope *rl_scopes[RATELIMIT_MAX_SCOPES]; /* guarded by rl_lock; slots allocated on demand */
static unsigned rl_gen;                                  /* guarded by rl_lock */

static int64_t clamp_wait(int64_t w)
{
    if (w < 1)
        return 1;
    return w > RATELIMIT_MAX_WAIT_MS ? RATELIMIT_MAX_WAIT_MS : w;
}

static void scope_init(struct rl_scope *s, const char *key, int64_t now)
{
    memset(s, 0, sizeof *s);
    s->gen = ++rl_gen;
    snprintf(s->key, sizeof s->key, "%s", key);
    s->max_conc = RATELIMIT_DEFAULT_CONCURRENCY;
    s->share_pct = 100;
    s->nodes = 1;
    s->last_use = now;
}

/* The slot index of key, created (or recycled from the idlest slot) when
 * create is set; -1 when absent or when every slot is busy. */
static int scope_find(const char *key, int64_t now, bool create)
{
    int free_slot = -1, idle = -1;

    for (int i = 0; i < RATELIMIT_MAX_SCOPES; i++) {
        struct rl_scope *s = rl_scopes[i];
        if (!s) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (strcmp(s->key, key) == 0)
            return i;
        if (s->inflight == 0 && (idle < 0 || s->last_use < rl_scopes[idle]->last_use))
            idle = i;
    }
    if (!create || strlen(key) >= RATELIMIT_MAX_KEY)
        return -1;
    if (free_slot >= 0) {
        rl_scopes[free_slot] = malloc(sizeof(struct rl_scope));
        if (!rl_scopes[free_slot])
            return -1;
        scope_init(rl_scopes[free_slot], key, now);
        return free_slot;
    }
    if (idle < 0)
        return -1;
    scope_init(rl_scopes[idle], key, now);
    return idle;
}

static int bucket_find(struct rl_scope *s, const char *name, bool create)
{
    for (int i = 0; i < s->nb; i++) {
        if (strcmp(s->b[i].name, name) == 0)
            return i;
    }
    if (!create || s->nb >= RATELIMIT_MAX_BUCKETS || strlen(name) >= RATELIMIT_MAX_BUCKET_NAME)
        return -1;
    memset(&s->b[s->nb], 0, sizeof s->b[s->nb]);
    snprintf(s->b[s->nb].name, sizeof s->b[s->nb].name, "%s", name);
    return s->nb++;
}

/* The share of each bucket the scope may use now. */
static int share_of(const struct rl_scope *s)
{
    return s->learned_pct > 0 && s->learned_pct < s->share_pct ? s->learned_pct : s->share_pct;
}

/* The local time at which bucket b's window ends. */
static int64_t window_end(const struct rl_scope *s, const struct rl_bucket *b)
{
    if (s->skew_known)
        return b->reset_s * 1000 - s->skew_ms;
    return b->reset_s * 1000 + RL_NO_DATE_PAD_MS;
}

/* Calls that may go back to back: RATELIMIT_BURST, or 1% of the limit. */
static long burst_of(const struct rl_bucket *b)
{
    return b->limit / 100 > RATELIMIT_BURST ? b->limit / 100 : RATELIMIT_BURST;
}

/* This node's part of the scope's concurrency cap: ceil(cap / nodes). */
static int conc_of(const struct rl_scope *s)
{
    return (s->max_conc + s->nodes - 1) / s->nodes;
}


/* A waiter's time to come back: `earliest`, or one pace interval after the
 * previous waiter's, whichever is later. Waiters are so spread over the
 * pace instead of all waking at the same moment (with durable waits, a herd
 * of runs re-reading and re-asking); a grant still goes to whoever asks when
 * a call may go, so a waiter that never returns costs nothing. */
static int64_t promise(struct rl_bucket *b, int64_t now, int64_t earliest, double interval_ms)
{
    int64_t slot = earliest;
    int64_t next = b->promised_ms + (int64_t)(interval_ms + 0.5);

    if (b->promised_ms > now && next > slot)
        slot = next;
    b->promised_ms = slot;
    return slot - now;
}

/* The wait (0 = go) for one more call in b at now. Updates pacing on go. */
static int64_t decide(struct rl_scope *s, struct rl_bucket *b, int64_t now, bool follow_up)
{
    if (s->blocked_until > now)
        return s->blocked_until - now;
    if (b->blocked_until > now)
        return b->blocked_until - now;
    if (s->inflight >= conc_of(s))
        return RATELIMIT_CONC_WAIT_MS;
    if (!b->known)
        return b->pending > 0 && !b->unmetered ? RATELIMIT_PROBE_WAIT_MS : 0; /* learn the window first */

    int64_t end = window_end(s, b);
    if (now >= end) /* the window is over: one call opens and reveals the next */
        return b->pending > 0 ? RATELIMIT_PROBE_WAIT_MS : 0;

    long reserve = b->limit * (100 - share_of(s)) / 100;
    long margin = (b->limit - reserve) / 100 > 1 ? (b->limit - reserve) / 100 : 1; /* 1 % of our share */
    long budget = b->remaining - reserve - margin - b->pending;
    if (budget <= 0) /* spent: come back after the reset, spread at the limit's pace */
        return promise(b, now, end, RL_WINDOW_GUESS_MS / (double)b->limit);
    /* Refill at the rate that spends the budget exactly by the reset. */
    double rate = (double)budget / (double)(end - now); /* calls per ms */
    double cap = (double)burst_of(b);
    if (cap > (double)budget)
        cap = (double)budget;
    if (now > b->tok_ms)
        b->tokens += rate * (double)(now - b->tok_ms);
    b->tok_ms = now;
    if (b->tokens > cap)
        b->tokens = cap;
    if (b->tokens < 1.0 && !follow_up)
        return promise(b, now, now + (int64_t)((1.0 - b->tokens) / rate) + 1, 1.0 / rate);
    b->tokens -= 1.0; /* a follow-up may run into debt: later admissions repay it */
    return 0;
}

int64_t ratelimit_acquire(const char *scope, const char *bucket, int64_t now_ms, bool follow_up,
                          struct ratelimit_grant *g)
{
    int64_t wait = 0;

    g->scope = -1;
    g->gen = 0;
    g->bucket = -1;
    g->at_ms = now_ms;
    pthread_mutex_lock(&rl_lock);
    int si = scope_find(scope, now_ms, true);
    struct rl_scope *s = si >= 0 ? rl_scopes[si] : NULL;
    int bi = s ? bucket_find(s, bucket, true) : -1;
    if (bi < 0)
        goto out; /* tables full: let the call through untracked */
    struct rl_bucket *b = &s->b[bi];
    s->last_use = now_ms;
    wait = decide(s, b, now_ms, follow_up);
    if (wait > 0) {
        b->waits++;
        wait = clamp_wait(wait);
        goto out;
    }
    s->inflight++;
    b->pending++;
    b->granted++;
    g->scope = si;
    g->gen = s->gen;
    g->bucket = bi;
out:
    pthread_mutex_unlock(&rl_lock);
    return wait;
}

static void observe_skew(struct rl_scope *s, const struct ratelimit_obs *obs, bool reset_estimate)
{
    if (obs->date_ms <= 0 || obs->recv_ms <= 0)
        return;
    int64_t sample = obs->date_ms - obs->recv_ms;
    if (!s->skew_known || sample > s->skew_ms || reset_estimate) {
        s->skew_ms = sample;
        s->skew_known = true;
    } else if (s->skew_ms - RL_SKEW_DECAY_MS > sample) {
        s->skew_ms -= RL_SKEW_DECAY_MS;
    } else {
        s->skew_ms = sample;
    }
}

static void observe_window(struct rl_bucket *b, const struct ratelimit_obs *obs)
{
    if (obs->limit <= 0 || obs->remaining < 0 || obs->reset_s <= 0)
        return;
    if (!b->known || obs->reset_s > b->reset_s) { /* a new window */
        b->known = true;
        b->limit = obs->limit;
        b->remaining = obs->remaining;
        b->reset_s = obs->reset_s;
        b->tokens = (double)burst_of(b);
        b->tok_ms = obs->recv_ms;
    } else if (obs->reset_s == b->reset_s) {
        b->limit = obs->limit;
        if (obs->remaining < b->remaining)
            b->remaining = obs->remaining;
    } /* else: a late answer from an older window */
}

/* A time-based 429 while the org-wide figures still showed room beyond what
 * the reserve keeps: the credential's own share is smaller than we thought.
 * The share becomes what the org had used at that moment (an upper bound of
 * ours), never below RATELIMIT_MIN_SHARE; it only ever goes down. Returns
 * the new share, or 0 when nothing was learned. */
static int learn_share(struct rl_scope *s, const struct ratelimit_obs *obs)
{
    if (obs->limit <= 0 || obs->remaining < 0 || obs->remaining > obs->limit)
        return 0;
    long reserve = obs->limit * (100 - share_of(s)) / 100;
    if (obs->remaining <= reserve) /* explained by the share we assumed (and others' use) */
        return 0;
    long used = obs->limit - obs->remaining;
    int pct = (int)(used * 100 / obs->limit);
    if (pct < RATELIMIT_MIN_SHARE)
        pct = RATELIMIT_MIN_SHARE;
    if (pct >= share_of(s))
        return 0;
    s->learned_pct = pct;
    return pct;
}

int ratelimit_release(struct ratelimit_grant *g, const struct ratelimit_obs *obs)
{
    int learned = 0;

    if (!g || g->scope < 0)
        return 0;
    pthread_mutex_lock(&rl_lock);
    struct rl_scope *s = rl_scopes[g->scope];
    if (!s || s->gen != g->gen || g->bucket < 0 || g->bucket >= s->nb)
        goto out;
    struct rl_bucket *b = &s->b[g->bucket];
    if (s->inflight > 0)
        s->inflight--;
    if (b->pending > 0)
        b->pending--;
    if (!obs || obs->status <= 0)
        goto out;
    if (obs->recv_ms > s->last_use)
        s->last_use = obs->recv_ms;
    if (obs->status == 429) {
        b->seen_429++;
        /* Our view was wrong somewhere: trust this answer's clock outright. */
        observe_skew(s, obs, true);
        int64_t until = obs->recv_ms + ratelimit_retry_after_ms(obs);
        if (obs->limit == 0) {
            if (until > s->blocked_until)
                s->blocked_until = until;
        } else {
            learned = learn_share(s, obs);
            if (until > b->blocked_until)
                b->blocked_until = until;
            if (obs->limit > 0 && obs->reset_s > 0) {
                struct ratelimit_obs spent = *obs;
                spent.remaining = 0;
                observe_window(b, &spent);
            }
        }
        goto out;
    }
    observe_skew(s, obs, false);
    observe_window(b, obs);
    if (!b->known && obs->limit < 0 && obs->remaining < 0)
        b->unmetered = true;
out:
    pthread_mutex_unlock(&rl_lock);
    g->scope = -1;
    return learned;
}

/* Parses a whole non-negative decimal integer; -1 otherwise. */
static long long header_int(const json_t *headers, const char *name)
{
    const char *v = json_string_value(json_object_get(headers, name));
    char *end = NULL;
    long long n;

    if (!v || *v < '0' || *v > '9')
        return -1;
    errno = 0;
    n = strtoll(v, &end, 10);
    while (end && (*end == ' ' || *end == '\t'))
        end++;
    if (errno || !end || *end)
        return -1;
    return n;
}

void ratelimit_parse_headers(const json_t *headers, long status, int64_t recv_ms, struct ratelimit_obs *obs)
{
    const char *date = json_string_value(json_object_get(headers, "date"));
    long long v;

    obs->status = status;
    obs->recv_ms = recv_ms;
    v = header_int(headers, "x-rate-limit-limit");
    obs->limit = v >= 0 && v < 100000000 ? (long)v : -1;
    v = header_int(headers, "x-rate-limit-remaining");
    obs->remaining = v >= 0 && v < 100000000 ? (long)v : -1;
    v = header_int(headers, "x-rate-limit-reset");
    obs->reset_s = v > 0 && v < 100000000000LL ? (int64_t)v : -1;
    obs->date_ms = -1;
    if (date) {
        time_t t = curl_getdate(date, NULL);
        if (t > 0)
            obs->date_ms = (int64_t)t * 1000;
    }
}

int64_t ratelimit_retry_after_ms(const struct ratelimit_obs *obs)
{
    int64_t w;

    if (!obs || obs->reset_s <= 0) {
        w = RATELIMIT_DEFAULT_429_WAIT_MS;
    } else {
        int64_t base = obs->date_ms > 0 ? obs->date_ms : obs->recv_ms;
        w = obs->reset_s * 1000 - base;
        if (w < 1000)
            w = 1000;
    }
    if (obs && obs->limit == 0 && w > RATELIMIT_CONC_429_BLOCK_MS)
        w = RATELIMIT_CONC_429_BLOCK_MS;
    return w > RATELIMIT_MAX_WAIT_MS ? RATELIMIT_MAX_WAIT_MS : w;
}

void ratelimit_nodes(const char *scope, int nodes)
{
    if (nodes < 1)
        nodes = 1;
    if (nodes > RATELIMIT_MAX_NODES)
        nodes = RATELIMIT_MAX_NODES;
    pthread_mutex_lock(&rl_lock);
    int si = scope_find(scope, 0, true);
    if (si >= 0)
        rl_scopes[si]->nodes = nodes;
    pthread_mutex_unlock(&rl_lock);
}

void ratelimit_configure(const char *scope, int max_concurrency, int share_pct)
{
    pthread_mutex_lock(&rl_lock);
    int si = scope_find(scope, 0, true);
    if (si >= 0) {
        struct rl_scope *s = rl_scopes[si];
        if (max_concurrency <= 0)
            max_concurrency = RATELIMIT_DEFAULT_CONCURRENCY;
        if (max_concurrency > RATELIMIT_MAX_CONCURRENCY)
            max_concurrency = RATELIMIT_MAX_CONCURRENCY;
        if (share_pct <= 0 || share_pct > 100)
            share_pct = 100;
        s->max_conc = max_concurrency;
        s->share_pct = share_pct;
    }
    pthread_mutex_unlock(&rl_lock);
}

bool ratelimit_stats(const char *scope, const char *bucket, struct ratelimit_stats *out)
{
    bool found = false;

    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&rl_lock);
    int si = scope_find(scope, 0, false);
    int bi = si >= 0 ? bucket_find(rl_scopes[si], bucket, false) : -1;
    if (bi >= 0) {
        const struct rl_scope *s = rl_scopes[si];
        const struct rl_bucket *b = &s->b[bi];
        out->limit = b->known ? b->limit : 0;
        out->remaining = b->known ? b->remaining : 0;
        out->reset_ms = b->known ? window_end(s, b) : 0;
        out->pending = b->pending;
        out->granted = b->granted;
        out->waits = b->waits;
        out->seen_429 = b->seen_429;
        out->share_pct = share_of(s);
        found = true;
    }
    pthread_mutex_unlock(&rl_lock);
    return found;
}

void ratelimit_forget(const char *scope)
{
    pthread_mutex_lock(&rl_lock);
    int si = scope_find(scope, 0, false);
    if (si >= 0) {
        /* Outstanding grants carry the old generation and are ignored. */
        free(rl_scopes[si]);
        rl_scopes[si] = NULL;
    }
    pthread_mutex_unlock(&rl_lock);
}

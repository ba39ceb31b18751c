/* ratelimit.h — process-wide pacing of calls to rate-limited remote APIs.
 *
 * A documented singleton: one table, behind one mutex, of "scopes" (one per
 * remote account, e.g. "okta-prod|https://acme.okta.com") each holding a
 * concurrency cap and a set of "buckets" (the API's endpoint groups, e.g.
 * "user_write"). Every worker thread of the process shares it, so a steady
 * load from many runs is paced as one.
 *
 * Protocol for one remote call:
 *
 *     struct ratelimit_grant g;
 *     int64_t wait = ratelimit_acquire(scope, bucket, time_now_ms(), false, &g);
 *     if (wait > 0)  -> do not call; come back in `wait` ms (the caller turns
 *                       this into a retryable failure: nobody sleeps)
 *     ... perform the call ...
 *     ratelimit_parse_headers(resp.headers, status, time_now_ms(), &obs);
 *     ratelimit_release(&g, &obs);          (always, also on network errors)
 *
 * Pacing. The server's X-Rate-Limit-Limit / -Remaining / -Reset say how much
 * of the current window is left and when it ends; acquire spreads what is
 * left (minus calls in flight and a safety margin of 1% of our share, at
 * least 1) evenly over the time to the reset, so a steady load never meets a
 * 429; a few calls (RATELIMIT_BURST, or 1% of the limit) may go back to
 * back within that pace, so an action's sequential calls do not wait.
 * Waiters are told staggered times (one pace interval apart), so many runs
 * waiting on one bucket come back one by one instead of as a herd.
 *
 * The reset (epoch seconds on the server's clock) is moved onto the local
 * clock with the server's Date header (skew estimated as the largest Date -
 * arrival seen, which never overshoots, so the local reset is never early).
 * Until a bucket's headers are known, and after its window has passed, one
 * call at a time goes out to learn the new window. A 429 blocks the bucket
 * until its reset (a concurrency 429, X-Rate-Limit-Limit: 0, blocks the
 * whole scope briefly). A scope also caps calls in flight.
 *
 * Several nodes (ratelimit_nodes). Nodes sharing one database share the
 * remote's limits. Okta's headers are org-wide, so each node reads the
 * others' consumption in every answer: the share (a floor on
 * X-Rate-Limit-Remaining) and the pace (the budget left spread over the
 * time left) hold for all of them without being split, the 1 % margin
 * covering the calls another node has in flight (tests/unit/test_ratelimit.c,
 * test_two_nodes_share_a_bucket: no 429). What no header shows is the calls
 * in flight, counted here per process: with n live nodes a scope caps them
 * at ceil(cap / n), so the nodes together stay within the org's cap.
 *
 * Thread-safe; every function may be called from any thread. Times are
 * milliseconds on the wall clock (time_now_ms()). */
#ifndef IDF_NET_RATELIMIT_H
#define IDF_NET_RATELIMIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_MAX_KEY 256            /* scope key length, including NUL */
#define RATELIMIT_MAX_BUCKET_NAME 32     /* bucket name length, including NUL */
#define RATELIMIT_MAX_SCOPES 256         /* scopes kept (idle ones are recycled) */
#define RATELIMIT_MAX_BUCKETS 24         /* buckets per scope */
#define RATELIMIT_DEFAULT_CONCURRENCY 10 /* calls in flight per scope */
#define RATELIMIT_MAX_CONCURRENCY 1000
#define RATELIMIT_BURST 3                   /* calls that may go back to back (or 1% of the limit) */
#define RATELIMIT_PROBE_WAIT_MS 50          /* wait while a bucket's first call is out */
#define RATELIMIT_CONC_WAIT_MS 100          /* wait when the scope's concurrency cap is reached */
#define RATELIMIT_CONC_429_BLOCK_MS 2000    /* scope pause after a concurrency 429 */
#define RATELIMIT_DEFAULT_429_WAIT_MS 60000 /* 429 without a usable reset header */
#define RATELIMIT_MAX_WAIT_MS 3600000       /* no wait is ever longer than an hour */
#define RATELIMIT_MIN_SHARE 10              /* a share learned from a 429 never goes below this (percent) */
#define RATELIMIT_MAX_NODES 64              /* nodes a scope's limits are split between, at most */

/* What acquire handed out; pass it to release exactly once. */
struct ratelimit_grant {
    int scope;     /* slot index, -1 when nothing was granted */
    unsigned gen;  /* slot generation (a recycled slot ignores old grants) */
    int bucket;    /* bucket index in the scope */
    int64_t at_ms; /* when it was granted */
};

/* What one response said; -1 marks an absent header. */
struct ratelimit_obs {
    long status;     /* HTTP status, 0 when no response arrived */
    long limit;      /* X-Rate-Limit-Limit */
    long remaining;  /* X-Rate-Limit-Remaining */
    int64_t reset_s; /* X-Rate-Limit-Reset, epoch seconds (server clock) */
    int64_t date_ms; /* Date, epoch ms (server clock, 1 s resolution) */
    int64_t recv_ms; /* local wall clock when the response arrived */
};

/* Counters of one bucket, for tests, benchmarks and metrics. */
struct ratelimit_stats {
    long limit;        /* last limit seen, 0 when unknown */
    long remaining;    /* lowest remaining seen in the current window */
    int64_t reset_ms;  /* local time the current window ends, 0 when unknown */
    int pending;       /* granted, not yet released */
    uint64_t granted;  /* calls let through */
    uint64_t waits;    /* acquires answered with a wait */
    uint64_t seen_429; /* 429 answers observed */
    int share_pct;     /* the scope's share of each bucket in use (configured, or lower when learned) */
};

/* Asks to make one call in (scope, bucket) at now_ms. Returns 0 and fills g
 * when the call may go (then ratelimit_release(g) is due), or the number of
 * milliseconds to wait before asking again (g->scope is then -1 and nothing
 * is due). follow_up marks a later call of an operation already admitted
 * (the next page of a list, the write after a read): it is not held to the
 * pace, only to the hard limits (budget left, a 429 block, the concurrency
 * cap), and its cost is still counted, so the next admission waits longer;
 * an admitted operation thus finishes instead of restarting forever.
 * Unknown scopes and buckets are created; when the tables are full the call
 * is let through untracked. */
int64_t ratelimit_acquire(const char *scope, const char *bucket, int64_t now_ms, bool follow_up,
                          struct ratelimit_grant *g);

/* Reports how the granted call ended (obs may be NULL: no response). Safe on
 * a grant that was not given (scope -1) and after the scope was forgotten.
 *
 * Learning the share: a time-based 429 (X-Rate-Limit-Limit > 0) whose
 * headers show more remaining than the scope's share leaves to others means
 * the server holds this credential to a smaller share than configured (Okta
 * gives one API token or OAuth app 50 % of each bucket by default while its
 * headers show the org-wide figures). The scope's share then drops to what
 * the org had used (limit - remaining) in percent, at least
 * RATELIMIT_MIN_SHARE, for the scope's lifetime (ratelimit_configure never
 * raises it again; ratelimit_forget does). Returns that new share when this
 * call lowered it (the caller logs it), else 0. */
int ratelimit_release(struct ratelimit_grant *g, const struct ratelimit_obs *obs);

/* Fills obs from a response's headers (lower-case names to strings, as the
 * http client returns them; may be NULL). */
void ratelimit_parse_headers(const json_t *headers, long status, int64_t recv_ms, struct ratelimit_obs *obs);

/* For a 429: milliseconds until the bucket's window resets, from
 * X-Rate-Limit-Reset minus the response's Date (or the local arrival time
 * when there is no Date), at least 1 s; RATELIMIT_DEFAULT_429_WAIT_MS when
 * the reset is unknown. A concurrency 429 (X-Rate-Limit-Limit: 0, whose
 * reset Okta calls an estimate) gives at most RATELIMIT_CONC_429_BLOCK_MS. */
int64_t ratelimit_retry_after_ms(const struct ratelimit_obs *obs);

/* Sets a scope's concurrency cap (1..RATELIMIT_MAX_CONCURRENCY; 0 = the
 * default) and the share of each bucket's limit it may use (1..100 percent;
 * 0 = 100), creating the scope when needed. A share learned from a 429 that
 * is lower stays in force. */
void ratelimit_configure(const char *scope, int max_concurrency, int share_pct);

/* Sets how many live nodes share the scope's remote limits (1 = alone, the
 * default; values are clamped to 1..RATELIMIT_MAX_NODES), creating the
 * scope when needed: see "Several nodes" above. Callers re-read the count
 * every few seconds (engine/coord.c) and set it before acquiring. */
void ratelimit_nodes(const char *scope, int nodes);

/* Copies a bucket's counters; false when the scope or bucket is unknown. */
bool ratelimit_stats(const char *scope, const char *bucket, struct ratelimit_stats *out);

/* Drops a scope's state (e.g. its connection was replaced). */
void ratelimit_forget(const char *scope);

#endif

/* test_ratelimit.c — net/ratelimit against a simulated Okta bucket on a
 * simulated clock: a saturating client is paced to the budget without a
 * single 429 across many windows, whatever the server's clock skew; 429s
 * block a bucket (or, for concurrency, the scope) until the reset; the
 * concurrency cap, follow-up calls, the share setting, header parsing, and
 * concurrent use from many threads. Each test uses its own scope names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "net/ratelimit.h"

/* --------------------------------------------------- a simulated Okta */

/* One bucket as Okta (and the sandbox) runs it: a window opens at the first
 * request and lasts 60 s; over the limit the answer is 429. The server's
 * clock is the local one plus skew. */
struct sim {
    long limit;
    int64_t skew_ms;
    int64_t window_end; /* server clock, 0 = none open */
    long used;
    long cap; /* this client's own share of the window (Okta's per-token share); 0 = the whole limit */
    long served, rejected;
};

static void sim_answer(struct sim *s, int64_t local_now, struct ratelimit_obs *obs)
{
    int64_t srv = local_now + s->skew_ms;
    if (s->window_end <= srv) {
        s->window_end = srv + 60000;
        s->used = 0;
    }
    bool over = s->used >= s->limit || (s->cap > 0 && s->used >= s->cap);
    if (!over)
        s->used++;
    obs->status = over ? 429 : 200;
    obs->limit = s->limit;
    obs->remaining = s->limit - s->used;
    obs->reset_s = (s->window_end + 999) / 1000;
    obs->date_ms = srv / 1000 * 1000; /* Date has one-second resolution */
    obs->recv_ms = local_now;
    if (over)
        s->rejected++;
    else
        s->served++;
}

/* A client that always wants to call and comes back exactly when told,
 * for `minutes` simulated minutes from t0. Returns the calls served. */
static long saturate(const char *scope, struct sim *s, int64_t t0, int minutes)
{
    int64_t now = t0, end = t0 + (int64_t)minutes * 60000;
    struct ratelimit_grant g;
    struct ratelimit_obs obs;

    while (now < end) {
        int64_t w = ratelimit_acquire(scope, "b", now, false, &g);
        if (w > 0) {
            now += w;
            continue;
        }
        now += 3; /* latency */
        sim_answer(s, now, &obs);
        ratelimit_release(&g, &obs);
    }
    return s->served;
}

static void test_saturation_never_429(void **state)
{
    (void)state;
    const int64_t skews[] = {0, 3700, -2300, 999, -1};
    const long limits[] = {60, 600, 7};

    for (size_t i = 0; i < sizeof skews / sizeof skews[0]; i++) {
        for (size_t j = 0; j < sizeof limits / sizeof limits[0]; j++) {
            char scope[64];
            struct sim s = {.limit = limits[j], .skew_ms = skews[i]};
            snprintf(scope, sizeof scope, "sat-%zu-%zu", i, j);
            long served = saturate(scope, &s, 1700000000123LL, 10);
            double per_min = served / 10.0;
            print_message("limit %ld/min skew %lld ms: %.1f/min (%.1f%%), %ld 429s\n", limits[j],
                          (long long)skews[i], per_min, 100.0 * per_min / limits[j], s.rejected);
            assert_int_equal(s.rejected, 0);
            /* the budget less the 1% margin (at least one call) and the
             * second or two a window loses to Date/Reset rounding */
            long margin = limits[j] / 100 > 1 ? limits[j] / 100 : 1;
            assert_true(per_min >= (limits[j] - margin) * 0.95);
            assert_true(per_min <= limits[j]);
        }
    }
}

/* A 429 blocks the bucket until its reset; other buckets go on. */
static void test_429_blocks_bucket(void **state)
{
    (void)state;
    struct ratelimit_grant g;
    struct ratelimit_obs obs = {.status = 429, .limit = 600, .remaining = 0, .reset_s = 1000045,
                                .date_ms = 1000000000, .recv_ms = 1000000000};

    assert_int_equal(ratelimit_retry_after_ms(&obs), 45000);
    assert_int_equal(ratelimit_acquire("b429", "user", 1000000000, false, &g), 0);
    ratelimit_release(&g, &obs);
    int64_t w = ratelimit_acquire("b429", "user", 1000000000 + 5000, false, &g);
    assert_true(w >= 39000 && w <= 41000);
    assert_int_equal(g.scope, -1);
    assert_int_equal(ratelimit_acquire("b429", "groups", 1000000000 + 5000, false, &g), 0);
    ratelimit_release(&g, NULL);
    struct ratelimit_stats st;
    assert_true(ratelimit_stats("b429", "user", &st));
    assert_int_equal((int)st.seen_429, 1);
    assert_int_equal(st.pending, 0);
}

/* A concurrency 429 (limit 0) pauses the whole scope, briefly. */
static void test_concurrency_429_pauses_scope(void **state)
{
    (void)state;
    struct ratelimit_grant g;
    struct ratelimit_obs obs = {.status = 429, .limit = 0, .remaining = 0, .reset_s = 2000060,
                                .date_ms = 2000000000, .recv_ms = 2000000000};

    assert_int_equal(ratelimit_retry_after_ms(&obs), RATELIMIT_CONC_429_BLOCK_MS);
    assert_int_equal(ratelimit_acquire("c429", "user", 2000000000, false, &g), 0);
    ratelimit_release(&g, &obs);
    int64_t w = ratelimit_acquire("c429", "groups", 2000000000 + 10, false, &g);
    assert_true(w > 0 && w <= RATELIMIT_CONC_429_BLOCK_MS);
    assert_int_equal(ratelimit_acquire("c429", "groups", 2000000000 + RATELIMIT_CONC_429_BLOCK_MS, false, &g), 0);
    ratelimit_release(&g, NULL);
}

static void test_concurrency_cap(void **state)
{
    (void)state;
    struct ratelimit_grant g[3];

    ratelimit_configure("cap", 2, 0);
    /* unmetered bucket: only the cap applies (learn it first) */
    assert_int_equal(ratelimit_acquire("cap", "x", 1, false, &g[0]), 0);
    struct ratelimit_obs plain = {.status = 200, .limit = -1, .remaining = -1, .reset_s = -1, .date_ms = -1,
                                  .recv_ms = 2};
    ratelimit_release(&g[0], &plain);
    assert_int_equal(ratelimit_acquire("cap", "x", 3, false, &g[0]), 0);
    assert_int_equal(ratelimit_acquire("cap", "y", 3, false, &g[1]), 0);
    assert_int_equal(ratelimit_acquire("cap", "x", 3, false, &g[2]), RATELIMIT_CONC_WAIT_MS);
    ratelimit_release(&g[0], &plain);
    assert_int_equal(ratelimit_acquire("cap", "x", 4, false, &g[2]), 0);
    ratelimit_release(&g[1], NULL);
    ratelimit_release(&g[2], NULL);
    ratelimit_release(&g[2], NULL); /* a second release is harmless */
}

/* Until a bucket's headers are known, one call at a time learns them. */
static void test_first_contact_probe(void **state)
{
    (void)state;
    struct ratelimit_grant a, b;
    struct ratelimit_obs obs = {.status = 200, .limit = 100, .remaining = 99, .reset_s = 3000060,
                                .date_ms = 3000000000, .recv_ms = 3000000000};

    assert_int_equal(ratelimit_acquire("probe", "b", 3000000000, false, &a), 0);
    assert_int_equal(ratelimit_acquire("probe", "b", 3000000000, false, &b), RATELIMIT_PROBE_WAIT_MS);
    ratelimit_release(&a, &obs);
    assert_int_equal(ratelimit_acquire("probe", "b", 3000000001, false, &b), 0);
    ratelimit_release(&b, NULL);
}

/* Follow-ups of an admitted operation ignore the pace but not the budget. */
static void test_follow_up(void **state)
{
    (void)state;
    struct ratelimit_grant g;
    int64_t now = 4000000000;
    struct ratelimit_obs obs = {.status = 200, .limit = 60, .remaining = 59, .reset_s = 4000060,
                                .date_ms = now, .recv_ms = now};
    int granted = 0;

    assert_int_equal(ratelimit_acquire("fu", "b", now, false, &g), 0);
    ratelimit_release(&g, &obs);
    while (ratelimit_acquire("fu", "b", now, false, &g) == 0) {
        ratelimit_release(&g, NULL);
        granted++;
    }
    assert_int_equal(granted, RATELIMIT_BURST); /* the burst, then the pace */
    assert_int_equal(ratelimit_acquire("fu", "b", now, true, &g), 0);
    ratelimit_release(&g, NULL);
    /* the budget is the hard stop even for follow-ups */
    obs.remaining = 1;
    assert_int_equal(ratelimit_acquire("fu", "b", now, true, &g), 0);
    ratelimit_release(&g, &obs);
    int64_t w = ratelimit_acquire("fu", "b", now, true, &g);
    assert_true(w >= 59000 && w <= 61000);
}

/* rate_share reserves the rest of each bucket for other clients. */
static void test_share(void **state)
{
    (void)state;
    struct sim s = {.limit = 100};
    ratelimit_configure("share", 0, 50);
    saturate("share", &s, 5000000000LL, 4);
    assert_int_equal(s.rejected, 0);
    assert_true(s.served / 4.0 <= 51 && s.served / 4.0 >= 44);
}

/* The server holds this client to a smaller share than configured, while
 * its headers show the org-wide figures: the first 429 (with room left
 * org-wide) teaches the share, and no other 429 follows. */
static void test_share_learned_from_429(void **state)
{
    (void)state;
    struct sim s = {.limit = 100, .cap = 25};
    struct ratelimit_stats st;
    ratelimit_configure("learn", 0, 50);
    saturate("learn", &s, 6000000000LL, 5);
    assert_int_equal(s.rejected, 1);
    assert_true(ratelimit_stats("learn", "b", &st));
    assert_int_equal(st.share_pct, 25);
    assert_true(s.served >= 4 * 25 * 95 / 100); /* the later windows: >= 95 % of the real share */
    ratelimit_configure("learn", 0, 50); /* a connection re-read does not raise it */
    assert_true(ratelimit_stats("learn", "b", &st));
    assert_int_equal(st.share_pct, 25);

    /* what does not teach: the org's budget spent, a concurrency 429 */
    struct ratelimit_grant g;
    struct ratelimit_obs o = {.status = 429, .limit = 100, .remaining = 0, .reset_s = 7000000, .recv_ms = 1};
    ratelimit_configure("nolearn", 0, 50);
    assert_int_equal(ratelimit_acquire("nolearn", "b", 1, false, &g), 0);
    assert_int_equal(ratelimit_release(&g, &o), 0);
    o.remaining = 50; /* exactly what the share leaves to others */
    assert_int_equal(ratelimit_acquire("nolearn", "c", 1, false, &g), 0);
    assert_int_equal(ratelimit_release(&g, &o), 0);
    o.limit = 0;
    o.remaining = 0;
    assert_int_equal(ratelimit_acquire("nolearn", "d", 1, false, &g), 0);
    assert_int_equal(ratelimit_release(&g, &o), 0);
    assert_true(ratelimit_stats("nolearn", "b", &st));
    assert_int_equal(st.share_pct, 50);
    /* a 429 at almost nothing used: never below the floor */
    o.limit = 100;
    o.remaining = 99;
    o.recv_ms = 5000;
    assert_int_equal(ratelimit_acquire("nolearn", "e", 5000, false, &g), 0);
    assert_int_equal(ratelimit_release(&g, &o), RATELIMIT_MIN_SHARE);
    assert_true(ratelimit_stats("nolearn", "e", &st));
    assert_int_equal(st.share_pct, RATELIMIT_MIN_SHARE);
    ratelimit_forget("learn");
    ratelimit_forget("nolearn");
}

static void test_parse_headers(void **state)
{
    (void)state;
    struct ratelimit_obs obs;
    json_t *h = json_pack("{s:s, s:s, s:s, s:s}", "x-rate-limit-limit", "600", "x-rate-limit-remaining", "598",
                          "x-rate-limit-reset", "1609459200", "date", "Thu, 31 Dec 2020 23:59:30 GMT");
    ratelimit_parse_headers(h, 200, 42, &obs);
    assert_int_equal(obs.limit, 600);
    assert_int_equal(obs.remaining, 598);
    assert_int_equal(obs.reset_s, 1609459200);
    assert_int_equal(obs.date_ms, 1609459170000LL);
    assert_int_equal(obs.recv_ms, 42);
    obs.status = 429;
    assert_int_equal(ratelimit_retry_after_ms(&obs), 30000);
    json_decref(h);

    h = json_pack("{s:s, s:s, s:s}", "x-rate-limit-limit", "12x", "x-rate-limit-remaining", "-3", "date", "garbage");
    ratelimit_parse_headers(h, 200, 7, &obs);
    assert_int_equal(obs.limit, -1);
    assert_int_equal(obs.remaining, -1);
    assert_int_equal(obs.reset_s, -1);
    assert_int_equal(obs.date_ms, -1);
    obs.status = 429;
    assert_int_equal(ratelimit_retry_after_ms(&obs), RATELIMIT_DEFAULT_429_WAIT_MS);
    json_decref(h);
    ratelimit_parse_headers(NULL, 0, 7, &obs);
    assert_int_equal(obs.limit, -1);
}

static void test_forget(void **state)
{
    (void)state;
    struct ratelimit_grant g;
    struct ratelimit_stats st;
    assert_int_equal(ratelimit_acquire("gone", "b", 1, false, &g), 0);
    ratelimit_forget("gone");
    assert_false(ratelimit_stats("gone", "b", &st));
    ratelimit_release(&g, NULL); /* an old grant is ignored */
    assert_int_equal(ratelimit_acquire("gone", "b", 2, false, &g), 0);
    assert_true(ratelimit_stats("gone", "b", &st));
    assert_int_equal(st.pending, 1);
    ratelimit_release(&g, NULL);
}

#define THREADS 8
#define ROUNDS 2000

static void *hammer(void *ud)
{
    const char *scope = ud;
    struct ratelimit_obs plain = {.status = 200, .limit = -1, .remaining = -1, .reset_s = -1, .date_ms = -1,
                                  .recv_ms = 1};
    for (int i = 0; i < ROUNDS; i++) {
        struct ratelimit_grant g;
        char bucket[16];
        snprintf(bucket, sizeof bucket, "b%d", i % 5);
        if (ratelimit_acquire(scope, bucket, 10 + i, false, &g) == 0)
            ratelimit_release(&g, &plain);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    ratelimit_configure("threads", RATELIMIT_MAX_CONCURRENCY, 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, "threads"), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int b = 0; b < 5; b++) {
        struct ratelimit_stats st;
        char bucket[16];
        snprintf(bucket, sizeof bucket, "b%d", b);
        assert_true(ratelimit_stats("threads", bucket, &st));
        assert_int_equal(st.pending, 0);
        assert_true(st.granted > 0);
    }
}

/* ------------------------------------------------- several nodes */

#define NODE_CLIENTS 8  /* callers of the busy node, each always wanting to call */
#define NODE_LATENCY 40 /* ms from a grant to its answer (the server counts the call then) */
#define NODE_IDLE_MS 7000 /* the quiet node's callers rest this long after each answer */

struct node_client {
    int node;       /* 0: the busy node, 1: the quiet one */
    int64_t at;     /* next event: a try (granted false) or the answer (granted true) */
    bool granted;
    struct ratelimit_grant g;
};

/* Two nodes (two scopes: each process's limiter) on ONE simulated bucket for
 * `minutes`: node 0's NODE_CLIENTS callers always want to call and come back
 * exactly when told; node 1's as many callers rest NODE_IDLE_MS after each
 * answer, so node 1 calls in bursts on a view of the window it read seconds
 * ago. The server counts a call when its answer is due, so each node's calls
 * in flight are invisible to the other until then. nodes: what both scopes
 * are told (ratelimit_nodes). Returns the calls served; s->rejected the 429s. */
static long two_nodes(const char *scope_a, const char *scope_b, int nodes, struct sim *s, int64_t t0, int minutes)
{
    struct node_client c[2 * NODE_CLIENTS];
    const char *scope[2] = {scope_a, scope_b};
    int64_t end = t0 + (int64_t)minutes * 60000;

    for (int n = 0; n < 2; n++) {
        ratelimit_configure(scope[n], 10, 100);
        ratelimit_nodes(scope[n], nodes);
    }
    for (int k = 0; k < 2 * NODE_CLIENTS; k++)
        c[k] = (struct node_client){.node = k % 2, .at = t0 + k};
    for (;;) {
        struct node_client *x = &c[0];
        for (int k = 1; k < 2 * NODE_CLIENTS; k++)
            if (c[k].at < x->at)
                x = &c[k];
        if (x->at >= end)
            break;
        if (x->granted) {
            struct ratelimit_obs obs;
            sim_answer(s, x->at, &obs);
            ratelimit_release(&x->g, &obs);
            x->granted = false;
            if (x->node == 1)
                x->at += NODE_IDLE_MS;
            continue;
        }
        int64_t w = ratelimit_acquire(scope[x->node], "b", x->at, false, &x->g);
        if (w > 0) {
            x->at += w;
        } else {
            x->granted = true;
            x->at += NODE_LATENCY;
        }
    }
    for (int k = 0; k < 2 * NODE_CLIENTS; k++)
        if (c[k].granted)
            ratelimit_release(&c[k].g, NULL);
    return s->served;
}

/* Two nodes on one bucket, one busy and one calling in bursts after rests,
 * each pacing on the org-wide headers with its half of the cap: no 429 (the
 * share and the pace need no split: every answer shows the other's calls,
 * and the margin covers those in flight), and the budget is served. A limit
 * of 100 keeps the margin at one call, the tightest case. */
static void test_two_nodes_share_a_bucket(void **state)
{
    (void)state;
    const long limits[] = {100, 600};

    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        char a[32], b[32];
        struct sim s = {.limit = limits[i]};
        snprintf(a, sizeof a, "two-%ld-a", limits[i]);
        snprintf(b, sizeof b, "two-%ld-b", limits[i]);
        long served = two_nodes(a, b, 2, &s, 1700000000000LL, 10);
        print_message("two nodes, limit %ld/min: %ld served in 10 min (%.1f%%), %ld 429s\n", limits[i], served,
                      100.0 * served / (10.0 * limits[i]), s.rejected);
        assert_int_equal(s.rejected, 0);
        assert_true(served >= 10 * limits[i] * 95 / 100);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_saturation_never_429), cmocka_unit_test(test_429_blocks_bucket),
        cmocka_unit_test(test_concurrency_429_pauses_scope), cmocka_unit_test(test_concurrency_cap),
        cmocka_unit_test(test_first_contact_probe), cmocka_unit_test(test_follow_up),
        cmocka_unit_test(test_share), cmocka_unit_test(test_share_learned_from_429),
        cmocka_unit_test(test_parse_headers),
        cmocka_unit_test(test_forget), cmocka_unit_test(test_threads),
        cmocka_unit_test(test_two_nodes_share_a_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

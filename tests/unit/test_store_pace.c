/* test_store_pace.c — the contract of the store's pacing windows (store.h,
 * "pacing windows"), written against the public API only so it runs
 * unchanged against every backend (tests/pg/run.sh runs it on PostgreSQL
 * with IDFLOW_TEST_STORE_URL; unset: a fresh temp-file SQLite database per
 * test).
 *
 * Times are explicit now_ms values (T0 + offsets): expiry and waits are
 * tested without sleeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "support/storeurl.h"

#define T0 1700000000000LL
#define OK(x) assert_int_equal((x), 0)

static int setup(void **state)
{
    struct tu_store_fx *f = calloc(1, sizeof *f);

    if (!f || tu_store_fx_open("pace", f) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct tu_store_fx *f = *state;
    tu_store_fx_close(f);
    free(f);
    return 0;
}

/* One take: the wait (0 = admitted). */
static int64_t take(struct store *s, const char *key, int limit, int64_t window, int64_t now)
{
    int64_t wait = -1;
    OK(store_window_take(s, key, limit, window, now, &wait));
    assert_true(wait >= 0);
    return wait;
}

/* limit sends a window, then the wait is until the limit-th newest send
 * leaves the window, and a send that left it frees a place exactly then. */
static void test_window_limit_and_wait(void **state)
{
    struct tu_store_fx *f = *state;
    const char *k = "happyfox:https://a.example|GET";

    assert_int_equal(take(f->s, k, 3, 1000, T0), 0);
    assert_int_equal(take(f->s, k, 3, 1000, T0 + 10), 0);
    assert_int_equal(take(f->s, k, 3, 1000, T0 + 20), 0);
    assert_int_equal(take(f->s, k, 3, 1000, T0 + 30), 970);  /* T0 leaves at T0 + 1000 */
    assert_int_equal(take(f->s, k, 3, 1000, T0 + 999), 1);   /* nothing was counted by the refusals */
    assert_int_equal(take(f->s, k, 3, 1000, T0 + 1000), 0);  /* T0 left: a place */
    assert_int_equal(take(f->s, k, 3, 1000, T0 + 1000), 10); /* full again until T0 + 10 leaves */
    assert_int_equal(take(f->s, k, 3, 1000, T0 + 1010), 0);
    /* a long pause: the whole window has left */
    assert_int_equal(take(f->s, k, 3, 1000, T0 + 5000), 0);
    assert_int_equal(take(f->s, k, 3, 1000, T0 + 5000), 0);
    assert_int_equal(take(f->s, k, 3, 1000, T0 + 5000), 0);
    assert_int_equal(take(f->s, k, 3, 1000, T0 + 5001), 999);
    /* a smaller limit on the same key counts the same sends */
    assert_int_equal(take(f->s, k, 2, 1000, T0 + 5001), 999);
}

/* Keys are independent budgets. */
static void test_window_keys_independent(void **state)
{
    struct tu_store_fx *f = *state;

    assert_int_equal(take(f->s, "a|GET", 1, 60000, T0), 0);
    assert_true(take(f->s, "a|GET", 1, 60000, T0 + 1) > 0);
    assert_int_equal(take(f->s, "a|POST", 1, 60000, T0 + 1), 0);
    assert_int_equal(take(f->s, "b|GET", 1, 60000, T0 + 1), 0);
}

/* A block makes every take wait until it ends; an earlier block does not
 * shorten it; takes during a block count nothing. */
static void test_window_block(void **state)
{
    struct tu_store_fx *f = *state;

    OK(store_window_block(f->s, "acct|GET", T0 + 5000));
    OK(store_window_block(f->s, "acct|GET", T0 + 100)); /* earlier: no change */
    assert_int_equal(take(f->s, "acct|GET", 2, 60000, T0), 5000);
    assert_int_equal(take(f->s, "acct|GET", 2, 60000, T0 + 4999), 1);
    assert_int_equal(take(f->s, "acct|POST", 2, 60000, T0), 0); /* another key */
    assert_int_equal(take(f->s, "acct|GET", 2, 60000, T0 + 5000), 0);
    assert_int_equal(take(f->s, "acct|GET", 2, 60000, T0 + 5000), 0); /* the refusals counted nothing */
    assert_true(take(f->s, "acct|GET", 2, 60000, T0 + 5000) > 0);
    OK(store_window_block(f->s, "acct|GET", T0 + 90000)); /* a later block extends it */
    assert_int_equal(take(f->s, "acct|GET", 2, 60000, T0 + 70000), 20000);
}

static void test_window_bad_input(void **state)
{
    struct tu_store_fx *f = *state;
    char longkey[300];
    int64_t wait = 7;

    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(store_window_take(f->s, "k", 0, 1000, T0, &wait), IDF_EINVAL);
    assert_int_equal(wait, 0);
    assert_int_equal(store_window_take(f->s, "k", STORE_WINDOW_LIMIT_MAX + 1, 1000, T0, &wait), IDF_EINVAL);
    assert_int_equal(store_window_take(f->s, "k", 1, 0, T0, &wait), IDF_EINVAL);
    assert_int_equal(store_window_take(f->s, "k", 1, STORE_WINDOW_MS_MAX + 1, T0, &wait), IDF_EINVAL);
    assert_int_equal(store_window_take(f->s, "k", 1, 1000, -1, &wait), IDF_EINVAL);
    assert_int_equal(store_window_take(f->s, "", 1, 1000, T0, &wait), IDF_EINVAL);
    assert_int_equal(store_window_take(f->s, NULL, 1, 1000, T0, &wait), IDF_EINVAL);
    assert_int_equal(store_window_take(f->s, longkey, 1, 1000, T0, &wait), IDF_EINVAL);
    assert_int_equal(store_window_take(f->s, "k", 1, 1000, T0, NULL), IDF_EINVAL);
    assert_int_equal(store_window_block(f->s, "", T0), IDF_EINVAL);
    assert_int_equal(store_window_block(f->s, "k", -1), IDF_EINVAL);
    /* nothing was written: the key's budget is whole */
    assert_int_equal(take(f->s, "k", 1, 1000, T0), 0);
}

/* Live leases under a prefix: expired ones and other names do not count. */
static void test_lease_count(void **state)
{
    struct tu_store_fx *f = *state;
    bool held = false;
    int n = -1;

    OK(store_lease_count(f->s, "node:", T0, &n));
    assert_int_equal(n, 0);
    OK(store_lease_take(f->s, "node:a", "a#1", T0, 10000, &held, NULL));
    assert_true(held);
    OK(store_lease_take(f->s, "node:b", "b#1", T0, 20000, &held, NULL));
    OK(store_lease_take(f->s, "poll:okta:x", "a#1", T0, 20000, &held, NULL));
    OK(store_lease_take(f->s, "nodes", "c#1", T0, 20000, &held, NULL)); /* not "node:" */
    OK(store_lease_count(f->s, "node:", T0 + 1, &n));
    assert_int_equal(n, 2);
    OK(store_lease_count(f->s, "node:", T0 + 10000, &n)); /* node:a expired */
    assert_int_equal(n, 1);
    OK(store_lease_count(f->s, "node:", T0 + 20000, &n));
    assert_int_equal(n, 0);
    OK(store_lease_count(f->s, "poll:", T0 + 1, &n));
    assert_int_equal(n, 1);
    assert_int_equal(store_lease_count(f->s, "", T0, &n), IDF_EINVAL);
    assert_int_equal(store_lease_count(f->s, "node:", -1, &n), IDF_EINVAL);
    assert_int_equal(store_lease_count(f->s, "node:", T0, NULL), IDF_EINVAL);
}

#define RACERS 4
#define RACE_TAKES 60
#define RACE_LIMIT 50

struct racer {
    const char *url;
    pthread_barrier_t *go;
    int admitted;
    int failed;
};

static void *race_thread(void *ud)
{
    struct racer *r = ud;
    struct store *s = NULL;
    struct idf_err err = {0};

    if (store_open(r->url, &s, &err) != 0)
        r->failed = 1;
    pthread_barrier_wait(r->go);
    for (int i = 0; s && i < RACE_TAKES; i++) {
        int64_t wait = 0;
        int rc = store_window_take(s, "race|POST", RACE_LIMIT, 60000, T0 + i, &wait);
        if (rc == IDF_EBUSY) { /* SQLite: the write lock outlasted its wait; ask again */
            i--;
            continue;
        }
        if (rc)
            r->failed = 1;
        else if (wait == 0)
            r->admitted++;
    }
    store_close(s);
    return NULL;
}

/* Connections racing on one key (as nodes do) never admit more than limit
 * in a window, all together: exactly limit here, as every take asks within
 * the same window. */
static void test_window_race(void **state)
{
    struct tu_store_fx *f = *state;
    struct racer r[RACERS];
    pthread_t t[RACERS];
    pthread_barrier_t go;
    int total = 0;

    pthread_barrier_init(&go, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
        r[i] = (struct racer){.url = f->url, .go = &go};
        assert_int_equal(pthread_create(&t[i], NULL, race_thread, &r[i]), 0);
    }
    for (int i = 0; i < RACERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].failed, 0);
        total += r[i].admitted;
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(total, RACE_LIMIT);
    /* and the store agrees: the window is full */
    assert_true(take(f->s, "race|POST", RACE_LIMIT, 60000, T0 + RACE_TAKES) > 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_window_limit_and_wait), T(test_window_keys_independent),
        T(test_window_block),          T(test_window_bad_input),
        T(test_window_race),           T(test_lease_count),
    };
    return cmocka_run_group_tests_name("store_pace", tests, NULL, NULL);
}

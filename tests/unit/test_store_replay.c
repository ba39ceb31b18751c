/* test_store_replay.c — the contract of the replay reads (store.h,
 * "replay"; issue 19), written against the public API only so it runs
 * unchanged against every backend (tests/pg/run.sh runs it on PostgreSQL
 * with IDFLOW_TEST_STORE_URL; unset: a fresh temp-file SQLite database per
 * test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "store/store.h"
#include "support/storeurl.h"

#define OK(x) assert_int_equal((x), 0)

static int setup(void **state)
{
    struct tu_store_fx *f = calloc(1, sizeof *f);

    if (!f || tu_store_fx_open("replay", f) != 0) {
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

/* Ingests one event of type "t" with data {"n": n} starting the runs
 * wfs[0..n_wfs) (version 1 each, saved first); its id. */
static int64_t ingest(struct store *s, int n, const char *const *wfs, size_t n_wfs, int64_t *run_ids)
{
    struct store_run_in runs[4];
    struct store_ingest_item it;
    struct idf_err err = {0};
    char data[64], sid[32];
    static int seq;

    assert_true(n_wfs <= 4);
    for (size_t i = 0; i < n_wfs; i++) {
        int64_t v = 0;
        bool created = false;
        OK(store_workflow_save(s, wfs[i], "name: x", "hash-1", &v, &created, &err));
        runs[i] = (struct store_run_in){wfs[i], v};
    }
    snprintf(data, sizeof data, "{\"n\":%d}", n);
    snprintf(sid, sizeof sid, "ev-%d", ++seq);
    memset(&it, 0, sizeof it);
    it.event.source = "cli";
    it.event.source_id = sid;
    it.event.type = "t";
    it.event.data = data;
    it.runs = runs;
    it.n_runs = n_wfs;
    it.run_ids = run_ids;
    OK(store_ingest(s, &it, 1, &err));
    return it.event_id;
}

/* Waits (polling the clock, not sleeping for luck) until the wall clock is
 * past t. */
static void clock_past(int64_t t)
{
    while (time_now_ms() <= t)
        usleep(200);
}

/* The window is received_at >= since, oldest first, every field read back;
 * an event received before since is not in it. */
static void test_event_list_window(void **state)
{
    struct tu_store_fx *f = *state;
    struct store_event *rows = NULL;
    size_t n = 9;
    int64_t old, mid, a, b;

    old = ingest(f->s, 1, NULL, 0, NULL);
    mid = time_now_ms();
    clock_past(mid);
    a = ingest(f->s, 2, NULL, 0, NULL);
    b = ingest(f->s, 3, NULL, 0, NULL);
    assert_true(old < a && a < b);

    OK(store_event_list(f->s, mid + 1, 0, 10, &rows, &n));
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, a);
    assert_int_equal(rows[1].id, b);
    assert_string_equal(rows[0].type, "t");
    assert_string_equal(rows[0].source, "cli");
    assert_string_equal(rows[0].data, "{\"n\":2}");
    assert_int_equal(rows[0].stage, STORE_EVENT_DONE);
    assert_true(rows[0].received_at > mid);
    store_event_list_free(rows, n);

    /* the whole history from 0 */
    OK(store_event_list(f->s, 0, 0, 10, &rows, &n));
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].id, old);
    store_event_list_free(rows, n);

    /* a window in the future is empty */
    OK(store_event_list(f->s, time_now_ms() + 3600000, 0, 10, &rows, &n));
    assert_int_equal(n, 0);
    assert_null(rows);
}

/* Pages of limit rows, the next after the last id, end with an empty page. */
static void test_event_list_pages(void **state)
{
    struct tu_store_fx *f = *state;
    struct store_event *rows = NULL;
    int64_t ids[5], after = 0;
    size_t n = 0, seen = 0;

    for (int i = 0; i < 5; i++)
        ids[i] = ingest(f->s, i, NULL, 0, NULL);
    for (;;) {
        OK(store_event_list(f->s, 0, after, 2, &rows, &n));
        assert_true(n <= 2);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++)
            assert_int_equal(rows[i].id, ids[seen + i]);
        seen += n;
        after = rows[n - 1].id;
        store_event_list_free(rows, n);
    }
    assert_int_equal(seen, 5);
}

static void test_event_list_bad_input(void **state)
{
    struct tu_store_fx *f = *state;
    struct store_event *rows = (struct store_event *)1;
    size_t n = 7;

    assert_int_equal(store_event_list(f->s, 0, 0, 0, &rows, &n), IDF_EINVAL);
    assert_null(rows);
    assert_int_equal(n, 0);
    assert_int_equal(store_event_list(f->s, 0, 0, STORE_LIST_MAX + 1, &rows, &n), IDF_EINVAL);
    assert_int_equal(store_event_list(f->s, -1, 0, 10, &rows, &n), IDF_EINVAL);
    assert_int_equal(store_event_list(f->s, 0, -1, 10, &rows, &n), IDF_EINVAL);
    assert_int_equal(store_event_list(NULL, 0, 0, 10, &rows, &n), IDF_EINVAL);
}

/* The runs of one workflow one event started, oldest first: not another
 * workflow's, not another event's. */
static void test_event_runs(void **state)
{
    struct tu_store_fx *f = *state;
    const char *ab[3] = {"wf-a", "wf-b", "wf-a"};
    int64_t ids[3], other_ids[1], ev, other;
    struct store_run *rows = NULL;
    size_t n = 0;

    ev = ingest(f->s, 1, ab, 3, ids);
    other = ingest(f->s, 2, ab, 1, other_ids);
    OK(store_event_runs(f->s, ev, "wf-a", &rows, &n));
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, ids[0]);
    assert_int_equal(rows[1].id, ids[2]);
    assert_string_equal(rows[0].workflow, "wf-a");
    assert_string_equal(rows[0].status, STORE_RUN_QUEUED);
    assert_int_equal(rows[0].event_id, ev);
    assert_int_equal(rows[0].version, 1);
    assert_true(rows[0].created_at > 0);
    assert_int_equal(rows[0].finished_at, 0);
    assert_int_equal(rows[0].rerun_of, 0);
    store_run_list_free(rows, n);

    /* a re-run of the first run is one of the event's runs too */
    {
        struct idf_err err = {0};
        int64_t rerun = 0;
        OK(store_run_cancel(f->s, ids[0], "stop", time_now_ms(), &err));
        OK(store_run_rerun(f->s, ids[0], time_now_ms(), "t", false, &rerun, &err));
        OK(store_event_runs(f->s, ev, "wf-a", &rows, &n));
        assert_int_equal(n, 3);
        assert_int_equal(rows[2].id, rerun);
        assert_int_equal(rows[2].rerun_of, ids[0]);
        assert_string_equal(rows[0].status, STORE_RUN_CANCELLED);
        store_run_list_free(rows, n);
    }

    OK(store_event_runs(f->s, ev, "wf-b", &rows, &n));
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, ids[1]);
    store_run_list_free(rows, n);

    OK(store_event_runs(f->s, other, "wf-a", &rows, &n));
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, other_ids[0]);
    store_run_list_free(rows, n);

    OK(store_event_runs(f->s, ev, "wf-none", &rows, &n));
    assert_int_equal(n, 0);
    assert_null(rows);
    assert_int_equal(store_event_runs(f->s, ev, "", &rows, &n), IDF_EINVAL);
    assert_int_equal(store_event_runs(f->s, ev, NULL, &rows, &n), IDF_EINVAL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_event_list_window),
        T(test_event_list_pages),
        T(test_event_list_bad_input),
        T(test_event_runs),
    };
    return cmocka_run_group_tests_name("store_replay", tests, NULL, NULL);
}

/* test_engine_coord.c — the engine's coordination interface for connectors
 * (engine/coord.h): a lock an action takes belongs to the run executing it.
 *
 * Two coords stand for workers of two nodes on one database. A lock taken
 * for run 5 on node A is held against every other run on any node, but
 * run 5's next attempt on node B (the run taken over after A died) holds it
 * at once instead of waiting for A's lease to expire; outside a run a
 * thread holds locks under its own name. The database is a SQLite file, or
 * a fresh PostgreSQL schema when IDFLOW_TEST_STORE_URL names one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/coord.h"
#include "store/store.h"
#include "support/storeurl.h"
#include "support/testutil.h"

#define LOCK "happyfox-ticket:https://acme.happyfox.com:42"
#define TTL 60000

static void open_store(char *dir_out, size_t n, struct store **a, struct store **b)
{
    const char *tmpl = getenv("IDFLOW_TEST_STORE_URL");
    char url[1024], tag[64];
    struct idf_err err = {0};
    char *dir = tu_mktemp_dir();

    assert_non_null(dir);
    snprintf(dir_out, n, "%s", dir);
    free(dir);
    if (tmpl && *tmpl) {
        snprintf(tag, sizeof tag, "coord_%d", (int)getpid());
        assert_int_equal(tu_store_url(tmpl, tag, url, sizeof url), 0);
    } else {
        snprintf(url, sizeof url, "sqlite:%s/idflow.db", dir_out);
    }
    if (store_open(url, a, &err) || store_open(url, b, &err))
        fail_msg("store_open: %s", err.msg);
}

static bool take(struct engine_coord *c)
{
    bool taken = false;
    assert_int_equal(c->pub.ops->lock_take(c->pub.ctx, LOCK, TTL, &taken), 0);
    return taken;
}

static void a_lock_belongs_to_the_run_that_took_it(void **state)
{
    char dir[300];
    struct store *sa = NULL, *sb = NULL;
    struct engine_coord a, b;

    (void)state;
    open_store(dir, sizeof dir, &sa, &sb);
    engine_coord_init(&a, sa, "node-a/w0");
    engine_coord_init(&b, sb, "node-b/w0");

    engine_coord_for_run(&a, 5);
    assert_true(take(&a));  /* run 5 on node A */
    engine_coord_for_run(&b, 6);
    assert_false(take(&b)); /* another run waits, on any node */
    engine_coord_for_run(&b, 0);
    assert_false(take(&b)); /* and so does a thread outside a run */
    engine_coord_for_run(&b, 5);
    assert_true(take(&b));  /* run 5 taken over by node B: its own lock, at once */
    assert_int_equal(b.pub.ops->lock_drop(b.pub.ctx, LOCK), 0);
    engine_coord_for_run(&b, 6);
    assert_true(take(&b));  /* dropped by run 5: free for the next */

    store_close(sa);
    store_close(sb);
    (void)tu_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_lock_belongs_to_the_run_that_took_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_engine_invariants.c — the executor never steps a run that is not
 * claimed and running: exec_run on a finished run (it succeeded) changes
 * nothing. In a build with the invariant checks (make asan, INVARIANTS=1:
 * IDF_INVARIANTS_ON here as in the library) it stops the process with a line
 * naming the run and its status (checked in a child); in any other build it
 * answers an error (the store refuses its lease) and the run stays as it
 * finished. The flow is a bare struct: nothing of it may be reached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/invariant.h"
#include "engine/engine.h"
#include "engine/status.h"
#include "flow/flow.h"
#include "store/store.h"
#include "support/testutil.h"

#define OWNER "node/w0"
#define T0 1700000000000LL
#define LEASE 60000

/* A run of workflow "w" that a worker claimed and ended as succeeded: id in *id_out. */
static struct store *finished_run(int64_t *id_out)
{
    struct store *s = NULL;
    struct store_run_in runs[1] = {{"w", 1}};
    struct store_ingest_item it = {0};
    struct store_run *r[1] = {NULL};
    struct store_run_next done = {.status = STORE_RUN_SUCCEEDED, .pc = 0, .context = "{}"};
    struct idf_err err = {0};
    size_t n = 0;

    assert_int_equal(store_open("sqlite::memory:", &s, &err), 0);
    it.event = (struct store_event_in){"test", NULL, "manual", NULL, "{}"};
    it.runs = runs;
    it.n_runs = 1;
    it.run_ids = id_out;
    assert_int_equal(store_ingest(s, &it, 1, &err), 0);
    assert_int_equal(store_run_claim(s, OWNER, T0, LEASE, 1, NULL, 0, r, &n, &err), 0);
    assert_int_equal(n, 1);
    store_run_free(r[0]);
    assert_int_equal(store_step_commit(s, *id_out, OWNER, T0 + 1, NULL, &done, &err), 0);
    return s;
}

/* exec_run on run id of s, as its former owner would; returns exec_run's answer. */
static int step_again(struct store *s, int64_t id)
{
    struct flow f;
    struct exec_env env;
    struct exec_outcome oc;
    struct store_run *r = NULL;
    struct idf_err err = {0};
    int rc;

    memset(&f, 0, sizeof f);
    f.name = "w";
    memset(&env, 0, sizeof env);
    env.store = s;
    env.owner = OWNER;
    env.lease_ms = LEASE;
    assert_int_equal(store_run_get(s, id, &r), 0);
    assert_string_equal(r->status, STORE_RUN_SUCCEEDED);
    rc = exec_run(&env, &f, r, &oc, &err);
    store_run_free(r);
    return rc;
}

struct again {
    struct store *s;
    int64_t id;
};

static void step_again_in_child(void *arg)
{
    struct again *a = arg;
    (void)step_again(a->s, a->id);
}

static void a_finished_run_is_never_stepped_again(void **state)
{
    int64_t id = 0;
    struct store *s = finished_run(&id);
    struct store_run *r = NULL;
    (void)state;

    if (IDF_INVARIANTS_ON) {
        char msg[2048];
        struct again a = {s, id};
        int status = tu_fork_stderr(step_again_in_child, &a, msg, sizeof msg); /* aborts there when the invariant holds */

        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
        assert_non_null(strstr(msg, "invariant broken at src/engine/exec.c"));
        assert_non_null(strstr(msg, "is succeeded: only a claimed run is executed, a finished one never again"));
    } else {
        assert_int_not_equal(step_again(s, id), 0);
    }
    /* either way the run is as it finished */
    assert_int_equal(store_run_get(s, id, &r), 0);
    assert_string_equal(r->status, STORE_RUN_SUCCEEDED);
    assert_int_equal(r->pc, 0);
    store_run_free(r);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_finished_run_is_never_stepped_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

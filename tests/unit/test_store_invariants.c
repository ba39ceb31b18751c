/* test_store_invariants.c — the store's transaction rules (store.h,
 * "Transactions and threads") as the SQLite backend checks them
 * (store__sq_check_*, sqlite_internal.h): transactions do not nest, a commit
 * ends a transaction, writes run inside one (but the named single-statement
 * ones), no transaction outlives a call, and a connection's statements run
 * on the thread that opened it.
 *
 * IDF_INVARIANTS is defined here whatever the build, so the checks (inline
 * functions of the backend's header) are compiled into this test: the
 * normal paths keep every rule (a child runs them and exits 0), and each
 * broken rule aborts a child with a line naming it. Where the library
 * itself was built with the checks (make asan, INVARIANTS=1), a nested
 * BEGIN through the backend's own function aborts too; without them, SQLite
 * refuses it with an error (asserted as well). */
#define IDF_INVARIANTS 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/sqlite_internal.h"
#include "store/store.h"
#include "support/testutil.h"

#define OK(x) assert_int_equal((x), 0)

struct fx {
    char *dir;
    char url[1024];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = tu_mktemp_dir()))
        return -1;
    snprintf(f->url, sizeof f->url, "sqlite:%s/idflow.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Runs fn(url) in a child with stderr captured; returns the wait status. */
static void (*child_fn)(const char *url);

static void child_trampoline(void *url)
{
    child_fn(url);
}

static int in_child(void (*fn)(const char *url), const char *url, char *msg, size_t cap)
{
    int status;

    child_fn = fn;
    status = tu_fork_stderr(child_trampoline, (void *)url, msg, cap);
    assert_int_not_equal(status, -1);
    return status;
}

/* In a child: exits 3 when something unexpected failed (not a rule). */
static struct store *child_open(const char *url)
{
    struct store *s = NULL;
    struct idf_err err;
    if (store_open(url, &s, &err) != 0) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        _exit(3);
    }
    return s;
}

#define CHILD_OK(x)                                                                                                    \
    do {                                                                                                               \
        if ((x) != 0) {                                                                                                \
            fprintf(stderr, "failed: %s\n", #x);                                                                       \
            _exit(3);                                                                                                  \
        }                                                                                                              \
    } while (0)

static void assert_aborted(int status, const char *msg, const char *want)
{
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT || !strstr(msg, want))
        fail_msg("expected an abort naming \"%s\"; status %d, stderr: %s", want, status, msg);
}

/* ------------------------------------------------------ the normal paths */

/* The calls a worker, the API and the CLI make, each followed by the check
 * between calls (no transaction left open, on the opener's thread); every
 * statement inside them passes the library's own checks when it has them. */
static void normal_paths(const char *url)
{
    struct store *s = child_open(url);
    struct store__sq *c = store__sq(s);
    struct store_run_in run = {"wf", 1};
    struct store_ingest_item it;
    struct store_run *claimed[4] = {0};
    struct store_step_rec step;
    struct store_run_next next;
    struct store_token *tok = NULL;
    struct idf_err err;
    int64_t run_id = 0, version = 0;
    size_t n = 0;
    bool created = false;
    char *v = NULL;

    memset(&it, 0, sizeof it);
    it.event.source = "manual";
    it.event.type = "manual";
    it.event.data = "{}";
    it.runs = &run;
    it.n_runs = 1;
    it.run_ids = &run_id;
    CHILD_OK(store_workflow_save(s, "wf", "name: wf", "h1", &version, &created, &err));
    store__sq_check_idle(c);
    CHILD_OK(store_ingest(s, &it, 1, &err));
    store__sq_check_idle(c);
    CHILD_OK(store_run_claim(s, "w1", 1000, 60000, 4, NULL, 0, claimed, &n, &err));
    store__sq_check_idle(c);
    if (n != 1)
        _exit(4);
    CHILD_OK(store_run_begin(s, run_id, "w1", 70000));
    store__sq_check_idle(c);
    memset(&step, 0, sizeof step);
    step.step_id = "a";
    step.item = -1;
    step.status = STORE_STEP_SUCCEEDED;
    step.attempts = 1;
    memset(&next, 0, sizeof next);
    next.status = STORE_RUN_SUCCEEDED;
    next.pc = 1;
    CHILD_OK(store_step_commit(s, run_id, "w1", 2000, &step, &next, &err));
    store__sq_check_idle(c);
    CHILD_OK(store_cursor_set(s, "k", "v"));
    CHILD_OK(store_cursor_get(s, "k", &v));
    store__sq_check_idle(c);
    CHILD_OK(store_token_create(s, "t", "admin", "hash", "pre", 0, "test", NULL, &err));
    CHILD_OK(store_token_lookup(s, "hash", 3000, &tok)); /* touches last_used_at: the named autocommit write */
    store__sq_check_idle(c);
    /* a failed write rolls back: still no transaction open after it */
    if (store_step_commit(s, run_id, "w1", 4000, &step, &next, &err) == 0)
        _exit(5);
    store__sq_check_idle(c);
    store_token_free(tok);
    store_run_free(claimed[0]);
    free(v);
    store_close(s);
}

static void test_normal_paths_keep_the_rules(void **state)
{
    struct fx *f = *state;
    char msg[2048];
    int status = in_child(normal_paths, f->url, msg, sizeof msg);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("the normal paths broke a rule (status %d): %s", status, msg);
    assert_string_equal(msg, "");
}

/* ------------------------------------------------------ the broken rules */

static void nested_begin(const char *url)
{
    struct store__sq *c = store__sq(child_open(url));
    CHILD_OK(store__sq_begin(c, SQ_SYNC_NORMAL, NULL));
    store__sq_check_begin(c); /* what store__sq_begin checks first */
    _exit(0);
}

static void test_nested_begin_aborts(void **state)
{
    struct fx *f = *state;
    char msg[2048];
    assert_aborted(in_child(nested_begin, f->url, msg, sizeof msg), msg,
                   "BEGIN on a connection already in a transaction");
}

/* Through the backend's own function: the checks are wired in where the
 * library was built with them; otherwise SQLite refuses the nested BEGIN. */
static void nested_begin_wired(const char *url)
{
    struct store__sq *c = store__sq(child_open(url));
    struct idf_err err;
    CHILD_OK(store__sq_begin(c, SQ_SYNC_NORMAL, NULL));
    if (store__sq_begin(c, SQ_SYNC_NORMAL, &err) == IDF_EDB)
        _exit(7);
    _exit(0);
}

static void test_nested_begin_in_the_backend(void **state)
{
    struct fx *f = *state;
    char msg[2048];
    int status = in_child(nested_begin_wired, f->url, msg, sizeof msg);
    if (store__sq_checks_on())
        assert_aborted(status, msg, "BEGIN on a connection already in a transaction");
    else
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 7);
}

static void commit_outside(const char *url)
{
    struct store__sq *c = store__sq(child_open(url));
    store__sq_check_commit(c);
    _exit(0);
}

static void test_commit_outside_a_transaction_aborts(void **state)
{
    struct fx *f = *state;
    char msg[2048];
    assert_aborted(in_child(commit_outside, f->url, msg, sizeof msg), msg, "COMMIT outside a transaction");
}

static void write_outside(const char *url)
{
    struct store__sq *c = store__sq(child_open(url));
    sqlite3_stmt *st = NULL;
    CHILD_OK(store__sq_prep(c, SQ_CURSOR_SET, "INSERT INTO cursors (name, value, updated_at) VALUES (?1, ?2, ?3)", &st,
                            NULL));
    store__sq_check_stmt(c, SQ_CURSOR_SET, st); /* a write, and no BEGIN before it */
    _exit(0);
}

static void test_write_outside_a_transaction_aborts(void **state)
{
    struct fx *f = *state;
    char msg[2048];
    assert_aborted(in_child(write_outside, f->url, msg, sizeof msg), msg, "outside a transaction");
}

static void left_open(const char *url)
{
    struct store__sq *c = store__sq(child_open(url));
    CHILD_OK(store__sq_begin(c, SQ_SYNC_NORMAL, NULL)); /* a call that forgot to commit */
    store__sq_check_idle(c);
    _exit(0);
}

static void test_transaction_left_open_aborts(void **state)
{
    struct fx *f = *state;
    char msg[2048];
    assert_aborted(in_child(left_open, f->url, msg, sizeof msg), msg, "a transaction left open after a call");
}

static void *use_from_other_thread(void *p)
{
    store__sq_check_thread(p, "a statement");
    return NULL;
}

static void other_thread(const char *url)
{
    struct store__sq *c = store__sq(child_open(url));
    pthread_t t;
    CHILD_OK(pthread_create(&t, NULL, use_from_other_thread, c));
    pthread_join(t, NULL);
    _exit(0);
}

static void test_use_from_another_thread_aborts(void **state)
{
    struct fx *f = *state;
    char msg[2048];
    assert_aborted(in_child(other_thread, f->url, msg, sizeof msg), msg, "on a connection another thread opened");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_normal_paths_keep_the_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_begin_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_begin_in_the_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_outside_a_transaction_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_outside_a_transaction_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transaction_left_open_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_use_from_another_thread_aborts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

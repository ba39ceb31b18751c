/* test_node_id.c — a node id is one live process at a time, with real
 * `idflow serve` processes (IDFLOW_BIN) on one SQLite database:
 *  - a second serve with the node id of a live one exits non-zero at once,
 *    saying the id is in use by a live node and that each node needs its
 *    own --node-id; the first one keeps serving;
 *  - after the first is killed with SIGKILL, a serve with the same id
 *    starts at once (its holder was a process of this machine and is gone:
 *    no need to wait out the lease), and stops cleanly.
 * (That the live node's runs are left alone, and that a holder from another
 * machine is waited out until its lease expires, is test_engine_singleton's.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/testutil.h"

#define WAIT_MS 20000

struct node {
    struct tu_proc p;
    char listen[64];
    char base[128];
};

static struct {
    const char *bin;
    char *dir;
    char db[400];
    char wfdir[400];
    struct node a, b, c; /* killed by group_teardown if a failed assertion left them running */
} E;

static int spawn_node(struct node *n, const char *node_id)
{
    int port = tu_free_port();
    const char *argv[] = {E.bin,   "serve",     "--db", E.db,        "--listen", n->listen, "--workflows",
                          E.wfdir, "--workers", "1",    "--node-id", node_id,    NULL};
    snprintf(n->listen, sizeof n->listen, "127.0.0.1:%d", port);
    snprintf(n->base, sizeof n->base, "http://127.0.0.1:%d", port);
    return tu_spawn(argv, NULL, &n->p);
}

static int wait_ready(struct node *n)
{
    char url[200];
    snprintf(url, sizeof url, "%s/readyz", n->base);
    if (tu_wait_http_ok(url, WAIT_MS)) {
        char *err = tu_proc_stderr(&n->p);
        fprintf(stderr, "idflow serve did not become ready:\n%s\n", err);
        free(err);
        return -1;
    }
    return 0;
}

static void a_node_id_is_one_live_process_at_a_time(void **state)
{
    struct node *a = &E.a, *b = &E.b, *c = &E.c;
    char *err;
    int rc;
    (void)state;

    assert_int_equal(spawn_node(a, "n1"), 0);
    assert_int_equal(wait_ready(a), 0);

    /* the same id again while n1 lives: refused */
    assert_int_equal(spawn_node(b, "n1"), 0);
    rc = tu_wait(&b->p, WAIT_MS);
    assert_int_equal(rc, 1); /* exited with an error (not still running, not a crash) */
    err = tu_proc_stderr(&b->p);
    if (!strstr(err, "node id n1 is in use by a live node (held until ") ||
        !strstr(err, "give each node its own --node-id"))
        fail_msg("unexpected stderr:\n%s", err);
    free(err);
    tu_proc_cleanup(&b->p);
    assert_int_equal(wait_ready(a), 0); /* still serving */

    /* n1 dies: the id is free at once for a process of this machine */
    assert_int_equal(tu_kill(&a->p, SIGKILL), 0);
    tu_wait(&a->p, WAIT_MS);
    tu_proc_cleanup(&a->p);
    assert_int_equal(spawn_node(c, "n1"), 0);
    assert_int_equal(wait_ready(c), 0);
    err = tu_proc_stderr(&c->p);
    if (!strstr(err, "the earlier process of node n1 on this machine is gone"))
        fail_msg("no takeover logged:\n%s", err);
    free(err);
    assert_int_equal(tu_kill(&c->p, SIGTERM), 0);
    assert_int_equal(tu_wait(&c->p, WAIT_MS), 0);
    tu_proc_cleanup(&c->p);
}

static int group_setup(void **state)
{
    char cmd[600];
    (void)state;
    E.bin = getenv("IDFLOW_BIN");
    if (!E.bin) {
        fprintf(stderr, "IDFLOW_BIN must be set (make test sets it)\n");
        return -1;
    }
    E.dir = tu_mktemp_dir();
    if (!E.dir)
        return -1;
    snprintf(E.db, sizeof E.db, "sqlite:%s/idflow.db", E.dir);
    snprintf(E.wfdir, sizeof E.wfdir, "%s/wf", E.dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", E.wfdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    tu_proc_cleanup(&E.a.p);
    tu_proc_cleanup(&E.b.p);
    tu_proc_cleanup(&E.c.p);
    if (E.dir) {
        tu_rm_rf(E.dir);
        free(E.dir);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_node_id_is_one_live_process_at_a_time),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

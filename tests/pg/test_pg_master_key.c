/* test_pg_master_key.c — the master key of a cluster: on a PostgreSQL
 * database (shared by several nodes, which must all hold the same key)
 * `idflow serve` never makes a key file of its own:
 *  - without IDFLOW_MASTER_KEY, IDFLOW_KEY_FILE or ./idflow.key it exits 1
 *    with a message saying every node needs the same key, and creates no
 *    key file (neither ./idflow.key nor the one IDFLOW_KEY_FILE names);
 *  - an existing key file (./idflow.key, the default) is used: serve starts.
 *
 * Needs a server: IDFLOW_TEST_PG_URL (tests/pg/run.sh sets it); without it
 * every test fails, saying so. Each test works in a schema of its own
 * (support/storeurl.h) and in a temporary working directory. IDFLOW_BIN is
 * the idflow binary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/storeurl.h"
#include "support/testutil.h"

#define KEY_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"

static const char *idflow_bin(void)
{
    const char *b = getenv("IDFLOW_BIN");
    if (!b || !*b)
        fail_msg("IDFLOW_BIN is not set");
    return b;
}

/* A fresh, empty schema's URL into out. */
static void fresh_url(const char *what, char *out, size_t n)
{
    assert_int_equal(tu_pg_fresh_url(what, out, n), 0);
}

/* The test's working directory: a fresh temporary one, with an empty
 * workflows folder; no key in the environment. Returns it (caller frees and
 * removes it). */
static char *enter_tmp(void)
{
    char *dir = tu_mktemp_dir();
    assert_non_null(dir);
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(mkdir("workflows", 0700), 0);
    unsetenv("IDFLOW_KEY_FILE");
    unsetenv("IDFLOW_MASTER_KEY");
    return dir;
}

static void leave_tmp(char *dir)
{
    assert_int_equal(chdir("/"), 0);
    tu_rm_rf(dir);
    free(dir);
}

static void serve_without_a_key_exits_1_and_makes_none(void **state)
{
    char url[1024], named[600];
    char *out = NULL, *err = NULL, *dir = enter_tmp();
    const char *argv[] = {idflow_bin(), "serve", "--db", url, "--listen", "127.0.0.1:0", "--workflows",
                          "workflows",  NULL};
    (void)state;

    fresh_url("nokey", url, sizeof url);
    assert_int_equal(tu_run(argv, NULL, 30000, &out, &err), 1);
    if (!strstr(err, "every node needs the same key") || !strstr(err, "IDFLOW_KEY_FILE") ||
        !strstr(err, "IDFLOW_MASTER_KEY"))
        fail_msg("serve said: %s", err);
    assert_int_equal(access("idflow.key", F_OK), -1); /* nothing made in the working directory */
    free(out);
    free(err);

    /* a key file named but missing (not copied to this node): not made either */
    snprintf(named, sizeof named, "IDFLOW_KEY_FILE=%s/cluster.key", dir);
    {
        const char *env[] = {named, NULL};
        out = err = NULL;
        assert_int_equal(tu_run(argv, env, 30000, &out, &err), 1);
        if (!strstr(err, "every node needs the same key") || !strstr(err, "cluster.key"))
            fail_msg("serve said: %s", err);
        assert_int_equal(access("cluster.key", F_OK), -1);
        assert_int_equal(access("idflow.key", F_OK), -1);
        free(out);
        free(err);
    }
    leave_tmp(dir);
}

static void an_existing_key_file_is_used(void **state)
{
    char url[1024], listen[64], ready[128];
    char *dir = enter_tmp(), *kept;
    struct tu_proc p;
    int port = tu_free_port();
    (void)state;

    fresh_url("key", url, sizeof url);
    assert_int_equal(tu_write_file("idflow.key", KEY_HEX), 0);
    assert_int_equal(chmod("idflow.key", 0600), 0);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(ready, sizeof ready, "http://%s/readyz", listen);
    {
        const char *argv[] = {idflow_bin(), "serve",       "--db",      url, "--listen", listen,
                              "--workflows", "workflows", "--node-id", "key-node", NULL};
        assert_int_equal(tu_spawn(argv, NULL, &p), 0);
    }
    if (tu_wait_http_ok(ready, 30000) != 0) {
        char *e = tu_proc_stderr(&p);
        tu_kill(&p, SIGKILL);
        tu_wait(&p, 5000);
        fail_msg("serve did not start with the existing key: %s", e);
    }
    tu_kill(&p, SIGTERM);
    assert_int_equal(tu_wait(&p, 15000), 0);
    tu_proc_cleanup(&p);
    kept = tu_read_file("idflow.key", NULL);
    assert_non_null(kept);
    assert_string_equal(kept, KEY_HEX); /* used as it was */
    free(kept);
    leave_tmp(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(serve_without_a_key_exits_1_and_makes_none),
        cmocka_unit_test(an_existing_key_file_is_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_connect.c — `idflow connect` and `idflow connections` end to end,
 * against a real `idflow sandbox` on loopback: a connection is stored only
 * after a real credential check; secrets are never taken from argv, never
 * printed, never stored in clear; the master key comes from a 0600 key file
 * created next to the database or from IDFLOW_MASTER_KEY; --test and
 * --remove; exit codes 0/1/2. IDFLOW_BIN is the binary under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/testutil.h"

#define TOKEN "sbx-0123456789-abcdefghij-TOKEN" /* what the sandbox accepts */
#define WRONG "sbx-wrong-token-zyxwvutsrq-9876"
#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define OTHER_HEX "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

struct env {
    const char *bin;
    struct tu_proc sandbox;
    char url[128]; /* the sandbox's base URL */
};

static struct env E;

struct fx {
    char *dir;
    char db[400];      /* sqlite:<dir>/idflow.db */
    char tokfile[400]; /* <dir>/token, mode 0600, holds TOKEN */
};

/* ---------------------------------------------------------------- helpers */

static bool sandbox_up(void *ud)
{
    (void)ud;
    return tu_sandbox_url(&E.sandbox, E.url, sizeof E.url);
}

static int start_sandbox(void **state)
{
    const char *argv[] = {NULL, "sandbox", "--listen", "127.0.0.1:0", "--token", TOKEN, NULL};
    (void)state;
    E.bin = getenv("IDFLOW_BIN");
    if (!E.bin) {
        fprintf(stderr, "IDFLOW_BIN must be set (make test sets it)\n");
        return -1;
    }
    argv[0] = E.bin;
    if (tu_spawn(argv, NULL, &E.sandbox))
        return -1;
    if (!tu_wait_until(sandbox_up, NULL, 15000)) {
        char *err = tu_proc_stderr(&E.sandbox);
        fprintf(stderr, "the sandbox did not start:\n%s\n", err);
        free(err);
        return -1;
    }
    return 0;
}

static int stop_sandbox(void **state)
{
    (void)state;
    tu_kill(&E.sandbox, SIGTERM);
    tu_wait(&E.sandbox, 10000);
    tu_proc_cleanup(&E.sandbox);
    return 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->dir = tu_mktemp_dir();
    snprintf(f->db, sizeof f->db, "sqlite:%s/idflow.db", f->dir);
    snprintf(f->tokfile, sizeof f->tokfile, "%s/token", f->dir);
    if (!f->dir || tu_write_file(f->tokfile, TOKEN "\n"))
        return -1;
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

/* Runs idflow with args (NULL-terminated, after the binary) and env; returns
 * its exit code with stdout and stderr in *out / *err (caller frees). Fails
 * the test when a secret shows up in either. */
static int run_env(const char *const env[], char **out, char **err, const char *first, ...)
{
    const char *argv[32];
    struct tu_proc p;
    va_list ap;
    int n = 0, rc;
    char *o, *e;

    argv[n++] = E.bin;
    argv[n++] = first;
    va_start(ap, first);
    while (n < 31 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(tu_spawn(argv, env, &p), 0);
    rc = tu_wait(&p, 30000);
    o = tu_proc_stdout(&p);
    e = tu_proc_stderr(&p);
    tu_proc_cleanup(&p);
    assert_null(strstr(o, TOKEN));
    assert_null(strstr(e, TOKEN));
    assert_null(strstr(o, WRONG));
    assert_null(strstr(e, WRONG));
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    return rc;
}

#define run(out, err, ...) run_env(NULL, out, err, __VA_ARGS__, NULL)

/* The names listed by `idflow connections --json`, as a JSON array of rows. */
static json_t *listed(struct fx *f)
{
    char *out = NULL;
    json_t *j;
    assert_int_equal(run(&out, NULL, "connections", "--json", "--db", f->db), 0);
    j = json_loads(out, 0, NULL);
    assert_true(json_is_array(j));
    free(out);
    return j;
}

static bool file_has(const char *path, const char *needle)
{
    size_t n = 0;
    char *t = tu_read_file(path, &n);
    bool hit = t && memmem(t, n, needle, strlen(needle)) != NULL;
    free(t);
    return hit;
}

/* ------------------------------------------------------------------ tests */

static void saves_after_a_real_check(void **state)
{
    struct fx *f = *state;
    char *out = NULL, *err = NULL, key[500], path[500];
    struct stat st;
    json_t *l, *row;

    assert_int_equal(run(&out, &err, "connect", "okta", "sbx", "--url", E.url, "--token-file", f->tokfile,
                         "--sandbox", "--db", f->db),
                     0);
    /* The check's answer says whom the token belongs to. */
    assert_non_null(strstr(out, "belong to"));
    assert_non_null(strstr(out, "it.automation@acme.example"));
    assert_non_null(strstr(out, "saved"));
    assert_non_null(strstr(err, "created the master key file"));
    free(out);
    free(err);

    /* The key file next to the database, 0600, 64 hex characters. */
    snprintf(key, sizeof key, "%s/idflow.key", f->dir);
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);

    /* Listed without the token; stored without it in clear. */
    l = listed(f);
    assert_int_equal(json_array_size(l), 1);
    row = json_array_get(l, 0);
    assert_string_equal(json_string_value(json_object_get(row, "name")), "sbx");
    assert_string_equal(json_string_value(json_object_get(row, "kind")), "okta");
    assert_string_equal(json_string_value(json_object_get(json_object_get(row, "config"), "url")), E.url);
    assert_true(json_is_true(json_object_get(json_object_get(row, "config"), "sandbox")));
    assert_null(json_object_get(json_object_get(row, "config"), "token"));
    json_decref(l);
    snprintf(path, sizeof path, "%s/idflow.db", f->dir);
    assert_false(file_has(path, TOKEN));
    snprintf(path, sizeof path, "%s/idflow.db-wal", f->dir);
    assert_false(file_has(path, TOKEN));

    /* The human list too. */
    assert_int_equal(run(&out, NULL, "connections", "--db", f->db), 0);
    assert_non_null(strstr(out, "sbx"));
    assert_non_null(strstr(out, E.url));
    free(out);

    /* Saving again replaces it, with the same key file. */
    assert_int_equal(run(&out, &err, "connect", "okta", "sbx", "--url", E.url, "--token-file", f->tokfile,
                         "--sandbox", "--db", f->db),
                     0);
    assert_non_null(strstr(out, "replaced"));
    assert_null(strstr(err, "created the master key file"));
    free(out);
    free(err);
}

static void refusals_store_nothing(void **state)
{
    struct fx *f = *state;
    char *err = NULL;
    json_t *l;

    /* A secret as a plain argument: usage error, never echoed (run checks). */
    assert_int_equal(run(NULL, &err, "connect", "okta", "a", "--url", E.url, "--token", TOKEN, "--sandbox", "--db",
                         f->db),
                     2);
    assert_non_null(strstr(err, "--token-file"));
    free(err);
    assert_int_equal(run(NULL, NULL, "connect", "okta", "a", "--url", E.url, "--token=" TOKEN, "--db", f->db), 2);
    /* A wrong token: the check fails and nothing is stored. */
    {
        const char *env[] = {"IDF_TEST_TOKEN=" WRONG, NULL};
        assert_int_equal(run_env(env, NULL, &err, "connect", "okta", "b", "--url", E.url, "--token-env",
                                 "IDF_TEST_TOKEN", "--sandbox", "--db", f->db, NULL),
                         1);
        assert_non_null(strstr(err, "E0000011"));
        assert_non_null(strstr(err, "nothing was stored"));
        free(err);
    }
    /* Plain http without --sandbox; a missing token; an unknown kind or option. */
    assert_int_equal(run(NULL, &err, "connect", "okta", "c", "--url", E.url, "--token-file", f->tokfile, "--db",
                         f->db),
                     1);
    assert_non_null(strstr(err, "https"));
    free(err);
    assert_int_equal(run(NULL, &err, "connect", "okta", "d", "--url", E.url, "--sandbox", "--db", f->db), 1);
    assert_non_null(strstr(err, "token is required"));
    free(err);
    assert_int_equal(run(NULL, NULL, "connect", "nosuchkind", "e", "--db", f->db), 2);
    assert_int_equal(run(NULL, NULL, "connect", "okta", "f", "--colour", "red", "--db", f->db), 2);
    assert_int_equal(run(NULL, NULL, "connect", "okta", "bad/name", "--url", E.url, "--db", f->db), 2);
    assert_int_equal(run(NULL, NULL, "connect", "okta", "--db", f->db), 2);

    l = listed(f);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
}

static void token_from_stdin_and_env(void **state)
{
    struct fx *f = *state;
    char script[1500];
    struct tu_proc p;
    json_t *l;

    /* --token - reads standard input. */
    snprintf(script, sizeof script, "exec \"$0\" connect okta viastdin --url '%s' --token - --sandbox --db '%s' < '%s'",
             E.url, f->db, f->tokfile);
    {
        const char *argv[] = {"/bin/sh", "-c", script, E.bin, NULL};
        char *o, *e;
        assert_int_equal(tu_spawn(argv, NULL, &p), 0);
        assert_int_equal(tu_wait(&p, 30000), 0);
        o = tu_proc_stdout(&p);
        e = tu_proc_stderr(&p);
        assert_non_null(strstr(o, "saved"));
        assert_null(strstr(o, TOKEN));
        assert_null(strstr(e, TOKEN));
        free(o);
        free(e);
        tu_proc_cleanup(&p);
    }
    /* --token-env VAR reads a variable. */
    {
        const char *env[] = {"IDF_TEST_TOKEN=" TOKEN, NULL};
        assert_int_equal(run_env(env, NULL, NULL, "connect", "okta", "viaenv", "--url", E.url, "--token-env",
                                 "IDF_TEST_TOKEN", "--sandbox", "--db", f->db, NULL),
                         0);
        assert_int_equal(run(NULL, NULL, "connect", "okta", "x", "--url", E.url, "--token-env", "IDF_TEST_UNSET_VAR",
                             "--sandbox", "--db", f->db),
                         2);
    }
    l = listed(f);
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);
}

static void test_and_remove(void **state)
{
    struct fx *f = *state;
    char *out = NULL, *err = NULL, key[500];

    assert_int_equal(run(NULL, NULL, "connect", "okta", "sbx", "--url", E.url, "--token-file", f->tokfile,
                         "--sandbox", "--db", f->db),
                     0);
    /* --test re-checks the stored credentials. */
    assert_int_equal(run(&out, NULL, "connect", "okta", "sbx", "--test", "--db", f->db), 0);
    assert_non_null(strstr(out, "it.automation@acme.example"));
    free(out);
    /* Another master key cannot open them. */
    {
        const char *env[] = {"IDFLOW_MASTER_KEY=" OTHER_HEX, NULL};
        assert_int_equal(run_env(env, NULL, &err, "connect", "okta", "sbx", "--test", "--db", f->db, NULL), 1);
        assert_non_null(strstr(err, "wrong master key"));
        assert_null(strstr(err, OTHER_HEX));
        free(err);
    }
    /* A key file others can read is refused, naming the fix. */
    snprintf(key, sizeof key, "%s/idflow.key", f->dir);
    assert_int_equal(chmod(key, 0644), 0);
    assert_int_equal(run(NULL, &err, "connect", "okta", "sbx", "--test", "--db", f->db), 1);
    assert_non_null(strstr(err, "chmod 600"));
    free(err);
    assert_int_equal(chmod(key, 0600), 0);

    /* --remove deletes it; twice is an error; --test then fails. */
    assert_int_equal(run(&out, NULL, "connect", "okta", "sbx", "--remove", "--db", f->db), 0);
    assert_non_null(strstr(out, "removed"));
    free(out);
    assert_int_equal(run(NULL, NULL, "connect", "okta", "sbx", "--remove", "--db", f->db), 1);
    assert_int_equal(run(NULL, &err, "connect", "okta", "sbx", "--test", "--db", f->db), 1);
    assert_non_null(strstr(err, "no connection named sbx"));
    free(err);
    assert_int_equal(run(NULL, NULL, "connect", "okta", "sbx", "--test", "--remove", "--db", f->db), 2);
}

static void master_key_from_the_environment(void **state)
{
    struct fx *f = *state;
    const char *env[] = {"IDFLOW_MASTER_KEY=" KEY_HEX, NULL};
    char *err = NULL, key[500];
    struct stat st;

    assert_int_equal(run_env(env, NULL, NULL, "connect", "okta", "sbx", "--url", E.url, "--token-file", f->tokfile,
                             "--sandbox", "--db", f->db, NULL),
                     0);
    /* No key file was made: the key came from the environment. */
    snprintf(key, sizeof key, "%s/idflow.key", f->dir);
    assert_int_equal(stat(key, &st), -1);
    assert_int_equal(run_env(env, NULL, NULL, "connect", "okta", "sbx", "--test", "--db", f->db, NULL), 0);
    /* Without it (and without a key file) the secrets cannot be opened. */
    assert_int_equal(run(NULL, &err, "connect", "okta", "sbx", "--test", "--db", f->db), 1);
    assert_non_null(strstr(err, "does not exist"));
    free(err);
    /* The same key in a file given with --key-file works. */
    assert_int_equal(tu_write_file(key, KEY_HEX "\n"), 0);
    assert_int_equal(run(NULL, NULL, "connect", "okta", "sbx", "--test", "--key-file", key, "--db", f->db), 0);
    /* A malformed variable is refused without being echoed. */
    {
        const char *bad[] = {"IDFLOW_MASTER_KEY=not-a-key-at-all-but-secret", NULL};
        assert_int_equal(run_env(bad, NULL, &err, "connect", "okta", "sbx", "--test", "--db", f->db, NULL), 1);
        assert_non_null(strstr(err, "IDFLOW_MASTER_KEY"));
        assert_null(strstr(err, "not-a-key-at-all"));
        free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(saves_after_a_real_check, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_store_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(token_from_stdin_and_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_and_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(master_key_from_the_environment, setup, teardown),
    };
    return cmocka_run_group_tests(tests, start_sandbox, stop_sandbox);
}

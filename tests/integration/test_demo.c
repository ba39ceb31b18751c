/* test_demo.c — `idflow demo --once`, what `make demo` runs: the sandbox,
 * serve, both connections, the event hooks and every shipped scenario must
 * end as expected (exit 0), and nothing may be left behind; an operator's
 * master key and key file settings reach neither the demo's processes nor
 * its children. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/testutil.h"

#define DEMO_KEY "3c0ffee0d15ea5e5b01dfacadebabe5eedbeef0123456789abcdef0011223344"

static bool demo_started(void *ud)
{
    char *out = tu_proc_stdout(ud);
    bool up = strstr(out, "idflow demo: sandbox at") != NULL;
    free(out);
    return up;
}

/* "" when the environment block of pid (what /proc/PID/environ shows)
 * holds neither the master key nor, for a child, the key file setting;
 * else what it holds, into problem. */
static void env_check(int pid, bool child, char *problem, size_t n)
{
    char path[64], *env;
    size_t len = 0;

    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    env = tu_read_file(path, &len);
    if (!env || problem[0])
        goto out; /* ended meanwhile, or already one problem to report */
    if (memmem(env, len, DEMO_KEY, strlen(DEMO_KEY)))
        snprintf(problem, n, "%s holds the operator's master key", path);
    else if (child && memmem(env, len, "IDFLOW_KEY_FILE=", 16))
        snprintf(problem, n, "%s was given the operator's IDFLOW_KEY_FILE", path);
out:
    free(env);
}

static void every_scenario_ends_as_expected(void **state)
{
    const char *bin = getenv("IDFLOW_BIN"), *src = getenv("IDFLOW_SRC");
    char wf[600], *out, *err, *dir, keyfile[300], keyvar[340], path[80], *kids, problem[200] = "";
    struct tu_proc p;
    int rc, n = 0;
    (void)state;
    assert_non_null(bin);
    assert_non_null(src);
    snprintf(wf, sizeof wf, "%s/examples/workflows", src);
    /* An operator's key settings are neither used nor passed on: the demo
     * seals with a key file in its own folder. */
    dir = tu_mktemp_dir();
    assert_non_null(dir);
    snprintf(keyfile, sizeof keyfile, "%s/operator.key", dir);
    snprintf(keyvar, sizeof keyvar, "IDFLOW_KEY_FILE=%s", keyfile);
    {
        const char *argv[] = {bin, "demo", "--once", "--workflows", wf, NULL};
        const char *env[] = {"IDFLOW_MASTER_KEY=" DEMO_KEY, keyvar, NULL};
        assert_int_equal(tu_spawn(argv, env, &p), 0);
    }
    assert_true(tu_wait_until(demo_started, &p, 60000));
    env_check((int)p.pid, false, problem, sizeof problem);
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)p.pid, (int)p.pid);
    kids = tu_read_file(path, NULL);
    assert_non_null(kids);
    for (char *k = kids; *k;) {
        char *end;
        long pid = strtol(k, &end, 10);
        if (end == k)
            break;
        env_check((int)pid, true, problem, sizeof problem);
        n++;
        k = end;
    }
    free(kids);
    rc = tu_wait(&p, 120000); /* the demo ends its children itself */
    if (problem[0] || n < 2) { /* n: the sandbox and serve at least */
        tu_proc_cleanup(&p);
        tu_rm_rf(dir);
        fail_msg("%s (%d children seen)", problem[0] ? problem : "too few children", n);
    }
    out = tu_proc_stdout(&p);
    err = tu_proc_stderr(&p);
    if (rc != 0)
        print_message("idflow demo exited with %d\n%s\n%s\n", rc, out, err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "demo: every scenario ended as expected"));
    assert_null(strstr(out, "UNEXPECTED"));
    /* the report shows the event-driven paths */
    assert_non_null(strstr(out, "started by the Okta event hook"));
    assert_non_null(strstr(out, "started by polling HappyFox's ticket list"));
    assert_non_null(strstr(out, "changed: false")); /* the second unlock converged */
    free(out);
    free(err);
    tu_proc_cleanup(&p);
    assert_int_equal(access(keyfile, F_OK), -1);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_scenario_ends_as_expected),
    };
    return cmocka_run_group_tests_name("demo", tests, NULL, NULL);
}

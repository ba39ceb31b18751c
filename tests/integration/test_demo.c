/* test_demo.c — `idflow demo --once`, what `make demo` runs: the sandbox,
 * serve, both connections, the event hooks and every shipped scenario must
 * end as expected (exit 0), and nothing may be left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/testutil.h"

static void every_scenario_ends_as_expected(void **state)
{
    const char *bin = getenv("IDFLOW_BIN"), *src = getenv("IDFLOW_SRC");
    char wf[600], *out, *err;
    struct tu_proc p;
    int rc;
    (void)state;
    assert_non_null(bin);
    assert_non_null(src);
    snprintf(wf, sizeof wf, "%s/examples/workflows", src);
    {
        const char *argv[] = {bin, "demo", "--once", "--workflows", wf, NULL};
        assert_int_equal(tu_spawn(argv, NULL, &p), 0);
    }
    rc = tu_wait(&p, 120000);
    out = tu_proc_stdout(&p);
    err = tu_proc_stderr(&p);
    if (rc != 0)
        print_message("idflow demo exited with %d\n%s\n%s\n", rc, out, err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "demo: every scenario ended as expected"));
    assert_null(strstr(out, "UNEXPECTED"));
    /* the report shows the event-driven paths */
    assert_non_null(strstr(out, "started by the Okta event hook"));
    assert_non_null(strstr(out, "started by the HappyFox webhook"));
    assert_non_null(strstr(out, "changed: false")); /* the second unlock converged */
    free(out);
    free(err);
    tu_proc_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_scenario_ends_as_expected),
    };
    return cmocka_run_group_tests_name("demo", tests, NULL, NULL);
}

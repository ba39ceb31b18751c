/* test_invariant.c — core/invariant.h: a broken invariant stops the process
 * with a line naming the place and the condition (checked in a child, with
 * IDF_INVARIANTS defined here whatever the build), and a kept one does not. */
#define IDF_INVARIANTS 1
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
#include "support/testutil.h"

static void check(void *arg)
{
    int ok = *(int *)arg;
    IDF_INVARIANT(ok, "run %d is %s", 7, "running");
}

/* Runs IDF_INVARIANT(ok, ...) in a child; returns its wait status and what it wrote to stderr. */
static int check_in_child(int ok, char *msg, size_t cap)
{
    int status = tu_fork_stderr(check, &ok, msg, cap);
    assert_int_not_equal(status, -1);
    return status;
}

static void test_broken_invariant_aborts_naming_it(void **state)
{
    char msg[512];
    int status = check_in_child(0, msg, sizeof msg);
    (void)state;
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(msg, "invariant broken at tests/unit/test_invariant.c:"));
    assert_non_null(strstr(msg, ": ok: run 7 is running"));
}

static void test_kept_invariant_costs_nothing_visible(void **state)
{
    char msg[512];
    int status = check_in_child(1, msg, sizeof msg);
    (void)state;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_string_equal(msg, "");
    assert_int_equal(IDF_INVARIANTS_ON, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broken_invariant_aborts_naming_it),
        cmocka_unit_test(test_kept_invariant_costs_nothing_visible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_demo_dir.c — the demo's folder and workflow copy (cli/demo_dir.c):
 * a ticket subject keeps its first letter whatever the scenario number's
 * width; --dir is made when missing and refused when not empty or not a
 * folder (nothing made then); the default is a new folder under TMPDIR;
 * the copy leaves the plain offboarding out, enables the approval variant
 * and changes nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/demo.h"
#include "support/testutil.h"

static const char APPROVAL[] = "# the approval variant\n"
                               "name: offboarding-with-approval\n"
                               "enabled: false\n"
                               "on: manual\n"
                               "steps:\n"
                               "  - id: a\n"
                               "    do: approval\n"
                               "    with: {message: \"enabled: false stays in a string\"}\n";

static void ticket_subject_is_whole(void **state)
{
    (void)state;
    assert_string_equal(demo__ticket_subject("8. Onboarding ticket: create"), "Onboarding ticket: create");
    assert_string_equal(demo__ticket_subject("9. Offboarding ticket resolved"), "Offboarding ticket resolved");
    assert_string_equal(demo__ticket_subject("10. MFA Reset ticket"), "MFA Reset ticket");
    assert_string_equal(demo__ticket_subject("   ... and more"), "   ... and more");
    assert_string_equal(demo__ticket_subject("2FA reset"), "2FA reset"); /* a number that is not a scenario's */
    assert_string_equal(demo__ticket_subject(""), "");
}

static void dir_given_is_made_or_must_be_empty(void **state)
{
    char *tmp = tu_mktemp_dir(), *file, *nested, out[DEMO_PATH_MAX + 1], env[600];
    struct idf_err err;
    struct stat sb;
    (void)state;
    assert_non_null(tmp);
    nested = tu_path(tmp, "a/b/demo");
    assert_int_equal(demo__dir_prepare(nested, out, sizeof out, &err), 0);
    assert_string_equal(out, nested);
    assert_int_equal(stat(nested, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);
    /* empty: taken as it is */
    assert_int_equal(demo__dir_prepare(nested, out, sizeof out, &err), 0);
    /* not empty, or a file: refused, nothing changed */
    file = tu_path(nested, "x.txt");
    assert_int_equal(tu_write_file(file, "x"), 0);
    assert_int_equal(demo__dir_prepare(nested, out, sizeof out, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "is not empty"));
    assert_int_equal(demo__dir_prepare(file, out, sizeof out, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "not a folder"));
    /* none given: a new folder under TMPDIR, named */
    snprintf(env, sizeof env, "%s", tmp);
    setenv("TMPDIR", env, 1);
    assert_int_equal(demo__dir_prepare(NULL, out, sizeof out, &err), 0);
    assert_int_equal(strncmp(out, tmp, strlen(tmp)), 0);
    assert_non_null(strstr(out, "/idflow-demo-"));
    assert_int_equal(stat(out, &sb), 0);
    unsetenv("TMPDIR");
    free(file);
    free(nested);
    tu_rm_rf(tmp);
    free(tmp);
}

static void workflows_copy_plays_the_approval(void **state)
{
    char *tmp = tu_mktemp_dir(), *from, *dir, *p, *text, out[DEMO_PATH_MAX + 16];
    struct idf_err err;
    (void)state;
    assert_non_null(tmp);
    from = tu_path(tmp, "from");
    dir = tu_path(tmp, "demo");
    assert_int_equal(mkdir(from, 0700), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    p = tu_path(from, "offboarding-with-approval.yaml");
    assert_int_equal(tu_write_file(p, APPROVAL), 0);
    free(p);
    p = tu_path(from, "offboarding-on-resolve.yaml");
    assert_int_equal(tu_write_file(p, "name: offboarding-on-resolve\n"), 0);
    free(p);
    p = tu_path(from, "unlock-user.yml");
    assert_int_equal(tu_write_file(p, "name: unlock-user\nenabled: false\n"), 0);
    free(p);
    p = tu_path(from, "README.md");
    assert_int_equal(tu_write_file(p, "not a workflow"), 0);
    free(p);

    assert_int_equal(demo__workflows_copy(from, dir, out, sizeof out, &err), 0);
    p = tu_path(dir, "workflows");
    assert_string_equal(out, p);
    free(p);
    p = tu_path(out, "offboarding-with-approval.yaml");
    text = tu_read_file(p, NULL);
    assert_non_null(text);
    {
        char want[sizeof APPROVAL];
        const char *at = strstr(APPROVAL, "enabled: false\n");
        snprintf(want, sizeof want, "%.*senabled: true\n%s", (int)(at - APPROVAL), APPROVAL, at + 15);
        assert_string_equal(text, want); /* that line only; the string keeps its words */
    }
    free(text);
    free(p);
    p = tu_path(out, "unlock-user.yml");
    text = tu_read_file(p, NULL);
    assert_string_equal(text, "name: unlock-user\nenabled: false\n"); /* others as they are */
    free(text);
    free(p);
    p = tu_path(out, "offboarding-on-resolve.yaml");
    assert_int_equal(access(p, F_OK), -1);
    free(p);
    p = tu_path(out, "README.md");
    assert_int_equal(access(p, F_OK), -1);
    free(p);

    /* a folder without the approval variant: refused, naming it */
    tu_rm_rf(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    p = tu_path(from, "offboarding-with-approval.yaml");
    assert_int_equal(unlink(p), 0);
    free(p);
    assert_int_equal(demo__workflows_copy(from, dir, out, sizeof out, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "offboarding-with-approval.yaml"));
    free(from);
    free(dir);
    tu_rm_rf(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ticket_subject_is_whole),
        cmocka_unit_test(dir_given_is_made_or_must_be_empty),
        cmocka_unit_test(workflows_copy_plays_the_approval),
    };
    return cmocka_run_group_tests_name("demo_dir", tests, NULL, NULL);
}

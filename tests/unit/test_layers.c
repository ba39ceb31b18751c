/* test_layers.c — the source tree keeps its shape (docs/internals/README.md):
 * folders include only folders below them in one order, so there is no
 * cycle; nothing outside src/connectors/ names a connector's own folder
 * (the engine, the API and the CLI know connectors only through
 * connector.h and the registry), but for the sandbox's one shared list;
 * only src/store/ includes SQLite; and nothing in src/store/ includes
 * jansson (the store returns rows and never parses or builds JSON: the API's
 * and the CLI's JSON is rendered in src/api/render.c). Reads the tree at
 * $IDFLOW_SRC (set by `make test`; the current directory otherwise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lowest first: a folder may include its own and those before it. */
static const char *const order[] = {"core", "crypto", "net",    "expr", "store",   "connectors", "credentials",
                                    "flow", "engine", "ui",     "api",  "sandbox", "cli"};
#define N_ORDER (sizeof order / sizeof order[0])

/* The one include of a connector's folder from outside src/connectors/. */
static const char *const connector_exceptions[][2] = {
    {"sandbox/okta/hooks.c", "connectors/okta/eligible.h"},
};

static char problems[8192];
static size_t n_files;

static int rank(const char *folder, size_t len)
{
    for (size_t i = 0; i < N_ORDER; i++)
        if (strlen(order[i]) == len && strncmp(order[i], folder, len) == 0)
            return (int)i;
    return -1;
}

__attribute__((format(printf, 1, 2))) static void problem(const char *fmt, ...)
{
    size_t n = strlen(problems);
    va_list ap;

    if (n + 300 >= sizeof problems)
        return;
    va_start(ap, fmt);
    vsnprintf(problems + n, sizeof problems - n, fmt, ap);
    va_end(ap);
}

static bool connector_exception(const char *file, const char *inc)
{
    for (size_t i = 0; i < sizeof connector_exceptions / sizeof connector_exceptions[0]; i++)
        if (strcmp(file, connector_exceptions[i][0]) == 0 && strcmp(inc, connector_exceptions[i][1]) == 0)
            return true;
    return false;
}

/* One #include "..." of file (a path below src/). */
static void check_include(const char *file, const char *inc)
{
    const char *slash = strchr(inc, '/'), *fslash = strchr(file, '/');
    int from, to;

    if (!slash || !fslash)
        return; /* main.c, or an include of the same folder by plain name */
    from = rank(file, (size_t)(fslash - file));
    to = rank(inc, (size_t)(slash - inc));
    if (from < 0)
        problem("%s: a folder missing from the layer order (%s)\n", file, "add it to test_layers.c and README");
    else if (to < 0)
        problem("%s includes %s, from no known folder\n", file, inc);
    else if (to > from)
        problem("%s includes %s, from a folder above its own\n", file, inc);
    if (strncmp(inc, "connectors/", 11) == 0 && strchr(inc + 11, '/') && strncmp(file, "connectors/", 11) != 0 &&
        !connector_exception(file, inc))
        problem("%s includes %s: only src/connectors/ may name a connector's own folder\n", file, inc);
}

/* One #include <...> of file (a path below src/). */
static void check_system_include(const char *file, const char *inc)
{
    bool in_store = strncmp(file, "store/", 6) == 0;

    if ((strncmp(inc, "sqlite3", 7) == 0 || strncmp(inc, "libpq", 5) == 0) && !in_store)
        problem("%s includes <%s>: only src/store/ speaks SQL\n", file, inc);
    if (strncmp(inc, "jansson", 7) == 0 && in_store)
        problem("%s includes <%s>: the store returns rows, JSON is rendered in api/render.c\n", file, inc);
}

static int visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    const char *rel = strstr(path, "/src/");
    size_t len = strlen(path);
    char line[1024];
    FILE *f;

    (void)sb;
    (void)ftw;
    if (type != FTW_F || !rel || len < 2 || (strcmp(path + len - 2, ".c") && strcmp(path + len - 2, ".h")))
        return 0;
    rel += 5;
    if (!(f = fopen(path, "r")))
        return 0;
    n_files++;
    while (fgets(line, sizeof line, f)) {
        char inc[512];
        if (sscanf(line, " # include \"%511[^\"]\"", inc) == 1)
            check_include(rel, inc);
        else if (sscanf(line, " # include <%511[^>]>", inc) == 1)
            check_system_include(rel, inc);
    }
    fclose(f);
    return 0;
}

static void walk(void)
{
    const char *root = getenv("IDFLOW_SRC");
    char src[4096];

    problems[0] = '\0';
    n_files = 0;
    snprintf(src, sizeof src, "%s/src", root && *root ? root : ".");
    assert_int_equal(nftw(src, visit, 16, FTW_PHYS), 0);
}

static void test_tree_is_read(void **state)
{
    (void)state;
    walk();
    assert_true(n_files > 100); /* the walk found the tree, so the next test means something */
}

static void test_layers_point_one_way(void **state)
{
    (void)state;
    walk();
    if (problems[0])
        fprintf(stderr, "%s", problems);
    assert_string_equal(problems, "");
}

/* The checker itself: each rule reports what breaks it. */
static void test_checker_reports_each_rule(void **state)
{
    (void)state;
    problems[0] = '\0';
    check_include("core/log.c", "engine/engine.h");
    assert_non_null(strstr(problems, "core/log.c includes engine/engine.h, from a folder above its own"));
    problems[0] = '\0';
    check_include("engine/exec.c", "connectors/okta/client.h");
    assert_non_null(strstr(problems, "only src/connectors/ may name a connector's own folder"));
    problems[0] = '\0';
    check_include("engine/exec.c", "connectors/connector.h");
    check_include("connectors/okta/okta.c", "connectors/okta/okta_internal.h");
    check_include("sandbox/okta/hooks.c", "connectors/okta/eligible.h");
    assert_string_equal(problems, "");
    check_system_include("api/api.c", "sqlite3.h");
    assert_non_null(strstr(problems, "api/api.c includes <sqlite3.h>: only src/store/ speaks SQL"));
    problems[0] = '\0';
    check_system_include("store/sqlite_runs.c", "jansson.h");
    assert_non_null(strstr(problems, "store/sqlite_runs.c includes <jansson.h>: the store returns rows"));
    problems[0] = '\0';
    check_system_include("store/sqlite.c", "sqlite3.h");
    check_system_include("api/render.c", "jansson.h");
    assert_string_equal(problems, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_is_read),
        cmocka_unit_test(test_layers_point_one_way),
        cmocka_unit_test(test_checker_reports_each_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_expr_isolated.c — isolated expression contexts (src/expr/isolate.c,
 * worker.c): expressions that abort libjq 1.6, loop or eat memory cost one
 * evaluation, with an error naming the limit, and the next evaluation on the
 * same context works (a new evaluator child); results are those of the
 * in-process context (big integers, types, errors, templates).
 *
 * This program is its own evaluator: main() hands "__expr-worker" to
 * expr_worker_main, as idflow's main does, since the context execs
 * /proc/self/exe. */
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
#include <time.h>
#include <unistd.h>

#include "expr/expr.h"
#include "expr/expr_internal.h"
#include "support/testutil.h"

#define BUDGET_MS 300 /* the tests' time budget: loops end quickly */
#define SLACK_MS 3000 /* what a loaded machine may add to it */

static int setup_ctx(void **state)
{
    struct expr_limits lim = {BUDGET_MS, 256};
    struct expr_ctx *ctx = NULL;
    if (expr_ctx_new_isolated(&lim, &ctx))
        return -1;
    *state = ctx;
    return 0;
}

static int teardown_ctx(void **state)
{
    expr_ctx_free(*state);
    return 0;
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!v)
        fail_msg("bad test JSON %s: %s", text, e.text);
    return v;
}

static void assert_json(const char *want, const json_t *got)
{
    json_t *w = parse(want);
    if (!json_equal(w, got)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
        fail_msg("want %s, got %s", want, g ? g : "(null)");
    }
    json_decref(w);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* The context still evaluates, with a child of its own. */
static void assert_next_works(struct expr_ctx *ctx)
{
    json_t *in = parse("{\"a\": [1, 2, 3]}"), *out = NULL;
    struct idf_err err;
    idf_err_clear(&err);
    if (expr_eval(ctx, ".a | add", in, &out, &err))
        fail_msg("the next evaluation failed: %s", err.msg);
    assert_json("6", out);
    assert_true(expr__iso_pid(ctx) > 0);
    json_decref(out);
    json_decref(in);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ----------------------------------------------------------------- tests */

static void results_match_the_in_process_context(void **state)
{
    struct expr_ctx *ctx = *state;
    json_t *in = parse("{\"id\": 9007199254740993, \"n\": 2, \"f\": 0.1, \"s\": \"a\\u0000b\", \"o\": {\"z\": 1, "
                       "\"a\": 2}}");
    json_t *out = NULL;
    struct idf_err err;
    bool yes = true;

    assert_true(expr_ctx_isolated(ctx));
    assert_int_equal(expr_eval(ctx, ".id", in, &out, &err), 0);
    assert_json("\"9007199254740993\"", out); /* beyond 2^53: a string, exact */
    json_decref(out);
    assert_int_equal(
        expr_eval(ctx, "[.n * 3, .f, .n / 4, (.o | keys_unsorted), .s, 1e17, nan, infinite]", in, &out, &err), 0);
    assert_true(json_is_integer(json_array_get(out, 0)));
    assert_true(json_is_real(json_array_get(out, 2)));
    assert_true(json_is_real(json_array_get(out, 5)));
    assert_json("[6, 0.1, 0.5, [\"z\", \"a\"], \"a\\u0000b\", 1e17, null, 1.7976931348623157e308]", out);
    json_decref(out);
    assert_int_equal(expr_truthy(ctx, ".n > 1", in, &yes, &err), 0);
    assert_true(yes);
    assert_int_equal(expr_truthy(ctx, ".missing", in, &yes, &err), 0);
    assert_false(yes);
    /* errors come back with their code and jq's message */
    assert_int_equal(expr_eval(ctx, ".s | .x", in, &out, &err), IDF_EINVAL);
    assert_contains(err.msg, "Cannot index string");
    assert_int_equal(expr_check(ctx, ".a |||", &err), IDF_EPARSE);
    assert_contains(err.msg, "syntax error");
    assert_int_equal(expr_check(ctx, "input", &err), IDF_EDENIED);
    assert_int_equal(expr_check(ctx, ".a | length", &err), 0);
    json_decref(in);
}

/* Templates of plain paths are rendered without the evaluator, value for
 * value as jq renders them (compared with an in-process context); anything
 * else, and a plain path that meets the wrong type, goes to the evaluator. */
static void plain_paths_render_without_the_evaluator(void **state)
{
    struct expr_ctx *ctx = *state, *local = NULL;
    json_t *in = parse("{\"event\": {\"user\": {\"login\": \"ann@example.com\", \"id\": 1234567890123456789,"
                       " \"n\": 9007199254740993, \"r\": 2.0, \"f\": 0.5, \"ok\": true, \"none\": null,"
                       " \"groups\": [\"a\", {\"k\": [1, 2]}], \"o\": {\"b\": 1, \"a\": [true, null]}}},"
                       " \"arr\": [10, 20]}");
    static const char *const tmpls[] = {
        "\"${{ .event.user.login }}\"", "\"${{ .event.user.id }}\"", "\"${{ .event.user.n }}\"",
        "\"${{ .event.user.r }}\"", "\"${{ .event.user.f }}\"", "\"${{ .event.user.ok }}\"",
        "\"${{ .event.user.none }}\"", "\"${{ .event.user.missing.deeper }}\"", "\"${{ .event.user.groups[1].k[1] }}\"",
        "\"${{ .event.user.groups[7] }}\"", "\"${{ .arr[0] }}\"", "\"  ${{ .event.user.o }}  \"", "\"${{ . }}\"",
        "\"id=${{ .event.user.id }} n=${{ .event.user.n }} r=${{ .event.user.r }} f=${{ .event.user.f }}"
        " o=${{ .event.user.o }} g=${{ .event.user.groups }} none=${{ .event.user.none }} ok=${{.event.user.ok}}\"",
        "{\"url\": \"https://x/${{ .event.user.login }}\", \"list\": [\"${{ .arr }}\", \"${{ .arr[1] }}\"]}",
        NULL};
    struct idf_err err;

    assert_int_equal(expr_ctx_new(&local), 0);
    for (int i = 0; tmpls[i]; i++) {
        json_t *t = parse(tmpls[i]), *want = NULL, *got = NULL;
        assert_int_equal(expr_render(local, t, in, &want, &err), 0);
        assert_int_equal(expr_render(ctx, t, in, &got, &err), 0);
        if (!json_equal(want, got)) {
            char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT), *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
            fail_msg("%s: in process %s, isolated %s", tmpls[i], w, g);
        }
        json_decref(t);
        json_decref(want);
        json_decref(got);
    }
    assert_int_equal(expr__iso_spawns(ctx), 0); /* not one of these needed the evaluator */
    {
        json_t *t = parse("\"${{ .event.user.groups | length }}\""), *got = NULL;
        assert_int_equal(expr_render(ctx, t, in, &got, &err), 0);
        assert_json("2", got);
        assert_int_equal(expr__iso_spawns(ctx), 1);
        json_decref(got);
        json_decref(t);
        /* a plain path that meets a string: jq's own error, from the evaluator */
        t = parse("\"${{ .event.user.login.x }}\"");
        assert_int_equal(expr_render(ctx, t, in, &got, &err), IDF_EINVAL);
        assert_contains(err.msg, "${{ .event.user.login.x }}: Cannot index string with string \"x\"");
        json_decref(t);
    }
    expr_ctx_free(local);
    json_decref(in);
}

static void a_with_template_is_one_round_trip(void **state)
{
    struct expr_ctx *ctx = *state;
    json_t *in = parse("{\"event\": {\"data\": {\"login\": \"ann@example.com\", \"id\": 1234567890123456789, "
                       "\"groups\": [\"a\", \"b\"]}}}");
    json_t *tmpl = parse("{\"url\": \"https://x/${{ .event.data.login }}/g\", \"id\": \"${{ .event.data.id }}\", "
                         "\"n\": \"${{ .event.data.groups | length }}\", \"lit\": [1, {\"k\": null}]}");
    json_t *lit = parse("{\"a\": [\"plain\", 1]}");
    json_t *out = NULL;
    struct idf_err err;
    unsigned long spawns;

    assert_int_equal(expr_render(ctx, tmpl, in, &out, &err), 0);
    assert_json("{\"url\": \"https://x/ann@example.com/g\", \"id\": \"1234567890123456789\", \"n\": 2, \"lit\": [1, "
                "{\"k\": null}]}",
                out);
    json_decref(out);
    /* a template without expressions is copied without the child */
    spawns = expr__iso_spawns(ctx);
    assert_int_equal(expr_render(ctx, lit, in, &out, &err), 0);
    assert_json("{\"a\": [\"plain\", 1]}", out);
    assert_int_equal(expr__iso_spawns(ctx), spawns);
    json_decref(out);
    /* a jq error names its path and expression, as in process */
    json_decref(tmpl);
    tmpl = parse("{\"p\": [0, \"${{ .event.data.login.x }}\"]}");
    assert_int_equal(expr_render(ctx, tmpl, in, &out, &err), IDF_EINVAL);
    assert_contains(err.msg, ".p[1]: ${{ .event.data.login.x }}: Cannot index string");
    json_decref(tmpl);
    json_decref(lit);
    json_decref(in);
}

static void aborting_expressions_cost_one_evaluation(void **state)
{
    static const char *const aborting[] = {"1e17 | todate", "1e300 | strftime(\"%Y\")", "nan | todate",
                                           "[1, 2] | .[nan:]", ".ts | todate"};
    struct expr_ctx *ctx = *state;
    json_t *in = parse("{\"ts\": 1e17}");

    for (size_t i = 0; i < sizeof aborting / sizeof aborting[0]; i++) {
        struct idf_err err;
        json_t *out = NULL;
        int pid_before;
        assert_next_works(ctx);
        pid_before = expr__iso_pid(ctx);
        idf_err_clear(&err);
        assert_int_equal(expr_eval(ctx, aborting[i], in, &out, &err), IDF_ECRASH);
        assert_null(out);
        assert_contains(err.msg, "crashed inside jq (signal 6, SIGABRT)");
        assert_int_equal(expr__iso_pid(ctx), 0); /* reaped */
        assert_int_equal(kill(pid_before, 0), -1);
        assert_next_works(ctx);
    }
    json_decref(in);
}

static void an_aborting_template_is_named(void **state)
{
    struct expr_ctx *ctx = *state;
    json_t *in = parse("{\"event\": {\"data\": {\"ts\": 1e17}}}");
    json_t *tmpl = parse("{\"ok\": \"${{ 1 }}\", \"at\": \"x ${{ .event.data.ts | todate }}\"}");
    json_t *out = NULL;
    struct idf_err err;
    bool yes;

    assert_int_equal(expr_render(ctx, tmpl, in, &out, &err), IDF_ECRASH);
    assert_contains(err.msg, ".at: ${{ .event.data.ts | todate }}: the expression's evaluation crashed inside jq");
    assert_int_equal(expr_truthy(ctx, ".event.data.ts | todate | length > 0", in, &yes, &err), IDF_ECRASH);
    assert_next_works(ctx);
    json_decref(tmpl);
    json_decref(in);
}

static void loops_overrun_the_time_budget(void **state)
{
    static const char *const looping[] = {"def f: f; f", "[range(1e10)]", "[repeat(1)]",
                                          "(.n // 0) as $r | 0 | until(. >= $r; . + 1)"};
    struct expr_ctx *ctx = *state;
    json_t *in = parse("{\"n\": 1e18}");

    for (size_t i = 0; i < sizeof looping / sizeof looping[0]; i++) {
        struct idf_err err;
        json_t *out = NULL;
        int64_t t0 = now_ms(), took;
        assert_next_works(ctx);
        assert_int_equal(expr_eval(ctx, looping[i], in, &out, &err), IDF_ETIMEOUT);
        took = now_ms() - t0;
        assert_string_equal(err.msg, "the expression ran longer than its time budget (300 ms, expr_timeout_ms)");
        assert_true(took >= BUDGET_MS && took < BUDGET_MS + SLACK_MS);
        assert_int_equal(expr__iso_pid(ctx), 0);
        assert_next_works(ctx);
    }
    json_decref(in);
}

static void running_out_of_memory_is_its_own_error(void **state)
{
    struct expr_limits lim = {20000, 128}; /* the memory budget ends it first */
    struct expr_ctx *ctx = NULL;
    json_t *in = parse("null"), *out = NULL;
    struct idf_err err;

    (void)state;
    assert_int_equal(expr_ctx_new_isolated(&lim, &ctx), 0);
    idf_err_clear(&err);
    if (expr_eval(ctx, "reduce range(40) as $i (\"x\"; . + .) | length", in, &out, &err) != IDF_ETOOBIG)
        fail_msg("not out of memory: %d %s", err.code, err.msg);
    assert_string_equal(err.msg, "the expression ran out of its memory budget (128 MiB, expr_memory_mb)");
    assert_next_works(ctx);
    json_decref(in);
    expr_ctx_free(ctx);
}

static void a_dead_child_is_replaced_and_freeing_reaps_it(void **state)
{
    struct expr_ctx *ctx = *state;
    int pid, st;

    assert_next_works(ctx);
    pid = expr__iso_pid(ctx);
    kill(pid, SIGKILL); /* from outside, between calls */
    {
        json_t *in = parse("{}"), *out = NULL;
        struct idf_err err;
        assert_int_equal(expr_eval(ctx, "1", in, &out, &err), IDF_ECRASH);
        assert_contains(err.msg, "signal 9");
        json_decref(in);
    }
    assert_next_works(ctx);
    pid = expr__iso_pid(ctx);
    expr_ctx_free(ctx);
    *state = NULL;
    assert_int_equal(waitpid(pid, &st, WNOHANG), -1); /* already reaped */
    assert_int_equal(kill(pid, 0), -1);
}

static void the_child_holds_no_secret_of_the_parent(void **state)
{
    struct expr_ctx *ctx = *state;
    char path[64], *env;
    size_t len = 0;

    assert_next_works(ctx); /* main() put IDFLOW_TEST_SECRET in the environment first */
    snprintf(path, sizeof path, "/proc/%d/environ", expr__iso_pid(ctx));
    env = tu_read_file(path, &len);
    assert_non_null(env);
    for (size_t i = 0; i < len; i += strlen(env + i) + 1) {
        const char *v = env + i;
        if (strncmp(v, "HOME=", 5) && strncmp(v, "TZ=", 3) && !strstr(v, "SAN_OPTIONS="))
            fail_msg("the evaluator's environment holds %s", v);
    }
    free(env);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(results_match_the_in_process_context, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(plain_paths_render_without_the_evaluator, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(a_with_template_is_one_round_trip, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(aborting_expressions_cost_one_evaluation, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(an_aborting_template_is_named, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(loops_overrun_the_time_budget, setup_ctx, teardown_ctx),
        cmocka_unit_test(running_out_of_memory_is_its_own_error),
        cmocka_unit_test_setup_teardown(a_dead_child_is_replaced_and_freeing_reaps_it, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(the_child_holds_no_secret_of_the_parent, setup_ctx, teardown_ctx),
    };
    if (argc >= 2 && !strcmp(argv[1], "__expr-worker"))
        return expr_worker_main(argc - 1, argv + 1);
    setenv("IDFLOW_TEST_SECRET", "do-not-leak", 1); /* like IDFLOW_MASTER_KEY: never in an evaluator */
    return cmocka_run_group_tests(tests, NULL, NULL);
}

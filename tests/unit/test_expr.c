/* test_expr.c — jq expressions and ${{ }} templates: typed and interpolated
 * rendering, truthiness, the fence, numbers, errors, the program cache, and
 * several threads evaluating at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <float.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "expr/expr.h"
#include "expr/expr_internal.h"
#include "support/testutil.h"

/* ---------------------------------------------------------------- helpers */

static int setup_ctx(void **state)
{
    struct expr_ctx *ctx = NULL;
    if (expr_ctx_new(&ctx))
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
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("bad test JSON %s: %s", text, e.text);
    return v;
}

/* Asserts that JSON text a and value b are equal, printing both if not. */
static void assert_json(const char *want, const json_t *got)
{
    json_t *w = parse(want);
    if (!json_equal(w, got)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
        fail_msg("want %s, got %s", want, g ? g : "(null)");
    }
    json_decref(w);
}

/* Renders the template JSON text against the input JSON text. */
static int render(struct expr_ctx *ctx, const char *tmpl, const char *input, json_t **out, struct idf_err *err)
{
    json_t *t = parse(tmpl), *in = parse(input);
    int rc;
    idf_err_clear(err);
    rc = expr_render(ctx, t, in, out, err);
    json_decref(t);
    json_decref(in);
    return rc;
}

static void assert_render(struct expr_ctx *ctx, const char *tmpl, const char *input, const char *want)
{
    struct idf_err err;
    json_t *out = NULL;
    int rc = render(ctx, tmpl, input, &out, &err);
    if (rc)
        fail_msg("render %s: %d %s", tmpl, rc, err.msg);
    assert_json(want, out);
    json_decref(out);
}

static int eval(struct expr_ctx *ctx, const char *jq, const char *input, json_t **out, struct idf_err *err)
{
    json_t *in = parse(input);
    int rc;
    idf_err_clear(err);
    rc = expr_eval(ctx, jq, in, out, err);
    json_decref(in);
    return rc;
}

static void assert_eval(struct expr_ctx *ctx, const char *jq, const char *input, const char *want)
{
    struct idf_err err;
    json_t *out = NULL;
    int rc = eval(ctx, jq, input, &out, &err);
    if (rc)
        fail_msg("eval %s: %d %s", jq, rc, err.msg);
    assert_json(want, out);
    json_decref(out);
}

static const char *INPUT = "{\"event\": {\"n\": 42, \"flag\": true, \"user\": {\"login\": \"bob@acme.com\", "
                           "\"groups\": [\"eng\", \"vpn\"]}}, \"steps\": {}, \"vars\": {\"x\": null}}";

/* ---------------------------------------------------------------- templates */

static void whole_value_templates_keep_their_type(void **state)
{
    struct expr_ctx *ctx = *state;
    assert_render(ctx, "\"${{ .event.n }}\"", INPUT, "42");
    assert_render(ctx, "\"  ${{ .event.user }}  \"", INPUT,
                  "{\"login\": \"bob@acme.com\", \"groups\": [\"eng\", \"vpn\"]}");
    assert_render(ctx, "\"${{ .event.flag }}\"", INPUT, "true");
    assert_render(ctx, "\"${{.vars.x}}\"", INPUT, "null");
    assert_render(ctx, "\"${{ .missing }}\"", INPUT, "null");
    assert_render(ctx, "\"${{ .event.user.groups }}\"", INPUT, "[\"eng\", \"vpn\"]");
    assert_render(ctx, "\"${{ .event.n / 4 }}\"", INPUT, "10.5");
    assert_render(ctx, "\"${{ empty }}\"", INPUT, "null");
    assert_render(ctx, "\"${{ 1, 2 }}\"", INPUT, "1"); /* the first output */
}

static void embedded_templates_interpolate_text(void **state)
{
    struct expr_ctx *ctx = *state;
    assert_render(ctx, "\"User ${{ .event.user.login }} has ${{ .event.n }} items\"", INPUT,
                  "\"User bob@acme.com has 42 items\"");
    assert_render(ctx, "\"[${{ .vars.x }}]\"", INPUT, "\"[]\"");
    assert_render(ctx, "\"u=${{ .event.user | {login} }}\"", INPUT, "\"u={\\\"login\\\":\\\"bob@acme.com\\\"}\"");
    assert_render(ctx, "\"g=${{ .event.user.groups }} f=${{ .event.flag }}\"", INPUT,
                  "\"g=[\\\"eng\\\",\\\"vpn\\\"] f=true\"");
    /* numbers as jq prints them: shortest text that reads back the same */
    assert_render(ctx, "\"${{ 0.1 }}|${{ 0.1 + 0.2 }}|${{ 9007199254740992 }}|${{ 1e17 }}|${{ 3.0 }}\"", INPUT,
                  "\"0.1|0.30000000000000004|9007199254740992|1e+17|3\"");
    /* two templates side by side are interpolated, not typed */
    assert_render(ctx, "\"${{ .event.n }}${{ .event.n }}\"", INPUT, "\"4242\"");
    assert_render(ctx, "\"no templates $ {{ here }}\"", INPUT, "\"no templates $ {{ here }}\"");
    /* jq's own string interpolation inside a template */
    assert_render(ctx, "\"${{ \\\"User \\\\(.event.user.login) locked\\\" }}\"", INPUT, "\"User bob@acme.com locked\"");
}

static void templates_are_walked_in_objects_and_arrays(void **state)
{
    struct expr_ctx *ctx = *state;
    struct idf_err err;
    json_t *t =
        parse("{\"z\": \"${{ .event.n }}\", \"a\": [\"x\", \"${{ .event.n + 1 }}\", {\"c\": \"id-${{ .event.n }}\"}],"
              " \"d\": 5, \"e\": null, \"f\": true, \"g\": 1.5, \"h\": \"plain\"}");
    json_t *in = parse(INPUT), *out = NULL;
    char *dump;

    assert_int_equal(expr_render(ctx, t, in, &out, &err), 0);
    assert_json("{\"z\": 42, \"a\": [\"x\", 43, {\"c\": \"id-42\"}], \"d\": 5, \"e\": null, \"f\": true, \"g\": 1.5,"
                " \"h\": \"plain\"}",
                out);
    /* key order is kept and the template itself is untouched */
    dump = json_dumps(out, JSON_COMPACT);
    assert_string_equal(dump, "{\"z\":42,\"a\":[\"x\",43,{\"c\":\"id-42\"}],\"d\":5,\"e\":null,\"f\":true,\"g\":1.5,"
                              "\"h\":\"plain\"}");
    free(dump);
    assert_string_equal(json_string_value(json_object_get(t, "z")), "${{ .event.n }}");
    json_decref(out);
    /* a literal scalar template */
    assert_render(ctx, "7", INPUT, "7");
    json_decref(t);
    json_decref(in);
}

static void template_end_ignores_braces_in_strings_and_nested_objects(void **state)
{
    struct expr_ctx *ctx = *state;
    assert_render(ctx, "\"${{ \\\"a}}b\\\" }}\"", INPUT, "\"a}}b\"");
    assert_render(ctx, "\"${{ \\\"${{\\\" }}\"", INPUT, "\"${{\"");
    assert_render(ctx, "\"${{ {a: {b: 1}} }}\"", INPUT, "{\"a\": {\"b\": 1}}");
    assert_render(ctx, "\"x${{ {a: {b: .event.n}} | .a.b }}y\"", INPUT, "\"x42y\"");
    assert_render(ctx, "\"${{ \\\"p\\\\(\\\"}}\\\")q\\\" }}\"", INPUT, "\"p}}q\"");
    assert_render(ctx, "\"${{ .event.n # a comment: }} is not the end\\n }}\"", INPUT, "42");
}

struct scanned {
    int n;
    char text[4][64];
    size_t off[4];
};

static int collect(void *ud, const char *jq, size_t offset)
{
    struct scanned *s = ud;
    if (s->n >= 4)
        return 99;
    snprintf(s->text[s->n], sizeof s->text[0], "%s", jq);
    s->off[s->n++] = offset;
    return 0;
}

static void scan_reports_each_expression_and_unterminated_ones(void **state)
{
    struct scanned s = {0};
    size_t bad = 0;
    struct expr_ctx *ctx = *state;
    struct idf_err err;
    json_t *out = NULL;

    assert_true(expr_has_template("a ${{ .x }}"));
    assert_false(expr_has_template("a ${ .x }"));
    assert_false(expr_has_template(NULL));
    assert_int_equal(expr_template_scan("a ${{ .x }} b ${{ \"}}\" }}${{.y}}", collect, &s, &bad), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.text[0], ".x");
    assert_int_equal(s.off[0], 2);
    assert_string_equal(s.text[1], "\"}}\"");
    assert_int_equal(s.off[1], 14);
    assert_string_equal(s.text[2], ".y");
    assert_int_equal(s.off[2], 25);
    /* a callback's non-zero result stops the scan and is returned */
    s.n = 4;
    assert_int_equal(expr_template_scan("${{ .x }}", collect, &s, &bad), 99);
    /* unterminated: the offset of the "${{" that is not closed */
    s.n = 0;
    assert_int_equal(expr_template_scan("ok ${{ .a }} then ${{ .b ", collect, &s, &bad), IDF_EPARSE);
    assert_int_equal(bad, 18);
    assert_int_equal(expr_template_scan("${{ \"}}\" ", collect, &s, &bad), IDF_EPARSE);
    assert_int_equal(bad, 0);
    assert_int_equal(render(ctx, "{\"a\": [\"x ${{ .event.n \"]}", INPUT, &out, &err), IDF_EPARSE);
    assert_null(out);
    assert_non_null(strstr(err.msg, ".a[0]"));
    assert_non_null(strstr(err.msg, "not closed"));
}

/* ---------------------------------------------------------------- conditions */

static void truthy_is_anything_but_false_and_null(void **state)
{
    struct expr_ctx *ctx = *state;
    static const struct {
        const char *jq;
        bool want;
    } cases[] = {
        {"true", true},
        {"1", true},
        {"0", true},
        {"\"\"", true},
        {"[]", true},
        {"{}", true},
        {"false", false},
        {"null", false},
        {"empty", false},
        {".nope", false},
        {".event.user.login | endswith(\"@acme.com\")", true},
        {".event.n > 50", false},
    };
    json_t *in = parse(INPUT);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct idf_err err;
        bool yes = !cases[i].want;
        if (expr_truthy(ctx, cases[i].jq, in, &yes, &err))
            fail_msg("%s: %s", cases[i].jq, err.msg);
        if (yes != cases[i].want)
            fail_msg("%s: want %d", cases[i].jq, cases[i].want);
    }
    json_decref(in);
}

/* ---------------------------------------------------------------- fence */

static void fenced_constructs_are_refused_by_name(void **state)
{
    struct expr_ctx *ctx = *state;
    static const struct {
        const char *jq;
        const char *named;
    } cases[] = {
        {"input", "input"},
        {"[inputs]", "inputs"},
        {"input_filename", "input_filename"},
        {"input_line_number", "input_line_number"},
        {"_input", "_input"},
        {"$__loc__", "$__loc__"},
        {"$ __loc__ | .line", "$__loc__"},
        {"$__prog_args", "$__prog_args"},
        {".a | debug", "debug"},
        {"stderr", "stderr"},
        {"halt", "halt"},
        {"\"x\" | halt_error(1)", "halt_error"},
        {"get_search_list", "get_search_list"},
        {"get_prog_origin", "get_prog_origin"},
        {"\"m\" | modulemeta", "modulemeta"},
        {"import \"x\" as y; .", "import"},
        {"include \"x\"; .", "include"},
        {"\"a\\(input)b\"", "input"},
        {"\"a\\(\"b\\(1 + (input))\")c\"", "input"},
        {"{a: input}", "input"},
        {"{(input): 1}", "input"},
        {"{a: 1, b: .c | input}", "input"},
        {". as $x | [.[] | debug]", "debug"},
        {"m::input", "m::input"},
        {"def input: 1; input", "input"},
        {"..input", "input"},
        {"\"\\(1 # a comment ends at the line's end\n + (input | length))\"", "input"},
        {"1input", "input"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct idf_err err;
        json_t *out = (json_t *)1;
        int rc;
        idf_err_clear(&err);
        rc = expr_check(ctx, cases[i].jq, &err);
        if (rc != IDF_EDENIED)
            fail_msg("%s: want IDF_EDENIED, got %d (%s)", cases[i].jq, rc, err.msg);
        if (strncmp(err.msg, cases[i].named, strlen(cases[i].named)) != 0)
            fail_msg("%s: message does not name %s: %s", cases[i].jq, cases[i].named, err.msg);
        /* evaluation refuses it too, and gives no output */
        assert_int_equal(eval(ctx, cases[i].jq, "null", &out, &err), IDF_EDENIED);
        assert_null(out);
    }
}

static void fenced_words_in_strings_fields_and_keys_are_fine(void **state)
{
    struct expr_ctx *ctx = *state;
    assert_eval(ctx, "\"import input debug $__loc__ env halt\"", "null", "\"import input debug $__loc__ env halt\"");
    assert_eval(ctx, "\"\\(\"input\") \\\"debug\\\"\"", "null", "\"input \\\"debug\\\"\"");
    assert_eval(ctx, ".input", "{\"input\": 3}", "3");
    assert_eval(ctx, ".debug.stderr", "{\"debug\": {\"stderr\": 1}}", "1");
    assert_eval(ctx, ".\"input\"", "{\"input\": 4}", "4");
    assert_eval(ctx, "{input: 1, import: 2}", "null", "{\"input\": 1, \"import\": 2}");
    assert_eval(ctx, "{input}", "{\"input\": 5}", "{\"input\": 5}");
    assert_eval(ctx, "{\"a\": 1, halt: 2}", "null", "{\"a\": 1, \"halt\": 2}");
    assert_eval(ctx, ". as {input: $v} | $v", "{\"input\": 6}", "6");
    assert_eval(ctx, ". as $input | $input.a", "{\"a\": 7}", "7");
    assert_eval(ctx, "# input and debug in a comment\n.a", "{\"a\": 8}", "8");
    assert_eval(ctx, "@text \"input \\(.a)\"", "{\"a\": 9}", "\"input 9\"");
    assert_eval(ctx, "\"\\(1 # input ) \\\"\n)\"", "null", "\"1\"");
}

static void env_and_ENV_are_empty(void **state)
{
    struct expr_ctx *ctx = *state;
    assert_non_null(getenv("PATH")); /* there is something to hide */
    assert_eval(ctx, "env", "null", "{}");
    assert_eval(ctx, "$ENV", "null", "{}");
    assert_eval(ctx, "env.PATH", "null", "null");
    assert_eval(ctx, "$ENV.PATH", "null", "null");
    assert_eval(ctx, "def f: $ENV | length; f", "null", "0");
    assert_eval(ctx, "{$ENV}", "null", "{\"ENV\": {}}");
    assert_eval(ctx, "[env, $ENV] | map(keys | length) | add", "null", "0");
}

static void a_jq_file_in_home_is_refused(void **state)
{
    char *dir = tu_mktemp_dir(), *file, *old = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    struct expr_ctx *ctx = NULL;
    struct idf_err err;
    (void)state;

    assert_non_null(dir);
    file = tu_path(dir, ".jq");
    assert_int_equal(tu_write_file(file, "def leak: $ENV;\n"), 0);
    assert_int_equal(setenv("HOME", dir, 1), 0); /* single-threaded here */
    assert_int_equal(expr_ctx_new(&ctx), 0);
    assert_int_equal(expr_check(ctx, "leak", &err), IDF_EDENIED);
    assert_non_null(strstr(err.msg, ".jq exists"));
    expr_ctx_free(ctx);
    /* a directory named .jq is not loaded by jq: fine */
    assert_int_equal(unlink(file), 0);
    assert_int_equal(mkdir(file, 0700), 0);
    assert_int_equal(expr_ctx_new(&ctx), 0);
    assert_int_equal(expr_check(ctx, ".a", &err), 0);
    expr_ctx_free(ctx);
    if (old)
        assert_int_equal(setenv("HOME", old, 1), 0);
    else
        unsetenv("HOME");
    tu_rm_rf(dir);
    free(file);
    free(dir);
    free(old);
}

/* ---------------------------------------------------------------- numbers */

static void big_integers_stay_exact_as_strings(void **state)
{
    struct expr_ctx *ctx = *state;
    const char *in = "{\"id\": 9007199254740993, \"neg\": -9223372036854775807, \"edge\": 9007199254740992, "
                     "\"small\": 41}";
    assert_eval(ctx, ".id", in, "\"9007199254740993\"");
    assert_eval(ctx, ".neg", in, "\"-9223372036854775807\"");
    assert_eval(ctx, ".edge", in, "9007199254740992");
    assert_eval(ctx, ".small + 1", in, "42");
    assert_render(ctx, "\"${{ .id }}\"", in, "\"9007199254740993\"");
    assert_render(ctx, "\"user/${{ .id }}\"", in, "\"user/9007199254740993\"");
    assert_render(ctx, "{\"ids\": \"${{ [.id, .small] }}\"}", in, "{\"ids\": [\"9007199254740993\", 41]}");
}

static void numbers_come_back_as_integers_or_reals(void **state)
{
    struct expr_ctx *ctx = *state;
    struct idf_err err;
    json_t *out = NULL;

    assert_int_equal(eval(ctx, "3.0", "null", &out, &err), 0);
    assert_true(json_is_integer(out));
    json_decref(out);
    assert_int_equal(eval(ctx, "1.5", "null", &out, &err), 0);
    assert_true(json_is_real(out));
    json_decref(out);
    assert_int_equal(eval(ctx, "pow(2; 60)", "null", &out, &err), 0);
    assert_true(json_is_real(out));
    assert_true(json_real_value(out) == 1152921504606846976.0);
    json_decref(out);
    assert_int_equal(eval(ctx, "infinite", "null", &out, &err), 0);
    assert_true(json_is_real(out) && json_real_value(out) == DBL_MAX);
    json_decref(out);
    assert_eval(ctx, "nan", "null", "null");
    assert_eval(ctx, "-1 * 0", "null", "0");
    assert_eval(ctx, ".", "{\"z\": 1, \"a\": 2.5, \"m\": [true, null]}", "{\"z\": 1, \"a\": 2.5, \"m\": [true, null]}");
    /* key order survives both ways */
    assert_int_equal(eval(ctx, ". + {b: 1, a: 2}", "{\"z\": 0}", &out, &err), 0);
    {
        char *d = json_dumps(out, JSON_COMPACT);
        assert_string_equal(d, "{\"z\":0,\"b\":1,\"a\":2}");
        free(d);
    }
    json_decref(out);
}

/* ---------------------------------------------------------------- errors */

/* Runs fn with stderr sent to a file; returns what was written there. */
static char *capture_stderr(void (*fn)(void *), void *ud)
{
    char path[] = "/tmp/idflow-test-stderr-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    char *text;
    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    fn(ud);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    text = tu_read_file(path, NULL);
    unlink(path);
    return text;
}

struct compile_case {
    struct expr_ctx *ctx;
    const char *jq;
    int rc;
    struct idf_err err;
};

static void run_check(void *ud)
{
    struct compile_case *c = ud;
    idf_err_clear(&c->err);
    c->rc = expr_check(c->ctx, c->jq, &c->err);
}

static void compile_errors_carry_jq_messages(void **state)
{
    struct compile_case c = {.ctx = *state, .jq = ".a |||"};
    char *printed = capture_stderr(run_check, &c);
    char big[EXPR_MAX_TEXT + 2];

    assert_int_equal(c.rc, IDF_EPARSE);
    assert_non_null(strstr(c.err.msg, "syntax error"));
    assert_non_null(strstr(c.err.msg, "at line 1"));
    assert_null(strstr(c.err.msg, "def env")); /* the fence's prefix does not show */
    assert_null(strstr(c.err.msg, "shell quoting"));
    assert_string_equal(printed, ""); /* nothing printed by jq */
    free(printed);

    c.jq = "foo(1)";
    run_check(&c);
    assert_int_equal(c.rc, IDF_EPARSE);
    assert_non_null(strstr(c.err.msg, "foo/1 is not defined"));
    c.jq = ".a |\n\n  | .b";
    run_check(&c);
    assert_int_equal(c.rc, IDF_EPARSE);
    assert_non_null(strstr(c.err.msg, "line 3"));
    c.jq = "$nope";
    run_check(&c);
    assert_int_equal(c.rc, IDF_EPARSE);
    assert_non_null(strstr(c.err.msg, "$nope is not defined"));
    c.jq = "  # only a comment";
    run_check(&c);
    assert_int_equal(c.rc, IDF_EPARSE);
    assert_string_equal(c.err.msg, "empty expression");
    c.jq = "";
    run_check(&c);
    assert_int_equal(c.rc, IDF_EPARSE);
    /* if/then is an expression, not a term: no object value can hide a call
     * after a comma from the fence */
    c.jq = "{a: if true then 1, input else 2 end}";
    run_check(&c);
    assert_true(c.rc == IDF_EPARSE || c.rc == IDF_EDENIED);
    memset(big, ' ', sizeof big - 1);
    big[0] = '.';
    big[sizeof big - 1] = '\0';
    c.jq = big;
    run_check(&c);
    assert_int_equal(c.rc, IDF_ETOOBIG);
    c.jq = NULL;
    run_check(&c);
    assert_int_equal(c.rc, IDF_EINVAL);
}

static void runtime_errors_are_einval_with_jq_message(void **state)
{
    struct expr_ctx *ctx = *state;
    struct idf_err err;
    json_t *out = NULL;
    bool yes = true;

    assert_int_equal(eval(ctx, "error(\"boom\")", "null", &out, &err), IDF_EINVAL);
    assert_string_equal(err.msg, "boom");
    assert_null(out);
    assert_int_equal(eval(ctx, ".a.b", "{\"a\": \"x\"}", &out, &err), IDF_EINVAL);
    assert_string_equal(err.msg, "Cannot index string with string \"b\"");
    assert_int_equal(eval(ctx, "error({a: 1})", "null", &out, &err), IDF_EINVAL);
    assert_string_equal(err.msg, "{\"a\":1} (not a string)");
    /* the same program works again after an error */
    assert_eval(ctx, ".a.b", "{\"a\": {\"b\": 2}}", "2");
    /* conditions fail the same way */
    {
        json_t *in = parse("{\"a\": \"x\"}");
        assert_int_equal(expr_truthy(ctx, ".a.b", in, &yes, &err), IDF_EINVAL);
        assert_false(yes);
        json_decref(in);
    }
    /* in a template, the message says where and which expression */
    assert_int_equal(render(ctx, "{\"p\": [\"ok\", \"n=${{ .a.b }}\"]}", "{\"a\": \"x\"}", &out, &err), IDF_EINVAL);
    assert_null(out);
    assert_string_equal(err.msg, ".p[1]: ${{ .a.b }}: Cannot index string with string \"b\"");
    assert_int_equal(render(ctx, "\"${{ .a | input }}\"", "{}", &out, &err), IDF_EDENIED);
}

static void rendered_text_is_capped(void **state)
{
    struct expr_ctx *ctx = *state;
    struct idf_err err;
    json_t *out = NULL;

    assert_int_equal(render(ctx, "\"x${{ [range(300000)] }}\"", "null", &out, &err), IDF_ETOOBIG);
    assert_null(out);
    assert_non_null(strstr(err.msg, "exceeds"));
}

/* ---------------------------------------------------------------- cache */

static void a_cached_program_is_not_compiled_again(void **state)
{
    struct expr_ctx *ctx = *state;
    struct idf_err err;
    uint64_t n0 = expr__compile_count(ctx);
    json_t *in = parse("{\"a\": 1}"), *out = NULL;

    assert_int_equal(expr_check(ctx, ".a + 100", &err), 0);
    assert_int_equal(expr__compile_count(ctx), n0 + 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(expr_eval(ctx, ".a + 100", in, &out, &err), 0);
        assert_int_equal(json_integer_value(out), 101);
        json_decref(out);
    }
    assert_int_equal(expr__compile_count(ctx), n0 + 1);
    assert_int_equal(expr_eval(ctx, ".a + 200", in, &out, &err), 0);
    json_decref(out);
    assert_int_equal(expr__compile_count(ctx), n0 + 2);
    /* a failure is remembered too */
    assert_int_equal(expr_check(ctx, ".a |||", &err), IDF_EPARSE);
    assert_int_equal(expr_check(ctx, ".a |||", &err), IDF_EPARSE);
    assert_non_null(strstr(err.msg, "syntax error"));
    assert_int_equal(expr__compile_count(ctx), n0 + 3);
    json_decref(in);
}

static void the_cache_is_capped(void **state)
{
    struct expr_ctx *ctx = *state;
    struct idf_err err;
    char text[64];
    uint64_t n0 = expr__compile_count(ctx);

    /* refused expressions are cached without a jq compile: cheap to fill */
    for (int i = 0; i < EXPR_CACHE_MAX + 10; i++) {
        snprintf(text, sizeof text, "input, %d", i);
        assert_int_equal(expr_check(ctx, text, &err), IDF_EDENIED);
        assert_true(expr__cache_size(ctx) <= EXPR_CACHE_MAX);
    }
    assert_true(expr__cache_size(ctx) < 100); /* it was emptied once */
    assert_int_equal(expr__compile_count(ctx), n0);
}

/* ---------------------------------------------------------------- threads */

#define THREADS 4
#define ITERATIONS 400

struct worker {
    int id;
    int failures;
    int evaluations;
    char first[512];
};

static void mismatch(struct worker *w, const char *what, const char *want, const char *got)
{
    if (!w->failures++)
        snprintf(w->first, sizeof w->first, "thread %d: %s: want %s, got %s", w->id, what, want, got);
}

static void check_string(struct worker *w, const char *what, json_t *got, const char *want)
{
    const char *g = json_is_string(got) ? json_string_value(got) : "(not a string)";
    w->evaluations++;
    if (strcmp(g, want) != 0)
        mismatch(w, what, want, g);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct expr_ctx *ctx = NULL;
    char own[64], want[256];

    if (expr_ctx_new(&ctx)) {
        mismatch(w, "expr_ctx_new", "0", "error");
        return NULL;
    }
    snprintf(own, sizeof own, ".n + %d", w->id * 1000000); /* compiled by this thread only */
    for (int it = 0; it < ITERATIONS; it++) {
        int i = w->id * 1000 + it;
        long long big = 9007199254740993LL + w->id;
        char name[32], tag[32];
        json_t *in, *t, *out = NULL;
        struct idf_err err;
        bool yes;
        time_t tt = i;
        struct tm tm;

        snprintf(name, sizeof name, "user%d", i);
        snprintf(tag, sizeof tag, "b%d", i);
        in = json_pack("{s:i, s:s, s:[s,s], s:i, s:I}", "n", i, "name", name, "tags", tag, "a", "t", i, "big",
                       (json_int_t)big);

        /* interpolation with number formatting */
        t = json_string("${{ .name }}-${{ .n * 1.5 }}");
        if (expr_render(ctx, t, in, &out, &err))
            mismatch(w, "render", "ok", err.msg);
        else {
            if (i % 2)
                snprintf(want, sizeof want, "user%d-%d.5", i, 3 * i / 2);
            else
                snprintf(want, sizeof want, "user%d-%d", i, 3 * i / 2);
            check_string(w, "render", out, want);
        }
        json_decref(t);
        json_decref(out);
        out = NULL;

        /* jq string interpolation and dtoa */
        if (expr_eval(ctx, "\"x\\(0.1 + 0.2)y\\(.n / 4)\"", in, &out, &err) == 0) {
            snprintf(want, sizeof want, "x0.30000000000000004y%.10g", i / 4.0);
            check_string(w, "interp", out, want);
        } else
            mismatch(w, "interp", "ok", err.msg);
        json_decref(out);
        out = NULL;

        /* regexes (Oniguruma) and conditions */
        if (expr_truthy(ctx, ".name | test(\"^user[0-9]+$\")", in, &yes, &err) || !yes)
            mismatch(w, "test()", "true", err.msg);
        if (expr_truthy(ctx, ".n % 2 == 0", in, &yes, &err) || yes != (i % 2 == 0))
            mismatch(w, "parity", i % 2 ? "false" : "true", yes ? "true" : "false");
        w->evaluations += 2;

        /* sorting, strings */
        if (expr_eval(ctx, "[.tags[] | ascii_upcase] | sort | join(\",\")", in, &out, &err) == 0) {
            snprintf(want, sizeof want, "A,B%d", i);
            check_string(w, "sort", out, want);
        } else
            mismatch(w, "sort", "ok", err.msg);
        json_decref(out);
        out = NULL;

        /* time formatting */
        gmtime_r(&tt, &tm);
        strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (expr_eval(ctx, ".t | todate", in, &out, &err) == 0)
            check_string(w, "todate", out, want);
        else
            mismatch(w, "todate", want, err.msg);
        json_decref(out);
        out = NULL;

        /* big integers and JSON printing */
        snprintf(want, sizeof want, "{\"n\":%d,\"s\":\"%d\",\"big\":\"%lld\"}", i, i, big);
        if (expr_eval(ctx, "{n, s: (.n | tostring), big} | tojson", in, &out, &err) == 0)
            check_string(w, "tojson", out, want);
        else
            mismatch(w, "tojson", want, err.msg);
        json_decref(out);
        out = NULL;

        /* this thread's own program */
        if (expr_eval(ctx, own, in, &out, &err) == 0 && json_integer_value(out) == i + w->id * 1000000)
            w->evaluations++;
        else
            mismatch(w, "own", own, err.msg);
        json_decref(out);
        json_decref(in);
    }
    if (expr__compile_count(ctx) != 9) /* one per distinct expression */
        mismatch(w, "compiles", "9", "another number");
    expr_ctx_free(ctx);
    return NULL;
}

static void threads_evaluate_concurrently(void **state)
{
    pthread_t th[THREADS];
    struct worker w[THREADS];
    (void)state;

    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        if (w[i].failures)
            fail_msg("%d failures, first: %s", w[i].failures, w[i].first);
        assert_int_equal(w[i].evaluations, ITERATIONS * 8);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(whole_value_templates_keep_their_type, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(embedded_templates_interpolate_text, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(templates_are_walked_in_objects_and_arrays, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(template_end_ignores_braces_in_strings_and_nested_objects, setup_ctx,
                                        teardown_ctx),
        cmocka_unit_test_setup_teardown(scan_reports_each_expression_and_unterminated_ones, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(truthy_is_anything_but_false_and_null, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(fenced_constructs_are_refused_by_name, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(fenced_words_in_strings_fields_and_keys_are_fine, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(env_and_ENV_are_empty, setup_ctx, teardown_ctx),
        cmocka_unit_test(a_jq_file_in_home_is_refused),
        cmocka_unit_test_setup_teardown(big_integers_stay_exact_as_strings, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(numbers_come_back_as_integers_or_reals, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(compile_errors_carry_jq_messages, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(runtime_errors_are_einval_with_jq_message, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(rendered_text_is_capped, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(a_cached_program_is_not_compiled_again, setup_ctx, teardown_ctx),
        cmocka_unit_test_setup_teardown(the_cache_is_capped, setup_ctx, teardown_ctx),
        cmocka_unit_test(threads_evaluate_concurrently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

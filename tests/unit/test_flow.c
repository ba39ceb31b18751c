/* test_flow.c — the workflow language: YAML files -> validated model.
 *
 * Fixtures live in tests/data/workflows/ (found through $IDFLOW_SRC, else the
 * current directory). Each error class is checked with the exact
 * line:column a user will read, and hostile input (huge, deep, aliased,
 * binary, truncated, mutated) must be rejected cleanly, also under ASan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "connectors/connector.h"
#include "core/buf.h"
#include "core/err.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "flow/flow_internal.h"
#include "support/testutil.h"

#define FUZZ_MUTATIONS 400 /* seeded mutations of the fuzz seed file */

struct want {
    int line, col;
    const char *has; /* a substring of the message */
};

static struct expr_ctx *ectx;
static struct flow_diags diags; /* large: static, reset by every parse */

static int setup(void **state)
{
    (void)state;
    return expr_ctx_new(&ectx);
}

static int teardown(void **state)
{
    (void)state;
    expr_ctx_free(ectx);
    return 0;
}

static char *fixture(const char *name)
{
    const char *src = getenv("IDFLOW_SRC");
    char *p = NULL;
    assert_true(asprintf(&p, "%s/tests/data/workflows/%s", src ? src : ".", name) > 0);
    return p;
}

static void dump_diags(const char *what)
{
    print_message("%s: %zu problem(s)%s\n", what, diags.n, diags.truncated ? " (truncated)" : "");
    for (size_t i = 0; i < diags.n; i++)
        print_message("  %d:%d: %s\n", diags.items[i].line, diags.items[i].col, diags.items[i].msg);
}

/* Checks that diags holds exactly the wanted problems, in order. */
static void check_diags(const char *what, const struct want *w, size_t n)
{
    bool ok = diags.n == n;
    for (size_t i = 0; ok && i < n; i++) {
        ok = diags.items[i].line == w[i].line && diags.items[i].col == w[i].col &&
             strstr(diags.items[i].msg, w[i].has) != NULL;
        if (!ok)
            print_message("mismatch at #%zu: want %d:%d '%s'\n", i, w[i].line, w[i].col, w[i].has);
    }
    if (!ok)
        dump_diags(what);
    assert_true(ok);
}

static void expect_file(const char *name, int want_rc, const struct want *w, size_t n)
{
    char *path = fixture(name);
    struct flow *f = (struct flow *)0x1;
    int rc = flow_load_file(registry_default(), path, ectx, &f, &diags);
    if (rc != want_rc)
        dump_diags(name);
    assert_int_equal(rc, want_rc);
    assert_null(f);
    check_diags(name, w, n);
    free(path);
}

static struct flow *parse_ok(const char *path, const char *text)
{
    struct flow *f = NULL;
    int rc = flow_parse(registry_default(), path, text, strlen(text), ectx, &f, &diags);
    if (rc)
        dump_diags(path);
    assert_int_equal(rc, 0);
    assert_int_equal(diags.n, 0);
    assert_non_null(f);
    return f;
}

/* `connection:` names the connection of a step whose action needs one */
static void step_connection_key(void **state)
{
    struct flow *f;
    const char *bad = "name: c\non: manual\nsteps:\n  - id: a\n    do: okta.get_user\n    connection: okta-prod\n"
                      "    with: {user: x@y.z}\n  - id: b\n    do: set\n    connection: nope\n";
    (void)state;
    f = parse_ok("c.yaml", "name: c\non: manual\nsteps:\n  - id: a\n    do: okta.get_user\n"
                           "    connection: okta-prod\n    with: {user: x@y.z}\n  - id: b\n    do: set\n");
    assert_string_equal(f->steps[0].connection, "okta-prod");
    assert_null(f->steps[1].connection);
    flow_free(f);
    f = (struct flow *)0x1;
    assert_int_equal(flow_parse(registry_default(), "c.yaml", bad, strlen(bad), ectx, &f, &diags), IDF_EINVAL);
    assert_null(f);
    assert_int_equal(diags.n, 1);
    assert_non_null(strstr(diags.items[0].msg, "'connection' is not used by set"));
    assert_int_equal(diags.items[0].line, 10);
}

/* ---------------------------------------------------------------- the model */

static void valid_workflow_builds_the_model(void **state)
{
    char *path = fixture("valid.yaml");
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[65];
    struct flow *f = NULL;
    const struct flow_step *s;
    (void)state;

    assert_non_null(text);
    assert_int_equal(flow_load_file(registry_default(), path, ectx, &f, &diags), 0);
    assert_int_equal(diags.n, 0);
    assert_string_equal(f->name, "offboard-demo");
    assert_string_equal(f->description, "Remove a leaver from every group, then tell someone.");
    assert_string_equal(f->path, path);
    assert_ptr_equal(f->trigger, registry_find_trigger(registry_default(), "manual"));
    assert_true(json_is_object(f->trigger_params) && json_object_size(f->trigger_params) == 0);
    assert_int_equal(f->n_when, 1);
    assert_string_equal(f->when[0], ".event.data.login | endswith(\"@acme.com\")");
    assert_int_equal(f->n_when_any, 2);
    assert_string_equal(f->when_any[1], ".event.data.force");
    assert_true(f->allow_http);
    assert_true(f->allow_private_network);
    assert_false(f->enabled);

    /* plain scalars are typed, quoted ones stay strings */
    assert_string_equal(json_string_value(json_object_get(f->vars, "api")), "https://api.example.com");
    assert_true(json_is_integer(json_object_get(f->vars, "limit")));
    assert_int_equal(json_integer_value(json_object_get(f->vars, "limit")), 25);
    assert_true(json_is_false(json_object_get(f->vars, "dry")));
    assert_true(json_is_real(json_object_get(f->vars, "ratio")));
    assert_true(json_is_null(json_object_get(f->vars, "nothing")));
    assert_string_equal(json_string_value(json_object_get(f->vars, "quoted")), "123");
    assert_string_equal(json_string_value(json_object_get(f->vars, "login")),
                        "${{ .event.data.login }}");

    assert_int_equal(f->n_steps, 6);
    s = &f->steps[0];
    assert_string_equal(s->id, "groups");
    assert_ptr_equal(s->action, registry_find_action(registry_default(), "http.request"));
    assert_string_equal(json_string_value(json_object_get(s->with, "url")),
                        "${{ .vars.api }}/users/${{ .vars.login }}/groups");
    assert_string_equal(json_string_value(json_object_get(json_object_get(s->with, "headers"), "Accept")),
                        "application/json");
    assert_int_equal(s->retry_max, 5);
    assert_int_equal(s->retry_backoff_ms, 2000);
    assert_int_equal(s->retry_max_delay_ms, 60000);
    assert_int_equal(s->timeout_ms, 30000);
    assert_false(s->continue_on_error);
    assert_null(s->if_expr);
    assert_null(s->foreach_expr);
    assert_int_equal(s->line, 23);
    assert_int_equal(s->col, 5);

    s = &f->steps[1];
    assert_string_equal(s->foreach_expr, "${{ .steps.groups.json }}");
    assert_string_equal(s->as, "group");
    assert_string_equal(s->if_expr, "(.steps.groups.json | length) > 0");
    assert_true(s->continue_on_error);
    assert_int_equal(s->retry_max, 1);
    assert_int_equal(s->retry_backoff_ms, 1000);
    assert_int_equal(s->retry_max_delay_ms, 300000);
    assert_int_equal(s->timeout_ms, 0);
    {
        json_t *j = json_object_get(s->with, "json");
        assert_string_equal(json_string_value(json_object_get(j, "reason")), "leaver");
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 3);
        assert_true(json_is_true(json_object_get(j, "notify")));
    }

    s = &f->steps[2];
    assert_int_equal(s->action->kind, CONN_K_SET);
    assert_string_equal(json_string_value(json_object_get(s->with, "label")),
                        "removed ${{ .steps.remove | length }} groups");
    assert_string_equal(s->as, "item");

    s = &f->steps[3];
    assert_int_equal(s->action->kind, CONN_K_DELAY);
    assert_int_equal(json_integer_value(json_object_get(s->with, "duration")), 90);

    s = &f->steps[4];
    assert_int_equal(s->action->kind, CONN_K_APPROVAL);
    assert_string_equal(json_string_value(json_object_get(s->with, "timeout")), "2d");
    assert_false(s->continue_on_error);

    /* a plain number given to a string parameter keeps every digit */
    s = &f->steps[5];
    assert_string_equal(json_string_value(json_object_get(s->with, "message")),
                        "12345678901234567890");
    assert_string_equal(s->if_expr, ".vars.dry");

    assert_int_equal(flow_step_index(f, "note"), 2);
    assert_int_equal(flow_step_index(f, "stop"), 5);
    assert_int_equal(flow_step_index(f, "nope"), -1);
    assert_int_equal(strlen(f->source), len);
    assert_memory_equal(f->source, text, len);
    crypto_hash_sha256(h, (const unsigned char *)text, len);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    assert_string_equal(f->hash, hex);
    flow_free(f);
    free(text);
    free(path);
}

static void defaults_and_the_trigger_shorthand(void **state)
{
    struct flow *f;
    (void)state;

    f = parse_ok("some/dir/my-flow.yml", "on: manual\nsteps:\n  - id: only\n    do: set\n");
    assert_string_equal(f->name, "my-flow");
    assert_null(f->description);
    assert_ptr_equal(f->trigger, registry_find_trigger(registry_default(), "manual"));
    assert_true(json_is_object(f->trigger_params));
    assert_true(f->enabled);
    assert_false(f->allow_http);
    assert_false(f->allow_private_network); /* http.request: public destinations only */
    assert_int_equal(f->n_when, 0);
    assert_int_equal(f->n_when_any, 0);
    assert_true(json_is_object(f->vars) && json_object_size(f->vars) == 0);
    assert_int_equal(f->n_steps, 1);
    assert_true(json_is_object(f->steps[0].with) && json_object_size(f->steps[0].with) == 0);
    assert_int_equal(f->steps[0].retry_max, 1);
    assert_string_equal(f->steps[0].as, "item");
    assert_int_equal(strlen(f->hash), 64);
    flow_free(f);

    /* one string is a list of one condition; `on: {manual: {}}` */
    f = parse_ok("w.yaml", "name: w2\non: {manual: {}}\nwhen: .event.data.go\n"
                           "steps: [{id: a, do: fail, with: {message: stop}}]\n");
    assert_string_equal(f->name, "w2");
    assert_int_equal(f->n_when, 1);
    assert_string_equal(f->when[0], ".event.data.go");
    flow_free(f);
}

static void names_must_be_valid(void **state)
{
    static const char body[] = "on: manual\nsteps: [{id: a, do: set}]\n";
    struct flow *f = NULL;
    (void)state;

    assert_int_equal(flow_parse(registry_default(), "flows/Bad Name.yaml", body, strlen(body), ectx, &f, &diags),
                     IDF_EINVAL);
    assert_null(f);
    assert_int_equal(diags.n, 1);
    assert_non_null(strstr(diags.items[0].msg, "'Bad Name' is not a valid workflow name"));

    assert_int_equal(flow_parse(registry_default(), NULL, body, strlen(body), ectx, &f, &diags), IDF_EINVAL);
    assert_int_equal(diags.n, 1);
    assert_non_null(strstr(diags.items[0].msg, "missing 'name'"));
}

/* ---------------------------------------------------------------- error classes */

/* Every parameter type, through the checker shared by actions and triggers
 * (the core connector has no integer or boolean parameter). */
static const struct conn_param typed_params[] = {
    {"s", CONN_P_STRING, false, ""},   {"i", CONN_P_INT, true, ""},
    {"b", CONN_P_BOOL, false, ""},     {"o", CONN_P_OBJECT, false, ""},
    {"a", CONN_P_ARRAY, false, ""},    {"d", CONN_P_DURATION, false, ""},
    {"any", CONN_P_ANY, false, ""},    {NULL, 0, false, NULL},
};

static json_t *check_params(const char *yaml)
{
    struct flow__ydoc doc;
    struct flow__xctx x;
    struct flow f;
    json_t *out = NULL;

    memset(&x, 0, sizeof x);
    memset(&f, 0, sizeof f);
    diags.n = 0;
    diags.truncated = false;
    assert_int_equal(flow__yaml_load(&doc, yaml, strlen(yaml), &diags), 0);
    x.ectx = ectx;
    x.d = &diags;
    x.doc = &doc;
    x.f = &f;
    x.self = -1;
    x.where = "test";
    assert_int_equal(flow__params(&x, doc.root, doc.root, "t", typed_params, false, true, &out), 0);
    flow__xctx_clear(&x);
    flow__yaml_free(&doc);
    return out;
}

static void literal_types_against_every_parameter_type(void **state)
{
    static const struct want bad[] = {
        {1, 4, "parameter 's' of t must be a string, not a boolean (quote it: \"true\")"},
        {2, 4, "parameter 'i' of t must be an integer, not a string"},
        {3, 4, "parameter 'b' of t must be true or false, not a string"}, /* yes is text */
        {4, 4, "parameter 'o' of t must be a mapping, not a list"},
        {5, 4, "parameter 'a' of t must be a list, not a mapping"},
        {6, 4, "parameter 'd' of t must be a duration such as 30s, 5m or 1h, not '-5'"},
    };
    json_t *o;
    (void)state;

    o = check_params("s: 007\ni: 42\nb: false\no: {x: 1}\na: [1]\nd: 1h30m\nany: [x]\n");
    check_diags("good", NULL, 0);
    assert_string_equal(json_string_value(json_object_get(o, "s")), "007");
    assert_int_equal(json_integer_value(json_object_get(o, "i")), 42);
    assert_true(json_is_false(json_object_get(o, "b")));
    assert_true(json_is_object(json_object_get(o, "o")));
    assert_true(json_is_array(json_object_get(o, "a")));
    assert_string_equal(json_string_value(json_object_get(o, "d")), "1h30m");
    json_decref(o);

    o = check_params("s: true\ni: '42'\nb: yes\no: [1]\na: {x: 1}\nd: -5\nany: null\n");
    check_diags("bad", bad, 6);
    json_decref(o);
    o = check_params("i: ${{ .n }}\nb: \"on ${{ .x }}\"\n");
    assert_int_equal(diags.n, 1);
    assert_int_equal(diags.items[0].line, 2);
    assert_non_null(strstr(diags.items[0].msg,
                           "parameter 'b' of t must be true or false; this value renders as text"));
    json_decref(o);

    o = check_params("{}");
    assert_int_equal(diags.n, 1);
    assert_non_null(strstr(diags.items[0].msg, "t: missing required parameter 'i'"));
    json_decref(o);
}

static void expressions_are_capped_per_file_not_per_use(void **state)
{
    struct buf b;
    struct flow *f;
    struct flow__ydoc doc;
    struct flow__xctx x;
    struct flow fl;
    static const char two[] = "- .a\n- .b\n";
    (void)state;

    /* the same expression any number of times is compiled once and counted once */
    buf_init(&b, BUF_CAP_WORKFLOW_FILE);
    assert_int_equal(buf_puts(&b, "on: manual\nsteps:\n  - id: a\n    do: set\n    with:\n"), 0);
    for (int i = 0; i < FLOW__MAX_EXPRESSIONS + 100; i++)
        assert_int_equal(buf_printf(&b, "      v%d: ${{ .event.data.x }}\n", i), 0);
    f = parse_ok("many.yaml", b.data);
    assert_int_equal(json_object_size(f->steps[0].with), FLOW__MAX_EXPRESSIONS + 100);
    flow_free(f);
    buf_free(&b);

    /* past the cap of different ones, one message (compiling 500 takes ~8 s: start near it) */
    memset(&x, 0, sizeof x);
    memset(&fl, 0, sizeof fl);
    diags.n = 0;
    assert_int_equal(flow__yaml_load(&doc, two, strlen(two), &diags), 0);
    x.ectx = ectx;
    x.d = &diags;
    x.doc = &doc;
    x.f = &fl;
    x.self = -1;
    x.where = "when";
    x.n_lost = FLOW__MAX_EXPRESSIONS - 1;
    flow__check_jq(&x, doc.root->kids[0], "when");
    assert_int_equal(diags.n, 0);
    flow__check_jq(&x, doc.root->kids[0], "when"); /* seen: free */
    flow__check_jq(&x, doc.root->kids[1], "when");
    flow__check_jq(&x, doc.root->kids[1], "when");
    assert_int_equal(diags.n, 1);
    assert_int_equal(diags.items[0].line, 2);
    assert_int_equal(diags.items[0].col, 3);
    assert_non_null(strstr(diags.items[0].msg, "more than 500 different expressions"));
    flow__xctx_clear(&x);
    flow__yaml_free(&doc);
}

static void yaml_syntax_error(void **state)
{
    static const struct want w[] = {{6, 4, "YAML syntax error: did not find expected '-'"}};
    (void)state;
    expect_file("syntax-error.yaml", IDF_EPARSE, w, 1);
}

static void unquoted_template_in_flow_mapping(void **state)
{
    static const struct want w[] = {{6, 21, "put templates in quotes"}};
    (void)state;
    expect_file("flow-template.yaml", IDF_EPARSE, w, 1);
}

static void unknown_keys(void **state)
{
    static const struct want w[] = {
        {3, 1, "unknown key 'stpes' (did you mean 'steps'?)"},
        {9, 5, "unknown step key 'whith' (did you mean 'with'?)"},
        {10, 22, "unknown key 'retry.jitter'"},
    };
    (void)state;
    expect_file("unknown-key.yaml", IDF_EINVAL, w, 3);
}

static void unknown_trigger(void **state)
{
    static const struct want w[] = {
        {3, 3, "unknown trigger 'manuel' (did you mean 'manual'?); known triggers: "},
    };
    (void)state;
    expect_file("unknown-trigger.yaml", IDF_EINVAL, w, 1);
    assert_non_null(strstr(strstr(diags.items[0].msg, "known triggers: "), "manual"));
}

static void unknown_action(void **state)
{
    static const struct want w[] = {
        {5, 9, "unknown action 'http.reqest' (did you mean 'http.request'?)"},
        {7, 16, "bad jq in ${{ }}"}, /* the templates of an unknown action are still checked */
        {9, 9, "unknown action 'okta.frobnicate'"},
    };
    (void)state;
    expect_file("unknown-action.yaml", IDF_EINVAL, w, 3);
}

static void parameters(void **state)
{
    static const struct want w[] = {
        {6, 5, "http.request (step 'call'): missing required parameter 'url'"},
        {7, 15, "parameter 'method' of http.request (step 'call') must be a string, not a boolean "
                "(quote it: \"true\")"},
        {8, 16, "parameter 'headers' of http.request (step 'call') must be a mapping, not a string"},
        {9, 14, "parameter 'query' of http.request (step 'call') must be a mapping, not a list"},
        {11, 7, "unknown parameter 'bodyy' for http.request (step 'call') (did you mean 'body'?)"},
        {15, 12, "parameter 'url' of http.request (step 'call2') is required; it cannot be null"},
        {16, 16, "must be a mapping; this value renders as text"},
        {17, 5, "delay (step 'wait'): missing required parameter 'duration'"},
        {22, 17, "parameter 'duration' of delay (step 'wait2') must be a duration such as 30s, 5m "
                 "or 1h, not '5 minutes'"},
    };
    (void)state;
    /* step 'ok': whole templates are not type-checked, a plain 123 is a fine
     * string, 90 is a duration in seconds */
    expect_file("params.yaml", IDF_EINVAL, w, sizeof w / sizeof w[0]);
}

static void bad_jq(void **state)
{
    static const struct want w[] = {
        {4, 5, "bad jq in when: "},
        {7, 5, "'when_any' is a bare jq expression: write it without ${{ }}"},
        {9, 24, "bad jq in ${{ }}: "},  /* column of the expression inside the quoted string */
        {13, 9, "bad jq in if: "},
        {15, 16, "bad jq in ${{ }}: "},
        {17, 38, "bad jq in ${{ }}: "}, /* the second template of a nested string */
    };
    (void)state;
    expect_file("bad-jq.yaml", IDF_EINVAL, w, sizeof w / sizeof w[0]);
}

static void unterminated_template(void **state)
{
    static const struct want w[] = {{7, 26, "unterminated '${{' (no closing '}}')"}};
    (void)state;
    expect_file("unterminated.yaml", IDF_EINVAL, w, 1);
}

static void references(void **state)
{
    static const struct want w[] = {
        {4, 5, "'when' refers to step 'first', but no step has run"},
        {6, 14, "'vars' refers to step 'first', but no step has run"},
        {11, 14, "step 'second' is defined later (line 12)"},
        {14, 9, "step 'second' refers to its own output"},
        {18, 14, "no step 'frist' is defined (did you mean 'first'?)"},
        {20, 9, "duplicate step id 'first' (first at line 8)"},
        {23, 15, "no step 'third' is defined"},
        {29, 14, "bad jq in ${{ }}"},
        {29, 14, "write .steps[\"my-step\"]"},
        {31, 14, "no step 'Nope' is defined before step 'last'"},
    };
    (void)state;
    /* .steps["first"], .event.steps.unknown and .steps["my-step"] are fine */
    expect_file("references.yaml", IDF_EINVAL, w, sizeof w / sizeof w[0]);
}

static void durations_and_retry(void **state)
{
    static const struct want w[] = {
        {6, 14, "'timeout' must be longer than 0"},
        {7, 19, "retry.max must be an integer from 1 to 100"},
        {10, 14, "'timeout' must be a duration such as 30s, 5m or 1h, not 'forever'"},
        {11, 19, "retry.max must be an integer from 1 to 100 (the total number of attempts), not '101'"},
        {11, 49, "retry.max_delay must not be shorter than retry.backoff"},
        {14, 12, "'retry' needs 'max'"},
        {14, 23, "retry.backoff must be a duration such as 2s, not '1 hour'"},
        {15, 15, "'on_error' must be fail or continue"},
        {18, 12, "'retry' must be a mapping"},
    };
    (void)state;
    expect_file("durations.yaml", IDF_EINVAL, w, sizeof w / sizeof w[0]);
}

static void foreach_and_as(void **state)
{
    static const struct want w[] = {
        {16, 14, "'foreach' must be one template"},
        {19, 5, "'as' is only used with 'foreach'"},
        {22, 18, "step 'later' is defined later (line 28)"},
        {23, 9, "'as: steps' would hide .steps"},
        {27, 9, "'as' must be a name"},
    };
    (void)state;
    expect_file("foreach.yaml", IDF_EINVAL, w, sizeof w / sizeof w[0]);
}

static void shapes_of_keys(void **state)
{
    static const struct want w[] = {
        {1, 7, "'name' must be lowercase"},
        {2, 14, "'description' must be text"},
        {3, 10, "'enabled' must be true or false, not a string"},
        {4, 13, "'allow_http' must be true or false, not an integer"},
        {6, 3, "'on' must name exactly one trigger"},
        {9, 3, "'when' must be a list of jq expressions"},
        {10, 7, "'vars' must be a mapping"},
        {12, 5, "a step must be a mapping"},
        {13, 5, "step 2 is missing 'id'"},
        {14, 9, "step id must be lowercase letters"},
        {16, 5, "step 'no-do' is missing 'do'"},
        {19, 9, "'do' must be an action name"},
        {22, 8, "'if' needs a jq expression"},
        {26, 7, "templates are not allowed in keys"},
    };
    (void)state;
    expect_file("misc.yaml", IDF_EINVAL, w, sizeof w / sizeof w[0]);
}

/* allow_private_network is a top-level key, a boolean like allow_http */
static void allow_private_network_key(void **state)
{
    static const char text[] = "name: w\n"
                               "on: manual\n"
                               "allow_private_network: sure\n"
                               "steps: [{id: a, do: fail, with: {message: stop}}]\n";
    static const struct want w[] = {{3, 24, "'allow_private_network' must be true or false, not a string"}};
    struct flow *f = NULL;
    (void)state;

    f = parse_ok("w.yaml", "name: w\non: manual\nallow_private_network: true\n"
                           "steps: [{id: a, do: fail, with: {message: stop}}]\n");
    assert_true(f->allow_private_network);
    assert_false(f->allow_http);
    flow_free(f);
    f = parse_ok("w.yaml", "name: w\non: manual\nallow_private_network: false\n"
                           "steps: [{id: a, do: fail, with: {message: stop}}]\n");
    assert_false(f->allow_private_network);
    flow_free(f);
    f = NULL;
    assert_int_equal(flow_parse(registry_default(), "w.yaml", text, strlen(text), ectx, &f, &diags), IDF_EINVAL);
    assert_null(f);
    check_diags("w.yaml", w, 1);
}

/* priority: high | normal | low orders the claim (issue 20): absent is
 * normal; anything else (a number, another word, the wrong case, a list) is
 * refused at the value with the three words, and a typo of the key is
 * suggested. */
static void priority_key(void **state)
{
    static const char *const bad[] = {"urgent", "1", "0", "-1", "HIGH", "'hi'", "[high]", "{p: high}", "~", "true"};
    static const struct want typo[] = {{3, 1, "unknown key 'priorty' (did you mean 'priority'?)"}};
    static const struct {
        const char *text;
        int want;
    } good[] = {{"high", FLOW_PRIORITY_HIGH},
                {"normal", FLOW_PRIORITY_NORMAL},
                {"low", FLOW_PRIORITY_LOW},
                {"'high'", FLOW_PRIORITY_HIGH}};
    struct flow *f = NULL;
    (void)state;

    f = parse_ok("w.yaml", "name: w\non: manual\nsteps: [{id: a, do: fail, with: {message: stop}}]\n");
    assert_int_equal(f->priority, FLOW_PRIORITY_NORMAL);
    flow_free(f);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char *t = NULL;
        assert_true(asprintf(&t,
                             "name: w\non: manual\npriority: %s\n"
                             "steps: [{id: a, do: fail, with: {message: stop}}]\n",
                             good[i].text) > 0);
        f = parse_ok("w.yaml", t);
        assert_int_equal(f->priority, good[i].want);
        flow_free(f);
        free(t);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *t = NULL;
        assert_true(asprintf(&t,
                             "name: w\non: manual\npriority: %s\n"
                             "steps: [{id: a, do: fail, with: {message: stop}}]\n",
                             bad[i]) > 0);
        f = NULL;
        assert_int_equal(flow_parse(registry_default(), "w.yaml", t, strlen(t), ectx, &f, &diags), IDF_EINVAL);
        assert_null(f);
        if (diags.n != 1 || diags.items[0].line != 3 || diags.items[0].col != 11 ||
            !strstr(diags.items[0].msg, "'priority' must be high, normal or low"))
            dump_diags(bad[i]);
        assert_int_equal(diags.n, 1);
        assert_int_equal(diags.items[0].line, 3);
        assert_int_equal(diags.items[0].col, 11);
        assert_non_null(strstr(diags.items[0].msg, "'priority' must be high, normal or low"));
        free(t);
    }
    { /* the message quotes the value the user wrote */
        static const char t1[] = "name: w\non: manual\npriority: urgent\n"
                                 "steps: [{id: a, do: fail, with: {message: stop}}]\n";
        static const char t2[] = "name: w\non: manual\npriorty: high\n"
                                 "steps: [{id: a, do: fail, with: {message: stop}}]\n";
        assert_int_equal(flow_parse(registry_default(), "w.yaml", t1, strlen(t1), ectx, &f, &diags), IDF_EINVAL);
        assert_non_null(strstr(diags.items[0].msg, "not 'urgent'"));
        assert_int_equal(flow_parse(registry_default(), "w.yaml", t2, strlen(t2), ectx, &f, &diags), IDF_EINVAL);
        check_diags("typo", typo, 1);
    }
}

/* concurrency: N caps the workflow's running runs: 1..FLOW_MAX_CONCURRENCY,
 * absent = 0 (no cap); anything else is refused at the value, and a typo of
 * the key is suggested. */
static void concurrency_key(void **state)
{
    static const char text[] = "name: w\n"
                               "on: manual\n"
                               "concurrency: 0\n"
                               "steps: [{id: a, do: fail, with: {message: stop}}]\n";
    static const char *const bad[] = {"0", "-1", "1001", "2.5", "'3'", "many", "[1]", "{n: 1}", "~", "true",
                                      "99999999999999999999"};
    static const struct want typo[] = {{3, 1, "unknown key 'concurency' (did you mean 'concurrency'?)"}};
    struct flow *f = NULL;
    (void)state;

    f = parse_ok("w.yaml", "name: w\non: manual\nsteps: [{id: a, do: fail, with: {message: stop}}]\n");
    assert_int_equal(f->concurrency, 0);
    flow_free(f);
    f = parse_ok("w.yaml", "name: w\non: manual\nconcurrency: 1\n"
                           "steps: [{id: a, do: fail, with: {message: stop}}]\n");
    assert_int_equal(f->concurrency, 1);
    flow_free(f);
    f = parse_ok("w.yaml", "name: w\non: manual\nconcurrency: 1000\n"
                           "steps: [{id: a, do: fail, with: {message: stop}}]\n");
    assert_int_equal(f->concurrency, FLOW_MAX_CONCURRENCY);
    flow_free(f);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *t = NULL;
        assert_true(asprintf(&t, "name: w\non: manual\nconcurrency: %s\n"
                                 "steps: [{id: a, do: fail, with: {message: stop}}]\n",
                             bad[i]) > 0);
        f = NULL;
        assert_int_equal(flow_parse(registry_default(), "w.yaml", t, strlen(t), ectx, &f, &diags), IDF_EINVAL);
        assert_null(f);
        if (diags.n != 1 || diags.items[0].line != 3 || diags.items[0].col != 14 ||
            !strstr(diags.items[0].msg, "'concurrency' must be an integer from 1 to 1000"))
            dump_diags(bad[i]);
        assert_int_equal(diags.n, 1);
        assert_int_equal(diags.items[0].line, 3);
        assert_int_equal(diags.items[0].col, 14);
        assert_non_null(strstr(diags.items[0].msg, "'concurrency' must be an integer from 1 to 1000"));
        free(t);
    }
    /* the message quotes the value the user wrote */
    f = NULL;
    assert_int_equal(flow_parse(registry_default(), "w.yaml", text, strlen(text), ectx, &f, &diags), IDF_EINVAL);
    assert_non_null(strstr(diags.items[0].msg, "not '0'"));
    {
        static const char t2[] = "name: w\non: manual\nconcurency: 2\n"
                                 "steps: [{id: a, do: fail, with: {message: stop}}]\n";
        assert_int_equal(flow_parse(registry_default(), "w.yaml", t2, strlen(t2), ectx, &f, &diags), IDF_EINVAL);
        check_diags("typo", typo, 1);
    }
}

static void literal_block_positions(void **state)
{
    static const struct want w[] = {
        {8, 9, "step 'later' is defined later (line 13)"},
        {12, 18, "step 'later' is defined later (line 13)"},
    };
    (void)state;
    expect_file("literal-block.yaml", IDF_EINVAL, w, 2);
}

static void every_error_of_a_file_is_reported(void **state)
{
    static const struct want w[] = {
        {3, 3, "unknown trigger 'manul'"},
        {4, 1, "unknown key 'stpes'"},
        {6, 5, "bad jq in when"},
        {9, 9, "unknown action 'http.requst'"},
        {12, 5, "missing required parameter 'url'"},
        {14, 7, "unknown parameter 'urll'"},
        {18, 17, "must be a duration"},
        {19, 9, "duplicate step id 'second'"},
        {22, 14, "step 'fourth' is defined later (line 23)"},
        {26, 20, "no step 'nope' is defined before step 'fourth'"},
        {27, 19, "retry.max must be an integer from 1 to 100"},
        {27, 31, "retry.backoff must be a duration"},
        {28, 14, "'timeout' must be a duration"},
        {29, 15, "'on_error' must be fail or continue"},
        {30, 9, "step 'fourth' refers to its own output"},
    };
    (void)state;
    expect_file("many-errors.yaml", IDF_EINVAL, w, sizeof w / sizeof w[0]);
}

static void diags_print_as_path_line_col(void **state)
{
    char *path = fixture("unterminated.yaml");
    struct flow *f = NULL;
    char *out = NULL;
    size_t n = 0;
    FILE *mem;
    char *want = NULL;
    (void)state;

    assert_int_equal(flow_load_file(registry_default(), path, ectx, &f, &diags), IDF_EINVAL);
    diags.items[diags.n].line = 0; /* a problem without position prints without one */
    snprintf(diags.items[diags.n].msg, sizeof diags.items[0].msg, "no position");
    diags.n++;
    mem = open_memstream(&out, &n);
    assert_non_null(mem);
    flow_diags_print(path, &diags, mem);
    fclose(mem);
    assert_true(asprintf(&want,
                         "%s:7:26: unterminated '${{' (no closing '}}')\n%s: no position\n",
                         path, path) > 0);
    assert_string_equal(out, want);
    free(want);
    free(out);
    free(path);
}

/* ---------------------------------------------------------------- hostile input */

static void expect_text(const char *text, size_t len, int want_rc, const char *has)
{
    struct flow *f = NULL;
    int rc = flow_parse(registry_default(), "hostile.yaml", text, len, ectx, &f, &diags);
    if (rc != want_rc || diags.n == 0 || !strstr(diags.items[0].msg, has))
        dump_diags(has);
    assert_int_equal(rc, want_rc);
    assert_null(f);
    assert_true(diags.n >= 1);
    assert_non_null(strstr(diags.items[0].msg, has));
}

static void aliases_are_refused(void **state)
{
    static const struct want w[] = {{5, 10, "YAML aliases (*a) are not supported"}};
    (void)state;
    expect_file("billion-laughs.yaml", IDF_EINVAL, w, 1); /* once, not per alias */
}

static void oversized_input_is_refused(void **state)
{
    size_t n = BUF_CAP_WORKFLOW_FILE + 1;
    char *big = malloc(n + 1);
    char *dir = tu_mktemp_dir();
    char *path;
    struct flow *f = NULL;
    (void)state;

    assert_non_null(big);
    assert_non_null(dir);
    memset(big, '#', n);
    memcpy(big, "on: manual\n", 11);
    big[n] = '\0';
    expect_text(big, n, IDF_ETOOBIG, "larger than 256 KiB");

    path = tu_path(dir, "big.yaml");
    assert_int_equal(tu_write_file(path, big), 0);
    assert_int_equal(flow_load_file(registry_default(), path, ectx, &f, &diags), IDF_ETOOBIG);
    assert_null(f);
    assert_int_equal(diags.n, 1);
    assert_int_equal(diags.items[0].line, 0);
    free(path);

    assert_int_equal(flow_load_file(registry_default(), "/nonexistent/flow.yaml", ectx, &f, &diags), IDF_ENOTFOUND);
    assert_int_equal(diags.n, 1);
    assert_non_null(strstr(diags.items[0].msg, "cannot open"));
    assert_int_equal(tu_rm_rf(dir), 0);
    free(dir);
    free(big);
}

static void deep_and_wide_input_is_refused(void **state)
{
    struct buf b;
    (void)state;

    buf_init(&b, BUF_CAP_WORKFLOW_FILE);
    assert_int_equal(buf_puts(&b, "on: manual\nsteps: "), 0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_puts(&b, "["), 0);
    expect_text(b.data, b.len, IDF_EPARSE, "nested deeper than 64 levels");
    assert_int_equal(diags.items[0].line, 2);

    buf_reset(&b);
    assert_int_equal(buf_puts(&b, "on: manual\nsteps:\n  - id: a\n    do: set\n    with:\n      x:\n"),
                     0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(buf_printf(&b, "%*sy:\n", 8 + 2 * i, ""), 0);
    expect_text(b.data, b.len, IDF_EPARSE, "nested deeper than 64 levels");

    buf_reset(&b);
    assert_int_equal(buf_puts(&b, "on: manual\nvars: {x: ["), 0);
    for (int i = 0; i < 110000; i++)
        assert_int_equal(buf_puts(&b, "1,"), 0);
    assert_int_equal(buf_puts(&b, "1]}\n"), 0);
    expect_text(b.data, b.len, IDF_EPARSE, "more than 100000 YAML nodes");

    buf_reset(&b);
    assert_int_equal(buf_puts(&b, "on: manual\nsteps:\n"), 0);
    for (int i = 0; i < FLOW_MAX_STEPS + 5; i++)
        assert_int_equal(buf_printf(&b, "  - {id: s%d, do: set}\n", i), 0);
    expect_text(b.data, b.len, IDF_EINVAL, "more than 200 steps");
    assert_int_equal(diags.n, 1);
    assert_int_equal(diags.items[0].line, 3 + FLOW_MAX_STEPS);

    /* more problems than fit: the list is cut and says so */
    buf_reset(&b);
    assert_int_equal(buf_puts(&b, "on: manual\nsteps:\n"), 0);
    for (int i = 0; i < 150; i++)
        assert_int_equal(buf_printf(&b, "  - {id: s%d, do: nothing%d}\n", i, i), 0);
    expect_text(b.data, b.len, IDF_EINVAL, "unknown action 'nothing0'");
    assert_int_equal(diags.n, FLOW_MAX_DIAGS);
    assert_true(diags.truncated);
    buf_free(&b);
}

static void binary_and_odd_documents_are_refused(void **state)
{
    static const char nul[] = "on: manual\nsteps: x\0y\n";
    static const char two[] = "on: manual\nsteps: [{id: a, do: set}]\n---\non: manual\n";
    static const char tags[] = "on: manual\nsteps: [{id: a, do: set, with: {x: !!binary aGk=}}]\n";
    static const char dups[] = "name: a\non: manual\nname: b\nsteps: [{id: a, do: set}]\n";
    static const char bad_utf8[] = "on: manual\nname: \xff\xfe\n";
    (void)state;

    expect_text(nul, sizeof nul - 1, IDF_EPARSE, "NUL byte");
    assert_int_equal(diags.items[0].line, 2);
    assert_int_equal(diags.items[0].col, 9);
    expect_text(two, strlen(two), IDF_EPARSE, "one YAML document");
    assert_int_equal(diags.items[0].line, 3);
    expect_text(tags, strlen(tags), IDF_EINVAL, "YAML tags are not supported ('!!binary')");
    expect_text(dups, strlen(dups), IDF_EINVAL, "duplicate key 'name' (first at line 1)");
    assert_int_equal(diags.items[0].line, 3);
    expect_text(bad_utf8, strlen(bad_utf8), IDF_EPARSE, "YAML syntax error");
    assert_int_equal(diags.items[0].line, 2);
    expect_text("", 0, IDF_EINVAL, "the file is empty");
    expect_text("# only a comment\n", 17, IDF_EINVAL, "the file is empty");
    expect_text("- a\n- b\n", 8, IDF_EINVAL, "must be a mapping of keys");
    expect_text("just text", 9, IDF_EINVAL, "must be a mapping of keys");
}

/* rc == 0 exactly when there is a model and no problem; never a crash. */
static void parse_any(const char *text, size_t len)
{
    struct flow *f = NULL;
    int rc = flow_parse(registry_default(), "fuzz.yaml", text, len, ectx, &f, &diags);
    if (rc == 0) {
        assert_non_null(f);
        assert_int_equal(diags.n, 0);
        assert_true(f->n_steps >= 1);
        for (size_t i = 0; i < f->n_steps; i++)
            assert_non_null(f->steps[i].action);
        flow_free(f);
    } else {
        assert_null(f);
        assert_true(diags.n >= 1);
    }
}

static void truncated_and_mutated_files_never_crash(void **state)
{
    static const char alphabet[] = "-:{}[],&*!|>'%@`#?$\n \t.\\";
    char *path = fixture("fuzz-seed.yaml");
    size_t len = 0;
    char *seed = tu_read_file(path, &len);
    char *buf = malloc(len + 64);
    unsigned int rs = 20261124;
    (void)state;

    assert_non_null(seed);
    assert_non_null(buf);
    for (size_t t = 0; t <= len; t++) {
        memcpy(buf, seed, t); /* not NUL-terminated on purpose */
        parse_any(buf, t);
    }
    for (int i = 0; i < FUZZ_MUTATIONS; i++) {
        size_t n = len;
        int edits = 1 + (int)(rand_r(&rs) % 8);
        memcpy(buf, seed, len);
        for (int e = 0; e < edits && n > 1; e++) {
            size_t pos = (size_t)rand_r(&rs) % n;
            switch (rand_r(&rs) % 4) {
            case 0: buf[pos] = alphabet[rand_r(&rs) % (sizeof alphabet - 1)]; break;
            case 1: buf[pos] = (char)(0x80 + rand_r(&rs) % 0x80); break; /* broken UTF-8 */
            case 2:
                memmove(buf + pos + 1, buf + pos, n - pos);
                buf[pos] = alphabet[rand_r(&rs) % (sizeof alphabet - 1)];
                n++;
                break;
            default:
                memmove(buf + pos, buf + pos + 1, n - pos - 1);
                n--;
                break;
            }
        }
        parse_any(buf, n);
    }
    for (int i = 0; i < 50; i++) { /* random bytes without NUL */
        for (size_t k = 0; k < len; k++) {
            char c = (char)(1 + rand_r(&rs) % 255);
            buf[k] = c == '"' ? '!' : c;
        }
        parse_any(buf, len);
    }
    free(buf);
    free(seed);
    free(path);
}

/* ------------------------------------------- inputs (helper "inputs") */

static const char INPUTS_WF[] = "name: in\n"
                                "on:\n"
                                "  manual:\n"
                                "    inputs:\n"
                                "      login: { type: string, required: true, description: Okta login }\n"
                                "      count: { type: integer, default: 3 }\n"
                                "      ratio: { type: number }\n"
                                "      reason: { type: choice, options: [leaver, incident], default: leaver }\n"
                                "      dry: { type: boolean, default: false }\n"
                                "      note:\n"
                                "      code: { default: 42 }\n"
                                "steps:\n"
                                "  - id: a\n"
                                "    do: set\n"
                                "    with: { x: \"${{ .event.data.login }}\" }\n";

/* the declaration becomes the model: order, types, defaults, options */
static void inputs_declaration_builds_the_model(void **state)
{
    struct flow *f = parse_ok("in.yaml", INPUTS_WF);
    (void)state;

    assert_true(f->has_inputs);
    assert_int_equal(f->n_inputs, 7);
    assert_string_equal(f->inputs[0].name, "login");
    assert_int_equal(f->inputs[0].type, FLOW_INPUT_STRING);
    assert_true(f->inputs[0].required);
    assert_string_equal(f->inputs[0].description, "Okta login");
    assert_null(f->inputs[0].def);
    assert_int_equal(f->inputs[0].at.line, 5);
    assert_int_equal(f->inputs[0].at.col, 7);
    assert_int_equal(f->inputs[1].type, FLOW_INPUT_INTEGER);
    assert_int_equal(json_integer_value(f->inputs[1].def), 3);
    assert_int_equal(f->inputs[2].type, FLOW_INPUT_NUMBER);
    assert_int_equal(f->inputs[3].type, FLOW_INPUT_CHOICE);
    assert_int_equal(f->inputs[3].n_options, 2);
    assert_string_equal(f->inputs[3].options[1], "incident");
    assert_string_equal(json_string_value(f->inputs[3].def), "leaver");
    assert_true(json_is_false(f->inputs[4].def));
    assert_int_equal(f->inputs[5].type, FLOW_INPUT_STRING); /* `note:` alone */
    assert_false(f->inputs[5].required);
    assert_string_equal(json_string_value(f->inputs[6].def), "42"); /* a string's default is text */
    assert_int_equal(json_object_size(f->trigger_params), 0);     /* inputs is not a parameter */
    assert_string_equal(flow_input_type_name(FLOW_INPUT_BOOLEAN), "boolean");
    flow_free(f);

    /* no inputs: declared: none taken, data passes as it is */
    f = parse_ok("m.yaml", "name: m\non: manual\nsteps:\n  - id: a\n    do: set\n    with: {x: 1}\n");
    assert_false(f->has_inputs);
    assert_int_equal(f->n_inputs, 0);
    flow_free(f);
}

/* every problem of a declaration, each at its line:column */
static void inputs_declaration_errors(void **state)
{
    static const struct want w[] = {
        {6, 22, "input 'login': unknown type 'strin' (string, number, integer, boolean or choice)"},
        {6, 39, "input 'login': 'required' must be true or false, not a string"},
        {6, 44, "input 'login': unknown key 'descripton' (did you mean 'description'?)"},
        {7, 40, "input 'count' is an integer: its default must be an integer, not a number"},
        {8, 69, "input 'reason': the default 'other' is not one of its options"},
        {9, 7, "input 'c2' is a choice: it needs 'options'"},
        {10, 35, "input 'n': 'options' belong to a choice input, not a number one"},
        {11, 7, "input name 'bad-name' must be letters, digits and '_'"},
        {12, 36, "input 'd' is a boolean: its default must be true or false, not a string"},
        {13, 35, "input 'e': templates are not allowed in 'default'"},
        {14, 10, "input 'f' must be a mapping"},
    };
    const char *sched = "name: s\non:\n  schedule:\n    cron: \"* * * * *\"\n    inputs: { a: {} }\n"
                        "steps:\n  - id: a\n    do: set\n    with: {x: 1}\n";
    const char *notmap = "name: s\non:\n  manual:\n    inputs: [login]\nsteps:\n  - id: a\n    do: set\n"
                         "    with: {x: 1}\n";
    const char *dup = "name: s\non:\n  manual:\n    inputs:\n      r: { type: choice, options: [a, a] }\n"
                      "steps:\n  - id: a\n    do: set\n    with: {x: 1}\n";
    (void)state;

    expect_file("inputs-bad.yaml", IDF_EINVAL, w, sizeof w / sizeof w[0]);
    {
        static const struct want ws[] = {{5, 5, "trigger schedule takes no inputs"}};
        struct flow *f = NULL;
        assert_int_equal(flow_parse(registry_default(), "s.yaml", sched, strlen(sched), ectx, &f, &diags),
                         IDF_EINVAL);
        check_diags("schedule with inputs", ws, 1);
    }
    {
        static const struct want wn[] = {{4, 13, "'inputs' must be a mapping of input names"}};
        struct flow *f = NULL;
        assert_int_equal(flow_parse(registry_default(), "s.yaml", notmap, strlen(notmap), ectx, &f, &diags),
                         IDF_EINVAL);
        check_diags("inputs as a list", wn, 1);
    }
    {
        static const struct want wd[] = {{5, 39, "input 'r': option 'a' is listed twice"}};
        struct flow *f = NULL;
        assert_int_equal(flow_parse(registry_default(), "s.yaml", dup, strlen(dup), ectx, &f, &diags),
                         IDF_EINVAL);
        check_diags("a duplicate option", wd, 1);
    }
}

/* Applies the JSON text data to f's inputs; returns the rc and, on success, the result's dump in *out. */
static int apply(const struct flow *f, const char *data, char **out, struct idf_err *err)
{
    json_t *in = data ? json_loads(data, JSON_DECODE_ANY, NULL) : NULL;
    json_t *res = (json_t *)0x1;
    int rc;

    if (data)
        assert_non_null(in);
    idf_err_clear(err);
    rc = flow_inputs_apply(f, in, &res, err);
    *out = NULL;
    if (rc == 0)
        *out = res ? json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("NULL");
    else
        assert_null(res);
    json_decref(res);
    json_decref(in);
    return rc;
}

/* a caller's data against the declaration: 400-worthy errors name the input; defaults are filled in */
static void inputs_apply_checks_the_data(void **state)
{
    static const struct {
        const char *data;
        const char *has; /* the error, or NULL */
        const char *want; /* the data afterwards, when accepted */
    } cases[] = {
        {"{\"login\": \"jane@acme.com\"}", NULL,
         "{\"login\":\"jane@acme.com\",\"count\":3,\"reason\":\"leaver\",\"dry\":false,\"code\":\"42\"}"},
        {"{\"login\": \"j\", \"count\": 7, \"ratio\": 0.5, \"reason\": \"incident\", \"dry\": true, \"note\": \"n\","
         " \"code\": \"x\"}",
         NULL,
         "{\"login\":\"j\",\"count\":7,\"ratio\":0.5,\"reason\":\"incident\",\"dry\":true,\"note\":\"n\","
         "\"code\":\"x\"}"},
        {"{\"login\": \"j\", \"ratio\": 2, \"count\": null}", NULL,
         "{\"login\":\"j\",\"count\":3,\"ratio\":2,\"reason\":\"leaver\",\"dry\":false,\"code\":\"42\"}"},
        {"{}", "input 'login' is required", NULL},
        {NULL, "input 'login' is required", NULL},
        {"{\"login\": null}", "input 'login' is required", NULL},
        {"{\"login\": \"\"}", "input 'login' is required: it is empty", NULL},
        {"{\"login\": 5}", "input 'login' must be a string, not an integer", NULL},
        {"{\"login\": \"j\", \"count\": \"3\"}", "input 'count' must be an integer, not a string", NULL},
        {"{\"login\": \"j\", \"count\": 1.5}", "input 'count' must be an integer, not a number", NULL},
        {"{\"login\": \"j\", \"ratio\": \"1\"}", "input 'ratio' must be a number, not a string", NULL},
        {"{\"login\": \"j\", \"dry\": \"true\"}", "input 'dry' must be a boolean, not a string", NULL},
        {"{\"login\": \"j\", \"reason\": \"fun\"}", "input 'reason' must be one of: leaver, incident", NULL},
        {"{\"login\": \"j\", \"reason\": 1}", "input 'reason' must be a string, not an integer", NULL},
        {"{\"login\": \"j\", \"logn\": \"x\"}",
         "unknown input 'logn': workflow in takes login, count, ratio, reason, dry, note, code", NULL},
        {"[1]", "the data of workflow in must be an object of its inputs (login, count", NULL},
    };
    struct flow *f = parse_ok("in.yaml", INPUTS_WF);
    struct flow *plain = parse_ok("m.yaml", "name: m\non: manual\nsteps:\n  - id: a\n    do: set\n    with: {x: 1}\n");
    struct flow *none = parse_ok("n.yaml", "name: n\non:\n  manual:\n    inputs:\nsteps:\n  - id: a\n    do: set\n"
                                           "    with: {x: 1}\n");
    struct idf_err err;
    char *out;
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = apply(f, cases[i].data, &out, &err);
        if (cases[i].has) {
            if (rc != IDF_EINVAL || !strstr(err.msg, cases[i].has))
                print_message("case %zu: rc %d '%s', want '%s'\n", i, rc, err.msg, cases[i].has);
            assert_int_equal(rc, IDF_EINVAL);
            assert_non_null(strstr(err.msg, cases[i].has));
        } else {
            if (rc)
                print_message("case %zu: %s\n", i, err.msg);
            assert_int_equal(rc, 0);
            assert_string_equal(out, cases[i].want);
        }
        free(out);
    }
    /* without a declaration the data is taken as it is, whatever it is */
    assert_int_equal(apply(plain, "{\"anything\": [1, {\"x\": 2}]}", &out, &err), 0);
    assert_string_equal(out, "{\"anything\":[1,{\"x\":2}]}");
    free(out);
    assert_int_equal(apply(plain, "\"text\"", &out, &err), 0);
    assert_string_equal(out, "\"text\"");
    free(out);
    assert_int_equal(apply(plain, NULL, &out, &err), 0);
    assert_string_equal(out, "NULL");
    free(out);
    /* `inputs:` with nothing declared takes nothing */
    assert_int_equal(apply(none, "{}", &out, &err), 0);
    assert_string_equal(out, "{}");
    free(out);
    assert_int_equal(apply(none, "{\"x\": 1}", &out, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "unknown input 'x': workflow n takes none"));
    flow_free(f);
    flow_free(plain);
    flow_free(none);
}

/* command-line text (idflow run --input NAME=VALUE) read by the input's type */
static void inputs_from_text(void **state)
{
    struct flow *f = parse_ok("in.yaml", INPUTS_WF);
    struct idf_err err;
    json_t *v = NULL;
    (void)state;

    assert_int_equal(flow_input_from_text(flow_input_find(f, "count"), "12", &v, &err), 0);
    assert_int_equal(json_integer_value(v), 12);
    json_decref(v);
    assert_int_equal(flow_input_from_text(flow_input_find(f, "count"), "12x", &v, &err), IDF_EINVAL);
    assert_string_equal(err.msg, "input 'count' must be an integer, not '12x'");
    assert_int_equal(flow_input_from_text(flow_input_find(f, "count"), " 1", &v, &err), IDF_EINVAL);
    assert_int_equal(flow_input_from_text(flow_input_find(f, "ratio"), "0.25", &v, &err), 0);
    assert_true(json_is_real(v) && json_real_value(v) == 0.25);
    json_decref(v);
    assert_int_equal(flow_input_from_text(flow_input_find(f, "ratio"), "7", &v, &err), 0);
    assert_true(json_is_integer(v));
    json_decref(v);
    assert_int_equal(flow_input_from_text(flow_input_find(f, "ratio"), "nan", &v, &err), IDF_EINVAL);
    assert_int_equal(flow_input_from_text(flow_input_find(f, "dry"), "true", &v, &err), 0);
    assert_true(json_is_true(v));
    assert_int_equal(flow_input_from_text(flow_input_find(f, "dry"), "yes", &v, &err), IDF_EINVAL);
    assert_string_equal(err.msg, "input 'dry' must be true or false, not 'yes'");
    assert_int_equal(flow_input_from_text(flow_input_find(f, "login"), "007", &v, &err), 0);
    assert_string_equal(json_string_value(v), "007");
    json_decref(v);
    assert_null(flow_input_find(f, "nope"));
    flow_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_workflow_builds_the_model),
        cmocka_unit_test(defaults_and_the_trigger_shorthand),
        cmocka_unit_test(step_connection_key),
        cmocka_unit_test(inputs_declaration_builds_the_model),
        cmocka_unit_test(inputs_declaration_errors),
        cmocka_unit_test(inputs_apply_checks_the_data),
        cmocka_unit_test(inputs_from_text),
        cmocka_unit_test(names_must_be_valid),
        cmocka_unit_test(literal_types_against_every_parameter_type),
        cmocka_unit_test(expressions_are_capped_per_file_not_per_use),
        cmocka_unit_test(yaml_syntax_error),
        cmocka_unit_test(unquoted_template_in_flow_mapping),
        cmocka_unit_test(unknown_keys),
        cmocka_unit_test(unknown_trigger),
        cmocka_unit_test(unknown_action),
        cmocka_unit_test(parameters),
        cmocka_unit_test(bad_jq),
        cmocka_unit_test(unterminated_template),
        cmocka_unit_test(references),
        cmocka_unit_test(durations_and_retry),
        cmocka_unit_test(foreach_and_as),
        cmocka_unit_test(shapes_of_keys),
        cmocka_unit_test(allow_private_network_key),
        cmocka_unit_test(concurrency_key),
        cmocka_unit_test(priority_key),
        cmocka_unit_test(literal_block_positions),
        cmocka_unit_test(every_error_of_a_file_is_reported),
        cmocka_unit_test(diags_print_as_path_line_col),
        cmocka_unit_test(aliases_are_refused),
        cmocka_unit_test(oversized_input_is_refused),
        cmocka_unit_test(deep_and_wide_input_is_refused),
        cmocka_unit_test(binary_and_odd_documents_are_refused),
        cmocka_unit_test(truncated_and_mutated_files_never_crash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_render.c — api/render.c: the JSON of the store's rows, byte for byte
 * (field names, order, types, null versus absent), as the API answers and
 * the CLI prints it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "api/render.h"
#include "connectors/connector.h"
#include "expr/expr.h"
#include "flow/flow.h"

/* Asserts that v (consumed) dumps compactly to want. */
static void assert_json(json_t *v, const char *want)
{
    char *s;

    assert_non_null(v);
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
    json_decref(v);
}

static void test_json_text(void **state)
{
    (void)state;
    assert_json(render_json_text(NULL), "null");
    assert_json(render_json_text("{\"a\": [1, 2]}"), "{\"a\":[1,2]}");
    assert_json(render_json_text("42"), "42");
    assert_json(render_json_text("\"s\""), "\"s\"");
    /* a text that does not parse is shown as it is, a string */
    assert_json(render_json_text("not json {"), "\"not json {\"");
}

static void test_workflows(void **state)
{
    struct store_workflow_info w[2] = {{"a", 3, true, "h1", 10}, {"b", 1, false, NULL, 11}};

    (void)state;
    assert_json(render_workflows(w, 2), "[{\"name\":\"a\",\"version\":3,\"enabled\":true,\"hash\":\"h1\","
                                        "\"updated_at\":10},{\"name\":\"b\",\"version\":1,\"enabled\":false,"
                                        "\"hash\":null,\"updated_at\":11}]");
    assert_json(render_workflows(NULL, 0), "[]");
    assert_json(render_workflow(&w[0]),
                "{\"name\":\"a\",\"version\":3,\"enabled\":true,\"hash\":\"h1\",\"updated_at\":10}");
}

/* (helper "inputs") a workflow's definition and last run, as the workflows list shows them */
static void test_workflow_def(void **state)
{
    static const char wf[] = "name: d\n"
                             "description: Does d.\n"
                             "on:\n"
                             "  manual:\n"
                             "    inputs:\n"
                             "      login: { required: true }\n"
                             "      days: { type: integer, default: 30, description: Days }\n"
                             "      why: { type: choice, options: [a, b] }\n"
                             "steps:\n"
                             "  - id: a\n"
                             "    do: okta.get_user\n"
                             "    connection: prod\n"
                             "    with: {user: x}\n"
                             "  - id: b\n"
                             "    do: okta.get_user\n"
                             "    connection: prod\n"
                             "    with: {user: y}\n";
    struct store_last_run lr = {"d", 7, "failed", 99};
    struct expr_ctx *ectx = NULL;
    struct flow_diags *diags = calloc(1, sizeof *diags);
    struct flow *f = NULL;
    json_t *o;

    (void)state;
    assert_int_equal(expr_ctx_new(&ectx), 0);
    assert_int_equal(flow_parse(registry_default(), "d.yaml", wf, strlen(wf), ectx, &f, diags), 0);
    o = json_object();
    assert_int_equal(render_workflow_def(o, f), 0);
    assert_json(o, "{\"description\":\"Does d.\",\"triggers\":[{\"name\":\"manual\",\"params\":{}}],"
                   "\"connections\":[\"prod\"],\"startable\":true,\"inputs\":["
                   "{\"name\":\"login\",\"type\":\"string\",\"required\":true,\"description\":null},"
                   "{\"name\":\"days\",\"type\":\"integer\",\"required\":false,\"description\":\"Days\","
                   "\"default\":30},"
                   "{\"name\":\"why\",\"type\":\"choice\",\"required\":false,\"description\":null,"
                   "\"options\":[\"a\",\"b\"]}]}");
    /* a workflow the engine does not hold */
    o = json_object();
    assert_int_equal(render_workflow_def(o, NULL), 0);
    assert_json(o, "{\"description\":null,\"triggers\":[],\"connections\":[],\"startable\":false,\"inputs\":null}");
    assert_json(render_last_run(&lr), "{\"id\":7,\"status\":\"failed\",\"created_at\":99}");
    assert_json(render_last_run(NULL), "null");
    flow_free(f);
    free(diags);
    expr_ctx_free(ectx);
}

static void test_event(void **state)
{
    struct store_event ev = {.id = 7,
                             .source = "okta",
                             .source_id = "u-1",
                             .type = "okta.user_locked",
                             .connection = NULL,
                             .data = "{\"n\": 1}",
                             .tries = 2,
                             .received_at = 99,
                             .stage = STORE_EVENT_EXPAND,
                             .note = NULL};

    (void)state;
    assert_json(render_event(&ev), "{\"id\":7,\"source\":\"okta\",\"source_id\":\"u-1\",\"type\":\"okta.user_locked\","
                                   "\"connection\":null,\"received_at\":99,\"data\":{\"n\":1},\"stage\":\"expand\","
                                   "\"tries\":2,\"note\":null}");
    ev.stage = STORE_EVENT_MATCH;
    ev.note = "later";
    ev.connection = "sb";
    assert_json(render_event(&ev), "{\"id\":7,\"source\":\"okta\",\"source_id\":\"u-1\",\"type\":\"okta.user_locked\","
                                   "\"connection\":\"sb\",\"received_at\":99,\"data\":{\"n\":1},\"stage\":\"match\","
                                   "\"tries\":2,\"note\":\"later\"}");
}

static void test_runs(void **state)
{
    struct store_run r[2] = {
        {.id = 2,
         .workflow = "w",
         .version = 1,
         .event_id = 5,
         .status = "failed",
         .pc = 3,
         .error = "boom",
         .created_at = 10,
         .updated_at = 11,
         .finished_at = 12,
         .rerun_of = 1,
         .wake_at = 0},
        {.id = 1,
         .workflow = "w",
         .version = 1,
         .event_id = 5,
         .status = "waiting",
         .pc = 0,
         .created_at = 8,
         .updated_at = 9,
         .wake_at = 50},
    };

    (void)state;
    /* the list: every field, error null when none */
    assert_json(render_runs(r, 2),
                "[{\"id\":2,\"workflow\":\"w\",\"version\":1,\"event_id\":5,\"status\":\"failed\",\"pc\":3,"
                "\"error\":\"boom\",\"created_at\":10,\"updated_at\":11,\"finished_at\":12,\"rerun_of\":1,"
                "\"source\":{\"name\":null,\"via\":null,\"actor\":null,\"connection\":null},\"trigger\":null,\"subject\":null,\"rerun_as\":null},"
                "{\"id\":1,\"workflow\":\"w\",\"version\":1,\"event_id\":5,\"status\":\"waiting\",\"pc\":0,"
                "\"error\":null,\"created_at\":8,\"updated_at\":9,\"finished_at\":0,\"rerun_of\":0,"
                "\"source\":{\"name\":null,\"via\":null,\"actor\":null,\"connection\":null},\"trigger\":null,\"subject\":null,\"rerun_as\":null}]");
    /* one run: error, wake_at and rerun_of only when set; the event redacted */
    assert_json(render_run(&r[0]), "{\"id\":2,\"workflow\":\"w\",\"version\":1,\"event_id\":5,\"status\":\"failed\","
                                   "\"pc\":3,\"created_at\":10,\"updated_at\":11,\"finished_at\":12,"
                                   "\"error\":\"boom\",\"rerun_of\":1,"
                                   "\"source\":{\"name\":null,\"via\":null,\"actor\":null,\"connection\":null},\"trigger\":null,\"subject\":null,\"rerun_as\":null}");
    r[1].event = "{\"user\":\"ann\",\"token\":\"s3cret\"}";
    assert_json(render_run(&r[1]), "{\"id\":1,\"workflow\":\"w\",\"version\":1,\"event_id\":5,\"status\":\"waiting\","
                                   "\"pc\":0,\"created_at\":8,\"updated_at\":9,\"finished_at\":0,\"wake_at\":50,"
                                   "\"event\":{\"user\":\"ann\",\"token\":\"[redacted]\"},"
                                   "\"source\":{\"name\":null,\"via\":null,\"actor\":null,\"connection\":null},\"trigger\":null,\"subject\":null,\"rerun_as\":null}");
    /* issue 17: where it came from, whom it concerns, its re-run */
    r[1].event = NULL;
    r[1].source = "okta";
    r[1].via = "poll";
    r[1].connection = "prod";
    r[1].trigger = "okta.user_locked";
    r[1].subject = "jane@acme.com";
    r[1].rerun_as = 7;
    assert_json(render_runs(&r[1], 1),
                "[{\"id\":1,\"workflow\":\"w\",\"version\":1,\"event_id\":5,\"status\":\"waiting\",\"pc\":0,"
                "\"error\":null,\"created_at\":8,\"updated_at\":9,\"finished_at\":0,\"rerun_of\":0,"
                "\"source\":{\"name\":\"okta\",\"via\":\"poll\",\"actor\":null,\"connection\":\"prod\"},"
                "\"trigger\":\"okta.user_locked\",\"subject\":\"jane@acme.com\",\"rerun_as\":7}]");
}

/* issue 17: a run's subjects grouped per (kind, label, step) with their
 * keys; a timeline's runs each with its own changes. */
static void test_subjects_and_history(void **state)
{
    struct store_run_subject sj[4] = {
        {"okta.user", "00u1", "jane@acme.com", NULL},
        {"okta.user", "jane@acme.com", "jane@acme.com", NULL},
        {"okta.group", "00g1", "Finance", "remove"},
        {"okta.group", "finance", "Finance", "remove"},
    };
    struct store_run r[2] = {{.id = 9, .workflow = "off", .version = 1, .status = "succeeded"},
                             {.id = 4, .workflow = "off", .version = 1, .status = "failed"}};
    struct store_change ch[2] = {{9, "suspend", -1, "suspended", 100}, {9, "remove", -1, "removed from Finance", 101}};
    json_t *h;

    (void)state;
    assert_json(render_run_subjects(sj, 4),
                "[{\"kind\":\"okta.user\",\"label\":\"jane@acme.com\",\"step_id\":null,"
                "\"keys\":[\"00u1\",\"jane@acme.com\"]},{\"kind\":\"okta.group\",\"label\":\"Finance\","
                "\"step_id\":\"remove\",\"keys\":[\"00g1\",\"finance\"]}]");
    assert_json(render_run_subjects(NULL, 0), "[]");
    h = render_history("jane@acme.com", 12, r, 2, ch, 2);
    assert_non_null(h);
    assert_string_equal(json_string_value(json_object_get(h, "subject")), "jane@acme.com");
    assert_int_equal(json_integer_value(json_object_get(h, "total")), 12);
    assert_int_equal(json_array_size(json_object_get(json_array_get(json_object_get(h, "runs"), 0), "changes")), 2);
    assert_int_equal(json_array_size(json_object_get(json_array_get(json_object_get(h, "runs"), 1), "changes")), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(json_array_get(json_object_get(h, "runs"), 0), "changes"), 1),
                            "change")),
                        "removed from Finance");
    json_decref(h);
}

static void test_steps_and_counts(void **state)
{
    struct store_step st[2] = {
        {0, "user", -1, "succeeded", 1, "{\"login\":\"ann\"}", "{\"id\":\"00u1\"}", NULL, 5, 6},
        {1, "each", 2, "failed", 3, "not json", "null", "{\"message\":\"E1\"}", 7, 0},
    };
    struct store_run_counts c = {1, 2, 3, 4, 5, 6, 7};

    (void)state;
    assert_json(render_steps(st, 2),
                "[{\"index\":0,\"step_id\":\"user\",\"item\":-1,\"status\":\"succeeded\",\"attempts\":1,"
                "\"input\":{\"login\":\"ann\"},\"output\":{\"id\":\"00u1\"},\"error\":null,\"started_at\":5,"
                "\"finished_at\":6,\"change\":null},{\"index\":1,\"step_id\":\"each\",\"item\":2,\"status\":\"failed\",\"attempts\":3,"
                "\"input\":\"not json\",\"output\":null,\"error\":{\"message\":\"E1\"},\"started_at\":7,"
                "\"finished_at\":0,\"change\":null}]");
    assert_json(render_run_counts(&c), "{\"queued\":1,\"running\":2,\"waiting\":3,\"succeeded\":4,\"failed\":5,"
                                       "\"cancelled\":6,\"held\":7}");
}

static void test_approvals_audit_connections(void **state)
{
    struct store_approval a[2] = {{4, "ok", "off", "Go?", 10},
                                  {5, "ok2", "off", NULL, 11, .hold = "okta-prod"}}; /* issue 19: a guardrail hold */
    struct store_audit au[2] = {{9, 20, "cli:a", "connection.create", "connection:x", "{\"kind\":\"okta\"}"},
                                {8, 19, "api", "run.rerun", NULL, NULL}};
    struct store_connection_info ci = {"x", "okta", "{\"url\":\"https://a\"}", 1, 2};

    (void)state;
    assert_json(render_approvals(a, 2),
                "[{\"run_id\":4,\"step_id\":\"ok\",\"workflow\":\"off\",\"message\":\"Go?\",\"created_at\":10,"
                "\"hold\":null},{\"run_id\":5,\"step_id\":\"ok2\",\"workflow\":\"off\",\"message\":null,"
                "\"created_at\":11,\"hold\":\"okta-prod\"}]");
    assert_json(render_audit(au, 2),
                "[{\"id\":9,\"at\":20,\"actor\":\"cli:a\",\"action\":\"connection.create\",\"target\":"
                "\"connection:x\",\"detail\":{\"kind\":\"okta\"}},{\"id\":8,\"at\":19,\"actor\":\"api\","
                "\"action\":\"run.rerun\",\"target\":null,\"detail\":null}]");
    assert_json(render_connections(&ci, 1), "[{\"name\":\"x\",\"kind\":\"okta\",\"config\":{\"url\":\"https://a\"},"
                                            "\"created_at\":1,\"updated_at\":2}]");
}

/* expired is decided at render time from the reader's now */
static void test_tokens_expired_from_now(void **state)
{
    struct store_token t[2] = {{.id = 1,
                                .name = "forever",
                                .role = "viewer",
                                .prefix = "idf_a",
                                .created_at = 1,
                                .expires_at = 0,
                                .last_used_at = 0,
                                .created_by = "cli:root"},
                               {.id = 2,
                                .name = "short",
                                .role = "admin",
                                .prefix = "idf_b",
                                .created_at = 2,
                                .expires_at = 100,
                                .last_used_at = 50,
                                .created_by = NULL}};

    (void)state;
    assert_json(render_tokens(t, 2, 99),
                "[{\"id\":1,\"name\":\"forever\",\"role\":\"viewer\",\"prefix\":\"idf_a\",\"created_at\":1,"
                "\"created_by\":\"cli:root\",\"expires_at\":0,\"last_used_at\":0,\"expired\":false},"
                "{\"id\":2,\"name\":\"short\",\"role\":\"admin\",\"prefix\":\"idf_b\",\"created_at\":2,"
                "\"created_by\":null,\"expires_at\":100,\"last_used_at\":50,\"expired\":false}]");
    assert_json(render_tokens(t + 1, 1, 100),
                "[{\"id\":2,\"name\":\"short\",\"role\":\"admin\",\"prefix\":\"idf_b\",\"created_at\":2,"
                "\"created_by\":null,\"expires_at\":100,\"last_used_at\":50,\"expired\":true}]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_text),
        cmocka_unit_test(test_workflows),
        cmocka_unit_test(test_workflow_def),
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_steps_and_counts),
        cmocka_unit_test(test_subjects_and_history), /* issue 17 */
        cmocka_unit_test(test_approvals_audit_connections),
        cmocka_unit_test(test_tokens_expired_from_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

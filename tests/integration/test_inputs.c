/* test_inputs.c — a manual workflow's declared `inputs:` end to end (issue
 * 17, helper "inputs"), against a real `idflow serve` on loopback: POST
 * /api/v1/events refuses missing, mistyped and unknown inputs with a 400
 * naming the input and stores nothing, fills defaults into the run's
 * .event.data, and leaves a workflow without a declaration as it was; the
 * workflows list and page carry each workflow's description, triggers,
 * connections, inputs and last run; `idflow run --input` and `idflow
 * validate` check the same declaration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/serve_fixture.h"

static struct sfx F = {.no_sandbox = true};

static const char WF_OFFBOARD[] = "name: offboard\n"
                                  "description: Offboard one person.\n"
                                  "on:\n"
                                  "  manual:\n"
                                  "    inputs:\n"
                                  "      login: { type: string, required: true, description: Okta login }\n"
                                  "      days: { type: integer, default: 30 }\n"
                                  "      reason: { type: choice, options: [leaver, incident], default: leaver }\n"
                                  "      notify: { type: boolean }\n"
                                  "steps:\n"
                                  "  - id: echo\n"
                                  "    do: set\n"
                                  "    with: { got: \"${{ .event.data }}\" }\n";

static const char WF_FREE[] = "name: free\n"
                              "on: manual\n"
                              "steps:\n"
                              "  - id: echo\n"
                              "    do: set\n"
                              "    with: { got: \"${{ .event.data }}\" }\n";

static const char WF_LOOKUP[] = "name: lookup\n"
                                "on:\n"
                                "  okta.user_locked:\n"
                                "    connection: okta-prod\n"
                                "steps:\n"
                                "  - id: user\n"
                                "    do: okta.get_user\n"
                                "    connection: okta-prod\n"
                                "    with: { user: \"${{ .event.user.id }}\" }\n"
                                "  - id: other\n"
                                "    do: okta.get_user\n"
                                "    connection: okta-test\n"
                                "    with: { user: \"${{ .event.user.id }}\" }\n";

static int setup(void **state)
{
    (void)state;
    if (sfx_start(&F, NULL) || sfx_write_wf(&F, "offboard", WF_OFFBOARD) || sfx_write_wf(&F, "free", WF_FREE) ||
        sfx_write_wf(&F, "lookup", WF_LOOKUP))
        return -1;
    return sfx_serve_start(&F, NULL, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return sfx_stop(&F);
}

static long call(const char *method, const char *path, const char *body, json_t **ans)
{
    char url[300];
    long status = 0;
    json_t *j = NULL;

    snprintf(url, sizeof url, "%s%s", F.base, path);
    j = sfx_assert_http_json(method, url, body, (const char *[]){"Content-Type: application/json", NULL}, &status);
    if (ans)
        *ans = j;
    else
        json_decref(j);
    return status;
}

static const char *error_of(json_t *ans)
{
    return json_string_value(json_object_get(ans, "error"));
}

static long long events_stored(void)
{
    return sfx_count_all_runs(&F, "offboard");
}

/* missing, mistyped and unknown inputs: 400 naming the input, and nothing stored */
static void start_refuses_bad_inputs(void **state)
{
    static const struct {
        const char *body;
        const char *error;
    } bad[] = {
        {"{\"workflow\":\"offboard\"}", "input 'login' is required"},
        {"{\"workflow\":\"offboard\",\"data\":{}}", "input 'login' is required"},
        {"{\"workflow\":\"offboard\",\"data\":{\"login\":\"\"}}", "input 'login' is required: it is empty"},
        {"{\"workflow\":\"offboard\",\"data\":{\"login\":\"jane@acme.com\",\"days\":\"30\"}}",
         "input 'days' must be an integer, not a string"},
        {"{\"workflow\":\"offboard\",\"data\":{\"login\":\"jane@acme.com\",\"notify\":\"yes\"}}",
         "input 'notify' must be a boolean, not a string"},
        {"{\"workflow\":\"offboard\",\"data\":{\"login\":\"jane@acme.com\",\"reason\":\"fun\"}}",
         "input 'reason' must be one of: leaver, incident"},
        {"{\"workflow\":\"offboard\",\"data\":{\"login\":\"jane@acme.com\",\"logn\":\"x\"}}",
         "unknown input 'logn': workflow offboard takes login, days, reason, notify"},
        {"{\"workflow\":\"offboard\",\"data\":[\"jane@acme.com\"]}",
         "the data of workflow offboard must be an object of its inputs (login, days, reason, notify), not a list"},
    };
    long long before = events_stored();
    (void)state;

    assert_true(before >= 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *ans = NULL;
        long st = call("POST", "/api/v1/events", bad[i].body, &ans);
        if (st != 400 || !error_of(ans) || strcmp(error_of(ans), bad[i].error) != 0)
            print_message("case %zu: %ld %s\n", i, st, error_of(ans) ? error_of(ans) : "(no error)");
        assert_int_equal(st, 400);
        assert_string_equal(error_of(ans), bad[i].error);
        json_decref(ans);
    }
    assert_int_equal(events_stored(), before);
}

/* tu_wait_until: run *ud finished */
static bool run_finished(void *ud)
{
    char path[100];
    json_t *ans = NULL;
    const char *st;
    bool done;

    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)*(int64_t *)ud);
    if (call("GET", path, NULL, &ans) != 200) {
        json_decref(ans);
        return false;
    }
    st = json_string_value(json_object_get(ans, "status"));
    done = st && (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0);
    json_decref(ans);
    return done;
}

/* The "got" output of run id's step echo, once it succeeded: the run's .event.data (new reference). */
static json_t *run_data(int64_t id)
{
    char path[100];
    json_t *ans = NULL, *got;

    assert_true(tu_wait_until(run_finished, &id, 15000));
    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)id);
    assert_int_equal(call("GET", path, NULL, &ans), 200);
    assert_string_equal(json_string_value(json_object_get(ans, "status")), "succeeded");
    got = json_object_get(json_object_get(json_array_get(json_object_get(ans, "steps"), 0), "output"), "got");
    assert_non_null(got);
    json_incref(got);
    json_decref(ans);
    return got;
}

static int64_t start(const char *body)
{
    json_t *ans = NULL;
    int64_t id;

    assert_int_equal(call("POST", "/api/v1/events", body, &ans), 202);
    id = json_integer_value(json_array_get(json_object_get(ans, "run_ids"), 0));
    json_decref(ans);
    assert_true(id > 0);
    return id;
}

/* a good start: the run receives the given values and the defaults of the others */
static void start_fills_defaults(void **state)
{
    json_t *got;
    char *s;
    (void)state;

    got = run_data(start("{\"workflow\":\"offboard\",\"data\":{\"login\":\"jane@acme.com\",\"notify\":true}}"));
    s = json_dumps(got, JSON_COMPACT);
    assert_string_equal(s, "{\"login\":\"jane@acme.com\",\"days\":30,\"reason\":\"leaver\",\"notify\":true}");
    free(s);
    json_decref(got);
    got =
        run_data(start("{\"workflow\":\"offboard\",\"data\":{\"login\":\"j\",\"days\":null,\"reason\":\"incident\"}}"));
    s = json_dumps(got, JSON_COMPACT);
    assert_string_equal(s, "{\"login\":\"j\",\"days\":30,\"reason\":\"incident\"}");
    free(s);
    json_decref(got);
    /* no declaration: any data, as before */
    got = run_data(start("{\"workflow\":\"free\",\"data\":{\"anything\":[1,2]}}"));
    s = json_dumps(got, JSON_COMPACT);
    assert_string_equal(s, "{\"anything\":[1,2]}");
    free(s);
    json_decref(got);
}

static json_t *find_wf(json_t *list, const char *name)
{
    size_t i;
    json_t *w;

    json_array_foreach (list, i, w) {
        if (strcmp(json_string_value(json_object_get(w, "name")), name) == 0)
            return w;
    }
    fail_msg("workflow %s is not listed", name);
    return NULL;
}

/* the list and the page: description, triggers, connections, inputs, last run */
static void workflows_explain_themselves(void **state)
{
    json_t *ans = NULL, *list, *w, *in;
    char *s;
    int64_t id;
    (void)state;

    id = start("{\"workflow\":\"free\",\"data\":{}}");
    assert_int_equal(call("GET", "/api/v1/workflows", NULL, &ans), 200);
    list = json_object_get(ans, "workflows");

    w = find_wf(list, "offboard");
    assert_string_equal(json_string_value(json_object_get(w, "description")), "Offboard one person.");
    s = json_dumps(json_object_get(w, "triggers"), JSON_COMPACT);
    assert_string_equal(s, "[{\"name\":\"manual\",\"params\":{}}]");
    free(s);
    assert_true(json_is_true(json_object_get(w, "startable")));
    in = json_object_get(w, "inputs");
    assert_int_equal(json_array_size(in), 4);
    s = json_dumps(json_array_get(in, 0), JSON_COMPACT);
    assert_string_equal(s, "{\"name\":\"login\",\"type\":\"string\",\"required\":true,\"description\":\"Okta login\"}");
    free(s);
    s = json_dumps(json_array_get(in, 2), JSON_COMPACT);
    assert_string_equal(s, "{\"name\":\"reason\",\"type\":\"choice\",\"required\":false,\"description\":null,"
                           "\"default\":\"leaver\",\"options\":[\"leaver\",\"incident\"]}");
    free(s);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(in, 1), "default")), 30);
    assert_string_equal(json_string_value(json_object_get(json_object_get(w, "last_run"), "status")), "succeeded");

    w = find_wf(list, "free");
    assert_true(json_is_null(json_object_get(w, "description")));
    assert_true(json_is_null(json_object_get(w, "inputs"))); /* no declaration: the console offers JSON */
    assert_true(json_is_true(json_object_get(w, "startable")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(w, "last_run"), "id")), id);
    assert_true(json_integer_value(json_object_get(json_object_get(w, "last_run"), "created_at")) > 0);

    w = find_wf(list, "lookup");
    s = json_dumps(json_object_get(w, "triggers"), JSON_COMPACT);
    assert_string_equal(s, "[{\"name\":\"okta.user_locked\",\"params\":{\"connection\":\"okta-prod\"}}]");
    free(s);
    s = json_dumps(json_object_get(w, "connections"), JSON_COMPACT);
    assert_string_equal(s, "[\"okta-prod\",\"okta-test\"]");
    free(s);
    assert_true(json_is_false(json_object_get(w, "startable")));
    assert_true(json_is_null(json_object_get(w, "inputs")));
    assert_true(json_is_null(json_object_get(w, "last_run"))); /* never ran */
    json_decref(ans);

    assert_int_equal(call("GET", "/api/v1/workflows/offboard", NULL, &ans), 200);
    assert_int_equal(json_array_size(json_object_get(ans, "inputs")), 4);
    assert_non_null(strstr(json_string_value(json_object_get(ans, "source")), "inputs:"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(ans, "last_run"), "status")), "succeeded");
    json_decref(ans);
    assert_int_equal(call("GET", "/api/v1/workflows/nope", NULL, &ans), 404);
    json_decref(ans);
}

/* `idflow run --input` types the values by the declaration and refuses what the API refuses */
static void cli_run_checks_inputs(void **state)
{
    char path[600], *out = NULL;
    (void)state;

    snprintf(path, sizeof path, "%s/offboard.yaml", F.wfdir);
    assert_int_equal(sfx_idflow(&F, NULL, &out, "run", path, "--dry-run", "--input", "days=7", NULL), 2);
    free(out);
    assert_int_equal(
        sfx_idflow(&F, NULL, &out, "run", path, "--dry-run", "--input", "login=j", "--input", "days=x", NULL), 2);
    free(out);
    assert_int_equal(
        sfx_idflow(&F, NULL, &out, "run", path, "--dry-run", "--input", "login=j", "--input", "who=x", NULL), 2);
    free(out);
    assert_int_equal(sfx_idflow(&F, NULL, &out, "run", path, "--dry-run", "--input", "login=jane@acme.com", "--input",
                                "days=7", "--input", "notify=false", NULL),
                     0);
    assert_non_null(strstr(out, "succeeded"));
    free(out);
    out = NULL;
    /* validate counts the declared inputs */
    assert_int_equal(sfx_idflow(&F, NULL, &out, "validate", path, NULL), 0);
    assert_non_null(strstr(out, "ok (workflow offboard, trigger manual, 4 inputs, 1 steps)"));
    free(out);
}

/* the command line's messages name the input, as the API's do; validate prints a declaration's errors */
static void cli_messages_name_the_input(void **state)
{
    char path[600], bad[600], *out = NULL, *err = NULL;
    (void)state;

    snprintf(path, sizeof path, "%s/offboard.yaml", F.wfdir);
    assert_int_equal(
        tu_run((const char *[]){F.bin, "run", path, "--dry-run", "--input", "days=7", NULL}, NULL, 30000, &out, &err),
        2);
    assert_non_null(strstr(err, "idflow run: input 'login' is required"));
    free(out);
    free(err);
    assert_int_equal(
        tu_run((const char *[]){F.bin, "run", path, "--dry-run", "--input", "login=j", "--input", "days=seven", NULL},
               NULL, 30000, &out, &err),
        2);
    assert_non_null(strstr(err, "idflow run: input 'days' must be an integer, not 'seven'"));
    free(out);
    free(err);
    snprintf(bad, sizeof bad, "%s/tests/data/workflows/inputs-bad.yaml", F.src ? F.src : ".");
    assert_int_equal(tu_run((const char *[]){F.bin, "validate", bad, NULL}, NULL, 30000, &out, &err), 1);
    assert_non_null(strstr(err, "inputs-bad.yaml:6:22: input 'login': unknown type 'strin'"));
    assert_non_null(strstr(err, "inputs-bad.yaml:8:69: input 'reason': the default 'other' is not one of its options"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(start_refuses_bad_inputs),     cmocka_unit_test(start_fills_defaults),
        cmocka_unit_test(workflows_explain_themselves), cmocka_unit_test(cli_run_checks_inputs),
        cmocka_unit_test(cli_messages_name_the_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

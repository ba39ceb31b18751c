/* test_example_in_engine.c — "a connector is its own folder plus one
 * registry line", shown through the engine (docs/internals/connectors.md).
 *
 * The worked example (tests/support/example_connector.c, written against
 * connector.h and the toolkit only) joins the built-in connectors in a table
 * this file builds: the same list as connectors/registry.c plus ONE line,
 * &example_connector. An engine started inside the test program on that
 * table (engine_fixture.h; no idflow process) runs workflows whose steps call
 * the example's action with a connection stored sealed in the store (as
 * `idflow connect` saves it), against a loopback server standing in for the
 * remote API (testsrv.h):
 *  - the workflow (the example's trigger, its action, `connection:`) is
 *    valid in the table, the run succeeds with the API's answer as the
 *    step's output, the request carried the stored token as a Bearer header,
 *    and the token is nowhere in the stored run, its steps or the database
 *    file;
 *  - a 401 that echoes the token fails the step at once (not retryable,
 *    whatever its retry policy) with the toolkit's mapped error, the token
 *    masked in the run's and the step's error;
 *  - the built-in table alone refuses that workflow: nothing else in the
 *    program knows the example. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "connectors/registry.h"
#include "credentials/credentials.h"
#include "crypto/seal.h"
#include "expr/expr.h"
#include "support/engine_fixture.h"
#include "support/example_connector.h"
#include "support/testsrv.h"
#include "support/testutil.h"

#define TOKEN "tok_3xAmpleT0kenStoredSealed"
#define HOOK_SECRET "hs_Wh5ecretForTheEngineTest"
#define WAIT_MS 10000 /* deadline of every wait: generous for a loaded machine */

extern const struct connector connector_core;
extern const struct connector connector_okta;
extern const struct connector connector_happyfox;
extern const struct connector connector_webhook;

/* The built-in table (connectors/registry.c) and the one line a new
 * connector adds to it. */
static const struct connector *const with_example[] = {
    &connector_core,    &connector_okta,    &connector_happyfox,
    &connector_webhook, &example_connector, /* the new connector's registry line */
};
static const struct registry table = {with_example, sizeof with_example / sizeof with_example[0]};

static const char *FLOW = "on: example.item_changed\n"
                          "steps:\n"
                          "  - id: get\n"
                          "    do: example.get_item\n"
                          "    connection: ex\n"
                          "    with: {id: '${{ .event.item.id }}'}\n"
                          "    retry: {max: 3, backoff: 10ms}\n"
                          "  - id: after\n"
                          "    do: set\n"
                          "    with: {name: '${{ .steps.get.name }}'}\n";

struct fx {
    struct ef ef;
    struct testsrv *api; /* the example's remote API */
    struct seal_key *key;
    struct engine *e;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct idf_err err = {0};
    json_t *config;
    struct engine_opts o = {0};

    assert_non_null(f);
    *state = f;
    assert_int_equal(ef_init(&f->ef), 0);
    f->api = testsrv_start();
    assert_int_equal(seal_key_random(&f->key, &err), 0);
    /* the connection as `idflow connect` stores it: validated, secrets sealed */
    config = json_pack("{s:s, s:s, s:s, s:b}", "url", testsrv_url(f->api), "token", TOKEN, "hook_secret", HOOK_SECRET,
                       "sandbox", 1); /* sandbox: plain http to loopback */
    assert_non_null(config);
    if (cred_save(f->ef.st, f->key, &example_connector, "ex", config, "test", NULL, &err))
        fail_msg("cred_save: %s", err.msg);
    json_decref(config);
    assert_int_equal(ef_workflow(&f->ef, "w", FLOW), 0);
    o.connectors = &table;
    o.key = f->key;
    f->e = ef_engine(&f->ef, &o);
    assert_non_null(f->e);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    ef_cleanup(&f->ef); /* the engine first: it calls the server */
    testsrv_stop(f->api);
    seal_key_free(f->key);
    free(f);
    return 0;
}

/* Submits the example's event for item id (as its hook would normalize it). */
static int64_t submit(struct fx *f, const char *id)
{
    struct engine_event ev = {0};
    struct engine_ack ack = {0};
    struct idf_err err = {0};
    json_t *fields = json_pack("{s:{s:s}}", "item", "id", id);

    ev.source = "example";
    ev.source_id = id;
    ev.type = "example.item_changed";
    ev.connection = "ex";
    ev.fields = fields;
    if (engine_submit(f->e, &ev, &ack, &err))
        fail_msg("engine_submit: %s", err.msg);
    json_decref(fields);
    assert_int_equal(ack.n_runs, 1);
    return ack.run_ids[0];
}

/* The token is in no stored text of the run: its fields and step records. */
static void token_not_in_run(struct fx *f, int64_t run)
{
    struct store_run *r = ef_run(&f->ef, run);
    json_t *steps = ef_steps(&f->ef, run);
    char *s = json_dumps(steps, JSON_COMPACT);

    assert_non_null(r);
    assert_non_null(s);
    assert_null(strstr(s, "tok_3xAmple"));
    assert_true(!r->context || !strstr(r->context, "tok_3xAmple"));
    assert_true(!r->event || !strstr(r->event, "tok_3xAmple"));
    assert_true(!r->error || !strstr(r->error, "tok_3xAmple"));
    free(s);
    json_decref(steps);
    store_run_free(r);
}

/* Nor in the database's files (the connection's secrets are sealed). */
static void token_not_in_file(struct fx *f, const char *suffix)
{
    char path[700];
    size_t n = 0;
    char *data;

    snprintf(path, sizeof path, "%s/idflow.db%s", f->ef.dir, suffix);
    data = tu_read_file(path, &n);
    if (!data)
        return; /* no WAL file at this moment */
    assert_null(memmem(data, n, TOKEN, strlen(TOKEN)));
    free(data);
}

static void the_example_action_runs_with_its_stored_connection(void **state)
{
    struct fx *f = *state;
    json_t *steps, *req;
    int64_t run;

    testsrv_on(f->api, "/api/items/item-42", &(struct testsrv_answer){200, "{\"id\": \"item-42\", \"name\": \"desk\"}"},
               1);
    run = submit(f, "item-42");
    assert_true(ef_wait_status(&f->ef, run, "succeeded", WAIT_MS));
    steps = ef_steps(&f->ef, run);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ef_step(steps, "get", -1), "output"), "name")), "desk");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ef_step(steps, "after", -1), "output"), "name")), "desk");
    json_decref(steps);
    /* the stored token went out as the example's auth header, once */
    assert_int_equal(testsrv_calls(f->api, "/api/items/item-42"), 1);
    req = testsrv_request(f->api, "/api/items/item-42", -1);
    assert_string_equal(testsrv_req_header(req, "authorization"), "Bearer " TOKEN);
    json_decref(req);
    token_not_in_run(f, run);
    token_not_in_file(f, "");
    token_not_in_file(f, "-wal");
}

static void a_401_fails_the_step_with_the_mapped_error_and_no_secret(void **state)
{
    struct fx *f = *state;
    struct store_run *r;
    json_t *steps, *rec, *err;
    int64_t run;

    /* the API echoes the token it refused */
    testsrv_on(f->api, "/api/items/item-7",
               &(struct testsrv_answer){401, "{\"error\": {\"message\": \"invalid token " TOKEN "\"}}"}, -1);
    run = submit(f, "item-7");
    assert_true(ef_wait_status(&f->ef, run, "failed", WAIT_MS));
    r = ef_run(&f->ef, run);
    assert_non_null(r);
    assert_non_null(r->error);
    assert_non_null(strstr(r->error, "step 'get' failed: example.get_item: GET /api/items/item-7: HTTP 401: "
                                     "invalid token ****"));
    store_run_free(r);
    steps = ef_steps(&f->ef, run);
    rec = ef_step(steps, "get", -1);
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "status")), "failed");
    assert_int_equal(json_integer_value(json_object_get(rec, "attempts")), 1); /* permanent: retry not used */
    err = json_object_get(rec, "error");
    assert_true(json_is_false(json_object_get(err, "retryable")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(err, "detail"), "http_status")), 401);
    assert_null(ef_step(steps, "after", -1));
    json_decref(steps);
    assert_int_equal(testsrv_calls(f->api, "/api/items/item-7"), 1);
    token_not_in_run(f, run);
    token_not_in_file(f, "");
    token_not_in_file(f, "-wal");
}

static void the_built_in_table_alone_does_not_know_the_example(void **state)
{
    struct fx *f = *state;
    struct engine_opts o = {0};
    struct engine *e = NULL;
    struct idf_err err = {0};

    assert_null(registry_find(registry_default(), "example"));
    assert_null(registry_find_action(registry_default(), "example.get_item"));
    assert_ptr_equal(registry_find(&table, "example"), &example_connector);
    assert_ptr_equal(registry_action_owner(&table, registry_find_action(&table, "example.get_item")),
                     &example_connector);
    o.db_url = f->ef.db_url;
    o.workflows_dir = f->ef.wfdir;
    o.connectors = registry_default();
    o.key = f->key;
    assert_int_equal(engine_new(&o, &e, &err), IDF_EINVAL);
    assert_null(e);
    assert_non_null(strstr(err.msg, "are invalid; nothing was loaded")); /* the reasons are on stderr */
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_example_action_runs_with_its_stored_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(a_401_fails_the_step_with_the_mapped_error_and_no_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(the_built_in_table_alone_does_not_know_the_example, setup, teardown),
    };
    if (argc >= 2 && !strcmp(argv[1], "__expr-worker")) /* the engine's evaluators exec this program */
        return expr_worker_main(argc - 1, argv + 1);
    return cmocka_run_group_tests_name("example_in_engine", tests, NULL, NULL);
}

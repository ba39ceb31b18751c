/* test_example_connector.c — the worked example of docs/internals/
 * connectors.md (tests/support/example_connector.c, a connector built on
 * connectors/toolkit.h only) against a loopback server: an action succeeds
 * with the Bearer header; a 401 maps to IDF_EAUTH without the secret in
 * the message, even when the API echoes it at the length cap; 429 and 5xx
 * are retryable (429 with its Retry-After); an answer carrying the token is
 * dropped; a network failure is retryable. The hook refuses a missing,
 * wrong, shorter (prefix) and longer secret and accepts the right one.
 * Also the toolkit's ctk_secret_equal on its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/toolkit.h"
#include "net/http.h"
#include "support/example_connector.h"
#include "support/testsrv.h"

#define TOKEN "tok_3xAmpleT0kenNeverShown"
#define HOOK_SECRET "hs_Wh5ecretForTheHook"

struct fx {
    struct testsrv *api;  /* the remote API */
    struct testsrv *hook; /* serves /hooks/example/<connection> with the example's hook */
    struct http_client *http;
    json_t *conn;
};

static const struct conn_action *action(const char *name)
{
    for (const struct conn_action *a = example_connector.actions; a->name; a++) {
        if (strcmp(a->name, name) == 0)
            return a;
    }
    fail_msg("no action %s", name);
    return NULL;
}

/* The hook server's handler: the example's hook with the fixture's connection. */
static bool serve_hook(void *ud, const struct http_req *req, struct http_resp *resp)
{
    const json_t *conn = ud;
    struct conn_hook_out out = {0};
    int rc = example_connector.ingress->hook(conn, req, &out);

    if (rc) {
        http_resp_json(resp, 500, json_pack("{s:s}", "error", "hook failed"));
    } else {
        json_t *b = out.body ? json_incref(out.body) : json_object();
        if (out.events)
            json_object_set(b, "events", out.events);
        http_resp_json(resp, out.status, b);
    }
    json_decref(out.body);
    json_decref(out.events);
    json_decref(out.deliveries);
    return true;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    assert_non_null(f);
    f->api = testsrv_start();
    assert_int_equal(http_client_new(&f->http), 0);
    f->conn = json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", "ex", "url", testsrv_url(f->api), "token", TOKEN,
                        "hook_secret", HOOK_SECRET, "sandbox", 1); /* sandbox: plain http to loopback */
    f->hook = testsrv_start();
    testsrv_set_handler(f->hook, serve_hook, f->conn);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    testsrv_stop(f->hook);
    testsrv_stop(f->api);
    http_client_free(f->http);
    json_decref(f->conn);
    free(f);
    return 0;
}

/* Runs an action of the example with params (a JSON text); res is the caller's to release. */
static int act(struct fx *f, const char *name, const char *params, struct conn_result *res)
{
    struct conn_call call = {.http = f->http, .connection = f->conn, .connection_name = "ex", .attempt = 1, .item = -1};
    json_t *p = json_loads(params, 0, NULL);
    int rc;

    memset(res, 0, sizeof *res);
    assert_non_null(p);
    rc = action(name)->fn(&call, p, res);
    json_decref(p);
    return rc;
}

static void no_secret_in(const struct conn_result *res)
{
    char *d = res->detail ? json_dumps(res->detail, JSON_COMPACT) : NULL;

    assert_null(strstr(res->message, "tok_3xAmple")); /* not even a cut part of it */
    assert_true(!d || !strstr(d, "tok_3xAmple"));
    free(d);
}

static void action_succeeds(void **state)
{
    struct fx *f = *state;
    struct conn_result res;
    json_t *req;

    testsrv_on(f->api, "/api/items/item-42", &(struct testsrv_answer){200, "{\"id\": \"item-42\", \"name\": \"desk\"}"},
               1);
    assert_int_equal(act(f, "example.get_item", "{\"id\": \"item-42\"}", &res), 0);
    assert_string_equal(json_string_value(json_object_get(res.output, "name")), "desk");
    req = testsrv_request(f->api, "/api/items/item-42", -1);
    assert_string_equal(testsrv_req_header(req, "authorization"), "Bearer " TOKEN);
    assert_string_equal(json_string_value(json_object_get(req, "method")), "GET");
    json_decref(req);
    ctk_result_release(&res);

    testsrv_on(f->api, "/api/items", &(struct testsrv_answer){201, "{\"id\": \"item-43\"}"}, 1);
    assert_int_equal(act(f, "example.create_item", "{\"name\": \"chair\"}", &res), 0);
    req = testsrv_request(f->api, "/api/items", -1);
    assert_string_equal(json_string_value(json_object_get(req, "method")), "POST");
    assert_string_equal(testsrv_req_header(req, "content-type"), "application/json");
    assert_string_equal(json_string_value(json_object_get(req, "body")), "{\"name\":\"chair\"}");
    json_decref(req);
    ctk_result_release(&res);
}

static void unauthorized_maps_without_the_secret(void **state)
{
    struct fx *f = *state;
    struct conn_result res;
    char body[1400], pad[1100];

    /* the API echoes the token in its error */
    testsrv_on(f->api, "/api/items/a",
               &(struct testsrv_answer){401, "{\"error\": {\"message\": \"invalid token " TOKEN "\"}}"}, 1);
    assert_int_equal(act(f, "example.get_item", "{\"id\": \"a\"}", &res), IDF_EAUTH);
    assert_false(res.retryable);
    assert_non_null(strstr(res.message, "example.get_item: GET /api/items/a: HTTP 401: invalid token ****"));
    assert_int_equal(json_integer_value(json_object_get(res.detail, "http_status")), 401);
    no_secret_in(&res);
    ctk_result_release(&res);

    /* ... placed so that the message's length cap cuts it in the middle: the
     * text is masked before it is cut, so no part of it is left */
    for (int at = 940; at < 1000; at += 7) {
        memset(pad, 'x', (size_t)at);
        pad[at] = '\0';
        snprintf(body, sizeof body, "{\"message\": \"%s%s\"}", pad, TOKEN);
        testsrv_on(f->api, "/api/items/b", &(struct testsrv_answer){401, body}, 1);
        assert_int_equal(act(f, "example.get_item", "{\"id\": \"b\"}", &res), IDF_EAUTH);
        no_secret_in(&res);
        ctk_result_release(&res);
    }
}

static void rate_limits_and_outages_are_retryable(void **state)
{
    struct fx *f = *state;
    struct conn_result res;

    testsrv_on(f->api, "/api/items/c",
               &(struct testsrv_answer){429, "{\"message\": \"slow down\"}", .headers = {"Retry-After: 7"}}, 1);
    assert_int_equal(act(f, "example.get_item", "{\"id\": \"c\"}", &res), IDF_EBUSY);
    assert_true(res.retryable);
    assert_int_equal(res.retry_after_ms, 7000);
    ctk_result_release(&res);

    /* forever: testsrv hands the server a rule's content type, which a used-up rule would free */
    testsrv_on(f->api, "/api/items/html", &(struct testsrv_answer){503, "<html>down</html>", "text/html"}, -1);
    assert_int_equal(act(f, "example.get_item", "{\"id\": \"html\"}", &res), IDF_EREMOTE);
    assert_true(res.retryable);
    assert_non_null(strstr(res.message, "HTTP 503: (no error text)"));
    ctk_result_release(&res);

    testsrv_on(f->api, "/api/items/c", &(struct testsrv_answer){404, "{\"message\": \"no such item\"}"}, 1);
    assert_int_equal(act(f, "example.get_item", "{\"id\": \"c\"}", &res), IDF_ENOTFOUND);
    assert_false(res.retryable);
    ctk_result_release(&res);

    /* nothing listening: a network failure, retryable */
    json_object_set_new(f->conn, "url", json_string("http://127.0.0.1:1"));
    assert_int_equal(act(f, "example.get_item", "{\"id\": \"c\"}", &res), IDF_EIO);
    assert_true(res.retryable);
    assert_true(json_is_true(json_object_get(res.detail, "network_error")));
    ctk_result_release(&res);
    json_object_set_new(f->conn, "url", json_string(testsrv_url(f->api)));
}

static void answer_with_the_token_is_dropped(void **state)
{
    struct fx *f = *state;
    struct conn_result res;

    testsrv_on(f->api, "/api/items/d", &(struct testsrv_answer){200, "{\"echo\": \"Bearer " TOKEN "\"}"}, 1);
    assert_int_equal(act(f, "example.get_item", "{\"id\": \"d\"}", &res), IDF_EDENIED);
    assert_null(res.output);
    assert_non_null(strstr(res.message, "the answer contained the connection's credential"));
    ctk_result_release(&res);

    /* no connection, no url: clear errors, nothing sent */
    json_t *saved = f->conn;
    f->conn = NULL;
    assert_int_equal(act(f, "example.get_item", "{\"id\": \"d\"}", &res), IDF_EINVAL);
    assert_non_null(strstr(res.message, "no Example connection (define one with `idflow connect example NAME`"));
    f->conn = saved;
}

/* POSTs body to the hook with secret in X-Example-Secret (NULL: none); the status. */
static long post_hook(struct fx *f, const char *secret, const char *body, json_t **answer)
{
    char url[300], hdr[200];
    const char *headers[] = {"Content-Type: application/json", secret ? hdr : NULL, NULL};
    struct http_request rq = {.method = "POST", .url = url, .headers = headers, .body = body, .body_len = strlen(body)};
    struct http_response rs;
    struct idf_err err;
    long status;

    snprintf(url, sizeof url, "%s/hooks/example/ex", testsrv_url(f->hook));
    snprintf(hdr, sizeof hdr, "X-Example-Secret: %s", secret ? secret : "");
    assert_int_equal(http_client_do(f->http, &rq, &rs, &err), 0);
    status = rs.status;
    if (answer)
        *answer = json_loadb(rs.body.data, rs.body.len, 0, NULL);
    assert_null(memmem(rs.body.data, rs.body.len, "hs_Wh5", 6)); /* no answer quotes the secret */
    http_response_free(&rs);
    return status;
}

static void hook_checks_the_secret(void **state)
{
    struct fx *f = *state;
    const char *ev = "{\"id\": \"e1\", \"item\": {\"id\": \"item-42\"}}";
    json_t *a = NULL;

    assert_int_equal(post_hook(f, NULL, ev, NULL), 401);
    assert_int_equal(post_hook(f, "wrong", ev, NULL), 401);
    assert_int_equal(post_hook(f, "hs_Wh5ecretForTheHoo", ev, NULL), 401); /* a prefix of it */
    assert_int_equal(post_hook(f, HOOK_SECRET "x", ev, NULL), 401);        /* it and more */
    assert_int_equal(post_hook(f, HOOK_SECRET, "{not json", NULL), 400);   /* authenticated, then parsed */
    assert_int_equal(post_hook(f, HOOK_SECRET, ev, &a), 200);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(a, "events"), 0), "type")),
                        "example.item_changed");
    json_decref(a);
}

static void secret_equal_is_exact(void **state)
{
    (void)state;
    assert_true(ctk_secret_equal("s3cret-value", "s3cret-value"));
    assert_false(ctk_secret_equal("s3cret-value", "s3cret-valu")); /* a prefix */
    assert_false(ctk_secret_equal("s3cret-value", "s3cret-value-and-more"));
    assert_false(ctk_secret_equal("s3cret-value", ""));
    assert_false(ctk_secret_equal("s3cret-value", NULL));
    assert_false(ctk_secret_equal("", "")); /* no secret configured: nothing matches */
    assert_false(ctk_secret_equal(NULL, NULL));
    assert_false(ctk_secret_equal("s3cret-value", "S3cret-value"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(action_succeeds, setup, teardown),
        cmocka_unit_test_setup_teardown(unauthorized_maps_without_the_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(rate_limits_and_outages_are_retryable, setup, teardown),
        cmocka_unit_test_setup_teardown(answer_with_the_token_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(hook_checks_the_secret, setup, teardown),
        cmocka_unit_test(secret_equal_is_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_testsrv.c — the recording test server itself (tests/support/testsrv).
 *
 * A rule with a content type that is used up by a request is freed while
 * that request is being answered: the answer must still carry the rule's
 * status, body and content type (in the ASan build, without reading freed
 * memory), and the next request gets the default. Also: a rule answering
 * twice, a Content-Type among the headers winning over the content type,
 * the default's content type after it was replaced, and the recording. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "net/http.h"
#include "support/testsrv.h"

struct fx {
    struct testsrv *srv;
    struct http_client *http;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    assert_non_null(f);
    f->srv = testsrv_start();
    assert_int_equal(http_client_new(&f->http), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    testsrv_stop(f->srv);
    http_client_free(f->http);
    free(f);
    return 0;
}

/* GET path on the server: asserts the status, body and Content-Type. */
static void expect(struct fx *f, const char *path, long status, const char *body, const char *content_type)
{
    char url[200];
    struct http_request req = {.method = "GET", .url = url, .timeout_ms = 5000};
    struct http_response resp = {0};
    struct idf_err err = {0};

    snprintf(url, sizeof url, "%s%s", testsrv_url(f->srv), path);
    assert_int_equal(http_client_do(f->http, &req, &resp, &err), 0);
    assert_int_equal(resp.status, status);
    assert_int_equal(resp.body.len, strlen(body));
    assert_memory_equal(resp.body.data, body, resp.body.len);
    assert_string_equal(json_string_value(json_object_get(resp.headers, "content-type")), content_type);
    http_response_free(&resp);
}

/* The case that read freed memory: the rule answers once, is removed
 * while answering, and its content type is still what goes out. */
static void expiring_rule_with_content_type(void **state)
{
    struct fx *f = *state;

    testsrv_on(f->srv, "/once", &(struct testsrv_answer){201, "hello once", "text/plain; charset=utf-8"}, 1);
    expect(f, "/once", 201, "hello once", "text/plain; charset=utf-8");
    expect(f, "/once", 200, "{}", "application/json"); /* used up: the default */
    assert_int_equal(testsrv_calls(f->srv, "/once"), 2);
}

static void rule_answering_twice(void **state)
{
    struct fx *f = *state;

    testsrv_on(f->srv, "/twice*", &(struct testsrv_answer){202, "<p>x</p>", "text/html"}, 2);
    expect(f, "/twice/a", 202, "<p>x</p>", "text/html");
    expect(f, "/twice/b", 202, "<p>x</p>", "text/html");
    expect(f, "/twice/c", 200, "{}", "application/json");
}

static void content_type_header_wins(void **state)
{
    struct fx *f = *state;

    testsrv_on(f->srv, "/h",
               &(struct testsrv_answer){200, "a,b", "text/plain", {"Content-Type: text/csv", "X-Extra: 1"}}, 1);
    expect(f, "/h", 200, "a,b", "text/csv");
    expect(f, "/h", 200, "{}", "application/json");
}

static void default_content_type_replaced(void **state)
{
    struct fx *f = *state;

    testsrv_set_default(f->srv, &(struct testsrv_answer){404, "nope", "text/plain"});
    expect(f, "/x", 404, "nope", "text/plain");
    testsrv_set_default(f->srv, &(struct testsrv_answer){200, "[]"});
    expect(f, "/x", 200, "[]", "application/json");
}

static void requests_are_recorded(void **state)
{
    struct fx *f = *state;
    json_t *r;

    testsrv_on(f->srv, "/rec", &(struct testsrv_answer){200, "ok", "text/plain"}, 1);
    expect(f, "/rec", 200, "ok", "text/plain");
    r = testsrv_request(f->srv, "/rec", -1);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(r, "path")), "/rec");
    json_decref(r);
    assert_null(testsrv_request(f->srv, "/rec", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(expiring_rule_with_content_type, setup, teardown),
        cmocka_unit_test_setup_teardown(rule_answering_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(content_type_header_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(default_content_type_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(requests_are_recorded, setup, teardown),
    };
    return cmocka_run_group_tests_name("testsrv", tests, NULL, NULL);
}

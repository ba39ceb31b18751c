/* test_core_http_request.c — the http.request action against private
 * destinations (issue 11): without `allow_private_network` the client
 * connects to public addresses only, judged on the address it connects to
 * (so "localhost", IPv4-mapped IPv6 and the numeric IPv4 spellings are
 * caught), a kept-alive connection and a proxy from the environment cannot
 * get around it, and redirects are never followed.
 *
 * Every test runs the action's function the way the engine does, with a real
 * http_client, against recording loopback servers (testsrv) whose request
 * counts prove what reached them. The address classifier is checked on a
 * table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "net/http.h"
#include "support/testsrv.h"

struct fx {
    struct testsrv *srv;      /* the loopback destination */
    struct http_client *http; /* the worker's client */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    f->srv = testsrv_start();
    if (http_client_new(&f->http)) {
        testsrv_stop(f->srv);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    http_client_free(f->http);
    testsrv_stop(f->srv);
    free(f);
    return 0;
}

/* Runs http.request {method: GET, url} as the engine would; res is the
 * caller's (free output/detail with clear_result). */
static int call_action(struct fx *f, const char *url, bool allow_http, bool allow_private, struct conn_result *res)
{
    const struct conn_action *a = registry_find_action(registry_default(), "http.request");
    struct conn_call call = {.http = f->http,
                             .step_id = "call",
                             .attempt = 1,
                             .item = -1,
                             .allow_http = allow_http,
                             .allow_private_network = allow_private};
    json_t *params = json_pack("{s:s, s:s}", "url", url, "timeout", "5s");
    int rc;

    assert_non_null(a);
    assert_non_null(params);
    memset(res, 0, sizeof *res);
    rc = a->fn(&call, params, res);
    json_decref(params);
    return rc;
}

static void clear_result(struct conn_result *res)
{
    json_decref(res->output);
    json_decref(res->detail);
    memset(res, 0, sizeof *res);
}

/* The loopback spellings of the server's host: all reach it when allowed. */
static const char *const loopback_hosts[] = {
    "127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "127.1", "0x7f.1", "0177.0.0.1",
};
#define N_HOSTS (sizeof loopback_hosts / sizeof loopback_hosts[0])

static void refused_without_opt_in_and_nothing_arrives(void **state)
{
    struct fx *f = *state;
    struct conn_result res;
    char url[128];

    for (size_t i = 0; i < N_HOSTS; i++) {
        snprintf(url, sizeof url, "http://%s:%d/x", loopback_hosts[i], testsrv_port(f->srv));
        assert_int_equal(call_action(f, url, false, false, &res), IDF_EDENIED);
        if (!strstr(res.message,
                    "is a loopback address; set allow_private_network: true in the workflow to allow private "
                    "destinations") ||
            strncmp(res.message, "http.request: ", 14) != 0)
            fail_msg("%s: unexpected message: %s", url, res.message);
        assert_false(res.retryable); /* the engine must not retry a refusal */
        assert_false(res.deferred);
        assert_null(res.output);
        clear_result(&res);
    }
    /* the address named is the one connected to, whatever the spelling */
    snprintf(url, sizeof url, "http://2130706433:%d/x", testsrv_port(f->srv));
    assert_int_equal(call_action(f, url, false, false, &res), IDF_EDENIED);
    assert_non_null(strstr(res.message, "127.0.0.1 is a loopback address"));
    clear_result(&res);
    snprintf(url, sizeof url, "http://[::ffff:127.0.0.1]:%d/x", testsrv_port(f->srv));
    assert_int_equal(call_action(f, url, false, false, &res), IDF_EDENIED);
    assert_non_null(strstr(res.message, "::ffff:127.0.0.1 is a loopback address"));
    clear_result(&res);
    /* https too: cloud metadata, unique-local IPv6 (nothing listens there:
     * a connection attempt would time out, a refusal is immediate) */
    assert_int_equal(call_action(f, "https://169.254.169.254/latest/meta-data/", false, false, &res), IDF_EDENIED);
    assert_non_null(strstr(res.message, "169.254.169.254 is a link-local address"));
    clear_result(&res);
    assert_int_equal(call_action(f, "https://[fd00::1]/", false, false, &res), IDF_EDENIED);
    assert_non_null(strstr(res.message, "fd00::1 is a unique-local address"));
    clear_result(&res);
    /* 0.0.0.0 connects to this host on Linux */
    snprintf(url, sizeof url, "http://0.0.0.0:%d/x", testsrv_port(f->srv));
    assert_int_equal(call_action(f, url, true, false, &res), IDF_EDENIED);
    assert_non_null(strstr(res.message, "0.0.0.0 is an unspecified address"));
    clear_result(&res);

    assert_int_equal(testsrv_calls(f->srv, NULL), 0);
}

static void allowed_with_opt_in(void **state)
{
    struct fx *f = *state;
    struct conn_result res;
    char url[128];

    for (size_t i = 0; i < N_HOSTS; i++) {
        snprintf(url, sizeof url, "http://%s:%d/x", loopback_hosts[i], testsrv_port(f->srv));
        if (call_action(f, url, false, true, &res) != 0)
            fail_msg("%s: %s", url, res.message);
        assert_int_equal(json_integer_value(json_object_get(res.output, "status")), 200);
        clear_result(&res);
        assert_int_equal(testsrv_calls(f->srv, "/x"), (int)i + 1);
    }
}

/* The refusal comes before connect(): a bare listening socket never sees a
 * connection in its backlog (judging after connecting would already have
 * opened one: a port scan of the internal network by timing). */
static void refused_before_any_connection(void **state)
{
    struct fx *f = *state;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    struct conn_result res;
    char url[128];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);

    snprintf(url, sizeof url, "http://localhost:%d/x", ntohs(sa.sin_port));
    assert_int_equal(call_action(f, url, false, false, &res), IDF_EDENIED);
    clear_result(&res);
    errno = 0;
    assert_int_equal(accept(fd, NULL, NULL), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);

    /* the same socket does see a connection when it is allowed (short timeout:
     * nobody answers) */
    assert_int_equal(fcntl(fd, F_SETFL, 0), 0);
    {
        const struct conn_action *a = registry_find_action(registry_default(), "http.request");
        struct conn_call call = {.http = f->http,
                                 .step_id = "call",
                                 .attempt = 1,
                                 .item = -1,
                                 .allow_private_network = true,
                                 .timeout_ms = 300};
        json_t *params = json_pack("{s:s}", "url", url);
        int c;

        memset(&res, 0, sizeof res);
        assert_int_equal(a->fn(&call, params, &res), IDF_ETIMEOUT);
        json_decref(params);
        clear_result(&res);
        c = accept(fd, NULL, NULL);
        assert_true(c >= 0);
        close(c);
    }
    close(fd);
}

/* A connection an unguarded request (a connector's, on the same worker
 * client) left open is judged too before a guarded request uses it. */
static void kept_alive_connection_is_judged_too(void **state)
{
    struct fx *f = *state;
    struct http_request rq = {.method = "GET"};
    struct http_response rs;
    struct idf_err err;
    struct conn_result res;
    char url[128];

    snprintf(url, sizeof url, "%s/x", testsrv_url(f->srv));
    rq.url = url;
    assert_int_equal(http_client_do(f->http, &rq, &rs, &err), 0);
    assert_int_equal(rs.status, 200);
    http_response_free(&rs);
    assert_int_equal(testsrv_calls(f->srv, NULL), 1);

    assert_int_equal(call_action(f, url, false, false, &res), IDF_EDENIED);
    assert_non_null(strstr(res.message, "127.0.0.1 is a loopback address"));
    clear_result(&res);
    assert_int_equal(testsrv_calls(f->srv, NULL), 1);

    /* and the unguarded client still works afterwards */
    assert_int_equal(http_client_do(f->http, &rq, &rs, &err), 0);
    http_response_free(&rs);
    assert_int_equal(testsrv_calls(f->srv, NULL), 2);
}

/* http_proxy & co are not used by guarded requests: through a proxy the
 * address judged would be the proxy's, and the proxy would reach the private
 * destination for us. */
/* The proxy variables curl reads; saved by proxy_setup, put back by
 * proxy_teardown (also when the test fails). */
static const char *const proxy_vars[] = {"http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                                         "all_proxy",  "no_proxy",    "NO_PROXY"};
#define N_PROXY_VARS (sizeof proxy_vars / sizeof proxy_vars[0])
static char *proxy_saved[N_PROXY_VARS];

static int proxy_setup(void **state)
{
    for (size_t i = 0; i < N_PROXY_VARS; i++) {
        const char *v = getenv(proxy_vars[i]);
        proxy_saved[i] = v ? strdup(v) : NULL;
        unsetenv(proxy_vars[i]);
    }
    return setup(state);
}

static int proxy_teardown(void **state)
{
    for (size_t i = 0; i < N_PROXY_VARS; i++) {
        if (proxy_saved[i])
            setenv(proxy_vars[i], proxy_saved[i], 1);
        else
            unsetenv(proxy_vars[i]);
        free(proxy_saved[i]);
        proxy_saved[i] = NULL;
    }
    return teardown(state);
}

static void proxy_from_the_environment_is_not_used(void **state)
{
    struct fx *f = *state;
    struct conn_result res;

    setenv("http_proxy", testsrv_url(f->srv), 1);
    setenv("ALL_PROXY", testsrv_url(f->srv), 1);

    /* Through the proxy the peer would be 127.0.0.1 (refused as loopback, and
     * a public proxy would be let through); without it, the destination
     * itself is judged. */
    assert_int_equal(call_action(f, "http://10.0.0.1:9/internal", true, false, &res), IDF_EDENIED);
    if (!strstr(res.message, "10.0.0.1 is a private address"))
        fail_msg("unexpected message: %s", res.message);
    clear_result(&res);
    assert_int_equal(call_action(f, "http://169.254.169.254/latest/meta-data/", true, false, &res), IDF_EDENIED);
    assert_non_null(strstr(res.message, "169.254.169.254 is a link-local address"));
    clear_result(&res);
    assert_int_equal(testsrv_calls(f->srv, NULL), 0);
}

/* A 302 to a private address is handed back as the step's output; the
 * target is never called. */
static void redirect_is_not_followed(void **state)
{
    struct fx *f = *state;
    struct testsrv *target = testsrv_start();
    struct testsrv_answer redirect = {.status = 302, .body = "", .content_type = "text/plain"};
    struct conn_result res;
    char location[160], url[128];

    snprintf(location, sizeof location, "Location: %s/admin", testsrv_url(target));
    redirect.headers[0] = location;
    testsrv_on(f->srv, "/go", &redirect, -1);
    snprintf(url, sizeof url, "%s/go", testsrv_url(f->srv));

    assert_int_equal(call_action(f, url, false, true, &res), 0);
    assert_int_equal(json_integer_value(json_object_get(res.output, "status")), 302);
    assert_string_equal(json_string_value(json_object_get(json_object_get(res.output, "headers"), "location")),
                        location + strlen("Location: "));
    clear_result(&res);
    assert_int_equal(testsrv_calls(f->srv, "/go"), 1);
    assert_int_equal(testsrv_calls(target, NULL), 0);
    testsrv_stop(target);
}

struct kind_case {
    const char *addr;
    const char *kind; /* NULL: public */
};

static void address_classifier(void **state)
{
    static const struct kind_case cases[] = {
        /* IPv4 */
        {"127.0.0.1", "loopback"},
        {"127.255.255.254", "loopback"},
        {"10.0.0.1", "private"},
        {"10.255.255.255", "private"},
        {"172.16.0.1", "private"},
        {"172.31.255.255", "private"},
        {"172.15.255.255", NULL},
        {"172.32.0.0", NULL},
        {"192.168.1.1", "private"},
        {"169.254.169.254", "link-local"},
        {"100.64.0.1", "carrier-grade NAT"},
        {"100.127.255.255", "carrier-grade NAT"},
        {"100.128.0.0", NULL},
        {"0.0.0.0", "unspecified"},
        {"0.1.2.3", "unspecified"},
        {"224.0.0.1", "multicast"},
        {"239.255.255.250", "multicast"},
        {"240.0.0.1", "reserved"},
        {"255.255.255.255", "broadcast"},
        {"192.0.2.1", "reserved"},
        {"198.18.0.1", "reserved"},
        {"8.8.8.8", NULL},
        {"1.1.1.1", NULL},
        {"93.184.216.34", NULL},
        {"11.0.0.1", NULL},
        {"192.169.0.1", NULL},
        /* IPv6 */
        {"::1", "loopback"},
        {"::", "unspecified"},
        {"fe80::1", "link-local"},
        {"febf:ffff::1", "link-local"},
        {"fc00::1", "unique-local"},
        {"fd12:3456::1", "unique-local"},
        {"fec0::1", "site-local"},
        {"ff02::1", "multicast"},
        {"ff05::2", "multicast"},
        {"2001:db8::1", "reserved"},
        {"100::1", "reserved"},
        {"64:ff9b:1::a00:1", "reserved"},
        {"::ffff:127.0.0.1", "loopback"},
        {"::ffff:10.0.0.1", "private"},
        {"::ffff:169.254.169.254", "link-local"},
        {"::ffff:8.8.8.8", NULL},
        {"::127.0.0.1", "loopback"},
        {"::10.0.0.1", "private"},
        {"::ffff:0:127.0.0.1", "loopback"},
        {"64:ff9b::a9fe:a9fe", "link-local"},
        {"64:ff9b::127.0.0.1", "loopback"},
        {"64:ff9b::808:808", NULL},
        {"2002:7f00:1::", "loopback"},
        {"2002:a00:1::1", "private"},
        {"2002:808:808::1", NULL},
        {"2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"}, /* Teredo, client ~80ff:fffe = 127.0.0.1 */
        {"2606:4700::1", NULL},
        {"2a00:1450:4001:80b::200e", NULL},
        {"2001:4860:4860::8888", NULL},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char a[16];
        int fam = strchr(cases[i].addr, ':') ? AF_INET6 : AF_INET;
        const char *got;

        assert_int_equal(inet_pton(fam, cases[i].addr, a), 1);
        got = http_addr_kind(fam, a);
        if ((got == NULL) != (cases[i].kind == NULL) || (got && strcmp(got, cases[i].kind) != 0))
            fail_msg("%s: got %s, want %s", cases[i].addr, got ? got : "public",
                     cases[i].kind ? cases[i].kind : "public");
    }
    assert_string_equal(http_addr_kind(AF_UNIX, "x"), "non-IP");
}

/* Connectors' own requests (Okta, HappyFox: their URL is an admin's
 * connection setting) do not set public_only and still reach loopback. */
static void unguarded_requests_reach_loopback(void **state)
{
    struct fx *f = *state;
    struct http_request rq = {.method = "GET", .https_only = true};
    struct http_response rs;
    struct idf_err err;
    char url[128];

    snprintf(url, sizeof url, "http://localhost:%d/x", testsrv_port(f->srv));
    rq.url = url;
    assert_int_equal(http_client_do(f->http, &rq, &rs, &err), 0);
    assert_int_equal(rs.status, 200);
    assert_false(rs.denied_address);
    http_response_free(&rs);
    assert_int_equal(testsrv_calls(f->srv, "/x"), 1);

    /* public_only directly on the client: IDF_EDENIED with denied_address */
    rq.public_only = true;
    assert_int_equal(http_client_do(f->http, &rq, &rs, &err), IDF_EDENIED);
    assert_true(rs.denied_address);
    assert_non_null(strstr(err.msg, "127.0.0.1 is a loopback address"));
    http_response_free(&rs);
    assert_int_equal(testsrv_calls(f->srv, "/x"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(address_classifier),
        cmocka_unit_test_setup_teardown(refused_without_opt_in_and_nothing_arrives, setup, teardown),
        cmocka_unit_test_setup_teardown(allowed_with_opt_in, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_before_any_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(kept_alive_connection_is_judged_too, setup, teardown),
        cmocka_unit_test_setup_teardown(proxy_from_the_environment_is_not_used, proxy_setup, proxy_teardown),
        cmocka_unit_test_setup_teardown(redirect_is_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(unguarded_requests_reach_loopback, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

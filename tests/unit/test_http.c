/* test_http.c — the HTTP server and client wrappers (src/net/http.h), and
 * the test support built on them (testsrv, testutil).
 *
 * Every test starts real servers on 127.0.0.1 with port 0. Besides the
 * http_server under test there is a tiny raw-socket server here, which
 * accepts exactly one connection: it proves keep-alive reuse (a second
 * connection would never be answered) and sends bodies without
 * Content-Length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/http.h"
#include "support/testsrv.h"
#include "support/testutil.h"

/* ---------------------------------------------------------------- echo server */

struct echo {
    struct http_server *srv;
    char base[64];
    atomic_int calls;     /* handler invocations */
    atomic_int slow_seen; /* /slow requests that reached the handler */
};

/* Answers by path:
 *   /slow?ms=N[&drop=1]  answer (or drop) after N ms
 *   /drop                close without answering
 *   /big?n=N             N bytes of 'x'
 *   /redirect            302 to /target
 *   anything else        a JSON echo of the request */
static const char *const query_names[] = {"x", "name", "email", "empty", "flag", "missing"};

static void echo_handler(void *ud, const struct http_req *req, struct http_resp *resp)
{
    struct echo *e = ud;
    json_t *o, *q;
    const char *v;

    atomic_fetch_add(&e->calls, 1);
    if (strcmp(req->path, "/slow") == 0) {
        atomic_fetch_add(&e->slow_seen, 1);
        v = http_req_query(req, "ms");
        resp->delay_ms = v ? atoll(v) : 1000;
        resp->drop = http_req_query(req, "drop") != NULL;
        http_resp_json(resp, 200, json_pack("{s:b}", "slow", 1));
        return;
    }
    if (strcmp(req->path, "/drop") == 0) {
        resp->drop = true;
        return;
    }
    if (strcmp(req->path, "/big") == 0) {
        size_t n = (size_t)atoll(http_req_query(req, "n") ? http_req_query(req, "n") : "0");
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, 'x', n);
        s[n] = '\0';
        http_resp_text(resp, 200, "text/plain", s);
        free(s);
        return;
    }
    if (strcmp(req->path, "/redirect") == 0) {
        http_resp_text(resp, 302, NULL, "");
        assert_int_equal(http_resp_header(resp, "Location", "/target"), 0);
        return;
    }
    q = json_object();
    for (size_t i = 0; i < sizeof query_names / sizeof *query_names; i++) {
        v = http_req_query(req, query_names[i]);
        json_object_set_new(q, query_names[i], v ? json_string(v) : json_null());
    }
    o = json_pack("{s:s, s:s, s:s, s:s, s:s%, s:b, s:s?, s:s?, s:s?, s:s?, s:s?, s:o}", "method", req->method, "path",
                  req->path, "raw_path", req->raw_path, "query", req->query, "body", req->body, req->body_len, "has_cl",
                  req->has_content_length, "ct", http_req_header(req, "content-type"), "ua",
                  http_req_header(req, "USER-AGENT"), "xc", http_req_header(req, "x-Custom"), "cl",
                  http_req_header(req, "Content-Length"), "remote", req->remote, "q", q);
    assert_non_null(o);
    http_resp_json(resp, 201, o);
    assert_int_equal(http_resp_header(resp, "X-Rate-Limit-Remaining", "42"), 0);
    assert_int_equal(http_resp_header(resp, "Link", "<https://x.example/next>; rel=\"next\""), 0);
}

static struct echo *echo_start(size_t max_body, int threads)
{
    struct echo *e = calloc(1, sizeof *e);
    struct http_server_opts o = {0};
    struct idf_err err = {0};

    assert_non_null(e);
    o.addr = "127.0.0.1";
    o.port = 0;
    o.max_body = max_body;
    o.threads = threads;
    o.handler = echo_handler;
    o.ud = e;
    assert_int_equal(http_server_start(&o, &e->srv, &err), 0);
    assert_true(http_server_port(e->srv) > 0);
    snprintf(e->base, sizeof e->base, "http://127.0.0.1:%d", http_server_port(e->srv));
    return e;
}

static void echo_stop(struct echo *e)
{
    http_server_stop(e->srv);
    free(e);
}

/* One request; fills resp (caller frees). Returns the http_client_do code. */
static int do_req(struct http_client *c, const char *method, const char *url, const char *body,
                  const char *const *headers, int64_t timeout_ms, struct http_response *resp, struct idf_err *err)
{
    struct http_request rq = {0};

    rq.method = method;
    rq.url = url;
    rq.body = body;
    rq.body_len = body ? strlen(body) : 0;
    rq.headers = headers;
    rq.timeout_ms = timeout_ms;
    return http_client_do(c, &rq, resp, err);
}

static json_t *resp_json(const struct http_response *r)
{
    json_t *j = json_loads(r->body.data ? r->body.data : "", 0, NULL);

    assert_non_null(j);
    return j;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static char *url_of(const struct echo *e, const char *path)
{
    char *u = NULL;

    assert_true(asprintf(&u, "%s%s", e->base, path) > 0);
    return u;
}

/* ---------------------------------------------------------------- raw sockets */

/* Sends len raw bytes to 127.0.0.1:port, stopping quietly at the first send
 * error (a server may answer early and close while the client still
 * writes), then reads until the peer closes or 5 s pass. *closed (may be
 * NULL) tells whether the peer closed (EOF or a reset) rather than the
 * time running out. Returns the bytes read, NUL-terminated (caller frees). */
static char *raw_send_recv(int port, const char *bytes, size_t len, bool *closed)
{
    struct sockaddr_in a = {0};
    struct timeval tv = {5, 0};
    char *out = calloc(1, 65536);
    size_t got = 0, sent = 0;
    ssize_t n = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_non_null(out);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    while (sent < len && (n = send(fd, bytes + sent, len - sent, MSG_NOSIGNAL)) > 0)
        sent += (size_t)n;
    while (got < 65535 && (n = recv(fd, out + got, 65535 - got, 0)) > 0)
        got += (size_t)n;
    if (closed)
        *closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    close(fd);
    return out;
}

/* raw_send_recv of a C string. */
static char *raw_exchange(int port, const char *bytes)
{
    return raw_send_recv(port, bytes, strlen(bytes), NULL);
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* A server that accepts ONE connection and answers each request on it with
 * `reply`, until the client closes or `max` requests were answered. */
struct one_conn {
    int lfd;
    int port;
    const char *reply;
    int max;
    int served;
    pthread_t th;
};

static void *one_conn_main(void *arg)
{
    struct one_conn *oc = arg;
    char buf[8192];
    size_t have = 0;
    int fd = accept(oc->lfd, NULL, NULL);

    if (fd < 0)
        return NULL;
    while (oc->served < oc->max) {
        char *end;
        ssize_t n;

        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end) {
            size_t used = (size_t)(end + 4 - buf);

            memmove(buf, buf + used, have - used);
            have -= used;
            if (send(fd, oc->reply, strlen(oc->reply), MSG_NOSIGNAL) < 0)
                break;
            oc->served++;
            continue;
        }
        n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    close(fd);
    return NULL;
}

static void one_conn_start(struct one_conn *oc, const char *reply, int max)
{
    struct sockaddr_in a = {0};
    socklen_t l = sizeof a;

    memset(oc, 0, sizeof *oc);
    oc->reply = reply;
    oc->max = max;
    oc->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(oc->lfd >= 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(oc->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(oc->lfd, 8), 0);
    assert_int_equal(getsockname(oc->lfd, (struct sockaddr *)&a, &l), 0);
    oc->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&oc->th, NULL, one_conn_main, oc), 0);
}

static void one_conn_stop(struct one_conn *oc)
{
    pthread_join(oc->th, NULL);
    close(oc->lfd);
}

/* ---------------------------------------------------------------- server round trips */

static void test_get_query_and_paths(void **state)
{
    struct echo *e = echo_start(0, 4);
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};
    char *u = url_of(e, "/api/v1/users/a%40b.com/x%2Fy?x=1&name=J%C3%B6rg+Doe&email=a%40b.com&empty=&flag&x=2");
    json_t *j, *q;

    (void)state;
    assert_int_equal(http_client_new(&c), 0);
    assert_int_equal(do_req(c, "GET", u, NULL, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 201);
    j = resp_json(&r);
    assert_string_equal(jstr(j, "method"), "GET");
    assert_string_equal(jstr(j, "path"), "/api/v1/users/a@b.com/x/y");
    assert_string_equal(jstr(j, "raw_path"), "/api/v1/users/a%40b.com/x%2Fy");
    assert_string_equal(jstr(j, "query"), "x=1&name=J%C3%B6rg+Doe&email=a%40b.com&empty=&flag&x=2");
    q = json_object_get(j, "q");
    assert_string_equal(jstr(q, "x"), "1"); /* first occurrence */
    assert_string_equal(jstr(q, "name"), "J\xc3\xb6rg Doe");
    assert_string_equal(jstr(q, "email"), "a@b.com");
    assert_string_equal(jstr(q, "empty"), "");
    assert_string_equal(jstr(q, "flag"), "");
    assert_true(json_is_null(json_object_get(q, "missing")));
    assert_string_equal(jstr(j, "body"), "");
    assert_false(json_is_true(json_object_get(j, "has_cl")));
    assert_string_equal(jstr(j, "remote"), "127.0.0.1");
    json_decref(j);
    http_response_free(&r);

    /* No query at all: "" and every parameter absent. */
    free(u);
    u = url_of(e, "/plain");
    assert_int_equal(do_req(c, "GET", u, NULL, NULL, 0, &r, &err), 0);
    j = resp_json(&r);
    assert_string_equal(jstr(j, "query"), "");
    assert_true(json_is_null(json_object_get(json_object_get(j, "q"), "x")));
    json_decref(j);
    http_response_free(&r);
    free(u);
    http_client_free(c);
    echo_stop(e);
}

static void test_post_json_and_headers(void **state)
{
    struct echo *e = echo_start(0, 4);
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};
    char *u = url_of(e, "/echo");
    const char *hdrs[] = {"Content-Type: application/json", "X-Custom: Some Value", NULL};
    const char *body = "{\"profile\":{\"login\":\"a@b.com\"},\"n\":[1,2,3]}";
    json_t *j, *sent;

    (void)state;
    assert_int_equal(http_client_new(&c), 0);
    assert_int_equal(do_req(c, "POST", u, body, hdrs, 0, &r, &err), 0);
    assert_int_equal(r.status, 201);
    j = resp_json(&r);
    assert_string_equal(jstr(j, "method"), "POST");
    sent = json_loads(jstr(j, "body"), 0, NULL);
    assert_non_null(sent);
    assert_string_equal(jstr(json_object_get(sent, "profile"), "login"), "a@b.com");
    assert_true(json_is_true(json_object_get(j, "has_cl")));
    assert_string_equal(jstr(j, "ct"), "application/json");
    assert_string_equal(jstr(j, "xc"), "Some Value"); /* looked up as "x-Custom" */
    assert_string_equal(jstr(j, "ua"), "idflow/0.1");
    /* Response headers, keyed by lower-case name. */
    assert_string_equal(jstr(r.headers, "x-rate-limit-remaining"), "42");
    assert_string_equal(jstr(r.headers, "link"), "<https://x.example/next>; rel=\"next\"");
    assert_string_equal(jstr(r.headers, "content-type"), "application/json");
    json_decref(sent);
    json_decref(j);
    http_response_free(&r);

    /* A changed User-Agent is sent on later requests. */
    http_client_set_user_agent(c, "idflow-test/9");
    assert_int_equal(do_req(c, "GET", u, NULL, NULL, 0, &r, &err), 0);
    j = resp_json(&r);
    assert_string_equal(jstr(j, "ua"), "idflow-test/9");
    json_decref(j);
    http_response_free(&r);
    free(u);
    http_client_free(c);
    echo_stop(e);
}

static void test_body_too_large_413(void **state)
{
    struct echo *e = echo_start(1024, 2);
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};
    char *u = url_of(e, "/echo");
    char *big = malloc(4097), *huge = malloc((6u << 20) + 1);
    json_t *j;

    (void)state;
    assert_non_null(big);
    assert_non_null(huge);
    memset(big, 'a', 4096);
    big[4096] = '\0';
    memset(huge, 'b', 6u << 20);
    huge[6u << 20] = '\0';
    assert_int_equal(http_client_new(&c), 0);

    assert_int_equal(do_req(c, "POST", u, big, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 413);
    j = resp_json(&r);
    assert_string_equal(jstr(j, "error"), "request body too large");
    assert_int_equal(json_integer_value(json_object_get(j, "limit")), 1024);
    json_decref(j);
    http_response_free(&r);
    assert_int_equal(atomic_load(&e->calls), 0); /* the handler never saw it */

    /* Exactly at the cap is accepted. */
    big[1024] = '\0';
    assert_int_equal(do_req(c, "POST", u, big, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    assert_int_equal(atomic_load(&e->calls), 1);

    /* Far above the cap: refused without reading it all. */
    assert_int_equal(do_req(c, "POST", u, huge, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 413);
    http_response_free(&r);

    /* The server keeps serving, on the same client too. */
    assert_int_equal(do_req(c, "GET", u, NULL, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    assert_int_equal(atomic_load(&e->calls), 2);
    free(big);
    free(huge);
    free(u);
    http_client_free(c);
    echo_stop(e);
}

static void test_has_content_length(void **state)
{
    struct echo *e = echo_start(0, 2);
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};
    char *u = url_of(e, "/echo");
    const char *methods[] = {"POST", "PUT", "PATCH"};
    char *raw;
    json_t *j;
    size_t i;

    (void)state;
    assert_int_equal(http_client_new(&c), 0);
    /* Our client sends Content-Length: 0 on a body-less POST/PUT/PATCH, and
     * no curl-invented form Content-Type. */
    for (i = 0; i < 3; i++) {
        assert_int_equal(do_req(c, methods[i], u, NULL, NULL, 0, &r, &err), 0);
        j = resp_json(&r);
        assert_string_equal(jstr(j, "method"), methods[i]);
        assert_true(json_is_true(json_object_get(j, "has_cl")));
        assert_string_equal(jstr(j, "cl"), "0");
        assert_string_equal(jstr(j, "body"), "");
        assert_true(json_is_null(json_object_get(j, "ct")));
        json_decref(j);
        http_response_free(&r);
    }
    /* DELETE without a body sends none. */
    assert_int_equal(do_req(c, "DELETE", u, NULL, NULL, 0, &r, &err), 0);
    j = resp_json(&r);
    assert_string_equal(jstr(j, "method"), "DELETE");
    assert_false(json_is_true(json_object_get(j, "has_cl")));
    json_decref(j);
    http_response_free(&r);

    /* A POST with neither Content-Length nor chunked (the 411 case). */
    raw = raw_exchange(http_server_port(e->srv), "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(raw, "\"has_cl\":false"));
    assert_non_null(strstr(raw, "\"method\":\"POST\""));
    free(raw);
    /* A chunked body counts as having a length, and arrives whole. */
    raw = raw_exchange(http_server_port(e->srv), "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                                                 "Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_non_null(strstr(raw, "\"has_cl\":true"));
    assert_non_null(strstr(raw, "\"body\":\"hello world\""));
    free(raw);
    free(u);
    http_client_free(c);
    echo_stop(e);
}

static void test_server_keepalive_and_head_options(void **state)
{
    struct echo *e = echo_start(0, 2);
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};
    char *u = url_of(e, "/echo");
    char *raw;

    (void)state;
    /* Two requests on one socket: both answered. */
    raw = raw_exchange(http_server_port(e->srv), "GET /one HTTP/1.1\r\nHost: t\r\n\r\n"
                                                 "GET /two HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_int_equal(count_of(raw, "HTTP/1.1 201"), 2);
    assert_non_null(strstr(raw, "\"path\":\"/one\""));
    assert_non_null(strstr(raw, "\"path\":\"/two\""));
    free(raw);

    /* HEAD and OPTIONS reach the handler; HEAD gets headers, no body. */
    assert_int_equal(http_client_new(&c), 0);
    assert_int_equal(do_req(c, "HEAD", u, NULL, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.body.len, 0);
    assert_string_equal(jstr(r.headers, "x-rate-limit-remaining"), "42");
    http_response_free(&r);
    assert_int_equal(do_req(c, "OPTIONS", u, NULL, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body.data, "\"method\":\"OPTIONS\""));
    http_response_free(&r);
    assert_int_equal(atomic_load(&e->calls), 4);

    /* A path decoding to NUL is refused before the handler. */
    raw = raw_exchange(http_server_port(e->srv), "GET /a%00b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(raw, "HTTP/1.1 400"));
    free(raw);
    assert_int_equal(atomic_load(&e->calls), 4);
    free(u);
    http_client_free(c);
    echo_stop(e);
}

static void test_port_taken(void **state)
{
    struct echo *e = echo_start(0, 1);
    struct http_server *s2 = NULL;
    struct http_server_opts o = {0};
    struct idf_err err = {0};
    char port[16];

    (void)state;
    o.addr = "127.0.0.1";
    o.port = http_server_port(e->srv);
    o.handler = echo_handler;
    o.ud = e;
    assert_int_equal(http_server_start(&o, &s2, &err), IDF_EBUSY);
    assert_null(s2);
    snprintf(port, sizeof port, "%d", o.port);
    assert_non_null(strstr(err.msg, port));
    /* A bad address is an input error. */
    o.addr = "not-an-address.invalid";
    o.port = 0;
    assert_true(http_server_start(&o, &s2, &err) < 0);
    assert_null(s2);
    echo_stop(e);
}

/* ---------------------------------------------------------------- client policy */

static void test_keepalive_reuse(void **state)
{
    struct one_conn oc;
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};
    char url[64];
    int i;

    (void)state;
    one_conn_start(&oc, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}", 5);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/k", oc.port);
    assert_int_equal(http_client_new(&c), 0);
    /* The server answers one connection only: five successes prove reuse. */
    for (i = 0; i < 5; i++) {
        assert_int_equal(do_req(c, i % 2 ? "POST" : "GET", url, i % 2 ? "{}" : NULL, NULL, 3000, &r, &err), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body.data, "{\"a\":1}");
        http_response_free(&r);
    }
    http_client_free(c);
    one_conn_stop(&oc);
    assert_int_equal(oc.served, 5);
}

static void test_redirect_not_followed(void **state)
{
    struct testsrv *s = testsrv_start();
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};
    struct testsrv_answer moved = {302, "", NULL, {"Location: /target"}};
    char url[128];

    (void)state;
    testsrv_on(s, "/from", &moved, -1);
    snprintf(url, sizeof url, "%s/from", testsrv_url(s));
    assert_int_equal(http_client_new(&c), 0);
    assert_int_equal(do_req(c, "GET", url, NULL, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 302);
    assert_string_equal(jstr(r.headers, "location"), "/target");
    http_response_free(&r);
    assert_int_equal(testsrv_calls(s, "/from"), 1);
    assert_int_equal(testsrv_calls(s, "/target"), 0);
    http_client_free(c);
    testsrv_stop(s);
}

/* A repeated response header reaches the caller whole: Okta may send its
 * Link headers in any order, and paging must find rel="next" in all of them. */
static void test_repeated_headers_joined(void **state)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\n"
                                "Content-Type: application/json\r\n"
                                "Link: <https://o.example/api/v1/users?after=abc&limit=2>; rel=\"next\"\r\n"
                                "Set-Cookie: a=1\r\n"
                                "Link: <https://o.example/api/v1/users?limit=2>; rel=\"self\"\r\n"
                                "Set-Cookie: b=2\r\n"
                                "Content-Length: 2\r\n\r\n[]";
    struct one_conn oc;
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};
    char url[128];

    (void)state;
    one_conn_start(&oc, reply, 1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/users", oc.port);
    assert_int_equal(http_client_new(&c), 0);
    assert_int_equal(do_req(c, "GET", url, NULL, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.headers, "link"), "<https://o.example/api/v1/users?after=abc&limit=2>; rel=\"next\", "
                                                 "<https://o.example/api/v1/users?limit=2>; rel=\"self\"");
    assert_string_equal(jstr(r.headers, "set-cookie"), "b=2");
    http_response_free(&r);
    http_client_free(c);
    one_conn_stop(&oc);
}

static void test_response_cap(void **state)
{
    struct echo *e = echo_start(0, 2);
    struct one_conn oc;
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct http_request rq = {0};
    struct idf_err err = {0};
    char *u = url_of(e, "/big?n=10000");
    char url[64];

    (void)state;
    assert_int_equal(http_client_new(&c), 0);
    rq.method = "GET";
    rq.url = u;
    rq.max_response = 1024;
    assert_int_equal(http_client_do(c, &rq, &r, &err), IDF_ETOOBIG);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.body.len, 0);
    assert_null(r.headers);
    http_response_free(&r);
    /* Exactly at the cap is fine. */
    rq.max_response = 10000;
    assert_int_equal(http_client_do(c, &rq, &r, &err), 0);
    assert_int_equal(r.body.len, 10000);
    http_response_free(&r);

    /* Without Content-Length the transfer is cut while streaming. */
    one_conn_start(&oc,
                   "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
                   "0123456789012345678901234567890123456789012345678901234567890123456789",
                   1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stream", oc.port);
    rq.url = url;
    rq.max_response = 16;
    assert_int_equal(http_client_do(c, &rq, &r, &err), IDF_ETOOBIG);
    assert_non_null(strstr(err.msg, "16 bytes"));
    http_response_free(&r);
    one_conn_stop(&oc);

    /* The client still works afterwards. */
    rq.url = u;
    rq.max_response = 0;
    assert_int_equal(http_client_do(c, &rq, &r, &err), 0);
    assert_int_equal(r.status, 200);
    http_response_free(&r);
    free(u);
    http_client_free(c);
    echo_stop(e);
}

struct slow_call {
    const char *url;
    int64_t timeout_ms;
    int rc;
    long status;
    atomic_bool done;
};

static void *slow_call_main(void *arg)
{
    struct slow_call *sc = arg;
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};

    if (http_client_new(&c) == 0) {
        sc->rc = do_req(c, "GET", sc->url, NULL, NULL, sc->timeout_ms, &r, &err);
        sc->status = r.status;
    }
    http_response_free(&r);
    http_client_free(c);
    atomic_store(&sc->done, true);
    return NULL;
}

static bool slow_seen_1(void *ud)
{
    return atomic_load(&((struct echo *)ud)->slow_seen) >= 1;
}

static bool slow_seen_2(void *ud)
{
    return atomic_load(&((struct echo *)ud)->slow_seen) >= 2;
}

static void test_timeout_and_server_stays_responsive(void **state)
{
    /* ONE server thread: a delay that blocked it would block everyone. */
    struct echo *e = echo_start(0, 1);
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};
    char *slow_long = url_of(e, "/slow?ms=4000");
    char *slow_short = url_of(e, "/slow?ms=2000");
    char *fast = url_of(e, "/fast");
    struct slow_call a = {slow_long, 300}, b = {slow_short, 10000};
    pthread_t ta, tb;
    int64_t t0;

    (void)state;
    t0 = tu_now_ms();
    assert_int_equal(pthread_create(&ta, NULL, slow_call_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, slow_call_main, &b), 0);
    assert_true(tu_wait_until(slow_seen_2, e, 5000));

    /* Both slow requests are parked; a fast one is answered at once. */
    assert_int_equal(http_client_new(&c), 0);
    assert_int_equal(do_req(c, "GET", fast, NULL, NULL, 2000, &r, &err), 0);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    assert_false(atomic_load(&b.done));
    assert_true(tu_now_ms() - t0 < 2000);

    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    /* The client gave up on the 4 s answer after 300 ms... */
    assert_int_equal(a.rc, IDF_ETIMEOUT);
    /* ...and the 2 s answer arrived on time, not after the 4 s one. */
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.status, 200);
    assert_true(tu_now_ms() - t0 >= 2000);
    assert_true(tu_now_ms() - t0 < 3800);

    /* Timeout message carries curl's text, classified as a timeout. */
    assert_int_equal(do_req(c, "GET", slow_long, NULL, NULL, 200, &r, &err), IDF_ETIMEOUT);
    assert_int_equal(err.code, IDF_ETIMEOUT);
    assert_non_null(strstr(err.msg, "/slow"));
    assert_null(strstr(err.msg, "ms=4000")); /* no query in messages */
    http_response_free(&r);
    free(slow_long);
    free(slow_short);
    free(fast);
    http_client_free(c);
    echo_stop(e);
}

static void test_drop_gives_eio(void **state)
{
    struct echo *e = echo_start(0, 2);
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};
    char *drop = url_of(e, "/drop");
    char *slow_drop = url_of(e, "/slow?ms=100&drop=1");
    char *ok = url_of(e, "/ok");

    (void)state;
    assert_int_equal(http_client_new(&c), 0);
    assert_int_equal(do_req(c, "GET", drop, NULL, NULL, 3000, &r, &err), IDF_EIO);
    assert_true(strlen(err.msg) > 0);
    http_response_free(&r);
    assert_int_equal(do_req(c, "GET", slow_drop, NULL, NULL, 3000, &r, &err), IDF_EIO);
    http_response_free(&r);
    assert_int_equal(do_req(c, "GET", ok, NULL, NULL, 3000, &r, &err), 0);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    free(drop);
    free(slow_drop);
    free(ok);
    http_client_free(c);
    echo_stop(e);
}

static void test_network_error_hides_headers(void **state)
{
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};
    const char *hdrs[] = {"Authorization: SSWS s3cr3t-t0ken-value", NULL};
    const char *bad[] = {"Authorization: SSWS s3cr3t\r\nX-Evil: 1", NULL};
    char url[128];
    int port = tu_free_port();

    (void)state;
    assert_true(port > 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api?token=s3cr3t-t0ken-value", port);
    assert_int_equal(http_client_new(&c), 0);
    assert_int_equal(do_req(c, "GET", url, NULL, hdrs, 2000, &r, &err), IDF_EIO);
    assert_null(strstr(err.msg, "s3cr3t"));
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    assert_null(r.headers);
    http_response_free(&r);
    /* A header with a line break is refused without echoing it. */
    assert_int_equal(do_req(c, "GET", url, NULL, bad, 2000, &r, &err), IDF_EINVAL);
    assert_null(strstr(err.msg, "s3cr3t"));
    http_response_free(&r);
    /* Only http and https. */
    assert_int_equal(do_req(c, "GET", "file:///etc/passwd", NULL, NULL, 2000, &r, &err), IDF_EINVAL);
    http_response_free(&r);
    assert_int_equal(do_req(c, "GET", "not a url", NULL, NULL, 2000, &r, &err), IDF_EINVAL);
    http_response_free(&r);
    http_client_free(c);
}

static void test_https_only(void **state)
{
    struct echo *e = echo_start(0, 1);
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct http_request rq = {0};
    struct idf_err err = {0};
    char *local = url_of(e, "/echo");
    char localhost[128];

    (void)state;
    assert_int_equal(http_client_new(&c), 0);
    rq.method = "GET";
    rq.https_only = true;
    rq.url = "http://acme.okta.com/api/v1/users";
    assert_int_equal(http_client_do(c, &rq, &r, &err), IDF_EDENIED);
    assert_non_null(strstr(err.msg, "http://"));
    assert_non_null(strstr(err.msg, "acme.okta.com"));
    http_response_free(&r);
    /* Loopback is allowed over plain http. */
    rq.url = local;
    assert_int_equal(http_client_do(c, &rq, &r, &err), 0);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    snprintf(localhost, sizeof localhost, "http://localhost:%d/echo", http_server_port(e->srv));
    rq.url = localhost;
    assert_int_equal(http_client_do(c, &rq, &r, &err), 0);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    free(local);
    http_client_free(c);
    echo_stop(e);
}

static void test_loopback_detection(void **state)
{
    (void)state;
    assert_true(http_url_is_loopback("http://127.0.0.1:8080/x"));
    assert_true(http_url_is_loopback("http://127.1.2.3/"));
    assert_true(http_url_is_loopback("http://localhost/"));
    assert_true(http_url_is_loopback("https://LOCALHOST:9/a?b=c"));
    assert_true(http_url_is_loopback("http://[::1]:8080/"));
    assert_true(http_url_is_loopback("http://user:pw@127.0.0.1/"));
    assert_false(http_url_is_loopback("http://128.0.0.1/"));
    assert_false(http_url_is_loopback("http://10.0.0.1/"));
    assert_false(http_url_is_loopback("http://[::2]/"));
    assert_false(http_url_is_loopback("https://acme.okta.com/"));
    assert_false(http_url_is_loopback("http://localhost.evil.com/"));
    assert_false(http_url_is_loopback("http://127.0.0.1.evil.com/"));
    assert_false(http_url_is_loopback("http://evil.com/?u=http://127.0.0.1/"));
    assert_false(http_url_is_loopback("http://127.0.0.1@evil.com/"));
    assert_false(http_url_is_loopback("not a url"));
    assert_false(http_url_is_loopback(NULL));
}

static void test_urlencode(void **state)
{
    struct {
        const char *in, *out;
    } cases[] = {
        {"a@b.com", "a%40b.com"},
        {"a+b/c d", "a%2Bb%2Fc%20d"},
        {"AZaz09-._~", "AZaz09-._~"},
        {"\xc3\xa9?&=#%", "%C3%A9%3F%26%3D%23%25"},
        {"", ""},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *s = http_urlencode(cases[i].in);

        assert_non_null(s);
        assert_string_equal(s, cases[i].out);
        free(s);
    }
    assert_null(http_urlencode(NULL));
}

static void test_stop_with_parked_request(void **state)
{
    struct echo *e = echo_start(0, 2);
    char *u = url_of(e, "/slow?ms=20000");
    struct slow_call a = {u, 30000};
    pthread_t ta;
    int64_t t0;

    (void)state;
    assert_int_equal(pthread_create(&ta, NULL, slow_call_main, &a), 0);
    assert_true(tu_wait_until(slow_seen_1, e, 5000));
    t0 = tu_now_ms();
    echo_stop(e); /* must not wait for the 20 s delay, nor leak */
    assert_true(tu_now_ms() - t0 < 3000);
    pthread_join(ta, NULL);
    assert_true(a.rc == 0 || a.rc == IDF_EIO);
    free(u);
}

static void test_ipv6_and_port_released_on_stop(void **state)
{
    struct http_server *s = NULL;
    struct http_server_opts o = {0};
    struct idf_err err = {0};
    struct echo *e;
    char url[128], *body = NULL;
    long status = 0;
    int port;

    (void)state;
    /* ::1 works and is loopback for the client. */
    o.addr = "::1";
    o.port = 0;
    o.handler = echo_handler;
    o.ud = calloc(1, sizeof(struct echo));
    assert_int_equal(http_server_start(&o, &s, &err), 0);
    snprintf(url, sizeof url, "http://[::1]:%d/v6", http_server_port(s));
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &body), 0);
    assert_int_equal(status, 201);
    assert_non_null(strstr(body, "\"remote\":\"::1\""));
    free(body);
    http_server_stop(s);
    free(o.ud);

    /* After stop the listening socket is closed: the port can be bound again. */
    e = echo_start(0, 2);
    port = http_server_port(e->srv);
    echo_stop(e);
    memset(&o, 0, sizeof o);
    o.addr = "127.0.0.1";
    o.port = port;
    o.handler = echo_handler;
    o.ud = calloc(1, sizeof(struct echo));
    assert_int_equal(http_server_start(&o, &s, &err), 0);
    assert_int_equal(http_server_port(s), port);
    http_server_stop(s);
    free(o.ud);
    http_server_stop(NULL);
}

static void test_too_large_chunked_and_expect(void **state)
{
    struct echo *e = echo_start(16, 2);
    char req[512], *raw;

    (void)state;
    snprintf(req, sizeof req,
             "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
             "10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n");
    raw = raw_exchange(http_server_port(e->srv), req);
    assert_non_null(strstr(raw, "HTTP/1.1 413"));
    assert_non_null(strstr(raw, "\"limit\":16"));
    free(raw);
    /* Exactly 16 bytes pass. */
    snprintf(req, sizeof req,
             "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
             "10\r\n0123456789abcdef\r\n0\r\n\r\n");
    raw = raw_exchange(http_server_port(e->srv), req);
    assert_non_null(strstr(raw, "HTTP/1.1 201"));
    assert_non_null(strstr(raw, "\"body\":\"0123456789abcdef\""));
    free(raw);
    /* A client waiting for 100-continue gets the 413 without sending. */
    raw = raw_exchange(http_server_port(e->srv), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n"
                                                 "Expect: 100-continue\r\n\r\n");
    assert_non_null(strstr(raw, "HTTP/1.1 413"));
    assert_null(strstr(raw, "100 Continue"));
    free(raw);
    assert_int_equal(atomic_load(&e->calls), 1);
    echo_stop(e);
}

/* ---------------------------------------------------------------- framing and size limits */

/* Sends a request whose framing is refused: the answer must be `status`
 * with a JSON error containing `why`, the connection closed (the bytes
 * after the request are never read as a second request), and the handler
 * never called. */
static void expect_refused_version(struct echo *e, const char *version, const char *headers, int status,
                                   const char *why)
{
    char *req = NULL, *raw, line[32];
    bool closed = false;
    int calls = atomic_load(&e->calls);

    assert_true(asprintf(&req,
                         "POST /echo %s\r\nHost: t\r\nConnection: keep-alive\r\n%s\r\n5\r\nhello\r\n0\r\n\r\n"
                         "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
                         version, headers) > 0);
    raw = raw_send_recv(http_server_port(e->srv), req, strlen(req), &closed);
    snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
    if (strncmp(raw, line, strlen(line)) != 0 || !strstr(raw, why))
        fail_msg("headers \"%s\": wanted %d with \"%s\", got: %.300s", headers, status, why, raw);
    assert_non_null(strstr(raw, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(raw, "{\"error\":\""));
    assert_int_equal(count_of(raw, "HTTP/1.1 "), 1);
    assert_true(closed);
    assert_int_equal(atomic_load(&e->calls), calls);
    free(raw);
    free(req);
}

static void expect_refused(struct echo *e, const char *headers, int status, const char *why)
{
    expect_refused_version(e, "HTTP/1.1", headers, status, why);
}

static void test_smuggling_cl_and_te(void **state)
{
    struct echo *e = echo_start(0, 2);

    (void)state;
    expect_refused(e, "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400,
                   "both Content-Length and Transfer-Encoding");
    expect_refused(e, "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400,
                   "both Content-Length and Transfer-Encoding");
    expect_refused(e, "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", 400,
                   "both Content-Length and Transfer-Encoding");
    assert_int_equal(atomic_load(&e->calls), 0);
    echo_stop(e);
}

static void test_smuggling_two_content_lengths(void **state)
{
    struct echo *e = echo_start(0, 2);
    const char *malformed[] = {"5, 7", "5,5", "-5", "abc", "+5", ""};
    char req[256], *raw;
    bool closed;
    size_t i;

    (void)state;
    expect_refused(e, "Content-Length: 5\r\nContent-Length: 7\r\n", 400, "more than one Content-Length header");
    expect_refused(e, "Content-Length: 7\r\nContent-Length: 5\r\n", 400, "more than one Content-Length header");
    /* Identical repeats are refused too (RFC 9112 6.3 allows either). */
    expect_refused(e, "Content-Length: 5\r\nContent-Length: 5\r\n", 400, "more than one Content-Length header");
    /* One header with a malformed value: libmicrohttpd itself answers 400
     * (with its own HTML body) and closes; the handler never runs. */
    for (i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        closed = false;
        snprintf(req, sizeof req,
                 "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %s\r\n\r\nhelloab"
                 "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
                 malformed[i]);
        raw = raw_send_recv(http_server_port(e->srv), req, strlen(req), &closed);
        if (strncmp(raw, "HTTP/1.1 400 ", 13) != 0)
            fail_msg("Content-Length \"%s\": got %.200s", malformed[i], raw);
        assert_true(closed);
        assert_null(strstr(raw, "smuggled"));
        free(raw);
    }
    assert_int_equal(atomic_load(&e->calls), 0);
    echo_stop(e);
}

static void test_bad_transfer_encoding(void **state)
{
    struct echo *e = echo_start(0, 2);
    char *raw;

    (void)state;
    expect_refused(e, "Transfer-Encoding: gzip, chunked\r\n", 501, "unsupported Transfer-Encoding");
    expect_refused(e, "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 501,
                   "unsupported Transfer-Encoding");
    expect_refused(e, "Transfer-Encoding: chunked, identity\r\n", 400, "invalid Transfer-Encoding");
    expect_refused(e, "Transfer-Encoding: xchunked\r\n", 400, "invalid Transfer-Encoding");
    expect_refused(e, "Transfer-Encoding: identity\r\n", 400, "invalid Transfer-Encoding");
    expect_refused(e, "Transfer-Encoding: chunked, chunked\r\n", 400, "invalid Transfer-Encoding");
    expect_refused(e, "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400, "invalid Transfer-Encoding");
    expect_refused(e, "Transfer-Encoding: \r\n", 400, "invalid Transfer-Encoding");
    /* libmicrohttpd would read this body until the connection closes. */
    expect_refused(e, "Transfer-Encoding: chunked \r\n", 400, "invalid Transfer-Encoding");
    expect_refused(e, "Transfer-Encoding: chunked\t\r\n", 400, "invalid Transfer-Encoding");
    /* chunked did not exist in HTTP/1.0 (libmicrohttpd decodes it and keeps
     * the connection open). */
    expect_refused_version(e, "HTTP/1.0", "Transfer-Encoding: chunked\r\n", 400, "HTTP/1.0");
    assert_int_equal(atomic_load(&e->calls), 0);
    /* Coding names are case-insensitive: "Chunked" is chunked (and blanks
     * before the value are not part of it). */
    raw = raw_exchange(http_server_port(e->srv), "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:  Chunked\r\n"
                                                 "Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_non_null(strstr(raw, "HTTP/1.1 201"));
    assert_non_null(strstr(raw, "\"body\":\"hello\""));
    free(raw);
    assert_int_equal(atomic_load(&e->calls), 1);
    echo_stop(e);
}

/* Expects a 413 with the JSON error for the default 1 MiB limit, and the
 * connection closed. */
static void expect_413_closed(const char *what, const char *raw, bool closed)
{
    if (strncmp(raw, "HTTP/1.1 413 ", 13) != 0 ||
        !strstr(raw, "{\"error\":\"request body too large\",\"limit\":1048576}"))
        fail_msg("%s: wanted 413, got: %.300s", what, raw);
    assert_non_null(strstr(raw, "\r\nConnection: close\r\n"));
    assert_null(strstr(raw, "100 Continue"));
    assert_true(closed);
}

static void test_oversized_declared_body_413(void **state)
{
    struct echo *e = echo_start(0, 2); /* the default limit, 1 MiB */
    const size_t sizes[] = {(1u << 20) + 1, 4900u << 10};
    const size_t head_max = 256;
    char *req, *raw, head[256];
    bool closed;
    size_t i, h;

    (void)state;
    /* A client that writes the whole body, then reads. */
    for (i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        req = malloc(head_max + sizes[i]);
        assert_non_null(req);
        h = (size_t)snprintf(req, head_max, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", sizes[i]);
        memset(req + h, 'a', sizes[i]);
        closed = false;
        raw = raw_send_recv(http_server_port(e->srv), req, h + sizes[i], &closed);
        expect_413_closed("whole body", raw, closed);
        free(raw);
        free(req);
    }
    /* 100 MiB declared: headers and a little of the body are enough. */
    req = malloc(head_max + 65536);
    assert_non_null(req);
    h = (size_t)snprintf(req, head_max, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
                         (size_t)100 << 20);
    memset(req + h, 'a', 65536);
    closed = false;
    raw = raw_send_recv(http_server_port(e->srv), req, h + 65536, &closed);
    expect_413_closed("100 MiB declared", raw, closed);
    free(raw);
    free(req);
    /* With Expect: 100-continue the body is never asked for. */
    closed = false;
    snprintf(head, sizeof head,
             "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 104857600\r\nExpect: 100-continue\r\n\r\n");
    raw = raw_send_recv(http_server_port(e->srv), head, strlen(head), &closed);
    expect_413_closed("100-continue", raw, closed);
    free(raw);
    closed = false;
    snprintf(head, sizeof head,
             "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\nExpect: 100-continue\r\n\r\n");
    raw = raw_send_recv(http_server_port(e->srv), head, strlen(head), &closed);
    expect_413_closed("100-continue, just over", raw, closed);
    free(raw);
    assert_int_equal(atomic_load(&e->calls), 0);
    echo_stop(e);
}

/* A chunked body of n bytes in 64 KiB chunks, with the last chunk when
 * `end`; its length goes to *len (caller frees). */
static char *chunked_body(const char *head, size_t n, bool end, size_t *len)
{
    const size_t step = 65536;
    size_t cap = strlen(head) + n + (n / step + 2) * 16, off;
    char *p = malloc(cap);

    assert_non_null(p);
    off = (size_t)snprintf(p, cap, "%s", head);
    while (n) {
        size_t k = n < step ? n : step;

        off += (size_t)snprintf(p + off, cap - off, "%zx\r\n", k);
        memset(p + off, 'c', k);
        off += k;
        memcpy(p + off, "\r\n", 2);
        off += 2;
        n -= k;
    }
    if (end)
        off += (size_t)snprintf(p + off, cap - off, "0\r\n\r\n");
    *len = off;
    return p;
}

static void test_oversized_chunked_body_413(void **state)
{
    struct echo *e = echo_start(0, 2);
    const char *head = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    const char *head_expect = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                              "Expect: 100-continue\r\n\r\n";
    char *req, *raw;
    bool closed;
    size_t len;

    (void)state;
    /* Just over the limit, complete. */
    req = chunked_body(head, (1u << 20) + 1, true, &len);
    closed = false;
    raw = raw_send_recv(http_server_port(e->srv), req, len, &closed);
    expect_413_closed("chunked, just over", raw, closed);
    free(raw);
    free(req);
    /* Far over the limit (a client that keeps streaming and never ends). */
    req = chunked_body(head, 100u << 20, false, &len);
    closed = false;
    raw = raw_send_recv(http_server_port(e->srv), req, len, &closed);
    expect_413_closed("chunked, streaming", raw, closed);
    free(raw);
    free(req);
    /* After a 100 Continue, the 413 is the final answer. */
    req = chunked_body(head_expect, 5u << 20, true, &len);
    closed = false;
    raw = raw_send_recv(http_server_port(e->srv), req, len, &closed);
    if (strncmp(raw, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 413 ", 38) != 0)
        fail_msg("chunked after 100-continue: %.300s", raw);
    assert_non_null(strstr(raw, "{\"error\":\"request body too large\",\"limit\":1048576}"));
    assert_true(closed);
    free(raw);
    free(req);
    assert_int_equal(atomic_load(&e->calls), 0);
    echo_stop(e);
}

static void test_keepalive_with_bodies(void **state)
{
    struct echo *e = echo_start(0, 2);
    char *raw;
    bool closed = false;
    const char *req = "POST /one HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
                      "POST /two HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nworld\r\n0\r\n\r\n"
                      "GET /three HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

    (void)state;
    raw = raw_send_recv(http_server_port(e->srv), req, strlen(req), &closed);
    assert_int_equal(count_of(raw, "HTTP/1.1 201"), 3);
    assert_non_null(strstr(raw, "\"path\":\"/one\""));
    assert_non_null(strstr(raw, "\"body\":\"hello\""));
    assert_non_null(strstr(raw, "\"body\":\"world\""));
    assert_non_null(strstr(raw, "\"path\":\"/three\""));
    assert_int_equal(count_of(raw, "Connection: close"), 1);
    assert_true(closed);
    free(raw);
    assert_int_equal(atomic_load(&e->calls), 3);
    echo_stop(e);
}

static void test_resp_header_validation(void **state)
{
    struct http_resp r;
    char name[32];
    int i;

    (void)state;
    memset(&r, 0, sizeof r);
    buf_init(&r.body, BUF_CAP_HTTP_RESPONSE);
    assert_int_equal(http_resp_header(&r, "X-Ok", "fine value"), 0);
    assert_string_equal(r.headers[0], "X-Ok: fine value");
    assert_int_equal(http_resp_header(&r, "Bad Name", "v"), IDF_EINVAL);
    assert_int_equal(http_resp_header(&r, "", "v"), IDF_EINVAL);
    assert_int_equal(http_resp_header(&r, "X-Split", "a\r\nSet-Cookie: x=1"), IDF_EINVAL);
    for (i = 1; i < HTTP_MAX_HEADERS; i++) {
        snprintf(name, sizeof name, "X-H%d", i);
        assert_int_equal(http_resp_header(&r, name, "v"), 0);
    }
    assert_int_equal(http_resp_header(&r, "X-One-Too-Many", "v"), IDF_ETOOBIG);
    assert_int_equal(r.n_headers, HTTP_MAX_HEADERS);
    for (i = 0; i < r.n_headers; i++)
        free(r.headers[i]);
    /* json and text helpers set status, type and body. */
    http_resp_json(&r, 404, json_pack("{s:s}", "error", "nope"));
    assert_int_equal(r.status, 404);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body.data, "{\"error\":\"nope\"}");
    http_resp_json(&r, 204, NULL);
    assert_int_equal(r.body.len, 0);
    http_resp_text(&r, 200, "text/html", "<p>hi</p>");
    assert_string_equal(r.content_type, "text/html");
    assert_string_equal(r.body.data, "<p>hi</p>");
    buf_free(&r.body);
}

/* ---------------------------------------------------------------- support code */

static void test_testsrv_script_and_records(void **state)
{
    struct testsrv *s = testsrv_start();
    struct testsrv_answer ok = {200, "{\"ok\":true}", NULL, {"X-Seq: 1"}};
    const char *hdrs[] = {"Content-Type: application/json", "X-Trace: abc", NULL};
    char url[128], *body = NULL;
    long status = 0;
    json_t *rec, *b;
    int i;

    (void)state;
    testsrv_fail_first(s, "/api/v1/users", 2, 503, NULL);
    testsrv_on(s, "/api/v1/users", &ok, -1);
    snprintf(url, sizeof url, "%s/api/v1/users?limit=2", testsrv_url(s));
    for (i = 0; i < 2; i++) {
        assert_int_equal(tu_http("POST", url, "{\"n\":1}", hdrs, &status, &body), 0);
        assert_int_equal(status, 503);
        free(body);
    }
    for (i = 0; i < 2; i++) {
        assert_int_equal(tu_http("POST", url, "{\"n\":2}", hdrs, &status, &body), 0);
        assert_int_equal(status, 200);
        assert_string_equal(body, "{\"ok\":true}");
        free(body);
    }
    /* Other paths get the default. */
    snprintf(url, sizeof url, "%s/other", testsrv_url(s));
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &body), 0);
    assert_int_equal(status, 200);
    assert_string_equal(body, "{}");
    free(body);

    assert_int_equal(testsrv_wait_calls(s, "/api/v1/users", 4, 2000), 0);
    assert_int_equal(testsrv_wait_calls(s, "/api/v1/users", 5, 50), IDF_ETIMEOUT);
    assert_int_equal(testsrv_calls(s, "/api/*"), 4);
    assert_int_equal(testsrv_calls(s, NULL), 5);
    rec = testsrv_request(s, "/api/v1/users", -1);
    assert_non_null(rec);
    assert_string_equal(jstr(rec, "method"), "POST");
    assert_string_equal(jstr(rec, "query"), "limit=2");
    assert_string_equal(testsrv_req_header(rec, "X-Trace"), "abc");
    assert_string_equal(testsrv_req_header(rec, "user-agent"), "idflow/0.1");
    b = testsrv_req_json(rec);
    assert_int_equal(json_integer_value(json_object_get(b, "n")), 2);
    json_decref(b);
    json_decref(rec);
    rec = testsrv_request(s, NULL, 0);
    b = testsrv_req_json(rec);
    assert_int_equal(json_integer_value(json_object_get(b, "n")), 1);
    json_decref(b);
    json_decref(rec);
    assert_null(testsrv_request(s, "/nope", 0));

    testsrv_reset(s);
    assert_int_equal(testsrv_calls(s, NULL), 0);
    snprintf(url, sizeof url, "%s/", testsrv_url(s));
    assert_int_equal(tu_wait_http_ok(url, 2000), 0);
    testsrv_stop(s);
}

static void test_testutil_processes_and_files(void **state)
{
    const char *argv_sh[] = {"sh", "-c", "echo \"out:$TU_X\"; echo err >&2; exit 3", NULL};
    const char *env[] = {"TU_X=42", NULL};
    const char *argv_sleep[] = {"sleep", "30", NULL};
    struct tu_proc p;
    char *dir = tu_mktemp_dir(), *f, *s;
    struct stat st;

    (void)state;
    assert_non_null(dir);
    f = tu_path(dir, "a.txt");
    assert_int_equal(tu_write_file(f, "hello"), 0);
    s = tu_read_file(f, NULL);
    assert_string_equal(s, "hello");
    free(s);
    free(f);
    assert_int_equal(tu_rm_rf(dir), 0);
    assert_int_equal(stat(dir, &st), -1);
    free(dir);

    assert_int_equal(tu_spawn(argv_sh, env, &p), 0);
    assert_int_equal(tu_wait(&p, 5000), 3);
    s = tu_proc_stdout(&p);
    assert_string_equal(s, "out:42\n");
    free(s);
    s = tu_proc_stderr(&p);
    assert_string_equal(s, "err\n");
    free(s);
    tu_proc_cleanup(&p);

    assert_int_equal(tu_spawn(argv_sleep, NULL, &p), 0);
    assert_int_equal(tu_wait(&p, 50), -1); /* still running */
    assert_int_equal(tu_kill(&p, SIGTERM), 0);
    assert_int_equal(tu_wait(&p, 5000), 128 + SIGTERM);
    tu_proc_cleanup(&p);
    assert_true(tu_free_port() > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_query_and_paths),
        cmocka_unit_test(test_post_json_and_headers),
        cmocka_unit_test(test_body_too_large_413),
        cmocka_unit_test(test_has_content_length),
        cmocka_unit_test(test_server_keepalive_and_head_options),
        cmocka_unit_test(test_port_taken),
        cmocka_unit_test(test_keepalive_reuse),
        cmocka_unit_test(test_redirect_not_followed),
        cmocka_unit_test(test_repeated_headers_joined),
        cmocka_unit_test(test_response_cap),
        cmocka_unit_test(test_timeout_and_server_stays_responsive),
        cmocka_unit_test(test_drop_gives_eio),
        cmocka_unit_test(test_network_error_hides_headers),
        cmocka_unit_test(test_https_only),
        cmocka_unit_test(test_loopback_detection),
        cmocka_unit_test(test_urlencode),
        cmocka_unit_test(test_stop_with_parked_request),
        cmocka_unit_test(test_ipv6_and_port_released_on_stop),
        cmocka_unit_test(test_too_large_chunked_and_expect),
        cmocka_unit_test(test_smuggling_cl_and_te),
        cmocka_unit_test(test_smuggling_two_content_lengths),
        cmocka_unit_test(test_bad_transfer_encoding),
        cmocka_unit_test(test_oversized_declared_body_413),
        cmocka_unit_test(test_oversized_chunked_body_413),
        cmocka_unit_test(test_keepalive_with_bodies),
        cmocka_unit_test(test_resp_header_validation),
        cmocka_unit_test(test_testsrv_script_and_records),
        cmocka_unit_test(test_testutil_processes_and_files),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_api_thread.c — the HTTP threads' store connections (src/api/thread.c):
 * one per thread, whatever the thread serves (the API and /hooks/ alike), and
 * none left once the server stopped, however often it is started again.
 *
 * Each test runs the real `serve` handler (api_handle) in an http_server on
 * 127.0.0.1:0, in this process, on a fresh SQLite file; requests go over
 * loopback. It counts the store's open connections (store_connections_open)
 * and this process's file descriptors (/proc/self/fd) before and after. No
 * engine is needed: the routes used read the store only (GET /api/v1/runs)
 * or stop before the engine (a hook for a connection that does not exist). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/buf.h"
#include "net/http.h"
#include "store/store.h"
#include "support/testutil.h"

#define CYCLES 6   /* server starts and stops in the leak test */
#define REQUESTS 8 /* requests a cycle sends: enough to reach several pool threads */

struct fx {
    char *dir;
    char db[1024];
    struct api api;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct store *st = NULL;
    struct idf_err err;

    if (!f || !(f->dir = tu_mktemp_dir()))
        return -1;
    snprintf(f->db, sizeof f->db, "sqlite:%s/idflow.db", f->dir);
    /* create the schema first, so the threads' opens below only open */
    if (store_open(f->db, &st, &err) != 0) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        return -1;
    }
    store_close(st);
    f->api.db_url = f->db;
    f->api.listen_addr = "127.0.0.1";
    atomic_init(&f->api.closed, false);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static struct http_server *start(struct fx *f, int threads, char *base, size_t n)
{
    struct http_server_opts so;
    struct http_server *srv = NULL;
    struct idf_err err;

    memset(&so, 0, sizeof so);
    so.addr = "127.0.0.1";
    so.port = 0;
    so.max_body = BUF_CAP_HTTP_BODY;
    so.threads = threads;
    so.handler = api_handle;
    so.ud = &f->api;
    if (http_server_start(&so, &srv, &err) != 0)
        fail_msg("http_server_start: %s", err.msg);
    snprintf(base, n, "http://127.0.0.1:%d", http_server_port(srv));
    return srv;
}

/* One request; asserts its status. */
static void call(const char *base, const char *method, const char *path, const char *body, long want)
{
    char url[256];
    long status = 0;

    snprintf(url, sizeof url, "%s%s", base, path);
    assert_int_equal(tu_http(method, url, body, NULL, &status, NULL), 0);
    assert_int_equal(status, want);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* A thread that serves both the API and a hook holds ONE store connection
 * (before: one for each, behind two pthread keys), and it is closed when
 * the server stops. */
static void test_one_connection_per_thread(void **state)
{
    struct fx *f = *state;
    char base[64];
    int before = store_connections_open();
    struct http_server *srv = start(f, 1, base, sizeof base);

    call(base, "GET", "/api/v1/runs", NULL, 200);
    assert_int_equal(store_connections_open(), before + 1);
    call(base, "POST", "/hooks/webhook/nosuch", "{}", 404); /* resolved through the thread's store */
    call(base, "GET", "/api/v1/runs", NULL, 200);
    assert_int_equal(store_connections_open(), before + 1);
    http_server_stop(srv);
    assert_int_equal(store_connections_open(), before);
}

/* Starting and stopping a server repeatedly leaves neither a store
 * connection nor a file descriptor behind: every pool thread's connection is
 * closed as the thread ends. */
static void test_start_stop_leaks_nothing(void **state)
{
    struct fx *f = *state;
    char base[64];
    struct http_server *srv;
    int conns0, fds0, peak = 0;

    /* one cycle first: libraries open what they keep for the process */
    srv = start(f, 4, base, sizeof base);
    call(base, "GET", "/api/v1/runs", NULL, 200);
    http_server_stop(srv);
    conns0 = store_connections_open();
    fds0 = count_fds();

    for (int c = 0; c < CYCLES; c++) {
        srv = start(f, 4, base, sizeof base);
        for (int i = 0; i < REQUESTS; i++) {
            if (i % 2)
                call(base, "POST", "/hooks/webhook/nosuch", "{}", 404);
            else
                call(base, "GET", "/api/v1/runs", NULL, 200);
        }
        if (store_connections_open() - conns0 > peak)
            peak = store_connections_open() - conns0;
        http_server_stop(srv);
        assert_int_equal(store_connections_open(), conns0);
    }
    assert_true(peak >= 1 && peak <= 4); /* at most one per pool thread */
    assert_int_equal(count_fds(), fds0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_connection_per_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_stop_leaks_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

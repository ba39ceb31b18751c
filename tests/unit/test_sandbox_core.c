/* test_sandbox_core.c — the sandbox core (src/sandbox/sandbox*.c) and the
 * Okta rate limits: budgets and headers, the concurrency limit, fault
 * injection, the call log, reset, the state dump, bad input, seeds and the
 * `idflow sandbox` entry point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>

#include "core/log.h"
#include "test_sandbox_common.h"

/* --------------------------------------------------------- rate limits */

static void test_rate_limit_headers_and_429(void **state)
{
    (void)state;
    struct sandbox_opts o = {.rate_limit = 5, .token_share = 100}; /* the org's budget: one token may spend it all */
    struct fx *f = fx_start_opts(NULL, o);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=1", NULL), 200);
        assert_string_equal(fx_header(f, "x-rate-limit-limit"), "5");
        assert_int_equal(atoi(fx_header(f, "x-rate-limit-remaining")), 4 - i);
    }
    long long reset = atoll(fx_header(f, "x-rate-limit-reset"));
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=1", NULL), 429);
    assert_okta_error(f, 429, "E0000047");
    assert_string_equal(jstr(f->json, "errorSummary"), "API call exceeded rate limit due to too many requests.");
    assert_string_equal(fx_header(f, "x-rate-limit-remaining"), "0");
    assert_int_equal(atoll(fx_header(f, "x-rate-limit-reset")), reset);
    long long now = time_now_ms() / 1000;
    assert_true(reset > now && reset <= now + 61);
    /* POST /users shares the bucket; other buckets have their own budget */
    assert_int_equal(ok_call(f, "POST", "/api/v1/users", "{}"), 429);
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups?limit=1", NULL), 200);
    assert_string_equal(fx_header(f, "x-rate-limit-remaining"), "4");
    assert_int_equal(ok_call(f, "GET", "/api/v1/users/me", NULL), 200); /* GET users/{id}: another bucket */
    /* a reset restores the budget */
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/reset", NULL, NULL), 200);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=1", NULL), 200);
    /* a bucket can be tuned alone */
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", "{\"buckets\": {\"/api/v1/logs\": 1}}", NULL), 200);
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs", NULL), 200);
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs", NULL), 429);
    fx_stop(f);
}

/* One API token may use token_share % (default 50, Okta's default) of each
 * bucket per window: past it, 429 E0000047 while the headers still show the
 * org-wide figures; requests without a valid credential count org-wide
 * only; the share is a knob of /_sandbox/okta/config. */
static void test_token_share(void **state)
{
    (void)state;
    struct sandbox_opts o = {.rate_limit = 10};
    struct fx *f = fx_start_opts(NULL, o);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=1", NULL), 200);
        assert_string_equal(fx_header(f, "x-rate-limit-limit"), "10");
        assert_int_equal(atoi(fx_header(f, "x-rate-limit-remaining")), 9 - i);
    }
    long long reset = atoll(fx_header(f, "x-rate-limit-reset"));
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=1", NULL), 429);
    assert_okta_error(f, 429, "E0000047");
    /* the org-wide figures: half the bucket is still there, for others */
    assert_string_equal(fx_header(f, "x-rate-limit-limit"), "10");
    assert_string_equal(fx_header(f, "x-rate-limit-remaining"), "5");
    assert_int_equal(atoll(fx_header(f, "x-rate-limit-reset")), reset);
    /* the token's refused calls are not counted; another caller's are */
    const char *bad[] = {"Authorization: SSWS not-the-token", NULL};
    assert_int_equal(fx_raw(f, "GET", "/api/v1/users?limit=1", NULL, bad), 401);
    assert_string_equal(fx_header(f, "x-rate-limit-remaining"), "4");
    /* other buckets: the token's own share of each */
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups?limit=1", NULL), 200);
    assert_string_equal(fx_header(f, "x-rate-limit-remaining"), "9");
    /* the share is a knob; a bad value is refused and changes nothing */
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", "{\"tokenShare\": 0}", NULL), 400);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", "{\"tokenShare\": 101}", NULL), 400);
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/okta/config", NULL, NULL), 200);
    assert_int_equal(json_integer_value(json_object_get(f->json, "tokenShare")), 50);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", "{\"tokenShare\": 20, \"rateLimit\": 10}", NULL),
                     200);
    assert_int_equal(json_integer_value(json_object_get(f->json, "tokenShare")), 20);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=1", NULL), 200);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=1", NULL), 429);
    assert_string_equal(fx_header(f, "x-rate-limit-remaining"), "8");
    fx_stop(f);
}

static void test_default_budgets(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct {
        const char *method, *path, *limit;
    } want[] = {
        {"GET", "/api/v1/users", "600"},       {"GET", "/api/v1/users/me", "2000"},
        {"GET", "/api/v1/groups", "500"},      {"GET", "/api/v1/apps", "100"},
        {"GET", "/api/v1/logs", "120"},        {"GET", "/api/v1/eventHooks", "1200"},
        {"GET", "/api/v1/users/me/groups", "600"}, /* GET on a users sub-path: the /api/v1/users bucket */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(ok_call(f, want[i].method, want[i].path, NULL), 200);
        assert_string_equal(fx_header(f, "x-rate-limit-limit"), want[i].limit);
    }
    fx_stop(f);
}

struct par {
    struct fx *f;
    long status;
    char limit[16];
};

static void *par_call(void *arg)
{
    struct par *p = arg;
    struct http_client *c = NULL;
    struct http_response r = {0};
    struct idf_err err = {0};
    char url[128];
    const char *h[] = {SSWS, NULL};
    snprintf(url, sizeof url, "%s/api/v1/groups?limit=1", p->f->base);
    struct http_request rq = {.method = "GET", .url = url, .headers = h, .timeout_ms = 10000};
    if (http_client_new(&c) == 0 && http_client_do(c, &rq, &r, &err) == 0) {
        p->status = r.status;
        snprintf(p->limit, sizeof p->limit, "%s",
                 json_string_value(json_object_get(r.headers, "x-rate-limit-limit")) ?: "");
    }
    http_response_free(&r);
    http_client_free(c);
    return NULL;
}

static void test_concurrency_limit(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", "{\"concurrencyLimit\": 2}", NULL), 200);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/faults", "{\"path\": \"/api/v1/groups\", \"latency_ms\": 1500}",
                            NULL),
                     200);
    struct par p[3] = {{f, 0, ""}, {f, 0, ""}, {f, 0, ""}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, par_call, &p[i]), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    int ok = 0, limited = 0;
    for (int i = 0; i < 3; i++) {
        if (p[i].status == 200)
            ok++;
        if (p[i].status == 429) {
            limited++;
            assert_string_equal(p[i].limit, "0"); /* Okta's concurrency answer */
        }
    }
    assert_int_equal(ok, 2);
    assert_int_equal(limited, 1);
    fx_stop(f);
}

/* ------------------------------------------------------------- faults */

static void test_faults_admin_endpoint(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    /* two 503s on users, then normal */
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/faults",
                            "{\"rules\": [{\"path\": \"/api/v1/users\", \"error_rate\": 1, \"status\": 503, "
                            "\"count\": 2}]}",
                            NULL),
                     200);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users", NULL), 503);
    assert_okta_error(f, 503, "E0000009");
    assert_int_equal(ok_call(f, "GET", "/api/v1/users", NULL), 503);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users", NULL), 200);
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups", NULL), 200); /* other prefixes untouched */
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/faults", NULL, NULL), 200);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(f->json, "rules"), 0), "fired")),
                     2);

    /* a 429 burst looks like Okta's */
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/faults", "{\"path\": \"/api/v1/\", \"burst_429\": 2}", NULL), 200);
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups", NULL), 429);
    assert_okta_error(f, 429, "E0000047");
    assert_string_equal(fx_header(f, "x-rate-limit-remaining"), "0");
    assert_non_null(fx_header(f, "x-rate-limit-reset"));
    assert_int_equal(ok_call(f, "GET", "/api/v1/apps", NULL), 429);
    assert_int_equal(ok_call(f, "GET", "/api/v1/apps", NULL), 200);

    /* dropped connections: the client sees a network error */
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/faults", "{\"path\": \"/api/v1/logs\", \"drop_rate\": 1.0}", NULL),
                     200);
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs", NULL), -1);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=1", NULL), 200); /* still serving */

    /* latency, by method */
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/faults",
                            "{\"path\": \"/api/v1/users\", \"method\": \"GET\", \"latency\": \"300ms\"}", NULL),
                     200);
    int64_t t0 = tu_now_ms();
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=1", NULL), 200);
    assert_true(tu_now_ms() - t0 >= 290);
    t0 = tu_now_ms();
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups?limit=1", NULL), 200);
    assert_true(tu_now_ms() - t0 < 290);

    /* HappyFox paths get HappyFox-shaped errors */
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/faults", "{\"path\": \"/api/1.1/json/\", \"error_rate\": 1}", NULL),
                     200);
    assert_int_equal(fx_raw(f, "GET", "/api/1.1/json/categories/", NULL, NULL), 500);
    assert_non_null(jstr(f->json, "error"));

    /* bad rules are refused and change nothing */
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/faults", "{\"path\": \"x\", \"error_rate\": 2}", NULL), 400);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/faults", "{\"spec\": \"error_rate=0.5,status=200\"}", NULL), 400);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/faults", "{\"path\": \"/\", \"bogus\": 1}", NULL), 400);
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/faults", NULL, NULL), 200);
    assert_string_equal(jstr(f->json, "rules.0.path"), "/api/1.1/json/");
    assert_int_equal(fx_raw(f, "DELETE", "/_sandbox/faults", NULL, NULL), 204);
    assert_int_equal(fx_raw(f, "GET", "/api/1.1/json/categories/", NULL, NULL), 401); /* no HappyFox auth here */
    fx_stop(f);
}

static void test_faults_from_command_line(void **state)
{
    (void)state;
    struct sandbox_opts o = {.faults = "path=/api/v1/groups,error_rate=1,status=502,count=1; "
                                       "path=/api/v1/apps,latency=200ms"};
    struct fx *f = fx_start_opts(NULL, o);
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups", NULL), 502);
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups", NULL), 200);
    int64_t t0 = tu_now_ms();
    assert_int_equal(ok_call(f, "GET", "/api/v1/apps", NULL), 200);
    assert_true(tu_now_ms() - t0 >= 190);
    fx_stop(f);

    struct sandbox *sb = NULL;
    struct idf_err err = {0};
    struct sandbox_opts bad = {.addr = "127.0.0.1", .faults = "path=/x,error_rate=abc"};
    assert_int_not_equal(sandbox_start(&bad, &sb, &err), 0);
    assert_null(sb);
    assert_non_null(strstr(err.msg, "--faults"));
    bad.faults = "latency=forever";
    assert_int_not_equal(sandbox_start(&bad, &sb, &err), 0);
    bad.faults = "nonsense";
    assert_int_not_equal(sandbox_start(&bad, &sb, &err), 0);
}

/* ------------------------------------------- call log, reset, state */

static void test_call_log_reset_and_state(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=2", NULL), 200);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users?activate=false",
                             "{\"profile\":{\"login\":\"log@acme.example\",\"email\":\"log@acme.example\","
                             "\"firstName\":\"L\",\"lastName\":\"G\"}}"),
                     200);
    assert_int_equal(ok_call(f, "GET", "/api/v1/nope", NULL), 404);
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/calls", NULL, NULL), 200);
    json_t *calls = json_incref(json_object_get(f->json, "calls"));
    assert_int_equal(json_array_size(calls), 3); /* admin calls are not recorded */
    assert_string_equal(jstr(calls, "0.method"), "GET");
    assert_string_equal(jstr(calls, "0.path"), "/api/v1/users");
    assert_string_equal(jstr(calls, "0.query"), "limit=2");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(calls, 0), "status")), 200);
    assert_non_null(jstr(calls, "0.at"));
    assert_string_equal(jstr(calls, "1.method"), "POST");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(calls, 2), "status")), 404);
    json_int_t seq1 = json_integer_value(json_object_get(json_array_get(calls, 1), "seq"));
    json_decref(calls);
    char path[128];
    snprintf(path, sizeof path, "/_sandbox/calls?since=%lld", (long long)seq1);
    assert_int_equal(fx_raw(f, "GET", path, NULL, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(f->json, "calls")), 1);
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/calls?path=/api/v1/users", NULL, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(f->json, "calls")), 2);

    /* state dump: both halves */
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/state", NULL, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(json_object_get(f->json, "okta"), "users")), 39);
    assert_non_null(json_object_get(f->json, "happyfox"));
    assert_int_equal(json_integer_value(json_object_get(f->json, "calls")), 3);

    /* reset: back to the seed, logs cleared */
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/reset", NULL, NULL), 200);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users/log%40acme.example", NULL), 404);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users/maria.gonzalez%40acme.example", NULL), 200);
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?until=2999-01-01T00:00:00Z", NULL), 200);
    assert_int_equal(json_array_size(f->json), 0);
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/calls", NULL, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(f->json, "calls")), 3);
    assert_int_equal(fx_raw(f, "DELETE", "/_sandbox/calls", NULL, NULL), 204);
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/calls", NULL, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(f->json, "calls")), 0);

    /* reset with another seed; a bad one is refused and changes nothing */
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/reset",
                            "{\"seed\": {\"okta\": {\"users\": [{\"status\": \"ACTIVE\", \"profile\": {\"login\": "
                            "\"solo@x.example\", \"email\": \"solo@x.example\", \"firstName\": \"S\", \"lastName\": "
                            "\"O\"}}]}}}",
                            NULL),
                     200);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users", NULL), 200);
    assert_int_equal(json_array_size(f->json), 1);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/reset", "{\"seed\": {\"okta\": {\"users\": [{\"status\": \"HAPPY\"}]}}}",
                            NULL),
                     400);
    assert_non_null(strstr(jstr(f->json, "error"), "okta.users[0]"));
    assert_int_equal(ok_call(f, "GET", "/api/v1/users", NULL), 200);
    assert_int_equal(json_array_size(f->json), 1);
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/seed", NULL, NULL), 200);
    assert_string_equal(jstr(f->json, "okta.users.0.profile.login"), "solo@x.example");
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/nothing", NULL, NULL), 404);
    assert_int_equal(fx_raw(f, "GET", "/", NULL, NULL), 404);
    fx_stop(f);
}

/* ------------------------------------------------------------ bad input */

static void test_bad_input_keeps_serving(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    const char *bodies[] = {"{", "[]", "\"str\"", "{\"profile\": [1]}", "{\"profile\": {\"login\": {}}}",
                            "{\"a\":1,\"a\":2}", "\x01\x02", NULL};
    const long want[] = {400, 400, 400, 400, 400, 400, 400};
    const char *codes[] = {"E0000003", "E0000003", "E0000003", "E0000003", "E0000001", "E0000003", "E0000003"};
    for (int i = 0; bodies[i]; i++) {
        assert_int_equal(ok_call(f, "POST", "/api/v1/users", bodies[i]), want[i]);
        assert_okta_error(f, want[i], codes[i]);
    }
    /* deep nesting */
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(buf_puts(&b, "["), 0);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users", b.data), 400);
    buf_free(&b);
    /* an oversized body: 2 MiB -> 413 from the Okta half */
    size_t big = 2u << 20;
    char *huge = malloc(big + 1);
    memset(huge, 'a', big);
    huge[0] = '"';
    huge[big - 1] = '"';
    huge[big] = '\0';
    assert_int_equal(ok_call(f, "POST", "/api/v1/users", huge), 413);
    assert_okta_error(f, 413, "E0000001");
    free(huge);
    /* bigger than the listener accepts: refused before any handler */
    big = 5u << 20;
    huge = malloc(big + 1);
    memset(huge, 'b', big);
    huge[big] = '\0';
    long st = ok_call(f, "POST", "/api/v1/users", huge);
    assert_true(st == 413 || st == -1);
    free(huge);
    /* a 4-byte UTF-8 character in a profile */
    assert_int_equal(ok_call(f, "POST", "/api/v1/users",
                             "{\"profile\":{\"login\":\"emoji@acme.example\",\"email\":\"emoji@acme.example\","
                             "\"firstName\":\"Smile \xF0\x9F\x98\x80\",\"lastName\":\"B\"}}"),
                     400);
    assert_okta_error(f, 400, "E0000001");
    /* still serving */
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=1", NULL), 200);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/faults", "{not json", NULL), 400);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/reset", "[1]", NULL), 400);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=1", NULL), 200);
    fx_stop(f);
}

/* --------------------------------------------------------------- seeds */

static void test_seed_files(void **state)
{
    (void)state;
    struct sandbox *sb = NULL;
    struct idf_err err = {0};
    char *dir = tu_mktemp_dir();
    char *p = tu_path(dir, "seed.json");
    struct sandbox_opts o = {.addr = "127.0.0.1", .seed_path = p};

    assert_int_equal(tu_write_file(p, "{\"okta\": {\"users\": [ {\"profile\": 1} ]}}"), 0);
    assert_int_not_equal(sandbox_start(&o, &sb, &err), 0);
    assert_non_null(strstr(err.msg, "okta.users[0]"));
    assert_int_equal(tu_write_file(p, "{\"okta\": "), 0);
    assert_int_equal(sandbox_start(&o, &sb, &err), IDF_EPARSE);
    assert_non_null(strstr(err.msg, "seed.json:"));
    assert_int_equal(tu_write_file(p, "{\"okta\": {\"groups\": [{\"profile\": {\"name\": \"G\"}, \"members\": "
                                      "[\"ghost@x.example\"]}]}}"),
                     0);
    assert_int_not_equal(sandbox_start(&o, &sb, &err), 0);
    assert_non_null(strstr(err.msg, "ghost@x.example"));
    o.seed_path = "/nonexistent/seed.json";
    assert_int_equal(sandbox_start(&o, &sb, &err), IDF_EIO);
    assert_null(sb);

    /* the embedded seed is valid JSON with both halves */
    json_t *seed = json_loads(sandbox_default_seed(), 0, NULL);
    assert_non_null(seed);
    assert_true(json_array_size(json_object_get(json_object_get(seed, "okta"), "users")) >= 30);
    assert_int_equal(json_array_size(json_object_get(json_object_get(seed, "happyfox"), "tickets")), 0);
    assert_int_equal(json_array_size(json_object_get(json_object_get(seed, "happyfox"), "statuses")), 5);
    json_decref(seed);

    /* the port is taken */
    struct fx *f = fx_start();
    struct sandbox_opts same = {.addr = "127.0.0.1", .port = sandbox_port(f->sb)};
    assert_int_not_equal(sandbox_start(&same, &sb, &err), 0);
    assert_null(sb);
    fx_stop(f);
    tu_rm_rf(dir);
    free(dir);
    free(p);
}

/* ------------------------------------------------------------------ CLI */

static void test_cli_usage_errors(void **state)
{
    (void)state;
    char *bad[][4] = {
        {"sandbox", "--listen", "nowhere:port", NULL},
        {"sandbox", "--rate-limit", "0", NULL},
        {"sandbox", "--bogus", "1", NULL},
        {"sandbox", "--seed", NULL, NULL},
        {"sandbox", "stray", NULL, NULL},
        {"sandbox", "--token", "", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int argc = 0;
        while (bad[i][argc])
            argc++;
        assert_int_equal(sandbox_main(argc, bad[i]), 2);
    }
    char *help[] = {"sandbox", "--help", NULL};
    assert_int_equal(sandbox_main(2, help), 0);
    char *noseed[] = {"sandbox", "--listen", "127.0.0.1:0", "--seed", "/nonexistent.json", NULL};
    assert_int_equal(sandbox_main(5, noseed), 1);
}

struct cli_run {
    int rc;
    char *argv[8];
};

static void *cli_thread(void *arg)
{
    struct cli_run *r = arg;
    r->rc = sandbox_main(7, r->argv);
    return NULL;
}

static void test_cli_serves_until_signal(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    log_set_fd(fds[1]);
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &s, &old); /* only the CLI thread takes SIGTERM, by sigwait */
    struct cli_run r = {.argv = {"sandbox", "--listen", "127.0.0.1:0", "--token", "cli-token-xyz", "--rate-limit",
                                 "77", NULL}};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cli_thread, &r), 0);
    char line[2048] = {0};
    size_t n = 0;
    while (n < sizeof line - 1 && !strchr(line, '\n')) {
        ssize_t k = read(fds[0], line + n, sizeof line - 1 - n);
        assert_true(k > 0);
        n += (size_t)k;
    }
    json_t *l = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(l);
    const char *url = jstr(l, "url");
    assert_non_null(url);
    assert_non_null(strstr(jstr(l, "okta"), "/api/v1"));
    assert_null(strstr(line, "cli-token-xyz"));
    char full[256];
    long status = 0;
    snprintf(full, sizeof full, "%s/api/v1/users?limit=1", url);
    const char *h[] = {"Authorization: SSWS cli-token-xyz", NULL};
    char *body = NULL;
    assert_int_equal(tu_http("GET", full, NULL, h, &status, &body), 0);
    assert_int_equal(status, 200);
    free(body);
    json_decref(l);
    pthread_kill(t, SIGTERM);
    pthread_join(t, NULL);
    assert_int_equal(r.rc, 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    log_set_fd(2);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_limit_headers_and_429),
        cmocka_unit_test(test_token_share),
        cmocka_unit_test(test_default_budgets),
        cmocka_unit_test(test_concurrency_limit),
        cmocka_unit_test(test_faults_admin_endpoint),
        cmocka_unit_test(test_faults_from_command_line),
        cmocka_unit_test(test_call_log_reset_and_state),
        cmocka_unit_test(test_bad_input_keeps_serving),
        cmocka_unit_test(test_seed_files),
        cmocka_unit_test(test_cli_usage_errors),
        cmocka_unit_test(test_cli_serves_until_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

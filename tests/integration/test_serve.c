/* test_serve.c — drives a real `idflow serve` on loopback: manual events
 * through the API, foreach/if/retry against a recording loopback server,
 * delay, approval, rerun, deduplication, bad input, and the CLI's validate,
 * runs, show and dry-run, and the master key not left in a running serve's
 * /proc/PID/environ. The crash test lives in test_crash.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/serve_fixture.h"
#include "support/testsrv.h"

struct env {
    struct testsrv *target; /* the loopback API the workflows call */
};

static struct env E;
static struct sfx F = {.no_sandbox = true}; /* serve alone, on the workflows of tests/data/serve */

static int start_serve(void **state)
{
    char wfdir[600];
    (void)state;
    if (sfx_start(&F, NULL))
        return -1;
    if (!F.src) {
        fprintf(stderr, "IDFLOW_SRC must be set (make test sets it)\n");
        return -1;
    }
    E.target = testsrv_start();
    snprintf(wfdir, sizeof wfdir, "%s/tests/data/serve", F.src);
    return sfx_serve_start(&F, wfdir, (const char *[]){"--workers", "4", NULL});
}

static int stop_serve(void **state)
{
    (void)state;
    sfx_stop(&F); /* stops serve if a test failed before serve_exits_cleanly */
    testsrv_stop(E.target);
    return 0;
}

/* Last: SIGTERM ends serve cleanly (status 0; under ASan a leak or an error
 * report would make it non-zero). */
static void serve_exits_cleanly(void **state)
{
    (void)state;
    assert_int_equal(sfx_serve_stop(&F), 0);
}

/* POSTs an event; returns the HTTP status and the parsed answer in *out. */
static long post_event(const char *body, json_t **out)
{
    char url[200], *resp = NULL;
    long status = 0;
    const char *h[] = {"Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "%s/api/v1/events", F.base);
    assert_int_equal(tu_http("POST", url, body, h, &status, &resp), 0);
    if (out)
        *out = resp ? json_loads(resp, 0, NULL) : NULL;
    free(resp);
    return status;
}

static int64_t start_run(const char *workflow, const char *data_fmt, ...)
{
    char data[4096], body[8192];
    va_list ap;
    json_t *ans = NULL;
    int64_t id;
    va_start(ap, data_fmt);
    vsnprintf(data, sizeof data, data_fmt, ap);
    va_end(ap);
    snprintf(body, sizeof body, "{\"workflow\":\"%s\",\"data\":%s}", workflow, data);
    assert_int_equal(post_event(body, &ans), 202);
    assert_non_null(ans);
    assert_int_equal(json_array_size(json_object_get(ans, "run_ids")), 1);
    id = json_integer_value(json_array_get(json_object_get(ans, "run_ids"), 0));
    json_decref(ans);
    return id;
}

static json_t *get_run(int64_t id)
{
    char url[200], *resp = NULL;
    long status = 0;
    json_t *r;
    snprintf(url, sizeof url, "%s/api/v1/runs/%lld", F.base, (long long)id);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    r = json_loads(resp, 0, NULL);
    free(resp);
    assert_non_null(r);
    return r;
}

/* Polls the run until its status is `want` (or a final status); returns the run. */
static json_t *wait_run(int64_t id, const char *want, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        json_t *r = get_run(id);
        const char *st = json_string_value(json_object_get(r, "status"));
        if (strcmp(st, want) == 0)
            return r;
        if (tu_now_ms() > deadline || ((!strcmp(st, "succeeded") || !strcmp(st, "failed")) && strcmp(st, want))) {
            char *s = json_dumps(r, JSON_INDENT(1));
            fail_msg("run %lld is %s, expected %s:\n%s", (long long)id, st, want, s);
        }
        json_decref(r);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static json_t *step_of(json_t *run, const char *id, int item)
{
    size_t i;
    json_t *s;
    json_array_foreach (json_object_get(run, "steps"), i, s) {
        if (!strcmp(json_string_value(json_object_get(s, "step_id")), id) &&
            json_integer_value(json_object_get(s, "item")) == item)
            return s;
    }
    return NULL;
}

static void foreach_if_retry_against_a_flaky_server(void **state)
{
    json_t *run, *s, *req;
    int64_t id;
    (void)state;
    testsrv_reset(E.target);
    testsrv_fail_first(E.target, "/provision/alice", 2, 503, NULL);
    id = start_run("multi", "{\"base\":\"%s\",\"users\":[\"alice\",\"bob\"]}", testsrv_url(E.target));
    run = wait_run(id, "succeeded", 20000);
    /* alice: two 503s then success; bob: one call; skipped step never called */
    assert_int_equal(testsrv_calls(E.target, "/provision/alice"), 3);
    assert_int_equal(testsrv_calls(E.target, "/provision/bob"), 1);
    assert_int_equal(testsrv_calls(E.target, "/never"), 0);
    assert_int_equal(testsrv_calls(E.target, "/done"), 1);
    s = step_of(run, "each", 0);
    assert_non_null(s);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(s, "attempts")), 3);
    s = step_of(run, "skipped", -1);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "skipped");
    /* the last step saw the foreach output array */
    req = testsrv_request(E.target, "/done", -1);
    assert_non_null(strstr(json_string_value(json_object_get(req, "query")), "count=2"));
    assert_non_null(strstr(json_string_value(json_object_get(req, "query")), "first=200"));
    json_decref(req);
    req = testsrv_request(E.target, "/provision/bob", -1);
    {
        json_t *b = testsrv_req_json(req);
        /* whole-value templates keep their JSON type: the run id stays a number */
        assert_string_equal(json_string_value(json_object_get(b, "user")), "bob");
        assert_true(json_is_integer(json_object_get(b, "run")));
        assert_int_equal(json_integer_value(json_object_get(b, "run")), id);
        json_decref(b);
    }
    json_decref(req);
    json_decref(run);
}

static void retries_exhausted_fail_the_run_with_the_error(void **state)
{
    json_t *run, *s;
    int64_t id;
    (void)state;
    testsrv_reset(E.target);
    testsrv_fail_first(E.target, "/provision/carol", 10, 500, NULL);
    id = start_run("multi", "{\"base\":\"%s\",\"users\":[\"carol\"]}", testsrv_url(E.target));
    run = wait_run(id, "failed", 20000);
    assert_int_equal(testsrv_calls(E.target, "/provision/carol"), 5); /* retry.max = 5 attempts */
    assert_int_equal(testsrv_calls(E.target, "/done"), 0);
    assert_non_null(strstr(json_string_value(json_object_get(run, "error")), "HTTP 500"));
    s = step_of(run, "each", 0);
    assert_int_equal(json_integer_value(json_object_get(s, "attempts")), 5);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(json_object_get(s, "error"), "detail"), "status")), 500);
    json_decref(run);
}

/* A workflow without allow_private_network cannot reach loopback (idflow's
 * own API, the sandbox), whatever the spelling of the host: the step fails
 * at once, with the reason, and the engine does not retry it. */
static void private_destination_refused_without_opt_in(void **state)
{
    static const char *const hosts[] = {"127.0.0.1", "localhost", "2130706433"};
    (void)state;
    testsrv_reset(E.target);
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        char url[128], data[200];
        json_t *run, *s;
        const char *err;
        int64_t id;

        snprintf(url, sizeof url, "http://%s:%d/admin", hosts[i], testsrv_port(E.target));
        snprintf(data, sizeof data, "{\"url\":\"%s\"}", url);
        id = start_run("private-refused", "%s", data);
        run = wait_run(id, "failed", 10000);
        err = json_string_value(json_object_get(run, "error"));
        if (!err || !strstr(err, "is a loopback address; set allow_private_network: true in the workflow"))
            fail_msg("%s: unexpected error: %s", url, err ? err : "(none)");
        s = step_of(run, "call", -1);
        assert_non_null(s);
        assert_int_equal(json_integer_value(json_object_get(s, "attempts")), 1); /* retry: max 3, not used */
        json_decref(run);
    }
    assert_int_equal(testsrv_calls(E.target, NULL), 0);
}

static void delay_waits_durably_then_continues(void **state)
{
    json_t *run;
    int64_t id, t0 = tu_now_ms();
    (void)state;
    testsrv_reset(E.target);
    id = start_run("delayed", "{\"base\":\"%s\"}", testsrv_url(E.target));
    run = wait_run(id, "waiting", 5000);
    assert_int_equal(testsrv_calls(E.target, "/after-delay"), 0);
    json_decref(run);
    run = wait_run(id, "succeeded", 10000);
    assert_true(tu_now_ms() - t0 >= 1000);
    assert_int_equal(testsrv_calls(E.target, "/after-delay"), 1);
    json_decref(run);
}

static int run_cli(const char *const *args, char **out)
{
    struct tu_proc p;
    int rc;
    assert_int_equal(tu_spawn(args, NULL, &p), 0);
    rc = tu_wait(&p, 20000);
    if (out)
        *out = tu_proc_stdout(&p);
    if (rc != 0) {
        char *e = tu_proc_stderr(&p);
        fprintf(stderr, "cli stderr: %s\n", e);
        free(e);
    }
    tu_proc_cleanup(&p);
    return rc;
}

static void approval_approved_and_rejected(void **state)
{
    json_t *run;
    int64_t id, id2;
    char ids[32];
    (void)state;
    testsrv_reset(E.target);
    id = start_run("needs-approval", "{\"base\":\"%s\",\"user\":\"dave\"}", testsrv_url(E.target));
    run = wait_run(id, "waiting", 5000);
    json_decref(run);
    assert_int_equal(testsrv_calls(E.target, "/approved"), 0);
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    {
        const char *argv[] = {F.bin, "approve", ids, "--db", F.db, "--comment", "ok", NULL};
        assert_int_equal(run_cli(argv, NULL), 0);
        /* a second decision is refused */
        assert_int_equal(run_cli(argv, NULL), 1);
    }
    run = wait_run(id, "succeeded", 10000);
    assert_int_equal(testsrv_calls(E.target, "/approved"), 1);
    {
        json_t *req = testsrv_request(E.target, "/approved", -1);
        json_t *b = testsrv_req_json(req);
        assert_non_null(strstr(json_string_value(json_object_get(b, "by")), "cli:"));
        json_decref(b);
        json_decref(req);
    }
    json_decref(run);

    id2 = start_run("needs-approval", "{\"base\":\"%s\",\"user\":\"erin\"}", testsrv_url(E.target));
    json_decref(wait_run(id2, "waiting", 5000));
    {
        char url[200], *resp = NULL;
        long status = 0;
        snprintf(url, sizeof url, "%s/api/v1/runs/%lld/reject", F.base, (long long)id2);
        assert_int_equal(tu_http("POST", url, "{\"actor\":\"secops\"}", NULL, &status, &resp), 0);
        assert_int_equal(status, 200);
        free(resp);
    }
    run = wait_run(id2, "failed", 10000);
    assert_non_null(strstr(json_string_value(json_object_get(run, "error")),
                           "rejected by local:secops")); /* no token: the claimed name, marked local */
    assert_int_equal(testsrv_calls(E.target, "/approved"), 1);
    json_decref(run);
}

static void rerun_starts_from_the_failed_step(void **state)
{
    json_t *run, *ans = NULL;
    int64_t id, nid;
    char ids[32], *out = NULL, *p;
    struct testsrv_answer ok_one = {200, "{\"ref\":\"t-1\"}", NULL, {NULL}, 0, false};
    (void)state;
    testsrv_reset(E.target);
    testsrv_on(E.target, "/one", &ok_one, -1);
    testsrv_fail_first(E.target, "/two", 1, 400, "{\"error\":\"bad request\"}");
    id = start_run("two-steps", "{\"base\":\"%s\"}", testsrv_url(E.target));
    run = wait_run(id, "failed", 10000);
    json_decref(run);
    assert_int_equal(testsrv_calls(E.target, "/one"), 1);
    assert_int_equal(testsrv_calls(E.target, "/two"), 1); /* 400 is not retried */

    snprintf(ids, sizeof ids, "%lld", (long long)id);
    {
        const char *argv[] = {F.bin, "rerun", ids, "--db", F.db, NULL};
        assert_int_equal(run_cli(argv, &out), 0);
    }
    p = strstr(out, "run ");
    assert_non_null(p);
    nid = atoll(p + 4);
    free(out);
    assert_true(nid > id);
    run = wait_run(nid, "succeeded", 10000);
    assert_int_equal(json_integer_value(json_object_get(run, "rerun_of")), id);
    assert_int_equal(testsrv_calls(E.target, "/one"), 1); /* not called again */
    assert_int_equal(testsrv_calls(E.target, "/two"), 2);
    {
        json_t *req = testsrv_request(E.target, "/two", -1);
        json_t *b = testsrv_req_json(req);
        assert_string_equal(json_string_value(json_object_get(b, "from_one")), "t-1");
        json_decref(b);
        json_decref(req);
    }
    json_decref(run);
    /* a succeeded run cannot be rerun */
    {
        char nids[32];
        const char *argv[] = {F.bin, "rerun", nids, "--db", F.db, NULL};
        snprintf(nids, sizeof nids, "%lld", (long long)nid);
        assert_int_equal(run_cli(argv, NULL), 1);
    }
    /* issue 17 ("approvals-reruns"): a run is re-run once; show names its re-run */
    {
        char *err = NULL, want[80];
        snprintf(want, sizeof want, "already re-run as run #%lld", (long long)nid);
        assert_int_equal(tu_idflow_db(F.bin, F.db, NULL, &err, "rerun", ids, NULL), 1);
        assert_non_null(strstr(err, want));
        assert_non_null(strstr(err, "idflow rerun --force"));
        free(err);
        snprintf(want, sizeof want, "re-run as run %lld\n", (long long)nid);
        assert_int_equal(tu_idflow_db(F.bin, F.db, &out, NULL, "show", ids, NULL), 0);
        assert_non_null(strstr(out, want));
        free(out);
        assert_int_equal(tu_idflow_db(F.bin, F.db, &out, NULL, "show", ids, "--json", NULL), 0);
        run = json_loads(out, 0, NULL);
        assert_int_equal(json_integer_value(json_object_get(run, "rerun_as")), nid);
        assert_int_equal(json_array_size(json_object_get(run, "approvals")), 0);
        json_decref(run);
        free(out);
    }
    (void)ans;
}

static void duplicate_event_id_starts_nothing_new(void **state)
{
    json_t *a1 = NULL, *a2 = NULL;
    const char *body = "{\"workflow\":\"conditional\",\"id\":\"evt-42\",\"data\":{\"department\":\"Sales\"}}";
    (void)state;
    assert_int_equal(post_event(body, &a1), 202);
    assert_int_equal(json_array_size(json_object_get(a1, "run_ids")), 1);
    assert_int_equal(post_event(body, &a2), 200);
    assert_true(json_is_true(json_object_get(a2, "duplicate")));
    assert_int_equal(json_array_size(json_object_get(a2, "run_ids")), 0);
    assert_int_equal(json_integer_value(json_object_get(a1, "event_id")),
                     json_integer_value(json_object_get(a2, "event_id")));
    json_decref(a1);
    json_decref(a2);
}

static void conditions_decide_whether_a_run_starts(void **state)
{
    json_t *a = NULL;
    (void)state;
    assert_int_equal(post_event("{\"workflow\":\"conditional\",\"data\":{\"department\":\"Finance\"}}", &a), 202);
    assert_int_equal(json_array_size(json_object_get(a, "run_ids")), 0);
    json_decref(a);
    assert_int_equal(post_event("{\"workflow\":\"conditional\",\"data\":{}}", &a), 202);
    assert_int_equal(json_array_size(json_object_get(a, "run_ids")), 0);
    json_decref(a);
    assert_int_equal(post_event("{\"workflow\":\"conditional\",\"data\":{\"department\":\"Engineering\"}}", &a), 202);
    assert_int_equal(json_array_size(json_object_get(a, "run_ids")), 1);
    json_decref(a);
}

static int count_runs(void)
{
    char url[200], *resp = NULL;
    long status = 0;
    json_t *r;
    int n;
    snprintf(url, sizeof url, "%s/api/v1/runs?limit=1000", F.base);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    r = json_loads(resp, 0, NULL);
    free(resp);
    n = (int)json_array_size(json_object_get(r, "runs"));
    json_decref(r);
    return n;
}

static void bad_input_is_refused_and_changes_nothing(void **state)
{
    json_t *a = NULL;
    int before = count_runs();
    char *big;
    size_t n = 2u << 20;
    (void)state;

    assert_int_equal(post_event("{\"workflow\": \"multi\", \"data\": {", &a), 400);
    assert_non_null(strstr(json_string_value(json_object_get(a, "error")), "malformed JSON"));
    json_decref(a);
    assert_int_equal(post_event("[1,2]", &a), 400);
    json_decref(a);
    assert_int_equal(post_event("{\"data\":{}}", &a), 400);
    assert_non_null(strstr(json_string_value(json_object_get(a, "error")), "workflow"));
    json_decref(a);
    assert_int_equal(post_event("{\"workflow\":\"no-such-workflow\",\"data\":{}}", &a), 404);
    assert_non_null(strstr(json_string_value(json_object_get(a, "error")), "no-such-workflow"));
    json_decref(a);

    big = malloc(n + 64);
    memset(big, ' ', n + 63);
    memcpy(big, "{\"workflow\":\"multi\",\"data\":\"", 28);
    big[n + 62] = '}';
    big[n + 63] = '\0';
    big[n + 61] = '"';
    assert_int_equal(post_event(big, &a), 413);
    json_decref(a);
    free(big);

    assert_int_equal(count_runs(), before);
    /* and the server still serves */
    {
        char url[200];
        snprintf(url, sizeof url, "%s/healthz", F.base);
        assert_int_equal(tu_wait_http_ok(url, 2000), 0);
    }
}

static void cli_runs_show_and_metrics(void **state)
{
    char *out = NULL, url[200], *resp = NULL;
    long status = 0;
    (void)state;
    {
        const char *argv[] = {F.bin, "runs", "--db", F.db, "--status", "succeeded", NULL};
        assert_int_equal(run_cli(argv, &out), 0);
        assert_non_null(strstr(out, "multi"));
        assert_null(strstr(out, "failed "));
        free(out);
    }
    {
        const char *argv[] = {F.bin, "show", "1", "--db", F.db, NULL};
        assert_int_equal(run_cli(argv, &out), 0);
        assert_non_null(strstr(out, "run 1"));
        assert_non_null(strstr(out, "steps:"));
        free(out);
    }
    {
        const char *argv[] = {F.bin, "runs", "--db", F.db, "--status", "bogus", NULL};
        assert_int_equal(run_cli(argv, NULL), 2);
    }
    {
        /* retention: nothing here is 90 days old; a too-short age is a usage error */
        const char *argv[] = {F.bin, "prune", "--older-than", "90d", "--db", F.db, NULL};
        const char *bad[] = {F.bin, "prune", "--older-than", "5m", "--db", F.db, NULL};
        assert_int_equal(run_cli(argv, &out), 0);
        assert_non_null(strstr(out, "deleted 0 finished run(s)"));
        free(out);
        assert_int_equal(run_cli(bad, NULL), 2);
    }
    snprintf(url, sizeof url, "%s/metrics", F.base);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    assert_non_null(strstr(resp, "idflow_events_total "));
    assert_non_null(strstr(resp, "idflow_runs{status=\"succeeded\"}"));
    free(resp);
}

static void validate_reports_every_error_with_position(void **state)
{
    struct tu_proc p;
    char path[600], *err;
    (void)state;
    snprintf(path, sizeof path, "%s/tests/data/invalid-workflow.yaml", F.src);
    {
        const char *argv[] = {F.bin, "validate", path, NULL};
        assert_int_equal(tu_spawn(argv, NULL, &p), 0);
    }
    assert_int_equal(tu_wait(&p, 10000), 1);
    err = tu_proc_stderr(&p);
    /* unknown parameter, missing url, duplicate id, unknown action, bad jq, dangling reference */
    assert_non_null(strstr(err, "invalid-workflow.yaml:9:"));
    assert_non_null(strstr(err, "urll"));
    assert_non_null(strstr(err, "url"));
    assert_non_null(strstr(err, "okta.nope"));
    assert_non_null(strstr(err, "first"));
    assert_non_null(strstr(err, "later"));
    free(err);
    tu_proc_cleanup(&p);
    {
        char ok[600];
        const char *argv[] = {F.bin, "validate", ok, NULL};
        snprintf(ok, sizeof ok, "%s/tests/data/serve/multi.yaml", F.src);
        assert_int_equal(run_cli(argv, NULL), 0);
    }
}

static void dry_run_calls_nothing_and_prints_parameters(void **state)
{
    char wf[600], ev[600], *out = NULL, body[400];
    (void)state;
    testsrv_reset(E.target);
    snprintf(wf, sizeof wf, "%s/tests/data/serve/failing.yaml", F.src);
    snprintf(ev, sizeof ev, "%s/event.json", F.dir);
    snprintf(body, sizeof body, "{\"data\":{\"base\":\"%s\"}}", testsrv_url(E.target));
    assert_int_equal(tu_write_file(ev, body), 0);
    {
        const char *argv[] = {F.bin, "run", wf, "--event", ev, "--dry-run", NULL};
        assert_int_equal(run_cli(argv, &out), 0);
    }
    assert_non_null(strstr(out, "would call http.request"));
    assert_non_null(strstr(out, "/two"));
    assert_int_equal(testsrv_calls(E.target, NULL), 0);
    free(out);
    /* and a real foreground run calls the server */
    {
        char db[400];
        const char *argv[] = {F.bin, "run", wf, "--event", ev, "--db", db, NULL};
        snprintf(db, sizeof db, "sqlite:%s/fg.db", F.dir);
        assert_int_equal(run_cli(argv, &out), 0);
        assert_non_null(strstr(out, "succeeded"));
        free(out);
    }
    assert_int_equal(testsrv_calls(E.target, "/one"), 1);
    assert_int_equal(testsrv_calls(E.target, "/two"), 1);
}

static bool serve_listening(void *ud)
{
    char *err = tu_proc_stderr(ud);
    bool up = strstr(err, "idflow serve listening") != NULL;
    free(err);
    return up;
}

/* A running `idflow serve` given IDFLOW_MASTER_KEY (once, then twice: execve
 * allows a name more than once) does not hold the value in its environment
 * block, which /proc/PID/environ shows to the same user and root: the
 * values are wiped in place when the key is read, not only unset. */
static void master_key_not_in_proc_environ(void **state)
{
    static const char k1[] = "6b1e0c0ff5e5b1d1a2c3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5a6b7c8d9";
    static const char k2[] = "f00dfacecafe0123456789abcdeffedcba98765432100123456789abcdefabcd";
    char *dir = tu_mktemp_dir(), db[400], wfdir[600], proc[64], path[128], e1[100], e2[100];
    const char *e_path = getenv("PATH");
    (void)state;

    snprintf(e1, sizeof e1, "IDFLOW_MASTER_KEY=%s", k1);
    snprintf(e2, sizeof e2, "IDFLOW_MASTER_KEY=%s", k2);
    assert_non_null(dir);
    snprintf(db, sizeof db, "sqlite:%s/idflow.db", dir);
    snprintf(wfdir, sizeof wfdir, "%s/tests/data/serve", F.src);
    snprintf(path, sizeof path, "PATH=%s", e_path ? e_path : "/usr/bin:/bin");
    for (int twice = 0; twice < 2; twice++) {
        const char *argv[] = {F.bin, "serve", "--db", db, "--listen", "127.0.0.1:0", "--workflows", wfdir, NULL};
        const char *envp[] = {path, e1, twice ? e2 : NULL, NULL};
        struct tu_proc p;
        size_t len = 0;
        char *env;

        assert_int_equal(tu_spawn_envp(argv, envp, &p), 0);
        if (!tu_wait_until(serve_listening, &p, 15000)) {
            char *err = tu_proc_stderr(&p);
            tu_proc_cleanup(&p);
            fail_msg("idflow serve did not start:\n%s", err);
        }
        snprintf(proc, sizeof proc, "/proc/%d/environ", (int)p.pid);
        env = tu_read_file(proc, &len);
        assert_non_null(env);
        assert_true(len > 0);
        assert_non_null(memmem(env, len, path, strlen(path))); /* it is the child's environment */
        if (memmem(env, len, k1, sizeof k1 - 1) || memmem(env, len, k2, sizeof k2 - 1)) {
            free(env);
            tu_proc_cleanup(&p);
            fail_msg("%s still holds the master key (%s)", proc, twice ? "given twice" : "given once");
        }
        free(env);
        tu_kill(&p, SIGTERM);
        assert_int_equal(tu_wait(&p, 15000), 0);
        tu_proc_cleanup(&p);
    }
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(foreach_if_retry_against_a_flaky_server),
        cmocka_unit_test(retries_exhausted_fail_the_run_with_the_error),
        cmocka_unit_test(private_destination_refused_without_opt_in),
        cmocka_unit_test(delay_waits_durably_then_continues),
        cmocka_unit_test(approval_approved_and_rejected),
        cmocka_unit_test(rerun_starts_from_the_failed_step),
        cmocka_unit_test(duplicate_event_id_starts_nothing_new),
        cmocka_unit_test(conditions_decide_whether_a_run_starts),
        cmocka_unit_test(bad_input_is_refused_and_changes_nothing),
        cmocka_unit_test(cli_runs_show_and_metrics),
        cmocka_unit_test(validate_reports_every_error_with_position),
        cmocka_unit_test(dry_run_calls_nothing_and_prints_parameters),
        cmocka_unit_test(master_key_not_in_proc_environ),
        cmocka_unit_test(serve_exits_cleanly),
    };
    return cmocka_run_group_tests_name("serve", tests, start_serve, stop_serve);
}

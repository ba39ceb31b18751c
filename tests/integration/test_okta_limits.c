/* test_okta_limits.c — the Okta connector under pressure: rate limits (the
 * pacing wait of every action, 429s answered to a caller that did not know,
 * concurrency 429 bursts), fault injection (5xx, dropped connections, lost
 * answers) with retry loops that converge and change each user exactly once,
 * a pacing run across threads measured against the budget, what is sent on
 * the wire (headers, encoding, Content-Length: 0), the token never leaking,
 * the connection kind (validate, check) and OAuth service-app credentials. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>

#include "core/log.h"
#include "crypto/jws.h"
#include "integration/okta_fixture.h"
#include "net/ratelimit.h"
#include "support/testsrv.h"
#include "support/testutil.h"

#define ST "@acme.example"

static void assert_has(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
}

/* ------------------------------------------------------- rate limits */

static const struct {
    const char *action, *params;
} every_action[] = {
    {"okta.get_user", "{\"user\": \"james.okafor" ST "\"}"},
    {"okta.create_user", "{\"profile\": {\"login\": \"rl.new" ST "\", \"email\": \"rl.new" ST "\", "
                         "\"firstName\": \"R\", \"lastName\": \"L\"}, \"activate\": false}"},
    {"okta.activate_user", "{\"user\": \"zoe.adams" ST "\"}"},
    {"okta.reactivate_user", "{\"user\": \"tom.fischer" ST "\"}"},
    {"okta.deactivate_user", "{\"user\": \"helen.ward" ST "\"}"},
    {"okta.suspend_user", "{\"user\": \"olivia.chen" ST "\"}"},
    {"okta.unsuspend_user", "{\"user\": \"peter.novak" ST "\"}"},
    {"okta.unlock_user", "{\"user\": \"kevin.murphy" ST "\"}"},
    {"okta.reset_password", "{\"user\": \"mia.novak" ST "\"}"},
    {"okta.expire_password", "{\"user\": \"lucas.martin" ST "\"}"},
    {"okta.reset_factors", "{\"user\": \"dana.whitfield" ST "\"}"},
    {"okta.clear_sessions", "{\"user\": \"dana.whitfield" ST "\"}"},
    {"okta.add_to_group", "{\"user\": \"ben.carter" ST "\", \"group\": \"VPN Users\"}"},
    {"okta.remove_from_group", "{\"user\": \"james.okafor" ST "\", \"group\": \"Engineering\"}"},
    {"okta.assign_app", "{\"user\": \"ben.carter" ST "\", \"app\": \"Zoom\"}"},
    {"okta.revoke_app", "{\"user\": \"hannah.kim" ST "\", \"app\": \"Jira\"}"},
    {"okta.update_user", "{\"user\": \"yuki.tanaka" ST "\", \"profile\": {\"title\": \"Lead\"}}"},
    {"okta.list_user_groups", "{\"user\": \"yuki.tanaka" ST "\"}"},
    {"okta.list_user_apps", "{\"user\": \"yuki.tanaka" ST "\"}"},
    {"okta.find_group", "{\"group\": \"HR\"}"},
    {"okta.find_app", "{\"app\": \"Jira\"}"},
    {"okta.search_users", "{\"search\": \"profile.department eq \\\"HR\\\"\"}"},
    {"okta.request", "{\"path\": \"/api/v1/users/me\"}"},
};

/* With a budget of one call per bucket and minute, every action meets the
 * limiter: it answers a retryable wait before sending, and Okta never has to
 * answer 429. */
static void test_every_action_is_paced(void **state)
{
    (void)state;
    struct sandbox_opts o = {.rate_limit = 1};
    struct ofx *f = ofx_start_opts(o);
    size_t n = sizeof every_action / sizeof every_action[0];
    int actions = 0;
    bool first_wait = true;

    f->raw = true;
    for (const struct conn_action *a = ofx_okta()->actions; a->name; a++)
        actions++;
    assert_int_equal((int)n, actions); /* the list above covers every action */
    for (size_t i = 0; i < n; i++) {
        bool waited = false;
        for (int k = 0; k < 3 && !waited; k++) {
            struct conn_result r;
            int before = count_calls(f, NULL, NULL, -1);
            int rc = ofx_act_conn(f, f->conn, every_action[i].action, 1, &r, every_action[i].params);
            if (rc != 0 && json_is_true(json_object_get(r.detail, "rate_limited"))) {
                waited = true;
                assert_int_equal(rc, IDF_EBUSY);
                assert_true(r.retryable);
                /* the window's rest (the first waiter), plus a minute for
                 * each waiter before this one on the same bucket */
                assert_true(r.retry_after_ms > 0 && r.retry_after_ms <= RATELIMIT_MAX_WAIT_MS);
                if (first_wait)
                    assert_true(r.retry_after_ms <= 62000);
                first_wait = false;
                assert_false(json_is_true(json_object_get(r.detail, "sent")));
                assert_has(r.message, "rate limit");
                /* the call that waited sent nothing more than before it */
                assert_true(count_calls(f, NULL, NULL, -1) - before <= 2);
            } else if (rc != 0) {
                fail_msg("%s: %s", every_action[i].action, r.message);
            }
            res_clear(&r);
        }
        if (!waited)
            fail_msg("%s was never paced", every_action[i].action);
    }
    assert_int_equal(count_calls(f, NULL, NULL, 429), 0);
    ofx_stop(f);
}

/* A caller that did not know the budget was spent (another process, here
 * another connection name) gets Okta's 429 once: retryable until the reset,
 * and its bucket is then blocked locally without another call. */
static void test_429_blocks_until_reset(void **state)
{
    (void)state;
    struct sandbox_opts o = {.rate_limit = 2, .token_share = 100}; /* the org's budget, spent by others */
    struct ofx *f = ofx_start_opts(o);
    struct conn_result r;
    const char *p = "{\"user\": \"james.okafor" ST "\"}";

    f->raw = true;
    /* Spend the bucket (2 a minute) from two "processes". */
    assert_int_equal(ofx_act_conn(f, f->conn, "okta.get_user", 1, &r, p), 0);
    res_clear(&r);
    json_t *b = json_deep_copy(f->conn);
    json_object_set_new(b, "name", json_string("other-process-b"));
    assert_int_equal(ofx_act_conn(f, b, "okta.get_user", 1, &r, p), 0);
    res_clear(&r);
    assert_int_equal(count_calls(f, NULL, NULL, 429), 0);

    json_t *c = json_deep_copy(f->conn);
    json_object_set_new(c, "name", json_string("other-process-c"));
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 1, &r, p), IDF_EBUSY);
    assert_true(r.retryable);
    assert_int_equal(json_integer_value(json_object_get(r.detail, "http_status")), 429);
    assert_string_equal(ostr(r.detail, "errorCode"), "E0000047");
    /* X-Rate-Limit-Reset minus Date: the rest of the minute window */
    assert_true(r.retry_after_ms >= 1000 && r.retry_after_ms <= 61000);
    int64_t first_wait = r.retry_after_ms;
    res_clear(&r);
    int calls = count_calls(f, NULL, NULL, -1);
    assert_int_equal(ofx_act_conn(f, c, "okta.get_user", 1, &r, p), IDF_EBUSY);
    assert_true(r.retryable);
    assert_true(r.retry_after_ms > 0 && r.retry_after_ms <= first_wait + 1000);
    assert_true(json_is_true(json_object_get(r.detail, "rate_limited")));
    res_clear(&r);
    assert_int_equal(count_calls(f, NULL, NULL, -1), calls); /* not sent */
    assert_int_equal(count_calls(f, NULL, NULL, 429), 1);
    {
        struct ratelimit_stats s;
        char scope[256];
        snprintf(scope, sizeof scope, "other-process-c|%s", f->base);
        assert_true(ratelimit_stats(scope, "user", &s));
        assert_int_equal((int)s.seen_429, 1);
        assert_true(s.waits >= 1);
    }
    json_decref(b);
    json_decref(c);
    ofx_stop(f);
}

/* A concurrency 429 (X-Rate-Limit-Limit: 0; the sandbox's burst429 fault)
 * is a short pause, not a minute. */
static void test_concurrency_429_burst(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct conn_result r;
    const char *p = "{\"user\": \"james.okafor" ST "\"}";

    f->raw = true;
    sbx_post(f, "/_sandbox/faults", "{\"spec\": \"path=/api/v1/users,burst429=1\"}");
    assert_int_equal(ofx_act_conn(f, f->conn, "okta.get_user", 1, &r, p), IDF_EBUSY);
    assert_true(r.retryable);
    assert_true(r.retry_after_ms >= 1000 && r.retry_after_ms <= RATELIMIT_CONC_429_BLOCK_MS);
    int64_t w = r.retry_after_ms;
    res_clear(&r);
    sleep_ms(w);
    assert_int_equal(ofx_act_conn(f, f->conn, "okta.get_user", 2, &r, p), 0);
    res_clear(&r);
    assert_int_equal(count_calls(f, NULL, NULL, 429), 1);
    ofx_stop(f);
}

/* --------------------------------------------------------------- faults */

static const char *const fault_users[] = {
    "dana.whitfield", "olivia.chen", "maria.gonzalez", "james.okafor", "priya.raman", "marcus.lee",
    "sofia.rossi",    "ethan.brooks", "hannah.kim",   "noah.schmidt", "grace.liu",  "liam.obrien",
    "ava.patel",      "lucas.martin", "mia.novak",    "elena.petrova",
};

static int posts_ok(struct ofx *f, const char *id, const char *op)
{
    char part[128];
    snprintf(part, sizeof part, "/users/%s/lifecycle/%s", id, op);
    return count_calls(f, "POST", part, 200);
}

/* With 5xx answers and dropped connections on a quarter of the calls, a
 * retry loop (as the engine runs it) brings every user to the wanted state,
 * and each user's state changes exactly once per operation. */
static void test_faults_converge(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    size_t n = sizeof fault_users / sizeof fault_users[0];
    char ids[16][32], params[128], st[32];
    const char *ops[][2] = {{"okta.suspend_user", "suspend"}, {"okta.unsuspend_user", "unsuspend"}};
    struct conn_result r;
    int attempts, retried = 0;

    sbx_post(f, "/_sandbox/faults", "{\"rules\": [{\"path\": \"/api/v1/users\", \"drop_rate\": 0.12, \"error_rate\": "
                                    "0.2, \"status\": 503, \"latency_ms\": 5}]}");
    for (int op = 0; op < 2; op++) {
        for (size_t i = 0; i < n; i++) {
            snprintf(params, sizeof params, "{\"user\": \"%s" ST "\"}", fault_users[i]);
            if (ofx_until(f, ops[op][0], params, 60, 5, &r, &attempts) != 0)
                fail_msg("%s %s: %s", ops[op][0], fault_users[i], r.message);
            if (op == 0)
                snprintf(ids[i], sizeof ids[i], "%s", ostr(r.output, "id"));
            retried += attempts > 1;
            res_clear(&r);
            char login[96];
            snprintf(login, sizeof login, "%s" ST, fault_users[i]);
            assert_string_equal(sbx_status(f, login, st), op == 0 ? "SUSPENDED" : "ACTIVE");
        }
    }
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(posts_ok(f, ids[i], "suspend"), 1);
        assert_int_equal(posts_ok(f, ids[i], "unsuspend"), 1);
    }
    /* the faults did fire, and runs did retry through them */
    assert_true(count_calls(f, NULL, NULL, 503) > 0);
    assert_true(count_calls(f, NULL, NULL, 0) > 0); /* dropped */
    assert_true(retried > 0);
    assert_int_equal(count_calls(f, NULL, NULL, 429), 0);
    ofx_stop(f);
}

/* The answer is lost after Okta made the change (latency beyond the step
 * timeout): the retry reads the new state and converges, no second write. */
static void test_lost_answer_converges(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct conn_result r;
    char rule[512];
    int attempts;

    f->timeout_ms = 400;
    /* every write under /lifecycle/ and group memberships answers after 1.5 s */
    snprintf(rule, sizeof rule, "{\"rules\": [{\"path\": \"/api/v1/users\", \"method\": \"POST\", \"latency_ms\": "
                                "1500}, {\"path\": \"/api/v1/groups/\", \"method\": \"PUT\", \"latency_ms\": 1500}]}");
    sbx_post(f, "/_sandbox/faults", rule);

    const char *cases[][2] = {
        {"okta.suspend_user", "{\"user\": \"james.okafor" ST "\"}"},
        {"okta.unsuspend_user", "{\"user\": \"james.okafor" ST "\"}"},
        {"okta.add_to_group", "{\"user\": \"mia.novak" ST "\", \"group\": \"HR\"}"},
    };
    for (size_t i = 0; i < 3; i++) {
        if (ofx_until(f, cases[i][0], cases[i][1], 5, 10, &r, &attempts) != 0)
            fail_msg("%s: %s", cases[i][0], r.message);
        if (attempts != 2)
            fail_msg("%s: %d attempts (wanted 2: a time-out, then done)", cases[i][0], attempts);
        assert_false(ochanged(&r));
        res_clear(&r);
    }
    assert_int_equal(count_calls(f, "POST", "/lifecycle/suspend", -1), 1);
    assert_int_equal(count_calls(f, "POST", "/lifecycle/unsuspend", -1), 1);
    assert_int_equal(count_calls(f, "PUT", "/api/v1/groups/", -1), 1);

    /* create_user: the retry adopts the user its lost answer created */
    if (ofx_until(f, "okta.create_user", "{\"profile\": {\"login\": \"lost.answer" ST "\", \"email\": \"lost.answer" ST
                  "\", \"firstName\": \"L\", \"lastName\": \"A\"}}", 5, 10, &r, &attempts) != 0)
        fail_msg("create: %s", r.message);
    assert_int_equal(attempts, 2);
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/api/v1/users", -1), 1 + 2); /* + suspend, unsuspend */
    ofx_stop(f);
}

/* ---------------------------------------------------------------- pacing */

#define PACE_THREADS 4
#define PACE_CALLS 150
#define PACE_BUDGET 1200 /* per minute, every bucket (org-wide) */
#define PACE_SHARE 50    /* the sandbox's and idflow's default share of one token */

struct pace {
    struct ofx *f;
    pthread_mutex_t lock;
    int done;          /* successful calls so far */
    int64_t t[PACE_CALLS];
    int waits;
};

static void *pace_thread(void *ud)
{
    struct pace *p = ud;
    struct http_client *http = NULL;
    const struct conn_action *a = registry_find_action(registry_default(), "okta.get_user");
    json_t *params = json_pack("{s:s}", "user", "james.okafor" ST);

    if (http_client_new(&http) != 0)
        return NULL;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        bool more = p->done < PACE_CALLS;
        pthread_mutex_unlock(&p->lock);
        if (!more)
            break;
        struct conn_result r = {0};
        struct conn_call c = {.http = http, .connection = p->f->conn, .attempt = 1};
        int rc = a->fn(&c, params, &r);
        if (rc == 0) {
            pthread_mutex_lock(&p->lock);
            if (p->done < PACE_CALLS)
                p->t[p->done++] = time_mono_ns() / 1000000;
            pthread_mutex_unlock(&p->lock);
        } else if (r.retryable) {
            pthread_mutex_lock(&p->lock);
            p->waits++;
            pthread_mutex_unlock(&p->lock);
            sleep_ms(r.retry_after_ms > 0 ? r.retry_after_ms : 1); /* the engine's durable wait */
        } else {
            fprintf(stderr, "pace: %s\n", r.message);
        }
        conn_result_clear(&r);
    }
    json_decref(params);
    http_client_free(http);
    return NULL;
}

static void test_pacing_across_threads(void **state)
{
    (void)state;
    struct sandbox_opts o = {.rate_limit = PACE_BUDGET};
    struct pace p = {.f = ofx_start_opts(o)};
    pthread_t th[PACE_THREADS];

    pthread_mutex_init(&p.lock, NULL);
    for (int i = 0; i < PACE_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, pace_thread, &p), 0);
    for (int i = 0; i < PACE_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(p.done, PACE_CALLS);
    assert_int_equal(count_calls(p.f, NULL, NULL, 429), 0);

    /* The first calls of a window may go back to back (the burst); after
     * them the pace is the budget. */
    int burst = PACE_BUDGET / 100 > RATELIMIT_BURST ? PACE_BUDGET / 100 : RATELIMIT_BURST;
    double steady = (double)(PACE_CALLS - 1 - burst) * 1000.0 / (double)(p.t[PACE_CALLS - 1] - p.t[burst]);
    double overall = (double)(PACE_CALLS - 1) * 1000.0 / (double)(p.t[PACE_CALLS - 1] - p.t[0]);
    double budget = PACE_BUDGET * PACE_SHARE / 100 / 60.0; /* the token's budget, not the org's */
    print_message("pacing: %d calls, %d threads, budget %.2f/s: steady %.2f/s (%.1f%%), overall %.2f/s (%.1f%%), "
                  "%d waits, 0 429s\n",
                  PACE_CALLS, PACE_THREADS, budget, steady, 100 * steady / budget, overall, 100 * overall / budget,
                  p.waits);
    assert_true(steady >= budget * 0.95 && steady <= budget * 1.03);
    assert_true(overall <= budget * 1.06);
    assert_true(p.waits > 0);
    pthread_mutex_destroy(&p.lock);
    ofx_stop(p.f);
}

/* ------------------------------------------------- the token's share */

#define SHARE_WINDOW_MS 2000 /* the sandbox's window, shortened so a few windows pass in seconds */

/* Runs n okta.get_user calls as the engine would (a retryable failure is
 * retried after its wait); every one must succeed. */
static void run_gets(struct ofx *f, int n)
{
    for (int i = 0; i < n; i++) {
        struct conn_result r;
        int rc = ofx_until(f, "okta.get_user", "{\"user\": \"james.okafor" ST "\"}", 20, 1, &r, NULL);
        if (rc != 0)
            fail_msg("get_user %d: %s", i, r.message);
        res_clear(&r);
    }
}

/* With default settings idflow paces to Okta's default share of one token
 * (50 %), not to the org-wide figure the headers show: a burst against a
 * sandbox that holds the token to its share meets no 429. */
static void test_default_share_no_429(void **state)
{
    (void)state;
    struct sandbox_opts o = {.rate_limit = 20, .rate_window_ms = SHARE_WINDOW_MS}; /* token share: default 50 */
    struct ofx *f = ofx_start_opts(o);
    struct ratelimit_stats st;
    char scope[256];

    assert_null(json_object_get(f->conn, "rate_share"));
    run_gets(f, 25);
    assert_int_equal(count_calls(f, "GET", "/api/v1/users/", 200), 25);
    assert_int_equal(count_calls(f, NULL, NULL, 429), 0);
    snprintf(scope, sizeof scope, "%s|%s", f->name, f->base);
    assert_true(ratelimit_stats(scope, "user", &st));
    assert_int_equal(st.share_pct, 50);
    ofx_stop(f);
}

/* An org that gives the token less than idflow assumed: the first 429 (its
 * headers still show room org-wide) teaches the share, and no other 429
 * follows; a warning says so once, without the token. */
static void test_share_learned_from_429(void **state)
{
    (void)state;
    struct sandbox_opts o = {.rate_limit = 40, .token_share = 25, .rate_window_ms = SHARE_WINDOW_MS};
    struct ofx *f = ofx_start_opts(o);
    struct ratelimit_stats st;
    char scope[256], logged[8192];
    FILE *tmp = tmpfile();

    assert_non_null(tmp);
    log_set_fd(fileno(tmp));
    run_gets(f, 30);
    log_set_fd(2);
    rewind(tmp);
    size_t n = fread(logged, 1, sizeof logged - 1, tmp);
    logged[n] = '\0';
    fclose(tmp);
    const char *hit = strstr(logged, "share of each bucket looks like 25 %");
    if (!hit)
        fail_msg("no warning about the learned share in: %s", logged);
    assert_null(strstr(hit + 1, "share of each bucket looks like")); /* once */
    assert_has(logged, f->name);
    no_token("log", logged);
    assert_int_equal(count_calls(f, "GET", "/api/v1/users/", 200), 30);
    assert_int_equal(count_calls(f, NULL, NULL, 429), 1);
    snprintf(scope, sizeof scope, "%s|%s", f->name, f->base);
    assert_true(ratelimit_stats(scope, "user", &st));
    assert_int_equal(st.share_pct, 25);
    assert_int_equal((int)st.seen_429, 1);
    ofx_stop(f);
}

/* ------------------------------------------------------------- the wire */

static void test_wire_format(void **state)
{
    (void)state;
    struct testsrv *s = testsrv_start();
    struct ofx fx = {0};
    struct conn_result r;
    json_t *req;

    assert_int_equal(http_client_new(&fx.http), 0);
    fx.conn = json_pack("{s:s, s:s, s:s, s:b}", "name", "wire", "url", testsrv_url(s), "token", OFX_TOKEN, "sandbox", 1);
    testsrv_on(s, "/api/v1/users/a+b@x.example",
               &(struct testsrv_answer){200, "{\"id\":\"00u1\",\"status\":\"ACTIVE\",\"profile\":{\"login\":"
                                             "\"a+b@x.example\"}}", NULL, {"X-Okta-Request-Id: reqWire1"}},
               -1);
    testsrv_on(s, "/api/v1/users/00u1/lifecycle/suspend", &(struct testsrv_answer){200, "{}"}, 1);
    assert_int_equal(ofx_actf(&fx, "okta.suspend_user", 1, &r, "{\"user\": \"a+b@x.example\"}"), 0);
    assert_true(ochanged(&r));
    res_clear(&r);
    req = testsrv_request(s, "/api/v1/users/a+b@x.example", 0);
    assert_non_null(req);
    assert_string_equal(ostr(req, "raw_path"), "/api/v1/users/a%2Bb%40x.example");
    assert_string_equal(testsrv_req_header(req, "authorization"), "SSWS " OFX_TOKEN);
    assert_string_equal(testsrv_req_header(req, "accept"), "application/json");
    assert_string_equal(testsrv_req_header(req, "user-agent"), "idflow/0.1");
    json_decref(req);
    req = testsrv_request(s, "/api/v1/users/00u1/lifecycle/suspend", 0);
    assert_non_null(req);
    assert_string_equal(ostr(req, "method"), "POST");
    assert_true(json_is_true(json_object_get(req, "has_content_length")));
    assert_string_equal(testsrv_req_header(req, "content-length"), "0");
    assert_string_equal(testsrv_req_header(req, "content-type"), "application/json");
    json_decref(req);

    /* an error object echoing the token: masked in the message and the detail */
    testsrv_on(s, "/api/v1/users/echo@x.example",
               &(struct testsrv_answer){400, "{\"errorCode\":\"E0000001\",\"errorSummary\":\"bad " OFX_TOKEN "\","
                                             "\"errorCauses\":[{\"errorSummary\":\"" OFX_TOKEN "\"}]}"},
               -1);
    assert_int_equal(ofx_actf(&fx, "okta.get_user", 1, &r, "{\"user\": \"echo@x.example\"}"), IDF_EINVAL);
    assert_has(r.message, "****");
    assert_string_equal(ostr(r.detail, "errorCode"), "E0000001");
    assert_has(ostr(r.detail, "errorSummary"), "bad ****");
    res_clear(&r);
    /* a success echoing it: dropped, the step fails */
    testsrv_on(s, "/api/v1/echo", &(struct testsrv_answer){200, "{\"auth\":\"SSWS " OFX_TOKEN "\"}"}, -1);
    assert_int_equal(ofx_actf(&fx, "okta.request", 1, &r, "{\"path\": \"/api/v1/echo\"}"), IDF_EDENIED);
    assert_null(r.output);
    res_clear(&r);
    /* a redirect is not followed */
    testsrv_on(s, "/api/v1/users/moved@x.example",
               &(struct testsrv_answer){301, "", NULL, {"Location: http://127.0.0.1:1/api/v1/users/x"}}, -1);
    assert_int_equal(ofx_actf(&fx, "okta.get_user", 1, &r, "{\"user\": \"moved@x.example\"}"), IDF_EREMOTE);
    assert_has(r.message, "HTTP 301");
    res_clear(&r);
    /* a 5xx without an Okta error object: retryable */
    testsrv_fail_first(s, "/api/v1/users/flaky@x.example", 1, 502, "<html>bad gateway</html>");
    assert_int_equal(ofx_actf(&fx, "okta.get_user", 1, &r, "{\"user\": \"flaky@x.example\"}"), IDF_EREMOTE);
    assert_true(r.retryable);
    assert_has(r.message, "HTTP 502");
    res_clear(&r);

    json_decref(fx.conn);
    http_client_free(fx.http);
    testsrv_stop(s);
}

/* The token never appears in a message, detail or output, whatever fails. */
/* A server that echoes the request's credential back in its errors, as a
 * misbehaving proxy or a verbose Okta error could. mode and pad are set by
 * the test before each call (the request orders the write before the read). */
struct echo {
    int mode; /* ECHO_* */
    int pad;  /* 'x' characters before the echoed credential */
};

enum { ECHO_SUMMARY_AND_CAUSE, ECHO_TEXT_500, ECHO_SUMMARY_PADDED, ECHO_CAUSE_PADDED };
#define ECHO_PAD_MAX 1200 /* beyond every length cap of a step's message */

static bool echo_credential(void *ud, const struct http_req *req, struct http_resp *resp)
{
    const struct echo *e = ud;
    const char *auth = http_req_header(req, "Authorization");
    const char *tok = auth && strncmp(auth, "SSWS ", 5) == 0 ? auth + 5 : "";
    char pad[ECHO_PAD_MAX + 1], text[ECHO_PAD_MAX + 600];

    if (!auth || e->pad < 0 || e->pad >= (int)sizeof pad)
        return false;
    memset(pad, 'x', (size_t)e->pad);
    pad[e->pad] = '\0';
    switch (e->mode) {
    case ECHO_SUMMARY_AND_CAUSE:
        snprintf(text, sizeof text, "Api validation failed: %s", auth);
        http_resp_json(resp, 400,
                       json_pack("{s:s, s:s, s:[{s:s}]}", "errorCode", "E0000001", "errorSummary", text, "errorCauses",
                                 "errorSummary", tok));
        break;
    case ECHO_TEXT_500:
        snprintf(text, sizeof text, "upstream failed for Authorization: %s (token %s)", auth, tok);
        http_resp_text(resp, 500, "text/plain", text);
        break;
    case ECHO_SUMMARY_PADDED:
        snprintf(text, sizeof text, "%s%s", pad, auth);
        http_resp_json(resp, 400, json_pack("{s:s, s:s}", "errorCode", "E0000001", "errorSummary", text));
        break;
    default:
        snprintf(text, sizeof text, "%s%s", pad, tok);
        http_resp_json(resp, 400,
                       json_pack("{s:s, s:s, s:[{s:s}]}", "errorCode", "E0000001", "errorSummary", "bad",
                                 "errorCauses", "errorSummary", text));
        break;
    }
    return true;
}

/* No piece of the token (its first or last 12 characters) in s. */
static void no_token_part(const char *what, const char *s)
{
    static const char tok[] = OFX_TOKEN;
    char head[13], tail[13];

    snprintf(head, sizeof head, "%s", tok);
    snprintf(tail, sizeof tail, "%s", tok + sizeof tok - 13);
    if (s && (strstr(s, head) || strstr(s, tail)))
        fail_msg("%s contains a piece of the token: %s", what, s);
}

static void no_token_part_json(const char *what, const json_t *v)
{
    char *d = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    no_token_part(what, d);
    free(d);
}

/* The server echoes the token in its error answers: the step's message and
 * detail never carry it, whole or cut by a length cap, and the error stays
 * useful (code, summary with the token masked). */
static void test_token_echoed_by_server_is_masked(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct testsrv *srv = testsrv_start();
    struct echo e = {0};
    struct conn_result r;
    const char *user = "{\"user\": \"james.okafor" ST "\"}";
    json_t *conn = json_deep_copy(f->conn), *req;

    json_object_set_new(conn, "url", json_string(testsrv_url(srv)));
    json_object_set_new(conn, "name", json_string("okta-echo"));
    testsrv_set_handler(srv, echo_credential, &e);

    /* 400: the token in errorSummary ("SSWS <token>") and in a cause */
    e.mode = ECHO_SUMMARY_AND_CAUSE;
    assert_int_equal(ofx_act_conn(f, conn, "okta.get_user", 1, &r, user), IDF_EINVAL);
    req = testsrv_request(srv, NULL, -1);
    assert_string_equal(testsrv_req_header(req, "authorization"), "SSWS " OFX_TOKEN); /* it had it to echo */
    json_decref(req);
    assert_has(r.message, "E0000001 Api validation failed: SSWS ****");
    no_token_part("message", r.message);
    no_token_part_json("detail", r.detail);
    if (!json_object_get(r.detail, "errorCode"))
        fail_msg("the detail lost Okta's error code (dropped instead of masked?)");
    assert_string_equal(json_string_value(json_object_get(r.detail, "errorCode")), "E0000001");
    res_clear(&r);

    /* 500 with the token in a text body */
    e.mode = ECHO_TEXT_500;
    assert_int_equal(ofx_act_conn(f, conn, "okta.get_user", 1, &r, user), IDF_EREMOTE);
    assert_true(r.retryable);
    assert_has(r.message, "HTTP 500");
    no_token_part("message", r.message);
    no_token_part_json("detail", r.detail);
    res_clear(&r);

    /* Padded so that a length cap (of the causes, of the message) cuts the
     * token: the part that fits is not left in clear either. The pad grows
     * in steps shorter than half the token, so whatever the caps are, some
     * call cuts the token with at least 12 of its characters kept. */
    for (e.mode = ECHO_SUMMARY_PADDED; e.mode <= ECHO_CAUSE_PADDED; e.mode++) {
        int cut = 0;
        for (e.pad = 12; e.pad <= ECHO_PAD_MAX; e.pad += 12) {
            const char *after;
            size_t masked;
            assert_int_equal(ofx_act_conn(f, conn, "okta.get_user", 1, &r, user), IDF_EINVAL);
            no_token_part("message", r.message);
            no_token_part_json("detail", r.detail);
            /* what follows the pad: "SSWS " and the masked token, all or part */
            after = strrchr(r.message, 'x');
            after = after ? after + 1 : "";
            if (strncmp(after, "SSWS ", 5) == 0)
                after += 5;
            masked = strspn(after, "*");
            if (masked > 0 && masked < strlen(OFX_TOKEN))
                cut++;
            res_clear(&r);
        }
        assert_true(cut > 0); /* some calls did cut the token */
    }

    json_decref(conn);
    testsrv_stop(srv);
    ofx_stop(f);
}

static void test_token_never_leaks(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct conn_result r;
    const char *bad = "wrong-SECRET-token-value-991";

    json_t *wrong = json_deep_copy(f->conn);
    json_object_set_new(wrong, "token", json_string(bad));
    assert_int_equal(ofx_act_conn(f, wrong, "okta.suspend_user", 1, &r, "{\"user\": \"james.okafor" ST "\"}"),
                     IDF_EAUTH);
    assert_false(r.retryable);
    assert_has(r.message, "E0000011");
    assert_null(strstr(r.message, bad));
    no_token_json("detail", r.detail);
    res_clear(&r);

    /* network failure: nothing listens there */
    json_t *down = json_deep_copy(f->conn);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", tu_free_port());
    json_object_set_new(down, "url", json_string(url));
    json_object_set_new(down, "name", json_string("down"));
    assert_int_equal(ofx_act_conn(f, down, "okta.get_user", 1, &r, "{\"user\": \"x" ST "\"}"), IDF_EIO);
    assert_true(r.retryable);
    res_clear(&r);

    /* plain http without the sandbox flag: refused, nothing sent */
    json_t *plain = json_deep_copy(f->conn);
    json_object_del(plain, "sandbox");
    assert_int_equal(ofx_act_conn(f, plain, "okta.get_user", 1, &r, "{\"user\": \"x" ST "\"}"), IDF_EINVAL);
    assert_false(r.retryable);
    assert_has(r.message, "https");
    res_clear(&r);

    /* 5xx from the sandbox */
    sbx_post(f, "/_sandbox/faults", "{\"spec\": \"path=/api/v1/users,error_rate=1,status=500,count=1\"}");
    assert_int_equal(ofx_actf(f, "okta.get_user", 1, &r, "{\"user\": \"x" ST "\"}"), IDF_EREMOTE);
    assert_true(r.retryable);
    assert_string_equal(ostr(r.detail, "errorCode"), "E0000009");
    res_clear(&r);

    /* no connection at all */
    assert_int_equal(ofx_act_conn(f, json_null(), "okta.get_user", 1, &r, "{\"user\": \"x" ST "\"}"), IDF_EINVAL);
    assert_has(r.message, "no Okta connection");
    res_clear(&r);

    json_decref(wrong);
    json_decref(down);
    json_decref(plain);
    ofx_stop(f);
}

/* ----------------------------------------------------------- connections */

static int validate(const char *json, json_t **out, struct idf_err *err)
{
    json_t *c = json_loads(json, 0, NULL);
    assert_non_null(c);
    memset(err, 0, sizeof *err);
    int rc = ofx_okta()->connection->validate(c, err);
    if (out)
        *out = c;
    else
        json_decref(c);
    return rc;
}

static void test_connection_validate(void **state)
{
    (void)state;
    struct idf_err err;
    json_t *c;
    const struct conn_field *fl = ofx_okta()->connection->fields;
    bool token_secret = false, url_required = false;

    for (; fl->name; fl++) {
        if (strcmp(fl->name, "token") == 0)
            token_secret = fl->secret;
        if (strcmp(fl->name, "url") == 0)
            url_required = fl->required;
    }
    assert_true(token_secret);
    assert_true(url_required);

    assert_int_equal(validate("{\"url\": \"https://Acme.Okta.com/\", \"token\": \"00abc\"}", &c, &err), 0);
    assert_string_equal(ostr(c, "url"), "https://acme.okta.com");
    json_decref(c);
    assert_int_equal(validate("{\"url\": \"https://acme.oktapreview.com:8443\", \"token\": \"t\"}", &c, &err), 0);
    assert_string_equal(ostr(c, "url"), "https://acme.oktapreview.com:8443");
    json_decref(c);
    assert_int_equal(validate("{\"url\": \"http://acme.okta.com\", \"token\": \"t\"}", NULL, &err), IDF_EINVAL);
    assert_has(err.msg, "https");
    assert_int_equal(validate("{\"url\": \"http://127.0.0.1:9999/\", \"token\": \"t\", \"sandbox\": true}", &c, &err),
                     0);
    assert_string_equal(ostr(c, "url"), "http://127.0.0.1:9999");
    json_decref(c);
    assert_int_equal(validate("{\"url\": \"http://127.0.0.1:9\", \"token\": \"t\", \"sandbox\": \"true\"}", &c, &err),
                     0);
    assert_true(json_is_true(json_object_get(c, "sandbox")));
    json_decref(c);
    const char *admins[] = {"https://acme-admin.okta.com", "https://acme-admin.oktapreview.com",
                            "https://ACME-ADMIN.okta-emea.com"};
    for (int i = 0; i < 3; i++) {
        char j[160];
        snprintf(j, sizeof j, "{\"url\": \"%s\", \"token\": \"t\"}", admins[i]);
        assert_int_equal(validate(j, NULL, &err), IDF_EINVAL);
        assert_has(err.msg, "-admin");
    }
    assert_int_equal(validate("{\"url\": \"https://acme.okta.com/api/v1\", \"token\": \"t\"}", NULL, &err), IDF_EINVAL);
    assert_has(err.msg, "path");
    assert_int_equal(validate("{\"url\": \"https://acme.okta.com/?x=1\", \"token\": \"t\"}", NULL, &err), IDF_EINVAL);
    assert_int_equal(validate("{\"url\": \"https://u:p@acme.okta.com\", \"token\": \"t\"}", NULL, &err), IDF_EINVAL);
    assert_int_equal(validate("{\"url\": \"not a url\", \"token\": \"t\"}", NULL, &err), IDF_EINVAL);
    /* how events arrive: hook, poll or both, nothing else */
    assert_int_equal(validate("{\"url\": \"https://acme.okta.com\", \"token\": \"t\", \"mode\": \"both\"}", &c, &err), 0);
    json_decref(c);
    assert_int_equal(validate("{\"url\": \"https://acme.okta.com\", \"token\": \"t\", \"mode\": \"pull\"}", NULL, &err),
                     IDF_EINVAL);
    assert_has(err.msg, "mode must be hook, poll or both");
    assert_int_equal(validate("{\"url\": \"https://acme.okta.com\"}", NULL, &err), IDF_EINVAL);
    assert_has(err.msg, "token");
    assert_int_equal(validate("{\"url\": \"https://acme.okta.com\", \"token\": \"a b\"}", NULL, &err), IDF_EINVAL);
    assert_null(strstr(err.msg, "a b"));
    assert_int_equal(validate("{\"url\": \"https://acme.okta.com\", \"token\": \"t\", \"rate_share\": 0}", NULL, &err),
                     IDF_EINVAL);
    assert_int_equal(validate("{\"url\": \"https://acme.okta.com\", \"client_id\": \"0oa1\", \"private_key\": "
                              "\"-----BEGIN PRIVATE KEY-----\\nnope\\n-----END PRIVATE KEY-----\\n\"}",
                              NULL, &err),
                     IDF_EINVAL);
    assert_has(err.msg, "private_key");
}

static void test_connection_check(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct idf_err err = {0};
    json_t *who = NULL;
    const struct conn_connection_kind *k = ofx_okta()->connection;

    assert_int_equal(k->check(f->http, f->conn, &who, &err), 0);
    assert_string_equal(ostr(who, "login"), "it.automation" ST);
    assert_string_equal(ostr(who, "status"), "ACTIVE");
    assert_non_null(ostr(who, "id"));
    json_decref(who);
    who = NULL;

    json_t *wrong = json_deep_copy(f->conn);
    json_object_set_new(wrong, "token", json_string("bad-SECRET-check-token"));
    assert_int_equal(k->check(f->http, wrong, &who, &err), IDF_EAUTH);
    assert_null(who);
    assert_has(err.msg, "401");
    assert_null(strstr(err.msg, "bad-SECRET-check-token"));
    json_decref(wrong);
    ofx_stop(f);
}

/* ----------------------------------------------------------------- OAuth */

static void test_oauth_service_app(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct conn_result r;
    struct idf_err err = {0};
    json_t *who = NULL;
    const char *p = "{\"user\": \"james.okafor" ST "\"}";

    json_t *rsa = ofx_oauth_conn(f, "0oa1idflowsvc0000001", "0oa1idflowsvc0000001", "sandbox_service_rsa.pem",
                                 "sandbox-rsa-1", NULL);
    assert_int_equal(ofx_okta()->connection->validate(rsa, &err), 0);
    assert_int_equal(ofx_act_conn(f, rsa, "okta.get_user", 1, &r, p), 0);
    res_clear(&r);
    assert_int_equal(ofx_act_conn(f, rsa, "okta.suspend_user", 1, &r, p), 0);
    assert_true(ochanged(&r));
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/oauth2/v1/token", 200), 1); /* cached */
    assert_int_equal(ofx_okta()->connection->check(f->http, rsa, &who, &err), 0);
    assert_string_equal(ostr(who, "kind"), "oauth");
    json_decref(who);

    json_t *ec = ofx_oauth_conn(f, "0oa1idflowsvc0000001", "0oa1idflowsvc0000001", "sandbox_service_ec.pem",
                                "sandbox-ec-1", NULL);
    assert_int_equal(ofx_act_conn(f, ec, "okta.unsuspend_user", 1, &r, p), 0);
    assert_true(ochanged(&r));
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/oauth2/v1/token", 200), 2);

    /* the read-only app: asking for manage scopes is refused, not retried */
    json_t *ro = ofx_oauth_conn(f, "0oa1idflowro00000001", "0oa1idflowro00000001", "sandbox_service_rsa.pem",
                                "sandbox-rsa-1", NULL);
    assert_int_equal(ofx_act_conn(f, ro, "okta.get_user", 1, &r, p), IDF_EAUTH);
    assert_false(r.retryable);
    assert_has(r.message, "invalid_scope");
    res_clear(&r);
    /* with its read scope it reads, and a write is denied by Okta */
    json_t *ro2 = ofx_oauth_conn(f, "0oa1idflowro00000001", "0oa1idflowro00000001", "sandbox_service_rsa.pem",
                                 "sandbox-rsa-1", "okta.users.read");
    json_object_set_new(ro2, "name", json_string("ro2"));
    assert_int_equal(ofx_act_conn(f, ro2, "okta.get_user", 1, &r, p), 0);
    res_clear(&r);
    assert_int_equal(ofx_act_conn(f, ro2, "okta.suspend_user", 1, &r, p), IDF_EDENIED);
    assert_false(r.retryable);
    assert_string_equal(ostr(r.detail, "errorCode"), "E0000006");
    res_clear(&r);
    /* a client the org does not know */
    json_t *unknown =
        ofx_oauth_conn(f, "0oa1unknownclient001", "0oa1unknownclient001", "sandbox_service_rsa.pem", NULL, NULL);
    assert_int_equal(ofx_act_conn(f, unknown, "okta.get_user", 1, &r, p), IDF_EAUTH);
    assert_has(r.message, "invalid_client");
    res_clear(&r);

    /* the org forgets its tokens (a sandbox reset): the cached one is refused
     * once (retryable, and dropped), the retry fetches a fresh one */
    sbx_post(f, "/_sandbox/reset", "{}");
    assert_int_equal(ofx_act_conn(f, rsa, "okta.get_user", 1, &r, p), IDF_EAUTH);
    assert_true(r.retryable);
    res_clear(&r);
    assert_int_equal(ofx_act_conn(f, rsa, "okta.get_user", 2, &r, p), 0);
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/oauth2/v1/token", 200), 1);

    json_decref(rsa);
    json_decref(ec);
    json_decref(ro);
    json_decref(ro2);
    json_decref(unknown);
    ofx_stop(f);
}

static void jwk_bn(json_t *jwk, const char *name, EVP_PKEY *k, const char *param)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
    unsigned char buf[1024];
    int n = BN_bn2bin(bn, buf);
    char *s = jws_b64url(buf, (size_t)n);
    json_object_set_new(jwk, name, json_string(s));
    free(s);
    BN_clear_free(bn);
}

/* The private JWK of a PEM key in tests/data (RSA or EC P-256); caller frees. */
static char *pem_to_jwk(const char *file, const char *kid)
{
    char path[512];
    const char *src = getenv("IDFLOW_SRC");
    snprintf(path, sizeof path, "%s/tests/data/%s", src ? src : ".", file);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    EVP_PKEY *k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(k);
    json_t *jwk = json_pack("{s:s}", "kid", kid);
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
        const char *names[][2] = {{"n", OSSL_PKEY_PARAM_RSA_N},          {"e", OSSL_PKEY_PARAM_RSA_E},
                                  {"d", OSSL_PKEY_PARAM_RSA_D},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
                                  {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
                                  {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2}, {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1}};
        json_object_set_new(jwk, "kty", json_string("RSA"));
        for (int i = 0; i < 8; i++)
            jwk_bn(jwk, names[i][0], k, names[i][1]);
    } else {
        unsigned char pub[200];
        size_t len = 0;
        assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &len), 1);
        assert_int_equal((int)len, 65);
        char *x = jws_b64url(pub + 1, 32), *y = jws_b64url(pub + 33, 32);
        json_object_set_new(jwk, "kty", json_string("EC"));
        json_object_set_new(jwk, "crv", json_string("P-256"));
        json_object_set_new(jwk, "x", json_string(x));
        json_object_set_new(jwk, "y", json_string(y));
        free(x);
        free(y);
        jwk_bn(jwk, "d", k, OSSL_PKEY_PARAM_PRIV_KEY);
    }
    EVP_PKEY_free(k);
    char *text = json_dumps(jwk, JSON_COMPACT);
    json_decref(jwk);
    return text;
}

/* A private JWK works like the PEM; its own kid is used. */
static void test_oauth_jwk(void **state)
{
    (void)state;
    struct ofx *f = ofx_start();
    struct conn_result r;
    struct idf_err err = {0};
    const char *files[][2] = {{"sandbox_service_rsa.pem", "sandbox-rsa-1"}, {"sandbox_service_ec.pem", "sandbox-ec-1"}};

    for (int i = 0; i < 2; i++) {
        char *jwk = pem_to_jwk(files[i][0], files[i][1]);
        json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "name", files[i][1], "kind", "okta", "url", f->base,
                              "client_id", "0oa1idflowsvc0000001", "private_key", jwk, "sandbox", 1);
        assert_int_equal(ofx_okta()->connection->validate(c, &err), 0);
        if (ofx_act_conn(f, c, "okta.get_user", 1, &r, "{\"user\": \"james.okafor" ST "\"}") != 0)
            fail_msg("%s: %s", files[i][0], r.message);
        res_clear(&r);
        explicit_bzero(jwk, strlen(jwk));
        free(jwk);
        json_decref(c);
    }
    assert_int_equal(count_calls(f, "POST", "/oauth2/v1/token", 200), 2);
    ofx_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_action_is_paced),
        cmocka_unit_test(test_429_blocks_until_reset),
        cmocka_unit_test(test_concurrency_429_burst),
        cmocka_unit_test(test_faults_converge),
        cmocka_unit_test(test_lost_answer_converges),
        cmocka_unit_test(test_pacing_across_threads),
        cmocka_unit_test(test_default_share_no_429),
        cmocka_unit_test(test_share_learned_from_429),
        cmocka_unit_test(test_wire_format),
        cmocka_unit_test(test_token_never_leaks),
        cmocka_unit_test(test_token_echoed_by_server_is_masked),
        cmocka_unit_test(test_connection_validate),
        cmocka_unit_test(test_connection_check),
        cmocka_unit_test(test_oauth_service_app),
        cmocka_unit_test(test_oauth_jwk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

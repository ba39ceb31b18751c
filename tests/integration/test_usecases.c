/* test_usecases.c — the shipped workflows of examples/workflows/, end to
 * end, the way they run in production: the sandbox org and help desk
 * (`idflow sandbox`), both connections (`idflow connect`), the Okta event
 * hook registered by `idflow connect okta --register-hook` and verified by
 * the sandbox, and `idflow serve` loading examples/workflows. Each case
 * makes something happen in the sandbox, lets it reach idflow by hook, and
 * checks the final state of both sides and the run's step records; each
 * has a negative case that starts no run.
 *   2. lock-out -> ticket for the on-call agent;
 *   5. department/manager change -> access-review ticket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/testutil.h"

#define TOKEN "usecase-okta-token-0123456789"

static struct {
    const char *bin, *src;
    struct tu_proc sandbox, serve;
    char sb[128], base[128], listen[64], db[400];
    char *dir;
} E;

static bool sandbox_up(void *ud)
{
    char *err = tu_proc_stderr(&E.sandbox);
    const char *u = strstr(err, "\"url\":\"");
    bool ok = false;
    (void)ud;
    if (u) {
        const char *end = strchr(u + 7, '"');
        if (end && end - (u + 7) < (int)sizeof E.sb) {
            snprintf(E.sb, sizeof E.sb, "%.*s", (int)(end - (u + 7)), u + 7);
            ok = true;
        }
    }
    free(err);
    return ok;
}

static int idflow(const char *const env[], const char *first, ...)
{
    const char *argv[32];
    struct tu_proc p;
    va_list ap;
    int n = 0, rc;
    argv[n++] = E.bin;
    argv[n++] = first;
    va_start(ap, first);
    while (n < 31 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    if (tu_spawn(argv, env, &p))
        return -1;
    rc = tu_wait(&p, 30000);
    if (rc != 0) {
        char *e = tu_proc_stderr(&p);
        fprintf(stderr, "idflow %s: %d\n%s\n", first, rc, e);
        free(e);
    }
    tu_proc_cleanup(&p);
    return rc;
}

static int setup(void **state)
{
    char wfdir[600], hook[300];
    (void)state;
    E.bin = getenv("IDFLOW_BIN");
    E.src = getenv("IDFLOW_SRC");
    if (!E.bin || !E.src)
        return -1;
    {
        const char *argv[] = {E.bin, "sandbox", "--listen", "127.0.0.1:0", "--token", TOKEN, NULL};
        if (tu_spawn(argv, NULL, &E.sandbox) || !tu_wait_until(sandbox_up, NULL, 15000))
            return -1;
    }
    E.dir = tu_mktemp_dir();
    snprintf(E.db, sizeof E.db, "sqlite:%s/idflow.db", E.dir);
    {
        const char *env[] = {"UC_TOKEN=" TOKEN, "HF_KEY=sandbox-hf-key", "HF_CODE=sandbox-hf-code", NULL};
        if (idflow(env, "connect", "okta", "acme", "--url", E.sb, "--token-env", "UC_TOKEN", "--sandbox", "--db",
                   E.db, NULL) ||
            idflow(env, "connect", "happyfox", "helpdesk", "--url", E.sb, "--api-key-env", "HF_KEY",
                   "--auth-code-env", "HF_CODE", "--staff", "IT On-call", "--sandbox", "--db", E.db, NULL))
            return -1;
    }
    snprintf(E.listen, sizeof E.listen, "127.0.0.1:%d", tu_free_port());
    snprintf(E.base, sizeof E.base, "http://%s", E.listen);
    snprintf(wfdir, sizeof wfdir, "%s/examples/workflows", E.src);
    {
        const char *argv[] = {E.bin, "serve", "--db", E.db, "--listen", E.listen, "--workflows", wfdir, NULL};
        char url[200];
        if (tu_spawn(argv, NULL, &E.serve))
            return -1;
        snprintf(url, sizeof url, "%s/readyz", E.base);
        if (tu_wait_http_ok(url, 15000))
            return -1;
    }
    snprintf(hook, sizeof hook, "%s/hooks/okta/acme", E.base);
    return idflow(NULL, "connect", "okta", "acme", "--register-hook", hook, "--db", E.db, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_proc_cleanup(&E.serve);
    tu_kill(&E.sandbox, SIGTERM);
    tu_wait(&E.sandbox, 10000);
    tu_proc_cleanup(&E.sandbox);
    tu_rm_rf(E.dir);
    free(E.dir);
    return 0;
}

static json_t *get(const char *base, const char *path)
{
    char url[600], *resp = NULL;
    long status = 0;
    json_t *j;
    snprintf(url, sizeof url, "%s%s", base, path);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    j = json_loads(resp, 0, NULL);
    free(resp);
    assert_non_null(j);
    return j;
}

static void simulate(const char *path, const char *body)
{
    char url[600];
    long status = 0;
    const char *h[] = {"Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "%s%s", E.sb, path);
    assert_int_equal(tu_http("POST", url, body, h, &status, NULL), 0);
    assert_true(status >= 200 && status < 300);
}

static long long metric(const char *name)
{
    char url[200], *resp = NULL, *p;
    long status = 0;
    long long v = -1;
    snprintf(url, sizeof url, "%s/metrics", E.base);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    p = strstr(resp, name);
    if (p)
        v = atoll(p + strlen(name));
    free(resp);
    return v;
}

static size_t runs_of(const char *wf)
{
    char path[200];
    json_t *r;
    size_t n;
    snprintf(path, sizeof path, "/api/v1/runs?workflow=%s&limit=1000", wf);
    r = get(E.base, path);
    n = json_array_size(json_object_get(r, "runs"));
    json_decref(r);
    return n;
}

/* Waits for the newest run of wf to finish; returns it with its steps. */
static json_t *finished_run(const char *wf, size_t want_runs)
{
    int64_t deadline = tu_now_ms() + 20000;
    for (;;) {
        char path[200];
        json_t *l, *r;
        const char *st;
        snprintf(path, sizeof path, "/api/v1/runs?workflow=%s&limit=1", wf);
        l = get(E.base, path);
        if (runs_of(wf) >= want_runs && json_array_size(json_object_get(l, "runs")) == 1) {
            snprintf(path, sizeof path, "/api/v1/runs/%lld",
                     (long long)json_integer_value(json_object_get(json_array_get(json_object_get(l, "runs"), 0), "id")));
            r = get(E.base, path);
            st = json_string_value(json_object_get(r, "status"));
            if (!strcmp(st, "succeeded") || !strcmp(st, "failed")) {
                json_decref(l);
                return r;
            }
            json_decref(r);
        }
        json_decref(l);
        assert_true(tu_now_ms() < deadline);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* The sandbox ticket whose subject is `subject`; asserts there is exactly one. */
static json_t *the_ticket(const char *subject)
{
    json_t *st = get(E.sb, "/_sandbox/state"), *t, *found = NULL;
    size_t i;
    int n = 0;
    json_array_foreach(json_object_get(json_object_get(st, "happyfox"), "tickets"), i, t)
    {
        if (!strcmp(json_string_value(json_object_get(t, "subject")), subject)) {
            n++;
            found = t;
        }
    }
    assert_int_equal(n, 1);
    json_incref(found);
    json_decref(st);
    return found;
}

/* Events acknowledged so far; waits until it passes `after`. */
static long long events_after(long long after)
{
    int64_t deadline = tu_now_ms() + 15000;
    long long v;
    while ((v = metric("\nidflow_events_total ")) <= after) {
        assert_true(tu_now_ms() < deadline);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    return v;
}

static void lockout_opens_a_ticket_for_the_on_call_agent(void **state)
{
    json_t *run, *t, *user;
    const char *text;
    (void)state;
    simulate("/_sandbox/okta/users/sofia.rossi%40acme.example/fail_signin", "{\"count\": 10}");
    run = finished_run("lockout-to-ticket", 1);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "succeeded");
    assert_int_equal(json_array_size(json_object_get(run, "steps")), 2);
    json_decref(run);

    t = the_ticket("Okta account locked: sofia.rossi@acme.example");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "category"), "name")), "IT Support");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "priority"), "name")), "High");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "assigned_to"), "email")),
                        "it-oncall@acme.example");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "user"), "email")),
                        "sofia.rossi@acme.example");
    text = json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(t, "updates"), 0), "message"),
                                             "text"));
    assert_non_null(strstr(text, "too many failed sign-ins"));
    assert_non_null(strstr(text, "Department: Sales"));
    json_decref(t);
    /* idflow did not unlock the account: a person decides */
    user = get(E.sb, "/_sandbox/state");
    {
        json_t *u;
        size_t i;
        json_array_foreach(json_object_get(json_object_get(user, "okta"), "users"), i, u)
        {
            if (!strcmp(json_string_value(json_object_get(json_object_get(u, "profile"), "login")),
                        "sofia.rossi@acme.example"))
                assert_string_equal(json_string_value(json_object_get(u, "status")), "LOCKED_OUT");
        }
    }
    json_decref(user);
}

static void a_sign_in_that_does_not_lock_starts_nothing(void **state)
{
    long long before = metric("\nidflow_events_total ");
    size_t runs = runs_of("lockout-to-ticket");
    (void)state;
    simulate("/_sandbox/okta/users/ethan.brooks%40acme.example/fail_signin", "{\"count\": 2}");
    /* the two failed sign-ins are not subscribed; a console edit after them is: once it is
     * acknowledged, everything before it was too */
    simulate("/_sandbox/okta/users/ethan.brooks%40acme.example/profile", "{\"profile\": {\"title\": \"AE\"}}");
    events_after(before);
    assert_int_equal(runs_of("lockout-to-ticket"), runs);
}

static void department_change_opens_an_access_review(void **state)
{
    json_t *run, *t;
    const char *text;
    (void)state;
    simulate("/_sandbox/okta/users/hannah.kim%40acme.example/profile", "{\"profile\": {\"department\": \"Sales\"}}");
    run = finished_run("profile-change-review", 1);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "succeeded");
    assert_int_equal(json_array_size(json_object_get(run, "steps")), 4);
    json_decref(run);
    t = the_ticket("Access review after a profile change: hannah.kim@acme.example");
    text = json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(t, "updates"), 0), "message"),
                                             "text"));
    assert_non_null(strstr(text, "- department: Marketing -> Sales"));
    assert_non_null(strstr(text, "Groups: "));
    assert_non_null(strstr(text, "Apps: "));
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "priority"), "name")), "Medium");
    json_decref(t);
}

static void other_profile_changes_start_nothing(void **state)
{
    long long before = metric("\nidflow_events_total ");
    size_t runs = runs_of("profile-change-review");
    (void)state;
    simulate("/_sandbox/okta/users/noah.schmidt%40acme.example/profile",
             "{\"profile\": {\"mobilePhone\": \"+1 555 0100\"}}");
    events_after(before); /* the event was acknowledged ... */
    assert_int_equal(runs_of("profile-change-review"), runs); /* ... and started nothing */
}

static void serve_exits_cleanly(void **state)
{
    (void)state;
    tu_kill(&E.serve, SIGTERM);
    assert_int_equal(tu_wait(&E.serve, 15000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lockout_opens_a_ticket_for_the_on_call_agent),
        cmocka_unit_test(a_sign_in_that_does_not_lock_starts_nothing),
        cmocka_unit_test(department_change_opens_an_access_review),
        cmocka_unit_test(other_profile_changes_start_nothing),
        cmocka_unit_test(serve_exits_cleanly),
    };
    return cmocka_run_group_tests_name("usecases", tests, setup, teardown);
}

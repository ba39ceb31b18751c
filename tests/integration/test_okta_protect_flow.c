/* test_okta_protect_flow.c — protected accounts through the whole stack
 * (issue 19): `idflow connect okta ... --protect` against the sandbox (an
 * unknown group or a bad pattern stores nothing; groups are stored with
 * their ids; a reconnect keeps the list), then `idflow serve` running
 * workflows whose destructive steps target protected accounts: the engine
 * (engine/guard.c) fails those steps without calling Okta, names the rule
 * in the step's record, writes the audit record guardrail.protected, and
 * acts on the unprotected users of the same run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/serve_fixture.h"

#define TOKEN "protect-flow-okta-token"

static struct sfx F = {.secrets = {TOKEN}};
static const char *const ENV[] = {"PROTECT_TEST_TOKEN=" TOKEN, NULL};

static const char wf_suspend_many[] = "name: suspend-many\n"
                                      "on: manual\n"
                                      "steps:\n"
                                      "  - id: suspend\n"
                                      "    foreach: ${{ .event.data.logins }}\n"
                                      "    as: login\n"
                                      "    on_error: continue\n"
                                      "    do: okta.suspend_user\n"
                                      "    with:\n"
                                      "      user: ${{ .login }}\n";

static const char wf_raw[] = "name: raw-deactivate\n"
                             "on: manual\n"
                             "steps:\n"
                             "  - id: deactivate\n"
                             "    do: okta.request\n"
                             "    with:\n"
                             "      method: POST\n"
                             "      path: ${{ \"/api/v1/users/\" + (.event.data.login | @uri) + "
                             "\"/lifecycle/deactivate\" }}\n";

/* `idflow connect okta acme ...` with the given --protect values (NULL-terminated). */
static int connect_with(const char *const *protect, char **out)
{
    const char *args[40] = {"connect",   "okta", "acme", "--url", F.sb, "--token-env", "PROTECT_TEST_TOKEN",
                            "--sandbox", "--db", F.db};
    int n = 10;
    for (; protect && *protect && n < 36; protect++) {
        args[n++] = "--protect";
        args[n++] = *protect;
    }
    args[n] = NULL;
    return sfx_idflow_argv(&F, args, ENV, out);
}

/* The stored connections, as `idflow connections --json` lists them. */
static json_t *connections(void)
{
    char *out = NULL;
    json_t *j;
    assert_int_equal(sfx_idflow(&F, NULL, &out, "connections", "--json", "--db", F.db, NULL), 0);
    j = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(j);
    return j;
}

static int setup(void **state)
{
    (void)state;
    if (sfx_start(&F, (const char *[]){"--token", TOKEN, NULL}) || sfx_write_wf(&F, "suspend-many", wf_suspend_many) ||
        sfx_write_wf(&F, "raw", wf_raw))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sfx_stop(&F);
    return 0;
}

static void connect_refuses_what_it_cannot_protect(void **state)
{
    char *out = NULL;
    json_t *list;
    (void)state;

    /* an unknown group: refused, naming it, nothing stored */
    assert_int_equal(connect_with((const char *[]){"it.automation@acme.example", "No Such Group", NULL}, &out), 1);
    free(out);
    list = connections();
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    /* a pattern that would protect everyone: refused by the validation */
    assert_int_equal(connect_with((const char *[]){"*", NULL}, &out), 1);
    free(out);
    list = connections();
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

static void connect_stores_groups_by_id_and_a_reconnect_keeps_them(void **state)
{
    char *out = NULL;
    json_t *list, *prot;
    (void)state;

    assert_int_equal(connect_with((const char *[]){"it.automation@acme.example", "IT Admins", NULL}, &out), 0);
    free(out);
    list = connections();
    prot = json_object_get(json_object_get(json_array_get(list, 0), "config"), "protected");
    assert_int_equal(json_array_size(prot), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(prot, 0), "login")),
                        "it.automation@acme.example");
    assert_string_equal(json_string_value(json_object_get(json_array_get(prot, 1), "group")), "IT Admins");
    assert_int_equal(strncmp(json_string_value(json_object_get(json_array_get(prot, 1), "id")) ?: "", "00g", 3), 0);
    json_t *before = json_deep_copy(prot);
    json_decref(list);
    /* a reconnect (a new token, say) without --protect keeps them */
    assert_int_equal(connect_with(NULL, &out), 0);
    assert_non_null(strstr(out, "keeping its 2 protected account(s)"));
    free(out);
    list = connections();
    assert_true(json_equal(json_object_get(json_object_get(json_array_get(list, 0), "config"), "protected"), before));
    json_decref(list);
    json_decref(before);
    assert_int_equal(sfx_serve_start(&F, NULL, (const char *[]){"--workers", "2", NULL}), 0);
}

static int64_t start(const char *workflow, const char *data)
{
    char url[200], body[2048];
    long status = 0;
    json_t *a;
    int64_t id;
    snprintf(url, sizeof url, "%s/api/v1/events", F.base);
    snprintf(body, sizeof body, "{\"workflow\":\"%s\",\"data\":%s}", workflow, data);
    a = sfx_assert_http_json("POST", url, body, NULL, &status);
    assert_int_equal(status, 202);
    id = json_integer_value(json_array_get(json_object_get(a, "run_ids"), 0));
    json_decref(a);
    assert_true(id > 0);
    return id;
}

/* The run once it has ended (the API answers loopback callers while no token exists). */
static json_t * final(int64_t id)
{
    int64_t deadline = tu_now_ms() + 30000;
    for (;;) {
        char url[200];
        long status = 0;
        json_t *r;
        const char *st;
        snprintf(url, sizeof url, "%s/api/v1/runs/%lld", F.base, (long long)id);
        r = sfx_assert_http_json("GET", url, NULL, NULL, &status);
        st = json_string_value(json_object_get(r, "status"));
        if (st && (!strcmp(st, "succeeded") || !strcmp(st, "failed")))
            return r;
        json_decref(r);
        assert_true(tu_now_ms() < deadline);
        nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
    }
}

/* The sandbox's user with this login: its status into st, its id into id. */
static void sb_user(const char *login, char st[32], char id[32])
{
    char url[200];
    long status = 0;
    json_t *s, *u;
    size_t i;
    snprintf(url, sizeof url, "%s/_sandbox/state", F.sb);
    s = sfx_assert_http_json("GET", url, NULL, NULL, &status);
    st[0] = id[0] = '\0';
    json_array_foreach (json_object_get(json_object_get(s, "okta"), "users"), i, u) {
        if (!strcmp(json_string_value(json_object_get(json_object_get(u, "profile"), "login")) ?: "", login)) {
            snprintf(st, 32, "%s", json_string_value(json_object_get(u, "status")) ?: "");
            snprintf(id, 32, "%s", json_string_value(json_object_get(u, "id")) ?: "");
        }
    }
    json_decref(s);
    assert_true(id[0] != '\0');
}

/* Calls the sandbox received whose method is method and whose path holds part. */
static int sb_calls(const char *method, const char *part)
{
    char url[200];
    long status = 0;
    json_t *r, *c;
    size_t i;
    int n = 0;
    snprintf(url, sizeof url, "%s/_sandbox/calls", F.sb);
    r = sfx_assert_http_json("GET", url, NULL, NULL, &status);
    json_array_foreach (json_object_get(r, "calls"), i, c) {
        if (!strcmp(json_string_value(json_object_get(c, "method")) ?: "", method) &&
            strstr(json_string_value(json_object_get(c, "path")) ?: "", part))
            n++;
    }
    json_decref(r);
    return n;
}

/* The audit records guardrail.protected: how many, and whether one has rule. */
static int audited(const char *rule)
{
    char url[200];
    long status = 0;
    json_t *r, *a;
    size_t i;
    int n = 0;
    snprintf(url, sizeof url, "%s/api/v1/audit?limit=1000", F.base);
    r = sfx_assert_http_json("GET", url, NULL, NULL, &status);
    assert_int_equal(status, 200);
    json_array_foreach (json_object_get(r, "audit"), i, a) {
        const char *d = json_string_value(json_object_get(a, "detail"));
        json_t *dj = json_is_object(json_object_get(a, "detail")) ? json_incref(json_object_get(a, "detail"))
                                                                  : json_loads(d ? d : "", 0, NULL);
        if (!strcmp(json_string_value(json_object_get(a, "action")) ?: "", "guardrail.protected") &&
            !strcmp(json_string_value(json_object_get(dj, "rule")) ?: "", rule))
            n++;
        json_decref(dj);
    }
    json_decref(r);
    return n;
}

/* The step record of item in run r. */
static json_t *item_of(json_t *r, int item)
{
    json_t *s;
    size_t i;
    json_array_foreach (json_object_get(r, "steps"), i, s) {
        if (json_integer_value(json_object_get(s, "item")) == item)
            return s;
    }
    fail_msg("no record of item %d", item);
    return NULL;
}

static void protected_targets_are_refused_by_the_engine(void **state)
{
    char st[32], priya[32], bot[32], maria[32];
    json_t *r, *s;
    const char *msg;
    (void)state;

    r = final(start("suspend-many", "{\"logins\": [\"priya.raman@acme.example\", \"it.automation@acme.example\", "
                                    "\"maria.gonzalez@acme.example\"]}"));
    assert_string_equal(json_string_value(json_object_get(r, "status")), "succeeded"); /* on_error: continue */
    /* an IT admin: refused by group, the step's record naming the rule and saying nothing was called */
    s = item_of(r, 0);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "failed");
    msg = json_string_value(json_object_get(json_object_get(s, "error"), "message"));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "priya.raman@acme.example is protected on connection 'acme'"));
    assert_non_null(strstr(msg, "member of the protected group 'IT Admins'"));
    assert_non_null(strstr(msg, "okta.suspend_user was not called"));
    assert_int_equal(json_integer_value(json_object_get(s, "attempts")), 1); /* not retried */
    /* the automation account: refused by login */
    s = item_of(r, 1);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "failed");
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(s, "error"), "message")) ?: "",
                           "protected login it.automation@acme.example"));
    /* the unprotected user of the same run: suspended */
    s = item_of(r, 2);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "succeeded");
    json_decref(r);
    sb_user("priya.raman@acme.example", st, priya);
    assert_string_equal(st, "ACTIVE");
    sb_user("it.automation@acme.example", st, bot);
    assert_string_equal(st, "ACTIVE");
    sb_user("maria.gonzalez@acme.example", st, maria);
    assert_string_equal(st, "SUSPENDED");
    /* no lifecycle call reached the protected ones */
    assert_int_equal(sb_calls("POST", priya), 0);
    assert_int_equal(sb_calls("POST", bot), 0);
    assert_int_equal(sb_calls("POST", "/lifecycle/suspend"), 1);
    /* the refusals are audited */
    assert_int_equal(audited("member of the protected group 'IT Admins'"), 1);
    assert_int_equal(audited("protected login it.automation@acme.example"), 1);
}

static void okta_request_to_a_protected_user_fails_the_run(void **state)
{
    char st[32], id[32];
    json_t *r;
    const char *err;
    (void)state;

    r = final(start("raw-deactivate", "{\"login\": \"dana.whitfield@acme.example\"}"));
    assert_string_equal(json_string_value(json_object_get(r, "status")), "failed");
    err = json_string_value(json_object_get(r, "error"));
    assert_non_null(err);
    assert_non_null(strstr(err, "member of the protected group 'IT Admins'"));
    json_decref(r);
    sb_user("dana.whitfield@acme.example", st, id);
    assert_string_equal(st, "ACTIVE");
    assert_int_equal(sb_calls("POST", "/lifecycle/deactivate"), 0);
    assert_int_equal(audited("member of the protected group 'IT Admins'"), 2);
}

/* PUT /api/v1/connections/NAME takes the same list: groups completed with
 * their ids, an unknown group or a bad entry refused with nothing stored. */
static void the_api_takes_the_same_list(void **state)
{
    char url[200], body[600];
    long status = 0;
    json_t *a, *prot;
    (void)state;

    snprintf(url, sizeof url, "%s/api/v1/connections/acme2", F.base);
    snprintf(body, sizeof body,
             "{\"kind\": \"okta\", \"config\": {\"url\": \"%s\", \"token\": \"%s\", \"sandbox\": true, "
             "\"protected\": [{\"group\": \"No Such Group\"}]}}",
             F.sb, TOKEN);
    a = sfx_assert_http_json("PUT", url, body, NULL, &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(json_string_value(json_object_get(a, "error")) ?: "", "No Such Group"));
    json_decref(a);
    snprintf(body, sizeof body,
             "{\"kind\": \"okta\", \"config\": {\"url\": \"%s\", \"token\": \"%s\", \"sandbox\": true, "
             "\"protected\": [{\"login\": \"a*b\"}]}}",
             F.sb, TOKEN);
    a = sfx_assert_http_json("PUT", url, body, NULL, &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(json_string_value(json_object_get(a, "error")) ?: "", "protected[0]"));
    json_decref(a);
    a = sfx_assert_http_json("GET", url, NULL, NULL, &status);
    assert_int_equal(status, 404); /* nothing stored */
    json_decref(a);
    snprintf(body, sizeof body,
             "{\"kind\": \"okta\", \"config\": {\"url\": \"%s\", \"token\": \"%s\", \"sandbox\": true, "
             "\"protected\": [{\"group\": \"IT Admins\"}]}}",
             F.sb, TOKEN);
    a = sfx_assert_http_json("PUT", url, body, NULL, &status);
    assert_int_equal(status, 201);
    json_decref(a);
    a = sfx_assert_http_json("GET", url, NULL, NULL, &status);
    prot = json_object_get(json_object_get(a, "config"), "protected");
    assert_string_equal(json_string_value(json_object_get(json_array_get(prot, 0), "group")), "IT Admins");
    assert_int_equal(strncmp(json_string_value(json_object_get(json_array_get(prot, 0), "id")) ?: "", "00g", 3), 0);
    json_decref(a);
    a = sfx_assert_http_json("DELETE", url, NULL, NULL, &status);
    assert_int_equal(status, 200);
    json_decref(a);
}

/* The check's own read answered 429: the step waits and asks again, as a
 * deferred action would, instead of failing (the step has no retry:). */
static void a_rate_limited_check_defers_the_step(void **state)
{
    char url[200], st[32], id[32];
    long status = 0;
    json_t *r, *s;
    (void)state;

    snprintf(url, sizeof url, "%s/_sandbox/faults", F.sb);
    json_decref(sfx_assert_http_json("POST", url, "{\"path\": \"/api/v1/users/\", \"burst429\": 1}", NULL, &status));
    assert_int_equal(status, 200);
    r = final(start("suspend-many", "{\"logins\": [\"ethan.brooks@acme.example\"]}"));
    s = item_of(r, 0);
    if (strcmp(json_string_value(json_object_get(s, "status")) ?: "", "succeeded") != 0)
        fail_msg("the step did not succeed after a 429 on its check: %s",
                 json_string_value(json_object_get(json_object_get(s, "error"), "message")) ?: "?");
    assert_int_equal(json_integer_value(json_object_get(s, "attempts")), 1);
    json_decref(r);
    sb_user("ethan.brooks@acme.example", st, id);
    assert_string_equal(st, "SUSPENDED");
    assert_true(sb_calls("GET", "/api/v1/users/") > 0);
}

static void serve_exits_cleanly(void **state)
{
    (void)state;
    assert_int_equal(sfx_serve_stop(&F), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_refuses_what_it_cannot_protect),
        cmocka_unit_test(connect_stores_groups_by_id_and_a_reconnect_keeps_them),
        cmocka_unit_test(protected_targets_are_refused_by_the_engine),
        cmocka_unit_test(okta_request_to_a_protected_user_fails_the_run),
        cmocka_unit_test(a_rate_limited_check_defers_the_step),
        cmocka_unit_test(the_api_takes_the_same_list),
        cmocka_unit_test(serve_exits_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_okta_protect.c — the Okta connector's protected accounts (issue 19;
 * src/connectors/okta/protect.c) against a real sandbox: the check the
 * engine makes before a destructive call (connector_okta.protect), the
 * `protected` config's validation, and its completion at connect time
 * (group names to ids). The engine's side (guard.c: the step fails, the
 * audit record, nothing called) is test_okta_protect_flow.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "credentials/credentials.h"
#include "okta_fixture.h"

/* The id of the sandbox's user with this login, or of the group with this
 * name (group != 0), into out. */
static const char *sb_id(struct ofx *f, const char *name, bool group, char out[32])
{
    json_t *st = sbx(f, "GET", "/_sandbox/state", NULL), *x;
    size_t i;

    out[0] = '\0';
    json_array_foreach (json_object_get(json_object_get(st, "okta"), group ? "groups" : "users"), i, x) {
        const char *v = json_string_value(json_object_get(json_object_get(x, "profile"), group ? "name" : "login"));
        if (v && strcmp(v, name) == 0)
            snprintf(out, 32, "%s", json_string_value(json_object_get(x, "id")) ?: "");
    }
    json_decref(st);
    assert_true(out[0] != '\0');
    return out;
}

/* f's connection with protected = list (JSON text; NULL: none). Caller decrefs. */
static json_t *conn_with(struct ofx *f, const char *list)
{
    json_t *c = json_deep_copy(f->conn);
    if (list)
        json_object_set_new(c, "protected", json_loads(list, 0, NULL));
    assert_non_null(c);
    return c;
}

/* The sandbox's Okta API calls so far (/api/v1...). */
static int api_calls(struct ofx *f)
{
    return count_calls(f, NULL, "/api/v1/", -1);
}

/* Asks connector_okta.protect about action with params (JSON text) on conn. */
static int protect(struct ofx *f, const json_t *conn, const char *action, const char *params, bool *refused,
                   struct conn_protect *p)
{
    const struct conn_action *a = registry_find_action(registry_default(), action);
    json_t *pj = json_loads(params, 0, NULL);
    void *slot = NULL;
    struct conn_call c = {.http = f->http,
                          .connection = conn,
                          .connection_name = json_string_value(json_object_get(conn, "name")),
                          .run_id = 1,
                          .step_id = "test",
                          .attempt = 1,
                          .thread_slot = &slot};
    int rc;

    assert_non_null(a);
    assert_non_null(pj);
    assert_non_null(ofx_okta()->protect);
    /* the engine asks only about destructive calls */
    assert_int_equal(conn_action_effect(a, pj), CONN_EFFECT_DESTRUCTIVE);
    memset(p, 0, sizeof *p);
    *refused = false;
    rc = ofx_okta()->protect(&c, a, pj, refused, p);
    no_token("rule", p->rule);
    no_token("target", p->target);
    json_decref(pj);
    return rc;
}

#define IT_ADMINS "[{\"login\": \"it.automation@acme.example\"}, {\"group\": \"IT Admins\", \"id\": \"%s\"}]"

static void a_protected_login_is_refused_without_a_call(void **state)
{
    struct ofx *f = ofx_start();
    char gid[32], st[32];
    char list[300];
    bool refused;
    struct conn_protect p;
    (void)state;

    snprintf(list, sizeof list, IT_ADMINS, sb_id(f, "IT Admins", true, gid));
    json_t *conn = conn_with(f, list);
    int before = api_calls(f);
    assert_int_equal(protect(f, conn, "okta.suspend_user", "{\"user\": \"IT.Automation@acme.example\"}", &refused, &p),
                     0);
    assert_true(refused);
    assert_string_equal(p.rule, "protected login it.automation@acme.example");
    assert_string_equal(p.target, "IT.Automation@acme.example");
    assert_int_equal(api_calls(f), before); /* named by its login: not even a read */
    assert_string_equal(sbx_status(f, "it.automation@acme.example", st), "ACTIVE");
    json_decref(conn);
    ofx_stop(f);
}

static void a_protected_login_named_by_id_is_refused(void **state)
{
    struct ofx *f = ofx_start();
    char gid[32], uid[32], list[300], params[100];
    bool refused;
    struct conn_protect p;
    (void)state;

    snprintf(list, sizeof list, IT_ADMINS, sb_id(f, "IT Admins", true, gid));
    json_t *conn = conn_with(f, list);
    snprintf(params, sizeof params, "{\"user\": \"%s\"}", sb_id(f, "it.automation@acme.example", false, uid));
    assert_int_equal(protect(f, conn, "okta.deactivate_user", params, &refused, &p), 0);
    assert_true(refused);
    assert_string_equal(p.rule, "protected login it.automation@acme.example");
    assert_string_equal(p.target, "it.automation@acme.example");
    /* the read was the only call: nothing but GETs reached the sandbox */
    assert_int_equal(count_calls(f, "GET", NULL, -1), api_calls(f));
    json_decref(conn);
    ofx_stop(f);
}

static void a_member_of_a_protected_group_is_refused(void **state)
{
    struct ofx *f = ofx_start();
    char gid[32], list[300];
    bool refused;
    struct conn_protect p;
    (void)state;

    snprintf(list, sizeof list, IT_ADMINS, sb_id(f, "IT Admins", true, gid));
    json_t *conn = conn_with(f, list);
    static const char *const actions[] = {"okta.suspend_user",
                                          "okta.deactivate_user",
                                          "okta.reset_factors",
                                          "okta.clear_sessions",
                                          "okta.reset_password",
                                          "okta.expire_password",
                                          NULL};
    for (int i = 0; actions[i]; i++) {
        assert_int_equal(protect(f, conn, actions[i], "{\"user\": \"priya.raman@acme.example\"}", &refused, &p), 0);
        assert_true(refused);
        assert_string_equal(p.rule, "member of the protected group 'IT Admins'");
        assert_string_equal(p.target, "priya.raman@acme.example");
    }
    /* removing a member from the protected group: the member is protected */
    assert_int_equal(protect(f, conn, "okta.remove_from_group",
                             "{\"user\": \"priya.raman@acme.example\", \"group\": \"IT Admins\"}", &refused, &p),
                     0);
    assert_true(refused);
    /* the group list was read through the connection, and nothing else was asked */
    assert_true(count_calls(f, "GET", "/groups", -1) > 0);
    assert_int_equal(count_calls(f, "GET", NULL, -1), api_calls(f));
    json_decref(conn);
    ofx_stop(f);
}

static void a_renamed_group_stays_protected_by_id(void **state)
{
    struct ofx *f = ofx_start();
    char gid[32], list[300], params[300];
    bool refused;
    struct conn_protect p;
    (void)state;

    /* stored when the group was called "Break-glass": Okta calls it "IT Admins" now */
    sb_id(f, "IT Admins", true, gid);
    snprintf(list, sizeof list, "[{\"group\": \"Break-glass\", \"id\": \"%s\"}]", gid);
    json_t *conn = conn_with(f, list);
    assert_int_equal(protect(f, conn, "okta.suspend_user", "{\"user\": \"dana.whitfield@acme.example\"}", &refused, &p),
                     0);
    assert_true(refused);
    assert_string_equal(p.rule, "member of the protected group 'Break-glass'"); /* the name as stored */
    /* a change to the protected group itself (a rename, here) is refused too */
    snprintf(params, sizeof params,
             "{\"method\": \"PUT\", \"path\": \"/api/v1/groups/%s\", \"json\": {\"profile\": {\"name\": \"X\"}}}", gid);
    assert_int_equal(protect(f, conn, "okta.request", params, &refused, &p), 0);
    assert_true(refused);
    assert_string_equal(p.rule, "a change to the protected group 'Break-glass'");
    assert_string_equal(p.target, "group Break-glass");
    /* an entry without an id (written by hand, never completed) matches by exact name */
    json_decref(conn);
    conn = conn_with(f, "[{\"group\": \"IT Admins\"}]");
    assert_int_equal(protect(f, conn, "okta.suspend_user", "{\"user\": \"dana.whitfield@acme.example\"}", &refused, &p),
                     0);
    assert_true(refused);
    json_decref(conn);
    ofx_stop(f);
}

static void wildcards_and_unprotected_users(void **state)
{
    struct ofx *f = ofx_start();
    char st[32];
    bool refused;
    struct conn_protect p;
    (void)state;

    json_t *conn = conn_with(f, "[{\"login\": \"IT.*\"}, {\"login\": \"svc-*\"}]");
    assert_int_equal(protect(f, conn, "okta.suspend_user", "{\"user\": \"it.automation@acme.example\"}", &refused, &p),
                     0);
    assert_true(refused);
    assert_string_equal(p.rule, "protected login IT.*");
    /* a short name resolves to a login the pattern matches: read, then refused */
    json_decref(conn);
    conn = conn_with(f, "[{\"login\": \"it.automation@acme.*\"}]");
    assert_int_equal(protect(f, conn, "okta.suspend_user", "{\"user\": \"it.automation\"}", &refused, &p), 0);
    assert_true(refused);
    assert_string_equal(p.target, "it.automation@acme.example");
    /* an unprotected user in the same list: not refused, and acted on */
    assert_int_equal(protect(f, conn, "okta.suspend_user", "{\"user\": \"maria.gonzalez@acme.example\"}", &refused, &p),
                     0);
    assert_false(refused);
    assert_string_equal(p.target, "");
    struct conn_result r = {0};
    assert_int_equal(ofx_act_conn(f, conn, "okta.suspend_user", 1, &r, "{\"user\": \"maria.gonzalez@acme.example\"}"),
                     0);
    res_clear(&r);
    assert_string_equal(sbx_status(f, "maria.gonzalez@acme.example", st), "SUSPENDED");
    /* a user Okta does not have is not protected: the action says it is missing */
    assert_int_equal(protect(f, conn, "okta.suspend_user", "{\"user\": \"nobody@acme.example\"}", &refused, &p), 0);
    assert_false(refused);
    json_decref(conn);
    ofx_stop(f);
}

static void no_list_costs_no_call(void **state)
{
    struct ofx *f = ofx_start();
    bool refused;
    struct conn_protect p;
    (void)state;

    json_t *conn = conn_with(f, NULL), *empty = conn_with(f, "[]");
    int before = api_calls(f);
    assert_int_equal(protect(f, conn, "okta.suspend_user", "{\"user\": \"priya.raman@acme.example\"}", &refused, &p),
                     0);
    assert_false(refused);
    assert_int_equal(protect(f, empty, "okta.suspend_user", "{\"user\": \"priya.raman@acme.example\"}", &refused, &p),
                     0);
    assert_false(refused);
    assert_int_equal(api_calls(f), before);
    /* only logins protected: the user is read, their groups are not */
    json_decref(conn);
    conn = conn_with(f, "[{\"login\": \"svc-*\"}]");
    assert_int_equal(protect(f, conn, "okta.suspend_user", "{\"user\": \"priya.raman@acme.example\"}", &refused, &p),
                     0);
    assert_false(refused);
    assert_int_equal(count_calls(f, NULL, "/groups", -1), 0);
    json_decref(conn);
    json_decref(empty);
    ofx_stop(f);
}

static void okta_request_writes_to_protected_users_are_refused(void **state)
{
    struct ofx *f = ofx_start();
    char gid[32], pid[32], aid[32] = "0oa00000000000000000", list[300], params[600];
    bool refused;
    struct conn_protect p;
    (void)state;

    snprintf(list, sizeof list, IT_ADMINS, sb_id(f, "IT Admins", true, gid));
    sb_id(f, "priya.raman@acme.example", false, pid);
    json_t *conn = conn_with(f, list);
    const char *const paths[][2] = {
        {"/api/v1/users/", ""},                                           /* a user */
        {"/api/v1/users/", "/lifecycle/suspend"},                         /* a lifecycle operation */
        {"/api/v1/users/", "/sessions"},                                  /* their sessions */
        {"/api/v1/groups/00g00000000000000000/users/", ""},               /* their membership of another group */
        {"/api//v1/./groups/00gX/../../users/", "/lifecycle/deactivate"}, /* dot segments and "//" */
        {"/api/v1/users/", "/factors/%2e%2e/lifecycle/deactivate"},       /* an encoded dot segment */
        {"/api;v=1/v1\\\\users/", ";jsessionid=x/lifecycle/suspend"},     /* matrix parameters, a backslash */
        {"/api/v1/groups%2F00g00000000000000000%2Fusers%2F", ""},         /* encoded slashes */
        {NULL, NULL}};
    for (int i = 0; paths[i][0]; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s%s%s", paths[i][0], pid, paths[i][1]);
        snprintf(params, sizeof params, "{\"method\": \"%s\", \"path\": \"%s\"}", i % 2 ? "POST" : "DELETE", path);
        assert_int_equal(protect(f, conn, "okta.request", params, &refused, &p), 0);
        if (!refused)
            fail_msg("%s was not refused", path);
        assert_string_equal(p.rule, "member of the protected group 'IT Admins'");
        assert_string_equal(p.target, "priya.raman@acme.example");
    }
    /* an app's user, a login in the path (percent-encoded), an absolute URL on the org */
    snprintf(params, sizeof params, "{\"method\": \"DELETE\", \"path\": \"/api/v1/apps/%s/users/%s\"}", aid, pid);
    assert_int_equal(protect(f, conn, "okta.request", params, &refused, &p), 0);
    assert_true(refused);
    snprintf(params, sizeof params,
             "{\"method\": \"POST\", \"path\": \"/api/v1/users/it.automation%%40acme.example/lifecycle/suspend\"}");
    assert_int_equal(protect(f, conn, "okta.request", params, &refused, &p), 0);
    assert_true(refused);
    assert_string_equal(p.rule, "protected login it.automation@acme.example");
    snprintf(params, sizeof params, "{\"method\": \"DELETE\", \"path\": \"%s/api/v1/users/%s/sessions?x=1\"}", f->base,
             pid);
    assert_int_equal(protect(f, conn, "okta.request", params, &refused, &p), 0);
    assert_true(refused);
    /* the protected group itself, by id, whatever the sub-path */
    snprintf(params, sizeof params, "{\"method\": \"DELETE\", \"path\": \"/api/v1/groups/%s\"}", gid);
    assert_int_equal(protect(f, conn, "okta.request", params, &refused, &p), 0);
    assert_true(refused);
    assert_string_equal(p.target, "group IT Admins");
    /* a path too long to read is not guessed at: the check fails, so nothing is called */
    {
        char longp[1200], big[1300];
        memset(longp, 'a', sizeof longp - 1);
        longp[sizeof longp - 1] = '\0';
        memcpy(longp, "/api/v1/users/", 14);
        snprintf(big, sizeof big, "{\"method\": \"DELETE\", \"path\": \"%s\"}", longp);
        assert_true(protect(f, conn, "okta.request", big, &refused, &p) < 0);
        assert_false(refused);
        assert_non_null(strstr(p.rule, "too long to check"));
    }
    /* a write that names no user: nothing to refuse */
    assert_int_equal(protect(f, conn, "okta.request",
                             "{\"method\": \"POST\", \"path\": \"/api/v1/users?activate=false\", \"json\": {}}",
                             &refused, &p),
                     0);
    assert_false(refused);
    /* an unprotected user through okta.request */
    assert_int_equal(protect(f, conn, "okta.request",
                             "{\"method\": \"POST\", \"path\": "
                             "\"/api/v1/users/maria.gonzalez%40acme.example/lifecycle/suspend\"}",
                             &refused, &p),
                     0);
    assert_false(refused);
    /* nothing but reads reached the sandbox */
    assert_int_equal(count_calls(f, "GET", NULL, -1), api_calls(f));
    json_decref(conn);
    ofx_stop(f);
}

static void a_failed_check_is_an_error_not_a_pass(void **state)
{
    struct ofx *f = ofx_start();
    char gid[32], list[300];
    bool refused;
    struct conn_protect p;
    (void)state;

    snprintf(list, sizeof list, IT_ADMINS, sb_id(f, "IT Admins", true, gid));
    json_t *conn = conn_with(f, list);
    /* the groups of a user cannot be read: 503 */
    sbx_post(f, "/_sandbox/faults", "{\"path\": \"/api/v1/users/\", \"error_rate\": 1, \"status\": 503}");
    int rc = protect(f, conn, "okta.suspend_user", "{\"user\": \"maria.gonzalez@acme.example\"}", &refused, &p);
    assert_true(rc < 0);
    assert_false(refused);
    assert_true(p.retryable);
    assert_false(p.deferred);
    assert_non_null(strstr(p.rule, "503"));
    /* a 429: the check was not made; the engine defers the step */
    sbx_post(f, "/_sandbox/faults", "{\"path\": \"/api/v1/users/\", \"burst429\": 1}");
    rc = protect(f, conn, "okta.suspend_user", "{\"user\": \"maria.gonzalez@acme.example\"}", &refused, &p);
    assert_true(rc < 0);
    assert_false(refused);
    assert_true(p.deferred);
    assert_non_null(strstr(p.rule, "429"));
    json_decref(conn);
    ofx_stop(f);
}

/* ------------------------------------------------------------ the config */

static void bad_lists_are_refused_naming_the_entry(void **state)
{
    static const struct {
        const char *list, *want;
    } cases[] = {
        {"\"it.automation@acme.example\"", "protected must be a list"},
        {"[\"it.automation@acme.example\"]", "protected[0]: must be an object"},
        {"[{\"login\": \"a@b.c\"}, {\"login\": 5}]", "protected[1]: login must be a string"},
        {"[{\"login\": \"\"}]", "protected[0]: login '' is empty"},
        {"[{\"login\": \"*\"}]", "would protect every user"},
        {"[{\"login\": \"a*b@c\"}]", "only a trailing '*' is a wildcard"},
        {"[{\"login\": \"a b@c\"}]", "has a blank"},
        {"[{\"login\": \"a@b\", \"group\": \"G\"}]", "protected[0]: an entry is a login or a group, not both"},
        {"[{}]", "protected[0]: give a login or a group"},
        {"[{\"user\": \"a@b\"}]", "protected[0]: unknown member 'user'"},
        {"[{\"group\": \"G\", \"id\": \"00u1234567890abcdefg\"}]", "is not an Okta group id"},
        {"[{\"group\": \"\"}]", "protected[0]: group must be a name"},
    };
    char big[16 * 1024];
    size_t o = 0;
    struct idf_err err;
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *cfg = json_pack("{s:s, s:s, s:b}", "url", "http://127.0.0.1:9", "token", "t0k3n-value", "sandbox", 1);
        json_object_set_new(cfg, "protected", json_loads(cases[i].list, JSON_DECODE_ANY, NULL));
        assert_non_null(json_object_get(cfg, "protected"));
        assert_int_not_equal(cred_validate(ofx_okta(), cfg, &err), 0);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("%s: got '%s', wanted '%s'", cases[i].list, err.msg, cases[i].want);
        json_decref(cfg);
    }
    /* too many entries */
    o += (size_t)snprintf(big + o, sizeof big - o, "[");
    for (int i = 0; i < 101; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "%s{\"login\": \"u%d@x\"}", i ? "," : "", i);
    snprintf(big + o, sizeof big - o, "]");
    json_t *cfg = json_pack("{s:s, s:s, s:b, s:o}", "url", "http://127.0.0.1:9", "token", "t0k3n-value", "sandbox", 1,
                            "protected", json_loads(big, 0, NULL));
    assert_int_not_equal(cred_validate(ofx_okta(), cfg, &err), 0);
    assert_non_null(strstr(err.msg, "at most 100 entries"));
    /* a good list passes, as given */
    json_object_set_new(cfg, "protected",
                        json_loads("[{\"login\": \"svc-*\"}, {\"group\": \"IT Admins\"}, {\"id\": "
                                   "\"00g1234567890abcdefg\"}]",
                                   0, NULL));
    assert_int_equal(cred_validate(ofx_okta(), cfg, &err), 0);
    json_decref(cfg);
}

static void prepare_resolves_groups_and_refuses_unknown_ones(void **state)
{
    struct ofx *f = ofx_start();
    char gid[32];
    struct idf_err err;
    json_t *cfg = json_deep_copy(f->conn);
    (void)state;

    json_object_del(cfg, "name");
    json_object_del(cfg, "kind");
    sb_id(f, "IT Admins", true, gid);
    json_object_set_new(cfg, "protected",
                        json_pack("[{s:s}, {s:s}, {s:s}]", "login", "svc-*", "group", "IT Admins", "group", gid));
    assert_int_equal(cred_prepare(ofx_okta(), "acme", cfg, &err), 0);
    json_t *want = json_pack("[{s:s}, {s:s, s:s}, {s:s, s:s}]", "login", "svc-*", "group", "IT Admins", "id", gid,
                             "group", "IT Admins", "id", gid);
    assert_true(json_equal(json_object_get(cfg, "protected"), want));
    json_decref(want);
    /* complete entries cost no call */
    int before = api_calls(f);
    assert_int_equal(cred_prepare(ofx_okta(), "acme", cfg, &err), 0);
    assert_int_equal(api_calls(f), before);
    /* an unknown group: an error naming it, and config unchanged */
    json_t *kept = json_deep_copy(json_object_get(cfg, "protected"));
    json_array_append_new(json_object_get(cfg, "protected"), json_pack("{s:s}", "group", "No Such Group"));
    json_t *given = json_deep_copy(json_object_get(cfg, "protected"));
    assert_int_equal(cred_prepare(ofx_okta(), "acme", cfg, &err), IDF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "No Such Group"));
    no_token("error", err.msg);
    assert_true(json_equal(json_object_get(cfg, "protected"), given));
    json_decref(kept);
    json_decref(given);
    json_decref(cfg);
    ofx_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_protected_login_is_refused_without_a_call),
        cmocka_unit_test(a_protected_login_named_by_id_is_refused),
        cmocka_unit_test(a_member_of_a_protected_group_is_refused),
        cmocka_unit_test(a_renamed_group_stays_protected_by_id),
        cmocka_unit_test(wildcards_and_unprotected_users),
        cmocka_unit_test(no_list_costs_no_call),
        cmocka_unit_test(okta_request_writes_to_protected_users_are_refused),
        cmocka_unit_test(a_failed_check_is_an_error_not_a_pass),
        cmocka_unit_test(bad_lists_are_refused_naming_the_entry),
        cmocka_unit_test(prepare_resolves_groups_and_refuses_unknown_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

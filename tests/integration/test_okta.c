/* test_okta.c — the Okta connector's actions against a real sandbox: for
 * each action success, already-in-state (changed: false, no write), refused
 * transitions (both states named, not retryable, no write) and not found;
 * groups, apps, create/update, lists and okta.request. Each test gets a
 * freshly seeded sandbox (Acme Corp: users in every status). Rate limits,
 * faults, pacing, connections and OAuth are in test_okta_limits.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "integration/okta_fixture.h"

#define ST "@acme.example"

static int setup(void **state)
{
    *state = ofx_start();
    return 0;
}

static int teardown(void **state)
{
    ofx_stop(*state);
    return 0;
}

static void assert_has(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
}

#define MUST(rc, r)                                                                                                    \
    do {                                                                                                               \
        if ((rc) != 0)                                                                                                 \
            fail_msg("failed: %s", (r).message);                                                                       \
    } while (0)

/* ------------------------------------------------------------ get_user */

static void test_get_user(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;
    char id[32];

    MUST(ofx_actf(f, "okta.get_user", 1, &r, "{\"user\": \"james.okafor" ST "\"}"), r);
    assert_string_equal(ostr(json_object_get(r.output, "profile"), "login"), "james.okafor" ST);
    assert_string_equal(ostr(r.output, "status"), "ACTIVE");
    assert_false(ochanged(&r));
    assert_true(strncmp(ostr(r.output, "request_id"), "req", 3) == 0);
    assert_null(json_object_get(r.output, "_links"));
    snprintf(id, sizeof id, "%s", ostr(r.output, "id"));
    res_clear(&r);

    MUST(ofx_actf(f, "okta.get_user", 1, &r, "{\"id\": \"%s\"}", id), r);
    assert_string_equal(ostr(json_object_get(r.output, "profile"), "login"), "james.okafor" ST);
    res_clear(&r);
    MUST(ofx_actf(f, "okta.get_user", 1, &r, "{\"login\": \"james.okafor" ST "\"}"), r);
    assert_string_equal(ostr(r.output, "id"), id);
    res_clear(&r);

    assert_int_equal(ofx_actf(f, "okta.get_user", 1, &r, "{\"user\": \"nobody+x" ST "\"}"), IDF_ENOTFOUND);
    assert_false(r.retryable);
    assert_has(r.message, "nobody+x" ST);
    assert_int_equal(json_integer_value(json_object_get(r.detail, "http_status")), 404);
    assert_string_equal(ostr(r.detail, "errorCode"), "E0000007");
    res_clear(&r);
    /* '+' and '@' travel percent-encoded: the sandbox saw the login, not "nobody x". */
    assert_int_equal(count_calls(f, "GET", "/api/v1/users/nobody%2Bx%40acme.example", 404), 1);

    assert_int_equal(ofx_actf(f, "okta.get_user", 1, &r, "{}"), IDF_EINVAL);
    assert_false(r.retryable);
    res_clear(&r);
}

/* Okta serves a login holding '/' or '?' only by id ("Get User": "Logins
 * with a / or ? character can only be fetched by id"); idflow also treats
 * '#' and '%' so. Such a user is found by search, read and acted on by id,
 * and no request puts the login in a path. */
static void test_login_unsafe_in_path(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;
    static const char *const logins[] = {"q?mark" ST, "a/b" ST, "hash#tag" ST, "pct%x" ST, NULL};
    static const char *const encoded[] = {"q%3Fmark", "a%2Fb", "hash%23tag", "pct%25x", NULL};
    char st[32];

    for (int i = 0; logins[i]; i++) {
        char id[32], part[64];
        MUST(ofx_actf(f, "okta.create_user", 1, &r,
                      "{\"profile\": {\"login\": \"%s\", \"email\": \"odd%d" ST "\", \"firstName\": \"O\", "
                      "\"lastName\": \"D\"}, \"password\": \"Very-Secret-Pw-42\"}",
                      logins[i], i),
             r);
        snprintf(id, sizeof id, "%s", ostr(r.output, "id"));
        res_clear(&r);

        MUST(ofx_actf(f, "okta.get_user", 1, &r, "{\"user\": \"%s\"}", logins[i]), r);
        assert_string_equal(ostr(r.output, "id"), id);
        res_clear(&r);
        MUST(ofx_actf(f, "okta.suspend_user", 1, &r, "{\"user\": \"%s\"}", logins[i]), r);
        assert_true(ochanged(&r));
        res_clear(&r);
        assert_string_equal(sbx_status(f, logins[i], st), "SUSPENDED");
        MUST(ofx_actf(f, "okta.list_user_groups", 1, &r, "{\"user\": \"%s\"}", logins[i]), r);
        assert_int_equal(json_integer_value(json_object_get(r.output, "count")), 1); /* Everyone */
        res_clear(&r);

        snprintf(part, sizeof part, "/api/v1/users/%s", encoded[i]);
        assert_int_equal(count_calls(f, NULL, part, -1), 0);
    }
    /* one not found by search is reported as not found, not retried */
    assert_int_equal(ofx_actf(f, "okta.get_user", 1, &r, "{\"user\": \"nobody?x" ST "\"}"), IDF_ENOTFOUND);
    assert_false(r.retryable);
    assert_has(r.message, "nobody?x" ST);
    res_clear(&r);
}

/* ------------------------------------------------- the lifecycle table */

struct lc_case {
    const char *action, *endpoint;
    const char *ok_user, *ok_status; /* a user the action moves, and where to */
    bool repeat_converges;           /* calling again is changed:false */
    const char *done_user;           /* already in the wanted state, or NULL */
    const char *refused_user, *refused_status, *wanted_text; /* a refused transition, or NULL */
    const char *extra;               /* extra params, e.g. ", \"send_email\": false" */
};

static const struct lc_case lc_cases[] = {
    {"okta.activate_user", "activate", "zoe.adams" ST, "PROVISIONED", true, "james.okafor" ST, "peter.novak" ST,
     "SUSPENDED", "STAGED or DEPROVISIONED", ""},
    {"okta.reactivate_user", "reactivate", "tom.fischer" ST, "PROVISIONED", false, NULL, "frank.miller" ST,
     "DEPROVISIONED", "PROVISIONED or RECOVERY", ""},
    {"okta.deactivate_user", "deactivate", "james.okafor" ST, "DEPROVISIONED", true, "frank.miller" ST, NULL, NULL,
     NULL, ""},
    {"okta.suspend_user", "suspend", "james.okafor" ST, "SUSPENDED", true, "peter.novak" ST, "kevin.murphy" ST,
     "LOCKED_OUT", "ACTIVE", ""},
    {"okta.unsuspend_user", "unsuspend", "peter.novak" ST, "ACTIVE", false, NULL, "james.okafor" ST, "ACTIVE",
     "SUSPENDED", ""},
    {"okta.unlock_user", "unlock", "kevin.murphy" ST, "ACTIVE", true, "james.okafor" ST, "peter.novak" ST,
     "SUSPENDED", "LOCKED_OUT", ""},
    {"okta.reset_password", "reset_password", "james.okafor" ST, "RECOVERY", true, "sam.taylor" ST, "zoe.adams" ST,
     "STAGED", "ACTIVE, PASSWORD_EXPIRED or LOCKED_OUT", ", \"send_email\": false"},
    {"okta.expire_password", "expire_password", "james.okafor" ST, "PASSWORD_EXPIRED", true, "victor.hugo" ST,
     "peter.novak" ST, "SUSPENDED", "ACTIVE", ""},
    {"okta.reset_factors", "reset_factors", "dana.whitfield" ST, "ACTIVE", true, "liam.obrien" ST, "frank.miller" ST,
     "DEPROVISIONED", "any but DEPROVISIONED", ""},
};

static int lifecycle_posts(struct ofx *f, const char *id, const char *endpoint)
{
    char part[128];
    snprintf(part, sizeof part, "/users/%s/lifecycle/%s", id, endpoint);
    return count_calls(f, "POST", part, -1);
}

static void run_case(struct ofx *f, const struct lc_case *c)
{
    struct conn_result r;
    char id[32], st[32];
    int rc;

    /* success */
    rc = ofx_actf(f, c->action, 1, &r, "{\"user\": \"%s\"%s}", c->ok_user, c->extra);
    if (rc)
        fail_msg("%s %s: %s", c->action, c->ok_user, r.message);
    assert_true(ochanged(&r));
    assert_string_equal(ostr(r.output, "status"), c->ok_status);
    assert_non_null(ostr(r.output, "previous_status"));
    assert_string_equal(sbx_status(f, c->ok_user, st), c->ok_status);
    snprintf(id, sizeof id, "%s", ostr(r.output, "id"));
    res_clear(&r);
    assert_int_equal(lifecycle_posts(f, id, c->endpoint), 1);

    /* the same call again */
    rc = ofx_actf(f, c->action, 1, &r, "{\"user\": \"%s\"%s}", c->ok_user, c->extra);
    if (c->repeat_converges) {
        if (rc)
            fail_msg("%s again: %s", c->action, r.message);
        assert_false(ochanged(&r));
        assert_int_equal(lifecycle_posts(f, id, c->endpoint), 1); /* no second write */
    }
    res_clear(&r);

    /* already in the wanted state */
    if (c->done_user) {
        rc = ofx_actf(f, c->action, 1, &r, "{\"user\": \"%s\"%s}", c->done_user, c->extra);
        if (rc)
            fail_msg("%s %s (already done): %s", c->action, c->done_user, r.message);
        assert_false(ochanged(&r));
        assert_int_equal(lifecycle_posts(f, ostr(r.output, "id"), c->endpoint), 0);
        res_clear(&r);
    }

    /* refused transition: both states named, not retryable, nothing sent */
    if (c->refused_user) {
        int posts = count_calls(f, "POST", c->endpoint, -1);
        rc = ofx_actf(f, c->action, 1, &r, "{\"user\": \"%s\"%s}", c->refused_user, c->extra);
        if (rc != IDF_ESTATE)
            fail_msg("%s %s: wanted a refusal, got %d %s", c->action, c->refused_user, rc, r.message);
        assert_false(r.retryable);
        assert_has(r.message, c->refused_user);
        assert_has(r.message, c->refused_status);
        assert_has(r.message, c->wanted_text);
        assert_has(r.message, "cannot ");
        assert_string_equal(ostr(r.detail, "status"), c->refused_status);
        res_clear(&r);
        assert_int_equal(count_calls(f, "POST", c->endpoint, -1), posts);
    }

    /* not found */
    assert_int_equal(ofx_actf(f, c->action, 1, &r, "{\"user\": \"ghost" ST "\"%s}", c->extra), IDF_ENOTFOUND);
    assert_false(r.retryable);
    assert_has(r.message, "ghost" ST);
    res_clear(&r);
}

static void test_lifecycle_table(void **state)
{
    struct ofx *f = *state;
    for (size_t i = 0; i < sizeof lc_cases / sizeof lc_cases[0]; i++) {
        sbx_post(f, "/_sandbox/reset", "{}");
        run_case(f, &lc_cases[i]);
    }
}

static void test_unsuspend_refuses_active_but_converges_on_retry(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;

    assert_int_equal(ofx_actf(f, "okta.unsuspend_user", 1, &r, "{\"user\": \"james.okafor" ST "\"}"), IDF_ESTATE);
    assert_has(r.message, "cannot unsuspend user james.okafor" ST ": status is ACTIVE, not SUSPENDED");
    res_clear(&r);
    /* A retried attempt finds the result of the earlier one. */
    MUST(ofx_actf(f, "okta.unsuspend_user", 2, &r, "{\"user\": \"james.okafor" ST "\"}"), r);
    assert_false(ochanged(&r));
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/lifecycle/unsuspend", -1), 0);
}

static void test_lifecycle_extras(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;

    /* activation without email answers the link; with a password the user is ACTIVE */
    MUST(ofx_actf(f, "okta.activate_user", 1, &r, "{\"user\": \"ryan.walsh" ST "\", \"send_email\": false}"), r);
    assert_true(ochanged(&r));
    assert_has(ostr(r.output, "activationUrl"), "/tokens/");
    assert_string_equal(ostr(r.output, "previous_status"), "STAGED");
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/lifecycle/activate", -1), 1);
    {
        json_t *c = sbx(f, "GET", "/_sandbox/calls?path=/api/v1/users/", NULL), *call;
        size_t i;
        json_array_foreach(json_object_get(c, "calls"), i, call)
        {
            if (strstr(ostr(call, "path"), "/lifecycle/activate"))
                assert_has(ostr(call, "query"), "sendEmail=false");
        }
        json_decref(c);
    }

    /* reactivation answers a fresh activation link (sendEmail defaults to false) */
    MUST(ofx_actf(f, "okta.reactivate_user", 1, &r, "{\"user\": \"sam.taylor" ST "\"}"), r);
    assert_string_equal(ostr(r.output, "previous_status"), "RECOVERY");
    assert_non_null(ostr(r.output, "activationToken"));
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.reactivate_user", 1, &r, "{\"user\": \"james.okafor" ST "\"}"), IDF_ESTATE);
    assert_has(r.message, "status is ACTIVE, not PROVISIONED or RECOVERY");
    res_clear(&r);

    /* reset_password: RECOVERY is done, unless forced */
    MUST(ofx_actf(f, "okta.reset_password", 1, &r, "{\"user\": \"aisha.bello" ST "\"}"), r);
    assert_false(ochanged(&r));
    res_clear(&r);
    MUST(ofx_actf(f, "okta.reset_password", 1, &r, "{\"user\": \"aisha.bello" ST "\", \"force\": true, "
                                                  "\"send_email\": false}"), r);
    assert_true(ochanged(&r));
    assert_has(ostr(r.output, "resetPasswordUrl"), "/signin/reset-password/");
    res_clear(&r);

    /* expire with a temporary password, even from PASSWORD_EXPIRED */
    MUST(ofx_actf(f, "okta.expire_password", 1, &r, "{\"user\": \"emma.larsen" ST "\", \"temp_password\": true}"), r);
    assert_true(ochanged(&r));
    assert_non_null(ostr(r.output, "tempPassword"));
    res_clear(&r);

    /* an ACTIVE user is not unlocked again: no call */
    MUST(ofx_actf(f, "okta.unlock_user", 1, &r, "{\"user\": \"mia.novak" ST "\"}"), r);
    assert_false(ochanged(&r));
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/lifecycle/unlock", -1), 0);

    /* deactivate never deletes */
    MUST(ofx_actf(f, "okta.deactivate_user", 1, &r, "{\"user\": \"mia.novak" ST "\"}"), r);
    res_clear(&r);
    MUST(ofx_actf(f, "okta.deactivate_user", 1, &r, "{\"user\": \"mia.novak" ST "\"}"), r);
    assert_false(ochanged(&r));
    res_clear(&r);
    assert_int_equal(count_calls(f, "DELETE", "/api/v1/users/", -1), 0);
}

static void test_clear_sessions(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;
    char part[96];

    MUST(ofx_actf(f, "okta.clear_sessions", 1, &r, "{\"user\": \"dana.whitfield" ST "\", \"oauth_tokens\": true}"), r);
    assert_true(ochanged(&r));
    snprintf(part, sizeof part, "/api/v1/users/%s/sessions", ostr(r.output, "id"));
    res_clear(&r);
    assert_int_equal(count_calls(f, "DELETE", part, 204), 1);
    {
        json_t *st, *u = sbx_user(f, "dana.whitfield" ST, &st);
        assert_int_equal(json_array_size(json_object_get(json_object_get(u, "_sbx"), "sessions")), 0);
        json_decref(st);
    }
    assert_int_equal(ofx_actf(f, "okta.clear_sessions", 1, &r, "{\"user\": \"ghost" ST "\"}"), IDF_ENOTFOUND);
    res_clear(&r);
}

/* ------------------------------------------------------------- groups */

static void test_group_membership(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;
    const char *p = "{\"user\": \"mia.novak" ST "\", \"group\": \"VPN Users\"}";

    MUST(ofx_act_conn(f, f->conn, "okta.add_to_group", 1, &r, p), r);
    assert_true(ochanged(&r));
    assert_string_equal(ostr(json_object_get(r.output, "group"), "type"), "OKTA_GROUP");
    assert_string_equal(ostr(json_object_get(r.output, "user"), "login"), "mia.novak" ST);
    res_clear(&r);
    MUST(ofx_act_conn(f, f->conn, "okta.add_to_group", 1, &r, p), r);
    assert_false(ochanged(&r));
    res_clear(&r);
    assert_int_equal(count_calls(f, "PUT", "/api/v1/groups/", -1), 1);

    MUST(ofx_act_conn(f, f->conn, "okta.list_user_groups", 1, &r, "{\"user\": \"mia.novak" ST "\"}"), r);
    {
        bool seen = false;
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(r.output, "groups"), i, g)
            seen |= strcmp(ostr(json_object_get(g, "profile"), "name"), "VPN Users") == 0;
        assert_true(seen);
        assert_false(json_is_true(json_object_get(r.output, "truncated")));
    }
    res_clear(&r);

    MUST(ofx_act_conn(f, f->conn, "okta.remove_from_group", 1, &r, p), r);
    assert_true(ochanged(&r));
    res_clear(&r);
    MUST(ofx_act_conn(f, f->conn, "okta.remove_from_group", 1, &r, p), r);
    assert_false(ochanged(&r));
    res_clear(&r);
    assert_int_equal(count_calls(f, "DELETE", "/api/v1/groups/", -1), 1);

    /* by id works too */
    MUST(ofx_actf(f, "okta.find_group", 1, &r, "{\"group\": \"Engineering\"}"), r);
    char gid[32];
    snprintf(gid, sizeof gid, "%s", ostr(json_object_get(r.output, "group"), "id"));
    res_clear(&r);
    MUST(ofx_actf(f, "okta.add_to_group", 1, &r, "{\"user\": \"james.okafor" ST "\", \"group\": \"%s\"}", gid), r);
    assert_false(ochanged(&r)); /* already an Engineering member */
    res_clear(&r);

    /* APP_GROUP: refused with Okta's reason, nothing sent */
    assert_int_equal(ofx_actf(f, "okta.add_to_group", 1, &r, "{\"user\": \"mia.novak" ST "\", \"group\": \"AD - Domain "
                                                           "Users\"}"), IDF_EDENIED);
    assert_false(r.retryable);
    assert_has(r.message, "APP_GROUP");
    assert_has(r.message, "OKTA_GROUP");
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.remove_from_group", 1, &r, "{\"user\": \"grace.liu" ST "\", \"group\": \"AD - "
                                                                "Finance Share\"}"), IDF_EDENIED);
    res_clear(&r);
    assert_int_equal(count_calls(f, "PUT", "/api/v1/groups/", -1), 1);
    assert_int_equal(count_calls(f, "DELETE", "/api/v1/groups/", -1), 1);

    /* not found: group, user */
    assert_int_equal(ofx_actf(f, "okta.add_to_group", 1, &r, "{\"user\": \"mia.novak" ST "\", \"group\": \"No Such\"}"),
                     IDF_ENOTFOUND);
    assert_has(r.message, "No Such");
    assert_false(r.retryable);
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.add_to_group", 1, &r, "{\"user\": \"ghost" ST "\", \"group\": \"HR\"}"),
                     IDF_ENOTFOUND);
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.list_user_groups", 1, &r, "{\"user\": \"ghost" ST "\"}"), IDF_ENOTFOUND);
    res_clear(&r);

    /* find_group: exact name only; required: false gives found: false */
    assert_int_equal(ofx_actf(f, "okta.find_group", 1, &r, "{\"group\": \"Engineer\"}"), IDF_ENOTFOUND);
    res_clear(&r);
    MUST(ofx_actf(f, "okta.find_group", 1, &r, "{\"group\": \"Engineer\", \"required\": false}"), r);
    assert_false(json_is_true(json_object_get(r.output, "found")));
    res_clear(&r);
}

static void test_group_name_ambiguous(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;

    sbx_post(f, "/_sandbox/reset",
             "{\"seed\": {\"okta\": {\"org\": {\"name\": \"t\", \"apiTokenOwner\": \"a@t.example\"},"
             " \"users\": [{\"profile\": {\"login\": \"a@t.example\", \"email\": \"a@t.example\", \"firstName\": \"A\","
             " \"lastName\": \"B\"}}],"
             " \"groups\": [{\"type\": \"OKTA_GROUP\", \"profile\": {\"name\": \"Dup\"}},"
             "              {\"type\": \"OKTA_GROUP\", \"profile\": {\"name\": \"Dup\"}}]}}}");
    assert_int_equal(ofx_actf(f, "okta.add_to_group", 1, &r, "{\"user\": \"a@t.example\", \"group\": \"Dup\"}"),
                     IDF_EINVAL);
    assert_has(r.message, "2 Okta groups are named 'Dup'");
    assert_has(r.message, "00g");
    assert_false(r.retryable);
    res_clear(&r);
    assert_int_equal(count_calls(f, "PUT", NULL, -1), 0);
}

/* --------------------------------------------------------------- apps */

static void test_apps(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;
    const char *p = "{\"user\": \"mia.novak" ST "\", \"app\": \"Zoom\"}";

    MUST(ofx_act_conn(f, f->conn, "okta.assign_app", 1, &r, p), r);
    assert_true(ochanged(&r));
    assert_string_equal(ostr(json_object_get(r.output, "app"), "label"), "Zoom");
    assert_string_equal(ostr(json_object_get(r.output, "assignment"), "scope"), "USER");
    res_clear(&r);
    MUST(ofx_act_conn(f, f->conn, "okta.assign_app", 1, &r, p), r);
    assert_false(ochanged(&r));
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/api/v1/apps/", -1), 1);

    MUST(ofx_act_conn(f, f->conn, "okta.list_user_apps", 1, &r, "{\"user\": \"mia.novak" ST "\"}"), r);
    {
        size_t i;
        json_t *a;
        int zoom = 0, slack = 0;
        json_array_foreach(json_object_get(r.output, "apps"), i, a)
        {
            const char *scope = ostr(json_object_get(a, "assignment"), "scope");
            if (strcmp(ostr(a, "label"), "Zoom") == 0 && strcmp(scope, "USER") == 0)
                zoom++;
            if (strcmp(ostr(a, "label"), "Slack") == 0 && strcmp(scope, "GROUP") == 0)
                slack++;
        }
        assert_int_equal(zoom, 1);
        assert_int_equal(slack, 1);
    }
    res_clear(&r);

    MUST(ofx_act_conn(f, f->conn, "okta.revoke_app", 1, &r, p), r);
    assert_true(ochanged(&r));
    res_clear(&r);
    MUST(ofx_act_conn(f, f->conn, "okta.revoke_app", 1, &r, p), r);
    assert_false(ochanged(&r));
    res_clear(&r);
    assert_int_equal(count_calls(f, "DELETE", "/api/v1/apps/", -1), 1);

    /* through a group: refused with the reason, nothing sent */
    assert_int_equal(ofx_actf(f, "okta.revoke_app", 1, &r, "{\"user\": \"mia.novak" ST "\", \"app\": \"Slack\"}"),
                     IDF_EDENIED);
    assert_has(r.message, "group");
    assert_false(r.retryable);
    res_clear(&r);
    assert_int_equal(count_calls(f, "DELETE", "/api/v1/apps/", -1), 1);

    /* an inactive user: refused naming the state */
    assert_int_equal(ofx_actf(f, "okta.assign_app", 1, &r, "{\"user\": \"frank.miller" ST "\", \"app\": \"Zoom\"}"),
                     IDF_ESTATE);
    assert_has(r.message, "DEPROVISIONED");
    res_clear(&r);

    /* by id; find_app by label; not found */
    MUST(ofx_actf(f, "okta.find_app", 1, &r, "{\"app\": \"Jira\"}"), r);
    char aid[32];
    snprintf(aid, sizeof aid, "%s", ostr(json_object_get(r.output, "app"), "id"));
    res_clear(&r);
    MUST(ofx_actf(f, "okta.assign_app", 1, &r, "{\"user\": \"ben.carter" ST "\", \"app\": \"%s\", \"credentials\": "
                                              "{\"userName\": \"ben\"}}", aid), r);
    assert_true(ochanged(&r));
    assert_string_equal(ostr(json_object_get(json_object_get(r.output, "assignment"), "credentials"), "userName"),
                        "ben");
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.assign_app", 1, &r, "{\"user\": \"ben.carter" ST "\", \"app\": \"Nope\"}"),
                     IDF_ENOTFOUND);
    assert_has(r.message, "Nope");
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.find_app", 1, &r, "{\"app\": \"0oa00000000000000000\"}"), IDF_ENOTFOUND);
    res_clear(&r);
    MUST(ofx_actf(f, "okta.find_app", 1, &r, "{\"app\": \"Nope\", \"required\": false}"), r);
    assert_false(json_is_true(json_object_get(r.output, "found")));
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.list_user_apps", 1, &r, "{\"user\": \"ghost" ST "\"}"), IDF_ENOTFOUND);
    res_clear(&r);
}

/* ------------------------------------------------------ create / update */

static void test_create_user(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;
    const char *p = "{\"profile\": {\"login\": \"new.hire" ST "\", \"email\": \"new.hire" ST "\", \"firstName\": \"New\","
                    " \"lastName\": \"Hire\"}, \"password\": \"Very-Secret-Pw-42\", \"groups\": [\"Engineering\", "
                    "\"VPN Users\"]}";
    char st[32];

    MUST(ofx_act_conn(f, f->conn, "okta.create_user", 1, &r, p), r);
    assert_true(ochanged(&r));
    assert_string_equal(ostr(r.output, "status"), "ACTIVE");
    assert_int_equal(json_array_size(json_object_get(r.output, "groupIds")), 2);
    {
        char *d = json_dumps(r.output, 0);
        assert_null(strstr(d, "Very-Secret-Pw-42"));
        free(d);
    }
    res_clear(&r);
    assert_string_equal(sbx_status(f, "new.hire" ST, st), "ACTIVE");
    MUST(ofx_actf(f, "okta.list_user_groups", 1, &r, "{\"user\": \"new.hire" ST "\"}"), r);
    assert_int_equal(json_integer_value(json_object_get(r.output, "count")), 3); /* + Everyone */
    res_clear(&r);

    /* a duplicate login: reported, not retryable */
    assert_int_equal(ofx_act_conn(f, f->conn, "okta.create_user", 1, &r, p), IDF_EEXIST);
    assert_false(r.retryable);
    assert_has(r.message, "already exists");
    assert_null(strstr(r.message, "Very-Secret-Pw-42"));
    res_clear(&r);
    /* reuse: the existing user, unchanged */
    MUST(ofx_actf(f, "okta.create_user", 1, &r, "{\"profile\": {\"login\": \"new.hire" ST "\"}, \"if_exists\": "
                                               "\"reuse\"}"), r);
    assert_false(ochanged(&r));
    assert_string_equal(ostr(r.output, "status"), "ACTIVE");
    res_clear(&r);
    /* a retried attempt whose first answer was lost adopts the fresh user */
    MUST(ofx_act_conn(f, f->conn, "okta.create_user", 2, &r, p), r);
    assert_false(ochanged(&r));
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/api/v1/users", 200), 1);

    /* staged, no password */
    MUST(ofx_actf(f, "okta.create_user", 1, &r, "{\"profile\": {\"login\": \"later" ST "\", \"email\": \"later" ST
                                               "\", \"firstName\": \"L\", \"lastName\": \"T\"}, \"activate\": false}"), r);
    assert_string_equal(ostr(r.output, "status"), "STAGED");
    res_clear(&r);

    /* bad input: no login; an unknown group; an APP_GROUP */
    assert_int_equal(ofx_actf(f, "okta.create_user", 1, &r, "{\"profile\": {\"email\": \"x" ST "\"}}"), IDF_EINVAL);
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.create_user", 1, &r, "{\"profile\": {\"login\": \"y" ST "\"}, \"groups\": "
                                                           "[\"Nope\"]}"), IDF_ENOTFOUND);
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.create_user", 1, &r, "{\"profile\": {\"login\": \"y" ST "\"}, \"groups\": "
                                                           "[\"AD - Domain Users\"]}"), IDF_EDENIED);
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.create_user", 1, &r, "{\"profile\": {\"login\": \"y" ST "\"}, \"if_exists\": "
                                                           "\"merge\"}"), IDF_EINVAL);
    res_clear(&r);
}

static void test_update_user(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;

    MUST(ofx_actf(f, "okta.update_user", 1, &r, "{\"user\": \"mia.novak" ST "\", \"profile\": {\"title\": \"Lead\"}}"),
         r);
    assert_true(ochanged(&r));
    assert_string_equal(ostr(json_object_get(r.output, "profile"), "title"), "Lead");
    assert_string_equal(ostr(json_object_get(r.output, "profile"), "department"), "Engineering"); /* kept */
    res_clear(&r);
    MUST(ofx_actf(f, "okta.update_user", 1, &r, "{\"user\": \"mia.novak" ST "\", \"profile\": {\"title\": \"Lead\", "
                                               "\"department\": \"Engineering\"}}"), r);
    assert_false(ochanged(&r));
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/api/v1/users/", -1), 1);
    assert_int_equal(ofx_actf(f, "okta.update_user", 1, &r, "{\"user\": \"frank.miller" ST "\", \"profile\": "
                                                           "{\"title\": \"X\"}}"), IDF_ESTATE);
    assert_has(r.message, "DEPROVISIONED");
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.update_user", 1, &r, "{\"user\": \"ghost" ST "\", \"profile\": {\"a\": 1}}"),
                     IDF_ENOTFOUND);
    res_clear(&r);
}

/* ------------------------------------------------- lists and request */

static void test_search_and_pagination(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;

    MUST(ofx_actf(f, "okta.search_users", 1, &r, "{\"search\": \"profile.department eq \\\"Engineering\\\"\"}"), r);
    size_t all = (size_t)json_integer_value(json_object_get(r.output, "count"));
    assert_true(all >= 8);
    assert_false(json_is_true(json_object_get(r.output, "truncated")));
    res_clear(&r);
    MUST(ofx_actf(f, "okta.search_users", 1, &r, "{\"search\": \"profile.department eq \\\"Engineering\\\"\", \"max\": "
                                                "3}"), r);
    assert_int_equal(json_integer_value(json_object_get(r.output, "count")), 3);
    assert_true(json_is_true(json_object_get(r.output, "truncated")));
    res_clear(&r);
    MUST(ofx_actf(f, "okta.search_users", 1, &r, "{\"filter\": \"status eq \\\"LOCKED_OUT\\\"\"}"), r);
    assert_int_equal(json_integer_value(json_object_get(r.output, "count")), 2);
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.search_users", 1, &r, "{\"search\": \"nonsense ((\"}"), IDF_EINVAL);
    assert_string_equal(ostr(r.detail, "errorCode"), "E0000031");
    res_clear(&r);

    /* pages of 5: the Link rel="next" chain is followed to the end */
    json_decref(sbx(f, "DELETE", "/_sandbox/calls", NULL));
    MUST(ofx_actf(f, "okta.request", 1, &r, "{\"path\": \"/api/v1/users\", \"query\": {\"search\": \"status eq "
                                           "\\\"ACTIVE\\\"\", \"limit\": 5}, \"paginate\": true}"), r);
    size_t active = (size_t)json_integer_value(json_object_get(r.output, "count"));
    assert_true(active > 10);
    res_clear(&r);
    assert_int_equal(count_calls(f, "GET", "/api/v1/users", 200), (int)((active + 4) / 5));
}

static void test_request(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;
    char url[128];

    MUST(ofx_actf(f, "okta.request", 1, &r, "{\"path\": \"/api/v1/users/me\"}"), r);
    assert_int_equal(json_integer_value(json_object_get(r.output, "status")), 200);
    assert_string_equal(ostr(json_object_get(json_object_get(r.output, "json"), "profile"), "login"),
                        "it.automation" ST);
    assert_false(ochanged(&r));
    res_clear(&r);
    /* the org's own absolute URL is fine */
    snprintf(url, sizeof url, "%s/api/v1/groups?q=Eng", f->base);
    MUST(ofx_actf(f, "okta.request", 1, &r, "{\"path\": \"%s\"}", url), r);
    res_clear(&r);
    /* another host: refused before anything is sent */
    int before = count_calls(f, NULL, NULL, -1);
    assert_int_equal(ofx_actf(f, "okta.request", 1, &r, "{\"path\": \"https://evil.example/api/v1/users\"}"),
                     IDF_EDENIED);
    assert_false(r.retryable);
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.request", 1, &r, "{\"path\": \"//evil.example/api/v1/users\"}"), IDF_EDENIED);
    res_clear(&r);
    snprintf(url, sizeof url, "%s.evil.example/x", f->base);
    assert_int_equal(ofx_actf(f, "okta.request", 1, &r, "{\"path\": \"%s\"}", url), IDF_EDENIED);
    res_clear(&r);
    assert_int_equal(count_calls(f, NULL, NULL, -1), before);
    /* an Okta error: the step fails with Okta's error object */
    assert_int_equal(ofx_actf(f, "okta.request", 1, &r, "{\"method\": \"POST\", \"path\": "
                                                       "\"/api/v1/users/james.okafor%%40acme.example/lifecycle/"
                                                       "unsuspend\"}"), IDF_EINVAL);
    assert_int_equal(json_integer_value(json_object_get(r.detail, "http_status")), 400);
    assert_string_equal(ostr(r.detail, "errorCode"), "E0000001");
    assert_has(r.message, "Cannot unsuspend a user that is not suspended");
    assert_non_null(ostr(r.detail, "request_id"));
    assert_non_null(ostr(r.detail, "errorId"));
    assert_false(r.retryable);
    res_clear(&r);
    /* a write: changed */
    MUST(ofx_actf(f, "okta.request", 1, &r, "{\"method\": \"POST\", \"path\": \"/api/v1/users/james.okafor%%40acme"
                                           ".example/lifecycle/suspend\"}"), r);
    assert_true(ochanged(&r));
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.request", 1, &r, "{\"method\": \"TRACE\", \"path\": \"/api/v1/users\"}"),
                     IDF_EINVAL);
    res_clear(&r);
}

/* E0000112: a user still being activated is retried later, never refused. */
static void test_still_activating(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;

    sbx_post(f, "/_sandbox/okta/config", "{\"activationDelayMs\": 600000}");
    MUST(ofx_actf(f, "okta.activate_user", 1, &r, "{\"user\": \"nina.kowalski" ST "\"}"), r);
    assert_true(ochanged(&r));
    assert_non_null(ostr(r.output, "transitioningToStatus"));
    res_clear(&r);
    /* activating again: already underway */
    MUST(ofx_actf(f, "okta.activate_user", 1, &r, "{\"user\": \"nina.kowalski" ST "\"}"), r);
    assert_false(ochanged(&r));
    res_clear(&r);
    /* any other change: retryable, with a wait */
    assert_int_equal(ofx_actf(f, "okta.suspend_user", 1, &r, "{\"user\": \"nina.kowalski" ST "\"}"), IDF_EBUSY);
    assert_true(r.retryable);
    assert_true(r.retry_after_ms >= 1000);
    assert_has(r.message, "nina.kowalski" ST);
    res_clear(&r);
    /* Okta's own 409 E0000112 (through okta.request) maps to retryable too */
    assert_int_equal(ofx_actf(f, "okta.request", 1, &r, "{\"method\": \"POST\", \"path\": \"/api/v1/users/"
                                                       "nina.kowalski%%40acme.example/lifecycle/suspend\"}"), IDF_EBUSY);
    assert_true(r.retryable);
    assert_true(r.retry_after_ms > 0);
    assert_string_equal(ostr(r.detail, "errorCode"), "E0000112");
    res_clear(&r);
    assert_int_equal(count_calls(f, "POST", "/lifecycle/suspend", 409), 1);
}

/* ------------------------------------------------ subjects (issue 17) */

/* The label of the subject of kind whose keys hold key, or NULL. */
static const char *subject_label(const struct conn_result *r, const char *kind, const char *key)
{
    size_t i, k;
    json_t *s, *v;

    json_array_foreach(r->subjects, i, s)
    {
        if (strcmp(ostr(s, "kind") ? ostr(s, "kind") : "", kind) != 0)
            continue;
        json_array_foreach(json_object_get(s, "keys"), k, v)
        {
            if (strcmp(json_string_value(v), key) == 0)
                return ostr(s, "label");
        }
    }
    return NULL;
}

/* Every action reports the user, group and app it resolved, by id and by
 * what a person types (login, name, label), and what it changed; a
 * converged call reports the subjects but no change; okta.request reports
 * nothing; no name beyond identifiers goes in. */
static void test_subjects_and_changes(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;
    char uid[32], gid[32], aid[32];
    char *dump;

    MUST(ofx_actf(f, "okta.suspend_user", 1, &r, "{\"user\": \"mia.novak" ST "\"}"), r);
    snprintf(uid, sizeof uid, "%s", ostr(r.output, "id"));
    assert_string_equal(r.change, "suspended");
    assert_string_equal(subject_label(&r, "okta.user", "mia.novak" ST), "mia.novak" ST);
    assert_non_null(subject_label(&r, "okta.user", uid));
    assert_int_equal(json_array_size(r.subjects), 1); /* one user, however many keys */
    dump = json_dumps(r.subjects, JSON_COMPACT);
    assert_null(strstr(dump, "Mia")); /* names never: identifiers only */
    assert_null(strstr(dump, "Novak"));
    free(dump);
    res_clear(&r);
    /* converged: already SUSPENDED, nothing changed, the user still reported */
    MUST(ofx_actf(f, "okta.suspend_user", 1, &r, "{\"user\": \"%s\"}", uid), r);
    assert_false(ochanged(&r));
    assert_string_equal(r.change, "");
    assert_non_null(subject_label(&r, "okta.user", "mia.novak" ST));
    res_clear(&r);
    MUST(ofx_actf(f, "okta.unsuspend_user", 1, &r, "{\"user\": \"%s\"}", uid), r);
    assert_string_equal(r.change, "unsuspended");
    res_clear(&r);

    /* a refused call still says whom it concerned (the user was read), and no change */
    assert_int_equal(ofx_actf(f, "okta.unsuspend_user", 1, &r, "{\"user\": \"%s\"}", uid), IDF_ESTATE);
    assert_non_null(subject_label(&r, "okta.user", uid));
    assert_string_equal(r.change, "");
    res_clear(&r);

    /* a user not found: the run still concerned whom it asked for (the offboarding that failed on a
     * mistyped login is found by that login), and no change */
    assert_int_equal(ofx_actf(f, "okta.get_user", 1, &r, "{\"user\": \"no.such.person" ST "\"}"), IDF_ENOTFOUND);
    assert_non_null(subject_label(&r, "okta.user", "no.such.person" ST));
    assert_string_equal(subject_label(&r, "okta.user", "no.such.person" ST), "no.such.person" ST);
    assert_string_equal(r.change, "");
    res_clear(&r);

    MUST(ofx_actf(f, "okta.add_to_group", 1, &r, "{\"user\": \"mia.novak" ST "\", \"group\": \"VPN Users\"}"), r);
    snprintf(gid, sizeof gid, "%s", ostr(json_object_get(r.output, "group"), "id"));
    assert_string_equal(r.change, "added to VPN Users");
    assert_string_equal(subject_label(&r, "okta.group", "VPN Users"), "VPN Users");
    assert_non_null(subject_label(&r, "okta.group", gid));
    assert_non_null(subject_label(&r, "okta.user", uid));
    res_clear(&r);
    MUST(ofx_actf(f, "okta.remove_from_group", 1, &r, "{\"user\": \"%s\", \"group\": \"%s\"}", uid, gid), r);
    assert_string_equal(r.change, "removed from VPN Users");
    res_clear(&r);
    MUST(ofx_actf(f, "okta.remove_from_group", 1, &r, "{\"user\": \"%s\", \"group\": \"%s\"}", uid, gid), r);
    assert_string_equal(r.change, ""); /* not a member any more */
    assert_non_null(subject_label(&r, "okta.group", "VPN Users"));
    res_clear(&r);

    MUST(ofx_actf(f, "okta.assign_app", 1, &r, "{\"user\": \"mia.novak" ST "\", \"app\": \"Zoom\"}"), r);
    snprintf(aid, sizeof aid, "%s", ostr(json_object_get(r.output, "app"), "id"));
    assert_string_equal(r.change, "assigned Zoom");
    assert_string_equal(subject_label(&r, "okta.app", "Zoom"), "Zoom");
    assert_non_null(subject_label(&r, "okta.app", aid));
    res_clear(&r);
    MUST(ofx_actf(f, "okta.revoke_app", 1, &r, "{\"user\": \"mia.novak" ST "\", \"app\": \"%s\"}", aid), r);
    assert_string_equal(r.change, "unassigned Zoom");
    res_clear(&r);

    static const struct {
        const char *action, *user, *more, *change;
    } lc[] = {
        {"okta.reset_password", "olivia.chen" ST, ", \"send_email\": false", "password reset"},
        {"okta.expire_password", "priya.raman" ST, "", "password expired"},
        {"okta.clear_sessions", "marcus.lee" ST, "", "sessions cleared"},
        {"okta.deactivate_user", "sofia.rossi" ST, "", "deactivated"},
        {"okta.activate_user", "zoe.adams" ST, ", \"send_email\": false", "activated"},
        {"okta.unlock_user", "kevin.murphy" ST, "", "unlocked"},
        {"okta.reactivate_user", "tom.fischer" ST, "", "activation restarted"},
        {"okta.reset_factors", "ethan.brooks" ST, "", NULL}, /* "factors reset" when it had any */
    };
    for (size_t i = 0; i < sizeof lc / sizeof lc[0]; i++) {
        MUST(ofx_actf(f, lc[i].action, 1, &r, "{\"user\": \"%s\"%s}", lc[i].user, lc[i].more), r);
        assert_string_equal(r.change, lc[i].change ? lc[i].change : ochanged(&r) ? "factors reset" : "");
        assert_non_null(subject_label(&r, "okta.user", lc[i].user));
        res_clear(&r);
    }
    MUST(ofx_actf(f, "okta.update_user", 1, &r, "{\"user\": \"%s\", \"profile\": {\"title\": \"Lead\"}}", uid), r);
    assert_string_equal(r.change, "profile updated");
    res_clear(&r);
    MUST(ofx_actf(f, "okta.create_user", 1, &r,
                  "{\"profile\": {\"login\": \"new.hire" ST "\", \"email\": \"new.hire" ST
                  "\", \"firstName\": \"New\", \"lastName\": \"Hire\"}}"),
         r);
    assert_string_equal(r.change, "created");
    assert_string_equal(subject_label(&r, "okta.user", "new.hire" ST), "new.hire" ST);
    assert_non_null(subject_label(&r, "okta.user", ostr(r.output, "id")));
    res_clear(&r);

    /* reads report whom they read, and no change */
    MUST(ofx_actf(f, "okta.get_user", 1, &r, "{\"user\": \"%s\"}", uid), r);
    assert_non_null(subject_label(&r, "okta.user", "mia.novak" ST));
    assert_string_equal(r.change, "");
    res_clear(&r);
    MUST(ofx_actf(f, "okta.list_user_groups", 1, &r, "{\"user\": \"mia.novak" ST "\"}"), r);
    assert_non_null(subject_label(&r, "okta.user", "mia.novak" ST));
    assert_int_equal(json_array_size(r.subjects), 1); /* its groups are what it read, not whom it concerns */
    res_clear(&r);
    MUST(ofx_actf(f, "okta.find_app", 1, &r, "{\"app\": \"Slack\"}"), r);
    assert_non_null(subject_label(&r, "okta.app", "Slack"));
    res_clear(&r);

    /* the generic call reports nothing, even when it changes something */
    MUST(ofx_actf(f, "okta.request", 1, &r, "{\"method\": \"POST\", \"path\": \"/api/v1/users/%s/lifecycle/suspend\"}",
                  uid),
         r);
    assert_true(ochanged(&r));
    assert_null(r.subjects);
    assert_string_equal(r.change, "");
    res_clear(&r);
}

/* A subject or change text that would carry the connection's credential (a
 * login crafted to hold the token) is dropped with the output it came from:
 * the run's history never holds it (ofx_act_conn checks every call). */
static void test_subjects_never_carry_the_token(void **state)
{
    struct ofx *f = *state;
    struct conn_result r;

    assert_int_equal(ofx_actf(f, "okta.create_user", 1, &r,
                              "{\"profile\": {\"login\": \"x" OFX_TOKEN "@acme.example\", \"email\": \"x@acme.example\","
                              " \"firstName\": \"X\", \"lastName\": \"Y\"}}"),
                     IDF_EDENIED);
    assert_null(r.subjects);
    res_clear(&r);
    assert_int_equal(ofx_actf(f, "okta.get_user", 1, &r, "{\"user\": \"x" OFX_TOKEN "@acme.example\"}"), IDF_EDENIED);
    assert_null(r.subjects);
    res_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_unsafe_in_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsuspend_refuses_active_but_converges_on_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_extras, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clear_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_membership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_name_ambiguous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_and_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_still_activating, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subjects_and_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subjects_never_carry_the_token, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

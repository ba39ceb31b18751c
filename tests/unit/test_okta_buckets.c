/* test_okta_buckets.c — Okta's rate-limit buckets, as the connector's client
 * (oktac__bucket, src/connectors/okta/client.c) and the sandbox
 * (sbok__bucket_for, src/sandbox/okta/rate.c) each classify a request: one
 * table of every method and path the connector calls, with the bucket
 * Okta's published table puts it in (docs/okta.md, "Rate limits"), and both
 * classifiers held to it.
 *
 * The two stay separate implementations on purpose: the sandbox plays Okta
 * and the client plays a careful caller, and one shared function would let
 * a mistake in it agree with itself. The sandbox is asked end to end: each
 * bucket gets a distinct limit through /_sandbox/okta/config and the request
 * is sent, so its X-Rate-Limit-Limit names the bucket the sandbox counted it
 * in (its path splitting and decoding included). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "connectors/okta/okta_internal.h"
#include "test_sandbox_common.h"

#define UID "00u1a2b3c4d5e6f7g8h9"
#define GID "00g1a2b3c4d5e6f7g8h9"
#define AID "0oa1a2b3c4d5e6f7g8h9"
#define HID "who1a2b3c4d5e6f7g8h9"

/* Each bucket: the client's name, the sandbox's name, and the distinct
 * limit the test gives it so a response's X-Rate-Limit-Limit tells which. */
static const struct {
    const char *client, *sandbox;
    int limit;
} buckets[] = {
    {"users", "/api/v1/users", 901},
    {"user", "GET /api/v1/users/{idOrLogin}", 902},
    {"user_write", "POST|PUT|DELETE /api/v1/users/{id}", 903},
    {"groups", "/api/v1/groups", 904},
    {"group", "/api/v1/groups/{id}", 905},
    {"apps", "/api/v1/apps", 906},
    {"app", "/api/v1/apps/{id}", 907},
    {"logs", "/api/v1/logs", 908},
    {"other", "/api/v1/*", 909},
};

/* Every request the connector makes (grep src/connectors/okta for
 * "/api/v1/" and "/oauth2/"), and its bucket in Okta's table. */
static const struct {
    const char *method, *path, *bucket, *who;
} calls[] = {
    /* users: list / search / create; GET|POST on a user's sub-paths */
    {"GET", "/api/v1/users?search=profile.department%20eq%20%22HR%22&limit=200", "users", "search_users, lookups"},
    {"GET", "/api/v1/users?limit=1", "users", "connection check (OAuth)"},
    {"POST", "/api/v1/users?activate=false", "users", "create_user"},
    {"POST", "/api/v1/users/" UID "/lifecycle/suspend", "users", "suspend_user"},
    {"POST", "/api/v1/users/" UID "/lifecycle/unsuspend", "users", "unsuspend_user"},
    {"POST", "/api/v1/users/" UID "/lifecycle/activate?sendEmail=false", "users", "activate_user"},
    {"POST", "/api/v1/users/" UID "/lifecycle/reactivate?sendEmail=false", "users", "reactivate_user"},
    {"POST", "/api/v1/users/" UID "/lifecycle/deactivate", "users", "deactivate_user"},
    {"POST", "/api/v1/users/" UID "/lifecycle/unlock", "users", "unlock_user"},
    {"POST", "/api/v1/users/" UID "/lifecycle/reset_password?sendEmail=false", "users", "reset_password"},
    {"POST", "/api/v1/users/" UID "/lifecycle/expire_password", "users", "expire_password"},
    {"POST", "/api/v1/users/" UID "/lifecycle/reset_factors", "users", "reset_factors"},
    {"GET", "/api/v1/users/" UID "/groups", "users", "list_user_groups"},
    /* a user by id or login: GET, and writes, on exactly /users/{id} */
    {"GET", "/api/v1/users/" UID, "user", "get_user"},
    {"GET", "/api/v1/users/jane.doe%40acme.example", "user", "get_user by login"},
    {"GET", "/api/v1/users/me", "user", "connection check (API token)"},
    {"POST", "/api/v1/users/" UID, "user_write", "update_user"},
    {"DELETE", "/api/v1/users/" UID, "user_write", "(delete)"},
    /* sessions: DELETE on a users sub-path is not "GET or POST to /api/v1/users" */
    {"DELETE", "/api/v1/users/" UID "/sessions?oauthTokens=true", "other", "clear_sessions"},
    /* groups: find by name; membership is an extension of /api/v1/groups */
    {"GET", "/api/v1/groups?search=profile.name%20eq%20%22HR%22&limit=200", "groups", "find_group"},
    {"GET", "/api/v1/groups/" GID, "group", "find_group by id"},
    {"PUT", "/api/v1/groups/" GID "/users/" UID, "groups", "add_to_group"},
    {"DELETE", "/api/v1/groups/" GID "/users/" UID, "groups", "remove_from_group"},
    /* apps: find; app users are an extension of /api/v1/apps (100 a minute) */
    {"GET", "/api/v1/apps?q=Jira&limit=200", "apps", "find_app"},
    {"GET", "/api/v1/apps?filter=user.id%20eq%20%22" UID "%22&expand=user%2F" UID "&limit=200", "apps",
     "list_user_apps"},
    {"GET", "/api/v1/apps/" AID, "app", "find_app by id"},
    {"GET", "/api/v1/apps/" AID "/users/" UID, "apps", "assign_app / revoke_app (read)"},
    {"POST", "/api/v1/apps/" AID "/users", "apps", "assign_app"},
    {"DELETE", "/api/v1/apps/" AID "/users/" UID "?sendEmail=false", "apps", "revoke_app"},
    /* the System Log, event hooks */
    {"GET", "/api/v1/logs?since=2025-01-01T00%3A00%3A00.000Z&sortOrder=ASCENDING&limit=1000", "logs", "poller"},
    {"GET", "/api/v1/eventHooks", "other", "hook registration"},
    {"POST", "/api/v1/eventHooks", "other", "hook registration"},
    {"PUT", "/api/v1/eventHooks/" HID, "other", "hook registration"},
    {"POST", "/api/v1/eventHooks/" HID "/lifecycle/activate", "other", "hook registration"},
    {"POST", "/api/v1/eventHooks/" HID "/lifecycle/verify", "other", "hook registration"},
};

static int limit_of(const char *client_bucket)
{
    for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++) {
        if (strcmp(buckets[i].client, client_bucket) == 0)
            return buckets[i].limit;
    }
    fail_msg("no bucket %s", client_bucket);
    return 0;
}

static void test_client_buckets(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        const char *got = oktac__bucket(calls[i].method, calls[i].path);
        if (strcmp(got, calls[i].bucket) != 0)
            fail_msg("client: %s %s (%s) is in bucket %s, Okta counts it in %s", calls[i].method, calls[i].path,
                     calls[i].who, got, calls[i].bucket);
    }
    assert_string_equal(oktac__bucket("POST", "/oauth2/v1/token"), "token");
    assert_string_equal(oktac__bucket("GET", "/api/v1//users//" UID), "user"); /* "//" as the server reads it */
}

static void test_sandbox_buckets(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    json_t *cfg = json_object(), *b = json_object();
    for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++)
        json_object_set_new(b, buckets[i].sandbox, json_integer(buckets[i].limit));
    json_object_set_new(cfg, "buckets", b);
    char *text = json_dumps(cfg, JSON_COMPACT);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", text, NULL), 200);
    free(text);
    json_decref(cfg);
    for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++) /* every name was known */
        assert_int_equal(json_integer_value(json_object_get(json_object_get(f->json, "buckets"), buckets[i].sandbox)),
                         buckets[i].limit);

    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        bool body = strcmp(calls[i].method, "POST") == 0 || strcmp(calls[i].method, "PUT") == 0;
        ok_call(f, calls[i].method, calls[i].path, body ? "{}" : NULL);
        const char *lim = fx_header(f, "x-rate-limit-limit");
        int want = limit_of(calls[i].bucket);
        if (!lim || atoi(lim) != want)
            fail_msg("sandbox: %s %s (%s) was counted in the bucket with limit %s, Okta counts it in %s (%d)",
                     calls[i].method, calls[i].path, calls[i].who, lim ? lim : "(none)", calls[i].bucket, want);
    }
    fx_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_buckets),
        cmocka_unit_test(test_sandbox_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_sandbox_okta.c — the sandbox's emulated Okta org: conventions, users,
 * every lifecycle operation from every status, groups and apps, driven over
 * HTTP as a connector would drive Okta.
 *
 * Each test starts a real sandbox on 127.0.0.1:0 with the default seed and
 * stops it. Expected answers come from /work/shared/okta/API-NOTES.md (the
 * status table, the refused-transition table, the error catalog); where the
 * notes are silent the expectation is the choice docs/sandbox.md records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_sandbox_common.h"

/* ------------------------------------------------------ conventions */

static void test_auth_and_conventions(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    const char *none[] = {NULL};
    const char *wrong[] = {"Authorization: SSWS nope", NULL};

    assert_int_equal(fx_raw(f, "GET", "/api/v1/users", NULL, none), 401);
    assert_okta_error(f, 401, "E0000011");
    assert_string_equal(jstr(f->json, "errorSummary"), "Invalid token provided");
    assert_non_null(fx_header(f, "x-rate-limit-limit"));
    assert_int_equal(fx_raw(f, "GET", "/api/v1/users", NULL, wrong), 401);
    assert_okta_error(f, 401, "E0000011");

    assert_int_equal(ok_call(f, "GET", "/api/v1/users", NULL), 200);
    assert_true(json_is_array(f->json));
    const char *rid = fx_header(f, "x-okta-request-id");
    assert_non_null(rid);
    assert_true(strncmp(rid, "req", 3) == 0);
    assert_string_equal(fx_header(f, "x-rate-limit-limit"), "600");
    assert_string_equal(fx_header(f, "x-rate-limit-remaining"), "597"); /* the two 401s counted too */
    long long reset = atoll(fx_header(f, "x-rate-limit-reset"));
    long long now = time_now_ms() / 1000;
    assert_true(reset >= now && reset <= now + 61);
    assert_true(strstr(fx_header(f, "content-type"), "application/json") != NULL);

    /* A body-less POST without Content-Length is refused with 411. */
    char req[512];
    snprintf(req, sizeof req,
             "POST /api/v1/users/me/lifecycle/suspend HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
             "Connection: close\r\n\r\n",
             SSWS);
    assert_int_equal(raw_http_status(fx_port(f), req), 411);
    /* The same with Content-Length: 0 reaches the handler (suspend of the token owner works). */
    snprintf(req, sizeof req,
             "POST /api/v1/groups HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n",
             SSWS);
    assert_int_equal(raw_http_status(fx_port(f), req), 405);

    assert_int_equal(ok_call(f, "GET", "/api/v1/nothing/here", NULL), 404);
    assert_okta_error(f, 404, "E0000007");
    assert_int_equal(ok_call(f, "PATCH", "/api/v1/users", NULL), 405);
    assert_okta_error(f, 405, "E0000022");
    fx_stop(f);
}

/* ------------------------------------------------------------ users */

/* A createUser body for <c>ew.hire@acme.example, with a password or not. */
static void hire(char *out, size_t n, char c, bool password)
{
    snprintf(out, n,
             "{\"profile\":{\"login\":\"%cew.hire@acme.example\",\"email\":\"%cew.hire@acme.example\","
             "\"firstName\":\"New\",\"lastName\":\"Hire\",\"department\":\"Engineering\"}%s}",
             c, c, password ? ",\"credentials\":{\"password\":{\"value\":\"Tr0ub4dor&3\"}}" : "");
}

static void test_user_create_statuses(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    char body[512];

    /* activate=false -> STAGED */
    hire(body, sizeof body, 'n', false);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users?activate=false", body), 200);
    assert_string_equal(jstr(f->json, "status"), "STAGED");
    assert_true(json_is_null(json_object_get(f->json, "activated")));
    assert_non_null(jstr(f->json, "_links.activate.href"));
    char *staged = strdup(jstr(f->json, "id"));
    assert_int_equal(strlen(staged), 20);
    assert_true(strncmp(staged, "00u", 3) == 0);
    assert_null(json_object_get(json_object_get(f->json, "credentials"), "password"));

    /* duplicate login (any case) -> 400 E0000001 with Okta's cause */
    snprintf(body, sizeof body,
             "{\"profile\":{\"login\":\"NEW.HIRE@acme.example\",\"email\":\"x@acme.example\","
             "\"firstName\":\"A\",\"lastName\":\"B\"}}");
    assert_int_equal(ok_call(f, "POST", "/api/v1/users", body), 400);
    assert_string_equal(assert_okta_error(f, 400, "E0000001"),
                        "login: An object with this field already exists in the current organization");
    assert_string_equal(jstr(f->json, "errorSummary"), "Api validation failed: login");

    /* activate=true without a password -> PROVISIONED; with one -> ACTIVE */
    hire(body, sizeof body, 'm', false);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users", body), 200);
    assert_string_equal(jstr(f->json, "status"), "PROVISIONED");
    hire(body, sizeof body, 'k', true);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users?activate=true", body), 200);
    assert_string_equal(jstr(f->json, "status"), "ACTIVE");
    assert_non_null(jstr(f->json, "activated"));
    assert_true(json_is_object(json_object_get(json_object_get(f->json, "credentials"), "password")));
    assert_null(strstr(f->body, "Tr0ub4dor")); /* the password is never returned */
    /* nextLogin=changePassword with a password -> PASSWORD_EXPIRED */
    hire(body, sizeof body, 'x', true);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users?activate=true&nextLogin=changePassword", body), 200);
    assert_string_equal(jstr(f->json, "status"), "PASSWORD_EXPIRED");

    /* nextLogin=changePassword refusals */
    hire(body, sizeof body, 'z', false);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users?activate=true&nextLogin=changePassword", body), 400);
    assert_okta_error(f, 400, "E0000124");
    hire(body, sizeof body, 'z', true);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users?activate=false&nextLogin=changePassword", body), 400);
    assert_okta_error(f, 400, "E0000125");

    /* required fields and types */
    assert_int_equal(ok_call(f, "POST", "/api/v1/users", "{\"profile\":{\"login\":\"only@acme.example\"}}"), 400);
    assert_okta_error(f, 400, "E0000001");
    assert_non_null(strstr(f->body, "email: The field cannot be left blank"));
    assert_non_null(strstr(f->body, "firstName: The field cannot be left blank"));
    assert_int_equal(ok_call(f, "POST", "/api/v1/users",
                             "{\"profile\":{\"login\":\"bad\",\"email\":\"bad@x.example\",\"firstName\":\"A\","
                             "\"lastName\":\"B\"}}"),
                     400);
    assert_non_null(strstr(f->body, "login: Username must be in the form of an email address"));
    assert_int_equal(ok_call(f, "POST", "/api/v1/users",
                             "{\"profile\":{\"login\":\"n@acme.example\",\"email\":\"n@acme.example\","
                             "\"firstName\":12,\"lastName\":\"B\"}}"),
                     400);
    assert_string_equal(assert_okta_error(f, 400, "E0000001"), "firstName: The value must be a string");
    assert_int_equal(ok_call(f, "POST", "/api/v1/users",
                             "{\"profile\":{\"login\":\"n@acme.example\",\"email\":\"n@acme.example\","
                             "\"firstName\":\"A\",\"lastName\":\"B\",\"favouriteColour\":\"red\"}}"),
                     400);
    assert_string_equal(assert_okta_error(f, 400, "E0000001"),
                        "favouriteColour: Property name 'favouriteColour' is not defined in profile schema");
    assert_int_equal(ok_call(f, "POST", "/api/v1/users", "{\"profile\":\"not an object\"}"), 400);
    assert_okta_error(f, 400, "E0000003");
    assert_int_equal(ok_call(f, "POST", "/api/v1/users", "{\"profile\":{\"login\":"), 400);
    assert_string_equal(jstr(f->json, "errorSummary"), "The request body was not well-formed.");
    assert_okta_error(f, 400, "E0000003");
    /* a custom attribute declared by the seed's profileSchema is accepted */
    assert_int_equal(ok_call(f, "POST", "/api/v1/users?activate=false",
                             "{\"profile\":{\"login\":\"c@acme.example\",\"email\":\"c@acme.example\","
                             "\"firstName\":\"C\",\"lastName\":\"D\",\"startDate\":\"2027-01-04\"}}"),
                     200);
    assert_string_equal(jstr(f->json, "profile.startDate"), "2027-01-04");

    /* groupIds: more than 20 -> E0000093; an unknown group -> 404 (UserGroup) */
    struct buf b;
    buf_init(&b, 8192);
    assert_int_equal(buf_puts(&b, "{\"profile\":{\"login\":\"g@acme.example\",\"email\":\"g@acme.example\","
                                  "\"firstName\":\"G\",\"lastName\":\"H\"},\"groupIds\":["),
                     0);
    for (int i = 0; i < 21; i++)
        assert_int_equal(buf_printf(&b, "%s\"00gnotthere%09d\"", i ? "," : "", i), 0);
    assert_int_equal(buf_puts(&b, "]}"), 0);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users", b.data), 400);
    assert_okta_error(f, 400, "E0000093");
    buf_free(&b);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users",
                             "{\"profile\":{\"login\":\"g@acme.example\",\"email\":\"g@acme.example\","
                             "\"firstName\":\"G\",\"lastName\":\"H\"},\"groupIds\":[\"00gmissing0000000000\"]}"),
                     404);
    assert_okta_error(f, 404, "E0000007");
    assert_string_equal(jstr(f->json, "errorSummary"),
                        "Not found: Resource not found: 00gmissing0000000000 (UserGroup)");
    /* nothing was created by the refused calls */
    assert_int_equal(ok_call(f, "GET", "/api/v1/users/g@acme.example", NULL), 404);

    /* create + activate events for the ACTIVE one */
    char *kid = user_id(f, "kew.hire@acme.example");
    json_t *ev = events_of(f, "user.lifecycle.create", kid);
    assert_int_equal(json_array_size(ev), 1);
    json_decref(ev);
    ev = events_of(f, "user.lifecycle.activate", kid);
    assert_int_equal(json_array_size(ev), 1);
    json_decref(ev);
    ev = events_of(f, "user.lifecycle.activate", staged);
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);
    free(kid);
    free(staged);
    fx_stop(f);
}

static void test_user_get_forms(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    char *id = user_id(f, "maria.gonzalez@acme.example");
    char path[128];
    snprintf(path, sizeof path, "/api/v1/users/%s", id);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_string_equal(jstr(f->json, "profile.login"), "maria.gonzalez@acme.example");
    assert_string_equal(jstr(f->json, "profile.department"), "Engineering");
    assert_string_equal(jstr(f->json, "profile.manager"), "Olivia Chen");
    assert_non_null(fx_header(f, "etag"));
    assert_true(strncmp(fx_header(f, "etag"), "W/\"", 3) == 0);
    /* an ACTIVE user's links offer only what its status allows */
    assert_non_null(jstr(f->json, "_links.suspend.href"));
    assert_non_null(jstr(f->json, "_links.deactivate.href"));
    assert_non_null(jstr(f->json, "_links.resetFactors.href")); /* she has factors */
    assert_null(jstr(f->json, "_links.unsuspend.href"));
    assert_null(jstr(f->json, "_links.activate.href"));

    assert_int_equal(ok_call(f, "GET", "/api/v1/users/maria.gonzalez%40acme.example", NULL), 200);
    assert_string_equal(jstr(f->json, "id"), id);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users/MARIA.GONZALEZ@acme.example", NULL), 200);
    assert_string_equal(jstr(f->json, "id"), id);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users/maria.gonzalez", NULL), 200); /* short name */
    assert_string_equal(jstr(f->json, "id"), id);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users/me", NULL), 200);
    assert_string_equal(jstr(f->json, "profile.login"), "it.automation@acme.example");

    assert_int_equal(ok_call(f, "GET", "/api/v1/users/nobody%40acme.example", NULL), 404);
    assert_okta_error(f, 404, "E0000007");
    assert_string_equal(jstr(f->json, "errorSummary"), "Not found: Resource not found: nobody@acme.example (User)");
    /* Okta: logins with '/' or '?' can only be fetched by id. Such users
     * exist, are found by search and by id, but never through the path. */
    const char *odd[] = {"a/b@acme.example", "q?x@acme.example", NULL};
    const char *enc[] = {"a%2Fb%40acme.example", "q%3Fx%40acme.example", NULL};
    for (int i = 0; odd[i]; i++) {
        char body[300], *oid;
        snprintf(body, sizeof body,
                 "{\"profile\":{\"login\":\"%s\",\"email\":\"odd%d@acme.example\",\"firstName\":\"O\","
                 "\"lastName\":\"D\"}}",
                 odd[i], i);
        assert_int_equal(ok_call(f, "POST", "/api/v1/users?activate=false", body), 200);
        oid = strdup(jstr(f->json, "id"));
        snprintf(path, sizeof path, "/api/v1/users/%s", enc[i]);
        assert_int_equal(ok_call(f, "GET", path, NULL), 404);
        assert_okta_error(f, 404, "E0000007");
        snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/activate", enc[i]);
        assert_int_equal(ok_call(f, "POST", path, NULL), 404);
        snprintf(path, sizeof path, "/api/v1/users/%s", oid);
        assert_int_equal(ok_call(f, "GET", path, NULL), 200);
        assert_string_equal(jstr(f->json, "profile.login"), odd[i]);
        free(oid);
    }
    free(id);
    fx_stop(f);
}

static int count_status(const json_t *arr, const char *status)
{
    int n = 0;
    size_t i;
    json_t *u;
    json_array_foreach(arr, i, u)
    {
        n += strcmp(jstr(u, "status") ?: "", status) == 0;
    }
    return n;
}

static void test_user_list_search_filter_q(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    assert_int_equal(ok_call(f, "GET", "/api/v1/users", NULL), 200);
    size_t plain = json_array_size(f->json);
    assert_int_equal(plain, 36); /* 38 seeded, 2 DEPROVISIONED hidden */
    assert_int_equal(count_status(f->json, "DEPROVISIONED"), 0);
    /* collections carry only the self link */
    assert_non_null(jstr(json_array_get(f->json, 0), "_links.self.href"));
    assert_null(json_object_get(json_object_get(json_array_get(f->json, 0), "_links"), "deactivate"));

    assert_int_equal(ok_call(f, "GET", "/api/v1/users?search=status%20eq%20%22DEPROVISIONED%22", NULL), 200);
    assert_int_equal(json_array_size(f->json), 2);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?search=status%20eq%20%22locked_out%22", NULL), 200);
    assert_int_equal(json_array_size(f->json), 2); /* search values are case-insensitive */
    assert_int_equal(ok_call(f, "GET",
                             "/api/v1/users?search=profile.department%20eq%20%22Engineering%22%20and%20"
                             "(status%20lt%20%22ACTIVE%22%20or%20status%20gt%20%22ACTIVE%22)",
                             NULL),
                     200);
    assert_int_equal(count_status(f->json, "ACTIVE"), 0);
    assert_true(json_array_size(f->json) >= 4);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?search=profile.lastName%20co%20%22onzal%22", NULL), 200);
    assert_int_equal(json_array_size(f->json), 1);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?search=profile.title%20co%20%22Engineer%22", NULL), 400);
    assert_okta_error(f, 400, "E0000031"); /* co only on firstName/lastName/email/login */
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?search=status%20ne%20%22ACTIVE%22", NULL), 400);
    assert_okta_error(f, 400, "E0000031");
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?search=status%20eq", NULL), 400);
    assert_okta_error(f, 400, "E0000031");

    /* filter: exact, case-sensitive values, limited attributes */
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?filter=status%20eq%20%22SUSPENDED%22", NULL), 200);
    assert_int_equal(json_array_size(f->json), 2);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?filter=status%20eq%20%22suspended%22", NULL), 200);
    assert_int_equal(json_array_size(f->json), 0);
    assert_int_equal(ok_call(f, "GET",
                             "/api/v1/users?filter=profile.login%20eq%20%22sofia.rossi%40acme.example%22", NULL),
                     200);
    assert_int_equal(json_array_size(f->json), 1);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?filter=lastUpdated%20gt%20%222000-01-01T00:00:00.000Z%22",
                             NULL),
                     200);
    assert_int_equal(json_array_size(f->json), 38);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?filter=profile.department%20eq%20%22Sales%22", NULL), 400);
    assert_okta_error(f, 400, "E0000031");
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?filter=status%20sw%20%22A%22", NULL), 400);
    assert_okta_error(f, 400, "E0000031");

    /* q: prefix of first name, last name or email; no DEPROVISIONED; default limit 10 */
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?q=fra", NULL), 200);
    assert_int_equal(json_array_size(f->json), 0); /* Frank Miller is DEPROVISIONED */
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?q=nov", NULL), 200);
    assert_int_equal(json_array_size(f->json), 2); /* Mia Novak, Peter Novak */
    assert_null(fx_header(f, "link") ? strstr(fx_header(f, "link"), "rel=\"next\"") : NULL);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?q=a", NULL), 200);
    assert_int_equal(json_array_size(f->json), 4); /* Ava Patel, Zoe Adams, Diego Alvarez, Aisha Bello */
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?q=a&limit=2", NULL), 200);
    assert_int_equal(json_array_size(f->json), 2);
    fx_stop(f);
}

/* The URL of the rel="next" link of the last answer, path+query only, or NULL. */
static char *next_link(struct fx *f)
{
    const char *l = fx_header(f, "link");
    if (!l)
        return NULL;
    const char *n = strstr(l, ">; rel=\"next\"");
    if (!n)
        return NULL;
    const char *start = n;
    while (start > l && *start != '<')
        start--;
    const char *path = strstr(start, "/api/");
    if (!path || path > n)
        return NULL;
    return strndup(path, (size_t)(n - path));
}

static void test_user_pagination(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=7", NULL), 200);
    assert_int_equal(json_array_size(f->json), 7);
    /* the client keeps the last Link header: next comes after self */
    assert_non_null(strstr(fx_header(f, "link"), "rel=\"next\""));
    json_t *seen = json_object();
    int pages = 0;
    char *next = NULL;
    do {
        size_t i;
        json_t *u;
        pages++;
        json_array_foreach(f->json, i, u)
        {
            assert_null(json_object_get(seen, jstr(u, "id"))); /* no duplicates across pages */
            json_object_set_new(seen, jstr(u, "id"), json_true());
        }
        free(next);
        next = next_link(f);
        if (next) {
            assert_non_null(strstr(next, "limit=7"));
            assert_int_equal(ok_call(f, "GET", next, NULL), 200);
        }
    } while (next);
    assert_int_equal(pages, 6); /* 36 users: 5 pages of 7 and 1 of 1 */
    assert_int_equal(json_object_size(seen), 36);
    /* a new user created between pages shows up on a later page */
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=30", NULL), 200);
    char *n2 = next_link(f);
    assert_non_null(n2);
    char *nid = make_user(f, "ACTIVE");
    assert_int_equal(ok_call(f, "GET", n2, NULL), 200);
    assert_int_equal(json_array_size(f->json), 7);
    assert_string_equal(jstr(json_array_get(f->json, 6), "id"), nid);
    assert_int_equal(ok_call(f, "GET", "/api/v1/users?limit=abc", NULL), 400);
    assert_okta_error(f, 400, "E0000029");
    free(n2);
    free(nid);
    json_decref(seen);
    fx_stop(f);
}

static void test_user_update_replace_delete(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    char *id = user_id(f, "noah.schmidt@acme.example");
    char path[128];
    snprintf(path, sizeof path, "/api/v1/users/%s", id);

    assert_int_equal(ok_call(f, "POST", path, "{\"profile\":{\"department\":\"Treasury\",\"title\":\"Analyst II\"}}"),
                     200);
    assert_string_equal(jstr(f->json, "profile.department"), "Treasury");
    assert_string_equal(jstr(f->json, "profile.firstName"), "Noah"); /* partial: the rest kept */
    json_t *ev = events_of(f, "user.account.update_profile", id);
    assert_int_equal(json_array_size(ev), 1);
    json_t *e0 = json_array_get(ev, 0);
    assert_string_equal(jstr(e0, "debugContext.debugData.changedAttributes"), "department,title");
    assert_string_equal(jstr(e0, "target.0.changeDetails.from.department"), "Finance");
    assert_string_equal(jstr(e0, "target.0.changeDetails.to.department"), "Treasury");
    assert_string_equal(jstr(e0, "transaction.detail.requestApiTokenId"), "00Tsandboxidflow0001");
    assert_string_equal(jstr(e0, "actor.alternateId"), "it.automation@acme.example");
    json_decref(ev);
    /* the same values again change nothing and log nothing */
    assert_int_equal(ok_call(f, "POST", path, "{\"profile\":{\"department\":\"Treasury\"}}"), 200);
    ev = events_of(f, "user.account.update_profile", id);
    assert_int_equal(json_array_size(ev), 1);
    json_decref(ev);

    /* PUT replaces the whole profile: leaving out a required field is refused */
    assert_int_equal(ok_call(f, "PUT", path,
                             "{\"profile\":{\"login\":\"noah.schmidt@acme.example\",\"email\":\"noah.schmidt@acme."
                             "example\",\"firstName\":\"Noah\"}}"),
                     400);
    assert_string_equal(assert_okta_error(f, 400, "E0000001"), "lastName: The field cannot be left blank");
    assert_int_equal(ok_call(f, "PUT", path,
                             "{\"profile\":{\"login\":\"noah.schmidt@acme.example\",\"email\":\"noah.schmidt@acme."
                             "example\",\"firstName\":\"Noah\",\"lastName\":\"Schmidt\"}}"),
                     200);
    assert_null(json_object_get(json_object_get(f->json, "profile"), "department"));
    /* login uniqueness on update */
    assert_int_equal(ok_call(f, "POST", path, "{\"profile\":{\"login\":\"grace.liu@acme.example\"}}"), 400);
    assert_okta_error(f, 400, "E0000001");
    assert_int_equal(ok_call(f, "POST", path, "[1,2]"), 400);
    assert_okta_error(f, 400, "E0000003");

    /* delete is two-step: deactivate, then delete */
    assert_int_equal(ok_call(f, "DELETE", path, NULL), 204);
    char *st = user_status(f, id);
    assert_string_equal(st, "DEPROVISIONED");
    free(st);
    assert_int_equal(ok_call(f, "POST", path, "{\"profile\":{\"title\":\"x\"}}"), 404); /* reported: 404 */
    assert_okta_error(f, 404, "E0000007");
    assert_int_equal(ok_call(f, "DELETE", path, NULL), 204);
    assert_int_equal(ok_call(f, "GET", path, NULL), 404);
    assert_okta_error(f, 404, "E0000007");
    ev = events_of(f, "user.lifecycle.delete.initiated", id);
    assert_int_equal(json_array_size(ev), 1);
    json_decref(ev);
    /* gone from groups too */
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups?q=Finance", NULL), 200);
    char gpath[128];
    snprintf(gpath, sizeof gpath, "/api/v1/groups/%s/users", jstr(json_array_get(f->json, 0), "id"));
    assert_int_equal(ok_call(f, "GET", gpath, NULL), 200);
    assert_null(strstr(f->body, id));
    free(id);
    fx_stop(f);
}

/* ------------------------------------------------------- lifecycle */

static const char *const statuses[] = {"STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED",
                                       "LOCKED_OUT", "SUSPENDED", "DEPROVISIONED"};

struct expect {
    int status;          /* HTTP status */
    const char *code;    /* errorCode, or NULL on success */
    const char *to;      /* the user's status afterwards */
    const char *cause;   /* errorCauses[0].errorSummary, or NULL */
    const char *event;   /* event logged on success, or NULL */
};

struct op_row {
    const char *op;
    struct expect e[8]; /* by statuses[] */
};

#define OK(to, ev) {200, NULL, to, NULL, ev}
#define NO(st, code, cause) {st, code, NULL, cause, NULL}
#define SUSP_CAUSE "Cannot suspend a user that is not active"
#define UNSUSP_CAUSE "Cannot unsuspend a user that is not suspended"
#define RESET_CAUSE "Password reset is not allowed in the user's current status"

static const struct op_row matrix[] = {
    {"activate",
     {OK("PROVISIONED", "user.lifecycle.activate"), NO(403, "E0000038", NULL), NO(403, "E0000016", NULL),
      NO(403, "E0000038", NULL), NO(403, "E0000038", NULL), NO(403, "E0000038", NULL), NO(403, "E0000038", NULL),
      OK("PROVISIONED", "user.lifecycle.activate")}},
    {"reactivate",
     {NO(403, "E0000038", NULL), OK("PROVISIONED", "user.lifecycle.reactivate"), NO(403, "E0000038", NULL),
      OK("PROVISIONED", "user.lifecycle.reactivate"), NO(403, "E0000038", NULL), NO(403, "E0000038", NULL),
      NO(403, "E0000038", NULL), NO(403, "E0000038", NULL)}},
    {"deactivate",
     {OK("DEPROVISIONED", "user.lifecycle.deactivate"), OK("DEPROVISIONED", "user.lifecycle.deactivate"),
      OK("DEPROVISIONED", "user.lifecycle.deactivate"), OK("DEPROVISIONED", "user.lifecycle.deactivate"),
      OK("DEPROVISIONED", "user.lifecycle.deactivate"), OK("DEPROVISIONED", "user.lifecycle.deactivate"),
      OK("DEPROVISIONED", "user.lifecycle.deactivate"), NO(404, "E0000007", NULL)}},
    {"suspend",
     {NO(400, "E0000001", SUSP_CAUSE), NO(400, "E0000001", SUSP_CAUSE), OK("SUSPENDED", "user.lifecycle.suspend"),
      NO(400, "E0000001", SUSP_CAUSE), NO(400, "E0000001", SUSP_CAUSE), NO(400, "E0000001", SUSP_CAUSE),
      NO(400, "E0000001", SUSP_CAUSE), NO(400, "E0000001", SUSP_CAUSE)}},
    {"unsuspend",
     {NO(400, "E0000001", UNSUSP_CAUSE), NO(400, "E0000001", UNSUSP_CAUSE), NO(400, "E0000001", UNSUSP_CAUSE),
      NO(400, "E0000001", UNSUSP_CAUSE), NO(400, "E0000001", UNSUSP_CAUSE), NO(400, "E0000001", UNSUSP_CAUSE),
      OK("ACTIVE", "user.lifecycle.unsuspend"), NO(400, "E0000001", UNSUSP_CAUSE)}},
    {"unlock",
     {NO(403, "E0000032", NULL), NO(403, "E0000032", NULL), OK("ACTIVE", NULL), NO(403, "E0000032", NULL),
      NO(403, "E0000032", NULL), OK("ACTIVE", "user.account.unlock_by_admin"), NO(403, "E0000032", NULL),
      NO(403, "E0000032", NULL)}},
    {"reset_password?sendEmail=false",
     {NO(403, "E0000017", RESET_CAUSE), NO(403, "E0000017", RESET_CAUSE),
      OK("RECOVERY", "user.account.reset_password"), OK("RECOVERY", "user.account.reset_password"),
      OK("RECOVERY", "user.account.reset_password"), OK("RECOVERY", "user.account.reset_password"),
      NO(403, "E0000017", RESET_CAUSE), NO(403, "E0000017", RESET_CAUSE)}},
    {"expire_password",
     {NO(403, "E0000038", NULL), NO(403, "E0000038", NULL), OK("PASSWORD_EXPIRED", "user.account.expire_password"),
      NO(403, "E0000038", NULL), OK("PASSWORD_EXPIRED", "user.account.expire_password"), NO(403, "E0000038", NULL),
      NO(403, "E0000038", NULL), NO(403, "E0000038", NULL)}},
    {"expire_password_with_temp_password",
     {NO(403, "E0000038", NULL), NO(403, "E0000038", NULL), OK("PASSWORD_EXPIRED", "user.account.expire_password"),
      NO(403, "E0000038", NULL), OK("PASSWORD_EXPIRED", "user.account.expire_password"), NO(403, "E0000038", NULL),
      NO(403, "E0000038", NULL), NO(403, "E0000038", NULL)}},
    {"reset_factors",
     {OK("STAGED", "user.mfa.factor.reset_all"), OK("PROVISIONED", "user.mfa.factor.reset_all"),
      OK("ACTIVE", "user.mfa.factor.reset_all"), OK("RECOVERY", "user.mfa.factor.reset_all"),
      OK("PASSWORD_EXPIRED", "user.mfa.factor.reset_all"), OK("LOCKED_OUT", "user.mfa.factor.reset_all"),
      OK("SUSPENDED", "user.mfa.factor.reset_all"), NO(403, "E0000038", NULL)}},
};

static void test_lifecycle_matrix(void **state)
{
    (void)state;
    struct sandbox_opts o = {.rate_limit = 100000};
    struct fx *f = fx_start_opts(NULL, o);
    int cases = 0;
    for (size_t r = 0; r < sizeof matrix / sizeof matrix[0]; r++) {
        for (int s = 0; s < 8; s++) {
            const struct expect *e = &matrix[r].e[s];
            char *id = make_user(f, statuses[s]);
            char path[256];
            snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/%s", id, matrix[r].op);
            long got = ok_call(f, "POST", path, NULL);
            if (got != e->status)
                fail_msg("%s from %s: wanted %d, got %ld %s", matrix[r].op, statuses[s], e->status, got, f->body);
            if (e->code) {
                const char *cause = assert_okta_error(f, e->status, e->code);
                if (e->cause)
                    assert_string_equal(cause, e->cause);
                if (strcmp(e->code, "E0000001") == 0)
                    assert_string_equal(jstr(f->json, "errorSummary"), strcmp(matrix[r].op, "suspend") == 0
                                                                          ? "Api validation failed: suspendUser"
                                                                          : "Api validation failed: unsuspendUser");
                if (strcmp(e->code, "E0000016") == 0)
                    assert_string_equal(jstr(f->json, "errorSummary"),
                                        "Activation failed because the user is already active");
                if (strcmp(e->code, "E0000038") == 0)
                    assert_string_equal(jstr(f->json, "errorSummary"),
                                        "This operation is not allowed in the user's current status.");
                if (strcmp(e->code, "E0000032") == 0)
                    assert_string_equal(jstr(f->json, "errorSummary"), "Unlock is not allowed for this user.");
                char *st = user_status(f, id); /* a refusal changes nothing */
                if (strcmp(st, statuses[s]) != 0)
                    fail_msg("%s from %s refused but status became %s", matrix[r].op, statuses[s], st);
                free(st);
            } else {
                char *st = user_status(f, id);
                if (strcmp(st, e->to) != 0)
                    fail_msg("%s from %s: wanted %s, got %s", matrix[r].op, statuses[s], e->to, st);
                free(st);
                if (e->event) {
                    json_t *ev = events_of(f, e->event, id);
                    if (json_array_size(ev) < 1)
                        fail_msg("%s from %s: no %s event", matrix[r].op, statuses[s], e->event);
                    json_decref(ev);
                }
            }
            cases++;
            free(id);
        }
    }
    assert_int_equal(cases, 80);
    fx_stop(f);
}

static void test_lifecycle_answers(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    char path[256];
    char *staged = make_user(f, "STAGED");
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/activate?sendEmail=false", staged);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    assert_non_null(jstr(f->json, "activationToken"));
    assert_non_null(strstr(jstr(f->json, "activationUrl"), "/tokens/"));
    char *prov = make_user(f, "STAGED");
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/activate", prov);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    assert_int_equal(json_object_size(f->json), 0); /* sendEmail defaults to true: {} */

    char *active = make_user(f, "ACTIVE");
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/reset_password", active);
    assert_int_equal(ok_call(f, "POST", path, NULL), 400); /* sendEmail is required by the spec */
    assert_okta_error(f, 400, "E0000028");
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/reset_password?sendEmail=false", active);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    assert_non_null(strstr(jstr(f->json, "resetPasswordUrl"), "/signin/reset-password/"));

    char *a2 = make_user(f, "ACTIVE");
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/expire_password", a2);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    assert_string_equal(jstr(f->json, "status"), "PASSWORD_EXPIRED"); /* the full User */
    assert_string_equal(jstr(f->json, "id"), a2);
    char *a3 = make_user(f, "ACTIVE");
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/expire_password_with_temp_password", a3);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    assert_non_null(jstr(f->json, "tempPassword"));

    /* deactivate and reset_factors: 200 with no body, not labelled JSON
     * (the spec declares no content; an empty body is not a JSON document) */
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/reset_factors", a3);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    assert_string_equal(f->body, "");
    assert_null(strstr(fx_header(f, "content-type") ?: "", "json"));
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/deactivate", a3);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    assert_string_equal(f->body, "");
    assert_null(strstr(fx_header(f, "content-type") ?: "", "json"));

    /* lifecycle by login works; unknown op and unknown user are 404 */
    assert_int_equal(ok_call(f, "POST", "/api/v1/users/sofia.rossi%40acme.example/lifecycle/suspend", NULL), 200);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users/sofia.rossi%40acme.example/lifecycle/explode", NULL), 404);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users/nobody%40acme.example/lifecycle/suspend", NULL), 404);
    assert_okta_error(f, 404, "E0000007");
    free(staged);
    free(prov);
    free(active);
    free(a2);
    free(a3);
    fx_stop(f);
}

/* State dump of one user (the stored record with its private part). */
static json_t *dump_user(struct fx *f, const char *id)
{
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/state", NULL, NULL), 200);
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(json_object_get(f->json, "okta"), "users"), i, u)
    {
        if (strcmp(jstr(u, "id"), id) == 0)
            return json_incref(u);
    }
    return NULL;
}

static void test_sessions_and_factors(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    char *id = user_id(f, "dana.whitfield@acme.example");
    char path[256];
    json_t *u = dump_user(f, id);
    assert_int_equal(json_array_size(json_object_get(json_object_get(u, "_sbx"), "sessions")), 2);
    assert_int_equal(json_array_size(json_object_get(json_object_get(u, "_sbx"), "factors")), 2);
    json_decref(u);

    /* {userId} must be the id: a login is 404 */
    assert_int_equal(ok_call(f, "DELETE", "/api/v1/users/dana.whitfield%40acme.example/sessions", NULL), 404);
    snprintf(path, sizeof path, "/api/v1/users/%s/sessions?oauthTokens=true", id);
    assert_int_equal(ok_call(f, "DELETE", path, NULL), 204);
    assert_string_equal(f->body, "");
    u = dump_user(f, id);
    assert_int_equal(json_array_size(json_object_get(json_object_get(u, "_sbx"), "sessions")), 0);
    json_decref(u);
    json_t *ev = events_of(f, "user.session.clear", id);
    assert_int_equal(json_array_size(ev), 1);
    json_decref(ev);

    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/reset_factors", id);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    u = dump_user(f, id);
    assert_int_equal(json_array_size(json_object_get(json_object_get(u, "_sbx"), "factors")), 0);
    assert_string_equal(jstr(u, "status"), "ACTIVE");
    json_decref(u);
    snprintf(path, sizeof path, "/api/v1/users/%s", id);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_null(jstr(f->json, "_links.resetFactors.href")); /* only with a factor enrolled */
    free(id);
    fx_stop(f);
}

static void test_async_activation(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", "{\"activationDelayMs\": 400}", NULL), 200);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users",
                             "{\"profile\":{\"login\":\"slow@acme.example\",\"email\":\"slow@acme.example\","
                             "\"firstName\":\"S\",\"lastName\":\"L\"},\"credentials\":{\"password\":{\"value\":"
                             "\"Abcdefgh1!\"}}}"),
                     200);
    assert_string_equal(jstr(f->json, "transitioningToStatus"), "ACTIVE");
    char *id = strdup(jstr(f->json, "id"));
    char path[256];
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/suspend", id);
    assert_int_equal(ok_call(f, "POST", path, NULL), 409);
    assert_okta_error(f, 409, "E0000112");
    int64_t deadline = tu_now_ms() + 5000;
    char *st = NULL;
    for (;;) {
        free(st);
        st = user_status(f, id);
        if (strcmp(st, "ACTIVE") == 0 || tu_now_ms() > deadline)
            break;
        usleep(20000);
    }
    assert_string_equal(st, "ACTIVE");
    assert_null(json_object_get(f->json, "transitioningToStatus"));
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    free(st);
    free(id);
    fx_stop(f);
}

/* ------------------------------------------------------------ groups */

static char *group_id(struct fx *f, const char *name)
{
    char path[256];
    char *expr = NULL, *enc;
    if (asprintf(&expr, "profile.name eq \"%s\"", name) < 0)
        fail();
    enc = http_urlencode(expr);
    snprintf(path, sizeof path, "/api/v1/groups?search=%s", enc);
    free(enc);
    free(expr);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_int_equal(json_array_size(f->json), 1);
    return strdup(jstr(json_array_get(f->json, 0), "id"));
}

static void test_groups(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    char path[256];
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups", NULL), 200);
    assert_int_equal(json_array_size(f->json), 15); /* 14 seeded + Everyone */
    assert_string_equal(jstr(json_array_get(f->json, 0), "type"), "BUILT_IN");
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups?q=eng", NULL), 200);
    assert_int_equal(json_array_size(f->json), 1);
    assert_string_equal(jstr(json_array_get(f->json, 0), "profile.name"), "Engineering");
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups?filter=type%20eq%20%22APP_GROUP%22", NULL), 200);
    assert_int_equal(json_array_size(f->json), 2);
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups?search=profile.name%20sw%20%22AD%20-%22", NULL), 200);
    assert_int_equal(json_array_size(f->json), 2);
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups?filter=profile.name%20eq%20%22HR%22", NULL), 400);
    assert_okta_error(f, 400, "E0000031");
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups?limit=4", NULL), 200);
    assert_int_equal(json_array_size(f->json), 4);
    assert_non_null(strstr(fx_header(f, "link"), "rel=\"next\""));

    char *vpn = group_id(f, "VPN Users");
    snprintf(path, sizeof path, "/api/v1/groups/%s?expand=stats", vpn);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_string_equal(jstr(f->json, "type"), "OKTA_GROUP");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(f->json, "_embedded"), "stats"),
                                                        "usersCount")),
                     5);
    snprintf(path, sizeof path, "/api/v1/groups/%s/users?limit=2", vpn);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_int_equal(json_array_size(f->json), 2);
    char *nl = next_link(f);
    assert_non_null(nl);
    free(nl);
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups/00gmissing0000000000", NULL), 404);
    assert_string_equal(jstr(f->json, "errorSummary"),
                        "Not found: Resource not found: 00gmissing0000000000 (UserGroup)");

    /* add: 204, one event with User + UserGroup targets; again: 204, no new event */
    char *mia = user_id(f, "mia.novak@acme.example");
    snprintf(path, sizeof path, "/api/v1/groups/%s/users/%s", vpn, mia);
    assert_int_equal(ok_call(f, "PUT", path, NULL), 204);
    assert_int_equal(ok_call(f, "PUT", path, NULL), 204);
    json_t *ev = events_of(f, "group.user_membership.add", mia);
    assert_int_equal(json_array_size(ev), 1);
    json_t *e0 = json_array_get(ev, 0);
    assert_string_equal(jstr(e0, "target.0.type"), "User");
    assert_string_equal(jstr(e0, "target.0.alternateId"), "mia.novak@acme.example");
    assert_string_equal(jstr(e0, "target.1.type"), "UserGroup");
    assert_string_equal(jstr(e0, "target.1.displayName"), "VPN Users");
    assert_string_equal(jstr(e0, "legacyEventType"), "core.user_group_member.user_add");
    json_decref(ev);
    snprintf(path, sizeof path, "/api/v1/users/%s/groups", mia);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_non_null(strstr(f->body, "\"VPN Users\""));
    assert_non_null(strstr(f->body, "\"Everyone\""));
    assert_int_equal(ok_call(f, "GET", "/api/v1/users/mia.novak%40acme.example/groups", NULL), 200);
    /* remove: 204 + event; removing again is a quiet 204 */
    snprintf(path, sizeof path, "/api/v1/groups/%s/users/%s", vpn, mia);
    assert_int_equal(ok_call(f, "DELETE", path, NULL), 204);
    assert_int_equal(ok_call(f, "DELETE", path, NULL), 204);
    ev = events_of(f, "group.user_membership.remove", mia);
    assert_int_equal(json_array_size(ev), 1);
    json_decref(ev);
    /* userId must be an id; unknown group / user are 404 */
    snprintf(path, sizeof path, "/api/v1/groups/%s/users/mia.novak%%40acme.example", vpn);
    assert_int_equal(ok_call(f, "PUT", path, NULL), 404);
    assert_string_equal(jstr(f->json, "errorSummary"), "Not found: Resource not found: mia.novak@acme.example (User)");
    snprintf(path, sizeof path, "/api/v1/groups/00gmissing0000000000/users/%s", mia);
    assert_int_equal(ok_call(f, "PUT", path, NULL), 404);
    /* APP_GROUP and BUILT_IN memberships cannot be changed */
    char *ad = group_id(f, "AD - Domain Users");
    snprintf(path, sizeof path, "/api/v1/groups/%s/users/%s", ad, mia);
    assert_int_equal(ok_call(f, "PUT", path, NULL), 403);
    assert_okta_error(f, 403, "E0000006");
    assert_int_equal(ok_call(f, "DELETE", path, NULL), 403);
    char *every = group_id(f, "Everyone");
    snprintf(path, sizeof path, "/api/v1/groups/%s/users/%s", every, mia);
    assert_int_equal(ok_call(f, "DELETE", path, NULL), 403);
    assert_okta_error(f, 403, "E0000006");
    free(every);
    free(ad);
    free(mia);
    free(vpn);
    fx_stop(f);
}

/* -------------------------------------------------------------- apps */

static char *app_id(struct fx *f, const char *label)
{
    char path[256];
    char *enc = http_urlencode(label);
    snprintf(path, sizeof path, "/api/v1/apps?q=%s", enc);
    free(enc);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_true(json_array_size(f->json) >= 1);
    return strdup(jstr(json_array_get(f->json, 0), "id"));
}

static void test_apps(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    char path[256], body[256];
    assert_int_equal(ok_call(f, "GET", "/api/v1/apps", NULL), 200);
    assert_int_equal(json_array_size(f->json), 12);
    assert_int_equal(ok_call(f, "GET", "/api/v1/apps?limit=5", NULL), 200);
    assert_int_equal(json_array_size(f->json), 5);
    assert_non_null(strstr(fx_header(f, "link"), "rel=\"next\""));
    assert_int_equal(ok_call(f, "GET", "/api/v1/apps?q=sales", NULL), 200);
    assert_int_equal(json_array_size(f->json), 1);
    assert_string_equal(jstr(json_array_get(f->json, 0), "label"), "Salesforce");
    assert_int_equal(ok_call(f, "GET", "/api/v1/apps?filter=status%20eq%20%22ACTIVE%22", NULL), 200);
    assert_int_equal(json_array_size(f->json), 12);
    char *hannah = user_id(f, "hannah.kim@acme.example");
    snprintf(path, sizeof path, "/api/v1/apps?filter=user.id%%20eq%%20%%22%s%%22&expand=user/%s", hannah, hannah);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    /* Hannah: Jira directly; Slack, Google Workspace, Company Wiki through All Employees */
    assert_int_equal(json_array_size(f->json), 4);
    assert_non_null(strstr(f->body, "\"scope\":\"GROUP\""));
    assert_non_null(strstr(f->body, "\"scope\":\"USER\""));
    assert_int_equal(ok_call(f, "GET", "/api/v1/apps?filter=label%20eq%20%22Jira%22", NULL), 400);
    assert_okta_error(f, 400, "E0000031");

    char *zoom = app_id(f, "Zoom");
    snprintf(path, sizeof path, "/api/v1/apps/%s", zoom);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_string_equal(jstr(f->json, "label"), "Zoom");
    assert_string_equal(jstr(f->json, "signOnMode"), "AUTO_LOGIN");
    assert_null(json_object_get(f->json, "_sbx"));
    assert_int_equal(ok_call(f, "GET", "/api/v1/apps/0oamissing0000000000", NULL), 404);
    assert_string_equal(jstr(f->json, "errorSummary"),
                        "Not found: Resource not found: 0oamissing0000000000 (AppInstance)");
    snprintf(path, sizeof path, "/api/v1/apps/%s/users", zoom);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_int_equal(json_array_size(f->json), 5);

    /* assign: 200 AppUser + event; again 409 E0000062 */
    snprintf(path, sizeof path, "/api/v1/apps/%s/users", zoom);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"scope\":\"USER\",\"credentials\":{\"userName\":\"hkim\"}}", hannah);
    assert_int_equal(ok_call(f, "POST", path, body), 200);
    assert_string_equal(jstr(f->json, "id"), hannah);
    assert_string_equal(jstr(f->json, "scope"), "USER");
    assert_string_equal(jstr(f->json, "credentials.userName"), "hkim");
    assert_non_null(jstr(f->json, "_links.app.href"));
    assert_int_equal(ok_call(f, "POST", path, body), 409);
    assert_okta_error(f, 409, "E0000062");
    json_t *ev = events_of(f, "application.user_membership.add", hannah);
    assert_int_equal(json_array_size(ev), 1);
    assert_string_equal(jstr(json_array_get(ev, 0), "target.0.type"), "AppUser");
    assert_string_equal(jstr(json_array_get(ev, 0), "target.1.type"), "AppInstance");
    assert_string_equal(jstr(json_array_get(ev, 0), "target.1.displayName"), "Zoom");
    assert_string_equal(jstr(json_array_get(ev, 0), "target.2.type"), "User");
    json_decref(ev);
    snprintf(path, sizeof path, "/api/v1/apps/%s/users/%s", zoom, hannah);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_string_equal(jstr(f->json, "status"), "ACTIVE");
    snprintf(path, sizeof path, "/api/v1/users/%s/appLinks", hannah);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_int_equal(json_array_size(f->json), 5);
    assert_non_null(strstr(f->body, "\"label\":\"Zoom\""));

    /* bad assignments */
    snprintf(path, sizeof path, "/api/v1/apps/%s/users", zoom);
    assert_int_equal(ok_call(f, "POST", path, "{\"scope\":\"USER\"}"), 400);
    assert_okta_error(f, 400, "E0000001");
    assert_int_equal(ok_call(f, "POST", path, "{\"id\": 42}"), 400);
    assert_okta_error(f, 400, "E0000003");
    assert_int_equal(ok_call(f, "POST", path, "{\"id\":\"00umissing0000000000\"}"), 404);
    assert_okta_error(f, 404, "E0000007");
    char *frank = user_id(f, "frank.miller@acme.example"); /* DEPROVISIONED */
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", frank);
    assert_int_equal(ok_call(f, "POST", path, body), 403);
    assert_okta_error(f, 403, "E0000117");

    /* unassign: direct 204 + event; through a group 403 E0000046; not assigned 404 */
    snprintf(path, sizeof path, "/api/v1/apps/%s/users/%s", zoom, hannah);
    assert_int_equal(ok_call(f, "DELETE", path, NULL), 204);
    assert_int_equal(ok_call(f, "DELETE", path, NULL), 404);
    assert_okta_error(f, 404, "E0000007");
    ev = events_of(f, "application.user_membership.remove", hannah);
    assert_int_equal(json_array_size(ev), 1);
    json_decref(ev);
    char *slack = app_id(f, "Slack");
    snprintf(path, sizeof path, "/api/v1/apps/%s/users/%s", slack, hannah);
    assert_int_equal(ok_call(f, "DELETE", path, NULL), 403);
    assert_string_equal(assert_okta_error(f, 403, "E0000046"),
                        "The application cannot be unassigned from the user while their group memberships grant "
                        "them access");
    /* deactivating a user removes direct assignments */
    char *zid = user_id(f, "sofia.rossi@acme.example");
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/deactivate", zid);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    snprintf(path, sizeof path, "/api/v1/apps/%s/users/%s", zoom, zid);
    assert_int_equal(ok_call(f, "GET", path, NULL), 404);
    free(zid);
    free(slack);
    free(frank);
    free(zoom);
    free(hannah);
    fx_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_and_conventions),
        cmocka_unit_test(test_user_create_statuses),
        cmocka_unit_test(test_user_get_forms),
        cmocka_unit_test(test_user_list_search_filter_q),
        cmocka_unit_test(test_user_pagination),
        cmocka_unit_test(test_user_update_replace_delete),
        cmocka_unit_test(test_lifecycle_matrix),
        cmocka_unit_test(test_lifecycle_answers),
        cmocka_unit_test(test_sessions_and_factors),
        cmocka_unit_test(test_async_activation),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_apps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

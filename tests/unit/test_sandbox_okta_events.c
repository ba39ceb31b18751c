/* test_sandbox_okta_events.c — the sandbox's System Log, event hooks and
 * the "simulating people" endpoints.
 *
 * Hooks deliver to a recording loopback receiver (tests/support/testsrv);
 * deliveries are asynchronous, so the tests poll the receiver with a
 * deadline. The System Log is read back through /api/v1/logs with Okta's
 * polling contract (follow `next` forever; every event exactly once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_sandbox_common.h"

/* The path+query of the rel="next" link (the client keeps the last Link
 * header, and `next` is always sent last; a proxy may join both links into
 * one header, so the link starts at the '<' before rel="next"). */
static char *next_link(struct fx *f)
{
    const char *l = fx_header(f, "link");
    const char *n = l ? strstr(l, ">; rel=\"next\"") : NULL;
    if (!n)
        return NULL;
    const char *start = n;
    while (start > l && *start != '<')
        start--;
    const char *path = strstr(start, "/api/v1/logs");
    return path && path < n ? strndup(path, (size_t)(n - path)) : NULL;
}

static void iso_ago(int64_t ms_ago, char out[32])
{
    time_format_iso(time_now_ms() - ms_ago, out, 32);
}

/* ------------------------------------------------------- System Log */

static void test_logs_polling_returns_each_event_once(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    char since[32], path[256];
    iso_ago(1000, since);
    snprintf(path, sizeof path, "/api/v1/logs?since=%s&limit=3", since);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_int_equal(json_array_size(f->json), 0); /* the seed logs nothing */
    char *next = next_link(f);
    assert_non_null(next); /* polling: next even on an empty page */
    assert_null(strstr(next, "since="));
    assert_non_null(strstr(next, "after="));

    json_t *seen = json_object();
    int polls = 0, made = 0;
    for (int round = 0; round < 6; round++) {
        /* cause some events between polls: create (+ activate) users */
        for (int k = 0; k < round; k++) {
            free(make_user(f, k % 2 ? "ACTIVE" : "STAGED"));
            made += k % 2 ? 2 : 1;
        }
        for (;;) { /* drain: follow next until an empty page */
            assert_int_equal(ok_call(f, "GET", next, NULL), 200);
            polls++;
            size_t i;
            json_t *ev;
            json_array_foreach(f->json, i, ev)
            {
                const char *uuid = jstr(ev, "uuid");
                assert_non_null(uuid);
                if (json_object_get(seen, uuid))
                    fail_msg("event %s returned twice", uuid);
                json_object_set_new(seen, uuid, json_true());
            }
            size_t n = json_array_size(f->json);
            char *nn = next_link(f);
            assert_non_null(nn); /* always present */
            free(next);
            next = nn;
            if (n == 0)
                break;
            assert_true(n <= 3);
        }
    }
    assert_int_equal(made, 1 + 3 + 4 + 6 + 7); /* rounds 1..5: a STAGED user is 1 event, an ACTIVE one 2 */
    assert_int_equal((int)json_object_size(seen), made);
    assert_true(polls > made / 3);
    /* the bounded query over the same window agrees */
    snprintf(path, sizeof path, "/api/v1/logs?since=%s&until=2999-01-01T00:00:00.000Z&limit=1000", since);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_int_equal((int)json_array_size(f->json), made);
    assert_null(next_link(f)); /* bounded and complete: no next */
    free(next);
    json_decref(seen);
    fx_stop(f);
}

static void test_logs_queries_and_event_shape(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    char path[512];
    char *id = make_user(f, "ACTIVE");
    char rid[64];
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/suspend", id);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    snprintf(rid, sizeof rid, "%s", fx_header(f, "x-okta-request-id"));

    json_t *ev = events_of(f, "user.lifecycle.suspend", id);
    assert_int_equal(json_array_size(ev), 1);
    json_t *e = json_array_get(ev, 0);
    assert_int_equal(strlen(jstr(e, "uuid")), 36);
    int64_t pub;
    assert_int_equal(time_parse_iso(jstr(e, "published"), &pub), 0);
    assert_int_equal(strlen(jstr(e, "published")), 24); /* YYYY-MM-DDTHH:mm:ss.SSSZ */
    assert_string_equal(jstr(e, "version"), "0");
    assert_string_equal(jstr(e, "severity"), "INFO");
    assert_string_equal(jstr(e, "displayMessage"), "Suspend Okta user");
    assert_string_equal(jstr(e, "outcome.result"), "SUCCESS");
    assert_string_equal(jstr(e, "actor.type"), "User");
    assert_string_equal(jstr(e, "actor.alternateId"), "it.automation@acme.example");
    assert_string_equal(jstr(e, "transaction.id"), rid);
    assert_string_equal(jstr(e, "transaction.type"), "WEB");
    assert_string_equal(jstr(e, "transaction.detail.requestApiTokenId"), "00Tsandboxidflow0001");
    assert_string_equal(jstr(e, "debugContext.debugData.requestId"), rid);
    assert_non_null(strstr(jstr(e, "debugContext.debugData.requestUri"), "/lifecycle/suspend"));
    assert_string_equal(jstr(e, "target.0.id"), id);
    assert_string_equal(jstr(e, "client.ipAddress"), "127.0.0.1");
    assert_null(json_object_get(e, "_sbx"));
    json_decref(ev);

    /* filter with or; target.id; limit + next on a bounded query; descending */
    snprintf(path, sizeof path,
             "/api/v1/logs?until=2999-01-01T00:00:00Z&filter=eventType%%20eq%%20%%22user.lifecycle.create%%22%%20or%%"
             "20eventType%%20eq%%20%%22user.lifecycle.suspend%%22");
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_int_equal(json_array_size(f->json), 2);
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?until=2999-01-01T00:00:00Z&limit=1", NULL), 200);
    assert_int_equal(json_array_size(f->json), 1);
    assert_string_equal(jstr(json_array_get(f->json, 0), "eventType"), "user.lifecycle.create");
    char *next = next_link(f);
    assert_non_null(next);
    assert_int_equal(ok_call(f, "GET", next, NULL), 200);
    assert_string_equal(jstr(json_array_get(f->json, 0), "eventType"), "user.lifecycle.activate");
    free(next);
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?sortOrder=DESCENDING&limit=1", NULL), 200);
    assert_string_equal(jstr(json_array_get(f->json, 0), "eventType"), "user.lifecycle.suspend");
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?until=2999-01-01T00:00:00Z&q=suspend", NULL), 200);
    assert_int_equal(json_array_size(f->json), 1);
    /* until before everything: nothing */
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?until=2001-01-01T00:00:00Z&since=2000-12-31T00:00:00Z", NULL),
                     400); /* since older than 180 days */
    assert_okta_error(f, 400, "E0000053");
    assert_string_equal(jstr(f->json, "errorSummary"),
                        "Invalid parameter: The since parameter is over 180 days prior to the current day.");

    /* refusals */
    char since[32];
    iso_ago(1000, since);
    snprintf(path, sizeof path, "/api/v1/logs?since=%s&after=1_1", since);
    assert_int_equal(ok_call(f, "GET", path, NULL), 400);
    assert_okta_error(f, 400, "E0000031");
    /* Okta's System Log query guide, "Errors": a bad filter is E0000053
     * "Invalid filter '…': …"; a date that does not parse is E0000001 with
     * two causes; a q item over 40 characters is E0000001 */
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?filter=eventType%20equals%20%22x%22", NULL), 400);
    assert_okta_error(f, 400, "E0000053");
    {
        const char *want = "Invalid filter 'eventType equals \"x\"': ";
        assert_true(strncmp(jstr(f->json, "errorSummary"), want, strlen(want)) == 0);
    }
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?since=yesterday", NULL), 400);
    assert_okta_error(f, 400, "E0000001");
    assert_string_equal(jstr(f->json, "errorSummary"),
                        "Api validation failed: 'since': The date format in your query is not recognized. Please "
                        "enter dates using ISO8601 string format. 'since': must be a valid date-time or empty.");
    assert_int_equal(json_array_size(json_object_get(f->json, "errorCauses")), 2);
    assert_string_equal(jstr(json_array_get(json_object_get(f->json, "errorCauses"), 1), "errorSummary"),
                        "since: must be a valid date-time or empty.");
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?until=2024-13-45", NULL), 400);
    assert_okta_error(f, 400, "E0000001");
    assert_non_null(strstr(jstr(f->json, "errorSummary"), "'until': The date format"));
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?since=&until=", NULL), 200); /* "or empty" */
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?q=abcdefghijabcdefghijabcdefghijabcdefghijX", NULL), 400);
    assert_okta_error(f, 400, "E0000001");
    assert_non_null(strstr(jstr(f->json, "errorSummary"), "longer than 40 characters"));
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?sortOrder=SIDEWAYS", NULL), 400);
    assert_okta_error(f, 400, "E0000001");
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?limit=-1", NULL), 400);
    assert_okta_error(f, 400, "E0000029");
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?limit=5000&until=2999-01-01T00:00:00Z", NULL), 200);
    assert_int_equal(json_array_size(f->json), 3); /* limit capped at 1000, 3 events */
    free(id);
    fx_stop(f);
}

/* ------------------------------------------------------------ hooks */

struct echo {
    int mode;       /* 0 echo, 1 wrong value, 2 not JSON */
    int fail_first; /* answer this many verification GETs with 503 first */
};

static bool echo_handler(void *ud, const struct http_req *req, struct http_resp *resp)
{
    struct echo *e = ud;
    const char *ch = http_req_header(req, "x-okta-verification-challenge");
    if (strcmp(req->method, "GET") != 0 || !ch)
        return false;
    if (e->fail_first > 0) {
        e->fail_first--;
        http_resp_json(resp, 503, NULL);
        return true;
    }
    if (e->mode == 2)
        http_resp_text(resp, 200, "text/plain", "ok");
    else
        http_resp_json(resp, 200, json_pack("{s:s}", "verification", e->mode ? "nope" : ch));
    return true;
}

static char *create_hook(struct fx *f, const char *uri, const char *items)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"idflow\",\"events\":{\"type\":\"EVENT_TYPE\",\"items\":[%s]},"
             "\"channel\":{\"type\":\"HTTP\",\"version\":\"1.0.0\",\"config\":{\"uri\":\"%s\","
             "\"headers\":[{\"key\":\"X-Other-Header\",\"value\":\"v1\"}],"
             "\"authScheme\":{\"type\":\"HEADER\",\"key\":\"Authorization\",\"value\":\"hook-secret-42\"}}}}",
             items, uri);
    if (ok_call(f, "POST", "/api/v1/eventHooks", body) != 200)
        fail_msg("create hook: %ld %s", f->status, f->body);
    return strdup(jstr(f->json, "id"));
}

static char *verified_hook(struct fx *f, struct testsrv *rx, const char *items)
{
    char uri[128], path[128];
    snprintf(uri, sizeof uri, "%s/hooks/okta", testsrv_url(rx));
    char *id = create_hook(f, uri, items);
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s/lifecycle/verify", id);
    if (ok_call(f, "POST", path, NULL) != 200)
        fail_msg("verify: %ld %s", f->status, f->body);
    return id;
}

static void test_hooks_crud(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    char path[256];
    char *id = create_hook(f, "https://svc.example.com/okta/events", "\"user.lifecycle.activate\"");
    assert_string_equal(jstr(f->json, "status"), "ACTIVE");
    assert_string_equal(jstr(f->json, "verificationStatus"), "UNVERIFIED");
    assert_string_equal(jstr(f->json, "channel.config.authScheme.key"), "Authorization");
    assert_string_equal(jstr(f->json, "channel.config.method"), "POST");
    assert_null(strstr(f->body, "hook-secret-42")); /* write-only */
    assert_true(strncmp(id, "who", 3) == 0);
    assert_non_null(jstr(f->json, "createdBy"));
    assert_non_null(jstr(f->json, "_links.verify.href"));

    assert_int_equal(ok_call(f, "GET", "/api/v1/eventHooks", NULL), 200);
    assert_int_equal(json_array_size(f->json), 1);
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s", id);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_string_equal(jstr(f->json, "events.items.0"), "user.lifecycle.activate");
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/state", NULL, NULL), 200);
    assert_null(strstr(f->body, "hook-secret-42")); /* nor in the state dump */

    /* replace; deleting an ACTIVE hook is refused; deactivate then delete */
    assert_int_equal(ok_call(f, "PUT", path,
                             "{\"name\":\"renamed\",\"events\":{\"type\":\"EVENT_TYPE\",\"items\":[\"user.account."
                             "lock\"]},\"channel\":{\"type\":\"HTTP\",\"version\":\"1.0.0\",\"config\":{\"uri\":"
                             "\"https://svc.example.com/okta/events\"}}}"),
                     200);
    assert_string_equal(jstr(f->json, "name"), "renamed");
    assert_string_equal(jstr(f->json, "events.items.0"), "user.account.lock");
    assert_int_equal(ok_call(f, "DELETE", path, NULL), 403);
    assert_okta_error(f, 403, "E0000107");
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s/lifecycle/deactivate", id);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    assert_string_equal(jstr(f->json, "status"), "INACTIVE");
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s", id);
    assert_int_equal(ok_call(f, "DELETE", path, NULL), 204);
    assert_int_equal(ok_call(f, "GET", path, NULL), 404);
    assert_string_equal(assert_okta_error(f, 404, "E0000007") ?: "", "");

    /* validation */
    assert_int_equal(ok_call(f, "POST", "/api/v1/eventHooks", "{\"events\":{}}"), 400);
    assert_okta_error(f, 400, "E0000001");
    assert_int_equal(ok_call(f, "POST", "/api/v1/eventHooks", "{\"name\":\"x\",\"events\":[]}"), 400);
    assert_okta_error(f, 400, "E0000003");
    assert_int_equal(ok_call(f, "POST", "/api/v1/eventHooks",
                             "{\"name\":\"x\",\"events\":{\"type\":\"EVENT_TYPE\",\"items\":[\"user.account."
                             "expire_password\"]},\"channel\":{\"type\":\"HTTP\",\"version\":\"1.0.0\",\"config\":{"
                             "\"uri\":\"https://a.example\"}}}"),
                     400);
    assert_non_null(strstr(assert_okta_error(f, 400, "E0000001"), "not an event hook eligible event type"));
    assert_int_equal(ok_call(f, "POST", "/api/v1/eventHooks",
                             "{\"name\":\"x\",\"events\":{\"type\":\"EVENT_TYPE\",\"items\":[\"user.lifecycle."
                             "create\"]},\"channel\":{\"type\":\"HTTP\",\"version\":\"1.0.0\",\"config\":{"
                             "\"uri\":\"http://svc.example.com/plain\"}}}"),
                     400);
    assert_okta_error(f, 400, "E0000001");
    free(id);
    fx_stop(f);
}

/* A create/replace body subscribing to items (a JSON array's contents). */
static char *hook_body(const char *items)
{
    char *b = NULL;
    if (asprintf(&b,
                 "{\"name\":\"x\",\"events\":{\"type\":\"EVENT_TYPE\",\"items\":[%s]},\"channel\":{\"type\":"
                 "\"HTTP\",\"version\":\"1.0.0\",\"config\":{\"uri\":\"https://svc.example.com/okta\"}}}",
                 items) < 0)
        fail_msg("out of memory");
    return b;
}

/* POST and PUT /api/v1/eventHooks take only event types in Okta's list of
 * hook-eligible types (connectors/okta/eligible.h, release 2026.08.1):
 * anything else (a real but ineligible type, an unknown type, a different
 * spelling) is 400 E0000001 naming it, and nothing changes. */
static void test_hooks_refuse_ineligible_types(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    static const char *const refused[] = {
        "\"policy.evaluate_sign_on\"",                         /* in Okta's catalog, not hook-eligible */
        "\"user.lifecycle.create\",\"user.account.expire_password\"", /* one bad item refuses all */
        "\"no.such.type\"",                                     /* unknown */
        "\"USER.LIFECYCLE.CREATE\"",                            /* not Okta's spelling */
    };
    static const char *const named[] = {"policy.evaluate_sign_on", "user.account.expire_password", "no.such.type",
                                        "USER.LIFECYCLE.CREATE"};
    char path[256], *b, *id;

    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        b = hook_body(refused[i]);
        assert_int_equal(ok_call(f, "POST", "/api/v1/eventHooks", b), 400);
        assert_non_null(strstr(assert_okta_error(f, 400, "E0000001") ?: "", named[i]));
        assert_string_equal(jstr(f->json, "errorSummary"), "Api validation failed: events");
        free(b);
    }
    assert_int_equal(ok_call(f, "GET", "/api/v1/eventHooks", NULL), 200);
    assert_int_equal(json_array_size(f->json), 0);

    /* eligible ones, in Okta's spelling, beta ones included */
    b = hook_body("\"user.authentication.sso\",\"user.authentication.auth_via_IDP\",\"user.chrome.data.clear\"");
    assert_int_equal(ok_call(f, "POST", "/api/v1/eventHooks", b), 200);
    free(b);
    id = strdup(jstr(f->json, "id"));

    /* PUT refuses the same way and leaves the hook as it was */
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s", id);
    b = hook_body("\"user.session.start\",\"user.authentication.verify\"");
    assert_int_equal(ok_call(f, "PUT", path, b), 400);
    assert_non_null(strstr(assert_okta_error(f, 400, "E0000001") ?: "", "user.authentication.verify"));
    free(b);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(json_object_get(f->json, "events"), "items")), 3);
    assert_string_equal(jstr(f->json, "events.items.0"), "user.authentication.sso");
    free(id);
    fx_stop(f);
}

static void test_hook_verification(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct testsrv *rx = testsrv_start();
    struct echo e = {0};
    char uri[128], path[256];
    testsrv_set_handler(rx, echo_handler, &e);
    snprintf(uri, sizeof uri, "%s/hooks/okta", testsrv_url(rx));

    /* echo -> VERIFIED; the GET carries the challenge and the auth header */
    char *id = create_hook(f, uri, "\"user.lifecycle.create\"");
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s/lifecycle/verify", id);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    assert_string_equal(jstr(f->json, "verificationStatus"), "VERIFIED");
    json_t *r = testsrv_request(rx, "/hooks/okta", -1);
    assert_string_equal(jstr(r, "method"), "GET");
    assert_true(strlen(testsrv_req_header(r, "x-okta-verification-challenge")) >= 20);
    assert_string_equal(testsrv_req_header(r, "authorization"), "hook-secret-42");
    json_decref(r);

    /* a wrong echo -> 400 and the hook stays UNVERIFIED; both tries were made */
    e.mode = 1;
    char *id2 = create_hook(f, uri, "\"user.lifecycle.create\"");
    int before = testsrv_calls(rx, "/hooks/okta");
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s/lifecycle/verify", id2);
    assert_int_equal(ok_call(f, "POST", path, NULL), 400);
    assert_non_null(strstr(assert_okta_error(f, 400, "E0000001"), "verification failed"));
    assert_int_equal(testsrv_calls(rx, "/hooks/okta") - before, 1); /* a 200 with a wrong body is not retried */
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s", id2);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_string_equal(jstr(f->json, "verificationStatus"), "UNVERIFIED");

    /* a 503 first, then the echo: the one retry verifies it */
    e.mode = 0;
    e.fail_first = 1;
    char *id3 = create_hook(f, uri, "\"user.lifecycle.create\"");
    before = testsrv_calls(rx, "/hooks/okta");
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s/lifecycle/verify", id3);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    assert_string_equal(jstr(f->json, "verificationStatus"), "VERIFIED");
    assert_int_equal(testsrv_calls(rx, "/hooks/okta") - before, 2);
    /* two 503s: the retry is spent -> 400 */
    e.fail_first = 2;
    char *id5 = create_hook(f, uri, "\"user.lifecycle.create\"");
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s/lifecycle/verify", id5);
    assert_int_equal(ok_call(f, "POST", path, NULL), 400);
    assert_okta_error(f, 400, "E0000001");
    /* a body that is not JSON -> 400 */
    e.mode = 2;
    char *id6 = create_hook(f, uri, "\"user.lifecycle.create\"");
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s/lifecycle/verify", id6);
    assert_int_equal(ok_call(f, "POST", path, NULL), 400);
    free(id3);
    free(id5);
    free(id6);

    /* an endpoint that is not there -> 400 after the retry */
    char *id4 = create_hook(f, "http://127.0.0.1:1/nothing", "\"user.lifecycle.create\"");
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s/lifecycle/verify", id4);
    assert_int_equal(ok_call(f, "POST", path, NULL), 400);
    assert_okta_error(f, 400, "E0000001");
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/deliveries", NULL, NULL), 200);
    json_t *last = json_array_get(json_object_get(f->json, "deliveries"),
                                  json_array_size(json_object_get(f->json, "deliveries")) - 1);
    assert_int_equal(json_array_size(json_object_get(last, "attempts")), 2);
    free(id4);
    free(id2);
    free(id);
    testsrv_stop(rx);
    fx_stop(f);
}

/* The body of the last POST the receiver got, parsed. */
static json_t *last_post(struct testsrv *rx)
{
    json_t *r = testsrv_request(rx, "/hooks/okta", -1);
    assert_non_null(r);
    assert_string_equal(jstr(r, "method"), "POST");
    json_t *b = testsrv_req_json(r);
    json_decref(r);
    assert_non_null(b);
    return b;
}

static void test_hook_delivery(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct testsrv *rx = testsrv_start();
    struct echo e = {0};
    char path[256], body[512];
    testsrv_set_handler(rx, echo_handler, &e);
    char *hook = verified_hook(f, rx, "\"user.lifecycle.create\",\"user.lifecycle.activate\","
                                      "\"group.user_membership.add\"");
    assert_int_equal(ok_call(f, "GET", "/api/v1/groups?q=VPN", NULL), 200);
    char *vpn = strdup(jstr(json_array_get(f->json, 0), "id"));

    /* one request causing three subscribed events: one delivery with all three */
    snprintf(body, sizeof body,
             "{\"profile\":{\"login\":\"hooked@acme.example\",\"email\":\"hooked@acme.example\",\"firstName\":\"H\","
             "\"lastName\":\"K\"},\"credentials\":{\"password\":{\"value\":\"Abcdefgh1!\"}},\"groupIds\":[\"%s\"]}",
             vpn);
    assert_int_equal(ok_call(f, "POST", "/api/v1/users", body), 200);
    char *uid = strdup(jstr(f->json, "id"));
    assert_int_equal(testsrv_wait_calls(rx, "/hooks/okta", 2, 5000), 0); /* verify GET + 1 POST */
    json_t *r = testsrv_request(rx, "/hooks/okta", -1);
    assert_string_equal(testsrv_req_header(r, "authorization"), "hook-secret-42");
    assert_string_equal(testsrv_req_header(r, "x-other-header"), "v1");
    assert_non_null(strstr(testsrv_req_header(r, "content-type"), "application/json"));
    json_decref(r);
    json_t *env = last_post(rx);
    assert_string_equal(jstr(env, "eventType"), "com.okta.event_hook");
    assert_string_equal(jstr(env, "eventTypeVersion"), "1.0");
    assert_string_equal(jstr(env, "cloudEventsVersion"), "0.1");
    assert_string_equal(jstr(env, "contentType"), "application/json");
    assert_int_equal(strlen(jstr(env, "eventId")), 36);
    assert_non_null(strstr(jstr(env, "source"), hook));
    assert_non_null(jstr(env, "eventTime"));
    json_t *evs = json_object_get(json_object_get(env, "data"), "events");
    assert_int_equal(json_array_size(evs), 3);
    assert_string_equal(jstr(evs, "0.eventType"), "user.lifecycle.create");
    assert_string_equal(jstr(evs, "1.eventType"), "user.lifecycle.activate");
    assert_string_equal(jstr(evs, "2.eventType"), "group.user_membership.add");
    assert_string_equal(jstr(evs, "2.target.1.displayName"), "VPN Users");
    assert_string_equal(jstr(evs, "0.debugContext.debugData.targetEventHookIds"), hook);
    json_decref(env);

    /* unsubscribed events are not delivered: a suspend, then a subscribed create */
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/suspend", uid);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    free(make_user(f, "STAGED"));
    assert_int_equal(testsrv_wait_calls(rx, "/hooks/okta", 3, 5000), 0);
    env = last_post(rx);
    evs = json_object_get(json_object_get(env, "data"), "events");
    assert_int_equal(json_array_size(evs), 1);
    assert_string_equal(jstr(evs, "0.eventType"), "user.lifecycle.create");
    json_decref(env);

    /* an INACTIVE hook gets nothing */
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s/lifecycle/deactivate", hook);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    char *quiet = make_user(f, "STAGED");
    snprintf(path, sizeof path, "/api/v1/eventHooks/%s/lifecycle/activate", hook);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    char *loud = make_user(f, "STAGED");
    assert_int_equal(testsrv_wait_calls(rx, "/hooks/okta", 4, 5000), 0);
    env = last_post(rx);
    evs = json_object_get(json_object_get(env, "data"), "events");
    assert_int_equal(json_array_size(evs), 1);
    assert_string_equal(jstr(evs, "0.target.0.id"), loud);
    json_decref(env);
    assert_int_equal(testsrv_calls(rx, "/hooks/okta"), 4);
    free(quiet);
    free(loud);
    free(uid);
    free(vpn);
    free(hook);
    testsrv_stop(rx);
    fx_stop(f);
}

/* The attempts of the newest entry of the delivery log. */
static json_t *last_attempts(struct fx *f)
{
    assert_int_equal(fx_raw(f, "GET", "/_sandbox/deliveries", NULL, NULL), 200);
    json_t *d = json_object_get(f->json, "deliveries");
    return json_incref(json_object_get(json_array_get(d, json_array_size(d) - 1), "attempts"));
}

static bool deliveries_at_least(void *ud)
{
    struct fx *f = ((void **)ud)[0];
    size_t n = *(size_t *)((void **)ud)[1];
    if (fx_raw(f, "GET", "/_sandbox/deliveries", NULL, NULL) != 200)
        return false;
    return json_array_size(json_object_get(f->json, "deliveries")) >= n;
}

static void wait_deliveries(struct fx *f, size_t n)
{
    void *ud[2] = {f, &n};
    assert_true(tu_wait_until(deliveries_at_least, ud, 12000));
}

static void test_hook_single_retry(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct testsrv *rx = testsrv_start();
    struct echo e = {0};
    testsrv_set_handler(rx, echo_handler, &e);
    char *hook = verified_hook(f, rx, "\"user.lifecycle.create\"");
    wait_deliveries(f, 1); /* the verification */

    /* 5xx then success: two POSTs of the same delivery */
    testsrv_fail_first(rx, "/hooks/okta", 1, 503, NULL);
    free(make_user(f, "STAGED"));
    assert_int_equal(testsrv_wait_calls(rx, "/hooks/okta", 3, 5000), 0);
    json_t *a = testsrv_request(rx, "/hooks/okta", 1), *b = testsrv_request(rx, "/hooks/okta", 2);
    json_t *ja = testsrv_req_json(a), *jb = testsrv_req_json(b);
    assert_string_equal(jstr(ja, "eventId"), jstr(jb, "eventId"));
    json_decref(ja);
    json_decref(jb);
    json_decref(a);
    json_decref(b);
    wait_deliveries(f, 2);
    json_t *att = last_attempts(f);
    assert_int_equal(json_array_size(att), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(att, 0), "status")), 503);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(att, 1), "status")), 200);
    json_decref(att);

    /* 4xx: no retry */
    testsrv_fail_first(rx, "/hooks/okta", 1, 400, NULL);
    free(make_user(f, "STAGED"));
    wait_deliveries(f, 3);
    att = last_attempts(f);
    assert_int_equal(json_array_size(att), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(att, 0), "status")), 400);
    json_decref(att);
    assert_int_equal(testsrv_calls(rx, "/hooks/okta"), 4);

    /* a timeout (no answer within 3 s) is retried once */
    struct testsrv_answer slow = {.status = 200, .delay_ms = 3600};
    testsrv_on(rx, "/hooks/okta", &slow, 1);
    int64_t t0 = tu_now_ms();
    free(make_user(f, "STAGED"));
    wait_deliveries(f, 4);
    att = last_attempts(f);
    assert_int_equal(json_array_size(att), 2);
    assert_string_equal(jstr(json_array_get(att, 0), "error"), "timeout");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(att, 1), "status")), 200);
    assert_true(tu_now_ms() - t0 >= 3000);
    json_decref(att);
    free(hook);
    testsrv_stop(rx);
    fx_stop(f);
}

/* ------------------------------------------------ simulating people */

static void test_people_simulations(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct testsrv *rx = testsrv_start();
    struct echo e = {0};
    char path[256];
    testsrv_set_handler(rx, echo_handler, &e);
    char *hook = verified_hook(f, rx, "\"user.account.lock\",\"user.account.update_profile\"");
    char *id = user_id(f, "james.okafor@acme.example");

    /* nine failures: still ACTIVE; the tenth locks (default policy: 10) */
    snprintf(path, sizeof path, "/_sandbox/okta/users/%s/fail_signin", id);
    assert_int_equal(fx_raw(f, "POST", path, "{\"count\": 9}", NULL), 200);
    assert_string_equal(jstr(f->json, "status"), "ACTIVE");
    assert_false(json_is_true(json_object_get(f->json, "locked")));
    assert_int_equal(fx_raw(f, "POST", path, NULL, NULL), 200);
    assert_string_equal(jstr(f->json, "status"), "LOCKED_OUT");
    assert_true(json_is_true(json_object_get(f->json, "locked")));
    char *st = user_status(f, id);
    assert_string_equal(st, "LOCKED_OUT");
    free(st);

    /* the lock event: the user is the actor, no target, as in Okta's sample */
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?filter=eventType%20eq%20%22user.account.lock%22&until=2999-01-"
                                       "01T00:00:00Z",
                             NULL),
                     200);
    assert_int_equal(json_array_size(f->json), 1);
    json_t *lock = json_array_get(f->json, 0);
    assert_string_equal(jstr(lock, "actor.id"), id);
    assert_string_equal(jstr(lock, "actor.alternateId"), "james.okafor@acme.example");
    assert_null(json_object_get(lock, "target"));
    assert_string_equal(jstr(lock, "outcome.result"), "FAILURE");
    assert_string_equal(jstr(lock, "outcome.reason"), "LOCKED_OUT");
    assert_string_equal(jstr(lock, "displayMessage"), "Max sign in attempts exceeded");
    assert_string_equal(jstr(lock, "legacyEventType"), "core.user_auth.account_locked");
    assert_null(jstr(lock, "transaction.detail.requestApiTokenId"));
    assert_string_equal(jstr(lock, "debugContext.debugData.requestUri"), "/api/v1/authn");
    /* and it was delivered to the hook */
    assert_int_equal(testsrv_wait_calls(rx, "/hooks/okta", 2, 5000), 0);
    json_t *env = last_post(rx);
    assert_string_equal(jstr(env, "data.events.0.eventType"), "user.account.lock");
    json_decref(env);
    json_t *fails = events_of(f, "user.session.start", NULL);
    assert_int_equal(json_array_size(fails), 10);
    assert_string_equal(jstr(fails, "9.outcome.reason"), "INVALID_CREDENTIALS");
    json_decref(fails);

    /* a locked user cannot sign in; unlocked, they can (a session, lastLogin) */
    snprintf(path, sizeof path, "/_sandbox/okta/users/%s/signin", id);
    assert_int_equal(fx_raw(f, "POST", path, NULL, NULL), 409);
    assert_string_equal(jstr(f->json, "reason"), "LOCKED_OUT");
    snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/unlock", id);
    assert_int_equal(ok_call(f, "POST", path, NULL), 200);
    snprintf(path, sizeof path, "/_sandbox/okta/users/%s/signin", id);
    assert_int_equal(fx_raw(f, "POST", path, NULL, NULL), 200);
    assert_string_equal(jstr(f->json, "result"), "SUCCESS");
    assert_non_null(jstr(f->json, "session.id"));
    snprintf(path, sizeof path, "/api/v1/users/%s", id);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_non_null(jstr(f->json, "lastLogin"));
    json_t *ss = events_of(f, "user.session.start", id);
    assert_int_equal(json_array_size(ss), 0); /* session.start has no User target: find it by actor */
    json_decref(ss);
    assert_int_equal(ok_call(f, "GET", "/api/v1/logs?filter=eventType%20eq%20%22user.session.start%22%20and%20"
                                       "outcome.result%20eq%20%22SUCCESS%22&until=2999-01-01T00:00:00Z",
                             NULL),
                     200);
    assert_int_equal(json_array_size(f->json), 1);
    assert_string_equal(jstr(f->json, "0.actor.id"), id);

    /* an admin edits the profile in the console: another actor, no API token */
    snprintf(path, sizeof path, "/_sandbox/okta/users/%s/profile", id);
    assert_int_equal(fx_raw(f, "POST", path, "{\"profile\":{\"department\":\"Platform\",\"manager\":\"Olivia Chen\"}}",
                            NULL),
                     200);
    assert_string_equal(jstr(f->json, "profile.department"), "Platform");
    json_t *up = events_of(f, "user.account.update_profile", id);
    assert_int_equal(json_array_size(up), 1);
    assert_string_equal(jstr(up, "0.actor.alternateId"), "dana.whitfield@acme.example");
    assert_null(jstr(up, "0.transaction.detail.requestApiTokenId"));
    assert_string_equal(jstr(up, "0.debugContext.debugData.changedAttributes"), "department,manager");
    assert_string_equal(jstr(up, "0.target.0.changeDetails.from.department"), "Engineering");
    json_decref(up);
    assert_int_equal(testsrv_wait_calls(rx, "/hooks/okta", 3, 5000), 0);
    env = last_post(rx);
    assert_string_equal(jstr(env, "data.events.0.eventType"), "user.account.update_profile");
    json_decref(env);
    assert_int_equal(fx_raw(f, "POST", path, "{\"profile\":{\"department\":7}}", NULL), 400);
    assert_okta_error(f, 400, "E0000001");

    /* the other simulations: set_password, auto_unlock, any event, settings */
    char *prov = make_user(f, "PROVISIONED");
    snprintf(path, sizeof path, "/_sandbox/okta/users/%s/set_password", prov);
    assert_int_equal(fx_raw(f, "POST", path, NULL, NULL), 200);
    assert_string_equal(jstr(f->json, "status"), "ACTIVE");
    char *locked = make_user(f, "LOCKED_OUT");
    snprintf(path, sizeof path, "/_sandbox/okta/users/%s/auto_unlock", locked);
    assert_int_equal(fx_raw(f, "POST", path, NULL, NULL), 200);
    assert_string_equal(jstr(f->json, "status"), "ACTIVE");
    json_t *un = events_of(f, "user.account.unlock", locked);
    assert_int_equal(json_array_size(un), 1);
    assert_string_equal(jstr(un, "0.actor.type"), "SystemPrincipal");
    json_decref(un);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/events",
                            "{\"eventType\":\"user.authentication.sso\",\"target\":[{\"id\":\"x\",\"type\":\"AppInstance\"}]}",
                            NULL),
                     200);
    assert_string_equal(jstr(f->json, "eventType"), "user.authentication.sso");
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/users/nobody/signin", NULL, NULL), 404);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", "{\"lockoutAttempts\": 0}", NULL), 400);
    assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", "{\"lockoutAttempts\": 3}", NULL), 200);
    assert_int_equal(json_integer_value(json_object_get(f->json, "lockoutAttempts")), 3);
    free(prov);
    free(locked);
    free(id);
    free(hook);
    testsrv_stop(rx);
    fx_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logs_polling_returns_each_event_once),
        cmocka_unit_test(test_logs_queries_and_event_shape),
        cmocka_unit_test(test_hooks_crud),
        cmocka_unit_test(test_hooks_refuse_ineligible_types),
        cmocka_unit_test(test_hook_verification),
        cmocka_unit_test(test_hook_delivery),
        cmocka_unit_test(test_hook_single_retry),
        cmocka_unit_test(test_people_simulations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

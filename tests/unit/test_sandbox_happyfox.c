/* test_sandbox_happyfox.c — the sandbox's emulated HappyFox account
 * (src/sandbox/happyfox/), driven over HTTP exactly as the connector will.
 *
 * Each test starts a real sandbox on 127.0.0.1:0 from a seed written here
 * (so the numbers asserted below are known), talks to it with the project's
 * HTTP client, and stops it. Webhooks go to a recording loopback server
 * (tests/support/testsrv). Timing-dependent checks poll with a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"
#include "sandbox/sandbox.h"
#include "support/testsrv.h"
#include "support/testutil.h"

#define API "/api/1.1/json"

static const char *const seed_text =
    "{\"okta\": {},\n"
    " \"happyfox\": {\n"
    "  \"categories\": [{\"id\": 1, \"name\": \"IT Support\", \"public\": true},\n"
    "                  {\"id\": 2, \"name\": \"HR Private\", \"public\": false},\n"
    "                  {\"id\": 3, \"name\": \"Onboarding\", \"public\": true}],\n"
    "  \"statuses\": [{\"id\": 1, \"name\": \"New\", \"behavior\": \"pending\", \"default\": true, \"order\": 1},\n"
    "                {\"id\": 2, \"name\": \"In Progress\", \"behavior\": \"pending\", \"order\": 2},\n"
    "                {\"id\": 3, \"name\": \"Resolved\", \"behavior\": \"completed\", \"order\": 3}],\n"
    "  \"priorities\": [{\"id\": 1, \"name\": \"Low\", \"order\": 1},\n"
    "                  {\"id\": 2, \"name\": \"Medium\", \"order\": 2, \"default\": true},\n"
    "                  {\"id\": 3, \"name\": \"High\", \"order\": 3}],\n"
    "  \"staff\": [{\"id\": 10, \"name\": \"George\", \"email\": \"george@acme.test\", \"categories\": [1, 3]},\n"
    "             {\"id\": 11, \"name\": \"Priya\", \"email\": \"priya@acme.test\"},\n"
    "             {\"id\": 12, \"name\": \"Gone\", \"email\": \"gone@acme.test\", \"active\": false}],\n"
    "  \"ticket_custom_fields\": [\n"
    "    {\"id\": 61, \"name\": \"Employee ID\", \"type\": \"text\", \"categories\": [{\"category\": 3, \"order\": "
    "1}]},\n"
    "    {\"id\": 62, \"name\": \"Laptop\", \"type\": \"choice\", \"choices\": [{\"id\": 1, \"text\": \"Mac\"},\n"
    "                                                                 {\"id\": 2, \"text\": \"PC\"}]},\n"
    "    {\"id\": 63, \"name\": \"Start date\", \"type\": \"date\", \"required\": true,\n"
    "     \"categories\": [{\"category\": 3, \"order\": 2}]}],\n"
    "  \"contacts\": [{\"id\": 100, \"name\": \"Ada\", \"email\": \"ada@acme.test\"}],\n"
    "  \"tickets\": [{\"subject\": \"Seeded printer jam\", \"category\": \"IT Support\", \"user\": 100,\n"
    "               \"text\": \"The printer is jammed\", \"tags\": [\"seed\"],\n"
    "               \"updates\": [{\"staff\": 10, \"text\": \"On it\", \"status\": 2}]}]\n"
    " }}\n";

struct fx {
    char *dir;
    struct sandbox *sb;
    struct http_client *c;
    char base[64];
    char auth[160]; /* "Authorization: Basic ..." */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct sandbox_opts o = {0};
    struct idf_err err = {0};
    char *seed;
    char b64[128];
    const char *cred = "sandbox-hf-key:sandbox-hf-code";

    assert_non_null(f);
    f->dir = tu_mktemp_dir();
    assert_non_null(f->dir);
    seed = tu_path(f->dir, "seed.json");
    assert_int_equal(tu_write_file(seed, seed_text), 0);
    o.addr = "127.0.0.1";
    o.seed_path = seed;
    if (sandbox_start(&o, &f->sb, &err) != 0)
        fail_msg("sandbox_start: %s", err.msg);
    free(seed);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", sandbox_port(f->sb));
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)cred, strlen(cred), sodium_base64_VARIANT_ORIGINAL);
    snprintf(f->auth, sizeof f->auth, "Authorization: Basic %s", b64);
    assert_int_equal(http_client_new(&f->c), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    http_client_free(f->c);
    sandbox_stop(f->sb);
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* One request; returns the parsed body (NULL when not JSON), status in *st.
 * auth: the Authorization header line to send (NULL = none). */
static json_t *req_full(struct fx *f, const char *method, const char *path, const char *body, const char *ctype,
                        const char *auth, long *st, json_t **headers)
{
    char url[1024], cth[128];
    const char *hdrs[4] = {NULL, NULL, NULL, NULL};
    struct http_request rq = {0};
    struct http_response rs = {0};
    struct idf_err err = {0};
    json_t *out;
    int n = 0;

    snprintf(url, sizeof url, "%s%s", f->base, path);
    if (auth)
        hdrs[n++] = auth;
    if (body && ctype) {
        snprintf(cth, sizeof cth, "Content-Type: %s", ctype);
        hdrs[n++] = cth;
    }
    rq.method = method;
    rq.url = url;
    rq.headers = hdrs;
    rq.body = body;
    rq.body_len = body ? strlen(body) : 0;
    if (http_client_do(f->c, &rq, &rs, &err) != 0)
        fail_msg("%s %s: %s", method, path, err.msg);
    *st = rs.status;
    out = rs.body.data ? json_loads(rs.body.data, JSON_DECODE_ANY, NULL) : NULL;
    if (headers)
        *headers = json_incref(rs.headers);
    http_response_free(&rs);
    return out;
}

static json_t *get(struct fx *f, const char *path, long *st)
{
    return req_full(f, "GET", path, NULL, NULL, f->auth, st, NULL);
}

/* POSTs a JSON body (stolen); NULL body sends nothing. */
static json_t *post(struct fx *f, const char *path, json_t *body, long *st)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_t *out = req_full(f, "POST", path, text, "application/json", f->auth, st, NULL);

    free(text);
    json_decref(body);
    return out;
}

static json_t *admin(struct fx *f, const char *path, json_t *body)
{
    long st = 0;
    json_t *r = body ? post(f, path, body, &st) : get(f, path, &st);

    if (st != 200)
        fail_msg("admin %s: %ld", path, st);
    return r;
}

/* Walks "a.b.0.c" (numeric parts index arrays). Borrowed. */
static json_t *json_path(const json_t *o, const char *path)
{
    char buf[256], *save = NULL, *p;
    const json_t *cur = o;

    snprintf(buf, sizeof buf, "%s", path);
    for (p = strtok_r(buf, ".", &save); p && cur; p = strtok_r(NULL, ".", &save)) {
        if (json_is_array(cur))
            cur = json_array_get(cur, (size_t)atoi(p));
        else
            cur = json_object_get(cur, p);
    }
    return (json_t *)cur;
}

static int64_t jint(const json_t *o, const char *path)
{
    json_t *x = json_path(o, path);
    return json_integer_value(x);
}

static const char *jstr(const json_t *o, const char *path)
{
    return json_string_value(json_path(o, path));
}

static json_t *create_ticket(struct fx *f, const char *subject, int category, const char *email)
{
    long st = 0;
    json_t *t = post(f, API "/tickets/",
                     json_pack("{s:i,s:s,s:s,s:s,s:s}", "category", category, "subject", subject, "text", "Please help",
                               "name", "Bob Builder", "email", email),
                     &st);
    if (st != 200)
        fail_msg("create %s: %ld", subject, st);
    return t;
}

/* ------------------------------------------------------------------ tests */

static void test_auth_refused(void **state)
{
    struct fx *f = *state;
    long st = 0;
    json_t *r, *hdrs = NULL;
    char bad[160], b64[128];
    const char *cred = "sandbox-hf-key:wrong-code";

    r = req_full(f, "GET", API "/statuses/", NULL, NULL, NULL, &st, &hdrs);
    assert_int_equal(st, 401);
    assert_non_null(jstr(r, "error"));
    assert_non_null(strstr(json_string_value(json_object_get(hdrs, "www-authenticate")), "Basic"));
    json_decref(r);
    json_decref(hdrs);

    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)cred, strlen(cred), sodium_base64_VARIANT_ORIGINAL);
    snprintf(bad, sizeof bad, "Authorization: Basic %s", b64);
    r = req_full(f, "GET", API "/statuses/", NULL, NULL, bad, &st, NULL);
    assert_int_equal(st, 401);
    {
        char *dump = json_dumps(r, JSON_ENCODE_ANY);
        assert_non_null(dump);
        assert_null(strstr(dump, "wrong-code")); /* the credential is never echoed */
        free(dump);
    }
    json_decref(r);
    r = req_full(f, "GET", API "/statuses/", NULL, NULL, "Authorization: Bearer sandbox-hf-key", &st, NULL);
    assert_int_equal(st, 401);
    json_decref(r);

    r = get(f, API "/statuses/", &st);
    assert_int_equal(st, 200);
    json_decref(r);
}

static void test_reference_lists(void **state)
{
    struct fx *f = *state;
    long st = 0;
    json_t *r;

    r = get(f, API "/statuses/", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(r), 3);
    assert_string_equal(jstr(r, "2.behavior"), "completed");
    assert_string_equal(jstr(r, "0.behavior"), "pending");
    json_decref(r);

    r = get(f, API "/categories/", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(r), 3);
    assert_true(json_is_false(json_path(r, "1.public")));
    assert_true(json_is_true(json_path(r, "0.public")));
    json_decref(r);

    r = get(f, API "/staff/", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(r), 3);
    assert_string_equal(jstr(r, "0.email"), "george@acme.test");
    assert_true(json_is_false(json_path(r, "2.active")));
    json_decref(r);

    r = get(f, API "/priorities/", &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(r, "2.name"), "High");
    json_decref(r);

    r = get(f, API "/ticket_custom_fields/", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(r), 3);
    assert_string_equal(jstr(r, "1.choices.1.text"), "PC");
    json_decref(r);

    r = get(f, API "/users/?q=ada", &st);
    assert_int_equal(st, 200);
    assert_int_equal(jint(r, "page_info.count"), 1);
    assert_string_equal(jstr(r, "data.0.email"), "ada@acme.test");
    json_decref(r);

    r = get(f, API "/user/100/", &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(r, "name"), "Ada");
    json_decref(r);
    r = get(f, API "/user/ADA%40acme.test/", &st);
    assert_int_equal(st, 200);
    assert_int_equal(jint(r, "id"), 100);
    json_decref(r);
    r = get(f, API "/user/999/", &st);
    assert_int_equal(st, 404);
    json_decref(r);
    r = get(f, API "/no_such_list/", &st);
    assert_int_equal(st, 404);
    json_decref(r);
}

static void test_create_validation(void **state)
{
    struct fx *f = *state;
    long st = 0;
    json_t *r, *list;

    r = post(f, API "/tickets/", json_object(), &st);
    assert_int_equal(st, 400);
    assert_non_null(json_path(r, "errors.category"));
    assert_non_null(json_path(r, "errors.subject"));
    assert_non_null(json_path(r, "errors.text"));
    assert_non_null(json_path(r, "errors.name"));
    assert_non_null(json_path(r, "errors.email"));
    assert_non_null(jstr(r, "error"));
    json_decref(r);

    r = post(f, API "/tickets/",
             json_pack("{s:i,s:s,s:s,s:s,s:s}", "category", 9, "subject", "x", "text", "y", "name", "B", "email",
                       "b@acme.test"),
             &st);
    assert_int_equal(st, 400);
    assert_non_null(strstr(jstr(r, "errors.category.0"), "No category"));
    json_decref(r);

    r = post(f, API "/tickets/",
             json_pack("{s:i,s:s,s:s,s:s,s:s}", "category", 2, "subject", "x", "text", "y", "name", "B", "email",
                       "b@acme.test"),
             &st);
    assert_int_equal(st, 400);
    assert_non_null(strstr(jstr(r, "errors.category.0"), "not public"));
    json_decref(r);

    r = post(f, API "/tickets/",
             json_pack("{s:i,s:s,s:s,s:s,s:s}", "category", 1, "subject", "x", "html", "<b>y</b>", "name", "B", "email",
                       "not-an-email"),
             &st);
    assert_int_equal(st, 400);
    assert_non_null(json_path(r, "errors.email"));
    json_decref(r);

    r = post(f, API "/tickets/",
             json_pack("{s:i,s:s,s:s,s:i}", "category", 1, "subject", "x", "text", "y", "client", 555), &st);
    assert_int_equal(st, 400);
    assert_non_null(json_path(r, "errors.client"));
    json_decref(r);

    /* custom fields: unknown id, wrong choice, field of another category, required field missing */
    r = post(f, API "/tickets/",
             json_pack("{s:i,s:s,s:s,s:i,s:i,s:s,s:s}", "category", 1, "subject", "x", "text", "y", "client", 100,
                       "t-cf-99", 1, "t-cf-62", "7", "t-cf-61", "E-1"),
             &st);
    assert_int_equal(st, 400);
    assert_non_null(json_path(r, "errors.t-cf-99"));
    assert_non_null(json_path(r, "errors.t-cf-62"));
    assert_non_null(json_path(r, "errors.t-cf-61"));
    json_decref(r);
    r = post(
        f, API "/tickets/",
        json_pack("{s:i,s:s,s:s,s:i,s:s}", "category", 3, "subject", "x", "text", "y", "client", 100, "t-cf-61", "E-1"),
        &st);
    assert_int_equal(st, 400);
    assert_non_null(json_path(r, "errors.t-cf-63"));
    json_decref(r);

    /* assignee without access to the category, inactive assignee, unknown priority */
    r = post(f, API "/tickets/",
             json_pack("{s:i,s:s,s:s,s:i,s:i,s:i}", "category", 1, "subject", "x", "text", "y", "client", 100,
                       "assignee", 12, "priority", 8),
             &st);
    assert_int_equal(st, 400);
    assert_non_null(json_path(r, "errors.assignee"));
    assert_non_null(json_path(r, "errors.priority"));
    json_decref(r);

    /* malformed bodies */
    r = req_full(f, "POST", API "/tickets/", "{\"subject\": ", "application/json", f->auth, &st, NULL);
    assert_int_equal(st, 400);
    assert_non_null(strstr(jstr(r, "error"), "Invalid JSON"));
    json_decref(r);
    r = req_full(f, "POST", API "/tickets/", "--x\r\n", "multipart/form-data; boundary=x", f->auth, &st, NULL);
    assert_int_equal(st, 415);
    json_decref(r);

    /* nothing was created by any refused request */
    list = get(f, API "/tickets/?status=_all", &st);
    assert_int_equal(jint(list, "page_info.count"), 1);
    json_decref(list);
    list = get(f, API "/users/", &st);
    assert_int_equal(jint(list, "page_info.count"), 1);
    json_decref(list);
}

static void test_create_and_get(void **state)
{
    struct fx *f = *state;
    long st = 0;
    json_t *t, *g, *u;
    int64_t n;

    t = post(f, API "/tickets/",
             json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s}", "category", "3", "subject", "New starter: Lin",
                       "text", "Lin starts Monday", "name", "Lin Chen", "email", "lin@acme.test", "assignee", 10,
                       "tags", "onboarding, laptop", "t-cf-61", "E-42", "t-cf-63", "2026-12-01", "t-cf-62", "1"),
             &st);
    assert_int_equal(st, 200);
    n = jint(t, "id");
    assert_int_equal(n, 2); /* the seed holds ticket 1 */
    assert_string_equal(jstr(t, "display_id"), "#HF00000002");
    assert_string_equal(jstr(t, "status.name"), "New");
    assert_string_equal(jstr(t, "status.behavior"), "pending");
    assert_string_equal(jstr(t, "priority.name"), "Medium");
    assert_string_equal(jstr(t, "category.name"), "Onboarding");
    assert_string_equal(jstr(t, "assigned_to.email"), "george@acme.test");
    assert_string_equal(jstr(t, "user.email"), "lin@acme.test");
    assert_string_equal(jstr(t, "tags.1"), "laptop");
    assert_int_equal(json_array_size(json_object_get(t, "updates")), 1);
    assert_string_equal(jstr(t, "updates.0.by.type"), "user");
    assert_string_equal(jstr(t, "updates.0.message.text"), "Lin starts Monday");
    assert_true(json_is_null(json_path(t, "updates.0.message.message_type")));
    assert_true(jint(t, "updates.0.update_id") > 0);
    assert_true(json_is_true(json_object_get(t, "unresponded")));
    {
        size_t i;
        json_t *cf;
        int seen = 0;
        json_array_foreach (json_object_get(t, "custom_fields"), i, cf) {
            int64_t id = json_integer_value(json_object_get(cf, "id"));
            if (id == 61)
                seen += strcmp(json_string_value(json_object_get(cf, "value")), "E-42") == 0;
            if (id == 62)
                seen += strcmp(json_string_value(json_object_get(cf, "value")), "Mac") == 0 &&
                        json_integer_value(json_object_get(cf, "value_id")) == 1;
            if (id == 63)
                seen += strcmp(json_string_value(json_object_get(cf, "value")), "2026-12-01") == 0;
        }
        assert_int_equal(seen, 3);
    }

    /* the contact was created and is found by email */
    u = get(f, API "/user/lin@acme.test/", &st);
    assert_int_equal(st, 200);
    assert_int_equal(jint(u, "id"), jint(t, "user.id"));
    json_decref(u);

    g = get(f, API "/ticket/2/", &st);
    assert_int_equal(st, 200);
    assert_true(json_equal(g, t));
    json_decref(g);
    g = get(f, API "/ticket/77/", &st);
    assert_int_equal(st, 404);
    json_decref(g);
    json_decref(t);

    /* a form-urlencoded create by an existing contact */
    t = req_full(f, "POST", API "/tickets/",
                 "category=1&subject=VPN+down&html=%3Cp%3EVPN+is+down%3C%2Fp%3E&client=100&priority=3",
                 "application/x-www-form-urlencoded", f->auth, &st, NULL);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(t, "subject"), "VPN down");
    assert_string_equal(jstr(t, "updates.0.message.text"), "VPN is down");
    assert_int_equal(jint(t, "user.id"), 100);
    assert_string_equal(jstr(t, "priority.name"), "High");
    json_decref(t);
    u = get(f, API "/users/", &st);
    assert_int_equal(jint(u, "page_info.count"), 2); /* Ada and Lin, no duplicate Ada */
    json_decref(u);
}

static void test_list_paging_filters(void **state)
{
    struct fx *f = *state;
    long st = 0;
    json_t *r;
    int i;
    char subj[32];

    for (i = 0; i < 12; i++) {
        snprintf(subj, sizeof subj, "Bulk %02d", i);
        json_decref(create_ticket(f, subj, 1, "bob@acme.test"));
    }
    /* 13 tickets: the seed one (In Progress) and 12 New */
    r = get(f, API "/tickets/", &st);
    assert_int_equal(st, 200);
    assert_int_equal(jint(r, "page_info.count"), 13);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 10); /* default size */
    json_decref(r);

    r = get(f, API "/tickets/?size=5&page=3&sort=ticketa", &st);
    assert_int_equal(st, 200);
    assert_int_equal(jint(r, "page_info.page_count"), 3);
    assert_int_equal(jint(r, "page_info.start"), 11);
    assert_int_equal(jint(r, "page_info.end"), 13);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 3);
    assert_int_equal(jint(r, "data.0.id"), 11);
    json_decref(r);

    r = get(f, API "/tickets/?size=500", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 13); /* clamped to 50, 13 exist */
    json_decref(r);
    r = get(f, API "/tickets/?size=0", &st);
    assert_int_equal(st, 400);
    json_decref(r);
    r = get(f, API "/tickets/?page=x", &st);
    assert_int_equal(st, 400);
    json_decref(r);

    /* resolve ticket 5: _pending hides it, _all and status=3 show it */
    json_decref(post(f, API "/ticket/5/staff_update/", json_pack("{s:i,s:i}", "staff", 11, "status", 3), &st));
    assert_int_equal(st, 200);
    r = get(f, API "/tickets/?status=_pending&size=50", &st);
    assert_int_equal(jint(r, "page_info.count"), 12);
    json_decref(r);
    r = get(f, API "/tickets/?status=_all&size=50", &st);
    assert_int_equal(jint(r, "page_info.count"), 13);
    json_decref(r);
    r = get(f, API "/tickets/?status=3", &st);
    assert_int_equal(jint(r, "page_info.count"), 1);
    assert_int_equal(jint(r, "data.0.id"), 5);
    json_decref(r);
    r = get(f, API "/tickets/?status=42", &st);
    assert_int_equal(st, 400);
    json_decref(r);

    /* sort=last_modifiedd puts the ticket just changed first */
    r = get(f, API "/tickets/?status=_all&sort=last_modifiedd&size=1&minify_response=true", &st);
    assert_int_equal(jint(r, "data.0.id"), 5);
    assert_null(json_path(r, "data.0.updates"));
    json_decref(r);

    /* category and q= filters */
    json_decref(post(f, API "/tickets/",
                     json_pack("{s:i,s:s,s:s,s:i,s:s,s:s}", "category", 3, "subject", "Onboard Kim", "text",
                               "Kim joins", "client", 100, "t-cf-63", "2027-01-04", "tags", "vip"),
                     &st));
    assert_int_equal(st, 200);
    r = get(f, API "/tickets/?status=_all&category=3", &st);
    assert_int_equal(jint(r, "page_info.count"), 1);
    json_decref(r);
    r = get(f, API "/tickets/?status=_all&q=tag:%22seed%22", &st);
    assert_int_equal(jint(r, "page_info.count"), 1);
    assert_int_equal(jint(r, "data.0.id"), 1);
    json_decref(r);
    r = get(f, API "/tickets/?status=_all&q=contact:ada@acme.test+tag:vip", &st);
    assert_int_equal(jint(r, "page_info.count"), 1);
    json_decref(r);
    r = get(f, API "/tickets/?status=_all&q=priority:%22Medium%22+status:New", &st);
    assert_int_equal(jint(r, "page_info.count"), 12); /* 11 Bulk + Kim */
    json_decref(r);
    r = get(f, API "/tickets/?status=_all&q=assignee:--none&size=50", &st);
    assert_int_equal(jint(r, "page_info.count"), 14);
    json_decref(r);
    r = get(f, API "/tickets/?status=_all&q=jammed", &st);
    assert_int_equal(jint(r, "page_info.count"), 1);
    json_decref(r);
    r = get(f, API "/tickets/?status=_all&q=id:HF00000003", &st);
    assert_int_equal(jint(r, "data.0.id"), 3);
    json_decref(r);
    r = get(f, API "/tickets/?q=breached:true", &st);
    assert_int_equal(st, 400);
    json_decref(r);
    r = get(f, API "/tickets/?sort=bogus", &st);
    assert_int_equal(st, 400);
    json_decref(r);
}

static void test_staff_update(void **state)
{
    struct fx *f = *state;
    long st = 0;
    json_t *a, *b, *r;
    int64_t u1, u2, u3;

    a = create_ticket(f, "Needs a reply", 1, "c@acme.test");
    b = create_ticket(f, "Other ticket", 1, "d@acme.test");
    u1 = jint(b, "updates.0.update_id");
    assert_true(u1 > jint(a, "updates.0.update_id"));

    r = post(f, API "/ticket/2/staff_update/", json_pack("{s:s}", "text", "no staff"), &st);
    assert_int_equal(st, 400);
    assert_non_null(json_path(r, "errors.staff"));
    json_decref(r);
    r = post(f, API "/ticket/2/staff_update/", json_pack("{s:i,s:s}", "staff", 99, "text", "x"), &st);
    assert_int_equal(st, 400);
    json_decref(r);
    r = post(f, API "/ticket/2/staff_update/", json_pack("{s:i,s:s}", "staff", 12, "text", "x"), &st);
    assert_int_equal(st, 400); /* inactive agent */
    json_decref(r);
    r = post(f, API "/ticket/2/staff_update/", json_pack("{s:i}", "staff", 10), &st);
    assert_int_equal(st, 400); /* nothing to do */
    json_decref(r);
    r = post(f, API "/ticket/2/staff_update/", json_pack("{s:i,s:i}", "staff", 10, "status", 77), &st);
    assert_int_equal(st, 400);
    json_decref(r);

    r = post(f, API "/ticket/2/staff_update/",
             json_pack("{s:i,s:s,s:i,s:i,s:i,s:i}", "staff", 10, "text", "Looking into it", "status", 2, "assignee", 11,
                       "priority", 3, "time_spent", 15),
             &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(r, "updates")), 2);
    u2 = jint(r, "updates.1.update_id");
    assert_true(u2 > u1); /* account-wide counter */
    assert_string_equal(jstr(r, "updates.1.by.name"), "George");
    assert_string_equal(jstr(r, "updates.1.by.type"), "staff");
    assert_string_equal(jstr(r, "updates.1.message.text"), "Looking into it");
    assert_true(json_is_null(json_path(r, "updates.1.message.message_type")));
    assert_string_equal(jstr(r, "updates.1.status_change.old.name"), "New");
    assert_string_equal(jstr(r, "updates.1.status_change.new.name"), "In Progress");
    assert_string_equal(jstr(r, "updates.1.assignee_change.new.email"), "priya@acme.test");
    assert_string_equal(jstr(r, "updates.1.priority_change.new.name"), "High");
    assert_string_equal(jstr(r, "status.name"), "In Progress");
    assert_string_equal(jstr(r, "assigned_to.name"), "Priya");
    assert_int_equal(jint(r, "time_spent"), 15);
    assert_true(json_is_false(json_object_get(r, "unresponded")));
    json_decref(r);

    /* a property-only update: unassign and resolve */
    r = post(f, API "/ticket/2/staff_update/", json_pack("{s:i,s:n,s:i}", "staff", 11, "assignee", "status", 3), &st);
    assert_int_equal(st, 200);
    u3 = jint(r, "updates.2.update_id");
    assert_true(u3 > u2);
    assert_true(json_is_null(json_object_get(r, "assigned_to")));
    assert_true(json_is_null(json_path(r, "updates.2.message")));
    assert_string_equal(jstr(r, "updates.2.status_change.new.behavior"), "completed");
    json_decref(r);

    /* the GET shows the same history */
    r = get(f, API "/ticket/2/", &st);
    assert_int_equal(jint(r, "updates.2.update_id"), u3);
    json_decref(r);
    json_decref(a);
    json_decref(b);
}

static void test_private_note(void **state)
{
    struct fx *f = *state;
    long st = 0;
    json_t *r;

    json_decref(create_ticket(f, "Note me", 1, "e@acme.test"));
    r = post(f, API "/ticket/2/staff_pvtnote/", json_pack("{s:s}", "html", "<p>secret</p>"), &st);
    assert_int_equal(st, 400);
    json_decref(r);
    r = post(f, API "/ticket/2/staff_pvtnote/",
             json_pack("{s:i,s:s,s:s,s:i}", "staff", 10, "html", "<p>Checked <b>AD</b></p>", "alert", "s", "status", 2),
             &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(r, "updates.1.message.message_type"), "p");
    assert_string_equal(jstr(r, "updates.1.message.text"), "Checked AD");
    assert_string_equal(jstr(r, "updates.1.alert"), "s");
    assert_string_equal(jstr(r, "status.name"), "In Progress");
    assert_true(json_is_true(json_object_get(r, "unresponded"))); /* a note is not a reply */
    json_decref(r);
    r = post(f, API "/ticket/2/staff_pvtnote/", json_pack("{s:i,s:s,s:s}", "staff", 10, "text", "x", "alert", "zz"),
             &st);
    assert_int_equal(st, 400);
    json_decref(r);

    /* a contact reply through the form encoding */
    r = req_full(f, "POST", API "/ticket/2/user_reply/", "user=100&text=Thanks", "application/x-www-form-urlencoded",
                 f->auth, &st, NULL);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(r, "updates.2.by.type"), "user");
    json_decref(r);
}

static void test_tags_and_custom_fields(void **state)
{
    struct fx *f = *state;
    long st = 0;
    json_t *r;

    r = post(f, API "/ticket/1/update_tags/", json_object(), &st);
    assert_int_equal(st, 400);
    json_decref(r);
    r = post(f, API "/ticket/1/update_tags/",
             json_pack("{s:s,s:s}", "add", "printer, urgent,printer", "remove", "seed"), &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(r, "tags")), 2);
    assert_string_equal(jstr(r, "tags.0"), "printer");
    assert_string_equal(jstr(r, "tags.1"), "urgent");
    json_decref(r);

    r = post(f, API "/ticket/1/update_custom_fields/", json_pack("{s:i}", "t-cf-62", 2), &st);
    assert_int_equal(st, 400); /* staff required */
    assert_non_null(json_path(r, "errors.staff"));
    json_decref(r);
    r = post(f, API "/ticket/1/update_custom_fields/", json_pack("{s:i,s:i}", "staff", 10, "t-cf-62", 5), &st);
    assert_int_equal(st, 400);
    json_decref(r);
    r = post(f, API "/ticket/1/update_custom_fields/", json_pack("{s:i}", "staff", 10), &st);
    assert_int_equal(st, 400);
    json_decref(r);
    r = post(f, API "/ticket/1/update_custom_fields/", json_pack("{s:i,s:s}", "staff", 10, "t-cf-62", "2"), &st);
    assert_int_equal(st, 200);
    {
        size_t i, n = json_array_size(json_object_get(r, "updates"));
        json_t *cf;
        json_array_foreach (json_object_get(r, "custom_fields"), i, cf) {
            if (json_integer_value(json_object_get(cf, "id")) == 62)
                assert_string_equal(json_string_value(json_object_get(cf, "value")), "PC");
        }
        cf = json_array_get(json_object_get(r, "updates"), n - 1);
        assert_string_equal(jstr(cf, "custom_field_changes.0.new"), "PC");
    }
    json_decref(r);
}

/* ------------------------------------------------------------ budgets */

struct lock_probe {
    struct fx *f;
    bool want_locked;
};

static bool lock_state_is(void *ud)
{
    struct lock_probe *p = ud;
    json_t *l = admin(p->f, "/_sandbox/happyfox/limits", NULL);
    bool locked = json_is_true(json_object_get(l, "locked_out"));

    json_decref(l);
    return locked == p->want_locked;
}

struct age_probe {
    struct fx *f;
    int64_t below_ms;
};

static bool lock_aged(void *ud)
{
    struct age_probe *p = ud;
    json_t *l = admin(p->f, "/_sandbox/happyfox/limits", NULL);
    bool aged = jint(l, "locked_for_ms") < p->below_ms;

    json_decref(l);
    return aged;
}

static void test_budgets_and_lockout(void **state)
{
    struct fx *f = *state;
    long st = 0;
    json_t *r, *hdrs = NULL, *l;
    struct lock_probe probe = {f, false};
    int i;

    l = admin(f, "/_sandbox/happyfox/limits", NULL);
    assert_int_equal(jint(l, "get_per_minute"), 500);
    assert_int_equal(jint(l, "post_per_minute"), 300);
    assert_true(json_real_value(json_object_get(l, "lockout_seconds")) == 600.0);
    json_decref(l);
    json_decref(admin(f, "/_sandbox/happyfox/limits",
                      json_pack("{s:i,s:i,s:f,s:b}", "get_per_minute", 3, "post_per_minute", 2, "lockout_seconds", 0.6,
                                "lockout_extends", 0)));
    for (i = 0; i < 3; i++) {
        json_decref(get(f, API "/statuses/", &st));
        assert_int_equal(st, 200);
    }
    r = req_full(f, "GET", API "/statuses/", NULL, NULL, f->auth, &st, &hdrs);
    assert_int_equal(st, 429);
    assert_non_null(jstr(r, "error"));
    assert_non_null(json_object_get(hdrs, "retry-after"));
    json_decref(r);
    json_decref(hdrs);
    /* locked out: POSTs are refused too, though the POST budget is unused */
    r = post(f, API "/ticket/1/update_tags/", json_pack("{s:s}", "add", "x"), &st);
    assert_int_equal(st, 429);
    json_decref(r);
    l = admin(f, "/_sandbox/happyfox/limits", NULL);
    assert_true(json_is_true(json_object_get(l, "locked_out")));
    assert_true(jint(l, "refused_429") >= 2);
    json_decref(l);

    /* recovery after the window, with a fresh budget */
    assert_true(tu_wait_until(lock_state_is, &probe, 5000));
    for (i = 0; i < 2; i++) {
        json_decref(post(f, API "/ticket/1/update_tags/", json_pack("{s:s}", "add", "y"), &st));
        assert_int_equal(st, 200);
    }
    json_decref(post(f, API "/ticket/1/update_tags/", json_pack("{s:s}", "add", "z"), &st));
    assert_int_equal(st, 429); /* the third POST of the window */

    /* with lockout_extends, a call during the lock-out restarts it */
    assert_true(tu_wait_until(lock_state_is, &probe, 5000));
    json_decref(admin(f, "/_sandbox/happyfox/limits",
                      json_pack("{s:f,s:b,s:b}", "lockout_seconds", 2.0, "lockout_extends", 1, "reset", 1)));
    for (i = 0; i < 3; i++)
        json_decref(get(f, API "/statuses/", &st));
    json_decref(get(f, API "/statuses/", &st));
    assert_int_equal(st, 429);
    {
        int64_t first, again;
        l = admin(f, "/_sandbox/happyfox/limits", NULL);
        first = jint(l, "locked_for_ms");
        json_decref(l);
        struct age_probe ap = {f, first - 400};
        assert_true(tu_wait_until(lock_aged, &ap, 5000)); /* the lock-out ages before the retry */
        json_decref(get(f, API "/statuses/", &st));
        assert_int_equal(st, 429);
        l = admin(f, "/_sandbox/happyfox/limits", NULL);
        again = jint(l, "locked_for_ms");
        json_decref(l);
        assert_true(again > first - 100);
    }
    json_decref(admin(f, "/_sandbox/happyfox/limits", json_pack("{s:b}", "reset", 1)));
    json_decref(get(f, API "/statuses/", &st));
    assert_int_equal(st, 200);
}

/* ------------------------------------------------------ concurrency */

struct slow_call {
    const char *base;
    const char *auth;
    long status;
    char *body;
};

static void *slow_update(void *ud)
{
    struct slow_call *c = ud;
    char url[256];
    const char *hdrs[] = {c->auth, "Content-Type: application/json", NULL};

    snprintf(url, sizeof url, "%s%s", c->base, API "/ticket/1/staff_update/");
    if (tu_http("POST", url, "{\"staff\": 10, \"text\": \"slow reply\"}", hdrs, &c->status, &c->body) != 0)
        c->status = -1;
    return NULL;
}

static bool ticket1_busy(void *ud)
{
    json_t *l = admin(ud, "/_sandbox/happyfox/limits", NULL);
    bool busy = json_integer_value(json_array_get(json_object_get(l, "busy_tickets"), 0)) == 1;

    json_decref(l);
    return busy;
}

static void test_concurrent_call_refused(void **state)
{
    struct fx *f = *state;
    struct slow_call c = {f->base, f->auth, 0, NULL};
    pthread_t th;
    long st = 0;
    json_t *r;
    int64_t t0;

    json_decref(admin(f, "/_sandbox/happyfox/limits", json_pack("{s:i}", "ticket_busy_ms", 1500)));
    assert_int_equal(pthread_create(&th, NULL, slow_update, &c), 0);
    assert_true(tu_wait_until(ticket1_busy, f, 5000));
    t0 = tu_now_ms();
    r = get(f, API "/ticket/1/", &st);
    assert_int_equal(st, 409);
    assert_non_null(strstr(jstr(r, "error"), "concurrent"));
    json_decref(r);
    r = post(f, API "/ticket/1/staff_pvtnote/", json_pack("{s:i,s:s}", "staff", 10, "text", "racing"), &st);
    assert_int_equal(st, 409);
    json_decref(r);
    /* another ticket is not affected (and answers only after its own in-flight time) */
    json_decref(create_ticket(f, "Unrelated", 1, "u@acme.test"));
    r = get(f, API "/ticket/2/", &st);
    assert_int_equal(st, 200);
    json_decref(r);
    pthread_join(th, NULL);
    assert_int_equal(c.status, 200);
    assert_non_null(strstr(c.body, "slow reply"));
    free(c.body);
    assert_true(tu_now_ms() - t0 < 5000);

    /* the refused calls left no trace; sequential calls are fine */
    json_decref(admin(f, "/_sandbox/happyfox/limits", json_pack("{s:i}", "ticket_busy_ms", 0)));
    r = get(f, API "/ticket/1/", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(r, "updates")), 3); /* opening, seeded, slow reply */
    json_decref(r);
    r = admin(f, "/_sandbox/happyfox/limits", NULL);
    assert_int_equal(jint(r, "refused_409"), 2);
    json_decref(r);
}

static void test_error_2xx_quirk(void **state)
{
    struct fx *f = *state;
    long st = 0;
    json_t *r;

    json_decref(admin(f, "/_sandbox/happyfox/error_2xx",
                      json_pack("{s:i,s:s,s:s,s:s}", "count", 1, "path_prefix", API "/ticket/", "method", "POST",
                                "message", "Internal error, try again")));
    r = post(f, API "/ticket/1/staff_update/", json_pack("{s:i,s:s}", "staff", 10, "text", "lost"), &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_object_size(r), 1);
    assert_string_equal(jstr(r, "error"), "Internal error, try again");
    json_decref(r);
    r = get(f, API "/ticket/1/", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(r, "updates")), 2); /* not applied */
    json_decref(r);

    /* applied=true: the write lands although the answer says error */
    json_decref(admin(
        f, "/_sandbox/happyfox/error_2xx",
        json_pack("{s:i,s:s,s:b,s:i}", "count", 1, "path_prefix", API "/ticket/1/", "applied", 1, "status", 201)));
    r = post(f, API "/ticket/1/staff_update/", json_pack("{s:i,s:s}", "staff", 10, "text", "landed"), &st);
    assert_int_equal(st, 201);
    assert_non_null(jstr(r, "error"));
    json_decref(r);
    r = get(f, API "/ticket/1/", &st);
    assert_int_equal(json_array_size(json_object_get(r, "updates")), 3);
    assert_string_equal(jstr(r, "updates.2.message.text"), "landed");
    json_decref(r);
    r = admin(f, "/_sandbox/happyfox/error_2xx", NULL);
    assert_int_equal(jint(r, "count"), 0);
    json_decref(r);
}

/* The body of the delivery (among the first n) whose event is event; fails when none. */
static json_t *hook_body(struct testsrv *rx, const char *event, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        json_t *req = testsrv_request(rx, "/hooks/happyfox/test", i);
        json_t *body = testsrv_req_json(req);
        json_decref(req);
        if (body && strcmp(json_string_value(json_object_get(body, "event")), event) == 0)
            return body;
        json_decref(body);
    }
    fail_msg("no %s delivery", event);
    return NULL;
}

static void test_webhook_delivery(void **state)
{
    struct fx *f = *state;
    struct testsrv *rx = testsrv_start();
    char url[128];
    long st = 0;
    json_t *r, *req, *body;

    snprintf(url, sizeof url, "%s/hooks/happyfox/test", testsrv_url(rx));
    r = post(f, "/_sandbox/happyfox/webhook",
             json_pack("{s:s,s:s,s:s}", "url", url, "header_name", "X-Hook-Secret", "header_value", "s3cret-value"),
             &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(r, "header_value_set")));
    {
        char *dump = json_dumps(r, 0);
        assert_null(strstr(dump, "s3cret-value"));
        free(dump);
    }
    json_decref(r);

    r = create_ticket(f, "Hooked", 1, "h@acme.test");
    assert_int_equal(testsrv_wait_calls(rx, "/hooks/happyfox/test", 1, 5000), 0);
    req = testsrv_request(rx, "/hooks/happyfox/test", 0);
    assert_string_equal(testsrv_req_header(req, "x-hook-secret"), "s3cret-value");
    body = testsrv_req_json(req);
    assert_string_equal(jstr(body, "event"), "ticket_created");
    assert_int_equal(jint(body, "ticket_id"), jint(r, "id"));
    assert_string_equal(jstr(body, "status.name"), "New");
    json_decref(body);
    json_decref(req);
    json_decref(r);

    r = post(f, API "/ticket/2/staff_update/", json_pack("{s:i,s:s,s:i}", "staff", 10, "text", "Done", "status", 3),
             &st);
    assert_int_equal(st, 200);
    assert_int_equal(testsrv_wait_calls(rx, "/hooks/happyfox/test", 3, 5000), 0);
    body = hook_body(rx, "ticket_updated", 3);
    assert_int_equal(jint(body, "ticket_id"), 2);
    assert_int_equal(jint(body, "update_id"), jint(r, "updates.1.update_id"));
    json_decref(body);
    body = hook_body(rx, "ticket_status_changed", 3);
    assert_string_equal(jstr(body, "previous_status.name"), "New");
    assert_string_equal(jstr(body, "status.behavior"), "completed");
    json_decref(body);
    json_decref(r);

    /* an event filter, then removal */
    json_decref(admin(f, "/_sandbox/happyfox/webhook",
                      json_pack("{s:s,s:[s]}", "url", url, "events", "ticket_status_changed")));
    json_decref(post(f, API "/ticket/2/staff_pvtnote/", json_pack("{s:i,s:s}", "staff", 10, "text", "quiet"), &st));
    json_decref(post(f, API "/ticket/2/staff_update/", json_pack("{s:i,s:i}", "staff", 10, "status", 2), &st));
    assert_int_equal(testsrv_wait_calls(rx, "/hooks/happyfox/test", 4, 5000), 0);
    req = testsrv_request(rx, "/hooks/happyfox/test", 3);
    body = testsrv_req_json(req);
    assert_string_equal(jstr(body, "event"), "ticket_status_changed");
    json_decref(body);
    json_decref(req);
    r = req_full(f, "DELETE", "/_sandbox/happyfox/webhook", NULL, NULL, NULL, &st, NULL);
    assert_int_equal(st, 200);
    assert_true(json_is_null(json_object_get(r, "url")));
    json_decref(r);
    r = post(f, "/_sandbox/happyfox/webhook", json_pack("{s:s}", "url", "ftp://x"), &st);
    assert_int_equal(st, 400);
    json_decref(r);
    testsrv_stop(rx);
}

static void test_seed_and_bulk(void **state)
{
    struct fx *f = *state;
    long st = 0;
    json_t *r, *many;
    int i;

    r = get(f, API "/ticket/1/", &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(r, "category.name"), "IT Support");
    assert_string_equal(jstr(r, "status.name"), "In Progress");
    assert_string_equal(jstr(r, "updates.1.message.text"), "On it");
    assert_true(jint(r, "updates.1.update_id") > jint(r, "updates.0.update_id"));
    json_decref(r);

    r = post(f, API "/tickets/",
             json_pack("[{s:i,s:s,s:s,s:i},{s:i,s:s}]", "category", 1, "subject", "Bulk ok", "text", "a", "client", 100,
                       "category", 1, "subject", "Bulk bad"),
             &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_path(r, "0.success")));
    assert_string_equal(jstr(r, "0.data.subject"), "Bulk ok");
    assert_true(json_is_false(json_path(r, "1.success")));
    assert_non_null(json_path(r, "1.errors.text"));
    json_decref(r);

    many = json_array();
    for (i = 0; i < 101; i++)
        json_array_append_new(many, json_object());
    r = post(f, API "/tickets/", many, &st);
    assert_int_equal(st, 400);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reference_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_paging_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staff_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_note, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags_and_custom_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budgets_and_lockout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_call_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_2xx_quirk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_and_bulk, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

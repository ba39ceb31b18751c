/* test_happyfox.c — the HappyFox connector's actions against a real sandbox:
 * the connection kind (validate, check), every action by name and by id,
 * convergence (changed: false and no write), unknown names listing the
 * valid ones, the error paths (401, 400, 404, a 2xx carrying an error), the
 * duplicate-write guard for tickets, replies and notes, and the trigger
 * descriptors (present, matching, not registered yet). Each test gets a
 * freshly seeded sandbox (Acme's help desk plus ticket #1 in IT Support).
 * Budgets, pacing, per-ticket serialization, 409, 429 and network failures
 * are in test_happyfox_limits.c. */
#include "integration/happyfox_fixture.h"

/* The trigger descriptors (triggers.c): compiled, tested, not registered. */
extern const struct conn_trigger hfc__triggers[];

static int setup(void **state)
{
    *state = hfx_start();
    return 0;
}

static int teardown(void **state)
{
    hfx_stop(*state);
    return 0;
}

static const struct connector *hf_connector(void)
{
    const struct connector *c = registry_find(registry_default(), "happyfox");
    if (!c)
        fail_msg("happyfox is not registered");
    return c;
}

/* Creates an onboarding ticket (all required fields) and returns its number. */
static int64_t new_onboarding(struct hfx *f, const char *subject)
{
    struct conn_result r;
    int64_t n;
    int rc = hfx_actf(f, "happyfox.create_ticket", &r,
                      "{\"category\": \"Onboarding\", \"subject\": \"%s\", \"text\": \"starts Monday\", \"email\": "
                      "\"lin.chen@acme.example\", \"fields\": {\"First Name\": \"Lin\", \"Last Name\": \"Chen\", "
                      "\"Email\": \"lin.chen@acme.example\", \"Department\": \"Engineering\"}}",
                      subject);
    HFX_MUST(rc, r);
    n = hfx_int(r.output, "number");
    hfx_clear(&r);
    return n;
}

/* ------------------------------------------------------------ connection */

static json_t *validated(const char *text, int *rc, struct idf_err *err)
{
    json_t *c = json_loads(text, 0, NULL);
    assert_non_null(c);
    memset(err, 0, sizeof *err);
    *rc = hf_connector()->connection->validate(c, err);
    return c;
}

static void test_connection_validate(void **state)
{
    struct idf_err err;
    json_t *c;
    int rc;

    (void)state;
    c = validated("{\"url\": \"https://Acme.HappyFox.com/\", \"api_key\": \"k1\", \"auth_code\": \"c1\"}", &rc, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(hfx_str(c, "url"), "https://acme.happyfox.com");
    json_decref(c);
    c = validated("{\"url\": \"https://acme.happyfox.net/api/1.1/json/\", \"api_key\": \"k1\", \"auth_code\": \"c1\", "
                  "\"post_per_minute\": \"30\", \"rate_window_seconds\": \"0.5\", \"staff\": 3}",
                  &rc, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(hfx_str(c, "url"), "https://acme.happyfox.net");
    assert_int_equal(hfx_int(c, "post_per_minute"), 30);
    assert_true(json_real_value(json_object_get(c, "rate_window_seconds")) == 0.5);
    json_decref(c);
    c = validated("{\"url\": \"https://help.acme.example:8443\", \"api_key\": \"k1\", \"auth_code\": \"c1\"}", &rc,
                  &err);
    assert_int_equal(rc, 0); /* a custom domain */
    assert_string_equal(hfx_str(c, "url"), "https://help.acme.example:8443");
    json_decref(c);

    c = validated("{\"url\": \"http://acme.happyfox.com\", \"api_key\": \"k1\", \"auth_code\": \"c1\"}", &rc, &err);
    assert_int_equal(rc, IDF_EINVAL);
    hfx_has(err.msg, "https only");
    json_decref(c);
    c = validated("{\"url\": \"http://127.0.0.1:9\", \"api_key\": \"k1\", \"auth_code\": \"c1\", \"sandbox\": "
                  "\"true\"}",
                  &rc, &err);
    assert_int_equal(rc, 0);
    assert_true(json_is_true(json_object_get(c, "sandbox")));
    json_decref(c);
    c = validated("{\"url\": \"https://acme.happyfox.com/staff/\", \"api_key\": \"k1\", \"auth_code\": \"c1\"}", &rc,
                  &err);
    assert_int_equal(rc, IDF_EINVAL);
    hfx_has(err.msg, "account URL");
    json_decref(c);
    c = validated("{\"url\": \"https://acme.happyfox.com\", \"auth_code\": \"c1\"}", &rc, &err);
    assert_int_equal(rc, IDF_EINVAL);
    hfx_has(err.msg, "api_key is required");
    json_decref(c);
    c = validated("{\"url\": \"https://acme.happyfox.com\", \"api_key\": \"a:b\", \"auth_code\": \"c1\"}", &rc, &err);
    assert_int_equal(rc, IDF_EINVAL);
    json_decref(c);
    c = validated("{\"url\": \"https://acme.happyfox.com\", \"api_key\": \"k\", \"auth_code\": \"c\", "
                  "\"get_per_minute\": 0}",
                  &rc, &err);
    assert_int_equal(rc, IDF_EINVAL);
    hfx_has(err.msg, "get_per_minute");
    json_decref(c);
}

static void test_connection_check(void **state)
{
    struct hfx *f = *state;
    const struct conn_connection_kind *k = hf_connector()->connection;
    struct idf_err err = {0};
    json_t *who = NULL, *bad;

    assert_int_equal(k->check(f->http, f->conn, &who, &err), 0);
    assert_string_equal(hfx_str(who, "account"), f->base);
    assert_int_equal(hfx_int(who, "staff"), 5);
    assert_string_equal(hfx_str(json_object_get(who, "acting_staff"), "name"), "Priya Raman");
    json_decref(who);

    bad = json_deep_copy(f->conn);
    json_object_set_new(bad, "auth_code", json_string("wrong-code-123456"));
    assert_int_equal(k->check(f->http, bad, &who, &err), IDF_EAUTH);
    assert_null(who);
    hfx_has(err.msg, "HTTP 401");
    assert_null(strstr(err.msg, HFX_KEY));
    assert_null(strstr(err.msg, "wrong-code-123456"));
    json_decref(bad);

    bad = json_deep_copy(f->conn);
    json_object_set_new(bad, "staff", json_string("Nobody Here"));
    assert_int_equal(k->check(f->http, bad, &who, &err), IDF_ENOTFOUND);
    hfx_has(err.msg, "Nobody Here");
    hfx_has(err.msg, "Priya Raman (3)");
    json_decref(bad);
}

/* ------------------------------------------------------------ create */

static void test_create_by_name(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    const json_t *o, *groups;
    json_t *t;
    int rc;

    rc = hfx_actf(f, "happyfox.create_ticket", &r,
                  "{\"category\": \"onboarding\", \"subject\": \"New starter: Lin Chen\", \"text\": \"Lin starts "
                  "Monday.\\nLaptop: Mac\", \"email\": \"lin.chen@acme.example\", \"name\": \"Lin Chen\", "
                  "\"priority\": \"High\", \"assignee\": \"priya.raman@acme.example\", \"tags\": [\"onboarding\", "
                  "\"laptop\"], \"fields\": {\"First Name\": \"Lin\", \"Last Name\": \"Chen\", \"Email\": "
                  "\"lin.chen@acme.example\", \"Department\": \"engineering\", \"Groups\": [\"Engineering\", \"VPN "
                  "Users\"], \"Start Date\": \"2026-12-01\"}}");
    HFX_MUST(rc, r);
    o = r.output;
    assert_true(hfx_changed(&r));
    assert_int_equal(hfx_int(o, "number"), 2);
    assert_string_equal(hfx_str(o, "display_id"), "#HF00000002");
    assert_string_equal(hfx_str(json_object_get(o, "status"), "name"), "New");
    assert_string_equal(hfx_str(json_object_get(o, "status"), "behavior"), "pending");
    assert_false(json_is_true(json_object_get(o, "resolved")));
    assert_string_equal(hfx_str(json_object_get(o, "category"), "name"), "Onboarding");
    assert_string_equal(hfx_str(json_object_get(o, "priority"), "name"), "High");
    assert_string_equal(hfx_str(json_object_get(o, "assignee"), "email"), "priya.raman@acme.example");
    assert_string_equal(hfx_str(json_object_get(o, "contact"), "email"), "lin.chen@acme.example");
    assert_string_equal(hfx_str(json_object_get(o, "fields"), "Department"), "Engineering");
    groups = json_object_get(json_object_get(o, "fields"), "Groups");
    assert_int_equal(json_array_size(groups), 2);
    assert_string_equal(json_string_value(json_array_get(groups, 1)), "VPN Users");
    assert_string_equal(hfx_str(o, "marker"), "idflow-r1-test");
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "tags"), 2)), "idflow-r1-test");
    assert_true(hfx_int(o, "update_id") > 0);
    hfx_clear(&r);

    /* what the sandbox holds: ids, the opening message as given */
    t = hfx_ticket(f, 2);
    assert_int_equal(hfx_int(json_object_get(t, "priority"), "id"), 3);
    assert_int_equal(hfx_int(json_object_get(t, "assigned_to"), "id"), 3);
    assert_string_equal(hfx_str(json_object_get(json_array_get(json_object_get(t, "updates"), 0), "message"), "text"),
                        "Lin starts Monday.\nLaptop: Mac");
    json_decref(t);
}

static void test_create_by_id(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    const json_t *o, *tags;
    int rc;

    rc = hfx_actf(f, "happyfox.create_ticket", &r,
                  "{\"category\": 2, \"subject\": \"By ids\", \"html\": \"<p>Hello</p>\", \"contact\": 2, "
                  "\"priority\": 1, \"assignee\": 3, \"tags\": \"a, b\", \"due_date\": \"2026-12-24\", \"fields\": "
                  "{\"11\": \"Ann\", \"12\": \"Bo\", \"13\": \"ann@acme.example\", \"14\": 102, \"t-cf-15\": [201, "
                  "\"210\"]}}");
    HFX_MUST(rc, r);
    o = r.output;
    assert_int_equal(hfx_int(json_object_get(o, "category"), "id"), 2);
    assert_string_equal(hfx_str(json_object_get(o, "priority"), "name"), "Low");
    assert_int_equal(hfx_int(json_object_get(o, "assignee"), "id"), 3);
    assert_string_equal(hfx_str(json_object_get(o, "contact"), "name"), "Maria Gonzalez");
    assert_string_equal(hfx_str(json_object_get(o, "fields"), "Department"), "Sales");
    assert_string_equal(hfx_str(o, "due_date"), "2026-12-24");
    tags = json_object_get(o, "tags");
    assert_int_equal(json_array_size(tags), 3);
    assert_string_equal(json_string_value(json_array_get(tags, 0)), "a");
    assert_string_equal(json_string_value(json_array_get(tags, 1)), "b");
    hfx_clear(&r);

    /* a category id given as a decimal string */
    rc = hfx_actf(f, "happyfox.create_ticket", &r,
                  "{\"category\": \"1\", \"subject\": \"Id as text\", \"text\": \"x\", \"email\": "
                  "\"kevin.murphy@acme.example\"}");
    HFX_MUST(rc, r);
    assert_string_equal(hfx_str(json_object_get(r.output, "category"), "name"), "IT Support");
    assert_string_equal(hfx_str(json_object_get(r.output, "contact"), "name"), "Kevin Murphy");
    hfx_clear(&r);
}

/* ------------------------------------------------------------ get */

static void test_get_ticket(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    const char *refs[] = {"1", "\"1\"", "\"#HF00000001\"", "\"hf00000001\"", NULL};

    for (int i = 0; refs[i]; i++) {
        HFX_MUST(hfx_actf(f, "happyfox.get_ticket", &r, "{\"ticket\": %s}", refs[i]), r);
        assert_int_equal(hfx_int(r.output, "number"), 1);
        assert_string_equal(hfx_str(r.output, "subject"), "Printer jam on 3rd floor");
        assert_false(hfx_changed(&r));
        assert_int_equal(json_array_size(json_object_get(r.output, "updates")), 1);
        assert_int_equal(hfx_int(r.output, "update_count"), 1);
        assert_int_equal(hfx_int(r.output, "update_id"),
                         hfx_int(json_array_get(json_object_get(r.output, "updates"), 0), "update_id"));
        hfx_clear(&r);
    }
    HFX_MUST(hfx_actf(f, "happyfox.get_ticket", &r, "{\"ticket\": 1, \"updates\": 0}"), r);
    assert_int_equal(json_array_size(json_object_get(r.output, "updates")), 0);
    hfx_clear(&r);

    assert_int_equal(hfx_actf(f, "happyfox.get_ticket", &r, "{\"ticket\": \"#XY00000001\"}"), IDF_ENOTFOUND);
    hfx_has(r.message, "#HF00000001");
    hfx_clear(&r);
    assert_int_equal(hfx_actf(f, "happyfox.get_ticket", &r, "{\"ticket\": 999}"), IDF_ENOTFOUND);
    assert_false(r.retryable);
    assert_int_equal(hfx_int(r.detail, "http_status"), 404);
    hfx_has(r.message, "Ticket not found");
    hfx_clear(&r);
    assert_int_equal(hfx_actf(f, "happyfox.get_ticket", &r, "{\"ticket\": \"what\"}"), IDF_EINVAL);
    hfx_clear(&r);
}

/* ------------------------------------------------------------ reply, note */

static void test_reply(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    json_t *t, *u, *m;
    int64_t uid;

    HFX_MUST(hfx_actf(f, "happyfox.reply", &r,
                      "{\"ticket\": 1, \"text\": \"We are on it.\\nHang tight <3\", \"status\": \"Open\", "
                      "\"priority\": \"high\", \"tags\": [\"printer\", \"floor3\"]}"),
             r);
    assert_true(hfx_changed(&r));
    assert_string_equal(hfx_str(json_object_get(r.output, "status"), "name"), "Open");
    assert_string_equal(hfx_str(json_object_get(r.output, "priority"), "name"), "High");
    uid = hfx_int(r.output, "update_id");
    hfx_clear(&r);
    t = hfx_ticket(f, 1);
    u = json_array_get(json_object_get(t, "updates"), json_array_size(json_object_get(t, "updates")) - 1);
    m = json_object_get(u, "message");
    assert_int_equal(hfx_int(u, "update_id"), uid);
    assert_int_equal(hfx_int(json_object_get(u, "by"), "id"), 3); /* the connection's staff, Priya */
    assert_true(json_is_null(json_object_get(m, "message_type")));
    assert_string_equal(hfx_str(m, "text"), "We are on it.\nHang tight <3"); /* the text as given */
    hfx_has(hfx_str(m, "html"), "We are on it.<br>\nHang tight &lt;3");
    hfx_has(hfx_str(m, "html"), "<!-- idflow-marker:idflow-r1-test: -->");
    assert_int_equal(json_array_size(json_object_get(t, "tags")), 2);
    json_decref(t);

    /* by id, with the acting agent overridden */
    HFX_MUST(hfx_actf(f, "happyfox.reply", &r,
                      "{\"ticket\": \"#HF00000001\", \"html\": \"<b>Parts ordered</b>\", \"staff\": 1, \"status\": 3, "
                      "\"priority\": 4, \"assignee\": 4}"),
             r);
    assert_string_equal(hfx_str(json_object_get(r.output, "status"), "name"), "On Hold");
    assert_string_equal(hfx_str(json_object_get(r.output, "priority"), "name"), "Urgent");
    assert_string_equal(hfx_str(json_object_get(r.output, "assignee"), "name"), "Marcus Lee");
    hfx_clear(&r);
    t = hfx_ticket(f, 1);
    u = json_array_get(json_object_get(t, "updates"), json_array_size(json_object_get(t, "updates")) - 1);
    assert_int_equal(hfx_int(json_object_get(u, "by"), "id"), 1);
    hfx_has(hfx_str(json_object_get(u, "message"), "html"), "<b>Parts ordered</b>");
    json_decref(t);

    /* "" unassigns; a message is required */
    HFX_MUST(hfx_actf(f, "happyfox.reply", &r, "{\"ticket\": 1, \"text\": \"Handing back\", \"assignee\": \"\"}"), r);
    assert_true(json_is_null(json_object_get(r.output, "assignee")));
    hfx_clear(&r);
    assert_int_equal(hfx_actf(f, "happyfox.reply", &r, "{\"ticket\": 1, \"status\": \"Open\"}"), IDF_EINVAL);
    hfx_has(r.message, "text");
    hfx_clear(&r);
}

static void test_add_note(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    json_t *t, *u;

    HFX_MUST(hfx_actf(f, "happyfox.add_note", &r, "{\"ticket\": 1, \"text\": \"Checked the tray\", \"alert\": \"c\"}"),
             r);
    assert_true(hfx_changed(&r));
    hfx_clear(&r);
    t = hfx_ticket(f, 1);
    u = json_array_get(json_object_get(t, "updates"), 1);
    assert_string_equal(hfx_str(json_object_get(u, "message"), "message_type"), "p");
    assert_string_equal(hfx_str(u, "alert"), "c");
    assert_string_equal(hfx_str(json_object_get(u, "message"), "text"), "Checked the tray");
    json_decref(t);

    HFX_MUST(hfx_actf(f, "happyfox.add_note", &r,
                      "{\"ticket\": 1, \"text\": \"Escalating\", \"alert\": \"IT On-call\", \"staff\": "
                      "\"marcus.lee@acme.example\", \"status\": \"On Hold\"}"),
             r);
    assert_string_equal(hfx_str(json_object_get(r.output, "status"), "name"), "On Hold");
    hfx_clear(&r);
    HFX_MUST(hfx_actf(f, "happyfox.add_note", &r, "{\"ticket\": 1, \"text\": \"By ids\", \"alert\": 2, \"staff\": 4}"),
             r);
    hfx_clear(&r);
    t = hfx_ticket(f, 1);
    u = json_array_get(json_object_get(t, "updates"), 2);
    assert_int_equal(hfx_int(u, "alert"), 2);
    assert_int_equal(hfx_int(json_object_get(u, "by"), "id"), 4);
    u = json_array_get(json_object_get(t, "updates"), 3);
    assert_int_equal(hfx_int(u, "alert"), 2);
    json_decref(t);
}

/* ------------------------------------------------- converging changes */

static void test_set_status(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;

    HFX_MUST(hfx_actf(f, "happyfox.set_status", &r, "{\"ticket\": 1, \"status\": \"Solved\"}"), r);
    assert_true(hfx_changed(&r));
    assert_string_equal(hfx_str(json_object_get(r.output, "status"), "name"), "Solved");
    assert_true(json_is_true(json_object_get(r.output, "resolved")));
    assert_string_equal(hfx_str(json_object_get(r.output, "previous_status"), "name"), "New");
    assert_true(hfx_int(r.output, "update_id") > 0);
    hfx_clear(&r);
    assert_int_equal(hfx_count_calls(f, "POST", "/ticket/1/staff_update", -1), 1);

    HFX_MUST(hfx_actf(f, "happyfox.set_status", &r, "{\"ticket\": 1, \"status\": \"solved\"}"), r);
    assert_false(hfx_changed(&r));
    assert_true(json_is_null(json_object_get(r.output, "update_id")));
    hfx_clear(&r);
    assert_int_equal(hfx_count_calls(f, "POST", "/ticket/1/staff_update", -1), 1); /* nothing written */

    HFX_MUST(hfx_actf(f, "happyfox.set_status", &r, "{\"ticket\": 1, \"status\": 2, \"staff\": 1}"), r);
    assert_true(hfx_changed(&r));
    assert_string_equal(hfx_str(json_object_get(r.output, "status"), "name"), "Open");
    assert_false(json_is_true(json_object_get(r.output, "resolved")));
    hfx_clear(&r);
}

static void test_assign(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    int64_t onb;

    HFX_MUST(hfx_actf(f, "happyfox.assign", &r, "{\"ticket\": 1, \"assignee\": \"Marcus Lee\"}"), r);
    assert_true(hfx_changed(&r));
    assert_int_equal(hfx_int(json_object_get(r.output, "assignee"), "id"), 4);
    assert_true(json_is_null(json_object_get(r.output, "previous_assignee")));
    hfx_clear(&r);
    HFX_MUST(hfx_actf(f, "happyfox.assign", &r, "{\"ticket\": 1, \"assignee\": \"MARCUS.LEE@acme.example\"}"), r);
    assert_false(hfx_changed(&r));
    hfx_clear(&r);
    HFX_MUST(hfx_actf(f, "happyfox.assign", &r, "{\"ticket\": 1, \"assignee\": 2}"), r);
    assert_string_equal(hfx_str(json_object_get(r.output, "assignee"), "name"), "IT On-call");
    hfx_clear(&r);
    HFX_MUST(hfx_actf(f, "happyfox.assign", &r, "{\"ticket\": 1, \"assignee\": \"\"}"), r);
    assert_true(hfx_changed(&r));
    assert_true(json_is_null(json_object_get(r.output, "assignee")));
    assert_int_equal(hfx_int(json_object_get(r.output, "previous_assignee"), "id"), 2);
    hfx_clear(&r);
    HFX_MUST(hfx_actf(f, "happyfox.assign", &r, "{\"ticket\": 1, \"assignee\": \"\"}"), r);
    assert_false(hfx_changed(&r));
    hfx_clear(&r);
    assert_int_equal(hfx_count_calls(f, "POST", "/ticket/1/staff_update", -1), 3);

    /* HappyFox's own validation: Marcus has no access to Onboarding (400) */
    onb = new_onboarding(f, "Assign me");
    assert_int_equal(
        hfx_actf(f, "happyfox.assign", &r, "{\"ticket\": %lld, \"assignee\": \"Marcus Lee\"}", (long long)onb),
        IDF_EINVAL);
    assert_false(r.retryable);
    assert_int_equal(hfx_int(r.detail, "http_status"), 400);
    hfx_has(r.message, "HTTP 400");
    hfx_has(r.message, "no access to category");
    hfx_clear(&r);
}

static void test_update_custom_fields(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    int64_t n = new_onboarding(f, "Fields");
    const json_t *names;
    json_t *t;
    int posts;

    HFX_MUST(hfx_actf(f, "happyfox.update_custom_fields", &r,
                      "{\"ticket\": %lld, \"fields\": {\"Department\": \"Sales\", \"Start Date\": \"2026-12-08\", "
                      "\"First Name\": \"Lin\"}}",
                      (long long)n),
             r);
    assert_true(hfx_changed(&r));
    names = json_object_get(r.output, "changed_fields");
    assert_int_equal(json_array_size(names), 2); /* First Name already held "Lin" */
    assert_string_equal(hfx_str(json_object_get(r.output, "fields"), "Department"), "Sales");
    assert_true(hfx_int(r.output, "update_id") > 0);
    hfx_clear(&r);
    posts = hfx_count_calls(f, "POST", "/update_custom_fields", -1);
    assert_int_equal(posts, 1);

    HFX_MUST(hfx_actf(f, "happyfox.update_custom_fields", &r,
                      "{\"ticket\": %lld, \"fields\": {\"department\": \"sales\", \"Start Date\": \"2026-12-08\"}}",
                      (long long)n),
             r);
    assert_false(hfx_changed(&r));
    hfx_clear(&r);
    assert_int_equal(hfx_count_calls(f, "POST", "/update_custom_fields", -1), posts);

    HFX_MUST(hfx_actf(f, "happyfox.update_custom_fields", &r,
                      "{\"ticket\": %lld, \"fields\": {\"14\": 103, \"t-cf-15\": [\"All Employees\", 210]}, \"staff\": "
                      "\"Dana Whitfield\"}",
                      (long long)n),
             r);
    assert_true(hfx_changed(&r));
    hfx_clear(&r);
    t = hfx_ticket(f, n);
    {
        const json_t *c;
        size_t i;
        json_array_foreach (json_object_get(t, "custom_fields"), i, c) {
            if (hfx_int(c, "id") == 14)
                assert_int_equal(hfx_int(c, "value_id"), 103);
            if (hfx_int(c, "id") == 15)
                assert_int_equal(json_array_size(json_object_get(c, "value_id")), 2);
        }
    }
    json_decref(t);

    assert_int_equal(hfx_actf(f, "happyfox.update_custom_fields", &r,
                              "{\"ticket\": %lld, \"fields\": {\"Shoe Size\": 42}}", (long long)n),
                     IDF_ENOTFOUND);
    assert_false(r.retryable);
    hfx_has(r.message, "unknown custom field 'Shoe Size'");
    hfx_has(r.message, "Department (14)");
    hfx_clear(&r);
    assert_int_equal(hfx_actf(f, "happyfox.update_custom_fields", &r,
                              "{\"ticket\": %lld, \"fields\": {\"Okta Login\": \"lin\"}}", (long long)n),
                     IDF_ENOTFOUND);
    hfx_has(r.message, "not a custom field 'Okta Login' for category 2");
    hfx_clear(&r);
    assert_int_equal(hfx_actf(f, "happyfox.update_custom_fields", &r,
                              "{\"ticket\": %lld, \"fields\": {\"Department\": \"Astronomy\"}}", (long long)n),
                     IDF_ENOTFOUND);
    hfx_has(r.message, "unknown choice \"Astronomy\"");
    hfx_has(r.message, "Engineering (101)");
    hfx_clear(&r);
}

static void test_add_tags(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    json_t *t;

    HFX_MUST(hfx_actf(f, "happyfox.add_tags", &r, "{\"ticket\": 1, \"tags\": [\"vip\", \"printer\", \"hardware\"]}"),
             r);
    assert_true(hfx_changed(&r));
    assert_int_equal(json_array_size(json_object_get(r.output, "added")), 2);
    assert_true(hfx_int(r.output, "update_id") > 0);
    hfx_clear(&r);
    HFX_MUST(hfx_actf(f, "happyfox.add_tags", &r, "{\"ticket\": 1, \"tags\": \"vip,hardware\"}"), r);
    assert_false(hfx_changed(&r));
    hfx_clear(&r);
    assert_int_equal(hfx_count_calls(f, "POST", "/update_tags", -1), 1);
    HFX_MUST(hfx_actf(f, "happyfox.add_tags", &r, "{\"ticket\": 1, \"tags\": [], \"remove\": [\"printer\", \"gone\"]}"),
             r);
    assert_true(hfx_changed(&r));
    assert_int_equal(json_array_size(json_object_get(r.output, "removed")), 1);
    hfx_clear(&r);
    t = hfx_ticket(f, 1);
    assert_int_equal(json_array_size(json_object_get(t, "tags")), 2);
    json_decref(t);
    assert_int_equal(hfx_actf(f, "happyfox.add_tags", &r, "{\"ticket\": 1, \"tags\": []}"), IDF_EINVAL);
    hfx_clear(&r);
}

/* ------------------------------------------------------------ names */

static void test_unknown_names(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    json_t *nostaff;
    struct hfx_call c = {.item = -1};

    assert_int_equal(hfx_actf(f, "happyfox.create_ticket", &r,
                              "{\"category\": \"IT Suport\", \"subject\": \"s\", \"text\": \"t\", \"email\": "
                              "\"a@acme.example\"}"),
                     IDF_ENOTFOUND);
    assert_false(r.retryable);
    hfx_has(r.message, "category: unknown category 'IT Suport'");
    hfx_has(r.message, "IT Support (1), Onboarding (2), Offboarding (3), MFA Reset (4), Security Incident (5)");
    hfx_clear(&r);
    /* the list was read a moment ago: the miss does not read it again */
    assert_int_equal(hfx_count_calls(f, "GET", "/categories/", -1), 1);
    assert_int_equal(hfx_actf(f, "happyfox.create_ticket", &r,
                              "{\"category\": 99, \"subject\": \"s\", \"text\": \"t\", \"email\": \"a@acme.example\"}"),
                     IDF_ENOTFOUND);
    hfx_has(r.message, "unknown category '99'");
    hfx_clear(&r);
    assert_int_equal(hfx_count_calls(f, "GET", "/categories/", -1), 1);
    assert_int_equal(hfx_count_calls(f, "POST", "/tickets", -1), 0);

    assert_int_equal(hfx_actf(f, "happyfox.set_status", &r, "{\"ticket\": 1, \"status\": \"Finished\"}"),
                     IDF_ENOTFOUND);
    hfx_has(r.message, "New (1), Open (2), On Hold (3), Solved (4), Closed (5)");
    hfx_clear(&r);
    assert_int_equal(hfx_actf(f, "happyfox.reply", &r, "{\"ticket\": 1, \"text\": \"x\", \"priority\": \"Critical\"}"),
                     IDF_ENOTFOUND);
    hfx_has(r.message, "Urgent (4)");
    hfx_clear(&r);
    assert_int_equal(hfx_actf(f, "happyfox.assign", &r, "{\"ticket\": 1, \"assignee\": \"Nobody\"}"), IDF_ENOTFOUND);
    hfx_has(r.message, "Priya Raman (3)");
    assert_null(strstr(r.message, "Former Agent"));
    hfx_clear(&r);
    assert_int_equal(hfx_actf(f, "happyfox.assign", &r, "{\"ticket\": 1, \"assignee\": \"Former Agent\"}"), IDF_EINVAL);
    hfx_has(r.message, "inactive");
    hfx_clear(&r);
    assert_int_equal(hfx_count_calls(f, "POST", "/ticket/", -1), 0); /* nothing was written */

    /* no acting agent anywhere */
    nostaff = json_deep_copy(f->conn);
    json_object_del(nostaff, "staff");
    c.conn = nostaff;
    assert_int_equal(hfx_callf(f, &c, "happyfox.add_note", &r, "{\"ticket\": 1, \"text\": \"x\"}"), IDF_EINVAL);
    hfx_has(r.message, "no acting agent");
    hfx_clear(&r);
    /* ... which add_tags does not need */
    HFX_MUST(hfx_callf(f, &c, "happyfox.add_tags", &r, "{\"ticket\": 1, \"tags\": [\"x\"]}"), r);
    hfx_clear(&r);
    json_decref(nostaff);
}

/* A category added in HappyFox after the cache was filled is found: the
 * miss re-reads the list (once it is older than the refresh interval). */
static void test_refresh_on_miss(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    json_t *seed, *body;
    char *text;
    int64_t deadline;
    int rc, reads;

    HFX_MUST(hfx_actf(f, "happyfox.create_ticket", &r,
                      "{\"category\": \"IT Support\", \"subject\": \"warm\", \"text\": \"t\", \"email\": "
                      "\"a@acme.example\"}"),
             r);
    hfx_clear(&r);
    seed = hfx_sbx(f, "GET", "/_sandbox/seed", NULL);
    json_array_append_new(json_object_get(json_object_get(seed, "happyfox"), "categories"),
                          json_pack("{s:i, s:s, s:b}", "id", 6, "name", "Hardware", "public", 1));
    body = json_pack("{s:o}", "seed", seed);
    text = json_dumps(body, 0);
    hfx_sbx_post(f, "/_sandbox/reset", text); /* (also clears the call log) */
    free(text);
    json_decref(body);

    deadline = tu_now_ms() + 10000;
    do { /* a miss within the interval answers from the cache; poll until the re-read */
        rc = hfx_actf(f, "happyfox.create_ticket", &r,
                      "{\"category\": \"Hardware\", \"subject\": \"new category\", \"text\": \"t\", "
                      "\"email\": \"a@acme.example\"}");
        if (rc != 0) {
            assert_int_equal(rc, IDF_ENOTFOUND);
            hfx_has(r.message, "unknown category 'Hardware'");
            hfx_clear(&r);
            hfx_sleep_ms(50);
        }
    } while (rc != 0 && tu_now_ms() < deadline);
    HFX_MUST(rc, r);
    assert_int_equal(hfx_int(json_object_get(r.output, "category"), "id"), 6);
    hfx_clear(&r);
    reads = hfx_count_calls(f, "GET", "/categories/", -1);
    assert_int_equal(reads, 1); /* one re-read, however many misses */
}

/* ------------------------------------------------------------ errors */

static void test_http_errors(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    struct hfx_call c = {.item = -1};
    json_t *bad = json_deep_copy(f->conn);

    /* 401 */
    json_object_set_new(bad, "auth_code", json_string("not-the-code-77"));
    c.conn = bad;
    assert_int_equal(hfx_callf(f, &c, "happyfox.get_ticket", &r, "{\"ticket\": 1}"), IDF_EAUTH);
    assert_false(r.retryable);
    assert_int_equal(hfx_int(r.detail, "http_status"), 401);
    hfx_has(r.message, "Authentication failed");
    hfx_has(r.message, "check the connection's API key and auth code");
    assert_null(strstr(r.message, "not-the-code-77"));
    hfx_clear(&r);
    json_decref(bad);

    /* 400: every problem reported, nothing created */
    assert_int_equal(hfx_actf(f, "happyfox.create_ticket", &r,
                              "{\"category\": \"IT Support\", \"subject\": \"Bad date\", \"text\": \"x\", \"email\": "
                              "\"a@acme.example\", \"due_date\": \"31/02/2026\"}"),
                     IDF_EINVAL);
    assert_false(r.retryable);
    assert_int_equal(hfx_int(r.detail, "http_status"), 400);
    hfx_has(r.message, "due_date");
    assert_non_null(json_object_get(json_object_get(r.detail, "errors"), "due_date"));
    hfx_clear(&r);
    assert_int_equal(hfx_count_subject(f, "Bad date"), 0);

    /* a 2xx whose body is {"error": ...}: a failure, not retried */
    hfx_sbx_post(f, "/_sandbox/happyfox/error_2xx",
                 "{\"count\": 1, \"path_prefix\": \"/api/1.1/json/ticket/\", \"method\": \"POST\", \"message\": "
                 "\"Unable to process the request\"}");
    assert_int_equal(hfx_actf(f, "happyfox.add_note", &r, "{\"ticket\": 1, \"text\": \"quirk\"}"), IDF_EREMOTE);
    assert_false(r.retryable);
    assert_int_equal(hfx_int(r.detail, "http_status"), 200);
    assert_true(json_is_true(json_object_get(r.detail, "error_in_2xx")));
    assert_true(json_is_true(json_object_get(r.detail, "outcome_unknown")));
    hfx_has(r.message, "HTTP 200: Unable to process the request");
    hfx_clear(&r);
    assert_int_equal(hfx_count_updates(f, 1, "quirk"), 0);
    /* ... unless its text says it is transient */
    hfx_sbx_post(f, "/_sandbox/happyfox/error_2xx",
                 "{\"count\": 1, \"path_prefix\": \"/api/1.1/json/ticket/\", \"message\": \"Server busy, please try "
                 "again\"}");
    assert_int_equal(hfx_actf(f, "happyfox.get_ticket", &r, "{\"ticket\": 1}"), IDF_EREMOTE);
    assert_true(r.retryable);
    hfx_clear(&r);
    HFX_MUST(hfx_actf(f, "happyfox.get_ticket", &r, "{\"ticket\": 1}"), r);
    hfx_clear(&r);
}

/* ------------------------------------------------- duplicate-write guard */

static void test_create_guard(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    struct hfx_call c = {.item = -1, .run_id = 41, .step = "ticket"};
    const char *params = "{\"category\": \"IT Support\", \"subject\": \"Okta account locked: kevin\", \"text\": "
                         "\"Locked out at 09:12\", \"email\": \"kevin.murphy@acme.example\"}";
    struct http_client *fresh = NULL;
    int64_t n;

    /* the create lands, but the answer says error: outcome unknown */
    hfx_sbx_post(f, "/_sandbox/happyfox/error_2xx",
                 "{\"count\": 1, \"path_prefix\": \"/api/1.1/json/tickets\", \"method\": \"POST\", \"applied\": true, "
                 "\"message\": \"Internal error\"}");
    assert_int_equal(hfx_callf(f, &c, "happyfox.create_ticket", &r, "%s", params), IDF_EREMOTE);
    assert_true(json_is_true(json_object_get(r.detail, "outcome_unknown")));
    hfx_clear(&r);
    assert_int_equal(hfx_count_subject(f, "Okta account locked: kevin"), 1);

    /* the engine's next attempt: uncertain -> finds the marker, no second ticket */
    c.uncertain = true;
    c.attempt = 2;
    HFX_MUST(hfx_callf(f, &c, "happyfox.create_ticket", &r, "%s", params), r);
    assert_false(hfx_changed(&r));
    assert_true(json_is_true(json_object_get(r.output, "recovered")));
    assert_string_equal(hfx_str(r.output, "marker"), "idflow-r41-ticket");
    assert_true(hfx_int(r.output, "update_id") > 0);
    n = hfx_int(r.output, "number");
    hfx_clear(&r);
    assert_int_equal(hfx_count_subject(f, "Okta account locked: kevin"), 1);
    assert_int_equal(hfx_count_calls(f, "POST", "/tickets", -1), 1);
    HFX_MUST(hfx_actf(f, "happyfox.get_ticket", &r, "{\"ticket\": %lld}", (long long)n), r);
    hfx_has(json_string_value(json_array_get(json_object_get(r.output, "tags"), 0)), "idflow-r41-ticket");
    hfx_clear(&r);

    /* the answer is dropped before the sandbox handles it: uncertain, nothing landed -> created once.
     * (A fresh client: on a reused keep-alive connection libcurl itself would
     * resend the POST after the drop; see docs/happyfox.md.) */
    hfx_sbx_post(f, "/_sandbox/faults", "{\"spec\": \"path=/api/1.1/json/tickets,method=POST,drop_rate=1,count=1\"}");
    assert_int_equal(http_client_new(&fresh), 0);
    c.http = fresh;
    c.run_id = 42;
    c.uncertain = false;
    c.attempt = 1;
    assert_int_equal(hfx_callf(f, &c, "happyfox.create_ticket", &r, "%s", params), IDF_EIO);
    assert_true(r.retryable);
    assert_true(json_is_true(json_object_get(r.detail, "outcome_unknown")));
    hfx_clear(&r);
    c.http = NULL;
    http_client_free(fresh);
    assert_int_equal(hfx_count_subject(f, "Okta account locked: kevin"), 1);
    c.uncertain = true;
    c.attempt = 2;
    HFX_MUST(hfx_callf(f, &c, "happyfox.create_ticket", &r, "%s", params), r);
    assert_true(hfx_changed(&r));
    assert_string_equal(hfx_str(r.output, "marker"), "idflow-r42-ticket");
    hfx_clear(&r);
    assert_int_equal(hfx_count_subject(f, "Okta account locked: kevin"), 2);
    /* once more, uncertain again (e.g. a crash before the record): still two */
    c.attempt = 3;
    HFX_MUST(hfx_callf(f, &c, "happyfox.create_ticket", &r, "%s", params), r);
    assert_false(hfx_changed(&r));
    hfx_clear(&r);
    assert_int_equal(hfx_count_subject(f, "Okta account locked: kevin"), 2);

    /* a marker for a foreach item, and a long step id: a valid tag */
    c.run_id = 1234567890123LL;
    c.item = 12;
    c.uncertain = false;
    c.step = "a_very_long_step_identifier_that_goes_on_and_on_for_sixty_four_";
    HFX_MUST(hfx_callf(f, &c, "happyfox.create_ticket", &r, "%s", params), r);
    assert_true(strlen(hfx_str(r.output, "marker")) < 96);
    assert_true(strncmp(hfx_str(r.output, "marker"), "idflow-r1234567890123-a_very_long", 33) == 0);
    assert_true(strstr(hfx_str(r.output, "marker"), "-i12") != NULL);
    hfx_clear(&r);
}

static void test_message_guard(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    struct hfx_call c = {.item = -1, .run_id = 77, .step = "reply"};
    long st;
    json_t *j;
    int64_t first;

    /* a reply that lands while its answer says error */
    hfx_sbx_post(f, "/_sandbox/happyfox/error_2xx",
                 "{\"count\": 1, \"path_prefix\": \"/api/1.1/json/ticket/1/staff_update\", \"applied\": true, "
                 "\"message\": \"Internal error\"}");
    assert_int_equal(hfx_callf(f, &c, "happyfox.reply", &r, "{\"ticket\": 1, \"text\": \"Your laptop is ready\"}"),
                     IDF_EREMOTE);
    hfx_clear(&r);
    assert_int_equal(hfx_count_updates(f, 1, "idflow-marker:idflow-r77-reply:"), 1);
    c.uncertain = true;
    c.attempt = 2;
    HFX_MUST(hfx_callf(f, &c, "happyfox.reply", &r, "{\"ticket\": 1, \"text\": \"Your laptop is ready\"}"), r);
    assert_false(hfx_changed(&r));
    assert_true(json_is_true(json_object_get(r.output, "recovered")));
    first = hfx_int(r.output, "update_id");
    assert_true(first > 0);
    hfx_clear(&r);
    assert_int_equal(hfx_count_updates(f, 1, "Your laptop is ready"), 1);
    assert_int_equal(hfx_count_calls(f, "POST", "/staff_update", -1), 1);

    /* a note in a foreach item: the same, with the item in the marker */
    c.step = "note";
    c.item = 3;
    c.uncertain = false;
    c.attempt = 1;
    hfx_sbx_post(f, "/_sandbox/happyfox/error_2xx",
                 "{\"count\": 1, \"path_prefix\": \"/api/1.1/json/ticket/1/staff_pvtnote\", \"applied\": true, "
                 "\"message\": \"Internal error\"}");
    assert_int_equal(hfx_callf(f, &c, "happyfox.add_note", &r, "{\"ticket\": 1, \"text\": \"Removed from 3 groups\"}"),
                     IDF_EREMOTE);
    hfx_clear(&r);
    c.uncertain = true;
    c.attempt = 2;
    HFX_MUST(hfx_callf(f, &c, "happyfox.add_note", &r, "{\"ticket\": 1, \"text\": \"Removed from 3 groups\"}"), r);
    assert_false(hfx_changed(&r));
    hfx_clear(&r);
    assert_int_equal(hfx_count_updates(f, 1, "idflow-marker:idflow-r77-note-i3:"), 1);
    assert_int_equal(hfx_count_updates(f, 1, "Removed from 3 groups"), 1);

    /* uncertain but nothing landed: posted exactly once */
    c.item = 4;
    HFX_MUST(hfx_callf(f, &c, "happyfox.add_note", &r, "{\"ticket\": 1, \"text\": \"Item four\"}"), r);
    assert_true(hfx_changed(&r));
    hfx_clear(&r);
    assert_int_equal(hfx_count_updates(f, 1, "Item four"), 1);

    /* an account that strips the marker: the agent's newest note with the same text counts */
    j = hfx_http(f, NULL, "POST", "/api/1.1/json/ticket/1/staff_pvtnote/", "{\"staff\": 3, \"text\": \"Manual note\"}",
                 true, &st);
    assert_int_equal(st, 200);
    json_decref(j);
    c.run_id = 78;
    c.item = -1;
    HFX_MUST(hfx_callf(f, &c, "happyfox.add_note", &r, "{\"ticket\": 1, \"text\": \"Manual note\"}"), r);
    assert_false(hfx_changed(&r));
    hfx_clear(&r);
    assert_int_equal(hfx_count_updates(f, 1, "Manual note"), 1);
}

/* ------------------------------------------------------------ triggers */

static const struct conn_trigger *trigger(const char *name)
{
    for (const struct conn_trigger *t = hfc__triggers; t->name; t++) {
        if (strcmp(t->name, name) == 0)
            return t;
    }
    fail_msg("no trigger %s", name);
    return NULL;
}

static bool matches(const char *name, const char *params, const char *event)
{
    const struct conn_trigger *t = trigger(name);
    json_t *p = json_loads(params, 0, NULL), *e = json_loads(event, 0, NULL);
    bool m;

    assert_non_null(p);
    assert_non_null(e);
    m = !t->match || t->match(p, e);
    json_decref(p);
    json_decref(e);
    return m;
}

static void test_triggers(void **state)
{
    const char *ev = "{\"type\": \"happyfox.ticket_status_changed\", \"ticket\": {\"number\": 2, \"category\": "
                     "{\"id\": 3, \"name\": \"Offboarding\"}, \"status\": {\"id\": 4, \"name\": \"Solved\", "
                     "\"behavior\": \"completed\"}}, \"changes\": {\"status\": {\"from\": {\"id\": 2, \"name\": "
                     "\"Open\", \"behavior\": \"pending\"}, \"to\": {\"id\": 4, \"name\": \"Solved\", \"behavior\": "
                     "\"completed\"}}}}";
    const char *reopen = "{\"ticket\": {\"status\": {\"name\": \"Open\", \"behavior\": \"pending\"}}, \"changes\": "
                         "{\"status\": {\"from\": \"Solved\", \"to\": \"Open\"}}}";

    (void)state;
    /* registered, with the webhook and poll ingress that raises them */
    assert_non_null(registry_find_trigger(registry_default(), "happyfox.ticket_created"));
    assert_non_null(registry_find_trigger(registry_default(), "happyfox.ticket_resolved"));
    assert_non_null(hf_connector()->triggers);
    assert_non_null(hf_connector()->ingress);

    assert_true(matches("happyfox.ticket_status_changed", "{}", ev));
    assert_true(matches("happyfox.ticket_status_changed", "{\"from\": \"open\", \"to\": \"Solved\"}", ev));
    assert_true(matches("happyfox.ticket_status_changed", "{\"to\": 4}", ev));
    assert_false(matches("happyfox.ticket_status_changed", "{\"from\": \"New\"}", ev));
    assert_false(matches("happyfox.ticket_status_changed", "{}", "{\"ticket\": {}}"));
    assert_true(matches("happyfox.ticket_status_changed", "{\"from\": \"Solved\", \"to\": \"Open\"}", reopen));
    assert_true(matches("happyfox.ticket_resolved", "{}", ev));
    assert_true(matches("happyfox.ticket_resolved", "{\"category\": \"offboarding\"}", ev));
    assert_false(matches("happyfox.ticket_resolved", "{\"category\": \"Onboarding\"}", ev));
    assert_false(matches("happyfox.ticket_resolved", "{}", reopen));
    assert_true(matches("happyfox.ticket_created", "{}", ev));
    assert_true(matches("happyfox.ticket_updated", "{\"category\": 3}", ev));
}

/* ------------------------------------------------ subjects (issue 17) */

/* The label of the subject of kind whose keys hold key, or NULL. */
static const char *subject_label(const struct conn_result *r, const char *kind, const char *key)
{
    size_t i, k;
    json_t *s, *v;

    json_array_foreach(r->subjects, i, s)
    {
        if (strcmp(hfx_str(s, "kind") ? hfx_str(s, "kind") : "", kind) != 0)
            continue;
        json_array_foreach(json_object_get(s, "keys"), k, v)
        {
            if (strcmp(json_string_value(v), key) == 0)
                return hfx_str(s, "label");
        }
    }
    return NULL;
}

/* Every action reports its ticket by number and display id (and the
 * requester by email, never by name) and, when it changed the ticket, what
 * it did; a call that changed nothing reports no change. */
static void test_subjects_and_changes(void **state)
{
    struct hfx *f = *state;
    struct conn_result r;
    char disp[32], num[16], *dump;

    HFX_MUST(hfx_actf(f, "happyfox.create_ticket", &r,
                      "{\"category\": \"onboarding\", \"subject\": \"New starter\", \"text\": \"Starts Monday\", "
                      "\"email\": \"lin.chen@acme.example\", \"name\": \"Lin Chen\", \"fields\": {\"First Name\": \"Lin\", "
                      "\"Last Name\": \"Chen\", \"Email\": \"lin.chen@acme.example\", \"Department\": \"Engineering\"}}"),
             r);
    snprintf(disp, sizeof disp, "%s", hfx_str(r.output, "display_id"));
    snprintf(num, sizeof num, "%lld", (long long)hfx_int(r.output, "number"));
    assert_string_equal(subject_label(&r, "happyfox.ticket", disp), disp);
    assert_string_equal(subject_label(&r, "happyfox.ticket", num), disp);
    assert_string_equal(subject_label(&r, "happyfox.contact", "lin.chen@acme.example"), "lin.chen@acme.example");
    {
        char want[64];
        snprintf(want, sizeof want, "ticket %s created", disp);
        assert_string_equal(r.change, want);
    }
    dump = json_dumps(r.subjects, JSON_COMPACT);
    assert_null(strstr(dump, "Lin Chen")); /* identifiers only */
    free(dump);
    hfx_clear(&r);

    static const struct {
        const char *action, *params, *change; /* %s: the display id */
    } cases[] = {
        {"happyfox.add_note", "\"text\": \"checked\", \"staff\": 1", "note added to %s"},
        {"happyfox.reply", "\"text\": \"on it\", \"staff\": 1", "reply sent on %s"},
        {"happyfox.assign", "\"assignee\": \"Priya Raman\"", "ticket %s assigned"},
        {"happyfox.assign", "\"assignee\": \"Priya Raman\"", ""}, /* already: no change */
        {"happyfox.assign", "\"assignee\": \"\"", "ticket %s unassigned"},
        {"happyfox.add_tags", "\"tags\": [\"vip\"]", "tags changed on %s"},
        {"happyfox.update_custom_fields", "\"fields\": {\"First Name\": \"Linda\"}", "fields set on %s"},
        {"happyfox.set_status", "\"status\": \"Open\", \"staff\": 1", "ticket %s set to Open"},
        {"happyfox.set_status", "\"status\": \"Solved\"", "ticket %s resolved"},
        {"happyfox.set_status", "\"status\": \"Solved\"", ""}, /* converged */
        {"happyfox.get_ticket", "\"updates\": 1", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[80];
        HFX_MUST(hfx_actf(f, cases[i].action, &r, "{\"ticket\": \"%s\", %s}", i % 2 ? disp : num, cases[i].params), r);
        const char *pc = strstr(cases[i].change, "%s");
        if (pc)
            snprintf(want, sizeof want, "%.*s%s%s", (int)(pc - cases[i].change), cases[i].change, disp, pc + 2);
        else
            snprintf(want, sizeof want, "%s", cases[i].change);
        if (strcmp(r.change, want) != 0)
            fail_msg("%s %s: change '%s', expected '%s'", cases[i].action, cases[i].params, r.change, want);
        assert_non_null(subject_label(&r, "happyfox.ticket", num));
        assert_non_null(subject_label(&r, "happyfox.ticket", disp));
        hfx_clear(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connection_validate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_by_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_ticket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_note, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_assign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_custom_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_on_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_guard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_guard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_triggers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subjects_and_changes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

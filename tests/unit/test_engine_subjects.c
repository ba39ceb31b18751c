/* test_engine_subjects.c — run subjects as the engine stores them (issue 17,
 * src/engine/subjects.c): connector-reported subjects normalized into
 * store rows (keys through subject_key, malformed ones dropped, the cap),
 * the event's subjects found through the registry (by source, else by the
 * trigger's owner, knowing no connector by name), HappyFox's
 * event_subjects, and the toolkit's ctk_subject_add that actions use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "connectors/registry.h"
#include "connectors/toolkit.h"
#include "engine/subjects.h"

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad JSON %s: %s", text, je.text);
    return j;
}

/* The row of (kind, key), or NULL. */
static const struct store_subject *row(const struct engine_subjects *s, const char *kind, const char *key)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i].kind, kind) == 0 && strcmp(s->v[i].key, key) == 0)
            return &s->v[i];
    }
    return NULL;
}

static void test_keys_normalized_one_row_each(void **state)
{
    struct engine_subjects s;
    json_t *l =
        parse("[{\"kind\": \"okta.user\", \"label\": \"Jane@Acme.com\", \"keys\": [\"00u1ABC\", "
              "\" Jane@Acme.com \"]},"
              " {\"kind\": \"happyfox.ticket\", \"label\": \"#HF00000006\", \"keys\": [\"6\", \"#HF00000006\"]}]");
    char step[16];
    (void)state;

    engine_subjects_init(&s);
    snprintf(step, sizeof step, "suspend");
    assert_int_equal(engine_subjects_add(&s, l, step), 0);
    snprintf(step, sizeof step, "XXXXXXX"); /* the set keeps its own copy */
    assert_int_equal(s.n, 4);
    assert_non_null(row(&s, "okta.user", "00u1abc"));
    assert_non_null(row(&s, "okta.user", "jane@acme.com"));
    assert_string_equal(row(&s, "okta.user", "jane@acme.com")->label, "Jane@Acme.com"); /* labels as given */
    assert_string_equal(row(&s, "happyfox.ticket", "hf00000006")->label, "#HF00000006");
    assert_string_equal(row(&s, "happyfox.ticket", "6")->step_id, "suspend");
    /* the same again adds nothing; the same keys from the event (no step) are rows of their own */
    assert_int_equal(engine_subjects_add(&s, l, "suspend"), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(engine_subjects_add(&s, l, NULL), 0);
    assert_int_equal(s.n, 8);
    assert_null(s.v[7].step_id);
    engine_subjects_clear(&s);
    assert_int_equal(s.n, 0);
    json_decref(l);
}

/* What a connector reports is checked: kinds "<connector>.<what>" in
 * lower case, string keys that normalize, labels without control
 * characters (else the key is the label), at most STORE_SUBJECTS_MAX rows. */
static void test_malformed_dropped_and_capped(void **state)
{
    struct engine_subjects s;
    json_t *l =
        parse("[{\"kind\": \"Okta.User\", \"keys\": [\"a\"]}, {\"kind\": \"okta\", \"keys\": [\"b\"]},"
              " {\"kind\": \".user\", \"keys\": [\"c\"]}, {\"kind\": \"okta.\", \"keys\": [\"d\"]},"
              " {\"kind\": 5, \"keys\": [\"e\"]}, {\"keys\": [\"f\"]}, \"okta.user\", null,"
              " {\"kind\": \"okta.user\", \"keys\": \"g\"},"
              " {\"kind\": \"okta.user\", \"label\": \"x\\ny\", \"keys\": [7, \"\", \"  \", \"#\", \"bad\\u0001key\","
              " \"ok@acme.com\"]}]");
    json_t *many = json_array(), *keys = json_array();
    char label[400];
    (void)state;

    engine_subjects_init(&s);
    assert_int_equal(engine_subjects_add(&s, l, NULL), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.v[0].key, "ok@acme.com");
    assert_string_equal(s.v[0].label, "ok@acme.com"); /* "x\ny" is no label */
    assert_int_equal(engine_subjects_add(&s, NULL, NULL), 0);
    {
        json_t *o = json_object();
        assert_int_equal(engine_subjects_add(&s, o, NULL), 0); /* not an array: nothing */
        json_decref(o);
    }
    assert_int_equal(s.n, 1);
    engine_subjects_clear(&s);

    /* a label is cut at a character, never inside one */
    memset(label, 'a', sizeof label);
    memcpy(label + ENGINE_SUBJECT_LABEL_MAX - 2, "\xc3\xa9", 2); /* é across the cut */
    label[sizeof label - 1] = '\0';
    json_array_append_new(keys, json_string("k"));
    json_array_append_new(many, json_pack("{s:s,s:s,s:O}", "kind", "okta.user", "label", label, "keys", keys));
    assert_int_equal(engine_subjects_add(&s, many, NULL), 0);
    assert_int_equal(strlen(s.v[0].label), ENGINE_SUBJECT_LABEL_MAX - 2);
    engine_subjects_clear(&s);
    json_decref(many);
    json_decref(keys);

    /* the cap */
    keys = json_array();
    for (int i = 0; i < STORE_SUBJECTS_MAX + 30; i++) {
        char k[16];
        snprintf(k, sizeof k, "u%d", i);
        json_array_append_new(keys, json_string(k));
    }
    many = json_pack("[{s:s,s:O}]", "kind", "okta.user", "keys", keys);
    assert_int_equal(engine_subjects_add(&s, many, "a"), 0);
    assert_int_equal(s.n, STORE_SUBJECTS_MAX);
    assert_int_equal(engine_subjects_add(&s, many, "b"), 0);
    assert_int_equal(s.n, STORE_SUBJECTS_MAX);
    engine_subjects_clear(&s);
    json_decref(many);
    json_decref(keys);
    json_decref(l);
}

/* The event's connector is found through the registry: by the event's
 * source, else (an `idflow run` event file) by the owner of its trigger;
 * events of no connector with event_subjects have none. */
static void test_event_subjects_through_the_registry(void **state)
{
    const struct registry *reg = registry_default();
    struct engine_subjects s;
    json_t *hf =
        parse("{\"id\": \"hf:6:created\", \"type\": \"happyfox.ticket_created\", \"ticket\": {\"number\": 6,"
              " \"display_id\": \"#HF00000006\", \"subject\": \"Laptop\", \"requester\": {\"id\": 3, \"email\":"
              " \"Jane@Acme.com\", \"name\": \"Jane Doe\", \"phone\": \"555-0100\"}}}");
    json_t *ok = parse("{\"type\": \"okta.user_locked\", \"user\": {\"id\": \"00u1\", \"login\": \"jane@acme.com\","
                       " \"name\": \"Jane Doe\", \"type\": \"User\"}, \"group\": null, \"app\": null}");
    (void)state;

    engine_subjects_init(&s);
    assert_int_equal(engine_subjects_of_event(&s, reg, "happyfox", "happyfox.ticket_created", hf), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(row(&s, "happyfox.ticket", "6")->label, "#HF00000006");
    assert_non_null(row(&s, "happyfox.ticket", "hf00000006"));
    assert_string_equal(row(&s, "happyfox.contact", "jane@acme.com")->label, "Jane@Acme.com");
    for (size_t i = 0; i < s.n; i++) { /* a name or a phone is never a subject */
        assert_null(strstr(s.v[i].label, "Jane Doe"));
        assert_null(strstr(s.v[i].key, "555"));
    }
    engine_subjects_clear(&s);

    /* `idflow run`: source "cli", the connector is the trigger's */
    assert_int_equal(engine_subjects_of_event(&s, reg, "cli", "okta.user_locked", ok), 0);
    assert_int_equal(s.n, 2);
    assert_non_null(row(&s, "okta.user", "00u1"));
    assert_string_equal(row(&s, "okta.user", "jane@acme.com")->label, "jane@acme.com");
    engine_subjects_clear(&s);

    /* manual, schedule, unknown: nothing */
    assert_int_equal(engine_subjects_of_event(&s, reg, "manual", "manual", ok), 0);
    assert_int_equal(engine_subjects_of_event(&s, reg, "schedule", "schedule", ok), 0);
    assert_int_equal(engine_subjects_of_event(&s, reg, "nope", "nope.event", ok), 0);
    assert_int_equal(engine_subjects_of_event(&s, reg, "okta", "okta.user_locked", NULL), 0);
    assert_int_equal(s.n, 0);
    json_decref(hf);
    json_decref(ok);
}

/* ctk_subject_add: one subject per object, keys merged, empty keys skipped. */
static void test_toolkit_subject_add(void **state)
{
    struct conn_result r;
    const char *k1[] = {"00u1", "jane@acme.com"};
    const char *k2[] = {"jane@acme.com", "jane.doe@acme.com", NULL, ""};
    const char *k3[] = {NULL, ""};
    const char *k4[] = {"00g1", "Finance"};
    (void)state;

    memset(&r, 0, sizeof r);
    assert_int_equal(ctk_subject_add(&r, "okta.user", NULL, k3, 2), 0);
    assert_null(r.subjects); /* nothing to find it by */
    assert_int_equal(ctk_subject_add(&r, "okta.user", NULL, k1, 2), 0);
    assert_int_equal(ctk_subject_add(&r, "okta.user", "jane@acme.com", k2, 4), 0);
    assert_int_equal(ctk_subject_add(&r, "okta.group", "Finance", k4, 2), 0);
    assert_int_equal(json_array_size(r.subjects), 2);
    assert_int_equal(json_array_size(json_object_get(json_array_get(r.subjects, 0), "keys")), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.subjects, 0), "label")), "00u1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.subjects, 1), "label")), "Finance");
    json_decref(r.subjects);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_normalized_one_row_each),
        cmocka_unit_test(test_malformed_dropped_and_capped),
        cmocka_unit_test(test_event_subjects_through_the_registry),
        cmocka_unit_test(test_toolkit_subject_add),
    };
    return cmocka_run_group_tests_name("test_engine_subjects", tests, NULL, NULL);
}

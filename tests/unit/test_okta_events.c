/* test_okta_events.c — normalization of Okta LogEvents into idflow events
 * (src/connectors/okta/events.c) and the okta triggers' matching
 * (triggers.c): every sample in tests/data/okta-samples/ (copied from
 * shared/okta/samples, see its README) and the edge cases the samples do
 * not cover (odd casing, failed outcomes, missing uuid, caps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "connectors/okta/events.h"
#include "support/testutil.h"

extern const struct connector connector_okta;

static json_t *load_sample(const char *name)
{
    const char *src = getenv("IDFLOW_SRC");
    char path[600];
    json_error_t jerr;
    json_t *j;
    snprintf(path, sizeof path, "%s/tests/data/okta-samples/%s", src ? src : ".", name);
    j = json_load_file(path, 0, &jerr);
    if (!j)
        fail_msg("%s: %s", path, jerr.text);
    return j;
}

static json_t *normalize_one(const json_t *logevent)
{
    json_t *out = NULL;
    char msg[200];
    assert_int_equal(oktac__event_normalize(logevent, &out, msg, sizeof msg), 0);
    assert_non_null(out);
    return out;
}

/* The events of a delivery, normalized as the hook does. */
static json_t *normalize_delivery(const json_t *delivery)
{
    json_t *out = NULL;
    char msg[200];
    assert_int_equal(
        oktac__events_normalize(json_object_get(json_object_get(delivery, "data"), "events"), &out, msg, sizeof msg),
        0);
    return out;
}

static const char *sget(const json_t *o, const char *path)
{
    /* "user.login" -> o.user.login */
    char buf[100], *save = NULL, *tok;
    const json_t *v = o;
    snprintf(buf, sizeof buf, "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
        v = json_object_get(v, tok);
    return json_string_value(v);
}

static void assert_null_member(const json_t *o, const char *k)
{
    assert_true(json_is_null(json_object_get(o, k)));
}

static void test_sample01_session_start_is_okta_event(void **state)
{
    json_t *d = load_sample("01-eventhook-delivery-user.session.start.okta-docs.json");
    json_t *evs = normalize_delivery(d);
    json_t *e;
    (void)state;
    assert_int_equal(json_array_size(evs), 1);
    e = json_array_get(evs, 0);
    assert_string_equal(sget(e, "id"), "f1d0b993-cc19-11ed-a688-db22c99ef6c4");
    assert_string_equal(sget(e, "type"), "okta.event");
    assert_string_equal(sget(e, "event_type"), "user.session.start");
    assert_string_equal(sget(e, "time"), "2023-03-26T21:05:32.159Z");
    /* no User target: best effort, the signing-in actor */
    assert_string_equal(sget(e, "user.login"), "admin@okta.com");
    assert_string_equal(sget(e, "actor.id"), "00uz9fj5aT69fHVro1d6");
    assert_string_equal(sget(e, "app.name"), "Okta Admin Console");
    assert_string_equal(sget(e, "app.id"), "0oaz9fj21WKqTeaqs1d6");
    assert_null_member(e, "group");
    assert_null_member(e, "changes");
    assert_null_member(e, "api_token_id");
    assert_string_equal(sget(e, "outcome.result"), "SUCCESS");
    assert_string_equal(sget(e, "raw.uuid"), "f1d0b993-cc19-11ed-a688-db22c99ef6c4");
    json_decref(evs);
    json_decref(d);
}

static void check_deactivate(const json_t *e)
{
    assert_string_equal(sget(e, "id"), "ab62c0bc-2837-11eb-9823-9fb8f750c5a9");
    assert_string_equal(sget(e, "type"), "okta.user_deactivated");
    assert_string_equal(sget(e, "user.id"), "00u3m90rxKjGQ0G6L1d6");
    assert_string_equal(sget(e, "user.login"), "john.doe@example.com");
    assert_string_equal(sget(e, "user.name"), "John Doe");
    assert_string_equal(sget(e, "actor.login"), "okta.trainer@okta.com");
    assert_null_member(e, "group");
    assert_null_member(e, "app");
    assert_string_equal(sget(e, "raw.legacyEventType"), "core.user.config.user_deactivated");
}

static void test_sample02_deactivate(void **state)
{
    json_t *le = load_sample("02-logevent-user.lifecycle.deactivate.okta-docs.json");
    json_t *e = normalize_one(le);
    (void)state;
    check_deactivate(e);
    json_decref(e);
    json_decref(le);
}

static void test_sample03_deactivate_delivery(void **state)
{
    json_t *d = load_sample("03-eventhook-delivery-user.lifecycle.deactivate.RECONSTRUCTED.json");
    json_t *evs = normalize_delivery(d);
    (void)state;
    assert_int_equal(json_array_size(evs), 1);
    check_deactivate(json_array_get(evs, 0));
    json_decref(evs);
    json_decref(d);
}

static void test_sample04_group_add_targets_by_type(void **state)
{
    json_t *le = load_sample("04-logevent-group.user_membership.add.demisto-content.json");
    json_t *e, *rev;
    (void)state;
    e = normalize_one(le);
    assert_string_equal(sget(e, "type"), "okta.user_added_to_group");
    assert_string_equal(sget(e, "user.id"), "00ued6gq9jItNhAsN0h7");
    assert_string_equal(sget(e, "user.login"), "test@this.com");
    assert_string_equal(sget(e, "group.id"), "00g8mo0l5wuTxmoIC0h7");
    assert_string_equal(sget(e, "group.name"), "test1");
    assert_string_equal(sget(e, "actor.login"), "actor@org.com");
    json_decref(e);
    /* the same event with its targets in the other order: found by type, not position */
    rev = json_array();
    json_array_append(rev, json_array_get(json_object_get(le, "target"), 1));
    json_array_append(rev, json_array_get(json_object_get(le, "target"), 0));
    json_object_set_new(le, "target", rev);
    e = normalize_one(le);
    assert_string_equal(sget(e, "user.login"), "test@this.com");
    assert_string_equal(sget(e, "group.name"), "test1");
    json_decref(e);
    json_decref(le);
}

static void test_sample05_preview_null_actor_target(void **state)
{
    json_t *d = load_sample("05-eventhook-delivery-group.user_membership.add.preview-aws-sample.json");
    json_t *evs = normalize_delivery(d);
    json_t *e;
    (void)state;
    assert_int_equal(json_array_size(evs), 1);
    e = json_array_get(evs, 0);
    assert_string_equal(sget(e, "id"), "def83a9d-9487-42bf-b6ae-de748ebdb19c");
    /* "Success" (odd casing) is a success: the dedicated trigger */
    assert_string_equal(sget(e, "type"), "okta.user_added_to_group");
    assert_string_equal(sget(e, "outcome.result"), "SUCCESS");
    assert_null_member(e, "user");
    assert_null_member(e, "group");
    assert_null_member(e, "actor");
    assert_null_member(e, "app");
    assert_null_member(e, "changes");
    assert_null_member(e, "api_token_id"); /* transaction.detail is null */
    json_decref(evs);
    json_decref(d);
}

static void test_sample06_lock_user_is_actor(void **state)
{
    json_t *le = load_sample("06-logevent-user.account.lock.google-secops-sample.json");
    json_t *e = normalize_one(le);
    (void)state;
    assert_string_equal(sget(e, "type"), "okta.user_locked");
    assert_string_equal(sget(e, "user.id"), "00u4j7xcb5N6zfiRP5d8");
    assert_string_equal(sget(e, "user.login"), "mark.taylor@cymbal-investments.org");
    assert_string_equal(sget(e, "actor.login"), "mark.taylor@cymbal-investments.org");
    assert_string_equal(sget(e, "outcome.result"), "FAILURE");
    assert_string_equal(sget(e, "outcome.reason"), "LOCKED_OUT");
    assert_true(json_is_null(json_object_get(json_object_get(e, "raw"), "target")));
    json_decref(e);
    json_decref(le);
}

static void test_sample07_batch_of_two(void **state)
{
    json_t *d = load_sample("07-eventhook-delivery-user.lifecycle.activate+update_profile.RECONSTRUCTED.json");
    json_t *evs = normalize_delivery(d);
    json_t *a, *b;
    (void)state;
    assert_int_equal(json_array_size(evs), 2);
    a = json_array_get(evs, 0);
    b = json_array_get(evs, 1);
    assert_string_equal(sget(a, "type"), "okta.user_activated");
    assert_string_equal(sget(a, "id"), "2f1e0d9c-8b7a-11ee-9c1d-0123456789ab");
    assert_string_equal(sget(a, "user.login"), "john.doe@example.com");
    assert_string_equal(sget(a, "api_token_id"), "00T94e3cn9kSEO3c51s5");
    assert_string_equal(sget(b, "type"), "okta.user_profile_updated");
    assert_string_equal(sget(b, "id"), "3a2b1c0d-8b7a-11ee-9c1d-0123456789ab");
    assert_string_equal(sget(b, "user.id"), "00u3m90rxKjGQ0G6L1d6");
    assert_null_member(b, "changes"); /* the sample carries no changeDetails */
    json_decref(evs);
    json_decref(d);
}

/* ------------------------------------------------------------ edge cases */

static json_t *mk(const char *etype, const char *result)
{
    return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s},s:{s:s?},s:[{s:s,s:s,s:s,s:s}]}", "uuid", "u-1", "eventType",
                     etype, "published", "2024-01-01T00:00:00.000Z", "actor", "id", "00uadmin", "type", "User",
                     "alternateId", "admin@x.com", "displayName", "Admin", "outcome", "result", result, "target",
                     "id", "00utarget", "type", "user", "alternateId", "t@x.com", "displayName", "T");
}

static void test_every_trigger_mapping(void **state)
{
    static const char *const pairs[][2] = {
        {"user.lifecycle.create", "okta.user_created"},
        {"user.lifecycle.activate", "okta.user_activated"},
        {"user.lifecycle.reactivate", "okta.user_reactivated"},
        {"user.lifecycle.deactivate", "okta.user_deactivated"},
        {"user.lifecycle.suspend", "okta.user_suspended"},
        {"user.lifecycle.unsuspend", "okta.user_unsuspended"},
        {"user.account.update_profile", "okta.user_profile_updated"},
        {"user.account.lock", "okta.user_locked"},
        {"user.account.unlock", "okta.user_unlocked"},
        {"user.account.unlock_by_admin", "okta.user_unlocked"},
        {"user.account.reset_password", "okta.password_reset"},
        {"group.user_membership.add", "okta.user_added_to_group"},
        {"group.user_membership.remove", "okta.user_removed_from_group"},
        {"application.user_membership.add", "okta.user_assigned_to_app"},
        {"application.user_membership.remove", "okta.user_unassigned_from_app"},
        {"USER.Lifecycle.SUSPEND", "okta.user_suspended"},
        {"user.session.start", "okta.event"},
        {"something.new.from.okta", "okta.event"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        json_t *le = mk(pairs[i][0], "SUCCESS");
        json_t *e = normalize_one(le);
        assert_string_equal(sget(e, "type"), pairs[i][1]);
        /* every trigger name raised is a registered trigger */
        assert_non_null(registry_find_trigger(registry_default(), pairs[i][1]));
        /* the target type is matched case-insensitively ("user") */
        if (strcmp(pairs[i][1], "okta.user_locked") != 0)
            assert_string_equal(sget(e, "user.login"), "t@x.com");
        else
            assert_string_equal(sget(e, "user.login"), "admin@x.com");
        json_decref(e);
        json_decref(le);
    }
}

static void test_failed_outcome_is_not_the_change(void **state)
{
    json_t *le = mk("user.lifecycle.deactivate", "FAILURE");
    json_t *e = normalize_one(le);
    (void)state;
    assert_string_equal(sget(e, "type"), "okta.event");
    assert_string_equal(sget(e, "event_type"), "user.lifecycle.deactivate");
    json_decref(e);
    json_decref(le);
    le = mk("user.account.lock", "failure"); /* lock is always a failure outcome */
    e = normalize_one(le);
    assert_string_equal(sget(e, "type"), "okta.user_locked");
    json_decref(e);
    json_decref(le);
}

static void test_changes_from_change_details(void **state)
{
    json_t *le = mk("user.account.update_profile", "SUCCESS");
    json_t *e;
    (void)state;
    json_object_set_new(json_array_get(json_object_get(le, "target"), 0), "changeDetails",
                        json_pack("{s:{s:s,s:s},s:{s:s,s:s}}", "from", "department", "Sales", "title", "Rep", "to",
                                  "department", "Engineering", "manager", "m@x.com"));
    e = normalize_one(le);
    assert_string_equal(sget(e, "changes.department.from"), "Sales");
    assert_string_equal(sget(e, "changes.department.to"), "Engineering");
    assert_true(json_is_null(json_object_get(json_object_get(json_object_get(e, "changes"), "manager"), "from")));
    assert_string_equal(sget(e, "changes.manager.to"), "m@x.com");
    assert_string_equal(sget(e, "changes.title.from"), "Rep");
    assert_true(json_is_null(json_object_get(json_object_get(json_object_get(e, "changes"), "title"), "to")));
    json_decref(e);
    json_decref(le);
}

static void test_lock_without_actor_falls_back_to_target(void **state)
{
    json_t *le = mk("user.account.lock", "FAILURE");
    json_t *e;
    (void)state;
    json_object_set_new(le, "actor", json_null());
    e = normalize_one(le);
    assert_string_equal(sget(e, "user.login"), "t@x.com");
    assert_null_member(e, "actor");
    json_decref(e);
    json_decref(le);
}

static void test_bad_events(void **state)
{
    json_t *out = NULL, *le, *list;
    char msg[200];
    (void)state;
    le = json_pack("{s:s}", "eventType", "user.account.lock");
    assert_int_equal(oktac__event_normalize(le, &out, msg, sizeof msg), IDF_EINVAL);
    assert_null(out);
    assert_non_null(strstr(msg, "uuid"));
    json_decref(le);
    le = json_string("not an object");
    assert_int_equal(oktac__event_normalize(le, &out, msg, sizeof msg), IDF_EINVAL);
    json_decref(le);
    /* a wholly empty object with a uuid: still normalizes, everything null */
    le = json_pack("{s:s}", "uuid", "only-uuid");
    out = normalize_one(le);
    assert_string_equal(sget(out, "type"), "okta.event");
    assert_null_member(out, "event_type");
    assert_null_member(out, "user");
    assert_null_member(out, "outcome");
    json_decref(out);
    json_decref(le);
    /* in a batch, bad items are skipped, good ones kept */
    list = json_pack("[n,i,{s:s},{s:s,s:s}]", 3, "eventType", "x", "uuid", "good", "eventType",
                     "user.lifecycle.activate");
    assert_int_equal(oktac__events_normalize(list, &out, msg, sizeof msg), 0);
    assert_int_equal(json_array_size(out), 1);
    assert_string_equal(sget(json_array_get(out, 0), "id"), "good");
    json_decref(out);
    json_decref(list);
    /* not an array */
    list = json_object();
    assert_int_equal(oktac__events_normalize(list, &out, msg, sizeof msg), IDF_EINVAL);
    json_decref(list);
    /* over the cap */
    list = json_array();
    for (int i = 0; i <= CONN_INGRESS_MAX_EVENTS; i++)
        json_array_append_new(list, json_pack("{s:s}", "uuid", "x"));
    assert_int_equal(oktac__events_normalize(list, &out, msg, sizeof msg), IDF_ETOOBIG);
    assert_null(out);
    json_decref(list);
}

/* --------------------------------------------------------------- matching */

static void test_trigger_matching(void **state)
{
    const struct conn_trigger *locked = registry_find_trigger(registry_default(), "okta.user_locked");
    const struct conn_trigger *any = registry_find_trigger(registry_default(), "okta.event");
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s}", "type", "okta.event", "event_type", "user.session.start",
                           "connection", "okta-prod", "api_token_id", "00Tmine");
    json_t *p;
    (void)state;
    assert_non_null(locked);
    assert_non_null(any);
    assert_non_null(connector_okta.ingress);
    assert_non_null(connector_okta.ingress->hook);
    assert_non_null(connector_okta.ingress->poll);

    p = json_pack("{s:s}", "type", "user.session.start");
    assert_true(any->match(p, ev));
    json_decref(p);
    p = json_pack("{s:s}", "type", "USER.SESSION.*");
    assert_true(any->match(p, ev));
    json_decref(p);
    p = json_pack("{s:s}", "type", "user.session.end");
    assert_false(any->match(p, ev));
    json_decref(p);
    p = json_pack("{s:s,s:s}", "type", "user.session.start", "connection", "okta-test");
    assert_false(any->match(p, ev));
    json_decref(p);

    p = json_object();
    assert_true(locked->match(p, ev));
    json_decref(p);
    p = json_pack("{s:s}", "connection", "okta-prod");
    assert_true(locked->match(p, ev));
    json_decref(p);
    p = json_pack("{s:s}", "connection", "other");
    assert_false(locked->match(p, ev));
    json_decref(p);
    /* loop prevention: an event marked as caused by the connection's own token */
    p = json_pack("{s:b}", "ignore_own_token", 1);
    assert_true(locked->match(p, ev));
    json_object_set_new(ev, "own_token", json_true());
    assert_false(locked->match(p, ev));
    json_decref(p);
    p = json_object();
    assert_true(locked->match(p, ev));
    json_decref(p);
    json_decref(ev);
}

/* ---- subjects (issue 17): connector_okta.event_subjects ---- */

/* The subject of kind in list (an array), or NULL. */
static const json_t *subject_of(const json_t *list, const char *kind)
{
    size_t i;
    const json_t *s;
    json_array_foreach(list, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "kind")), kind) == 0)
            return s;
    }
    return NULL;
}

static json_t *subjects_of(const json_t *event)
{
    json_t *out = json_array();
    assert_non_null(connector_okta.event_subjects);
    assert_int_equal(connector_okta.event_subjects(event, out), 0);
    return out;
}

static void test_event_subjects(void **state)
{
    json_t *le = load_sample("04-logevent-group.user_membership.add.demisto-content.json");
    json_t *e = normalize_one(le), *subj;
    const json_t *u, *g;
    char *dump;
    (void)state;

    subj = subjects_of(e);
    assert_int_equal(json_array_size(subj), 2); /* the user and the group; no app */
    u = subject_of(subj, "okta.user");
    assert_string_equal(json_string_value(json_object_get(u, "label")), "test@this.com");
    assert_string_equal(json_string_value(json_array_get(json_object_get(u, "keys"), 0)), "00ued6gq9jItNhAsN0h7");
    assert_string_equal(json_string_value(json_array_get(json_object_get(u, "keys"), 1)), "test@this.com");
    g = subject_of(subj, "okta.group");
    assert_string_equal(json_string_value(json_object_get(g, "label")), "test1");
    assert_string_equal(json_string_value(json_array_get(json_object_get(g, "keys"), 0)), "00g8mo0l5wuTxmoIC0h7");
    assert_string_equal(json_string_value(json_array_get(json_object_get(g, "keys"), 1)), "test1");
    /* identifiers only: the user's display name stays out */
    dump = json_dumps(subj, JSON_COMPACT);
    assert_null(strstr(dump, sget(e, "user.name") ? sget(e, "user.name") : "\x01"));
    free(dump);
    json_decref(subj);
    json_decref(e);
    json_decref(le);

    /* the locked user (the actor) of user.account.lock */
    le = load_sample("06-logevent-user.account.lock.google-secops-sample.json");
    e = normalize_one(le);
    subj = subjects_of(e);
    assert_int_equal(json_array_size(subj), 1);
    assert_string_equal(json_string_value(json_object_get(subject_of(subj, "okta.user"), "label")),
                        "mark.taylor@cymbal-investments.org");
    json_decref(subj);
    json_decref(e);
    json_decref(le);

    /* an app, and an acting client that is not a person: no user subject */
    e = json_pack("{s:{s:s,s:s,s:s}, s:n, s:{s:s,s:s,s:s}}", "user", "id", "0oaClient", "login", "client",
                  "type", "PublicClientApp", "group", "app", "id", "0oa1", "name", "slack", "label", "Slack");
    subj = subjects_of(e);
    assert_int_equal(json_array_size(subj), 1);
    assert_string_equal(json_string_value(json_object_get(subject_of(subj, "okta.app"), "label")), "Slack");
    assert_int_equal(json_array_size(json_object_get(subject_of(subj, "okta.app"), "keys")), 3);
    json_decref(subj);
    json_decref(e);

    /* nothing named: nothing appended */
    e = json_pack("{s:n, s:n, s:n}", "user", "group", "app");
    subj = subjects_of(e);
    assert_int_equal(json_array_size(subj), 0);
    json_decref(subj);
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample01_session_start_is_okta_event),
        cmocka_unit_test(test_sample02_deactivate),
        cmocka_unit_test(test_sample03_deactivate_delivery),
        cmocka_unit_test(test_sample04_group_add_targets_by_type),
        cmocka_unit_test(test_sample05_preview_null_actor_target),
        cmocka_unit_test(test_sample06_lock_user_is_actor),
        cmocka_unit_test(test_sample07_batch_of_two),
        cmocka_unit_test(test_every_trigger_mapping),
        cmocka_unit_test(test_failed_outcome_is_not_the_change),
        cmocka_unit_test(test_changes_from_change_details),
        cmocka_unit_test(test_lock_without_actor_falls_back_to_target),
        cmocka_unit_test(test_bad_events),
        cmocka_unit_test(test_trigger_matching),
        cmocka_unit_test(test_event_subjects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

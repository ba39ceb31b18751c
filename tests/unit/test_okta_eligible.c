/* test_okta_eligible.c — Okta's list of hook-eligible event types
 * (src/connectors/okta/eligible.c, the data in event-hook-eligible.txt) and
 * what the okta connector does with it: which event types a hook subscribes
 * (events.c, oktac__event_types_for) and when a hook-only connection can
 * never receive a trigger's events (oktac__reachable). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "connectors/okta/eligible.h"
#include "connectors/okta/events.h"
#include "support/testutil.h"

static void test_list_is_okta_release(void **state)
{
    struct oktac_eligible e;
    size_t n = oktac_event_hook_eligible_count(), beta = 0;
    const char *src = getenv("IDFLOW_SRC");
    char path[600], *txt;
    (void)state;

    assert_int_equal(n, 314); /* release 2026.08.1: 314 of 1274 types */
    for (size_t i = 0; i < n; i++) {
        assert_true(oktac_event_hook_eligible_at(i, &e));
        assert_true(strlen(e.type) > 2 && strlen(e.type) < OKTAC_ELIGIBLE_MAX_TYPE);
        assert_non_null(strchr(e.type, '.'));
        assert_int_equal(strspn(e.type, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._"),
                         strlen(e.type));
        beta += e.beta;
    }
    assert_false(oktac_event_hook_eligible_at(n, &e));
    assert_int_equal(beta, 50);
    /* the header names the source and the release the code quotes */
    snprintf(path, sizeof path, "%s/src/connectors/okta/event-hook-eligible.txt", src ? src : ".");
    txt = tu_read_file(path, NULL);
    assert_non_null(txt);
    assert_non_null(strstr(txt, "okta/okta-developer-docs"));
    assert_non_null(strstr(txt, "catalog release " OKTAC_ELIGIBLE_RELEASE));
    free(txt);
}

static void test_lookup(void **state)
{
    struct oktac_eligible e;
    (void)state;

    /* eligible, every type a dedicated trigger maps to among them */
    static const char *const yes[] = {"user.lifecycle.create", "user.account.lock", "user.account.unlock_by_admin",
                                      "group.user_membership.add", "application.user_membership.remove",
                                      "user.session.start", "user.authentication.sso"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        assert_true(oktac_event_hook_eligible(yes[i], &e));
        assert_string_equal(e.type, yes[i]);
        assert_false(e.beta);
    }
    /* in Okta's catalog but not hook-eligible, and unknown */
    static const char *const no[] = {"policy.evaluate_sign_on",        "user.account.expire_password",
                                     "user.account.lock.limit",        "user.lifecycle.delete.completed",
                                     "event_hook.delivery",            "user.authentication.verify",
                                     "no.such.type",                   "user.lifecycle",
                                     "user.lifecycle.create.extra",    "user.lifecycle.creat"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(oktac_event_hook_eligible(no[i], &e));
    /* case: compared without regard to it; Okta's spelling comes back */
    assert_true(oktac_event_hook_eligible("USER.Lifecycle.CREATE", &e));
    assert_string_equal(e.type, "user.lifecycle.create");
    assert_true(oktac_event_hook_eligible("user.authentication.auth_via_idp", &e));
    assert_string_equal(e.type, "user.authentication.auth_via_IDP");
    /* beta types are eligible and flagged; the " beta" marker is not part of the name */
    assert_true(oktac_event_hook_eligible("user.chrome.data.clear", &e));
    assert_string_equal(e.type, "user.chrome.data.clear");
    assert_true(e.beta);
    assert_false(oktac_event_hook_eligible("user.chrome.data.clear beta", NULL));
    /* no info wanted; bad input */
    assert_true(oktac_event_hook_eligible("user.session.start", NULL));
    assert_false(oktac_event_hook_eligible(NULL, &e));
    assert_false(oktac_event_hook_eligible("", &e));
    {
        char big[OKTAC_ELIGIBLE_MAX_TYPE + 40];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        assert_false(oktac_event_hook_eligible(big, &e));
    }
}

/* The event types a hook subscribes: eligible ones only, in Okta's spelling;
 * the others are reported as left to polling. */
static void test_subscription_leaves_out_ineligible(void **state)
{
    json_t *types = json_array(), *left = json_array(), *p;
    (void)state;

    p = json_pack("{s:s}", "type", "policy.evaluate_sign_on");
    assert_true(oktac__event_types_for("okta.event", p, types, left));
    json_decref(p);
    p = json_pack("{s:s}", "type", "user.authentication.auth_via_idp");
    assert_true(oktac__event_types_for("okta.event", p, types, left));
    json_decref(p);
    p = json_pack("{s:s}", "type", "User.Account.Expire_Password");
    assert_true(oktac__event_types_for("okta.event", p, types, left));
    json_decref(p);
    assert_true(oktac__event_types_for("okta.user_unlocked", NULL, types, left));
    assert_true(oktac__event_types_for("okta.user_locked", NULL, types, NULL));
    /* a prefix cannot be subscribed at all */
    p = json_pack("{s:s}", "type", "user.session.*");
    assert_false(oktac__event_types_for("okta.event", p, types, left));
    json_decref(p);

    assert_int_equal(json_array_size(types), 4);
    assert_string_equal(json_string_value(json_array_get(types, 0)), "user.authentication.auth_via_IDP");
    assert_string_equal(json_string_value(json_array_get(types, 1)), "user.account.unlock");
    assert_string_equal(json_string_value(json_array_get(types, 2)), "user.account.unlock_by_admin");
    assert_string_equal(json_string_value(json_array_get(types, 3)), "user.account.lock");
    assert_int_equal(json_array_size(left), 2);
    assert_string_equal(json_string_value(json_array_get(left, 0)), "policy.evaluate_sign_on");
    assert_string_equal(json_string_value(json_array_get(left, 1)), "User.Account.Expire_Password");
    json_decref(types);
    json_decref(left);
}

/* A hook-only connection never receives an ineligible type (or a prefix);
 * poll and both do, through the System Log. */
static void test_reachable(void **state)
{
    json_t *hook = json_pack("{s:s}", "url", "https://acme.okta.com"); /* no mode: hook */
    json_t *hook2 = json_pack("{s:s}", "mode", "HOOK");
    json_t *both = json_pack("{s:s}", "mode", "both"), *poll = json_pack("{s:s}", "mode", "poll");
    json_t *bad = json_pack("{s:s}", "type", "policy.evaluate_sign_on");
    json_t *good = json_pack("{s:s}", "type", "user.authentication.sso");
    json_t *prefix = json_pack("{s:s}", "type", "user.session.*");
    char msg[600];
    (void)state;

    msg[0] = '\0';
    assert_false(oktac__reachable(hook, "okta.event", bad, msg, sizeof msg));
    assert_non_null(strstr(msg, "'policy.evaluate_sign_on' is not eligible for event hooks"));
    assert_non_null(strstr(msg, "mode to both (or poll)"));
    assert_false(oktac__reachable(hook2, "okta.event", bad, msg, sizeof msg));
    assert_true(oktac__reachable(both, "okta.event", bad, msg, sizeof msg));
    assert_true(oktac__reachable(poll, "okta.event", bad, msg, sizeof msg));
    assert_true(oktac__reachable(hook, "okta.event", good, msg, sizeof msg));
    assert_true(oktac__reachable(hook, "okta.user_locked", NULL, msg, sizeof msg));
    assert_false(oktac__reachable(hook, "okta.event", prefix, msg, sizeof msg));
    assert_non_null(strstr(msg, "'user.session.*' is a prefix"));
    assert_true(oktac__reachable(both, "okta.event", prefix, msg, sizeof msg));
    json_decref(hook);
    json_decref(hook2);
    json_decref(both);
    json_decref(poll);
    json_decref(bad);
    json_decref(good);
    json_decref(prefix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_is_okta_release),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_subscription_leaves_out_ineligible),
        cmocka_unit_test(test_reachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

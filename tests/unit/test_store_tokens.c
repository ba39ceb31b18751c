/* test_store_tokens.c — contract tests of the store's API tokens (store.h
 * "API tokens") and of crypto/token.h, against the public API only: a
 * token's shape and hash, lookup by hash with expiry, the throttled time of
 * last use, unique names, revocation, the audit record of each change in
 * the same transaction, no hash in a listing, the permanent "initialized"
 * mark and the last admin token's protection.
 *
 * Backend: IDFLOW_TEST_STORE_URL selects the database ("%s" replaced by a
 * name unique to each test, support/storeurl.h); unset, each test gets a
 * fresh SQLite file. upgrade_marks_a_store_that_had_tokens rewinds an SQLite
 * file to schema 4 with sqlite3 itself: it is SQLite's migration test, run
 * only on the SQLite fixture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "crypto/token.h"
#include "store/store.h"
#include "support/storeurl.h"
#include "support/testutil.h"

#define OK(x) assert_int_equal((x), 0)
#define T0 1790000000000LL /* a fixed "now" in ms */
#define DAY (24LL * 3600 * 1000)

struct fx {
    char *dir;      /* the SQLite fixture's temp dir; NULL with IDFLOW_TEST_STORE_URL */
    char url[1024]; /* the database of this test */
    struct store *s;
};

static int setup(void **state)
{
    static int n;
    struct fx *f = calloc(1, sizeof *f);
    const char *tmpl = getenv("IDFLOW_TEST_STORE_URL");
    char name[64];
    struct idf_err err;

    if (!f)
        return -1;
    if (tmpl && *tmpl) {
        snprintf(name, sizeof name, "tok_%d_%d", (int)getpid(), n++);
        if (tu_store_url(tmpl, name, f->url, sizeof f->url))
            return -1;
    } else {
        f->dir = tu_mktemp_dir();
        snprintf(f->url, sizeof f->url, "sqlite:%s/idflow.db", f->dir);
    }
    if (store_open(f->url, &f->s, &err)) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    if (f->dir)
        tu_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static size_t audit_count(struct store *s)
{
    struct store_audit *l = NULL;
    size_t n = 0;
    OK(store_audit_list(s, 1000, &l, &n));
    store_audit_list_free(l, n);
    return n;
}

static void tokens_are_random_well_formed_and_hashed(void **state)
{
    char a[TOKEN_LEN + 1], b[TOKEN_LEN + 1], ha[TOKEN_HASH_HEX + 1], ha2[TOKEN_HASH_HEX + 1], hb[TOKEN_HASH_HEX + 1];
    char p[TOKEN_PREFIX_LEN + 1];
    (void)state;
    OK(token_new(a, sizeof a, ha, sizeof ha, p, sizeof p));
    OK(token_generate(b, sizeof b));
    assert_int_equal(strlen(a), TOKEN_LEN);
    assert_true(token_well_formed(a));
    assert_string_not_equal(a, b);
    assert_int_equal(strncmp(a, p, TOKEN_PREFIX_LEN), 0);
    OK(token_hash(a, ha2, sizeof ha2));
    OK(token_hash(b, hb, sizeof hb));
    assert_string_equal(ha, ha2); /* the same token always finds its row */
    assert_string_not_equal(ha, hb);
    assert_int_equal(strlen(ha), TOKEN_HASH_HEX);
    assert_null(strstr(ha, a + 4));
    /* shapes that are not tokens */
    assert_false(token_well_formed("idf_short"));
    assert_false(token_well_formed("xyz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_false(token_well_formed("idf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    assert_false(token_well_formed(NULL));
    assert_int_equal(token_role_parse("operator"), TOKEN_OPERATOR);
    assert_int_equal(token_role_parse("Admin"), 0);
    assert_true(TOKEN_VIEWER < TOKEN_APPROVER && TOKEN_APPROVER < TOKEN_OPERATOR && TOKEN_OPERATOR < TOKEN_ADMIN);
    assert_true(token_name_valid("ci-bot.prod_2"));
    assert_false(token_name_valid("a b"));
    assert_false(token_name_valid(""));
}

static void lookup_by_hash_honours_expiry(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_token *t = NULL;
    int64_t id = 0;
    struct store_token *l = NULL;
    size_t n = 0;

    OK(store_token_create(s, "forever", "viewer", "h1", "idf_aaaaaaaa", 0, "cli:root", &id, NULL));
    assert_true(id > 0);
    OK(store_token_create(s, "short", "operator", "h2", "idf_bbbbbbbb", T0 + DAY, "cli:root", NULL, NULL));

    OK(store_token_lookup(s, "h2", T0, &t));
    assert_string_equal(t->name, "short");
    assert_string_equal(t->role, "operator");
    assert_int_equal(t->expires_at, T0 + DAY);
    store_token_free(t);
    /* at and after expiry: as if it did not exist */
    assert_int_equal(store_token_lookup(s, "h2", T0 + DAY, &t), IDF_ENOTFOUND);
    assert_null(t);
    assert_int_equal(store_token_lookup(s, "nope", T0, &t), IDF_ENOTFOUND);
    OK(store_token_lookup(s, "h1", T0 + 3650 * DAY, &t));
    store_token_free(t);

    /* the listing has both, expired or not, by name, with when each expires
     * (whether that is past is the reader's question); never a hash */
    OK(store_token_list(s, &l, &n));
    assert_int_equal(n, 2);
    assert_int_equal(l[0].id, id);
    assert_string_equal(l[0].name, "forever");
    assert_string_equal(l[0].role, "viewer");
    assert_string_equal(l[0].prefix, "idf_aaaaaaaa");
    assert_int_equal(l[0].expires_at, 0);
    assert_int_equal(l[0].last_used_at, T0 + 3650 * DAY);
    assert_true(l[0].created_at > 0);
    assert_string_equal(l[0].created_by, "cli:root");
    assert_string_equal(l[1].name, "short");
    assert_int_equal(l[1].expires_at, T0 + DAY);
    assert_int_equal(l[1].last_used_at, T0);
    store_token_list_free(l, n);
    store_token_list_free(NULL, 0);
}

static void last_use_is_written_at_most_once_a_minute(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_token *t = NULL;

    OK(store_token_create(s, "ci", "viewer", "h", "idf_cccccccc", 0, "cli:root", NULL, NULL));
    OK(store_token_lookup(s, "h", T0, &t));
    assert_int_equal(t->last_used_at, T0);
    store_token_free(t);
    OK(store_token_lookup(s, "h", T0 + STORE_TOKEN_TOUCH_MS - 1, &t));
    assert_int_equal(t->last_used_at, T0);
    store_token_free(t);
    OK(store_token_lookup(s, "h", T0 + STORE_TOKEN_TOUCH_MS, &t));
    assert_int_equal(t->last_used_at, T0 + STORE_TOKEN_TOUCH_MS);
    store_token_free(t);
}

static void names_are_unique_and_changes_audited(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_token *t = NULL;
    struct idf_err err;
    struct store_audit *l = NULL, *a;
    size_t n0, n = 0;

    /* the first token of a store also initializes it (its own audit record) */
    OK(store_token_create(s, "root", "admin", "h0", "idf_00000000", 0, "cli:alice", NULL, &err));
    n0 = audit_count(s);
    OK(store_token_create(s, "ops", "operator", "h1", "idf_dddddddd", 0, "cli:alice", NULL, &err));
    assert_int_equal(audit_count(s), n0 + 1);
    assert_int_equal(store_token_create(s, "ops", "viewer", "h2", "idf_eeeeeeee", 0, "cli:alice", NULL, &err),
                     IDF_EEXIST);
    assert_non_null(strstr(err.msg, "ops"));
    assert_int_equal(store_token_lookup(s, "h2", T0, &t), IDF_ENOTFOUND); /* nothing half-made */
    assert_int_equal(audit_count(s), n0 + 1);
    assert_int_equal(store_token_create(s, "x", "root", "h3", "p", 0, "cli:alice", NULL, &err), IDF_EINVAL);
    assert_int_equal(audit_count(s), n0 + 1);

    OK(store_token_revoke(s, "ops", "token:root", false, &err));
    assert_int_equal(store_token_lookup(s, "h1", T0, &t), IDF_ENOTFOUND);
    assert_int_equal(store_token_revoke(s, "ops", "token:root", false, &err), IDF_ENOTFOUND);
    OK(store_audit_list(s, 10, &l, &n));
    assert_int_equal(n, n0 + 2);
    a = &l[0];
    assert_string_equal(a->action, "token.revoke");
    assert_string_equal(a->actor, "token:root");
    assert_string_equal(a->target, "token:ops");
    a = &l[1];
    assert_string_equal(a->action, "token.create");
    assert_string_equal(a->detail, "{\"role\":\"operator\",\"expires_at\":0}");
    store_audit_list_free(l, n);
    /* a revoked name can be used again */
    OK(store_token_create(s, "ops", "viewer", "h4", "idf_ffffffff", 0, "cli:alice", NULL, &err));
}

static bool is_initialized(struct store *s)
{
    bool init = true;
    OK(store_initialized(s, &init));
    return init;
}

/* The permanent mark: set by the first token (in its transaction) or by
 * store_initialize, audited once, and kept whatever happens to the tokens. */
static void first_token_or_init_marks_the_store_for_good(void **state)
{
    struct fx *f = *state;
    struct store *s = f->s, *s2 = NULL;
    struct idf_err err;
    char url[600];
    struct store_audit *l = NULL;
    size_t n = 0;
    bool changed = true;

    assert_false(is_initialized(s));
    OK(store_token_create(s, "first", "admin", "h1", "idf_11111111", T0 + DAY, "cli:alice", NULL, &err));
    assert_true(is_initialized(s));
    OK(store_audit_list(s, 10, &l, &n));
    assert_int_equal(n, 2);
    assert_string_equal(l[0].action, "api.initialize");
    assert_string_equal(l[0].actor, "cli:alice");
    snprintf(url, sizeof url, "{\"role\":\"admin\",\"expires_at\":%lld}", T0 + DAY);
    assert_string_equal(l[1].detail, url); /* the detail the create wrote, as JSON text */
    store_audit_list_free(l, n);
    /* the last token gone (forced): still initialized, also for a new connection */
    OK(store_token_revoke(s, "first", "cli:alice", true, &err));
    OK(store_open(f->url, &s2, &err));
    assert_true(is_initialized(s2));
    /* initializing again changes nothing and audits nothing */
    OK(store_initialize(s2, "cli:bob", &changed, &err));
    assert_false(changed);
    store_close(s2);
    OK(store_audit_list(s, 10, &l, &n));
    assert_int_equal(n, 3); /* create, initialize, revoke */
    store_audit_list_free(l, n);
}

/* Undoes every migration after 4 (5: settings; 6: runs' interruptions; 7: the events' stage; 8: the claim's
 * indexes by workflow; 9: named leases; 10: pacing windows; 11: run subjects; 12: guardrail holds, whose
 * widened CHECK list is put back as it was; 13: packed event data, which changes no table: its row in
 * schema_migrations goes with the others, and the events these tests store are short, so none is packed). */
#define BACK_TO_SCHEMA_4                                                                                               \
    "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = replace(sql, ',''held'')', ')') "                   \
    "WHERE type = 'table' AND name = 'runs'; PRAGMA writable_schema = OFF; "                                          \
    "DROP INDEX approvals_hold; ALTER TABLE approvals DROP COLUMN hold; DELETE FROM run_counts WHERE status = 'held'; " \
    "DROP TABLE IF EXISTS run_subjects; DROP INDEX IF EXISTS runs_rerun_of; DROP INDEX IF EXISTS runs_created; "       \
    "ALTER TABLE events DROP COLUMN via; ALTER TABLE events DROP COLUMN actor; ALTER TABLE steps DROP COLUMN change; " \
    "DROP TABLE IF EXISTS leases; DROP TABLE IF EXISTS pace_sends; DROP TABLE IF EXISTS pace_keys; "                   \
    "DROP TABLE settings; DROP INDEX runs_queued_wf; DROP INDEX runs_due_wf; "                                         \
    "ALTER TABLE runs DROP COLUMN interrupted; ALTER TABLE runs DROP COLUMN begun; "                                    \
    "DROP INDEX events_pending; ALTER TABLE events DROP COLUMN stage; "                                                \
    "ALTER TABLE events DROP COLUMN tries; ALTER TABLE events DROP COLUMN next_at; "                                   \
    "ALTER TABLE events DROP COLUMN note; DELETE FROM schema_migrations WHERE version > 4"

/* A store from before the mark (schema 4) that ever made a token is
 * initialized by the upgrade, even when every token is gone: the state in
 * which the API used to reopen. */
static void upgrade_marks_a_store_that_had_tokens(void **state)
{
    struct fx *f = *state;
    struct store *s2 = NULL;
    struct idf_err err;
    sqlite3 *db = NULL;
    char url[600], path[600];

    OK(store_token_create(f->s, "gone", "admin", "h1", "idf_11111111", 0, "cli:alice", NULL, &err));
    OK(store_token_revoke(f->s, "gone", "cli:alice", true, &err));
    store_close(f->s);
    f->s = NULL;
    /* back to schema 4 */
    snprintf(path, sizeof path, "%s/idflow.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, BACK_TO_SCHEMA_4, NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    snprintf(url, sizeof url, "sqlite:%s", path);
    OK(store_open(url, &s2, &err));
    assert_true(is_initialized(s2));
    store_close(s2);
    /* a schema-4 store that never made a token stays uninitialized */
    snprintf(path, sizeof path, "%s/fresh.db", f->dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    OK(store_open(url, &s2, &err));
    store_close(s2);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, BACK_TO_SCHEMA_4, NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    OK(store_open(url, &s2, &err));
    assert_false(is_initialized(s2));
    store_close(s2);
}

static void init_without_a_token(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct idf_err err;
    bool changed = false;
    struct store_audit *l = NULL;
    size_t n = 0;

    OK(store_initialize(s, "cli:root", &changed, &err));
    assert_true(changed);
    assert_true(is_initialized(s));
    OK(store_audit_list(s, 10, &l, &n));
    assert_int_equal(n, 1);
    assert_string_equal(l[0].action, "api.initialize");
    store_audit_list_free(l, n);
    assert_int_equal(store_initialize(s, "", NULL, &err), IDF_EINVAL);
}

/* The last unexpired admin token needs force; nothing changes without it. */
static void last_admin_token_needs_force(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_token *t = NULL;
    struct idf_err err;
    size_t n;
    int64_t now = tu_now_ms();

    OK(store_token_create(s, "a1", "admin", "h1", "idf_11111111", 0, "cli:alice", NULL, &err));
    OK(store_token_create(s, "v1", "viewer", "h2", "idf_22222222", 0, "cli:alice", NULL, &err));
    /* an expired admin token does not count as another admin */
    OK(store_token_create(s, "old", "admin", "h3", "idf_33333333", now - 1000, "cli:alice", NULL, &err));
    n = audit_count(s);
    assert_int_equal(store_token_revoke(s, "a1", "cli:alice", false, &err), IDF_ESTATE);
    assert_non_null(strstr(err.msg, "last admin token"));
    OK(store_token_lookup(s, "h1", now, &t)); /* still there, nothing audited */
    store_token_free(t);
    assert_int_equal(audit_count(s), n);
    /* others go without force */
    OK(store_token_revoke(s, "v1", "cli:alice", false, &err));
    OK(store_token_revoke(s, "old", "cli:alice", false, &err));
    /* with a second admin, the first goes; then the second is the last */
    OK(store_token_create(s, "a2", "admin", "h4", "idf_44444444", 0, "cli:alice", NULL, &err));
    OK(store_token_revoke(s, "a1", "cli:alice", false, &err));
    assert_int_equal(store_token_revoke(s, "a2", "cli:alice", false, &err), IDF_ESTATE);
    assert_int_equal(store_token_revoke(s, "nobody", "cli:alice", false, &err), IDF_ENOTFOUND);
    OK(store_token_revoke(s, "a2", "cli:alice", true, &err));
    assert_int_equal(store_token_lookup(s, "h4", now, &t), IDF_ENOTFOUND);
}

int main(void)
{
    const char *tmpl = getenv("IDFLOW_TEST_STORE_URL");
    const struct CMUnitTest sqlite_only[] = {
        cmocka_unit_test_setup_teardown(upgrade_marks_a_store_that_had_tokens, setup, teardown),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens_are_random_well_formed_and_hashed),
        cmocka_unit_test_setup_teardown(lookup_by_hash_honours_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(last_use_is_written_at_most_once_a_minute, setup, teardown),
        cmocka_unit_test_setup_teardown(names_are_unique_and_changes_audited, setup, teardown),
        cmocka_unit_test_setup_teardown(first_token_or_init_marks_the_store_for_good, setup, teardown),
        cmocka_unit_test_setup_teardown(init_without_a_token, setup, teardown),
        cmocka_unit_test_setup_teardown(last_admin_token_needs_force, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    if (!tmpl || !*tmpl)
        failed += cmocka_run_group_tests(sqlite_only, NULL, NULL);
    return failed;
}

/* test_store_tokens.c — contract tests of the store's API tokens (store.h
 * "API tokens") and of crypto/token.h, against the public API only: a
 * token's shape and hash, lookup by hash with expiry, the throttled time of
 * last use, unique names, revocation, the audit record of each change in
 * the same transaction, and no hash in a listing. Each test gets a fresh
 * SQLite file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/token.h"
#include "store/store.h"
#include "support/testutil.h"

#define OK(x) assert_int_equal((x), 0)
#define T0 1790000000000LL /* a fixed "now" in ms */
#define DAY (24LL * 3600 * 1000)

struct fx {
    char *dir;
    struct store *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char url[600];
    struct idf_err err;

    if (!f)
        return -1;
    f->dir = tu_mktemp_dir();
    snprintf(url, sizeof url, "sqlite:%s/idflow.db", f->dir);
    if (store_open(url, &f->s, &err)) {
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
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static size_t audit_count(struct store *s)
{
    json_t *l = NULL;
    size_t n;
    OK(store_audit_list(s, 1000, &l));
    n = json_array_size(l);
    json_decref(l);
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
    int64_t n = -1, id = 0;
    json_t *l = NULL;

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

    OK(store_token_count(s, T0, &n));
    assert_int_equal(n, 2);
    OK(store_token_count(s, T0 + DAY, &n));
    assert_int_equal(n, 1);
    OK(store_token_list(s, T0 + DAY, &l));
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "name")), "short");
    assert_true(json_is_true(json_object_get(json_array_get(l, 1), "expired")));
    assert_true(json_is_false(json_object_get(json_array_get(l, 0), "expired")));
    assert_null(json_object_get(json_array_get(l, 0), "hash"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "created_by")), "cli:root");
    json_decref(l);
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
    json_t *l = NULL, *a;
    size_t n0 = audit_count(s);

    OK(store_token_create(s, "ops", "operator", "h1", "idf_dddddddd", 0, "cli:alice", NULL, &err));
    assert_int_equal(audit_count(s), n0 + 1);
    assert_int_equal(store_token_create(s, "ops", "viewer", "h2", "idf_eeeeeeee", 0, "cli:alice", NULL, &err),
                     IDF_EEXIST);
    assert_non_null(strstr(err.msg, "ops"));
    assert_int_equal(store_token_lookup(s, "h2", T0, &t), IDF_ENOTFOUND); /* nothing half-made */
    assert_int_equal(audit_count(s), n0 + 1);
    assert_int_equal(store_token_create(s, "x", "root", "h3", "p", 0, "cli:alice", NULL, &err), IDF_EINVAL);
    assert_int_equal(audit_count(s), n0 + 1);

    OK(store_token_revoke(s, "ops", "token:root", &err));
    assert_int_equal(store_token_lookup(s, "h1", T0, &t), IDF_ENOTFOUND);
    assert_int_equal(store_token_revoke(s, "ops", "token:root", &err), IDF_ENOTFOUND);
    OK(store_audit_list(s, 10, &l));
    assert_int_equal(json_array_size(l), n0 + 2);
    a = json_array_get(l, 0);
    assert_string_equal(json_string_value(json_object_get(a, "action")), "token.revoke");
    assert_string_equal(json_string_value(json_object_get(a, "actor")), "token:root");
    assert_string_equal(json_string_value(json_object_get(a, "target")), "token:ops");
    a = json_array_get(l, 1);
    assert_string_equal(json_string_value(json_object_get(a, "action")), "token.create");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "detail"), "role")), "operator");
    json_decref(l);
    /* a revoked name can be used again */
    OK(store_token_create(s, "ops", "viewer", "h4", "idf_ffffffff", 0, "cli:alice", NULL, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens_are_random_well_formed_and_hashed),
        cmocka_unit_test_setup_teardown(lookup_by_hash_honours_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(last_use_is_written_at_most_once_a_minute, setup, teardown),
        cmocka_unit_test_setup_teardown(names_are_unique_and_changes_audited, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_store_connections.c — contract tests of the store's connections
 * (store.h "connections"), against the public API only: put/get/list/delete,
 * each change with its audit record, the sealed blob never in a list, and
 * updated_at moving on every put (what the workers' cache relies on).
 *
 * Backend: IDFLOW_TEST_STORE_URL selects the database ("%s" replaced by a
 * name unique to each test); unset, each test gets a fresh SQLite file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "support/storeurl.h"
#include "support/testutil.h"

#define OK(x) assert_int_equal((x), 0)

/* Stands for a sealed blob: bytes the store must hand back untouched and
 * never list; the marker lets a test look for leaks. */
static const unsigned char BLOB[] = {0x01, 'S', 'E', 'A', 'L', 'E', 'D', '-', 'M', 'A', 'R', 'K', 0x00, 0xff, 0x7f};
#define BLOB_MARK "SEALED-MARK"

struct fx {
    char *dir;
    struct store *s;
};

static int setup(void **state)
{
    static int n;
    struct fx *f = calloc(1, sizeof *f);
    const char *tmpl = getenv("IDFLOW_TEST_STORE_URL");
    char url[1024], name[64];
    struct idf_err err;

    if (!f)
        return -1;
    if (tmpl && *tmpl) {
        snprintf(name, sizeof name, "conn_%d_%d", (int)getpid(), n++);
        if (tu_store_url(tmpl, name, url, sizeof url))
            return -1;
    } else {
        f->dir = tu_mktemp_dir();
        snprintf(url, sizeof url, "sqlite:%s/idflow.db", f->dir);
    }
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
    if (f->dir) {
        tu_rm_rf(f->dir);
        free(f->dir);
    }
    free(f);
    return 0;
}

/* The newest audit records, newest first: *n_out of them (caller frees
 * with store_audit_list_free). */
static struct store_audit *audit(struct store *s, size_t *n_out)
{
    struct store_audit *a = NULL;
    assert_int_equal(store_audit_list(s, 50, &a, n_out), 0);
    return a;
}

/* Whether text (may be NULL) holds the blob's marker. */
static bool has_mark(const char *text)
{
    return text && strstr(text, BLOB_MARK);
}

static void put_get_list_delete_with_audit(void **state)
{
    struct fx *f = *state;
    struct idf_err err;
    char *kind = NULL, *config = NULL;
    unsigned char *sealed = NULL;
    size_t len = 0;
    int64_t up = 0, up0;
    bool created = false;
    struct store_connection_info *list = NULL, *row;
    struct store_audit *a = NULL;
    size_t n = 0;

    OK(store_connection_put(f->s, "okta-prod", "okta", "{\"url\":\"https://acme.okta.com\"}", BLOB, sizeof BLOB,
                            "cli:alice", &created, &err));
    assert_true(created);
    OK(store_connection_put(f->s, "hf", "happyfox", "{}", NULL, 0, "cli:alice", &created, &err));
    assert_true(created);

    OK(store_connection_get(f->s, "okta-prod", &kind, &config, &sealed, &len, &up));
    up0 = up;
    assert_string_equal(kind, "okta");
    assert_string_equal(config, "{\"url\":\"https://acme.okta.com\"}");
    assert_int_equal(len, sizeof BLOB);
    assert_memory_equal(sealed, BLOB, sizeof BLOB);
    free(kind);
    free(config);
    free(sealed);
    OK(store_connection_get(f->s, "hf", &kind, &config, &sealed, &len, &up));
    assert_null(sealed);
    assert_int_equal(len, 0);
    free(kind);
    free(config);

    /* The list: names in order, config as stored, no blob anywhere (the row
     * has no place for one). */
    OK(store_connection_list(f->s, &list, &n));
    assert_int_equal(n, 2);
    row = &list[0];
    assert_string_equal(row->name, "hf");
    assert_string_equal(row->kind, "happyfox");
    assert_string_equal(row->config, "{}");
    row = &list[1];
    assert_string_equal(row->name, "okta-prod");
    assert_string_equal(row->kind, "okta");
    assert_string_equal(row->config, "{\"url\":\"https://acme.okta.com\"}");
    assert_true(row->created_at > 0);
    assert_int_equal(row->updated_at, up0);
    for (size_t i = 0; i < n; i++)
        assert_false(has_mark(list[i].name) || has_mark(list[i].kind) || has_mark(list[i].config));
    store_connection_list_free(list, n);

    /* Delete: gone, audited with the actor, the blob not in the audit. */
    OK(store_connection_delete(f->s, "okta-prod", "cli:bob", &err));
    assert_int_equal(store_connection_get(f->s, "okta-prod", &kind, &config, &sealed, &len, &up), IDF_ENOTFOUND);
    a = audit(f->s, &n);
    assert_int_equal(n, 3);
    assert_string_equal(a[0].actor, "cli:bob");
    assert_string_equal(a[0].action, "connection.delete");
    assert_string_equal(a[0].target, "connection:okta-prod");
    assert_string_equal(a[0].detail, "{\"kind\":\"okta\"}");
    for (size_t i = 0; i < n; i++)
        assert_false(has_mark(a[i].actor) || has_mark(a[i].action) || has_mark(a[i].target) || has_mark(a[i].detail));
    store_audit_list_free(a, n);

    /* Deleting what is not there: not found, nothing audited. */
    assert_int_equal(store_connection_delete(f->s, "okta-prod", "cli:bob", &err), IDF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "okta-prod"));
    a = audit(f->s, &n);
    assert_int_equal(n, 3);
    store_audit_list_free(a, n);
    OK(store_connection_list(f->s, &list, &n));
    assert_int_equal(n, 1);
    store_connection_list_free(list, n);

    /* Bad arguments. */
    assert_int_equal(store_connection_delete(f->s, "", "cli:bob", &err), IDF_EINVAL);
    assert_int_equal(store_connection_delete(f->s, "hf", "", &err), IDF_EINVAL);
}

static void replace_keeps_created_at_and_moves_updated_at(void **state)
{
    struct fx *f = *state;
    struct idf_err err;
    char *kind = NULL, *config = NULL;
    unsigned char *sealed = NULL;
    size_t len = 0;
    int64_t prev = 0, up = 0, created_at;
    bool created = true;
    struct store_connection_info *list = NULL;
    struct store_audit *a = NULL;
    size_t n = 0;

    OK(store_connection_put(f->s, "c", "okta", "{}", BLOB, sizeof BLOB, "cli:a", &created, &err));
    OK(store_connection_list(f->s, &list, &n));
    assert_int_equal(n, 1);
    created_at = list[0].created_at;
    store_connection_list_free(list, n);
    /* Ten puts in a tight loop (most within one millisecond): updated_at
     * strictly increases every time. */
    for (int i = 0; i < 10; i++) {
        OK(store_connection_put(f->s, "c", "okta", "{}", BLOB, (size_t)(i % 2 ? 3 : sizeof BLOB), "cli:a", &created,
                                &err));
        assert_false(created);
        OK(store_connection_get(f->s, "c", &kind, &config, &sealed, &len, &up));
        assert_true(up > prev);
        assert_int_equal(len, i % 2 ? 3 : sizeof BLOB);
        prev = up;
        free(kind);
        free(config);
        free(sealed);
    }
    OK(store_connection_list(f->s, &list, &n));
    assert_int_equal(list[0].created_at, created_at);
    assert_int_equal(list[0].updated_at, prev);
    store_connection_list_free(list, n);
    /* One audit record per change. */
    a = audit(f->s, &n);
    assert_int_equal(n, 11);
    store_audit_list_free(a, n);
}

/* A delete that is re-created starts over (created, with a fresh audit trail entry). */
static void delete_then_recreate(void **state)
{
    struct fx *f = *state;
    struct idf_err err;
    bool created = false;
    struct store_audit *a;
    size_t n = 0;

    OK(store_connection_put(f->s, "c", "okta", "{}", NULL, 0, "cli:a", &created, &err));
    OK(store_connection_delete(f->s, "c", "cli:a", &err));
    OK(store_connection_put(f->s, "c", "happyfox", "{}", NULL, 0, "cli:a", &created, &err));
    assert_true(created);
    a = audit(f->s, &n);
    assert_true(n >= 2);
    assert_string_equal(a[0].action, "connection.create");
    assert_string_equal(a[0].detail, "{\"kind\":\"happyfox\"}");
    assert_string_equal(a[1].action, "connection.delete");
    store_audit_list_free(a, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(put_get_list_delete_with_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(replace_keeps_created_at_and_moves_updated_at, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_then_recreate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

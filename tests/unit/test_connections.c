/* test_connections.c — connections (credentials/credentials.h) through a
 * connector kind defined here (tests cannot add to the registry): saving
 * seals the secret fields and stores the rest as config; validation; the
 * per-thread cache resolving with 0, 1 and 2 connections of a kind, by name,
 * after updates and removals; refusals (wrong key, a blob moved to another
 * row, a tampered blob); secrets masked in logs; where the key file lives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/render.h"
#include "credentials/credentials.h"
#include "connectors/connector.h"
#include "core/log.h"
#include "crypto/seal.h"
#include "store/store.h"
#include "support/testutil.h"

#define OK(x) assert_int_equal((x), 0)

static const char TOKEN_A[] = "00tokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
static const char TOKEN_B[] = "00tokenBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
static const char API_KEY[] = "ak-0123456789abcdef";

/* ------------------------------------------------- a test connector kind */

static const struct conn_field test_fields[] = {
    {"url", false, true, "base URL, https"},
    {"token", true, true, "API token"},
    {"api_key", true, false, "second secret"},
    {"staff", false, false, "acting staff id"},
    {NULL, false, false, NULL},
};

/* https only unless "sandbox": true; a trailing '/' is removed. */
static int test_validate(json_t *config, struct idf_err *err)
{
    const char *url = json_string_value(json_object_get(config, "url"));
    bool sandbox = json_is_true(json_object_get(config, "sandbox"));
    size_t n;

    if (!url)
        return idf_err_set(err, IDF_EINVAL, "url must be a string");
    if (strncmp(url, "https://", 8) != 0 && !(sandbox && strncmp(url, "http://", 7) == 0))
        return idf_err_set(err, IDF_EINVAL, "url: https:// is required (http:// only with sandbox)");
    n = strlen(url);
    if (n > 8 && url[n - 1] == '/') {
        char *c = strndup(url, n - 1);
        json_object_set_new(config, "url", json_string(c));
        free(c);
    }
    return 0;
}

static const struct conn_connection_kind test_kind = {test_fields, test_validate, NULL};
static const struct connector test_conn = {.name = "testkind", .connection = &test_kind};
static const struct connector other_conn = {.name = "otherkind", .connection = &test_kind};
static const struct connector no_conn = {.name = "plain", .connection = NULL};

/* ---------------------------------------------------------------- fixture */

struct fx {
    char *dir;
    char url[600];
    struct store *s;
    struct seal_key *key;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct idf_err err;
    if (!f)
        return -1;
    f->dir = tu_mktemp_dir();
    snprintf(f->url, sizeof f->url, "sqlite:%s/idflow.db", f->dir);
    if (store_open(f->url, &f->s, &err) || seal_key_random(&f->key, &err))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    seal_key_free(f->key);
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Saves a testkind connection with url and token (and optionally api_key). */
static int save(struct fx *f, const struct connector *c, const char *name, const char *url, const char *token,
                const char *api_key, struct idf_err *err)
{
    json_t *cfg = json_pack("{s:s, s:s}", "url", url, "token", token);
    int rc;
    if (api_key)
        json_object_set_new(cfg, "api_key", json_string(api_key));
    rc = cred_save(f->s, f->key, c, name, cfg, "cli:tester", NULL, err);
    cred_wipe_free(cfg);
    return rc;
}

static bool text_has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

/* ------------------------------------------------------------------ save */

static void save_seals_secrets_and_keeps_config(void **state)
{
    struct fx *f = *state;
    struct idf_err err;
    char *kind = NULL, *config = NULL, *dump = NULL;
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    int64_t updated = 0;
    json_t *list = NULL, *conn = NULL, *cfg;
    struct store_connection_info *rows = NULL;
    size_t n = 0;
    bool created = false;

    cfg = json_pack("{s:s, s:s, s:s, s:s}", "url", "https://acme.example.com/", "token", TOKEN_A, "api_key",
                    API_KEY, "staff", "7");
    OK(cred_save(f->s, f->key, &test_conn, "prod", cfg, "cli:tester", &created, &err));
    assert_true(created);
    cred_wipe_free(cfg);

    /* The row: config without secrets (url normalized by validate), an opaque blob. */
    OK(store_connection_get(f->s, "prod", &kind, &config, &sealed, &sealed_len, &updated));
    assert_string_equal(kind, "testkind");
    assert_string_equal(config, "{\"staff\":\"7\",\"url\":\"https://acme.example.com\"}");
    assert_non_null(sealed);
    assert_true(sealed_len > SEAL_OVERHEAD);
    assert_null(memmem(sealed, sealed_len, TOKEN_A, strlen(TOKEN_A)));
    assert_null(memmem(sealed, sealed_len, API_KEY, strlen(API_KEY)));
    assert_true(updated > 0);

    /* The list never shows a secret (as the API renders it). */
    OK(store_connection_list(f->s, &rows, &n));
    assert_non_null(list = render_connections(rows, n));
    store_connection_list_free(rows, n);
    dump = json_dumps(list, 0);
    assert_false(text_has(dump, TOKEN_A));
    assert_false(text_has(dump, API_KEY));
    assert_true(text_has(dump, "https://acme.example.com"));
    free(dump);

    /* Loaded back: everything, secrets unsealed. */
    OK(cred_load(f->s, f->key, "prod", &conn, &err));
    assert_string_equal(json_string_value(json_object_get(conn, "name")), "prod");
    assert_string_equal(json_string_value(json_object_get(conn, "kind")), "testkind");
    assert_string_equal(json_string_value(json_object_get(conn, "url")), "https://acme.example.com");
    assert_string_equal(json_string_value(json_object_get(conn, "token")), TOKEN_A);
    assert_string_equal(json_string_value(json_object_get(conn, "api_key")), API_KEY);
    assert_string_equal(json_string_value(json_object_get(conn, "staff")), "7");
    assert_int_equal(json_object_size(conn), 6);
    cred_wipe_free(conn);

    /* Saving again replaces it (and says so). */
    cfg = json_pack("{s:s, s:s}", "url", "https://acme.example.com", "token", TOKEN_B);
    OK(cred_save(f->s, f->key, &test_conn, "prod", cfg, "cli:tester", &created, &err));
    assert_false(created);
    cred_wipe_free(cfg);
    OK(cred_load(f->s, f->key, "prod", &conn, &err));
    assert_string_equal(json_string_value(json_object_get(conn, "token")), TOKEN_B);
    assert_null(json_object_get(conn, "api_key"));
    cred_wipe_free(conn);

    json_decref(list);
    free(kind);
    free(config);
    free(sealed);
}

static void validation(void **state)
{
    struct fx *f = *state;
    struct idf_err err;
    json_t *cfg;
    struct store_connection_info *rows = NULL;
    size_t n = 99;

    /* Missing required secret. */
    cfg = json_pack("{s:s}", "url", "https://a.example.com");
    assert_int_equal(cred_save(f->s, f->key, &test_conn, "x", cfg, "cli:t", NULL, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "token is required"));
    json_decref(cfg);

    /* Unknown field, named with the valid ones. */
    cfg = json_pack("{s:s, s:s, s:s}", "url", "https://a.example.com", "token", TOKEN_A, "colour", "red");
    assert_int_equal(cred_validate(&test_conn, cfg, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "colour"));
    assert_non_null(strstr(err.msg, "url, token, api_key"));
    assert_null(strstr(err.msg, TOKEN_A));
    json_decref(cfg);

    /* A secret must be a non-empty string. */
    cfg = json_pack("{s:s, s:i}", "url", "https://a.example.com", "token", 5);
    assert_int_equal(cred_validate(&test_conn, cfg, &err), IDF_EINVAL);
    json_decref(cfg);
    cfg = json_pack("{s:s, s:s}", "url", "https://a.example.com", "token", "");
    assert_int_equal(cred_validate(&test_conn, cfg, &err), IDF_EINVAL);
    json_decref(cfg);

    /* The connector's own rule: plain http only for a sandbox; "sandbox" must be a boolean. */
    cfg = json_pack("{s:s, s:s}", "url", "http://127.0.0.1:9", "token", TOKEN_A);
    assert_int_equal(cred_validate(&test_conn, cfg, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "https"));
    assert_null(strstr(err.msg, TOKEN_A));
    json_object_set_new(cfg, "sandbox", json_string("yes"));
    assert_int_equal(cred_validate(&test_conn, cfg, &err), IDF_EINVAL);
    json_object_set_new(cfg, "sandbox", json_true());
    OK(cred_validate(&test_conn, cfg, &err));
    json_decref(cfg);

    /* Bad names; a kind without connections. */
    cfg = json_pack("{s:s, s:s}", "url", "https://a.example.com", "token", TOKEN_A);
    assert_int_equal(cred_save(f->s, f->key, &test_conn, "", cfg, "cli:t", NULL, &err), IDF_EINVAL);
    assert_int_equal(cred_save(f->s, f->key, &test_conn, "-x", cfg, "cli:t", NULL, &err), IDF_EINVAL);
    assert_int_equal(cred_save(f->s, f->key, &test_conn, "a/b", cfg, "cli:t", NULL, &err), IDF_EINVAL);
    assert_int_equal(cred_save(f->s, f->key, &test_conn, "a b", cfg, "cli:t", NULL, &err), IDF_EINVAL);
    assert_int_equal(cred_save(f->s, f->key, &no_conn, "a", cfg, "cli:t", NULL, &err), IDF_EINVAL);
    assert_true(cred_name_valid("okta-prod_2.eu"));
    json_decref(cfg);

    /* Nothing was stored by any of these. */
    OK(store_connection_list(f->s, &rows, &n));
    assert_int_equal(n, 0);
    assert_null(rows);
}

/* --------------------------------------------------------------- resolve */

static void resolve_by_kind_with_0_1_2(void **state)
{
    struct fx *f = *state;
    struct cred_cache *c = NULL;
    const json_t *conn = NULL;
    struct idf_err err;

    OK(cred_cache_new(f->key, 0, &c));
    /* None of that kind (one of another kind does not count). */
    OK(save(f, &other_conn, "elsewhere", "https://o.example.com", TOKEN_B, NULL, &err));
    assert_int_equal(cred_resolve(c, f->s, "testkind", NULL, &conn, &err), IDF_ENOTFOUND);
    assert_null(conn);
    assert_non_null(strstr(err.msg, "no testkind connection"));
    assert_non_null(strstr(err.msg, "idflow connect testkind"));

    /* Exactly one: it is the one. */
    OK(save(f, &test_conn, "first", "https://a.example.com", TOKEN_A, NULL, &err));
    OK(cred_resolve(c, f->s, "testkind", NULL, &conn, &err));
    assert_string_equal(json_string_value(json_object_get(conn, "name")), "first");
    assert_string_equal(json_string_value(json_object_get(conn, "token")), TOKEN_A);

    /* Two: an error naming both. */
    OK(save(f, &test_conn, "second", "https://b.example.com", TOKEN_B, NULL, &err));
    assert_int_equal(cred_resolve(c, f->s, "testkind", NULL, &conn, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "first, second"));
    assert_non_null(strstr(err.msg, "connection:"));
    /* ... while naming one still works. */
    OK(cred_resolve(c, f->s, "testkind", "second", &conn, &err));
    assert_string_equal(json_string_value(json_object_get(conn, "url")), "https://b.example.com");
    assert_string_equal(json_string_value(json_object_get(conn, "token")), TOKEN_B);

    /* By name: missing, or of another kind. */
    assert_int_equal(cred_resolve(c, f->s, "testkind", "nope", &conn, &err), IDF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no connection named nope"));
    assert_int_equal(cred_resolve(c, f->s, "testkind", "elsewhere", &conn, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "otherkind"));

    /* An action whose connector needs no connection gets none. */
    conn = (const json_t *)1;
    OK(cred_for_action(c, f->s, &no_conn, NULL, &conn, &err));
    assert_null(conn);
    OK(cred_for_action(c, f->s, NULL, NULL, &conn, &err));
    assert_null(conn);
    OK(cred_for_action(c, f->s, &test_conn, "first", &conn, &err));
    assert_string_equal(json_string_value(json_object_get(conn, "token")), TOKEN_A);
    assert_int_equal(cred_for_action(c, f->s, &test_conn, NULL, &conn, &err), IDF_EINVAL);
    cred_cache_free(c);
}

static void cache_refreshes_after_update_and_removal(void **state)
{
    struct fx *f = *state;
    struct cred_cache *eager = NULL, *lazy = NULL;
    const json_t *a = NULL, *b = NULL;
    struct idf_err err;

    OK(save(f, &test_conn, "prod", "https://a.example.com", TOKEN_A, NULL, &err));
    OK(cred_cache_new(f->key, 0, &eager));
    OK(cred_cache_new(f->key, 3600 * 1000, &lazy));
    OK(cred_resolve(eager, f->s, "testkind", "prod", &a, &err));
    OK(cred_resolve(lazy, f->s, "testkind", NULL, &b, &err));
    assert_string_equal(json_string_value(json_object_get(a, "token")), TOKEN_A);
    assert_string_equal(json_string_value(json_object_get(b, "token")), TOKEN_A);

    /* Unchanged row: the eager cache reads updated_at and keeps its object. */
    {
        const json_t *again = NULL;
        OK(cred_resolve(eager, f->s, "testkind", "prod", &again, &err));
        assert_ptr_equal(again, a);
    }

    /* Updated twice in a row (same millisecond, likely): the eager cache
     * sees the last one at once; the lazy one keeps its copy until its
     * interval ends. */
    OK(save(f, &test_conn, "prod", "https://a.example.com", TOKEN_B, NULL, &err));
    OK(cred_resolve(eager, f->s, "testkind", "prod", &a, &err));
    assert_string_equal(json_string_value(json_object_get(a, "token")), TOKEN_B);
    OK(save(f, &test_conn, "prod", "https://c.example.com", TOKEN_A, NULL, &err));
    OK(cred_resolve(eager, f->s, "testkind", "prod", &a, &err));
    assert_string_equal(json_string_value(json_object_get(a, "token")), TOKEN_A);
    assert_string_equal(json_string_value(json_object_get(a, "url")), "https://c.example.com");
    OK(cred_resolve(lazy, f->s, "testkind", NULL, &b, &err));
    assert_string_equal(json_string_value(json_object_get(b, "url")), "https://a.example.com");

    /* Removed: the eager cache says so and forgets it. */
    OK(store_connection_delete(f->s, "prod", "cli:tester", &err));
    assert_int_equal(cred_resolve(eager, f->s, "testkind", "prod", &a, &err), IDF_ENOTFOUND);
    assert_int_equal(cred_resolve(eager, f->s, "testkind", NULL, &a, &err), IDF_ENOTFOUND);
    cred_cache_free(eager);
    cred_cache_free(lazy);
}

static void many_connections_evict(void **state)
{
    struct fx *f = *state;
    struct cred_cache *c = NULL;
    const json_t *conn = NULL;
    struct idf_err err;
    char name[32], url[64];

    OK(cred_cache_new(f->key, 60000, &c));
    for (int i = 0; i < CRED_CACHE_MAX + 5; i++) {
        snprintf(name, sizeof name, "c%d", i);
        snprintf(url, sizeof url, "https://h%d.example.com", i);
        OK(save(f, &test_conn, name, url, TOKEN_A, NULL, &err));
        OK(cred_resolve(c, f->s, "testkind", name, &conn, &err));
        assert_string_equal(json_string_value(json_object_get(conn, "url")), url);
    }
    /* The first ones were evicted and resolve again. */
    OK(cred_resolve(c, f->s, "testkind", "c0", &conn, &err));
    assert_string_equal(json_string_value(json_object_get(conn, "url")), "https://h0.example.com");
    cred_cache_free(c);
}

/* -------------------------------------------------------------- refusals */

static void refusals_wrong_key_moved_blob_tampered(void **state)
{
    struct fx *f = *state;
    struct cred_cache *c = NULL;
    struct seal_key *other = NULL;
    const json_t *conn = NULL;
    struct idf_err err;
    char *kind = NULL, *config = NULL;
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    int64_t up = 0;

    OK(save(f, &test_conn, "a", "https://a.example.com", TOKEN_A, NULL, &err));
    OK(save(f, &test_conn, "b", "https://b.example.com", TOKEN_B, NULL, &err));

    /* Another master key. */
    OK(seal_key_random(&other, &err));
    OK(cred_cache_new(other, 0, &c));
    assert_int_equal(cred_resolve(c, f->s, "testkind", "a", &conn, &err), IDF_EAUTH);
    assert_null(conn);
    assert_non_null(strstr(err.msg, "wrong master key"));
    assert_null(strstr(err.msg, TOKEN_A));
    cred_cache_free(c);
    /* No key at all. */
    OK(cred_cache_new(NULL, 0, &c));
    assert_int_equal(cred_resolve(c, f->s, "testkind", "a", &conn, &err), IDF_EAUTH);
    cred_cache_free(c);

    /* a's sealed blob copied into b's row does not open. */
    OK(cred_cache_new(f->key, 0, &c));
    OK(store_connection_get(f->s, "a", &kind, &config, &sealed, &sealed_len, &up));
    OK(store_connection_put(f->s, "b", "testkind", "{\"url\":\"https://b.example.com\"}", sealed, sealed_len,
                            "attacker", NULL, &err));
    assert_int_equal(cred_resolve(c, f->s, "testkind", "b", &conn, &err), IDF_EAUTH);
    /* ... nor does it after a change of kind in place. */
    OK(store_connection_put(f->s, "a", "otherkind", config, sealed, sealed_len, "attacker", NULL, &err));
    assert_int_equal(cred_resolve(c, f->s, "otherkind", "a", &conn, &err), IDF_EAUTH);
    /* A flipped byte in a stored blob. */
    sealed[sealed_len - 3] ^= 0x40;
    OK(store_connection_put(f->s, "a", "testkind", config, sealed, sealed_len, "attacker", NULL, &err));
    assert_int_equal(cred_resolve(c, f->s, "testkind", "a", &conn, &err), IDF_EAUTH);
    cred_cache_free(c);
    seal_key_free(other);
    free(kind);
    free(config);
    free(sealed);
}

/* A log line that contains a resolved secret comes out masked. */
static void secrets_are_masked_in_logs(void **state)
{
    struct fx *f = *state;
    struct cred_cache *c = NULL;
    const json_t *conn = NULL;
    struct idf_err err;
    char *path = tu_path(f->dir, "log.txt");
    static const char MASKME[] = "zz-resolve-only-secret-9f8e7d6c5b4a";
    int fd;
    char *text;

    /* Stored the way another process would (sealed here by hand, never
     * through cred_save), so only resolving can register it. */
    {
        static const char plain[] = "{\"token\":\"zz-resolve-only-secret-9f8e7d6c5b4a\"}";
        unsigned char *blob = NULL;
        size_t blob_len = 0;
        char ad[SEAL_AD_MAX];
        OK(seal_ad_connection("testkind", "masked", ad, sizeof ad));
        OK(seal_seal(f->key, plain, strlen(plain), ad, &blob, &blob_len, &err));
        OK(store_connection_put(f->s, "masked", "testkind", "{\"url\":\"https://m.example.com\"}", blob, blob_len,
                                "cli:t", NULL, &err));
        free(blob);
    }
    OK(cred_cache_new(f->key, 0, &c));
    OK(cred_resolve(c, f->s, "testkind", "masked", &conn, &err));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    log_set_fd(fd);
    log_info("calling with token %s now", json_string_value(json_object_get(conn, "token")));
    log_msg(LOG_INFO, conn, "the whole connection");
    log_set_fd(2);
    close(fd);
    text = tu_read_file(path, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "calling with token"));
    assert_null(strstr(text, MASKME));
    assert_non_null(strstr(text, "https://m.example.com"));
    free(text);
    free(path);
    cred_cache_free(c);
}

/* ------------------------------------------------------------------- key */

static void key_location_and_loading(void **state)
{
    struct fx *f = *state;
    struct seal_key *k = NULL, *k2 = NULL;
    char path[4200], fa[SEAL_FINGERPRINT_LEN + 1], fb[SEAL_FINGERPRINT_LEN + 1];
    char keyfile[700];
    struct idf_err err;
    struct stat st;
    bool created = false;
    (void)state;

    unsetenv(SEAL_ENV_KEY_FILE);
    unsetenv(SEAL_ENV_KEY);
    OK(cred_key_path("sqlite:/var/lib/idflow/idflow.db", NULL, path, sizeof path, &err));
    assert_string_equal(path, "/var/lib/idflow/idflow.key");
    OK(cred_key_path("data/x.db", NULL, path, sizeof path, &err));
    assert_string_equal(path, "data/idflow.key");
    OK(cred_key_path("sqlite:idflow.db", NULL, path, sizeof path, &err));
    assert_string_equal(path, "./idflow.key");
    OK(cred_key_path("postgresql://db/idflow", NULL, path, sizeof path, &err));
    assert_string_equal(path, "idflow.key");
    OK(cred_key_path("sqlite:/a/b.db", "/etc/idflow/key", path, sizeof path, &err));
    assert_string_equal(path, "/etc/idflow/key");
    setenv(SEAL_ENV_KEY_FILE, "/run/secrets/idflow.key", 1);
    OK(cred_key_path("sqlite:/a/b.db", NULL, path, sizeof path, &err));
    assert_string_equal(path, "/run/secrets/idflow.key");
    OK(cred_key_path("sqlite:/a/b.db", "/flag/wins", path, sizeof path, &err));
    assert_string_equal(path, "/flag/wins");
    unsetenv(SEAL_ENV_KEY_FILE);

    /* First use next to the database: created 0600; then reused. */
    assert_int_equal(cred_load_key(f->url, NULL, false, &k, &created, &err), IDF_ENOTFOUND);
    OK(cred_load_key(f->url, NULL, true, &k, &created, &err));
    assert_true(created);
    snprintf(keyfile, sizeof keyfile, "%s/idflow.key", f->dir);
    assert_int_equal(stat(keyfile, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    OK(cred_load_key(f->url, NULL, true, &k2, &created, &err));
    assert_false(created);
    seal_key_fingerprint(k, fa, sizeof fa);
    seal_key_fingerprint(k2, fb, sizeof fb);
    assert_string_equal(fa, fb);
    seal_key_free(k2);
    k2 = NULL;

    /* IDFLOW_MASTER_KEY wins over the file, and is gone afterwards. */
    setenv(SEAL_ENV_KEY, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 1);
    OK(cred_load_key(f->url, NULL, true, &k2, &created, &err));
    assert_false(created);
    assert_null(getenv(SEAL_ENV_KEY));
    seal_key_fingerprint(k2, fb, sizeof fb);
    assert_string_not_equal(fa, fb);
    seal_key_free(k);
    seal_key_free(k2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(save_seals_secrets_and_keeps_config, setup, teardown),
        cmocka_unit_test_setup_teardown(validation, setup, teardown),
        cmocka_unit_test_setup_teardown(resolve_by_kind_with_0_1_2, setup, teardown),
        cmocka_unit_test_setup_teardown(cache_refreshes_after_update_and_removal, setup, teardown),
        cmocka_unit_test_setup_teardown(many_connections_evict, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_wrong_key_moved_blob_tampered, setup, teardown),
        cmocka_unit_test_setup_teardown(secrets_are_masked_in_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(key_location_and_loading, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

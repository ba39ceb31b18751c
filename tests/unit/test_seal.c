/* test_seal.c — sealing secrets (crypto/seal.h): round trip, refusals (wrong
 * key, a blob moved to another row, tampering), key parsing, the key file
 * (created 0600, over-permissive refused, concurrent first use) and
 * IDFLOW_MASTER_KEY leaving the environment once read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/seal.h"
#include "support/testutil.h"

#define OK(x) assert_int_equal((x), 0)

static const char HEX_KEY[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/* The same 32 bytes in base64 (standard, padded) and URL-safe without padding. */
static const char B64_KEY[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
static const char B64URL_KEY[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
static const char SECRET[] = "00aBcDeFgHiJkLmNoPqRsTuVwXyZ-secret-token";

extern char **environ;

static void fp(const struct seal_key *k, char out[SEAL_FINGERPRINT_LEN + 1])
{
    seal_key_fingerprint(k, out, SEAL_FINGERPRINT_LEN + 1);
}

static bool contains(const unsigned char *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static void round_trip(void **state)
{
    struct seal_key *k = NULL;
    struct idf_err err;
    unsigned char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0, plen = 0;
    char *plain = NULL;
    char ad[SEAL_AD_MAX];
    (void)state;

    OK(seal_key_random(&k, &err));
    OK(seal_ad_connection("okta", "okta-prod", ad, sizeof ad));
    assert_string_equal(ad, "idflow-connection:v1:okta:okta-prod");
    OK(seal_seal(k, SECRET, strlen(SECRET), ad, &a, &alen, &err));
    assert_int_equal(alen, strlen(SECRET) + SEAL_OVERHEAD);
    assert_int_equal(a[0], SEAL_FORMAT_V1);
    assert_false(contains(a, alen, SECRET));
    assert_false(contains(a, alen, "secret-token"));
    /* A fresh nonce every time: the same secret never seals the same way. */
    OK(seal_seal(k, SECRET, strlen(SECRET), ad, &b, &blen, &err));
    assert_int_equal(blen, alen);
    assert_memory_not_equal(a, b, alen);

    OK(seal_open(k, a, alen, ad, &plain, &plen, &err));
    assert_int_equal(plen, strlen(SECRET));
    assert_string_equal(plain, SECRET);
    seal_plain_free(plain, plen);
    OK(seal_open(k, b, blen, ad, &plain, &plen, &err));
    assert_string_equal(plain, SECRET);
    seal_plain_free(plain, plen);

    /* An empty plaintext seals and opens too. */
    free(b);
    OK(seal_seal(k, "", 0, ad, &b, &blen, &err));
    assert_int_equal(blen, SEAL_OVERHEAD);
    OK(seal_open(k, b, blen, ad, &plain, &plen, &err));
    assert_int_equal(plen, 0);
    assert_string_equal(plain, "");
    seal_plain_free(plain, plen);

    free(a);
    free(b);
    seal_key_free(k);
}

static void refusals(void **state)
{
    struct seal_key *k = NULL, *other = NULL;
    struct idf_err err;
    unsigned char *blob = NULL;
    size_t len = 0, plen = 99;
    char *plain = (char *)"untouched";
    char ad[SEAL_AD_MAX], ad_other[SEAL_AD_MAX], ad_kind[SEAL_AD_MAX];
    (void)state;

    OK(seal_key_random(&k, &err));
    OK(seal_key_random(&other, &err));
    OK(seal_ad_connection("okta", "prod", ad, sizeof ad));
    OK(seal_ad_connection("okta", "staging", ad_other, sizeof ad_other));
    OK(seal_ad_connection("happyfox", "prod", ad_kind, sizeof ad_kind));
    OK(seal_seal(k, SECRET, strlen(SECRET), ad, &blob, &len, &err));

    /* Wrong key. */
    assert_int_equal(seal_open(other, blob, len, ad, &plain, &plen, &err), IDF_EAUTH);
    assert_null(plain);
    assert_int_equal(plen, 0);
    assert_non_null(strstr(err.msg, "wrong master key"));
    assert_null(strstr(err.msg, SECRET));
    /* The blob copied to another row (another name, or another kind). */
    assert_int_equal(seal_open(k, blob, len, ad_other, &plain, &plen, &err), IDF_EAUTH);
    assert_int_equal(seal_open(k, blob, len, ad_kind, &plain, &plen, &err), IDF_EAUTH);
    /* Any flipped bit: in the nonce, the ciphertext, the tag. */
    for (size_t i = 1; i < len; i++) {
        blob[i] ^= 0x01;
        assert_int_equal(seal_open(k, blob, len, ad, &plain, &plen, &err), IDF_EAUTH);
        assert_null(plain);
        blob[i] ^= 0x01;
    }
    /* An unknown format version, and a truncated blob. */
    blob[0] = 0x02;
    assert_int_equal(seal_open(k, blob, len, ad, &plain, &plen, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "version"));
    blob[0] = SEAL_FORMAT_V1;
    assert_int_equal(seal_open(k, blob, SEAL_OVERHEAD - 1, ad, &plain, &plen, &err), IDF_EINVAL);
    assert_int_equal(seal_open(k, blob, len - 1, ad, &plain, &plen, &err), IDF_EAUTH);
    /* Still opens untouched. */
    OK(seal_open(k, blob, len, ad, &plain, &plen, &err));
    assert_string_equal(plain, SECRET);
    seal_plain_free(plain, plen);

    /* Caps. */
    {
        unsigned char *big = calloc(1, SEAL_PLAIN_MAX + 1);
        unsigned char *o = NULL;
        size_t olen = 0;
        char longad[SEAL_AD_MAX + 10];
        assert_non_null(big);
        assert_int_equal(seal_seal(k, big, SEAL_PLAIN_MAX + 1, ad, &o, &olen, &err), IDF_ETOOBIG);
        memset(longad, 'a', sizeof longad - 1);
        longad[sizeof longad - 1] = '\0';
        assert_int_equal(seal_seal(k, "x", 1, longad, &o, &olen, &err), IDF_ETOOBIG);
        assert_int_equal(seal_ad_connection("okta", longad, ad, sizeof ad), IDF_ETOOBIG);
        assert_null(o);
        free(big);
    }
    free(blob);
    seal_key_free(k);
    seal_key_free(other);
}

static void key_parsing(void **state)
{
    struct seal_key *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    char fa[SEAL_FINGERPRINT_LEN + 1], fb[SEAL_FINGERPRINT_LEN + 1], fc[SEAL_FINGERPRINT_LEN + 1];
    char fd_[SEAL_FINGERPRINT_LEN + 1];
    struct idf_err err;
    char padded[100];
    (void)state;

    OK(seal_key_parse(HEX_KEY, strlen(HEX_KEY), &a, &err));
    OK(seal_key_parse(B64_KEY, strlen(B64_KEY), &b, &err));
    OK(seal_key_parse(B64URL_KEY, strlen(B64URL_KEY), &c, &err));
    snprintf(padded, sizeof padded, "  %s\n", HEX_KEY);
    OK(seal_key_parse(padded, strlen(padded), &d, &err));
    fp(a, fa);
    fp(b, fb);
    fp(c, fc);
    fp(d, fd_);
    assert_int_equal(strlen(fa), SEAL_FINGERPRINT_LEN);
    assert_string_equal(fa, fb);
    assert_string_equal(fa, fc);
    assert_string_equal(fa, fd_);
    /* The fingerprint does not reveal the key. */
    assert_null(strstr(HEX_KEY, fa));
    seal_key_free(b);
    seal_key_free(c);
    seal_key_free(d);
    b = NULL;

    /* 63 hex chars, 31 bytes of base64, garbage: refused without quoting. */
    assert_int_equal(seal_key_parse(HEX_KEY, 63, &b, &err), IDF_EINVAL);
    assert_null(b);
    assert_null(strstr(err.msg, "0001020304"));
    assert_int_equal(seal_key_parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", 44, &b, &err), IDF_EINVAL);
    assert_int_equal(seal_key_parse("not a key at all", 16, &b, &err), IDF_EINVAL);
    assert_int_equal(seal_key_parse("", 0, &b, &err), IDF_EINVAL);

    /* A different key, a different fingerprint. */
    OK(seal_key_random(&b, &err));
    fp(b, fb);
    assert_string_not_equal(fa, fb);
    seal_key_free(a);
    seal_key_free(b);
}

static void key_file_created_0600_and_reused(void **state)
{
    char *dir = tu_mktemp_dir();
    char *path = tu_path(dir, "idflow.key");
    struct seal_key *a = NULL, *b = NULL;
    char fa[SEAL_FINGERPRINT_LEN + 1], fb[SEAL_FINGERPRINT_LEN + 1];
    struct idf_err err;
    struct stat st;
    bool created = false;
    size_t len = 0;
    char *text;
    (void)state;

    /* Missing and not to be created: a clear error. */
    assert_int_equal(seal_key_file_load(path, false, &a, &created, &err), IDF_ENOTFOUND);
    assert_non_null(strstr(err.msg, path));

    OK(seal_key_file_load(path, true, &a, &created, &err));
    assert_true(created);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    text = tu_read_file(path, &len);
    assert_non_null(text);
    assert_int_equal(len, 65); /* 64 hex chars and a newline */
    assert_int_equal(strspn(text, "0123456789abcdef"), 64);
    free(text);

    /* Loaded again: the same key, not created. No temp file left behind. */
    OK(seal_key_file_load(path, true, &b, &created, &err));
    assert_false(created);
    fp(a, fa);
    fp(b, fb);
    assert_string_equal(fa, fb);
    seal_key_free(b);
    b = NULL;
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
        assert_int_equal(system(cmd), 0);
    }

    /* Group- or world-accessible: refused, naming the fix. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(seal_key_file_load(path, true, &b, &created, &err), IDF_EDENIED);
    assert_null(b);
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(chmod(path, 0620), 0);
    assert_int_equal(seal_key_file_load(path, true, &b, &created, &err), IDF_EDENIED);
    assert_int_equal(chmod(path, 0600), 0);
    OK(seal_key_file_load(path, false, &b, &created, &err));
    seal_key_free(b);
    b = NULL;

    /* A symbolic link is not followed. */
    {
        char *link = tu_path(dir, "link.key");
        assert_int_equal(symlink(path, link), 0);
        assert_int_equal(seal_key_file_load(link, true, &b, &created, &err), IDF_EDENIED);
        free(link);
    }
    /* A raw 32-byte file and a base64 file are keys too; junk is not. */
    {
        char *raw = tu_path(dir, "raw.key");
        unsigned char bytes[32];
        FILE *f;
        for (int i = 0; i < 32; i++)
            bytes[i] = (unsigned char)i;
        f = fopen(raw, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(bytes, 1, 32, f), 32);
        fclose(f);
        assert_int_equal(chmod(raw, 0600), 0);
        OK(seal_key_file_load(raw, false, &b, NULL, &err));
        fp(b, fb);
        seal_key_free(b);
        b = NULL;
        OK(seal_key_parse(HEX_KEY, 64, &b, &err));
        fp(b, fa);
        assert_string_equal(fa, fb);
        seal_key_free(b);
        b = NULL;
        assert_int_equal(tu_write_file(raw, "this is not a key\n"), 0);
        assert_int_equal(seal_key_file_load(raw, false, &b, NULL, &err), IDF_EINVAL);
        assert_non_null(strstr(err.msg, raw));
        free(raw);
    }
    seal_key_free(a);
    free(path);
    tu_rm_rf(dir);
    free(dir);
}

struct race {
    const char *path;
    char fp[SEAL_FINGERPRINT_LEN + 1];
    int rc;
    bool created;
};

static void *race_load(void *arg)
{
    struct race *r = arg;
    struct seal_key *k = NULL;
    struct idf_err err;
    r->rc = seal_key_file_load(r->path, true, &k, &r->created, &err);
    if (r->rc == 0)
        fp(k, r->fp);
    seal_key_free(k);
    return NULL;
}

/* Several processes or threads using a fresh database at once agree on one key. */
static void key_file_concurrent_first_use(void **state)
{
    enum { N = 8 };
    char *dir = tu_mktemp_dir();
    char *path = tu_path(dir, "idflow.key");
    pthread_t th[N];
    struct race r[N];
    int n_created = 0;
    (void)state;

    for (int i = 0; i < N; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].path = path;
        assert_int_equal(pthread_create(&th[i], NULL, race_load, &r[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].rc, 0);
        assert_string_equal(r[i].fp, r[0].fp);
        n_created += r[i].created;
    }
    assert_int_equal(n_created, 1);
    free(path);
    tu_rm_rf(dir);
    free(dir);
}

/* The key file's folder is created when missing, private (0700), and the
 * file in it 0600, whatever the umask lets through. */
static void key_file_in_new_folder(void **state)
{
    char *dir = tu_mktemp_dir();
    char path[512], sub[512];
    struct seal_key *k = NULL;
    struct idf_err err;
    struct stat st;
    bool created = false;
    mode_t old = umask(022);
    (void)state;

    assert_non_null(dir);
    snprintf(sub, sizeof sub, "%s/etc/idflow", dir);
    snprintf(path, sizeof path, "%s/idflow.key", sub);
    if (seal_key_file_load(path, true, &k, &created, &err) != 0)
        fail_msg("seal_key_file_load: %s", err.msg);
    assert_true(created);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(sub, sizeof sub, "%s/etc", dir);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    seal_key_free(k);
    umask(old);
    tu_rm_rf(dir);
    free(dir);
}

static bool environ_mentions(const char *s)
{
    for (char **e = environ; *e; e++)
        if (strstr(*e, s))
            return true;
    return false;
}

static void env_key_removed_after_reading(void **state)
{
    struct seal_key *k = NULL, *ref = NULL;
    char fk[SEAL_FINGERPRINT_LEN + 1], fr[SEAL_FINGERPRINT_LEN + 1];
    struct idf_err err;
    bool found = true;
    (void)state;

    /* Unset: nothing found, no error. */
    unsetenv(SEAL_ENV_KEY);
    OK(seal_key_from_env(&k, &found, &err));
    assert_false(found);
    assert_null(k);

    assert_int_equal(setenv(SEAL_ENV_KEY, B64_KEY, 1), 0);
    OK(seal_key_from_env(&k, &found, &err));
    assert_true(found);
    assert_non_null(k);
    assert_null(getenv(SEAL_ENV_KEY));
    assert_false(environ_mentions(SEAL_ENV_KEY));
    assert_false(environ_mentions("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"));
    OK(seal_key_parse(HEX_KEY, 64, &ref, &err));
    fp(k, fk);
    fp(ref, fr);
    assert_string_equal(fk, fr);
    seal_key_free(k);
    seal_key_free(ref);
    k = NULL;

    /* The value is wiped where the environment holds it (putenv: this
     * buffer, as the initial environment block is for a started process). */
    {
        static char entry[] = SEAL_ENV_KEY "=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        const char *val = entry + sizeof SEAL_ENV_KEY;
        assert_int_equal(putenv(entry), 0);
        OK(seal_key_from_env(&k, &found, &err));
        assert_true(found);
        assert_null(getenv(SEAL_ENV_KEY));
        for (size_t i = 0; i < 64; i++)
            assert_int_equal(val[i], 0);
        seal_key_free(k);
        k = NULL;
    }

    /* A bad value is refused without quoting it, and removed all the same. */
    assert_int_equal(setenv(SEAL_ENV_KEY, "definitely-not-a-key-value", 1), 0);
    assert_int_equal(seal_key_from_env(&k, &found, &err), IDF_EINVAL);
    assert_true(found);
    assert_null(k);
    assert_non_null(strstr(err.msg, SEAL_ENV_KEY));
    assert_null(strstr(err.msg, "definitely-not"));
    assert_null(getenv(SEAL_ENV_KEY));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(refusals),
        cmocka_unit_test(key_parsing),
        cmocka_unit_test(key_file_created_0600_and_reused),
        cmocka_unit_test(key_file_concurrent_first_use),
        cmocka_unit_test(key_file_in_new_folder),
        cmocka_unit_test(env_key_removed_after_reading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

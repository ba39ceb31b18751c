/* seal.c — the master key (environment, key file) and sealing of secrets
 * with XChaCha20-Poly1305 (libsodium); the format is described in seal.h.
 *
 * Owns: parsing and loading the key, creating the key file, seal/open. It
 * does not know what is sealed (credentials/credentials.c decides that) nor where the key
 * file lives (cred_key_path).
 *
 * Invariants: a struct seal_key is sodium_malloc'd (guard pages, mlock'd) and
 * kept read-only (sodium_mprotect_readonly) from the moment it is filled to
 * the moment seal_key_free wipes it; every temporary copy of key material on
 * the stack or heap is wiped with sodium_memzero before it goes out of scope.
 * Error messages never contain key material or plaintext.
 *
 * Threads: seal_init runs sodium_init once under pthread_once; seal_seal and
 * seal_open only read the key and are thread-safe; seal_key_from_env calls
 * unsetenv and must run before other threads start. */
#include "crypto/seal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"

extern char **environ;

struct seal_key {
    unsigned char k[SEAL_KEY_BYTES]; /* the key; page is read-only while alive */
};

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc; /* written once under sodium_once, read after it */

static void sodium_init_once(void)
{
    sodium_rc = sodium_init() < 0 ? IDF_EIO : 0;
}

int seal_init(struct idf_err *err)
{
    pthread_once(&sodium_once, sodium_init_once);
    if (sodium_rc)
        return idf_err_set(err, sodium_rc, "seal: libsodium could not be initialized");
    return 0;
}

void seal_wipe(void *p, size_t n)
{
    if (p && n)
        sodium_memzero(p, n);
}

void seal_plain_free(char *p, size_t len)
{
    if (!p)
        return;
    sodium_memzero(p, len + 1);
    free(p);
}

void seal_str_free(char *s)
{
    if (s)
        seal_plain_free(s, strlen(s));
}

/* ------------------------------------------------------------------ keys */

/* Takes 32 bytes into a new locked, read-only key. */
static int key_from_bytes(const unsigned char *b, struct seal_key **out, struct idf_err *err)
{
    struct seal_key *k;
    int rc = seal_init(err);

    if (rc)
        return rc;
    k = sodium_malloc(sizeof *k);
    if (!k)
        return idf_err_set(err, IDF_ENOMEM, "seal: cannot allocate protected memory for the key");
    memcpy(k->k, b, SEAL_KEY_BYTES);
    sodium_mprotect_readonly(k);
    *out = k;
    return 0;
}

void seal_key_free(struct seal_key *k)
{
    if (!k)
        return;
    sodium_free(k); /* wipes, unlocks and unmaps */
}

int seal_key_random(struct seal_key **out, struct idf_err *err)
{
    unsigned char b[SEAL_KEY_BYTES];
    int rc;

    *out = NULL;
    rc = seal_init(err);
    if (rc)
        return rc;
    randombytes_buf(b, sizeof b);
    rc = key_from_bytes(b, out, err);
    sodium_memzero(b, sizeof b);
    return rc;
}

int seal_key_parse(const char *text, size_t len, struct seal_key **out, struct idf_err *err)
{
    static const int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                                   sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    unsigned char b[SEAL_KEY_BYTES + 8];
    size_t got = 0;
    const char *end = NULL;
    bool ok = false;
    int rc;

    *out = NULL;
    rc = seal_init(err);
    if (rc)
        return rc;
    while (len && isspace((unsigned char)*text)) {
        text++;
        len--;
    }
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    if (len == 2 * SEAL_KEY_BYTES &&
        sodium_hex2bin(b, sizeof b, text, len, NULL, &got, &end) == 0 && end == text + len &&
        got == SEAL_KEY_BYTES) {
        ok = true;
    }
    for (size_t i = 0; !ok && i < sizeof variants / sizeof variants[0]; i++) {
        if (sodium_base642bin(b, sizeof b, text, len, NULL, &got, &end, variants[i]) == 0 && end == text + len &&
            got == SEAL_KEY_BYTES)
            ok = true;
    }
    if (ok)
        rc = key_from_bytes(b, out, err);
    else
        rc = idf_err_set(err, IDF_EINVAL,
                         "seal: a master key must be 64 hex characters or the base64 of 32 bytes");
    sodium_memzero(b, sizeof b);
    return rc;
}

int seal_key_from_env(struct seal_key **out, bool *found_out, struct idf_err *err)
{
    char *v = getenv(SEAL_ENV_KEY);
    size_t n;
    int rc;

    *out = NULL;
    *found_out = false;
    if (!v)
        return 0;
    *found_out = true;
    n = strlen(v);
    rc = seal_key_parse(v, n, out, err);
    if (rc)
        idf_err_prefix(err, "%s: ", SEAL_ENV_KEY);
    seal_env_scrub();
    return rc;
}

void seal_env_scrub(void)
{
    static const char name[] = SEAL_ENV_KEY "=";

    /* Wipe every value where it lives: the strings of the initial
     * environment are what /proc/<pid>/environ shows, and execve allows the
     * name more than once (getenv sees the first, unsetenv removes them all
     * from environ but not from that memory). Then drop the variable so no
     * child process inherits it. */
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, name, sizeof name - 1) == 0)
            sodium_memzero(*e + sizeof name - 1, strlen(*e + sizeof name - 1));
    unsetenv(SEAL_ENV_KEY);
}

void seal_key_fingerprint(const struct seal_key *k, char *out, size_t n)
{
    static const char label[] = "idflow-key-fingerprint:v1";
    unsigned char h[SEAL_FINGERPRINT_LEN / 2];

    if (n < SEAL_FINGERPRINT_LEN + 1) {
        if (n)
            out[0] = '\0';
        return;
    }
    crypto_generichash(h, sizeof h, (const unsigned char *)label, sizeof label - 1, k->k, SEAL_KEY_BYTES);
    sodium_bin2hex(out, n, h, sizeof h);
}

/* ------------------------------------------------------------ key file */

/* Reads an open key file (at most SEAL_KEY_FILE_MAX bytes) and parses it: 32
 * raw bytes, or the text forms of seal_key_parse. */
static int read_key_fd(int fd, const char *path, struct seal_key **out, struct idf_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = 0;

    buf = sodium_malloc(SEAL_KEY_FILE_MAX + 1);
    if (!buf)
        return idf_err_set(err, IDF_ENOMEM, "seal: out of memory");
    for (;;) {
        ssize_t r = read(fd, buf + len, SEAL_KEY_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = idf_err_set(err, IDF_EIO, "seal: cannot read key file %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > SEAL_KEY_FILE_MAX) {
            rc = idf_err_set(err, IDF_ETOOBIG, "seal: key file %s is larger than %u bytes: not a key file", path,
                             SEAL_KEY_FILE_MAX);
            goto out;
        }
    }
    if (len == SEAL_KEY_BYTES) {
        bool text = true;
        for (size_t i = 0; i < len; i++)
            if (!isgraph((unsigned char)buf[i]))
                text = false;
        if (!text) {
            rc = key_from_bytes((const unsigned char *)buf, out, err);
            goto out;
        }
    }
    rc = seal_key_parse(buf, len, out, err);
    if (rc)
        idf_err_prefix(err, "key file %s: ", path);
out:
    sodium_free(buf);
    return rc;
}

/* Creates path with a fresh key: written to a temporary file in the same
 * directory (its missing folders are created 0700; mkstemp: mode 0600),
 * fsynced, then linked into place, which
 * fails with EEXIST when another process got there first. *raced_out then
 * tells the caller to load the winner's file. */
static int create_key_file(const char *path, bool *raced_out, struct idf_err *err)
{
    unsigned char b[SEAL_KEY_BYTES];
    char hex[2 * SEAL_KEY_BYTES + 2];
    char tmp[4200];
    char dir[4200];
    int fd = -1, dfd = -1, rc = 0;
    size_t off = 0, n;

    *raced_out = false;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return idf_err_set(err, IDF_ETOOBIG, "seal: key file path too long");
    rc = fs_mkdir_parents(path, NULL, err);
    if (rc) {
        idf_err_prefix(err, "seal: key file %s: ", path);
        return rc;
    }
    fd = mkstemp(tmp);
    if (fd < 0)
        return idf_err_set(err, IDF_EIO, "seal: cannot create key file %s: %s", path, strerror(errno));
    (void)fchmod(fd, S_IRUSR | S_IWUSR);
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(hex, sizeof hex, b, sizeof b);
    sodium_memzero(b, sizeof b);
    n = strlen(hex);
    hex[n++] = '\n';
    while (off < n) {
        ssize_t w = write(fd, hex + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = idf_err_set(err, IDF_EIO, "seal: cannot write key file %s: %s", path, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = idf_err_set(err, IDF_EIO, "seal: cannot sync key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (link(tmp, path) != 0) {
        if (errno == EEXIST)
            *raced_out = true;
        else
            rc = idf_err_set(err, IDF_EIO, "seal: cannot create key file %s: %s", path, strerror(errno));
        goto out;
    }
    snprintf(dir, sizeof dir, "%s", path);
    dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        (void)fsync(dfd); /* the new name survives a power loss */
out:
    sodium_memzero(hex, sizeof hex);
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    if (dfd >= 0)
        close(dfd);
    return rc;
}

int seal_key_file_load(const char *path, bool create, struct seal_key **out, bool *created_out,
                       struct idf_err *err)
{
    struct stat st;
    bool created = false;
    int fd = -1, rc;

    *out = NULL;
    if (created_out)
        *created_out = false;
    rc = seal_init(err);
    if (rc)
        return rc;
    if (!path || !*path)
        return idf_err_set(err, IDF_EINVAL, "seal: no key file path");
    for (int tries = 0; tries < 2; tries++) {
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 || errno != ENOENT)
            break;
        if (!create)
            return idf_err_set(err, IDF_ENOTFOUND,
                               "seal: key file %s does not exist (and %s is not set): the master key that sealed "
                               "the stored secrets is needed",
                               path, SEAL_ENV_KEY);
        bool raced = false;
        rc = create_key_file(path, &raced, err);
        if (rc)
            return rc;
        created = !raced;
    }
    if (fd < 0) {
        if (errno == ELOOP)
            return idf_err_set(err, IDF_EDENIED, "seal: key file %s is a symbolic link; refusing to follow it", path);
        return idf_err_set(err, IDF_EIO, "seal: cannot open key file %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        rc = idf_err_set(err, IDF_EIO, "seal: cannot stat key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = idf_err_set(err, IDF_EDENIED, "seal: key file %s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        rc = idf_err_set(err, IDF_EDENIED,
                         "seal: key file %s is accessible by group or others (mode %04o); it holds the master key: "
                         "fix it with: chmod 600 %s",
                         path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    rc = read_key_fd(fd, path, out, err);
    if (rc == 0 && created_out)
        *created_out = created;
out:
    close(fd);
    return rc;
}

/* ------------------------------------------------------------- sealing */

int seal_ad_connection(const char *kind, const char *name, char *out, size_t n)
{
    int w;

    if (!kind || !name || !out)
        return IDF_EINVAL;
    w = snprintf(out, n, "idflow-connection:v1:%s:%s", kind, name);
    if (w < 0 || (size_t)w >= n)
        return IDF_ETOOBIG;
    return 0;
}

int seal_ad_run(long long run_id, char *out, size_t n)
{
    int w;

    if (!out)
        return IDF_EINVAL;
    w = snprintf(out, n, "idflow-run:v1:%lld", run_id);
    if (w < 0 || (size_t)w >= n)
        return IDF_ETOOBIG;
    return 0;
}

int seal_seal_text(const struct seal_key *k, const char *plain, size_t plain_len, const char *ad, char **out,
                   struct idf_err *err)
{
    unsigned char *blob = NULL;
    size_t blob_len = 0, n;
    int rc;

    *out = NULL;
    rc = seal_seal(k, plain, plain_len, ad, &blob, &blob_len, err);
    if (rc)
        return rc;
    n = sodium_base64_encoded_len(blob_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    *out = malloc(n);
    if (!*out) {
        rc = idf_err_set(err, IDF_ENOMEM, "seal: out of memory");
        goto out;
    }
    sodium_bin2base64(*out, n, blob, blob_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
out:
    free(blob);
    return rc;
}

int seal_open_text(const struct seal_key *k, const char *text, const char *ad, char **plain_out,
                   size_t *plain_len_out, struct idf_err *err)
{
    unsigned char *blob = NULL;
    size_t len = text ? strlen(text) : 0, blob_len = 0;
    int rc;

    *plain_out = NULL;
    *plain_len_out = 0;
    rc = seal_init(err);
    if (rc)
        return rc;
    if (!text || len / 4 * 3 > SEAL_PLAIN_MAX + SEAL_OVERHEAD + 3)
        return idf_err_set(err, IDF_EINVAL, "seal: not a sealed value");
    blob = malloc(len / 4 * 3 + 3);
    if (!blob)
        return idf_err_set(err, IDF_ENOMEM, "seal: out of memory");
    if (sodium_base642bin(blob, len / 4 * 3 + 3, text, len, NULL, &blob_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        rc = idf_err_set(err, IDF_EINVAL, "seal: not a sealed value");
        goto out;
    }
    rc = seal_open(k, blob, blob_len, ad, plain_out, plain_len_out, err);
out:
    free(blob);
    return rc;
}

int seal_seal(const struct seal_key *k, const void *plain, size_t plain_len, const char *ad, unsigned char **out,
              size_t *out_len, struct idf_err *err)
{
    unsigned char *blob = NULL;
    unsigned long long clen = 0;
    size_t ad_len;
    int rc;

    *out = NULL;
    *out_len = 0;
    rc = seal_init(err);
    if (rc)
        return rc;
    if (!k || (!plain && plain_len) || !ad)
        return idf_err_set(err, IDF_EINVAL, "seal: missing argument");
    if (plain_len > SEAL_PLAIN_MAX)
        return idf_err_set(err, IDF_ETOOBIG, "seal: secret larger than %u bytes", SEAL_PLAIN_MAX);
    ad_len = strnlen(ad, SEAL_AD_MAX);
    if (ad_len >= SEAL_AD_MAX)
        return idf_err_set(err, IDF_ETOOBIG, "seal: additional data longer than %u bytes", SEAL_AD_MAX - 1);
    blob = malloc(plain_len + SEAL_OVERHEAD);
    if (!blob)
        return idf_err_set(err, IDF_ENOMEM, "seal: out of memory");
    blob[0] = SEAL_FORMAT_V1;
    randombytes_buf(blob + 1, SEAL_NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(blob + 1 + SEAL_NONCE_BYTES, &clen, plain, plain_len,
                                               (const unsigned char *)ad, ad_len, NULL, blob + 1, k->k);
    *out = blob;
    *out_len = 1 + SEAL_NONCE_BYTES + (size_t)clen;
    return 0;
}

int seal_open(const struct seal_key *k, const unsigned char *sealed, size_t sealed_len, const char *ad,
              char **plain_out, size_t *plain_len_out, struct idf_err *err)
{
    unsigned char *plain = NULL;
    unsigned long long plen = 0;
    size_t ad_len, clen;
    int rc;

    *plain_out = NULL;
    *plain_len_out = 0;
    rc = seal_init(err);
    if (rc)
        return rc;
    if (!k || !sealed || !ad)
        return idf_err_set(err, IDF_EINVAL, "seal: missing argument");
    if (sealed_len < SEAL_OVERHEAD)
        return idf_err_set(err, IDF_EINVAL, "seal: sealed value too short (%zu bytes)", sealed_len);
    if (sealed[0] != SEAL_FORMAT_V1)
        return idf_err_set(err, IDF_EINVAL, "seal: sealed value of unknown format version %u", sealed[0]);
    if (sealed_len - SEAL_OVERHEAD > SEAL_PLAIN_MAX)
        return idf_err_set(err, IDF_ETOOBIG, "seal: sealed value larger than %u bytes", SEAL_PLAIN_MAX);
    ad_len = strnlen(ad, SEAL_AD_MAX);
    if (ad_len >= SEAL_AD_MAX)
        return idf_err_set(err, IDF_ETOOBIG, "seal: additional data longer than %u bytes", SEAL_AD_MAX - 1);
    clen = sealed_len - 1 - SEAL_NONCE_BYTES;
    plain = malloc(clen - SEAL_TAG_BYTES + 1);
    if (!plain)
        return idf_err_set(err, IDF_ENOMEM, "seal: out of memory");
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL, sealed + 1 + SEAL_NONCE_BYTES, clen,
                                                   (const unsigned char *)ad, ad_len, sealed + 1, k->k) != 0) {
        free(plain);
        return idf_err_set(err, IDF_EAUTH,
                           "seal: cannot open the sealed secret: wrong master key, or the stored value was altered "
                           "or copied from another row");
    }
    plain[plen] = '\0';
    *plain_out = (char *)plain;
    *plain_len_out = (size_t)plen;
    return 0;
}

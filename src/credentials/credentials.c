/* credentials.c — saving and loading connections: the master key's location,
 * validation against a connector's fields, splitting secret fields from the
 * rest, sealing them, and building the resolved object of a stored row.
 *
 * Owns the storage format of a connection (see credentials.h): the non-
 * secret fields as config JSON, the secret fields as ONE sealed JSON object
 * bound to "idflow-connection:v1:<kind>:<name>". It leaves the crypto to
 * crypto/seal.c, the SQL to the store, and what a valid URL or token is to
 * the connector's validate and check.
 *
 * Invariants: plaintext secrets (the JSON text before sealing and after
 * opening) are wiped before they are freed; no error message quotes a field
 * value of a secret field; every secret that leaves this file unsealed has
 * been registered with log_add_secret.
 *
 * Threads: any, each with its own store connection; the key is read-only. */
#include "credentials/internal.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "core/log.h"
#include "crypto/seal.h"
#include "net/http.h"
#include "store/store.h"

#include "core/rate.h"

#define SANDBOX_FIELD "sandbox" /* a boolean every kind accepts: talk to the local emulator */

/* ----------------------------------------------------------------- key */

int cred_key_path(const char *db_url, const char *key_file_flag, char *out, size_t n, struct idf_err *err)
{
    const char *env = getenv(SEAL_ENV_KEY_FILE);
    const char *path = NULL;
    char dir[4200];
    size_t len;
    int w;

    if (key_file_flag && *key_file_flag)
        w = snprintf(out, n, "%s", key_file_flag);
    else if (env && *env)
        w = snprintf(out, n, "%s", env);
    else {
        if (db_url && strncmp(db_url, "sqlite:", 7) == 0)
            path = db_url + 7;
        else if (db_url && (len = strlen(db_url)) > 3 && strcmp(db_url + len - 3, ".db") == 0 &&
                 !strstr(db_url, "://"))
            path = db_url;
        if (path && *path && strcmp(path, ":memory:") != 0) {
            if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
                return idf_err_set(err, IDF_ETOOBIG, "connections: database path too long");
            w = snprintf(out, n, "%s/%s", dirname(dir), CRED_KEY_FILE);
        } else {
            w = snprintf(out, n, "%s", CRED_KEY_FILE);
        }
    }
    if (w < 0 || (size_t)w >= n)
        return idf_err_set(err, IDF_ETOOBIG, "connections: key file path too long");
    return 0;
}

int cred_load_key(const char *db_url, const char *key_file_flag, bool create, struct seal_key **out,
                         bool *created_out, struct idf_err *err)
{
    char path[4200];
    const char *env_file = getenv(SEAL_ENV_KEY_FILE);
    const bool shared = db_url && store_url_listens(db_url); /* several nodes: one key for all */
    bool found = false, named;
    int rc;

    *out = NULL;
    if (created_out)
        *created_out = false;
    rc = seal_key_from_env(out, &found, err);
    if (rc || found)
        return rc;
    rc = cred_key_path(db_url, key_file_flag, path, sizeof path, err);
    if (rc)
        return rc;
    if (!shared)
        return seal_key_file_load(path, create, out, created_out, err);
    named = (key_file_flag && *key_file_flag) || (env_file && *env_file);
    rc = seal_key_file_load(path, create && named, out, created_out, err);
    if (rc == IDF_ENOTFOUND)
        rc = idf_err_set(err, IDF_ENOTFOUND,
                         "no master key (looked for %s%s): on a shared database every node needs the same key, and "
                         "idflow does not make one here; give each node the key the others use, as the file named "
                         "by IDFLOW_KEY_FILE (or --key-file) or as IDFLOW_MASTER_KEY (docs/operations.md, \"The "
                         "master key and its backup\")",
                         path, named ? "" : ", the default in the working directory");
    return rc;
}

/* ------------------------------------------------------------ validate */

bool cred_name_valid(const char *name)
{
    size_t n;

    if (!name || !*name)
        return false;
    n = strnlen(name, CRED_NAME_MAX + 1);
    if (n > CRED_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '-' && ch != '_' && ch != '.')))
            return false;
    }
    return true;
}

static const struct conn_field *find_field(const struct conn_connection_kind *k, const char *name)
{
    for (const struct conn_field *f = k->fields; f && f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* Names of the fields, for "valid fields are: ..." messages. */
static void field_names(const struct conn_connection_kind *k, char *out, size_t n)
{
    size_t off = 0;

    out[0] = '\0';
    for (const struct conn_field *f = k->fields; f && f->name && off < n; f++) {
        int w = snprintf(out + off, n - off, "%s%s", off ? ", " : "", f->name);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

/* Secret fields: present ones must be non-empty strings within the cap. */
static int check_secrets(const struct connector *c, const json_t *config, struct idf_err *err)
{
    for (const struct conn_field *f = c->connection->fields; f && f->name; f++) {
        const json_t *v = json_object_get(config, f->name);
        if (!f->secret || !v)
            continue;
        if (!json_is_string(v) || json_string_length(v) == 0)
            return idf_err_set(err, IDF_EINVAL, "%s connection: %s must be a non-empty string", c->name, f->name);
        if (json_string_length(v) > CRED_SECRET_MAX)
            return idf_err_set(err, IDF_ETOOBIG, "%s connection: %s is longer than %u bytes", c->name, f->name,
                               CRED_SECRET_MAX);
        if (strlen(json_string_value(v)) != json_string_length(v))
            return idf_err_set(err, IDF_EINVAL, "%s connection: %s contains a NUL byte", c->name, f->name);
    }
    return 0;
}

int cred_validate(const struct connector *c, json_t *config, struct idf_err *err)
{
    const struct conn_connection_kind *k;
    const char *key;
    json_t *v;
    char names[512];
    int rc;

    idf_err_clear(err);
    if (!c || !c->connection)
        return idf_err_set(err, IDF_EINVAL, "connections: %s takes no connection", c ? c->name : "(null)");
    k = c->connection;
    if (!json_is_object(config))
        return idf_err_set(err, IDF_EINVAL, "%s connection: the config must be a JSON object", c->name);
    for (const struct conn_field *f = k->fields; f && f->name; f++)
        if (strcmp(f->name, "name") == 0 || strcmp(f->name, "kind") == 0)
            return idf_err_set(err, IDF_EINVAL, "%s connection: field name '%s' is reserved", c->name, f->name);
    json_object_foreach(config, key, v) {
        if (strcmp(key, CONN_MAX_DESTRUCTIVE_FIELD) == 0 && !find_field(k, key)) {
            /* issue 19: every kind has a budget of destructive calls; stored in its canonical form */
            struct rate_spec spec;
            char canon[32];
            if (!json_is_string(v) || rate_spec_parse(json_string_value(v), CONN_MAX_DESTRUCTIVE_FIELD, &spec, err)) {
                if (!json_is_string(v))
                    idf_err_set(err, IDF_EINVAL, "%s must be a string such as \"20/1h\" or \"off\"",
                                CONN_MAX_DESTRUCTIVE_FIELD);
                idf_err_prefix(err, "%s connection: ", c->name);
                return IDF_EINVAL;
            }
            rate_spec_format(&spec, canon, sizeof canon);
            json_string_set(v, canon);
            continue;
        }
        if (strcmp(key, SANDBOX_FIELD) == 0 && !find_field(k, key)) {
            if (!json_is_boolean(v))
                return idf_err_set(err, IDF_EINVAL, "%s connection: %s must be true or false", c->name,
                                   SANDBOX_FIELD);
            continue;
        }
        if (!find_field(k, key)) {
            field_names(k, names, sizeof names);
            return idf_err_set(err, IDF_EINVAL, "%s connection: unknown field '%.64s' (fields: %s)", c->name, key,
                               names);
        }
    }
    for (const struct conn_field *f = k->fields; f && f->name; f++) {
        v = json_object_get(config, f->name);
        if (f->required && (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)))
            return idf_err_set(err, IDF_EINVAL, "%s connection: %s is required%s%s%s", c->name, f->name,
                               f->doc ? " (" : "", f->doc ? f->doc : "", f->doc ? ")" : "");
    }
    rc = check_secrets(c, config, err);
    if (rc)
        return rc;
    if (k->validate) {
        rc = k->validate(config, err);
        if (rc)
            return rc;
        rc = check_secrets(c, config, err); /* validate may have rewritten fields */
    }
    return rc;
}

/* ---------------------------------------------------------------- wipe */

/* Wipes strings only this object holds (refcount 1 all the way down): a
 * value someone else still references is left intact for them. */
static void wipe(json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;

    if (!v || v->refcount != 1)
        return;
    if (json_is_string(v)) {
        seal_wipe((void *)json_string_value(v), json_string_length(v));
    } else if (json_is_object(v)) {
        json_object_foreach(v, k, x) {
            wipe(x);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            wipe(x);
        }
    }
}

json_t *cred_config_json(const char *text)
{
    json_t *v;

    if (!text)
        return json_null();
    v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(text);
}

void cred_wipe_free(json_t *v)
{
    if (!v)
        return;
    wipe(v);
    json_decref(v);
}

/* ---------------------------------------------------------------- save */

int cred_save(struct store *s, const struct seal_key *key, const struct connector *c, const char *name,
                     json_t *config, const char *actor, bool *created_out, struct idf_err *err)
{
    json_t *secrets = NULL, *pub = NULL;
    char *plain = NULL, *pub_text = NULL;
    size_t plain_len = 0;
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    char ad[SEAL_AD_MAX];
    const char *k;
    json_t *v;
    int rc;

    idf_err_clear(err);
    if (created_out)
        *created_out = false;
    if (!s || !c || !config || !actor || !*actor)
        return idf_err_set(err, IDF_EINVAL, "connections: missing argument");
    if (!cred_name_valid(name))
        return idf_err_set(err, IDF_EINVAL,
                           "connections: a connection name is 1 to %d letters, digits, '-', '_' or '.', starting "
                           "with a letter or digit",
                           CRED_NAME_MAX);
    rc = cred_validate(c, config, err);
    if (rc)
        return rc;
    secrets = json_object();
    pub = json_object();
    if (!secrets || !pub) {
        rc = idf_err_set(err, IDF_ENOMEM, "connections: out of memory");
        goto out;
    }
    json_object_foreach(config, k, v) {
        const struct conn_field *f = find_field(c->connection, k);
        if (f && f->secret)
            log_add_secret(json_string_value(v));
        if (json_object_set(f && f->secret ? secrets : pub, k, v)) {
            rc = idf_err_set(err, IDF_ENOMEM, "connections: out of memory");
            goto out;
        }
    }
    if (json_object_size(secrets)) {
        if (!key) {
            rc = idf_err_set(err, IDF_EAUTH, "connections: no master key loaded to seal the secrets");
            goto out;
        }
        plain = json_dumps(secrets, JSON_COMPACT);
        if (!plain) {
            rc = idf_err_set(err, IDF_ENOMEM, "connections: out of memory");
            goto out;
        }
        plain_len = strlen(plain);
        rc = seal_ad_connection(c->name, name, ad, sizeof ad);
        if (rc) {
            idf_err_set(err, rc, "connections: name too long");
            goto out;
        }
        rc = seal_seal(key, plain, plain_len, ad, &sealed, &sealed_len, err);
        if (rc)
            goto out;
    }
    pub_text = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
    if (!pub_text) {
        rc = idf_err_set(err, IDF_ENOMEM, "connections: out of memory");
        goto out;
    }
    if (strlen(pub_text) > CRED_CONFIG_MAX) {
        rc = idf_err_set(err, IDF_ETOOBIG, "connections: config larger than %u bytes", CRED_CONFIG_MAX);
        goto out;
    }
    rc = store_connection_put(s, name, c->name, pub_text, sealed, sealed_len, actor, created_out, err);
out:
    seal_plain_free(plain, plain_len);
    free(pub_text);
    free(sealed);
    json_decref(secrets); /* its strings are config's: the caller owns and wipes them */
    json_decref(pub);
    return rc;
}

/* --------------------------------------------------------------- build */

int cred__build(const struct seal_key *key, const char *kind, const char *name, const char *config_text,
                       const unsigned char *sealed, size_t sealed_len, json_t **out, struct idf_err *err)
{
    json_t *obj = NULL, *secrets = NULL;
    char *plain = NULL;
    size_t plain_len = 0;
    char ad[SEAL_AD_MAX];
    const char *k;
    json_t *v;
    int rc = 0;

    *out = NULL;
    obj = json_loads(config_text ? config_text : "{}", JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(obj)) {
        rc = idf_err_set(err, IDF_EDB, "connection %s: the stored config is not a JSON object", name);
        goto out;
    }
    if (sealed && sealed_len) {
        if (!key) {
            rc = idf_err_set(err, IDF_EAUTH, "connection %s: no master key loaded to open its secrets", name);
            goto out;
        }
        if (seal_ad_connection(kind, name, ad, sizeof ad)) {
            rc = idf_err_set(err, IDF_ETOOBIG, "connection %s: name too long", name);
            goto out;
        }
        rc = seal_open(key, sealed, sealed_len, ad, &plain, &plain_len, err);
        if (rc) {
            idf_err_prefix(err, "connection %s: ", name);
            goto out;
        }
        secrets = json_loadb(plain, plain_len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(secrets)) {
            rc = idf_err_set(err, IDF_EDB, "connection %s: the sealed secrets are not a JSON object", name);
            goto out;
        }
        json_object_foreach(secrets, k, v) {
            if (json_is_string(v))
                log_add_secret(json_string_value(v));
            if (json_object_set(obj, k, v)) {
                rc = idf_err_set(err, IDF_ENOMEM, "connections: out of memory");
                goto out;
            }
        }
    }
    if (json_object_set_new(obj, "name", json_string(name)) || json_object_set_new(obj, "kind", json_string(kind))) {
        rc = idf_err_set(err, IDF_ENOMEM, "connections: out of memory");
        goto out;
    }
    *out = obj;
    obj = NULL;
out:
    seal_plain_free(plain, plain_len);
    json_decref(obj); /* NULL on success */
    /* On success the secret strings are shared with *out (wipe skips them);
     * on failure this is their last reference and they are wiped. */
    cred_wipe_free(secrets);
    return rc;
}

int cred_load(struct store *s, const struct seal_key *key, const char *name, json_t **out,
                     struct idf_err *err)
{
    char *kind = NULL, *config = NULL;
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    int64_t updated = 0;
    int rc;

    idf_err_clear(err);
    *out = NULL;
    if (!cred_name_valid(name))
        return idf_err_set(err, IDF_EINVAL, "connections: invalid connection name");
    rc = store_connection_get(s, name, &kind, &config, &sealed, &sealed_len, &updated);
    if (rc == IDF_ENOTFOUND)
        return idf_err_set(err, rc, "no connection named %s", name);
    if (rc)
        return idf_err_set(err, rc, "connection %s: cannot read it from the store (%s)", name, idf_strerror(rc));
    rc = cred__build(key, kind, name, config, sealed, sealed_len, out, err);
    free(kind);
    free(config);
    free(sealed);
    return rc;
}

/* ---------------------------------------------------------------- check */

/* Replaces every occurrence of secret in msg by "[redacted]" (in place). */
static void mask_one(char *msg, size_t cap, const char *secret)
{
    static const char mark[] = "[redacted]";
    size_t sl = strlen(secret), ml = sizeof mark - 1;
    char *p;

    if (sl < 4) /* too short to mask without destroying the message */
        return;
    while ((p = strstr(msg, secret)) != NULL) {
        size_t tail = strlen(p + sl);
        if ((size_t)(p - msg) + ml + tail + 1 > cap)
            tail = cap - (size_t)(p - msg) - ml - 1;
        memmove(p + ml, p + sl, tail);
        memcpy(p, mark, ml);
        p[ml + tail] = '\0';
    }
}

/* "host[:port]" of url (scheme, user info and path left out) into out;
 * "the remote system" when url is not a URL. */
static void host_of(const char *url, char *out, size_t n)
{
    const char *p = url ? strstr(url, "://") : NULL, *at;
    size_t len;

    if (!p || !p[3]) {
        snprintf(out, n, "the remote system");
        return;
    }
    p += 3;
    len = strcspn(p, "/?#");
    at = memchr(p, '@', len);
    if (at) {
        len -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    snprintf(out, n, "%.*s", (int)(len > 255 ? 255 : len), p);
}

const char *cred_check_cause(int code)
{
    switch (code) {
    case IDF_EIO:
    case IDF_ETIMEOUT: return CRED_CAUSE_UNREACHABLE; /* the transport failed: no HTTP answer (toolkit/request.c) */
    case IDF_EAUTH:
    case IDF_EDENIED: return CRED_CAUSE_REFUSED; /* 401, 403, or credentials unusable as given */
    default: return CRED_CAUSE_FAILED;
    }
}

int cred_check(const struct connector *c, const char *name, const json_t *config, json_t **whoami_out,
                      struct idf_err *err)
{
    struct http_client *http = NULL;
    json_t *who = NULL, *named = NULL;
    int rc;

    idf_err_clear(err);
    if (whoami_out)
        *whoami_out = NULL;
    if (!c || !c->connection || !name || !json_is_object(config))
        return idf_err_set(err, IDF_EINVAL, "connections: missing argument");
    if (!c->connection->check)
        return 0;
    /* a shallow copy: the values stay the caller's, wiped by the caller */
    named = json_copy((json_t *)config);
    if (!named || json_object_set_new(named, "name", json_string(name)) ||
        json_object_set_new(named, "kind", json_string(c->name)) || http_client_new(&http)) {
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
        goto out;
    }
    rc = c->connection->check(http, named, &who, err);
    if (rc) {
        for (const struct conn_field *f = c->connection->fields; f->name; f++) {
            const char *v = f->secret ? json_string_value(json_object_get(config, f->name)) : NULL;
            if (v)
                mask_one(err->msg, sizeof err->msg, v);
        }
        log_mask_secrets(err->msg);
        err->code = rc;
        if (strcmp(cred_check_cause(rc), CRED_CAUSE_UNREACHABLE) == 0) {
            char host[300];
            host_of(json_string_value(json_object_get(config, "url")), host, sizeof host);
            idf_err_prefix(err, "could not reach %s: ", host);
        }
        goto out;
    }
    if (whoami_out) {
        *whoami_out = who;
        who = NULL;
    }
out:
    json_decref(who);
    json_decref(named);
    http_client_free(http);
    return rc;
}

int cred_prepare(const struct connector *c, const char *name, json_t *config, struct idf_err *err)
{
    struct http_client *http = NULL;
    json_t *named = NULL, *v;
    const char *k;
    int rc;

    idf_err_clear(err);
    if (!c || !c->connection || !name || !json_is_object(config))
        return idf_err_set(err, IDF_EINVAL, "connections: missing argument");
    if (!c->connection->prepare)
        return 0;
    /* a deep copy: the connector may rewrite members; config changes only on success */
    named = json_deep_copy(config);
    if (!named || json_object_set_new(named, "name", json_string(name)) ||
        json_object_set_new(named, "kind", json_string(c->name)) || http_client_new(&http)) {
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
        goto out;
    }
    rc = c->connection->prepare(http, named, err);
    if (rc) {
        for (const struct conn_field *f = c->connection->fields; f->name; f++) {
            const char *s = f->secret ? json_string_value(json_object_get(config, f->name)) : NULL;
            if (s)
                mask_one(err->msg, sizeof err->msg, s);
        }
        log_mask_secrets(err->msg);
        err->code = rc;
        goto out;
    }
    json_object_foreach (named, k, v) {
        const struct conn_field *f = find_field(c->connection, k);
        if (f && !f->secret && json_object_set(config, k, v)) {
            rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
            goto out;
        }
    }
out:
    if (named) /* the copy holds the secrets too */
        cred_wipe_free(named);
    http_client_free(http);
    return rc;
}

/* secrets.c — secrets a run's actions produce, kept out of the store in clear.
 *
 * An action's output may carry a secret the caller asked for: Okta's
 * `tempPassword` (okta.expire_password with temp_password), an
 * `activationToken`, a `resetPasswordUrl`. The value is the string under a
 * secret-named key (engine__secrets_key), at any depth of the output. It is a
 * secret of the run: the later steps of the same run read it as usual
 * (`${{ .steps.<id>.tempPassword }}`), but no copy of it reaches the store
 * in clear:
 *  - run state (the context, foreach items and results) is persisted through
 *    engine__secrets_persist: every string that contains a secret of the run
 *    is replaced by a sealed envelope {"idflow:sealed": "<seal_seal_text>"}
 *    bound to the run id (seal_ad_run), opened again by engine__secrets_open
 *    when the run is claimed next; without a master key (or once the run has
 *    ended) the secret is replaced by "[redacted]" instead, so it lives only
 *    in the worker's memory until the claim ends;
 *  - history (step input, output, error; the run's error; an approval's
 *    message) is masked: each occurrence of a secret becomes "[redacted]".
 * The run's secrets are themselves kept in the context, as the array
 * ctx["secrets"], which is persisted (sealed) like everything else.
 *
 * Stateless; called by the executor (exec*.c) on the thread executing the run. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "crypto/seal.h"
#include "engine/engine_internal.h"

#define SECRETS_KEY "secrets"            /* the context's member holding the run's secrets */
#define SECRETS_ENVELOPE "idflow:sealed" /* the member of a sealed envelope */
#define SECRETS_REDACTED "[redacted]"
#define SECRETS_MAX_DEPTH 64 /* deeper output is not searched (jansson caps parsing at 2048) */

/* A secret-named key that describes a secret rather than holds one (Okta's
 * passwordChanged, a tokenType, an expires_at): its value is not a secret. */
static bool describes_secret(const char *k)
{
    static const char *const suffixes[] = {"changed", "_at", "type", "expires", NULL};
    size_t n = strlen(k);
    for (int i = 0; suffixes[i]; i++) {
        size_t m = strlen(suffixes[i]);
        if (n > m && strcasecmp(k + n - m, suffixes[i]) == 0)
            return true;
    }
    return n > 2 && strcmp(k + n - 2, "At") == 0; /* camelCase time: expiresAt, createdAt */
}

bool engine__secrets_key(const char *k)
{
    return log_key_is_secret(k) && !describes_secret(k);
}

static bool known(const json_t *secrets, const char *v, size_t n)
{
    size_t i;
    json_t *x;
    json_array_foreach (secrets, i, x) {
        if (json_string_length(x) == n && memcmp(json_string_value(x), v, n) == 0)
            return true;
    }
    return false;
}

static int collect(json_t *secrets, const json_t *v, int depth)
{
    const char *k;
    json_t *x;
    size_t i;
    int rc = 0;

    if (depth > SECRETS_MAX_DEPTH)
        return 0;
    if (json_is_object(v)) {
        json_object_foreach ((json_t *)v, k, x) {
            if (json_is_string(x) && engine__secrets_key(k)) {
                const char *s = json_string_value(x);
                size_t n = json_string_length(x);
                if (n == 0 || strcmp(s, SECRETS_REDACTED) == 0 || known(secrets, s, n))
                    continue;
                if (json_array_size(secrets) >= ENGINE_SECRETS_MAX)
                    return IDF_ETOOBIG;
                json_array_append_new(secrets, json_stringn_nocheck(s, n));
            } else if ((rc = collect(secrets, x, depth + 1)) != 0) {
                return rc;
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach (v, i, x) {
            if ((rc = collect(secrets, x, depth + 1)) != 0)
                return rc;
        }
    }
    return 0;
}

int engine__secrets_collect(json_t *ctx, const json_t *output)
{
    json_t *secrets = json_object_get(ctx, SECRETS_KEY);

    if (!json_is_array(secrets)) {
        secrets = json_array();
        if (!secrets || json_object_set_new(ctx, SECRETS_KEY, secrets))
            return IDF_ENOMEM;
    }
    return collect(secrets, output, 0);
}

const json_t *engine__secrets_of(const json_t *ctx)
{
    const json_t *s = json_object_get(ctx, SECRETS_KEY);
    return json_array_size(s) ? s : NULL;
}

/* s[0..n) with every occurrence of a secret replaced by "[redacted]", or NULL
 * when none occurs (*changed false) or memory ran out (*changed true). The
 * result is malloc'd, NUL-terminated, its length in *out_n. */
static char *mask(const char *s, size_t n, const json_t *secrets, size_t *out_n, bool *changed)
{
    char *cur = NULL;
    size_t cur_n = n, i;
    json_t *x;

    *changed = false;
    json_array_foreach (secrets, i, x) {
        const char *sec = json_string_value(x);
        size_t sn = json_string_length(x), count = 0, w = 0;
        const char *src = cur ? cur : s, *p = src, *q, *end = src + cur_n;
        char *next;

        if (sn == 0 || sn > cur_n)
            continue;
        while ((q = memmem(p, (size_t)(end - p), sec, sn)) != NULL) {
            count++;
            p = q + sn;
        }
        if (!count)
            continue;
        next = malloc(cur_n - count * sn + count * strlen(SECRETS_REDACTED) + 1);
        if (!next) {
            free(cur);
            *changed = true;
            return NULL;
        }
        for (p = src; (q = memmem(p, (size_t)(end - p), sec, sn)) != NULL; p = q + sn) {
            memcpy(next + w, p, (size_t)(q - p));
            w += (size_t)(q - p);
            memcpy(next + w, SECRETS_REDACTED, strlen(SECRETS_REDACTED));
            w += strlen(SECRETS_REDACTED);
        }
        memcpy(next + w, p, (size_t)(end - p));
        w += (size_t)(end - p);
        next[w] = '\0';
        free(cur);
        cur = next;
        cur_n = w;
        *changed = true;
    }
    *out_n = cur_n;
    return cur;
}

char *engine__secrets_mask_str(const char *s, const json_t *secrets)
{
    size_t n = 0;
    bool changed = false;
    char *m;

    if (!s)
        return NULL;
    m = mask(s, strlen(s), secrets, &n, &changed);
    return changed ? m : strdup(s);
}

/* One string of run state or history: unchanged (a new reference), sealed, or masked. */
static json_t *persist_string(const json_t *v, const json_t *secrets, const struct seal_key *key, const char *ad)
{
    size_t n = 0;
    bool changed = false;
    char *m = mask(json_string_value(v), json_string_length(v), secrets, &n, &changed);
    json_t *out = NULL;

    if (!changed)
        return json_incref((json_t *)v);
    if (!m)
        return NULL;
    if (key && ad) {
        struct idf_err err;
        char *sealed = NULL;
        idf_err_clear(&err);
        if (seal_seal_text(key, json_string_value(v), json_string_length(v), ad, &sealed, &err) == 0)
            out = json_pack("{s:s}", SECRETS_ENVELOPE, sealed);
        else /* never in clear: without the envelope the value is kept masked */
            log_warn("a secret output could not be sealed (%s); it is stored as [redacted]", err.msg);
        free(sealed);
    }
    if (!out)
        out = json_stringn_nocheck(m, n);
    free(m);
    return out;
}

static json_t *persist(const json_t *v, const json_t *secrets, const struct seal_key *key, const char *ad)
{
    json_t *out = NULL, *x, *y;
    const char *k;
    size_t i;

    if (json_is_string(v))
        return persist_string(v, secrets, key, ad);
    if (json_is_object(v)) {
        out = json_object();
        json_object_foreach ((json_t *)v, k, x) {
            size_t n = 0;
            bool changed = false;
            char *mk = mask(k, strlen(k), secrets, &n, &changed); /* a key is only ever masked */
            y = persist(x, secrets, key, ad);
            if (!out || !y || (changed && !mk) || json_object_set_new(out, changed ? mk : k, y)) {
                free(mk);
                json_decref(out);
                return NULL;
            }
            free(mk);
        }
        return out;
    }
    if (json_is_array(v)) {
        out = json_array();
        json_array_foreach (v, i, x) {
            y = persist(x, secrets, key, ad);
            if (!out || !y || json_array_append_new(out, y)) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    return v ? json_incref((json_t *)v) : NULL;
}

json_t *engine__secrets_persist(const json_t *v, const json_t *secrets, const struct seal_key *key, int64_t run_id)
{
    char ad[64];

    if (!v)
        return NULL;
    if (!json_array_size(secrets))
        return json_incref((json_t *)v);
    if (!key || seal_ad_run((long long)run_id, ad, sizeof ad))
        return persist(v, secrets, NULL, NULL);
    return persist(v, secrets, key, ad);
}

json_t *engine__secrets_history(const json_t *v, const json_t *secrets)
{
    json_t *red = v ? log_redact(v) : NULL, *out;

    if (!red || !json_array_size(secrets))
        return red;
    out = persist(red, secrets, NULL, NULL);
    json_decref(red);
    return out;
}

/* The string an envelope holds, or "[redacted]" when it does not open here. */
static json_t *open_envelope(const json_t *env, const struct seal_key *key, const char *ad)
{
    struct idf_err err;
    char *plain = NULL;
    size_t n = 0;
    json_t *out = NULL;

    idf_err_clear(&err);
    if (key &&
        seal_open_text(key, json_string_value(json_object_get(env, SECRETS_ENVELOPE)), ad, &plain, &n, &err) == 0) {
        out = json_stringn_nocheck(plain, n);
        seal_plain_free(plain, n);
        return out;
    }
    return json_string(SECRETS_REDACTED);
}

static bool is_envelope(const json_t *v)
{
    return json_is_object(v) && json_object_size(v) == 1 && json_is_string(json_object_get(v, SECRETS_ENVELOPE));
}

static json_t *open_tree(json_t *v, const struct seal_key *key, const char *ad)
{
    const char *k;
    json_t *x;
    size_t i;

    if (is_envelope(v)) {
        json_t *s = open_envelope(v, key, ad);
        json_decref(v);
        return s;
    }
    if (json_is_object(v)) {
        json_object_foreach (v, k, x) {
            if (is_envelope(x) || json_is_object(x) || json_is_array(x))
                json_object_set_new(v, k, open_tree(json_incref(x), key, ad));
        }
    } else if (json_is_array(v)) {
        json_array_foreach (v, i, x) {
            if (is_envelope(x) || json_is_object(x) || json_is_array(x))
                json_array_set_new(v, i, open_tree(json_incref(x), key, ad));
        }
    }
    return v;
}

json_t *engine__secrets_open(json_t *v, const struct seal_key *key, int64_t run_id, bool is_ctx)
{
    char ad[64];
    json_t *secrets;
    size_t i;

    if (!v)
        return NULL;
    if (seal_ad_run((long long)run_id, ad, sizeof ad))
        key = NULL;
    v = open_tree(v, key, ad);
    if (!is_ctx)
        return v;
    /* secrets that did not open (no key, another run's, or redacted when the run ended) are gone */
    secrets = json_object_get(v, SECRETS_KEY);
    for (i = json_array_size(secrets); i-- > 0;) {
        if (strcmp(json_string_value(json_array_get(secrets, i)) ?: "", SECRETS_REDACTED) == 0)
            json_array_remove(secrets, i);
    }
    return v;
}

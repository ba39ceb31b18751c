/* session.c — the connector toolkit's session (toolkit.h, prefix ctk_): one
 * action call's view of a remote account, opened from the conn_call, and
 * everything about the credentials it holds: copies kept for scrubbing,
 * registered with the logger, masked out of messages, details and outputs
 * on close, then wiped. Also the failure writers every connector uses.
 *
 * Leaves to the connector: what its credential looks like and how it goes
 * into a header (ctk_secret_add, ctk_auth_set), its URL rules
 * (kind->normalize_url), its error bodies. Requests: request.c.
 *
 * Threads: a session belongs to one call on one thread; no global state
 * (log_add_secret is the logger's, thread-safe). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/toolkit.h"
#include "core/log.h"
#include "crypto/seal.h"

/* A base URL with conn_base_url's checks and no path: for connectors
 * without URL rules of their own. */
static int plain_base(const char *url, bool sandbox, const struct ctk_kind *k, char *out, size_t n, struct idf_err *err)
{
    struct conn_url u;
    int rc = conn_base_url(url, sandbox, k->product, "https://example.com", &u, err);

    if (rc)
        return rc;
    if (strcmp(u.path, "") != 0 && strcmp(u.path, "/") != 0)
        return idf_err_set(err, IDF_EINVAL, "url: must be the account URL, without a path");
    if ((size_t)snprintf(out, n, "%s", u.base) >= n)
        return idf_err_set(err, IDF_EINVAL, "url: too long");
    return 0;
}

int ctk_open(struct ctk_session *s, const struct ctk_kind *kind, struct conn_call *call, struct conn_result *res,
             const char *action)
{
    const json_t *conn = call->connection;
    struct idf_err err = {0};
    size_t nb = kind->max_base && kind->max_base < sizeof s->base ? kind->max_base : sizeof s->base;
    const char *url;
    int rc;

    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->call = call;
    s->res = res;
    s->action = action;
    if (!json_is_object(conn))
        return ctk_fail(s, IDF_EINVAL, false, 0,
                        "%s: no %s connection (define one with `idflow connect %s NAME`, and name it in the "
                        "step's `connection:` when there are several)",
                        action, kind->product, kind->connector);
    s->conn_name = call->connection_name ? call->connection_name : json_string_value(json_object_get(conn, "name"));
    if (!s->conn_name)
        s->conn_name = kind->connector;
    s->sandbox = conn_is_sandbox(conn);
    url = json_string_value(json_object_get(conn, "url"));
    if (!url)
        return ctk_fail(s, IDF_EINVAL, false, 0, "%s: connection '%s' has no url", action, s->conn_name);
    rc = kind->normalize_url ? kind->normalize_url(url, s->sandbox, s->base, nb, &err)
                             : plain_base(url, s->sandbox, kind, s->base, nb, &err);
    if (rc)
        return ctk_fail(s, rc, false, 0, "%s: connection '%s': %s", action, s->conn_name, err.msg);
    return 0;
}

int ctk_secret_take(struct ctk_session *s, char *secret)
{
    if (!secret)
        return IDF_ENOMEM;
    if (s->nsecrets >= CTK_MAX_SECRETS) {
        seal_str_free(secret);
        return IDF_ETOOBIG;
    }
    s->secrets[s->nsecrets++] = secret;
    log_add_secret(secret);
    return 0;
}

int ctk_secret_add(struct ctk_session *s, const char *secret)
{
    return ctk_secret_take(s, strdup(secret));
}

int ctk_auth_set(struct ctk_session *s, const char *fmt, ...)
{
    va_list ap;
    char *line = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return IDF_ENOMEM;
    seal_str_free(s->auth);
    s->auth = line;
    return 0;
}

/* Replaces every occurrence of secret in text (in place, same length). */
static bool mask_one(char *text, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    bool hit = false;
    char *p;

    if (n < CTK_MASK_MIN)
        return false;
    while ((p = strstr(text, secret)) != NULL) {
        memset(p, '*', n);
        hit = true;
    }
    return hit;
}

bool ctk_mask(const struct ctk_session *s, char *text)
{
    bool hit = false;

    for (int i = 0; text && i < s->nsecrets; i++)
        hit |= mask_one(text, s->secrets[i]);
    return hit;
}

static void mask_strings(const struct ctk_session *s, json_t *v)
{
    const char *key;
    json_t *x;
    size_t i;

    if (json_is_string(v)) {
        char *t = strdup(json_string_value(v));
        if (t && ctk_mask(s, t))
            json_string_set(v, t);
        free(t);
    } else if (json_is_object(v)) {
        json_object_foreach (v, key, x)
            mask_strings(s, x);
    } else if (json_is_array(v)) {
        json_array_foreach (v, i, x)
            mask_strings(s, x);
    }
}

json_t *ctk_masked_copy(const struct ctk_session *s, const json_t *v)
{
    json_t *c = v ? json_deep_copy(v) : NULL;

    if (c)
        mask_strings(s, c);
    return c;
}

/* True when v's JSON text contains secret; a value that cannot be dumped
 * counts as containing it (unable to check: treat as tainted). */
static bool json_has(const json_t *v, const char *secret)
{
    char *d;
    bool hit;

    if (!v || !secret || strlen(secret) < CTK_MASK_MIN)
        return false;
    d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    hit = !d || strstr(d, secret) != NULL;
    free(d);
    return hit;
}

int ctk_close(struct ctk_session *s, int rc)
{
    for (int i = 0; i < s->nsecrets && s->res; i++) {
        mask_one(s->res->message, s->secrets[i]);
        if (json_has(s->res->detail, s->secrets[i])) {
            json_decref(s->res->detail);
            s->res->detail = json_pack("{s:s}", "redacted", "the error detail contained a credential and was dropped");
        }
        /* issue 17: what the call reports for the run's history carries no credential either */
        if (mask_one(s->res->change, s->secrets[i]))
            s->res->change[0] = '\0';
        if (json_has(s->res->subjects, s->secrets[i])) {
            json_decref(s->res->subjects);
            s->res->subjects = NULL;
        }
        if (json_has(s->res->output, s->secrets[i])) {
            json_decref(s->res->output);
            s->res->output = NULL;
            s->res->change[0] = '\0'; /* the call now fails: it reports no change */
            rc = ctk_fail(s, IDF_EDENIED, false, 0,
                          "%s: the answer contained the connection's credential; it was dropped", s->action);
        }
    }
    seal_str_free(s->auth);
    s->auth = NULL;
    for (int i = 0; i < s->nsecrets; i++) {
        seal_str_free(s->secrets[i]);
        s->secrets[i] = NULL;
    }
    s->nsecrets = 0;
    return rc;
}

int ctk_vfail(struct ctk_session *s, int code, bool retryable, int64_t retry_after_ms, const char *fmt, va_list ap)
{
    vsnprintf(s->res->message, sizeof s->res->message, fmt, ap);
    s->res->retryable = retryable;
    s->res->retry_after_ms = retry_after_ms;
    return code;
}

int ctk_fail(struct ctk_session *s, int code, bool retryable, int64_t retry_after_ms, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    code = ctk_vfail(s, code, retryable, retry_after_ms, fmt, ap);
    va_end(ap);
    return code;
}

void ctk_detail(struct ctk_session *s, json_t *d)
{
    json_decref(s->res->detail);
    s->res->detail = d;
}

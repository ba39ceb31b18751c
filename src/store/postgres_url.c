/* postgres_url.c — the password of a PostgreSQL URL, kept out of every
 * message: the URL shown masked, and libpq's messages scrubbed.
 *
 * A libpq URL carries a password in its user info
 * ("postgresql://user:PASSWORD@host/db") or as a parameter
 * ("?password=PASSWORD", the key possibly percent-encoded). libpq quotes
 * the URL, or the token it failed to decode, in some of its errors (an
 * unmatched '[', a bad %XX), so store__pg_open passes every libpq message
 * through store__pg_scrub, which replaces each form of the password (raw
 * and percent-decoded) by "***". The URL is parsed here the way libpq reads
 * it: after "scheme://", the user info runs to the first '@' met before any
 * '/'; its password follows its first ':'; parameters follow the first '?'
 * after it, '&'-separated. Pure functions, any thread. */
#include "store/postgres_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_SECRETS_MAX 16u /* password forms masked in a message */

/* The password forms a URL carries (raw and percent-decoded, from its user
 * info and from password= parameters), each a malloc'd string, so that a
 * message can be scrubbed of them. */
struct secrets {
    char *v[PG_SECRETS_MAX];
    size_t n;
};

static void secrets_free(struct secrets *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    s->n = 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A malloc'd copy of s[0..n) with %XX decoded (a bad escape is kept as is). */
static char *decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t k = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return out;
}

static void secrets_add(struct secrets *s, const char *v, size_t n)
{
    if (n == 0 || s->n + 2 > PG_SECRETS_MAX)
        return;
    s->v[s->n] = strndup(v, n);
    if (s->v[s->n])
        s->n++;
    s->v[s->n] = decode(v, n);
    if (s->v[s->n])
        s->n++;
}

/* Where the URL's parts are, the way libpq reads them (see the top). */
struct url_parts {
    size_t pw_at, pw_len; /* the user info's password (pw_len 0: none) */
    size_t query_at;      /* index of the '?' (0: no parameters) */
};

static void url_split(const char *url, struct url_parts *u)
{
    const char *auth = strstr(url, "://");
    const char *p, *at = NULL;

    memset(u, 0, sizeof *u);
    if (!auth)
        return;
    auth += 3;
    for (p = auth; *p && *p != '/'; p++)
        if (*p == '@') {
            at = p;
            break;
        }
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon) {
            u->pw_at = (size_t)(colon + 1 - url);
            u->pw_len = (size_t)(at - colon - 1);
        }
    }
    p = strchr(at ? at : auth, '?');
    if (p)
        u->query_at = (size_t)(p - url);
}

/* Calls fn for every "password=" parameter's value (key matched after
 * percent-decoding, as libpq does). */
static void each_password_param(const char *url, const struct url_parts *u,
                                void (*fn)(void *ctx, size_t at, size_t len), void *ctx)
{
    size_t i;

    if (!u->query_at)
        return;
    i = u->query_at + 1;
    while (url[i]) {
        size_t end = i, eq;
        char *key;
        while (url[end] && url[end] != '&')
            end++;
        for (eq = i; eq < end && url[eq] != '='; eq++)
            ;
        key = eq < end ? decode(url + i, eq - i) : NULL;
        if (key && strcmp(key, "password") == 0)
            fn(ctx, eq + 1, end - eq - 1);
        free(key);
        i = url[end] ? end + 1 : end;
    }
}

struct collect_ctx {
    const char *url;
    struct secrets *s;
};

static void collect_param(void *ctx, size_t at, size_t len)
{
    struct collect_ctx *cc = ctx;
    secrets_add(cc->s, cc->url + at, len);
}

static void url_secrets(const char *url, struct secrets *s)
{
    struct url_parts u;
    struct collect_ctx cc = {url, s};

    url_split(url, &u);
    if (u.pw_len)
        secrets_add(s, url + u.pw_at, u.pw_len);
    each_password_param(url, &u, collect_param, &cc);
}

/* marks (one byte per URL byte) gets 1 over a password parameter's value. */
static void mark_param(void *ctx, size_t at, size_t len)
{
    char *marks = ctx;
    memset(marks + at, 1, len);
}

void store__pg_url_masked(const char *url, char *out, size_t n)
{
    size_t len = strlen(url), k = 0;
    struct url_parts u;
    char *marks = calloc(len + 1, 1);

    if (!marks) {
        snprintf(out, n, "the PostgreSQL URL");
        return;
    }
    url_split(url, &u);
    if (u.pw_len)
        memset(marks + u.pw_at, 1, u.pw_len);
    each_password_param(url, &u, mark_param, marks);
    for (size_t i = 0; i < len && k + 4 < n;) {
        if (marks[i]) {
            memcpy(out + k, "***", 3);
            k += 3;
            while (i < len && marks[i])
                i++;
        } else {
            out[k++] = url[i++];
        }
    }
    out[k] = '\0';
    free(marks);
}

/* msg with every occurrence of each secret replaced by "***", made one line
 * into out (STORE__PG_MSG_MAX bytes). Scrubbed whole before it is cut, so a
 * cut never leaves the start of a password behind. */
static void scrubbed_line(char *out, const char *msg, const struct secrets *s)
{
    size_t len = strlen(msg ? msg : "");
    char *a = malloc(3 * len + 1), *b = malloc(3 * len + 1);

    if (!a || !b) {
        snprintf(out, STORE__PG_MSG_MAX, "(message left out: out of memory)");
        goto out;
    }
    memcpy(a, msg ? msg : "", len + 1);
    for (size_t i = 0; i < s->n; i++) {
        size_t sl = strlen(s->v[i]), k = 0;
        const char *p = a, *hit;
        char *t;
        if (!sl)
            continue;
        while ((hit = strstr(p, s->v[i])) != NULL) {
            memcpy(b + k, p, (size_t)(hit - p));
            k += (size_t)(hit - p);
            memcpy(b + k, "***", 3);
            k += 3;
            p = hit + sl;
        }
        strcpy(b + k, p); /* b holds 3 * len + 1: every char could become "***" */
        t = a;
        a = b;
        b = t;
    }
    store__pg_one_line(out, a);
out:
    free(a);
    free(b);
}

void store__pg_scrub(const char *url, const char *msg, char *out)
{
    struct secrets sec = {0};

    url_secrets(url, &sec);
    scrubbed_line(out, msg, &sec);
    secrets_free(&sec);
}

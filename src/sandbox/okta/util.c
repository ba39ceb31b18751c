/* okta/util.c — the Okta half's shared conventions: the error object, body
 * parsing, public copies, ids and times, query parameters, and Link-header
 * pagination.
 *
 * Called on HTTP server threads with sb->lock held (see okta/internal.h).
 * Pagination invariant: an `after` cursor is the "_sbx.seq" of the last item
 * of the previous page; items are handed in ascending seq order, so a cursor
 * stays valid when objects are added or removed between pages. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "sandbox/okta/internal.h"

/* ------------------------------------------------------------ errors */

void sbok__error(struct sbok_ctx *c, int status, const char *code, const char *summary,
                 const char *const *causes)
{
    char eid[32] = "oae";
    sbok__rand_alnum(eid + 3, 22);
    json_t *arr = json_array();
    for (size_t i = 0; causes && causes[i]; i++)
        json_array_append_new(arr, json_pack("{s:s}", "errorSummary", causes[i]));
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:o}", "errorCode", code, "errorSummary", summary,
                          "errorLink", code, "errorId", eid, "errorCauses", arr);
    sbok__json(c, status, e);
}

void sbok__error1(struct sbok_ctx *c, int status, const char *code, const char *summary, const char *cause)
{
    const char *causes[] = {cause, NULL};
    sbok__error(c, status, code, summary, cause ? causes : NULL);
}

void sbok__not_found(struct sbok_ctx *c, const char *what, const char *type)
{
    char msg[SBOK_MAX_SEG_LEN + 96];
    snprintf(msg, sizeof msg, "Not found: Resource not found: %s (%s)", what, type);
    sbok__error(c, 404, "E0000007", msg, NULL);
}

void sbok__bad_body(struct sbok_ctx *c)
{
    sbok__error(c, 400, "E0000003", "The request body was not well-formed.", NULL);
}

void sbok__validation(struct sbok_ctx *c, const char *what, const char *cause)
{
    char msg[256];
    snprintf(msg, sizeof msg, "Api validation failed: %s", what);
    sbok__error1(c, 400, "E0000001", msg, cause);
}

bool sbok__body(struct sbok_ctx *c, bool allow_empty)
{
    if (c->body)
        return true;
    if (c->req->body_len == 0) {
        if (!allow_empty) {
            sbok__bad_body(c);
            return false;
        }
        c->body = json_object();
        return true;
    }
    if (c->req->body_len > SBOK_MAX_BODY) {
        sbok__error1(c, 413, "E0000001", "Api validation failed: request body",
                     "The request body is larger than the sandbox accepts (1 MiB).");
        return false;
    }
    json_error_t jerr;
    json_t *v = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v || !json_is_object(v)) {
        json_decref(v);
        sbok__bad_body(c);
        return false;
    }
    c->body = v;
    return true;
}

void sbok__json(struct sbok_ctx *c, int status, json_t *obj)
{
    http_resp_json(c->resp, status, obj);
}

void sbok__no_content(struct sbok_ctx *c)
{
    http_resp_json(c->resp, 204, NULL);
}

void sbok__empty_ok(struct sbok_ctx *c)
{
    http_resp_text(c->resp, 200, "text/plain", "");
}

json_t *sbok__public(const json_t *obj)
{
    json_t *copy = json_deep_copy(obj);
    if (copy)
        json_object_del(copy, "_sbx");
    return copy;
}

json_t *sbok__sbx(json_t *obj)
{
    json_t *s = json_object_get(obj, "_sbx");
    if (!s) {
        s = json_object();
        json_object_set_new(obj, "_sbx", s);
    }
    return s;
}

/* -------------------------------------------------------- ids, times */

void sbok__now_iso(char out[32])
{
    time_format_iso(time_now_ms(), out, 32);
}

int64_t sbok__iso_ms(const char *iso)
{
    int64_t ms;
    if (!iso || time_parse_iso(iso, &ms) != 0)
        return -1;
    return ms;
}

int64_t sbok__next_seq(struct sbok_org *o)
{
    return ++o->seq;
}

int64_t sbok__seq_of(const json_t *obj)
{
    return json_integer_value(json_object_get(json_object_get(obj, "_sbx"), "seq"));
}

void sbok__rand_alnum(char *out, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t i = 0; i < n; i++)
        out[i] = abc[arc4random_uniform(sizeof abc - 1)];
    out[n] = '\0';
}

void sbok__uuid(char out[37])
{
    unsigned char b[16];
    arc4random_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* ------------------------------------------------------ query params */

const char *sbok__q(struct sbok_ctx *c, const char *name)
{
    return http_req_query(c->req, name);
}

bool sbok__q_bool(struct sbok_ctx *c, const char *name, bool dflt)
{
    const char *v = sbok__q(c, name);
    if (!v)
        return dflt;
    return strcasecmp(v, "true") == 0;
}

bool sbok__q_limit(struct sbok_ctx *c, int dflt, int max, int *out)
{
    const char *v = sbok__q(c, "limit");
    *out = dflt;
    if (!v)
        return true;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 0) {
        sbok__error(c, 400, "E0000029", "Invalid paging request.", NULL);
        return false;
    }
    *out = n > max ? max : (int)n;
    return true;
}

/* --------------------------------------------------------- paging */

void sbok__header(struct sbok_ctx *c, const char *name, const char *value)
{
    if (http_resp_header(c->resp, name, value) != 0)
        return; /* the header table is full: drop it rather than fail the call */
}

/* True when the query pair p (len bytes) has the given key. */
static bool pair_is(const char *p, size_t len, const char *key)
{
    size_t k = strlen(key);
    return len >= k && strncmp(p, key, k) == 0 && (len == k || p[k] == '=');
}

/* Appends the query of the current request to b (encoding kept as sent),
 * without `after`, and without `since` when a cursor replaces it. */
static void keep_query(struct buf *b, const char *query, bool cursor, bool *first)
{
    const char *p = query;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len && !pair_is(p, len, "after") && !(cursor && pair_is(p, len, "since"))) {
            if (buf_puts(b, *first ? "?" : "&") != 0 || buf_append(b, p, len) != 0)
                return;
            *first = false;
        }
        p = amp ? amp + 1 : NULL;
    }
}

void sbok__link(struct sbok_ctx *c, const char *rel, const char *after, bool keep)
{
    struct buf b;
    buf_init(&b, HTTP_MAX_URL + 512);
    bool first = true;
    if (buf_printf(&b, "<%s%s", c->base, c->req->raw_path) != 0)
        goto out;
    if (keep)
        keep_query(&b, c->req->query, after != NULL, &first);
    if (after) {
        char *enc = http_urlencode(after);
        int rc = buf_printf(&b, "%safter=%s", first ? "?" : "&", enc ? enc : "");
        free(enc);
        if (rc != 0)
            goto out;
    }
    if (buf_printf(&b, ">; rel=\"%s\"", rel) != 0)
        goto out;
    sbok__header(c, "Link", b.data);
out:
    buf_free(&b);
}

void sbok__page(struct sbok_ctx *c, json_t *items, const int64_t *seqs, int limit, bool pageable)
{
    int64_t after = -1;
    const char *a = sbok__q(c, "after");
    if (a && pageable)
        after = strtoll(a, NULL, 10);
    json_t *page = json_array();
    size_t n = json_array_size(items), i = 0;
    while (i < n && after >= 0 && seqs[i] <= after)
        i++;
    int64_t last = -1;
    for (; i < n && (int)json_array_size(page) < limit; i++) {
        json_array_append(page, json_array_get(items, i));
        last = seqs[i];
    }
    sbok__link(c, "self", NULL, true);
    if (pageable && i < n && last >= 0) {
        char cur[32];
        snprintf(cur, sizeof cur, "%lld", (long long)last);
        sbok__link(c, "next", cur, true);
    }
    json_decref(items);
    sbok__json(c, 200, page);
}

/* ------------------------------------------------------------ misc */

bool sbok__ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

bool sbok__has_4byte_utf8(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if (*p >= 0xF0)
            return true;
    return false;
}

void sbok__user_display(const json_t *user, char *out, size_t n)
{
    const json_t *p = json_object_get(user, "profile");
    const char *f = json_string_value(json_object_get(p, "firstName"));
    const char *l = json_string_value(json_object_get(p, "lastName"));
    snprintf(out, n, "%s%s%s", f ? f : "", f && l ? " " : "", l ? l : "");
}

json_t *sbok__find_id(json_t *arr, const char *id)
{
    size_t i;
    json_t *v;
    if (!id)
        return NULL;
    json_array_foreach(arr, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "id")) ?: "", id) == 0)
            return v;
    }
    return NULL;
}

json_t *sbok__user_find(struct sbok_org *o, const char *key)
{
    json_t *u = sbok__find_id(o->users, key);
    if (u || !key || !*key)
        return u;
    size_t i;
    json_t *v;
    json_array_foreach(o->users, i, v)
    {
        const char *login = json_string_value(json_object_get(json_object_get(v, "profile"), "login"));
        if (sbok__ieq(login, key))
            return v;
    }
    /* An unambiguous short name: the part of a login before '@'. */
    if (strchr(key, '@'))
        return NULL;
    json_t *hit = NULL;
    size_t klen = strlen(key);
    json_array_foreach(o->users, i, v)
    {
        const char *login = json_string_value(json_object_get(json_object_get(v, "profile"), "login"));
        const char *at = login ? strchr(login, '@') : NULL;
        if (at && (size_t)(at - login) == klen && strncasecmp(login, key, klen) == 0) {
            if (hit)
                return NULL; /* ambiguous */
            hit = v;
        }
    }
    return hit;
}

json_t *sbok__user_find_path(struct sbok_org *o, const char *key)
{
    /* Okta: "Logins with a / or ? character can only be fetched by id due to
     * URL issues with escaping the / and ? characters" (the Users API's Get
     * User). Ids never hold either, so a key with one names no user here. */
    if (!key || strpbrk(key, "/?"))
        return NULL;
    return sbok__user_find(o, key);
}

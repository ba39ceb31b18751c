/* http_req.c — the request accessors and response helpers that handlers
 * call (http_req_*, http_resp_*), and percent-decoding.
 *
 * Leaves the request lifecycle (reading, answering, delaying) to
 * http_server.c. Handlers call these on the server thread that runs them;
 * a request or response belongs to that thread for the handler's duration.
 * Invariant: every string http_req_query or http_req_form returns is on the
 * request's qvals list and freed (http__req_impl_fini) right after the
 * handler returns. */
#include <stdlib.h>
#include <string.h>

#include "net/http_internal.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t http__pct_decode_into(char *out, const char *s, size_t n, bool plus, bool *had_nul)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        int hi, lo;

        if (s[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            out[o] = (char)(hi << 4 | lo);
            if (out[o] == '\0' && had_nul)
                *had_nul = true;
            o++;
            i += 2;
        } else if (plus && s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return o;
}

void http__req_impl_fini(struct http__req_impl *ri)
{
    while (ri->qvals) {
        struct http__qval *n = ri->qvals->next;

        free(ri->qvals);
        ri->qvals = n;
    }
}

/* ---------------------------------------------------------------- requests */

const char *http_req_header(const struct http_req *req, const char *name)
{
    const struct http__req_impl *ri = req->impl;

    if (!ri || !name)
        return NULL;
    /* MHD compares header names case-insensitively. */
    return MHD_lookup_connection_value(ri->conn, MHD_HEADER_KIND, name);
}

struct each_ctx {
    bool (*fn)(void *ud, const char *name, const char *value);
    void *ud;
};

static enum MHD_Result each_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct each_ctx *e = cls;

    (void)kind;
    return e->fn(e->ud, key, value ? value : "") ? MHD_YES : MHD_NO;
}

void http_req_each_header(const struct http_req *req, bool (*fn)(void *ud, const char *name, const char *value),
                          void *ud)
{
    const struct http__req_impl *ri = req->impl;
    struct each_ctx e = {fn, ud};

    if (ri && fn)
        MHD_get_connection_values(ri->conn, MHD_HEADER_KIND, each_header, &e);
}

/* True when the raw query key k (klen bytes) decodes to name. */
static bool key_is(const char *k, size_t klen, const char *name)
{
    char small[128];
    char *dec = klen < sizeof small ? small : malloc(klen + 1);
    bool yes;

    if (!dec)
        return false;
    http__pct_decode_into(dec, k, klen, true, NULL);
    yes = strcmp(dec, name) == 0;
    if (dec != small)
        free(dec);
    return yes;
}

/* The decoded value of the first pair named name in the n bytes at p, an
 * application/x-www-form-urlencoded list ("a=1&b=2", as a query string or a
 * form body), kept on the request's qvals list; NULL when none. */
static const char *pairs_lookup(struct http__req_impl *ri, const char *p, size_t n, const char *name)
{
    const char *end = p + n;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        size_t plen = amp ? (size_t)(amp - p) : (size_t)(end - p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;

        if (key_is(p, klen, name)) {
            size_t vlen = eq ? plen - klen - 1 : 0;
            struct http__qval *q = malloc(sizeof *q + vlen + 1);

            if (!q)
                return NULL;
            http__pct_decode_into(q->s, eq ? eq + 1 : "", vlen, true, NULL);
            q->next = ri->qvals;
            ri->qvals = q;
            return q->s;
        }
        p += plen;
        if (p < end && *p == '&')
            p++;
    }
    return NULL;
}

const char *http_req_query(const struct http_req *req, const char *name)
{
    struct http__req_impl *ri = req->impl;

    if (!ri || !name || !req->query)
        return NULL;
    return pairs_lookup(ri, req->query, strlen(req->query), name);
}

const char *http_req_form(const struct http_req *req, const char *name)
{
    struct http__req_impl *ri = req->impl;

    if (!ri || !name || !req->body)
        return NULL;
    return pairs_lookup(ri, req->body, req->body_len, name);
}

/* ---------------------------------------------------------------- responses */

/* RFC 9110 token characters. */
static bool valid_header_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?={}", c))
            return false;
    }
    return true;
}

int http_resp_header(struct http_resp *resp, const char *name, const char *value)
{
    size_t n, nl, vl;
    char *line;

    if (!name || !value || !valid_header_name(name) || strpbrk(value, "\r\n"))
        return IDF_EINVAL;
    if (resp->n_headers >= HTTP_MAX_HEADERS)
        return IDF_ETOOBIG;
    nl = strlen(name);
    vl = strlen(value);
    n = nl + 2 + vl + 1;
    if (n > HTTP__MAX_HEADER_LINE)
        return IDF_ETOOBIG;
    line = malloc(n);
    if (!line)
        return IDF_ENOMEM;
    memcpy(line, name, nl);
    memcpy(line + nl, ": ", 2);
    memcpy(line + nl + 2, value, vl + 1);
    resp->headers[resp->n_headers++] = line;
    return 0;
}

/* Replaces resp's body with a fixed 500 (the wanted body did not fit). */
static void resp_too_large(struct http_resp *resp)
{
    int rc;

    buf_reset(&resp->body);
    resp->status = 500;
    resp->content_type = "application/json";
    rc = buf_puts(&resp->body, "{\"error\":\"response too large\"}");
    (void)rc; /* a 30-byte body always fits */
}

void http_resp_text(struct http_resp *resp, int status, const char *content_type, const char *text)
{
    resp->status = status;
    resp->content_type = content_type ? content_type : "text/plain; charset=utf-8";
    buf_reset(&resp->body);
    if (text && buf_puts(&resp->body, text) != 0)
        resp_too_large(resp);
}

void http_resp_json(struct http_resp *resp, int status, json_t *body)
{
    char *s;

    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    if (!body)
        return;
    s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (!s || buf_puts(&resp->body, s) != 0)
        resp_too_large(resp);
    free(s);
}

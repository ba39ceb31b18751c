/* http_internal.h — what http_server.c and http_req.c share. Private to
 * src/net/. */
#ifndef IDF_NET_HTTP_INTERNAL_H
#define IDF_NET_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "net/http.h"

/* Longest "Name: value" response header line accepted by http_resp_header. */
#define HTTP__MAX_HEADER_LINE 8192

/* One string handed out by http_req_query. */
struct http__qval {
    struct http__qval *next;
    char s[];
};

/* What http_req.impl points to during a handler call. */
struct http__req_impl {
    struct MHD_Connection *conn; /* borrowed from MHD for the request's life */
    struct http__qval *qvals;    /* strings returned by http_req_query, owned */
};

/* Percent-decodes n bytes of s (and '+' as a space when plus) into out, which
 * holds at least n + 1 bytes; NUL-terminates and returns the decoded length.
 * Invalid escapes are kept as they are. *had_nul (may be NULL) is set when a
 * %00 was decoded. */
size_t http__pct_decode_into(char *out, const char *s, size_t n, bool plus, bool *had_nul);

/* What the framing headers of one request say (http_framing.c). Start
 * zeroed, then http__framing_add every header in the order received. */
struct http__framing {
    bool http10;        /* the request line says HTTP/1.0 (set by the caller) */
    int n_cl;           /* Content-Length headers */
    int n_te;           /* Transfer-Encoding headers */
    int n_chunked;      /* "chunked" codings over every Transfer-Encoding header */
    int n_other;        /* any other coding */
    bool last_chunked;  /* the final coding listed is "chunked" */
    bool exact_chunked; /* the last Transfer-Encoding value is exactly "chunked" */
};

/* Counts one request header (name and value borrowed for the call). */
void http__framing_add(struct http__framing *f, const char *name, const char *value);

/* 0 when the request's body length is unambiguous (a chunked HTTP/1.0
 * request is not: chunked did not exist then). Otherwise the status to
 * answer (400, or 501 for a transfer coding other than chunked), with *json
 * pointing at a static JSON error body naming the problem. */
int http__framing_verdict(const struct http__framing *f, const char **json);

/* Frees the strings handed out by http_req_query. */
void http__req_impl_fini(struct http__req_impl *ri);

#endif

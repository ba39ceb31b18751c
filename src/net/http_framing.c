/* http_framing.c — decides whether a request's framing headers say, without
 * any doubt, where its body ends (RFC 9112 §6): the defence against request
 * smuggling, where a proxy in front and this server would read the same
 * bytes as different requests.
 *
 * Accepted: no framing header; exactly one Content-Length header; or, in an
 * HTTP/1.1 request, one Transfer-Encoding header whose value is "chunked"
 * (any case, nothing else, not even trailing blanks) and no Content-Length. Everything else is refused before the
 * handler runs, and the connection is closed after the answer (http_server.c does both). Identical repeated
 * Content-Length values are refused too: RFC 9112 §6.3 allows folding them into one, refusing is simpler and no honest
 * client sends them. The value of a single Content-Length is checked by libmicrohttpd itself (it answers 400 and closes
 * on anything but digits).
 *
 * Leaves to others: reading the body, the size limit. Pure functions; any
 * thread. */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "net/http_internal.h"

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Counts the transfer codings of one Transfer-Encoding value (a comma
 * list; empty elements are skipped, parameters make a coding "other"). */
static void add_codings(struct http__framing *f, const char *v)
{
    while (*v) {
        const char *start, *end;
        size_t n;

        while (is_ows(*v) || *v == ',')
            v++;
        if (!*v)
            break;
        start = v;
        while (*v && *v != ',')
            v++;
        end = v;
        while (end > start && is_ows(end[-1]))
            end--;
        n = (size_t)(end - start);
        f->last_chunked = n == 7 && strncasecmp(start, "chunked", 7) == 0;
        if (f->last_chunked)
            f->n_chunked++;
        else
            f->n_other++;
    }
}

void http__framing_add(struct http__framing *f, const char *name, const char *value)
{
    if (!name)
        return;
    if (strcasecmp(name, "Content-Length") == 0) {
        f->n_cl++;
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        f->n_te++;
        /* What libmicrohttpd 0.9.75 decodes as chunked: the whole value,
         * compared without case; it does not trim trailing blanks, and it
         * reads the body of any other value until the connection closes. */
        f->exact_chunked = value && strcasecmp(value, "chunked") == 0;
        f->last_chunked = false; /* an empty header ends the list without chunked */
        add_codings(f, value ? value : "");
    }
}

int http__framing_verdict(const struct http__framing *f, const char **json)
{
    *json = NULL;
    if (f->n_cl > 1) {
        *json = "{\"error\":\"more than one Content-Length header: the body length is ambiguous\"}";
        return 400;
    }
    if (f->n_te == 0)
        return 0;
    if (f->n_cl > 0) {
        *json = "{\"error\":\"both Content-Length and Transfer-Encoding: the body length is ambiguous\"}";
        return 400;
    }
    if (f->http10) {
        /* RFC 9112 6.1: an HTTP/1.0 intermediary would not have decoded it. */
        *json = "{\"error\":\"Transfer-Encoding in an HTTP/1.0 request: the body length is ambiguous\"}";
        return 400;
    }
    if (f->n_te == 1 && f->exact_chunked)
        return 0;
    if (f->n_chunked == 1 && f->last_chunked && f->n_other > 0) {
        *json = "{\"error\":\"unsupported Transfer-Encoding: only chunked is accepted\"}";
        return 501;
    }
    *json = "{\"error\":\"invalid Transfer-Encoding: chunked must be the final coding, once\"}";
    return 400;
}

/* http.h — the HTTP server (libmicrohttpd) and client (libcurl) wrappers.
 *
 * Server: one listener with a thread pool; the whole request body is read
 * (up to a cap) before the handler is called, so handlers see a complete
 * request and fill a response. Handlers run on the server's threads and must
 * be thread-safe.
 *
 * Client: one `struct http_client` per thread (it reuses one CURL easy handle,
 * so connections are kept alive); never shared between threads. */
#ifndef IDF_NET_HTTP_H
#define IDF_NET_HTTP_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* ---------------------------------------------------------------- server */

#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_URL 8192

struct http_req {
    const char *method;   /* "GET", "POST", ... */
    const char *path;     /* decoded path without the query ("/api/v1/users/a%40b" stays raw: see raw_path) */
    const char *raw_path; /* the path as sent, percent-encoding kept */
    const char *query;    /* raw query string after '?', "" when none */
    const char *body;     /* NUL-terminated body, "" when none */
    size_t body_len;
    bool has_content_length; /* the request carried Content-Length (or a chunked body) */
    const char *remote;   /* peer address as text */
    void *impl;           /* private to http_server.c */
};

struct http_resp {
    int status;        /* default 200 */
    struct buf body;   /* capped at BUF_CAP_HTTP_RESPONSE */
    char *headers[HTTP_MAX_HEADERS]; /* "Name: value" strings, owned */
    int n_headers;
    const char *content_type; /* static string; default "application/json" */
    int64_t delay_ms;  /* >0: the server waits this long before answering (sandbox latency) */
    bool drop;         /* true: close the connection without answering (sandbox faults) */
};

/* Request accessors. Returned strings are borrowed, valid during the handler. */
const char *http_req_header(const struct http_req *req, const char *name); /* case-insensitive, NULL when absent */

/* Calls fn(ud, name, value) for every request header in the order received
 * (names as sent); stops early when fn returns false. Strings are borrowed,
 * valid during the handler. */
void http_req_each_header(const struct http_req *req, bool (*fn)(void *ud, const char *name, const char *value),
                          void *ud);

/* Returns the decoded value of a query parameter (first occurrence), or NULL.
 * The returned string is owned by the request (freed after the handler). */
const char *http_req_query(const struct http_req *req, const char *name);

/* The same for a pair of an application/x-www-form-urlencoded body ("a=1&b=2",
 * the whole body_len bytes); the caller checks the Content-Type. */
const char *http_req_form(const struct http_req *req, const char *name);

/* Response helpers. */
int http_resp_header(struct http_resp *resp, const char *name, const char *value) IDF_MUST_USE;
/* Sets status and a JSON body; steals body (may be NULL for an empty body). */
void http_resp_json(struct http_resp *resp, int status, json_t *body);
/* Sets status and a text body with the given content type (static string). */
void http_resp_text(struct http_resp *resp, int status, const char *content_type, const char *text);

typedef void (*http_handler_fn)(void *ud, const struct http_req *req, struct http_resp *resp);

struct http_server_opts {
    const char *addr;      /* "127.0.0.1", "::1", "0.0.0.0" */
    int port;              /* 0 = pick a free port (read it back with http_server_port) */
    size_t max_body;       /* bodies above this get 413 before the handler runs */
    int threads;           /* thread-pool size, default 8 */
    http_handler_fn handler;
    void *ud;              /* passed to the handler, borrowed */
};

struct http_server;

/* Starts listening. On error nothing is left running and err says why
 * (e.g. the port is taken). Caller stops with http_server_stop. */
int http_server_start(const struct http_server_opts *opts, struct http_server **out,
                      struct idf_err *err) IDF_MUST_USE;
int http_server_port(const struct http_server *srv);
/* Stops accepting, waits for handlers to finish, frees. srv may be NULL. */
void http_server_stop(struct http_server *srv);

/* ---------------------------------------------------------------- client */

struct http_client;

struct http_request {
    const char *method;          /* "GET", "POST", "PUT", "DELETE", "PATCH" */
    const char *url;
    const char *const *headers;  /* NULL-terminated "Name: value" list, may be NULL */
    const char *body;            /* may be NULL: then POST/PUT send Content-Length: 0 */
    size_t body_len;
    int64_t timeout_ms;          /* whole request; 0 = 30 s */
    int64_t connect_timeout_ms;  /* 0 = 10 s */
    size_t max_response;         /* 0 = BUF_CAP_HTTP_RESPONSE */
    bool https_only;             /* refuse http:// unless the host is loopback */
    bool public_only;            /* connect to public addresses only (see http_addr_kind): every
                                    address curl is about to connect to (each one tried, after DNS)
                                    and the peer of a reused connection is checked; no proxy from
                                    the environment is used (the peer would be the proxy's). For
                                    URLs built from untrusted data (http.request) */
    bool fresh_connection;       /* open a new connection: libcurl silently re-sends a request whose
                                    reused keep-alive connection died before any answer, which for
                                    a non-idempotent write (a new ticket, a reply) could duplicate it */
};

struct http_response {
    long status;
    struct buf body;
    json_t *headers; /* object: lower-cased header name -> string; a repeated header's values
                        joined with ", " in the order received (Set-Cookie: the last one) */
    bool denied_address; /* after IDF_EDENIED: public_only refused the address (else https_only
                            refused the URL) */
};

/* Creates a client for the calling thread. Caller frees with http_client_free. */
int http_client_new(struct http_client **out) IDF_MUST_USE;
void http_client_free(struct http_client *c);

/* Makes later requests watch *flag (borrowed; NULL: stop watching): once it
 * is true, a request in progress is abandoned within about a second and
 * returns IDF_ECANCELLED, and none is started. For threads that must stop
 * promptly while a slow remote holds their request. */
void http_client_set_abort(struct http_client *c, const atomic_bool *flag);

/* Sets the User-Agent for later requests (default "idflow/<version>"). */
void http_client_set_user_agent(struct http_client *c, const char *ua);

/* Performs one request; never follows redirects. On success (any HTTP status)
 * fills *resp, which the caller frees with http_response_free. On a network
 * failure (DNS, connect, reset, timeout) returns IDF_EIO or IDF_ETIMEOUT, a
 * too-large response IDF_ETOOBIG, a refused plain-http URL or (public_only)
 * a refused address IDF_EDENIED, nothing having been sent; *resp is then
 * empty (safe to free) but for denied_address. */
int http_client_do(struct http_client *c, const struct http_request *req, struct http_response *resp,
                   struct idf_err *err) IDF_MUST_USE;
void http_response_free(struct http_response *resp);

/* What kind of non-public address addr is — "loopback", "private",
 * "link-local", "unique-local", "site-local", "unspecified",
 * "carrier-grade NAT", "multicast", "broadcast", "reserved" (a static string)
 * — or NULL for a public unicast address. family is AF_INET (addr: a struct
 * in_addr) or AF_INET6 (a struct in6_addr); any other family is "non-IP".
 * IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:0:0/96,
 * IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo
 * 2001::/32) are judged by that address. Stateless, any thread. */
const char *http_addr_kind(int family, const void *addr);

/* True when the URL's host is 127.0.0.0/8, ::1 or "localhost". */
bool http_url_is_loopback(const char *url);

/* url followed by the pairs of the query object, each name and value
 * percent-encoded, after "?" (or "&" when url has a query already). Values:
 * strings as they are, numbers and booleans as text, null as "", objects and
 * arrays as compact JSON. NULL when the result would pass max bytes or on
 * ENOMEM. Caller frees. */
char *http_url_with_query(const char *url, const json_t *query, size_t max);

/* Percent-encodes s for use in a path segment or query value; caller frees. */
char *http_urlencode(const char *s);

#endif

/* guard.c — where a request may come from, checked before any route runs:
 * the name it was sent to (Host) and, when it changes state, the media
 * type of its body and the page that sent it (Origin).
 *
 * What each check stops (docs/security.md, "Threat model"):
 *  - Host: DNS rebinding. A web page on rebind.evil.example whose name is
 *    made to resolve to 127.0.0.1 is same-origin with idflow for the
 *    browser, so it could read answers and send any header; only the Host
 *    it must send, its own name, tells it apart. Allowed: loopback names and
 *    addresses (any port: a rebinding page cannot be reached under them),
 *    the listen address when it is an IP literal, public_url's host and the
 *    allowed_hosts entries ("name" any port, "name:port" that port). Not
 *    checked for /healthz and /readyz (no data, and probes send the pod's
 *    address) nor for /hooks/ (each delivery proves a secret no browser
 *    holds, and refusing a sender's Host would lose its events silently).
 *  - Content-Type: a page on another origin can POST without a CORS
 *    preflight only as text/plain, form-urlencoded or multipart; every
 *    request that changes state must say application/json, which a
 *    cross-origin page cannot send without a preflight that idflow never
 *    answers with CORS headers.
 *  - Origin: when a browser names the page that sent a state-changing
 *    request, it must be this server (http or https and the request's own
 *    Host, or public_url's origin); "null" is refused.
 * No CORS header is ever sent. HTTP server threads; no state. */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api_internal.h"
#include "core/log.h"

#define GUARD_HOST_MAX 255 /* longest Host value looked at */

/* Splits a Host value into its name (brackets of an IPv6 literal removed,
 * lower-cased into name[GUARD_HOST_MAX + 1]) and its port text (*port, ""
 * when none). False when it is not a well-formed Host. */
static bool split_host(const char *h, char *name, const char **port)
{
    const char *end;
    size_t n;

    if (!h || !*h || strlen(h) > GUARD_HOST_MAX)
        return false;
    if (*h == '[') {
        end = strchr(h, ']');
        if (!end || (end[1] && end[1] != ':'))
            return false;
        n = (size_t)(end - h - 1);
        memcpy(name, h + 1, n);
        *port = end[1] ? end + 2 : "";
    } else {
        end = strchr(h, ':');
        if (end && strchr(end + 1, ':'))
            return false; /* an IPv6 literal needs brackets */
        n = end ? (size_t)(end - h) : strlen(h);
        memcpy(name, h, n);
        *port = end ? end + 1 : "";
    }
    name[n] = '\0';
    if (n == 0 || (**port && strspn(*port, "0123456789") != strlen(*port)) || strlen(*port) > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch >= 'A' && ch <= 'Z')
            name[i] = (char)(ch - 'A' + 'a');
        else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == ':' ||
                   ch == '_'))
            return false;
    }
    return true;
}

static bool name_is_loopback(const char *name)
{
    unsigned char a[16];

    if (strcmp(name, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, name, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, name, a) == 1)
        return memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
    return false;
}

/* The host of "scheme://host[:port]" (lower-cased, brackets removed), or
 * false. */
static bool origin_host(const char *origin, char *name, const char **port)
{
    const char *p;

    if (strncasecmp(origin, "https://", 8) == 0)
        p = origin + 8;
    else if (strncasecmp(origin, "http://", 7) == 0)
        p = origin + 7;
    else
        return false;
    return !strchr(p, '/') && split_host(p, name, port);
}

/* One allowed_hosts entry against a split Host. */
static bool entry_matches(const char *entry, const char *name, const char *port)
{
    char ename[GUARD_HOST_MAX + 1];
    const char *eport;

    if (!split_host(entry, ename, &eport))
        return false;
    return strcmp(ename, name) == 0 && (!*eport || strcmp(eport, port) == 0);
}

bool api__host_allowed(const struct api *a, const char *host)
{
    char name[GUARD_HOST_MAX + 1], pub[GUARD_HOST_MAX + 1];
    const char *port, *pport;

    if (!split_host(host, name, &port))
        return false;
    if (name_is_loopback(name))
        return true;
    if (a->listen_addr && strcmp(a->listen_addr, "0.0.0.0") != 0 && strcmp(a->listen_addr, "::") != 0 &&
        strcasecmp(a->listen_addr, name) == 0)
        return true;
    if (a->public_origin && origin_host(a->public_origin, pub, &pport) && strcmp(pub, name) == 0 &&
        (!*pport || strcmp(pport, port) == 0))
        return true;
    for (size_t i = 0; a->allowed_hosts && a->allowed_hosts[i]; i++) {
        if (entry_matches(a->allowed_hosts[i], name, port))
            return true;
    }
    return false;
}

bool api__host_is_loopback(const char *host)
{
    char name[GUARD_HOST_MAX + 1];
    const char *port;

    return split_host(host, name, &port) && name_is_loopback(name);
}

bool api__peer_is_loopback(const struct http_req *req)
{
    const char *r = req->remote;

    if (!r)
        return false;
    if (strncasecmp(r, "::ffff:", 7) == 0)
        r += 7; /* an IPv4 peer on a dual-stack socket */
    return name_is_loopback(r) && strcmp(r, "localhost") != 0;
}

static bool changes_state(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* The media type of Content-Type is application/json (parameters such as
 * charset allowed). */
static bool is_json_type(const char *ct)
{
    size_t n;

    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    n = strcspn(ct, "; \t");
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

static bool origin_ok(const struct api *a, const char *origin, const char *host)
{
    char oname[GUARD_HOST_MAX + 1], hname[GUARD_HOST_MAX + 1];
    const char *oport, *hport;

    if (a->public_origin && strcasecmp(origin, a->public_origin) == 0)
        return true;
    if (!origin_host(origin, oname, &oport) || !split_host(host, hname, &hport))
        return false;
    return strcmp(oname, hname) == 0 && strcmp(oport, hport) == 0;
}

/* Logs a refused Host at most once a minute (a scan must not flood the log). */
static void log_refused_host(const char *host)
{
    static _Atomic int64_t last_s;
    int64_t now = (int64_t)time(NULL), prev = atomic_load(&last_s);

    if (now - prev >= 60 && atomic_compare_exchange_strong(&last_s, &prev, now))
        log_warn("api: refused a request for Host '%.100s': not one of this server's names (add it to allowed_hosts "
                 "when users reach idflow by it)",
                 host ? host : "(none)");
}

int api__guard_host(struct api *a, const struct http_req *req, struct http_resp *resp)
{
    const char *host = http_req_header(req, "Host");
    char msg[400];

    if (api__host_allowed(a, host))
        return 0;
    log_refused_host(host);
    if (!host)
        snprintf(msg, sizeof msg, "the request has no Host header");
    else
        snprintf(msg, sizeof msg,
                 "Host '%.100s' is not one of this server's names: when users reach idflow by it, add it to "
                 "allowed_hosts (idflow.yaml or IDFLOW_ALLOWED_HOSTS) or set public_url",
                 host);
    api__error(resp, 421, msg);
    return -1;
}

int api__guard_write(struct api *a, const struct http_req *req, struct http_resp *resp)
{
    const char *origin = http_req_header(req, "Origin");
    char msg[400];

    if (!changes_state(req->method))
        return 0;
    if (!is_json_type(http_req_header(req, "Content-Type"))) {
        api__error(resp, 415,
                   "a request that changes state must be sent with \"Content-Type: application/json\" (this also "
                   "keeps other web sites' pages from sending it)");
        return -1;
    }
    if (origin && !origin_ok(a, origin, http_req_header(req, "Host"))) {
        snprintf(msg, sizeof msg,
                 "cross-origin request refused: Origin '%.100s' is not this server (idflow serves no other site's "
                 "pages; behind a proxy, set public_url)",
                 origin);
        api__error(resp, 403, msg);
        return -1;
    }
    return 0;
}

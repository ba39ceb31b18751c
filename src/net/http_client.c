/* http_client.c — the HTTP client: one libcurl easy handle per
 * `struct http_client`, reused request after request so that connections to
 * the same host are kept alive.
 *
 * Owns: request policy (no redirects, http/https only, https_only with a
 * loopback exception, public_only, timeouts, a cap on the response body),
 * collecting the response, and mapping curl failures onto IDF_E* codes.
 * Leaves to callers: retries, rate limits, authentication headers, JSON
 * parsing.
 *
 * public_only judges addresses, never host names: curl's open-socket
 * callback sees each address it is about to connect to (after DNS, once per
 * address tried, so a second happy-eyeballs address too) and refuses the
 * non-public ones before any packet leaves; the pre-request callback judges
 * the peer once more, which covers a kept-alive connection an earlier,
 * unguarded request opened. Such requests use no proxy: through one, the
 * peer judged would be the proxy, not the destination.
 *
 * Threads: a client belongs to one thread at a time (never shared).
 * http_url_is_loopback and http_urlencode are stateless, any thread.
 * libcurl's global init runs once, through pthread_once (curl_global_init is
 * not thread-safe on every build).
 *
 * Invariant: between requests the easy handle holds no pointer into a
 * request or a response, and no option of the last one (curl_easy_reset runs
 * after every request; it keeps the live connections). Error
 * messages never include request headers (they carry tokens) nor the URL's
 * query or userinfo. */
#include "net/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>

#define HTTP_CLIENT_DEFAULT_UA "idflow/0.1"
#define HTTP_CLIENT_DEFAULT_TIMEOUT_MS 30000
#define HTTP_CLIENT_DEFAULT_CONNECT_MS 10000
#define HTTP_CLIENT_MAX_UA 256
#define HTTP_CLIENT_MAX_RESP_HEADERS 256  /* header lines kept per response */
#define HTTP_CLIENT_MAX_REQ_HEADERS 128   /* caller headers per request */
#define HTTP_CLIENT_MAX_HEADER_LINE 16384 /* one request header line */
#define HTTP_CLIENT_MAX_JOINED (64u << 10) /* a response header repeated, its values joined */

struct http_client {
    CURL *h;                      /* the reused easy handle */
    const atomic_bool *abort;     /* when set and true, requests in progress are abandoned (or NULL) */
    char ua[HTTP_CLIENT_MAX_UA];  /* User-Agent sent with every request */
    char errbuf[CURL_ERROR_SIZE]; /* curl's text for the last failure */
};

/* Per-request state seen by the curl callbacks. */
struct xfer {
    struct http_response *resp;
    int n_headers;                      /* header lines kept so far */
    bool too_big;                       /* the body passed max_response */
    bool hdr_fail;                      /* too many headers, or ENOMEM */
    const char *denied_kind;            /* public_only refused an address: its kind (static), else NULL */
    char denied_addr[INET6_ADDRSTRLEN]; /* ... and that address, as text */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT; /* written once, under curl_once */

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int http_client_new(struct http_client **out)
{
    struct http_client *c;

    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return IDF_EIO;
    c = calloc(1, sizeof *c);
    if (!c)
        return IDF_ENOMEM;
    c->h = curl_easy_init();
    if (!c->h) {
        free(c);
        return IDF_ENOMEM;
    }
    snprintf(c->ua, sizeof c->ua, "%s", HTTP_CLIENT_DEFAULT_UA);
    *out = c;
    return 0;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->h);
    free(c);
}

void http_client_set_user_agent(struct http_client *c, const char *ua)
{
    if (!ua || strpbrk(ua, "\r\n"))
        ua = HTTP_CLIENT_DEFAULT_UA;
    snprintf(c->ua, sizeof c->ua, "%s", ua);
}

void http_response_free(struct http_response *resp)
{
    if (!resp)
        return;
    buf_free(&resp->body);
    json_decref(resp->headers);
    resp->headers = NULL;
    resp->status = 0;
}

/* ---------------------------------------------------------------- addresses */

/* IPv4 blocks that are not public unicast (IANA special-purpose registry),
 * most specific first where they nest. */
static const struct {
    uint32_t net;
    int bits;
    const char *kind;
} v4_blocks[] = {
    {0x00000000u, 8, "unspecified"},        /* 0.0.0.0/8 "this network" */
    {0x0a000000u, 8, "private"},            /* 10/8 */
    {0x64400000u, 10, "carrier-grade NAT"}, /* 100.64/10 */
    {0x7f000000u, 8, "loopback"},           /* 127/8 */
    {0xa9fe0000u, 16, "link-local"},        /* 169.254/16: cloud metadata lives here */
    {0xac100000u, 12, "private"},           /* 172.16/12 */
    {0xc0000000u, 24, "reserved"},          /* 192.0.0/24 protocol assignments */
    {0xc0000200u, 24, "reserved"},          /* 192.0.2/24 documentation */
    {0xc0586300u, 24, "reserved"},          /* 192.88.99/24 6to4 relays (deprecated) */
    {0xc0a80000u, 16, "private"},           /* 192.168/16 */
    {0xc6120000u, 15, "reserved"},          /* 198.18/15 benchmarking */
    {0xc6336400u, 24, "reserved"},          /* 198.51.100/24 documentation */
    {0xcb007100u, 24, "reserved"},          /* 203.0.113/24 documentation */
    {0xe0000000u, 4, "multicast"},          /* 224/4 */
    {0xffffffffu, 32, "broadcast"},         /* 255.255.255.255, before 240/4 */
    {0xf0000000u, 4, "reserved"},           /* 240/4 */
};

/* a: host byte order. */
static const char *v4_kind(uint32_t a)
{
    for (size_t i = 0; i < sizeof v4_blocks / sizeof v4_blocks[0]; i++) {
        uint32_t mask = 0xffffffffu << (32 - v4_blocks[i].bits);
        if ((a & mask) == v4_blocks[i].net)
            return v4_blocks[i].kind;
    }
    return NULL;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static const char *v6_kind(const unsigned char *b)
{
    if (all_zero(b, 16))
        return "unspecified"; /* :: */
    if (all_zero(b, 15) && b[15] == 1)
        return "loopback"; /* ::1 */
    if (all_zero(b, 10) && b[10] == 0xff && b[11] == 0xff)
        return v4_kind(be32(b + 12)); /* ::ffff:a.b.c.d, IPv4-mapped */
    if (all_zero(b, 12))
        return v4_kind(be32(b + 12)); /* ::a.b.c.d, IPv4-compatible (deprecated) */
    if (all_zero(b, 8) && b[8] == 0xff && b[9] == 0xff && all_zero(b + 10, 2))
        return v4_kind(be32(b + 12)); /* ::ffff:0:a.b.c.d, IPv4-translated (SIIT) */
    if (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && all_zero(b + 4, 8))
        return v4_kind(be32(b + 12)); /* 64:ff9b::a.b.c.d, NAT64 well-known prefix */
    if (b[0] == 0x20 && b[1] == 0x02)
        return v4_kind(be32(b + 2)); /* 2002:aabb:ccdd::/48, 6to4 */
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)
        return v4_kind(~be32(b + 12)); /* 2001::/32, Teredo: the client's address, inverted */
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
        return "reserved"; /* 2001:db8::/32 documentation */
    if ((b[0] & 0xe0) == 0x20)
        return NULL; /* 2000::/3, global unicast */
    if ((b[0] & 0xfe) == 0xfc)
        return "unique-local"; /* fc00::/7 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return "link-local"; /* fe80::/10 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return "site-local"; /* fec0::/10 (deprecated) */
    if (b[0] == 0xff)
        return "multicast"; /* ff00::/8 */
    return "reserved"; /* unassigned space, 100::/64 discard, 64:ff9b:1::/48 local NAT64 ... */
}

const char *http_addr_kind(int family, const void *addr)
{
    if (family == AF_INET)
        return v4_kind(ntohl(((const struct in_addr *)addr)->s_addr));
    if (family == AF_INET6)
        return v6_kind(((const struct in6_addr *)addr)->s6_addr);
    return "non-IP";
}

/* Judges the peer address text (curl's primary IP); records a refusal in x.
 * True when allowed. */
static bool judge_text(struct xfer *x, const char *ip)
{
    struct in_addr a4;
    struct in6_addr a6;
    const char *kind;

    if (inet_pton(AF_INET, ip, &a4) == 1)
        kind = http_addr_kind(AF_INET, &a4);
    else if (inet_pton(AF_INET6, ip, &a6) == 1)
        kind = http_addr_kind(AF_INET6, &a6);
    else
        kind = "unrecognized"; /* refuse what cannot be judged */
    if (!kind)
        return true;
    x->denied_kind = kind;
    snprintf(x->denied_addr, sizeof x->denied_addr, "%s", ip);
    return false;
}

/* ---------------------------------------------------------------- URLs */

/* Parses url and fills the parts asked for (NULL = not wanted): scheme and
 * host as curl normalizes them (IPv6 in brackets), port (NULL when the URL
 * has none), path. Caller frees each with curl_free. IDF_EINVAL when url is
 * not a URL. */
static int url_parts(const char *url, char **scheme, char **host, char **port, char **path)
{
    CURLU *u = curl_url();
    int rc = IDF_EINVAL;

    if (scheme)
        *scheme = NULL;
    if (host)
        *host = NULL;
    if (port)
        *port = NULL;
    if (path)
        *path = NULL;
    if (!u)
        return IDF_ENOMEM;
    if (!url || curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
        goto out;
    if (scheme && curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK)
        goto out;
    if (host && curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK)
        goto out;
    if (port && curl_url_get(u, CURLUPART_PORT, port, 0) != CURLUE_OK)
        *port = NULL; /* no explicit port */
    if (path && curl_url_get(u, CURLUPART_PATH, path, 0) != CURLUE_OK)
        goto out;
    rc = 0;
out:
    curl_url_cleanup(u);
    return rc;
}

static bool host_is_loopback(const char *host)
{
    char tmp[INET6_ADDRSTRLEN + 8];
    struct in_addr a4;
    struct in6_addr a6;
    size_t n = strlen(host);

    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof tmp) {
        memcpy(tmp, host + 1, n - 2);
        tmp[n - 2] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1)
            return false;
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(&a6))
            return a6.s6_addr[12] == 127;
    }
    return false;
}

bool http_url_is_loopback(const char *url)
{
    char *host = NULL;
    bool yes = false;

    if (url_parts(url, NULL, &host, NULL, NULL) == 0)
        yes = host_is_loopback(host);
    curl_free(host);
    return yes;
}

char *http_urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n, o = 0;
    char *out;

    if (!s)
        return NULL;
    n = strlen(s);
    out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

/* "scheme://host[:port]/path" for messages: no userinfo, no query. */
static void safe_url(const char *url, char *out, size_t n)
{
    char *scheme, *host, *port, *path;

    if (url_parts(url, &scheme, &host, &port, &path) == 0)
        snprintf(out, n, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "", path);
    else
        snprintf(out, n, "(invalid URL)");
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
}

/* ---------------------------------------------------------------- callbacks */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;

    if (buf_append(&x->resp->body, p, n) != 0) {
        x->too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

static json_t *header_string(const char *v, size_t n)
{
    json_t *s = json_stringn(v, n);
    char *copy;
    size_t i;

    if (s)
        return s;
    /* Not UTF-8: keep ASCII, replace the rest. */
    copy = malloc(n + 1);
    if (!copy)
        return NULL;
    for (i = 0; i < n; i++)
        copy[i] = (unsigned char)v[i] < 128 ? v[i] : '?';
    s = json_stringn(copy, n);
    free(copy);
    return s;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb, klen, i;
    const char *colon, *v, *end;
    char key[256];
    json_t *val;

    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* A new response (after a 1xx): start over. */
        json_object_clear(x->resp->headers);
        x->n_headers = 0;
        return n;
    }
    colon = memchr(p, ':', n);
    if (!colon || colon == p)
        return n; /* blank line, folded line or garbage: ignore */
    if (++x->n_headers > HTTP_CLIENT_MAX_RESP_HEADERS) {
        x->hdr_fail = true;
        return 0;
    }
    klen = (size_t)(colon - p);
    if (klen >= sizeof key)
        return n; /* absurd name: ignore */
    for (i = 0; i < klen; i++)
        key[i] = (char)tolower((unsigned char)p[i]);
    key[klen] = '\0';
    v = colon + 1;
    end = p + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    val = header_string(v, (size_t)(end - v));
    {
        /* A repeated header is one list (RFC 9110 §5.3): join the values
         * with ", " in the order received, so Okta's several Link headers
         * all reach the caller whatever their order. Set-Cookie cannot be
         * joined; the last one wins (idflow keeps no cookies). */
        json_t *prev = json_object_get(x->resp->headers, key);
        if (val && prev && strcmp(key, "set-cookie") != 0) {
            size_t lp = json_string_length(prev), lv = json_string_length(val);
            char *j = lp + lv + 2 <= HTTP_CLIENT_MAX_JOINED ? malloc(lp + lv + 3) : NULL;
            if (j) {
                memcpy(j, json_string_value(prev), lp);
                memcpy(j + lp, ", ", 2);
                memcpy(j + lp + 2, json_string_value(val), lv);
                j[lp + lv + 2] = '\0';
            }
            json_decref(val);
            val = j ? json_stringn(j, lp + lv + 2) : NULL;
            free(j);
        }
    }
    if (!val || json_object_set_new(x->resp->headers, key, val) != 0) {
        x->hdr_fail = true;
        return 0;
    }
    return n;
}

/* public_only, before each connect: curl hands over every address it is
 * about to try (happy eyeballs too); CURL_SOCKET_BAD makes it skip one. */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct xfer *x = ud;
    const void *ip = NULL;
    const char *kind;

    (void)purpose;
    if (a->family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in))
        ip = &((const struct sockaddr_in *)(const void *)&a->addr)->sin_addr;
    else if (a->family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6))
        ip = &((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_addr;
    kind = ip ? http_addr_kind(a->family, ip) : "non-IP";
    if (kind) {
        x->denied_kind = kind;
        if (!ip || !inet_ntop(a->family, ip, x->denied_addr, sizeof x->denied_addr))
            snprintf(x->denied_addr, sizeof x->denied_addr, "(address family %d)", a->family);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* public_only, after connecting and before sending: the peer once more, for
 * a kept-alive connection that no open-socket check saw. */
static int on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    return judge_text(ud, primary_ip) ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

/* ---------------------------------------------------------------- request */

static bool method_has_body(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

static bool valid_method(const char *m)
{
    size_t i, n = strlen(m);

    if (n == 0 || n > 16)
        return false;
    for (i = 0; i < n; i++)
        if (!isupper((unsigned char)m[i]))
            return false;
    return true;
}

/* Builds the header list: the caller's lines, plus no "Expect", and no
 * curl-default Content-Type when the caller did not give one. */
static int build_headers(const struct http_request *req, struct curl_slist **out, struct idf_err *err)
{
    struct curl_slist *l = NULL, *t;
    bool have_ct = false;
    int i, rc = 0;

    for (i = 0; req->headers && req->headers[i]; i++) {
        const char *h = req->headers[i];

        if (i >= HTTP_CLIENT_MAX_REQ_HEADERS || strlen(h) > HTTP_CLIENT_MAX_HEADER_LINE) {
            rc = idf_err_set(err, IDF_ETOOBIG, "too many or too long request headers");
            goto out;
        }
        if (strpbrk(h, "\r\n") || !strchr(h, ':')) {
            /* Never echo the header: it may hold a token. */
            rc = idf_err_set(err, IDF_EINVAL, "request header %d is not a single 'Name: value' line", i + 1);
            goto out;
        }
        if (strncasecmp(h, "Content-Type:", 13) == 0)
            have_ct = true;
        if (!(t = curl_slist_append(l, h)))
            goto nomem;
        l = t;
    }
    if (!(t = curl_slist_append(l, "Expect:")))
        goto nomem;
    l = t;
    if (!have_ct) {
        if (!(t = curl_slist_append(l, "Content-Type:")))
            goto nomem;
        l = t;
    }
    *out = l;
    return 0;
nomem:
    rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
out:
    curl_slist_free_all(l);
    return rc;
}

/* Refuses plain http:// to a non-loopback host when https_only is set. */
static int check_url(const struct http_request *req, struct idf_err *err)
{
    char *scheme = NULL, *host = NULL;
    int rc;

    if (strlen(req->url) > HTTP_MAX_URL)
        return idf_err_set(err, IDF_ETOOBIG, "URL longer than %d bytes", HTTP_MAX_URL);
    if (url_parts(req->url, &scheme, &host, NULL, NULL) != 0) {
        rc = idf_err_set(err, IDF_EINVAL, "malformed URL");
        goto out;
    }
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        rc = idf_err_set(err, IDF_EINVAL, "unsupported URL scheme %s:// (only http and https)", scheme);
        goto out;
    }
    if (req->https_only && strcasecmp(scheme, "https") != 0 && !host_is_loopback(host)) {
        rc = idf_err_set(err, IDF_EDENIED, "refusing %s:// URL for host %s: https is required", scheme, host);
        goto out;
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    return rc;
}

static int map_curl_error(struct http_client *c, const struct http_request *req, CURLcode cc, const struct xfer *x,
                          struct idf_err *err)
{
    char where[512];
    const char *text = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
    size_t cap = req->max_response ? req->max_response : BUF_CAP_HTTP_RESPONSE;

    safe_url(req->url, where, sizeof where);
    if (x->denied_kind && (cc == CURLE_COULDNT_CONNECT || cc == CURLE_ABORTED_BY_CALLBACK)) {
        const char *k = x->denied_kind;
        bool an = strchr("aeio", k[0]) || (strncmp(k, "un", 2) == 0 && strncmp(k, "uni", 3) != 0);
        return idf_err_set(err, IDF_EDENIED, "%s %s: %s is %s %s address", req->method, where, x->denied_addr,
                           an ? "an" : "a", k);
    }
    if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED)
        return idf_err_set(err, IDF_ETOOBIG, "%s %s: response body larger than %zu bytes", req->method, where, cap);
    if (x->hdr_fail)
        return idf_err_set(err, IDF_ETOOBIG, "%s %s: too many response headers", req->method, where);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return idf_err_set(err, IDF_ETIMEOUT, "%s %s: %s", req->method, where, text);
    if (cc == CURLE_OUT_OF_MEMORY)
        return idf_err_set(err, IDF_ENOMEM, "%s %s: %s", req->method, where, text);
    if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL)
        return idf_err_set(err, IDF_EINVAL, "%s %s: %s", req->method, where, text);
    return idf_err_set(err, IDF_EIO, "%s %s: %s", req->method, where, text);
}

void http_client_set_abort(struct http_client *c, const atomic_bool *flag)
{
    c->abort = flag;
}

/* curl's progress callback (about once a second even while idle): a
 * non-zero answer abandons the transfer. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    const struct http_client *c = ud;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(c->abort) ? 1 : 0;
}

int http_client_do(struct http_client *c, const struct http_request *req, struct http_response *resp,
                   struct idf_err *err)
{
    struct curl_slist *hdrs = NULL;
    struct xfer x;
    size_t cap = req->max_response ? req->max_response : BUF_CAP_HTTP_RESPONSE;
    int64_t tmo = req->timeout_ms > 0 ? req->timeout_ms : HTTP_CLIENT_DEFAULT_TIMEOUT_MS;
    int64_t ctmo = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : HTTP_CLIENT_DEFAULT_CONNECT_MS;
    const char *method = req->method ? req->method : "GET";
    CURL *h = c->h;
    CURLcode cc;
    int rc;

    memset(resp, 0, sizeof *resp);
    buf_init(&resp->body, cap);
    memset(&x, 0, sizeof x);
    x.resp = resp;
    if (!req->url || !valid_method(method)) {
        rc = idf_err_set(err, IDF_EINVAL, "http request: a URL and an upper-case method are required");
        goto out;
    }
    rc = check_url(req, err);
    if (rc)
        goto out;
    rc = build_headers(req, &hdrs, err);
    if (rc)
        goto out;
    resp->headers = json_object();
    if (!resp->headers) {
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
        goto out;
    }

    c->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, req->fresh_connection ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)tmo);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)ctmo);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->ua);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    if (req->public_only) {
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &x);
        curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
        curl_easy_setopt(h, CURLOPT_PREREQDATA, &x);
        curl_easy_setopt(h, CURLOPT_PROXY, ""); /* "" = no proxy, whatever http_proxy & co say */
    }
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (req->body || method_has_body(method)) {
            /* POSTFIELDS with size 0 sends "Content-Length: 0". */
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        }
    }

    if (c->abort) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    }
    cc = c->abort && atomic_load(c->abort) ? CURLE_ABORTED_BY_CALLBACK : curl_easy_perform(h);
    if (cc == CURLE_ABORTED_BY_CALLBACK && c->abort && atomic_load(c->abort) && !x.denied_kind) {
        rc = idf_err_set(err, IDF_ECANCELLED, "%s: abandoned, idflow is stopping", req->method);
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = map_curl_error(c, req, cc, &x, err);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    rc = 0;
out:
    /* Forget this request's options and pointers; keeps the connection cache. */
    curl_easy_reset(h);
    curl_slist_free_all(hdrs);
    if (rc) {
        http_response_free(resp);
        buf_init(&resp->body, cap);
        resp->denied_address = rc == IDF_EDENIED && x.denied_kind;
    }
    return rc;
}

static char *query_value_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_null(v))
        return strdup("");
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

char *http_url_with_query(const char *url, const json_t *query, size_t max)
{
    struct buf b;
    const char *k;
    json_t *v;
    bool first = strchr(url, '?') == NULL;

    buf_init(&b, max);
    if (buf_puts(&b, url))
        goto fail;
    json_object_foreach((json_t *)query, k, v)
    {
        char *text = query_value_text(v);
        char *ek = http_urlencode(k);
        char *ev = text ? http_urlencode(text) : NULL;
        int rc = (ek && ev) ? buf_printf(&b, "%s%s=%s", first ? "?" : "&", ek, ev) : IDF_ENOMEM;
        free(text);
        free(ek);
        free(ev);
        if (rc)
            goto fail;
        first = false;
    }
    return buf_take(&b);
fail:
    buf_free(&b);
    return NULL;
}

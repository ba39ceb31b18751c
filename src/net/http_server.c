/* http_server.c — the HTTP server: a libmicrohttpd daemon that reads each
 * whole request body (up to a cap) and hands a complete `struct http_req` to
 * one handler, then sends the `struct http_resp` the handler filled.
 *
 * Leaves to others: routing, authentication, JSON parsing of bodies. TLS is
 * not terminated here (idflow listens on loopback or behind a proxy).
 *
 * Refused before the handler runs, always with the connection closed after
 * the JSON answer: ambiguous framing (http_framing.c: 400, or 501 for a
 * transfer coding other than chunked), and a body over max_body (413). A
 * declared Content-Length over the cap is answered from the headers alone
 * and none of the body is read; a chunked body is answered the moment it
 * passes the cap (see answer_413_raw). libmicrohttpd itself answers 400 and
 * closes for a Content-Length value that is not a plain number.
 *
 * Threads: MHD's thread pool (epoll, one listen socket shared) runs the
 * callbacks below and the handler, concurrently. One "delay" thread per server
 * resumes connections whose response asked for `delay_ms`: the connection is
 * suspended (it costs no thread while it waits) and resumed at its deadline.
 * http_server_start/stop run on the owner's thread.
 *
 * Invariants:
 *  - one `struct req_ctx` per request, created by the URI log callback (which
 *    sees the raw URI), freed by the completion callback, never shared
 *    between two requests;
 *  - a ctx is in the delay list exactly while its connection is suspended;
 *    the list is only touched under srv->mu, and MHD_suspend/resume are only
 *    called under srv->mu (lock order: srv->mu, then MHD's own locks; MHD never
 *    calls back into code that takes srv->mu while holding its locks);
 *  - once srv->stopping is set no connection is suspended any more, so
 *    MHD_stop_daemon never meets a suspended connection. */
#include "net/http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define HTTP_SERVER_DEFAULT_THREADS 8
#define HTTP_SERVER_MAX_THREADS 256
#define HTTP_SERVER_MAX_CONNECTIONS 1000
#define HTTP_SERVER_CONN_MEMORY (64u << 10) /* per-connection header + read buffer */
#define HTTP_SERVER_IDLE_TIMEOUT_S 90       /* idle keep-alive connections are closed */
#define HTTP_SERVER_MAX_DELAY_MS (10 * 60 * 1000)
/* Bytes of a chunked body still read and thrown away after its early 413
 * (written past MHD, see answer_413_raw), so that a client that is still
 * writing finds the answer instead of a reset; then the connection is
 * closed. */
#define HTTP_SERVER_LINGER_MAX (1u << 20)

struct req_ctx {
    struct http__req_impl ri; /* the connection, and http_req_query's strings */
    struct http_server *srv;
    struct MHD_Connection *conn;  /* borrowed from MHD until on_completed */
    char *raw_uri;                /* the request target as sent, owned */
    struct buf body;              /* accumulated body, capped at max_body */
    size_t lingered;              /* body bytes thrown away after answered_raw */
    bool started;                 /* the first (headers-only) call happened */
    bool answered_raw;            /* a 413 went out past MHD: close soon */
    bool resumed;                 /* delayed answer: the next call sends it */
    bool pending_drop;            /* delayed answer is "close the connection" */
    struct MHD_Response *pending; /* delayed answer, owned */
    int pending_status;
    int64_t deadline_ns;   /* monotonic, while in the delay list */
    struct req_ctx *dnext; /* delay list link, under srv->mu */
};

struct http_server {
    struct MHD_Daemon *daemon;
    int port;
    size_t max_body;
    http_handler_fn handler;
    void *ud;
    pthread_mutex_t mu;      /* guards everything below */
    pthread_cond_t cv;       /* signals the delay thread */
    struct req_ctx *delayed; /* suspended requests, sorted by deadline */
    bool stopping;
    bool thread_started;
    pthread_t thread;
};

/* ---------------------------------------------------------------- helpers */

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Splits a raw request target: returns the length of the path part and
 * points *query at the text after '?' ("" when none). */
static size_t split_uri(const char *raw, const char **query)
{
    const char *q = strchr(raw, '?');

    if (!q) {
        *query = "";
        return strlen(raw);
    }
    *query = q + 1;
    return (size_t)(q - raw);
}

/* http__pct_decode_into into a new string; caller frees; NULL on ENOMEM. */
static char *pct_decode(const char *s, size_t n, bool *had_nul)
{
    char *out = malloc(n + 1);

    if (out)
        http__pct_decode_into(out, s, n, false, had_nul);
    return out;
}

/* ---------------------------------------------------------------- responses */

static void resp_init(struct http_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->status = 200;
    buf_init(&resp->body, BUF_CAP_HTTP_RESPONSE);
    resp->content_type = "application/json";
}

static void resp_fini(struct http_resp *resp)
{
    int i;

    buf_free(&resp->body);
    for (i = 0; i < resp->n_headers; i++)
        free(resp->headers[i]);
    resp->n_headers = 0;
}

/* Turns resp into an MHD response (takes the body). NULL on ENOMEM. */
static struct MHD_Response *to_mhd(struct http_resp *resp)
{
    struct MHD_Response *r;
    bool have_ct = false;
    size_t len = resp->body.len;
    char *data = buf_take(&resp->body);
    int i;

    if (!data)
        return NULL;
    r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return NULL;
    }
    for (i = 0; i < resp->n_headers; i++) {
        char *line = resp->headers[i];
        char *colon = strchr(line, ':');
        const char *v;

        if (!colon)
            continue;
        *colon = '\0';
        v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcasecmp(line, "Content-Type") == 0)
            have_ct = true;
        if (MHD_add_response_header(r, line, v) != MHD_YES)
            log_warn("http server: response header '%s' refused", line);
        *colon = ':';
    }
    if (!have_ct)
        (void)MHD_add_response_header(r, "Content-Type", resp->content_type ? resp->content_type : "application/json");
    return r;
}

/* Queues a JSON answer; with `close`, MHD closes the connection after it
 * (and, queued from the headers-only call, never reads the body). */
static enum MHD_Result queue_json(struct MHD_Connection *conn, int status, const char *json, bool close)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    (void)MHD_add_response_header(r, "Content-Type", "application/json");
    if (close && MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void json_413(const struct req_ctx *ctx, char *out, size_t n)
{
    snprintf(out, n, "{\"error\":\"request body too large\",\"limit\":%zu}", ctx->srv->max_body);
}

/* The 413 for a declared Content-Length over the cap, from the headers-only
 * call: MHD sends it, reads none of the body, and closes. */
static enum MHD_Result queue_413(struct req_ctx *ctx)
{
    char msg[128];

    json_413(ctx, msg, sizeof msg);
    return queue_json(ctx->conn, 413, msg, true);
}

/* The 413 for a chunked body that grew past the cap. MHD 0.9.75 refuses a
 * response queued in the middle of an upload (MHD_queue_response fails, the
 * connection is closed unanswered), so the answer is written to the socket
 * here, and its write side shut: MHD has sent nothing for this request
 * (a "100 Continue", if any, went out whole before the body was read), and
 * the connection is closed once the caller returns MHD_NO, so MHD never
 * writes after it. The daemon runs without TLS, so the socket is the wire.
 * Returns false when the answer could not be written whole. */
static bool answer_413_raw(struct req_ctx *ctx)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(ctx->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    char body[128], date[64], msg[512];
    struct tm tm;
    time_t now = time(NULL);
    int n;

    if (!ci)
        return false;
    json_413(ctx, body, sizeof body);
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    n = snprintf(msg, sizeof msg,
                 "HTTP/1.1 413 Content Too Large\r\nDate: %s\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 date, strlen(body), body);
    if (n <= 0 || (size_t)n >= sizeof msg)
        return false;
    if (send(ci->connect_fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
        return false;
    (void)shutdown(ci->connect_fd, SHUT_WR);
    return true;
}

/* ---------------------------------------------------------------- delays */

static void *delay_main(void *arg)
{
    struct http_server *srv = arg;

    pthread_mutex_lock(&srv->mu);
    while (!srv->stopping) {
        int64_t now = mono_ns();

        while (srv->delayed && srv->delayed->deadline_ns <= now) {
            struct req_ctx *c = srv->delayed;

            srv->delayed = c->dnext;
            c->dnext = NULL;
            c->resumed = true;
            MHD_resume_connection(c->conn);
        }
        if (srv->delayed) {
            struct timespec ts;
            int64_t d = srv->delayed->deadline_ns;

            ts.tv_sec = (time_t)(d / 1000000000);
            ts.tv_nsec = (long)(d % 1000000000);
            pthread_cond_timedwait(&srv->cv, &srv->mu, &ts);
        } else {
            pthread_cond_wait(&srv->cv, &srv->mu);
        }
    }
    /* Stopping: resume everyone so MHD can close them. */
    while (srv->delayed) {
        struct req_ctx *c = srv->delayed;

        srv->delayed = c->dnext;
        c->dnext = NULL;
        c->resumed = true;
        MHD_resume_connection(c->conn);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* Parks the answer in ctx and suspends the connection until the deadline.
 * Returns false when the server is stopping (answer at once instead). */
static bool delay_answer(struct req_ctx *ctx, int64_t delay_ms)
{
    struct http_server *srv = ctx->srv;
    struct req_ctx **pp;

    if (delay_ms > HTTP_SERVER_MAX_DELAY_MS)
        delay_ms = HTTP_SERVER_MAX_DELAY_MS;
    pthread_mutex_lock(&srv->mu);
    if (srv->stopping) {
        pthread_mutex_unlock(&srv->mu);
        return false;
    }
    ctx->deadline_ns = mono_ns() + delay_ms * 1000000;
    for (pp = &srv->delayed; *pp && (*pp)->deadline_ns <= ctx->deadline_ns; pp = &(*pp)->dnext)
        ;
    ctx->dnext = *pp;
    *pp = ctx;
    MHD_suspend_connection(ctx->conn);
    if (srv->delayed == ctx)
        pthread_cond_signal(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    return true;
}

/* ---------------------------------------------------------------- MHD callbacks */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct req_ctx *ctx = calloc(1, sizeof *ctx);

    if (!ctx)
        return NULL;
    ctx->srv = cls;
    ctx->conn = conn;
    ctx->ri.conn = conn;
    ctx->raw_uri = strdup(uri ? uri : "/");
    buf_init(&ctx->body, ctx->srv->max_body);
    if (!ctx->raw_uri) {
        free(ctx);
        return NULL;
    }
    return ctx;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct req_ctx *ctx = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (!ctx)
        return;
    if (ctx->pending)
        MHD_destroy_response(ctx->pending);
    http__req_impl_fini(&ctx->ri);
    buf_free(&ctx->body);
    free(ctx->raw_uri);
    free(ctx);
    *con_cls = NULL;
}

static void peer_text(struct MHD_Connection *conn, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    snprintf(out, n, "?");
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)n);
}

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    http__framing_add(cls, key, value);
    return MHD_YES;
}

/* First call of a request: headers are in, no body yet. Every refusal here
 * closes the connection: MHD then reads none of the body, and nothing after
 * it is taken for a next request. */
static enum MHD_Result on_headers(struct req_ctx *ctx, const char *version)
{
    struct http__framing f;
    const char *cl, *json;
    int status;

    ctx->started = true;
    if (strlen(ctx->raw_uri) > HTTP_MAX_URL)
        return queue_json(ctx->conn, 414, "{\"error\":\"request URI too long\"}", true);
    /* Every Content-Length and Transfer-Encoding header, not only the first
     * of each (which is all MHD_lookup_connection_value and MHD see). */
    memset(&f, 0, sizeof f);
    f.http10 = version && strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
    (void)MHD_get_connection_values(ctx->conn, MHD_HEADER_KIND, framing_header, &f);
    status = http__framing_verdict(&f, &json);
    if (status)
        return queue_json(ctx->conn, status, json, true);
    /* A value that is not all digits was answered 400 by MHD already. */
    cl = MHD_lookup_connection_value(ctx->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(cl, &end, 10);
        if (end == cl || *end != '\0')
            return queue_json(ctx->conn, 400, "{\"error\":\"invalid Content-Length\"}", true);
        if (errno == ERANGE || v > ctx->srv->max_body)
            return queue_413(ctx);
    }
    return MHD_YES;
}

/* Runs the handler on the complete request and queues (or parks) its answer. */
static enum MHD_Result run_handler(struct req_ctx *ctx, const char *method)
{
    struct http_server *srv = ctx->srv;
    struct http_req req;
    struct http_resp resp;
    struct MHD_Response *r = NULL;
    enum MHD_Result ret = MHD_NO;
    char remote[INET6_ADDRSTRLEN + 1];
    char *path = NULL;
    char *raw_path = NULL;
    bool had_nul = false;
    size_t plen;
    const char *te;

    resp_init(&resp);
    memset(&req, 0, sizeof req);
    plen = split_uri(ctx->raw_uri, &req.query);
    raw_path = strndup(ctx->raw_uri, plen);
    path = pct_decode(ctx->raw_uri, plen, &had_nul);
    if (!raw_path || !path)
        goto out;
    if (had_nul) {
        ret = queue_json(ctx->conn, 400, "{\"error\":\"invalid path\"}", false);
        goto out;
    }
    peer_text(ctx->conn, remote, sizeof remote);
    te = MHD_lookup_connection_value(ctx->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    req.method = method;
    req.path = path;
    req.raw_path = raw_path;
    req.body = ctx->body.data ? ctx->body.data : "";
    req.body_len = ctx->body.len;
    req.has_content_length = /* on_headers let only "chunked" through */
        MHD_lookup_connection_value(ctx->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) != NULL || te != NULL;
    req.remote = remote;
    req.impl = &ctx->ri;

    srv->handler(srv->ud, &req, &resp);
    http__req_impl_fini(&ctx->ri);

    if (resp.status < 200 || resp.status > 599) {
        log_warn("http server: handler returned status %d for %s, answering 500", resp.status, method);
        ret = queue_json(ctx->conn, 500, "{\"error\":\"internal error\"}", false);
        goto out;
    }
    if (!resp.drop) {
        r = to_mhd(&resp);
        if (!r)
            goto out; /* ENOMEM: close the connection */
    }
    if (resp.delay_ms > 0) {
        ctx->pending = r;
        ctx->pending_status = resp.status;
        ctx->pending_drop = resp.drop;
        r = NULL;
        if (delay_answer(ctx, resp.delay_ms)) {
            ret = MHD_YES;
            goto out;
        }
        /* Stopping: answer now. */
        r = ctx->pending;
        ctx->pending = NULL;
    }
    if (resp.drop) {
        ret = MHD_NO;
        goto out;
    }
    ret = MHD_queue_response(ctx->conn, (unsigned)resp.status, r);
out:
    if (r)
        MHD_destroy_response(r);
    resp_fini(&resp);
    free(path);
    free(raw_path);
    return ret;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct req_ctx *ctx = *con_cls;
    enum MHD_Result ret;

    (void)cls;
    (void)url;
    if (!ctx)
        return MHD_NO; /* ENOMEM in on_uri */
    if (ctx->resumed) {
        ctx->resumed = false;
        if (ctx->pending_drop || !ctx->pending)
            return MHD_NO;
        ret = MHD_queue_response(conn, (unsigned)ctx->pending_status, ctx->pending);
        MHD_destroy_response(ctx->pending);
        ctx->pending = NULL;
        return ret;
    }
    if (!ctx->started)
        return on_headers(ctx, version);
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        int rc;

        *upload_data_size = 0;
        if (ctx->answered_raw) {
            /* Lingering: let a client that is still writing read the 413
             * before the close resets the connection. */
            ctx->lingered += n;
            return ctx->lingered > HTTP_SERVER_LINGER_MAX ? MHD_NO : MHD_YES;
        }
        rc = buf_append(&ctx->body, upload_data, n);
        if (rc == 0)
            return MHD_YES;
        /* Only a chunked body gets past the cap here: a declared length
         * over it was answered in on_headers, and MHD stops at it. */
        buf_free(&ctx->body);
        if (rc != IDF_ETOOBIG || !answer_413_raw(ctx))
            return MHD_NO; /* close without an answer */
        ctx->answered_raw = true;
        return MHD_YES;
    }
    if (ctx->answered_raw)
        return MHD_NO; /* the body ended after the 413: close */
    return run_handler(ctx, method);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_debug("http server (mhd): %s", msg);
}

/* ---------------------------------------------------------------- start/stop */

/* Creates a bound, listening, non-blocking socket; the port goes to *port. */
static int listen_on(const char *addr, int port, int *fd_out, int *port_out, struct idf_err *err)
{
    struct addrinfo hints, *ai = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char portstr[16];
    int fd = -1, one = 1, rc, gai;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%d", port);
    gai = getaddrinfo(addr, portstr, &hints, &ai);
    if (gai != 0) {
        rc = idf_err_set(err, IDF_EINVAL, "listen address %s: %s", addr, gai_strerror(gai));
        goto out;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = idf_err_set(err, IDF_EIO, "socket: %s", strerror(errno));
        goto out;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        rc = idf_err_set(err, errno == EADDRINUSE ? IDF_EBUSY : IDF_EIO, "cannot listen on %s:%d: %s", addr, port,
                         strerror(errno));
        goto out;
    }
    if (listen(fd, 512) != 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        rc = idf_err_set(err, IDF_EIO, "cannot listen on %s:%d: %s", addr, port, strerror(errno));
        goto out;
    }
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    fd = -1;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (ai)
        freeaddrinfo(ai);
    return rc;
}

int http_server_start(const struct http_server_opts *opts, struct http_server **out, struct idf_err *err)
{
    struct http_server *srv = NULL;
    const char *addr = opts->addr && *opts->addr ? opts->addr : "127.0.0.1";
    unsigned threads = opts->threads > 0 ? (unsigned)opts->threads : HTTP_SERVER_DEFAULT_THREADS;
    int fd = -1;
    int rc;

    *out = NULL;
    if (!opts->handler || opts->port < 0 || opts->port > 65535)
        return idf_err_set(err, IDF_EINVAL, "http server: a handler and a port in 0..65535 are required");
    if (threads > HTTP_SERVER_MAX_THREADS)
        threads = HTTP_SERVER_MAX_THREADS;
    srv = calloc(1, sizeof *srv);
    if (!srv)
        return idf_err_set(err, IDF_ENOMEM, "http server: out of memory");
    srv->max_body = opts->max_body ? opts->max_body : BUF_CAP_HTTP_BODY;
    srv->handler = opts->handler;
    srv->ud = opts->ud;
    pthread_mutex_init(&srv->mu, NULL);
    {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&srv->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    rc = listen_on(addr, opts->port, &fd, &srv->port, err);
    if (rc)
        goto out;
    if (pthread_create(&srv->thread, NULL, delay_main, srv) != 0) {
        rc = idf_err_set(err, IDF_EIO, "http server: cannot start the delay thread");
        goto out;
    }
    srv->thread_started = true;
    srv->daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_access, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_SERVER_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP_SERVER_CONN_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_SERVER_IDLE_TIMEOUT_S,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_END);
    /* The daemon owns the socket from here on. When MHD_start_daemon fails
     * it may or may not have closed it already; closing it again could close
     * another thread's new descriptor, so a failure leaks it instead (this
     * only happens when threads or memory cannot be had). */
    fd = -1;
    if (!srv->daemon) {
        rc = idf_err_set(err, IDF_EIO, "http server: cannot start on %s:%d", addr, srv->port);
        goto out;
    }
    *out = srv;
    srv = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    http_server_stop(srv);
    return rc;
}

int http_server_port(const struct http_server *srv)
{
    return srv ? srv->port : 0;
}

void http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    pthread_cond_signal(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    if (srv->thread_started)
        pthread_join(srv->thread, NULL); /* it resumed every parked connection */
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    pthread_cond_destroy(&srv->cv);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

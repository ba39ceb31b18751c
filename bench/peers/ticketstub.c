/* bench/peers/ticketstub.c — the loopback "help desk" that bench/peers.sh
 * points idflow and Node-RED at: every POST is a ticket, answered 201 with a
 * small JSON body, counted, and the wall-clock time of the first and the
 * last one kept, so the script can tell when a server has delivered every
 * ticket it acknowledged and at what rate.
 *
 *   ticketstub PORTFILE     listens on 127.0.0.1, a port the kernel picks,
 *                           and writes that port to PORTFILE once it accepts
 *   GET  /_stats            {"tickets":N,"first_ns":T,"last_ns":T} (CLOCK_REALTIME ns, 0 before any)
 *   POST /_reset            zeroes the count and the times (answered 200)
 *   POST anything else      a ticket: 201 {"id":N}
 *   other methods           405
 *
 * Runs until SIGTERM or SIGINT. Leaves to others: everything about the
 * benchmark (bench/peers.sh). Threads: libmicrohttpd's internal polling
 * thread answers every request; the counters are atomics, so /_stats may
 * be read while tickets arrive. Request bodies are read and discarded
 * (STUB_MAX_BODY caps what one request may send). It is written in C, not
 * as a Node script, so the stub costs both servers under test as little of
 * the machine's two cores as it can, and the same for each. */
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STUB_MAX_BODY (1024 * 1024) /* bytes one request may send */
#define STUB_MAX_CONN 512           /* concurrent connections */

static atomic_llong tickets;  /* POSTs counted since start or the last reset */
static atomic_llong first_ns; /* wall clock of the first of them, 0 before it */
static atomic_llong last_ns;  /* wall clock of the latest of them */
static volatile sig_atomic_t stop;

struct req {
    size_t got; /* body bytes received so far */
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *json)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ok;
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_len, void **state)
{
    struct req *rq = *state;
    char body[160];
    (void)cls;
    (void)version;
    (void)data;
    if (!rq) { /* first call: headers only */
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *state = rq;
        return MHD_YES;
    }
    if (*data_len) { /* a piece of the body: read and dropped */
        rq->got += *data_len;
        *data_len = 0;
        return rq->got > STUB_MAX_BODY ? MHD_NO : MHD_YES;
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/_stats") == 0) {
        snprintf(body, sizeof body, "{\"tickets\":%lld,\"first_ns\":%lld,\"last_ns\":%lld}\n", atomic_load(&tickets),
                 atomic_load(&first_ns), atomic_load(&last_ns));
        return reply(c, 200, body);
    }
    if (strcmp(method, "POST") != 0)
        return reply(c, 405, "{\"error\":\"method not allowed\"}\n");
    if (strcmp(url, "/_reset") == 0) {
        atomic_store(&tickets, 0);
        atomic_store(&first_ns, 0);
        atomic_store(&last_ns, 0);
        return reply(c, 200, "{}\n");
    }
    {
        long long t = now_ns(), zero = 0, n = atomic_fetch_add(&tickets, 1) + 1;
        atomic_compare_exchange_strong(&first_ns, &zero, t);
        atomic_store(&last_ns, t);
        snprintf(body, sizeof body, "{\"id\":%lld}\n", n);
    }
    return reply(c, 201, body);
}

static void on_done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    free(*state);
    *state = NULL;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Writes PORT and a newline to PATH; 0 on success, -1 on any failure. */
static int write_port(const char *path, unsigned port)
{
    FILE *f = fopen(path, "w");
    int rc = -1;
    if (!f)
        return -1;
    if (fprintf(f, "%u\n", port) > 0)
        rc = 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

int main(int argc, char **argv)
{
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    struct sigaction sa;
    char tmp[4200];
    int rc = 1;

    if (argc != 2 || strlen(argv[1]) > 4000) {
        fprintf(stderr, "usage: ticketstub PORTFILE\n");
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                             on_request, NULL, MHD_OPTION_SOCK_ADDR, &a, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)STUB_MAX_CONN, MHD_OPTION_CONNECTION_TIMEOUT,
                             (unsigned)60, MHD_OPTION_END);
    }
    if (!d) {
        fprintf(stderr, "ticketstub: cannot listen on 127.0.0.1\n");
        return 1;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    /* the port file appears whole or not at all: written aside, then renamed */
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    if (!info || write_port(tmp, info->port) || rename(tmp, argv[1])) {
        fprintf(stderr, "ticketstub: cannot write the port to %s\n", argv[1]);
        goto out;
    }
    while (!stop)
        sleep(1); /* a signal cuts it short; at worst a second late */
    rc = 0;
out:
    MHD_stop_daemon(d);
    return rc;
}

/* sandbox_cli.c — `idflow sandbox`: parses the flags of DESIGN.md §6,
 * starts the sandbox, logs one JSON line with its URL and serves until
 * SIGINT or SIGTERM.
 *
 *   idflow sandbox [--listen ADDR:PORT] [--seed FILE] [--token T]
 *                  [--faults SPEC] [--rate-limit N] [--token-share PCT]
 *
 * Runs on the main thread. SIGINT/SIGTERM are blocked before the server's
 * threads start (so they inherit the mask) and taken with sigwait().
 * Exit status: 0 after a signal, 1 when the sandbox cannot start, 2 on a
 * usage error. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "sandbox/sandbox.h"

#define CLI_DEFAULT_ADDR "127.0.0.1"
#define CLI_DEFAULT_PORT 8081
#define CLI_MAX_ADDR 256

static void usage(FILE *f)
{
    fprintf(f, "usage: idflow sandbox [--listen ADDR:PORT] [--seed FILE] [--token T] [--faults SPEC]\n"
               "                      [--rate-limit N] [--token-share PCT]\n"
               "  --listen ADDR:PORT  where to listen (default 127.0.0.1:8081; port 0 picks one)\n"
               "  --seed FILE         seed JSON (default: the embedded Acme seed)\n"
               "  --token T           the Okta API token (SSWS) accepted (default sandbox-okta-token)\n"
               "  --faults SPEC       fault rules, e.g. 'path=/api/v1/users,error_rate=0.1,status=503'\n"
               "  --rate-limit N      every Okta rate-limit bucket allows N requests a minute\n"
               "  --token-share PCT   share of each bucket one API token or OAuth app may use (default 50)\n"
               "See docs/sandbox.md.\n");
}

/* Parses "ADDR:PORT", "[v6]:PORT", ":PORT" or "PORT". */
static bool parse_listen(const char *s, char addr[CLI_MAX_ADDR], int *port)
{
    const char *colon = NULL;
    snprintf(addr, CLI_MAX_ADDR, "%s", CLI_DEFAULT_ADDR);
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= CLI_MAX_ADDR)
            return false;
        snprintf(addr, CLI_MAX_ADDR, "%.*s", (int)(close - s - 1), s + 1);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon && colon != s) {
            if ((size_t)(colon - s) >= CLI_MAX_ADDR)
                return false;
            snprintf(addr, CLI_MAX_ADDR, "%.*s", (int)(colon - s), s);
        }
    }
    const char *ps = colon ? colon + 1 : s;
    char *end = NULL;
    long p = strtol(ps, &end, 10);
    if (!*ps || *end || p < 0 || p > 65535)
        return false;
    *port = (int)p;
    return true;
}

int sandbox_main(int argc, char **argv)
{
    struct sandbox_opts opts = {0};
    char addr[CLI_MAX_ADDR] = CLI_DEFAULT_ADDR;
    int port = CLI_DEFAULT_PORT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v || strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "idflow sandbox: %s\n", v ? "unexpected argument" : "missing value");
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--listen") == 0) {
            if (!parse_listen(v, addr, &port)) {
                fprintf(stderr, "idflow sandbox: --listen wants ADDR:PORT, got '%s'\n", v);
                return 2;
            }
        } else if (strcmp(a, "--seed") == 0) {
            opts.seed_path = v;
        } else if (strcmp(a, "--token") == 0) {
            if (!*v) {
                fprintf(stderr, "idflow sandbox: --token must not be empty\n");
                return 2;
            }
            opts.token = v;
        } else if (strcmp(a, "--faults") == 0) {
            opts.faults = v;
        } else if (strcmp(a, "--rate-limit") == 0) {
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > 1000000) {
                fprintf(stderr, "idflow sandbox: --rate-limit wants a number from 1 to 1000000\n");
                return 2;
            }
            opts.rate_limit = (int)n;
        } else if (strcmp(a, "--token-share") == 0) {
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > 100) {
                fprintf(stderr, "idflow sandbox: --token-share wants a percentage from 1 to 100\n");
                return 2;
            }
            opts.token_share = (int)n;
        } else {
            fprintf(stderr, "idflow sandbox: unknown flag %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    opts.addr = addr;
    opts.port = port;

    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);

    struct sandbox *sb = NULL;
    struct idf_err err = {0};
    if (sandbox_start(&opts, &sb, &err) != 0) {
        log_error("sandbox: %s", err.msg);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return 1;
    }
    char url[CLI_MAX_ADDR + 32];
    bool v6 = strchr(addr, ':') != NULL;
    snprintf(url, sizeof url, "http://%s%s%s:%d", v6 ? "[" : "", addr, v6 ? "]" : "", sandbox_port(sb));
    json_t *fields = json_pack("{s:s, s:s+, s:s+, s:s+}", "url", url, "okta", url, "/api/v1", "happyfox", url,
                               "/api/1.1/json", "admin", url, "/_sandbox");
    log_msg(LOG_INFO, fields, "sandbox listening");
    json_decref(fields);

    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("sandbox: stopping (signal %d)", sig);
    sandbox_stop(sb);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}

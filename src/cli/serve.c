/* serve.c — `idflow serve`: the engine plus the HTTP listener, until SIGINT
 * or SIGTERM. Blocks those signals before any thread starts and waits for
 * them with sigwait, so no handler runs on a random thread. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli/cli.h"
#include "credentials/credentials.h"
#include "cli/config.h"
#include "crypto/seal.h"
#include "core/log.h"
#include "engine/engine.h"
#include "net/http.h"
#include "core/timeutil.h"
#include "store/store.h"

static bool addr_is_loopback(const char *a)
{
    return strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 || strcmp(a, "localhost") == 0;
}

/* Reads whether the store's API was initialized (store_initialized).
 * Beyond loopback the API must never be open: listening there needs the
 * mark, and then every /api/ request needs a token (api/auth.c). Prints why
 * and returns CLI_FAIL when the store cannot be opened or read (a database
 * newer than this idflow among them), CLI_USAGE when the address is refused;
 * CLI_OK otherwise. */
static int check_initialized(const char *db, const char *addr, bool *init_out)
{
    struct store *st = NULL;
    struct idf_err err;
    int rc;

    if (store_open(db, &st, &err)) {
        fprintf(stderr, "idflow serve: %s\n", err.msg);
        return CLI_FAIL;
    }
    rc = store_initialized(st, init_out);
    store_close(st);
    if (rc) {
        fprintf(stderr, "idflow serve: cannot read the store's initialized mark\n");
        return CLI_FAIL;
    }
    if (*init_out || addr_is_loopback(addr))
        return CLI_OK;
    fprintf(stderr,
            "idflow serve: refusing to listen on %s: this store has no API token yet, so the API would have no "
            "protection. Create one first (idflow token create NAME --role admin) or run idflow init; from then on "
            "every /api/ request needs a token. Put a TLS reverse proxy in front: tokens and hook secrets travel in "
            "headers.\n",
            addr);
    return CLI_USAGE;
}

int cli_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"db", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},  {"workflows", required_argument, NULL, 'w'},
        {"workers", required_argument, NULL, 'n'}, {"node-id", required_argument, NULL, 'i'},
        {"lease-ms", required_argument, NULL, 'L'}, {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *db = NULL, *listen = NULL, *wfdir = NULL, *node = NULL, *lease = NULL;
    int workers = 0;
    struct cfg cfg;
    struct idf_err err;
    struct engine *eng = NULL;
    struct http_server *srv = NULL;
    struct http_server_opts so;
    struct engine_opts eo;
    struct api api;
    struct seal_key *key = NULL;
    char addr[256], public_origin[CFG_MAX_VALUE], hosts_buf[CFG_MAX_VALUE];
    const char *hosts[CFG_MAX_HOSTS + 1];
    bool initialized = false;
    int port = 0, c, sig = 0, rc = CLI_FAIL;
    sigset_t set;
    enum log_level lvl;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'd': db = optarg; break;
        case 'l': listen = optarg; break;
        case 'w': wfdir = optarg; break;
        case 'i': node = optarg; break;
        case 'L': lease = optarg; break;
        case 'n':
            workers = atoi(optarg);
            if (workers < 1 || workers > ENGINE_MAX_WORKERS) {
                fprintf(stderr, "idflow serve: --workers must be from 1 to %d\n", ENGINE_MAX_WORKERS);
                return CLI_USAGE;
            }
            break;
        default:
            fprintf(stderr, "usage: idflow serve [--config FILE] [--db URL] [--listen ADDR:PORT] [--workflows DIR] "
                            "[--workers N] [--node-id ID] [--lease-ms MS]\n");
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "idflow serve: unexpected argument '%s'\n", argv[optind]);
        return CLI_USAGE;
    }
    if (cfg_load(config, &cfg, &err)) {
        fprintf(stderr, "idflow serve: %s\n", err.msg);
        return CLI_USAGE;
    }
    if (log_level_parse(cfg.log_level, &lvl) == 0)
        log_set_level(lvl);
    if (db)
        snprintf(cfg.db, sizeof cfg.db, "%s", db);
    if (listen)
        snprintf(cfg.listen, sizeof cfg.listen, "%s", listen);
    if (wfdir)
        snprintf(cfg.workflows, sizeof cfg.workflows, "%s", wfdir);
    if (node)
        snprintf(cfg.node_id, sizeof cfg.node_id, "%s", node);
    if (workers)
        cfg.workers = workers;
    if (lease && cfg_set(&cfg, "lease_ms", lease, "--lease-ms", &err)) {
        fprintf(stderr, "idflow serve: %s\n", err.msg);
        return CLI_USAGE;
    }
    if (cfg_split_listen(cfg.listen, addr, sizeof addr, &port)) {
        fprintf(stderr, "idflow serve: --listen must be ADDR:PORT, got '%s'\n", cfg.listen);
        return CLI_USAGE;
    }
    if (cfg_public_origin(&cfg, public_origin, sizeof public_origin) != 0) {
        fprintf(stderr, "idflow serve: public_url must be an http:// or https:// URL such as "
                        "https://idflow.example.com, got '%s'\n", cfg.public_url);
        return CLI_USAGE;
    }
    if (cfg_hosts(&cfg, hosts_buf, hosts) != 0) {
        fprintf(stderr, "idflow serve: allowed_hosts holds more than %d names\n", CFG_MAX_HOSTS);
        return CLI_USAGE;
    }
    rc = check_initialized(cfg.db, addr, &initialized);
    if (rc != CLI_OK)
        return rc;
    rc = CLI_FAIL;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* the master key, before any thread starts (reading IDFLOW_MASTER_KEY removes it
     * from the environment, which must not change once threads run) */
    /* on a shared database, never a new key: every node needs the others' (credentials.h) */
    if (cred_load_key(cfg.db, NULL, !store_url_listens(cfg.db), &key, NULL, &err)) {
        fprintf(stderr, "idflow serve: %s\n", err.msg);
        goto out;
    }
    memset(&eo, 0, sizeof eo);
    eo.key = key;
    eo.db_url = cfg.db;
    eo.workflows_dir = cfg.workflows;
    eo.workers = cfg.workers;
    eo.max_interruptions = cfg.max_interruptions;
    eo.node_id = cfg.node_id[0] ? cfg.node_id : NULL;
    eo.expr_timeout_ms = cfg.expr_timeout_ms;
    eo.expr_memory_mb = cfg.expr_memory_mb;
    eo.lease_ms = cfg.lease_ms; /* the node lease's ttl follows it (node.c) */
    if (engine_new(&eo, &eng, &err) || engine_start(eng, &err)) {
        fprintf(stderr, "idflow serve: %s\n", err.msg);
        goto out;
    }
    api.engine = eng;
    api.db_url = cfg.db;
    api.key = key;
    api.listen_addr = addr;
    api.allowed_hosts = hosts;
    api.public_origin = public_origin[0] ? public_origin : NULL;
    atomic_init(&api.closed, initialized);
    memset(&so, 0, sizeof so);
    so.addr = addr;
    so.port = port;
    so.max_body = BUF_CAP_HTTP_BODY;
    so.threads = 8;
    so.handler = api_handle;
    so.ud = &api;
    if (http_server_start(&so, &srv, &err)) {
        fprintf(stderr, "idflow serve: %s\n", err.msg);
        goto out;
    }
    {
        char dblog[CFG_MAX_VALUE + 16];
        json_t *f;
        store_url_for_log(cfg.db, dblog, sizeof dblog);
        f = json_pack("{s:s,s:i,s:s,s:s,s:i}", "addr", addr, "port", http_server_port(srv), "db", dblog,
                              "workflows", cfg.workflows, "workers", cfg.workers);
        log_msg(LOG_INFO, f, "idflow serve listening on http://%s:%d", addr, http_server_port(srv));
        json_decref(f);
    }
    if (!initialized)
        log_warn("the API is open: this store has no API token yet, so requests from this machine (loopback, not "
                 "through a proxy) are served as admin without one. Create a token (idflow token create NAME "
                 "--role admin) or run idflow init to close it for good");
    sigwait(&set, &sig);
    log_info("received signal %d, shutting down", sig);
    rc = CLI_OK;
out:
    http_server_stop(srv);
    engine_free(eng);
    seal_key_free(key);
    return rc;
}

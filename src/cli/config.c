/* config.c — settings from defaults, idflow.yaml and IDFLOW_* (see config.h).
 * Called once from main() before threads start; stateless otherwise. */
#include "cli/config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "engine/engine.h"
#include "expr/expr.h"

#define CFG_FILE_MAX (64u << 10)

static int set_key(struct cfg *c, const char *k, const char *v, struct idf_err *err, const char *where)
{
    size_t n = strlen(v);
    if (strcmp(k, "db") == 0 && n < sizeof c->db) {
        memcpy(c->db, v, n + 1);
    } else if (strcmp(k, "listen") == 0 && n < sizeof c->listen) {
        memcpy(c->listen, v, n + 1);
    } else if (strcmp(k, "workflows") == 0 && n < sizeof c->workflows) {
        memcpy(c->workflows, v, n + 1);
    } else if (strcmp(k, "log_level") == 0 && n < sizeof c->log_level) {
        memcpy(c->log_level, v, n + 1);
    } else if (strcmp(k, "node_id") == 0 && n < sizeof c->node_id) {
        memcpy(c->node_id, v, n + 1);
    } else if (strcmp(k, "public_url") == 0 && n < sizeof c->public_url) {
        memcpy(c->public_url, v, n + 1);
    } else if (strcmp(k, "allowed_hosts") == 0 && n < sizeof c->allowed_hosts) {
        memcpy(c->allowed_hosts, v, n + 1);
    } else if (strcmp(k, "workers") == 0) {
        char *end;
        long w = strtol(v, &end, 10);
        if (*end || w < 1 || w > 64)
            return idf_err_set(err, IDF_EINVAL, "%s: workers must be a number from 1 to 64", where);
        c->workers = (int)w;
    } else if (strcmp(k, "expr_timeout_ms") == 0) {
        char *end;
        long w = strtol(v, &end, 10);
        if (*end || end == v || w < EXPR_MIN_TIMEOUT_MS || w > EXPR_MAX_TIMEOUT_MS)
            return idf_err_set(err, IDF_EINVAL, "%s: expr_timeout_ms must be a number of milliseconds from %d to %d",
                               where, EXPR_MIN_TIMEOUT_MS, EXPR_MAX_TIMEOUT_MS);
        c->expr_timeout_ms = (int)w;
    } else if (strcmp(k, "expr_memory_mb") == 0) {
        char *end;
        long w = strtol(v, &end, 10);
        if (*end || end == v || w < EXPR_MIN_MEMORY_MB || w > EXPR_MAX_MEMORY_MB)
            return idf_err_set(err, IDF_EINVAL, "%s: expr_memory_mb must be a number of MiB from %d to %d", where,
                               EXPR_MIN_MEMORY_MB, EXPR_MAX_MEMORY_MB);
        c->expr_memory_mb = (int)w;
    } else if (strcmp(k, "max_interruptions") == 0) {
        char *end;
        long m = strtol(v, &end, 10);
        if (*end || m < 1 || m > CFG_MAX_INTERRUPTIONS)
            return idf_err_set(err, IDF_EINVAL, "%s: max_interruptions must be a number from 1 to %d", where,
                               CFG_MAX_INTERRUPTIONS);
        c->max_interruptions = (int)m;
    } else if (strcmp(k, "lease_ms") == 0) {
        char *end;
        long long m = strtoll(v, &end, 10);
        if (*end || end == v || m < CFG_LEASE_MIN_MS || m > CFG_LEASE_MAX_MS)
            return idf_err_set(err, IDF_EINVAL, "%s: lease_ms must be a number of milliseconds from %d to %d, got '%s'",
                               where, CFG_LEASE_MIN_MS, CFG_LEASE_MAX_MS, v);
        c->lease_ms = m;
    } else if (strcmp(k, "db") == 0 || strcmp(k, "listen") == 0 || strcmp(k, "workflows") == 0 ||
               strcmp(k, "log_level") == 0 || strcmp(k, "node_id") == 0 || strcmp(k, "public_url") == 0 ||
               strcmp(k, "allowed_hosts") == 0) {
        return idf_err_set(err, IDF_EINVAL, "%s: value of '%s' is too long", where, k);
    } else {
        return idf_err_set(err, IDF_EINVAL,
                           "%s: unknown setting '%s' (known: db, listen, workflows, workers, max_interruptions, "
                           "log_level, node_id, public_url, allowed_hosts, expr_timeout_ms, expr_memory_mb, lease_ms)",
                           where, k);
    }
    return 0;
}

int cfg_set(struct cfg *c, const char *key, const char *value, const char *where, struct idf_err *err)
{
    return set_key(c, key, value, err, where);
}

static int load_file(const char *path, struct cfg *c, struct idf_err *err)
{
    FILE *f = fopen(path, "rb");
    yaml_parser_t p;
    yaml_event_t ev;
    char key[128] = "";
    int depth = 0;
    bool have_key = false;
    int rc = 0;
    bool done = false;

    if (!f)
        return idf_err_set(err, IDF_ENOTFOUND, "cannot open config file '%s'", path);
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    while (!done) {
        char where[300];
        if (!yaml_parser_parse(&p, &ev)) {
            rc = idf_err_set(err, IDF_EINVAL, "%s:%zu:%zu: %s", path, p.problem_mark.line + 1,
                             p.problem_mark.column + 1, p.problem ? p.problem : "YAML error");
            break;
        }
        snprintf(where, sizeof where, "%s:%zu:%zu", path, ev.start_mark.line + 1, ev.start_mark.column + 1);
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
            if (++depth > 1)
                rc = idf_err_set(err, IDF_EINVAL, "%s: settings are flat: nested mappings are not allowed", where);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = idf_err_set(err, IDF_EINVAL, "%s: settings are flat: lists are not allowed", where);
            break;
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_SCALAR_EVENT:
            if (!have_key) {
                snprintf(key, sizeof key, "%s", (const char *)ev.data.scalar.value);
                have_key = true;
            } else {
                rc = set_key(c, key, (const char *)ev.data.scalar.value, err, where);
                have_key = false;
            }
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        if (ftell(f) > (long)CFG_FILE_MAX)
            rc = idf_err_set(err, IDF_ETOOBIG, "%s: larger than %u bytes", path, CFG_FILE_MAX);
        yaml_event_delete(&ev);
        if (rc)
            break;
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

int cfg_load(const char *path, struct cfg *c, struct idf_err *err)
{
    static const char *const env_keys[][2] = {
        {"IDFLOW_DB", "db"},
        {"IDFLOW_LISTEN", "listen"},
        {"IDFLOW_WORKFLOWS", "workflows"},
        {"IDFLOW_WORKERS", "workers"},
        {"IDFLOW_MAX_INTERRUPTIONS", "max_interruptions"},
        {"IDFLOW_LOG_LEVEL", "log_level"},
        {"IDFLOW_NODE_ID", "node_id"},
        {"IDFLOW_PUBLIC_URL", "public_url"},
        {"IDFLOW_ALLOWED_HOSTS", "allowed_hosts"},
        {"IDFLOW_EXPR_TIMEOUT_MS", "expr_timeout_ms"},
        {"IDFLOW_EXPR_MEMORY_MB", "expr_memory_mb"},
        {"IDFLOW_LEASE_MS", "lease_ms"},
    };
    int rc;

    memset(c, 0, sizeof *c);
    snprintf(c->db, sizeof c->db, "sqlite:idflow.db");
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8080");
    snprintf(c->workflows, sizeof c->workflows, "./workflows");
    snprintf(c->log_level, sizeof c->log_level, "info");
    c->workers = 4;
    c->expr_timeout_ms = EXPR_DEFAULT_TIMEOUT_MS;
    c->expr_memory_mb = EXPR_DEFAULT_MEMORY_MB;
    c->max_interruptions = 3;
    c->lease_ms = ENGINE_DEFAULT_LEASE_MS;
    if (path) {
        rc = load_file(path, c, err);
        if (rc)
            return rc;
    } else if (access("idflow.yaml", R_OK) == 0) {
        rc = load_file("idflow.yaml", c, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < sizeof env_keys / sizeof env_keys[0]; i++) {
        const char *v = getenv(env_keys[i][0]);
        if (v && *v) {
            rc = set_key(c, env_keys[i][1], v, err, env_keys[i][0]);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int cfg_split_listen(const char *s, char *addr, size_t addr_len, int *port)
{
    const char *colon = strrchr(s, ':');
    const char *a = s;
    size_t n;
    char *end;
    long p;

    if (!colon)
        return IDF_EINVAL;
    n = (size_t)(colon - s);
    if (*s == '[') {
        if (n < 2 || s[n - 1] != ']')
            return IDF_EINVAL;
        a = s + 1;
        n -= 2;
    }
    if (n == 0 || n >= addr_len)
        return IDF_EINVAL;
    p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535 || end == colon + 1)
        return IDF_EINVAL;
    memcpy(addr, a, n);
    addr[n] = '\0';
    *port = (int)p;
    return 0;
}

int cfg_hosts(const struct cfg *c, char buf[CFG_MAX_VALUE], const char *hosts[CFG_MAX_HOSTS + 1])
{
    size_t n = 0;
    char *p, *save = NULL;

    snprintf(buf, CFG_MAX_VALUE, "%s", c->allowed_hosts);
    for (p = strtok_r(buf, ", \t", &save); p; p = strtok_r(NULL, ", \t", &save)) {
        if (n == CFG_MAX_HOSTS)
            return IDF_EINVAL;
        hosts[n++] = p;
    }
    hosts[n] = NULL;
    return 0;
}

int cfg_public_origin(const struct cfg *c, char *out, size_t n)
{
    const char *u = c->public_url, *host;
    size_t len;

    *out = '\0';
    if (!*u)
        return 0;
    if (strncasecmp(u, "https://", 8) == 0)
        host = u + 8;
    else if (strncasecmp(u, "http://", 7) == 0)
        host = u + 7;
    else
        return IDF_EINVAL;
    len = strcspn(host, "/?#");
    if (len == 0 || memchr(host, '@', len) || (size_t)(host - u) + len >= n)
        return IDF_EINVAL;
    for (size_t i = 0; i < (size_t)(host - u) + len; i++)
        out[i] = (char)(u[i] >= 'A' && u[i] <= 'Z' ? u[i] - 'A' + 'a' : u[i]);
    out[(size_t)(host - u) + len] = '\0';
    return 0;
}

/* cluster_fixture.c — several `idflow serve` nodes on one database
 * (cluster_fixture.h).
 *
 * Owns nothing beyond the node processes the caller's cfx_node structs
 * describe; the sandbox and the directory belong to the serve fixture.
 * Everything runs on the test's thread. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support/cluster_fixture.h"
#include "support/storeurl.h"

#define CFX_STOP_MS 15000
#define CFX_PAGE 1000 /* the API's largest page of runs */
#define CFX_MAX_ARGS 40

int cfx_use_env_db(struct sfx *f, const char *tag)
{
    const char *tmpl = getenv(CFX_DB_ENV);
    char t[64];

    if (!tmpl || !*tmpl)
        return 0;
    snprintf(t, sizeof t, "%s_%d", tag, (int)getpid());
    if (tu_store_url(tmpl, t, f->db, sizeof f->db))
        return -1;
    return 1;
}

int cfx_node_start(struct sfx *f, struct cfx_node *n, const char *id, int workers, const char *const *extra)
{
    char w[16], url[200];
    const char *argv[CFX_MAX_ARGS + 1] = {f->bin,        "serve",  "--db",      f->db, "--listen",  n->listen,
                                          "--workflows", f->wfdir, "--node-id", id,    "--workers", w};
    int k = 12, port;

    for (; extra && *extra && k < CFX_MAX_ARGS; extra++)
        argv[k++] = *extra;
    argv[k] = NULL;
    memset(&n->p, 0, sizeof n->p);
    snprintf(n->id, sizeof n->id, "%s", id);
    snprintf(w, sizeof w, "%d", workers);
    port = tu_free_port();
    if (port < 0)
        return -1;
    snprintf(n->listen, sizeof n->listen, "127.0.0.1:%d", port);
    snprintf(n->base, sizeof n->base, "http://%s", n->listen);
    n->killed_at = 0;
    if (tu_spawn(argv, f->serve_env, &n->p))
        return -1;
    n->up = true;
    snprintf(url, sizeof url, "%s/readyz", n->base);
    if (tu_wait_http_ok(url, SFX_WAIT_MS)) {
        char *err = tu_proc_stderr(&n->p);
        fprintf(stderr, "node %s did not become ready:\n%s\n", id, err);
        free(err);
        return -1;
    }
    return 0;
}

int cfx_node_kill9(struct cfx_node *n)
{
    int rc;

    if (!n->up)
        return -1;
    n->killed_at = cfx_wall_ms();
    tu_kill(&n->p, SIGKILL);
    rc = tu_wait(&n->p, 10000);
    n->up = false;
    tu_proc_cleanup(&n->p);
    return rc == 128 + SIGKILL ? 0 : -1;
}

int cfx_node_stop(struct sfx *f, struct cfx_node *n)
{
    int rc;
    char *err;

    if (!n->up)
        return 0;
    n->up = false;
    tu_kill(&n->p, SIGTERM);
    rc = tu_wait(&n->p, CFX_STOP_MS);
    err = tu_proc_stderr(&n->p);
    for (int i = 0; i < SFX_MAX_SECRETS && f->secrets[i]; i++) {
        if (strstr(err, f->secrets[i])) {
            fprintf(stderr, "node %s logged a secret\n", n->id);
            rc = rc ? rc : 1;
        }
    }
    if (rc != 0 || strstr(err, "Sanitizer") || strstr(err, "runtime error")) {
        fprintf(stderr, "node %s exited with %d:\n%.20000s\n", n->id, rc, err);
        if (rc == 0)
            rc = 1;
    }
    free(err);
    tu_proc_cleanup(&n->p);
    return rc;
}

json_t *cfx_runs(const char *base, const char *workflow, const char *status)
{
    json_t *all = json_array();
    long long before = 0;

    for (;;) {
        char url[400], b[40] = "";
        long code = 0;
        json_t *page = NULL, *runs, *r;
        size_t i, n;

        if (before > 0)
            snprintf(b, sizeof b, "&before=%lld", before);
        snprintf(url, sizeof url, "%s/api/v1/runs?workflow=%s&limit=%d%s%s%s", base, workflow, CFX_PAGE,
                 status ? "&status=" : "", status ? status : "", b);
        if (sfx_http_json("GET", url, NULL, NULL, &code, &page) || code != 200) {
            fprintf(stderr, "cfx: GET %s: HTTP %ld\n", url, code);
            json_decref(page);
            json_decref(all);
            return NULL;
        }
        runs = json_object_get(page, "runs");
        n = json_array_size(runs);
        json_array_foreach (runs, i, r) {
            json_array_append(all, r);
            before = (long long)json_integer_value(json_object_get(r, "id"));
        }
        json_decref(page);
        if (n < CFX_PAGE)
            return all;
    }
}

int cfx_count_runs(const char *base, const char *workflow, const char *status)
{
    json_t *runs = cfx_runs(base, workflow, status);
    int n = runs ? (int)json_array_size(runs) : -1;

    json_decref(runs);
    return n;
}

json_t *cfx_run(const char *base, long long id)
{
    char url[300];
    long code = 0;
    json_t *r = NULL;

    snprintf(url, sizeof url, "%s/api/v1/runs/%lld", base, id);
    if (sfx_http_json("GET", url, NULL, NULL, &code, &r) || code != 200) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *cfx_calls(const char *sb, const char *prefix)
{
    char url[400];
    long code = 0;
    json_t *j = NULL, *calls;

    snprintf(url, sizeof url, "%s/_sandbox/calls%s%s", sb, prefix ? "?path=" : "", prefix ? prefix : "");
    if (sfx_http_json("GET", url, NULL, NULL, &code, &j) || code != 200) {
        json_decref(j);
        return NULL;
    }
    calls = json_incref(json_object_get(j, "calls"));
    json_decref(j);
    return calls;
}

int64_t cfx_iso_ms(const char *iso)
{
    struct tm tm;
    int ms = 0;
    char *end;

    if (!iso)
        return -1;
    memset(&tm, 0, sizeof tm);
    end = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return -1;
    if (*end == '.') {
        int digits = 0;
        for (end++; *end >= '0' && *end <= '9'; end++, digits++) {
            if (digits < 3)
                ms = ms * 10 + (*end - '0');
        }
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (*end != 'Z')
        return -1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

int64_t cfx_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cfx_cpu_ms(pid_t pid)
{
    char path[64], *stat, *p;
    unsigned long long ut = 0, st = 0;
    int64_t ms = -1;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    stat = tu_read_file(path, NULL);
    if (!stat)
        return -1;
    /* the command name may hold spaces and parentheses: fields count from the last ')' */
    p = strrchr(stat, ')');
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
        ms = (int64_t)((ut + st) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
    free(stat);
    return ms;
}

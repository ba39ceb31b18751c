/* serve_fixture.c — `idflow sandbox` + `idflow serve` for end-to-end tests
 * (serve_fixture.h).
 *
 * Owns the fixture's directory and the two child processes; everything runs
 * on the test's thread. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "support/serve_fixture.h"
#include "support/storeurl.h"

#define SFX_CMD_MS 30000    /* an idflow command's deadline */
#define SFX_STOP_MS 15000   /* serve's shutdown deadline */
#define SFX_SETTLE_MS 10000 /* default settle_ms */
#define SFX_MAX_ARGS 40

static bool sandbox_up(void *ud)
{
    struct sfx *f = ud;
    return tu_sandbox_url(&f->sandbox, f->sb, sizeof f->sb);
}

/* On a shared database serve makes no master key (every node must be given
 * the same one): unless the test chose one (IDFLOW_KEY_FILE or
 * IDFLOW_MASTER_KEY), the fixture writes a random key to <dir>/idflow.key
 * (mode 0600) and points IDFLOW_KEY_FILE at it, for every command it runs. */
static int shared_db_key(struct sfx *f)
{
    static char ours[600]; /* the path an earlier fixture of this process set (its directory is gone) */
    const char *kf = getenv("IDFLOW_KEY_FILE"), *mk = getenv("IDFLOW_MASTER_KEY");
    unsigned char b[32];
    char hex[2 * sizeof b + 2];
    FILE *fp;
    mode_t old;

    if ((kf && *kf && strcmp(kf, ours) != 0) || (mk && *mk))
        return 0;
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return -1;
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    snprintf(ours, sizeof ours, "%s/idflow.key", f->dir);
    old = umask(077);
    fp = fopen(ours, "wx");
    umask(old);
    if (!fp || fprintf(fp, "%s\n", hex) < 0 || fclose(fp) != 0) {
        fprintf(stderr, "sfx: cannot write the master key %s\n", ours);
        return -1;
    }
    setenv("IDFLOW_KEY_FILE", ours, 1);
    return 0;
}

/* f->db: a fresh schema of the PostgreSQL database IDFLOW_TEST_STORE_URL
 * names (tests/pg/run.sh sets it; with its master key: shared_db_key), else
 * a SQLite file in f->dir. */
static int store_url_from_env(struct sfx *f)
{
    static int n_started;
    const char *tmpl = getenv("IDFLOW_TEST_STORE_URL");
    char tag[64];

    if (!tmpl || !*tmpl) {
        snprintf(f->db, sizeof f->db, "sqlite:%s/idflow.db", f->dir);
        return 0;
    }
    snprintf(tag, sizeof tag, "sfx_%d_%d", (int)getpid(), ++n_started);
    if (shared_db_key(f))
        return -1;
    return tu_store_url(tmpl, tag, f->db, sizeof f->db);
}

int sfx_start(struct sfx *f, const char *const *sandbox_args)
{
    const char *argv[SFX_MAX_ARGS + 1];
    int n = 0, port;

    f->bin = getenv("IDFLOW_BIN");
    f->src = getenv("IDFLOW_SRC");
    if (!f->bin) {
        fprintf(stderr, "IDFLOW_BIN must be set (make test sets it)\n");
        return -1;
    }
    f->dir = tu_mktemp_dir();
    if (!f->dir) {
        fprintf(stderr, "sfx: cannot create a temporary directory\n");
        return -1;
    }
    if (store_url_from_env(f) != 0)
        return -1;
    snprintf(f->wfdir, sizeof f->wfdir, "%s/wf", f->dir);
    if (mkdir(f->wfdir, 0700) != 0) {
        fprintf(stderr, "sfx: cannot create %s\n", f->wfdir);
        return -1;
    }
    port = tu_free_port();
    if (port < 0)
        return -1;
    snprintf(f->listen, sizeof f->listen, "127.0.0.1:%d", port);
    snprintf(f->base, sizeof f->base, "http://%s", f->listen);

    if (f->no_sandbox)
        return 0;
    argv[n++] = f->bin;
    argv[n++] = "sandbox";
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    for (; sandbox_args && *sandbox_args && n < SFX_MAX_ARGS; sandbox_args++)
        argv[n++] = *sandbox_args;
    argv[n] = NULL;
    if (tu_spawn(argv, NULL, &f->sandbox) || !tu_wait_until(sandbox_up, f, SFX_WAIT_MS)) {
        fprintf(stderr, "sfx: the sandbox did not start\n");
        return -1;
    }
    return 0;
}

int sfx_write_wf(struct sfx *f, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s.yaml", f->wfdir, name);
    return tu_write_file(path, text);
}

int sfx_write_secret(struct sfx *f, const char *name, const char *text, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", f->dir, name);
    if (tu_write_file(path, text) || chmod(path, 0600) != 0)
        return -1;
    return 0;
}

int sfx_idflow_argv(struct sfx *f, const char *const *args, const char *const *env, char **out)
{
    const char *argv[SFX_MAX_ARGS + 1];
    char *err = NULL;
    int n = 0, rc;

    argv[n++] = f->bin;
    for (; args && *args && n < SFX_MAX_ARGS; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    rc = tu_run(argv, env, SFX_CMD_MS, out, &err);
    if (rc != 0)
        fprintf(stderr, "idflow %s failed (%d):\n%s\n", n > 1 ? argv[1] : "", rc, err ? err : "");
    free(err);
    return rc;
}

int sfx_idflow(struct sfx *f, const char *const *env, char **out, const char *first, ...)
{
    const char *args[SFX_MAX_ARGS + 1];
    va_list ap;
    int n = 0;

    args[n++] = first;
    va_start(ap, first);
    while (n < SFX_MAX_ARGS && (args[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    args[n] = NULL;
    return sfx_idflow_argv(f, args, env, out);
}

int sfx_serve_start(struct sfx *f, const char *wfdir, const char *const *extra)
{
    const char *argv[SFX_MAX_ARGS + 1] = {f->bin,     "serve",   "--db",        f->db,
                                          "--listen", f->listen, "--workflows", wfdir ? wfdir : f->wfdir};
    char url[200];
    int n = 8;

    for (; extra && *extra && n < SFX_MAX_ARGS; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    /* ASan builds: a leak makes serve exit non-zero, which sfx_serve_stop reports */
    if (tu_spawn(argv, f->serve_env, &f->serve))
        return -1;
    f->serving = true;
    snprintf(url, sizeof url, "%s/readyz", f->base);
    if (tu_wait_http_ok(url, SFX_WAIT_MS)) {
        char *err = tu_proc_stderr(&f->serve);
        fprintf(stderr, "idflow serve did not become ready:\n%s\n", err);
        free(err);
        return -1;
    }
    return 0;
}

int sfx_serve_stop(struct sfx *f)
{
    return sfx_serve_stop_within(f, SFX_STOP_MS);
}

int sfx_serve_stop_within(struct sfx *f, int timeout_ms)
{
    int rc;
    char *err;

    if (!f->serving)
        return 0;
    f->serving = false;
    tu_kill(&f->serve, SIGTERM);
    rc = tu_wait(&f->serve, timeout_ms);
    err = tu_proc_stderr(&f->serve);
    for (int i = 0; i < SFX_MAX_SECRETS && f->secrets[i]; i++) {
        if (strstr(err, f->secrets[i])) {
            fprintf(stderr, "idflow serve logged a secret\n");
            rc = rc ? rc : 1;
        }
    }
    if (rc != 0 || strstr(err, "Sanitizer") || strstr(err, "runtime error")) {
        fprintf(stderr, "idflow serve exited with %d:\n%s\n", rc, err);
        if (rc == 0)
            rc = 1;
    }
    free(err);
    tu_proc_cleanup(&f->serve);
    return rc;
}

int sfx_stop(struct sfx *f)
{
    int rc = sfx_serve_stop(f);

    if (f->sandbox.pid) {
        tu_kill(&f->sandbox, SIGTERM);
        tu_wait(&f->sandbox, 10000);
    }
    tu_proc_cleanup(&f->sandbox);
    if (f->dir) {
        tu_rm_rf(f->dir);
        free(f->dir);
        f->dir = NULL;
    }
    return rc;
}

int sfx_http_json(const char *method, const char *url, const char *body, const char *const *headers, long *status,
                  json_t **json_out)
{
    char *resp = NULL;
    int rc = tu_http(method, url, body, headers, status, &resp);

    *json_out = rc == 0 && resp && *resp ? json_loads(resp, JSON_DECODE_ANY, NULL) : NULL;
    if (rc)
        fprintf(stderr, "sfx: %s %s: error %d\n", method, url, rc);
    free(resp);
    return rc;
}

char *sfx_run_final(struct sfx *f, const char *token, long long id, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    char url[300], auth[300];
    const char *h[] = {auth, NULL};

    snprintf(url, sizeof url, "%s/api/v1/runs/%lld", f->base, id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    for (;;) {
        char *resp = NULL;
        long status = 0;
        if (tu_http("GET", url, NULL, h, &status, &resp) != 0 || status != 200) {
            fprintf(stderr, "GET %s: HTTP %ld %s\n", url, status, resp ? resp : "");
            free(resp);
            return NULL;
        }
        json_t *r = json_loads(resp, 0, NULL);
        const char *st = json_string_value(json_object_get(r, "status"));
        bool done = st && (!strcmp(st, "succeeded") || !strcmp(st, "failed") || !strcmp(st, "cancelled"));
        json_decref(r);
        if (done)
            return resp;
        free(resp);
        if (tu_now_ms() >= deadline) {
            fprintf(stderr, "run %lld did not end within %d ms\n", id, timeout_ms);
            return NULL;
        }
        struct timespec ts = {0, 20 * 1000000}; /* the next look at the run */
        nanosleep(&ts, NULL);
    }
}

bool sfx_db_files_hold(const struct sfx *f, const char *needle)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal", NULL};
    bool found = false;

    if (strncmp(f->db, "sqlite:", 7) != 0)
        return false;
    for (int i = 0; suffix[i]; i++) {
        char p[500];
        size_t n = 0;
        char *bytes;
        snprintf(p, sizeof p, "%s%s", f->db + 7, suffix[i]);
        bytes = tu_read_file(p, &n);
        if (bytes && memmem(bytes, n, needle, strlen(needle)))
            found = true;
        free(bytes);
    }
    return found;
}

int sfx_metric(struct sfx *f, const char *name, long long *value_out)
{
    char url[200], *resp = NULL, pat[200], *p;
    long status = 0;
    int rc = -1;

    *value_out = -1;
    snprintf(url, sizeof url, "%s/metrics", f->base);
    if (tu_http("GET", url, NULL, NULL, &status, &resp) == 0 && status == 200) {
        snprintf(pat, sizeof pat, "\n%s ", name);
        p = strstr(resp, pat);
        if (p)
            *value_out = atoll(p + strlen(pat));
        rc = 0;
    }
    free(resp);
    return rc;
}

/* GET /api/v1/runs?workflow=W (up to 500) after the events settled: the "runs" array (caller decrefs) or NULL. */
static json_t *list_runs(struct sfx *f, const char *workflow)
{
    char url[300];
    long status = 0;
    json_t *list = NULL, *runs;

    /* every acknowledged event has been matched (and delivery re-read): its runs exist */
    if (!tu_wait_events_settled(f->db, f->settle_ms > 0 ? f->settle_ms : SFX_SETTLE_MS)) {
        fprintf(stderr, "sfx: the stored events were not matched in time\n");
        return NULL;
    }
    snprintf(url, sizeof url, "%s/api/v1/runs?workflow=%s&limit=500", f->base, workflow);
    if (sfx_http_json("GET", url, NULL, NULL, &status, &list) || status != 200) {
        fprintf(stderr, "sfx: GET %s: HTTP %ld\n", url, status);
        json_decref(list);
        return NULL;
    }
    runs = json_incref(json_object_get(list, "runs"));
    json_decref(list);
    return runs;
}

int sfx_count_runs(struct sfx *f, const char *workflow, const char *step, const char *key, const char *value)
{
    json_t *runs = list_runs(f, workflow), *r;
    size_t i;
    int n = 0;

    if (!runs)
        return -1;
    json_array_foreach (runs, i, r) {
        char url[300];
        long status = 0;
        json_t *full = NULL, *s;
        size_t k;

        snprintf(url, sizeof url, "%s/api/v1/runs/%lld", f->base,
                 (long long)json_integer_value(json_object_get(r, "id")));
        if (sfx_http_json("GET", url, NULL, NULL, &status, &full) || status != 200) {
            json_decref(full);
            n = -1;
            break;
        }
        json_array_foreach (json_object_get(full, "steps"), k, s) {
            const char *got = json_string_value(json_object_get(json_object_get(s, "output"), key));
            const char *id = json_string_value(json_object_get(s, "step_id"));
            if (id && !strcmp(id, step) && got && !strcmp(got, value))
                n++;
        }
        json_decref(full);
    }
    json_decref(runs);
    return n;
}

int sfx_count_all_runs(struct sfx *f, const char *workflow)
{
    json_t *runs = list_runs(f, workflow);
    int n = runs ? (int)json_array_size(runs) : -1;
    json_decref(runs);
    return n;
}

struct want_runs {
    struct sfx *f;
    const char *wf, *step, *key, *value;
    int n;
};

static bool runs_reached(void *ud)
{
    struct want_runs *w = ud;
    return sfx_count_runs(w->f, w->wf, w->step, w->key, w->value) >= w->n;
}

bool sfx_wait_runs(struct sfx *f, const char *workflow, const char *step, const char *key, const char *value, int n,
                   int timeout_ms)
{
    struct want_runs w = {f, workflow, step, key, value, n};
    return tu_wait_until(runs_reached, &w, timeout_ms);
}

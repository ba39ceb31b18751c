/* serve_fixture.h — the processes of an end-to-end test: `idflow sandbox`
 * and `idflow serve` on loopback, a temporary database and workflows folder,
 * and the idflow commands run against them.
 *
 *   static struct sfx F = {.secrets = {"my-token", NULL}};
 *   sfx_start(&F, (const char *[]){"--token", "my-token", NULL});  // sandbox up, dirs made
 *   sfx_write_wf(&F, "lock", "...");
 *   sfx_idflow(&F, NULL, NULL, "connect", "okta", "sb", "--url", F.sb, ..., "--db", F.db, NULL);
 *   sfx_serve_start(&F, NULL, (const char *[]){"--workers", "2", NULL});  // ready on F.base
 *   ... drive F.sb, read F.base/api/v1/... (sfx_count_runs, sfx_metric) ...
 *   sfx_serve_stop(&F);   // SIGTERM: 0 after a clean exit that logged no secret
 *   sfx_stop(&F);         // serve (if still up), sandbox, directory
 *
 * Uses testutil (processes, HTTP, polling). Support code does not link
 * cmocka: failures are returned and printed to stderr; the test asserts.
 * One thread (the test's) uses a fixture. */
#ifndef IDF_TESTS_SERVE_FIXTURE_H
#define IDF_TESTS_SERVE_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>

#include "support/testutil.h"

#define SFX_MAX_SECRETS 8
#define SFX_WAIT_MS 15000 /* a process's readiness deadline */

struct sfx {
    /* set by the test before sfx_start (or left zero) */
    const char *secrets[SFX_MAX_SECRETS + 1]; /* strings serve must never log; NULL-terminated */
    int settle_ms; /* how long sfx_count_runs waits for stored events to be matched (0: 10 s) */
    const char *const *serve_env; /* "NAME=value" strings added to serve's environment (as tu_spawn),
                                     NULL-terminated; NULL: none */
    bool no_sandbox; /* sfx_start starts no sandbox (f->sb stays ""): tests of serve alone */
    /* set by sfx_start */
    const char *bin;        /* IDFLOW_BIN */
    const char *src;        /* IDFLOW_SRC, or NULL when unset */
    struct tu_proc sandbox; /* `idflow sandbox` */
    struct tu_proc serve;   /* `idflow serve` while serving */
    bool serving;           /* serve was started and not yet stopped */
    char sb[128];           /* the sandbox's base URL */
    char base[128];         /* idflow's base URL, "http://127.0.0.1:PORT" */
    char listen[64];        /* "127.0.0.1:PORT": a port free when sfx_start ran, kept across restarts */
    char *dir;              /* the temporary directory (owned) */
    char db[400];           /* "sqlite:<dir>/idflow.db"; with IDFLOW_TEST_STORE_URL set (the
                               PostgreSQL runner, tests/pg/run.sh), a fresh schema of that database */
    char wfdir[400];        /* "<dir>/wf", created empty */
};

/* Reads IDFLOW_BIN (required) and IDFLOW_SRC, creates the directory and the
 * workflows folder, picks serve's port, starts `idflow sandbox --listen
 * 127.0.0.1:0 [sandbox_args...]` (sandbox_args NULL-terminated, or NULL) and
 * waits until it listens (its URL in f->sb); with f->no_sandbox, no sandbox.
 * 0, or -1 (printed). Call sfx_stop in every case. */
int sfx_start(struct sfx *f, const char *const *sandbox_args);

/* Writes <wfdir>/<name>.yaml. 0 or -1. */
int sfx_write_wf(struct sfx *f, const char *name, const char *text);
/* Writes text to <dir>/<name> with mode 0600 (a secret file idflow accepts);
 * its path into path (n bytes). 0 or -1. */
int sfx_write_secret(struct sfx *f, const char *name, const char *text, char *path, size_t n);

/* Runs `idflow ARGS...` (NULL-terminated after first) to its end (at most
 * 30 s) with env (as tu_spawn; may be NULL): its exit code (-1 when it could
 * not start), its stdout in *out when out is not NULL (caller frees); a
 * failure's stderr is printed. */
int sfx_idflow(struct sfx *f, const char *const *env, char **out, const char *first, ...);
/* The same with the arguments as a NULL-terminated array. */
int sfx_idflow_argv(struct sfx *f, const char *const *args, const char *const *env, char **out);

/* Starts `idflow serve --db DB --listen LISTEN --workflows WFDIR [extra...]`
 * (wfdir NULL: f->wfdir; extra NULL-terminated, or NULL) with f->serve_env
 * added to its environment, and waits until
 * /readyz answers. 0, or -1 (serve's log printed). */
int sfx_serve_start(struct sfx *f, const char *wfdir, const char *const *extra);
/* Stops serve with SIGTERM: its exit code, or non-zero when it logged one of
 * f->secrets or a sanitizer report (printed), or did not exit within 15 s.
 * 0 when it was not serving. */
int sfx_serve_stop(struct sfx *f);
/* The same with its own deadline: non-zero when serve did not exit within
 * timeout_ms (a test that a stop does not wait for something slow). */
int sfx_serve_stop_within(struct sfx *f, int timeout_ms);

/* Stops serve (sfx_serve_stop) if it runs, then the sandbox, and removes the
 * directory. Returns what sfx_serve_stop returned (0 when serve was not up). */
int sfx_stop(struct sfx *f);

/* One request to url; the answer parsed (any JSON value) into *json_out (NULL
 * for an empty or non-JSON body; caller decrefs). 0 with *status set, or the
 * tu_http error. */
int sfx_http_json(const char *method, const char *url, const char *body, const char *const *headers, long *status,
                  json_t **json_out);

/* Polls GET /api/v1/runs/ID (with `Authorization: Bearer token`) until the
 * run has ended (succeeded, failed or cancelled): its answer as text (caller
 * frees), or NULL when the API failed or timeout_ms passed (printed). */
char *sfx_run_final(struct sfx *f, const char *token, long long id, int timeout_ms);
/* True when one of the SQLite database's files (the db, -wal, -shm,
 * -journal) holds needle; false for a database of another kind (nothing to
 * read: the caller checks what it can). */
bool sfx_db_files_hold(const struct sfx *f, const char *needle);

/* idflow's /metrics: *value_out = the value of the line "name value", or -1
 * when there is no such line. 0, or -1 when /metrics did not answer 200. */
int sfx_metric(struct sfx *f, const char *name, long long *value_out);
/* Runs of workflow (after every stored event was matched, f->settle_ms)
 * whose step `step` has output[key] == value, reading each run whole; -1
 * when the events did not settle or the API failed (printed). */
int sfx_count_runs(struct sfx *f, const char *workflow, const char *step, const char *key, const char *value);
/* Every run of workflow, whatever its state (after the events settled); -1 on failure. */
int sfx_count_all_runs(struct sfx *f, const char *workflow);
/* Polls sfx_count_runs until it reaches n: true, or false after timeout_ms. */
bool sfx_wait_runs(struct sfx *f, const char *workflow, const char *step, const char *key, const char *value, int n,
                   int timeout_ms);

#ifdef CMOCKA_H_
/* For cmocka tests (cmocka.h included before this header): a request, the
 * counts above, failing the test where they would fail, and the wait
 * failing it at its deadline. */
static inline json_t *sfx_assert_http_json(const char *method, const char *url, const char *body,
                                           const char *const *headers, long *status)
{
    json_t *j = NULL;
    if (sfx_http_json(method, url, body, headers, status, &j))
        fail_msg("%s %s: no answer", method, url);
    return j;
}

static inline long long sfx_assert_metric(struct sfx *f, const char *name)
{
    long long v = -1;
    if (sfx_metric(f, name, &v))
        fail_msg("GET %s/metrics failed", f->base);
    return v;
}

static inline int sfx_assert_count_runs(struct sfx *f, const char *wf, const char *step, const char *key,
                                        const char *value)
{
    int n = sfx_count_runs(f, wf, step, key, value);
    if (n < 0)
        fail_msg("cannot count the runs of %s", wf);
    return n;
}

static inline int sfx_assert_count_all_runs(struct sfx *f, const char *wf)
{
    int n = sfx_count_all_runs(f, wf);
    if (n < 0)
        fail_msg("cannot count the runs of %s", wf);
    return n;
}

static inline void sfx_assert_wait_runs(struct sfx *f, const char *wf, const char *step, const char *key,
                                        const char *value, int n, int timeout_ms)
{
    if (!sfx_wait_runs(f, wf, step, key, value, n, timeout_ms))
        fail_msg("no %d run(s) of %s with %s=%s after %d ms", n, wf, key, value, timeout_ms);
}
#endif

#endif

/* testutil.h — small helpers shared by the test programs.
 *
 * Temporary directories and files, child processes with captured output,
 * one-call HTTP requests, and polling with a deadline (tests never sleep for
 * luck: they poll a condition until it holds or a deadline passes). Any
 * thread, except where noted. */
#ifndef IDF_TESTS_TESTUTIL_H
#define IDF_TESTS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---------------------------------------------------------------- files */

/* A port that was free a moment ago on 127.0.0.1 (bound to 0, read back,
 * closed). Prefer port 0 where the code under test can report its port:
 * another process may take this one first. Returns -1 on failure. */
int tu_free_port(void);

/* Creates a fresh directory /tmp/idflow-test-XXXXXX (mode 0700). Caller frees
 * the returned path with free() and removes the tree with tu_rm_rf. NULL on
 * failure. */
char *tu_mktemp_dir(void);

/* Removes path and everything below it (no symlinks followed). Missing is ok.
 * Returns 0 or -1. */
int tu_rm_rf(const char *path);

/* Whole file as a NUL-terminated string (len in *len_out when not NULL);
 * caller frees. NULL when it cannot be read. */
char *tu_read_file(const char *path, size_t *len_out);

/* Writes text to path (created 0600 or truncated). Returns 0 or -1. */
int tu_write_file(const char *path, const char *text);

/* "dir/name" in a new string; caller frees. */
char *tu_path(const char *dir, const char *name);

/* ---------------------------------------------------------------- processes */

struct tu_proc {
    pid_t pid;          /* 0 once reaped */
    int status;         /* exit code, or 128 + signal, once reaped */
    char out_path[256]; /* captured stdout */
    char err_path[256]; /* captured stderr */
    char dir[200];      /* private directory holding the two files */
};

/* Starts argv[0] (searched in PATH when it has no '/') with posix_spawn.
 * env: NULL-terminated "NAME=value" entries added to (or replacing in) a copy
 * of the current environment; NULL = inherit as is. stdin is /dev/null;
 * stdout and stderr go to p->out_path and p->err_path. Returns 0 or -1.
 * Release with tu_proc_cleanup. */
int tu_spawn(const char *const argv[], const char *const env[], struct tu_proc *p);

/* tu_spawn with envp (NULL-terminated "NAME=value" entries) as the child's
 * whole environment, passed as is (a name given twice stays twice). */
int tu_spawn_envp(const char *const argv[], const char *const envp[], struct tu_proc *p);

/* Sends sig to the process (if it is still running). Returns 0 or -1. */
int tu_kill(struct tu_proc *p, int sig);

/* Waits for the process to end, at most timeout_ms (< 0 = forever). Returns
 * its exit code (0..255), 128 + signal if a signal ended it, or -1 when it is
 * still running at the deadline (it is left running). */
int tu_wait(struct tu_proc *p, int timeout_ms);

/* Captured output so far; caller frees. Never NULL ("" when empty). */
char *tu_proc_stdout(const struct tu_proc *p);
char *tu_proc_stderr(const struct tu_proc *p);

/* SIGKILLs the process if it still runs, reaps it, deletes its capture files.
 * Safe to call twice. */
void tu_proc_cleanup(struct tu_proc *p);

/* True once `idflow sandbox` (running as p) has logged its "sandbox
 * listening" line; its base URL ("http://127.0.0.1:PORT") is then in out.
 * Meant for tu_wait_until. */
bool tu_sandbox_url(const struct tu_proc *p, char *out, size_t n);

/* Runs fn(arg) in a forked child whose stderr is captured into msg (cap
 * bytes, NUL-terminated; what fits); the child exits 0 when fn returns.
 * Returns the child's wait status (WIFSIGNALED / WTERMSIG for an abort), or
 * -1 when the child could not be made. For checks that must stop the process
 * (core/invariant.h). */
int tu_fork_stderr(void (*fn)(void *arg), void *arg, char *msg, size_t cap);

/* Runs argv (NULL-terminated, argv[0] the program) with env (as tu_spawn;
 * may be NULL) to its end (at most timeout_ms); returns its exit code (-1
 * when it could not start or did not end), with stdout in *out and stderr in
 * *err when not NULL (caller frees). */
int tu_run(const char *const argv[], const char *const env[], int timeout_ms, char **out, char **err);

/* Runs `bin ARGS... --db DB` (ARGS NULL-terminated) to its end (at most
 * 15 s); returns its exit code (-1 when it could not start), with stdout in
 * *out and stderr in *err when not NULL (caller frees). */
int tu_idflow_db(const char *bin, const char *db, char **out, char **err, ...);

/* `idflow token create NAME --role ROLE --db DB`: the token (alone on its
 * stdout) into tok. Returns 0, or -1 when the command failed or printed
 * something else. */
int tu_idflow_token(const char *bin, const char *db, const char *name, const char *role, char *tok, size_t n);

/* ---------------------------------------------------------------- HTTP */

#define TU_HTTP_MAX_HEADERS 30

/* One request through a fresh http_client (no https_only, 10 s timeout).
 * headers: NULL-terminated "Name: value" list or NULL. body may be NULL.
 * A method other than GET and HEAD gets "Content-Type: application/json"
 * when headers name no Content-Type (idflow's API requires it for writes). 
 * On success returns 0 with the HTTP status in *status and, when body_out is
 * not NULL, the response body in *body_out (caller frees). Otherwise returns
 * the http_client_do error (IDF_EIO, IDF_ETIMEOUT, ...) and *body_out is
 * NULL. */
int tu_http(const char *method, const char *url, const char *body, const char *const *headers, long *status,
            char **body_out);

/* tu_http giving up (IDF_ETIMEOUT) when no answer came within timeout_ms,
 * as a sender that waits only so long (Okta: 3 s) does. */
int tu_http_within(const char *method, const char *url, const char *body, const char *const *headers,
                   int timeout_ms, long *status, char **body_out);

/* Polls GET url until it answers 200: 0, or IDF_ETIMEOUT after timeout_ms. */
int tu_wait_http_ok(const char *url, int timeout_ms);

/* ---------------------------------------------------------------- polling */

/* Milliseconds on the monotonic clock. */
int64_t tu_now_ms(void);

/* Calls pred(ud) every few milliseconds until it returns true (-> true) or
 * timeout_ms passes (-> false). */
bool tu_wait_until(bool (*pred)(void *ud), void *ud, int timeout_ms);

/* Waits until the store at db_url ("sqlite:PATH") holds no event waiting to
 * be matched or expanded (every acknowledged event has had its runs
 * created): true, or false after timeout_ms. */
bool tu_wait_events_settled(const char *db_url, int timeout_ms);

#endif

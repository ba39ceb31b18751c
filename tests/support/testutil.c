/* testutil.c — helpers shared by the test programs (see testutil.h).
 *
 * Stateless apart from the files and processes it creates for its caller;
 * any thread. `environ` is only read (tests do not change their environment
 * while spawning). */
#include "testutil.h"

#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "net/http.h"
#include "store/store.h"

extern char **environ;

#define TU_MAX_ENV 4096         /* entries in a child's environment */
#define TU_MAX_FILE (64u << 20) /* tu_read_file cap */
#define TU_HTTP_TIMEOUT_MS 10000
#define TU_POLL_NS (5 * 1000 * 1000) /* polling period */

int64_t tu_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_poll(void)
{
    struct timespec ts = {0, TU_POLL_NS};

    nanosleep(&ts, NULL);
}

bool tu_wait_until(bool (*pred)(void *ud), void *ud, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;

    for (;;) {
        if (pred(ud))
            return true;
        if (tu_now_ms() >= deadline)
            return false;
        pause_poll();
    }
}

static bool events_settled(void *ud)
{
    static const enum store_event_stage stages[] = {STORE_EVENT_MATCH, STORE_EVENT_EXPAND};
    struct store *s = NULL;
    struct store_event *ev = NULL;
    size_t n = 0;
    bool settled = true;

    if (store_open(ud, &s, NULL))
        return false;
    for (size_t i = 0; settled && i < 2; i++) {
        if (store_events_pending(s, stages[i], INT64_MAX, 1, &ev, &n, NULL) || n) {
            settled = false;
            store_event_free(n ? ev : NULL);
        }
    }
    store_close(s);
    return settled;
}

bool tu_wait_events_settled(const char *db_url, int timeout_ms)
{
    return tu_wait_until(events_settled, (void *)db_url, timeout_ms);
}

/* ---------------------------------------------------------------- files */

int tu_free_port(void)
{
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

char *tu_mktemp_dir(void)
{
    char tmpl[] = "/tmp/idflow-test-XXXXXX";

    if (!mkdtemp(tmpl))
        return NULL;
    return strdup(tmpl);
}

char *tu_path(const char *dir, const char *name)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    return p;
}

int tu_rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        char *child;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        child = tu_path(path, e->d_name);
        if (!child || tu_rm_rf(child) != 0)
            rc = -1;
        free(child);
    }
    closedir(d);
    if (rmdir(path) != 0)
        rc = -1;
    return rc;
}

char *tu_read_file(const char *path, size_t *len_out)
{
    struct buf b;
    char chunk[8192];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *out = NULL;

    if (fd < 0)
        return NULL;
    buf_init(&b, TU_MAX_FILE);
    while ((n = read(fd, chunk, sizeof chunk)) > 0) {
        if (buf_append(&b, chunk, (size_t)n) != 0)
            goto out;
    }
    if (n < 0)
        goto out;
    if (len_out)
        *len_out = b.len;
    out = buf_take(&b);
out:
    buf_free(&b);
    close(fd);
    return out;
}

int tu_write_file(const char *path, const char *text)
{
    size_t n = strlen(text), off = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = 0;

    if (fd < 0)
        return -1;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -1;
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

/* ---------------------------------------------------------------- processes */

/* A copy of environ with `extra` entries added or replacing same-named ones.
 * The array is malloc'd; the strings are borrowed. */
static char **merged_env(const char *const extra[])
{
    size_t n = 0, k = 0, i, j;
    char **out;

    while (environ[n])
        n++;
    for (i = 0; extra[i]; i++)
        k++;
    if (n + k + 1 > TU_MAX_ENV)
        return NULL;
    out = calloc(n + k + 1, sizeof *out);
    if (!out)
        return NULL;
    k = 0;
    for (i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool replaced = false;

        for (j = 0; extra[j]; j++)
            if (strncmp(extra[j], environ[i], nl) == 0 && extra[j][nl] == '=')
                replaced = true;
        if (!replaced)
            out[k++] = environ[i];
    }
    for (j = 0; extra[j]; j++)
        out[k++] = (char *)extra[j];
    out[k] = NULL;
    return out;
}

static int spawn_with(const char *const argv[], const char *const env[], bool exact, struct tu_proc *p)
{
    posix_spawn_file_actions_t fa;
    char **envp = NULL;
    char *dir = NULL;
    int rc = -1, fa_ok = 0;

    memset(p, 0, sizeof *p);
    dir = tu_mktemp_dir();
    if (!dir)
        goto out;
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    snprintf(p->out_path, sizeof p->out_path, "%s/stdout", dir);
    snprintf(p->err_path, sizeof p->err_path, "%s/stderr", dir);
    envp = exact ? (char **)env : env ? merged_env(env) : environ;
    if (!envp)
        goto out;
    if (posix_spawn_file_actions_init(&fa) != 0)
        goto out;
    fa_ok = 1;
    if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
        posix_spawn_file_actions_addopen(&fa, 1, p->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600) != 0 ||
        posix_spawn_file_actions_addopen(&fa, 2, p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600) != 0)
        goto out;
    if (posix_spawnp(&p->pid, argv[0], &fa, NULL, (char *const *)argv, envp) != 0) {
        p->pid = 0;
        goto out;
    }
    rc = 0;
out:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (!exact && envp && envp != environ)
        free(envp);
    if (rc != 0 && dir)
        tu_rm_rf(dir);
    free(dir);
    return rc;
}

int tu_spawn(const char *const argv[], const char *const env[], struct tu_proc *p)
{
    return spawn_with(argv, env, false, p);
}

int tu_spawn_envp(const char *const argv[], const char *const envp[], struct tu_proc *p)
{
    return spawn_with(argv, envp, true, p);
}

int tu_kill(struct tu_proc *p, int sig)
{
    if (p->pid <= 0)
        return -1;
    return kill(p->pid, sig);
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

int tu_wait(struct tu_proc *p, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    int st;

    if (p->pid <= 0)
        return p->status;
    for (;;) {
        pid_t r = waitpid(p->pid, &st, timeout_ms < 0 ? 0 : WNOHANG);

        if (r == p->pid) {
            p->pid = 0;
            p->status = decode_status(st);
            return p->status;
        }
        if (r < 0 && errno != EINTR)
            return -1;
        if (timeout_ms >= 0 && tu_now_ms() >= deadline)
            return -1;
        if (r == 0)
            pause_poll();
    }
}

static char *read_or_empty(const char *path)
{
    char *s = path[0] ? tu_read_file(path, NULL) : NULL;

    return s ? s : strdup("");
}

char *tu_proc_stdout(const struct tu_proc *p)
{
    return read_or_empty(p->out_path);
}

char *tu_proc_stderr(const struct tu_proc *p)
{
    return read_or_empty(p->err_path);
}

void tu_proc_cleanup(struct tu_proc *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        (void)tu_wait(p, -1);
    }
    if (p->dir[0])
        tu_rm_rf(p->dir);
    p->dir[0] = p->out_path[0] = p->err_path[0] = '\0';
}

/* ---------------------------------------------------------------- HTTP */

int tu_http(const char *method, const char *url, const char *body, const char *const *headers, long *status,
            char **body_out)
{
    return tu_http_within(method, url, body, headers, TU_HTTP_TIMEOUT_MS, status, body_out);
}

int tu_http_within(const char *method, const char *url, const char *body, const char *const *headers,
                   int timeout_ms, long *status, char **body_out)
{
    struct http_client *c = NULL;
    struct http_request rq = {0};
    struct http_response rs = {0};
    struct idf_err err = {0};
    const char *hdrs[TU_HTTP_MAX_HEADERS + 2];
    int rc;

    if (body_out)
        *body_out = NULL;
    rc = http_client_new(&c);
    if (rc)
        goto out;
    rq.method = method;
    rq.url = url;
    rq.headers = headers;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        /* as every API client does: idflow refuses a write that is not JSON */
        size_t n = 0;
        bool has_ct = false;
        for (; headers && headers[n]; n++)
            has_ct = has_ct || strncasecmp(headers[n], "Content-Type:", 13) == 0;
        if (!has_ct && n < TU_HTTP_MAX_HEADERS) {
            for (size_t i = 0; i < n; i++)
                hdrs[i] = headers[i];
            hdrs[n] = "Content-Type: application/json";
            hdrs[n + 1] = NULL;
            rq.headers = hdrs;
        }
    }
    rq.body = body;
    rq.body_len = body ? strlen(body) : 0;
    rq.timeout_ms = timeout_ms;
    rc = http_client_do(c, &rq, &rs, &err);
    if (rc)
        goto out;
    if (status)
        *status = rs.status;
    if (body_out) {
        *body_out = buf_take(&rs.body);
        if (!*body_out)
            rc = IDF_ENOMEM;
    }
out:
    http_response_free(&rs);
    http_client_free(c);
    return rc;
}

int tu_wait_http_ok(const char *url, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    struct http_client *c = NULL;
    int rc = IDF_ETIMEOUT;

    if (http_client_new(&c) != 0)
        return IDF_ENOMEM;
    for (;;) {
        struct http_request rq = {0};
        struct http_response rs = {0};
        int64_t left = deadline - tu_now_ms();
        bool ok;

        rq.method = "GET";
        rq.url = url;
        rq.timeout_ms = left > 1000 ? 1000 : (left > 0 ? left : 1);
        ok = http_client_do(c, &rq, &rs, NULL) == 0 && rs.status == 200;
        http_response_free(&rs);
        if (ok) {
            rc = 0;
            break;
        }
        if (tu_now_ms() >= deadline)
            break;
        pause_poll();
    }
    http_client_free(c);
    return rc;
}

bool tu_sandbox_url(const struct tu_proc *p, char *out, size_t n)
{
    char *err = tu_proc_stderr(p);
    char *line = strstr(err, "sandbox listening");
    bool ok = false;

    if (line) {
        char *start = line, *end = strchr(line, '\n');
        while (start > err && start[-1] != '\n')
            start--;
        if (end) {
            json_t *j = json_loadb(start, (size_t)(end - start), 0, NULL);
            const char *url = json_string_value(json_object_get(j, "url"));
            if (url && strlen(url) < n) {
                snprintf(out, n, "%s", url);
                ok = true;
            }
            json_decref(j);
        }
    }
    free(err);
    return ok;
}

int tu_fork_stderr(void (*fn)(void *arg), void *arg, char *msg, size_t cap)
{
    int fds[2], status = 0;
    size_t n = 0;
    ssize_t r;
    pid_t pid;

    if (cap == 0 || pipe(fds) != 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    while (n + 1 < cap && (r = read(fds[0], msg + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    msg[n] = '\0';
    close(fds[0]);
    return waitpid(pid, &status, 0) == pid ? status : -1;
}

int tu_run(const char *const argv[], const char *const env[], int timeout_ms, char **out, char **err)
{
    struct tu_proc p;
    int rc;

    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    if (tu_spawn(argv, env, &p))
        return -1;
    rc = tu_wait(&p, timeout_ms);
    if (out)
        *out = tu_proc_stdout(&p);
    if (err)
        *err = tu_proc_stderr(&p);
    tu_proc_cleanup(&p);
    return rc;
}

int tu_idflow_db(const char *bin, const char *db, char **out, char **err, ...)
{
    const char *argv[20];
    va_list ap;
    int n = 0;
    const char *a;

    argv[n++] = bin;
    va_start(ap, err);
    while ((a = va_arg(ap, const char *)) != NULL && n < 16)
        argv[n++] = a;
    va_end(ap);
    argv[n++] = "--db";
    argv[n++] = db;
    argv[n] = NULL;
    return tu_run(argv, NULL, 15000, out, err);
}

int tu_idflow_token(const char *bin, const char *db, const char *name, const char *role, char *tok, size_t n)
{
    char *out = NULL;
    size_t len;
    int rc = tu_idflow_db(bin, db, &out, NULL, "token", "create", name, "--role", role, NULL);

    len = out ? strcspn(out, "\n") : 0;
    if (rc != 0 || len != 47 || len >= n || strncmp(out, "idf_", 4) != 0) { /* "idf_" + 43 */
        free(out);
        return -1;
    }
    memcpy(tok, out, len);
    tok[len] = '\0';
    free(out);
    return 0;
}

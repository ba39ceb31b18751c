/* isolate.c — the parent side of an isolated expression context: one
 * evaluator child process per context, one request/answer round trip per
 * call, a deadline on each, and the child replaced after it dies.
 *
 * Leaves to others: the child's limits and its serving loop (worker.c), the
 * evaluation itself (expr.c and template.c, run inside the child).
 *
 * The child is started with posix_spawn of /proc/self/exe EXPR__WORKER_ARG:
 * an exec, so it holds none of the parent's memory (master key, tokens,
 * connection secrets), with only fd 0-2 and the socket (EXPR__FD), a default
 * signal mask and handlers, its own process group (a terminal's ^C reaches
 * the daemon, not its evaluators), and an environment of HOME, TZ (jq's
 * localtime and mktime read it) and the sanitizers' *_OPTIONS, nothing else.
 * That environment is read once, when the first isolated context is made
 * (in `idflow serve`, in engine_new, before any other thread runs).
 *
 * A call: the request frame is built in `req` (capacity kept between calls),
 * written and the answer read with poll() against one deadline of
 * timeout_ms (after looking for it for up to ISO_SPIN_NS first: sleeping
 * and being woken cost as much as a short evaluation). Overrun: SIGKILL, reap, IDF_ETIMEOUT. End of file: reap and
 * report how the child ended (a signal is IDF_ECRASH; EXPR__EXIT_OOM, or an
 * out-of-memory answer, IDF_ETOOBIG). Either way the next call starts a new
 * child. Answers are not trusted: a frame longer than EXPR__MAX_FRAME, an
 * unknown status or code, or a result that is not JSON kills the child.
 *
 * Threads: a context belongs to one thread. The child has PR_SET_PDEATHSIG
 * set against the thread that started it (worker.c), so it dies with it.
 *
 * Invariants of struct expr__iso: pid > 0 exactly when fd >= 0; a child
 * that is running is idle (no request in flight) between calls. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expr/expr_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#define ENV_MAX 8          /* variables passed to the child, NULL included */
#define ISO_SPIN_NS 100000 /* how long a caller looks for an answer before it sleeps in poll() */

struct expr__iso {
    pid_t pid;            /* the child, 0 when none runs */
    int fd;               /* our end of the socketpair, -1 when none */
    int timeout_ms;       /* budget of one call */
    int memory_mb;        /* budget of the child */
    unsigned long spawns; /* children started so far */
    int note_fd;          /* the note page's memfd (EXPR__NOTE_FD in the child), -1 before the first spawn */
    char *note;           /* the note page, mapped; NULL before the first spawn */
    bool lost;            /* the child was stopped during the current call */
    char *req;            /* the request frame being built */
    size_t req_len, req_cap;
    char *ans; /* the last answer's body */
    size_t ans_len, ans_cap;
};

/* ---------------------------------------------------------- environment */

/* "NAME=value" strings copied from the environment once (see above); never
 * freed. Guarded by env_once. */
static char *env_saved[ENV_MAX];
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static void env_save(void)
{
    static const char *const names[] = {"HOME", "TZ", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"};
    size_t n = 0;

    for (size_t i = 0; i < sizeof names / sizeof names[0] && n < ENV_MAX - 1; i++) {
        const char *v = getenv(names[i]);
        if (v && asprintf(&env_saved[n], "%s=%s", names[i], v) >= 0)
            n++;
    }
}

/* ---------------------------------------------------------------- life */

int expr__iso_new(const struct expr_limits *lim, struct expr__iso **out)
{
    struct expr__iso *iso = calloc(1, sizeof *iso);

    *out = NULL;
    if (!iso)
        return IDF_ENOMEM;
    pthread_once(&env_once, env_save);
    iso->fd = -1;
    iso->note_fd = -1;
    iso->timeout_ms = lim && lim->timeout_ms > 0 ? lim->timeout_ms : EXPR_DEFAULT_TIMEOUT_MS;
    iso->memory_mb = lim && lim->memory_mb > 0 ? lim->memory_mb : EXPR_DEFAULT_MEMORY_MB;
    *out = iso;
    return 0;
}

/* Kills and reaps the child (if any); *status_out gets its wait status. */
static void child_end(struct expr__iso *iso, bool kill_it, int *status_out)
{
    int st = 0;

    if (iso->pid > 0) {
        if (kill_it)
            kill(iso->pid, SIGKILL);
        while (waitpid(iso->pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    if (iso->fd >= 0)
        close(iso->fd);
    iso->pid = 0;
    iso->fd = -1;
    iso->lost = true;
    if (status_out)
        *status_out = st;
}

void expr__iso_free(struct expr__iso *iso)
{
    if (!iso)
        return;
    child_end(iso, true, NULL);
    if (iso->note)
        munmap(iso->note, EXPR__NOTE_MAX);
    if (iso->note_fd >= 0)
        close(iso->note_fd);
    free(iso->req);
    free(iso->ans);
    free(iso);
}

int expr__iso_pid(const struct expr_ctx *ctx)
{
    const struct expr__iso *iso = expr__iso_of(ctx);
    return iso ? (int)iso->pid : 0;
}

unsigned long expr__iso_spawns(const struct expr_ctx *ctx)
{
    const struct expr__iso *iso = expr__iso_of(ctx);
    return iso ? iso->spawns : 0;
}

/* ------------------------------------------------------------------ I/O */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline passes: 0 ready,
 * IDF_ETIMEOUT, IDF_EIO. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int64_t left = deadline - now_ms();
        int n;
        if (left <= 0)
            return IDF_ETIMEOUT;
        n = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (n > 0)
            return 0; /* readable, writable, hung up or in error: the next call says which */
        if (n < 0 && errno != EINTR)
            return IDF_EIO;
    }
}

/* Writes n bytes before the deadline: 0, IDF_ETIMEOUT, or IDF_EIO when the
 * child is gone. */
static int write_all(int fd, const char *p, size_t n, int64_t deadline)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(fd, POLLOUT, deadline);
            if (rc)
                return rc;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            return IDF_EIO;
        }
    }
    return 0;
}

/* Looks for up to ISO_SPIN_NS for something to read on fd, yielding the
 * CPU between looks: an answer usually comes within tens of microseconds,
 * and going to sleep in poll() adds a wake-up of this thread to every round
 * trip (on a VM, a wake-up of an idle virtual CPU costs about as much as
 * the evaluation). True when fd became readable (or hung up). */
static bool spin_readable(int fd)
{
    struct timespec t0, t;
    char c;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return true;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > ISO_SPIN_NS)
            return false;
        sched_yield();
    }
}

/* Reads exactly n bytes before the deadline: 0, IDF_ETIMEOUT, or IDF_EIO at
 * end of file or on an error. */
static int read_all(int fd, char *p, size_t n, int64_t deadline)
{
    bool spun = false;

    while (n) {
        ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
        } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc;
            if (!spun) { /* once per read: look before sleeping */
                spun = true;
                if (spin_readable(fd))
                    continue;
            }
            rc = wait_fd(fd, POLLIN, deadline);
            if (rc)
                return rc;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else {
            return IDF_EIO;
        }
    }
    return 0;
}

/* Reads one answer frame into iso->ans. IDF_ETOOBIG for a frame past the cap. */
static int read_answer(struct expr__iso *iso, int64_t deadline)
{
    uint32_t len;
    int rc = read_all(iso->fd, (char *)&len, sizeof len, deadline);

    if (rc)
        return rc;
    if (len == 0 || len > EXPR__MAX_FRAME)
        return IDF_ETOOBIG;
    if (len > iso->ans_cap) {
        char *p = realloc(iso->ans, len);
        if (!p)
            return IDF_ENOMEM;
        iso->ans = p;
        iso->ans_cap = len;
    }
    iso->ans_len = len;
    return read_all(iso->fd, iso->ans, len, deadline);
}

/* --------------------------------------------------------------- spawning */

/* fd moved to a number above the child's fixed ones (so that the dup2 onto
 * EXPR__FD cannot overwrite the source of the dup2 onto EXPR__NOTE_FD);
 * closes fd. -1 on failure. */
static int high_fd(int fd)
{
    int h;
    if (fd < 0 || fd > EXPR__NOTE_FD)
        return fd;
    h = fcntl(fd, F_DUPFD_CLOEXEC, EXPR__NOTE_FD + 1);
    close(fd);
    return h;
}

static int spawn(struct expr__iso *iso, struct idf_err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    char *envp[ENV_MAX + 1];
    char mem[24], ppid[24], *asan = NULL;
    char *argv[] = {"idflow", EXPR__WORKER_ARG, mem, ppid, NULL};
    int sv[2] = {-1, -1}, rc = 0, n = 0, e;
    pid_t pid = 0;

    snprintf(mem, sizeof mem, "%d", iso->memory_mb);
    snprintf(ppid, sizeof ppid, "%ld", (long)getpid());
    for (int i = 0; env_saved[i]; i++) {
#ifdef UNDER_ASAN
        /* RLIMIT_AS cannot hold ASan's shadow memory: under ASan the memory
         * budget is ASan's hard RSS limit, and ASan's exit is EXPR__EXIT_OOM */
        if (!strncmp(env_saved[i], "ASAN_OPTIONS=", 13)) {
            if (asprintf(&asan, "%s:hard_rss_limit_mb=%d:exitcode=%d", env_saved[i], iso->memory_mb, EXPR__EXIT_OOM) <
                0)
                asan = NULL;
            envp[n++] = asan ? asan : env_saved[i];
            continue;
        }
#endif
        envp[n++] = env_saved[i];
    }
#ifdef UNDER_ASAN
    if (!asan && asprintf(&asan, "ASAN_OPTIONS=hard_rss_limit_mb=%d:exitcode=%d", iso->memory_mb, EXPR__EXIT_OOM) >= 0)
        envp[n++] = asan;
#endif
    envp[n] = NULL;

    if (iso->note_fd < 0) {
        int nfd = high_fd(memfd_create("idflow-expr-note", MFD_CLOEXEC));
        void *m = MAP_FAILED;
        if (nfd >= 0 && ftruncate(nfd, EXPR__NOTE_MAX) == 0)
            m = mmap(NULL, EXPR__NOTE_MAX, PROT_READ | PROT_WRITE, MAP_SHARED, nfd, 0);
        if (m == MAP_FAILED) {
            rc = idf_err_set(err, IDF_EIO, "cannot start the expression evaluator: memfd: %s", strerror(errno));
            if (nfd >= 0)
                close(nfd);
            goto out;
        }
        iso->note_fd = nfd;
        iso->note = m;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || (sv[1] = high_fd(sv[1])) < 0) {
        rc = idf_err_set(err, IDF_EIO, "cannot start the expression evaluator: socketpair: %s", strerror(errno));
        goto out;
    }
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* dup2 onto EXPR__FD clears close-on-exec there (also when sv[1] is EXPR__FD) */
    posix_spawn_file_actions_adddup2(&fa, sv[1], EXPR__FD);
    posix_spawn_file_actions_adddup2(&fa, iso->note_fd, EXPR__NOTE_FD);
    posix_spawn_file_actions_addclosefrom_np(&fa, EXPR__NOTE_FD + 1);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    e = posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (e != 0) {
        rc = idf_err_set(err, IDF_EIO, "cannot start the expression evaluator: %s", strerror(e));
        goto out;
    }
    close(sv[1]);
    sv[1] = -1;
    iso->pid = pid;
    iso->fd = sv[0];
    sv[0] = -1;
    iso->spawns++;
    /* the child says it is ready (its limits are set) with an empty answer */
    rc = read_answer(iso, now_ms() + EXPR__SPAWN_TIMEOUT_MS);
    if (rc || iso->ans_len != 1 || iso->ans[0] != EXPR__ANS_OK) {
        int st;
        child_end(iso, true, &st);
        rc = idf_err_set(err, IDF_EIO,
                         "the expression evaluator did not start (%s; exit status %d, signal %d); see the log",
                         rc == IDF_ETIMEOUT ? "no answer" : "it ended", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                         WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
out:
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    free(asan);
    return rc;
}

/* ------------------------------------------------------------ round trip */

static int oom_error(struct expr__iso *iso, struct idf_err *err)
{
    return idf_err_set(err, IDF_ETOOBIG, "the expression ran out of its memory budget (%d MiB, expr_memory_mb)",
                       iso->memory_mb);
}

/* How the child ended, as the caller's error; the child is reaped. */
static int died(struct expr__iso *iso, struct idf_err *err)
{
    int st;

    child_end(iso, true, &st);
    if (WIFEXITED(st) && WEXITSTATUS(st) == EXPR__EXIT_OOM)
        return oom_error(iso, err);
    if (WIFSIGNALED(st)) /* SIGABRT: one of jq's assertions; SIGSEGV: often a stack overflow */
        return idf_err_set(err, IDF_ECRASH, "the expression's evaluation crashed inside jq (signal %d, SIG%s)",
                           WTERMSIG(st), sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
    return idf_err_set(err, IDF_ECRASH, "the expression evaluator ended without answering (exit status %d)",
                       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* An answer that breaks the protocol: the child is not trusted any more. */
static int bad_answer(struct expr__iso *iso, const char *what, struct idf_err *err)
{
    child_end(iso, true, NULL);
    return idf_err_set(err, IDF_ECRASH, "the expression evaluator answered %s; it was stopped", what);
}

/* Starts a request frame for op with jq (NULL: none) and no JSON yet. */
static int req_begin(struct expr__iso *iso, char op, const char *jq)
{
    size_t jl = jq ? strlen(jq) : 0;
    size_t need = 4 + 1 + 4 + jl + 1 + 256;
    uint32_t jl32 = (uint32_t)jl;

    if (jl > EXPR__MAX_FRAME / 2)
        return IDF_ETOOBIG;
    if (need > iso->req_cap) {
        char *p = realloc(iso->req, need);
        if (!p)
            return IDF_ENOMEM;
        iso->req = p;
        iso->req_cap = need;
    }
    iso->req[4] = op;
    memcpy(iso->req + 5, &jl32, 4);
    if (jl)
        memcpy(iso->req + 9, jq, jl);
    iso->req[9 + jl] = '\0';
    iso->req_len = 9 + jl + 1;
    return 0;
}

static int req_append(struct expr__iso *iso, const char *p, size_t n)
{
    if (n > EXPR__MAX_FRAME - iso->req_len)
        return IDF_ETOOBIG;
    if (iso->req_len + n > iso->req_cap) {
        size_t cap = iso->req_cap * 2;
        char *q;
        if (cap < iso->req_len + n)
            cap = iso->req_len + n;
        if (cap > EXPR__MAX_FRAME + 4)
            cap = EXPR__MAX_FRAME + 4;
        if (!(q = realloc(iso->req, cap)))
            return IDF_ENOMEM;
        iso->req = q;
        iso->req_cap = cap;
    }
    memcpy(iso->req + iso->req_len, p, n);
    iso->req_len += n;
    return 0;
}

static int dump_cb(const char *buf, size_t size, void *ud)
{
    return req_append(ud, buf, size) ? -1 : 0;
}

/* Appends v (NULL: null) as compact JSON. */
static int req_json(struct expr__iso *iso, const json_t *v, struct idf_err *err)
{
    if (!v)
        return req_append(iso, "null", 4) ? idf_err_set(err, IDF_ENOMEM, "out of memory") : 0;
    if (json_dump_callback(v, dump_cb, iso, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        return idf_err_set(err, IDF_ETOOBIG, "the expression's input is larger than %u bytes, or memory ran out",
                           EXPR__MAX_FRAME);
    return 0;
}

/* Sends the request in iso->req and reads the answer; on 0, iso->ans holds
 * an EXPR__ANS_OK answer (its body after the status byte is the result). */
static int round_trip(struct expr__iso *iso, struct idf_err *err)
{
    uint32_t len = (uint32_t)(iso->req_len - 4);
    int64_t deadline;
    int rc;

    if (iso->pid == 0) {
        rc = spawn(iso, err);
        if (rc)
            return rc;
    }
    iso->lost = false;
    iso->note[0] = '\0';
    memcpy(iso->req, &len, 4);
    deadline = now_ms() + iso->timeout_ms;
    rc = write_all(iso->fd, iso->req, iso->req_len, deadline);
    if (!rc)
        rc = read_answer(iso, deadline);
    if (rc == IDF_ETIMEOUT) {
        child_end(iso, true, NULL);
        return idf_err_set(err, IDF_ETIMEOUT, "the expression ran longer than its time budget (%d ms, expr_timeout_ms)",
                           iso->timeout_ms);
    }
    if (rc == IDF_ETOOBIG)
        return bad_answer(iso, "a frame larger than the limit", err);
    if (rc == IDF_ENOMEM) {
        child_end(iso, true, NULL);
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    }
    if (rc)
        return died(iso, err);
    if (iso->ans[0] == EXPR__ANS_OK)
        return 0;
    if (iso->ans[0] == EXPR__ANS_ERR && iso->ans_len >= 5) {
        int32_t code;
        size_t mlen = iso->ans_len - 5;
        memcpy(&code, iso->ans + 1, 4);
        if (code >= 0 || code < IDF_ECRASH || mlen >= IDF_ERR_MSG_MAX)
            return bad_answer(iso, "an unknown error", err);
        if (code == IDF_ENOMEM) { /* its heap is spent: a new child for the next call */
            child_end(iso, true, NULL);
            return oom_error(iso, err);
        }
        return idf_err_set(err, code, "%.*s", (int)mlen, iso->ans + 5);
    }
    return bad_answer(iso, "an unknown status", err);
}

/* The result of an EVAL or RENDER answer as a new value. */
static int answer_json(struct expr__iso *iso, json_t **out, struct idf_err *err)
{
    *out = json_loadb(iso->ans + 1, iso->ans_len - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    return *out ? 0 : bad_answer(iso, "a result that is not JSON", err);
}

int expr__iso_check(struct expr__iso *iso, const char *jq, struct idf_err *err)
{
    int rc = req_begin(iso, EXPR__OP_CHECK, jq);

    if (rc)
        return idf_err_set(err, rc, rc == IDF_ETOOBIG ? "expression too long" : "out of memory");
    return round_trip(iso, err);
}

int expr__iso_eval(struct expr__iso *iso, const char *jq, const json_t *input, json_t **out, struct idf_err *err)
{
    int rc = req_begin(iso, EXPR__OP_EVAL, jq);

    *out = NULL;
    if (rc)
        return idf_err_set(err, rc, rc == IDF_ETOOBIG ? "expression too long" : "out of memory");
    if ((rc = req_json(iso, input, err)))
        return rc;
    if ((rc = round_trip(iso, err)))
        return rc;
    return answer_json(iso, out, err);
}

int expr__iso_truthy(struct expr__iso *iso, const char *jq, const json_t *input, bool *out, struct idf_err *err)
{
    int rc = req_begin(iso, EXPR__OP_TRUTHY, jq);

    *out = false;
    if (rc)
        return idf_err_set(err, rc, rc == IDF_ETOOBIG ? "expression too long" : "out of memory");
    if ((rc = req_json(iso, input, err)) || (rc = round_trip(iso, err)))
        return rc;
    if (iso->ans_len != 2 || (iso->ans[1] != 0 && iso->ans[1] != 1))
        return bad_answer(iso, "a condition that is neither true nor false", err);
    *out = iso->ans[1] == 1;
    return 0;
}

int expr__iso_render(struct expr__iso *iso, const json_t *tmpl, const json_t *input, json_t **out, struct idf_err *err)
{
    int rc = req_begin(iso, EXPR__OP_RENDER, NULL);

    *out = NULL;
    if (rc)
        return idf_err_set(err, rc, "out of memory");
    if ((rc = req_json(iso, tmpl, err)))
        return rc;
    if (req_append(iso, "", 1))
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    if ((rc = req_json(iso, input, err)))
        return rc;
    rc = round_trip(iso, err);
    if (rc && iso->lost && iso->note && iso->note[0]) {
        /* name the expression the child was on; it wrote the note, so it is
         * not trusted: bounded, and only printable ASCII kept */
        char note[EXPR__NOTE_MAX];
        size_t i;
        for (i = 0; i < sizeof note - 1 && iso->note[i]; i++)
            note[i] = iso->note[i] >= 0x20 && iso->note[i] < 0x7f ? iso->note[i] : '?';
        note[i] = '\0';
        idf_err_prefix(err, "%s: ", note);
    }
    if (rc)
        return rc;
    return answer_json(iso, out, err);
}

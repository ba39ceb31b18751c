/* worker.c — the expression evaluator child (`idflow __expr-worker`): sets
 * its own limits, then answers requests from its parent on EXPR__FD with an
 * in-process expr_ctx (so it keeps its own compiled-program cache), one
 * answer per request, until the parent closes the socket.
 *
 * Leaves to others: starting it, deadlines, and reading its death
 * (isolate.c); the evaluation itself (expr.c, template.c, conv.c).
 *
 * Limits, set before it says it is ready: PR_SET_PDEATHSIG(SIGKILL) (it dies
 * with the thread that started it; it exits at once if its parent is already
 * gone), PR_SET_NO_NEW_PRIVS, RLIMIT_CORE 0 (no core file with an event's
 * data in it), RLIMIT_FSIZE 0, RLIMIT_NOFILE WORKER_NOFILE, and RLIMIT_AS of
 * the memory budget. Under AddressSanitizer RLIMIT_AS would break the shadow
 * memory, so the parent puts hard_rss_limit_mb in ASAN_OPTIONS instead and
 * no RLIMIT_AS is set here. jq's out-of-memory handler answers "out of
 * memory" and exits with EXPR__EXIT_OOM (jq would abort otherwise).
 *
 * Before each template expression of a RENDER, the renderer writes which
 * one it is to the note page shared with the parent (expr__note), so the
 * parent can name it if this process dies or overruns.
 *
 * JSON crosses as text: inputs are parsed with jansson and converted by
 * conv.c exactly as in the parent before, so integers beyond 2^53 still
 * reach jq as strings.
 *
 * Single-threaded; its own process. */
#include <errno.h>
#include <fcntl.h>
#include <jv.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "expr/expr_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#define WORKER_NOFILE 16 /* fds the child may hold (0-2, the socket, a few for libc) */

/* The note page (expr_internal.h), mapped by expr_worker_main: a singleton
 * of this single-threaded child process. */
char *expr__note = NULL;
void (*expr__nomem)(void *) = NULL;

void expr__note_set(const char *path, const char *text)
{
    if (expr__note)
        snprintf(expr__note, EXPR__NOTE_MAX, "%s%s${{ %.60s%s }}", path, *path ? ": " : "", text,
                 strlen(text) > 60 ? "..." : "");
}

/* The answer sent from jq's out-of-memory handler, built before any
 * request so that sending it allocates nothing. */
static char oom_frame[4 + 1 + 4 + 13];

static void send_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(EXPR__FD, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(0); /* the parent is gone */
        p += w;
        n -= (size_t)w;
    }
}

static void on_nomem(void *ud)
{
    (void)ud;
    send_all(oom_frame, sizeof oom_frame);
    _exit(EXPR__EXIT_OOM);
}

static void build_oom_frame(void)
{
    uint32_t len = sizeof oom_frame - 4;
    int32_t code = IDF_ENOMEM;
    memcpy(oom_frame, &len, 4);
    oom_frame[4] = EXPR__ANS_ERR;
    memcpy(oom_frame + 5, &code, 4);
    memcpy(oom_frame + 9, "out of memory", 13);
}

/* Reads exactly n bytes; false at end of file or on an error. */
static bool read_all(char *p, size_t n)
{
    while (n) {
        ssize_t r = read(EXPR__FD, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

/* ------------------------------------------------------------- answers */

struct ans {
    char *p;    /* frame: length, then the body */
    size_t len; /* bytes used, the length included */
    size_t cap;
};

static int ans_add(struct ans *a, const char *p, size_t n)
{
    if (n > EXPR__MAX_FRAME + 4 - a->len)
        return IDF_ETOOBIG;
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4096;
        char *q;
        while (cap < a->len + n)
            cap *= 2;
        if (cap > EXPR__MAX_FRAME + 4)
            cap = EXPR__MAX_FRAME + 4;
        if (!(q = realloc(a->p, cap)))
            return IDF_ENOMEM;
        a->p = q;
        a->cap = cap;
    }
    memcpy(a->p + a->len, p, n);
    a->len += n;
    return 0;
}

static void ans_begin(struct ans *a, char status)
{
    a->len = 4;
    if (ans_add(a, &status, 1))
        on_nomem(NULL);
}

static void ans_send(struct ans *a)
{
    uint32_t len = (uint32_t)(a->len - 4);
    memcpy(a->p, &len, 4);
    send_all(a->p, a->len);
}

static void send_error(struct ans *a, int code, const char *msg)
{
    int32_t c = code;
    size_t n = strnlen(msg, IDF_ERR_MSG_MAX - 1);
    ans_begin(a, EXPR__ANS_ERR);
    if (ans_add(a, (const char *)&c, 4) || ans_add(a, msg, n))
        on_nomem(NULL);
    ans_send(a);
}

static int dump_cb(const char *buf, size_t size, void *ud)
{
    return ans_add(ud, buf, size) ? -1 : 0;
}

/* Sends v (consumed) as the OK answer. */
static void send_json(struct ans *a, json_t *v)
{
    ans_begin(a, EXPR__ANS_OK);
    if (json_dump_callback(v, dump_cb, a, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
        json_decref(v);
        send_error(a, IDF_ETOOBIG, "the expression's result is larger than the evaluator may answer (64 MiB)");
        return;
    }
    json_decref(v);
    ans_send(a);
}

/* Parses n bytes of JSON text; NULL with err set. */
static json_t *parse(const char *p, size_t n, struct idf_err *err)
{
    json_error_t je;
    json_t *v = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
        idf_err_set(err, json_error_code(&je) == json_error_out_of_memory ? IDF_ENOMEM : IDF_EINVAL,
                    "the evaluator could not read its input: %s", je.text);
    return v;
}

/* ------------------------------------------------------------- requests */

static void serve_one(struct expr_ctx *ctx, struct ans *a, char *b, size_t len)
{
    struct idf_err err;
    uint32_t jl;
    const char *jq, *json;
    size_t json_len;
    json_t *in = NULL, *tmpl = NULL, *out = NULL;
    bool yes = false;
    int rc = 0;

    idf_err_clear(&err);
    if (len < 6) { /* op, jq length, NUL */
        send_error(a, IDF_EINVAL, "malformed request");
        return;
    }
    memcpy(&jl, b + 1, 4);
    if (jl > len - 6 || b[5 + jl] != '\0') {
        send_error(a, IDF_EINVAL, "malformed request");
        return;
    }
    jq = b + 5;
    json = b + 5 + jl + 1;
    json_len = len - (6 + jl);
    switch (b[0]) {
    case EXPR__OP_CHECK: rc = expr_check(ctx, jq, &err); break;
    case EXPR__OP_EVAL:
    case EXPR__OP_TRUTHY:
        if (!(in = parse(json, json_len, &err)))
            rc = err.code;
        else if (b[0] == EXPR__OP_EVAL)
            rc = expr_eval(ctx, jq, in, &out, &err);
        else
            rc = expr_truthy(ctx, jq, in, &yes, &err);
        break;
    case EXPR__OP_RENDER: {
        const char *nul = memchr(json, '\0', json_len);
        if (!nul) {
            rc = idf_err_set(&err, IDF_EINVAL, "malformed request");
            break;
        }
        if (!(tmpl = parse(json, (size_t)(nul - json), &err)) ||
            !(in = parse(nul + 1, json_len - (size_t)(nul + 1 - json), &err)))
            rc = err.code;
        else
            rc = expr_render(ctx, tmpl, in, &out, &err);
        break;
    }
    default: rc = idf_err_set(&err, IDF_EINVAL, "unknown request"); break;
    }
    json_decref(in);
    json_decref(tmpl);
    if (rc) {
        json_decref(out);
        send_error(a, rc, err.msg);
        if (rc == IDF_ENOMEM)
            _exit(EXPR__EXIT_OOM); /* the parent starts a new one */
        return;
    }
    if (b[0] == EXPR__OP_CHECK) {
        ans_begin(a, EXPR__ANS_OK);
        ans_send(a);
    } else if (b[0] == EXPR__OP_TRUTHY) {
        char c = yes ? 1 : 0;
        ans_begin(a, EXPR__ANS_OK);
        if (ans_add(a, &c, 1))
            on_nomem(NULL);
        ans_send(a);
    } else {
        send_json(a, out);
    }
}

/* ---------------------------------------------------------------- main */

static int set_limit(int res, rlim_t v)
{
    struct rlimit rl = {v, v};
    return setrlimit(res, &rl);
}

int expr_worker_main(int argc, char **argv)
{
    struct expr_ctx *ctx = NULL;
    struct ans a = {0};
    char *req = NULL, *end;
    size_t req_cap = 0;
    long mem, ppid;
    int fd;

    if (argc != 3 || strcmp(argv[0], EXPR__WORKER_ARG) != 0) {
        fprintf(stderr, "idflow: %s is started by idflow itself, never by hand\n", EXPR__WORKER_ARG);
        return 2;
    }
    mem = strtol(argv[1], &end, 10);
    if (*end || mem < 1 || mem > EXPR_MAX_MEMORY_MB)
        return 2;
    ppid = strtol(argv[2], &end, 10);
    if (*end || ppid < 1)
        return 2;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != (pid_t)ppid)
        return 1; /* the parent died before we could tie our life to it */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return 1;
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
        return 1;
    if (fd > 2)
        close(fd);
    if (fcntl(EXPR__FD, F_GETFD) < 0)
        return 1;
    expr__note = mmap(NULL, EXPR__NOTE_MAX, PROT_READ | PROT_WRITE, MAP_SHARED, EXPR__NOTE_FD, 0);
    if (expr__note == MAP_FAILED)
        return 1;
    close_range(EXPR__FD + 1, ~0U, 0);
    /* with RLIMIT_FSIZE 0, a write to a stderr that is a file (jq's assertion
     * messages) would raise SIGXFSZ: it fails with EFBIG instead */
    signal(SIGXFSZ, SIG_IGN);
    if (set_limit(RLIMIT_CORE, 0) || set_limit(RLIMIT_FSIZE, 0) || set_limit(RLIMIT_NOFILE, WORKER_NOFILE))
        return 1;
#ifndef UNDER_ASAN
    if (set_limit(RLIMIT_AS, (rlim_t)mem << 20))
        return 1;
#endif
    build_oom_frame();
    jv_nomem_handler(on_nomem, NULL);
    expr__nomem = on_nomem;
    if (expr_ctx_new(&ctx))
        on_nomem(NULL);
    ans_begin(&a, EXPR__ANS_OK); /* ready */
    ans_send(&a);
    for (;;) {
        uint32_t len;
        if (!read_all((char *)&len, 4))
            break;
        if (len == 0 || len > EXPR__MAX_FRAME)
            break; /* the parent never sends that: stop */
        if (len > req_cap) {
            char *p = realloc(req, len);
            if (!p)
                on_nomem(NULL);
            req = p;
            req_cap = len;
        }
        if (!read_all(req, len))
            break;
        expr__note[0] = '\0';
        serve_one(ctx, &a, req, len);
    }
    expr_ctx_free(ctx);
    free(req);
    free(a.p);
    return 0;
}

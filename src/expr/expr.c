/* expr.c — the per-thread expression context: a cache of compiled jq
 * programs, compiling through libjq 1.6 behind the fence, evaluating.
 *
 * Leaves to others: the fence's tokenizer (lex.c), JSON conversion
 * (conv.c), templates (template.c).
 *
 * Threads: an expr_ctx belongs to one thread at a time. Several contexts run
 * on several threads at once: libjq 1.6 keeps no shared mutable state
 * between jq_states (its lexer and parser are reentrant, number formatting
 * uses a dtoa context on the stack, the allocator's OOM handler and sort
 * state are thread-local, the string hash seed is set under pthread_once),
 * except Oniguruma's lazy initialization on the first regex, which
 * init_once() does up front. libjq reads the environment (HOME on every
 * compile); nothing may change the environment once threads run.
 *
 * Fence: every program is compiled as PREFIX + the expression, on the same
 * line so jq's line numbers stay right. PREFIX shadows the `env` builtin and
 * binds $ENV (jq 1.6 reads `environ` for an unbound $ENV, even when a named
 * argument ENV is passed) to empty objects. The refused builtins are caught by
 * lex.c before jq sees the text. jq 1.6 also loads $HOME/.jq into every
 * program when it is a file; compile refuses to run with one.
 *
 * No budget here: jq 1.6 has no way to interrupt an evaluation, so in this
 * process an expression that loops (`repeat(1)`) or builds a huge value
 * holds its thread, and jq aborts the process on some inputs and when
 * memory runs out. An isolated context (ctx->iso, isolate.c) forwards every
 * call to a child process that runs this same code under a time and memory
 * budget; the daemon only uses those.
 *
 * Invariants of struct expr_ctx: `count` programs are reachable from
 * `buckets`, count <= EXPR_CACHE_MAX; a program with jq == NULL failed and
 * carries code and msg; every jq_state is idle (restarted on null input) so
 * it holds no reference to an earlier input. */
#include <jq.h>
#include <oniguruma.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "expr/expr_internal.h"

#define PREFIX "def env: {}; {} as $ENV | "
#define NBUCKETS 4096 /* power of two */

struct prog {
    struct prog *next; /* next in its hash chain */
    uint64_t hash;     /* of text */
    jq_state *jq;      /* the compiled program, or NULL when it failed */
    int code;          /* IDF_E* of the failure, 0 when jq is set */
    char *msg;         /* the failure's message, or NULL */
    size_t len;        /* bytes of text */
    char text[];       /* the expression as given, NUL-terminated */
};

struct expr_ctx {
    struct prog **buckets;      /* NBUCKETS hash chains */
    size_t count;               /* programs cached */
    uint64_t compiles;          /* jq_compile calls so far */
    char cmsg[IDF_ERR_MSG_MAX]; /* messages of the compile in progress */
    size_t cmsg_len;            /* bytes used in cmsg */
    struct expr__iso *iso;      /* isolated: every call goes to its child; buckets is then NULL */
};

/* Oniguruma initializes itself on the first regex compiled, without a lock;
 * jq 1.6 compiles regexes while evaluating `test`, `match`, `sub`... So it is
 * initialized once, here, before any context exists. */
static pthread_once_t init_once_ctl = PTHREAD_ONCE_INIT; /* guards Oniguruma's init */

static void init_once(void)
{
    OnigEncoding enc[] = {ONIG_ENCODING_UTF8};
    (void)onig_initialize(enc, 1);
}

int expr_ctx_new(struct expr_ctx **out)
{
    struct expr_ctx *ctx;

    *out = NULL;
    pthread_once(&init_once_ctl, init_once);
    ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return IDF_ENOMEM;
    ctx->buckets = calloc(NBUCKETS, sizeof *ctx->buckets);
    if (!ctx->buckets) {
        free(ctx);
        return IDF_ENOMEM;
    }
    *out = ctx;
    return 0;
}

static void prog_free(struct prog *p)
{
    if (!p)
        return;
    if (p->jq)
        jq_teardown(&p->jq);
    free(p->msg);
    free(p);
}

int expr_ctx_new_isolated(const struct expr_limits *lim, struct expr_ctx **out)
{
    struct expr_ctx *ctx;
    int rc;

    *out = NULL;
    ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return IDF_ENOMEM;
    rc = expr__iso_new(lim, &ctx->iso);
    if (rc) {
        free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

bool expr_ctx_isolated(const struct expr_ctx *ctx)
{
    return ctx && ctx->iso;
}

struct expr__iso *expr__iso_of(const struct expr_ctx *ctx)
{
    return ctx->iso;
}

static void cache_clear(struct expr_ctx *ctx)
{
    if (!ctx->buckets)
        return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct prog *p = ctx->buckets[i];
        while (p) {
            struct prog *next = p->next;
            prog_free(p);
            p = next;
        }
        ctx->buckets[i] = NULL;
    }
    ctx->count = 0;
}

void expr_ctx_free(struct expr_ctx *ctx)
{
    if (!ctx)
        return;
    expr__iso_free(ctx->iso);
    cache_clear(ctx);
    free(ctx->buckets);
    free(ctx);
}

uint64_t expr__compile_count(const struct expr_ctx *ctx)
{
    return ctx->compiles;
}

size_t expr__cache_size(const struct expr_ctx *ctx)
{
    return ctx->count;
}

static uint64_t hash_text(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* --------------------------------------------------------------- compiling */

static void cmsg_add(struct expr_ctx *ctx, const char *s, size_t n)
{
    size_t room = sizeof ctx->cmsg - 1 - ctx->cmsg_len;

    if (ctx->cmsg_len && room > 2) {
        memcpy(ctx->cmsg + ctx->cmsg_len, "; ", 2);
        ctx->cmsg_len += 2;
        room -= 2;
    }
    if (n > room)
        n = room;
    memcpy(ctx->cmsg + ctx->cmsg_len, s, n);
    ctx->cmsg_len += n;
    ctx->cmsg[ctx->cmsg_len] = '\0';
}

/* jq's error callback during a compile. Messages look like
 *   "jq: error: syntax error, unexpected '|' (Unix shell quoting issues?)
 *    at <top-level>, line 1:\n<the source line>"
 * and end with "jq: 1 compile error". Keeps "syntax error, unexpected '|'
 * at line 1": no CLI hint, no echo of the line (it would show PREFIX). */
static void on_jq_error(void *ud, jv msg)
{
    struct expr_ctx *ctx = ud;
    char line[IDF_ERR_MSG_MAX];
    const char *s, *at, *nl;
    size_t n;
    int lineno = 0;

    if (jv_get_kind(msg) != JV_KIND_STRING) {
        jv_free(msg);
        return;
    }
    s = jv_string_value(msg);
    if (strncmp(s, "jq: error: ", 11) == 0)
        s += 11;
    else if (strncmp(s, "jq: ", 4) == 0 && strstr(s, " compile error")) {
        if (ctx->cmsg_len == 0)
            cmsg_add(ctx, "the expression does not compile", 31);
        jv_free(msg);
        return;
    }
    nl = strchr(s, '\n');
    n = nl ? (size_t)(nl - s) : strlen(s);
    at = strstr(s, " at <top-level>, line ");
    if (at && at < s + n && sscanf(at, " at <top-level>, line %d:", &lineno) == 1)
        n = (size_t)(at - s);
    snprintf(line, sizeof line, "%.*s", (int)n, s);
    if ((at = strstr(line, " (Unix shell quoting issues?)")) != NULL)
        memmove((char *)at, at + 29, strlen(at + 29) + 1);
    n = strlen(line);
    if (lineno > 0)
        snprintf(line + n, sizeof line - n, " at line %d", lineno);
    cmsg_add(ctx, line, strlen(line));
    jv_free(msg);
}

/* Refuses to compile when jq 1.6 would load $HOME/.jq into the program: its
 * definitions would be callable from every expression, unfenced. */
static int check_home_jq(struct idf_err *err)
{
    const char *home = getenv("HOME");
    char path[4096];
    struct stat st;

    if (!home || !*home)
        return 0;
    snprintf(path, sizeof path, "%s/.jq", home);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return idf_err_set(err, IDF_EDENIED,
                           "%s exists: jq 1.6 would add its definitions to every expression; remove it, or run "
                           "idflow with another HOME",
                           path);
    return 0;
}

/* Compiles text into a new program (p->jq, or p->code and p->msg). Only
 * IDF_ENOMEM is returned as an error. */
static int compile(struct expr_ctx *ctx, struct prog *p)
{
    struct idf_err e;
    char *full = NULL;
    int rc = 0;

    idf_err_clear(&e);
    p->code = expr__fence_check(p->text, p->len, &e);
    if (!p->code)
        p->code = check_home_jq(&e);
    if (!p->code) {
        full = malloc(sizeof PREFIX + p->len);
        p->jq = jq_init();
        if (!full || !p->jq) {
            rc = IDF_ENOMEM;
            goto out;
        }
        memcpy(full, PREFIX, sizeof PREFIX - 1);
        memcpy(full + sizeof PREFIX - 1, p->text, p->len + 1);
        ctx->cmsg_len = 0;
        ctx->cmsg[0] = '\0';
        jq_set_error_cb(p->jq, on_jq_error, ctx);
        if (expr__nomem)
            jq_set_nomem_handler(p->jq, expr__nomem, NULL);
        ctx->compiles++;
        if (!jq_compile(p->jq, full)) {
            jq_teardown(&p->jq);
            idf_err_set(&e, IDF_EPARSE, "%s", ctx->cmsg_len ? ctx->cmsg : "the expression does not compile");
            p->code = IDF_EPARSE;
        } else {
            jq_start(p->jq, jv_null(), 0); /* idle: see the invariants */
        }
    }
    if (p->code && !(p->msg = strdup(e.msg)))
        rc = IDF_ENOMEM;
out:
    free(full);
    return rc;
}

/* Finds or compiles the program for text; *out is borrowed from the cache. */
static int get_prog(struct expr_ctx *ctx, const char *text, struct prog **out, struct idf_err *err)
{
    size_t len = strlen(text);
    uint64_t h = hash_text(text, len);
    struct prog **slot = &ctx->buckets[h & (NBUCKETS - 1)];
    struct prog *p;
    int rc;

    for (p = *slot; p; p = p->next)
        if (p->hash == h && p->len == len && memcmp(p->text, text, len) == 0)
            goto found;
    if (len > EXPR_MAX_TEXT) /* not worth caching */
        return idf_err_set(err, IDF_ETOOBIG, "expression is %zu bytes long; the limit is %d", len, EXPR_MAX_TEXT);
    p = calloc(1, sizeof *p + len + 1);
    if (!p)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    p->hash = h;
    p->len = len;
    memcpy(p->text, text, len + 1);
    rc = compile(ctx, p);
    if (rc) {
        prog_free(p);
        return idf_err_set(err, rc, "out of memory");
    }
    if (ctx->count >= EXPR_CACHE_MAX) /* evict everything: simple, and rare */
        cache_clear(ctx);
    p->next = *slot;
    *slot = p;
    ctx->count++;
found:
    if (p->code)
        return idf_err_set(err, p->code, "%s", p->msg);
    *out = p;
    return 0;
}

int expr_check(struct expr_ctx *ctx, const char *jq, struct idf_err *err)
{
    struct prog *p;

    if (!jq)
        return idf_err_set(err, IDF_EINVAL, "no expression");
    if (ctx->iso)
        return expr__iso_check(ctx->iso, jq, err);
    return get_prog(ctx, jq, &p, err);
}

/* -------------------------------------------------------------- evaluating */

static int runtime_error(jv msg, struct idf_err *err)
{
    int rc = IDF_EINVAL;

    if (jv_get_kind(msg) == JV_KIND_STRING) {
        idf_err_set(err, rc, "%s", jv_string_value(msg));
        jv_free(msg);
    } else {
        jv s = jv_dump_string(msg, 0);
        idf_err_set(err, rc, "%s (not a string)", jv_string_value(s));
        jv_free(s);
    }
    return rc;
}

int expr__eval_jv(struct expr_ctx *ctx, const char *jq, jv input, jv *out, struct idf_err *err)
{
    struct prog *p = NULL;
    jv r;
    int rc;

    *out = jv_null();
    if (!jq)
        return idf_err_set(err, IDF_EINVAL, "no expression");
    rc = get_prog(ctx, jq, &p, err);
    if (rc)
        return rc;
    jq_start(p->jq, jv_copy(input), 0);
    r = jq_next(p->jq);
    if (jv_is_valid(r)) {
        *out = r;
    } else if (jv_invalid_has_msg(jv_copy(r))) {
        rc = runtime_error(jv_invalid_get_msg(r), err);
    } else {
        jv_free(r); /* no output: null */
    }
    jq_start(p->jq, jv_null(), 0); /* drop the references to input */
    return rc;
}

int expr_eval(struct expr_ctx *ctx, const char *jq, const json_t *input, json_t **out, struct idf_err *err)
{
    jv in, r;
    int rc;

    *out = NULL;
    if (ctx->iso)
        return jq ? expr__iso_eval(ctx->iso, jq, input, out, err) : idf_err_set(err, IDF_EINVAL, "no expression");
    rc = expr__to_jv(input, &in, err);
    if (rc)
        return rc;
    rc = expr__eval_jv(ctx, jq, in, &r, err);
    jv_free(in);
    if (rc) {
        jv_free(r);
        return rc;
    }
    return expr__from_jv(r, out, err);
}

int expr_truthy(struct expr_ctx *ctx, const char *jq, const json_t *input, bool *out, struct idf_err *err)
{
    jv in, r;
    int rc;

    *out = false;
    if (ctx->iso)
        return jq ? expr__iso_truthy(ctx->iso, jq, input, out, err) : idf_err_set(err, IDF_EINVAL, "no expression");
    rc = expr__to_jv(input, &in, err);
    if (rc)
        return rc;
    rc = expr__eval_jv(ctx, jq, in, &r, err);
    jv_free(in);
    if (!rc)
        *out = jv_get_kind(r) != JV_KIND_NULL && jv_get_kind(r) != JV_KIND_FALSE;
    jv_free(r);
    return rc;
}

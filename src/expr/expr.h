/* expr.h — jq expressions (through libjq) and ${{ }} templates.
 *
 * Expressions are fenced: `env` and `$ENV` are empty objects; `import`,
 * `include`, `input`, `inputs`, `_input`, `input_filename`,
 * `input_line_number`, `$__loc__` (any `$__name`), `debug`, `stderr`, `halt`,
 * `halt_error`, `get_search_list`, `get_prog_origin`, `get_jq_origin`,
 * `modulemeta` are refused at compile time with a message naming the
 * construct (the same words in string literals, field names and object keys
 * are fine). Integers beyond 2^53 in the
 * input reach jq as strings, so ids never silently change. jq 1.6 loads
 * $HOME/.jq into every program when it is a file, so compiling refuses
 * (IDF_EDENIED) while one exists.
 *
 * Budgets: jq 1.6 cannot interrupt an evaluation and aborts the process on
 * some inputs (`1e17|todate`) and when memory runs out, so an in-process
 * context (expr_ctx_new) must only run trusted expressions on trusted input
 * (`idflow validate`, tests). An isolated context (expr_ctx_new_isolated)
 * evaluates in a child process of its own, with a time budget per call and
 * a memory budget (docs/internals/expr.md): an evaluation that overruns it
 * is IDF_ETIMEOUT, one that runs out of memory IDF_ETOOBIG, one that
 * crashes jq IDF_ECRASH, each with a message naming the limit; the child is
 * then replaced at the next call and the context keeps working.
 *
 * An `expr_ctx` belongs to one thread: it caches compiled programs (keyed by
 * expression text, so a workflow version's expressions compile once per
 * thread) and must not be shared. Several contexts may be used on several
 * threads at once.
 *
 * Templates: a JSON string that is exactly "${{ jq }}" (surrounding spaces
 * allowed) becomes the jq result with its JSON type; "${{ }}" inside a longer
 * string is interpolated as text (strings as-is, null as "", others as
 * compact JSON). Any other value is a literal; objects and arrays are walked.
 * An expression ends at the first "}}" outside jq string literals and
 * comments and outside brackets it opened itself, so `${{ "}}" }}` and
 * `${{ {a: {b: 1}} }}` each hold one expression. Spaces, tabs and line
 * breaks count as the surrounding spaces. */
#ifndef IDF_EXPR_EXPR_H
#define IDF_EXPR_EXPR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define EXPR_MAX_TEXT 8192         /* longest expression accepted */
#define EXPR_CACHE_MAX 4096        /* compiled programs cached per context */
#define EXPR_MAX_OUTPUT (1u << 20) /* largest rendered text */

#define EXPR_DEFAULT_TIMEOUT_MS 1000 /* an isolated evaluation's time budget */
#define EXPR_DEFAULT_MEMORY_MB 256   /* an isolated evaluator's memory budget */
#define EXPR_MIN_TIMEOUT_MS 10       /* accepted range of expr_timeout_ms */
#define EXPR_MAX_TIMEOUT_MS 600000
#define EXPR_MIN_MEMORY_MB 64        /* accepted range of expr_memory_mb (the idle evaluator maps ~25 MiB) */
#define EXPR_MAX_MEMORY_MB 65536

struct expr_ctx;

/* The budgets of an isolated context; 0 takes the default. */
struct expr_limits {
    int timeout_ms; /* wall-clock time one call may take (compile + evaluate) */
    int memory_mb;  /* address space of the evaluator process */
};

/* A context that evaluates in this process (no budget: see above). Caller
 * frees with expr_ctx_free. */
int expr_ctx_new(struct expr_ctx **out) IDF_MUST_USE;

/* A context that evaluates in a child process, started at the first call by
 * exec'ing /proc/self/exe with the argument "__expr-worker" (the program's
 * main must hand that to expr_worker_main), and started again after it died.
 * lim may be NULL (defaults). The child belongs to the calling thread: it is
 * killed when that thread ends, so the context must stay on the thread that
 * created it. Caller frees with expr_ctx_free (which kills the child). */
int expr_ctx_new_isolated(const struct expr_limits *lim, struct expr_ctx **out) IDF_MUST_USE;

/* True for a context made by expr_ctx_new_isolated. */
bool expr_ctx_isolated(const struct expr_ctx *ctx);

void expr_ctx_free(struct expr_ctx *ctx);

/* The evaluator child's main: argv[0] is "__expr-worker", then the memory
 * budget in MiB and the parent's pid. Serves requests on fd 3 until it is
 * closed; returns the exit status. Never returns to an ordinary caller's
 * code path with secrets: it is only ever run in a freshly exec'd process. */
int expr_worker_main(int argc, char **argv);

/* Compiles (and caches) an expression; IDF_EPARSE with jq's message, or
 * IDF_EDENIED for a fenced construct. */
int expr_check(struct expr_ctx *ctx, const char *jq, struct idf_err *err) IDF_MUST_USE;

/* Evaluates jq on input; *out is the first output (null when none); caller
 * decrefs. A jq runtime error is IDF_EINVAL with jq's message. */
int expr_eval(struct expr_ctx *ctx, const char *jq, const json_t *input, json_t **out,
              struct idf_err *err) IDF_MUST_USE;

/* Evaluates a condition: truthy = any first output but false and null. */
int expr_truthy(struct expr_ctx *ctx, const char *jq, const json_t *input, bool *out, struct idf_err *err) IDF_MUST_USE;

/* Renders a template value (see above); *out is new, caller decrefs. */
int expr_render(struct expr_ctx *ctx, const json_t *tmpl, const json_t *input, json_t **out,
                struct idf_err *err) IDF_MUST_USE;

/* True when s contains "${{". */
bool expr_has_template(const char *s);

/* Calls fn for each ${{ }} expression inside s with its text and byte offset
 * (of the "${{"). Returns IDF_EPARSE for an unterminated "${{" (offset in
 * *bad_offset_out when not NULL), or the first non-zero fn result. */
typedef int (*expr_scan_fn)(void *ud, const char *jq, size_t offset);
int expr_template_scan(const char *s, expr_scan_fn fn, void *ud, size_t *bad_offset_out) IDF_MUST_USE;

#endif

/* expr_internal.h — how the expr module's files fit together (private).
 *
 *   expr.c      the per-thread context: the program cache, compiling through
 *               libjq with the fence prefix, evaluating, errors
 *   lex.c       a mirror of jq 1.6's lexer, used for the fence (refused
 *               words) and for finding where a "${{" expression ends
 *   conv.c      jansson <-> jv conversion (big integers, depth cap)
 *   template.c  "${{ }}" scanning and rendering
 *   isolate.c   the isolated context's parent side: starting the evaluator
 *               child, one request/answer round trip per call, budgets
 *   worker.c    the evaluator child: limits, then serving requests with an
 *               in-process context
 *
 * Nothing here is thread-safe on a shared ctx; every function is safe to call
 * from several threads on different contexts. */
#ifndef IDF_EXPR_INTERNAL_H
#define IDF_EXPR_INTERNAL_H

#include <jansson.h>
#include <jv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "expr/expr.h"

/* Deepest JSON value converted in either direction. */
#define EXPR__MAX_DEPTH 512

/* ------------------------------------------------------------------ lex.c */

/* Checks the fence on one expression of len bytes: IDF_ETOOBIG past
 * EXPR_MAX_TEXT, IDF_EPARSE for an empty expression (only blanks and
 * comments), IDF_EDENIED naming the first refused construct. Words
 * inside string literals, object keys (`{input: 1}`) and field names
 * (`.input`) are not calls and are accepted. */
int expr__fence_check(const char *text, size_t len, struct idf_err *err) IDF_MUST_USE;

/* s[from..] is jq text following a "${{". Finds the "}}" that closes it: the
 * first one outside string literals and comments and outside brackets opened
 * after `from`. Sets *end to the offset of that "}}" and returns true, or
 * returns false when there is none (or brackets nest deeper than
 * EXPR_MAX_TEXT, which no acceptable expression can). */
bool expr__find_close(const char *s, size_t len, size_t from, size_t *end);

/* ------------------------------------------------------------------ conv.c */

/* Converts a jansson value into a new jv (integers beyond +-2^53 become
 * decimal strings). IDF_ETOOBIG deeper than EXPR__MAX_DEPTH, IDF_ENOMEM. */
int expr__to_jv(const json_t *v, jv *out, struct idf_err *err) IDF_MUST_USE;

/* Converts v (consumed) into a new jansson value: integral numbers within
 * +-2^53 become integers, others reals (NaN -> null, +-inf -> +-DBL_MAX, as
 * jq prints them). IDF_ETOOBIG deeper than EXPR__MAX_DEPTH, IDF_ENOMEM. */
int expr__from_jv(jv v, json_t **out, struct idf_err *err) IDF_MUST_USE;

/* ------------------------------------------------------------------ expr.c */

/* Evaluates jq on input (borrowed: the caller keeps its reference) and sets
 * *out to the first output (jv null when none), which the caller frees with
 * jv_free. Errors as expr_eval. */
int expr__eval_jv(struct expr_ctx *ctx, const char *jq, jv input, jv *out, struct idf_err *err) IDF_MUST_USE;

/* How many times ctx has called jq_compile, and how many programs it holds
 * (for tests: a cache hit compiles nothing). */
uint64_t expr__compile_count(const struct expr_ctx *ctx);
size_t expr__cache_size(const struct expr_ctx *ctx);

/* True when ctx->iso is set (an isolated context). */
struct expr__iso *expr__iso_of(const struct expr_ctx *ctx);

/* -------------------------------------------------------- isolate.c, worker.c
 *
 * Protocol on the socketpair: every message is a frame, a 4-byte length (host
 * order: both ends are the same binary) then that many bytes. A request is
 *   op (1 byte) | jq length (4 bytes) | jq text | NUL | JSON text
 * where the JSON is the input (CHECK: none; RENDER: the template, a NUL, then
 * the input). An answer is
 *   EXPR__ANS_OK (1 byte) | result       (EVAL, RENDER: JSON text; TRUTHY: 1 byte 0/1)
 *   EXPR__ANS_ERR (1 byte) | code (4 bytes, an IDF_E*) | message text
 * The child sends one EXPR__ANS_OK frame with no result when it is ready. */

#define EXPR__FD 3                   /* the child's end of the socketpair */
#define EXPR__NOTE_FD 4              /* the child's view of the note page */
#define EXPR__NOTE_MAX 256           /* bytes of the note page used, NUL included */
#define EXPR__MAX_FRAME (64u << 20)  /* largest request or answer, either way */
#define EXPR__EXIT_OOM 86            /* the child's exit status after running out of memory */
#define EXPR__SPAWN_TIMEOUT_MS 10000 /* how long a new child may take to say it is ready */
#define EXPR__WORKER_ARG "__expr-worker"

enum { EXPR__OP_CHECK = 'C', EXPR__OP_EVAL = 'E', EXPR__OP_TRUTHY = 'T', EXPR__OP_RENDER = 'R' };
enum { EXPR__ANS_OK = 0, EXPR__ANS_ERR = 1 };

/* The note page: a page shared by parent and child (a memfd) into which
 * the child's template renderer writes which expression it is evaluating
 * (".url: ${{ .ts | todate }}"), so that when a RENDER dies or overruns the
 * parent can name the expression. NULL in every process but the child. */
extern char *expr__note;

/* jq's out-of-memory handler for every program compiled from now on (jq 1.6
 * installs each jq_state's own handler as it runs, so it is set per
 * program); NULL keeps jq's, which aborts. Set only in the child. */
extern void (*expr__nomem)(void *);

/* Writes "path: ${{ text }}" to the note page, when there is one. */
void expr__note_set(const char *path, const char *text);

struct expr__iso;

/* A parent side with no child yet; caller frees with expr__iso_free. */
int expr__iso_new(const struct expr_limits *lim, struct expr__iso **out) IDF_MUST_USE;
/* Kills and reaps the child, frees. iso may be NULL. */
void expr__iso_free(struct expr__iso *iso);

/* The public calls, one round trip each (see expr.h for their contracts). */
int expr__iso_check(struct expr__iso *iso, const char *jq, struct idf_err *err) IDF_MUST_USE;
int expr__iso_eval(struct expr__iso *iso, const char *jq, const json_t *input, json_t **out,
                   struct idf_err *err) IDF_MUST_USE;
int expr__iso_truthy(struct expr__iso *iso, const char *jq, const json_t *input, bool *out,
                     struct idf_err *err) IDF_MUST_USE;
int expr__iso_render(struct expr__iso *iso, const json_t *tmpl, const json_t *input, json_t **out,
                     struct idf_err *err) IDF_MUST_USE;

/* The child's pid (0 when none runs) and how many children were started
 * (for tests). */
int expr__iso_pid(const struct expr_ctx *ctx);
unsigned long expr__iso_spawns(const struct expr_ctx *ctx);

#endif

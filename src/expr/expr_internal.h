/* expr_internal.h — how the expr module's files fit together (private).
 *
 *   expr.c      the per-thread context: the program cache, compiling through
 *               libjq with the fence prefix, evaluating, errors
 *   lex.c       a mirror of jq 1.6's lexer, used for the fence (refused
 *               words) and for finding where a "${{" expression ends
 *   conv.c      jansson <-> jv conversion (big integers, depth cap)
 *   template.c  "${{ }}" scanning and rendering
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

#endif

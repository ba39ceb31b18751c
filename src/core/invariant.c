/* invariant.c — what happens when an invariant is broken (core/invariant.h):
 * one line on stderr, then abort() so that the sanitizers and a core dump
 * show where. Always compiled, so a test can define IDF_INVARIANTS for itself. */
#include "core/invariant.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void idf_invariant_failed(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "idflow: invariant broken at %s:%d: %s: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

/* invariant.h — checks of the program's own invariants (a run's state
 * machine, the store's transaction rules), compiled in by debug builds.
 *
 * IDF_INVARIANT(cond, fmt, ...) aborts with file:line, the condition and a
 * message when cond is false, in builds made with -DIDF_INVARIANTS (`make
 * asan` and `make INVARIANTS=1`); elsewhere it compiles to nothing and cond
 * is not evaluated (it must have no side effect). An invariant is a fact the
 * code guarantees, never a check of input: bad input gets an IDF_E* error.
 * Messages name states and ids, never secrets or payloads. */
#ifndef IDF_CORE_INVARIANT_H
#define IDF_CORE_INVARIANT_H

#include "core/err.h"

/* Writes "invariant broken at FILE:LINE: COND: message" to stderr and aborts. */
__attribute__((noreturn)) IDF_PRINTF(4, 5) void idf_invariant_failed(const char *file, int line, const char *cond,
                                                                     const char *fmt, ...);

#ifdef IDF_INVARIANTS
#define IDF_INVARIANTS_ON 1
#define IDF_INVARIANT(cond, ...)                                                                               \
    ((cond) ? (void)0 : idf_invariant_failed(__FILE__, __LINE__, #cond, __VA_ARGS__))
#else
#define IDF_INVARIANTS_ON 0
#define IDF_INVARIANT(cond, ...) ((void)sizeof(!(cond)))
#endif

#endif

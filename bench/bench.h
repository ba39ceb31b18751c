/* bench.h — what several benchmarks share: CPU time, a setting from the
 * environment, and a median. Header-only (each bench source file is a program). */
#ifndef IDF_BENCH_BENCH_H
#define IDF_BENCH_BENCH_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>

/* CPU microseconds (user + system) of the calling thread (RUSAGE_THREAD) or
 * of the whole process (RUSAGE_SELF). */
static inline int64_t bench_cpu_us(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec + (int64_t)ru.ru_stime.tv_sec * 1000000 +
           ru.ru_stime.tv_usec;
}

/* The integer in environment variable name, def when unset, clamped to lo..hi. */
static inline int bench_env_int(const char *name, int def, int lo, int hi)
{
    const char *v = getenv(name);
    int n = v ? atoi(v) : def;
    return n < lo ? lo : n > hi ? hi : n;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n) (n >= 1); v is sorted in place. */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return v[n / 2];
}

#endif

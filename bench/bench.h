/* bench.h — what several benchmarks share: CPU time, a setting from the
 * environment, a median, and what /proc says of a server process (CPU, memory,
 * bytes written). Header-only (each bench source file is a program). */
#ifndef IDF_BENCH_BENCH_H
#define IDF_BENCH_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* utime + stime of pid, its reaped children and (recursively) its live
 * ones (the expression evaluators of serve), in clock ticks. */
static inline long long bench_proc_cpu_ticks(int pid)
{
    char path[64], buf[2048];
    long long sum = 0;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f) {
        if (fgets(buf, sizeof buf, f)) {
            char *p = strrchr(buf, ')');
            unsigned long long ut = 0, st = 0, cut = 0, cst = 0;
            /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime
             * cstime */
            if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &ut, &st, &cut,
                            &cst) == 4)
                sum += (long long)(ut + st + cut + cst);
        }
        fclose(f);
    }
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    f = fopen(path, "r");
    if (f) {
        int child;
        while (fscanf(f, "%d", &child) == 1)
            sum += bench_proc_cpu_ticks(child);
        fclose(f);
    }
    return sum;
}

/* The number of the "field: N" line of /proc/PID/file; -1 when absent. */
static inline long long bench_proc_field(int pid, const char *file, const char *field)
{
    char path[64], line[256];
    long long v = -1;
    size_t fl = strlen(field);
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            v = strtoll(line + fl + 1, NULL, 10);
    fclose(f);
    return v;
}

/* A "Name: N kB" line of /proc/PID/status (VmRSS, VmHWM), in kB; -1 when absent. */
static inline long bench_proc_status_kb(int pid, const char *field)
{
    return (long)bench_proc_field(pid, "status", field);
}

/* Bytes pid passed to write(2) and pwrite(2) so far (/proc/PID/io wchar):
 * for serve under load, the WAL's page frames and the checkpoints. */
static inline long long bench_proc_wchar(int pid)
{
    return bench_proc_field(pid, "io", "wchar");
}

#endif

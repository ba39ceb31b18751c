/* timeutil.c — clocks, durations, ISO-8601 and backoff (see timeutil.h).
 * Stateless apart from a per-thread random seed; any thread. */
#include "core/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DURATION_MS (366LL * 24 * 3600 * 1000)

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void time_deadline_ts(clockid_t clock, int64_t ms, struct timespec *out)
{
    clock_gettime(clock, out);
    out->tv_sec += ms / 1000;
    out->tv_nsec += (ms % 1000) * 1000000;
    if (out->tv_nsec >= 1000000000) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000;
    }
}

int64_t time_mono_ms(void)
{
    return time_mono_ns() / 1000000;
}

int time_parse_duration(const char *s, int64_t *ms_out)
{
    int64_t total = 0;
    const char *p = s;

    if (!s || !*s)
        return IDF_EINVAL;
    while (*p) {
        int64_t n = 0;
        int64_t unit;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            n = n * 10 + (*p - '0');
            if (n > MAX_DURATION_MS)
                return IDF_EINVAL;
            p++;
            digits++;
        }
        if (!digits)
            return IDF_EINVAL;
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1;
            p += 2;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else if (*p == 'm') {
            unit = 60000;
            p++;
        } else if (*p == 'h') {
            unit = 3600000;
            p++;
        } else if (*p == 'd') {
            unit = 86400000;
            p++;
        } else if (*p == '\0' && p - digits == s) {
            unit = 1000; /* a bare number is seconds */
        } else {
            return IDF_EINVAL;
        }
        total += n * unit;
        if (total > MAX_DURATION_MS)
            return IDF_EINVAL;
    }
    *ms_out = total;
    return 0;
}

void time_format_iso(int64_t ms, char *out, size_t n)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

int time_parse_iso(const char *s, int64_t *ms_out)
{
    struct tm tm;
    const char *p;
    int64_t frac = 0;
    int64_t off_min = 0;

    memset(&tm, 0, sizeof tm);
    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return IDF_EINVAL;
    if (*p == '.') {
        int digits = 0;
        p++;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (!digits)
            return IDF_EINVAL;
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        int sign = *p == '-' ? -1 : 1;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return IDF_EINVAL;
        off_min = sign * (hh * 60 + mm);
        p += 6;
    } else {
        return IDF_EINVAL;
    }
    if (*p)
        return IDF_EINVAL;
    *ms_out = ((int64_t)timegm(&tm) - off_min * 60) * 1000 + frac;
    return 0;
}

int64_t time_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms)
{
    static __thread unsigned int seed;
    int64_t cap = base_ms;
    int64_t lo;

    if (!seed)
        seed = (unsigned int)time_mono_ns() ^ (unsigned int)(uintptr_t)&seed;
    if (attempt < 1)
        attempt = 1;
    for (int i = 1; i < attempt && cap < max_ms; i++)
        cap *= 2;
    if (cap > max_ms)
        cap = max_ms;
    lo = base_ms / 2;
    if (lo > cap)
        lo = cap;
    if (cap <= lo)
        return cap;
    return lo + (int64_t)(rand_r(&seed) % (unsigned int)(cap - lo + 1));
}

/* timeutil.h — clocks, durations and backoff with jitter. Any thread. */
#ifndef IDF_CORE_TIMEUTIL_H
#define IDF_CORE_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

#include "core/err.h"

/* Wall clock in milliseconds since the Unix epoch. */
int64_t time_now_ms(void);

/* Monotonic clock in nanoseconds (for measuring). */
int64_t time_mono_ns(void);

/* *out = the time ms milliseconds from now on clock (CLOCK_REALTIME, or
 * CLOCK_MONOTONIC for a condition variable set to it): the deadline of a
 * pthread_cond_timedwait. */
void time_deadline_ts(clockid_t clock, int64_t ms, struct timespec *out);

/* Monotonic clock in milliseconds (deadlines, budgets, cache ages). */
int64_t time_mono_ms(void);

/* Parses "250ms", "2s", "5m", "1h", "1d", "1h30m" or a bare integer (seconds)
 * into milliseconds. IDF_EINVAL on anything else, or on a value above 366 days. */
int time_parse_duration(const char *s, int64_t *ms_out) IDF_MUST_USE;

/* Formats ms since the epoch as ISO-8601 UTC with milliseconds
 * ("2026-11-24T12:00:00.000Z") into out (at least 25 bytes). */
void time_format_iso(int64_t ms, char *out, size_t n);

/* Parses ISO-8601 UTC ("2026-11-24T12:00:00Z", optional .sss fraction and
 * +hh:mm offset). IDF_EINVAL otherwise. */
int time_parse_iso(const char *s, int64_t *ms_out) IDF_MUST_USE;

/* Exponential backoff with "full jitter": a random delay in
 * [base/2, min(max, base * 2^(attempt-1))], attempt counted from 1. */
int64_t time_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms);

#endif

/* cron.h — cron expressions and their ticks in an IANA time zone.
 *
 * A 5-field expression is "minute hour day-of-month month day-of-week"; a
 * 6-field expression starts with seconds ("second minute hour ..."). Each
 * field is `*`, a number, a range `a-b`, a step `*\/n`, `a-b/n` or `a/n`
 * (a to the field's maximum), or a comma list of those. Months take names
 * JAN-DEC, days of week SUN-SAT (0 and 7 are Sunday), case-insensitive.
 * When both day fields are restricted (neither starts with `*`) a day
 * matches when either matches; otherwise both must (the Vixie cron rule).
 *
 * Ticks are wall-clock times in the zone. A local time that does not exist
 * (the hour skipped when DST starts) does not fire; a local time that
 * happens twice (the hour repeated when DST ends) fires once, at its first
 * occurrence.
 *
 * Any thread. "UTC" (and a NULL or empty zone) is computed with pure
 * arithmetic; other zones go through the C library's localtime_r with TZ
 * set under one process-wide mutex (see cron.c). */
#ifndef IDF_CORE_CRON_H
#define IDF_CORE_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

#define CRON_MAX_LEN 256      /* bytes of an expression */
#define CRON_TZ_MAX 64        /* bytes of a zone name */
#define CRON_SEARCH_YEARS 10  /* cron_next gives up after this many years without a tick */

struct cron_expr {
    uint64_t seconds;  /* bit s: second s (5-field: only second 0) */
    uint64_t minutes;  /* bit m: minute m, 0-59 */
    uint32_t hours;    /* bit h: 0-23 */
    uint32_t mdays;    /* bit d: 1-31 */
    uint16_t months;   /* bit m: 1-12 */
    uint8_t wdays;     /* bit w: 0-6, Sunday = 0 */
    bool mday_star;    /* the day-of-month field starts with '*' */
    bool wday_star;    /* the day-of-week field starts with '*' */
    bool has_seconds;  /* a 6-field expression */
};

/* Parses text into *out. IDF_EINVAL with a message naming the field and the
 * bad part ("cron: hour field '25': 25 is out of range 0-23"); also for an
 * expression that can never fire (day 30 of February only). */
int cron_parse(const char *text, struct cron_expr *out, struct idf_err *err) IDF_MUST_USE;

/* 0 when tz names a zone of the system's zone database (or is "UTC");
 * IDF_EINVAL with a message otherwise. */
int cron_tz_check(const char *tz, struct idf_err *err) IDF_MUST_USE;

/* The first tick strictly after `after` (seconds since the epoch) in zone
 * tz (NULL or "" = UTC), in *next_out. IDF_EINVAL for an unknown zone,
 * IDF_ENOTFOUND when no tick comes within CRON_SEARCH_YEARS. */
int cron_next(const struct cron_expr *c, const char *tz, int64_t after, int64_t *next_out,
              struct idf_err *err) IDF_MUST_USE;

/* The last tick in (after, upto] — the most recent tick not later than upto
 * and later than after — in *tick_out; IDF_ENOTFOUND when there is none. */
int cron_last(const struct cron_expr *c, const char *tz, int64_t after, int64_t upto, int64_t *tick_out,
              struct idf_err *err) IDF_MUST_USE;

#endif

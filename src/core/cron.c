/* cron.c — parses cron expressions into bit sets and finds their ticks in
 * a time zone (the contract is in cron.h).
 *
 * The search walks the zone's wall clock ("wall seconds": local time
 * written as if it were UTC, so gmtime_r/timegm do the calendar
 * arithmetic without touching any zone state), skipping whole months, days,
 * hours and minutes that cannot match, then maps the matching wall time
 * back to an instant. A wall time w is the instant t = w - off for an
 * offset off the zone uses near w (the offsets one day before and after):
 * when neither offset gives back w the time does not exist (DST gap) and is
 * skipped; when both do it exists twice (DST overlap) and only the earlier
 * instant is a tick. This assumes a zone changes its offset at most once
 * in two days, which holds for every zone in the tz database.
 *
 * Thread safety: the C library only knows one zone at a time, the one named
 * by the TZ environment variable. Every computation in a zone other than
 * UTC holds `tz_lock` (the one process-wide lock of this module) while it
 * sets TZ, calls tzset() and localtime_r, and sets TZ back (when TZ was
 * unset it is set to ":/etc/localtime", which glibc reads the same way, so
 * TZ is only ever added to the environment once and later changes replace
 * its value in place). idflow itself never calls localtime: its clocks and
 * logs are UTC. UTC computations take no lock.
 *
 * Zone names are checked against the zone database (TZDIR, default
 * /usr/share/zoneinfo) before use, because the C library silently treats an
 * unknown zone as UTC. */
#include "core/cron.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CRON_MAX_FIELDS 6
#define CRON_LAST_MAX_STEPS 1000000 /* ticks cron_last walks at most */
#define CRON_ZONEINFO_DIR "/usr/share/zoneinfo"
#define DAY 86400

/* guards the TZ environment variable and libc's zone state (see above) */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const wday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

struct field {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] is value lo + i; or NULL */
};

static const struct field fields[CRON_MAX_FIELDS] = {
    {"second", 0, 59, NULL},      {"minute", 0, 59, NULL}, {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL}, {"month", 1, 12, month_names}, {"day-of-week", 0, 7, wday_names},
};

/* ------------------------------------------------------------- parsing */

/* One value (a number or a name) of [s, e) into *v. */
static int parse_value(const struct field *f, const char *s, const char *e, int *v, const char *item, int il,
                       struct idf_err *err)
{
    if (s < e && isdigit((unsigned char)*s)) {
        int n = 0;
        for (const char *p = s; p < e; p++) {
            if (!isdigit((unsigned char)*p) || n > 1000)
                goto bad;
            n = n * 10 + (*p - '0');
        }
        if (n < f->lo || n > f->hi)
            return idf_err_set(err, IDF_EINVAL, "cron: %s field '%.*s': %d is out of range %d-%d", f->name, il,
                               item, n, f->lo, f->hi);
        *v = n;
        return 0;
    }
    if (f->names && e - s == 3) {
        for (int i = 0; f->names[i]; i++) {
            if (strncasecmp(f->names[i], s, 3) == 0) {
                *v = f->lo == 0 ? i : i + 1;
                return 0;
            }
        }
    }
bad:
    return idf_err_set(err, IDF_EINVAL, "cron: %s field '%.*s': '%.*s' is not a %s%s", f->name, il, item,
                       (int)(e - s), s, f->names ? "number or name" : "number",
                       f->names == month_names ? " (JAN-DEC)" : f->names == wday_names ? " (SUN-SAT)" : "");
}

/* One comma-separated field [s, s+len) into *bits. */
static int parse_field(const struct field *f, const char *s, int len, uint64_t *bits, struct idf_err *err)
{
    const char *end = s + len, *item = s;

    *bits = 0;
    while (item <= end) {
        const char *ie = memchr(item, ',', (size_t)(end - item));
        const char *slash, *dash, *be;
        int il, a, b, step = 1, rc;

        if (!ie)
            ie = end;
        il = (int)(ie - item);
        if (il == 0)
            return idf_err_set(err, IDF_EINVAL, "cron: %s field '%.*s': empty list item", f->name, len, s);
        slash = memchr(item, '/', (size_t)il);
        be = slash ? slash : ie;
        if (slash) {
            step = 0;
            for (const char *p = slash + 1; p < ie; p++) {
                if (!isdigit((unsigned char)*p) || step > 1000) {
                    step = 0;
                    break;
                }
                step = step * 10 + (*p - '0');
            }
            if (step < 1 || slash + 1 == ie)
                return idf_err_set(err, IDF_EINVAL, "cron: %s field '%.*s': the step must be a number from 1",
                                   f->name, il, item);
        }
        if (be - item == 1 && *item == '*') {
            a = f->lo;
            b = f->hi;
        } else {
            dash = memchr(item, '-', (size_t)(be - item));
            rc = parse_value(f, item, dash ? dash : be, &a, item, il, err);
            if (rc)
                return rc;
            if (dash) {
                rc = parse_value(f, dash + 1, be, &b, item, il, err);
                if (rc)
                    return rc;
                if (b < a)
                    return idf_err_set(err, IDF_EINVAL, "cron: %s field '%.*s': the range runs backwards",
                                       f->name, il, item);
            } else {
                b = slash ? f->hi : a;
            }
        }
        for (int v = a; v <= b; v += step)
            *bits |= 1ull << v;
        item = ie + 1;
    }
    return 0;
}

static int days_in_month(int m) /* the most days month m (1-12) can have */
{
    static const int d[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return d[m - 1];
}

int cron_parse(const char *text, struct cron_expr *out, struct idf_err *err)
{
    const char *fs[CRON_MAX_FIELDS];
    int fl[CRON_MAX_FIELDS], n = 0, first;
    uint64_t bits[CRON_MAX_FIELDS];
    const char *p = text;

    memset(out, 0, sizeof *out);
    if (!text || !*text)
        return idf_err_set(err, IDF_EINVAL, "cron: empty expression");
    if (strlen(text) > CRON_MAX_LEN)
        return idf_err_set(err, IDF_EINVAL, "cron: expression longer than %d bytes", CRON_MAX_LEN);
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (n == CRON_MAX_FIELDS)
            return idf_err_set(err, IDF_EINVAL,
                               "cron: '%s' has more than 6 fields (minute hour day-of-month month day-of-week, "
                               "optionally preceded by second)", text);
        fs[n] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        fl[n] = (int)(p - fs[n]);
        n++;
    }
    if (n != 5 && n != 6)
        return idf_err_set(err, IDF_EINVAL,
                           "cron: '%s' has %d field%s; expected 5 (minute hour day-of-month month day-of-week) "
                           "or 6 (second first)", text, n, n == 1 ? "" : "s");
    first = n == 6 ? 0 : 1;
    for (int i = 0; i < n; i++) {
        int rc = parse_field(&fields[first + i], fs[i], fl[i], &bits[first + i], err);
        if (rc)
            return rc;
    }
    if (n == 5)
        bits[0] = 1; /* second 0 */
    out->has_seconds = n == 6;
    out->seconds = bits[0];
    out->minutes = bits[1];
    out->hours = (uint32_t)bits[2];
    out->mdays = (uint32_t)bits[3];
    out->months = (uint16_t)bits[4];
    out->wdays = (uint8_t)((bits[5] | (bits[5] >> 7)) & 0x7f); /* 7 is Sunday too */
    out->mday_star = fs[first == 0 ? 3 : 2][0] == '*';
    out->wday_star = fs[first == 0 ? 5 : 4][0] == '*';
    if (out->wday_star) { /* days come from day-of-month alone: one must exist in a chosen month */
        bool any = false;
        for (int m = 1; m <= 12 && !any; m++)
            for (int d = 1; d <= days_in_month(m) && !any; d++)
                any = (out->months >> m & 1) && (out->mdays >> d & 1);
        if (!any)
            return idf_err_set(err, IDF_EINVAL, "cron: '%s' never fires: no chosen month has the chosen days",
                               text);
    }
    return 0;
}

/* -------------------------------------------------------------- zones */

static bool is_utc(const char *tz)
{
    return !tz || !*tz || !strcmp(tz, "UTC") || !strcmp(tz, "Etc/UTC");
}

int cron_tz_check(const char *tz, struct idf_err *err)
{
    const char *dir = getenv("TZDIR");
    char path[512], magic[4];
    FILE *f;
    size_t got;

    if (is_utc(tz))
        return 0;
    if (strlen(tz) > CRON_TZ_MAX || tz[0] == '/' || strstr(tz, "..") ||
        strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") != strlen(tz))
        return idf_err_set(err, IDF_EINVAL, "unknown time zone '%.*s' (use an IANA name such as Europe/Paris)",
                           CRON_TZ_MAX, tz);
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : CRON_ZONEINFO_DIR, tz);
    f = fopen(path, "rb");
    got = f ? fread(magic, 1, sizeof magic, f) : 0;
    if (f)
        fclose(f);
    if (got != sizeof magic || memcmp(magic, "TZif", 4) != 0)
        return idf_err_set(err, IDF_EINVAL, "unknown time zone '%s' (use an IANA name such as Europe/Paris)", tz);
    return 0;
}

struct zone {
    bool utc;
    char *saved; /* TZ before zone_enter (malloc'd), or NULL when it was unset */
};

static void zone_enter(struct zone *z, const char *tz)
{
    const char *old;

    z->utc = is_utc(tz);
    z->saved = NULL;
    if (z->utc)
        return;
    pthread_mutex_lock(&tz_lock);
    old = getenv("TZ");
    z->saved = old ? strdup(old) : NULL;
    setenv("TZ", tz, 1);
    tzset();
}

static void zone_leave(struct zone *z)
{
    if (z->utc)
        return;
    setenv("TZ", z->saved ? z->saved : ":/etc/localtime", 1);
    tzset();
    pthread_mutex_unlock(&tz_lock);
    free(z->saved);
    z->saved = NULL;
}

/* The zone's offset from UTC (seconds east) at instant t. */
static long zone_offset(const struct zone *z, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (z->utc || !localtime_r(&tt, &tm))
        return 0;
    return tm.tm_gmtoff;
}

/* The earliest instant whose local time is wall w; false when w does not exist. */
static bool wall_to_instant(const struct zone *z, int64_t w, int64_t *t_out)
{
    long offs[2] = {zone_offset(z, w - DAY), zone_offset(z, w + DAY)};
    bool found = false;

    for (int i = 0; i < 2; i++) {
        int64_t t = w - offs[i];
        if (zone_offset(z, t) == offs[i] && (!found || t < *t_out)) {
            *t_out = t;
            found = true;
        }
    }
    return found;
}

/* ------------------------------------------------------------- search */

static bool day_ok(const struct cron_expr *c, const struct tm *tm)
{
    bool dm = c->mdays >> tm->tm_mday & 1, dw = c->wdays >> tm->tm_wday & 1;
    return c->mday_star || c->wday_star ? dm && dw : dm || dw;
}

/* The first matching wall time >= w and <= limit. */
static bool next_wall(const struct cron_expr *c, int64_t w, int64_t limit, int64_t *out)
{
    struct tm tm;

    while (w <= limit) {
        time_t tt = (time_t)w;
        gmtime_r(&tt, &tm);
        if (!(c->months >> (tm.tm_mon + 1) & 1)) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        } else if (!day_ok(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        } else if (!(c->hours >> tm.tm_hour & 1)) {
            tm.tm_hour++;
            tm.tm_min = tm.tm_sec = 0;
        } else if (!(c->minutes >> tm.tm_min & 1)) {
            tm.tm_min++;
            tm.tm_sec = 0;
        } else if (!(c->seconds >> tm.tm_sec & 1)) {
            tm.tm_sec++;
        } else {
            *out = w;
            return true;
        }
        w = (int64_t)timegm(&tm);
    }
    return false;
}

/* cron_next inside a zone already entered. */
static int next_in_zone(const struct cron_expr *c, const struct zone *z, int64_t after, int64_t *next_out)
{
    int64_t wall = after + 1 + zone_offset(z, after + 1);
    int64_t limit = wall + (int64_t)CRON_SEARCH_YEARS * 366 * DAY;
    int64_t w = 0, t = 0;

    while (next_wall(c, wall, limit, &w)) {
        if (wall_to_instant(z, w, &t) && t > after) {
            *next_out = t;
            return 0;
        }
        wall = w + 1; /* skipped: in a DST gap, or the repeat of a time already past */
    }
    return IDF_ENOTFOUND;
}

int cron_next(const struct cron_expr *c, const char *tz, int64_t after, int64_t *next_out, struct idf_err *err)
{
    struct zone z;
    int rc = cron_tz_check(tz, err);

    if (rc)
        return rc;
    zone_enter(&z, tz);
    rc = next_in_zone(c, &z, after, next_out);
    zone_leave(&z);
    if (rc)
        idf_err_set(err, rc, "cron: no tick within %d years", CRON_SEARCH_YEARS);
    return rc;
}

int cron_last(const struct cron_expr *c, const char *tz, int64_t after, int64_t upto, int64_t *tick_out,
              struct idf_err *err)
{
    /* look back through growing windows so a dense schedule after a long
     * outage walks only the ticks of the last window that has one */
    static const int64_t spans[] = {60, 3600, DAY, 32 * DAY, 366 * DAY, 0};
    struct zone z;
    int rc = cron_tz_check(tz, err);

    if (rc)
        return rc;
    rc = IDF_ENOTFOUND;
    zone_enter(&z, tz);
    for (size_t i = 0; i < sizeof spans / sizeof spans[0] && rc == IDF_ENOTFOUND; i++) {
        int64_t start = spans[i] && upto - spans[i] > after ? upto - spans[i] : after, t = 0, n = 0;

        if (next_in_zone(c, &z, start, &t) || t > upto) {
            if (start == after)
                break;
            continue;
        }
        for (int steps = 0; steps < CRON_LAST_MAX_STEPS && !next_in_zone(c, &z, t, &n) && n <= upto; steps++)
            t = n;
        *tick_out = t;
        rc = 0;
    }
    zone_leave(&z);
    if (rc)
        idf_err_set(err, rc, "cron: no tick in the interval");
    return rc;
}

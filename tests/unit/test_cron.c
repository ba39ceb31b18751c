/* test_cron.c — cron expressions: parsing, errors, next and last ticks in
 * UTC and in Europe/Paris across both DST changes, and zones computed
 * concurrently from several threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cron.h"
#include "core/timeutil.h"

static int64_t at(const char *iso)
{
    int64_t ms = 0;
    assert_int_equal(time_parse_iso(iso, &ms), 0);
    return ms / 1000;
}

static const char *iso(int64_t s)
{
    static char out[64];
    time_format_iso(s * 1000, out, sizeof out);
    return out;
}

/* The tick after `after` of expr in tz, as ISO text. */
static const char *next(const char *expr, const char *tz, const char *after)
{
    struct cron_expr c;
    struct idf_err err;
    int64_t t = 0;
    assert_int_equal(cron_parse(expr, &c, &err), 0);
    assert_int_equal(cron_next(&c, tz, at(after), &t, &err), 0);
    return iso(t);
}

static void utc_basics_steps_ranges_names(void **state)
{
    (void)state;
    assert_string_equal(next("*/15 * * * *", NULL, "2026-11-24T12:07:00Z"), "2026-11-24T12:15:00.000Z");
    assert_string_equal(next("*/15 * * * *", "UTC", "2026-11-24T12:15:00Z"), "2026-11-24T12:30:00.000Z");
    /* Friday 27 after the 9 o'clock -> Monday 30 */
    assert_string_equal(next("0 9 * * MON-FRI", "UTC", "2026-11-27T10:00:00Z"), "2026-11-30T09:00:00.000Z");
    assert_string_equal(next("0 9 * * 1-5", "UTC", "2026-11-27T08:59:59Z"), "2026-11-27T09:00:00.000Z");
    assert_string_equal(next("0 0 1 JAN,jul *", "UTC", "2026-03-01T00:00:00Z"), "2026-07-01T00:00:00.000Z");
    assert_string_equal(next("5-20/5 * * * *", "UTC", "2026-11-24T12:20:00Z"), "2026-11-24T13:05:00.000Z");
    assert_string_equal(next("30/10 * * * *", "UTC", "2026-11-24T12:31:00Z"), "2026-11-24T12:40:00.000Z");
    assert_string_equal(next("30/10 * * * *", "UTC", "2026-11-24T12:50:00Z"), "2026-11-24T13:30:00.000Z");
    /* 7 is Sunday as well as 0 */
    assert_string_equal(next("0 12 * * 7", "UTC", "2026-11-24T00:00:00Z"), "2026-11-29T12:00:00.000Z");
    /* leap day */
    assert_string_equal(next("0 0 29 2 *", "UTC", "2026-11-24T00:00:00Z"), "2028-02-29T00:00:00.000Z");
    /* year end */
    assert_string_equal(next("59 23 31 12 *", "UTC", "2026-12-31T23:59:00Z"), "2027-12-31T23:59:00.000Z");
}

static void both_day_fields(void **state)
{
    (void)state;
    /* both restricted: the 13th OR a Friday */
    assert_string_equal(next("0 0 13 * FRI", "UTC", "2026-11-24T00:00:00Z"), "2026-11-27T00:00:00.000Z");
    assert_string_equal(next("0 0 13 * FRI", "UTC", "2026-12-11T12:00:00Z"), "2026-12-13T00:00:00.000Z");
    /* one is '*': only the other counts */
    assert_string_equal(next("0 0 13 * *", "UTC", "2026-11-24T00:00:00Z"), "2026-12-13T00:00:00.000Z");
    assert_string_equal(next("0 0 * * FRI", "UTC", "2026-11-24T00:00:00Z"), "2026-11-27T00:00:00.000Z");
    /* a field starting with '*' counts as unrestricted for the rule: AND */
    assert_string_equal(next("0 0 */10 * FRI", "UTC", "2026-11-24T00:00:00Z"), "2026-12-11T00:00:00.000Z");
}

static void six_fields_start_with_seconds(void **state)
{
    struct cron_expr c;
    struct idf_err err;
    (void)state;
    assert_int_equal(cron_parse("*/2 * * * * *", &c, &err), 0);
    assert_true(c.has_seconds);
    assert_string_equal(next("*/2 * * * * *", "UTC", "2026-11-24T12:00:01Z"), "2026-11-24T12:00:02.000Z");
    assert_string_equal(next("*/2 * * * * *", "UTC", "2026-11-24T12:00:02Z"), "2026-11-24T12:00:04.000Z");
    assert_string_equal(next("30 0 9 * * *", "UTC", "2026-11-24T09:00:30Z"), "2026-11-25T09:00:30.000Z");
    assert_int_equal(cron_parse("* * * * *", &c, &err), 0);
    assert_false(c.has_seconds);
    assert_string_equal(next("* * * * *", "UTC", "2026-11-24T12:00:01Z"), "2026-11-24T12:01:00.000Z");
}

static void paris_and_dst(void **state)
{
    (void)state;
    /* winter: UTC+1 */
    assert_string_equal(next("0 9 * * *", "Europe/Paris", "2026-11-24T00:00:00Z"), "2026-11-24T08:00:00.000Z");
    /* spring forward, 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not exist that day */
    assert_string_equal(next("30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z"), "2026-03-30T00:30:00.000Z");
    assert_string_equal(next("0 3 * * *", "Europe/Paris", "2026-03-28T12:00:00Z"), "2026-03-29T01:00:00.000Z");
    assert_string_equal(next("0 * * * *", "Europe/Paris", "2026-03-29T00:30:00Z"), "2026-03-29T01:00:00.000Z");
    /* fall back, 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice, fires once */
    assert_string_equal(next("30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00Z"), "2026-10-25T00:30:00.000Z");
    assert_string_equal(next("30 2 * * *", "Europe/Paris", "2026-10-25T00:30:00Z"), "2026-10-26T01:30:00.000Z");
    assert_string_equal(next("*/30 * * * *", "Europe/Paris", "2026-10-25T00:30:00Z"), "2026-10-25T02:00:00.000Z");
}

static void last_tick(void **state)
{
    struct cron_expr c;
    struct idf_err err;
    int64_t t = 0;
    (void)state;
    assert_int_equal(cron_parse("*/2 * * * * *", &c, &err), 0);
    assert_int_equal(cron_last(&c, "UTC", at("2026-11-24T12:00:00Z"), at("2026-11-24T12:00:09Z"), &t, &err), 0);
    assert_string_equal(iso(t), "2026-11-24T12:00:08.000Z");
    /* a year of per-second ticks after a long outage: only the last one */
    assert_int_equal(cron_last(&c, "UTC", at("2025-11-24T12:00:00Z"), at("2026-11-24T12:00:09Z"), &t, &err), 0);
    assert_string_equal(iso(t), "2026-11-24T12:00:08.000Z");
    assert_int_equal(cron_parse("0 0 1 1 *", &c, &err), 0);
    assert_int_equal(cron_last(&c, "Europe/Paris", at("2020-01-01T00:00:00Z"), at("2026-11-24T00:00:00Z"), &t, &err),
                     0);
    assert_string_equal(iso(t), "2025-12-31T23:00:00.000Z");
    assert_int_equal(cron_last(&c, "UTC", at("2026-01-01T00:00:00Z"), at("2026-06-01T00:00:00Z"), &t, &err),
                     IDF_ENOTFOUND);
}

static void expect_bad(const char *expr, const char *want)
{
    struct cron_expr c;
    struct idf_err err;
    memset(&err, 0, sizeof err);
    assert_int_equal(cron_parse(expr, &c, &err), IDF_EINVAL);
    if (!strstr(err.msg, want))
        fail_msg("'%s': message '%s' lacks '%s'", expr, err.msg, want);
}

static void invalid_expressions(void **state)
{
    (void)state;
    expect_bad("", "empty expression");
    expect_bad("* * * *", "has 4 fields; expected 5");
    expect_bad("* * * * * * *", "more than 6 fields");
    expect_bad("60 * * * *", "minute field '60': 60 is out of range 0-59");
    expect_bad("* 25 * * *", "hour field '25': 25 is out of range 0-23");
    expect_bad("* * 0 * *", "day-of-month field '0': 0 is out of range 1-31");
    expect_bad("* * * FOO *", "month field 'FOO': 'FOO' is not a number or name (JAN-DEC)");
    expect_bad("* * * * MONDAY", "day-of-week field 'MONDAY'");
    expect_bad("5-1 * * * *", "minute field '5-1': the range runs backwards");
    expect_bad("*/0 * * * *", "the step must be a number from 1");
    expect_bad("*/ * * * *", "the step must be a number from 1");
    expect_bad("1,,2 * * * *", "empty list item");
    expect_bad("x * * * *", "'x' is not a number");
    expect_bad("0 0 30 2 *", "never fires");
    expect_bad("60 * * * * *", "second field '60'");
}

static void zones(void **state)
{
    struct cron_expr c;
    struct idf_err err;
    int64_t t;
    (void)state;
    assert_int_equal(cron_tz_check("Europe/Paris", &err), 0);
    assert_int_equal(cron_tz_check("America/New_York", &err), 0);
    assert_int_equal(cron_tz_check("UTC", &err), 0);
    assert_int_equal(cron_tz_check("Mars/Olympus", &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "unknown time zone 'Mars/Olympus'"));
    assert_int_equal(cron_tz_check("../../etc/passwd", &err), IDF_EINVAL);
    assert_int_equal(cron_tz_check("Europe", &err), IDF_EINVAL); /* a directory */
    assert_int_equal(cron_parse("* * * * *", &c, &err), 0);
    assert_int_equal(cron_next(&c, "Nowhere/City", 0, &t, &err), IDF_EINVAL);
}

/* Several threads computing in different zones at once get the answers of
 * a lone thread. */
struct zjob {
    const char *tz, *want;
    int bad;
};

static void *zone_worker(void *arg)
{
    struct zjob *j = arg;
    struct cron_expr c;
    struct idf_err err;
    if (cron_parse("0 9 * * *", &c, &err))
        j->bad++;
    for (int i = 0; i < 300; i++) {
        int64_t t = 0;
        char out[64];
        if (cron_next(&c, j->tz, 1795478400 /* 2026-11-24T00:00:00Z */, &t, &err))
            j->bad++;
        time_format_iso(t * 1000, out, sizeof out);
        if (strcmp(out, j->want) != 0)
            j->bad++;
    }
    return NULL;
}

static void zones_from_many_threads(void **state)
{
    struct zjob jobs[4] = {{"Europe/Paris", "2026-11-24T08:00:00.000Z", 0},
                           {"America/New_York", "2026-11-24T14:00:00.000Z", 0},
                           {"Asia/Tokyo", "2026-11-25T00:00:00.000Z", 0},
                           {"UTC", "2026-11-24T09:00:00.000Z", 0}};
    pthread_t th[4];
    (void)state;
    assert_int_equal(at("2026-11-24T00:00:00Z"), 1795478400);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, zone_worker, &jobs[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].bad, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utc_basics_steps_ranges_names),
        cmocka_unit_test(both_day_fields),
        cmocka_unit_test(six_fields_start_with_seconds),
        cmocka_unit_test(paris_and_dst),
        cmocka_unit_test(last_tick),
        cmocka_unit_test(invalid_expressions),
        cmocka_unit_test(zones),
        cmocka_unit_test(zones_from_many_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* rate.c — "N/PERIOD" budgets (rate.h): parsing and the canonical text. */
#include "core/rate.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"

#define RATE_TEXT_MAX 64

int rate_spec_parse(const char *text, const char *what, struct rate_spec *out, struct idf_err *err)
{
    char buf[RATE_TEXT_MAX], *slash, *end, *a, *b;
    long n;
    int64_t ms = 0;
    size_t len;

    memset(out, 0, sizeof *out);
    if (!text || (len = strlen(text)) == 0 || len >= sizeof buf)
        goto bad;
    memcpy(buf, text, len + 1);
    for (a = buf; isspace((unsigned char)*a); a++)
        ;
    end = a + strlen(a);
    while (end > a && isspace((unsigned char)end[-1]))
        *--end = '\0';
    if (strcasecmp(a, "off") == 0) {
        out->off = true;
        return 0;
    }
    slash = strchr(a, '/');
    if (!slash)
        goto bad;
    *slash = '\0';
    for (b = slash + 1; isspace((unsigned char)*b); b++)
        ;
    end = slash;
    while (end > a && isspace((unsigned char)end[-1]))
        *--end = '\0';
    if (!isdigit((unsigned char)*a))
        goto bad;
    errno = 0;
    n = strtol(a, &end, 10);
    if (errno || *end || n < 1 || n > RATE_N_MAX)
        goto bad;
    if (time_parse_duration(b, &ms) || ms < RATE_PERIOD_MIN_MS || ms > RATE_PERIOD_MAX_MS)
        goto bad;
    out->n = (int)n;
    out->period_ms = ms;
    return 0;
bad:
    memset(out, 0, sizeof *out);
    return idf_err_set(err, IDF_EINVAL,
                       "%s must be N/PERIOD (1 <= N <= %d, a period from 1s to 24h, e.g. \"20/1h\") or \"off\"", what,
                       RATE_N_MAX);
}

void rate_spec_format(const struct rate_spec *spec, char *out, size_t n)
{
    int64_t p = spec->period_ms;

    if (spec->off)
        snprintf(out, n, "off");
    else if (p % 3600000 == 0)
        snprintf(out, n, "%d/%lldh", spec->n, (long long)(p / 3600000));
    else if (p % 60000 == 0)
        snprintf(out, n, "%d/%lldm", spec->n, (long long)(p / 60000));
    else if (p % 1000 == 0)
        snprintf(out, n, "%d/%llds", spec->n, (long long)(p / 1000));
    else
        snprintf(out, n, "%d/%lldms", spec->n, (long long)p);
}

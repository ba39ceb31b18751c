/* rate.h — budgets written as operators write them: "N/PERIOD" ("20/1h",
 * "5/10m") or "off". Used for a connection's budget of destructive calls
 * (issue 19: `max_destructive`, engine/guard.c). Pure; any thread. */
#ifndef IDF_CORE_RATE_H
#define IDF_CORE_RATE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

#define RATE_N_MAX 100000                       /* the largest count of one budget */
#define RATE_PERIOD_MIN_MS 1000LL               /* the shortest period: one second */
#define RATE_PERIOD_MAX_MS (24LL * 3600 * 1000) /* the longest period: one day */

struct rate_spec {
    bool off;          /* "off": no budget */
    int n;             /* 1..RATE_N_MAX calls ... */
    int64_t period_ms; /* ... in any window of this length */
};

/* Parses text ("20/1h", " 5 / 10m ", "off") into *out. IDF_EINVAL with err
 * saying what is expected, naming `what` ("max_destructive"). */
int rate_spec_parse(const char *text, const char *what, struct rate_spec *out, struct idf_err *err) IDF_MUST_USE;

/* Writes spec back as text ("20/1h", "off") into out (n bytes): the
 * canonical form that is stored. */
void rate_spec_format(const struct rate_spec *spec, char *out, size_t n);

#endif

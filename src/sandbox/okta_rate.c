/* okta_rate.c — Okta's per-bucket, per-minute rate limits and its
 * concurrency limit.
 *
 * Buckets follow the historical Workforce column of Okta's table (API-NOTES
 * §e); `--rate-limit N` (or /_sandbox/okta/config) sets every bucket to N a
 * minute. A bucket's window opens at its first request and lasts 60 s (Okta's
 * windows are not aligned to the clock). Every answer carries
 * X-Rate-Limit-Limit / -Remaining / -Reset (epoch seconds); over the budget
 * the answer is 429 E0000047 until the reset.
 *
 * Concurrency: a request is in flight from the moment it is handled until
 * its answer is due (now + the injected latency). More than
 * concurrency_limit in flight gives 429 with X-Rate-Limit-Limit: 0 and
 * Remaining: 0, as Okta does. Called with sb->lock held. */
#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"
#include "sandbox/okta_internal.h"

#define RATE_WINDOW_MS 60000

static const struct {
    const char *name;
    int limit;
} bucket_table[OKTA_B_COUNT] = {
    [OKTA_B_USERS] = {"/api/v1/users", 600},
    [OKTA_B_USER_GET] = {"GET /api/v1/users/{idOrLogin}", 2000},
    [OKTA_B_USER_ID] = {"POST|PUT|DELETE /api/v1/users/{id}", 600},
    [OKTA_B_GROUPS] = {"/api/v1/groups", 500},
    [OKTA_B_GROUP_ID] = {"/api/v1/groups/{id}", 1000},
    [OKTA_B_APPS] = {"/api/v1/apps", 100},
    [OKTA_B_APP_ID] = {"/api/v1/apps/{id}", 500},
    [OKTA_B_LOGS] = {"/api/v1/logs", 120},
    [OKTA_B_TOKEN] = {"/oauth2/v1/token", 1200},
    [OKTA_B_OTHER] = {"/api/v1/*", 1200},
};

int okta__bucket_default(enum okta_bucket b)
{
    return bucket_table[b].limit;
}

const char *okta__bucket_name(enum okta_bucket b)
{
    return bucket_table[b].name;
}

enum okta_bucket okta__bucket_for(const char *method, char *const *seg, int nseg, bool oauth)
{
    if (oauth)
        return OKTA_B_TOKEN;
    if (nseg == 0)
        return OKTA_B_OTHER;
    bool get = strcmp(method, "GET") == 0;
    if (strcmp(seg[0], "users") == 0) {
        if (nseg == 1)
            return OKTA_B_USERS;
        return get ? OKTA_B_USER_GET : OKTA_B_USER_ID;
    }
    if (strcmp(seg[0], "groups") == 0)
        return nseg == 1 ? OKTA_B_GROUPS : OKTA_B_GROUP_ID;
    if (strcmp(seg[0], "apps") == 0)
        return nseg == 1 ? OKTA_B_APPS : OKTA_B_APP_ID;
    if (strcmp(seg[0], "logs") == 0)
        return OKTA_B_LOGS;
    return OKTA_B_OTHER;
}

void okta__rate_reset(struct sbx_okta *o)
{
    for (int b = 0; b < OKTA_B_COUNT; b++) {
        o->buckets[b].limit = o->rate_override > 0 ? o->rate_override : bucket_table[b].limit;
        o->buckets[b].used = 0;
        o->buckets[b].reset_ms = 0;
    }
    memset(o->inflight, 0, sizeof o->inflight);
}

static void put_int(struct okta_ctx *c, const char *name, long long v)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", v);
    okta__header(c, name, s);
}

/* Counts the request against the concurrency limit; false when over. */
static bool concurrency_ok(struct okta_ctx *c, int64_t now)
{
    struct sbx_okta *o = c->o;
    int live = 0, free_slot = -1;
    for (int i = 0; i < OKTA_MAX_CONCURRENCY_TRACK; i++) {
        if (o->inflight[i] > now)
            live++;
        else if (free_slot < 0)
            free_slot = i;
    }
    if (live >= o->concurrency_limit)
        return false;
    if (free_slot >= 0) /* the answer is due after the injected latency */
        o->inflight[free_slot] = now + (c->resp->delay_ms > 0 ? c->resp->delay_ms : 1);
    return true;
}

bool okta__rate_check(struct okta_ctx *c, enum okta_bucket b)
{
    struct okta_bucket_state *st = &c->o->buckets[b];
    int64_t now = time_now_ms();
    if (st->reset_ms <= now) {
        st->used = 0;
        st->reset_ms = now + RATE_WINDOW_MS;
    }
    if (!concurrency_ok(c, now)) {
        put_int(c, "X-Rate-Limit-Limit", 0);
        put_int(c, "X-Rate-Limit-Remaining", 0);
        put_int(c, "X-Rate-Limit-Reset", (st->reset_ms + 999) / 1000);
        okta__error(c, 429, "E0000047", "API call exceeded rate limit due to too many requests.", NULL);
        return false;
    }
    bool over = st->used >= st->limit;
    if (!over)
        st->used++;
    put_int(c, "X-Rate-Limit-Limit", st->limit);
    put_int(c, "X-Rate-Limit-Remaining", st->limit - st->used);
    put_int(c, "X-Rate-Limit-Reset", (st->reset_ms + 999) / 1000);
    if (over) {
        okta__error(c, 429, "E0000047", "API call exceeded rate limit due to too many requests.", NULL);
        return false;
    }
    return true;
}

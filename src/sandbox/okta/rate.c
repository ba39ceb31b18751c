/* okta/rate.c — Okta's per-bucket, per-minute rate limits, each
 * credential's share of them, and the concurrency limit.
 *
 * Buckets follow the historical Workforce column of Okta's table
 * (rl-global-mgmt; docs/okta.md): a path counts in its base URL's bucket,
 * extensions included, unless the row says "only" — so
 * /api/v1/apps/{id}/users is in the /api/v1/apps bucket (100), not
 * /api/v1/apps/{id} (500). `--rate-limit N` (or /_sandbox/okta/config) sets
 * every bucket to N a minute. A bucket's window opens at its first request
 * and lasts rate_window_ms (60 s; Okta's windows are not aligned to the
 * clock). Every answer carries X-Rate-Limit-Limit / -Remaining / -Reset
 * (epoch seconds) with the org-wide figures; over the budget the answer is
 * 429 E0000047 until the reset.
 *
 * Per-credential share (rl2-token-oauth): one API token or OAuth app may use
 * at most token_share % (default 50) of each bucket per window; past it the
 * answer is 429 E0000047 while the headers still show the org-wide figures
 * (what Okta's headers show then is not documented: inferred). Requests
 * without a valid credential count org-wide only.
 *
 * Concurrency: a request is in flight from the moment it is handled until
 * its answer is due (now + the injected latency). More than
 * concurrency_limit in flight gives 429 with X-Rate-Limit-Limit: 0 and
 * Remaining: 0, as Okta does. Called with sb->lock held. */
#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"
#include "sandbox/okta/internal.h"

static const struct {
    const char *name;
    int limit;
} bucket_table[SBOK_B_COUNT] = {
    [SBOK_B_USERS] = {"/api/v1/users", 600},
    [SBOK_B_USER_GET] = {"GET /api/v1/users/{idOrLogin}", 2000},
    [SBOK_B_USER_ID] = {"POST|PUT|DELETE /api/v1/users/{id}", 600},
    [SBOK_B_GROUPS] = {"/api/v1/groups", 500},
    [SBOK_B_GROUP_ID] = {"/api/v1/groups/{id}", 1000},
    [SBOK_B_APPS] = {"/api/v1/apps", 100},
    [SBOK_B_APP_ID] = {"/api/v1/apps/{id}", 500},
    [SBOK_B_LOGS] = {"/api/v1/logs", 120},
    [SBOK_B_TOKEN] = {"/oauth2/v1/token", 2000},
    [SBOK_B_OTHER] = {"/api/v1/*", 1200},
};

int sbok__bucket_default(enum sbok_bucket b)
{
    return bucket_table[b].limit;
}

const char *sbok__bucket_name(enum sbok_bucket b)
{
    return bucket_table[b].name;
}

enum sbok_bucket sbok__bucket_for(const char *method, char *const *seg, int nseg, bool oauth)
{
    if (oauth)
        return SBOK_B_TOKEN;
    if (nseg == 0)
        return SBOK_B_OTHER;
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(seg[0], "users") == 0) {
        if (nseg == 2) /* the "only" rows: /api/v1/users/{idOrLogin} itself */
            return get ? SBOK_B_USER_GET : SBOK_B_USER_ID;
        /* "Only GET or POST to /api/v1/users", extensions included; other
         * methods on a sub-path fall to "most other" (inferred). */
        return get || post ? SBOK_B_USERS : SBOK_B_OTHER;
    }
    if (strcmp(seg[0], "groups") == 0)
        return nseg == 2 ? SBOK_B_GROUP_ID : SBOK_B_GROUPS;
    if (strcmp(seg[0], "apps") == 0)
        return nseg == 2 ? SBOK_B_APP_ID : SBOK_B_APPS;
    if (strcmp(seg[0], "logs") == 0)
        return SBOK_B_LOGS;
    return SBOK_B_OTHER;
}

void sbok__rate_reset(struct sbok_org *o)
{
    for (int b = 0; b < SBOK_B_COUNT; b++) {
        o->buckets[b].limit = o->rate_override > 0 ? o->rate_override : bucket_table[b].limit;
        o->buckets[b].used = 0;
        o->buckets[b].reset_ms = 0;
        o->buckets[b].nprincipals = 0;
    }
    memset(o->inflight, 0, sizeof o->inflight);
}

static void put_int(struct sbok_ctx *c, const char *name, long long v)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", v);
    sbok__header(c, name, s);
}

/* Counts the request against the concurrency limit; false when over. */
static bool concurrency_ok(struct sbok_ctx *c, int64_t now)
{
    struct sbok_org *o = c->o;
    int live = 0, free_slot = -1;
    for (int i = 0; i < SBOK_MAX_CONCURRENCY_TRACK; i++) {
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

/* The credential's counter in st (added when new); NULL when the table is
 * full (the request then counts org-wide only). */
static struct sbok_principal_use *principal_use(struct sbok_bucket_state *st, const char *key)
{
    for (int i = 0; i < st->nprincipals; i++) {
        if (strcmp(st->principals[i].key, key) == 0)
            return &st->principals[i];
    }
    if (st->nprincipals >= SBOK_MAX_PRINCIPALS)
        return NULL;
    struct sbok_principal_use *pu = &st->principals[st->nprincipals++];
    snprintf(pu->key, sizeof pu->key, "%s", key);
    pu->used = 0;
    return pu;
}

/* What one credential may use of a bucket's limit: the share, rounded
 * down, at least one call while the bucket allows any (inferred). */
static int principal_cap(const struct sbok_org *o, const struct sbok_bucket_state *st)
{
    long cap = (long)st->limit * o->token_share / 100;
    return st->limit > 0 && cap < 1 ? 1 : (int)cap;
}

bool sbok__rate_check(struct sbok_ctx *c, enum sbok_bucket b)
{
    struct sbok_bucket_state *st = &c->o->buckets[b];
    int64_t now = time_now_ms();
    if (st->reset_ms <= now) {
        st->used = 0;
        st->nprincipals = 0;
        st->reset_ms = now + c->o->rate_window_ms;
    }
    if (!concurrency_ok(c, now)) {
        put_int(c, "X-Rate-Limit-Limit", 0);
        put_int(c, "X-Rate-Limit-Remaining", 0);
        put_int(c, "X-Rate-Limit-Reset", (st->reset_ms + 999) / 1000);
        sbok__error(c, 429, "E0000047", "API call exceeded rate limit due to too many requests.", NULL);
        return false;
    }
    bool over = st->used >= st->limit;
    struct sbok_principal_use *pu = c->principal[0] && !over ? principal_use(st, c->principal) : NULL;
    if (pu && pu->used >= principal_cap(c->o, st))
        over = true; /* this credential's share is spent; the org's is not */
    if (!over) {
        st->used++;
        if (pu)
            pu->used++;
    }
    put_int(c, "X-Rate-Limit-Limit", st->limit);
    put_int(c, "X-Rate-Limit-Remaining", st->limit - st->used);
    put_int(c, "X-Rate-Limit-Reset", (st->reset_ms + 999) / 1000);
    if (over) {
        sbok__error(c, 429, "E0000047", "API call exceeded rate limit due to too many requests.", NULL);
        return false;
    }
    return true;
}

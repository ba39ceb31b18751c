/* okta/logs.c — the System Log: building LogEvents for what happens in the
 * sandbox, and GET /api/v1/logs with Okta's polling contract.
 *
 * Events are spec-shaped (LogEvent of the official spec): properties the
 * spec does not declare nullable are left out rather than sent as null, as
 * Okta's forward-compatibility rule allows ("null may be left out").
 * user.account.lock has no `target`, and its actor is the locked user, as in
 * the real sample (06).
 *
 * Polling contract: a request without `until` is a polling request; its
 * answer always carries a `next` link whose `after` cursor
 * ("<published ms>_<seq>") is the last event returned (or, on an empty page,
 * the newest event examined), so following `next` returns every event exactly
 * once. Called with sb->lock held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "sandbox/okta/internal.h"

#define LOG_DEFAULT_LIMIT 100
#define LOG_MAX_LIMIT 1000
#define LOG_DEFAULT_SINCE_MS (7LL * 24 * 3600 * 1000)   /* since defaults to 7 days ago */
#define LOG_MAX_SINCE_MS (180LL * 24 * 3600 * 1000)     /* E0000053 beyond 180 days */
#define LOG_MAX_KEYWORD 40
#define LOG_MAX_FILTER_ECHO 200 /* characters of a bad filter quoted back in its error */

/* The event types the sandbox emits, with their display texts. Whether an
 * event hook may subscribe to a type is not here: it is Okta's list
 * (connectors/okta/eligible.h), shared with the connector. */
struct evtype {
    const char *type;
    const char *display;  /* displayMessage (catalog description or real sample) */
    const char *legacy;   /* legacyEventType seen in a real sample, or NULL */
    const char *severity;
};

static const struct evtype evtypes[] = {
    {"user.lifecycle.create", "Create Okta user", NULL, "INFO"},
    {"user.lifecycle.activate", "Activate Okta user", NULL, "INFO"},
    {"user.lifecycle.reactivate", "Reactivate Okta user", NULL, "INFO"},
    {"user.lifecycle.deactivate", "Deactivate Okta User", "core.user.config.user_deactivated", "INFO"},
    {"user.lifecycle.suspend", "Suspend Okta user", NULL, "INFO"},
    {"user.lifecycle.unsuspend", "Unsuspend Okta user", NULL, "INFO"},
    {"user.lifecycle.delete.initiated", "Delete Okta user initiated", NULL, "INFO"},
    {"user.lifecycle.delete.completed", "Delete Okta user completed", NULL, "INFO"},
    {"user.account.update_profile", "Update user profile for Okta", NULL, "INFO"},
    {"user.account.lock", "Max sign in attempts exceeded", "core.user_auth.account_locked", "DEBUG"},
    {"user.account.lock.limit", "User account lock limit reached", NULL, "WARN"},
    {"user.account.unlock", "Auto-unlock user account", NULL, "INFO"},
    {"user.account.unlock_by_admin", "User account unlock by admin", NULL, "INFO"},
    {"user.account.reset_password", "Reset user password", NULL, "INFO"},
    {"user.account.expire_password", "Expire user password", NULL, "INFO"},
    {"user.account.update_password", "Update user password", NULL, "INFO"},
    {"user.mfa.factor.reset_all", "Reset all factors for user", NULL, "INFO"},
    {"user.session.start", "User login to Okta", "core.user_auth.login_success", "INFO"},
    {"user.session.clear", "Clear user session", NULL, "INFO"},
    {"group.user_membership.add", "Add user to group membership", "core.user_group_member.user_add", "INFO"},
    {"group.user_membership.remove", "Remove user from group membership", NULL, "INFO"},
    {"application.user_membership.add", "Add user to application membership", NULL, "INFO"},
    {"application.user_membership.remove", "Remove user's application membership", NULL, "INFO"},
    {"application.user_membership.update", "Update user's application membership", NULL, "INFO"},
    {"event_hook.delivery", "Event hook delivery", NULL, "WARN"},
};

static const struct evtype *evtype_of(const char *t)
{
    for (size_t i = 0; i < sizeof evtypes / sizeof evtypes[0]; i++)
        if (strcmp(evtypes[i].type, t) == 0)
            return &evtypes[i];
    return NULL;
}

json_t *sbok__event_new(struct sbok_ctx *c, const char *event_type)
{
    const struct evtype *et = evtype_of(event_type);
    char uuid[37], now[32], url[HTTP_MAX_URL + 2];
    sbok__uuid(uuid);
    sbok__now_iso(now);
    snprintf(url, sizeof url, "%s?%s", c->req ? c->req->raw_path : "/", c->req ? c->req->query : "");
    if (!c->actor) /* nothing set the caller: Okta's own system principal */
        c->actor = json_pack("{s:s, s:s, s:s, s:s}", "id", "0oa1sandboxsystem000", "type", "SystemPrincipal",
                             "alternateId", "system@okta.com", "displayName", "Okta System");
    json_t *detail = json_object();
    if (c->token_id[0])
        json_object_set_new(detail, "requestApiTokenId", json_string(c->token_id));
    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s,"
        " s:O,"
        " s:{s:{s:s, s:s, s:s}, s:s, s:s, s:s},"
        " s:{s:i, s:s},"
        " s:{s:s},"
        " s:{s:s, s:s, s:o},"
        " s:{s:{s:s, s:s, s:s}},"
        " s:{s:[{s:s, s:s}]},"
        " s:{}}",
        "uuid", uuid, "published", now, "eventType", event_type, "version", "0", "severity",
        et ? et->severity : "INFO", "displayMessage", et ? et->display : event_type,
        "actor", c->actor,
        "client", "userAgent", "rawUserAgent", c->ua ? c->ua : "unknown", "os", "Unknown", "browser", "UNKNOWN",
        "zone", "null", "device", "Unknown", "ipAddress", c->ip ? c->ip : "127.0.0.1",
        "authenticationContext", "authenticationStep", 0, "externalSessionId", "unknown",
        "outcome", "result", "SUCCESS",
        "transaction", "type", "WEB", "id", c->request_id, "detail", detail,
        "debugContext", "debugData", "requestId", c->request_id, "requestUri", c->req ? c->req->raw_path : "/",
        "url", url,
        "request", "ipChain", "ip", c->ip ? c->ip : "127.0.0.1", "version", "V4",
        "securityContext");
    if (ev && et && et->legacy)
        json_object_set_new(ev, "legacyEventType", json_string(et->legacy));
    if (ev)
        json_object_set_new(ev, "target", json_array());
    return ev;
}

void sbok__event_target(json_t *ev, const char *type, const char *id, const char *alt, const char *display)
{
    json_t *t = json_object_get(ev, "target");
    if (!t) {
        t = json_array();
        json_object_set_new(ev, "target", t);
    }
    json_array_append_new(t, json_pack("{s:s, s:s, s:s, s:s}", "id", id ? id : "", "type", type,
                                       "alternateId", alt ? alt : "unknown", "displayName",
                                       display ? display : ""));
}

void sbok__event_target_user(json_t *ev, const json_t *user)
{
    char name[256];
    sbok__user_display(user, name, sizeof name);
    sbok__event_target(ev, "User", json_string_value(json_object_get(user, "id")),
                       json_string_value(json_object_get(json_object_get(user, "profile"), "login")), name);
}

void sbok__event_target_group(json_t *ev, const json_t *group)
{
    sbok__event_target(ev, "UserGroup", json_string_value(json_object_get(group, "id")), "unknown",
                       json_string_value(json_object_get(json_object_get(group, "profile"), "name")));
}

void sbok__event_target_app(json_t *ev, const json_t *app)
{
    const char *label = json_string_value(json_object_get(app, "label"));
    sbok__event_target(ev, "AppInstance", json_string_value(json_object_get(app, "id")), label, label);
}

void sbok__event_commit(struct sbok_ctx *c, json_t *ev)
{
    struct sbok_org *o = c->o;
    if (!ev)
        return;
    json_object_set_new(ev, "_sbx", json_pack("{s:I}", "seq", (json_int_t)sbok__next_seq(o)));
    json_array_append(o->logs, ev);
    if (!c->events)
        c->events = json_array();
    json_array_append_new(c->events, ev);
    /* Retention: drop the oldest beyond the cap. */
    size_t n = json_array_size(o->logs);
    if (n > SBOK_MAX_LOG_EVENTS) {
        json_t *keep = json_array();
        for (size_t i = n - SBOK_MAX_LOG_EVENTS; i < n; i++)
            json_array_append(keep, json_array_get(o->logs, i));
        json_decref(o->logs);
        o->logs = keep;
    }
}

void sbok__event_user(struct sbok_ctx *c, const char *event_type, const json_t *user)
{
    json_t *ev = sbok__event_new(c, event_type);
    if (!ev)
        return;
    sbok__event_target_user(ev, user);
    sbok__event_commit(c, ev);
}

/* ---------------------------------------------------- GET /logs */

static int64_t published_ms(const json_t *ev)
{
    return sbok__iso_ms(json_string_value(json_object_get(ev, "published")));
}

/* True when every keyword of q appears in the event's text fields. */
static bool q_match(const json_t *ev, char kw[][LOG_MAX_KEYWORD + 1], int nkw)
{
    if (nkw == 0)
        return true;
    char *text = json_dumps(ev, JSON_COMPACT);
    bool all = text != NULL;
    for (int i = 0; all && i < nkw; i++)
        all = strcasestr(text, kw[i]) != NULL;
    free(text);
    return all;
}

/* 400 E0000001 for a since/until that does not parse, in the words of
 * Okta's System Log query guide ("Errors": the `until` example). */
static void bad_date(struct sbok_ctx *c, const char *param)
{
    char summary[320], c1[160], c2[80];
    snprintf(summary, sizeof summary,
             "Api validation failed: '%s': The date format in your query is not recognized. Please enter dates "
             "using ISO8601 string format. '%s': must be a valid date-time or empty.",
             param, param);
    snprintf(c1, sizeof c1,
             "%s: The date format in your query is not recognized. Please enter dates using ISO8601 string format.",
             param);
    snprintf(c2, sizeof c2, "%s: must be a valid date-time or empty.", param);
    const char *causes[] = {c1, c2, NULL};
    sbok__error(c, 400, "E0000001", summary, causes);
}

void sbok__logs_list(struct sbok_ctx *c)
{
    struct sbok_org *o = c->o;
    struct sbok_expr *expr = NULL;
    struct idf_err err = {0};
    const char *since_s = sbok__q(c, "since"), *until_s = sbok__q(c, "until");
    const char *after_s = sbok__q(c, "after"), *filter = sbok__q(c, "filter");
    const char *q = sbok__q(c, "q"), *order = sbok__q(c, "sortOrder");
    int64_t now = time_now_ms(), since = now - LOG_DEFAULT_SINCE_MS, until = -1, after = -1;
    int limit;
    char kw[SBOK_MAX_Q_KEYWORDS][LOG_MAX_KEYWORD + 1];
    int nkw = 0;

    if (since_s && !*since_s) /* "must be a valid date-time or empty" */
        since_s = NULL;
    if (until_s && !*until_s)
        until_s = NULL;
    if (!sbok__q_limit(c, LOG_DEFAULT_LIMIT, LOG_MAX_LIMIT, &limit))
        return;
    bool desc = order && strcasecmp(order, "DESCENDING") == 0;
    if (order && !desc && strcasecmp(order, "ASCENDING") != 0) {
        sbok__error1(c, 400, "E0000001", "Api validation failed: 'sortOrder': must be ASCENDING or DESCENDING.",
                     "sortOrder: must be ASCENDING or DESCENDING.");
        return;
    }
    if (since_s && after_s) {
        sbok__error1(c, 400, "E0000031", "Invalid search criteria.", "since and after are mutually exclusive");
        return;
    }
    if (since_s && (since = sbok__iso_ms(since_s)) < 0)
        return bad_date(c, "since");
    if (until_s && (until = sbok__iso_ms(until_s)) < 0)
        return bad_date(c, "until");
    if (since < now - LOG_MAX_SINCE_MS) {
        sbok__error(c, 400, "E0000053",
                    "Invalid parameter: The since parameter is over 180 days prior to the current day.", NULL);
        return;
    }
    if (after_s) {
        const char *us = strchr(after_s, '_');
        char *end = NULL;
        after = strtoll(us ? us + 1 : after_s, &end, 10);
        if (!*after_s || *end || after < 0) {
            sbok__error(c, 400, "E0000029", "Invalid paging request.", NULL);
            return;
        }
        since = -1; /* the cursor replaces since */
    }
    if (filter && sbok__expr_parse(filter, SBOK_EXPR_LOG_FILTER, &expr, &err) != 0) {
        char summary[LOG_MAX_FILTER_ECHO + sizeof err.msg + 32];
        snprintf(summary, sizeof summary, "Invalid filter '%.*s': %s", LOG_MAX_FILTER_ECHO, filter, err.msg);
        sbok__error(c, 400, "E0000053", summary, NULL);
        return;
    }
    if (q) {
        const char *p = q;
        while (*p) {
            while (*p == ' ')
                p++;
            size_t len = strcspn(p, " ");
            if (!len)
                break;
            if (len > LOG_MAX_KEYWORD || nkw >= SBOK_MAX_Q_KEYWORDS) {
                sbok__expr_free(expr);
                sbok__error(c, 400, "E0000001",
                            len > LOG_MAX_KEYWORD
                                ? "Api validation failed: 'q': Freeform search cannot contain items longer than 40 "
                                  "characters. Please shorten the items in your search or use an advanced filter to "
                                  "query by specific fields."
                                : "Api validation failed: 'q': Freeform search cannot contain more than 10 items. "
                                  "Please use an advanced filter to query by specific fields.",
                            NULL);
                return;
            }
            memcpy(kw[nkw], p, len);
            kw[nkw++][len] = '\0';
            p += len;
        }
    }

    bool polling = until < 0 && !desc;
    json_t *page = json_array();
    size_t n = json_array_size(o->logs);
    int64_t cur_seq = after, cur_ms = 0;
    bool more = false;
    for (size_t k = 0; k < n; k++) {
        size_t i = desc ? n - 1 - k : k;
        json_t *ev = json_array_get(o->logs, i);
        int64_t seq = sbok__seq_of(ev), pub = published_ms(ev);
        if (after >= 0 && (desc ? seq >= after : seq <= after))
            continue;
        if ((since >= 0 && pub < since) || (until >= 0 && pub >= until))
            continue;
        bool match = (!expr || sbok__expr_match(expr, ev, NULL, NULL)) && q_match(ev, kw, nkw);
        if (match && (int)json_array_size(page) >= limit) {
            more = true;
            break;
        }
        if (match)
            json_array_append_new(page, sbok__public(ev));
        if (match || polling) { /* a polling cursor also moves past what did not match */
            cur_seq = seq;
            cur_ms = pub;
        }
    }
    sbok__expr_free(expr);

    sbok__link(c, "self", NULL, true);
    if (polling || more) {
        char cur[48];
        if (cur_seq < 0) {
            /* Nothing after `since` yet: every later event is newer than the newest now. */
            json_t *tail = json_array_get(o->logs, n - 1);
            cur_seq = n ? sbok__seq_of(tail) : 0;
            cur_ms = n ? published_ms(tail) : now;
        }
        snprintf(cur, sizeof cur, "%lld_%lld", (long long)cur_ms, (long long)cur_seq);
        sbok__link(c, "next", cur, true);
    }
    sbok__json(c, 200, page);
}

/* events.c — normalization of Okta System Log LogEvents into idflow events
 * (DESIGN.md §1 and §3): which trigger an eventType raises, and who "the
 * user", "the group", "the app" and "the actor" of an event are; which of a
 * trigger's event types an event hook can carry (Okta's list, eligible.h)
 * and so when a hook-only connection can never receive them.
 *
 * Leaves authentication, HTTP and polling to triggers.c and poll.c. Pure
 * functions over jansson values: safe on any thread.
 *
 * Rules (API-NOTES §g–§h): targets are found by their `type`, never by
 * position; types, eventTypes and outcomes are compared case-insensitively
 * (the Admin Console preview sends "Success"); a null or missing actor,
 * target, transaction or outcome yields null members, never an error; the
 * user of user.account.lock is the ACTOR (its target list is null); every
 * normalized event keeps the LogEvent whole as `raw`. */
#include <ctype.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "connectors/okta/eligible.h"
#include "connectors/okta/events.h"
#include "core/log.h"

struct mapping {
    const char *event_type; /* Okta eventType */
    const char *trigger;    /* idflow trigger name */
    bool user_is_actor;     /* the subject is the actor (user.account.lock) */
    bool on_failure;        /* raised whatever the outcome */
};

static const struct mapping mappings[] = {
    {"user.lifecycle.create", "okta.user_created", false, false},
    {"user.lifecycle.activate", "okta.user_activated", false, false},
    {"user.lifecycle.reactivate", "okta.user_reactivated", false, false},
    {"user.lifecycle.deactivate", "okta.user_deactivated", false, false},
    {"user.lifecycle.suspend", "okta.user_suspended", false, false},
    {"user.lifecycle.unsuspend", "okta.user_unsuspended", false, false},
    {"user.account.update_profile", "okta.user_profile_updated", false, false},
    {"user.account.lock", "okta.user_locked", true, true},
    {"user.account.unlock", "okta.user_unlocked", false, false},
    {"user.account.unlock_by_admin", "okta.user_unlocked", false, false},
    {"user.account.reset_password", "okta.password_reset", false, false},
    {"group.user_membership.add", "okta.user_added_to_group", false, false},
    {"group.user_membership.remove", "okta.user_removed_from_group", false, false},
    {"application.user_membership.add", "okta.user_assigned_to_app", false, false},
    {"application.user_membership.remove", "okta.user_unassigned_from_app", false, false},
    {NULL, NULL, false, false},
};

static const struct mapping *mapping_for(const char *event_type)
{
    if (!event_type)
        return NULL;
    for (const struct mapping *m = mappings; m->event_type; m++) {
        if (strcasecmp(m->event_type, event_type) == 0)
            return m;
    }
    return NULL;
}

static bool outcome_failed(const char *result)
{
    return result && (strcasecmp(result, "FAILURE") == 0 || strcasecmp(result, "DENY") == 0);
}

const char *oktac__trigger_for(const char *event_type, const char *outcome_result)
{
    const struct mapping *m = mapping_for(event_type);
    if (!m || (!m->on_failure && outcome_failed(outcome_result)))
        return "okta.event";
    return m->trigger;
}

/* A string member, or NULL when absent, null or not a string. */
static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A copy of s as a JSON string, or json null. */
static json_t *str_or_null(const char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    return v ? v : json_null();
}

/* The first target whose type equals type (case-insensitive), or NULL. */
static const json_t *target_of(const json_t *ev, const char *type)
{
    const json_t *targets = json_object_get(ev, "target");
    size_t i;
    const json_t *t;

    if (!json_is_array(targets))
        return NULL;
    json_array_foreach(targets, i, t)
    {
        const char *tt = str_of(t, "type");
        if (json_is_object(t) && tt && strcasecmp(tt, type) == 0)
            return t;
    }
    return NULL;
}

/* {id, login, name, type} of a User actor or target; null when absent. */
static json_t *user_of(const json_t *who)
{
    if (!json_is_object(who))
        return json_null();
    return json_pack("{s:o,s:o,s:o,s:o}", "id", str_or_null(str_of(who, "id")), "login",
                     str_or_null(str_of(who, "alternateId")), "name", str_or_null(str_of(who, "displayName")),
                     "type", str_or_null(str_of(who, "type")));
}

/* A UserGroup target: {id, name} (its alternateId is often "unknown"). */
static json_t *group_of(const json_t *t)
{
    if (!t)
        return json_null();
    return json_pack("{s:o,s:o}", "id", str_or_null(str_of(t, "id")), "name",
                     str_or_null(str_of(t, "displayName")));
}

/* An AppInstance target: {id, name (displayName), label (alternateId)}. */
static json_t *app_of(const json_t *t)
{
    if (!t)
        return json_null();
    return json_pack("{s:o,s:o,s:o}", "id", str_or_null(str_of(t, "id")), "name",
                     str_or_null(str_of(t, "displayName")), "label", str_or_null(str_of(t, "alternateId")));
}

/* changeDetails {from: {k: v}, to: {k: v}} of the subject target (or of the
 * first target having some) as {k: {from, to}}; null when there are none. */
static json_t *changes_of(const json_t *ev, const json_t *subject)
{
    const json_t *cd = json_object_get(subject, "changeDetails");
    const json_t *from, *to, *v;
    const char *k;
    json_t *out;

    if (!json_is_object(cd)) {
        const json_t *targets = json_object_get(ev, "target");
        size_t i;
        const json_t *t;
        cd = NULL;
        json_array_foreach(targets, i, t)
        {
            if (json_is_object(json_object_get(t, "changeDetails"))) {
                cd = json_object_get(t, "changeDetails");
                break;
            }
        }
        if (!cd)
            return json_null();
    }
    from = json_object_get(cd, "from");
    to = json_object_get(cd, "to");
    out = json_object();
    if (!out)
        return NULL;
    json_object_foreach((json_t *)to, k, v)
    {
        json_t *f = json_object_get(from, k);
        json_object_set_new(out, k, json_pack("{s:O,s:O}", "from", f ? f : json_null(), "to", v));
    }
    json_object_foreach((json_t *)from, k, v)
    {
        if (!json_object_get(out, k))
            json_object_set_new(out, k, json_pack("{s:O,s:n}", "from", v, "to"));
    }
    return out;
}

/* outcome {result upper-cased, reason}; null when absent. */
static json_t *outcome_of(const json_t *ev, char *result, size_t n)
{
    const json_t *o = json_object_get(ev, "outcome");
    const char *r = str_of(o, "result");

    result[0] = '\0';
    if (!json_is_object(o))
        return json_null();
    if (r) {
        size_t i;
        for (i = 0; r[i] && i + 1 < n; i++)
            result[i] = (char)toupper((unsigned char)r[i]);
        result[i] = '\0';
    }
    return json_pack("{s:o,s:o}", "result", str_or_null(r ? result : NULL), "reason",
                     str_or_null(str_of(o, "reason")));
}

int oktac__event_normalize(const json_t *ev, json_t **out, char *msg, size_t msg_n)
{
    const char *uuid = str_of(ev, "uuid");
    const char *etype = str_of(ev, "eventType");
    const struct mapping *m;
    const json_t *actor, *subject;
    const char *trigger;
    json_t *o = NULL, *outcome;
    char result[32];

    *out = NULL;
    if (!json_is_object(ev)) {
        snprintf(msg, msg_n, "a LogEvent must be a JSON object");
        return IDF_EINVAL;
    }
    if (!uuid || !*uuid || strlen(uuid) > OKTAC_EV_MAX_ID) {
        snprintf(msg, msg_n, "a LogEvent has no uuid (or one longer than %d bytes)", OKTAC_EV_MAX_ID);
        return IDF_EINVAL;
    }
    if (etype && strlen(etype) > OKTAC_EV_MAX_TYPE)
        etype = NULL;
    m = mapping_for(etype);
    actor = json_object_get(ev, "actor");
    if (!json_is_object(actor))
        actor = NULL;
    outcome = outcome_of(ev, result, sizeof result);
    trigger = oktac__trigger_for(etype, result[0] ? result : NULL);
    subject = target_of(ev, "User");
    if (m && m->user_is_actor) {
        const char *at = str_of(actor, "type");
        /* the locked user is the actor; fall back to a User target if the actor is not a user */
        if (actor && (!at || strcasecmp(at, "User") == 0))
            subject = actor;
        else if (!subject)
            subject = actor;
    }
    if (!subject && !m && actor && str_of(actor, "type") && strcasecmp(str_of(actor, "type"), "User") == 0) {
        /* okta.event, best effort: with no User target (a sign-in), the user is the acting user */
        subject = actor;
    }
    o = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o}", "id", uuid, "type", trigger, "event_type", str_or_null(etype),
                  "time", str_or_null(str_of(ev, "published")), "display_message",
                  str_or_null(str_of(ev, "displayMessage")), "outcome", outcome);
    if (!o) {
        snprintf(msg, msg_n, "out of memory");
        return IDF_ENOMEM;
    }
    json_object_set_new(o, "user", user_of(subject));
    json_object_set_new(o, "group", group_of(target_of(ev, "UserGroup")));
    json_object_set_new(o, "app", app_of(target_of(ev, "AppInstance")));
    json_object_set_new(o, "actor", user_of(actor));
    json_object_set_new(o, "changes", changes_of(ev, subject));
    json_object_set_new(o, "api_token_id",
                        str_or_null(str_of(json_object_get(json_object_get(ev, "transaction"), "detail"),
                                           "requestApiTokenId")));
    /* the LogEvent itself, shared, not copied (a deep copy was ~2 % of a
     * flood's CPU): nothing writes to a normalized event's "raw", and
     * jansson's reference counts are atomic, so the delivery's body may be
     * freed on one thread while the event is stored on another */
    json_object_set(o, "raw", (json_t *)(uintptr_t)ev);
    *out = o;
    return 0;
}

int oktac__events_normalize(const json_t *list, json_t **out, char *msg, size_t msg_n)
{
    json_t *arr = NULL;
    size_t i;
    const json_t *ev;

    *out = NULL;
    if (!json_is_array(list)) {
        snprintf(msg, msg_n, "expected an array of LogEvents");
        return IDF_EINVAL;
    }
    if (json_array_size(list) > CONN_INGRESS_MAX_EVENTS) {
        snprintf(msg, msg_n, "%zu events in one batch: at most %d are accepted", json_array_size(list),
                 CONN_INGRESS_MAX_EVENTS);
        return IDF_ETOOBIG;
    }
    arr = json_array();
    if (!arr) {
        snprintf(msg, msg_n, "out of memory");
        return IDF_ENOMEM;
    }
    json_array_foreach(list, i, ev)
    {
        json_t *n = NULL;
        char why[200];
        int rc = oktac__event_normalize(ev, &n, why, sizeof why);
        if (rc == IDF_ENOMEM) {
            json_decref(arr);
            snprintf(msg, msg_n, "out of memory");
            return rc;
        }
        if (rc) {
            log_warn("okta: skipping event %zu of a batch: %s", i, why);
            continue;
        }
        json_array_append_new(arr, n);
    }
    *out = arr;
    return 0;
}

/* Appends t to arr (case-insensitively) unless it is there. */
static void add_unique(json_t *arr, const char *t)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (strcasecmp(json_string_value(v), t) == 0)
            return;
    }
    json_array_append_new(arr, json_string(t));
}

/* Okta's spelling of t into types when event hooks may carry it, else t into
 * left_out (when not NULL). */
static void add_type(json_t *types, json_t *left_out, const char *t)
{
    struct oktac_eligible e;
    if (oktac_event_hook_eligible(t, &e))
        add_unique(types, e.type);
    else if (left_out)
        add_unique(left_out, t);
}

bool oktac__event_types_for(const char *trigger, const json_t *params, json_t *types, json_t *left_out)
{
    const char *t;
    bool any = false;

    if (strcmp(trigger, "okta.event") == 0) {
        t = str_of(params, "type");
        if (!t || strchr(t, '*'))
            return false; /* a prefix cannot be subscribed: hooks take exact types */
        add_type(types, left_out, t);
        return true;
    }
    for (const struct mapping *m = mappings; m->event_type; m++) {
        if (strcmp(m->trigger, trigger) == 0) {
            add_type(types, left_out, m->event_type);
            any = true;
        }
    }
    return any;
}

bool oktac__reachable(const json_t *config, const char *trigger, const json_t *params, char *msg, size_t msg_n)
{
    const char *t = str_of(params, "type");
    json_t *types, *left_out;
    bool known, ok;

    if (conn_ingress_mode(config) != CONN_MODE_HOOK || strncmp(trigger, "okta.", 5) != 0)
        return true;
    if (strcmp(trigger, "okta.event") == 0 && t && strchr(t, '*')) {
        snprintf(msg, msg_n,
                 "okta.event type '%.200s' is a prefix, which an event hook cannot subscribe, and the connection's "
                 "mode is hook: its events would never arrive. Set the connection's mode to both (or poll) so the "
                 "System Log poller delivers them",
                 t);
        return false;
    }
    types = json_array();
    left_out = json_array();
    if (!types || !left_out) {
        json_decref(types);
        json_decref(left_out);
        return true; /* out of memory: no warning rather than a wrong one */
    }
    known = oktac__event_types_for(trigger, params, types, left_out);
    ok = !known || json_array_size(left_out) == 0;
    if (!ok)
        snprintf(msg, msg_n,
                 "Okta event type '%.200s' is not eligible for event hooks (Okta's list, release " OKTAC_ELIGIBLE_RELEASE
                 "), and the connection's mode is hook: its events would never arrive. Set the connection's mode to "
                 "both (or poll) so the System Log poller delivers them",
                 json_string_value(json_array_get(left_out, 0)));
    json_decref(types);
    json_decref(left_out);
    return ok;
}

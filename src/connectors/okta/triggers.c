/* triggers.c — the okta connector's triggers (DESIGN.md §3) and its ingress:
 * the event-hook handler behind /hooks/okta/<connection> (the one-time
 * verification GET and the authenticated deliveries) and the System Log
 * poll function (poll.c).
 *
 * Leaves the HTTP route, durability and deduplication to src/api/hooks.c and
 * the engine; normalization to events.c. The handler runs on the HTTP
 * server's threads concurrently and keeps no state.
 *
 * Security: a delivery is authenticated before its body is parsed; the
 * shared secret (the connection's sealed `hook_secret`, sent by Okta in the
 * Authorization header, API-NOTES §g) is compared in constant time over
 * BLAKE2b digests of both values, so neither the content nor the length of
 * the secret leaks through timing. Messages never quote the header. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "connectors/okta/events.h"
#include "connectors/toolkit.h"
#include "net/http.h"

/* ------------------------------------------------------------ triggers */

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The connection parameter: when set, only events of that connection. */
static bool connection_matches(const json_t *params, const json_t *event)
{
    const char *want = str_of(params, "connection");
    const char *got = str_of(event, "connection");
    return !want || (got && strcmp(want, got) == 0);
}

/* Loop prevention: ignore_own_token drops events caused by the API token of
 * the connection that received them (marked "own_token": true on ingress). */
static bool own_token_allowed(const json_t *params, const json_t *event)
{
    return !json_is_true(json_object_get(params, "ignore_own_token")) ||
           !json_is_true(json_object_get(event, "own_token"));
}

static bool match_common(const json_t *params, const json_t *event)
{
    return connection_matches(params, event) && own_token_allowed(params, event);
}

/* okta.event: `type` is an eventType, case-insensitive; a trailing '*'
 * matches a prefix ("user.session.*"). */
static bool match_event(const json_t *params, const json_t *event)
{
    const char *want = str_of(params, "type");
    const char *got = str_of(event, "event_type");
    size_t n;

    if (!match_common(params, event) || !want || !got)
        return false;
    n = strlen(want);
    if (n > 0 && want[n - 1] == '*')
        return strncasecmp(want, got, n - 1) == 0;
    return strcasecmp(want, got) == 0;
}

#define P_CONNECTION {"connection", CONN_P_STRING, false, "only events of this okta connection (default: any)"}
#define P_IGNORE_OWN                                                                                                   \
    {"ignore_own_token", CONN_P_BOOL, false,                                                                           \
     "ignore events caused by the connection's own API token (its token_id), to prevent loops"}

static const struct conn_param p_common[] = {P_CONNECTION, P_IGNORE_OWN, {NULL, 0, false, NULL}};
static const struct conn_param p_event[] = {
    {"type", CONN_P_STRING, true, "the Okta eventType, e.g. user.session.start; a trailing * matches a prefix"},
    P_CONNECTION,
    P_IGNORE_OWN,
    {NULL, 0, false, NULL},
};

#define T(name, doc) {name, doc, p_common, match_common}

const struct conn_trigger oktac__triggers[] = {
    T("okta.user_activated", "An Okta user was activated (user.lifecycle.activate). .event.user is the target user."),
    T("okta.user_profile_updated", "A user's profile changed (user.account.update_profile); .event.changes is "
                                   "{attribute: {from, to}} when Okta reports it."),
    T("okta.user_deactivated", "An Okta user was deactivated (user.lifecycle.deactivate)."),
    T("okta.user_locked", "Okta locked a user out after failed sign-ins (user.account.lock). .event.user is the "
                          "locked user (Okta's actor: the event has no target)."),
    T("okta.user_added_to_group", "A user was added to a group (group.user_membership.add); .event.group is "
                                  "{id, name}."),
    T("okta.user_removed_from_group", "A user was removed from a group (group.user_membership.remove)."),
    T("okta.user_suspended", "A user was suspended (user.lifecycle.suspend)."),
    T("okta.user_unsuspended", "A user was unsuspended (user.lifecycle.unsuspend)."),
    T("okta.user_unlocked", "A user was unlocked, by an admin or by the lockout policy (user.account.unlock, "
                            "user.account.unlock_by_admin)."),
    T("okta.user_created", "An Okta user was created (user.lifecycle.create)."),
    T("okta.user_reactivated", "A user was reactivated (user.lifecycle.reactivate)."),
    T("okta.user_assigned_to_app", "A user was assigned to an app (application.user_membership.add); .event.app "
                                   "is {id, name, label}."),
    T("okta.user_unassigned_from_app", "A user's app assignment was removed (application.user_membership.remove)."),
    T("okta.password_reset", "A user's password was reset (user.account.reset_password)."),
    {"okta.event",
     "Any other System Log event, by its eventType (event types with a dedicated okta.* trigger raise that "
     "trigger instead). User, group and app are filled on a best-effort basis. An event hook carries only the "
     "types Okta lists as hook-eligible (and no prefix): the others arrive by System Log polling, so their "
     "connection needs mode both or poll (idflow validate warns).",
     p_event, match_event},
    {NULL, NULL, NULL, NULL},
};

/* ---------------------------------------------------------- event hook */

/* Marks events caused by this connection's own API token (loop prevention). */
static void mark_own(json_t *events, const json_t *conn)
{
    const char *mine = str_of(conn, "token_id");
    size_t i;
    json_t *ev;

    if (!mine || !*mine)
        return;
    json_array_foreach(events, i, ev)
    {
        const char *t = str_of(ev, "api_token_id");
        if (t && strcmp(t, mine) == 0)
            json_object_set_new(ev, "own_token", json_true());
    }
}

static int okta_hook(const json_t *conn, const struct http_req *req, struct conn_hook_out *out)
{
    json_t *body = NULL, *events = NULL;
    char msg[300];
    int rc;

    if (strcmp(req->method, "GET") == 0) {
        /* Okta's one-time verification: echo the challenge (stores nothing) */
        const char *ch = http_req_header(req, "x-okta-verification-challenge");
        if (!ch || !*ch) {
            ctk_hook_answer(out, 400, "missing the x-okta-verification-challenge header");
        } else if (strlen(ch) > OKTAC_HOOK_MAX_CHALLENGE) {
            ctk_hook_answer(out, 400, "the verification challenge is too long");
        } else {
            out->status = 200;
            out->body = json_pack("{s:s}", "verification", ch);
            if (!out->body)
                return IDF_ENOMEM;
        }
        return 0;
    }
    if (strcmp(req->method, "POST") != 0) {
        ctk_hook_answer(out, 405, "use POST (deliveries) or GET (verification)");
        return 0;
    }
    if (!str_of(conn, "hook_secret")) {
        ctk_hook_answer(out, 401, "this connection has no hook_secret: event hooks are not enabled for it");
        return 0;
    }
    if (!ctk_secret_equal(str_of(conn, "hook_secret"), http_req_header(req, OKTAC_HOOK_HEADER))) {
        ctk_hook_answer(out, 401, "missing or wrong hook secret in the Authorization header");
        return 0;
    }
    if (ctk_hook_json(req, 0, out, &body))
        return 0;
    if (!json_is_object(body) || !json_is_array(json_object_get(json_object_get(body, "data"), "events"))) {
        ctk_hook_answer(out, 400, "not an Okta event-hook delivery: expected {\"data\": {\"events\": [...]}}");
        goto out;
    }
    rc = oktac__events_normalize(json_object_get(json_object_get(body, "data"), "events"), &events, msg, sizeof msg);
    if (rc == IDF_ENOMEM) {
        json_decref(body);
        return rc;
    }
    if (rc) {
        ctk_hook_answer(out, rc == IDF_ETOOBIG ? 413 : 400, msg);
        goto out;
    }
    mark_own(events, conn);
    out->status = 200;
    out->events = events;
out:
    json_decref(body);
    return 0;
}

/* ------------------------------------------------------- System Log poll */

static int okta_poll(struct conn_poll *p)
{
    int rc = oktac__poll(p);
    if (rc == 0 && p->events)
        mark_own(p->events, p->connection);
    return rc;
}

const struct conn_ingress oktac__ingress = {
    .hook = okta_hook,
    .poll = okta_poll,
    .poll_interval_ms = CONN_POLL_DEFAULT_MS,
    .register_hook = oktac__register_hook,
    .hook_secret_field = "hook_secret",
    .reachable = oktac__reachable,
};

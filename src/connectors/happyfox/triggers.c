/* triggers.c — the HappyFox trigger descriptors and their `match` functions
 * over a normalized ticket event:
 *
 *     {"type": "happyfox.ticket_status_changed",
 *      "ticket": {"number", "display_id", "status": {id, name, behavior},
 *                 "category": {id, name}, ...},
 *      "changes": {"status": {"from": {id, name, behavior} | name,
 *                             "to": {id, name, behavior} | name}}}
 *
 * NOT REGISTERED YET: happyfox.c leaves `triggers` NULL. These descriptors
 * join the connector's table with the triggers issue, which brings the
 * webhook (/hooks/happyfox/<connection>) and poller ingress that raise the
 * events; until then a validated workflow must not be able to listen for an
 * event that cannot come.
 *
 * Constant tables and pure functions; any thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/happyfox/happyfox_internal.h"

/* True when ref (a name or an id; NULL = no filter) names obj (an object
 * {id, name} or a bare name). */
static bool names(const json_t *ref, const json_t *obj)
{
    const char *want = json_string_value(ref), *name;
    char num[32];

    if (!ref || json_is_null(ref))
        return true;
    if (json_is_integer(ref)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(ref));
        want = num;
    }
    if (!want)
        return false;
    name = json_is_string(obj) ? json_string_value(obj) : json_string_value(json_object_get(obj, "name"));
    if (name && strcasecmp(name, want) == 0)
        return true;
    if (json_is_object(obj) && json_is_integer(json_object_get(obj, "id")) && *want &&
        strspn(want, "0123456789") == strlen(want))
        return json_integer_value(json_object_get(obj, "id")) == strtoll(want, NULL, 10);
    return false;
}

static bool category_ok(const json_t *params, const json_t *event)
{
    return names(json_object_get(params, "category"), json_object_get(json_object_get(event, "ticket"), "category"));
}

static const json_t *status_change(const json_t *event)
{
    const json_t *c = json_object_get(json_object_get(event, "changes"), "status");
    return json_is_object(c) ? c : NULL;
}

static bool completed(const json_t *status)
{
    const char *b = json_string_value(json_object_get(status, "behavior"));
    return b && strcmp(b, "completed") == 0;
}

static bool match_any(const json_t *params, const json_t *event)
{
    return category_ok(params, event);
}

static bool match_status_changed(const json_t *params, const json_t *event)
{
    const json_t *c = status_change(event);

    return c && category_ok(params, event) && names(json_object_get(params, "from"), json_object_get(c, "from")) &&
           names(json_object_get(params, "to"), json_object_get(c, "to"));
}

/* Moved into a status whose behavior is "completed" (from one that is not,
 * when the event says). */
static bool match_resolved(const json_t *params, const json_t *event)
{
    const json_t *c = status_change(event), *to, *from;

    if (!c || !category_ok(params, event))
        return false;
    to = json_object_get(c, "to");
    if (!json_is_object(to) || !json_object_get(to, "behavior"))
        to = json_object_get(json_object_get(event, "ticket"), "status");
    from = json_object_get(c, "from");
    return completed(to) && !(json_is_object(from) && completed(from));
}

#define P_CATEGORY                                                                                                     \
    {                                                                                                                  \
        "category", CONN_P_STRING, false, "only tickets of this category: name or id"                                  \
    }

static const struct conn_param tp_any[] = {P_CATEGORY, {NULL, 0, false, NULL}};
static const struct conn_param tp_status[] = {
    {"from", CONN_P_STRING, false, "only changes from this status: name or id"},
    {"to", CONN_P_STRING, false, "only changes to this status: name or id"},
    P_CATEGORY,
    {NULL, 0, false, NULL},
};

const struct conn_trigger hfc__triggers[] = {
    {"happyfox.ticket_created", "A ticket was created (idflow re-reads it before the run starts).", tp_any, match_any},
    {"happyfox.ticket_updated", "A ticket got an update: a reply, a note or a property change.", tp_any, match_any},
    {"happyfox.ticket_status_changed", "A ticket moved from one status to another.", tp_status, match_status_changed},
    {"happyfox.ticket_resolved", "A ticket moved into a status whose behavior is completed.", tp_any, match_resolved},
    {NULL, NULL, NULL, NULL},
};

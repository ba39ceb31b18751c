/* subjects.c — whom and what the happyfox connector's events and actions
 * concern (connector.h, "subjects"; issue 17): the ticket (its number and
 * display id, "#HF00000006") and its requester (the contact's email) of a
 * normalized event (hfc__event_subjects, the connector's event_subjects)
 * and of an action's output (hfc__report), with what a changing action did
 * in a few words for a person ("ticket #HF00000006 resolved").
 *
 * Reads only the output shape ticket.c's hfc__output writes and the event
 * shape ingress.c's ticket_view writes. Only identifiers go into subjects
 * (never a contact's name or phone). Pure over the call's result; any
 * thread. */
#include <stdio.h>
#include <string.h>

#include "connectors/happyfox/happyfox_internal.h"

#define KIND_TICKET "happyfox.ticket"
#define KIND_CONTACT "happyfox.contact"

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The ticket's number as text ("6") into buf; "" when it has none. */
static const char *number_text(const json_t *ticket, char *buf, size_t n)
{
    const json_t *v = json_object_get(ticket, "number");

    buf[0] = '\0';
    if (json_is_integer(v) && json_integer_value(v) > 0)
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v))
        snprintf(buf, n, "%s", json_string_value(v));
    return buf;
}

/* The ticket's subjects (into res through ctk_subject_add, or into an
 * array): the ticket by display id and number, its requester by email. */
static int ticket_subjects(struct conn_result *res, const json_t *ticket, const json_t *requester)
{
    char num[32];
    const char *disp = str_of(ticket, "display_id");
    const char *tk[] = {number_text(ticket, num, sizeof num), disp};
    const char *ck[] = {str_of(requester, "email")};
    int rc;

    if (!json_is_object(ticket))
        return 0;
    rc = ctk_subject_add(res, KIND_TICKET, disp && *disp ? disp : (num[0] ? num : NULL), tk, 2);
    if (rc == 0 && json_is_object(requester))
        rc = ctk_subject_add(res, KIND_CONTACT, ck[0], ck, 1);
    return rc;
}

int hfc__event_subjects(const json_t *event, json_t *out)
{
    const json_t *t = json_object_get(event, "ticket");
    struct conn_result r;
    int rc;

    memset(&r, 0, sizeof r);
    r.subjects = json_incref(out);
    rc = ticket_subjects(&r, t, json_object_get(t, "requester"));
    json_decref(r.subjects);
    return rc;
}

/* What each changing action did, for a person: before, the ticket's
 * display id (or "#<number>"), after. */
struct change_text {
    const char *action;
    const char *before, *after;
};

static const struct change_text changes[] = {
    {"happyfox.create_ticket", "ticket ", " created"},
    {"happyfox.reply", "reply sent on ", ""},
    {"happyfox.add_note", "note added to ", ""},
    {"happyfox.set_status", "ticket ", " set to "}, /* + the status; "resolved" for a completed one */
    {"happyfox.assign", "ticket ", " assigned"},    /* "unassigned" without an assignee */
    {"happyfox.update_custom_fields", "fields set on ", ""},
    {"happyfox.add_tags", "tags changed on ", ""},
    {NULL, NULL, NULL},
};

void hfc__report(struct hfc *h, int rc)
{
    struct conn_result *res = h->s.res;
    const json_t *out = res ? res->output : NULL;
    char num[32], name[40];
    const char *disp;

    if (rc || !json_is_object(out) || !json_object_get(out, "number"))
        return;
    if (ticket_subjects(res, out, json_object_get(out, "contact")))
        return; /* out of memory: the history misses a subject, the call stands */
    if (!json_is_true(json_object_get(out, "changed")))
        return;
    disp = str_of(out, "display_id");
    if (!disp || !*disp) {
        snprintf(name, sizeof name, "#%s", number_text(out, num, sizeof num));
        disp = name;
    }
    for (const struct change_text *c = changes; c->action; c++) {
        const char *extra = "";
        if (strcmp(c->action, h->s.action) != 0)
            continue;
        if (strcmp(c->action, "happyfox.set_status") == 0) {
            if (json_is_true(json_object_get(out, "resolved"))) {
                ctk_change(res, "ticket %s resolved", disp);
                return;
            }
            extra = str_of(json_object_get(out, "status"), "name") ?: "a new status";
        } else if (strcmp(c->action, "happyfox.assign") == 0 && !json_is_object(json_object_get(out, "assignee"))) {
            ctk_change(res, "ticket %s unassigned", disp);
            return;
        }
        ctk_change(res, "%s%s%s%s", c->before, disp, c->after, extra);
        return;
    }
}

/* actions_tickets.c — happyfox.create_ticket and happyfox.get_ticket.
 *
 * create_ticket is the connector's one write that makes a new object, so it
 * carries the duplicate-write guard for creation: every ticket it creates
 * gets the call's marker tag ("idflow-r<run>-<step>[-i<item>]"), and an
 * attempt made after one whose outcome is unknown (call->uncertain: a crash
 * between the call and its record, a timeout, a dropped answer) first looks
 * for a ticket with that tag and the same subject, and returns it with
 * changed: false instead of creating a second one. The look-up is a tag
 * search (q=tag:"..."), then, should the search find nothing or be refused,
 * a scan of the newest HFC_SEARCH_SIZE tickets of the category (a search
 * index may lag behind a ticket created a moment ago).
 *
 * Worker threads, concurrently; state per call only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/happyfox/happyfox_internal.h"
#include "net/http.h"

static bool has_tag(const json_t *ticket, const char *tag)
{
    const json_t *t;
    size_t i;

    json_array_foreach (json_object_get(ticket, "tags"), i, t) {
        if (json_is_string(t) && strcmp(json_string_value(t), tag) == 0)
            return true;
    }
    return false;
}

/* The first ticket of a list answer carrying marker with this subject (new reference) or NULL. */
static json_t *pick_marked(const json_t *answer, const char *marker, const char *subject)
{
    const json_t *list = json_is_array(answer) ? answer : json_object_get(answer, "data"), *t;
    size_t i;

    json_array_foreach (list, i, t) {
        const char *s = json_string_value(json_object_get(t, "subject"));
        if (has_tag(t, marker) && s && strcmp(s, subject) == 0)
            return json_incref((json_t *)t);
    }
    return NULL;
}

/* Looks for the ticket an earlier attempt created. 0 with *found_out (a
 * ticket, new reference) or NULL; a failure only when the look-up itself
 * could not be made (e.g. paced: retryable). */
static int find_created(struct hfc *h, const char *marker, const char *subject, int64_t category, json_t **found_out)
{
    char q[HFC_MARKER_MAX + 16], query[HFC_MAX_PATH];
    char *eq = NULL;
    json_t *answer = NULL;
    int rc;

    *found_out = NULL;
    snprintf(q, sizeof q, "tag:\"%s\"", marker);
    if (!(eq = http_urlencode(q)))
        return hfc__fail(h, IDF_ENOMEM, true, 0, "%s: out of memory", h->s.action);
    snprintf(query, sizeof query, "q=%s&status=_all&size=%d", eq, HFC_SEARCH_SIZE);
    free(eq);
    rc = hfc__request(h, "GET", "/tickets/", query, NULL, &answer);
    if (rc == 0)
        *found_out = pick_marked(answer, marker, subject);
    else if (h->s.res->retryable)
        return rc;
    json_decref(answer);
    answer = NULL;
    if (*found_out)
        return 0;
    /* the search found nothing (or was refused): scan the newest tickets */
    json_decref(h->s.res->detail);
    h->s.res->detail = NULL;
    snprintf(query, sizeof query, "status=_all&sort=created&size=%d&category=%lld", HFC_SEARCH_SIZE,
             (long long)category);
    rc = hfc__request(h, "GET", "/tickets/", query, NULL, &answer);
    if (rc == 0)
        *found_out = pick_marked(answer, marker, subject);
    json_decref(answer);
    return rc;
}

/* Reads the requester into body: contact (an id) or email (+ name). */
static int requester(struct hfc *h, const json_t *params, json_t *body)
{
    char scratch[32];
    const char *contact = hfc__param_str(params, "contact", scratch, sizeof scratch);
    const char *email = json_string_value(json_object_get(params, "email"));
    const char *name = json_string_value(json_object_get(params, "name"));

    if (contact) {
        if (strspn(contact, "0123456789") != strlen(contact) || !*contact || strlen(contact) > 18)
            return hfc__fail(h, IDF_EINVAL, false, 0, "%s: contact: expected a contact id (or give `email`)",
                             h->s.action);
        json_object_set_new(body, "client", json_integer(strtoll(contact, NULL, 10)));
        return 0;
    }
    if (!email || !*email || strlen(email) > 254 || !strchr(email, '@'))
        return hfc__fail(h, IDF_EINVAL, false, 0,
                         "%s: give the requester as `email` (and `name`), or `contact` (a contact id)", h->s.action);
    json_object_set_new(body, "email", json_string(email));
    if (name && *name) {
        json_object_set_new(body, "name", json_string(name));
    } else { /* HappyFox wants a name with an email: the address's local part */
        json_object_set_new(body, "name", json_stringn(email, (size_t)(strchr(email, '@') - email)));
    }
    return 0;
}

int hfc__act_create_ticket(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    struct hfc h;
    json_t *cat = NULL, *prio = NULL, *assignee = NULL, *tags = NULL, *body = json_object(), *t = NULL;
    json_t *found = NULL, *uid = NULL;
    const char *subject = json_string_value(json_object_get(params, "subject"));
    char marker[HFC_MARKER_MAX], *joined = NULL;
    const json_t *v;
    int rc;

    if ((rc = hfc__open(&h, call, res, "happyfox.create_ticket")) != 0)
        goto out;
    if (!subject || !*subject || strlen(subject) > HFC_MAX_SUBJECT) {
        rc = hfc__fail(&h, IDF_EINVAL, false, 0, "%s: subject: expected 1 to %d bytes", h.s.action, HFC_MAX_SUBJECT);
        goto out;
    }
    if ((rc = hfc__resolve(&h, HFC_REF_CATEGORY, json_object_get(params, "category"), "category", &cat)) != 0)
        goto out;
    json_object_set_new(body, "category", json_integer(hfc__item_id(cat)));
    json_object_set_new(body, "subject", json_string(subject));
    if ((rc = hfc__message(&h, params, NULL, body)) != 0 || (rc = requester(&h, params, body)) != 0)
        goto out;
    if ((v = json_object_get(params, "priority")) && !json_is_null(v)) {
        if ((rc = hfc__resolve(&h, HFC_REF_PRIORITY, v, "priority", &prio)) != 0)
            goto out;
        json_object_set_new(body, "priority", json_integer(hfc__item_id(prio)));
    }
    if ((v = json_object_get(params, "assignee")) && !json_is_null(v)) {
        if ((rc = hfc__resolve(&h, HFC_REF_STAFF, v, "assignee", &assignee)) != 0)
            goto out;
        json_object_set_new(body, "assignee", json_integer(hfc__item_id(assignee)));
    }
    if ((rc = hfc__tags_param(&h, json_object_get(params, "tags"), "tags", &tags)) != 0)
        goto out;
    hfc__marker(call, marker, sizeof marker);
    json_array_append_new(tags, json_string(marker));
    if (json_array_size(tags) > HFC_MAX_TAGS) {
        rc = hfc__fail(&h, IDF_EINVAL, false, 0, "%s: tags: at most %d (one is idflow's marker)", h.s.action,
                       HFC_MAX_TAGS - 1);
        goto out;
    }
    if (!(joined = hfc__join(tags))) {
        rc = hfc__fail(&h, IDF_ENOMEM, true, 0, "%s: out of memory", h.s.action);
        goto out;
    }
    json_object_set_new(body, "tags", json_string(joined));
    {
        static const char *const pass[] = {"due_date", "phone", NULL};
        for (int i = 0; pass[i]; i++) {
            if (json_is_string(v = json_object_get(params, pass[i])) && json_string_length(v))
                json_object_set(body, pass[i], (json_t *)v);
        }
        if (json_is_boolean(v = json_object_get(params, "visible_only_staff")))
            json_object_set(body, "visible_only_staff", (json_t *)v);
    }
    if ((v = json_object_get(params, "fields")) && !json_is_null(v) &&
        (rc = hfc__resolve_fields(&h, v, hfc__item_id(cat), body, NULL)) != 0)
        goto out;

    if (call->uncertain) {
        if ((rc = hfc__reserve_post(&h)) != 0 ||
            (rc = find_created(&h, marker, subject, hfc__item_id(cat), &found)) != 0)
            goto out;
        if (found) { /* the earlier attempt landed */
            int64_t first = hfc__newest_update_by(found, 0, 0);
            json_t *full = NULL;
            /* a list may leave updates out: read the ticket for its opening update */
            if (!json_object_get(found, "updates") && (rc = hfc__ticket_get(&h, hfc__item_id(found), NULL, &full)) != 0)
                goto out;
            if (full) {
                json_decref(found);
                found = full;
                first = hfc__newest_update_by(found, 0, 0);
            }
            uid = first ? json_integer(first) : json_null();
            res->output = hfc__output(found, uid, false);
            json_object_set_new(res->output, "recovered", json_true());
            json_object_set_new(res->output, "marker", json_string(marker));
            goto out;
        }
    }
    if ((rc = hfc__request(&h, "POST", "/tickets/", "", body, &t)) != 0)
        goto out;
    if (!json_is_object(t) || !json_is_integer(json_object_get(t, "id"))) {
        json_decref(h.s.res->detail);
        h.s.res->detail = json_pack("{s:b}", "outcome_unknown", 1);
        /* it may exist: retryable, and the next attempt looks for the marker first */
        rc = hfc__fail(&h, IDF_EREMOTE, true, 0, "%s: POST /tickets/: the answer is not a ticket", h.s.action);
        goto out;
    }
    uid = hfc__max_update_id(t) ? json_integer(hfc__max_update_id(t)) : json_null();
    res->output = hfc__output(t, uid, true);
    json_object_set_new(res->output, "marker", json_string(marker));
out:
    hfc__report(&h, rc); /* issue 17: its ticket, and what it changed */
    hfc__close(&h);
    json_decref(cat);
    json_decref(prio);
    json_decref(assignee);
    json_decref(tags);
    json_decref(body);
    json_decref(t);
    json_decref(found);
    json_decref(uid);
    free(joined);
    return rc;
}

int hfc__act_get_ticket(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    struct hfc h;
    json_t *t = NULL, *uid = NULL, *ups, *out_ups;
    const json_t *n = json_object_get(params, "updates");
    char display[64];
    int64_t number, keep = HFC_UPDATES_OUT_DEFAULT;
    int rc;

    if ((rc = hfc__open(&h, call, res, "happyfox.get_ticket")) != 0)
        goto out;
    if (json_is_integer(n)) {
        keep = json_integer_value(n);
        if (keep < 0 || keep > HFC_UPDATES_OUT_MAX) {
            rc = hfc__fail(&h, IDF_EINVAL, false, 0, "%s: updates: expected 0 to %d", h.s.action, HFC_UPDATES_OUT_MAX);
            goto out;
        }
    }
    if ((rc = hfc__ticket_ref(&h, params, &number, display, sizeof display)) != 0 ||
        (rc = hfc__lock_ticket(&h, number)) != 0 || (rc = hfc__ticket_get(&h, number, display, &t)) != 0)
        goto out;
    uid = hfc__max_update_id(t) ? json_integer(hfc__max_update_id(t)) : json_null();
    res->output = hfc__output(t, uid, false);
    ups = json_object_get(t, "updates");
    out_ups = json_array();
    for (size_t i = json_array_size(ups) > (size_t)keep ? json_array_size(ups) - (size_t)keep : 0;
         i < json_array_size(ups); i++)
        json_array_append(out_ups, json_array_get(ups, i));
    json_object_set_new(res->output, "updates", out_ups);
    json_object_set_new(res->output, "update_count", json_integer((json_int_t)json_array_size(ups)));
out:
    hfc__report(&h, rc); /* issue 17: its ticket, and what it changed */
    hfc__close(&h);
    json_decref(t);
    json_decref(uid);
    return rc;
}

/* actions_updates.c — the HappyFox actions that change an existing ticket:
 * happyfox.reply (staff_update), happyfox.add_note (staff_pvtnote),
 * happyfox.set_status, happyfox.assign, happyfox.update_custom_fields and
 * happyfox.add_tags.
 *
 * Every action holds the ticket's process-wide lock (client.c, budget.c)
 * from its first call on the ticket to its last, so calls on one ticket
 * never overlap within the process (HappyFox refuses concurrent calls on a
 * ticket).
 *
 * Two kinds of write:
 * - Messages (reply, add_note) are not idempotent and cannot be undone; they
 *   carry the call's marker in an invisible HTML comment. When the engine
 *   says an earlier attempt's outcome is unknown (call->uncertain), the
 *   ticket is read first and an update carrying the marker (or, for accounts
 *   that strip comments, the agent's newest update of the same kind with the
 *   same text) is returned with changed: false instead of posting again.
 * - Property changes (set_status, assign, update_custom_fields, add_tags)
 *   converge: the ticket is read first, and when it is already in the wanted
 *   state the step succeeds with changed: false and nothing is written.
 *
 * Worker threads, concurrently; state per call only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/happyfox/happyfox_internal.h"

/* POSTs body to /ticket/<n>/<endpoint>/ and finds the update it added: the
 * one carrying marker (when given), else the newest by staff_id (0 = anyone)
 * after after_id. *ticket_out is the ticket after the call (re-read when the
 * answer is not one); *uid_out the update id, 0 when none was added. */
static int post_update(struct hfc *h, int64_t number, const char *endpoint, const json_t *body, int64_t staff_id,
                       const char *marker, bool note, int64_t after_id, json_t **ticket_out, int64_t *uid_out)
{
    char path[96];
    json_t *t = NULL;
    int rc;

    *ticket_out = NULL;
    *uid_out = 0;
    snprintf(path, sizeof path, "/ticket/%lld/%s/", (long long)number, endpoint);
    if ((rc = hfc__request(h, "POST", path, "", body, &t)) != 0)
        return rc;
    if (!json_is_object(t) || !json_is_array(json_object_get(t, "updates"))) {
        json_decref(t);
        t = NULL;
        if ((rc = hfc__ticket_get(h, number, NULL, &t)) != 0)
            return rc;
    }
    if (marker)
        *uid_out = hfc__find_marked_update(t, marker, note, staff_id, NULL);
    if (!*uid_out)
        *uid_out = hfc__newest_update_by(t, staff_id, after_id);
    *ticket_out = t;
    return 0;
}

static json_t *uid_json(int64_t uid)
{
    return uid ? json_integer(uid) : json_null();
}

/* Resolves params[key] (name or id) into body[key] when present. */
static int optional_ref(struct hfc *h, const json_t *params, const char *key, enum hfc_ref_kind kind, json_t *body)
{
    const json_t *v = json_object_get(params, key);
    json_t *item = NULL;
    int rc;

    if (!v || json_is_null(v))
        return 0;
    if (kind == HFC_REF_STAFF && json_is_string(v) && json_string_length(v) == 0) {
        json_object_set_new(body, key, json_null()); /* "" unassigns */
        return 0;
    }
    if ((rc = hfc__resolve(h, kind, v, key, &item)) != 0)
        return rc;
    json_object_set_new(body, key, json_integer(hfc__item_id(item)));
    json_decref(item);
    return 0;
}

/* ------------------------------------------------------ reply, add_note */

/* Reads the properties a reply or note may change into body. */
static int message_props(struct hfc *h, const json_t *params, bool note, json_t *body)
{
    const json_t *v;
    json_t *tags = NULL;
    char *joined = NULL;
    int rc;

    if ((rc = optional_ref(h, params, "status", HFC_REF_STATUS, body)) != 0 ||
        (rc = optional_ref(h, params, "priority", HFC_REF_PRIORITY, body)) != 0 ||
        (rc = optional_ref(h, params, "assignee", HFC_REF_STAFF, body)) != 0)
        return rc;
    if ((v = json_object_get(params, "time_spent")) && json_is_integer(v)) {
        if (json_integer_value(v) < 0 || json_integer_value(v) > 100000)
            return hfc__fail(h, IDF_EINVAL, false, 0, "%s: time_spent: expected minutes, 0 to 100000", h->s.action);
        json_object_set(body, "time_spent", (json_t *)v);
    }
    if (json_is_string(v = json_object_get(params, "due_date")) && json_string_length(v))
        json_object_set(body, "due_date", (json_t *)v);
    if ((v = json_object_get(params, "tags")) && !json_is_null(v)) {
        if ((rc = hfc__tags_param(h, v, "tags", &tags)) != 0)
            return rc;
        if (json_array_size(tags)) {
            if (!(joined = hfc__join(tags))) {
                json_decref(tags);
                return hfc__fail(h, IDF_ENOMEM, true, 0, "%s: out of memory", h->s.action);
            }
            json_object_set_new(body, "tags", json_string(joined));
            free(joined);
        }
        json_decref(tags);
    }
    if ((v = json_object_get(params, "fields")) && !json_is_null(v) &&
        (rc = hfc__resolve_fields(h, v, 0, body, NULL)) != 0) /* the category is checked by HappyFox */
        return rc;
    if (note && (v = json_object_get(params, "alert")) && !json_is_null(v)) {
        const char *a = json_string_value(v);
        json_t *agent = NULL;
        if (a && (!strcasecmp(a, "s") || !strcasecmp(a, "subscribers"))) {
            json_object_set_new(body, "alert", json_string("s"));
        } else if (a && (!strcasecmp(a, "c") || !strcasecmp(a, "category"))) {
            json_object_set_new(body, "alert", json_string("c"));
        } else {
            if ((rc = hfc__resolve(h, HFC_REF_STAFF, v, "alert", &agent)) != 0)
                return rc;
            json_object_set_new(body, "alert", json_integer(hfc__item_id(agent)));
            json_decref(agent);
        }
    }
    return 0;
}

static int message_action(struct conn_call *call, const json_t *params, struct conn_result *res, bool note)
{
    struct hfc h;
    json_t *staff = NULL, *body = json_object(), *t = NULL, *uid = NULL;
    char display[64], marker[HFC_MARKER_MAX];
    const char *text = json_string_value(json_object_get(params, "text"));
    int64_t number, found = 0, added = 0;
    int rc;

    if ((rc = hfc__open(&h, call, res, note ? "happyfox.add_note" : "happyfox.reply")) != 0)
        goto out;
    if ((rc = hfc__ticket_ref(&h, params, &number, display, sizeof display)) != 0 ||
        (rc = hfc__acting_staff(&h, params, true, &staff)) != 0)
        goto out;
    hfc__marker(call, marker, sizeof marker);
    json_object_set_new(body, "staff", json_integer(hfc__item_id(staff)));
    if ((rc = hfc__message(&h, params, marker, body)) != 0 || (rc = message_props(&h, params, note, body)) != 0)
        goto out;
    if ((rc = hfc__lock_ticket(&h, number)) != 0 || (rc = hfc__reserve_post(&h)) != 0)
        goto out;
    if (call->uncertain || display[0]) {
        if ((rc = hfc__ticket_get(&h, number, display, &t)) != 0)
            goto out;
        if (call->uncertain)
            found = hfc__find_marked_update(t, marker, note, hfc__item_id(staff), text);
        if (found) { /* the earlier attempt landed */
            uid = json_integer(found);
            res->output = hfc__output(t, uid, false);
            json_object_set_new(res->output, "recovered", json_true());
            goto out;
        }
        json_decref(t);
        t = NULL;
    }
    if ((rc = post_update(&h, number, note ? "staff_pvtnote" : "staff_update", body, hfc__item_id(staff), marker, note,
                          0, &t, &added)) != 0)
        goto out;
    uid = uid_json(added);
    res->output = hfc__output(t, uid, true);
out:
    hfc__report(&h, rc); /* issue 17: its ticket, and what it changed */
    hfc__close(&h);
    json_decref(staff);
    json_decref(body);
    json_decref(t);
    json_decref(uid);
    return rc;
}

int hfc__act_reply(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    return message_action(call, params, res, false);
}

int hfc__act_add_note(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    return message_action(call, params, res, true);
}

/* --------------------------------------------- converging property changes */

/* What one converging action wants: fills body with the change (or leaves it
 * empty when the ticket is already as wanted) and may add to extra. */
typedef int (*want_fn)(struct hfc *h, const json_t *params, const json_t *ticket, const json_t *resolved, json_t *body,
                       json_t *extra);

struct prop_op {
    const char *action;   /* "happyfox.set_status" */
    const char *endpoint; /* "staff_update" */
    bool staff_required;  /* HappyFox needs an acting agent */
    want_fn want;
    /* Resolves what does not need the ticket, before its lock is taken
     * (names to ids); *resolved_out is passed to want. May be NULL. */
    int (*prepare)(struct hfc *h, const json_t *params, json_t **resolved_out);
};

static int prop_action(struct conn_call *call, const json_t *params, struct conn_result *res, const struct prop_op *op)
{
    struct hfc h;
    json_t *staff = NULL, *resolved = NULL, *t = NULL, *after = NULL, *body = json_object(), *extra = json_object();
    json_t *uid = NULL;
    char display[64];
    int64_t number, added = 0;
    int rc;

    if ((rc = hfc__open(&h, call, res, op->action)) != 0)
        goto out;
    if ((rc = hfc__ticket_ref(&h, params, &number, display, sizeof display)) != 0 ||
        (rc = hfc__acting_staff(&h, params, op->staff_required, &staff)) != 0 ||
        (op->prepare && (rc = op->prepare(&h, params, &resolved)) != 0))
        goto out;
    if ((rc = hfc__lock_ticket(&h, number)) != 0 || (rc = hfc__ticket_get(&h, number, display, &t)) != 0)
        goto out;
    if ((rc = op->want(&h, params, t, resolved, body, extra)) != 0)
        goto out;
    if (json_object_size(body) == 0) { /* already as wanted */
        res->output = hfc__output(t, NULL, false);
        json_object_update(res->output, extra);
        goto out;
    }
    if (staff)
        json_object_set_new(body, "staff", json_integer(hfc__item_id(staff)));
    if ((rc = post_update(&h, number, op->endpoint, body, staff ? hfc__item_id(staff) : 0, NULL, false,
                          hfc__max_update_id(t), &after, &added)) != 0)
        goto out;
    uid = uid_json(added);
    res->output = hfc__output(after, uid, true);
    json_object_update(res->output, extra);
out:
    hfc__report(&h, rc); /* issue 17: its ticket, and what it changed */
    hfc__close(&h);
    json_decref(staff);
    json_decref(resolved);
    json_decref(t);
    json_decref(after);
    json_decref(body);
    json_decref(extra);
    json_decref(uid);
    return rc;
}

/* ------------------------------------------------------------ set_status */

static int status_prepare(struct hfc *h, const json_t *params, json_t **out)
{
    return hfc__resolve(h, HFC_REF_STATUS, json_object_get(params, "status"), "status", out);
}

static int status_want(struct hfc *h, const json_t *params, const json_t *t, const json_t *status, json_t *body,
                       json_t *extra)
{
    const json_t *cur = hfc__ticket_status(t);

    (void)h;
    (void)params;
    json_object_set_new(extra, "previous_status",
                        json_pack("{s:O?, s:O?, s:O?}", "id", json_object_get(cur, "id"), "name",
                                  json_object_get(cur, "name"), "behavior", json_object_get(cur, "behavior")));
    if (hfc__item_id(cur) != hfc__item_id(status))
        json_object_set_new(body, "status", json_integer(hfc__item_id(status)));
    return 0;
}

static const struct prop_op op_set_status = {"happyfox.set_status", "staff_update", true, status_want, status_prepare};

int hfc__act_set_status(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    return prop_action(call, params, res, &op_set_status);
}

/* ------------------------------------------------------------ assign */

static int assign_prepare(struct hfc *h, const json_t *params, json_t **out)
{
    const json_t *v = json_object_get(params, "assignee");

    if (json_is_string(v) && json_string_length(v) == 0) {
        *out = json_null(); /* unassign */
        return 0;
    }
    return hfc__resolve(h, HFC_REF_STAFF, v, "assignee", out);
}

static int assign_want(struct hfc *h, const json_t *params, const json_t *t, const json_t *agent, json_t *body,
                       json_t *extra)
{
    const json_t *cur = json_object_get(t, "assigned_to");
    int64_t have = json_is_object(cur) ? hfc__item_id(cur) : 0;
    int64_t want = json_is_object(agent) ? hfc__item_id(agent) : 0;

    (void)h;
    (void)params;
    json_object_set_new(extra, "previous_assignee",
                        json_is_object(cur)
                            ? json_pack("{s:O?, s:O?, s:O?}", "id", json_object_get(cur, "id"), "name",
                                        json_object_get(cur, "name"), "email", json_object_get(cur, "email"))
                            : json_null());
    if (have != want)
        json_object_set_new(body, "assignee", want ? json_integer(want) : json_null());
    return 0;
}

static const struct prop_op op_assign = {"happyfox.assign", "staff_update", true, assign_want, assign_prepare};

int hfc__act_assign(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    return prop_action(call, params, res, &op_assign);
}

/* ------------------------------------------------- update_custom_fields */

static int fields_prepare(struct hfc *h, const json_t *params, json_t **out)
{
    /* names, choices and types resolved once for any category (it warms the cache) */
    json_t *scratch = json_object();
    int rc = hfc__resolve_fields(h, json_object_get(params, "fields"), 0, scratch, NULL);

    json_decref(scratch);
    *out = NULL;
    return rc;
}

/* True when the ticket's entry already holds the value to send. */
static bool field_equal(const json_t *entry, const json_t *send)
{
    const json_t *vid = json_object_get(entry, "value_id"), *val = json_object_get(entry, "value");

    if (json_is_null(send))
        return !val || json_is_null(val);
    if (json_is_array(send)) {
        size_t i, j;
        const json_t *x, *y;
        if (!json_is_array(vid) || json_array_size(vid) != json_array_size(send))
            return false;
        json_array_foreach (send, i, x) {
            bool in = false;
            json_array_foreach (vid, j, y) {
                if (json_equal(x, y))
                    in = true;
            }
            if (!in)
                return false;
        }
        return true;
    }
    if (vid && !json_is_null(vid))
        return json_equal(vid, send);
    if (json_equal(val, send))
        return true;
    if (json_is_number(send) && json_is_string(val)) /* 5 vs "5" */
        return json_number_value(send) == strtod(json_string_value(val), NULL);
    if (json_is_string(send) && json_is_number(val))
        return json_number_value(val) == strtod(json_string_value(send), NULL);
    return false;
}

static int fields_want(struct hfc *h, const json_t *params, const json_t *t, const json_t *resolved, json_t *body,
                       json_t *extra)
{
    json_t *send = json_object(), *defs = NULL, *names = json_array(), *x;
    int64_t category = hfc__item_id(json_object_get(t, "category"));
    const char *k;
    int rc;

    (void)resolved;
    rc = hfc__resolve_fields(h, json_object_get(params, "fields"), category > 0 ? category : 0, send, &defs);
    if (rc)
        goto out;
    json_object_foreach (send, k, x) {
        const json_t *entry = NULL, *c;
        size_t i;
        int64_t id = strtoll(k + 5, NULL, 10);
        json_array_foreach (json_object_get(t, "custom_fields"), i, c) {
            if (hfc__item_id(c) == id)
                entry = c;
        }
        if (entry && field_equal(entry, x))
            continue;
        json_object_set(body, k, x);
        json_array_append(names, json_object_get(json_object_get(defs, k + 5), "name"));
    }
    json_object_set(extra, "changed_fields", names);
out:
    json_decref(send);
    json_decref(defs);
    json_decref(names);
    return rc;
}

static const struct prop_op op_fields = {"happyfox.update_custom_fields", "update_custom_fields", true, fields_want,
                                         fields_prepare};

int hfc__act_update_custom_fields(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    return prop_action(call, params, res, &op_fields);
}

/* ------------------------------------------------------------ add_tags */

static bool tagged(const json_t *t, const char *tag)
{
    const json_t *x;
    size_t i;

    json_array_foreach (json_object_get(t, "tags"), i, x) {
        if (json_is_string(x) && strcmp(json_string_value(x), tag) == 0)
            return true;
    }
    return false;
}

static int tags_want(struct hfc *h, const json_t *params, const json_t *t, const json_t *resolved, json_t *body,
                     json_t *extra)
{
    json_t *add = NULL, *rm = NULL, *add2 = json_array(), *rm2 = json_array(), *x;
    char *joined;
    size_t i;
    int rc;

    (void)resolved;
    if ((rc = hfc__tags_param(h, json_object_get(params, "tags"), "tags", &add)) != 0 ||
        (rc = hfc__tags_param(h, json_object_get(params, "remove"), "remove", &rm)) != 0)
        goto out;
    if (!json_array_size(add) && !json_array_size(rm)) {
        rc = hfc__fail(h, IDF_EINVAL, false, 0, "%s: give tags to add (tags) or to remove (remove)", h->s.action);
        goto out;
    }
    json_array_foreach (add, i, x) {
        if (!tagged(t, json_string_value(x)))
            json_array_append(add2, x);
    }
    json_array_foreach (rm, i, x) {
        if (tagged(t, json_string_value(x)))
            json_array_append(rm2, x);
    }
    if (json_array_size(add2)) {
        if (!(joined = hfc__join(add2))) {
            rc = hfc__fail(h, IDF_ENOMEM, true, 0, "%s: out of memory", h->s.action);
            goto out;
        }
        json_object_set_new(body, "add", json_string(joined));
        free(joined);
    }
    if (json_array_size(rm2)) {
        if (!(joined = hfc__join(rm2))) {
            rc = hfc__fail(h, IDF_ENOMEM, true, 0, "%s: out of memory", h->s.action);
            goto out;
        }
        json_object_set_new(body, "remove", json_string(joined));
        free(joined);
    }
    json_object_set(extra, "added", add2);
    json_object_set(extra, "removed", rm2);
out:
    json_decref(add);
    json_decref(rm);
    json_decref(add2);
    json_decref(rm2);
    return rc;
}

static const struct prop_op op_tags = {"happyfox.add_tags", "update_tags", false, tags_want, NULL};

int hfc__act_add_tags(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    return prop_action(call, params, res, &op_tags);
}

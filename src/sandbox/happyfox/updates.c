/* happyfox/updates.c — changes to existing HappyFox tickets: staff_update,
 * staff_pvtnote, user_reply, update_tags and update_custom_fields, the
 * custom-field value rules they share with ticket creation, the update
 * history (account-wide increasing update_id) and the outgoing webhook that
 * stands in for a Smart Rule.
 *
 * Called with sb->lock held. Every action validates the whole request before
 * it changes anything: a 400 leaves the ticket as it was. Webhooks are only
 * queued here (sbx__deliver_enqueue); the delivery thread sends them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "sandbox/happyfox/internal.h"

/* ------------------------------------------------------- custom fields */

bool sbhf__cf_applies(const json_t *def, int64_t category)
{
    const json_t *cats = json_object_get(def, "categories");

    return category < 0 || !json_is_array(cats) || json_array_size(cats) == 0 || sbhf__has_int(cats, category);
}

static bool is_choice(const char *type)
{
    return strcmp(type, "choice") == 0 || strcmp(type, "dropdown") == 0;
}

static bool is_multi(const char *type)
{
    return strcmp(type, "multiple_choice") == 0 || strcmp(type, "multichoice") == 0 ||
           strcmp(type, "multi_choice") == 0 || strcmp(type, "multiselect") == 0;
}

static const char *cf_type(const json_t *def)
{
    const char *t = json_string_value(json_object_get(def, "type"));
    return t ? t : "text";
}

json_t *sbhf__cf_blank(const json_t *defs, int64_t category)
{
    json_t *out = json_array(), *d;
    size_t i;

    json_array_foreach (defs, i, d) {
        json_t *e;
        if (!sbhf__cf_applies(d, category))
            continue;
        e = json_pack("{s:O,s:O,s:s,s:n}", "id", json_object_get(d, "id"), "name", json_object_get(d, "name"), "type",
                      cf_type(d), "value");
        if (is_choice(cf_type(d)) || is_multi(cf_type(d)))
            json_object_set_new(e, "value_id", json_null());
        json_array_append_new(out, e);
    }
    return out;
}

static const char *choice_text(const json_t *def, int64_t id)
{
    const json_t *c = sbhf__find(json_object_get(def, "choices"), id);
    const char *t = json_string_value(json_object_get(c, "text"));

    if (!c)
        return NULL;
    if (!t)
        t = json_string_value(json_object_get(c, "value"));
    return t ? t : "";
}

/* Converts one input value for def into *val (and *val_id for choices);
 * false with a message in why when it does not fit the field's type. */
static bool cf_value(const json_t *def, const json_t *x, json_t **val, json_t **val_id, const char **why)
{
    const char *type = cf_type(def);
    char date[11];
    int64_t id;

    *val = *val_id = NULL;
    if (strcmp(type, "number") == 0) {
        if (json_is_number(x)) {
            *val = json_copy((json_t *)x);
            return true;
        }
        if (json_is_string(x)) {
            char *end = NULL;
            double d = strtod(json_string_value(x), &end);
            if (end && *end == '\0' && end != json_string_value(x)) {
                *val = d == (double)(json_int_t)d ? json_integer((json_int_t)d) : json_real(d);
                return true;
            }
        }
        *why = "expected a number";
        return false;
    }
    if (is_choice(type)) {
        if (sbhf__as_id(x, &id) && choice_text(def, id)) {
            *val = json_string(choice_text(def, id));
            *val_id = json_integer((json_int_t)id);
            return true;
        }
        *why = "expected the id of one of the field's choices";
        return false;
    }
    if (is_multi(type)) {
        json_t *ids = NULL, *item, *tmp = json_pack("{s:O}", "v", (json_t *)x);
        struct sbhf_verr v = {NULL};
        size_t i;
        bool ok = sbhf__get_list(tmp, "v", &ids, &v) == 1;
        *val = json_array();
        *val_id = json_array();
        json_array_foreach (ids, i, item) {
            if (!ok || !sbhf__as_id(item, &id) || !choice_text(def, id)) {
                ok = false;
                break;
            }
            json_array_append_new(*val, json_string(choice_text(def, id)));
            json_array_append_new(*val_id, json_integer((json_int_t)id));
        }
        json_decref(ids);
        json_decref(tmp);
        sbhf__verr_free(&v);
        if (!ok) {
            json_decref(*val);
            json_decref(*val_id);
            *val = *val_id = NULL;
            *why = "expected a list of ids of the field's choices";
        }
        return ok;
    }
    if (strcmp(type, "date") == 0) {
        if (json_is_string(x) && sbhf__parse_date(json_string_value(x), date)) {
            *val = json_string(date);
            return true;
        }
        *why = "expected a date, yyyy-mm-dd";
        return false;
    }
    if (strcmp(type, "checkbox") == 0 || strcmp(type, "boolean") == 0) {
        json_t *tmp = json_pack("{s:O}", "v", (json_t *)x);
        struct sbhf_verr v = {NULL};
        bool b;
        bool ok = sbhf__get_bool(tmp, "v", &b, &v) == 1;
        json_decref(tmp);
        sbhf__verr_free(&v);
        if (ok)
            *val = json_boolean(b);
        else
            *why = "expected true or false";
        return ok;
    }
    if (json_is_string(x) && json_string_length(x) <= SBHF_MESSAGE_MAX) {
        *val = json_copy((json_t *)x);
        return true;
    }
    *why = "expected a string";
    return false;
}

void sbhf__cf_apply(const json_t *defs, const char *prefix, const json_t *in, int64_t category, json_t *values,
                    int *changed, struct sbhf_verr *v)
{
    size_t plen = strlen(prefix);
    const char *k;
    json_t *x;

    json_object_foreach ((json_t *)in, k, x) {
        json_t *def, *entry, *val = NULL, *val_id = NULL, *key = NULL;
        const char *why = NULL;
        int64_t id;

        if (strncmp(k, prefix, plen) != 0)
            continue;
        key = json_string(k + plen);
        if (!key || !sbhf__as_id(key, &id) || !(def = sbhf__find(defs, id))) {
            json_decref(key);
            sbhf__verr_add(v, k, "No such custom field");
            continue;
        }
        json_decref(key);
        if (!sbhf__cf_applies(def, category)) {
            sbhf__verr_add(v, k, "Not a custom field of category %lld", (long long)category);
            continue;
        }
        if (json_is_null(x) || (json_is_string(x) && json_string_length(x) == 0)) {
            if (json_is_true(json_object_get(def, "required"))) {
                sbhf__verr_add(v, k, "This field is required");
                continue;
            }
            val = json_null();
        } else if (!cf_value(def, x, &val, &val_id, &why)) {
            sbhf__verr_add(v, k, "%s", why);
            continue;
        }
        entry = sbhf__find(values, id);
        if (!entry) {
            json_t *blank = sbhf__cf_blank(defs, -1);
            entry = json_deep_copy(sbhf__find(blank, id));
            json_decref(blank);
            json_array_append_new(values, entry);
        }
        if (!json_equal(json_object_get(entry, "value"), val))
            (*changed)++;
        json_object_set_new(entry, "value", val);
        if (json_object_get(entry, "value_id"))
            json_object_set_new(entry, "value_id", val_id ? val_id : json_null());
        else
            json_decref(val_id);
    }
}

void sbhf__cf_check_required(const json_t *defs, const char *prefix, int64_t category, const json_t *values,
                             struct sbhf_verr *v)
{
    size_t i;
    json_t *d;

    json_array_foreach (defs, i, d) {
        char key[64];
        int64_t id = json_integer_value(json_object_get(d, "id"));
        if (!json_is_true(json_object_get(d, "required")) || !sbhf__cf_applies(d, category))
            continue;
        if (json_is_null(json_object_get(sbhf__find(values, id), "value"))) {
            snprintf(key, sizeof key, "%s%lld", prefix, (long long)id);
            if (!json_object_get(v->errors, key))
                sbhf__verr_add(v, key, "This field is required");
        }
    }
}

json_t *sbhf__cf_diff(const json_t *before, const json_t *after)
{
    json_t *out = json_array(), *a;
    size_t i;

    json_array_foreach (after, i, a) {
        json_t *b = sbhf__find(before, json_integer_value(json_object_get(a, "id")));
        json_t *old = b ? json_object_get(b, "value") : json_null();
        if (!json_equal(old, json_object_get(a, "value")))
            json_array_append_new(out, json_pack("{s:O,s:O,s:O,s:O}", "id", json_object_get(a, "id"), "name",
                                                 json_object_get(a, "name"), "old", old, "new",
                                                 json_object_get(a, "value")));
    }
    return out;
}

/* ------------------------------------------------------------- updates */

json_t *sbhf__update_append(struct sbhf_account *h, struct sbhf_ticket *t, json_t *upd)
{
    static const char *const keys[] = {"by",
                                       "message",
                                       "status_change",
                                       "priority_change",
                                       "assignee_change",
                                       "tags_change",
                                       "custom_field_changes",
                                       "due_date_change",
                                       NULL};
    int64_t now = time_now_ms();
    int i;

    json_object_set_new(upd, "update_id", json_integer((json_int_t)h->next_update++));
    json_object_set_new(upd, "timestamp", sbhf__time(now));
    for (i = 0; keys[i]; i++) {
        if (!json_object_get(upd, keys[i]))
            json_object_set_new(upd, keys[i], json_null());
    }
    if (!json_object_get(upd, "time_spent"))
        json_object_set_new(upd, "time_spent", json_integer(0));
    json_array_append_new(json_object_get(t->obj, "updates"), upd);
    t->modified_ms = now;
    t->mod_seq = ++h->change_seq;
    json_object_set_new(t->obj, "last_modified", sbhf__time(now));
    return upd;
}

json_t *sbhf__by_staff(const json_t *s)
{
    return json_pack("{s:O,s:O,s:O,s:s}", "id", json_object_get(s, "id"), "name", json_object_get(s, "name"), "email",
                     json_object_get(s, "email"), "type", "staff");
}

json_t *sbhf__status_brief(const json_t *st)
{
    json_t *out;

    if (!st || json_is_null(st))
        return json_null();
    out = json_pack("{s:O,s:O}", "id", json_object_get(st, "id"), "name", json_object_get(st, "name"));
    if (json_object_get(st, "behavior"))
        json_object_set(out, "behavior", json_object_get(st, "behavior"));
    return out;
}

json_t *sbhf__read_staff(struct sbhf_account *h, const json_t *in, const char *key, bool required, struct sbhf_verr *v)
{
    int64_t id;
    int r = sbhf__get_id(in, key, &id, v);
    json_t *s;

    if (r == 0 && required)
        sbhf__verr_add(v, key, "This field is required");
    if (r != 1)
        return NULL;
    s = sbhf__find(h->staff, id);
    if (!s || json_is_false(json_object_get(s, "active"))) {
        sbhf__verr_add(v, key, "No active agent with id %lld", (long long)id);
        return NULL;
    }
    return s;
}

struct staff_in {
    json_t *staff, *status, *prio, *assignee, *tags, *cfs;
    const char *text, *html, *due;
    bool unassign, has_alert;
    int64_t minutes;
    char due_norm[11];
    json_t *alert;
};

static void staff_validate(struct sbhf_account *h, struct sbhf_ticket *t, const json_t *in, bool pvtnote,
                           struct staff_in *s, struct sbhf_verr *v)
{
    int64_t cat = json_integer_value(json_object_get(json_object_get(t->obj, "category"), "id")), id;
    const json_t *x;
    int changed = 0;

    s->staff = sbhf__read_staff(h, in, "staff", true, v);
    if (sbhf__get_str(in, "text", SBHF_MESSAGE_MAX, &s->text, v) == 0)
        sbhf__get_str(in, "plaintext", SBHF_MESSAGE_MAX, &s->text, v);
    sbhf__get_str(in, "html", SBHF_MESSAGE_MAX, &s->html, v);
    if (sbhf__get_id(in, "status", &id, v) == 1 && !(s->status = sbhf__find(h->statuses, id)))
        sbhf__verr_add(v, "status", "No status with id %lld", (long long)id);
    if (sbhf__get_id(in, "priority", &id, v) == 1 && !(s->prio = sbhf__find(h->priorities, id)))
        sbhf__verr_add(v, "priority", "No priority with id %lld", (long long)id);
    x = json_object_get(in, "assignee");
    s->unassign = x && (json_is_null(x) || (json_is_string(x) && json_string_length(x) == 0));
    if (!s->unassign && (s->assignee = sbhf__read_staff(h, in, "assignee", false, v))) {
        json_t *cats = json_object_get(s->assignee, "categories");
        if (json_is_array(cats) && !sbhf__has_int(cats, cat))
            sbhf__verr_add(v, "assignee", "Agent %lld has no access to category %lld",
                           (long long)json_integer_value(json_object_get(s->assignee, "id")), (long long)cat);
    }
    if ((x = json_object_get(in, "time_spent")) && !json_is_null(x) &&
        (!sbhf__as_id(x, &s->minutes) || s->minutes < 0 || s->minutes > 100000))
        sbhf__verr_add(v, "time_spent", "expected a whole number of minutes");
    if (sbhf__get_str(in, "due_date", 32, &s->due, v) == 1 && !sbhf__parse_date(s->due, s->due_norm))
        sbhf__verr_add(v, "due_date", "Expected yyyy-mm-dd or dd/mm/yyyy");
    sbhf__get_list(in, "tags", &s->tags, v);
    s->cfs = json_deep_copy(json_object_get(t->obj, "custom_fields"));
    sbhf__cf_apply(h->ticket_cfs, "t-cf-", in, cat, s->cfs, &changed, v);
    if (pvtnote && (x = json_object_get(in, "alert")) && !json_is_null(x)) {
        const char *a = json_string_value(x);
        s->has_alert = true;
        if (a && (strcmp(a, "s") == 0 || strcmp(a, "c") == 0))
            s->alert = json_string(a);
        else if (sbhf__as_id(x, &id) && sbhf__find(h->staff, id))
            s->alert = json_integer((json_int_t)id);
        else
            sbhf__verr_add(v, "alert", "expected s (subscribers), c (agents of the category) or an agent id");
    }
    if (!s->text && !s->html && !s->status && !s->prio && !s->assignee && !s->unassign && !s->minutes && !s->due &&
        !s->tags && !changed && !sbhf__verr_any(v))
        sbhf__verr_add(v, "text", "Give a message (text or html) or a property to change");
    if (json_array_size(json_object_get(t->obj, "updates")) >= SBHF_UPDATES_MAX)
        sbhf__verr_add(v, "ticket", "The sandbox keeps at most %d updates a ticket", SBHF_UPDATES_MAX);
}

json_t *sbhf__retag(json_t *tags, const json_t *add, const json_t *remove)
{
    json_t *added = json_array(), *removed = json_array(), *x, *y;
    size_t i, j;

    json_array_foreach (add, i, x) {
        bool have = false;
        json_array_foreach (tags, j, y)
            have = have || json_equal(x, y);
        if (!have && json_array_size(tags) < SBHF_TAGS_MAX && json_string_length(x) <= SBHF_TAG_MAX) {
            json_array_append(tags, x);
            json_array_append(added, x);
        }
    }
    json_array_foreach (remove, i, x) {
        for (j = 0; j < json_array_size(tags); j++) {
            if (json_equal(json_array_get(tags, j), x)) {
                json_array_append(removed, x);
                json_array_remove(tags, j);
                break;
            }
        }
    }
    if (json_array_size(added) || json_array_size(removed))
        return json_pack("{s:o,s:o}", "added", added, "removed", removed);
    json_decref(added);
    json_decref(removed);
    return NULL;
}

void sbhf__staff_change(struct sbhf_account *h, struct sbhf_ticket *t, const json_t *in, bool pvtnote,
                        struct sbhf_verr *v, struct sbhf_change *chg)
{
    struct staff_in s;
    json_t *upd, *o = t->obj, *cur, *tc;
    int64_t now = time_now_ms();

    memset(&s, 0, sizeof s);
    memset(chg, 0, sizeof *chg);
    staff_validate(h, t, in, pvtnote, &s, v);
    if (sbhf__verr_any(v))
        goto out;
    upd = json_pack("{s:o}", "by", sbhf__by_staff(s.staff));
    if (s.text || s.html)
        json_object_set_new(upd, "message", sbhf__message(s.text, s.html, pvtnote ? "p" : NULL));
    if (s.has_alert)
        json_object_set(upd, "alert", s.alert);
    cur = json_object_get(o, "status");
    if (s.status && !json_equal(json_object_get(cur, "id"), json_object_get(s.status, "id"))) {
        chg->old_status = json_incref(cur);
        chg->status_changed = true;
        json_object_set_new(
            upd, "status_change",
            json_pack("{s:o,s:o}", "old", sbhf__status_brief(cur), "new", sbhf__status_brief(s.status)));
        json_object_set_new(o, "status", json_deep_copy(s.status));
    }
    cur = json_object_get(o, "priority");
    if (s.prio && !json_equal(json_object_get(cur, "id"), json_object_get(s.prio, "id"))) {
        json_object_set_new(upd, "priority_change",
                            json_pack("{s:o,s:o}", "old", sbhf__status_brief(cur), "new", sbhf__status_brief(s.prio)));
        json_object_set_new(o, "priority", json_deep_copy(s.prio));
    }
    cur = json_object_get(o, "assigned_to");
    if ((s.assignee && !json_equal(json_object_get(cur, "id"), json_object_get(s.assignee, "id"))) ||
        (s.unassign && !json_is_null(cur))) {
        json_t *nw = sbhf__staff_summary(s.assignee);
        json_object_set_new(upd, "assignee_change", json_pack("{s:O,s:O}", "old", cur, "new", nw));
        json_object_set_new(o, "assigned_to", nw);
    }
    if (s.tags && (tc = sbhf__retag(json_object_get(o, "tags"), s.tags, NULL)))
        json_object_set_new(upd, "tags_change", tc);
    tc = sbhf__cf_diff(json_object_get(o, "custom_fields"), s.cfs);
    if (json_array_size(tc))
        json_object_set(upd, "custom_field_changes", tc);
    json_decref(tc);
    json_object_set(o, "custom_fields", s.cfs);
    cur = json_object_get(o, "due_date");
    if (s.due && !(json_is_string(cur) && strcmp(json_string_value(cur), s.due_norm) == 0)) {
        json_object_set_new(upd, "due_date_change",
                            json_pack("{s:O,s:s}", "old", json_object_get(o, "due_date"), "new", s.due_norm));
        json_object_set_new(o, "due_date", json_string(s.due_norm));
    }
    if (s.minutes) {
        json_object_set_new(upd, "time_spent", json_integer((json_int_t)s.minutes));
        json_object_set_new(o, "time_spent",
                            json_integer(json_integer_value(json_object_get(o, "time_spent")) + s.minutes));
    }
    if ((s.text || s.html) && !pvtnote) {
        t->updated_ms = now;
        t->upd_seq = h->change_seq + 1; /* the update appended below takes this number */
        json_object_set_new(o, "unresponded", json_false());
        json_object_set_new(o, "last_staff_reply_at", sbhf__time(now));
        json_object_set_new(o, "last_updated_at", sbhf__time(now));
    }
    chg->update = sbhf__update_append(h, t, upd);
out:
    json_decref(s.tags);
    json_decref(s.cfs);
    json_decref(s.alert);
}

/* subjects.c — whom and what the okta connector's events and actions
 * concern (connector.h, "subjects"; issue 17): the subjects of a normalized
 * event (oktac__event_subjects, the connector's event_subjects), the
 * subjects an action resolves (a user, a group, an app: noted by the
 * resolvers in common.c and by create_user), and the change an action
 * made, in a few words for a person (oktac__report_change, from the table
 * below, called by oktac__close).
 *
 * Only identifiers go into subjects: ids, logins, emails, group names, app
 * labels; never display names, first or last names, or phone numbers.
 * okta.request and the read-only actions report no change. Pure over the
 * call's result; any thread. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "connectors/okta/events.h"
#include "connectors/okta/okta_internal.h"

#define KIND_USER "okta.user"
#define KIND_GROUP "okta.group"
#define KIND_APP "okta.app"

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ------------------------------------------------------------ events */

/* Appends one subject to out (an array): {kind, label, keys}, keys the
 * non-empty ones of the n given. Nothing when none is left. */
static int append(json_t *out, const char *kind, const char *label, const char *const *keys, size_t n)
{
    json_t *arr = json_array(), *s;

    if (!arr)
        return IDF_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (keys[i] && *keys[i] && json_array_append_new(arr, json_string(keys[i]))) {
            json_decref(arr);
            return IDF_ENOMEM;
        }
    }
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return 0;
    }
    s = json_pack("{s:s, s:s, s:o}", "kind", kind, "label",
                  label && *label ? label : json_string_value(json_array_get(arr, 0)), "keys", arr);
    if (!s || json_array_append_new(out, s))
        return IDF_ENOMEM;
    return 0;
}

int oktac__event_subjects(const json_t *event, json_t *out)
{
    const json_t *u = json_object_get(event, "user"), *g = json_object_get(event, "group"),
                 *a = json_object_get(event, "app");
    const char *uk[] = {str_of(u, "id"), str_of(u, "login")};
    const char *gk[] = {str_of(g, "id"), str_of(g, "name")};
    const char *ak[] = {str_of(a, "id"), str_of(a, "label"), str_of(a, "name")};
    const char *type = str_of(u, "type");
    int rc = 0;

    /* the event's user is a person only when Okta says User (or says nothing) */
    if (json_is_object(u) && (!type || strcasecmp(type, "User") == 0))
        rc = append(out, KIND_USER, str_of(u, "login"), uk, 2);
    if (rc == 0 && json_is_object(g))
        rc = append(out, KIND_GROUP, str_of(g, "name"), gk, 2);
    if (rc == 0 && json_is_object(a))
        rc = append(out, KIND_APP, str_of(a, "label") ?: str_of(a, "name"), ak, 3);
    return rc;
}

/* ------------------------------------------------------------ actions */

void oktac__note_user(struct oktac *o, const json_t *user)
{
    const json_t *p = json_object_get(user, "profile");
    const char *keys[] = {str_of(user, "id"), str_of(p, "login"), str_of(p, "email")};

    if (json_is_object(user) && ctk_subject_add(o->s.res, KIND_USER, keys[1], keys, 3))
        return; /* out of memory: the history misses one subject, the call goes on */
}

void oktac__note_user_key(struct oktac *o, const char *key)
{
    const char *keys[] = {key};
    if (ctk_subject_add(o->s.res, KIND_USER, key, keys, 1))
        return;
}

void oktac__note_group(struct oktac *o, const json_t *group)
{
    const char *keys[] = {str_of(group, "id"), str_of(json_object_get(group, "profile"), "name")};

    if (json_is_object(group) && ctk_subject_add(o->s.res, KIND_GROUP, keys[1], keys, 2))
        return;
}

void oktac__note_app(struct oktac *o, const json_t *app)
{
    const char *keys[] = {str_of(app, "id"), str_of(app, "label"), str_of(app, "name")};

    if (json_is_object(app) && ctk_subject_add(o->s.res, KIND_APP, keys[1], keys, 3))
        return;
}

/* What each changing action did, for a person: text, followed by the name
 * of the output's `obj` member when one is given (the group's name, the
 * app's label). */
struct change_text {
    const char *action;
    const char *text;
    const char *obj; /* "group", "app", or NULL */
};

static const struct change_text changes[] = {
    {"okta.create_user", "created", NULL},
    {"okta.activate_user", "activated", NULL},
    {"okta.reactivate_user", "activation restarted", NULL},
    {"okta.deactivate_user", "deactivated", NULL},
    {"okta.suspend_user", "suspended", NULL},
    {"okta.unsuspend_user", "unsuspended", NULL},
    {"okta.unlock_user", "unlocked", NULL},
    {"okta.reset_password", "password reset", NULL},
    {"okta.expire_password", "password expired", NULL},
    {"okta.reset_factors", "factors reset", NULL},
    {"okta.clear_sessions", "sessions cleared", NULL},
    {"okta.update_user", "profile updated", NULL},
    {"okta.add_to_group", "added to ", "group"},
    {"okta.remove_from_group", "removed from ", "group"},
    {"okta.assign_app", "assigned ", "app"},
    {"okta.revoke_app", "unassigned ", "app"},
    {NULL, NULL, NULL},
};

/* The name a person knows obj by: a group's profile.name, an app's label. */
static const char *object_name(const json_t *obj)
{
    return str_of(json_object_get(obj, "profile"), "name") ?: str_of(obj, "label") ?: str_of(obj, "name")
                                                                                      ?: str_of(obj, "id") ?: "?";
}

void oktac__report_change(struct oktac *o, int rc)
{
    struct conn_result *res = o->s.res;
    const json_t *out = res->output;

    if (rc || !o->s.action || !json_is_true(json_object_get(out, "changed")))
        return;
    if (strcmp(o->s.action, "okta.create_user") == 0)
        oktac__note_user(o, out); /* the user made: its id is known only now */
    for (const struct change_text *c = changes; c->action; c++) {
        if (strcmp(c->action, o->s.action) != 0)
            continue;
        ctk_change(res, "%s%s", c->text, c->obj ? object_name(json_object_get(out, c->obj)) : "");
        return;
    }
}

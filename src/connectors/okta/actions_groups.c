/* actions_groups.c — group membership and group look-ups:
 * okta.add_to_group, okta.remove_from_group, okta.find_group,
 * okta.list_user_groups.
 *
 * Membership is idempotent in effect: the user's groups are read first and
 * a member is not added twice nor a non-member removed (changed: false).
 * Only OKTA_GROUP memberships change through the API: an APP_GROUP (owned
 * by an app import such as Active Directory) or the BUILT_IN "Everyone" is
 * refused before any write, with Okta's reason. A group is given by id or by
 * exact name (search=profile.name eq "...", the match count checked).
 * Worker threads; no state of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/okta/okta_internal.h"
#include "net/http.h"

/* A group's short form in outputs. */
static json_t *group_out(const json_t *g)
{
    return oktac__strip(g);
}

/* Refuses a group whose membership the API cannot change. */
static int check_type(struct oktac *o, const json_t *grp, const char *verb, const char *login)
{
    const char *type = json_string_value(json_object_get(grp, "type")) ?: "";
    const char *name = json_string_value(json_object_get(json_object_get(grp, "profile"), "name")) ?: "?";

    if (strcmp(type, "OKTA_GROUP") == 0)
        return 0;
    json_decref(o->s.res->detail);
    o->s.res->detail =
        json_pack("{s:s, s:s}", "group_type", type, "group_id", json_string_value(json_object_get(grp, "id")) ?: "");
    if (strcmp(type, "APP_GROUP") == 0)
        return oktac__fail(o, IDF_EDENIED, false, 0,
                           "%s: cannot %s %s: group '%s' is an APP_GROUP; Okta only changes memberships of "
                           "OKTA_GROUP groups through the API (app imports, e.g. Active Directory, manage APP_GROUP "
                           "memberships)",
                           o->s.action, verb, login, name);
    return oktac__fail(o, IDF_EDENIED, false, 0,
                       "%s: cannot %s %s: group '%s' is of type %s; only OKTA_GROUP memberships can be changed "
                       "through the API",
                       o->s.action, verb, login, name, type);
}

/* True (in *member) when the user's groups include gid. A list cut by its
 * cap that does not show gid leaves *known false. */
static int is_member(struct oktac *o, const char *uid, const char *gid, bool *member, bool *known)
{
    char path[128];
    json_t *items = NULL, *g;
    bool trunc = false;
    size_t i;
    int rc;

    *member = false;
    *known = true;
    snprintf(path, sizeof path, "/api/v1/users/%s/groups", uid);
    rc = oktac__list(o, path, OKTAC_LIST_CAP_MAX, &items, &trunc);
    if (rc)
        return rc;
    json_array_foreach (items, i, g) {
        if (strcmp(json_string_value(json_object_get(g, "id")) ?: "", gid) == 0)
            *member = true;
    }
    if (!*member && trunc)
        *known = false;
    json_decref(items);
    return 0;
}

static int membership(struct conn_call *call, const json_t *params, struct conn_result *res, bool add)
{
    struct oktac o;
    struct oktac_resp r = {0};
    json_t *user = NULL, *grp = NULL;
    char scratch[32], path[160], what[300];
    const char *uid, *gid, *login, *gname;
    bool member, known, changed = false;
    int rc = oktac__open(&o, call, res, add ? "okta.add_to_group" : "okta.remove_from_group");

    if (rc)
        goto out;
    rc = oktac__user_get(&o, oktac__param_str(params, "user", scratch, sizeof scratch), &user);
    if (rc)
        goto out;
    rc = oktac__group_resolve(&o, oktac__param_str(params, "group", NULL, 0), &grp);
    if (rc)
        goto out;
    uid = json_string_value(json_object_get(user, "id")) ?: "";
    gid = json_string_value(json_object_get(grp, "id")) ?: "";
    login = oktac__login(user);
    gname = json_string_value(json_object_get(json_object_get(grp, "profile"), "name")) ?: gid;
    snprintf(what, sizeof what, "%s %s %s group '%s'", add ? "add" : "remove", login, add ? "to" : "from", gname);
    rc = check_type(&o, grp, add ? "add user to group" : "remove user from group", login);
    if (rc)
        goto out;
    rc = is_member(&o, uid, gid, &member, &known);
    if (rc)
        goto out;
    if (known && member == add)
        goto done; /* already as wanted */
    snprintf(path, sizeof path, "/api/v1/groups/%s/users/%s", gid, uid);
    rc = oktac__send(&o, add ? "PUT" : "DELETE", path, NULL, &r);
    if (rc)
        goto out;
    if (!add && r.status == 404 && strcmp(oktac__error_code(&r), "E0000007") == 0) {
        rc = 0; /* both exist (just read): the membership is already gone */
        goto done;
    }
    if (!oktac__ok(&r)) {
        rc = oktac__fail_http(&o, &r, what);
        goto out;
    }
    changed = true;
done:
    res->output = json_pack("{s:b, s:o, s:{s:s, s:s}, s:s}", "changed", changed, "group", group_out(grp), "user", "id",
                            uid, "login", login, "request_id", o.request_id);
out:
    oktac__resp_free(&r);
    json_decref(user);
    json_decref(grp);
    return oktac__close(&o, rc);
}

OKTAC__ACTION(oktac__act_add_to_group)
{
    return membership(call, params, res, true);
}

OKTAC__ACTION(oktac__act_remove_from_group)
{
    return membership(call, params, res, false);
}

OKTAC__ACTION(oktac__act_find_group)
{
    struct oktac o;
    json_t *grp = NULL;
    int rc = oktac__open(&o, call, res, "okta.find_group");

    if (rc == 0)
        rc = oktac__group_resolve(&o, oktac__param_str(params, "group", NULL, 0), &grp);
    if (rc == IDF_ENOTFOUND && !oktac__param_bool(params, "required", true)) {
        rc = 0;
        res->message[0] = '\0';
        json_decref(res->detail);
        res->detail = NULL;
        res->output = json_pack("{s:b, s:n, s:b, s:s}", "found", 0, "group", "changed", 0, "request_id", o.request_id);
    } else if (rc == 0) {
        res->output = json_pack("{s:b, s:o, s:b, s:s}", "found", 1, "group", group_out(grp), "changed", 0, "request_id",
                                o.request_id);
    }
    json_decref(grp);
    return oktac__close(&o, rc);
}

OKTAC__ACTION(oktac__act_list_user_groups)
{
    struct oktac o;
    json_t *items = NULL, *groups, *g;
    char scratch[32], *id = NULL, *enc = NULL, *path = NULL;
    const char *key = oktac__param_str(params, "user", scratch, sizeof scratch);
    bool truncated = false;
    size_t cap, i;
    int rc = oktac__open(&o, call, res, "okta.list_user_groups");

    if (rc)
        goto out;
    rc = oktac__param_cap(&o, params, &cap);
    if (rc)
        goto out;
    if (!key || !*key) {
        rc = oktac__fail(&o, IDF_EINVAL, false, 0, "okta.list_user_groups: a user (login or id) is required");
        goto out;
    }
    if (oktac__login_needs_search(key)) { /* not usable as a path segment: look the id up */
        rc = oktac__user_id(&o, key, &id);
        if (rc)
            goto out;
        key = id;
    }
    enc = http_urlencode(key);
    if (!enc || asprintf(&path, "/api/v1/users/%s/groups", enc) < 0) {
        path = NULL;
        rc = oktac__fail(&o, IDF_ENOMEM, true, 0, "okta.list_user_groups: out of memory");
        goto out;
    }
    rc = oktac__list(&o, path, cap, &items, &truncated);
    if (rc)
        goto out;
    if (!id)
        oktac__note_user_key(&o, key); /* issue 17: the user, as named (not read) */
    groups = json_array();
    json_array_foreach (items, i, g) {
        json_array_append_new(groups, group_out(g));
    }
    res->output = json_pack("{s:o, s:I, s:b, s:b, s:s}", "groups", groups, "count", (json_int_t)json_array_size(groups),
                            "truncated", truncated, "changed", 0, "request_id", o.request_id);
out:
    json_decref(items);
    free(id);
    free(enc);
    free(path);
    return oktac__close(&o, rc);
}

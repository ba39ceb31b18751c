/* okta/apps.c — Okta applications: list (q=, filter=, expand=user/{id}),
 * get, app users, assign and unassign.
 *
 * A stored app is the Application object plus "_sbx": {seq, users:
 * [AppUser of direct assignments], groups: [groupId assigned to the app],
 * jwks (service apps' public keys), scopes (granted Okta API scopes)}. A
 * user reaches an app directly (scope USER) or through a group (scope
 * GROUP). Refusals: assigning an inactive (DEPROVISIONED) user is 403
 * E0000117; a second direct assignment is 409 E0000062; unassigning a user
 * whose group grants the app is 403 E0000046 with Okta's cause text (seen in
 * articulate/terraform-provider-okta #120). Called with sb->lock held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sandbox/okta/internal.h"

#define APPS_DEFAULT_LIMIT 20
#define APPS_MAX_LIMIT 200
#define APP_USERS_DEFAULT_LIMIT 50
#define APP_USERS_MAX_LIMIT 500

json_t *sbok__app_new(struct sandbox *sb, struct sbok_org *o, const json_t *seed)
{
    char id[32], now[32];
    sbx__new_id(sb, "0oa", id);
    sbok__now_iso(now);
    json_t *a = json_deep_copy(seed);
    json_object_set_new(a, "id", json_string(id));
    json_object_set_new(a, "created", json_string(now));
    json_object_set_new(a, "lastUpdated", json_string(now));
    if (!json_object_get(a, "status"))
        json_object_set_new(a, "status", json_string("ACTIVE"));
    json_object_set_new(a, "_sbx", json_pack("{s:I, s:[], s:[], s:[]}", "seq", (json_int_t)sbok__next_seq(o), "users",
                                             "groups", "scopes"));
    return a;
}

json_t *sbok__app_public(struct sbok_ctx *c, const json_t *app)
{
    json_t *p = sbok__public(app);
    const char *id = json_string_value(json_object_get(app, "id"));
    char self[400], users[420], groups[420], life[440];
    snprintf(self, sizeof self, "%s/api/v1/apps/%s", c->base, id);
    snprintf(users, sizeof users, "%s/users", self);
    snprintf(groups, sizeof groups, "%s/groups", self);
    bool active = strcmp(json_string_value(json_object_get(app, "status")) ?: "", "ACTIVE") == 0;
    snprintf(life, sizeof life, "%s/lifecycle/%s", self, active ? "deactivate" : "activate");
    json_object_set_new(p, "_links", json_pack("{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}", "self", "href", self, "users",
                                               "href", users, "groups", "href", groups,
                                               active ? "deactivate" : "activate", "href", life));
    return p;
}

static bool has_feature(const json_t *app, const char *f)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(app, "features"), i, v)
    {
        if (strcmp(json_string_value(v) ?: "", f) == 0)
            return true;
    }
    return false;
}

json_t *sbok__app_user_new(const json_t *app, const json_t *user, const char *user_name, const json_t *profile)
{
    char now[32];
    sbok__now_iso(now);
    const char *login = json_string_value(json_object_get(json_object_get(user, "profile"), "login")) ?: "";
    bool push = has_feature(app, "PUSH_NEW_USERS");
    json_t *au = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:{s:s}, s:o}", "id",
                           json_string_value(json_object_get(user, "id")), "created", now, "lastUpdated", now, "scope",
                           "USER", "status", push ? "PROVISIONED" : "ACTIVE", "statusChanged", now, "passwordChanged",
                           json_null(), "syncState", push ? "SYNCHRONIZED" : "DISABLED", "credentials", "userName",
                           user_name ? user_name : login, "profile",
                           profile ? json_deep_copy(profile) : json_object());
    if (au && push) {
        char ext[40];
        sbok__rand_alnum(ext, 32);
        json_object_set_new(au, "externalId", json_string(ext));
    }
    return au;
}

static json_t *direct_assignment(const json_t *app, const char *uid)
{
    size_t i;
    json_t *au;
    json_array_foreach(json_object_get(json_object_get(app, "_sbx"), "users"), i, au)
    {
        if (strcmp(json_string_value(json_object_get(au, "id")) ?: "", uid) == 0)
            return au;
    }
    return NULL;
}

/* The first of the app's groups that has the user, or NULL. */
static json_t *granting_group(struct sbok_ctx *c, const json_t *app, const char *uid)
{
    size_t i;
    json_t *gid;
    json_array_foreach(json_object_get(json_object_get(app, "_sbx"), "groups"), i, gid)
    {
        json_t *g = sbok__find_id(c->o->groups, json_string_value(gid));
        if (g && sbok__group_has_member(g, uid))
            return g;
    }
    return NULL;
}

static void app_user_links(struct sbok_ctx *c, json_t *au, const json_t *app, const char *uid)
{
    char ah[400], uh[400];
    snprintf(ah, sizeof ah, "%s/api/v1/apps/%s", c->base, json_string_value(json_object_get(app, "id")));
    snprintf(uh, sizeof uh, "%s/api/v1/users/%s", c->base, uid);
    json_object_set_new(au, "_links", json_pack("{s:{s:s}, s:{s:s}}", "app", "href", ah, "user", "href", uh));
}

json_t *sbok__app_user_for(struct sbok_ctx *c, const json_t *app, const json_t *user)
{
    const char *uid = json_string_value(json_object_get(user, "id")) ?: "";
    json_t *d = direct_assignment(app, uid), *au = NULL;
    if (d) {
        au = sbok__public(d);
    } else {
        json_t *g = granting_group(c, app, uid);
        if (!g)
            return NULL;
        const char *when = json_string_value(json_object_get(g, "lastMembershipUpdated")) ?: "";
        const char *login = json_string_value(json_object_get(json_object_get(user, "profile"), "login")) ?: "";
        au = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{}}", "id", uid, "created", when,
                       "lastUpdated", when, "scope", "GROUP", "status", "ACTIVE", "statusChanged", when, "syncState",
                       has_feature(app, "PUSH_NEW_USERS") ? "SYNCHRONIZED" : "DISABLED", "credentials", "userName",
                       login, "profile");
    }
    app_user_links(c, au, app, uid);
    return au;
}

/* user.id / group.id pseudo-attributes of the apps filter. */
static json_t *app_resolve(void *ud, const json_t *app, const char *attr)
{
    struct sbok_ctx *c = ud;
    json_t *out = NULL;
    if (strcmp(attr, "user.id") == 0) {
        out = json_array();
        size_t i;
        json_t *u;
        json_array_foreach(c->o->users, i, u)
        {
            json_t *au = sbok__app_user_for(c, app, u);
            if (au)
                json_array_append(out, json_object_get(u, "id"));
            json_decref(au);
        }
    } else if (strcmp(attr, "group.id") == 0) {
        out = json_deep_copy(json_object_get(json_object_get(app, "_sbx"), "groups"));
    }
    return out;
}

void sbok__apps_list(struct sbok_ctx *c)
{
    const char *filter = sbok__q(c, "filter"), *q = sbok__q(c, "q"), *expand = sbok__q(c, "expand");
    struct sbok_expr *expr = NULL;
    struct idf_err err = {0};
    int limit;
    if (filter && sbok__expr_parse(filter, SBOK_EXPR_APP_FILTER, &expr, &err) != 0)
        return sbok__error1(c, 400, "E0000031", "Invalid search criteria.", err.msg);
    if (!sbok__q_limit(c, APPS_DEFAULT_LIMIT, APPS_MAX_LIMIT, &limit)) {
        sbok__expr_free(expr);
        return;
    }
    json_t *exp_user = NULL;
    if (expand && strncmp(expand, "user/", 5) == 0)
        exp_user = sbok__find_id(c->o->users, expand + 5);
    size_t n = json_array_size(c->o->apps), i, k = 0;
    int64_t *seqs = calloc(n + 1, sizeof *seqs);
    json_t *items = json_array(), *app;
    json_array_foreach(c->o->apps, i, app)
    {
        if (strcmp(json_string_value(json_object_get(app, "status")) ?: "", "DELETED") == 0)
            continue;
        if (expr && !sbok__expr_match(expr, app, app_resolve, c))
            continue;
        if (q) {
            const char *name = json_string_value(json_object_get(app, "name")) ?: "";
            const char *label = json_string_value(json_object_get(app, "label")) ?: "";
            if (strncasecmp(name, q, strlen(q)) != 0 && strncasecmp(label, q, strlen(q)) != 0)
                continue;
        }
        if (seqs)
            seqs[k++] = sbok__seq_of(app);
        json_t *p = sbok__app_public(c, app);
        json_t *au = exp_user ? sbok__app_user_for(c, app, exp_user) : NULL;
        if (au)
            json_object_set_new(p, "_embedded", json_pack("{s:o}", "user", au));
        json_array_append_new(items, p);
    }
    sbok__expr_free(expr);
    if (!seqs) {
        json_decref(items);
        return sbok__error(c, 500, "E0000009", "Internal Server Error", NULL);
    }
    sbok__page(c, items, seqs, limit, true);
    free(seqs);
}

static json_t *path_app(struct sbok_ctx *c)
{
    json_t *a = sbok__find_id(c->o->apps, c->seg[1]);
    if (!a)
        sbok__not_found(c, c->seg[1], "AppInstance");
    return a;
}

void sbok__apps_get(struct sbok_ctx *c)
{
    json_t *a = path_app(c);
    if (a)
        sbok__json(c, 200, sbok__app_public(c, a));
}

void sbok__apps_users(struct sbok_ctx *c)
{
    json_t *a = path_app(c);
    int limit;
    if (!a || !sbok__q_limit(c, APP_USERS_DEFAULT_LIMIT, APP_USERS_MAX_LIMIT, &limit))
        return;
    size_t n = json_array_size(c->o->users), i, k = 0;
    int64_t *seqs = calloc(n + 1, sizeof *seqs);
    json_t *items = json_array(), *u;
    json_array_foreach(c->o->users, i, u)
    {
        json_t *au = sbok__app_user_for(c, a, u);
        if (!au)
            continue;
        if (seqs)
            seqs[k++] = sbok__seq_of(u);
        json_array_append_new(items, au);
    }
    if (!seqs) {
        json_decref(items);
        return sbok__error(c, 500, "E0000009", "Internal Server Error", NULL);
    }
    sbok__page(c, items, seqs, limit, true);
    free(seqs);
}

static void app_event(struct sbok_ctx *c, const char *type, const json_t *app, const json_t *user, const char *uname)
{
    char name[256];
    sbok__user_display(user, name, sizeof name);
    json_t *ev = sbok__event_new(c, type);
    sbok__event_target(ev, "AppUser", json_string_value(json_object_get(user, "id")), uname, name);
    sbok__event_target_app(ev, app);
    sbok__event_target_user(ev, user);
    sbok__event_commit(c, ev);
}

void sbok__apps_assign(struct sbok_ctx *c)
{
    json_t *a = path_app(c);
    if (!a || !sbok__body(c, false))
        return;
    json_t *jid = json_object_get(c->body, "id"), *scope = json_object_get(c->body, "scope");
    json_t *cred = json_object_get(c->body, "credentials"), *profile = json_object_get(c->body, "profile");
    if ((jid && !json_is_string(jid)) || (scope && !json_is_string(scope)) || (cred && !json_is_object(cred)) ||
        (profile && !json_is_object(profile)))
        return sbok__bad_body(c);
    if (!jid || json_string_length(jid) == 0)
        return sbok__validation(c, "id", "id: The field cannot be left blank");
    if (scope && strcmp(json_string_value(scope), "USER") != 0 && strcmp(json_string_value(scope), "GROUP") != 0)
        return sbok__validation(c, "scope", "scope: must be USER or GROUP");
    json_t *uname = json_object_get(cred, "userName");
    if (uname && (!json_is_string(uname) || json_string_length(uname) < 1 || json_string_length(uname) > 100))
        return sbok__validation(c, "credentials.userName", "credentials.userName: size must be between 1 and 100");
    json_t *u = sbok__find_id(c->o->users, json_string_value(jid));
    if (!u)
        return sbok__not_found(c, json_string_value(jid), "User");
    if (strcmp(sbok__user_status(u), "DEPROVISIONED") == 0)
        return sbok__error(c, 403, "E0000117", "Cannot assign apps or update app profiles for an inactive user.",
                           NULL);
    const char *uid = json_string_value(jid);
    if (direct_assignment(a, uid))
        return sbok__error(c, 409, "E0000062", "The specified user is already assigned to the application.", NULL);
    json_t *au = sbok__app_user_new(a, u, uname ? json_string_value(uname) : NULL, profile);
    json_t *s = sbok__sbx(a), *list = json_object_get(s, "users");
    if (!list) {
        list = json_array();
        json_object_set_new(s, "users", list);
    }
    json_array_append(list, au);
    app_event(c, "application.user_membership.add", a, u, json_string_value(json_object_get(json_object_get(au,
                                                                                                  "credentials"),
                                                                                  "userName")));
    json_t *out = sbok__public(au);
    json_decref(au);
    app_user_links(c, out, a, uid);
    sbok__json(c, 200, out);
}

void sbok__apps_get_user(struct sbok_ctx *c)
{
    json_t *a = path_app(c);
    if (!a)
        return;
    json_t *u = sbok__find_id(c->o->users, c->seg[3]);
    json_t *au = u ? sbok__app_user_for(c, a, u) : NULL;
    if (!au)
        return sbok__not_found(c, c->seg[3], "AppUser");
    sbok__json(c, 200, au);
}

void sbok__apps_unassign(struct sbok_ctx *c)
{
    json_t *a = path_app(c);
    if (!a)
        return;
    const char *uid = c->seg[3];
    json_t *u = sbok__find_id(c->o->users, uid);
    json_t *d = u ? direct_assignment(a, uid) : NULL;
    if (u && granting_group(c, a, uid))
        return sbok__error1(c, 403, "E0000046", "Deactivate application for user forbidden.",
                            "The application cannot be unassigned from the user while their group memberships "
                            "grant them access");
    if (!d)
        return sbok__not_found(c, uid, "AppUser");
    char uname[128];
    snprintf(uname, sizeof uname, "%s",
             json_string_value(json_object_get(json_object_get(d, "credentials"), "userName")) ?: "");
    json_t *list = json_object_get(json_object_get(a, "_sbx"), "users");
    for (size_t j = json_array_size(list); j-- > 0;)
        if (json_array_get(list, j) == d)
            json_array_remove(list, j);
    app_event(c, "application.user_membership.remove", a, u, uname);
    sbok__no_content(c);
}

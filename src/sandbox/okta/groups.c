/* okta_groups.c — Okta groups: list (plain, q=, search=, filter=), get,
 * members, and membership changes.
 *
 * A stored group is the Group object plus "_sbx": {seq, members: [userId]}.
 * Only OKTA_GROUP memberships change through the API; an APP_GROUP or the
 * BUILT_IN "Everyone" group refuses with 403 E0000006, as Okta answers (seen
 * in terraform-provider-okta #118). Everyone's members are computed: every
 * user. Re-adding a member, or removing a non-member, is an idempotent 204
 * with no event. Called with sb->lock held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sandbox/okta/internal.h"

#define GROUPS_DEFAULT_LIMIT 10000
#define GROUPS_MAX_LIMIT 10000
#define GROUPS_Q_LIMIT 300
#define MEMBERS_DEFAULT_LIMIT 1000
#define MEMBERS_MAX_LIMIT 10000

json_t *okta__group_new(struct sandbox *sb, struct sbx_okta *o, const char *type, const json_t *profile)
{
    char id[32], now[32];
    sbx__new_id(sb, "00g", id);
    okta__now_iso(now);
    const char *oc = strcmp(type, "APP_GROUP") == 0 ? "okta:windows_security_principal" : "okta:user_group";
    return json_pack("{s:s, s:s, s:s, s:s, s:[s], s:s, s:o, s:{s:I, s:[]}}", "id", id, "created", now,
                     "lastUpdated", now, "lastMembershipUpdated", now, "objectClass", oc, "type", type, "profile",
                     json_deep_copy(profile), "_sbx", "seq", (json_int_t)okta__next_seq(o), "members");
}

bool okta__group_has_member(const json_t *group, const char *user_id)
{
    if (strcmp(json_string_value(json_object_get(group, "type")) ?: "", "BUILT_IN") == 0)
        return true; /* Everyone */
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(json_object_get(group, "_sbx"), "members"), i, m)
    {
        if (strcmp(json_string_value(m) ?: "", user_id) == 0)
            return true;
    }
    return false;
}

static size_t member_count(struct sbx_okta *o, const json_t *group)
{
    if (strcmp(json_string_value(json_object_get(group, "type")) ?: "", "BUILT_IN") == 0)
        return json_array_size(o->users);
    return json_array_size(json_object_get(json_object_get(group, "_sbx"), "members"));
}

json_t *okta__group_public(struct okta_ctx *c, const json_t *group)
{
    json_t *p = okta__public(group);
    const char *id = json_string_value(json_object_get(group, "id"));
    char self[400], users[420], apps[420];
    snprintf(self, sizeof self, "%s/api/v1/groups/%s", c->base, id);
    snprintf(users, sizeof users, "%s/users", self);
    snprintf(apps, sizeof apps, "%s/apps", self);
    json_object_set_new(p, "_links", json_pack("{s:{s:s}, s:{s:s}, s:{s:s}}", "self", "href", self, "users", "href",
                                               users, "apps", "href", apps));
    const char *expand = c->req ? okta__q(c, "expand") : NULL;
    if (expand && strstr(expand, "stats")) {
        size_t napps = 0, i;
        json_t *app;
        json_array_foreach(c->o->apps, i, app)
        {
            json_t *g;
            size_t j;
            json_array_foreach(json_object_get(json_object_get(app, "_sbx"), "groups"), j, g)
            {
                if (strcmp(json_string_value(g) ?: "", id) == 0)
                    napps++;
            }
        }
        json_object_set_new(p, "_embedded", json_pack("{s:{s:i, s:i, s:i, s:b}}", "stats", "usersCount",
                                                      (int)member_count(c->o, group), "appsCount", (int)napps,
                                                      "groupPushMappingsCount", 0, "hasAdminPrivlege", 0));
    }
    return p;
}

void okta__groups_list(struct okta_ctx *c)
{
    const char *search = okta__q(c, "search"), *filter = okta__q(c, "filter"), *q = okta__q(c, "q");
    struct okta_expr *expr = NULL;
    struct idf_err err = {0};
    int limit;
    if (search && okta__expr_parse(search, OKTA_EXPR_GROUP_SEARCH, &expr, &err) != 0)
        return okta__error1(c, 400, "E0000031", "Invalid search criteria.", err.msg);
    if (!search && filter && okta__expr_parse(filter, OKTA_EXPR_GROUP_FILTER, &expr, &err) != 0)
        return okta__error1(c, 400, "E0000031", "Invalid search criteria.", err.msg);
    bool pageable = !q || expr;
    if (!okta__q_limit(c, pageable ? GROUPS_DEFAULT_LIMIT : GROUPS_Q_LIMIT, GROUPS_MAX_LIMIT, &limit)) {
        okta__expr_free(expr);
        return;
    }
    size_t n = json_array_size(c->o->groups), i, k = 0;
    int64_t *seqs = calloc(n + 1, sizeof *seqs);
    json_t *items = json_array(), *g;
    json_array_foreach(c->o->groups, i, g)
    {
        if (expr && !okta__expr_match(expr, g, NULL, NULL))
            continue;
        if (!expr && q) {
            const char *name = json_string_value(json_object_get(json_object_get(g, "profile"), "name"));
            if (!name || strncasecmp(name, q, strlen(q)) != 0)
                continue;
        }
        if (seqs)
            seqs[k++] = okta__seq_of(g);
        json_array_append_new(items, okta__group_public(c, g));
    }
    okta__expr_free(expr);
    if (!seqs) {
        json_decref(items);
        return okta__error(c, 500, "E0000009", "Internal Server Error", NULL);
    }
    okta__page(c, items, seqs, limit, pageable);
    free(seqs);
}

static json_t *path_group(struct okta_ctx *c)
{
    json_t *g = okta__find_id(c->o->groups, c->seg[1]);
    if (!g)
        okta__not_found(c, c->seg[1], "UserGroup");
    return g;
}

void okta__groups_get(struct okta_ctx *c)
{
    json_t *g = path_group(c);
    if (g)
        okta__json(c, 200, okta__group_public(c, g));
}

void okta__groups_members(struct okta_ctx *c)
{
    json_t *g = path_group(c);
    int limit;
    if (!g || !okta__q_limit(c, MEMBERS_DEFAULT_LIMIT, MEMBERS_MAX_LIMIT, &limit))
        return;
    size_t n = json_array_size(c->o->users), i, k = 0;
    int64_t *seqs = calloc(n + 1, sizeof *seqs);
    json_t *items = json_array(), *u;
    json_array_foreach(c->o->users, i, u)
    {
        if (!okta__group_has_member(g, json_string_value(json_object_get(u, "id")) ?: ""))
            continue;
        if (seqs)
            seqs[k++] = okta__seq_of(u);
        json_t *p = okta__user_public(c, u);
        json_t *self = json_deep_copy(json_object_get(json_object_get(p, "_links"), "self"));
        json_object_set_new(p, "_links", json_pack("{s:o}", "self", self));
        json_array_append_new(items, p);
    }
    if (!seqs) {
        json_decref(items);
        return okta__error(c, 500, "E0000009", "Internal Server Error", NULL);
    }
    okta__page(c, items, seqs, limit, true);
    free(seqs);
}

/* Common checks of PUT/DELETE /groups/{gid}/users/{uid}. */
static bool membership_target(struct okta_ctx *c, json_t **g, json_t **u)
{
    *g = path_group(c);
    if (!*g)
        return false;
    *u = okta__find_id(c->o->users, c->seg[3]); /* {userId} is the id */
    if (!*u) {
        okta__not_found(c, c->seg[3], "User");
        return false;
    }
    if (strcmp(json_string_value(json_object_get(*g, "type")) ?: "", "OKTA_GROUP") != 0) {
        okta__error(c, 403, "E0000006", "You do not have permission to perform the requested action", NULL);
        return false;
    }
    return true;
}

static void membership_event(struct okta_ctx *c, json_t *g, json_t *u, const char *type)
{
    char now[32];
    okta__now_iso(now);
    json_object_set_new(g, "lastMembershipUpdated", json_string(now));
    json_t *ev = okta__event_new(c, type);
    okta__event_target_user(ev, u);
    okta__event_target_group(ev, g);
    okta__event_commit(c, ev);
}

void okta__groups_add_member(struct okta_ctx *c)
{
    json_t *g, *u;
    if (!membership_target(c, &g, &u))
        return;
    if (!okta__group_has_member(g, json_string_value(json_object_get(u, "id")))) {
        json_t *s = okta__sbx(g), *m = json_object_get(s, "members");
        if (!m) {
            m = json_array();
            json_object_set_new(s, "members", m);
        }
        json_array_append(m, json_object_get(u, "id"));
        membership_event(c, g, u, "group.user_membership.add");
    }
    okta__no_content(c);
}

void okta__groups_remove_member(struct okta_ctx *c)
{
    json_t *g, *u;
    if (!membership_target(c, &g, &u))
        return;
    json_t *m = json_object_get(json_object_get(g, "_sbx"), "members");
    const char *uid = json_string_value(json_object_get(u, "id"));
    for (size_t j = json_array_size(m); j-- > 0;) {
        if (strcmp(json_string_value(json_array_get(m, j)) ?: "", uid) == 0) {
            json_array_remove(m, j);
            membership_event(c, g, u, "group.user_membership.remove");
            break;
        }
    }
    okta__no_content(c);
}

/* okta/groups.c — Okta groups: list (plain, q=, search=, filter=), get,
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

json_t *sbok__group_new(struct sandbox *sb, struct sbok_org *o, const char *type, const json_t *profile)
{
    char id[32], now[32];
    sbx__new_id(sb, "00g", id);
    sbok__now_iso(now);
    const char *oc = strcmp(type, "APP_GROUP") == 0 ? "okta:windows_security_principal" : "okta:user_group";
    return json_pack("{s:s, s:s, s:s, s:s, s:[s], s:s, s:o, s:{s:I, s:[]}}", "id", id, "created", now,
                     "lastUpdated", now, "lastMembershipUpdated", now, "objectClass", oc, "type", type, "profile",
                     json_deep_copy(profile), "_sbx", "seq", (json_int_t)sbok__next_seq(o), "members");
}

bool sbok__group_has_member(const json_t *group, const char *user_id)
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

static size_t member_count(struct sbok_org *o, const json_t *group)
{
    if (strcmp(json_string_value(json_object_get(group, "type")) ?: "", "BUILT_IN") == 0)
        return json_array_size(o->users);
    return json_array_size(json_object_get(json_object_get(group, "_sbx"), "members"));
}

json_t *sbok__group_public(struct sbok_ctx *c, const json_t *group)
{
    json_t *p = sbok__public(group);
    const char *id = json_string_value(json_object_get(group, "id"));
    char self[400], users[420], apps[420];
    snprintf(self, sizeof self, "%s/api/v1/groups/%s", c->base, id);
    snprintf(users, sizeof users, "%s/users", self);
    snprintf(apps, sizeof apps, "%s/apps", self);
    json_object_set_new(p, "_links", json_pack("{s:{s:s}, s:{s:s}, s:{s:s}}", "self", "href", self, "users", "href",
                                               users, "apps", "href", apps));
    const char *expand = c->req ? sbok__q(c, "expand") : NULL;
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

void sbok__groups_list(struct sbok_ctx *c)
{
    const char *search = sbok__q(c, "search"), *filter = sbok__q(c, "filter"), *q = sbok__q(c, "q");
    struct sbok_expr *expr = NULL;
    struct idf_err err = {0};
    int limit;
    if (search && sbok__expr_parse(search, SBOK_EXPR_GROUP_SEARCH, &expr, &err) != 0)
        return sbok__error1(c, 400, "E0000031", "Invalid search criteria.", err.msg);
    if (!search && filter && sbok__expr_parse(filter, SBOK_EXPR_GROUP_FILTER, &expr, &err) != 0)
        return sbok__error1(c, 400, "E0000031", "Invalid search criteria.", err.msg);
    bool pageable = !q || expr;
    if (!sbok__q_limit(c, pageable ? GROUPS_DEFAULT_LIMIT : GROUPS_Q_LIMIT, GROUPS_MAX_LIMIT, &limit)) {
        sbok__expr_free(expr);
        return;
    }
    size_t n = json_array_size(c->o->groups), i, k = 0;
    int64_t *seqs = calloc(n + 1, sizeof *seqs);
    json_t *items = json_array(), *g;
    json_array_foreach(c->o->groups, i, g)
    {
        if (expr && !sbok__expr_match(expr, g, NULL, NULL))
            continue;
        if (!expr && q) {
            const char *name = json_string_value(json_object_get(json_object_get(g, "profile"), "name"));
            if (!name || strncasecmp(name, q, strlen(q)) != 0)
                continue;
        }
        if (seqs)
            seqs[k++] = sbok__seq_of(g);
        json_array_append_new(items, sbok__group_public(c, g));
    }
    sbok__expr_free(expr);
    if (!seqs) {
        json_decref(items);
        return sbok__error(c, 500, "E0000009", "Internal Server Error", NULL);
    }
    sbok__page(c, items, seqs, limit, pageable);
    free(seqs);
}

static json_t *path_group(struct sbok_ctx *c)
{
    json_t *g = sbok__find_id(c->o->groups, c->seg[1]);
    if (!g)
        sbok__not_found(c, c->seg[1], "UserGroup");
    return g;
}

void sbok__groups_get(struct sbok_ctx *c)
{
    json_t *g = path_group(c);
    if (g)
        sbok__json(c, 200, sbok__group_public(c, g));
}

void sbok__groups_members(struct sbok_ctx *c)
{
    json_t *g = path_group(c);
    int limit;
    if (!g || !sbok__q_limit(c, MEMBERS_DEFAULT_LIMIT, MEMBERS_MAX_LIMIT, &limit))
        return;
    size_t n = json_array_size(c->o->users), i, k = 0;
    int64_t *seqs = calloc(n + 1, sizeof *seqs);
    json_t *items = json_array(), *u;
    json_array_foreach(c->o->users, i, u)
    {
        if (!sbok__group_has_member(g, json_string_value(json_object_get(u, "id")) ?: ""))
            continue;
        if (seqs)
            seqs[k++] = sbok__seq_of(u);
        json_t *p = sbok__user_public(c, u);
        json_t *self = json_deep_copy(json_object_get(json_object_get(p, "_links"), "self"));
        json_object_set_new(p, "_links", json_pack("{s:o}", "self", self));
        json_array_append_new(items, p);
    }
    if (!seqs) {
        json_decref(items);
        return sbok__error(c, 500, "E0000009", "Internal Server Error", NULL);
    }
    sbok__page(c, items, seqs, limit, true);
    free(seqs);
}

/* Common checks of PUT/DELETE /groups/{gid}/users/{uid}. */
static bool membership_target(struct sbok_ctx *c, json_t **g, json_t **u)
{
    *g = path_group(c);
    if (!*g)
        return false;
    *u = sbok__find_id(c->o->users, c->seg[3]); /* {userId} is the id */
    if (!*u) {
        sbok__not_found(c, c->seg[3], "User");
        return false;
    }
    if (strcmp(json_string_value(json_object_get(*g, "type")) ?: "", "OKTA_GROUP") != 0) {
        sbok__error(c, 403, "E0000006", "You do not have permission to perform the requested action", NULL);
        return false;
    }
    return true;
}

static void membership_event(struct sbok_ctx *c, json_t *g, json_t *u, const char *type)
{
    char now[32];
    sbok__now_iso(now);
    json_object_set_new(g, "lastMembershipUpdated", json_string(now));
    json_t *ev = sbok__event_new(c, type);
    sbok__event_target_user(ev, u);
    sbok__event_target_group(ev, g);
    sbok__event_commit(c, ev);
}

void sbok__groups_add_member(struct sbok_ctx *c)
{
    json_t *g, *u;
    if (!membership_target(c, &g, &u))
        return;
    if (!sbok__group_has_member(g, json_string_value(json_object_get(u, "id")))) {
        json_t *s = sbok__sbx(g), *m = json_object_get(s, "members");
        if (!m) {
            m = json_array();
            json_object_set_new(s, "members", m);
        }
        json_array_append(m, json_object_get(u, "id"));
        membership_event(c, g, u, "group.user_membership.add");
    }
    sbok__no_content(c);
}

void sbok__groups_remove_member(struct sbok_ctx *c)
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
    sbok__no_content(c);
}

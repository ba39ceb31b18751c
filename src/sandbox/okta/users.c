/* okta/users.c — Okta users: the stored record and its public form, create,
 * get (id, login, short name, `me`), list (plain, search=, filter=, q=),
 * partial update and full replace, the two-step delete, a user's groups and
 * app links.
 *
 * A stored user is the User object plus "_sbx": {seq, password (bool: a
 * password is set; the value is never kept), sessions [{id, createdAt}],
 * factors [{id, factorType, provider, status}], failed (failed sign-ins),
 * transitionUntil (ms; with `transitioningToStatus` while an async
 * activation runs)}. Called with sb->lock held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "sandbox/okta/internal.h"

#define USERS_DEFAULT_LIMIT 200
#define USERS_MAX_LIMIT 200
#define USERS_Q_LIMIT 10

/* ------------------------------------------------------------ record */

const char *sbok__user_status(const json_t *user)
{
    return json_string_value(json_object_get(user, "status")) ?: "";
}

void sbok__user_touch(json_t *user)
{
    char now[32];
    sbok__now_iso(now);
    json_object_set_new(user, "lastUpdated", json_string(now));
}

void sbok__user_set_status(json_t *user, const char *status)
{
    char now[32];
    sbok__now_iso(now);
    if (strcmp(status, "ACTIVE") == 0 && json_is_null(json_object_get(user, "activated")))
        json_object_set_new(user, "activated", json_string(now));
    if (strcmp(sbok__user_status(user), status) != 0)
        json_object_set_new(user, "statusChanged", json_string(now));
    json_object_set_new(user, "status", json_string(status));
    json_object_set_new(user, "lastUpdated", json_string(now));
}

json_t *sbok__user_new(struct sandbox *sb, struct sbok_org *o, const json_t *profile, const char *status,
                       bool password)
{
    char id[32], now[32];
    sbx__new_id(sb, "00u", id);
    sbok__now_iso(now);
    bool staged = strcmp(status, "STAGED") == 0;
    json_t *creds = json_pack("{s:{s:s, s:s}}", "provider", "type", "OKTA", "name", "OKTA");
    if (password)
        json_object_set_new(creds, "password", json_object());
    json_t *u = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:{s:s}, s:o, s:o,"
                          " s:{s:I, s:b, s:[], s:[], s:i}}",
                          "id", id, "status", status, "created", now,
                          "activated", staged || strcmp(status, "PROVISIONED") == 0 ? json_null() : json_string(now),
                          "statusChanged", staged ? json_null() : json_string(now), "lastLogin", json_null(),
                          "lastUpdated", now, "passwordChanged", password ? json_string(now) : json_null(), "type",
                          "id", json_string_value(json_object_get(o->org, "userTypeId")) ?: "oty1sandboxdefault00",
                          "profile", json_deep_copy(profile), "credentials", creds, "_sbx", "seq",
                          (json_int_t)sbok__next_seq(o), "password", password, "sessions", "factors", "failed", 0);
    return u;
}

void sbok__user_remove(struct sbok_org *o, const char *user_id)
{
    size_t i, j;
    json_t *v, *arr;
    json_array_foreach(o->groups, i, v)
    {
        arr = json_object_get(json_object_get(v, "_sbx"), "members");
        for (j = json_array_size(arr); j-- > 0;)
            if (strcmp(json_string_value(json_array_get(arr, j)) ?: "", user_id) == 0)
                json_array_remove(arr, j);
    }
    json_array_foreach(o->apps, i, v)
    {
        arr = json_object_get(json_object_get(v, "_sbx"), "users");
        for (j = json_array_size(arr); j-- > 0;)
            if (strcmp(json_string_value(json_object_get(json_array_get(arr, j), "id")) ?: "", user_id) == 0)
                json_array_remove(arr, j);
    }
    for (j = json_array_size(o->users); j-- > 0;)
        if (strcmp(json_string_value(json_object_get(json_array_get(o->users, j), "id")) ?: "", user_id) == 0)
            json_array_remove(o->users, j);
}

bool sbok__user_busy(struct sbok_ctx *c, json_t *user)
{
    json_int_t until = json_integer_value(json_object_get(json_object_get(user, "_sbx"), "transitionUntil"));
    if (until > 0 && until > time_now_ms()) {
        sbok__error(c, 409, "E0000112",
                    "Cannot update this user because they are still being activated. Please try again in a few "
                    "minutes.",
                    NULL);
        return true;
    }
    return false;
}

void sbok__users_tick(struct sbok_org *o)
{
    size_t i;
    json_t *u;
    int64_t now = time_now_ms();
    json_array_foreach(o->users, i, u)
    {
        json_t *s = json_object_get(u, "_sbx");
        json_int_t until = json_integer_value(json_object_get(s, "transitionUntil"));
        const char *to = json_string_value(json_object_get(u, "transitioningToStatus"));
        if (until > 0 && until <= now) {
            if (to)
                sbok__user_set_status(u, to);
            json_object_del(u, "transitioningToStatus");
            json_object_del(s, "transitionUntil");
        }
    }
}

/* ------------------------------------------------------ public form */

static void add_link(struct sbok_ctx *c, json_t *links, const char *name, const char *id, const char *op)
{
    char href[512];
    if (op)
        snprintf(href, sizeof href, "%s/api/v1/users/%s/lifecycle/%s", c->base, id, op);
    else
        snprintf(href, sizeof href, "%s/api/v1/users/%s", c->base, id);
    json_object_set_new(links, name, op ? json_pack("{s:s, s:s}", "href", href, "method", "POST")
                                        : json_pack("{s:s}", "href", href));
}

/* The full `_links` of a single user: the operations its status allows. */
static json_t *user_links(struct sbok_ctx *c, const json_t *user, bool full)
{
    const char *id = json_string_value(json_object_get(user, "id"));
    const char *st = sbok__user_status(user);
    json_t *l = json_object();
    add_link(c, l, "self", id, NULL);
    if (!full)
        return l;
    bool has_factors = json_array_size(json_object_get(json_object_get(user, "_sbx"), "factors")) > 0;
    bool deprov = strcmp(st, "DEPROVISIONED") == 0;
    if (strcmp(st, "STAGED") == 0 || deprov)
        add_link(c, l, "activate", id, "activate");
    if (strcmp(st, "PROVISIONED") == 0 || strcmp(st, "RECOVERY") == 0)
        add_link(c, l, "reactivate", id, "reactivate");
    if (strcmp(st, "ACTIVE") == 0)
        add_link(c, l, "suspend", id, "suspend");
    if (strcmp(st, "SUSPENDED") == 0)
        add_link(c, l, "unsuspend", id, "unsuspend");
    if (strcmp(st, "LOCKED_OUT") == 0)
        add_link(c, l, "unlock", id, "unlock");
    if (strcmp(st, "ACTIVE") == 0 || strcmp(st, "RECOVERY") == 0 || strcmp(st, "PASSWORD_EXPIRED") == 0 ||
        strcmp(st, "LOCKED_OUT") == 0)
        add_link(c, l, "resetPassword", id, "reset_password");
    if (strcmp(st, "ACTIVE") == 0 || strcmp(st, "PASSWORD_EXPIRED") == 0)
        add_link(c, l, "expirePassword", id, "expire_password");
    if (has_factors && !deprov)
        add_link(c, l, "resetFactors", id, "reset_factors");
    if (!deprov)
        add_link(c, l, "deactivate", id, "deactivate");
    return l;
}

static json_t *user_public(struct sbok_ctx *c, const json_t *user, bool full)
{
    json_t *p = sbok__public(user);
    json_object_set_new(p, "_links", user_links(c, user, full));
    return p;
}

json_t *sbok__user_public(struct sbok_ctx *c, const json_t *user)
{
    return user_public(c, user, true);
}

/* The user named by path segment i, or NULL after answering 404. */
static json_t *path_user(struct sbok_ctx *c, int i)
{
    const char *key = c->seg[i];
    json_t *u = NULL;
    if (strcmp(key, "me") == 0 && !c->scopes)
        u = sbok__find_id(c->o->users, json_string_value(json_object_get(c->o->org, "apiTokenUserId")));
    else
        u = sbok__user_find_path(c->o, key);
    if (!u)
        sbok__not_found(c, key, "User");
    return u;
}

/* -------------------------------------------------------------- list */

void sbok__users_list(struct sbok_ctx *c)
{
    const char *search = sbok__q(c, "search"), *filter = sbok__q(c, "filter"), *q = sbok__q(c, "q");
    struct sbok_expr *expr = NULL;
    struct idf_err err = {0};
    int limit;
    if (search && sbok__expr_parse(search, SBOK_EXPR_USER_SEARCH, &expr, &err) != 0) {
        sbok__error1(c, 400, "E0000031", "Invalid search criteria.", err.msg);
        return;
    }
    if (!search && filter && sbok__expr_parse(filter, SBOK_EXPR_USER_FILTER, &expr, &err) != 0) {
        sbok__error1(c, 400, "E0000031", "Invalid search criteria.", err.msg);
        return;
    }
    bool pageable = !q || search || filter;
    if (!sbok__q_limit(c, pageable ? USERS_DEFAULT_LIMIT : USERS_Q_LIMIT, USERS_MAX_LIMIT, &limit)) {
        sbok__expr_free(expr);
        return;
    }
    json_t *items = json_array();
    size_t n = json_array_size(c->o->users), i;
    int64_t *seqs = calloc(n + 1, sizeof *seqs);
    size_t k = 0;
    json_t *u;
    json_array_foreach(c->o->users, i, u)
    {
        const json_t *p = json_object_get(u, "profile");
        if (expr) {
            if (!sbok__expr_match(expr, u, NULL, NULL))
                continue;
        } else {
            if (strcmp(sbok__user_status(u), "DEPROVISIONED") == 0)
                continue; /* hidden from plain lists and q= */
            if (q) {
                const char *f[] = {"firstName", "lastName", "email"};
                bool hit = false;
                for (int j = 0; j < 3 && !hit; j++) {
                    const char *v = json_string_value(json_object_get(p, f[j]));
                    hit = v && strncasecmp(v, q, strlen(q)) == 0;
                }
                if (!hit)
                    continue;
            }
        }
        if (seqs)
            seqs[k++] = sbok__seq_of(u);
        json_array_append_new(items, user_public(c, u, false));
    }
    sbok__expr_free(expr);
    if (!seqs) {
        json_decref(items);
        sbok__error(c, 500, "E0000009", "Internal Server Error", NULL);
        return;
    }
    sbok__page(c, items, seqs, limit, pageable);
    free(seqs);
}

/* ------------------------------------------------------------ create */

/* Validates credentials; false after answering. */
static bool parse_credentials(struct sbok_ctx *c, const json_t *cred, bool *password)
{
    *password = false;
    if (!cred)
        return true;
    if (!json_is_object(cred)) {
        sbok__bad_body(c);
        return false;
    }
    const json_t *pw = json_object_get(cred, "password");
    if (pw && !json_is_null(pw)) {
        const json_t *val = json_object_get(pw, "value");
        if (!json_is_object(pw) || (val && !json_is_string(val))) {
            sbok__bad_body(c);
            return false;
        }
        *password = val && json_string_length(val) > 0;
    }
    const json_t *rq = json_object_get(cred, "recovery_question");
    if (rq && !json_is_null(rq) && !json_is_object(rq)) {
        sbok__bad_body(c);
        return false;
    }
    return true;
}

void sbok__users_create(struct sbok_ctx *c)
{
    struct sbok_org *o = c->o;
    if (!sbok__body(c, false))
        return;
    json_t *profile = json_object_get(c->body, "profile"), *groups = json_object_get(c->body, "groupIds");
    bool password = false;
    if ((profile && !json_is_object(profile)) || (groups && !json_is_array(groups)))
        return sbok__bad_body(c);
    if (!parse_credentials(c, json_object_get(c->body, "credentials"), &password))
        return;
    bool activate = sbok__q_bool(c, "activate", true), provider = sbok__q_bool(c, "provider", false);
    const char *next_login = sbok__q(c, "nextLogin");
    bool expire = next_login && strcmp(next_login, "changePassword") == 0;
    if (expire && !activate)
        return sbok__error(c, 400, "E0000125",
                           "Could not create user. To create a user and expire their password immediately, "
                           "\"activate\" must be true.",
                           NULL);
    if (expire && !password)
        return sbok__error(c, 400, "E0000124",
                           "Could not create user. To create a user and expire their password immediately, a "
                           "password must be specified.",
                           NULL);
    if (json_array_size(groups) > SBOK_MAX_GROUP_IDS)
        return sbok__error(c, 400, "E0000093", "Target count limit exceeded", NULL);
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g)
    {
        if (!json_is_string(g))
            return sbok__bad_body(c);
        if (!sbok__find_id(o->groups, json_string_value(g)))
            return sbok__not_found(c, json_string_value(g), "UserGroup");
    }
    if (json_array_size(o->users) >= SBOK_MAX_USERS)
        return sbok__error1(c, 400, "E0000001", "Api validation failed: user", "The sandbox holds at most 20000 users");

    const char *status = "STAGED";
    if (activate)
        status = provider || password ? (expire ? "PASSWORD_EXPIRED" : "ACTIVE") : "PROVISIONED";
    json_t *empty = json_object();
    json_t *u = sbok__user_new(c->sb, o, empty, "STAGED", password);
    bool applied = sbok__profile_apply(c, u, profile ? profile : empty, true, NULL);
    json_decref(empty); /* borrowed by both calls, never kept (the profile is copied) */
    if (!applied) {
        json_decref(u);
        return;
    }
    if (provider) {
        json_t *pv = json_object_get(json_object_get(c->body, "credentials"), "provider");
        if (json_is_object(pv))
            json_object_set(json_object_get(u, "credentials"), "provider", pv);
    }
    if (json_is_object(json_object_get(c->body, "type")))
        json_object_set(u, "type", json_object_get(c->body, "type"));
    json_array_append_new(o->users, u);
    sbok__event_user(c, "user.lifecycle.create", u);
    if (activate) {
        if (o->activation_ms > 0) {
            json_object_set_new(u, "transitioningToStatus",
                                json_string(strcmp(status, "PROVISIONED") == 0 ? "PROVISIONED" : "ACTIVE"));
            json_object_set_new(json_object_get(u, "_sbx"), "transitionUntil",
                                json_integer(time_now_ms() + o->activation_ms));
        } else {
            sbok__user_set_status(u, status);
        }
        sbok__event_user(c, "user.lifecycle.activate", u);
    }
    json_array_foreach(groups, i, g)
    {
        json_t *grp = sbok__find_id(o->groups, json_string_value(g));
        json_t *members = json_object_get(sbok__sbx(grp), "members");
        if (!members) {
            members = json_array();
            json_object_set_new(json_object_get(grp, "_sbx"), "members", members);
        }
        if (!sbok__group_has_member(grp, json_string_value(json_object_get(u, "id")))) {
            json_array_append(members, json_object_get(u, "id"));
            json_t *ev = sbok__event_new(c, "group.user_membership.add");
            sbok__event_target_user(ev, u);
            sbok__event_target_group(ev, grp);
            sbok__event_commit(c, ev);
        }
    }
    sbok__json(c, 200, sbok__user_public(c, u));
}

/* --------------------------------------------------- get and update */

void sbok__users_get(struct sbok_ctx *c)
{
    json_t *u = path_user(c, 1);
    if (!u)
        return;
    char etag[64];
    snprintf(etag, sizeof etag, "W/\"%lld\"", (long long)sbok__iso_ms(json_string_value(json_object_get(u, "lastUpdated"))));
    sbok__header(c, "ETag", etag);
    sbok__json(c, 200, sbok__user_public(c, u));
}

void sbok__users_update(struct sbok_ctx *c, bool replace)
{
    json_t *u = path_user(c, 1);
    if (!u || !sbok__body(c, false))
        return;
    if (strcmp(sbok__user_status(u), "DEPROVISIONED") == 0)
        return sbok__not_found(c, c->seg[1], "User");
    if (sbok__user_busy(c, u))
        return;
    json_t *profile = json_object_get(c->body, "profile");
    bool password = false;
    if (profile && !json_is_object(profile))
        return sbok__bad_body(c);
    if (!parse_credentials(c, json_object_get(c->body, "credentials"), &password))
        return;
    json_t *changes = NULL;
    if ((profile || replace) && !sbok__profile_apply(c, u, profile ? profile : json_object(), replace, &changes))
        return;
    sbok__user_touch(u);
    if (changes) {
        json_t *ev = sbok__event_new(c, "user.account.update_profile");
        sbok__event_target_user(ev, u);
        json_t *t0 = json_array_get(json_object_get(ev, "target"), 0);
        json_object_set(t0, "changeDetails", changes);
        struct buf names;
        buf_init(&names, 4096);
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(changes, "to"), k, v)
        {
            if (buf_printf(&names, "%s%s", names.len ? "," : "", k) != 0)
                break;
        }
        json_object_set_new(json_object_get(json_object_get(ev, "debugContext"), "debugData"), "changedAttributes",
                            json_string(names.data ? names.data : ""));
        buf_free(&names);
        sbok__event_commit(c, ev);
        json_decref(changes);
    }
    if (password) {
        char now[32];
        sbok__now_iso(now);
        json_object_set_new(u, "passwordChanged", json_string(now));
        json_object_set_new(json_object_get(u, "credentials"), "password", json_object());
        json_object_set_new(sbok__sbx(u), "password", json_true());
        sbok__event_user(c, "user.account.update_password", u);
    }
    sbok__json(c, 200, sbok__user_public(c, u));
}

void sbok__users_delete(struct sbok_ctx *c)
{
    json_t *u = path_user(c, 1);
    if (!u || sbok__user_busy(c, u))
        return;
    if (strcmp(sbok__user_status(u), "DEPROVISIONED") != 0) {
        sbok__user_deactivate(c, u); /* the first DELETE only deactivates */
        return sbok__no_content(c);
    }
    sbok__event_user(c, "user.lifecycle.delete.initiated", u);
    sbok__event_user(c, "user.lifecycle.delete.completed", u);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(u, "id")));
    sbok__user_remove(c->o, id);
    sbok__no_content(c);
}

/* ------------------------------------------------ groups, app links */

void sbok__users_groups(struct sbok_ctx *c)
{
    json_t *u = path_user(c, 1);
    if (!u)
        return;
    const char *uid = json_string_value(json_object_get(u, "id"));
    json_t *out = json_array();
    size_t i;
    json_t *g;
    json_array_foreach(c->o->groups, i, g)
    {
        if (sbok__group_has_member(g, uid))
            json_array_append_new(out, sbok__group_public(c, g));
    }
    sbok__json(c, 200, out);
}

void sbok__users_app_links(struct sbok_ctx *c)
{
    json_t *u = path_user(c, 1);
    if (!u)
        return;
    json_t *out = json_array();
    size_t i;
    json_t *app;
    int order = 0;
    json_array_foreach(c->o->apps, i, app)
    {
        if (strcmp(json_string_value(json_object_get(app, "status")) ?: "", "ACTIVE") != 0)
            continue;
        json_t *au = sbok__app_user_for(c, app, u);
        if (!au)
            continue;
        const char *aid = json_string_value(json_object_get(app, "id"));
        const char *label = json_string_value(json_object_get(app, "label")) ?: "";
        char link[512], logo[512], assign[32];
        snprintf(link, sizeof link, "%s/home/%s/%s/sandbox", c->base,
                 json_string_value(json_object_get(app, "name")) ?: "app", aid);
        snprintf(logo, sizeof logo, "%s/assets/img/logos/default.png", c->base);
        snprintf(assign, sizeof assign, "0ua%.17s", aid + (strlen(aid) > 3 ? 3 : 0));
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:i}", "id", aid,
                                             "label", label, "linkUrl", link, "logoUrl", logo, "appName",
                                             json_string_value(json_object_get(app, "name")) ?: "", "appInstanceId",
                                             aid, "appAssignmentId", assign, "credentialsSetup", 0, "hidden", 0,
                                             "sortOrder", order++));
        json_decref(au);
    }
    sbok__json(c, 200, out);
}

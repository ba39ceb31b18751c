/* okta/seed.c — builds the Okta half's state from the "okta" object of a
 * seed (the format is in docs/sandbox.md).
 *
 * Seeds name things by login and group name, so a seed file stays readable;
 * ids are generated unless the seed gives one (the default seed pins the
 * service app's client_id so tests can sign assertions for it). A bad seed
 * is refused with a message naming the entry. Runs in sandbox_start and
 * /_sandbox/reset (lock held or before threads start). */
#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"
#include "sandbox/okta/internal.h"

#define SEED_MAX_FACTORS 10

static const char *const statuses[] = {"STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED",
                                       "LOCKED_OUT", "SUSPENDED", "DEPROVISIONED", NULL};

static bool valid_status(const char *s)
{
    for (int i = 0; s && statuses[i]; i++)
        if (strcmp(s, statuses[i]) == 0)
            return true;
    return false;
}

static void set_id(json_t *obj, const json_t *seed)
{
    const char *id = json_string_value(json_object_get(seed, "id"));
    if (id && *id)
        json_object_set_new(obj, "id", json_string(id));
}

static int load_users(struct sandbox *sb, struct sbok_org *o, const json_t *users, struct idf_err *err)
{
    size_t i;
    json_t *su;
    json_array_foreach(users, i, su)
    {
        const json_t *profile = json_object_get(su, "profile");
        const char *login = json_string_value(json_object_get(profile, "login"));
        const char *status = json_string_value(json_object_get(su, "status"));
        if (!status)
            status = "ACTIVE";
        if (!json_is_object(profile) || !login || !valid_status(status))
            return idf_err_set(err, IDF_EINVAL, "seed okta.users[%zu]: needs profile.login and a valid status", i);
        if (sbok__user_find(o, login))
            return idf_err_set(err, IDF_EINVAL, "seed okta.users[%zu]: duplicate login %s", i, login);
        if (json_array_size(o->users) >= SBOK_MAX_USERS)
            return idf_err_set(err, IDF_ETOOBIG, "seed: more than %d users", SBOK_MAX_USERS);
        bool before_creds = strcmp(status, "STAGED") == 0 || strcmp(status, "PROVISIONED") == 0;
        json_t *pw = json_object_get(su, "password");
        bool password = pw ? json_is_true(pw) : !before_creds;
        json_t *u = sbok__user_new(sb, o, profile, status, password);
        set_id(u, su);
        const char *created = json_string_value(json_object_get(su, "created"));
        if (created && sbok__iso_ms(created) >= 0) {
            json_object_set_new(u, "created", json_string(created));
            if (!before_creds)
                json_object_set_new(u, "activated", json_string(created));
        }
        json_t *last = json_object_get(su, "lastLogin");
        if (json_is_string(last))
            json_object_set(u, "lastLogin", last);
        json_t *s = sbok__sbx(u), *factors = json_object_get(s, "factors"), *f;
        size_t j;
        json_array_foreach(json_object_get(su, "factors"), j, f)
        {
            char fid[32];
            if (j >= SEED_MAX_FACTORS)
                break;
            sbx__new_id(sb, "ufs", fid);
            json_array_append_new(factors, json_pack("{s:s, s:s, s:s, s:s}", "id", fid, "factorType",
                                                     json_string_value(json_object_get(f, "factorType")) ?: "push",
                                                     "provider", json_string_value(json_object_get(f, "provider")) ?: "OKTA",
                                                     "status", "ACTIVE"));
        }
        json_int_t nsess = json_integer_value(json_object_get(su, "sessions"));
        json_t *sessions = json_object_get(s, "sessions");
        for (json_int_t k = 0; k < nsess && k < SBOK_MAX_SESSIONS; k++) {
            char sid[32], now[32];
            memcpy(sid, "102", 3);
            sbok__rand_alnum(sid + 3, 22);
            sbok__now_iso(now);
            json_array_append_new(sessions, json_pack("{s:s, s:s}", "id", sid, "createdAt", now));
        }
        json_int_t failed = json_integer_value(json_object_get(su, "failedSignIns"));
        json_object_set_new(s, "failed", json_integer(failed));
        json_array_append_new(o->users, u);
    }
    return 0;
}

static json_t *group_by_name(struct sbok_org *o, const char *name)
{
    size_t i;
    json_t *g;
    json_array_foreach(o->groups, i, g)
    {
        if (sbok__ieq(json_string_value(json_object_get(json_object_get(g, "profile"), "name")), name))
            return g;
    }
    return NULL;
}

static int load_groups(struct sandbox *sb, struct sbok_org *o, const json_t *groups, struct idf_err *err)
{
    size_t i, j;
    json_t *sg, *m;
    json_array_foreach(groups, i, sg)
    {
        const char *type = json_string_value(json_object_get(sg, "type"));
        const json_t *profile = json_object_get(sg, "profile");
        if (!type)
            type = "OKTA_GROUP";
        if (!json_is_object(profile) || !json_is_string(json_object_get(profile, "name")) ||
            (strcmp(type, "OKTA_GROUP") != 0 && strcmp(type, "APP_GROUP") != 0 && strcmp(type, "BUILT_IN") != 0))
            return idf_err_set(err, IDF_EINVAL, "seed okta.groups[%zu]: needs profile.name and a valid type", i);
        if (json_array_size(o->groups) >= SBOK_MAX_GROUPS)
            return idf_err_set(err, IDF_ETOOBIG, "seed: more than %d groups", SBOK_MAX_GROUPS);
        json_t *g = sbok__group_new(sb, o, type, profile);
        set_id(g, sg);
        json_t *members = json_object_get(json_object_get(g, "_sbx"), "members");
        json_array_foreach(json_object_get(sg, "members"), j, m)
        {
            json_t *u = sbok__user_find(o, json_string_value(m) ?: "");
            if (!u) {
                idf_err_set(err, IDF_EINVAL, "seed okta.groups[%zu]: unknown member %s", i, json_string_value(m) ?: "?");
                json_decref(g);
                return IDF_EINVAL;
            }
            json_array_append(members, json_object_get(u, "id"));
        }
        json_array_append_new(o->groups, g);
    }
    if (!group_by_name(o, "Everyone")) {
        json_t *p = json_pack("{s:s, s:s}", "name", "Everyone", "description", "All users in your organization");
        json_t *g = sbok__group_new(sb, o, "BUILT_IN", p);
        json_decref(p);
        json_array_insert_new(o->groups, 0, g);
    }
    return 0;
}

static int load_apps(struct sandbox *sb, struct sbok_org *o, const json_t *apps, struct idf_err *err)
{
    size_t i, j;
    json_t *sa, *x;
    const char *internal[] = {"assignedUsers", "assignedGroups", "jwks", "grantedScopes", "id", NULL};
    json_array_foreach(apps, i, sa)
    {
        if (!json_is_string(json_object_get(sa, "label")) || !json_is_string(json_object_get(sa, "signOnMode")))
            return idf_err_set(err, IDF_EINVAL, "seed okta.apps[%zu]: needs label and signOnMode", i);
        if (json_array_size(o->apps) >= SBOK_MAX_APPS)
            return idf_err_set(err, IDF_ETOOBIG, "seed: more than %d apps", SBOK_MAX_APPS);
        json_t *copy = json_deep_copy(sa);
        for (int k = 0; internal[k]; k++)
            json_object_del(copy, internal[k]);
        json_t *a = sbok__app_new(sb, o, copy);
        json_decref(copy);
        set_id(a, sa);
        json_t *s = sbok__sbx(a);
        json_array_foreach(json_object_get(sa, "assignedUsers"), j, x)
        {
            json_t *u = sbok__user_find(o, json_string_value(x) ?: "");
            if (!u) {
                idf_err_set(err, IDF_EINVAL, "seed okta.apps[%zu]: unknown user %s", i, json_string_value(x) ?: "?");
                json_decref(a);
                return IDF_EINVAL;
            }
            json_array_append_new(json_object_get(s, "users"), sbok__app_user_new(a, u, NULL, NULL));
        }
        json_array_foreach(json_object_get(sa, "assignedGroups"), j, x)
        {
            json_t *g = group_by_name(o, json_string_value(x) ?: "");
            if (!g) {
                idf_err_set(err, IDF_EINVAL, "seed okta.apps[%zu]: unknown group %s", i, json_string_value(x) ?: "?");
                json_decref(a);
                return IDF_EINVAL;
            }
            json_array_append(json_object_get(s, "groups"), json_object_get(g, "id"));
        }
        json_t *jwks = json_object_get(sa, "jwks");
        if (jwks)
            json_object_set(s, "jwks", jwks);
        json_t *scopes = json_object_get(sa, "grantedScopes");
        if (json_is_array(scopes))
            json_object_set_new(s, "scopes", json_deep_copy(scopes));
        json_array_append_new(o->apps, a);
    }
    return 0;
}

int sbok__seed_load(struct sandbox *sb, struct sbok_org *o, const json_t *seed, struct idf_err *err)
{
    if (seed && !json_is_object(seed))
        return idf_err_set(err, IDF_EINVAL, "seed: \"okta\" must be an object");
    const json_t *org = json_object_get(seed, "org");
    json_object_set_new(o->org, "name", json_string(json_string_value(json_object_get(org, "name")) ?: "sandbox"));
    json_object_set_new(o->org, "apiTokenId",
                        json_string(json_string_value(json_object_get(org, "apiTokenId")) ?: "00Tsandbox0000000000"));
    if (json_is_string(json_object_get(org, "url")))
        json_object_set(o->org, "url", json_object_get(org, "url"));
    if (json_is_object(json_object_get(seed, "profileSchema")))
        json_object_set_new(o->org, "profileSchema", json_deep_copy(json_object_get(seed, "profileSchema")));
    int rc = load_users(sb, o, json_object_get(seed, "users"), err);
    if (rc == 0)
        rc = load_groups(sb, o, json_object_get(seed, "groups"), err);
    if (rc == 0)
        rc = load_apps(sb, o, json_object_get(seed, "apps"), err);
    if (rc != 0)
        return rc;
    const char *owner = json_string_value(json_object_get(org, "apiTokenOwner"));
    const char *console = json_string_value(json_object_get(org, "consoleAdmin"));
    json_t *u = owner ? sbok__user_find(o, owner) : NULL;
    if (owner && !u)
        return idf_err_set(err, IDF_EINVAL, "seed okta.org.apiTokenOwner: unknown user %s", owner);
    if (u)
        json_object_set(o->org, "apiTokenUserId", json_object_get(u, "id"));
    u = console ? sbok__user_find(o, console) : NULL;
    if (console && !u)
        return idf_err_set(err, IDF_EINVAL, "seed okta.org.consoleAdmin: unknown user %s", console);
    if (u)
        json_object_set(o->org, "consoleAdminId", json_object_get(u, "id"));
    return 0;
}

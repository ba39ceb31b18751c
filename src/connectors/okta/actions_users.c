/* actions_users.c — reading and writing users: okta.get_user,
 * okta.create_user, okta.update_user, okta.search_users.
 *
 * create_user is the one non-idempotent call here. A duplicate login is
 * reported (if_exists: fail) or answered with the existing user (if_exists:
 * reuse, changed: false); on a retried attempt a user with that login
 * created within OKTAC_CREATE_CONVERGE_MS is taken as the earlier attempt's
 * (its answer was lost), so a retry never fails on its own success.
 * update_user compares the given profile fields with the user's first and
 * calls only when something differs. The password parameter goes into the
 * request body only, never into a message or an output.
 * Worker threads; no state of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/okta/okta_internal.h"
#include "core/timeutil.h"
#include "net/http.h"

#define OKTAC_CREATE_CONVERGE_MS (24LL * 3600 * 1000) /* a retry adopts a same-login user this recent */

OKTAC__ACTION(oktac__act_get_user)
{
    struct oktac o;
    json_t *user = NULL;
    char scratch[32];
    const char *key = oktac__param_str(params, "user", scratch, sizeof scratch);
    int rc = oktac__open(&o, call, res, "okta.get_user");

    if (!key)
        key = oktac__param_str(params, "login", NULL, 0);
    if (!key)
        key = oktac__param_str(params, "id", NULL, 0);
    if (rc == 0 && !key)
        rc = oktac__fail(&o, IDF_EINVAL, false, 0, "okta.get_user: give `user` (a login or an id)");
    if (rc == 0)
        rc = oktac__user_get(&o, key, &user);
    if (rc == 0) {
        res->output = oktac__user_output(&o, user, false);
        user = NULL;
    }
    json_decref(user);
    return oktac__close(&o, rc);
}

/* ------------------------------------------------------------- create */

/* Resolves `groups` (ids or exact names) into an array of ids. */
static int resolve_groups(struct oktac *o, const json_t *groups, json_t **ids_out)
{
    json_t *ids = json_array(), *g;
    size_t i;
    int rc = 0;

    *ids_out = NULL;
    if (json_array_size(groups) > OKTAC_MAX_GROUP_IDS) {
        rc = oktac__fail(o, IDF_EINVAL, false, 0,
                         "%s: at most %d groups at creation (Okta's limit); add the others "
                         "with okta.add_to_group",
                         o->s.action, OKTAC_MAX_GROUP_IDS);
        goto out;
    }
    json_array_foreach (groups, i, g) {
        const char *ref = json_string_value(g);
        json_t *grp = NULL;
        if (!ref) {
            rc = oktac__fail(o, IDF_EINVAL, false, 0, "%s: groups[%zu] must be a group id or name", o->s.action, i);
            goto out;
        }
        if (oktac__is_id(ref, "00g")) {
            json_array_append_new(ids, json_string(ref));
            continue;
        }
        rc = oktac__group_resolve(o, ref, &grp);
        if (rc)
            goto out;
        if (strcmp(json_string_value(json_object_get(grp, "type")) ?: "", "OKTA_GROUP") != 0) {
            rc = oktac__fail(o, IDF_EDENIED, false, 0,
                             "%s: group '%s' is of type %s: only OKTA_GROUP memberships can be set through the "
                             "API (app imports manage the others)",
                             o->s.action, ref, json_string_value(json_object_get(grp, "type")) ?: "?");
            json_decref(grp);
            goto out;
        }
        json_array_append(ids, json_object_get(grp, "id"));
        json_decref(grp);
    }
    *ids_out = ids;
    ids = NULL;
out:
    json_decref(ids);
    return rc;
}

static bool created_recently(const json_t *user)
{
    int64_t t;
    const char *c = json_string_value(json_object_get(user, "created"));
    return c && time_parse_iso(c, &t) == 0 && time_now_ms() - t < OKTAC_CREATE_CONVERGE_MS;
}

/* The existing user with login as an output (changed:false); fails when it
 * cannot be read. */
static int existing(struct oktac *o, const char *login, json_t **out)
{
    json_t *u = NULL;
    int rc = oktac__user_get(o, login, &u);
    if (rc == 0)
        *out = oktac__user_output(o, u, false);
    return rc;
}

OKTAC__ACTION(oktac__act_create_user)
{
    struct oktac o;
    struct oktac_resp r = {0};
    const json_t *profile = json_object_get(params, "profile");
    const char *password = json_string_value(json_object_get(params, "password"));
    const char *if_exists = json_string_value(json_object_get(params, "if_exists"));
    const char *login = json_string_value(json_object_get(profile, "login"));
    bool activate = oktac__param_bool(params, "activate", true);
    bool change = oktac__param_bool(params, "must_change_password", false);
    json_t *ids = NULL, *body = NULL, *u = NULL;
    char path[128];
    int rc = oktac__open(&o, call, res, "okta.create_user");

    if (rc)
        goto out;
    if (!json_is_object(profile) || !login || !*login) {
        rc = oktac__fail(&o, IDF_EINVAL, false, 0, "okta.create_user: profile.login is required");
        goto out;
    }
    if (if_exists && strcmp(if_exists, "fail") != 0 && strcmp(if_exists, "reuse") != 0) {
        rc = oktac__fail(&o, IDF_EINVAL, false, 0, "okta.create_user: if_exists must be fail or reuse");
        goto out;
    }
    if (change && (!password || !activate)) {
        rc = oktac__fail(&o, IDF_EINVAL, false, 0,
                         "okta.create_user: must_change_password needs a password and activate: true");
        goto out;
    }
    if (o.s.call->attempt > 1) { /* an earlier attempt may have created it, its answer lost */
        rc = oktac__user_get(&o, login, &u);
        if (rc == 0 && (created_recently(u) || (if_exists && strcmp(if_exists, "reuse") == 0))) {
            res->output = oktac__user_output(&o, u, false);
            u = NULL;
            goto out;
        }
        if (rc && rc != IDF_ENOTFOUND)
            goto out;
        json_decref(u);
        u = NULL;
        o.s.res->message[0] = '\0';
        json_decref(o.s.res->detail);
        o.s.res->detail = NULL;
    }
    rc = resolve_groups(&o, json_object_get(params, "groups"), &ids);
    if (rc)
        goto out;
    body = json_pack("{s:O}", "profile", profile);
    if (password)
        json_object_set_new(body, "credentials", json_pack("{s:{s:s}}", "password", "value", password));
    if (json_array_size(ids) > 0)
        json_object_set(body, "groupIds", ids);
    snprintf(path, sizeof path, "/api/v1/users?activate=%s%s", activate ? "true" : "false",
             change ? "&nextLogin=changePassword" : "");
    rc = oktac__send(&o, "POST", path, body, &r);
    if (rc)
        goto out;
    if (r.status == 400 && strcmp(oktac__error_code(&r), "E0000001") == 0 &&
        oktac__error_cause_has(&r, "already exists")) {
        if (if_exists && strcmp(if_exists, "reuse") == 0) {
            rc = existing(&o, login, &res->output);
            goto out;
        }
        rc = oktac__fail_state(&o, &r, IDF_EEXIST, "user %s already exists (if_exists: reuse returns it instead)",
                               login);
        goto out;
    }
    if (!oktac__ok(&r)) {
        char what[200];
        snprintf(what, sizeof what, "creating user %s", login);
        rc = oktac__fail_http(&o, &r, what);
        goto out;
    }
    if (!json_is_object(r.json)) {
        rc = oktac__fail(&o, IDF_EREMOTE, false, 0, "okta.create_user: Okta's answer is not a user object");
        goto out;
    }
    res->output = oktac__user_output(&o, json_incref(r.json), true);
    json_object_set_new(res->output, "groupIds", ids ? json_incref(ids) : json_array());
out:
    explicit_bzero(path, sizeof path);
    oktac__resp_free(&r);
    json_decref(body); /* held the password: freed right away */
    json_decref(ids);
    json_decref(u);
    return oktac__close(&o, rc);
}

/* ------------------------------------------------------------- update */

OKTAC__ACTION(oktac__act_update_user)
{
    struct oktac o;
    struct oktac_resp r = {0};
    const json_t *profile = json_object_get(params, "profile");
    json_t *user = NULL, *body = NULL, *cur;
    char scratch[32], *path = NULL, what[200];
    const char *k;
    json_t *v;
    bool differs = false;
    int rc = oktac__open(&o, call, res, "okta.update_user");

    if (rc)
        goto out;
    if (!json_is_object(profile) || json_object_size(profile) == 0) {
        rc = oktac__fail(&o, IDF_EINVAL, false, 0, "okta.update_user: profile must be a non-empty object");
        goto out;
    }
    rc = oktac__user_get(&o, oktac__param_str(params, "user", scratch, sizeof scratch), &user);
    if (rc)
        goto out;
    if (strcmp(json_string_value(json_object_get(user, "status")) ?: "", "DEPROVISIONED") == 0) {
        rc = oktac__fail_state(&o, NULL, IDF_ESTATE,
                               "cannot update user %s: status is DEPROVISIONED (Okta ignores profile updates of "
                               "deactivated users unless the org allows them)",
                               oktac__login(user));
        goto out;
    }
    cur = json_object_get(user, "profile");
    json_object_foreach ((json_t *)profile, k, v) {
        json_t *have = json_object_get(cur, k);
        if (!(have ? json_equal(have, v) : json_is_null(v)))
            differs = true;
    }
    if (!differs) {
        res->output = oktac__user_output(&o, user, false);
        user = NULL;
        goto out;
    }
    body = json_pack("{s:O}", "profile", profile);
    if (asprintf(&path, "/api/v1/users/%s", json_string_value(json_object_get(user, "id")) ?: "") < 0) {
        path = NULL;
        rc = oktac__fail(&o, IDF_ENOMEM, true, 0, "okta.update_user: out of memory");
        goto out;
    }
    snprintf(what, sizeof what, "updating user %s", oktac__login(user));
    rc = oktac__call(&o, "POST", path, body, &r, what); /* POST = partial update; PUT would null the rest */
    if (rc)
        goto out;
    res->output = oktac__user_output(&o, json_is_object(r.json) ? json_incref(r.json) : json_incref(user), true);
out:
    oktac__resp_free(&r);
    json_decref(user);
    json_decref(body);
    free(path);
    return oktac__close(&o, rc);
}

/* ------------------------------------------------------------- search */

OKTAC__ACTION(oktac__act_search_users)
{
    struct oktac o;
    const char *search = json_string_value(json_object_get(params, "search"));
    const char *filter = json_string_value(json_object_get(params, "filter"));
    json_t *items = NULL, *users, *it;
    char *enc = NULL, *path = NULL;
    size_t cap, i;
    bool truncated = false;
    int rc = oktac__open(&o, call, res, "okta.search_users");

    if (rc)
        goto out;
    if (!!search == !!filter) {
        rc = oktac__fail(&o, IDF_EINVAL, false, 0, "okta.search_users: give exactly one of search or filter");
        goto out;
    }
    rc = oktac__param_cap(&o, params, &cap);
    if (rc)
        goto out;
    enc = http_urlencode(search ? search : filter);
    if (!enc ||
        asprintf(&path, "/api/v1/users?%s=%s&limit=%d", search ? "search" : "filter", enc, OKTAC_PAGE_LIMIT) < 0) {
        path = NULL;
        rc = oktac__fail(&o, IDF_ENOMEM, true, 0, "okta.search_users: out of memory");
        goto out;
    }
    rc = oktac__list(&o, path, cap, &items, &truncated);
    if (rc)
        goto out;
    users = json_array();
    json_array_foreach (items, i, it) {
        json_array_append_new(users, oktac__strip(it));
    }
    res->output = json_pack("{s:o, s:I, s:b, s:b, s:s}", "users", users, "count", (json_int_t)json_array_size(users),
                            "truncated", truncated, "changed", 0, "request_id", o.request_id);
out:
    json_decref(items);
    free(enc);
    free(path);
    return oktac__close(&o, rc);
}

/* actions_apps.c — app assignments and app look-ups: okta.assign_app,
 * okta.revoke_app, okta.find_app, okta.list_user_apps.
 *
 * Assignments are idempotent in effect: the user's assignment is read first
 * (GET /apps/{app}/users/{user}); an existing one is not made again and a
 * missing one is not revoked (changed: false), and Okta's own "already
 * assigned" (409 E0000062) or "not found" on revoke are taken as converged.
 * An assignment that comes from a group (scope GROUP) cannot be revoked for
 * one user: refused with the reason. An app is given by id or by exact label
 * (q= prefix search, then an exact match, the count checked).
 * Worker threads; no state of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/okta/okta_internal.h"
#include "net/http.h"

/* {id, name, label, status, signOnMode} of an app. */
static json_t *app_brief(const json_t *app)
{
    json_t *b = json_object();
    const char *keys[] = {"id", "name", "label", "status", "signOnMode", NULL};

    for (int i = 0; keys[i]; i++) {
        json_t *v = json_object_get(app, keys[i]);
        if (v)
            json_object_set(b, keys[i], v);
    }
    return b;
}

/* Reads the user's assignment: *au_out is the AppUser, or NULL when the
 * user is not assigned (404). */
static int get_assignment(struct oktac *o, const char *aid, const char *uid, const char *what, json_t **au_out)
{
    struct oktac_resp r = {0};
    char path[160];
    int rc;

    *au_out = NULL;
    snprintf(path, sizeof path, "/api/v1/apps/%s/users/%s", aid, uid);
    rc = oktac__send(o, "GET", path, NULL, &r);
    if (rc)
        return rc;
    if (r.status == 404)
        rc = 0;
    else if (!oktac__ok(&r))
        rc = oktac__fail_http(o, &r, what);
    else if (json_is_object(r.json))
        *au_out = oktac__strip(r.json);
    oktac__resp_free(&r);
    return rc;
}

struct target {
    json_t *user, *app;
    const char *uid, *aid, *login, *label;
};

static int targets(struct oktac *o, const json_t *params, struct target *t)
{
    char scratch[32];
    int rc;

    memset(t, 0, sizeof *t);
    rc = oktac__user_get(o, oktac__param_str(params, "user", scratch, sizeof scratch), &t->user);
    if (rc == 0)
        rc = oktac__app_resolve(o, oktac__param_str(params, "app", NULL, 0), &t->app);
    if (rc)
        return rc;
    t->uid = json_string_value(json_object_get(t->user, "id")) ?: "";
    t->aid = json_string_value(json_object_get(t->app, "id")) ?: "";
    t->login = oktac__login(t->user);
    t->label = json_string_value(json_object_get(t->app, "label")) ?: t->aid;
    return 0;
}

static json_t *output(struct oktac *o, const struct target *t, bool changed, json_t *au)
{
    return json_pack("{s:b, s:o, s:o, s:{s:s, s:s}, s:s}", "changed", changed, "app", app_brief(t->app), "assignment",
                     au ? au : json_null(), "user", "id", t->uid, "login", t->login, "request_id", o->request_id);
}

OKTAC__ACTION(oktac__act_assign_app)
{
    struct oktac o;
    struct oktac_resp r = {0};
    struct target t = {0};
    json_t *au = NULL, *body = NULL;
    const json_t *cred = json_object_get(params, "credentials"), *prof = json_object_get(params, "profile");
    char what[300], path[128];
    int rc = oktac__open(&o, call, res, "okta.assign_app");

    if (rc || (rc = targets(&o, params, &t)) != 0)
        goto out;
    snprintf(what, sizeof what, "assign app '%s' to %s", t.label, t.login);
    rc = get_assignment(&o, t.aid, t.uid, what, &au);
    if (rc)
        goto out;
    if (au) {
        res->output = output(&o, &t, false, au);
        au = NULL;
        goto out;
    }
    if (strcmp(json_string_value(json_object_get(t.user, "status")) ?: "", "DEPROVISIONED") == 0) {
        rc = oktac__fail_state(&o, NULL, IDF_ESTATE,
                               "cannot assign app '%s' to %s: status is DEPROVISIONED, not an active status (Okta "
                               "assigns no apps to inactive users)",
                               t.label, t.login);
        goto out;
    }
    body = json_pack("{s:s, s:s}", "id", t.uid, "scope", "USER");
    if (json_is_object(cred))
        json_object_set_new(body, "credentials", json_deep_copy(cred));
    if (json_is_object(prof))
        json_object_set_new(body, "profile", json_deep_copy(prof));
    snprintf(path, sizeof path, "/api/v1/apps/%s/users", t.aid);
    rc = oktac__send(&o, "POST", path, body, &r);
    if (rc)
        goto out;
    if (r.status == 409 && strcmp(oktac__error_code(&r), "E0000062") == 0) {
        rc = get_assignment(&o, t.aid, t.uid, what, &au); /* assigned meanwhile: converged */
        if (rc == 0) {
            res->output = output(&o, &t, false, au);
            au = NULL;
        }
        goto out;
    }
    if (r.status == 403 && strcmp(oktac__error_code(&r), "E0000117") == 0) {
        rc = oktac__fail_state(&o, &r, IDF_ESTATE, "cannot assign app '%s' to %s: the user is not active", t.label,
                               t.login);
        goto out;
    }
    if (!oktac__ok(&r)) {
        rc = oktac__fail_http(&o, &r, what);
        goto out;
    }
    res->output = output(&o, &t, true, json_is_object(r.json) ? oktac__strip(r.json) : NULL);
out:
    oktac__resp_free(&r);
    json_decref(au);
    json_decref(body);
    json_decref(t.user);
    json_decref(t.app);
    return oktac__close(&o, rc);
}

OKTAC__ACTION(oktac__act_revoke_app)
{
    struct oktac o;
    struct oktac_resp r = {0};
    struct target t = {0};
    json_t *au = NULL;
    char what[300], path[160];
    int rc = oktac__open(&o, call, res, "okta.revoke_app");

    if (rc || (rc = targets(&o, params, &t)) != 0)
        goto out;
    snprintf(what, sizeof what, "revoke app '%s' from %s", t.label, t.login);
    rc = get_assignment(&o, t.aid, t.uid, what, &au);
    if (rc)
        goto out;
    if (!au) {
        res->output = output(&o, &t, false, NULL);
        goto out;
    }
    if (strcmp(json_string_value(json_object_get(au, "scope")) ?: "", "GROUP") == 0) {
        json_decref(o.s.res->detail);
        o.s.res->detail = json_pack("{s:s}", "scope", "GROUP");
        rc = oktac__fail(&o, IDF_EDENIED, false, 0,
                         "okta.revoke_app: cannot revoke app '%s' from %s: the assignment comes from a group "
                         "(scope GROUP); remove the user from that group instead",
                         t.label, t.login);
        goto out;
    }
    snprintf(path, sizeof path, "/api/v1/apps/%s/users/%s?sendEmail=%s", t.aid, t.uid,
             oktac__param_bool(params, "send_email", false) ? "true" : "false");
    rc = oktac__send(&o, "DELETE", path, NULL, &r);
    if (rc)
        goto out;
    if (r.status == 404) { /* gone meanwhile: converged */
        res->output = output(&o, &t, false, NULL);
        goto out;
    }
    if (r.status == 403 && strcmp(oktac__error_code(&r), "E0000046") == 0) {
        rc = oktac__fail_state(&o, &r, IDF_EDENIED, "cannot revoke app '%s' from %s", t.label, t.login);
        goto out;
    }
    if (!oktac__ok(&r)) {
        rc = oktac__fail_http(&o, &r, what);
        goto out;
    }
    res->output = output(&o, &t, true, au);
    au = NULL;
out:
    oktac__resp_free(&r);
    json_decref(au);
    json_decref(t.user);
    json_decref(t.app);
    return oktac__close(&o, rc);
}

OKTAC__ACTION(oktac__act_find_app)
{
    struct oktac o;
    json_t *app = NULL;
    int rc = oktac__open(&o, call, res, "okta.find_app");

    if (rc == 0)
        rc = oktac__app_resolve(&o, oktac__param_str(params, "app", NULL, 0), &app);
    if (rc == IDF_ENOTFOUND && !oktac__param_bool(params, "required", true)) {
        rc = 0;
        res->message[0] = '\0';
        json_decref(res->detail);
        res->detail = NULL;
        res->output = json_pack("{s:b, s:n, s:b, s:s}", "found", 0, "app", "changed", 0, "request_id", o.request_id);
    } else if (rc == 0) {
        res->output = json_pack("{s:b, s:o, s:b, s:s}", "found", 1, "app", oktac__strip(app), "changed", 0,
                                "request_id", o.request_id);
    }
    json_decref(app);
    return oktac__close(&o, rc);
}

OKTAC__ACTION(oktac__act_list_user_apps)
{
    struct oktac o;
    json_t *items = NULL, *apps, *a;
    char scratch[32], *id = NULL, *expr = NULL, *enc = NULL, *path = NULL;
    bool truncated = false;
    size_t cap, i;
    int rc = oktac__open(&o, call, res, "okta.list_user_apps");

    if (rc || (rc = oktac__param_cap(&o, params, &cap)) != 0)
        goto out;
    rc = oktac__user_id(&o, oktac__param_str(params, "user", scratch, sizeof scratch), &id);
    if (rc)
        goto out;
    /* The spec: expand=user/{id} must go with the filter user.id eq "{id}";
     * it embeds each app's AppUser (scope USER or GROUP). */
    if (asprintf(&expr, "user.id eq \"%s\"", id) < 0)
        expr = NULL;
    enc = expr ? http_urlencode(expr) : NULL;
    if (!enc || asprintf(&path, "/api/v1/apps?filter=%s&expand=user%%2F%s&limit=%d", enc, id, OKTAC_PAGE_LIMIT) < 0) {
        path = NULL;
        rc = oktac__fail(&o, IDF_ENOMEM, true, 0, "okta.list_user_apps: out of memory");
        goto out;
    }
    rc = oktac__list(&o, path, cap, &items, &truncated);
    if (rc)
        goto out;
    apps = json_array();
    json_array_foreach (items, i, a) {
        json_t *b = app_brief(a);
        json_t *au = json_object_get(json_object_get(a, "_embedded"), "user");
        json_object_set_new(b, "assignment", au ? oktac__strip(au) : json_null());
        json_array_append_new(apps, b);
    }
    res->output = json_pack("{s:o, s:I, s:b, s:b, s:s}", "apps", apps, "count", (json_int_t)json_array_size(apps),
                            "truncated", truncated, "changed", 0, "request_id", o.request_id);
out:
    json_decref(items);
    free(id);
    free(expr);
    free(enc);
    free(path);
    return oktac__close(&o, rc);
}

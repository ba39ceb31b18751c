/* common.c — what several Okta actions share: reading parameters, finding a
 * user / group / app from what a workflow gives (id, login, exact name or
 * label), following `Link: rel="next"` pagination with a cap, and the shape
 * of outputs.
 *
 * Threads: worker threads; stateless (everything lives in the caller's
 * struct oktac). Every function that fails has written the failure into
 * o->s.res already, so callers just return the code. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/okta/okta_internal.h"
#include "net/http.h"

#define OKTAC_AMBIGUOUS_IDS 5 /* ids quoted when a name matches several objects */

/* ---------------------------------------------------------- parameters */

bool oktac__is_id(const char *s, const char *prefix)
{
    size_t n;

    if (!s || strlen(s) != OKTAC_ID_LEN || strncmp(s, prefix, strlen(prefix)) != 0)
        return false;
    for (n = 0; s[n]; n++) {
        if (!isalnum((unsigned char)s[n]))
            return false;
    }
    return true;
}

const char *oktac__param_str(const json_t *params, const char *name, char *scratch, size_t n)
{
    const json_t *v = json_object_get(params, name);

    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v) && scratch) {
        snprintf(scratch, n, "%lld", (long long)json_integer_value(v));
        return scratch;
    }
    return NULL;
}

bool oktac__param_bool(const json_t *params, const char *name, bool dflt)
{
    const json_t *v = json_object_get(params, name);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

int oktac__param_cap(struct oktac *o, const json_t *params, size_t *cap_out)
{
    const json_t *v = json_object_get(params, "max");

    *cap_out = OKTAC_LIST_CAP_DEFAULT;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > OKTAC_LIST_CAP_MAX)
        return oktac__fail(o, IDF_EINVAL, false, 0, "%s: max must be an integer from 1 to %d", o->s.action,
                           OKTAC_LIST_CAP_MAX);
    *cap_out = (size_t)json_integer_value(v);
    return 0;
}

char *oktac__scim_quote(const char *v)
{
    size_t n = strlen(v), o = 0;
    char *out = malloc(n * 2 + 3);

    if (!out)
        return NULL;
    out[o++] = '"';
    for (; *v; v++) {
        if (*v == '"' || *v == '\\')
            out[o++] = '\\';
        out[o++] = *v;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------- outputs */

json_t *oktac__strip(const json_t *obj)
{
    json_t *c = json_deep_copy(obj);
    if (json_is_object(c))
        json_object_del(c, "_links");
    return c;
}

json_t *oktac__user_output(struct oktac *o, json_t *user, bool changed)
{
    json_t *out = oktac__strip(user);

    json_decref(user);
    if (!json_is_object(out)) {
        json_decref(out);
        out = json_object();
    }
    json_object_set_new(out, "changed", json_boolean(changed));
    json_object_set_new(out, "request_id", json_string(o->request_id));
    return out;
}

const char *oktac__login(const json_t *user)
{
    const char *l = json_string_value(json_object_get(json_object_get(user, "profile"), "login"));
    if (!l)
        l = json_string_value(json_object_get(user, "id"));
    return l ? l : "?";
}

/* ---------------------------------------------------------------- lists */

int oktac__list(struct oktac *o, const char *path, size_t cap, json_t **items_out, bool *truncated)
{
    json_t *items = json_array();
    char *cur = strdup(path);
    int pages = 0, rc = 0;

    *items_out = NULL;
    *truncated = false;
    if (!items || !cur) {
        rc = oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
        goto out;
    }
    while (cur) {
        struct oktac_resp r;
        size_t i;
        json_t *it;

        rc = oktac__call(o, "GET", cur, NULL, &r, NULL);
        if (rc) {
            oktac__resp_free(&r);
            goto out;
        }
        if (!json_is_array(r.json)) {
            oktac__resp_free(&r);
            rc = oktac__fail(o, IDF_EREMOTE, true, 0, "%s: Okta answered a list with something else than a JSON array",
                             o->s.action);
            goto out;
        }
        json_array_foreach (r.json, i, it) {
            if (json_array_size(items) >= cap) {
                *truncated = true;
                break;
            }
            json_array_append(items, it);
        }
        free(cur);
        cur = NULL;
        if (!*truncated && r.next) {
            if (json_array_size(items) >= cap || ++pages >= OKTAC_MAX_PAGES) {
                *truncated = true;
            } else {
                cur = r.next;
                r.next = NULL;
            }
        }
        oktac__resp_free(&r);
    }
    *items_out = items;
    items = NULL;
out:
    json_decref(items);
    free(cur);
    return rc;
}

/* -------------------------------------------------------------- finding */

/* GET path expecting an object; 404 becomes "no Okta <kind> <ref>". */
static int get_object(struct oktac *o, const char *path, const char *kind, const char *ref, json_t **out)
{
    struct oktac_resp r;
    char what[300];
    int rc;

    *out = NULL;
    rc = oktac__send(o, "GET", path, NULL, &r);
    if (rc)
        return rc;
    snprintf(what, sizeof what, "reading %s '%s'", kind, ref);
    if (r.status == 404)
        rc = oktac__fail_state(o, &r, IDF_ENOTFOUND, "no Okta %s '%s'", kind, ref);
    else if (!oktac__ok(&r))
        rc = oktac__fail_http(o, &r, what);
    else if (!json_is_object(r.json))
        rc = oktac__fail(o, IDF_EREMOTE, true, 0, "%s: %s: Okta answered something else than a JSON object", o->s.action,
                         what);
    else
        *out = json_incref(r.json);
    oktac__resp_free(&r);
    return rc;
}

/* "/api/v1/<coll>?<param>=<encoded expr>&limit=200" into a new string. */
static char *query_path(const char *coll, const char *param, const char *expr)
{
    char *enc = http_urlencode(expr), *path = NULL;

    if (enc && asprintf(&path, "/api/v1/%s?%s=%s&limit=%d", coll, param, enc, OKTAC_PAGE_LIMIT) < 0)
        path = NULL;
    free(enc);
    return path;
}

/* Keeps the items whose field (a dotted "profile.name" or "label") equals
 * want exactly; when none do, those equal ignoring case. New array. */
static json_t *exact_matches(const json_t *items, const char *obj, const char *field, const char *want)
{
    json_t *exact = json_array(), *loose = json_array(), *it;
    size_t i;

    json_array_foreach (items, i, it) {
        const json_t *holder = obj ? json_object_get(it, obj) : it;
        const char *v = json_string_value(json_object_get(holder, field));
        if (!v || strcmp(json_string_value(json_object_get(it, "status")) ?: "", "DELETED") == 0)
            continue;
        if (strcmp(v, want) == 0)
            json_array_append(exact, it);
        else if (strcasecmp(v, want) == 0)
            json_array_append(loose, it);
    }
    if (json_array_size(exact) > 0) {
        json_decref(loose);
        return exact;
    }
    json_decref(exact);
    return loose;
}

/* Picks the one match or fails naming the problem. Steals matches. */
static int one_match(struct oktac *o, json_t *matches, const char *kind, const char *how, const char *ref, json_t **out)
{
    size_t n = json_array_size(matches), i;
    char ids[OKTAC_AMBIGUOUS_IDS * (OKTAC_ID_LEN + 2) + 8] = "";
    int rc = 0;

    *out = NULL;
    if (n == 1) {
        *out = json_incref(json_array_get(matches, 0));
    } else if (n == 0) {
        json_decref(o->s.res->detail);
        o->s.res->detail = json_pack("{s:s, s:s}", "not_found", kind, "name", ref);
        rc = oktac__fail(o, IDF_ENOTFOUND, false, 0, "%s: no Okta %s %s '%s'", o->s.action, kind, how, ref);
    } else {
        for (i = 0; i < n && i < OKTAC_AMBIGUOUS_IDS; i++) {
            size_t l = strlen(ids);
            snprintf(ids + l, sizeof ids - l, "%s%s", i ? ", " : "",
                     json_string_value(json_object_get(json_array_get(matches, i), "id")) ?: "?");
        }
        rc = oktac__fail(o, IDF_EINVAL, false, 0, "%s: %zu Okta %ss are %s '%s' (%s%s); give the id instead", o->s.action,
                         n, kind, how, ref, ids, n > OKTAC_AMBIGUOUS_IDS ? ", ..." : "");
    }
    json_decref(matches);
    return rc;
}

bool oktac__login_needs_search(const char *key)
{
    /* '/' and '?': Okta's Users API ("Get User": "Logins with a / or ?
     * character can only be fetched by id due to URL issues with escaping");
     * '#' and '%' by the same reading (a server that decodes the path before
     * it routes it cuts at a decoded '#' and decodes a '%' twice). */
    return key && strpbrk(key, OKTAC_LOGIN_PATH_UNSAFE) != NULL;
}

int oktac__user_get(struct oktac *o, const char *key, json_t **user_out)
{
    char *path = NULL, *enc = NULL, *q = NULL, *expr = NULL;
    json_t *items = NULL, *one = NULL;
    bool trunc;
    int rc;

    *user_out = NULL;
    if (!key || !*key)
        return oktac__fail(o, IDF_EINVAL, false, 0, "%s: a user (login or id) is required", o->s.action);
    if (!oktac__login_needs_search(key)) {
        enc = http_urlencode(key);
        if (!enc || asprintf(&path, "/api/v1/users/%s", enc) < 0)
            path = NULL;
        rc = path ? get_object(o, path, "user", key, user_out) : oktac__fail(o, IDF_ENOMEM, true, 0, "out of memory");
        goto out;
    }
    /* A login that cannot be a path segment: search for it, then read by id. */
    q = oktac__scim_quote(key);
    if (!q || asprintf(&expr, "profile.login eq %s", q) < 0)
        expr = NULL;
    path = expr ? query_path("users", "search", expr) : NULL;
    if (!path) {
        rc = oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
        goto out;
    }
    rc = oktac__list(o, path, OKTAC_FIND_CAP, &items, &trunc);
    if (rc)
        goto out;
    rc = one_match(o, exact_matches(items, "profile", "login", key), "user", "with login", key, &one);
    if (rc)
        goto out;
    free(path);
    if (asprintf(&path, "/api/v1/users/%s", json_string_value(json_object_get(one, "id")) ?: "") < 0)
        path = NULL;
    rc = path ? get_object(o, path, "user", key, user_out) : oktac__fail(o, IDF_ENOMEM, true, 0, "out of memory");
out:
    if (rc == 0)
        oktac__note_user(o, *user_out); /* issue 17: the user this call resolved */
    else
        oktac__note_user_key(o, key); /* or whom it was asked about: a run that failed to find or
                                         read jane@ is still one that concerned her */
    json_decref(items);
    json_decref(one);
    free(path);
    free(enc);
    free(q);
    free(expr);
    return rc;
}

int oktac__user_id(struct oktac *o, const char *key, char **id_out)
{
    json_t *u = NULL;
    int rc;

    *id_out = NULL;
    if (oktac__is_id(key, "00u")) {
        oktac__note_user_key(o, key); /* issue 17: named by its id, not read */
        *id_out = strdup(key);
        return *id_out ? 0 : oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
    }
    rc = oktac__user_get(o, key, &u);
    if (rc == 0) {
        *id_out = strdup(json_string_value(json_object_get(u, "id")) ?: "");
        if (!*id_out)
            rc = oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
    }
    json_decref(u);
    return rc;
}

int oktac__group_resolve(struct oktac *o, const char *ref, json_t **group_out)
{
    char *path = NULL, *q = NULL, *expr = NULL;
    json_t *items = NULL;
    bool trunc;
    int rc;

    *group_out = NULL;
    if (!ref || !*ref)
        return oktac__fail(o, IDF_EINVAL, false, 0, "%s: a group (id or exact name) is required", o->s.action);
    if (oktac__is_id(ref, "00g")) {
        if (asprintf(&path, "/api/v1/groups/%s", ref) < 0)
            return oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
        rc = get_object(o, path, "group", ref, group_out);
        free(path);
        if (rc == 0)
            oktac__note_group(o, *group_out);
        return rc;
    }
    q = oktac__scim_quote(ref);
    if (!q || asprintf(&expr, "profile.name eq %s", q) < 0)
        expr = NULL;
    path = expr ? query_path("groups", "search", expr) : NULL;
    if (!path) {
        rc = oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
        goto out;
    }
    rc = oktac__list(o, path, OKTAC_FIND_CAP, &items, &trunc);
    if (rc == 0)
        rc = one_match(o, exact_matches(items, "profile", "name", ref), "group", "named", ref, group_out);
    if (rc == 0)
        oktac__note_group(o, *group_out); /* issue 17 */
out:
    json_decref(items);
    free(path);
    free(q);
    free(expr);
    return rc;
}

int oktac__app_resolve(struct oktac *o, const char *ref, json_t **app_out)
{
    char *path = NULL;
    json_t *items = NULL;
    bool trunc;
    int rc;

    *app_out = NULL;
    if (!ref || !*ref)
        return oktac__fail(o, IDF_EINVAL, false, 0, "%s: an app (id or label) is required", o->s.action);
    if (oktac__is_id(ref, "0oa")) {
        if (asprintf(&path, "/api/v1/apps/%s", ref) < 0)
            return oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
        rc = get_object(o, path, "app", ref, app_out);
        free(path);
        if (rc == 0)
            oktac__note_app(o, *app_out);
        return rc;
    }
    /* Labels cannot be filtered on; q= is a prefix match on name or label. */
    path = query_path("apps", "q", ref);
    if (!path)
        return oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
    rc = oktac__list(o, path, OKTAC_FIND_CAP, &items, &trunc);
    if (rc == 0)
        rc = one_match(o, exact_matches(items, NULL, "label", ref), "app", "labelled", ref, app_out);
    if (rc == 0)
        oktac__note_app(o, *app_out); /* issue 17 */
    json_decref(items);
    free(path);
    return rc;
}

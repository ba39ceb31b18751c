/* protect.c — the Okta connector's protected accounts (issue 19; connector.h
 * "protected accounts"; docs/okta.md "Protected accounts"): the `protected`
 * list of a connection — its checks (okta_validate calls
 * oktac__protected_validate), its completion at connect time (group names
 * resolved to ids, oktac__protected_prepare) — and the check the engine
 * makes before every destructive call (oktac__protect, connector_okta's
 * `protect`).
 *
 * Stored form, in this order as given:
 *   protected: [{"login": "it.automation@acme.example"},  a login, or a prefix with a trailing '*'
 *               {"group": "IT Admins", "id": "00g..."}]    a group: matched by id, so a rename keeps it
 * Logins compare ignoring case. A group entry without an id (written by
 * hand for the API) gets it from Okta when the connection is saved; one
 * that still has none is matched by its exact name.
 *
 * The check reads through the call's own `struct oktac` (the connection's
 * credentials, DPoP included, and its rate-limit scope): the target user
 * (GET /users/{key}) and, when groups are protected, their groups (GET
 * /users/{id}/groups, every page). A connection with no list costs nothing.
 * Worker threads, concurrently; no state of its own. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/okta/okta_internal.h"
#include "net/http.h"

#define PROTECT_ACTION "okta protected-accounts check" /* the session's action name, in its messages */
#define PROTECT_SEGS 8                                 /* path segments of an okta.request read for its target */
#define PROTECT_SEG_MAX 512                            /* bytes of one decoded segment */

/* ------------------------------------------------------------ validation */

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if (iscntrl((unsigned char)*s))
            return true;
    return false;
}

/* A login pattern: 1..OKTAC_PROTECT_TEXT_MAX bytes, no control character, no
 * blank, '*' only as the last byte and after at least one other. */
static const char *login_problem(const char *p)
{
    size_t n = strlen(p);
    const char *star = strchr(p, '*');

    if (n == 0)
        return "is empty";
    if (n > OKTAC_PROTECT_TEXT_MAX)
        return "is too long";
    if (has_ctl(p) || strpbrk(p, " \t"))
        return "has a blank or a control character";
    if (star && star != p + n - 1)
        return "has a '*' before its end (only a trailing '*' is a wildcard)";
    if (star && n == 1)
        return "is '*' alone, which would protect every user";
    return NULL;
}

int oktac__protected_validate(const json_t *config, struct idf_err *err)
{
    const json_t *list = json_object_get(config, "protected"), *e, *v;
    const char *key;
    size_t i;

    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return idf_err_set(err, IDF_EINVAL,
                           "protected must be a list, e.g. [{\"login\": \"it.automation@acme.com\"}, {\"group\": "
                           "\"IT Admins\"}]");
    if (json_array_size(list) > OKTAC_PROTECT_MAX)
        return idf_err_set(err, IDF_EINVAL, "protected: at most %d entries (%zu given)", OKTAC_PROTECT_MAX,
                           json_array_size(list));
    json_array_foreach (list, i, e) {
        const json_t *login = json_object_get(e, "login"), *group = json_object_get(e, "group");
        const json_t *id = json_object_get(e, "id");
        const char *why;

        if (!json_is_object(e))
            return idf_err_set(err, IDF_EINVAL,
                               "protected[%zu]: must be an object, {\"login\": LOGIN} or {\"group\": NAME, \"id\": "
                               "ID}",
                               i);
        json_object_foreach ((json_t *)e, key, v) {
            if (strcmp(key, "login") != 0 && strcmp(key, "group") != 0 && strcmp(key, "id") != 0)
                return idf_err_set(err, IDF_EINVAL, "protected[%zu]: unknown member '%.64s' (login, group, id)", i,
                                   key);
            if (!json_is_string(v))
                return idf_err_set(err, IDF_EINVAL, "protected[%zu]: %s must be a string", i, key);
        }
        if (login && (group || id))
            return idf_err_set(err, IDF_EINVAL,
                               "protected[%zu]: an entry is a login or a group, not both (give two entries)", i);
        if (!login && !group && !id)
            return idf_err_set(err, IDF_EINVAL, "protected[%zu]: give a login or a group", i);
        if (login && (why = login_problem(json_string_value(login))) != NULL)
            return idf_err_set(err, IDF_EINVAL, "protected[%zu]: login '%.80s' %s", i, json_string_value(login), why);
        if (group && (json_string_length(group) == 0 || json_string_length(group) > OKTAC_PROTECT_TEXT_MAX ||
                      has_ctl(json_string_value(group))))
            return idf_err_set(err, IDF_EINVAL,
                               "protected[%zu]: group must be a name of 1 to %d characters without control "
                               "characters",
                               i, OKTAC_PROTECT_TEXT_MAX);
        if (id && !oktac__is_id(json_string_value(id), "00g"))
            return idf_err_set(err, IDF_EINVAL, "protected[%zu]: id '%.40s' is not an Okta group id (00g...)", i,
                               json_string_value(id));
    }
    return 0;
}

/* ---------------------------------------------------------- completion */

int oktac__protected_prepare(struct http_client *http, json_t *config, struct idf_err *err)
{
    json_t *list = json_object_get(config, "protected"), *e;
    struct conn_call call = {.http = http, .connection = config, .attempt = 1};
    struct conn_result res = {0};
    struct oktac o;
    bool opened = false;
    size_t i;
    int rc = 0;

    call.connection_name = json_string_value(json_object_get(config, "name"));
    json_array_foreach (list, i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *name = json_string_value(json_object_get(e, "group"));
        json_t *g = NULL;

        if (!json_is_object(e) || json_object_get(e, "login") || (id && name))
            continue; /* a login, or a group already complete */
        if (!opened) {
            opened = true;
            if ((rc = oktac__open(&o, &call, &res, "protected")) != 0)
                break;
        }
        rc = oktac__group_resolve(&o, id ? id : name, &g);
        if (rc == 0) {
            const char *gname = json_string_value(json_object_get(json_object_get(g, "profile"), "name"));
            json_object_set_new(e, "group", json_string(gname ? gname : (name ? name : id)));
            json_object_set_new(e, "id", json_string(json_string_value(json_object_get(g, "id")) ?: ""));
        }
        json_decref(g);
        if (rc)
            break;
    }
    if (opened)
        rc = oktac__close(&o, rc);
    if (rc)
        idf_err_set(err, rc, "%s (nothing was stored)", res.message);
    conn_result_clear(&res);
    return rc;
}

/* --------------------------------------------------------------- matching */

/* Whether login matches pattern (ignoring case; a trailing '*' matches any rest). */
static bool login_matches(const char *pattern, const char *login)
{
    size_t n = strlen(pattern);

    if (n && pattern[n - 1] == '*')
        return strncasecmp(pattern, login, n - 1) == 0;
    return strcasecmp(pattern, login) == 0;
}

/* The protected login pattern login matches, or NULL (borrowed from list). */
static const char *protected_login(const json_t *list, const char *login)
{
    const json_t *e;
    size_t i;

    json_array_foreach (list, i, e) {
        const char *p = json_string_value(json_object_get(e, "login"));
        if (p && login && login_matches(p, login))
            return p;
    }
    return NULL;
}

/* The protected entry of group g (an Okta Group object), or NULL. */
static const json_t *protected_group(const json_t *list, const json_t *g)
{
    const char *gid = json_string_value(json_object_get(g, "id"));
    const char *gname = json_string_value(json_object_get(json_object_get(g, "profile"), "name"));
    const json_t *e;
    size_t i;

    json_array_foreach (list, i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *name = json_string_value(json_object_get(e, "group"));
        if (id ? gid && strcmp(id, gid) == 0 : name && gname && strcmp(name, gname) == 0)
            return e;
    }
    return NULL;
}

static bool has_groups(const json_t *list)
{
    const json_t *e;
    size_t i;

    json_array_foreach (list, i, e) {
        if (json_object_get(e, "group") || json_object_get(e, "id"))
            return true;
    }
    return false;
}

/* The name of a protected group entry, for a person. */
static const char *entry_name(const json_t *e)
{
    return json_string_value(json_object_get(e, "group")) ?: json_string_value(json_object_get(e, "id")) ?: "?";
}

/* ------------------------------------------------------ okta.request paths */

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Splits the path of an okta.request (relative, or an absolute URL: its
 * path) into segments, reading it as leniently as any server in front of
 * Okta might: percent-decoded first (so an encoded '/' or '.' counts), '\\'
 * taken as '/', empty segments skipped, matrix parameters (";...") dropped
 * from each segment, "." dropped, ".." removing the one before. Reading more
 * into a path than Okta does can only refuse more. Returns the number of
 * leading segments in seg (at most PROTECT_SEGS: deeper ones are counted,
 * not kept), or -1 for a path or a segment too long to read. */
static int path_segments(const char *path, char seg[PROTECT_SEGS][PROTECT_SEG_MAX])
{
    const char *p = path;
    char *dec = NULL, *q;
    size_t n, o = 0;
    int total = 0;

    if (p[0] != '/') { /* "https://host/...": its path */
        const char *s = strstr(p, "://");
        p = s ? strchr(s + 3, '/') : NULL;
        if (!p)
            p = "";
    }
    n = strcspn(p, "?#");
    if (n > OKTAC_MAX_URL || !(dec = malloc(n + 1)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
            c = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
            i += 2;
        }
        dec[o++] = c;
    }
    dec[o] = '\0';
    for (q = dec; *q;) {
        size_t len = strcspn(q, "/\\"), keep = strcspn(q, "/\\;");

        if (len == 0) { /* "//" or "/\\" */
            q++;
            continue;
        }
        if (keep >= PROTECT_SEG_MAX) {
            free(dec);
            return -1;
        }
        if (keep == 1 && q[0] == '.') {
            /* "." */
        } else if (keep == 2 && q[0] == '.' && q[1] == '.') {
            if (total > 0)
                total--;
        } else {
            if (total < PROTECT_SEGS) {
                memcpy(seg[total], q, keep);
                seg[total][keep] = '\0';
            }
            total++;
        }
        q += len;
    }
    free(dec);
    return total < PROTECT_SEGS ? total : PROTECT_SEGS;
}

/* The user key and group id an okta.request writes to, borrowed from seg:
 *   /api/v1/users/{u}...              user u
 *   /api/v1/groups/{g}...             group g (and user u of /groups/{g}/users/{u})
 *   /api/v1/apps/{a}/users/{u}...     user u */
static void request_targets(char seg[PROTECT_SEGS][PROTECT_SEG_MAX], int n, const char **user, const char **group)
{
    *user = *group = NULL;
    if (n < 4 || strcasecmp(seg[0], "api") != 0 || strcasecmp(seg[1], "v1") != 0)
        return;
    if (strcasecmp(seg[2], "users") == 0)
        *user = seg[3];
    else if (strcasecmp(seg[2], "groups") == 0)
        *group = seg[3];
    if ((strcasecmp(seg[2], "groups") == 0 || strcasecmp(seg[2], "apps") == 0) && n >= 6 &&
        strcasecmp(seg[4], "users") == 0)
        *user = seg[5];
}

/* --------------------------------------------------------------- the check */

/* Copies the failure the session wrote into out (the check could not be made). */
static int could_not(struct conn_protect *out, const struct conn_result *res, int rc)
{
    snprintf(out->rule, sizeof out->rule, "%s", res->message[0] ? res->message : "the check failed");
    out->retryable = res->retryable;
    out->retry_after_ms = res->retry_after_ms;
    out->deferred = res->deferred;
    return rc;
}

/* Reads the user named by key and checks their login and groups. *found
 * false when Okta has no such user (nothing to protect). */
static int check_user(struct oktac *o, const json_t *list, const char *key, bool *refused, struct conn_protect *out)
{
    json_t *user = NULL, *groups = NULL, *g;
    const char *login, *pattern, *uid;
    char *path = NULL;
    bool truncated = false;
    size_t i;
    int rc;

    rc = oktac__user_get(o, key, &user);
    if (rc == IDF_ENOTFOUND) { /* no such user: nothing to protect; the action itself will say so */
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    login = oktac__login(user);
    uid = json_string_value(json_object_get(user, "id"));
    snprintf(out->target, sizeof out->target, "%s", login);
    if ((pattern = protected_login(list, login)) != NULL) {
        snprintf(out->rule, sizeof out->rule, "protected login %s", pattern);
        *refused = true;
        goto out;
    }
    if (!has_groups(list))
        goto out;
    if (!uid || !oktac__is_id(uid, "00u")) {
        rc = oktac__fail(o, IDF_EREMOTE, false, 0, "%s: Okta answered user '%s' without a valid id", o->s.action, key);
        goto out;
    }
    /* listUserGroups takes no paging parameter (docs/okta.md, "Facts checked in the spec"); a next link is followed */
    if (asprintf(&path, "/api/v1/users/%s/groups", uid) < 0) {
        path = NULL;
        rc = oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
        goto out;
    }
    rc = oktac__list(o, path, OKTAC_LIST_CAP_MAX, &groups, &truncated);
    if (rc)
        goto out;
    if (truncated) { /* a group not seen could be a protected one */
        rc = oktac__fail(o, IDF_ETOOBIG, false, 0, "%s: %s is in more groups than idflow reads (%d)", o->s.action,
                         login, OKTAC_LIST_CAP_MAX);
        goto out;
    }
    json_array_foreach (groups, i, g) {
        const json_t *e = protected_group(list, g);
        if (e) {
            snprintf(out->rule, sizeof out->rule, "member of the protected group '%s'", entry_name(e));
            *refused = true;
            break;
        }
    }
out:
    if (rc == 0 && !*refused)
        out->target[0] = '\0';
    json_decref(user);
    json_decref(groups);
    free(path);
    return rc;
}

int oktac__protect(struct conn_call *call, const struct conn_action *a, const json_t *params, bool *refused_out,
                   struct conn_protect *out)
{
    const json_t *list = json_object_get(call->connection, "protected"), *e;
    char seg[PROTECT_SEGS][PROTECT_SEG_MAX], scratch[32];
    const char *key = NULL, *group = NULL, *pattern;
    struct conn_result res = {0};
    struct oktac o;
    size_t i;
    int rc = 0, n;

    *refused_out = false;
    if (!json_is_array(list) || json_array_size(list) == 0)
        return 0; /* nothing protected: no call */
    if (a->fn == oktac__act_request) {
        const char *path = json_string_value(json_object_get(params, "path"));
        n = path ? path_segments(path, seg) : 0;
        if (n < 0) {
            snprintf(out->rule, sizeof out->rule,
                     "okta.request: the path is too long to check (a segment of at most %d bytes)",
                     PROTECT_SEG_MAX - 1);
            return IDF_EINVAL;
        }
        request_targets(seg, n, &key, &group);
    } else {
        key = oktac__param_str(params, "user", scratch, sizeof scratch);
        if (!key)
            key = oktac__param_str(params, "login", scratch, sizeof scratch);
        if (!key)
            key = oktac__param_str(params, "id", scratch, sizeof scratch);
    }
    if (group) { /* a write to a protected group itself (rename, delete, its members) */
        json_array_foreach (list, i, e) {
            const char *id = json_string_value(json_object_get(e, "id"));
            if (id && strcmp(id, group) == 0) {
                snprintf(out->rule, sizeof out->rule, "a change to the protected group '%s'", entry_name(e));
                snprintf(out->target, sizeof out->target, "group %s", entry_name(e));
                *refused_out = true;
                return 0;
            }
        }
    }
    if (!key || !*key)
        return 0; /* no user named: nothing of this list applies */
    if (!oktac__is_id(key, "00u") && (pattern = protected_login(list, key)) != NULL) {
        /* named by a protected login: refused without a call */
        snprintf(out->rule, sizeof out->rule, "protected login %s", pattern);
        snprintf(out->target, sizeof out->target, "%s", key);
        *refused_out = true;
        return 0;
    }
    rc = oktac__open(&o, call, &res, PROTECT_ACTION);
    if (rc == 0)
        rc = check_user(&o, list, key, refused_out, out);
    rc = oktac__close(&o, rc);
    if (rc) {
        *refused_out = false;
        out->target[0] = '\0';
        could_not(out, &res, rc);
    }
    conn_result_clear(&res);
    return rc;
}

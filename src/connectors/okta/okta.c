/* okta.c — the `okta` connector's descriptors: its connection kind (fields,
 * validate, check) and the table of its actions with their typed parameters,
 * which the validator, the engine and `idflow catalogue` read.
 *
 * What each action does is in actions_*.c; how requests are made in
 * client.c; docs/okta.md explains convergence, rate limits and errors.
 * Triggers and event ingress (hooks, System Log polling) are described in
 * triggers.c, events.c and poll.c.
 *
 * Threads: the tables are constant; validate/check run on the caller's
 * thread (the CLI or an API handler) with their own http client. */
#include <curl/curl.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "connectors/okta/events.h"
#include "connectors/okta/okta_internal.h"
#include "net/http.h"

/* ------------------------------------------------------------- the URL */

static bool admin_host(const char *host)
{
    static const char *const suffixes[] = {"-admin.okta.com", "-admin.oktapreview.com", "-admin.okta-emea.com", NULL};
    size_t hl = strlen(host);

    for (int i = 0; suffixes[i]; i++) {
        size_t sl = strlen(suffixes[i]);
        if (hl > sl && strcasecmp(host + hl - sl, suffixes[i]) == 0)
            return true;
    }
    return false;
}

int oktac__normalize_url(const char *url, bool sandbox, char *out, size_t n, struct idf_err *err)
{
    struct conn_url u;
    int rc = conn_base_url(url, sandbox, "Okta", "https://acme.okta.com", &u, err);

    if (rc)
        return rc;
    if (strcmp(u.path, "/") != 0 && strcmp(u.path, "") != 0)
        return idf_err_set(err, IDF_EINVAL,
                           "url: must not have a path (%s); give the org URL only, e.g. https://acme.okta.com", u.path);
    if (admin_host(u.host))
        return idf_err_set(err, IDF_EINVAL,
                           "url: %s is the Admin Console host; the API lives on the org host (without \"-admin\")",
                           u.host);
    if ((size_t)snprintf(out, n, "%s", u.base) >= n)
        return idf_err_set(err, IDF_ETOOBIG, "url: too long");
    return 0;
}

/* ------------------------------------------------------ the connection */

static const struct conn_field okta_fields[] = {
    {"url", false, true, "the org URL, e.g. https://acme.okta.com (not the -admin host; no path)"},
    {"token", true, false, "API token (sent as SSWS); required unless client_id is given"},
    {"client_id", false, false, "OAuth 2.0 service app: client id (instead of a token)"},
    {"private_key", true, false, "OAuth 2.0 service app: private key, PEM or JWK (RSA or EC)"},
    {"key_id", false, false, "OAuth 2.0 service app: the key's kid, when Okta holds several keys"},
    {"scopes", false, false, "OAuth 2.0 service app: scopes to request (default users/groups/apps read+manage)"},
    {"sandbox", false, false, "true for an idflow sandbox: allows plain http://"},
    {"max_concurrency", false, false, "calls in flight at once on this connection (default 10)"},
    {"rate_share", false, false,
     "percent of each Okta rate-limit bucket idflow may use (default 50, as Okta gives a token)"},
    {"hook_secret", true, false, "event hooks: the shared secret Okta sends in the Authorization header"},
    {"mode", false, false, "how events arrive: hook (default), poll (System Log) or both"},
    {"poll_interval", false, false, "System Log polling: seconds between polls when caught up (default 10)"},
    {"token_id", false, false, "the API token's id (00T...): workflows may ignore the events it causes"},
    {"protected", false, false,
     "accounts no destructive action may touch: [{\"login\": L}, {\"group\": NAME, \"id\": 00g...}]; a login may "
     "end in * (idflow connect: --protect LOGIN|GROUP, repeatable)"},
    {NULL, false, false, NULL},
};

static int int_field(const json_t *config, const char *name, int lo, int hi, struct idf_err *err)
{
    const json_t *v = json_object_get(config, name);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return idf_err_set(err, IDF_EINVAL, "%s must be an integer from %d to %d", name, lo, hi);
    return 0;
}

static int okta_validate(json_t *config, struct idf_err *err)
{
    char norm[OKTAC_MAX_BASE];
    const json_t *sb, *tok;
    int rc;

    if (!json_is_object(config))
        return idf_err_set(err, IDF_EINVAL, "the connection config must be an object");
    sb = json_object_get(config, "sandbox");
    if (sb && !json_is_boolean(sb) && !json_is_null(sb)) {
        if (!json_is_string(sb) || (strcasecmp(json_string_value(sb), "true") != 0 &&
                                    strcasecmp(json_string_value(sb), "false") != 0))
            return idf_err_set(err, IDF_EINVAL, "sandbox must be true or false");
        json_object_set_new(config, "sandbox", json_boolean(conn_is_sandbox(config)));
    }
    if (!json_is_string(json_object_get(config, "url")))
        return idf_err_set(err, IDF_EINVAL, "url is required (e.g. https://acme.okta.com)");
    rc = oktac__normalize_url(json_string_value(json_object_get(config, "url")), conn_is_sandbox(config), norm,
                             sizeof norm, err);
    if (rc)
        return rc;
    json_object_set_new(config, "url", json_string(norm));
    if ((rc = int_field(config, "max_concurrency", 1, RATELIMIT_MAX_CONCURRENCY, err)) != 0 ||
        (rc = int_field(config, "rate_share", 1, 100, err)) != 0)
        return rc;
    {
        /* how events arrive: an unknown mode must not quietly mean "hook" */
        const json_t *mode = json_object_get(config, "mode");
        const char *m = json_string_value(mode);
        if (mode && !json_is_null(mode) &&
            (!m || (strcmp(m, "hook") != 0 && strcmp(m, "poll") != 0 && strcmp(m, "both") != 0)))
            return idf_err_set(err, IDF_EINVAL, "mode must be hook, poll or both");
    }
    if ((rc = oktac__protected_validate(config, err)) != 0) /* protect.c (issue 19) */
        return rc;
    if (json_object_get(config, "client_id"))
        return oktac__oauth_validate(config, err);
    tok = json_object_get(config, "token");
    if (!json_is_string(tok) || json_string_length(tok) == 0)
        return idf_err_set(err, IDF_EINVAL, "token is required (an Okta API token), or client_id and private_key "
                                            "for an OAuth service app");
    if (json_string_length(tok) > OKTAC_MAX_TOKEN)
        return idf_err_set(err, IDF_EINVAL, "token is too long");
    for (const char *p = json_string_value(tok); *p; p++) {
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return idf_err_set(err, IDF_EINVAL, "token must not contain spaces or control characters");
    }
    return 0;
}

static int okta_check(struct http_client *http, const json_t *config, json_t **whoami_out, struct idf_err *err)
{
    struct conn_call call = {.http = http, .connection = config, .attempt = 1};
    struct conn_result res = {0};
    struct oktac o;
    struct oktac_resp r = {0};
    bool oauth = json_is_string(json_object_get(config, "client_id"));
    int rc;

    *whoami_out = NULL;
    call.connection_name = json_string_value(json_object_get(config, "name"));
    rc = oktac__open(&o, &call, &res, "okta connection check");
    if (rc == 0)
        rc = oktac__call(&o, "GET", oauth ? "/api/v1/users?limit=1" : "/api/v1/users/me", NULL, &r, NULL);
    if (rc == 0 && oauth) {
        /* which mode the app uses, learnt from Okta's answer (issue 18), never asked of the admin */
        *whoami_out =
            json_pack("{s:s, s:O, s:s, s:s, s:s}", "kind", "oauth", "client_id", json_object_get(config, "client_id"),
                      "token_type", o.dpop_key ? "DPoP" : "Bearer", "dpop",
                      o.dpop_key ? "required by the app: every call carries a DPoP proof"
                                 : "not required by the app: a Bearer token",
                      "request_id", o.request_id);
    } else if (rc == 0) {
        const json_t *u = r.json;
        *whoami_out = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "token", "id",
                                json_string_value(json_object_get(u, "id")) ?: "", "login", oktac__login(u), "status",
                                json_string_value(json_object_get(u, "status")) ?: "", "request_id", o.request_id);
    }
    oktac__resp_free(&r);
    rc = oktac__close(&o, rc);
    if (rc)
        idf_err_set(err, rc, "%s", res.message);
    conn_result_clear(&res);
    return rc;
}

static const struct conn_connection_kind okta_connection = {
    .fields = okta_fields,
    .validate = okta_validate,
    .check = okta_check,
    .prepare = oktac__protected_prepare, /* protect.c: the protected groups' ids (issue 19) */
};

/* ------------------------------------------------------------- params */

#define P_END {NULL, 0, false, NULL}
#define P_USER {"user", CONN_P_STRING, true, "the user: login (e.g. jane@acme.com) or id (00u...)"}

static const struct conn_param p_user[] = {P_USER, P_END};
static const struct conn_param p_get_user[] = {
    {"user", CONN_P_STRING, false, "the user: login or id (or give `login` / `id`)"},
    {"login", CONN_P_STRING, false, "the user's login (same as `user`)"},
    {"id", CONN_P_STRING, false, "the user's id (same as `user`)"},
    P_END,
};
static const struct conn_param p_create_user[] = {
    {"profile", CONN_P_OBJECT, true, "profile: login (required), email, firstName, lastName, any custom attribute"},
    {"password", CONN_P_STRING, false, "initial password (never logged or returned)"},
    {"activate", CONN_P_BOOL, false, "activate at once (default true; false leaves the user STAGED)"},
    {"groups", CONN_P_ARRAY, false, "groups to join, each an id or an exact name (at most 20)"},
    {"if_exists", CONN_P_STRING, false, "fail (default) or reuse: return the existing user with that login"},
    {"must_change_password", CONN_P_BOOL, false, "expire the password at once (needs password and activate)"},
    P_END,
};
static const struct conn_param p_activate[] = {
    P_USER,
    {"send_email", CONN_P_BOOL, false, "email the activation link (default true; false returns activationUrl)"},
    P_END,
};
static const struct conn_param p_reactivate[] = {
    P_USER,
    {"send_email", CONN_P_BOOL, false, "email the activation link (default false: returns activationUrl)"},
    P_END,
};
static const struct conn_param p_deactivate[] = {
    P_USER,
    {"send_email", CONN_P_BOOL, false, "email the admin about the deactivation (default false)"},
    P_END,
};
static const struct conn_param p_reset_password[] = {
    P_USER,
    {"send_email", CONN_P_BOOL, false, "email the reset link (default true; false returns resetPasswordUrl)"},
    {"revoke_sessions", CONN_P_BOOL, false, "also end the user's sessions (default false)"},
    {"force", CONN_P_BOOL, false, "reset again even when the user is already in RECOVERY (default false)"},
    P_END,
};
static const struct conn_param p_expire_password[] = {
    P_USER,
    {"temp_password", CONN_P_BOOL, false, "also set a temporary password, returned as tempPassword (default false)"},
    {"revoke_sessions", CONN_P_BOOL, false, "with temp_password: end the user's sessions (default false)"},
    P_END,
};
static const struct conn_param p_clear_sessions[] = {
    P_USER,
    {"oauth_tokens", CONN_P_BOOL, false, "also revoke OIDC/OAuth tokens issued to the user (default false)"},
    {"forget_devices", CONN_P_BOOL, false, "also forget remembered factors (Okta's default: true, Classic: false)"},
    P_END,
};
static const struct conn_param p_group_member[] = {
    P_USER,
    {"group", CONN_P_STRING, true, "the group: id (00g...) or exact name (an OKTA_GROUP)"},
    P_END,
};
static const struct conn_param p_assign_app[] = {
    P_USER,
    {"app", CONN_P_STRING, true, "the app: id (0oa...) or exact label"},
    {"credentials", CONN_P_OBJECT, false, "app credentials, e.g. {userName: ...} (provisioning apps)"},
    {"profile", CONN_P_OBJECT, false, "app user profile attributes not covered by mappings"},
    P_END,
};
static const struct conn_param p_revoke_app[] = {
    P_USER,
    {"app", CONN_P_STRING, true, "the app: id (0oa...) or exact label"},
    {"send_email", CONN_P_BOOL, false, "email the admin (default false)"},
    P_END,
};
static const struct conn_param p_update_user[] = {
    P_USER,
    {"profile", CONN_P_OBJECT, true, "profile attributes to set (partial update; others are kept)"},
    P_END,
};
static const struct conn_param p_list_user[] = {
    P_USER,
    {"max", CONN_P_INT, false, "most items collected (default 10000); `truncated` says when more exist"},
    P_END,
};
static const struct conn_param p_find_group[] = {
    {"group", CONN_P_STRING, true, "id (00g...) or exact name"},
    {"required", CONN_P_BOOL, false, "fail when not found (default true; false gives found: false)"},
    P_END,
};
static const struct conn_param p_find_app[] = {
    {"app", CONN_P_STRING, true, "id (0oa...) or exact label"},
    {"required", CONN_P_BOOL, false, "fail when not found (default true; false gives found: false)"},
    P_END,
};
static const struct conn_param p_search_users[] = {
    {"search", CONN_P_STRING, false, "Okta search expression, e.g. profile.department eq \"Sales\""},
    {"filter", CONN_P_STRING, false, "Okta filter expression (status, lastUpdated, id, profile.login/email/...)"},
    {"max", CONN_P_INT, false, "most users collected (default 10000); `truncated` says when more exist"},
    P_END,
};
static const struct conn_param p_request[] = {
    {"method", CONN_P_STRING, false, "GET (default), POST, PUT, PATCH or DELETE"},
    {"path", CONN_P_STRING, true, "path on the org, e.g. /api/v1/users/me (or a URL on the org itself)"},
    {"query", CONN_P_OBJECT, false, "query parameters, name to value (URL-encoded for you)"},
    {"json", CONN_P_ANY, false, "JSON body"},
    {"paginate", CONN_P_BOOL, false, "GET only: follow Link rel=next and return all items (default false)"},
    {"max", CONN_P_INT, false, "with paginate: most items collected (default 10000)"},
    P_END,
};

/* ------------------------------------------------------------ actions */

/* okta.request reaches any path: a GET reads, anything else may take access
 * away (a DELETE of a user, a POST to a lifecycle operation) and the path
 * alone cannot always tell, so every other method counts as destructive. */
static enum conn_effect okta_request_effect(const json_t *params)
{
    const char *m = json_string_value(json_object_get(params, "method"));

    return !m || strcasecmp(m, "GET") == 0 ? CONN_EFFECT_READ : CONN_EFFECT_DESTRUCTIVE;
}

#define USER_OUT "the user (id, status, profile, ...), changed, request_id"
#define LC_OUT "the user after the change (id, status, profile, ...), previous_status, changed, request_id"

static const struct conn_action okta_actions[] = {
    {"okta.get_user", "Reads one Okta user by login or id.", p_get_user, CONN_K_ACTION, oktac__act_get_user,
     CONN_EFFECT_READ, USER_OUT " (changed is always false)"},
    {"okta.create_user",
     "Creates a user (activated by default), optionally with a password and groups. An existing login fails the "
     "step, or with if_exists: reuse returns that user unchanged.",
     p_create_user, CONN_K_ACTION, oktac__act_create_user, CONN_EFFECT_CHANGE, USER_OUT ", groupIds"},
    {"okta.activate_user",
     "Activates a STAGED or DEPROVISIONED user. Already ACTIVE or PROVISIONED (or activating): changed: false.",
     p_activate, CONN_K_ACTION, oktac__act_activate_user, CONN_EFFECT_CHANGE,
     LC_OUT ", activationUrl when send_email is false"},
    {"okta.reactivate_user",
     "Restarts the activation of a PROVISIONED or RECOVERY user (new activation link). Other states are refused "
     "with both states named.",
     p_reactivate, CONN_K_ACTION, oktac__act_reactivate_user, CONN_EFFECT_CHANGE,
     LC_OUT ", activationUrl when send_email is false"},
    {"okta.deactivate_user",
     "Deactivates a user (DEPROVISIONED; Okta removes their app assignments). Never deletes. Already "
     "DEPROVISIONED: changed: false.",
     p_deactivate, CONN_K_ACTION, oktac__act_deactivate_user, CONN_EFFECT_DESTRUCTIVE, LC_OUT},
    {"okta.suspend_user", "Suspends an ACTIVE user. Already SUSPENDED: changed: false; other states are refused.",
     p_user, CONN_K_ACTION, oktac__act_suspend_user, CONN_EFFECT_DESTRUCTIVE, LC_OUT},
    {"okta.unsuspend_user",
     "Unsuspends a SUSPENDED user (back to ACTIVE). Any other state is refused with both states named (on a retry, "
     "ACTIVE is taken as the earlier attempt's result).",
     p_user, CONN_K_ACTION, oktac__act_unsuspend_user, CONN_EFFECT_CHANGE, LC_OUT},
    {"okta.unlock_user",
     "Unlocks a LOCKED_OUT user (or an ACTIVE one blocked from unknown devices). ACTIVE and not blocked: changed: "
     "false.",
     p_user, CONN_K_ACTION, oktac__act_unlock_user, CONN_EFFECT_CHANGE, LC_OUT},
    {"okta.reset_password",
     "Starts a password reset (the user goes to RECOVERY). Already in RECOVERY: changed: false unless force.",
     p_reset_password, CONN_K_ACTION, oktac__act_reset_password, CONN_EFFECT_DESTRUCTIVE,
     LC_OUT ", resetPasswordUrl when send_email is false"},
    {"okta.expire_password",
     "Expires the password (PASSWORD_EXPIRED: the user changes it at the next sign-in). Already expired: "
     "changed: false.",
     p_expire_password, CONN_K_ACTION, oktac__act_expire_password, CONN_EFFECT_DESTRUCTIVE,
     LC_OUT ", tempPassword with temp_password"},
    {"okta.reset_factors", "Un-enrolls every MFA factor of the user. No enrolled factor: changed: false.", p_user,
     CONN_K_ACTION, oktac__act_reset_factors, CONN_EFFECT_DESTRUCTIVE, LC_OUT},
    {"okta.clear_sessions", "Ends the user's Okta sessions (optionally OAuth tokens and remembered devices).",
     p_clear_sessions, CONN_K_ACTION, oktac__act_clear_sessions, CONN_EFFECT_DESTRUCTIVE,
     USER_OUT " (changed is always true)"},
    {"okta.add_to_group",
     "Adds the user to an OKTA_GROUP (by id or exact name). Already a member: changed: false. APP_GROUP "
     "memberships are refused (app imports own them).",
     p_group_member, CONN_K_ACTION, oktac__act_add_to_group, CONN_EFFECT_CHANGE,
     "changed, group, user {id, login}, request_id"},
    {"okta.remove_from_group",
     "Removes the user from an OKTA_GROUP (by id or exact name). Not a member: changed: false.", p_group_member,
     CONN_K_ACTION, oktac__act_remove_from_group, CONN_EFFECT_DESTRUCTIVE,
     "changed, group, user {id, login}, request_id"},
    {"okta.assign_app", "Assigns an app (by id or exact label) to the user. Already assigned: changed: false.",
     p_assign_app, CONN_K_ACTION, oktac__act_assign_app, CONN_EFFECT_CHANGE,
     "changed, app {id, name, label, status, signOnMode}, assignment (the app user), user {id, login}, request_id"},
    {"okta.revoke_app",
     "Removes the user's direct assignment of an app (by id or exact label). Not assigned: changed: false; an "
     "assignment through a group is refused.",
     p_revoke_app, CONN_K_ACTION, oktac__act_revoke_app, CONN_EFFECT_DESTRUCTIVE,
     "changed, app, assignment (the one removed, or null), user {id, login}, request_id"},
    {"okta.update_user",
     "Sets profile attributes (partial update). When every given value is already set: changed: false.", p_update_user,
     CONN_K_ACTION, oktac__act_update_user, CONN_EFFECT_CHANGE, USER_OUT},
    {"okta.list_user_groups", "Lists the user's groups (all pages, up to max).", p_list_user, CONN_K_ACTION,
     oktac__act_list_user_groups, CONN_EFFECT_READ, "groups [...], count, truncated, changed (false), request_id"},
    {"okta.list_user_apps", "Lists the apps assigned to the user, directly or through groups (all pages, up to max).",
     p_list_user, CONN_K_ACTION, oktac__act_list_user_apps, CONN_EFFECT_READ,
     "apps [{id, name, label, status, signOnMode, assignment {scope, status, ...}}], count, truncated, changed, "
     "request_id"},
    {"okta.find_group", "Finds one group by id or exact name (several groups with the name is an error).", p_find_group,
     CONN_K_ACTION, oktac__act_find_group, CONN_EFFECT_READ, "found, group, changed (false), request_id"},
    {"okta.find_app", "Finds one app by id or exact label (several apps with the label is an error).", p_find_app,
     CONN_K_ACTION, oktac__act_find_app, CONN_EFFECT_READ, "found, app, changed (false), request_id"},
    {"okta.search_users", "Lists the users matching an Okta search or filter expression (all pages, up to max).",
     p_search_users, CONN_K_ACTION, oktac__act_search_users, CONN_EFFECT_READ,
     "users [...], count, truncated, changed (false), request_id"},
    {"okta.request",
     "Calls any Okta API path on the connection's org, with the same credentials, rate limiting and error "
     "handling. A status outside 2xx fails the step (retryable for 429, 5xx and E0000112).",
     p_request, CONN_K_ACTION, oktac__act_request, CONN_EFFECT_CHANGE,
     "status, json (the answer), next (Link rel=next), changed (true unless GET), request_id; with paginate: "
     "items, count, truncated",
     false, okta_request_effect},
    {NULL, NULL, NULL, 0, NULL, CONN_EFFECT_READ, NULL},
};

const struct connector connector_okta = {
    .name = "okta",
    .connection = &okta_connection,
    .actions = okta_actions,
    .triggers = oktac__triggers,
    .thread_slot_free = NULL,
    .ingress = &oktac__ingress,
    .event_subjects = oktac__event_subjects, /* subjects.c (issue 17) */
    .protect = oktac__protect,               /* protect.c (issue 19) */
};

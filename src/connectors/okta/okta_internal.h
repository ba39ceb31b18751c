/* okta_internal.h — private to src/connectors/okta/ (prefix oktac__).
 *
 * One action call is one `struct oktac`: opened from the conn_call (base URL,
 * credentials, rate-limit scope), used for one or more requests, closed.
 * Requests go through oktac__send(), which paces them with net/ratelimit,
 * adds the headers Okta wants and maps every failure onto the conn_result
 * (message, detail, retryable, retry_after_ms). The token never leaves the
 * `auth` header line it is copied into; oktac__close() wipes that line and
 * checks that no message, detail or output carries the secret. */
#ifndef IDF_CONNECTORS_OKTA_INTERNAL_H
#define IDF_CONNECTORS_OKTA_INTERNAL_H

#include <jansson.h>
#include <openssl/types.h>
#include <stdbool.h>
#include <stdint.h>

#include "connectors/connector.h"
#include "connectors/toolkit.h"
#include "core/err.h"
#include "net/ratelimit.h"

/* ---------------------------------------------------------------- caps */

#define OKTAC_USER_AGENT "idflow/0.1"
#define OKTAC_TIMEOUT_MS 30000 /* one request, when the step sets no timeout */
#define OKTAC_CONNECT_TIMEOUT_MS 10000
#define OKTAC_MAX_RESPONSE (8u << 20) /* response body cap */
#define OKTAC_MAX_URL 8192            /* a request URL (base + path + query) */
#define OKTAC_MAX_BASE 512            /* the org URL */
#define OKTAC_MAX_REQUEST_ID 64
#define OKTAC_LIST_CAP_DEFAULT 10000    /* items a list action collects by default */
#define OKTAC_LIST_CAP_MAX 100000       /* the most a caller may ask for */
#define OKTAC_PAGE_LIMIT 200            /* `limit` asked per page */
#define OKTAC_MAX_PAGES 1000            /* pages followed by one list, whatever the cap */
#define OKTAC_FIND_CAP 2000             /* candidates examined by find_group / find_app */
#define OKTAC_MAX_GROUP_IDS 20          /* groupIds on createUser (Okta: E0000093 above) */
#define OKTAC_TRANSITION_RETRY_MS 10000 /* wait before retrying a user still being activated */
#define OKTAC_ID_LEN 20                 /* Okta object ids: 00u…, 00g…, 0oa… */
#define OKTAC_LOGIN_PATH_UNSAFE "/?#%"  /* a login with one of these is found by search, not by path */
#define OKTAC_MAX_TOKEN 4096            /* an API token or access token */
#define OKTAC_MAX_CACHE_KEY 1024        /* an OAuth token cache key (org|client|scopes|key digest) */
#define OKTAC_DEFAULT_RATE_SHARE 50     /* % of each bucket one API token / OAuth app gets by default (Okta) */
#define OKTAC_PROTECT_MAX 100           /* entries of a connection's `protected` list */
#define OKTAC_PROTECT_TEXT_MAX 255      /* a protected login pattern or group name (Okta: names up to 255) */

/* ----------------------------------------------------------- the call */

struct oktac {
    struct ctk_session s;                  /* the toolkit's session: call, result, base URL, the credential
                                              (secrets[0]: the token or access token) and its auth line */
    char scope[RATELIMIT_MAX_KEY];         /* rate-limit scope: "<connection name>|<base>" */
    char request_id[OKTAC_MAX_REQUEST_ID]; /* X-Okta-Request-Id of the last response */
    int sent;                              /* requests sent so far: later ones are rate-limit follow-ups */
    char oauth_key[OKTAC_MAX_CACHE_KEY];   /* OAuth: the token cache key ("" for an API token) */
    EVP_PKEY *dpop_key;                    /* OAuth with a DPoP-bound token: owned reference to the key it
                                              is bound to (every request carries a proof); NULL otherwise */
};

/* One response. Free with oktac__resp_free. */
struct oktac_resp {
    long status;
    json_t *json;    /* parsed body, NULL when empty or not JSON */
    json_t *headers; /* lower-case name -> value */
    char request_id[OKTAC_MAX_REQUEST_ID];
    char *next;             /* Link rel="next" URL (same origin), or NULL */
    int64_t retry_after_ms; /* for a 429: the wait until the reset */
};

/* client.c. oktac__open fills o from the call's connection (a failure is
 * written to res); oktac__close is due afterwards whatever open returned: it
 * wipes the credential and returns the action's final code (rc, or a
 * failure when the output had to be dropped for carrying the secret). */
int oktac__open(struct oktac *o, struct conn_call *call, struct conn_result *res, const char *action) IDF_MUST_USE;
int oktac__close(struct oktac *o, int rc) IDF_MUST_USE;
/* Sends one request. path: "/api/v1/..." (with its query, already encoded)
 * or an absolute URL on the org's own origin (a `next` link). body may be
 * NULL. Returns 0 when a response arrived (any status; r filled), or a
 * negative code after writing the failure (rate-limit wait, network error,
 * refused URL) to o->res. */
int oktac__send(struct oktac *o, const char *method, const char *path, const json_t *body,
                struct oktac_resp *r) IDF_MUST_USE;
/* oktac__send, then a status outside 2xx becomes a failure too (oktac__fail_http with what). */
int oktac__call(struct oktac *o, const char *method, const char *path, const json_t *body, struct oktac_resp *r,
                const char *what) IDF_MUST_USE;
void oktac__resp_free(struct oktac_resp *r);
/* A 2xx answer (anything else, redirects included, is a failure). */
static inline bool oktac__ok(const struct oktac_resp *r)
{
    return r->status >= 200 && r->status < 300;
}
/* Writes the failure of an HTTP error answer: "<action>: <what>: HTTP 400
 * E0000001 <summary> (<causes>) [request <id>]", detail with the status and
 * Okta's error object and request id; retryable for 408, 429, 5xx and
 * E0000112. Returns the IDF_E* code. */
int oktac__fail_http(struct oktac *o, const struct oktac_resp *r, const char *what);
/* Like oktac__fail_http with a message of the caller's choosing (Okta's own
 * text is appended) and retryable forced to false. */
int oktac__fail_state(struct oktac *o, const struct oktac_resp *r, int code, const char *fmt, ...) IDF_PRINTF(4, 5);
/* A failure not tied to a response (ctk_fail on the session): (o, code,
 * retryable, retry_after_ms, fmt, ...); returns code. */
#define oktac__fail(o, ...) ctk_fail(&(o)->s, __VA_ARGS__)
/* Okta's errorCode of a response, "" when none. */
const char *oktac__error_code(const struct oktac_resp *r);
/* True when one of the response's errorCauses contains text (case-insensitive). */
bool oktac__error_cause_has(const struct oktac_resp *r, const char *text);
/* The bucket (endpoint group) of a request, after Okta's table (API-NOTES §e). */
const char *oktac__bucket(const char *method, const char *path);

/* oauth.c: the access token of an OAuth service-app connection (cached per
 * process, renewed before expiry). On success *token_out is a new string
 * (caller wipes and frees); when Okta bound it to DPoP (token_type "DPoP"),
 * *dpop_key_out is a new reference to the key (caller frees with
 * EVP_PKEY_free), else NULL. */
int oktac__oauth_token(struct oktac *o, const json_t *conn, char **token_out, EVP_PKEY **dpop_key_out) IDF_MUST_USE;
/* The resource server's newest DPoP nonce for o's connection into out
 * ("" when it sent none); and keeping a newer one it sent, when it is a
 * nonce worth keeping (oktac__dpop_nonce_ok). */
void oktac__dpop_nonce(const struct oktac *o, char *out, size_t n);
void oktac__dpop_nonce_keep(const struct oktac *o, const char *nonce);
/* A DPoP-Nonce header value worth keeping: 1..DPOP_MAX_NONCE-1 bytes of
 * RFC 9449's NQCHAR (visible ASCII but '"' and '\\'). */
bool oktac__dpop_nonce_ok(const char *nonce);
/* Drops the cached access token of o (after Okta answered 401 to it). */
void oktac__oauth_forget(const struct oktac *o);
/* Checks the OAuth fields of a connection config (key parses, ids present). */
int oktac__oauth_validate(const json_t *config, struct idf_err *err) IDF_MUST_USE;

/* ------------------------------------------------------------ common.c */

/* True when s looks like an Okta id with the given prefix ("00u", "00g", "0oa"). */
bool oktac__is_id(const char *s, const char *prefix);
/* The string value of a parameter (strings, or integers as text); NULL when absent. */
const char *oktac__param_str(const json_t *params, const char *name, char *scratch, size_t n);
/* A boolean parameter, dflt when absent. */
bool oktac__param_bool(const json_t *params, const char *name, bool dflt);
/* A SCIM string literal: "v" with quotes and backslashes escaped; caller frees. */
char *oktac__scim_quote(const char *v);
/* True when key (a login) cannot travel in a path segment: it holds one of
 * OKTAC_LOGIN_PATH_UNSAFE, so it is looked up with search= and then read by id. */
bool oktac__login_needs_search(const char *key);
/* The user named by key (id, login or short name). On success *user_out is
 * the User object (caller decrefs). 404 -> IDF_ENOTFOUND failure. */
int oktac__user_get(struct oktac *o, const char *key, json_t **user_out) IDF_MUST_USE;
/* The user's id for paths that need it: key itself when it is an id (no
 * call), else looked up. *id_out is owned by the caller. */
int oktac__user_id(struct oktac *o, const char *key, char **id_out) IDF_MUST_USE;
/* The group named by ref (id, or exact name through search); caller decrefs. */
int oktac__group_resolve(struct oktac *o, const char *ref, json_t **group_out) IDF_MUST_USE;
/* The app named by ref (id, or exact label); caller decrefs. */
int oktac__app_resolve(struct oktac *o, const char *ref, json_t **app_out) IDF_MUST_USE;
/* Follows `Link: rel="next"` from path collecting at most cap items into a
 * new array (*items_out, caller decrefs); *truncated says the cap stopped it. */
int oktac__list(struct oktac *o, const char *path, size_t cap, json_t **items_out, bool *truncated) IDF_MUST_USE;
/* A copy of an Okta object without `_links` (caller decrefs). */
json_t *oktac__strip(const json_t *obj);
/* The output of an action returning a user: the user without _links, plus
 * "changed" and "request_id" (o->request_id). Steals user. */
json_t *oktac__user_output(struct oktac *o, json_t *user, bool changed);
/* profile.login of a user, or its id, or "?" (borrowed). */
const char *oktac__login(const json_t *user);
/* Reads the list cap parameter `max` (default OKTAC_LIST_CAP_DEFAULT). */
int oktac__param_cap(struct oktac *o, const json_t *params, size_t *cap_out) IDF_MUST_USE;

/* ------------------------------------------------------------ subjects.c
 * (issue 17, connector.h "subjects"). The notes add a resolved object to the
 * call's conn_result.subjects (its id, login or email, name or label: never
 * a person's name); a failure to allocate loses the subject, not the call. */
void oktac__note_user(struct oktac *o, const json_t *user);
/* A user named by the caller and not read (an id or login used as it is). */
void oktac__note_user_key(struct oktac *o, const char *key);
void oktac__note_group(struct oktac *o, const json_t *group);
void oktac__note_app(struct oktac *o, const json_t *app);
/* After a successful call whose output says changed: true, writes what it
 * changed into res->change ("suspended", "added to Finance"); actions with
 * no entry in its table (okta.request, the reads) write nothing. */
void oktac__report_change(struct oktac *o, int rc);
/* connector.event_subjects: the user (id, login), group (id, name) and app
 * (id, label, name) of a normalized event (events.c). */
int oktac__event_subjects(const json_t *event, json_t *out) IDF_MUST_USE;

/* --------------------------------------------------- actions_lifecycle.c */

/* One converging lifecycle operation (POST /users/{id}/lifecycle/<endpoint>).
 * A status list is NULL-terminated; NULL means empty. See docs/okta.md. */
struct oktac_lc_op {
    const char *verb;                    /* "suspend user", for "cannot suspend user x: ..." */
    const char *endpoint;                /* lifecycle/<endpoint> */
    const char *result;                  /* status after success; NULL = keep (or as answered / re-read) */
    const char *const *done;             /* statuses meaning "already done": changed:false, no call */
    const char *const *from;             /* statuses the call is made from */
    const char *const *maybe;            /* statuses Okta documents nothing for: call, map a refusal */
    const char *const *retry_done;       /* on a retried attempt, taken as an earlier attempt's result */
    const char *const *trans_done;       /* transitioningToStatus values meaning "already underway" */
    const char *from_text;               /* "ACTIVE", "STAGED or DEPROVISIONED" */
    bool (*is_done)(const json_t *user); /* extra "already done" test, may be NULL */
    bool (*can_do)(const json_t *user);  /* extra "may call" test, may be NULL */
    bool reread;                         /* GET the user after the call (asynchronous results) */
    bool answer_is_user;                 /* the call answers the User object */
};

/* Runs op on the user named by key: read, decide, call, output. query is
 * appended to the call's path ("" or "?sendEmail=false"). On success *out is
 * the output (user + changed + previous_status + request_id + any fields the
 * call answered, e.g. activationUrl). */
int oktac__lifecycle(struct oktac *o, const struct oktac_lc_op *op, const char *key, const char *query,
                     json_t **out) IDF_MUST_USE;
/* A whole lifecycle action: open, oktac__lifecycle on params.user, close. */
int oktac__run_lifecycle(struct conn_call *call, const json_t *params, struct conn_result *res, const char *action,
                         const struct oktac_lc_op *op, const char *query) IDF_MUST_USE;
/* True when the single-user `_links` offer the operation name. */
bool oktac__user_has_link(const json_t *user, const char *name);

/* -------------------------------------------- action functions (okta.c
 * holds their descriptor tables) */

#define OKTAC__ACTION(fn) int fn(struct conn_call *call, const json_t *params, struct conn_result *res)
/* actions_users.c */
OKTAC__ACTION(oktac__act_get_user);
OKTAC__ACTION(oktac__act_create_user);
OKTAC__ACTION(oktac__act_update_user);
OKTAC__ACTION(oktac__act_search_users);
/* actions_lifecycle.c */
OKTAC__ACTION(oktac__act_activate_user);
OKTAC__ACTION(oktac__act_reactivate_user);
OKTAC__ACTION(oktac__act_deactivate_user);
OKTAC__ACTION(oktac__act_suspend_user);
OKTAC__ACTION(oktac__act_unsuspend_user);
OKTAC__ACTION(oktac__act_unlock_user);
/* actions_security.c */
OKTAC__ACTION(oktac__act_reset_password);
OKTAC__ACTION(oktac__act_expire_password);
OKTAC__ACTION(oktac__act_reset_factors);
OKTAC__ACTION(oktac__act_clear_sessions);
/* actions_groups.c */
OKTAC__ACTION(oktac__act_add_to_group);
OKTAC__ACTION(oktac__act_remove_from_group);
OKTAC__ACTION(oktac__act_find_group);
OKTAC__ACTION(oktac__act_list_user_groups);
/* actions_apps.c */
OKTAC__ACTION(oktac__act_assign_app);
OKTAC__ACTION(oktac__act_revoke_app);
OKTAC__ACTION(oktac__act_find_app);
OKTAC__ACTION(oktac__act_list_user_apps);
/* actions_helpers.c */
OKTAC__ACTION(oktac__act_request);

/* protect.c (issue 19; connector.h "protected accounts"). The checks of a
 * config's `protected` list (absent is fine): IDF_EINVAL naming the entry. */
int oktac__protected_validate(const json_t *config, struct idf_err *err) IDF_MUST_USE;
/* Completes a validated config's group entries that lack an id or a name
 * from Okta (by id, or by exact name): an unknown group is IDF_ENOTFOUND
 * with err naming it. Reads only; no call when every entry is complete. */
int oktac__protected_prepare(struct http_client *http, json_t *config, struct idf_err *err) IDF_MUST_USE;
/* connector.protect: see connector.h ("protected accounts"). */
int oktac__protect(struct conn_call *call, const struct conn_action *a, const json_t *params, bool *refused_out,
                   struct conn_protect *out) IDF_MUST_USE;

/* okta.c: validates and normalizes an org URL into out ("https://host[:port]"). */
int oktac__normalize_url(const char *url, bool sandbox, char *out, size_t n, struct idf_err *err) IDF_MUST_USE;

#endif

/* okta_internal.h — the Okta half of the sandbox (private to okta_*.c).
 *
 * State model. Every Okta object is kept as the JSON object the API emits,
 * plus one private member "_sbx" holding what Okta does not return (the
 * password flag, sessions, factors, members, the list cursor, the hook
 * secret, ...). okta__public() strips "_sbx" and adds `_links` when an object
 * leaves the sandbox, so a state dump and an API response never disagree.
 * Arrays keep creation order; that order is also the paging order, and each
 * object's "_sbx.seq" (strictly increasing) is its `after` cursor.
 *
 * Threads: every function here runs on an HTTP server thread WITH sb->lock
 * held (see sandbox_internal.h), except where a comment says the lock is
 * released (event hook verification). Nothing here blocks on the network
 * with the lock held.
 *
 * One request is one `struct okta_ctx`: it carries the caller's identity
 * (SSWS token or OAuth bearer token), the request id, the path segments and
 * the lazily-parsed body, and it collects the System Log events the request
 * caused so they are delivered to event hooks together, as Okta batches
 * events that happen together. */
#ifndef IDF_SANDBOX_OKTA_INTERNAL_H
#define IDF_SANDBOX_OKTA_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sandbox/sandbox_internal.h"

/* ------------------------------------------------------------- caps */

#define OKTA_MAX_USERS 20000        /* users in the org */
#define OKTA_MAX_GROUPS 5000        /* groups in the org */
#define OKTA_MAX_APPS 1000          /* app instances */
#define OKTA_MAX_LOG_EVENTS 50000   /* System Log events kept (oldest dropped) */
#define OKTA_MAX_HOOKS 25           /* event hooks per org (Okta: 25 active+verified) */
#define OKTA_MAX_HOOK_EVENT_TYPES 300 /* event types per hook */
#define OKTA_MAX_TOKENS 2000        /* live OAuth access tokens */
#define OKTA_MAX_JTIS 4096          /* remembered client-assertion jti values */
#define OKTA_MAX_GROUP_IDS 20       /* groupIds on createUser (E0000093 above) */
#define OKTA_MAX_EXPR_LEN 4096      /* a search/filter expression */
#define OKTA_MAX_EXPR_NODES 256     /* nodes in one parsed expression */
#define OKTA_MAX_PATH_SEGS 8        /* segments after /api/v1/ */
#define OKTA_MAX_SEG_LEN 512        /* one decoded path segment */
#define OKTA_MAX_BODY (1u << 20)    /* request body accepted by the Okta half */
#define OKTA_MAX_CONCURRENCY_TRACK 1024 /* in-flight requests tracked */
#define OKTA_MAX_SESSIONS 50        /* sessions per user */
#define OKTA_MAX_Q_KEYWORDS 10      /* System Log q= keywords (each <= 40 chars) */
#define OKTA_MAX_PRINCIPALS 32      /* credentials counted apart per bucket window (more: org-wide only) */
#define OKTA_MAX_PRINCIPAL_KEY 96   /* "ssws:<token id>" or "oauth:<client id>" */

#define OKTA_DEFAULT_CONCURRENCY 75 /* Workforce orgs [DOCS-RLCONC] */
#define OKTA_DEFAULT_TOKEN_SHARE 50 /* % of a bucket one API token / OAuth app may use [rl2-token-oauth] */
#define OKTA_DEFAULT_RATE_WINDOW_MS 60000 /* Okta's windows last a minute */
#define OKTA_DEFAULT_LOCKOUT 10     /* failed sign-ins before auto-lock */
#define OKTA_HOOK_TIMEOUT_MS 3000   /* delivery and verification timeout */
#define OKTA_TOKEN_LIFETIME_S 3600  /* OAuth access tokens live one hour */

/* ------------------------------------------------------- rate limits */

/* Okta's buckets: a path counts in its base URL's bucket, extensions
 * included, unless the row says "only" (an exact match); see docs/okta.md. */
enum okta_bucket {
    OKTA_B_USERS,    /* GET|POST /api/v1/users, and GET|POST /api/v1/users/{id}/... */
    OKTA_B_USER_GET, /* GET /api/v1/users/{idOrLogin} only */
    OKTA_B_USER_ID,  /* POST|PUT|DELETE /api/v1/users/{id} only */
    OKTA_B_GROUPS,   /* /api/v1/groups, and /api/v1/groups/{id}/... */
    OKTA_B_GROUP_ID, /* /api/v1/groups/{id} only */
    OKTA_B_APPS,     /* /api/v1/apps, and /api/v1/apps/{id}/... (app users) */
    OKTA_B_APP_ID,   /* /api/v1/apps/{id} only */
    OKTA_B_LOGS,     /* /api/v1/logs */
    OKTA_B_TOKEN,    /* /oauth2/v1/token */
    OKTA_B_OTHER,    /* most other /api/v1 */
    OKTA_B_COUNT
};

/* One credential's use of a bucket in the current window. */
struct okta_principal_use {
    char key[OKTA_MAX_PRINCIPAL_KEY];
    int used;
};

struct okta_bucket_state {
    int limit;        /* requests per window, org-wide */
    int used;         /* requests counted in the current window, org-wide */
    int64_t reset_ms; /* end of the current window (0 = no window open) */
    int nprincipals;  /* credentials seen in this window */
    struct okta_principal_use principals[OKTA_MAX_PRINCIPALS];
};

/* -------------------------------------------------------------- state */

struct sbx_okta {
    json_t *org;     /* {"name","domain","apiTokenId","apiTokenUserId","consoleAdminId"} */
    json_t *users;   /* [User + _sbx{seq,password,sessions,factors,failed,transitionUntil}] */
    json_t *groups;  /* [Group + _sbx{seq,members:[userId]}] */
    json_t *apps;    /* [Application + _sbx{seq,users:[AppUser],groups:[groupId],jwks,scopes}] */
    json_t *logs;    /* [LogEvent + _sbx{seq}] oldest first */
    json_t *hooks;   /* [EventHook + _sbx{seq,authValue}] */
    json_t *tokens;  /* [{token, clientId, scopes:[..], expMs}] */
    json_t *jtis;    /* [jti] of accepted client assertions, oldest first */
    int64_t seq;     /* last object / event sequence number handed out */
    struct okta_bucket_state buckets[OKTA_B_COUNT];
    int rate_override;        /* --rate-limit: every bucket's limit; 0 = table */
    int token_share;          /* % of each bucket one credential may use (1..100) */
    int64_t rate_window_ms;   /* length of a rate-limit window */
    int concurrency_limit;    /* simultaneous requests (429 above) */
    int64_t inflight[OKTA_MAX_CONCURRENCY_TRACK]; /* finish times (ms) of tracked requests */
    int lockout_attempts;     /* failed sign-ins before LOCKED_OUT */
    int64_t activation_ms;    /* >0: activation is async for this long (409 E0000112 meanwhile) */
};

/* The caller of one request. */
struct okta_ctx {
    struct sandbox *sb;
    struct sbx_okta *o;
    const struct http_req *req;
    struct http_resp *resp;
    char request_id[32];      /* X-Okta-Request-Id, also the LogEvent transaction id */
    char base[256];           /* "http://host:port" as the client addressed us */
    json_t *actor;            /* owned: LogActor for events this request causes */
    char token_id[32];        /* requestApiTokenId, "" for OAuth / simulations */
    const json_t *scopes;     /* borrowed: OAuth scopes granted, NULL for SSWS (all) */
    char principal[OKTA_MAX_PRINCIPAL_KEY]; /* the credential the request presents, "" when none is valid */
    char *seg[OKTA_MAX_PATH_SEGS]; /* decoded path segments after /api/v1/ (owned) */
    int nseg;
    json_t *body;             /* owned: parsed body, NULL until okta__body() */
    json_t *events;           /* owned: events this request appended (for hook batching) */
    const char *ua;           /* client user agent for LogEvents */
    const char *ip;           /* client ip for LogEvents */
};

/* ------------------------------------------------------ okta_core.c */

/* Builds a context for req (segments, request id, base URL). The caller
 * fills the identity and frees it with okta_ctx_free. */
void okta__ctx_init(struct okta_ctx *c, struct sandbox *sb, const struct http_req *req,
                   struct http_resp *resp, const char *path_after);
void okta__ctx_free(struct okta_ctx *c);
/* Sends the events collected in c to the matching hooks and clears them. */
void okta__ctx_flush_events(struct okta_ctx *c);

/* Picks the bucket for a request; counts it org-wide and against c->principal
 * (when set); adds the X-Rate-Limit-* headers, which show the org-wide
 * figures. Returns false (after answering 429 E0000047) when the org's
 * budget or the credential's share of it is spent, or the concurrency
 * limit is reached. */
bool okta__rate_check(struct okta_ctx *c, enum okta_bucket b);
enum okta_bucket okta__bucket_for(const char *method, char *const *seg, int nseg, bool oauth);
void okta__rate_reset(struct sbx_okta *o);
int okta__bucket_default(enum okta_bucket b);
const char *okta__bucket_name(enum okta_bucket b);

/* ------------------------------------------------------ okta_util.c */

/* Answers with an Okta error object. causes: NULL or a NULL-terminated list
 * of errorSummary strings. */
void okta__error(struct okta_ctx *c, int status, const char *code, const char *summary,
                const char *const *causes);
void okta__error1(struct okta_ctx *c, int status, const char *code, const char *summary,
                 const char *cause);
/* 404 E0000007 "Not found: Resource not found: <what> (<type>)". */
void okta__not_found(struct okta_ctx *c, const char *what, const char *type);
/* 400 E0000003 "The request body was not well-formed." */
void okta__bad_body(struct okta_ctx *c);
/* 400 E0000001 "Api validation failed: <what>" with one cause. */
void okta__validation(struct okta_ctx *c, const char *what, const char *cause);

/* Parses the body as a JSON object into c->body. Returns false after
 * answering 400 E0000003 when it is not one (an empty body gives {} when
 * allow_empty). */
bool okta__body(struct okta_ctx *c, bool allow_empty);

/* Answers 200 with obj (stolen). */
void okta__json(struct okta_ctx *c, int status, json_t *obj);
/* Answers 204 with no body. */
void okta__no_content(struct okta_ctx *c);
/* Answers 200 with no body (deactivate, reset_factors). The spec declares no
 * content there and an empty body is not a JSON document, so the answer is
 * not labelled application/json (a JSON client would fail to parse it). */
void okta__empty_ok(struct okta_ctx *c);

/* Public copy of a stored object (no "_sbx"); caller owns. */
json_t *okta__public(const json_t *obj);

/* Current time as ISO-8601 with ms. */
void okta__now_iso(char out[32]);
int64_t okta__iso_ms(const char *iso); /* -1 when not a timestamp */

/* Next sequence number (cursors, ordering). */
int64_t okta__next_seq(struct sbx_okta *o);
int64_t okta__seq_of(const json_t *obj);
/* Random strings: alphanumerics / an RFC 4122 v4 uuid. */
void okta__rand_alnum(char *out, size_t n);
void okta__uuid(char out[37]);

/* Query parameters. okta_q_bool: default when absent; false on a bad value
 * after answering 400 E0000001? No: a bad boolean is treated as false, as
 * Okta's Java parameter binding does. */
const char *okta__q(struct okta_ctx *c, const char *name);
bool okta__q_bool(struct okta_ctx *c, const char *name, bool dflt);
/* Parses `limit`; answers 400 E0000029 and returns false when malformed. */
bool okta__q_limit(struct okta_ctx *c, int dflt, int max, int *out);

/* Pages `items` (stolen; objects already public, in cursor order; `seqs`
 * parallel cursor values) from the `after` cursor: writes the page, the
 * self/next Link headers, and answers 200. */
void okta__page(struct okta_ctx *c, json_t *items, const int64_t *seqs, int limit, bool pageable);
/* Adds `Link: <url>; rel="rel"` for the current path with `after` (and
 * optionally the other query parameters kept). */
void okta__link(struct okta_ctx *c, const char *rel, const char *after, bool keep_query);
/* Adds a response header; on failure (too many headers) the header is lost. */
void okta__header(struct okta_ctx *c, const char *name, const char *value);

/* Case-insensitive string equality. */
bool okta__ieq(const char *a, const char *b);
/* True when s has a UTF-8 sequence of 4 bytes (Okta refuses those). */
bool okta__has_4byte_utf8(const char *s);
/* A user's display name "First Last". */
void okta__user_display(const json_t *user, char *out, size_t n);

/* Finders: return the stored object (borrowed) or NULL. */
json_t *okta__find_id(json_t *arr, const char *id);
json_t *okta__user_find(struct sbx_okta *o, const char *id_or_login); /* id, login, short name */
/* The user a path segment names: as okta__user_find, but never one named by a
 * login holding '/' or '?' (Okta serves those only by id). */
json_t *okta__user_find_path(struct sbx_okta *o, const char *id_or_login);
json_t *okta__sbx(json_t *obj); /* the "_sbx" member (created when missing) */

/* ------------------------------------------------------ okta_expr.c */

struct okta_expr;

enum okta_expr_mode {
    OKTA_EXPR_USER_SEARCH,  /* users search=: any attribute, eq/sw/co/gt/ge/lt/le/pr, ci values */
    OKTA_EXPR_USER_FILTER,  /* users filter=: 7 attributes, eq (lastUpdated also gt/ge/lt/le), cs values */
    OKTA_EXPR_GROUP_SEARCH, /* groups search= */
    OKTA_EXPR_GROUP_FILTER, /* groups filter=: id, type, lastUpdated, lastMembershipUpdated */
    OKTA_EXPR_APP_FILTER,   /* apps filter=: id, status, name, user.id */
    OKTA_EXPR_LOG_FILTER,   /* logs filter=: any attribute, arrays match any element */
};

/* Parses s for mode. IDF_EINVAL (with a message) when it is not valid. */
int okta__expr_parse(const char *s, enum okta_expr_mode mode, struct okta_expr **out, struct idf_err *err) IDF_MUST_USE;
/* Evaluates against obj; `resolve` may map an attribute to a value for
 * pseudo-attributes (user.id on apps); NULL = plain JSON paths. */
typedef json_t *(*okta_expr_resolve_fn)(void *ud, const json_t *obj, const char *attr);
bool okta__expr_match(const struct okta_expr *e, const json_t *obj, okta_expr_resolve_fn resolve, void *ud);
void okta__expr_free(struct okta_expr *e);

/* ------------------------------------------------------ okta_logs.c */

/* A new LogEvent caused by c (actor, client, transaction, debugContext
 * filled from c). Caller adds targets, then commits with okta_event_commit. */
json_t *okta__event_new(struct okta_ctx *c, const char *event_type);
void okta__event_target(json_t *ev, const char *type, const char *id, const char *alternate_id,
                       const char *display_name);
void okta__event_target_user(json_t *ev, const json_t *user);
void okta__event_target_group(json_t *ev, const json_t *group);
void okta__event_target_app(json_t *ev, const json_t *app);
/* Appends ev (stolen) to the System Log and to c->events. */
void okta__event_commit(struct okta_ctx *c, json_t *ev);
/* Shorthand: one event with the user as its only target. */
void okta__event_user(struct okta_ctx *c, const char *event_type, const json_t *user);
void okta__logs_list(struct okta_ctx *c); /* GET /api/v1/logs */

/* ------------------------------------------------------ okta_users.c */

/* The public User for a stored user (with `_links` for its status). */
json_t *okta__user_public(struct okta_ctx *c, const json_t *user);
const char *okta__user_status(const json_t *user);
void okta__user_set_status(json_t *user, const char *status);
void okta__user_touch(json_t *user); /* lastUpdated = now */
/* Creates a stored user (profile copied; not added to o->users); caller owns. */
json_t *okta__user_new(struct sandbox *sb, struct sbx_okta *o, const json_t *profile, const char *status,
                       bool password);
/* Removes the user from groups and apps and from the user list. */
void okta__user_remove(struct sbx_okta *o, const char *user_id);
/* True (after answering 409 E0000112) while the user is still activating. */
bool okta__user_busy(struct okta_ctx *c, json_t *user);
/* Completes async activations whose time has come. */
void okta__users_tick(struct sbx_okta *o);

void okta__users_list(struct okta_ctx *c);
void okta__users_create(struct okta_ctx *c);
void okta__users_get(struct okta_ctx *c);
void okta__users_update(struct okta_ctx *c, bool replace);
void okta__users_delete(struct okta_ctx *c);
void okta__users_groups(struct okta_ctx *c);
void okta__users_app_links(struct okta_ctx *c);
/* Validates and applies a profile (partial merge unless replace); answers
 * 400 and returns false on a bad profile. */
bool okta__profile_apply(struct okta_ctx *c, json_t *user, const json_t *profile, bool replace,
                        json_t **changes_out);

/* -------------------------------------------------- okta_lifecycle.c */

void okta__lifecycle(struct okta_ctx *c);        /* POST /users/{id}/lifecycle/{op} */
void okta__sessions_clear(struct okta_ctx *c);   /* DELETE /users/{id}/sessions */
/* Status-machine moves shared with the simulations. */
void okta__user_deactivate(struct okta_ctx *c, json_t *user);
void okta__user_clear_sessions(json_t *user);

/* ---------------------------------------------------- okta_groups.c */

void okta__groups_list(struct okta_ctx *c);
void okta__groups_get(struct okta_ctx *c);
void okta__groups_members(struct okta_ctx *c);
void okta__groups_add_member(struct okta_ctx *c);
void okta__groups_remove_member(struct okta_ctx *c);
json_t *okta__group_public(struct okta_ctx *c, const json_t *group);
bool okta__group_has_member(const json_t *group, const char *user_id);
json_t *okta__group_new(struct sandbox *sb, struct sbx_okta *o, const char *type, const json_t *profile);

/* ------------------------------------------------------ okta_apps.c */

void okta__apps_list(struct okta_ctx *c);
void okta__apps_get(struct okta_ctx *c);
void okta__apps_users(struct okta_ctx *c);
void okta__apps_assign(struct okta_ctx *c);
void okta__apps_get_user(struct okta_ctx *c);
void okta__apps_unassign(struct okta_ctx *c);
json_t *okta__app_public(struct okta_ctx *c, const json_t *app);
/* The user's assignment to app: direct (scope USER) or through a group
 * (scope GROUP); NULL when none. Caller owns the returned AppUser. */
json_t *okta__app_user_for(struct okta_ctx *c, const json_t *app, const json_t *user);
/* A direct (scope USER) AppUser record; caller owns. */
json_t *okta__app_user_new(const json_t *app, const json_t *user, const char *user_name, const json_t *profile);
json_t *okta__app_new(struct sandbox *sb, struct sbx_okta *o, const json_t *seed);

/* ----------------------------------------------------- okta_hooks.c */

void okta__hooks_list(struct okta_ctx *c);
void okta__hooks_create(struct okta_ctx *c);
void okta__hooks_get(struct okta_ctx *c);
void okta__hooks_replace(struct okta_ctx *c);
void okta__hooks_delete(struct okta_ctx *c);
void okta__hooks_lifecycle(struct okta_ctx *c);
/* Queues deliveries of events (borrowed array) to active, verified hooks. */
void okta__hooks_deliver(struct okta_ctx *c, json_t *events);

/* ----------------------------------------------------- okta_oauth.c */

void okta__oauth_token(struct okta_ctx *c); /* POST /oauth2/v1/token */
/* Looks up a bearer token; returns its scopes (borrowed) and fills the
 * service app's actor in c, or NULL when unknown or expired. */
const json_t *okta__oauth_lookup(struct okta_ctx *c, const char *token);
/* True when the granted scopes allow `need` (".manage" implies ".read"). */
bool okta__scope_allows(const json_t *scopes, const char *need);

/* ----------------------------------------------------- okta_admin.c */

/* /_sandbox/okta/...: people simulations and settings. */
bool okta__admin(struct okta_ctx *c, const char *rest);

/* ------------------------------------------------------ okta_seed.c */

int okta__seed_load(struct sandbox *sb, struct sbx_okta *o, const json_t *seed, struct idf_err *err) IDF_MUST_USE;

#endif

/* okta/internal.h — the Okta half of the sandbox, private to
 * src/sandbox/okta/. Prefix sbok: types struct sbok_*, constants SBOK_*,
 * functions shared between the half's files (and the entry points sandbox.c
 * calls, declared in sandbox_internal.h) sbok__*. The connector that talks to
 * a real Okta org is src/connectors/okta/ (prefix oktac__).
 *
 * State model. Every Okta object is kept as the JSON object the API emits,
 * plus one private member "_sbx" holding what Okta does not return (the
 * password flag, sessions, factors, members, the list cursor, the hook
 * secret, ...). sbok__public() strips "_sbx" and adds `_links` when an object
 * leaves the sandbox, so a state dump and an API response never disagree.
 * Arrays keep creation order; that order is also the paging order, and each
 * object's "_sbx.seq" (strictly increasing) is its `after` cursor.
 *
 * Threads: every function here runs on an HTTP server thread WITH sb->lock
 * held (see sandbox_internal.h), except where a comment says the lock is
 * released (event hook verification). Nothing here blocks on the network
 * with the lock held.
 *
 * One request is one `struct sbok_ctx`: it carries the caller's identity
 * (SSWS token, or an OAuth access token sent as Bearer or DPoP), the request id, the path segments and
 * the lazily-parsed body, and it collects the System Log events the request
 * caused so they are delivered to event hooks together, as Okta batches
 * events that happen together. */
#ifndef IDF_SANDBOX_OKTA_INTERNAL_H
#define IDF_SANDBOX_OKTA_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/jwk.h"
#include "sandbox/sandbox_internal.h"

/* ------------------------------------------------------------- caps */

#define SBOK_MAX_USERS 20000        /* users in the org */
#define SBOK_MAX_GROUPS 5000        /* groups in the org */
#define SBOK_MAX_APPS 1000          /* app instances */
#define SBOK_MAX_LOG_EVENTS 50000   /* System Log events kept (oldest dropped) */
#define SBOK_MAX_HOOKS 25           /* event hooks per org (Okta: 25 active+verified) */
#define SBOK_MAX_HOOK_EVENT_TYPES 300 /* event types per hook */
#define SBOK_MAX_TOKENS 2000        /* live OAuth access tokens */
#define SBOK_MAX_JTIS 4096          /* remembered client-assertion jti values */
#define SBOK_MAX_DPOP_JTIS 8192     /* remembered DPoP proof jti values (apart from the assertions') */
#define SBOK_MAX_DPOP_JTI_LEN 256   /* bytes of one proof's jti (longer: refused) */
#define SBOK_MAX_DPOP_PROOF 8192    /* bytes of one DPoP header (longer: refused) */
#define SBOK_MAX_DPOP_REASONS 32    /* distinct refusal reasons counted */
#define SBOK_MAX_GROUP_IDS 20       /* groupIds on createUser (E0000093 above) */
#define SBOK_MAX_EXPR_LEN 4096      /* a search/filter expression */
#define SBOK_MAX_EXPR_NODES 256     /* nodes in one parsed expression */
#define SBOK_MAX_PATH_SEGS 8        /* segments after /api/v1/ */
#define SBOK_MAX_SEG_LEN 512        /* one decoded path segment */
#define SBOK_MAX_BODY (1u << 20)    /* request body accepted by the Okta half */
#define SBOK_MAX_CONCURRENCY_TRACK 1024 /* in-flight requests tracked */
#define SBOK_MAX_SESSIONS 50        /* sessions per user */
#define SBOK_MAX_Q_KEYWORDS 10      /* System Log q= keywords (each <= 40 chars) */
#define SBOK_MAX_PRINCIPALS 32      /* credentials counted apart per bucket window (more: org-wide only) */
#define SBOK_MAX_PRINCIPAL_KEY 96   /* "ssws:<token id>" or "oauth:<client id>" */

#define SBOK_DEFAULT_CONCURRENCY 75 /* Workforce orgs [DOCS-RLCONC] */
#define SBOK_DEFAULT_TOKEN_SHARE 50 /* % of a bucket one API token / OAuth app may use [rl2-token-oauth] */
#define SBOK_DEFAULT_RATE_WINDOW_MS 60000 /* Okta's windows last a minute */
#define SBOK_DEFAULT_LOCKOUT 10     /* failed sign-ins before auto-lock */
#define SBOK_HOOK_TIMEOUT_MS 3000   /* delivery and verification timeout */
#define SBOK_TOKEN_LIFETIME_S 3600  /* OAuth access tokens live one hour */
#define SBOK_DPOP_MAX_AGE_S 300     /* a DPoP proof's iat may be this old */
#define SBOK_MAX_CLOCK_SKEW_S 86400 /* config dpopClockSkewS: at most a day either way */
#define SBOK_DPOP_MAX_AHEAD_S 60    /* ... and this far in the future (clock skew) */
#define SBOK_DPOP_NONCE_LEN 32      /* characters of a server DPoP nonce */

/* ------------------------------------------------------- rate limits */

/* Okta's buckets: a path counts in its base URL's bucket, extensions
 * included, unless the row says "only" (an exact match); see docs/okta.md. */
enum sbok_bucket {
    SBOK_B_USERS,    /* GET|POST /api/v1/users, and GET|POST /api/v1/users/{id}/... */
    SBOK_B_USER_GET, /* GET /api/v1/users/{idOrLogin} only */
    SBOK_B_USER_ID,  /* POST|PUT|DELETE /api/v1/users/{id} only */
    SBOK_B_GROUPS,   /* /api/v1/groups, and /api/v1/groups/{id}/... */
    SBOK_B_GROUP_ID, /* /api/v1/groups/{id} only */
    SBOK_B_APPS,     /* /api/v1/apps, and /api/v1/apps/{id}/... (app users) */
    SBOK_B_APP_ID,   /* /api/v1/apps/{id} only */
    SBOK_B_LOGS,     /* /api/v1/logs */
    SBOK_B_TOKEN,    /* /oauth2/v1/token */
    SBOK_B_OTHER,    /* most other /api/v1 */
    SBOK_B_COUNT
};

/* One credential's use of a bucket in the current window. */
struct sbok_principal_use {
    char key[SBOK_MAX_PRINCIPAL_KEY];
    int used;
};

struct sbok_bucket_state {
    int limit;        /* requests per window, org-wide */
    int used;         /* requests counted in the current window, org-wide */
    int64_t reset_ms; /* end of the current window (0 = no window open) */
    int nprincipals;  /* credentials seen in this window */
    struct sbok_principal_use principals[SBOK_MAX_PRINCIPALS];
};

/* -------------------------------------------------------------- state */

/* DPoP (RFC 9449) state of one org, kept by okta/dpop.c. The nonces are
 * not secrets (a server sends them to anyone who asks); only the current
 * one of each is accepted. */
struct sbok_dpop {
    json_t *jtis;      /* {jti: true}: proof jtis seen (the set) */
    json_t *jti_order; /* [jti] the same, oldest first (for eviction at SBOK_MAX_DPOP_JTIS) */
    char as_nonce[SBOK_DPOP_NONCE_LEN + 1]; /* the token endpoint's nonce */
    char rs_nonce[SBOK_DPOP_NONCE_LEN + 1]; /* the resource server's nonce */
    bool rs_nonce_on;  /* /api/v1 calls need rs_nonce in their proofs (off by default) */
    int64_t clock_skew_s; /* the org's clock runs this far ahead of ours for iat checks (config dpopClockSkewS) */
    int64_t accepted;  /* proofs that passed every check */
    int64_t challenges; /* use_dpop_nonce answers */
    int64_t replays;   /* proofs refused for a jti already seen */
    json_t *refused;   /* {short reason: count} */
};

struct sbok_org {
    json_t *org;     /* {"name","domain","apiTokenId","apiTokenUserId","consoleAdminId"} */
    json_t *users;   /* [User + _sbx{seq,password,sessions,factors,failed,transitionUntil}] */
    json_t *groups;  /* [Group + _sbx{seq,members:[userId]}] */
    json_t *apps;    /* [Application + _sbx{seq,users:[AppUser],groups:[groupId],jwks,scopes}] */
    json_t *logs;    /* [LogEvent + _sbx{seq}] oldest first */
    json_t *hooks;   /* [EventHook + _sbx{seq,authValue}] */
    json_t *tokens;  /* [{token, clientId, scopes:[..], expMs, dpop: bool, jkt}] (jkt when DPoP-bound) */
    json_t *jtis;    /* [jti] of accepted client assertions, oldest first */
    struct sbok_dpop dpop; /* DPoP nonces, proof jtis, counters */
    int64_t seq;     /* last object / event sequence number handed out */
    struct sbok_bucket_state buckets[SBOK_B_COUNT];
    int rate_override;        /* --rate-limit: every bucket's limit; 0 = table */
    int token_share;          /* % of each bucket one credential may use (1..100) */
    int64_t rate_window_ms;   /* length of a rate-limit window */
    int concurrency_limit;    /* simultaneous requests (429 above) */
    int64_t inflight[SBOK_MAX_CONCURRENCY_TRACK]; /* finish times (ms) of tracked requests */
    int lockout_attempts;     /* failed sign-ins before LOCKED_OUT */
    int64_t activation_ms;    /* >0: activation is async for this long (409 E0000112 meanwhile) */
};

/* The caller of one request. */
struct sbok_ctx {
    struct sandbox *sb;
    struct sbok_org *o;
    const struct http_req *req;
    struct http_resp *resp;
    char request_id[32];      /* X-Okta-Request-Id, also the LogEvent transaction id */
    char base[256];           /* "http://host:port" as the client addressed us */
    json_t *actor;            /* owned: LogActor for events this request causes */
    char token_id[32];        /* requestApiTokenId, "" for OAuth / simulations */
    const json_t *scopes;     /* borrowed: OAuth scopes granted, NULL for SSWS (all) */
    bool dpop;                /* the OAuth token came with the DPoP scheme (and a valid proof) */
    char principal[SBOK_MAX_PRINCIPAL_KEY]; /* the credential the request presents, "" when none is valid */
    char *seg[SBOK_MAX_PATH_SEGS]; /* decoded path segments after /api/v1/ (owned) */
    int nseg;
    json_t *body;             /* owned: parsed body, NULL until sbok__body() */
    json_t *events;           /* owned: events this request appended (for hook batching) */
    const char *ua;           /* client user agent for LogEvents */
    const char *ip;           /* client ip for LogEvents */
};

/* ------------------------------------------------------ okta/core.c */

/* Builds a context for req (segments, request id, base URL). The caller
 * fills the identity and frees it with sbok__ctx_free. */
void sbok__ctx_init(struct sbok_ctx *c, struct sandbox *sb, const struct http_req *req,
                   struct http_resp *resp, const char *path_after);
void sbok__ctx_free(struct sbok_ctx *c);
/* Sends the events collected in c to the matching hooks and clears them. */
void sbok__ctx_flush_events(struct sbok_ctx *c);

/* Picks the bucket for a request; counts it org-wide and against c->principal
 * (when set); adds the X-Rate-Limit-* headers, which show the org-wide
 * figures. Returns false (after answering 429 E0000047) when the org's
 * budget or the credential's share of it is spent, or the concurrency
 * limit is reached. */
bool sbok__rate_check(struct sbok_ctx *c, enum sbok_bucket b);
enum sbok_bucket sbok__bucket_for(const char *method, char *const *seg, int nseg, bool oauth);
void sbok__rate_reset(struct sbok_org *o);
int sbok__bucket_default(enum sbok_bucket b);
const char *sbok__bucket_name(enum sbok_bucket b);

/* ------------------------------------------------------ okta/util.c */

/* Answers with an Okta error object. causes: NULL or a NULL-terminated list
 * of errorSummary strings. */
void sbok__error(struct sbok_ctx *c, int status, const char *code, const char *summary,
                const char *const *causes);
void sbok__error1(struct sbok_ctx *c, int status, const char *code, const char *summary,
                 const char *cause);
/* 404 E0000007 "Not found: Resource not found: <what> (<type>)". */
void sbok__not_found(struct sbok_ctx *c, const char *what, const char *type);
/* 400 E0000003 "The request body was not well-formed." */
void sbok__bad_body(struct sbok_ctx *c);
/* 400 E0000001 "Api validation failed: <what>" with one cause. */
void sbok__validation(struct sbok_ctx *c, const char *what, const char *cause);

/* Parses the body as a JSON object into c->body. Returns false after
 * answering 400 E0000003 when it is not one (an empty body gives {} when
 * allow_empty). */
bool sbok__body(struct sbok_ctx *c, bool allow_empty);

/* Answers 200 with obj (stolen). */
void sbok__json(struct sbok_ctx *c, int status, json_t *obj);
/* Answers 204 with no body. */
void sbok__no_content(struct sbok_ctx *c);
/* Answers 200 with no body (deactivate, reset_factors). The spec declares no
 * content there and an empty body is not a JSON document, so the answer is
 * not labelled application/json (a JSON client would fail to parse it). */
void sbok__empty_ok(struct sbok_ctx *c);

/* Public copy of a stored object (no "_sbx"); caller owns. */
json_t *sbok__public(const json_t *obj);

/* Current time as ISO-8601 with ms. */
void sbok__now_iso(char out[32]);
int64_t sbok__iso_ms(const char *iso); /* -1 when not a timestamp */

/* Next sequence number (cursors, ordering). */
int64_t sbok__next_seq(struct sbok_org *o);
int64_t sbok__seq_of(const json_t *obj);
/* Random strings: alphanumerics / an RFC 4122 v4 uuid. */
void sbok__rand_alnum(char *out, size_t n);
void sbok__uuid(char out[37]);

/* Query parameters. sbok__q_bool: default when absent; false on a bad value
 * after answering 400 E0000001? No: a bad boolean is treated as false, as
 * Okta's Java parameter binding does. */
const char *sbok__q(struct sbok_ctx *c, const char *name);
bool sbok__q_bool(struct sbok_ctx *c, const char *name, bool dflt);
/* Parses `limit`; answers 400 E0000029 and returns false when malformed. */
bool sbok__q_limit(struct sbok_ctx *c, int dflt, int max, int *out);

/* Pages `items` (stolen; objects already public, in cursor order; `seqs`
 * parallel cursor values) from the `after` cursor: writes the page, the
 * self/next Link headers, and answers 200. */
void sbok__page(struct sbok_ctx *c, json_t *items, const int64_t *seqs, int limit, bool pageable);
/* Adds `Link: <url>; rel="rel"` for the current path with `after` (and
 * optionally the other query parameters kept). */
void sbok__link(struct sbok_ctx *c, const char *rel, const char *after, bool keep_query);
/* Adds a response header; on failure (too many headers) the header is lost. */
void sbok__header(struct sbok_ctx *c, const char *name, const char *value);

/* Case-insensitive string equality. */
bool sbok__ieq(const char *a, const char *b);
/* True when s has a UTF-8 sequence of 4 bytes (Okta refuses those). */
bool sbok__has_4byte_utf8(const char *s);
/* A user's display name "First Last". */
void sbok__user_display(const json_t *user, char *out, size_t n);

/* Finders: return the stored object (borrowed) or NULL. */
json_t *sbok__find_id(json_t *arr, const char *id);
json_t *sbok__user_find(struct sbok_org *o, const char *id_or_login); /* id, login, short name */
/* The user a path segment names: as sbok__user_find, but never one named by a
 * login holding '/' or '?' (Okta serves those only by id). */
json_t *sbok__user_find_path(struct sbok_org *o, const char *id_or_login);
json_t *sbok__sbx(json_t *obj); /* the "_sbx" member (created when missing) */

/* ------------------------------------------------------ sbok_expr.c */

struct sbok_expr;

enum sbok_expr_mode {
    SBOK_EXPR_USER_SEARCH,  /* users search=: any attribute, eq/sw/co/gt/ge/lt/le/pr, ci values */
    SBOK_EXPR_USER_FILTER,  /* users filter=: 7 attributes, eq (lastUpdated also gt/ge/lt/le), cs values */
    SBOK_EXPR_GROUP_SEARCH, /* groups search= */
    SBOK_EXPR_GROUP_FILTER, /* groups filter=: id, type, lastUpdated, lastMembershipUpdated */
    SBOK_EXPR_APP_FILTER,   /* apps filter=: id, status, name, user.id */
    SBOK_EXPR_LOG_FILTER,   /* logs filter=: any attribute, arrays match any element */
};

/* Parses s for mode. IDF_EINVAL (with a message) when it is not valid. */
int sbok__expr_parse(const char *s, enum sbok_expr_mode mode, struct sbok_expr **out, struct idf_err *err) IDF_MUST_USE;
/* Evaluates against obj; `resolve` may map an attribute to a value for
 * pseudo-attributes (user.id on apps); NULL = plain JSON paths. */
typedef json_t *(*sbok_expr_resolve_fn)(void *ud, const json_t *obj, const char *attr);
bool sbok__expr_match(const struct sbok_expr *e, const json_t *obj, sbok_expr_resolve_fn resolve, void *ud);
void sbok__expr_free(struct sbok_expr *e);

/* ------------------------------------------------------ okta/logs.c */

/* A new LogEvent caused by c (actor, client, transaction, debugContext
 * filled from c). Caller adds targets, then commits with sbok__event_commit. */
json_t *sbok__event_new(struct sbok_ctx *c, const char *event_type);
void sbok__event_target(json_t *ev, const char *type, const char *id, const char *alternate_id,
                       const char *display_name);
void sbok__event_target_user(json_t *ev, const json_t *user);
void sbok__event_target_group(json_t *ev, const json_t *group);
void sbok__event_target_app(json_t *ev, const json_t *app);
/* Appends ev (stolen) to the System Log and to c->events. */
void sbok__event_commit(struct sbok_ctx *c, json_t *ev);
/* Shorthand: one event with the user as its only target. */
void sbok__event_user(struct sbok_ctx *c, const char *event_type, const json_t *user);
void sbok__logs_list(struct sbok_ctx *c); /* GET /api/v1/logs */

/* ------------------------------------------------------ okta/users.c */

/* The public User for a stored user (with `_links` for its status). */
json_t *sbok__user_public(struct sbok_ctx *c, const json_t *user);
const char *sbok__user_status(const json_t *user);
void sbok__user_set_status(json_t *user, const char *status);
void sbok__user_touch(json_t *user); /* lastUpdated = now */
/* Creates a stored user (profile copied; not added to o->users); caller owns. */
json_t *sbok__user_new(struct sandbox *sb, struct sbok_org *o, const json_t *profile, const char *status,
                       bool password);
/* Removes the user from groups and apps and from the user list. */
void sbok__user_remove(struct sbok_org *o, const char *user_id);
/* True (after answering 409 E0000112) while the user is still activating. */
bool sbok__user_busy(struct sbok_ctx *c, json_t *user);
/* Completes async activations whose time has come. */
void sbok__users_tick(struct sbok_org *o);

void sbok__users_list(struct sbok_ctx *c);
void sbok__users_create(struct sbok_ctx *c);
void sbok__users_get(struct sbok_ctx *c);
void sbok__users_update(struct sbok_ctx *c, bool replace);
void sbok__users_delete(struct sbok_ctx *c);
void sbok__users_groups(struct sbok_ctx *c);
void sbok__users_app_links(struct sbok_ctx *c);
/* Validates and applies a profile (partial merge unless replace); answers
 * 400 and returns false on a bad profile. */
bool sbok__profile_apply(struct sbok_ctx *c, json_t *user, const json_t *profile, bool replace,
                        json_t **changes_out);

/* -------------------------------------------------- okta/lifecycle.c */

void sbok__lifecycle(struct sbok_ctx *c);        /* POST /users/{id}/lifecycle/{op} */
void sbok__sessions_clear(struct sbok_ctx *c);   /* DELETE /users/{id}/sessions */
/* Status-machine moves shared with the simulations. */
void sbok__user_deactivate(struct sbok_ctx *c, json_t *user);
void sbok__user_clear_sessions(json_t *user);

/* ---------------------------------------------------- okta/groups.c */

void sbok__groups_list(struct sbok_ctx *c);
void sbok__groups_get(struct sbok_ctx *c);
void sbok__groups_members(struct sbok_ctx *c);
void sbok__groups_add_member(struct sbok_ctx *c);
void sbok__groups_remove_member(struct sbok_ctx *c);
json_t *sbok__group_public(struct sbok_ctx *c, const json_t *group);
bool sbok__group_has_member(const json_t *group, const char *user_id);
json_t *sbok__group_new(struct sandbox *sb, struct sbok_org *o, const char *type, const json_t *profile);

/* ------------------------------------------------------ okta/apps.c */

void sbok__apps_list(struct sbok_ctx *c);
void sbok__apps_get(struct sbok_ctx *c);
void sbok__apps_users(struct sbok_ctx *c);
void sbok__apps_assign(struct sbok_ctx *c);
void sbok__apps_get_user(struct sbok_ctx *c);
void sbok__apps_unassign(struct sbok_ctx *c);
json_t *sbok__app_public(struct sbok_ctx *c, const json_t *app);
/* The user's assignment to app: direct (scope USER) or through a group
 * (scope GROUP); NULL when none. Caller owns the returned AppUser. */
json_t *sbok__app_user_for(struct sbok_ctx *c, const json_t *app, const json_t *user);
/* A direct (scope USER) AppUser record; caller owns. */
json_t *sbok__app_user_new(const json_t *app, const json_t *user, const char *user_name, const json_t *profile);
json_t *sbok__app_new(struct sandbox *sb, struct sbok_org *o, const json_t *seed);

/* ----------------------------------------------------- okta/hooks.c */

void sbok__hooks_list(struct sbok_ctx *c);
void sbok__hooks_create(struct sbok_ctx *c);
void sbok__hooks_get(struct sbok_ctx *c);
void sbok__hooks_replace(struct sbok_ctx *c);
void sbok__hooks_delete(struct sbok_ctx *c);
void sbok__hooks_lifecycle(struct sbok_ctx *c);
/* Queues deliveries of events (borrowed array) to active, verified hooks. */
void sbok__hooks_deliver(struct sbok_ctx *c, json_t *events);

/* ----------------------------------------------------- okta/oauth.c */

void sbok__oauth_token(struct sbok_ctx *c); /* POST /oauth2/v1/token */
/* Looks up a live access token; returns its record ({scopes, dpop, jkt, ...},
 * borrowed, valid while sb->lock is held and the token table unchanged) and
 * fills the service app's actor in c, or NULL when unknown or expired. */
const json_t *sbok__oauth_lookup(struct sbok_ctx *c, const char *token);
/* The service app with this OAuth client_id (borrowed) or NULL. */
json_t *sbok__oauth_client(struct sbok_org *o, const char *client_id);
/* True when the app requires DPoP-bound tokens
 * (settings.oauthClient.dpop_bound_access_tokens). */
bool sbok__oauth_dpop_required(const json_t *app);

/* ----------------------------------------------------- okta/dpop.c */

enum sbok_dpop_verdict {
    SBOK_DPOP_OK,        /* the proof passed every check */
    SBOK_DPOP_INVALID,   /* a check failed: answer invalid_dpop_proof */
    SBOK_DPOP_USE_NONCE, /* valid, but without the current nonce: answer use_dpop_nonce */
};

/* What a proof must match beyond the request itself (htm, htu). */
struct sbok_dpop_want {
    const char *access_token; /* resource call: ath must be its hash; NULL at the token endpoint */
    const char *jkt;          /* resource call: the key the token is bound to; NULL otherwise */
    const char *nonce;        /* the nonce required; NULL when none is */
};

/* Starts / frees o->dpop (fresh random nonces, empty jti set). */
int sbok__dpop_init(struct sbok_org *o) IDF_MUST_USE;
void sbok__dpop_free(struct sbok_org *o);
/* New random AS and RS nonces (the old ones stop being accepted). */
void sbok__dpop_rotate(struct sbok_org *o);
/* Checks the request's DPoP header as RFC 9449 §4.3 says: one header, a
 * compact JWS, typ dpop+jwt, an asymmetric alg, a public jwk (no private
 * member) that verifies the signature, htm = the method, htu = the URL the
 * request came in on (c->base or the org's url, + the path, no query), iat
 * within SBOK_DPOP_MAX_AGE_S back / SBOK_DPOP_MAX_AHEAD_S ahead, a jti not
 * seen before (recorded once the signature verifies), then w's ath, jkt
 * and nonce. On SBOK_DPOP_INVALID, *why is a static sentence naming the
 * defect; on SBOK_DPOP_OK, jkt_out holds the proof key's thumbprint. Counts
 * the outcome in o->dpop. */
enum sbok_dpop_verdict sbok__dpop_check(struct sbok_ctx *c, const struct sbok_dpop_want *w,
                                        char jkt_out[JWK_THUMBPRINT_SIZE], const char **why);
/* Counts a refusal that is not about the proof itself (e.g. "bearer_scheme"). */
void sbok__dpop_count(struct sbok_org *o, const char *reason);
/* GET /_sandbox/okta/dpop: the counters, a new object (caller decrefs). */
json_t *sbok__dpop_stats(const struct sbok_org *o);
/* True when the granted scopes allow `need` (".manage" implies ".read"). */
bool sbok__scope_allows(const json_t *scopes, const char *need);

/* ----------------------------------------------------- okta/admin.c */

/* /_sandbox/okta/...: people simulations and settings. */
bool sbok__admin_route(struct sbok_ctx *c, const char *rest);

/* ------------------------------------------------------ okta/seed.c */

int sbok__seed_load(struct sandbox *sb, struct sbok_org *o, const json_t *seed, struct idf_err *err) IDF_MUST_USE;

#endif

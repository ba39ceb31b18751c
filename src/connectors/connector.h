/* connector.h — the contract between the engine and every connector.
 *
 * A connector is a folder with a descriptor table: its actions (name, typed
 * parameters, function) and its triggers (name, parameters, event matching).
 * The engine, the validator and the catalogue only ever see these tables
 * through the registry (connectors/registry.c); nothing outside a connector's
 * folder knows its name. Adding a connector touches its folder and one line
 * of the registry.
 *
 * Action functions are called on worker threads, concurrently; anything they
 * cache per thread lives behind `call->thread_slot`. */
#ifndef IDF_CONNECTORS_CONNECTOR_H
#define IDF_CONNECTORS_CONNECTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <strings.h>
#include <string.h>

#include "core/err.h"
#include "connectors/registry.h"

struct http_client;
struct store;

enum conn_ptype {
    CONN_P_STRING,   /* a JSON string (numbers are accepted and turned into strings: ids) */
    CONN_P_INT,      /* a JSON integer */
    CONN_P_BOOL,     /* true / false */
    CONN_P_OBJECT,   /* a JSON object */
    CONN_P_ARRAY,    /* a JSON array */
    CONN_P_DURATION, /* "30s", "5m", or an integer of seconds */
    CONN_P_ANY,      /* any JSON value */
};

struct conn_param {
    const char *name;
    enum conn_ptype type;
    bool required;
    const char *doc; /* one line, for the catalogue */
};

/* How the engine treats a step. Most steps are CONN_K_ACTION: the engine
 * calls fn. The control kinds are carried out by the engine itself. */
enum conn_kind {
    CONN_K_ACTION = 0,
    CONN_K_SET,      /* with: {name: value, ...} -> merged into .vars */
    CONN_K_DELAY,    /* with: {duration} -> the run waits durably */
    CONN_K_FAIL,     /* with: {message} -> the run ends as failed */
    CONN_K_APPROVAL, /* with: {message, timeout} -> waits for approve/reject */
};

/* ---- coordination across nodes (helper "pacing") ----
 *
 * Several `idflow serve` nodes may share one database. What a connector
 * paces or serializes per process (a remote account's budget, a lock on a
 * remote object, its share of a rate limit) must then hold across them: the
 * engine hands every action call, expansion and poll a `struct conn_coord`
 * over the calling thread's own store connection (engine/coord.c), or NULL
 * when the process is alone (`idflow run`, tests calling actions directly:
 * the connector's in-process state is all there is). The interface knows no
 * connector: named budgets, named locks and the live node count. Every
 * function may do a database round trip (nodes: at most every few seconds),
 * is called on the thread the coord was handed to, and returns 0 or a
 * negative IDF_E* (the store failed: the caller decides whether to go on
 * alone or to wait; nothing was counted or taken). */
struct conn_coord_ops {
    /* One send under the sliding window `name` (limit sends a window_ms):
     * *wait_ms_out 0 when it may go (it is counted now, for every node), else
     * how long to wait (nothing counted). */
    int (*budget_take)(void *ctx, const char *name, int limit, int64_t window_ms, int64_t *wait_ms_out);
    /* No send under `name` for for_ms from now, on any node (a lock-out). */
    int (*budget_block)(void *ctx, const char *name, int64_t for_ms);
    /* Takes lock `name` for ttl_ms (renews it when this thread holds it):
     * *taken_out false when another holder, on any node, has it. */
    int (*lock_take)(void *ctx, const char *name, int64_t ttl_ms, bool *taken_out);
    /* Drops lock `name` when this thread holds it. */
    int (*lock_drop)(void *ctx, const char *name);
    /* The live nodes sharing the database (>= 1), re-read every few seconds. */
    int (*nodes)(void *ctx, int *n_out);
};

struct conn_coord {
    const struct conn_coord_ops *ops;
    void *ctx; /* the engine's, per thread */
};
/* (end of "pacing") */

/* What an action returns. On success fn sets `output` (owned by the result).
 * On failure fn returns a negative code and fills `message`, and may set
 * `detail` (an object: http status, remote error code, request id ...),
 * `retryable` and `retry_after_ms` (a lower bound for the next attempt, e.g.
 * a rate-limit reset). The engine frees output and detail. */
struct conn_result {
    json_t *output;
    json_t *detail;
    bool retryable;
    int64_t retry_after_ms;
    /* issue 17 ("subjects"): what the call concerned, for the run's history. */
    json_t *subjects;     /* NULL, or an array of subjects the call resolved or changed (the user it
                             read, the group it removed them from, the ticket it made): see
                             "subjects" below; the engine frees it */
    char change[160];     /* when the call changed something remote, what, for a person, in a few
                             words ("suspended", "removed from Finance", "ticket #HF00000006
                             resolved"); "" when it changed nothing */
    bool deferred;        /* the operation was NOT carried out (paced by a rate budget, a busy
                             ticket, Okta's 429 or E0000112): the engine waits retry_after_ms and
                             calls again WITHOUT counting an attempt, whatever the step's retry: */
    char message[1024];
};

/* Frees what an action left in r (output, detail, subjects) and zeroes it:
 * every caller of an action's fn ends with this. NULL is fine. */
static inline void conn_result_clear(struct conn_result *r)
{
    if (!r)
        return;
    json_decref(r->output);
    json_decref(r->detail);
    json_decref(r->subjects);
    memset(r, 0, sizeof *r);
}

/* Everything an action may use during one call; all borrowed. */
struct conn_call {
    struct http_client *http;     /* this worker thread's client */
    const json_t *connection;     /* the resolved connection (secrets unsealed) or NULL */
    const char *connection_name;  /* or NULL */
    int64_t run_id;               /* for idempotency markers */
    const char *step_id;
    int attempt;                  /* 1 for the first attempt; > 1 also when an earlier attempt was
                                     interrupted (crash, lease expiry) before its outcome was
                                     recorded, so it may have landed */
    int64_t timeout_ms;           /* the step's `timeout:` per attempt, 0 = the action's default */
    int item;                     /* foreach item index, -1 for a plain step */
    bool uncertain;               /* records_intent actions: an earlier attempt of this step/item
                                     was started and its outcome never recorded (crash, timeout):
                                     look for what it made (the marker) before writing again */
    bool allow_http;              /* the workflow opted in to plain http:// */
    bool allow_private_network;   /* the workflow opted in to loopback, private, link-local ...
                                     destinations (http.request) */
    void **thread_slot;           /* per-thread, per-connector cache slot (starts NULL) */
    const struct conn_coord *coord; /* across nodes; NULL: this process is alone (see above) */
};

typedef int (*conn_action_fn)(struct conn_call *call, const json_t *params, struct conn_result *res);

/* ---- blast radius (issue 19; docs/security.md, "Blast radius") ----
 *
 * Every action says what its call does to the remote, so that the engine
 * can guard the calls that hurt when a workflow is wrong without knowing any
 * action by name:
 *  - read: reads only;
 *  - change: changes something that is easily undone or adds (create a user,
 *    add to a group, post a reply);
 *  - destructive: takes access away or breaks a person's sign-in (deactivate,
 *    suspend, reset factors, clear sessions, expire or reset a password,
 *    remove from a group, revoke an app).
 * A destructive call is checked against the connection's protected accounts
 * (the connector's `protect`, below) and counted against its budget of
 * destructive calls (engine/guard.c), before it is made. */
enum conn_effect {
    CONN_EFFECT_READ = 0,
    CONN_EFFECT_CHANGE,
    CONN_EFFECT_DESTRUCTIVE,
};

/* A connection's budget of destructive calls: its config field
 * `max_destructive` ("N/PERIOD" or "off", core/rate.h), which every kind
 * accepts (credentials/credentials.c checks it), counted over every workflow
 * and every node (engine/guard.c); a connection without one has the default.
 * A call over the budget is not made: its run is held for an admin. */
#define CONN_MAX_DESTRUCTIVE_FIELD "max_destructive"
#define CONN_MAX_DESTRUCTIVE_DEFAULT "20/1h"

/* The effect of one call of an action whose effect depends on its
 * parameters (a generic request: GET reads, DELETE may destroy). params are
 * rendered and checked. Pure; any thread. */
typedef enum conn_effect (*conn_effect_fn)(const json_t *params);

struct conn_action {
    const char *name;               /* full name used in YAML: "okta.suspend_user", "http.request" */
    const char *doc;                /* one paragraph for the catalogue */
    const struct conn_param *params;/* terminated by an entry with name == NULL */
    enum conn_kind kind;
    conn_action_fn fn;              /* CONN_K_ACTION only */
    enum conn_effect effect;        /* what a call does to the remote (see "blast radius" above) */
    const char *output_doc;         /* what the output object holds, for the catalogue */
    bool records_intent;            /* not idempotent: the engine durably records "started" before
                                       each call and sets call->uncertain on the next attempt when
                                       no outcome was recorded (see engine/exec_step.c and exec_finish.c) */
    conn_effect_fn effect_of;       /* NULL: every call has `effect`; else the call's effect (issue 19) */
};

/* The effect of one call of a with params (rendered and checked). */
static inline enum conn_effect conn_action_effect(const struct conn_action *a, const json_t *params)
{
    return a->effect_of ? a->effect_of(params) : a->effect;
}

/* The name of an effect: "read", "change", "destructive". */
static inline const char *conn_effect_name(enum conn_effect e)
{
    return e == CONN_EFFECT_DESTRUCTIVE ? "destructive" : e == CONN_EFFECT_CHANGE ? "change" : "read";
}

/* Returns true when the event (normalized, see DESIGN.md §1) matches the
 * trigger's parameters. NULL means "the type matching is enough". It may run
 * on the thread that answers a hook, before the answer: it only compares
 * JSON, never blocks and never calls out. */
typedef bool (*conn_trigger_match_fn)(const json_t *params, const json_t *event);

/* Checks a workflow's trigger parameters beyond their types, when the
 * workflow is validated (a cron expression parses, a time zone exists).
 * params were already type-checked (a value of the wrong type was reported:
 * skip it). Returns 0, or a negative code with err's message and *param_out
 * naming the parameter at fault (a static string; NULL for the trigger as a
 * whole). Any thread. */
typedef int (*conn_trigger_validate_fn)(const json_t *params, const char **param_out, struct idf_err *err);

struct conn_trigger {
    const char *name;               /* "manual", "okta.user_locked": equals the event's "type" */
    const char *doc;
    const struct conn_param *params;/* terminated by name == NULL; may be NULL */
    conn_trigger_match_fn match;    /* may be NULL */
    conn_trigger_validate_fn validate; /* may be NULL */
    bool takes_inputs;              /* (helper "inputs") started by a caller with data (manual): a workflow
                                       may declare `inputs:` under it, and the data is checked against them
                                       (flow/flow.h flow_inputs_apply) */
};

/* How a connector's connections (credentials for one remote account) look.
 * A connection is stored as a JSON config whose `secret` fields are sealed
 * at rest (crypto/seal.h) and only ever unsealed into the object handed to
 * actions as call->connection: {"name", "kind", <fields...>}. */
struct conn_field {
    const char *name;   /* "url", "token", "api_key", ... */
    bool secret;        /* sealed at rest; never listed, logged or returned */
    bool required;
    const char *doc;
};

struct conn_connection_kind {
    const struct conn_field *fields; /* terminated by name == NULL */
    /* Normalizes and checks a config before it is stored (e.g. https only
     * unless "sandbox": true, no -admin host, no path). May rewrite fields of
     * config in place. Fills err naming the field. */
    int (*validate)(json_t *config, struct idf_err *err);
    /* Checks the credentials with a real call; on success *whoami_out is a
     * short object saying whom they belong to (caller decrefs). */
    int (*check)(struct http_client *http, const json_t *config, json_t **whoami_out, struct idf_err *err);
    /* Completes a validated, checked config with what only the remote can
     * tell, before it is stored (`idflow connect`, PUT /api/v1/connections;
     * see credentials.h cred_prepare): e.g. the ids of the groups it names.
     * May rewrite fields of config; reads only. A failure (err naming the
     * field) stores nothing. NULL: nothing to complete. */
    int (*prepare)(struct http_client *http, json_t *config, struct idf_err *err);
};

/* ---- ingress: how a connector's events reach the engine ----
 *
 * A connector whose remote system can push events (webhooks, event hooks)
 * or be polled (an event log, a list sorted by update time) describes that
 * in a `struct conn_ingress`. Both paths hand back NORMALIZED events: a JSON
 * array whose items are objects
 *
 *   {"id":   the remote's event id: the deduplication key (a string, required),
 *    "type": the trigger name the event raises ("okta.user_locked"; required),
 *    "time": when it happened (ISO-8601), "user", "group", "app", "ticket",
 *    "actor", "changes", "raw": the remote's own object, ...}
 *
 * (DESIGN.md §1). The caller — src/api/hooks.c for pushes, src/engine/
 * poller.c for polls, neither of which knows any connector by name —
 * submits each item through engine_submit with source = the connector's
 * name, source_id = "id", type = "type", connection = the connection's
 * name, and the item as the event (its members become .event.*). The engine
 * deduplicates on (source, source_id), so the same event pushed twice, or
 * pushed and polled, starts its workflows once. Items without a string "id"
 * and "type" are skipped by the caller.
 *
 * Which paths a connection uses is its `mode` config field (a convention of
 * every connector with an ingress: declare it as a conn_field): "hook" (the
 * default), "poll" or "both"; see conn_ingress_mode(). */

#define CONN_INGRESS_MAX_EVENTS 1000 /* events one delivery or one poll page may yield; more is an error */

struct http_req;

/* What a hook handler decides about one request. */
struct conn_hook_out {
    int status;        /* HTTP status to answer: 200, or a 4xx when nothing may be stored */
    json_t *body;      /* JSON answer body, or NULL for an empty body (caller decrefs) */
    json_t *events;    /* normalized events to acknowledge durably BEFORE answering: an array or
                          NULL (caller decrefs); ignored when status >= 300 */
    json_t *deliveries;/* things the remote must be asked about first (a HappyFox webhook names a
                          ticket to re-read): an array of objects or NULL (caller decrefs), stored
                          durably BEFORE answering and turned into events afterwards by the
                          ingress's expand, in the engine; ignored when status >= 300 */
    char message[256]; /* for a 4xx: why, shown to the sender; never quotes a secret */
};

/* Handles one request to /hooks/<connector>/<connection> (GET or POST; the
 * body is complete and already capped by the server). `connection` is the
 * resolved connection with its secrets unsealed (borrowed). The handler
 * authenticates the request before it parses anything, comparing secrets in
 * constant time (sodium_memcmp over fixed-size digests), and fills out:
 * a 401 for a missing or wrong secret, a 400 for a malformed body, else 200
 * with the events. Returns 0 when out is filled (whatever the status), a
 * negative code only when it could not decide (out of memory): the caller
 * answers 500. Called on the HTTP server's threads, concurrently. */
typedef int (*conn_hook_fn)(const json_t *connection, const struct http_req *req, struct conn_hook_out *out);

/* Handling a request never waits on the remote system: the remote's own
 * sender gives up after a few seconds (Okta: 3 s, then one retry) and a slow
 * remote would hold every HTTP thread. What needs a remote call goes into
 * out->deliveries and is done by expand after the answer. */

/* Turning one stored delivery into events, in the engine's expander thread
 * (src/engine/match.c), after the delivery was acknowledged. The engine
 * fills the inputs; expand fills the outputs. Inputs are borrowed. */
struct conn_expand {
    /* in */
    struct http_client *http;   /* the expander thread's client */
    const json_t *connection;   /* resolved, secrets unsealed */
    const char *connection_name;
    const json_t *delivery;     /* one item of conn_hook_out.deliveries, as stored */
    void **thread_slot;         /* the expander thread's slot for this connector (as for actions) */
    const struct conn_coord *coord; /* across nodes, as conn_call's; NULL: alone */
    /* out */
    json_t *events;             /* normalized events (an array, possibly empty) or NULL; caller decrefs */
    bool retryable;             /* on failure: try again later (network, 5xx, 429) */
    int64_t retry_after_ms;     /* on failure: the least wait, 0 = the engine's backoff */
    char message[512];          /* on failure: why; never quotes a secret */
};

/* Returns 0 with x->events set, or a negative code with message/retryable
 * set (a delivery that can never be expanded, such as a ticket that does
 * not exist, is not retryable: it is given up with the message). */
typedef int (*conn_expand_fn)(struct conn_expand *x);

/* One poll of one connection. The poller fills the inputs; poll fills the
 * outputs. All inputs are borrowed for the call. */
struct conn_poll {
    /* in */
    struct http_client *http;   /* the poller thread's client */
    const json_t *connection;   /* resolved, secrets unsealed */
    const char *connection_name;
    const char *cursor;         /* the checkpoint stored after the last acknowledged poll; NULL the first time */
    void **thread_slot;         /* the poller thread's slot for this connector (as for actions) */
    const struct conn_coord *coord; /* across nodes, as conn_call's; NULL: alone */
    /* out */
    json_t *events;             /* normalized events (array) or NULL; caller decrefs */
    char *cursor_out;           /* the new checkpoint (malloc'd, caller frees) or NULL for "unchanged";
                                   stored by the caller only AFTER every event was acknowledged */
    int64_t next_poll_ms;       /* wait before the next poll: short when more is waiting, the
                                   connector's idle interval when caught up; 0 = poller default */
    bool retryable;             /* on failure: try again later (network, 5xx, 429) */
    int64_t retry_after_ms;     /* on failure: the least wait (a 429's rate-limit reset), 0 = backoff */
    char message[512];          /* on failure: why; never quotes a secret */
};

/* Fetches the events after p->cursor (one page). Returns 0 with the outputs
 * set, or a negative code with message/retryable/retry_after_ms set (then
 * events and cursor_out are NULL and nothing is stored). Called on the
 * poller thread only, one connection at a time. */
typedef int (*conn_poll_fn)(struct conn_poll *p);

/* Registering the push endpoint in the remote system (`idflow connect KIND
 * NAME --register-hook URL`). The CLI fills the inputs; register fills the
 * outputs. All inputs are borrowed for the call. */
struct conn_hook_reg {
    /* in */
    struct http_client *http;   /* the caller's client */
    const json_t *connection;   /* resolved, secrets unsealed, with the hook secret to use */
    const char *connection_name;
    const char *url;            /* the public URL of /hooks/<connector>/<connection> */
    const json_t *triggers;     /* [{"name": trigger, "params": {...}}] of the enabled workflows
                                   that listen to this connection */
    /* out */
    json_t *info;               /* on success: what was done, e.g. {id, created, events, verified}
                                   (caller decrefs) */
    char message[512];          /* on failure: why; never quotes a secret */
};

/* Creates the remote hook for the events the triggers need, or updates the
 * one already pointing at url, with the connection's secret, and has the
 * remote verify it (the server must answer at url). Returns 0 or a negative
 * code with message set. Called on the CLI's thread. */
typedef int (*conn_register_fn)(struct conn_hook_reg *r);

/* Whether the events of a trigger (its name and params) can reach a
 * connection configured as config (only its non-secret fields are read: its
 * "mode" above all): false,
 * with msg saying why and what to do, when none ever would (an Okta event
 * type that event hooks cannot carry, on a hook-only connection). Used to
 * warn, never to refuse: `idflow validate`, `idflow serve` at start and
 * `idflow connect --register-hook`. Pure; any thread. */
typedef bool (*conn_reach_fn)(const json_t *config, const char *trigger, const json_t *params, char *msg,
                              size_t msg_n);

struct conn_ingress {
    conn_hook_fn hook;          /* NULL: no push endpoint */
    conn_poll_fn poll;          /* NULL: cannot be polled */
    conn_expand_fn expand;      /* NULL: the hook never returns deliveries */
    int64_t poll_interval_ms;   /* pause between polls when caught up (0: CONN_POLL_DEFAULT_MS) */
    conn_register_fn register_hook; /* NULL: hooks are registered by hand */
    const char *hook_secret_field;  /* the connection's secret field holding the hook secret */
    conn_reach_fn reachable;        /* NULL: every trigger's events reach every connection */
    bool secret_in_path;            /* the hook also takes the secret as the path's last segment,
                                       /hooks/<connector>/<connection>/<secret> (for senders that cannot
                                       set a header); false: such a path is 404 */
};

/* The secret segment of a hook path "/hooks/<connector>/<connection>/<secret>"
 * (the decoded path, as http_req.path): a pointer into path at <secret>
 * (everything after the third '/' following "/hooks/", which may itself hold
 * '/'), or NULL when the path has no such segment or it is empty. Borrowed
 * from path. Used by hooks.c to route and by a connector's hook to read it;
 * the logger masks the same span (core/log.c). */
static inline const char *conn_hook_path_secret(const char *path)
{
    const char *p;

    if (!path || strncmp(path, "/hooks/", 7) != 0)
        return NULL;
    p = strchr(path + 7, '/'); /* after <connector> */
    p = p ? strchr(p + 1, '/') : NULL; /* after <connection> */
    return p && p[1] ? p + 1 : NULL;
}

#define CONN_POLL_DEFAULT_MS 10000 /* default pause between polls of a caught-up connection */

enum conn_ingress_mode { CONN_MODE_HOOK = 1, CONN_MODE_POLL = 2, CONN_MODE_BOTH = 3 };

/* The ingress mode of a connection config: its "mode" string ("hook",
 * "poll", "both", case-insensitive); absent or unknown means hook. */
static inline enum conn_ingress_mode conn_ingress_mode(const json_t *config)
{
    const char *m = json_string_value(json_object_get(config, "mode"));
    if (m && strcasecmp(m, "poll") == 0)
        return CONN_MODE_POLL;
    if (m && strcasecmp(m, "both") == 0)
        return CONN_MODE_BOTH;
    return CONN_MODE_HOOK;
}

/* ---- subjects (issue 17) ----
 *
 * Whom and what a run concerns, so that every run that touched a person or
 * a ticket can be found (store.h, "subjects"). A connector describes a
 * subject as a JSON object
 *
 *   {"kind":  "<connector>.<what>" ("okta.user", "okta.group", "okta.app",
 *              "happyfox.ticket"),
 *    "label": how a person reads it ("jane@acme.com", "Finance",
 *             "#HF00000006"),
 *    "keys":  [every string a person may search it by: its id, login or
 *              email, a ticket's number and display id] (strings; the
 *              engine normalizes them with subject_key, core/subject.h)}
 *
 * both for the events it normalizes (event_subjects below) and in the
 * subjects an action reports (conn_result.subjects). The engine stores them
 * per run, knowing no kind by name. Personal data beyond the identifiers a
 * search needs (names, phone numbers) never goes into a subject. */

/* Appends the subjects of a normalized event of this connector (an item
 * its ingress produced, as stored: user, group, app, ticket ...) to out (a
 * JSON array). 0, or a negative code (out of memory); an event without
 * subjects appends nothing. Pure; any thread. */
typedef int (*conn_event_subjects_fn)(const json_t *event, json_t *out);

/* ---- protected accounts (issue 19) ----
 *
 * A connection may name accounts no workflow may harm (its `protected`
 * config: the automation's own account, the break-glass admins, a group of
 * them). Before every destructive call (see "blast radius") the engine asks
 * the connector whether the call's target is protected; when it is, the
 * step fails without the call, naming the rule, and the refusal is audited.
 * The connector knows what the target of each of its actions is and how to
 * tell membership (it may make read calls through call, paced like any
 * other). */
struct conn_protect {
    char rule[256];         /* on refusal: the rule that refused ("protected login admin@acme.com", "member of the
                               protected group IT Admins"); on failure: why the target could not be checked */
    char target[256];       /* on refusal: whom the call was for, as a person reads it ("jane@acme.com") */
    bool retryable;         /* on failure: the check may succeed later (network, 5xx, 429) */
    int64_t retry_after_ms; /* on failure: the least wait, 0 = the step's backoff */
    bool deferred;          /* on failure: the check's own read was not made (paced by the rate limiter, a 429):
                               the engine waits retry_after_ms and asks again without counting an attempt, as
                               for an action's conn_result.deferred */
};

/* Checks the target of one call of destructive action a (params rendered
 * and checked) against call->connection's protected accounts. Returns 0 with
 * *refused_out false (go on: no rule applies, or the connection names none)
 * or true (out->rule and out->target set); or a negative code with out->rule
 * saying why it could not tell (then nothing is called: a target that cannot
 * be checked is not touched). Called on worker threads, concurrently, with
 * the call as the action itself would get it. Never quotes a secret. */
typedef int (*conn_protect_fn)(struct conn_call *call, const struct conn_action *a, const json_t *params,
                               bool *refused_out, struct conn_protect *out);

struct connector {
    const char *name;                  /* "core", "okta", "happyfox" */
    const struct conn_connection_kind *connection; /* NULL when the connector needs no credentials */
    const struct conn_action *actions; /* terminated by name == NULL */
    const struct conn_trigger *triggers; /* terminated by name == NULL; may be NULL */
    void (*thread_slot_free)(void *slot); /* frees what actions cached in *thread_slot; may be NULL */
    const struct conn_ingress *ingress; /* how its events arrive (hooks, polling); NULL: none */
    conn_event_subjects_fn event_subjects; /* NULL: its events name no subject (issue 17) */
    conn_protect_fn protect;               /* NULL: its connections protect no account (issue 19) */
};

/* ---- base URLs of remote accounts (connectors/conn_url.c) ---- */

#define CONN_URL_MAX 512

struct conn_url {
    char base[CONN_URL_MAX]; /* "https://host[:port]", no trailing slash */
    char host[256];          /* lower-cased */
    char path[CONN_URL_MAX]; /* as given ("" or "/" when none): the connector decides what it allows */
};

/* True when a connection's "sandbox" is true (or the string "true"). */
bool conn_is_sandbox(const json_t *conn);

/* The checks every connector makes of its account URL: a URL, https unless
 * sandbox (then http too), no user name or password, no query or fragment.
 * product ("Okta") and example ("https://acme.okta.com") go into messages.
 * IDF_EINVAL / IDF_ETOOBIG with err naming the problem. */
int conn_base_url(const char *url, bool sandbox, const char *product, const char *example, struct conn_url *out,
                  struct idf_err *err) IDF_MUST_USE;

/* ---- registry: connectors/registry.h ---- */

/* Checks params (already rendered) against the action's descriptors: required
 * present, types right, no unknown names. Fills err naming the parameter. */
int conn_params_check(const struct conn_action *a, const json_t *params, struct idf_err *err) IDF_MUST_USE;

/* Sets a failure on res: message formatted, retryable flag; returns code. */
int conn_fail(struct conn_result *res, int code, bool retryable, const char *fmt, ...) IDF_PRINTF(4, 5);

#endif

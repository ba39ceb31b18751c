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

#include "core/err.h"

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
    char message[1024];
};

/* Everything an action may use during one call; all borrowed. */
struct conn_call {
    struct http_client *http;     /* this worker thread's client */
    const json_t *connection;     /* the resolved connection (secrets unsealed) or NULL */
    const char *connection_name;  /* or NULL */
    int64_t run_id;               /* for idempotency markers */
    const char *step_id;
    int attempt;                  /* 1 for the first attempt */
    int64_t timeout_ms;           /* the step's `timeout:` per attempt, 0 = the action's default */
    int item;                     /* foreach item index, -1 for a plain step */
    bool uncertain;               /* records_intent actions: an earlier attempt of this step/item
                                     was started and its outcome never recorded (crash, timeout):
                                     look for what it made (the marker) before writing again */
    bool allow_http;              /* the workflow opted in to plain http:// */
    void **thread_slot;           /* per-thread, per-connector cache slot (starts NULL) */
};

typedef int (*conn_action_fn)(struct conn_call *call, const json_t *params, struct conn_result *res);

struct conn_action {
    const char *name;               /* full name used in YAML: "okta.suspend_user", "http.request" */
    const char *doc;                /* one paragraph for the catalogue */
    const struct conn_param *params;/* terminated by an entry with name == NULL */
    enum conn_kind kind;
    conn_action_fn fn;              /* CONN_K_ACTION only */
    bool mutating;                  /* changes remote state (shown as such in dry runs) */
    const char *output_doc;         /* what the output object holds, for the catalogue */
    bool records_intent;            /* not idempotent: the engine durably records "started" before
                                       each call and sets call->uncertain on the next attempt when
                                       no outcome was recorded (see exec.c) */
};

/* Returns true when the event (normalized, see DESIGN.md §1) matches the
 * trigger's parameters. NULL means "the type matching is enough". */
typedef bool (*conn_trigger_match_fn)(const json_t *params, const json_t *event);

struct conn_trigger {
    const char *name;               /* "manual", "okta.user_locked": equals the event's "type" */
    const char *doc;
    const struct conn_param *params;/* terminated by name == NULL; may be NULL */
    conn_trigger_match_fn match;    /* may be NULL */
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
};

struct connector {
    const char *name;                  /* "core", "okta", "happyfox" */
    const struct conn_connection_kind *connection; /* NULL when the connector needs no credentials */
    const struct conn_action *actions; /* terminated by name == NULL */
    const struct conn_trigger *triggers; /* terminated by name == NULL; may be NULL */
    void (*thread_slot_free)(void *slot); /* frees what actions cached in *thread_slot; may be NULL */
};

/* ---- registry (connectors/registry.c) ---- */

/* The table of all connectors, NULL-terminated. Built at compile time. */
extern const struct connector *const connector_table[];

/* Finds an action or trigger by its full name; NULL when unknown. */
const struct conn_action *registry_find_action(const char *name);
const struct conn_trigger *registry_find_trigger(const char *name);
/* The connector owning an action (for per-thread slots); NULL when unknown. */
const struct connector *registry_action_owner(const struct conn_action *a);
/* Index of a connector in connector_table, -1 when unknown. */
int registry_connector_index(const struct connector *c);
/* Number of connectors in connector_table. */
int registry_count(void);

/* Checks params (already rendered) against the action's descriptors: required
 * present, types right, no unknown names. Fills err naming the parameter. */
int conn_params_check(const struct conn_action *a, const json_t *params, struct idf_err *err) IDF_MUST_USE;

/* Sets a failure on res: message formatted, retryable flag; returns code. */
int conn_fail(struct conn_result *res, int code, bool retryable, const char *fmt, ...) IDF_PRINTF(4, 5);

#endif

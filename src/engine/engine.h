/* engine.h — the workflow engine: workflow set, event ingestion (dispatch +
 * group commit), worker threads, and the run executor.
 *
 * Life cycle: engine_new() opens the store and loads workflows; engine_start()
 * starts the ingest thread and N workers; engine_submit() may then be called
 * from any thread (the HTTP server's); engine_stop() drains and joins. The
 * executor (exec_run) is also used alone by `idflow run` in the foreground.
 *
 * Guarantees (see docs/internals/engine.md): an event is acknowledged only
 * after it and its runs are durable; a run resumes at the first step whose
 * result was not recorded; retries, delays and approvals are waiting states
 * stored with a wake time, never a sleeping worker. */
#ifndef IDF_ENGINE_ENGINE_H
#define IDF_ENGINE_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "engine/status.h"

struct flow;
struct store;
struct store_run;
struct expr_ctx;
struct http_client;
struct cred_cache;
struct seal_key;
struct registry;
struct conn_coord;
struct keeper;

#define ENGINE_MAX_WORKERS 64
#define ENGINE_DEFAULT_LEASE_MS 60000
#define ENGINE_INGEST_BATCH 512     /* events committed in one transaction at most */
#define ENGINE_CLAIM_BATCH 16       /* runs claimed by a worker at once on a database of its own (SQLite) */
#define ENGINE_CLAIM_BATCH_SHARED 2 /* the same on a database nodes share (PostgreSQL: store_url_listens):
                                       a dead node strands workers x this many runs for a lease
                                       (docs/internals/engine.md, "Claim batches") */
#define ENGINE_CLAIM_BATCH_MAX 64   /* the largest engine_opts.claim_batch */
#define ENGINE_MAX_CONNECTORS 16    /* per-thread connector slots */
#define ENGINE_DEFAULT_MAX_INTERRUPTIONS 3 /* deaths in a row at one step before a run is failed */
/* (helper "singleton": one node at a time; docs/internals/engine.md, "Node identity") */
#define ENGINE_DEFAULT_SINGLETON_TTL_MS 15000 /* lease of a poller or of the schedule ticker */
#define ENGINE_NODE_TTL_MARGIN_MS 5000        /* the node id's lease: the run lease plus this */

struct engine_opts {
    const char *db_url;        /* store URL */
    const char *workflows_dir; /* NULL: only workflows already in the store */
    int workers;               /* default 4 */
    const char *node_id;       /* lease owner id; default "<hostname>" */
    int64_t lease_ms;          /* default ENGINE_DEFAULT_LEASE_MS */
    int64_t idle_poll_ms;      /* how often idle workers look for due timers; default 200 */
    const struct seal_key *key;/* master key for sealed connections (borrowed; may be NULL) */
    int expr_timeout_ms;       /* each expression evaluation's time budget; default EXPR_DEFAULT_TIMEOUT_MS */
    int expr_memory_mb;        /* each evaluator process's memory budget; default EXPR_DEFAULT_MEMORY_MB */
    int max_interruptions;     /* a run taken from a dead owner this many times in a row at the
                                  same step is failed, not run again; default
                                  ENGINE_DEFAULT_MAX_INTERRUPTIONS */
    const struct registry *connectors; /* the connector table workflows are parsed in and whose
                                          actions, ingresses and pollers run (borrowed, outlives the
                                          engine; at most ENGINE_MAX_CONNECTORS); NULL:
                                          registry_default() */
    /* (helper "singleton") */
    int64_t singleton_ttl_ms;  /* ttl of the leases that give one node a poller or the schedule
                                  ticker ("poll:<connector>:<connection>", "schedule"); renewed every
                                  third of it; default ENGINE_DEFAULT_SINGLETON_TTL_MS */
    int64_t node_ttl_ms;       /* ttl of the lease "node:<node_id>" that keeps a second live process
                                  from using this node id; renewed every third of it; default
                                  lease_ms + ENGINE_NODE_TTL_MARGIN_MS */
    /* (helper "keeper") */
    int64_t lease_renew_ms;    /* how often the lease keeper (keeper.c) renews the leases of the runs this
                                  node executes, while their steps run; default lease_ms / 3; negative:
                                  no keeper, leases are renewed between steps only (a stand-in, in tests,
                                  for a node whose process stalled) */
    int claim_batch;           /* runs a worker claims at once (1..ENGINE_CLAIM_BATCH_MAX); default
                                  ENGINE_CLAIM_BATCH_SHARED on a shared database, else ENGINE_CLAIM_BATCH */
};

struct engine;

/* Opens the store, takes the node id's lease "node:<node_id>" (IDF_EBUSY,
 * "node id X is in use by a live node", and nothing released, when another
 * live process holds it), releases leases left by a previous life of this node,
 * loads and validates the workflow files in opts->connectors (an invalid
 * file is an error naming every problem; nothing is loaded then). IDF_EINVAL
 * when the connector table has more than ENGINE_MAX_CONNECTORS entries.
 * Caller frees with engine_free. */
int engine_new(const struct engine_opts *opts, struct engine **out, struct idf_err *err) IDF_MUST_USE;

/* Starts the ingest thread and the workers. */
int engine_start(struct engine *e, struct idf_err *err) IDF_MUST_USE;

/* Stops the threads (in-flight steps finish first) and frees. e may be NULL. */
void engine_free(struct engine *e);

/* One event to ingest. */
struct engine_event {
    const char *source;     /* "manual", "okta", ... */
    const char *source_id;  /* dedup id within the source, or NULL */
    const char *type;       /* trigger name the event raises ("manual", "okta.user_locked") */
    const char *connection; /* or NULL */
    const char *workflow;   /* for "manual": the one workflow to start; NULL = every match */
    json_t *data;           /* the event's payload (borrowed); becomes .event.data */
    const char *actor;      /* who submitted it ("token:NAME", "local", "cli:USER") or NULL; becomes
                               .event.actor (with data; a connector's fields carry their own actor) */
    const char *via;        /* how it arrived: STORE_VIA_* ("hook", "poll", "schedule", "api", "cli"), or
                               NULL; stored with the event, with actor (issue 17) */
    const json_t *fields;   /* or: a connector's normalized event (an object, borrowed; connector.h
                               "ingress"): its members become .event's own (user, group, app, actor,
                               changes, time, raw ...); id, source, type and connection are set from
                               this struct. When set, data is ignored. */
};

#define ENGINE_ACK_MAX_RUNS 64

struct engine_ack {
    int64_t event_id;
    bool duplicate;
    size_t n_runs;
    int64_t run_ids[ENGINE_ACK_MAX_RUNS];
};

/* Matches the event against enabled workflows, then stores it and its runs
 * durably (batched with concurrent submissions into one transaction) and
 * returns when they are on disk. IDF_ENOTFOUND: the named workflow does not
 * exist; IDF_EINVAL: it is not started that way. Thread-safe. */
int engine_submit(struct engine *e, const struct engine_event *ev, struct engine_ack *ack,
                  struct idf_err *err) IDF_MUST_USE;

/* The same for n events at once (an Okta delivery of several events): they
 * are queued together, so they share the group commit, and the call returns
 * when all are durable. acks is a caller array of n. Nothing is queued when
 * one event cannot be prepared (unknown workflow, ...); when the store fails,
 * the first failure is returned and the other acks are still filled. */
int engine_submit_many(struct engine *e, const struct engine_event *evs, size_t n, struct engine_ack *acks,
                       struct idf_err *err) IDF_MUST_USE;

/* Submits a connector's normalized events (a JSON array of objects with at
 * least "id" and "type"; others are skipped with a warning) from source and
 * connection, all together as with engine_submit_many, but NOT matched: they
 * are stored for the matcher thread, which creates their runs after this
 * returns (so a hook's answer never waits on a workflow's expressions).
 * *n_new_out: how many were not duplicates. via: how they arrived
 * (STORE_VIA_HOOK, STORE_VIA_POLL), stored with each (issue 17). */
int engine_submit_events(struct engine *e, const char *source, const char *via, const char *connection,
                         const json_t *events, size_t *n_new_out, struct idf_err *err) IDF_MUST_USE;

/* Stores a connector's deliveries (conn_hook_out.deliveries: a JSON array of
 * objects) from source and connection durably, as events of type
 * "<source>.delivery" in stage EXPAND, and returns when they are on disk;
 * the expander thread turns each into the events it stands for (the
 * connector's ingress->expand) after this returns. via: how they arrived
 * (STORE_VIA_HOOK); the events they stand for arrived that way too. */
int engine_submit_deliveries(struct engine *e, const char *source, const char *via, const char *connection,
                             const json_t *deliveries, struct idf_err *err) IDF_MUST_USE;

/* (helper "inputs") The current version of the workflow called name, as
 * this engine loaded it, and *version_out (may be NULL) its version; NULL
 * when it has none by that name. Borrowed: valid until engine_free (the
 * engine never frees a loaded workflow before). Any thread. */
const struct flow *engine_workflow(struct engine *e, const char *name, int64_t *version_out);

/* Prometheus text exposition of the engine's metrics; caller frees. */
char *engine_metrics(struct engine *e);

/* True once workers run and the store answers. */
bool engine_ready(struct engine *e);

/* ------------------------------------------------------------ executor */

/* What a thread needs to execute runs. Everything is borrowed. */
struct exec_env {
    struct store *store;
    struct expr_ctx *expr;
    struct http_client *http;
    struct cred_cache *conns;    /* resolves an action's connection; NULL: none available */
    void *slots[ENGINE_MAX_CONNECTORS]; /* per-connector, per-thread caches */
    const char *owner;                  /* lease owner */
    int64_t lease_ms;
    int64_t lease_renewed_at;           /* when the lease was taken or last extended (ms) */
    bool dry_run;                       /* call no action; print what would be called */
    FILE *trace;                        /* when set, one line per step outcome */
    struct engine *engine;              /* for metrics; may be NULL */
    const struct seal_key *key;         /* seals secrets in action outputs while the run goes on
                                           (engine/secrets.c); NULL: they are kept in memory only */
    int max_interruptions;              /* see engine_opts; 0: ENGINE_DEFAULT_MAX_INTERRUPTIONS */
    const struct registry *connectors;  /* the table the flows were parsed in (per-thread slots are
                                           indexed in it); NULL: registry_default() */
    int64_t begin_next;                 /* in: the run this thread executes after this one (0: none);
                                           the commit that ends this one marks it begun in its
                                           transaction (store_run_next.begin_run) */
    bool begun;                         /* in: this run is marked begun already (by its claim or by
                                           the commit that ended the run before it) */
    bool next_begun;                    /* out: begin_next was marked begun */
    const struct conn_coord *coord;     /* handed to actions (engine/coord.h); NULL: alone (idflow run) */
    struct keeper *keeper;              /* the node's lease keeper (borrowed), which renews this run's
                                           lease while it executes (slot keeper_slot); NULL: exec_run
                                           renews it between steps itself (`idflow run`) */
    int keeper_slot;                    /* this thread's slot in keeper (the worker's index) */
};

struct exec_outcome {
    enum engine_run_status status; /* the run's status afterwards */
    int64_t wake_at;               /* when status is ENGINE_RUN_WAITING */
};

/* Executes a claimed run (run->status "running", lease held by env->owner)
 * step by step, committing each step with the run's next state, until it
 * finishes or waits. A run whose run->interrupted reached
 * env->max_interruptions (its process died that many times in a row while
 * it was at this step) is failed at once, executing nothing, with the error
 * "interrupted N times while running step 'S'; not retried" on the run and
 * on the step's record. Otherwise the run is marked begun (store_run_begin)
 * before anything of it is evaluated. Returns 0 when the run's state was recorded (whatever
 * the run's outcome), IDF_ESTATE when the lease was lost, another code when
 * the store failed. */
int exec_run(struct exec_env *env, const struct flow *f, const struct store_run *run,
             struct exec_outcome *out, struct idf_err *err) IDF_MUST_USE;

/* Frees per-connector slots of env (call before the thread exits). */
void exec_env_release(struct exec_env *env);

/* ---- replay (issue 19): the matcher's decision for one workflow ---- */

/* Why an event does or does not start a workflow. */
enum engine_start_why {
    ENGINE_STARTS = 0,    /* it starts it */
    ENGINE_NOT_TRIGGER,   /* the event's type is not the workflow's trigger */
    ENGINE_NOT_PARAMS,    /* the trigger's parameters (its connection, a group...) do not match the event */
    ENGINE_NOT_CONDITION, /* a `when:` is false, no `when_any:` holds, or a condition failed */
};

/* Whether the normalized event (jq .event; its stored type `type`) would
 * start f, decided exactly as the matcher decides it (match.c: trigger,
 * trigger parameters, `when:`, `when_any:`, conditions evaluated with ectx)
 * but whether f is enabled is not asked. why (why_n bytes; may be NULL)
 * receives which condition was false or failed and where ("" otherwise).
 * A failed condition is also logged, as the matcher logs it. */
enum engine_start_why engine_match_flow(struct expr_ctx *ectx, const struct flow *f, const char *type,
                                        const json_t *event, char *why, size_t why_n);

#endif

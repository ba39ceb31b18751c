/* engine_internal.h — shared between the engine's files (private). */
#ifndef IDF_ENGINE_INTERNAL_H
#define IDF_ENGINE_INTERNAL_H

#include <pthread.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/status.h"
#include "store/store.h"

struct flow;

/* The set of workflows: the current version of each (from the files), plus
 * older versions loaded on demand for runs that started on them. Guarded by
 * its own rwlock; flows are immutable and live until engine_free. */
struct wfset;

/* A new empty set whose flows are parsed in reg (borrowed, outlives the set). */
int engine__wfset_new(const struct registry *reg, struct wfset **out);
void engine__wfset_free(struct wfset *ws);
/* Loads every *.yaml / *.yml in dir, validates all (diagnostics to stderr),
 * saves new versions in the store. IDF_EINVAL when any file is invalid. */
int engine__wfset_load_dir(struct wfset *ws, struct store *st, struct expr_ctx *ectx, const char *dir,
                           struct idf_err *err);
/* Loads the newest version of every workflow in the store (no files). */
int engine__wfset_load_store(struct wfset *ws, struct store *st, struct expr_ctx *ectx, struct idf_err *err);
/* The flow for (name, version), loading it from the store if needed; NULL
 * when it cannot be found or no longer parses (err says why). Borrowed. */
const struct flow *engine__wfset_get(struct wfset *ws, struct store *st, struct expr_ctx *ectx, const char *name,
                                     int64_t version, struct idf_err *err);
/* Current flows: calls fn for each (name, version, flow, enabled) under the read lock. */
typedef void (*wfset_each_fn)(void *ud, const struct flow *f, int64_t version);
void engine__wfset_each(struct wfset *ws, wfset_each_fn fn, void *ud);
/* (helper "inputs") The current version of name (borrowed for the set's life) and its version, or NULL. */
const struct flow *engine__wfset_current(struct wfset *ws, const char *name, int64_t *version_out);

/* Matching (match.c): which workflows an event starts. */
struct engine__match {
    /* in */
    const char *type;     /* the event's type (trigger name) */
    const char *workflow; /* only this workflow (a manual start), or NULL for every match */
    bool plain_only;      /* decide only without expressions: see `deferred` */
    /* out */
    bool deferred;        /* plain_only and a workflow the event may start has `when:` / `when_any:`
                           * conditions: nothing was decided (the matcher thread decides) */
    bool found_named;     /* the named workflow exists */
    bool named_wrong_trigger;
    struct store_run_in runs[ENGINE_ACK_MAX_RUNS]; /* workflow names borrowed from the set */
    size_t n_runs;
    char note[1024];      /* conditions that failed (a jq error or a limit), "" when none */
};

/* Runs the trigger filters and conditions of the enabled workflows of ws on
 * event (the normalized .event) with ectx, filling out (type, workflow and
 * plain_only set by the caller). A condition that fails counts as false, is
 * logged and noted. With plain_only, a workflow of the event's type that has
 * conditions stops the matching (out->deferred, no runs): the decision needs
 * a workflow's expressions, which a hook's answer never waits on. */
void engine__match(struct wfset *ws, struct expr_ctx *ectx, const json_t *event, struct engine__match *out);

/* The normalized event (jq .event) of ev: a connector's fields with source,
 * type, id, connection (and time when missing) set, or the envelope around
 * ev->data. New reference; NULL when memory ran out. Its members may be
 * ev->fields' own (a shallow copy): read it, never change what is nested. */
json_t *engine__event_json(const struct engine_event *ev);

/* The matcher and expander threads (match.c): events stored in stage MATCH
 * are matched and their runs created after the acknowledgement; deliveries
 * in stage EXPAND are turned into events by their connector. Start after the
 * workers; stop before them. */
struct matcher;
int engine__matcher_start(struct engine *e, struct wfset *ws, const struct engine_opts *opts, struct matcher **out,
                          struct idf_err *err);
/* Tells both threads that something was stored for them. m may be NULL. */
void engine__matcher_wake(struct matcher *m);
/* Signals and joins both (an expansion in flight finishes first); frees. m may be NULL. */
void engine__matcher_stop(struct matcher *m);

/* n runs were created outside the ingest path: counts them and wakes the workers (worker.c). */
void engine__runs_created(struct engine *e, size_t n);

/* Wake-ups across nodes (listen.c, helper "notify"; docs/internals/engine.md,
 * "Wake-ups across nodes"). On a PostgreSQL store a listener thread per node wakes the
 * idle workers when another node announces work, and announces this node's. */
#define ENGINE__NOTIFY_GAP_MS 5 /* a node sends at most one notification per this many ms */
/* Starts the listener on its own store connection (nothing on SQLite). */
int engine__listen_start(struct engine *e, struct idf_err *err) IDF_MUST_USE;
/* Stops and joins it (a notification still pending is sent first). */
void engine__listen_stop(struct engine *e);
/* Runs became runnable and their transaction committed: the other nodes'
 * idle workers are told, coalesced (at most one notification per
 * ENGINE__NOTIFY_GAP_MS). Any thread; never blocks on the database. */
void engine__notify_work(struct engine *e);

/* The caps (`concurrency:`) and priorities (`priority:`) of the current flows, for store_run_claim: a
 * worker's own copy, rebuilt by engine__wfset_caps only when the set changed.
 * v[i].workflow is borrowed from the set's flows (valid until engine_free). */
struct wfset_caps {
    struct store_cap *v; /* sorted by workflow name; caller frees with engine__wfset_caps_clear */
    size_t n;
    unsigned long gen;   /* the set's generation v was built from; 0 = never */
};
/* Brings wc up to date with the set; on IDF_ENOMEM wc keeps its old caps. */
int engine__wfset_caps(struct wfset *ws, struct wfset_caps *wc) IDF_MUST_USE;
void engine__wfset_caps_clear(struct wfset_caps *wc);

/* Metrics (engine.c). */
/* Counts a committed step record (ENGINE_STEP_NONE: none) and the run's status after it. */
void engine__count_step(struct engine *e, enum engine_step_status step, enum engine_run_status run);

/* The pull ingress (poller.c): one thread polling the connections whose
 * connector has an ingress poll and whose mode is poll or both. Start after
 * the ingest thread; stop BEFORE the engine stops accepting submissions.
 * *out stays NULL (and 0 is returned) when no connector can be polled. */
struct pollers;
int engine__pollers_start(struct engine *e, const struct engine_opts *opts, struct pollers **out,
                          struct idf_err *err);
/* Signals and joins the poller thread (an in-flight poll finishes first); frees. p may be NULL. */
void engine__pollers_stop(struct pollers *p);

/* The clock ingress (schedule.c): one thread firing the ticks of the
 * enabled `schedule` workflows of ws. Start after the ingest thread; stop
 * BEFORE the engine stops accepting submissions. *out stays NULL (and 0 is
 * returned) when no workflow is scheduled. */
struct schedule;
int engine__schedule_start(struct engine *e, struct wfset *ws, const struct engine_opts *opts,
                           struct schedule **out, struct idf_err *err);
/* Wakes and joins the ticker (a submission in flight finishes first); frees. s may be NULL. */
void engine__schedule_stop(struct schedule *s);

/* One node at a time (node.c; helper "singleton"). Every process has a
 * lease owner name "<node_id>#<pid>@<16 hex random>", unique to it even
 * when two processes share a node id. */
#define ENGINE_LEASE_OWNER_MAX 320 /* bytes of a lease owner name, with its NUL */

/* engine_new: takes "node:<node_id>" for e's owner name (set here), or fails
 * (IDF_EBUSY, err says who holds it until when) when another process holds
 * it; uses e->store (the calling thread's). */
int engine__node_claim(struct engine *e, struct idf_err *err) IDF_MUST_USE;
/* engine_start: the heartbeat thread renewing the node lease. */
int engine__node_start(struct engine *e, struct idf_err *err) IDF_MUST_USE;
/* engine_free: stops the heartbeat and drops the node lease (after the
 * workers stopped). Safe when neither claim nor start ran. */
void engine__node_stop(struct engine *e);
/* This process's lease owner name (borrowed, valid while e lives). */
const char *engine__lease_owner(const struct engine *e);
/* The ttl of the poller and schedule leases (engine_opts.singleton_ttl_ms). */
int64_t engine__singleton_ttl(const struct engine *e);
/* Takes or renews lease `name` for this process on st (the calling
 * thread's connection), with the singleton ttl. A lease held by an earlier,
 * dead process of this node id (an owner "<node_id>#..." other than ours:
 * while we hold the node lease no other live process has our id) is
 * dropped first, so a restarted node gets its leases back at once. */
int engine__lease_take(struct engine *e, struct store *st, const char *name, bool *held_out) IDF_MUST_USE;

/* The lease keeper (keeper.c; helper "keeper"; docs/internals/engine.md,
 * "The lease keeper"): one thread per node renewing, every
 * engine_opts.lease_renew_ms, the lease of each run a worker executes. */
struct keeper;
/* Starts the keeper thread, which opens its own store connection (an
 * error, nothing left running, when it cannot); *out stays
 * NULL (and 0 is returned) when opts.lease_renew_ms is negative. */
int engine__keeper_start(struct engine *e, struct keeper **out, struct idf_err *err) IDF_MUST_USE;
/* Stops and joins the thread (after the workers), closes its connection, frees. k may be NULL. */
void engine__keeper_stop(struct keeper *k);
/* The worker of slot (0..ENGINE_MAX_WORKERS-1) executes run_id under owner
 * (borrowed until engine__keeper_drop) from now on: its lease is renewed.
 * k may be NULL (nothing happens). */
void engine__keeper_hold(struct keeper *k, int slot, int64_t run_id, const char *owner);
/* The worker of slot is done with its run (its last commit is done). */
void engine__keeper_drop(struct keeper *k, int slot);
/* A renewal found the lease of slot's run lost (taken over, or the run left
 * "running"): the worker starts no further step of it. */
bool engine__keeper_lost(struct keeper *k, int slot);

/* Secrets in action outputs (secrets.c; docs/workflows.md, "Secrets in
 * outputs"). The run's secrets are the array ctx["secrets"]. */
#define ENGINE_SECRETS_MAX 10000 /* secret values one run may hold; more fails the step */

/* True when the value of key k is a secret of the run: k names a secret
 * (log_key_is_secret) and does not merely describe one (passwordChanged,
 * tokenType, expires_at). */
bool engine__secrets_key(const char *k);

/* Adds the non-empty string values of output's secret keys (engine__secrets_key, any depth)
 * to ctx["secrets"]. IDF_ETOOBIG past ENGINE_SECRETS_MAX, IDF_ENOMEM. */
int engine__secrets_collect(json_t *ctx, const json_t *output) IDF_MUST_USE;

/* ctx["secrets"] (borrowed from ctx), or NULL when the run has none. */
const json_t *engine__secrets_of(const json_t *ctx);

/* What to store of run state v: a copy (new reference; v itself when no
 * secret occurs) in which every string holding one of `secrets` is a sealed
 * envelope bound to run_id, or, when key is NULL, has them replaced by
 * "[redacted]". NULL when v is NULL or memory ran out. */
json_t *engine__secrets_persist(const json_t *v, const json_t *secrets, const struct seal_key *key,
                                int64_t run_id);

/* What history shows of v: log_redact(v) with every occurrence of one of
 * `secrets` replaced by "[redacted]". New reference; NULL for NULL or OOM. */
json_t *engine__secrets_history(const json_t *v, const json_t *secrets);

/* s with every occurrence of one of `secrets` replaced by "[redacted]"; caller
 * frees. NULL when s is NULL or memory ran out. */
char *engine__secrets_mask_str(const char *s, const json_t *secrets);

/* Opens the sealed envelopes in v (takes ownership of v, returns the result):
 * each becomes its string again, or "[redacted]" when it cannot be opened
 * (no key, another run's). With is_ctx, redacted entries of v["secrets"] are
 * dropped (those secrets are gone). */
json_t *engine__secrets_open(json_t *v, const struct seal_key *key, int64_t run_id, bool is_ctx);

/* The calling thread's expression context: isolated (its evaluator child
 * has e's budgets), created on first use, freed at thread exit; NULL when
 * memory ran out. */
struct expr_ctx *engine__thread_expr(const struct engine *e);
/* Frees the calling thread's context now (for the main thread, whose key
 * destructors never run because it leaves through exit()). */
void engine__thread_expr_release(void);

#endif

/* store.h — idflow's durable state, behind an ops table with a written contract.
 *
 * A `struct store` is ONE connection to the database (each worker, each HTTP
 * thread and the CLI open their own). Two backends sit behind the same ops
 * table: SQLite ("sqlite:PATH" or a path ending in .db; src/store/sqlite*.c
 * and migrations.c) and PostgreSQL (a libpq URL, "postgresql://..." or
 * "postgres://..."; src/store/postgres*.c, docs/internals/store.md,
 * "PostgreSQL"). Nothing outside a backend file contains SQL.
 *
 * Transactions and threads (checked by the SQLite backend with IDF_INVARIANT
 * in debug builds, `make asan` / INVARIANTS=1; tests/unit/test_store_invariants.c):
 *  - A connection is used only by the thread that opened it: every statement
 *    runs on that thread. (store_close may run on another thread once the
 *    opener is done with it.)
 *  - Every write runs in ONE transaction (BEGIN IMMEDIATE ... COMMIT, or
 *    rolled back) that the call opens and ends: no transaction outlives a
 *    store_* call, transactions never nest, and a commit only ends a
 *    transaction the connection began. The one write that may run outside
 *    a transaction is a single statement on its own: the last_used_at touch
 *    of store_token_lookup (SQLite gives it a transaction of its own, so it
 *    waits its turn in the backend's writer gate).
 *
 * Contract every backend keeps (tests/unit/test_store.c and
 * test_store_connections.c are written against this header only;
 * IDFLOW_TEST_STORE_URL points them at another database):
 *  - store_open() creates the schema on first use (numbered migrations,
 *    applied in order inside a transaction, recorded in the database), so
 *    every later call sees the current schema.
 *  - store_ingest() writes a batch of events and their runs in ONE durable
 *    transaction (fsynced before it returns: an acknowledged event survives a
 *    power loss). An event whose (source, source_id) already exists is a
 *    duplicate: nothing is written for it, `duplicate` is set, and `event_id`
 *    is the existing one. Callers batch concurrent acknowledgements into one
 *    call (group commit).
 *  - A run is claimed with a lease: store_run_claim() hands a runnable run to
 *    one owner only. Runnable = queued; or waiting with wake_at <= now; or
 *    running with lease_until < now (its owner died). The claim sets status
 *    "running", lease_owner, lease_until. Taking a run from a dead owner
 *    (here, or in store_release_leases) adds one to `attempt`: the attempt
 *    that owner had under way may have landed.
 *  - The claim takes per-workflow caps (struct store_cap, from the workflows'
 *    `concurrency:`): a run of a capped workflow is claimed only while fewer
 *    than max runs of that workflow (any version) are "running", counted in
 *    the claim's own transaction, so the cap holds across connections and
 *    nodes sharing the database. Taking over a running run whose lease
 *    expired keeps the count and is always allowed. Runs over a cap stay as
 *    they are, in their order; runs of other workflows are claimed past them
 *    however many there are.
 *  - The claim is fair between workflows (issue 20, store_fair.c): runs whose
 *    owner died come first (oldest lease first); then the queued and due runs
 *    are taken by priority (struct store_cap.priority, from `priority:`;
 *    higher first, strictly) and, within one priority, round-robin across
 *    workflows: the first run of each workflow in turn, then the second...,
 *    each workflow's own runs oldest first (by id). The turn starts after
 *    the workflow this connection served last, so no backlog of one
 *    workflow delays another's run by more than one claim.
 *  - When the dead owner of a run taken over had begun executing it
 *    (store_run_begin), the takeover also adds one to `interrupted`,
 *    which every step commit that moves the run on (pc or item changes) sets
 *    back to 0: so it counts the process deaths in a row while the run was
 *    executing at the same step (the engine fails a run whose count reached
 *    its limit: poison runs). A run claimed in a batch and still waiting its
 *    turn when the owner died was not executing: it is not counted.
 *  - A cancellation asked of a running run (store_run_stop) is applied by the
 *    run's next step commit while its owner lives; if the owner died, the
 *    next claim (store_run_claim, store_run_claim_id) or store_release_leases
 *    ends the run as cancelled with the reason asked, in its own transaction,
 *    and never hands it out: nothing of it runs again. (In the store, not in
 *    the worker after the claim: so it holds for every caller, for a run
 *    whose workflow no longer loads, and without a window where a claimed run
 *    could start a step.)
 *  - store_step_commit() writes one step record AND the run's next state in
 *    ONE transaction, and only if the caller still holds the lease (else
 *    IDF_ESTATE and nothing is written). So a crash leaves either both or
 *    neither, and a run resumes at the first step whose result was not
 *    recorded.
 *  - Timestamps are ms since the Unix epoch (int64). JSON values cross this
 *    interface as text (char *), never parsed by the store.
 *  - Reads return typed rows, never a rendering: a list or get operation
 *    fills caller-owned structs (an array and its count for a list) whose
 *    text columns are copies and whose JSON columns stay JSON text. How a row
 *    looks in the API and the CLI is decided in one place above the store
 *    (src/api/render.c), so every backend returns the same rows and nothing
 *    more.
 *  - Returned structs and strings are owned by the caller and freed with the
 *    matching *_free function or free(). Every free function accepts NULL
 *    (an array's *_list_free takes the array and its count).
 *  - On failure functions return a negative IDF_E* code and, where an err is
 *    passed, a message; IDF_ENOTFOUND for a missing row.
 */
#ifndef IDF_STORE_STORE_H
#define IDF_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Run statuses, stored as these exact strings. */
#define STORE_RUN_QUEUED "queued"
#define STORE_RUN_RUNNING "running"
#define STORE_RUN_WAITING "waiting"
#define STORE_RUN_SUCCEEDED "succeeded"
#define STORE_RUN_FAILED "failed"
#define STORE_RUN_CANCELLED "cancelled"
#define STORE_RUN_HELD "held" /* a guardrail hold (issue 19): never claimed until decided */

/* Step record statuses. */
#define STORE_STEP_STARTED "started"     /* intent recorded before a non-idempotent call */
#define STORE_STEP_SUCCEEDED "succeeded"
#define STORE_STEP_FAILED "failed"
#define STORE_STEP_SKIPPED "skipped"     /* if: was false */
#define STORE_STEP_RETRYING "retrying"   /* failed, next attempt scheduled */
#define STORE_STEP_WAITING "waiting"     /* delay or approval under way */
#define STORE_STEP_REUSED "reused"       /* copied from the run a rerun started from */

#define STORE_LIST_MAX 1000 /* cap on rows one list call returns */

struct store;

/* ------------------------------------------------------------ open/close */

/* Opens a connection for the calling thread. url: "sqlite:PATH" (PATH may be
 * ":memory:" only for single-connection tests) or a bare path ending in .db.
 * Creates the database and applies migrations when needed. */
int store_open(const char *url, struct store **out, struct idf_err *err) IDF_MUST_USE;
/* True when the database url names exists already, so that opening it
 * creates nothing: the SQLite file is there (":memory:" never is). A server
 * URL is assumed to exist. Lets a read-only command look without creating. */
bool store_exists(const char *url);
/* The database url as logs and messages may show it, into out (n bytes):
 * a PostgreSQL URL with every password (user info, password= parameter)
 * replaced by "***"; any other url as is. */
void store_url_for_log(const char *url, char *out, size_t n);
/* Closes s (NULL is fine), rolling back a transaction left open. */
void store_close(struct store *s);
/* How many connections are open in this process (opened and not yet
 * closed), over every thread: for tests and diagnostics. */
int store_connections_open(void);

/* Schema version after migrations. */
int store_schema_version(struct store *s, int *out) IDF_MUST_USE;

/* ------------------------------------------------------------- workflows */

/* Saves source as the newest version of workflow `name` unless the newest
 * version already has this hash. *version_out is the version now current;
 * *created_out tells whether a new version row was written. New versions are
 * enabled unless the workflow was disabled. */
int store_workflow_save(struct store *s, const char *name, const char *source, const char *hash,
                        int64_t *version_out, bool *created_out, struct idf_err *err) IDF_MUST_USE;

/* Fetches the source of one version (version 0: the newest). */
int store_workflow_source(struct store *s, const char *name, int64_t version, char **source_out,
                          int64_t *version_out) IDF_MUST_USE;

int store_workflow_set_enabled(struct store *s, const char *name, bool enabled) IDF_MUST_USE;

/* One workflow as store_workflow_list gives it: its newest version. */
struct store_workflow_info {
    char *name;
    int64_t version;    /* the newest version */
    bool enabled;
    char *hash;         /* of the newest version's source */
    int64_t updated_at; /* last save or enable/disable */
};

/* Every workflow's newest version, by name: *rows_out an array of *n_out
 * rows (NULL when 0), caller frees with store_workflow_list_free. */
int store_workflow_list(struct store *s, struct store_workflow_info **rows_out, size_t *n_out) IDF_MUST_USE;
void store_workflow_list_free(struct store_workflow_info *rows, size_t n);

/* (helper "inputs") The newest run of one workflow, for the workflows list. */
struct store_last_run {
    char *workflow;     /* the workflow's name */
    int64_t id;         /* its newest run (the highest id) */
    char *status;       /* STORE_RUN_* */
    int64_t created_at;
};

/* The newest run of every workflow that has one, by name: *rows_out an
 * array of *n_out rows (NULL when 0), caller frees with
 * store_workflow_last_runs_free. One query, one index seek per workflow
 * (runs_workflow), however long the history. */
int store_workflow_last_runs(struct store *s, struct store_last_run **rows_out, size_t *n_out) IDF_MUST_USE;
void store_workflow_last_runs_free(struct store_last_run *rows, size_t n);

/* --------------------------------------------------------------- events */

/* What is left to do for an acknowledged event (its `stage`). An event
 * stored with STORE_EVENT_MATCH is acknowledged before any workflow looked at
 * it: a matcher later creates its runs and marks it done in one transaction
 * (store_events_settle), so a crash in between loses nothing and starts
 * nothing twice. A STORE_EVENT_EXPAND row is a connector's delivery that
 * names something to read from the remote first (a HappyFox ticket): it is
 * replaced by the events it expands to (store_event_expand). */
enum store_event_stage {
    STORE_EVENT_DONE = 0,   /* matched: the runs it starts exist */
    STORE_EVENT_MATCH = 1,  /* acknowledged, not yet matched against the workflows */
    STORE_EVENT_EXPAND = 2, /* a delivery not yet expanded into events */
};

/* ---- subjects (issue 17: "subjects") ----
 * Whom and what a run concerns: the event's Okta user, group and app, its
 * HappyFox ticket, and every user or ticket a step's action resolved. One
 * subject is found by several keys (an Okta user by its id and its login, a
 * ticket by its number and its display id): one struct per key. Keys are
 * normalized with subject_key() (core/subject.h) by whoever writes or
 * searches them, so the store compares them exactly (an index lookup).
 * Stored per run (so a re-run, whose event is the same, carries them too). */
struct store_subject {
    const char *kind;    /* "<connector>.<what>": "okta.user", "okta.group", "okta.app", "happyfox.ticket" */
    const char *key;     /* what a search matches exactly, normalized (subject_key) */
    const char *label;   /* how a person reads the subject: "jane@acme.com", "Finance", "#HF00000006" */
    const char *step_id; /* NULL: from the run's event; else the step whose action resolved or changed it */
};
#define STORE_SUBJECTS_MAX 64 /* subject keys one event or one step record may carry; more are dropped */

/* Where an event came from, besides its source (the connector's name,
 * "manual", "schedule", "cli"): how it arrived. Stored as these strings. */
#define STORE_VIA_HOOK "hook"         /* pushed: an Okta event hook, a HappyFox webhook, a webhook */
#define STORE_VIA_POLL "poll"         /* read by the poller: Okta's System Log, HappyFox's ticket list */
#define STORE_VIA_SCHEDULE "schedule" /* a schedule trigger's tick */
#define STORE_VIA_API "api"           /* POST /api/v1/workflows/{name}/runs (the console too) */
#define STORE_VIA_CLI "cli"           /* `idflow run` */
/* (end of "subjects") */

struct store_event_in {
    const char *source;     /* "okta", "happyfox", "manual", "webhook", ... */
    const char *source_id;  /* dedup key within source; NULL: a fresh unique one is generated */
    const char *type;       /* normalized event type ("okta.user_locked", "manual") */
    const char *connection; /* may be NULL */
    const char *data;       /* the normalized event, JSON text */
    enum store_event_stage stage; /* DONE (the default): runs are given now; MATCH, EXPAND: none may be given */
    /* issue 17 ("subjects"): */
    const char *via;        /* STORE_VIA_*, or NULL (unknown: events stored before it was recorded) */
    const char *actor;      /* who submitted it by hand ("token:alice", "cli:root"), or NULL */
    const struct store_subject *subjects; /* the event's subjects (step_id NULL), written for every run
                                             created for this event (here or when it is settled) */
    size_t n_subjects;
};

struct store_run_in {
    const char *workflow;
    int64_t version;
};

struct store_ingest_item {
    /* in */
    struct store_event_in event;
    const struct store_run_in *runs; /* runs to create for this event (may be 0) */
    size_t n_runs;
    /* out */
    int64_t event_id;
    bool duplicate;                  /* the event existed: no runs were created */
    int64_t *run_ids;                /* caller-provided array of n_runs, filled when !duplicate */
};

/* Writes all items in one durable transaction (see the contract above). */
int store_ingest(struct store *s, struct store_ingest_item *items, size_t n, struct idf_err *err) IDF_MUST_USE;

/* A stored event: one waiting in a stage (store_events_pending) or any one
 * read back (store_event_get). */
struct store_event {
    int64_t id;
    char *source;
    char *source_id;
    char *type;
    char *connection; /* or NULL */
    char *data;       /* JSON text */
    int tries;        /* earlier attempts that were put off (store_event_retry) */
    /* filled by store_event_get only (0 / DONE / NULL from store_events_pending): */
    int64_t received_at;
    enum store_event_stage stage;
    char *note;       /* why a try was put off or given up, or NULL */
};

/* The event row id in *out (caller frees with store_event_free).
 * IDF_ENOTFOUND when there is none. */
int store_event_get(struct store *s, int64_t id, struct store_event **out) IDF_MUST_USE;

void store_event_free(struct store_event *ev);

/* Up to max events in `stage` (MATCH or EXPAND) that are due (put off until
 * <= now_ms), oldest first. out is a caller array of max pointers; each is
 * freed by the caller. Reads only: two matchers may be handed the same
 * event, and settle/expand write it once. */
int store_events_pending(struct store *s, enum store_event_stage stage, int64_t now_ms, size_t max,
                         struct store_event **out, size_t *n_out, struct idf_err *err) IDF_MUST_USE;

/* One matched event: the runs it starts. */
struct store_settle {
    /* in */
    int64_t event_id;
    const struct store_run_in *runs; /* may be 0 */
    size_t n_runs;
    const char *note;                /* why a workflow could not be decided (a `when:` failed), or NULL */
    const struct store_subject *subjects; /* the event's subjects, written for each run created (issue 17) */
    size_t n_subjects;
    /* out */
    int64_t *run_ids;                /* caller array of n_runs, filled when settled */
    bool settled;                    /* false: the event was not in stage MATCH (settled already) */
};

/* In one transaction: for each item whose event is still in stage MATCH,
 * creates its runs and marks it done (with its note); others are left alone
 * (settled = false). */
int store_events_settle(struct store *s, struct store_settle *items, size_t n, struct idf_err *err) IDF_MUST_USE;

/* In one transaction: ingests items as store_ingest does (their stage must
 * be DONE without runs, or MATCH) and marks delivery_id done with note (may
 * be NULL). IDF_ESTATE, nothing written, when delivery_id is not in stage
 * EXPAND. */
int store_event_expand(struct store *s, int64_t delivery_id, struct store_ingest_item *items, size_t n,
                       const char *note, struct idf_err *err) IDF_MUST_USE;

/* Puts off an event still in stage MATCH or EXPAND: one more try, due again
 * at next_at_ms, note says why (no personal data). With give_up it is marked
 * done instead (nothing more will be tried; note says why). IDF_ESTATE when
 * it is not waiting in a stage. */
int store_event_retry(struct store *s, int64_t id, int64_t next_at_ms, const char *note, bool give_up,
                      struct idf_err *err) IDF_MUST_USE;

/* ----------------------------------------------------------------- runs */

struct store_run {
    int64_t id;
    char *workflow;
    int64_t version;
    int64_t event_id;
    char *status;        /* STORE_RUN_* */
    int pc;              /* index of the next step to execute */
    int item;            /* next foreach item index within step pc (0 when not in a foreach) */
    int attempt;         /* attempts already made of the current step/item */
    char *context;       /* engine state, JSON text; NULL for a fresh run and a succeeded one (issue 20) */
    char *event;         /* the event's data, JSON text */
    char *error;         /* final error message, or NULL */
    int64_t wake_at;     /* for waiting runs, 0 otherwise */
    int64_t created_at;
    int64_t updated_at;
    int64_t finished_at; /* 0 while not finished */
    int64_t rerun_of;    /* 0 unless started by a rerun */
    bool begun;          /* the claim marked it begun already (the first run a claim hands out: its
                            owner executes it at once), so store_run_begin is not needed */
    int interrupted;     /* times in a row the run was taken from a dead owner without a step commit
                          * moving it on (see the contract above) */
    /* issue 17, filled by store_run_get and store_run_list (NULL/0 otherwise): */
    char *source;        /* the event's source ("okta", "happyfox", "manual", "schedule", "cli") */
    char *via;           /* STORE_VIA_* or NULL (unknown) */
    char *actor;         /* who started it by hand, or NULL */
    char *trigger;       /* the event's type ("okta.user_locked", "manual") */
    char *connection;    /* the event's connection, or NULL */
    char *subject;       /* label of the run's first subject from its event (else from its steps), or NULL */
    int64_t rerun_as;    /* the newest run re-run from this one, 0 when none ("approvals-reruns") */
};

void store_run_free(struct store_run *r);

/* One workflow's claim policy, for store_run_claim: a cap on its running
 * runs and its priority. A workflow without an entry has no cap and
 * priority STORE_PRIORITY_NORMAL. */
struct store_cap {
    const char *workflow; /* borrowed for the call */
    int max;              /* 1..STORE_CAP_MAX runs "running" at once; 0: no cap */
    int priority;         /* STORE_PRIORITY_LOW..STORE_PRIORITY_HIGH; higher is claimed first */
};

#define STORE_CAP_MAX 1000    /* the largest cap */
#define STORE_PRIORITY_LOW (-1)
#define STORE_PRIORITY_NORMAL 0
#define STORE_PRIORITY_HIGH 1
#define STORE_CAPS_MAX 1024u  /* caps in one claim */

/* Claims up to max runnable runs for owner, with lease_until = now_ms +
 * lease_ms, in one transaction, in the fair order of the contract above
 * (out[0] first; it is the one marked begun). caps (n_caps entries sorted by
 * workflow name in strcmp order, each name once; NULL when n_caps is 0) give
 * the workflows' priorities and limit how many runs of a workflow are
 * running at once, counted inside the transaction (see the contract above):
 * a queued or due run of a workflow at its cap is left as it is and runs
 * behind it are claimed. IDF_EINVAL for bad caps (an empty or long name, max
 * out of 0..STORE_CAP_MAX, a priority out of its range, more than
 * STORE_CAPS_MAX, out of order or a name twice), nothing claimed.
 * *n_out may be 0. out is a caller array of max pointers; each claimed run
 * is freed by the caller. */
int store_run_claim(struct store *s, const char *owner, int64_t now_ms, int64_t lease_ms, size_t max,
                    const struct store_cap *caps, size_t n_caps, struct store_run **out, size_t *n_out,
                    struct idf_err *err) IDF_MUST_USE;

/* Claims one specific run (used by `idflow run` in the foreground) if it is
 * runnable now, like store_run_claim but without caps (an operator's explicit
 * run). *out NULL (and 0 returned) when it is not runnable (held by someone
 * else, waiting, or finished). */
int store_run_claim_id(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int64_t lease_ms,
                       struct store_run **out, struct idf_err *err) IDF_MUST_USE;

/* Extends the lease of a run the owner holds; IDF_ESTATE when lost. */
int store_run_renew(struct store *s, int64_t run_id, const char *owner, int64_t lease_until) IDF_MUST_USE;

/* The owner begins executing a run it claimed: extends the lease like
 * store_run_renew and marks the run begun, so that if the owner dies before
 * the run leaves "running", the takeover counts an interruption (see the
 * contract above). IDF_ESTATE when the lease is lost. */
int store_run_begin(struct store *s, int64_t run_id, const char *owner, int64_t lease_until) IDF_MUST_USE;

/* Puts every run leased by owner, or by an owner "owner/<anything>" (a
 * node's workers are "<node>/w<N>"), back to "queued" (attempt and
 * interrupted + 1): used at start-up by a node that restarts under the same
 * node id. *n_out: how many. Such a run whose cancellation was asked ends
 * cancelled instead, and is not counted. */
int store_release_leases(struct store *s, const char *owner, int64_t *n_out) IDF_MUST_USE;

/* Earliest wake_at among waiting runs, or 0 when none (for timer sleeps). */
int store_next_wake(struct store *s, int64_t *wake_at_out) IDF_MUST_USE;

struct store_step_rec {
    int index;           /* the step's position in the workflow */
    const char *step_id;
    int item;            /* foreach item index; -1 for a plain step */
    const char *status;  /* STORE_STEP_* */
    int attempts;
    const char *input;   /* JSON text (redacted) or NULL */
    const char *output;  /* JSON text or NULL */
    const char *error;   /* JSON text {message, detail?} or NULL */
    int64_t started_at;
    int64_t finished_at; /* 0 when not finished */
    /* issue 17 ("subjects"): */
    const char *change;  /* what the step changed, for a person ("suspended", "removed from Finance"),
                            or NULL when it changed nothing */
    const struct store_subject *subjects; /* resolved or changed by the step (step_id = this step's),
                                             added to the run's subjects; may be 0 */
    size_t n_subjects;
    const char *result;  /* foreach item (item >= 0) whose outcome this is: what it adds to the step's
                          * outputs array (JSON text, not redacted, never listed), saved with the
                          * item's stored value (store_foreach_begin); NULL: no outcome yet */
};

struct store_run_next {
    const char *status;   /* STORE_RUN_*: "running" keeps the lease, any other releases it */
    int pc;
    int item;
    int attempt;
    const char *context;  /* JSON text; NULL keeps the stored one; "succeeded" stores none (issue 20) */
    int64_t wake_at;      /* for "waiting" (0 = wait without a deadline) */
    const char *error;    /* for "failed"/"cancelled": the run's error message */
    const char *approval_step_id; /* non-NULL: open a pending approval for this step */
    const char *approval_message; /* shown to approvers; may be NULL */
    const char *hold;             /* with status "held" and approval_step_id (issue 19): the approval opened is a
                                     guardrail hold of this connection (store_approval.hold, store_guard_held) */
    bool foreach_clear;   /* the run leaves its foreach step: delete its stored items and results */
    int64_t begin_run;    /* 0, or another run the same owner holds and executes next: marked begun
                             (as store_run_begin, lease until begin_lease_until) in the same
                             transaction, so starting it costs no transaction of its own; nothing
                             happens when the owner no longer holds it */
    int64_t begin_lease_until;
};

/* Upserts the step record (keyed by run, index, item) if step != NULL, and
 * updates the run to next, in one transaction, only while owner holds the
 * lease (IDF_ESTATE otherwise). updated_at/finished_at are set from now_ms.
 * When a cancellation was asked (store_run_stop) and next is not a
 * final state, the run becomes "cancelled" instead (no approval is opened)
 * and the call returns IDF_ECANCELLED: everything was written, and the
 * caller must stop executing the run.
 * In the same transaction: step->result is saved on the stored foreach item
 * (IDF_ESTATE when that item was not begun), and next->foreach_clear deletes
 * the run's stored foreach items. */
int store_step_commit(struct store *s, int64_t run_id, const char *owner, int64_t now_ms,
                      const struct store_step_rec *step, const struct store_run_next *next,
                      struct idf_err *err) IDF_MUST_USE;

int store_run_get(struct store *s, int64_t id, struct store_run **out) IDF_MUST_USE;

struct store_run_filter {
    const char *status;   /* NULL: any */
    const char *workflow; /* NULL: any */
    int64_t before_id;    /* 0: from the newest; else only ids < before_id */
    int limit;            /* 0: 50; capped at STORE_LIST_MAX */
    /* issue 17 ("subjects"): */
    const char *subject;  /* NULL: any; else a key (normalized by subject_key) one of its subjects has */
    const char *source;   /* NULL: any; else the event's source, or "source/via" ("okta/poll") */
    int64_t since;        /* 0: any; else created_at >= since (ms) */
    int64_t until;        /* 0: any; else created_at < until (ms) */
};

/* Runs newest first: *rows_out an array of *n_out runs (NULL when 0) with
 * id, workflow, version, event_id, status, pc, error, created_at,
 * updated_at, finished_at and rerun_of set; the rest is 0/NULL (no context
 * or event, to keep lists light). Caller frees with store_run_list_free. */
int store_run_list(struct store *s, const struct store_run_filter *f, struct store_run **rows_out,
                   size_t *n_out) IDF_MUST_USE;
void store_run_list_free(struct store_run *rows, size_t n);

/* One step record read back (the owned counterpart of struct
 * store_step_rec, without the foreach result, which is never listed). */
struct store_step {
    int index;
    char *step_id;
    int item;            /* foreach item index; -1 for a plain step */
    char *status;        /* STORE_STEP_* */
    int attempts;
    char *input;         /* JSON text as stored (redacted), or NULL */
    char *output;        /* JSON text, or NULL */
    char *error;         /* JSON text {message, detail?}, or NULL */
    int64_t started_at;
    int64_t finished_at; /* 0 when not finished */
    char *change;        /* what it changed, for a person, or NULL (issue 17) */
};

/* Step records of a run in (index, item) order: *rows_out an array of
 * *n_out records (NULL when 0), caller frees with store_step_list_free. */
int store_step_list(struct store *s, int64_t run_id, struct store_step **rows_out, size_t *n_out) IDF_MUST_USE;
void store_step_list_free(struct store_step *rows, size_t n);

/* ---- subjects: reads (issue 17: "subjects") ---- */

/* How many runs match f (its before_id and limit are ignored): *n_out. */
int store_run_count(struct store *s, const struct store_run_filter *f, int64_t *n_out) IDF_MUST_USE;

/* One subject key of a run, read back (struct store_subject, owned). */
struct store_run_subject {
    char *kind;
    char *key;
    char *label;
    char *step_id; /* NULL: from the event */
};

/* The subjects of a run, event's first then by step: *rows_out an array of
 * *n_out rows (NULL when 0), caller frees with store_run_subject_list_free. */
int store_run_subjects(struct store *s, int64_t run_id, struct store_run_subject **rows_out,
                       size_t *n_out) IDF_MUST_USE;
void store_run_subject_list_free(struct store_run_subject *rows, size_t n);

/* What a run changed: one of its step records with a change. */
struct store_change {
    int64_t run_id;
    char *step_id;
    int item;            /* foreach item index; -1 for a plain step */
    char *change;        /* "suspended", "removed from Finance" */
    int64_t finished_at;
};

/* The changes of the n runs run_ids (at most STORE_LIST_MAX), by run id
 * then (index, item): *rows_out an array of *n_out rows (NULL when 0),
 * caller frees with store_change_list_free. */
int store_run_changes(struct store *s, const int64_t *run_ids, size_t n, struct store_change **rows_out,
                      size_t *n_out) IDF_MUST_USE;
void store_change_list_free(struct store_change *rows, size_t n);
/* (end of "subjects": reads) */

/* How many runs are in each status. */
struct store_run_counts {
    int64_t queued, running, waiting, succeeded, failed, cancelled, held;
};

/* Counts of runs by status into *out (every field set). */
int store_run_counts(struct store *s, struct store_run_counts *out) IDF_MUST_USE;

/* Starts a new queued run from a failed or cancelled run: same workflow,
 * version and event, pc/item/context copied (so outputs of succeeded steps
 * are kept), attempt 0, rerun_of set; step records with index < pc are copied
 * with status "reused", and the stored items and results of the foreach step
 * it stopped in are copied (so it resumes at the same item with the outputs
 * of the items before). An audit record by actor ("run.rerun", target
 * "run:<id>", detail {new_run, forced?}) is written in the same transaction.
 * IDF_ESTATE when the run is not failed/cancelled.
 * Unless force (issue 17, "approvals-reruns"), checked inside the same
 * transaction, so that of two concurrent re-runs of one run only one
 * succeeds: IDF_EEXIST when the run was re-run already (*new_id_out is then
 * the newest re-run's id, and err names it); IDF_ESTATE when the run ended
 * because an approval was rejected (a re-run would ask the approvers again;
 * err names the decider). Nothing is written when refused. */
int store_run_rerun(struct store *s, int64_t run_id, int64_t now_ms, const char *actor, bool force,
                    int64_t *new_id_out, struct idf_err *err) IDF_MUST_USE;

/* Stops a run, in one transaction: a queued or waiting run is cancelled at
 * once (as store_run_cancel; *pending_out false); a running one is asked to
 * stop (*pending_out true): its worker's next store_step_commit records the
 * step as given, then ends the run as cancelled with `reason` as its error
 * instead of moving it on, and returns IDF_ECANCELLED; if that worker's
 * process died, the next claim or lease release ends it cancelled without
 * handing it out (see the contract above). IDF_ESTATE when the
 * run has finished, IDF_ENOTFOUND when there is none. Either way an audit
 * record by actor ("run.cancel", target "run:<id>") is written in the same
 * transaction. */
int store_run_stop(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, const char *actor,
                   bool *pending_out, struct idf_err *err) IDF_MUST_USE;
/* Cancels a queued or waiting run (IDF_ESTATE otherwise). */
int store_run_cancel(struct store *s, int64_t run_id, const char *reason, int64_t now_ms,
                     struct idf_err *err) IDF_MUST_USE;

/* ------------------------------------------------------------ approvals */

#define STORE_COMMENT_MAX 4096u /* an approval decision's comment, in bytes (issue 17) */

/* Decides the pending approval of a waiting run and makes the run runnable
 * (status "queued") in one transaction; the audit record ("approval.approve"
 * / "approval.reject") has the detail {step, comment?}. IDF_ENOTFOUND: no
 * such run or no approval; IDF_ESTATE: already decided, the run is not
 * waiting, or what is pending is a guardrail hold (store_guard_decide);
 * IDF_ETOOBIG: comment over STORE_COMMENT_MAX bytes. */
int store_approval_decide(struct store *s, int64_t run_id, bool approve, const char *actor,
                          const char *comment, int64_t now_ms, struct idf_err *err) IDF_MUST_USE;

/* The same for the guardrail hold of a held run (issue 19): released
 * (release true) or rejected, the run is queued again (a rejected one then
 * fails its step); the audit record is "guardrail.release" /
 * "guardrail.reject" with {step, comment?, connection}. IDF_ESTATE when the
 * run is not held at a guardrail (an approval step is decided by
 * store_approval_decide). */
int store_guard_decide(struct store *s, int64_t run_id, bool release, const char *actor, const char *comment,
                       int64_t now_ms, struct idf_err *err) IDF_MUST_USE;

/* The approval of (run, step): *status_out "pending" | "approved" | "rejected"
 * (caller frees), *actor_out the decider or NULL. IDF_ENOTFOUND when none. */
int store_approval_get(struct store *s, int64_t run_id, const char *step_id, char **status_out,
                       char **actor_out) IDF_MUST_USE;

/* A pending approval (store_approval_list), or any approval of one run
 * (store_run_approvals). */
struct store_approval {
    int64_t run_id;
    char *step_id;
    char *workflow;     /* the run's */
    char *message;      /* shown to approvers, or NULL */
    int64_t created_at;
    /* issue 17 ("approvals-reruns"), filled by store_run_approvals only (NULL/0 in the pending list): */
    char *status;       /* "pending" | "approved" | "rejected" */
    char *actor;        /* the decider, or NULL while pending */
    char *comment;      /* the decider's comment, or NULL */
    int64_t decided_at; /* 0 while pending */
    char *hold;         /* issue 19: a guardrail hold of this connection (the run is "held"), or NULL for an
                           approval step */
};

/* Pending approvals of waiting runs and pending holds of held runs (hold
 * set), oldest first (at most STORE_LIST_MAX):
 * *rows_out an array of *n_out rows (NULL when 0), caller frees with
 * store_approval_list_free. */
int store_approval_list(struct store *s, struct store_approval **rows_out, size_t *n_out) IDF_MUST_USE;
void store_approval_list_free(struct store_approval *rows, size_t n);

/* Every approval of one run (pending or decided), oldest first, with its
 * decision (issue 17, "approvals-reruns"): *rows_out an array of *n_out rows
 * (NULL when 0; none for a run that does not exist), caller frees with
 * store_approval_list_free. */
int store_run_approvals(struct store *s, int64_t run_id, struct store_approval **rows_out,
                        size_t *n_out) IDF_MUST_USE;

/* How many runs are held at the guardrail of connection (issue 19: a
 * pending hold, store_run_next.hold, of a run still "held") into *n_out.
 * While there is one, every destructive step on that connection is held
 * too. IDF_EINVAL for a NULL or empty connection. */
int store_guard_held(struct store *s, const char *connection, int64_t *n_out) IDF_MUST_USE;

/* -------------------------------------------------------- cursors, audit */

/* Poller checkpoints and other small durable values. get: IDF_ENOTFOUND when unset. */
int store_cursor_get(struct store *s, const char *name, char **value_out) IDF_MUST_USE;
int store_cursor_set(struct store *s, const char *name, const char *value) IDF_MUST_USE;

/* Appends an audit record; detail is JSON text or NULL. */
int store_audit_add(struct store *s, const char *actor, const char *action, const char *target,
                    const char *detail) IDF_MUST_USE;
/* One audit record (store_audit_list). */
struct store_audit {
    int64_t id;
    int64_t at;
    char *actor;
    char *action;
    char *target; /* or NULL */
    char *detail; /* JSON text, or NULL */
};

/* The newest limit records (0: 50; capped at STORE_LIST_MAX), newest first:
 * *rows_out an array of *n_out rows (NULL when 0), caller frees with
 * store_audit_list_free. */
int store_audit_list(struct store *s, int limit, struct store_audit **rows_out, size_t *n_out) IDF_MUST_USE;
void store_audit_list_free(struct store_audit *rows, size_t n);

/* ---------------------------------------------------------- connections */

/* Creates or replaces connection `name`: kind (the connector's name), config
 * (JSON text of the NON-secret fields) and the sealed secret blob (may be
 * NULL with sealed_len 0; the store never sees plaintext secrets). Appends an
 * audit record by actor ("connection.create" or "connection.update", target
 * "connection:<name>") in the same transaction. updated_at strictly increases
 * on every put, so readers can cache by it. *created_out (may be NULL) tells
 * whether the connection is new. */
int store_connection_put(struct store *s, const char *name, const char *kind, const char *config,
                         const unsigned char *sealed, size_t sealed_len, const char *actor, bool *created_out,
                         struct idf_err *err) IDF_MUST_USE;

/* Reads connection `name`: *kind_out and *config_out (caller frees), the
 * sealed blob (caller frees; NULL and 0 when none), *updated_at_out (may be
 * NULL). IDF_ENOTFOUND when there is none. */
int store_connection_get(struct store *s, const char *name, char **kind_out, char **config_out,
                         unsigned char **sealed_out, size_t *sealed_len_out, int64_t *updated_at_out) IDF_MUST_USE;

/* A connection as listed: never its sealed secret. */
struct store_connection_info {
    char *name;
    char *kind;   /* the connector's name */
    char *config; /* JSON text of the non-secret fields */
    int64_t created_at;
    int64_t updated_at;
};

/* Every connection by name: *rows_out an array of *n_out rows (NULL when
 * 0), caller frees with store_connection_list_free. */
int store_connection_list(struct store *s, struct store_connection_info **rows_out, size_t *n_out) IDF_MUST_USE;
void store_connection_list_free(struct store_connection_info *rows, size_t n);

/* Deletes connection `name` with an audit record by actor
 * ("connection.delete", target "connection:<name>") in one transaction. IDF_ENOTFOUND when there is none. */
int store_connection_delete(struct store *s, const char *name, const char *actor, struct idf_err *err) IDF_MUST_USE;

/* ------------------------------------------------------------ API tokens */

/* One API token as the store knows it: never the token itself, only its
 * hash (crypto/token.h). expires_at and last_used_at are 0 when unset. */
struct store_token {
    int64_t id;
    char *name;
    char *role;   /* "viewer" | "approver" | "operator" | "admin" */
    char *prefix; /* the token's first characters, for listings */
    int64_t created_at, expires_at, last_used_at;
    char *created_by; /* the actor that created it (store_token_list only; NULL from lookup) */
};

/* Stores a new token (name unique: IDF_EEXIST when taken) with an audit
 * record by actor ("token.create", target "token:<name>", detail {role,
 * expires_at}) in the same transaction. *id_out may be NULL. */
int store_token_create(struct store *s, const char *name, const char *role, const char *hash, const char *prefix,
                       int64_t expires_at, const char *actor, int64_t *id_out, struct idf_err *err) IDF_MUST_USE;

/* The unexpired token whose hash is `hash` (caller frees with
 * store_token_free). IDF_ENOTFOUND when there is none or it expired at or
 * before now_ms. Sets last_used_at to now_ms when it is older than
 * STORE_TOKEN_TOUCH_MS (so a busy client costs one write a minute). */
int store_token_lookup(struct store *s, const char *hash, int64_t now_ms, struct store_token **out) IDF_MUST_USE;
#define STORE_TOKEN_TOUCH_MS 60000

/* Every token by name, expired ones included (expires_at tells; whether a
 * token has expired is the reader's question, at its own now): *rows_out an
 * array of *n_out rows (NULL when 0), never a hash; caller frees with
 * store_token_list_free. */
int store_token_list(struct store *s, struct store_token **rows_out, size_t *n_out) IDF_MUST_USE;
void store_token_list_free(struct store_token *rows, size_t n);

/* Deletes token `name` with an audit record by actor ("token.revoke",
 * target "token:<name>") in one transaction. IDF_ENOTFOUND when none.
 * Revoking the last unexpired admin token is refused (IDF_ESTATE, nothing
 * changes) unless force: without one, no API caller can manage tokens any
 * more (the API stays closed: store_initialized), and only the CLI on the
 * store can make a new one. */
int store_token_revoke(struct store *s, const char *name, const char *actor, bool force,
                       struct idf_err *err) IDF_MUST_USE;

/* Whether the API of this store was initialized: the first API token
 * (store_token_create sets the mark in its transaction) or store_initialize
 * did it. The mark is permanent: from then on every API request needs a
 * valid token, whatever happens to the tokens (api/auth.c). */
int store_initialized(struct store *s, bool *out) IDF_MUST_USE;

/* Sets the mark (an audit record "api.initialize" by actor, in the same
 * transaction); a store already initialized is left as it is (*changed_out
 * false; may be NULL). */
int store_initialize(struct store *s, const char *actor, bool *changed_out, struct idf_err *err) IDF_MUST_USE;

void store_token_free(struct store_token *t);

/* ---------------------------------------------------------- named leases */
/* (helper "singleton": one node at a time for a poller, the schedule
 * ticker, a node id; docs/internals/store.md, "Named leases")
 *
 * A named lease is a row (name, owner, until, taken_at): `owner` holds
 * `name` until `until` (ms). It is how the nodes sharing one database agree
 * that one of them, and only one, does something: the lease is taken in one
 * transaction (PostgreSQL: one INSERT ... ON CONFLICT statement), so of
 * several connections or nodes taking a free lease at once exactly one gets
 * it. A holder that stops renewing (it died) loses the lease when `until`
 * passes: the next taker gets it. Times are the caller's (now_ms), like the
 * run leases', so the nodes' clocks must agree to well within a ttl. */

#define STORE_LEASE_TTL_MAX (24LL * 3600 * 1000) /* the longest ttl_ms: one day */

/* Takes lease `name` for owner until now_ms + ttl_ms (1 <= ttl_ms <=
 * STORE_LEASE_TTL_MAX, now_ms >= 0) when it is free, expired (until <=
 * now_ms) or already owner's (a renewal: until moves, taken_at stays), in
 * one transaction. *held_out: whether owner holds it now. *holder_out (may
 * be NULL; caller frees): the owner holding it after the call (owner's own
 * name when held; NULL when nobody does, which happens only when the lease
 * was dropped between the two reads of a lost race). Names and owners are
 * 1..256 bytes. IDF_EINVAL for bad input (nothing written); on failure
 * *held_out is false and *holder_out NULL. */
int store_lease_take(struct store *s, const char *name, const char *owner, int64_t now_ms, int64_t ttl_ms,
                     bool *held_out, char **holder_out) IDF_MUST_USE;

/* Drops lease `name` when owner holds it (expired or not), so that another
 * taker gets it at once (a node stopping cleanly). 0 when dropped or when
 * there is no such lease; IDF_ESTATE, nothing changed, when another owner
 * holds it. */
int store_lease_drop(struct store *s, const char *name, const char *owner) IDF_MUST_USE;

/* Reads lease `name`: its owner (*owner_out, caller frees; may be NULL) and
 * until (*until_out, may be NULL), expired or not. IDF_ENOTFOUND when there
 * is no such lease. */
int store_lease_get(struct store *s, const char *name, char **owner_out, int64_t *until_out) IDF_MUST_USE;
/* (end of "singleton") */

/* ------------------------------------------------------------ retention */

/* Deletes finished runs (and their steps) finished before before_ms, and
 * events no run refers to any more. *n_out: runs deleted. */
int store_prune(struct store *s, int64_t before_ms, int64_t *n_out) IDF_MUST_USE;

/* --------------------------------------------------------- foreach state */

/* The items of the foreach step a run is in, stored once when the step
 * begins, and each item's result (store_step_rec.result, saved by the item's
 * step commit), so an item's commit writes that item's data only, never the
 * whole list (docs/internals/engine.md, "Foreach state"). At most one foreach
 * step of a run has stored items: the one it is in. They are run state, not
 * history: store_step_list never shows them; store_run_rerun copies them;
 * next->foreach_clear (when the step ends) and deleting the run remove them. */

#define STORE_FOREACH_MAX 1000000 /* items one foreach step may have */

/* Begins foreach step `index` of a run owner leases: stores items[0..n)
 * (JSON texts, 1 <= n <= STORE_FOREACH_MAX) in place of any stored before,
 * with results[0..n_results) (n_results <= n; may be 0 and NULL) as the
 * results of the first items, and moves the run to next, in one
 * transaction, only while owner holds the lease (IDF_ESTATE otherwise). */
int store_foreach_begin(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int index,
                        const char *const *items, size_t n, const char *const *results, size_t n_results,
                        const struct store_run_next *next, struct idf_err *err) IDF_MUST_USE;

/* The stored value of item `item` of foreach step `index`, as JSON text in
 * *item_out (caller frees). IDF_ENOTFOUND when there is none. */
int store_foreach_item(struct store *s, int64_t run_id, int index, int item, char **item_out) IDF_MUST_USE;

/* The outputs array of foreach step `index`: JSON text "[r0,r1,...]" of the
 * stored results in item order, null for an item without one ("[]" when
 * nothing is stored), in *json_out (caller frees). IDF_ETOOBIG when it would
 * be longer than a JSON text the store accepts (16 MiB). */
int store_foreach_outputs(struct store *s, int64_t run_id, int index, char **json_out) IDF_MUST_USE;

/* ------------------------------------------- wake-ups across connections
 * (helper "notify": LISTEN/NOTIFY; src/store/store_notify.c,
 * postgres_notify.c; docs/internals/store.md, "Wake-ups")
 *
 * A hint, never a record: a notification tells the connections listening
 * on the database that something changed ("work appeared"), and carries
 * nothing else. Whatever it announces is in the tables already (it is sent
 * after the writing transaction committed) and is found there by a claim or
 * a read; a notification lost (a listener reconnecting, a server restart)
 * costs whoever waited for it one poll interval, never data.
 *
 * PostgreSQL: NOTIFY / LISTEN on the whole database (every schema's
 * listeners hear a channel). SQLite: store_notify succeeds and does
 * nothing, store_listen and store_wait answer IDF_ENOTSUP (one process
 * uses a SQLite file in practice; it wakes its own threads in memory). */
#define STORE_CHANNEL_WORK "idflow_work" /* runs became runnable: idle workers look */
#define STORE_CHANNEL_MAX 63u            /* bytes of a channel name (PostgreSQL's identifier length) */

/* True when a connection to url can listen (store_listen): a PostgreSQL URL. */
bool store_url_listens(const char *url);

/* Tells every connection listening on channel (lower-case letters, digits
 * and '_', 1..STORE_CHANNEL_MAX bytes; IDF_EINVAL otherwise) that something
 * changed. Runs on its own, outside any transaction (no store_* call leaves
 * one open), so it is sent once the caller's earlier writes committed; on
 * PostgreSQL it is one statement, `SELECT pg_notify(channel, '')` in its
 * own transaction, committed without waiting for the WAL flush (a
 * notification carries no data: docs/internals/store.md says why its
 * commit must stay short). Several notifications of one channel sent close
 * together may reach a listener as one. SQLite: 0, nothing sent. */
int store_notify(struct store *s, const char *channel) IDF_MUST_USE;

/* Makes this connection listen on channel (checked as for store_notify):
 * store_wait then reports the notifications sent on it by OTHER
 * connections, committed after this returned. A connection that listens
 * should do nothing else but store_notify and store_wait (notifications
 * arriving during other calls are kept for the next store_wait).
 * IDF_ENOTSUP on SQLite; IDF_EDB when the connection is gone. */
int store_listen(struct store *s, const char *channel) IDF_MUST_USE;

/* Waits on a listening connection until a notification sent by another
 * connection arrives (*woken_out true: every notification already there is
 * consumed with it, so many become one wake-up), timeout_ms (>= 0) passes,
 * or wake_fd (-1: none) becomes readable (*woken_out false; the caller
 * reads wake_fd: it is how another thread interrupts the wait). The
 * connection's own notifications never wake it. 0 in those three cases;
 * IDF_EDB when the connection broke (the caller closes it and opens
 * another: the notifications sent meanwhile are lost), IDF_ENOTSUP on
 * SQLite. (A connection that does not listen only times out or sees
 * wake_fd.) */
int store_wait(struct store *s, int64_t timeout_ms, int wake_fd, bool *woken_out) IDF_MUST_USE;
/* ----------------------------------------- end of helper "notify"'s block */

/* ------------------------------------------------------- pacing windows */
/* (helper "pacing": budgets that hold across the nodes of one database;
 * docs/internals/store.md, "Pacing windows")
 *
 * A window is a sliding count of sends under a key (a remote account's
 * budget, "happyfox:https://acme.happyfox.com|GET"): store_window_take
 * admits a send when fewer than `limit` were recorded in the last window_ms
 * and records it, in one transaction that locks the key first (PostgreSQL:
 * the key's row, FOR UPDATE through an upsert), so connections and nodes
 * taking from one key at once never admit more than limit in any window. A
 * key may be blocked until a time (the remote locked the account out after
 * a 429): every take waits until then. Times are the caller's (now_ms, wall
 * clock), as for leases: the nodes' clocks must agree to well within the
 * margin the caller keeps. The rows are pacing state, not history: the
 * PostgreSQL tables are UNLOGGED and commit without waiting for the WAL
 * flush (a database crash forgets them; the remote's own window has moved
 * on by the time it is back). */

#define STORE_WINDOW_LIMIT_MAX 100000             /* the largest limit of one window */
#define STORE_WINDOW_MS_MAX (24LL * 3600 * 1000) /* the longest window, and the longest block */

/* Asks for one send under key at now_ms (key 1..256 bytes, 1 <= limit <=
 * STORE_WINDOW_LIMIT_MAX, 1 <= window_ms <= STORE_WINDOW_MS_MAX, now_ms >=
 * 0). *wait_ms_out 0: the send is admitted and recorded at now_ms. Else
 * nothing was recorded and *wait_ms_out (>= 1) is how long until a take
 * could be admitted: until the block ends, or until the limit-th newest
 * send of the window leaves it (sends at or before now_ms - window_ms have
 * left; they are deleted by the next admitted take). IDF_EINVAL for bad
 * input (nothing written, *wait_ms_out 0). */
int store_window_take(struct store *s, const char *key, int limit, int64_t window_ms, int64_t now_ms,
                      int64_t *wait_ms_out) IDF_MUST_USE;

/* Blocks key until until_ms (a later block extends it, an earlier one
 * changes nothing): takes before then wait. IDF_EINVAL for a bad key or
 * until_ms < 0. */
int store_window_block(struct store *s, const char *key, int64_t until_ms) IDF_MUST_USE;

/* How many named leases (store_lease_take) whose name begins with prefix
 * (1..256 bytes) are unexpired (until > now_ms) into *n_out: the live nodes
 * are the "node:" leases. IDF_EINVAL for bad input. */
int store_lease_count(struct store *s, const char *prefix, int64_t now_ms, int *n_out) IDF_MUST_USE;
/* (end of "pacing") */

/* ------------------------------------------------ replay (issue 19) */
/* What `idflow replay` reads (src/cli/replay.c): the events of a window and
 * the runs each started. Reads only: nothing is written. */

/* The events received at or after since_ms whose id is above after_id,
 * oldest first (by id), at most limit (1..STORE_LIST_MAX; IDF_EINVAL
 * otherwise): *rows_out an array of *n_out events (NULL when 0) with every
 * field store_event_get fills, deliveries waiting to be expanded included
 * (their stage tells). Caller frees with store_event_list_free. Paging:
 * the next call's after_id is the last row's id. No index serves
 * received_at: a backend may scan the events older than the window once
 * (docs/internals/store.md, "Replay reads"). */
int store_event_list(struct store *s, int64_t since_ms, int64_t after_id, int limit, struct store_event **rows_out,
                     size_t *n_out) IDF_MUST_USE;
void store_event_list_free(struct store_event *rows, size_t n);

/* The runs of workflow `workflow` whose event is event_id (re-runs
 * included), oldest first, at most STORE_LIST_MAX: *rows_out an array of
 * *n_out runs (NULL when 0) with id, workflow, version, event_id, status,
 * error, created_at, finished_at and rerun_of set (the rest 0/NULL).
 * Caller frees with store_run_list_free. */
int store_event_runs(struct store *s, int64_t event_id, const char *workflow, struct store_run **rows_out,
                     size_t *n_out) IDF_MUST_USE;
/* (end of "replay") */

#endif

/* sqlite_internal.h — shared internals of the SQLite backend (sqlite*.c,
 * migrations.c). Private to src/store/.
 *
 * struct store__sq is one SQLite connection. Invariants:
 *  - base is first, so a struct store * of this backend casts to it;
 *  - stmts[k] is NULL or a statement prepared on db for slot k, reset and
 *    unbound whenever no call is in progress (store__sq_prep hands it out
 *    reset; callers never keep it across calls);
 *  - sync is the connection's current PRAGMA synchronous level (SQ_SYNC_*),
 *    changed only between transactions by store__sq_begin;
 *  - in_tx is true between a successful store__sq_begin and the matching
 *    commit or rollback;
 *  - opener is the thread that opened the connection: the only one that runs
 *    its statements (store.h, "Transactions and threads").
 * The store__sq_check_* functions below check these rules (and the others of
 * store.h) with IDF_INVARIANT: sqlite.c calls them where each rule applies,
 * and they compile to nothing unless IDF_INVARIANTS is defined (make asan). */
#ifndef IDF_STORE_SQLITE_INTERNAL_H
#define IDF_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "core/invariant.h"
#include "store/store_internal.h"

#define STORE__SQ_BUSY_MS 5000        /* how long a statement waits for another writer */
#define STORE__SQ_CACHE_KIB "-16384"  /* page cache per connection: 16 MiB (negative = KiB) */
#define STORE__SQ_WAL_KEEP "67108864" /* bytes of WAL file kept after a checkpoint: 64 MiB */

/* Every cached statement has a slot. The SQL text is written where it is
 * used and passed to store__sq_prep, which prepares it on first use. */
enum store__sq_slot {
    SQ_BEGIN,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_SYNC_FULL_STMT,
    SQ_SYNC_NORMAL_STMT,
    SQ_SP_BEGIN, /* the savepoints of combined transactions (store__sq_combine) */
    SQ_SP_RELEASE,
    SQ_SP_ROLLBACK,
    /* migrations.c */
    SQ_SCHEMA_VERSION,
    /* sqlite_events.c */
    SQ_WF_NEWEST,
    SQ_WF_INSERT,
    SQ_WF_STATE_INSERT,
    SQ_WF_SOURCE,
    SQ_WF_SET_ENABLED,
    SQ_WF_LIST,
    SQ_WF_LAST_RUNS, /* (helper "inputs") */
    SQ_EV_INSERT,
    SQ_EV_FIND,
    SQ_RUN_INSERT,
    SQ_EV_GET,
    SQ_EV_PENDING,
    SQ_EV_SETTLE,
    SQ_EV_RETRY,
    SQ_CURSOR_GET,
    SQ_CURSOR_SET,
    SQ_AUDIT_ADD,
    SQ_AUDIT_LIST,
    /* sqlite_runs.c */
    SQ_CLAIM_EXPIRED,
    SQ_CLAIM_SET,
    SQ_RUN_GET,
    SQ_RENEW,
    SQ_CLAIM_ID,
    SQ_RELEASE,
    SQ_NEXT_WAKE,
    SQ_LEASE_CHECK,
    SQ_STEP_UPSERT,
    SQ_RUN_ADVANCE,
    SQ_APPROVAL_OPEN,
    SQ_RUN_COUNTS,
    SQ_STEP_LIST,
    SQ_CANCEL_REQUESTED,
    /* sqlite_caps.c */
    SQ_CAP_RUNNING,
    SQ_CAP_QUEUED_NEXT,
    SQ_CAP_QUEUED,
    SQ_CAP_DUE_NEXT,
    SQ_CAP_DUE,
    SQ_CLAIM_CANCELLED, /* poison runs: a dead owner's run whose cancellation was asked */
    SQ_RELEASE_CANCELLED,
    SQ_RUN_BEGIN,
    /* sqlite_admin.c */
    SQ_RUN_STATE,
    SQ_RERUN_INSERT,
    SQ_RERUN_STEPS,
    SQ_CANCEL,
    SQ_APPROVAL_PENDING,
    SQ_APPROVAL_ANY,
    SQ_APPROVAL_SET,
    SQ_RUN_REQUEUE,
    SQ_APPROVAL_GET,
    SQ_APPROVAL_LIST,
    SQ_GUARD_HELD, /* issue 19 */
    SQ_PRUNE_RUNS,
    SQ_PRUNE_EVENTS,
    SQ_EVENTS_MAX_ID,
    SQ_RERUN_PREV, /* issue 17 ("approvals-reruns") */
    SQ_RERUN_REJECTED,
    SQ_RUN_APPROVALS,
    /* sqlite_conn.c */
    SQ_CONN_EXISTS,
    SQ_CONN_PUT,
    SQ_CONN_GET,
    SQ_CONN_LIST,
    /* sqlite_tokens.c */
    SQ_TOKEN_LOOKUP,
    SQ_TOKEN_TOUCH,
    SQ_TOKEN_LIST,
    SQ_INITIALIZED,
    /* sqlite_foreach.c */
    SQ_FE_CLEAR,
    SQ_FE_INSERT,
    SQ_FE_RESULT,
    SQ_FE_COPY,
    SQ_FE_ITEM,
    SQ_FE_OUTPUTS,
    /* sqlite_leases.c (helper "singleton") */
    SQ_NLEASE_READ,
    SQ_NLEASE_PUT,
    SQ_NLEASE_DROP,
    /* sqlite_pace.c (helper "pacing") */
    SQ_PACE_BLOCKED,
    SQ_PACE_NTH,
    SQ_PACE_PRUNE,
    SQ_PACE_INSERT,
    SQ_PACE_BLOCK,
    SQ_PACE_LEASES,
    /* (end of "pacing") */
    /* issue 17, "subjects" (sqlite_subjects.c) */
    SQ_SUBJ_INSERT,
    SQ_SUBJ_COPY,
    SQ_SUBJ_LIST,
    SQ_RUN_EXTRA,
    SQ_CHANGE_LIST,
    /* replay (issue 19, sqlite_replay.c) */
    SQ_REPLAY_EVENTS,
    SQ_REPLAY_RUNS,

    SQ__COUNT
};

/* The audit insert, shared by store_audit_add and the writes that audit
 * themselves (slot SQ_AUDIT_ADD): ?1 at, ?2 actor, ?3 action, ?4 target, ?5 detail. */
#define SQ_SQL_AUDIT_ADD "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)"


enum store__sq_sync { SQ_SYNC_NORMAL = 1, SQ_SYNC_FULL = 2 };

/* One SQLite connection and its prepared-statement cache (slots above). */
struct store__sq_link {
    sqlite3 *db;
    sqlite3_stmt *stmts[SQ__COUNT];
    enum store__sq_sync sync; /* its current PRAGMA synchronous */
};

/* Opens fname (":memory:" when memory) with the pragmas every connection
 * has: WAL, foreign keys, busy timeout, cache size, synchronous NORMAL. On
 * failure l->db may be set: close with store__sq_close_link. */
int store__sq_open_link(const char *fname, bool memory, struct store__sq_link *l, struct idf_err *err) IDF_MUST_USE;
void store__sq_close_link(struct store__sq_link *l);

/* The writer gate (sqlite_gate.c): this process's write transactions on one
 * database file queue in it, first come first served, and run on its one
 * writer connection, whose page cache therefore stays valid from one
 * transaction to the next. open: the gate of the file at path, shared and
 * reference counted, with its writer opened on first use; enter: waits for
 * the writer's turn, false after timeout_ms (its place given up); writer:
 * the connection the holder writes through; leave: hands the turn to the
 * oldest waiter. */
struct store__sq_gate;
int store__sq_gate_open(const char *path, struct store__sq_gate **out, struct idf_err *err) IDF_MUST_USE;
void store__sq_gate_close(struct store__sq_gate *g);
bool store__sq_gate_enter(struct store__sq_gate *g, int64_t timeout_ms) IDF_MUST_USE;
struct store__sq_link *store__sq_gate_writer(struct store__sq_gate *g);
void store__sq_gate_leave(struct store__sq_gate *g);

/* Combined transactions (store__sq_combine, sqlite.c): a write whose whole
 * transaction is data (its arguments) rather than code waits in the gate
 * as an op. The writer the gate is handed to takes the ops queued behind it
 * and runs them with its own in one transaction, each in a savepoint of its
 * own, so one commit carries several (a step commit is ~9 pages alone, and
 * consecutive runs share most of them). fn runs on whichever thread holds
 * the gate, with that thread's connection: it reads and writes only through
 * c and op (the op's owner waits, blocked, until done). rc and *err are the
 * op's result: its own failure (its savepoint rolled back, the others go
 * on), or the shared transaction's. */
struct store__sq;
struct store__sq_op {
    int (*fn)(struct store__sq *c, struct store__sq_op *op, struct idf_err *err);
    struct idf_err *err; /* the owner's (may be NULL) */
    int rc;
    void *waiter; /* the gate's */
};
#define STORE__SQ_COMBINE_MAX 16 /* ops in one transaction at most */
enum store__sq_gate_in {
    STORE__SQ_GATE_HELD,    /* the caller holds the gate: it runs its op (and takes others) */
    STORE__SQ_GATE_DONE,    /* another writer ran the op: op->rc is its result */
    STORE__SQ_GATE_TIMEOUT, /* not admitted within the timeout (nothing ran) */
};
/* enter_op: waits for the gate's turn as op. take_ops: (holder) takes up
 * to max ops waiting in the queue, oldest first, out of it. ops_done:
 * (holder) hands each taken op its result and wakes its owner. waiting:
 * writers queued; combined: ops taken so far (both for tests). */
enum store__sq_gate_in store__sq_gate_enter_op(struct store__sq_gate *g, struct store__sq_op *op, int64_t timeout_ms);
size_t store__sq_gate_take_ops(struct store__sq_gate *g, struct store__sq_op **ops, size_t max);
void store__sq_gate_ops_done(struct store__sq_gate *g, struct store__sq_op **ops, size_t n);
size_t store__sq_gate_waiting(struct store__sq_gate *g);
size_t store__sq_gate_combined(struct store__sq_gate *g);

struct store__sq {
    struct store base;           /* must be first */
    sqlite3 *db;                 /* cur->db: the connection statements run on */
    struct store__sq_link own;   /* this store's connection, opened NOMUTEX: one thread at a time */
    struct store__sq_link *cur;  /* &own, or the gate's writer between begin and commit/rollback */
    bool in_tx;                  /* inside BEGIN IMMEDIATE ... COMMIT (and inside the gate) */
    struct store__sq_gate *gate; /* the file's writer gate (sqlite_gate.c); NULL for :memory: */
    pthread_t opener;            /* the thread that opened it (store__sq_check_thread) */
};

static inline struct store__sq *store__sq(struct store *s)
{
    return (struct store__sq *)s;
}

/* ------------------------------------------------- transaction rules */

/* Statements that run outside a transaction although they are not read-only:
 * the connection's own transaction control and synchronous level. Every
 * write runs between store__sq_begin and store__sq_commit /
 * store__sq_rollback (a token's last_used_at too, since the writer gate:
 * store_token_lookup). */
static inline bool store__sq_slot_autocommit(enum store__sq_slot slot)
{
    return slot == SQ_BEGIN || slot == SQ_COMMIT || slot == SQ_ROLLBACK || slot == SQ_SYNC_FULL_STMT ||
           slot == SQ_SYNC_NORMAL_STMT;
}

/* The connection is used by the thread that opened it. */
static inline void store__sq_check_thread(const struct store__sq *c, const char *what)
{
    (void)what; /* read only by the check */
    IDF_INVARIANT(pthread_equal(c->opener, pthread_self()),
                  "store: %s on a connection another thread opened (a connection is its opener's)", what);
}

/* A transaction begins only outside one: transactions do not nest. */
static inline void store__sq_check_begin(const struct store__sq *c)
{
    store__sq_check_thread(c, "BEGIN");
    IDF_INVARIANT(!c->in_tx && sqlite3_get_autocommit(c->db),
                  "store: BEGIN on a connection already in a transaction (transactions do not nest)");
}

/* A commit ends a transaction this connection began. */
static inline void store__sq_check_commit(const struct store__sq *c)
{
    IDF_INVARIANT(c->in_tx, "store: COMMIT outside a transaction");
}

/* A statement about to run (slot's, handed out by store__sq_prep): on the
 * opener's thread, and a write only inside a transaction unless its slot is
 * one of store__sq_slot_autocommit's. */
static inline void store__sq_check_stmt(const struct store__sq *c, enum store__sq_slot slot, sqlite3_stmt *st)
{
    store__sq_check_thread(c, "a statement");
    IDF_INVARIANT(c->in_tx || sqlite3_stmt_readonly(st) || store__sq_slot_autocommit(slot),
                  "store: a write (statement slot %d) outside a transaction", (int)slot);
}

/* The statements that must find their rows through an index, never by
 * reading their whole table: the ones every event or run executes, on
 * tables that grow with history. */
static inline bool store__sq_slot_indexed(enum store__sq_slot slot)
{
    return slot == SQ_EV_PENDING || slot == SQ_EV_FIND || slot == SQ_NEXT_WAKE || slot == SQ_RUN_GET ||
           slot == SQ_LEASE_CHECK || slot == SQ_CLAIM_EXPIRED || slot == SQ_CAP_QUEUED_NEXT || slot == SQ_CAP_QUEUED ||
           slot == SQ_CAP_DUE_NEXT || slot == SQ_CAP_DUE;
}

/* A cached statement about to be reused did not scan a whole table in its
 * last execution when its slot is one of store__sq_slot_indexed's (SQLite's
 * full-scan step counter, reset by the read). */
static inline void store__sq_check_indexed(enum store__sq_slot slot, sqlite3_stmt *st)
{
    int scans = IDF_INVARIANTS_ON ? sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1) : 0;
    (void)slot;
    (void)scans;
    IDF_INVARIANT(!scans || !store__sq_slot_indexed(slot),
                  "store: statement slot %d read its whole table (%d steps): its index is not used", (int)slot, scans);
}

/* Between two store_* calls: no transaction is left open. */
static inline void store__sq_check_idle(const struct store__sq *c)
{
    store__sq_check_thread(c, "a call");
    IDF_INVARIANT(!c->in_tx && sqlite3_get_autocommit(c->db), "store: a transaction left open after a call");
}

/* Whether this backend was built with the checks above (IDF_INVARIANTS). */
bool store__sq_checks_on(void);

/* Hands out the cached statement of slot, preparing sql on first use.
 * The statement is reset with no bindings. IDF_EDB with a message on failure. */
int store__sq_prep(struct store__sq *c, enum store__sq_slot slot, const char *sql, sqlite3_stmt **out,
                   struct idf_err *err) IDF_MUST_USE;

/* Resets a statement handed out by store__sq_prep (NULL is fine). */
void store__sq_done(sqlite3_stmt *st);

/* Maps a SQLite result code to IDF_E* (BUSY/LOCKED: IDF_EBUSY, NOMEM: IDF_ENOMEM,
 * anything else: IDF_EDB) and sets err (may be NULL) to "store: what: <sqlite message>". */
int store__sq_fail(struct store__sq *c, int sqlite_rc, const char *what, struct idf_err *err);

/* Appends an audit record inside the caller's open transaction (sqlite.c):
 * how every change that audits itself records who made it. detail is JSON
 * text or NULL. */
int store__sq_audit(struct store__sq *c, int64_t at, const char *actor, const char *action, const char *target,
                    const char *detail, struct idf_err *err) IDF_MUST_USE;

/* Starts a write transaction (BEGIN IMMEDIATE) with PRAGMA synchronous set to
 * sync first. IDF_EBUSY when the write lock stays taken for STORE__SQ_BUSY_MS. */
int store__sq_begin(struct store__sq *c, enum store__sq_sync sync, struct idf_err *err) IDF_MUST_USE;
int store__sq_commit(struct store__sq *c, struct idf_err *err) IDF_MUST_USE;
/* Rolls back when a transaction is open; a no-op otherwise. */
void store__sq_rollback(struct store__sq *c);
/* Runs op (see struct store__sq_op) in a write transaction at synchronous
 * NORMAL, combined with the ops of other writers of this process queued
 * in the gate meanwhile. Returns op->rc: 0 once committed, else op's own
 * error or the transaction's (nothing of op kept), with op->err set. */
int store__sq_combine(struct store__sq *c, struct store__sq_op *op) IDF_MUST_USE;

/* Binds text or NULL. */
int store__sq_bind_text(sqlite3_stmt *st, int i, const char *v);

/* A copy of column col as a C string, or NULL for SQL NULL. *oom set on ENOMEM. */
char *store__sq_col_dup(sqlite3_stmt *st, int col, bool *oom);

/* Column col of event data, in either form (text, or a BLOB store__pack
 * made: sqlite_events.c), as a C string (caller frees), or NULL for SQL
 * NULL. 0, IDF_ENOMEM, or IDF_EDB for a BLOB that is not packed data
 * (store__unpack). */
int store__sq_col_data(sqlite3_stmt *st, int col, char **out) IDF_MUST_USE;

/* The one list loop of the backend: prepares slot's sql, binds it with
 * bind(st, bind_arg) (bind may be NULL), and for each result row grows an
 * array of row_size-byte rows and fills a zeroed row with row_fn (0, or
 * IDF_ENOMEM having filled part of it). On success *rows_out is the array
 * (NULL when no row; caller frees each row with clear, then the array) and
 * *n_out its length; on failure both are left alone and every row is freed
 * with clear. what names the read in a database error. */
#define SQ_LIST_FIRST 16 /* rows of a list's first allocation (then doubled) */
typedef void (*store__sq_bind_fn)(sqlite3_stmt *st, const void *arg);
typedef int (*store__sq_row_fn)(sqlite3_stmt *st, void *row);
int store__sq_list(struct store__sq *c, enum store__sq_slot slot, const char *sql, store__sq_bind_fn bind,
                   const void *bind_arg, store__sq_row_fn row_fn, void (*clear)(void *row), size_t row_size,
                   void **rows_out, size_t *n_out, const char *what) IDF_MUST_USE;
/* A store__sq_bind_fn binding ?1 to the int64_t that arg points to (a run id). */
void store__sq_bind_id(sqlite3_stmt *st, const void *arg);
/* Runs slot's sql, an INSERT ... SELECT copying one run's rows to another,
 * with ?1 = from_run and ?2 = to_run (a re-run's foreach items, its
 * subjects). what names it in a database error. */
int store__sq_copy_run_rows(struct store__sq *c, enum store__sq_slot slot, const char *sql, int64_t from_run,
                            int64_t to_run, const char *what, struct idf_err *err) IDF_MUST_USE;

/* Applies the embedded migrations (migrations.c). */
int store__sq_migrate(struct store__sq *c, struct idf_err *err) IDF_MUST_USE;
int store__sq_schema_version(struct store *s, int *out) IDF_MUST_USE;

/* sqlite_events.c */
int store__sq_workflow_save(struct store *s, const char *name, const char *source, const char *hash,
                            int64_t *version_out, bool *created_out, struct idf_err *err);
int store__sq_workflow_source(struct store *s, const char *name, int64_t version, char **source_out,
                              int64_t *version_out);
int store__sq_workflow_set_enabled(struct store *s, const char *name, bool enabled);
int store__sq_workflow_list(struct store *s, struct store_workflow_info **rows_out, size_t *n_out);
int store__sq_workflow_last_runs(struct store *s, struct store_last_run **rows_out, size_t *n_out);
int store__sq_ingest(struct store *s, struct store_ingest_item *items, size_t n, struct idf_err *err);
int store__sq_event_get(struct store *s, int64_t id, struct store_event **out);
int store__sq_events_pending(struct store *s, enum store_event_stage stage, int64_t now_ms, size_t max,
                             struct store_event **out, size_t *n_out, struct idf_err *err);
int store__sq_events_settle(struct store *s, struct store_settle *items, size_t n, struct idf_err *err);
int store__sq_event_expand(struct store *s, int64_t delivery_id, struct store_ingest_item *items, size_t n,
                           const char *note, struct idf_err *err);
int store__sq_event_retry(struct store *s, int64_t id, int64_t next_at_ms, const char *note, bool give_up,
                          struct idf_err *err);
int store__sq_cursor_get(struct store *s, const char *name, char **value_out);
int store__sq_cursor_set(struct store *s, const char *name, const char *value);
int store__sq_audit_add(struct store *s, const char *actor, const char *action, const char *target, const char *detail);
int store__sq_audit_list(struct store *s, int limit, struct store_audit **rows_out, size_t *n_out);

/* sqlite_runs.c */
/* Reads run id (with its event's data) into a new struct; IDF_ENOTFOUND when absent. */
int store__sq_read_run(struct store__sq *c, int64_t id, struct store_run **out, struct idf_err *err);
int store__sq_run_claim(struct store *s, const char *owner, int64_t now_ms, int64_t lease_ms, size_t max,
                        const struct store_cap *caps, size_t n_caps, struct store_run **out, size_t *n_out,
                        struct idf_err *err);

/* sqlite_caps.c */
/* Inside a claim's transaction: appends to ids (*n_ids entries already, at
 * most max in all) the queued and due waiting runs that caps (n_caps entries,
 * sorted by name; may be 0) let start now, in the fair order of
 * store__fair_pick. */
int store__sq_claim_fair(struct store__sq *c, const struct store_cap *caps, size_t n_caps, int64_t now_ms, size_t max,
                         int64_t *ids, size_t *n_ids, struct idf_err *err) IDF_MUST_USE;

/* sqlite_runs.c, continued */
int store__sq_run_renew(struct store *s, int64_t run_id, const char *owner, int64_t lease_until);
int store__sq_run_begin(struct store *s, int64_t run_id, const char *owner, int64_t lease_until);
int store__sq_run_claim_id(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int64_t lease_ms,
                           struct store_run **out, struct idf_err *err);
int store__sq_release_leases(struct store *s, const char *owner, int64_t *n_out);
int store__sq_next_wake(struct store *s, int64_t *wake_at_out);
int store__sq_step_commit(struct store *s, int64_t run_id, const char *owner, int64_t now_ms,
                          const struct store_step_rec *step, const struct store_run_next *next, struct idf_err *err);
int store__sq_run_get(struct store *s, int64_t id, struct store_run **out);
int store__sq_step_list(struct store *s, int64_t run_id, struct store_step **rows_out, size_t *n_out);
int store__sq_run_counts(struct store *s, struct store_run_counts *out);

/* sqlite_admin.c */
int store__sq_run_rerun(struct store *s, int64_t run_id, int64_t now_ms, const char *actor, bool force,
                        int64_t *new_id_out, struct idf_err *err);
int store__sq_run_cancel(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, struct idf_err *err);
int store__sq_run_stop(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, const char *actor,
                       bool *pending_out, struct idf_err *err);
int store__sq_approval_decide(struct store *s, int64_t run_id, bool approve, bool hold_expected, const char *actor,
                              const char *comment, int64_t now_ms, struct idf_err *err);
int store__sq_approval_get(struct store *s, int64_t run_id, const char *step_id, char **status_out, char **actor_out);
int store__sq_approval_list(struct store *s, struct store_approval **rows_out, size_t *n_out);
int store__sq_guard_held(struct store *s, const char *connection, int64_t *n_out);
/* An event row (columns STORE__EVENT_COLUMNS) into *row, a struct store_event (sqlite_events.c). */
int store__sq_event_row(sqlite3_stmt *st, void *row);
int store__sq_run_approvals(struct store *s, int64_t run_id, struct store_approval **rows_out, size_t *n_out);
int store__sq_prune(struct store *s, int64_t before_ms, int64_t *n_out);

/* sqlite_conn.c (put, get, list) and sqlite_connections.c (delete) */
int store__sq_connection_put(struct store *s, const char *name, const char *kind, const char *config,
                             const unsigned char *sealed, size_t sealed_len, const char *actor, bool *created_out,
                             struct idf_err *err);
int store__sq_connection_get(struct store *s, const char *name, char **kind_out, char **config_out,
                             unsigned char **sealed_out, size_t *sealed_len_out, int64_t *updated_at_out);
int store__sq_connection_list(struct store *s, struct store_connection_info **rows_out, size_t *n_out);
int store__sq_connection_delete(struct store *s, const char *name, const char *actor, struct idf_err *err);

/* sqlite_tokens.c */
int store__sq_token_create(struct store *s, const char *name, const char *role, const char *hash, const char *prefix,
                           int64_t expires_at, const char *actor, int64_t *id_out, struct idf_err *err);
int store__sq_token_lookup(struct store *s, const char *hash, int64_t now_ms, struct store_token **out);
int store__sq_token_list(struct store *s, struct store_token **rows_out, size_t *n_out);
int store__sq_token_revoke(struct store *s, const char *name, const char *actor, bool force, struct idf_err *err);
int store__sq_initialized(struct store *s, bool *out);
int store__sq_initialize(struct store *s, const char *actor, bool *changed_out, struct idf_err *err);

/* sqlite_runs.c, shared with sqlite_foreach.c: inside an open transaction,
 * check that owner holds the run's lease (IDF_ESTATE otherwise), and move
 * the run to next. */
int store__sq_check_lease(struct store__sq *c, int64_t run_id, const char *owner, struct idf_err *err);
int store__sq_advance_run(struct store__sq *c, int64_t run_id, int64_t now_ms, const struct store_run_next *next,
                          struct idf_err *err);

/* sqlite_foreach.c: the ops, and the parts of other transactions (step
 * commit: an item's result and the end of the step; rerun: the copy) */
int store__sq_foreach_begin(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int index,
                            const char *const *items, size_t n, const char *const *results, size_t n_results,
                            const struct store_run_next *next, struct idf_err *err);
int store__sq_foreach_item(struct store *s, int64_t run_id, int index, int item, char **item_out);
int store__sq_foreach_outputs(struct store *s, int64_t run_id, int index, char **json_out);
int store__sq_foreach_result(struct store__sq *c, int64_t run_id, const struct store_step_rec *step,
                             struct idf_err *err);
int store__sq_foreach_clear(struct store__sq *c, int64_t run_id, struct idf_err *err);
int store__sq_foreach_copy(struct store__sq *c, int64_t from_run, int64_t to_run, struct idf_err *err);

/* sqlite_leases.c: named leases (helper "singleton") */
int store__sq_lease_take(struct store *s, const char *name, const char *owner, int64_t now_ms, int64_t ttl_ms,
                         bool *held_out, char **holder_out);
int store__sq_lease_drop(struct store *s, const char *name, const char *owner);
int store__sq_lease_get(struct store *s, const char *name, char **owner_out, int64_t *until_out);

/* sqlite_pace.c (helper "pacing"): the pacing windows (store.h) */
int store__sq_window_take(struct store *s, const char *key, int limit, int64_t window_ms, int64_t now_ms,
                          int64_t *wait_ms_out);
int store__sq_window_block(struct store *s, const char *key, int64_t until_ms);
int store__sq_lease_count(struct store *s, const char *prefix, int64_t now_ms, int *n_out);

/* sqlite_subjects.c (issue 17, "subjects"): the run list and the reads of
 * subjects, and the parts of other transactions: writing at most
 * STORE_SUBJECTS_MAX of subjects for run_id (each through
 * store__subject_prep, with step_id; a key already there is kept as it is),
 * copying a run's subjects to its re-run, and filling a read run's
 * source, via, actor, trigger, connection, subject and rerun_as. */
int store__sq_subjects_write(struct store__sq *c, int64_t run_id, const struct store_subject *subjects, size_t n,
                             const char *step_id, struct idf_err *err) IDF_MUST_USE;
int store__sq_subjects_copy(struct store__sq *c, int64_t from_run, int64_t to_run, struct idf_err *err) IDF_MUST_USE;
int store__sq_run_extra(struct store__sq *c, struct store_run *r) IDF_MUST_USE;
int store__sq_run_list(struct store *s, const struct store__run_query *q, struct store_run **rows_out,
                       size_t *n_out);
int store__sq_run_count(struct store *s, const struct store__run_query *q, int64_t *n_out);
int store__sq_run_subjects(struct store *s, int64_t run_id, struct store_run_subject **rows_out, size_t *n_out);
int store__sq_run_changes(struct store *s, const int64_t *run_ids, size_t n, struct store_change **rows_out,
                          size_t *n_out);
/* sqlite_replay.c (issue 19): the replay reads (store.h, "replay") */
int store__sq_event_list(struct store *s, int64_t since_ms, int64_t after_id, int limit,
                         struct store_event **rows_out, size_t *n_out);
int store__sq_event_runs(struct store *s, int64_t event_id, const char *workflow, struct store_run **rows_out,
                         size_t *n_out);

#endif

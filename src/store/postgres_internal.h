/* postgres_internal.h — shared internals of the PostgreSQL backend
 * (postgres*.c, postgres_migrations.c). Private to src/store/.
 *
 * struct store__pg is one libpq connection, used by the thread that opened it
 * (store.h, "Transactions and threads"). Invariants:
 *  - base is first, so a struct store * of this backend casts to it;
 *  - every statement goes through store__pg_exec*, which prepares its SQL on
 *    the connection the first time that text is run (a named server-side
 *    prepared statement, "s<N>"), and runs the prepared one after: callers
 *    write the SQL where it is used, with $1..$N parameters, as a string
 *    literal or a static const char[] (the cache keys on the text);
 *  - every parameter crosses as text (NULL: SQL NULL) except the bytea ones
 *    of store__pg_execb; every result column is read as text;
 *  - in_tx is true between a successful store__pg_begin and the matching
 *    commit or rollback; writes run only inside one (the one exception, as
 *    for SQLite: the last_used_at touch of store_token_lookup);
 *  - the session runs with synchronous_commit = on, so a COMMIT that returned
 *    is durable (store_ingest's acknowledgement rule), and READ COMMITTED.
 *    Where a write decides on what it read (the per-workflow cap of a claim,
 *    a step commit's lease check), it locks what it read (FOR UPDATE, SKIP
 *    LOCKED for claims, or a transaction-scoped advisory lock:
 *    STORE__PG_LOCK_*), so the rule holds across connections and nodes.
 *
 * Error mapping (store__pg_exec): SQLSTATE class 40 (serialization failure,
 * deadlock) and 55P03 (lock not available) -> IDF_EBUSY, 23505 (unique
 * violation) -> IDF_EEXIST, out of memory -> IDF_ENOMEM, a broken connection
 * or anything else -> IDF_EDB. The message is "store: WHAT: <primary
 * message>": never the DETAIL, which can quote a row's values. */
#ifndef IDF_STORE_POSTGRES_INTERNAL_H
#define IDF_STORE_POSTGRES_INTERNAL_H

#include <libpq-fe.h>
#include <pthread.h>

#include "core/invariant.h"
#include "store/store_internal.h"

#define STORE__PG_STMTS_MAX 256u /* distinct SQL texts one connection prepares */
#define STORE__PG_INT_LEN 24u    /* bytes of an int64 as text, with its NUL */

/* Transaction-scoped advisory lock keys (pg_advisory_xact_lock(KEY, n)):
 * the first argument names what is locked, the second which one. */
#define STORE__PG_LOCK_MIGRATE 0x69646601 /* n = 0: applying migrations */
#define STORE__PG_LOCK_CAP 0x69646602     /* n = hashtext(workflow): counting a workflow's running runs */
#define STORE__PG_LOCK_WORKFLOW 0x69646610 /* n = hashtext(name): numbering a workflow's versions */

struct store__pg_stmt {
    const char *sql; /* the text it was prepared from (borrowed: a literal) */
    unsigned id;     /* its name on the server: "s<id>" */
};

struct store__pg {
    struct store base;                                /* must be first */
    PGconn *conn;                                     /* the connection */
    struct store__pg_stmt stmts[STORE__PG_STMTS_MAX]; /* prepared on conn, open addressing by text hash */
    unsigned n_stmts;
    bool in_tx;       /* inside BEGIN ... COMMIT */
    bool listening;   /* LISTEN ran on it (store__pg_listen): never reopened behind the listener's back */
    pthread_t opener; /* the thread that opened it */
};

static inline struct store__pg *store__pg(struct store *s)
{
    return (struct store__pg *)s;
}

/* int64 as decimal text in buf (STORE__PG_INT_LEN bytes); returns buf. */
const char *store__pg_i64(char *buf, int64_t v);

/* Runs sql (prepared on first use) with n text parameters (NULL entries are
 * SQL NULL). *res (res may be NULL: cleared) gets the result on success,
 * freed by the caller with PQclear; NULL on failure. what names the
 * operation for the message. 0 or IDF_E* (see the mapping above) with err
 * (may be NULL) set. */
int store__pg_exec(struct store__pg *c, const char *what, const char *sql, int n, const char *const *params,
                   PGresult **res, struct idf_err *err) IDF_MUST_USE;

/* As store__pg_exec, where params[i] is binary (bytea) of lens[i] bytes when
 * binary[i] is true, text otherwise. */
int store__pg_execb(struct store__pg *c, const char *what, const char *sql, int n, const char *const *params,
                    const int *lens, const bool *binary, PGresult **res, struct idf_err *err) IDF_MUST_USE;

/* pglists: as store__pg_exec, but never prepared: PostgreSQL plans sql with
 * the parameters' values at every call (a custom plan), for the queries
 * whose best index depends on them (postgres_lists.c's filtered run lists:
 * a prepared statement turns to a generic plan after five runs). */
int store__pg_exec_once(struct store__pg *c, const char *what, const char *sql, int n, const char *const *params,
                        PGresult **res, struct idf_err *err) IDF_MUST_USE;

/* The one list loop of the backend (postgres_lists.c): runs sql with its n
 * text params (prepared, or planned at each call when once:
 * store__pg_exec_once) and turns each result row into a row_size-byte row,
 * zeroed and filled by row_fn (0, or IDF_ENOMEM having filled part of it):
 * *rows_out (caller frees each row with clear, then the array; NULL when no
 * row) and *n_out. On failure both are left as they were and nothing is
 * allocated. */
typedef int (*store__pg_row_fn)(const PGresult *res, int i, void *row);
int store__pg_list(struct store__pg *c, const char *what, const char *sql, int n, const char *const *params, bool once,
                   store__pg_row_fn row_fn, void (*clear)(void *row), size_t row_size, void **rows_out,
                   size_t *n_out) IDF_MUST_USE;

/* BEGIN (READ COMMITTED); IDF_EDB when the connection is gone. */
int store__pg_begin(struct store__pg *c, struct idf_err *err) IDF_MUST_USE;
/* COMMIT: 0 once it is durable. A failed commit has rolled back. */
int store__pg_commit(struct store__pg *c, struct idf_err *err) IDF_MUST_USE;
/* ROLLBACK when a transaction is open; a no-op otherwise. */
void store__pg_rollback(struct store__pg *c);

/* Column getters over a result row (text format). */
int64_t store__pg_get_i64(const PGresult *r, int row, int col);   /* 0 for NULL */
bool store__pg_get_bool(const PGresult *r, int row, int col);     /* "t"/"1" true; NULL false */
bool store__pg_is_null(const PGresult *r, int row, int col);
/* A malloc'd copy, NULL for SQL NULL; *oom set when the copy failed. */
char *store__pg_get_dup(const PGresult *r, int row, int col, bool *oom);
/* A bytea column (text format, hex escaped) decoded into a malloc'd buffer;
 * NULL with *len 0 for SQL NULL. IDF_ENOMEM / IDF_EDB on failure. */
int store__pg_get_bytea(const PGresult *r, int row, int col, unsigned char **out, size_t *len) IDF_MUST_USE;

/* Event data as a reader selects it from events (issue 20): the text
 * tagged 't', or the packed bytes (store_pack.c) as hex tagged 'z';
 * store__pg_get_data turns either into the text. */
#define STORE__PG_EVENT_DATA "CASE WHEN packed IS NULL THEN 't' || data ELSE 'z' || encode(packed, 'hex') END"
/* STORE__EVENT_COLUMNS with the data so selected (for store__pg_event_row). */
#define STORE__PG_EVENT_COLUMNS                                                                                        \
    "id, source, source_id, type, connection, received_at, " STORE__PG_EVENT_DATA ", stage, tries, note"
/* The event data of a column selected with STORE__PG_EVENT_DATA into *out
 * (caller frees), NULL for SQL NULL. 0, IDF_ENOMEM, or IDF_EDB when it is
 * neither form (or the packed bytes are not packed data: store__unpack). */
int store__pg_get_data(const PGresult *r, int row, int col, char **out) IDF_MUST_USE;

/* Appends an audit record inside the caller's open transaction. */
int store__pg_audit(struct store__pg *c, int64_t at, const char *actor, const char *action, const char *target,
                    const char *detail, struct idf_err *err) IDF_MUST_USE;

/* The transaction rules, checked with IDF_INVARIANT (make asan). */
static inline void store__pg_check_thread(const struct store__pg *c, const char *what)
{
    (void)what;
    IDF_INVARIANT(pthread_equal(c->opener, pthread_self()),
                  "store: %s on a connection another thread opened (a connection is its opener's)", what);
}

static inline void store__pg_check_idle(const struct store__pg *c)
{
    store__pg_check_thread(c, "a call");
    /* a connection the server closed is idle too: the next call opens it again (postgres.c) */
    IDF_INVARIANT(!c->in_tx && (PQtransactionStatus(c->conn) == PQTRANS_IDLE || PQstatus(c->conn) == CONNECTION_BAD),
                  "store: a transaction left open after a call");
}

/* Opens the PostgreSQL backend on a libpq URL ("postgresql://..."):
 * connects, sets the session (synchronous_commit, time zone UTC,
 * application_name idflow), applies the migrations. */
int store__pg_open(const char *url, struct store **out, struct idf_err *err) IDF_MUST_USE;

/* postgres.c: msg (libpq's, may be NULL) into out (STORE__PG_MSG_MAX bytes)
 * on one line: the newlines between its lines become "; ", the last goes. */
#define STORE__PG_MSG_MAX IDF_ERR_MSG_MAX
void store__pg_one_line(char *out, const char *msg);

/* postgres_url.c: the URL with every password replaced by "***", into out
 * (n bytes); msg (libpq's, may be NULL) on one line into out
 * (STORE__PG_MSG_MAX bytes), every form of url's password in it replaced by
 * "***". */
void store__pg_url_masked(const char *url, char *out, size_t n);
void store__pg_scrub(const char *url, const char *msg, char *out);

/* postgres_migrations.c: applies the embedded PostgreSQL migrations under
 * pg_advisory_xact_lock(STORE__PG_LOCK_MIGRATE, 0), each in its own
 * transaction with its row in schema_migrations; a database newer than this
 * binary is refused (IDF_ESTATE, "newer than this idflow"). */
int store__pg_migrate(struct store__pg *c, struct idf_err *err) IDF_MUST_USE;
int store__pg_schema_version(struct store *s, int *out);

/* The ops, one file per area (as the SQLite backend's files):
 * postgres_events.c: workflows, events, cursors, audit */
int store__pg_workflow_save(struct store *s, const char *name, const char *source, const char *hash,
                            int64_t *version_out, bool *created_out, struct idf_err *err);
int store__pg_workflow_source(struct store *s, const char *name, int64_t version, char **source_out,
                              int64_t *version_out);
int store__pg_workflow_set_enabled(struct store *s, const char *name, bool enabled);
int store__pg_ingest(struct store *s, struct store_ingest_item *items, size_t n, struct idf_err *err);
int store__pg_events_pending(struct store *s, enum store_event_stage stage, int64_t now_ms, size_t max,
                             struct store_event **out, size_t *n_out, struct idf_err *err);
int store__pg_events_settle(struct store *s, struct store_settle *items, size_t n, struct idf_err *err);
int store__pg_event_expand(struct store *s, int64_t delivery_id, struct store_ingest_item *items, size_t n,
                           const char *note, struct idf_err *err);
int store__pg_event_retry(struct store *s, int64_t id, int64_t next_at_ms, const char *note, bool give_up,
                          struct idf_err *err);
int store__pg_cursor_get(struct store *s, const char *name, char **value_out);
int store__pg_cursor_set(struct store *s, const char *name, const char *value);
int store__pg_audit_add(struct store *s, const char *actor, const char *action, const char *target,
                        const char *detail);

/* postgres_runs.c (claims, leases, step commits; caps in postgres_caps.c;
 * foreach state in postgres_foreach.c) */
int store__pg_run_claim(struct store *s, const char *owner, int64_t now_ms, int64_t lease_ms, size_t max,
                        const struct store_cap *caps, size_t n_caps, struct store_run **out, size_t *n_out,
                        struct idf_err *err);
int store__pg_run_renew(struct store *s, int64_t run_id, const char *owner, int64_t lease_until);
int store__pg_run_begin(struct store *s, int64_t run_id, const char *owner, int64_t lease_until);
int store__pg_run_claim_id(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int64_t lease_ms,
                           struct store_run **out, struct idf_err *err);
int store__pg_release_leases(struct store *s, const char *owner, int64_t *n_out);
int store__pg_next_wake(struct store *s, int64_t *wake_at_out);
int store__pg_step_commit(struct store *s, int64_t run_id, const char *owner, int64_t now_ms,
                          const struct store_step_rec *step, const struct store_run_next *next, struct idf_err *err);
int store__pg_run_get(struct store *s, int64_t id, struct store_run **out);
int store__pg_foreach_begin(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int index,
                            const char *const *items, size_t n, const char *const *results, size_t n_results,
                            const struct store_run_next *next, struct idf_err *err);
int store__pg_foreach_item(struct store *s, int64_t run_id, int index, int item, char **item_out);
int store__pg_foreach_outputs(struct store *s, int64_t run_id, int index, char **json_out);

/* postgres_runs.c, shared with postgres_caps.c, postgres_foreach.c and
 * postgres_admin.c. */
/* Reads run id (with its event's data) into a new struct (caller frees with
 * store_run_free); IDF_ENOTFOUND when absent. */
int store__pg_read_run(struct store__pg *c, int64_t id, struct store_run **out, struct idf_err *err) IDF_MUST_USE;
/* Inside an open transaction: locks the run's row (FOR UPDATE) and checks
 * that owner holds its lease (IDF_ESTATE otherwise, IDF_ENOTFOUND when there
 * is no run); *cancel_out (may be NULL) gets the reason of a cancellation
 * asked (caller frees), NULL when none. */
int store__pg_check_lease(struct store__pg *c, int64_t run_id, const char *owner, char **cancel_out,
                          struct idf_err *err) IDF_MUST_USE;
/* Inside an open transaction, with the row locked: moves the run to next. */
int store__pg_advance_run(struct store__pg *c, int64_t run_id, int64_t now_ms, const struct store_run_next *next,
                          struct idf_err *err) IDF_MUST_USE;

/* postgres_caps.c: inside a claim's transaction, with caps (n_caps entries,
 * sorted by name; may be 0): takes the capped workflows' advisory locks,
 * counts their running runs, locks (FOR UPDATE SKIP LOCKED) per workflow
 * its first queued and due runs, at most min(max, free slots) of each kind,
 * and appends to ids (*n_ids entries already, at most max in all) the ones
 * the claim takes, in the fair order of store__fair_pick. */
int store__pg_claim_fair(struct store__pg *c, const struct store_cap *caps, size_t n_caps, int64_t now_ms, size_t max,
                         int64_t *ids, size_t *n_ids, struct idf_err *err) IDF_MUST_USE;

/* postgres_foreach.c: the parts of other transactions (step commit: an
 * item's result and the end of the step), and the text[] literal writer shared with postgres_caps.c. */
int store__pg_foreach_result(struct store__pg *c, int64_t run_id, const struct store_step_rec *step,
                             struct idf_err *err) IDF_MUST_USE;
int store__pg_foreach_clear(struct store__pg *c, int64_t run_id, struct idf_err *err) IDF_MUST_USE;
/* Appends one element of an array literal to b: "," unless first, then v
 * double-quoted with " and \ escaped, or NULL for a NULL v. */
struct buf;
int store__pg_array_elem(struct buf *b, const char *v, bool first) IDF_MUST_USE;

/* postgres_subjects.c (issue 17, "subjects"): the run list and the reads of
 * subjects, and the parts of other transactions: writing at most
 * STORE_SUBJECTS_MAX of subjects (each through store__subject_prep, with
 * step_id) for each of the n_runs runs (a key a run has is kept as it is),
 * copying a run's subjects to its re-run, and filling a read run's source,
 * via, actor, trigger, connection, subject and rerun_as. */
int store__pg_subjects_write(struct store__pg *c, const int64_t *run_ids, size_t n_runs,
                             const struct store_subject *subjects, size_t n, const char *step_id,
                             struct idf_err *err) IDF_MUST_USE;
int store__pg_subjects_copy(struct store__pg *c, int64_t from_run, int64_t to_run, struct idf_err *err) IDF_MUST_USE;
int store__pg_run_extra(struct store__pg *c, struct store_run *run) IDF_MUST_USE;
int store__pg_run_list(struct store *s, const struct store__run_query *q, struct store_run **rows_out, size_t *n_out);
int store__pg_run_count(struct store *s, const struct store__run_query *q, int64_t *n_out);
int store__pg_run_subjects(struct store *s, int64_t run_id, struct store_run_subject **rows_out, size_t *n_out);
int store__pg_run_changes(struct store *s, const int64_t *run_ids, size_t n, struct store_change **rows_out,
                          size_t *n_out);
/* postgres_replay.c (issue 19): the replay reads (store.h, "replay") */
int store__pg_event_list(struct store *s, int64_t since_ms, int64_t after_id, int limit,
                         struct store_event **rows_out, size_t *n_out);
int store__pg_event_runs(struct store *s, int64_t event_id, const char *workflow, struct store_run **rows_out,
                         size_t *n_out);

/* postgres_admin.c: reruns, cancels, approvals, prune */
int store__pg_run_rerun(struct store *s, int64_t run_id, int64_t now_ms, const char *actor, bool force,
                        int64_t *new_id_out, struct idf_err *err);
int store__pg_run_cancel(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, struct idf_err *err);
int store__pg_run_stop(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, const char *actor,
                       bool *pending_out, struct idf_err *err);
int store__pg_approval_decide(struct store *s, int64_t run_id, bool approve, bool hold_expected, const char *actor,
                              const char *comment, int64_t now_ms, struct idf_err *err);
int store__pg_approval_get(struct store *s, int64_t run_id, const char *step_id, char **status_out, char **actor_out);
int store__pg_prune(struct store *s, int64_t before_ms, int64_t *n_out);

/* postgres_conn.c: connections and API tokens */
int store__pg_connection_put(struct store *s, const char *name, const char *kind, const char *config,
                             const unsigned char *sealed, size_t sealed_len, const char *actor, bool *created_out,
                             struct idf_err *err);
int store__pg_connection_get(struct store *s, const char *name, char **kind_out, char **config_out,
                             unsigned char **sealed_out, size_t *sealed_len_out, int64_t *updated_at_out);
int store__pg_connection_delete(struct store *s, const char *name, const char *actor, struct idf_err *err);
int store__pg_token_create(struct store *s, const char *name, const char *role, const char *hash, const char *prefix,
                           int64_t expires_at, const char *actor, int64_t *id_out, struct idf_err *err);
int store__pg_token_lookup(struct store *s, const char *hash, int64_t now_ms, struct store_token **out);
int store__pg_token_revoke(struct store *s, const char *name, const char *actor, bool force, struct idf_err *err);
int store__pg_initialized(struct store *s, bool *out);
int store__pg_initialize(struct store *s, const char *actor, bool *changed_out, struct idf_err *err);

/* postgres_lists.c: the list and get ops return typed rows (store.h). A
 * row's JSON columns stay text and nothing is rendered (api/render.c does
 * that); a failed list frees its rows with the store__*_clear functions of
 * store_internal.h, as the SQLite backend's store__sq_list does. */
int store__pg_workflow_list(struct store *s, struct store_workflow_info **rows_out, size_t *n_out);
int store__pg_workflow_last_runs(struct store *s, struct store_last_run **rows_out, size_t *n_out);
int store__pg_event_get(struct store *s, int64_t id, struct store_event **out);
int store__pg_step_list(struct store *s, int64_t run_id, struct store_step **rows_out, size_t *n_out);
int store__pg_run_counts(struct store *s, struct store_run_counts *out);
int store__pg_approval_list(struct store *s, struct store_approval **rows_out, size_t *n_out);
int store__pg_guard_held(struct store *s, const char *connection, int64_t *n_out);
/* Row i of res (columns STORE__EVENT_COLUMNS) into *row, a struct store_event (postgres_lists.c). */
int store__pg_event_row(const PGresult *res, int i, void *row);
int store__pg_run_approvals(struct store *s, int64_t run_id, struct store_approval **rows_out, size_t *n_out);
int store__pg_audit_list(struct store *s, int limit, struct store_audit **rows_out, size_t *n_out);
int store__pg_connection_list(struct store *s, struct store_connection_info **rows_out, size_t *n_out);
int store__pg_token_list(struct store *s, struct store_token **rows_out, size_t *n_out);

/* postgres_leases.c: named leases (helper "singleton") */
int store__pg_lease_take(struct store *s, const char *name, const char *owner, int64_t now_ms, int64_t ttl_ms,
                         bool *held_out, char **holder_out);
int store__pg_lease_drop(struct store *s, const char *name, const char *owner);
int store__pg_lease_get(struct store *s, const char *name, char **owner_out, int64_t *until_out);

/* postgres_notify.c (helper "notify"): wake-ups, store.h "wake-ups across
 * connections": pg_notify in a transaction of its own, LISTEN, the wait. */
int store__pg_notify(struct store *s, const char *channel);
int store__pg_listen(struct store *s, const char *channel);
int store__pg_wait(struct store *s, int64_t timeout_ms, int wake_fd, bool *woken_out);

/* postgres_pace.c (helper "pacing"): the pacing windows (store.h) */
int store__pg_window_take(struct store *s, const char *key, int limit, int64_t window_ms, int64_t now_ms,
                          int64_t *wait_ms_out);
int store__pg_window_block(struct store *s, const char *key, int64_t until_ms);
int store__pg_lease_count(struct store *s, const char *prefix, int64_t now_ms, int *n_out);

#endif

/* sqlite.c — the SQLite backend's connection: open and close, the per-
 * connection prepared-statement cache, write transactions, shared column
 * helpers, and the ops table that store.c dispatches through.
 *
 * The SQL of each area lives with its code: workflows, events, cursors and
 * audit in sqlite_events.c; claims, leases and step commits in sqlite_runs.c;
 * rerun, cancel, approvals and pruning in sqlite_admin.c; connections in
 * sqlite_conn.c and sqlite_connections.c; the items and results of a run's
 * current foreach step in sqlite_foreach.c; the schema in migrations.c.
 *
 * Threads: a connection is opened SQLITE_OPEN_NOMUTEX and is used by one
 * thread at a time (store.h); many connections, in this process or others,
 * share one database file. Concurrency comes from WAL (readers never block,
 * one writer at a time) and BEGIN IMMEDIATE for every write transaction, so a
 * writer takes the write lock up front and waits (busy_timeout) instead of
 * failing half-way through with SQLITE_BUSY on a read-to-write upgrade.
 *
 * Durability: PRAGMA synchronous=NORMAL by default (in WAL mode a committed
 * transaction survives a process crash; a power loss may lose the last few
 * transactions) and FULL for store_ingest (the WAL is fsynced at commit, so an
 * acknowledged event survives a power loss). The level is a per-connection
 * setting changed between transactions (see store__sq_begin).
 *
 * Files: the database holds run history and sealed secrets, so a new database
 * file is created here with mode 0600 (core/fsutil.h) before SQLite opens it,
 * in folders created 0700 when they are missing; SQLite gives the -wal and
 * -shm files the mode of the database file. An existing database keeps the
 * modes its operator gave it (a warning is logged when group or others can
 * read it). The path is always a file name, never an SQLite "file:" URI. */
#include "store/sqlite_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/timeutil.h"

static void sq_close(struct store *s);
static void end_tx(struct store__sq *c);

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .schema_version = store__sq_schema_version,
    .workflow_save = store__sq_workflow_save,
    .workflow_source = store__sq_workflow_source,
    .workflow_set_enabled = store__sq_workflow_set_enabled,
    .workflow_list = store__sq_workflow_list,
    .workflow_last_runs = store__sq_workflow_last_runs,
    .ingest = store__sq_ingest,
    .event_get = store__sq_event_get,
    .events_pending = store__sq_events_pending,
    .events_settle = store__sq_events_settle,
    .event_expand = store__sq_event_expand,
    .event_retry = store__sq_event_retry,
    .run_claim = store__sq_run_claim,
    .run_renew = store__sq_run_renew,
    .run_begin = store__sq_run_begin,
    .run_claim_id = store__sq_run_claim_id,
    .release_leases = store__sq_release_leases,
    .next_wake = store__sq_next_wake,
    .step_commit = store__sq_step_commit,
    .run_get = store__sq_run_get,
    .run_list = store__sq_run_list,
    .step_list = store__sq_step_list,
    .run_counts = store__sq_run_counts,
    .run_rerun = store__sq_run_rerun,
    .run_cancel = store__sq_run_cancel,
    .run_stop = store__sq_run_stop,
    .approval_decide = store__sq_approval_decide,
    .approval_get = store__sq_approval_get,
    .approval_list = store__sq_approval_list,
    .guard_held = store__sq_guard_held,
    .run_approvals = store__sq_run_approvals, /* issue 17 ("approvals-reruns") */
    .cursor_get = store__sq_cursor_get,
    .cursor_set = store__sq_cursor_set,
    .audit_add = store__sq_audit_add,
    .audit_list = store__sq_audit_list,
    .connection_put = store__sq_connection_put,
    .connection_get = store__sq_connection_get,
    .connection_list = store__sq_connection_list,
    .connection_delete = store__sq_connection_delete,
    .prune = store__sq_prune,
    .token_create = store__sq_token_create,
    .token_lookup = store__sq_token_lookup,
    .token_list = store__sq_token_list,
    .token_revoke = store__sq_token_revoke,
    .initialized = store__sq_initialized,
    .initialize = store__sq_initialize,
    .foreach_begin = store__sq_foreach_begin,
    .foreach_item = store__sq_foreach_item,
    .foreach_outputs = store__sq_foreach_outputs,
    .lease_take = store__sq_lease_take,
    .lease_drop = store__sq_lease_drop,
    .lease_get = store__sq_lease_get,
    .window_take = store__sq_window_take,   /* helper "pacing" */
    .window_block = store__sq_window_block, /* helper "pacing" */
    .lease_count = store__sq_lease_count,   /* helper "pacing" */
    .run_count = store__sq_run_count,       /* issue 17, "subjects" */
    .run_subjects = store__sq_run_subjects,
    .run_changes = store__sq_run_changes,
    .event_list = store__sq_event_list, /* replay (issue 19) */
    .event_runs = store__sq_event_runs,
};

/* ------------------------------------------------------------- errors */

int store__sq_fail(struct store__sq *c, int sqlite_rc, const char *what, struct idf_err *err)
{
    int code;
    const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(sqlite_rc);

    switch (sqlite_rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: code = IDF_EBUSY; break;
    case SQLITE_NOMEM: code = IDF_ENOMEM; break;
    default: code = IDF_EDB; break;
    }
    /* Callers of the functions without an err get only the code: log why. */
    if (!err)
        log_warn("store: %s: %s", what, msg);
    return idf_err_set(err, code, "store: %s: %s", what, msg);
}

/* ------------------------------------------------------ statement cache */

int store__sq_prep(struct store__sq *c, enum store__sq_slot slot, const char *sql, sqlite3_stmt **out,
                   struct idf_err *err)
{
    sqlite3_stmt **stmts = c->cur->stmts; /* the cache of the connection in use (see store__sq_begin) */
    int rc;

    *out = NULL;
    if (!stmts[slot]) {
        rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmts[slot], NULL);
        if (rc != SQLITE_OK) {
            stmts[slot] = NULL;
            return store__sq_fail(c, rc, "prepare", err);
        }
    }
    store__sq_check_indexed(slot, stmts[slot]);
    sqlite3_reset(stmts[slot]);
    sqlite3_clear_bindings(stmts[slot]);
    store__sq_check_stmt(c, slot, stmts[slot]);
    *out = stmts[slot];
    return 0;
}

void store__sq_done(sqlite3_stmt *st)
{
    if (st)
        sqlite3_reset(st);
}

/* Steps a cached statement that returns no rows. */
static int run_simple(struct store__sq *c, enum store__sq_slot slot, const char *sql, const char *what,
                      struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, slot, sql, &st, err);
    if (rc)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE)
        rc = store__sq_fail(c, rc, what, err);
    else
        rc = 0;
    store__sq_done(st);
    return rc;
}

/* --------------------------------------------------------- transactions */

/* Makes l the connection c's statements run on (its own, or the gate's
 * writer inside a transaction). */
static void use_link(struct store__sq *c, struct store__sq_link *l)
{
    c->cur = l;
    c->db = l->db;
}

/* BEGIN IMMEDIATE at sync on c's current connection (the gate's writer once
 * c holds the gate); on failure c leaves the gate. */
static int begin_held(struct store__sq *c, enum store__sq_sync sync, struct idf_err *err)
{
    int rc;

    if (c->cur->sync != sync) {
        rc = sync == SQ_SYNC_FULL
                 ? run_simple(c, SQ_SYNC_FULL_STMT, "PRAGMA synchronous=FULL", "set synchronous", err)
                 : run_simple(c, SQ_SYNC_NORMAL_STMT, "PRAGMA synchronous=NORMAL", "set synchronous", err);
        if (rc)
            goto fail;
        c->cur->sync = sync;
    }
    rc = run_simple(c, SQ_BEGIN, "BEGIN IMMEDIATE", "begin", err);
    if (rc)
        goto fail;
    c->in_tx = true;
    return 0;
fail:
    end_tx(c);
    return rc;
}

static int refuse_nested(struct idf_err *err)
{
    /* (where the checks are not built in: a nested BEGIN would wait for the
     * gate this connection holds; refuse it as SQLite would) */
    return idf_err_set(err, IDF_EDB,
                       "store: begin: a transaction is open on this connection already "
                       "(transactions do not nest)");
}

static int gate_timeout(struct idf_err *err)
{
    return idf_err_set(err, IDF_EBUSY, "store: begin: another writer of this process kept the database for %d ms",
                       STORE__SQ_BUSY_MS);
}

int store__sq_begin(struct store__sq *c, enum store__sq_sync sync, struct idf_err *err)
{
    store__sq_check_begin(c);
    if (c->in_tx)
        return refuse_nested(err);
    /* this process's writers queue in the gate (sqlite_gate.c), not in
     * SQLite's sleeping busy handler, and write through its one connection */
    if (c->gate) {
        if (!store__sq_gate_enter(c->gate, STORE__SQ_BUSY_MS))
            return gate_timeout(err);
        use_link(c, store__sq_gate_writer(c->gate));
    }
    return begin_held(c, sync, err);
}

/* One op of a combined transaction in a savepoint of its own (when it is
 * not alone): its failure undoes its writes only. false when SQLite rolled
 * the whole transaction back by itself (an I/O error, a full disk). */
static bool run_op(struct store__sq *c, struct store__sq_op *op, bool alone)
{
    struct idf_err sp_err;

    if (!alone && (op->rc = run_simple(c, SQ_SP_BEGIN, "SAVEPOINT op", "savepoint", op->err)) != 0)
        return !sqlite3_get_autocommit(c->db);
    op->rc = op->fn(c, op, op->err);
    if (sqlite3_get_autocommit(c->db))
        return false;
    if (alone)
        return true;
    if (op->rc && run_simple(c, SQ_SP_ROLLBACK, "ROLLBACK TO op", "roll back to savepoint", &sp_err) != 0)
        return false;
    if (run_simple(c, SQ_SP_RELEASE, "RELEASE op", "release savepoint", &sp_err) != 0) {
        if (!op->rc) {
            op->rc = sp_err.code;
            if (op->err)
                *op->err = sp_err;
        }
        return !sqlite3_get_autocommit(c->db);
    }
    return true;
}

/* Gives every op of ops that has no result of its own the result rc, err. */
static void ops_fail(struct store__sq_op **ops, size_t n, bool all, int rc, const struct idf_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (ops[i]->rc && !all)
            continue;
        ops[i]->rc = rc;
        if (ops[i]->err && ops[i]->err != err)
            *ops[i]->err = *err;
    }
}

int store__sq_combine(struct store__sq *c, struct store__sq_op *op)
{
    struct store__sq_op *ops[STORE__SQ_COMBINE_MAX];
    struct idf_err tx_err = {0};
    size_t n = 1, ok = 0;
    bool intact = true;
    int rc;

    store__sq_check_begin(c);
    if (c->in_tx)
        return refuse_nested(op->err);
    op->rc = 0;
    if (c->gate) {
        switch (store__sq_gate_enter_op(c->gate, op, STORE__SQ_BUSY_MS)) {
        case STORE__SQ_GATE_DONE: return op->rc;
        case STORE__SQ_GATE_TIMEOUT: return gate_timeout(op->err);
        case STORE__SQ_GATE_HELD: break;
        }
        use_link(c, store__sq_gate_writer(c->gate));
    }
    ops[0] = op;
    n += store__sq_gate_take_ops(c->gate, ops + 1, STORE__SQ_COMBINE_MAX - 1);
    rc = begin_held(c, SQ_SYNC_NORMAL, &tx_err); /* (left the gate on failure) */
    if (rc) {
        ops_fail(ops, n, true, rc, &tx_err);
        store__sq_gate_ops_done(c->gate, ops + 1, n - 1);
        return op->rc;
    }
    for (size_t i = 0; i < n && intact; i++) {
        intact = run_op(c, ops[i], n == 1);
        if (!intact) /* the transaction is gone: the ops before this one with it */
            tx_err = ops[i]->err ? *ops[i]->err : (struct idf_err){.code = ops[i]->rc ? ops[i]->rc : IDF_EDB};
        else if (!ops[i]->rc)
            ok++;
    }
    if (intact && !ok) { /* nothing to keep (an op alone has no savepoint): each keeps its own error */
        store__sq_rollback(c);
        store__sq_gate_ops_done(c->gate, ops + 1, n - 1);
        return op->rc;
    }
    if (intact)
        rc = run_simple(c, SQ_COMMIT, "COMMIT", "commit", &tx_err);
    else
        rc = tx_err.code ? tx_err.code : IDF_EDB;
    if (rc) {
        if (!tx_err.msg[0])
            idf_err_set(&tx_err, rc, "store: the transaction was rolled back");
        ops_fail(ops, n, !intact, rc, &tx_err);
        store__sq_rollback(c);
    } else {
        c->in_tx = false;
        end_tx(c);
    }
    store__sq_gate_ops_done(c->gate, ops + 1, n - 1);
    return op->rc;
}

/* Leaves the gate, back on c's own connection. */
static void end_tx(struct store__sq *c)
{
    if (c->cur != &c->own) {
        use_link(c, &c->own);
        store__sq_gate_leave(c->gate);
    }
}

int store__sq_commit(struct store__sq *c, struct idf_err *err)
{
    int rc;

    store__sq_check_commit(c);
    rc = run_simple(c, SQ_COMMIT, "COMMIT", "commit", err);
    if (rc) {
        store__sq_rollback(c);
        return rc;
    }
    c->in_tx = false;
    end_tx(c);
    return 0;
}

void store__sq_rollback(struct store__sq *c)
{
    if (!c->in_tx)
        return;
    c->in_tx = false;
    /* unless SQLite already rolled back by itself (after an I/O error) */
    if (!sqlite3_get_autocommit(c->db))
        (void)run_simple(c, SQ_ROLLBACK, "ROLLBACK", "rollback", NULL);
    end_tx(c);
}

bool store__sq_checks_on(void)
{
    return IDF_INVARIANTS_ON;
}

/* ------------------------------------------------------ column helpers */

int store__sq_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

char *store__sq_col_dup(sqlite3_stmt *st, int col, bool *oom)
{
    const unsigned char *t;
    char *p;
    int n;

    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    t = sqlite3_column_text(st, col);
    n = sqlite3_column_bytes(st, col);
    if (!t) {
        *oom = true;
        return NULL;
    }
    p = malloc((size_t)n + 1);
    if (!p) {
        *oom = true;
        return NULL;
    }
    memcpy(p, t, (size_t)n);
    p[n] = '\0';
    return p;
}

void store__sq_bind_id(sqlite3_stmt *st, const void *arg)
{
    sqlite3_bind_int64(st, 1, *(const int64_t *)arg);
}

int store__sq_copy_run_rows(struct store__sq *c, enum store__sq_slot slot, const char *sql, int64_t from_run,
                            int64_t to_run, const char *what, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, slot, sql, &st, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, from_run);
    sqlite3_bind_int64(st, 2, to_run);
    rc = sqlite3_step(st);
    store__sq_done(st);
    return rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, what, err);
}

int store__sq_list(struct store__sq *c, enum store__sq_slot slot, const char *sql, store__sq_bind_fn bind,
                   const void *bind_arg, store__sq_row_fn row_fn, void (*clear)(void *row), size_t row_size,
                   void **rows_out, size_t *n_out, const char *what)
{
    sqlite3_stmt *st = NULL;
    char *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;

    rc = store__sq_prep(c, slot, sql, &st, NULL);
    if (rc)
        return rc;
    if (bind)
        bind(st, bind_arg);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : SQ_LIST_FIRST;
            char *grown = ncap > SIZE_MAX / row_size ? NULL : realloc(rows, ncap * row_size);
            if (!grown) {
                rc = IDF_ENOMEM;
                goto out;
            }
            rows = grown;
            cap = ncap;
        }
        memset(rows + n * row_size, 0, row_size);
        rc = row_fn(st, rows + n * row_size);
        if (rc) {
            clear(rows + n * row_size);
            goto out;
        }
        n++;
    }
    rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, what, NULL);
out:
    store__sq_done(st);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            clear(rows + i * row_size);
        free(rows);
        return rc;
    }
    *rows_out = n ? rows : NULL;
    if (!n)
        free(rows);
    *n_out = n;
    return 0;
}

/* ------------------------------------------------------------ open/close */

static int exec_pragma(struct store__sq *c, const char *sql, struct idf_err *err)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store__sq_fail(c, rc, sql, err);
}

/* Switches the database to WAL (a file database must end up in WAL; an
 * in-memory one stays "memory"). Another connection switching at the same
 * moment makes this wait out the busy timeout, then retry until a deadline. */
static int set_wal(struct store__sq *c, bool memory, struct idf_err *err)
{
    int64_t deadline = time_mono_ns() + (int64_t)STORE__SQ_BUSY_MS * 1000000;
    sqlite3_stmt *st = NULL;
    int rc;

    for (;;) {
        rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
            if (rc == SQLITE_ROW) {
                const char *mode = (const char *)sqlite3_column_text(st, 0);
                bool wal = mode && strcmp(mode, "wal") == 0;
                sqlite3_finalize(st);
                if (!wal && !memory)
                    return idf_err_set(err, IDF_EDB, "store: the database cannot use WAL mode (journal_mode %s)",
                                       mode ? mode : "?");
                return 0;
            }
        }
        sqlite3_finalize(st);
        st = NULL;
        if ((rc & 0xff) != SQLITE_BUSY || time_mono_ns() > deadline)
            return store__sq_fail(c, rc, "set WAL mode", err);
        sqlite3_sleep(5);
    }
}

/* Set by the first warning about an open database file: a process opens its
 * database once per thread, and says so once. Lock-free (atomic). */
static atomic_flag mode_warned = ATOMIC_FLAG_INIT;

/* Makes sure the database file at path exists before SQLite opens it: the
 * missing folders are created 0700 and a missing file 0600 (SQLite would
 * create it 0644 less the umask, and its -wal and -shm files follow the
 * database's mode). An existing file is not changed; when group or others
 * may read it, a warning says so (once per process). */
static int prepare_file(const char *path, struct idf_err *err)
{
    struct stat st;
    bool created = false;
    int rc;

    rc = fs_mkdir_parents(path, NULL, err);
    if (rc == 0)
        rc = fs_create_private(path, &created, err);
    if (rc) {
        idf_err_prefix(err, "store: ");
        return rc;
    }
    if (!created && stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & (S_IRWXG | S_IRWXO)) &&
        !atomic_flag_test_and_set(&mode_warned))
        log_warn("store: database %s can be read or written by group or others (mode %04o); it holds run history "
                 "and sealed secrets: chmod 600 it (and its -wal and -shm files while idflow is stopped)",
                 path, (unsigned)(st.st_mode & 07777));
    return 0;
}

int store__sqlite_open(const char *path, struct store **out, struct idf_err *err)
{
    struct store__sq *c = NULL;
    bool memory = strcmp(path, ":memory:") == 0;
    char fname[STORE__PATH_MAX + 3];
    int rc;

    /* SQLite (built with SQLITE_USE_URI) reads "file:..." as a URI: make it
     * the plain relative file name it is everywhere else in idflow. */
    snprintf(fname, sizeof fname, "%s%s", strncmp(path, "file:", 5) == 0 ? "./" : "", path);
    if (!memory) {
        rc = prepare_file(fname, err);
        if (rc) {
            idf_err_prefix(err, "%s: ", path);
            return rc;
        }
    }
    c = calloc(1, sizeof *c);
    if (!c)
        return idf_err_set(err, IDF_ENOMEM, "store: out of memory");
    c->base.ops = &sqlite_ops;
    c->opener = pthread_self();
    c->cur = &c->own;
    rc = store__sq_open_link(fname, memory, &c->own, err);
    c->db = c->own.db;
    if (rc)
        goto out;
    rc = store__sq_migrate(c, err);
    if (rc)
        goto out;
    /* after the migrations: from now on this process's writes to the file go
     * through its gate and writer connection */
    if (!memory) {
        rc = store__sq_gate_open(fname, &c->gate, err);
        if (rc)
            goto out;
    }
    *out = &c->base;
    c = NULL;
out:
    if (c) {
        idf_err_prefix(err, "%s: ", path);
        sq_close(&c->base);
    }
    return rc;
}

int store__sq_open_link(const char *fname, bool memory, struct store__sq_link *l, struct idf_err *err)
{
    struct store__sq tmp; /* for set_wal and exec_pragma, which report through a connection */
    int rc;

    memset(l, 0, sizeof *l);
    memset(&tmp, 0, sizeof tmp);
    rc = sqlite3_open_v2(fname, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    tmp.db = l->db;
    if (rc != SQLITE_OK)
        return store__sq_fail(&tmp, rc, "open", err);
    sqlite3_busy_timeout(l->db, STORE__SQ_BUSY_MS);
    rc = set_wal(&tmp, memory, err);
    if (rc == 0)
        rc = exec_pragma(&tmp, "PRAGMA foreign_keys=ON", err);
    if (rc == 0)
        rc = exec_pragma(&tmp, "PRAGMA journal_size_limit=" STORE__SQ_WAL_KEEP, err);
    if (rc == 0)
        rc = exec_pragma(&tmp, "PRAGMA cache_size=" STORE__SQ_CACHE_KIB, err);
    if (rc == 0)
        rc = exec_pragma(&tmp, "PRAGMA synchronous=NORMAL", err);
    l->sync = SQ_SYNC_NORMAL;
    return rc;
}

void store__sq_close_link(struct store__sq_link *l)
{
    for (size_t i = 0; i < SQ__COUNT; i++)
        sqlite3_finalize(l->stmts[i]);
    sqlite3_close_v2(l->db); /* NULL is a no-op */
    memset(l, 0, sizeof *l);
}

static void sq_close(struct store *s)
{
    struct store__sq *c = store__sq(s);

    if (!c)
        return;
    store__sq_rollback(c);
    store__sq_close_link(&c->own);
    store__sq_gate_close(c->gate);
    free(c);
}

int store__sq_audit(struct store__sq *c, int64_t at, const char *actor, const char *action, const char *target,
                    const char *detail, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = store__sq_prep(c, SQ_AUDIT_ADD, SQ_SQL_AUDIT_ADD, &st, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, at);
    store__sq_bind_text(st, 2, actor);
    store__sq_bind_text(st, 3, action);
    store__sq_bind_text(st, 4, target);
    store__sq_bind_text(st, 5, detail);
    rc = sqlite3_step(st);
    store__sq_done(st);
    return rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "audit", err);
}

/* postgres.c — the PostgreSQL backend's connection: open and close, the
 * session settings, the per-connection prepared-statement cache, statement
 * execution with its SQLSTATE -> IDF_E* mapping, transactions, the column
 * getters, the shared audit insert, and the ops table that store.c
 * dispatches through.
 *
 * The SQL of each area lives with its code (postgres_internal.h lists the
 * files): the schema in postgres_migrations.c, workflows/events/cursors/
 * audit in postgres_events.c, claims/leases/step commits in postgres_runs.c
 * (caps in postgres_caps.c, foreach state in postgres_foreach.c), reruns,
 * cancels, approvals and prune in postgres_admin.c, connections and tokens
 * in postgres_conn.c.
 *
 * Threads: a connection is used only by the thread that opened it (checked
 * with IDF_INVARIANT); store_close may run on another thread once the opener
 * is done with it. Nothing here is shared between connections.
 *
 * Secrets: the URL may carry a password. It never appears in an error or a
 * log line: the URL is shown masked and every message libpq wrote about the
 * connection is scrubbed of it (postgres_url.c). The connection's error
 * verbosity is TERSE, and statement errors quote only the server's primary
 * message, never its DETAIL (which can quote a row). */
#include "store/postgres_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define PG_CONNECT_TIMEOUT "10" /* seconds, unless the URL says connect_timeout= */
#define PG_MIN_SERVER 100000    /* PostgreSQL 10: identity columns */

static void pg_close(struct store *s);

static const struct store_ops postgres_ops = {
    .name = "postgresql",
    .close = pg_close,
    .schema_version = store__pg_schema_version,
    .workflow_save = store__pg_workflow_save,
    .workflow_source = store__pg_workflow_source,
    .workflow_set_enabled = store__pg_workflow_set_enabled,
    .workflow_list = store__pg_workflow_list,
    .workflow_last_runs = store__pg_workflow_last_runs,
    .ingest = store__pg_ingest,
    .event_get = store__pg_event_get,
    .events_pending = store__pg_events_pending,
    .events_settle = store__pg_events_settle,
    .event_expand = store__pg_event_expand,
    .event_retry = store__pg_event_retry,
    .run_claim = store__pg_run_claim,
    .run_renew = store__pg_run_renew,
    .run_begin = store__pg_run_begin,
    .run_claim_id = store__pg_run_claim_id,
    .release_leases = store__pg_release_leases,
    .next_wake = store__pg_next_wake,
    .step_commit = store__pg_step_commit,
    .run_get = store__pg_run_get,
    .run_list = store__pg_run_list,
    .step_list = store__pg_step_list,
    .run_counts = store__pg_run_counts,
    .run_rerun = store__pg_run_rerun,
    .run_cancel = store__pg_run_cancel,
    .run_stop = store__pg_run_stop,
    .approval_decide = store__pg_approval_decide,
    .approval_get = store__pg_approval_get,
    .approval_list = store__pg_approval_list,
    .guard_held = store__pg_guard_held,
    .run_approvals = store__pg_run_approvals, /* issue 17 ("approvals-reruns") */
    .cursor_get = store__pg_cursor_get,
    .cursor_set = store__pg_cursor_set,
    .audit_add = store__pg_audit_add,
    .audit_list = store__pg_audit_list,
    .connection_put = store__pg_connection_put,
    .connection_get = store__pg_connection_get,
    .connection_list = store__pg_connection_list,
    .connection_delete = store__pg_connection_delete,
    .prune = store__pg_prune,
    .token_create = store__pg_token_create,
    .token_lookup = store__pg_token_lookup,
    .token_list = store__pg_token_list,
    .token_revoke = store__pg_token_revoke,
    .initialized = store__pg_initialized,
    .initialize = store__pg_initialize,
    .foreach_begin = store__pg_foreach_begin,
    .foreach_item = store__pg_foreach_item,
    .foreach_outputs = store__pg_foreach_outputs,
    .lease_take = store__pg_lease_take,
    .lease_drop = store__pg_lease_drop,
    .lease_get = store__pg_lease_get,
    /* wake-ups (helper "notify"; postgres_notify.c) */
    .notify = store__pg_notify,
    .listen = store__pg_listen,
    .wait = store__pg_wait,
    .window_take = store__pg_window_take,   /* helper "pacing" */
    .window_block = store__pg_window_block, /* helper "pacing" */
    .lease_count = store__pg_lease_count,   /* helper "pacing" */
    .run_count = store__pg_run_count,       /* issue 17, "subjects" */
    .run_subjects = store__pg_run_subjects,
    .run_changes = store__pg_run_changes,
    .event_list = store__pg_event_list, /* replay (issue 19) */
    .event_runs = store__pg_event_runs,
};

/* --------------------------------------------------------------- numbers */

const char *store__pg_i64(char *buf, int64_t v)
{
    snprintf(buf, STORE__PG_INT_LEN, "%lld", (long long)v);
    return buf;
}

/* ---------------------------------------------------------------- errors */

/* (postgres_internal.h) Cut to fit; libpq's indented continuation lines
 * lose their indent. */
void store__pg_one_line(char *out, const char *msg)
{
    size_t n = 0;

    for (const char *p = msg ? msg : ""; *p && n + 3 < STORE__PG_MSG_MAX; p++) {
        if (*p == '\n') {
            if (p[1] == '\0')
                break;
            out[n++] = ';';
            out[n++] = ' ';
            while (p[1] == '\t' || p[1] == ' ')
                p++; /* libpq indents its continuation lines */
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

/* Maps a failed statement's result (r may be NULL: no result at all) to an
 * IDF_E* code and sets err to "store: what: <primary message>". */
static int fail_result(struct store__pg *c, const PGresult *r, const char *what, struct idf_err *err)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[STORE__PG_MSG_MAX];
    int code = IDF_EDB;

    if (state && (strncmp(state, "40", 2) == 0 || strcmp(state, "55P03") == 0))
        code = IDF_EBUSY;
    else if (state && strcmp(state, "23505") == 0)
        code = IDF_EEXIST;
    else if (state && strcmp(state, "53200") == 0)
        code = IDF_ENOMEM;
    else if (!r && PQstatus(c->conn) != CONNECTION_BAD)
        code = IDF_ENOMEM; /* libpq could not allocate a result */

    if (primary)
        store__pg_one_line(msg, primary);
    else if (!r && code == IDF_ENOMEM)
        snprintf(msg, sizeof msg, "out of memory");
    else
        store__pg_one_line(msg, PQerrorMessage(c->conn)); /* client-side: no server DETAIL in it */
    if (!msg[0])
        snprintf(msg, sizeof msg, "%s", PQstatus(c->conn) == CONNECTION_BAD ? "connection lost" : "failed");
    /* Callers of the functions without an err get only the code: log why. */
    if (!err)
        log_warn("store: %s: %s", what, msg);
    return idf_err_set(err, code, "store: %s: %s", what, msg);
}

/* ------------------------------------------------------ statement cache */

/* FNV-1a over the SQL text: the cache keys on the text, not its address. */
static uint64_t text_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* The slot holding sql, or the empty slot where it goes; NULL when the table
 * is full and sql is not in it (the caller runs it unprepared). */
static struct store__pg_stmt *stmt_slot(struct store__pg *c, const char *sql)
{
    unsigned mask = STORE__PG_STMTS_MAX - 1;
    unsigned i = (unsigned)text_hash(sql) & mask;

    _Static_assert((STORE__PG_STMTS_MAX & (STORE__PG_STMTS_MAX - 1)) == 0, "a power of two");
    for (unsigned probes = 0; probes < STORE__PG_STMTS_MAX; probes++, i = (i + 1) & mask) {
        struct store__pg_stmt *e = &c->stmts[i];
        if (!e->sql || e->sql == sql || strcmp(e->sql, sql) == 0)
            return e;
    }
    return NULL;
}

static int session_setup(struct store__pg *c, struct idf_err *err);

/* Outside a transaction, a connection the server closed (a restart, a
 * failover, an idle timeout, pg_terminate_backend) is opened again, with its
 * session settings and an empty statement cache (prepared statements die
 * with their session): so a node outlives a database restart instead of
 * failing every call of that thread until it restarts. Inside a transaction
 * nothing is retried: the transaction is lost, the call fails, and the next
 * call reconnects. A listening connection is never reopened: the new session
 * would not listen, and its listener would wait forever; it gets IDF_EDB and
 * opens a connection of its own (engine/listen.c). 0 when the connection is
 * usable. */
static int reconnect(struct store__pg *c, struct idf_err *err)
{
    if (PQstatus(c->conn) != CONNECTION_BAD)
        return 0;
    /* a new session would not be listening: its owner must see the break
     * (and LISTEN again on a connection of its own making) */
    if (c->listening)
        return idf_err_set(err, IDF_EDB, "store: the listening connection to PostgreSQL was lost");
    PQreset(c->conn);
    memset(c->stmts, 0, sizeof c->stmts);
    c->n_stmts = 0;
    if (PQstatus(c->conn) != CONNECTION_OK)
        return idf_err_set(err, IDF_EDB, "store: the connection to PostgreSQL was lost and could not be opened again");
    log_warn("store: the connection to PostgreSQL was lost; opened again");
    return session_setup(c, err);
}

static bool result_ok(const PGresult *r)
{
    return r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
}

/* Runs sql once: prepared (preparing it on first use) unless once is set or
 * the cache is full. The result, or the failed one (of the PREPARE when
 * that failed; NULL when libpq made none). */
static PGresult *run_stmt(struct store__pg *c, const char *sql, int n, const char *const *params, const int *lens,
                          const int *formats, bool once)
{
    struct store__pg_stmt *e = once ? NULL : stmt_slot(c, sql);
    PGresult *r;
    char name[16];

    if (!e) /* asked, or the table is full: parsed and planned each time, with the values */
        return PQexecParams(c->conn, sql, n, NULL, params, lens, formats, 0);
    if (!e->sql) {
        unsigned id = c->n_stmts + 1;
        snprintf(name, sizeof name, "s%u", id);
        r = PQprepare(c->conn, name, sql, n, NULL);
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
            return r;
        PQclear(r);
        e->sql = sql;
        e->id = id;
        c->n_stmts++;
    }
    snprintf(name, sizeof name, "s%u", e->id);
    return PQexecPrepared(c->conn, name, n, params, lens, formats, 0);
}

/* once: run sql unprepared even when the cache has room (store__pg_exec_once).
 * A statement outside a transaction that finds the connection closed by the
 * server runs again, once, on the connection opened again (reconnect): such
 * statements are reads or writes that may run twice (the token touch, a
 * notification, a lease taken again by its owner). */
static int exec_any(struct store__pg *c, const char *what, const char *sql, int n, const char *const *params,
                    const int *lens, const int *formats, bool once, PGresult **res, struct idf_err *err)
{
    PGresult *r;
    int rc = 0;

    if (res)
        *res = NULL;
    store__pg_check_thread(c, "a statement");
    if (!c->in_tx && (rc = reconnect(c, err)) != 0)
        return rc;
    r = run_stmt(c, sql, n, params, lens, formats, once);
    if (!result_ok(r) && !c->in_tx && PQstatus(c->conn) == CONNECTION_BAD && reconnect(c, NULL) == 0) {
        PQclear(r);
        r = run_stmt(c, sql, n, params, lens, formats, once);
    }
    if (!result_ok(r))
        rc = fail_result(c, r, what, err);
    else if (res) {
        *res = r;
        r = NULL;
    }
    PQclear(r); /* NULL is a no-op */
    return rc;
}

int store__pg_exec(struct store__pg *c, const char *what, const char *sql, int n, const char *const *params,
                   PGresult **res, struct idf_err *err)
{
    return exec_any(c, what, sql, n, params, NULL, NULL, false, res, err);
}

int store__pg_exec_once(struct store__pg *c, const char *what, const char *sql, int n, const char *const *params,
                        PGresult **res, struct idf_err *err)
{
    return exec_any(c, what, sql, n, params, NULL, NULL, true, res, err);
}

int store__pg_execb(struct store__pg *c, const char *what, const char *sql, int n, const char *const *params,
                    const int *lens, const bool *binary, PGresult **res, struct idf_err *err)
{
    /* On the heap: a batch may bind thousands of parameters. */
    int *formats = calloc(n > 0 ? (size_t)n : 1, sizeof *formats);
    int *lengths = calloc(n > 0 ? (size_t)n : 1, sizeof *lengths);
    int rc;

    if (res)
        *res = NULL;
    if (!formats || !lengths) {
        rc = idf_err_set(err, IDF_ENOMEM, "store: %s: out of memory", what);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        formats[i] = binary && binary[i] ? 1 : 0;
        lengths[i] = lens ? lens[i] : 0;
    }
    rc = exec_any(c, what, sql, n, params, lengths, formats, false, res, err);
out:
    free(formats);
    free(lengths);
    return rc;
}

/* --------------------------------------------------------- transactions */

int store__pg_begin(struct store__pg *c, struct idf_err *err)
{
    int rc;

    store__pg_check_thread(c, "BEGIN");
    IDF_INVARIANT(!c->in_tx && (PQtransactionStatus(c->conn) == PQTRANS_IDLE || PQstatus(c->conn) == CONNECTION_BAD),
                  "store: BEGIN on a connection already in a transaction (transactions do not nest)");
    rc = store__pg_exec(c, "begin", "BEGIN ISOLATION LEVEL READ COMMITTED", 0, NULL, NULL, err);
    if (rc)
        return rc;
    c->in_tx = true;
    return 0;
}

int store__pg_commit(struct store__pg *c, struct idf_err *err)
{
    PGresult *r = NULL;
    int rc;

    IDF_INVARIANT(c->in_tx, "store: COMMIT outside a transaction");
    /* COMMIT of a failed transaction "succeeds" by rolling back: refuse it. */
    if (PQtransactionStatus(c->conn) != PQTRANS_INTRANS) {
        store__pg_rollback(c);
        if (!err)
            log_warn("store: commit: the transaction had failed; rolled back");
        return idf_err_set(err, IDF_EDB, "store: commit: the transaction had failed; rolled back");
    }
    rc = store__pg_exec(c, "commit", "COMMIT", 0, NULL, &r, err);
    if (rc == 0 && strcmp(PQcmdStatus(r), "COMMIT") != 0)
        rc = idf_err_set(err, IDF_EDB, "store: commit: the server rolled the transaction back");
    PQclear(r);
    if (rc) {
        store__pg_rollback(c);
        return rc;
    }
    c->in_tx = false;
    return 0;
}

void store__pg_rollback(struct store__pg *c)
{
    PGresult *r;

    if (!c->in_tx)
        return;
    c->in_tx = false;
    if (PQtransactionStatus(c->conn) == PQTRANS_IDLE || PQstatus(c->conn) == CONNECTION_BAD)
        return; /* nothing open on the server (a failed COMMIT ended it) */
    r = PQexec(c->conn, "ROLLBACK");
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
        (void)fail_result(c, r, "rollback", NULL);
    PQclear(r);
}

/* ------------------------------------------------------------- getters */

int64_t store__pg_get_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool store__pg_get_bool(const PGresult *r, int row, int col)
{
    const char *v;

    if (PQgetisnull(r, row, col))
        return false;
    v = PQgetvalue(r, row, col);
    return strcmp(v, "t") == 0 || strcmp(v, "1") == 0;
}

bool store__pg_is_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) != 0;
}

char *store__pg_get_dup(const PGresult *r, int row, int col, bool *oom)
{
    size_t n;
    char *p;

    if (PQgetisnull(r, row, col))
        return NULL;
    n = (size_t)PQgetlength(r, row, col);
    p = malloc(n + 1);
    if (!p) {
        *oom = true;
        return NULL;
    }
    memcpy(p, PQgetvalue(r, row, col), n);
    p[n] = '\0';
    return p;
}

int store__pg_get_bytea(const PGresult *r, int row, int col, unsigned char **out, size_t *len)
{
    unsigned char *raw;
    size_t n = 0;

    *out = NULL;
    *len = 0;
    if (PQgetisnull(r, row, col))
        return 0;
    raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    if (!raw)
        return IDF_ENOMEM;
    /* A copy the caller frees with free(), whatever PQfreemem is. */
    *out = malloc(n ? n : 1);
    if (!*out) {
        PQfreemem(raw);
        return IDF_ENOMEM;
    }
    memcpy(*out, raw, n);
    *len = n;
    PQfreemem(raw);
    return 0;
}

/* ---------------------------------------------------------------- audit */

int store__pg_audit(struct store__pg *c, int64_t at, const char *actor, const char *action, const char *target,
                    const char *detail, struct idf_err *err)
{
    char at_s[STORE__PG_INT_LEN];
    const char *p[5] = {store__pg_i64(at_s, at), actor, action, target, detail};

    return store__pg_exec(c, "audit",
                          "INSERT INTO audit (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)", 5, p,
                          NULL, err);
}

/* ------------------------------------------------------------ open/close */

/* libpq's notices (NOTICE: relation already exists, ...) go to the debug log,
 * not to stderr. */
static void on_notice(void *arg, const char *message)
{
    char msg[STORE__PG_MSG_MAX];

    (void)arg;
    store__pg_one_line(msg, message);
    log_debug("store: postgresql: %s", msg);
}

/* The session every connection runs with (postgres_internal.h), whatever
 * the URL's options say: durable commits, texts sent and read as UTF8 (no
 * conversion: byte for byte on a UTF8 or SQL_ASCII database), UTC, READ
 * COMMITTED, no NOTICE chatter. */
static const char SQL_SESSION[] = "SET synchronous_commit = on;"
                                  "SET client_encoding = 'UTF8';"
                                  "SET TimeZone = 'UTC';"
                                  "SET default_transaction_isolation = 'read committed';"
                                  "SET client_min_messages = warning";

static int connect_db(struct store__pg *c, const char *url, struct idf_err *err)
{
    /* Defaults first: the URL (dbname, expanded) overrides them. */
    static const char *const keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname", NULL};
    const char *vals[] = {PG_CONNECT_TIMEOUT, "idflow", "UTF8", url, NULL};
    PQconninfoOption *opts;
    char *perr = NULL;
    char msg[STORE__PG_MSG_MAX];
    const char *enc;
    int rc = 0;

    opts = PQconninfoParse(url, &perr);
    if (!opts) {
        store__pg_scrub(url, perr ? perr : "out of memory", msg);
        rc = idf_err_set(err, perr ? IDF_EINVAL : IDF_ENOMEM, "store: bad PostgreSQL URL: %s", msg);
        PQfreemem(perr);
        return rc;
    }
    PQconninfoFree(opts);

    c->conn = PQconnectdbParams(keys, vals, 1);
    if (!c->conn)
        return idf_err_set(err, IDF_ENOMEM, "store: connect: out of memory");
    if (PQstatus(c->conn) != CONNECTION_OK) {
        store__pg_scrub(url, PQerrorMessage(c->conn), msg);
        return idf_err_set(err, IDF_EDB, "store: connect: %s", msg);
    }
    PQsetErrorVerbosity(c->conn, PQERRORS_TERSE);
    PQsetErrorContextVisibility(c->conn, PQSHOW_CONTEXT_NEVER);
    PQsetNoticeProcessor(c->conn, on_notice, NULL);
    if (PQserverVersion(c->conn) < PG_MIN_SERVER)
        return idf_err_set(err, IDF_ESTATE, "store: PostgreSQL server version %d is too old (idflow needs 10 or newer)",
                           PQserverVersion(c->conn));
    /* Texts cross byte for byte only when the server stores them as sent. */
    enc = PQparameterStatus(c->conn, "server_encoding");
    if (!enc || (strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0))
        return idf_err_set(err, IDF_ESTATE,
                           "store: the database's encoding is %s; idflow needs a UTF8 database "
                           "(CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)",
                           enc ? enc : "unknown");
    return session_setup(c, err);
}

static int session_setup(struct store__pg *c, struct idf_err *err)
{
    PGresult *r = PQexec(c->conn, SQL_SESSION);
    int rc = 0;

    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = fail_result(c, r, "set up the session", err);
    PQclear(r);
    return rc;
}

int store__pg_open(const char *url, struct store **out, struct idf_err *err)
{
    struct store__pg *c = NULL;
    char shown[STORE__PATH_MAX + 8];
    int rc;

    *out = NULL;
    c = calloc(1, sizeof *c);
    if (!c) {
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        goto out;
    }
    c->base.ops = &postgres_ops;
    c->opener = pthread_self();
    rc = connect_db(c, url, err);
    if (rc == 0)
        rc = store__pg_migrate(c, err);
    if (rc)
        goto out;
    *out = &c->base;
    c = NULL;
out:
    if (rc && err) {
        char tmp[STORE__PG_MSG_MAX];
        /* defence in depth: no message leaves with the password */
        snprintf(tmp, sizeof tmp, "%s", err->msg);
        store__pg_scrub(url, tmp, err->msg);
        store__pg_url_masked(url, shown, sizeof shown);
        idf_err_prefix(err, "%s: ", shown);
    }
    if (c)
        pg_close(&c->base);
    return rc;
}

static void pg_close(struct store *s)
{
    struct store__pg *c = (struct store__pg *)s;

    if (!c)
        return;
    if (c->conn)
        store__pg_rollback(c);
    PQfinish(c->conn); /* NULL is a no-op */
    free(c);
}

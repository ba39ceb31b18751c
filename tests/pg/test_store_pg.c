/* test_store_pg.c — the PostgreSQL backend's own tests (the contract suites
 * run against it too, from tests/pg/run.sh): `idflow migrate` on an empty
 * database, migrations applied once by connections opening a fresh database
 * at once, a newer schema refused by store_open, `idflow migrate` and
 * `idflow serve`, no password in any error, bad URLs, a non-UTF8 database,
 * the prepared-statement cache and the SQLSTATE mapping (postgres_internal.h),
 * lists in byte order under a database collation that is not.
 *
 * Needs a server: IDFLOW_TEST_PG_URL (postgresql://idflow@127.0.0.1:PORT/idflow,
 * a superuser trusted from loopback, other roles by password: what
 * tests/pg/cluster.sh starts). Without it every test fails, saying so: it is
 * run only by tests/pg/run.sh, never skipped. Each test works in schemas of
 * its own (support/storeurl.h). IDFLOW_BIN is the idflow binary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/postgres_internal.h"
#include "store/store.h"
#include "support/storeurl.h"
#include "support/testutil.h"

#define OK(x) assert_int_equal((x), 0)
#define OPENERS 6 /* connections opening one fresh database at once */

static const char *base_url(void)
{
    const char *u = getenv("IDFLOW_TEST_PG_URL");
    if (!u || !*u)
        fail_msg("IDFLOW_TEST_PG_URL is not set: this suite needs a PostgreSQL server; run it through "
                 "tests/pg/run.sh (make test), which starts one");
    return u;
}

static const char *idflow_bin(void)
{
    const char *b = getenv("IDFLOW_BIN");
    if (!b || !*b)
        fail_msg("IDFLOW_BIN is not set");
    return b;
}

/* A fresh, empty schema; its URL into out. */
static void fresh_url(const char *what, char *out, size_t n)
{
    assert_int_equal(tu_pg_fresh_url(what, out, n), 0);
}

/* Runs sql as the superuser on url's database; the first value of the first
 * row into val (when not NULL). */
static void sql_on(const char *url, const char *sql, char *val, size_t n)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r;

    assert_int_equal(PQstatus(c), CONNECTION_OK);
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    if (val)
        snprintf(val, n, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
}

/* The port of the cluster's URL (postgresql://idflow@127.0.0.1:PORT/...). */
static int cluster_port(void)
{
    const char *p = strstr(base_url(), "127.0.0.1:");
    assert_non_null(p);
    return atoi(p + strlen("127.0.0.1:"));
}

/* ------------------------------------------------------------- migrate */

static void migrate_creates_the_schema_and_prints_its_version(void **state)
{
    char url[1024], v[64], *out = NULL, *err = NULL;
    (void)state;

    fresh_url("migrate", url, sizeof url);
    assert_int_equal(tu_idflow_db(idflow_bin(), url, &out, &err, "migrate", NULL), 0);
    assert_non_null(strstr(out, "schema version 7"));
    free(out);
    free(err);
    sql_on(url, "SELECT count(*) || ':' || max(version) FROM schema_migrations", v, sizeof v);
    assert_string_equal(v, "7:7");
    sql_on(url,
           "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename IN "
           "('workflows','workflow_state','events','runs','steps','approvals','cursors','audit',"
           "'connections','tokens','foreach_items','settings','leases','pace_keys','pace_sends','run_subjects')",
           v, sizeof v);
    assert_string_equal(v, "16");
    /* no per-status counter table: it would serialize every writer */
    sql_on(url, "SELECT to_regclass('run_counts') IS NULL", v, sizeof v);
    assert_string_equal(v, "t");
    /* again: nothing to do, same version, one row */
    out = err = NULL;
    assert_int_equal(tu_idflow_db(idflow_bin(), url, &out, &err, "migrate", NULL), 0);
    assert_non_null(strstr(out, "schema version 7"));
    free(out);
    free(err);
    sql_on(url, "SELECT count(*) FROM schema_migrations", v, sizeof v);
    assert_string_equal(v, "7");
}

struct opener {
    const char *url;
    pthread_barrier_t *go;
    int rc;
    char msg[IDF_ERR_MSG_MAX];
};

static void *open_one(void *arg)
{
    struct opener *o = arg;
    struct store *s = NULL;
    struct idf_err err = {0};

    pthread_barrier_wait(o->go);
    o->rc = store_open(o->url, &s, &err);
    snprintf(o->msg, sizeof o->msg, "%s", err.msg);
    store_close(s);
    return NULL;
}

/* Nodes starting together on a fresh database: every open succeeds and each
 * migration is applied (and recorded) once. */
static void concurrent_opens_apply_each_migration_once(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        char url[1024], v[64];
        pthread_t th[OPENERS];
        struct opener o[OPENERS];
        pthread_barrier_t go;

        fresh_url("race", url, sizeof url);
        pthread_barrier_init(&go, NULL, OPENERS);
        for (int i = 0; i < OPENERS; i++) {
            o[i] = (struct opener){.url = url, .go = &go};
            assert_int_equal(pthread_create(&th[i], NULL, open_one, &o[i]), 0);
        }
        for (int i = 0; i < OPENERS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < OPENERS; i++)
            if (o[i].rc)
                fail_msg("opener %d: %d %s", i, o[i].rc, o[i].msg);
        sql_on(url, "SELECT count(*) || ':' || count(DISTINCT version) FROM schema_migrations", v, sizeof v);
        assert_string_equal(v, "7:7");
    }
}

/* A database a newer idflow migrated: refused by store_open, `idflow
 * migrate` and `idflow serve`, with both versions in the message. */
static void a_newer_schema_is_refused(void **state)
{
    char url[1024], *out = NULL, *err = NULL;
    struct store *s = NULL;
    struct idf_err e = {0};
    int latest = 0;
    (void)state;

    fresh_url("newer", url, sizeof url);
    OK(store_open(url, &s, &e));
    OK(store_schema_version(s, &latest));
    store_close(s);
    s = NULL;
    sql_on(url, "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)", NULL, 0);

    assert_int_equal(store_open(url, &s, &e), IDF_ESTATE);
    assert_null(s);
    assert_non_null(strstr(e.msg, "schema version 99 is newer than this idflow"));
    char want[32];
    snprintf(want, sizeof want, "(%d)", latest);
    assert_non_null(strstr(e.msg, want));

    assert_int_equal(tu_idflow_db(idflow_bin(), url, &out, &err, "migrate", NULL), 1);
    assert_non_null(strstr(err, "schema version 99 is newer than this idflow"));
    free(out);
    free(err);

    const char *argv[] = {idflow_bin(), "serve", "--db", url, "--listen", "127.0.0.1:0", NULL};
    out = err = NULL;
    assert_int_equal(tu_run(argv, NULL, 30000, &out, &err), 1);
    assert_non_null(strstr(err, "schema version 99 is newer than this idflow"));
    assert_non_null(strstr(err, want));
    free(out);
    free(err);
}

/* ----------------------------------------------------- passwords, URLs */

/* msg says what went wrong and quotes no form of the password. */
static void no_secret(const char *msg, const char *pw)
{
    if (strstr(msg, pw))
        fail_msg("a secret (%s) is in the message: %s", pw, msg);
}

static void open_fails_without_password(const char *url, const char *pw, int want_rc, const char *want_msg)
{
    struct store *s = NULL;
    struct idf_err e = {0};
    int rc = store_open(url, &s, &e);

    assert_null(s);
    if (rc != want_rc || !strstr(e.msg, want_msg))
        fail_msg("store_open: %d %s (wanted %d, \"%s\")", rc, e.msg, want_rc, want_msg);
    no_secret(e.msg, pw);
}

static void a_password_never_shows_in_an_error(void **state)
{
    char role[64], sql[512], url[1024], schema_url[1024], tag[64];
    char *out = NULL, *err = NULL;
    struct store *s = NULL;
    struct idf_err e = {0};
    int port = cluster_port();
    (void)state;

    /* a role that must give its password, with a schema of its own */
    snprintf(role, sizeof role, "pw_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN PASSWORD 'Right-Pass-4821'", role);
    sql_on(base_url(), sql, NULL, 0);
    snprintf(tag, sizeof tag, "pw_schema_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s AUTHORIZATION %s", tag, role);
    sql_on(base_url(), sql, NULL, 0);
    snprintf(schema_url, sizeof schema_url,
             "postgresql://%s:Right-Pass-4821@127.0.0.1:%d/idflow?options=-csearch_path%%3D%s", role, port, tag);
    OK(store_open(schema_url, &s, &e)); /* the right one works */
    store_close(s);

    /* a wrong password, in the user info and as a parameter */
    snprintf(url, sizeof url, "postgresql://%s:Wrong-Pass-7319@127.0.0.1:%d/idflow", role, port);
    open_fails_without_password(url, "Wrong-Pass-7319", IDF_EDB, "password authentication failed");
    assert_non_null(strstr(url, "Wrong-Pass-7319"));
    snprintf(url, sizeof url, "postgresql://%s@127.0.0.1:%d/idflow?password=Wrong-Pass-5502", role, port);
    open_fails_without_password(url, "Wrong-Pass-5502", IDF_EDB, "password authentication failed");
    /* the URL is shown masked */
    open_fails_without_password(url, "Wrong-Pass-5502", IDF_EDB, "password=***");
    /* nobody listening */
    open_fails_without_password("postgresql://u:Unreach-Pass-1@127.0.0.1:1/idflow", "Unreach-Pass-1", IDF_EDB,
                                "postgresql://u:***@127.0.0.1:1/idflow");
    /* URLs libpq refuses while quoting them, or the token it failed to decode */
    open_fails_without_password("postgresql://u:Bad%zzPass-77@127.0.0.1:1/x", "Bad%zzPass-77", IDF_EINVAL,
                                "bad PostgreSQL URL");
    open_fails_without_password("postgresql://u:Bad%zzPass-77@127.0.0.1:1/x", "Pass-77", IDF_EINVAL, "percent-encoded");
    open_fails_without_password("postgresql://u@127.0.0.1:1/x?pass%77ord=Bad%zzPass-78", "Pass-78", IDF_EINVAL,
                                "bad PostgreSQL URL");
    open_fails_without_password("postgresql://u:Bracket-Pass-9@[::1/x", "Bracket-Pass-9", IDF_EINVAL,
                                "bad PostgreSQL URL");
    /* decoded too: %41 is 'A' */
    snprintf(url, sizeof url, "postgresql://%s:Wrong-P%%41ss-8@127.0.0.1:%d/idflow", role, port);
    open_fails_without_password(url, "Wrong-PAss-8", IDF_EDB, "password authentication failed");
    open_fails_without_password(url, "Wrong-P%41ss-8", IDF_EDB, "password authentication failed");

    /* and through the command line */
    snprintf(url, sizeof url, "postgresql://%s:Wrong-Pass-7319@127.0.0.1:%d/idflow", role, port);
    assert_int_equal(tu_idflow_db(idflow_bin(), url, &out, &err, "migrate", NULL), 1);
    assert_non_null(strstr(err, "password authentication failed"));
    no_secret(err, "Wrong-Pass-7319");
    no_secret(out, "Wrong-Pass-7319");
    free(out);
    free(err);
}

/* What serve logs as its database. */
static void a_url_for_a_log_has_no_password(void **state)
{
    char out[512];
    (void)state;

    store_url_for_log("postgresql://u:Pw-One-1@h:5/db?sslmode=require&password=Pw-Two-2&pass%77ord=Pw-Three-3", out,
                      sizeof out);
    assert_string_equal(out, "postgresql://u:***@h:5/db?sslmode=require&password=***&pass%77ord=***");
    store_url_for_log("postgres://h/db?user=u&password=Pw-Four-4", out, sizeof out);
    assert_string_equal(out, "postgres://h/db?user=u&password=***");
    store_url_for_log("postgresql://u@h/db", out, sizeof out);
    assert_string_equal(out, "postgresql://u@h/db");
    store_url_for_log("sqlite:/var/lib/idflow/idflow.db", out, sizeof out);
    assert_string_equal(out, "sqlite:/var/lib/idflow/idflow.db");
}

static void a_bad_url_fails_clearly(void **state)
{
    struct store *s = NULL;
    struct idf_err e = {0};
    (void)state;

    assert_int_equal(store_open("postgresql://[::1/x", &s, &e), IDF_EINVAL);
    assert_null(s);
    assert_non_null(strstr(e.msg, "bad PostgreSQL URL"));
    assert_int_equal(store_open("postgresql://127.0.0.1/x?no_such_option=1", &s, &e), IDF_EINVAL);
    assert_non_null(strstr(e.msg, "no_such_option"));
    assert_int_equal(store_open("postgres://127.0.0.1:notaport/x", &s, &e), IDF_EDB);
    assert_non_null(strstr(e.msg, "notaport"));
    assert_null(s);
}

static void show_is(struct store__pg *c, const char *sql, const char *want)
{
    PGresult *r = NULL;
    OK(store__pg_exec(c, "show", sql, 0, NULL, &r, NULL));
    assert_string_equal(PQgetvalue(r, 0, 0), want);
    PQclear(r);
}

/* The session's settings hold whatever the URL's options ask. */
static void the_session_is_set_whatever_the_url_says(void **state)
{
    char tmpl[1024], tag[64], url[1024];
    struct store *s = NULL;
    struct idf_err e = {0};
    struct store__pg *c;
    (void)state;

    snprintf(tmpl, sizeof tmpl,
             "%s?options=-csearch_path%%3D%%s%%20-csynchronous_commit%%3Doff%%20-cTimeZone%%3DEurope/Paris"
             "%%20-cdefault_transaction_isolation%%3Dserializable&client_encoding=LATIN1",
             base_url());
    snprintf(tag, sizeof tag, "tpg_session_%d", (int)getpid());
    assert_int_equal(tu_store_url(tmpl, tag, url, sizeof url), 0);
    OK(store_open(url, &s, &e));
    c = store__pg(s);
    show_is(c, "SHOW synchronous_commit", "on");
    show_is(c, "SHOW TimeZone", "UTC");
    show_is(c, "SHOW default_transaction_isolation", "read committed");
    show_is(c, "SHOW client_encoding", "UTF8");
    show_is(c, "SHOW application_name", "idflow");
    store_close(s);
}

/* Texts cross byte for byte only when the server keeps what it is sent. */
static void a_database_that_is_not_utf8_is_refused(void **state)
{
    char sql[256], url[1024], *p;
    struct store *s = NULL;
    struct idf_err e = {0};
    (void)state;

    snprintf(sql, sizeof sql,
             "CREATE DATABASE latin_%d ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
             (int)getpid());
    sql_on(base_url(), sql, NULL, 0);
    snprintf(url, sizeof url, "%s", base_url());
    p = strrchr(url, '/');
    snprintf(p + 1, sizeof url - (size_t)(p + 1 - url), "latin_%d", (int)getpid());
    assert_int_equal(store_open(url, &s, &e), IDF_ESTATE);
    assert_null(s);
    assert_non_null(strstr(e.msg, "LATIN1"));
    snprintf(sql, sizeof sql, "DROP DATABASE latin_%d", (int)getpid());
    sql_on(base_url(), sql, NULL, 0);
}

/* Lists sort names byte for byte, as SQLite's BINARY collation, whatever
 * the database's collation: here ICU's en-US, which puts "alpha" before
 * "Alpha" (bytes: "Alpha" < "alpha" < "beta"). */
static void lists_sort_names_bytewise_whatever_the_locale(void **state)
{
    static const char *const names[3] = {"beta", "alpha", "Alpha"};
    static const char *const want[3] = {"Alpha", "alpha", "beta"};
    char sql[256], url[1024], hash[32], *p;
    struct store *s = NULL;
    struct store_workflow_info *wf = NULL;
    struct store_connection_info *cn = NULL;
    struct store_token *tk = NULL;
    size_t n_wf = 0, n_cn = 0, n_tk = 0;
    struct idf_err e = {0};
    int64_t v = 0, id = 0;
    bool created = false;
    (void)state;

    snprintf(sql, sizeof sql,
             "CREATE DATABASE icu_%d LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C' TEMPLATE template0",
             (int)getpid());
    sql_on(base_url(), sql, NULL, 0);
    snprintf(url, sizeof url, "%s", base_url());
    p = strrchr(url, '/');
    snprintf(p + 1, sizeof url - (size_t)(p + 1 - url), "icu_%d", (int)getpid());
    sql_on(url, "SELECT 1", NULL, 0);
    if (store_open(url, &s, &e) != 0)
        fail_msg("store_open: %s", e.msg);
    for (int i = 0; i < 3; i++) {
        OK(store_workflow_save(s, names[i], "name: x", "h", &v, &created, &e));
        OK(store_connection_put(s, names[i], "okta", "{}", NULL, 0, "test", &created, &e));
        snprintf(hash, sizeof hash, "hash-%d", i);
        OK(store_token_create(s, names[i], "viewer", hash, "idf_", 0, "test", &id, &e));
    }
    OK(store_workflow_list(s, &wf, &n_wf));
    OK(store_connection_list(s, &cn, &n_cn));
    OK(store_token_list(s, &tk, &n_tk));
    assert_int_equal(n_wf, 3);
    assert_int_equal(n_cn, 3);
    assert_int_equal(n_tk, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(wf[i].name, want[i]);
        assert_string_equal(cn[i].name, want[i]);
        assert_string_equal(tk[i].name, want[i]);
    }
    store_workflow_list_free(wf, n_wf);
    store_connection_list_free(cn, n_cn);
    store_token_list_free(tk, n_tk);
    store_close(s);
    snprintf(sql, sizeof sql, "DROP DATABASE icu_%d", (int)getpid());
    sql_on(base_url(), sql, NULL, 0);
}

/* ---------------------------------------------- statement cache, errors */

#define N_TEXTS ((int)STORE__PG_STMTS_MAX + 44)
static char texts[N_TEXTS][32]; /* stable SQL texts, as the literals of real callers */

static void select_n(struct store__pg *c, const char *sql, int want)
{
    PGresult *r = NULL;
    OK(store__pg_exec(c, "test", sql, 0, NULL, &r, NULL));
    assert_int_equal(store__pg_get_i64(r, 0, 0), want);
    PQclear(r);
}

/* Prepared once per text (keyed on its content, not its address); once the
 * table is full, new texts still run, unprepared. */
static void statements_are_prepared_once_and_run_past_the_cap(void **state)
{
    char url[1024], copy[32];
    struct store *s = NULL;
    struct idf_err e = {0};
    struct store__pg *c;
    unsigned base;
    (void)state;

    fresh_url("stmts", url, sizeof url);
    OK(store_open(url, &s, &e));
    c = store__pg(s);
    base = c->n_stmts;
    for (int i = 0; i < N_TEXTS; i++)
        snprintf(texts[i], sizeof texts[i], "SELECT %d", i);
    select_n(c, texts[0], 0);
    assert_int_equal(c->n_stmts, base + 1);
    snprintf(copy, sizeof copy, "%s", texts[0]); /* same text, other address */
    select_n(c, copy, 0);
    select_n(c, texts[0], 0);
    assert_int_equal(c->n_stmts, base + 1);
    for (int i = 1; i < N_TEXTS; i++)
        select_n(c, texts[i], i);
    assert_int_equal(c->n_stmts, STORE__PG_STMTS_MAX);
    for (int i = N_TEXTS - 1; i >= 0; i--)
        select_n(c, texts[i], i);
    assert_int_equal(c->n_stmts, STORE__PG_STMTS_MAX);
    store_close(s);
}

static void errors_map_sqlstates_and_never_quote_a_row(void **state)
{
    char url[1024];
    struct store *s = NULL, *s2 = NULL;
    struct idf_err e = {0};
    struct store__pg *c, *c2;
    const char *secret[1] = {"Row-Secret-2291"};
    (void)state;

    fresh_url("errors", url, sizeof url);
    OK(store_open(url, &s, &e));
    OK(store_open(url, &s2, &e));
    c = store__pg(s);
    c2 = store__pg(s2);
    OK(store__pg_exec(c, "create", "CREATE TABLE t (k TEXT PRIMARY KEY)", 0, NULL, NULL, &e));

    /* 23505: IDF_EEXIST, with the primary message only (the DETAIL quotes the key) */
    OK(store__pg_begin(c, &e));
    OK(store__pg_exec(c, "insert", "INSERT INTO t (k) VALUES ($1)", 1, secret, NULL, &e));
    assert_int_equal(store__pg_exec(c, "insert", "INSERT INTO t (k) VALUES ($1)", 1, secret, NULL, &e), IDF_EEXIST);
    assert_non_null(strstr(e.msg, "store: insert: duplicate key value violates unique constraint"));
    no_secret(e.msg, "Row-Secret-2291");
    /* a failed transaction does not commit: IDF_EDB, rolled back */
    assert_int_equal(store__pg_commit(c, &e), IDF_EDB);
    assert_false(c->in_tx);
    assert_int_equal(PQtransactionStatus(c->conn), PQTRANS_IDLE);
    PGresult *r = NULL;
    OK(store__pg_exec(c, "count", "SELECT count(*) FROM t", 0, NULL, &r, &e));
    assert_int_equal(store__pg_get_i64(r, 0, 0), 0);
    PQclear(r);

    /* 55P03 (lock not available): IDF_EBUSY */
    OK(store__pg_exec(c, "insert", "INSERT INTO t (k) VALUES ($1)", 1, secret, NULL, &e));
    OK(store__pg_begin(c2, &e));
    OK(store__pg_exec(c2, "lock", "SELECT k FROM t FOR UPDATE", 0, NULL, NULL, &e));
    OK(store__pg_begin(c, &e));
    assert_int_equal(store__pg_exec(c, "lock", "SELECT k FROM t FOR UPDATE NOWAIT", 0, NULL, NULL, &e), IDF_EBUSY);
    store__pg_rollback(c);
    store__pg_rollback(c2);
    assert_false(c->in_tx);

    /* anything else: IDF_EDB; a committed transaction is there */
    assert_int_equal(store__pg_exec(c, "bad", "SELECT no_such_column FROM t", 0, NULL, NULL, &e), IDF_EDB);
    assert_non_null(strstr(e.msg, "store: bad: column \"no_such_column\" does not exist"));
    OK(store__pg_begin(c, &e));
    OK(store__pg_audit(c, 5, "cli:test", "test.action", "target", NULL, &e));
    OK(store__pg_commit(c, &e));
    OK(store__pg_exec(c, "count", "SELECT count(*) FROM audit WHERE action = 'test.action'", 0, NULL, &r, &e));
    assert_int_equal(store__pg_get_i64(r, 0, 0), 1);
    PQclear(r);
    store_close(s2);
    store_close(s);
}

/* bytea parameters and columns round-trip every byte. */
static void bytea_round_trips(void **state)
{
    static const unsigned char blob[] = {0x00, 0xff, '\\', 'x', 0x01, 0x7f, 0x80, 0x00};
    char url[1024];
    struct store *s = NULL;
    struct idf_err e = {0};
    struct store__pg *c;
    PGresult *r = NULL;
    const char *p[1] = {(const char *)blob};
    int lens[1] = {(int)sizeof blob};
    bool bin[1] = {true};
    unsigned char *got = NULL;
    size_t n = 0;
    (void)state;

    fresh_url("bytea", url, sizeof url);
    OK(store_open(url, &s, &e));
    c = store__pg(s);
    OK(store__pg_execb(c, "bytea", "SELECT $1::bytea, NULL::bytea", 1, p, lens, bin, &r, &e));
    OK(store__pg_get_bytea(r, 0, 0, &got, &n));
    assert_int_equal(n, sizeof blob);
    assert_memory_equal(got, blob, sizeof blob);
    free(got);
    OK(store__pg_get_bytea(r, 0, 1, &got, &n));
    assert_null(got);
    assert_int_equal(n, 0);
    PQclear(r);
    store_close(s);
}

/* Issue 20: a schema of version 5 (events.data text, no packed column) with
 * a large event and its run: opening it applies migration 6, which converts
 * nothing; the old row reads as before (the event, the run's event), a new
 * large event is stored packed (data NULL), a row with neither form is
 * refused by the schema, and packed bytes that are not packed data are
 * IDF_EDB, never handed out. */
static void migration_6_keeps_old_events_and_packs_new_ones(void **state)
{
    char url[1024], v[64], *big = malloc(3001);
    struct store *s = NULL;
    struct store_event *e = NULL;
    struct store_run *r = NULL;
    struct store_run_in run = {"wf", 1};
    struct store_ingest_item it = {0};
    struct idf_err err = {0};
    int64_t run_id = 0;
    int ver = 0;
    (void)state;

    assert_non_null(big);
    strcpy(big, "{\"raw\":\"");
    for (size_t i = strlen(big); i < 2998; i++)
        big[i] = "abcdefgh"[i % 8];
    strcpy(big + 2998, "\"}");
    fresh_url("mig6", url, sizeof url);
    OK(store_open(url, &s, &err));
    store_close(s);
    sql_on(url,
           "ALTER TABLE events DROP CONSTRAINT events_data_or_packed; ALTER TABLE events DROP COLUMN packed; "
           "ALTER TABLE events ALTER COLUMN data SET NOT NULL; DELETE FROM schema_migrations WHERE version >= 6; "
           "INSERT INTO events (source, source_id, type, received_at, data) VALUES ('okta', 'old', 'okta.user_locked', "
           "1, '{\"raw\":\"' || repeat('abcdefgh', 373) || 'abcdef\"}'); "
           "INSERT INTO runs (workflow, version, event_id, status, created_at, updated_at) "
           "SELECT 'wf', 1, id, 'succeeded', 1, 1 FROM events",
           NULL, 0);
    OK(store_open(url, &s, &err));
    OK(store_schema_version(s, &ver));
    assert_int_equal(ver, 7); /* 6 and, after it, 7 (fair queues: its index is rebuilt) */
    sql_on(url, "SELECT id FROM events WHERE source_id = 'old'", v, sizeof v);
    OK(store_event_get(s, atoll(v), &e));
    assert_string_equal(e->data, big);
    store_event_free(e);
    sql_on(url, "SELECT id FROM runs", v, sizeof v);
    OK(store_run_get(s, atoll(v), &r));
    assert_string_equal(r->event, big);
    store_run_free(r);

    it.event = (struct store_event_in){"okta", "new", "okta.user_locked", NULL, big};
    it.runs = &run;
    it.n_runs = 1;
    it.run_ids = &run_id;
    OK(store_ingest(s, &it, 1, &err));
    sql_on(url, "SELECT (data IS NULL AND length(packed) < 200)::text FROM events WHERE source_id = 'new'", v,
           sizeof v);
    assert_string_equal(v, "true");
    OK(store_event_get(s, it.event_id, &e));
    assert_string_equal(e->data, big);
    store_event_free(e);
    OK(store_run_get(s, run_id, &r));
    assert_string_equal(r->event, big);
    store_run_free(r);
    {
        PGconn *c = PQconnectdb(url);
        PGresult *res = PQexec(c, "UPDATE events SET packed = NULL WHERE source_id = 'new'");
        assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR); /* neither form: refused */
        PQclear(res);
        PQfinish(c);
    }
    sql_on(url, "UPDATE events SET packed = '\\x00000010deadbeef' WHERE source_id = 'new'", NULL, 0);
    e = NULL;
    assert_int_equal(store_event_get(s, it.event_id, &e), IDF_EDB);
    assert_null(e);
    assert_int_equal(store_run_get(s, run_id, &r), IDF_EDB);
    store_close(s);
    free(big);
}

/* The backend's pid of a store connection. */
static void backend_pid(struct store__pg *c, char *pid, size_t n)
{
    PGresult *r = NULL;
    OK(store__pg_exec(c, "pid", "SELECT pg_backend_pid()::text", 0, NULL, &r, NULL));
    snprintf(pid, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* A connection the server closes (a restart, a failover, an idle timeout)
 * is opened again by the next call outside a transaction, with its session
 * settings, and prepared statements work again; a transaction the closing
 * cut short fails, and the call after it works. */
static void a_connection_the_server_closed_is_opened_again(void **state)
{
    char url[1024], pid[32], pid2[32], sql[128], *v = NULL;
    struct store *s = NULL;
    struct idf_err e = {0};
    struct store__pg *c;
    (void)state;

    fresh_url("reconnect", url, sizeof url);
    OK(store_open(url, &s, &e));
    c = store__pg(s);
    OK(store_cursor_set(s, "k", "v1")); /* prepares its statements */
    backend_pid(c, pid, sizeof pid);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", pid);
    sql_on(base_url(), sql, NULL, 0);

    OK(store_cursor_get(s, "k", &v)); /* the same prepared statement, on a new session */
    assert_string_equal(v, "v1");
    free(v);
    backend_pid(c, pid2, sizeof pid2);
    assert_string_not_equal(pid, pid2);
    show_is(c, "SHOW synchronous_commit", "on");
    show_is(c, "SHOW TimeZone", "UTC");

    /* closed inside a transaction: that call fails, the next one works */
    OK(store__pg_begin(c, &e));
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", pid2);
    sql_on(base_url(), sql, NULL, 0);
    assert_int_equal(store__pg_exec(c, "in tx", "SELECT 1", 0, NULL, NULL, &e), IDF_EDB);
    store__pg_rollback(c);
    OK(store_cursor_set(s, "k", "v2"));
    OK(store_cursor_get(s, "k", &v));
    assert_string_equal(v, "v2");
    free(v);

    /* a listening connection is not reopened behind its listener's back: a
     * new session would not be listening, and the listener would wait deaf */
    OK(store_listen(s, "idflow_test"));
    backend_pid(c, pid, sizeof pid);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", pid);
    sql_on(base_url(), sql, NULL, 0);
    assert_int_equal(store_notify(s, "idflow_test"), IDF_EDB);
    assert_int_equal(store_cursor_get(s, "k", &v), IDF_EDB);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_connection_the_server_closed_is_opened_again),
        cmocka_unit_test(migrate_creates_the_schema_and_prints_its_version),
        cmocka_unit_test(concurrent_opens_apply_each_migration_once),
        cmocka_unit_test(a_newer_schema_is_refused),
        cmocka_unit_test(a_password_never_shows_in_an_error),
        cmocka_unit_test(a_url_for_a_log_has_no_password),
        cmocka_unit_test(a_bad_url_fails_clearly),
        cmocka_unit_test(a_database_that_is_not_utf8_is_refused),
        cmocka_unit_test(lists_sort_names_bytewise_whatever_the_locale),
        cmocka_unit_test(the_session_is_set_whatever_the_url_says),
        cmocka_unit_test(statements_are_prepared_once_and_run_past_the_cap),
        cmocka_unit_test(errors_map_sqlstates_and_never_quote_a_row),
        cmocka_unit_test(bytea_round_trips),
        cmocka_unit_test(migration_6_keeps_old_events_and_packs_new_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

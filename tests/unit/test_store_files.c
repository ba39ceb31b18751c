/* test_store_files.c — the SQLite backend's files on disk: a new database,
 * its -wal and -shm files and the folders idflow creates for it are private
 * to the owner (0600 files, 0700 folders) whatever the umask lets through; an
 * operator's existing database keeps its mode and gets a warning; a
 * "file:" path is a file name, not an SQLite URI; migration 12 (issue 19)
 * upgrades a database of version 11 in place, its runs kept; event data is
 * stored packed when large, and a version-12 database's text events read as
 * before after migration 13 (issue 20). SQLite only (the contract
 * suite in test_store.c covers behaviour common to every backend). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/log.h"
#include "store/store.h"
#include "support/testutil.h"

#define OK(x) assert_int_equal((x), 0)

/* The permission bits of path (-1 when it does not exist). */
static int mode_of(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static void assert_mode(const char *path, int want)
{
    int got = mode_of(path);
    if (got != want)
        fail_msg("%s: mode %04o, want %04o", path, got, want);
}

/* Writes one row, so the WAL and its shared-memory index exist. */
static void write_something(struct store *s)
{
    struct idf_err err = {0};
    int64_t v = 0;
    bool created = false;

    if (store_workflow_save(s, "wf", "name: wf\n", "hash-1", &v, &created, &err) != 0)
        fail_msg("store_workflow_save: %s", err.msg);
}

static void new_database_is_private(void **state)
{
    (void)state;
    char *dir = tu_mktemp_dir();
    char db[512], url[600], p[600];
    struct store *s = NULL;
    struct idf_err err = {0};
    mode_t old = umask(022); /* the usual umask: SQLite alone would make 0644 files */

    assert_non_null(dir);
    snprintf(db, sizeof db, "%s/state/idflow/idflow.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", db);
    if (store_open(url, &s, &err) != 0)
        fail_msg("store_open(%s): %s", url, err.msg);
    write_something(s);

    assert_mode(db, 0600);
    snprintf(p, sizeof p, "%s-wal", db);
    assert_mode(p, 0600);
    snprintf(p, sizeof p, "%s-shm", db);
    assert_mode(p, 0600);
    snprintf(p, sizeof p, "%s/state", dir);
    assert_mode(p, 0700);
    snprintf(p, sizeof p, "%s/state/idflow", dir);
    assert_mode(p, 0700);

    store_close(s);
    umask(old);
    tu_rm_rf(dir);
    free(dir);
}

/* An existing database is the operator's: its mode is not changed, and a
 * group- or world-readable one is reported in the log. */
static void existing_database_keeps_mode_and_warns(void **state)
{
    (void)state;
    char *dir = tu_mktemp_dir();
    char db[512], url[600], *logpath, *text;
    struct store *s = NULL;
    struct idf_err err = {0};
    int fd, logfd;

    assert_non_null(dir);
    snprintf(db, sizeof db, "%s/shared.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", db);
    fd = open(db, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    OK(fchmod(fd, 0640));
    close(fd);
    logpath = tu_path(dir, "log");
    logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(logfd >= 0);
    log_set_fd(logfd);

    if (store_open(url, &s, &err) != 0)
        fail_msg("store_open(%s): %s", url, err.msg);
    write_something(s);
    store_close(s);
    log_set_fd(2);
    close(logfd);

    assert_mode(db, 0640);
    text = tu_read_file(logpath, NULL);
    assert_non_null(text);
    if (!strstr(text, "shared.db") || !strstr(text, "mode 0640") || !strstr(text, "chmod 600"))
        fail_msg("no warning about the database's mode in the log: %s", text);
    free(text);
    free(logpath);
    tu_rm_rf(dir);
    free(dir);
}

/* "sqlite:file:x.db" opens the file named "file:x.db" in the current folder,
 * private like any other (SQLite would otherwise read it as a URI). */
static void file_prefix_is_a_file_name(void **state)
{
    (void)state;
    char *dir = tu_mktemp_dir();
    char cwd[1024], p[600];
    struct store *s = NULL;
    struct idf_err err = {0};

    assert_non_null(dir);
    assert_non_null(getcwd(cwd, sizeof cwd));
    OK(chdir(dir));
    if (store_open("sqlite:file:x.db?mode=memory", &s, &err) != 0)
        fail_msg("store_open: %s", err.msg);
    write_something(s);
    store_close(s);
    OK(chdir(cwd));
    snprintf(p, sizeof p, "%s/file:x.db?mode=memory", dir);
    assert_mode(p, 0600);
    tu_rm_rf(dir);
    free(dir);
}

/* A path through a regular file: a clear error naming it, nothing created. */
static void folder_that_is_a_file(void **state)
{
    (void)state;
    char *dir = tu_mktemp_dir();
    char url[600], *f;
    struct store *s = NULL;
    struct idf_err err = {0};

    assert_non_null(dir);
    f = tu_path(dir, "plain");
    OK(tu_write_file(f, "x"));
    snprintf(url, sizeof url, "sqlite:%s/sub/idflow.db", f);
    assert_int_equal(store_open(url, &s, &err), IDF_EINVAL);
    assert_null(s);
    if (!strstr(err.msg, "plain exists but is not a folder"))
        fail_msg("unclear error: %s", err.msg);
    free(f);
    tu_rm_rf(dir);
    free(dir);
}

/* Runs sql on the database file path (several statements), failing the test on error. */
static void sq_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

/* Whether sql runs on path without an error. */
static bool sq_ok(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    bool ok;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    return ok;
}

/* A database made by the version before issue 19 (schema 11: no "held"
 * status, no approvals.hold), with a run, its step and its approval: opening
 * it applies migration 12, which widens the runs' status list in place and
 * keeps every row (a rebuild of the table would have cascaded the steps and
 * approvals away). The version-11 file is made from a current one by undoing
 * migration 12 exactly. */
static void migration_12_upgrades_in_place(void **state)
{
    char *dir = tu_mktemp_dir(), path[600], url[700];
    struct store *s = NULL;
    struct idf_err err;
    int v = 0;
    (void)state;
    assert_non_null(dir);
    snprintf(path, sizeof path, "%s/old.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    OK(store_open(url, &s, &err));
    store_close(s);
    sq_exec(path,
            "PRAGMA writable_schema = ON;"
            "UPDATE sqlite_schema SET sql = replace(sql, ',''held'')', ')') WHERE type = 'table' AND "
            "name = 'runs';"
            "PRAGMA writable_schema = OFF;"
            "DROP INDEX approvals_hold;"
            "ALTER TABLE approvals DROP COLUMN hold;"
            "DELETE FROM run_counts WHERE status = 'held';"
            "DELETE FROM schema_migrations WHERE version >= 12;"
            "INSERT INTO events (source, source_id, type, received_at, data) VALUES ('t', 'e1', 'manual', 1, '{}');"
            "INSERT INTO runs (workflow, version, event_id, status, created_at, updated_at) "
            "  VALUES ('wf', 1, 1, 'waiting', 1, 1);"
            "INSERT INTO steps (run_id, idx, item, step_id, status) VALUES (1, 0, -1, 'ask', 'waiting');"
            "INSERT INTO approvals (run_id, step_id, created_at) VALUES (1, 'ask', 1);");
    /* as version 11 was: a held run is refused by the schema */
    assert_false(sq_ok(path, "UPDATE runs SET status = 'held' WHERE id = 1"));

    OK(store_open(url, &s, &err));
    OK(store_schema_version(s, &v));
    assert_int_equal(v, 13); /* and issue 20's, which changes no table */
    store_close(s);
    assert_true(sq_ok(path, "UPDATE runs SET status = 'held' WHERE id = 1"));
    assert_false(sq_ok(path, "UPDATE runs SET status = 'bogus' WHERE id = 1")); /* still a list */
    assert_true(sq_ok(path, "UPDATE approvals SET hold = 'okta' WHERE run_id = 1"));
    /* every row kept, the counts right */
    assert_true(sq_ok(path, "SELECT CASE WHEN (SELECT count(*) FROM steps) = 1 AND (SELECT count(*) FROM approvals) "
                            "= 1 AND (SELECT n FROM run_counts WHERE status = 'held') = 1 THEN 1 ELSE "
                            "abs(-9223372036854775807 - 1) END"));
    assert_true(sq_ok(path, "PRAGMA integrity_check"));
    tu_rm_rf(dir);
    free(dir);
}

/* Okta's user.account.lock sample (tests/data/okta-samples), as the
 * normalized event's raw part: about 2.4 KB of JSON. Caller frees. */
static char *okta_sample(void)
{
    const char *src = getenv("IDFLOW_SRC");
    char path[600];
    snprintf(path, sizeof path, "%s/tests/data/okta-samples/06-logevent-user.account.lock.google-secops-sample.json",
             src ? src : ".");
    char *t = tu_read_file(path, NULL);
    assert_non_null(t);
    assert_true(strlen(t) > 2000);
    return t;
}

/* The SQL type and stored length of event id's data. */
static void stored_form(const char *path, int64_t id, char *type, size_t type_n, int64_t *len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT typeof(data), length(CAST(data AS BLOB)) FROM events WHERE id = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(type, type_n, "%s", (const char *)sqlite3_column_text(st, 0));
    *len = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Ingests one event with data, starting one run of "wf"; its id and the run's. */
static int64_t ingest_one(struct store *s, const char *sid, const char *data, int64_t *run_id)
{
    struct store_run_in run = {"wf", 1};
    struct store_ingest_item it = {0};
    struct idf_err err = {0};
    it.event = (struct store_event_in){"okta", sid, "okta.user_locked", NULL, data};
    it.runs = &run;
    it.n_runs = 1;
    it.run_ids = run_id;
    OK(store_ingest(s, &it, 1, &err));
    return it.event_id;
}

/* Issue 20: event data of 1 KiB or more is stored packed (a BLOB well under
 * half the text's size), shorter data stays text, and both read back as the
 * text they were. */
static void event_data_is_packed(void **state)
{
    char *dir = tu_mktemp_dir(), path[600], url[700], type[16], *big = okta_sample();
    struct store *s = NULL;
    struct store_event *e = NULL;
    struct idf_err err;
    int64_t id, run, len;
    (void)state;
    snprintf(path, sizeof path, "%s/idflow.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    OK(store_open(url, &s, &err));

    id = ingest_one(s, "packed", big, &run);
    stored_form(path, id, type, sizeof type, &len);
    assert_string_equal(type, "blob");
    assert_true(len < (int64_t)strlen(big) / 2);
    OK(store_event_get(s, id, &e));
    assert_string_equal(e->data, big);
    store_event_free(e);

    id = ingest_one(s, "small", "{\"n\":1}", &run);
    stored_form(path, id, type, sizeof type, &len);
    assert_string_equal(type, "text");

    store_close(s);
    free(big);
    tu_rm_rf(dir);
    free(dir);
}

/* A database of version 12 (before issue 20) whose events are text: opening
 * it applies migration 13, which converts nothing; its old rows read as
 * before (the event, the run's event, the replay's list), new large events
 * are packed beside them, and the file stays sound. */
static void migration_13_reads_old_rows(void **state)
{
    char *dir = tu_mktemp_dir(), path[600], url[700], type[16], *big = okta_sample();
    struct store *s = NULL;
    struct store_event *e = NULL, *list = NULL;
    struct store_run *r = NULL;
    struct idf_err err;
    size_t n = 0;
    int64_t id, run, len;
    int v = 0;
    (void)state;
    snprintf(path, sizeof path, "%s/old.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    OK(store_open(url, &s, &err));
    store_close(s);
    /* version 12 as it wrote an event: text, whatever its size */
    {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        sq_exec(path, "DELETE FROM schema_migrations WHERE version = 13;");
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "INSERT INTO events (source, source_id, type, received_at, data) "
                                            "VALUES ('okta', 'old', 'okta.user_locked', 1, ?1)",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, big, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        sqlite3_close(db);
        sq_exec(path, "INSERT INTO runs (workflow, version, event_id, status, created_at, updated_at, finished_at) "
                      "VALUES ('wf', 1, 1, 'succeeded', 1, 1, 1);");
    }
    OK(store_open(url, &s, &err));
    OK(store_schema_version(s, &v));
    assert_int_equal(v, 13);
    OK(store_event_get(s, 1, &e));
    assert_string_equal(e->data, big);
    store_event_free(e);
    OK(store_run_get(s, 1, &r));
    assert_string_equal(r->event, big);
    store_run_free(r);
    stored_form(path, 1, type, sizeof type, &len);
    assert_string_equal(type, "text"); /* not converted */

    id = ingest_one(s, "new", big, &run);
    stored_form(path, id, type, sizeof type, &len);
    assert_string_equal(type, "blob");
    OK(store_event_list(s, 0, 0, 10, &list, &n));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].data, big);
    assert_string_equal(list[1].data, big);
    store_event_list_free(list, n);
    store_close(s);
    assert_true(sq_ok(path, "PRAGMA integrity_check"));
    free(big);
    tu_rm_rf(dir);
    free(dir);
}

/* A BLOB in events.data that is not packed data this store wrote (too
 * short, a length over the cap, a stream that does not inflate to its
 * length, a length that is not the stream's) is IDF_EDB for every read, never
 * garbage handed out as the event. */
static void damaged_event_data_is_an_error(void **state)
{
    static const char *const bad[] = {
        "x'0000'",                           /* shorter than its length prefix */
        "x'7fffffff789c030000000001'",       /* a length over the cap */
        "x'00000010deadbeefdeadbeef'",       /* not a zlib stream */
        "x'00000005789c4b4c4a0600024d0127'", /* "abc" said to be 5 bytes */
        "x'00000002789c4b4c4a0600024d0127'", /* ... or 2 */
        "x'00000003789c4b4c4a0600024d0128'", /* a wrong checksum */
    };
    char *dir = tu_mktemp_dir(), path[600], url[700], sql[200];
    struct store *s = NULL;
    struct store_event *e = NULL;
    struct store_run *r = NULL;
    struct idf_err err;
    int64_t id, run;
    (void)state;
    snprintf(path, sizeof path, "%s/idflow.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    OK(store_open(url, &s, &err));
    id = ingest_one(s, "e", "{}", &run);
    /* the well-formed "abc" reads back: the corrupted ones below differ only in the part named */
    snprintf(sql, sizeof sql, "UPDATE events SET data = x'00000003789c4b4c4a0600024d0127' WHERE id = %lld",
             (long long)id);
    sq_exec(path, sql);
    OK(store_event_get(s, id, &e));
    assert_string_equal(e->data, "abc");
    store_event_free(e);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(sql, sizeof sql, "UPDATE events SET data = %s WHERE id = %lld", bad[i], (long long)id);
        sq_exec(path, sql);
        e = NULL;
        assert_int_equal(store_event_get(s, id, &e), IDF_EDB);
        assert_null(e);
        assert_int_equal(store_run_get(s, run, &r), IDF_EDB);
        assert_null(r);
    }
    store_close(s);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_database_is_private),        cmocka_unit_test(existing_database_keeps_mode_and_warns),
        cmocka_unit_test(file_prefix_is_a_file_name),     cmocka_unit_test(folder_that_is_a_file),
        cmocka_unit_test(migration_12_upgrades_in_place), cmocka_unit_test(event_data_is_packed),
        cmocka_unit_test(migration_13_reads_old_rows),    cmocka_unit_test(damaged_event_data_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_store_files.c — the SQLite backend's files on disk: a new database,
 * its -wal and -shm files and the folders idflow creates for it are private
 * to the owner (0600 files, 0700 folders) whatever the umask lets through; an
 * operator's existing database keeps its mode and gets a warning; a
 * "file:" path is a file name, not an SQLite URI. SQLite only (the contract
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_database_is_private),
        cmocka_unit_test(existing_database_keeps_mode_and_warns),
        cmocka_unit_test(file_prefix_is_a_file_name),
        cmocka_unit_test(folder_that_is_a_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_store_durable.c — what reaches the disk before a SQLite store call
 * returns (src/store/sqlite.c, "Durability"): an acknowledged event's
 * transaction (store_ingest, synchronous=FULL) has the write-ahead log
 * fsynced before it commits, so it survives a power loss and nobody sees
 * it before; a routine write (a cursor, a step commit) does not wait for a
 * sync of its own.
 *
 * A VFS shim over the default one counts xSync calls on each database's
 * "-wal" file, and fails them on request, so the test sees the syncs the
 * kernel would be asked for, and what an I/O error at that moment does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "support/testutil.h"

/* ------------------------------------------------------- the VFS shim */

struct shim_file {
    sqlite3_file base; /* must be first */
    sqlite3_file *real;
    bool wal;
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static sqlite3_io_methods shim_io;
static atomic_int wal_syncs;      /* xSync calls on a -wal file */
static atomic_bool fail_wal_sync; /* answer them SQLITE_IOERR_FSYNC */

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((struct shim_file *)f)->real;
}

static int shim_close(sqlite3_file *f)
{
    sqlite3_file *r = real_of(f);
    int rc = r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
    free(r);
    return rc;
}

static int shim_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}

static int shim_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
    if (((struct shim_file *)f)->wal) {
        atomic_fetch_add(&wal_syncs, 1);
        if (atomic_load(&fail_wal_sync))
            return SQLITE_IOERR_FSYNC;
    }
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int shim_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int shim_lock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int shim_unlock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int shim_check_reserved(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int shim_file_control(sqlite3_file *f, int op, void *arg)
{
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int shim_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int shim_device(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int shim_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), pg, pgsz, extend, pp);
}

static int shim_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void shim_shm_barrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int shim_shm_unmap(sqlite3_file *f, int del)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    struct shim_file *sf = (struct shim_file *)f;
    int rc;

    (void)vfs;
    memset(sf, 0, sizeof *sf);
    sf->real = calloc(1, (size_t)real_vfs->szOsFile);
    if (!sf->real)
        return SQLITE_NOMEM;
    rc = real_vfs->xOpen(real_vfs, name, sf->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        free(sf->real);
        sf->real = NULL;
        return rc;
    }
    sf->wal = (flags & SQLITE_OPEN_WAL) != 0;
    f->pMethods = &shim_io;
    return SQLITE_OK;
}

static void shim_install(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    shim_vfs = *real_vfs;
    shim_vfs.zName = "idflow-test-shim";
    shim_vfs.szOsFile = (int)sizeof(struct shim_file);
    shim_vfs.xOpen = shim_open;
    shim_io = (sqlite3_io_methods){
        .iVersion = 2,
        .xClose = shim_close,
        .xRead = shim_read,
        .xWrite = shim_write,
        .xTruncate = shim_truncate,
        .xSync = shim_sync,
        .xFileSize = shim_file_size,
        .xLock = shim_lock,
        .xUnlock = shim_unlock,
        .xCheckReservedLock = shim_check_reserved,
        .xFileControl = shim_file_control,
        .xSectorSize = shim_sector_size,
        .xDeviceCharacteristics = shim_device,
        .xShmMap = shim_shm_map,
        .xShmLock = shim_shm_lock,
        .xShmBarrier = shim_shm_barrier,
        .xShmUnmap = shim_shm_unmap,
    };
    assert_int_equal(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK); /* the default from now on */
}

/* ------------------------------------------------------------- tests */

static int ingest_one(struct store *s, const char *source_id, struct idf_err *err)
{
    struct store_run_in run = {"wf", 1};
    int64_t run_id = 0;
    struct store_ingest_item it = {0};

    it.event = (struct store_event_in){"test", source_id, "manual", NULL, "{\"user\":\"ann@example.com\"}"};
    it.runs = &run;
    it.n_runs = 1;
    it.run_ids = &run_id;
    return store_ingest(s, &it, 1, err);
}

/* An acknowledged event's commit syncs the log before store_ingest returns;
 * a cursor write (synchronous=NORMAL) syncs nothing. */
static void ingest_syncs_the_log(void **state)
{
    char *dir = tu_mktemp_dir(), url[600];
    struct store *s = NULL;
    struct idf_err err = {0};
    int before;

    (void)state;
    snprintf(url, sizeof url, "sqlite:%s/durable.db", dir);
    assert_int_equal(store_open(url, &s, &err), 0);
    assert_int_equal(store_cursor_set(s, "warm", "up"), 0); /* the log exists */

    before = atomic_load(&wal_syncs);
    assert_int_equal(store_cursor_set(s, "poll", "1"), 0);
    assert_int_equal(atomic_load(&wal_syncs) - before, 0);

    before = atomic_load(&wal_syncs);
    assert_int_equal(ingest_one(s, "evt-1", &err), 0);
    assert_true(atomic_load(&wal_syncs) - before >= 1);

    store_close(s);
    tu_rm_rf(dir);
    free(dir);
}

/* When the log cannot be synced, store_ingest fails (the hook must not be
 * acknowledged) with an error that says so, and keeps nothing: SQLite syncs
 * the log inside the COMMIT (synchronous=FULL) before the commit is visible,
 * so the sender's retry is stored as a new event. */
static void a_failed_sync_is_not_an_acknowledgement(void **state)
{
    char *dir = tu_mktemp_dir(), url[600];
    struct store *s = NULL;
    struct store_ingest_item it = {0};
    struct store_run_in run = {"wf", 1};
    int64_t run_id = 0;
    struct idf_err err = {0};

    (void)state;
    snprintf(url, sizeof url, "sqlite:%s/durable.db", dir);
    assert_int_equal(store_open(url, &s, &err), 0);
    assert_int_equal(store_cursor_set(s, "warm", "up"), 0);

    atomic_store(&fail_wal_sync, true);
    assert_int_not_equal(ingest_one(s, "evt-2", &err), 0);
    atomic_store(&fail_wal_sync, false);
    assert_non_null(strstr(err.msg, "commit"));
    assert_non_null(strstr(err.msg, "I/O error"));

    /* the retry: the failed commit kept nothing, so it is stored now */
    it.event = (struct store_event_in){"test", "evt-2", "manual", NULL, "{\"user\":\"ann@example.com\"}"};
    it.runs = &run;
    it.n_runs = 1;
    it.run_ids = &run_id;
    assert_int_equal(store_ingest(s, &it, 1, &err), 0);
    assert_false(it.duplicate);

    store_close(s);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ingest_syncs_the_log),
        cmocka_unit_test(a_failed_sync_is_not_an_acknowledgement),
    };
    shim_install();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

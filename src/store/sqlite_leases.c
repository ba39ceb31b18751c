/* sqlite_leases.c — the SQLite backend's named leases (store_lease_take,
 * store_lease_drop, store_lease_get; store.h, "named leases").
 *
 * The table is `leases` (migrations.c, migration 9): one row per held name.
 * A take reads the row and writes it inside one BEGIN IMMEDIATE
 * transaction, which holds the database's write lock from its start, so of
 * two connections (threads or processes on one file) taking a free lease at
 * once the second reads what the first wrote: exactly one wins. Called by
 * any thread on its own connection; no state of its own. */
#include "store/sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

/* Reads name's row inside the caller's transaction (or alone): *owner_out
 * (caller frees; may be NULL) and *until_out (may be NULL). IDF_ENOTFOUND
 * when there is none. */
static int read_lease(struct store__sq *c, const char *name, char **owner_out, int64_t *until_out)
{
    sqlite3_stmt *st = NULL;
    bool oom = false;
    int rc;

    rc = store__sq_prep(c, SQ_NLEASE_READ, "SELECT owner, held_until FROM leases WHERE name = ?1", &st, NULL);
    if (rc)
        return rc;
    store__sq_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (owner_out)
            *owner_out = store__sq_col_dup(st, 0, &oom);
        if (until_out)
            *until_out = sqlite3_column_int64(st, 1);
        rc = oom ? IDF_ENOMEM : 0;
    } else {
        rc = rc == SQLITE_DONE ? IDF_ENOTFOUND : store__sq_fail(c, rc, "read lease", NULL);
    }
    store__sq_done(st);
    return rc;
}

int store__sq_lease_take(struct store *s, const char *name, const char *owner, int64_t now_ms, int64_t ttl_ms,
                         bool *held_out, char **holder_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    char *holder = NULL;
    int64_t until = 0;
    bool take;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, NULL);
    if (rc)
        return rc;
    rc = read_lease(c, name, &holder, &until);
    if (rc && rc != IDF_ENOTFOUND)
        goto out;
    /* free, expired, or ours (a renewal keeps taken_at) */
    take = rc == IDF_ENOTFOUND || until <= now_ms || strcmp(holder, owner) == 0;
    rc = 0;
    if (take) {
        rc = store__sq_prep(c, SQ_NLEASE_PUT,
                            "INSERT INTO leases (name, owner, held_until, taken_at) VALUES (?1, ?2, ?3, ?4) "
                            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, held_until = excluded.held_until,"
                            "  taken_at = CASE WHEN leases.owner = excluded.owner THEN leases.taken_at"
                            "  ELSE excluded.taken_at END",
                            &st, NULL);
        if (rc)
            goto out;
        store__sq_bind_text(st, 1, name);
        store__sq_bind_text(st, 2, owner);
        sqlite3_bind_int64(st, 3, now_ms + ttl_ms);
        sqlite3_bind_int64(st, 4, now_ms);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "take lease", NULL);
        store__sq_done(st);
        if (rc)
            goto out;
    }
    if (take && holder_out) {
        free(holder);
        holder = strdup(owner);
        if (!holder) {
            rc = IDF_ENOMEM;
            goto out;
        }
    }
    rc = store__sq_commit(c, NULL);
    if (rc)
        goto out;
    *held_out = take;
    if (holder_out) {
        *holder_out = holder;
        holder = NULL;
    }
out:
    free(holder);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_lease_drop(struct store *s, const char *name, const char *owner)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    char *holder = NULL;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, NULL);
    if (rc)
        return rc;
    rc = read_lease(c, name, &holder, NULL);
    if (rc == IDF_ENOTFOUND) {
        rc = 0; /* nothing to drop */
        goto commit;
    }
    if (rc)
        goto out;
    if (strcmp(holder, owner) != 0) {
        rc = IDF_ESTATE;
        goto out;
    }
    rc = store__sq_prep(c, SQ_NLEASE_DROP, "DELETE FROM leases WHERE name = ?1 AND owner = ?2", &st, NULL);
    if (rc)
        goto out;
    store__sq_bind_text(st, 1, name);
    store__sq_bind_text(st, 2, owner);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "drop lease", NULL);
    store__sq_done(st);
    if (rc)
        goto out;
commit:
    rc = store__sq_commit(c, NULL);
out:
    free(holder);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_lease_get(struct store *s, const char *name, char **owner_out, int64_t *until_out)
{
    return read_lease(store__sq(s), name, owner_out, until_out);
}

/* postgres_leases.c — the PostgreSQL backend's named leases
 * (store_lease_take, store_lease_drop, store_lease_get; store.h, "named
 * leases").
 *
 * The table is `leases` (postgres_migrations.c, migration 2). A take is one
 * statement, INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE the lease is
 * expired or already the taker's, RETURNING the owner: PostgreSQL serializes
 * the competing inserts on the primary key's index, and the loser's ON
 * CONFLICT re-checks its WHERE against the winner's committed row, so of
 * several nodes taking a free or expired lease at once exactly one gets a
 * row back. Who holds it otherwise is read after, in the same transaction.
 * Called by any thread on its own connection; no state of its own. */
#include "store/postgres_internal.h"

#include <stdlib.h>
#include <string.h>

#define TAKE_TRIES 2 /* a take that lost to a lease dropped in between tries again, once */

static const char SQL_TAKE[] =
    "INSERT INTO leases (name, owner, held_until, taken_at) VALUES ($1, $2, $3::bigint + $4::bigint, $3::bigint) "
    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, held_until = excluded.held_until,"
    "  taken_at = CASE WHEN leases.owner = excluded.owner THEN leases.taken_at ELSE excluded.taken_at END "
    "WHERE leases.held_until <= excluded.taken_at OR leases.owner = excluded.owner "
    "RETURNING owner";

static const char SQL_READ[] = "SELECT owner, held_until FROM leases WHERE name = $1";

int store__pg_lease_take(struct store *s, const char *name, const char *owner, int64_t now_ms, int64_t ttl_ms,
                         bool *held_out, char **holder_out)
{
    struct store__pg *c = store__pg(s);
    char b_now[STORE__PG_INT_LEN], b_ttl[STORE__PG_INT_LEN];
    const char *p[] = {name, owner, store__pg_i64(b_now, now_ms), store__pg_i64(b_ttl, ttl_ms)};
    PGresult *r = NULL;
    char *holder = NULL;
    bool held = false, oom = false;
    int rc;

    rc = store__pg_begin(c, NULL);
    if (rc)
        return rc;
    for (int tries = 0; tries < TAKE_TRIES; tries++) {
        rc = store__pg_exec(c, "take lease", SQL_TAKE, 4, p, &r, NULL);
        if (rc)
            goto out;
        if (PQntuples(r) == 1) {
            held = true;
            break;
        }
        PQclear(r);
        r = NULL;
        /* held by another owner: who (the row the ON CONFLICT found) */
        rc = store__pg_exec(c, "read lease", SQL_READ, 1, p, &r, NULL);
        if (rc)
            goto out;
        if (PQntuples(r) == 1)
            break;
        PQclear(r); /* dropped in between: try again */
        r = NULL;
    }
    if (holder_out && r && PQntuples(r) == 1) {
        holder = store__pg_get_dup(r, 0, 0, &oom);
        if (oom) {
            rc = IDF_ENOMEM;
            goto out;
        }
    }
    rc = store__pg_commit(c, NULL);
    if (rc)
        goto out;
    *held_out = held;
    if (holder_out) {
        *holder_out = holder;
        holder = NULL;
    }
out:
    PQclear(r);
    free(holder);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

int store__pg_lease_drop(struct store *s, const char *name, const char *owner)
{
    struct store__pg *c = store__pg(s);
    const char *p[] = {name, owner};
    PGresult *r = NULL;
    int rc;

    rc = store__pg_begin(c, NULL);
    if (rc)
        return rc;
    /* deletes ours; reports whether a row of another owner is there */
    rc =
        store__pg_exec(c, "drop lease",
                       "WITH d AS (DELETE FROM leases WHERE name = $1 AND owner = $2 RETURNING 1) "
                       "SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM leases WHERE name = $1 AND owner <> $2)",
                       2, p, &r, NULL);
    if (rc)
        goto out;
    if (store__pg_get_i64(r, 0, 0) == 0 && store__pg_get_i64(r, 0, 1) > 0) {
        rc = IDF_ESTATE;
        goto out;
    }
    rc = store__pg_commit(c, NULL);
out:
    PQclear(r);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

int store__pg_lease_get(struct store *s, const char *name, char **owner_out, int64_t *until_out)
{
    struct store__pg *c = store__pg(s);
    const char *p[] = {name};
    PGresult *r = NULL;
    bool oom = false;
    int rc;

    rc = store__pg_exec(c, "read lease", SQL_READ, 1, p, &r, NULL);
    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        rc = IDF_ENOTFOUND;
        goto out;
    }
    if (owner_out) {
        *owner_out = store__pg_get_dup(r, 0, 0, &oom);
        if (oom) {
            rc = IDF_ENOMEM;
            goto out;
        }
    }
    if (until_out)
        *until_out = store__pg_get_i64(r, 0, 1);
out:
    PQclear(r);
    return rc;
}

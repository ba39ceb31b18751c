/* postgres_pace.c — the PostgreSQL backend's pacing windows (store.h,
 * "pacing windows"; the tables of migration 3).
 *
 * A take is one transaction on the calling thread's connection:
 *   1. the key's row in pace_keys is upserted, which locks it (ON CONFLICT
 *      DO UPDATE takes the row lock, and on a brand new key two inserters
 *      are serialized by the unique index) and returns its block;
 *   2. only then, in a NEW statement (READ COMMITTED: a new snapshot, taken
 *      after the lock was granted, so it sees every send the previous holder
 *      committed), the limit-th newest send of the window is read;
 *   3. when the window has room, the send is inserted (and the key's sends
 *      that left the window are deleted in the same statement).
 * So takes on one key are serialized across connections and nodes, and the
 * count each one reads is exact. (One statement with the lock and the count
 * in CTEs would not be: its snapshot predates the lock wait.)
 *
 * The tables are UNLOGGED and the transaction commits with
 * synchronous_commit off: pacing state is worth nothing after a database
 * crash (the remote's window has moved on), and a take then costs no WAL
 * flush. The measured cost of a take is in docs/operations.md. */
#include "store/postgres_internal.h"

int store__pg_window_take(struct store *s, const char *key, int limit, int64_t window_ms, int64_t now_ms,
                          int64_t *wait_ms_out)
{
    struct store__pg *c = store__pg(s);
    char b_since[STORE__PG_INT_LEN], b_off[STORE__PG_INT_LEN], b_now[STORE__PG_INT_LEN];
    const char *p_key[1] = {key};
    const char *p_nth[3] = {key, store__pg_i64(b_since, now_ms - window_ms), store__pg_i64(b_off, limit - 1)};
    const char *p_ins[3] = {key, store__pg_i64(b_now, now_ms), b_since};
    PGresult *r = NULL;
    int64_t until, at;
    int rc;

    rc = store__pg_begin(c, NULL);
    if (rc)
        return rc;
    rc = store__pg_exec(c, "pace: lock the key",
                        "INSERT INTO pace_keys (key, blocked_until) VALUES ($1, 0) ON CONFLICT (key) DO UPDATE "
                        "SET blocked_until = pace_keys.blocked_until "
                        "RETURNING blocked_until, set_config('synchronous_commit', 'off', true)",
                        1, p_key, &r, NULL);
    if (rc)
        goto out;
    until = PQntuples(r) == 1 ? store__pg_get_i64(r, 0, 0) : 0;
    PQclear(r);
    r = NULL;
    if (until > now_ms) {
        *wait_ms_out = until - now_ms;
        goto out;
    }
    rc = store__pg_exec(c, "pace: read the window",
                        "SELECT at FROM pace_sends WHERE key = $1 AND at > $2::bigint "
                        "ORDER BY at DESC OFFSET $3::bigint LIMIT 1",
                        3, p_nth, &r, NULL);
    if (rc)
        goto out;
    if (PQntuples(r) == 1) { /* full: wait until the limit-th newest leaves */
        at = store__pg_get_i64(r, 0, 0);
        *wait_ms_out = at + window_ms - now_ms > 0 ? at + window_ms - now_ms : 1;
        goto out;
    }
    rc = store__pg_exec(c, "pace: record a send",
                        "WITH gone AS (DELETE FROM pace_sends WHERE key = $1 AND at <= $3::bigint) "
                        "INSERT INTO pace_sends (key, at) VALUES ($1, $2::bigint)",
                        3, p_ins, NULL, NULL);
out:
    PQclear(r);
    if (rc == 0)
        rc = store__pg_commit(c, NULL);
    if (rc) {
        store__pg_rollback(c);
        *wait_ms_out = 0;
    }
    return rc;
}

int store__pg_window_block(struct store *s, const char *key, int64_t until_ms)
{
    struct store__pg *c = store__pg(s);
    char b_until[STORE__PG_INT_LEN];
    const char *p[2] = {key, store__pg_i64(b_until, until_ms)};
    int rc;

    rc = store__pg_begin(c, NULL);
    if (rc)
        return rc;
    rc = store__pg_exec(c, "pace: block a key",
                        "INSERT INTO pace_keys (key, blocked_until) VALUES ($1, $2::bigint) ON CONFLICT (key) "
                        "DO UPDATE SET blocked_until = greatest(pace_keys.blocked_until, excluded.blocked_until)",
                        2, p, NULL, NULL);
    if (rc == 0)
        rc = store__pg_commit(c, NULL);
    if (rc)
        store__pg_rollback(c);
    return rc;
}

int store__pg_lease_count(struct store *s, const char *prefix, int64_t now_ms, int *n_out)
{
    struct store__pg *c = store__pg(s);
    char b_now[STORE__PG_INT_LEN];
    const char *p[2] = {prefix, store__pg_i64(b_now, now_ms)};
    PGresult *r = NULL;
    int rc;

    rc = store__pg_exec(c, "count leases",
                        "SELECT count(*) FROM leases WHERE left(name, length($1)) = $1 AND held_until > $2::bigint", 2,
                        p, &r, NULL);
    if (rc == 0)
        *n_out = (int)store__pg_get_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

/* sqlite_pace.c — the SQLite backend's pacing windows (store.h, "pacing
 * windows"; the tables of migration 10).
 *
 * A take is one BEGIN IMMEDIATE transaction (the database's write lock is
 * the key's lock: every take is serialized with every other writer), at
 * synchronous=NORMAL: pacing state need not survive a power loss. Rows:
 * pace_keys holds a key's block (blocked_until, 0 when none), pace_sends one
 * row per admitted send; a take deletes its key's sends that left the
 * window, so a key keeps at most limit rows plus those of the last window.
 * Also the count of live named leases (store_lease_count). Called on the
 * connection's opener thread (store.h). */
#include "store/sqlite_internal.h"

/* The limit-th newest send in (now - window, now], when there is one: then
 * the window is full. */
static int nth_newest(struct store__sq *c, const char *key, int limit, int64_t since, bool *full, int64_t *at)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *full = false;
    rc = store__sq_prep(c, SQ_PACE_NTH,
                        "SELECT at FROM pace_sends WHERE key = ?1 AND at > ?2 ORDER BY at DESC LIMIT 1 OFFSET ?3", &st,
                        NULL);
    if (rc)
        return rc;
    store__sq_bind_text(st, 1, key);
    sqlite3_bind_int64(st, 2, since);
    sqlite3_bind_int(st, 3, limit - 1);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *full = true;
        *at = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "read pacing window", NULL);
    }
    store__sq_done(st);
    return rc;
}

/* The key's block end (0 when it has none). */
static int blocked_until(struct store__sq *c, const char *key, int64_t *until)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *until = 0;
    rc = store__sq_prep(c, SQ_PACE_BLOCKED, "SELECT blocked_until FROM pace_keys WHERE key = ?1", &st, NULL);
    if (rc)
        return rc;
    store__sq_bind_text(st, 1, key);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *until = sqlite3_column_int64(st, 0);
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, "read pacing block", NULL);
    store__sq_done(st);
    return rc;
}

/* Runs one write statement of slot with (key, v). */
static int write_kv(struct store__sq *c, enum store__sq_slot slot, const char *sql, const char *key, int64_t v,
                    const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__sq_prep(c, slot, sql, &st, NULL);
    if (rc)
        return rc;
    store__sq_bind_text(st, 1, key);
    sqlite3_bind_int64(st, 2, v);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? 0 : store__sq_fail(c, rc, what, NULL);
    store__sq_done(st);
    return rc;
}

int store__sq_window_take(struct store *s, const char *key, int limit, int64_t window_ms, int64_t now_ms,
                          int64_t *wait_ms_out)
{
    struct store__sq *c = store__sq(s);
    int64_t until = 0, at = 0;
    bool full = false;
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, NULL);
    if (rc)
        return rc;
    rc = blocked_until(c, key, &until);
    if (rc)
        goto out;
    if (until > now_ms) {
        *wait_ms_out = until - now_ms;
        goto out;
    }
    rc = nth_newest(c, key, limit, now_ms - window_ms, &full, &at);
    if (rc)
        goto out;
    if (full) {
        *wait_ms_out = at + window_ms - now_ms > 0 ? at + window_ms - now_ms : 1;
        goto out;
    }
    rc = write_kv(c, SQ_PACE_PRUNE, "DELETE FROM pace_sends WHERE key = ?1 AND at <= ?2", key, now_ms - window_ms,
                  "prune pacing window");
    if (rc == 0)
        rc = write_kv(c, SQ_PACE_INSERT, "INSERT INTO pace_sends (key, at) VALUES (?1, ?2)", key, now_ms,
                      "record a send");
out:
    if (rc == 0)
        rc = store__sq_commit(c, NULL);
    if (rc) {
        store__sq_rollback(c);
        *wait_ms_out = 0;
    }
    return rc;
}

int store__sq_window_block(struct store *s, const char *key, int64_t until_ms)
{
    struct store__sq *c = store__sq(s);
    int rc;

    rc = store__sq_begin(c, SQ_SYNC_NORMAL, NULL);
    if (rc)
        return rc;
    rc = write_kv(c, SQ_PACE_BLOCK,
                  "INSERT INTO pace_keys (key, blocked_until) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET "
                  "blocked_until = max(blocked_until, excluded.blocked_until)",
                  key, until_ms, "block a pacing window");
    if (rc == 0)
        rc = store__sq_commit(c, NULL);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_lease_count(struct store *s, const char *prefix, int64_t now_ms, int *n_out)
{
    struct store__sq *c = store__sq(s);
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__sq_prep(c, SQ_PACE_LEASES,
                        "SELECT count(*) FROM leases WHERE substr(name, 1, length(?1)) = ?1 AND held_until > ?2", &st,
                        NULL);
    if (rc)
        return rc;
    store__sq_bind_text(st, 1, prefix);
    sqlite3_bind_int64(st, 2, now_ms);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n_out = sqlite3_column_int(st, 0);
    rc = rc == SQLITE_ROW ? 0 : store__sq_fail(c, rc, "count leases", NULL);
    store__sq_done(st);
    return rc;
}

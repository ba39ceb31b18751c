/* migrations.c — the SQLite schema as embedded, numbered migrations.
 *
 * Each migration is applied once, in order, inside one write transaction
 * together with its row in schema_migrations, so a crash leaves the schema at
 * a whole version. Several connections may open a fresh database at once: the
 * version is read without a lock first (the common case: nothing to do), and
 * when something is due it is read again inside BEGIN IMMEDIATE, so exactly
 * one connection applies each migration and the others see it done.
 *
 * Migrations are append-only: never edit one that has shipped; add the next
 * number. A database newer than this binary (a higher version) is refused.
 * Called from store__sqlite_open on the opening thread. */
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"

struct migration {
    int version;
    const char *sql;
    /* what SQL alone cannot do, run after sql in the same transaction; NULL: nothing */
    int (*fn)(struct store__sq *c, struct idf_err *err);
};

/* Runs: status strings are the six STORE_RUN_*; wake_at is 0 unless waiting;
 * lease_owner/lease_until are set exactly while running. run_counts mirrors
 * count(*) per status through triggers, in the same transaction as the change.
 * The partial indexes on waiting and running runs hold only live runs, so a
 * claim never reads a finished run however long the history is. */
static const char MIGRATION_1[] =
    "CREATE TABLE workflows ("
    "  name TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  source TEXT NOT NULL,"
    "  hash TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (name, version));"
    "CREATE TABLE workflow_state ("
    "  name TEXT PRIMARY KEY,"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  updated_at INTEGER NOT NULL);"

    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  source TEXT NOT NULL,"
    "  source_id TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  connection TEXT,"
    "  received_at INTEGER NOT NULL,"
    "  data TEXT NOT NULL,"
    "  UNIQUE (source, source_id));"

    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  workflow TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  event_id INTEGER NOT NULL REFERENCES events(id),"
    "  status TEXT NOT NULL CHECK (status IN"
    "    ('queued','running','waiting','succeeded','failed','cancelled')),"
    "  pc INTEGER NOT NULL DEFAULT 0,"
    "  item INTEGER NOT NULL DEFAULT 0,"
    "  attempt INTEGER NOT NULL DEFAULT 0,"
    "  context TEXT,"
    "  error TEXT,"
    "  wake_at INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  finished_at INTEGER NOT NULL DEFAULT 0,"
    "  rerun_of INTEGER NOT NULL DEFAULT 0,"
    "  lease_owner TEXT,"
    "  lease_until INTEGER);"
    "CREATE INDEX runs_status ON runs (status);"
    "CREATE INDEX runs_waiting ON runs (status, wake_at) WHERE status = 'waiting';"
    "CREATE INDEX runs_running ON runs (status, lease_until) WHERE status = 'running';"
    "CREATE INDEX runs_workflow ON runs (workflow);"
    "CREATE INDEX runs_event ON runs (event_id);"
    "CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at > 0;"

    "CREATE TABLE run_counts ("
    "  status TEXT PRIMARY KEY,"
    "  n INTEGER NOT NULL);"
    "INSERT INTO run_counts (status, n) VALUES ('queued', 0), ('running', 0), ('waiting', 0),"
    "  ('succeeded', 0), ('failed', 0), ('cancelled', 0);"
    "CREATE TRIGGER runs_count_insert AFTER INSERT ON runs BEGIN"
    "  UPDATE run_counts SET n = n + 1 WHERE status = NEW.status;"
    "END;"
    "CREATE TRIGGER runs_count_update AFTER UPDATE OF status ON runs"
    "  WHEN OLD.status <> NEW.status BEGIN"
    "  UPDATE run_counts SET n = n - 1 WHERE status = OLD.status;"
    "  UPDATE run_counts SET n = n + 1 WHERE status = NEW.status;"
    "END;"
    "CREATE TRIGGER runs_count_delete AFTER DELETE ON runs BEGIN"
    "  UPDATE run_counts SET n = n - 1 WHERE status = OLD.status;"
    "END;"

    "CREATE TABLE steps ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  item INTEGER NOT NULL,"
    "  step_id TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  input TEXT,"
    "  output TEXT,"
    "  error TEXT,"
    "  started_at INTEGER NOT NULL DEFAULT 0,"
    "  finished_at INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (run_id, idx, item));"

    "CREATE TABLE approvals ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  step_id TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','approved','rejected')),"
    "  message TEXT,"
    "  actor TEXT,"
    "  comment TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  decided_at INTEGER,"
    "  PRIMARY KEY (run_id, step_id));"
    "CREATE INDEX approvals_pending ON approvals (created_at) WHERE status = 'pending';"

    "CREATE TABLE cursors ("
    "  name TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL);"

    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  target TEXT,"
    "  detail TEXT);"

    /* Sealed connection secrets and API tokens (tokens: see migration 2). */
    "CREATE TABLE connections ("
    "  name TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  config TEXT NOT NULL DEFAULT '{}',"
    "  secret BLOB,"
    "  nonce BLOB,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  last_used_at INTEGER);";

/* API tokens (crypto/token.h): names are unique (revoked by name), the
 * first characters of the token are kept so a listing tells tokens apart,
 * expires_at 0 means never, created_by is the actor who made it. The hash
 * column is already UNIQUE (an index: the lookup of every API request). */
static const char MIGRATION_2[] = "ALTER TABLE tokens ADD COLUMN prefix TEXT NOT NULL DEFAULT '';"
                                  "ALTER TABLE tokens ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;"
                                  "ALTER TABLE tokens ADD COLUMN created_by TEXT;"
                                  "CREATE UNIQUE INDEX tokens_name ON tokens (name);";

/* The items of the foreach step a run is in, written once when the step
 * begins, and the result each item contributes to the step's output array
 * (JSON text, not redacted: it is run state, like the context, and never
 * listed in the history), written by the item's step commit. The rows of a
 * step are deleted when it ends (sqlite_foreach.c). */
static const char MIGRATION_3[] = "CREATE TABLE foreach_items ("
                                  "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
                                  "  idx INTEGER NOT NULL,"
                                  "  item INTEGER NOT NULL,"
                                  "  value TEXT NOT NULL,"
                                  "  result TEXT,"
                                  "  PRIMARY KEY (run_id, idx, item));";

/* A cancellation asked of a running run (store_run_cancel_request): the
 * reason, applied by the run's next step commit. NULL when none. */
static const char MIGRATION_4[] = "ALTER TABLE runs ADD COLUMN cancel_requested TEXT;";

/* Store-wide settings, one row a key. "initialized" (store_initialize):
 * from then on the API never serves a request without a valid token. A
 * database that already made a token (one exists, or the audit log
 * recorded one) was initialized by it, whatever became of the token since. */
static const char MIGRATION_5[] = "CREATE TABLE settings ("
                                  "  key TEXT PRIMARY KEY,"
                                  "  value TEXT NOT NULL,"
                                  "  updated_at INTEGER NOT NULL);"
                                  "INSERT INTO settings (key, value, updated_at)"
                                  "  SELECT 'initialized', 'first API token', 0"
                                  "  WHERE EXISTS (SELECT 1 FROM tokens)"
                                  "     OR EXISTS (SELECT 1 FROM audit WHERE action = 'token.create');";

/* Poison runs (docs/internals/engine.md, "Interrupted runs"): how many times
 * in a row the run was taken from an owner that died (an expired lease, or a
 * restarted node's release) while executing it (begun: store_run_begin)
 * without a step commit moving it on; the engine fails a run whose count
 * reached its limit instead of running it again. A
 * run an older idflow put back to the queue with a cancellation asked
 * (cancel_requested) ends cancelled here, as a claim now does. */
static const char MIGRATION_6[] = "ALTER TABLE runs ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;"
                                  "ALTER TABLE runs ADD COLUMN begun INTEGER NOT NULL DEFAULT 0;"
                                  "UPDATE runs SET status = 'cancelled', error = cancel_requested, wake_at = 0,"
                                  "  finished_at = updated_at, lease_owner = NULL, lease_until = NULL"
                                  "  WHERE status = 'queued' AND cancel_requested IS NOT NULL;";

/* What is left to do for an acknowledged event (store.h, enum
 * store_event_stage): 0 done (every event before this migration), 1 to be
 * matched, 2 a delivery to expand. tries/next_at put off a retry, note says
 * what went wrong (a `when:` that failed, a delivery given up). The partial
 * index holds only the few events still waiting. */
static const char MIGRATION_7[] = "ALTER TABLE events ADD COLUMN stage INTEGER NOT NULL DEFAULT 0;"
                                  "ALTER TABLE events ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;"
                                  "ALTER TABLE events ADD COLUMN next_at INTEGER NOT NULL DEFAULT 0;"
                                  "ALTER TABLE events ADD COLUMN note TEXT;"
                                  "CREATE INDEX events_pending ON events (stage, next_at, id) WHERE stage > 0;";

/* Workflow caps (`concurrency:`, store_run_claim): a claim under caps finds
 * the queued and the due waiting runs of each workflow through these partial
 * indexes, a range per workflow, so a long backlog of a capped workflow is
 * never scanned to reach the runs of others. Like runs_waiting and
 * runs_running they hold only live runs. (Numbers 6 and 7 belong to other
 * changes of the same release.) */
static const char MIGRATION_8[] = "CREATE INDEX runs_queued_wf ON runs (workflow) WHERE status = 'queued';"
                                  "CREATE INDEX runs_due_wf ON runs (workflow, wake_at)"
                                  "  WHERE status = 'waiting' AND wake_at > 0;";

/* Named leases (store_lease_take, sqlite_leases.c): which node holds a
 * poller, the schedule ticker or a node id, until when. One row per name;
 * a free lease has no row. */
static const char MIGRATION_9[] = "CREATE TABLE leases ("
                                  "  name TEXT PRIMARY KEY,"
                                  "  owner TEXT NOT NULL,"
                                  "  held_until INTEGER NOT NULL,"
                                  "  taken_at INTEGER NOT NULL);";

/* Pacing windows (store_window_take, sqlite_pace.c): a key's block
 * (blocked_until, 0 when none) and one row per admitted send, found by key
 * and time. (Number 9 belongs to another change of the same release.) */
static const char MIGRATION_10[] = "CREATE TABLE pace_keys ("
                                   "  key TEXT PRIMARY KEY,"
                                   "  blocked_until INTEGER NOT NULL DEFAULT 0);"
                                   "CREATE TABLE pace_sends ("
                                   "  key TEXT NOT NULL,"
                                   "  at INTEGER NOT NULL);"
                                   "CREATE INDEX pace_sends_key_at ON pace_sends (key, at);";

/* Run subjects (issue 17, "subjects"; store.h): whom and what a run
 * concerns, one row per run and normalized key (the first label of a key
 * wins: INSERT OR IGNORE on the UNIQUE pair), written with the run (its
 * event's, step_id NULL) and by step commits (step_id set). The rowid keeps
 * the order they were written in (the event's first). run_subjects_key makes
 * "runs with key K, newest first" a backwards walk of one index range, the
 * other filters checked on each run it reaches. Events gain how they arrived
 * (via, NULL: unknown, as for every event stored before) and who submitted
 * them by hand (actor); steps what they changed (change, NULL: nothing).
 * runs_rerun_of finds a run's re-run (store_run.rerun_as); runs_created
 * serves since/until without a subject. */
static const char MIGRATION_11[] = "CREATE TABLE run_subjects ("
                                   "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
                                   "  key TEXT NOT NULL,"
                                   "  kind TEXT NOT NULL,"
                                   "  label TEXT NOT NULL,"
                                   "  step_id TEXT,"
                                   "  UNIQUE (run_id, key));"
                                   "CREATE INDEX run_subjects_key ON run_subjects (key, run_id);"
                                   "ALTER TABLE events ADD COLUMN via TEXT;"
                                   "ALTER TABLE events ADD COLUMN actor TEXT;"
                                   "ALTER TABLE steps ADD COLUMN change TEXT;"
                                   "CREATE INDEX runs_rerun_of ON runs (rerun_of) WHERE rerun_of > 0;"
                                   "CREATE INDEX runs_created ON runs (created_at);";

/* Issue 19: guardrail holds. A run may be "held" (never claimed until an
 * admin decides); the decision is an approval row whose `hold` names the
 * connection. run_counts gains the status. The runs table's CHECK list is
 * widened by widen_run_status below. */
static const char MIGRATION_12[] =
    "ALTER TABLE approvals ADD COLUMN hold TEXT;"
    "CREATE INDEX approvals_hold ON approvals (hold) WHERE status = 'pending' AND hold IS NOT NULL;"
    "INSERT INTO run_counts (status, n) VALUES ('held', 0);";

/* SQLite cannot alter a CHECK constraint. Widening one (a value more is
 * allowed, nothing stored becomes invalid) may be done by rewriting the
 * table's stored CREATE statement, the procedure of
 * https://www.sqlite.org/lang_altertable.html ("Making Other Kinds Of Table
 * Schema Changes"): writable_schema on, the text replaced, the schema
 * version bumped (so every open connection re-reads the schema), then
 * writable_schema off, all inside the migration's transaction; the text must
 * change exactly once or nothing is done. A rebuild of the table (the other
 * procedure) would need foreign keys off, which cannot change inside a
 * transaction, and would cascade-delete every run's steps otherwise. */
static int widen_run_status(struct store__sq *c, struct idf_err *err)
{
    static const char from[] = "'waiting','succeeded','failed','cancelled')";
    static const char to[] = "'waiting','succeeded','failed','cancelled','held')";
    sqlite3_stmt *st = NULL;
    char sql[128];
    int version = 0, rc;

    rc = sqlite3_prepare_v2(c->db, "PRAGMA schema_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        version = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_OK)
        return store__sq_fail(c, rc, "read the schema version", err);
    rc = sqlite3_exec(c->db, "PRAGMA writable_schema = ON", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(c->db,
                                "UPDATE sqlite_schema SET sql = replace(sql, ?1, ?2) WHERE type = 'table' AND "
                                "name = 'runs' AND instr(sql, ?1) > 0 AND instr(sql, ?2) = 0",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK && sqlite3_changes(c->db) != 1) {
        sqlite3_exec(c->db, "PRAGMA writable_schema = OFF", NULL, NULL, NULL);
        return idf_err_set(err, IDF_EDB, "store: the runs table's status list is not the one expected");
    }
    snprintf(sql, sizeof sql, "PRAGMA schema_version = %d", version + 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    if (sqlite3_exec(c->db, "PRAGMA writable_schema = OFF", NULL, NULL, NULL) != SQLITE_OK && rc == SQLITE_OK)
        rc = SQLITE_ERROR;
    return rc == SQLITE_OK ? 0 : store__sq_fail(c, rc, "widen the runs' statuses", err);
}

/* Issue 20: event data of 1 KiB or more is stored packed, a BLOB in
 * events.data (sqlite_pack.c: a length and a zlib stream), which every
 * reader of this version tells from text by its type. Nothing is converted:
 * rows stored before stay text and read as before. The migration is the
 * marker that keeps an older idflow, which would read a packed BLOB as text,
 * from opening the database (a newer schema version is refused). */
static const char MIGRATION_13[] = "SELECT 1;";

static const struct migration MIGRATIONS[] = {
    {1, MIGRATION_1},
    {2, MIGRATION_2},
    {3, MIGRATION_3},
    {4, MIGRATION_4},
    {5, MIGRATION_5},
    {6, MIGRATION_6},
    {7, MIGRATION_7},
    {8, MIGRATION_8},
    {9, MIGRATION_9},
    {10, MIGRATION_10},                   /* helper "pacing" */
    {11, MIGRATION_11},                   /* issue 17, "subjects" */
    {12, MIGRATION_12, widen_run_status}, /* issue 19, guardrail holds */
    {13, MIGRATION_13},                   /* issue 20, packed event data */
};

#define N_MIGRATIONS (sizeof MIGRATIONS / sizeof MIGRATIONS[0])

static const char SQL_CREATE_META[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                      "  version INTEGER PRIMARY KEY,"
                                      "  applied_at INTEGER NOT NULL)";

/* Reads the applied version (0 for a database without schema_migrations). */
static int read_version(struct store__sq *c, int *out, struct idf_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = 0;
    rc = sqlite3_prepare_v2(c->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store__sq_fail(c, rc, "read schema version", err);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return store__sq_fail(c, rc, "read schema version", err);

    rc = store__sq_prep(c, SQ_SCHEMA_VERSION, "SELECT coalesce(max(version), 0) FROM schema_migrations", &st, err);
    if (rc)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = 0;
    } else {
        rc = store__sq_fail(c, rc, "read schema version", err);
    }
    store__sq_done(st);
    return rc;
}

int store__sq_migrate(struct store__sq *c, struct idf_err *err)
{
    const int latest = MIGRATIONS[N_MIGRATIONS - 1].version;
    sqlite3_stmt *ins = NULL;
    int version = 0;
    int rc;

    rc = read_version(c, &version, err);
    if (rc)
        return rc;
    if (version > latest)
        return idf_err_set(err, IDF_EDB, "store: database schema version %d is newer than this idflow (%d)", version,
                           latest);
    if (version == latest)
        return 0;

    rc = store__sq_begin(c, SQ_SYNC_FULL, err);
    if (rc)
        return rc;
    rc = sqlite3_exec(c->db, SQL_CREATE_META, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = store__sq_fail(c, rc, "create schema_migrations", err);
        goto out;
    }
    rc = read_version(c, &version, err); /* again, under the write lock */
    if (rc)
        goto out;
    rc = sqlite3_prepare_v2(c->db, "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", -1, &ins,
                            NULL);
    if (rc != SQLITE_OK) {
        rc = store__sq_fail(c, rc, "record migration", err);
        goto out;
    }
    for (size_t i = 0; i < N_MIGRATIONS; i++) {
        if (MIGRATIONS[i].version <= version)
            continue;
        rc = sqlite3_exec(c->db, MIGRATIONS[i].sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            rc = store__sq_fail(c, rc, "apply migration", err);
            idf_err_prefix(err, "migration %d: ", MIGRATIONS[i].version);
            goto out;
        }
        if (MIGRATIONS[i].fn && (rc = MIGRATIONS[i].fn(c, err)) != 0) {
            idf_err_prefix(err, "migration %d: ", MIGRATIONS[i].version);
            goto out;
        }
        sqlite3_reset(ins);
        sqlite3_bind_int(ins, 1, MIGRATIONS[i].version);
        sqlite3_bind_int64(ins, 2, time_now_ms());
        rc = sqlite3_step(ins);
        if (rc != SQLITE_DONE) {
            rc = store__sq_fail(c, rc, "record migration", err);
            goto out;
        }
    }
    sqlite3_finalize(ins);
    ins = NULL;
    rc = store__sq_commit(c, err);
out:
    sqlite3_finalize(ins);
    if (rc)
        store__sq_rollback(c);
    return rc;
}

int store__sq_schema_version(struct store *s, int *out)
{
    return read_version(store__sq(s), out, NULL);
}

/* postgres_stubs.c — TEMPORARY: the PostgreSQL ops not written yet, each
 * returning IDF_ESTATE ("not built yet"; core/err.h has no "not supported"
 * code), so the binary links while the backend is built file by file. One
 * section per file that will own the ops: whoever writes that file deletes
 * its section here; the file goes once every section is gone. */
#include "store/postgres_internal.h"

/* The answer of every op below: IDF_ESTATE, with a message where the op
 * takes an err. */
#define PG_STUB(err, op) idf_err_set((err), IDF_ESTATE, "store: postgresql: %s is not built yet", (op))

/* postgres_events.c */

int store__pg_workflow_save(struct store *s, const char *name, const char *source, const char *hash,
                            int64_t *version_out, bool *created_out, struct idf_err *err)
{
    (void)s;
    (void)name;
    (void)source;
    (void)hash;
    (void)version_out;
    (void)created_out;
    return PG_STUB(err, "workflow_save");
}

int store__pg_workflow_source(struct store *s, const char *name, int64_t version, char **source_out,
                              int64_t *version_out)
{
    (void)s;
    (void)name;
    (void)version;
    (void)source_out;
    (void)version_out;
    return PG_STUB(NULL, "workflow_source");
}

int store__pg_workflow_set_enabled(struct store *s, const char *name, bool enabled)
{
    (void)s;
    (void)name;
    (void)enabled;
    return PG_STUB(NULL, "workflow_set_enabled");
}

int store__pg_ingest(struct store *s, struct store_ingest_item *items, size_t n, struct idf_err *err)
{
    (void)s;
    (void)items;
    (void)n;
    return PG_STUB(err, "ingest");
}

int store__pg_events_pending(struct store *s, enum store_event_stage stage, int64_t now_ms, size_t max,
                             struct store_event **out, size_t *n_out, struct idf_err *err)
{
    (void)s;
    (void)stage;
    (void)now_ms;
    (void)max;
    (void)out;
    (void)n_out;
    return PG_STUB(err, "events_pending");
}

int store__pg_events_settle(struct store *s, struct store_settle *items, size_t n, struct idf_err *err)
{
    (void)s;
    (void)items;
    (void)n;
    return PG_STUB(err, "events_settle");
}

int store__pg_event_expand(struct store *s, int64_t delivery_id, struct store_ingest_item *items, size_t n,
                           const char *note, struct idf_err *err)
{
    (void)s;
    (void)delivery_id;
    (void)items;
    (void)n;
    (void)note;
    return PG_STUB(err, "event_expand");
}

int store__pg_event_retry(struct store *s, int64_t id, int64_t next_at_ms, const char *note, bool give_up,
                          struct idf_err *err)
{
    (void)s;
    (void)id;
    (void)next_at_ms;
    (void)note;
    (void)give_up;
    return PG_STUB(err, "event_retry");
}

int store__pg_cursor_get(struct store *s, const char *name, char **value_out)
{
    (void)s;
    (void)name;
    (void)value_out;
    return PG_STUB(NULL, "cursor_get");
}

int store__pg_cursor_set(struct store *s, const char *name, const char *value)
{
    (void)s;
    (void)name;
    (void)value;
    return PG_STUB(NULL, "cursor_set");
}

int store__pg_audit_add(struct store *s, const char *actor, const char *action, const char *target, const char *detail)
{
    (void)s;
    (void)actor;
    (void)action;
    (void)target;
    (void)detail;
    return PG_STUB(NULL, "audit_add");
}

/* postgres_runs.c, postgres_caps.c, postgres_foreach.c */

int store__pg_run_claim(struct store *s, const char *owner, int64_t now_ms, int64_t lease_ms, size_t max,
                        const struct store_cap *caps, size_t n_caps, struct store_run **out, size_t *n_out,
                        struct idf_err *err)
{
    (void)s;
    (void)owner;
    (void)now_ms;
    (void)lease_ms;
    (void)max;
    (void)caps;
    (void)n_caps;
    (void)out;
    (void)n_out;
    return PG_STUB(err, "run_claim");
}

int store__pg_run_renew(struct store *s, int64_t run_id, const char *owner, int64_t lease_until)
{
    (void)s;
    (void)run_id;
    (void)owner;
    (void)lease_until;
    return PG_STUB(NULL, "run_renew");
}

int store__pg_run_begin(struct store *s, int64_t run_id, const char *owner, int64_t lease_until)
{
    (void)s;
    (void)run_id;
    (void)owner;
    (void)lease_until;
    return PG_STUB(NULL, "run_begin");
}

int store__pg_run_claim_id(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int64_t lease_ms,
                           struct store_run **out, struct idf_err *err)
{
    (void)s;
    (void)run_id;
    (void)owner;
    (void)now_ms;
    (void)lease_ms;
    (void)out;
    return PG_STUB(err, "run_claim_id");
}

int store__pg_release_leases(struct store *s, const char *owner, int64_t *n_out)
{
    (void)s;
    (void)owner;
    (void)n_out;
    return PG_STUB(NULL, "release_leases");
}

int store__pg_next_wake(struct store *s, int64_t *wake_at_out)
{
    (void)s;
    (void)wake_at_out;
    return PG_STUB(NULL, "next_wake");
}

int store__pg_step_commit(struct store *s, int64_t run_id, const char *owner, int64_t now_ms,
                          const struct store_step_rec *step, const struct store_run_next *next, struct idf_err *err)
{
    (void)s;
    (void)run_id;
    (void)owner;
    (void)now_ms;
    (void)step;
    (void)next;
    return PG_STUB(err, "step_commit");
}

int store__pg_run_get(struct store *s, int64_t id, struct store_run **out)
{
    (void)s;
    (void)id;
    (void)out;
    return PG_STUB(NULL, "run_get");
}

int store__pg_foreach_begin(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int index,
                            const char *const *items, size_t n, const char *const *results, size_t n_results,
                            const struct store_run_next *next, struct idf_err *err)
{
    (void)s;
    (void)run_id;
    (void)owner;
    (void)now_ms;
    (void)index;
    (void)items;
    (void)n;
    (void)results;
    (void)n_results;
    (void)next;
    return PG_STUB(err, "foreach_begin");
}

int store__pg_foreach_item(struct store *s, int64_t run_id, int index, int item, char **item_out)
{
    (void)s;
    (void)run_id;
    (void)index;
    (void)item;
    (void)item_out;
    return PG_STUB(NULL, "foreach_item");
}

int store__pg_foreach_outputs(struct store *s, int64_t run_id, int index, char **json_out)
{
    (void)s;
    (void)run_id;
    (void)index;
    (void)json_out;
    return PG_STUB(NULL, "foreach_outputs");
}

/* postgres_admin.c */

int store__pg_run_rerun(struct store *s, int64_t run_id, int64_t now_ms, const char *actor, int64_t *new_id_out,
                        struct idf_err *err)
{
    (void)s;
    (void)run_id;
    (void)now_ms;
    (void)actor;
    (void)new_id_out;
    return PG_STUB(err, "run_rerun");
}

int store__pg_run_cancel(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, struct idf_err *err)
{
    (void)s;
    (void)run_id;
    (void)reason;
    (void)now_ms;
    return PG_STUB(err, "run_cancel");
}

int store__pg_run_stop(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, const char *actor,
                       bool *pending_out, struct idf_err *err)
{
    (void)s;
    (void)run_id;
    (void)reason;
    (void)now_ms;
    (void)actor;
    (void)pending_out;
    return PG_STUB(err, "run_stop");
}

int store__pg_approval_decide(struct store *s, int64_t run_id, bool approve, const char *actor, const char *comment,
                              int64_t now_ms, struct idf_err *err)
{
    (void)s;
    (void)run_id;
    (void)approve;
    (void)actor;
    (void)comment;
    (void)now_ms;
    return PG_STUB(err, "approval_decide");
}

int store__pg_approval_get(struct store *s, int64_t run_id, const char *step_id, char **status_out, char **actor_out)
{
    (void)s;
    (void)run_id;
    (void)step_id;
    (void)status_out;
    (void)actor_out;
    return PG_STUB(NULL, "approval_get");
}

int store__pg_prune(struct store *s, int64_t before_ms, int64_t *n_out)
{
    (void)s;
    (void)before_ms;
    (void)n_out;
    return PG_STUB(NULL, "prune");
}

/* postgres_conn.c */

int store__pg_connection_put(struct store *s, const char *name, const char *kind, const char *config,
                             const unsigned char *sealed, size_t sealed_len, const char *actor, bool *created_out,
                             struct idf_err *err)
{
    (void)s;
    (void)name;
    (void)kind;
    (void)config;
    (void)sealed;
    (void)sealed_len;
    (void)actor;
    (void)created_out;
    return PG_STUB(err, "connection_put");
}

int store__pg_connection_get(struct store *s, const char *name, char **kind_out, char **config_out,
                             unsigned char **sealed_out, size_t *sealed_len_out, int64_t *updated_at_out)
{
    (void)s;
    (void)name;
    (void)kind_out;
    (void)config_out;
    (void)sealed_out;
    (void)sealed_len_out;
    (void)updated_at_out;
    return PG_STUB(NULL, "connection_get");
}

int store__pg_connection_delete(struct store *s, const char *name, const char *actor, struct idf_err *err)
{
    (void)s;
    (void)name;
    (void)actor;
    return PG_STUB(err, "connection_delete");
}

int store__pg_token_create(struct store *s, const char *name, const char *role, const char *hash, const char *prefix,
                           int64_t expires_at, const char *actor, int64_t *id_out, struct idf_err *err)
{
    (void)s;
    (void)name;
    (void)role;
    (void)hash;
    (void)prefix;
    (void)expires_at;
    (void)actor;
    (void)id_out;
    return PG_STUB(err, "token_create");
}

int store__pg_token_lookup(struct store *s, const char *hash, int64_t now_ms, struct store_token **out)
{
    (void)s;
    (void)hash;
    (void)now_ms;
    (void)out;
    return PG_STUB(NULL, "token_lookup");
}

int store__pg_token_revoke(struct store *s, const char *name, const char *actor, bool force, struct idf_err *err)
{
    (void)s;
    (void)name;
    (void)actor;
    (void)force;
    return PG_STUB(err, "token_revoke");
}

int store__pg_initialized(struct store *s, bool *out)
{
    (void)s;
    (void)out;
    return PG_STUB(NULL, "initialized");
}

int store__pg_initialize(struct store *s, const char *actor, bool *changed_out, struct idf_err *err)
{
    (void)s;
    (void)actor;
    (void)changed_out;
    return PG_STUB(err, "initialize");
}

/* postgres_lists.c (the list and get-as-JSON ops) */

int store__pg_workflow_list(struct store *s, json_t **out)
{
    (void)s;
    (void)out;
    return PG_STUB(NULL, "workflow_list");
}

int store__pg_event_get(struct store *s, int64_t id, json_t **out)
{
    (void)s;
    (void)id;
    (void)out;
    return PG_STUB(NULL, "event_get");
}

int store__pg_run_list(struct store *s, const struct store_run_filter *f, json_t **out)
{
    (void)s;
    (void)f;
    (void)out;
    return PG_STUB(NULL, "run_list");
}

int store__pg_step_list(struct store *s, int64_t run_id, json_t **out)
{
    (void)s;
    (void)run_id;
    (void)out;
    return PG_STUB(NULL, "step_list");
}

int store__pg_run_counts(struct store *s, json_t **out)
{
    (void)s;
    (void)out;
    return PG_STUB(NULL, "run_counts");
}

int store__pg_approval_list(struct store *s, json_t **out)
{
    (void)s;
    (void)out;
    return PG_STUB(NULL, "approval_list");
}

int store__pg_audit_list(struct store *s, int limit, json_t **out)
{
    (void)s;
    (void)limit;
    (void)out;
    return PG_STUB(NULL, "audit_list");
}

int store__pg_connection_list(struct store *s, json_t **out)
{
    (void)s;
    (void)out;
    return PG_STUB(NULL, "connection_list");
}

int store__pg_token_list(struct store *s, int64_t now_ms, json_t **out)
{
    (void)s;
    (void)now_ms;
    (void)out;
    return PG_STUB(NULL, "token_list");
}

/* postgres_stubs.c — TEMPORARY: the PostgreSQL ops not written yet, each
 * returning IDF_ESTATE ("not built yet"; core/err.h has no "not supported"
 * code), so the binary links while the backend is built file by file. One
 * section per file that will own the ops: whoever writes that file deletes
 * its section here; the file goes once every section is gone. */
#include "store/postgres_internal.h"

/* The answer of every op below: IDF_ESTATE, with a message where the op
 * takes an err. */
#define PG_STUB(err, op) idf_err_set((err), IDF_ESTATE, "store: postgresql: %s is not built yet", (op))

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

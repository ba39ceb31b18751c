/* postgres_stubs.c — TEMPORARY: the PostgreSQL ops not written yet, each
 * returning IDF_ESTATE ("not built yet"; core/err.h has no "not supported"
 * code), so the binary links while the backend is built file by file. One
 * section per file that will own the ops: whoever writes that file deletes
 * its section here; the file goes once every section is gone. */
#include "store/postgres_internal.h"

/* The answer of every op below: IDF_ESTATE, with a message where the op
 * takes an err. */
#define PG_STUB(err, op) idf_err_set((err), IDF_ESTATE, "store: postgresql: %s is not built yet", (op))

/* postgres_lists.c (the list and get-as-JSON ops) */

int store__pg_workflow_list(struct store *s, struct store_workflow_info **out, size_t *n)
{
    (void)s;
    (void)out;
    (void)n;
    return PG_STUB(NULL, "workflow_list");
}

int store__pg_event_get(struct store *s, int64_t id, struct store_event **out)
{
    (void)s;
    (void)id;
    (void)out;
    return PG_STUB(NULL, "event_get");
}

int store__pg_run_list(struct store *s, const struct store_run_filter *f, struct store_run **out, size_t *n)
{
    (void)s;
    (void)f;
    (void)out;
    (void)n;
    return PG_STUB(NULL, "run_list");
}

int store__pg_step_list(struct store *s, int64_t run_id, struct store_step **out, size_t *n)
{
    (void)s;
    (void)run_id;
    (void)out;
    (void)n;
    return PG_STUB(NULL, "step_list");
}

int store__pg_run_counts(struct store *s, struct store_run_counts *out)
{
    (void)s;
    (void)out;
    return PG_STUB(NULL, "run_counts");
}

int store__pg_approval_list(struct store *s, struct store_approval **out, size_t *n)
{
    (void)s;
    (void)out;
    (void)n;
    return PG_STUB(NULL, "approval_list");
}

int store__pg_audit_list(struct store *s, int limit, struct store_audit **out, size_t *n)
{
    (void)s;
    (void)limit;
    (void)out;
    (void)n;
    return PG_STUB(NULL, "audit_list");
}

int store__pg_connection_list(struct store *s, struct store_connection_info **out, size_t *n)
{
    (void)s;
    (void)out;
    (void)n;
    return PG_STUB(NULL, "connection_list");
}

int store__pg_token_list(struct store *s, struct store_token **out, size_t *n)
{
    (void)s;
    (void)out;
    (void)n;
    return PG_STUB(NULL, "token_list");
}

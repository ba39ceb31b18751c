/* cluster_fixture.h — several `idflow serve` nodes on one database, for the
 * multi-node test (tests/integration/test_cluster.c) and bench/cluster.c.
 *
 * The sandbox, the temporary directory and the idflow commands come from
 * serve_fixture (struct sfx); this adds the nodes (each a process with its
 * own --node-id and port on the same --db), their kill -9, and the readings
 * the cluster checks need: every run of a workflow across pages, the
 * sandbox's call log, CPU time from /proc.
 *
 * The database is a parameter: cfx_use_env_db() picks the template in
 * IDFLOW_TEST_STORE_URL when it is set (tests/pg/run.sh sets it to the test
 * cluster's postgresql:// URL with "%s" for a fresh schema,
 * support/storeurl.h), else the nodes share the fixture's SQLite file. Support code
 * does not link cmocka: failures are returned and printed to stderr. One
 * thread (the test's) uses a fixture. */
#ifndef IDF_TESTS_CLUSTER_FIXTURE_H
#define IDF_TESTS_CLUSTER_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "support/serve_fixture.h"
#include "support/testutil.h"

#define CFX_MAX_NODES 8
#define CFX_DB_ENV "IDFLOW_TEST_STORE_URL" /* the nodes' database template (else SQLite in the fixture's dir) */

struct cfx_node {
    struct tu_proc p;  /* the serve process while up */
    bool up;           /* started and neither stopped nor killed */
    char id[32];       /* its --node-id */
    char listen[64];   /* "127.0.0.1:PORT" */
    char base[128];    /* "http://127.0.0.1:PORT" */
    int64_t killed_at; /* wall-clock ms of its kill -9, or 0 */
};

/* When IDFLOW_TEST_STORE_URL is set, points f->db (after sfx_start made the
 * SQLite path) at it, with "%s" replaced by "<tag>_<pid>" (for PostgreSQL a
 * schema created empty): 1. 0 when it is not set (f->db stays SQLite); -1
 * when the schema could not be made (printed). */
int cfx_use_env_db(struct sfx *f, const char *tag);

/* Starts `idflow serve --db f->db --listen 127.0.0.1:<free> --workflows
 * f->wfdir --node-id ID --workers WORKERS [extra...]` with f->serve_env and
 * waits for /readyz. 0, or -1 (its log printed). */
int cfx_node_start(struct sfx *f, struct cfx_node *n, const char *id, int workers, const char *const *extra);

/* kill -9 and reap: 0 when it died of SIGKILL, with n->killed_at set. */
int cfx_node_kill9(struct cfx_node *n);

/* SIGTERM: its exit code, or non-zero when it did not exit within 15 s or
 * logged one of f->secrets or a sanitizer report (printed). 0 when not up. */
int cfx_node_stop(struct sfx *f, struct cfx_node *n);

/* Every run of workflow (status NULL: any) through base's API, paging with
 * before=: a new array (caller decrefs), or NULL (printed). */
json_t *cfx_runs(const char *base, const char *workflow, const char *status);

/* Number of runs as cfx_runs counts them; -1 on failure. */
int cfx_count_runs(const char *base, const char *workflow, const char *status);

/* GET base/api/v1/runs/ID: the run with its steps (caller decrefs), or NULL. */
json_t *cfx_run(const char *base, long long id);

/* The sandbox's call log entries whose path starts with prefix (NULL: any),
 * all of them: a new array (caller decrefs), or NULL. */
json_t *cfx_calls(const char *sb, const char *prefix);

/* "2026-12-07T10:00:00.123Z" as ms since the epoch; -1 when it is not that shape. */
int64_t cfx_iso_ms(const char *iso);

/* Wall-clock ms since the epoch. */
int64_t cfx_wall_ms(void);

/* CPU time (user + system) the process has used so far, in ms; -1 when
 * /proc cannot tell (it ended). */
int64_t cfx_cpu_ms(pid_t pid);

#endif

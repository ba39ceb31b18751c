/* coord.h — the engine's side of the connectors' coordination interface
 * (struct conn_coord, connectors/connector.h): named budgets, named locks
 * and the live node count, over the store the nodes share.
 *
 * One struct engine_coord per engine thread that calls connectors (a
 * worker, the expander, the poller), over that thread's own store
 * connection; connectors get &c->pub. `idflow run` and other single-process
 * uses hand connectors no coord (NULL). Budgets are store windows
 * (store_window_take), locks are named leases (store_lease_take) held by the
 * run being executed, or else by the thread's owner name, the node count is the number of unexpired "node:*"
 * leases (each live node renews its own: engine/node.c), read at most every
 * ENGINE_COORD_NODES_MS. Any store failure is returned as it is; nothing
 * here sleeps or retries. */
#ifndef IDF_ENGINE_COORD_H
#define IDF_ENGINE_COORD_H

#include <stdint.h>

#include "connectors/connector.h"

struct store;

#define ENGINE_COORD_OWNER_MAX 256       /* a lock holder's name, with its NUL */
#define ENGINE_COORD_NODES_MS 5000       /* how long a node count is used before it is read again */
#define ENGINE_COORD_NODE_PREFIX "node:" /* the names of the nodes' own leases */
#define ENGINE_COORD_KEY_MAX 256         /* a budget's or lock's name as the store keeps it, with its NUL */

struct engine_coord {
    struct conn_coord pub;              /* what connectors are handed (ctx points back here) */
    struct store *store;                /* borrowed: the thread's own connection */
    char owner[ENGINE_COORD_OWNER_MAX]; /* the thread ("<node>/w3") */
    char holder[ENGINE_COORD_OWNER_MAX]; /* who takes and drops locks now: the run being executed
                                            ("run:<id>", engine_coord_for_run) or the thread */
    int nodes;                          /* last count read (>= 1) */
    int64_t nodes_at;                   /* when it was read (monotonic ms), 0: never */
};

/* Sets c up over store s (borrowed; outlives c) for the holder owner
 * (copied; cut to ENGINE_COORD_OWNER_MAX - 1 bytes). */
void engine_coord_init(struct engine_coord *c, struct store *s, const char *owner);

/* Locks are held by run run_id from now on ("run:<id>"), or by the thread
 * again when run_id is 0. A worker sets it for each run it executes: a run
 * is executed by one node at a time (its lease, renewed while a step runs),
 * so a lock an action took for it belongs to the run, not to the process.
 * When that process dies and another node takes the run over, the run's
 * next attempt holds its own lock at once (a HappyFox ticket's lease)
 * instead of waiting for the dead process's lease to expire, while other
 * runs still wait for it. */
void engine_coord_for_run(struct engine_coord *c, int64_t run_id);

#endif

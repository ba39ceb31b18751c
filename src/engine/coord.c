/* coord.c — struct conn_coord over the store (see coord.h).
 *
 * Owns: the mapping of a connector's budget and lock names onto store keys
 * (a name longer than the store takes is replaced by "h:" and a hash of it,
 * so two names never share a key by being cut), the wall-clock times the
 * store wants, and the cached node count. Leaves to the store the
 * atomicity (store_window_take, store_lease_take: one transaction each) and
 * to connectors what to do with a wait or a store failure.
 *
 * Threads: a struct engine_coord belongs to the thread whose store it uses;
 * nothing here is shared. */
#include "engine/coord.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"
#include "store/store.h"

/* The store key of a connector's name: the name itself, or "h:" and the
 * hex of its 32-byte BLAKE2b hash when it is too long. */
static void key_of(const char *name, char out[ENGINE_COORD_KEY_MAX])
{
    unsigned char h[32];

    if (strlen(name) < ENGINE_COORD_KEY_MAX) {
        snprintf(out, ENGINE_COORD_KEY_MAX, "%s", name);
        return;
    }
    crypto_generichash(h, sizeof h, (const unsigned char *)name, strlen(name), NULL, 0);
    memcpy(out, "h:", 2);
    sodium_bin2hex(out + 2, ENGINE_COORD_KEY_MAX - 2, h, sizeof h);
}

static int co_budget_take(void *ctx, const char *name, int limit, int64_t window_ms, int64_t *wait_ms_out)
{
    struct engine_coord *c = ctx;
    char key[ENGINE_COORD_KEY_MAX];

    key_of(name, key);
    return store_window_take(c->store, key, limit, window_ms, time_now_ms(), wait_ms_out);
}

static int co_budget_block(void *ctx, const char *name, int64_t for_ms)
{
    struct engine_coord *c = ctx;
    char key[ENGINE_COORD_KEY_MAX];

    key_of(name, key);
    if (for_ms < 0)
        for_ms = 0;
    if (for_ms > STORE_WINDOW_MS_MAX)
        for_ms = STORE_WINDOW_MS_MAX;
    return store_window_block(c->store, key, time_now_ms() + for_ms);
}

static int co_lock_take(void *ctx, const char *name, int64_t ttl_ms, bool *taken_out)
{
    struct engine_coord *c = ctx;
    char key[ENGINE_COORD_KEY_MAX];

    key_of(name, key);
    if (ttl_ms < 1)
        ttl_ms = 1;
    if (ttl_ms > STORE_LEASE_TTL_MAX)
        ttl_ms = STORE_LEASE_TTL_MAX;
    return store_lease_take(c->store, key, c->holder, time_now_ms(), ttl_ms, taken_out, NULL);
}

static int co_lock_drop(void *ctx, const char *name)
{
    struct engine_coord *c = ctx;
    char key[ENGINE_COORD_KEY_MAX];
    int rc;

    key_of(name, key);
    rc = store_lease_drop(c->store, key, c->holder);
    return rc == IDF_ESTATE ? 0 : rc; /* it expired and another holder has it: not ours to drop */
}

static int co_nodes(void *ctx, int *n_out)
{
    struct engine_coord *c = ctx;
    int64_t now = time_mono_ms();
    int n = 0, rc;

    if (c->nodes_at && now - c->nodes_at < ENGINE_COORD_NODES_MS) {
        *n_out = c->nodes;
        return 0;
    }
    rc = store_lease_count(c->store, ENGINE_COORD_NODE_PREFIX, time_now_ms(), &n);
    if (rc) {
        *n_out = c->nodes; /* the last count, or 1 */
        return rc;
    }
    c->nodes = n > 0 ? n : 1; /* a node that holds no node lease yet is still one */
    c->nodes_at = now;
    *n_out = c->nodes;
    return 0;
}

static const struct conn_coord_ops engine_coord_ops = {
    .budget_take = co_budget_take,
    .budget_block = co_budget_block,
    .lock_take = co_lock_take,
    .lock_drop = co_lock_drop,
    .nodes = co_nodes,
};

void engine_coord_init(struct engine_coord *c, struct store *s, const char *owner)
{
    memset(c, 0, sizeof *c);
    c->pub.ops = &engine_coord_ops;
    c->pub.ctx = c;
    c->store = s;
    c->nodes = 1;
    snprintf(c->owner, sizeof c->owner, "%s", owner);
    snprintf(c->holder, sizeof c->holder, "%s", c->owner);
}

void engine_coord_for_run(struct engine_coord *c, int64_t run_id)
{
    if (run_id > 0)
        snprintf(c->holder, sizeof c->holder, "run:%lld", (long long)run_id);
    else
        snprintf(c->holder, sizeof c->holder, "%s", c->owner);
}

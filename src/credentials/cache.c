/* cache.c — the per-thread cache that resolves a connection for
 * an action: (kind, name or NULL) -> {"name", "kind", fields...} with its
 * secrets unsealed.
 *
 * Design: a worker calls cred_resolve before every action that needs
 * a connection, so the common path is a look-up in a small array with no
 * store access. A resolved entry is trusted for recheck_ns; after that the
 * row is read again and, only when its updated_at moved (the store makes it
 * strictly increase on every put), unsealed again. "The only connection of a
 * kind" (name NULL) is remembered per kind for the same interval, then the
 * list is read again, so adding a second connection of that kind turns the
 * implicit choice into a clear error within recheck_ns.
 *
 * Invariants of struct cred_cache:
 *  - entries[0..n) hold distinct names; each conn is an object built by
 *    cred__build (secrets unsealed and registered with the logger)
 *    and is wiped when replaced, evicted or freed;
 *  - defaults[0..nd) hold distinct kinds;
 *  - a pointer handed out by cred_resolve stays valid until the next
 *    call on the cache (a refresh or an eviction may free it).
 *
 * Threads: one cache per thread, never shared. */
#include "credentials/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "core/timeutil.h"
#include "store/store.h"

#define KINDS_MAX 16 /* kinds with a remembered "only connection" */

struct centry {
    char name[CRED_NAME_MAX + 1]; /* the connection's name (unique in the cache) */
    char kind[CRED__KIND_MAX];    /* its kind when resolved */
    int64_t updated_at;                  /* the row's updated_at when resolved */
    int64_t checked_ns;                  /* monotonic time of the last look at the row */
    int64_t used_ns;                     /* last hand-out, for eviction */
    json_t *conn;                        /* resolved object, owned; secrets unsealed */
};

struct kdefault {
    char kind[CRED__KIND_MAX];    /* a kind */
    char name[CRED_NAME_MAX + 1]; /* its only connection when last listed */
    int64_t checked_ns;                  /* when it was listed */
};

struct cred_cache {
    const struct seal_key *key;                  /* borrowed, read-only */
    int64_t recheck_ns;                          /* trust interval */
    struct centry entries[CRED_CACHE_MAX]; /* resolved connections */
    size_t n;                                    /* entries used */
    struct kdefault defaults[KINDS_MAX];         /* name-less resolutions */
    size_t nd;                                   /* defaults used */
};

int cred_cache_new(const struct seal_key *key, int64_t recheck_ms, struct cred_cache **out)
{
    struct cred_cache *c;

    *out = NULL;
    if (recheck_ms < 0)
        return IDF_EINVAL;
    c = calloc(1, sizeof *c);
    if (!c)
        return IDF_ENOMEM;
    c->key = key;
    c->recheck_ns = recheck_ms * 1000000;
    *out = c;
    return 0;
}

void cred_cache_free(struct cred_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        cred_wipe_free(c->entries[i].conn);
    free(c);
}

static bool fresh(const struct cred_cache *c, int64_t checked_ns, int64_t now)
{
    return c->recheck_ns > 0 && now - checked_ns < c->recheck_ns;
}

static void drop_entry(struct cred_cache *c, size_t i)
{
    cred_wipe_free(c->entries[i].conn);
    c->entries[i] = c->entries[--c->n];
    memset(&c->entries[c->n], 0, sizeof c->entries[c->n]);
}

static struct centry *find_entry(struct cred_cache *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->entries[i].name, name) == 0)
            return &c->entries[i];
    return NULL;
}

/* A free slot, evicting the least recently used entry when full. */
static struct centry *new_entry(struct cred_cache *c)
{
    size_t lru = 0;

    if (c->n < CRED_CACHE_MAX)
        return &c->entries[c->n++];
    for (size_t i = 1; i < c->n; i++)
        if (c->entries[i].used_ns < c->entries[lru].used_ns)
            lru = i;
    cred_wipe_free(c->entries[lru].conn);
    memset(&c->entries[lru], 0, sizeof c->entries[lru]);
    return &c->entries[lru];
}

/* Picks the only connection of kind from the store's list into name_out. */
static int pick_only(struct store *s, const char *kind, char *name_out, size_t n, struct idf_err *err)
{
    struct store_connection_info *rows = NULL;
    char names[600];
    size_t off = 0, count = 0, n_rows = 0;
    const char *only = NULL;
    int rc;

    rc = store_connection_list(s, &rows, &n_rows);
    if (rc)
        return idf_err_set(err, rc, "cannot list connections (%s)", idf_strerror(rc));
    names[0] = '\0';
    for (size_t i = 0; i < n_rows; i++) {
        const char *k = rows[i].kind;
        const char *nm = rows[i].name;
        if (!k || !nm || strcmp(k, kind) != 0)
            continue;
        count++;
        only = nm;
        if (off < sizeof names) {
            int w = snprintf(names + off, sizeof names - off, "%s%s", off ? ", " : "", nm);
            if (w > 0)
                off += (size_t)w;
        }
    }
    if (count == 0)
        rc = idf_err_set(err, IDF_ENOTFOUND,
                         "no %s connection is stored: add one with `idflow connect %s NAME ...`", kind, kind);
    else if (count > 1)
        rc = idf_err_set(err, IDF_EINVAL,
                         "%zu %s connections are stored (%s): say which one with `connection: NAME`", count, kind,
                         names);
    else
        snprintf(name_out, n, "%s", only);
    store_connection_list_free(rows, n_rows);
    return rc;
}

/* The name to use for kind when none was given: remembered for recheck_ns. */
static int default_name(struct cred_cache *c, struct store *s, const char *kind, int64_t now,
                        const char **name_out, struct idf_err *err)
{
    struct kdefault *d = NULL;
    char name[CRED_NAME_MAX + 1];
    int rc;

    for (size_t i = 0; i < c->nd; i++)
        if (strcmp(c->defaults[i].kind, kind) == 0)
            d = &c->defaults[i];
    if (d && fresh(c, d->checked_ns, now)) {
        *name_out = d->name;
        return 0;
    }
    rc = pick_only(s, kind, name, sizeof name, err);
    if (rc) {
        if (d)
            d->checked_ns = 0; /* list again next time */
        return rc;
    }
    if (!d) {
        if (c->nd == KINDS_MAX)
            c->nd = 0; /* more kinds than connectors exist: start over */
        d = &c->defaults[c->nd++];
        snprintf(d->kind, sizeof d->kind, "%s", kind);
    }
    snprintf(d->name, sizeof d->name, "%s", name);
    d->checked_ns = now;
    *name_out = d->name;
    return 0;
}

int cred_resolve(struct cred_cache *c, struct store *s, const char *kind, const char *name,
                        const json_t **conn_out, struct idf_err *err)
{
    char *row_kind = NULL, *config = NULL;
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    int64_t updated = 0, now = time_mono_ns();
    struct centry *e;
    json_t *conn = NULL;
    int rc;

    idf_err_clear(err);
    *conn_out = NULL;
    if (!c || !s || !kind || !*kind || strlen(kind) >= CRED__KIND_MAX)
        return idf_err_set(err, IDF_EINVAL, "connections: missing or bad argument");
    if (!name) {
        rc = default_name(c, s, kind, now, &name, err);
        if (rc)
            return rc;
    } else if (!cred_name_valid(name)) {
        return idf_err_set(err, IDF_EINVAL, "'%.80s' is not a valid connection name", name);
    }

    e = find_entry(c, name);
    if (e && strcmp(e->kind, kind) == 0 && fresh(c, e->checked_ns, now)) {
        e->used_ns = now;
        *conn_out = e->conn;
        return 0;
    }
    rc = store_connection_get(s, name, &row_kind, &config, &sealed, &sealed_len, &updated);
    if (rc == IDF_ENOTFOUND) {
        if (e)
            drop_entry(c, (size_t)(e - c->entries));
        rc = idf_err_set(err, rc, "no connection named %s: add it with `idflow connect %s %s ...`", name, kind, name);
        goto out;
    }
    if (rc) {
        idf_err_set(err, rc, "connection %s: cannot read it from the store (%s)", name, idf_strerror(rc));
        goto out;
    }
    if (strcmp(row_kind, kind) != 0) {
        rc = idf_err_set(err, IDF_EINVAL, "connection %s is a %.64s connection, not %s", name, row_kind, kind);
        goto out;
    }
    if (e && e->updated_at == updated && strcmp(e->kind, kind) == 0) {
        e->checked_ns = now; /* unchanged: keep what is unsealed */
        e->used_ns = now;
        *conn_out = e->conn;
        goto out;
    }
    rc = cred__build(c->key, row_kind, name, config, sealed, sealed_len, &conn, err);
    if (rc)
        goto out;
    if (!e)
        e = new_entry(c);
    cred_wipe_free(e->conn);
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->kind, sizeof e->kind, "%s", row_kind);
    e->updated_at = updated;
    e->checked_ns = now;
    e->used_ns = now;
    e->conn = conn;
    *conn_out = conn;
out:
    free(row_kind);
    free(config);
    free(sealed);
    return rc;
}

int cred_for_action(struct cred_cache *c, struct store *s, const struct connector *owner,
                           const char *name, const json_t **conn_out, struct idf_err *err)
{
    *conn_out = NULL;
    idf_err_clear(err);
    if (!owner || !owner->connection)
        return 0;
    if (!c)
        return idf_err_set(err, IDF_ESTATE, "%s actions need a connection, and none can be resolved here", owner->name);
    return cred_resolve(c, s, owner->name, name, conn_out, err);
}

/* node.c — node identity and the leases that give one node at a time a
 * poller or the schedule ticker (store_lease_take; docs/internals/engine.md,
 * "Node identity" and "One node at a time").
 *
 * A node id names the owner of a node's run leases ("<node_id>/w<N>"), and
 * at start a node puts back in the queue every run still leased under its
 * id (store_release_leases): the runs of its own earlier, dead process. Were
 * a second LIVE process started under the same id, that would hand the
 * first one's runs to another worker while they run. So the process first
 * takes the lease "node:<node_id>" for its own owner name
 * "<node_id>#<pid>@<random>" (two processes with one id differ there) and
 * releases run leases only once it holds it; a heartbeat thread renews it
 * every third of its ttl until engine_free drops it.
 *
 * Owner names: "<node_id>#<pid>.<start>.<seq>@<boot_id>:<pid namespace>",
 * where start is the process's start time (/proc/<pid>/stat, clock ticks
 * since boot) and seq numbers the engines of one process. A node restarted
 * after a crash on the same machine need not wait for its old lease to
 * expire: when the holder's boot id and pid namespace are ours and
 * /proc/<pid> is gone or is another process (another start time), the
 * holder is dead and its lease is dropped at once. Anything else (another
 * machine, another container, /proc unreadable) counts as alive until the
 * lease expires.
 *
 * Threads: engine__node_claim runs on engine_new's thread with e->store;
 * the heartbeat owns its store connection; engine__lease_take runs on the
 * poller's and the ticker's threads with theirs. lease_owner is written once
 * before any of those threads starts, then only read. node_stopping is
 * guarded by node_lock. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "engine/engine_internal.h"
#include "engine/engine_obj.h"
#include "store/store.h"

#define NODE_LEASE_NAME_MAX 300 /* bytes of "node:<id>" */
#define NODE_HOST_MAX 80        /* bytes of "<boot_id>:<pid namespace inode>" */
#define STORE_NAME_MAX_HINT 150 /* node id bytes that leave room for the rest of an owner name (256) */

/* Engines created in this process: the <seq> of an owner name. */
static atomic_uint engine_seq;

/* Reads a whole small file into out (n bytes), without a trailing newline. */
static bool read_small(const char *path, char *out, size_t n)
{
    FILE *fp = fopen(path, "r");
    size_t len;

    if (!fp)
        return false;
    len = fread(out, 1, n - 1, fp);
    fclose(fp);
    out[len] = '\0';
    while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
        out[--len] = '\0';
    return len > 0;
}

/* The start time of process pid (field 22 of /proc/<pid>/stat). 0 when it
 * is not running (no such file); -1 when it cannot be told. */
static long long proc_start(long pid)
{
    char path[64], buf[1024], *p;
    long long start = -1;

    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (!read_small(path, buf, sizeof buf))
        return errno == ENOENT ? 0 : -1;
    p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p)
        return -1;
    p++;
    for (int field = 3; field < 22 && p; field++) /* p is at the space before field `field` */
        p = strchr(p + 1, ' ');
    if (p && sscanf(p, " %lld", &start) != 1)
        start = -1;
    return start;
}

/* "<boot_id>:<pid namespace>" of this process into out (NODE_HOST_MAX
 * bytes), or a random text no other process shares when /proc cannot tell. */
static void host_ident(char *out)
{
    char boot[64] = "", ns[64] = "";
    ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);

    if (n > 0)
        ns[n] = '\0';
    if (n <= 0 || !read_small("/proc/sys/kernel/random/boot_id", boot, sizeof boot)) {
        unsigned char r[8] = {0};
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            memset(r, 0xa5, sizeof r);
        snprintf(out, NODE_HOST_MAX, "unknown-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5],
                 r[6], r[7]);
        return;
    }
    snprintf(out, NODE_HOST_MAX, "%s:%s", boot, ns);
}

/* Whether owner (a lease owner name of node e->node_id) is a process of this
 * machine and pid namespace that no longer runs. */
static bool owner_dead_here(const struct engine *e, const char *owner)
{
    char host[NODE_HOST_MAX];
    size_t idn = strlen(e->node_id);
    long pid = 0;
    long long start = 0, now_start;
    unsigned seq = 0;
    int used = 0;

    if (strncmp(owner, e->node_id, idn) != 0 || owner[idn] != '#')
        return false;
    if (sscanf(owner + idn + 1, "%ld.%lld.%u@%n", &pid, &start, &seq, &used) != 3 || used == 0 || pid <= 0)
        return false;
    host_ident(host);
    if (strcmp(owner + idn + 1 + used, host) != 0 || pid == (long)getpid())
        return false; /* another machine or container, or this very process: alive as far as we can tell */
    now_start = proc_start(pid);
    return now_start == 0 || (now_start > 0 && now_start != start);
}

static int64_t node_ttl(const struct engine *e)
{
    return e->opts.node_ttl_ms > 0 ? e->opts.node_ttl_ms : e->opts.lease_ms + ENGINE_NODE_TTL_MARGIN_MS;
}

int64_t engine__singleton_ttl(const struct engine *e)
{
    return e->opts.singleton_ttl_ms > 0 ? e->opts.singleton_ttl_ms : ENGINE_DEFAULT_SINGLETON_TTL_MS;
}

const char *engine__lease_owner(const struct engine *e)
{
    return e->lease_owner;
}

static void node_lease_name(const struct engine *e, char *out, size_t n)
{
    snprintf(out, n, "node:%s", e->node_id);
}

int engine__node_claim(struct engine *e, struct idf_err *err)
{
    char name[NODE_LEASE_NAME_MAX], until_iso[40], host[NODE_HOST_MAX];
    char *holder = NULL;
    int64_t until = 0;
    bool held = false;
    int rc;

    host_ident(host);
    snprintf(e->lease_owner, sizeof e->lease_owner, "%s#%ld.%lld.%u@%s", e->node_id, (long)getpid(),
             proc_start((long)getpid()), atomic_fetch_add(&engine_seq, 1), host);
    node_lease_name(e, name, sizeof name);
    rc = store_lease_take(e->store, name, e->lease_owner, time_now_ms(), node_ttl(e), &held, &holder);
    if (rc == 0 && !held && holder && owner_dead_here(e, holder)) {
        /* our own earlier process on this machine, gone (a crash): no need to wait for its lease */
        log_info("node: the earlier process of node %s on this machine is gone; taking over its lease", e->node_id);
        rc = store_lease_drop(e->store, name, holder);
        free(holder);
        holder = NULL;
        if (rc == 0)
            rc = store_lease_take(e->store, name, e->lease_owner, time_now_ms(), node_ttl(e), &held, &holder);
    }
    if (rc == IDF_EINVAL) {
        rc = idf_err_set(err, rc, "node id '%s' is too long for a lease owner name (at most about %d bytes)",
                         e->node_id, STORE_NAME_MAX_HINT);
        goto out;
    }
    if (rc) {
        rc = idf_err_set(err, rc, "cannot take the lease of node id '%s'", e->node_id);
        goto out;
    }
    if (!held) {
        if (store_lease_get(e->store, name, NULL, &until) != 0)
            until = 0;
        time_format_iso(until, until_iso, sizeof until_iso);
        rc = idf_err_set(err, IDF_EBUSY,
                         "node id %s is in use by a live node (held until %s by process %s); give each node its "
                         "own --node-id",
                         e->node_id, until_iso, holder ? holder : "?");
        goto out;
    }
    e->node_held = true;
out:
    free(holder);
    return rc;
}

static bool node_stopping(struct engine *e)
{
    bool v;
    pthread_mutex_lock(&e->node_lock);
    v = e->node_stopping;
    pthread_mutex_unlock(&e->node_lock);
    return v;
}

static void node_wait(struct engine *e, int64_t at)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(at / 1000);
    ts.tv_nsec = (long)(at % 1000) * 1000000L;
    pthread_mutex_lock(&e->node_lock);
    while (!e->node_stopping)
        if (pthread_cond_timedwait(&e->node_cond, &e->node_lock, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&e->node_lock);
}

/* The heartbeat: renews the node lease every third of its ttl. A renewal
 * that finds the lease taken by another process (this one stalled past the
 * ttl) is logged as an error: that process has released this node's runs,
 * whose commits here now fail on their own run leases. */
static void *node_main(void *arg)
{
    struct engine *e = arg;
    struct store *st = NULL;
    struct idf_err err;
    char name[NODE_LEASE_NAME_MAX];
    bool lost = false;

    node_lease_name(e, name, sizeof name);
    if (store_open(e->db_url, &st, &err)) {
        log_error("node: cannot open the store: %s; the lease of node id %s is not renewed", err.msg, e->node_id);
        return NULL;
    }
    while (!node_stopping(e)) {
        char *holder = NULL;
        bool held = false;
        int rc = store_lease_take(st, name, e->lease_owner, time_now_ms(), node_ttl(e), &held, &holder);
        if (rc)
            log_warn("node: cannot renew the lease of node id %s (store error %d)", e->node_id, rc);
        else if (!held && !lost) {
            log_error("node: node id %s was taken by another process (%s): this process stalled past its "
                      "lease; give each node its own --node-id",
                      e->node_id, holder ? holder : "?");
            lost = true;
        } else if (held)
            lost = false;
        free(holder);
        node_wait(e, time_now_ms() + node_ttl(e) / 3);
    }
    store_close(st);
    return NULL;
}

int engine__node_start(struct engine *e, struct idf_err *err)
{
    if (pthread_create(&e->node_thread, NULL, node_main, e) != 0)
        return idf_err_set(err, IDF_ENOMEM, "cannot start the node heartbeat thread");
    e->node_started = true;
    return 0;
}

void engine__node_stop(struct engine *e)
{
    char name[NODE_LEASE_NAME_MAX];

    pthread_mutex_lock(&e->node_lock);
    e->node_stopping = true;
    pthread_cond_broadcast(&e->node_cond);
    pthread_mutex_unlock(&e->node_lock);
    if (e->node_started)
        pthread_join(e->node_thread, NULL);
    e->node_started = false;
    if (e->node_held && e->store) {
        node_lease_name(e, name, sizeof name);
        if (store_lease_drop(e->store, name, e->lease_owner) != 0)
            log_warn("node: cannot drop the lease of node id %s (it expires by itself)", e->node_id);
        e->node_held = false;
    }
}

int engine__lease_take(struct engine *e, struct store *st, const char *name, bool *held_out)
{
    size_t idn = strlen(e->node_id);
    char *holder = NULL;
    int rc;

    rc = store_lease_take(st, name, e->lease_owner, time_now_ms(), engine__singleton_ttl(e), held_out, &holder);
    if (rc == 0 && !*held_out && holder && strncmp(holder, e->node_id, idn) == 0 && holder[idn] == '#' &&
        strcmp(holder, e->lease_owner) != 0) {
        /* an earlier process of this node id: dead, since we hold the node lease */
        log_info("node: taking over %s from an earlier process of node %s", name, e->node_id);
        if (store_lease_drop(st, name, holder) == 0)
            rc = store_lease_take(st, name, e->lease_owner, time_now_ms(), engine__singleton_ttl(e), held_out, NULL);
    }
    free(holder);
    return rc;
}

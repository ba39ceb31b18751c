/* thread.c — what an HTTP server thread keeps between the requests it
 * serves: its store connection and its cache of resolved connections, behind
 * ONE pthread key whose destructor closes both when the thread ends.
 *
 * Owns the only per-thread state of src/api/ (api.c and hooks.c borrow from
 * here); leaves the threads themselves to net/http_server.c (libmicrohttpd's
 * pool, whose threads end in http_server_stop). A thread opens its store
 * connection on the first request that needs one and keeps it until it
 * ends, so a server started and stopped any number of times leaves no
 * connection behind (tests/unit/test_api_thread.c counts them).
 *
 * Invariants of struct api__thread: it belongs to the thread whose key slot
 * holds it, and nothing else ever sees it; store is NULL or open on the
 * database of the `struct api` that created it (a thread serves one server);
 * conns is NULL or a cache over `store`'s rows. The master key the cache
 * unseals with is borrowed from the `struct api` (read-only, outlives the
 * server's threads). */
#include <pthread.h>
#include <stdlib.h>

#include "api/api_internal.h"
#include "credentials/credentials.h"
#include "store/store.h"

struct api__thread {
    struct store *store;             /* this thread's connection, or NULL before the first use */
    struct cred_cache *conns; /* this thread's resolved connections, or NULL before /hooks/ */
};

static pthread_key_t thread_key;                       /* written once, by key_init */
static pthread_once_t thread_once = PTHREAD_ONCE_INIT; /* guards thread_key's creation */
static int thread_key_rc;                              /* pthread_key_create's result, set once */

/* The key's destructor: runs on the thread that ends, with its own slot. */
static void thread_free(void *p)
{
    struct api__thread *t = p;

    if (!t)
        return;
    cred_cache_free(t->conns);
    store_close(t->store);
    free(t);
}

static void key_init(void)
{
    thread_key_rc = pthread_key_create(&thread_key, thread_free);
}

/* The calling thread's slot, created empty on first use; NULL when out of
 * memory (err set). */
static struct api__thread *self(struct idf_err *err)
{
    struct api__thread *t;

    pthread_once(&thread_once, key_init);
    if (thread_key_rc != 0) {
        idf_err_set(err, IDF_ENOMEM, "cannot create the HTTP threads' key");
        return NULL;
    }
    t = pthread_getspecific(thread_key);
    if (t)
        return t;
    t = calloc(1, sizeof *t);
    if (!t || pthread_setspecific(thread_key, t) != 0) {
        free(t);
        idf_err_set(err, IDF_ENOMEM, "out of memory");
        return NULL;
    }
    return t;
}

struct store *api__thread_store(struct api *a, struct idf_err *err)
{
    struct api__thread *t = self(err);

    if (!t)
        return NULL;
    if (!t->store && store_open(a->db_url, &t->store, err) != 0)
        t->store = NULL;
    return t->store;
}

struct cred_cache *api__thread_conns(struct api *a, struct idf_err *err)
{
    struct api__thread *t = self(err);

    if (!t)
        return NULL;
    if (!t->conns && cred_cache_new(a->key, CRED_RECHECK_MS, &t->conns) != 0) {
        t->conns = NULL;
        idf_err_set(err, IDF_ENOMEM, "cannot create a connection cache");
    }
    return t->conns;
}

/* budget.c — the HappyFox connector's process-wide pacing: per account, the
 * per-minute GET and POST budgets and the lock-out after a 429; and the
 * per-ticket lock table that serializes calls on one ticket across every run
 * of the process.
 *
 * A documented singleton: one table of accounts (keyed by the normalized
 * account URL, since HappyFox counts budgets per account, whatever the
 * connection or API key) and one table of held ticket locks, both behind
 * `mu`. Every worker thread calls in; no function blocks beyond the mutex
 * (callers turn a wait into a retryable failure: nobody sleeps).
 *
 * Pacing rule. HappyFox sends no rate-limit headers and locks the whole
 * account out for up to 10 minutes when a budget is exceeded, so the budget
 * is enforced here, before sending: a call may go when fewer than the
 * effective limit were sent in the last window. The effective limit keeps a
 * margin below the configured one (2%, at least 1) and the window is padded
 * (5%, 250 ms to 2 s) so that calls whose arrival is delayed (network,
 * scheduling) still never count against the server's window together with
 * calls sent a full window later. Calls sent are counted whatever their
 * outcome (HappyFox counts refused calls too). A 429 locks the account out
 * locally until its Retry-After: every call waits, since calls during the
 * lock-out extend it.
 *
 * Across nodes (a conn_coord, connectors/connector.h): several idflow
 * nodes sharing one database would each spend a whole budget, so when the
 * call carries a coord, a call the local ring admits must also be admitted
 * by the store's window of the account ("happyfox:<base>|GET" or "|POST",
 * the same effective limit and padded window), the authority for every
 * node; a call the store refuses gives its local slot back. The local ring
 * stays the first check: it costs no round trip and refuses what the store
 * would refuse anyway once this node alone spent the budget. A 429 blocks
 * both windows in the store too, so every node sits the lock-out out. A
 * store that fails refuses the call (HFC_STORE_RETRY_MS): a missed budget
 * costs a 10-minute lock-out, a wait costs a second.
 *
 * Invariants: for each account, ring.count <= ring.cap and the ring holds
 * the send times (monotonic ms) of the last `count` calls, oldest at `head`;
 * `holds` counts the ticket locks held on the account, and an account with
 * holds > 0 is never recycled. A ticket appears at most once in the lock
 * table. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/happyfox/happyfox_internal.h"
#include "core/log.h"
#include "core/timeutil.h"

struct ring {
    int64_t *at; /* send times, cap slots */
    int cap;     /* the effective limit the ring was sized for */
    int count;   /* entries used */
    int head;    /* index of the oldest entry */
};

struct account {
    char base[HFC_MAX_BASE]; /* "" = a free slot */
    int64_t last_used;       /* for recycling */
    int64_t locked_until;    /* 0, or no call before this (after a 429) */
    int holds;               /* ticket locks held on this account */
    struct ring get, post;
};

struct ticket_lock {
    bool used;
    int acct;       /* account slot */
    int64_t ticket; /* ticket number */
    int64_t since;  /* when it was taken */
    unsigned gen;   /* changes on every take, so a stale holder cannot release a taken-over lock */
};

/* The singleton tables, guarded by mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct account accounts[HFC_MAX_ACCOUNTS];
static struct ticket_lock locks[HFC_TICKET_LOCKS];
static unsigned lock_gen;

static int effective(int limit)
{
    int margin = limit / 50 > 1 ? limit / 50 : 1;
    return limit > 1 ? limit - margin : 1;
}

static int64_t padded(int64_t window_ms)
{
    int64_t pad = window_ms / 20;
    if (pad < 250)
        pad = 250;
    if (pad > 2000)
        pad = 2000;
    return window_ms + pad;
}

static void ring_free(struct ring *r)
{
    free(r->at);
    memset(r, 0, sizeof *r);
}

/* Sizes r for cap entries, keeping the newest ones. false on ENOMEM. */
static bool ring_resize(struct ring *r, int cap)
{
    int64_t *at = calloc((size_t)cap, sizeof *at);
    int keep = r->count < cap ? r->count : cap;

    if (!at)
        return false;
    for (int i = 0; i < keep; i++)
        at[i] = r->at[(r->head + r->count - keep + i) % r->cap];
    free(r->at);
    r->at = at;
    r->cap = cap;
    r->count = keep;
    r->head = 0;
    return true;
}

/* 0 and the call counted, or the wait in ms. */
static int64_t ring_take(struct ring *r, int limit, int64_t window_ms, int64_t now)
{
    int cap = effective(limit);
    int64_t win = padded(window_ms), oldest;

    if (r->cap != cap && !ring_resize(r, cap))
        return 0; /* out of memory: let the call through untracked */
    if (r->count < r->cap) {
        r->at[(r->head + r->count) % r->cap] = now;
        r->count++;
        return 0;
    }
    oldest = r->at[r->head];
    if (now - oldest >= win) {
        r->at[r->head] = now;
        r->head = (r->head + 1) % r->cap;
        return 0;
    }
    return oldest + win - now;
}

/* Gives back the newest entry of r (a call the store refused after the
 * ring had counted it). Entries are close in time, so which one goes does
 * not matter. */
static void ring_refund(struct ring *r)
{
    if (r->count > 0)
        r->count--;
}

int hfc__account_slot(const char *base)
{
    int free_slot = -1, lru = -1;

    pthread_mutex_lock(&mu);
    for (int i = 0; i < HFC_MAX_ACCOUNTS; i++) {
        if (accounts[i].base[0] && strcmp(accounts[i].base, base) == 0) {
            pthread_mutex_unlock(&mu);
            return i;
        }
        if (!accounts[i].base[0] && free_slot < 0)
            free_slot = i;
        if (accounts[i].base[0] && accounts[i].holds == 0 && accounts[i].locked_until == 0 &&
            (lru < 0 || accounts[i].last_used < accounts[lru].last_used))
            lru = i;
    }
    if (free_slot < 0 && lru >= 0) { /* recycle the least recently used idle account */
        ring_free(&accounts[lru].get);
        ring_free(&accounts[lru].post);
        memset(&accounts[lru], 0, sizeof accounts[lru]);
        free_slot = lru;
    }
    if (free_slot >= 0)
        snprintf(accounts[free_slot].base, sizeof accounts[free_slot].base, "%s", base);
    pthread_mutex_unlock(&mu);
    return free_slot;
}

int64_t hfc__budget_acquire(int acct, bool is_get, const struct hfc_limits *lim, int64_t now_ms)
{
    struct account *a;
    int64_t wait;

    if (acct < 0 || acct >= HFC_MAX_ACCOUNTS)
        return 0;
    pthread_mutex_lock(&mu);
    a = &accounts[acct];
    a->last_used = now_ms;
    if (a->locked_until && now_ms < a->locked_until) {
        wait = a->locked_until - now_ms;
    } else {
        a->locked_until = 0;
        wait = is_get ? ring_take(&a->get, lim->get_limit, lim->window_ms, now_ms)
                      : ring_take(&a->post, lim->post_limit, lim->window_ms, now_ms);
    }
    pthread_mutex_unlock(&mu);
    return wait > HFC_MAX_WAIT_MS ? HFC_MAX_WAIT_MS : wait;
}

void hfc__budget_lockout(int acct, int64_t until_ms)
{
    if (acct < 0 || acct >= HFC_MAX_ACCOUNTS)
        return;
    pthread_mutex_lock(&mu);
    if (until_ms > accounts[acct].locked_until)
        accounts[acct].locked_until = until_ms;
    pthread_mutex_unlock(&mu);
}

int hfc__ticket_try_lock(int acct, int64_t ticket, int64_t now_ms, unsigned *gen_out)
{
    int slot = -1, free_slot = -1;

    pthread_mutex_lock(&mu);
    for (int i = 0; i < HFC_TICKET_LOCKS; i++) {
        if (locks[i].used && locks[i].acct == acct && locks[i].ticket == ticket) {
            if (now_ms - locks[i].since >= HFC_TICKET_LOCK_STALE_MS) { /* leaked: take it over */
                locks[i].since = now_ms;
                locks[i].gen = ++lock_gen;
                *gen_out = locks[i].gen;
                slot = i;
            }
            goto out;
        }
        if (!locks[i].used && free_slot < 0)
            free_slot = i;
    }
    if (free_slot >= 0) {
        locks[free_slot] =
            (struct ticket_lock){.used = true, .acct = acct, .ticket = ticket, .since = now_ms, .gen = ++lock_gen};
        *gen_out = locks[free_slot].gen;
        if (acct >= 0 && acct < HFC_MAX_ACCOUNTS)
            accounts[acct].holds++;
        slot = free_slot;
    }
out:
    pthread_mutex_unlock(&mu);
    return slot;
}

void hfc__ticket_unlock(int slot, unsigned gen)
{
    if (slot < 0 || slot >= HFC_TICKET_LOCKS)
        return;
    pthread_mutex_lock(&mu);
    if (locks[slot].used && locks[slot].gen == gen) {
        int acct = locks[slot].acct;
        locks[slot].used = false;
        if (acct >= 0 && acct < HFC_MAX_ACCOUNTS && accounts[acct].holds > 0)
            accounts[acct].holds--;
    }
    pthread_mutex_unlock(&mu);
}

/* The store's name of an account's budget. */
static void budget_name(const char *base, bool is_get, char *out, size_t n)
{
    snprintf(out, n, "happyfox:%s|%s", base, is_get ? "GET" : "POST");
}

int64_t hfc__budget_take(const struct conn_coord *co, int acct, const char *base, bool is_get,
                         const struct hfc_limits *lim, int64_t now_ms)
{
    char name[HFC_MAX_BASE + 32];
    int64_t wait = hfc__budget_acquire(acct, is_get, lim, now_ms), shared = 0;
    int limit = is_get ? lim->get_limit : lim->post_limit;
    int rc;

    if (wait > 0 || !co)
        return wait;
    budget_name(base, is_get, name, sizeof name);
    rc = co->ops->budget_take(co->ctx, name, effective(limit), padded(lim->window_ms), &shared);
    if (rc == 0 && shared <= 0)
        return 0;
    if (acct >= 0 && acct < HFC_MAX_ACCOUNTS) { /* not sent: the local slot goes back */
        pthread_mutex_lock(&mu);
        ring_refund(is_get ? &accounts[acct].get : &accounts[acct].post);
        pthread_mutex_unlock(&mu);
    }
    if (rc) {
        log_warn("happyfox: the account's shared budget could not be read (the store failed, code %d); the call "
                 "waits %d ms rather than risk a lock-out",
                 rc, HFC_STORE_RETRY_MS);
        return HFC_STORE_RETRY_MS;
    }
    return shared > HFC_MAX_WAIT_MS ? HFC_MAX_WAIT_MS : shared;
}

void hfc__budget_lockout_all(const struct conn_coord *co, int acct, const char *base, int64_t for_ms)
{
    char name[HFC_MAX_BASE + 32];

    hfc__budget_lockout(acct, time_mono_ns() / 1000000 + for_ms);
    if (!co)
        return;
    for (int g = 0; g < 2; g++) {
        budget_name(base, g == 0, name, sizeof name);
        if (co->ops->budget_block(co->ctx, name, for_ms) != 0)
            log_warn("happyfox: could not record the account's lock-out for the other nodes (the store failed)");
    }
}

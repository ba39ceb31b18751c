/* bench/soak.c — does `idflow serve` stay flat in memory over a long run of
 * Okta hooks and HappyFox webhooks? (issue 20)
 *
 * One server, one database, BENCH_SOAK_RUNS (default 200,000) runs: Okta
 * event-hook deliveries of a user.account.lock (bench/hookload.h) at
 * concurrency BENCH_SOAK_CONC (8) start `okta.user_locked` → one
 * `http.request` posting a ticket to this program's loopback stub; beside
 * them, one thread creates a ticket in the sandbox's HappyFox and posts its
 * webhook, which idflow acknowledges, re-reads the ticket for (the expander
 * and the HappyFox ticket read) and starts `happyfox.ticket_created` → one
 * `set` step. The HappyFox share is what the account's budget allows
 * (HappyFox's 500 reads a minute, which idflow paces itself to).
 *
 * Prints the server's RSS (VmRSS) at every tenth of the runs and the change
 * from the RSS after the first tenth (20,000 runs by default) to the RSS at
 * the end: the bound is 10 %. Env: IDFLOW_BIN (set by make bench). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench.h"
#include "core/timeutil.h"
#include "hookload.h"
#include "net/http.h"
#include "support/testsrv.h"
#include "support/testutil.h"

#define MAX_CONC 32
#define HF_PER_SECOND 6 /* HappyFox webhooks a second: within the 500 reads a minute idflow paces to */

static const char *bin;
static atomic_int tickets; /* Okta runs' tickets the stub received */
static atomic_int hf_acked, hf_failed;
static atomic_bool stop_hf;

static bool stub(void *ud, const struct http_req *req, struct http_resp *resp)
{
    (void)ud;
    (void)req;
    atomic_fetch_add(&tickets, 1);
    bench_answer_ticket(resp);
    return true;
}

struct load {
    char url[200];
    int total;
    atomic_int next, errors;
};

static void *okta_thread(void *arg)
{
    struct load *l = arg;
    struct http_client *c = NULL;
    char body[4096];

    if (http_client_new(&c))
        return NULL;
    for (;;) {
        int i = atomic_fetch_add(&l->next, 1);
        if (i >= l->total)
            break;
        bench_okta_lock_delivery(body, sizeof body, 1, i);
        if (!bench_post_delivery(c, l->url, body))
            atomic_fetch_add(&l->errors, 1);
    }
    http_client_free(c);
    return NULL;
}

struct hf {
    char sb[200];   /* the sandbox */
    char hook[200]; /* idflow's /hooks/happyfox/hd */
};

/* Creates a ticket in the sandbox and posts its webhook, HF_PER_SECOND a
 * second, until stop_hf. */
static void *hf_thread(void *arg)
{
    struct hf *x = arg;
    char url[300], body[400];
    long status0 = 0;
    const char *api_h[] = {BENCH_HF_BASIC, "Content-Type: application/json", NULL};
    const char *hook_h[] = {"Content-Type: application/json", "X-Idflow-Secret: " BENCH_HF_SECRET, NULL};

    /* the tickets this thread creates are the sandbox's POSTs: lift its
     * budgets (idflow paces its own reads to HappyFox's 500 a minute anyway) */
    snprintf(url, sizeof url, "%s/_sandbox/happyfox/limits", x->sb);
    if (tu_http("POST", url, "{\"get_per_minute\":100000,\"post_per_minute\":100000}", NULL, &status0, NULL) ||
        status0 != 200)
        fprintf(stderr, "soak: could not lift the sandbox's HappyFox budgets (HTTP %ld)\n", status0);
    snprintf(url, sizeof url, "%s/api/1.1/json/tickets/", x->sb);
    for (int n = 0; !atomic_load(&stop_hf); n++) {
        char *out = NULL;
        long status = 0;
        json_t *t;
        long long id;
        struct timespec ts = {0, 1000000000 / HF_PER_SECOND};
        snprintf(body, sizeof body,
                 "{\"category\":1,\"subject\":\"soak ticket %d\",\"text\":\"locked out\",\"name\":\"Lin Chen\","
                 "\"email\":\"lin.%d@acme.test\"}",
                 n, n);
        if (tu_http("POST", url, body, api_h, &status, &out) || status != 200) {
            atomic_fetch_add(&hf_failed, 1);
            free(out);
            nanosleep(&ts, NULL);
            continue;
        }
        t = json_loads(out ? out : "", 0, NULL);
        id = (long long)json_integer_value(json_object_get(t, "id"));
        json_decref(t);
        free(out);
        snprintf(body, sizeof body, "{\"ticket_id\":%lld}", id);
        if (tu_http("POST", x->hook, body, hook_h, &status, NULL) || status != 200)
            atomic_fetch_add(&hf_failed, 1);
        else
            atomic_fetch_add(&hf_acked, 1);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(void)
{
    int total = bench_env_int("BENCH_SOAK_RUNS", 200000, 1000, 5000000),
        conc = bench_env_int("BENCH_SOAK_CONC", 8, 1, MAX_CONC);
    struct testsrv *ts;
    struct tu_proc sb, srv;
    struct load l;
    struct hf x;
    pthread_t t[MAX_CONC], hft;
    char *dir, db[600], wfdir[600], path[700], base[128], sburl[200];
    long rss[11];
    int64_t t0;
    int rc = 1;

    bin = getenv("IDFLOW_BIN");
    if (!bin) {
        fprintf(stderr, "IDFLOW_BIN must be set (make bench sets it)\n");
        return 1;
    }
    ts = testsrv_start();
    testsrv_set_handler(ts, stub, NULL);
    dir = tu_mktemp_dir();
    snprintf(db, sizeof db, "sqlite:%s/idflow.db", dir);
    snprintf(wfdir, sizeof wfdir, "%s/wf", dir);
    if (bench_lockout_workflow(wfdir, testsrv_url(ts))) {
        fprintf(stderr, "soak: cannot prepare %s\n", dir);
        goto out;
    }
    snprintf(path, sizeof path, "%s/hf.yaml", wfdir);
    if (tu_write_file(path, "name: hf-seen\non:\n  happyfox.ticket_created: {}\nsteps:\n"
                            "  - id: seen\n    do: set\n    with: {number: '${{ .event.ticket.number }}'}\n") ||
        bench_hook_setup(bin, dir, db, true, &sb, sburl, sizeof sburl)) {
        fprintf(stderr, "soak: cannot prepare %s\n", dir);
        goto out;
    }
    if (bench_serve_start(bin, db, wfdir, &srv, base, sizeof base)) {
        fprintf(stderr, "soak: idflow serve did not start\n");
        goto stop_sb;
    }
    memset(&l, 0, sizeof l);
    snprintf(l.url, sizeof l.url, "%s/hooks/okta/bench", base);
    l.total = total;
    snprintf(x.sb, sizeof x.sb, "%s", sburl);
    snprintf(x.hook, sizeof x.hook, "%s/hooks/happyfox/hd", base);
    rss[0] = bench_proc_status_kb(srv.pid, "VmRSS");
    t0 = time_mono_ns();
    pthread_create(&hft, NULL, hf_thread, &x);
    for (int i = 0; i < conc; i++)
        pthread_create(&t[i], NULL, okta_thread, &l);
    printf("soak: %d Okta runs at concurrency %d, HappyFox webhooks beside them; RSS of serve:\n", total, conc);
    printf("soak: %7d runs: %6.1f MB (idle)\n", 0, rss[0] / 1024.0);
    for (int k = 1; k <= 10; k++) {
        int want = (int)((long long)total * k / 10);
        while (atomic_load(&tickets) < want && atomic_load(&l.errors) < 100) {
            struct timespec ts2 = {0, 20 * 1000000};
            nanosleep(&ts2, NULL);
        }
        rss[k] = bench_proc_status_kb(srv.pid, "VmRSS");
        testsrv_reset(ts); /* the stub's own record of the requests */
        printf("soak: %7d runs: %6.1f MB (%d HappyFox webhooks acknowledged, %.0f s)\n", atomic_load(&tickets),
               rss[k] / 1024.0, atomic_load(&hf_acked), (time_mono_ns() - t0) / 1e9);
        fflush(stdout);
        if (atomic_load(&l.errors) >= 100) {
            fprintf(stderr, "soak: %d deliveries failed; stopping\n", atomic_load(&l.errors));
            break;
        }
    }
    for (int i = 0; i < conc; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop_hf, true);
    pthread_join(hft, NULL);
    if (atomic_load(&l.errors) < 100) {
        printf("soak: RSS after %d runs %.1f MB, after %d runs %.1f MB: %+.1f %% (bound: 10 %%); "
               "%d HappyFox webhooks acknowledged, %d failed; %d Okta deliveries failed\n",
               total / 10, rss[1] / 1024.0, total, rss[10] / 1024.0, 100.0 * (double)(rss[10] - rss[1]) / rss[1],
               atomic_load(&hf_acked), atomic_load(&hf_failed), atomic_load(&l.errors));
        rc = 0;
    }
    tu_kill(&srv, SIGTERM);
    tu_wait(&srv, 60000);
    tu_proc_cleanup(&srv);
stop_sb:
    tu_kill(&sb, SIGTERM);
    tu_wait(&sb, 10000);
    tu_proc_cleanup(&sb);
out:
    tu_rm_rf(dir);
    free(dir);
    testsrv_stop(ts);
    return rc;
}

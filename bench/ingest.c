/* bench/ingest.c — how fast `idflow serve` acknowledges Okta event-hook
 * deliveries (POST /hooks/okta/<connection>): each answer comes only after
 * the delivery's events and the runs they start are committed durably.
 *
 * Measures, at concurrency 32, deliveries of 1 and of 10 events (every event
 * a fresh user.account.lock that starts one workflow run): acknowledged
 * deliveries and events per second, and the p50 / p99 / max time to the
 * acknowledgement. Okta allows 400,000 hook events per org per day, about
 * 4.6 events/s on average; the figures show the margin against its 3-second
 * window. A sandbox is started only to pass `idflow connect`'s credential
 * check. Env: IDFLOW_BIN (set by make bench), BENCH_DELIVERIES (default
 * 10000 for single-event deliveries; a tenth of that for batches of 10). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timeutil.h"
#include "net/http.h"
#include "support/testutil.h"

#define CONC 32
#define TOKEN "sbx-0123456789-abcdefghij-TOKEN"
#define SECRET "bench-hook-secret-0123456789abcdef"
#define MAX_BATCH 10

static const char *bin;

struct load {
    char url[200];
    int total;     /* deliveries */
    int batch;     /* events per delivery */
    int run;       /* distinguishes the uuids of successive measurements */
    atomic_int next;
    atomic_int errors;
    int64_t *lat_us;
};

static void delivery(char *out, size_t n, int run, int i, int batch)
{
    size_t len = (size_t)snprintf(out, n, "{\"eventType\":\"com.okta.event_hook\",\"data\":{\"events\":[");
    for (int k = 0; k < batch; k++)
        len += (size_t)snprintf(out + len, n - len,
                                "%s{\"uuid\":\"bench-%d-%d-%d\",\"eventType\":\"user.account.lock\","
                                "\"published\":\"2026-01-01T00:00:00.000Z\",\"outcome\":{\"result\":\"FAILURE\","
                                "\"reason\":\"LOCKED_OUT\"},\"actor\":{\"id\":\"00ubench%07d\",\"type\":\"User\","
                                "\"alternateId\":\"user%d@acme.example\",\"displayName\":\"User\"},\"target\":null}",
                                k ? "," : "", run, i, k, i % 10000000, i);
    snprintf(out + len, n - len, "]}}");
}

static void *load_thread(void *arg)
{
    struct load *l = arg;
    struct http_client *c = NULL;
    const char *h[] = {"Content-Type: application/json", "Authorization: " SECRET, NULL};
    char *body = malloc(MAX_BATCH * 600 + 200);
    if (!body || http_client_new(&c)) {
        free(body);
        return NULL;
    }
    for (;;) {
        int i = atomic_fetch_add(&l->next, 1);
        struct http_request rq;
        struct http_response rs;
        struct idf_err err;
        int64_t t0;
        if (i >= l->total)
            break;
        delivery(body, MAX_BATCH * 600 + 200, l->run, i, l->batch);
        memset(&rq, 0, sizeof rq);
        rq.method = "POST";
        rq.url = l->url;
        rq.headers = h;
        rq.body = body;
        rq.body_len = strlen(body);
        rq.timeout_ms = 60000;
        t0 = time_mono_ns();
        if (http_client_do(c, &rq, &rs, &err) || rs.status != 200)
            atomic_fetch_add(&l->errors, 1);
        l->lat_us[i] = (time_mono_ns() - t0) / 1000;
        http_response_free(&rs);
    }
    http_client_free(c);
    free(body);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void measure(const char *base, int total, int batch, int run)
{
    pthread_t t[CONC];
    struct load l;
    int64_t t0;
    double secs;

    memset(&l, 0, sizeof l);
    snprintf(l.url, sizeof l.url, "%s/hooks/okta/bench", base);
    l.total = total;
    l.batch = batch;
    l.run = run;
    l.lat_us = calloc((size_t)total, sizeof(int64_t));
    t0 = time_mono_ns();
    for (int i = 0; i < CONC; i++)
        pthread_create(&t[i], NULL, load_thread, &l);
    for (int i = 0; i < CONC; i++)
        pthread_join(t[i], NULL);
    secs = (double)(time_mono_ns() - t0) / 1e9;
    qsort(l.lat_us, (size_t)total, sizeof(int64_t), cmp64);
    printf("ingest: %d-event deliveries, concurrency %d: %.0f deliveries/s (%.0f events/s), ack p50 %.1f ms, "
           "p99 %.1f ms, max %.1f ms, %d failed\n",
           batch, CONC, total / secs, (double)total * batch / secs, l.lat_us[total / 2] / 1000.0,
           l.lat_us[(size_t)total * 99 / 100] / 1000.0, l.lat_us[total - 1] / 1000.0, atomic_load(&l.errors));
    fflush(stdout);
    free(l.lat_us);
}

static bool sandbox_url(struct tu_proc *p, char *url, size_t n)
{
    char *err = tu_proc_stderr(p), *at = strstr(err, "\"url\":\"");
    bool ok = false;
    if (at) {
        char *end = strchr(at + 7, '"');
        if (end) {
            snprintf(url, n, "%.*s", (int)(end - at - 7), at + 7);
            ok = true;
        }
    }
    free(err);
    return ok;
}

int main(void)
{
    const char *n_env = getenv("BENCH_DELIVERIES");
    int total = n_env ? atoi(n_env) : 10000;
    struct tu_proc sb, srv;
    char *dir, db[600], wfdir[600], path[700], sburl[200] = "", listen[64], base[128], cmd[1500];
    int64_t deadline;

    bin = getenv("IDFLOW_BIN");
    if (!bin || total < 100) {
        fprintf(stderr, "IDFLOW_BIN must be set (make bench sets it); BENCH_DELIVERIES >= 100\n");
        return 1;
    }
    dir = tu_mktemp_dir();
    snprintf(db, sizeof db, "sqlite:%s/idflow.db", dir);
    snprintf(wfdir, sizeof wfdir, "%s/wf", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && printf %%s '%s' > '%s/tok' && printf %%s '%s' > '%s/hs' && "
                              "chmod 600 '%s/tok' '%s/hs'", wfdir, TOKEN, dir, SECRET, dir, dir, dir);
    snprintf(path, sizeof path, "%s/lock.yaml", wfdir);
    if (system(cmd) != 0 ||
        tu_write_file(path, "name: bench-lock\non:\n  okta.user_locked: {}\nsteps:\n  - id: s\n    do: set\n"
                            "    with: {login: '${{ .event.user.login }}'}\n")) {
        fprintf(stderr, "cannot prepare %s\n", dir);
        return 1;
    }
    {
        const char *argv[] = {bin, "sandbox", "--listen", "127.0.0.1:0", "--token", TOKEN, NULL};
        if (tu_spawn(argv, NULL, &sb))
            return 1;
        deadline = tu_now_ms() + 15000;
        while (!sandbox_url(&sb, sburl, sizeof sburl) && tu_now_ms() < deadline) {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    {
        char tok[700], hs[700];
        struct tu_proc c;
        snprintf(tok, sizeof tok, "%s/tok", dir);
        snprintf(hs, sizeof hs, "%s/hs", dir);
        const char *argv[] = {bin, "connect", "okta", "bench", "--url", sburl, "--sandbox", "--token-file", tok,
                              "--hook-secret-file", hs, "--db", db, NULL};
        if (!sburl[0] || tu_spawn(argv, NULL, &c) || tu_wait(&c, 30000) != 0) {
            fprintf(stderr, "idflow connect failed\n");
            return 1;
        }
        tu_proc_cleanup(&c);
    }
    tu_kill(&sb, SIGTERM);
    tu_wait(&sb, 10000);
    tu_proc_cleanup(&sb);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", tu_free_port());
    snprintf(base, sizeof base, "http://%s", listen);
    {
        const char *argv[] = {bin, "serve", "--db", db, "--listen", listen, "--workflows", wfdir, "--workers", "4",
                              NULL};
        const char *env[] = {"IDFLOW_LOG_LEVEL=warn", NULL};
        char url[200];
        snprintf(url, sizeof url, "%s/readyz", base);
        if (tu_spawn(argv, env, &srv) || tu_wait_http_ok(url, 60000)) {
            fprintf(stderr, "idflow serve did not start\n");
            return 1;
        }
    }
    measure(base, total, 1, 1);
    measure(base, total / 10, 10, 2);
    tu_kill(&srv, SIGTERM);
    tu_wait(&srv, 30000);
    tu_proc_cleanup(&srv);
    tu_rm_rf(dir);
    free(dir);
    return 0;
}

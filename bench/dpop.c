/* bench/dpop.c — what DPoP costs idflow per Okta call (issue 18).
 *
 *  1. One DPoP proof (crypto/dpop.c: ES256 sign, the public JWK, the ath):
 *     CPU microseconds per proof, over BENCH_DPOP_PROOFS proofs (default
 *     20,000).
 *  2. okta.get_user (one request) against an in-process sandbox: the
 *     calling thread's CPU (the connector's side: proof, curl, JSON; the
 *     sandbox's checks run on its own threads) and the wall time per call,
 *     with an API token (SSWS), an OAuth app with "Require DPoP" off
 *     (Bearer) and the same app with it on (DPoP), BENCH_DPOP_CALLS calls
 *     each (default 2,000), interleaved over BENCH_DPOP_ROUNDS rounds
 *     (default 5); the median round is printed.
 * Prints one line per figure. */
#define OKTA_FIXTURE_NO_CMOCKA 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "crypto/dpop.h"
#include "integration/okta_fixture.h"
#include "support/testutil.h"

#define MAX_ROUNDS 21
#define USER "{\"user\": \"james.okafor@acme.example\"}"

/* scopes: a different set per connection gives each its own cached token
 * (tokens are cached per org, app, scopes and key, not per connection) */
static json_t *oauth_conn(struct ofx *f, const char *name, const char *scopes)
{
    return ofx_oauth_conn(f, name, "0oa1idflowsvc0000001", "sandbox_service_ec.pem", "sandbox-ec-1", scopes);
}

/* calls okta.get_user n times on conn; CPU and wall microseconds per call */
static void run_calls(struct ofx *f, const json_t *conn, int n, double *cpu_us, double *wall_us)
{
    struct conn_result r;
    int64_t c0 = bench_cpu_us(RUSAGE_THREAD), w0 = tu_now_ms();
    for (int i = 0; i < n; i++) {
        if (ofx_act_conn(f, conn, "okta.get_user", 1, &r, USER) != 0) {
            fprintf(stderr, "get_user: %s\n", r.message);
            exit(1);
        }
        res_clear(&r);
    }
    *cpu_us = (double)(bench_cpu_us(RUSAGE_THREAD) - c0) / n;
    *wall_us = (double)(tu_now_ms() - w0) * 1000.0 / n;
}

int main(void)
{
    int proofs = bench_env_int("BENCH_DPOP_PROOFS", 20000, 100, 10000000);
    int calls = bench_env_int("BENCH_DPOP_CALLS", 2000, 10, 1000000);
    int rounds = bench_env_int("BENCH_DPOP_ROUNDS", 5, 1, MAX_ROUNDS);
    double proof_us[MAX_ROUNDS];

    for (int k = 0; k < rounds; k++) {
        EVP_PKEY *key = dpop_key_new();
        int64_t c0 = bench_cpu_us(RUSAGE_THREAD);
        for (int i = 0; i < proofs; i++) {
            char *p = dpop_proof(key, "GET", "https://acme.okta.com/api/v1/users/00u1?x=1", "nonce-1", "token");
            if (!p) {
                fprintf(stderr, "dpop_proof failed\n");
                return 1;
            }
            free(p);
        }
        proof_us[k] = (double)(bench_cpu_us(RUSAGE_THREAD) - c0) / proofs;
        EVP_PKEY_free(key);
    }
    printf("dpop_proof: %.1f us CPU per proof (median of %d rounds of %d)\n", bench_median(proof_us, rounds), rounds,
           proofs);

    struct sandbox_opts o = {.rate_limit = 100000000};
    struct ofx *f = ofx_start_opts(o);
    json_t *bearer = oauth_conn(f, "bench-bearer", "okta.users.read okta.users.manage"),
           *dpop = oauth_conn(f, "bench-dpop", "okta.users.read");
    const char *names[3] = {"API token (SSWS)", "OAuth, Bearer", "OAuth, DPoP"};
    double cpu[3][MAX_ROUNDS], wall[3][MAX_ROUNDS], dummy;

    f->raw = true;
    /* warm up: connections, the tokens (the Bearer one while the app does not require DPoP) */
    sbx_post(f, "/_sandbox/okta/apps/0oa1idflowsvc0000001/dpop", "{\"required\": false}");
    run_calls(f, bearer, 20, &dummy, &dummy);
    sbx_post(f, "/_sandbox/okta/apps/0oa1idflowsvc0000001/dpop", "{\"required\": true}");
    run_calls(f, dpop, 20, &dummy, &dummy);
    run_calls(f, f->conn, 20, &dummy, &dummy);
    for (int k = 0; k < rounds; k++) {
        const json_t *conns[3] = {f->conn, bearer, dpop};
        for (int m = 0; m < 3; m++)
            run_calls(f, conns[m], calls, &cpu[m][k], &wall[m][k]);
    }
    for (int m = 0; m < 3; m++)
        printf("okta.get_user, %-17s: %.1f us CPU, %.1f us wall per call (median of %d rounds of %d)\n", names[m],
               bench_median(cpu[m], rounds), bench_median(wall[m], rounds), rounds, calls);
    json_t *d = sbx(f, "GET", "/_sandbox/okta/dpop", NULL);
    printf("sandbox: %lld proofs accepted, %lld replays\n",
           (long long)json_integer_value(json_object_get(d, "proofs_accepted")),
           (long long)json_integer_value(json_object_get(d, "replays")));
    int bad = json_integer_value(json_object_get(d, "replays")) != 0;
    json_decref(d);
    json_decref(bearer);
    json_decref(dpop);
    ofx_stop(f);
    return bad;
}

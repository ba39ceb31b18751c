/* bench/expr.c — what isolating expression evaluation costs per call: the
 * same evaluations on an in-process context (expr_ctx_new) and on an
 * isolated one (expr_ctx_new_isolated: a round trip to the evaluator child
 * per call, JSON crossing as text both ways).
 *
 * Measures, on a ~500-byte run input (an Okta-like event plus a step
 * output): a 3-template `with:` rendered with expr_render, and a single
 * condition with expr_truthy. Each figure is the median over ROUNDS rounds
 * of the mean of N calls (programs compiled before timing starts), in µs
 * per call. Env: BENCH_EXPR_N (default 5000).
 *
 * This program is its own evaluator: main() hands "__expr-worker" to
 * expr_worker_main, as idflow's main does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expr/expr.h"

#define ROUNDS 7

static const char INPUT[] =
    "{\"event\": {\"id\": \"e-4b1f0c2a-7d7e-4a43-9d3c-2f0c6f3c9a11\", \"source\": \"okta\", \"type\": "
    "\"okta.user_locked\", \"time\": \"2026-03-01T12:00:00Z\", \"connection\": \"prod\", \"user\": {\"id\": "
    "\"00u1a2b3c4d5e6f7g8h9\", \"login\": \"ann.smith@example.com\", \"email\": \"ann.smith@example.com\", "
    "\"firstName\": \"Ann\", \"lastName\": \"Smith\", \"department\": \"Finance\"}, \"actor\": {\"id\": "
    "\"00u9z8y7x6w5v4u3t2s1\", \"type\": \"User\"}}, \"steps\": {\"lookup\": {\"status\": 200, \"id\": "
    "\"00u1a2b3c4d5e6f7g8h9\", \"groups\": [\"00g1\", \"00g2\", \"00g3\"], \"manager\": "
    "\"bob.jones@example.com\"}}, \"vars\": {\"desk\": \"IT\", \"priority\": 2}, \"workflow\": {\"name\": "
    "\"unlock\"}}";

static const char WITH[] = "{\"subject\": \"Account locked: ${{ .event.user.login }}\", \"user_id\": \"${{ "
                           ".steps.lookup.id }}\", \"priority\": \"${{ .vars.priority + 1 }}\"}";

static const char COND[] = ".event.user.department == \"Finance\"";

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over ROUNDS of the mean µs per expr_check of a cached program:
 * the round trip alone on an isolated context. */
static double measure_check(struct expr_ctx *ctx, int n)
{
    double per[ROUNDS];
    struct idf_err err;

    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_us();
        for (int i = 0; i < n; i++)
            if (expr_check(ctx, COND, &err)) {
                fprintf(stderr, "bench/expr: check failed: %s\n", err.msg);
                exit(1);
            }
        per[r] = (now_us() - t0) / n;
    }
    qsort(per, ROUNDS, sizeof per[0], cmp);
    return per[ROUNDS / 2];
}

/* Median over ROUNDS of the mean µs per call; exits on any failure. */
static double measure(struct expr_ctx *ctx, bool render, const json_t *tmpl, const json_t *in, int n)
{
    double per[ROUNDS];
    struct idf_err err;

    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_us();
        for (int i = 0; i < n; i++) {
            json_t *out = NULL;
            bool yes = false;
            int rc = render ? expr_render(ctx, tmpl, in, &out, &err) : expr_truthy(ctx, COND, in, &yes, &err);
            if (rc || (render ? !out : !yes)) {
                fprintf(stderr, "bench/expr: evaluation failed: %s\n", err.msg);
                exit(1);
            }
            json_decref(out);
        }
        per[r] = (now_us() - t0) / n;
    }
    qsort(per, ROUNDS, sizeof per[0], cmp);
    return per[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    struct expr_ctx *inproc = NULL, *iso = NULL;
    json_t *in, *tmpl;
    const char *ns = getenv("BENCH_EXPR_N");
    int n = ns ? atoi(ns) : 5000;
    double a, b, c, d, e, f;

    if (argc >= 2 && !strcmp(argv[1], "__expr-worker"))
        return expr_worker_main(argc - 1, argv + 1);
    if (n < 1)
        n = 5000;
    in = json_loads(INPUT, 0, NULL);
    tmpl = json_loads(WITH, 0, NULL);
    if (!in || !tmpl || expr_ctx_new(&inproc) || expr_ctx_new_isolated(NULL, &iso)) {
        fprintf(stderr, "bench/expr: setup failed\n");
        return 1;
    }
    /* compile everything first, on both */
    measure(inproc, true, tmpl, in, 1);
    measure(inproc, false, tmpl, in, 1);
    measure(iso, true, tmpl, in, 1);
    measure(iso, false, tmpl, in, 1);
    a = measure(inproc, true, tmpl, in, n);
    b = measure(iso, true, tmpl, in, n);
    c = measure(inproc, false, tmpl, in, n);
    d = measure(iso, false, tmpl, in, n);
    e = measure_check(inproc, n);
    f = measure_check(iso, n);
    printf("expression evaluation, %zu-byte input, median of %d rounds of %d calls (µs per call)\n", strlen(INPUT),
           ROUNDS, n);
    printf("  %-34s %10s %10s %10s\n", "", "in-process", "isolated", "overhead");
    printf("  %-34s %10.1f %10.1f %10.1f\n", "with: of 3 templates (expr_render)", a, b, b - a);
    printf("  %-34s %10.1f %10.1f %10.1f\n", "one condition (expr_truthy)", c, d, d - c);
    printf("  %-34s %10.1f %10.1f %10.1f\n", "cached compile check (expr_check)", e, f, f - e);
    expr_ctx_free(inproc);
    expr_ctx_free(iso);
    json_decref(in);
    json_decref(tmpl);
    return 0;
}

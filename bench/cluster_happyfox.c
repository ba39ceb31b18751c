/* bench/cluster_happyfox.c — what one and three `idflow serve` nodes do to
 * one HappyFox account's budget.
 *
 * The sandbox account allows BUDGET_POST POSTs and BUDGET_GET GETs a
 * WINDOW_S-second window (the real account: 300 and 500 a minute; the
 * window is shortened so the measurement takes seconds) and locks the
 * account out for LOCKOUT_S seconds on the first call over budget; the
 * connection is told the same budget. N_TICKETS tickets are made, then
 * their webhooks are POSTed to the nodes in turn; each starts a workflow
 * that adds a private note. Printed for one node, then for three: the
 * time until every note landed (or the deadline), the 429s in the
 * sandbox's call log, and the account's refusals. The budget is paced per
 * process (src/connectors/happyfox/budget.c), so three nodes may send up
 * to three budgets a window.
 *
 * Usage: cluster_happyfox (SQLite; IDFLOW_TEST_STORE_URL, a template as
 * tests/pg/run.sh sets it, for PostgreSQL). Env: IDFLOW_BIN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/cluster_fixture.h"
#include "support/serve_fixture.h"
#include "support/testutil.h"

#define HF_KEY "sandbox-hf-key"
#define HF_CODE "sandbox-hf-code"
#define HF_BASIC "Authorization: Basic c2FuZGJveC1oZi1rZXk6c2FuZGJveC1oZi1jb2Rl" /* key:code */
#define HF_SECRET "cluster-hf-secret-0123456789abcd"
#define N_TICKETS 120
#define BUDGET_POST "30"
#define BUDGET_GET "60"
#define WINDOW_S "2"
#define LOCKOUT_S 5
#define DEADLINE_MS 90000

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static json_t *post(const char *url, const char *const *h, const char *body, long *status)
{
    json_t *j = NULL;
    if (sfx_http_json("POST", url, body, h, status, &j))
        *status = -1;
    return j;
}

static int measure(int k)
{
    static const char *const env[] = {"IDFLOW_LOG_LEVEL=error", NULL};
    struct sfx f = {.secrets = {HF_SECRET, HF_CODE}, .serve_env = env};
    struct cfx_node nodes[3];
    long long tickets[N_TICKETS];
    char hs[500], url[400], body[600];
    const char *h[] = {HF_BASIC, "Content-Type: application/json", NULL};
    const char *hh[] = {"Content-Type: application/json", "X-Idflow-Secret: " HF_SECRET, NULL};
    int64_t t0, ms = -1;
    int done = 0, n429 = 0, rc = -1;
    long status;
    json_t *j;

    memset(nodes, 0, sizeof nodes);
    if (sfx_start(&f, NULL))
        goto out;
    snprintf(hs, sizeof hs, "%s/idflow.key", f.dir); /* the master key beside the fixture, whatever the database */
    setenv("IDFLOW_KEY_FILE", hs, 1);
    if (cfx_use_env_db(&f, k == 1 ? "hfb1" : "hfb3") < 0 ||
        sfx_write_secret(&f, "hs", HF_SECRET, hs, sizeof hs))
        goto out;
    if (sfx_write_wf(&f, "hf",
                     "name: hf-note\non:\n  happyfox.ticket_created: {}\nsteps:\n"
                     "  - id: note\n    do: happyfox.add_note\n"
                     "    with: {ticket: '${{ .event.ticket.number | tostring }}', text: 'noted', staff: '1'}\n"))
        goto out;
    {
        const char *cenv[] = {"HF_KEY=" HF_KEY, "HF_CODE=" HF_CODE, NULL};
        if (sfx_idflow(&f, cenv, NULL, "connect", "happyfox", "hd", "--url", f.sb, "--api-key-env", "HF_KEY",
                       "--auth-code-env", "HF_CODE", "--sandbox", "--hook-secret-file", hs, "--mode", "hook",
                       "--post-per-minute", BUDGET_POST, "--get-per-minute", BUDGET_GET, "--rate-window-seconds",
                       WINDOW_S, "--db", f.db, NULL) != 0)
            goto out;
    }
    for (int i = 0; i < N_TICKETS; i++) {
        snprintf(url, sizeof url, "%s/api/1.1/json/tickets/", f.sb);
        snprintf(
            body, sizeof body,
            "{\"category\":1,\"subject\":\"budget %d\",\"text\":\"t\",\"name\":\"Lin\",\"email\":\"l%d@acme.test\"}", i,
            i);
        j = post(url, h, body, &status);
        tickets[i] = (long long)json_integer_value(json_object_get(j, "id"));
        json_decref(j);
        if (status != 200)
            goto out;
    }
    /* the budget from now on (both windows start empty) */
    snprintf(url, sizeof url, "%s/_sandbox/happyfox/limits", f.sb);
    snprintf(body, sizeof body,
             "{\"post_per_minute\": " BUDGET_POST ", \"get_per_minute\": " BUDGET_GET ", \"window_seconds\": " WINDOW_S
             ", \"lockout_seconds\": %d}",
             LOCKOUT_S);
    json_decref(post(url, NULL, body, &status));
    if (status != 200)
        goto out;
    for (int i = 0; i < k; i++) {
        char id[16];
        snprintf(id, sizeof id, "node-%d", i + 1);
        if (cfx_node_start(&f, &nodes[i], id, 4, NULL))
            goto out;
    }
    t0 = tu_now_ms();
    for (int i = 0; i < N_TICKETS; i++) {
        snprintf(url, sizeof url, "%s/hooks/happyfox/hd", nodes[i % k].base);
        snprintf(body, sizeof body, "{\"ticket_id\":%lld}", tickets[i]);
        json_decref(post(url, hh, body, &status));
        if (status != 200)
            goto out;
    }
    while (tu_now_ms() - t0 < DEADLINE_MS) {
        done = cfx_count_runs(nodes[0].base, "hf-note", "succeeded");
        if (done >= N_TICKETS) {
            ms = tu_now_ms() - t0;
            break;
        }
        sleep_ms(100);
    }
    {
        json_t *calls = cfx_calls(f.sb, "/api/1.1/json/"), *c;
        size_t i;
        json_array_foreach (calls, i, c)
            n429 += json_integer_value(json_object_get(c, "status")) == 429;
        json_decref(calls);
    }
    printf("%d node(s): %d of %d notes in %s%.1f s, %d x 429 from the account (budget %s POST / %s GET a %s s "
           "window, told to every node)\n",
           k, done, N_TICKETS, ms < 0 ? "more than " : "", (ms < 0 ? DEADLINE_MS : ms) / 1000.0, n429, BUDGET_POST,
           BUDGET_GET, WINDOW_S);
    fflush(stdout);
    rc = 0;
out:
    for (int i = 0; i < 3; i++)
        cfx_node_stop(&f, &nodes[i]);
    sfx_stop(&f);
    if (rc)
        fprintf(stderr, "cluster_happyfox: the %d-node measurement could not run\n", k);
    return rc;
}

int main(void)
{
    if (measure(1) || measure(3))
        return 1;
    return 0;
}

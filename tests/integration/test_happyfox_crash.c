/* test_happyfox_crash.c — the duplicate-write guard under a real crash.
 *
 * HappyFox has no idempotency key: a ticket created by an attempt whose
 * answer never arrived must not be created again. The sandbox (in this
 * process) creates the ticket and holds the answer back; `idflow serve` is
 * killed with SIGKILL while it waits, so the step's outcome was never
 * recorded. After a restart the run resumes that step as an uncertain
 * attempt, finds the ticket by the run's marker, and the account ends with
 * exactly one ticket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sandbox/sandbox.h"
#include "support/testutil.h"

#define SUBJECT "Crash test: laptop request 7f3a"

static const char wf[] = "name: hf-create\n"
                         "on: manual\n"
                         "steps:\n"
                         "  - id: ticket\n"
                         "    do: happyfox.create_ticket\n"
                         "    with:\n"
                         "      category: IT Support\n"
                         "      subject: ${{ .event.data.subject }}\n"
                         "      text: Please send a laptop.\n"
                         "      email: requester@example.com\n"
                         "    retry: { max: 3, backoff: 100ms }\n";

static const char *bin;
static struct sandbox *sb;
static char *dir, db[400], wfdir[600], sbx[128], listen_addr[64], base[128];

static int spawn_serve(struct tu_proc *p)
{
    const char *argv[] = {bin, "serve", "--db", db, "--listen", listen_addr, "--workflows", wfdir,
                          "--workers", "2", "--node-id", "hf-crash", NULL};
    char url[200];
    if (tu_spawn(argv, NULL, p))
        return -1;
    snprintf(url, sizeof url, "%s/readyz", base);
    return tu_wait_http_ok(url, 15000);
}

/* Tickets in the sandbox whose subject is SUBJECT. */
static int tickets_with_subject(void)
{
    char url[200], *resp = NULL;
    long status = 0;
    json_t *st, *t;
    size_t i;
    int n = 0;
    snprintf(url, sizeof url, "%s/_sandbox/state", sbx);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    st = json_loads(resp, 0, NULL);
    free(resp);
    json_array_foreach(json_object_get(json_object_get(st, "happyfox"), "tickets"), i, t)
    {
        const char *s = json_string_value(json_object_get(t, "subject"));
        if (s && !strcmp(s, SUBJECT))
            n++;
    }
    json_decref(st);
    return n;
}

static bool ticket_exists(void *ud)
{
    (void)ud;
    return tickets_with_subject() > 0;
}

static void admin(const char *method, const char *path, const char *body)
{
    char url[300];
    long status = 0;
    snprintf(url, sizeof url, "%s%s", sbx, path);
    assert_int_equal(tu_http(method, url, body, NULL, &status, NULL), 0);
    assert_true(status >= 200 && status < 300);
}

static void kill_between_the_call_and_the_record_creates_one_ticket(void **state)
{
    struct sandbox_opts so;
    struct idf_err err;
    struct tu_proc serve;
    char path[700], body[300], *resp = NULL;
    long status = 0;
    int64_t run_id;
    json_t *r;
    (void)state;

    bin = getenv("IDFLOW_BIN");
    assert_non_null(bin);
    memset(&so, 0, sizeof so);
    assert_int_equal(sandbox_start(&so, &sb, &err), 0);
    snprintf(sbx, sizeof sbx, "http://127.0.0.1:%d", sandbox_port(sb));
    dir = tu_mktemp_dir();
    snprintf(db, sizeof db, "sqlite:%s/idflow.db", dir);
    snprintf(wfdir, sizeof wfdir, "%s/wf", dir);
    snprintf(path, sizeof path, "mkdir -p '%s'", wfdir);
    assert_int_equal(system(path), 0);
    snprintf(path, sizeof path, "%s/hf.yaml", wfdir);
    assert_int_equal(tu_write_file(path, wf), 0);
    {
        struct tu_proc c;
        const char *argv[] = {bin, "connect", "happyfox", "helpdesk", "--url", sbx, "--api-key-env", "HF_KEY",
                              "--auth-code-env", "HF_CODE", "--sandbox", "--db", db, NULL};
        const char *env[] = {"HF_KEY=sandbox-hf-key", "HF_CODE=sandbox-hf-code", NULL};
        assert_int_equal(tu_spawn(argv, env, &c), 0);
        if (tu_wait(&c, 20000) != 0) {
            char *e = tu_proc_stderr(&c);
            fail_msg("connect failed: %s", e);
        }
        tu_proc_cleanup(&c);
    }
    snprintf(listen_addr, sizeof listen_addr, "127.0.0.1:%d", tu_free_port());
    snprintf(base, sizeof base, "http://%s", listen_addr);
    assert_int_equal(spawn_serve(&serve), 0);

    /* the sandbox creates tickets but holds every answer back for 30 s */
    admin("POST", "/_sandbox/faults", "{\"path\":\"/api/1.1/json/tickets/\",\"method\":\"POST\",\"latency_ms\":30000}");
    {
        char url[200];
        snprintf(url, sizeof url, "%s/api/v1/events", base);
        snprintf(body, sizeof body, "{\"workflow\":\"hf-create\",\"data\":{\"subject\":\"%s\"}}", SUBJECT);
        assert_int_equal(tu_http("POST", url, body, NULL, &status, &resp), 0);
        assert_int_equal(status, 202);
        r = json_loads(resp, 0, NULL);
        free(resp);
        run_id = json_integer_value(json_array_get(json_object_get(r, "run_ids"), 0));
        json_decref(r);
    }
    /* the ticket exists in HappyFox; idflow is still waiting for the answer */
    assert_true(tu_wait_until(ticket_exists, NULL, 20000));
    tu_kill(&serve, SIGKILL);
    assert_int_equal(tu_wait(&serve, 10000), 128 + SIGKILL);
    tu_proc_cleanup(&serve);
    admin("DELETE", "/_sandbox/faults", NULL);
    assert_int_equal(tickets_with_subject(), 1);

    /* restart: the run resumes the unrecorded step and must not create a second ticket */
    assert_int_equal(spawn_serve(&serve), 0);
    {
        int64_t deadline = tu_now_ms() + 30000;
        const char *st = NULL;
        char url[200];
        snprintf(url, sizeof url, "%s/api/v1/runs/%lld", base, (long long)run_id);
        for (;;) {
            assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
            r = json_loads(resp, 0, NULL);
            free(resp);
            st = json_string_value(json_object_get(r, "status"));
            if (!strcmp(st, "succeeded") || !strcmp(st, "failed"))
                break;
            json_decref(r);
            assert_true(tu_now_ms() < deadline);
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
        assert_string_equal(st, "succeeded");
        /* the step found the earlier attempt's ticket instead of making one */
        {
            json_t *steps = json_object_get(r, "steps");
            json_t *last = json_array_get(steps, json_array_size(steps) - 1);
            assert_true(json_is_false(json_object_get(json_object_get(last, "output"), "changed")));
        }
        json_decref(r);
    }
    assert_int_equal(tickets_with_subject(), 1);

    tu_kill(&serve, SIGTERM);
    assert_int_equal(tu_wait(&serve, 15000), 0); /* clean exit (under ASan: no report) */
    tu_proc_cleanup(&serve);
    sandbox_stop(sb);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill_between_the_call_and_the_record_creates_one_ticket),
    };
    return cmocka_run_group_tests_name("happyfox_crash", tests, NULL, NULL);
}

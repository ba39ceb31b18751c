/* test_happyfox_limits.c — the HappyFox connector under load and faults,
 * against a real sandbox: budget pacing (a burst of 1,000 ticket updates
 * from 4 threads finishes without one 429), per-ticket serialization
 * (concurrent calls on one ticket never overlap: no 409 reaches the sandbox
 * and every note lands exactly once), HappyFox's own 409 and 429 answers
 * (retryable; a 429 stops every call of the account until Retry-After), and
 * network failures, and a server echoing the credential in its errors (never
 * quoted, not even in part). The sandbox's budget window is shortened (1 s instead
 * of 60 s) so the burst takes seconds; the connection is told the same. */
#include <pthread.h>

#include "integration/happyfox_fixture.h"
#include "support/testsrv.h"

static int setup(void **state)
{
    *state = hfx_start();
    return 0;
}

static int teardown(void **state)
{
    hfx_stop(*state);
    return 0;
}

static json_t *limits(struct hfx *f)
{
    return hfx_sbx(f, "GET", "/_sandbox/happyfox/limits", NULL);
}

/* Creates n IT Support tickets; their numbers into out. */
static void make_tickets(struct hfx *f, int n, int64_t *out)
{
    struct conn_result r;
    for (int i = 0; i < n; i++) {
        HFX_MUST(hfx_actf(f, "happyfox.create_ticket", &r,
                          "{\"category\": \"IT Support\", \"subject\": \"Load %d\", \"text\": \"x\", \"email\": "
                          "\"load@acme.example\"}",
                          i),
                 r);
        out[i] = json_integer_value(json_object_get(r.output, "number"));
        hfx_clear(&r);
    }
}

/* Notes with private message type across all tickets. */
static int count_notes(struct hfx *f)
{
    json_t *all = hfx_tickets(f), *t, *u;
    size_t i, j;
    int n = 0;

    json_array_foreach (all, i, t) {
        json_array_foreach (json_object_get(t, "updates"), j, u) {
            const char *mt = json_string_value(json_object_get(json_object_get(u, "message"), "message_type"));
            n += mt && strcmp(mt, "p") == 0;
        }
    }
    json_decref(all);
    return n;
}

/* ------------------------------------------------------------ workers */

struct worker {
    struct hfx *f;
    const json_t *conn;
    int id;    /* 0.. */
    int calls; /* notes to add */
    const int64_t *tickets;
    int n_tickets;
    int failed; /* calls that failed */
    int waits;  /* pacing / busy waits sat out */
    char problem[HFX_PROBLEM];
    char last_error[256];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct http_client *http = NULL;
    char params[256], problem[HFX_PROBLEM];

    if (http_client_new(&http) != 0) {
        snprintf(w->problem, sizeof w->problem, "http_client_new failed");
        return NULL;
    }
    for (int i = 0; i < w->calls; i++) {
        struct conn_result r;
        struct hfx_call c = {.http = http, .conn = w->conn, .run_id = 1000 + w->id, .step = "note", .item = i};
        int64_t ticket = w->tickets[(w->id * w->calls + i) % w->n_tickets];
        int rc;

        snprintf(params, sizeof params, "{\"ticket\": %lld, \"text\": \"worker %d note %d\"}", (long long)ticket, w->id,
                 i);
        rc = hfx_run(w->f, &c, "happyfox.add_note", &r, params, problem);
        w->waits += c.waits;
        if (problem[0] && !w->problem[0])
            snprintf(w->problem, sizeof w->problem, "%s", problem);
        if (rc) {
            w->failed++;
            snprintf(w->last_error, sizeof w->last_error, "%s", r.message);
        }
        hfx_clear(&r);
    }
    http_client_free(http);
    return NULL;
}

static void run_workers(struct hfx *f, const json_t *conn, int n_threads, int calls, const int64_t *tickets,
                        int n_tickets, int *waits_out)
{
    pthread_t th[8];
    struct worker w[8];

    assert_true(n_threads <= 8);
    *waits_out = 0;
    for (int i = 0; i < n_threads; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i] =
            (struct worker){.f = f, .conn = conn, .id = i, .calls = calls, .tickets = tickets, .n_tickets = n_tickets};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < n_threads; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < n_threads; i++) {
        if (w[i].problem[0])
            fail_msg("worker %d: %s", i, w[i].problem);
        if (w[i].failed)
            fail_msg("worker %d: %d calls failed, last: %s", i, w[i].failed, w[i].last_error);
        *waits_out += w[i].waits;
    }
}

/* ------------------------------------------------------------ budgets */

static void test_burst_paced_without_429(void **state)
{
    struct hfx *f = *state;
    json_t *conn = json_deep_copy(f->conn), *lim;
    int64_t tickets[20];
    int64_t t0, ms;
    int waits;
    const int threads = 4, per_thread = 250;

    /* the account: 100 POST and 150 GET a 1-second window; a lock-out would last 30 s */
    hfx_sbx_post(f, "/_sandbox/happyfox/limits",
                 "{\"post_per_minute\": 100, \"get_per_minute\": 150, \"window_seconds\": 1, \"lockout_seconds\": 30}");
    json_object_set_new(conn, "post_per_minute", json_integer(100));
    json_object_set_new(conn, "get_per_minute", json_integer(150));
    json_object_set_new(conn, "rate_window_seconds", json_real(1));
    json_decref(f->conn);
    f->conn = conn; /* the fixture's calls (make_tickets) use it too */
    make_tickets(f, 20, tickets);

    t0 = tu_now_ms();
    run_workers(f, conn, threads, per_thread, tickets, 20, &waits);
    ms = tu_now_ms() - t0;

    lim = limits(f);
    assert_int_equal(json_integer_value(json_object_get(lim, "refused_429")), 0);
    assert_false(json_is_true(json_object_get(lim, "locked_out")));
    json_decref(lim);
    assert_int_equal(hfx_count_calls(f, NULL, "/api/1.1/json/", 429), 0);
    assert_int_equal(hfx_count_calls(f, "POST", "/staff_pvtnote", 200), threads * per_thread);
    assert_int_equal(count_notes(f), threads * per_thread); /* every note landed exactly once */
    assert_true(waits > 0);                                 /* the budget, not luck, paced the burst */
    /* 1,000 POSTs at (100 - 2%) per padded 1.25 s window: at least ~12 s */
    assert_true(ms >= 9000);
    print_message("# burst: %d notes from %d threads in %lld ms, %d pacing/busy waits, 0 x 429\n", threads * per_thread,
                  threads, (long long)ms, waits);
}

/* The account answers 429 anyway (the connection was told a larger budget
 * than the account's): retryable with Retry-After, and no call of the
 * account goes out until then — GETs included. */
static void test_429_locks_the_account_out(void **state)
{
    struct hfx *f = *state;
    json_t *conn = json_deep_copy(f->conn);
    struct hfx_call c = {.item = -1, .raw = true};
    struct conn_result r;
    int64_t t0;
    int before, rc;

    hfx_sbx_post(f, "/_sandbox/happyfox/limits",
                 "{\"post_per_minute\": 2, \"window_seconds\": 60, \"lockout_seconds\": 2, \"lockout_extends\": "
                 "false}");
    json_object_set_new(conn, "post_per_minute", json_integer(1000));
    c.conn = conn;
    for (int i = 0; i < 2; i++) {
        c.item = i;
        HFX_MUST(hfx_callf(f, &c, "happyfox.add_note", &r, "{\"ticket\": 1, \"text\": \"n%d\"}", i), r);
        hfx_clear(&r);
    }
    c.item = 2;
    assert_int_equal(hfx_callf(f, &c, "happyfox.add_note", &r, "{\"ticket\": 1, \"text\": \"n2\"}"), IDF_EBUSY);
    assert_true(r.retryable);
    assert_int_equal(json_integer_value(json_object_get(r.detail, "http_status")), 429);
    assert_int_equal(r.retry_after_ms, 2000); /* Retry-After: 2 */
    hfx_has(r.message, "locked out");
    hfx_clear(&r);

    /* locally locked out: nothing is sent, a GET neither */
    before = hfx_count_calls(f, NULL, "/api/1.1/json/", -1);
    assert_int_equal(hfx_callf(f, &c, "happyfox.get_ticket", &r, "{\"ticket\": 1}"), IDF_EBUSY);
    assert_true(r.retryable);
    assert_true(json_is_true(json_object_get(r.detail, "rate_limited")));
    assert_true(json_is_false(json_object_get(r.detail, "sent")));
    assert_true(r.retry_after_ms > 0 && r.retry_after_ms <= 2000);
    hfx_clear(&r);
    assert_int_equal(hfx_count_calls(f, NULL, "/api/1.1/json/", -1), before);

    /* after the lock-out the calls go again (the engine would wait retry_after_ms) */
    t0 = tu_now_ms();
    c.raw = false;
    rc = hfx_callf(f, &c, "happyfox.get_ticket", &r, "{\"ticket\": 1}");
    HFX_MUST(rc, r);
    hfx_clear(&r);
    assert_true(tu_now_ms() - t0 >= 1000);
    assert_int_equal(hfx_count_updates(f, 1, "n2"), 0);
    json_decref(conn);
}

/* ------------------------------------------------------------ tickets */

static void test_one_ticket_serialized(void **state)
{
    struct hfx *f = *state;
    json_t *lim;
    int64_t ticket = 1;
    int waits;
    const int threads = 4, per_thread = 10;

    /* every call on a ticket stays in flight 60 ms; an overlapping call gets 409 */
    hfx_sbx_post(f, "/_sandbox/happyfox/limits", "{\"ticket_busy_ms\": 60}");
    run_workers(f, f->conn, threads, per_thread, &ticket, 1, &waits);

    lim = limits(f);
    assert_int_equal(json_integer_value(json_object_get(lim, "refused_409")), 0);
    json_decref(lim);
    assert_int_equal(hfx_count_calls(f, NULL, "/ticket/1/", 409), 0);
    assert_true(waits > 0); /* the threads did meet on the ticket */
    for (int w = 0; w < threads; w++) {
        for (int i = 0; i < per_thread; i++) {
            char marker[64];
            snprintf(marker, sizeof marker, "idflow-marker:idflow-r%d-note-i%d:", 1000 + w, i);
            assert_int_equal(hfx_count_updates(f, 1, marker), 1);
        }
    }
    print_message("# one ticket: %d notes from %d threads, %d busy waits, 0 x 409\n", threads * per_thread, threads,
                  waits);
}

struct holder {
    struct hfx *f;
    long status;
};

static void *hold_ticket(void *arg)
{
    struct holder *h = arg;
    struct http_client *http = NULL;

    if (http_client_new(&http) == 0) {
        json_decref(hfx_http(h->f, http, "GET", "/api/1.1/json/ticket/1/", NULL, true, &h->status));
        http_client_free(http);
    }
    return NULL;
}

static bool ticket1_busy(void *ud)
{
    json_t *lim = limits(ud);
    bool busy = json_array_size(json_object_get(lim, "busy_tickets")) > 0;
    json_decref(lim);
    return busy;
}

/* Another client (not idflow) is on the ticket: HappyFox's 409 is retryable
 * and changes nothing. */
static void test_remote_409_is_retryable(void **state)
{
    struct hfx *f = *state;
    struct holder h = {.f = f};
    struct hfx_call c = {.item = -1, .raw = true};
    struct conn_result r;
    pthread_t th;
    json_t *t;

    /* warm the status cache, so the only call below is the ticket's */
    HFX_MUST(hfx_actf(f, "happyfox.set_status", &r, "{\"ticket\": 1, \"status\": \"New\"}"), r);
    hfx_clear(&r);
    hfx_sbx_post(f, "/_sandbox/happyfox/limits", "{\"ticket_busy_ms\": 1500}");
    assert_int_equal(pthread_create(&th, NULL, hold_ticket, &h), 0);
    assert_true(tu_wait_until(ticket1_busy, f, 5000));
    assert_int_equal(hfx_callf(f, &c, "happyfox.set_status", &r, "{\"ticket\": 1, \"status\": \"Open\"}"), IDF_EBUSY);
    assert_true(r.retryable);
    assert_int_equal(r.retry_after_ms, 1000);
    assert_int_equal(json_integer_value(json_object_get(r.detail, "http_status")), 409);
    hfx_has(r.message, "in progress");
    hfx_clear(&r);
    pthread_join(th, NULL);
    assert_int_equal(h.status, 200);
    t = hfx_ticket(f, 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "status"), "name")), "New");
    json_decref(t);
}

/* ------------------------------------------------------------ network */

static void test_network_failure(void **state)
{
    struct hfx *f = *state;
    json_t *conn = json_deep_copy(f->conn);
    struct hfx_call c = {.item = -1};
    struct conn_result r;
    char url[64];

    snprintf(url, sizeof url, "http://127.0.0.1:%d", tu_free_port());
    json_object_set_new(conn, "url", json_string(url));
    json_object_set_new(conn, "name", json_string("hf-closed-port"));
    c.conn = conn;
    assert_int_equal(hfx_callf(f, &c, "happyfox.get_ticket", &r, "{\"ticket\": 1}"), IDF_EIO);
    assert_true(r.retryable);
    assert_true(json_is_true(json_object_get(r.detail, "network_error")));
    assert_true(json_is_false(json_object_get(r.detail, "outcome_unknown"))); /* a GET */
    hfx_clear(&r);
    json_decref(conn);

    /* no connection at all */
    c.conn = NULL;
    {
        const struct conn_action *a = registry_find_action(registry_default(), "happyfox.get_ticket");
        json_t *p = json_pack("{s:i}", "ticket", 1);
        struct conn_call call = {.http = f->http, .item = -1, .attempt = 1};
        memset(&r, 0, sizeof r);
        assert_int_equal(a->fn(&call, p, &r), IDF_EINVAL);
        hfx_has(r.message, "no HappyFox connection");
        hfx_clear(&r);
        json_decref(p);
    }
}

/* ------------------------------------------------------------ credentials */

/* A server that echoes the request's credential back in its errors, as a
 * misbehaving proxy could: mode and pad are set by the test before each call
 * (the request orders the write before the read). */
struct echo {
    int mode; /* ECHO_* */
    int pad;  /* 'x' characters before the echoed credential */
};

enum { ECHO_JSON_400, ECHO_TEXT_500, ECHO_TEXT_PADDED, ECHO_JSON_PADDED };
#define ECHO_PAD_MAX 1200 /* beyond every length cap of a step's message */

static bool echo_credential(void *ud, const struct http_req *req, struct http_resp *resp)
{
    const struct echo *e = ud;
    const char *auth = http_req_header(req, "Authorization");
    char pad[ECHO_PAD_MAX + 1], text[ECHO_PAD_MAX + 600];

    if (!auth || e->pad < 0 || e->pad > ECHO_PAD_MAX)
        return false;
    memset(pad, 'x', (size_t)e->pad);
    pad[e->pad] = '\0';
    switch (e->mode) {
    case ECHO_JSON_400:
        snprintf(text, sizeof text, "Authorization: %s is not valid", auth);
        http_resp_json(resp, 400, json_pack("{s:s}", "error", text));
        break;
    case ECHO_TEXT_500:
        snprintf(text, sizeof text, "upstream failed for Authorization: %s", auth);
        http_resp_text(resp, 500, "text/plain", text);
        break;
    case ECHO_TEXT_PADDED:
        snprintf(text, sizeof text, "%s%s", pad, auth + strlen("Basic "));
        http_resp_text(resp, 500, "text/plain", text);
        break;
    default:
        snprintf(text, sizeof text, "%s%s", pad, auth + strlen("Basic "));
        http_resp_json(resp, 400, json_pack("{s:s}", "error", text));
        break;
    }
    return true;
}

/* No piece of the credential (the first or last 12 characters of the
 * base64 sent, of the key, of the code) in s. */
static void no_credential_part(const struct hfx *f, const char *what, const char *s)
{
    const char *creds[] = {f->b64, HFX_KEY, HFX_CODE, NULL};

    for (int i = 0; s && creds[i]; i++) {
        size_t n = strlen(creds[i]);
        char head[13], tail[13];
        snprintf(head, sizeof head, "%s", creds[i]);
        snprintf(tail, sizeof tail, "%s", creds[i] + n - 12);
        if (strstr(s, head) || strstr(s, tail))
            fail_msg("%s contains a piece of a credential: %s", what, s);
    }
}

static void no_credential_part_json(const struct hfx *f, const char *what, const json_t *v)
{
    char *d = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    no_credential_part(f, what, d);
    free(d);
}

/* The server echoes the credential in its error answers: the step's
 * message and detail never carry it, whole or cut by a length cap. */
static void test_credential_echoed_by_server_is_masked(void **state)
{
    struct hfx *f = *state;
    struct testsrv *srv = testsrv_start();
    json_t *conn = json_deep_copy(f->conn), *req;
    struct hfx_call c = {.item = -1, .raw = true};
    struct echo e = {0};
    struct conn_result r;
    char want[200];

    json_object_set_new(conn, "url", json_string(testsrv_url(srv)));
    json_object_set_new(conn, "name", json_string("hf-echo"));
    c.conn = conn;
    testsrv_set_handler(srv, echo_credential, &e);

    /* 400 with the credential in the JSON error */
    e.mode = ECHO_JSON_400;
    assert_int_equal(hfx_callf(f, &c, "happyfox.get_ticket", &r, "{\"ticket\": 1}"), IDF_EINVAL);
    req = testsrv_request(srv, NULL, -1);
    snprintf(want, sizeof want, "Basic %s", f->b64);
    assert_string_equal(testsrv_req_header(req, "authorization"), want); /* it had it to echo */
    json_decref(req);
    hfx_has(r.message, "HTTP 400");
    no_credential_part(f, "message", r.message);
    no_credential_part_json(f, "detail", r.detail);
    hfx_clear(&r);

    /* 500 with the credential in a text body */
    e.mode = ECHO_TEXT_500;
    assert_int_equal(hfx_callf(f, &c, "happyfox.get_ticket", &r, "{\"ticket\": 1}"), IDF_EREMOTE);
    hfx_has(r.message, "HTTP 500: upstream failed");
    no_credential_part(f, "message", r.message);
    no_credential_part_json(f, "detail", r.detail);
    hfx_clear(&r);

    /* Padded so that a length cap (the quoted body, the error text, the
     * message) cuts the credential: the part that fits is not left in clear
     * either. The pad grows in steps shorter than half the credential, so
     * whatever the caps are, some call cuts it with 12 characters kept. */
    for (e.mode = ECHO_TEXT_PADDED; e.mode <= ECHO_JSON_PADDED; e.mode++) {
        int cut = 0;
        for (e.pad = 12; e.pad <= ECHO_PAD_MAX; e.pad += 12) {
            const char *after;
            size_t masked;
            assert_true(hfx_callf(f, &c, "happyfox.get_ticket", &r, "{\"ticket\": 1}") < 0);
            no_credential_part(f, "message", r.message);
            no_credential_part_json(f, "detail", r.detail);
            after = strrchr(r.message, 'x');
            masked = after ? strspn(after + 1, "*") : 0;
            if (masked > 0 && masked < strlen(f->b64))
                cut++;
            hfx_clear(&r);
        }
        assert_true(cut > 0); /* some calls did cut the credential */
    }

    json_decref(conn);
    testsrv_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_burst_paced_without_429, setup, teardown),
        cmocka_unit_test_setup_teardown(test_429_locks_the_account_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_ticket_serialized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_409_is_retryable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_network_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credential_echoed_by_server_is_masked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* happyfox_fixture.h — helpers for the HappyFox connector tests
 * (test_happyfox*.c).
 *
 * A fixture is a real sandbox on 127.0.0.1:0 seeded with the default seed
 * (Acme's five categories, statuses, priorities, agents and the onboarding
 * custom fields) plus known API credentials and one seeded ticket (#1, "IT
 * Support"), an http_client, and a connection object pointing at it with
 * "sandbox": true under a name unique to the fixture (so the process-wide
 * reference cache starts fresh; the budget is per account URL, i.e. per
 * sandbox port). hfx_run() calls an action's fn exactly as the engine does
 * (parameters checked against the descriptors first), sits out pacing and
 * ticket-busy waits the way the engine would (unless raw), and checks the
 * invariants every call must keep: a success has an output with `changed`
 * and `number`, a failure has a message and no output, and no credential
 * appears anywhere. It is thread-safe (no cmocka calls): problems are
 * written to a buffer for the test's main thread to assert. */
#ifndef IDF_TESTS_HAPPYFOX_FIXTURE_H
#define IDF_TESTS_HAPPYFOX_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/connector.h"
#include "core/timeutil.h"
#include "net/http.h"
#include "sandbox/sandbox.h"
#include "support/testutil.h"

#define HFN static __attribute__((unused))
#define HFX_KEY "hf-fixture-KEY-8d2c71e4"
#define HFX_CODE "hf-fixture-CODE-4b9e03aa"
#define HFX_PROBLEM 512

struct hfx {
    struct sandbox *sb;
    struct http_client *http;
    char *dir;     /* holds seed.json */
    char base[64]; /* http://127.0.0.1:PORT */
    char name[64]; /* the connection's name */
    char b64[128]; /* base64 of KEY:CODE (must never leak either) */
    json_t *conn;  /* {"name","kind","url","api_key","auth_code","staff","sandbox"} */
};

/* How one call is made (defaults: run 1, step "test", item -1, attempt 1). */
struct hfx_call {
    struct http_client *http; /* NULL = the fixture's (main thread only) */
    const json_t *conn;       /* NULL = the fixture's */
    int64_t run_id;
    const char *step;
    int item;
    int attempt;
    bool uncertain;
    bool raw;  /* do not sit out pacing and ticket-busy waits */
    int waits; /* out: waits sat out */
};

HFN void hfx_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

HFN struct hfx *hfx_start(void)
{
    static int seq;
    struct hfx *f = calloc(1, sizeof *f);
    struct sandbox_opts o = {0};
    struct idf_err err = {0};
    json_t *seed, *hf;
    char *path, *text;
    const char *pair = HFX_KEY ":" HFX_CODE;

    assert_non_null(f);
    seed = json_loads(sandbox_default_seed(), 0, NULL);
    assert_non_null(seed);
    hf = json_object_get(seed, "happyfox");
    json_object_set_new(hf, "api_key", json_string(HFX_KEY));
    json_object_set_new(hf, "auth_code", json_string(HFX_CODE));
    json_object_set_new(hf, "tickets",
                        json_pack("[{s:s, s:s, s:i, s:s, s:[s]}]", "subject", "Printer jam on 3rd floor", "category",
                                  "IT Support", "user", 1, "text", "The printer is jammed", "tags", "printer"));
    f->dir = tu_mktemp_dir();
    assert_non_null(f->dir);
    path = tu_path(f->dir, "seed.json");
    text = json_dumps(seed, 0);
    assert_int_equal(tu_write_file(path, text), 0);
    free(text);
    json_decref(seed);
    o.addr = "127.0.0.1";
    o.seed_path = path;
    if (sandbox_start(&o, &f->sb, &err) != 0)
        fail_msg("sandbox_start: %s", err.msg);
    free(path);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", sandbox_port(f->sb));
    snprintf(f->name, sizeof f->name, "hf-test-%d-%d", sandbox_port(f->sb), ++seq);
    sodium_bin2base64(f->b64, sizeof f->b64, (const unsigned char *)pair, strlen(pair), sodium_base64_VARIANT_ORIGINAL);
    assert_int_equal(http_client_new(&f->http), 0);
    f->conn = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "name", f->name, "kind", "happyfox", "url", f->base,
                        "api_key", HFX_KEY, "auth_code", HFX_CODE, "staff", "Priya Raman", "sandbox", 1);
    return f;
}

HFN void hfx_stop(struct hfx *f)
{
    if (!f)
        return;
    json_decref(f->conn);
    http_client_free(f->http);
    sandbox_stop(f->sb);
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f);
}

HFN void hfx_clear(struct conn_result *r)
{
    conn_result_clear(r);
}

/* problem += why, when s contains a credential. */
HFN void hfx_leak_check(const struct hfx *f, const char *what, const char *s, char *problem)
{
    const char *bad[] = {HFX_KEY, HFX_CODE, f->b64, NULL};
    for (int i = 0; s && bad[i]; i++) {
        if (strstr(s, bad[i]) && !problem[0])
            snprintf(problem, HFX_PROBLEM, "%s contains a credential: %.200s", what, s);
    }
}

HFN void hfx_leak_check_json(const struct hfx *f, const char *what, const json_t *v, char *problem)
{
    char *d = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    hfx_leak_check(f, what, d, problem);
    free(d);
}

/* Calls action once per attempt as the engine would; thread-safe. Returns
 * the last rc; problem is "" when the invariants held. */
HFN int hfx_run(struct hfx *f, struct hfx_call *c, const char *action, struct conn_result *res, const char *params,
                char problem[HFX_PROBLEM])
{
    const struct conn_action *a = registry_find_action(registry_default(), action);
    json_error_t je;
    json_t *p;
    struct idf_err err = {0};
    void *slot = NULL;
    int rc = IDF_EINVAL;

    problem[0] = '\0';
    memset(res, 0, sizeof *res);
    if (!a) {
        snprintf(problem, HFX_PROBLEM, "no action %s", action);
        return IDF_EINVAL;
    }
    if (!(p = json_loads(params, 0, &je))) {
        snprintf(problem, HFX_PROBLEM, "bad params %s: %s", params, je.text);
        return IDF_EINVAL;
    }
    if (conn_params_check(a, p, &err) != 0) {
        snprintf(problem, HFX_PROBLEM, "%s: %s", action, err.msg);
        json_decref(p);
        return IDF_EINVAL;
    }
    struct conn_call call = {.http = c->http ? c->http : f->http,
                             .connection = c->conn ? c->conn : f->conn,
                             .run_id = c->run_id ? c->run_id : 1,
                             .step_id = c->step ? c->step : "test",
                             .attempt = c->attempt ? c->attempt : 1,
                             .item = c->item,
                             .uncertain = c->uncertain,
                             .allow_http = false,
                             .thread_slot = &slot};
    call.connection_name = json_string_value(json_object_get(call.connection, "name"));
    for (int tries = 0;; tries++) {
        bool wait;
        memset(res, 0, sizeof *res);
        rc = a->fn(&call, p, res);
        /* Paced or ticket busy before anything was sent: the engine would
         * store a wait and call again (the intent stays: uncertain). */
        wait = rc != 0 && !c->raw && tries < 5000 && json_is_false(json_object_get(res->detail, "sent"));
        if (!wait)
            break;
        if (a->records_intent)
            call.uncertain = true;
        call.attempt++;
        c->waits++;
        hfx_sleep_ms(res->retry_after_ms > 0 ? res->retry_after_ms : 1);
        hfx_clear(res);
    }
    json_decref(p);
    if (rc == 0) {
        if (!json_is_object(res->output))
            snprintf(problem, HFX_PROBLEM, "%s succeeded without an output", action);
        else if (!json_is_boolean(json_object_get(res->output, "changed")))
            snprintf(problem, HFX_PROBLEM, "%s: output has no `changed`", action);
        else if (!json_is_integer(json_object_get(res->output, "number")))
            snprintf(problem, HFX_PROBLEM, "%s: output has no ticket number", action);
    } else if (rc > 0 || !res->message[0]) {
        snprintf(problem, HFX_PROBLEM, "%s failed (%d) without a message", action, rc);
    } else if (res->output) {
        snprintf(problem, HFX_PROBLEM, "%s failed but left an output", action);
    }
    hfx_leak_check(f, "message", res->message, problem);
    hfx_leak_check_json(f, "detail", res->detail, problem);
    hfx_leak_check_json(f, "output", res->output, problem);
    /* issue 17: the history's subjects and change text carry no credential; a change only
     * from a call that changed something */
    hfx_leak_check_json(f, "subjects", res->subjects, problem);
    hfx_leak_check(f, "change", res->change, problem);
    if (res->change[0] && !(rc == 0 && json_is_true(json_object_get(res->output, "changed"))) && !problem[0])
        snprintf(problem, HFX_PROBLEM, "%s reported the change '%s' without changing anything", action, res->change);
    return rc;
}

/* The main thread's shorthand: default call, asserts the invariants. */
HFN int hfx_actf(struct hfx *f, const char *action, struct conn_result *res, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
HFN int hfx_actf(struct hfx *f, const char *action, struct conn_result *res, const char *fmt, ...)
{
    char params[8192], problem[HFX_PROBLEM];
    struct hfx_call c = {.item = -1};
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(params, sizeof params, fmt, ap);
    va_end(ap);
    rc = hfx_run(f, &c, action, res, params, problem);
    if (problem[0])
        fail_msg("%s", problem);
    return rc;
}

/* Like hfx_actf with an explicit call description. */
HFN int hfx_callf(struct hfx *f, struct hfx_call *c, const char *action, struct conn_result *res, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
HFN int hfx_callf(struct hfx *f, struct hfx_call *c, const char *action, struct conn_result *res, const char *fmt, ...)
{
    char params[8192], problem[HFX_PROBLEM];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(params, sizeof params, fmt, ap);
    va_end(ap);
    rc = hfx_run(f, c, action, res, params, problem);
    if (problem[0])
        fail_msg("%s", problem);
    return rc;
}

/* A request to the sandbox (admin, or the API itself with the fixture's
 * credentials when api is true); the parsed answer (caller decrefs), the
 * status in *status when not NULL (else a status >= 400 fails the test). */
HFN json_t *hfx_http(struct hfx *f, struct http_client *http, const char *method, const char *path, const char *body,
                     bool api, long *status)
{
    char url[512], auth[200];
    const char *h[3] = {"Content-Type: application/json", NULL, NULL};
    struct http_request rq = {.method = method,
                              .url = url,
                              .body = body,
                              .body_len = body ? strlen(body) : 0,
                              .timeout_ms = 20000,
                              .headers = h};
    struct http_response r = {0};
    struct idf_err err = {0};
    json_t *j = NULL;

    snprintf(auth, sizeof auth, "Authorization: Basic %s", f->b64);
    if (api)
        h[1] = auth;
    snprintf(url, sizeof url, "%s%s", f->base, path);
    if (http_client_do(http ? http : f->http, &rq, &r, &err) != 0)
        fail_msg("%s %s: %s", method, path, err.msg);
    if (status)
        *status = r.status;
    else if (r.status >= 400)
        fail_msg("%s %s: HTTP %ld %s", method, path, r.status, r.body.data ? r.body.data : "");
    if (r.body.len)
        j = json_loadb(r.body.data, r.body.len, JSON_DECODE_ANY, NULL);
    http_response_free(&r);
    return j ? j : json_object();
}

HFN json_t *hfx_sbx(struct hfx *f, const char *method, const char *path, const char *body)
{
    return hfx_http(f, NULL, method, path, body, false, NULL);
}

HFN void hfx_sbx_post(struct hfx *f, const char *path, const char *body)
{
    json_decref(hfx_sbx(f, "POST", path, body));
}

/* Calls in the sandbox's log with this method (NULL = any), a path containing
 * part (NULL = any) and this status (-1 = any). */
HFN int hfx_count_calls(struct hfx *f, const char *method, const char *part, int status)
{
    json_t *j = hfx_sbx(f, "GET", "/_sandbox/calls", NULL), *c;
    size_t i;
    int n = 0;

    json_array_foreach (json_object_get(j, "calls"), i, c) {
        const char *m = json_string_value(json_object_get(c, "method")) ?: "";
        const char *p = json_string_value(json_object_get(c, "path")) ?: "";
        int st = (int)json_integer_value(json_object_get(c, "status"));
        if ((!method || strcmp(m, method) == 0) && (!part || strstr(p, part)) && (status < 0 || st == status))
            n++;
    }
    json_decref(j);
    return n;
}

/* The sandbox's tickets (new reference: the array of the state dump). */
HFN json_t *hfx_tickets(struct hfx *f)
{
    json_t *st = hfx_sbx(f, "GET", "/_sandbox/state", NULL);
    json_t *t = json_incref(json_object_get(json_object_get(st, "happyfox"), "tickets"));
    json_decref(st);
    return t ? t : json_array();
}

/* One ticket of the sandbox by number (new reference) or NULL. */
HFN json_t *hfx_ticket(struct hfx *f, int64_t number)
{
    json_t *all = hfx_tickets(f), *t, *found = NULL;
    size_t i;
    json_array_foreach (all, i, t) {
        if (json_integer_value(json_object_get(t, "id")) == number)
            found = json_incref(t);
    }
    json_decref(all);
    return found;
}

/* Tickets of the sandbox whose subject is s. */
HFN int hfx_count_subject(struct hfx *f, const char *s)
{
    json_t *all = hfx_tickets(f), *t;
    size_t i;
    int n = 0;
    json_array_foreach (all, i, t) {
        const char *sub = json_string_value(json_object_get(t, "subject"));
        n += sub && strcmp(sub, s) == 0;
    }
    json_decref(all);
    return n;
}

/* Updates of ticket number whose message (text or html) contains part. */
HFN int hfx_count_updates(struct hfx *f, int64_t number, const char *part)
{
    json_t *t = hfx_ticket(f, number), *u;
    size_t i;
    int n = 0;
    json_array_foreach (json_object_get(t, "updates"), i, u) {
        const json_t *m = json_object_get(u, "message");
        const char *tx = json_string_value(json_object_get(m, "text")) ?: "";
        const char *ht = json_string_value(json_object_get(m, "html")) ?: "";
        n += strstr(tx, part) || strstr(ht, part);
    }
    json_decref(t);
    return n;
}

HFN const char *hfx_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

HFN int64_t hfx_int(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

HFN bool hfx_changed(const struct conn_result *r)
{
    return json_is_true(json_object_get(r->output, "changed"));
}

HFN void hfx_has(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
}

#define HFX_MUST(rc, r)                                                                                                \
    do {                                                                                                               \
        if ((rc) != 0)                                                                                                 \
            fail_msg("line %d: failed: %s", __LINE__, (r).message);                                                    \
    } while (0)

#endif

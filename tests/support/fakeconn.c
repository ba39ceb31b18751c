/* fakeconn.c — the scripted "fake" connector for engine tests (fakeconn.h).
 *
 * Owns one static state: the scripted rules (in the order given, each with
 * the calls it still answers), the recorded calls, the opened gates and the
 * in-flight counter, all guarded by `lock`; `cond` wakes calls waiting at a
 * gate. Action functions run on the engine's worker threads, the query
 * functions on the test's thread. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/connector.h"
#include "core/timeutil.h"
#include "support/fakeconn.h"

#define FAKECONN_MAX_GATES 64
#define FAKECONN_GATE_MAX 64 /* bytes of a gate name */

struct rule {
    char key[FAKECONN_KEY_MAX];
    struct fakeconn_answer a;     /* its string pointers unused: the copies below (rules move) */
    char *output, *message;       /* owned, or NULL */
    char gate[FAKECONN_GATE_MAX]; /* "" when not gated */
    int times;                    /* calls it still answers; < 0: forever */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct rule rules[FAKECONN_MAX_RULES]; /* guarded by lock; rules[0..n_rules) in use */
static int n_rules;
static struct fakeconn_call calls[FAKECONN_MAX_CALLS]; /* guarded by lock */
static int n_recorded, n_calls;
static char gates[FAKECONN_MAX_GATES][FAKECONN_GATE_MAX]; /* opened gates; guarded by lock */
static int n_gates;
static bool released;           /* fakeconn_release_all: every gate is open */
static unsigned long reset_gen; /* bumped by fakeconn_reset: calls waiting at a gate go */
static int in_flight, max_in_flight;

static void copy_str(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s ? s : "");
}

static void rule_clear(struct rule *r)
{
    free(r->output);
    free(r->message);
    memset(r, 0, sizeof *r);
}

void fakeconn_reset(void)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n_rules; i++)
        rule_clear(&rules[i]);
    n_rules = 0;
    for (int i = 0; i < n_recorded; i++)
        json_decref(calls[i].params);
    n_recorded = n_calls = 0;
    n_gates = 0;
    max_in_flight = in_flight;
    released = false;
    reset_gen++; /* whoever still waits at a gate goes */
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

void fakeconn_script(const char *key, const struct fakeconn_answer *a, int times)
{
    struct rule *r;

    pthread_mutex_lock(&lock);
    if (n_rules == FAKECONN_MAX_RULES) {
        fprintf(stderr, "fakeconn: more than %d scripted rules\n", FAKECONN_MAX_RULES);
        abort();
    }
    r = &rules[n_rules++];
    memset(r, 0, sizeof *r);
    copy_str(r->key, sizeof r->key, key);
    r->a = *a;
    r->output = a->output ? strdup(a->output) : NULL;
    r->message = a->message ? strdup(a->message) : NULL;
    copy_str(r->gate, sizeof r->gate, a->gate);
    r->a.output = r->a.message = r->a.gate = NULL;
    r->times = times;
    pthread_mutex_unlock(&lock);
}

static bool gate_open(const char *gate)
{
    if (released)
        return true;
    for (int i = 0; i < n_gates; i++)
        if (!strcmp(gates[i], gate))
            return true;
    return false;
}

void fakeconn_open(const char *gate)
{
    pthread_mutex_lock(&lock);
    if (!gate_open(gate) && n_gates < FAKECONN_MAX_GATES)
        copy_str(gates[n_gates++], FAKECONN_GATE_MAX, gate);
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

void fakeconn_release_all(void)
{
    pthread_mutex_lock(&lock);
    released = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

/* Takes the answer for key (lock held): a copy whose strings are copied into
 * the caller's buffers, since the rule may be used up and cleared. */
static bool take_answer(const char *key, struct fakeconn_answer *a, char *out, size_t out_n, char *msg, size_t msg_n,
                        char *gate, size_t gate_n)
{
    for (int i = 0; i < n_rules; i++) {
        struct rule *r = &rules[i];
        if (strcmp(r->key, key) != 0)
            continue;
        *a = r->a;
        copy_str(out, out_n, r->output);
        copy_str(msg, msg_n, r->message);
        copy_str(gate, gate_n, r->gate);
        a->output = r->output ? out : NULL;
        a->message = r->message ? msg : NULL;
        a->gate = r->gate[0] ? gate : NULL;
        if (r->times > 0 && --r->times == 0) {
            rule_clear(r);
            memmove(&rules[i], &rules[i + 1], (size_t)(n_rules - i - 1) * sizeof rules[0]);
            memset(&rules[--n_rules], 0, sizeof rules[0]);
        }
        return true;
    }
    return false;
}

static void wait_gate(const char *gate)
{
    struct timespec until;
    unsigned long gen = reset_gen;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += FAKECONN_GATE_MAX_MS / 1000;
    while (!gate_open(gate) && gen == reset_gen) {
        if (pthread_cond_timedwait(&cond, &lock, &until) == ETIMEDOUT) {
            fprintf(stderr, "fakeconn: gate '%s' was never opened; letting the call through\n", gate);
            break;
        }
    }
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int fake_action(const char *action, struct conn_call *call, const json_t *params, struct conn_result *res)
{
    const char *key = json_string_value(json_object_get(params, "key"));
    struct fakeconn_answer a = {0};
    char out[4096], msg[512], gate[FAKECONN_GATE_MAX];
    bool scripted;
    int slot = -1, n;

    if (!key)
        key = "";
    pthread_mutex_lock(&lock);
    n = 1;
    for (int i = 0; i < n_recorded; i++)
        n += !strcmp(calls[i].key, key);
    if (n_recorded < FAKECONN_MAX_CALLS) {
        struct fakeconn_call *c = &calls[slot = n_recorded++];
        memset(c, 0, sizeof *c);
        copy_str(c->action, sizeof c->action, action);
        copy_str(c->key, sizeof c->key, key);
        copy_str(c->step_id, sizeof c->step_id, call->step_id);
        c->run_id = call->run_id;
        c->attempt = call->attempt;
        c->item = call->item;
        c->uncertain = call->uncertain;
        c->params = json_deep_copy(params);
        c->started_ms = time_now_ms();
        for (int i = 0; i <= slot; i++)
            c->concurrent += !strcmp(calls[i].key, key) && (i == slot || !calls[i].ended_ms);
    }
    n_calls++;
    if (++in_flight > max_in_flight)
        max_in_flight = in_flight;
    scripted = take_answer(key, &a, out, sizeof out, msg, sizeof msg, gate, sizeof gate);
    if (scripted && a.gate)
        wait_gate(a.gate);
    pthread_mutex_unlock(&lock);

    if (scripted && a.latency_ms > 0)
        sleep_ms(a.latency_ms);

    int rc = 0;
    if (!scripted || a.what == FAKECONN_OK) {
        res->output =
            a.output ? json_loads(a.output, JSON_DECODE_ANY, NULL)
                     : json_pack("{s:s,s:i,s:O?}", "key", key, "call", n, "value", json_object_get(params, "value"));
        if (!res->output)
            rc = conn_fail(res, IDF_EINVAL, false, "fakeconn: the scripted output is not JSON");
    } else if (a.what == FAKECONN_DEFER) {
        res->deferred = true;
        res->retry_after_ms = a.retry_after_ms;
        rc = conn_fail(res, IDF_EBUSY, true, "%s", a.message ? a.message : "scripted deferral");
    } else {
        res->retry_after_ms = a.retry_after_ms;
        rc = conn_fail(res, IDF_EIO, a.retryable, "%s", a.message ? a.message : "scripted failure");
    }

    pthread_mutex_lock(&lock);
    in_flight--;
    if (slot >= 0 && slot < n_recorded)
        calls[slot].ended_ms = time_now_ms();
    pthread_mutex_unlock(&lock);
    return rc;
}

static int fake_call(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    return fake_action("fake.call", call, params, res);
}

static int fake_write(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    return fake_action("fake.write", call, params, res);
}

int fakeconn_calls(const char *key)
{
    int n = 0;
    pthread_mutex_lock(&lock);
    if (!key)
        n = n_calls;
    else
        for (int i = 0; i < n_recorded; i++)
            n += !strcmp(calls[i].key, key);
    pthread_mutex_unlock(&lock);
    return n;
}

bool fakeconn_wait_calls(const char *key, int n, int timeout_ms)
{
    int64_t until = time_now_ms() + timeout_ms;
    for (;;) {
        if (fakeconn_calls(key) >= n)
            return true;
        if (time_now_ms() >= until)
            return false;
        sleep_ms(2);
    }
}

bool fakeconn_call_get(const char *key, int i, struct fakeconn_call *out)
{
    bool found = false;
    pthread_mutex_lock(&lock);
    for (int k = 0, seen = 0; k < n_recorded && !found; k++) {
        if (key && strcmp(calls[k].key, key) != 0)
            continue;
        if (seen++ == i) {
            *out = calls[k];
            json_incref(out->params);
            found = true;
        }
    }
    pthread_mutex_unlock(&lock);
    return found;
}

int fakeconn_in_flight(void)
{
    int n;
    pthread_mutex_lock(&lock);
    n = in_flight;
    pthread_mutex_unlock(&lock);
    return n;
}

int fakeconn_max_in_flight(const char *key)
{
    int n = 0;
    pthread_mutex_lock(&lock);
    if (!key)
        n = max_in_flight;
    else
        for (int i = 0; i < n_recorded; i++)
            if (!strcmp(calls[i].key, key) && calls[i].concurrent > n)
                n = calls[i].concurrent;
    pthread_mutex_unlock(&lock);
    return n;
}

/* ---- the connector ---- */

static const struct conn_param fake_params[] = {
    {"key", CONN_P_STRING, true, "which script answers the call"},
    {"value", CONN_P_ANY, false, "echoed in the default output"},
    {NULL, 0, false, NULL},
};

static const struct conn_action fake_actions[] = {
    {.name = "fake.call",
     .doc = "A scripted idempotent call.",
     .params = fake_params,
     .kind = CONN_K_ACTION,
     .fn = fake_call,
     .output_doc = "{key, call, value}"},
    {.name = "fake.write",
     .doc = "A scripted non-idempotent write.",
     .params = fake_params,
     .kind = CONN_K_ACTION,
     .fn = fake_write,
     .effect = CONN_EFFECT_CHANGE,
     .output_doc = "{key, call, value}",
     .records_intent = true},
    {.name = NULL},
};

static const struct conn_trigger fake_triggers[] = {
    {.name = "fake.event", .doc = "Any event of type fake.event."},
    {.name = NULL},
};

static const struct connector fakeconn_connector = {
    .name = "fake",
    .actions = fake_actions,
    .triggers = fake_triggers,
};

static const struct connector *const fake_list[] = {&fakeconn_connector};
static const struct registry fake_registry = {fake_list, 1};

const struct registry *fakeconn_registry(void)
{
    return &fake_registry;
}

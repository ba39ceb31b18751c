/* fakeconn.h — a scripted connector for engine tests.
 *
 * A real `struct connector` named "fake", handed to an in-process engine
 * through engine_opts.connectors (fakeconn_registry()). Its actions answer
 * from a script kept per key (the call's `key` parameter), so one workflow
 * can make one step fail and the next succeed:
 *
 *   fake.call   {key, value?}  an idempotent call
 *   fake.write  {key, value?}  a non-idempotent write (records_intent: the
 *                              engine records the intent before each call and
 *                              passes call->uncertain on the next attempt)
 *   trigger fake.event         no parameters; matches every event of that type
 *
 * Each call takes the next answer scripted for its key (fakeconn_script), or
 * succeeds with {"key": K, "call": N, "value": V} (N counts the key's calls
 * from 1) when none is left. An answer may fail (retryable or not), defer,
 * take some latency, or wait at a named gate until the test opens it. Every
 * call is recorded with its inputs (fakeconn_call_get), and the calls in
 * flight are counted, in all and per key (fakeconn_max_in_flight).
 *
 * The state is one static instance behind a mutex (an action function gets
 * no user pointer): thread-safe, but one test at a time uses it;
 * fakeconn_reset between tests. Support code does not link cmocka. */
#ifndef IDF_TESTS_FAKECONN_H
#define IDF_TESTS_FAKECONN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct registry;

#define FAKECONN_MAX_RULES 256     /* scripted answers held at once */
#define FAKECONN_MAX_CALLS 4096    /* calls recorded between resets; later ones are counted only */
#define FAKECONN_KEY_MAX 64        /* bytes of a key (longer keys are cut) */
#define FAKECONN_GATE_MAX_MS 30000 /* a gate never opened lets its calls through after this long */

enum fakeconn_do {
    FAKECONN_OK = 0, /* succeed with output */
    FAKECONN_FAIL,   /* fail with message (retryable or not) */
    FAKECONN_DEFER,  /* defer: not carried out, call again after retry_after_ms */
};

/* One scripted answer. Strings are copied when it is scripted. */
struct fakeconn_answer {
    enum fakeconn_do what;
    const char *output;     /* FAKECONN_OK: JSON text of the output; NULL: the default output */
    const char *message;    /* FAIL / DEFER: the message; NULL: "scripted failure" / "scripted deferral" */
    bool retryable;         /* FAIL: the engine may try again */
    int64_t retry_after_ms; /* FAIL: least wait before the next attempt; DEFER: the wait */
    int64_t latency_ms;     /* the call answers after this long */
    const char *gate;       /* non-NULL: the call waits until fakeconn_open(gate) (or
                               fakeconn_release_all) before answering */
};

/* One recorded call. */
struct fakeconn_call {
    char action[32]; /* "fake.call" / "fake.write" */
    char key[FAKECONN_KEY_MAX];
    char step_id[64];
    int64_t run_id;
    int attempt;        /* call->attempt */
    int item;           /* call->item (-1 outside a foreach) */
    bool uncertain;     /* call->uncertain */
    json_t *params;     /* a copy of the rendered parameters (caller decrefs) */
    int64_t started_ms; /* time_now_ms() when the call began (the engine's clock) */
    int64_t ended_ms;   /* time_now_ms() when it answered; 0 while in flight */
    int concurrent;     /* calls with this key in flight when it began, itself included */
};

/* The registry holding only the fake connector (static; borrowed forever). */
const struct registry *fakeconn_registry(void);

/* Forgets every script, recorded call, counter and opened gate, and lets any
 * call still waiting at a gate through. */
void fakeconn_reset(void);

/* The next `times` calls with this key answer a (in the order scripted);
 * times < 0: every later call. Aborts the program when FAKECONN_MAX_RULES
 * rules are held. */
void fakeconn_script(const char *key, const struct fakeconn_answer *a, int times);

/* Opens the gate: calls waiting at it answer, later ones pass at once. */
void fakeconn_open(const char *gate);
/* Lets every waiting call through now and every later one pass its gate (for
 * teardown: an engine stops only after its calls in flight answered). */
void fakeconn_release_all(void);

/* Calls begun so far with this key (NULL: all keys). */
int fakeconn_calls(const char *key);
/* Polls until at least n calls with key began: true, or false after timeout_ms. */
bool fakeconn_wait_calls(const char *key, int n, int timeout_ms);
/* The i-th recorded call with key (0 = first; NULL key: any), copied into
 * *out (out->params is a new reference); false when there is none. */
bool fakeconn_call_get(const char *key, int i, struct fakeconn_call *out);
/* Calls in flight now, and the most there were at once since the reset:
 * of every key (NULL), or of one key (among the recorded calls). */
int fakeconn_in_flight(void);
int fakeconn_max_in_flight(const char *key);

#endif

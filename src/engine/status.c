/* status.c — the names of the engine's statuses (the text the store keeps
 * and the API shows) and the state machines of a run and of a step's record
 * (status.h), each written once as a table.
 *
 * Owns the one table of names per enum; the store's schema keeps the same
 * words (its CHECK lists, store.h's STORE_RUN_* / STORE_STEP_*), which the
 * tables below are written from. Pure functions, any thread. */
#include <string.h>

#include "engine/status.h"
#include "store/store.h"

static const char *const run_names[ENGINE_RUN_N_] = {
    [ENGINE_RUN_QUEUED] = STORE_RUN_QUEUED,   [ENGINE_RUN_RUNNING] = STORE_RUN_RUNNING,
    [ENGINE_RUN_WAITING] = STORE_RUN_WAITING, [ENGINE_RUN_SUCCEEDED] = STORE_RUN_SUCCEEDED,
    [ENGINE_RUN_FAILED] = STORE_RUN_FAILED,   [ENGINE_RUN_CANCELLED] = STORE_RUN_CANCELLED,
    [ENGINE_RUN_HELD] = STORE_RUN_HELD,
};

static const char *const step_names[ENGINE_STEP_N_] = {
    [ENGINE_STEP_NONE] = NULL, /* never stored */
    [ENGINE_STEP_STARTED] = STORE_STEP_STARTED,
    [ENGINE_STEP_SUCCEEDED] = STORE_STEP_SUCCEEDED,
    [ENGINE_STEP_FAILED] = STORE_STEP_FAILED,
    [ENGINE_STEP_SKIPPED] = STORE_STEP_SKIPPED,
    [ENGINE_STEP_RETRYING] = STORE_STEP_RETRYING,
    [ENGINE_STEP_WAITING] = STORE_STEP_WAITING,
    [ENGINE_STEP_REUSED] = STORE_STEP_REUSED,
};

static const char *const approval_names[ENGINE_APPROVAL_N_] = {
    [ENGINE_APPROVAL_PENDING] = "pending",
    [ENGINE_APPROVAL_APPROVED] = "approved",
    [ENGINE_APPROVAL_REJECTED] = "rejected",
};

/* The index of text in names[0..n), or -1. */
static int find(const char *const *names, int n, const char *text)
{
    for (int i = 0; text && i < n; i++)
        if (names[i] && strcmp(names[i], text) == 0)
            return i;
    return -1;
}

const char *engine_run_status_name(enum engine_run_status s)
{
    return (unsigned)s < ENGINE_RUN_N_ ? run_names[s] : NULL;
}

const char *engine_step_status_name(enum engine_step_status s)
{
    return (unsigned)s < ENGINE_STEP_N_ ? step_names[s] : NULL;
}

const char *engine_approval_status_name(enum engine_approval_status s)
{
    return (unsigned)s < ENGINE_APPROVAL_N_ ? approval_names[s] : NULL;
}

int engine_run_status_parse(const char *text, enum engine_run_status *out)
{
    int i = find(run_names, ENGINE_RUN_N_, text);
    if (i < 0)
        return IDF_EINVAL;
    *out = (enum engine_run_status)i;
    return 0;
}

int engine_step_status_parse(const char *text, enum engine_step_status *out)
{
    int i = find(step_names, ENGINE_STEP_N_, text);
    if (i < 0)
        return IDF_EINVAL;
    *out = (enum engine_step_status)i;
    return 0;
}

int engine_approval_status_parse(const char *text, enum engine_approval_status *out)
{
    int i = find(approval_names, ENGINE_APPROVAL_N_, text);
    if (i < 0)
        return IDF_EINVAL;
    *out = (enum engine_approval_status)i;
    return 0;
}

bool engine_run_status_is(const char *text, enum engine_run_status s)
{
    enum engine_run_status v;
    return engine_run_status_parse(text, &v) == 0 && v == s;
}

bool engine_run_status_final(enum engine_run_status s)
{
    return s == ENGINE_RUN_SUCCEEDED || s == ENGINE_RUN_FAILED || s == ENGINE_RUN_CANCELLED;
}

/* ------------------------------------------------------------ the state machine */

#define R(s) (1u << (s))

/* run_next[from]: the statuses a run may go to from `from` (docs/internals/engine.md,
 * "The run's state machine"). Finished runs go nowhere: a rerun is a new run. */
static const unsigned run_next[ENGINE_RUN_N_] = {
    /* claimed; cancelled by an operator */
    [ENGINE_RUN_QUEUED] = R(ENGINE_RUN_RUNNING) | R(ENGINE_RUN_CANCELLED),
    /* a step commit (moving on, waiting, finishing), a cancel noted while it ran, a claim of
     * its expired lease (running again, or cancelled), a restart releasing its lease (queued) */
    [ENGINE_RUN_RUNNING] = R(ENGINE_RUN_RUNNING) | R(ENGINE_RUN_WAITING) | R(ENGINE_RUN_SUCCEEDED) |
                           R(ENGINE_RUN_FAILED) | R(ENGINE_RUN_CANCELLED) | R(ENGINE_RUN_QUEUED) | R(ENGINE_RUN_HELD),
    /* claimed when due; queued at once by an approval's decision; cancelled by an operator */
    [ENGINE_RUN_WAITING] = R(ENGINE_RUN_RUNNING) | R(ENGINE_RUN_QUEUED) | R(ENGINE_RUN_CANCELLED),
    [ENGINE_RUN_SUCCEEDED] = 0,
    [ENGINE_RUN_FAILED] = 0,
    [ENGINE_RUN_CANCELLED] = 0,
    /* released (queued) or rejected (queued: the step then fails) by an admin; cancelled by an operator */
    [ENGINE_RUN_HELD] = R(ENGINE_RUN_QUEUED) | R(ENGINE_RUN_CANCELLED),
};

/* step_next[from]: the statuses the record of one step (and item) may go to. */
static const unsigned step_next[ENGINE_STEP_N_] = {
    /* its first record; reused only by a rerun's copy */
    [ENGINE_STEP_NONE] = R(ENGINE_STEP_STARTED) | R(ENGINE_STEP_SUCCEEDED) | R(ENGINE_STEP_FAILED) |
                         R(ENGINE_STEP_SKIPPED) | R(ENGINE_STEP_RETRYING) | R(ENGINE_STEP_WAITING) |
                         R(ENGINE_STEP_REUSED),
    /* the call's outcome (retrying: a retryable failure or a deferral); started again when the
     * run resumes after a crash (the call is uncertain) */
    [ENGINE_STEP_STARTED] =
        R(ENGINE_STEP_STARTED) | R(ENGINE_STEP_SUCCEEDED) | R(ENGINE_STEP_FAILED) | R(ENGINE_STEP_RETRYING),
    /* the next attempt (or call, after a deferral); skipped when if:, evaluated again because
     * no attempt was counted (a deferral), is now false */
    [ENGINE_STEP_RETRYING] = R(ENGINE_STEP_STARTED) | R(ENGINE_STEP_SUCCEEDED) | R(ENGINE_STEP_FAILED) |
                             R(ENGINE_STEP_SKIPPED) | R(ENGINE_STEP_RETRYING) | R(ENGINE_STEP_WAITING),
    /* the delay is over, the approval decided or timed out (skipped: as after a deferral) */
    [ENGINE_STEP_WAITING] = R(ENGINE_STEP_SUCCEEDED) | R(ENGINE_STEP_FAILED) | R(ENGINE_STEP_SKIPPED) |
                            /* a destructive call held at the guardrail (issue 19), then released: the call
                             * records its intent, is deferred or retried like any other; a retrying step
                             * may be held (above) */
                            R(ENGINE_STEP_STARTED) | R(ENGINE_STEP_RETRYING),
    [ENGINE_STEP_SUCCEEDED] = 0,
    [ENGINE_STEP_FAILED] = 0,
    [ENGINE_STEP_SKIPPED] = 0,
    [ENGINE_STEP_REUSED] = 0,
};

bool engine_run_transition_ok(enum engine_run_status from, enum engine_run_status to)
{
    return (unsigned)from < ENGINE_RUN_N_ && (unsigned)to < ENGINE_RUN_N_ && (run_next[from] & R(to));
}

bool engine_step_transition_ok(enum engine_step_status from, enum engine_step_status to)
{
    return (unsigned)from < ENGINE_STEP_N_ && (unsigned)to < ENGINE_STEP_N_ && to != ENGINE_STEP_NONE &&
           (step_next[from] & R(to));
}

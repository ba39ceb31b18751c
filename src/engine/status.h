/* status.h — the statuses of a run, of a step's record and of an approval,
 * as the engine handles them (enums), and the run's state machine.
 *
 * The store keeps them as text (its schema's CHECK lists, STORE_RUN_* /
 * STORE_STEP_* in store.h) and the API shows that text: the strings exist
 * only at those edges, through one name/parse pair per enum. Everything in
 * between compares enums. The allowed transitions are written once, in
 * status.c, and docs/internals/engine.md ("The run's state machine") draws
 * them. */
#ifndef IDF_ENGINE_STATUS_H
#define IDF_ENGINE_STATUS_H

#include <stdbool.h>

#include "core/err.h"

/* A run's status (runs.status). */
enum engine_run_status {
    ENGINE_RUN_QUEUED,    /* created, or made runnable again (a decided approval, a restart) */
    ENGINE_RUN_RUNNING,   /* claimed: a worker holds its lease */
    ENGINE_RUN_WAITING,   /* a retry's backoff, a deferral, a delay or an approval: wake_at */
    ENGINE_RUN_SUCCEEDED, /* finished: every step done */
    ENGINE_RUN_FAILED,    /* finished: a step failed (or the workflow could not run) */
    ENGINE_RUN_CANCELLED, /* finished: cancelled by an operator */
    ENGINE_RUN_HELD,      /* a destructive step went over its connection's budget (issue 19): waits, never
                             claimed, until an admin releases (queued) or rejects it (a guardrail hold) */
    ENGINE_RUN_N_         /* the number of statuses (not a status) */
};

/* A step record's status (run_steps.status). ENGINE_STEP_NONE is no
 * record yet: only ever the start of a transition, never stored. */
enum engine_step_status {
    ENGINE_STEP_NONE,    /* no record of this step (and item) yet */
    ENGINE_STEP_STARTED, /* intent recorded before a non-idempotent call */
    ENGINE_STEP_SUCCEEDED,
    ENGINE_STEP_FAILED,
    ENGINE_STEP_SKIPPED,  /* if: was false */
    ENGINE_STEP_RETRYING, /* failed or deferred, next attempt scheduled */
    ENGINE_STEP_WAITING,  /* delay or approval under way */
    ENGINE_STEP_REUSED,   /* copied from the run a rerun started from */
    ENGINE_STEP_N_        /* the number of statuses (not a status) */
};

/* An approval's status (approvals.status). */
enum engine_approval_status {
    ENGINE_APPROVAL_PENDING,
    ENGINE_APPROVAL_APPROVED,
    ENGINE_APPROVAL_REJECTED,
    ENGINE_APPROVAL_N_
};

/* The stored text of a status ("running", ...), static; NULL for a value
 * that has none (ENGINE_STEP_NONE, out of range). */
const char *engine_run_status_name(enum engine_run_status s);
const char *engine_step_status_name(enum engine_step_status s);
const char *engine_approval_status_name(enum engine_approval_status s);

/* The status named text (exactly, as stored). IDF_EINVAL for NULL or any
 * other text ("none" included); *out is then unchanged. */
int engine_run_status_parse(const char *text, enum engine_run_status *out) IDF_MUST_USE;
int engine_step_status_parse(const char *text, enum engine_step_status *out) IDF_MUST_USE;
int engine_approval_status_parse(const char *text, enum engine_approval_status *out) IDF_MUST_USE;

/* True when text is the name of run status s (false for NULL or unknown text). */
bool engine_run_status_is(const char *text, enum engine_run_status s);

/* True when a finished run's status: succeeded, failed, cancelled. */
bool engine_run_status_final(enum engine_run_status s);

/* True when the state machine lets a run go from `from` to `to` (a run
 * that stays running, a step commit that moves it on, is `running ->
 * running`). Whoever makes the change: a claim, a step commit, a cancel, an
 * approval's decision, a restart releasing its leases. */
bool engine_run_transition_ok(enum engine_run_status from, enum engine_run_status to);

/* True when the record of one step (and foreach item) of a run may go from
 * `from` to `to` (from ENGINE_STEP_NONE: its first record). */
bool engine_step_transition_ok(enum engine_step_status from, enum engine_step_status to);

#endif

/* exec_internal.h — what the executor's files share (private to src/engine/exec*.c).
 *
 * One execution of a claimed run (exec_run, engine.h) is one struct
 * exec_state, owned by the thread that executes it (a worker, or `idflow
 * run`): nothing in it is shared between threads. Each visit of a step (or
 * foreach item) ends in one struct step_outcome handed to exec__finish().
 * Which file owns what: docs/internals/engine.md. */
#ifndef IDF_ENGINE_EXEC_INTERNAL_H
#define IDF_ENGINE_EXEC_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "engine/engine.h"
#include "engine/status.h"
#include "flow/flow.h"

struct store_run_next;

#define EXPR_MSG_MAX 1400 /* an expression failure's message: location, what, the expression's own */

struct exec_state {
    struct exec_env *env;
    const struct flow *f;
    const struct store_run *run;
    json_t *event;   /* parsed run->event */
    json_t *ctx;     /* context, owned */
    int pc, item, attempt;
    bool finished;   /* the run's final "succeeded" state is already committed */
    json_t *result;  /* a foreach item's output recorded for the next commit to save, or NULL */
    bool foreach_clear; /* the next commit ends the foreach step: its stored items go */
    int64_t started; /* when the current visit of a step began (ms): its record's started_at */
    bool stop;       /* the run waits or ended: the step loop stops */
    struct exec_outcome *out; /* the caller's: the run's status when it stops (borrowed) */
    enum engine_run_status status; /* the run's status as committed: running from the claim on */
    struct {
        int index, item;              /* the step (and item) last recorded by this execution */
        enum engine_step_status step; /* its record's status (NONE: none yet) */
    } last;
};

/* What one visit of a step (or foreach item) came to. The step's code
 * fills one and hands it to exec__finish(), the one place that turns it into
 * the step's record and the run's next state. Pointers are borrowed. */
enum outcome_kind {
    OUTCOME_SUCCEEDED,   /* output is the step's (or item's) result */
    OUTCOME_SKIPPED,     /* if: was false */
    OUTCOME_FAILED,      /* message (+ detail): retried, continued or failing the run, as the step says */
    OUTCOME_DEFERRED,    /* not carried out: called again after retry_after_ms, no attempt counted */
    OUTCOME_WAITING,     /* a delay or an approval begins; it ends by wake_at */
    OUTCOME_INTENT,      /* a non-idempotent call is about to be made: recorded first, the visit goes on */
    OUTCOME_INTERRUPTED, /* a poison run: the step (when s) and the run fail with message as it is */
    OUTCOME_RUN,         /* no step record: the run's state only, with status `run` */
    OUTCOME_HELD,        /* a destructive call went over its connection's budget (issue 19): not made; the
                            run is held for an admin (message: why; hold: the connection) */
};

struct step_outcome {
    enum outcome_kind kind;
    int item;                   /* the foreach item, or -1 */
    const json_t *input;        /* the parameters as rendered (history), or NULL */
    const json_t *output;       /* SUCCEEDED: the result */
    const char *message;        /* FAILED, DEFERRED, INTERRUPTED: what happened; RUN: the run's error or NULL */
    const json_t *detail;       /* FAILED, DEFERRED: what the connector adds, or NULL */
    bool retryable;             /* FAILED: another attempt may succeed */
    int64_t retry_after_ms;     /* FAILED, DEFERRED: the next call not before this (a rate-limit reset) */
    int64_t wake_at;            /* WAITING, RUN (waiting): when the run is runnable again */
    const char *approval;       /* WAITING: opens an approval with this message; NULL for a delay */
    const char *hold;           /* HELD: the connection whose guardrail holds the run */
    enum engine_run_status run; /* RUN: the run's next status */
    const char *trace;          /* SUCCEEDED: the word of its trace line ("succeeded", "approved"), or NULL */
    bool show_secrets;          /* SUCCEEDED: the foreground shows the output's secrets once */
    int attempts;               /* SUCCEEDED, INTERRUPTED: the record's attempts; 0: this attempt */
    /* issue 17 ("subjects"), from the action's conn_result: */
    const char *change;         /* SUCCEEDED: what it changed, for a person, or NULL / "" */
    const json_t *subjects;     /* SUCCEEDED, FAILED: the subjects it resolved (connector.h), or NULL */
};

/* exec.c: what every visit uses. */

/* The jq input {event, steps, vars, run, workflow[, item/<as>]}: a new
 * object holding references to st's (caller releases it). */
json_t *exec__jq_input(struct exec_state *st, const json_t *item, const char *as);
/* One line of the foreground trace (`idflow run`); nothing without one. */
void exec__trace(struct exec_state *st, const struct flow_step *s, int item, const char *what, const char *detail);
/* Writes into msg the message of an expression that failed at `at`. */
void exec__expr_failure(char msg[EXPR_MSG_MAX], const struct exec_state *st, struct flow_pos at, const char *what,
                        const char *emsg);

/* exec_finish.c: the outcome's policy and the commit. */

/* v as compact JSON text (any value); caller frees. NULL for NULL or OOM. */
char *exec__dump(const json_t *v);
/* Run state v as stored: the run's secrets sealed, or redacted when the run
 * ends. Caller frees; NULL when v is NULL or memory ran out. */
char *exec__dump_state(const struct exec_state *st, const json_t *v, bool ends);
/* The run's next state as this execution stands: status, st's position
 * (pc, item, attempt) and ctx_text (borrowed); every other field zero. */
void exec__next_state(const struct exec_state *st, enum engine_run_status status, const char *ctx_text,
                      struct store_run_next *next);
/* Finishes one visit of step s (NULL for OUTCOME_RUN) as oc says and commits
 * it; st->stop when the run waits or ends. IDF_ECANCELLED: the run was
 * cancelled meanwhile (the commit was recorded anyway). */
int exec__finish(struct exec_state *st, const struct flow_step *s, const struct step_outcome *oc,
                 struct idf_err *err) IDF_MUST_USE;

/* exec_step.c: one visit of a step (if:, foreach, with:, the step itself). */
int exec__run_step(struct exec_state *st, const struct flow_step *s, struct idf_err *err) IDF_MUST_USE;

/* guard.c: the blast-radius checks of a destructive call (issue 19): the
 * connection's protected accounts and its budget. Nothing for a call that is
 * not destructive. call is filled as the action would get it. *done when the
 * visit is over (refused: the step failed; or held: the run waits for an
 * admin); else the call may be made. */
struct connector;
struct conn_call;
int exec__guard(struct exec_state *st, const struct flow_step *s, const struct connector *owner, int item,
                const json_t *params, struct conn_call *call, bool *done, struct idf_err *err) IDF_MUST_USE;

/* exec_foreach.c: the foreach part of a step. *done when the visit is over;
 * otherwise *item_out and *item_v_out (new reference) are the item to run. */
int exec__foreach_current(struct exec_state *st, const struct flow_step *s, int *item_out, json_t **item_v_out,
                          bool *done, struct idf_err *err) IDF_MUST_USE;

/* exec_wait.c: a delay or an approval step (its first or a later visit). */
int exec__wait_step(struct exec_state *st, const struct flow_step *s, int item, const json_t *params,
                    struct idf_err *err) IDF_MUST_USE;

#endif

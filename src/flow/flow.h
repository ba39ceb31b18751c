/* flow.h — workflow YAML files -> a validated, immutable workflow model.
 *
 * flow_parse() reads one YAML document (see docs/workflows.md for the
 * language) and checks it completely: YAML syntax, known top-level keys, a
 * known trigger and its parameters, known action names (through the
 * connector registry the caller gives), required parameters present and no unknown ones,
 * parameter types where literal, every jq expression and template compiles
 * (through expr_check), step ids unique and well-formed, and every
 * `.steps.<id>` reference names a step defined earlier. Every problem found
 * is reported (not only the first), each with file:line:column.
 *
 * A `struct flow` is immutable after parsing and may be shared by threads. */
#ifndef IDF_FLOW_FLOW_H
#define IDF_FLOW_FLOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct conn_action;
struct conn_trigger;
struct expr_ctx;
struct registry;

#define FLOW_MAX_STEPS 200
#define FLOW_MAX_DIAGS 100
#define FLOW_RETRY_MAX_ATTEMPTS 100
#define FLOW_MAX_CONCURRENCY 1000 /* the largest `concurrency:` */

/* Where something starts in the workflow file (1-based; 0 when unknown). */
struct flow_pos {
    int line, col;
};

struct flow_step {
    char *id;                         /* unique within the workflow: [a-z_][a-z0-9_-]* */
    const struct conn_action *action; /* from the registry, never NULL after a successful parse */
    json_t *with;                     /* parameters as a template tree (object, possibly empty) */
    char *if_expr;                    /* bare jq, or NULL */
    char *foreach_expr;               /* the template text "${{ ... }}", or NULL */
    char *as;                         /* item name inside a foreach (default "item") */
    int retry_max;                    /* total attempts allowed (1 = no retry) */
    int64_t retry_backoff_ms;         /* base delay (default 1000) */
    int64_t retry_max_delay_ms;       /* cap on one delay (default 300000) */
    int64_t timeout_ms;               /* per attempt; 0 = the action's default */
    bool continue_on_error;           /* on_error: continue */
    char *connection;                 /* `connection:` NAME for actions of connectors with connections, or NULL */
    int line, col;                    /* where the step starts */
    struct flow_pos if_at, foreach_at, with_at; /* where its if:, foreach: and with: values start */
};

struct flow {
    char *name;                       /* from `name:` (defaults to the file's base name) */
    char *description;                /* or NULL */
    char *path;                       /* file it came from, or "<string>" */
    const struct conn_trigger *trigger;
    json_t *trigger_params;           /* object (possibly empty) */
    char **when;                      /* bare jq, all must be truthy */
    struct flow_pos *when_at;         /* where each when[i] starts */
    size_t n_when;
    char **when_any;                  /* bare jq, one must be truthy (when n > 0) */
    struct flow_pos *when_any_at;     /* where each when_any[i] starts */
    size_t n_when_any;
    json_t *vars;                     /* initial .vars (object, possibly empty); templates allowed */
    struct flow_pos vars_at;          /* where vars: starts */
    bool allow_http;                  /* `allow_http: true`: http.request may use plain http:// */
    bool allow_private_network;       /* `allow_private_network: true`: http.request may reach loopback,
                                         private, link-local ... addresses */
    bool enabled;                     /* `enabled: false` loads it disabled */
    int concurrency;                  /* `concurrency: N` (1..FLOW_MAX_CONCURRENCY): at most N runs of this
                                         workflow running at once; 0 = no cap */
    struct flow_step *steps;
    size_t n_steps;
    char *source;                     /* the YAML text */
    char hash[65];                    /* SHA-256 of source, hex */
};

struct flow_diag {
    int line, col;     /* 1-based; 0 when unknown */
    char msg[512];
};

struct flow_diags {
    struct flow_diag items[FLOW_MAX_DIAGS];
    size_t n;
    bool truncated;    /* more problems than FLOW_MAX_DIAGS */
};

/* Parses and validates. On success (*out set) diags->n == 0. On failure
 * returns IDF_EINVAL (or IDF_EPARSE for YAML syntax), *out stays NULL, and
 * diags holds every problem. reg is the connector table the trigger and the
 * actions are looked up in (borrowed; the flow's action and trigger pointers
 * point into it, so it must outlive the flow; registry_default() for the
 * built-in one). path is used in messages only. ectx is a caller-owned
 * expression context used to compile-check expressions. */
int flow_parse(const struct registry *reg, const char *path, const char *text, size_t len,
               struct expr_ctx *ectx, struct flow **out, struct flow_diags *diags) IDF_MUST_USE;

/* Reads the file (capped at BUF_CAP_WORKFLOW_FILE) and parses it in reg. */
int flow_load_file(const struct registry *reg, const char *path, struct expr_ctx *ectx, struct flow **out,
                   struct flow_diags *diags) IDF_MUST_USE;

/* Prints diags as "path:line:col: message" lines to f (a FILE *). */
void flow_diags_print(const char *path, const struct flow_diags *diags, void *f);

void flow_free(struct flow *f);

/* The index of step id in f, or -1. */
int flow_step_index(const struct flow *f, const char *id);

#endif

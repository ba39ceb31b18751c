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
#define FLOW_PRIORITY_LOW (-1)    /* `priority: low`: claimed after every normal and high run */
#define FLOW_PRIORITY_NORMAL 0    /* no `priority:` */
#define FLOW_PRIORITY_HIGH 1      /* `priority: high`: claimed before every normal and low run */
#define FLOW_MAX_INPUTS 50         /* inputs one trigger declares */
#define FLOW_MAX_INPUT_OPTIONS 100 /* options of one choice input */
#define FLOW_MAX_INPUT_NAME 64     /* length of an input's name */
#define FLOW_MAX_INPUT_TEXT 1000   /* length of a description or an option */

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

/* (helper "inputs") What a caller-started trigger (manual) declares under
 * `inputs:`, in the manner of GitHub Actions' workflow_dispatch inputs: the
 * caller's data is checked against it (flow_inputs_apply) before a run
 * starts. */
enum flow_input_type {
    FLOW_INPUT_STRING = 0, /* a JSON string (the default type) */
    FLOW_INPUT_NUMBER,     /* any JSON number */
    FLOW_INPUT_INTEGER,    /* a JSON integer */
    FLOW_INPUT_BOOLEAN,    /* true or false */
    FLOW_INPUT_CHOICE,     /* a string among options */
};

struct flow_input {
    char *name;                /* [A-Za-z_][A-Za-z0-9_]*, so .event.data.<name> reads it */
    enum flow_input_type type;
    bool required;             /* a value must be given (or come from the default) */
    char *description;         /* or NULL */
    json_t *def;               /* the default, of the input's type, or NULL */
    char **options;            /* choice: the allowed strings, in order */
    size_t n_options;
    struct flow_pos at;        /* where its name is written */
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
    int priority;                     /* `priority: high | normal | low`: FLOW_PRIORITY_*; absent: normal */
    bool has_inputs;                  /* the trigger declares `inputs:` (possibly none): data is checked */
    struct flow_input *inputs;        /* the declared inputs, in the file's order */
    size_t n_inputs;
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

/* (helper "inputs") The type's name as written in a workflow ("string" ...). */
const char *flow_input_type_name(enum flow_input_type t);

/* Checks data, the caller's data for a run of f (it becomes .event.data;
 * NULL or JSON null for none), against f's declared inputs: every key is a
 * declared input, every value has its input's type (a choice one of its
 * options), every required input has a non-empty value; a missing input
 * with a default gets it. On success *out is the data to start the run with
 * (new reference, caller decrefs; NULL when data was NULL and f declares no
 * inputs). A workflow without `inputs:` takes data as it is (*out is data,
 * another reference). On failure returns IDF_EINVAL with err naming the
 * input ("input 'login' is required"), *out NULL. Any thread. */
int flow_inputs_apply(const struct flow *f, const json_t *data, json_t **out, struct idf_err *err) IDF_MUST_USE;

/* The input called name in f, or NULL. */
const struct flow_input *flow_input_find(const struct flow *f, const char *name);

/* A value for in read from command-line text: a string or choice as it is,
 * a number, an integer or a boolean (true/false) parsed. New reference in
 * *out; IDF_EINVAL with err naming the input when the text is not of its
 * type. */
int flow_input_from_text(const struct flow_input *in, const char *text, json_t **out, struct idf_err *err)
    IDF_MUST_USE;

/* The index of step id in f, or -1. */
int flow_step_index(const struct flow *f, const char *id);

#endif

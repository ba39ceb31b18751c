/* flow_internal.h — shared between the files of src/flow/ only.
 *
 *   yaml.c   YAML text -> a tree of flow__ynode with line:column marks
 *   yvalue.c what the nodes mean: typed scalars, JSON, positions inside scalars
 *   diag.c   diagnostics, "did you mean" suggestions, printing
 *   check.c  jq expressions and ${{ }} templates, `.steps.<id>` references
 *   step.c   one step: id, do, with (typed parameters), if, foreach, retry ...
 *   flow.c   the top level: name, on, when, vars, steps; load, hash, free
 *   inputs.c a caller-started trigger's `inputs:`, and checking data against them
 *
 * The tree is built once per parse and thrown away after the model is built;
 * nothing here is shared between threads. */
#ifndef IDF_FLOW_FLOW_INTERNAL_H
#define IDF_FLOW_FLOW_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "flow/flow.h"

#define FLOW__YAML_MAX_DEPTH 64       /* nesting of mappings and sequences */
#define FLOW__YAML_MAX_NODES 100000   /* nodes in one document */
#define FLOW__MAX_NAME 128            /* workflow name length */
#define FLOW__MAX_ID 64               /* step id length */
#define FLOW__MAX_EXPRESSIONS 500     /* distinct jq expressions per file (~17 ms to compile each) */
#define FLOW__DEFAULT_BACKOFF_MS 1000
#define FLOW__DEFAULT_MAX_DELAY_MS 300000

/* ---- the YAML tree (yaml.c) ---- */

enum flow__ykind { FLOW__Y_SCALAR, FLOW__Y_MAP, FLOW__Y_SEQ };

/* What a scalar means: plain scalars resolve (YAML 1.2 core schema, decimal
 * only), every quoted, block or tagged-!!str scalar is a string. */
enum flow__yval { FLOW__V_NULL, FLOW__V_BOOL, FLOW__V_INT, FLOW__V_REAL, FLOW__V_STRING };

enum flow__ystyle { FLOW__S_PLAIN, FLOW__S_QUOTED, FLOW__S_LITERAL, FLOW__S_FOLDED };

struct flow__ynode {
    enum flow__ykind kind;
    int line, col;              /* 1-based start of the node (the quote of a quoted scalar) */
    char *text;                 /* scalar: NUL-terminated value, no embedded NUL */
    size_t len;                 /* scalar: strlen(text) */
    enum flow__ystyle style;    /* scalar: how it was written */
    bool resolve;               /* scalar: plain and untagged, so `true`/`1`/`null` are typed */
    int text_line, text_col;    /* scalar: where text[0] sits when `exact`, else 0 */
    bool exact;                 /* scalar: text is verbatim in the source (offsets map to columns) */
    struct flow__ynode **kids;  /* seq: items; map: key0, value0, key1, value1 ... */
    size_t n;                   /* number of kids (a map holds n / 2 pairs) */
    size_t cap;                 /* allocated kids */
};

/* One parsed document. The source is borrowed for the life of the doc. */
struct flow__ydoc {
    struct flow__ynode *root;   /* NULL for an empty stream */
    const char *src;            /* borrowed */
    size_t len;
    size_t *line_off;           /* byte offset of each line start */
    size_t n_lines;
    size_t n_nodes;             /* nodes built, capped at FLOW__YAML_MAX_NODES */
};

/* Parses src into doc (doc is overwritten). Syntax errors, aliases, tags,
 * duplicate keys, nesting and node caps are reported into d. Returns 0 (the
 * tree may still carry reported problems such as a duplicate key: d->n > 0),
 * IDF_EPARSE when the text is not YAML (doc->root is NULL then), IDF_ENOMEM.
 * The caller frees with flow__yaml_free() in every case. */
int flow__yaml_load(struct flow__ydoc *doc, const char *src, size_t len, struct flow_diags *d)
    IDF_MUST_USE;
void flow__yaml_free(struct flow__ydoc *doc);

/* ---- what the nodes mean (yvalue.c) ---- */

/* The value of key in a mapping, or NULL. */
const struct flow__ynode *flow__ymap_get(const struct flow__ynode *map, const char *key);

/* The meaning of a scalar (see enum flow__yval). */
enum flow__yval flow__yresolve(const struct flow__ynode *n);

/* A short description for messages: "a string", "a mapping", "true or false" ... */
const char *flow__ydescribe(const struct flow__ynode *n);

/* The node as JSON (plain scalars typed; integers beyond int64 stay strings).
 * New reference, or NULL when out of memory. */
json_t *flow__yjson(const struct flow__ynode *n);

/* line:column of byte offset off inside a scalar's text; the node's own start
 * when that cannot be known exactly. */
void flow__ypos(const struct flow__ydoc *doc, const struct flow__ynode *n, size_t off, int *line,
                int *col);

/* Characters (not continuation bytes) in the first nbytes of s. */
size_t flow__utf8_chars(const char *s, size_t nbytes);

/* ---- diagnostics (diag.c) ---- */

/* Records one problem; when the list is full, sets d->truncated. */
void flow__diag(struct flow_diags *d, int line, int col, const char *fmt, ...) IDF_PRINTF(4, 5);

/* Sorts d by line, then column (stable). */
void flow__diags_sort(struct flow_diags *d);

/* "Did you mean" over candidates offered one by one. */
struct flow__suggest {
    const char *word;
    const char *best; /* borrowed candidate, or NULL */
    size_t dist;
};
void flow__suggest_init(struct flow__suggest *s, const char *word);
void flow__suggest_add(struct flow__suggest *s, const char *cand);
/* The closest candidate when it is close enough to be a likely typo, or NULL. */
const char *flow__suggest_best(const struct flow__suggest *s);

/* ---- expressions (check.c) ---- */

struct expr_ctx;

/* What an expression may refer to. Steps [0, self) are defined earlier;
 * self == -1 means workflow level (when, vars), where no step has run yet. */
struct flow__xctx {
    struct expr_ctx *ectx;         /* borrowed */
    const struct registry *reg;    /* borrowed: where actions and triggers are looked up */
    struct flow_diags *d;          /* borrowed */
    const struct flow__ydoc *doc;  /* borrowed */
    const struct flow *f;          /* steps[].id filled (may be NULL for a bad step) */
    const int *step_line;          /* line of each step, for "defined later" messages */
    long self;
    const char *where;             /* self == -1: "when", "when_any" or "vars" */
    char **seen;                   /* distinct expression texts checked so far (owned) */
    size_t n_seen, cap_seen;       /* entries used and allocated in seen */
    size_t n_lost;                 /* distinct ones not kept (out of memory), still counted */
    bool cap_reported;
};

/* Frees what the context accumulated (the list of expressions seen). */
void flow__xctx_clear(struct flow__xctx *x);

/* Checks a bare jq expression: the scalar n's whole text. `what` names the
 * place ("if", "when") for messages. */
void flow__check_jq(struct flow__xctx *x, const struct flow__ynode *n, const char *what);

/* Scans every string scalar under n (values, not keys) for ${{ }} templates
 * and checks each embedded expression; templates in keys are refused. */
void flow__check_templates(struct flow__xctx *x, const struct flow__ynode *n);

/* True when s is exactly one "${{ ... }}" (surrounding spaces allowed). */
bool flow__whole_template(const char *s);

/* ---- steps (step.c) ---- */

/* Parses the step node n into s (s zeroed by the caller; s->id already set by
 * pass one when it was valid). All problems go to x->d. Returns IDF_ENOMEM or 0. */
int flow__step_parse(struct flow__xctx *x, const struct flow__ynode *n, struct flow_step *s)
    IDF_MUST_USE;

/* Checks literal parameters (n: a mapping, a null scalar or NULL for none)
 * against descriptors (an action's `with:` or a trigger's parameters) and
 * builds the JSON object into *out (new reference). Missing required
 * parameters are reported at `at`. `owner` names the action or trigger in
 * messages; set_like accepts any key (the `set` step); templates_ok allows
 * ${{ }} (and checks it). Returns IDF_ENOMEM or 0. */
struct conn_param;
int flow__params(struct flow__xctx *x, const struct flow__ynode *n, const struct flow__ynode *at,
                 const char *owner, const struct conn_param *params, bool set_like,
                 bool templates_ok, json_t **out) IDF_MUST_USE;

/* Duration value of a scalar (string "30s" or integer seconds); false when invalid. */
bool flow__duration(const struct flow__ynode *n, int64_t *ms_out);

void flow__step_clear(struct flow_step *s);

/* ---- inputs (inputs.c) ---- */

/* Reads the `inputs:` value v of a trigger that takes inputs into f
 * (has_inputs, inputs, n_inputs); problems go to x->d. IDF_ENOMEM or 0. */
int flow__inputs_parse(struct flow__xctx *x, const struct flow__ynode *v, struct flow *f) IDF_MUST_USE;

/* Frees f's inputs (f itself stays). */
void flow__inputs_clear(struct flow *f);

#endif

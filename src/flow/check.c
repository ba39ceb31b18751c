/* check.c — compile-checks the jq of a workflow (bare expressions in when,
 * when_any and if; ${{ }} templates anywhere under with, vars and foreach)
 * and checks that every `.steps.<id>` reference names an earlier step.
 *
 * Compiling is expr_check()'s (src/expr), which also enforces the fence;
 * this file only finds the expressions, places errors at line:column, and
 * caps the number of different expressions per file (FLOW__MAX_EXPRESSIONS:
 * compiling is the slow part of validation; a repeated one is cached). The reference scan is textual: `.steps.NAME`,
 * `.steps."NAME"` and `.steps["NAME"]` not preceded by a name character, so
 * `.event.steps.x` is not a reference; computed keys (`.steps[$k]`) are not
 * followed. Called by flow_parse() on its thread. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "flow/flow_internal.h"

static bool ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static long find_step(const struct flow *f, const char *name)
{
    for (size_t i = 0; i < f->n_steps; i++) {
        if (f->steps[i].id && strcmp(f->steps[i].id, name) == 0)
            return (long)i;
    }
    return -1;
}

static void ref_problem(struct flow__xctx *x, const char *name, bool before_dash, int line, int col)
{
    long j = find_step(x->f, name);
    const struct flow_step *self = x->self >= 0 ? &x->f->steps[x->self] : NULL;

    if (j >= 0 && x->self < 0) {
        flow__diag(x->d, line, col,
                   "'%s' refers to step '%s', but no step has run when '%s' is evaluated", x->where,
                   name, x->where);
    } else if (j >= 0 && j == x->self) {
        flow__diag(x->d, line, col, "step '%s' refers to its own output", name);
    } else if (j > x->self) {
        flow__diag(x->d, line, col,
                   "step '%s' is defined later (line %d); a step can only use the output of "
                   "steps before it",
                   name, x->step_line[j]);
    } else if (j < 0) {
        struct flow__suggest sg;
        const char *best;
        char dashed[FLOW__MAX_ID + 8] = "";
        flow__suggest_init(&sg, name);
        for (size_t i = 0; i < x->f->n_steps; i++) {
            const char *id = x->f->steps[i].id;
            if (!id)
                continue;
            flow__suggest_add(&sg, id);
            if (before_dash && strncmp(id, name, strlen(name)) == 0 && id[strlen(name)] == '-')
                snprintf(dashed, sizeof dashed, "%s", id);
        }
        best = flow__suggest_best(&sg);
        if (dashed[0])
            flow__diag(x->d, line, col,
                       "no step '%s' (for the id '%s' write .steps[\"%s\"]: '-' is jq's minus)",
                       name, dashed, dashed);
        else if (best)
            flow__diag(x->d, line, col, "no step '%s' is defined (did you mean '%s'?)", name, best);
        else if (self && self->id)
            flow__diag(x->d, line, col, "no step '%s' is defined before step '%s'", name, self->id);
        else
            flow__diag(x->d, line, col, "no step '%s' is defined", name);
    }
}

/* Reads a "name" (no escapes) at p; returns the end after the quote or NULL. */
static const char *quoted_name(const char *p, char *name, size_t cap)
{
    size_t n = 0;

    if (*p != '"')
        return NULL;
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' || n + 1 >= cap)
            return NULL;
        name[n++] = *p;
    }
    if (*p != '"')
        return NULL;
    name[n] = '\0';
    return p + 1;
}

/* Finds the .steps references in jq; base is the byte offset of jq[0] in n's text. */
static void scan_refs(struct flow__xctx *x, const char *jq, const struct flow__ynode *n, size_t base)
{
    for (const char *p = strstr(jq, ".steps"); p; p = strstr(p + 1, ".steps")) {
        const char *q = p + 6;
        char name[FLOW__MAX_ID + 2];
        size_t len = 0;
        bool dash = false;
        int line, col;

        if (p > jq && (ident_char(p[-1]) || strchr("$])\".", p[-1])))
            continue;
        if (ident_char(*q))
            continue;
        if (*q == '.' && ident_start(q[1])) {
            q++;
            while (len <= FLOW__MAX_ID && ident_char(q[len]))
                len++;
            if (len > FLOW__MAX_ID)
                continue;
            memcpy(name, q, len);
            name[len] = '\0';
            dash = q[len] == '-';
        } else if (*q == '.' && q[1] == '"') {
            if (!quoted_name(q + 1, name, sizeof name))
                continue;
        } else if (*q == '[') {
            const char *e;
            q++;
            while (*q == ' ')
                q++;
            e = quoted_name(q, name, sizeof name);
            while (e && *e == ' ')
                e++;
            if (!e || *e != ']')
                continue;
        } else {
            continue;
        }
        flow__ypos(x->doc, n, base + (size_t)(p - jq), &line, &col);
        ref_problem(x, name, dash, line, col);
    }
}

static bool seen(const struct flow__xctx *x, const char *jq)
{
    for (size_t i = 0; i < x->n_seen; i++) {
        if (strcmp(x->seen[i], jq) == 0)
            return true;
    }
    return false;
}

/* Adds jq to the distinct expressions. Out of memory only loses the entry:
 * it is still counted (n_lost), so the cap holds. */
static void remember(struct flow__xctx *x, const char *jq)
{
    char *copy = strdup(jq);

    if (copy && x->n_seen == x->cap_seen) {
        size_t ncap = x->cap_seen ? x->cap_seen * 2 : 32;
        char **p = realloc(x->seen, ncap * sizeof *p);
        if (p) {
            x->seen = p;
            x->cap_seen = ncap;
        }
    }
    if (copy && x->n_seen < x->cap_seen) {
        x->seen[x->n_seen++] = copy;
    } else {
        free(copy);
        x->n_lost++;
    }
}

void flow__xctx_clear(struct flow__xctx *x)
{
    for (size_t i = 0; i < x->n_seen; i++)
        free(x->seen[i]);
    free(x->seen);
    x->seen = NULL;
    x->n_seen = x->cap_seen = x->n_lost = 0;
}

/* Compiles one expression found at byte offset base of n's text. */
static void check_expr(struct flow__xctx *x, const char *jq, const struct flow__ynode *n, size_t base,
                       const char *what)
{
    struct idf_err err;
    int line, col;

    flow__ypos(x->doc, n, base, &line, &col);
    if (!seen(x, jq)) {
        if (x->n_seen + x->n_lost >= FLOW__MAX_EXPRESSIONS) {
            if (!x->cap_reported)
                flow__diag(x->d, line, col, "more than %d different expressions in one workflow",
                           FLOW__MAX_EXPRESSIONS);
            x->cap_reported = true;
            return;
        }
        remember(x, jq);
    }
    idf_err_clear(&err);
    if (expr_check(x->ectx, jq, &err) != 0)
        flow__diag(x->d, line, col, "bad jq in %s: %s", what,
                   err.msg[0] ? err.msg : "does not compile");
    scan_refs(x, jq, n, base);
}

static bool blank(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

void flow__check_jq(struct flow__xctx *x, const struct flow__ynode *n, const char *what)
{
    if (blank(n->text)) {
        flow__diag(x->d, n->line, n->col, "'%s' needs a jq expression", what);
        return;
    }
    if (expr_has_template(n->text)) {
        flow__diag(x->d, n->line, n->col,
                   "'%s' is a bare jq expression: write it without ${{ }}", what);
        return;
    }
    check_expr(x, n->text, n, 0, what);
}

struct scan_state {
    struct flow__xctx *x;
    const struct flow__ynode *n;
    const char *s;           /* the scalar text */
    size_t count;            /* templates seen */
    size_t first_off;        /* of the first "${{" */
    size_t first_end;        /* just past the first expression's text, or SIZE_MAX */
};

/* Where the jq text sits inside s: after "${{" at off (the scanner may trim it). */
static size_t jq_offset(const char *s, const char *jq, size_t off)
{
    const char *at = strstr(s + off + 3, jq);
    return at ? (size_t)(at - s) : off;
}

static int on_template(void *ud, const char *jq, size_t offset)
{
    struct scan_state *st = ud;
    size_t at = jq_offset(st->s, jq, offset);

    if (st->count++ == 0) {
        st->first_off = offset;
        st->first_end = at != offset ? at + strlen(jq) : SIZE_MAX;
    }
    if (!st->x)
        return 0;
    if (blank(jq)) {
        int line, col;
        flow__ypos(st->x->doc, st->n, offset, &line, &col);
        flow__diag(st->x->d, line, col, "empty ${{ }}");
        return 0;
    }
    check_expr(st->x, jq, st->n, at, "${{ }}");
    return 0;
}

bool flow__whole_template(const char *s)
{
    struct scan_state st;
    size_t lead = 0, len = strlen(s), end;

    memset(&st, 0, sizeof st);
    st.s = s;
    while (s[lead] && strchr(" \t\r\n", s[lead]))
        lead++;
    while (len > lead && strchr(" \t\r\n", s[len - 1]))
        len--;
    if (len - lead < 5 || strncmp(s + lead, "${{", 3) != 0 || strncmp(s + len - 2, "}}", 2) != 0)
        return false;
    if (expr_template_scan(s, on_template, &st, NULL) != 0 || st.count != 1 || st.first_off != lead)
        return false;
    if (st.first_end == SIZE_MAX)
        return true; /* cannot see where the expression ends: trust the shape */
    end = st.first_end;
    while (end < len && isspace((unsigned char)s[end]))
        end++;
    return end + 2 == len;
}

static void scan_scalar(struct flow__xctx *x, const struct flow__ynode *n)
{
    struct scan_state st;
    size_t bad = 0;
    int rc;

    if (!expr_has_template(n->text))
        return;
    memset(&st, 0, sizeof st);
    st.x = x;
    st.n = n;
    st.s = n->text;
    rc = expr_template_scan(n->text, on_template, &st, &bad);
    if (rc == IDF_EPARSE) {
        int line, col;
        flow__ypos(x->doc, n, bad <= n->len ? bad : 0, &line, &col);
        flow__diag(x->d, line, col, "unterminated '${{' (no closing '}}')");
    }
}

void flow__check_templates(struct flow__xctx *x, const struct flow__ynode *n)
{
    if (!n)
        return;
    switch (n->kind) {
    case FLOW__Y_SCALAR: scan_scalar(x, n); break;
    case FLOW__Y_SEQ:
        for (size_t i = 0; i < n->n; i++)
            flow__check_templates(x, n->kids[i]);
        break;
    case FLOW__Y_MAP:
        for (size_t i = 0; i + 1 < n->n; i += 2) {
            if (expr_has_template(n->kids[i]->text))
                flow__diag(x->d, n->kids[i]->line, n->kids[i]->col,
                           "templates are not allowed in keys ('%s')", n->kids[i]->text);
            flow__check_templates(x, n->kids[i + 1]);
        }
        break;
    }
}

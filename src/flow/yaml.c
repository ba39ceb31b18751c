/* yaml.c — a small YAML reader: one document of libyaml events -> a tree of
 * flow__ynode (mappings, sequences, scalars) that keeps line:column for every
 * key and value (what the values mean is yvalue.c's).
 *
 * It owns the YAML subset workflows use and the refusals that keep hostile
 * input cheap: aliases are refused (no billion laughs: a tree is never
 * larger than its text), nesting is capped at FLOW__YAML_MAX_DEPTH, the node
 * count at FLOW__YAML_MAX_NODES, a second document and tags other than !!str
 * are errors, duplicate keys are errors (the first one is kept). The size cap
 * of the text is the caller's (flow.c).
 *
 * Called by flow_parse() on whatever thread parses; no shared state.
 * Invariant of the builder: every node on the frame stack is owned by the
 * stack (not yet attached to its parent); on failure the stack is freed. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "flow/flow_internal.h"

#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_MAP "tag:yaml.org,2002:map"
#define TAG_SEQ "tag:yaml.org,2002:seq"
#define TAG_STD "tag:yaml.org,2002:"

struct frame {
    struct flow__ynode *node; /* the open mapping or sequence (owned by the stack) */
    struct flow__ynode *key;  /* map: the key waiting for its value, or NULL */
    bool have_key;            /* map: the next child is a value */
    bool drop;                /* map: the pending pair is dropped (duplicate or bad key) */
};

struct builder {
    struct flow__ydoc *doc;
    struct flow_diags *d;
    struct frame stack[FLOW__YAML_MAX_DEPTH];
    int depth;
    bool alias_reported; /* one message per file is enough */
    bool cur_valid;      /* mark_offset's cursor: (line, col) is at byte cur_off */
    size_t cur_line, cur_col, cur_off;
};

/* "!!int" for the standard tags, the tag as written otherwise. */
static void bad_tag(struct builder *b, const struct flow__ynode *n, const char *tag)
{
    size_t sl = strlen(TAG_STD);
    if (strncmp(tag, TAG_STD, sl) == 0)
        flow__diag(b->d, n->line, n->col, "YAML tags are not supported ('!!%s')", tag + sl);
    else
        flow__diag(b->d, n->line, n->col, "YAML tags are not supported ('%s')", tag);
}

static void node_free(struct flow__ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

size_t flow__utf8_chars(const char *s, size_t nbytes)
{
    size_t c = 0;
    for (size_t i = 0; i < nbytes && s[i]; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Byte offset of (0-based line, 0-based column in characters), or SIZE_MAX.
 * Marks arrive in source order, so the walk resumes from the last answer:
 * linear over a long line instead of quadratic. */
static size_t mark_offset(struct builder *b, size_t line, size_t col)
{
    const struct flow__ydoc *doc = b->doc;
    size_t p, c = 0;

    if (line >= doc->n_lines)
        return SIZE_MAX;
    p = doc->line_off[line];
    if (b->cur_valid && b->cur_line == line && b->cur_col <= col) {
        p = b->cur_off;
        c = b->cur_col;
    }
    while (c < col && p < doc->len && doc->src[p] != '\n') {
        p++;
        while (p < doc->len && ((unsigned char)doc->src[p] & 0xC0) == 0x80)
            p++;
        c++;
    }
    if (c != col)
        return SIZE_MAX;
    b->cur_valid = true;
    b->cur_line = line;
    b->cur_col = col;
    b->cur_off = p;
    return p;
}

static int build_lines(struct flow__ydoc *doc)
{
    size_t n = 1;

    for (size_t i = 0; i < doc->len; i++)
        n += doc->src[i] == '\n';
    doc->line_off = malloc(n * sizeof *doc->line_off);
    if (!doc->line_off)
        return IDF_ENOMEM;
    doc->line_off[0] = 0;
    doc->n_lines = 1;
    for (size_t i = 0; i < doc->len; i++) {
        if (doc->src[i] == '\n')
            doc->line_off[doc->n_lines++] = i + 1;
    }
    return 0;
}

static struct flow__ynode *node_new(struct builder *b, enum flow__ykind kind, const yaml_mark_t *m)
{
    struct flow__ynode *n;

    if (b->doc->n_nodes >= FLOW__YAML_MAX_NODES)
        return NULL;
    n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    b->doc->n_nodes++;
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

static int push_kid(struct flow__ynode *parent, struct flow__ynode *kid)
{
    if (parent->n == parent->cap) {
        size_t ncap = parent->cap ? parent->cap * 2 : 4;
        struct flow__ynode **k = realloc(parent->kids, ncap * sizeof *k);
        if (!k)
            return IDF_ENOMEM;
        parent->kids = k;
        parent->cap = ncap;
    }
    parent->kids[parent->n++] = kid;
    return 0;
}

/* Hands a finished node to the open container (or makes it the root). */
static int attach(struct builder *b, struct flow__ynode *c)
{
    struct frame *fr;

    if (b->depth == 0) {
        if (b->doc->root)
            node_free(b->doc->root);
        b->doc->root = c;
        return 0;
    }
    fr = &b->stack[b->depth - 1];
    if (fr->node->kind == FLOW__Y_SEQ) {
        if (push_kid(fr->node, c)) {
            node_free(c);
            return IDF_ENOMEM;
        }
        return 0;
    }
    if (!fr->have_key) {
        fr->have_key = true;
        fr->drop = false;
        fr->key = c;
        if (c->kind != FLOW__Y_SCALAR) {
            flow__diag(b->d, c->line, c->col, "a mapping key must be plain text, not %s",
                       flow__ydescribe(c));
            fr->drop = true;
            return 0;
        }
        for (size_t i = 0; i < fr->node->n; i += 2) {
            const struct flow__ynode *k = fr->node->kids[i];
            if (strcmp(k->text, c->text) == 0) {
                flow__diag(b->d, c->line, c->col, "duplicate key '%s' (first at line %d)", c->text,
                           k->line);
                fr->drop = true;
                break;
            }
        }
        return 0;
    }
    fr->have_key = false;
    if (fr->drop) {
        node_free(fr->key);
        node_free(c);
        fr->key = NULL;
        return 0;
    }
    if (push_kid(fr->node, fr->key)) {
        node_free(fr->key);
        node_free(c);
        fr->key = NULL;
        return IDF_ENOMEM;
    }
    fr->key = NULL;
    if (push_kid(fr->node, c)) {
        fr->node->n--; /* the key went in, its value did not: drop the pair */
        node_free(fr->node->kids[fr->node->n]);
        node_free(c);
        return IDF_ENOMEM;
    }
    return 0;
}

static void scalar_exact(struct builder *b, struct flow__ynode *n, const yaml_event_t *ev)
{
    const yaml_mark_t *s = &ev->start_mark;
    size_t off;
    int skip = n->style == FLOW__S_QUOTED ? 1 : 0;

    if (n->style == FLOW__S_LITERAL || n->style == FLOW__S_FOLDED)
        return;
    if (ev->end_mark.line != s->line || memchr(n->text, '\n', n->len))
        return;
    off = mark_offset(b, s->line, s->column);
    if (off == SIZE_MAX || off + skip + n->len > b->doc->len)
        return;
    if (memcmp(b->doc->src + off + skip, n->text, n->len) != 0)
        return;
    n->exact = true;
    n->text_line = n->line;
    n->text_col = n->col + skip;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    const char *tag = (const char *)ev->data.scalar.tag;
    struct flow__ynode *n = node_new(b, FLOW__Y_SCALAR, &ev->start_mark);
    size_t len = ev->data.scalar.length;

    if (!n)
        return b->doc->n_nodes >= FLOW__YAML_MAX_NODES ? IDF_ETOOBIG : IDF_ENOMEM;
    if (memchr(ev->data.scalar.value, '\0', len)) {
        flow__diag(b->d, n->line, n->col, "text contains a NUL character");
        len = strlen((const char *)ev->data.scalar.value);
    }
    n->text = strndup((const char *)ev->data.scalar.value, len);
    if (!n->text) {
        free(n);
        return IDF_ENOMEM;
    }
    n->len = len;
    switch (ev->data.scalar.style) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: n->style = FLOW__S_QUOTED; break;
    case YAML_LITERAL_SCALAR_STYLE: n->style = FLOW__S_LITERAL; break;
    case YAML_FOLDED_SCALAR_STYLE: n->style = FLOW__S_FOLDED; break;
    default: n->style = FLOW__S_PLAIN; break;
    }
    n->resolve = n->style == FLOW__S_PLAIN && !tag;
    if (tag && strcmp(tag, "!") != 0 && strcmp(tag, TAG_STR) != 0)
        bad_tag(b, n, tag);
    scalar_exact(b, n, ev);
    return attach(b, n);
}

/* An alias stands in the tree as a null, so the rest is still checked. */
static int on_alias(struct builder *b, const yaml_mark_t *m)
{
    struct flow__ynode *n = node_new(b, FLOW__Y_SCALAR, m);

    if (!n)
        return b->doc->n_nodes >= FLOW__YAML_MAX_NODES ? IDF_ETOOBIG : IDF_ENOMEM;
    n->text = strdup("");
    if (!n->text) {
        free(n);
        return IDF_ENOMEM;
    }
    n->resolve = true;
    return attach(b, n);
}

static int on_start(struct builder *b, const yaml_event_t *ev, enum flow__ykind kind)
{
    const char *tag = (const char *)(kind == FLOW__Y_MAP ? ev->data.mapping_start.tag
                                                         : ev->data.sequence_start.tag);
    struct flow__ynode *n;

    if (b->depth >= FLOW__YAML_MAX_DEPTH) {
        flow__diag(b->d, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                   "nested deeper than %d levels", FLOW__YAML_MAX_DEPTH);
        return IDF_EPARSE;
    }
    n = node_new(b, kind, &ev->start_mark);
    if (!n)
        return b->doc->n_nodes >= FLOW__YAML_MAX_NODES ? IDF_ETOOBIG : IDF_ENOMEM;
    if (tag && strcmp(tag, kind == FLOW__Y_MAP ? TAG_MAP : TAG_SEQ) != 0)
        bad_tag(b, n, tag);
    b->stack[b->depth].node = n;
    b->stack[b->depth].key = NULL;
    b->stack[b->depth].have_key = false;
    b->stack[b->depth].drop = false;
    b->depth++;
    return 0;
}

static int on_end(struct builder *b)
{
    struct flow__ynode *n;

    if (b->depth == 0)
        return IDF_EPARSE; /* libyaml never does this; do not trust it blindly */
    b->depth--;
    n = b->stack[b->depth].node;
    node_free(b->stack[b->depth].key); /* a key without a value cannot happen; be safe */
    b->stack[b->depth].node = NULL;
    b->stack[b->depth].key = NULL;
    return attach(b, n);
}

/* A line:column for a libyaml error, and a hint for the two classic mistakes. */
static void syntax_error(struct builder *b, const yaml_parser_t *p)
{
    const struct flow__ydoc *doc = b->doc;
    size_t line = p->problem_mark.line, col = p->problem_mark.column;
    const char *hint = "";
    const char *problem = p->problem ? p->problem : "malformed YAML";
    char ctx[160] = "";

    if (p->error == YAML_READER_ERROR) {
        size_t off = p->problem_offset < doc->len ? p->problem_offset : doc->len;
        line = 0;
        for (size_t i = 0; i < doc->n_lines && doc->line_off[i] <= off; i++)
            line = i;
        col = flow__utf8_chars(doc->src + doc->line_off[line], off - doc->line_off[line]);
    }
    if (p->context)
        snprintf(ctx, sizeof ctx, " (%s at line %zu)", p->context, p->context_mark.line + 1);
    if (line < doc->n_lines) {
        const char *ls = doc->src + doc->line_off[line];
        const char *le = memchr(ls, '\n', doc->len - doc->line_off[line]);
        size_t ll = le ? (size_t)(le - ls) : doc->len - doc->line_off[line];
        if (memmem(ls, ll, "${{", 3) && p->context && strstr(p->context, "flow"))
            hint = "; inside { } or [ ], put templates in quotes: \"${{ ... }}\"";
        else if (strstr(problem, "mapping values are not allowed"))
            hint = "; a value that contains ': ' must be quoted";
    }
    flow__diag(b->d, (int)line + 1, (int)col + 1, "YAML syntax error: %s%s%s", problem, ctx, hint);
}

int flow__yaml_load(struct flow__ydoc *doc, const char *src, size_t len, struct flow_diags *d)
{
    struct builder b;
    yaml_parser_t p;
    yaml_event_t ev;
    bool have_ev = false;
    int docs = 0;
    int rc = 0;

    memset(doc, 0, sizeof *doc);
    doc->src = src;
    doc->len = len;
    memset(&b, 0, sizeof b);
    b.doc = doc;
    b.d = d;
    if (build_lines(doc))
        return IDF_ENOMEM;
    if (!yaml_parser_initialize(&p))
        return IDF_ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)src, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    for (;;) {
        yaml_mark_t m;
        if (!yaml_parser_parse(&p, &ev)) {
            if (p.error == YAML_MEMORY_ERROR) {
                rc = IDF_ENOMEM;
            } else {
                syntax_error(&b, &p);
                rc = IDF_EPARSE;
            }
            goto out;
        }
        have_ev = true;
        m = ev.start_mark;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (docs++ > 0) {
                flow__diag(d, (int)m.line + 1, (int)m.column + 1,
                           "a workflow file holds one YAML document (found a second '---')");
                rc = IDF_EPARSE;
            }
            break;
        case YAML_ALIAS_EVENT:
            if (!b.alias_reported)
                flow__diag(d, (int)m.line + 1, (int)m.column + 1,
                           "YAML aliases (*%s) are not supported: write the value out",
                           (const char *)ev.data.alias.anchor);
            b.alias_reported = true;
            rc = on_alias(&b, &m);
            break;
        case YAML_SCALAR_EVENT: rc = on_scalar(&b, &ev); break;
        case YAML_SEQUENCE_START_EVENT: rc = on_start(&b, &ev, FLOW__Y_SEQ); break;
        case YAML_MAPPING_START_EVENT: rc = on_start(&b, &ev, FLOW__Y_MAP); break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: rc = on_end(&b); break;
        default: break;
        }
        if (rc == IDF_ETOOBIG) {
            flow__diag(d, (int)m.line + 1, (int)m.column + 1, "more than %d YAML nodes",
                       FLOW__YAML_MAX_NODES);
            rc = IDF_EPARSE;
        }
        if (rc || ev.type == YAML_STREAM_END_EVENT)
            goto out;
        yaml_event_delete(&ev);
        have_ev = false;
    }
out:
    if (have_ev)
        yaml_event_delete(&ev);
    yaml_parser_delete(&p);
    while (b.depth > 0) {
        b.depth--;
        node_free(b.stack[b.depth].node);
        node_free(b.stack[b.depth].key);
    }
    if (rc) {
        node_free(doc->root);
        doc->root = NULL;
    }
    return rc;
}

void flow__yaml_free(struct flow__ydoc *doc)
{
    if (!doc)
        return;
    node_free(doc->root);
    free(doc->line_off);
    memset(doc, 0, sizeof *doc);
}

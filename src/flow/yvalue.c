/* yvalue.c — what the nodes of the YAML tree (yaml.c) mean: scalar
 * resolution (plain `true`, `12`, `null` are typed; quoted, block and !!str
 * scalars are strings), conversion to JSON, descriptions for messages, and
 * the line:column of a byte offset inside a scalar.
 *
 * Resolution follows the YAML 1.2 core schema for null, booleans and
 * decimal numbers only: `yes`/`no`/`on`/`off`, octal, hex and `.inf` stay
 * strings. Integers beyond int64 stay strings so an id never changes.
 * Stateless; any thread. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flow/flow_internal.h"

const struct flow__ynode *flow__ymap_get(const struct flow__ynode *map, const char *key)
{
    if (!map || map->kind != FLOW__Y_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        if (strcmp(map->kids[i]->text, key) == 0)
            return map->kids[i + 1];
    }
    return NULL;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

static bool is_real(const char *s)
{
    bool digits = false;

    if (*s == '+' || *s == '-')
        s++;
    while (*s >= '0' && *s <= '9') {
        s++;
        digits = true;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            s++;
            digits = true;
        }
    }
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!all_digits(s))
            return false;
        return true;
    }
    return *s == '\0';
}

enum flow__yval flow__yresolve(const struct flow__ynode *n)
{
    const char *t;

    if (!n || n->kind != FLOW__Y_SCALAR || !n->resolve)
        return FLOW__V_STRING;
    t = n->text;
    if (!*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL"))
        return FLOW__V_NULL;
    if (!strcmp(t, "true") || !strcmp(t, "True") || !strcmp(t, "TRUE") || !strcmp(t, "false") ||
        !strcmp(t, "False") || !strcmp(t, "FALSE"))
        return FLOW__V_BOOL;
    if (all_digits(t + (*t == '-' || *t == '+')))
        return FLOW__V_INT;
    if (is_real(t))
        return FLOW__V_REAL;
    return FLOW__V_STRING;
}

const char *flow__ydescribe(const struct flow__ynode *n)
{
    if (n->kind == FLOW__Y_MAP)
        return "a mapping";
    if (n->kind == FLOW__Y_SEQ)
        return "a list";
    switch (flow__yresolve(n)) {
    case FLOW__V_NULL: return "null";
    case FLOW__V_BOOL: return "a boolean";
    case FLOW__V_INT: return "an integer";
    case FLOW__V_REAL: return "a number";
    case FLOW__V_STRING: break;
    }
    return "a string";
}

static json_t *scalar_json(const struct flow__ynode *n)
{
    switch (flow__yresolve(n)) {
    case FLOW__V_NULL: return json_null();
    case FLOW__V_BOOL: return json_boolean(n->text[0] == 't' || n->text[0] == 'T');
    case FLOW__V_INT: {
        char *end;
        long long v;
        errno = 0;
        v = strtoll(n->text, &end, 10);
        if (errno == 0 && *end == '\0')
            return json_integer((json_int_t)v);
        break; /* beyond int64: keep the digits (an id must not change) */
    }
    case FLOW__V_REAL: {
        double v = strtod(n->text, NULL);
        if (isfinite(v))
            return json_real(v);
        break;
    }
    case FLOW__V_STRING: break;
    }
    return json_stringn(n->text, n->len);
}

json_t *flow__yjson(const struct flow__ynode *n)
{
    json_t *out;

    if (n->kind == FLOW__Y_SCALAR)
        return scalar_json(n);
    out = n->kind == FLOW__Y_MAP ? json_object() : json_array();
    if (!out)
        return NULL;
    for (size_t i = 0; i < n->n; i += (n->kind == FLOW__Y_MAP ? 2 : 1)) {
        json_t *v = flow__yjson(n->kind == FLOW__Y_MAP ? n->kids[i + 1] : n->kids[i]);
        int rc = !v ? -1
                 : n->kind == FLOW__Y_MAP ? json_object_set_new(out, n->kids[i]->text, v)
                                          : json_array_append_new(out, v);
        if (rc) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

void flow__ypos(const struct flow__ydoc *doc, const struct flow__ynode *n, size_t off, int *line,
                int *col)
{
    *line = n->line;
    *col = n->col;
    if (n->kind != FLOW__Y_SCALAR || off > n->len)
        return;
    if (n->exact) {
        *line = n->text_line;
        *col = n->text_col + (int)flow__utf8_chars(n->text, off);
        return;
    }
    if (n->style == FLOW__S_LITERAL) {
        /* Each value line is one source line after the indicator, minus the indentation. */
        size_t k = 0, ls = 0, le, L, sp_src = 0, sp_val = 0, vlen;
        const char *sl;
        for (size_t i = 0; i < off; i++) {
            if (n->text[i] == '\n') {
                k++;
                ls = i + 1;
            }
        }
        L = (size_t)n->line + k; /* 0-based index of the source line */
        if (L >= doc->n_lines)
            return;
        le = ls;
        while (le < n->len && n->text[le] != '\n')
            le++;
        vlen = le - ls;
        sl = doc->src + doc->line_off[L];
        while (doc->line_off[L] + sp_src < doc->len && sl[sp_src] == ' ')
            sp_src++;
        while (sp_val < vlen && n->text[ls + sp_val] == ' ')
            sp_val++;
        if (sp_src < sp_val || doc->line_off[L] + (sp_src - sp_val) + vlen > doc->len ||
            memcmp(sl + (sp_src - sp_val), n->text + ls, vlen) != 0)
            return;
        *line = (int)L + 1;
        *col = (int)(sp_src - sp_val) + 1 + (int)flow__utf8_chars(n->text + ls, off - ls);
    }
}

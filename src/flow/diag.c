/* diag.c — the list of problems found in a workflow file, "did you mean"
 * suggestions (optimal string alignment distance, so a swap of two letters
 * counts one), and printing as `path:line:col: message`.
 *
 * A flow_diags belongs to the caller of flow_parse(); any thread, no state. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "flow/flow_internal.h"

#define SUGGEST_MAX_LEN 64 /* longer words get no suggestion */

void flow__diag(struct flow_diags *d, int line, int col, const char *fmt, ...)
{
    va_list ap;
    struct flow_diag *g;

    if (d->n >= FLOW_MAX_DIAGS) {
        d->truncated = true;
        return;
    }
    g = &d->items[d->n++];
    g->line = line;
    g->col = col;
    va_start(ap, fmt);
    vsnprintf(g->msg, sizeof g->msg, fmt, ap);
    va_end(ap);
}

void flow__diags_sort(struct flow_diags *d)
{
    /* insertion sort: stable, and n <= FLOW_MAX_DIAGS */
    for (size_t i = 1; i < d->n; i++) {
        struct flow_diag tmp = d->items[i];
        size_t j = i;
        while (j > 0 && (d->items[j - 1].line > tmp.line ||
                         (d->items[j - 1].line == tmp.line && d->items[j - 1].col > tmp.col))) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = tmp;
    }
}

/* Optimal string alignment distance; SIZE_MAX when a word is too long. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[3][SUGGEST_MAX_LEN + 1];

    if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *cur = row[i % 3], *prev = row[(i - 1) % 3], *pp = row[(i + 1) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (prev[j - 1] + cost < v)
                v = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            cur[j] = v;
        }
    }
    return row[la % 3][lb];
}

void flow__suggest_init(struct flow__suggest *s, const char *word)
{
    s->word = word;
    s->best = NULL;
    s->dist = SIZE_MAX;
}

void flow__suggest_add(struct flow__suggest *s, const char *cand)
{
    size_t dist = distance(s->word, cand);
    if (dist < s->dist) {
        s->dist = dist;
        s->best = cand;
    }
}

const char *flow__suggest_best(const struct flow__suggest *s)
{
    size_t len = strlen(s->word);
    size_t limit = len >= 8 ? 3 : len >= 4 ? 2 : 1;

    if (!s->best || s->dist == 0 || s->dist > limit || s->dist >= len)
        return NULL;
    return s->best;
}

void flow_diags_print(const char *path, const struct flow_diags *diags, void *f)
{
    FILE *out = f;

    if (!path)
        path = "<string>";
    for (size_t i = 0; i < diags->n; i++) {
        const struct flow_diag *g = &diags->items[i];
        if (g->line > 0)
            fprintf(out, "%s:%d:%d: %s\n", path, g->line, g->col, g->msg);
        else
            fprintf(out, "%s: %s\n", path, g->msg);
    }
    if (diags->truncated)
        fprintf(out, "%s: more than %d problems; the rest are not shown\n", path, FLOW_MAX_DIAGS);
}

/* template.c — "${{ jq }}" templates: scanning and rendering.
 *
 * A "${{" opens an expression, which ends at the first "}}" that is outside
 * jq string literals and comments and outside the brackets the expression
 * itself opens (lex.c decides): `${{ "}}" }}` and `${{ {a: {b: 1}} }}` are
 * one expression each. Rendering walks objects and arrays; a string that is
 * one template (blanks around it allowed) becomes the first output of the
 * expression with its JSON type; other templates inside a string are
 * interpolated as text (a string as-is, null as "", any other value as the
 * compact JSON jq prints, so 0.1 stays "0.1"). Rendered text is capped at
 * EXPR_MAX_OUTPUT.
 *
 * The input is converted to a jq value once per expr_render call, and only
 * when a template is met. In an isolated context, templates made of plain
 * paths are rendered here and the rest in the evaluator ("fast paths"
 * below). Any thread, with its own expr_ctx. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "expr/expr_internal.h"

#define PATH_MAX_SHOWN 200 /* bytes of the JSON path kept for error messages */

bool expr_has_template(const char *s)
{
    return s && strstr(s, "${{") != NULL;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Finds the next template in s[from, len): the offset of its "${{" in *open
 * and of its "}}" in *close. Returns 1, 0 when there is none, or IDF_EPARSE
 * when the "${{" is not closed. */
static int next_template(const char *s, size_t len, size_t from, size_t *open, size_t *close)
{
    const char *p = from < len ? memmem(s + from, len - from, "${{", 3) : NULL;

    if (!p)
        return 0;
    *open = (size_t)(p - s);
    if (!expr__find_close(s, len, *open + 3, close))
        return IDF_EPARSE;
    return 1;
}

/* The trimmed expression between "${{" at open and "}}" at close, as a new
 * string (caller frees), or NULL when out of memory. */
static char *expr_text(const char *s, size_t open, size_t close)
{
    size_t b = open + 3, e = close;
    while (b < e && is_blank(s[b]))
        b++;
    while (e > b && is_blank(s[e - 1]))
        e--;
    return strndup(s + b, e - b);
}

int expr_template_scan(const char *s, expr_scan_fn fn, void *ud, size_t *bad_offset_out)
{
    size_t len, from = 0, open, close;
    int rc;

    if (!s)
        return 0;
    len = strlen(s);
    while ((rc = next_template(s, len, from, &open, &close)) == 1) {
        char *text = expr_text(s, open, close);
        if (!text)
            return IDF_ENOMEM;
        rc = fn(ud, text, open);
        free(text);
        if (rc)
            return rc;
        from = close + 2;
    }
    if (rc == IDF_EPARSE && bad_offset_out)
        *bad_offset_out = open;
    return rc;
}

/* ---------------------------------------------------------------- rendering */

struct render {
    struct expr_ctx *ctx;
    bool fast;                 /* simple paths only, walked here; anything else is FAST_NO */
    const json_t *input;       /* borrowed */
    jv in;                     /* input as a jq value, once converted */
    bool have_in;              /* in is set */
    char path[PATH_MAX_SHOWN]; /* where in the template we are, ".a[2]" */
    size_t plen;               /* bytes used in path */
};

/* ------------------------------------------------------------ fast paths
 *
 * An isolated context renders in its evaluator process; a round trip costs
 * tens of microseconds, and most templates are plain paths into the input
 * (`${{ .event.user.login }}`). A plain path cannot loop, allocate without
 * bound or reach jq's aborts, so it is walked here, on the jansson input,
 * and its value converted with the very conversion the evaluator applies to
 * its whole input (conv.c): the same value, number for number, as jq would
 * give. Only what is certain is walked: `.`, `.name` on an object or null,
 * `[N]` / `.[N]` (N >= 0) on an array or null. Anything else, including a
 * path that meets another type (jq's error message is jq's to give), is
 * FAST_NO, and the whole template goes to the evaluator. */

#define FAST_NO 1           /* not a plain path: render in the evaluator (a positive code, never an error) */
#define FAST_MAX_INDEX 9    /* digits of an array index walked here */

static bool word_char(char c, bool first)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9');
}

/* jq 1.6 reads these after a "." as keywords, not field names. */
static bool jq_keyword(const char *w, size_t n)
{
    static const char *const kw[] = {"as",  "def",     "if",    "then",   "elif",   "else",    "end",
                                     "and", "or",      "not",   "reduce", "foreach", "try",    "catch",
                                     "label", "import", "include", "__loc__", NULL};
    for (int i = 0; kw[i]; i++)
        if (strlen(kw[i]) == n && memcmp(kw[i], w, n) == 0)
            return true;
    return false;
}

/* Walks the plain path text over in: *node is the value (NULL for null), or FAST_NO. */
static int fast_walk(const json_t *in, const char *text, const json_t **node)
{
    const char *p = text;
    const json_t *cur = in;

    if (*p != '.')
        return FAST_NO;
    if (p[1] == '\0') {
        *node = json_is_null(cur) ? NULL : cur;
        return 0;
    }
    while (*p) {
        if (p[0] == '.' && word_char(p[1], true)) {
            const char *w = ++p;
            while (word_char(*p, false))
                p++;
            if (jq_keyword(w, (size_t)(p - w)))
                return FAST_NO;
            if (cur && !json_is_null(cur) && !json_is_object(cur))
                return FAST_NO;
            cur = cur && json_is_object(cur) ? json_object_getn(cur, w, (size_t)(p - w)) : NULL;
        } else if (p[0] == '[' || (p[0] == '.' && p[1] == '[' && p == text)) {
            const char *d;
            size_t idx = 0;
            p += p[0] == '.' ? 2 : 1;
            for (d = p; *p >= '0' && *p <= '9'; p++)
                idx = idx * 10 + (size_t)(*p - '0');
            if (p == d || p - d > FAST_MAX_INDEX || *p != ']')
                return FAST_NO;
            p++;
            if (cur && !json_is_null(cur) && !json_is_array(cur))
                return FAST_NO;
            cur = cur && json_is_array(cur) ? json_array_get(cur, idx) : NULL;
        } else {
            return FAST_NO;
        }
    }
    *node = cur && !json_is_null(cur) ? cur : NULL;
    return 0;
}

/* Evaluates one template expression; on error the message names the path
 * and the expression. In fast mode, FAST_NO for anything but a plain path. */
static int eval_one(struct render *r, const char *text, jv *out, struct idf_err *err)
{
    int rc;

    if (r->fast) {
        const json_t *node = NULL;
        if (fast_walk(r->input, text, &node))
            return FAST_NO;
        if (!node) {
            *out = jv_null();
            return 0;
        }
        return expr__to_jv(node, out, err);
    }

    if (!r->have_in) {
        rc = expr__to_jv(r->input, &r->in, err);
        if (rc)
            return rc;
        r->have_in = true;
    }
    expr__note_set(r->path, text);
    rc = expr__eval_jv(r->ctx, text, r->in, out, err);
    if (rc)
        idf_err_prefix(err, "%s%s${{ %.60s%s }}: ", r->path, r->plen ? ": " : "", text, strlen(text) > 60 ? "..." : "");
    return rc;
}

static int unterminated(struct render *r, size_t at, struct idf_err *err)
{
    return idf_err_set(err, IDF_EPARSE, "%s%s\"${{\" at byte %zu is not closed by \"}}\"", r->path, r->plen ? ": " : "",
                       at);
}

/* Appends the text form of v (consumed) to b. */
static int append_value(struct buf *b, jv v)
{
    int rc = 0;

    switch (jv_get_kind(v)) {
    case JV_KIND_NULL: break;
    case JV_KIND_STRING: rc = buf_append(b, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v))); break;
    default: {
        jv s = jv_dump_string(jv_copy(v), 0);
        rc = buf_append(b, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
        jv_free(s);
        break;
    }
    }
    jv_free(v);
    return rc;
}

static int render_string(struct render *r, const json_t *t, json_t **out, struct idf_err *err)
{
    const char *s = json_string_value(t);
    size_t len = json_string_length(t), i = 0, from = 0, open = 0, close = 0;
    struct buf b;
    char *text = NULL;
    jv v;
    int rc;

    if (!memmem(s, len, "${{", 3)) {
        *out = json_stringn(s, len);
        return *out ? 0 : idf_err_set(err, IDF_ENOMEM, "out of memory");
    }
    /* one template, blanks around it: keeps the JSON type */
    while (i < len && is_blank(s[i]))
        i++;
    if (len - i >= 3 && memcmp(s + i, "${{", 3) == 0 && expr__find_close(s, len, i + 3, &close)) {
        size_t j = close + 2;
        while (j < len && is_blank(s[j]))
            j++;
        if (j == len) {
            if (!(text = expr_text(s, i, close)))
                return idf_err_set(err, IDF_ENOMEM, "out of memory");
            rc = eval_one(r, text, &v, err);
            free(text);
            return rc ? rc : expr__from_jv(v, out, err);
        }
    }
    /* interpolation */
    buf_init(&b, EXPR_MAX_OUTPUT);
    while ((rc = next_template(s, len, from, &open, &close)) == 1) {
        if ((rc = buf_append(&b, s + from, open - from)))
            goto out;
        if (!(text = expr_text(s, open, close))) {
            rc = IDF_ENOMEM;
            goto out;
        }
        rc = eval_one(r, text, &v, err);
        free(text);
        if (rc)
            goto out_msg;
        if ((rc = append_value(&b, v)))
            goto out;
        from = close + 2;
    }
    if (rc == IDF_EPARSE) {
        rc = unterminated(r, open, err);
        goto out_msg;
    }
    if ((rc = buf_append(&b, s + from, len - from)))
        goto out;
    *out = json_stringn(b.data ? b.data : "", b.len);
    if (!*out)
        rc = IDF_ENOMEM;
out:
    if (rc == IDF_ETOOBIG)
        idf_err_set(err, rc, "%s%srendered text exceeds %u bytes", r->path, r->plen ? ": " : "", EXPR_MAX_OUTPUT);
    else if (rc)
        idf_err_set(err, rc, "out of memory");
out_msg:
    buf_free(&b);
    return rc;
}

static int render_value(struct render *r, const json_t *t, int depth, json_t **out, struct idf_err *err);

/* Appends ".key" or "[i]" to the path; returns the old length to restore. */
static size_t path_push(struct render *r, const char *key, size_t klen, size_t index)
{
    size_t old = r->plen;
    int n = key ? snprintf(r->path + old, sizeof r->path - old, ".%.*s", (int)klen, key)
                : snprintf(r->path + old, sizeof r->path - old, "[%zu]", index);
    r->plen = n > 0 && (size_t)n < sizeof r->path - old ? old + (size_t)n : sizeof r->path - 1;
    return old;
}

static void path_pop(struct render *r, size_t old)
{
    r->plen = old;
    r->path[old] = '\0';
}

static int render_value(struct render *r, const json_t *t, int depth, json_t **out, struct idf_err *err)
{
    json_t *res = NULL;
    int rc = 0;

    *out = NULL;
    if (depth > EXPR__MAX_DEPTH)
        return idf_err_set(err, IDF_ETOOBIG, "template nested deeper than %d levels", EXPR__MAX_DEPTH);
    switch (json_typeof(t)) {
    case JSON_STRING: return render_string(r, t, out, err);
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *val;
        if (!(res = json_object()))
            break;
        json_object_keylen_foreach((json_t *)t, key, klen, val)
        {
            json_t *x;
            size_t old = path_push(r, key, klen, 0);
            rc = render_value(r, val, depth + 1, &x, err);
            path_pop(r, old);
            if (rc)
                break;
            if (json_object_setn_new(res, key, klen, x)) {
                rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
                break;
            }
        }
        break;
    }
    case JSON_ARRAY:
        if (!(res = json_array()))
            break;
        for (size_t i = 0; i < json_array_size(t) && !rc; i++) {
            json_t *x;
            size_t old = path_push(r, NULL, 0, i);
            rc = render_value(r, json_array_get(t, i), depth + 1, &x, err);
            path_pop(r, old);
            if (!rc && json_array_append_new(res, x))
                rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
        }
        break;
    default: res = json_copy((json_t *)t); break;
    }
    if (!rc && !res)
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
    if (rc) {
        json_decref(res);
        return rc;
    }
    *out = res;
    return 0;
}

/* True when a string anywhere in t holds "${{" (depth-capped: deeper trees
 * are answered true and left to the evaluator's own error). */
static bool has_template(const json_t *t, int depth)
{
    if (depth > EXPR__MAX_DEPTH)
        return true;
    switch (json_typeof(t)) {
    case JSON_STRING: return memmem(json_string_value(t), json_string_length(t), "${{", 3) != NULL;
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)t, key, val)
        {
            if (has_template(val, depth + 1))
                return true;
        }
        return false;
    }
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(t); i++)
            if (has_template(json_array_get(t, i), depth + 1))
                return true;
        return false;
    default: return false;
    }
}

int expr_render(struct expr_ctx *ctx, const json_t *tmpl, const json_t *input, json_t **out, struct idf_err *err)
{
    struct render r;
    int rc;

    *out = NULL;
    if (!tmpl)
        return idf_err_set(err, IDF_EINVAL, "no template");
    r.ctx = ctx;
    r.fast = false;
    r.input = input;
    r.in = jv_null();
    r.have_in = false;
    r.path[0] = '\0';
    r.plen = 0;
    /* isolated: a template with no expression, or with plain paths only, is
     * rendered here; any other goes to the evaluator, whole */
    if (expr__iso_of(ctx) && has_template(tmpl, 0)) {
        r.fast = true;
        rc = render_value(&r, tmpl, 0, out, err);
        if (rc != FAST_NO)
            return rc;
        return expr__iso_render(expr__iso_of(ctx), tmpl, input, out, err);
    }
    rc = render_value(&r, tmpl, 0, out, err);
    jv_free(r.in);
    return rc;
}

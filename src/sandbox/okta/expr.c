/* sbok_expr.c — the SCIM-like expressions of Okta's search=/filter= query
 * parameters: parse once, evaluate against stored objects.
 *
 * Grammar (operators and logical words case-insensitive):
 *   expr   := term ("or" term)*
 *   term   := factor ("and" factor)*
 *   factor := "(" expr ")" | ATTR OP VALUE | ATTR "pr"
 *   OP     := eq | ne | sw | co | ew | gt | ge | lt | le
 *   VALUE  := "string" | number | true | false | null
 * Each mode restricts the attributes and operators to what Okta documents for
 * that parameter; anything else is refused (the caller answers 400 E0000031).
 * An attribute path that crosses an array (LogEvent `target.id`) matches when
 * any element matches. Values compare as timestamps when both sides parse as
 * ISO-8601, as numbers when both are numbers, else as strings.
 *
 * Pure functions; no state, any thread. Nodes live in one fixed array
 * (SBOK_MAX_EXPR_NODES) owned by the expression. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sandbox/okta/internal.h"

enum node_kind { N_AND, N_OR, N_CMP };
enum cmp_op { OP_EQ, OP_NE, OP_SW, OP_CO, OP_EW, OP_GT, OP_GE, OP_LT, OP_LE, OP_PR };

struct node {
    enum node_kind kind;
    int a, b;          /* children (N_AND, N_OR) */
    enum cmp_op op;    /* N_CMP */
    char *attr;        /* N_CMP: dotted path, owned */
    json_t *value;     /* N_CMP: owned (NULL for pr) */
};

struct sbok_expr {
    enum sbok_expr_mode mode;
    bool ci;           /* case-insensitive string values */
    int root;
    int n;
    struct node nodes[SBOK_MAX_EXPR_NODES];
};

struct parser {
    const char *p;
    struct sbok_expr *e;
    struct idf_err *err;
};

static const char *const op_names[] = {"eq", "ne", "sw", "co", "ew", "gt", "ge", "lt", "le", "pr"};

static void skip_ws(struct parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '+')
        ps->p++;
}

/* Reads a bare word (attribute path, operator, keyword) into out. */
static bool word(struct parser *ps, char *out, size_t n)
{
    skip_ws(ps);
    size_t i = 0;
    while (isalnum((unsigned char)*ps->p) || *ps->p == '.' || *ps->p == '_' || *ps->p == '$' || *ps->p == '-') {
        if (i + 1 >= n)
            return false;
        out[i++] = *ps->p++;
    }
    out[i] = '\0';
    return i > 0;
}

static bool peek_word(struct parser *ps, const char *kw)
{
    skip_ws(ps);
    size_t n = strlen(kw);
    if (strncasecmp(ps->p, kw, n) != 0)
        return false;
    char next = ps->p[n];
    return !(isalnum((unsigned char)next) || next == '.' || next == '_');
}

static int new_node(struct parser *ps, enum node_kind k)
{
    if (ps->e->n >= SBOK_MAX_EXPR_NODES) {
        idf_err_set(ps->err, IDF_ETOOBIG, "expression too complex");
        return -1;
    }
    int i = ps->e->n++;
    memset(&ps->e->nodes[i], 0, sizeof ps->e->nodes[i]);
    ps->e->nodes[i].kind = k;
    return i;
}

static json_t *parse_value(struct parser *ps)
{
    skip_ws(ps);
    if (*ps->p == '"') {
        char buf[SBOK_MAX_EXPR_LEN];
        size_t i = 0;
        ps->p++;
        while (*ps->p && *ps->p != '"') {
            if (*ps->p == '\\' && ps->p[1])
                ps->p++;
            if (i + 1 >= sizeof buf)
                return NULL;
            buf[i++] = *ps->p++;
        }
        if (*ps->p != '"')
            return NULL;
        ps->p++;
        buf[i] = '\0';
        return json_string(buf);
    }
    char w[64];
    if (!word(ps, w, sizeof w))
        return NULL;
    if (strcasecmp(w, "true") == 0)
        return json_true();
    if (strcasecmp(w, "false") == 0)
        return json_false();
    if (strcasecmp(w, "null") == 0)
        return json_null();
    char *end;
    double d = strtod(w, &end);
    if (*end)
        return NULL;
    return json_real(d);
}

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* Whether mode allows attr with op. */
static bool allowed(enum sbok_expr_mode mode, const char *attr, enum cmp_op op)
{
    static const char *const user_top[] = {"id", "status", "created", "activated", "statusChanged",
                                           "lastUpdated", "lastLogin", "passwordChanged", "type.id", NULL};
    static const char *const user_co[] = {"profile.firstName", "profile.lastName", "profile.email",
                                          "profile.login", NULL};
    static const char *const user_filter[] = {"status", "lastUpdated", "id", "profile.login", "profile.email",
                                              "profile.firstName", "profile.lastName", NULL};
    static const char *const group_top[] = {"id", "created", "lastUpdated", "lastMembershipUpdated",
                                            "type", "source.id", NULL};
    static const char *const group_filter[] = {"id", "type", "lastUpdated", "lastMembershipUpdated", NULL};
    static const char *const app_filter[] = {"id", "status", "name", "user.id", "group.id",
                                             "credentials.signing.kid", "settings.slo.enabled", NULL};
    bool dated = strcmp(attr, "lastUpdated") == 0 || strcmp(attr, "lastMembershipUpdated") == 0;
    bool range = op == OP_GT || op == OP_GE || op == OP_LT || op == OP_LE;
    switch (mode) {
    case SBOK_EXPR_USER_SEARCH:
        if (!(strncmp(attr, "profile.", 8) == 0 || in_list(attr, user_top)))
            return false;
        if (op == OP_NE || op == OP_EW)
            return false; /* Okta: "ne is not supported" */
        return op != OP_CO || in_list(attr, user_co);
    case SBOK_EXPR_USER_FILTER:
        return in_list(attr, user_filter) && (op == OP_EQ || (range && dated));
    case SBOK_EXPR_GROUP_SEARCH:
        if (!(strncmp(attr, "profile.", 8) == 0 || in_list(attr, group_top)))
            return false;
        if (op == OP_NE || op == OP_EW)
            return false;
        return op != OP_CO || strcmp(attr, "profile.name") == 0 || strcmp(attr, "profile.description") == 0;
    case SBOK_EXPR_GROUP_FILTER:
        return in_list(attr, group_filter) && (op == OP_EQ || (range && dated));
    case SBOK_EXPR_APP_FILTER:
        return in_list(attr, app_filter) && op == OP_EQ;
    case SBOK_EXPR_LOG_FILTER:
        return true;
    }
    return false;
}

static int parse_expr(struct parser *ps, int depth);

static int parse_factor(struct parser *ps, int depth)
{
    skip_ws(ps);
    if (*ps->p == '(') {
        ps->p++;
        int n = parse_expr(ps, depth + 1);
        skip_ws(ps);
        if (n < 0 || *ps->p != ')') {
            if (n >= 0)
                idf_err_set(ps->err, IDF_EINVAL, "missing ')'");
            return -1;
        }
        ps->p++;
        return n;
    }
    char attr[128], opw[16];
    if (!word(ps, attr, sizeof attr) || !word(ps, opw, sizeof opw)) {
        idf_err_set(ps->err, IDF_EINVAL, "expected: attribute operator value");
        return -1;
    }
    int op = -1;
    for (int i = 0; i <= OP_PR; i++)
        if (strcasecmp(opw, op_names[i]) == 0)
            op = i;
    if (op < 0) {
        idf_err_set(ps->err, IDF_EINVAL, "unknown operator '%s'", opw);
        return -1;
    }
    if (!allowed(ps->e->mode, attr, (enum cmp_op)op)) {
        idf_err_set(ps->err, IDF_EINVAL, "'%s %s' is not supported here", attr, op_names[op]);
        return -1;
    }
    int n = new_node(ps, N_CMP);
    if (n < 0)
        return -1;
    struct node *nd = &ps->e->nodes[n];
    nd->op = (enum cmp_op)op;
    nd->attr = strdup(attr);
    if (op != OP_PR) {
        nd->value = parse_value(ps);
        if (!nd->value) {
            idf_err_set(ps->err, IDF_EINVAL, "bad value after '%s %s'", attr, op_names[op]);
            return -1;
        }
    }
    return n;
}

static int parse_binary(struct parser *ps, int depth, bool is_or)
{
    if (depth > 32) {
        idf_err_set(ps->err, IDF_ETOOBIG, "expression nested too deeply");
        return -1;
    }
    int left = is_or ? parse_binary(ps, depth, false) : parse_factor(ps, depth);
    while (left >= 0 && peek_word(ps, is_or ? "or" : "and")) {
        ps->p += is_or ? 2 : 3;
        int right = is_or ? parse_binary(ps, depth, false) : parse_factor(ps, depth);
        if (right < 0)
            return -1;
        int n = new_node(ps, is_or ? N_OR : N_AND);
        if (n < 0)
            return -1;
        ps->e->nodes[n].a = left;
        ps->e->nodes[n].b = right;
        left = n;
    }
    return left;
}

static int parse_expr(struct parser *ps, int depth)
{
    return parse_binary(ps, depth, true);
}

int sbok__expr_parse(const char *s, enum sbok_expr_mode mode, struct sbok_expr **out, struct idf_err *err)
{
    *out = NULL;
    if (!s || strlen(s) > SBOK_MAX_EXPR_LEN)
        return idf_err_set(err, IDF_EINVAL, "expression missing or too long");
    struct sbok_expr *e = calloc(1, sizeof *e);
    if (!e)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    e->mode = mode;
    e->ci = mode != SBOK_EXPR_USER_FILTER && mode != SBOK_EXPR_APP_FILTER;
    struct parser ps = {.p = s, .e = e, .err = err};
    e->root = parse_expr(&ps, 0);
    skip_ws(&ps);
    if (e->root >= 0 && *ps.p)
        e->root = -1, idf_err_set(err, IDF_EINVAL, "unexpected text near '%.20s'", ps.p);
    if (e->root < 0) {
        sbok__expr_free(e);
        return err && err->code ? err->code : IDF_EINVAL;
    }
    *out = e;
    return 0;
}

void sbok__expr_free(struct sbok_expr *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->n; i++) {
        free(e->nodes[i].attr);
        json_decref(e->nodes[i].value);
    }
    free(e);
}

/* ------------------------------------------------------ evaluation */

static int cmp_leaf(const struct sbok_expr *e, const json_t *leaf, enum cmp_op op, const json_t *val, bool *ok)
{
    *ok = true;
    if (json_is_string(leaf) && json_is_string(val)) {
        const char *a = json_string_value(leaf), *b = json_string_value(val);
        int64_t ta = sbok__iso_ms(a), tb = sbok__iso_ms(b);
        if (ta >= 0 && tb >= 0)
            return ta < tb ? -1 : ta > tb;
        return e->ci ? strcasecmp(a, b) : strcmp(a, b);
    }
    if (json_is_number(leaf) && json_is_number(val)) {
        double a = json_number_value(leaf), b = json_number_value(val);
        return a < b ? -1 : a > b;
    }
    if (json_is_boolean(leaf) && json_is_boolean(val))
        return json_is_true(leaf) == json_is_true(val) ? 0 : 1;
    if ((json_is_null(val) && (leaf == NULL || json_is_null(leaf))))
        return 0;
    (void)op;
    *ok = false;
    return 1;
}

static bool str_test(const struct sbok_expr *e, const char *a, const char *b, enum cmp_op op)
{
    size_t la = strlen(a), lb = strlen(b);
    int (*ncmp)(const char *, const char *, size_t) = e->ci ? strncasecmp : strncmp;
    switch (op) {
    case OP_SW:
        return la >= lb && ncmp(a, b, lb) == 0;
    case OP_EW:
        return la >= lb && ncmp(a + la - lb, b, lb) == 0;
    case OP_CO:
        for (size_t i = 0; i + lb <= la; i++)
            if (ncmp(a + i, b, lb) == 0)
                return true;
        return false;
    default:
        return false;
    }
}

static bool test_leaf(const struct sbok_expr *e, const struct node *nd, const json_t *leaf)
{
    if (nd->op == OP_PR)
        return leaf && !json_is_null(leaf);
    if (nd->op == OP_SW || nd->op == OP_CO || nd->op == OP_EW)
        return json_is_string(leaf) && json_is_string(nd->value) &&
               str_test(e, json_string_value(leaf), json_string_value(nd->value), nd->op);
    bool ok;
    int c = cmp_leaf(e, leaf, nd->op, nd->value, &ok);
    switch (nd->op) {
    case OP_EQ:
        return ok && c == 0;
    case OP_NE:
        return !ok || c != 0;
    case OP_GT:
        return ok && c > 0;
    case OP_GE:
        return ok && c >= 0;
    case OP_LT:
        return ok && c < 0;
    case OP_LE:
        return ok && c <= 0;
    default:
        return false;
    }
}

/* Walks path from v; arrays on the way match when any element matches. */
static bool walk(const struct sbok_expr *e, const struct node *nd, const json_t *v, const char *path)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *el;
        json_array_foreach(v, i, el)
        {
            if (walk(e, nd, el, path))
                return true;
        }
        return false;
    }
    if (!*path)
        return test_leaf(e, nd, v);
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    char key[128];
    if (len >= sizeof key || !json_is_object(v))
        return test_leaf(e, nd, NULL);
    memcpy(key, path, len);
    key[len] = '\0';
    json_t *child = json_object_get(v, key);
    if (!child)
        return test_leaf(e, nd, NULL);
    return walk(e, nd, child, dot ? dot + 1 : "");
}

static bool eval(const struct sbok_expr *e, int i, const json_t *obj, sbok_expr_resolve_fn resolve, void *ud)
{
    const struct node *nd = &e->nodes[i];
    switch (nd->kind) {
    case N_AND:
        return eval(e, nd->a, obj, resolve, ud) && eval(e, nd->b, obj, resolve, ud);
    case N_OR:
        return eval(e, nd->a, obj, resolve, ud) || eval(e, nd->b, obj, resolve, ud);
    case N_CMP:
        if (resolve) {
            json_t *v = resolve(ud, obj, nd->attr);
            if (v) {
                bool r = walk(e, nd, v, "");
                json_decref(v);
                return r;
            }
        }
        return walk(e, nd, obj, nd->attr);
    }
    return false;
}

bool sbok__expr_match(const struct sbok_expr *e, const json_t *obj, sbok_expr_resolve_fn resolve, void *ud)
{
    return e && e->root >= 0 && eval(e, e->root, obj, resolve, ud);
}

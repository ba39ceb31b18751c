/* flow.c — flow_parse(): one workflow file -> a validated struct flow.
 *
 * It owns the top level of the language (name, description, on, when,
 * when_any, vars, allow_http, allow_private_network, enabled, concurrency,
 * priority, steps), the
 * order of the checks, the model's memory, the file reading and the source
 * hash. The YAML tree is yaml.c's, one step is step.c's, expressions and
 * references are check.c's.
 *
 * Order: YAML -> top-level keys -> trigger -> step ids (pass one, so a
 * reference to a later step can say so) -> when/when_any/vars -> each step
 * (pass two). Every problem is collected (up to FLOW_MAX_DIAGS); the model is
 * returned only when there is none. A struct flow is immutable afterwards and
 * may be read by any thread. flow_parse() itself may run on any thread with
 * its own expr_ctx. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "core/buf.h"
#include "flow/flow_internal.h"

#define KNOWN_LIST_MAX 300
#define READ_CHUNK 65536

static const char *const top_keys[] = {
    "name",    "description", "on",       "when",  "when_any", "vars", "allow_http", "allow_private_network",
    "enabled", "concurrency", "priority", "steps", NULL};

struct parse {
    struct flow__xctx x;
    struct flow *f;
    const struct flow__ynode *root;
    int *step_line;
};

static bool valid_name(const char *s, size_t len)
{
    if (len == 0 || len > FLOW__MAX_NAME || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static bool valid_id(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > FLOW__MAX_ID || !((*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void check_top_keys(struct parse *ps)
{
    const struct flow__ynode *r = ps->root;

    for (size_t i = 0; i + 1 < r->n; i += 2) {
        const struct flow__ynode *k = r->kids[i];
        struct flow__suggest sg;
        int j = 0;
        while (top_keys[j] && strcmp(top_keys[j], k->text) != 0)
            j++;
        if (top_keys[j])
            continue;
        flow__suggest_init(&sg, k->text);
        for (j = 0; top_keys[j]; j++)
            flow__suggest_add(&sg, top_keys[j]);
        if (flow__suggest_best(&sg))
            flow__diag(ps->x.d, k->line, k->col, "unknown key '%s' (did you mean '%s'?)", k->text,
                       flow__suggest_best(&sg));
        else
            flow__diag(ps->x.d, k->line, k->col,
                       "unknown key '%s' (a workflow has name, description, on, when, when_any, "
                       "vars, allow_http, allow_private_network, enabled, concurrency, priority, steps)",
                       k->text);
    }
}

/* name: given, or the file's base name without .yaml / .yml. */
static int parse_name(struct parse *ps, const char *path)
{
    const struct flow__ynode *v = flow__ymap_get(ps->root, "name");
    const char *base;
    size_t len;

    if (v) {
        if (v->kind != FLOW__Y_SCALAR || !valid_name(v->text, v->len)) {
            flow__diag(ps->x.d, v->line, v->col,
                       "'name' must be lowercase letters, digits, '_', '.' and '-', starting with "
                       "a letter or digit (at most %d characters)",
                       FLOW__MAX_NAME);
            return 0;
        }
        ps->f->name = strdup(v->text);
        return ps->f->name ? 0 : IDF_ENOMEM;
    }
    if (!strcmp(path, "<string>")) {
        flow__diag(ps->x.d, ps->root->line, ps->root->col, "missing 'name'");
        return 0;
    }
    base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, ".yaml"))
        len -= 5;
    else if (len > 4 && !strcmp(base + len - 4, ".yml"))
        len -= 4;
    if (!valid_name(base, len)) {
        flow__diag(ps->x.d, ps->root->line, ps->root->col,
                   "no 'name', and the file name '%.*s' is not a valid workflow name (lowercase "
                   "letters, digits, '_', '.' and '-'): add a 'name:'",
                   (int)(len > 200 ? 200 : len), base);
        return 0;
    }
    ps->f->name = strndup(base, len);
    return ps->f->name ? 0 : IDF_ENOMEM;
}

static void parse_bool(struct parse *ps, const char *key, bool *out)
{
    const struct flow__ynode *v = flow__ymap_get(ps->root, key);

    if (!v)
        return;
    if (v->kind != FLOW__Y_SCALAR || flow__yresolve(v) != FLOW__V_BOOL)
        flow__diag(ps->x.d, v->line, v->col, "'%s' must be true or false, not %s", key,
                   flow__ydescribe(v));
    else
        *out = v->text[0] == 't' || v->text[0] == 'T';
}

/* concurrency: N, an integer from 1 to FLOW_MAX_CONCURRENCY (absent: 0, no cap). */
static void parse_concurrency(struct parse *ps)
{
    const struct flow__ynode *v = flow__ymap_get(ps->root, "concurrency");
    long long n = 0;
    bool ok;

    if (!v)
        return;
    ok = v->kind == FLOW__Y_SCALAR && flow__yresolve(v) == FLOW__V_INT && v->len < 12;
    if (ok)
        n = strtoll(v->text, NULL, 10);
    if (!ok || n < 1 || n > FLOW_MAX_CONCURRENCY)
        flow__diag(ps->x.d, v->line, v->col,
                   "'concurrency' must be an integer from 1 to %d (the most runs of this workflow running at "
                   "once), not %s%s%s",
                   FLOW_MAX_CONCURRENCY, v->kind == FLOW__Y_SCALAR ? "'" : "",
                   v->kind == FLOW__Y_SCALAR ? v->text : flow__ydescribe(v), v->kind == FLOW__Y_SCALAR ? "'" : "");
    else
        ps->f->concurrency = (int)n;
}

/* priority: high, normal or low (absent: normal). Words, not numbers: the
 * claim only compares workflows, three levels are enough to say "before
 * the others" and "after the others", and a fixed set does not invite an
 * escalation of ever larger numbers between workflow authors. */
static void parse_priority(struct parse *ps)
{
    static const struct {
        const char *word;
        int value;
    } words[] = {{"high", FLOW_PRIORITY_HIGH}, {"normal", FLOW_PRIORITY_NORMAL}, {"low", FLOW_PRIORITY_LOW}};
    const struct flow__ynode *v = flow__ymap_get(ps->root, "priority");

    if (!v)
        return;
    if (v->kind == FLOW__Y_SCALAR && flow__yresolve(v) == FLOW__V_STRING) {
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
            if (strcmp(v->text, words[i].word) == 0) {
                ps->f->priority = words[i].value;
                return;
            }
        }
    }
    flow__diag(ps->x.d, v->line, v->col, "'priority' must be high, normal or low, not %s%.40s%s",
               v->kind == FLOW__Y_SCALAR ? "'" : "", v->kind == FLOW__Y_SCALAR ? v->text : flow__ydescribe(v),
               v->kind == FLOW__Y_SCALAR ? "'" : "");
}

static void unknown_trigger(struct parse *ps, const struct flow__ynode *k)
{
    struct flow__suggest sg;
    char known[KNOWN_LIST_MAX + 8] = "";
    size_t used = 0;
    char dym[FLOW__MAX_ID + 40] = "";

    flow__suggest_init(&sg, k->text);
    for (size_t i = 0; i < ps->x.reg->n; i++) {
        for (const struct conn_trigger *t = ps->x.reg->list[i]->triggers; t && t->name; t++) {
            flow__suggest_add(&sg, t->name);
            if (used < KNOWN_LIST_MAX)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                         used ? ", " : "", t->name);
        }
    }
    if (used > KNOWN_LIST_MAX)
        snprintf(known + KNOWN_LIST_MAX - 4, 8, "...");
    if (flow__suggest_best(&sg))
        snprintf(dym, sizeof dym, " (did you mean '%s'?)", flow__suggest_best(&sg));
    flow__diag(ps->x.d, k->line, k->col, "unknown trigger '%s'%s; known triggers: %s", k->text, dym,
               known);
}

/* (helper "inputs") The trigger's `inputs:`, when its parameters have one:
 * read into the flow for a trigger that takes inputs, refused for another.
 * *rest_out is then a shallow copy of params without it, for flow__params
 * (caller frees its kids and itself; the nodes stay the document's). */
static int trigger_inputs(struct parse *ps, const struct conn_trigger *t, const struct flow__ynode *params,
                          struct flow__ynode **rest_out)
{
    const struct flow__ynode *v = params && params->kind == FLOW__Y_MAP ? flow__ymap_get(params, "inputs") : NULL;
    struct flow__ynode *rest;
    size_t j = 0;

    *rest_out = NULL;
    if (!v)
        return 0;
    if (!t->takes_inputs) {
        const struct flow__ynode *k = NULL;
        for (size_t i = 0; i + 1 < params->n; i += 2)
            k = params->kids[i + 1] == v ? params->kids[i] : k;
        flow__diag(ps->x.d, k ? k->line : v->line, k ? k->col : v->col,
                   "trigger %s takes no inputs: only a trigger a caller starts with data (manual) declares them",
                   t->name);
    } else {
        int rc = flow__inputs_parse(&ps->x, v, ps->f);
        if (rc)
            return rc;
    }
    if (!(rest = malloc(sizeof *rest)))
        return IDF_ENOMEM;
    *rest = *params;
    rest->kids = params->n ? calloc(params->n, sizeof *rest->kids) : NULL;
    if (params->n && !rest->kids) {
        free(rest);
        return IDF_ENOMEM;
    }
    for (size_t i = 0; i + 1 < params->n; i += 2) {
        if (params->kids[i + 1] == v)
            continue;
        rest->kids[j++] = params->kids[i];
        rest->kids[j++] = params->kids[i + 1];
    }
    rest->n = rest->cap = j;
    *rest_out = rest;
    return 0;
}

/* on: NAME | { NAME: null | { inputs: {...}, param: value ... } } */
static int parse_on(struct parse *ps)
{
    const struct flow__ynode *v = flow__ymap_get(ps->root, "on");
    const struct flow__ynode *k, *params = NULL;
    const struct conn_trigger *t;
    struct flow__ynode *params_rest = NULL;
    char owner[200];
    int rc;

    if (!v) {
        flow__diag(ps->x.d, ps->root->line, ps->root->col,
                   "missing 'on' (the trigger that starts this workflow, e.g. on: manual)");
        return 0;
    }
    if (v->kind == FLOW__Y_SCALAR && flow__yresolve(v) == FLOW__V_STRING) {
        k = v;
    } else if (v->kind == FLOW__Y_MAP && v->n == 2) {
        k = v->kids[0];
        params = v->kids[1];
    } else {
        flow__diag(ps->x.d, v->line, v->col,
                   "'on' must name exactly one trigger, e.g. on: { okta.user_locked: {} }");
        return 0;
    }
    t = registry_find_trigger(ps->x.reg, k->text);
    if (!t) {
        unknown_trigger(ps, k);
        return 0;
    }
    ps->f->trigger = t;
    snprintf(owner, sizeof owner, "trigger %s", t->name);
    if ((rc = trigger_inputs(ps, t, params, &params_rest)))
        return rc;
    rc = flow__params(&ps->x, params_rest ? params_rest : params, k, owner, t->params, false, false,
                      &ps->f->trigger_params);
    if (params_rest) {
        free(params_rest->kids);
        free(params_rest);
    }
    if (rc)
        return rc;
    /* the connector's own checks of the values (a cron expression, a time zone) */
    if (t->validate) {
        struct idf_err err;
        const char *bad = NULL;
        idf_err_clear(&err);
        if (t->validate(ps->f->trigger_params, &bad, &err)) {
            const struct flow__ynode *at = bad ? flow__ymap_get(params, bad) : NULL;
            if (!at)
                at = k;
            flow__diag(ps->x.d, at->line, at->col, "%s: %s", owner, err.msg);
        }
    }
    return 0;
}

/* when / when_any: a list of bare jq expressions (one string is a list of one). */
static int parse_conditions(struct parse *ps, const char *key, char ***out, struct flow_pos **at_out,
                            size_t *n_out)
{
    const struct flow__ynode *v = flow__ymap_get(ps->root, key);
    const struct flow__ynode *const *items;
    size_t n;

    if (!v || (v->kind == FLOW__Y_SCALAR && flow__yresolve(v) == FLOW__V_NULL))
        return 0;
    if (v->kind == FLOW__Y_MAP) {
        flow__diag(ps->x.d, v->line, v->col, "'%s' must be a list of jq expressions", key);
        return 0;
    }
    items = v->kind == FLOW__Y_SEQ ? (const struct flow__ynode *const *)v->kids : &v;
    n = v->kind == FLOW__Y_SEQ ? v->n : 1;
    if (n == 0)
        return 0;
    *out = calloc(n, sizeof **out);
    *at_out = calloc(n, sizeof **at_out);
    if (!*out || !*at_out)
        return IDF_ENOMEM;
    ps->x.where = key;
    for (size_t i = 0; i < n; i++) {
        const struct flow__ynode *it = items[i];
        if (it->kind != FLOW__Y_SCALAR) {
            flow__diag(ps->x.d, it->line, it->col, "each '%s' item must be a jq expression, not %s",
                       key, flow__ydescribe(it));
            continue;
        }
        flow__check_jq(&ps->x, it, key);
        (*at_out)[*n_out] = (struct flow_pos){it->line, it->col};
        if (!((*out)[(*n_out)++] = strdup(it->text)))
            return IDF_ENOMEM;
    }
    return 0;
}

static int parse_vars(struct parse *ps)
{
    const struct flow__ynode *v = flow__ymap_get(ps->root, "vars");

    if (v && v->kind == FLOW__Y_MAP) {
        ps->f->vars_at = (struct flow_pos){v->line, v->col};
        ps->x.where = "vars";
        flow__check_templates(&ps->x, v);
        ps->f->vars = flow__yjson(v);
    } else {
        if (v && !(v->kind == FLOW__Y_SCALAR && flow__yresolve(v) == FLOW__V_NULL))
            flow__diag(ps->x.d, v->line, v->col, "'vars' must be a mapping of names to values");
        ps->f->vars = json_object();
    }
    return ps->f->vars ? 0 : IDF_ENOMEM;
}

/* Pass one: allocate the steps and read their ids, so that pass two knows them all. */
static int step_ids(struct parse *ps, const struct flow__ynode *steps)
{
    struct flow *f = ps->f;
    size_t n = steps->n;

    if (n > FLOW_MAX_STEPS) {
        flow__diag(ps->x.d, steps->kids[FLOW_MAX_STEPS]->line, steps->kids[FLOW_MAX_STEPS]->col,
                   "more than %d steps", FLOW_MAX_STEPS);
        n = FLOW_MAX_STEPS;
    }
    f->steps = calloc(n, sizeof *f->steps);
    ps->step_line = calloc(n, sizeof *ps->step_line);
    if (!f->steps || !ps->step_line)
        return IDF_ENOMEM;
    f->n_steps = n;
    for (size_t i = 0; i < n; i++) {
        const struct flow__ynode *s = steps->kids[i];
        const struct flow__ynode *id = flow__ymap_get(s, "id");
        long dup;
        ps->step_line[i] = s->line;
        if (s->kind != FLOW__Y_MAP)
            continue; /* reported by pass two */
        if (!id) {
            flow__diag(ps->x.d, s->line, s->col, "step %zu is missing 'id'", i + 1);
            continue;
        }
        if (id->kind != FLOW__Y_SCALAR || !valid_id(id->text)) {
            flow__diag(ps->x.d, id->line, id->col,
                       "step id must be lowercase letters, digits, '_' and '-', starting with a "
                       "letter or '_' (at most %d characters)",
                       FLOW__MAX_ID);
            continue;
        }
        dup = flow_step_index(f, id->text);
        if (dup >= 0) {
            flow__diag(ps->x.d, id->line, id->col, "duplicate step id '%s' (first at line %d)",
                       id->text, ps->step_line[dup]);
            continue;
        }
        if (!(f->steps[i].id = strdup(id->text)))
            return IDF_ENOMEM;
    }
    return 0;
}

static int parse_steps(struct parse *ps)
{
    const struct flow__ynode *v = flow__ymap_get(ps->root, "steps");

    if (!v) {
        flow__diag(ps->x.d, ps->root->line, ps->root->col, "missing 'steps'");
        return 0;
    }
    if (v->kind != FLOW__Y_SEQ || v->n == 0) {
        flow__diag(ps->x.d, v->line, v->col, "'steps' must be a list of at least one step");
        return 0;
    }
    return step_ids(ps, v);
}

static int parse_steps_pass_two(struct parse *ps)
{
    const struct flow__ynode *v = flow__ymap_get(ps->root, "steps");
    int rc;

    for (size_t i = 0; i < ps->f->n_steps; i++) {
        ps->x.self = (long)i;
        ps->x.where = NULL;
        if ((rc = flow__step_parse(&ps->x, v->kids[i], &ps->f->steps[i])))
            return rc;
    }
    return 0;
}

static int finish(struct flow *f, const char *text, size_t len)
{
    unsigned char h[crypto_hash_sha256_BYTES];

    f->source = malloc(len + 1);
    if (!f->source)
        return IDF_ENOMEM;
    memcpy(f->source, text, len);
    f->source[len] = '\0';
    crypto_hash_sha256(h, (const unsigned char *)text, len);
    sodium_bin2hex(f->hash, sizeof f->hash, h, sizeof h);
    if (!f->trigger_params && !(f->trigger_params = json_object()))
        return IDF_ENOMEM;
    return 0;
}

int flow_parse(const struct registry *reg, const char *path, const char *text, size_t len,
               struct expr_ctx *ectx, struct flow **out, struct flow_diags *diags)
{
    struct flow__ydoc doc;
    struct parse ps;
    const char *nul;
    int rc = 0;

    memset(&doc, 0, sizeof doc);
    memset(&ps, 0, sizeof ps);
    diags->n = 0;
    diags->truncated = false;
    *out = NULL;
    if (!path)
        path = "<string>";
    if (!text) {
        flow__diag(diags, 0, 0, "no text");
        return IDF_EINVAL;
    }
    if (len > BUF_CAP_WORKFLOW_FILE) {
        flow__diag(diags, 0, 0, "the file is larger than %u KiB", BUF_CAP_WORKFLOW_FILE >> 10);
        return IDF_ETOOBIG;
    }
    if ((nul = memchr(text, '\0', len))) {
        int line = 1, col = 1;
        for (const char *p = text; p < nul; p++) {
            col = *p == '\n' ? 1 : col + (((unsigned char)*p & 0xC0) != 0x80);
            line += *p == '\n';
        }
        flow__diag(diags, line, col, "the file contains a NUL byte: it is not YAML text");
        return IDF_EPARSE;
    }
    rc = flow__yaml_load(&doc, text, len, diags);
    if (rc)
        goto out;
    if (!doc.root || (doc.root->kind == FLOW__Y_SCALAR && flow__yresolve(doc.root) == FLOW__V_NULL)) {
        flow__diag(diags, 1, 1, "the file is empty: a workflow needs at least 'on' and 'steps'");
        rc = IDF_EINVAL;
        goto out;
    }
    if (doc.root->kind != FLOW__Y_MAP) {
        flow__diag(diags, doc.root->line, doc.root->col,
                   "a workflow must be a mapping of keys (name, on, steps ...), not %s",
                   flow__ydescribe(doc.root));
        rc = IDF_EINVAL;
        goto out;
    }
    ps.f = calloc(1, sizeof *ps.f);
    if (!ps.f || !(ps.f->path = strdup(path))) {
        rc = IDF_ENOMEM;
        goto out;
    }
    ps.f->enabled = true;
    ps.root = doc.root;
    ps.x.ectx = ectx;
    ps.x.reg = reg;
    ps.x.d = diags;
    ps.x.doc = &doc;
    ps.x.f = ps.f;
    ps.x.self = -1;

    check_top_keys(&ps);
    if ((rc = parse_name(&ps, path)))
        goto out;
    {
        const struct flow__ynode *d = flow__ymap_get(doc.root, "description");
        if (d && d->kind != FLOW__Y_SCALAR)
            flow__diag(diags, d->line, d->col, "'description' must be text");
        else if (d && flow__yresolve(d) != FLOW__V_NULL && !(ps.f->description = strdup(d->text))) {
            rc = IDF_ENOMEM;
            goto out;
        }
    }
    parse_bool(&ps, "allow_http", &ps.f->allow_http);
    parse_bool(&ps, "allow_private_network", &ps.f->allow_private_network);
    parse_bool(&ps, "enabled", &ps.f->enabled);
    parse_concurrency(&ps);
    parse_priority(&ps);
    if ((rc = parse_on(&ps)) || (rc = parse_steps(&ps)))
        goto out;
    ps.x.step_line = ps.step_line;
    if ((rc = parse_conditions(&ps, "when", &ps.f->when, &ps.f->when_at, &ps.f->n_when)) ||
        (rc = parse_conditions(&ps, "when_any", &ps.f->when_any, &ps.f->when_any_at, &ps.f->n_when_any)) ||
        (rc = parse_vars(&ps)) || (rc = parse_steps_pass_two(&ps)))
        goto out;
    if (diags->n > 0 || diags->truncated) {
        rc = IDF_EINVAL;
        goto out;
    }
    if ((rc = finish(ps.f, text, len)))
        goto out;
    *out = ps.f;
    ps.f = NULL;
out:
    if (rc == IDF_ENOMEM)
        flow__diag(diags, 0, 0, "out of memory");
    if (rc == 0 && diags->n > 0)
        rc = IDF_EINVAL; /* e.g. a duplicate key reported while reading the YAML */
    flow__diags_sort(diags);
    flow_free(ps.f);
    flow__xctx_clear(&ps.x);
    free(ps.step_line);
    flow__yaml_free(&doc);
    return rc;
}

int flow_load_file(const struct registry *reg, const char *path, struct expr_ctx *ectx, struct flow **out,
                   struct flow_diags *diags)
{
    struct buf b;
    char chunk[READ_CHUNK];
    int fd = -1;
    int rc = 0;

    buf_init(&b, BUF_CAP_WORKFLOW_FILE);
    *out = NULL;
    diags->n = 0;
    diags->truncated = false;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        rc = e == ENOENT ? IDF_ENOTFOUND : IDF_EIO;
        flow__diag(diags, 0, 0, "cannot open: %s", strerror(e));
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            flow__diag(diags, 0, 0, "cannot read: %s", strerror(errno));
            rc = IDF_EIO;
            goto out;
        }
        if (n == 0)
            break;
        rc = buf_append(&b, chunk, (size_t)n);
        if (rc) {
            if (rc == IDF_ETOOBIG)
                flow__diag(diags, 0, 0, "the file is larger than %u KiB",
                           BUF_CAP_WORKFLOW_FILE >> 10);
            else
                flow__diag(diags, 0, 0, "out of memory");
            goto out;
        }
    }
    rc = flow_parse(reg, path, b.data ? b.data : "", b.len, ectx, out, diags);
out:
    if (fd >= 0)
        close(fd);
    buf_free(&b);
    return rc;
}

void flow_free(struct flow *f)
{
    if (!f)
        return;
    free(f->name);
    free(f->description);
    free(f->path);
    json_decref(f->trigger_params);
    for (size_t i = 0; i < f->n_when; i++)
        free(f->when[i]);
    free(f->when);
    free(f->when_at);
    for (size_t i = 0; i < f->n_when_any; i++)
        free(f->when_any[i]);
    free(f->when_any);
    free(f->when_any_at);
    json_decref(f->vars);
    flow__inputs_clear(f);
    for (size_t i = 0; i < f->n_steps; i++)
        flow__step_clear(&f->steps[i]);
    free(f->steps);
    free(f->source);
    free(f);
}

int flow_step_index(const struct flow *f, const char *id)
{
    if (!f || !id)
        return -1;
    for (size_t i = 0; i < f->n_steps; i++) {
        if (f->steps[i].id && strcmp(f->steps[i].id, id) == 0)
            return (int)i;
    }
    return -1;
}

/* inputs.c — a caller-started trigger's `inputs:` (issue 17, helper "inputs").
 *
 * It owns two things: reading the declaration (flow__inputs_parse, called by
 * flow.c's parse_on for a trigger whose descriptor says takes_inputs, with
 * every problem reported at file:line:column like the rest of the
 * language), and checking a caller's data against it when a run is asked
 * for (flow_inputs_apply, flow_input_from_text; flow.h). The shape follows
 * GitHub Actions' workflow_dispatch inputs (docs/workflows.md, "Inputs"):
 *
 *   on:
 *     manual:
 *       inputs:
 *         login: { type: string, required: true, description: Okta login }
 *         reason: { type: choice, options: [leaver, incident], default: leaver }
 *
 * Which triggers take inputs is the connector's word (conn_trigger
 * .takes_inputs); nothing here knows a trigger by name. The parsed inputs
 * live in struct flow, immutable afterwards; flow_inputs_apply only reads
 * them and may run on any thread. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "flow/flow_internal.h"

#define INPUT_NAMES_LIST_MAX 300 /* bytes of the "takes a, b, c" list in an error */

static const char *const input_keys[] = {"type", "required", "description", "default", "options", NULL};
static const char *const type_names[] = {"string", "number", "integer", "boolean", "choice", NULL};

const char *flow_input_type_name(enum flow_input_type t)
{
    return (unsigned)t < sizeof type_names / sizeof type_names[0] - 1 ? type_names[t] : "?";
}

const struct flow_input *flow_input_find(const struct flow *f, const char *name)
{
    for (size_t i = 0; f && name && i < f->n_inputs; i++) {
        if (strcmp(f->inputs[i].name, name) == 0)
            return &f->inputs[i];
    }
    return NULL;
}

/* A name jq reads as .event.data.<name>: a letter or '_', then letters, digits, '_'. */
static bool valid_input_name(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > FLOW_MAX_INPUT_NAME || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (size_t i = 1; i < len; i++) {
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    }
    return true;
}

static bool is_null(const struct flow__ynode *n)
{
    return !n || (n->kind == FLOW__Y_SCALAR && flow__yresolve(n) == FLOW__V_NULL);
}

static void unknown_key(struct flow__xctx *x, const struct flow__ynode *k, const char *input)
{
    struct flow__suggest sg;

    flow__suggest_init(&sg, k->text);
    for (int j = 0; input_keys[j]; j++)
        flow__suggest_add(&sg, input_keys[j]);
    if (flow__suggest_best(&sg))
        flow__diag(x->d, k->line, k->col, "input '%s': unknown key '%s' (did you mean '%s'?)", input, k->text,
                   flow__suggest_best(&sg));
    else
        flow__diag(x->d, k->line, k->col,
                   "input '%s': unknown key '%s' (an input has type, required, description, default, options)", input,
                   k->text);
}

/* type: one of type_names. */
static void parse_type(struct flow__xctx *x, const struct flow__ynode *v, struct flow_input *in)
{
    int j = 0;

    if (v->kind == FLOW__Y_SCALAR && flow__yresolve(v) == FLOW__V_STRING) {
        while (type_names[j] && strcmp(type_names[j], v->text) != 0)
            j++;
        if (type_names[j]) {
            in->type = (enum flow_input_type)j;
            return;
        }
    }
    flow__diag(x->d, v->line, v->col, "input '%s': unknown type %s%s%s (string, number, integer, boolean or choice)",
               in->name, v->kind == FLOW__Y_SCALAR ? "'" : "", v->kind == FLOW__Y_SCALAR ? v->text : flow__ydescribe(v),
               v->kind == FLOW__Y_SCALAR ? "'" : "");
}

/* A text field (description, an option): a scalar, no template, capped. */
static bool text_ok(struct flow__xctx *x, const struct flow__ynode *v, const char *input, const char *what)
{
    if (v->kind != FLOW__Y_SCALAR || is_null(v)) {
        flow__diag(x->d, v->line, v->col, "input '%s': %s must be text, not %s", input, what, flow__ydescribe(v));
        return false;
    }
    if (v->len > FLOW_MAX_INPUT_TEXT) {
        flow__diag(x->d, v->line, v->col, "input '%s': %s is longer than %d bytes", input, what, FLOW_MAX_INPUT_TEXT);
        return false;
    }
    if (expr_has_template(v->text)) {
        flow__diag(x->d, v->line, v->col,
                   "input '%s': templates are not allowed in %s (inputs are read before the run has anything "
                   "to evaluate)",
                   input, what);
        return false;
    }
    return true;
}

/* options: a non-empty list of distinct texts. */
static int parse_options(struct flow__xctx *x, const struct flow__ynode *v, struct flow_input *in)
{
    if (v->kind != FLOW__Y_SEQ || v->n == 0) {
        flow__diag(x->d, v->line, v->col, "input '%s': 'options' must be a list of at least one text", in->name);
        return 0;
    }
    if (v->n > FLOW_MAX_INPUT_OPTIONS) {
        flow__diag(x->d, v->line, v->col, "input '%s': more than %d options", in->name, FLOW_MAX_INPUT_OPTIONS);
        return 0;
    }
    if (!(in->options = calloc(v->n, sizeof *in->options)))
        return IDF_ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        const struct flow__ynode *o = v->kids[i];
        bool dup = false;
        if (!text_ok(x, o, in->name, "an option"))
            continue;
        for (size_t j = 0; j < in->n_options; j++)
            dup = dup || strcmp(in->options[j], o->text) == 0;
        if (dup) {
            flow__diag(x->d, o->line, o->col, "input '%s': option '%s' is listed twice", in->name, o->text);
            continue;
        }
        if (!(in->options[in->n_options++] = strdup(o->text)))
            return IDF_ENOMEM;
    }
    return 0;
}

/* default: a literal of the input's type (a choice: one of its options). */
static int parse_default(struct flow__xctx *x, const struct flow__ynode *v, struct flow_input *in)
{
    enum flow__yval t = v->kind == FLOW__Y_SCALAR ? flow__yresolve(v) : FLOW__V_NULL;
    const char *want = NULL;

    if (v->kind != FLOW__Y_SCALAR || t == FLOW__V_NULL) {
        flow__diag(x->d, v->line, v->col, "input '%s': 'default' must be a %s value, not %s", in->name,
                   flow_input_type_name(in->type), flow__ydescribe(v));
        return 0;
    }
    switch (in->type) {
    case FLOW_INPUT_STRING:
    case FLOW_INPUT_CHOICE:
        if (t == FLOW__V_BOOL) {
            want = "text";
            break;
        }
        if (!text_ok(x, v, in->name, "'default'"))
            return 0;
        if (in->type == FLOW_INPUT_CHOICE) {
            bool found = false;
            for (size_t i = 0; i < in->n_options; i++)
                found = found || strcmp(in->options[i], v->text) == 0;
            if (!found && in->n_options > 0) {
                flow__diag(x->d, v->line, v->col, "input '%s': the default '%s' is not one of its options", in->name,
                           v->text);
                return 0;
            }
        }
        in->def = json_stringn(v->text, v->len); /* 42 for a string input is the text "42" */
        return in->def ? 0 : IDF_ENOMEM;
    case FLOW_INPUT_NUMBER:
        if (t != FLOW__V_INT && t != FLOW__V_REAL)
            want = "a number";
        break;
    case FLOW_INPUT_INTEGER:
        if (t != FLOW__V_INT)
            want = "an integer";
        break;
    case FLOW_INPUT_BOOLEAN:
        if (t != FLOW__V_BOOL)
            want = "true or false";
        break;
    }
    if (want) {
        flow__diag(x->d, v->line, v->col, "input '%s' is %s %s: its default must be %s, not %s", in->name,
                   in->type == FLOW_INPUT_INTEGER ? "an" : "a", flow_input_type_name(in->type), want,
                   flow__ydescribe(v));
        return 0;
    }
    in->def = flow__yjson(v);
    if (in->def && in->type == FLOW_INPUT_INTEGER && !json_is_integer(in->def)) {
        /* beyond int64: flow__yjson keeps it as text */
        flow__diag(x->d, v->line, v->col, "input '%s': the default %s is out of range", in->name, v->text);
        json_decref(in->def);
        in->def = NULL;
        return 0;
    }
    return in->def ? 0 : IDF_ENOMEM;
}

/* One input: name -> null | { type, required, description, default, options }. */
static int parse_one(struct flow__xctx *x, const struct flow__ynode *k, const struct flow__ynode *v,
                     struct flow_input *in)
{
    const struct flow__ynode *opt, *def;
    int rc = 0;

    in->at = (struct flow_pos){k->line, k->col};
    if (!(in->name = strdup(k->text)))
        return IDF_ENOMEM;
    if (is_null(v))
        return 0; /* `login:` alone: an optional string */
    if (v->kind != FLOW__Y_MAP) {
        flow__diag(x->d, v->line, v->col,
                   "input '%s' must be a mapping (type, required, description, default, options), not %s", in->name,
                   flow__ydescribe(v));
        return 0;
    }
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const struct flow__ynode *kk = v->kids[i], *vv = v->kids[i + 1];
        if (strcmp(kk->text, "type") == 0) {
            parse_type(x, vv, in);
        } else if (strcmp(kk->text, "required") == 0) {
            if (vv->kind != FLOW__Y_SCALAR || flow__yresolve(vv) != FLOW__V_BOOL)
                flow__diag(x->d, vv->line, vv->col, "input '%s': 'required' must be true or false, not %s", in->name,
                           flow__ydescribe(vv));
            else
                in->required = vv->text[0] == 't' || vv->text[0] == 'T';
        } else if (strcmp(kk->text, "description") == 0) {
            if (text_ok(x, vv, in->name, "'description'") && !(in->description = strdup(vv->text)))
                return IDF_ENOMEM;
        } else if (strcmp(kk->text, "default") != 0 && strcmp(kk->text, "options") != 0) {
            unknown_key(x, kk, in->name);
        }
    }
    opt = flow__ymap_get(v, "options");
    if (opt && in->type != FLOW_INPUT_CHOICE)
        flow__diag(x->d, opt->line, opt->col, "input '%s': 'options' belong to a choice input, not a %s one", in->name,
                   flow_input_type_name(in->type));
    else if (opt && (rc = parse_options(x, opt, in)))
        return rc;
    else if (!opt && in->type == FLOW_INPUT_CHOICE)
        flow__diag(x->d, k->line, k->col, "input '%s' is a choice: it needs 'options' (the allowed values)", in->name);
    def = flow__ymap_get(v, "default");
    if (def)
        rc = parse_default(x, def, in);
    return rc;
}

int flow__inputs_parse(struct flow__xctx *x, const struct flow__ynode *v, struct flow *f)
{
    size_t n;
    int rc;

    f->has_inputs = true;
    if (is_null(v))
        return 0; /* `inputs:` with nothing: the workflow takes no data */
    if (v->kind != FLOW__Y_MAP) {
        flow__diag(x->d, v->line, v->col, "'inputs' must be a mapping of input names to their declarations, not %s",
                   flow__ydescribe(v));
        return 0;
    }
    n = v->n / 2;
    if (n > FLOW_MAX_INPUTS) {
        flow__diag(x->d, v->kids[2 * FLOW_MAX_INPUTS]->line, v->kids[2 * FLOW_MAX_INPUTS]->col, "more than %d inputs",
                   FLOW_MAX_INPUTS);
        n = FLOW_MAX_INPUTS;
    }
    if (n && !(f->inputs = calloc(n, sizeof *f->inputs)))
        return IDF_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct flow__ynode *k = v->kids[2 * i];
        if (!valid_input_name(k->text)) {
            flow__diag(x->d, k->line, k->col,
                       "input name '%.*s' must be letters, digits and '_', starting with a letter or '_' (at most "
                       "%d characters), so that .event.data.<name> reads it",
                       (int)(k->len > 100 ? 100 : k->len), k->text, FLOW_MAX_INPUT_NAME);
            continue;
        }
        /* duplicate keys were reported by the YAML reader */
        if ((rc = parse_one(x, k, v->kids[2 * i + 1], &f->inputs[f->n_inputs++])))
            return rc;
    }
    return 0;
}

void flow__inputs_clear(struct flow *f)
{
    for (size_t i = 0; i < f->n_inputs; i++) {
        struct flow_input *in = &f->inputs[i];
        free(in->name);
        free(in->description);
        json_decref(in->def);
        for (size_t j = 0; j < in->n_options; j++)
            free(in->options[j]);
        free(in->options);
    }
    free(f->inputs);
    f->inputs = NULL;
    f->n_inputs = 0;
}

/* ------------------------------------------------------------ at run time */

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* "login, reason" (or "none"): what f takes, for messages. */
static void names_list(const struct flow *f, char *out, size_t cap)
{
    size_t used = 0;

    snprintf(out, cap, "%s", f->n_inputs ? "" : "none");
    for (size_t i = 0; i < f->n_inputs && used < INPUT_NAMES_LIST_MAX && used + 1 < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? ", " : "", f->inputs[i].name);
}

/* "a, b, c" of a choice's options, cut at cap. */
static void options_list(const struct flow_input *in, char *out, size_t cap)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < in->n_options && used + 1 < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? ", " : "", in->options[i]);
}

/* Checks one given value v against in. */
static int check_value(const struct flow_input *in, const json_t *v, struct idf_err *err)
{
    char opts[INPUT_NAMES_LIST_MAX + 8];
    bool ok;

    switch (in->type) {
    case FLOW_INPUT_STRING:
    case FLOW_INPUT_CHOICE: ok = json_is_string(v); break;
    case FLOW_INPUT_NUMBER: ok = json_is_number(v); break;
    case FLOW_INPUT_INTEGER: ok = json_is_integer(v); break;
    case FLOW_INPUT_BOOLEAN: ok = json_is_boolean(v); break;
    default: ok = false; break;
    }
    if (!ok)
        return idf_err_set(err, IDF_EINVAL, "input '%s' must be %s %s, not %s", in->name,
                           in->type == FLOW_INPUT_INTEGER ? "an" : "a",
                           in->type == FLOW_INPUT_CHOICE ? "string" : flow_input_type_name(in->type), json_kind(v));
    if (in->required && json_is_string(v) && json_string_length(v) == 0)
        return idf_err_set(err, IDF_EINVAL, "input '%s' is required: it is empty", in->name);
    if (in->type == FLOW_INPUT_CHOICE) {
        for (size_t i = 0; i < in->n_options; i++) {
            if (strcmp(in->options[i], json_string_value(v)) == 0)
                return 0;
        }
        options_list(in, opts, sizeof opts);
        return idf_err_set(err, IDF_EINVAL, "input '%s' must be one of: %s", in->name, opts);
    }
    return 0;
}

int flow_inputs_apply(const struct flow *f, const json_t *data, json_t **out, struct idf_err *err)
{
    char names[INPUT_NAMES_LIST_MAX + 8];
    json_t *res = NULL;
    const char *key;
    json_t *v;
    int rc = 0;

    *out = NULL;
    if (!f->has_inputs) {
        *out = data ? json_incref((json_t *)data) : NULL;
        return 0;
    }
    if (data && !json_is_null(data) && !json_is_object(data)) {
        names_list(f, names, sizeof names);
        return idf_err_set(err, IDF_EINVAL, "the data of workflow %s must be an object of its inputs (%s), not %s",
                           f->name, names, json_kind(data));
    }
    if (json_is_object(data)) {
        json_object_foreach ((json_t *)data, key, v) {
            if (!flow_input_find(f, key)) {
                names_list(f, names, sizeof names);
                return idf_err_set(err, IDF_EINVAL, "unknown input '%.100s': workflow %s takes %s", key, f->name,
                                   names);
            }
        }
    }
    if (!(res = json_object()))
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    for (size_t i = 0; i < f->n_inputs; i++) {
        const struct flow_input *in = &f->inputs[i];
        v = json_is_object(data) ? json_object_get(data, in->name) : NULL;
        if (!v || json_is_null(v)) {
            if (in->def)
                v = in->def;
            else if (in->required) {
                rc = idf_err_set(err, IDF_EINVAL, "input '%s' is required", in->name);
                goto out;
            } else
                continue;
        } else if ((rc = check_value(in, v, err))) {
            goto out;
        }
        if (json_object_set_new(res, in->name, json_deep_copy(v))) {
            rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
            goto out;
        }
    }
    *out = res;
    res = NULL;
out:
    json_decref(res);
    return rc;
}

/* text as a whole decimal integer (no spaces, in range), or false. */
static bool text_integer(const char *text, long long *n)
{
    char *end = NULL;

    if (!*text || isspace((unsigned char)*text))
        return false;
    errno = 0;
    *n = strtoll(text, &end, 10);
    return !*end && !errno;
}

int flow_input_from_text(const struct flow_input *in, const char *text, json_t **out, struct idf_err *err)
{
    long long n;

    *out = NULL;
    switch (in->type) {
    case FLOW_INPUT_STRING:
    case FLOW_INPUT_CHOICE: *out = json_string(text); break;
    case FLOW_INPUT_BOOLEAN:
        if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
            return idf_err_set(err, IDF_EINVAL, "input '%s' must be true or false, not '%.100s'", in->name, text);
        *out = json_boolean(text[0] == 't');
        break;
    case FLOW_INPUT_INTEGER:
        if (!text_integer(text, &n))
            return idf_err_set(err, IDF_EINVAL, "input '%s' must be an integer, not '%.100s'", in->name, text);
        *out = json_integer(n);
        break;
    case FLOW_INPUT_NUMBER:
        if (text_integer(text, &n)) {
            *out = json_integer(n);
        } else {
            char *end = NULL;
            double d;
            errno = 0;
            d = *text && !isspace((unsigned char)*text) ? strtod(text, &end) : NAN;
            if (!end || *end || errno || !isfinite(d))
                return idf_err_set(err, IDF_EINVAL, "input '%s' must be a number, not '%.100s'", in->name, text);
            *out = json_real(d);
        }
        break;
    }
    return *out ? 0 : idf_err_set(err, IDF_ENOMEM, "out of memory");
}

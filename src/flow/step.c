/* step.c — one step of a workflow (do, with, if, foreach, as, retry, timeout,
 * on_error) and the typed parameter check shared by actions and triggers.
 *
 * Parameter rules: names must be declared by the action's descriptors
 * (except for `set`, whose names become vars); a required parameter must be
 * present (a template counts as present); literal values are checked
 * against enum conn_ptype, durations with time_parse_duration(). A whole
 * "${{ }}" value is not type-checked (its type is the jq result's); a value
 * with an embedded template renders as text, so it is checked as a string.
 * A plain number given to a string parameter is kept exactly as written
 * ("007" stays "007"), so ids never change.
 *
 * Step ids are read and checked by flow.c (pass one) before this runs, so
 * references can name later steps in their messages. Called by
 * flow_parse() on its thread. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "core/timeutil.h"
#include "expr/expr.h"
#include "flow/flow_internal.h"

#define KNOWN_LIST_MAX 300 /* characters of "known: a, b, c" in a message */
#define MAX_DURATION_S (366LL * 24 * 3600)

static const char *const step_keys[] = {"id", "do",      "with",    "if",       "foreach",   "as",
                                        "retry", "timeout", "on_error", "connection", NULL};
static const char *const retry_keys[] = {"max", "backoff", "max_delay", NULL};
static const char *const reserved_names[] = {"event", "steps", "vars", "run", "workflow", NULL};

bool flow__duration(const struct flow__ynode *n, int64_t *ms_out)
{
    if (!n || n->kind != FLOW__Y_SCALAR)
        return false;
    switch (flow__yresolve(n)) {
    case FLOW__V_INT: {
        long long v;
        if (n->text[0] == '-' || n->len > 12)
            return false;
        v = strtoll(n->text, NULL, 10);
        if (v > MAX_DURATION_S)
            return false;
        *ms_out = (int64_t)v * 1000;
        return true;
    }
    case FLOW__V_STRING: return time_parse_duration(n->text, ms_out) == 0;
    default: return false;
    }
}

static const char *ptype_name(enum conn_ptype t)
{
    switch (t) {
    case CONN_P_STRING: return "a string";
    case CONN_P_INT: return "an integer";
    case CONN_P_BOOL: return "true or false";
    case CONN_P_OBJECT: return "a mapping";
    case CONN_P_ARRAY: return "a list";
    case CONN_P_DURATION: return "a duration such as 30s, 5m or 1h";
    case CONN_P_ANY: return "any value";
    }
    return "?";
}

static bool has_template(const struct flow__ynode *n)
{
    if (n->kind == FLOW__Y_SCALAR)
        return expr_has_template(n->text);
    for (size_t i = 0; i < n->n; i++) {
        if (has_template(n->kids[i]))
            return true;
    }
    return false;
}

static bool is_null(const struct flow__ynode *n)
{
    return !n || (n->kind == FLOW__Y_SCALAR && flow__yresolve(n) == FLOW__V_NULL);
}

/* Type-checks a literal value; reports and returns false when wrong. */
static bool type_check(struct flow__xctx *x, const struct conn_param *p, const struct flow__ynode *v,
                       const char *owner)
{
    enum flow__yval val;
    bool ok;
    int64_t ms;

    if (p->type == CONN_P_ANY)
        return true;
    if (v->kind == FLOW__Y_MAP)
        ok = p->type == CONN_P_OBJECT;
    else if (v->kind == FLOW__Y_SEQ)
        ok = p->type == CONN_P_ARRAY;
    else if (flow__whole_template(v->text))
        return true;
    else if (expr_has_template(v->text)) {
        if (p->type == CONN_P_STRING || p->type == CONN_P_DURATION)
            return true;
        flow__diag(x->d, v->line, v->col,
                   "parameter '%s' of %s must be %s; this value renders as text (make the "
                   "whole value one ${{ }} to keep the jq result's type)",
                   p->name, owner, ptype_name(p->type));
        return false;
    } else if ((val = flow__yresolve(v)) == FLOW__V_NULL) {
        if (!p->required)
            return true;
        flow__diag(x->d, v->line, v->col, "parameter '%s' of %s is required; it cannot be null",
                   p->name, owner);
        return false;
    } else {
        switch (p->type) {
        case CONN_P_STRING: ok = val != FLOW__V_BOOL; break;
        case CONN_P_INT: ok = val == FLOW__V_INT; break;
        case CONN_P_BOOL: ok = val == FLOW__V_BOOL; break;
        case CONN_P_DURATION: ok = flow__duration(v, &ms); break;
        default: ok = false; break;
        }
    }
    if (ok)
        return true;
    if (p->type == CONN_P_DURATION && v->kind == FLOW__Y_SCALAR)
        flow__diag(x->d, v->line, v->col, "parameter '%s' of %s must be %s, not '%s'", p->name,
                   owner, ptype_name(p->type), v->text);
    else
        flow__diag(x->d, v->line, v->col, "parameter '%s' of %s must be %s, not %s%s%s%s", p->name,
                   owner, ptype_name(p->type), flow__ydescribe(v),
                   p->type == CONN_P_STRING ? " (quote it: \"" : "",
                   p->type == CONN_P_STRING ? v->text : "", p->type == CONN_P_STRING ? "\")" : "");
    return false;
}

static void unknown_param(struct flow__xctx *x, const struct flow__ynode *k, const char *owner,
                          const struct conn_param *params)
{
    struct flow__suggest sg;
    char known[KNOWN_LIST_MAX + 8] = "";
    size_t used = 0;

    flow__suggest_init(&sg, k->text);
    for (const struct conn_param *p = params; p && p->name; p++) {
        flow__suggest_add(&sg, p->name);
        if (used < KNOWN_LIST_MAX)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                     used ? ", " : "", p->name);
    }
    if (used > KNOWN_LIST_MAX)
        snprintf(known + KNOWN_LIST_MAX - 4, 8, "...");
    if (flow__suggest_best(&sg))
        flow__diag(x->d, k->line, k->col, "unknown parameter '%s' for %s (did you mean '%s'?)",
                   k->text, owner, flow__suggest_best(&sg));
    else if (used)
        flow__diag(x->d, k->line, k->col, "unknown parameter '%s' for %s (known: %s)", k->text, owner,
                   known);
    else
        flow__diag(x->d, k->line, k->col, "unknown parameter '%s': %s takes no parameters", k->text,
                   owner);
}

int flow__params(struct flow__xctx *x, const struct flow__ynode *n, const struct flow__ynode *at,
                 const char *owner, const struct conn_param *params, bool set_like,
                 bool templates_ok, json_t **out)
{
    json_t *obj = json_object();

    *out = NULL;
    if (!obj)
        return IDF_ENOMEM;
    if (!is_null(n) && n->kind != FLOW__Y_MAP) {
        flow__diag(x->d, n->line, n->col, "the parameters of %s must be a mapping, not %s", owner,
                   flow__ydescribe(n));
        n = NULL;
    }
    for (size_t i = 0; n && n->kind == FLOW__Y_MAP && i + 1 < n->n; i += 2) {
        const struct flow__ynode *k = n->kids[i], *v = n->kids[i + 1];
        const struct conn_param *p = params;
        json_t *jv;

        if (expr_has_template(k->text)) {
            flow__diag(x->d, k->line, k->col, "templates are not allowed in keys ('%s')", k->text);
            continue;
        }
        while (p && p->name && strcmp(p->name, k->text) != 0)
            p++;
        if (!p || !p->name) {
            p = NULL;
            if (!set_like) {
                unknown_param(x, k, owner, params);
                continue;
            }
        }
        if (!templates_ok && has_template(v))
            flow__diag(x->d, v->line, v->col,
                       "templates are not allowed in the parameters of %s (there is no event yet "
                       "when they are read)",
                       owner);
        else
            flow__check_templates(x, v);
        if (p)
            type_check(x, p, v, owner);
        if (p && p->type == CONN_P_STRING && v->kind == FLOW__Y_SCALAR &&
            (flow__yresolve(v) == FLOW__V_INT || flow__yresolve(v) == FLOW__V_REAL))
            jv = json_stringn(v->text, v->len);
        else
            jv = flow__yjson(v);
        if (!jv || json_object_set_new(obj, k->text, jv)) {
            json_decref(obj);
            return IDF_ENOMEM;
        }
    }
    for (const struct conn_param *p = params; p && p->name; p++) {
        if (p->required && !flow__ymap_get(n, p->name))
            flow__diag(x->d, at->line, at->col, "%s: missing required parameter '%s'", owner,
                       p->name);
    }
    *out = obj;
    return 0;
}

static void unknown_action(struct flow__xctx *x, const struct flow__ynode *v)
{
    struct flow__suggest sg;

    flow__suggest_init(&sg, v->text);
    for (size_t i = 0; i < x->reg->n; i++) {
        for (const struct conn_action *a = x->reg->list[i]->actions; a && a->name; a++)
            flow__suggest_add(&sg, a->name);
    }
    if (flow__suggest_best(&sg))
        flow__diag(x->d, v->line, v->col, "unknown action '%s' (did you mean '%s'?)", v->text,
                   flow__suggest_best(&sg));
    else
        flow__diag(x->d, v->line, v->col,
                   "unknown action '%s' (`idflow catalogue` lists the actions)", v->text);
}

static bool is_word(const char *s, bool dash_ok, bool upper_ok)
{
    if (!(islower((unsigned char)*s) || *s == '_' || (upper_ok && isupper((unsigned char)*s))))
        return false;
    for (s++; *s; s++) {
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' ||
              (dash_ok && *s == '-') || (upper_ok && isupper((unsigned char)*s))))
            return false;
    }
    return true;
}

static void parse_as(struct flow__xctx *x, const struct flow__ynode *v, struct flow_step *s)
{
    if (v->kind != FLOW__Y_SCALAR || !is_word(v->text, false, true) || v->len > FLOW__MAX_ID) {
        flow__diag(x->d, v->line, v->col,
                   "'as' must be a name of letters, digits and '_' (it is used as .<name>)");
        return;
    }
    for (int i = 0; reserved_names[i]; i++) {
        if (strcmp(v->text, reserved_names[i]) == 0) {
            flow__diag(x->d, v->line, v->col,
                       "'as: %s' would hide .%s of the jq input; choose another name", v->text,
                       v->text);
            return;
        }
    }
    free(s->as);
    s->as = strdup(v->text);
}

static void parse_retry(struct flow__xctx *x, const struct flow__ynode *v, struct flow_step *s)
{
    const struct flow__ynode *m, *b, *md;

    if (v->kind != FLOW__Y_MAP) {
        flow__diag(x->d, v->line, v->col,
                   "'retry' must be a mapping such as { max: 5, backoff: 2s }, not %s",
                   flow__ydescribe(v));
        return;
    }
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const struct flow__ynode *k = v->kids[i];
        int j = 0;
        while (retry_keys[j] && strcmp(retry_keys[j], k->text) != 0)
            j++;
        if (!retry_keys[j])
            flow__diag(x->d, k->line, k->col,
                       "unknown key 'retry.%s' (retry takes max, backoff and max_delay)", k->text);
    }
    m = flow__ymap_get(v, "max");
    b = flow__ymap_get(v, "backoff");
    md = flow__ymap_get(v, "max_delay");
    if (!m) {
        flow__diag(x->d, v->line, v->col, "'retry' needs 'max' (the total number of attempts)");
    } else {
        long long n = 0;
        bool ok = m->kind == FLOW__Y_SCALAR && flow__yresolve(m) == FLOW__V_INT && m->len < 12;
        if (ok)
            n = strtoll(m->text, NULL, 10);
        if (!ok || n < 1 || n > FLOW_RETRY_MAX_ATTEMPTS)
            flow__diag(x->d, m->line, m->col,
                       "retry.max must be an integer from 1 to %d (the total number of attempts), "
                       "not '%s'",
                       FLOW_RETRY_MAX_ATTEMPTS, m->kind == FLOW__Y_SCALAR ? m->text : "...");
        else
            s->retry_max = (int)n;
    }
    if (b && !flow__duration(b, &s->retry_backoff_ms))
        flow__diag(x->d, b->line, b->col, "retry.backoff must be a duration such as 2s, not '%s'",
                   b->kind == FLOW__Y_SCALAR ? b->text : "...");
    if (md && !flow__duration(md, &s->retry_max_delay_ms))
        flow__diag(x->d, md->line, md->col,
                   "retry.max_delay must be a duration such as 5m, not '%s'",
                   md->kind == FLOW__Y_SCALAR ? md->text : "...");
    else if (md && s->retry_max_delay_ms < s->retry_backoff_ms)
        flow__diag(x->d, md->line, md->col, "retry.max_delay must not be shorter than retry.backoff");
}

static void unknown_step_key(struct flow__xctx *x, const struct flow__ynode *k)
{
    struct flow__suggest sg;

    flow__suggest_init(&sg, k->text);
    for (int i = 0; step_keys[i]; i++)
        flow__suggest_add(&sg, step_keys[i]);
    if (flow__suggest_best(&sg))
        flow__diag(x->d, k->line, k->col, "unknown step key '%s' (did you mean '%s'?)", k->text,
                   flow__suggest_best(&sg));
    else
        flow__diag(x->d, k->line, k->col,
                   "unknown step key '%s' (a step takes id, do, with, if, foreach, as, retry, "
                   "timeout, on_error)",
                   k->text);
}

int flow__step_parse(struct flow__xctx *x, const struct flow__ynode *n, struct flow_step *s)
{
    const struct flow__ynode *v, *with = NULL, *with_key = NULL;
    const struct flow__ynode *as = NULL;
    const struct flow__ynode *connection = NULL;
    const char *name = s->id ? s->id : "?";
    char owner[FLOW__MAX_ID + 160];
    int rc = 0;

    s->line = n->line;
    s->col = n->col;
    s->retry_max = 1;
    s->retry_backoff_ms = FLOW__DEFAULT_BACKOFF_MS;
    s->retry_max_delay_ms = FLOW__DEFAULT_MAX_DELAY_MS;
    s->as = strdup("item");
    if (!s->as)
        return IDF_ENOMEM;
    if (n->kind != FLOW__Y_MAP) {
        flow__diag(x->d, n->line, n->col, "a step must be a mapping (id, do, with ...), not %s",
                   flow__ydescribe(n));
        return 0;
    }
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const struct flow__ynode *k = n->kids[i];
        const char *key = k->text;
        v = n->kids[i + 1];
        if (!strcmp(key, "id")) {
            continue; /* pass one (flow.c) */
        } else if (!strcmp(key, "do")) {
            if (v->kind != FLOW__Y_SCALAR || flow__yresolve(v) != FLOW__V_STRING)
                flow__diag(x->d, v->line, v->col, "'do' must be an action name such as http.request");
            else if (!(s->action = registry_find_action(x->reg, v->text)))
                unknown_action(x, v);
        } else if (!strcmp(key, "with")) {
            with = v;
            with_key = k;
            s->with_at = (struct flow_pos){v->line, v->col};
        } else if (!strcmp(key, "if")) {
            if (v->kind != FLOW__Y_SCALAR) {
                flow__diag(x->d, v->line, v->col, "'if' must be a jq expression, not %s",
                           flow__ydescribe(v));
                continue;
            }
            flow__check_jq(x, v, "if");
            s->if_at = (struct flow_pos){v->line, v->col};
            if (!(s->if_expr = strdup(v->text)))
                return IDF_ENOMEM;
        } else if (!strcmp(key, "foreach")) {
            if (v->kind != FLOW__Y_SCALAR || !flow__whole_template(v->text)) {
                flow__diag(x->d, v->line, v->col,
                           "'foreach' must be one template such as ${{ .steps.groups }}");
                if (v->kind == FLOW__Y_SCALAR)
                    flow__check_templates(x, v);
                continue;
            }
            flow__check_templates(x, v);
            s->foreach_at = (struct flow_pos){v->line, v->col};
            if (!(s->foreach_expr = strdup(v->text)))
                return IDF_ENOMEM;
        } else if (!strcmp(key, "as")) {
            as = k;
            parse_as(x, v, s);
        } else if (!strcmp(key, "retry")) {
            parse_retry(x, v, s);
        } else if (!strcmp(key, "timeout")) {
            if (flow__duration(v, &s->timeout_ms) && s->timeout_ms <= 0)
                flow__diag(x->d, v->line, v->col, "'timeout' must be longer than 0");
            else if (s->timeout_ms <= 0)
                flow__diag(x->d, v->line, v->col,
                           "'timeout' must be a duration such as 30s, 5m or 1h, not '%s'",
                           v->kind == FLOW__Y_SCALAR ? v->text : flow__ydescribe(v));
        } else if (!strcmp(key, "connection")) {
            if (v->kind != FLOW__Y_SCALAR || !v->text[0] || strstr(v->text, "${{")) {
                flow__diag(x->d, v->line, v->col, "'connection' must be the name of a connection (no template)");
                continue;
            }
            if (!(s->connection = strdup(v->text)))
                return IDF_ENOMEM;
            connection = k;
        } else if (!strcmp(key, "on_error")) {
            if (v->kind == FLOW__Y_SCALAR && !strcmp(v->text, "continue"))
                s->continue_on_error = true;
            else if (v->kind != FLOW__Y_SCALAR || strcmp(v->text, "fail") != 0)
                flow__diag(x->d, v->line, v->col, "'on_error' must be fail or continue");
        } else {
            unknown_step_key(x, k);
        }
    }
    if (connection && s->action && !(registry_action_owner(x->reg, s->action) &&
                                     registry_action_owner(x->reg, s->action)->connection))
        flow__diag(x->d, connection->line, connection->col, "'connection' is not used by %s: it needs no connection",
                   s->action->name);
    if (as && !s->foreach_expr && !flow__ymap_get(n, "foreach"))
        flow__diag(x->d, as->line, as->col, "'as' is only used with 'foreach'");
    if (!flow__ymap_get(n, "do")) {
        flow__diag(x->d, n->line, n->col, "step '%s' is missing 'do' (the action to run)", name);
        return 0;
    }
    if (!s->action) {
        /* still check the expressions of an unknown action's parameters */
        if (with)
            flow__check_templates(x, with);
        return 0;
    }
    snprintf(owner, sizeof owner, "%s (step '%s')", s->action->name, name);
    rc = flow__params(x, with, with_key ? with_key : n, owner, s->action->params,
                      s->action->kind == CONN_K_SET, true, &s->with);
    return rc;
}

void flow__step_clear(struct flow_step *s)
{
    if (!s)
        return;
    free(s->id);
    json_decref(s->with);
    free(s->if_expr);
    free(s->foreach_expr);
    free(s->as);
    free(s->connection);
    memset(s, 0, sizeof *s);
}

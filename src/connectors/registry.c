/* registry.c — the built-in table of connectors and look-ups in any registry
 * (registry.h).
 *
 * The only place that names connectors: adding one is one line here plus its
 * folder. Tables are constant, so look-ups are safe from any thread. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "connectors/connector.h"

extern const struct connector connector_core;
extern const struct connector connector_okta;
extern const struct connector connector_happyfox;
extern const struct connector connector_webhook;

static const struct connector *const builtin[] = {
    &connector_core,
    &connector_okta,
    &connector_happyfox,
    &connector_webhook,
};

static const struct registry builtin_registry = {builtin, sizeof builtin / sizeof builtin[0]};

const struct registry *registry_default(void)
{
    return &builtin_registry;
}

const struct connector *registry_find_n(const struct registry *reg, const char *name, size_t len)
{
    for (size_t i = 0; name && i < reg->n; i++)
        if (strlen(reg->list[i]->name) == len && memcmp(reg->list[i]->name, name, len) == 0)
            return reg->list[i];
    return NULL;
}

const struct connector *registry_find(const struct registry *reg, const char *name)
{
    return name ? registry_find_n(reg, name, strlen(name)) : NULL;
}

const struct conn_action *registry_find_action(const struct registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->n; i++) {
        for (const struct conn_action *a = reg->list[i]->actions; a && a->name; a++) {
            if (strcmp(a->name, name) == 0)
                return a;
        }
    }
    return NULL;
}

const struct conn_trigger *registry_find_trigger(const struct registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->n; i++) {
        for (const struct conn_trigger *t = reg->list[i]->triggers; t && t->name; t++) {
            if (strcmp(t->name, name) == 0)
                return t;
        }
    }
    return NULL;
}

const struct connector *registry_action_owner(const struct registry *reg, const struct conn_action *a)
{
    for (size_t i = 0; a && i < reg->n; i++) {
        for (const struct conn_action *x = reg->list[i]->actions; x && x->name; x++) {
            if (x == a)
                return reg->list[i];
        }
    }
    return NULL;
}

const struct connector *registry_trigger_owner(const struct registry *reg, const struct conn_trigger *t)
{
    for (size_t i = 0; t && i < reg->n; i++) {
        for (const struct conn_trigger *x = reg->list[i]->triggers; x && x->name; x++) {
            if (x == t)
                return reg->list[i];
        }
    }
    return NULL;
}

void registry_free_slots(const struct registry *reg, void **slots, size_t n)
{
    for (size_t i = 0; i < n && i < reg->n; i++) {
        if (slots[i] && reg->list[i]->thread_slot_free)
            reg->list[i]->thread_slot_free(slots[i]);
        slots[i] = NULL;
    }
}

int registry_connector_index(const struct registry *reg, const struct connector *c)
{
    for (size_t i = 0; c && i < reg->n; i++) {
        if (reg->list[i] == c)
            return (int)i;
    }
    return -1;
}

static const char *ptype_name(enum conn_ptype t)
{
    switch (t) {
    case CONN_P_STRING: return "a string";
    case CONN_P_INT: return "an integer";
    case CONN_P_BOOL: return "true or false";
    case CONN_P_OBJECT: return "an object";
    case CONN_P_ARRAY: return "an array";
    case CONN_P_DURATION: return "a duration such as 30s";
    case CONN_P_ANY: return "any value";
    }
    return "?";
}

static bool type_ok(enum conn_ptype t, const json_t *v)
{
    switch (t) {
    case CONN_P_STRING: return json_is_string(v) || json_is_integer(v);
    case CONN_P_INT: return json_is_integer(v);
    case CONN_P_BOOL: return json_is_boolean(v);
    case CONN_P_OBJECT: return json_is_object(v);
    case CONN_P_ARRAY: return json_is_array(v);
    case CONN_P_DURATION: return json_is_string(v) || json_is_integer(v);
    case CONN_P_ANY: return true;
    }
    return false;
}

int conn_params_check(const struct conn_action *a, const json_t *params, struct idf_err *err)
{
    const char *k;
    json_t *v;

    if (!json_is_object(params))
        return idf_err_set(err, IDF_EINVAL, "%s: parameters must be an object", a->name);
    json_object_foreach((json_t *)params, k, v)
    {
        const struct conn_param *p = a->params;
        while (p && p->name && strcmp(p->name, k) != 0)
            p++;
        if (!p || !p->name)
            return idf_err_set(err, IDF_EINVAL, "%s: unknown parameter '%s'", a->name, k);
        if (json_is_null(v) && !p->required)
            continue;
        if (!type_ok(p->type, v))
            return idf_err_set(err, IDF_EINVAL, "%s: parameter '%s' must be %s", a->name, k,
                               ptype_name(p->type));
    }
    for (const struct conn_param *p = a->params; p && p->name; p++) {
        if (p->required) {
            v = json_object_get(params, p->name);
            if (!v || json_is_null(v))
                return idf_err_set(err, IDF_EINVAL, "%s: missing required parameter '%s'", a->name,
                                   p->name);
        }
    }
    return 0;
}

int conn_fail(struct conn_result *res, int code, bool retryable, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    res->retryable = retryable;
    return code;
}

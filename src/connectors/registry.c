/* registry.c — the table of connectors and look-ups by name.
 *
 * The only place that names connectors: adding one is one line here plus its
 * folder. The table is constant, so look-ups are safe from any thread. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "connectors/connector.h"

extern const struct connector connector_core;
extern const struct connector connector_okta;
extern const struct connector connector_happyfox;
extern const struct connector connector_webhook;

const struct connector *const connector_table[] = {
    &connector_core,
    &connector_okta,
    &connector_happyfox,
    &connector_webhook,
    NULL,
};

const struct conn_action *registry_find_action(const char *name)
{
    for (int i = 0; connector_table[i]; i++) {
        for (const struct conn_action *a = connector_table[i]->actions; a && a->name; a++) {
            if (strcmp(a->name, name) == 0)
                return a;
        }
    }
    return NULL;
}

const struct conn_trigger *registry_find_trigger(const char *name)
{
    for (int i = 0; connector_table[i]; i++) {
        for (const struct conn_trigger *t = connector_table[i]->triggers; t && t->name; t++) {
            if (strcmp(t->name, name) == 0)
                return t;
        }
    }
    return NULL;
}

const struct connector *registry_action_owner(const struct conn_action *a)
{
    for (int i = 0; connector_table[i]; i++) {
        for (const struct conn_action *x = connector_table[i]->actions; x && x->name; x++) {
            if (x == a)
                return connector_table[i];
        }
    }
    return NULL;
}

const struct connector *registry_trigger_owner(const struct conn_trigger *t)
{
    for (int i = 0; t && connector_table[i]; i++) {
        for (const struct conn_trigger *x = connector_table[i]->triggers; x && x->name; x++) {
            if (x == t)
                return connector_table[i];
        }
    }
    return NULL;
}

const struct connector *registry_find_connector(const char *name, size_t len)
{
    for (int i = 0; name && connector_table[i]; i++)
        if (strlen(connector_table[i]->name) == len && memcmp(connector_table[i]->name, name, len) == 0)
            return connector_table[i];
    return NULL;
}

void registry_free_slots(void **slots, size_t n)
{
    for (size_t i = 0; i < n && connector_table[i]; i++) {
        if (slots[i] && connector_table[i]->thread_slot_free)
            connector_table[i]->thread_slot_free(slots[i]);
        slots[i] = NULL;
    }
}

int registry_connector_index(const struct connector *c)
{
    for (int i = 0; connector_table[i]; i++) {
        if (connector_table[i] == c)
            return i;
    }
    return -1;
}

int registry_count(void)
{
    int n = 0;
    while (connector_table[n])
        n++;
    return n;
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

/* registry.h — a connector table and the look-ups in it.
 *
 * A `struct registry` is a list of connectors: the engine, the workflow
 * parser, the API and the CLI resolve actions, triggers and connectors by
 * name only through one. registry_default() is the built-in table (the only
 * place that names connectors: connectors/registry.c); tests build their own
 * (tests/support/fakeconn.h) and hand it to the engine as
 * engine_opts.connectors. A registry and its connectors are constant while
 * in use, so look-ups are safe from any thread. Every `reg` argument is
 * borrowed and must not be NULL. */
#ifndef IDF_CONNECTORS_REGISTRY_H
#define IDF_CONNECTORS_REGISTRY_H

#include <stddef.h>

struct connector;
struct conn_action;
struct conn_trigger;

struct registry {
    const struct connector *const *list; /* n connectors, borrowed; names unique */
    size_t n;                            /* entries of list */
};

/* The built-in table (core, okta, happyfox, webhook). Static; any thread. */
const struct registry *registry_default(void);

/* The connector named name (NUL-terminated), or NULL when none is. */
const struct connector *registry_find(const struct registry *reg, const char *name);
/* The same for the len bytes at name (not NUL-terminated: a path segment). */
const struct connector *registry_find_n(const struct registry *reg, const char *name, size_t len);
/* Finds an action or trigger by its full name; NULL when unknown. */
const struct conn_action *registry_find_action(const struct registry *reg, const char *name);
const struct conn_trigger *registry_find_trigger(const struct registry *reg, const char *name);
/* The connector owning an action (for per-thread slots); NULL when unknown. */
const struct connector *registry_action_owner(const struct registry *reg, const struct conn_action *a);
/* The connector owning a trigger; NULL when unknown. */
const struct connector *registry_trigger_owner(const struct registry *reg, const struct conn_trigger *t);
/* Index of a connector in reg->list, -1 when it is not there. */
int registry_connector_index(const struct registry *reg, const struct connector *c);
/* Frees the per-connector thread slots slots[0..n) (one per connector, in
 * list order, as exec_env.slots) with each connector's thread_slot_free, and
 * sets them to NULL. */
void registry_free_slots(const struct registry *reg, void **slots, size_t n);

#endif

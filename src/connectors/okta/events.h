/* events.h — private to src/connectors/okta/: turning Okta System Log
 * LogEvents (from event-hook deliveries or /api/v1/logs pages) into idflow's
 * normalized events, and the okta connector's ingress (triggers.c). */
#ifndef IDF_CONNECTORS_OKTA_EVENTS_H
#define IDF_CONNECTORS_OKTA_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "connectors/connector.h"
#include "core/err.h"

#define OKTAC_EV_MAX_ID 200          /* bytes of a LogEvent uuid we accept */
#define OKTAC_EV_MAX_TYPE 200        /* bytes of an eventType we accept */
#define OKTAC_HOOK_MAX_CHALLENGE 512 /* bytes of a verification challenge echoed back */
#define OKTAC_HOOK_HEADER "Authorization" /* the header carrying the hook's shared secret */

/* The trigger name a LogEvent raises: the dedicated trigger for its
 * eventType (matched case-insensitively) and outcome, else "okta.event".
 * A FAILURE or DENY outcome only raises a dedicated trigger for
 * user.account.lock (whose outcome is always FAILURE / LOCKED_OUT); a failed
 * lifecycle change did not happen, so it raises "okta.event". */
const char *oktac__trigger_for(const char *event_type, const char *outcome_result);

/* Normalizes one LogEvent into {id, type, event_type, time, display_message,
 * outcome, user, group, app, actor, changes, api_token_id, raw}. Missing or
 * null parts (actor, target, transaction: the Admin Console preview) become
 * null members, never an error. IDF_EINVAL (with msg) when ev is not an
 * object or has no usable uuid. *out: caller decrefs. */
int oktac__event_normalize(const json_t *ev, json_t **out, char *msg, size_t msg_n) IDF_MUST_USE;

/* Normalizes every LogEvent of an array (a delivery's data.events or a
 * System Log page): an array of normalized events, skipping (and logging)
 * items that are not objects with a uuid. IDF_ETOOBIG beyond
 * CONN_INGRESS_MAX_EVENTS. *out: caller decrefs. */
int oktac__events_normalize(const json_t *list, json_t **out, char *msg, size_t msg_n) IDF_MUST_USE;

/* Appends to types (an array) the eventTypes an event hook must subscribe
 * for trigger (with its params) to fire, in Okta's spelling and without
 * duplicates. Types Okta does not allow in event hooks (eligible.h) are
 * appended to left_out instead (may be NULL): only System Log polling brings
 * them. False when the trigger needs no hook-subscribable type at all (not an
 * okta trigger, or okta.event with a '*' prefix). */
bool oktac__event_types_for(const char *trigger, const json_t *params, json_t *types, json_t *left_out);

/* conn_ingress.reachable of the okta connector: false, with msg saying why
 * and what to do, when the connection's mode is hook and the trigger listens
 * to an event type no event hook can carry (ineligible, or an okta.event
 * prefix). */
bool oktac__reachable(const json_t *config, const char *trigger, const json_t *params, char *msg, size_t msg_n);

/* hookreg.c: the conn_register_fn of the okta ingress. */
int oktac__register_hook(struct conn_hook_reg *r);

/* triggers.c */
extern const struct conn_trigger oktac__triggers[];
extern const struct conn_ingress oktac__ingress;

/* poll.c: one page of /api/v1/logs after p->cursor (see conn_poll_fn). */
int oktac__poll(struct conn_poll *p);

#endif

/* eligible.h — Okta's list of the System Log event types an event hook may
 * subscribe to (the catalog's `event-hook-eligible` tag), carried as data:
 * event-hook-eligible.txt beside this header, with its source and release,
 * embedded into the binary at build time (eligible.c).
 *
 * The one place eligibility comes from, for the connector and the sandbox
 * alike: hook registration subscribes only these types, `idflow validate`
 * and `idflow serve` warn about the others on hook-only connections (they
 * are left to System Log polling), and the sandbox refuses the others on
 * POST/PUT /api/v1/eventHooks. Public to src/connectors/okta/ and
 * src/sandbox/. Pure functions over read-only data; any thread. */
#ifndef IDF_CONNECTORS_OKTA_ELIGIBLE_H
#define IDF_CONNECTORS_OKTA_ELIGIBLE_H

#include <stdbool.h>
#include <stddef.h>

#define OKTAC_ELIGIBLE_RELEASE "2026.08.1" /* Okta catalog release of event-hook-eligible.txt */
#define OKTAC_ELIGIBLE_MAX_TYPE 128        /* bytes of an event type looked up; longer is never eligible */

/* One entry of the list. */
struct oktac_eligible {
    char type[OKTAC_ELIGIBLE_MAX_TYPE + 1]; /* Okta's spelling ("user.authentication.auth_via_IDP") */
    bool beta;                              /* Okta flags it beta: an org may not have it yet */
};

/* True when Okta allows event_type in an event hook. Compared without
 * regard to case (as idflow compares event types everywhere); NULL, empty or
 * longer than OKTAC_ELIGIBLE_MAX_TYPE is false. info_out (may be NULL) gets
 * Okta's spelling and the beta flag when true. */
bool oktac_event_hook_eligible(const char *event_type, struct oktac_eligible *info_out);

/* The number of types in the list (314 in release 2026.08.1). */
size_t oktac_event_hook_eligible_count(void);

/* Entry i (0-based, in the list's order) into *out; false past the end. */
bool oktac_event_hook_eligible_at(size_t i, struct oktac_eligible *out);

#endif

/* reach.c — whether a workflow's trigger can ever receive events
 * through the stored connections it listens to (credentials.h,
 * cred_reach_warnings).
 *
 * It asks each connection's connector (conn_ingress.reachable) with the
 * connection's NON-secret config only: nothing is unsealed, no key is
 * needed, and a warning never quotes a secret. It warns, never refuses:
 * `idflow validate` prints the warnings, `idflow serve` logs them once at
 * start, `idflow connect --register-hook` after registering. Knows no
 * connector by name. Any thread, with the caller's store connection. */
#include <stdio.h>
#include <string.h>

#include "credentials/credentials.h"
#include "connectors/connector.h"
#include "store/store.h"

int cred_reach_warnings(struct store *s, const struct registry *reg, const struct conn_trigger *t,
                               const json_t *params, json_t *warnings)
{
    const struct connector *c = registry_trigger_owner(reg, t);
    const char *want = json_string_value(json_object_get(params, "connection"));
    struct store_connection_info *rows = NULL;
    size_t n = 0;
    int rc = 0;

    if (!c || !c->ingress || !c->ingress->reachable)
        return 0;
    rc = store_connection_list(s, &rows, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const char *name = rows[i].name, *kind = rows[i].kind;
        json_t *config;
        char why[600];

        if (!name || !kind || strcmp(kind, c->name) != 0 || (want && strcmp(want, name) != 0))
            continue;
        config = cred_config_json(rows[i].config);
        why[0] = '\0';
        if (!c->ingress->reachable(config, t->name, params, why, sizeof why))
            json_array_append_new(warnings, json_sprintf("connection '%s' (%s): %s", name, kind, why));
        json_decref(config);
    }
    store_connection_list_free(rows, n);
    return 0;
}

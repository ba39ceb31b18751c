/* cli_hooks.h — `idflow connect KIND NAME --register-hook URL` (hookreg.c),
 * private to src/cli/. */
#ifndef IDF_CLI_HOOKS_H
#define IDF_CLI_HOOKS_H

struct connector;
struct seal_key;
struct store;

#define CLI_HOOK_SECRET_BYTES 32 /* random bytes of a generated hook secret (hex-encoded) */

/* Registers (creates or updates, then verifies) the remote event hook of
 * stored connection `name` of connector c at url, for the triggers of the
 * enabled workflows in the store that may listen to it, with a freshly
 * generated hook secret, which is stored sealed in the connection first
 * (and the previous connection restored when registration fails). Prints
 * what was done; returns CLI_OK, CLI_FAIL or CLI_USAGE. */
int cli__register_hook(struct store *st, const struct seal_key *key, const struct connector *c, const char *name,
                       const char *url);

#endif

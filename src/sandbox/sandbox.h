/* sandbox.h — idflow's local emulator of the Okta and HappyFox APIs.
 *
 * One HTTP listener serves the emulated Okta org under /api/v1/ (and
 * /oauth2/v1/token), the emulated HappyFox account under /api/1.1/json/, and
 * admin endpoints under /_sandbox/. State is seeded from a JSON file (a
 * default seed ships in the binary) and kept in memory. See docs/sandbox.md
 * for what is emulated and every behaviour chosen where the sources were
 * silent. Thread-safe: all state sits behind one lock. */
#ifndef IDF_SANDBOX_SANDBOX_H
#define IDF_SANDBOX_SANDBOX_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"

/* How every OAuth access token the emulated Okta org issues begins: the
 * base64url of {"kid":"sandbox-at","alg":"RS256"}, a JWT header as Okta's
 * tokens have (the rest is random: opaque, as clients must treat tokens).
 * Tests search logs and history for it to find a leaked token. */
#define SANDBOX_OKTA_TOKEN_HEADER "eyJraWQiOiJzYW5kYm94LWF0IiwiYWxnIjoiUlMyNTYifQ"

struct sandbox_opts {
    const char *addr;       /* default "127.0.0.1" */
    int port;               /* 0 = pick a free port */
    const char *seed_path;  /* NULL = the embedded default seed */
    const char *token;      /* Okta SSWS token accepted (default "sandbox-okta-token") */
    const char *faults;     /* fault spec, see docs/sandbox.md; NULL = none */
    int rate_limit;         /* Okta per-bucket requests/minute override; 0 = the notes' defaults */
    int token_share;        /* % of each Okta bucket one credential may use (1..100); 0 = 50, Okta's default */
    int rate_window_ms;     /* length of an Okta rate-limit window; 0 = 60000 (tests shorten it) */
    int hf_get_limit;       /* HappyFox GET/minute; 0 = 500 */
    int hf_post_limit;      /* HappyFox POST/minute; 0 = 300 */
};

struct sandbox;

/* Starts the sandbox; err says why not (bad seed, port taken). */
int sandbox_start(const struct sandbox_opts *opts, struct sandbox **out, struct idf_err *err) IDF_MUST_USE;
int sandbox_port(const struct sandbox *sb);
/* Stops the listener and any delivery threads; frees. sb may be NULL. */
void sandbox_stop(struct sandbox *sb);

/* The embedded default seed (JSON text, static). */
const char *sandbox_default_seed(void);

/* `idflow sandbox [flags]` (argv[0] is the subcommand name): serves until
 * SIGINT/SIGTERM. Returns the exit status: 0, 1 (cannot start), 2 (usage). */
int sandbox_main(int argc, char **argv);

#endif

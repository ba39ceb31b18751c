/* ingress.c — the connector toolkit's ingress helpers (toolkit.h, prefix
 * ctk_): the constant-time hook secret check, the hook answer, and the
 * conn_call through which a poll, a hook's expansion or a hook registration
 * reaches the remote with the connector's own client code.
 *
 * Leaves to the connector: where the secret travels (a header, the path),
 * what a delivery's body holds, which events it raises.
 *
 * Threads: any (hooks run on the HTTP server's threads); no state. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "connectors/toolkit.h"

bool ctk_secret_equal(const char *want, const char *got)
{
    unsigned char a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];
    bool ok;

    if (!want || !*want || !got)
        return false;
    /* fixed-size digests: the comparison takes as long whatever the lengths */
    crypto_generichash(a, sizeof a, (const unsigned char *)want, strlen(want), NULL, 0);
    crypto_generichash(b, sizeof b, (const unsigned char *)got, strlen(got), NULL, 0);
    ok = sodium_memcmp(a, b, sizeof a) == 0;
    sodium_memzero(a, sizeof a);
    sodium_memzero(b, sizeof b);
    return ok;
}

void ctk_hook_answer(struct conn_hook_out *out, int status, const char *msg)
{
    out->status = status;
    snprintf(out->message, sizeof out->message, "%s", msg);
    if (status >= 400)
        out->body = json_pack("{s:s}", "error", msg);
}

void ctk_ingress_call(struct conn_call *call, struct http_client *http, const json_t *connection,
                      const char *connection_name, const char *step_id, void **thread_slot)
{
    memset(call, 0, sizeof *call);
    call->http = http;
    call->connection = connection;
    call->connection_name = connection_name;
    call->step_id = step_id;
    call->attempt = 1;
    call->item = -1;
    call->thread_slot = thread_slot;
}

void ctk_ingress_message(char *out, size_t n, const struct conn_result *res, const char *fallback)
{
    snprintf(out, n, "%.*s", CTK_QUOTE_MESSAGE, res->message[0] ? res->message : fallback);
}

void ctk_result_release(struct conn_result *res)
{
    json_decref(res->detail);
    json_decref(res->output);
    res->detail = res->output = NULL;
}

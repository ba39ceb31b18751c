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
#include <stdlib.h>
#include <string.h>

#include "connectors/toolkit.h"
#include "net/http.h"

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

bool ctk_hook_post(const struct http_req *req, struct conn_hook_out *out)
{
    if (strcmp(req->method, "POST") == 0)
        return true;
    ctk_hook_answer(out, 405, "use POST");
    return false;
}

bool ctk_hook_authenticate(const json_t *conn, const char *field, const struct http_req *req, const char *header,
                           struct conn_hook_out *out)
{
    const char *want = json_string_value(json_object_get(conn, field));
    char msg[200];

    if (!want || !*want) {
        snprintf(msg, sizeof msg, "this connection has no %.60s: hooks are not enabled for it", field);
        ctk_hook_answer(out, 401, msg);
        return false;
    }
    if (!ctk_secret_equal(want, http_req_header(req, header))) {
        snprintf(msg, sizeof msg, "missing or wrong secret in the %.60s header", header);
        ctk_hook_answer(out, 401, msg);
        return false;
    }
    return true;
}

int ctk_hook_json(const struct http_req *req, size_t flags, struct conn_hook_out *out, json_t **body_out)
{
    json_error_t jerr;
    char msg[300];

    *body_out = json_loadb(req->body ? req->body : "", req->body_len, flags, &jerr);
    if (*body_out)
        return 0;
    snprintf(msg, sizeof msg, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    ctk_hook_answer(out, 400, msg);
    return IDF_EINVAL;
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

void ctk_poll_fail(struct conn_poll *p, const struct conn_result *res, const char *fallback)
{
    ctk_ingress_message(p->message, sizeof p->message, res, fallback);
    p->retryable = res->retryable;
    p->retry_after_ms = res->retry_after_ms;
    json_decref(p->events);
    p->events = NULL;
    free(p->cursor_out);
    p->cursor_out = NULL;
}

void ctk_result_release(struct conn_result *res)
{
    json_decref(res->detail);
    json_decref(res->output);
    res->detail = res->output = NULL;
}

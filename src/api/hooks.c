/* hooks.c — the push ingress of `idflow serve`: POST (and the one-time
 * verification GET) on /hooks/<connector>/<connection>.
 *
 * Generic: it finds the connector by the first path segment in the registry
 * (one with an ingress hook), resolves the named connection of that kind
 * with its secrets unsealed, and lets the connector's hook function
 * authenticate and normalize the request (connectors/connector.h). A
 * connector whose ingress sets secret_in_path is also reached at
 * /hooks/<connector>/<connection>/<secret>: the extra segment goes to its
 * hook with the request (conn_hook_path_secret) and is never logged, quoted
 * in an answer or stored (the logger masks it wherever a path appears). It then
 * stores every normalized event (engine_submit_events: source = connector,
 * source_id = the event's id, connection = the name) and every delivery the
 * connector must still read from its remote (engine_submit_deliveries), and
 * answers only after all are durable, deduplicated on (source, source_id).
 * Nothing here waits on a workflow or a remote: the events are matched, and
 * the deliveries expanded, by the engine after the answer (engine/match.c).
 * A failed submission answers 503 so the sender retries; events already
 * stored are then deduplicated on the retry.
 *
 * Bad input changes nothing: an unknown connector or connection is 404, a
 * body over API_HOOKS_MAX_BODY 413, a wrong secret 401 and malformed JSON
 * 400, all decided before anything is submitted.
 *
 * Threads: the HTTP server's, concurrently. Each thread uses its own store
 * connection and connection cache (api/thread.c: opened on first use, closed
 * when the thread ends); the master key is shared read-only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "credentials/credentials.h"
#include "connectors/connector.h"
#include "core/log.h"
#include "engine/engine.h"
#include "store/store.h"

static const struct connector *hook_connector(const char *name, size_t n)
{
    const struct connector *c = registry_find_n(registry_default(), name, n);
    return c && c->ingress && c->ingress->hook ? c : NULL;
}

void api__hooks_route(struct api *a, const struct http_req *req, struct http_resp *resp, const char *rest)
{
    const char *slash = strchr(rest, '/'), *end;
    const struct connector *c;
    struct store *st;
    struct cred_cache *conns;
    const json_t *conn = NULL;
    struct conn_hook_out out;
    struct idf_err err;
    char name[CRED_NAME_MAX + 1], msg[600];
    size_t n_new = 0;
    int rc;

    memset(&out, 0, sizeof out);
    idf_err_clear(&err);
    c = slash ? hook_connector(rest, (size_t)(slash - rest)) : NULL;
    /* <connection>, then optionally /<secret> for a connector that takes it
     * there; the path is never quoted back (it may hold a secret) */
    end = c ? strchr(slash + 1, '/') : NULL;
    if (!c || (size_t)((end ? end : slash + 1 + strlen(slash + 1)) - (slash + 1)) > CRED_NAME_MAX ||
        (end && (!c->ingress->secret_in_path || !conn_hook_path_secret(req->path)))) {
        api__error(resp, 404, "no such hook: use /hooks/<connector>/<connection>");
        return;
    }
    snprintf(name, sizeof name, "%.*s", (int)((end ? end : slash + 1 + strlen(slash + 1)) - (slash + 1)), slash + 1);
    if (!cred_name_valid(name)) {
        api__error(resp, 404, "no such hook: use /hooks/<connector>/<connection>");
        return;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0) {
        api__error(resp, 405, "use POST (deliveries) or GET (verification)");
        return;
    }
    if (req->body_len > API_HOOKS_MAX_BODY) {
        api__error(resp, 413, "the delivery is larger than 1 MiB");
        return;
    }
    st = api__thread_store(a, &err);
    conns = st ? api__thread_conns(a, &err) : NULL;
    if (!conns) {
        log_error("hook %s/%s: %s", c->name, name, err.msg);
        api__error(resp, 503, "the store is not available");
        return;
    }
    rc = cred_resolve(conns, st, c->name, name, &conn, &err);
    if (rc == IDF_ENOTFOUND || rc == IDF_EINVAL) {
        snprintf(msg, sizeof msg, "no %s connection named '%s'", c->name, name);
        api__error(resp, 404, msg);
        return;
    }
    if (rc) {
        log_error("hook %s/%s: cannot resolve the connection: %s", c->name, name, err.msg);
        api__error(resp, 503, "the connection cannot be opened");
        return;
    }
    rc = c->ingress->hook(conn, req, &out);
    if (rc) {
        api__error(resp, 500, "the delivery could not be processed");
        goto out;
    }
    if (out.status >= 300) {
        log_warn("hook %s/%s: %d from %s: %s", c->name, name, out.status, req->remote ? req->remote : "?",
                 out.message);
        http_resp_json(resp, out.status, out.body);
        out.body = NULL;
        goto out;
    }
    if (out.deliveries) {
        rc = engine_submit_deliveries(a->engine, c->name, STORE_VIA_HOOK, name, out.deliveries, &err);
        if (rc) {
            log_error("hook %s/%s: could not acknowledge the delivery: %s", c->name, name, err.msg);
            api__error(resp, 503, "the delivery could not be stored; retry");
            goto out;
        }
    }
    if (out.events) {
        rc = engine_submit_events(a->engine, c->name, STORE_VIA_HOOK, name, out.events, &n_new, &err);
        if (rc) {
            log_error("hook %s/%s: could not acknowledge the delivery: %s", c->name, name, err.msg);
            api__error(resp, 503, "the events could not be stored; retry");
            goto out;
        }
        log_debug("hook %s/%s: %zu event(s), %zu new", c->name, name, json_array_size(out.events), n_new);
    }
    http_resp_json(resp, out.status ? out.status : 200, out.body);
    out.body = NULL;
out:
    json_decref(out.body);
    json_decref(out.events);
    json_decref(out.deliveries);
}

/* hookreg.c — registering idflow's endpoint as an Okta event hook
 * (conn_register_fn, for `idflow connect okta NAME --register-hook URL`).
 *
 * Through the eventHooks API (API-NOTES §g): the hook whose channel uri is
 * URL is updated (PUT, the whole object), else one is created (POST); it is
 * subscribed to exactly the event types the enabled workflows' triggers need
 * that Okta allows in event hooks (events.c, eligible.h; the others are left
 * to System Log polling and listed as "not_subscribed"), authenticates with `Authorization: <hook_secret>`, is activated
 * when it was inactive, and is verified (Okta then GETs URL, which idflow
 * serve answers). Okta never returns the secret; no message quotes it.
 *
 * Threads: the CLI's only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/okta/events.h"
#include "connectors/okta/okta_internal.h"

#define OKTAC_HOOK_NAME_MAX 100

/* The id of the hook already pointing at url, or NULL (borrowed from list). */
static const char *find_hook(const json_t *list, const char *url, bool *active)
{
    size_t i;
    const json_t *h;
    json_array_foreach(list, i, h)
    {
        const char *u = json_string_value(
            json_object_get(json_object_get(json_object_get(h, "channel"), "config"), "uri"));
        if (u && strcmp(u, url) == 0) {
            const char *st = json_string_value(json_object_get(h, "status"));
            *active = st && strcmp(st, "ACTIVE") == 0;
            return json_string_value(json_object_get(h, "id"));
        }
    }
    return NULL;
}

int oktac__register_hook(struct conn_hook_reg *r)
{
    struct conn_call call;
    struct conn_result res;
    struct oktac o;
    struct oktac_resp lr, wr, vr;
    json_t *types = NULL, *left_out = NULL, *body = NULL;
    const char *secret = json_string_value(json_object_get(r->connection, "hook_secret"));
    const char *id = NULL;
    char path[300], name[OKTAC_HOOK_NAME_MAX];
    bool active = false, created = false;
    size_t i;
    const json_t *t;
    int rc;

    memset(&res, 0, sizeof res);
    memset(&lr, 0, sizeof lr);
    memset(&wr, 0, sizeof wr);
    memset(&vr, 0, sizeof vr);
    r->info = NULL;
    ctk_ingress_call(&call, r->http, r->connection, r->connection_name, "register_hook", NULL);
    rc = oktac__open(&o, &call, &res, "okta event hook registration");
    if (rc)
        goto out;
    if (!secret || !*secret) {
        rc = oktac__fail(&o, IDF_EINVAL, false, 0, "the connection has no hook_secret");
        goto out;
    }
    types = json_array();
    left_out = json_array();
    if (!types || !left_out) {
        rc = oktac__fail(&o, IDF_ENOMEM, false, 0, "out of memory");
        goto out;
    }
    json_array_foreach(r->triggers, i, t)
    {
        const char *tn = json_string_value(json_object_get(t, "name"));
        if (tn)
            (void)oktac__event_types_for(tn, json_object_get(t, "params"), types, left_out);
    }
    if (json_array_size(types) == 0 && json_array_size(left_out) > 0) {
        char *s = json_dumps(left_out, JSON_COMPACT);
        rc = oktac__fail(&o, IDF_EINVAL, false, 0,
                         "the workflows of connection '%s' listen only to event types Okta does not allow in event "
                         "hooks (%.300s): there is nothing to subscribe; System Log polling (mode both or poll) "
                         "delivers them", r->connection_name, s ? s : "");
        free(s);
        goto out;
    }
    if (json_array_size(types) == 0) {
        rc = oktac__fail(&o, IDF_EINVAL, false, 0,
                         "no enabled workflow listens to an okta trigger of connection '%s': there is nothing to "
                         "subscribe (load the workflows with idflow serve first)", r->connection_name);
        goto out;
    }
    snprintf(name, sizeof name, "idflow %.80s", r->connection_name);
    body = json_pack("{s:s,s:{s:s,s:O},s:{s:s,s:s,s:{s:s,s:{s:s,s:s,s:s}}}}", "name", name, "events", "type",
                     "EVENT_TYPE", "items", types, "channel", "type", "HTTP", "version", "1.0.0", "config", "uri",
                     r->url, "authScheme", "type", "HEADER", "key", OKTAC_HOOK_HEADER, "value", secret);
    if (!body) {
        rc = oktac__fail(&o, IDF_ENOMEM, false, 0, "out of memory");
        goto out;
    }
    rc = oktac__call(&o, "GET", "/api/v1/eventHooks", NULL, &lr, "list event hooks");
    if (rc)
        goto out;
    id = find_hook(lr.json, r->url, &active);
    if (id) {
        snprintf(path, sizeof path, "/api/v1/eventHooks/%.200s", id);
        rc = oktac__call(&o, "PUT", path, body, &wr, "update the event hook");
    } else {
        created = true;
        rc = oktac__call(&o, "POST", "/api/v1/eventHooks", body, &wr, "create the event hook");
        id = json_string_value(json_object_get(wr.json, "id"));
        active = true;
    }
    if (rc)
        goto out;
    if (!id) {
        rc = oktac__fail(&o, IDF_EREMOTE, false, 0, "Okta answered without an event hook id");
        goto out;
    }
    snprintf(path, sizeof path, "/api/v1/eventHooks/%.200s/lifecycle/activate", id);
    if (!active && (rc = oktac__call(&o, "POST", path, NULL, &vr, "activate the event hook")) != 0)
        goto out;
    oktac__resp_free(&vr);
    snprintf(path, sizeof path, "/api/v1/eventHooks/%.200s/lifecycle/verify", id);
    rc = oktac__call(&o, "POST", path, NULL, &vr,
                     "verify the event hook (Okta must reach the URL, where idflow serve must answer)");
    if (rc)
        goto out;
    r->info = json_pack("{s:s,s:b,s:O,s:s?}", "id", id, "created", created, "events", types, "verificationStatus",
                        json_string_value(json_object_get(vr.json, "verificationStatus")));
    if (r->info && json_array_size(left_out) > 0)
        json_object_set(r->info, "not_subscribed", left_out); /* not hook-eligible: left to polling */
out:
    oktac__resp_free(&lr);
    oktac__resp_free(&wr);
    oktac__resp_free(&vr);
    rc = oktac__close(&o, rc);
    if (rc)
        ctk_ingress_message(r->message, sizeof r->message, &res, "registering the hook failed");
    json_decref(types);
    json_decref(left_out);
    json_decref(body);
    ctk_result_release(&res); /* the failure detail is not kept */
    return rc;
}

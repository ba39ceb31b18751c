/* okta/hooks.c — Okta event hooks: CRUD, activate/deactivate, the one-time
 * verification, and deliveries of System Log events.
 *
 * A stored hook is the EventHook object plus "_sbx": {seq, authValue} — the
 * authScheme value is write-only in Okta and is never returned (nor dumped).
 * Verification GETs the hook's uri with `x-okta-verification-challenge`, a
 * 3 s timeout and one retry; the hook becomes VERIFIED only when the answer
 * is 200 with {"verification": <the challenge>}, else the call is 400.
 * Event types: only those in Okta's list of hook-eligible types (shared with
 * the connector, connectors/okta/eligible.h), else 400 E0000001 naming the
 * first one refused, for POST and PUT alike.
 * Deliveries: the events one request caused are batched into one
 * `com.okta.event_hook` envelope per ACTIVE + VERIFIED hook subscribed to any
 * of them, and queued (sbx__deliver_enqueue: 3 s timeout, one retry on 5xx
 * or timeout, none on 4xx). Okta requires https; the sandbox also accepts
 * plain http to a loopback host so tests can receive.
 *
 * Called with sb->lock held; verification releases it during the GET. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/okta/eligible.h"
#include "core/log.h"
#include "sandbox/okta/internal.h"
#include "sandbox/sandbox_core.h"

#define HOOK_MAX_NAME 255
#define HOOK_MAX_HEADERS 16
#define HOOK_MAX_URI 1024

static json_t *hook_public(struct sbok_ctx *c, const json_t *h)
{
    json_t *p = sbok__public(h);
    const char *id = json_string_value(json_object_get(h, "id"));
    bool active = strcmp(json_string_value(json_object_get(h, "status")) ?: "", "ACTIVE") == 0;
    char self[400], verify[440], life[440];
    snprintf(self, sizeof self, "%s/api/v1/eventHooks/%s", c->base, id);
    snprintf(verify, sizeof verify, "%s/lifecycle/verify", self);
    snprintf(life, sizeof life, "%s/lifecycle/%s", self, active ? "deactivate" : "activate");
    json_object_set_new(p, "_links",
                        json_pack("{s:{s:s}, s:{s:s, s:{s:[s]}}, s:{s:s, s:{s:[s]}}}", "self", "href", self, "verify",
                                  "href", verify, "hints", "allow", "POST", active ? "deactivate" : "activate", "href",
                                  life, "hints", "allow", "POST"));
    return p;
}

/* True when t is an event type Okta allows in an event hook, spelled as
 * Okta's list spells it (connectors/okta/eligible.h: the list the connector
 * registers from; unknown types are not in it either). */
static bool hook_eligible(const char *t)
{
    struct oktac_eligible e;
    return oktac_event_hook_eligible(t, &e) && strcmp(e.type, t) == 0;
}

/* Validates a create/replace body; fills *auth_value (borrowed). False after
 * answering. */
static bool hook_body_ok(struct sbok_ctx *c, const char **auth_value)
{
    json_t *b = c->body;
    json_t *name = json_object_get(b, "name"), *events = json_object_get(b, "events");
    json_t *channel = json_object_get(b, "channel"), *desc = json_object_get(b, "description");
    *auth_value = NULL;
    if ((name && !json_is_string(name)) || (events && !json_is_object(events)) ||
        (channel && !json_is_object(channel)) || (desc && !json_is_string(desc) && !json_is_null(desc))) {
        sbok__bad_body(c);
        return false;
    }
    if (!name || json_string_length(name) == 0 || json_string_length(name) > HOOK_MAX_NAME) {
        sbok__validation(c, "name", "name: The field cannot be left blank");
        return false;
    }
    json_t *items = json_object_get(events, "items"), *etype = json_object_get(events, "type");
    if (!events || !json_is_string(etype) || strcmp(json_string_value(etype), "EVENT_TYPE") != 0) {
        sbok__validation(c, "events", "events.type: must be EVENT_TYPE");
        return false;
    }
    if (!json_is_array(items) || json_array_size(items) == 0 || json_array_size(items) > SBOK_MAX_HOOK_EVENT_TYPES) {
        sbok__validation(c, "events", "events.items: between 1 and 300 event types are required");
        return false;
    }
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *t = json_string_value(it);
        if (!t || !hook_eligible(t)) {
            char why[200];
            snprintf(why, sizeof why, "events.items: '%.120s' is not an event hook eligible event type", t ? t : "");
            sbok__validation(c, "events", why);
            return false;
        }
    }
    json_t *cfg = json_object_get(channel, "config");
    const char *ctype = json_string_value(json_object_get(channel, "type"));
    const char *ver = json_string_value(json_object_get(channel, "version"));
    if (!channel || !ctype || strcmp(ctype, "HTTP") != 0 || !ver || strcmp(ver, "1.0.0") != 0 ||
        !json_is_object(cfg)) {
        sbok__validation(c, "channel", "channel: type HTTP, version 1.0.0 and config are required");
        return false;
    }
    const char *uri = json_string_value(json_object_get(cfg, "uri"));
    if (!uri || strlen(uri) > HOOK_MAX_URI ||
        !(strncmp(uri, "https://", 8) == 0 || (strncmp(uri, "http://", 7) == 0 && http_url_is_loopback(uri)))) {
        sbok__validation(c, "channel.config.uri", "channel.config.uri: must be an https URL");
        return false;
    }
    json_t *hdrs = json_object_get(cfg, "headers"), *h;
    if (hdrs && !json_is_null(hdrs) && (!json_is_array(hdrs) || json_array_size(hdrs) > HOOK_MAX_HEADERS)) {
        sbok__bad_body(c);
        return false;
    }
    json_array_foreach(hdrs, i, h)
    {
        const char *k = json_string_value(json_object_get(h, "key")), *v = json_string_value(json_object_get(h, "value"));
        if (!k || !v || !*k || strpbrk(k, ": \r\n") || strpbrk(v, "\r\n")) {
            sbok__validation(c, "channel.config.headers", "channel.config.headers: key and value are required");
            return false;
        }
    }
    json_t *as = json_object_get(cfg, "authScheme");
    if (as && !json_is_null(as)) {
        const char *t = json_string_value(json_object_get(as, "type"));
        const char *k = json_string_value(json_object_get(as, "key"));
        const char *v = json_string_value(json_object_get(as, "value"));
        if (!json_is_object(as) || !t || strcmp(t, "HEADER") != 0 || !k || !*k || strpbrk(k, ": \r\n") ||
            (v && strpbrk(v, "\r\n"))) {
            sbok__validation(c, "channel.config.authScheme", "channel.config.authScheme: type HEADER and key required");
            return false;
        }
        *auth_value = v;
    }
    return true;
}

/* Copies the writable parts of the body into the stored hook h. */
static void hook_store(struct sbok_ctx *c, json_t *h, const char *auth_value)
{
    json_t *b = c->body, *cfg_in = json_object_get(json_object_get(b, "channel"), "config");
    json_t *as_in = json_object_get(cfg_in, "authScheme");
    json_t *cfg = json_pack("{s:O, s:s}", "uri", json_object_get(cfg_in, "uri"), "method", "POST");
    json_t *hdrs = json_object_get(cfg_in, "headers");
    if (json_is_array(hdrs)) {
        json_t *out = json_array(), *x;
        size_t i;
        json_array_foreach(hdrs, i, x)
        {
            json_array_append_new(out, json_pack("{s:O, s:O}", "key", json_object_get(x, "key"), "value",
                                                 json_object_get(x, "value")));
        }
        json_object_set_new(cfg, "headers", out);
    }
    if (json_is_object(as_in))
        json_object_set_new(cfg, "authScheme", json_pack("{s:s, s:O}", "type", "HEADER", "key",
                                                         json_object_get(as_in, "key")));
    json_t *old_uri = json_object_get(json_object_get(json_object_get(h, "channel"), "config"), "uri");
    bool changed = !old_uri || !json_equal(old_uri, json_object_get(cfg_in, "uri"));
    json_object_set_new(h, "channel", json_pack("{s:s, s:s, s:o}", "type", "HTTP", "version", "1.0.0", "config", cfg));
    json_object_set(h, "name", json_object_get(b, "name"));
    json_t *desc = json_object_get(b, "description");
    if (desc && !json_is_null(desc))
        json_object_set(h, "description", desc);
    else
        json_object_del(h, "description");
    json_t *items = json_object_get(json_object_get(b, "events"), "items");
    json_t *ev = json_pack("{s:s, s:O}", "type", "EVENT_TYPE", "items", items);
    json_t *filter = json_object_get(json_object_get(b, "events"), "filter");
    if (json_is_object(filter))
        json_object_set(ev, "filter", filter);
    json_object_set_new(h, "events", ev);
    if (auth_value)
        json_object_set_new(sbok__sbx(h), "authValue", json_string(auth_value));
    else if (!json_is_object(as_in))
        json_object_del(sbok__sbx(h), "authValue");
    if (changed) /* Okta: changing the channel requires verifying again */
        json_object_set_new(h, "verificationStatus", json_string("UNVERIFIED"));
    char now[32];
    sbok__now_iso(now);
    json_object_set_new(h, "lastUpdated", json_string(now));
    (void)c;
}

void sbok__hooks_list(struct sbok_ctx *c)
{
    json_t *out = json_array(), *h;
    size_t i;
    json_array_foreach(c->o->hooks, i, h)
    {
        json_array_append_new(out, hook_public(c, h));
    }
    sbok__json(c, 200, out);
}

void sbok__hooks_create(struct sbok_ctx *c)
{
    const char *auth = NULL;
    if (!sbok__body(c, false) || !hook_body_ok(c, &auth))
        return;
    if (json_array_size(c->o->hooks) >= SBOK_MAX_HOOKS)
        return sbok__validation(c, "eventHook", "The org already has the maximum number of event hooks (25)");
    char id[32], now[32];
    sbx__new_id(c->sb, "who", id);
    sbok__now_iso(now);
    json_t *h = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:{s:I}}", "id", id, "status", "ACTIVE",
                          "verificationStatus", "UNVERIFIED", "created", now, "lastUpdated", now, "createdBy",
                          json_object_get(c->actor, "id"), "_sbx", "seq", (json_int_t)sbok__next_seq(c->o));
    hook_store(c, h, auth);
    json_object_set_new(h, "verificationStatus", json_string("UNVERIFIED"));
    json_array_append_new(c->o->hooks, h);
    sbok__json(c, 200, hook_public(c, h));
}

static json_t *path_hook(struct sbok_ctx *c)
{
    json_t *h = sbok__find_id(c->o->hooks, c->seg[1]);
    if (!h)
        sbok__not_found(c, c->seg[1], "EventHook");
    return h;
}

void sbok__hooks_get(struct sbok_ctx *c)
{
    json_t *h = path_hook(c);
    if (h)
        sbok__json(c, 200, hook_public(c, h));
}

void sbok__hooks_replace(struct sbok_ctx *c)
{
    const char *auth = NULL;
    json_t *h = path_hook(c);
    if (!h || !sbok__body(c, false) || !hook_body_ok(c, &auth))
        return;
    hook_store(c, h, auth);
    sbok__json(c, 200, hook_public(c, h));
}

void sbok__hooks_delete(struct sbok_ctx *c)
{
    json_t *h = path_hook(c);
    if (!h)
        return;
    if (strcmp(json_string_value(json_object_get(h, "status")) ?: "", "INACTIVE") != 0)
        return sbok__error(c, 403, "E0000107",
                           "The entity is not in the expected state for the requested transition.", NULL);
    for (size_t i = json_array_size(c->o->hooks); i-- > 0;)
        if (json_array_get(c->o->hooks, i) == h)
            json_array_remove(c->o->hooks, i);
    sbok__no_content(c);
}

/* Builds the NULL-terminated header list of a hook (auth + custom headers);
 * caller frees each string and the array. */
static char **hook_headers(const json_t *h, const char *extra)
{
    json_t *cfg = json_object_get(json_object_get(h, "channel"), "config");
    json_t *hdrs = json_object_get(cfg, "headers"), *x;
    size_t n = json_array_size(hdrs), i, k = 0;
    char **out = calloc(n + 6, sizeof *out);
    if (!out)
        return NULL;
    if (asprintf(&out[k], "Accept: application/json") >= 0)
        k++;
    if (asprintf(&out[k], "Content-Type: application/json") >= 0)
        k++;
    const char *key = json_string_value(json_object_get(json_object_get(cfg, "authScheme"), "key"));
    const char *val = json_string_value(json_object_get(json_object_get(h, "_sbx"), "authValue"));
    if (key && val && asprintf(&out[k], "%s: %s", key, val) >= 0)
        k++;
    json_array_foreach(hdrs, i, x)
    {
        if (asprintf(&out[k], "%s: %s", json_string_value(json_object_get(x, "key")) ?: "X",
                     json_string_value(json_object_get(x, "value")) ?: "") >= 0)
            k++;
    }
    if (extra && asprintf(&out[k], "%s", extra) >= 0)
        k++;
    out[k] = NULL;
    return out;
}

static void free_headers(char **h)
{
    for (size_t i = 0; h && h[i]; i++)
        free(h[i]);
    free(h);
}

static void hook_verify(struct sbok_ctx *c, json_t *h)
{
    char id[32], challenge[48], extra[96], why[256] = "";
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(h, "id")));
    sbok__rand_alnum(challenge, 40);
    snprintf(extra, sizeof extra, "x-okta-verification-challenge: %s", challenge);
    char **hdrs = hook_headers(h, extra);
    char *uri = strdup(json_string_value(json_object_get(json_object_get(json_object_get(h, "channel"), "config"),
                                                         "uri")) ?: "");
    struct sbx_outgoing out = {.method = "GET", .url = uri, .headers = (const char *const *)hdrs,
                               .timeout_ms = SBOK_HOOK_TIMEOUT_MS, .retries_on_5xx = 1};
    struct http_response resp = {0};
    struct idf_err err = {0};
    bool ok = false;
    /* The lock is released during the GET: h may be gone afterwards. */
    int rc = (hdrs && uri) ? sbx__fetch_unlocked(c->sb, &out, &resp, &err) : IDF_ENOMEM;
    if (rc != 0) {
        snprintf(why, sizeof why, "Event hook verification failed: %.200s", err.msg[0] ? err.msg : "request failed");
    } else if (resp.status != 200) {
        snprintf(why, sizeof why, "Event hook verification failed: the endpoint answered HTTP %ld", resp.status);
    } else {
        json_t *j = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
        ok = json_is_string(json_object_get(j, "verification")) &&
             strcmp(json_string_value(json_object_get(j, "verification")), challenge) == 0;
        json_decref(j);
        if (!ok)
            snprintf(why, sizeof why, "Event hook verification failed: the response did not echo the challenge");
    }
    http_response_free(&resp);
    free_headers(hdrs);
    free(uri);
    h = sbok__find_id(c->o->hooks, id);
    if (!h)
        return sbok__not_found(c, id, "EventHook");
    if (!ok)
        return sbok__validation(c, "verifyEventHook", why);
    char now[32];
    sbok__now_iso(now);
    json_object_set_new(h, "verificationStatus", json_string("VERIFIED"));
    json_object_set_new(h, "lastUpdated", json_string(now));
    sbok__json(c, 200, hook_public(c, h));
}

void sbok__hooks_lifecycle(struct sbok_ctx *c)
{
    json_t *h = path_hook(c);
    const char *op = c->seg[3];
    if (!h)
        return;
    if (strcmp(op, "verify") == 0)
        return hook_verify(c, h);
    if (strcmp(op, "activate") != 0 && strcmp(op, "deactivate") != 0)
        return sbok__not_found(c, c->req->path, "Page");
    char now[32];
    sbok__now_iso(now);
    json_object_set_new(h, "status", json_string(strcmp(op, "activate") == 0 ? "ACTIVE" : "INACTIVE"));
    json_object_set_new(h, "lastUpdated", json_string(now));
    sbok__json(c, 200, hook_public(c, h));
}

/* ------------------------------------------------------- deliveries */

static bool subscribed(const json_t *h, const char *type)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(json_object_get(h, "events"), "items"), i, it)
    {
        if (strcmp(json_string_value(it) ?: "", type) == 0)
            return true;
    }
    return false;
}

static bool deliverable(const json_t *h)
{
    return strcmp(json_string_value(json_object_get(h, "status")) ?: "", "ACTIVE") == 0 &&
           strcmp(json_string_value(json_object_get(h, "verificationStatus")) ?: "", "VERIFIED") == 0;
}

void sbok__hooks_deliver(struct sbok_ctx *c, json_t *events)
{
    size_t i, j;
    json_t *ev, *h;
    /* First note on each event which hooks it goes to (debugData.targetEventHookIds). */
    json_array_foreach(events, i, ev)
    {
        struct buf ids;
        buf_init(&ids, 1024);
        const char *type = json_string_value(json_object_get(ev, "eventType")) ?: "";
        json_array_foreach(c->o->hooks, j, h)
        {
            if (deliverable(h) && subscribed(h, type) &&
                buf_printf(&ids, "%s%s", ids.len ? "," : "", json_string_value(json_object_get(h, "id"))) != 0)
                break;
        }
        if (ids.len)
            json_object_set_new(json_object_get(json_object_get(ev, "debugContext"), "debugData"),
                                "targetEventHookIds", json_string(ids.data));
        buf_free(&ids);
    }
    json_array_foreach(c->o->hooks, j, h)
    {
        if (!deliverable(h))
            continue;
        json_t *batch = json_array();
        json_array_foreach(events, i, ev)
        {
            if (subscribed(h, json_string_value(json_object_get(ev, "eventType")) ?: ""))
                json_array_append_new(batch, sbok__public(ev));
        }
        if (json_array_size(batch) == 0) {
            json_decref(batch);
            continue;
        }
        char uuid[37], now[32], source[400];
        sbok__uuid(uuid);
        sbok__now_iso(now);
        snprintf(source, sizeof source, "%s/api/v1/eventHooks/%s", c->base, json_string_value(json_object_get(h, "id")));
        json_t *env = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:o}}", "eventType", "com.okta.event_hook",
                                "eventTypeVersion", "1.0", "cloudEventsVersion", "0.1", "source", source, "eventId",
                                uuid, "eventTime", now, "contentType", "application/json", "data", "events", batch);
        char *body = json_dumps(env, JSON_COMPACT);
        char **hdrs = hook_headers(h, NULL);
        const char *uri = json_string_value(json_object_get(json_object_get(json_object_get(h, "channel"), "config"),
                                                            "uri"));
        if (body && hdrs && uri) {
            struct sbx_outgoing out = {.method = "POST", .url = uri, .headers = (const char *const *)hdrs,
                                       .body = body, .timeout_ms = SBOK_HOOK_TIMEOUT_MS, .retries_on_5xx = 1};
            sbx__deliver_enqueue(c->sb, &out);
        }
        free(body);
        free_headers(hdrs);
        json_decref(env);
    }
}

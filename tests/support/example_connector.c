/* example_connector.c — a complete connector on the toolkit (the worked
 * example of docs/internals/connectors.md; see example_connector.h). What
 * is here is what is the connector's own: its auth header, its error-body
 * parser, its actions and its trigger. Sessions, secret masking, status
 * mapping, the hook's secret check and answers come from connectors/
 * toolkit.h. Threads: actions on workers, the hook on server threads. */
#include <stdio.h>
#include <string.h>

#include "connectors/connector.h"
#include "connectors/toolkit.h"
#include "support/example_connector.h"

static const struct ctk_kind example_kind = {
    .connector = "example",
    .product = "Example",
    .timeout_ms = 30000,
};

/* Its error body: {"error": {"message": "..."}} or {"message": "..."}. */
static void error_body(const json_t *json, const struct buf *body, char *out, size_t n)
{
    const json_t *e = json_object_get(json, "error");
    const char *m = json_string_value(json_object_get(json_is_object(e) ? e : json, "message"));

    (void)body;
    snprintf(out, n, "%s", m ? m : "");
}

/* Opens a session with the connection's token as a Bearer header. */
static int open_session(struct ctk_session *s, struct conn_call *call, struct conn_result *res, const char *action)
{
    const char *token;
    int rc = ctk_open(s, &example_kind, call, res, action);

    if (rc)
        return rc;
    token = json_string_value(json_object_get(call->connection, "token"));
    if (!token || !*token || strpbrk(token, "\r\n"))
        return ctk_fail(s, IDF_EAUTH, false, 0, "%s: connection '%s' has no valid token", action, s->conn_name);
    if (ctk_secret_add(s, token) || ctk_auth_set(s, "Authorization: Bearer %s", token))
        return ctk_fail(s, IDF_ENOMEM, true, 0, "%s: out of memory", action);
    return 0;
}

static int get_item(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    struct ctk_session s;
    const char *id = json_string_value(json_object_get(params, "id"));
    char path[300];
    int rc = open_session(&s, call, res, "example.get_item");

    if (rc == 0 && (!id || strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(id)))
        rc = ctk_fail(&s, IDF_EINVAL, false, 0, "example.get_item: id: letters, digits and '-' only");
    if (rc == 0) {
        snprintf(path, sizeof path, "/api/items/%.200s", id);
        rc = ctk_call(&s, "GET", path, NULL, error_body, &res->output);
    }
    return ctk_close(&s, rc);
}

static int create_item(struct conn_call *call, const json_t *params, struct conn_result *res)
{
    struct ctk_session s;
    json_t *body = json_pack("{s:O}", "name", json_object_get(params, "name"));
    int rc = open_session(&s, call, res, "example.create_item");

    if (rc == 0)
        rc = ctk_call(&s, "POST", "/api/items", body, error_body, &res->output);
    json_decref(body);
    return ctk_close(&s, rc);
}

/* POST /hooks/example/<connection>: {"id": event id, "item": {...}}. */
static int example_hook(const json_t *conn, const struct http_req *req, struct conn_hook_out *out)
{
    json_t *body = NULL;
    const char *id;

    if (!ctk_hook_post(req, out) || !ctk_hook_authenticate(conn, "hook_secret", req, "X-Example-Secret", out) ||
        ctk_hook_json(req, 0, out, &body))
        return 0;
    id = json_string_value(json_object_get(body, "id"));
    if (!id || !json_is_object(json_object_get(body, "item"))) {
        ctk_hook_answer(out, 400, "expected {\"id\": \"...\", \"item\": {...}}");
        json_decref(body);
        return 0;
    }
    out->events =
        json_pack("[{s:s, s:s, s:O}]", "id", id, "type", "example.item_changed", "item", json_object_get(body, "item"));
    json_decref(body);
    if (!out->events)
        return IDF_ENOMEM;
    ctk_hook_answer(out, 200, "accepted");
    return 0;
}

static const struct conn_field fields[] = {
    {"url", false, true, "the account URL, https://example.com"},
    {"token", true, true, "the API token"},
    {"hook_secret", true, false, "the secret the API sends in X-Example-Secret"},
    {NULL, false, false, NULL},
};
static const struct conn_connection_kind connection = {.fields = fields};

static const struct conn_param get_params[] = {
    {"id", CONN_P_STRING, true, "the item's id"},
    {NULL, 0, false, NULL},
};
static const struct conn_param create_params[] = {
    {"name", CONN_P_STRING, true, "the new item's name"},
    {NULL, 0, false, NULL},
};
static const struct conn_action actions[] = {
    {.name = "example.get_item", .doc = "Reads an item.", .params = get_params, .fn = get_item},
    {.name = "example.create_item",
     .doc = "Creates an item.",
     .params = create_params,
     .fn = create_item,
     .effect = CONN_EFFECT_CHANGE,
     .records_intent = true},
    {.name = NULL},
};

static const struct conn_trigger triggers[] = {
    {"example.item_changed", "The API pushed a changed item (.event.item).", NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static const struct conn_ingress ingress = {.hook = example_hook, .hook_secret_field = "hook_secret"};

const struct connector example_connector = {
    .name = "example",
    .connection = &connection,
    .actions = actions,
    .triggers = triggers,
    .ingress = &ingress,
};

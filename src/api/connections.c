/* connections.c — /api/v1/connectors and /api/v1/connections: what
 * `idflow connect` and `idflow connections` do, for the web UI and scripts
 * (docs/api.md "Connections").
 *
 * Secrets go in and never come out: a PUT's secret values are checked,
 * tried against the remote, sealed and stored, and wiped from memory when
 * the request ends; lists carry only the non-secret config; error messages
 * have every secret of the request masked (cred_check). A failed check
 * says its "cause" (cred_check_cause): the console tells "could not reach"
 * from "refused these credentials" by it, not by the status. Roles are
 * checked before these routes run (the route table of auth.c): reading is
 * viewer, testing operator, changing admin. HTTP server threads. */
#include <string.h>

#include "api/api_internal.h"
#include "api/render.h"
#include "credentials/credentials.h"
#include "connectors/connector.h"
#include "core/log.h"
#include "store/store.h"

static const struct connector *find_kind(const char *kind)
{
    const struct connector *c = registry_find(registry_default(), kind);
    return c && c->connection ? c : NULL;
}

/* GET /api/v1/connectors */
void api__connectors(struct http_resp *resp)
{
    const struct registry *reg = registry_default();
    json_t *list = json_array();

    for (size_t i = 0; list && i < reg->n; i++) {
        const struct connector *c = reg->list[i];
        json_t *fields;
        if (!c->connection)
            continue;
        fields = json_array();
        for (const struct conn_field *f = c->connection->fields; f->name; f++)
            json_array_append_new(fields, json_pack("{s:s,s:b,s:b,s:s}", "name", f->name, "required", f->required,
                                                    "secret", f->secret, "description", f->doc ? f->doc : ""));
        /* issue 19: the budget of destructive calls every kind accepts (credentials.c checks it) */
        json_array_append_new(fields,
                              json_pack("{s:s,s:b,s:b,s:s}", "name", CONN_MAX_DESTRUCTIVE_FIELD, "required", 0,
                                        "secret", 0, "description",
                                        "destructive calls allowed in any window of the period, over every "
                                        "workflow (N/PERIOD, e.g. 20/1h, or off; default " CONN_MAX_DESTRUCTIVE_DEFAULT
                                        "): over it a run is held for an admin"));
        json_array_append_new(list, json_pack("{s:s,s:o}", "name", c->name, "fields", fields));
    }
    http_resp_json(resp, 200, json_pack("{s:o}", "connectors", list));
}

/* An edit may leave out secrets: each one missing from config is taken
 * from the stored connection of that name — but only when it is of the same
 * kind and its "url" is unchanged. Otherwise whoever may edit connections
 * could point a stored token at a server of their own and read it there. */
static void keep_stored_secrets(struct api *a, struct store *st, const struct connector *c, const char *name,
                                json_t *config)
{
    json_t *stored = NULL;
    const char *kind, *old_url, *new_url;
    struct idf_err err;

    if (cred_load(st, a->key, name, &stored, &err) != 0)
        return; /* a new connection (or one that no longer opens): nothing to keep */
    kind = json_string_value(json_object_get(stored, "kind"));
    old_url = json_string_value(json_object_get(stored, "url"));
    new_url = json_string_value(json_object_get(config, "url"));
    if (kind && strcmp(kind, c->name) == 0 && ((!old_url && !new_url) || (old_url && new_url && !strcmp(old_url, new_url)))) {
        for (const struct conn_field *f = c->connection->fields; f->name; f++) {
            const char *v = json_string_value(json_object_get(stored, f->name));
            json_t *given = json_object_get(config, f->name);
            if (f->secret && v && (!given || json_is_null(given) || (json_is_string(given) && !*json_string_value(given))))
                json_object_set_new(config, f->name, json_string(v));
        }
    }
    cred_wipe_free(stored);
}

/* PUT /api/v1/connections/NAME {"kind", "config"} */
static void put(struct api *a, struct store *st, const struct api__caller *who, const struct http_req *req,
                struct http_resp *resp, const char *name)
{
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    json_t *config = json_object_get(body, "config");
    const struct connector *c = find_kind(json_string_value(json_object_get(body, "kind")));
    json_t *whoami = NULL;
    struct idf_err err;
    bool created = false;

    if (!json_is_object(body) || !json_is_object(config)) {
        api__error(resp, 400, "the body must be a JSON object {\"kind\": \"okta\", \"config\": {...}}");
        goto out;
    }
    if (!c) {
        api__error(resp, 400, "unknown \"kind\" (GET /api/v1/connectors lists the kinds)");
        goto out;
    }
    if (!a->key) {
        api__error(resp, 503, "idflow serve has no master key: connections cannot be sealed");
        goto out;
    }
    keep_stored_secrets(a, st, c, name, config);
    if (cred_validate(c, config, &err)) {
        log_mask_secrets(err.msg);
        api__error(resp, 400, err.msg);
        goto out;
    }
    if (cred_check(c, name, config, &whoami, &err)) {
        char msg[IDF_ERR_MSG_MAX + 64];
        snprintf(msg, sizeof msg, "the credential check failed, nothing was stored: %s", err.msg);
        http_resp_json(resp, 422, json_pack("{s:s,s:s,s:s}", "error", msg, "check", "failed", "cause",
                                            cred_check_cause(err.code)));
        goto out;
    }
    if (cred_prepare(c, name, config, &err)) { /* e.g. the protected groups' ids (issue 19) */
        api__error(resp, err.code == IDF_ENOTFOUND || err.code == IDF_EINVAL ? 400 : 502, err.msg);
        goto out;
    }
    if (cred_save(st, a->key, c, name, config, who->actor, &created, &err)) {
        log_mask_secrets(err.msg);
        api__error(resp, err.code == IDF_EINVAL ? 400 : 500, err.msg);
        goto out;
    }
    http_resp_json(resp, created ? 201 : 200,
                   json_pack("{s:s,s:s,s:b,s:o}", "name", name, "kind", c->name, "created", created, "whoami",
                             whoami ? whoami : json_null()));
    whoami = NULL;
out:
    json_decref(whoami);
    cred_wipe_free(body); /* the secrets of the request */
}

/* POST /api/v1/connections/NAME/test */
static void test(struct api *a, struct store *st, struct http_resp *resp, const char *name)
{
    json_t *conn = NULL, *whoami = NULL;
    const struct connector *c;
    struct idf_err err;
    int rc;

    if (!a->key) {
        api__error(resp, 503, "idflow serve has no master key: connections cannot be unsealed");
        return;
    }
    rc = cred_load(st, a->key, name, &conn, &err);
    if (rc) {
        log_mask_secrets(err.msg);
        api__error(resp, rc == IDF_ENOTFOUND ? 404 : 500, rc == IDF_ENOTFOUND ? "no such connection" : err.msg);
        return;
    }
    c = find_kind(json_string_value(json_object_get(conn, "kind")));
    if (!c)
        http_resp_json(resp, 200, json_pack("{s:b,s:s}", "ok", 0, "error", "this idflow has no connector of that kind"));
    else if (cred_check(c, name, conn, &whoami, &err))
        http_resp_json(resp, 200, json_pack("{s:b,s:s,s:s}", "ok", 0, "error", err.msg, "cause",
                                            cred_check_cause(err.code)));
    else
        http_resp_json(resp, 200, json_pack("{s:b,s:o}", "ok", 1, "whoami", whoami ? whoami : json_null()));
    cred_wipe_free(conn);
}

/* GET /api/v1/connections/NAME: its row of the list (never a secret). */
static void get_one(struct store *st, struct http_resp *resp, const char *name)
{
    struct store_connection_info *rows = NULL;
    json_t *found = NULL;
    size_t n = 0;

    if (store_connection_list(st, &rows, &n)) {
        api__error(resp, 500, "could not list connections");
        return;
    }
    for (size_t i = 0; i < n && !found; i++)
        if (rows[i].name && strcmp(rows[i].name, name) == 0)
            found = render_connection(&rows[i]);
    store_connection_list_free(rows, n);
    if (found)
        http_resp_json(resp, 200, found);
    else
        api__error(resp, 404, "no such connection");
}

void api__connections_route(struct api *a, struct store *st, const struct api__caller *who,
                            const struct http_req *req, struct http_resp *resp, const char *rest)
{
    char name[CRED_NAME_MAX + 1];
    const char *slash;
    size_t n;
    struct idf_err err;
    struct store_connection_info *rows = NULL;
    size_t n_rows = 0;
    int rc;

    if (*rest == '\0') {
        if (strcmp(req->method, "GET") != 0) {
            api__error(resp, 405, "use GET (PUT /api/v1/connections/NAME stores one)");
        } else if (store_connection_list(st, &rows, &n_rows)) {
            api__error(resp, 500, "could not list connections");
        } else {
            http_resp_json(resp, 200, json_pack("{s:o}", "connections", render_connections(rows, n_rows)));
            store_connection_list_free(rows, n_rows);
        }
        return;
    }
    slash = strchr(rest + 1, '/');
    n = slash ? (size_t)(slash - rest - 1) : strlen(rest + 1);
    if (*rest != '/' || n == 0 || n > CRED_NAME_MAX) {
        api__error(resp, 404, "no such connection");
        return;
    }
    memcpy(name, rest + 1, n);
    name[n] = '\0';
    if (!cred_name_valid(name)) {
        api__error(resp, 400, "a connection name is a letter or digit, then letters, digits, '.', '_' or '-'");
        return;
    }
    if (slash) {
        if (strcmp(slash, "/test") != 0)
            api__error(resp, 404, "unknown connection action");
        else if (strcmp(req->method, "POST") != 0)
            api__error(resp, 405, "use POST");
        else
            test(a, st, resp, name);
        return;
    }
    if (strcmp(req->method, "GET") == 0) {
        get_one(st, resp, name);
    } else if (strcmp(req->method, "PUT") == 0) {
        put(a, st, who, req, resp, name);
    } else if (strcmp(req->method, "DELETE") == 0) {
        rc = store_connection_delete(st, name, who->actor, &err);
        if (rc)
            api__error(resp, rc == IDF_ENOTFOUND ? 404 : 500, rc == IDF_ENOTFOUND ? "no such connection" : err.msg);
        else
            http_resp_json(resp, 200, json_pack("{s:s}", "deleted", name));
    } else {
        api__error(resp, 405, "use GET to read a connection, PUT to store one, DELETE to remove it");
    }
}

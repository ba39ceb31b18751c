/* hookreg.c — `idflow connect KIND NAME --register-hook URL`: registers
 * idflow's /hooks/<connector>/<connection> endpoint in the remote system
 * through the connector's ingress (connectors/connector.h,
 * conn_ingress.register_hook), for exactly the triggers the enabled
 * workflows in the store use, with a newly generated hook secret.
 *
 * Order: the new secret is sealed into the stored connection first (so the
 * server, which re-reads connections within seconds, accepts the deliveries
 * the verified hook sends), then the hook is created or updated and
 * verified; when that fails the previous connection is stored back. The
 * secret is never printed. Single-threaded (the CLI). */
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_hooks.h"
#include "credentials/credentials.h"
#include "connectors/connector.h"
#include "core/log.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "net/http.h"
#include "store/store.h"

/* A copy of a loaded connection without its "name" and "kind": a config. */
static json_t *config_of(const json_t *conn)
{
    json_t *c = json_deep_copy(conn);
    if (c) {
        json_object_del(c, "name");
        json_object_del(c, "kind");
    }
    return c;
}

static bool trigger_of(const struct connector *c, const struct conn_trigger *t)
{
    for (const struct conn_trigger *x = c->triggers; x && x->name; x++)
        if (x == t)
            return true;
    return false;
}

/* [{name, params}] of the enabled workflows whose trigger belongs to c and
 * may listen to connection `name`. */
static int collect_triggers(struct store *st, const struct connector *c, const char *name, json_t **out)
{
    struct store_workflow_info *rows = NULL;
    json_t *res = json_array();
    struct expr_ctx *ectx = NULL;
    struct flow_diags *diags = calloc(1, sizeof *diags);
    size_t n = 0;
    int rc;

    *out = NULL;
    if (!res || !diags || expr_ctx_new(&ectx)) {
        rc = IDF_ENOMEM;
        goto out;
    }
    rc = store_workflow_list(st, &rows, &n);
    if (rc)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const char *wf = rows[i].name;
        char *src = NULL;
        int64_t version = 0;
        struct flow *f = NULL;
        const char *want;

        if (!wf || !rows[i].enabled || store_workflow_source(st, wf, 0, &src, &version))
            continue;
        memset(diags, 0, sizeof *diags);
        if (flow_parse(registry_default(), wf, src, strlen(src), ectx, &f, diags) == 0 && trigger_of(c, f->trigger)) {
            want = json_string_value(json_object_get(f->trigger_params, "connection"));
            if (!want || strcmp(want, name) == 0)
                json_array_append_new(res, json_pack("{s:s,s:O}", "name", f->trigger->name, "params",
                                                     f->trigger_params));
        }
        flow_free(f);
        free(src);
    }
    *out = res;
    res = NULL;
out:
    json_decref(res);
    store_workflow_list_free(rows, n);
    expr_ctx_free(ectx);
    free(diags);
    return rc;
}

/* Prints a warning for each trigger whose events the hook cannot carry and
 * that this connection's mode leaves with no other way in
 * (conn_ingress.reachable), each distinct message once. */
static void warn_unreachable(const struct conn_ingress *in, const json_t *conn, const json_t *triggers)
{
    json_t *seen = json_array();
    size_t i;
    const json_t *t;

    json_array_foreach(triggers, i, t)
    {
        const char *tn = json_string_value(json_object_get(t, "name"));
        char why[600];
        bool dup = false;
        size_t k;
        json_t *v;

        if (!seen || !tn || !in->reachable || in->reachable(conn, tn, json_object_get(t, "params"), why, sizeof why))
            continue;
        json_array_foreach(seen, k, v) dup = dup || strcmp(json_string_value(v), why) == 0;
        if (dup)
            continue;
        json_array_append_new(seen, json_string(why));
        fprintf(stderr, "idflow connect: warning: trigger %s: %s\n", tn, why);
    }
    json_decref(seen);
}

int cli__register_hook(struct store *st, const struct seal_key *key, const struct connector *c, const char *name,
                       const char *url)
{
    const struct conn_ingress *in = c->ingress;
    json_t *conn = NULL, *old_cfg = NULL, *new_cfg = NULL, *triggers = NULL, *named = NULL;
    struct http_client *http = NULL;
    struct conn_hook_reg reg;
    struct idf_err err;
    unsigned char raw[CLI_HOOK_SECRET_BYTES];
    char secret[CLI_HOOK_SECRET_BYTES * 2 + 1], who[300];
    const char *kind;
    bool saved = false;
    int rc = CLI_FAIL;

    memset(&reg, 0, sizeof reg);
    if (!in || !in->register_hook || !in->hook_secret_field) {
        fprintf(stderr, "idflow connect: %s connections cannot register a hook automatically\n", c->name);
        return CLI_USAGE;
    }
    if (strncmp(url, "https://", 8) != 0 && !http_url_is_loopback(url)) {
        fprintf(stderr, "idflow connect: --register-hook needs an https:// URL (plain http only for loopback)\n");
        return CLI_USAGE;
    }
    if (cred_load(st, key, name, &conn, &err)) {
        fprintf(stderr, "idflow connect: %s\n", err.msg);
        return CLI_FAIL;
    }
    kind = json_string_value(json_object_get(conn, "kind"));
    if (!kind || strcmp(kind, c->name) != 0) {
        fprintf(stderr, "idflow connect: connection %s is not a %s connection\n", name, c->name);
        goto out;
    }
    if (collect_triggers(st, c, name, &triggers)) {
        fprintf(stderr, "idflow connect: cannot read the workflows\n");
        goto out;
    }
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(secret, sizeof secret, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    log_add_secret(secret);
    old_cfg = config_of(conn);
    new_cfg = config_of(conn);
    if (!old_cfg || !new_cfg || json_object_set_new(new_cfg, in->hook_secret_field, json_string(secret))) {
        fprintf(stderr, "idflow connect: out of memory\n");
        goto out;
    }
    cli_actor(who, sizeof who);
    if (cred_save(st, key, c, name, new_cfg, who, NULL, &err)) {
        log_mask_secrets(err.msg);
        fprintf(stderr, "idflow connect: %s\n", err.msg);
        goto out;
    }
    saved = true;
    named = json_deep_copy(new_cfg);
    if (!named || json_object_set_new(named, "name", json_string(name)) ||
        json_object_set_new(named, "kind", json_string(c->name)) || http_client_new(&http)) {
        fprintf(stderr, "idflow connect: out of memory\n");
        goto out;
    }
    reg.http = http;
    reg.connection = named;
    reg.connection_name = name;
    reg.url = url;
    reg.triggers = triggers;
    if (in->register_hook(&reg)) {
        log_mask_secrets(reg.message);
        fprintf(stderr, "idflow connect: %s\n", reg.message);
        goto out;
    }
    {
        char *s = json_dumps(reg.info, JSON_COMPACT);
        printf("%s connection %s: event hook %s (new secret sealed in the connection)\n", c->name, name,
               s ? s : "registered");
        free(s);
    }
    warn_unreachable(in, conn, triggers);
    saved = false; /* keep the new secret */
    rc = CLI_OK;
out:
    if (saved && cred_save(st, key, c, name, old_cfg, who, NULL, &err))
        fprintf(stderr, "idflow connect: could not restore the previous connection: %s\n", err.msg);
    else if (saved)
        fprintf(stderr, "idflow connect: the previous connection was restored; nothing changed\n");
    sodium_memzero(secret, sizeof secret);
    json_decref(reg.info);
    http_client_free(http);
    cred_wipe_free(named);
    cred_wipe_free(new_cfg);
    cred_wipe_free(old_cfg);
    cred_wipe_free(conn);
    json_decref(triggers);
    return rc;
}

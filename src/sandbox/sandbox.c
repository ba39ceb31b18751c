/* sandbox.c — the sandbox's core: the listener, the one state lock, seed
 * loading, routing to the Okta and HappyFox halves, the call log, reset,
 * state dump and the other /_sandbox/ admin endpoints.
 *
 * Threads: the HTTP server's pool calls handle() concurrently; handle()
 * takes sb->lock for the whole request, so the halves see one request at a
 * time (a sandbox needs fidelity, not throughput). The delivery thread
 * (sandbox_deliver.c) takes the lock only to pop work and record results.
 * Invariants: sb->okta and sb->hf are never NULL while the listener runs;
 * /_sandbox/reset swaps them for freshly seeded ones only once both built.
 * Admin endpoints are not recorded in the call log; every other request is,
 * including those answered by fault injection (a dropped one has status 0). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "sandbox/sandbox_core.h"

#define SBX_THREADS 8
#define SBX_DEFAULT_TOKEN "sandbox-okta-token"

/* ------------------------------------------------------------- ids */

void sbx__new_id(struct sandbox *sb, const char *prefix, char out[32])
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t p = strlen(prefix);
    if (p > 10)
        p = 10;
    memcpy(out, prefix, p);
    int64_t seq = ++sb->seq;
    /* 20 characters: prefix, random letters, then the sequence in base 62 (unique). */
    for (size_t i = p; i < 16; i++)
        out[i] = abc[arc4random_uniform(sizeof abc - 1)];
    for (int i = 19; i >= 16; i--) {
        out[i] = abc[seq % 62];
        seq /= 62;
    }
    out[20] = '\0';
}

int sandbox_port(const struct sandbox *sb)
{
    if (!sb)
        return 0;
    return sb->srv ? http_server_port(sb->srv) : sb->opts.port;
}

/* ----------------------------------------------------------- seeds */

static int read_seed(const char *path, json_t **out, struct idf_err *err)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    char chunk[8192];
    int rc = 0;
    buf_init(&b, SBX_MAX_SEED);
    *out = NULL;
    if (!f)
        return idf_err_set(err, IDF_EIO, "seed %s: %s", path, strerror(errno));
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if ((rc = buf_append(&b, chunk, n)) != 0) {
            idf_err_set(err, rc, "seed %s: larger than %u bytes", path, SBX_MAX_SEED);
            goto out;
        }
    }
    json_error_t jerr;
    *out = json_loadb(b.data ? b.data : "", b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*out || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        rc = idf_err_set(err, IDF_EPARSE, "seed %s:%d:%d: %s", path, jerr.line, jerr.column,
                         *jerr.text ? jerr.text : "not a JSON object");
    }
out:
    fclose(f);
    buf_free(&b);
    return rc;
}

/* Builds both halves from seed; on success swaps them in (freeing the old). */
static int seed_halves(struct sandbox *sb, const json_t *seed, struct idf_err *err)
{
    struct sbok_org *okta = NULL;
    struct sbhf_account *hf = NULL;
    int rc = sbok__init(sb, json_object_get(seed, "okta"), &okta, err);
    if (rc == 0)
        rc = sbhf__init(sb, json_object_get(seed, "happyfox"), &hf, err);
    if (rc != 0) {
        sbok__free(okta);
        sbhf__free(hf);
        return rc;
    }
    sbok__free(sb->okta);
    sbhf__free(sb->hf);
    sb->okta = okta;
    sb->hf = hf;
    return 0;
}

/* ------------------------------------------------------- admin API */

static void admin_error(struct http_resp *resp, int status, const char *msg)
{
    http_resp_json(resp, status, json_pack("{s:s}", "error", msg));
}

/* Parses the request body as a JSON object (NULL body = {}); NULL after answering 400. */
static json_t *admin_body(const struct http_req *req, struct http_resp *resp)
{
    if (req->body_len == 0)
        return json_object();
    json_t *v = json_loadb(req->body, req->body_len, 0, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        admin_error(resp, 400, "the body must be a JSON object");
        return NULL;
    }
    return v;
}

static void admin_calls(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    if (strcmp(req->method, "DELETE") == 0) {
        json_array_clear(sb->calls);
        return http_resp_json(resp, 204, NULL);
    }
    const char *since = http_req_query(req, "since"), *prefix = http_req_query(req, "path");
    long long after = since ? strtoll(since, NULL, 10) : 0;
    json_t *out = json_array(), *c;
    size_t i;
    json_array_foreach(sb->calls, i, c)
    {
        if (json_integer_value(json_object_get(c, "seq")) <= after)
            continue;
        const char *p = json_string_value(json_object_get(c, "path")) ?: "";
        if (prefix && strncmp(p, prefix, strlen(prefix)) != 0)
            continue;
        json_array_append(out, c);
    }
    http_resp_json(resp, 200, json_pack("{s:o, s:I}", "calls", out, "last", (json_int_t)sbx__main(sb)->call_seq));
}

static void admin_faults(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    struct idf_err err = {0};
    json_t *rules = NULL;
    if (strcmp(req->method, "DELETE") == 0) {
        json_array_clear(sb->faults);
        return http_resp_json(resp, 204, NULL);
    }
    if (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
        json_t *body = admin_body(req, resp);
        if (!body)
            return;
        const char *spec = json_string_value(json_object_get(body, "spec"));
        int rc = spec ? sbx__faults_parse(spec, &rules, &err) : sbx__faults_from_json(body, &rules, &err);
        json_decref(body);
        if (rc != 0)
            return admin_error(resp, 400, err.msg);
        json_decref(sb->faults);
        sb->faults = rules;
    }
    http_resp_json(resp, 200, json_pack("{s:O}", "rules", sb->faults));
}

static void admin_reset(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    struct sbx_main *m = sbx__main(sb);
    struct idf_err err = {0};
    json_t *body = admin_body(req, resp);
    if (!body)
        return;
    json_t *seed = json_object_get(body, "seed");
    if (seed && !json_is_object(seed)) {
        json_decref(body);
        return admin_error(resp, 400, "seed must be an object");
    }
    if (seed_halves(sb, seed ? seed : m->seed, &err) != 0) {
        json_decref(body);
        return admin_error(resp, 400, err.msg);
    }
    if (seed) {
        json_decref(m->seed);
        m->seed = json_incref(seed);
    }
    json_decref(body);
    json_array_clear(sb->calls);
    json_array_clear(m->deliveries);
    sbx__deliver_clear(sb);
    http_resp_json(resp, 200, json_pack("{s:b}", "reset", 1));
}

static void handle_admin(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    const char *p = req->raw_path;
    bool get = strcmp(req->method, "GET") == 0;
    if (sbok__admin(sb, req, resp) || sbhf__admin(sb, req, resp))
        return;
    if (strcmp(p, "/_sandbox/calls") == 0 && (get || strcmp(req->method, "DELETE") == 0))
        return admin_calls(sb, req, resp);
    if (strcmp(p, "/_sandbox/faults") == 0)
        return admin_faults(sb, req, resp);
    if (strcmp(p, "/_sandbox/reset") == 0 && strcmp(req->method, "POST") == 0)
        return admin_reset(sb, req, resp);
    if (strcmp(p, "/_sandbox/deliveries") == 0 && (get || strcmp(req->method, "DELETE") == 0)) {
        if (!get) {
            json_array_clear(sbx__main(sb)->deliveries);
            return http_resp_json(resp, 204, NULL);
        }
        return http_resp_json(resp, 200, json_pack("{s:O}", "deliveries", sbx__main(sb)->deliveries));
    }
    if (strcmp(p, "/_sandbox/state") == 0 && get) {
        json_t *st = json_pack("{s:o, s:o, s:O, s:i, s:i}", "okta", sbok__dump(sb), "happyfox", sbhf__dump(sb),
                               "faults", sb->faults, "calls", (int)json_array_size(sb->calls), "deliveries",
                               (int)json_array_size(sbx__main(sb)->deliveries));
        return http_resp_json(resp, 200, st);
    }
    if (strcmp(p, "/_sandbox/seed") == 0 && get)
        return http_resp_json(resp, 200, json_incref(sbx__main(sb)->seed));
    if (strcmp(p, "/_sandbox/health") == 0 && get)
        return http_resp_json(resp, 200, json_pack("{s:b}", "ok", 1));
    admin_error(resp, 404, "no such sandbox endpoint (see docs/sandbox.md)");
}

/* ---------------------------------------------------------- requests */

static void log_call(struct sandbox *sb, const struct http_req *req, const struct http_resp *resp, int64_t t0)
{
    struct sbx_main *m = sbx__main(sb);
    char at[32];
    time_format_iso(time_now_ms(), at, sizeof at);
    json_t *c = json_pack("{s:I, s:s, s:s, s:s, s:i, s:s, s:I}", "seq", (json_int_t)++m->call_seq, "method",
                          req->method, "path", req->raw_path, "query", req->query ? req->query : "", "status",
                          resp->drop ? 0 : resp->status, "at", at, "ms",
                          (json_int_t)((time_mono_ns() - t0) / 1000000 + (resp->delay_ms > 0 ? resp->delay_ms : 0)));
    if (resp->drop)
        json_object_set_new(c, "dropped", json_true());
    json_array_append_new(sb->calls, c);
    if (json_array_size(sb->calls) > SBX_MAX_CALLS)
        json_array_remove(sb->calls, 0);
}

static void handle(void *ud, const struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ud;
    int64_t t0 = time_mono_ns();
    pthread_mutex_lock(&sb->lock);
    if (strncmp(req->raw_path, "/_sandbox/", 10) == 0 || strcmp(req->raw_path, "/_sandbox") == 0) {
        handle_admin(sb, req, resp);
    } else {
        if (!sbx__faults_apply(sb, req, resp) && !sbok__handle(sb, req, resp) && !sbhf__handle(sb, req, resp))
            http_resp_json(resp, 404, json_pack("{s:s}", "error", "not found: the sandbox serves /api/v1/ (Okta), "
                                                                  "/api/1.1/json/ (HappyFox) and /_sandbox/"));
        log_call(sb, req, resp, t0);
    }
    pthread_mutex_unlock(&sb->lock);
}

/* ------------------------------------------------------ start / stop */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int sandbox_start(const struct sandbox_opts *opts, struct sandbox **out, struct idf_err *err)
{
    struct sbx_main *m = calloc(1, sizeof *m);
    struct sandbox *sb = m ? &m->sb : NULL;
    json_t *seed = NULL;
    int rc = 0;
    *out = NULL;
    if (!m)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    pthread_mutex_init(&sb->lock, NULL);
    sb->opts = *opts;
    sb->opts.addr = strdup(opts->addr ? opts->addr : "127.0.0.1");
    sb->opts.seed_path = dup_or_null(opts->seed_path);
    sb->opts.token = strdup(opts->token ? opts->token : SBX_DEFAULT_TOKEN);
    sb->opts.faults = dup_or_null(opts->faults);
    sb->calls = json_array();
    m->deliveries = json_array();
    if (!sb->opts.addr || !sb->opts.token || !sb->calls || !m->deliveries) {
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
        goto out;
    }
    log_add_secret(sb->opts.token);
    if (opts->seed_path) {
        if ((rc = read_seed(opts->seed_path, &seed, err)) != 0)
            goto out;
    } else {
        json_error_t jerr;
        seed = json_loads(sandbox_default_seed(), 0, &jerr);
        if (!seed) {
            rc = idf_err_set(err, IDF_EPARSE, "default seed:%d: %s", jerr.line, jerr.text);
            goto out;
        }
    }
    m->seed = seed;
    if (opts->faults) {
        if ((rc = sbx__faults_parse(opts->faults, &sb->faults, err)) != 0) {
            idf_err_prefix(err, "--faults: ");
            goto out;
        }
    } else {
        sb->faults = json_array();
    }
    if ((rc = seed_halves(sb, m->seed, err)) != 0)
        goto out;
    if ((rc = sbx__deliver_start(sb, err)) != 0)
        goto out;
    struct http_server_opts so = {.addr = sb->opts.addr, .port = opts->port, .max_body = SBX_MAX_BODY,
                                  .threads = SBX_THREADS, .handler = handle, .ud = sb};
    if ((rc = http_server_start(&so, &sb->srv, err)) != 0)
        goto out;
    *out = sb;
out:
    if (rc != 0)
        sandbox_stop(sb);
    return rc;
}

void sandbox_stop(struct sandbox *sb)
{
    if (!sb)
        return;
    struct sbx_main *m = sbx__main(sb);
    http_server_stop(sb->srv); /* waits for handlers */
    sb->srv = NULL;
    sbx__deliver_stop(sb);
    sbok__free(sb->okta);
    sbhf__free(sb->hf);
    json_decref(sb->calls);
    json_decref(sb->faults);
    json_decref(m->seed);
    json_decref(m->deliveries);
    free((char *)sb->opts.addr);
    free((char *)sb->opts.seed_path);
    free((char *)sb->opts.token);
    free((char *)sb->opts.faults);
    pthread_mutex_destroy(&sb->lock);
    free(m);
}

/* test_sandbox_common.h — helpers for the tests of the sandbox core and its
 * Okta half (test_sandbox_okta*.c, test_sandbox_core.c). Included by each
 * test program (static functions; cmocka must be included first).
 *
 * A fixture is a real sandbox on 127.0.0.1:0 (default seed unless a seed
 * text is given) and one http_client. ok_call() sends one request with the
 * SSWS token and returns the status; the parsed body and the response
 * headers stay in the fixture until the next call.
 *
 * External mode (tests/conformance/run.sh): when IDFLOW_TEST_OKTA_URL is set,
 * no sandbox is started. Okta API calls go to that URL (the conformance
 * front: Prism checks each exchange against Okta's spec), admin calls
 * (/_sandbox/...) and raw-socket requests go straight to the sandbox at
 * IDFLOW_TEST_SANDBOX_URL (started with --token TOKEN), and each fixture
 * resets that sandbox to its seed instead. */
#ifndef IDF_TESTS_SANDBOX_COMMON_H
#define IDF_TESTS_SANDBOX_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "net/http.h"
#include "sandbox/sandbox.h"
#include "support/testsrv.h"
#include "support/testutil.h"

/* Every helper is static and may go unused in a given test program. */
#define TFN static __attribute__((unused))

#define TOKEN "test-okta-token-123"
#define SSWS "Authorization: SSWS " TOKEN

struct fx {
    struct sandbox *sb;
    struct http_client *c;
    char base[64];   /* where Okta API calls go */
    char admin[64];  /* where /_sandbox/ calls go (the sandbox itself) */
    int raw_port;    /* the sandbox's port, for raw-socket requests */
    long status;     /* last answer */
    json_t *json;    /* last body parsed (NULL when not JSON) */
    json_t *headers; /* last headers (lower-case names) */
    char *body;      /* last body text */
    char *dir;       /* temp dir when a seed file was written */
};

TFN long fx_raw(struct fx *f, const char *method, const char *path, const char *body, const char *const *headers);

/* External mode: reset the sandbox at IDFLOW_TEST_SANDBOX_URL to the seed
 * (the default one unless given) and apply the options that have an admin
 * equivalent; the others cannot be honoured and fail the test. */
TFN struct fx *fx_start_external(struct fx *f, const char *okta_url, const char *seed_text, struct sandbox_opts o)
{
    const char *sbx = getenv("IDFLOW_TEST_SANDBOX_URL");
    const char *colon = sbx ? strrchr(sbx, ':') : NULL;
    if (!colon || strlen(okta_url) >= sizeof f->base || strlen(sbx) >= sizeof f->admin)
        fail_msg("IDFLOW_TEST_OKTA_URL needs IDFLOW_TEST_SANDBOX_URL=http://127.0.0.1:PORT");
    if (o.faults || o.rate_window_ms || o.hf_get_limit || o.hf_post_limit || o.seed_path ||
        (o.token && strcmp(o.token, TOKEN) != 0))
        fail_msg("option not supported against an external sandbox");
    snprintf(f->base, sizeof f->base, "%s", okta_url);
    snprintf(f->admin, sizeof f->admin, "%s", sbx);
    f->raw_port = atoi(colon + 1);
    assert_int_equal(http_client_new(&f->c), 0);
    json_t *seed = json_loads(seed_text ? seed_text : sandbox_default_seed(), 0, NULL);
    assert_non_null(seed);
    json_t *rq = json_pack("{s:o}", "seed", seed);
    char *body = json_dumps(rq, JSON_COMPACT);
    json_decref(rq);
    if (fx_raw(f, "POST", "/_sandbox/reset", body, NULL) != 200)
        fail_msg("reset %s: %ld %s", sbx, f->status, f->body ? f->body : "");
    free(body);
    assert_int_equal(fx_raw(f, "DELETE", "/_sandbox/faults", NULL, NULL), 204);
    if (o.rate_limit || o.token_share) {
        char cfg[96];
        snprintf(cfg, sizeof cfg, "{\"rateLimit\": %d, \"tokenShare\": %d}", o.rate_limit,
                 o.token_share ? o.token_share : 50);
        assert_int_equal(fx_raw(f, "POST", "/_sandbox/okta/config", cfg, NULL), 200);
    }
    return f;
}

TFN struct fx *fx_start_opts(const char *seed_text, struct sandbox_opts o)
{
    struct fx *f = calloc(1, sizeof *f);
    struct idf_err err = {0};
    char *seed = NULL;
    assert_non_null(f);
    const char *ext = getenv("IDFLOW_TEST_OKTA_URL");
    if (ext && *ext)
        return fx_start_external(f, ext, seed_text, o);
    if (seed_text) {
        f->dir = tu_mktemp_dir();
        assert_non_null(f->dir);
        seed = tu_path(f->dir, "seed.json");
        assert_int_equal(tu_write_file(seed, seed_text), 0);
        o.seed_path = seed;
    }
    o.addr = "127.0.0.1";
    o.port = 0;
    if (!o.token)
        o.token = TOKEN;
    if (sandbox_start(&o, &f->sb, &err) != 0)
        fail_msg("sandbox_start: %s", err.msg);
    free(seed);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", sandbox_port(f->sb));
    snprintf(f->admin, sizeof f->admin, "%s", f->base);
    f->raw_port = sandbox_port(f->sb);
    assert_int_equal(http_client_new(&f->c), 0);
    return f;
}

TFN struct fx *fx_start(void)
{
    struct sandbox_opts o = {0};
    return fx_start_opts(NULL, o);
}

TFN void fx_clear(struct fx *f)
{
    json_decref(f->json);
    json_decref(f->headers);
    free(f->body);
    f->json = f->headers = NULL;
    f->body = NULL;
}

TFN void fx_stop(struct fx *f)
{
    if (!f)
        return;
    fx_clear(f);
    http_client_free(f->c);
    sandbox_stop(f->sb);
    if (f->dir) {
        tu_rm_rf(f->dir);
        free(f->dir);
    }
    free(f);
}

/* One request; headers: NULL-terminated extra headers (auth is not added). */
TFN long fx_raw(struct fx *f, const char *method, const char *path, const char *body, const char *const *headers)
{
    char url[HTTP_MAX_URL];
    struct http_response r = {0};
    struct idf_err err = {0};
    snprintf(url, sizeof url, "%s%s", strncmp(path, "/_sandbox/", 10) == 0 ? f->admin : f->base, path);
    struct http_request rq = {.method = method, .url = url, .headers = headers, .body = body,
                              .body_len = body ? strlen(body) : 0, .timeout_ms = 20000};
    fx_clear(f);
    int rc = http_client_do(f->c, &rq, &r, &err);
    if (rc != 0) {
        http_response_free(&r);
        f->status = -1;
        return -1;
    }
    f->status = r.status;
    f->body = strdup(r.body.data ? r.body.data : "");
    f->json = json_loads(f->body, 0, NULL);
    f->headers = json_incref(r.headers);
    http_response_free(&r);
    return f->status;
}

/* A request with the SSWS token (and a JSON content type when there is a body). */
TFN long ok_call(struct fx *f, const char *method, const char *path, const char *body)
{
    const char *h[] = {SSWS, "Accept: application/json", body ? "Content-Type: application/json" : NULL, NULL};
    return fx_raw(f, method, path, body, h);
}

TFN const char *fx_header(struct fx *f, const char *name)
{
    return json_string_value(json_object_get(f->headers, name));
}

TFN const char *jstr(const json_t *o, const char *path)
{
    char key[128];
    const json_t *v = o;
    while (v && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(key)) : json_object_get(v, key);
        path += n + (path[n] == '.');
    }
    return json_string_value(v);
}

/* Asserts an Okta error answer; returns the first errorCauses summary or NULL. */
TFN const char *assert_okta_error(struct fx *f, long status, const char *code)
{
    if (f->status != status || !f->json || strcmp(jstr(f->json, "errorCode") ?: "", code) != 0)
        fail_msg("wanted %ld %s, got %ld %s", status, code, f->status, f->body ? f->body : "(no body)");
    assert_string_equal(jstr(f->json, "errorLink"), code);
    assert_non_null(jstr(f->json, "errorSummary"));
    assert_non_null(jstr(f->json, "errorId"));
    assert_true(json_is_array(json_object_get(f->json, "errorCauses")));
    assert_non_null(fx_header(f, "x-okta-request-id"));
    return jstr(f->json, "errorCauses.0.errorSummary");
}

/* The id of the user with this login (GET by login must work). */
TFN char *user_id(struct fx *f, const char *login)
{
    char path[256];
    char *enc = http_urlencode(login);
    snprintf(path, sizeof path, "/api/v1/users/%s", enc);
    free(enc);
    if (ok_call(f, "GET", path, NULL) != 200)
        fail_msg("GET %s: %ld %s", path, f->status, f->body);
    return strdup(jstr(f->json, "id"));
}

/* Creates a user (login unique per call) and brings it to `status`; returns its id. */
TFN char *make_user(struct fx *f, const char *status)
{
    static int n;
    char body[512], path[256], login[64];
    snprintf(login, sizeof login, "t%d.%ld@tests.example", ++n, (long)getpid());
    bool staged = strcmp(status, "STAGED") == 0 || strcmp(status, "DEPROVISIONED") == 0;
    bool prov = strcmp(status, "PROVISIONED") == 0;
    snprintf(body, sizeof body,
             "{\"profile\":{\"login\":\"%s\",\"email\":\"%s\",\"firstName\":\"Test\",\"lastName\":\"User%d\","
             "\"department\":\"QA\"}%s}",
             login, login, n, staged || prov ? "" : ",\"credentials\":{\"password\":{\"value\":\"Xy12345678!\"}}");
    snprintf(path, sizeof path, "/api/v1/users?activate=%s", staged ? "false" : "true");
    if (ok_call(f, "POST", path, body) != 200)
        fail_msg("create: %ld %s", f->status, f->body);
    char *id = strdup(jstr(f->json, "id"));
    const char *op = NULL;
    if (strcmp(status, "RECOVERY") == 0)
        op = "reset_password?sendEmail=false";
    else if (strcmp(status, "PASSWORD_EXPIRED") == 0)
        op = "expire_password";
    else if (strcmp(status, "SUSPENDED") == 0)
        op = "suspend";
    else if (strcmp(status, "DEPROVISIONED") == 0)
        op = "deactivate";
    if (op) {
        snprintf(path, sizeof path, "/api/v1/users/%s/lifecycle/%s", id, op);
        if (ok_call(f, "POST", path, NULL) != 200)
            fail_msg("%s: %ld %s", op, f->status, f->body);
    }
    if (strcmp(status, "LOCKED_OUT") == 0) {
        snprintf(path, sizeof path, "/_sandbox/okta/users/%s/fail_signin", id);
        if (fx_raw(f, "POST", path, "{\"count\": 10}", NULL) != 200)
            fail_msg("fail_signin: %ld %s", f->status, f->body);
    }
    snprintf(path, sizeof path, "/api/v1/users/%s", id);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    assert_string_equal(jstr(f->json, "status"), status);
    return id;
}

/* The status of a user (by id). */
TFN char *user_status(struct fx *f, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/users/%s", id);
    assert_int_equal(ok_call(f, "GET", path, NULL), 200);
    return strdup(jstr(f->json, "status"));
}

/* The port raw-socket requests go to: the sandbox's own (never a proxy,
 * which would re-frame the request). */
TFN int fx_port(const struct fx *f)
{
    return f->raw_port;
}

/* Sends raw bytes on a new connection and returns the status of the answer
 * (for requests the client library would not send, e.g. without
 * Content-Length). */
TFN int raw_http_status(int port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char buf[512] = {0};
    int status = -1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto out;
    size_t len = strlen(request), off = 0;
    while (off < len) {
        ssize_t w = write(fd, request + off, len - off);
        if (w <= 0)
            goto out;
        off += (size_t)w;
    }
    ssize_t r = read(fd, buf, sizeof buf - 1);
    if (r > 12 && strncmp(buf, "HTTP/1.", 7) == 0)
        status = atoi(buf + 9);
out:
    if (fd >= 0)
        close(fd);
    return status;
}

/* The System Log events of a type for a target id, newest last (new array). */
TFN json_t *events_of(struct fx *f, const char *type, const char *target_id)
{
    char path[512];
    char *flt;
    char expr[256];
    if (target_id)
        snprintf(expr, sizeof expr, "eventType eq \"%s\" and target.id eq \"%s\"", type, target_id);
    else
        snprintf(expr, sizeof expr, "eventType eq \"%s\"", type);
    flt = http_urlencode(expr);
    snprintf(path, sizeof path, "/api/v1/logs?limit=1000&filter=%s&until=2999-01-01T00:00:00Z", flt);
    free(flt);
    if (ok_call(f, "GET", path, NULL) != 200)
        fail_msg("logs: %ld %s", f->status, f->body);
    return json_incref(f->json);
}

#endif

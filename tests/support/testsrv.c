/* testsrv.c — the recording loopback server for tests (see testsrv.h).
 *
 * Built on http_server. Server threads record each request and pick an
 * answer; the test thread adds rules and reads records. Everything mutable
 * sits behind s->mu. Records are JSON objects (an array in arrival order);
 * rules are a singly linked FIFO list.
 *
 * An answer is copied into the response whole (status, body, headers, the
 * content type as a header): a rule used up by this request is freed before
 * the server sends the response, so nothing in the response may point into
 * it (http_resp's content_type is a borrowed static string, never a rule's). */
#include "testsrv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <time.h>

#include "core/timeutil.h"

#define TESTSRV_MAX_BODY (1u << 20)
#define TESTSRV_MAX_RECORDS 100000 /* oldest records are not dropped: further ones are just counted */

struct answer {
    int status;
    char *body;
    char *content_type; /* owned; NULL = application/json */
    char *headers[TESTSRV_MAX_ANSWER_HEADERS];
    int64_t delay_ms;
    bool drop;
};

struct rule {
    struct rule *next;
    char *path; /* NULL = any */
    int times;  /* < 0 = forever */
    struct answer a;
};

struct testsrv {
    struct http_server *srv;
    char url[64];
    pthread_mutex_t mu; /* guards everything below */
    json_t *records;    /* array of request objects */
    int n_seen;         /* requests seen, recorded or not */
    struct rule *rules; /* FIFO */
    struct answer dflt;
    testsrv_fn fn;
    void *fn_ud;
};

/* Test support has no way to fail softly: it cannot link cmocka (bench
 * programs use it too), so setup failures abort the program loudly. */
#define DIE(...)                                                                                                       \
    do {                                                                                                               \
        fprintf(stderr, "testsrv: " __VA_ARGS__);                                                                      \
        fputc('\n', stderr);                                                                                           \
        abort();                                                                                                       \
    } while (0)

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void answer_copy(struct answer *dst, const struct testsrv_answer *src)
{
    int i;

    memset(dst, 0, sizeof *dst);
    dst->status = src->status ? src->status : 200;
    dst->body = dup_or_null(src->body);
    dst->content_type = dup_or_null(src->content_type);
    for (i = 0; i < TESTSRV_MAX_ANSWER_HEADERS && src->headers[i]; i++)
        dst->headers[i] = strdup(src->headers[i]);
    dst->delay_ms = src->delay_ms;
    dst->drop = src->drop;
}

static void answer_free(struct answer *a)
{
    int i;

    free(a->body);
    free(a->content_type);
    for (i = 0; i < TESTSRV_MAX_ANSWER_HEADERS; i++)
        free(a->headers[i]);
    memset(a, 0, sizeof *a);
}

static bool path_matches(const char *pattern, const char *path)
{
    size_t n;

    if (!pattern)
        return true;
    n = strlen(pattern);
    if (n && pattern[n - 1] == '*')
        return strncmp(pattern, path, n - 1) == 0;
    return strcmp(pattern, path) == 0;
}

/* Fills resp from a (the caller holds s->mu) with copies only: resp keeps
 * no pointer into a, which the caller may free right after. A Content-Type
 * among a's headers wins over a's content type, as before. */
static void answer_apply(const struct answer *a, struct http_resp *resp)
{
    bool ct_header = false;
    int i;

    http_resp_text(resp, a->status, "application/json", a->body ? a->body : "");
    for (i = 0; i < TESTSRV_MAX_ANSWER_HEADERS && a->headers[i]; i++)
        ct_header = ct_header || strncasecmp(a->headers[i], "Content-Type:", 13) == 0;
    if (a->content_type && !ct_header && http_resp_header(resp, "Content-Type", a->content_type) != 0)
        fprintf(stderr, "testsrv: content type %s refused\n", a->content_type);
    for (i = 0; i < TESTSRV_MAX_ANSWER_HEADERS && a->headers[i]; i++) {
        const char *colon = strchr(a->headers[i], ':');
        char name[128];
        size_t nl;

        if (!colon || (nl = (size_t)(colon - a->headers[i])) >= sizeof name)
            continue;
        memcpy(name, a->headers[i], nl);
        name[nl] = '\0';
        colon++;
        while (*colon == ' ')
            colon++;
        if (http_resp_header(resp, name, colon) != 0)
            fprintf(stderr, "testsrv: header %s refused\n", name);
    }
    resp->delay_ms = a->delay_ms;
    resp->drop = a->drop;
}

static bool record_header(void *ud, const char *name, const char *value)
{
    json_t *h = ud, *v;
    char key[256];
    size_t i;

    for (i = 0; name[i] && i + 1 < sizeof key; i++)
        key[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    key[i] = '\0';
    v = json_string(value);
    json_object_set_new(h, key, v ? v : json_string("(not utf-8)"));
    return true;
}

static json_t *record_of(const struct http_req *req)
{
    json_t *h = json_object();
    json_t *body = json_stringn(req->body, req->body_len);

    http_req_each_header(req, record_header, h);
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:b}", "method", req->method, "path", req->path, "raw_path",
                     req->raw_path, "query", req->query, "headers", h, "body", body ? body : json_string("(binary)"),
                     "has_content_length", req->has_content_length);
}

static void on_request(void *ud, const struct http_req *req, struct http_resp *resp)
{
    struct testsrv *s = ud;
    json_t *rec = record_of(req);
    struct rule **pp;
    testsrv_fn fn;
    void *fn_ud;

    pthread_mutex_lock(&s->mu);
    s->n_seen++;
    if (rec && json_array_size(s->records) < TESTSRV_MAX_RECORDS)
        json_array_append(s->records, rec);
    fn = s->fn;
    fn_ud = s->fn_ud;
    pthread_mutex_unlock(&s->mu);
    json_decref(rec);

    if (fn && fn(fn_ud, req, resp))
        return;

    pthread_mutex_lock(&s->mu);
    for (pp = &s->rules; *pp; pp = &(*pp)->next) {
        struct rule *r = *pp;

        if (!path_matches(r->path, req->path))
            continue;
        answer_apply(&r->a, resp);
        if (r->times > 0 && --r->times == 0) {
            *pp = r->next;
            answer_free(&r->a);
            free(r->path);
            free(r);
        }
        pthread_mutex_unlock(&s->mu);
        return;
    }
    answer_apply(&s->dflt, resp);
    pthread_mutex_unlock(&s->mu);
}

struct testsrv *testsrv_start(void)
{
    struct testsrv *s = calloc(1, sizeof *s);
    struct http_server_opts o = {0};
    struct idf_err err = {0};
    struct testsrv_answer d = {200, "{}"};

    if (!s)
        DIE("out of memory");
    pthread_mutex_init(&s->mu, NULL);
    s->records = json_array();
    answer_copy(&s->dflt, &d);
    o.addr = "127.0.0.1";
    o.port = 0;
    o.max_body = TESTSRV_MAX_BODY;
    o.threads = 4;
    o.handler = on_request;
    o.ud = s;
    if (http_server_start(&o, &s->srv, &err) != 0)
        DIE("cannot start: %s", err.msg);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", http_server_port(s->srv));
    return s;
}

static void free_rules(struct testsrv *s)
{
    while (s->rules) {
        struct rule *n = s->rules->next;

        answer_free(&s->rules->a);
        free(s->rules->path);
        free(s->rules);
        s->rules = n;
    }
}

void testsrv_stop(struct testsrv *s)
{
    if (!s)
        return;
    http_server_stop(s->srv);
    free_rules(s);
    answer_free(&s->dflt);
    json_decref(s->records);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int testsrv_port(const struct testsrv *s)
{
    return http_server_port(s->srv);
}

const char *testsrv_url(const struct testsrv *s)
{
    return s->url;
}

void testsrv_on(struct testsrv *s, const char *path, const struct testsrv_answer *a, int times)
{
    struct rule *r = calloc(1, sizeof *r), **pp;

    if (!r)
        DIE("out of memory");
    r->path = dup_or_null(path);
    r->times = times;
    answer_copy(&r->a, a);
    pthread_mutex_lock(&s->mu);
    for (pp = &s->rules; *pp; pp = &(*pp)->next)
        ;
    *pp = r;
    pthread_mutex_unlock(&s->mu);
}

void testsrv_fail_first(struct testsrv *s, const char *path, int n, int status, const char *body)
{
    struct testsrv_answer a = {status, body ? body : "{\"error\":\"scripted failure\"}"};

    if (n > 0)
        testsrv_on(s, path, &a, n);
}

void testsrv_set_default(struct testsrv *s, const struct testsrv_answer *a)
{
    struct answer n;

    answer_copy(&n, a);
    pthread_mutex_lock(&s->mu);
    answer_free(&s->dflt);
    s->dflt = n;
    pthread_mutex_unlock(&s->mu);
}

void testsrv_set_handler(struct testsrv *s, testsrv_fn fn, void *ud)
{
    pthread_mutex_lock(&s->mu);
    s->fn = fn;
    s->fn_ud = ud;
    pthread_mutex_unlock(&s->mu);
}

void testsrv_reset(struct testsrv *s)
{
    pthread_mutex_lock(&s->mu);
    free_rules(s);
    json_array_clear(s->records);
    s->n_seen = 0;
    pthread_mutex_unlock(&s->mu);
}

int testsrv_calls(struct testsrv *s, const char *path)
{
    size_t i;
    json_t *r;
    int n = 0;

    pthread_mutex_lock(&s->mu);
    json_array_foreach (s->records, i, r) {
        if (path_matches(path, json_string_value(json_object_get(r, "path"))))
            n++;
    }
    if (!path)
        n = s->n_seen;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int testsrv_wait_calls(struct testsrv *s, const char *path, int n, int timeout_ms)
{
    int64_t deadline = time_mono_ns() + (int64_t)timeout_ms * 1000000;

    for (;;) {
        struct timespec ts = {0, 2 * 1000 * 1000};

        if (testsrv_calls(s, path) >= n)
            return 0;
        if (time_mono_ns() >= deadline)
            return IDF_ETIMEOUT;
        nanosleep(&ts, NULL);
    }
}

json_t *testsrv_request(struct testsrv *s, const char *path, int i)
{
    json_t *match = json_array(), *r, *out = NULL;
    size_t k;

    pthread_mutex_lock(&s->mu);
    json_array_foreach (s->records, k, r) {
        if (path_matches(path, json_string_value(json_object_get(r, "path"))))
            json_array_append(match, r);
    }
    if (i < 0)
        i += (int)json_array_size(match);
    if (i >= 0 && (size_t)i < json_array_size(match))
        out = json_deep_copy(json_array_get(match, (size_t)i));
    pthread_mutex_unlock(&s->mu);
    json_decref(match);
    return out;
}

json_t *testsrv_req_json(const json_t *r)
{
    const char *b = json_string_value(json_object_get(r, "body"));

    return b ? json_loads(b, JSON_DECODE_ANY, NULL) : NULL;
}

const char *testsrv_req_header(const json_t *r, const char *name)
{
    char key[256];
    size_t i;

    for (i = 0; name[i] && i + 1 < sizeof key; i++)
        key[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    key[i] = '\0';
    return json_string_value(json_object_get(json_object_get(r, "headers"), key));
}

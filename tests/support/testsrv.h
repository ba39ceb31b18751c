/* testsrv.h — a recording loopback HTTP server for tests.
 *
 * Listens on 127.0.0.1 with a port picked by the kernel, records every
 * request it receives, and answers from a script of rules, falling back to a
 * default answer (200 "{}" until changed). Thread-safe: tests call it from
 * their own thread while the server threads record and answer.
 *
 *   struct testsrv *s = testsrv_start();
 *   testsrv_fail_first(s, "/api/v1/users", 2, 503, NULL);  // two 503s ...
 *   testsrv_on(s, "/api/v1/users", &(struct testsrv_answer){200, "[]"}, -1); // ... then [] forever
 *   ... point the code under test at testsrv_url(s) ...
 *   assert_int_equal(testsrv_wait_calls(s, "/api/v1/users", 3, 5000), 0);
 *   json_t *r = testsrv_request(s, "/api/v1/users", -1);  // the last one
 *   testsrv_stop(s);
 *
 * Paths in rules and queries are matched against the decoded request path,
 * exactly, or as a prefix when the pattern ends with '*'. NULL matches any
 * path. */
#ifndef IDF_TESTS_TESTSRV_H
#define IDF_TESTS_TESTSRV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/http.h"

#define TESTSRV_MAX_ANSWER_HEADERS 8

/* One scripted answer. Strings are copied when the rule is added. */
struct testsrv_answer {
    int status;                                      /* 0 = 200 */
    const char *body;                                /* NULL = "" */
    const char *content_type;                        /* NULL = application/json */
    const char *headers[TESTSRV_MAX_ANSWER_HEADERS]; /* "Name: value", NULL-terminated if shorter */
    int64_t delay_ms;                                /* answer after this long (other requests are not blocked) */
    bool drop;                                       /* close the connection without answering */
};

/* A handler that may answer instead of the script: return true when it
 * filled resp, false to fall through to the rules. Runs on server threads
 * (must be thread-safe); the request has already been recorded. */
typedef bool (*testsrv_fn)(void *ud, const struct http_req *req, struct http_resp *resp);

struct testsrv;

/* Starts a server on 127.0.0.1:0 with max_body 1 MiB. Aborts the program
 * with a message when it cannot start (support code does not link cmocka).
 * Stop with testsrv_stop. */
struct testsrv *testsrv_start(void);
/* Stops the server and frees everything, recorded requests included. NULL ok. */
void testsrv_stop(struct testsrv *s);

int testsrv_port(const struct testsrv *s);
/* "http://127.0.0.1:PORT" (no trailing slash); borrowed, valid until stop. */
const char *testsrv_url(const struct testsrv *s);

/* Adds a rule: the next `times` requests matching path get answer a
 * (times < 0: forever). Rules are tried in the order they were added; a used
 * up rule is removed. */
void testsrv_on(struct testsrv *s, const char *path, const struct testsrv_answer *a, int times);
/* Shorthand: the first n requests to path get status with body (NULL = an
 * error object). */
void testsrv_fail_first(struct testsrv *s, const char *path, int n, int status, const char *body);
/* The answer when no rule matches. */
void testsrv_set_default(struct testsrv *s, const struct testsrv_answer *a);
/* Installs a dynamic handler tried before the rules (NULL removes it). */
void testsrv_set_handler(struct testsrv *s, testsrv_fn fn, void *ud);
/* Removes every rule, recorded request and count (the default stays). */
void testsrv_reset(struct testsrv *s);

/* Requests received so far matching path (NULL = all). */
int testsrv_calls(struct testsrv *s, const char *path);
/* Polls until at least n requests matching path arrived: 0, or IDF_ETIMEOUT
 * after timeout_ms. */
int testsrv_wait_calls(struct testsrv *s, const char *path, int n, int timeout_ms);

/* The i-th recorded request matching path (0 = first, -1 = last) as a new
 * object {"method", "path", "raw_path", "query", "headers": {lower-case name:
 * value}, "body", "has_content_length"}, or NULL when there is none. Caller
 * frees with json_decref. */
json_t *testsrv_request(struct testsrv *s, const char *path, int i);

/* Convenience on a testsrv_request result: the body parsed as JSON (new
 * reference, NULL if not JSON) and one header (borrowed from r). */
json_t *testsrv_req_json(const json_t *r);
const char *testsrv_req_header(const json_t *r, const char *name);

#endif

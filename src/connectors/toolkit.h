/* toolkit.h — what every connector that talks to a remote account shares,
 * beside the contract in connector.h (prefix ctk_; the code is in
 * src/connectors/toolkit/: session.c, request.c, ingress.c):
 *
 *   - a session (`struct ctk_session`) opened from a conn_call: the
 *     connection checked, its base URL normalized, credentials copied and
 *     registered for masking in logs, and on close every message, detail and
 *     output scrubbed of them and the copies wiped;
 *   - requests (ctk_send, ctk_call) with the connector's headers plus its
 *     auth line, its caps and timeouts, and network failures written onto the
 *     step's conn_result;
 *   - the mapping of HTTP statuses to IDF_E* codes and retryability, with the
 *     connector supplying only its error-body parser (ctk_fail_http);
 *   - for ingress: the constant-time secret comparison (ctk_secret_equal,
 *     ctk_hook_authenticate), the hook answers (ctk_hook_answer, _post,
 *     _json) and the conn_call a poll, an expansion or a registration uses
 *     to reach the remote (ctk_ingress_call, ctk_poll_fail).
 *
 * What stays in a connector's folder is what is its own: the auth header,
 * rate-limit buckets, its error-body format, its actions and triggers.
 * docs/internals/connectors.md shows a whole connector built on this.
 *
 * Threads: a session belongs to one call on one thread; nothing here keeps
 * state between calls. */
#ifndef IDF_CONNECTORS_TOOLKIT_H
#define IDF_CONNECTORS_TOOLKIT_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connectors/connector.h"
#include "core/err.h"

struct http_response;
struct buf;

#define CTK_MAX_BASE 512               /* a base URL ("https://host[:port]") */
#define CTK_MAX_SECRETS 4              /* credential copies one session scrubs */
#define CTK_MASK_MIN 4                 /* a shorter secret is not searched for in text (it would mask ordinary words) */
#define CTK_MAX_HEADERS 8              /* headers a connector adds to one request (the auth line comes on top) */
#define CTK_MAX_PATH 4096              /* path + query of one ctk_call request */
#define CTK_ERROR_TEXT 4096            /* an error text before it is masked and cut into a message */
#define CTK_QUOTE_MESSAGE 500          /* bytes of a step's message quoted in an ingress failure */
#define CTK_MAX_RETRY_AFTER_MS 3600000 /* the longest Retry-After honoured */
#define CTK_RETRY_AFTER_DEFAULT_MS 60000 /* a 429 without a readable Retry-After */

/* What a connector tells the toolkit about itself: constant, static. */
struct ctk_kind {
    const char *connector; /* "okta": `idflow connect <connector> NAME`, and the connection name when unnamed */
    const char *product;   /* "Okta": in messages */
    /* Checks and normalizes the connection's url into out (n bytes,
     * "https://host[:port]"); IDF_E* with err naming the problem. NULL:
     * conn_base_url's checks only, and a path is refused. */
    int (*normalize_url)(const char *url, bool sandbox, char *out, size_t n, struct idf_err *err);
    size_t max_base;            /* the base URL's buffer, at most CTK_MAX_BASE (0 = CTK_MAX_BASE) */
    const char *user_agent;     /* NULL: the client's default */
    int64_t timeout_ms;         /* one request, when the step sets none or a longer one */
    int64_t connect_timeout_ms; /* 0: the client's default */
    size_t max_response;        /* response body cap; 0: the client's default */
};

/* One call's view of a remote account. Open with ctk_open, close with
 * ctk_close whatever open returned (a zeroed session may be closed too).
 * Invariants: auth and secrets[] are the only copies of the credentials the
 * toolkit makes, each registered with log_add_secret and wiped by
 * ctk_close; messages are built from the method, the path and the remote's
 * error text with the secrets masked before any cut, never from request
 * headers. */
struct ctk_session {
    const struct ctk_kind *kind;    /* borrowed, static */
    struct conn_call *call;         /* borrowed */
    struct conn_result *res;        /* borrowed: failures are written here */
    const char *action;             /* "okta.suspend_user", for messages; borrowed */
    const char *conn_name;          /* borrowed, for messages */
    bool sandbox;                   /* plain http allowed */
    char base[CTK_MAX_BASE];        /* "https://acme.okta.com", no trailing slash */
    char *auth;                     /* owned header line ("Authorization: ..."); wiped on close */
    char *secrets[CTK_MAX_SECRETS]; /* owned copies of the credentials, for scrubbing; wiped on close */
    int nsecrets;
};

/* ---- session (toolkit/session.c) ---- */

/* Fills s from the call's connection: action and connection name, sandbox,
 * and the base URL through kind->normalize_url. On failure writes to res
 * ("<action>: no <Product> connection (define one with ...)", "<action>:
 * connection '<name>' has no url", "<action>: connection '<name>': <why>")
 * and returns the code; ctk_close is due either way. */
int ctk_open(struct ctk_session *s, const struct ctk_kind *kind, struct conn_call *call, struct conn_result *res,
             const char *action) IDF_MUST_USE;

/* Keeps a copy of a credential for scrubbing and registers it for masking
 * in logs. IDF_ENOMEM (nothing written to res) or IDF_ETOOBIG past
 * CTK_MAX_SECRETS. */
int ctk_secret_add(struct ctk_session *s, const char *secret) IDF_MUST_USE;
/* The same, taking ownership of secret (a malloc'd string; wiped and freed
 * on close, or at once on failure). */
int ctk_secret_take(struct ctk_session *s, char *secret) IDF_MUST_USE;
/* Sets the auth header line from a format ("Authorization: SSWS %s"); the
 * line is wiped on close. IDF_ENOMEM when it cannot be built. */
int ctk_auth_set(struct ctk_session *s, const char *fmt, ...) IDF_PRINTF(2, 3) IDF_MUST_USE;

/* Scrubs and wipes: masks every secret in res->message, replaces a detail
 * that contains one by {"redacted": ...}, drops an output that contains one
 * (then writes "<action>: the answer contained the connection's credential;
 * it was dropped", IDF_EDENIED), and wipes the credentials. Returns rc, or
 * IDF_EDENIED when the output was dropped. Accepts a zeroed session. */
int ctk_close(struct ctk_session *s, int rc);

/* Writes a failure not tied to a response onto s->res; returns code. */
int ctk_fail(struct ctk_session *s, int code, bool retryable, int64_t retry_after_ms, const char *fmt, ...)
    IDF_PRINTF(5, 6);
int ctk_vfail(struct ctk_session *s, int code, bool retryable, int64_t retry_after_ms, const char *fmt, va_list ap)
    IDF_PRINTF(5, 0);
/* Replaces s->res->detail (takes ownership of d; NULL clears it). */
void ctk_detail(struct ctk_session *s, json_t *d);

/* Masks (in place, same length) every session secret in text. True when
 * one was found. */
bool ctk_mask(const struct ctk_session *s, char *text);
/* A deep copy of v in which every string has the session's secrets masked
 * (caller decrefs); NULL when v is NULL or memory runs out. */
json_t *ctk_masked_copy(const struct ctk_session *s, const json_t *v);

/* ---- subjects (toolkit/subjects.c; issue 17, connector.h "subjects") ---- */

#define CTK_MAX_SUBJECTS 64 /* subjects one call reports; more are not added */

/* Appends the subject {kind, label, keys} to res->subjects (creating the
 * array), or, when a subject of that kind with one of these keys is there
 * already, adds the keys it lacks (and the label when it had none). keys is
 * n strings, NULL or "" ones skipped; nothing is added when none is left.
 * label NULL: the first key. Identifiers only (ids, logins, emails, ticket
 * numbers): never names or phone numbers. 0, or IDF_ENOMEM. */
int ctk_subject_add(struct conn_result *res, const char *kind, const char *label, const char *const *keys,
                    size_t n) IDF_MUST_USE;
/* Writes what the call changed, for a person ("suspended", "added to
 * Finance"), into res->change (cut to its size). Only for a call that
 * changed something (its output's changed: true). */
void ctk_change(struct conn_result *res, const char *fmt, ...) IDF_PRINTF(2, 3);

/* ---- requests (toolkit/request.c) ---- */

struct ctk_request {
    const char *method;         /* "GET", "POST", ... */
    const char *url;            /* absolute, on the session's base (the caller checked) */
    const char *what;           /* "GET /api/v1/users/x", for messages */
    const char *const *headers; /* NULL-terminated, at most CTK_MAX_HEADERS; the auth line is appended */
    const char *body;           /* may be NULL */
    size_t body_len;
    bool fresh_connection; /* never let libcurl re-send it on a reused connection (writes) */
};

/* Sends one request with the session's caps, timeouts (the step's timeout
 * when shorter than kind->timeout_ms), user agent and https rule. Returns 0
 * when an answer arrived (any status; hr filled, caller frees it with
 * http_response_free), or writes the failure "<action>: <what>: <why>",
 * detail {"network_error": true, "request": what}, retryable for IO,
 * timeout and memory failures, and returns its code. */
int ctk_send(struct ctk_session *s, const struct ctk_request *rq, struct http_response *hr) IDF_MUST_USE;

/* The IDF_E* code of an HTTP status: 400 EINVAL, 401 EAUTH, 403 EDENIED,
 * 404 ENOTFOUND, 409 ESTATE, 429 EBUSY, else EREMOTE. A connector whose
 * remote means something else by one of them overrides it before calling. */
int ctk_status_code(long status);
/* True for the statuses worth another attempt: 408, 429 and 5xx. */
bool ctk_status_retryable(long status);
/* A Retry-After header (seconds) in ms, capped at CTK_MAX_RETRY_AFTER_MS;
 * -1 when absent or unreadable. headers: lower-case name -> value. */
int64_t ctk_retry_after_ms(const json_t *headers);

/* A connector's reading of an error answer: its own error text from the
 * parsed body (json, NULL when not JSON) or the raw body, into out (n
 * bytes). It need not mask anything: the toolkit masks the secrets before
 * the text is cut into the message. */
typedef void (*ctk_error_body_fn)(const json_t *json, const struct buf *body, char *out, size_t n);

/* Writes the failure of an answer outside 2xx: "<action>: <what>: HTTP
 * <status>: <text>" (text from parse, or "(no error text)"), code by
 * ctk_status_code, retryable by ctk_status_retryable, for a 429 its
 * Retry-After (else CTK_RETRY_AFTER_DEFAULT_MS) as retry_after_ms, detail
 * {"http_status", "request"}. Returns the code. */
int ctk_fail_http(struct ctk_session *s, const char *what, const struct http_response *hr, ctk_error_body_fn parse);

/* The body of a 2xx answer, already parsed into json (NULL when empty or
 * not JSON; takes ownership): 0 with *json_out = json, or JSON null for an
 * empty body (caller decrefs); a body that is not JSON is the failure
 * "<action>: <what>: HTTP <status> with an answer that is not JSON<hint>"
 * (IDF_EREMOTE, not retryable). */
int ctk_answer_json(struct ctk_session *s, const char *what, const struct http_response *hr, json_t *json,
                    const char *hint, json_t **json_out) IDF_MUST_USE;

/* The whole round trip for a JSON API: method on base + path (path starts
 * with '/', no spaces or line breaks, at most CTK_MAX_PATH), body as JSON
 * (may be NULL), Accept and (with a body) Content-Type headers plus the
 * auth line. On a 2xx answer returns 0 with *json_out the parsed body
 * (caller decrefs; JSON null when empty). Otherwise the failure is written
 * (ctk_send, ctk_fail_http with parse, or "HTTP <status> with an answer
 * that is not JSON") and its code returned. */
int ctk_call(struct ctk_session *s, const char *method, const char *path, const json_t *body, ctk_error_body_fn parse,
             json_t **json_out) IDF_MUST_USE;

/* ---- ingress (toolkit/ingress.c) ---- */

/* True when got equals want, compared in constant time over BLAKE2b
 * digests of both, so neither the content nor the length of want leaks
 * through timing. False when want is NULL or empty, or got is NULL. */
bool ctk_secret_equal(const char *want, const char *got);

/* Fills a hook's answer: status, message (shown to the sender; never quote
 * a secret in it), and for a status >= 400 the body {"error": msg}. */
void ctk_hook_answer(struct conn_hook_out *out, int status, const char *msg);

/* True when the request is a POST; else answers 405 "use POST". */
bool ctk_hook_post(const struct http_req *req, struct conn_hook_out *out);

/* Authenticates a hook request before anything else is read: the
 * connection's secret member `field` against the value of request header
 * `header` (ctk_secret_equal). True when they match; else answers 401
 * ("this connection has no <field>: hooks are not enabled for it", or
 * "missing or wrong secret in the <header> header"; neither quotes a
 * secret) and returns false. */
bool ctk_hook_authenticate(const json_t *conn, const char *field, const struct http_req *req, const char *header,
                           struct conn_hook_out *out);

/* The request body parsed as JSON (jansson flags, e.g. 0 for an object or
 * array only): 0 with *body_out (caller decrefs), or answers 400
 * "malformed JSON at line L column C: why" and returns IDF_EINVAL. */
int ctk_hook_json(const struct http_req *req, size_t flags, struct conn_hook_out *out, json_t **body_out);

/* A conn_call for ingress work (a poll, a hook's expansion, a hook
 * registration) that goes through the connector's own client: the given
 * client, connection and slot, step_id (a static string: "poll"), attempt
 * 1, no foreach item, nothing else set. All borrowed. */
void ctk_ingress_call(struct conn_call *call, struct http_client *http, const json_t *connection,
                      const char *connection_name, const char *step_id, void **thread_slot);

/* The message of a failed ingress call's result into out (n bytes, at most
 * CTK_QUOTE_MESSAGE of it), or fallback when it has none. */
void ctk_ingress_message(char *out, size_t n, const struct conn_result *res, const char *fallback);

/* A poll failed with res (the conn_result of its internal call): the
 * message (ctk_ingress_message with fallback), retryable and retry_after_ms
 * copied to p, and the events and cursor it had gathered dropped. */
void ctk_poll_fail(struct conn_poll *p, const struct conn_result *res, const char *fallback);

/* Releases what a failed or finished internal call left in res (detail,
 * output) when the caller keeps none of it. */
void ctk_result_release(struct conn_result *res);

#endif

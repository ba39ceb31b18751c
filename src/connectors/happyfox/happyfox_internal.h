/* happyfox_internal.h — private to src/connectors/happyfox/ (prefix hfc__).
 *
 * One action call is one `struct hfc`: opened from the conn_call (base URL,
 * Basic credentials, the account's budget slot), used for one or more
 * requests, closed. Every request goes through hfc__request(), which paces
 * it against the account's per-minute GET/POST budget (budget.c), sends it,
 * and maps every failure onto the conn_result (message, detail, retryable,
 * retry_after_ms), including a 2xx whose body is {"error": ...}.
 *
 * Three process-wide singletons live in this folder, each behind its own
 * mutex and each with a fixed capacity: the account budgets and the
 * per-ticket lock table (budget.c, one mutex), and the reference-list cache
 * (refs.c). They are documented where they are defined.
 *
 * Where HappyFox's field names are not confirmed by the API notes (priority,
 * category, assigned_to, user, custom_fields, updates[].by, ...), they are
 * read only in ticket.c (hfc__ticket_summary and the update helpers). */
#ifndef IDF_CONNECTORS_HAPPYFOX_INTERNAL_H
#define IDF_CONNECTORS_HAPPYFOX_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "connectors/connector.h"
#include "connectors/toolkit.h"
#include "core/err.h"

/* ---------------------------------------------------------------- caps */

#define HFC_USER_AGENT "idflow/0.1"
#define HFC_API_PATH "/api/1.1/json" /* the API's root below the account URL */
#define HFC_TIMEOUT_MS 30000         /* one request, when the step sets no timeout */
#define HFC_CONNECT_TIMEOUT_MS 10000
#define HFC_MAX_RESPONSE (8u << 20) /* response body cap */
#define HFC_MAX_BASE 256            /* the account URL */
#define HFC_MAX_SECRET 512          /* an API key or auth code */
#define HFC_MAX_PATH 1024           /* API path + query of one request */
#define HFC_MAX_TEXT (256u << 10)   /* a message's text or html */
#define HFC_MAX_SUBJECT 512         /* a ticket subject */
#define HFC_MAX_TAGS 100            /* tags given to one call */
#define HFC_MAX_TAG 100             /* bytes of one tag */
#define HFC_MAX_FIELDS 100          /* custom fields set by one call */
#define HFC_MAX_NAME 256            /* a name given for a category, status, agent, field or choice */
#define HFC_NAMES_TEXT 600          /* bytes of the "valid: ..." list in an error */
#define HFC_MARKER_MAX 96           /* the duplicate-write marker tag, including NUL */
#define HFC_UPDATES_OUT_DEFAULT 20  /* updates get_ticket returns by default (newest) */
#define HFC_UPDATES_OUT_MAX 500
#define HFC_SEARCH_SIZE 50 /* tickets read per search (the API's page maximum) */

/* Budgets (API-NOTES 1.1: 500 GET and 300 POST a minute, then a lock-out of
 * up to 10 minutes). */
#define HFC_DEFAULT_GET_LIMIT 500
#define HFC_DEFAULT_POST_LIMIT 300
#define HFC_DEFAULT_WINDOW_MS 60000
#define HFC_LIMIT_MAX 20000 /* largest configurable budget per window */
#define HFC_WINDOW_MIN_MS 100
#define HFC_WINDOW_MAX_MS 3600000
#define HFC_LOCKOUT_MS 600000           /* wait after a 429 without Retry-After */
#define HFC_MAX_ACCOUNTS 64             /* accounts tracked (beyond: the LRU idle one is recycled) */
#define HFC_TICKET_LOCKS 1024           /* tickets locked at once, process-wide */
#define HFC_TICKET_BUSY_RETRY_MS 150    /* retry_after when another run holds the ticket */
#define HFC_TICKET_LOCK_STALE_MS 600000 /* a lock older than this is taken over (a leak guard) */
#define HFC_REMOTE_BUSY_RETRY_MS 1000   /* retry_after of HappyFox's own 409 (ticket busy) */
#define HFC_MAX_WAIT_MS 3600000         /* no wait handed to the engine is longer */
#define HFC_STORE_RETRY_MS 1000         /* wait when the shared budget could not be read (store failed) */
#define HFC_TICKET_LEASE_CALLS 4        /* requests one action makes on a locked ticket, at most (lease ttl) */
#define HFC_TICKET_LEASE_MARGIN_MS 5000 /* added to a ticket lease's ttl */

/* Reference-list cache (refs.c). */
#define HFC_REFS_SLOTS 64             /* connections cached (LRU beyond) */
#define HFC_REFS_TTL_MS 900000        /* a list older than 15 minutes is read again */
#define HFC_REFS_MISS_REFRESH_MS 2000 /* a name miss re-reads a list older than this */
#define HFC_REFS_MAX_ITEMS 5000       /* items kept of one list */

/* ----------------------------------------------------------- the call */

/* Pacing configuration of one account, from the connection's fields. */
struct hfc_limits {
    int get_limit;     /* GET calls a window */
    int post_limit;    /* other calls a window */
    int64_t window_ms; /* the window (60 s) */
};

struct hfc {
    struct ctk_session s;  /* the toolkit's session: call, result, base URL ("https://acme.happyfox.com", no path),
                              the credentials (secrets: api_key, auth_code, the base64 pair) and the Basic line */
    struct hfc_limits limits;
    int acct;              /* budget.c slot of the account, -1 = untracked */
    int64_t locked_ticket; /* ticket number held in the lock table, 0 = none */
    int lock_slot;         /* its slot */
    unsigned lock_gen;     /* and generation */
    bool post_reserved;    /* a POST slot of the budget is already counted for the next POST */
    const struct conn_coord *coord; /* the call's (borrowed), NULL: this process is alone */
    bool ticket_leased;    /* locked_ticket is also held as a lease in the store (other nodes) */
};

/* client.c. hfc__open fills h from the call's connection (a failure is
 * written to res); hfc__close is due afterwards whatever open returned: it
 * releases a held ticket lock, wipes the credentials and drops any message,
 * detail or output that would carry one. */
int hfc__open(struct hfc *h, struct conn_call *call, struct conn_result *res, const char *action) IDF_MUST_USE;
void hfc__close(struct hfc *h);

/* Sends one request to the API. path is below /api/1.1/json ("/ticket/12/"),
 * query is "" or "a=1&b=2" (already encoded), body may be NULL. On a 2xx
 * answer that is not {"error": ...} returns 0 with *json_out the parsed body
 * (caller decrefs; JSON null when the body was empty). Otherwise writes the
 * failure to h->res and returns its code: paced (not sent: retryable with
 * retry_after_ms, detail.rate_limited), network failure (retryable), HTTP
 * error (retryable for 408, 409, 429 and 5xx) or a 2xx carrying an error. */
int hfc__request(struct hfc *h, const char *method, const char *path, const char *query, const json_t *body,
                 json_t **json_out) IDF_MUST_USE;

/* Counts the next POST against the budget now (before the reads that
 * precede it), so a paced POST does not spend GETs on every attempt. A
 * paced failure (as hfc__request's) when the budget is spent. */
int hfc__reserve_post(struct hfc *h) IDF_MUST_USE;

/* Writes a failure not tied to a response (ctk_fail on the session): (h,
 * code, retryable, retry_after_ms, fmt, ...); returns code. */
#define hfc__fail(h, ...) ctk_fail(&(h)->s, __VA_ARGS__)

/* Takes the process-wide lock of one ticket for the rest of the call
 * (released by hfc__close). When another call holds it, writes a retryable
 * failure (retry_after_ms HFC_TICKET_BUSY_RETRY_MS, detail.ticket_busy) and
 * returns IDF_EBUSY: nothing was sent. */
int hfc__lock_ticket(struct hfc *h, int64_t number) IDF_MUST_USE;

/* Validates and normalizes an account URL into out ("https://host[:port]").
 * Accepts an empty path or /api/1.1/json[/]; plain http only for a sandbox. */
int hfc__normalize_url(const char *url, bool sandbox, char *out, size_t n, struct idf_err *err) IDF_MUST_USE;
/* The pacing configuration of a connection config (defaults filled in). */
void hfc__limits_of(const json_t *conn, struct hfc_limits *out);

/* ------------------------------------------------------------ subjects.c
 * (issue 17, connector.h "subjects"). hfc__report: after an action, its
 * ticket (number, display id) and requester (email) into res->subjects,
 * and, when its output says changed: true, what it changed into
 * res->change ("ticket #HF00000006 resolved"). Call before hfc__close. */
void hfc__report(struct hfc *h, int rc);
/* connector.event_subjects: the ticket and requester of a normalized event. */
int hfc__event_subjects(const json_t *event, json_t *out) IDF_MUST_USE;

/* ------------------------------------------------------------ budget.c */

/* The slot of an account (created when new); -1 when the table is full
 * of accounts with calls in progress (then calls go untracked). */
int hfc__account_slot(const char *base);
/* Asks to send one call. Returns 0 when it may go (it is counted now), or
 * the milliseconds to wait before asking again (nothing counted). */
int64_t hfc__budget_acquire(int acct, bool is_get, const struct hfc_limits *lim, int64_t now_ms);
/* The account answered 429: no call goes out until until_ms. */
void hfc__budget_lockout(int acct, int64_t until_ms);
/* Per-ticket locks. try_lock returns the slot (>= 0) and its generation in
 * *gen_out, or -1 when the ticket is held by another call (or the table is
 * full). unlock releases the slot only if it still has that generation. */
int hfc__ticket_try_lock(int acct, int64_t ticket, int64_t now_ms, unsigned *gen_out);
void hfc__ticket_unlock(int slot, unsigned gen);
/* Across nodes (co non-NULL: the call's conn_coord): hfc__budget_acquire,
 * then the account's window in the store (the authority for every node);
 * when the store refuses, the local count is given back. With co NULL it
 * is hfc__budget_acquire. 0: go (counted), else the wait in ms. */
int64_t hfc__budget_take(const struct conn_coord *co, int acct, const char *base, bool is_get,
                         const struct hfc_limits *lim, int64_t now_ms);
/* A 429: hfc__budget_lockout for for_ms from now, and (co non-NULL) both
 * of the account's windows blocked in the store for every node. */
void hfc__budget_lockout_all(const struct conn_coord *co, int acct, const char *base, int64_t for_ms);

/* ------------------------------------------------------------- refs.c */

enum hfc_ref_kind {
    HFC_REF_CATEGORY = 0,
    HFC_REF_STATUS,
    HFC_REF_PRIORITY,
    HFC_REF_STAFF,
    HFC_REF_FIELD, /* ticket custom fields */
    HFC_REF_N,
};

/* The item of list `kind` named by v: an id (integer or decimal string), a
 * name (case-insensitive; for staff also an email). A miss re-reads the list
 * once, unless it was read less than HFC_REFS_MISS_REFRESH_MS ago (in this
 * call, or by another one a moment before). Unknown: a non-retryable
 * IDF_ENOTFOUND failure naming `param` and listing the valid names. Staff
 * must be active. On success *item_out is a new reference (read-only). */
int hfc__resolve(struct hfc *h, enum hfc_ref_kind kind, const json_t *v, const char *param,
                 json_t **item_out) IDF_MUST_USE;
/* The id of a resolved item. */
int64_t hfc__item_id(const json_t *item);
/* The acting agent: params.staff, else the connection's `staff`; a failure
 * when neither is set (required) or it does not resolve. *staff_out is a
 * new reference, NULL when not required and not configured. */
int hfc__acting_staff(struct hfc *h, const json_t *params, bool required, json_t **staff_out) IDF_MUST_USE;
/* Resolves a `fields` object ({name or id: value}) for a ticket of category
 * `category` into body keys "t-cf-<id>" (values with choice texts turned
 * into choice ids). *defs_out (optional) receives {"<id>": definition}. */
int hfc__resolve_fields(struct hfc *h, const json_t *fields, int64_t category, json_t *body,
                        json_t **defs_out) IDF_MUST_USE;

/* ------------------------------------------------------------ ticket.c */

/* The ticket named by params.ticket: a number (integer or decimal string) or
 * a display id ("#HF00000012", "HF00000012"). *display_out ("" when a number
 * was given) must be checked against the ticket read (hfc__ticket_get). */
int hfc__ticket_ref(struct hfc *h, const json_t *params, int64_t *number_out, char *display_out, size_t n) IDF_MUST_USE;
/* GET /ticket/<n>/ (checks the display id when one was given). Caller decrefs. */
int hfc__ticket_get(struct hfc *h, int64_t number, const char *display, json_t **ticket_out) IDF_MUST_USE;
/* The output object of an action: number, display_id, subject, status {id,
 * name, behavior}, resolved, category, priority, assignee, contact, tags,
 * custom_fields, fields {name: value}, update_id (given, or null), changed. */
json_t *hfc__output(const json_t *ticket, const json_t *update_id, bool changed);
/* The status object of a ticket (borrowed) and its id. */
const json_t *hfc__ticket_status(const json_t *ticket);
/* Highest update_id of the ticket's updates (0 when none). */
int64_t hfc__max_update_id(const json_t *ticket);
/* The newest update by agent staff_id (0 = by anyone) newer than after_id:
 * its update_id, or 0. */
int64_t hfc__newest_update_by(const json_t *ticket, int64_t staff_id, int64_t after_id);
/* The duplicate-write marker of this call: "idflow-r<run>-<step>[-i<item>]". */
void hfc__marker(const struct conn_call *call, char *out, size_t n);
/* Fills body's text/html from params (text and/or html). With a marker, the
 * html (given, or the text escaped) ends with the invisible marker comment;
 * with marker NULL both go as given. A failure when neither is given or one
 * is too long. */
int hfc__message(struct hfc *h, const json_t *params, const char *marker, json_t *body) IDF_MUST_USE;
/* The update of ticket carrying marker, or (fallback, for accounts that strip
 * HTML comments) the newest update by staff_id of the same kind (note or not)
 * whose text equals text (may be NULL: no fallback). Returns its update_id or 0. */
int64_t hfc__find_marked_update(const json_t *ticket, const char *marker, bool note, int64_t staff_id,
                                const char *text);
/* Reads a tag list parameter (array of strings, or a comma-separated string)
 * into a new array (caller decrefs); a failure naming param on bad input. */
int hfc__tags_param(struct hfc *h, const json_t *v, const char *param, json_t **tags_out) IDF_MUST_USE;
/* "a,b,c" of a tag array; caller frees. */
char *hfc__join(const json_t *arr);
/* The string form of a scalar parameter (strings, or integers as text);
 * NULL when absent or null. */
const char *hfc__param_str(const json_t *params, const char *name, char *scratch, size_t n);

/* ------------------------------------------- action functions (happyfox.c
 * holds their descriptor tables) */

#define HFC__ACTION(fn) int fn(struct conn_call *call, const json_t *params, struct conn_result *res)
/* actions_tickets.c */
HFC__ACTION(hfc__act_create_ticket);
HFC__ACTION(hfc__act_get_ticket);
/* actions_updates.c */
HFC__ACTION(hfc__act_reply);
HFC__ACTION(hfc__act_add_note);
HFC__ACTION(hfc__act_set_status);
HFC__ACTION(hfc__act_assign);
HFC__ACTION(hfc__act_update_custom_fields);
HFC__ACTION(hfc__act_add_tags);

/* triggers.c: the trigger descriptors. */
extern const struct conn_trigger hfc__triggers[];

/* ingress.c: the webhook and poll ingress that raises them. */
extern const struct conn_ingress hfc__ingress;

#endif

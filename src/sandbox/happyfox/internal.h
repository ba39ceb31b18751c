/* happyfox/internal.h — the HappyFox half of the sandbox, private to
 * src/sandbox/happyfox/. Prefix sbhf: types struct sbhf_*, constants SBHF_*,
 * functions shared between the half's files (and the entry points sandbox.c
 * calls, declared in sandbox_internal.h) sbhf__*. The connector that talks to
 * a real HappyFox account is src/connectors/happyfox/ (prefix hfc__).
 *
 * The emulated account lives in one struct sbhf_account, reached as sb->hf and
 * guarded by sb->lock (every function here is called with it held). Reference
 * lists (categories, statuses, priorities, staff, custom fields) and contacts
 * are kept as jansson arrays in the JSON shape the API returns; tickets are an
 * array of struct sbhf_ticket, each holding its API-shaped JSON plus the
 * bookkeeping the JSON does not show (numeric times, the busy window).
 *
 * Files: happyfox/core.c (state, auth, budgets, the per-ticket in-flight rule,
 * routing, reference lists, contacts), happyfox/seed.c (the seed),
 * happyfox/util.c (bodies, validation helpers, lookups, budget rings),
 * happyfox/tickets.c (create, get), happyfox/list.c (GET /tickets/),
 * happyfox/updates.c (staff changes, custom-field values, the update
 * history), happyfox/actions.c (POST /ticket/<n>/<action>/, webhooks) and
 * happyfox/admin.c (/_sandbox/happyfox/..., the state dump). */
#ifndef IDF_SANDBOX_HAPPYFOX_INTERNAL_H
#define IDF_SANDBOX_HAPPYFOX_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sandbox/sandbox_internal.h"

/* ------------------------------------------------------------ constants */

#define SBHF_API_PREFIX "/api/1.1/json"
#define SBHF_ADMIN_PREFIX "/_sandbox/happyfox"

#define SBHF_DEFAULT_API_KEY "sandbox-hf-key"
#define SBHF_DEFAULT_AUTH_CODE "sandbox-hf-code"
#define SBHF_DEFAULT_PREFIX "HF" /* display ids: "#HF00000001" */

#define SBHF_DEFAULT_GET_LIMIT 500     /* GET calls a window (API-NOTES 1.1) */
#define SBHF_DEFAULT_POST_LIMIT 300    /* POST calls a window */
#define SBHF_DEFAULT_WINDOW_MS 60000   /* the budget window: one minute */
#define SBHF_DEFAULT_LOCKOUT_MS 600000 /* refused for 10 minutes after a 429 */
#define SBHF_LIMIT_MAX 100000          /* largest configurable per-window budget */
#define SBHF_WINDOW_MIN_MS 100         /* shortest configurable window / lockout */
#define SBHF_BUSY_MAX_MS 60000         /* longest configurable ticket_busy_ms */

#define SBHF_PAGE_SIZE_DEFAULT 10
#define SBHF_PAGE_SIZE_MAX 50
#define SBHF_BULK_MAX 100             /* tickets in one bulk create */
#define SBHF_TICKETS_MAX 100000       /* tickets in the account */
#define SBHF_CONTACTS_MAX 100000      /* contacts in the account */
#define SBHF_UPDATES_MAX 10000        /* updates on one ticket */
#define SBHF_SUBJECT_MAX 512          /* bytes of a subject */
#define SBHF_MESSAGE_MAX (256u << 10) /* bytes of a message text or html */
#define SBHF_NAME_MAX 256             /* contact and field names */
#define SBHF_EMAIL_MAX 254
#define SBHF_TAGS_MAX 100         /* tags on one ticket */
#define SBHF_TAG_MAX 100          /* bytes of one tag */
#define SBHF_FORM_FIELDS_MAX 1000 /* fields in one form body or query */
#define SBHF_Q_TERMS_MAX 16       /* terms in one q= search */
#define SBHF_URL_MAX 2048         /* webhook URL */
#define SBHF_HEADER_MAX 1024      /* webhook header name/value */
#define SBHF_WEBHOOK_TIMEOUT_MS 5000

/* ------------------------------------------------------------- state */

/* The accepted calls of one budget, as a ring of monotonic times (ms). A
 * call is accepted while fewer than `limit` calls fall in the last window. */
struct sbhf_ring {
    int64_t *at; /* limit slots; the oldest accepted call at `head` once full */
    int limit;   /* calls allowed a window (>= 1) */
    int count;   /* slots used (<= limit) */
    int head;    /* index of the oldest entry */
};

struct sbhf_ticket {
    int64_t id;          /* ticket number, the path key */
    json_t *obj;         /* the API-shaped ticket, owned */
    int64_t created_ms;  /* wall clock, for sorting */
    int64_t modified_ms; /* last change of any kind */
    int64_t updated_ms;  /* last reply (contact or staff) */
    int64_t busy_until;  /* monotonic ms; a call before then is refused (409) */
    int64_t mod_seq;     /* h->change_seq at the last change: orders equal modified_ms */
    int64_t upd_seq;     /* h->change_seq at the last reply: orders equal updated_ms */
};

struct sbhf_quirk { /* "2xx with {error}" injection */
    int remaining;  /* calls still to answer this way; 0 = off */
    char *prefix;   /* full path prefix it applies to, owned */
    char *method;   /* NULL = any method, owned */
    int status;     /* the 2xx status to answer with */
    char *message;  /* the error text, owned */
    bool applied;   /* true: the call takes effect before the body is replaced */
};

struct sbhf_account {
    char *api_key;      /* Basic auth user, owned; never logged */
    char *auth_code;    /* Basic auth password, owned; never logged */
    char *prefix;       /* display-id prefix, owned */
    json_t *categories; /* arrays in API shape, owned */
    json_t *statuses;
    json_t *priorities;
    json_t *staff;
    json_t *ticket_cfs;          /* /ticket_custom_fields/ */
    json_t *user_cfs;            /* /user_custom_fields/ */
    json_t *contacts;            /* /users/ */
    struct sbhf_ticket *tickets; /* sorted by id (ids only grow) */
    size_t n_tickets, cap_tickets;
    int64_t next_ticket;  /* next ticket number */
    int64_t next_update;  /* account-wide update_id counter */
    int64_t next_contact; /* next contact id */
    int64_t change_seq;   /* counts changes, to order changes within one millisecond */

    struct sbhf_ring get_ring, post_ring;
    int64_t window_ms;      /* budget window */
    int64_t lockout_ms;     /* refusal window after a 429 */
    bool lockout_extends;   /* a call during lock-out restarts it */
    int64_t locked_until;   /* monotonic ms; 0 = not locked out */
    int64_t ticket_busy_ms; /* how long each ticket call stays "in flight"; 0 = off */
    int64_t n_429;          /* refusals by budget or lock-out, for the admin view */
    int64_t n_409;          /* refusals by a busy ticket */

    char *wh_url;         /* webhook target; NULL = none, owned */
    char *wh_header;      /* "Name: value" sent with it, or NULL, owned */
    char *wh_header_name; /* name alone, for the admin view, owned */
    json_t *wh_events;    /* array of event names sent; NULL = all */
    int64_t wh_queued;    /* deliveries handed to the delivery thread */

    struct sbhf_quirk quirk;
};

/* A request body as the handlers see it: an object whatever the encoding. */
struct sbhf_body {
    json_t *obj; /* owned; form values are strings, repeated keys arrays */
    bool form;   /* true when it came form-urlencoded */
};

/* Field errors gathered during validation: {"field": ["message", ...]}. */
struct sbhf_verr {
    json_t *errors; /* owned, created lazily */
};

/* ------------------------------------------------- happyfox/seed.c */

/* Fills h's reference lists and contacts from seed (NULL = all empty). On
 * error err names the seed entry; the lists built so far stay in h (freed
 * by sbhf__free). */
int sbhf__seed_lists(struct sbhf_account *h, const json_t *seed, struct idf_err *err) IDF_MUST_USE;
/* Creates the seed's tickets (and their "updates") through the API rules. */
int sbhf__seed_tickets(struct sbhf_account *h, const json_t *seed, struct idf_err *err) IDF_MUST_USE;

/* ------------------------------------------- happyfox/util.c: helpers */

/* "YYYY-MM-DD HH:MM:SS" (UTC) of a wall-clock time; a JSON string, new ref. */
json_t *sbhf__time(int64_t wall_ms);

/* {"error": msg} with the given status. */
void sbhf__error(struct http_resp *resp, int status, const char *fmt, ...) IDF_PRINTF(3, 4);
void sbhf__verr_add(struct sbhf_verr *v, const char *field, const char *fmt, ...) IDF_PRINTF(3, 4);
bool sbhf__verr_any(const struct sbhf_verr *v);
/* Answers 400 {"error": "<one line>", "errors": {...}}; frees v's contents. */
void sbhf__verr_respond(struct sbhf_verr *v, struct http_resp *resp);
void sbhf__verr_free(struct sbhf_verr *v);

/* Parses a POST body (JSON or form-urlencoded). On failure answers resp
 * (400/415) and returns false; on success fills *out (caller frees with
 * json_decref(out->obj)). allow_array lets a JSON list through (bulk create). */
bool sbhf__body_parse(const struct http_req *req, bool allow_array, struct sbhf_body *out, struct http_resp *resp);
/* Parses "a=1&b=2" into an object (repeated keys become arrays). NULL on a cap. */
json_t *sbhf__form_parse(const char *s, size_t len);

/* Value readers for fields of a body object. Each returns 0 when the key is
 * absent (or null, or "" in a form), 1 when it read a value, and -1 (after
 * recording a field error) for a value of the wrong shape. */
int sbhf__get_str(const json_t *obj, const char *key, size_t max, const char **out, struct sbhf_verr *v);
int sbhf__get_id(const json_t *obj, const char *key, int64_t *out, struct sbhf_verr *v);
int sbhf__get_bool(const json_t *obj, const char *key, bool *out, struct sbhf_verr *v);
/* Reads a list of strings from a JSON array or a comma-separated string;
 * entries are trimmed, empty ones dropped. *out is a new array. */
int sbhf__get_list(const json_t *obj, const char *key, json_t **out, struct sbhf_verr *v);
/* Parses a JSON integer or a decimal string; false otherwise. */
bool sbhf__as_id(const json_t *x, int64_t *out);

/* Lookups in the reference arrays by "id" (borrowed, NULL when absent). */
json_t *sbhf__find(const json_t *arr, int64_t id);
json_t *sbhf__find_contact_email(const struct sbhf_account *h, const char *email);
/* True when arr holds the integer want (as a number, numeric string, or an
 * object's "category", the shape of a custom field's category list). */
bool sbhf__has_int(const json_t *arr, int64_t want);
json_t *sbhf__staff_summary(const json_t *staff);     /* {id, name, email}, new ref */
json_t *sbhf__contact_summary(const json_t *contact); /* new ref */
struct sbhf_ticket *sbhf__ticket_find(struct sbhf_account *h, int64_t id);

/* happyfox/core.c: a new contact appended to h->contacts (borrowed), or NULL at
 * SBHF_CONTACTS_MAX. phone may be NULL. */
json_t *sbhf__contact_new(struct sbhf_account *h, const char *name, const char *email, const char *phone);
/* Reads size= (1..50, larger clamped to 50; default 10) and page= (from 1);
 * false after answering 400 for anything else. */
bool sbhf__page_params(const struct http_req *req, int64_t *size, int64_t *page, struct http_resp *resp);
/* {"page_info": {count, page_count, start, end}, "data": data}; steals data. */
json_t *sbhf__page_body(int64_t total, int64_t size, int64_t page, json_t *data);

/* Budgets (happyfox/core.c). */
int sbhf__ring_init(struct sbhf_ring *r, int limit) IDF_MUST_USE;
void sbhf__ring_free(struct sbhf_ring *r);
void sbhf__ring_clear(struct sbhf_ring *r);
/* Records a call at now unless the window is full (then false, nothing recorded). */
bool sbhf__ring_take(struct sbhf_ring *r, int64_t now, int64_t window_ms);
int sbhf__ring_used(const struct sbhf_ring *r, int64_t now, int64_t window_ms);

/* ------------------------------------------ happyfox/tickets.c */

/* Creates one ticket from a create-request object. seed=true also accepts
 * "id", "status" and "created_at" (for the seed). On success *out is the new
 * ticket (borrowed from h); on failure v holds the field errors, or a
 * non-validation error code is returned. */
int sbhf__ticket_create(struct sbhf_account *h, const json_t *in, bool seed, struct sbhf_ticket **out,
                        struct sbhf_verr *v) IDF_MUST_USE;
void sbhf__tickets_route(struct sandbox *sb, const struct http_req *req, struct http_resp *resp);
void sbhf__tickets_bulk(struct sandbox *sb, const json_t *list, struct http_resp *resp);
/* "yyyy-mm-dd" or "dd/mm/yyyy" (a real date) into out as yyyy-mm-dd. */
bool sbhf__parse_date(const char *s, char out[11]);
/* An update's message: {text, html, message_type}; a missing text is html
 * without tags, a missing html is text escaped. New ref. */
json_t *sbhf__message(const char *text, const char *html, const char *message_type);

/* ------------------------------------------ happyfox/list.c */

/* GET /tickets/: filters, q= subset, sort=, paging. */
void sbhf__tickets_list(struct sandbox *sb, const struct http_req *req, struct http_resp *resp);
void sbhf__ticket_get(struct sandbox *sb, struct sbhf_ticket *t, const struct http_req *req, struct http_resp *resp);
/* A deep copy of t's JSON as the API shows it (new ref). */
json_t *sbhf__ticket_render(const struct sbhf_ticket *t, bool minify);
/* The custom-field values a ticket of this category shows, all null. */
json_t *sbhf__cf_blank(const json_t *defs, int64_t category);
bool sbhf__cf_applies(const json_t *def, int64_t category);

/* ------------------------------------------ happyfox/updates.c */

/* What a staff change did, for webhooks. */
struct sbhf_change {
    json_t *update;     /* the appended update (borrowed), NULL when none */
    json_t *old_status; /* the status before, when it changed (new ref), else NULL */
    bool status_changed;
};

/* Validates and applies a staff_update (pvtnote=false) or staff_pvtnote
 * request to t. On a validation failure v holds the errors and t is unchanged.
 * The caller frees chg->old_status. */
void sbhf__staff_change(struct sbhf_account *h, struct sbhf_ticket *t, const json_t *in, bool pvtnote,
                        struct sbhf_verr *v, struct sbhf_change *chg);
/* Adds tags (deduplicated, capped) and removes others in place; returns
 * {added, removed} (new ref) or NULL when nothing changed. */
json_t *sbhf__retag(json_t *tags, const json_t *add, const json_t *remove);
/* [{id, name, old, new}] for the custom-field entries whose value differs. */
json_t *sbhf__cf_diff(const json_t *before, const json_t *after);
/* {id, name, email, type: "staff"} of an agent (new ref). */
json_t *sbhf__by_staff(const json_t *staff);
/* {id, name, behavior} of a status (or {id, name, ...} of a priority); null for NULL. */
json_t *sbhf__status_brief(const json_t *st);
/* The agent named by in[key]: existing and active (borrowed), else NULL with
 * a field error (also when required and absent). */
json_t *sbhf__read_staff(struct sbhf_account *h, const json_t *in, const char *key, bool required, struct sbhf_verr *v);

/* ------------------------------------------ happyfox/actions.c */

/* Routes POST /ticket/<n>/<action>/; t is the ticket, action e.g. "staff_update". */
void sbhf__ticket_action(struct sandbox *sb, struct sbhf_ticket *t, const char *action, const struct http_req *req,
                         struct http_resp *resp);
/* Applies "t-cf-<id>" (prefix) keys of in to values (the ticket's or a
 * contact's custom_fields array, modified in place). Records field errors;
 * *changed counts fields whose value changed. */
void sbhf__cf_apply(const json_t *defs, const char *prefix, const json_t *in, int64_t category, json_t *values,
                    int *changed, struct sbhf_verr *v);
/* Fields marked required that have no value in values (for create). */
void sbhf__cf_check_required(const json_t *defs, const char *prefix, int64_t category, const json_t *values,
                             struct sbhf_verr *v);
/* Appends an update to t (assigning the next update_id) and marks t modified.
 * Steals upd. Returns the update (borrowed). */
json_t *sbhf__update_append(struct sbhf_account *h, struct sbhf_ticket *t, json_t *upd);
/* Queues the webhook for an event on t when one is configured; extra (may be
 * NULL) is merged into the body and borrowed. */
void sbhf__webhook_emit(struct sandbox *sb, const struct sbhf_ticket *t, const char *event, const json_t *extra);

#endif

/* happyfox.c — the `happyfox` connector's descriptors: its connection kind
 * (fields, validate, check) and the table of its eight actions with their
 * typed parameters, which the validator, the engine and `idflow catalogue`
 * read.
 *
 * What each action does is in actions_tickets.c and actions_updates.c; how
 * requests are paced and made in client.c and budget.c; names to ids in
 * refs.c; docs/happyfox.md explains name resolution, the duplicate-write
 * guard, budgets and per-ticket serialization. The trigger descriptors are
 * in triggers.c; the ingress that raises them (webhook and ticket-list
 * polling) in ingress.c (docs/triggers.md, "HappyFox").
 *
 * Threads: the tables are constant; validate/check run on the caller's
 * thread (the CLI or an API handler) with their own http client. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/happyfox/happyfox_internal.h"
#include "net/http.h"

/* ingress.c (declared here rather than in happyfox_internal.h, which this
 * change does not own): the webhook handler and the ticket-list poll. */

/* ---------------------------------------------------------- connection */

static const struct conn_field hf_fields[] = {
    {"url", false, true,
     "account URL: https://<account>.happyfox.com (.happyfox.net for EU accounts) or the account's custom domain"},
    {"api_key", true, true, "API key (Apps > Goodies > API); the HTTP Basic user name"},
    {"auth_code", true, true, "the API key's auth code; the HTTP Basic password"},
    {"staff", false, false, "default acting agent for ticket updates: name, email or id (a step's `staff` overrides)"},
    {"sandbox", false, false, "true for an idflow sandbox: allows plain http://"},
    {"get_per_minute", false, false, "GET calls idflow may make per budget window (default 500)"},
    {"post_per_minute", false, false, "POST calls idflow may make per budget window (default 300)"},
    {"rate_window_seconds", false, false, "the budget window in seconds (default 60; shorter only for tests)"},
    {"hook_secret", true, false,
     "webhooks (mode hook or both): the shared secret, sent in the webhook URL /hooks/happyfox/<name>/<secret> "
     "(or an X-Idflow-Secret header)"},
    {"mode", false, false,
     "how ticket events arrive: poll (default: the ticket list), hook (a webhook; needs hook_secret) or both"},
    {"poll_interval", false, false, "ticket polling: seconds between polls when caught up (default 10)"},
    {NULL, false, false, NULL},
};

/* An optional number field (a JSON number or a decimal string, as the
 * command line may give it) within [lo, hi]; stored back as a number. */
static int num_field(json_t *config, const char *name, double lo, double hi, bool integer, struct idf_err *err)
{
    const json_t *v = json_object_get(config, name);
    double d;
    char *end = NULL;

    if (!v || json_is_null(v))
        return 0;
    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v) && *json_string_value(v)) {
        d = strtod(json_string_value(v), &end);
        if (*end)
            d = lo - 1;
    } else {
        d = lo - 1;
    }
    if (!(d >= lo && d <= hi) || (integer && d != (double)(int64_t)d)) /* (NaN fails the first test) */
        return idf_err_set(err, IDF_EINVAL, "%s must be %s from %g to %g", name, integer ? "an integer" : "a number",
                           lo, hi);
    json_object_set_new(config, name, integer ? json_integer((json_int_t)d) : json_real(d));
    return 0;
}

static int secret_field(const json_t *config, const char *name, struct idf_err *err)
{
    const json_t *v = json_object_get(config, name);

    if (!json_is_string(v) || json_string_length(v) == 0)
        return idf_err_set(err, IDF_EINVAL, "%s is required (HappyFox: Apps > Goodies > API)", name);
    if (json_string_length(v) > HFC_MAX_SECRET)
        return idf_err_set(err, IDF_EINVAL, "%s is too long", name);
    for (const char *p = json_string_value(v); *p; p++) {
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return idf_err_set(err, IDF_EINVAL, "%s must not contain spaces or control characters", name);
        if (*p == ':' && strcmp(name, "api_key") == 0)
            return idf_err_set(err, IDF_EINVAL, "api_key must not contain ':' (it is the HTTP Basic user name)");
    }
    return 0;
}

static int hf_validate(json_t *config, struct idf_err *err)
{
    char norm[HFC_MAX_BASE];
    const json_t *sb, *staff;
    int rc;

    if (!json_is_object(config))
        return idf_err_set(err, IDF_EINVAL, "the connection config must be an object");
    sb = json_object_get(config, "sandbox");
    if (sb && !json_is_boolean(sb) && !json_is_null(sb)) {
        if (!json_is_string(sb) ||
            (strcasecmp(json_string_value(sb), "true") != 0 && strcasecmp(json_string_value(sb), "false") != 0))
            return idf_err_set(err, IDF_EINVAL, "sandbox must be true or false");
        json_object_set_new(config, "sandbox", json_boolean(conn_is_sandbox(config)));
    }
    if (!json_is_string(json_object_get(config, "url")))
        return idf_err_set(err, IDF_EINVAL, "url is required (e.g. https://acme.happyfox.com)");
    rc = hfc__normalize_url(json_string_value(json_object_get(config, "url")), conn_is_sandbox(config), norm,
                            sizeof norm, err);
    if (rc)
        return rc;
    json_object_set_new(config, "url", json_string(norm));
    if ((rc = secret_field(config, "api_key", err)) != 0 || (rc = secret_field(config, "auth_code", err)) != 0)
        return rc;
    staff = json_object_get(config, "staff");
    if (staff && !json_is_null(staff) && !(json_is_integer(staff) && json_integer_value(staff) > 0) &&
        !(json_is_string(staff) && json_string_length(staff) > 0 && json_string_length(staff) <= HFC_MAX_NAME))
        return idf_err_set(err, IDF_EINVAL, "staff must be an agent's name, email or id");
    if ((rc = num_field(config, "get_per_minute", 1, HFC_LIMIT_MAX, true, err)) != 0 ||
        (rc = num_field(config, "post_per_minute", 1, HFC_LIMIT_MAX, true, err)) != 0 ||
        (rc = num_field(config, "rate_window_seconds", HFC_WINDOW_MIN_MS / 1000.0, HFC_WINDOW_MAX_MS / 1000.0, false,
                        err)) != 0)
        return rc;
    if ((rc = num_field(config, "poll_interval", 1, 3600, true, err)) != 0)
        return rc;
    {
        /* how events arrive: an unknown mode must not quietly mean "hook" */
        const json_t *mode = json_object_get(config, "mode");
        const char *m = json_string_value(mode);
        const json_t *hs = json_object_get(config, "hook_secret");
        if (mode && !json_is_null(mode) &&
            (!m || (strcasecmp(m, "hook") != 0 && strcasecmp(m, "poll") != 0 && strcasecmp(m, "both") != 0)))
            return idf_err_set(err, IDF_EINVAL, "mode must be hook, poll or both");
        if (hs && !json_is_null(hs) &&
            (!json_is_string(hs) || json_string_length(hs) == 0 || json_string_length(hs) > HFC_MAX_SECRET))
            return idf_err_set(err, IDF_EINVAL, "hook_secret must be a non-empty string of at most %d bytes",
                               HFC_MAX_SECRET);
        /* Polling is the default: no public HappyFox source shows a Smart
         * Rule able to carry a secret header (docs/happyfox.md, "Webhook"). */
        if (!mode || json_is_null(mode))
            json_object_set_new(config, "mode", json_string("poll"));
        else if (strcasecmp(m, "poll") != 0 && (!hs || json_is_null(hs)))
            return idf_err_set(err, IDF_EINVAL, "mode %s needs a hook_secret (--hook-secret-file F): the webhook "
                               "URL carries it", m);
    }
    return 0;
}

static int hf_check(struct http_client *http, const json_t *config, json_t **whoami_out, struct idf_err *err)
{
    struct conn_call call = {.http = http, .connection = config, .attempt = 1, .item = -1};
    struct conn_result res = {0};
    struct hfc h;
    json_t *staff = NULL, *acting = NULL, *none = json_object();
    int rc;

    *whoami_out = NULL;
    call.connection_name = json_string_value(json_object_get(config, "name"));
    rc = hfc__open(&h, &call, &res, "happyfox connection check");
    if (rc == 0)
        rc = hfc__request(&h, "GET", "/staff/", "", NULL, &staff);
    if (rc == 0 && !json_is_array(staff))
        rc = hfc__fail(&h, IDF_EREMOTE, false, 0, "%s: GET /staff/: expected a list of agents", h.s.action);
    if (rc == 0 && json_object_get(config, "staff") && !json_is_null(json_object_get(config, "staff")))
        rc = hfc__acting_staff(&h, none, false, &acting);
    if (rc == 0)
        *whoami_out =
            json_pack("{s:s, s:i, s:o}", "account", h.s.base, "staff", (int)json_array_size(staff), "acting_staff",
                      acting ? json_pack("{s:O?, s:O?, s:O?}", "id", json_object_get(acting, "id"), "name",
                                         json_object_get(acting, "name"), "email", json_object_get(acting, "email"))
                             : json_null());
    hfc__close(&h);
    if (rc)
        idf_err_set(err, rc, "%s", res.message);
    json_decref(staff);
    json_decref(acting);
    json_decref(none);
    conn_result_clear(&res);
    return rc;
}

static const struct conn_connection_kind hf_connection = {
    .fields = hf_fields,
    .validate = hf_validate,
    .check = hf_check,
};

/* ------------------------------------------------------------- params */

#define P_END                                                                                                          \
    {                                                                                                                  \
        NULL, 0, false, NULL                                                                                           \
    }
#define P_TICKET                                                                                                       \
    {                                                                                                                  \
        "ticket", CONN_P_STRING, true, "the ticket: its number (12) or display id (#HF00000012)"                       \
    }
#define P_STAFF                                                                                                        \
    {                                                                                                                  \
        "staff", CONN_P_STRING, false, "acting agent: name, email or id (default: the connection's staff)"             \
    }
#define P_FIELDS                                                                                                       \
    {                                                                                                                  \
        "fields", CONN_P_OBJECT, false,                                                                                \
            "custom fields, {name or id: value}; choices by text or id, multiple choice as a list"                     \
    }

static const struct conn_param p_create[] = {
    {"category", CONN_P_STRING, true, "category: name or id (a public category)"},
    {"subject", CONN_P_STRING, true, "subject (at most 512 bytes)"},
    {"text", CONN_P_STRING, false, "the first message, plain text (or give html)"},
    {"html", CONN_P_STRING, false, "the first message, HTML"},
    {"email", CONN_P_STRING, false, "requester's email (a contact is created when new)"},
    {"name", CONN_P_STRING, false, "requester's name (default: the email's local part)"},
    {"contact", CONN_P_STRING, false, "requester as an existing contact id (instead of email)"},
    {"priority", CONN_P_STRING, false, "priority: name or id (default: the account's default)"},
    {"assignee", CONN_P_STRING, false, "agent to assign: name, email or id"},
    {"tags", CONN_P_ANY, false, "tags: a list or a comma-separated string (idflow adds its marker tag)"},
    {"due_date", CONN_P_STRING, false, "due date, yyyy-mm-dd"},
    {"visible_only_staff", CONN_P_BOOL, false, "true: a private ticket, visible to agents only"},
    {"phone", CONN_P_STRING, false, "requester's phone (stored on a new contact)"},
    P_FIELDS,
    P_END,
};
static const struct conn_param p_get[] = {
    P_TICKET,
    {"updates", CONN_P_INT, false, "how many of the newest updates to return (default 20, at most 500)"},
    P_END,
};
static const struct conn_param p_reply[] = {
    P_TICKET,
    {"text", CONN_P_STRING, false, "the reply, plain text (or give html)"},
    {"html", CONN_P_STRING, false, "the reply, HTML"},
    P_STAFF,
    {"status", CONN_P_STRING, false, "also move to this status: name or id"},
    {"priority", CONN_P_STRING, false, "also set this priority: name or id"},
    {"assignee", CONN_P_STRING, false, "also assign: name, email or id (\"\" unassigns)"},
    {"time_spent", CONN_P_INT, false, "minutes to add to the ticket's time spent"},
    {"due_date", CONN_P_STRING, false, "also set the due date, yyyy-mm-dd"},
    {"tags", CONN_P_ANY, false, "tags to add: a list or a comma-separated string"},
    P_FIELDS,
    P_END,
};
static const struct conn_param p_note[] = {
    P_TICKET,
    {"text", CONN_P_STRING, false, "the note, plain text (or give html)"},
    {"html", CONN_P_STRING, false, "the note, HTML"},
    P_STAFF,
    {"alert", CONN_P_STRING, false,
     "notify: subscribers (s), the category's agents (c), or one agent by name, email or id"},
    {"status", CONN_P_STRING, false, "also move to this status: name or id"},
    {"priority", CONN_P_STRING, false, "also set this priority: name or id"},
    {"assignee", CONN_P_STRING, false, "also assign: name, email or id (\"\" unassigns)"},
    {"time_spent", CONN_P_INT, false, "minutes to add to the ticket's time spent"},
    {"tags", CONN_P_ANY, false, "tags to add: a list or a comma-separated string"},
    P_FIELDS,
    P_END,
};
static const struct conn_param p_status[] = {
    P_TICKET,
    {"status", CONN_P_STRING, true, "the status: name or id"},
    P_STAFF,
    P_END,
};
static const struct conn_param p_assign[] = {
    P_TICKET,
    {"assignee", CONN_P_STRING, true, "the agent: name, email or id; \"\" unassigns"},
    P_STAFF,
    P_END,
};
static const struct conn_param p_fields[] = {
    P_TICKET,
    {"fields", CONN_P_OBJECT, true,
     "custom fields, {name or id: value}; choices by text or id, multiple choice as a list, null clears"},
    P_STAFF,
    P_END,
};
static const struct conn_param p_tags[] = {
    P_TICKET,
    {"tags", CONN_P_ANY, true, "tags to add: a list or a comma-separated string (may be empty with remove)"},
    {"remove", CONN_P_ANY, false, "tags to remove: a list or a comma-separated string"},
    P_STAFF,
    P_END,
};

/* ------------------------------------------------------------ actions */

#define TICKET_OUT                                                                                                     \
    "number, display_id, subject, status {id, name, behavior}, resolved, category, priority, assignee, contact, "      \
    "tags, custom_fields, fields {name: value}, update_id (of the update added, else null), changed"

static const struct conn_action hf_actions[] = {
    {"happyfox.create_ticket",
     "Creates a ticket in a category (by name or id) for a requester (email, or an existing contact). The ticket "
     "gets idflow's marker tag; a retry after an unknown outcome returns the ticket the earlier attempt made "
     "(changed: false) instead of creating a second one.",
     p_create, CONN_K_ACTION, hfc__act_create_ticket, CONN_EFFECT_CHANGE,
     TICKET_OUT ", marker (the marker tag), recovered (true: an earlier attempt's ticket was found)", true},
    {"happyfox.get_ticket", "Reads one ticket by number or display id, with its newest updates.", p_get, CONN_K_ACTION,
     hfc__act_get_ticket, CONN_EFFECT_READ,
     TICKET_OUT " (update_id: the newest; changed: false), updates [...], update_count", false},
    {"happyfox.reply",
     "Posts a staff reply (the contact sees it) and optionally changes status, priority, assignee, due date, tags "
     "and custom fields in the same update. Never posted twice: a retry after an unknown outcome finds the reply by "
     "its invisible marker.",
     p_reply, CONN_K_ACTION, hfc__act_reply, CONN_EFFECT_CHANGE,
     TICKET_OUT ", recovered (true: an earlier attempt's reply was found)", true},
    {"happyfox.add_note",
     "Adds a private note (agents only), optionally alerting subscribers, the category's agents or one agent, and "
     "changing properties in the same update. Never posted twice (see happyfox.reply).",
     p_note, CONN_K_ACTION, hfc__act_add_note, CONN_EFFECT_CHANGE,
     TICKET_OUT ", recovered (true: an earlier attempt's note was found)", true},
    {"happyfox.set_status",
     "Moves a ticket to a status (by name or id). Already in it: changed: false, nothing written. A status whose "
     "behavior is completed resolves the ticket.",
     p_status, CONN_K_ACTION, hfc__act_set_status, CONN_EFFECT_CHANGE, TICKET_OUT ", previous_status", false},
    {"happyfox.assign",
     "Assigns a ticket to an agent (by name, email or id), or unassigns it with \"\". Already so: changed: false.",
     p_assign, CONN_K_ACTION, hfc__act_assign, CONN_EFFECT_CHANGE, TICKET_OUT ", previous_assignee", false},
    {"happyfox.update_custom_fields",
     "Sets ticket custom fields by name or id, choices by text or id. Fields already holding the value are left "
     "alone; all of them: changed: false.",
     p_fields, CONN_K_ACTION, hfc__act_update_custom_fields, CONN_EFFECT_CHANGE, TICKET_OUT ", changed_fields [names]",
     false},
    {"happyfox.add_tags",
     "Adds tags to a ticket (and removes those in remove). Tags already there (or already absent): changed: false.",
     p_tags, CONN_K_ACTION, hfc__act_add_tags, CONN_EFFECT_CHANGE, TICKET_OUT ", added, removed", false},
    {NULL, NULL, NULL, 0, NULL, CONN_EFFECT_READ, NULL, false},
};

const struct connector connector_happyfox = {
    .name = "happyfox",
    .connection = &hf_connection,
    .actions = hf_actions,
    .triggers = hfc__triggers, /* triggers.c */
    .thread_slot_free = NULL,  /* caches are process-wide (refs.c, budget.c), not per thread */
    .ingress = &hfc__ingress,  /* ingress.c: webhook and ticket-list polling */
    .event_subjects = hfc__event_subjects, /* subjects.c (issue 17) */
};

/* happyfox/tickets.c — HappyFox tickets: create (POST /tickets/, one or a
 * bulk list), get (GET /ticket/<n>/) and list (GET /tickets/ with page,
 * size, status, category, a subset of q= and sort=).
 *
 * Updates to existing tickets are in happyfox/updates.c. Called with
 * sb->lock held. Creation validates everything before changing anything: a
 * refused request creates no ticket and no contact. A ticket's JSON is the
 * shape GET returns; its first update is the contact's opening message. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "sandbox/happyfox/internal.h"

/* ------------------------------------------------------------- helpers */

bool sbhf__parse_date(const char *s, char out[11])
{
    int y, m, d, n = 0;
    char norm[40];
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (strlen(s) != 10)
        return false;
    if (!(sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10) &&
        !(sscanf(s, "%2d/%2d/%4d%n", &d, &m, &y, &n) == 3 && n == 10))
        return false;
    if (y < 1900 || y > 9999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    snprintf(norm, sizeof norm, "%04d-%02d-%02d", y, m, d);
    memcpy(out, norm, 11);
    return true;
}

static char *strip_tags(const char *html)
{
    char *out = malloc(strlen(html) + 1), *o = out;
    bool in_tag = false;

    if (!out)
        return NULL;
    for (; *html; html++) {
        if (*html == '<')
            in_tag = true;
        else if (*html == '>')
            in_tag = false;
        else if (!in_tag)
            *o++ = *html;
    }
    *o = '\0';
    return out;
}

static json_t *escape_html(const char *text)
{
    struct buf b;
    json_t *out;
    int rc = 0;

    buf_init(&b, 6 * (size_t)SBHF_MESSAGE_MAX);
    for (; *text && !rc; text++) {
        switch (*text) {
        case '<': rc = buf_puts(&b, "&lt;"); break;
        case '>': rc = buf_puts(&b, "&gt;"); break;
        case '&': rc = buf_puts(&b, "&amp;"); break;
        case '"': rc = buf_puts(&b, "&quot;"); break;
        case '\n': rc = buf_puts(&b, "<br>"); break;
        default: rc = buf_append(&b, text, 1);
        }
    }
    out = json_string(b.data ? b.data : "");
    buf_free(&b);
    return out;
}

json_t *sbhf__message(const char *text, const char *html, const char *message_type)
{
    json_t *m = json_object();
    char *plain = NULL;

    if (!text && html)
        text = plain = strip_tags(html);
    json_object_set_new(m, "text", json_string(text ? text : ""));
    json_object_set_new(m, "html", html ? json_string(html) : escape_html(text ? text : ""));
    json_object_set_new(m, "message_type", message_type ? json_string(message_type) : json_null());
    free(plain);
    return m;
}

static bool email_ok(const char *e)
{
    const char *at = strchr(e, '@');
    size_t i;

    for (i = 0; e[i]; i++) {
        if (isspace((unsigned char)e[i]) || (unsigned char)e[i] < 0x20)
            return false;
    }
    return at && at > e && strchr(at + 1, '.') && at[1] != '.' && e[i - 1] != '.' && !strchr(at + 1, '@');
}

static json_t *default_of(const json_t *arr, const char *behavior)
{
    size_t i;
    json_t *x, *first = NULL;

    json_array_foreach (arr, i, x) {
        const char *b = json_string_value(json_object_get(x, "behavior"));
        if (behavior && (!b || strcmp(b, behavior) != 0))
            continue;
        if (json_is_true(json_object_get(x, "default")))
            return x;
        if (!first)
            first = x;
    }
    return first ? first : json_array_get(arr, 0);
}

/* Checks "tags" of in (into *tags, new ref) for count and length. */
static void read_tags(const json_t *in, const char *key, json_t **tags, struct sbhf_verr *v)
{
    size_t i;
    json_t *t;

    if (sbhf__get_list(in, key, tags, v) <= 0)
        return;
    if (json_array_size(*tags) > SBHF_TAGS_MAX)
        sbhf__verr_add(v, key, "at most %d tags", SBHF_TAGS_MAX);
    json_array_foreach (*tags, i, t) {
        if (json_string_length(t) > SBHF_TAG_MAX)
            sbhf__verr_add(v, key, "a tag is at most %d bytes", SBHF_TAG_MAX);
    }
}

/* Parses "YYYY-MM-DD HH:MM:SS" (the API's own form) or ISO-8601. */
static bool parse_when(const char *s, int64_t *ms)
{
    char iso[64];
    size_t n = strlen(s);

    if (time_parse_iso(s, ms) == 0)
        return true;
    if (n != 19 || s[10] != ' ')
        return false;
    snprintf(iso, sizeof iso, "%.10sT%sZ", s, s + 11);
    return time_parse_iso(iso, ms) == 0;
}

/* ------------------------------------------------------------- create */

struct create_in {
    int64_t category, client, priority, assignee, status, id;
    const char *subject, *text, *html, *name, *email, *phone, *due, *created;
    json_t *cat, *contact, *prio, *staff, *stat;
    json_t *tags, *cfs, *ccfs;
    bool private_ticket;
    int64_t created_ms;
    char due_norm[11];
};

static void validate_refs(struct sbhf_account *h, const json_t *in, bool seed, struct create_in *c, struct sbhf_verr *v)
{
    int r;

    if ((r = sbhf__get_id(in, "category", &c->category, v)) == 0)
        sbhf__verr_add(v, "category", "This field is required");
    if (r == 1 && !(c->cat = sbhf__find(h->categories, c->category)))
        sbhf__verr_add(v, "category", "No category with id %lld", (long long)c->category);
    if (c->cat && !seed && !json_is_true(json_object_get(c->cat, "public")))
        sbhf__verr_add(v, "category", "Category %lld is not public", (long long)c->category);
    if (sbhf__get_id(in, "priority", &c->priority, v) == 1 && !(c->prio = sbhf__find(h->priorities, c->priority)))
        sbhf__verr_add(v, "priority", "No priority with id %lld", (long long)c->priority);
    if (!c->prio)
        c->prio = default_of(h->priorities, NULL);
    if (sbhf__get_id(in, "assignee", &c->assignee, v) == 1) {
        json_t *cats;
        if (!(c->staff = sbhf__find(h->staff, c->assignee)) || json_is_false(json_object_get(c->staff, "active")))
            sbhf__verr_add(v, "assignee", "No active agent with id %lld", (long long)c->assignee);
        else if (c->cat && json_is_array((cats = json_object_get(c->staff, "categories"))) &&
                 !sbhf__has_int(cats, c->category))
            sbhf__verr_add(v, "assignee", "Agent %lld has no access to category %lld", (long long)c->assignee,
                           (long long)c->category);
    }
    if (seed && sbhf__get_id(in, "status", &c->status, v) == 1 && !(c->stat = sbhf__find(h->statuses, c->status)))
        sbhf__verr_add(v, "status", "No status with id %lld", (long long)c->status);
    if (!c->stat && !(c->stat = default_of(h->statuses, "pending")))
        sbhf__verr_add(v, "status", "The account has no statuses");
    if (seed && sbhf__get_id(in, "id", &c->id, v) == 1 && (c->id < h->next_ticket || c->id > (int64_t)1 << 40))
        sbhf__verr_add(v, "id", "Seed ticket ids must increase");
}

static void validate_create(struct sbhf_account *h, const json_t *in, bool seed, struct create_in *c,
                            struct sbhf_verr *v)
{
    int changed = 0;

    validate_refs(h, in, seed, c, v);
    if (sbhf__get_str(in, "subject", SBHF_SUBJECT_MAX, &c->subject, v) == 0)
        sbhf__verr_add(v, "subject", "This field is required");
    sbhf__get_str(in, "text", SBHF_MESSAGE_MAX, &c->text, v);
    sbhf__get_str(in, "html", SBHF_MESSAGE_MAX, &c->html, v);
    if (!c->text && !c->html && !json_object_get(v->errors, "text") && !json_object_get(v->errors, "html"))
        sbhf__verr_add(v, "text", "text or html is required");
    if (sbhf__get_id(in, "client", &c->client, v) == 1) {
        if (!(c->contact = sbhf__find(h->contacts, c->client)))
            sbhf__verr_add(v, "client", "No contact with id %lld", (long long)c->client);
    } else if (!json_object_get(v->errors, "client")) {
        if (sbhf__get_str(in, "name", SBHF_NAME_MAX, &c->name, v) == 0)
            sbhf__verr_add(v, "name", "This field is required (or give client)");
        if (sbhf__get_str(in, "email", SBHF_EMAIL_MAX, &c->email, v) == 0)
            sbhf__verr_add(v, "email", "This field is required (or give client)");
        else if (c->email && !email_ok(c->email))
            sbhf__verr_add(v, "email", "Enter a valid email address");
        if (c->email && email_ok(c->email))
            c->contact = sbhf__find_contact_email(h, c->email);
    }
    sbhf__get_str(in, "phone", 64, &c->phone, v);
    read_tags(in, "tags", &c->tags, v);
    if (sbhf__get_str(in, "due_date", 32, &c->due, v) == 1 && !sbhf__parse_date(c->due, c->due_norm))
        sbhf__verr_add(v, "due_date", "Expected yyyy-mm-dd or dd/mm/yyyy");
    sbhf__get_bool(in, "visible_only_staff", &c->private_ticket, v);
    c->created_ms = time_now_ms();
    if (sbhf__get_str(in, "created_at", 64, &c->created, v) == 1 && !parse_when(c->created, &c->created_ms))
        sbhf__verr_add(v, "created_at", "Expected \"yyyy-mm-dd hh:mm:ss\" (UTC)");
    c->cfs = sbhf__cf_blank(h->ticket_cfs, c->category);
    if (c->cat) {
        sbhf__cf_apply(h->ticket_cfs, "t-cf-", in, c->category, c->cfs, &changed, v);
        sbhf__cf_check_required(h->ticket_cfs, "t-cf-", c->category, c->cfs, v);
    }
    c->ccfs = c->contact ? json_deep_copy(json_object_get(c->contact, "custom_fields")) : json_array();
    sbhf__cf_apply(h->user_cfs, "c-cf-", in, -1, c->ccfs, &changed, v);
}

static int insert_ticket(struct sbhf_account *h, int64_t id, json_t *obj, int64_t created_ms, struct sbhf_ticket **out)
{
    struct sbhf_ticket *t;

    if (h->n_tickets == h->cap_tickets) {
        size_t ncap = h->cap_tickets ? h->cap_tickets * 2 : 64;
        struct sbhf_ticket *nt = realloc(h->tickets, ncap * sizeof *nt);
        if (!nt)
            return IDF_ENOMEM;
        h->tickets = nt;
        h->cap_tickets = ncap;
    }
    t = &h->tickets[h->n_tickets++];
    memset(t, 0, sizeof *t);
    t->id = id;
    t->obj = obj;
    t->created_ms = t->modified_ms = t->updated_ms = created_ms;
    t->mod_seq = t->upd_seq = ++h->change_seq;
    h->next_ticket = id + 1;
    *out = t;
    return 0;
}

int sbhf__ticket_create(struct sbhf_account *h, const json_t *in, bool seed, struct sbhf_ticket **out,
                        struct sbhf_verr *v)
{
    struct create_in c;
    struct sbhf_ticket *t = NULL;
    json_t *obj = NULL, *by, *upd;
    char disp[48];
    int rc = 0;

    memset(&c, 0, sizeof c);
    *out = NULL;
    if (h->n_tickets >= SBHF_TICKETS_MAX)
        return IDF_ETOOBIG;
    validate_create(h, in, seed, &c, v);
    if (sbhf__verr_any(v))
        goto out;
    if (!c.contact && !(c.contact = sbhf__contact_new(h, c.name, c.email, c.phone))) {
        rc = IDF_ETOOBIG;
        goto out;
    }
    json_object_set(c.contact, "custom_fields", c.ccfs);
    if (!c.id)
        c.id = h->next_ticket;
    if (!c.tags)
        c.tags = json_array();
    snprintf(disp, sizeof disp, "#%s%08lld", h->prefix, (long long)c.id);
    obj = json_pack("{s:I,s:s,s:s,s:{s:O,s:O},s:o,s:o,s:o,s:o,s:O,s:O,s:o,s:o,s:o,s:o,s:n,s:o,s:i,s:b,s:b,s:[]}", "id",
                    (json_int_t)c.id, "display_id", disp, "subject", c.subject, "category", "id",
                    json_object_get(c.cat, "id"), "name", json_object_get(c.cat, "name"), "status",
                    json_deep_copy(c.stat), "priority", c.prio ? json_deep_copy(c.prio) : json_null(), "assigned_to",
                    sbhf__staff_summary(c.staff), "user", sbhf__contact_summary(c.contact), "tags", c.tags,
                    "custom_fields", c.cfs, "created_at", sbhf__time(c.created_ms), "last_modified",
                    sbhf__time(c.created_ms), "last_updated_at", sbhf__time(c.created_ms), "last_user_reply_at",
                    sbhf__time(c.created_ms), "last_staff_reply_at", "due_date",
                    c.due ? json_string(c.due_norm) : json_null(), "time_spent", 0, "visible_only_staff",
                    c.private_ticket, "unresponded", 1, "updates");
    if (!obj) {
        rc = IDF_ENOMEM;
        goto out;
    }
    if ((rc = insert_ticket(h, c.id, obj, c.created_ms, &t)))
        goto out;
    obj = NULL;
    by = json_pack("{s:O,s:O,s:O,s:s}", "id", json_object_get(c.contact, "id"), "name",
                   json_object_get(c.contact, "name"), "email", json_object_get(c.contact, "email"), "type", "user");
    upd = json_pack("{s:o,s:o}", "by", by, "message", sbhf__message(c.text, c.html, NULL));
    json_object_set_new(json_object_get(upd, "message"), "subject", json_string(c.subject));
    upd = sbhf__update_append(h, t, upd);
    json_object_set_new(upd, "timestamp", sbhf__time(c.created_ms));
    t->modified_ms = t->updated_ms = c.created_ms;
    json_object_set_new(t->obj, "last_modified", sbhf__time(c.created_ms));
    *out = t;
out:
    json_decref(obj);
    json_decref(c.tags);
    json_decref(c.cfs);
    json_decref(c.ccfs);
    return rc;
}

json_t *sbhf__ticket_render(const struct sbhf_ticket *t, bool minify)
{
    json_t *o = json_deep_copy(t->obj);

    if (o && minify)
        json_object_del(o, "updates");
    return o;
}

void sbhf__ticket_get(struct sandbox *sb, struct sbhf_ticket *t, const struct http_req *req, struct http_resp *resp)
{
    (void)sb;
    (void)req;
    http_resp_json(resp, 200, sbhf__ticket_render(t, false));
}

static void create_route(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    struct sbhf_body body;
    struct sbhf_verr v = {NULL};
    struct sbhf_ticket *t = NULL;
    int rc;

    if (!sbhf__body_parse(req, true, &body, resp))
        return;
    if (json_is_array(body.obj)) {
        sbhf__tickets_bulk(sb, body.obj, resp);
        json_decref(body.obj);
        return;
    }
    rc = sbhf__ticket_create(sb->hf, body.obj, false, &t, &v);
    json_decref(body.obj);
    if (sbhf__verr_any(&v)) {
        sbhf__verr_respond(&v, resp);
    } else if (rc) {
        sbhf__error(resp, rc == IDF_ETOOBIG ? 507 : 500, "Could not create the ticket: %s", idf_strerror(rc));
    } else {
        http_resp_json(resp, 200, sbhf__ticket_render(t, false));
        sbhf__webhook_emit(sb, t, "ticket_created", NULL);
    }
}

void sbhf__tickets_bulk(struct sandbox *sb, const json_t *list, struct http_resp *resp)
{
    json_t *results, *item;
    size_t i;
    int created = 0;

    if (json_array_size(list) == 0 || json_array_size(list) > SBHF_BULK_MAX) {
        sbhf__error(resp, 400, "A bulk create takes 1 to %d tickets", SBHF_BULK_MAX);
        return;
    }
    results = json_array();
    json_array_foreach (list, i, item) {
        struct sbhf_verr v = {NULL};
        struct sbhf_ticket *t = NULL;
        int rc = IDF_EINVAL;
        if (json_is_object(item))
            rc = sbhf__ticket_create(sb->hf, item, false, &t, &v);
        else
            sbhf__verr_add(&v, "ticket", "expected an object");
        if (t && !rc) {
            created++;
            json_array_append_new(results, json_pack("{s:b,s:o}", "success", 1, "data", sbhf__ticket_render(t, false)));
            sbhf__webhook_emit(sb, t, "ticket_created", NULL);
        } else {
            json_array_append_new(results, json_pack("{s:b,s:s,s:o}", "success", 0, "error",
                                                     sbhf__verr_any(&v) ? "Validation failed" : idf_strerror(rc),
                                                     "errors", v.errors ? v.errors : json_object()));
            v.errors = NULL;
        }
        sbhf__verr_free(&v);
    }
    http_resp_json(resp, created ? 200 : 400, results);
}

void sbhf__tickets_route(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    if (strcmp(req->method, "POST") == 0)
        create_route(sb, req, resp);
    else if (strcmp(req->method, "GET") == 0)
        sbhf__tickets_list(sb, req, resp);
    else
        sbhf__error(resp, 405, "Method not allowed");
}

/* happyfox_tickets.c — HappyFox tickets: create (POST /tickets/, one or a
 * bulk list), get (GET /ticket/<n>/) and list (GET /tickets/ with page,
 * size, status, category, a subset of q= and sort=).
 *
 * Updates to existing tickets are in happyfox_updates.c. Called with
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

bool sbx__hf_parse_date(const char *s, char out[11])
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

    buf_init(&b, 6 * (size_t)HF_MESSAGE_MAX);
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

json_t *sbx__hf_message(const char *text, const char *html, const char *message_type)
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
static void read_tags(const json_t *in, const char *key, json_t **tags, struct sbx_hf_verr *v)
{
    size_t i;
    json_t *t;

    if (sbx__hf_get_list(in, key, tags, v) <= 0)
        return;
    if (json_array_size(*tags) > HF_TAGS_MAX)
        sbx__hf_verr_add(v, key, "at most %d tags", HF_TAGS_MAX);
    json_array_foreach (*tags, i, t) {
        if (json_string_length(t) > HF_TAG_MAX)
            sbx__hf_verr_add(v, key, "a tag is at most %d bytes", HF_TAG_MAX);
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

static void validate_refs(struct sbx_happyfox *h, const json_t *in, bool seed, struct create_in *c,
                          struct sbx_hf_verr *v)
{
    int r;

    if ((r = sbx__hf_get_id(in, "category", &c->category, v)) == 0)
        sbx__hf_verr_add(v, "category", "This field is required");
    if (r == 1 && !(c->cat = sbx__hf_find(h->categories, c->category)))
        sbx__hf_verr_add(v, "category", "No category with id %lld", (long long)c->category);
    if (c->cat && !seed && !json_is_true(json_object_get(c->cat, "public")))
        sbx__hf_verr_add(v, "category", "Category %lld is not public", (long long)c->category);
    if (sbx__hf_get_id(in, "priority", &c->priority, v) == 1 && !(c->prio = sbx__hf_find(h->priorities, c->priority)))
        sbx__hf_verr_add(v, "priority", "No priority with id %lld", (long long)c->priority);
    if (!c->prio)
        c->prio = default_of(h->priorities, NULL);
    if (sbx__hf_get_id(in, "assignee", &c->assignee, v) == 1) {
        json_t *cats;
        if (!(c->staff = sbx__hf_find(h->staff, c->assignee)) || json_is_false(json_object_get(c->staff, "active")))
            sbx__hf_verr_add(v, "assignee", "No active agent with id %lld", (long long)c->assignee);
        else if (c->cat && json_is_array((cats = json_object_get(c->staff, "categories"))) &&
                 !sbx__hf_has_int(cats, c->category))
            sbx__hf_verr_add(v, "assignee", "Agent %lld has no access to category %lld", (long long)c->assignee,
                             (long long)c->category);
    }
    if (seed && sbx__hf_get_id(in, "status", &c->status, v) == 1 && !(c->stat = sbx__hf_find(h->statuses, c->status)))
        sbx__hf_verr_add(v, "status", "No status with id %lld", (long long)c->status);
    if (!c->stat && !(c->stat = default_of(h->statuses, "pending")))
        sbx__hf_verr_add(v, "status", "The account has no statuses");
    if (seed && sbx__hf_get_id(in, "id", &c->id, v) == 1 && (c->id < h->next_ticket || c->id > (int64_t)1 << 40))
        sbx__hf_verr_add(v, "id", "Seed ticket ids must increase");
}

static void validate_create(struct sbx_happyfox *h, const json_t *in, bool seed, struct create_in *c,
                            struct sbx_hf_verr *v)
{
    int changed = 0;

    validate_refs(h, in, seed, c, v);
    if (sbx__hf_get_str(in, "subject", HF_SUBJECT_MAX, &c->subject, v) == 0)
        sbx__hf_verr_add(v, "subject", "This field is required");
    sbx__hf_get_str(in, "text", HF_MESSAGE_MAX, &c->text, v);
    sbx__hf_get_str(in, "html", HF_MESSAGE_MAX, &c->html, v);
    if (!c->text && !c->html && !json_object_get(v->errors, "text") && !json_object_get(v->errors, "html"))
        sbx__hf_verr_add(v, "text", "text or html is required");
    if (sbx__hf_get_id(in, "client", &c->client, v) == 1) {
        if (!(c->contact = sbx__hf_find(h->contacts, c->client)))
            sbx__hf_verr_add(v, "client", "No contact with id %lld", (long long)c->client);
    } else if (!json_object_get(v->errors, "client")) {
        if (sbx__hf_get_str(in, "name", HF_NAME_MAX, &c->name, v) == 0)
            sbx__hf_verr_add(v, "name", "This field is required (or give client)");
        if (sbx__hf_get_str(in, "email", HF_EMAIL_MAX, &c->email, v) == 0)
            sbx__hf_verr_add(v, "email", "This field is required (or give client)");
        else if (c->email && !email_ok(c->email))
            sbx__hf_verr_add(v, "email", "Enter a valid email address");
        if (c->email && email_ok(c->email))
            c->contact = sbx__hf_find_contact_email(h, c->email);
    }
    sbx__hf_get_str(in, "phone", 64, &c->phone, v);
    read_tags(in, "tags", &c->tags, v);
    if (sbx__hf_get_str(in, "due_date", 32, &c->due, v) == 1 && !sbx__hf_parse_date(c->due, c->due_norm))
        sbx__hf_verr_add(v, "due_date", "Expected yyyy-mm-dd or dd/mm/yyyy");
    sbx__hf_get_bool(in, "visible_only_staff", &c->private_ticket, v);
    c->created_ms = time_now_ms();
    if (sbx__hf_get_str(in, "created_at", 64, &c->created, v) == 1 && !parse_when(c->created, &c->created_ms))
        sbx__hf_verr_add(v, "created_at", "Expected \"yyyy-mm-dd hh:mm:ss\" (UTC)");
    c->cfs = sbx__hf_cf_blank(h->ticket_cfs, c->category);
    if (c->cat) {
        sbx__hf_cf_apply(h->ticket_cfs, "t-cf-", in, c->category, c->cfs, &changed, v);
        sbx__hf_cf_check_required(h->ticket_cfs, "t-cf-", c->category, c->cfs, v);
    }
    c->ccfs = c->contact ? json_deep_copy(json_object_get(c->contact, "custom_fields")) : json_array();
    sbx__hf_cf_apply(h->user_cfs, "c-cf-", in, -1, c->ccfs, &changed, v);
}

static int insert_ticket(struct sbx_happyfox *h, int64_t id, json_t *obj, int64_t created_ms,
                         struct sbx_hf_ticket **out)
{
    struct sbx_hf_ticket *t;

    if (h->n_tickets == h->cap_tickets) {
        size_t ncap = h->cap_tickets ? h->cap_tickets * 2 : 64;
        struct sbx_hf_ticket *nt = realloc(h->tickets, ncap * sizeof *nt);
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

int sbx__hf_ticket_create(struct sbx_happyfox *h, const json_t *in, bool seed, struct sbx_hf_ticket **out,
                          struct sbx_hf_verr *v)
{
    struct create_in c;
    struct sbx_hf_ticket *t = NULL;
    json_t *obj = NULL, *by, *upd;
    char disp[48];
    int rc = 0;

    memset(&c, 0, sizeof c);
    *out = NULL;
    if (h->n_tickets >= HF_TICKETS_MAX)
        return IDF_ETOOBIG;
    validate_create(h, in, seed, &c, v);
    if (sbx__hf_verr_any(v))
        goto out;
    if (!c.contact && !(c.contact = sbx__hf_contact_new(h, c.name, c.email, c.phone))) {
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
                    sbx__hf_staff_summary(c.staff), "user", sbx__hf_contact_summary(c.contact), "tags", c.tags,
                    "custom_fields", c.cfs, "created_at", sbx__hf_time(c.created_ms), "last_modified",
                    sbx__hf_time(c.created_ms), "last_updated_at", sbx__hf_time(c.created_ms), "last_user_reply_at",
                    sbx__hf_time(c.created_ms), "last_staff_reply_at", "due_date",
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
    upd = json_pack("{s:o,s:o}", "by", by, "message", sbx__hf_message(c.text, c.html, NULL));
    json_object_set_new(json_object_get(upd, "message"), "subject", json_string(c.subject));
    upd = sbx__hf_update_append(h, t, upd);
    json_object_set_new(upd, "timestamp", sbx__hf_time(c.created_ms));
    t->modified_ms = t->updated_ms = c.created_ms;
    json_object_set_new(t->obj, "last_modified", sbx__hf_time(c.created_ms));
    *out = t;
out:
    json_decref(obj);
    json_decref(c.tags);
    json_decref(c.cfs);
    json_decref(c.ccfs);
    return rc;
}

json_t *sbx__hf_ticket_render(const struct sbx_hf_ticket *t, bool minify)
{
    json_t *o = json_deep_copy(t->obj);

    if (o && minify)
        json_object_del(o, "updates");
    return o;
}

void sbx__hf_ticket_get(struct sandbox *sb, struct sbx_hf_ticket *t, const struct http_req *req, struct http_resp *resp)
{
    (void)sb;
    (void)req;
    http_resp_json(resp, 200, sbx__hf_ticket_render(t, false));
}

static void create_route(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    struct sbx_hf_body body;
    struct sbx_hf_verr v = {NULL};
    struct sbx_hf_ticket *t = NULL;
    int rc;

    if (!sbx__hf_body_parse(req, true, &body, resp))
        return;
    if (json_is_array(body.obj)) {
        sbx__hf_tickets_bulk(sb, body.obj, resp);
        json_decref(body.obj);
        return;
    }
    rc = sbx__hf_ticket_create(sb->hf, body.obj, false, &t, &v);
    json_decref(body.obj);
    if (sbx__hf_verr_any(&v)) {
        sbx__hf_verr_respond(&v, resp);
    } else if (rc) {
        sbx__hf_error(resp, rc == IDF_ETOOBIG ? 507 : 500, "Could not create the ticket: %s", idf_strerror(rc));
    } else {
        http_resp_json(resp, 200, sbx__hf_ticket_render(t, false));
        sbx__hf_webhook_emit(sb, t, "ticket_created", NULL);
    }
}

void sbx__hf_tickets_bulk(struct sandbox *sb, const json_t *list, struct http_resp *resp)
{
    json_t *results, *item;
    size_t i;
    int created = 0;

    if (json_array_size(list) == 0 || json_array_size(list) > HF_BULK_MAX) {
        sbx__hf_error(resp, 400, "A bulk create takes 1 to %d tickets", HF_BULK_MAX);
        return;
    }
    results = json_array();
    json_array_foreach (list, i, item) {
        struct sbx_hf_verr v = {NULL};
        struct sbx_hf_ticket *t = NULL;
        int rc = IDF_EINVAL;
        if (json_is_object(item))
            rc = sbx__hf_ticket_create(sb->hf, item, false, &t, &v);
        else
            sbx__hf_verr_add(&v, "ticket", "expected an object");
        if (t && !rc) {
            created++;
            json_array_append_new(results,
                                  json_pack("{s:b,s:o}", "success", 1, "data", sbx__hf_ticket_render(t, false)));
            sbx__hf_webhook_emit(sb, t, "ticket_created", NULL);
        } else {
            json_array_append_new(results, json_pack("{s:b,s:s,s:o}", "success", 0, "error",
                                                     sbx__hf_verr_any(&v) ? "Validation failed" : idf_strerror(rc),
                                                     "errors", v.errors ? v.errors : json_object()));
            v.errors = NULL;
        }
        sbx__hf_verr_free(&v);
    }
    http_resp_json(resp, created ? 200 : 400, results);
}

void sbx__hf_tickets_route(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    if (strcmp(req->method, "POST") == 0)
        create_route(sb, req, resp);
    else if (strcmp(req->method, "GET") == 0)
        sbx__hf_tickets_list(sb, req, resp);
    else
        sbx__hf_error(resp, 405, "Method not allowed");
}

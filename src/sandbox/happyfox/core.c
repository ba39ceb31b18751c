/* happyfox/core.c — the emulated HappyFox Help Desk account: its state, built from
 * the seed's "happyfox" object, and the front door of /api/1.1/json/: HTTP
 * Basic auth, the per-minute GET and POST budgets with their lock-out, the
 * "2xx with {error}" quirk, the per-ticket "call in flight" refusal, routing,
 * and the reference lists and contacts (/users/, /user/<id or email>/).
 *
 * Tickets live in happyfox/tickets.c and happyfox/updates.c; the admin
 * endpoints and the state dump in happyfox/admin.c. sandbox.c calls in from
 * the server's threads with sb->lock held; nothing here blocks.
 *
 * Invariants of struct sbhf_account (happyfox/internal.h): every reference
 * item and contact has a unique positive integer "id"; tickets are sorted by
 * id and next_ticket is above every id; next_update only grows, so update_ids
 * increase across the whole account; locked_until != 0 only while locked out
 * (cleared, with both rings, by the first call after it passes). */
#include <ctype.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "sandbox/happyfox/internal.h"

#define SBHF_AUTH_MAX 1024 /* bytes of a decoded Basic credential */
#define SBHF_PATH_SEGS 4   /* /ticket/<n>/<action>/ */
#define SBHF_PATH_MAX 512

static int pick_limit(int opt, const json_t *lim, const char *key, int dflt)
{
    json_t *x = json_object_get(lim, key);
    if (opt > 0)
        return opt;
    if (json_is_integer(x) && json_integer_value(x) >= 1 && json_integer_value(x) <= SBHF_LIMIT_MAX)
        return (int)json_integer_value(x);
    return dflt;
}

static int64_t pick_ms(const json_t *lim, const char *key, int64_t dflt, int64_t min)
{
    json_t *x = json_object_get(lim, key);
    if (json_is_number(x) && json_number_value(x) * 1000 >= (double)min)
        return (int64_t)(json_number_value(x) * 1000);
    return dflt;
}

static char *seed_str(const json_t *seed, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(seed, key));
    return strdup(s && *s ? s : dflt);
}

int sbhf__init(struct sandbox *sb, const json_t *seed, struct sbhf_account **out, struct idf_err *err)
{
    struct sbhf_account *h = calloc(1, sizeof *h);
    const json_t *lim = seed ? json_object_get(seed, "limits") : NULL;
    const json_t *wh = seed ? json_object_get(seed, "webhook") : NULL;
    int rc;

    *out = NULL;
    if (!h)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    if (json_is_null(seed))
        seed = lim = wh = NULL;
    if (seed && !json_is_object(seed)) {
        rc = idf_err_set(err, IDF_EINVAL, "seed \"happyfox\": expected an object");
        goto out;
    }
    h->api_key = seed_str(seed, "api_key", SBHF_DEFAULT_API_KEY);
    h->auth_code = seed_str(seed, "auth_code", SBHF_DEFAULT_AUTH_CODE);
    h->prefix = seed_str(seed, "ticket_prefix", SBHF_DEFAULT_PREFIX);
    h->next_ticket = 1;
    h->next_update = 1;
    if ((rc = sbhf__seed_lists(h, seed, err)))
        goto out;
    h->window_ms = pick_ms(lim, "window_seconds", SBHF_DEFAULT_WINDOW_MS, SBHF_WINDOW_MIN_MS);
    h->lockout_ms = pick_ms(lim, "lockout_seconds", SBHF_DEFAULT_LOCKOUT_MS, SBHF_WINDOW_MIN_MS);
    h->lockout_extends = !json_is_false(json_object_get(lim, "lockout_extends"));
    if (json_is_integer(json_object_get(lim, "ticket_busy_ms")) &&
        json_integer_value(json_object_get(lim, "ticket_busy_ms")) >= 0 &&
        json_integer_value(json_object_get(lim, "ticket_busy_ms")) <= SBHF_BUSY_MAX_MS)
        h->ticket_busy_ms = json_integer_value(json_object_get(lim, "ticket_busy_ms"));
    if ((rc = sbhf__ring_init(&h->get_ring, pick_limit(sb ? sb->opts.hf_get_limit : 0, lim, "get_per_minute",
                                                       SBHF_DEFAULT_GET_LIMIT))) ||
        (rc = sbhf__ring_init(&h->post_ring, pick_limit(sb ? sb->opts.hf_post_limit : 0, lim, "post_per_minute",
                                                        SBHF_DEFAULT_POST_LIMIT)))) {
        idf_err_set(err, rc, "happyfox budgets: %s", idf_strerror(rc));
        goto out;
    }
    if (json_is_string(json_object_get(wh, "url"))) {
        const char *hn = json_string_value(json_object_get(wh, "header_name"));
        const char *hv = json_string_value(json_object_get(wh, "header_value"));
        h->wh_url = strdup(json_string_value(json_object_get(wh, "url")));
        if (hn && hv) {
            h->wh_header_name = strdup(hn);
            if (asprintf(&h->wh_header, "%s: %s", hn, hv) < 0)
                h->wh_header = NULL;
        }
    }
    if (!h->api_key || !h->auth_code || !h->prefix) {
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
        goto out;
    }
    if (strlen(h->prefix) > 16 ||
        strspn(h->prefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != strlen(h->prefix)) {
        rc = idf_err_set(err, IDF_EINVAL, "seed happyfox.ticket_prefix: up to 16 letters or digits");
        goto out;
    }
    if ((rc = sbhf__seed_tickets(h, seed, err)))
        goto out;
    *out = h;
    h = NULL;
out:
    sbhf__free(h);
    return rc;
}

void sbhf__free(struct sbhf_account *h)
{
    size_t i;

    if (!h)
        return;
    free(h->api_key);
    free(h->auth_code);
    free(h->prefix);
    json_decref(h->categories);
    json_decref(h->statuses);
    json_decref(h->priorities);
    json_decref(h->staff);
    json_decref(h->ticket_cfs);
    json_decref(h->user_cfs);
    json_decref(h->contacts);
    for (i = 0; i < h->n_tickets; i++)
        json_decref(h->tickets[i].obj);
    free(h->tickets);
    sbhf__ring_free(&h->get_ring);
    sbhf__ring_free(&h->post_ring);
    free(h->wh_url);
    free(h->wh_header);
    free(h->wh_header_name);
    json_decref(h->wh_events);
    free(h->quirk.prefix);
    free(h->quirk.method);
    free(h->quirk.message);
    free(h);
}

/* ------------------------------------------------------------ contacts */

json_t *sbhf__contact_new(struct sbhf_account *h, const char *name, const char *email, const char *phone)
{
    json_t *c;

    if (json_array_size(h->contacts) >= SBHF_CONTACTS_MAX)
        return NULL;
    c = json_pack("{s:I,s:s,s:s,s:[],s:[],s:b,s:o}", "id", (json_int_t)h->next_contact, "name", name, "email", email,
                  "phones", "custom_fields", "is_login_enabled", 1, "created_at", sbhf__time(time_now_ms()));
    if (!c)
        return NULL;
    if (phone)
        json_array_append_new(json_object_get(c, "phones"),
                              json_pack("{s:s,s:s,s:b}", "type", "m", "number", phone, "is_primary", 1));
    h->next_contact++;
    json_array_append_new(h->contacts, c);
    return c;
}

bool sbhf__page_params(const struct http_req *req, int64_t *size, int64_t *page, struct http_resp *resp)
{
    const char *ps = http_req_query(req, "size"), *pp = http_req_query(req, "page");
    json_t *jsize = ps ? json_string(ps) : NULL, *jpage = pp ? json_string(pp) : NULL;
    bool ok;

    *size = SBHF_PAGE_SIZE_DEFAULT;
    *page = 1;
    ok = (!ps || (jsize && sbhf__as_id(jsize, size) && *size >= 1)) &&
         (!pp || (jpage && sbhf__as_id(jpage, page) && *page >= 1 && *page <= (int64_t)1 << 30));
    json_decref(jsize);
    json_decref(jpage);
    if (!ok) {
        sbhf__error(resp, 400, "size and page must be positive integers");
        return false;
    }
    if (*size > SBHF_PAGE_SIZE_MAX)
        *size = SBHF_PAGE_SIZE_MAX;
    return true;
}

json_t *sbhf__page_body(int64_t total, int64_t size, int64_t page, json_t *data)
{
    int64_t off = (page - 1) * size, n = (int64_t)json_array_size(data);

    return json_pack("{s:{s:I,s:I,s:I,s:I},s:o}", "page_info", "count", (json_int_t)total, "page_count",
                     (json_int_t)((total + size - 1) / size), "start", (json_int_t)(n ? off + 1 : 0), "end",
                     (json_int_t)(n ? off + n : 0), "data", data);
}

static bool icontains(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle) != NULL;
}

static void users_list(struct sbhf_account *h, const struct http_req *req, struct http_resp *resp)
{
    const char *q = http_req_query(req, "q");
    json_t *data, *c;
    int64_t size, page, total = 0;
    size_t i;

    if (!sbhf__page_params(req, &size, &page, resp))
        return;
    data = json_array();
    json_array_foreach (h->contacts, i, c) {
        bool hit = !q || !*q || icontains(json_string_value(json_object_get(c, "name")), q) ||
                   icontains(json_string_value(json_object_get(c, "email")), q);
        size_t j;
        json_t *ph;
        json_array_foreach (json_object_get(c, "phones"), j, ph)
            hit = hit || icontains(json_string_value(json_object_get(ph, "number")), q);
        if (!hit)
            continue;
        if (total >= (page - 1) * size && total < page * size)
            json_array_append_new(data, json_deep_copy(c));
        total++;
    }
    http_resp_json(resp, 200, sbhf__page_body(total, size, page, data));
}

static void user_get(struct sbhf_account *h, const char *key, struct http_resp *resp)
{
    json_t *jk = json_string(key), *c = NULL;
    int64_t id;

    if (jk && sbhf__as_id(jk, &id))
        c = sbhf__find(h->contacts, id);
    else if (strchr(key, '@'))
        c = sbhf__find_contact_email(h, key);
    json_decref(jk);
    if (!c)
        sbhf__error(resp, 404, "Contact not found");
    else
        http_resp_json(resp, 200, json_deep_copy(c));
}

/* ------------------------------------------------- auth, budgets, quirk */

static bool ct_equal(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b), i;
    unsigned diff = (unsigned)(alen != blen);

    for (i = 0; i < alen; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)(blen ? b[i % blen] : 0);
    return diff == 0;
}

static bool authorized(const struct sbhf_account *h, const struct http_req *req)
{
    const char *hdr = http_req_header(req, "Authorization");
    unsigned char raw[SBHF_AUTH_MAX];
    size_t n = 0;
    const char *colon;
    bool ok;

    if (!hdr || strncasecmp(hdr, "Basic ", 6) != 0)
        return false;
    hdr += 6;
    while (*hdr == ' ')
        hdr++;
    if (strlen(hdr) > SBHF_AUTH_MAX ||
        sodium_base642bin(raw, sizeof raw, hdr, strlen(hdr), NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    colon = memchr(raw, ':', n);
    if (!colon)
        return false;
    ok = ct_equal((const char *)raw, (size_t)(colon - (const char *)raw), h->api_key);
    ok = ct_equal(colon + 1, n - (size_t)(colon + 1 - (const char *)raw), h->auth_code) && ok;
    sodium_memzero(raw, sizeof raw);
    return ok;
}

static void refuse_429(struct sbhf_account *h, int64_t now, struct http_resp *resp, const char *why)
{
    char secs[32];

    h->n_429++;
    snprintf(secs, sizeof secs, "%lld", (long long)((h->locked_until - now + 999) / 1000));
    sbhf__error(resp, 429, "%s; API calls from this account are refused for %s seconds", why, secs);
    if (http_resp_header(resp, "Retry-After", secs))
        resp->status = 429;
}

/* True when the call may go on; otherwise resp holds the 429. */
static bool budget_admit(struct sbhf_account *h, bool is_get, struct http_resp *resp)
{
    int64_t now = time_mono_ms();
    struct sbhf_ring *r = is_get ? &h->get_ring : &h->post_ring;
    char why[128];

    if (h->locked_until && now < h->locked_until) {
        if (h->lockout_extends)
            h->locked_until = now + h->lockout_ms;
        refuse_429(h, now, resp, "Rate limit exceeded earlier");
        return false;
    }
    if (h->locked_until) { /* the lock-out has passed: a fresh budget */
        h->locked_until = 0;
        sbhf__ring_clear(&h->get_ring);
        sbhf__ring_clear(&h->post_ring);
    }
    if (sbhf__ring_take(r, now, h->window_ms))
        return true;
    h->locked_until = now + h->lockout_ms;
    snprintf(why, sizeof why, "Rate limit exceeded: %d %s requests a minute", r->limit, is_get ? "GET" : "POST");
    refuse_429(h, now, resp, why);
    return false;
}

/* The quirk applies to this call: true, and *applied says whether the call
 * still runs before its body is replaced. */
static bool quirk_hits(struct sbhf_account *h, const struct http_req *req)
{
    struct sbhf_quirk *q = &h->quirk;

    if (q->remaining <= 0 || strncmp(req->path, q->prefix, strlen(q->prefix)) != 0)
        return false;
    if (q->method && strcasecmp(q->method, req->method) != 0)
        return false;
    q->remaining--;
    return true;
}

/* ------------------------------------------------------------- routing */

static bool ticket_busy(struct sbhf_account *h, struct sbhf_ticket *t, struct http_resp *resp)
{
    if (t->busy_until <= time_mono_ms())
        return false;
    h->n_409++;
    sbhf__error(resp, 409,
                "Another API call on ticket %lld is in progress; the API does not support concurrent "
                "calls to the same ticket",
                (long long)t->id);
    return true;
}

static void route_ticket(struct sandbox *sb, char **seg, int nseg, const struct http_req *req, struct http_resp *resp)
{
    struct sbhf_account *h = sb->hf;
    json_t *jid = json_string(seg[1]);
    int64_t id = 0;
    struct sbhf_ticket *t = NULL;
    bool is_get = strcmp(req->method, "GET") == 0;

    if (jid && sbhf__as_id(jid, &id))
        t = sbhf__ticket_find(h, id);
    json_decref(jid);
    if (!t) {
        sbhf__error(resp, 404, "Ticket not found");
        return;
    }
    if (ticket_busy(h, t, resp))
        return;
    if (nseg == 2 && is_get)
        sbhf__ticket_get(sb, t, req, resp);
    else if (nseg == 3 && strcmp(req->method, "POST") == 0)
        sbhf__ticket_action(sb, t, seg[2], req, resp);
    else
        sbhf__error(resp, 405, "Method not allowed");
    /* The call stays "in flight" until its answer leaves: the server holds
     * the answer for ticket_busy_ms, and calls arriving meanwhile get 409. */
    if (h->ticket_busy_ms > 0) {
        t->busy_until = time_mono_ms() + h->ticket_busy_ms;
        if (resp->delay_ms < h->ticket_busy_ms)
            resp->delay_ms = h->ticket_busy_ms;
    }
}

static void route(struct sandbox *sb, const char *rest, const struct http_req *req, struct http_resp *resp)
{
    static const struct {
        const char *name;
        size_t off;
    } lists[] = {
        {"statuses", offsetof(struct sbhf_account, statuses)},
        {"categories", offsetof(struct sbhf_account, categories)},
        {"staff", offsetof(struct sbhf_account, staff)},
        {"priorities", offsetof(struct sbhf_account, priorities)},
        {"ticket_custom_fields", offsetof(struct sbhf_account, ticket_cfs)},
        {"user_custom_fields", offsetof(struct sbhf_account, user_cfs)},
    };
    char path[SBHF_PATH_MAX], *seg[SBHF_PATH_SEGS + 1], *save = NULL, *p;
    int nseg = 0;
    size_t i;
    bool is_get = strcmp(req->method, "GET") == 0;

    if (strlen(rest) >= sizeof path) {
        sbhf__error(resp, 404, "Not found");
        return;
    }
    strcpy(path, rest);
    for (p = strtok_r(path, "/", &save); p && nseg <= SBHF_PATH_SEGS; p = strtok_r(NULL, "/", &save))
        seg[nseg++] = p;
    if (nseg == 0 || nseg > SBHF_PATH_SEGS - 1) {
        sbhf__error(resp, 404, "Not found");
        return;
    }
    for (i = 0; nseg == 1 && i < sizeof lists / sizeof lists[0]; i++) {
        if (strcmp(seg[0], lists[i].name) == 0) {
            json_t *arr = *(json_t **)((char *)sb->hf + lists[i].off);
            if (is_get)
                http_resp_json(resp, 200, json_deep_copy(arr));
            else
                sbhf__error(resp, 405, "Method not allowed");
            return;
        }
    }
    if (nseg == 1 && strcmp(seg[0], "users") == 0) {
        if (is_get)
            users_list(sb->hf, req, resp);
        else
            sbhf__error(resp, 501, "Creating contacts is not emulated by the sandbox");
    } else if (nseg == 2 && strcmp(seg[0], "user") == 0) {
        if (is_get)
            user_get(sb->hf, seg[1], resp);
        else
            sbhf__error(resp, 501, "Editing contacts is not emulated by the sandbox");
    } else if (nseg == 1 && strcmp(seg[0], "tickets") == 0) {
        sbhf__tickets_route(sb, req, resp);
    } else if ((nseg == 2 || nseg == 3) && strcmp(seg[0], "ticket") == 0) {
        route_ticket(sb, seg, nseg, req, resp);
    } else {
        sbhf__error(resp, 404, "Not found");
    }
}

bool sbhf__handle(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    struct sbhf_account *h = sb->hf;
    size_t plen = strlen(SBHF_API_PREFIX);
    bool is_get;
    bool quirk;

    if (!h || strncmp(req->path, SBHF_API_PREFIX, plen) != 0 || (req->path[plen] != '/' && req->path[plen]))
        return false;
    if (!authorized(h, req)) {
        sbhf__error(resp, 401, "Authentication failed: send the API key and auth code with HTTP Basic auth");
        if (http_resp_header(resp, "WWW-Authenticate", "Basic realm=\"HappyFox\""))
            resp->status = 401;
        return true;
    }
    is_get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (!budget_admit(h, is_get, resp))
        return true;
    quirk = quirk_hits(h, req);
    if (!quirk || h->quirk.applied)
        route(sb, req->path + plen, req, resp);
    if (quirk && (!h->quirk.applied || (resp->status >= 200 && resp->status < 300))) {
        int status = h->quirk.status;
        sbhf__error(resp, status, "%s", h->quirk.message);
    }
    return true;
}

/* happyfox/util.c — small shared pieces of the sandbox's HappyFox half:
 * clocks and timestamps, error bodies, field validation, request bodies (JSON
 * and form-urlencoded), value readers, lookups and the budget rings.
 *
 * Leaves routing and state to happyfox/core.c. Called from the server's threads
 * with sb->lock held (the helpers themselves keep no state). Every input
 * read here is capped (SBHF_FORM_FIELDS_MAX, the caller's max lengths). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/timeutil.h"
#include "sandbox/happyfox/internal.h"

json_t *sbhf__time(int64_t wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    char out[32];

    gmtime_r(&secs, &tm);
    strftime(out, sizeof out, "%Y-%m-%d %H:%M:%S", &tm);
    return json_string(out);
}

/* ------------------------------------------------------------- errors */

void sbhf__error(struct http_resp *resp, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_reset(&resp->body);
    http_resp_json(resp, status, json_pack("{s:s}", "error", msg));
}

void sbhf__verr_add(struct sbhf_verr *v, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    json_t *list;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!v->errors)
        v->errors = json_object();
    if (!v->errors)
        return;
    list = json_object_get(v->errors, field);
    if (!list) {
        list = json_array();
        json_object_set_new(v->errors, field, list);
    }
    json_array_append_new(list, json_string(msg));
}

bool sbhf__verr_any(const struct sbhf_verr *v)
{
    return v->errors && json_object_size(v->errors) > 0;
}

void sbhf__verr_respond(struct sbhf_verr *v, struct http_resp *resp)
{
    struct buf line;
    const char *k;
    json_t *list;
    json_t *body;

    buf_init(&line, 2048);
    json_object_foreach (v->errors, k, list) {
        size_t i;
        json_t *m;
        json_array_foreach (list, i, m) {
            if (buf_printf(&line, "%s%s: %s", line.len ? "; " : "", k, json_string_value(m)))
                break;
        }
    }
    body = json_pack("{s:s,s:O}", "error", line.data ? line.data : "invalid request", "errors", v->errors);
    buf_free(&line);
    buf_reset(&resp->body);
    http_resp_json(resp, 400, body);
    sbhf__verr_free(v);
}

void sbhf__verr_free(struct sbhf_verr *v)
{
    json_decref(v->errors);
    v->errors = NULL;
}

/* -------------------------------------------------------------- bodies */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes %XX and '+' of s[0..n) into a new string; NULL on a NUL byte. */
static char *form_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t i, o = 0;

    if (!out)
        return NULL;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
                   hexval((unsigned char)s[i + 2]) >= 0) {
            c = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        }
        if (c == '\0') {
            free(out);
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

json_t *sbhf__form_parse(const char *s, size_t len)
{
    json_t *obj = json_object();
    size_t pos = 0;
    int fields = 0;

    while (obj && pos < len) {
        const char *amp = memchr(s + pos, '&', len - pos);
        size_t end = amp ? (size_t)(amp - s) : len;
        const char *eq = memchr(s + pos, '=', end - pos);
        size_t klen = eq ? (size_t)(eq - (s + pos)) : end - pos;
        char *k = NULL, *val = NULL;
        json_t *jv, *prev;

        if (end > pos) {
            if (++fields > SBHF_FORM_FIELDS_MAX)
                goto fail;
            k = form_decode(s + pos, klen);
            val = eq ? form_decode(eq + 1, end - (size_t)(eq + 1 - s)) : strdup("");
            jv = val ? json_string(val) : NULL; /* NULL too for invalid UTF-8 */
            free(val);
            if (!k || !jv || !*k) {
                free(k);
                json_decref(jv);
                goto fail;
            }
            prev = json_object_get(obj, k);
            if (!prev) {
                json_object_set_new(obj, k, jv);
            } else if (json_is_array(prev)) {
                json_array_append_new(prev, jv);
            } else {
                json_t *arr = json_pack("[O,o]", prev, jv);
                json_object_set_new(obj, k, arr);
            }
            free(k);
        }
        pos = end + 1;
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

static bool ct_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

bool sbhf__body_parse(const struct http_req *req, bool allow_array, struct sbhf_body *out, struct http_resp *resp)
{
    const char *ct = http_req_header(req, "Content-Type");
    const char *p = req->body ? req->body : "";
    size_t len = req->body ? req->body_len : 0;
    bool as_json;

    out->obj = NULL;
    out->form = false;
    while (len && isspace((unsigned char)*p)) {
        p++;
        len--;
    }
    if (ct_is(ct, "multipart/form-data")) {
        sbhf__error(resp, 415,
                    "multipart/form-data (attachments) is not emulated by the sandbox; "
                    "send JSON or form-urlencoded");
        return false;
    }
    if (ct && !ct_is(ct, "application/json") && !ct_is(ct, "application/x-www-form-urlencoded")) {
        sbhf__error(resp, 415,
                    "Unsupported Content-Type; send application/json or "
                    "application/x-www-form-urlencoded");
        return false;
    }
    as_json = ct ? ct_is(ct, "application/json") : (len && (*p == '{' || *p == '['));
    if (len == 0) {
        out->obj = json_object();
        return out->obj != NULL;
    }
    if (as_json) {
        json_error_t jerr;
        json_t *v = json_loadb(p, len, 0, &jerr);
        if (!v) {
            sbhf__error(resp, 400, "Invalid JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
            return false;
        }
        if (!json_is_object(v) && !(allow_array && json_is_array(v))) {
            json_decref(v);
            sbhf__error(resp, 400, "Invalid JSON: expected an object");
            return false;
        }
        out->obj = v;
        return true;
    }
    out->obj = sbhf__form_parse(p, len);
    out->form = true;
    if (!out->obj) {
        sbhf__error(resp, 400, "Invalid form body (bad encoding, or more than %d fields)", SBHF_FORM_FIELDS_MAX);
        return false;
    }
    return true;
}

/* ------------------------------------------------------- value readers */

static bool is_blank(const json_t *x)
{
    return !x || json_is_null(x) || (json_is_string(x) && json_string_length(x) == 0);
}

int sbhf__get_str(const json_t *obj, const char *key, size_t max, const char **out, struct sbhf_verr *v)
{
    const json_t *x = json_object_get(obj, key);

    *out = NULL;
    if (is_blank(x))
        return 0;
    if (!json_is_string(x)) {
        sbhf__verr_add(v, key, "expected a string");
        return -1;
    }
    if (json_string_length(x) > max || strlen(json_string_value(x)) != json_string_length(x)) {
        sbhf__verr_add(v, key, "is too long or holds a NUL (max %zu bytes)", max);
        return -1;
    }
    *out = json_string_value(x);
    return 1;
}

bool sbhf__as_id(const json_t *x, int64_t *out)
{
    if (json_is_integer(x)) {
        *out = (int64_t)json_integer_value(x);
        return true;
    }
    if (json_is_string(x)) {
        const char *s = json_string_value(x);
        int64_t n = 0;
        size_t i, len = json_string_length(x);
        if (len == 0 || len > 18)
            return false;
        for (i = 0; i < len; i++) {
            if (!isdigit((unsigned char)s[i]))
                return false;
            n = n * 10 + (s[i] - '0');
        }
        *out = n;
        return true;
    }
    return false;
}

int sbhf__get_id(const json_t *obj, const char *key, int64_t *out, struct sbhf_verr *v)
{
    const json_t *x = json_object_get(obj, key);

    *out = 0;
    if (is_blank(x))
        return 0;
    if (!sbhf__as_id(x, out) || *out <= 0) {
        sbhf__verr_add(v, key, "expected an id (a positive integer)");
        return -1;
    }
    return 1;
}

int sbhf__get_bool(const json_t *obj, const char *key, bool *out, struct sbhf_verr *v)
{
    const json_t *x = json_object_get(obj, key);
    static const char *const yes[] = {"true", "1", "yes", "on", NULL};
    static const char *const no[] = {"false", "0", "no", "off", NULL};
    int i;

    *out = false;
    if (is_blank(x))
        return 0;
    if (json_is_boolean(x)) {
        *out = json_is_true(x);
        return 1;
    }
    if (json_is_integer(x) && (json_integer_value(x) == 0 || json_integer_value(x) == 1)) {
        *out = json_integer_value(x) == 1;
        return 1;
    }
    if (json_is_string(x)) {
        for (i = 0; yes[i]; i++) {
            if (strcasecmp(json_string_value(x), yes[i]) == 0) {
                *out = true;
                return 1;
            }
            if (strcasecmp(json_string_value(x), no[i]) == 0)
                return 1;
        }
    }
    sbhf__verr_add(v, key, "expected true or false");
    return -1;
}

/* Appends the trimmed, non-empty comma-separated parts of s to arr. */
static void split_commas(const char *s, json_t *arr)
{
    while (*s) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        const char *a = s, *b = s + n;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a)
            json_array_append_new(arr, json_stringn(a, (size_t)(b - a)));
        s += n;
        if (*s == ',')
            s++;
    }
}

int sbhf__get_list(const json_t *obj, const char *key, json_t **out, struct sbhf_verr *v)
{
    const json_t *x = json_object_get(obj, key);
    size_t i;
    json_t *item;

    *out = NULL;
    if (is_blank(x))
        return 0;
    *out = json_array();
    if (json_is_string(x)) {
        split_commas(json_string_value(x), *out);
        return 1;
    }
    if (json_is_array(x)) {
        json_array_foreach (x, i, item) {
            if (!json_is_string(item) && !json_is_integer(item))
                goto bad;
            if (json_is_integer(item))
                json_array_append_new(*out, json_sprintf("%lld", (long long)json_integer_value(item)));
            else
                split_commas(json_string_value(item), *out);
        }
        return 1;
    }
bad:
    json_decref(*out);
    *out = NULL;
    sbhf__verr_add(v, key, "expected a list of strings or a comma-separated string");
    return -1;
}

/* ------------------------------------------------------------- lookups */

json_t *sbhf__find(const json_t *arr, int64_t id)
{
    size_t i;
    json_t *x;

    json_array_foreach (arr, i, x) {
        if (json_integer_value(json_object_get(x, "id")) == id)
            return x;
    }
    return NULL;
}

bool sbhf__has_int(const json_t *arr, int64_t want)
{
    size_t i;
    json_t *x;
    int64_t n;

    json_array_foreach (arr, i, x) {
        if (json_is_object(x))
            x = json_object_get(x, "category"); /* [{"category": 3, "order": 1}] */
        if (sbhf__as_id(x, &n) && n == want)
            return true;
    }
    return false;
}

json_t *sbhf__find_contact_email(const struct sbhf_account *h, const char *email)
{
    size_t i;
    json_t *x;

    json_array_foreach (h->contacts, i, x) {
        const char *e = json_string_value(json_object_get(x, "email"));
        if (e && strcasecmp(e, email) == 0)
            return x;
    }
    return NULL;
}

json_t *sbhf__staff_summary(const json_t *staff)
{
    if (!staff)
        return json_null();
    return json_pack("{s:O,s:O,s:O}", "id", json_object_get(staff, "id"), "name", json_object_get(staff, "name"),
                     "email", json_object_get(staff, "email"));
}

json_t *sbhf__contact_summary(const json_t *contact)
{
    json_t *phones = json_object_get(contact, "phones");
    return json_pack("{s:O,s:O,s:O,s:O}", "id", json_object_get(contact, "id"), "name",
                     json_object_get(contact, "name"), "email", json_object_get(contact, "email"), "phones",
                     phones ? phones : json_array());
}

struct sbhf_ticket *sbhf__ticket_find(struct sbhf_account *h, int64_t id)
{
    size_t lo = 0, hi = h->n_tickets;

    while (lo < hi) { /* tickets are sorted by id */
        size_t mid = lo + (hi - lo) / 2;
        if (h->tickets[mid].id == id)
            return &h->tickets[mid];
        if (h->tickets[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* --------------------------------------------------------------- rings */

int sbhf__ring_init(struct sbhf_ring *r, int limit)
{
    int64_t *at;

    if (limit < 1 || limit > SBHF_LIMIT_MAX)
        return IDF_EINVAL;
    at = calloc((size_t)limit, sizeof *at);
    if (!at)
        return IDF_ENOMEM;
    free(r->at);
    r->at = at;
    r->limit = limit;
    r->count = 0;
    r->head = 0;
    return 0;
}

void sbhf__ring_free(struct sbhf_ring *r)
{
    free(r->at);
    r->at = NULL;
    r->limit = r->count = r->head = 0;
}

void sbhf__ring_clear(struct sbhf_ring *r)
{
    r->count = 0;
    r->head = 0;
}

bool sbhf__ring_take(struct sbhf_ring *r, int64_t now, int64_t window_ms)
{
    while (r->count > 0 && r->at[r->head] <= now - window_ms) {
        r->head = (r->head + 1) % r->limit;
        r->count--;
    }
    if (r->count >= r->limit)
        return false;
    r->at[(r->head + r->count) % r->limit] = now;
    r->count++;
    return true;
}

int sbhf__ring_used(const struct sbhf_ring *r, int64_t now, int64_t window_ms)
{
    int i, used = 0;

    for (i = 0; i < r->count; i++) {
        if (r->at[(r->head + i) % r->limit] > now - window_ms)
            used++;
    }
    return used;
}

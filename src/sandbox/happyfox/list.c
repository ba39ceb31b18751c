/* happyfox/list.c — GET /tickets/ of the emulated HappyFox account: the
 * status filter (_all, _pending or a status id; _pending by default),
 * category=, the subset of q= listed in docs/sandbox.md, sort= and paging
 * (size 1..50, default 10; page from 1).
 *
 * Called with sb->lock held; reads tickets, changes nothing. A q= key the
 * sandbox does not emulate is refused with 400 rather than ignored, so a
 * workflow never silently matches more than the real account would. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sandbox/happyfox/internal.h"

#define SBHF_Q_KEY_MAX 32
#define SBHF_Q_VAL_MAX 256

struct term {
    char key[SBHF_Q_KEY_MAX]; /* "" for a bare word */
    char val[SBHF_Q_VAL_MAX]; /* comma-separated alternatives, quotes removed */
};

static const char *const q_keys[] = {"assignee", "priority",    "status", "category", "tag",
                                     "contact",  "unresponded", "id",     "subject",  NULL};

/* Splits q into terms; false (with why) on a syntax error or an unknown key. */
static bool parse_q(const char *q, struct term *terms, int *n, char *why, size_t whylen)
{
    *n = 0;
    while (*q) {
        struct term *t;
        size_t k = 0, vl = 0;
        const char *colon;
        int i;

        while (*q == ' ' || *q == '+' || *q == '\t')
            q++;
        if (!*q)
            break;
        if (*n == SBHF_Q_TERMS_MAX) {
            snprintf(why, whylen, "q: at most %d terms", SBHF_Q_TERMS_MAX);
            return false;
        }
        t = &terms[(*n)++];
        t->key[0] = t->val[0] = '\0';
        colon = strchr(q, ':');
        if (*q != '"' && colon && (size_t)(colon - q) == strcspn(q, " +\t\":")) {
            k = (size_t)(colon - q);
            if (k >= SBHF_Q_KEY_MAX) {
                snprintf(why, whylen, "q: unknown search key");
                return false;
            }
            memcpy(t->key, q, k);
            t->key[k] = '\0';
            for (i = 0; q_keys[i] && strcasecmp(q_keys[i], t->key) != 0; i++)
                ;
            if (!q_keys[i]) {
                snprintf(why, whylen, "q: the search key \"%.31s\" is not supported by the sandbox", t->key);
                return false;
            }
            q = colon + 1;
        }
        for (;;) { /* value pieces: "quoted" or bare, joined by commas */
            if (*q == '"') {
                const char *end = strchr(q + 1, '"');
                size_t n2 = end ? (size_t)(end - q - 1) : strlen(q + 1);
                if (!end || vl + n2 >= SBHF_Q_VAL_MAX) {
                    snprintf(why, whylen, "q: unterminated or too long quoted value");
                    return false;
                }
                memcpy(t->val + vl, q + 1, n2);
                vl += n2;
                q = end + 1;
            } else {
                while (*q && *q != ' ' && *q != '+' && *q != '\t' && *q != ',' && vl + 1 < SBHF_Q_VAL_MAX)
                    t->val[vl++] = *q++;
            }
            if (*q != ',' || vl + 1 >= SBHF_Q_VAL_MAX)
                break;
            t->val[vl++] = *q++;
        }
        t->val[vl] = '\0';
    }
    return true;
}

/* True when one of the comma-separated alternatives of alts matches s. */
static bool any_of(const char *alts, const char *s, bool case_sensitive)
{
    char buf[SBHF_Q_VAL_MAX], *save = NULL, *p;

    if (!s)
        return false;
    snprintf(buf, sizeof buf, "%s", alts);
    for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (case_sensitive ? strcmp(p, s) == 0 : strcasecmp(p, s) == 0)
            return true;
    }
    return false;
}

static const char *sget(const json_t *o, const char *k1, const char *k2)
{
    json_t *x = json_object_get(o, k1);
    return json_string_value(k2 ? json_object_get(x, k2) : x);
}

static bool term_matches(const struct term *t, const json_t *tk)
{
    const char *k = t->key;
    size_t i;
    json_t *x;

    if (!*k) { /* a bare word: subject or any message */
        if (strcasestr(sget(tk, "subject", NULL), t->val))
            return true;
        json_array_foreach (json_object_get(tk, "updates"), i, x) {
            const char *m = sget(x, "message", "text");
            if (m && strcasestr(m, t->val))
                return true;
        }
        return false;
    }
    if (strcasecmp(k, "assignee") == 0) {
        const json_t *a = json_object_get(tk, "assigned_to");
        if (strcmp(t->val, "--none") == 0)
            return json_is_null(a);
        if (strcmp(t->val, "--any") == 0)
            return !json_is_null(a);
        return any_of(t->val, sget(a, "email", NULL), false) || any_of(t->val, sget(a, "name", NULL), false);
    }
    if (strcasecmp(k, "priority") == 0 || strcasecmp(k, "status") == 0 || strcasecmp(k, "category") == 0)
        return any_of(t->val,
                      sget(tk,
                           strcasecmp(k, "priority") == 0 ? "priority"
                           : strcasecmp(k, "status") == 0 ? "status"
                                                          : "category",
                           "name"),
                      false);
    if (strcasecmp(k, "tag") == 0) {
        json_array_foreach (json_object_get(tk, "tags"), i, x) {
            if (any_of(t->val, json_string_value(x), true))
                return true;
        }
        return false;
    }
    if (strcasecmp(k, "contact") == 0)
        return any_of(t->val, sget(tk, "user", "email"), false) || any_of(t->val, sget(tk, "user", "name"), false);
    if (strcasecmp(k, "unresponded") == 0)
        return json_is_true(json_object_get(tk, "unresponded")) == (strcasecmp(t->val, "true") == 0);
    if (strcasecmp(k, "id") == 0) {
        const char *d = sget(tk, "display_id", NULL);
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(json_object_get(tk, "id")));
        return any_of(t->val, d, false) || (d && any_of(t->val, d + 1, false)) || any_of(t->val, num, false);
    }
    /* subject: */
    return strcasestr(sget(tk, "subject", NULL), t->val) != NULL;
}

/* ---------------------------------------------------------------- sort */

enum sort_field { S_CREATED, S_UPDATED, S_MODIFIED, S_TICKET, S_STATUS, S_PRIORITY, S_SUBJECT, S_DUE, S_UNRESP };

static const struct {
    const char *name;
    enum sort_field f;
    bool desc;
} sorts[] = {
    {"created", S_CREATED, true},    {"createa", S_CREATED, false},        {"updated", S_UPDATED, true},
    {"updatea", S_UPDATED, false},   {"last_modifiedd", S_MODIFIED, true}, {"last_modifieda", S_MODIFIED, false},
    {"ticketd", S_TICKET, true},     {"ticketa", S_TICKET, false},         {"statusd", S_STATUS, true},
    {"statusa", S_STATUS, false},    {"priorityd", S_PRIORITY, true},      {"prioritya", S_PRIORITY, false},
    {"subjectd", S_SUBJECT, true},   {"subjecta", S_SUBJECT, false},       {"due", S_DUE, false},
    {"unresponded", S_UNRESP, true},
};

struct sort_ctx {
    enum sort_field f;
    bool desc;
};

static int cmp64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int cmp_tickets(const void *pa, const void *pb, void *ud)
{
    const struct sbhf_ticket *a = *(struct sbhf_ticket *const *)pa, *b = *(struct sbhf_ticket *const *)pb;
    const struct sort_ctx *c = ud;
    const char *da, *db;
    int r = 0;

    switch (c->f) {
    case S_CREATED: r = cmp64(a->created_ms, b->created_ms); break;
    case S_UPDATED:
        r = cmp64(a->updated_ms, b->updated_ms);
        r = r ? r : cmp64(a->upd_seq, b->upd_seq);
        break;
    case S_MODIFIED:
        r = cmp64(a->modified_ms, b->modified_ms);
        r = r ? r : cmp64(a->mod_seq, b->mod_seq);
        break;
    case S_TICKET: break;
    case S_STATUS:
    case S_PRIORITY: {
        const char *k = c->f == S_STATUS ? "status" : "priority";
        r = cmp64(json_integer_value(json_object_get(json_object_get(a->obj, k), "order")),
                  json_integer_value(json_object_get(json_object_get(b->obj, k), "order")));
        break;
    }
    case S_SUBJECT: r = strcasecmp(sget(a->obj, "subject", NULL), sget(b->obj, "subject", NULL)); break;
    case S_DUE: /* tickets without a due date last, whatever the direction */
        da = sget(a->obj, "due_date", NULL);
        db = sget(b->obj, "due_date", NULL);
        if (!da || !db)
            return (da == NULL) - (db == NULL);
        r = strcmp(da, db);
        break;
    case S_UNRESP:
        r = json_is_true(json_object_get(a->obj, "unresponded")) - json_is_true(json_object_get(b->obj, "unresponded"));
        break;
    }
    if (r == 0)
        r = cmp64(a->id, b->id);
    return c->desc ? -r : r;
}

/* ---------------------------------------------------------------- list */

static const char *first(const json_t *q, const char *key)
{
    const json_t *x = json_object_get(q, key);
    return json_string_value(json_is_array(x) ? json_array_get(x, 0) : x);
}

static bool category_ok(const json_t *cats, const json_t *tk)
{
    return !cats || sbhf__has_int(cats, json_integer_value(json_object_get(json_object_get(tk, "category"), "id")));
}

void sbhf__tickets_list(struct sandbox *sb, const struct http_req *req, struct http_resp *resp)
{
    struct sbhf_account *h = sb->hf;
    json_t *q = sbhf__form_parse(req->query ? req->query : "", req->query ? strlen(req->query) : 0);
    json_t *cats = NULL, *data, *cq, *x;
    struct sbhf_ticket **sel = NULL;
    struct term terms[SBHF_Q_TERMS_MAX];
    struct sort_ctx sc = {S_CREATED, true};
    const char *status, *sort, *qs;
    int64_t status_id = 0, size, page;
    int nterms = 0, i;
    size_t n = 0, j;
    char why[160];
    bool minify;

    if (!q) {
        sbhf__error(resp, 400, "Invalid query string");
        return;
    }
    if (!sbhf__page_params(req, &size, &page, resp))
        goto out;
    status = first(q, "status");
    if (!status || !*status)
        status = "_pending";
    if (strcmp(status, "_all") != 0 && strcmp(status, "_pending") != 0 &&
        (!sbhf__as_id(json_object_get(q, "status"), &status_id) || !sbhf__find(h->statuses, status_id))) {
        sbhf__error(resp, 400, "status must be _all, _pending or a status id");
        goto out;
    }
    if ((cq = json_object_get(q, "category"))) {
        cats = json_array();
        if (!json_is_array(cq))
            json_array_append(cats, cq);
        else
            json_array_extend(cats, cq);
        json_array_foreach (cats, j, x) {
            int64_t id;
            if (!sbhf__as_id(x, &id)) {
                sbhf__error(resp, 400, "category must be a category id");
                goto out;
            }
        }
    }
    qs = first(q, "q");
    if (qs && !parse_q(qs, terms, &nterms, why, sizeof why)) {
        sbhf__error(resp, 400, "%s", why);
        goto out;
    }
    if ((sort = first(q, "sort")) && *sort) {
        for (j = 0; j < sizeof sorts / sizeof sorts[0] && strcmp(sorts[j].name, sort) != 0; j++)
            ;
        if (j == sizeof sorts / sizeof sorts[0]) {
            sbhf__error(resp, 400, "sort \"%s\" is not supported by the sandbox", sort);
            goto out;
        }
        sc.f = sorts[j].f;
        sc.desc = sorts[j].desc;
    }
    minify = first(q, "minify_response") && strcasecmp(first(q, "minify_response"), "true") == 0;
    sel = calloc(h->n_tickets ? h->n_tickets : 1, sizeof *sel);
    if (!sel) {
        sbhf__error(resp, 500, "out of memory");
        goto out;
    }
    for (j = 0; j < h->n_tickets; j++) {
        struct sbhf_ticket *t = &h->tickets[j];
        const json_t *st = json_object_get(t->obj, "status");
        bool ok = category_ok(cats, t->obj);
        if (strcmp(status, "_pending") == 0)
            ok = ok && strcmp(sget(st, "behavior", NULL) ? sget(st, "behavior", NULL) : "", "pending") == 0;
        else if (status_id)
            ok = ok && json_integer_value(json_object_get(st, "id")) == status_id;
        for (i = 0; ok && i < nterms; i++)
            ok = term_matches(&terms[i], t->obj);
        if (ok)
            sel[n++] = t;
    }
    qsort_r(sel, n, sizeof *sel, cmp_tickets, &sc);
    data = json_array();
    for (j = (size_t)((page - 1) * size); j < n && j < (size_t)(page * size); j++)
        json_array_append_new(data, sbhf__ticket_render(sel[j], minify));
    http_resp_json(resp, 200, sbhf__page_body((int64_t)n, size, page, data));
out:
    free(sel);
    json_decref(cats);
    json_decref(q);
}

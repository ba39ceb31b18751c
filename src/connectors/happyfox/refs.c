/* refs.c — names to ids: HappyFox's reference lists (categories, statuses,
 * priorities, staff, ticket custom fields) read through the API, cached,
 * and used to resolve what a workflow gives by name or by id.
 *
 * The cache is a documented singleton, process-wide (not per thread), so
 * that every worker shares one copy per connection and the account's GET
 * budget pays for each list once: a table of HFC_REFS_SLOTS connections
 * (keyed "<connection name>|<account URL>", least recently used recycled),
 * behind `refs_mu`. A list is read when first needed, again after
 * HFC_REFS_TTL_MS, and again when a name is not found in it (at most once
 * per call, and not when the list is younger than HFC_REFS_MISS_REFRESH_MS:
 * then it was just read, and a burst of runs with a typo costs one read per
 * interval, not one per run). Lists are fetched outside the mutex (two
 * threads may fetch the same list at once; the later one wins).
 *
 * Invariants: an installed list is a JSON array that is never modified
 * afterwards; readers take a reference under the mutex and only read it
 * (jansson reference counts are atomic). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/happyfox/happyfox_internal.h"
#include "core/buf.h"
#include "core/timeutil.h"

#define REFS_KEY_MAX (HFC_MAX_BASE + 136)

struct refs_slot {
    char key[REFS_KEY_MAX];     /* "<connection>|<base>", "" = free */
    int64_t last_used;          /* mono ms, for recycling */
    json_t *list[HFC_REF_N];    /* read-only arrays, or NULL */
    int64_t fetched[HFC_REF_N]; /* mono ms of the read */
};

/* The singleton cache, guarded by refs_mu. */
static pthread_mutex_t refs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct refs_slot refs[HFC_REFS_SLOTS];

static const struct {
    const char *path; /* below /api/1.1/json */
    const char *what; /* in messages */
} kinds[HFC_REF_N] = {
    {"/categories/", "category"},
    {"/statuses/", "status"},
    {"/priorities/", "priority"},
    {"/staff/", "agent"},
    {"/ticket_custom_fields/", "custom field"},
};

static void cache_key(const struct hfc *h, char *out, size_t n)
{
    snprintf(out, n, "%.128s|%s", h->s.conn_name, h->s.base);
}

/* The slot of key (created when create), or NULL. Called with refs_mu held. */
static struct refs_slot *slot_of(const char *key, bool create)
{
    struct refs_slot *lru = NULL;

    for (int i = 0; i < HFC_REFS_SLOTS; i++) {
        if (strcmp(refs[i].key, key) == 0)
            return &refs[i];
        if (!lru || (lru->key[0] && (!refs[i].key[0] || refs[i].last_used < lru->last_used)))
            lru = &refs[i];
    }
    if (!create)
        return NULL;
    for (int k = 0; k < HFC_REF_N; k++)
        json_decref(lru->list[k]);
    memset(lru, 0, sizeof *lru);
    snprintf(lru->key, sizeof lru->key, "%s", key);
    return lru;
}

/* The cached list of kind (new reference) if fresh enough, else NULL. With
 * refresh set, a list read less than HFC_REFS_MISS_REFRESH_MS ago counts as
 * fresh (no second read). */
static json_t *cached(const char *key, enum hfc_ref_kind kind, bool refresh, int64_t now)
{
    struct refs_slot *s;
    json_t *l = NULL;

    pthread_mutex_lock(&refs_mu);
    s = slot_of(key, false);
    if (s && s->list[kind]) {
        int64_t age = now - s->fetched[kind];
        if (refresh ? age < HFC_REFS_MISS_REFRESH_MS : age < HFC_REFS_TTL_MS)
            l = json_incref(s->list[kind]);
        s->last_used = now;
    }
    pthread_mutex_unlock(&refs_mu);
    return l;
}

static void install(const char *key, enum hfc_ref_kind kind, json_t *list, int64_t now)
{
    struct refs_slot *s;

    pthread_mutex_lock(&refs_mu);
    s = slot_of(key, true);
    json_decref(s->list[kind]);
    s->list[kind] = json_incref(list);
    s->fetched[kind] = now;
    s->last_used = now;
    pthread_mutex_unlock(&refs_mu);
}

/* The list of kind (new reference), read from the API when not cached (or
 * when refresh asks for a new read). */
static int list_get(struct hfc *h, enum hfc_ref_kind kind, bool refresh, json_t **out)
{
    char key[REFS_KEY_MAX];
    int64_t now = time_mono_ms();
    json_t *j = NULL, *arr;
    int rc;

    *out = NULL;
    cache_key(h, key, sizeof key);
    if ((*out = cached(key, kind, refresh, now)) != NULL)
        return 0;
    rc = hfc__request(h, "GET", kinds[kind].path, "", NULL, &j);
    if (rc)
        return rc;
    arr = json_is_array(j) ? j : json_object_get(j, "data");
    if (!json_is_array(arr)) {
        json_decref(j);
        return hfc__fail(h, IDF_EREMOTE, false, 0, "%s: GET %s: expected a list", h->s.action, kinds[kind].path);
    }
    arr = json_incref(arr);
    json_decref(j);
    while (json_array_size(arr) > HFC_REFS_MAX_ITEMS)
        json_array_remove(arr, json_array_size(arr) - 1);
    install(key, kind, arr, now);
    *out = arr;
    return 0;
}

int64_t hfc__item_id(const json_t *item)
{
    const json_t *v = json_object_get(item, "id");
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

static bool all_digits(const char *s)
{
    return *s && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 18;
}

/* "Name (id), ..." of the items (those passing keep, when given) into b. */
static void names_list(const json_t *list, bool (*keep)(const json_t *, int64_t), int64_t arg, struct buf *b)
{
    size_t i;
    json_t *x;
    int n = 0, left = 0;

    json_array_foreach (list, i, x) {
        const char *name = json_string_value(json_object_get(x, "name"));
        if (keep && !keep(x, arg))
            continue;
        if (b->len > HFC_NAMES_TEXT) {
            left++;
            continue;
        }
        if (buf_printf(b, "%s%s (%lld)", n++ ? ", " : "", name ? name : "?", (long long)hfc__item_id(x)))
            left++;
    }
    if (left && buf_printf(b, " and %d more", left)) {
        /* the list is cut: the message says what it can */
    }
    if (!n && !left && buf_puts(b, "none")) {
        /* same */
    }
}

/* Looks v up in list: 1 found (*item_out borrowed), 0 not found, -1 ambiguous. */
static int find(const json_t *list, enum hfc_ref_kind kind, const json_t *v, const json_t **item_out)
{
    char num[32];
    const char *s;
    size_t i;
    json_t *x;
    int hits = 0;

    *item_out = NULL;
    if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        s = num;
    } else {
        s = json_string_value(v);
    }
    if (!s)
        return 0;
    while (isspace((unsigned char)*s))
        s++;
    if (all_digits(s)) {
        int64_t id = strtoll(s, NULL, 10);
        json_array_foreach (list, i, x) {
            if (hfc__item_id(x) == id) {
                *item_out = x;
                return 1;
            }
        }
        if (json_is_integer(v))
            return 0;
    }
    json_array_foreach (list, i, x) {
        const char *name = json_string_value(json_object_get(x, "name"));
        const char *email = json_string_value(json_object_get(x, "email"));
        size_t n = strlen(s);
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
        if ((name && strlen(name) == n && strncasecmp(name, s, n) == 0) ||
            (kind == HFC_REF_STAFF && email && strlen(email) == n && strncasecmp(email, s, n) == 0)) {
            /* an email is unique; among same-named agents prefer an active one */
            if (*item_out && kind == HFC_REF_STAFF && json_is_false(json_object_get(*item_out, "active")) &&
                !json_is_false(json_object_get(x, "active"))) {
                *item_out = x;
                continue;
            }
            if (!*item_out)
                *item_out = x;
            hits++;
        }
    }
    return hits > 1 && !(kind == HFC_REF_STAFF && strchr(s, '@')) ? -1 : hits > 0;
}

static bool active_only(const json_t *x, int64_t arg)
{
    (void)arg;
    return !json_is_false(json_object_get(x, "active"));
}

int hfc__resolve(struct hfc *h, enum hfc_ref_kind kind, const json_t *v, const char *param, json_t **item_out)
{
    json_t *list = NULL;
    const json_t *item = NULL;
    struct buf b;
    char shown[HFC_MAX_NAME + 1];
    int rc, found = 0;

    *item_out = NULL;
    buf_init(&b, BUF_CAP_SMALL);
    if (json_is_integer(v))
        snprintf(shown, sizeof shown, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= HFC_MAX_NAME)
        snprintf(shown, sizeof shown, "%s", json_string_value(v));
    else {
        rc = hfc__fail(h, IDF_EINVAL, false, 0, "%s: %s: expected a %s name or id (at most %d bytes)", h->s.action, param,
                       kinds[kind].what, HFC_MAX_NAME);
        goto out;
    }
    for (int pass = 0; pass < 2; pass++) {
        json_decref(list);
        list = NULL;
        if ((rc = list_get(h, kind, pass == 1, &list)) != 0)
            goto out;
        found = find(list, kind, v, &item);
        if (found != 0)
            break;
    }
    if (found < 0) {
        rc = hfc__fail(h, IDF_EINVAL, false, 0, "%s: %s: several %s items are named '%s'; give the id", h->s.action,
                       param, kinds[kind].what, shown);
        goto out;
    }
    if (!item) {
        names_list(list, kind == HFC_REF_STAFF ? active_only : NULL, 0, &b);
        rc = hfc__fail(h, IDF_ENOTFOUND, false, 0, "%s: %s: unknown %s '%s' (valid: %s)", h->s.action, param,
                       kinds[kind].what, shown, b.data ? b.data : "");
        goto out;
    }
    if (kind == HFC_REF_STAFF && json_is_false(json_object_get(item, "active"))) {
        rc = hfc__fail(h, IDF_EINVAL, false, 0, "%s: %s: agent '%s' is inactive", h->s.action, param, shown);
        goto out;
    }
    *item_out = json_incref((json_t *)item);
    rc = 0;
out:
    json_decref(list);
    buf_free(&b);
    return rc;
}

int hfc__acting_staff(struct hfc *h, const json_t *params, bool required, json_t **staff_out)
{
    const json_t *v = json_object_get(params, "staff");
    const char *param = "staff";

    *staff_out = NULL;
    if (!v || json_is_null(v)) {
        v = json_object_get(h->s.call->connection, "staff");
        param = "the connection's staff";
    }
    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
        if (!required)
            return 0;
        return hfc__fail(h, IDF_EINVAL, false, 0,
                         "%s: no acting agent: HappyFox requires one on ticket updates; set `staff` on the step or "
                         "on connection '%s' (idflow connect happyfox %s --staff NAME)",
                         h->s.action, h->s.conn_name, h->s.conn_name);
    }
    return hfc__resolve(h, HFC_REF_STAFF, v, param, staff_out);
}

/* ------------------------------------------------------- custom fields */

static bool field_applies(const json_t *def, int64_t category)
{
    const json_t *cats = json_object_get(def, "categories"), *c;
    size_t i;

    if (category <= 0 || !json_is_array(cats) || json_array_size(cats) == 0)
        return true;
    json_array_foreach (cats, i, c) {
        const json_t *id = json_is_object(c) ? json_object_get(c, "category") : c;
        if ((json_is_integer(id) && json_integer_value(id) == category) ||
            (json_is_string(id) && strtoll(json_string_value(id), NULL, 10) == category))
            return true;
    }
    return false;
}

static bool applies_keep(const json_t *def, int64_t category)
{
    return field_applies(def, category);
}

static const char *field_type(const json_t *def)
{
    const char *t = json_string_value(json_object_get(def, "type"));
    return t ? t : "text";
}

static bool is_choice(const char *t)
{
    return !strcmp(t, "choice") || !strcmp(t, "dropdown");
}

static bool is_multi(const char *t)
{
    return !strcmp(t, "multiple_choice") || !strcmp(t, "multichoice") || !strcmp(t, "multi_choice") ||
           !strcmp(t, "multiselect");
}

/* The choice of def named by v (id or text), or NULL. */
static const json_t *choice_of(const json_t *def, const json_t *v)
{
    const json_t *choices = json_object_get(def, "choices"), *c;
    char num[32];
    const char *s = json_string_value(v);
    size_t i;

    if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        s = num;
    }
    if (!s)
        return NULL;
    if (all_digits(s)) {
        json_array_foreach (choices, i, c) {
            if (hfc__item_id(c) == strtoll(s, NULL, 10))
                return c;
        }
    }
    json_array_foreach (choices, i, c) {
        const char *t = json_string_value(json_object_get(c, "text"));
        if (!t)
            t = json_string_value(json_object_get(c, "value"));
        if (t && strcasecmp(t, s) == 0)
            return c;
    }
    return NULL;
}

static int bad_choice(struct hfc *h, const json_t *def, const json_t *v)
{
    const json_t *choices = json_object_get(def, "choices"), *c;
    char *given = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    struct buf b;
    size_t i;
    int rc;

    buf_init(&b, BUF_CAP_SMALL);
    json_array_foreach (choices, i, c) {
        const char *t = json_string_value(json_object_get(c, "text"));
        if (b.len < HFC_NAMES_TEXT &&
            buf_printf(&b, "%s%s (%lld)", i ? ", " : "", t ? t : "?", (long long)hfc__item_id(c))) {
            /* cut */
        }
    }
    rc = hfc__fail(h, IDF_ENOTFOUND, false, 0, "%s: fields: '%s': unknown choice %.200s (valid: %s)", h->s.action,
                   json_string_value(json_object_get(def, "name")) ?: "?", given ? given : "?",
                   b.data ? b.data : "none");
    free(given);
    buf_free(&b);
    return rc;
}

/* The value to send for def (new reference), choices turned into ids. */
static int field_value(struct hfc *h, const json_t *def, const json_t *v, json_t **out)
{
    const char *type = field_type(def);
    const json_t *c;

    *out = NULL;
    if (json_is_null(v)) {
        *out = json_null();
    } else if (is_choice(type)) {
        if (!(c = choice_of(def, v)))
            return bad_choice(h, def, v);
        *out = json_integer(hfc__item_id(c));
    } else if (is_multi(type)) {
        json_t *items = json_is_array(v) ? json_incref((json_t *)v) : json_array(), *x;
        size_t i;
        if (json_is_string(v)) { /* one choice, or a comma-separated list of them */
            if (choice_of(def, v)) {
                json_array_append(items, (json_t *)v);
            } else {
                char *dup = strdup(json_string_value(v)), *save = NULL;
                for (char *p = dup ? strtok_r(dup, ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save)) {
                    while (isspace((unsigned char)*p))
                        p++;
                    size_t n = strlen(p);
                    while (n && isspace((unsigned char)p[n - 1]))
                        p[--n] = '\0';
                    if (*p)
                        json_array_append_new(items, json_string(p));
                }
                free(dup);
            }
        } else if (json_is_integer(v)) {
            json_array_append(items, (json_t *)v);
        }
        *out = json_array();
        json_array_foreach (items, i, x) {
            if (!(c = choice_of(def, x))) {
                json_decref(items);
                json_decref(*out);
                *out = NULL;
                return bad_choice(h, def, x);
            }
            json_array_append_new(*out, json_integer(hfc__item_id(c)));
        }
        json_decref(items);
    } else if (json_is_string(v) || json_is_number(v) || json_is_boolean(v)) {
        *out = json_incref((json_t *)v);
    } else {
        return hfc__fail(h, IDF_EINVAL, false, 0, "%s: fields: '%s' takes a %s value, not a list or object", h->s.action,
                         json_string_value(json_object_get(def, "name")) ?: "?", type);
    }
    return 0;
}

int hfc__resolve_fields(struct hfc *h, const json_t *fields, int64_t category, json_t *body, json_t **defs_out)
{
    json_t *list = NULL, *defs = json_object(), *x;
    const char *k;
    struct buf b;
    int rc = 0;

    if (defs_out)
        *defs_out = NULL;
    buf_init(&b, BUF_CAP_SMALL);
    if (!json_is_object(fields) || json_object_size(fields) > HFC_MAX_FIELDS) {
        rc = hfc__fail(h, IDF_EINVAL, false, 0, "%s: fields: expected an object of at most %d fields", h->s.action,
                       HFC_MAX_FIELDS);
        goto out;
    }
    json_object_foreach ((json_t *)fields, k, x) {
        const json_t *def = NULL;
        json_t *key, *val = NULL;
        char name[40];
        int found = 0;

        key = json_string(strncmp(k, "t-cf-", 5) == 0 ? k + 5 : k);
        for (int pass = 0; pass < 2 && found == 0; pass++) {
            json_decref(list);
            list = NULL;
            if ((rc = list_get(h, HFC_REF_FIELD, pass == 1, &list)) != 0) {
                json_decref(key);
                goto out;
            }
            found = find(list, HFC_REF_FIELD, key, &def);
        }
        json_decref(key);
        if (found < 0) {
            rc = hfc__fail(h, IDF_EINVAL, false, 0, "%s: fields: several custom fields are named '%.200s'; give the id",
                           h->s.action, k);
            goto out;
        }
        if (!def || !field_applies(def, category)) {
            names_list(list, applies_keep, category, &b);
            rc = hfc__fail(h, IDF_ENOTFOUND, false, 0,
                           "%s: fields: %s custom field '%.200s' for category %lld (valid: %s)", h->s.action,
                           def ? "not a" : "unknown", k, (long long)category, b.data ? b.data : "");
            goto out;
        }
        if ((rc = field_value(h, def, x, &val)) != 0)
            goto out;
        snprintf(name, sizeof name, "t-cf-%lld", (long long)hfc__item_id(def));
        json_object_set_new(body, name, val);
        snprintf(name, sizeof name, "%lld", (long long)hfc__item_id(def));
        json_object_set(defs, name, (json_t *)def);
    }
    if (defs_out) {
        *defs_out = defs;
        defs = NULL;
    }
out:
    json_decref(list);
    json_decref(defs);
    buf_free(&b);
    return rc;
}

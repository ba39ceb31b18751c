/* happyfox/seed.c — builds the emulated HappyFox account's reference lists,
 * contacts and tickets from the seed's "happyfox" object.
 *
 * Reference items keep every field the seed gives and gain the fields the
 * API shows (with documented defaults); each needs a unique positive integer
 * "id". Seed tickets are lenient (category, status, priority, assignee and
 * contact by id, name or email) and go through the same validation as
 * POST /tickets/, so a seeded ticket looks exactly like a created one. Runs
 * once per sbhf__init (start or /_sandbox/reset), before the account serves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "sandbox/happyfox/internal.h"

enum ref_kind { REF_CATEGORY, REF_STATUS, REF_PRIORITY, REF_STAFF, REF_CF, REF_CONTACT };

static void set_default(json_t *o, const char *k, json_t *v)
{
    if (!json_object_get(o, k))
        json_object_set(o, k, v);
    json_decref(v);
}

/* Fills the fields the API shows for an item of this kind; -1 on a bad value. */
static int ref_defaults(json_t *o, enum ref_kind kind, size_t idx)
{
    long long id = (long long)json_integer_value(json_object_get(o, "id"));
    const char *beh;

    if (!json_is_string(json_object_get(o, "name")))
        json_object_set_new(o, "name", json_sprintf("Item %lld", id));
    switch (kind) {
    case REF_CATEGORY:
        set_default(o, "public", json_true());
        set_default(o, "description", json_string(""));
        set_default(o, "prepopulate_cc", json_string(""));
        set_default(o, "time_spent_mandatory", json_false());
        break;
    case REF_STATUS:
        set_default(o, "behavior", json_string("pending"));
        beh = json_string_value(json_object_get(o, "behavior"));
        if (!beh || (strcmp(beh, "pending") != 0 && strcmp(beh, "completed") != 0))
            return -1;
        set_default(o, "color", json_string("BCEDAD"));
        set_default(o, "order", json_integer((json_int_t)idx + 1));
        set_default(o, "default", json_false());
        break;
    case REF_PRIORITY:
        set_default(o, "color", json_string("F5A623"));
        set_default(o, "order", json_integer((json_int_t)idx + 1));
        set_default(o, "default", json_false());
        break;
    case REF_STAFF:
        set_default(o, "email", json_sprintf("agent%lld@sandbox.invalid", id));
        set_default(o, "active", json_true());
        set_default(o, "is_account_admin", json_false());
        set_default(o, "role", json_pack("{s:i,s:s}", "id", 2, "name", "Agent"));
        set_default(o, "permissions", json_array());
        break;
    case REF_CF:
        set_default(o, "type", json_string("text"));
        set_default(o, "required", json_false());
        set_default(o, "choices", json_array());
        set_default(o, "visible_to_staff_only", json_false());
        break;
    case REF_CONTACT:
        set_default(o, "email", json_string(""));
        set_default(o, "phones", json_array());
        set_default(o, "custom_fields", json_array());
        set_default(o, "is_login_enabled", json_true());
        set_default(o, "created_at", sbhf__time(time_now_ms()));
        break;
    }
    return 0;
}

/* Copies seed[key] (a list, or absent = empty) into *out with ids checked. */
static int load_list(const json_t *seed, const char *key, enum ref_kind kind, json_t **out, int64_t *max_id,
                     struct idf_err *err)
{
    const json_t *src = seed ? json_object_get(seed, key) : NULL;
    json_t *arr = json_array();
    size_t i;
    json_t *item;

    *out = arr;
    if (!arr)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    if (!src || json_is_null(src))
        return 0;
    if (!json_is_array(src))
        return idf_err_set(err, IDF_EINVAL, "seed happyfox.%s: expected a list", key);
    json_array_foreach (src, i, item) {
        int64_t id = 0;
        json_t *copy;
        if (!json_is_object(item) || !sbhf__as_id(json_object_get(item, "id"), &id) || id <= 0)
            return idf_err_set(err, IDF_EINVAL, "seed happyfox.%s[%zu]: needs a positive integer \"id\"", key, i);
        if (sbhf__find(arr, id))
            return idf_err_set(err, IDF_EINVAL, "seed happyfox.%s[%zu]: duplicate id %lld", key, i, (long long)id);
        copy = json_deep_copy(item);
        json_object_set_new(copy, "id", json_integer((json_int_t)id));
        if (ref_defaults(copy, kind, i) < 0) {
            json_decref(copy);
            return idf_err_set(err, IDF_EINVAL, "seed happyfox.%s[%zu]: \"behavior\" must be pending or completed", key,
                               i);
        }
        json_array_append_new(arr, copy);
        if (max_id && id > *max_id)
            *max_id = id;
    }
    return 0;
}

/* A seed reference given as an id, a numeric string, an object with "id",
 * or a name (or email, for staff and contacts). */
static bool seed_ref(const json_t *x, const json_t *arr, int64_t *out)
{
    size_t i;
    json_t *it;

    if (json_is_object(x))
        x = json_object_get(x, "id");
    if (sbhf__as_id(x, out))
        return sbhf__find(arr, *out) != NULL;
    if (!json_is_string(x))
        return false;
    json_array_foreach (arr, i, it) {
        const char *n = json_string_value(json_object_get(it, "name"));
        const char *e = json_string_value(json_object_get(it, "email"));
        if ((n && strcasecmp(n, json_string_value(x)) == 0) || (e && strcasecmp(e, json_string_value(x)) == 0)) {
            *out = json_integer_value(json_object_get(it, "id"));
            return true;
        }
    }
    return false;
}

/* Turns one seed ticket (lenient: names or ids) into a create request. */
static json_t *seed_ticket_request(const struct sbhf_account *h, const json_t *st)
{
    static const char *const copy_keys[] = {
        "id",    "subject",    "text", "html",  "tags", "due_date", "visible_only_staff",
        "phone", "created_at", "name", "email", NULL};
    static const struct {
        const char *key, *alt;
        int arr;
    } refs[] = {
        {"category", NULL, 0},          {"status", NULL, 1},   {"priority", NULL, 2},
        {"assignee", "assigned_to", 3}, {"client", "user", 4},
    };
    json_t *req = json_object();
    const char *k;
    json_t *x;
    size_t i;

    for (i = 0; copy_keys[i]; i++) {
        if ((x = json_object_get(st, copy_keys[i])))
            json_object_set(req, copy_keys[i], x);
    }
    for (i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        const json_t *arrs[] = {h->categories, h->statuses, h->priorities, h->staff, h->contacts};
        int64_t id;
        x = json_object_get(st, refs[i].key);
        if (!x && refs[i].alt)
            x = json_object_get(st, refs[i].alt);
        if (!x && i == 4)
            x = json_object_get(st, "contact");
        if (!x || json_is_null(x))
            continue;
        if (i == 4 && json_is_object(x) && !json_object_get(x, "id")) { /* {name, email} */
            json_object_set(req, "name", json_object_get(x, "name"));
            json_object_set(req, "email", json_object_get(x, "email"));
            continue;
        }
        if (seed_ref(x, arrs[refs[i].arr], &id))
            json_object_set_new(req, refs[i].key, json_integer((json_int_t)id));
        else
            json_object_set(req, refs[i].key, json_is_object(x) ? json_object_get(x, "id") : x);
    }
    if (!json_object_get(req, "text") && !json_object_get(req, "html")) {
        x = json_object_get(st, "message");
        json_object_set(req, "text", json_is_string(x) ? x : json_object_get(st, "subject"));
    }
    json_object_foreach ((json_t *)st, k, x) {
        if (strncmp(k, "t-cf-", 5) == 0 || strncmp(k, "c-cf-", 5) == 0)
            json_object_set(req, k, x);
    }
    if (json_is_object((x = json_object_get(st, "custom_fields")))) {
        json_t *v;
        json_object_foreach (x, k, v) {
            char key[64];
            snprintf(key, sizeof key, "t-cf-%s", k);
            json_object_set(req, key, v);
        }
    }
    return req;
}

static int verr_to_err(struct sbhf_verr *v, struct idf_err *err, const char *what, size_t i)
{
    char *dump = json_dumps(v->errors, JSON_COMPACT);
    idf_err_set(err, IDF_EINVAL, "seed happyfox.%s[%zu]: %s", what, i, dump ? dump : "invalid");
    free(dump);
    sbhf__verr_free(v);
    return IDF_EINVAL;
}

int sbhf__seed_tickets(struct sbhf_account *h, const json_t *seed, struct idf_err *err)
{
    const json_t *src = seed ? json_object_get(seed, "tickets") : NULL;
    size_t i, j;
    json_t *st, *su;

    if (!src || json_is_null(src))
        return 0;
    if (!json_is_array(src))
        return idf_err_set(err, IDF_EINVAL, "seed happyfox.tickets: expected a list");
    json_array_foreach (src, i, st) {
        struct sbhf_verr v = {NULL};
        struct sbhf_ticket *t = NULL;
        json_t *req;
        int rc;

        if (!json_is_object(st))
            return idf_err_set(err, IDF_EINVAL, "seed happyfox.tickets[%zu]: expected an object", i);
        req = seed_ticket_request(h, st);
        rc = sbhf__ticket_create(h, req, true, &t, &v);
        json_decref(req);
        if (sbhf__verr_any(&v))
            return verr_to_err(&v, err, "tickets", i);
        if (rc)
            return idf_err_set(err, rc, "seed happyfox.tickets[%zu]: %s", i, idf_strerror(rc));
        json_array_foreach (json_object_get(st, "updates"), j, su) {
            struct sbhf_change chg = {NULL, NULL, false};
            json_t *ureq = json_deep_copy(su);
            const json_t *by = json_object_get(su, "by");
            bool pvt = json_is_true(json_object_get(su, "private")) ||
                       (json_is_string(json_object_get(su, "type")) &&
                        strcmp(json_string_value(json_object_get(su, "type")), "pvtnote") == 0);
            int64_t sid;
            if (!json_object_get(ureq, "staff") && by && seed_ref(by, h->staff, &sid))
                json_object_set_new(ureq, "staff", json_integer((json_int_t)sid));
            if (json_is_string(json_object_get(su, "message")) && !json_object_get(ureq, "text"))
                json_object_set(ureq, "text", json_object_get(su, "message"));
            sbhf__staff_change(h, t, ureq, pvt, &v, &chg);
            json_decref(ureq);
            json_decref(chg.old_status);
            if (sbhf__verr_any(&v))
                return verr_to_err(&v, err, "tickets[].updates", j);
        }
    }
    return 0;
}

int sbhf__seed_lists(struct sbhf_account *h, const json_t *seed, struct idf_err *err)
{
    int64_t max_contact = 0;
    int rc;

    if ((rc = load_list(seed, "categories", REF_CATEGORY, &h->categories, NULL, err)) ||
        (rc = load_list(seed, "statuses", REF_STATUS, &h->statuses, NULL, err)) ||
        (rc = load_list(seed, "priorities", REF_PRIORITY, &h->priorities, NULL, err)) ||
        (rc = load_list(seed, "staff", REF_STAFF, &h->staff, NULL, err)) ||
        (rc = load_list(seed, "ticket_custom_fields", REF_CF, &h->ticket_cfs, NULL, err)) ||
        (rc = load_list(seed, "user_custom_fields", REF_CF, &h->user_cfs, NULL, err)) ||
        (rc = load_list(seed, "contacts", REF_CONTACT, &h->contacts, &max_contact, err)))
        return rc;
    h->next_contact = max_contact + 1;
    return 0;
}

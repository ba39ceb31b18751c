/* okta/profile.c — the Okta user profile schema: validation of a profile
 * sent by a client, merge (POST) or replace (PUT), and the list of changes.
 *
 * The schema is Okta's base user profile (UserProfile in the spec) plus the
 * custom attributes the seed declares in "okta.profileSchema" ({"name":
 * "string"|"number"|"boolean"|"array"}). A refused profile gets Okta's
 * validation answer: 400 E0000001 "Api validation failed: <attribute>" with
 * one errorCause "<attribute>: <reason>" per problem, the shape Okta uses for
 * the duplicate-login refusal. Called with sb->lock held. */
#include <stdio.h>
#include <string.h>

#include "sandbox/okta/internal.h"

#define PROFILE_MAX_CAUSES 16

struct attr_rule {
    const char *name;
    int min, max;   /* string length bounds (0 = none) */
    bool required;  /* must be present and non-null after the change */
};

static const struct attr_rule base_attrs[] = {
    {"login", 5, 100, true},       {"email", 5, 100, true},       {"firstName", 1, 50, true},
    {"lastName", 1, 50, true},     {"secondEmail", 0, 100, false}, {"middleName", 0, 0, false},
    {"honorificPrefix", 0, 0, false}, {"honorificSuffix", 0, 0, false}, {"title", 0, 0, false},
    {"displayName", 0, 0, false},  {"nickName", 0, 0, false},     {"profileUrl", 0, 0, false},
    {"primaryPhone", 0, 100, false}, {"mobilePhone", 0, 100, false}, {"streetAddress", 0, 1024, false},
    {"city", 0, 128, false},       {"state", 0, 128, false},      {"zipCode", 0, 50, false},
    {"countryCode", 0, 2, false},  {"postalAddress", 0, 4096, false}, {"preferredLanguage", 0, 0, false},
    {"locale", 0, 0, false},       {"timezone", 0, 0, false},     {"userType", 0, 0, false},
    {"employeeNumber", 0, 0, false}, {"costCenter", 0, 0, false}, {"organization", 0, 0, false},
    {"division", 0, 0, false},     {"department", 0, 0, false},   {"managerId", 0, 0, false},
    {"manager", 0, 0, false},
};

static const struct attr_rule *base_rule(const char *name)
{
    for (size_t i = 0; i < sizeof base_attrs / sizeof base_attrs[0]; i++)
        if (strcmp(base_attrs[i].name, name) == 0)
            return &base_attrs[i];
    return NULL;
}

struct causes {
    char text[PROFILE_MAX_CAUSES][192];
    const char *ptr[PROFILE_MAX_CAUSES + 1];
    char first[64];
    int n;
};

static void add_cause(struct causes *cs, const char *attr, const char *reason)
{
    if (cs->n == 0)
        snprintf(cs->first, sizeof cs->first, "%s", attr);
    if (cs->n >= PROFILE_MAX_CAUSES)
        return;
    snprintf(cs->text[cs->n], sizeof cs->text[cs->n], "%s: %s", attr, reason);
    cs->ptr[cs->n] = cs->text[cs->n];
    cs->n++;
    cs->ptr[cs->n] = NULL;
}

static bool email_shaped(const char *s)
{
    const char *at = strchr(s, '@');
    return at && at != s && strchr(at + 1, '.') && at[1] != '.' && s[strlen(s) - 1] != '.' &&
           !strchr(s, ' ') && !strchr(at + 1, '@');
}

/* Checks one attribute's new value. */
static void check_attr(struct sbok_org *o, const char *k, const json_t *v, struct causes *cs)
{
    const struct attr_rule *r = base_rule(k);
    const json_t *custom = json_object_get(json_object_get(o->org, "profileSchema"), k);
    if (!r && !custom) {
        char why[160];
        snprintf(why, sizeof why, "Property name '%.100s' is not defined in profile schema", k);
        add_cause(cs, k, why);
        return;
    }
    if (json_is_null(v))
        return; /* required ones are checked on the merged profile */
    const char *type = r ? "string" : json_string_value(custom);
    if (!type)
        type = "string";
    if (strcmp(type, "string") == 0) {
        if (!json_is_string(v)) {
            add_cause(cs, k, "The value must be a string");
            return;
        }
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (r && r->max && (len < (size_t)r->min || len > (size_t)r->max)) {
            char why[64];
            snprintf(why, sizeof why, "size must be between %d and %d", r->min, r->max);
            add_cause(cs, k, why);
        }
        if (sbok__has_4byte_utf8(s))
            add_cause(cs, k, "The value contains a character Okta does not support (4-byte UTF-8)");
        if (strcmp(k, "login") == 0 && !email_shaped(s))
            add_cause(cs, k, "Username must be in the form of an email address");
        if ((strcmp(k, "email") == 0 || strcmp(k, "secondEmail") == 0) && len && !email_shaped(s))
            add_cause(cs, k, "Does not match required pattern");
    } else if (strcmp(type, "number") == 0) {
        if (!json_is_number(v))
            add_cause(cs, k, "The value must be a number");
    } else if (strcmp(type, "boolean") == 0) {
        if (!json_is_boolean(v))
            add_cause(cs, k, "The value must be a boolean");
    } else if (strcmp(type, "array") == 0) {
        size_t i;
        json_t *el;
        if (!json_is_array(v)) {
            add_cause(cs, k, "The value must be an array");
            return;
        }
        json_array_foreach(v, i, el)
        {
            if (!json_is_string(el)) {
                add_cause(cs, k, "The array items must be strings");
                return;
            }
        }
    }
}

bool sbok__profile_apply(struct sbok_ctx *c, json_t *user, const json_t *profile, bool replace,
                         json_t **changes_out)
{
    struct causes cs = {.n = 0};
    const char *k;
    json_t *v;
    if (changes_out)
        *changes_out = NULL;
    json_object_foreach((json_t *)profile, k, v)
    {
        check_attr(c->o, k, v, &cs);
    }
    json_t *old = json_object_get(user, "profile");
    json_t *merged = replace ? json_object() : json_deep_copy(old ? old : json_object());
    if (!merged)
        merged = json_object();
    json_object_foreach((json_t *)profile, k, v)
    {
        json_object_set(merged, k, v);
    }
    for (size_t i = 0; i < sizeof base_attrs / sizeof base_attrs[0]; i++) {
        json_t *mv = json_object_get(merged, base_attrs[i].name);
        if (base_attrs[i].required && (!mv || json_is_null(mv) ||
                                       (json_is_string(mv) && json_string_length(mv) == 0)))
            add_cause(&cs, base_attrs[i].name, "The field cannot be left blank");
    }
    /* Logins are unique regardless of case. */
    const char *login = json_string_value(json_object_get(merged, "login"));
    json_t *same = login ? sbok__user_find(c->o, login) : NULL;
    if (login && same && same != user && sbok__ieq(json_string_value(json_object_get(json_object_get(same, "profile"),
                                                                                     "login")),
                                                   login))
        add_cause(&cs, "login", "An object with this field already exists in the current organization");
    if (cs.n > 0) {
        char summary[128];
        snprintf(summary, sizeof summary, "Api validation failed: %s", cs.first);
        sbok__error(c, 400, "E0000001", summary, cs.ptr);
        json_decref(merged);
        return false;
    }
    /* Changes: attributes whose value differs. */
    json_t *from = json_object(), *to = json_object();
    json_object_foreach(merged, k, v)
    {
        json_t *ov = old ? json_object_get(old, k) : NULL;
        if (!json_equal(ov ? ov : json_null(), v)) {
            json_object_set(from, k, ov ? ov : json_null());
            json_object_set(to, k, v);
        }
    }
    if (old) {
        json_object_foreach(old, k, v)
        {
            if (!json_object_get(merged, k) && !json_is_null(v)) {
                json_object_set(from, k, v);
                json_object_set_new(to, k, json_null());
            }
        }
    }
    if (json_object_size(to) > 0 && changes_out)
        *changes_out = json_pack("{s:o, s:o}", "from", from, "to", to);
    else {
        json_decref(from);
        json_decref(to);
    }
    json_object_set_new(user, "profile", merged);
    return true;
}

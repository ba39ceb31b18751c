/* subjects.c — connector-reported subjects into store rows (subjects.h).
 *
 * Owns the checks a subject passes before it is stored: a kind of the form
 * "<connector>.<what>" (lower-case letters, digits, '_' and '.'), keys that
 * normalize (subject_key), a label without control characters, cut to
 * ENGINE_SUBJECT_LABEL_MAX. What a connector reports is not trusted further
 * than that: it only decides which keys find a run. Any thread; a set is
 * one caller's. */
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "connectors/registry.h"
#include "core/subject.h"
#include "engine/subjects.h"

void engine_subjects_init(struct engine_subjects *s)
{
    memset(s, 0, sizeof *s);
}

void engine_subjects_clear(struct engine_subjects *s)
{
    if (!s)
        return;
    json_decref(s->keep);
    engine_subjects_init(s);
}

static bool kind_ok(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    const char *dot = k ? strchr(k, '.') : NULL;

    if (n == 0 || n >= ENGINE_SUBJECT_KIND_MAX || !dot || dot == k || !dot[1])
        return false;
    for (; *k; k++) {
        if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' || *k == '.'))
            return false;
    }
    return true;
}

/* label cleaned into out (n bytes): control characters make it unusable
 * (""), a long one is cut before a UTF-8 continuation byte. */
static void label_clean(const char *label, char *out, size_t n)
{
    size_t len = 0;

    out[0] = '\0';
    if (!label)
        return;
    for (const unsigned char *p = (const unsigned char *)label; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return;
    }
    len = strlen(label);
    if (len >= n) {
        len = n - 1;
        while (len > 0 && ((unsigned char)label[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(out, label, len);
    out[len] = '\0';
}

/* A string kept by s (borrowed, valid until clear); NULL on out of memory. */
static const char *keep(struct engine_subjects *s, const char *text)
{
    json_t *v;

    if (!s->keep && !(s->keep = json_array()))
        return NULL;
    v = json_string(text);
    if (!v || json_array_append_new(s->keep, v))
        return NULL;
    return json_string_value(v);
}

static bool same_step(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool has_row(const struct engine_subjects *s, const char *kind, const char *key, const char *step_id)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i].kind, kind) == 0 && strcmp(s->v[i].key, key) == 0 && same_step(s->v[i].step_id, step_id))
            return true;
    }
    return false;
}

int engine_subjects_add(struct engine_subjects *s, const json_t *list, const char *step_id)
{
    size_t i, k;
    const json_t *subj, *kv;
    const char *step = NULL;

    if (!json_is_array(list))
        return 0;
    json_array_foreach (list, i, subj) {
        const char *kind = json_string_value(json_object_get(subj, "kind"));
        const char *kkind = NULL, *klabel = NULL;
        char label[ENGINE_SUBJECT_LABEL_MAX];

        if (!kind_ok(kind))
            continue;
        label_clean(json_string_value(json_object_get(subj, "label")), label, sizeof label);
        json_array_foreach (json_object_get(subj, "keys"), k, kv) {
            char key[SUBJECT_KEY_MAX];
            const char *kkey;

            if (s->n >= STORE_SUBJECTS_MAX)
                return 0;
            if (!json_is_string(kv) || subject_key(json_string_value(kv), key, sizeof key) != 0 ||
                has_row(s, kind, key, step_id))
                continue;
            if (!kkind && (!(kkind = keep(s, kind)) || !(klabel = keep(s, label[0] ? label : key))))
                return IDF_ENOMEM;
            if (step_id && !step && !(step = keep(s, step_id)))
                return IDF_ENOMEM;
            if (!(kkey = keep(s, key)))
                return IDF_ENOMEM;
            s->v[s->n].kind = kkind;
            s->v[s->n].key = kkey;
            s->v[s->n].label = klabel;
            s->v[s->n].step_id = step;
            s->n++;
        }
    }
    return 0;
}

int engine_subjects_of_event(struct engine_subjects *s, const struct registry *reg, const char *source,
                             const char *type, const json_t *event)
{
    const struct connector *c = source ? registry_find(reg, source) : NULL;
    json_t *list;
    int rc;

    if (!c && type)
        c = registry_trigger_owner(reg, registry_find_trigger(reg, type));
    if (!c || !c->event_subjects || !json_is_object(event))
        return 0;
    list = json_array();
    if (!list)
        return IDF_ENOMEM;
    rc = c->event_subjects(event, list);
    if (rc == 0)
        rc = engine_subjects_add(s, list, NULL);
    json_decref(list);
    return rc;
}

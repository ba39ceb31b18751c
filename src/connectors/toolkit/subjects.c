/* subjects.c — the toolkit's helpers for what an action reports about whom
 * and what it concerned (connector.h, "subjects"; issue 17): appending one
 * subject to a conn_result's subjects (merging the keys of a subject already
 * reported) and writing its change text.
 *
 * Leaves normalizing keys (core/subject.h) and capping their number to the
 * engine, which stores them; scrubbing credentials out of both to
 * ctk_close. Any thread; no state. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "connectors/toolkit.h"

/* True when arr (an array of strings) holds s. */
static bool has_string(const json_t *arr, const char *s)
{
    size_t i;
    const json_t *v;

    json_array_foreach (arr, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

/* The subject of kind already in subjects sharing one of keys, or NULL. */
static json_t *same_subject(const json_t *subjects, const char *kind, const char *const *keys, size_t n)
{
    size_t i;
    json_t *s;

    json_array_foreach (subjects, i, s) {
        const json_t *have = json_object_get(s, "keys");
        if (strcmp(json_string_value(json_object_get(s, "kind")) ?: "", kind) != 0)
            continue;
        for (size_t k = 0; k < n; k++) {
            if (keys[k] && *keys[k] && has_string(have, keys[k]))
                return s;
        }
    }
    return NULL;
}

int ctk_subject_add(struct conn_result *res, const char *kind, const char *label, const char *const *keys, size_t n)
{
    json_t *s, *arr;
    size_t any = 0;

    for (size_t k = 0; k < n; k++)
        any += keys[k] && *keys[k];
    if (!any || !kind)
        return 0; /* nothing to find it by */
    if (!res->subjects && !(res->subjects = json_array()))
        return IDF_ENOMEM;
    s = same_subject(res->subjects, kind, keys, n);
    if (!s) {
        if (json_array_size(res->subjects) >= CTK_MAX_SUBJECTS)
            return 0;
        s = json_pack("{s:s, s:[]}", "kind", kind, "keys");
        if (!s || json_array_append_new(res->subjects, s))
            return IDF_ENOMEM;
    }
    if (!json_is_string(json_object_get(s, "label")) && label && *label)
        json_object_set_new(s, "label", json_string(label));
    arr = json_object_get(s, "keys");
    for (size_t k = 0; k < n; k++) {
        if (keys[k] && *keys[k] && !has_string(arr, keys[k]) && json_array_append_new(arr, json_string(keys[k])))
            return IDF_ENOMEM;
    }
    if (!json_is_string(json_object_get(s, "label")))
        json_object_set(s, "label", json_array_get(arr, 0));
    return 0;
}

void ctk_change(struct conn_result *res, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(res->change, sizeof res->change, fmt, ap);
    va_end(ap);
}

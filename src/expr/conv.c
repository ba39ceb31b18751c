/* conv.c — jansson <-> jv conversion for the expr module.
 *
 * Numbers: jq holds every number as a double, so an integer beyond 2^53
 * would silently change on its way through jq (9007199254740993 becomes
 * ...992). Such integers enter jq as decimal strings instead: an Okta or
 * HappyFox id stays exact, and jq compares and prints it as text. On the way
 * back, an integral double within +-2^53 becomes a jansson integer and any
 * other number a real; NaN and the infinities, which JSON cannot hold,
 * become what jq itself prints for them (null, +-DBL_MAX).
 *
 * Objects keep their key order both ways (jansson and jq 1.6 both iterate in
 * insertion order). Keys and strings may hold NUL bytes. Depth is capped at
 * EXPR__MAX_DEPTH so a deeply nested value cannot exhaust the C stack.
 *
 * Stateless; any thread. */
#include <float.h>
#include <math.h>

#include "expr/expr_internal.h"

#define EXACT_LIMIT 9007199254740992.0 /* 2^53 */

static int too_deep(struct idf_err *err)
{
    return idf_err_set(err, IDF_ETOOBIG, "value nested deeper than %d levels", EXPR__MAX_DEPTH);
}

static int to_jv(const json_t *v, int depth, jv *out, struct idf_err *err)
{
    if (depth > EXPR__MAX_DEPTH)
        return too_deep(err);
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: {
        jv o = jv_object();
        const char *key;
        size_t klen;
        json_t *val;
        json_object_keylen_foreach((json_t *)v, key, klen, val)
        {
            jv x;
            int rc = to_jv(val, depth + 1, &x, err);
            if (rc) {
                jv_free(o);
                return rc;
            }
            o = jv_object_set(o, jv_string_sized(key, (int)klen), x);
        }
        *out = o;
        return 0;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        jv a = jv_array_sized((int)n);
        for (size_t i = 0; i < n; i++) {
            jv x;
            int rc = to_jv(json_array_get(v, i), depth + 1, &x, err);
            if (rc) {
                jv_free(a);
                return rc;
            }
            a = jv_array_append(a, x);
        }
        *out = a;
        return 0;
    }
    case JSON_STRING: *out = jv_string_sized(json_string_value(v), (int)json_string_length(v)); return 0;
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        if (i > (json_int_t)EXACT_LIMIT || i < -(json_int_t)EXACT_LIMIT)
            *out = jv_string_fmt("%" JSON_INTEGER_FORMAT, i);
        else
            *out = jv_number((double)i);
        return 0;
    }
    case JSON_REAL: *out = jv_number(json_real_value(v)); return 0;
    case JSON_TRUE: *out = jv_true(); return 0;
    case JSON_FALSE: *out = jv_false(); return 0;
    default: *out = jv_null(); return 0;
    }
}

int expr__to_jv(const json_t *v, jv *out, struct idf_err *err)
{
    *out = jv_invalid();
    return to_jv(v, 0, out, err);
}

static json_t *number(double d)
{
    if (isnan(d))
        return json_null();
    if (isinf(d))
        return json_real(d > 0 ? DBL_MAX : -DBL_MAX);
    if (d == trunc(d) && fabs(d) <= EXACT_LIMIT)
        return json_integer((json_int_t)d);
    return json_real(d);
}

/* v is consumed. */
static int from_jv(jv v, int depth, json_t **out, struct idf_err *err)
{
    json_t *r = NULL;
    int rc = 0;

    *out = NULL;
    if (depth > EXPR__MAX_DEPTH) {
        jv_free(v);
        return too_deep(err);
    }
    switch (jv_get_kind(v)) {
    case JV_KIND_NULL: r = json_null(); break;
    case JV_KIND_TRUE: r = json_true(); break;
    case JV_KIND_FALSE: r = json_false(); break;
    case JV_KIND_NUMBER: r = number(jv_number_value(v)); break;
    case JV_KIND_STRING: r = json_stringn(jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v))); break;
    case JV_KIND_ARRAY: {
        int n = jv_array_length(jv_copy(v));
        r = json_array();
        for (int i = 0; r && i < n && !rc; i++) {
            json_t *x;
            rc = from_jv(jv_array_get(jv_copy(v), i), depth + 1, &x, err);
            if (!rc && json_array_append_new(r, x))
                rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
        }
        break;
    }
    case JV_KIND_OBJECT: {
        r = json_object();
        for (int it = jv_object_iter(v); r && !rc && jv_object_iter_valid(v, it); it = jv_object_iter_next(v, it)) {
            jv k = jv_object_iter_key(v, it);
            json_t *x;
            rc = from_jv(jv_object_iter_value(v, it), depth + 1, &x, err);
            if (!rc && json_object_setn_new(r, jv_string_value(k), (size_t)jv_string_length_bytes(jv_copy(k)), x))
                rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
            jv_free(k);
        }
        break;
    }
    default: /* invalid: not a value */ rc = idf_err_set(err, IDF_EINVAL, "the expression gave no value"); break;
    }
    jv_free(v);
    if (!rc && !r)
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
    if (rc) {
        json_decref(r);
        return rc;
    }
    *out = r;
    return 0;
}

int expr__from_jv(jv v, json_t **out, struct idf_err *err)
{
    return from_jv(v, 0, out, err);
}

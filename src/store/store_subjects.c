/* store_subjects.c — the public store_* API of run subjects (issue 17,
 * "subjects"; store.h): the run filter made into the backends' query, the
 * reads (count, a run's subjects, what runs changed), and the helpers every
 * backend's writers use to make a connector's subject or change text fit the
 * store (store__subject_prep, store__text_cut).
 *
 * Like store.c it holds no SQL and no state. What enters from connectors is
 * never refused here: a subject that cannot be stored (no kind, a key that
 * does not normalize or is too long) is skipped, a label or a change text
 * too long is cut at a UTF-8 character boundary, so a step that did its work
 * is always recorded. Any thread, each with its own connection. */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ sanitizing */

/* The length of the UTF-8 sequence at p (1..4), 0 when it is not valid
 * UTF-8 (overlong forms, surrogates and code points over U+10FFFF included). */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F))
            return 0;
        return 4;
    }
    return 0;
}

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t k = utf8_len(p);
        if (!k)
            return false;
        p += k;
    }
    return true;
}

const char *store__text_cut(const char *in, char *buf, size_t cap)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t n = 0;

    if (!in)
        return NULL;
    while (*p) {
        size_t k = utf8_len(p);
        if (!k) { /* not UTF-8: one '?' for the byte */
            if (n + 1 > cap)
                break;
            buf[n++] = '?';
            p++;
            continue;
        }
        if (n + k > cap)
            break;
        if (k == 1 && (*p < 0x20 || *p == 0x7F)) {
            buf[n++] = ' ';
        } else {
            memcpy(buf + n, p, k);
            n += k;
        }
        p += k;
    }
    buf[n] = '\0';
    return buf;
}

/* A kind: 1..STORE__NAME_MAX bytes of printable ASCII ("okta.user"). */
static bool kind_ok(const char *k)
{
    size_t n = 0;
    if (!k || !*k)
        return false;
    for (; k[n]; n++)
        if (n >= STORE__NAME_MAX || k[n] <= 0x20 || k[n] >= 0x7F)
            return false;
    return true;
}

bool store__subject_prep(const struct store_subject *in, const char *step_id, struct store__subject_row *out)
{
    if (!in || !kind_ok(in->kind) || !in->key || strnlen(in->key, SUBJECT_KEY_MAX) >= SUBJECT_KEY_MAX)
        return false;
    if (subject_key(in->key, out->key_buf, sizeof out->key_buf) != 0 || !utf8_valid(out->key_buf))
        return false;
    out->kind = in->kind;
    out->key = out->key_buf;
    out->label = store__text_cut(in->label && *in->label ? in->label : in->key, out->label_buf, STORE__LABEL_MAX);
    if (!out->label[0])
        out->label = out->key_buf;
    out->step_id = step_id;
    return true;
}

int store__subjects_check(const struct store_subject *subjects, size_t n, struct idf_err *err)
{
    if (n && !subjects)
        return idf_err_set(err, IDF_EINVAL, "store: %zu subjects given without their array", n);
    return 0;
}

/* ------------------------------------------------------------ the query */

int store__run_query_make(const struct store_run_filter *f, struct store__run_query *q)
{
    memset(q, 0, sizeof *q);
    if (!f) {
        q->limit = STORE__DEFAULT_LIST;
        return 0;
    }
    if (f->status && !store__run_status_valid(f->status))
        return IDF_EINVAL;
    if (f->workflow && (!*f->workflow || strnlen(f->workflow, STORE__NAME_MAX + 1) > STORE__NAME_MAX))
        return IDF_EINVAL;
    if (f->before_id < 0 || f->since < 0 || f->until < 0)
        return IDF_EINVAL;
    q->status = f->status;
    q->workflow = f->workflow;
    q->before_id = f->before_id;
    q->since = f->since;
    q->until = f->until;
    if (f->subject) {
        if (subject_key(f->subject, q->subject_buf, sizeof q->subject_buf) != 0)
            return IDF_EINVAL;
        q->subject = q->subject_buf;
    }
    if (f->source) {
        size_t n = strnlen(f->source, sizeof q->source_buf);
        char *slash;
        if (n == 0 || n >= sizeof q->source_buf)
            return IDF_EINVAL;
        memcpy(q->source_buf, f->source, n + 1);
        q->source = q->source_buf;
        if ((slash = strchr(q->source_buf, '/')) != NULL) {
            *slash = '\0';
            q->via = slash + 1;
            if (!*q->source || !*q->via || strchr(q->via, '/'))
                return IDF_EINVAL;
        }
    }
    q->limit = f->limit <= 0 ? STORE__DEFAULT_LIST : f->limit > STORE_LIST_MAX ? STORE_LIST_MAX : f->limit;
    return 0;
}

/* ---------------------------------------------------------------- reads */

int store_run_count(struct store *s, const struct store_run_filter *f, int64_t *n_out)
{
    struct store__run_query q;
    int rc;

    if (!s || !n_out)
        return IDF_EINVAL;
    *n_out = 0;
    rc = store__run_query_make(f, &q);
    if (rc)
        return rc;
    return s->ops->run_count(s, &q, n_out);
}

int store_run_subjects(struct store *s, int64_t run_id, struct store_run_subject **rows_out, size_t *n_out)
{
    if (!s || !rows_out || !n_out)
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    return s->ops->run_subjects(s, run_id, rows_out, n_out);
}

void store__run_subject_clear(void *row)
{
    struct store_run_subject *r = row;
    free(r->kind);
    free(r->key);
    free(r->label);
    free(r->step_id);
    memset(r, 0, sizeof *r);
}

void store_run_subject_list_free(struct store_run_subject *rows, size_t n)
{
    store__rows_free(rows, n, sizeof *rows, store__run_subject_clear);
}

int store_run_changes(struct store *s, const int64_t *run_ids, size_t n, struct store_change **rows_out, size_t *n_out)
{
    if (!s || !rows_out || !n_out || (n && !run_ids))
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    if (n > STORE_LIST_MAX)
        return IDF_ETOOBIG;
    if (n == 0)
        return 0;
    return s->ops->run_changes(s, run_ids, n, rows_out, n_out);
}

void store__change_clear(void *row)
{
    struct store_change *c = row;
    free(c->step_id);
    free(c->change);
    memset(c, 0, sizeof *c);
}

void store_change_list_free(struct store_change *rows, size_t n)
{
    store__rows_free(rows, n, sizeof *rows, store__change_clear);
}

/* runquery.c — finding runs by subject, source and time (runquery.h):
 * parses the filter's textual values once for the API and the CLI, and
 * builds the list and timeline answers from the store's rows through
 * render.c. It owns no state; the store connection is the caller's. */
#include "api/runquery.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/render.h"
#include "core/timeutil.h"
#include "engine/status.h"

#define RUNQUERY_SOURCE_MAX 256 /* bytes of a source filter ("okta/poll") */

/* A decimal integer > 0 (no sign, no space, at most 18 digits). */
static bool parse_positive(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    char *end;
    long long v;

    if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v <= 0)
        return false;
    *out = v;
    return true;
}

/* ms since the epoch, or ISO-8601 with a zone. */
static bool parse_time(const char *s, int64_t *out)
{
    if (*s && strspn(s, "0123456789") == strlen(s))
        return parse_positive(s, out);
    return time_parse_iso(s, out) == 0 && *out > 0;
}

int runquery_parse(const struct runquery_in *in, const char *prefix, struct runquery *q, struct idf_err *err)
{
    struct store_run_filter *f = &q->f;
    int64_t v = 0;

    memset(q, 0, sizeof *q);
    if (in->status) {
        /* the statuses are the engine's (status.c), held included (issue 19): no list of our own */
        enum engine_run_status st;
        if (engine_run_status_parse(in->status, &st))
            return idf_err_set(err, IDF_EINVAL,
                               "bad %sstatus: one of queued, running, waiting, held, succeeded, failed, cancelled",
                               prefix);
        f->status = engine_run_status_name(st);
    }
    if (in->workflow) {
        if (!*in->workflow || strlen(in->workflow) > 256)
            return idf_err_set(err, IDF_EINVAL, "bad %sworkflow: a workflow's name", prefix);
        f->workflow = in->workflow;
    }
    if (in->subject) {
        if (subject_key(in->subject, q->key, sizeof q->key) != 0)
            return idf_err_set(err, IDF_EINVAL,
                               "bad %ssubject: a login, an Okta id, a group name or a ticket number "
                               "(#HF00000006), without control characters, at most %d bytes",
                               prefix, SUBJECT_KEY_MAX - 1);
        f->subject = q->key;
    }
    if (in->source) {
        const char *slash = strchr(in->source, '/');
        size_t n = strlen(in->source);
        bool ok = n > 0 && n <= RUNQUERY_SOURCE_MAX && in->source[0] != '/' && in->source[n - 1] != '/' &&
                  (!slash || !strchr(slash + 1, '/'));
        for (size_t i = 0; ok && i < n; i++)
            ok = isalnum((unsigned char)in->source[i]) || strchr("._-/", in->source[i]);
        if (!ok)
            return idf_err_set(err, IDF_EINVAL,
                               "bad %ssource: a source (okta, happyfox, webhook, manual, schedule, cli), or "
                               "source/via (okta/poll, okta/hook)",
                               prefix);
        f->source = in->source;
    }
    if (in->since) {
        if (!parse_time(in->since, &v))
            return idf_err_set(err, IDF_EINVAL,
                               "bad %ssince: ISO-8601 with a zone (2026-12-07T09:00:00Z) or milliseconds", prefix);
        f->since = v;
    }
    if (in->until) {
        if (!parse_time(in->until, &v))
            return idf_err_set(err, IDF_EINVAL,
                               "bad %suntil: ISO-8601 with a zone (2026-12-07T09:00:00Z) or milliseconds", prefix);
        f->until = v;
    }
    if (in->before) {
        if (!parse_positive(in->before, &v))
            return idf_err_set(err, IDF_EINVAL, "bad %sbefore: a run id", prefix);
        f->before_id = v;
    }
    if (in->limit) {
        if (!parse_positive(in->limit, &v))
            return idf_err_set(err, IDF_EINVAL, "bad %slimit: a number of runs, 1 to %d", prefix, STORE_LIST_MAX);
        f->limit = v > STORE_LIST_MAX ? STORE_LIST_MAX : (int)v;
    }
    return 0;
}

int runquery_list_json(struct store *st, const struct runquery *q, json_t **out, struct idf_err *err)
{
    struct store_run *rows = NULL;
    int64_t total = 0;
    size_t n = 0;
    int rc;

    *out = NULL;
    rc = store_run_list(st, &q->f, &rows, &n);
    if (rc == 0)
        rc = store_run_count(st, &q->f, &total);
    if (rc == 0) {
        *out = json_pack("{s:o, s:I}", "runs", render_runs(rows, n), "total", (json_int_t)total);
        if (!*out)
            rc = IDF_ENOMEM;
    }
    if (rc)
        idf_err_set(err, rc, "could not list runs");
    store_run_list_free(rows, n);
    return rc;
}

int runquery_history_json(struct store *st, const struct runquery *q, json_t **out, struct idf_err *err)
{
    struct store_run *rows = NULL;
    struct store_change *ch = NULL;
    int64_t *ids = NULL;
    int64_t total = 0;
    size_t n = 0, n_ch = 0;
    int rc;

    *out = NULL;
    if (!q->f.subject)
        return idf_err_set(err, IDF_EINVAL, "a timeline needs a subject");
    rc = store_run_list(st, &q->f, &rows, &n);
    if (rc == 0)
        rc = store_run_count(st, &q->f, &total);
    if (rc == 0 && n) {
        ids = malloc(n * sizeof *ids);
        if (!ids)
            rc = IDF_ENOMEM;
        for (size_t i = 0; ids && i < n; i++)
            ids[i] = rows[i].id;
        if (rc == 0)
            rc = store_run_changes(st, ids, n, &ch, &n_ch);
    }
    if (rc == 0) {
        *out = render_history(q->f.subject, total, rows, n, ch, n_ch);
        if (!*out)
            rc = IDF_ENOMEM;
    }
    if (rc)
        idf_err_set(err, rc, "could not read the runs of %s", q->f.subject);
    free(ids);
    store_change_list_free(ch, n_ch);
    store_run_list_free(rows, n);
    return rc;
}

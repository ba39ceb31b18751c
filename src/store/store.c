/* store.c — the public store_* API: URL parsing, input caps and validation,
 * and dispatch through the backend's ops table (store_internal.h).
 *
 * It contains no SQL and keeps no state but one counter (the connections
 * open in this process, for tests and diagnostics: atomic, no lock): every
 * call goes to s->ops with arguments already checked, so each backend
 * implements only the contract. Any thread may call it, each with its own
 * connection (store.h, "Transactions and threads"). */
#include "store/store_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/timeutil.h"

#define SQLITE_PREFIX "sqlite:"

/* Connections open in this process: store_open adds one, store_close takes
 * it away. Atomic; read by store_connections_open. */
static atomic_int open_connections;

/* ------------------------------------------------------------- helpers */

bool store__run_status_valid(const char *status)
{
    static const char *const all[] = {STORE_RUN_QUEUED, STORE_RUN_RUNNING,   STORE_RUN_WAITING, STORE_RUN_SUCCEEDED,
                                      STORE_RUN_FAILED, STORE_RUN_CANCELLED, STORE_RUN_HELD};
    if (!status)
        return false;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(status, all[i]) == 0)
            return true;
    return false;
}

bool store__run_status_final(const char *status)
{
    return status && (strcmp(status, STORE_RUN_SUCCEEDED) == 0 || strcmp(status, STORE_RUN_FAILED) == 0 ||
                      strcmp(status, STORE_RUN_CANCELLED) == 0);
}

static bool step_status_valid(const char *status)
{
    static const char *const all[] = {STORE_STEP_STARTED,  STORE_STEP_SUCCEEDED, STORE_STEP_FAILED, STORE_STEP_SKIPPED,
                                      STORE_STEP_RETRYING, STORE_STEP_WAITING,   STORE_STEP_REUSED};
    if (!status)
        return false;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(status, all[i]) == 0)
            return true;
    return false;
}

int store__gen_source_id(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[STORE__SOURCE_ID_LEN / 2];
    uint64_t ms = (uint64_t)time_now_ms();
    size_t got = 6;

    if (n < STORE__SOURCE_ID_LEN + 1)
        return IDF_EINVAL;
    /* 48 bits of milliseconds first (like UUIDv7), so generated ids of
     * successive events sort together and land on the same index pages. */
    for (int i = 0; i < 6; i++)
        raw[i] = (unsigned char)(ms >> (8 * (5 - i)));
    while (got < sizeof raw) {
        ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return IDF_EIO;
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[STORE__SOURCE_ID_LEN] = '\0';
    return 0;
}

/* A required name: non-NULL, non-empty, at most STORE__NAME_MAX bytes. */
static bool name_ok(const char *v)
{
    return v && *v && strnlen(v, STORE__NAME_MAX + 1) <= STORE__NAME_MAX;
}

/* An optional name: NULL or a valid name. */
static bool opt_name_ok(const char *v)
{
    return !v || name_ok(v);
}

/* An optional text: NULL or at most STORE__TEXT_MAX bytes. */
static bool text_ok(const char *v)
{
    return !v || strnlen(v, STORE__TEXT_MAX + 1) <= STORE__TEXT_MAX;
}

void store__rows_free(void *rows, size_t n, size_t size, void (*clear)(void *row))
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++)
        clear((char *)rows + i * size);
    free(rows);
}

int store__rerun_refused_done(struct idf_err *err, int64_t run_id, int64_t rerun_id)
{
    return idf_err_set(err, IDF_EEXIST,
                       "run %lld was already re-run as run #%lld; re-running it again calls its steps again "
                       "(force it to do that anyway)",
                       (long long)run_id, (long long)rerun_id);
}

int store__rerun_refused_rejected(struct idf_err *err, int64_t run_id, const char *who, const char *why)
{
    return idf_err_set(err, IDF_ESTATE,
                       "run %lld was rejected by %.200s%s%.300s; a re-run would ask for the approval again "
                       "(force it to do that)",
                       (long long)run_id, who ? who : "an approver", why && *why ? ": " : "", why ? why : "");
}

int store__json_quote(struct buf *b, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = buf_append(b, "\"", 1);

    for (const char *p = v; rc == 0 && *p; p++) {
        unsigned char ch = (unsigned char)*p;
        char esc[7] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15], '\0'};
        switch (ch) {
        case '"': rc = buf_append(b, "\\\"", 2); break;
        case '\\': rc = buf_append(b, "\\\\", 2); break;
        case '\b': rc = buf_append(b, "\\b", 2); break;
        case '\f': rc = buf_append(b, "\\f", 2); break;
        case '\n': rc = buf_append(b, "\\n", 2); break;
        case '\r': rc = buf_append(b, "\\r", 2); break;
        case '\t': rc = buf_append(b, "\\t", 2); break;
        default: rc = ch < 0x20 ? buf_append(b, esc, 6) : buf_append(b, p, 1); break;
        }
    }
    return rc ? rc : buf_append(b, "\"", 1);
}

char *store__detail(const char *key, const char *value)
{
    struct buf b;
    char *out = NULL;

    buf_init(&b, BUF_CAP_SMALL);
    if (buf_puts(&b, "{") == 0 && store__json_quote(&b, key) == 0 && buf_puts(&b, ":") == 0 &&
        store__json_quote(&b, value) == 0 && buf_puts(&b, "}") == 0)
        out = buf_take(&b);
    buf_free(&b);
    return out;
}

int store__cancel_state_ok(int64_t run_id, const char *status, struct idf_err *err)
{
    if (strcmp(status, STORE_RUN_QUEUED) == 0 || strcmp(status, STORE_RUN_WAITING) == 0 ||
        strcmp(status, STORE_RUN_HELD) == 0)
        return 0;
    return idf_err_set(err, IDF_ESTATE, "store: run %lld is %s; only a queued, waiting or held run can be cancelled",
                       (long long)run_id, status);
}

int store__decide_state_ok(int64_t run_id, const char *status, const char *hold, bool hold_expected,
                           struct idf_err *err)
{
    bool held = hold && hold[0];

    if (held && !hold_expected)
        return idf_err_set(err, IDF_ESTATE,
                           "store: run %lld is held at the guardrail of connection '%s', not waiting for an "
                           "approval: an admin releases or rejects it (idflow release)",
                           (long long)run_id, hold);
    if (!held && hold_expected)
        return idf_err_set(err, IDF_ESTATE, "store: run %lld is not held at a guardrail (it is %s)", (long long)run_id,
                           status);
    if (strcmp(status, held ? STORE_RUN_HELD : STORE_RUN_WAITING) == 0)
        return 0;
    return idf_err_set(err, IDF_ESTATE, "store: run %lld is %s, not %s", (long long)run_id, status,
                       held ? "held at a guardrail" : "waiting for an approval");
}

const char *store__approval_action(bool approve, bool hold)
{
    if (hold)
        return approve ? "guardrail.release" : "guardrail.reject";
    return approve ? "approval.approve" : "approval.reject";
}

char *store__approval_detail(const char *step, const char *comment, const char *hold)
{
    struct buf b;
    char *out = NULL;

    buf_init(&b, BUF_CAP_SMALL);
    if (buf_puts(&b, "{") == 0 && store__json_quote(&b, "step") == 0 && buf_puts(&b, ":") == 0 &&
        store__json_quote(&b, step) == 0 &&
        (!comment || (buf_puts(&b, ",") == 0 && store__json_quote(&b, "comment") == 0 && buf_puts(&b, ":") == 0 &&
                      store__json_quote(&b, comment) == 0)) &&
        (!hold || (buf_puts(&b, ",") == 0 && store__json_quote(&b, "connection") == 0 && buf_puts(&b, ":") == 0 &&
                   store__json_quote(&b, hold) == 0)) &&
        buf_puts(&b, "}") == 0)
        out = buf_take(&b);
    buf_free(&b);
    return out;
}

static int clamp_limit(int limit)
{
    if (limit <= 0)
        return STORE__DEFAULT_LIST;
    return limit > STORE_LIST_MAX ? STORE_LIST_MAX : limit;
}

/* ------------------------------------------------------------ open/close */

/* The SQLite path a database URL names ("sqlite:PATH", or a bare path ending
 * in .db that is not a URL), or NULL when the URL names no SQLite file. */
static const char *sqlite_path(const char *url, size_t len)
{
    if (strncmp(url, SQLITE_PREFIX, strlen(SQLITE_PREFIX)) == 0)
        return url + strlen(SQLITE_PREFIX);
    if (len > 3 && strcmp(url + len - 3, ".db") == 0 && !strstr(url, "://"))
        return url;
    return NULL;
}

bool store_exists(const char *url)
{
    const char *path;

    if (!url || !*url)
        return false;
    path = sqlite_path(url, strlen(url));
    if (!path)
        return true; /* a server: assumed to be there */
    return *path && strcmp(path, ":memory:") != 0 && access(path, F_OK) == 0;
}

static bool pg_url(const char *url)
{
    return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

void store_url_for_log(const char *url, char *out, size_t n)
{
    if (!out || n == 0)
        return;
    if (url && pg_url(url))
        store__pg_url_masked(url, out, n);
    else
        snprintf(out, n, "%s", url ? url : "");
}

int store_open(const char *url, struct store **out, struct idf_err *err)
{
    const char *path = NULL;
    size_t len;
    int rc;

    idf_err_clear(err);
    if (!out)
        return idf_err_set(err, IDF_EINVAL, "store: no output pointer");
    *out = NULL;
    if (!url || !*url)
        return idf_err_set(err, IDF_EINVAL, "store: empty database URL");
    len = strnlen(url, STORE__PATH_MAX + 1);
    if (len > STORE__PATH_MAX)
        return idf_err_set(err, IDF_ETOOBIG, "store: database URL longer than %u bytes", STORE__PATH_MAX);

    path = sqlite_path(url, len);
    if (path && !*path)
        return idf_err_set(err, IDF_EINVAL, "store: \"sqlite:\" needs a path (sqlite:idflow.db)");
    if (path)
        rc = store__sqlite_open(path, out, err);
    else if (pg_url(url))
        rc = store__pg_open(url, out, err);
    else
        return idf_err_set(err, IDF_EINVAL,
                           "store: unsupported database URL (use sqlite:PATH, a path ending in .db, "
                           "or postgresql://...)");
    if (rc == 0)
        atomic_fetch_add(&open_connections, 1);
    return rc;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    s->ops->close(s);
    atomic_fetch_sub(&open_connections, 1);
}

int store_connections_open(void)
{
    return atomic_load(&open_connections);
}

int store_schema_version(struct store *s, int *out)
{
    if (!s || !out)
        return IDF_EINVAL;
    return s->ops->schema_version(s, out);
}

/* ------------------------------------------------------------- workflows */

int store_workflow_save(struct store *s, const char *name, const char *source, const char *hash, int64_t *version_out,
                        bool *created_out, struct idf_err *err)
{
    struct idf_err local;
    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || !version_out || !created_out)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (!name_ok(name) || !name_ok(hash))
        return idf_err_set(err, IDF_EINVAL, "store: workflow name and hash must be 1..%u bytes", STORE__NAME_MAX);
    if (!source || !text_ok(source))
        return idf_err_set(err, IDF_ETOOBIG, "store: workflow source missing or over %u bytes", STORE__TEXT_MAX);
    return s->ops->workflow_save(s, name, source, hash, version_out, created_out, err);
}

int store_workflow_source(struct store *s, const char *name, int64_t version, char **source_out, int64_t *version_out)
{
    if (!s || !name_ok(name) || version < 0 || !source_out)
        return IDF_EINVAL;
    *source_out = NULL;
    return s->ops->workflow_source(s, name, version, source_out, version_out);
}

int store_workflow_set_enabled(struct store *s, const char *name, bool enabled)
{
    if (!s || !name_ok(name))
        return IDF_EINVAL;
    return s->ops->workflow_set_enabled(s, name, enabled);
}

int store_workflow_list(struct store *s, struct store_workflow_info **rows_out, size_t *n_out)
{
    if (!s || !rows_out || !n_out)
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    return s->ops->workflow_list(s, rows_out, n_out);
}

void store__workflow_info_clear(void *row)
{
    struct store_workflow_info *w = row;
    free(w->name);
    free(w->hash);
    memset(w, 0, sizeof *w);
}

void store_workflow_list_free(struct store_workflow_info *rows, size_t n)
{
    store__rows_free(rows, n, sizeof *rows, store__workflow_info_clear);
}

/* (helper "inputs") */
int store_workflow_last_runs(struct store *s, struct store_last_run **rows_out, size_t *n_out)
{
    if (!s || !rows_out || !n_out)
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    return s->ops->workflow_last_runs(s, rows_out, n_out);
}

void store__last_run_clear(void *row)
{
    struct store_last_run *r = row;
    free(r->workflow);
    free(r->status);
    memset(r, 0, sizeof *r);
}

void store_workflow_last_runs_free(struct store_last_run *rows, size_t n)
{
    store__rows_free(rows, n, sizeof *rows, store__last_run_clear);
}

/* --------------------------------------------------------------- events */

/* Checks a batch of items for store_ingest / store_event_expand (expand:
 * no runs may be given, the stage is DONE or MATCH). */
static int check_items(const struct store_ingest_item *items, size_t n, bool expand, struct idf_err *err)
{
    if (n && !items)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (n > STORE__INGEST_MAX)
        return idf_err_set(err, IDF_ETOOBIG, "store: %zu events in one batch (max %u)", n, STORE__INGEST_MAX);
    for (size_t i = 0; i < n; i++) {
        const struct store_ingest_item *it = &items[i];
        if (!name_ok(it->event.source) || !name_ok(it->event.type) || !opt_name_ok(it->event.source_id) ||
            !opt_name_ok(it->event.connection))
            return idf_err_set(err, IDF_EINVAL,
                               "store: event %zu: source and type must be 1..%u bytes, source_id and "
                               "connection absent or 1..%u bytes",
                               i, STORE__NAME_MAX, STORE__NAME_MAX);
        if (!it->event.data || !text_ok(it->event.data))
            return idf_err_set(err, IDF_ETOOBIG, "store: event %zu: data missing or over %u bytes", i, STORE__TEXT_MAX);
        if (it->event.stage != STORE_EVENT_DONE && it->event.stage != STORE_EVENT_MATCH &&
            (expand || it->event.stage != STORE_EVENT_EXPAND))
            return idf_err_set(err, IDF_EINVAL, "store: event %zu: bad stage %d", i, (int)it->event.stage);
        if (it->n_runs > STORE__RUNS_PER_EVENT_MAX)
            return idf_err_set(err, IDF_ETOOBIG, "store: event %zu starts %zu runs (max %u)", i, it->n_runs,
                               STORE__RUNS_PER_EVENT_MAX);
        if (it->n_runs && (expand || it->event.stage != STORE_EVENT_DONE))
            return idf_err_set(err, IDF_EINVAL, "store: event %zu: runs given for an event not matched now", i);
        if (it->n_runs && (!it->runs || !it->run_ids))
            return idf_err_set(err, IDF_EINVAL, "store: event %zu: runs or run_ids missing", i);
        for (size_t j = 0; j < it->n_runs; j++)
            if (!name_ok(it->runs[j].workflow) || it->runs[j].version < 1)
                return idf_err_set(err, IDF_EINVAL, "store: event %zu run %zu: bad workflow or version", i, j);
        /* issue 17 ("subjects") */
        if (!opt_name_ok(it->event.via) || !opt_name_ok(it->event.actor))
            return idf_err_set(err, IDF_EINVAL, "store: event %zu: via and actor absent or 1..%u bytes", i,
                               STORE__NAME_MAX);
        if (store__subjects_check(it->event.subjects, it->event.n_subjects, err))
            return IDF_EINVAL;
    }
    return 0;
}

/* Calls the backend's ingest (delivery 0) or event_expand with a generated
 * source_id for every item without one; the caller's items are restored
 * before returning (the generated ids live only in this call). */
static int ingest_with_ids(struct store *s, struct store_ingest_item *items, size_t n, int64_t delivery,
                           const char *note, struct idf_err *err)
{
    char(*gen)[STORE__SOURCE_ID_LEN + 1] = NULL;
    const char **saved = NULL;
    size_t done = 0; /* items whose source_id is saved */
    int rc = 0;

    gen = calloc(n ? n : 1, sizeof *gen);
    saved = calloc(n ? n : 1, sizeof *saved);
    if (!gen || !saved) {
        rc = idf_err_set(err, IDF_ENOMEM, "store: out of memory");
        goto out;
    }
    for (; done < n; done++) {
        saved[done] = items[done].event.source_id;
        if (!saved[done]) {
            rc = store__gen_source_id(gen[done], sizeof gen[done]);
            if (rc) {
                idf_err_set(err, rc, "store: no random bytes for a source id");
                goto restore;
            }
            items[done].event.source_id = gen[done];
        }
    }
    rc = delivery ? s->ops->event_expand(s, delivery, items, n, note, err) : s->ops->ingest(s, items, n, err);
restore:
    for (size_t i = 0; i < done; i++)
        items[i].event.source_id = saved[i];
out:
    free(gen);
    free(saved);
    return rc;
}

int store_ingest(struct store *s, struct store_ingest_item *items, size_t n, struct idf_err *err)
{
    struct idf_err local;
    int rc;

    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    rc = check_items(items, n, false, err);
    if (rc || n == 0)
        return rc;
    return ingest_with_ids(s, items, n, 0, NULL, err);
}

int store_event_expand(struct store *s, int64_t delivery_id, struct store_ingest_item *items, size_t n,
                       const char *note, struct idf_err *err)
{
    struct idf_err local;
    int rc;

    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || delivery_id <= 0)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (note && !text_ok(note))
        return idf_err_set(err, IDF_ETOOBIG, "store: note over %u bytes", STORE__TEXT_MAX);
    rc = check_items(items, n, true, err);
    if (rc)
        return rc;
    return ingest_with_ids(s, items, n, delivery_id, note, err);
}

/* What an event row owns (its strings), freed and zeroed: for
 * store_event_free and the rows of store_event_list (store_replay.c). */
void store__event_clear(void *row)
{
    struct store_event *ev = row;
    free(ev->source);
    free(ev->source_id);
    free(ev->type);
    free(ev->connection);
    free(ev->data);
    free(ev->note);
    memset(ev, 0, sizeof *ev);
}

void store_event_free(struct store_event *ev)
{
    if (!ev)
        return;
    store__event_clear(ev);
    free(ev);
}

int store_events_pending(struct store *s, enum store_event_stage stage, int64_t now_ms, size_t max,
                         struct store_event **out, size_t *n_out, struct idf_err *err)
{
    struct idf_err local;

    if (!err)
        err = &local;
    idf_err_clear(err);
    if (n_out)
        *n_out = 0;
    if (!s || !out || !n_out || max == 0)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (stage != STORE_EVENT_MATCH && stage != STORE_EVENT_EXPAND)
        return idf_err_set(err, IDF_EINVAL, "store: bad stage %d", (int)stage);
    if (max > STORE__INGEST_MAX)
        max = STORE__INGEST_MAX;
    return s->ops->events_pending(s, stage, now_ms, max, out, n_out, err);
}

int store_events_settle(struct store *s, struct store_settle *items, size_t n, struct idf_err *err)
{
    struct idf_err local;

    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || (n && !items))
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (n > STORE__INGEST_MAX)
        return idf_err_set(err, IDF_ETOOBIG, "store: %zu events in one batch (max %u)", n, STORE__INGEST_MAX);
    for (size_t i = 0; i < n; i++) {
        const struct store_settle *it = &items[i];
        items[i].settled = false;
        if (it->event_id <= 0 || (it->n_runs && (!it->runs || !it->run_ids)))
            return idf_err_set(err, IDF_EINVAL, "store: settle %zu: bad event id, or runs/run_ids missing", i);
        if (it->n_runs > STORE__RUNS_PER_EVENT_MAX)
            return idf_err_set(err, IDF_ETOOBIG, "store: event %zu starts %zu runs (max %u)", i, it->n_runs,
                               STORE__RUNS_PER_EVENT_MAX);
        if (it->note && !text_ok(it->note))
            return idf_err_set(err, IDF_ETOOBIG, "store: settle %zu: note over %u bytes", i, STORE__TEXT_MAX);
        for (size_t j = 0; j < it->n_runs; j++)
            if (!name_ok(it->runs[j].workflow) || it->runs[j].version < 1)
                return idf_err_set(err, IDF_EINVAL, "store: settle %zu run %zu: bad workflow or version", i, j);
        if (store__subjects_check(it->subjects, it->n_subjects, err)) /* issue 17 */
            return IDF_EINVAL;
    }
    if (n == 0)
        return 0;
    return s->ops->events_settle(s, items, n, err);
}

int store_event_retry(struct store *s, int64_t id, int64_t next_at_ms, const char *note, bool give_up,
                      struct idf_err *err)
{
    struct idf_err local;

    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || id <= 0)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (note && !text_ok(note))
        return idf_err_set(err, IDF_ETOOBIG, "store: note over %u bytes", STORE__TEXT_MAX);
    return s->ops->event_retry(s, id, next_at_ms, note, give_up, err);
}

int store_event_get(struct store *s, int64_t id, struct store_event **out)
{
    if (!s || !out)
        return IDF_EINVAL;
    *out = NULL;
    return s->ops->event_get(s, id, out);
}

/* ----------------------------------------------------------------- runs */

void store_run_free(struct store_run *r)
{
    if (!r)
        return;
    free(r->workflow);
    free(r->status);
    free(r->context);
    free(r->event);
    free(r->error);
    free(r->source); /* issue 17 ("subjects") */
    free(r->via);
    free(r->actor);
    free(r->trigger);
    free(r->connection);
    free(r->subject);
    free(r);
}

/* Caps: at most STORE_CAPS_MAX, each a valid name with 0..STORE_CAP_MAX and a
 * priority within STORE_PRIORITY_LOW..STORE_PRIORITY_HIGH, in
 * strictly ascending strcmp order of name (so no name twice, and the backend
 * may search them). */
static int caps_ok(const struct store_cap *caps, size_t n, struct idf_err *err)
{
    if (n && !caps)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (n > STORE_CAPS_MAX)
        return idf_err_set(err, IDF_EINVAL, "store: more than %u workflow caps in one claim", STORE_CAPS_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!name_ok(caps[i].workflow))
            return idf_err_set(err, IDF_EINVAL, "store: a capped workflow's name must be 1..%u bytes",
                               STORE__NAME_MAX);
        if (caps[i].max < 0 || caps[i].max > STORE_CAP_MAX)
            return idf_err_set(err, IDF_EINVAL, "store: workflow %s: cap %d is not within 0..%d", caps[i].workflow,
                               caps[i].max, STORE_CAP_MAX);
        if (caps[i].priority < STORE_PRIORITY_LOW || caps[i].priority > STORE_PRIORITY_HIGH)
            return idf_err_set(err, IDF_EINVAL, "store: workflow %s: priority %d is not within %d..%d",
                               caps[i].workflow, caps[i].priority, STORE_PRIORITY_LOW, STORE_PRIORITY_HIGH);
        if (i > 0 && strcmp(caps[i - 1].workflow, caps[i].workflow) >= 0)
            return idf_err_set(err, IDF_EINVAL, "store: workflow caps must be sorted by name, each name once (%s)",
                               caps[i].workflow);
    }
    return 0;
}

int store_run_claim(struct store *s, const char *owner, int64_t now_ms, int64_t lease_ms, size_t max,
                    const struct store_cap *caps, size_t n_caps, struct store_run **out, size_t *n_out,
                    struct idf_err *err)
{
    struct idf_err local;
    int rc;
    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || !n_out || (max && !out))
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    *n_out = 0;
    if (!name_ok(owner))
        return idf_err_set(err, IDF_EINVAL, "store: lease owner must be 1..%u bytes", STORE__NAME_MAX);
    if (lease_ms <= 0)
        return idf_err_set(err, IDF_EINVAL, "store: lease must be positive");
    if ((rc = caps_ok(caps, n_caps, err)))
        return rc;
    if (max == 0)
        return 0;
    if (max > STORE__CLAIM_MAX)
        max = STORE__CLAIM_MAX;
    return s->ops->run_claim(s, owner, now_ms, lease_ms, max, n_caps ? caps : NULL, n_caps, out, n_out, err);
}

int store_run_claim_id(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int64_t lease_ms,
                       struct store_run **out, struct idf_err *err)
{
    struct idf_err local;
    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || !out)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    *out = NULL;
    if (!name_ok(owner))
        return idf_err_set(err, IDF_EINVAL, "store: lease owner must be 1..%u bytes", STORE__NAME_MAX);
    if (lease_ms <= 0)
        return idf_err_set(err, IDF_EINVAL, "store: lease must be positive");
    return s->ops->run_claim_id(s, run_id, owner, now_ms, lease_ms, out, err);
}

int store_run_renew(struct store *s, int64_t run_id, const char *owner, int64_t lease_until)
{
    if (!s || !name_ok(owner))
        return IDF_EINVAL;
    return s->ops->run_renew(s, run_id, owner, lease_until);
}

int store_run_begin(struct store *s, int64_t run_id, const char *owner, int64_t lease_until)
{
    if (!s || !name_ok(owner))
        return IDF_EINVAL;
    return s->ops->run_begin(s, run_id, owner, lease_until);
}

int store_release_leases(struct store *s, const char *owner, int64_t *n_out)
{
    int64_t n = 0;
    int rc;
    if (!s || !name_ok(owner))
        return IDF_EINVAL;
    rc = s->ops->release_leases(s, owner, &n);
    if (n_out)
        *n_out = rc ? 0 : n;
    return rc;
}

int store_next_wake(struct store *s, int64_t *wake_at_out)
{
    if (!s || !wake_at_out)
        return IDF_EINVAL;
    *wake_at_out = 0;
    return s->ops->next_wake(s, wake_at_out);
}

int store_step_commit(struct store *s, int64_t run_id, const char *owner, int64_t now_ms,
                      const struct store_step_rec *step, const struct store_run_next *next, struct idf_err *err)
{
    struct idf_err local;
    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || !next)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (!name_ok(owner))
        return idf_err_set(err, IDF_EINVAL, "store: lease owner must be 1..%u bytes", STORE__NAME_MAX);
    if (!store__run_status_valid(next->status))
        return idf_err_set(err, IDF_EINVAL, "store: unknown run status");
    if (next->pc < 0 || next->item < 0 || next->attempt < 0)
        return idf_err_set(err, IDF_EINVAL, "store: negative pc, item or attempt");
    if (!text_ok(next->context) || !text_ok(next->error) || !opt_name_ok(next->approval_step_id) ||
        !text_ok(next->approval_message))
        return idf_err_set(err, IDF_ETOOBIG, "store: run state field over its cap");
    if (next->approval_step_id && !next->hold && strcmp(next->status, STORE_RUN_WAITING) != 0)
        return idf_err_set(err, IDF_EINVAL, "store: an approval needs the run to be waiting");
    /* issue 19: a run is held exactly when a guardrail hold is opened with it */
    if ((next->hold != NULL) != (strcmp(next->status, STORE_RUN_HELD) == 0) ||
        (next->hold && (!next->approval_step_id || !name_ok(next->hold))))
        return idf_err_set(err, IDF_EINVAL, "store: a held run needs a hold (connection and step), and only it");
    if (step) {
        if (!name_ok(step->step_id) || !step_status_valid(step->status) || step->index < 0 || step->item < -1 ||
            step->attempts < 0)
            return idf_err_set(err, IDF_EINVAL, "store: bad step record (id, status, index or item)");
        if (!text_ok(step->input) || !text_ok(step->output) || !text_ok(step->error))
            return idf_err_set(err, IDF_ETOOBIG, "store: step input, output or error over %u bytes", STORE__TEXT_MAX);
        if (step->result && step->item < 0)
            return idf_err_set(err, IDF_EINVAL, "store: a result belongs to a foreach item");
        if (!text_ok(step->result))
            return idf_err_set(err, IDF_ETOOBIG, "store: foreach item result over %u bytes", STORE__TEXT_MAX);
        if (store__subjects_check(step->subjects, step->n_subjects, err)) /* issue 17; change is cut, not refused */
            return IDF_EINVAL;
    }
    return s->ops->step_commit(s, run_id, owner, now_ms, step, next, err);
}

int store_run_get(struct store *s, int64_t id, struct store_run **out)
{
    if (!s || !out)
        return IDF_EINVAL;
    *out = NULL;
    return s->ops->run_get(s, id, out);
}

int store_run_list(struct store *s, const struct store_run_filter *f, struct store_run **rows_out, size_t *n_out)
{
    struct store__run_query q; /* the filter checked, issue 17's included (store_subjects.c) */
    int rc;
    if (!s || !rows_out || !n_out)
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    rc = store__run_query_make(f, &q);
    if (rc)
        return rc;
    q.limit = clamp_limit(q.limit);
    return s->ops->run_list(s, &q, rows_out, n_out);
}

void store__run_clear(void *row)
{
    struct store_run *r = row;
    free(r->workflow);
    free(r->status);
    free(r->context);
    free(r->event);
    free(r->error);
    free(r->source); /* issue 17 ("subjects") */
    free(r->via);
    free(r->actor);
    free(r->trigger);
    free(r->connection);
    free(r->subject);
    memset(r, 0, sizeof *r);
}

void store_run_list_free(struct store_run *rows, size_t n)
{
    store__rows_free(rows, n, sizeof *rows, store__run_clear);
}

int store_step_list(struct store *s, int64_t run_id, struct store_step **rows_out, size_t *n_out)
{
    if (!s || !rows_out || !n_out)
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    return s->ops->step_list(s, run_id, rows_out, n_out);
}

void store__step_clear(void *row)
{
    struct store_step *st = row;
    free(st->step_id);
    free(st->status);
    free(st->input);
    free(st->output);
    free(st->error);
    free(st->change); /* issue 17 */
    memset(st, 0, sizeof *st);
}

void store_step_list_free(struct store_step *rows, size_t n)
{
    store__rows_free(rows, n, sizeof *rows, store__step_clear);
}

int store_run_counts(struct store *s, struct store_run_counts *out)
{
    if (!s || !out)
        return IDF_EINVAL;
    memset(out, 0, sizeof *out);
    return s->ops->run_counts(s, out);
}

int store_run_rerun(struct store *s, int64_t run_id, int64_t now_ms, const char *actor, bool force,
                    int64_t *new_id_out, struct idf_err *err)
{
    struct idf_err local;
    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || !new_id_out)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (!name_ok(actor))
        return idf_err_set(err, IDF_EINVAL, "store: a re-run needs an actor");
    *new_id_out = 0;
    return s->ops->run_rerun(s, run_id, now_ms, actor, force, new_id_out, err);
}

int store_run_stop(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, const char *actor,
                   bool *pending_out, struct idf_err *err)
{
    struct idf_err local;
    bool pending = false;
    int rc;
    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || !reason || !*reason)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (!name_ok(actor))
        return idf_err_set(err, IDF_EINVAL, "store: a cancellation needs an actor");
    if (!text_ok(reason))
        return idf_err_set(err, IDF_ETOOBIG, "store: reason over %u bytes", STORE__TEXT_MAX);
    rc = s->ops->run_stop(s, run_id, reason, now_ms, actor, &pending, err);
    if (pending_out)
        *pending_out = rc == 0 && pending;
    return rc;
}

int store_run_cancel(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, struct idf_err *err)
{
    struct idf_err local;
    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (!text_ok(reason))
        return idf_err_set(err, IDF_ETOOBIG, "store: reason over %u bytes", STORE__TEXT_MAX);
    return s->ops->run_cancel(s, run_id, reason, now_ms, err);
}

/* ------------------------------------------------------------ approvals */

/* An approval's decision (hold false) or a guardrail hold's (issue 19):
 * the same checks of the arguments, then the backend, which decides only the
 * kind asked for. */
static int decide(struct store *s, int64_t run_id, bool yes, bool hold, const char *actor, const char *comment,
                  int64_t now_ms, struct idf_err *err)
{
    struct idf_err local;
    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (!name_ok(actor))
        return idf_err_set(err, IDF_EINVAL, "store: %s needs an actor (1..%u bytes)",
                           hold ? "a release" : "an approval", STORE__NAME_MAX);
    if (comment && strnlen(comment, STORE_COMMENT_MAX + 1) > STORE_COMMENT_MAX)
        return idf_err_set(err, IDF_ETOOBIG, "a comment is at most %u bytes", STORE_COMMENT_MAX);
    return s->ops->approval_decide(s, run_id, yes, hold, actor, comment, now_ms, err);
}

int store_approval_decide(struct store *s, int64_t run_id, bool approve, const char *actor, const char *comment,
                          int64_t now_ms, struct idf_err *err)
{
    return decide(s, run_id, approve, false, actor, comment, now_ms, err);
}

int store_guard_decide(struct store *s, int64_t run_id, bool release, const char *actor, const char *comment,
                       int64_t now_ms, struct idf_err *err)
{
    return decide(s, run_id, release, true, actor, comment, now_ms, err);
}

int store_approval_get(struct store *s, int64_t run_id, const char *step_id, char **status_out, char **actor_out)
{
    if (!s || !name_ok(step_id) || !status_out)
        return IDF_EINVAL;
    *status_out = NULL;
    if (actor_out)
        *actor_out = NULL;
    return s->ops->approval_get(s, run_id, step_id, status_out, actor_out);
}

int store_approval_list(struct store *s, struct store_approval **rows_out, size_t *n_out)
{
    if (!s || !rows_out || !n_out)
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    return s->ops->approval_list(s, rows_out, n_out);
}

int store_run_approvals(struct store *s, int64_t run_id, struct store_approval **rows_out, size_t *n_out)
{
    if (!s || !rows_out || !n_out)
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    return s->ops->run_approvals(s, run_id, rows_out, n_out);
}

int store_guard_held(struct store *s, const char *connection, int64_t *n_out)
{
    if (!s || !name_ok(connection) || !n_out)
        return IDF_EINVAL;
    *n_out = 0;
    return s->ops->guard_held(s, connection, n_out);
}

void store__approval_clear(void *row)
{
    struct store_approval *a = row;
    free(a->hold);
    free(a->step_id);
    free(a->workflow);
    free(a->message);
    free(a->status);
    free(a->actor);
    free(a->comment);
    memset(a, 0, sizeof *a);
}

void store_approval_list_free(struct store_approval *rows, size_t n)
{
    store__rows_free(rows, n, sizeof *rows, store__approval_clear);
}

/* -------------------------------------------------------- cursors, audit */

int store_cursor_get(struct store *s, const char *name, char **value_out)
{
    if (!s || !name_ok(name) || !value_out)
        return IDF_EINVAL;
    *value_out = NULL;
    return s->ops->cursor_get(s, name, value_out);
}

int store_cursor_set(struct store *s, const char *name, const char *value)
{
    if (!s || !name_ok(name) || !value)
        return IDF_EINVAL;
    if (!text_ok(value))
        return IDF_ETOOBIG;
    return s->ops->cursor_set(s, name, value);
}

int store_audit_add(struct store *s, const char *actor, const char *action, const char *target, const char *detail)
{
    if (!s || !name_ok(actor) || !name_ok(action) || !opt_name_ok(target))
        return IDF_EINVAL;
    if (!text_ok(detail))
        return IDF_ETOOBIG;
    return s->ops->audit_add(s, actor, action, target, detail);
}

int store_audit_list(struct store *s, int limit, struct store_audit **rows_out, size_t *n_out)
{
    if (!s || !rows_out || !n_out)
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    return s->ops->audit_list(s, clamp_limit(limit), rows_out, n_out);
}

void store__audit_clear(void *row)
{
    struct store_audit *a = row;
    free(a->actor);
    free(a->action);
    free(a->target);
    free(a->detail);
    memset(a, 0, sizeof *a);
}

void store_audit_list_free(struct store_audit *rows, size_t n)
{
    store__rows_free(rows, n, sizeof *rows, store__audit_clear);
}

/* ------------------------------------------------------------ API tokens */

static bool role_ok(const char *r)
{
    return r && (!strcmp(r, "viewer") || !strcmp(r, "approver") || !strcmp(r, "operator") || !strcmp(r, "admin"));
}

int store_token_create(struct store *s, const char *name, const char *role, const char *hash, const char *prefix,
                       int64_t expires_at, const char *actor, int64_t *id_out, struct idf_err *err)
{
    struct idf_err local;
    int64_t id = 0;
    int rc;

    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || !prefix || expires_at < 0)
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (!name_ok(name) || !name_ok(hash) || !name_ok(actor))
        return idf_err_set(err, IDF_EINVAL, "store: a token needs a name, a hash and an actor");
    if (!role_ok(role))
        return idf_err_set(err, IDF_EINVAL, "store: unknown role (viewer, approver, operator or admin)");
    rc = s->ops->token_create(s, name, role, hash, prefix, expires_at, actor, &id, err);
    if (rc == 0 && id_out)
        *id_out = id;
    return rc;
}

int store_token_lookup(struct store *s, const char *hash, int64_t now_ms, struct store_token **out)
{
    if (!s || !name_ok(hash) || !out)
        return IDF_EINVAL;
    *out = NULL;
    return s->ops->token_lookup(s, hash, now_ms, out);
}

int store_token_list(struct store *s, struct store_token **rows_out, size_t *n_out)
{
    if (!s || !rows_out || !n_out)
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    return s->ops->token_list(s, rows_out, n_out);
}

void store__token_clear(void *row)
{
    struct store_token *t = row;
    free(t->name);
    free(t->role);
    free(t->prefix);
    free(t->created_by);
    memset(t, 0, sizeof *t);
}

void store_token_list_free(struct store_token *rows, size_t n)
{
    store__rows_free(rows, n, sizeof *rows, store__token_clear);
}

int store_token_revoke(struct store *s, const char *name, const char *actor, bool force, struct idf_err *err)
{
    struct idf_err local;

    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || !name_ok(name) || !name_ok(actor))
        return idf_err_set(err, IDF_EINVAL, "store: a revocation needs a token name and an actor");
    return s->ops->token_revoke(s, name, actor, force, err);
}

int store_initialized(struct store *s, bool *out)
{
    if (!s || !out)
        return IDF_EINVAL;
    *out = false;
    return s->ops->initialized(s, out);
}

int store_initialize(struct store *s, const char *actor, bool *changed_out, struct idf_err *err)
{
    struct idf_err local;
    bool changed = false;
    int rc;

    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || !name_ok(actor))
        return idf_err_set(err, IDF_EINVAL, "store: initializing needs an actor");
    rc = s->ops->initialize(s, actor, &changed, err);
    if (changed_out)
        *changed_out = rc == 0 && changed;
    return rc;
}

void store_token_free(struct store_token *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->role);
    free(t->prefix);
    free(t->created_by);
    free(t);
}

/* ---------------------------------------------------------- connections */

int store_connection_put(struct store *s, const char *name, const char *kind, const char *config,
                         const unsigned char *sealed, size_t sealed_len, const char *actor, bool *created_out,
                         struct idf_err *err)
{
    struct idf_err local;
    bool created = false;
    int rc;

    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || !config || (sealed_len && !sealed))
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (!name_ok(name) || !name_ok(kind) || !name_ok(actor))
        return idf_err_set(err, IDF_EINVAL, "store: connection name, kind and actor must be 1..%u bytes",
                           STORE__NAME_MAX);
    if (!text_ok(config) || sealed_len > STORE__TEXT_MAX)
        return idf_err_set(err, IDF_ETOOBIG, "store: connection config or secret over %u bytes", STORE__TEXT_MAX);
    rc = s->ops->connection_put(s, name, kind, config, sealed_len ? sealed : NULL, sealed_len, actor, &created, err);
    if (created_out)
        *created_out = rc == 0 && created;
    return rc;
}

int store_connection_get(struct store *s, const char *name, char **kind_out, char **config_out,
                         unsigned char **sealed_out, size_t *sealed_len_out, int64_t *updated_at_out)
{
    int64_t updated = 0;
    int rc;

    if (!s || !name_ok(name) || !kind_out || !config_out || !sealed_out || !sealed_len_out)
        return IDF_EINVAL;
    *kind_out = NULL;
    *config_out = NULL;
    *sealed_out = NULL;
    *sealed_len_out = 0;
    rc = s->ops->connection_get(s, name, kind_out, config_out, sealed_out, sealed_len_out, &updated);
    if (updated_at_out)
        *updated_at_out = rc ? 0 : updated;
    return rc;
}

int store_connection_list(struct store *s, struct store_connection_info **rows_out, size_t *n_out)
{
    if (!s || !rows_out || !n_out)
        return IDF_EINVAL;
    *rows_out = NULL;
    *n_out = 0;
    return s->ops->connection_list(s, rows_out, n_out);
}

void store__connection_info_clear(void *row)
{
    struct store_connection_info *c = row;
    free(c->name);
    free(c->kind);
    free(c->config);
    memset(c, 0, sizeof *c);
}

void store_connection_list_free(struct store_connection_info *rows, size_t n)
{
    store__rows_free(rows, n, sizeof *rows, store__connection_info_clear);
}

int store_connection_delete(struct store *s, const char *name, const char *actor, struct idf_err *err)
{
    struct idf_err local;
    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || !name_ok(name) || !name_ok(actor))
        return idf_err_set(err, IDF_EINVAL, "store: connection name and actor must be 1..%u bytes", STORE__NAME_MAX);
    return s->ops->connection_delete(s, name, actor, err);
}

/* ------------------------------------------------------------ retention */

int store_prune(struct store *s, int64_t before_ms, int64_t *n_out)
{
    int64_t n = 0;
    int rc;
    if (!s)
        return IDF_EINVAL;
    rc = s->ops->prune(s, before_ms, &n);
    if (n_out)
        *n_out = n;
    return rc;
}

/* --------------------------------------------------------- foreach state */

int store_foreach_begin(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int index,
                        const char *const *items, size_t n, const char *const *results, size_t n_results,
                        const struct store_run_next *next, struct idf_err *err)
{
    struct idf_err local;
    if (!err)
        err = &local;
    idf_err_clear(err);
    if (!s || !next || !items || (n_results && !results))
        return idf_err_set(err, IDF_EINVAL, "store: missing argument");
    if (index < 0 || n == 0 || n > STORE_FOREACH_MAX || n_results > n)
        return idf_err_set(err, IDF_EINVAL, "store: a foreach step has 1..%d items", STORE_FOREACH_MAX);
    if (!name_ok(owner))
        return idf_err_set(err, IDF_EINVAL, "store: lease owner must be 1..%u bytes", STORE__NAME_MAX);
    if (!store__run_status_valid(next->status) || next->approval_step_id || next->hold ||
        strcmp(next->status, STORE_RUN_HELD) == 0)
        return idf_err_set(err, IDF_EINVAL, "store: bad run state");
    if (next->pc < 0 || next->item < 0 || next->attempt < 0)
        return idf_err_set(err, IDF_EINVAL, "store: negative pc, item or attempt");
    if (!text_ok(next->context) || !text_ok(next->error))
        return idf_err_set(err, IDF_ETOOBIG, "store: run state field over its cap");
    for (size_t i = 0; i < n; i++) {
        if (!items[i] || (i < n_results && !results[i]))
            return idf_err_set(err, IDF_EINVAL, "store: foreach item %zu is missing", i);
        if (!text_ok(items[i]) || (i < n_results && !text_ok(results[i])))
            return idf_err_set(err, IDF_ETOOBIG, "store: foreach item %zu over %u bytes", i, STORE__TEXT_MAX);
    }
    return s->ops->foreach_begin(s, run_id, owner, now_ms, index, items, n, results, n_results, next, err);
}

int store_foreach_item(struct store *s, int64_t run_id, int index, int item, char **item_out)
{
    if (!s || !item_out || index < 0 || item < 0)
        return IDF_EINVAL;
    *item_out = NULL;
    return s->ops->foreach_item(s, run_id, index, item, item_out);
}

int store_foreach_outputs(struct store *s, int64_t run_id, int index, char **json_out)
{
    if (!s || !json_out || index < 0)
        return IDF_EINVAL;
    *json_out = NULL;
    return s->ops->foreach_outputs(s, run_id, index, json_out);
}

/* ------------------------------------------- named leases ("singleton") */

int store_lease_take(struct store *s, const char *name, const char *owner, int64_t now_ms, int64_t ttl_ms,
                     bool *held_out, char **holder_out)
{
    int rc;

    if (held_out)
        *held_out = false;
    if (holder_out)
        *holder_out = NULL;
    if (!s || !held_out || !name_ok(name) || !name_ok(owner) || now_ms < 0 || ttl_ms < 1 ||
        ttl_ms > STORE_LEASE_TTL_MAX)
        return IDF_EINVAL;
    rc = s->ops->lease_take(s, name, owner, now_ms, ttl_ms, held_out, holder_out);
    if (rc) {
        *held_out = false;
        if (holder_out) {
            free(*holder_out);
            *holder_out = NULL;
        }
    }
    return rc;
}

int store_lease_drop(struct store *s, const char *name, const char *owner)
{
    if (!s || !name_ok(name) || !name_ok(owner))
        return IDF_EINVAL;
    return s->ops->lease_drop(s, name, owner);
}

int store_lease_get(struct store *s, const char *name, char **owner_out, int64_t *until_out)
{
    if (owner_out)
        *owner_out = NULL;
    if (until_out)
        *until_out = 0;
    if (!s || !name_ok(name))
        return IDF_EINVAL;
    return s->ops->lease_get(s, name, owner_out, until_out);
}

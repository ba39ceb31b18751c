/* test_store.c — the store contract suite (store.h), written against the
 * public API only so it runs unchanged against every backend.
 *
 * Backend: IDFLOW_TEST_STORE_URL selects the database; "%s" in it is replaced
 * by a name unique to each test (each test needs an empty database: for
 * PostgreSQL the name is a fresh schema, support/storeurl.h). Unset:
 * every test gets a fresh temp-file SQLite database, removed afterwards.
 *
 * Times: claims and commits take explicit now_ms values (T0 + offsets), so
 * lease expiry and wake-ups are tested without sleeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "store/store.h"
#include "support/storeurl.h"

#define T0 1700000000000LL /* a fixed "now" for claims */
#define LEASE 60000
#define OK(x) assert_int_equal((x), 0)

struct fx {
    char dir[256];  /* temp dir for the sqlite default, "" otherwise */
    char url[1024]; /* the database of this test */
    struct store *s;
};

static int n_tests;

static void make_url(struct fx *f)
{
    const char *env = getenv("IDFLOW_TEST_STORE_URL");
    char tag[64];

    snprintf(tag, sizeof tag, "t%d_%d", (int)getpid(), ++n_tests);
    if (env && *env) {
        assert_int_equal(tu_store_url(env, tag, f->url, sizeof f->url), 0);
        return;
    }
    snprintf(f->dir, sizeof f->dir, "%s/idflow-store-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->url, sizeof f->url, "sqlite:%s/test.db", f->dir);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct idf_err err = {0};
    make_url(f);
    if (store_open(f->url, &f->s, &err) != 0) {
        fprintf(stderr, "store_open(%s): %s\n", f->url, err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    if (f->dir[0])
        rm_dir(f->dir);
    free(f);
    return 0;
}

/* ------------------------------------------------------------- helpers */

/* Ingests one event (source "test") starting n_runs runs of workflow wf v1. */
static int64_t ingest(struct store *s, const char *source_id, const char *wf, size_t n_runs, int64_t *run_ids,
                      bool *dup)
{
    struct store_run_in runs[8];
    struct store_ingest_item it = {0};
    struct idf_err err = {0};

    assert_true(n_runs <= 8);
    for (size_t i = 0; i < n_runs; i++)
        runs[i] = (struct store_run_in){wf, 1};
    it.event = (struct store_event_in){"test", source_id, "manual", NULL, "{\"user\":\"ann@example.com\"}"};
    it.runs = runs;
    it.n_runs = n_runs;
    it.run_ids = run_ids;
    assert_int_equal(store_ingest(s, &it, 1, &err), 0);
    if (dup)
        *dup = it.duplicate;
    return it.event_id;
}

/* One queued run of workflow wf; returns its id. */
static int64_t new_run(struct store *s, const char *wf)
{
    int64_t id = 0;
    ingest(s, NULL, wf, 1, &id, NULL);
    assert_true(id > 0);
    return id;
}

/* Claims exactly one run for owner at now and returns it. */
static struct store_run *claim1(struct store *s, const char *owner, int64_t now)
{
    struct store_run *r[1] = {NULL};
    size_t n = 9;
    struct idf_err err = {0};
    assert_int_equal(store_run_claim(s, owner, now, LEASE, 1, NULL, 0, r, &n, &err), 0);
    assert_int_equal(n, 1);
    return r[0];
}

static size_t claim_count(struct store *s, const char *owner, int64_t now)
{
    struct store_run *r[8] = {NULL};
    size_t n = 9;
    OK(store_run_claim(s, owner, now, LEASE, 8, NULL, 0, r, &n, NULL));
    for (size_t i = 0; i < n; i++)
        store_run_free(r[i]);
    return n;
}

static int commit(struct store *s, int64_t run_id, const char *owner, int64_t now, const char *status, int pc,
                  int64_t wake_at)
{
    struct store_run_next nx = {.status = status, .pc = pc, .wake_at = wake_at};
    return store_step_commit(s, run_id, owner, now, NULL, &nx, NULL);
}

static int64_t count_of(struct store *s, const char *status)
{
    struct store_run_counts c;
    memset(&c, 0xff, sizeof c); /* every count is set by the call */
    OK(store_run_counts(s, &c));
    if (strcmp(status, STORE_RUN_QUEUED) == 0)
        return c.queued;
    if (strcmp(status, STORE_RUN_RUNNING) == 0)
        return c.running;
    if (strcmp(status, STORE_RUN_WAITING) == 0)
        return c.waiting;
    if (strcmp(status, STORE_RUN_SUCCEEDED) == 0)
        return c.succeeded;
    if (strcmp(status, STORE_RUN_FAILED) == 0)
        return c.failed;
    if (strcmp(status, STORE_RUN_HELD) == 0)
        return c.held;
    assert_string_equal(status, STORE_RUN_CANCELLED);
    return c.cancelled;
}

static char *run_status(struct store *s, int64_t id)
{
    static char buf[32];
    struct store_run *r = NULL;
    OK(store_run_get(s, id, &r));
    snprintf(buf, sizeof buf, "%s", r->status);
    store_run_free(r);
    return buf;
}

/* ------------------------------------------------------- open, migrate */

static void test_open_and_migrations(void **state)
{
    struct fx *f = *state;
    struct store *s2 = NULL;
    struct idf_err err = {0};
    int v1 = 0, v2 = 0;
    int64_t ev;
    struct store_event *e = NULL;

    OK(store_schema_version(f->s, &v1));
    assert_true(v1 >= 1);
    ev = ingest(f->s, "persist-1", "wf", 0, NULL, NULL);

    /* Reopening applies nothing new and sees the data. */
    store_close(f->s);
    f->s = NULL;
    OK(store_open(f->url, &f->s, &err));
    OK(store_schema_version(f->s, &v2));
    assert_int_equal(v1, v2);
    OK(store_event_get(f->s, ev, &e));
    assert_string_equal(e->source_id, "persist-1");
    store_event_free(e);

    /* A second connection at the same time sees the same schema. */
    OK(store_open(f->url, &s2, &err));
    OK(store_schema_version(s2, &v2));
    assert_int_equal(v1, v2);
    store_close(s2);
}

static void test_open_urls(void **state)
{
    struct store *s = (struct store *)state; /* any non-NULL value: must be reset */
    struct idf_err err = {0};

    /* PostgreSQL URLs go to its backend, which refuses a malformed one
     * before connecting anywhere. */
    assert_int_equal(store_open("postgresql://[::1/idflow", &s, &err), IDF_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "bad PostgreSQL URL"));
    assert_int_equal(store_open("postgres://[::1/idflow", &s, &err), IDF_EINVAL);
    assert_int_equal(store_open("mysql://localhost/idflow", &s, &err), IDF_EINVAL);
    assert_int_equal(store_open("notes.txt", &s, &err), IDF_EINVAL);
    assert_int_equal(store_open("sqlite:", &s, &err), IDF_EINVAL);
    assert_int_equal(store_open("", &s, &err), IDF_EINVAL);
    /* A folder on the path that is not one (missing folders are created). */
    assert_true(store_open("sqlite:/dev/null/x.db", &s, &err) < 0);
    assert_null(s);
    assert_non_null(strstr(err.msg, "/dev/null/x.db"));
    store_close(NULL);

    /* An in-memory database works for one connection. */
    int v = 0;
    OK(store_open("sqlite::memory:", &s, &err));
    OK(store_schema_version(s, &v));
    assert_true(v >= 1);
    assert_true(new_run(s, "wf") > 0);
    store_close(s);
}

/* A bare path ending in .db is a SQLite database. */
static void test_open_bare_path(void **state)
{
    struct fx *f = *state;
    char path[512];
    struct store *s = NULL;
    int v = 0;

    if (!f->dir[0])
        snprintf(path, sizeof path, "idflow-test-%d.db", (int)getpid());
    else
        snprintf(path, sizeof path, "%s/bare.db", f->dir);
    OK(store_open(path, &s, NULL));
    OK(store_schema_version(s, &v));
    assert_true(v >= 1);
    store_close(s);
    assert_int_equal(access(path, F_OK), 0);
    if (!f->dir[0]) {
        char p2[600];
        unlink(path);
        snprintf(p2, sizeof p2, "%s-wal", path);
        unlink(p2);
        snprintf(p2, sizeof p2, "%s-shm", path);
        unlink(p2);
    }
}

struct opener {
    const char *url;
    pthread_barrier_t *go;
    int rc;
    int version;
};

static void *open_thread(void *arg)
{
    struct opener *o = arg;
    struct store *s = NULL;
    pthread_barrier_wait(o->go);
    o->rc = store_open(o->url, &s, NULL);
    if (o->rc == 0)
        o->rc = store_schema_version(s, &o->version);
    store_close(s);
    return NULL;
}

/* Several connections creating the same fresh database at once all succeed. */
static void test_open_concurrent(void **state)
{
    struct fx *f = *state;
    char url[1100];
    pthread_t t[4];
    struct opener o[4];
    pthread_barrier_t go;
    int v = 0;

    if (!f->dir[0]) /* only meaningful where the test makes its own database */
        snprintf(url, sizeof url, "%s", f->url);
    else
        snprintf(url, sizeof url, "sqlite:%s/fresh.db", f->dir);
    OK(store_schema_version(f->s, &v));
    pthread_barrier_init(&go, NULL, 4);
    for (int i = 0; i < 4; i++) {
        o[i] = (struct opener){url, &go, -100, 0};
        pthread_create(&t[i], NULL, open_thread, &o[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(o[i].rc, 0);
        assert_int_equal(o[i].version, v);
    }
    pthread_barrier_destroy(&go);
}

/* ------------------------------------------------------------ workflows */

static void test_workflow_versions(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t v = 0;
    bool created = false;
    char *src = NULL;
    struct store_workflow_info *list = NULL, *w;
    size_t n = 99;

    OK(store_workflow_save(s, "onboard", "name: onboard # v1", "h1", &v, &created, NULL));
    assert_int_equal(v, 1);
    assert_true(created);
    OK(store_workflow_save(s, "onboard", "name: onboard # v1", "h1", &v, &created, NULL));
    assert_int_equal(v, 1);
    assert_false(created);
    OK(store_workflow_save(s, "onboard", "name: onboard # v2", "h2", &v, &created, NULL));
    assert_int_equal(v, 2);
    assert_true(created);
    OK(store_workflow_save(s, "lockout", "name: lockout", "h9", &v, &created, NULL));
    assert_int_equal(v, 1);

    OK(store_workflow_source(s, "onboard", 0, &src, &v));
    assert_string_equal(src, "name: onboard # v2");
    assert_int_equal(v, 2);
    free(src);
    OK(store_workflow_source(s, "onboard", 1, &src, NULL));
    assert_string_equal(src, "name: onboard # v1");
    free(src);
    assert_int_equal(store_workflow_source(s, "onboard", 3, &src, &v), IDF_ENOTFOUND);
    assert_null(src);
    assert_int_equal(store_workflow_source(s, "nope", 0, &src, &v), IDF_ENOTFOUND);

    /* A disabled workflow stays disabled across new versions. */
    OK(store_workflow_set_enabled(s, "onboard", false));
    OK(store_workflow_save(s, "onboard", "name: onboard # v3", "h3", &v, &created, NULL));
    assert_int_equal(v, 3);
    assert_int_equal(store_workflow_set_enabled(s, "nope", true), IDF_ENOTFOUND);

    OK(store_workflow_list(s, &list, &n));
    assert_int_equal(n, 2);
    w = &list[1]; /* sorted by name: lockout, onboard */
    assert_string_equal(w->name, "onboard");
    assert_int_equal(w->version, 3);
    assert_false(w->enabled);
    assert_string_equal(w->hash, "h3");
    assert_true(w->updated_at > 0);
    assert_string_equal(list[0].name, "lockout");
    assert_true(list[0].enabled);
    store_workflow_list_free(list, n);
    store_workflow_list_free(NULL, 0);
}

/* (helper "inputs") each workflow's newest run, for the workflows list:
 * workflows without runs have no row, the newest is the highest id whatever
 * its status, and the rows are by name */
static void test_workflow_last_runs(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_last_run *rows = (struct store_last_run *)0x1;
    struct idf_err err = {0};
    int64_t v = 0, b1, b2, a1;
    bool created, pending = false;
    size_t n = 99;

    OK(store_workflow_save(s, "wf-b", "name: wf-b", "h1", &v, &created, NULL));
    OK(store_workflow_save(s, "wf-a", "name: wf-a", "h2", &v, &created, NULL));
    OK(store_workflow_save(s, "wf-none", "name: wf-none", "h3", &v, &created, NULL));
    OK(store_workflow_last_runs(s, &rows, &n));
    assert_int_equal(n, 0);
    assert_null(rows);

    b1 = new_run(s, "wf-b");
    a1 = new_run(s, "wf-a");
    b2 = new_run(s, "wf-b");
    OK(store_run_stop(s, b2, "not needed", T0, "cli:test", &pending, &err));
    OK(store_workflow_last_runs(s, &rows, &n));
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].workflow, "wf-a");
    assert_int_equal(rows[0].id, a1);
    assert_string_equal(rows[0].status, STORE_RUN_QUEUED);
    assert_true(rows[0].created_at > 0);
    assert_string_equal(rows[1].workflow, "wf-b");
    assert_int_equal(rows[1].id, b2);
    assert_true(b2 > b1);
    assert_string_equal(rows[1].status, STORE_RUN_CANCELLED);
    store_workflow_last_runs_free(rows, n);
    store_workflow_last_runs_free(NULL, 0);
}

/* --------------------------------------------------------------- events */

static void test_ingest_dedup(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_run_in two[2] = {{"wf-a", 1}, {"wf-b", 2}};
    int64_t ids[4][2] = {{0}};
    struct store_ingest_item it[4] = {0};
    struct store_event *e = NULL;
    struct idf_err err = {0};

    for (int i = 0; i < 4; i++) {
        it[i].runs = two;
        it[i].n_runs = 2;
        it[i].run_ids = ids[i];
    }
    it[0].event = (struct store_event_in){"okta", "uuid-1", "okta.user_locked", "okta-prod", "{\"n\":1}"};
    it[1].event = (struct store_event_in){"okta", "uuid-1", "okta.user_locked", "okta-prod", "{\"n\":2}"};
    it[2].event = (struct store_event_in){"happyfox", "uuid-1", "happyfox.ticket_created", NULL, "{\"n\":3}"};
    it[3].event = (struct store_event_in){"manual", NULL, "manual", NULL, "[1,2]"};
    OK(store_ingest(s, it, 4, &err));

    assert_false(it[0].duplicate);
    assert_true(it[1].duplicate); /* same source + id within the batch */
    assert_int_equal(it[1].event_id, it[0].event_id);
    assert_int_equal(ids[1][0], 0); /* no runs for a duplicate */
    assert_false(it[2].duplicate);  /* same id, other source */
    assert_false(it[3].duplicate);
    assert_null(it[3].event.source_id); /* the caller's item is left as it was */
    assert_true(ids[0][0] > 0 && ids[0][1] > ids[0][0]);
    assert_true(ids[2][0] > 0 && ids[3][1] > 0);
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 6);

    /* Delivered again later: duplicate, same event id, nothing new. */
    it[0].duplicate = false;
    it[0].run_ids = ids[1];
    OK(store_ingest(s, it, 1, &err));
    assert_true(it[0].duplicate);
    assert_int_equal(it[0].event_id, it[1].event_id);
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 6);

    /* Two events without an id are never duplicates of each other. */
    bool dup = true;
    int64_t a = ingest(s, NULL, "wf", 0, NULL, &dup);
    assert_false(dup);
    int64_t b = ingest(s, NULL, "wf", 0, NULL, &dup);
    assert_false(dup);
    assert_true(b != a);

    OK(store_event_get(s, it[0].event_id, &e));
    assert_int_equal(e->id, it[0].event_id);
    assert_string_equal(e->source, "okta");
    assert_string_equal(e->source_id, "uuid-1");
    assert_string_equal(e->type, "okta.user_locked");
    assert_string_equal(e->connection, "okta-prod");
    assert_string_equal(e->data, "{\"n\":1}"); /* first wins, as sent */
    assert_true(e->received_at > 0);
    assert_int_equal(e->stage, STORE_EVENT_DONE);
    assert_int_equal(e->tries, 0);
    assert_null(e->note);
    store_event_free(e);
    OK(store_event_get(s, it[3].event_id, &e));
    assert_int_equal(strlen(e->source_id), 32);
    assert_null(e->connection);
    store_event_free(e);
    e = (struct store_event *)state; /* any non-NULL value: must be reset */
    assert_int_equal(store_event_get(s, 999999, &e), IDF_ENOTFOUND);
    assert_null(e);

    /* The run carries its event's data. */
    struct store_run *r = NULL;
    OK(store_run_get(s, ids[0][1], &r));
    assert_string_equal(r->workflow, "wf-b");
    assert_int_equal(r->version, 2);
    assert_int_equal(r->event_id, it[1].event_id);
    assert_string_equal(r->status, STORE_RUN_QUEUED);
    assert_string_equal(r->event, "{\"n\":1}");
    assert_null(r->context);
    assert_int_equal(r->pc, 0);
    assert_int_equal(r->finished_at, 0);
    assert_int_equal(r->rerun_of, 0);
    store_run_free(r);
}

/* Events acknowledged before matching (stage MATCH) and deliveries to expand
 * (stage EXPAND): listed while waiting, settled or expanded exactly once, put
 * off and given up with a note. */
static void test_event_stages(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_ingest_item it[3] = {0}, ex[2] = {0};
    struct store_event *w[8] = {0};
    struct store_run_in runs[2] = {{"wf-a", 1}, {"wf-b", 1}};
    struct store_settle st[2] = {0};
    int64_t ids[2][2] = {{0}}, created;
    size_t n = 0;
    struct store_event *e = NULL;
    struct idf_err err = {0};

    it[0].event = (struct store_event_in){"okta", "e-1", "okta.user_locked", "sb", "{\"n\":1}", STORE_EVENT_MATCH};
    it[1].event = (struct store_event_in){"happyfox", NULL, "happyfox.delivery", "hd", "{\"ticket\":7}",
                                          STORE_EVENT_EXPAND};
    it[2].event = (struct store_event_in){"okta", "e-2", "okta.user_locked", "sb", "{\"n\":2}", STORE_EVENT_MATCH};
    OK(store_ingest(s, it, 3, &err));
    /* runs cannot be given with an event that is matched later */
    {
        struct store_ingest_item bad = it[0];
        int64_t rid = 0;
        bad.event.source_id = "e-3";
        bad.runs = runs;
        bad.n_runs = 1;
        bad.run_ids = &rid;
        assert_int_equal(store_ingest(s, &bad, 1, &err), IDF_EINVAL);
    }

    OK(store_events_pending(s, STORE_EVENT_MATCH, T0, 8, w, &n, &err));
    assert_int_equal(n, 2);
    assert_int_equal(w[0]->id, it[0].event_id); /* oldest first */
    assert_string_equal(w[0]->type, "okta.user_locked");
    assert_string_equal(w[0]->data, "{\"n\":1}");
    assert_string_equal(w[1]->connection, "sb");
    for (size_t i = 0; i < n; i++)
        store_event_free(w[i]);
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 0);

    /* settling creates the runs and takes the events out of the stage, once */
    st[0] = (struct store_settle){.event_id = it[0].event_id, .runs = runs, .n_runs = 2, .run_ids = ids[0]};
    st[1] = (struct store_settle){.event_id = it[2].event_id, .note = "workflow x: when[0] failed", .run_ids = ids[1]};
    OK(store_events_settle(s, st, 2, &err));
    assert_true(st[0].settled && st[1].settled);
    assert_true(ids[0][0] > 0 && ids[0][1] > ids[0][0]);
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 2);
    OK(store_events_settle(s, st, 2, &err)); /* a second matcher: nothing more */
    assert_false(st[0].settled || st[1].settled);
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 2);
    OK(store_events_pending(s, STORE_EVENT_MATCH, T0, 8, w, &n, &err));
    assert_int_equal(n, 0);
    OK(store_event_get(s, it[2].event_id, &e));
    assert_int_equal(e->stage, STORE_EVENT_DONE);
    assert_string_equal(e->note, "workflow x: when[0] failed");
    store_event_free(e);

    /* the delivery: put off (not due before its time), then expanded into
     * events in its place, once */
    OK(store_events_pending(s, STORE_EVENT_EXPAND, T0, 8, w, &n, &err));
    assert_int_equal(n, 1);
    assert_int_equal(w[0]->tries, 0);
    store_event_free(w[0]);
    OK(store_event_retry(s, it[1].event_id, T0 + 5000, "HappyFox answered 502", false, &err));
    OK(store_events_pending(s, STORE_EVENT_EXPAND, T0, 8, w, &n, &err));
    assert_int_equal(n, 0);
    OK(store_events_pending(s, STORE_EVENT_EXPAND, T0 + 5000, 8, w, &n, &err));
    assert_int_equal(n, 1);
    assert_int_equal(w[0]->tries, 1);
    store_event_free(w[0]);
    ex[0].event = (struct store_event_in){"happyfox", "hd:7:created", "happyfox.ticket_created", "hd", "{}",
                                          STORE_EVENT_MATCH};
    ex[1].event = (struct store_event_in){"okta", "e-1", "okta.user_locked", "sb", "{}", STORE_EVENT_MATCH};
    OK(store_event_expand(s, it[1].event_id, ex, 2, NULL, &err));
    assert_false(ex[0].duplicate);
    assert_true(ex[1].duplicate); /* deduplicated as any ingest */
    created = ex[0].event_id;
    assert_int_equal(store_event_expand(s, it[1].event_id, ex, 1, NULL, &err), IDF_ESTATE);
    OK(store_events_pending(s, STORE_EVENT_EXPAND, INT64_MAX, 8, w, &n, &err));
    assert_int_equal(n, 0);
    OK(store_events_pending(s, STORE_EVENT_MATCH, T0, 8, w, &n, &err));
    assert_int_equal(n, 1);
    assert_int_equal(w[0]->id, created);
    store_event_free(w[0]);

    /* given up: out of every stage, with the reason */
    OK(store_event_retry(s, created, 0, "given up: no such ticket", true, &err));
    OK(store_events_pending(s, STORE_EVENT_MATCH, INT64_MAX, 8, w, &n, &err));
    assert_int_equal(n, 0);
    assert_int_equal(store_event_retry(s, created, 0, "again", false, &err), IDF_ESTATE);
    OK(store_event_get(s, created, &e));
    assert_int_equal(e->stage, STORE_EVENT_DONE);
    assert_string_equal(e->note, "given up: no such ticket");
    store_event_free(e);
    assert_int_equal(store_events_pending(s, STORE_EVENT_DONE, T0, 8, w, &n, &err), IDF_EINVAL);
}

/* Issue 20: event data the backend may store compressed (SQLite packs data
 * of 1 KiB or more) reads back byte for byte through every read of it: the
 * event, a run's event (get and claim), the pending events, the replay's
 * list. Sizes around the threshold, UTF-8, and noise that shrinks little. */
static char *event_text(size_t size, unsigned seed)
{
    static const char fill[] = "{\"k\":\"d\\u00e9j\\u00e0 vu \xc3\xa9t\xc3\xa9 \xf0\x9f\x94\x92 Mark Taylor\"},";
    char *t = malloc(size + 1);
    size_t n = 0;
    assert_non_null(t);
    t[n++] = '[';
    while (n + sizeof fill + 2 < size) {
        if (seed) { /* printable noise: shrinks far less than JSON */
            for (size_t i = 0; i < 40; i++) {
                seed = seed * 1103515245u + 12345u;
                t[n++] = (char)('#' + (seed >> 16) % 57); /* '#'..'[': no quote, no backslash */
            }
            continue;
        }
        memcpy(t + n, fill, sizeof fill - 1);
        n += sizeof fill - 1;
    }
    if (seed) {
        memmove(t + 2, t + 1, n - 1);
        t[1] = '"';
        n++;
        t[n++] = '"';
    } else if (t[n - 1] == ',') {
        n--;
    }
    while (n + 1 < size) /* pad to the exact size with spaces (still JSON) */
        t[n++] = ' ';
    t[n++] = ']';
    t[n] = '\0';
    assert_int_equal(strlen(t), size);
    return t;
}

static void test_event_data_reads_back(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    const size_t sizes[] = {2, 1023, 1024, 1025, 2435, 70000};
    enum { N = sizeof sizes / sizeof sizes[0] + 1 };
    char *text[N];
    struct store_ingest_item it[N], pend = {0};
    struct store_run_in run = {"wf", 1};
    int64_t run_ids[N];
    struct store_event *list = NULL, *w[2] = {NULL};
    size_t n = 0;
    struct idf_err err = {0};
    char sid[32];

    memset(it, 0, sizeof it);
    for (size_t i = 0; i < N; i++) {
        text[i] = i + 1 < N ? event_text(sizes[i], 0) : event_text(3000, 7);
        snprintf(sid, sizeof sid, "big-%zu", i);
        it[i].event = (struct store_event_in){"test", strdup(sid), "manual", NULL, text[i]};
        it[i].runs = &run;
        it[i].n_runs = 1;
        it[i].run_ids = &run_ids[i];
    }
    OK(store_ingest(s, it, N, &err));
    for (size_t i = 0; i < N; i++) {
        struct store_event *e = NULL;
        struct store_run *r = NULL;
        OK(store_event_get(s, it[i].event_id, &e));
        assert_string_equal(e->data, text[i]);
        store_event_free(e);
        OK(store_run_get(s, run_ids[i], &r));
        assert_string_equal(r->event, text[i]);
        store_run_free(r);
        r = claim1(s, "w", T0);
        assert_int_equal(r->id, run_ids[i]);
        assert_string_equal(r->event, text[i]);
        store_run_free(r);
    }
    OK(store_event_list(s, 0, 0, 100, &list, &n));
    assert_int_equal(n, N);
    for (size_t i = 0; i < N; i++)
        assert_string_equal(list[i].data, text[i]);
    store_event_list_free(list, n);
    /* an event matched later, read back by the matcher */
    pend.event = (struct store_event_in){"okta", "big-pending", "okta.user_locked", "sb", text[4], STORE_EVENT_MATCH};
    OK(store_ingest(s, &pend, 1, &err));
    OK(store_events_pending(s, STORE_EVENT_MATCH, T0, 2, w, &n, &err));
    assert_int_equal(n, 1);
    assert_string_equal(w[0]->data, text[4]);
    store_event_free(w[0]);
    for (size_t i = 0; i < N; i++) {
        free((char *)it[i].event.source_id);
        free(text[i]);
    }
}

/* A batch that fails validation writes nothing at all. */
static void test_ingest_rejects_whole_batch(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_run_in run = {"wf", 1};
    int64_t ids[2][1];
    struct store_ingest_item it[2] = {0};
    char big[400];
    struct idf_err err = {0};

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    it[0].event = (struct store_event_in){"okta", "ok-1", "okta.user_locked", NULL, "{}"};
    it[1].event = (struct store_event_in){"okta", big, "okta.user_locked", NULL, "{}"};
    for (int i = 0; i < 2; i++) {
        it[i].runs = &run;
        it[i].n_runs = 1;
        it[i].run_ids = ids[i];
    }
    assert_int_equal(store_ingest(s, it, 2, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "event 1"));
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 0);
    it[1].event.source_id = "ok-2";
    it[1].event.data = NULL;
    assert_true(store_ingest(s, it, 2, &err) < 0);
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 0);
}

#define BATCH 32
#define BATCHES 20

struct batch_writer {
    const char *url;
    int rc;
};

static void *ingest_batches(void *arg)
{
    struct batch_writer *w = arg;
    struct store *s = NULL;
    struct store_run_in run = {"wf", 1};
    int64_t ids[BATCH];
    struct store_ingest_item it[BATCH];

    w->rc = store_open(w->url, &s, NULL);
    for (int b = 0; b < BATCHES && w->rc == 0; b++) {
        memset(it, 0, sizeof it);
        for (int i = 0; i < BATCH; i++) {
            it[i].event = (struct store_event_in){"test", NULL, "manual", NULL, "{}"};
            it[i].runs = &run;
            it[i].n_runs = 1;
            it[i].run_ids = &ids[i];
        }
        w->rc = store_ingest(s, it, BATCH, NULL);
    }
    store_close(s);
    return NULL;
}

/* A batch is one transaction: a reader on another connection sees all of a
 * batch's runs or none of them, never a part. The writer thread is joined
 * before any assertion: a cmocka assertion longjmps out of the test, and a
 * writer left running would race the teardown (which closes the store and
 * removes the database under it). */
static void test_ingest_batch_is_one_transaction(void **state)
{
    struct fx *f = *state;
    struct batch_writer w = {f->url, -100};
    pthread_t t;
    int64_t deadline = time_mono_ns() + 30LL * 1000000000;
    int64_t seen = 0, partial = -1;
    int observations = 0, read_rc = 0;

    assert_int_equal(pthread_create(&t, NULL, ingest_batches, &w), 0);
    while (seen < BATCH * BATCHES && time_mono_ns() < deadline) {
        struct store_run_counts c;
        read_rc = store_run_counts(f->s, &c);
        if (read_rc)
            break;
        seen = c.queued;
        if (seen % BATCH) {
            partial = seen; /* a part of a batch: the failure, reported after the join */
            break;
        }
        observations++;
    }
    pthread_join(t, NULL);
    assert_int_equal(read_rc, 0);
    assert_int_equal(partial, -1);
    assert_int_equal(w.rc, 0);
    assert_int_equal(count_of(f->s, STORE_RUN_QUEUED), BATCH * BATCHES);
    assert_true(observations > 0);
}

/* ------------------------------------------------------------- claiming */

static void test_claim_oldest_first_one_owner(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t id[5];
    struct store_run *r[8] = {NULL};
    size_t n = 0;

    for (int i = 0; i < 5; i++)
        id[i] = new_run(s, "wf");
    OK(store_run_claim(s, "node-a", T0, LEASE, 3, NULL, 0, r, &n, NULL));
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i]->id, id[i]);
        assert_string_equal(r[i]->status, STORE_RUN_RUNNING);
        assert_string_equal(r[i]->workflow, "wf");
        assert_non_null(r[i]->event);
        store_run_free(r[i]);
    }
    OK(store_run_claim(s, "node-b", T0, LEASE, 8, NULL, 0, r, &n, NULL));
    assert_int_equal(n, 2);
    assert_int_equal(r[0]->id, id[3]);
    assert_int_equal(r[1]->id, id[4]);
    store_run_free(r[0]);
    store_run_free(r[1]);
    assert_int_equal(claim_count(s, "node-c", T0), 0); /* all leased */
    assert_int_equal(count_of(s, STORE_RUN_RUNNING), 5);
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 0);
    OK(store_run_claim(s, "node-c", T0, LEASE, 0, NULL, 0, NULL, &n, NULL));
    assert_int_equal(n, 0);
}

#define CONC_RUNS 300

struct claimer {
    const char *url;
    const char *owner;
    pthread_barrier_t *go;
    int64_t got[CONC_RUNS];
    size_t n;
    int rc;
};

static void *claim_loop(void *arg)
{
    struct claimer *c = arg;
    struct store *s = NULL;
    struct store_run *r[4];
    size_t n;

    c->rc = store_open(c->url, &s, NULL);
    pthread_barrier_wait(c->go);
    while (c->rc == 0) {
        c->rc = store_run_claim(s, c->owner, T0, LEASE, 4, NULL, 0, r, &n, NULL);
        if (c->rc || n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            struct store_step_rec st = {0, "only", -1, STORE_STEP_SUCCEEDED, 1, NULL, "{}", NULL, T0, T0};
            struct store_run_next nx = {.status = STORE_RUN_SUCCEEDED, .pc = 1};
            if (c->rc == 0)
                c->rc = store_step_commit(s, r[i]->id, c->owner, T0, &st, &nx, NULL);
            if (c->n < CONC_RUNS)
                c->got[c->n++] = r[i]->id;
            store_run_free(r[i]);
        }
    }
    store_close(s);
    return NULL;
}

/* Two connections on two threads claiming at once never get the same run. */
static void test_claim_concurrent_threads(void **state)
{
    struct fx *f = *state;
    static struct claimer c[2];
    pthread_t t[2];
    pthread_barrier_t go;
    int64_t first = 0;
    unsigned char *seen = calloc(CONC_RUNS, 1);

    for (int i = 0; i < CONC_RUNS; i++) {
        int64_t id = new_run(f->s, "wf");
        if (i == 0)
            first = id;
    }
    pthread_barrier_init(&go, NULL, 2);
    for (int i = 0; i < 2; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].url = f->url;
        c[i].owner = i ? "worker-b" : "worker-a";
        c[i].go = &go;
        pthread_create(&t[i], NULL, claim_loop, &c[i]);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].rc, 0);
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(c[0].n + c[1].n, CONC_RUNS);
    for (int i = 0; i < 2; i++)
        for (size_t j = 0; j < c[i].n; j++) {
            int64_t k = c[i].got[j] - first;
            assert_true(k >= 0 && k < CONC_RUNS);
            assert_int_equal(seen[k], 0); /* claimed once only */
            seen[k] = 1;
        }
    free(seen);
    assert_int_equal(count_of(f->s, STORE_RUN_SUCCEEDED), CONC_RUNS);
    assert_int_equal(count_of(f->s, STORE_RUN_RUNNING), 0);
}

/* A dead owner's lease expires; the run is taken over, and the old owner can
 * neither commit nor renew. */
static void test_lease_expiry(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t id = new_run(s, "wf");
    struct store_run *r = claim1(s, "node-a", T0);
    struct store_step_rec st = {0, "user", -1, STORE_STEP_SUCCEEDED, 1, "{}", "{\"id\":\"00u1\"}", NULL, T0, T0};
    struct store_run_next nx = {.status = STORE_RUN_RUNNING, .pc = 1, .context = "{\"late\":true}"};
    struct store_step *steps = NULL;
    size_t n = 99;
    struct idf_err err = {0};

    assert_int_equal(r->id, id);
    store_run_free(r);
    assert_int_equal(claim_count(s, "node-b", T0 + LEASE - 1), 0); /* still leased */
    OK(store_run_renew(s, id, "node-a", T0 + 2 * LEASE));
    assert_int_equal(claim_count(s, "node-b", T0 + LEASE + 1), 0); /* renewed */

    r = claim1(s, "node-b", T0 + 2 * LEASE + 1); /* expired: taken over */
    assert_int_equal(r->id, id);
    assert_int_equal(r->attempt, 1); /* node-a's attempt may have landed: it counts */
    store_run_free(r);

    assert_int_equal(store_step_commit(s, id, "node-a", T0 + 2 * LEASE + 2, &st, &nx, &err), IDF_ESTATE);
    assert_non_null(strstr(err.msg, "lease"));
    OK(store_step_list(s, id, &steps, &n));
    assert_int_equal(n, 0); /* nothing written */
    assert_null(steps);
    OK(store_run_get(s, id, &r));
    assert_int_equal(r->pc, 0);
    assert_null(r->context);
    store_run_free(r);
    assert_int_equal(store_run_renew(s, id, "node-a", T0 + 5 * LEASE), IDF_ESTATE);

    OK(store_step_commit(s, id, "node-b", T0 + 2 * LEASE + 3, &st, &nx, &err)); /* the new owner can */
    assert_int_equal(store_step_commit(s, 424242, "node-b", T0, NULL, &nx, &err), IDF_ENOTFOUND);
}

/* Waiting runs become claimable at wake_at; wake_at 0 waits for a decision. */
static void test_waiting_wake(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t a = new_run(s, "wf"), b = new_run(s, "wf"), wake = 0;
    struct store_run *r;

    r = claim1(s, "w", T0);
    store_run_free(r);
    r = claim1(s, "w", T0);
    store_run_free(r);
    OK(commit(s, a, "w", T0 + 1, STORE_RUN_WAITING, 1, T0 + 5000));
    OK(commit(s, b, "w", T0 + 1, STORE_RUN_WAITING, 1, 0));
    assert_int_equal(count_of(s, STORE_RUN_WAITING), 2);
    OK(store_next_wake(s, &wake));
    assert_int_equal(wake, T0 + 5000);

    assert_int_equal(claim_count(s, "w", T0 + 4999), 0);
    r = claim1(s, "w", T0 + 5000);
    assert_int_equal(r->id, a);
    assert_int_equal(r->pc, 1);
    store_run_free(r);
    OK(commit(s, a, "w", T0 + 5001, STORE_RUN_SUCCEEDED, 2, 0));
    assert_int_equal(claim_count(s, "w", T0 + 1000000), 0); /* b: no deadline */
    OK(store_next_wake(s, &wake));
    assert_int_equal(wake, 0);
}

static void test_step_commit_states(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t id = new_run(s, "wf");
    struct store_run *r = claim1(s, "w", T0);
    struct store_step_rec st = {0, "user", -1, STORE_STEP_STARTED, 1, "{\"login\":\"ann\"}", NULL, NULL, T0, 0};
    struct store_run_next nx = {.status = STORE_RUN_RUNNING, .pc = 0, .context = "{\"steps\":{}}"};
    struct store_step *steps = NULL, *x;
    size_t n = 0;
    struct idf_err err = {0};

    store_run_free(r);
    /* "running" keeps the lease: nobody else can claim before it expires. */
    OK(store_step_commit(s, id, "w", T0 + 10, &st, &nx, &err));
    assert_int_equal(claim_count(s, "other", T0 + LEASE - 1), 0);

    /* The step record is an upsert on (run, index, item). */
    st.status = STORE_STEP_SUCCEEDED;
    st.output = "{\"id\":\"00u1\"}";
    st.finished_at = T0 + 20;
    nx.pc = 1;
    nx.context = NULL; /* keeps the stored context */
    OK(store_step_commit(s, id, "w", T0 + 20, &st, &nx, &err));
    struct store_step_rec st2 = {1,       "groups", 0, STORE_STEP_FAILED, 3, NULL, NULL, "{\"message\":\"E0000007\"}",
                                 T0 + 21, T0 + 22};
    struct store_run_next fin = {.status = STORE_RUN_FAILED, .pc = 1, .attempt = 3, .error = "step groups failed"};
    OK(store_step_commit(s, id, "w", T0 + 30, &st2, &fin, &err));

    OK(store_run_get(s, id, &r));
    assert_string_equal(r->status, STORE_RUN_FAILED);
    assert_string_equal(r->context, "{\"steps\":{}}");
    assert_string_equal(r->error, "step groups failed");
    assert_int_equal(r->attempt, 3);
    assert_int_equal(r->finished_at, T0 + 30);
    assert_int_equal(r->updated_at, T0 + 30);
    store_run_free(r);
    /* Finished: no lease left; the old owner cannot write any more. */
    assert_int_equal(store_step_commit(s, id, "w", T0 + 40, NULL, &nx, &err), IDF_ESTATE);
    assert_int_equal(claim_count(s, "other", T0 + 10 * LEASE), 0);

    OK(store_step_list(s, id, &steps, &n));
    assert_int_equal(n, 2);
    x = &steps[0];
    assert_int_equal(x->index, 0);
    assert_int_equal(x->item, -1);
    assert_string_equal(x->step_id, "user");
    assert_string_equal(x->status, "succeeded");
    assert_int_equal(x->attempts, 1);
    assert_string_equal(x->input, "{\"login\":\"ann\"}"); /* JSON texts come back as stored */
    assert_string_equal(x->output, "{\"id\":\"00u1\"}");
    assert_null(x->error);
    assert_int_equal(x->started_at, T0);
    assert_int_equal(x->finished_at, T0 + 20);
    x = &steps[1];
    assert_int_equal(x->index, 1);
    assert_int_equal(x->item, 0);
    assert_int_equal(x->attempts, 3);
    assert_null(x->input);
    assert_null(x->output);
    assert_string_equal(x->error, "{\"message\":\"E0000007\"}");
    store_step_list_free(steps, n);

    /* Bad input is refused before anything is written. */
    nx.status = "exploded";
    assert_int_equal(store_step_commit(s, id, "w", T0, NULL, &nx, &err), IDF_EINVAL);

    /* "queued" hands the run back: claimable at once by anyone. */
    int64_t id2 = new_run(s, "wf");
    r = claim1(s, "w", T0);
    assert_int_equal(r->id, id2);
    store_run_free(r);
    OK(commit(s, id2, "w", T0 + 1, STORE_RUN_QUEUED, 2, 0));
    r = claim1(s, "other", T0 + 2);
    assert_int_equal(r->id, id2);
    assert_int_equal(r->pc, 2);
    store_run_free(r);
}

static void test_release_leases(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t n = -1;

    new_run(s, "wf");
    new_run(s, "wf");
    new_run(s, "wf");
    store_run_free(claim1(s, "node-a", T0));
    store_run_free(claim1(s, "node-a", T0));
    store_run_free(claim1(s, "node-b", T0));
    OK(store_release_leases(s, "node-a", &n));
    assert_int_equal(n, 2);
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 2);
    assert_int_equal(claim_count(s, "node-c", T0 + 1), 2); /* at once, no expiry needed */
    OK(store_release_leases(s, "node-z", &n));
    assert_int_equal(n, 0);
    assert_int_equal(claim_count(s, "node-d", T0 + 2), 0);
}

/* A node's workers lease as "<node>/w<N>"; a restarted node releases them all,
 * and each released run counts the interrupted attempt. */
static void test_release_worker_leases(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t n = -1, a = new_run(s, "wf"), b = new_run(s, "wf"), c = new_run(s, "wf");
    struct store_run *r = NULL;

    store_run_free(claim1(s, "node-a/w0", T0));
    store_run_free(claim1(s, "node-a/w1", T0));
    store_run_free(claim1(s, "node-ab/w0", T0)); /* another node whose name starts alike */
    OK(store_release_leases(s, "node-a", &n));
    assert_int_equal(n, 2);
    OK(store_run_get(s, a, &r));
    assert_string_equal(r->status, STORE_RUN_QUEUED);
    assert_int_equal(r->attempt, 1);
    store_run_free(r);
    OK(store_run_get(s, b, &r));
    assert_int_equal(r->attempt, 1);
    store_run_free(r);
    OK(store_run_get(s, c, &r));
    assert_string_equal(r->status, STORE_RUN_RUNNING);
    assert_int_equal(r->attempt, 0);
    store_run_free(r);
}

/* Poison runs: `interrupted` counts the takeovers from a dead owner (an
 * expired lease in a claim or claim by id, a restarted node's release) in a
 * row; a commit that leaves pc and item as they were keeps it, one that moves
 * the run on (pc or item) sets it back to 0. */
static void test_interrupted_counts_dead_owners(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t id = new_run(s, "wf"), n = 0;
    struct store_run *r;
    struct store_run_next nx = {.status = STORE_RUN_RUNNING};
    struct idf_err err = {0};

    r = claim1(s, "node-a/w0", T0);
    assert_int_equal(r->interrupted, 0); /* a queued run: nobody died */
    store_run_free(r);
    OK(store_run_begin(s, id, "node-a/w0", T0 + LEASE));
    assert_int_equal(claim_count(s, "node-b/w0", T0 + LEASE - 1), 0); /* still leased */
    r = claim1(s, "node-b/w0", T0 + LEASE + 1);                       /* node-a died: its lease expired */
    assert_int_equal(r->id, id);
    assert_int_equal(r->interrupted, 1);
    assert_int_equal(r->attempt, 1);
    store_run_free(r);
    assert_int_equal(store_run_begin(s, id, "node-a/w0", T0 + 3 * LEASE), IDF_ESTATE); /* not node-a's any more */
    OK(store_run_begin(s, id, "node-b/w0", T0 + LEASE + 2));
    OK(store_release_leases(s, "node-b", &n)); /* node-b died and restarted */
    assert_int_equal(n, 1);
    OK(store_run_get(s, id, &r));
    assert_string_equal(r->status, STORE_RUN_QUEUED);
    assert_int_equal(r->interrupted, 2);
    store_run_free(r);
    r = claim1(s, "node-b/w1", T0 + LEASE + 2); /* queued: the takeover was counted once */
    assert_int_equal(r->interrupted, 2);
    store_run_free(r);
    OK(store_run_begin(s, id, "node-b/w1", T0 + LEASE + 2 + LEASE));

    /* commits at the same step (an intent, a retry's wait) keep the count */
    OK(store_step_commit(s, id, "node-b/w1", T0 + LEASE + 3, NULL, &nx, &err));
    OK(commit(s, id, "node-b/w1", T0 + LEASE + 4, STORE_RUN_WAITING, 0, T0 + LEASE + 5));
    r = claim1(s, "node-b/w1", T0 + LEASE + 5); /* a due wait is no takeover */
    assert_int_equal(r->interrupted, 2);
    store_run_free(r);
    /* a commit that moves pc on sets it back to 0 */
    nx.pc = 1;
    OK(store_step_commit(s, id, "node-b/w1", T0 + LEASE + 6, NULL, &nx, &err));
    OK(store_run_get(s, id, &r));
    assert_int_equal(r->interrupted, 0);
    store_run_free(r);

    /* claim by id counts a takeover too; moving to the next foreach item resets */
    OK(store_run_begin(s, id, "node-b/w1", T0 + 2 * LEASE));
    OK(store_run_claim_id(s, id, "cli-1", T0 + 3 * LEASE, LEASE, &r, &err));
    assert_non_null(r);
    assert_int_equal(r->interrupted, 1);
    store_run_free(r);
    nx.item = 1;
    OK(store_step_commit(s, id, "cli-1", T0 + 3 * LEASE + 1, NULL, &nx, &err));
    OK(store_run_get(s, id, &r));
    assert_int_equal(r->interrupted, 0);
    assert_int_equal(r->pc, 1);
    assert_int_equal(r->item, 1);
    store_run_free(r);
}

/* A worker claims runs in a batch and executes them in turn: when it dies,
 * only the run it had begun (store_run_begin) counts an interruption, not
 * those still waiting their turn (else one poison run would fail the innocent
 * runs batched with it). */
static void test_interrupted_only_begun(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t a = new_run(s, "wf"), b = new_run(s, "wf"), c = new_run(s, "wf"), n = 0;
    struct store_run *r[3] = {NULL};
    size_t got = 0;

    OK(store_run_claim(s, "node-a/w0", T0, LEASE, 3, NULL, 0, r, &got, NULL));
    assert_int_equal(got, 3);
    /* the owner executes the first run a claim hands out at once: the claim marks it begun */
    assert_true(r[0]->id == a && r[0]->begun);
    assert_false(r[1]->begun || r[2]->begun);
    for (size_t i = 0; i < got; i++)
        store_run_free(r[i]);
    OK(store_run_begin(s, a, "node-a/w0", T0 + LEASE)); /* a began; b and c wait their turn */
    OK(store_release_leases(s, "node-a", &n));
    assert_int_equal(n, 3);
    OK(store_run_get(s, a, &r[0]));
    assert_int_equal(r[0]->interrupted, 1);
    store_run_free(r[0]);
    OK(store_run_get(s, b, &r[0]));
    assert_int_equal(r[0]->interrupted, 0);
    store_run_free(r[0]);

    /* the same through an expired lease */
    OK(store_run_claim(s, "node-b/w0", T0 + 1, LEASE, 3, NULL, 0, r, &got, NULL));
    assert_int_equal(got, 3);
    for (size_t i = 0; i < got; i++)
        store_run_free(r[i]);
    OK(store_run_begin(s, c, "node-b/w0", T0 + 1 + LEASE));
    OK(store_run_claim(s, "node-c/w0", T0 + 2 * LEASE, LEASE, 3, NULL, 0, r, &got, NULL));
    assert_int_equal(got, 3);
    for (size_t i = 0; i < got; i++) {
        /* a: twice the first of a claim; c: begun; b: never */
        assert_int_equal(r[i]->interrupted, r[i]->id == a ? 2 : r[i]->id == c ? 1 : 0);
        store_run_free(r[i]);
    }

    /* the commit that ends a run can begin the owner's next one in its transaction */
    {
        struct store_run_next done = {STORE_RUN_SUCCEEDED, 1, 0, 0, "{}", 0, NULL, NULL, NULL};
        struct idf_err err = {0};
        done.begin_run = b;
        done.begin_lease_until = T0 + 4 * LEASE;
        OK(store_step_commit(s, a, "node-c/w0", T0 + 2 * LEASE, NULL, &done, &err));
        OK(store_release_leases(s, "node-c", &n));
        assert_int_equal(n, 2);
        OK(store_run_get(s, b, &r[0]));
        assert_int_equal(r[0]->interrupted, 1); /* b had begun when node-c died */
        store_run_free(r[0]);
        OK(store_run_get(s, c, &r[0]));
        assert_int_equal(r[0]->interrupted, 1); /* c waited its turn: not counted again */
        store_run_free(r[0]);
    }
}

/* A cancellation asked of a running run whose owner then died: the next
 * claim (or claim by id, or the restarted node's release) ends it cancelled
 * with the reason asked and never hands it out. While the owner's lease
 * lasts, nothing changes (its own next commit applies it). */
static void test_stop_dead_owner(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t a = new_run(s, "wf"), b = new_run(s, "wf"), c = new_run(s, "wf"), d = new_run(s, "wf"), n = -1;
    struct store_run *r = NULL;
    struct idf_err err = {0};
    bool pending = false;

    store_run_free(claim1(s, "node-a/w0", T0)); /* a */
    store_run_free(claim1(s, "node-a/w0", T0)); /* b */
    store_run_free(claim1(s, "node-z/w0", T0)); /* c */
    store_run_free(claim1(s, "node-y/w0", T0)); /* d */
    OK(store_run_stop(s, a, "cancelled by cli:ann: wrong user", T0 + 1, "cli:ann", &pending, &err));
    assert_true(pending);
    OK(store_run_stop(s, c, "cancelled by cli:ann", T0 + 1, "cli:ann", &pending, &err));
    OK(store_run_stop(s, d, "cancelled by token:ops", T0 + 1, "token:ops", &pending, &err));

    assert_int_equal(claim_count(s, "node-b/w0", T0 + LEASE - 1), 0); /* leases still held: nothing */
    assert_string_equal(run_status(s, a), STORE_RUN_RUNNING);

    /* node-a died: its runs' leases expire; a is ended, only b is handed out */
    r = claim1(s, "node-b/w0", T0 + LEASE + 1);
    assert_int_equal(r->id, b);
    store_run_free(r);
    OK(store_run_get(s, a, &r));
    assert_string_equal(r->status, STORE_RUN_CANCELLED);
    assert_string_equal(r->error, "cancelled by cli:ann: wrong user");
    assert_int_equal(r->finished_at, T0 + LEASE + 1);
    store_run_free(r);

    /* claim by id: the same */
    OK(store_run_claim_id(s, c, "cli-9", T0 + 2 * LEASE, LEASE, &r, &err));
    assert_null(r);
    assert_string_equal(run_status(s, c), STORE_RUN_CANCELLED);

    /* a restarted node's release: cancelled, not queued, not counted */
    OK(store_release_leases(s, "node-y", &n));
    assert_int_equal(n, 0);
    OK(store_run_get(s, d, &r));
    assert_string_equal(r->status, STORE_RUN_CANCELLED);
    assert_string_equal(r->error, "cancelled by token:ops");
    assert_true(r->finished_at > 0);
    store_run_free(r);
    assert_int_equal(claim_count(s, "node-y/w0", T0 + LEASE + 2), 0);
    assert_int_equal(count_of(s, STORE_RUN_CANCELLED), 3);
    assert_int_equal(count_of(s, STORE_RUN_RUNNING), 1); /* b */
}

/* store_run_claim_id takes exactly the named run, only when it is runnable. */
static void test_claim_by_id(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t a = new_run(s, "wf"), b = new_run(s, "wf");
    struct store_run *r = NULL;
    struct idf_err err = {0};

    OK(store_run_claim_id(s, b, "cli-1", T0, LEASE, &r, &err));
    assert_non_null(r);
    assert_int_equal(r->id, b);
    store_run_free(r);
    OK(store_run_claim_id(s, b, "cli-2", T0 + 1, LEASE, &r, &err)); /* held: not runnable */
    assert_null(r);
    OK(store_run_claim_id(s, b, "cli-2", T0 + LEASE + 1, LEASE, &r, &err)); /* expired: taken, attempt counted */
    assert_non_null(r);
    assert_int_equal(r->attempt, 1);
    store_run_free(r);
    OK(store_run_get(s, a, &r));
    assert_string_equal(r->status, STORE_RUN_QUEUED); /* the other run was not touched */
    store_run_free(r);
    OK(store_run_claim_id(s, 999999, "cli-3", T0, LEASE, &r, &err));
    assert_null(r);
}

/* --------------------------------------------------------- list, counts */

static void test_run_list_filter(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t a[3], b[3];
    struct store_run_filter f = {0};
    struct store_run *l = NULL;

    for (int i = 0; i < 3; i++) {
        a[i] = new_run(s, "alpha");
        b[i] = new_run(s, "beta");
    }
    /* fail b[1] */
    struct store_run *r[8];
    size_t n = 0;
    OK(store_run_claim(s, "w", T0, LEASE, 8, NULL, 0, r, &n, NULL));
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        const char *st = r[i]->id == b[1] ? STORE_RUN_FAILED : STORE_RUN_SUCCEEDED;
        OK(commit(s, r[i]->id, "w", T0 + 1, st, 1, 0));
        store_run_free(r[i]);
    }

    OK(store_run_list(s, NULL, &l, &n));
    assert_int_equal(n, 6);
    assert_int_equal(l[0].id, b[2]); /* newest first */
    assert_string_equal(l[0].workflow, "beta");
    assert_int_equal(l[0].version, 1);
    assert_true(l[0].event_id > 0);
    assert_string_equal(l[0].status, STORE_RUN_SUCCEEDED);
    assert_int_equal(l[0].pc, 1);
    assert_null(l[0].error);
    assert_int_equal(l[0].updated_at, T0 + 1);
    assert_int_equal(l[0].finished_at, T0 + 1);
    assert_int_equal(l[0].rerun_of, 0);
    assert_null(l[0].context); /* lists stay light */
    assert_null(l[0].event);
    store_run_list_free(l, n);

    f.workflow = "alpha";
    OK(store_run_list(s, &f, &l, &n));
    assert_int_equal(n, 3);
    assert_int_equal(l[2].id, a[0]);
    store_run_list_free(l, n);

    f.workflow = NULL;
    f.status = STORE_RUN_FAILED;
    OK(store_run_list(s, &f, &l, &n));
    assert_int_equal(n, 1);
    assert_int_equal(l[0].id, b[1]);
    assert_string_equal(l[0].workflow, "beta");
    store_run_list_free(l, n);

    f.workflow = "alpha";
    OK(store_run_list(s, &f, &l, &n));
    assert_int_equal(n, 0);
    assert_null(l);

    /* Paging: limit and before_id. */
    f = (struct store_run_filter){.limit = 2};
    OK(store_run_list(s, &f, &l, &n));
    assert_int_equal(n, 2);
    f.before_id = l[1].id;
    store_run_list_free(l, n);
    OK(store_run_list(s, &f, &l, &n));
    assert_int_equal(n, 2);
    assert_int_equal(l[0].id, b[1]);
    assert_int_equal(l[1].id, a[1]);
    store_run_list_free(l, n);

    f = (struct store_run_filter){.status = "bogus"};
    assert_int_equal(store_run_list(s, &f, &l, &n), IDF_EINVAL);
    assert_null(l);
    assert_int_equal(n, 0);
    store_run_list_free(NULL, 0);
}

static void test_run_counts(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t ids[4];
    struct store_run_counts c;

    memset(&c, 0xff, sizeof c);
    OK(store_run_counts(s, &c));
    assert_int_equal(c.queued + c.running + c.waiting + c.succeeded + c.failed + c.cancelled, 0);
    for (int i = 0; i < 4; i++)
        ids[i] = new_run(s, "wf");
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 4);
    store_run_free(claim1(s, "w", T0));
    store_run_free(claim1(s, "w", T0));
    store_run_free(claim1(s, "w", T0));
    OK(commit(s, ids[0], "w", T0, STORE_RUN_SUCCEEDED, 1, 0));
    OK(commit(s, ids[1], "w", T0, STORE_RUN_WAITING, 1, T0 + 1));
    OK(store_run_cancel(s, ids[3], "no longer needed", T0, NULL));
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 0);
    assert_int_equal(count_of(s, STORE_RUN_RUNNING), 1);
    assert_int_equal(count_of(s, STORE_RUN_WAITING), 1);
    assert_int_equal(count_of(s, STORE_RUN_SUCCEEDED), 1);
    assert_int_equal(count_of(s, STORE_RUN_FAILED), 0);
    assert_int_equal(count_of(s, STORE_RUN_CANCELLED), 1);
}

/* ---------------------------------------------------- rerun and cancel */

static void test_rerun(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t id = new_run(s, "wf"), re = 0;
    struct store_run *r = claim1(s, "w", T0);
    struct store_step_rec s0 = {0, "user", -1, STORE_STEP_SUCCEEDED, 1, NULL, "{\"id\":\"00u1\"}", NULL, T0, T0};
    struct store_step_rec s1 = {1, "ticket", -1, STORE_STEP_FAILED, 2, NULL, NULL, "{\"message\":\"500\"}", T0, T0};
    struct store_run_next n0 = {.status = STORE_RUN_RUNNING, .pc = 1, .context = "{\"steps\":{\"user\":1}}"};
    struct store_run_next n1 = {.status = STORE_RUN_FAILED, .pc = 1, .attempt = 2, .error = "ticket failed"};
    struct store_step *steps = NULL;
    size_t n = 0;
    struct idf_err err = {0};

    store_run_free(r);
    assert_int_equal(store_run_rerun(s, id, T0, "cli:test", false, &re, &err), IDF_ESTATE); /* running */
    OK(store_step_commit(s, id, "w", T0 + 1, &s0, &n0, NULL));
    OK(store_step_commit(s, id, "w", T0 + 2, &s1, &n1, NULL));

    OK(store_run_rerun(s, id, T0 + 100, "cli:test", false, &re, &err));
    assert_true(re > id);
    OK(store_run_get(s, re, &r));
    assert_string_equal(r->status, STORE_RUN_QUEUED);
    assert_int_equal(r->rerun_of, id);
    assert_int_equal(r->pc, 1);
    assert_int_equal(r->attempt, 0);
    assert_string_equal(r->context, "{\"steps\":{\"user\":1}}");
    assert_string_equal(r->workflow, "wf");
    assert_null(r->error);
    assert_int_equal(r->finished_at, 0);
    assert_int_equal(r->created_at, T0 + 100);
    assert_non_null(r->event);
    store_run_free(r);

    OK(store_step_list(s, re, &steps, &n));
    assert_int_equal(n, 1); /* only steps before pc */
    assert_string_equal(steps[0].status, "reused");
    assert_string_equal(steps[0].output, "{\"id\":\"00u1\"}");
    store_step_list_free(steps, n);

    assert_int_equal(store_run_rerun(s, re, T0, "cli:test", false, &re, &err), IDF_ESTATE); /* queued */
    assert_int_equal(store_run_rerun(s, 987654, T0, "cli:test", false, &re, &err), IDF_ENOTFOUND);
    /* The new run is claimable and starts at pc. */
    r = claim1(s, "w", T0 + 200);
    assert_int_equal(r->pc, 1);
    store_run_free(r);
}

/* Issue 20: a run that succeeds keeps no context (its steps' records hold
 * every output it had, and a succeeded run is never resumed or re-run),
 * while its step records stay whole; a failed run keeps its context for a
 * re-run (test_rerun). */
static void test_succeeded_run_keeps_no_context(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t id = new_run(s, "wf");
    struct store_run *r = claim1(s, "w", T0);
    struct store_step_rec s0 = {0,    "user", -1, STORE_STEP_SUCCEEDED, 1, "{\"login\":\"ann\"}", "{\"id\":\"00u1\"}",
                                NULL, T0,     T0};
    struct store_run_next n0 = {.status = STORE_RUN_RUNNING, .pc = 1, .context = "{\"steps\":{\"user\":1}}"};
    struct store_run_next n1 = {.status = STORE_RUN_SUCCEEDED, .pc = 1, .context = "{\"steps\":{\"user\":1}}"};
    struct store_step *steps = NULL;
    size_t n = 0;

    store_run_free(r);
    OK(store_step_commit(s, id, "w", T0 + 1, &s0, &n0, NULL));
    OK(store_run_get(s, id, &r));
    assert_string_equal(r->context, "{\"steps\":{\"user\":1}}"); /* running: kept */
    store_run_free(r);
    OK(store_step_commit(s, id, "w", T0 + 2, NULL, &n1, NULL));
    OK(store_run_get(s, id, &r));
    assert_string_equal(r->status, STORE_RUN_SUCCEEDED);
    assert_null(r->context);
    assert_non_null(r->event);
    store_run_free(r);
    OK(store_step_list(s, id, &steps, &n));
    assert_int_equal(n, 1);
    assert_string_equal(steps[0].input, "{\"login\":\"ann\"}");
    assert_string_equal(steps[0].output, "{\"id\":\"00u1\"}");
    store_step_list_free(steps, n);
}

static void test_cancel(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t q = new_run(s, "wf"), w = new_run(s, "wf"), run = new_run(s, "wf"), re = 0;
    struct store_run *r;
    struct idf_err err = {0};

    OK(store_run_cancel(s, q, "operator said so", T0 + 5, &err));
    OK(store_run_get(s, q, &r));
    assert_string_equal(r->status, STORE_RUN_CANCELLED);
    assert_string_equal(r->error, "operator said so");
    assert_int_equal(r->finished_at, T0 + 5);
    store_run_free(r);
    assert_int_equal(store_run_cancel(s, q, NULL, T0, &err), IDF_ESTATE);

    r = claim1(s, "x", T0);
    assert_int_equal(r->id, w);
    store_run_free(r);
    OK(commit(s, w, "x", T0, STORE_RUN_WAITING, 1, T0 + 100));
    OK(store_run_cancel(s, w, NULL, T0 + 6, &err));
    assert_string_equal(run_status(s, w), STORE_RUN_CANCELLED);
    assert_int_equal(claim_count(s, "y", T0 + 1000), 1);                    /* only `run` */
    assert_int_equal(store_run_cancel(s, run, NULL, T0, &err), IDF_ESTATE); /* running */
    assert_int_equal(store_run_cancel(s, 55555, NULL, T0, &err), IDF_ENOTFOUND);

    OK(store_run_rerun(s, w, T0 + 7, "cli:test", false, &re, &err)); /* a cancelled run can be re-run */
    assert_string_equal(run_status(s, re), STORE_RUN_QUEUED);
}

/* store_run_stop: a waiting run at once; a running run at its next commit,
 * which is written and answers IDF_ECANCELLED; a final commit is kept. */
static void test_stop(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t q = new_run(s, "wf"), a = new_run(s, "wf"), b = new_run(s, "wf");
    struct store_run *r;
    struct idf_err err = {0};
    bool pending = true;

    OK(store_run_stop(s, q, "not needed", T0, "cli:test", &pending, &err));
    assert_false(pending);
    assert_string_equal(run_status(s, q), STORE_RUN_CANCELLED);

    r = claim1(s, "x", T0);
    assert_int_equal(r->id, a);
    store_run_free(r);
    r = claim1(s, "x", T0);
    assert_int_equal(r->id, b);
    store_run_free(r);
    OK(store_run_stop(s, a, "wrong user", T0 + 1, "cli:test", &pending, &err));
    assert_true(pending);
    assert_string_equal(run_status(s, a), STORE_RUN_RUNNING); /* until its worker commits */
    assert_int_equal(commit(s, a, "x", T0 + 2, STORE_RUN_RUNNING, 1, 0), IDF_ECANCELLED);
    OK(store_run_get(s, a, &r));
    assert_string_equal(r->status, STORE_RUN_CANCELLED);
    assert_string_equal(r->error, "wrong user");
    assert_int_equal(r->pc, 1); /* the step's commit was written */
    store_run_free(r);
    assert_int_equal(commit(s, a, "x", T0 + 3, STORE_RUN_RUNNING, 2, 0), IDF_ESTATE); /* the worker stopped */

    /* a run whose commit finishes it anyway ends as it finished */
    OK(store_run_stop(s, b, "too late", T0 + 4, "cli:test", &pending, &err));
    assert_true(pending);
    OK(commit(s, b, "x", T0 + 5, STORE_RUN_SUCCEEDED, 1, 0));
    assert_string_equal(run_status(s, b), STORE_RUN_SUCCEEDED);
    assert_int_equal(store_run_stop(s, b, "again", T0 + 6, "cli:test", &pending, &err), IDF_ESTATE);
    assert_int_equal(store_run_stop(s, 55555, "x", T0, "cli:test", &pending, &err), IDF_ENOTFOUND);
    /* each stop that took effect is audited with its actor, the refused ones not */
    {
        struct store_audit *l = NULL;
        size_t n_audit = 0;
        OK(store_audit_list(s, 10, &l, &n_audit));
        assert_int_equal(n_audit, 3);
        assert_string_equal(l[0].action, "run.cancel");
        assert_string_equal(l[0].actor, "cli:test");
        store_audit_list_free(l, n_audit);
    }
}

/* ------------------------------------------------------------ approvals */

static void test_approvals(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t a = new_run(s, "offboard"), b = new_run(s, "offboard"), plain = new_run(s, "wf");
    struct store_run_next wait = {.status = STORE_RUN_WAITING,
                                  .pc = 2,
                                  .wake_at = T0 + 86400000,
                                  .approval_step_id = "manager_ok",
                                  .approval_message = "Deactivate ann?"};
    char *status = NULL, *actor = NULL;
    struct store_approval *l = NULL;
    size_t n = 0;
    struct idf_err err = {0};

    for (int i = 0; i < 3; i++)
        store_run_free(claim1(s, "w", T0));
    OK(store_step_commit(s, a, "w", T0 + 1, NULL, &wait, &err));
    OK(store_step_commit(s, b, "w", T0 + 2, NULL, &wait, &err));

    OK(store_approval_get(s, a, "manager_ok", &status, &actor));
    assert_string_equal(status, "pending");
    assert_null(actor);
    free(status);
    OK(store_approval_list(s, &l, &n));
    assert_int_equal(n, 2);
    assert_int_equal(l[0].run_id, a);
    assert_string_equal(l[0].step_id, "manager_ok");
    assert_string_equal(l[0].workflow, "offboard");
    assert_string_equal(l[0].message, "Deactivate ann?");
    assert_true(l[0].created_at > 0);
    store_approval_list_free(l, n);

    OK(store_approval_decide(s, a, true, "boss@example.com", "fine", T0 + 10, &err));
    assert_string_equal(run_status(s, a), STORE_RUN_QUEUED); /* runnable at once */
    OK(store_approval_get(s, a, "manager_ok", &status, &actor));
    assert_string_equal(status, "approved");
    assert_string_equal(actor, "boss@example.com");
    free(status);
    free(actor);
    assert_int_equal(store_approval_decide(s, a, false, "other@example.com", NULL, T0 + 11, &err), IDF_ESTATE);

    OK(store_approval_decide(s, b, false, "boss@example.com", NULL, T0 + 12, &err));
    OK(store_approval_get(s, b, "manager_ok", &status, NULL));
    assert_string_equal(status, "rejected");
    free(status);
    OK(store_approval_list(s, &l, &n));
    assert_int_equal(n, 0);
    assert_null(l);

    assert_int_equal(store_approval_decide(s, plain, true, "boss", NULL, T0, &err), IDF_ENOTFOUND);
    assert_int_equal(store_approval_decide(s, 777777, true, "boss", NULL, T0, &err), IDF_ENOTFOUND);
    assert_int_equal(store_approval_get(s, plain, "manager_ok", &status, &actor), IDF_ENOTFOUND);

    /* An approval needs a waiting run. */
    struct store_run_next bad = wait;
    bad.status = STORE_RUN_RUNNING;
    assert_int_equal(store_step_commit(s, plain, "w", T0, NULL, &bad, &err), IDF_EINVAL);
}

/* Issue 19: a run held at a connection's guardrail. It is never claimed
 * while held, it is counted and listed with its connection, an approval's
 * decision does not release it (an admin's release does), and the hold
 * survives closing and reopening the database (a restart). */
static void test_guardrail_holds(void **state)
{
    struct fx *f = *state;
    struct store *s = f->s;
    int64_t a = new_run(s, "offboard"), b = new_run(s, "offboard"), c = new_run(s, "offboard"), n_held = -1;
    struct store_run_next hold = {.status = STORE_RUN_HELD,
                                  .pc = 1,
                                  .item = 5,
                                  .approval_step_id = "suspend",
                                  .approval_message = "held: budget spent",
                                  .hold = "okta-prod"};
    struct store_run_next wait = {.status = STORE_RUN_WAITING, .pc = 0, .approval_step_id = "ok"};
    struct store_approval *l = NULL;
    struct store_audit *au = NULL;
    char *status = NULL, *actor = NULL;
    size_t n = 0;
    struct idf_err err = {0};

    for (int i = 0; i < 3; i++)
        store_run_free(claim1(s, "w", T0));
    OK(store_guard_held(s, "okta-prod", &n_held));
    assert_int_equal(n_held, 0);
    OK(store_step_commit(s, a, "w", T0 + 1, NULL, &hold, &err));
    OK(store_step_commit(s, b, "w", T0 + 2, NULL, &hold, &err));
    OK(store_step_commit(s, c, "w", T0 + 3, NULL, &wait, &err)); /* an approval step, for contrast */
    assert_string_equal(run_status(s, a), STORE_RUN_HELD);
    assert_int_equal(count_of(s, STORE_RUN_HELD), 2);
    OK(store_guard_held(s, "okta-prod", &n_held));
    assert_int_equal(n_held, 2);
    OK(store_guard_held(s, "okta-other", &n_held));
    assert_int_equal(n_held, 0);
    /* never claimed while held, however late */
    assert_int_equal(claim_count(s, "w2", T0 + 365LL * 86400000), 0);

    /* a restart: the hold is in the database */
    store_close(s);
    OK(store_open(f->url, &f->s, &err));
    s = f->s;
    assert_string_equal(run_status(s, b), STORE_RUN_HELD);
    OK(store_approval_list(s, &l, &n));
    assert_int_equal(n, 3);
    assert_int_equal(l[0].run_id, a);
    assert_string_equal(l[0].hold, "okta-prod");
    assert_string_equal(l[0].step_id, "suspend");
    assert_null(l[2].hold); /* the approval step */
    store_approval_list_free(l, n);

    /* an approval's decision does not release a hold, nor a release an approval */
    assert_int_equal(store_approval_decide(s, a, true, "approver", NULL, T0 + 5, &err), IDF_ESTATE);
    assert_non_null(strstr(err.msg, "guardrail"));
    assert_int_equal(store_guard_decide(s, c, true, "admin", NULL, T0 + 5, &err), IDF_ESTATE);
    assert_string_equal(run_status(s, a), STORE_RUN_HELD);
    assert_string_equal(run_status(s, c), STORE_RUN_WAITING);

    /* released: queued at once, counted out, audited */
    OK(store_guard_decide(s, a, true, "cli:admin", "checked the list", T0 + 6, &err));
    assert_string_equal(run_status(s, a), STORE_RUN_QUEUED);
    OK(store_approval_get(s, a, "suspend", &status, &actor));
    assert_string_equal(status, "approved");
    assert_string_equal(actor, "cli:admin");
    free(status);
    free(actor);
    OK(store_guard_held(s, "okta-prod", &n_held));
    assert_int_equal(n_held, 1);
    assert_int_equal(store_guard_decide(s, a, true, "cli:admin", NULL, T0 + 7, &err), IDF_ESTATE); /* once */
    OK(store_audit_list(s, 1, &au, &n));
    assert_int_equal(n, 1);
    assert_string_equal(au[0].action, "guardrail.release");
    assert_non_null(strstr(au[0].detail, "\"connection\":\"okta-prod\""));
    store_audit_list_free(au, n);

    /* rejected: queued too (its step then fails), no longer held */
    OK(store_guard_decide(s, b, false, "cli:admin", NULL, T0 + 8, &err));
    assert_string_equal(run_status(s, b), STORE_RUN_QUEUED);
    OK(store_guard_held(s, "okta-prod", &n_held));
    assert_int_equal(n_held, 0);
    assert_int_equal(count_of(s, STORE_RUN_HELD), 0);
    assert_int_equal(claim_count(s, "w3", T0 + 9), 2);
}

/* A held run needs its hold, and a hold its held run. */
static void test_guardrail_hold_checks(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t a = new_run(s, "offboard");
    struct store_run_next bad = {.status = STORE_RUN_HELD, .pc = 0, .approval_step_id = "suspend"};
    struct store_run_next ok = {.status = STORE_RUN_HELD, .pc = 0, .approval_step_id = "suspend", .hold = "p"};
    struct idf_err err = {0};

    store_run_free(claim1(s, "w", T0));
    assert_int_equal(store_step_commit(s, a, "w", T0, NULL, &bad, &err), IDF_EINVAL); /* no hold */
    bad.status = STORE_RUN_WAITING;
    bad.hold = "p";
    assert_int_equal(store_step_commit(s, a, "w", T0, NULL, &bad, &err), IDF_EINVAL); /* a hold, not held */
    assert_int_equal(store_guard_held(s, "", &(int64_t){0}), IDF_EINVAL);
    OK(store_step_commit(s, a, "w", T0, NULL, &ok, &err));
    OK(store_run_cancel(s, a, "no", T0 + 1, &err)); /* a held run may be cancelled */
    assert_string_equal(run_status(s, a), STORE_RUN_CANCELLED);
    assert_int_equal(count_of(s, STORE_RUN_HELD), 0);
}

/* ---- issue 17 ("approvals-reruns"): decisions shown, re-runs once ---- */

/* A run that failed at step `step_id` (index pc) on owner "w"; its step
 * before it succeeded. Returns its id. */
static int64_t failed_run(struct store *s, const char *step_id, int pc)
{
    int64_t id = new_run(s, "wf");
    struct store_run *r = NULL;
    struct store_step_rec s0 = {0, "user", -1, STORE_STEP_SUCCEEDED, 1, NULL, "{}", NULL, T0, T0};
    struct store_step_rec s1 = {pc, step_id, -1, STORE_STEP_FAILED, 1, NULL, NULL, "{\"message\":\"500\"}", T0, T0};
    struct store_run_next n0 = {.status = STORE_RUN_RUNNING, .pc = pc};
    struct store_run_next n1 = {.status = STORE_RUN_FAILED, .pc = pc, .error = "step failed"};

    OK(store_run_claim_id(s, id, "w", T0, LEASE, &r, NULL));
    assert_non_null(r);
    store_run_free(r);
    OK(store_step_commit(s, id, "w", T0 + 1, &s0, &n0, NULL));
    OK(store_step_commit(s, id, "w", T0 + 2, &s1, &n1, NULL));
    return id;
}

/* store_run_get's rerun_as of run id. */
static int64_t rerun_as(struct store *s, int64_t id)
{
    struct store_run *r = NULL;
    int64_t v;
    OK(store_run_get(s, id, &r));
    v = r->rerun_as;
    store_run_free(r);
    return v;
}

static int64_t runs_total(struct store *s)
{
    return count_of(s, STORE_RUN_QUEUED) + count_of(s, STORE_RUN_RUNNING) + count_of(s, STORE_RUN_WAITING) +
           count_of(s, STORE_RUN_SUCCEEDED) + count_of(s, STORE_RUN_FAILED) + count_of(s, STORE_RUN_CANCELLED);
}

/* A run re-runs once: the second re-run is refused naming the first (and
 * writes nothing) unless forced; a forced one is audited as forced and is
 * then the one named. */
static void test_rerun_once_unless_forced(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t id = failed_run(s, "ticket", 1), first = 0, second = 0, got = 0, before;
    struct store_audit *l = NULL;
    size_t n = 0;
    char want[64];
    struct idf_err err = {0};

    assert_int_equal(rerun_as(s, id), 0);
    OK(store_run_rerun(s, id, T0 + 10, "cli:test", false, &first, &err));
    assert_int_equal(rerun_as(s, id), first);
    before = runs_total(s);
    assert_int_equal(store_run_rerun(s, id, T0 + 11, "cli:test", false, &got, &err), IDF_EEXIST);
    assert_int_equal(err.code, IDF_EEXIST);
    assert_int_equal(got, first);
    snprintf(want, sizeof want, "re-run as run #%lld", (long long)first);
    assert_non_null(strstr(err.msg, want));
    assert_int_equal(runs_total(s), before); /* refused: nothing written */
    OK(store_audit_list(s, 10, &l, &n));
    assert_int_equal(n, 1); /* only the first re-run */
    store_audit_list_free(l, n);

    OK(store_run_rerun(s, id, T0 + 12, "cli:test", true, &second, &err));
    assert_true(second > first);
    OK(store_audit_list(s, 10, &l, &n));
    assert_int_equal(n, 2);
    assert_string_equal(l[0].action, "run.rerun");
    assert_non_null(strstr(l[0].detail, "\"forced\":true"));
    assert_null(strstr(l[1].detail, "forced"));
    store_audit_list_free(l, n);
    /* the newest re-run is the one named now */
    assert_int_equal(store_run_rerun(s, id, T0 + 13, "cli:test", false, &got, &err), IDF_EEXIST);
    assert_int_equal(got, second);
    assert_int_equal(rerun_as(s, id), second);
}

/* A run that failed because its approval was rejected is not re-run as if
 * it had failed (a re-run asks the approvers again): refused naming the
 * decider and the comment unless forced. A rejection the run went past
 * (on_error: continue) does not hold a later failure's re-run back. */
static void test_rerun_rejected(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t id = new_run(s, "offboard"), later = new_run(s, "offboard"), re = 0;
    struct store_step_rec wait_rec = {1, "manager_ok", -1, STORE_STEP_WAITING, 1, NULL, NULL, NULL, T0, 0};
    struct store_run_next wait = {.status = STORE_RUN_WAITING,
                                  .pc = 1,
                                  .wake_at = T0 + 86400000,
                                  .approval_step_id = "manager_ok",
                                  .approval_message = "Deactivate ann?"};
    struct store_step_rec failed_rec = {1, "manager_ok", -1, STORE_STEP_FAILED, 1, NULL, NULL,
                                        "{\"message\":\"rejected by boss\"}", T0, T0 + 20};
    struct store_run_next fail = {.status = STORE_RUN_FAILED, .pc = 1, .error = "step 'manager_ok' failed"};
    struct store_step_rec other = {2, "notify", -1, STORE_STEP_FAILED, 1, NULL, NULL, "{\"message\":\"500\"}", T0,
                                   T0 + 30};
    struct store_run_next fail2 = {.status = STORE_RUN_FAILED, .pc = 2, .error = "step 'notify' failed"};
    struct store_run *r = NULL;
    struct idf_err err = {0};

    for (int i = 0; i < 2; i++) {
        int64_t run = i ? later : id;
        OK(store_run_claim_id(s, run, "w", T0, LEASE, &r, NULL));
        store_run_free(r);
        OK(store_step_commit(s, run, "w", T0 + 1, &wait_rec, &wait, &err));
        OK(store_approval_decide(s, run, false, "boss@example.com", "not before Friday", T0 + 10, &err));
        OK(store_run_claim_id(s, run, "w", T0 + 11, LEASE, &r, NULL));
        store_run_free(r);
        OK(store_step_commit(s, run, "w", T0 + 20, &failed_rec, i ? &(struct store_run_next){.status =
                                                                          STORE_RUN_RUNNING, .pc = 2}
                                                                    : &fail,
                             &err));
    }
    OK(store_step_commit(s, later, "w", T0 + 30, &other, &fail2, &err));

    assert_int_equal(store_run_rerun(s, id, T0 + 40, "cli:test", false, &re, &err), IDF_ESTATE);
    assert_non_null(strstr(err.msg, "rejected by boss@example.com: not before Friday"));
    assert_int_equal(re, 0);
    OK(store_run_rerun(s, later, T0 + 41, "cli:test", false, &re, &err)); /* failed after the rejection */
    OK(store_run_rerun(s, id, T0 + 42, "cli:test", true, &re, &err));    /* forced: asks again */
    assert_string_equal(run_status(s, re), STORE_RUN_QUEUED);
}

/* Every approval of a run reads back with its decision: who, the comment,
 * when; the audit record carries the comment; a comment has a cap. */
static void test_run_approvals_decisions(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t a = new_run(s, "offboard"), none = new_run(s, "wf");
    struct store_run_next wait = {.status = STORE_RUN_WAITING,
                                  .pc = 1,
                                  .wake_at = T0 + 86400000,
                                  .approval_step_id = "manager_ok",
                                  .approval_message = "Deactivate ann?"};
    struct store_approval *l = NULL;
    struct store_audit *au = NULL;
    struct store_run *r = NULL;
    size_t n = 0;
    char *big = NULL;
    struct idf_err err = {0};

    OK(store_run_claim_id(s, a, "w", T0, LEASE, &r, NULL));
    store_run_free(r);
    OK(store_step_commit(s, a, "w", T0 + 1, NULL, &wait, &err));
    OK(store_run_approvals(s, a, &l, &n));
    assert_int_equal(n, 1);
    assert_string_equal(l[0].status, "pending");
    assert_null(l[0].actor);
    assert_null(l[0].comment);
    assert_int_equal(l[0].decided_at, 0);
    assert_string_equal(l[0].message, "Deactivate ann?");
    store_approval_list_free(l, n);

    big = malloc(STORE_COMMENT_MAX + 2);
    memset(big, 'x', STORE_COMMENT_MAX + 1);
    big[STORE_COMMENT_MAX + 1] = '\0';
    assert_int_equal(store_approval_decide(s, a, false, "boss", big, T0 + 5, &err), IDF_ETOOBIG);
    free(big);
    assert_string_equal(run_status(s, a), STORE_RUN_WAITING); /* refused: nothing decided */

    OK(store_approval_decide(s, a, false, "boss@example.com", "not \"now\"", T0 + 10, &err));
    OK(store_run_approvals(s, a, &l, &n));
    assert_int_equal(n, 1);
    assert_int_equal(l[0].run_id, a);
    assert_string_equal(l[0].step_id, "manager_ok");
    assert_string_equal(l[0].workflow, "offboard");
    assert_string_equal(l[0].status, "rejected");
    assert_string_equal(l[0].actor, "boss@example.com");
    assert_string_equal(l[0].comment, "not \"now\"");
    assert_int_equal(l[0].decided_at, T0 + 10);
    store_approval_list_free(l, n);
    OK(store_audit_list(s, 1, &au, &n));
    assert_int_equal(n, 1);
    assert_string_equal(au[0].action, "approval.reject");
    assert_string_equal(au[0].detail, "{\"step\":\"manager_ok\",\"comment\":\"not \\\"now\\\"\"}");
    store_audit_list_free(au, n);

    OK(store_run_approvals(s, none, &l, &n));
    assert_int_equal(n, 0);
    assert_null(l);
    OK(store_run_approvals(s, 999999, &l, &n));
    assert_int_equal(n, 0);
}

#define RERUN_RACE_RUNS 40

struct rerunner {
    const char *url;
    const int64_t *ids;
    pthread_barrier_t *go;
    int64_t got[RERUN_RACE_RUNS]; /* the new run, or -(the one named) when refused */
    int rc;
};

static void *rerun_loop(void *arg)
{
    struct rerunner *w = arg;
    struct store *s = NULL;

    w->rc = store_open(w->url, &s, NULL);
    pthread_barrier_wait(w->go);
    for (int i = 0; w->rc == 0 && i < RERUN_RACE_RUNS; i++) {
        struct idf_err err = {0};
        int64_t nid = 0;
        int rc = store_run_rerun(s, w->ids[i], T0 + 100, "cli:race", false, &nid, &err);
        if (rc == 0)
            w->got[i] = nid;
        else if (rc == IDF_EEXIST)
            w->got[i] = -nid;
        else
            w->rc = rc;
    }
    store_close(s);
    return NULL;
}

/* Two connections re-running the same runs at once: each run is re-run
 * exactly once, and the loser is told the winner's run. */
static void test_rerun_concurrent(void **state)
{
    struct fx *f = *state;
    static struct rerunner w[2];
    static int64_t ids[RERUN_RACE_RUNS];
    pthread_t t[2];
    pthread_barrier_t go;

    for (int i = 0; i < RERUN_RACE_RUNS; i++)
        ids[i] = failed_run(f->s, "ticket", 1);
    pthread_barrier_init(&go, NULL, 2);
    for (int i = 0; i < 2; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].url = f->url;
        w[i].ids = ids;
        w[i].go = &go;
        pthread_create(&t[i], NULL, rerun_loop, &w[i]);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].rc, 0);
    }
    pthread_barrier_destroy(&go);
    for (int i = 0; i < RERUN_RACE_RUNS; i++) {
        int64_t a = w[0].got[i], b = w[1].got[i];
        assert_true((a > 0) != (b > 0)); /* exactly one won */
        assert_int_equal(a > 0 ? a : b, a > 0 ? -b : -a); /* the loser names the winner's run */
    }
    assert_int_equal(count_of(f->s, STORE_RUN_QUEUED), RERUN_RACE_RUNS);
}
/* ---- (end of "approvals-reruns") ---- */

/* -------------------------------------------------------- cursors, audit */

static void test_cursors(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    char *v = NULL;

    assert_int_equal(store_cursor_get(s, "okta-prod/logs", &v), IDF_ENOTFOUND);
    assert_null(v);
    OK(store_cursor_set(s, "okta-prod/logs", "https://example.okta.com/api/v1/logs?after=1"));
    OK(store_cursor_get(s, "okta-prod/logs", &v));
    assert_string_equal(v, "https://example.okta.com/api/v1/logs?after=1");
    free(v);
    OK(store_cursor_set(s, "okta-prod/logs", "after=2"));
    OK(store_cursor_get(s, "okta-prod/logs", &v));
    assert_string_equal(v, "after=2");
    free(v);
}

static void test_audit(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_audit *l = NULL, *x;
    size_t n = 0;

    OK(store_audit_add(s, "admin", "workflow.disable", "workflow:onboard", NULL));
    OK(store_audit_add(s, "admin", "connection.create", "connection:okta-prod", "{\"kind\":\"okta\"}"));
    OK(store_audit_add(s, "api", "run.rerun", NULL, "{\"run\":7}"));
    OK(store_audit_list(s, 0, &l, &n));
    assert_int_equal(n, 3);
    x = &l[0]; /* newest first */
    assert_string_equal(x->actor, "api");
    assert_string_equal(x->action, "run.rerun");
    assert_null(x->target);
    assert_string_equal(x->detail, "{\"run\":7}");
    assert_true(x->at > 0);
    assert_true(x->id > l[1].id);
    x = &l[1];
    assert_string_equal(x->actor, "admin");
    assert_string_equal(x->target, "connection:okta-prod");
    assert_string_equal(x->detail, "{\"kind\":\"okta\"}");
    assert_null(l[2].detail);
    store_audit_list_free(l, n);
    OK(store_audit_list(s, 1, &l, &n));
    assert_int_equal(n, 1);
    store_audit_list_free(l, n);
    assert_int_equal(store_audit_add(s, "", "x", NULL, NULL), IDF_EINVAL);
}

/* ---------------------------------------------------------- connections */

static void test_connections(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    const unsigned char blob[5] = {0x00, 0x01, 0xfe, 0x00, 0x7f}; /* opaque, with NUL bytes */
    char *kind = NULL, *config = NULL;
    unsigned char *sealed = NULL;
    size_t len = 0;
    int64_t up1 = 0, up2 = 0;
    bool created = false;
    struct store_connection_info *l = NULL, *x;
    struct store_audit *a = NULL;
    size_t n = 0;
    struct idf_err err = {0};

    assert_int_equal(store_connection_get(s, "okta-prod", &kind, &config, &sealed, &len, &up1), IDF_ENOTFOUND);
    OK(store_connection_put(s, "okta-prod", "okta", "{\"org_url\":\"https://acme.okta.com\"}", blob, sizeof blob,
                            "cli:alice", &created, &err));
    assert_true(created);
    OK(store_connection_get(s, "okta-prod", &kind, &config, &sealed, &len, &up1));
    assert_string_equal(kind, "okta");
    assert_string_equal(config, "{\"org_url\":\"https://acme.okta.com\"}");
    assert_int_equal(len, sizeof blob);
    assert_memory_equal(sealed, blob, sizeof blob);
    free(kind);
    free(config);
    free(sealed);

    /* Replacing: not created, updated_at moves on even within the same ms. */
    OK(store_connection_put(s, "okta-prod", "okta", "{}", NULL, 0, "cli:bob", &created, &err));
    assert_false(created);
    OK(store_connection_get(s, "okta-prod", &kind, &config, &sealed, &len, &up2));
    assert_true(up2 > up1);
    assert_null(sealed);
    assert_int_equal(len, 0);
    free(kind);
    free(config);
    OK(store_connection_put(s, "hf", "happyfox", "{\"account\":\"acme\"}", blob, 2, "cli:alice", NULL, &err));

    OK(store_connection_list(s, &l, &n));
    assert_int_equal(n, 2);
    x = &l[0]; /* by name; the row has no place for a secret */
    assert_string_equal(x->name, "hf");
    assert_string_equal(x->kind, "happyfox");
    assert_string_equal(x->config, "{\"account\":\"acme\"}");
    assert_true(x->created_at > 0);
    assert_true(x->updated_at >= x->created_at);
    assert_string_equal(l[1].name, "okta-prod");
    assert_string_equal(l[1].config, "{}");
    assert_int_equal(l[1].updated_at, up2);
    store_connection_list_free(l, n);

    /* Each put is audited, by its actor, with the kind as its detail. */
    OK(store_audit_list(s, 10, &a, &n));
    assert_int_equal(n, 3);
    assert_string_equal(a[1].actor, "cli:bob");
    assert_string_equal(a[1].action, "connection.update");
    assert_string_equal(a[1].target, "connection:okta-prod");
    assert_string_equal(a[1].detail, "{\"kind\":\"okta\"}");
    assert_string_equal(a[2].action, "connection.create");
    store_audit_list_free(a, n);

    assert_int_equal(store_connection_put(s, "x", "okta", "{}", NULL, 0, "", NULL, &err), IDF_EINVAL);

    OK(store_connection_delete(s, "hf", "cli:alice", &err));
    assert_int_equal(store_connection_get(s, "hf", &kind, &config, &sealed, &len, NULL), IDF_ENOTFOUND);
    assert_int_equal(store_connection_delete(s, "hf", "cli:alice", &err), IDF_ENOTFOUND);
    OK(store_audit_list(s, 1, &a, &n));
    assert_string_equal(a[0].action, "connection.delete");
    assert_string_equal(a[0].detail, "{\"kind\":\"happyfox\"}");
    store_audit_list_free(a, n);
}

/* ------------------------------------------------------------ retention */

static void test_prune(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t old_done = 0, old_wait = 0, recent = 0, n = -1;
    int64_t now = time_now_ms();
    int64_t ev_done, ev_wait, ev_none;
    struct store_step_rec st = {0, "a", -1, STORE_STEP_SUCCEEDED, 1, NULL, "{}", NULL, now, now};
    struct store_run_next fin = {.status = STORE_RUN_SUCCEEDED, .pc = 1};
    struct store_step *steps = NULL;
    struct store_event *x = NULL;
    size_t n_steps = 99;
    struct store_run *r;

    ev_done = ingest(s, "e-done", "wf", 1, &old_done, NULL);
    ev_wait = ingest(s, "e-wait", "wf", 1, &old_wait, NULL);
    ev_none = ingest(s, "e-none", "wf", 0, NULL, NULL);
    ingest(s, "e-recent", "wf", 1, &recent, NULL);
    for (int i = 0; i < 3; i++)
        store_run_free(claim1(s, "w", now));
    OK(store_step_commit(s, old_done, "w", now - 10000, &st, &fin, NULL));
    OK(commit(s, old_wait, "w", now - 10000, STORE_RUN_WAITING, 1, 0));
    OK(store_step_commit(s, recent, "w", now, &st, &fin, NULL));

    OK(store_prune(s, now - 5000, &n));
    assert_int_equal(n, 1);
    assert_int_equal(store_run_get(s, old_done, &r), IDF_ENOTFOUND);
    OK(store_step_list(s, old_done, &steps, &n_steps));
    assert_int_equal(n_steps, 0); /* its steps went with it */
    assert_null(steps);
    OK(store_event_get(s, ev_done, &x)); /* received after the cut-off: kept for dedup */
    store_event_free(x);
    OK(store_event_get(s, ev_none, &x));
    store_event_free(x);
    OK(store_run_get(s, recent, &r));
    store_run_free(r);
    OK(store_run_get(s, old_wait, &r));
    store_run_free(r);
    assert_int_equal(count_of(s, STORE_RUN_SUCCEEDED), 1);

    /* Events received before the cut-off that no run refers to go too. */
    OK(store_prune(s, now + 60000, &n));
    assert_int_equal(n, 1); /* the recent run is now old enough */
    assert_int_equal(store_event_get(s, ev_done, &x), IDF_ENOTFOUND);
    assert_int_equal(store_event_get(s, ev_none, &x), IDF_ENOTFOUND);
    OK(store_event_get(s, ev_wait, &x)); /* its run is still waiting */
    store_event_free(x);
    assert_int_equal(count_of(s, STORE_RUN_SUCCEEDED), 0);
    assert_int_equal(count_of(s, STORE_RUN_WAITING), 1);
}

/* ------------------------------------------------------ workflow caps */

/* n queued runs of workflow wf at version, in events of up to 1000 runs
 * (one durable transaction for all); ids (may be NULL) gets the first 8. */
static void ingest_many(struct store *s, const char *wf, int64_t version, size_t n, int64_t *ids)
{
    enum { PER_EVENT = 1000 };
    size_t n_ev = (n + PER_EVENT - 1) / PER_EVENT;
    struct store_ingest_item *items = calloc(n_ev, sizeof *items);
    struct store_run_in *runs = calloc(PER_EVENT, sizeof *runs);
    int64_t *run_ids = calloc(n_ev * PER_EVENT, sizeof *run_ids);
    struct idf_err err = {0};

    assert_non_null(items);
    assert_non_null(runs);
    assert_non_null(run_ids);
    for (size_t i = 0; i < PER_EVENT; i++)
        runs[i] = (struct store_run_in){wf, version};
    for (size_t e = 0; e < n_ev; e++) {
        items[e].event = (struct store_event_in){"test", NULL, "manual", NULL, "{}"};
        items[e].runs = runs;
        items[e].n_runs = e + 1 < n_ev ? PER_EVENT : n - e * PER_EVENT;
        items[e].run_ids = run_ids + e * PER_EVENT;
    }
    OK(store_ingest(s, items, n_ev, &err));
    for (size_t i = 0; ids && i < 8 && i < n; i++)
        ids[i] = run_ids[i];
    free(items);
    free(runs);
    free(run_ids);
}

/* Claims up to max under caps; returns how many, ids in *got (caller's, max). */
static size_t claim_capped(struct store *s, const char *owner, int64_t now, size_t max, const struct store_cap *caps,
                           size_t n_caps, int64_t *got)
{
    struct store_run *r[16] = {NULL};
    size_t n = 99;
    struct idf_err err = {0};

    assert_true(max <= 16);
    assert_int_equal(store_run_claim(s, owner, now, LEASE, max, caps, n_caps, r, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r[i]->status, STORE_RUN_RUNNING);
        if (got)
            got[i] = r[i]->id;
        store_run_free(r[i]);
    }
    return n;
}

/* Within one claim: a capped workflow gives at most its free slots, its
 * oldest runs, and the rest of the claim goes to other workflows' runs
 * behind them, oldest first. Versions of one workflow share its cap. */
static void test_cap_within_one_claim(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    const struct store_cap caps[] = {{"capped", 2}, {"zeta", 1}};
    int64_t c[5], o[3], got[16];

    for (int i = 0; i < 5; i++) {
        ingest_many(s, "capped", i % 2 + 1, 1, &c[i]); /* versions 1 and 2 */
        if (i < 3)
            o[i] = new_run(s, "other");
    }
    assert_int_equal(claim_capped(s, "node-a", T0, 8, caps, 2, got), 5);
    assert_int_equal(got[0], c[0]);
    assert_int_equal(got[1], o[0]);
    assert_int_equal(got[2], c[1]);
    assert_int_equal(got[3], o[1]);
    assert_int_equal(got[4], o[2]);
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 3);
    /* at the cap: nothing more for anyone, however large the claim */
    assert_int_equal(claim_capped(s, "node-b", T0, 16, caps, 2, NULL), 0);
    /* the cap counts status "running", not who holds it: a claim without the
     * cap still sees the runs as queued (the contract leaves caps to the caller) */
    assert_int_equal(count_of(s, STORE_RUN_RUNNING), 5);
}

/* Across claims on two connections (two owners, as two nodes): the count is
 * read in the claim's transaction, not remembered; a slot frees when a run
 * finishes or starts waiting, and the next run in order takes it. */
static void test_cap_across_owners(void **state)
{
    struct fx *f = *state;
    struct store *a = f->s, *b = NULL;
    const struct store_cap cap1[] = {{"capped", 1}};
    int64_t c[4], got[16];
    struct idf_err err = {0};

    OK(store_open(f->url, &b, &err));
    ingest_many(a, "capped", 1, 4, c);
    assert_int_equal(claim_capped(a, "node-a", T0, 4, cap1, 1, got), 1);
    assert_int_equal(got[0], c[0]);
    assert_int_equal(claim_capped(b, "node-b", T0, 4, cap1, 1, NULL), 0);
    assert_int_equal(claim_capped(a, "node-a", T0, 4, cap1, 1, NULL), 0);

    /* finishing frees the slot: the other node takes the next run */
    OK(commit(a, c[0], "node-a", T0 + 1, STORE_RUN_SUCCEEDED, 1, 0));
    assert_int_equal(claim_capped(b, "node-b", T0 + 2, 4, cap1, 1, got), 1);
    assert_int_equal(got[0], c[1]);
    assert_int_equal(claim_capped(a, "node-a", T0 + 2, 4, cap1, 1, NULL), 0);

    /* waiting (delay, approval, retry) holds no slot */
    OK(commit(b, c[1], "node-b", T0 + 3, STORE_RUN_WAITING, 1, T0 + 1000));
    assert_int_equal(claim_capped(a, "node-a", T0 + 4, 4, cap1, 1, got), 1);
    assert_int_equal(got[0], c[2]);
    /* ...and needs one again when it wakes: due, but the slot is taken */
    assert_int_equal(claim_capped(b, "node-b", T0 + 2000, 4, cap1, 1, NULL), 0);
    assert_int_equal(count_of(a, STORE_RUN_WAITING), 1);
    OK(commit(a, c[2], "node-a", T0 + 2001, STORE_RUN_FAILED, 1, 0));
    /* oldest first again: the woken run (older id) before the queued one */
    assert_int_equal(claim_capped(b, "node-b", T0 + 2002, 4, cap1, 1, got), 1);
    assert_int_equal(got[0], c[1]);
    OK(commit(b, c[1], "node-b", T0 + 2003, STORE_RUN_SUCCEEDED, 2, 0));
    assert_int_equal(claim_capped(a, "node-a", T0 + 2004, 4, cap1, 1, got), 1);
    assert_int_equal(got[0], c[3]);
    assert_int_equal(count_of(a, STORE_RUN_QUEUED), 0);
    store_close(b);
}

/* A capped workflow's backlog, however long, never hides the runs of other
 * workflows from a claim: 10,000 queued runs ahead of one run of another
 * workflow, and a crowd of due waiting runs ahead of another's due run. */
static void test_cap_backlog_does_not_block_others(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    const struct store_cap cap1[] = {{"flood", 1}};
    int64_t first[8], got[16], other;

    ingest_many(s, "flood", 1, 10000, first);
    other = new_run(s, "other");
    assert_int_equal(claim_capped(s, "w1", T0, 1, cap1, 1, got), 1);
    assert_int_equal(got[0], first[0]);
    assert_int_equal(claim_capped(s, "w2", T0, 1, cap1, 1, got), 1);
    assert_int_equal(got[0], other); /* past 9,999 runs that may not start */
    assert_int_equal(claim_capped(s, "w3", T0, 16, cap1, 1, NULL), 0);

    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 9999);
}

/* The same for due waiting runs: 40 runs of a capped workflow due before one
 * run of another workflow; each claim (of 4) finds the other's run. */
static void test_cap_due_backlog_does_not_block_others(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    const struct store_cap cap1[] = {{"flood", 1}};
    int64_t first[8], got[16], late;
    struct store_run *r[16] = {NULL};
    size_t n = 0, total = 0;

    ingest_many(s, "flood", 1, 40, first);
    late = new_run(s, "late");
    while (total < 41) { /* put all to wait, through claims without caps */
        OK(store_run_claim(s, "setup", T0, LEASE, 16, NULL, 0, r, &n, NULL));
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
            OK(commit(s, r[i]->id, "setup", T0 + 1, STORE_RUN_WAITING, 1, r[i]->id == late ? T0 + 500 : T0 + 100));
            store_run_free(r[i]);
        }
        total += n;
    }
    assert_int_equal(count_of(s, STORE_RUN_WAITING), 41);
    assert_int_equal(claim_capped(s, "w1", T0 + 1000, 4, cap1, 1, got), 2);
    /* both, in the round-robin's turn (the setup claims served "flood" last) */
    assert_int_equal(got[0], late);
    assert_int_equal(got[1], first[0]);
    assert_int_equal(claim_capped(s, "w2", T0 + 1000, 4, cap1, 1, NULL), 0);
    assert_int_equal(count_of(s, STORE_RUN_WAITING), 39);
}

/* Taking over a run whose owner died keeps the workflow's count: allowed at
 * the cap (no second slot), and only that run is taken. */
static void test_cap_expired_lease_takeover(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    const struct store_cap cap1[] = {{"capped", 1}};
    int64_t c[2], got[16];

    ingest_many(s, "capped", 1, 2, c);
    assert_int_equal(claim_capped(s, "dead", T0, 4, cap1, 1, got), 1);
    assert_int_equal(claim_capped(s, "alive", T0 + LEASE - 1, 4, cap1, 1, NULL), 0);
    assert_int_equal(claim_capped(s, "alive", T0 + LEASE + 1, 4, cap1, 1, got), 1);
    assert_int_equal(got[0], c[0]);
    assert_int_equal(count_of(s, STORE_RUN_RUNNING), 1);
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 1);
}

/* Bad caps are refused and nothing is claimed. */
static void test_cap_bad_input(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    const struct store_cap unsorted[] = {{"b", 1}, {"a", 1}};
    const struct store_cap twice[] = {{"a", 1}, {"a", 2}};
    const struct store_cap negative[] = {{"a", -1}};
    const struct store_cap big[] = {{"a", STORE_CAP_MAX + 1}};
    const struct store_cap high[] = {{"a", 0, STORE_PRIORITY_HIGH + 1}};
    const struct store_cap low[] = {{"a", 1, STORE_PRIORITY_LOW - 1}};
    const struct store_cap empty[] = {{"", 1}};
    const struct store_cap null_name[] = {{NULL, 1}};
    const struct { const struct store_cap *c; size_t n; const char *msg;
    } bad[] = {
        {unsorted, 2, "sorted by name"},
        {twice, 2, "each name once"},
        {negative, 1, "not within 0..1000"},
        {big, 1, "not within 0..1000"},
        {empty, 1, "name must be"},
        {null_name, 1, "name must be"},
        {NULL, 1, "missing argument"},
        {high, 1, "priority 2 is not within -1..1"},
        {low, 1, "priority -2 is not within -1..1"},
    };
    struct store_run *r[4] = {NULL};
    size_t n = 0;
    struct idf_err err = {0};

    new_run(s, "a");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(store_run_claim(s, "w", T0, LEASE, 4, bad[i].c, bad[i].n, r, &n, &err), IDF_EINVAL);
        assert_int_equal(n, 0);
        assert_non_null(strstr(err.msg, bad[i].msg));
    }
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), 1);
}

/* ------------------------------------------------- fair queues (issue 20) */

enum { FAIR_BACKLOG = 20000 }; /* the issue's figure: a bulk import in Okta */

/* True when id is among got[0..n). */
static bool has_id(const int64_t *got, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] == id)
            return true;
    return false;
}

/* A run of one workflow queued behind 20,000 runs of another is in the very
 * next claim (a worker's batch of 16), and with claims of one the turn goes
 * round: one of each, not the whole backlog first. */
static void test_fair_backlog_does_not_delay_other(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t first[8], got[16], b1, b2;

    ingest_many(s, "a-bulk", 1, FAIR_BACKLOG, first);
    b1 = new_run(s, "b-lockout");
    assert_int_equal(claim_capped(s, "w1", T0, 16, NULL, 0, got), 16);
    assert_true(has_id(got, 16, b1));
    assert_true(has_id(got, 16, first[0])); /* the backlog goes on too, oldest first */

    /* claims of one: turns alternate between the workflows with work */
    b2 = new_run(s, "b-lockout");
    assert_int_equal(claim_capped(s, "w1", T0, 1, NULL, 0, got), 1);
    assert_int_equal(got[0], b2); /* the last claim served a-bulk last */
    assert_int_equal(claim_capped(s, "w1", T0, 1, NULL, 0, got), 1);
    assert_int_not_equal(got[0], b2);
    assert_int_equal(count_of(s, STORE_RUN_QUEUED), FAIR_BACKLOG - 15 - 1);
}

/* priority: a run of a high-priority workflow goes before older runs of
 * normal ones, a low-priority workflow's older run after a normal one's; a
 * claim takes the higher level whole before the next. */
static void test_fair_priority(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    const struct store_cap pol[] = {{"bulk", 0, STORE_PRIORITY_LOW}, {"urgent", 0, STORE_PRIORITY_HIGH}};
    int64_t bulk[8], got[16], normal, urgent[2];

    ingest_many(s, "bulk", 1, 3, bulk);
    normal = new_run(s, "normal");
    urgent[0] = new_run(s, "urgent");
    urgent[1] = new_run(s, "urgent");
    assert_int_equal(claim_capped(s, "w1", T0, 1, pol, 2, got), 1);
    assert_int_equal(got[0], urgent[0]);
    assert_int_equal(claim_capped(s, "w1", T0, 2, pol, 2, got), 2);
    assert_int_equal(got[0], urgent[1]);
    assert_int_equal(got[1], normal);
    assert_int_equal(claim_capped(s, "w1", T0, 16, pol, 2, got), 3);
    assert_int_equal(got[0], bulk[0]);
    assert_int_equal(got[1], bulk[1]);
    assert_int_equal(got[2], bulk[2]);
}

/* The cap (`concurrency:`) still holds under the fair order, for a high
 * priority too: a capped workflow gives its free slots and no more, across
 * connections, and the rest of the claim goes round the others. */
static void test_fair_cap_still_holds(void **state)
{
    struct fx *f = *state;
    struct store *a = f->s, *b = NULL;
    const struct store_cap pol[] = {{"capped", 2, STORE_PRIORITY_HIGH}};
    int64_t c[8], o[8], got[16];
    struct idf_err err = {0};

    OK(store_open(f->url, &b, &err));
    ingest_many(a, "capped", 1, 500, c);
    ingest_many(a, "other", 1, 3, o);
    assert_int_equal(claim_capped(a, "node-a", T0, 16, pol, 1, got), 5);
    assert_int_equal(got[0], c[0]); /* high priority first, within its cap */
    assert_int_equal(got[1], c[1]);
    assert_int_equal(got[2], o[0]);
    assert_int_equal(got[3], o[1]);
    assert_int_equal(got[4], o[2]);
    assert_int_equal(claim_capped(b, "node-b", T0, 16, pol, 1, NULL), 0); /* at its cap on any connection */
    OK(commit(a, c[0], "node-a", T0 + 1, STORE_RUN_SUCCEEDED, 1, 0));
    assert_int_equal(claim_capped(b, "node-b", T0 + 2, 16, pol, 1, got), 1);
    assert_int_equal(got[0], c[2]);
    assert_int_equal(count_of(a, STORE_RUN_RUNNING), 2 + 3);
    store_close(b);
}

/* A waiting run is claimed when it is due and not before, and once due it
 * is in the next claim, whatever backlog of another workflow is queued. */
static void test_fair_not_due_not_early(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_run *r = NULL;
    int64_t got[16], late;
    struct idf_err err = {0};

    ingest_many(s, "a-bulk", 1, 1000, NULL);
    late = new_run(s, "b-delay");
    OK(store_run_claim_id(s, late, "setup", T0, LEASE, &r, &err));
    assert_non_null(r);
    store_run_free(r);
    OK(commit(s, late, "setup", T0 + 1, STORE_RUN_WAITING, 1, T0 + 500));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(claim_capped(s, "w1", T0 + 499, 16, NULL, 0, got), 16);
        assert_false(has_id(got, 16, late));
    }
    assert_int_equal(count_of(s, STORE_RUN_WAITING), 1);
    assert_int_equal(claim_capped(s, "w1", T0 + 500, 16, NULL, 0, got), 16);
    assert_true(has_id(got, 16, late));
    assert_int_equal(count_of(s, STORE_RUN_WAITING), 0);
}

/* ------------------------------------------------------- foreach state */

static void assert_outputs(struct store *s, int64_t run, int index, const char *want)
{
    char *text = NULL;
    OK(store_foreach_outputs(s, run, index, &text));
    assert_string_equal(text, want);
    free(text);
}

/* Items and results come back byte for byte (quotes, backslashes, commas,
 * braces, the word NULL, non-ASCII), only while the lease is held; a result
 * needs its item begun; the step's end deletes them. */
static void test_foreach_state(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_run *r = NULL;
    const char *items[] = {"\"a\"", "{\"b\":\"q\\\"uote\\\\ back, {brace}\"}", "\"NULL\"", "[3,null]", "\"\xc3\xa9\""};
    const char *res0[] = {"\"r0\""};
    struct store_run_next nx = {.status = STORE_RUN_RUNNING, .pc = 1};
    struct store_step_rec rec = {.index = 1, .step_id = "each", .item = 2, .status = STORE_STEP_SUCCEEDED,
                                 .result = "{\"x\":\"\\\\\\\"\"}"};
    struct idf_err err = {0};
    char *text = NULL;
    struct store_step *steps = NULL;
    size_t n_steps = 0;

    new_run(s, "wf");
    r = claim1(s, "w", T0);
    assert_int_equal(store_foreach_begin(s, r->id, "other", T0, 1, items, 5, NULL, 0, &nx, &err), IDF_ESTATE);
    assert_int_equal(store_foreach_item(s, r->id, 1, 0, &text), IDF_ENOTFOUND);

    OK(store_foreach_begin(s, r->id, "w", T0, 1, items, 5, res0, 1, &nx, &err));
    for (int i = 0; i < 5; i++) {
        OK(store_foreach_item(s, r->id, 1, i, &text));
        assert_string_equal(text, items[i]);
        free(text);
    }
    assert_int_equal(store_foreach_item(s, r->id, 1, 5, &text), IDF_ENOTFOUND);
    assert_outputs(s, r->id, 1, "[\"r0\",null,null,null,null]");

    nx.item = 3;
    OK(store_step_commit(s, r->id, "w", T0 + 1, &rec, &nx, &err));
    assert_outputs(s, r->id, 1, "[\"r0\",null,{\"x\":\"\\\\\\\"\"},null,null]");

    /* a result for an item never begun writes nothing, not even the step */
    rec.item = 9;
    assert_int_equal(store_step_commit(s, r->id, "w", T0 + 2, &rec, &nx, &err), IDF_ESTATE);
    OK(store_step_list(s, r->id, &steps, &n_steps));
    assert_int_equal(n_steps, 1);
    store_step_list_free(steps, n_steps);

    /* the step ends: its items go in the same commit */
    nx.pc = 2;
    nx.item = 0;
    nx.foreach_clear = true;
    OK(store_step_commit(s, r->id, "w", T0 + 3, NULL, &nx, &err));
    assert_outputs(s, r->id, 1, "[]");
    assert_int_equal(store_foreach_item(s, r->id, 1, 0, &text), IDF_ENOTFOUND);
    store_run_free(r);
}

#define FE_MANY 25000 /* more items than one insert batch of a backend writes */

/* Many items: every one is stored at its number, the outputs array holds
 * them all in item order. */
static void test_foreach_many_items(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    static char item_buf[FE_MANY][16], res_buf[FE_MANY][16];
    static const char *items[FE_MANY], *res[FE_MANY];
    struct store_run_next nx = {.status = STORE_RUN_RUNNING, .pc = 1};
    struct store_run *r = NULL;
    struct idf_err err = {0};
    size_t n_res = FE_MANY / 2 + 7, len = 0;
    char *text = NULL, *want = malloc(FE_MANY * 16 + 2);

    assert_non_null(want);
    want[len++] = '[';
    for (int i = 0; i < FE_MANY; i++) {
        snprintf(item_buf[i], sizeof item_buf[i], "%d", i);
        snprintf(res_buf[i], sizeof res_buf[i], "\"r%d\"", i);
        items[i] = item_buf[i];
        res[i] = res_buf[i];
        len += (size_t)sprintf(want + len, "%s%s", i ? "," : "", (size_t)i < n_res ? res[i] : "null");
    }
    want[len++] = ']';
    want[len] = '\0';
    new_run(s, "wf");
    r = claim1(s, "w", T0);
    OK(store_foreach_begin(s, r->id, "w", T0, 0, items, FE_MANY, res, n_res, &nx, &err));
    for (int i = 0; i < FE_MANY; i += 2499) {
        OK(store_foreach_item(s, r->id, 0, i, &text));
        assert_string_equal(text, items[i]);
        free(text);
    }
    OK(store_foreach_item(s, r->id, 0, FE_MANY - 1, &text));
    assert_string_equal(text, items[FE_MANY - 1]);
    free(text);
    assert_outputs(s, r->id, 0, want);
    free(want);
    store_run_free(r);
}

/* An outputs array longer than a JSON text the store accepts is refused. */
static void test_foreach_outputs_too_big(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    const size_t big = 6u << 20; /* three of them: over 16 MiB */
    char *v = malloc(big + 3);
    const char *items[3] = {"1", "2", "3"}, *res[3];
    struct store_run_next nx = {.status = STORE_RUN_RUNNING, .pc = 1};
    struct store_run *r = NULL;
    struct idf_err err = {0};
    char *text = NULL;

    assert_non_null(v);
    v[0] = '"';
    memset(v + 1, 'a', big);
    v[big + 1] = '"';
    v[big + 2] = '\0';
    res[0] = res[1] = res[2] = v;
    new_run(s, "wf");
    r = claim1(s, "w", T0);
    OK(store_foreach_begin(s, r->id, "w", T0, 0, items, 3, res, 2, &nx, &err));
    OK(store_foreach_outputs(s, r->id, 0, &text)); /* two: 12 MiB */
    free(text);
    text = NULL;
    OK(store_foreach_begin(s, r->id, "w", T0, 0, items, 3, res, 3, &nx, &err));
    assert_int_equal(store_foreach_outputs(s, r->id, 0, &text), IDF_ETOOBIG);
    assert_null(text);
    free(v);
    store_run_free(r);
}

/* ------------------------------------------------ named leases ("singleton") */

/* A free lease is taken; while it runs, another owner is refused and told
 * who holds it; the owner renews it (until moves); once it expired another
 * owner takes it over; bad input is refused. */
static void test_named_lease_take_renew_expire(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    bool held = true;
    char *holder = NULL, *owner = NULL;
    int64_t until = 0;

    assert_int_equal(store_lease_get(s, "poll:okta:prod", &owner, &until), IDF_ENOTFOUND);
    OK(store_lease_take(s, "poll:okta:prod", "node-a#1", T0, 10000, &held, &holder));
    assert_true(held);
    assert_string_equal(holder, "node-a#1");
    free(holder);
    holder = NULL;

    /* another owner, before expiry: refused, told who */
    OK(store_lease_take(s, "poll:okta:prod", "node-b#2", T0 + 9999, 10000, &held, &holder));
    assert_false(held);
    assert_string_equal(holder, "node-a#1");
    free(holder);
    holder = NULL;

    /* the owner renews: until moves on */
    OK(store_lease_take(s, "poll:okta:prod", "node-a#1", T0 + 9000, 10000, &held, NULL));
    assert_true(held);
    OK(store_lease_get(s, "poll:okta:prod", &owner, &until));
    assert_string_equal(owner, "node-a#1");
    assert_int_equal(until, T0 + 19000);
    free(owner);
    owner = NULL;
    OK(store_lease_take(s, "poll:okta:prod", "node-b#2", T0 + 18999, 10000, &held, NULL));
    assert_false(held);

    /* expired: taken over */
    OK(store_lease_take(s, "poll:okta:prod", "node-b#2", T0 + 19000, 10000, &held, &holder));
    assert_true(held);
    assert_string_equal(holder, "node-b#2");
    free(holder);
    holder = NULL;
    OK(store_lease_take(s, "poll:okta:prod", "node-a#1", T0 + 19001, 10000, &held, &holder));
    assert_false(held);
    assert_string_equal(holder, "node-b#2");
    free(holder);
    holder = NULL;

    /* other names are other leases */
    OK(store_lease_take(s, "schedule", "node-a#1", T0 + 19001, 10000, &held, NULL));
    assert_true(held);

    /* bad input: nothing written */
    assert_int_equal(store_lease_take(s, "", "node-a#1", T0, 10000, &held, NULL), IDF_EINVAL);
    assert_int_equal(store_lease_take(s, "x", "", T0, 10000, &held, NULL), IDF_EINVAL);
    assert_int_equal(store_lease_take(s, "x", "a", T0, 0, &held, NULL), IDF_EINVAL);
    assert_int_equal(store_lease_take(s, "x", "a", T0, STORE_LEASE_TTL_MAX + 1, &held, NULL), IDF_EINVAL);
    assert_int_equal(store_lease_take(s, "x", "a", -1, 10000, &held, NULL), IDF_EINVAL);
    assert_int_equal(store_lease_take(s, "x", "a", T0, 10000, NULL, NULL), IDF_EINVAL);
    {
        char big[300];
        memset(big, 'n', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        assert_int_equal(store_lease_take(s, big, "a", T0, 10000, &held, &holder), IDF_EINVAL);
        assert_false(held);
        assert_null(holder);
        assert_int_equal(store_lease_take(s, "x", big, T0, 10000, &held, NULL), IDF_EINVAL);
    }
    assert_int_equal(store_lease_get(s, "x", NULL, NULL), IDF_ENOTFOUND);
}

/* Only the owner drops a lease; once dropped anyone takes it at once. */
static void test_named_lease_drop(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    bool held = false;
    char *owner = NULL;

    OK(store_lease_drop(s, "schedule", "node-a#1")); /* no such lease: nothing to do */
    OK(store_lease_take(s, "schedule", "node-a#1", T0, 60000, &held, NULL));
    assert_true(held);
    assert_int_equal(store_lease_drop(s, "schedule", "node-b#2"), IDF_ESTATE);
    OK(store_lease_get(s, "schedule", &owner, NULL));
    assert_string_equal(owner, "node-a#1");
    free(owner);
    owner = NULL;
    OK(store_lease_take(s, "schedule", "node-b#2", T0 + 1, 60000, &held, NULL));
    assert_false(held);

    OK(store_lease_drop(s, "schedule", "node-a#1"));
    assert_int_equal(store_lease_get(s, "schedule", &owner, NULL), IDF_ENOTFOUND);
    OK(store_lease_take(s, "schedule", "node-b#2", T0 + 2, 60000, &held, NULL));
    assert_true(held);
    /* an expired lease is still not a non-owner's to drop */
    assert_int_equal(store_lease_drop(s, "schedule", "node-a#1"), IDF_ESTATE);
    assert_int_equal(store_lease_drop(s, "", "node-a#1"), IDF_EINVAL);
}

struct lease_racer {
    const char *url;
    const char *owner;
    int64_t now;
    pthread_barrier_t *go;
    int rounds;
    int rc;
    int won;          /* rounds this racer held the lease */
    char holder[64];  /* who it was told holds it, last round */
};

#define LEASE_RACERS 4
#define LEASE_ROUNDS 20

static void *lease_race_thread(void *arg)
{
    struct lease_racer *r = arg;
    struct store *s = NULL;
    char name[32];

    r->rc = store_open(r->url, &s, NULL);
    for (int i = 0; i < r->rounds; i++) {
        bool held = false;
        char *holder = NULL;
        snprintf(name, sizeof name, "race:%d", i);
        pthread_barrier_wait(r->go); /* every round, even after a failure: the others wait here */
        if (r->rc != 0)
            continue;
        r->rc = store_lease_take(s, name, r->owner, r->now, 60000, &held, &holder);
        if (held)
            r->won++;
        if (holder)
            snprintf(r->holder, sizeof r->holder, "%s", holder);
        free(holder);
    }
    store_close(s);
    return NULL;
}

/* Connections racing for one free lease, each round a new name: exactly
 * one wins each round, and the losers are told the winner. */
static void test_named_lease_race(void **state)
{
    struct fx *f = *state;
    pthread_t t[LEASE_RACERS];
    struct lease_racer r[LEASE_RACERS];
    static const char *const owners[LEASE_RACERS] = {"n1#1", "n2#2", "n3#3", "n4#4"};
    pthread_barrier_t go;
    int total = 0;

    pthread_barrier_init(&go, NULL, LEASE_RACERS);
    for (int i = 0; i < LEASE_RACERS; i++) {
        r[i] = (struct lease_racer){f->url, owners[i], T0, &go, LEASE_ROUNDS, -100, 0, ""};
        pthread_create(&t[i], NULL, lease_race_thread, &r[i]);
    }
    for (int i = 0; i < LEASE_RACERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].rc, 0);
        total += r[i].won;
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(total, LEASE_ROUNDS);
    for (int i = 0; i < LEASE_ROUNDS; i++) {
        char name[32], *owner = NULL;
        bool held = true;
        snprintf(name, sizeof name, "race:%d", i);
        OK(store_lease_get(f->s, name, &owner, NULL));
        /* the one recorded holder: nobody else gets it now */
        for (int k = 0; k < LEASE_RACERS; k++) {
            if (strcmp(owners[k], owner) == 0)
                continue;
            OK(store_lease_take(f->s, name, owners[k], T0 + 1, 60000, &held, NULL));
            assert_false(held);
        }
        free(owner);
    }
}

/* ------------------------------------- subjects (issue 17, "subjects") */

/* Ingests one event of source/via with subjects, starting n_runs runs of wf. */
static int64_t ingest_subj(struct store *s, const char *source, const char *via, const char *actor, const char *type,
                           const struct store_subject *subj, size_t n_subj, const char *wf, size_t n_runs,
                           int64_t *run_ids)
{
    struct store_run_in runs[4];
    struct store_ingest_item it = {0};
    struct idf_err err = {0};

    assert_true(n_runs <= 4);
    for (size_t i = 0; i < n_runs; i++)
        runs[i] = (struct store_run_in){wf, 1};
    it.event = (struct store_event_in){.source = source, .type = type, .connection = "prod", .data = "{}",
                                       .via = via, .actor = actor, .subjects = subj, .n_subjects = n_subj};
    it.runs = runs;
    it.n_runs = n_runs;
    it.run_ids = run_ids;
    assert_int_equal(store_ingest(s, &it, 1, &err), 0);
    return it.event_id;
}

static size_t list_n(struct store *s, const struct store_run_filter *f, int64_t *first_id)
{
    struct store_run *l = NULL;
    size_t n = 0;
    OK(store_run_list(s, f, &l, &n));
    if (first_id)
        *first_id = n ? l[0].id : 0;
    store_run_list_free(l, n);
    return n;
}

static int64_t count_n(struct store *s, const struct store_run_filter *f)
{
    int64_t n = -1;
    OK(store_run_count(s, f, &n));
    return n;
}

static const struct store_subject JANE[] = {
    {"okta.user", "00u1jane", "jane@acme.com", NULL},
    {"okta.user", "jane@acme.com", "jane@acme.com", NULL},
};
static const struct store_subject TICKET6[] = {
    {"happyfox.ticket", "6", "#HF00000006", NULL},
    {"happyfox.ticket", "hf00000006", "#HF00000006", NULL},
};

/* Filters by subject (any of its keys, normalized), source, source/via and
 * time combine with status and workflow; the count matches the list; a list
 * row carries the event's source, via, actor, trigger, connection and the
 * first subject's label. */
static void test_subjects_filters(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t a[2], b[1], c[1], first = 0;
    struct store_run_filter f = {0};
    struct store_run *l = NULL;
    size_t n = 0;

    ingest_subj(s, "okta", STORE_VIA_HOOK, NULL, "okta.user_locked", JANE, 2, "alpha", 2, a);
    ingest_subj(s, "happyfox", STORE_VIA_POLL, NULL, "happyfox.ticket_created", TICKET6, 2, "beta", 1, b);
    ingest_subj(s, "manual", STORE_VIA_API, "token:alice", "manual", NULL, 0, "alpha", 1, c);

    f.subject = "jane@acme.com";
    assert_int_equal(list_n(s, &f, &first), 2);
    assert_int_equal(first, a[1]); /* newest first */
    assert_int_equal(count_n(s, &f), 2);
    f.subject = "  Jane@ACME.com"; /* normalized by the store too */
    assert_int_equal(list_n(s, &f, NULL), 2);
    f.subject = "00u1jane";
    assert_int_equal(list_n(s, &f, NULL), 2);
    f.subject = "#HF00000006";
    assert_int_equal(list_n(s, &f, &first), 1);
    assert_int_equal(first, b[0]);
    f.subject = "6";
    assert_int_equal(list_n(s, &f, &first), 1);
    f.subject = "nobody@acme.com";
    assert_int_equal(list_n(s, &f, NULL), 0);
    assert_int_equal(count_n(s, &f), 0);

    /* source and source/via, alone and with a subject and a workflow */
    f = (struct store_run_filter){.source = "okta"};
    assert_int_equal(list_n(s, &f, NULL), 2);
    f.source = "okta/hook";
    assert_int_equal(list_n(s, &f, NULL), 2);
    f.source = "okta/poll";
    assert_int_equal(list_n(s, &f, NULL), 0);
    assert_int_equal(count_n(s, &f), 0);
    f.source = "happyfox/poll";
    f.subject = "hf00000006";
    assert_int_equal(list_n(s, &f, NULL), 1);
    f.workflow = "alpha";
    assert_int_equal(list_n(s, &f, NULL), 0);
    f = (struct store_run_filter){.workflow = "alpha"};
    assert_int_equal(count_n(s, &f), 3);
    f.subject = "jane@acme.com";
    f.status = STORE_RUN_QUEUED;
    assert_int_equal(list_n(s, &f, NULL), 2);
    assert_int_equal(count_n(s, &f), 2);
    f.status = STORE_RUN_FAILED;
    assert_int_equal(list_n(s, &f, NULL), 0);
    assert_int_equal(count_n(s, &f), 0);

    /* paging by subject: before_id and limit; the count ignores both */
    f = (struct store_run_filter){.subject = "jane@acme.com", .limit = 1};
    assert_int_equal(list_n(s, &f, &first), 1);
    assert_int_equal(first, a[1]);
    f.before_id = a[1];
    assert_int_equal(list_n(s, &f, &first), 1);
    assert_int_equal(first, a[0]);
    assert_int_equal(count_n(s, &f), 2);

    /* time: created_at of these runs is now; since/until around it */
    f = (struct store_run_filter){.since = time_now_ms() + 3600000};
    assert_int_equal(list_n(s, &f, NULL), 0);
    assert_int_equal(count_n(s, &f), 0);
    f = (struct store_run_filter){.since = T0, .until = time_now_ms() + 3600000};
    assert_int_equal(list_n(s, &f, NULL), 4);
    assert_int_equal(count_n(s, &f), 4);
    f.until = T0 + 1;
    assert_int_equal(list_n(s, &f, NULL), 0);
    f = (struct store_run_filter){.subject = "jane@acme.com", .since = T0};
    assert_int_equal(count_n(s, &f), 2);
    f.until = T0;
    assert_int_equal(count_n(s, &f), 0);

    /* no filter, and status only */
    assert_int_equal(count_n(s, NULL), 4);
    f = (struct store_run_filter){.status = STORE_RUN_QUEUED};
    assert_int_equal(count_n(s, &f), 4);

    /* the row: source, via, actor, trigger, connection, subject */
    OK(store_run_list(s, NULL, &l, &n));
    assert_int_equal(n, 4);
    assert_int_equal(l[0].id, c[0]);
    assert_string_equal(l[0].source, "manual");
    assert_string_equal(l[0].via, "api");
    assert_string_equal(l[0].actor, "token:alice");
    assert_string_equal(l[0].trigger, "manual");
    assert_string_equal(l[0].connection, "prod");
    assert_null(l[0].subject);
    assert_int_equal(l[0].rerun_as, 0);
    assert_int_equal(l[1].id, b[0]);
    assert_string_equal(l[1].subject, "#HF00000006");
    assert_string_equal(l[1].via, "poll");
    assert_null(l[1].actor);
    assert_string_equal(l[2].subject, "jane@acme.com");
    assert_string_equal(l[2].trigger, "okta.user_locked");
    store_run_list_free(l, n);

    /* bad filters change nothing and allocate nothing */
    f = (struct store_run_filter){.subject = " "};
    assert_int_equal(store_run_list(s, &f, &l, &n), IDF_EINVAL);
    assert_null(l);
    assert_int_equal(store_run_count(s, &f, &(int64_t){0}), IDF_EINVAL);
    f = (struct store_run_filter){.subject = "a\nb"};
    assert_int_equal(store_run_list(s, &f, &l, &n), IDF_EINVAL);
    f = (struct store_run_filter){.source = "okta/poll/x"};
    assert_int_equal(store_run_list(s, &f, &l, &n), IDF_EINVAL);
    f = (struct store_run_filter){.source = "/poll"};
    assert_int_equal(store_run_count(s, &f, &(int64_t){0}), IDF_EINVAL);
    f = (struct store_run_filter){.since = -1};
    assert_int_equal(store_run_list(s, &f, &l, &n), IDF_EINVAL);
}

/* An event stored without via/actor/subjects (as every event before
 * migration 11) reads back with NULLs; store_run_get fills the same fields
 * as the list. */
static void test_subjects_unknown_via(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t id = new_run(s, "wf");
    struct store_run *r = NULL;
    struct store_run_subject *subj = NULL;
    size_t n = 9;

    OK(store_run_get(s, id, &r));
    assert_string_equal(r->source, "test");
    assert_null(r->via);
    assert_null(r->actor);
    assert_string_equal(r->trigger, "manual");
    assert_null(r->connection);
    assert_null(r->subject);
    assert_int_equal(r->rerun_as, 0);
    store_run_free(r);
    OK(store_run_subjects(s, id, &subj, &n));
    assert_int_equal(n, 0);
    assert_null(subj);
}

/* A step commit adds the step's subjects (step_id set) in its transaction,
 * once per key (the first label kept, the event's included), records the
 * step's change; store_run_changes lists the changes by run; a commit that
 * fails writes no subject. */
static void test_subjects_step_commit(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t a[1], other = 0, first = 0;
    const struct store_subject step_subj[] = {
        {"okta.group", "00g1fin", "Finance", NULL},
        {"okta.group", "finance", "Finance", NULL},
        {"okta.user", "jane@acme.com", "another label", NULL}, /* the event has it: kept as it was */
        {"okta.group", "00G1FIN", "Finance again", NULL},      /* the same key once normalized */
    };
    struct store_step_rec s0 = {.index = 0, .step_id = "suspend", .item = -1, .status = STORE_STEP_SUCCEEDED,
                                .attempts = 1, .started_at = T0, .finished_at = T0 + 1, .change = "suspended"};
    struct store_step_rec s1 = {.index = 1, .step_id = "remove", .item = -1, .status = STORE_STEP_SUCCEEDED,
                                .attempts = 1, .started_at = T0, .finished_at = T0 + 2,
                                .change = "removed from Finance", .subjects = step_subj, .n_subjects = 4};
    struct store_step_rec s2 = {.index = 2, .step_id = "note", .item = -1, .status = STORE_STEP_SUCCEEDED,
                                .attempts = 1, .started_at = T0, .finished_at = T0 + 3};
    struct store_run_next nx = {.status = STORE_RUN_RUNNING, .pc = 1};
    struct store_run_next done = {.status = STORE_RUN_SUCCEEDED, .pc = 3};
    struct store_run_subject *subj = NULL;
    struct store_change *ch = NULL;
    struct store_step *steps = NULL;
    struct store_run_filter f = {0};
    struct store_run *r = NULL;
    size_t n = 0;

    ingest_subj(s, "okta", STORE_VIA_HOOK, NULL, "okta.user_locked", JANE, 2, "wf", 1, a);
    other = new_run(s, "wf");
    store_run_free(claim1(s, "w", T0));
    /* a commit by the wrong owner fails and writes none of its subjects */
    assert_int_equal(store_step_commit(s, a[0], "intruder", T0, &s1, &nx, NULL), IDF_ESTATE);
    f.subject = "finance";
    assert_int_equal(list_n(s, &f, NULL), 0);

    OK(store_step_commit(s, a[0], "w", T0 + 1, &s0, &nx, NULL));
    nx.pc = 2;
    OK(store_step_commit(s, a[0], "w", T0 + 2, &s1, &nx, NULL));
    OK(store_step_commit(s, a[0], "w", T0 + 3, &s2, &done, NULL));

    assert_int_equal(list_n(s, &f, &first), 1);
    assert_int_equal(first, a[0]);
    f.subject = "00g1fin";
    assert_int_equal(count_n(s, &f), 1);

    OK(store_run_subjects(s, a[0], &subj, &n));
    assert_int_equal(n, 4); /* 00u1jane, jane@acme.com (event's), 00g1fin, finance (step's) */
    assert_string_equal(subj[0].key, "00u1jane");
    assert_string_equal(subj[0].kind, "okta.user");
    assert_null(subj[0].step_id);
    assert_string_equal(subj[1].key, "jane@acme.com");
    assert_string_equal(subj[1].label, "jane@acme.com"); /* the first label stays */
    assert_null(subj[1].step_id);
    assert_string_equal(subj[2].key, "00g1fin");
    assert_string_equal(subj[2].label, "Finance");
    assert_string_equal(subj[2].step_id, "remove");
    assert_string_equal(subj[3].key, "finance");
    store_run_subject_list_free(subj, n);

    OK(store_run_get(s, a[0], &r));
    assert_string_equal(r->subject, "jane@acme.com");
    store_run_free(r);

    OK(store_step_list(s, a[0], &steps, &n));
    assert_int_equal(n, 3);
    assert_string_equal(steps[0].change, "suspended");
    assert_string_equal(steps[1].change, "removed from Finance");
    assert_null(steps[2].change);
    store_step_list_free(steps, n);

    {
        const int64_t ids[] = {other, a[0], 987654};
        OK(store_run_changes(s, ids, 3, &ch, &n));
    }
    assert_int_equal(n, 2);
    assert_int_equal(ch[0].run_id, a[0]);
    assert_string_equal(ch[0].step_id, "suspend");
    assert_int_equal(ch[0].item, -1);
    assert_string_equal(ch[0].change, "suspended");
    assert_int_equal(ch[0].finished_at, T0 + 1);
    assert_string_equal(ch[1].change, "removed from Finance");
    store_change_list_free(ch, n);
    {
        const int64_t ids[] = {other};
        OK(store_run_changes(s, ids, 1, &ch, &n));
        assert_int_equal(n, 0);
        assert_null(ch);
    }
    assert_int_equal(store_run_changes(s, NULL, 1, &ch, &n), IDF_EINVAL);
    store_change_list_free(NULL, 0);
    store_run_subject_list_free(NULL, 0);
}

/* A run's step subjects only: its first step subject labels it. A stage
 * MATCH event gets its subjects when it is settled. */
static void test_subjects_settle(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_ingest_item it = {0};
    struct store_run_in run = {"wf", 1};
    struct store_settle st = {0};
    struct store_run_filter f = {.subject = "#hf00000006"};
    int64_t id = 0, first = 0;
    struct store_run *r = NULL;

    it.event = (struct store_event_in){.source = "happyfox", .type = "happyfox.ticket_created", .data = "{}",
                                       .stage = STORE_EVENT_MATCH, .via = STORE_VIA_HOOK, .subjects = TICKET6,
                                       .n_subjects = 2};
    OK(store_ingest(s, &it, 1, NULL));
    st.event_id = it.event_id;
    st.runs = &run;
    st.n_runs = 1;
    st.run_ids = &id;
    st.subjects = TICKET6;
    st.n_subjects = 2;
    OK(store_events_settle(s, &st, 1, NULL));
    assert_true(st.settled);
    assert_int_equal(list_n(s, &f, &first), 1);
    assert_int_equal(first, id);
    OK(store_run_get(s, id, &r));
    assert_string_equal(r->subject, "#HF00000006");
    assert_string_equal(r->via, "hook");
    store_run_free(r);
}

/* A re-run carries the original's subjects; the original names its newest
 * re-run (rerun_as), in the list and when read alone. */
static void test_subjects_rerun(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    int64_t a[1], re = 0, first = 0;
    const struct store_subject grp[] = {{"okta.group", "00g1fin", "Finance", NULL}};
    struct store_step_rec s0 = {.index = 0, .step_id = "remove", .item = -1, .status = STORE_STEP_FAILED,
                                .attempts = 1, .started_at = T0, .finished_at = T0, .subjects = grp,
                                .n_subjects = 1};
    struct store_run_next fail = {.status = STORE_RUN_FAILED, .error = "boom"};
    struct store_run_filter f = {.subject = "jane@acme.com"};
    struct store_run_subject *subj = NULL;
    struct store_run *r = NULL, *l = NULL;
    size_t n = 0;

    ingest_subj(s, "okta", STORE_VIA_POLL, NULL, "okta.user_locked", JANE, 2, "wf", 1, a);
    store_run_free(claim1(s, "w", T0));
    OK(store_step_commit(s, a[0], "w", T0, &s0, &fail, NULL));
    OK(store_run_rerun(s, a[0], T0 + 100, "cli:test", false, &re, NULL));

    assert_int_equal(list_n(s, &f, &first), 2);
    assert_int_equal(first, re);
    f.subject = "00g1fin";
    assert_int_equal(count_n(s, &f), 2);
    OK(store_run_subjects(s, re, &subj, &n));
    assert_int_equal(n, 3);
    assert_null(subj[0].step_id);
    assert_string_equal(subj[2].step_id, "remove");
    store_run_subject_list_free(subj, n);

    OK(store_run_get(s, a[0], &r));
    assert_int_equal(r->rerun_as, re);
    store_run_free(r);
    OK(store_run_get(s, re, &r));
    assert_int_equal(r->rerun_as, 0);
    assert_string_equal(r->subject, "jane@acme.com");
    assert_string_equal(r->via, "poll");
    store_run_free(r);
    OK(store_run_list(s, NULL, &l, &n));
    assert_int_equal(n, 2);
    assert_int_equal(l[1].id, a[0]);
    assert_int_equal(l[1].rerun_as, re);
    store_run_list_free(l, n);
    /* the re-run's created_at is the one given: found by time */
    f = (struct store_run_filter){.since = T0, .until = T0 + 101};
    assert_int_equal(list_n(s, &f, &first), 1);
    assert_int_equal(first, re);
}

/* Caps: at most STORE_SUBJECTS_MAX subjects of one event or step record are
 * kept; a subject without a kind, with a key that does not normalize or is
 * too long is skipped; a label and a change are cut (at a UTF-8 boundary),
 * bytes that are not UTF-8 replaced: nothing is refused. */
static void test_subjects_caps(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    enum { N = STORE_SUBJECTS_MAX + 10 };
    static struct store_subject many[N + 4];
    static char keys[N][16];
    static char longkey[400], longlabel[1000], longchange[2000];
    struct store_run_subject *subj = NULL;
    struct store_step *steps = NULL;
    struct store_run_filter f = {0};
    int64_t a[1];
    size_t n = 0;

    memset(longkey, 'k', sizeof longkey - 1);
    /* "é" (2 bytes) repeated: a cut must not split one */
    for (size_t i = 0; i + 2 < sizeof longlabel; i += 2)
        memcpy(longlabel + i, "\xc3\xa9", 2);
    memset(longchange, 'c', sizeof longchange - 1);
    many[0] = (struct store_subject){NULL, "nokind", "x", NULL};          /* skipped */
    many[1] = (struct store_subject){"okta.user", longkey, "long", NULL}; /* skipped */
    many[2] = (struct store_subject){"okta.user", "a\tb", "ctl", NULL};   /* skipped: control character */
    many[3] = (struct store_subject){"okta.user", "bad\xff", "x", NULL};  /* skipped: not UTF-8 */
    many[4] = (struct store_subject){"okta.user", "cut", longlabel, NULL};
    many[5] = (struct store_subject){"okta.user", "odd", "a\xffz\x01", NULL};
    for (int i = 6; i < N + 4; i++) {
        snprintf(keys[i - 4], sizeof keys[0], "u%03d", i);
        many[i] = (struct store_subject){"okta.user", keys[i - 4], NULL, NULL};
    }
    ingest_subj(s, "okta", STORE_VIA_HOOK, NULL, "okta.user_locked", many, N + 4, "wf", 1, a);
    OK(store_run_subjects(s, a[0], &subj, &n));
    assert_int_equal(n, STORE_SUBJECTS_MAX);
    assert_string_equal(subj[0].key, "cut");
    assert_true(strlen(subj[0].label) <= 200 && strlen(subj[0].label) >= 190);
    assert_int_equal(strlen(subj[0].label) % 2, 0); /* whole characters */
    assert_string_equal(subj[1].label, "a?z ");
    assert_string_equal(subj[2].label, "u006"); /* no label: the key */
    store_run_subject_list_free(subj, n);
    f.subject = "nokind";
    assert_int_equal(list_n(s, &f, NULL), 0);

    /* a step record's change is cut, not refused */
    {
        struct store_step_rec s0 = {.index = 0, .step_id = "x", .item = -1, .status = STORE_STEP_SUCCEEDED,
                                    .attempts = 1, .started_at = T0, .finished_at = T0, .change = longchange,
                                    .subjects = many + 40, .n_subjects = N + 4 - 40};
        struct store_run_next done = {.status = STORE_RUN_SUCCEEDED, .pc = 1};
        store_run_free(claim1(s, "w", T0));
        OK(store_step_commit(s, a[0], "w", T0, &s0, &done, NULL));
    }
    OK(store_step_list(s, a[0], &steps, &n));
    assert_int_equal(n, 1);
    assert_int_equal(strlen(steps[0].change), 500);
    store_step_list_free(steps, n);
    OK(store_run_subjects(s, a[0], &subj, &n));
    assert_int_equal(n, STORE_SUBJECTS_MAX + 10); /* the step's u040..u077: u068..u077 are new */
    store_run_subject_list_free(subj, n);

    /* subjects given without their array: refused, nothing written */
    {
        struct store_ingest_item it = {0};
        it.event = (struct store_event_in){.source = "x", .type = "t", .data = "{}", .n_subjects = 1};
        assert_int_equal(store_ingest(s, &it, 1, NULL), IDF_EINVAL);
    }
}
/* Pruning a finished run deletes its subjects with it: a search finds
 * nothing, and nothing of the person is left behind. */
static void test_subjects_pruned(void **state)
{
    struct store *s = ((struct fx *)*state)->s;
    struct store_run_next done = {.status = STORE_RUN_SUCCEEDED, .pc = 1};
    struct store_run_filter f = {.subject = "jane@acme.com"};
    struct store_run_subject *subj = NULL;
    int64_t a[1], pruned = 0;
    size_t n = 9;

    ingest_subj(s, "okta", STORE_VIA_HOOK, NULL, "okta.user_locked", JANE, 2, "wf", 1, a);
    store_run_free(claim1(s, "w", T0));
    OK(store_step_commit(s, a[0], "w", T0, NULL, &done, NULL));
    assert_int_equal(count_n(s, &f), 1);
    OK(store_prune(s, T0 + 1, &pruned));
    assert_int_equal(pruned, 1);
    assert_int_equal(count_n(s, &f), 0);
    assert_int_equal(list_n(s, &f, NULL), 0);
    OK(store_run_subjects(s, a[0], &subj, &n));
    assert_int_equal(n, 0);
}
/* (end of "subjects") */

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_and_migrations),
        cmocka_unit_test(test_open_urls),
        T(test_open_bare_path),
        T(test_open_concurrent),
        T(test_workflow_versions),
        T(test_workflow_last_runs),
        T(test_ingest_dedup),
        T(test_event_stages),
        T(test_event_data_reads_back), /* issue 20, packed event data */
        T(test_ingest_rejects_whole_batch),
        T(test_ingest_batch_is_one_transaction),
        T(test_claim_oldest_first_one_owner),
        T(test_claim_concurrent_threads),
        T(test_cap_within_one_claim),
        T(test_cap_across_owners),
        T(test_cap_backlog_does_not_block_others),
        T(test_cap_due_backlog_does_not_block_others),
        T(test_cap_expired_lease_takeover),
        T(test_cap_bad_input),
        T(test_fair_backlog_does_not_delay_other),
        T(test_fair_priority),
        T(test_fair_cap_still_holds),
        T(test_fair_not_due_not_early),
        T(test_lease_expiry),
        T(test_waiting_wake),
        T(test_step_commit_states),
        T(test_release_leases),
        T(test_release_worker_leases),
        T(test_claim_by_id),
        T(test_interrupted_counts_dead_owners),
        T(test_interrupted_only_begun),
        T(test_stop_dead_owner),
        T(test_run_list_filter),
        T(test_run_counts),
        T(test_rerun),
        T(test_succeeded_run_keeps_no_context), /* issue 20 */
        T(test_cancel),
        T(test_stop),
        T(test_approvals),
        T(test_guardrail_holds),
        T(test_guardrail_hold_checks),
        T(test_rerun_once_unless_forced), /* issue 17, "approvals-reruns" */
        T(test_rerun_rejected),
        T(test_run_approvals_decisions),
        T(test_rerun_concurrent),
        T(test_cursors),
        T(test_audit),
        T(test_connections),
        T(test_prune),
        T(test_foreach_state),
        T(test_foreach_many_items),
        T(test_foreach_outputs_too_big),
        T(test_named_lease_take_renew_expire),
        T(test_named_lease_drop),
        T(test_named_lease_race),
        T(test_subjects_filters), /* issue 17, "subjects" */
        T(test_subjects_unknown_via),
        T(test_subjects_step_commit),
        T(test_subjects_settle),
        T(test_subjects_rerun),
        T(test_subjects_caps),
        T(test_subjects_pruned),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}

/* test_foreach.c — a foreach step's items and outputs are stored apart from
 * the run's context (store_foreach_*, exec.c), so an item's commit does not
 * rewrite the whole list:
 *  - the store keeps items and results per item, never lists them in the
 *    history, refuses them without the lease, copies them on a rerun, and
 *    drops them when the step ends or the run is pruned;
 *  - `kill -9` of idflow serve in the middle of a foreach, then a restart:
 *    the run resumes at the first item whose result was not recorded, with
 *    the items read back from the store, and the outputs array is complete
 *    and in item order;
 *  - outputs keep their order and content with on_error: continue, retries,
 *    and outputs that the history redacts;
 *  - a rerun of a run that failed in the middle of a foreach starts at the
 *    failed item and keeps the outputs of the items before it;
 *  - a run whose context an older idflow wrote (items and outputs inside it)
 *    resumes correctly;
 *  - a dry run goes through every item. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api/render.h"
#include "store/store.h"
#include "support/testsrv.h"
#include "support/testutil.h"

#define OK(x) assert_int_equal((x), 0)
#define LEASE 60000
#define CRASH_ITEMS 400 /* items of the foreach killed in the middle */

static const char *bin;
static char *dir;     /* the suite's temp directory */
static char wfdir[600];
static struct testsrv *target;

/* --------------------------------------------------------------- workflows */

static const char WF_CRASH[] = "name: fe-crash\n"
                               "on:\n"
                               "  manual:\n"
                               "allow_private_network: true\n" /* the target is a loopback test server */
                               "steps:\n"
                               "  - id: before\n"
                               "    do: set\n"
                               "    with:\n"
                               "      n: ${{ .event.data.n }}\n"
                               "  - id: each\n"
                               "    foreach: '${{ [range(.vars.n) | {i: ., login: (\"user\" + tostring)}] }}'\n"
                               "    as: user\n"
                               "    do: http.request\n"
                               "    with:\n"
                               "      method: POST\n"
                               "      url: \"${{ .event.data.base }}/item/${{ .user.i }}\"\n"
                               "      json: { login: \"${{ .user.login }}\" }\n"
                               "  - id: report\n"
                               "    do: http.request\n"
                               "    with:\n"
                               "      method: POST\n"
                               "      url: \"${{ .event.data.base }}/report\"\n"
                               "      json: { i: \"${{ [.steps.each[] | .json.i] }}\" }\n";

static const char WF_MIXED[] = "name: fe-mixed\n"
                               "on:\n"
                               "  manual:\n"
                               "allow_private_network: true\n" /* the target is a loopback test server */
                               "steps:\n"
                               "  - id: each\n"
                               "    foreach: ${{ .event.data.items }}\n"
                               "    do: http.request\n"
                               "    with:\n"
                               "      method: POST\n"
                               "      url: \"${{ .event.data.base }}/mixed/${{ .item }}\"\n"
                               "    retry: { max: 5, backoff: 50ms, max_delay: 200ms }\n"
                               "    on_error: continue\n"
                               "  - id: report\n"
                               "    do: http.request\n"
                               "    with:\n"
                               "      method: POST\n"
                               "      url: \"${{ .event.data.base }}/report\"\n"
                               "      json: { each: \"${{ .steps.each }}\" }\n";

static const char WF_RERUN[] = "name: fe-rerun\n"
                               "on:\n"
                               "  manual:\n"
                               "allow_private_network: true\n" /* the target is a loopback test server */
                               "steps:\n"
                               "  - id: first\n"
                               "    do: http.request\n"
                               "    with:\n"
                               "      url: \"${{ .event.data.base }}/first\"\n"
                               "  - id: each\n"
                               "    foreach: ${{ .event.data.items }}\n"
                               "    do: http.request\n"
                               "    with:\n"
                               "      method: POST\n"
                               "      url: \"${{ .event.data.base }}/rr/${{ .item }}\"\n"
                               "  - id: report\n"
                               "    do: http.request\n"
                               "    with:\n"
                               "      method: POST\n"
                               "      url: \"${{ .event.data.base }}/report\"\n"
                               "      json: { each: \"${{ .steps.each }}\" }\n";

static const char WF_LEGACY[] = "name: fe-legacy\n"
                                "on:\n"
                                "  manual:\n"
                                "allow_private_network: true\n" /* the target is a loopback test server */
                                "steps:\n"
                                "  - id: each\n"
                                "    foreach: ${{ .event.data.items }}\n"
                                "    do: http.request\n"
                                "    with:\n"
                                "      method: POST\n"
                                "      url: \"${{ .event.data.base }}/legacy/${{ .item }}\"\n"
                                "  - id: report\n"
                                "    do: http.request\n"
                                "    with:\n"
                                "      method: POST\n"
                                "      url: \"${{ .event.data.base }}/report\"\n"
                                "      json: { each: \"${{ .steps.each }}\" }\n";

static const char WF_PACED[] = "name: fe-paced\n"
                               "on:\n"
                               "  manual:\n"
                               "allow_private_network: true\n" /* the target is a loopback test server */
                               "steps:\n"
                               "  - id: wait\n"
                               "    foreach: ${{ .event.data.items }}\n"
                               "    do: delay\n"
                               "    with:\n"
                               "      duration: 100ms\n"
                               "  - id: mark\n"
                               "    foreach: ${{ .event.data.items }}\n"
                               "    do: set\n"
                               "    with:\n"
                               "      last: ${{ .item }}\n"
                               "  - id: report\n"
                               "    do: http.request\n"
                               "    with:\n"
                               "      method: POST\n"
                               "      url: \"${{ .event.data.base }}/report\"\n"
                               "      json: { waits: \"${{ [.steps.wait[] | .waited_ms] }}\", marks: \"${{ .steps.mark }}\",\n"
                               "              last: \"${{ .vars.last }}\" }\n";

/* ------------------------------------------------------------- the server */

/* calls per crash item, counted by the handler */
/* The step records of a run as the API shows them (caller decrefs), or NULL. */
static json_t *steps_json(struct store *s, int64_t run_id)
{
    struct store_step *rows = NULL;
    json_t *steps = NULL;
    size_t n = 0;

    if (store_step_list(s, run_id, &rows, &n) == 0)
        steps = render_steps(rows, n);
    store_step_list_free(rows, n);
    return steps;
}

static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static int item_calls[CRASH_ITEMS];

/* /item/<i> answers {"i": i} a little later (so the kill catches items in
 * flight); everything else falls through to the rules. */
static bool answer_items(void *ud, const struct http_req *req, struct http_resp *resp)
{
    int i;
    (void)ud;
    if (strncmp(req->path, "/item/", 6) != 0)
        return false;
    i = atoi(req->path + 6);
    if (i >= 0 && i < CRASH_ITEMS) {
        pthread_mutex_lock(&calls_lock);
        item_calls[i]++;
        pthread_mutex_unlock(&calls_lock);
    }
    resp->delay_ms = 5;
    http_resp_json(resp, 200, json_pack("{s:i}", "i", i));
    return true;
}

static void answer(const char *path, int status, const char *body, int times)
{
    struct testsrv_answer a = {status, body, NULL, {NULL}, 0, false};
    testsrv_on(target, path, &a, times);
}

/* ------------------------------------------------------- serve and the CLI */

struct serve {
    struct tu_proc p;
    char db[400];
    char base[128];
};

static void serve_start(struct serve *s, const char *node)
{
    char listen[64], url[200];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", tu_free_port());
    snprintf(s->base, sizeof s->base, "http://%s", listen);
    {
        const char *argv[] = {bin,     "serve",     "--db", s->db, "--listen", listen, "--workflows", wfdir,
                              "--workers", "4", "--node-id", node, NULL};
        assert_int_equal(tu_spawn(argv, NULL, &s->p), 0);
    }
    snprintf(url, sizeof url, "%s/readyz", s->base);
    if (tu_wait_http_ok(url, 15000)) {
        char *e = tu_proc_stderr(&s->p);
        fail_msg("idflow serve did not become ready:\n%s", e);
    }
}

/* SIGTERM: a clean exit (under ASan also no leak report). */
static void serve_stop(struct serve *s)
{
    int rc;
    tu_kill(&s->p, SIGTERM);
    rc = tu_wait(&s->p, 15000);
    if (rc != 0) {
        char *e = tu_proc_stderr(&s->p);
        print_message("idflow serve exited with %d:\n%s\n", rc, e);
        free(e);
    }
    assert_int_equal(rc, 0);
    tu_proc_cleanup(&s->p);
}

static int64_t start_run(struct serve *s, const char *workflow, const char *data)
{
    char url[200], body[2048], *resp = NULL;
    long status = 0;
    json_t *a;
    int64_t id;
    snprintf(url, sizeof url, "%s/api/v1/events", s->base);
    snprintf(body, sizeof body, "{\"workflow\":\"%s\",\"data\":%s}", workflow, data);
    assert_int_equal(tu_http("POST", url, body, NULL, &status, &resp), 0);
    assert_int_equal(status, 202);
    a = json_loads(resp, 0, NULL);
    free(resp);
    id = json_integer_value(json_array_get(json_object_get(a, "run_ids"), 0));
    json_decref(a);
    assert_true(id > 0);
    return id;
}

static json_t *get_run(struct serve *s, int64_t id)
{
    char url[200], *resp = NULL;
    long status = 0;
    json_t *r;
    snprintf(url, sizeof url, "%s/api/v1/runs/%lld", s->base, (long long)id);
    assert_int_equal(tu_http("GET", url, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    r = json_loads(resp, 0, NULL);
    free(resp);
    assert_non_null(r);
    return r;
}

/* Polls the run until it has status `want`; fails on another final status. */
static json_t *wait_run(struct serve *s, int64_t id, const char *want, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        json_t *r = get_run(s, id);
        const char *st = json_string_value(json_object_get(r, "status"));
        if (strcmp(st, want) == 0)
            return r;
        if (tu_now_ms() > deadline || ((!strcmp(st, "succeeded") || !strcmp(st, "failed")) && strcmp(st, want))) {
            char *txt = json_dumps(r, JSON_INDENT(1));
            fail_msg("run %lld is %s, expected %s:\n%.4000s", (long long)id, st, want, txt);
        }
        json_decref(r);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* The JSON body of the last request to path (new reference). */
static json_t *last_body(const char *path)
{
    json_t *req = testsrv_request(target, path, -1), *b;
    assert_non_null(req);
    b = testsrv_req_json(req);
    json_decref(req);
    assert_non_null(b);
    return b;
}

/* The step record (step_id, item) in a run's "steps", or NULL. */
static json_t *step_of(json_t *run, const char *id, int item)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(run, "steps"), i, s)
    {
        if (!strcmp(json_string_value(json_object_get(s, "step_id")), id) &&
            json_integer_value(json_object_get(s, "item")) == item)
            return s;
    }
    return NULL;
}

/* Every history record is a real step outcome: an item of -1 (a plain
 * step) or, for the foreach steps foreach_id and also_id (may be NULL),
 * within the items. */
static void assert_history_is_steps_only(json_t *run, const char *foreach_id, const char *also_id, int n_items)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(run, "steps"), i, s)
    {
        int item = (int)json_integer_value(json_object_get(s, "item"));
        const char *id = json_string_value(json_object_get(s, "step_id"));
        if (!strcmp(id, foreach_id) || (also_id && !strcmp(id, also_id)))
            assert_true(item >= 0 && item < n_items);
        else
            assert_int_equal(item, -1);
    }
}

static int run_cli(const char *const *argv, char **out)
{
    struct tu_proc p;
    int rc;
    assert_int_equal(tu_spawn(argv, NULL, &p), 0);
    rc = tu_wait(&p, 30000);
    if (out)
        *out = tu_proc_stdout(&p);
    tu_proc_cleanup(&p);
    return rc;
}

/* ---------------------------------------------------------- store level */

static struct store *open_store(const char *name, char *url, size_t n)
{
    struct store *s = NULL;
    struct idf_err err = {0};
    snprintf(url, n, "sqlite:%s/%s", dir, name);
    if (store_open(url, &s, &err))
        fail_msg("store_open: %s", err.msg);
    return s;
}

/* One claimed run of workflow wf (version 1) owned by owner. */
static struct store_run *claimed_run(struct store *s, const char *wf, const char *owner)
{
    struct store_run_in rin = {wf, 1};
    struct store_ingest_item it = {0};
    struct store_run *r = NULL;
    int64_t id = 0;
    struct idf_err err = {0};
    it.event = (struct store_event_in){"test", NULL, "manual", NULL, "{\"data\":{}}"};
    it.runs = &rin;
    it.n_runs = 1;
    it.run_ids = &id;
    OK(store_ingest(s, &it, 1, &err));
    OK(store_run_claim_id(s, id, owner, tu_now_ms(), LEASE, &r, &err));
    assert_non_null(r);
    return r;
}

static void assert_outputs(struct store *s, int64_t run, int index, const char *want)
{
    char *text = NULL;
    OK(store_foreach_outputs(s, run, index, &text));
    assert_string_equal(text, want);
    free(text);
}

static void store_keeps_items_and_results_apart_from_history(void **state)
{
    char url[600];
    struct store *s = open_store("state.db", url, sizeof url);
    struct store_run *r = claimed_run(s, "wf", "w1");
    const char *items[] = {"\"a\"", "{\"b\":2}", "[3]"};
    const char *again[] = {"\"x\"", "\"y\""};
    const char *again_res[] = {"\"rx\""};
    struct store_run_next nx = {.status = STORE_RUN_RUNNING, .pc = 1, .context = "{\"foreach\":{\"each\":{\"n\":3}}}"};
    struct store_step_rec rec = {.index = 1, .step_id = "each", .item = 0, .status = STORE_STEP_SUCCEEDED,
                                 .attempts = 1, .input = "{\"user\":\"a\"}", .output = "{\"token\":\"[redacted]\"}",
                                 .started_at = 1, .finished_at = 2, .result = "{\"token\":\"t-a\"}"};
    struct idf_err err = {0};
    char *text = NULL;
    json_t *steps = NULL;
    int64_t id;
    (void)state;

    /* without the lease nothing is stored */
    assert_int_equal(store_foreach_begin(s, r->id, "w2", tu_now_ms(), 1, items, 3, NULL, 0, &nx, &err), IDF_ESTATE);
    assert_int_equal(store_foreach_item(s, r->id, 1, 0, &text), IDF_ENOTFOUND);
    assert_int_equal(store_foreach_begin(s, r->id, "w1", tu_now_ms(), 1, items, 0, NULL, 0, &nx, &err), IDF_EINVAL);

    OK(store_foreach_begin(s, r->id, "w1", tu_now_ms(), 1, items, 3, NULL, 0, &nx, &err));
    OK(store_foreach_item(s, r->id, 1, 1, &text));
    assert_string_equal(text, "{\"b\":2}");
    free(text);
    OK(store_foreach_item(s, r->id, 1, 2, &text));
    assert_string_equal(text, "[3]");
    free(text);
    assert_int_equal(store_foreach_item(s, r->id, 1, 3, &text), IDF_ENOTFOUND);
    assert_int_equal(store_foreach_item(s, r->id, 0, 0, &text), IDF_ENOTFOUND);
    assert_outputs(s, r->id, 1, "[null,null,null]");

    /* item 0's outcome: its history record is redacted, its result is not */
    nx.item = 1;
    OK(store_step_commit(s, r->id, "w1", tu_now_ms(), &rec, &nx, &err));
    /* item 1 retrying: no result yet */
    rec.item = 1;
    rec.status = STORE_STEP_RETRYING;
    rec.output = NULL;
    rec.result = NULL;
    rec.error = "{\"message\":\"HTTP 503\"}";
    nx.status = STORE_RUN_WAITING;
    nx.wake_at = tu_now_ms() + 1000;
    OK(store_step_commit(s, r->id, "w1", tu_now_ms(), &rec, &nx, &err));
    assert_outputs(s, r->id, 1, "[{\"token\":\"t-a\"},null,null]");

    /* the history lists the two item records and nothing else */
    assert_non_null(steps = steps_json(s, r->id));
    assert_int_equal(json_array_size(steps), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(steps, 0), "item")), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(steps, 0), "output"), "token")),
        "[redacted]");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(steps, 1), "item")), 1);
    json_decref(steps);

    /* the run waits now: its lease is gone, and so is the right to write */
    id = r->id;
    store_run_free(r);
    r = NULL;
    nx.status = STORE_RUN_RUNNING;
    nx.wake_at = 0;
    rec.status = STORE_STEP_SUCCEEDED;
    rec.result = "\"late\"";
    assert_int_equal(store_step_commit(s, id, "w1", tu_now_ms(), &rec, &nx, &err), IDF_ESTATE);
    assert_outputs(s, id, 1, "[{\"token\":\"t-a\"},null,null]");
    OK(store_run_claim_id(s, id, "w1", tu_now_ms() + 2000, LEASE, &r, &err));
    assert_non_null(r);
    assert_int_equal(r->item, 1);

    /* a result for an item that was never begun writes nothing at all */
    rec.item = 7;
    assert_int_equal(store_step_commit(s, r->id, "w1", tu_now_ms(), &rec, &nx, &err), IDF_ESTATE);
    assert_non_null(steps = steps_json(s, r->id));
    assert_int_equal(json_array_size(steps), 2);
    json_decref(steps);
    /* a result belongs to an item */
    rec.item = -1;
    assert_int_equal(store_step_commit(s, r->id, "w1", tu_now_ms(), &rec, &nx, &err), IDF_EINVAL);

    /* the step ends: its stored items go with the commit that leaves it */
    nx.pc = 2;
    nx.item = 0;
    nx.foreach_clear = true;
    nx.context = "{\"steps\":{\"each\":[1,2,3]},\"foreach\":{}}";
    OK(store_step_commit(s, r->id, "w1", tu_now_ms(), NULL, &nx, &err));
    assert_outputs(s, r->id, 1, "[]");
    assert_int_equal(store_foreach_item(s, r->id, 1, 0, &text), IDF_ENOTFOUND);

    /* a new begin replaces what was stored; results may come with it */
    nx.foreach_clear = false;
    OK(store_foreach_begin(s, r->id, "w1", tu_now_ms(), 2, again, 2, again_res, 1, &nx, &err));
    assert_outputs(s, r->id, 2, "[\"rx\",null]");
    store_run_free(r);
    store_close(s);
}

static void store_rerun_copies_foreach_state_and_prune_removes_it(void **state)
{
    char url[600];
    struct store *s = open_store("rerun.db", url, sizeof url);
    struct store_run *r = claimed_run(s, "wf", "w1"), *nr = NULL;
    const char *items[] = {"\"a\"", "\"b\"", "\"c\""};
    struct store_run_next nx = {.status = STORE_RUN_RUNNING, .pc = 1, .context = "{\"foreach\":{\"each\":{\"n\":3}}}"};
    struct store_step_rec first = {.index = 0, .step_id = "first", .item = -1, .status = STORE_STEP_SUCCEEDED,
                                   .attempts = 1, .output = "{}", .started_at = 1, .finished_at = 2};
    struct store_step_rec rec = {.index = 1, .step_id = "each", .item = 0, .status = STORE_STEP_SUCCEEDED,
                                 .attempts = 1, .output = "\"ra\"", .started_at = 1, .finished_at = 2,
                                 .result = "\"ra\""};
    struct idf_err err = {0};
    int64_t nid = 0, pruned = 0;
    char *text = NULL;
    json_t *steps = NULL;
    (void)state;

    OK(store_step_commit(s, r->id, "w1", tu_now_ms(), &first, &nx, &err));
    OK(store_foreach_begin(s, r->id, "w1", tu_now_ms(), 1, items, 3, NULL, 0, &nx, &err));
    nx.item = 1;
    OK(store_step_commit(s, r->id, "w1", tu_now_ms(), &rec, &nx, &err));
    /* item 1 fails the run */
    rec.item = 1;
    rec.status = STORE_STEP_FAILED;
    rec.output = NULL;
    rec.result = NULL;
    rec.error = "{\"message\":\"HTTP 400\"}";
    nx.status = STORE_RUN_FAILED;
    nx.error = "step 'each' failed: HTTP 400";
    OK(store_step_commit(s, r->id, "w1", tu_now_ms(), &rec, &nx, &err));

    OK(store_run_rerun(s, r->id, tu_now_ms(), "cli:test", &nid, &err));
    OK(store_run_get(s, nid, &nr));
    assert_int_equal(nr->pc, 1);
    assert_int_equal(nr->item, 1);
    OK(store_foreach_item(s, nid, 1, 2, &text));
    assert_string_equal(text, "\"c\"");
    free(text);
    assert_outputs(s, nid, 1, "[\"ra\",null,null]");
    assert_outputs(s, r->id, 1, "[\"ra\",null,null]"); /* the failed run keeps its own */
    /* history of the rerun: the steps before the foreach, reused; no item rows */
    assert_non_null(steps = steps_json(s, nid));
    assert_int_equal(json_array_size(steps), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 0), "status")), STORE_STEP_REUSED);
    json_decref(steps);

    /* pruning the failed run takes its foreach state with it */
    OK(store_prune(s, tu_now_ms() + 1000000000LL, &pruned));
    assert_int_equal(pruned, 1);
    assert_outputs(s, r->id, 1, "[]");
    assert_outputs(s, nid, 1, "[\"ra\",null,null]");
    store_run_free(nr);
    store_run_free(r);
    store_close(s);
}

/* ------------------------------------------------------------- end to end */

static void kill_9_in_the_middle_of_a_foreach_resumes_at_the_right_item(void **state)
{
    struct serve sv;
    struct store *s = NULL;
    struct store_run *r = NULL;
    struct idf_err err = {0};
    char data[300];
    int calls_at_kill[CRASH_ITEMS];
    int done_at_kill, repeats = 0;
    int64_t id;
    json_t *run, *body, *steps = NULL;
    char *text = NULL;
    (void)state;

    testsrv_reset(target);
    memset(item_calls, 0, sizeof item_calls);
    snprintf(sv.db, sizeof sv.db, "sqlite:%s/crash.db", dir);
    serve_start(&sv, "fe-node");
    snprintf(data, sizeof data, "{\"base\":\"%s\",\"n\":%d}", testsrv_url(target), CRASH_ITEMS);
    id = start_run(&sv, "fe-crash", data);
    assert_int_equal(testsrv_wait_calls(target, "/item/*", CRASH_ITEMS / 3, 30000), 0);
    tu_kill(&sv.p, SIGKILL);
    assert_int_equal(tu_wait(&sv.p, 10000), 128 + SIGKILL);
    tu_proc_cleanup(&sv.p);
    pthread_mutex_lock(&calls_lock);
    memcpy(calls_at_kill, item_calls, sizeof calls_at_kill);
    pthread_mutex_unlock(&calls_lock);

    /* what the store holds at the kill: the run inside the foreach, a small
     * context without the items, one result per recorded item */
    OK(store_open(sv.db, &s, &err));
    OK(store_run_get(s, id, &r));
    assert_int_equal(r->pc, 1);
    done_at_kill = r->item;
    assert_true(done_at_kill > 0 && done_at_kill < CRASH_ITEMS);
    assert_true(strlen(r->context) < 200);
    assert_null(strstr(r->context, "user1"));
    assert_non_null(strstr(r->context, "\"n\":400"));
    OK(store_foreach_item(s, id, 1, CRASH_ITEMS - 1, &text));
    assert_string_equal(text, "{\"i\":399,\"login\":\"user399\"}");
    free(text);
    OK(store_foreach_outputs(s, id, 1, &text));
    {
        json_t *outs = json_loads(text, 0, NULL);
        assert_int_equal(json_array_size(outs), CRASH_ITEMS);
        for (int i = 0; i < CRASH_ITEMS; i++)
            assert_true(i < done_at_kill ? json_is_object(json_array_get(outs, i))
                                         : json_is_null(json_array_get(outs, i)));
        json_decref(outs);
    }
    free(text);
    assert_non_null(steps = steps_json(s, id));
    assert_int_equal(json_array_size(steps), 1 + done_at_kill); /* `before` and the recorded items */
    json_decref(steps);
    store_run_free(r);
    store_close(s);

    /* restart: the run finishes from where it was */
    serve_start(&sv, "fe-node");
    run = wait_run(&sv, id, "succeeded", 60000);
    assert_history_is_steps_only(run, "each", NULL, CRASH_ITEMS);
    for (int i = 0; i < CRASH_ITEMS; i++)
        assert_non_null(step_of(run, "each", i));
    json_decref(run);
    serve_stop(&sv);

    pthread_mutex_lock(&calls_lock);
    for (int i = 0; i < CRASH_ITEMS; i++) {
        assert_true(item_calls[i] >= 1);
        if (i < done_at_kill)
            assert_int_equal(item_calls[i], calls_at_kill[i]); /* recorded: never called again */
        repeats += item_calls[i] - 1;
    }
    pthread_mutex_unlock(&calls_lock);
    assert_true(repeats <= 1); /* only the item in flight at the kill */

    /* the outputs array: every item, in item order */
    body = last_body("/report");
    assert_int_equal(json_array_size(json_object_get(body, "i")), CRASH_ITEMS);
    for (int i = 0; i < CRASH_ITEMS; i++)
        assert_int_equal(json_integer_value(json_array_get(json_object_get(body, "i"), (size_t)i)), i);
    json_decref(body);

    /* and the foreach state is gone with the step */
    OK(store_open(sv.db, &s, &err));
    assert_outputs(s, id, 1, "[]");
    store_close(s);
}

static void outputs_keep_order_and_content_with_continue_retry_and_secrets(void **state)
{
    struct serve sv;
    char data[400];
    int64_t id;
    json_t *run, *body, *each, *rec;
    (void)state;

    testsrv_reset(target);
    answer("/mixed/b", 400, "{\"error\":\"bad user\"}", -1);
    answer("/mixed/c", 503, "{}", 2);
    answer("/mixed/c", 200, "{\"name\":\"c\"}", -1);
    answer("/mixed/d", 200, "{\"name\":\"d\",\"token\":\"t-d\"}", -1);
    answer("/mixed/a", 200, "{\"name\":\"a\"}", -1);
    answer("/mixed/e", 200, "{\"name\":\"e\"}", -1);
    snprintf(sv.db, sizeof sv.db, "sqlite:%s/mixed.db", dir);
    serve_start(&sv, "fe-mixed-node");
    snprintf(data, sizeof data, "{\"base\":\"%s\",\"items\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", testsrv_url(target));
    id = start_run(&sv, "fe-mixed", data);
    run = wait_run(&sv, id, "succeeded", 20000);
    assert_int_equal(testsrv_calls(target, "/mixed/b"), 1); /* a 400 is not retried */
    assert_int_equal(testsrv_calls(target, "/mixed/c"), 3);

    body = last_body("/report");
    each = json_object_get(body, "each");
    assert_int_equal(json_array_size(each), 5);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(each, 0), "json"), "name")),
                        "a");
    /* b failed and the step went on: its output is {error} */
    assert_null(json_object_get(json_array_get(each, 1), "status"));
    assert_non_null(strstr(json_string_value(json_object_get(
                               json_object_get(json_array_get(each, 1), "error"), "message")),
                           "400"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(each, 2), "json"), "name")),
                        "c");
    /* the run's state keeps the output as the action returned it ... */
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(each, 3), "json"), "token")),
                        "t-d");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(each, 4), "json"), "name")),
                        "e");
    json_decref(body);

    /* ... the history shows it redacted, and shows each item once */
    assert_history_is_steps_only(run, "each", NULL, 5);
    rec = step_of(run, "each", 3);
    assert_non_null(rec);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(rec, "output"), "json"), "token")),
        "[redacted]");
    rec = step_of(run, "each", 1);
    assert_string_equal(json_string_value(json_object_get(rec, "status")), "failed");
    rec = step_of(run, "each", 2);
    assert_string_equal(json_string_value(json_object_get(rec, "status")), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(rec, "attempts")), 3);
    assert_int_equal(json_array_size(json_object_get(run, "steps")), 6);
    json_decref(run);
    serve_stop(&sv);
}

static void rerun_of_a_run_failed_inside_a_foreach_starts_at_the_failed_item(void **state)
{
    struct serve sv;
    char data[400], ids[32], *out = NULL, *p;
    int64_t id, nid;
    json_t *run, *body, *each;
    (void)state;

    testsrv_reset(target);
    answer("/first", 200, "{\"ok\":true}", -1);
    answer("/rr/r", 400, "{\"error\":\"not yet\"}", 1);
    answer("/rr/*", 200, "{\"ok\":true}", -1);
    snprintf(sv.db, sizeof sv.db, "sqlite:%s/rerun-e2e.db", dir);
    serve_start(&sv, "fe-rerun-node");
    snprintf(data, sizeof data, "{\"base\":\"%s\",\"items\":[\"p\",\"q\",\"r\",\"s\"]}", testsrv_url(target));
    id = start_run(&sv, "fe-rerun", data);
    run = wait_run(&sv, id, "failed", 20000);
    assert_non_null(strstr(json_string_value(json_object_get(run, "error")), "step 'each' failed"));
    json_decref(run);
    assert_int_equal(testsrv_calls(target, "/rr/s"), 0);

    snprintf(ids, sizeof ids, "%lld", (long long)id);
    {
        const char *argv[] = {bin, "rerun", ids, "--db", sv.db, NULL};
        assert_int_equal(run_cli(argv, &out), 0);
    }
    p = strstr(out, "run ");
    assert_non_null(p);
    nid = atoll(p + 4);
    free(out);
    assert_true(nid > id);
    run = wait_run(&sv, nid, "succeeded", 20000);
    /* the steps and items done before the failure are not called again */
    assert_int_equal(testsrv_calls(target, "/first"), 1);
    assert_int_equal(testsrv_calls(target, "/rr/p"), 1);
    assert_int_equal(testsrv_calls(target, "/rr/q"), 1);
    assert_int_equal(testsrv_calls(target, "/rr/r"), 2);
    assert_int_equal(testsrv_calls(target, "/rr/s"), 1);
    /* as before foreach state was stored apart: `first` reused, the items
     * run again are recorded, the items before them are not */
    assert_string_equal(json_string_value(json_object_get(step_of(run, "first", -1), "status")), "reused");
    assert_null(step_of(run, "each", 0));
    assert_null(step_of(run, "each", 1));
    assert_non_null(step_of(run, "each", 2));
    assert_non_null(step_of(run, "each", 3));
    assert_history_is_steps_only(run, "each", NULL, 4);
    json_decref(run);
    /* and the outputs array has all four items */
    body = last_body("/report");
    each = json_object_get(body, "each");
    assert_int_equal(json_array_size(each), 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(each, i), "status")), 200);
    json_decref(body);
    serve_stop(&sv);
}

static void a_context_from_an_older_idflow_resumes_inside_its_foreach(void **state)
{
    struct serve sv;
    struct store *s = NULL;
    struct store_run *r = NULL;
    struct idf_err err = {0};
    char ctx[1200], *src, *path;
    int64_t version = 0, id;
    bool created = false;
    json_t *body, *each, *run;
    (void)state;

    testsrv_reset(target);
    answer("/legacy/*", 200, "{\"new\":true}", -1);
    /* a run stopped at item 2 of 4 by an idflow that kept items and outputs in the context */
    snprintf(sv.db, sizeof sv.db, "sqlite:%s/legacy.db", dir);
    OK(store_open(sv.db, &s, &err));
    path = tu_path(wfdir, "fe-legacy.yaml");
    src = tu_read_file(path, NULL);
    free(path);
    assert_non_null(src);
    OK(store_workflow_save(s, "fe-legacy", src, "older-hash", &version, &created, &err));
    free(src);
    {
        char data[300];
        struct store_run_in rin = {"fe-legacy", version};
        struct store_ingest_item it = {0};
        snprintf(data, sizeof data, "{\"data\":{\"base\":\"%s\",\"items\":[\"a\",\"b\",\"c\",\"d\"]}}",
                 testsrv_url(target));
        it.event = (struct store_event_in){"manual", NULL, "manual", NULL, data};
        it.runs = &rin;
        it.n_runs = 1;
        it.run_ids = &id;
        OK(store_ingest(s, &it, 1, &err));
    }
    OK(store_run_claim_id(s, id, "older", tu_now_ms(), LEASE, &r, &err));
    assert_non_null(r);
    snprintf(ctx, sizeof ctx, "%s",
             "{\"steps\":{},\"vars\":{},\"foreach\":{\"each\":{\"items\":[\"a\",\"b\",\"c\",\"d\"],"
             "\"outputs\":[{\"status\":200,\"json\":{\"old\":\"a\"}},{\"status\":200,\"json\":{\"old\":\"b\"}}]}}}");
    {
        struct store_run_next nx = {.status = STORE_RUN_QUEUED, .pc = 0, .item = 2, .context = ctx};
        OK(store_step_commit(s, id, "older", tu_now_ms(), NULL, &nx, &err));
    }
    store_run_free(r);
    store_close(s);

    serve_start(&sv, "fe-legacy-node");
    run = wait_run(&sv, id, "succeeded", 20000);
    json_decref(run);
    assert_int_equal(testsrv_calls(target, "/legacy/a"), 0);
    assert_int_equal(testsrv_calls(target, "/legacy/b"), 0);
    assert_int_equal(testsrv_calls(target, "/legacy/c"), 1);
    assert_int_equal(testsrv_calls(target, "/legacy/d"), 1);
    body = last_body("/report");
    each = json_object_get(body, "each");
    assert_int_equal(json_array_size(each), 4);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(each, 0), "json"), "old")),
                        "a");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(each, 1), "json"), "old")),
                        "b");
    assert_true(json_is_true(json_object_get(json_object_get(json_array_get(each, 2), "json"), "new")));
    assert_true(json_is_true(json_object_get(json_object_get(json_array_get(each, 3), "json"), "new")));
    json_decref(body);
    serve_stop(&sv);
}

/* A delay in each item makes the run wait (and be claimed again) per item;
 * a set in each item changes vars item by item. */
static void items_that_wait_or_set_vars_keep_their_outputs(void **state)
{
    struct serve sv;
    char data[400];
    int64_t id, t0 = tu_now_ms();
    json_t *run, *body, *waits, *marks;
    (void)state;

    testsrv_reset(target);
    answer("/report", 200, "{}", -1);
    snprintf(sv.db, sizeof sv.db, "sqlite:%s/paced.db", dir);
    serve_start(&sv, "fe-paced-node");
    snprintf(data, sizeof data, "{\"base\":\"%s\",\"items\":[\"a\",\"b\",\"c\"]}", testsrv_url(target));
    id = start_run(&sv, "fe-paced", data);
    run = wait_run(&sv, id, "succeeded", 20000);
    assert_true(tu_now_ms() - t0 >= 300);
    assert_history_is_steps_only(run, "wait", "mark", 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(json_string_value(json_object_get(step_of(run, "wait", i), "status")), "succeeded");
        assert_string_equal(json_string_value(json_object_get(step_of(run, "mark", i), "status")), "succeeded");
    }
    json_decref(run);
    body = last_body("/report");
    waits = json_object_get(body, "waits");
    marks = json_object_get(body, "marks");
    assert_int_equal(json_array_size(waits), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(json_integer_value(json_array_get(waits, i)), 100);
    assert_int_equal(json_array_size(marks), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(marks, 0), "last")), "a");
    assert_string_equal(json_string_value(json_object_get(json_array_get(marks, 2), "last")), "c");
    assert_string_equal(json_string_value(json_object_get(body, "last")), "c");
    json_decref(body);
    serve_stop(&sv);
}

static void dry_run_goes_through_every_item(void **state)
{
    char wf[700], ev[600], body[400], *out = NULL, *p;
    int n = 0;
    (void)state;

    testsrv_reset(target);
    snprintf(wf, sizeof wf, "%s/fe-mixed.yaml", wfdir);
    snprintf(ev, sizeof ev, "%s/event.json", dir);
    snprintf(body, sizeof body, "{\"data\":{\"base\":\"%s\",\"items\":[\"a\",\"b\",\"c\"]}}", testsrv_url(target));
    assert_int_equal(tu_write_file(ev, body), 0);
    {
        const char *argv[] = {bin, "run", wf, "--event", ev, "--dry-run", NULL};
        assert_int_equal(run_cli(argv, &out), 0);
    }
    for (p = out; (p = strstr(p, "would call http.request")) != NULL; p++)
        n++;
    assert_int_equal(n, 4); /* three items and the report */
    assert_non_null(strstr(out, "/mixed/c"));
    assert_non_null(strstr(out, "done"));
    assert_non_null(strstr(out, "succeeded"));
    assert_int_equal(testsrv_calls(target, NULL), 0);
    free(out);
}

/* ------------------------------------------------------------------ main */

static int suite_setup(void **state)
{
    static const struct {
        const char *name;
        const char *text;
    } wfs[] = {{"fe-crash.yaml", WF_CRASH},
               {"fe-mixed.yaml", WF_MIXED},
               {"fe-rerun.yaml", WF_RERUN},
               {"fe-legacy.yaml", WF_LEGACY},
               {"fe-paced.yaml", WF_PACED}};
    (void)state;
    bin = getenv("IDFLOW_BIN");
    if (!bin) {
        fprintf(stderr, "IDFLOW_BIN must be set (make test sets it)\n");
        return -1;
    }
    dir = tu_mktemp_dir();
    if (!dir)
        return -1;
    snprintf(wfdir, sizeof wfdir, "%s/workflows", dir);
    if (mkdir(wfdir, 0700))
        return -1;
    for (size_t i = 0; i < sizeof wfs / sizeof wfs[0]; i++) {
        char *path = tu_path(wfdir, wfs[i].name);
        int rc = tu_write_file(path, wfs[i].text);
        free(path);
        if (rc)
            return -1;
    }
    target = testsrv_start();
    testsrv_set_handler(target, answer_items, NULL);
    return 0;
}

static int suite_teardown(void **state)
{
    (void)state;
    testsrv_stop(target);
    tu_rm_rf(dir);
    free(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(store_keeps_items_and_results_apart_from_history),
        cmocka_unit_test(store_rerun_copies_foreach_state_and_prune_removes_it),
        cmocka_unit_test(kill_9_in_the_middle_of_a_foreach_resumes_at_the_right_item),
        cmocka_unit_test(outputs_keep_order_and_content_with_continue_retry_and_secrets),
        cmocka_unit_test(rerun_of_a_run_failed_inside_a_foreach_starts_at_the_failed_item),
        cmocka_unit_test(a_context_from_an_older_idflow_resumes_inside_its_foreach),
        cmocka_unit_test(items_that_wait_or_set_vars_keep_their_outputs),
        cmocka_unit_test(dry_run_goes_through_every_item),
    };
    return cmocka_run_group_tests_name("foreach", tests, suite_setup, suite_teardown);
}

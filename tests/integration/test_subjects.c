/* test_subjects.c — finding runs by whom and what they concern (issue 17,
 * "subjects"), end to end: GET /api/v1/runs with subject/source/since/until
 * and its total, a run's subjects and its steps' changes, the timeline
 * GET /api/v1/history, their refusals (400 naming the parameter), a viewer
 * token reading them, and the CLI's `idflow runs --user ...` and
 * `idflow history`.
 *
 * The runs are written through the store (store.h) before `idflow serve`
 * starts on the same database: the engine's side (connectors reporting
 * subjects) is tested with the engine; here the rows are given, so every
 * answer is known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "store/store.h"
#include "support/serve_fixture.h"

static struct sfx F = {.no_sandbox = true};
static int64_t RUN_A, RUN_B, RUN_T; /* jane's two runs (A older), the ticket's */

static const struct store_subject JANE[] = {
    {"okta.user", "00u1jane", "jane@acme.com", NULL},
    {"okta.user", "jane@acme.com", "jane@acme.com", NULL},
};
static const struct store_subject TICKET[] = {
    {"happyfox.ticket", "6", "#HF00000006", NULL},
    {"happyfox.ticket", "hf00000006", "#HF00000006", NULL},
};
static const struct store_subject GROUP[] = {
    {"okta.group", "00g1fin", "Finance", NULL},
    {"okta.group", "finance", "Finance", NULL},
};

/* One event of source/via with subjects starting one run; returns its id. */
static int64_t add_run(struct store *s, const char *source, const char *via, const char *actor, const char *type,
                       const struct store_subject *subj, size_t n)
{
    struct store_run_in run = {"offboard", 1};
    struct store_ingest_item it = {0};
    int64_t id = 0;

    it.event = (struct store_event_in){
        .source = source, .type = type, .data = "{}", .via = via, .actor = actor, .subjects = subj, .n_subjects = n};
    it.runs = &run;
    it.n_runs = 1;
    it.run_ids = &id;
    assert_int_equal(store_ingest(s, &it, 1, NULL), 0);
    return id;
}

/* Runs the claimed run id through two steps: "suspend" (changed: suspended)
 * and "remove" (resolved Finance; changed: removed from Finance). */
static void finish(struct store *s, int64_t id)
{
    struct store_run *r[1] = {NULL};
    size_t n = 0;
    int64_t now = time_now_ms();
    struct store_step_rec s0 = {.index = 0,
                                .step_id = "suspend",
                                .item = -1,
                                .status = STORE_STEP_SUCCEEDED,
                                .attempts = 1,
                                .started_at = now,
                                .finished_at = now,
                                .change = "suspended"};
    struct store_step_rec s1 = {.index = 1,
                                .step_id = "remove",
                                .item = -1,
                                .status = STORE_STEP_SUCCEEDED,
                                .attempts = 1,
                                .started_at = now,
                                .finished_at = now,
                                .change = "removed from Finance",
                                .subjects = GROUP,
                                .n_subjects = 2};
    struct store_run_next n0 = {.status = STORE_RUN_RUNNING, .pc = 1};
    struct store_run_next n1 = {.status = STORE_RUN_SUCCEEDED, .pc = 2};

    assert_int_equal(store_run_claim_id(s, id, "test", now, 60000, r, NULL), 0);
    assert_non_null(r[0]);
    store_run_free(r[0]);
    (void)n;
    assert_int_equal(store_step_commit(s, id, "test", now, &s0, &n0, NULL), 0);
    assert_int_equal(store_step_commit(s, id, "test", now, &s1, &n1, NULL), 0);
}

static int setup(void **state)
{
    struct store *s = NULL;
    struct idf_err err = {0};
    (void)state;
    if (sfx_start(&F, NULL))
        return -1;
    if (store_open(F.db, &s, &err)) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        return -1;
    }
    RUN_A = add_run(s, "okta", STORE_VIA_POLL, NULL, "okta.user_deactivated", JANE, 2);
    RUN_T = add_run(s, "happyfox", STORE_VIA_HOOK, NULL, "happyfox.ticket_created", TICKET, 2);
    RUN_B = add_run(s, "manual", STORE_VIA_API, "token:alice", "manual", JANE + 1, 1);
    finish(s, RUN_A);
    store_close(s);
    return sfx_serve_start(&F, NULL, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return sfx_stop(&F);
}

static json_t *get(const char *path, long *status)
{
    char url[600];
    snprintf(url, sizeof url, "%s%s", F.base, path);
    return sfx_assert_http_json("GET", url, NULL, NULL, status);
}

static void api_runs_by_subject(void **state)
{
    long st = 0;
    json_t *j, *runs, *row, *src;
    (void)state;

    /* a login, any case; the Okta id; a ticket's display id or number */
    j = get("/api/v1/runs?subject=Jane%40Acme.com", &st);
    assert_int_equal(st, 200);
    runs = json_object_get(j, "runs");
    assert_int_equal(json_array_size(runs), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    row = json_array_get(runs, 0);
    assert_int_equal(json_integer_value(json_object_get(row, "id")), RUN_B); /* newest first */
    src = json_object_get(row, "source");
    assert_string_equal(json_string_value(json_object_get(src, "name")), "manual");
    assert_string_equal(json_string_value(json_object_get(src, "via")), "api");
    assert_string_equal(json_string_value(json_object_get(src, "actor")), "token:alice");
    assert_true(json_is_null(json_object_get(src, "connection")));
    assert_string_equal(json_string_value(json_object_get(row, "trigger")), "manual");
    assert_string_equal(json_string_value(json_object_get(row, "subject")), "jane@acme.com");
    assert_true(json_is_null(json_object_get(row, "rerun_as")));
    json_decref(j);

    j = get("/api/v1/runs?subject=00u1jane", &st);
    assert_int_equal(json_array_size(json_object_get(j, "runs")), 1);
    json_decref(j);
    j = get("/api/v1/runs?subject=%23HF00000006", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(j, "runs")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(j, "runs"), 0), "id")), RUN_T);
    json_decref(j);
    j = get("/api/v1/runs?subject=6", &st);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);
    /* a group a step resolved */
    j = get("/api/v1/runs?subject=Finance", &st);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);

    /* combined with status, source, time; the total counts every page */
    j = get("/api/v1/runs?subject=jane%40acme.com&status=succeeded", &st);
    assert_int_equal(json_array_size(json_object_get(j, "runs")), 1);
    json_decref(j);
    j = get("/api/v1/runs?source=okta%2Fpoll", &st);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);
    j = get("/api/v1/runs?source=happyfox", &st);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);
    j = get("/api/v1/runs?since=2020-01-01T00:00:00Z", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 3);
    json_decref(j);
    j = get("/api/v1/runs?until=2020-01-01T01:00:00%2B01:00", &st);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 0);
    json_decref(j);
    j = get("/api/v1/runs?limit=1&subject=jane%40acme.com", &st);
    assert_int_equal(json_array_size(json_object_get(j, "runs")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    json_decref(j);
    j = get("/api/v1/runs", &st);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 3);
    json_decref(j);
}

/* A bad value is a 400 naming the parameter, and lists nothing. */
static void api_runs_bad_filters(void **state)
{
    static const char *const bad[][2] = {
        {"subject=", "subject"},
        {"subject=%0A", "subject"},
        {"since=yesterday", "since"},
        {"since=2026-12-07T09:00:00", "since"},
        {"until=-5", "until"},
        {"before=x", "before"},
        {"limit=ten", "limit"},
        {"status=done", "status"},
        {"source=okta%2Fpoll%2Fx", "source"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long st = 0;
        char path[200];
        json_t *j;
        snprintf(path, sizeof path, "/api/v1/runs?%s", bad[i][0]);
        j = get(path, &st);
        const char *msg = json_string_value(json_object_get(j, "error"));
        assert_int_equal(st, 400);
        assert_non_null(msg);
        assert_non_null(strstr(msg, bad[i][1]));
        assert_null(json_object_get(j, "runs"));
        json_decref(j);
    }
}

static void api_run_subjects_and_changes(void **state)
{
    char path[64];
    long st = 0;
    json_t *j, *subj, *steps, *e;
    (void)state;

    snprintf(path, sizeof path, "/api/v1/runs/%lld", (long long)RUN_A);
    j = get(path, &st);
    assert_int_equal(st, 200);
    subj = json_object_get(j, "subjects");
    assert_int_equal(json_array_size(subj), 2); /* jane (two keys), Finance (two keys) */
    e = json_array_get(subj, 0);
    assert_string_equal(json_string_value(json_object_get(e, "kind")), "okta.user");
    assert_string_equal(json_string_value(json_object_get(e, "label")), "jane@acme.com");
    assert_true(json_is_null(json_object_get(e, "step_id")));
    assert_int_equal(json_array_size(json_object_get(e, "keys")), 2);
    e = json_array_get(subj, 1);
    assert_string_equal(json_string_value(json_object_get(e, "label")), "Finance");
    assert_string_equal(json_string_value(json_object_get(e, "step_id")), "remove");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "source"), "via")), "poll");
    steps = json_object_get(j, "steps");
    assert_int_equal(json_array_size(steps), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 0), "change")), "suspended");
    assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 1), "change")), "removed from Finance");
    json_decref(j);
}

static void api_history(void **state)
{
    long st = 0;
    json_t *j, *runs, *ch;
    (void)state;

    j = get("/api/v1/history?subject=JANE%40acme.com", &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "subject")), "jane@acme.com");
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    runs = json_object_get(j, "runs");
    assert_int_equal(json_array_size(runs), 2);
    assert_int_equal(json_array_size(json_object_get(json_array_get(runs, 0), "changes")), 0); /* touched only */
    ch = json_object_get(json_array_get(runs, 1), "changes");
    assert_int_equal(json_array_size(ch), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ch, 0), "change")), "suspended");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ch, 1), "step_id")), "remove");
    json_decref(j);

    {
        char path[120];
        snprintf(path, sizeof path, "/api/v1/history?subject=jane%%40acme.com&before=%lld", (long long)RUN_B);
        j = get(path, &st);
        assert_int_equal(json_array_size(json_object_get(j, "runs")), 1);
        json_decref(j);
    }
    j = get("/api/v1/history", &st);
    assert_int_equal(st, 400);
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "subject"));
    json_decref(j);
    j = get("/api/v1/history?subject=%01", &st);
    assert_int_equal(st, 400);
    json_decref(j);
}

static void cli_runs_and_history(void **state)
{
    char *out = NULL;
    json_t *j;
    (void)state;

    assert_int_equal(sfx_idflow(&F, NULL, &out, "runs", "--user", "Jane@acme.com", "--db", F.db, NULL), 0);
    assert_non_null(strstr(out, "manual by token:alice"));
    assert_non_null(strstr(out, "okta/poll"));
    assert_null(strstr(out, "happyfox"));
    assert_non_null(strstr(out, "2 of 2 matching runs"));
    free(out);
    out = NULL;
    assert_int_equal(sfx_idflow(&F, NULL, &out, "runs", "--subject", "#HF00000006", "--source", "happyfox/hook",
                                "--since", "2020-01-01T00:00:00Z", "--json", "--db", F.db, NULL),
                     0);
    j = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(j), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "subject")), "#HF00000006");
    json_decref(j);
    free(out);
    out = NULL;
    assert_int_equal(sfx_idflow(&F, NULL, NULL, "runs", "--since", "yesterday", "--db", F.db, NULL), 2);

    assert_int_equal(sfx_idflow(&F, NULL, &out, "history", "jane@acme.com", "--db", F.db, NULL), 0);
    assert_non_null(strstr(out, "suspended"));
    assert_non_null(strstr(out, "removed from Finance"));
    assert_non_null(strstr(out, "changed nothing"));
    free(out);
    out = NULL;
    assert_int_equal(sfx_idflow(&F, NULL, &out, "history", "#HF00000006", "--json", "--db", F.db, NULL), 0);
    j = json_loads(out, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "subject")), "hf00000006");
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);
    free(out);
    assert_int_equal(sfx_idflow(&F, NULL, NULL, "history", "--db", F.db, NULL), 2);
}

/* Last: a viewer token reads the list and the timeline (the store becomes
 * initialized, so requests need a token from then on). */
static void viewer_reads_subjects(void **state)
{
    char *out = NULL, auth[200], url[300];
    const char *hdr[2] = {auth, NULL};
    long st = 0;
    json_t *j;
    (void)state;

    assert_int_equal(sfx_idflow(&F, NULL, &out, "token", "create", "looker", "--role", "viewer", "--db", F.db, NULL),
                     0);
    out[strcspn(out, "\n")] = '\0';
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", out);
    free(out);
    snprintf(url, sizeof url, "%s/api/v1/history?subject=jane%%40acme.com", F.base);
    j = sfx_assert_http_json("GET", url, NULL, hdr, &st);
    assert_int_equal(st, 200);
    json_decref(j);
    snprintf(url, sizeof url, "%s/api/v1/runs?subject=6", F.base);
    j = sfx_assert_http_json("GET", url, NULL, hdr, &st);
    assert_int_equal(st, 200);
    json_decref(j);
    j = sfx_assert_http_json("GET", url, NULL, NULL, &st);
    assert_int_equal(st, 401);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(api_runs_by_subject),          cmocka_unit_test(api_runs_bad_filters),
        cmocka_unit_test(api_run_subjects_and_changes), cmocka_unit_test(api_history),
        cmocka_unit_test(cli_runs_and_history),         cmocka_unit_test(viewer_reads_subjects),
    };
    return cmocka_run_group_tests_name("subjects", tests, setup, teardown);
}

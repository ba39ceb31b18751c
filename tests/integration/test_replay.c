/* test_replay.c — `idflow replay` end to end (issue 19, "replay before you
 * enable"): a real SQLite database built by running three okta.user_locked
 * events through `idflow run` (real calls to the sandbox), then the real
 * binary replaying edited versions of the workflow over it.
 *
 * What it proves: each event's replayed calls are the calls `idflow run
 * --dry-run --event` reports for it (step, item order, action, params);
 * an edit that adds a destructive step exits 3 and names the step, an
 * unchanged workflow exits 0, and so does one that only changes an optional
 * parameter of a destructive call; a `when:` that excludes an event reports
 * "would not start" with the condition; --since leaves older events out;
 * the database file is byte for byte the same afterwards, with the same
 * runs; bad input (malformed YAML, an unknown --since, a missing database)
 * gets a clear error and creates nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "support/serve_fixture.h"

#define TOKEN "replay-test-okta-token-3c9e1f"

static struct sfx F = {.secrets = {TOKEN}};
static char ev_path[3][600]; /* the events' files: james, olivia (before mid), maria (after) */
static char mid_iso[40];     /* a time between the second and the third event */

/* The stored version: a lookup, a foreach of lookups, an unlock and a
 * destructive clear_sessions. */
#define WF_HEAD                                                                                                        \
    "name: lockout\n"                                                                                                  \
    "on:\n"                                                                                                            \
    "  okta.user_locked: {}\n"
#define WF_STEPS                                                                                                       \
    "steps:\n"                                                                                                         \
    "  - id: find\n"                                                                                                   \
    "    do: okta.get_user\n"                                                                                          \
    "    with: {user: '${{ .event.user.login }}'}\n"                                                                   \
    "  - id: peers\n"                                                                                                  \
    "    foreach: '${{ [.event.user.login, \"priya.raman@acme.example\"] }}'\n"                                        \
    "    do: okta.get_user\n"                                                                                          \
    "    with: {user: '${{ .item }}'}\n"                                                                               \
    "  - id: unlock\n"                                                                                                 \
    "    do: okta.unlock_user\n"                                                                                       \
    "    with: {user: '${{ .event.user.login }}'}\n"                                                                   \
    "  - id: sessions\n"                                                                                               \
    "    do: okta.clear_sessions\n"                                                                                    \
    "    with: {user: '${{ .event.user.login }}'%s}\n"

/* Writes <wfdir>/name.yaml: the stored steps (sessions' extra params
 * `extra`), after `when` (a when: block or ""), then `tail` (more steps). */
static void write_wf(const char *name, const char *when, const char *extra, const char *tail)
{
    char steps[2048], text[4096];
    snprintf(steps, sizeof steps, WF_STEPS, extra);
    snprintf(text, sizeof text, WF_HEAD "%s%s%s", when, steps, tail);
    assert_int_equal(sfx_write_wf(&F, name, text), 0);
}

static void wf_path(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.yaml", F.wfdir, name);
}

/* `idflow ARGS...` (NULL-terminated) with stdout and stderr captured: its exit code. */
static int idflow(char **out, char **err, ...)
{
    const char *argv[32];
    va_list ap;
    int n = 0;

    argv[n++] = F.bin;
    va_start(ap, err);
    while (n < 31 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    return tu_run(argv, NULL, 60000, out, err);
}

/* `idflow replay WF --since SINCE --db DB --json`, which must exit `want`: its document. */
static json_t *replay_json(const char *wf, const char *since, int want)
{
    char path[600], *out = NULL, *err = NULL;
    json_error_t je;
    json_t *doc;
    int rc;

    wf_path(wf, path, sizeof path);
    rc = idflow(&out, &err, "replay", path, "--since", since, "--db", F.db, "--json", NULL);
    if (rc != want)
        fail_msg("replay %s: exit %d, not %d; stderr: %s", wf, rc, want, err);
    doc = json_loads(out, 0, &je);
    if (!doc)
        fail_msg("replay %s --json: not JSON (%s): %s", wf, je.text, out);
    free(out);
    free(err);
    return doc;
}

/* The replayed event whose user is login. */
static json_t *event_of(json_t *doc, const char *login)
{
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(doc, "events"), i, e) {
        json_t *calls = json_object_get(json_array_get(json_object_get(e, "stored"), 0), "calls");
        const char *u = json_string_value(json_object_get(json_object_get(json_array_get(calls, 0), "params"), "user"));
        if (u && !strcmp(u, login))
            return e;
    }
    fail_msg("no replayed event for %s", login);
    return NULL;
}

static int setup(void **state)
{
    static const char *const logins[3] = {"james.okafor", "olivia.chen", "maria.gonzalez"};
    char tok[600], ev[300], stored[600], name[40];
    int64_t mid;
    (void)state;

    if (sfx_start(&F, (const char *[]){"--token", TOKEN, "--rate-limit", "300", NULL}) ||
        sfx_write_secret(&F, "token", TOKEN, tok, sizeof tok))
        return -1;
    if (sfx_idflow(&F, NULL, NULL, "connect", "okta", "sb", "--url", F.sb, "--sandbox", "--token-file", tok, "--db",
                   F.db, NULL))
        return -1;
    {
        char steps[2048], text[4096];
        snprintf(steps, sizeof steps, WF_STEPS, "");
        snprintf(text, sizeof text, WF_HEAD "%s", steps);
        if (sfx_write_wf(&F, "stored", text))
            return -1;
    }
    wf_path("stored", stored, sizeof stored);
    /* a caller's start of another workflow: not the business of a replay of a manual workflow */
    if (sfx_write_wf(&F, "other", "name: other\non: manual\nsteps:\n  - id: s\n    do: set\n    with: {n: 1}\n") ||
        sfx_write_wf(&F, "byhand", "name: byhand\non: manual\nsteps:\n  - id: s\n    do: set\n    with: {n: 2}\n"))
        return -1;
    {
        char other[600];
        wf_path("other", other, sizeof other);
        if (sfx_idflow(&F, NULL, NULL, "run", other, "--input", "x=1", "--db", F.db, NULL))
            return -1;
    }
    for (int i = 0; i < 3; i++) {
        snprintf(ev, sizeof ev, "{\"type\":\"okta.user_locked\",\"user\":{\"login\":\"%s@acme.example\"}}", logins[i]);
        snprintf(name, sizeof name, "event%d.json", i);
        if (sfx_write_secret(&F, name, ev, ev_path[i], sizeof ev_path[i]))
            return -1;
        if (i == 2) { /* a time strictly between the second event and the third */
            mid = time_now_ms();
            while (time_now_ms() <= mid + 1)
                usleep(500);
            time_format_iso(mid + 1, mid_iso, sizeof mid_iso);
        }
        /* the stored version, for real: its runs and step records */
        if (sfx_idflow(&F, NULL, NULL, "run", stored, "--event", ev_path[i], "--db", F.db, NULL))
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return sfx_stop(&F) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ tests */

/* For each event, the replay's calls are those `idflow run --dry-run
 * --event` prints ("  STEP would call ACTION PARAMS[ (destructive)]"), in
 * order, foreach items included. */
static void test_same_calls_as_dry_run(void **state)
{
    char path[600];
    json_t *doc;
    (void)state;

    write_wf("edited", "", "",
             "  - id: suspend\n    do: okta.suspend_user\n    with: {user: '${{ .event.user.login }}'}\n");
    wf_path("edited", path, sizeof path);
    doc = replay_json("edited", "1h", 3);
    assert_int_equal(json_array_size(json_object_get(doc, "events")), 3);
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(json_object_get(doc, "events"), i);
        json_t *calls = json_object_get(json_object_get(e, "edited"), "calls");
        char *out = NULL, *line, *save = NULL;
        size_t k = 0;

        assert_true(json_is_true(json_object_get(e, "would_start")));
        assert_int_equal(idflow(&out, NULL, "run", path, "--dry-run", "--event", ev_path[i], NULL), 0);
        for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char step[100], action[100], *p = strstr(line, " would call "), *tail;
            json_t *c = json_array_get(calls, k), *params;
            bool destructive;
            if (!p)
                continue;
            assert_int_equal(sscanf(line, " %99s would call %99s", step, action), 2);
            p = strchr(p + strlen(" would call "), ' ') + 1;
            tail = strstr(p, " (destructive)");
            destructive = tail != NULL;
            if (tail)
                *tail = '\0';
            params = json_loads(p, 0, NULL);
            assert_non_null(c);
            assert_string_equal(json_string_value(json_object_get(c, "step")), step);
            assert_string_equal(json_string_value(json_object_get(c, "action")), action);
            assert_true(json_equal(json_object_get(c, "params"), params));
            assert_int_equal(destructive, !strcmp(json_string_value(json_object_get(c, "effect")), "destructive"));
            json_decref(params);
            k++;
        }
        /* find, peers[0], peers[1], unlock, sessions, suspend */
        assert_int_equal(k, 6);
        assert_int_equal(json_array_size(calls), k);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(calls, 2), "item")), 1);
        free(out);
    }
    json_decref(doc);
}

/* A new destructive step: exit 3, the step named (text and JSON); the calls
 * the stored version made too are not new. */
static void test_new_destructive_step(void **state)
{
    char path[600], *out = NULL, *err = NULL;
    json_t *doc, *e, *fresh;
    (void)state;

    write_wf("suspend", "", "",
             "  - id: suspend_too\n    do: okta.suspend_user\n    with: {user: '${{ .event.user.login }}'}\n");
    wf_path("suspend", path, sizeof path);
    assert_int_equal(idflow(&out, &err, "replay", path, "--since", "7d", "--db", F.db, NULL), 3);
    assert_non_null(strstr(out, "suspend_too"));
    assert_non_null(strstr(out, "NEW DESTRUCTIVE"));
    assert_non_null(strstr(out, "3 NEW DESTRUCTIVE call(s) in 3 event(s) (exit 3)"));
    free(out);
    free(err);

    doc = replay_json("suspend", "7d", 3);
    assert_true(json_is_true(json_object_get(doc, "destructive_new")));
    e = event_of(doc, "olivia.chen@acme.example");
    fresh = json_object_get(e, "new_destructive");
    assert_int_equal(json_array_size(fresh), 1); /* sessions: the stored version cleared them too */
    assert_string_equal(json_string_value(json_object_get(json_array_get(fresh, 0), "step")), "suspend_too");
    assert_string_equal(json_string_value(json_object_get(json_array_get(fresh, 0), "action")), "okta.suspend_user");
    assert_int_equal(json_array_size(json_object_get(e, "added")), 1);
    assert_int_equal(json_array_size(json_object_get(e, "removed")), 0);
    json_decref(doc);
}

/* The stored workflow unchanged: exit 0, no difference; a changed optional
 * parameter of the destructive call is a difference but not a new target. */
static void test_unchanged_exits_0(void **state)
{
    char path[600], *out = NULL;
    json_t *doc, *e;
    size_t i;
    (void)state;

    wf_path("stored", path, sizeof path);
    assert_int_equal(idflow(&out, NULL, "replay", path, "--since", "7d", "--db", F.db, NULL), 0);
    assert_non_null(strstr(out, "no new destructive call"));
    assert_null(strstr(out, "NEW DESTRUCTIVE"));
    free(out);
    doc = replay_json("stored", "7d", 0);
    assert_int_equal(json_array_size(json_object_get(doc, "events")), 3);
    json_array_foreach (json_object_get(doc, "events"), i, e) {
        assert_int_equal(json_array_size(json_object_get(e, "added")), 0);
        assert_int_equal(json_array_size(json_object_get(e, "removed")), 0);
        assert_int_equal(json_array_size(json_object_get(json_object_get(e, "edited"), "calls")), 5);
        assert_int_equal(json_array_size(json_object_get(json_array_get(json_object_get(e, "stored"), 0), "calls")), 5);
    }
    json_decref(doc);

    write_wf("options", "", ", oauth_tokens: true", "");
    doc = replay_json("options", "7d", 0);
    e = json_array_get(json_object_get(doc, "events"), 0);
    assert_int_equal(json_array_size(json_object_get(e, "added")), 1);
    assert_int_equal(json_array_size(json_object_get(e, "removed")), 1);
    assert_int_equal(json_array_size(json_object_get(e, "new_destructive")), 0);
    json_decref(doc);
}

/* A when: that excludes an event: "would not start", the condition named,
 * and what the stored version called for it listed as removed. */
static void test_when_excludes_event(void **state)
{
    char path[600], *out = NULL;
    json_t *doc, *e;
    (void)state;

    write_wf("when", "when:\n  - .event.user.login != \"olivia.chen@acme.example\"\n", "", "");
    doc = replay_json("when", "7d", 0);
    e = event_of(doc, "olivia.chen@acme.example");
    assert_false(json_is_true(json_object_get(e, "would_start")));
    assert_string_equal(json_string_value(json_object_get(e, "reason")), "condition");
    assert_non_null(strstr(json_string_value(json_object_get(e, "why")), "when[0]"));
    assert_null(json_object_get(e, "edited"));
    /* find and peers[0] are the same call (get_user olivia): listed once */
    assert_int_equal(json_array_size(json_object_get(e, "removed")), 4);
    assert_true(json_is_true(json_object_get(event_of(doc, "james.okafor@acme.example"), "would_start")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "summary"), "would_start")), 2);
    json_decref(doc);

    wf_path("when", path, sizeof path);
    assert_int_equal(idflow(&out, NULL, "replay", path, "--since", "7d", "--db", F.db, NULL), 0);
    assert_non_null(strstr(out, "would NOT start (condition)"));
    free(out);
}

/* A trigger parameter that excludes the events: "would not start" with
 * the reason trigger_params. */
static void test_trigger_params_exclude(void **state)
{
    char steps[2048], text[4096];
    json_t *doc, *e;
    size_t i;
    (void)state;

    snprintf(steps, sizeof steps, WF_STEPS, "");
    snprintf(text, sizeof text, "name: lockout\non:\n  okta.user_locked: {connection: elsewhere}\n%s", steps);
    assert_int_equal(sfx_write_wf(&F, "onconn", text), 0);
    doc = replay_json("onconn", "7d", 0);
    assert_int_equal(json_array_size(json_object_get(doc, "events")), 3);
    json_array_foreach (json_object_get(doc, "events"), i, e) {
        assert_false(json_is_true(json_object_get(e, "would_start")));
        assert_string_equal(json_string_value(json_object_get(e, "reason")), "trigger_params");
    }
    json_decref(doc);
}

/* --since leaves the events received before it out (an ISO time here, a
 * duration elsewhere). */
static void test_since_excludes_older(void **state)
{
    json_t *doc, *e;
    (void)state;

    doc = replay_json("stored", mid_iso, 0);
    assert_int_equal(json_array_size(json_object_get(doc, "events")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "events_read")), 1);
    e = json_array_get(json_object_get(doc, "events"), 0);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(
                json_array_get(json_object_get(json_array_get(json_object_get(e, "stored"), 0), "calls"), 0), "params"),
            "user")),
        "maria.gonzalez@acme.example");
    json_decref(doc);
}

/* A caller's start (manual) names its workflow, which the event does not
 * record: a replay of another manual workflow does not take it for its
 * own; the workflow it started sees it. */
static void test_manual_event_of_another_workflow(void **state)
{
    json_t *doc;
    (void)state;

    doc = replay_json("byhand", "7d", 0);
    assert_int_equal(json_array_size(json_object_get(doc, "events")), 0);
    assert_int_equal(json_integer_value(json_object_get(doc, "other_events")), 4);
    json_decref(doc);
    doc = replay_json("other", "7d", 0);
    assert_int_equal(json_array_size(json_object_get(doc, "events")), 1);
    assert_true(json_is_true(json_object_get(json_array_get(json_object_get(doc, "events"), 0), "would_start")));
    json_decref(doc);
}

/* Replays leave the database as it was: the same bytes, the same runs. */
static void test_database_unchanged(void **state)
{
    bool sqlite = strncmp(F.db, "sqlite:", 7) == 0; /* else the PostgreSQL runner's schema: its rows only */
    const char *file = F.db + (sqlite ? strlen("sqlite:") : 0);
    char *before = NULL, *after = NULL, *runs0 = NULL, *runs1 = NULL;
    size_t n0 = 0, n1 = 0;
    json_t *doc;
    (void)state;

    assert_int_equal(idflow(&runs0, NULL, "runs", "--json", "--limit", "1000", "--db", F.db, NULL), 0);
    if (sqlite)
        assert_non_null(before = tu_read_file(file, &n0));
    write_wf("edited2", "", "",
             "  - id: deact\n    do: okta.deactivate_user\n    with: {user: '${{ .event.user.login }}'}\n");
    doc = replay_json("edited2", "7d", 3);
    json_decref(doc);
    doc = replay_json("stored", "7d", 0);
    json_decref(doc);
    if (sqlite) {
        assert_non_null(after = tu_read_file(file, &n1));
        assert_int_equal(n0, n1);
        assert_memory_equal(before, after, n0);
    }
    assert_int_equal(idflow(&runs1, NULL, "runs", "--json", "--limit", "1000", "--db", F.db, NULL), 0);
    assert_string_equal(runs0, runs1);
    /* and the replays' dry runs are nowhere in it: the stored runs only */
    doc = json_loads(runs1, 0, NULL);
    assert_int_equal(json_array_size(doc), 4);
    json_decref(doc);
    free(before);
    free(after);
    free(runs0);
    free(runs1);
}

/* Bad input: a clear error, the usage codes of the other commands, nothing created. */
static void test_errors(void **state)
{
    char path[600], missing[600], *out = NULL, *err = NULL;
    (void)state;

    assert_int_equal(sfx_write_wf(&F, "broken", "name: lockout\non: [\n"), 0);
    wf_path("broken", path, sizeof path);
    assert_int_equal(idflow(&out, &err, "replay", path, "--since", "7d", "--db", F.db, NULL), 1);
    assert_non_null(strstr(err, "broken.yaml:"));
    assert_non_null(strstr(err, "YAML"));
    free(out);
    free(err);

    wf_path("stored", path, sizeof path);
    assert_int_equal(idflow(&out, &err, "replay", path, "--since", "last-week", "--db", F.db, NULL), 2);
    assert_non_null(strstr(err, "--since"));
    assert_non_null(strstr(err, "'last-week'"));
    free(out);
    free(err);

    assert_int_equal(idflow(&out, &err, "replay", path, "--db", F.db, NULL), 2);
    assert_non_null(strstr(err, "usage: idflow replay"));
    free(out);
    free(err);

    snprintf(missing, sizeof missing, "sqlite:%s/nothing-here.db", F.dir);
    assert_int_equal(idflow(&out, &err, "replay", path, "--since", "7d", "--db", missing, NULL), 1);
    assert_non_null(strstr(err, "no database at"));
    assert_int_equal(access(missing + strlen("sqlite:"), F_OK), -1);
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_calls_as_dry_run),
        cmocka_unit_test(test_new_destructive_step),
        cmocka_unit_test(test_unchanged_exits_0),
        cmocka_unit_test(test_when_excludes_event),
        cmocka_unit_test(test_since_excludes_older),
        cmocka_unit_test(test_database_unchanged),
        cmocka_unit_test(test_trigger_params_exclude),
        cmocka_unit_test(test_manual_event_of_another_workflow),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("replay", tests, setup, teardown);
}

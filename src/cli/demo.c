/* demo.c — `idflow demo [--once] [--dir DIR] [--listen ADDR]`: the whole
 * product on one machine with nothing else installed. Starts `idflow
 * sandbox` and `idflow serve` (as child processes of this binary) on
 * loopback with a fresh database in the demo's folder (--dir, or a new one
 * it names: demo_dir.c; kept after exit, so the printed `idflow runs --db`
 * commands keep working), connects both apps (secrets through the
 * environment, sealed at rest; the Okta connection protects the automation
 * account and the IT Admins group, and one scenario shows a refusal),
 * registers the Okta event hook, has HappyFox
 * polled (its default mode, every second), serves a copy of the shipped
 * workflows with offboarding's approval variant enabled, plays each
 * scenario and prints a report. The approval run waits: the report says
 * how to approve it, and keeps serving until Ctrl-C; with --once the demo
 * approves it itself and exits after the report: 0 only if every scenario
 * ended as expected. An operator's IDFLOW_MASTER_KEY and IDFLOW_KEY_FILE
 * are neither used nor passed on: the demo's secrets are sealed with a key
 * file of its own, in its folder. Single-threaded; all state is local to
 * cli_demo. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/demo.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "crypto/seal.h"
#include "engine/status.h"
#include "net/http.h"

extern char **environ;

#define DEMO_TOKEN "sandbox-okta-token"
#define DEMO_WAIT_MS 20000
#define DEMO_PROTECT_LOGIN "it.automation@acme.example" /* the sandbox's API token owner (sandbox/seed.c) */
#define DEMO_PROTECT_GROUP "IT Admins"                  /* the sandbox's admins, priya.raman among them */

#define DEMO_LOG_MAX (DEMO_PATH_MAX + 32)

struct demo {
    char self[1024];                    /* this binary */
    char dir[DEMO_PATH_MAX + 1];        /* the demo's folder: kept after exit */
    char db[DEMO_PATH_MAX + 32];        /* "sqlite:DIR/idflow.db" */
    char sandbox[128];                  /* the sandbox's base URL */
    char api[128];                      /* idflow's base URL */
    char listen[100];                   /* serve's --listen: given, or 127.0.0.1:<a free port> */
    char wfdir[1100];                   /* the workflows given (--workflows) */
    char wfcopy[DEMO_PATH_MAX + 16];    /* DIR/workflows: what serve reads (demo__workflows_copy) */
    bool once;                          /* --once: approve the approval run, exit after the report */
    int64_t pending;                    /* the run left waiting for an approval (0: none) */
    pid_t sandbox_pid, serve_pid;
    struct http_client *http;
    int failures;
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Starts this binary with args (NULL-terminated) and extra env entries; output to log. */
static pid_t spawn_self(struct demo *d, const char *const *args, const char *const *env, const char *log)
{
    posix_spawn_file_actions_t fa;
    const char *argv[32];
    char *envp[256];
    int n = 0, e = 0;
    pid_t pid = -1;

    argv[n++] = d->self;
    for (; *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    /* The demo's database is a throwaway with its own key file next to it:
     * an operator's key file setting is not passed on (IDFLOW_MASTER_KEY is
     * already gone, see cli_demo). */
    for (char **p = environ; *p && e < 200; p++)
        if (strncmp(*p, SEAL_ENV_KEY_FILE "=", sizeof SEAL_ENV_KEY_FILE) != 0)
            envp[e++] = *p;
    for (; env && *env && e < 255; env++)
        envp[e++] = (char *)*env;
    envp[e] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawn(&pid, d->self, &fa, NULL, (char *const *)argv, envp) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static int run_self(struct demo *d, const char *const *args, const char *const *env)
{
    char log[DEMO_LOG_MAX];
    int st = 0;
    pid_t pid;
    snprintf(log, sizeof log, "%s/connect.log", d->dir);
    pid = spawn_self(d, args, env, log);
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One HTTP call; the parsed JSON answer (NULL when not JSON or on failure). */
static json_t *call(struct demo *d, const char *method, const char *url, const char *body, bool okta, long *status)
{
    const char *h[] = {"Content-Type: application/json", okta ? "Authorization: SSWS " DEMO_TOKEN : NULL, NULL};
    struct http_request rq = {
        .method = method, .url = url, .headers = h, .body = body, .body_len = body ? strlen(body) : 0, .timeout_ms = 10000};
    struct http_response rs;
    struct idf_err err;
    json_t *j = NULL;

    if (http_client_do(d->http, &rq, &rs, &err) == 0) {
        if (status)
            *status = rs.status;
        if (rs.body.len)
            j = json_loadb(rs.body.data, rs.body.len, JSON_DECODE_ANY, NULL);
    } else if (status) {
        *status = 0;
    }
    http_response_free(&rs);
    return j;
}

static json_t *getf(struct demo *d, bool okta, const char *fmt, ...) IDF_PRINTF(3, 4);
static json_t *getf(struct demo *d, bool okta, const char *fmt, ...)
{
    char url[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(url, sizeof url, fmt, ap);
    va_end(ap);
    return call(d, "GET", url, NULL, okta, NULL);
}

static bool wait_ok(struct demo *d, const char *url)
{
    for (int i = 0; i < 400; i++) {
        long st = 0;
        json_decref(call(d, "GET", url, NULL, false, &st));
        if (st == 200)
            return true;
        sleep_ms(50);
    }
    return false;
}

/* The sandbox's URL from its log line. */
static bool sandbox_url(struct demo *d, const char *log)
{
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(log, "r");
        char line[2048];
        while (f && fgets(line, sizeof line, f)) {
            json_t *j = strstr(line, "sandbox listening") ? json_loads(line, 0, NULL) : NULL;
            const char *u = json_string_value(json_object_get(j, "url"));
            if (u)
                snprintf(d->sandbox, sizeof d->sandbox, "%s", u);
            json_decref(j);
        }
        if (f)
            fclose(f);
        if (d->sandbox[0])
            return true;
        sleep_ms(50);
    }
    return false;
}

/* "STATUS, N Okta groups, M apps" of a login, into out. */
static void user_state(struct demo *d, const char *login, char *out, size_t n)
{
    char *enc = http_urlencode(login);
    json_t *u = getf(d, true, "%s/api/v1/users/%s", d->sandbox, enc ? enc : login);
    const char *id = json_string_value(json_object_get(u, "id"));
    json_t *g = id ? getf(d, true, "%s/api/v1/users/%s/groups", d->sandbox, id) : NULL;
    json_t *a = id ? getf(d, true, "%s/api/v1/users/%s/appLinks", d->sandbox, id) : NULL;
    size_t i, groups = 0;
    json_t *x;
    json_array_foreach(g, i, x)
    {
        if (!strcmp(json_string_value(json_object_get(x, "type")) ?: "", "OKTA_GROUP"))
            groups++;
    }
    snprintf(out, n, "%s, %zu Okta groups, %zu apps", json_string_value(json_object_get(u, "status")) ?: "?", groups,
             json_array_size(a));
    free(enc);
    json_decref(u);
    json_decref(g);
    json_decref(a);
}

static size_t runs_of(struct demo *d, const char *wf)
{
    json_t *r = getf(d, false, "%s/api/v1/runs?workflow=%s&limit=1000", d->api, wf);
    size_t n = json_array_size(json_object_get(r, "runs"));
    json_decref(r);
    return n;
}

/* True when the API's run object has status want. */
static bool run_is(const json_t *run, enum engine_run_status want)
{
    return engine_run_status_is(json_string_value(json_object_get(run, "status")), want);
}

/* Waits for a run of wf beyond `before` runs (or run_id when > 0) to finish; returns it. */
static json_t *wait_run(struct demo *d, const char *wf, size_t before, int64_t run_id)
{
    int64_t deadline = time_now_ms() + DEMO_WAIT_MS;
    while (time_now_ms() < deadline) {
        json_t *r = NULL;
        if (run_id <= 0 && runs_of(d, wf) > before) {
            json_t *l = getf(d, false, "%s/api/v1/runs?workflow=%s&limit=1", d->api, wf);
            run_id = json_integer_value(json_object_get(json_array_get(json_object_get(l, "runs"), 0), "id"));
            json_decref(l);
        }
        if (run_id > 0) {
            r = getf(d, false, "%s/api/v1/runs/%lld", d->api, (long long)run_id);
            if (run_is(r, ENGINE_RUN_SUCCEEDED) || run_is(r, ENGINE_RUN_FAILED))
                return r;
        }
        json_decref(r);
        sleep_ms(50);
    }
    return NULL;
}

static void print_steps(const json_t *run)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(run, "steps"), i, s)
    {
        const json_t *out = json_object_get(s, "output");
        const json_t *ch = json_object_get(out, "changed");
        int item = (int)json_integer_value(json_object_get(s, "item"));
        char itembuf[24] = "";
        if (item >= 0)
            snprintf(itembuf, sizeof itembuf, "[%d]", item);
        printf("    %s%s: %s", json_string_value(json_object_get(s, "step_id")), itembuf,
               json_string_value(json_object_get(s, "status")));
        if (json_is_boolean(ch))
            printf(", changed: %s", json_is_true(ch) ? "true" : "false");
        if (json_string_value(json_object_get(out, "display_id")))
            printf(", ticket %s", json_string_value(json_object_get(out, "display_id")));
        if (json_object_get(s, "error") && !json_is_null(json_object_get(s, "error")))
            printf(", error: %s", json_string_value(json_object_get(json_object_get(s, "error"), "message")));
        printf("\n");
    }
}

enum how { BY_API, BY_OKTA, BY_TICKET, BY_RESOLVE };

struct scenario {
    const char *title;
    enum how how;
    const char *workflow;
    const char *login;    /* the user whose Okta state is shown */
    const char *arg;      /* BY_OKTA: simulation path + body "path|body"; BY_TICKET: ticket JSON members */
    int category;         /* BY_TICKET */
    const char *expect_run;   /* "succeeded" | "failed" | NULL (no run must start) */
    const char *expect_state; /* prefix of user_state afterwards */
    bool approval;            /* the run waits for an approval first (approved with --once) */
};

static const struct scenario scenarios[] = {
    {"1. Lock-out: the help desk unlocks an account", BY_API, "unlock-user", "kevin.murphy@acme.example", NULL, 0,
     "succeeded", "ACTIVE"},
    {"   ... and a second click changes nothing (changed: false)", BY_API, "unlock-user",
     "kevin.murphy@acme.example", NULL, 0, "succeeded", "ACTIVE"},
    {"2. Security incident: suspend an account", BY_API, "security-suspend", "ethan.brooks@acme.example", NULL, 0,
     "succeeded", "SUSPENDED"},
    /* issue 19: the demo's connection protects the automation account and the IT Admins group (setup) */
    {"   ... but an IT admin is a protected account: the suspension is refused, Okta is not called", BY_API,
     "security-suspend", "priya.raman@acme.example", NULL, 0, "failed", "ACTIVE"},
    {"3. MFA reset after an identity check", BY_API, "mfa-reset", "maria.gonzalez@acme.example", NULL, 0, "succeeded",
     "ACTIVE"},
    {"4. Offboarding: groups, apps, then deactivation", BY_API, "offboard-user", "lucas.martin@acme.example", NULL, 0,
     "succeeded", "DEPROVISIONED, 0 Okta groups, 0 apps"},
    {"5. A refused transition names both states: suspend the offboarded user", BY_API, "security-suspend",
     "lucas.martin@acme.example", NULL, 0, "failed", "DEPROVISIONED"},
    {"6. Okta locks an account after failed sign-ins: a ticket for the on-call agent", BY_OKTA, "lockout-to-ticket",
     "sofia.rossi@acme.example", "/_sandbox/okta/users/sofia.rossi%40acme.example/fail_signin|{\"count\": 10}", 0,
     "succeeded", "LOCKED_OUT"},
    {"7. An admin moves someone to another department: an access-review ticket", BY_OKTA, "profile-change-review",
     "hannah.kim@acme.example",
     "/_sandbox/okta/users/hannah.kim%40acme.example/profile|{\"profile\": {\"department\": \"Sales\"}}", 0,
     "succeeded", "ACTIVE"},
    {"   ... a change of phone number starts nothing", BY_OKTA, "profile-change-review", "noah.schmidt@acme.example",
     "/_sandbox/okta/users/noah.schmidt%40acme.example/profile|{\"profile\": {\"mobilePhone\": \"+1 555 0100\"}}", 0,
     NULL, "ACTIVE"},
    {"8. Onboarding ticket: create the user, groups, apps, reply and resolve", BY_TICKET, "onboarding-from-ticket",
     "lin.chen@acme.example",
     "\"t-cf-11\": \"Lin\", \"t-cf-12\": \"Chen\", \"t-cf-13\": \"lin.chen@acme.example\", \"t-cf-14\": 101, "
     "\"t-cf-15\": [201, 202, 210], \"t-cf-16\": [301, 303, 305]",
     2, "succeeded", "PROVISIONED, 3 Okta groups"},
    {"9. Offboarding ticket resolved: once approved, groups, apps, deactivation, private note", BY_RESOLVE,
     DEMO_APPROVAL_OFFBOARDING, "james.okafor@acme.example", "\"t-cf-18\": \"james.okafor@acme.example\"", 3,
     "succeeded", "DEPROVISIONED, 0 Okta groups, 0 apps", true},
    {"10. MFA Reset ticket resolved: factors reset", BY_RESOLVE, "mfa-reset-on-resolve", "marcus.lee@acme.example",
     "\"t-cf-18\": \"marcus.lee@acme.example\"", 4, "succeeded", "ACTIVE"},
    {"11. Security Incident ticket: suspend the account", BY_TICKET, "security-incident", "omar.haddad@acme.example",
     "\"t-cf-18\": \"omar.haddad@acme.example\"", 5, "succeeded", "SUSPENDED"},
};

/* Creates a HappyFox ticket in the sandbox; its number, or 0. */
static int64_t new_ticket(struct demo *d, int category, const char *title, const char *members)
{
    char url[300], body[2000];
    const char *h[] = {"Content-Type: application/json",
                       "Authorization: Basic c2FuZGJveC1oZi1rZXk6c2FuZGJveC1oZi1jb2Rl", /* sandbox-hf-key:...-code */
                       NULL};
    struct http_request rq;
    struct http_response rs;
    struct idf_err err;
    int64_t n = 0;

    snprintf(url, sizeof url, "%s/api/1.1/json/tickets/", d->sandbox);
    snprintf(body, sizeof body,
             "{\"category\": %d, \"subject\": \"%.100s\", \"text\": \"Please handle.\", \"name\": \"HR Team\", "
             "\"email\": \"hr@acme.example\", %s}",
             category, title, members);
    memset(&rq, 0, sizeof rq);
    rq.method = "POST";
    rq.url = url;
    rq.headers = h;
    rq.body = body;
    rq.body_len = strlen(body);
    if (http_client_do(d->http, &rq, &rs, &err) == 0 && rs.status == 200) {
        json_t *j = json_loadb(rs.body.data, rs.body.len, 0, NULL);
        n = json_integer_value(json_object_get(j, "id"));
        json_decref(j);
    }
    http_response_free(&rs);
    return n;
}

static void resolve_ticket(struct demo *d, int64_t n)
{
    char url[300];
    const char *h[] = {"Content-Type: application/json",
                       "Authorization: Basic c2FuZGJveC1oZi1rZXk6c2FuZGJveC1oZi1jb2Rl", NULL};
    const char *body = "{\"staff\": 2, \"status\": 4, \"text\": \"Done on our side.\"}";
    struct http_request rq;
    struct http_response rs;
    struct idf_err err;
    snprintf(url, sizeof url, "%s/api/1.1/json/ticket/%lld/staff_update/", d->sandbox, (long long)n);
    memset(&rq, 0, sizeof rq);
    rq.method = "POST";
    rq.url = url;
    rq.headers = h;
    rq.body = body;
    rq.body_len = strlen(body);
    if (http_client_do(d->http, &rq, &rs, &err) == 0)
        http_response_free(&rs);
}

static long long events_total(struct demo *d)
{
    char url[200];
    struct http_request rq;
    struct http_response rs;
    struct idf_err err;
    long long v = -1;
    snprintf(url, sizeof url, "%s/metrics", d->api);
    memset(&rq, 0, sizeof rq);
    rq.method = "GET";
    rq.url = url;
    if (http_client_do(d->http, &rq, &rs, &err) == 0) {
        const char *p = rs.body.data ? strstr(rs.body.data, "\nidflow_events_total ") : NULL;
        if (p)
            v = atoll(p + strlen("\nidflow_events_total "));
        http_response_free(&rs);
    }
    return v;
}

/* The ticket that started run, as the run's event has it: "  ticket
 * #HF00000009 \"whole subject\"" (nothing for a run not started by one). */
static void print_ticket(const json_t *run)
{
    const json_t *t = json_object_get(json_object_get(run, "event"), "ticket");
    const char *subject = json_string_value(json_object_get(t, "subject"));
    if (subject)
        printf("  ticket %s \"%s\"\n", json_string_value(json_object_get(t, "display_id")) ?: "?", subject);
}

/* Waits for a new run of wf (beyond `before` runs) to wait at an approval;
 * its id, or 0 at the deadline. */
static int64_t wait_approval(struct demo *d, const char *wf, size_t before)
{
    int64_t deadline = time_now_ms() + DEMO_WAIT_MS, id = 0;
    while (time_now_ms() < deadline) {
        if (!id && runs_of(d, wf) > before) {
            json_t *l = getf(d, false, "%s/api/v1/runs?workflow=%s&limit=1", d->api, wf);
            id = json_integer_value(json_object_get(json_array_get(json_object_get(l, "runs"), 0), "id"));
            json_decref(l);
        }
        if (id > 0) {
            json_t *a = getf(d, false, "%s/api/v1/approvals", d->api), *x;
            size_t i;
            bool found = false;
            json_array_foreach(json_object_get(a, "approvals"), i, x)
            {
                if (json_integer_value(json_object_get(x, "run_id")) == id)
                    found = true;
            }
            json_decref(a);
            if (found)
                return id;
        }
        sleep_ms(50);
    }
    return 0;
}

/* The approval scenario: the run waits and nothing has changed yet; with
 * --once the demo approves it and the run goes on, else the report says
 * how to approve it. The run's final (or waiting) state into *run_out. */
static bool play_approval(struct demo *d, const struct scenario *s, size_t before, json_t **run_out)
{
    char state[200], url[300];
    int64_t id = wait_approval(d, s->workflow, before);
    json_t *run;
    long st = 0;

    *run_out = NULL;
    if (!id)
        return false;
    run = getf(d, false, "%s/api/v1/runs/%lld", d->api, (long long)id);
    user_state(d, s->login, state, sizeof state);
    printf("  workflow %s, run %lld (started by polling HappyFox's ticket list): waiting for an approval; "
           "%s meanwhile: %s\n",
           s->workflow, (long long)id, s->login, state);
    print_ticket(run);
    json_decref(run);
    if (strncmp(state, "ACTIVE", 6) != 0) {
        printf("  UNEXPECTED: the user changed before the approval\n");
        return false;
    }
    if (!d->once) {
        d->pending = id;
        printf("  left waiting: the end of this report says how to approve it\n");
        *run_out = getf(d, false, "%s/api/v1/runs/%lld", d->api, (long long)id);
        return true;
    }
    snprintf(url, sizeof url, "%s/api/v1/runs/%lld/approve", d->api, (long long)id);
    json_decref(call(d, "POST", url, "{\"comment\": \"approved by idflow demo --once\", \"actor\": \"demo\"}", false,
                     &st));
    printf("  approved by the demo (--once): HTTP %ld\n", st);
    *run_out = wait_run(d, s->workflow, before, id);
    return st == 200 && *run_out;
}

static void play(struct demo *d, const struct scenario *s)
{
    char before_state[200], after_state[200];
    size_t before = runs_of(d, s->workflow);
    int64_t t0 = time_mono_ns(), run_id = 0;
    const char *expect_state = s->expect_state, *expect_run = s->expect_run;
    json_t *run = NULL;
    bool ok, played = true;

    user_state(d, s->login, before_state, sizeof before_state);
    printf("\n%s\n", s->title);
    if (s->how == BY_API) {
        char url[300], body[400];
        json_t *a;
        snprintf(url, sizeof url, "%s/api/v1/events", d->api);
        snprintf(body, sizeof body, "{\"workflow\": \"%s\", \"data\": {\"login\": \"%s\"}}", s->workflow, s->login);
        a = call(d, "POST", url, body, false, NULL);
        run_id = json_integer_value(json_array_get(json_object_get(a, "run_ids"), 0));
        json_decref(a);
    } else if (s->how == BY_OKTA) {
        char path[400], url[600];
        const char *bar = strchr(s->arg, '|');
        long long ev = events_total(d);
        snprintf(path, sizeof path, "%.*s", (int)(bar - s->arg), s->arg);
        snprintf(url, sizeof url, "%s%s", d->sandbox, path);
        json_decref(call(d, "POST", url, bar + 1, false, NULL));
        if (!s->expect_run) { /* once the event is acknowledged, it provably started nothing */
            int64_t deadline = time_now_ms() + DEMO_WAIT_MS;
            while (events_total(d) <= ev && time_now_ms() < deadline)
                sleep_ms(50);
        }
    } else {
        int64_t n = new_ticket(d, s->category, demo__ticket_subject(s->title), s->arg);
        if (s->how == BY_RESOLVE && n > 0)
            resolve_ticket(d, n);
    }
    if (s->approval) {
        played = play_approval(d, s, before, &run);
        if (!d->once) { /* left waiting: nothing may have changed */
            expect_state = "ACTIVE";
            expect_run = engine_run_status_name(ENGINE_RUN_WAITING);
        }
    } else if (s->expect_run) {
        run = wait_run(d, s->workflow, before, run_id);
    }
    user_state(d, s->login, after_state, sizeof after_state);
    if (expect_run && run && (d->once || !s->approval)) {
        printf("  workflow %s, run %lld (%s): %s in %lld ms\n", s->workflow,
               (long long)json_integer_value(json_object_get(run, "id")),
               s->how == BY_API ? "started through the API"
               : s->how == BY_OKTA ? "started by the Okta event hook"
                                   : "started by polling HappyFox's ticket list",
               json_string_value(json_object_get(run, "status")), (long long)((time_mono_ns() - t0) / 1000000));
        if (!s->approval)
            print_ticket(run);
        print_steps(run);
    } else if (!expect_run) {
        printf("  workflow %s: %zu new run(s) (none expected)\n", s->workflow, runs_of(d, s->workflow) - before);
    }
    printf("  %s: before %s; after %s\n", s->login, before_state, after_state);
    ok = played && strncmp(after_state, expect_state, strlen(expect_state)) == 0;
    if (expect_run)
        ok = ok && run && !strcmp(json_string_value(json_object_get(run, "status")) ?: "", expect_run);
    else
        ok = ok && runs_of(d, s->workflow) == before;
    if (!ok) {
        printf("  UNEXPECTED: wanted %s %s and the user %s\n", expect_run ? "a run that is" : "no run",
               expect_run ? expect_run : "", expect_state);
        d->failures++;
    }
    json_decref(run);
}

/* "HOST:PORT" with a port of 1 to 65535 (serve checks the rest). */
static bool listen_valid(const char *v)
{
    const char *colon = strrchr(v, ':');
    char *end;
    long port;

    if (!colon || colon == v || strlen(v) >= 100)
        return false;
    port = strtol(colon + 1, &end, 10);
    return *end == '\0' && end != colon + 1 && port > 0 && port <= 65535;
}

static int setup(struct demo *d)
{
    char log[DEMO_LOG_MAX], hook[300], url[300];

    snprintf(d->db, sizeof d->db, "sqlite:%s/idflow.db", d->dir);
    snprintf(log, sizeof log, "%s/sandbox.log", d->dir);
    {
        const char *args[] = {"sandbox", "--listen", "127.0.0.1:0", "--token", DEMO_TOKEN, NULL};
        d->sandbox_pid = spawn_self(d, args, NULL, log);
    }
    if (d->sandbox_pid < 0 || !sandbox_url(d, log))
        return fprintf(stderr, "idflow demo: the sandbox did not start (see %s)\n", log), -1;
    {
        char tok[80];
        const char *env[] = {tok, "DEMO_HF_KEY=sandbox-hf-key", "DEMO_HF_CODE=sandbox-hf-code", NULL};
        /* the automation's own account and the IT admins are protected (issue 19): no workflow may
         * suspend, deactivate or reset them; one scenario shows the refusal */
        const char *okta[] = {"connect", "okta", "acme", "--url", d->sandbox, "--token-env", "DEMO_OKTA_TOKEN",
                              "--sandbox", "--protect", DEMO_PROTECT_LOGIN, "--protect", DEMO_PROTECT_GROUP, "--db",
                              d->db, NULL};
        /* HappyFox in its default mode, polling the ticket list (every second
         * here, for the demo's pace): no public HappyFox source shows a Smart
         * Rule that can carry a secret (docs/happyfox.md, "Webhook") */
        const char *happyfox[] = {"connect", "happyfox", "helpdesk", "--url", d->sandbox, "--api-key-env",
                                  "DEMO_HF_KEY", "--auth-code-env", "DEMO_HF_CODE", "--poll-interval", "1",
                                  "--staff", "IT On-call", "--sandbox", "--db", d->db, NULL};
        snprintf(tok, sizeof tok, "DEMO_OKTA_TOKEN=%s", DEMO_TOKEN);
        if (run_self(d, okta, env) != 0 || run_self(d, happyfox, env) != 0)
            return fprintf(stderr, "idflow demo: connecting the sandbox failed (see %s/connect.log)\n", d->dir), -1;
    }
    if (!d->listen[0]) {
        int port = 0;
        /* a free port: bind 0 through a throw-away socket */
        {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a;
            socklen_t len = sizeof a;
            memset(&a, 0, sizeof a);
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len))
                return -1;
            port = ntohs(a.sin_port);
            close(fd);
        }
        snprintf(d->listen, sizeof d->listen, "127.0.0.1:%d", port);
    }
    /* a loopback address: serve refuses any other while no API token exists */
    snprintf(d->api, sizeof d->api, "http://%s", d->listen);
    snprintf(log, sizeof log, "%s/serve.log", d->dir);
    {
        const char *args[] = {"serve", "--db", d->db, "--listen", d->listen, "--workflows", d->wfcopy, NULL};
        d->serve_pid = spawn_self(d, args, NULL, log);
    }
    snprintf(url, sizeof url, "%s/readyz", d->api);
    if (d->serve_pid < 0 || !wait_ok(d, url))
        return fprintf(stderr, "idflow demo: idflow serve did not start (see %s)\n", log), -1;
    snprintf(hook, sizeof hook, "%s/hooks/okta/acme", d->api);
    {
        const char *args[] = {"connect", "okta", "acme", "--register-hook", hook, "--db", d->db, NULL};
        if (run_self(d, args, NULL) != 0)
            return fprintf(stderr, "idflow demo: registering the Okta event hook failed\n"), -1;
    }
    return 0;
}

static void stop(struct demo *d)
{
    int st;
    if (d->serve_pid > 0) {
        kill(d->serve_pid, SIGTERM);
        waitpid(d->serve_pid, &st, 0);
    }
    if (d->sandbox_pid > 0) {
        kill(d->sandbox_pid, SIGTERM);
        waitpid(d->sandbox_pid, &st, 0);
    }
}

/* The security ticket's second half: resolve it, the suspension is lifted. */
static void play_lift(struct demo *d)
{
    static const struct scenario lift = {"    ... and the Security Incident ticket resolved: lift the suspension",
                                         BY_RESOLVE, "security-incident-resolved", "omar.haddad@acme.example",
                                         NULL, 5, "succeeded", "ACTIVE", false};
    json_t *l = getf(d, false, "%s/api/v1/runs?workflow=security-incident&limit=1", d->api);
    json_t *r = getf(d, false, "%s/api/v1/runs/%lld", d->api,
                     (long long)json_integer_value(json_object_get(json_array_get(json_object_get(l, "runs"), 0), "id")));
    int64_t ticket = json_integer_value(json_object_get(json_object_get(json_object_get(r, "event"), "ticket"), "number"));
    size_t before = runs_of(d, lift.workflow);
    char st[200];
    json_t *run;

    printf("\n%s\n", lift.title);
    resolve_ticket(d, ticket);
    run = wait_run(d, lift.workflow, before, 0);
    user_state(d, lift.login, st, sizeof st);
    if (run) {
        printf("  workflow %s, run %lld (started by polling HappyFox's ticket list): %s\n", lift.workflow,
               (long long)json_integer_value(json_object_get(run, "id")), json_string_value(json_object_get(run, "status")));
        print_ticket(run);
        print_steps(run);
    }
    printf("  %s: %s\n", lift.login, st);
    if (!run || !run_is(run, ENGINE_RUN_SUCCEEDED) || strncmp(st, "ACTIVE", 6)) {
        printf("  UNEXPECTED: wanted a succeeded run and the user ACTIVE\n");
        d->failures++;
    }
    json_decref(run);
    json_decref(r);
    json_decref(l);
}

/* Where the demo's runs are kept, and how to look at them afterwards. */
static void print_kept(const struct demo *d)
{
    printf("the demo's folder is kept: %s\n", d->dir);
    printf("  run history: %s runs --db %s    one run: %s show RUN --db %s\n", d->self, d->db, d->self, d->db);
    printf("  serve it again: %s serve --db %s --workflows %s\n", d->self, d->db, d->wfcopy);
}

int cli_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"once", no_argument, NULL, 'o'},
        {"workflows", required_argument, NULL, 'w'},
        {"dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    static const char usage[] =
        "usage: idflow demo [--once] [--dir DIR] [--listen HOST:PORT] [--workflows DIR]\n"
        "  --dir DIR        the demo's folder: database, key file, logs (new or empty; kept after exit;\n"
        "                   default: a new folder in $TMPDIR or /tmp, named in the report)\n"
        "  --listen ADDR    where idflow serves, on loopback (default 127.0.0.1 and a free port)\n"
        "  --once           approve the approval run itself, and exit after the report\n"
        "  --workflows DIR  the workflows to play (default: the shipped examples/workflows)\n";
    struct demo d;
    const char *wfdir = "examples/workflows", *dir = NULL;
    struct idf_err err;
    ssize_t n;
    int c, rc = CLI_FAIL;
    sigset_t set;

    /* The demo never uses an operator's master key: wipe it from this
     * process's memory and keep it from the sandbox, serve and connect
     * children (they seal with idflow.key in the demo's own folder). */
    seal_env_scrub();
    memset(&d, 0, sizeof d);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o': d.once = true; break;
        case 'w': wfdir = optarg; break;
        case 'd': dir = optarg; break;
        case 'l':
            if (!listen_valid(optarg)) {
                fprintf(stderr, "idflow demo: --listen wants HOST:PORT with a port of 1 to 65535, e.g. "
                                "127.0.0.1:8080 (got '%s')\n", optarg);
                return CLI_USAGE;
            }
            snprintf(d.listen, sizeof d.listen, "%s", optarg);
            break;
        default: fputs(usage, stderr); return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "idflow demo: unexpected argument '%s'\n%s", argv[optind], usage);
        return CLI_USAGE;
    }
    n = readlink("/proc/self/exe", d.self, sizeof d.self - 1);
    {
        char *wf = realpath(wfdir, NULL); /* malloc'd: a resolved path may be longer than d.wfdir */
        bool fits = wf && strlen(wf) < sizeof d.wfdir;
        if (fits)
            snprintf(d.wfdir, sizeof d.wfdir, "%s", wf);
        free(wf);
        if (n <= 0 || !fits) {
            fprintf(stderr, "idflow demo: cannot find the workflows directory '%s' (run it from the repository, or "
                            "give --workflows)\n", wfdir);
            return CLI_USAGE;
        }
    }
    d.self[n] = '\0';
    if (demo__dir_prepare(dir, d.dir, sizeof d.dir, &err) != 0) {
        fprintf(stderr, "idflow demo: %s\n", err.msg);
        return err.code == IDF_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    snprintf(d.db, sizeof d.db, "sqlite:%s/idflow.db", d.dir);
    if (demo__workflows_copy(d.wfdir, d.dir, d.wfcopy, sizeof d.wfcopy, &err) != 0) {
        fprintf(stderr, "idflow demo: %s\n", err.msg);
        return CLI_FAIL;
    }
    if (http_client_new(&d.http)) {
        fprintf(stderr, "idflow demo: out of memory\n");
        return CLI_FAIL;
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    if (setup(&d) == 0) {
        printf("idflow demo: sandbox at %s, idflow at %s (database, key file and logs in %s)\n", d.sandbox, d.api,
               d.dir);
        for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
            play(&d, &scenarios[i]);
        play_lift(&d);
        printf("\n%s\n", d.failures ? "demo: some scenarios did not end as expected"
                                    : "demo: every scenario ended as expected");
        rc = d.failures ? CLI_FAIL : CLI_OK;
        print_kept(&d);
        if (!d.once) {
            int sig;
            printf("idflow keeps serving at %s: open %s/ in a browser for the web console (API: %s/api/v1/runs, "
                   "metrics: %s/metrics); Ctrl-C stops it.\n",
                   d.api, d.api, d.api, d.api);
            if (d.pending)
                printf("run %lld waits for an approval: approve it in the console (%s/#/approvals) or with: %s "
                       "approve %lld --db %s\n",
                       (long long)d.pending, d.api, d.self, (long long)d.pending, d.db);
            printf("this demo's store holds no API token, so the API answers loopback callers without one until the "
                   "first token (an admin's: %s token create me --role admin --db %s)\n",
                   d.self, d.db);
            fflush(stdout);
            sigwait(&set, &sig);
        }
    }
    stop(&d);
    http_client_free(d.http);
    if (!d.once)
        printf("idflow demo: stopped; %s is kept (idflow runs --db %s)\n", d.dir, d.db);
    return rc;
}

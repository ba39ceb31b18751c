/* history.c — the run-history subcommands, which work on the store directly
 * (so they also work while a server runs): runs, show, rerun, approve,
 * reject, migrate, and history (a subject's timeline, issue 17). Output is a
 * human table, or JSON with --json. */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/render.h"
#include "api/runquery.h"
#include "cli/cli.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/status.h"
#include "store/store.h"

static bool parse_run_id(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || v <= 0)
        return false;
    *out = v;
    return true;
}

/* A run became runnable (its transaction committed): tells the idle workers
 * of the `idflow serve` nodes on a PostgreSQL database (store_notify; on
 * SQLite nothing, and they find it at their next poll, as before). A failure
 * only costs them that poll: the command's outcome stays what it was. */
static void wake_nodes(struct store *st)
{
    int rc = store_notify(st, STORE_CHANNEL_WORK);
    (void)rc;
}

/* "okta/poll", "manual by token:alice": where a run came from, for a table. */
static void fmt_source(const struct store_run *r, char *out, size_t n)
{
    if (r->actor)
        snprintf(out, n, "%s by %s", r->source ? r->source : "-", r->actor);
    else if (r->via)
        snprintf(out, n, "%s/%s", r->source ? r->source : "-", r->via);
    else
        snprintf(out, n, "%s", r->source ? r->source : "-");
}

/* The options `runs` and `history` share (issue 17, "subjects"): the
 * filters of api/runquery.h, --json and --db. */
struct runs_opts {
    struct runquery_in in;
    const char *db;
    bool as_json;
};

static int parse_runs_opts(int argc, char **argv, bool history, struct runs_opts *o)
{
    static const struct option opts[] = {
        {"status", required_argument, NULL, 's'}, {"workflow", required_argument, NULL, 'w'},
        {"limit", required_argument, NULL, 'l'},  {"json", no_argument, NULL, 'j'},
        {"db", required_argument, NULL, 'd'},     {"subject", required_argument, NULL, 'S'},
        {"user", required_argument, NULL, 'S'},   {"ticket", required_argument, NULL, 'S'},
        {"source", required_argument, NULL, 'o'}, {"since", required_argument, NULL, 'a'},
        {"until", required_argument, NULL, 'u'},  {"before", required_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof *o);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': o->in.status = optarg; break;
        case 'w': o->in.workflow = optarg; break;
        case 'l': o->in.limit = optarg; break;
        case 'j': o->as_json = true; break;
        case 'd': o->db = optarg; break;
        case 'S': o->in.subject = optarg; break;
        case 'o': o->in.source = optarg; break;
        case 'a': o->in.since = optarg; break;
        case 'u': o->in.until = optarg; break;
        case 'b': o->in.before = optarg; break;
        default: return -1;
        }
    }
    if (history) {
        if (optind != argc - 1 || o->in.subject)
            return -1;
        o->in.subject = argv[optind];
    } else if (optind != argc) {
        return -1;
    }
    return 0;
}

int cli_runs(int argc, char **argv)
{
    struct runs_opts o;
    struct runquery q;
    struct idf_err err;
    struct store *st = NULL;
    struct store_run *rows = NULL;
    int64_t total = 0;
    size_t n = 0;
    int rc;

    idf_err_clear(&err);
    if (parse_runs_opts(argc, argv, false, &o)) {
        fprintf(stderr, "usage: idflow runs [--status S] [--workflow NAME] [--subject|--user LOGIN|ID|TICKET] "
                        "[--source SOURCE[/VIA]] [--since TIME] [--until TIME] [--before RUN] [--limit N] [--json] "
                        "[--db URL]\n");
        return CLI_USAGE;
    }
    if (runquery_parse(&o.in, "--", &q, &err)) {
        fprintf(stderr, "idflow runs: %s\n", err.msg);
        return CLI_USAGE;
    }
    if (cli_open_store(o.db, &st))
        return CLI_FAIL;
    rc = store_run_list(st, &q.f, &rows, &n);
    if (rc == 0 && !o.as_json)
        rc = store_run_count(st, &q.f, &total);
    if (rc) {
        fprintf(stderr, "idflow runs: cannot list runs: %s\n", idf_strerror(rc));
        store_close(st);
        return CLI_FAIL;
    }
    if (o.as_json) {
        json_t *list = render_runs(rows, n);
        char *s = list ? json_dumps(list, JSON_INDENT(2)) : NULL;
        puts(s ? s : "[]");
        free(s);
        json_decref(list);
    } else {
        printf("%-8s %-24s %-10s %-24s %-22s %-26s %s\n", "RUN", "WORKFLOW", "STATUS", "CREATED", "SOURCE", "SUBJECT",
               "ERROR");
        for (size_t i = 0; i < n; i++) {
            const struct store_run *r = &rows[i];
            char ts[40], src[300];
            cli_fmt_time(r->created_at, ts, sizeof ts);
            fmt_source(r, src, sizeof src);
            printf("%-8lld %-24s %-10s %-24s %-22s %-26s %s\n", (long long)r->id, r->workflow, r->status, ts, src,
                   r->subject ? r->subject : "-", r->error ? r->error : "");
        }
        printf("(%zu of %lld matching run%s%s)\n", n, (long long)total, total == 1 ? "" : "s",
               n && (int64_t)n < total ? "; --before ID for older ones" : "");
    }
    store_run_list_free(rows, n);
    store_close(st);
    return CLI_OK;
}

/* idflow history USER|TICKET: every run that touched it, newest first,
 * with what each changed (issue 17, "subjects"). */
int cli_history(int argc, char **argv)
{
    struct runs_opts o;
    struct runquery q;
    struct idf_err err;
    struct store *st = NULL;
    json_t *h = NULL;
    int rc;

    idf_err_clear(&err);
    if (parse_runs_opts(argc, argv, true, &o)) {
        fprintf(stderr, "usage: idflow history USER|TICKET [--status S] [--workflow NAME] [--source SOURCE[/VIA]] "
                        "[--since TIME] [--until TIME] [--before RUN] [--limit N] [--json] [--db URL]\n"
                        "  USER: a login (jane@acme.com) or an Okta id; TICKET: #HF00000006 or its number\n");
        return CLI_USAGE;
    }
    if (runquery_parse(&o.in, "", &q, &err)) {
        fprintf(stderr, "idflow history: %s\n", err.msg);
        return CLI_USAGE;
    }
    if (cli_open_store(o.db, &st))
        return CLI_FAIL;
    rc = runquery_history_json(st, &q, &h, &err);
    store_close(st);
    if (rc) {
        fprintf(stderr, "idflow history: %s: %s\n", err.msg, idf_strerror(rc));
        return CLI_FAIL;
    }
    if (o.as_json) {
        char *s = json_dumps(h, JSON_INDENT(2));
        puts(s ? s : "{}");
        free(s);
    } else {
        json_t *runs = json_object_get(h, "runs"), *r;
        size_t i;
        printf("runs that touched %s, newest first (%zu of %lld):\n", json_string_value(json_object_get(h, "subject")),
               json_array_size(runs), (long long)json_integer_value(json_object_get(h, "total")));
        json_array_foreach (runs, i, r) {
            json_t *src = json_object_get(r, "source"), *chs = json_object_get(r, "changes"), *ch;
            const char *via = json_string_value(json_object_get(src, "via"));
            const char *actor = json_string_value(json_object_get(src, "actor"));
            char ts[40];
            size_t j;
            cli_fmt_time(json_integer_value(json_object_get(r, "created_at")), ts, sizeof ts);
            printf("#%-7lld %s  %-24s %-10s %s%s%s%s%s\n", (long long)json_integer_value(json_object_get(r, "id")), ts,
                   json_string_value(json_object_get(r, "workflow")), json_string_value(json_object_get(r, "status")),
                   json_string_value(json_object_get(src, "name")) ? json_string_value(json_object_get(src, "name"))
                                                                   : "-",
                   via ? "/" : "", via ? via : "", actor ? " by " : "", actor ? actor : "");
            if (json_array_size(chs) == 0)
                printf("         changed nothing\n");
            json_array_foreach (chs, j, ch)
                printf("         %s (step %s)\n", json_string_value(json_object_get(ch, "change")),
                       json_string_value(json_object_get(ch, "step_id")));
        }
    }
    json_decref(h);
    return CLI_OK;
}

static void print_value(const char *label, const json_t *v)
{
    char *s;
    if (!v || json_is_null(v))
        return;
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && strlen(s) > 400)
        strcpy(s + 397, "...");
    printf("      %-7s %s\n", label, s ? s : "");
    free(s);
}

/* Issue 17 ("approvals-reruns"): the run's approvals with their decisions,
 * what ended it when a rejection did, and its re-run, for `idflow show`. */
static void print_decisions(const struct store_run *r, const struct store_step *steps, size_t n_steps,
                            const struct store_approval *rows, size_t n)
{
    const struct store_approval *rej = render_rejection(r, steps, n_steps, rows, n);
    char when[40];

    if (rej)
        printf("  rejected by %s%s%s\n", rej->actor ? rej->actor : "an approver", rej->comment ? ": " : "",
               rej->comment ? rej->comment : "");
    if (r->rerun_as)
        printf("  re-run as run %lld\n", (long long)r->rerun_as);
    for (size_t i = 0; i < n; i++) {
        const struct store_approval *a = &rows[i];
        if (!a->actor) {
            printf("  approval %s: %s\n", a->step_id, a->status ? a->status : "pending");
            continue;
        }
        cli_fmt_time(a->decided_at, when, sizeof when);
        printf("  approval %s: %s by %s at %s%s%s\n", a->step_id, a->status ? a->status : "?", a->actor, when,
               a->comment ? ": " : "", a->comment ? a->comment : "");
    }
}

int cli_show(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    bool as_json = false;
    struct store *st = NULL;
    struct store_run *r = NULL;
    struct store_step *rows = NULL;
    struct store_approval *approvals = NULL;
    size_t n = 0, n_approvals = 0;
    json_t *steps = NULL;
    int64_t id;
    int c, rc = CLI_FAIL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = true; break;
        case 'd': db = optarg; break;
        default: goto usage;
        }
    }
    if (optind != argc - 1 || !parse_run_id(argv[optind], &id))
        goto usage;
    if (cli_open_store(db, &st))
        return CLI_FAIL;
    if (store_run_get(st, id, &r)) {
        fprintf(stderr, "idflow show: no run %lld\n", (long long)id);
        goto out;
    }
    if (store_step_list(st, id, &rows, &n) || !(steps = render_steps(rows, n))) {
        fprintf(stderr, "idflow show: cannot read the steps of run %lld\n", (long long)id);
        goto out;
    }
    if (store_run_approvals(st, id, &approvals, &n_approvals)) {
        fprintf(stderr, "idflow show: cannot read the approvals of run %lld\n", (long long)id);
        goto out;
    }
    if (as_json) {
        json_t *o = json_pack("{s:I,s:s,s:I,s:I,s:s,s:s?,s:I,s:I,s:I,s:I,s:O}", "id", (json_int_t)r->id, "workflow",
                              r->workflow, "version", (json_int_t)r->version, "event_id", (json_int_t)r->event_id,
                              "status", r->status, "error", r->error, "created_at", (json_int_t)r->created_at,
                              "finished_at", (json_int_t)r->finished_at, "wake_at", (json_int_t)r->wake_at,
                              "rerun_of", (json_int_t)r->rerun_of, "steps", steps);
        json_t *ev = log_redact_text(r->event); /* as the API answers it: redacted */
        char *s;
        if (ev)
            json_object_set_new(o, "event", ev);
        if (render_run_decisions(o, r, rows, n, approvals, n_approvals)) {
            fprintf(stderr, "idflow show: out of memory\n");
            json_decref(o);
            goto out;
        }
        s = json_dumps(o, JSON_INDENT(2));
        puts(s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        char c1[40], c2[40];
        size_t i;
        json_t *sp;
        cli_fmt_time(r->created_at, c1, sizeof c1);
        cli_fmt_time(r->finished_at, c2, sizeof c2);
        printf("run %lld  %s v%lld  %s\n", (long long)r->id, r->workflow, (long long)r->version, r->status);
        printf("  created %s  finished %s  event %lld%s\n", c1, c2, (long long)r->event_id,
               r->rerun_of ? "  (rerun)" : "");
        if (r->rerun_of)
            printf("  rerun of run %lld\n", (long long)r->rerun_of);
        if (r->error)
            printf("  error: %s\n", r->error);
        print_decisions(r, rows, n, approvals, n_approvals);
        if (engine_run_status_is(r->status, ENGINE_RUN_WAITING)) {
            cli_fmt_time(r->wake_at, c1, sizeof c1);
            printf("  waiting until %s\n", c1);
        }
        for (size_t k = 0; engine_run_status_is(r->status, ENGINE_RUN_HELD) && k < n_approvals; k++)
            if (approvals[k].hold && approvals[k].status && strcmp(approvals[k].status, "pending") == 0)
                printf("  held at the guardrail of connection '%s' at step %s: an admin releases it "
                       "(idflow release %lld) or rejects it (idflow release --reject %lld)\n",
                       approvals[k].hold, approvals[k].step_id, (long long)r->id, (long long)r->id);
        printf("  steps:\n");
        json_array_foreach(steps, i, sp)
        {
            int item = (int)json_integer_value(json_object_get(sp, "item"));
            int64_t st0 = json_integer_value(json_object_get(sp, "started_at"));
            int64_t st1 = json_integer_value(json_object_get(sp, "finished_at"));
            char itembuf[32] = "";
            if (item >= 0)
                snprintf(itembuf, sizeof itembuf, "[%d]", item);
            printf("    %-3lld %-22s%-6s %-10s attempts %lld  %lld ms\n",
                   (long long)json_integer_value(json_object_get(sp, "index")),
                   json_string_value(json_object_get(sp, "step_id")), itembuf,
                   json_string_value(json_object_get(sp, "status")),
                   (long long)json_integer_value(json_object_get(sp, "attempts")),
                   (long long)(st1 > st0 ? st1 - st0 : 0));
            print_value("input", json_object_get(sp, "input"));
            print_value("output", json_object_get(sp, "output"));
            print_value("error", json_object_get(sp, "error"));
        }
    }
    rc = CLI_OK;
    goto out;
usage:
    fprintf(stderr, "usage: idflow show RUN [--json] [--db URL]\n");
    return CLI_USAGE;
out:
    json_decref(steps);
    store_approval_list_free(approvals, n_approvals);
    store_step_list_free(rows, n);
    store_run_free(r);
    store_close(st);
    return rc;
}

int cli_rerun(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"force", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
    const char *db = NULL;
    bool force = false;
    struct store *st = NULL;
    struct idf_err err;
    char actor[300];
    int64_t id, nid = 0;
    int c, rc = CLI_FAIL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd')
            db = optarg;
        else if (c == 'f')
            force = true;
        else
            goto usage;
    }
    if (optind != argc - 1 || !parse_run_id(argv[optind], &id))
        goto usage;
    if (cli_open_store(db, &st))
        return CLI_FAIL;
    cli_actor(actor, sizeof actor);
    if (store_run_rerun(st, id, time_now_ms(), actor, force, &nid, &err)) {
        /* the store's refusal names the earlier re-run or the rejection and says "force" */
        fprintf(stderr, "idflow rerun: %s%s\n", err.msg,
                err.code == IDF_EEXIST || strstr(err.msg, "rejected by") ? " (idflow rerun --force)" : "");
    } else {
        printf("run %lld queued: rerun of run %lld from its failed step (idflow serve executes it)\n",
               (long long)nid, (long long)id);
        wake_nodes(st); /* the new run is queued */
        rc = CLI_OK;
    }
    store_close(st);
    return rc;
usage:
    fprintf(stderr, "usage: idflow rerun RUN [--force] [--db URL]\n");
    return CLI_USAGE;
}

int cli_cancel(int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *reason = NULL;
    struct store *st = NULL;
    struct idf_err err;
    char actor[300], why[700];
    bool pending = false;
    int64_t id;
    int c, rc = CLI_FAIL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r': reason = optarg; break;
        case 'd': db = optarg; break;
        default: goto usage;
        }
    }
    if (optind != argc - 1 || !parse_run_id(argv[optind], &id))
        goto usage;
    if (cli_open_store(db, &st))
        return CLI_FAIL;
    cli_actor(actor, sizeof actor);
    snprintf(why, sizeof why, "cancelled by %s%s%.300s", actor, reason ? ": " : "", reason ? reason : "");
    if (store_run_stop(st, id, why, time_now_ms(), actor, &pending, &err)) {
        fprintf(stderr, "idflow cancel: %s\n", err.msg);
    } else {
        if (pending)
            printf("run %lld is running: it stops as cancelled once its current step is recorded (or, if its process "
                   "died, when it is next claimed, without running again)\n",
                   (long long)id);
        else
            printf("run %lld cancelled\n", (long long)id);
        rc = CLI_OK;
    }
    store_close(st);
    return rc;
usage:
    fprintf(stderr, "usage: idflow cancel RUN [--reason TEXT] [--db URL]\n");
    return CLI_USAGE;
}

int cli_decide(int argc, char **argv)
{
    static const struct option opts[] = {
        {"comment", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    bool approve = strcmp(argv[0], "approve") == 0;
    const char *db = NULL, *comment = NULL;
    struct store *st = NULL;
    struct idf_err err;
    char actor[300];
    int64_t id;
    int c, rc = CLI_FAIL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': comment = optarg; break;
        case 'd': db = optarg; break;
        default: goto usage;
        }
    }
    if (optind != argc - 1 || !parse_run_id(argv[optind], &id))
        goto usage;
    cli_actor(actor, sizeof actor);
    if (cli_open_store(db, &st))
        return CLI_FAIL;
    if (store_approval_decide(st, id, approve, actor, comment, time_now_ms(), &err)) {
        fprintf(stderr, "idflow %s: %s\n", argv[0], err.msg);
    } else {
        printf("run %lld %s by %s\n", (long long)id, approve ? "approved" : "rejected", actor);
        wake_nodes(st); /* the run is queued again */
        rc = CLI_OK;
    }
    store_close(st);
    return rc;
usage:
    fprintf(stderr, "usage: idflow %s RUN [--comment TEXT] [--db URL]\n", argv[0]);
    return CLI_USAGE;
}

/* `idflow release RUN... [--reject]` (issue 19): decides the guardrail
 * holds of held runs; each run is decided on its own (one that is not held
 * is reported and the others still go). */
int cli_release(int argc, char **argv)
{
    static const struct option opts[] = {
        {"reject", no_argument, NULL, 'r'},
        {"comment", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *comment = NULL;
    struct store *st = NULL;
    struct idf_err err;
    char actor[300];
    bool release = true, woke = false;
    int64_t id;
    int c, rc = CLI_OK;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r': release = false; break;
        case 'c': comment = optarg; break;
        case 'd': db = optarg; break;
        default: goto usage;
        }
    }
    if (optind >= argc)
        goto usage;
    for (int i = optind; i < argc; i++)
        if (!parse_run_id(argv[i], &id)) {
            fprintf(stderr, "idflow release: '%s' is not a run id\n", argv[i]);
            goto usage;
        }
    cli_actor(actor, sizeof actor);
    if (cli_open_store(db, &st))
        return CLI_FAIL;
    for (int i = optind; i < argc; i++) {
        if (!parse_run_id(argv[i], &id))
            continue; /* checked above */
        if (store_guard_decide(st, id, release, actor, comment, time_now_ms(), &err)) {
            fprintf(stderr, "idflow release: run %lld: %s\n", (long long)id, err.msg);
            rc = CLI_FAIL;
        } else {
            printf("run %lld %s by %s\n", (long long)id, release ? "released" : "rejected at the guardrail", actor);
            woke = true;
        }
    }
    if (woke)
        wake_nodes(st); /* the runs are queued again */
    store_close(st);
    return rc;
usage:
    fprintf(stderr, "usage: idflow release RUN... [--reject] [--comment TEXT] [--db URL]\n");
    return CLI_USAGE;
}

int cli_migrate(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0}};
    const char *db = NULL;
    struct store *st = NULL;
    int c, v = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'd') {
            fprintf(stderr, "usage: idflow migrate [--db URL]\n");
            return CLI_USAGE;
        }
        db = optarg;
    }
    if (cli_open_store(db, &st))
        return CLI_FAIL;
    if (store_schema_version(st, &v)) {
        fprintf(stderr, "idflow migrate: cannot read the schema version\n");
        store_close(st);
        return CLI_FAIL;
    }
    printf("schema version %d\n", v);
    store_close(st);
    return CLI_OK;
}

int cli_prune(int argc, char **argv)
{
    static const struct option opts[] = {
        {"older-than", required_argument, NULL, 'o'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *age = NULL;
    struct store *st = NULL;
    int64_t ms = 0, n = 0;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o': age = optarg; break;
        case 'd': db = optarg; break;
        default: goto usage;
        }
    }
    if (optind != argc || !age)
        goto usage;
    if (time_parse_duration(age, &ms) || ms < 3600000) {
        fprintf(stderr, "idflow prune: --older-than must be a duration of at least 1h (e.g. 90d), not '%s'\n", age);
        return CLI_USAGE;
    }
    if (cli_open_store(db, &st))
        return CLI_FAIL;
    rc = store_prune(st, time_now_ms() - ms, &n);
    store_close(st);
    if (rc) {
        fprintf(stderr, "idflow prune: %s\n", idf_strerror(rc));
        return CLI_FAIL;
    }
    printf("deleted %lld finished run(s) older than %s, with their steps and unreferenced events\n", (long long)n, age);
    return CLI_OK;
usage:
    fprintf(stderr, "usage: idflow prune --older-than DURATION [--db URL]   (e.g. --older-than 90d)\n");
    return CLI_USAGE;
}

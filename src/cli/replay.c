/* replay.c — `idflow replay WORKFLOW.yaml --since 7d` (issue 19, "replay
 * before you enable"): the workflow as edited, run in dry-run mode over the
 * events the database recorded in a window, side by side with what the
 * stored version did for each.
 *
 * For each event of the window (store_event_list, paged): whether the edited
 * workflow would start (engine_match_flow: the matcher's own decision,
 * enabled or not), and if so a dry run exactly as `idflow run --dry-run`
 * makes it (an in-memory store, env.dry_run: nothing is called; each action
 * step's record is {dry_run, action, effect}); then the runs of the
 * workflow's name the event started (store_event_runs) and their step
 * records, each step id mapped to its action by parsing the stored version
 * the run ran on. The comparison and the reports are replay_report.c's.
 *
 * Nothing is called and nothing is written to the database: it is opened
 * only when it exists (store_exists: a missing SQLite file is an error, not
 * created) and only read (store_event_list, store_event_runs,
 * store_step_list, store_workflow_source); every write of the dry runs goes
 * to the in-memory store. Main thread only. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/replay.h"
#include "connectors/connector.h"
#include "connectors/registry.h"
#include "core/timeutil.h"
#include "credentials/credentials.h"
#include "engine/engine.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "net/http.h"
#include "store/store.h"

#define REPLAY_PAGE 500                /* events read at once */
#define REPLAY_MAX_EVENTS 10000        /* events one replay looks at: more is an error (narrow --since) */
#define REPLAY_MAX_VERSIONS 64         /* stored versions kept parsed at once */
#define REPLAY_MAX_STEPS_PER_RUN 10000 /* step visits of one dry run before it is given up */

/* One parsed stored version (NULL flow: it did not parse). */
struct version {
    int64_t version;
    struct flow *flow;
    char why[300]; /* why it did not parse */
};

struct replay {
    const struct flow *f;  /* the edited workflow (borrowed) */
    struct store *db;      /* the database: read only */
    struct store *mem;     /* the dry runs' in-memory store */
    int64_t mem_version;   /* the edited workflow's version in mem */
    struct expr_ctx *ectx; /* borrowed */
    struct exec_env env;   /* the dry runs' */
    struct version versions[REPLAY_MAX_VERSIONS];
    size_t n_versions;
};

/* ------------------------------------------------------------- --since */

int replay__parse_since(const char *s, int64_t now_ms, int64_t *since_out)
{
    int64_t v = 0;

    if (!s || !*s)
        return IDF_EINVAL;
    if (time_parse_duration(s, &v) == 0) {
        if (v <= 0)
            return IDF_EINVAL;
        *since_out = now_ms - v;
        return 0;
    }
    if (time_parse_iso(s, &v) == 0 && v >= 0 && v <= now_ms) {
        *since_out = v;
        return 0;
    }
    return IDF_EINVAL;
}

/* ------------------------------------------------------ the edited side */

/* A step record as one call, or NULL when it is none: the edited side's
 * dry-run records ({dry_run, action, effect}), the stored side's records of
 * an action step that rendered its input. action NULL: the record's own
 * (dry run); effect < 0: from the output. */
static json_t *call_of(const struct store_step *r, const char *action, int effect)
{
    json_t *params = r->input ? json_loads(r->input, JSON_DECODE_ANY, NULL) : NULL;
    json_t *out = NULL, *c = NULL;
    const char *eff = NULL;

    if (!params)
        return NULL;
    if (!action) {
        out = r->output ? json_loads(r->output, JSON_DECODE_ANY, NULL) : NULL;
        if (!json_is_true(json_object_get(out, "dry_run")) ||
            !(action = json_string_value(json_object_get(out, "action"))))
            goto out;
        eff = json_string_value(json_object_get(out, "effect"));
    } else {
        eff = conn_effect_name((enum conn_effect)effect);
    }
    c = json_pack("{s:s,s:i,s:s,s:s,s:O,s:s}", "step", r->step_id, "item", r->item, "action", action, "effect",
                  eff ? eff : "read", "params", params, "status", r->status);
out:
    json_decref(out);
    json_decref(params);
    return c;
}

/* The dry run of the edited workflow for ev, as `idflow run --dry-run`
 * makes it: the event stored in the in-memory store, claimed and executed
 * until it ends (a dry run never waits: delays and approvals are "would
 * wait"). Its summary {status, error, calls} in *out (new reference). */
static int dry_run(struct replay *R, const struct store_event *ev, json_t **out, struct idf_err *err)
{
    struct store_run_in rin = {R->f->name, R->mem_version};
    struct store_ingest_item item;
    struct store_step *rows = NULL;
    struct store_run *r = NULL;
    json_t *calls = NULL;
    int64_t run_id = 0;
    size_t n = 0;
    int rc, visits = 0;

    memset(&item, 0, sizeof item);
    item.event.source = ev->source;
    item.event.type = ev->type;
    item.event.connection = ev->connection;
    item.event.data = ev->data;
    item.event.via = STORE_VIA_CLI;
    item.runs = &rin;
    item.n_runs = 1;
    item.run_ids = &run_id;
    if ((rc = store_ingest(R->mem, &item, 1, err)))
        goto out;
    for (;;) {
        enum engine_run_status status;
        struct exec_outcome oc;

        if ((rc = store_run_get(R->mem, run_id, &r))) {
            idf_err_set(err, rc, "the dry run of event %lld vanished", (long long)ev->id);
            goto out;
        }
        if (engine_run_status_parse(r->status, &status) == 0 &&
            (engine_run_status_final(status) || status == ENGINE_RUN_WAITING))
            break; /* a dry run waits for nothing: "waiting" is only a retry's pause */
        store_run_free(r);
        r = NULL;
        if (++visits > REPLAY_MAX_STEPS_PER_RUN) {
            rc = idf_err_set(err, IDF_ETOOBIG, "the dry run of event %lld did not end", (long long)ev->id);
            goto out;
        }
        R->env.lease_renewed_at = time_now_ms();
        if ((rc = store_run_claim_id(R->mem, run_id, R->env.owner, R->env.lease_renewed_at, R->env.lease_ms, &r, err)))
            goto out;
        if (!r) {
            rc = idf_err_set(err, IDF_ESTATE, "the dry run of event %lld could not be claimed", (long long)ev->id);
            goto out;
        }
        rc = exec_run(&R->env, R->f, r, &oc, err);
        store_run_free(r);
        r = NULL;
        if (rc)
            goto out;
    }
    if ((rc = store_step_list(R->mem, run_id, &rows, &n)))
        goto out;
    if (!(calls = json_array())) {
        rc = IDF_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *c = call_of(&rows[i], NULL, -1);
        if (c)
            json_array_append_new(calls, c);
    }
    *out = json_pack("{s:s,s:s*,s:o}", "status", r->status, "error", r->error, "calls", calls);
    calls = NULL;
    rc = *out ? 0 : IDF_ENOMEM;
out:
    json_decref(calls);
    store_step_list_free(rows, n);
    store_run_free(r);
    if (rc && !err->msg[0])
        idf_err_set(err, rc, "cannot read the dry run of event %lld: %s", (long long)ev->id, idf_strerror(rc));
    return rc;
}

/* ------------------------------------------------------ the stored side */

/* The stored version `version` of the workflow, parsed (borrowed from R;
 * NULL with *why set when it cannot be read or no longer validates). */
static const struct flow *stored_flow(struct replay *R, int64_t version, const char **why)
{
    struct version *v = NULL;
    struct flow_diags *d = NULL;
    char *src = NULL;
    int64_t got = 0;

    for (size_t i = 0; i < R->n_versions; i++)
        if (R->versions[i].version == version) {
            *why = R->versions[i].why;
            return R->versions[i].flow;
        }
    if (R->n_versions == REPLAY_MAX_VERSIONS) { /* forget the oldest parsed */
        flow_free(R->versions[0].flow);
        memmove(&R->versions[0], &R->versions[1], sizeof R->versions[0] * (REPLAY_MAX_VERSIONS - 1));
        R->n_versions--;
    }
    v = &R->versions[R->n_versions++];
    memset(v, 0, sizeof *v);
    v->version = version;
    if (store_workflow_source(R->db, R->f->name, version, &src, &got)) {
        snprintf(v->why, sizeof v->why, "version %lld is not in the database", (long long)version);
    } else if (!(d = calloc(1, sizeof *d)) ||
               flow_parse(registry_default(), R->f->name, src, strlen(src), R->ectx, &v->flow, d)) {
        snprintf(v->why, sizeof v->why, "version %lld no longer validates%s%s", (long long)version,
                 d && d->n ? ": " : "", d && d->n ? d->items[0].msg : "");
        v->flow = NULL;
    }
    free(d);
    free(src);
    *why = v->why;
    return v->flow;
}

/* The calls of one stored run: its records of action steps that rendered
 * their input and ran (not skipped), each mapped to its action by the
 * version the run ran on. */
static int stored_run(struct replay *R, const struct store_run *run, json_t **out)
{
    struct store_step *rows = NULL;
    const char *why = "";
    const struct flow *sf = stored_flow(R, run->version, &why);
    json_t *calls = json_array();
    size_t n = 0;
    int rc;

    if (!calls)
        return IDF_ENOMEM;
    if ((rc = store_step_list(R->db, run->id, &rows, &n))) {
        json_decref(calls);
        return rc;
    }
    for (size_t i = 0; sf && i < n; i++) {
        int k = flow_step_index(sf, rows[i].step_id);
        const struct conn_action *a = k >= 0 ? sf->steps[k].action : NULL;
        json_t *params, *c;
        if (!a || a->kind != CONN_K_ACTION || !strcmp(rows[i].status, STORE_STEP_SKIPPED) || !rows[i].input)
            continue;
        params = json_loads(rows[i].input, JSON_DECODE_ANY, NULL);
        c = call_of(&rows[i], a->name, (int)conn_action_effect(a, params));
        json_decref(params);
        if (c)
            json_array_append_new(calls, c);
    }
    *out = json_pack("{s:I,s:I,s:s,s:s*,s:I,s:o,s:s*}", "run", (json_int_t)run->id, "version", (json_int_t)run->version,
                     "status", run->status, "error", run->error, "rerun_of", (json_int_t)run->rerun_of, "calls", calls,
                     "unreadable", sf ? NULL : why);
    store_step_list_free(rows, n);
    return *out ? 0 : IDF_ENOMEM;
}

/* ------------------------------------------------------------- one event */

static const char *const WHY_NAMES[] = {
    [ENGINE_STARTS] = NULL,
    [ENGINE_NOT_TRIGGER] = "trigger",
    [ENGINE_NOT_PARAMS] = "trigger_params",
    [ENGINE_NOT_CONDITION] = "condition",
};

/* The replay of one event into *out (new reference), or NULL in *out when
 * the event concerns neither version (another trigger, and no stored run). */
static int replay_event(struct replay *R, const struct store_event *ev, json_t **out, struct idf_err *err)
{
    struct store_run *runs = NULL;
    size_t n_runs = 0;
    json_t *event = NULL, *o = NULL, *edited = NULL, *stored = NULL;
    enum engine_start_why why = ENGINE_NOT_TRIGGER;
    char why_text[1024] = "";
    int rc;

    *out = NULL;
    event = json_loads(ev->data ? ev->data : "", JSON_DECODE_ANY, NULL);
    if (event)
        why = engine_match_flow(R->ectx, R->f, ev->type, event, why_text, sizeof why_text);
    else
        snprintf(why_text, sizeof why_text, "the stored event is not JSON");
    if ((rc = store_event_runs(R->db, ev->id, R->f->name, &runs, &n_runs))) {
        idf_err_set(err, rc, "cannot read the runs of event %lld: %s", (long long)ev->id, idf_strerror(rc));
        goto out;
    }
    if (event && why == ENGINE_NOT_TRIGGER && n_runs == 0)
        goto out; /* neither version's business */
    if (R->f->trigger->takes_inputs && n_runs == 0)
        goto out; /* a caller's start names one workflow (the event does not say which): another's */
    if (why == ENGINE_STARTS && (rc = dry_run(R, ev, &edited, err)))
        goto out;
    if (!(stored = json_array())) {
        rc = IDF_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_runs; i++) {
        json_t *sr = NULL;
        if ((rc = stored_run(R, &runs[i], &sr))) {
            idf_err_set(err, rc, "cannot read the steps of run %lld: %s", (long long)runs[i].id, idf_strerror(rc));
            goto out;
        }
        json_array_append_new(stored, sr);
    }
    o = json_pack("{s:I,s:s,s:s,s:s*,s:I,s:b,s:s*,s:s*,s:O*,s:O}", "event", (json_int_t)ev->id, "type", ev->type,
                  "source", ev->source, "connection", ev->connection, "received_at", (json_int_t)ev->received_at,
                  "would_start", why == ENGINE_STARTS && event, "reason", !event ? "event" : WHY_NAMES[why], "why",
                  why_text[0] ? why_text : NULL, "edited", edited, "stored", stored);
    if (!o || replay__compare(o)) {
        rc = IDF_ENOMEM;
        goto out;
    }
    *out = o;
    o = NULL;
out:
    json_decref(o);
    json_decref(edited);
    json_decref(stored);
    json_decref(event);
    store_run_list_free(runs, n_runs);
    if (rc && !err->msg[0])
        idf_err_set(err, rc, "out of memory");
    return rc;
}

/* Every event of the window, paged, into doc's "events" (and the counts of
 * the others). */
static int replay_window(struct replay *R, int64_t since, json_t *doc, struct idf_err *err)
{
    json_t *events = json_object_get(doc, "events");
    int64_t after = 0, seen = 0, other = 0, pending = 0;
    int rc = 0;

    for (;;) {
        struct store_event *rows = NULL;
        size_t n = 0;
        if ((rc = store_event_list(R->db, since, after, REPLAY_PAGE, &rows, &n)))
            return idf_err_set(err, rc, "cannot read the events: %s", idf_strerror(rc));
        if (n == 0)
            break;
        for (size_t i = 0; i < n && rc == 0; i++) {
            json_t *e = NULL;
            after = rows[i].id;
            if (++seen > REPLAY_MAX_EVENTS) {
                rc = idf_err_set(err, IDF_ETOOBIG,
                                 "more than %d events were recorded in the window: replay a shorter one (--since)",
                                 REPLAY_MAX_EVENTS);
                break;
            }
            if (rows[i].stage == STORE_EVENT_EXPAND) {
                pending++; /* a delivery not yet expanded into its events: not an event yet */
                continue;
            }
            rc = replay_event(R, &rows[i], &e, err);
            if (rc == 0 && e)
                json_array_append_new(events, e);
            else if (rc == 0)
                other++;
        }
        store_event_list_free(rows, n);
        if (rc)
            return rc;
    }
    json_object_set_new(doc, "events_read", json_integer(seen));
    json_object_set_new(doc, "other_events", json_integer(other));
    json_object_set_new(doc, "deliveries_pending", json_integer(pending));
    return 0;
}

/* --------------------------------------------------------------- command */

int cli_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *since_arg = NULL, *db = NULL, *file, *url;
    bool as_json = false;
    char dbbuf[1100], owner[64], shown[1100], since_iso[40];
    struct replay R;
    struct idf_err err;
    struct flow *f = NULL;
    struct flow_diags *diags = NULL;
    struct http_client *http = NULL;
    json_t *doc = NULL;
    int64_t since = 0;
    bool created;
    int c, rc = CLI_FAIL;

    memset(&R, 0, sizeof R);
    idf_err_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': since_arg = optarg; break;
        case 'd': db = optarg; break;
        case 'j': as_json = true; break;
        default: goto usage;
        }
    }
    if (optind != argc - 1 || !since_arg || (db && !*db))
        goto usage;
    file = argv[optind];
    if (replay__parse_since(since_arg, time_now_ms(), &since)) {
        fprintf(stderr,
                "idflow replay: --since takes a duration (7d, 12h, 90m) or an ISO-8601 time in the past "
                "(2026-12-01T00:00:00Z), not '%.100s'\n",
                since_arg);
        rc = CLI_USAGE;
        goto out;
    }
    {
        /* expressions run in an evaluator child with the configured budgets, as in run and serve */
        struct cfg cfg;
        struct expr_limits lim = {0, 0};
        if (cfg_load(NULL, &cfg, &err) == 0) {
            lim.timeout_ms = cfg.expr_timeout_ms;
            lim.memory_mb = cfg.expr_memory_mb;
        }
        idf_err_clear(&err);
        if (expr_ctx_new_isolated(&lim, &R.ectx) || !(diags = calloc(1, sizeof *diags)))
            goto oom;
    }
    if (flow_load_file(registry_default(), file, R.ectx, &f, diags)) {
        flow_diags_print(file, diags, stderr);
        goto out;
    }
    R.f = f;
    url = cli_db_url(db, dbbuf, sizeof dbbuf);
    store_url_for_log(url, shown, sizeof shown);
    if (!store_exists(url)) {
        fprintf(stderr, "idflow replay: no database at %s (replay reads an existing one and creates nothing)\n", shown);
        goto out;
    }
    if (store_open(url, &R.db, &err) || store_open("sqlite::memory:", &R.mem, &err) ||
        store_workflow_save(R.mem, f->name, f->source, f->hash, &R.mem_version, &created, &err)) {
        fprintf(stderr, "idflow replay: %s\n", err.msg);
        goto out;
    }
    if (http_client_new(&http) || cred_cache_new(NULL, CRED_RECHECK_MS, &R.env.conns))
        goto oom;
    snprintf(owner, sizeof owner, "replay-%d", (int)getpid());
    R.env.store = R.mem;
    R.env.expr = R.ectx;
    R.env.http = http;
    R.env.owner = owner;
    R.env.lease_ms = ENGINE_DEFAULT_LEASE_MS;
    R.env.dry_run = true; /* calls nothing: every action step is a dry-run record */
    R.env.trace = NULL;
    time_format_iso(since, since_iso, sizeof since_iso);
    doc = json_pack("{s:s,s:s,s:s,s:I,s:s,s:[]}", "workflow", f->name, "file", file, "database", shown, "since",
                    (json_int_t)since, "since_iso", since_iso, "events");
    if (!doc)
        goto oom;
    if (replay_window(&R, since, doc, &err)) {
        fprintf(stderr, "idflow replay: %s\n", err.msg);
        goto out;
    }
    if (replay__summarize(doc))
        goto oom;
    if (as_json)
        replay__print_json(doc, stdout);
    else
        replay__print_text(doc, stdout);
    rc = json_is_true(json_object_get(doc, "destructive_new")) ? CLI_REPLAY_DESTRUCTIVE : CLI_OK;
    goto out;
usage:
    fprintf(stderr, "usage: idflow replay WORKFLOW.yaml --since DURATION|TIME [--db URL] [--json]\n"
                    "       (e.g. --since 7d; exit 3 when the edited workflow would make a destructive call the\n"
                    "       stored version did not)\n");
    rc = CLI_USAGE;
    goto out;
oom:
    fprintf(stderr, "idflow replay: out of memory\n");
out:
    exec_env_release(&R.env);
    cred_cache_free(R.env.conns);
    http_client_free(http);
    for (size_t i = 0; i < R.n_versions; i++)
        flow_free(R.versions[i].flow);
    store_close(R.mem);
    store_close(R.db);
    json_decref(doc);
    flow_free(f);
    free(diags);
    expr_ctx_free(R.ectx);
    return rc;
}

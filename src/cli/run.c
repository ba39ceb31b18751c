/* run.c — `idflow validate` and `idflow run` (one run in the foreground).
 *
 * `run` stores the workflow version and the event like the server would,
 * then executes the run on this thread with the same executor. Short waits
 * (retry backoff, short delays) are waited out here, in the foreground; a
 * long wait (an approval, a long delay) ends the command with the run left
 * waiting in the store for `idflow serve` to continue. --dry-run uses a
 * throw-away in-memory store and calls no action. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "credentials/credentials.h"
#include "connectors/connector.h"
#include "crypto/seal.h"
#include "core/buf.h"
#include "cli/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/engine.h"
#include "engine/subjects.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "net/http.h"
#include "store/store.h"

#define RUN_MAX_FOREGROUND_WAIT_MS 60000 /* longer waits are left to `idflow serve` */

/* Prints to stderr, as "FILE: warning: ...", each stored connection that f's
 * trigger listens to but would never receive its events on (a hook-only
 * Okta connection and an event type Okta's event hooks cannot carry). A
 * warning: the exit status does not change. */
static void warn_unreachable(struct store *st, const char *file, const struct flow *f)
{
    json_t *warnings = json_array();
    size_t i;
    json_t *w;

    if (!warnings || cred_reach_warnings(st, registry_default(), f->trigger, f->trigger_params, warnings)) {
        fprintf(stderr, "%s: warning: could not read the connections to check trigger %s\n", file, f->trigger->name);
        json_decref(warnings);
        return;
    }
    json_array_foreach(warnings, i, w)
    {
        fprintf(stderr, "%s: warning: trigger %s, %s\n", file, f->trigger->name, json_string_value(w));
    }
    json_decref(warnings);
}

int cli_validate(int argc, char **argv)
{
    struct expr_ctx *ectx = NULL;
    struct store *st = NULL;
    struct idf_err err;
    const char *db = NULL, *url;
    char dbbuf[1100];
    int bad = 0, first = 1;

    if (argc >= 3 && strcmp(argv[1], "--db") == 0) {
        db = argv[2];
        first = 3;
    } else if (argc >= 2 && strncmp(argv[1], "--db=", 5) == 0) {
        db = argv[1] + 5;
        first = 2;
    }
    if (first >= argc || (db && !*db)) {
        fprintf(stderr, "usage: idflow validate [--db URL] FILE...\n");
        return CLI_USAGE;
    }
    if (expr_ctx_new(&ectx)) {
        fprintf(stderr, "idflow validate: out of memory\n");
        return CLI_FAIL;
    }
    /* the connections a trigger listens to, when there is a store to read them from */
    url = cli_db_url(db, dbbuf, sizeof dbbuf);
    if (!store_exists(url)) {
        if (db)
            fprintf(stderr, "idflow validate: no store at %s: the connections were not checked\n", db);
    } else if (store_open(url, &st, &err)) {
        fprintf(stderr, "idflow validate: %s: the connections were not checked\n", err.msg);
        st = NULL;
    }
    for (int i = first; i < argc; i++) {
        struct flow *f = NULL;
        struct flow_diags *d = calloc(1, sizeof *d);
        if (!d || flow_load_file(registry_default(), argv[i], ectx, &f, d)) {
            if (d)
                flow_diags_print(argv[i], d, stderr);
            bad++;
        } else {
            if (f->has_inputs) /* (helper "inputs") */
                printf("%s: ok (workflow %s, trigger %s, %zu input%s, %zu steps)\n", argv[i], f->name,
                       f->trigger->name, f->n_inputs, f->n_inputs == 1 ? "" : "s", f->n_steps);
            else
                printf("%s: ok (workflow %s, trigger %s, %zu steps)\n", argv[i], f->name, f->trigger->name,
                       f->n_steps);
            if (st)
                warn_unreachable(st, argv[i], f);
        }
        flow_free(f);
        free(d);
    }
    store_close(st);
    expr_ctx_free(ectx);
    return bad ? CLI_FAIL : CLI_OK;
}

static json_t *load_json_file(const char *path, struct idf_err *err)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    char chunk[8192];
    size_t n;
    json_error_t je;
    json_t *v = NULL;

    buf_init(&b, BUF_CAP_EVENT);
    if (!f) {
        idf_err_set(err, IDF_ENOTFOUND, "cannot open '%s'", path);
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_append(&b, chunk, n)) {
            idf_err_set(err, IDF_ETOOBIG, "%s: larger than %u bytes", path, BUF_CAP_EVENT);
            goto out;
        }
    }
    v = json_loadb(b.data ? b.data : "", b.len, 0, &je);
    if (!v)
        idf_err_set(err, IDF_EPARSE, "%s:%d:%d: malformed JSON: %s", path, je.line, je.column, je.text);
    else if (!json_is_object(v)) {
        idf_err_set(err, IDF_EINVAL, "%s: the event must be a JSON object", path);
        json_decref(v);
        v = NULL;
    }
out:
    fclose(f);
    buf_free(&b);
    return v;
}

#define RUN_MAX_INPUT_ARGS 100 /* --input options of one command */

/* (helper "inputs") The event's data for a workflow started by a caller:
 * the event file's "data" with each --input NAME=VALUE (inputs[0..n))
 * set over it, read by the declared input's type (a string when the
 * workflow declares none), then checked against the declaration with
 * defaults filled in (flow_inputs_apply), as POST /api/v1/events does.
 * Sets event's "data". 0, or CLI_USAGE after printing what is wrong. */
static int apply_inputs(const struct flow *f, json_t *event, char *const *inputs, size_t n)
{
    json_t *data = json_object_get(event, "data");
    json_t *checked = NULL;
    struct idf_err err;
    int rc = CLI_USAGE;

    idf_err_clear(&err);
    data = n && (!data || json_is_null(data)) ? json_object() : json_incref(data);
    if (n && (!data || !json_is_object(data))) {
        fprintf(stderr, "idflow run: --input needs the event's \"data\" to be an object\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(inputs[i], '=');
        const struct flow_input *in;
        char name[FLOW_MAX_INPUT_NAME + 1];
        json_t *v = NULL;
        if (!eq || eq == inputs[i] || (size_t)(eq - inputs[i]) > FLOW_MAX_INPUT_NAME) {
            fprintf(stderr, "idflow run: --input takes NAME=VALUE, not '%.100s'\n", inputs[i]);
            goto out;
        }
        snprintf(name, sizeof name, "%.*s", (int)(eq - inputs[i]), inputs[i]);
        in = flow_input_find(f, name);
        if (!in) {
            /* undeclared: text (flow_inputs_apply refuses it when the workflow declares inputs) */
            v = json_string(eq + 1);
        } else if (flow_input_from_text(in, eq + 1, &v, &err)) {
            fprintf(stderr, "idflow run: %s\n", err.msg);
            goto out;
        }
        if (!v || json_object_set_new(data, name, v)) {
            fprintf(stderr, "idflow run: out of memory\n");
            rc = CLI_FAIL;
            goto out;
        }
    }
    if (flow_inputs_apply(f, data, &checked, &err)) {
        fprintf(stderr, "idflow run: %s\n", err.msg);
        goto out;
    }
    if (checked && json_object_set_new(event, "data", checked)) {
        rc = CLI_FAIL;
        goto out;
    }
    rc = 0;
out:
    json_decref(data);
    return rc;
}

int cli_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"event", required_argument, NULL, 'e'},
        {"dry-run", no_argument, NULL, 'n'},
        {"db", required_argument, NULL, 'd'},
        {"input", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    char *inputs[RUN_MAX_INPUT_ARGS];
    size_t n_inputs = 0;
    const char *event_path = NULL, *db = NULL, *file;
    bool dry = false;
    char dbbuf[1100], owner[64];
    struct idf_err err;
    struct expr_ctx *ectx = NULL;
    struct flow *f = NULL;
    struct flow_diags *diags = NULL;
    struct store *st = NULL;
    struct http_client *http = NULL;
    struct seal_key *key = NULL;
    json_t *event = NULL;
    char *event_text = NULL;
    struct exec_env env;
    int c, rc = CLI_FAIL;
    int64_t version = 0, run_id = 0;
    bool created;

    memset(&env, 0, sizeof env);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e': event_path = optarg; break;
        case 'n': dry = true; break;
        case 'd': db = optarg; break;
        case 'i':
            if (n_inputs == RUN_MAX_INPUT_ARGS) {
                fprintf(stderr, "idflow run: more than %d --input options\n", RUN_MAX_INPUT_ARGS);
                goto usage;
            }
            inputs[n_inputs++] = optarg;
            break;
        default: goto usage;
        }
    }
    if (optind != argc - 1 || (!event_path && !n_inputs))
        goto usage;
    file = argv[optind];
    {
        /* expressions run in an evaluator child with the configured budgets, as in serve */
        struct cfg cfg;
        struct expr_limits lim = {0, 0};
        if (cfg_load(NULL, &cfg, &err) == 0) {
            lim.timeout_ms = cfg.expr_timeout_ms;
            lim.memory_mb = cfg.expr_memory_mb;
        }
        if (expr_ctx_new_isolated(&lim, &ectx) || !(diags = calloc(1, sizeof *diags)))
            goto oom;
    }
    if (flow_load_file(registry_default(), file, ectx, &f, diags)) {
        flow_diags_print(file, diags, stderr);
        goto out;
    }
    event = event_path ? load_json_file(event_path, &err) : json_object();
    if (!event) {
        fprintf(stderr, "idflow run: %s\n", event_path ? err.msg : "out of memory");
        goto out;
    }
    /* (helper "inputs") a caller's data meets the workflow's inputs */
    if (n_inputs && !f->trigger->takes_inputs) {
        fprintf(stderr, "idflow run: --input is for a workflow a caller starts (manual); %s is started by %s\n",
                f->name, f->trigger->name);
        rc = CLI_USAGE;
        goto out;
    }
    if (f->trigger->takes_inputs && (c = apply_inputs(f, event, inputs, n_inputs)) != 0) {
        rc = c;
        goto out;
    }
    if (!json_object_get(event, "type"))
        json_object_set_new(event, "type", json_string(f->trigger->name));
    if (!json_object_get(event, "source"))
        json_object_set_new(event, "source", json_string("cli"));
    event_text = json_dumps(event, JSON_COMPACT);
    if (!event_text)
        goto oom;

    if (store_open(dry ? "sqlite::memory:" : cli_db_url(db, dbbuf, sizeof dbbuf), &st, &err) ||
        store_workflow_save(st, f->name, f->source, f->hash, &version, &created, &err)) {
        fprintf(stderr, "idflow run: %s\n", err.msg);
        goto out;
    }
    {
        struct store_run_in rin = {f->name, version};
        struct store_ingest_item item;
        struct engine_subjects subj; /* issue 17: the event's, from the connector it names */
        char actor[96];
        int irc;
        memset(&item, 0, sizeof item);
        engine_subjects_init(&subj);
        cli_actor(actor, sizeof actor);
        if (engine_subjects_of_event(&subj, registry_default(), json_string_value(json_object_get(event, "source")),
                                     f->trigger->name, event)) {
            engine_subjects_clear(&subj);
            goto oom;
        }
        item.event.source = "cli";
        item.event.type = f->trigger->name;
        item.event.data = event_text;
        item.event.via = STORE_VIA_CLI;
        item.event.actor = actor;
        item.event.subjects = subj.n ? subj.v : NULL;
        item.event.n_subjects = subj.n;
        item.runs = &rin;
        item.n_runs = 1;
        item.run_ids = &run_id;
        irc = store_ingest(st, &item, 1, &err);
        engine_subjects_clear(&subj);
        if (irc) {
            fprintf(stderr, "idflow run: %s\n", err.msg);
            goto out;
        }
    }
    if (!dry) {
        /* the master key opens sealed connections; without one, actions that need a
         * connection fail with a clear error */
        const char *url = cli_db_url(db, dbbuf, sizeof dbbuf);
        if (cred_load_key(url, NULL, false, &key, NULL, &err) && err.code != IDF_ENOTFOUND) {
            fprintf(stderr, "idflow run: %s\n", err.msg);
            goto out;
        }
    }
    if (http_client_new(&http) || cred_cache_new(key, CRED_RECHECK_MS, &env.conns))
        goto oom;
    snprintf(owner, sizeof owner, "cli-%d", (int)getpid());
    env.store = st;
    env.expr = ectx;
    env.http = http;
    env.owner = owner;
    env.lease_ms = ENGINE_DEFAULT_LEASE_MS;
    env.dry_run = dry;
    env.trace = stdout;
    env.key = key;
    printf("%srun %lld of %s (version %lld)\n", dry ? "dry " : "", (long long)run_id, f->name, (long long)version);
    for (;;) {
        struct store_run *r = NULL;
        struct exec_outcome oc;
        enum engine_run_status status;
        int64_t now = time_now_ms();

        if (store_run_get(st, run_id, &r)) {
            fprintf(stderr, "idflow run: run %lld vanished\n", (long long)run_id);
            goto out;
        }
        if (engine_run_status_parse(r->status, &status)) {
            fprintf(stderr, "idflow run: run %lld has an unknown status\n", (long long)run_id);
            store_run_free(r);
            goto out;
        }
        if (status == ENGINE_RUN_WAITING && r->wake_at > now) {
            int64_t wait = r->wake_at - now;
            if (wait > RUN_MAX_FOREGROUND_WAIT_MS || r->wake_at == 0) {
                char ts[40];
                time_format_iso(r->wake_at, ts, sizeof ts);
                printf("run %lld is waiting (until %s at the latest); `idflow serve` continues it, "
                       "`idflow approve %lld` approves a pending approval\n",
                       (long long)run_id, ts, (long long)run_id);
                store_run_free(r);
                rc = CLI_OK;
                goto out;
            }
            store_run_free(r);
            usleep((useconds_t)(wait * 1000));
            continue;
        }
        if (status == ENGINE_RUN_HELD) {
            /* issue 19: a destructive step went over its connection's budget */
            printf("run %lld is held at a guardrail: `idflow release %lld` lets it go on (`idflow serve` then "
                   "continues it), `idflow release --reject %lld` fails it\n",
                   (long long)run_id, (long long)run_id, (long long)run_id);
            store_run_free(r);
            rc = CLI_OK;
            goto out;
        }
        if (engine_run_status_final(status)) {
            printf("run %lld %s%s%s\n", (long long)run_id, r->status, r->error ? ": " : "", r->error ? r->error : "");
            rc = status == ENGINE_RUN_SUCCEEDED ? CLI_OK : CLI_FAIL;
            store_run_free(r);
            goto out;
        }
        store_run_free(r);
        r = NULL;
        env.lease_renewed_at = time_now_ms();
        if (store_run_claim_id(st, run_id, owner, env.lease_renewed_at, env.lease_ms, &r, &err) || !r) {
            fprintf(stderr, "idflow run: could not claim run %lld: %s\n", (long long)run_id,
                    r ? err.msg : "another process holds it");
            goto out;
        }
        if (exec_run(&env, f, r, &oc, &err)) {
            fprintf(stderr, "idflow run: %s\n", err.msg);
            store_run_free(r);
            goto out;
        }
        store_run_free(r);
    }
usage:
    fprintf(stderr, "usage: idflow run FILE [--event EVENT.json] [--input NAME=VALUE]... [--dry-run] [--db URL]\n"
                    "       (--event, or --input for a workflow started by a caller)\n");
    rc = CLI_USAGE;
    goto out;
oom:
    fprintf(stderr, "idflow run: out of memory\n");
out:
    exec_env_release(&env);
    cred_cache_free(env.conns);
    seal_key_free(key);
    http_client_free(http);
    store_close(st);
    free(event_text);
    json_decref(event);
    flow_free(f);
    free(diags);
    expr_ctx_free(ectx);
    return rc;
}

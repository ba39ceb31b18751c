/* api.c — routes of `idflow serve` (see api.h and docs/api.md).
 *
 * Owns request parsing and JSON answers; leaves matching and durability to
 * the engine and persistence to the store. Called concurrently on the HTTP
 * server's threads; the per-thread store connection is thread.c's
 * (api__thread_store). Every error answer is {"error": message}. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_internal.h"
#include "api/render.h"
#include "api/runquery.h"
#include "core/timeutil.h"
#include "crypto/token.h"
#include "engine/engine.h"
#include "store/store.h"

#define API_MAX_ID_LEN 200 /* longest client-chosen event id */

static int status_for(int rc)
{
    switch (rc) {
    case IDF_ENOTFOUND: return 404;
    case IDF_EINVAL:
    case IDF_EPARSE: return 400;
    case IDF_ESTATE:
    case IDF_EEXIST: return 409;
    case IDF_ETOOBIG: return 413;
    case IDF_EBUSY: return 503;
    default: return 500;
    }
}

/* POST /api/v1/events {"workflow": NAME, "id": OPTIONAL, "data": {...}} */
static void post_event(struct api *a, const struct api__caller *who, const struct http_req *req,
                       struct http_resp *resp)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    const char *wf, *id = NULL;
    json_t *idv, *data = NULL;
    struct engine_event ev;
    struct engine_ack ack;
    struct idf_err err;
    char msg[400];
    json_t *out, *ids;

    if (!body) {
        snprintf(msg, sizeof msg, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        api__error(resp, 400, msg);
        return;
    }
    if (!json_is_object(body)) {
        api__error(resp, 400, "the body must be a JSON object {\"workflow\": NAME, \"id\": ID, \"data\": {...}}");
        goto out;
    }
    wf = json_string_value(json_object_get(body, "workflow"));
    if (!wf || !*wf) {
        api__error(resp, 400, "missing \"workflow\": the name of a workflow whose trigger is manual");
        goto out;
    }
    idv = json_object_get(body, "id");
    if (idv && !json_is_null(idv)) {
        if (!json_is_string(idv) || json_string_length(idv) == 0 || json_string_length(idv) > API_MAX_ID_LEN) {
            api__error(resp, 400, "\"id\" must be a non-empty string of at most 200 characters");
            goto out;
        }
        id = json_string_value(idv);
    }
    /* (helper "inputs") the data must fit the workflow's declared inputs */
    if (api__start_data(a, wf, json_object_get(body, "data"), &data, resp))
        goto out;
    memset(&ev, 0, sizeof ev);
    ev.source = "manual";
    ev.source_id = NULL;
    ev.type = "manual";
    ev.workflow = wf;
    ev.actor = who->actor;
    ev.via = STORE_VIA_API; /* issue 17: a run started through the API (the console too), by who->actor */
    ev.data = data ? data : json_null();
    /* a client id is scoped to the workflow it starts */
    {
        char sid[API_MAX_ID_LEN + 300];
        if (id) {
            snprintf(sid, sizeof sid, "%s:%s", wf, id);
            ev.source_id = sid;
        }
        if (engine_submit(a->engine, &ev, &ack, &err)) {
            api__error(resp, status_for(err.code), err.msg);
            goto out;
        }
    }
    ids = json_array();
    for (size_t i = 0; i < ack.n_runs; i++)
        json_array_append_new(ids, json_integer(ack.run_ids[i]));
    out = json_pack("{s:I,s:b,s:o}", "event_id", (json_int_t)ack.event_id, "duplicate", ack.duplicate, "run_ids", ids);
    http_resp_json(resp, ack.duplicate ? 200 : 202, out);
out:
    json_decref(data);
    json_decref(body);
}

/* A run became runnable (its transaction committed): tells the idle workers
 * of every node, this one's included, through the database (store_notify;
 * nothing on SQLite, where they find it by polling, as before). A failure
 * costs them one poll interval, and the answer stays what it was. */
static void wake_nodes(struct store *st)
{
    int rc = store_notify(st, STORE_CHANNEL_WORK);
    (void)rc;
}

static bool parse_id(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || (*end && *end != '/') || v <= 0)
        return false;
    *out = v;
    return true;
}

/* Issue 17 ("approvals-reruns"): adds the run's approvals with their
 * decisions, "rejected" and "rerun_as" to o (render_run_decisions). steps
 * are the run's (borrowed). -1 when the store or memory failed. */
static int add_decisions(struct store *st, const struct store_run *r, const struct store_step *steps, size_t n_steps,
                         json_t *o)
{
    struct store_approval *rows = NULL;
    size_t n = 0;
    int rc = store_run_approvals(st, r->id, &rows, &n);

    if (rc == 0)
        rc = render_run_decisions(o, r, steps, n_steps, rows, n);
    store_approval_list_free(rows, n);
    return rc;
}

/* POST /api/v1/runs/ID/rerun [{"force": true}] (issue 17, "approvals-reruns"):
 * 202 {run_id, rerun_of}; 409 when the run was re-run already ({error,
 * rerun_as}) or ended by a rejection, unless forced. */
static void rerun(struct store *st, const struct api__caller *who, const struct http_req *req,
                  struct http_resp *resp, int64_t id)
{
    json_t *b = NULL, *fv = NULL;
    struct idf_err err;
    int64_t nid = 0;
    int rc;

    if (req->body_len) {
        b = json_loadb(req->body, req->body_len, 0, NULL);
        if (!json_is_object(b)) {
            api__error(resp, 400, "the body must be a JSON object: {} or {\"force\": true}");
            goto out;
        }
        fv = json_object_get(b, "force");
        if (fv && !json_is_boolean(fv)) {
            api__error(resp, 400, "\"force\" must be true or false");
            goto out;
        }
    }
    idf_err_clear(&err);
    rc = store_run_rerun(st, id, time_now_ms(), who->actor, json_is_true(fv), &nid, &err);
    if (rc == 0) {
        wake_nodes(st); /* the new run is queued */
        http_resp_json(resp, 202, json_pack("{s:I,s:I}", "run_id", (json_int_t)nid, "rerun_of", (json_int_t)id));
    } else if (rc == IDF_EEXIST) {
        http_resp_json(resp, 409, json_pack("{s:s,s:I}", "error", err.msg, "rerun_as", (json_int_t)nid));
    } else {
        api__error(resp, status_for(rc), err.msg[0] ? err.msg : idf_strerror(rc));
    }
out:
    json_decref(b);
}

/* GET /api/v1/runs (history false) and GET /api/v1/history (true): the
 * filters of runquery.h from the query string; a bad one answers 400 naming
 * it (issue 17, "subjects"). */
static void runs_query(struct store *st, const struct http_req *req, struct http_resp *resp, bool history)
{
    struct runquery_in in = {
        .status = http_req_query(req, "status"),
        .workflow = http_req_query(req, "workflow"),
        .subject = http_req_query(req, "subject"),
        .source = http_req_query(req, "source"),
        .since = http_req_query(req, "since"),
        .until = http_req_query(req, "until"),
        .before = http_req_query(req, "before"),
        .limit = http_req_query(req, "limit"),
    };
    struct runquery *q = malloc(sizeof *q);
    struct idf_err err;
    json_t *out = NULL;
    int rc;

    idf_err_clear(&err);
    if (!q) {
        api__error(resp, 500, "out of memory");
        return;
    }
    if (history && !in.subject)
        rc = idf_err_set(&err, IDF_EINVAL, "missing subject: a login, an Okta id or a ticket number (#HF00000006)");
    else
        rc = runquery_parse(&in, "", q, &err);
    if (rc == 0)
        rc = history ? runquery_history_json(st, q, &out, &err) : runquery_list_json(st, q, &out, &err);
    free(q);
    if (rc) {
        api__error(resp, rc == IDF_EINVAL ? 400 : status_for(rc), err.msg[0] ? err.msg : idf_strerror(rc));
        return;
    }
    http_resp_json(resp, 200, out);
}

/* /api/v1/runs[/ID[/rerun|approve|reject|cancel]] */
static void runs_route(struct store *st, const struct api__caller *who, const struct http_req *req,
                       struct http_resp *resp, const char *rest)
{
    struct idf_err err;
    int64_t id = 0;
    const char *action;
    int rc;

    if (*rest == '\0') {
        if (strcmp(req->method, "GET") != 0) {
            api__error(resp, 405, "use GET");
            return;
        }
        runs_query(st, req, resp, false); /* issue 17: filters by subject, source, time; total */
        return;
    }
    if (*rest != '/' || !parse_id(rest + 1, &id)) {
        api__error(resp, 404, "no such run");
        return;
    }
    action = strchr(rest + 1, '/');
    if (!action) {
        struct store_run *r = NULL;
        struct store_step *steps = NULL;
        size_t n = 0;
        json_t *o;
        if (store_run_get(st, id, &r)) {
            api__error(resp, 404, "no such run");
            return;
        }
        o = render_run(r);
        if (o) { /* issue 17: whom and what the run concerns */
            struct store_run_subject *subj = NULL;
            size_t n_subj = 0;
            if (store_run_subjects(st, id, &subj, &n_subj) == 0)
                json_object_set_new(o, "subjects", render_run_subjects(subj, n_subj));
            store_run_subject_list_free(subj, n_subj);
        }
        if (o && store_step_list(st, id, &steps, &n) == 0)
            json_object_set_new(o, "steps", render_steps(steps, n));
        if (o && add_decisions(st, r, steps, n, o) != 0) { /* issue 17, "approvals-reruns" */
            json_decref(o);
            o = NULL;
        }
        store_step_list_free(steps, n);
        store_run_free(r);
        if (o)
            http_resp_json(resp, 200, o);
        else
            api__error(resp, 500, "could not read the run");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        api__error(resp, 405, "use POST");
        return;
    }
    idf_err_clear(&err);
    if (strcmp(action, "/rerun") == 0) {
        rerun(st, who, req, resp, id);
        return;
    } else if (strcmp(action, "/cancel") == 0) {
        json_t *b = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
        const char *reason = json_string_value(json_object_get(b, "reason"));
        char why[400];
        snprintf(why, sizeof why, "cancelled by %s%s%.300s", who->actor, reason ? ": " : "", reason ? reason : "");
        bool pending = false;
        json_decref(b);
        rc = store_run_stop(st, id, why, time_now_ms(), who->actor, &pending, &err);
        if (rc == 0) {
            http_resp_json(resp, 200, json_pack("{s:I,s:s}", "run_id", (json_int_t)id, "status",
                                                pending ? "cancelling" : "cancelled"));
            return;
        }
    } else if (strcmp(action, "/approve") == 0 || strcmp(action, "/reject") == 0 || strcmp(action, "/release") == 0) {
        /* /release (issue 19, admin only: api/auth.c): a guardrail hold, released or with
         * {"reject": true} rejected; /approve and /reject: an approval step */
        bool hold = strcmp(action, "/release") == 0;
        bool ok = strcmp(action, "/approve") == 0;
        json_t *b = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
        const char *comment = json_string_value(json_object_get(b, "comment"));
        const char *claimed = json_string_value(json_object_get(b, "actor"));
        char actor[sizeof who->actor + 80];
        if (hold)
            ok = !json_is_true(json_object_get(b, "reject"));
        /* The decider is the caller: with a token, a name in the body is not
         * evidence and is ignored. Without one (a fresh install on loopback)
         * there is no identity, so the claimed name is kept, marked local. */
        if (strcmp(who->actor, "local") == 0 && claimed && *claimed && strlen(claimed) <= 64)
            snprintf(actor, sizeof actor, "local:%s", claimed);
        else
            snprintf(actor, sizeof actor, "%s", who->actor);
        rc = hold ? store_guard_decide(st, id, ok, actor, comment, time_now_ms(), &err)
                  : store_approval_decide(st, id, ok, actor, comment, time_now_ms(), &err);
        json_decref(b);
        if (rc == 0) {
            wake_nodes(st); /* the run is queued again */
            http_resp_json(resp, 200,
                           json_pack("{s:I,s:s}", "run_id", (json_int_t)id, "decision",
                                     hold ? (ok ? "released" : "rejected")
                                     : ok ? "approved"
                                          : "rejected"));
            return;
        }
    } else {
        api__error(resp, 404, "unknown run action");
        return;
    }
    api__error(resp, status_for(rc), err.msg[0] ? err.msg : idf_strerror(rc));
}

static void metrics(struct api *a, struct store *st, struct http_resp *resp)
{
    char *m = engine_metrics(a->engine);
    struct store_run_counts c;
    struct buf b;
    buf_init(&b, BUF_CAP_SMALL);
    if (m && buf_puts(&b, m) == 0 && store_run_counts(st, &c) == 0) {
        const struct {
            const char *status;
            int64_t n;
        } by[] = {{STORE_RUN_QUEUED, c.queued},   {STORE_RUN_RUNNING, c.running},
                  {STORE_RUN_WAITING, c.waiting}, {STORE_RUN_SUCCEEDED, c.succeeded},
                  {STORE_RUN_FAILED, c.failed},   {STORE_RUN_CANCELLED, c.cancelled},
                  {STORE_RUN_HELD, c.held}};
        int rc = buf_puts(&b, "# HELP idflow_runs Runs in the store, by status.\n# TYPE idflow_runs gauge\n");
        for (size_t i = 0; rc == 0 && i < sizeof by / sizeof by[0]; i++)
            rc = buf_printf(&b, "idflow_runs{status=\"%s\"} %" PRId64 "\n", by[i].status, by[i].n);
    }
    http_resp_text(resp, 200, "text/plain; version=0.0.4", b.data ? b.data : "");
    buf_free(&b);
    free(m);
}

/* Everything under /api/v1/ and /metrics, once the caller is let in. */
static void api_route(struct api *a, struct store *st, const struct api__caller *who, const struct http_req *req,
                      struct http_resp *resp)
{
    const char *p = req->path;

    if (strcmp(p, "/metrics") == 0) {
        metrics(a, st, resp);
    } else if (strcmp(p, "/api/v1/events") == 0) {
        if (strcmp(req->method, "POST") != 0)
            api__error(resp, 405, "use POST");
        else
            post_event(a, who, req, resp);
    } else if (strncmp(p, "/api/v1/runs", 12) == 0) {
        runs_route(st, who, req, resp, p + 12);
    } else if (strcmp(p, "/api/v1/history") == 0) { /* issue 17: a person's or a ticket's timeline */
        if (strcmp(req->method, "GET") != 0)
            api__error(resp, 405, "use GET");
        else
            runs_query(st, req, resp, true);
    } else if (strncmp(p, "/api/v1/tokens", 14) == 0) {
        api__tokens_route(a, st, who, req, resp, p + 14);
    } else if (strcmp(p, "/api/v1/me") == 0) {
        http_resp_json(resp, 200, json_pack("{s:s,s:s}", "actor", who->actor, "role", token_role_name(who->role)));
    } else if (strcmp(p, "/api/v1/audit") == 0) {
        const char *lim = http_req_query(req, "limit");
        struct store_audit *rows = NULL;
        size_t n = 0;
        if (store_audit_list(st, lim ? atoi(lim) : 100, &rows, &n))
            api__error(resp, 500, "could not list the audit log");
        else
            http_resp_json(resp, 200, json_pack("{s:o}", "audit", render_audit(rows, n)));
        store_audit_list_free(rows, n);
    } else if (strcmp(p, "/api/v1/connectors") == 0) {
        api__connectors(resp);
    } else if (strcmp(p, "/api/v1/connections") == 0 || strncmp(p, "/api/v1/connections/", 20) == 0) {
        api__connections_route(a, st, who, req, resp, p + 19);
    } else if (strncmp(p, "/api/v1/workflows/", 18) == 0) {
        api__workflows_route(a, st, resp, p + 18);
    } else if (strcmp(p, "/api/v1/workflows") == 0) {
        api__workflows_route(a, st, resp, NULL);
    } else if (strcmp(p, "/api/v1/approvals") == 0) {
        struct store_approval *rows = NULL;
        size_t n = 0;
        if (store_approval_list(st, &rows, &n))
            api__error(resp, 500, "could not list approvals");
        else
            http_resp_json(resp, 200, json_pack("{s:o}", "approvals", render_approvals(rows, n)));
        store_approval_list_free(rows, n);
    } else {
        api__error(resp, 404, "not found");
    }
}

void api_handle(void *ud, const struct http_req *req, struct http_resp *resp)
{
    struct api *a = ud;
    const char *p = req->path;
    struct api__caller who;
    struct idf_err err;
    struct store *st;

    if (strcmp(p, "/healthz") == 0) {
        http_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(p, "/readyz") == 0) {
        bool ready = engine_ready(a->engine);
        http_resp_json(resp, ready ? 200 : 503, json_pack("{s:s}", "status", ready ? "ready" : "starting"));
    } else if (strncmp(p, API_HOOKS_PREFIX, strlen(API_HOOKS_PREFIX)) == 0) {
        api__hooks_route(a, req, resp, p + strlen(API_HOOKS_PREFIX));
    } else if (api__guard_host(a, req, resp) != 0) {
        /* answered 421: a name this server does not go by (DNS rebinding) */
    } else if (strcmp(p, "/metrics") == 0 || strncmp(p, "/api/", 5) == 0) {
        enum token_role need = TOKEN_VIEWER;
        int found = api__route_find(req->method, p, &need);
        if (api__guard_write(a, req, resp) != 0)
            return;
        st = api__thread_store(a, &err);
        if (!st)
            api__error(resp, 503, "the store is not available");
        else if (api__authorize(a, st, req, need, &who, resp) != 0)
            return; /* answered 401/403/503 */
        else if (found == 405)
            api__error(resp, 405, "this method is not allowed here (docs/api.md lists the routes)");
        else if (found == 404)
            api__error(resp, 404, "not found");
        else
            api_route(a, st, &who, req, resp);
    } else if (strcmp(p, "/") == 0 || strncmp(p, "/ui/", 4) == 0) {
        api__ui_route(a, req, resp);
    } else {
        api__error(resp, 404, "not found");
    }
}

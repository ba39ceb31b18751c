/* exec_foreach.c — the foreach part of a step: its list evaluated once and
 * its items stored, the current item read back, and the end, where the
 * items' outputs become steps.<id>. The visit of each item is exec_step.c's.
 *
 * A foreach step's items and outputs are not in the context (each item's
 * commit would rewrite them all: O(N^2) bytes for N items). When the step
 * begins, its items are stored once (store_foreach_begin) and the context
 * gets only the marker foreach.<id> = {"n": N}; each item is read back from
 * the store when it runs, and its commit saves what it adds to the outputs
 * array (store_step_rec.result: the unredacted output, unlike the history
 * record) beside it. When item == N the outputs array is read back
 * (store_foreach_outputs), becomes steps.<id>, and the commit that records it
 * deletes the stored items (store_run_next.foreach_clear). A context written
 * by an older idflow, with foreach.<id> = {"items", "outputs"}, is moved to
 * the store the first time the step runs again.
 *
 * Called on worker threads (and by `idflow run`); uses only the env given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/exec_internal.h"
#include "engine/status.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "store/store.h"

#define EXEC_MAX_FOREACH_ITEMS STORE_FOREACH_MAX /* items of one foreach step */

/* Stores the items of foreach step s and, for a context written by an older
 * idflow, the outputs its first items produced, then commits the run with
 * the step's marker foreach.<id> = {"n": N}, in one transaction. With no
 * items only the marker is set (nothing to store). */
static int foreach_begin(struct exec_state *st, const struct flow_step *s, const json_t *items, const json_t *outputs,
                         struct idf_err *err)
{
    size_t n = json_array_size(items), n_res = json_array_size(outputs);
    struct store_run_next next;
    char **texts = NULL, *ctx_text = NULL;
    int rc = 0;

    json_object_set_new(json_object_get(st->ctx, "foreach"), s->id, json_pack("{s:I}", "n", (json_int_t)n));
    if (n == 0)
        return 0;
    if (n_res > n)
        n_res = n;
    texts = calloc(n + n_res, sizeof *texts);
    if (!texts)
        return idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
    for (size_t i = 0; i < n + n_res; i++) {
        texts[i] = exec__dump_state(st, i < n ? json_array_get(items, i) : json_array_get(outputs, i - n), false);
        if (!texts[i]) {
            rc = idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
            goto out;
        }
    }
    ctx_text = exec__dump_state(st, st->ctx, false);
    if (!ctx_text) {
        rc = idf_err_set(err, IDF_ENOMEM, "run %lld: out of memory", (long long)st->run->id);
        goto out;
    }
    exec__next_state(st, ENGINE_RUN_RUNNING, ctx_text, &next);
    rc = store_foreach_begin(st->env->store, st->run->id, st->env->owner, time_now_ms(), (int)(s - st->f->steps),
                             (const char *const *)texts, n, (const char *const *)(texts + n), n_res, &next, err);
out:
    for (size_t i = 0; texts && i < n + n_res; i++)
        free(texts[i]);
    free(texts);
    free(ctx_text);
    return rc;
}


/* After the last item: the stored results become steps.<id> (the outputs
 * array), and the commit that records it deletes the stored items. */
static int foreach_finish(struct exec_state *st, const struct flow_step *s, struct idf_err *err)
{
    char *text = NULL;
    json_t *outputs = NULL;
    int rc = store_foreach_outputs(st->env->store, st->run->id, (int)(s - st->f->steps), &text);

    if (rc == IDF_ETOOBIG)
        return exec__finish(st, s,
                            &(struct step_outcome){.kind = OUTCOME_FAILED, .item = -1,
                                                   .message = "foreach: the outputs of its items are larger than a run "
                                                              "may hold (16 MiB)"},
                            err);
    if (rc)
        return idf_err_set(err, rc, "run %lld: cannot read the outputs of foreach step '%s'", (long long)st->run->id,
                           s->id);
    outputs = engine__secrets_open(json_loads(text, 0, NULL), st->env->key, st->run->id, false);
    free(text);
    if (!outputs)
        return idf_err_set(err, IDF_EDB, "run %lld: the stored outputs of foreach step '%s' do not parse",
                           (long long)st->run->id, s->id);
    json_object_set_new(json_object_get(st->ctx, "steps"), s->id, outputs);
    json_object_del(json_object_get(st->ctx, "foreach"), s->id);
    st->foreach_clear = true;
    st->pc++;
    st->item = 0;
    st->attempt = 0;
    exec__trace(st, s, -1, "done", NULL);
    return exec__finish(st, NULL, &(struct step_outcome){.kind = OUTCOME_RUN, .item = -1, .run = ENGINE_RUN_RUNNING},
                        err);
}

/* The first visit of foreach step s: its list is evaluated (once) and its
 * items stored. A list that fails, is not an array or is too long fails
 * the step (*done). */
static int foreach_start(struct exec_state *st, const struct flow_step *s, bool *done, struct idf_err *err)
{
    json_t *tmpl = json_string(s->foreach_expr);
    json_t *input = exec__jq_input(st, NULL, NULL);
    json_t *items = NULL;
    struct idf_err e2;
    char msg[EXPR_MSG_MAX];
    int rc;

    idf_err_clear(&e2);
    rc = expr_render(st->env->expr, tmpl, input, &items, &e2);
    json_decref(tmpl);
    json_decref(input);
    if (rc || !json_is_array(items) || json_array_size(items) > EXEC_MAX_FOREACH_ITEMS) {
        if (rc)
            exec__expr_failure(msg, st, s->foreach_at, "foreach", e2.msg);
        else if (!json_is_array(items))
            snprintf(msg, sizeof msg, "foreach: the expression must give an array");
        else
            snprintf(msg, sizeof msg, "foreach: %zu items, more than the %d a step may have", json_array_size(items),
                     EXEC_MAX_FOREACH_ITEMS);
        json_decref(items);
        *done = true;
        return exec__finish(st, s, &(struct step_outcome){.kind = OUTCOME_FAILED, .item = -1, .message = msg}, err);
    }
    rc = foreach_begin(st, s, items, NULL, err);
    json_decref(items);
    return rc;
}

/* The foreach part of a step: begins it (the list is evaluated once), or
 * ends it after the last item, or reads the current item from the store.
 * *done is set when the step's visit is over (begun and failed, or ended);
 * otherwise *item_out and *item_v_out (new reference) are the item to run. */
int exec__foreach_current(struct exec_state *st, const struct flow_step *s, int *item_out, json_t **item_v_out,
                          bool *done, struct idf_err *err)
{
    json_t *foreach = json_object_get(st->ctx, "foreach");
    json_t *fe = json_object_get(foreach, s->id);
    char *text = NULL;
    char msg[EXPR_MSG_MAX];
    int rc = 0;

    if (fe && json_is_array(json_object_get(fe, "items"))) {
        /* a context from before foreach state was stored apart */
        json_t *old = json_incref(fe);
        rc = foreach_begin(st, s, json_object_get(old, "items"), json_object_get(old, "outputs"), err);
        json_decref(old);
        if (rc)
            return rc;
        fe = json_object_get(foreach, s->id);
    }
    if (!fe) {
        rc = foreach_start(st, s, done, err);
        if (rc || *done)
            return rc;
        fe = json_object_get(foreach, s->id);
    }
    if (st->item >= json_integer_value(json_object_get(fe, "n"))) {
        *done = true;
        return foreach_finish(st, s, err);
    }
    *item_out = st->item;
    rc = store_foreach_item(st->env->store, st->run->id, (int)(s - st->f->steps), st->item, &text);
    if (rc && rc != IDF_ENOTFOUND)
        return idf_err_set(err, rc, "run %lld: cannot read item %d of foreach step '%s'", (long long)st->run->id,
                           st->item, s->id);
    *item_v_out = text ? engine__secrets_open(json_loads(text, JSON_DECODE_ANY, NULL), st->env->key, st->run->id, false)
                       : NULL;
    free(text);
    if (!*item_v_out) {
        snprintf(msg, sizeof msg, "foreach: item %d is %s", st->item, rc ? "not stored" : "not valid JSON");
        *done = true;
        return exec__finish(st, s, &(struct step_outcome){.kind = OUTCOME_FAILED, .item = st->item, .message = msg},
                            err);
    }
    return 0;
}

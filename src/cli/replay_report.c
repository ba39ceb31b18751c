/* replay_report.c — `idflow replay`'s comparison and report (issue 19):
 * what the edited workflow would call against what the stored version
 * called for the same event, and the report as text or JSON (the document's
 * shape: replay.h).
 *
 * The rule of the exit code ("a destructive call the stored version did not
 * make"), also in docs/operations.md: an edited call is NEW DESTRUCTIVE when
 * its effect (conn_action_effect, recorded by the dry run) is destructive
 * and no call of the stored run(s) of the same event has the same action,
 * a destructive effect too, and the same value for every parameter the
 * action's descriptor marks required (its target: the user, the group, the
 * app, okta.request's path); optional parameters (send_email, a reason)
 * do not make a call new. No action is known by name. Both sides' params are
 * the step records' inputs, redacted the same way. The added / removed
 * lists are plainer: a call (action and every parameter) one side makes and
 * the other does not, foreach order ignored. Main thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/replay.h"
#include "connectors/connector.h"
#include "connectors/registry.h"

#define REPLAY_PARAMS_SHOWN 300 /* bytes of a call's params a text line shows */

/* ------------------------------------------------------------ comparing */

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The same call: the action and every parameter. */
static bool same_call(const json_t *a, const json_t *b)
{
    return !strcmp(str(a, "action"), str(b, "action")) &&
           json_equal(json_object_get(a, "params"), json_object_get(b, "params"));
}

/* The same destructive target: the action, a destructive effect on both
 * sides, and every required parameter equal (all of them for an action
 * this binary does not know). */
static bool same_target(const json_t *edited, const json_t *stored)
{
    const char *action = str(edited, "action");
    const struct conn_action *a = registry_find_action(registry_default(), action);
    const json_t *pe = json_object_get(edited, "params"), *ps = json_object_get(stored, "params");

    if (strcmp(action, str(stored, "action")) != 0 || strcmp(str(stored, "effect"), "destructive") != 0)
        return false;
    if (!a || !a->params)
        return json_equal(pe, ps);
    for (const struct conn_param *p = a->params; p->name; p++)
        if (p->required && !json_equal(json_object_get(pe, p->name), json_object_get(ps, p->name)))
            return false;
    return true;
}

static bool any(const json_t *calls, const json_t *c, bool (*eq)(const json_t *, const json_t *))
{
    size_t i;
    json_t *x;
    json_array_foreach (calls, i, x)
        if (eq(c, x))
            return true;
    return false;
}

/* same_call with the arguments swapped (for the removed list). */
static bool same_call_r(const json_t *a, const json_t *b)
{
    return same_call(b, a);
}

int replay__compare(json_t *event)
{
    json_t *edited = json_object_get(json_object_get(event, "edited"), "calls");
    json_t *stored = json_array(), *added = json_array(), *removed = json_array(), *fresh = json_array();
    json_t *run, *c;
    size_t i, j;
    int rc = IDF_ENOMEM;

    if (!stored || !added || !removed || !fresh)
        goto out;
    json_array_foreach (json_object_get(event, "stored"), i, run)
        json_array_foreach (json_object_get(run, "calls"), j, c)
            if (!any(stored, c, same_call)) /* a re-run's reused records: once */
                json_array_append(stored, c);
    json_array_foreach (edited, i, c) {
        if (!any(stored, c, same_call))
            json_array_append(added, c);
        if (!strcmp(str(c, "effect"), "destructive") && !any(stored, c, same_target))
            json_array_append(fresh, c);
    }
    json_array_foreach (stored, i, c)
        if (!edited || !any(edited, c, same_call_r))
            json_array_append(removed, c);
    if (json_object_set(event, "added", added) || json_object_set(event, "removed", removed) ||
        json_object_set(event, "new_destructive", fresh) ||
        json_object_set_new(event, "destructive_new", json_boolean(json_array_size(fresh) > 0)))
        goto out;
    rc = 0;
out:
    json_decref(stored);
    json_decref(added);
    json_decref(removed);
    json_decref(fresh);
    return rc;
}

int replay__summarize(json_t *doc)
{
    json_int_t starts = 0, stored = 0, ev_new = 0, calls_new = 0, differ = 0;
    json_t *e, *summary;
    size_t i;

    json_array_foreach (json_object_get(doc, "events"), i, e) {
        size_t n = json_array_size(json_object_get(e, "new_destructive"));
        starts += json_is_true(json_object_get(e, "would_start"));
        stored += json_array_size(json_object_get(e, "stored")) > 0;
        ev_new += n > 0;
        calls_new += (json_int_t)n;
        differ += json_array_size(json_object_get(e, "added")) + json_array_size(json_object_get(e, "removed")) > 0;
    }
    summary = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "events", (json_int_t)json_array_size(json_object_get(doc, "events")),
        "would_start", starts, "stored_started", stored, "events_differing", differ, "events_destructive_new", ev_new,
        "new_destructive_calls", calls_new, "other_events", json_integer_value(json_object_get(doc, "other_events")));
    if (!summary || json_object_set_new(doc, "summary", summary) ||
        json_object_set_new(doc, "destructive_new", json_boolean(ev_new > 0)))
        return IDF_ENOMEM;
    return 0;
}

/* -------------------------------------------------------------- printing */

void replay__print_json(const json_t *doc, FILE *out)
{
    char *s = json_dumps(doc, JSON_INDENT(2));
    fputs(s ? s : "{}", out);
    fputc('\n', out);
    free(s);
}

/* "step" or "step[item]" into buf. */
static const char *step_label(const json_t *c, char *buf, size_t n)
{
    json_int_t item = json_integer_value(json_object_get(c, "item"));
    if (item >= 0)
        snprintf(buf, n, "%s[%lld]", str(c, "step"), (long long)item);
    else
        snprintf(buf, n, "%s", str(c, "step"));
    return buf;
}

static void print_call(FILE *out, const char *indent, const json_t *c, const char *tail)
{
    char *p = json_dumps(json_object_get(c, "params"), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char label[300];

    if (p && strlen(p) > REPLAY_PARAMS_SHOWN)
        strcpy(p + REPLAY_PARAMS_SHOWN - 3, "...");
    fprintf(out, "%s%-22s %-26s %-11s %s%s\n", indent, step_label(c, label, sizeof label), str(c, "action"),
            str(c, "effect"), p ? p : "{}", tail);
    free(p);
}

static void print_calls(FILE *out, const json_t *calls)
{
    size_t i;
    json_t *c;
    if (json_array_size(calls) == 0)
        fprintf(out, "      (no call)\n");
    json_array_foreach (calls, i, c)
        print_call(out, "      ", c, "");
}

static void print_event(FILE *out, const json_t *e)
{
    const json_t *edited = json_object_get(e, "edited"), *runs = json_object_get(e, "stored"), *run, *c;
    char when[40];
    size_t i;

    cli_fmt_time(json_integer_value(json_object_get(e, "received_at")), when, sizeof when);
    fprintf(out, "\nevent %lld  %s from %s%s%s  received %s\n",
            (long long)json_integer_value(json_object_get(e, "event")), str(e, "type"), str(e, "source"),
            str(e, "connection") ? "/" : "", str(e, "connection") ? str(e, "connection") : "", when);
    if (json_is_object(edited)) {
        fprintf(out, "  edited:  would start; dry run %s%s%s, %zu call(s)\n", str(edited, "status"),
                str(edited, "error") ? ": " : "", str(edited, "error") ? str(edited, "error") : "",
                json_array_size(json_object_get(edited, "calls")));
        print_calls(out, json_object_get(edited, "calls"));
    } else {
        fprintf(out, "  edited:  would NOT start (%s)%s%s\n", str(e, "reason"), str(e, "why") ? ": " : "",
                str(e, "why") ? str(e, "why") : "");
    }
    if (json_array_size(runs) == 0)
        fprintf(out, "  stored:  no run of this workflow for this event\n");
    json_array_foreach (runs, i, run) {
        fprintf(out, "  stored:  run %lld (version %lld) %s%s%s, %zu call(s)%s%s\n",
                (long long)json_integer_value(json_object_get(run, "run")),
                (long long)json_integer_value(json_object_get(run, "version")), str(run, "status"),
                str(run, "error") ? ": " : "", str(run, "error") ? str(run, "error") : "",
                json_array_size(json_object_get(run, "calls")), str(run, "unreadable") ? "; its steps unknown: " : "",
                str(run, "unreadable") ? str(run, "unreadable") : "");
        print_calls(out, json_object_get(run, "calls"));
    }
    if (json_array_size(json_object_get(e, "added")) + json_array_size(json_object_get(e, "removed")) == 0) {
        fprintf(out, "  differences: none\n");
    } else {
        fprintf(out, "  differences:\n");
        json_array_foreach (json_object_get(e, "added"), i, c)
            print_call(out, "    + ", c,
                       any(json_object_get(e, "new_destructive"), c, same_call) ? "   NEW DESTRUCTIVE" : "");
        json_array_foreach (json_object_get(e, "removed"), i, c)
            print_call(out, "    - ", c, "");
    }
    /* a new destructive call whose target the stored version touched with other options is not in
     * "added" twice, and one whose params are equal but effect differed is named here */
    json_array_foreach (json_object_get(e, "new_destructive"), i, c)
        if (!any(json_object_get(e, "added"), c, same_call))
            print_call(out, "    ! ", c, "   NEW DESTRUCTIVE");
}

void replay__print_text(const json_t *doc, FILE *out)
{
    const json_t *sum = json_object_get(doc, "summary"), *e;
    char since[40];
    size_t i;
    long long news = json_integer_value(json_object_get(sum, "new_destructive_calls"));

    cli_fmt_time(json_integer_value(json_object_get(doc, "since")), since, sizeof since);
    fprintf(out, "replay of workflow %s as edited in %s, over the events recorded since %s in %s\n",
            str(doc, "workflow"), str(doc, "file"), since, str(doc, "database"));
    fprintf(out, "(edited: what it would call, dry run: nothing was called; stored: what the stored version's runs "
                 "called)\n");
    json_array_foreach (json_object_get(doc, "events"), i, e)
        print_event(out, e);
    if (json_integer_value(json_object_get(doc, "deliveries_pending")))
        fprintf(out, "\n%lld deliveries are still waiting to be expanded into events: not replayed\n",
                (long long)json_integer_value(json_object_get(doc, "deliveries_pending")));
    fprintf(out,
            "\nsummary: %lld event(s) replayed (%lld other event(s) start neither version); the edited version "
            "would start %lld, the stored version started %lld; %lld differ; ",
            (long long)json_integer_value(json_object_get(sum, "events")),
            (long long)json_integer_value(json_object_get(sum, "other_events")),
            (long long)json_integer_value(json_object_get(sum, "would_start")),
            (long long)json_integer_value(json_object_get(sum, "stored_started")),
            (long long)json_integer_value(json_object_get(sum, "events_differing")));
    if (news)
        fprintf(out, "%lld NEW DESTRUCTIVE call(s) in %lld event(s) (exit %d)\n", news,
                (long long)json_integer_value(json_object_get(sum, "events_destructive_new")), CLI_REPLAY_DESTRUCTIVE);
    else
        fprintf(out, "no new destructive call\n");
}

/* happyfox/actions.c — POST /ticket/<n>/<action>/ of the emulated HappyFox
 * account (staff_update, staff_pvtnote, user_reply, update_tags,
 * update_custom_fields) and the outgoing webhook that stands in for a Smart
 * Rule: "ticket_created", "ticket_updated" and "ticket_status_changed".
 *
 * The validation and history rules live in happyfox/updates.c; this file
 * reads request bodies, answers, and queues webhooks. Called with sb->lock
 * held; webhooks are handed to the delivery thread (sbx__deliver_enqueue),
 * never sent from here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "sandbox/happyfox/internal.h"

/* ------------------------------------------------------------- webhook */

static bool event_wanted(const struct sbhf_account *h, const char *event)
{
    size_t i;
    json_t *e;

    if (!h->wh_events)
        return true;
    json_array_foreach (h->wh_events, i, e) {
        if (json_is_string(e) && strcmp(json_string_value(e), event) == 0)
            return true;
    }
    return false;
}

void sbhf__webhook_emit(struct sandbox *sb, const struct sbhf_ticket *t, const char *event, const json_t *extra)
{
    struct sbhf_account *h = sb->hf;
    const json_t *o = t->obj, *ups = json_object_get(o, "updates");
    const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
    struct sbx_outgoing out;
    json_t *body;
    char *text;

    if (!h || !h->wh_url || !event_wanted(h, event))
        return;
    body = json_pack("{s:s,s:O,s:O,s:O,s:o,s:o,s:O,s:o}", "event", event, "ticket_id", json_object_get(o, "id"),
                     "display_id", json_object_get(o, "display_id"), "subject", json_object_get(o, "subject"), "status",
                     sbhf__status_brief(json_object_get(o, "status")), "category",
                     json_pack("{s:O,s:O}", "id", json_object_get(json_object_get(o, "category"), "id"), "name",
                               json_object_get(json_object_get(o, "category"), "name")),
                     "update_id", json_object_get(json_array_get(ups, json_array_size(ups) - 1), "update_id"),
                     "timestamp", sbhf__time(time_now_ms()));
    if (!body)
        return;
    if (extra)
        json_object_update(body, (json_t *)extra);
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return;
    headers[1] = h->wh_header;
    memset(&out, 0, sizeof out);
    out.method = "POST";
    out.url = h->wh_url;
    out.headers = headers;
    out.body = text;
    out.timeout_ms = SBHF_WEBHOOK_TIMEOUT_MS;
    out.retries_on_5xx = 0;
    sbx__deliver_enqueue(sb, &out);
    h->wh_queued++;
    free(text);
}

static void emit_change(struct sandbox *sb, const struct sbhf_ticket *t, const char *kind,
                        const struct sbhf_change *chg)
{
    json_t *extra = json_pack("{s:s,s:b}", "update_type", kind, "private",
                              json_is_string(json_object_get(json_object_get(chg->update, "message"), "message_type")));

    sbhf__webhook_emit(sb, t, "ticket_updated", extra);
    json_decref(extra);
    if (chg->status_changed) {
        extra = json_pack("{s:o}", "previous_status", sbhf__status_brief(chg->old_status));
        sbhf__webhook_emit(sb, t, "ticket_status_changed", extra);
        json_decref(extra);
    }
}

/* ------------------------------------------------------------- actions */

static void user_reply(struct sbhf_account *h, struct sbhf_ticket *t, const json_t *in, struct sbhf_verr *v,
                       struct sbhf_change *chg)
{
    const char *text = NULL, *html = NULL;
    int64_t id, now = time_now_ms();
    json_t *c = NULL, *upd;
    int r = sbhf__get_id(in, "user", &id, v);

    if (r == 0)
        sbhf__verr_add(v, "user", "This field is required");
    if (r == 1 && !(c = sbhf__find(h->contacts, id)))
        sbhf__verr_add(v, "user", "No contact with id %lld", (long long)id);
    sbhf__get_str(in, "text", SBHF_MESSAGE_MAX, &text, v);
    sbhf__get_str(in, "html", SBHF_MESSAGE_MAX, &html, v);
    if (!text && !html && !sbhf__verr_any(v))
        sbhf__verr_add(v, "text", "This field is required");
    if (sbhf__verr_any(v))
        return;
    upd =
        json_pack("{s:{s:O,s:O,s:O,s:s},s:o}", "by", "id", json_object_get(c, "id"), "name", json_object_get(c, "name"),
                  "email", json_object_get(c, "email"), "type", "user", "message", sbhf__message(text, html, NULL));
    t->updated_ms = now;
    t->upd_seq = h->change_seq + 1;
    json_object_set_new(t->obj, "unresponded", json_true());
    json_object_set_new(t->obj, "last_user_reply_at", sbhf__time(now));
    json_object_set_new(t->obj, "last_updated_at", sbhf__time(now));
    chg->update = sbhf__update_append(h, t, upd);
}

static void update_tags(struct sbhf_account *h, struct sbhf_ticket *t, const json_t *in, struct sbhf_verr *v,
                        struct sbhf_change *chg)
{
    json_t *add = NULL, *remove = NULL, *staff = NULL, *tc, *upd;
    const char *key = json_object_get(in, "staff_id") ? "staff_id" : "staff";

    sbhf__get_list(in, "add", &add, v);
    sbhf__get_list(in, "remove", &remove, v);
    staff = sbhf__read_staff(h, in, key, false, v);
    if (!json_array_size(add) && !json_array_size(remove) && !sbhf__verr_any(v))
        sbhf__verr_add(v, "add", "Give tags to add or remove (comma-separated)");
    if (json_array_size(add) > SBHF_TAGS_MAX)
        sbhf__verr_add(v, "add", "at most %d tags", SBHF_TAGS_MAX);
    if (!sbhf__verr_any(v) && (tc = sbhf__retag(json_object_get(t->obj, "tags"), add, remove))) {
        upd = json_pack("{s:o,s:o}", "by", staff ? sbhf__by_staff(staff) : json_null(), "tags_change", tc);
        chg->update = sbhf__update_append(h, t, upd);
    }
    json_decref(add);
    json_decref(remove);
}

static void update_cfs(struct sbhf_account *h, struct sbhf_ticket *t, const json_t *in, struct sbhf_verr *v,
                       struct sbhf_change *chg)
{
    int64_t cat = json_integer_value(json_object_get(json_object_get(t->obj, "category"), "id"));
    json_t *staff = sbhf__read_staff(h, in, "staff", true, v);
    json_t *cfs = json_deep_copy(json_object_get(t->obj, "custom_fields")), *diff, *upd;
    const char *k;
    json_t *x;
    int n = 0, changed = 0;

    json_object_foreach ((json_t *)in, k, x)
        n += strncmp(k, "t-cf-", 5) == 0;
    if (!n)
        sbhf__verr_add(v, "t-cf-", "Give at least one custom field as t-cf-<id>");
    sbhf__cf_apply(h->ticket_cfs, "t-cf-", in, cat, cfs, &changed, v);
    if (!sbhf__verr_any(v) && changed) {
        diff = sbhf__cf_diff(json_object_get(t->obj, "custom_fields"), cfs);
        json_object_set(t->obj, "custom_fields", cfs);
        upd = json_pack("{s:o,s:o}", "by", sbhf__by_staff(staff), "custom_field_changes", diff);
        chg->update = sbhf__update_append(h, t, upd);
    }
    json_decref(cfs);
}

void sbhf__ticket_action(struct sandbox *sb, struct sbhf_ticket *t, const char *action, const struct http_req *req,
                         struct http_resp *resp)
{
    static const char *const not_emulated[] = {"move", "forward", "delete", "subscribe", "unsubscribe", NULL};
    struct sbhf_account *h = sb->hf;
    struct sbhf_verr v = {NULL};
    struct sbhf_change chg = {NULL, NULL, false};
    struct sbhf_body body;
    const char *kind = action;
    int i;

    for (i = 0; not_emulated[i]; i++) {
        if (strcmp(action, not_emulated[i]) == 0) {
            sbhf__error(resp, 501, "/ticket/<n>/%s/ is not emulated by the sandbox", action);
            return;
        }
    }
    if (strcmp(action, "staff_update") != 0 && strcmp(action, "staff_pvtnote") != 0 &&
        strcmp(action, "user_reply") != 0 && strcmp(action, "update_tags") != 0 &&
        strcmp(action, "update_custom_fields") != 0) {
        sbhf__error(resp, 404, "Not found");
        return;
    }
    if (json_array_size(json_object_get(t->obj, "updates")) >= SBHF_UPDATES_MAX) {
        sbhf__error(resp, 400, "The sandbox keeps at most %d updates a ticket", SBHF_UPDATES_MAX);
        return;
    }
    if (!sbhf__body_parse(req, false, &body, resp))
        return;
    if (strcmp(action, "staff_update") == 0 || strcmp(action, "staff_pvtnote") == 0)
        sbhf__staff_change(h, t, body.obj, strcmp(action, "staff_pvtnote") == 0, &v, &chg);
    else if (strcmp(action, "user_reply") == 0)
        user_reply(h, t, body.obj, &v, &chg);
    else if (strcmp(action, "update_tags") == 0)
        update_tags(h, t, body.obj, &v, &chg);
    else
        update_cfs(h, t, body.obj, &v, &chg);
    json_decref(body.obj);
    if (sbhf__verr_any(&v)) {
        sbhf__verr_respond(&v, resp);
    } else {
        http_resp_json(resp, 200, sbhf__ticket_render(t, false));
        if (chg.update)
            emit_change(sb, t, kind, &chg);
    }
    json_decref(chg.old_status);
}

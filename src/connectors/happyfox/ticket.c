/* ticket.c — the HappyFox ticket as the connector sees it: naming a ticket
 * (number or display id), reading it, the output object every action
 * returns, the update history helpers, and the duplicate-write markers.
 *
 * This is the one place that reads HappyFox's ticket field names that the
 * API notes do not confirm (category, priority, assigned_to, user,
 * custom_fields, updates[].by / message): if a real account names them
 * differently, only this file changes.
 *
 * Markers. A ticket created by a step carries the tag
 * "idflow-r<run>-<step>[-i<item>]"; a reply or note carries the same text in
 * an invisible HTML comment "<!-- idflow-marker:<tag>: -->" at the end of
 * its html. After an attempt whose outcome is unknown, the actions look for
 * the marker before writing again (actions_*.c).
 *
 * Stateless; any thread. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/happyfox/happyfox_internal.h"
#include "core/buf.h"

#define MARKER_PREFIX "idflow-marker:"

const char *hfc__param_str(const json_t *params, const char *name, char *scratch, size_t n)
{
    const json_t *v = json_object_get(params, name);

    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(scratch, n, "%lld", (long long)json_integer_value(v));
        return scratch;
    }
    return NULL;
}

/* ------------------------------------------------------------ naming */

int hfc__ticket_ref(struct hfc *h, const json_t *params, int64_t *number_out, char *display_out, size_t n)
{
    char scratch[32], buf[64];
    const char *s = hfc__param_str(params, "ticket", scratch, sizeof scratch);
    size_t len, letters;

    *number_out = 0;
    display_out[0] = '\0';
    if (!s)
        return hfc__fail(h, IDF_EINVAL, false, 0, "%s: ticket: expected the ticket number or display id", h->s.action);
    while (isspace((unsigned char)*s))
        s++;
    snprintf(buf, sizeof buf, "%s", *s == '#' ? s + 1 : s);
    len = strlen(buf);
    while (len && isspace((unsigned char)buf[len - 1]))
        buf[--len] = '\0';
    letters = 0;
    while (isalpha((unsigned char)buf[letters]))
        letters++;
    if (len == 0 || len - letters == 0 || len - letters > 18 || strspn(buf + letters, "0123456789") != len - letters ||
        strlen(s) >= sizeof buf)
        return hfc__fail(h, IDF_EINVAL, false, 0,
                         "%s: ticket: '%.64s' is neither a ticket number (12) nor a display id (#HF00000012)",
                         h->s.action, s);
    *number_out = strtoll(buf + letters, NULL, 10);
    if (*number_out <= 0)
        return hfc__fail(h, IDF_EINVAL, false, 0, "%s: ticket: '%.64s' names no ticket", h->s.action, s);
    if (letters)
        snprintf(display_out, n, "%s", buf);
    return 0;
}

int hfc__ticket_get(struct hfc *h, int64_t number, const char *display, json_t **ticket_out)
{
    char path[64];
    json_t *t = NULL;
    const char *have;
    int rc;

    *ticket_out = NULL;
    snprintf(path, sizeof path, "/ticket/%lld/", (long long)number);
    if ((rc = hfc__request(h, "GET", path, "", NULL, &t)) != 0)
        return rc;
    if (!json_is_object(t) || !json_is_integer(json_object_get(t, "id"))) {
        json_decref(t);
        return hfc__fail(h, IDF_EREMOTE, false, 0, "%s: GET %s: the answer is not a ticket", h->s.action, path);
    }
    have = json_string_value(json_object_get(t, "display_id"));
    if (display && *display && (!have || strcasecmp(*have == '#' ? have + 1 : have, display) != 0)) {
        rc = hfc__fail(h, IDF_ENOTFOUND, false, 0,
                       "%s: ticket: no ticket with display id #%s (ticket %lld is %s); give the ticket number",
                       h->s.action, display, (long long)number, have ? have : "without a display id");
        json_decref(t);
        return rc;
    }
    *ticket_out = t;
    return 0;
}

/* ------------------------------------------------------------ output */

/* A copy of obj with only the given keys (those present); JSON null when obj is not an object. */
static json_t *pick(const json_t *obj, const char *const *keys)
{
    json_t *o;

    if (!json_is_object(obj))
        return json_null();
    o = json_object();
    for (int i = 0; keys[i]; i++) {
        json_t *v = json_object_get(obj, keys[i]);
        if (v)
            json_object_set(o, keys[i], v);
    }
    return o;
}

const json_t *hfc__ticket_status(const json_t *ticket)
{
    return json_object_get(ticket, "status");
}

static json_t *fields_map(const json_t *cfs)
{
    json_t *m = json_object(), *c;
    size_t i;

    json_array_foreach (cfs, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *v = json_object_get(c, "value");
        if (name)
            json_object_set(m, name, v ? v : json_null());
    }
    return m;
}

json_t *hfc__output(const json_t *ticket, const json_t *update_id, bool changed)
{
    static const char *const st_keys[] = {"id", "name", "behavior", NULL};
    static const char *const ref_keys[] = {"id", "name", NULL};
    static const char *const who_keys[] = {"id", "name", "email", NULL};
    const json_t *st = hfc__ticket_status(ticket);
    const char *beh = json_string_value(json_object_get(st, "behavior"));
    const json_t *cfs = json_object_get(ticket, "custom_fields");
    json_t *o = json_object();
    const char *copy[] = {"display_id", "subject", "due_date", "created_at", "last_modified", NULL};

    json_object_set(o, "number", json_object_get(ticket, "id"));
    for (int i = 0; copy[i]; i++) {
        json_t *v = json_object_get(ticket, copy[i]);
        json_object_set(o, copy[i], v ? v : json_null());
    }
    json_object_set_new(o, "status", pick(st, st_keys));
    json_object_set_new(o, "resolved", json_boolean(beh && strcmp(beh, "completed") == 0));
    json_object_set_new(o, "category", pick(json_object_get(ticket, "category"), ref_keys));
    json_object_set_new(o, "priority", pick(json_object_get(ticket, "priority"), ref_keys));
    json_object_set_new(o, "assignee", pick(json_object_get(ticket, "assigned_to"), who_keys));
    json_object_set_new(o, "contact", pick(json_object_get(ticket, "user"), who_keys));
    json_object_set_new(o, "tags", json_is_array(json_object_get(ticket, "tags"))
                                       ? json_incref(json_object_get(ticket, "tags"))
                                       : json_array());
    json_object_set_new(o, "custom_fields", json_is_array(cfs) ? json_incref((json_t *)cfs) : json_array());
    json_object_set_new(o, "fields", fields_map(cfs));
    json_object_set(o, "update_id", update_id ? (json_t *)update_id : json_null());
    json_object_set_new(o, "changed", json_boolean(changed));
    return o;
}

/* ------------------------------------------------------------ updates */

static int64_t update_id_of(const json_t *u)
{
    const json_t *v = json_object_get(u, "update_id");
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static int64_t by_staff_id(const json_t *u)
{
    const json_t *by = json_object_get(u, "by");
    const char *type = json_string_value(json_object_get(by, "type"));

    if (!json_is_object(by) || (type && strcmp(type, "staff") != 0))
        return 0;
    return hfc__item_id(by);
}

int64_t hfc__max_update_id(const json_t *ticket)
{
    const json_t *u;
    size_t i;
    int64_t max = 0;

    json_array_foreach (json_object_get(ticket, "updates"), i, u) {
        if (update_id_of(u) > max)
            max = update_id_of(u);
    }
    return max;
}

int64_t hfc__newest_update_by(const json_t *ticket, int64_t staff_id, int64_t after_id)
{
    const json_t *u;
    size_t i;
    int64_t best = 0;

    json_array_foreach (json_object_get(ticket, "updates"), i, u) {
        int64_t id = update_id_of(u);
        if (id > after_id && id > best && (staff_id == 0 || by_staff_id(u) == staff_id))
            best = id;
    }
    return best;
}

/* ------------------------------------------------------------ markers */

void hfc__marker(const struct conn_call *call, char *out, size_t n)
{
    char step[HFC_MARKER_MAX], tail[24];
    const char *s = call->step_id ? call->step_id : "step";
    size_t k = 0, room;
    uint32_t hash = 2166136261u;
    bool cut = false;

    tail[0] = '\0';
    if (call->item >= 0)
        snprintf(tail, sizeof tail, "-i%d", call->item);
    /* room for "idflow-r<19 digits>-" + tail + "-<8 hex>" */
    room = n > 8 + 20 + strlen(tail) + 9 + 1 ? n - (8 + 20 + strlen(tail) + 9 + 1) : 1;
    for (const char *p = s; *p; p++) {
        char c = (char)tolower((unsigned char)*p);
        hash = (hash ^ (unsigned char)*p) * 16777619u;
        if (!(isalnum((unsigned char)c) || c == '_' || c == '-')) {
            c = '_';
            cut = true;
        }
        if (c != *p)
            cut = true;
        if (k + 1 < room && k + 1 < sizeof step)
            step[k++] = c;
        else
            cut = true;
    }
    step[k] = '\0';
    if (cut)
        snprintf(out, n, "idflow-r%lld-%s-%08x%s", (long long)call->run_id, step, (unsigned)hash, tail);
    else
        snprintf(out, n, "idflow-r%lld-%s%s", (long long)call->run_id, step, tail);
}

/* text as HTML: & < > " escaped, newlines as <br>. */
static int escape_html(const char *text, struct buf *b)
{
    int rc = 0;

    for (const char *p = text; *p && !rc; p++) {
        switch (*p) {
        case '&': rc = buf_puts(b, "&amp;"); break;
        case '<': rc = buf_puts(b, "&lt;"); break;
        case '>': rc = buf_puts(b, "&gt;"); break;
        case '"': rc = buf_puts(b, "&quot;"); break;
        case '\n': rc = buf_puts(b, "<br>\n"); break;
        default: rc = buf_append(b, p, 1); break;
        }
    }
    return rc;
}

int hfc__message(struct hfc *h, const json_t *params, const char *marker, json_t *body)
{
    const json_t *text = json_object_get(params, "text"), *html = json_object_get(params, "html");
    struct buf b;
    int rc = 0;

    if (json_is_null(text))
        text = NULL;
    if (json_is_null(html))
        html = NULL;
    if ((text && !json_is_string(text)) || (html && !json_is_string(html)))
        return hfc__fail(h, IDF_EINVAL, false, 0, "%s: text and html must be strings", h->s.action);
    if ((!text || json_string_length(text) == 0) && (!html || json_string_length(html) == 0))
        return hfc__fail(h, IDF_EINVAL, false, 0, "%s: give the message as `text` or `html`", h->s.action);
    if ((text && json_string_length(text) > HFC_MAX_TEXT) || (html && json_string_length(html) > HFC_MAX_TEXT))
        return hfc__fail(h, IDF_ETOOBIG, false, 0, "%s: the message is longer than %u bytes", h->s.action,
                         (unsigned)HFC_MAX_TEXT);
    if (!marker) { /* as given */
        if (text && json_string_length(text) > 0)
            json_object_set(body, "text", (json_t *)text);
        if (html && json_string_length(html) > 0)
            json_object_set(body, "html", (json_t *)html);
        return 0;
    }
    buf_init(&b, HFC_MAX_TEXT * 6 + 256);
    if (html)
        rc = buf_puts(&b, json_string_value(html));
    else
        rc = escape_html(json_string_value(text), &b);
    if (!rc)
        rc = buf_printf(&b, "\n<!-- " MARKER_PREFIX "%s: -->", marker);
    if (rc) {
        buf_free(&b);
        return hfc__fail(h, rc, false, 0, "%s: the message is too long", h->s.action);
    }
    if (text && json_string_length(text) > 0)
        json_object_set(body, "text", (json_t *)text);
    json_object_set_new(body, "html", json_string(b.data ? b.data : ""));
    buf_free(&b);
    return 0;
}

static bool has_marker(const json_t *msg, const char *needle)
{
    const char *keys[] = {"html", "text", NULL};

    for (int i = 0; keys[i]; i++) {
        const char *s = json_string_value(json_object_get(msg, keys[i]));
        if (s && strstr(s, needle))
            return true;
    }
    return false;
}

/* s without leading and trailing white space equals t likewise. */
static bool same_text(const char *s, const char *t)
{
    size_t ns, nt;

    while (isspace((unsigned char)*s))
        s++;
    while (isspace((unsigned char)*t))
        t++;
    ns = strlen(s);
    nt = strlen(t);
    while (ns && isspace((unsigned char)s[ns - 1]))
        ns--;
    while (nt && isspace((unsigned char)t[nt - 1]))
        nt--;
    return ns == nt && memcmp(s, t, ns) == 0;
}

int64_t hfc__find_marked_update(const json_t *ticket, const char *marker, bool note, int64_t staff_id, const char *text)
{
    char needle[HFC_MARKER_MAX + 32];
    const json_t *u, *newest = NULL;
    size_t i;

    snprintf(needle, sizeof needle, MARKER_PREFIX "%s:", marker);
    json_array_foreach (json_object_get(ticket, "updates"), i, u) {
        const json_t *msg = json_object_get(u, "message");
        bool is_note = json_is_string(json_object_get(msg, "message_type")) &&
                       strcmp(json_string_value(json_object_get(msg, "message_type")), "p") == 0;
        if (!json_is_object(msg))
            continue;
        if (has_marker(msg, needle))
            return update_id_of(u);
        if (is_note == note && by_staff_id(u) == staff_id && (!newest || update_id_of(u) > update_id_of(newest)))
            newest = u;
    }
    if (text && newest) {
        const char *t = json_string_value(json_object_get(json_object_get(newest, "message"), "text"));
        if (t && same_text(t, text))
            return update_id_of(newest);
    }
    return 0;
}

/* ------------------------------------------------------------ tags */

int hfc__tags_param(struct hfc *h, const json_t *v, const char *param, json_t **tags_out)
{
    json_t *in = NULL, *out = json_array(), *x;
    size_t i;
    int rc = 0;

    *tags_out = NULL;
    if (json_is_array(v)) {
        in = json_incref((json_t *)v);
    } else if (json_is_string(v)) {
        char *dup = strdup(json_string_value(v)), *save = NULL;
        in = json_array();
        for (char *p = dup ? strtok_r(dup, ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save))
            json_array_append_new(in, json_string(p));
        free(dup);
    } else if (v && !json_is_null(v)) {
        rc = hfc__fail(h, IDF_EINVAL, false, 0, "%s: %s: expected a list of tags or a comma-separated string",
                       h->s.action, param);
        goto out;
    }
    json_array_foreach (in, i, x) {
        const char *s = json_string_value(x);
        char tag[HFC_MAX_TAG + 1];
        size_t n;

        if (!s) {
            rc = hfc__fail(h, IDF_EINVAL, false, 0, "%s: %s: every tag must be a string", h->s.action, param);
            goto out;
        }
        while (isspace((unsigned char)*s))
            s++;
        n = strlen(s);
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
        if (n == 0)
            continue;
        if (n > HFC_MAX_TAG || memchr(s, ',', n)) {
            rc = hfc__fail(h, IDF_EINVAL, false, 0, "%s: %s: '%.40s...' is not a tag (at most %d bytes, no commas)",
                           h->s.action, param, s, HFC_MAX_TAG);
            goto out;
        }
        for (size_t k = 0; k < n; k++) {
            if (iscntrl((unsigned char)s[k])) {
                rc = hfc__fail(h, IDF_EINVAL, false, 0, "%s: %s: tags must not contain control characters", h->s.action,
                               param);
                goto out;
            }
        }
        memcpy(tag, s, n);
        tag[n] = '\0';
        json_array_append_new(out, json_string(tag));
    }
    if (json_array_size(out) > HFC_MAX_TAGS) {
        rc = hfc__fail(h, IDF_EINVAL, false, 0, "%s: %s: at most %d tags", h->s.action, param, HFC_MAX_TAGS);
        goto out;
    }
    *tags_out = out;
    out = NULL;
out:
    json_decref(in);
    json_decref(out);
    return rc;
}

char *hfc__join(const json_t *arr)
{
    struct buf b;
    const json_t *x;
    size_t i;

    buf_init(&b, BUF_CAP_SMALL);
    json_array_foreach (arr, i, x) {
        if (buf_printf(&b, "%s%s", i ? "," : "", json_string_value(x) ? json_string_value(x) : "")) {
            buf_free(&b);
            return NULL;
        }
    }
    return buf_take(&b);
}

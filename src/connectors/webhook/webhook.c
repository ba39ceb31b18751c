/* webhook.c — the generic `webhook` connector: any system that can POST
 * JSON starts workflows through /hooks/webhook/<connection>.
 *
 * A webhook connection holds the shared `secret` (sealed) and how requests
 * prove they know it (`auth`):
 *   - "bearer" (default): `Authorization: Bearer <secret>`;
 *   - "hmac": `X-Idflow-Timestamp: <unix seconds>` and
 *     `X-Idflow-Signature: sha256=<hex HMAC-SHA256(secret, S)>` where
 *     S = "<timestamp>.<event id>.<body>", the event id being the
 *     `X-Idflow-Event-Id` value or empty when the header is absent
 *     ("<timestamp>..<body>"). Neither the timestamp (digits only) nor an
 *     event id may contain '.', so S splits one way only and no signed
 *     request can be re-read with another timestamp, id or body. A
 *     timestamp further than `replay_window` seconds (default 300) from now
 *     is refused.
 * A sender may name its event with `X-Idflow-Event-Id` (1 to WEBHOOK_MAX_ID
 * bytes of [A-Za-z0-9_:-], in both modes): the deduplication key, so the
 * same id again starts nothing new. Without one, a signed request's id is
 * derived from its signature (the same signed (timestamp, body) is one
 * event) and a bearer request is always a new event. Under hmac the id is
 * signed, so a replay under a new id fails the signature instead of
 * starting new runs. The event is
 * {id, type: "webhook", time, data: <the JSON body>}.
 *
 * Threads: the hook runs on the HTTP server's threads; no state. Secrets
 * are compared in constant time (the bearer secret by the toolkit's
 * ctk_secret_equal over fixed-size digests, the HMAC with sodium_memcmp)
 * and never quoted in answers; neither is a refused event id. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/connector.h"
#include "connectors/toolkit.h"
#include "core/timeutil.h"
#include "net/http.h"

#define WEBHOOK_MAX_ID 200         /* bytes of a sender-chosen event id */
#define WEBHOOK_MAX_TS_DIGITS 12   /* digits of a signed timestamp (unix seconds) */
#define WEBHOOK_DEFAULT_WINDOW 300 /* seconds a signed timestamp stays valid */
#define WEBHOOK_MAX_WINDOW 86400
#define WEBHOOK_SIG_PREFIX "sha256="

/* the 401 for a signature that does not hold; says what is signed, for senders of the old format */
static const char BAD_SIGNATURE[] = "missing or wrong signature: X-Idflow-Signature must be sha256=<hex "
                                    "HMAC-SHA256 of \"<timestamp>.<event id>.<body>\">";

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---------------------------------------------------------- connection */

static const struct conn_field webhook_fields[] = {
    {"secret", true, true, "the shared secret senders prove they know"},
    {"auth", false, false, "bearer (default: Authorization: Bearer <secret>) or hmac (signed timestamp, event id and body)"},
    {"replay_window", false, false, "hmac: seconds a signature's timestamp stays valid (default 300)"},
    {NULL, false, false, NULL},
};

static int webhook_validate(json_t *config, struct idf_err *err)
{
    const char *auth = str_of(config, "auth");
    const json_t *w = json_object_get(config, "replay_window");

    if (auth && strcasecmp(auth, "bearer") != 0 && strcasecmp(auth, "hmac") != 0)
        return idf_err_set(err, IDF_EINVAL, "auth must be bearer or hmac");
    if (w && !json_is_null(w) &&
        (!json_is_integer(w) || json_integer_value(w) < 1 || json_integer_value(w) > WEBHOOK_MAX_WINDOW))
        return idf_err_set(err, IDF_EINVAL, "replay_window must be an integer from 1 to %d seconds",
                           WEBHOOK_MAX_WINDOW);
    return 0;
}

static const struct conn_connection_kind webhook_connection = {
    .fields = webhook_fields,
    .validate = webhook_validate,
    .check = NULL,
};

/* ------------------------------------------------------------- trigger */

static bool match_webhook(const json_t *params, const json_t *event)
{
    const char *want = str_of(params, "connection");
    const char *got = str_of(event, "connection");
    return !want || (got && strcmp(want, got) == 0);
}

static const struct conn_param p_webhook[] = {
    {"connection", CONN_P_STRING, false, "only requests to /hooks/webhook/<this connection> (default: any)"},
    {NULL, 0, false, NULL},
};

static const struct conn_trigger webhook_triggers[] = {
    {"webhook",
     "An authenticated POST to /hooks/webhook/<connection> (bearer secret or HMAC-SHA256 signature with a replay "
     "window); the JSON body is .event.data.",
     p_webhook, match_webhook},
    {NULL, NULL, NULL, NULL},
};

/* ---------------------------------------------------------------- hook */

/* The Authorization header carries "Bearer <secret>" (ctk_secret_equal:
 * constant time over digests). */
static bool bearer_ok(const char *secret, const char *header)
{
    return header && strncasecmp(header, "Bearer ", 7) == 0 && ctk_secret_equal(secret, header + 7);
}

/* A sender's event id: 1 to WEBHOOK_MAX_ID bytes of [A-Za-z0-9_:-]. Never
 * '.', the separator of the signed string. */
static bool event_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > WEBHOOK_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == ':' ||
              c == '-'))
            return false;
    }
    return true;
}

/* A signed timestamp: 1 to WEBHOOK_MAX_TS_DIGITS ASCII digits and nothing
 * else (no sign, space, point or exponent), so its text is one number. */
static bool timestamp_parse(const char *ts, long long *out)
{
    size_t n = strlen(ts);
    long long t = 0;
    if (n == 0 || n > WEBHOOK_MAX_TS_DIGITS)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (ts[i] < '0' || ts[i] > '9')
            return false;
        t = t * 10 + (ts[i] - '0');
    }
    *out = t;
    return true;
}

/* Checks an HMAC signature over "<timestamp>.<id>.<body>" (id: the
 * X-Idflow-Event-Id value, borrowed, or NULL for none: signed as empty).
 * Returns NULL when it holds, with mac_hex (65 bytes) holding it for the
 * event id; else why not (a static string). */
static const char *hmac_check(const json_t *conn, const struct http_req *req, const char *id, char mac_hex[65])
{
    const char *secret = str_of(conn, "secret");
    const char *ts = http_req_header(req, "X-Idflow-Timestamp");
    const char *sig = http_req_header(req, "X-Idflow-Signature");
    const json_t *w = json_object_get(conn, "replay_window");
    int64_t window = json_is_integer(w) ? json_integer_value(w) : WEBHOOK_DEFAULT_WINDOW;
    unsigned char want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    size_t got_len = 0;
    long long t = 0;
    bool ok;

    if (!ts || !sig)
        return "missing X-Idflow-Timestamp or X-Idflow-Signature";
    if (!timestamp_parse(ts, &t) || t <= 0)
        return "X-Idflow-Timestamp must be unix seconds, digits only";
    if (llabs(time_now_ms() / 1000 - t) > window)
        return "the signature's timestamp is outside the replay window";
    if (strncmp(sig, WEBHOOK_SIG_PREFIX, strlen(WEBHOOK_SIG_PREFIX)) != 0 ||
        sodium_hex2bin(got, sizeof got, sig + strlen(WEBHOOK_SIG_PREFIX), strlen(sig + strlen(WEBHOOK_SIG_PREFIX)),
                       NULL, &got_len, NULL) != 0 ||
        got_len != sizeof got)
        return BAD_SIGNATURE;
    if (!id)
        id = "";
    /* a secret of any length: HMAC keys longer than a block are hashed by the algorithm itself */
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)id, strlen(id));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)req->body, req->body_len);
    crypto_auth_hmacsha256_final(&st, want);
    ok = sodium_memcmp(want, got, sizeof want) == 0;
    sodium_memzero(&st, sizeof st);
    if (!ok)
        return BAD_SIGNATURE;
    sodium_bin2hex(mac_hex, 65, want, sizeof want);
    return NULL;
}

static int webhook_hook(const json_t *conn, const struct http_req *req, struct conn_hook_out *out)
{
    const char *secret = str_of(conn, "secret");
    const char *auth = str_of(conn, "auth");
    const char *id = http_req_header(req, "X-Idflow-Event-Id");
    bool hmac = auth && strcasecmp(auth, "hmac") == 0;
    char mac[65] = "", ts[40];
    json_t *body, *ev;

    if (!ctk_hook_post(req, out))
        return 0;
    if (!secret || !*secret) {
        ctk_hook_answer(out, 401, "this connection has no secret");
        return 0;
    }
    if (hmac) {
        const char *why = hmac_check(conn, req, id, mac);
        if (why) {
            ctk_hook_answer(out, 401, why);
            return 0;
        }
    } else if (!bearer_ok(secret, http_req_header(req, "Authorization"))) {
        ctk_hook_answer(out, 401, "missing or wrong secret in the Authorization header (Bearer)");
        return 0;
    }
    if (id && !event_id_valid(id)) {
        ctk_hook_answer(out, 400, "X-Idflow-Event-Id must be 1 to 200 characters from A-Z a-z 0-9 _ : - (no '.')");
        return 0;
    }
    if (ctk_hook_json(req, JSON_DECODE_ANY, out, &body))
        return 0;
    time_format_iso(time_now_ms(), ts, sizeof ts);
    if (!id && hmac) {
        id = mac; /* the same signed (timestamp, body) without an id is the same event */
    } else if (!id) {
        unsigned char r[16];
        randombytes_buf(r, sizeof r); /* an unnamed bearer request is always a new event */
        sodium_bin2hex(mac, sizeof mac, r, sizeof r);
        id = mac;
    }
    ev = json_pack("{s:s,s:s,s:s,s:o}", "id", id, "type", "webhook", "time", ts, "data", body);
    out->events = ev ? json_pack("[o]", ev) : NULL;
    if (!out->events)
        return IDF_ENOMEM;
    out->status = 200;
    out->body = json_pack("{s:b}", "accepted", 1);
    return 0;
}

static const struct conn_ingress webhook_ingress = {
    .hook = webhook_hook,
    .hook_secret_field = "secret",
};

static const struct conn_action webhook_actions[] = {
    {NULL, NULL, NULL, 0, NULL, CONN_EFFECT_READ, NULL, false},
};

const struct connector connector_webhook = {
    .name = "webhook",
    .connection = &webhook_connection,
    .actions = webhook_actions,
    .triggers = webhook_triggers,
    .thread_slot_free = NULL,
    .ingress = &webhook_ingress,
};

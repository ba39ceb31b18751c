/* okta/oauth.c — OAuth 2.0 for Okta service apps: POST /oauth2/v1/token
 * (client credentials with a private_key_jwt assertion) and the access
 * tokens it issues, checked per endpoint scope.
 *
 * The assertion is verified as Okta's org authorization server does: RS256/
 * RS384/RS512 or ES256/ES384/ES512 against the public JWK registered on the
 * service app ("_sbx.jwks", picked by `kid`), iss = sub = client_id, aud =
 * the token endpoint URL, exp in the future and at most one hour ahead, a
 * `jti` not seen before. Requested scopes must all be granted to the app.
 * Access tokens are random strings shaped like Okta's JWTs (the fixed
 * header SANDBOX_OKTA_TOKEN_HEADER of sandbox.h, then random parts),
 * valid one hour. Errors use the OAuth shape {"error",
 * "error_description"}: 401 invalid_client, 400 invalid_request,
 * unsupported_grant_type, invalid_scope.
 *
 * DPoP (RFC 9449): an app whose settings.oauthClient.dpop_bound_access_tokens
 * is true (the seed's default, as for a new API Services app in Okta) needs,
 * once its assertion passed, a valid `DPoP` proof carrying the org's current
 * authorization-server nonce: 400 invalid_dpop_proof for a missing or bad
 * proof, 400 use_dpop_nonce with a `DPoP-Nonce` header for a valid proof
 * without that nonce. Its token is then of type DPoP and bound to the
 * proof key's thumbprint (jkt). For any other app a proof is ignored and a
 * Bearer token issued, as Okta does. The assertion's jti is spent when the
 * assertion verifies, so a client answering the nonce challenge sends a new
 * assertion with its new proof.
 *
 * Called with sb->lock held. Uses OpenSSL's libcrypto (libsodium has no RSA). */
#include <openssl/evp.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "crypto/jwk.h"
#include "crypto/jws.h"
#include "sandbox/okta/internal.h"

#define OAUTH_MAX_FIELD 8192      /* one form field */
#define OAUTH_MAX_SCOPES 32
#define OAUTH_SKEW_S 60
#define JWT_ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

static void oauth_error(struct sbok_ctx *c, int status, const char *error, const char *desc)
{
    sbok__header(c, "Cache-Control", "no-store");
    sbok__header(c, "Pragma", "no-cache");
    sbok__json(c, status, json_pack("{s:s, s:s}", "error", error, "error_description", desc));
}

/* ---------------------------------------------------------- decoding */

/* Percent-decodes a form value in place ('+' is a space). */
static void form_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '+') {
            *w++ = ' ';
        } else if (*r == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = {r[1], r[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Parses an application/x-www-form-urlencoded body into an object. */
static json_t *parse_form(const char *body, size_t len)
{
    json_t *f = json_object();
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        size_t n = amp ? (size_t)(amp - p) : (size_t)(end - p);
        if (n > 0 && n < OAUTH_MAX_FIELD) {
            char *pair = strndup(p, n), *eq = pair ? strchr(pair, '=') : NULL;
            if (eq) {
                *eq = '\0';
                form_decode(pair);
                form_decode(eq + 1);
                if (!json_object_get(f, pair))
                    json_object_set_new(f, pair, json_string(eq + 1));
            }
            free(pair);
        }
        p += n + 1;
    }
    return f;
}

/* ---------------------------------------------------------- keys */

/* Verifies sig over data with the JWK for alg (the kty must be alg's). */
static bool jwk_verify(const json_t *jwk, const char *alg, const unsigned char *data, size_t dlen,
                       const unsigned char *sig, size_t slen)
{
    EVP_PKEY *pkey = jwk_to_pkey(jwk, false);
    bool ok = pkey && jws_verify(pkey, alg, data, dlen, sig, slen);

    EVP_PKEY_free(pkey);
    return ok;
}

/* ---------------------------------------------------------- token */

json_t *sbok__oauth_client(struct sbok_org *o, const char *client_id)
{
    size_t i;
    json_t *app;
    json_array_foreach(o->apps, i, app)
    {
        const char *cid = json_string_value(
            json_object_get(json_object_get(json_object_get(app, "credentials"), "oauthClient"), "client_id"));
        if (cid && strcmp(cid, client_id) == 0)
            return app;
    }
    return NULL;
}

bool sbok__oauth_dpop_required(const json_t *app)
{
    return json_is_true(
        json_object_get(json_object_get(json_object_get(app, "settings"), "oauthClient"), "dpop_bound_access_tokens"));
}

/* Checks the assertion; returns the client app or NULL after answering. */
static json_t *check_assertion(struct sbok_ctx *c, const char *jwt)
{
    struct jws_parts jp;
    json_t *app = NULL;
    const char *why = "The client_assertion is not a valid JWT.";
    if (jws_split(jwt, &jp) != 0)
        goto fail;
    const json_t *hdr = jp.header, *claims = jp.claims;
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *aud = json_string_value(json_object_get(claims, "aud"));
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    json_t *exp = json_object_get(claims, "exp");
    if (!alg || strlen(alg) != 5 || (strncmp(alg, "RS", 2) != 0 && strncmp(alg, "ES", 2) != 0)) {
        why = "The client_assertion signature algorithm is not supported (RS256/384/512, ES256/384/512).";
        goto fail;
    }
    why = "The client_id in the client_assertion is invalid.";
    if (!iss || !(app = sbok__oauth_client(c->o, iss)))
        goto fail;
    if (!sub || strcmp(sub, iss) != 0) {
        why = "The 'sub' claim of the client_assertion must equal the client_id.";
        goto fail;
    }
    char want[320], org_aud[320];
    snprintf(want, sizeof want, "%s/oauth2/v1/token", c->base);
    snprintf(org_aud, sizeof org_aud, "%s/oauth2/v1/token", json_string_value(json_object_get(c->o->org, "url")) ?: "-");
    if (!aud || (strcmp(aud, want) != 0 && strcmp(aud, org_aud) != 0)) {
        why = "The audience claim for client_assertion must be the endpoint invoked for the request.";
        goto fail;
    }
    int64_t now = time_now_ms() / 1000;
    if (!json_is_integer(exp) || json_integer_value(exp) <= now - OAUTH_SKEW_S) {
        why = "The client_assertion token is expired.";
        goto fail;
    }
    if (json_integer_value(exp) > now + 3600 + OAUTH_SKEW_S) {
        why = "The client_assertion token has an expiration too far in the future.";
        goto fail;
    }
    bool verified = false;
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(json_object_get(json_object_get(app, "_sbx"), "jwks"), "keys"), i, k)
    {
        const char *kk = json_string_value(json_object_get(k, "kid"));
        if (kid && kk && strcmp(kid, kk) != 0)
            continue;
        if (jwk_verify(k, alg, (const unsigned char *)jwt, jp.signed_len, jp.sig, jp.sig_len)) {
            verified = true;
            break;
        }
    }
    if (!verified) {
        why = "The client_assertion signature is invalid.";
        goto fail;
    }
    json_array_foreach(c->o->jtis, i, k)
    {
        if (jti && strcmp(json_string_value(k) ?: "", jti) == 0) {
            why = "The client_assertion token has already been used.";
            goto fail;
        }
    }
    if (jti) {
        json_array_append_new(c->o->jtis, json_string(jti));
        if (json_array_size(c->o->jtis) > SBOK_MAX_JTIS)
            json_array_remove(c->o->jtis, 0);
    }
    if (strcmp(json_string_value(json_object_get(app, "status")) ?: "", "ACTIVE") != 0) {
        why = "The client is not active.";
        goto fail;
    }
    jws_parts_free(&jp);
    return app;
fail:
    jws_parts_free(&jp);
    oauth_error(c, 401, "invalid_client", why);
    return NULL;
}

void sbok__oauth_token(struct sbok_ctx *c)
{
    json_t *form = parse_form(c->req->body, c->req->body_len);
    const char *grant = json_string_value(json_object_get(form, "grant_type"));
    const char *scope = json_string_value(json_object_get(form, "scope"));
    const char *atype = json_string_value(json_object_get(form, "client_assertion_type"));
    const char *assertion = json_string_value(json_object_get(form, "client_assertion"));
    json_t *app = NULL, *scopes = NULL;
    if (!grant) {
        oauth_error(c, 400, "invalid_request", "The request is missing a required parameter: grant_type.");
        goto out;
    }
    if (strcmp(grant, "client_credentials") != 0) {
        oauth_error(c, 400, "unsupported_grant_type",
                    "The authorization grant type is not supported by the authorization server.");
        goto out;
    }
    if (!atype || strcmp(atype, JWT_ASSERTION_TYPE) != 0 || !assertion) {
        oauth_error(c, 401, "invalid_client",
                    "Client authentication failed: service apps must use private_key_jwt (client_assertion).");
        goto out;
    }
    if (!(app = check_assertion(c, assertion)))
        goto out;
    char jkt[JWK_THUMBPRINT_SIZE] = "";
    bool dpop = sbok__oauth_dpop_required(app);
    if (dpop) {
        const char *why = NULL;
        struct sbok_dpop_want want = {.nonce = c->o->dpop.as_nonce};
        enum sbok_dpop_verdict v = sbok__dpop_check(c, &want, jkt, &why);
        if (v == SBOK_DPOP_USE_NONCE) {
            sbok__header(c, "DPoP-Nonce", c->o->dpop.as_nonce);
            oauth_error(c, 400, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof.");
            goto out;
        }
        if (v != SBOK_DPOP_OK) {
            oauth_error(c, 400, "invalid_dpop_proof", why);
            goto out;
        }
    }
    if (!scope || !*scope) {
        oauth_error(c, 400, "invalid_scope", "The authorization server requires a scope for client_credentials.");
        goto out;
    }
    scopes = json_array();
    const json_t *granted = json_object_get(json_object_get(app, "_sbx"), "scopes");
    char *copy = strdup(scope), *save = NULL;
    bool bad = copy == NULL;
    for (char *t = copy ? strtok_r(copy, " ", &save) : NULL; t; t = strtok_r(NULL, " ", &save)) {
        bool ok = false;
        size_t i;
        json_t *g;
        json_array_foreach(granted, i, g)
        {
            if (strcmp(json_string_value(g) ?: "", t) == 0)
                ok = true;
        }
        if (!ok || json_array_size(scopes) >= OAUTH_MAX_SCOPES)
            bad = true;
        else
            json_array_append_new(scopes, json_string(t));
    }
    free(copy);
    if (bad) {
        oauth_error(c, 400, "invalid_scope", "One or more scopes are not configured for the authorization server "
                                             "resource.");
        goto out;
    }
    /* Drop expired tokens; keep the table under its cap. */
    int64_t now = time_now_ms();
    for (size_t i = json_array_size(c->o->tokens); i-- > 0;)
        if (json_integer_value(json_object_get(json_array_get(c->o->tokens, i), "expMs")) <= now)
            json_array_remove(c->o->tokens, i);
    while (json_array_size(c->o->tokens) >= SBOK_MAX_TOKENS)
        json_array_remove(c->o->tokens, 0);
    /* JWT-shaped like Okta's (a header, then random "claims" and
     * "signature": not a verifiable JWT; clients treat tokens as opaque) */
    char claims_[41], sig_[44], tok[sizeof SANDBOX_OKTA_TOKEN_HEADER + sizeof claims_ + sizeof sig_ + 2];
    sbok__rand_alnum(claims_, 40);
    sbok__rand_alnum(sig_, 43);
    snprintf(tok, sizeof tok, "%s.%s.%s", SANDBOX_OKTA_TOKEN_HEADER, claims_, sig_);
    const char *cid = json_string_value(
        json_object_get(json_object_get(json_object_get(app, "credentials"), "oauthClient"), "client_id"));
    json_t *rec = json_pack("{s:s, s:s, s:O, s:I, s:b}", "token", tok, "clientId", cid, "scopes", scopes, "expMs",
                            (json_int_t)(now + SBOK_TOKEN_LIFETIME_S * 1000), "dpop", dpop);
    if (dpop)
        json_object_set_new(rec, "jkt", json_string(jkt));
    json_array_append_new(c->o->tokens, rec);
    sbok__header(c, "Cache-Control", "no-store");
    sbok__header(c, "Pragma", "no-cache");
    sbok__json(c, 200, json_pack("{s:s, s:i, s:s, s:s}", "token_type", dpop ? "DPoP" : "Bearer", "expires_in",
                                 SBOK_TOKEN_LIFETIME_S, "access_token", tok, "scope", scope));
out:
    json_decref(scopes);
    json_decref(form);
}

const json_t *sbok__oauth_lookup(struct sbok_ctx *c, const char *token)
{
    size_t i;
    json_t *t;
    int64_t now = time_now_ms();
    json_array_foreach(c->o->tokens, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "token")) ?: "", token) != 0)
            continue;
        if (json_integer_value(json_object_get(t, "expMs")) <= now)
            return NULL;
        const char *cid = json_string_value(json_object_get(t, "clientId"));
        json_t *app = sbok__oauth_client(c->o, cid ? cid : "");
        json_decref(c->actor);
        c->actor = json_pack("{s:s, s:s, s:s, s:s}", "id", cid ? cid : "", "type", "PublicClientApp", "alternateId",
                             cid ? cid : "", "displayName", json_string_value(json_object_get(app, "label")) ?: "");
        return t;
    }
    return NULL;
}

bool sbok__scope_allows(const json_t *scopes, const char *need)
{
    size_t i, n = strlen(need);
    json_t *s;
    bool read = n > 5 && strcmp(need + n - 5, ".read") == 0;
    json_array_foreach(scopes, i, s)
    {
        const char *v = json_string_value(s) ?: "";
        if (strcmp(v, need) == 0)
            return true;
        /* okta.X.manage also allows okta.X.read */
        size_t vn = strlen(v);
        if (read && vn > 7 && strcmp(v + vn - 7, ".manage") == 0 && vn - 7 == n - 5 && strncmp(v, need, n - 5) == 0)
            return true;
    }
    return false;
}

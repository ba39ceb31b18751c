/* okta/dpop.c — the checks of a DPoP proof (RFC 9449) as Okta's org
 * authorization server and its management API make them: one function,
 * sbok__dpop_check(), used by the token endpoint (okta/oauth.c) and by
 * /api/v1 calls presenting `Authorization: DPoP` (okta/core.c), plus the
 * org's DPoP state: the two nonces, the set of proof jtis seen, counters.
 *
 * What answers a failed check (400 invalid_dpop_proof at the token
 * endpoint, 401 with WWW-Authenticate on a resource) is left to the
 * callers; this file only says which defect it found, in one static
 * sentence that names it (Okta's own text for a missing header).
 *
 * Invariants of struct sbok_dpop: jtis (a set) and jti_order (the same
 * strings, oldest first) always hold the same members, at most
 * SBOK_MAX_DPOP_JTIS; a jti enters once its proof's signature verified and
 * its iat is in the window, so junk cannot fill the set, and a refused
 * proof's jti stays spent (a client makes a new proof for every request).
 * The nonces are not secrets: they are sent to any caller.
 *
 * Called with sb->lock held (see okta/internal.h). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"
#include "crypto/dpop.h"
#include "crypto/jwk.h"
#include "crypto/jws.h"
#include "sandbox/okta/internal.h"

#define DPOP_MISSING "The DPoP proof JWT header is missing." /* Okta's text (support article of that name) */

int sbok__dpop_init(struct sbok_org *o)
{
    struct sbok_dpop *d = &o->dpop;
    memset(d, 0, sizeof *d);
    d->jtis = json_object();
    d->jti_order = json_array();
    d->refused = json_object();
    if (!d->jtis || !d->jti_order || !d->refused)
        return IDF_ENOMEM;
    sbok__dpop_rotate(o);
    return 0;
}

void sbok__dpop_free(struct sbok_org *o)
{
    json_decref(o->dpop.jtis);
    json_decref(o->dpop.jti_order);
    json_decref(o->dpop.refused);
    memset(&o->dpop, 0, sizeof o->dpop);
}

void sbok__dpop_rotate(struct sbok_org *o)
{
    sbok__rand_alnum(o->dpop.as_nonce, SBOK_DPOP_NONCE_LEN);
    sbok__rand_alnum(o->dpop.rs_nonce, SBOK_DPOP_NONCE_LEN);
}

void sbok__dpop_count(struct sbok_org *o, const char *reason)
{
    json_t *n = json_object_get(o->dpop.refused, reason);
    if (!n && json_object_size(o->dpop.refused) >= SBOK_MAX_DPOP_REASONS)
        reason = "other";
    n = json_object_get(o->dpop.refused, reason);
    json_object_set_new(o->dpop.refused, reason, json_integer(json_integer_value(n) + 1));
}

json_t *sbok__dpop_stats(const struct sbok_org *o)
{
    return json_pack("{s:I, s:I, s:O, s:I}", "proofs_accepted", (json_int_t)o->dpop.accepted, "nonce_challenges",
                     (json_int_t)o->dpop.challenges, "refused", o->dpop.refused, "replays",
                     (json_int_t)o->dpop.replays);
}

/* ---------------------------------------------------------- checks */

static bool count_dpop_header(void *ud, const char *name, const char *value)
{
    (void)value;
    if (strcasecmp(name, "DPoP") == 0)
        (*(int *)ud)++;
    return true;
}

/* True when the JWK carries a private member of an EC or RSA key. */
static bool has_private_member(const json_t *jwk)
{
    static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL};
    for (int i = 0; priv[i]; i++)
        if (json_object_get(jwk, priv[i]))
            return true;
    return false;
}

static bool alg_supported(const char *alg)
{
    static const char *const algs[] = {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", NULL};
    for (int i = 0; alg && algs[i]; i++)
        if (strcmp(alg, algs[i]) == 0)
            return true;
    return false;
}

/* True when htu is the URL this request came in on: the base the client
 * addressed (or the org's url) and the path, no query or fragment. */
static bool htu_matches(struct sbok_ctx *c, const char *htu)
{
    const char *path = c->req->raw_path;
    const char *org = json_string_value(json_object_get(c->o->org, "url"));
    size_t bl = strlen(c->base), ol = org ? strlen(org) : 0;
    if (strncmp(htu, c->base, bl) == 0 && strcmp(htu + bl, path) == 0)
        return true;
    return org && ol > 0 && strncmp(htu, org, ol) == 0 && strcmp(htu + ol, path) == 0;
}

/* Remembers jti; false when it was seen before (a replay). */
static bool jti_fresh(struct sbok_dpop *d, const char *jti)
{
    if (json_object_get(d->jtis, jti))
        return false;
    if (json_array_size(d->jti_order) >= SBOK_MAX_DPOP_JTIS) {
        json_object_del(d->jtis, json_string_value(json_array_get(d->jti_order, 0)));
        json_array_remove(d->jti_order, 0);
    }
    json_object_set_new(d->jtis, jti, json_true());
    json_array_append_new(d->jti_order, json_string(jti));
    return true;
}

enum sbok_dpop_verdict sbok__dpop_check(struct sbok_ctx *c, const struct sbok_dpop_want *w,
                                        char jkt_out[JWK_THUMBPRINT_SIZE], const char **why)
{
    struct sbok_dpop *d = &c->o->dpop;
    struct jws_parts jp = {0};
    EVP_PKEY *key = NULL;
    char *ath = NULL;
    const char *reason = NULL;
    enum sbok_dpop_verdict v = SBOK_DPOP_INVALID;
    int nheaders = 0;
    const char *proof = http_req_header(c->req, "DPoP");

    *why = NULL;
    jkt_out[0] = '\0';
    http_req_each_header(c->req, count_dpop_header, &nheaders);
    if (!proof || !*proof) {
        reason = "missing", *why = DPOP_MISSING;
        goto out;
    }
    /* two field lines, or a proxy's fold of them into one with a comma (RFC
     * 9110 §5.3): a compact JWS never holds a comma */
    if (nheaders > 1 || strchr(proof, ',')) {
        reason = "multiple", *why = "The request carries more than one DPoP header.";
        goto out;
    }
    if (strlen(proof) > SBOK_MAX_DPOP_PROOF || jws_split(proof, &jp) != 0) {
        reason = "malformed", *why = "The DPoP proof is not a compact JWS whose header and claims are JSON objects.";
        goto out;
    }
    const json_t *hdr = jp.header, *cl = jp.claims;
    const char *typ = json_string_value(json_object_get(hdr, "typ"));
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const json_t *jwk = json_object_get(hdr, "jwk");
    if (!typ || strcmp(typ, "dpop+jwt") != 0) {
        reason = "typ", *why = "The DPoP proof's typ header is not dpop+jwt.";
        goto out;
    }
    if (!alg_supported(alg)) {
        reason = "alg", *why = "The DPoP proof's alg is not supported (ES256, ES384, ES512, RS256, RS384, RS512).";
        goto out;
    }
    if (!json_is_object(jwk)) {
        reason = "jwk", *why = "The DPoP proof has no jwk header.";
        goto out;
    }
    if (has_private_member(jwk)) {
        reason = "private_jwk", *why = "The DPoP proof's jwk holds a private key member.";
        goto out;
    }
    if (!(key = jwk_to_pkey(jwk, false)) || jwk_thumbprint(jwk, jkt_out) != 0) {
        jkt_out[0] = '\0';
        reason = "jwk", *why = "The DPoP proof's jwk is not a usable EC or RSA public key.";
        goto out;
    }
    if (!jws_verify(key, alg, (const unsigned char *)proof, jp.signed_len, jp.sig, jp.sig_len)) {
        reason = "signature", *why = "The DPoP proof's signature does not verify with its jwk.";
        goto out;
    }
    const char *htm = json_string_value(json_object_get(cl, "htm"));
    const char *htu = json_string_value(json_object_get(cl, "htu"));
    const char *jti = json_string_value(json_object_get(cl, "jti"));
    const json_t *iat = json_object_get(cl, "iat");
    if (!htm || strcmp(htm, c->req->method) != 0) {
        reason = "htm", *why = "The DPoP proof's htm does not match the request method.";
        goto out;
    }
    if (!htu || !htu_matches(c, htu)) {
        reason = "htu", *why = "The DPoP proof's htu does not match the request URL (without query and fragment).";
        goto out;
    }
    double now = (double)(time_now_ms() / 1000 + c->o->dpop.clock_skew_s); /* the org's clock */
    if (!json_is_number(iat)) {
        reason = "iat", *why = "The DPoP proof has no iat claim.";
        goto out;
    }
    if (json_number_value(iat) < now - SBOK_DPOP_MAX_AGE_S) {
        reason = "iat_stale", *why = "The DPoP proof is stale: its iat is more than 300 seconds old.";
        goto out;
    }
    if (json_number_value(iat) > now + SBOK_DPOP_MAX_AHEAD_S) {
        reason = "iat_future", *why = "The DPoP proof's iat is more than 60 seconds in the future.";
        goto out;
    }
    if (!jti || !*jti || strlen(jti) > SBOK_MAX_DPOP_JTI_LEN) {
        reason = "jti", *why = "The DPoP proof has no jti claim (or one over 256 bytes).";
        goto out;
    }
    if (!jti_fresh(d, jti)) {
        d->replays++;
        reason = "replay", *why = "The DPoP proof's jti has already been used.";
        goto out;
    }
    if (w->access_token) {
        const char *got = json_string_value(json_object_get(cl, "ath"));
        if (!(ath = dpop_ath(w->access_token)) || !got || strcmp(got, ath) != 0) {
            reason = "ath", *why = "The DPoP proof's ath does not match the access token.";
            goto out;
        }
    }
    if (w->jkt && strcmp(w->jkt, jkt_out) != 0) {
        reason = "key_binding", *why = "The DPoP proof is signed by a key other than the one the access token is "
                                       "bound to.";
        goto out;
    }
    if (w->nonce) {
        const char *got = json_string_value(json_object_get(cl, "nonce"));
        if (!got || strcmp(got, w->nonce) != 0) {
            d->challenges++;
            v = SBOK_DPOP_USE_NONCE;
            goto out;
        }
    }
    d->accepted++;
    v = SBOK_DPOP_OK;
out:
    if (reason)
        sbok__dpop_count(c->o, reason);
    if (v != SBOK_DPOP_OK)
        jkt_out[0] = '\0';
    free(ath);
    EVP_PKEY_free(key);
    jws_parts_free(&jp);
    return v;
}

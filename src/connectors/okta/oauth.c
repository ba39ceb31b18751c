/* oauth.c — the OAuth 2.0 service-app credential of an Okta connection:
 * client credentials with a private_key_jwt assertion against the org
 * authorization server (POST {org}/oauth2/v1/token), and a cache of the
 * access tokens it returns.
 *
 * Connection fields: client_id, private_key (PEM, or a private JWK as JSON:
 * RSA or EC P-256/P-384/P-521), key_id (the `kid`; a JWK's own kid is used
 * when absent), scopes (space-separated string or array; default the
 * users/groups/apps read and manage scopes). The assertion is signed with
 * RS256 (RSA) or ES256/384/512 (EC), lives OKTAC_ASSERTION_TTL_S, and has a
 * random jti; Okta's token lives an hour and is renewed OKTAC_RENEW_MS
 * before it expires.
 *
 * Threads: any. The cache `tok_cache` is a documented singleton guarded by
 * `tok_lock`; it holds access tokens (secrets) in memory only, wiped when
 * replaced. The token request itself is made outside the lock (two threads
 * may both renew; the later one wins, both tokens are valid). */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/okta/okta_internal.h"
#include "core/buf.h"
#include "crypto/jwk.h"
#include "crypto/jws.h"
#include "core/timeutil.h"
#include "crypto/seal.h"
#include "net/http.h"

#define OKTAC_TOKEN_CACHE 64             /* cached access tokens (connections x scope sets) */
#define OKTAC_RENEW_MS (5LL * 60 * 1000) /* renew this long before expiry */
#define OKTAC_ASSERTION_TTL_S 300        /* the client assertion's lifetime (Okta: at most 1 h) */
#define OKTAC_MAX_KEY_TEXT (64u << 10)   /* a private key, PEM or JWK */
#define OKTAC_DEFAULT_SCOPES                                                                                           \
    "okta.users.read okta.users.manage okta.groups.read okta.groups.manage "                                           \
    "okta.apps.read okta.apps.manage"
#define JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

struct tok_entry {
    char key[OKTAC_MAX_CACHE_KEY]; /* base|client_id|scopes|key digest */
    char *token;                   /* owned, wiped when replaced */
    int64_t expires_ms;
    int64_t used_ms;
};

static pthread_mutex_t tok_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tok_entry tok_cache[OKTAC_TOKEN_CACHE]; /* guarded by tok_lock */

/* ---------------------------------------------------------------- keys */

/* Loads the connection's private key (PEM or private JWK); NULL when it
 * cannot be read. Caller frees with EVP_PKEY_free. */
static EVP_PKEY *load_key(const json_t *conn)
{
    const char *text = json_string_value(json_object_get(conn, "private_key"));
    EVP_PKEY *pkey = NULL;
    BIO *bio;

    if (!text || strlen(text) > OKTAC_MAX_KEY_TEXT)
        return NULL;
    if (text[strspn(text, " \t\r\n")] == '{') {
        json_t *jwk = json_loads(text, 0, NULL);
        pkey = jwk_to_pkey(jwk, true);
        json_decref(jwk);
        return pkey;
    }
    bio = BIO_new_mem_buf(text, -1);
    if (bio)
        pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return pkey;
}

/* The kid to put in the JWT header (new string or NULL). */
static char *key_id(const json_t *conn)
{
    const char *kid = json_string_value(json_object_get(conn, "key_id"));
    const char *text = json_string_value(json_object_get(conn, "private_key"));
    char *out = NULL;

    if (kid)
        return strdup(kid);
    if (text && text[strspn(text, " \t\r\n")] == '{') {
        json_t *jwk = json_loads(text, 0, NULL);
        const char *k = json_string_value(json_object_get(jwk, "kid"));
        out = k ? strdup(k) : NULL;
        json_decref(jwk);
    }
    return out;
}

/* ---------------------------------------------------------------- JWT */

/* Signs the client assertion: header {typ: "JWT"[, kid]}, alg from the key. */
static char *sign_jwt(EVP_PKEY *pkey, const char *kid, const json_t *claims)
{
    json_t *hdr = kid ? json_pack("{s:s, s:s}", "typ", "JWT", "kid", kid) : json_pack("{s:s}", "typ", "JWT");
    char *jwt = hdr ? jws_sign(pkey, hdr, claims) : NULL;

    json_decref(hdr);
    return jwt;
}

/* "scope1 scope2" from the config (string or array); caller frees. */
static char *scopes_of(const json_t *conn)
{
    const json_t *s = json_object_get(conn, "scopes");
    struct buf b;
    size_t i;
    json_t *v;

    if (json_is_string(s))
        return strdup(json_string_value(s));
    if (!json_is_array(s) || json_array_size(s) == 0)
        return strdup(OKTAC_DEFAULT_SCOPES);
    buf_init(&b, 4096);
    json_array_foreach (s, i, v) {
        if (!json_is_string(v) || buf_printf(&b, "%s%s", b.len ? " " : "", json_string_value(v)) != 0) {
            buf_free(&b);
            return NULL;
        }
    }
    return buf_take(&b);
}

int oktac__oauth_validate(const json_t *config, struct idf_err *err)
{
    EVP_PKEY *pkey;
    char *scopes;

    if (!json_is_string(json_object_get(config, "client_id")) ||
        !*json_string_value(json_object_get(config, "client_id")))
        return idf_err_set(err, IDF_EINVAL, "client_id must be a non-empty string");
    if (!json_is_string(json_object_get(config, "private_key")))
        return idf_err_set(err, IDF_EINVAL, "private_key (PEM or JWK) is required with client_id");
    pkey = load_key(config);
    if (!pkey)
        return idf_err_set(err, IDF_EINVAL, "private_key is not a readable RSA or EC private key (PEM or JWK)");
    EVP_PKEY_free(pkey);
    scopes = scopes_of(config);
    if (!scopes)
        return idf_err_set(err, IDF_EINVAL, "scopes must be a space-separated string or an array of strings");
    free(scopes);
    return 0;
}

/* ---------------------------------------------------------------- cache */

static char *cache_get(const char *key, int64_t now)
{
    char *tok = NULL;

    pthread_mutex_lock(&tok_lock);
    for (int i = 0; i < OKTAC_TOKEN_CACHE; i++) {
        struct tok_entry *e = &tok_cache[i];
        if (e->token && strcmp(e->key, key) == 0 && e->expires_ms - OKTAC_RENEW_MS > now) {
            e->used_ms = now;
            tok = strdup(e->token);
            break;
        }
    }
    pthread_mutex_unlock(&tok_lock);
    return tok;
}

static void cache_put(const char *key, const char *token, int64_t expires_ms, int64_t now)
{
    int slot = -1;

    pthread_mutex_lock(&tok_lock);
    for (int i = 0; i < OKTAC_TOKEN_CACHE && slot < 0; i++) {
        if (strcmp(tok_cache[i].key, key) == 0)
            slot = i;
    }
    for (int i = 0; i < OKTAC_TOKEN_CACHE && slot < 0; i++) {
        if (!tok_cache[i].token)
            slot = i;
    }
    if (slot < 0) { /* evict the least recently used */
        slot = 0;
        for (int i = 1; i < OKTAC_TOKEN_CACHE; i++) {
            if (tok_cache[i].used_ms < tok_cache[slot].used_ms)
                slot = i;
        }
    }
    seal_str_free(tok_cache[slot].token);
    snprintf(tok_cache[slot].key, sizeof tok_cache[slot].key, "%s", key);
    tok_cache[slot].token = strdup(token);
    tok_cache[slot].expires_ms = expires_ms;
    tok_cache[slot].used_ms = now;
    pthread_mutex_unlock(&tok_lock);
}

void oktac__oauth_forget(const struct oktac *o)
{
    if (!o->oauth_key[0])
        return;
    pthread_mutex_lock(&tok_lock);
    for (int i = 0; i < OKTAC_TOKEN_CACHE; i++) {
        if (tok_cache[i].token && strcmp(tok_cache[i].key, o->oauth_key) == 0) {
            seal_str_free(tok_cache[i].token);
            tok_cache[i].token = NULL;
            tok_cache[i].key[0] = '\0';
        }
    }
    pthread_mutex_unlock(&tok_lock);
}

/* --------------------------------------------------------------- token */

/* POSTs the token request; on success *token_out and *ttl_s. */
static int request_token(struct oktac *o, const char *form, char **token_out, int64_t *ttl_s)
{
    const char *headers[] = {"Accept: application/json", "Content-Type: application/x-www-form-urlencoded", NULL};
    char url[OKTAC_MAX_BASE + 32];
    struct http_request rq = {0};
    struct http_response hr = {0};
    struct ratelimit_grant g;
    struct ratelimit_obs obs;
    struct idf_err err = {0};
    json_t *j = NULL;
    int64_t wait;
    int rc;

    *token_out = NULL;
    wait = ratelimit_acquire(o->scope, "token", time_now_ms(), false, &g);
    if (wait > 0)
        return oktac__fail(o, IDF_EBUSY, true, wait,
                           "%s: OAuth token request paced by the rate limiter; next in %lld ms", o->s.action,
                           (long long)wait);
    snprintf(url, sizeof url, "%s/oauth2/v1/token", o->s.base);
    rq.method = "POST";
    rq.url = url;
    rq.headers = headers;
    rq.body = form;
    rq.body_len = strlen(form);
    rq.timeout_ms = OKTAC_TIMEOUT_MS;
    rq.connect_timeout_ms = OKTAC_CONNECT_TIMEOUT_MS;
    rq.max_response = 64u << 10;
    rq.https_only = !o->s.sandbox;
    rc = http_client_do(o->s.call->http, &rq, &hr, &err);
    if (rc) {
        ratelimit_release(&g, NULL);
        return oktac__fail(o, rc, rc == IDF_EIO || rc == IDF_ETIMEOUT, 0, "%s: OAuth token request: %s", o->s.action,
                           err.msg);
    }
    ratelimit_parse_headers(hr.headers, hr.status, time_now_ms(), &obs);
    ratelimit_release(&g, &obs);
    j = hr.body.len ? json_loadb(hr.body.data, hr.body.len, 0, NULL) : NULL;
    if (hr.status == 200 && json_is_string(json_object_get(j, "access_token"))) {
        *token_out = strdup(json_string_value(json_object_get(j, "access_token")));
        *ttl_s = json_is_integer(json_object_get(j, "expires_in"))
                     ? json_integer_value(json_object_get(j, "expires_in"))
                     : 3600;
        rc = *token_out ? 0 : oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
    } else {
        bool retry = hr.status == 429 || hr.status >= 500;
        rc = oktac__fail(o, hr.status == 401 || hr.status == 400 ? IDF_EAUTH : IDF_EREMOTE, retry,
                         hr.status == 429 ? ratelimit_retry_after_ms(&obs) : 0,
                         "%s: the OAuth token request was refused: HTTP %ld %s%s%s", o->s.action, hr.status,
                         json_string_value(json_object_get(j, "error")) ?: "",
                         json_object_get(j, "error_description") ? ": " : "",
                         json_string_value(json_object_get(j, "error_description")) ?: "");
    }
    if (j) { /* the body held the access token */
        json_t *at = json_object_get(j, "access_token");
        if (json_is_string(at))
            explicit_bzero((char *)json_string_value(at), json_string_length(at));
    }
    if (hr.body.data)
        explicit_bzero(hr.body.data, hr.body.len);
    json_decref(j);
    http_response_free(&hr);
    return rc;
}

int oktac__oauth_token(struct oktac *o, const json_t *conn, char **token_out)
{
    const char *cid = json_string_value(json_object_get(conn, "client_id"));
    const char *keytext = json_string_value(json_object_get(conn, "private_key"));
    char *scopes = scopes_of(conn), *kid = key_id(conn), *jwt = NULL, *form = NULL, *e_jwt = NULL, *e_scope = NULL,
         *e_cid = NULL, *tok = NULL;
    char cache_key[OKTAC_MAX_CACHE_KEY], aud[OKTAC_MAX_BASE + 32], digest_hex[33] = "";
    unsigned char digest[EVP_MAX_MD_SIZE], jti_raw[16];
    unsigned dlen = 0;
    EVP_PKEY *pkey = NULL;
    json_t *claims = NULL;
    int64_t now = time_now_ms(), ttl = 3600;
    int rc = 0;

    *token_out = NULL;
    if (!cid || !keytext || !scopes) {
        rc = oktac__fail(o, IDF_EAUTH, false, 0,
                         "%s: connection '%s' has an incomplete OAuth service app (client_id, "
                         "private_key, scopes)",
                         o->s.action, o->s.conn_name);
        goto out;
    }
    if (EVP_Digest(keytext, strlen(keytext), digest, &dlen, EVP_sha256(), NULL) == 1)
        for (unsigned i = 0; i < 16 && i < dlen; i++)
            snprintf(digest_hex + 2 * i, 3, "%02x", digest[i]);
    snprintf(cache_key, sizeof cache_key, "%.400s|%.200s|%.300s|%s", o->s.base, cid, scopes, digest_hex);
    snprintf(o->oauth_key, sizeof o->oauth_key, "%s", cache_key);
    *token_out = cache_get(cache_key, now);
    if (*token_out)
        goto out;

    pkey = load_key(conn);
    if (!pkey) {
        rc = oktac__fail(o, IDF_EAUTH, false, 0, "%s: connection '%s': the private key cannot be read", o->s.action,
                         o->s.conn_name);
        goto out;
    }
    if (RAND_bytes(jti_raw, sizeof jti_raw) != 1) {
        rc = oktac__fail(o, IDF_EIO, true, 0, "%s: no randomness for the client assertion", o->s.action);
        goto out;
    }
    char jti[33];
    for (size_t i = 0; i < sizeof jti_raw; i++)
        snprintf(jti + 2 * i, 3, "%02x", jti_raw[i]);
    snprintf(aud, sizeof aud, "%s/oauth2/v1/token", o->s.base);
    claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", cid, "sub", cid, "aud", aud, "iat",
                       (json_int_t)(now / 1000), "exp", (json_int_t)(now / 1000 + OKTAC_ASSERTION_TTL_S), "jti", jti);
    jwt = claims ? sign_jwt(pkey, kid, claims) : NULL;
    e_jwt = jwt ? http_urlencode(jwt) : NULL;
    e_scope = http_urlencode(scopes);
    e_cid = http_urlencode(cid);
    if (!e_jwt || !e_scope || !e_cid ||
        asprintf(&form, "grant_type=client_credentials&scope=%s&client_assertion_type=%s&client_assertion=%s", e_scope,
                 "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer", e_jwt) < 0) {
        form = NULL;
        rc = oktac__fail(o, IDF_EAUTH, false, 0, "%s: cannot sign the OAuth client assertion", o->s.action);
        goto out;
    }
    rc = request_token(o, form, &tok, &ttl);
    if (rc)
        goto out;
    if (ttl < 60)
        ttl = 60;
    cache_put(cache_key, tok, now + ttl * 1000, now);
    *token_out = tok;
    tok = NULL;
out:
    EVP_PKEY_free(pkey);
    json_decref(claims);
    seal_str_free(jwt);
    seal_str_free(form);
    seal_str_free(e_jwt);
    seal_str_free(tok);
    free(e_scope);
    free(e_cid);
    free(scopes);
    free(kid);
    return rc;
}

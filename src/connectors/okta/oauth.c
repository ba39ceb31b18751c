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
 * DPoP (RFC 9449; issue 18). Every token request carries a DPoP proof made
 * with the connection's DPoP key, whatever the app's setting, so idflow
 * never has to be told which mode an app uses: an app that requires DPoP
 * answers `use_dpop_nonce` with a DPoP-Nonce (retried once with the nonce
 * and a new assertion) and then a token of type "DPoP"; an app that does
 * not ignores the proof and answers "Bearer" (reported in okta/okta-sdk-
 * golang PR #597). The token's type decides how client.c sends it. The
 * DPoP key is an ES256 key made in memory per connection and process, not
 * stored: it only guards access tokens, which live in this process's
 * memory for an hour; a key on disk would be one more secret to seal,
 * back up and rotate for nothing (the client-assertion key, which is
 * stored, mints new tokens anyway). A restart makes a new key and fetches
 * new tokens. The newest nonces of the authorization server (token
 * endpoint) and of the resource server (the API) are kept per entry.
 *
 * Threads: any. The cache `tok_cache` is a documented singleton guarded by
 * `tok_lock`; it holds access tokens (secrets) in memory only, wiped when
 * replaced, and the DPoP keys (a caller takes its own reference). The
 * token request itself is made outside the lock (two threads may both
 * renew; the later one wins, both tokens are valid and bound to the same
 * key). */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/okta/okta_internal.h"
#include "core/buf.h"
#include "core/log.h"
#include "crypto/dpop.h"
#include "crypto/jwk.h"
#include "crypto/jws.h"
#include "core/timeutil.h"
#include "crypto/seal.h"
#include "net/http.h"

#define OKTAC_TOKEN_CACHE 64             /* cached access tokens (connections x scope sets) */
#define OKTAC_RENEW_MS (5LL * 60 * 1000) /* renew this long before expiry */
#define OKTAC_ASSERTION_TTL_S 300        /* the client assertion's lifetime (Okta: at most 1 h) */
#define OKTAC_MAX_KEY_TEXT (64u << 10)   /* a private key, PEM or JWK */
#define OKTAC_MAX_TOKEN_TTL_S 86400      /* the longest a token is kept, whatever expires_in says */
#define TOK_AGAIN 1                      /* request_token: answer the use_dpop_nonce challenge (not an IDF_E* code) */
#define OKTAC_DEFAULT_SCOPES                                                                                           \
    "okta.users.read okta.users.manage okta.groups.read okta.groups.manage "                                           \
    "okta.apps.read okta.apps.manage"

struct tok_entry {
    char key[OKTAC_MAX_CACHE_KEY]; /* base|client_id|scopes|key digest; "" when the slot is free */
    char *token;                   /* owned, wiped when replaced; NULL before the first or after a 401 */
    bool dpop;                     /* the token is DPoP-bound (token_type "DPoP") */
    bool mode_logged;              /* the app's mode was logged once */
    int64_t expires_ms;
    int64_t used_ms;
    EVP_PKEY *dpop_key;            /* owned reference: the connection's DPoP key in this process */
    char as_nonce[DPOP_MAX_NONCE]; /* the token endpoint's newest DPoP-Nonce, "" for none */
    char rs_nonce[DPOP_MAX_NONCE]; /* the API's newest DPoP-Nonce, "" for none */
};

static pthread_mutex_t tok_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tok_entry tok_cache[OKTAC_TOKEN_CACHE]; /* guarded by tok_lock */

/* ---------------------------------------------------------------- keys */

/* A PEM whose line breaks were lost ("-----BEGIN X-----MIIE...-----END
 * X-----", as a browser's password input leaves a pasted key) with its
 * lines back: header, the base64 in lines of 64, footer. NULL when text
 * has its line breaks or is not one PEM block (caller wipes and frees). */
static char *pem_reflow(const char *text)
{
    const char *begin = strstr(text, "-----BEGIN "), *hdr_end, *end;
    struct buf b;
    size_t col = 0;

    if (strchr(text, '\n') || !begin || !(hdr_end = strstr(begin + 11, "-----")) ||
        !(end = strstr(hdr_end + 5, "-----END ")))
        return NULL;
    hdr_end += 5;
    buf_init(&b, OKTAC_MAX_KEY_TEXT + 256);
    if (buf_printf(&b, "%.*s\n", (int)(hdr_end - begin), begin) != 0)
        goto fail;
    for (const char *p = hdr_end; p < end; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\r')
            continue;
        if (buf_printf(&b, "%c%s", *p, ++col % 64 == 0 ? "\n" : "") != 0)
            goto fail;
    }
    if (buf_printf(&b, "%s%s\n", col % 64 ? "\n" : "", end) != 0)
        goto fail;
    return buf_take(&b);
fail:
    if (b.data)
        explicit_bzero(b.data, b.len);
    buf_free(&b);
    return NULL;
}

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
    char *flowed = pem_reflow(text);
    bio = BIO_new_mem_buf(flowed ? flowed : text, -1);
    if (bio)
        pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    seal_str_free(flowed);
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

/* The entry of key, or NULL. tok_lock held. */
static struct tok_entry *entry_find(const char *key)
{
    for (int i = 0; i < OKTAC_TOKEN_CACHE; i++) {
        if (tok_cache[i].key[0] && strcmp(tok_cache[i].key, key) == 0)
            return &tok_cache[i];
    }
    return NULL;
}

/* The entry of key, made (a free slot, else the least recently used one,
 * emptied) when there is none. tok_lock held. */
static struct tok_entry *entry_get(const char *key, int64_t now)
{
    struct tok_entry *e = entry_find(key);
    int slot = -1;

    if (e)
        return e;
    for (int i = 0; i < OKTAC_TOKEN_CACHE && slot < 0; i++) {
        if (!tok_cache[i].key[0])
            slot = i;
    }
    if (slot < 0) { /* evict the least recently used */
        slot = 0;
        for (int i = 1; i < OKTAC_TOKEN_CACHE; i++) {
            if (tok_cache[i].used_ms < tok_cache[slot].used_ms)
                slot = i;
        }
    }
    e = &tok_cache[slot];
    seal_str_free(e->token);
    EVP_PKEY_free(e->dpop_key);
    memset(e, 0, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", key);
    e->used_ms = now;
    return e;
}

/* A live cached token of key (a new string), and when it is DPoP-bound a
 * new reference to the key it is bound to in *dkey (read together, so an
 * eviction in between cannot pair a token with another key); NULL when
 * there is none or it is due for renewal. */
static char *cache_get(const char *key, int64_t now, EVP_PKEY **dkey)
{
    struct tok_entry *e;
    char *tok = NULL;

    *dkey = NULL;
    pthread_mutex_lock(&tok_lock);
    e = entry_find(key);
    if (e && e->token && e->expires_ms - OKTAC_RENEW_MS > now &&
        (!e->dpop || (e->dpop_key && EVP_PKEY_up_ref(e->dpop_key) == 1))) {
        e->used_ms = now;
        tok = strdup(e->token);
        if (e->dpop) {
            if (tok)
                *dkey = e->dpop_key;
            else
                EVP_PKEY_free(e->dpop_key); /* the reference just taken */
        }
    }
    pthread_mutex_unlock(&tok_lock);
    return tok;
}

/* Keeps token for key, with the DPoP key it is bound to (dkey, borrowed;
 * the entry takes its own reference: the entry may have been evicted and
 * made again, with another key, since the request began). Returns true the
 * first time an entry learns its mode, for the caller to log it once. */
static bool cache_put(const char *key, const char *token, bool dpop, EVP_PKEY *dkey, int64_t expires_ms, int64_t now)
{
    struct tok_entry *e;
    bool first;

    pthread_mutex_lock(&tok_lock);
    e = entry_get(key, now);
    if (dkey && e->dpop_key != dkey && EVP_PKEY_up_ref(dkey) == 1) {
        EVP_PKEY_free(e->dpop_key);
        e->dpop_key = dkey;
    }
    seal_str_free(e->token);
    e->token = strdup(token);
    first = !e->mode_logged || e->dpop != dpop;
    e->dpop = dpop;
    e->mode_logged = true;
    e->expires_ms = expires_ms;
    e->used_ms = now;
    pthread_mutex_unlock(&tok_lock);
    return first;
}

/* A new reference to key's DPoP key, made on first use; NULL when OpenSSL
 * cannot make one. */
static EVP_PKEY *cache_dpop_key(const char *key, int64_t now)
{
    struct tok_entry *e;
    EVP_PKEY *k = NULL;

    pthread_mutex_lock(&tok_lock);
    e = entry_get(key, now);
    if (!e->dpop_key)
        e->dpop_key = dpop_key_new(); /* ~0.1 ms, once per connection and process */
    if (e->dpop_key && EVP_PKEY_up_ref(e->dpop_key) == 1)
        k = e->dpop_key;
    pthread_mutex_unlock(&tok_lock);
    return k;
}

/* Copies key's token-endpoint (as) or API nonce into out (n bytes), or,
 * with out NULL, keeps put there when it is a nonce worth keeping (else
 * nothing is done, not even the lock taken). */
static void cache_nonce(const char *key, bool as, char *out, size_t n, const char *put)
{
    struct tok_entry *e;

    if (out && n)
        out[0] = '\0';
    if (!key[0] || (!out && !oktac__dpop_nonce_ok(put)))
        return;
    pthread_mutex_lock(&tok_lock);
    e = entry_find(key);
    if (e) {
        char *slot = as ? e->as_nonce : e->rs_nonce;
        if (out)
            snprintf(out, n, "%s", slot);
        else
            snprintf(slot, DPOP_MAX_NONCE, "%s", put);
    }
    pthread_mutex_unlock(&tok_lock);
}

void oktac__dpop_nonce(const struct oktac *o, char *out, size_t n)
{
    cache_nonce(o->oauth_key, false, out, n, NULL);
}

void oktac__dpop_nonce_keep(const struct oktac *o, const char *nonce)
{
    cache_nonce(o->oauth_key, false, NULL, 0, nonce);
}

bool oktac__dpop_nonce_ok(const char *nonce)
{
    size_t n = nonce ? strlen(nonce) : 0;

    if (n == 0 || n >= DPOP_MAX_NONCE)
        return false;
    for (const char *p = nonce; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\')
            return false;
    }
    return true;
}

void oktac__oauth_forget(const struct oktac *o)
{
    struct tok_entry *e;

    if (!o->oauth_key[0])
        return;
    pthread_mutex_lock(&tok_lock);
    e = entry_find(o->oauth_key);
    if (e) { /* the key and the nonces stay: only the token was refused */
        seal_str_free(e->token);
        e->token = NULL;
    }
    pthread_mutex_unlock(&tok_lock);
}

/* --------------------------------------------------------------- token */

/* What one token request brought back. */
struct tok_answer {
    char *token; /* owned, a secret */
    int64_t ttl_s;
    bool dpop; /* token_type "DPoP" */
};

/* POSTs the token request with the DPoP proof (NULL: none); on success
 * fills a->token, ttl_s and dpop. A use_dpop_nonce refusal that brings a
 * nonce returns TOK_AGAIN with nothing written to the result (the caller
 * retries once). Any DPoP-Nonce answered is kept
 * for the next proof. */
static int request_token(struct oktac *o, const char *form, const char *proof, struct tok_answer *a)
{
    char url[OKTAC_MAX_BASE + 32], *dpop_line = NULL;
    const char *headers[] = {"Accept: application/json", "Content-Type: application/x-www-form-urlencoded", NULL, NULL};
    struct http_request rq = {0};
    struct http_response hr = {0};
    struct ratelimit_grant g;
    struct ratelimit_obs obs;
    struct idf_err err = {0};
    json_t *j = NULL;
    const char *nonce, *error, *type;
    int64_t wait;
    int rc;

    memset(a, 0, sizeof *a);
    wait = ratelimit_acquire(o->scope, "token", time_now_ms(), false, &g);
    if (wait > 0)
        return oktac__fail(o, IDF_EBUSY, true, wait,
                           "%s: OAuth token request paced by the rate limiter; next in %lld ms", o->s.action,
                           (long long)wait);
    if (proof && asprintf(&dpop_line, "DPoP: %s", proof) < 0) {
        ratelimit_release(&g, NULL);
        return oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
    }
    headers[2] = dpop_line;
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
    free(dpop_line);
    if (rc) {
        ratelimit_release(&g, NULL);
        return oktac__fail(o, rc, rc == IDF_EIO || rc == IDF_ETIMEOUT, 0, "%s: OAuth token request: %s", o->s.action,
                           err.msg);
    }
    ratelimit_parse_headers(hr.headers, hr.status, time_now_ms(), &obs);
    ratelimit_release(&g, &obs);
    nonce = json_string_value(json_object_get(hr.headers, "dpop-nonce"));
    cache_nonce(o->oauth_key, true, NULL, 0, nonce);
    j = hr.body.len ? json_loadb(hr.body.data, hr.body.len, 0, NULL) : NULL;
    error = json_string_value(json_object_get(j, "error"));
    type = json_string_value(json_object_get(j, "token_type"));
    if (hr.status == 200 && json_is_string(json_object_get(j, "access_token"))) {
        if (type && strcasecmp(type, "DPoP") == 0) {
            a->dpop = true;
        } else if (type && strcasecmp(type, "Bearer") != 0) {
            rc = oktac__fail(o, IDF_EREMOTE, false, 0,
                             "%s: the OAuth token endpoint answered a token of type '%.40s' (idflow uses Bearer and "
                             "DPoP tokens)",
                             o->s.action, type);
            goto out;
        }
        a->token = strdup(json_string_value(json_object_get(j, "access_token")));
        a->ttl_s = json_is_integer(json_object_get(j, "expires_in"))
                       ? json_integer_value(json_object_get(j, "expires_in"))
                       : 3600;
        rc = a->token ? 0 : oktac__fail(o, IDF_ENOMEM, true, 0, "%s: out of memory", o->s.action);
    } else if (hr.status == 400 && error && strcmp(error, "use_dpop_nonce") == 0 && proof) {
        if (oktac__dpop_nonce_ok(nonce)) {
            rc = TOK_AGAIN;
        } else {
            rc = oktac__fail(o, IDF_EREMOTE, true, 0,
                             "%s: the OAuth token endpoint asked for a DPoP nonce (use_dpop_nonce) but sent no "
                             "usable DPoP-Nonce header",
                             o->s.action);
        }
    } else {
        bool retry = hr.status == 429 || hr.status >= 500;
        const char *desc = json_string_value(json_object_get(j, "error_description"));
        bool bad_proof = error && strcmp(error, "invalid_dpop_proof") == 0;
        rc = oktac__fail(o, hr.status == 401 || hr.status == 400 ? IDF_EAUTH : IDF_EREMOTE, retry,
                         hr.status == 429 ? ratelimit_retry_after_ms(&obs) : 0,
                         "%s: the OAuth token request was refused: HTTP %ld %.100s%s%.300s%s", o->s.action, hr.status,
                         error ? error : "", desc ? ": " : "", desc ? desc : "",
                         bad_proof ? " (idflow's DPoP proof was refused; one made on a machine whose clock is off by "
                                     "minutes is: check this machine's time)"
                                   : "");
    }
out:
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

/* The form of one token request, with a freshly signed client assertion
 * (a new jti each time: Okta refuses an assertion used before). A new
 * string (a secret: the caller wipes it), or NULL. */
static char *token_form(struct oktac *o, EVP_PKEY *pkey, const char *kid, const char *cid, const char *scopes)
{
    char aud[OKTAC_MAX_BASE + 32], jti[33], *jwt = NULL, *e_jwt = NULL, *e_scope = NULL, *form = NULL;
    unsigned char jti_raw[16];
    int64_t now = time_now_ms();
    json_t *claims;

    if (RAND_bytes(jti_raw, sizeof jti_raw) != 1)
        return NULL;
    for (size_t i = 0; i < sizeof jti_raw; i++)
        snprintf(jti + 2 * i, 3, "%02x", jti_raw[i]);
    snprintf(aud, sizeof aud, "%s/oauth2/v1/token", o->s.base);
    claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", cid, "sub", cid, "aud", aud, "iat",
                       (json_int_t)(now / 1000), "exp", (json_int_t)(now / 1000 + OKTAC_ASSERTION_TTL_S), "jti", jti);
    jwt = claims ? sign_jwt(pkey, kid, claims) : NULL;
    e_jwt = jwt ? http_urlencode(jwt) : NULL;
    e_scope = http_urlencode(scopes);
    if (!e_jwt || !e_scope ||
        asprintf(&form, "grant_type=client_credentials&scope=%s&client_assertion_type=%s&client_assertion=%s", e_scope,
                 "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer", e_jwt) < 0)
        form = NULL;
    json_decref(claims);
    seal_str_free(jwt);
    seal_str_free(e_jwt);
    free(e_scope);
    return form;
}

int oktac__oauth_token(struct oktac *o, const json_t *conn, char **token_out, EVP_PKEY **dpop_key_out)
{
    const char *cid = json_string_value(json_object_get(conn, "client_id"));
    const char *keytext = json_string_value(json_object_get(conn, "private_key"));
    char *scopes = scopes_of(conn), *kid = key_id(conn), *form = NULL, *proof = NULL;
    char cache_key[OKTAC_MAX_CACHE_KEY], digest_hex[33] = "", url[OKTAC_MAX_BASE + 32], nonce[DPOP_MAX_NONCE];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    EVP_PKEY *pkey = NULL, *dkey = NULL;
    struct tok_answer a = {0};
    int64_t now = time_now_ms();
    int rc = 0;

    *token_out = NULL;
    *dpop_key_out = NULL;
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
    *token_out = cache_get(cache_key, now, dpop_key_out);
    if (*token_out)
        goto out;

    pkey = load_key(conn);
    if (!pkey) {
        rc = oktac__fail(o, IDF_EAUTH, false, 0, "%s: connection '%s': the private key cannot be read", o->s.action,
                         o->s.conn_name);
        goto out;
    }
    dkey = cache_dpop_key(cache_key, now);
    if (!dkey) {
        rc = oktac__fail(o, IDF_EIO, true, 0, "%s: cannot make a DPoP key", o->s.action);
        goto out;
    }
    snprintf(url, sizeof url, "%s/oauth2/v1/token", o->s.base);
    /* At most two requests: the second answers a use_dpop_nonce challenge. */
    for (int attempt = 0; attempt < 2; attempt++) {
        seal_str_free(form);
        free(proof);
        cache_nonce(cache_key, true, nonce, sizeof nonce, NULL);
        form = token_form(o, pkey, kid, cid, scopes);
        proof = dpop_proof(dkey, "POST", url, nonce, NULL);
        if (!form || !proof) {
            rc = oktac__fail(o, IDF_EAUTH, false, 0, "%s: cannot sign the OAuth client assertion or DPoP proof",
                             o->s.action);
            goto out;
        }
        rc = request_token(o, form, proof, &a);
        if (rc != TOK_AGAIN)
            break;
    }
    if (rc == TOK_AGAIN) /* challenged again right after answering with its nonce */
        rc = oktac__fail(o, IDF_EREMOTE, true, 0,
                         "%s: the OAuth token endpoint refused the DPoP nonce it had just sent (use_dpop_nonce "
                         "twice)",
                         o->s.action);
    if (rc)
        goto out;
    if (a.ttl_s < 60)
        a.ttl_s = 60;
    if (a.ttl_s > OKTAC_MAX_TOKEN_TTL_S) /* a remote's expires_in is not trusted to overflow a time */
        a.ttl_s = OKTAC_MAX_TOKEN_TTL_S;
    if (cache_put(cache_key, a.token, a.dpop, dkey, now + a.ttl_s * 1000, now))
        log_info("okta connection '%s': OAuth service app %s issues %s", o->s.conn_name, cid,
                 a.dpop ? "DPoP-bound tokens (its \"Require DPoP\" setting is on): every call carries a DPoP proof"
                        : "Bearer tokens (its \"Require DPoP\" setting is off)");
    *token_out = a.token;
    a.token = NULL;
    if (a.dpop) { /* the key the token is bound to: the one its proof was signed with */
        *dpop_key_out = dkey;
        dkey = NULL;
    }
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_free(dkey);
    seal_str_free(form);
    seal_str_free(a.token);
    free(proof);
    free(scopes);
    free(kid);
    return rc;
}

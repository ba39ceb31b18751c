/* token.c — API token generation and hashing with libsodium (see token.h).
 * Any thread: sodium_init is idempotent and thread-safe. */
#include "crypto/token.h"

#include <sodium.h>
#include <string.h>

int token_generate(char *out, size_t n)
{
    unsigned char raw[TOKEN_RANDOM_BYTES];
    size_t mark = strlen(TOKEN_MARK);

    if (n < TOKEN_LEN + 1 || sodium_init() < 0)
        return IDF_EINVAL;
    randombytes_buf(raw, sizeof raw);
    memcpy(out, TOKEN_MARK, mark);
    sodium_bin2base64(out + mark, n - mark, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    return strlen(out) == TOKEN_LEN ? 0 : IDF_EINVAL;
}

int token_hash(const char *token, char *out, size_t n)
{
    unsigned char h[TOKEN_HASH_HEX / 2];

    if (n < TOKEN_HASH_HEX + 1 || sodium_init() < 0)
        return IDF_EINVAL;
    if (crypto_generichash(h, sizeof h, (const unsigned char *)token, strlen(token), NULL, 0) != 0)
        return IDF_EINVAL;
    sodium_bin2hex(out, n, h, sizeof h);
    return 0;
}

int token_new(char *tok, size_t tok_n, char *hash, size_t hash_n, char *prefix, size_t prefix_n)
{
    if (prefix_n < TOKEN_PREFIX_LEN + 1 || token_generate(tok, tok_n) != 0 || token_hash(tok, hash, hash_n) != 0)
        return IDF_EINVAL;
    memcpy(prefix, tok, TOKEN_PREFIX_LEN);
    prefix[TOKEN_PREFIX_LEN] = '\0';
    return 0;
}

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool token_well_formed(const char *s)
{
    size_t mark = strlen(TOKEN_MARK);

    if (!s || strlen(s) != TOKEN_LEN || strncmp(s, TOKEN_MARK, mark) != 0)
        return false;
    for (s += mark; *s; s++)
        if (!b64url_char(*s))
            return false;
    return true;
}

static const char *const ROLE_NAMES[] = {NULL, "viewer", "approver", "operator", "admin"};

enum token_role token_role_parse(const char *s)
{
    for (int r = TOKEN_VIEWER; s && r <= TOKEN_ADMIN; r++)
        if (strcmp(s, ROLE_NAMES[r]) == 0)
            return (enum token_role)r;
    return 0;
}

const char *token_role_name(enum token_role r)
{
    return r >= TOKEN_VIEWER && r <= TOKEN_ADMIN ? ROLE_NAMES[r] : "none";
}

bool token_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > TOKEN_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!b64url_char(*s) && *s != '.')
            return false;
    return true;
}

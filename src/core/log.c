/* log.c — JSON-lines logging with redaction (see log.h).
 *
 * Globals: the level and fd are set in main() before threads start; the
 * secret list is guarded by `secrets_lock`. Each line is built in memory and
 * written with a single write(2), so lines from threads never interleave. */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_MAX_SECRETS 256
#define LOG_MIN_SECRET_LEN 6

static enum log_level min_level = LOG_INFO;
static int log_fd = 2;

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[LOG_MAX_SECRETS]; /* guarded by secrets_lock */
static size_t n_secrets;               /* guarded by secrets_lock */

static const char *const secret_keys[] = {
    "token", "secret", "password", "passwd", "authorization", "api_key", "apikey", "auth_code",
    "authcode", "private_key", "client_secret", "cookie", "master_key", "assertion",
    "access_token", "refresh_token", "x-api-key", "credentials", NULL,
};

void log_set_level(enum log_level lvl) { min_level = lvl; }
void log_set_fd(int fd) { log_fd = fd; }

int log_level_parse(const char *s, enum log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return IDF_EINVAL;
}

void log_add_secret(const char *value)
{
    if (!value || strlen(value) < LOG_MIN_SECRET_LEN)
        return;
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < n_secrets; i++) {
        if (strcmp(secrets[i], value) == 0)
            goto out;
    }
    if (n_secrets < LOG_MAX_SECRETS) {
        char *c = strdup(value);
        if (c)
            secrets[n_secrets++] = c;
    }
out:
    pthread_mutex_unlock(&secrets_lock);
}

bool log_key_is_secret(const char *key)
{
    for (int i = 0; secret_keys[i]; i++) {
        if (strcasestr(key, secret_keys[i]))
            return true;
    }
    return false;
}

/* True for a byte that ends a path inside a log line. */
static bool path_end(char c)
{
    return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == '?' ||
           c == '#' || c == '<' || c == '>';
}

/* Masks the secret segment of every hook path in s, "/hooks/<connector>/
 * <connection>/<secret>" (connectors/connector.h, conn_hook_path_secret):
 * whatever follows the connection up to the end of the path becomes '*'. */
static void mask_hook_paths(char *s)
{
    char *p = s;

    while ((p = strstr(p, "/hooks/")) != NULL) {
        int slashes = 0;

        for (p += 7; !path_end(*p) && slashes < 2; p++)
            if (*p == '/')
                slashes++;
        if (slashes < 2)
            continue; /* no secret segment in this one */
        for (; !path_end(*p); p++)
            *p = '*';
    }
}

void log_mask_secrets(char *s)
{
    if (!s)
        return;
    mask_hook_paths(s);
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < n_secrets; i++) {
        size_t n = strlen(secrets[i]);
        char *p = s;
        while ((p = strstr(p, secrets[i])) != NULL) {
            memset(p, '*', n);
            p += n;
        }
    }
    pthread_mutex_unlock(&secrets_lock);
}

json_t *log_redact(const json_t *v)
{
    json_t *out = NULL;

    if (!v)
        return NULL;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        out = json_object();
        json_object_foreach((json_t *)v, k, x)
        {
            if (log_key_is_secret(k) && !json_is_null(x) && !json_is_boolean(x))
                json_object_set_new(out, k, json_string("[redacted]"));
            else
                json_object_set_new(out, k, log_redact(x));
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        out = json_array();
        json_array_foreach(v, i, x) json_array_append_new(out, log_redact(x));
    } else if (json_is_string(v)) {
        char *c = strndup(json_string_value(v), json_string_length(v));
        if (!c)
            return json_string("");
        log_mask_secrets(c);
        out = json_stringn_nocheck(c, json_string_length(v));
        free(c);
    } else {
        out = json_deep_copy(v);
    }
    return out;
}

json_t *log_redact_text(const char *text)
{
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    json_t *out = log_redact(v);
    json_decref(v);
    return out;
}

void log_msg(enum log_level lvl, const json_t *fields, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char msg[2048];
    char ts[40];
    struct timespec now;
    struct tm tm;
    json_t *line = NULL;
    json_t *red = NULL;
    char *text = NULL;
    va_list ap;

    if (lvl < min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_mask_secrets(msg);

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             now.tv_nsec / 1000000);

    line = json_object();
    if (!line)
        return;
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(names[lvl]));
    json_object_set_new(line, "msg", json_string(msg));
    if (fields && json_is_object(fields)) {
        red = log_redact(fields);
        json_object_update_missing(line, red);
    }
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text) {
        size_t n = strlen(text);
        text[n] = '\n';
        ssize_t w = write(log_fd, text, n + 1);
        (void)w;
        free(text);
    }
    json_decref(red);
    json_decref(line);
}

/* log.h — one JSON object per line on stderr, secrets never included.
 *
 * A log line is {"ts": ..., "level": ..., "msg": ..., <fields>}. Fields whose
 * key names a secret (token, secret, password, authorization, api_key,
 * auth_code, key, cookie, ...) are replaced by "[redacted]" at any depth, and
 * every string registered with log_add_secret() is masked wherever it appears
 * in a message or a field value. Thread-safe: one write(2) per line. */
#ifndef IDF_CORE_LOG_H
#define IDF_CORE_LOG_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the lowest level written (default LOG_INFO). Call before threads start. */
void log_set_level(enum log_level lvl);

/* Parses "debug", "info", "warn", "error"; IDF_EINVAL otherwise. */
int log_level_parse(const char *s, enum log_level *out) IDF_MUST_USE;

/* Redirects output to fd (default 2). Call before threads start. */
void log_set_fd(int fd);

/* Registers a secret value (>= 6 chars) to mask in every later line. The
 * string is copied. Thread-safe. */
void log_add_secret(const char *value);

/* Writes one line. fields may be NULL; it is borrowed (not stolen). */
void log_msg(enum log_level lvl, const json_t *fields, const char *fmt, ...) IDF_PRINTF(3, 4);

#define log_info(...) log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, NULL, __VA_ARGS__)

/* True when key names a secret (case-insensitive match of the redaction list). */
bool log_key_is_secret(const char *key);

/* Returns a deep copy of v with secret-named keys replaced by "[redacted]" and
 * registered secrets masked in strings. Caller frees with json_decref. Used for
 * run history as well as logs. */
json_t *log_redact(const json_t *v);

/* The JSON text `text` (any JSON value) parsed and redacted as log_redact
 * does: what every answer that shows a stored event or run payload returns
 * (the API's runs, `idflow show`). NULL when text is NULL or does not parse.
 * Caller frees with json_decref. */
json_t *log_redact_text(const char *text);

/* Masks registered secrets inside s in place (same length, '*'), and the
 * secret segment of every hook path, /hooks/<connector>/<connection>/<secret>
 * (whatever follows the connection up to the end of the path). */
void log_mask_secrets(char *s);

#endif

/* err.h — idflow's one error convention.
 *
 * Functions that can fail return int: 0 on success, a negative IDF_E* code on
 * failure. Where a person will read the failure, the function also fills a
 * caller-owned `struct idf_err` with a message. Results go through *_out
 * parameters. */
#ifndef IDF_CORE_ERR_H
#define IDF_CORE_ERR_H

#include <stddef.h>

#define IDF_MUST_USE __attribute__((warn_unused_result))
#define IDF_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum {
    IDF_OK = 0,
    IDF_EINVAL = -1,    /* bad input: argument, file, request, parameter */
    IDF_ENOMEM = -2,    /* allocation failed */
    IDF_EIO = -3,       /* I/O or network failure (retryable for remote calls) */
    IDF_ENOTFOUND = -4, /* the named thing does not exist */
    IDF_EEXIST = -5,    /* already exists / duplicate */
    IDF_ETOOBIG = -6,   /* a size cap was hit */
    IDF_EPARSE = -7,    /* malformed JSON, YAML or expression */
    IDF_ETIMEOUT = -8,  /* a deadline passed */
    IDF_ESTATE = -9,    /* not allowed in the current state */
    IDF_EAUTH = -10,    /* missing or wrong credentials */
    IDF_EREMOTE = -11,  /* a remote API answered with an error */
    IDF_EBUSY = -12,    /* locked or contended; try again */
    IDF_EDB = -13,      /* the store failed */
    IDF_EDENIED = -14,  /* refused by policy (fence, loopback-only, role) */
    IDF_ECANCELLED = -15, /* done, but the run was cancelled meanwhile: stop working on it */
    IDF_ECRASH = -16,   /* a contained child process (the expression evaluator) crashed */
    IDF_ENOTSUP = -17,  /* this backend does not do that (store_listen on SQLite) */
};

/* Maximum length of an error message, including the terminating NUL. */
#define IDF_ERR_MSG_MAX 1024

struct idf_err {
    int code;                  /* the IDF_E* code, 0 when no error was set */
    char msg[IDF_ERR_MSG_MAX]; /* human-readable, never contains a secret */
};

/* Sets code and a printf-formatted message; returns code so callers can write
 * `return idf_err_set(err, IDF_EINVAL, "...")`. err may be NULL. */
int idf_err_set(struct idf_err *err, int code, const char *fmt, ...) IDF_PRINTF(3, 4);

/* Prefixes the existing message with a printf-formatted context ("file.yaml: "). */
void idf_err_prefix(struct idf_err *err, const char *fmt, ...) IDF_PRINTF(2, 3);

/* Clears err to "no error". err may be NULL. */
void idf_err_clear(struct idf_err *err);

/* A short constant name for a code ("invalid input", "not found", ...). */
const char *idf_strerror(int code);

#endif

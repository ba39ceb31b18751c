/* err.c — error codes and messages (see err.h). Stateless; any thread. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int idf_err_set(struct idf_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void idf_err_prefix(struct idf_err *err, const char *fmt, ...)
{
    char pre[IDF_ERR_MSG_MAX];
    char old[IDF_ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s%s", pre, old);
}

void idf_err_clear(struct idf_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

const char *idf_strerror(int code)
{
    switch (code) {
    case IDF_OK: return "ok";
    case IDF_EINVAL: return "invalid input";
    case IDF_ENOMEM: return "out of memory";
    case IDF_EIO: return "i/o error";
    case IDF_ENOTFOUND: return "not found";
    case IDF_EEXIST: return "already exists";
    case IDF_ETOOBIG: return "too large";
    case IDF_EPARSE: return "parse error";
    case IDF_ETIMEOUT: return "timed out";
    case IDF_ESTATE: return "not allowed in the current state";
    case IDF_EAUTH: return "authentication failed";
    case IDF_EREMOTE: return "remote error";
    case IDF_EBUSY: return "busy";
    case IDF_EDB: return "database error";
    case IDF_EDENIED: return "denied";
    case IDF_ECANCELLED: return "cancelled";
    case IDF_ECRASH: return "crashed";
    case IDF_ENOTSUP: return "not supported";
    default: return "unknown error";
    }
}

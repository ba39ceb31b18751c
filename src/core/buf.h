/* buf.h — growable byte buffers with a size cap fixed at init.
 *
 * Every buffer that holds input from outside (a request body, a response, a
 * file) has a cap; appending past it fails with IDF_ETOOBIG and leaves the
 * buffer as it was. The data is always NUL-terminated (the NUL is not counted
 * in len), so text can be used as a C string. */
#ifndef IDF_CORE_BUF_H
#define IDF_CORE_BUF_H

#include <stddef.h>

#include "core/err.h"

/* Named caps used across the code base. */
#define BUF_CAP_HTTP_BODY (1u << 20)      /* request bodies accepted by the server: 1 MiB */
#define BUF_CAP_HTTP_RESPONSE (8u << 20)  /* responses read by the http client: 8 MiB */
#define BUF_CAP_WORKFLOW_FILE (256u << 10) /* one workflow YAML file: 256 KiB */
#define BUF_CAP_EVENT (1u << 20)          /* one event JSON: 1 MiB */
#define BUF_CAP_SMALL (64u << 10)         /* messages, log lines */

struct buf {
    char *data; /* NUL-terminated contents, NULL until the first append */
    size_t len; /* bytes used, not counting the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* the cap: len never exceeds it */
};

/* Initializes an empty buffer that may grow up to max bytes. */
void buf_init(struct buf *b, size_t max);

/* Appends n bytes. IDF_ETOOBIG past the cap, IDF_ENOMEM; b unchanged on error. */
int buf_append(struct buf *b, const void *p, size_t n) IDF_MUST_USE;

/* Appends a C string. */
int buf_puts(struct buf *b, const char *s) IDF_MUST_USE;

/* Appends printf-formatted text. */
int buf_printf(struct buf *b, const char *fmt, ...) IDF_PRINTF(2, 3) IDF_MUST_USE;

/* Empties the buffer, keeping its allocation. */
void buf_reset(struct buf *b);

/* Hands the contents out (never NULL: "" for an empty buffer, or NULL only on
 * ENOMEM); the caller frees with free(). The buffer is left empty. */
char *buf_take(struct buf *b);

/* Frees the contents; b may be NULL. The buffer is left empty and reusable. */
void buf_free(struct buf *b);

#endif

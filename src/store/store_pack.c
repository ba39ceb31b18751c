/* store_pack.c — event data packed for storage, both backends (issue 20:
 * at most 3 KB on disk per one-step run with its event).
 *
 * An event's data (the normalized event with its raw LogEvent: about 2.4 KB
 * for an Okta user.account.lock) is the largest thing a run stores; on
 * SQLite a row of that size fills a 4 KiB page alone. Data of
 * STORE__PACK_MIN bytes or more is packed:
 *
 *     4 bytes   the length of the text, big-endian (at most STORE__PACK_MAX)
 *     n bytes   the text, a zlib stream (RFC 1950, so inflate checks its
 *               Adler-32), deflated at level 1 with a 4 KiB window
 *
 * and kept only when it saves at least an eighth; smaller data stays text.
 * Where each backend puts the packed bytes and how a reader tells the two
 * forms apart: SQLite, a BLOB in events.data (sqlite_events.c); PostgreSQL,
 * the column events.packed (postgres_events.c). The cost was measured
 * (docs/internals/store.md, "Packed event data").
 *
 * Nothing else is packed: runs' context and steps' input and output are a
 * few hundred bytes for a typical step. No state: each call makes its own
 * zlib stream (the 4 KiB window makes that cheap). Any thread. */
#include "store/store_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define PACK_HEADER 4       /* the length prefix */
#define PACK_LEVEL 1        /* deflate level: the fastest; level 6 saves ~4 % more for ~30 % more CPU */
#define PACK_WINDOW_BITS 12 /* a 4 KiB window: events are a few KB; zlib format (not raw deflate) */
#define PACK_MEM_LEVEL 6    /* an 8K-entry hash: less to set up per call than the default (memLevel 8) */

int store__pack(const char *text, unsigned char **out, size_t *n_out)
{
    size_t len = text ? strlen(text) : 0, cap;
    unsigned char *buf = NULL;
    z_stream z;
    int rc = 0;

    *out = NULL;
    *n_out = 0;
    if (len < STORE__PACK_MIN || len > STORE__PACK_MAX)
        return 0;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, PACK_LEVEL, Z_DEFLATED, PACK_WINDOW_BITS, PACK_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
        return IDF_ENOMEM;
    cap = PACK_HEADER + len - len / 8; /* kept only when it saves an eighth */
    buf = malloc(cap);
    if (!buf) {
        rc = IDF_ENOMEM;
        goto out;
    }
    buf[0] = (unsigned char)(len >> 24);
    buf[1] = (unsigned char)(len >> 16);
    buf[2] = (unsigned char)(len >> 8);
    buf[3] = (unsigned char)len;
    z.next_in = (Bytef *)(uintptr_t)text;
    z.avail_in = (uInt)len;
    z.next_out = buf + PACK_HEADER;
    z.avail_out = (uInt)(cap - PACK_HEADER);
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        goto out; /* did not fit in cap: not worth it, stays text */
    *out = buf;
    *n_out = PACK_HEADER + z.total_out;
    buf = NULL;
out:
    deflateEnd(&z);
    free(buf);
    return rc;
}

int store__unpack(const unsigned char *p, size_t n, char **out)
{
    size_t len;
    char *text = NULL;
    z_stream z;
    int zrc;

    *out = NULL;
    if (!p || n <= PACK_HEADER)
        return IDF_EDB; /* too short to be packed data */
    len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | (size_t)p[3];
    if (len > STORE__PACK_MAX)
        return IDF_EDB;
    text = malloc(len + 1);
    if (!text)
        return IDF_ENOMEM;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) {
        free(text);
        return IDF_ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)(p + PACK_HEADER);
    z.avail_in = (uInt)(n - PACK_HEADER);
    z.next_out = (Bytef *)text;
    z.avail_out = (uInt)len;
    zrc = inflate(&z, Z_FINISH);
    /* exactly len bytes, the whole stream, its checksum right */
    if (zrc != Z_STREAM_END || z.total_out != len || z.avail_in != 0 || memchr(text, '\0', len)) {
        inflateEnd(&z);
        free(text);
        return zrc == Z_MEM_ERROR ? IDF_ENOMEM : IDF_EDB;
    }
    inflateEnd(&z);
    text[len] = '\0';
    *out = text;
    return 0;
}

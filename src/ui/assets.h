/* assets.h — the web UI's files, embedded in the binary (src/ui/assets.c).
 *
 * The UI is plain HTML, CSS and JavaScript modules kept as files in src/ui/
 * and assembled into the binary's read-only data with `.incbin`, so `idflow
 * serve` needs nothing on disk to serve it. The table is immutable and
 * built at link time: any thread may read it. */
#ifndef IDF_UI_ASSETS_H
#define IDF_UI_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

#define UI_ASSET_NAME_MAX 64 /* longest asset file name ("app.js") */

struct ui_asset {
    const char *name;          /* file name under src/ui/, served as /ui/<name> */
    const char *content_type;  /* static string, with charset for text */
    const unsigned char *data; /* the file's bytes; borrowed, valid for the process */
    size_t len;                /* its size in bytes */
};

/* True, with *out filled, when there is an asset called name ("app.js", no
 * directory); false otherwise (out untouched). */
bool ui_asset_find(const char *name, struct ui_asset *out);

/* True, with *out filled, for the n-th asset (0-based, a fixed order); false
 * past the last. For listing them (tests, docs). */
bool ui_asset_at(size_t n, struct ui_asset *out);

#endif

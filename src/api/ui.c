/* ui.c — serves the web UI's files (src/ui/, embedded by ui/assets.c): "/"
 * is index.html, "/ui/<file>" each asset by name. docs/ui.md describes the UI.
 *
 * The files hold no data, so no token is needed to fetch them: the pages
 * call the API with the token the user pastes, which the API checks. Every
 * answer carries the same strict headers: a Content-Security-Policy that
 * allows only this origin's scripts, styles, images and API calls (no inline
 * script or style, no eval, no framing), nosniff, no referrer, and no-cache
 * so a new binary's UI is picked up at once. GET and HEAD only (405
 * otherwise); an unknown file is 404. HTTP server threads; no state. */
#include <string.h>

#include "api/api_internal.h"
#include "core/log.h"
#include "ui/assets.h"

#define UI_PREFIX "/ui/"

/* Applied to every answer of this route, errors included. */
static const char *const ui_headers[][2] = {
    {"Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
     "font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Cache-Control", "no-cache"},
};

void api__ui_route(struct api *a, const struct http_req *req, struct http_resp *resp)
{
    const char *p = req->path;
    const char *name = NULL;
    struct ui_asset asset;

    (void)a;
    for (size_t i = 0; i < sizeof ui_headers / sizeof ui_headers[0]; i++) {
        if (http_resp_header(resp, ui_headers[i][0], ui_headers[i][1]) != 0)
            log_warn("ui: could not add the %s header", ui_headers[i][0]);
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        if (http_resp_header(resp, "Allow", "GET, HEAD") != 0)
            log_warn("ui: could not add the Allow header");
        api__error(resp, 405, "use GET");
        return;
    }
    if (strcmp(p, "/") == 0)
        name = "index.html";
    else if (strncmp(p, UI_PREFIX, strlen(UI_PREFIX)) == 0)
        name = p + strlen(UI_PREFIX);
    /* names are flat ("app.js"): anything with a slash is not one of them */
    if (!name || strchr(name, '/') || !ui_asset_find(name, &asset)) {
        api__error(resp, 404, "not found");
        return;
    }
    resp->status = 200;
    resp->content_type = asset.content_type;
    buf_reset(&resp->body);
    if (buf_append(&resp->body, asset.data, asset.len) != 0) {
        buf_reset(&resp->body);
        api__error(resp, 500, "could not build the answer");
    }
}

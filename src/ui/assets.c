/* assets.c — the table of the web UI's files, embedded with `.incbin`.
 *
 * Each UI_ASSET line assembles one file of src/ui/ into .rodata between a
 * start label and an end label, and lets the assembler compute its size
 * into a 64-bit word next to it (a NUL byte follows each file, not counted):
 * no xxd, no generated source, nothing to install. The paths are relative to
 * the repository root, where make runs the compiler. `-MMD` cannot see an
 * .incbin, so the Makefile makes this object depend on every other file in
 * src/ui/: editing app.js rebuilds it.
 *
 * Adding a file: one UI_ASSET line and one row in `assets` below, with its
 * content type. Read-only after link; any thread. */
#include <string.h>

#include "ui/assets.h"

/* sym: the C name of the bytes; file: path from the repository root. */
#define UI_ASSET(sym, file)                                                                                            \
    __asm__(".pushsection .rodata\n"                                                                                   \
            ".global " #sym "\n"                                                                                       \
            ".hidden " #sym "\n"                                                                                       \
            ".type " #sym ", @object\n"                                                                                \
            ".balign 16\n" #sym ":\n"                                                                                  \
            ".incbin \"" file "\"\n" #sym "_end:\n"                                                                    \
            ".byte 0\n"                                                                                                \
            ".size " #sym ", " #sym "_end - " #sym "\n"                                                                \
            ".balign 8\n"                                                                                              \
            ".global " #sym "_size\n"                                                                                  \
            ".hidden " #sym "_size\n"                                                                                  \
            ".type " #sym "_size, @object\n" #sym "_size:\n"                                                           \
            ".quad " #sym "_end - " #sym "\n"                                                                          \
            ".size " #sym "_size, 8\n"                                                                                 \
            ".popsection\n");                                                                                          \
    extern const unsigned char sym[];                                                                                  \
    extern const unsigned long long sym##_size

UI_ASSET(idf_ui_index_html, "src/ui/index.html");
UI_ASSET(idf_ui_style_css, "src/ui/style.css");
UI_ASSET(idf_ui_favicon_svg, "src/ui/favicon.svg");
UI_ASSET(idf_ui_app_js, "src/ui/app.js");
UI_ASSET(idf_ui_api_js, "src/ui/api.js");
UI_ASSET(idf_ui_dom_js, "src/ui/dom.js");
UI_ASSET(idf_ui_runs_js, "src/ui/runs.js");
UI_ASSET(idf_ui_approvals_js, "src/ui/approvals.js");
UI_ASSET(idf_ui_workflows_js, "src/ui/workflows.js");
UI_ASSET(idf_ui_connections_js, "src/ui/connections.js");
UI_ASSET(idf_ui_admin_js, "src/ui/admin.js");
UI_ASSET(idf_ui_history_js, "src/ui/history.js");

#define TEXT(t) t "; charset=utf-8"

/* Sizes are link-time constants but not C constant expressions, so the
 * table points at them and ui_asset_* reads them. */
static const struct {
    const char *name;
    const char *content_type;
    const unsigned char *data;
    const unsigned long long *size;
} assets[] = {
    {"index.html", TEXT("text/html"), idf_ui_index_html, &idf_ui_index_html_size},
    {"style.css", TEXT("text/css"), idf_ui_style_css, &idf_ui_style_css_size},
    {"favicon.svg", "image/svg+xml", idf_ui_favicon_svg, &idf_ui_favicon_svg_size},
    {"app.js", TEXT("text/javascript"), idf_ui_app_js, &idf_ui_app_js_size},
    {"api.js", TEXT("text/javascript"), idf_ui_api_js, &idf_ui_api_js_size},
    {"dom.js", TEXT("text/javascript"), idf_ui_dom_js, &idf_ui_dom_js_size},
    {"runs.js", TEXT("text/javascript"), idf_ui_runs_js, &idf_ui_runs_js_size},
    {"approvals.js", TEXT("text/javascript"), idf_ui_approvals_js, &idf_ui_approvals_js_size},
    {"workflows.js", TEXT("text/javascript"), idf_ui_workflows_js, &idf_ui_workflows_js_size},
    {"connections.js", TEXT("text/javascript"), idf_ui_connections_js, &idf_ui_connections_js_size},
    {"admin.js", TEXT("text/javascript"), idf_ui_admin_js, &idf_ui_admin_js_size},
    {"history.js", TEXT("text/javascript"), idf_ui_history_js, &idf_ui_history_js_size},
};

#define N_ASSETS (sizeof assets / sizeof assets[0])

bool ui_asset_at(size_t n, struct ui_asset *out)
{
    if (n >= N_ASSETS)
        return false;
    out->name = assets[n].name;
    out->content_type = assets[n].content_type;
    out->data = assets[n].data;
    out->len = (size_t)*assets[n].size;
    return true;
}

bool ui_asset_find(const char *name, struct ui_asset *out)
{
    if (!name || strlen(name) > UI_ASSET_NAME_MAX)
        return false;
    for (size_t i = 0; i < N_ASSETS; i++) {
        if (strcmp(assets[i].name, name) == 0)
            return ui_asset_at(i, out);
    }
    return false;
}

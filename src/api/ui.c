/* ui.c — the web UI's static assets (placeholder until the UI lands: every
 * path answers 404). */
#include "api/api_internal.h"

void api__ui_route(struct api *a, const struct http_req *req, struct http_resp *resp)
{
    (void)a;
    (void)req;
    http_resp_json(resp, 404, json_pack("{s:s}", "error", "not found"));
}

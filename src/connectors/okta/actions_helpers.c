/* actions_helpers.c — okta.request, the escape hatch: any Okta API call
 * with the connection's credentials, the same pacing, size caps and error
 * mapping as every other action.
 *
 * The path is relative to the org ("/api/v1/...") or an absolute URL on the
 * org's own origin (e.g. a `next` link from an earlier answer); anything
 * else is refused before a byte is sent, so the token never travels to
 * another host. `paginate: true` follows `Link: rel="next"` for a GET and
 * returns the items. Worker threads; no state of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/okta/okta_internal.h"
#include "core/buf.h"
#include "net/http.h"

static bool method_ok(const char *m)
{
    static const char *const ok[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};
    for (int i = 0; ok[i]; i++) {
        if (strcmp(ok[i], m) == 0)
            return true;
    }
    return false;
}

OKTAC__ACTION(oktac__act_request)
{
    struct oktac o;
    struct oktac_resp r = {0};
    const char *method = json_string_value(json_object_get(params, "method"));
    const char *path = json_string_value(json_object_get(params, "path"));
    const json_t *query = json_object_get(params, "query");
    const json_t *body = json_object_get(params, "json");
    char *full = NULL;
    int rc = oktac__open(&o, call, res, "okta.request");

    if (!method)
        method = "GET";
    if (rc)
        goto out;
    if (!method_ok(method)) {
        rc = oktac__fail(&o, IDF_EINVAL, false, 0, "okta.request: unsupported method '%s'", method);
        goto out;
    }
    if (!path || !*path) {
        rc = oktac__fail(&o, IDF_EINVAL, false, 0, "okta.request: path is required (e.g. /api/v1/users/me)");
        goto out;
    }
    if (query && !json_is_null(query) && !json_is_object(query)) {
        rc = oktac__fail(&o, IDF_EINVAL, false, 0, "okta.request: query must be an object");
        goto out;
    }
    full = json_is_object(query) ? http_url_with_query(path, query, OKTAC_MAX_URL) : strdup(path);
    if (!full) {
        rc = oktac__fail(&o, IDF_EINVAL, false, 0,
                         "okta.request: the query must map names to strings, numbers or booleans (and fit in %d "
                         "bytes)",
                         OKTAC_MAX_URL);
        goto out;
    }
    if (oktac__param_bool(params, "paginate", false)) {
        json_t *items = NULL;
        bool truncated = false;
        size_t cap;
        if (strcmp(method, "GET") != 0) {
            rc = oktac__fail(&o, IDF_EINVAL, false, 0, "okta.request: paginate needs method GET");
            goto out;
        }
        if ((rc = oktac__param_cap(&o, params, &cap)) != 0 ||
            (rc = oktac__list(&o, full, cap, &items, &truncated)) != 0)
            goto out;
        res->output = json_pack("{s:i, s:o, s:I, s:b, s:b, s:s}", "status", 200, "items", items, "count",
                                (json_int_t)json_array_size(items), "truncated", truncated, "changed", 0, "request_id",
                                o.request_id);
        goto out;
    }
    rc = oktac__call(&o, method, full, json_is_null(body) ? NULL : body, &r, NULL);
    if (rc)
        goto out;
    res->output = json_pack("{s:i, s:O, s:b, s:s}", "status", (int)r.status, "json", r.json ? r.json : json_null(),
                            "changed", strcmp(method, "GET") != 0, "request_id", o.request_id);
    if (r.next)
        json_object_set_new(res->output, "next", json_string(r.next));
out:
    oktac__resp_free(&r);
    free(full);
    return oktac__close(&o, rc);
}

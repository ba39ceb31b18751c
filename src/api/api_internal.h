/* api_internal.h — shared between the files of src/api/ (private). */
#ifndef IDF_API_INTERNAL_H
#define IDF_API_INTERNAL_H

#include "api/api.h"

#define API_HOOKS_PREFIX "/hooks/"
#define API_HOOKS_MAX_BODY (1u << 20) /* a hook delivery's body: 1 MiB (Okta batches stay far below) */

/* hooks.c: /hooks/<connector>/<connection> — any connector whose descriptor
 * has an ingress hook (connectors/connector.h). rest is the path after
 * API_HOOKS_PREFIX. Answers only after every event of the delivery was
 * acknowledged by the engine (durable, deduplicated). */
void api__hooks_route(struct api *a, const struct http_req *req, struct http_resp *resp, const char *rest);

#endif

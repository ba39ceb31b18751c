/* conn_url.c — what every connector checks of a remote account's base URL
 * (see connector.h): https only unless the connection is a sandbox, no user
 * name or password, no query or fragment, the host lower-cased. Each
 * connector adds its own rules for the path and the host. Stateless; any
 * thread. */
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "connectors/connector.h"

bool conn_is_sandbox(const json_t *conn)
{
    const json_t *v = json_object_get(conn, "sandbox");
    return json_is_true(v) || (json_is_string(v) && strcasecmp(json_string_value(v), "true") == 0);
}

int conn_base_url(const char *url, bool sandbox, const char *product, const char *example, struct conn_url *out,
                  struct idf_err *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *frag = NULL, *user = NULL;
    int rc = 0;

    memset(out, 0, sizeof *out);
    if (!u)
        return idf_err_set(err, IDF_ENOMEM, "out of memory");
    if (!url || !*url || strlen(url) >= sizeof out->base || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        rc = idf_err_set(err, IDF_EINVAL, "url: not a URL (expected e.g. %s)", example);
        goto out;
    }
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
    curl_url_get(u, CURLUPART_USER, &user, 0);
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strcasecmp(scheme, "https") != 0 && !(sandbox && strcasecmp(scheme, "http") == 0)) {
        rc = idf_err_set(err, IDF_EINVAL,
                         "url: %s:// is refused: %s is reached over https only (plain http only for a connection "
                         "marked \"sandbox\": true)",
                         scheme, product);
    } else if (user) {
        rc = idf_err_set(err, IDF_EINVAL, "url: must not carry a user name or password");
    } else if (query || frag) {
        rc = idf_err_set(err, IDF_EINVAL, "url: must not have a query or fragment; give the account URL only (%s)",
                         example);
    } else if ((size_t)snprintf(out->base, sizeof out->base, "%s://%s%s%s",
                                strcasecmp(scheme, "https") == 0 ? "https" : "http", host, port ? ":" : "",
                                port ? port : "") >= sizeof out->base ||
               strlen(host) >= sizeof out->host || (path && strlen(path) >= sizeof out->path)) {
        rc = idf_err_set(err, IDF_ETOOBIG, "url: too long");
    } else {
        snprintf(out->host, sizeof out->host, "%s", host);
        snprintf(out->path, sizeof out->path, "%s", path ? path : "");
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_free(frag);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}

/* example_connector.h — the worked example of docs/internals/connectors.md:
 * a whole connector ("example") for a made-up JSON API, written with only
 * connectors/connector.h and the connector toolkit (connectors/toolkit.h).
 * Compiled into the tests and exercised by tests/unit/test_example_connector.c
 * against a loopback server; not in the built-in registry:
 * tests/unit/test_example_in_engine.c adds it to a table of its own with one
 * line and runs it through an engine.
 *
 * The API: GET /api/items/{id} and POST /api/items {"name"} with
 * `Authorization: Bearer <token>`; errors are {"error": {"message": ...}};
 * it pushes {"id", "item"} to /hooks/example/<connection> with the
 * connection's hook_secret in X-Example-Secret. */
#ifndef IDF_TESTS_EXAMPLE_CONNECTOR_H
#define IDF_TESTS_EXAMPLE_CONNECTOR_H

#include "connectors/connector.h"

extern const struct connector example_connector;

#endif

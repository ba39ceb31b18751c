/* engine_fixture.h — an engine started inside the test program, for engine
 * unit tests (tests/unit/test_engine_*.c).
 *
 * A fixture owns a temporary directory holding a SQLite store and a
 * workflows folder; the test writes workflow files, starts one or more
 * engines on that store (by default with the fake connector's table,
 * fakeconn.h, as their connectors), submits events and waits for outcomes by
 * polling the store with a deadline. No idflow process is started (the
 * engine's expression evaluators are its own children: the test program's
 * main must hand "__expr-worker" to expr_worker_main, as idflow's does).
 *
 *   struct ef f;
 *   ef_init(&f);
 *   ef_workflow(&f, "w", "on: fake.event\nsteps:\n  - do: fake.call\n    with: {key: a}\n");
 *   struct engine *e = ef_engine(&f, NULL);
 *   int64_t run = ef_submit(&f, e, "w", NULL);
 *   ef_wait_status(&f, run, "succeeded", 5000);
 *   ef_cleanup(&f);
 *
 * One thread (the test's) uses a fixture. Support code does not link
 * cmocka: failures are returned (and printed to stderr), the test asserts. */
#ifndef IDF_TESTS_ENGINE_FIXTURE_H
#define IDF_TESTS_ENGINE_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"
#include "store/store.h"

#define EF_MAX_ENGINES 4

struct ef {
    char *dir;                              /* the temporary directory (owned) */
    char db_url[1100];                      /* "sqlite:<dir>/idflow.db", or the URL ef_init_url was given */
    char wfdir[600];                        /* "<dir>/workflows" */
    struct store *st;                       /* the test thread's store connection */
    struct engine *engines[EF_MAX_ENGINES]; /* started by ef_engine, freed by ef_cleanup */
};

/* Creates the directory, the workflows folder and the store, and resets the
 * fake connector. 0, or -1 (printed). Clean up with ef_cleanup, even after a
 * failure. */
int ef_init(struct ef *f);
/* The same on the database db_url (a PostgreSQL schema of the test's own,
 * tests/support/storeurl.h; NULL: the SQLite file of ef_init), which the
 * fixture does not remove. */
int ef_init_url(struct ef *f, const char *db_url);

/* Writes <wfdir>/<name>.yaml. 0 or -1. */
int ef_workflow(struct ef *f, const char *name, const char *yaml);

/* Starts an engine on the fixture's store and workflows: opts may be NULL;
 * its workflows_dir is set by the fixture, a NULL db_url becomes the
 * fixture's (another URL of the same database may be given, e.g. with an
 * application_name of its own), and a NULL
 * connectors becomes fakeconn_registry(). workers default to 2, idle_poll_ms
 * to 20. The engine is freed by ef_cleanup (or earlier by ef_engine_free).
 * NULL when it cannot start (the reason printed). */
struct engine *ef_engine(struct ef *f, const struct engine_opts *opts);
/* Stops and frees one engine started by ef_engine (its calls in flight answer first). */
void ef_engine_free(struct ef *f, struct engine *e);

/* Submits an event of type "fake.event" (source "test") for workflow
 * (NULL: every match), data as JSON text (NULL: {}). The first run it
 * created, or -1 (printed) when none was. */
int64_t ef_submit(struct ef *f, struct engine *e, const char *workflow, const char *data);

/* The run as stored now (caller frees with store_run_free), or NULL. */
struct store_run *ef_run(struct ef *f, int64_t run_id);
/* The run's step records as the API shows them (store_step_list, render_steps;
 * caller decrefs), or NULL. */
json_t *ef_steps(struct ef *f, int64_t run_id);
/* The record of step_id (item -1 for a plain step) in steps (borrowed), or NULL. */
json_t *ef_step(json_t *steps, const char *step_id, int item);

/* Polls the run until its status is status: true, or false after
 * timeout_ms (the status it had printed). */
bool ef_wait_status(struct ef *f, int64_t run_id, const char *status, int timeout_ms);

/* Lets the fake connector's gated calls through, frees the engines, closes
 * the store, removes the directory and resets the fake connector. */
void ef_cleanup(struct ef *f);

/* cmocka setup / teardown (the signature of CMFixtureFunction): *state
 * becomes a new fixture after ef_init (non-zero when it failed), and is
 * cleaned up and freed. */
int ef_setup(void **state);
int ef_teardown(void **state);

#endif

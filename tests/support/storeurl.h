/* storeurl.h — the database of one contract test, from the template in
 * IDFLOW_TEST_STORE_URL.
 *
 * The template's "%s" is replaced by a tag unique to the test. For a
 * PostgreSQL URL the tag names a schema, which is created here (empty) on
 * the URL's database, and the template puts the connection in it:
 *   postgresql://idflow@127.0.0.1:PORT/idflow?options=-csearch_path%3D%s
 * (tests/pg/run.sh builds that template). Any thread. */
#ifndef IDF_TESTS_STOREURL_H
#define IDF_TESTS_STOREURL_H

#include <stddef.h>

struct store;

/* Writes the test's URL into out (n bytes): tmpl with "%s" replaced by tag
 * (tmpl as is without one). When it is a PostgreSQL URL, also creates the
 * schema tag (an identifier: letters, digits, '_'), failing when it already
 * exists. Returns 0, or -1 with the reason on stderr. */
int tu_store_url(const char *tmpl, const char *tag, char *out, size_t n);

/* For the PostgreSQL-only suites (tests/pg/test_*.c), run by tests/pg/run.sh
 * with IDFLOW_TEST_PG_URL naming the throwaway cluster's database: a fresh,
 * empty schema "tpg_<what>_<pid>_<seq>" on it, and its URL (connections
 * land in it) into out. Returns 0, or -1 with the reason on stderr (the
 * variable is unset: the suite was not started by run.sh). */
int tu_pg_fresh_url(const char *what, char *out, size_t n);

/* One contract test's store: opened on the database IDFLOW_TEST_STORE_URL
 * names (a fresh schema tagged PREFIX<pid>_<seq>), or else in a SQLite file
 * of a new temporary folder (dir, removed again by tu_store_fx_close). */
struct tu_store_fx {
    char dir[256];  /* the temporary folder of the SQLite default, "" otherwise */
    char url[1024]; /* the test's database */
    struct store *s;
};

/* Opens f's store: 0, or -1 with the reason on stderr. */
int tu_store_fx_open(const char *prefix, struct tu_store_fx *f);
/* Closes f's store and removes its temporary folder, if any. */
void tu_store_fx_close(struct tu_store_fx *f);

#endif

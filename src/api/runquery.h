/* runquery.h — finding runs by subject, source and time (issue 17,
 * "subjects"), shared by the API (GET /api/v1/runs, GET /api/v1/history)
 * and the CLI (`idflow runs`, `idflow history`), so both accept the same
 * values, refuse the same ones with the same words, and answer the same
 * JSON (render.h).
 *
 * Stateless; any thread. */
#ifndef IDF_API_RUNQUERY_H
#define IDF_API_RUNQUERY_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/subject.h"
#include "store/store.h"

/* The filter's values as given (NULL: not given), textual. */
struct runquery_in {
    const char *status, *workflow, *subject, *source, *since, *until, *before, *limit;
};

/* Where runquery_parse keeps what the filter points into. */
struct runquery {
    struct store_run_filter f; /* the filter made; its strings point into the input or key */
    char key[SUBJECT_KEY_MAX]; /* the subject, normalized (subject_key) */
};

/* Fills q from in. A bad value: IDF_EINVAL with err saying which, its name
 * prefixed by `prefix` ("" for the API's "since", "--" for the CLI's
 * "--since"): "bad since: ...". since/until: ISO-8601 with a zone or ms since
 * the epoch; before: a run id; limit: 1.. (over STORE_LIST_MAX: the max). */
int runquery_parse(const struct runquery_in *in, const char *prefix, struct runquery *q,
                   struct idf_err *err) IDF_MUST_USE;

/* The runs list answer {"runs": [...], "total": N} for q (caller frees with
 * json_decref), or an error (IDF_E*, err set) when the store failed. */
int runquery_list_json(struct store *st, const struct runquery *q, json_t **out, struct idf_err *err) IDF_MUST_USE;

/* The timeline of q's subject (q->f.subject set): render_history's JSON with
 * each run's changes. */
int runquery_history_json(struct store *st, const struct runquery *q, json_t **out, struct idf_err *err) IDF_MUST_USE;

#endif

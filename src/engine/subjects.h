/* subjects.h — the engine's side of run subjects (issue 17; store.h
 * "subjects", connector.h "subjects"): turning the subjects a connector
 * reports (for an event, through its event_subjects, or for an action,
 * through conn_result.subjects) into the store_subject rows written with a
 * run or a step record. Every key is normalized with subject_key
 * (core/subject.h); invalid keys and malformed subjects are dropped; a set
 * holds at most STORE_SUBJECTS_MAX keys. The engine knows no kind by name.
 *
 * A `struct engine_subjects` is caller-allocated: init, add, then hand
 * v/n to the store while it lives; clear frees what it holds. Not shared
 * between threads. */
#ifndef IDF_ENGINE_SUBJECTS_H
#define IDF_ENGINE_SUBJECTS_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"
#include "store/store.h"

struct registry;

#define ENGINE_SUBJECT_KIND_MAX 64   /* bytes of a kind ("okta.user"), with its NUL */
#define ENGINE_SUBJECT_LABEL_MAX 200 /* bytes of a label kept (longer ones are cut at a character) */

struct engine_subjects {
    struct store_subject v[STORE_SUBJECTS_MAX]; /* the rows; strings point into keep */
    size_t n;                                   /* rows used */
    json_t *keep;                               /* owns every string of v (an array of strings), or NULL */
};

void engine_subjects_init(struct engine_subjects *s);
/* Frees what s holds and empties it; s may be NULL. */
void engine_subjects_clear(struct engine_subjects *s);

/* Adds the subjects of list (a JSON array in connector.h's shape, borrowed;
 * NULL or not an array adds nothing) with step_id (copied; NULL: the
 * event's): one row per key, normalized; a key that does not normalize, a
 * subject without a valid kind, a row already there and rows past
 * STORE_SUBJECTS_MAX are dropped. 0, or IDF_ENOMEM (s keeps what it had). */
int engine_subjects_add(struct engine_subjects *s, const json_t *list, const char *step_id) IDF_MUST_USE;

/* Adds the subjects of an event (its stored JSON, borrowed): asks the
 * connector named source in reg, else the connector owning the trigger
 * named type (a hand-made event of `idflow run`), through its
 * event_subjects. A connector without one adds nothing. 0, or IDF_ENOMEM. */
int engine_subjects_of_event(struct engine_subjects *s, const struct registry *reg, const char *source,
                             const char *type, const json_t *event) IDF_MUST_USE;

#endif

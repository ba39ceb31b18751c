/* subject.h — the one spelling of a subject key (store.h, "subjects").
 *
 * A run is found by whom or what it concerns through keys: an Okta user's id
 * and login, a group's id and name, a ticket's number and display id. The
 * engine normalizes every key it stores, and the API and the CLI every key
 * they search for, with subject_key, so that "Jane@Acme.com", " jane@acme.com"
 * and "#HF00000006" / "hf00000006" find the same runs with an exact (indexed)
 * comparison. */
#ifndef IDF_CORE_SUBJECT_H
#define IDF_CORE_SUBJECT_H

#include <stddef.h>

#include "core/err.h"

#define SUBJECT_KEY_MAX 256 /* bytes of a normalized key, with its NUL */

/* Normalizes in into out (n bytes, n >= 1): white space trimmed at both
 * ends, one leading '#' dropped, ASCII letters lower-cased (other bytes kept:
 * UTF-8 stays as it is). IDF_EINVAL (out set to "") when nothing is left,
 * when in holds a control character, or when the key does not fit in out. */
int subject_key(const char *in, char *out, size_t n) IDF_MUST_USE;

#endif

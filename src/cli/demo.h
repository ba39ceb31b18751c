/* demo.h — the parts of `idflow demo` (demo.c) that deal with files and
 * text, kept apart so they can be tested alone (demo_dir.c). Private to
 * src/cli/. */
#ifndef IDF_CLI_DEMO_H
#define IDF_CLI_DEMO_H

#include <stddef.h>

#include "core/err.h"

#define DEMO_PATH_MAX 512u                                    /* the demo's folder: longest path accepted */
#define DEMO_WF_FILE_MAX (1u << 20)                           /* one workflow file copied into the demo's folder */
#define DEMO_PLAIN_OFFBOARDING "offboarding-on-resolve"       /* left out: the approval variant plays instead */
#define DEMO_APPROVAL_OFFBOARDING "offboarding-with-approval" /* shipped disabled; enabled in the copy */

/* The demo's folder, into out (absolute): `given` (--dir) when non-NULL —
 * created (mode 0700, parents too) when missing, else it must be an empty
 * folder — or, when NULL, a new folder $TMPDIR/idflow-demo-XXXXXX (/tmp
 * without TMPDIR). The folder is the demo's and is kept after it exits.
 * IDF_EINVAL naming the problem (not a folder, not empty, too long),
 * IDF_EIO with the errno text. Nothing is created on IDF_EINVAL, but for
 * a missing --dir whose path, symbolic links resolved, turns out longer
 * than DEMO_PATH_MAX. */
int demo__dir_prepare(const char *given, char *out, size_t n, struct idf_err *err) IDF_MUST_USE;

/* Copies the workflow files (*.yaml, *.yml) of folder `from` into
 * DIR/workflows (created), the folder `idflow serve` of the demo reads:
 * DEMO_PLAIN_OFFBOARDING is left out and DEMO_APPROVAL_OFFBOARDING is
 * copied with its "enabled: false" line made "enabled: true", so an
 * Offboarding ticket resolved starts the run that waits for an approval.
 * The copy's path into out. IDF_EINVAL when the approval variant is
 * missing or has no such line, IDF_ETOOBIG for a file over
 * DEMO_WF_FILE_MAX, IDF_EIO otherwise; err names the file. */
int demo__workflows_copy(const char *from, const char *dir, char *out, size_t n, struct idf_err *err) IDF_MUST_USE;

/* The ticket subject of a scenario title: the title without its number
 * ("8. Onboarding ticket: ..." -> "Onboarding ticket: ..."; "10. MFA ..."
 * -> "MFA ..."); a title without a number as it is. Borrowed: a pointer
 * into title. */
const char *demo__ticket_subject(const char *title);

#endif

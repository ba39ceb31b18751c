/* fsutil.h — creating the private files and folders idflow keeps its state
 * in (the database, the master key file).
 *
 * Modes are given at creation (open/mkdir), never set afterwards by chmod on
 * a path, so there is no moment when a new file or folder is more open than
 * asked; the umask can only make them stricter. Existing files and folders
 * are never changed. Any thread (no global state). */
#ifndef IDF_CORE_FSUTIL_H
#define IDF_CORE_FSUTIL_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/err.h"

#define FS_PRIVATE_DIR_MODE 0700  /* folders idflow creates for its state */
#define FS_PRIVATE_FILE_MODE 0600 /* files holding state or keys */
#define FS_PATH_MAX 4096u         /* longest path these helpers accept */

/* Creates the missing folders on the way to the folder that holds the file
 * at file_path (like mkdir -p of its dirname), each with mode
 * FS_PRIVATE_DIR_MODE; folders that exist are left as they are. *created_out
 * (may be NULL) says whether any folder was created. IDF_EINVAL when a part
 * of the path exists but is not a folder, IDF_ETOOBIG for a path longer than
 * FS_PATH_MAX, IDF_EIO (message with the folder and errno text) otherwise. */
int fs_mkdir_parents(const char *file_path, bool *created_out, struct idf_err *err) IDF_MUST_USE;

/* Creates path as an empty file with mode FS_PRIVATE_FILE_MODE when it does
 * not exist (O_EXCL: never follows or replaces anything already there);
 * *created_out says whether this call created it. An existing file (or
 * symbolic link) is left untouched: 0, *created_out false. IDF_EIO with a
 * message naming the path when it can neither be created nor found. */
int fs_create_private(const char *path, bool *created_out, struct idf_err *err) IDF_MUST_USE;

#endif

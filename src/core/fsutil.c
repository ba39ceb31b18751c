/* fsutil.c — private files and folders for idflow's state (see fsutil.h).
 *
 * Owns only the creation of a missing folder chain and of an empty private
 * file; what goes in them belongs to the store and the key file code. Does
 * not chmod anything that already exists: an operator's choice of modes on
 * their own files stands (callers may warn about it). Stateless; any thread. */
#include "core/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir of one folder; an existing folder (made by someone else meanwhile
 * too) is fine. */
static int mkdir_one(const char *dir, bool *created, struct idf_err *err)
{
    struct stat st;

    if (mkdir(dir, FS_PRIVATE_DIR_MODE) == 0) {
        *created = true;
        return 0;
    }
    if (errno != EEXIST)
        return idf_err_set(err, IDF_EIO, "cannot create folder %s: %s", dir, strerror(errno));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return idf_err_set(err, IDF_EINVAL, "%s exists but is not a folder", dir);
    return 0;
}

int fs_mkdir_parents(const char *file_path, bool *created_out, struct idf_err *err)
{
    char dir[FS_PATH_MAX + 1];
    struct stat st;
    bool created = false;
    char *slash;
    int rc = 0;

    if (created_out)
        *created_out = false;
    if (!file_path || strnlen(file_path, FS_PATH_MAX + 1) > FS_PATH_MAX)
        return idf_err_set(err, IDF_ETOOBIG, "path longer than %u bytes", FS_PATH_MAX);
    snprintf(dir, sizeof dir, "%s", file_path);
    slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0; /* the current folder, or / */
    *slash = '\0';
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return idf_err_set(err, IDF_EINVAL, "%s exists but is not a folder", dir);
        return 0;
    }
    /* Each prefix in turn, so every folder created gets the private mode. */
    for (char *p = dir + 1; *p && rc == 0; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        rc = mkdir_one(dir, &created, err);
        *p = '/';
    }
    if (rc == 0)
        rc = mkdir_one(dir, &created, err);
    if (created_out)
        *created_out = created;
    return rc;
}

int fs_create_private(const char *path, bool *created_out, struct idf_err *err)
{
    int fd;

    *created_out = false;
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, FS_PRIVATE_FILE_MODE);
    if (fd >= 0) {
        close(fd);
        *created_out = true;
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    return idf_err_set(err, IDF_EIO, "cannot create %s: %s", path, strerror(errno));
}

/* demo_dir.c — the demo's folder (demo.h): choosing or creating it, and
 * the copy of the workflows `idflow demo` serves, with the approval variant
 * of offboarding enabled in place of the plain one. The folder is kept
 * after the demo exits, so its database can be explored afterwards; what
 * runs in it (the sandbox, serve) is demo.c's. Single-threaded (the demo's
 * main thread); no global state. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/demo.h"
#include "core/fsutil.h"

/* Whether the folder at path has no entry but "." and "..". */
static int dir_is_empty(const char *path, bool *empty_out, struct idf_err *err)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (!d)
        return idf_err_set(err, IDF_EIO, "%s: %s", path, strerror(errno));
    *empty_out = true;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            *empty_out = false;
    closedir(d);
    return 0;
}

int demo__dir_prepare(const char *given, char *out, size_t n, struct idf_err *err)
{
    char probe[DEMO_PATH_MAX + 8], *resolved;
    struct stat sb;
    bool empty = false;
    int rc = 0;

    if (!given) {
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp)
            tmp = "/tmp";
        if ((size_t)snprintf(out, n, "%s/idflow-demo-XXXXXX", tmp) >= n || strlen(out) > DEMO_PATH_MAX)
            return idf_err_set(err, IDF_EINVAL, "TMPDIR is too long for the demo's folder");
        if (!mkdtemp(out))
            return idf_err_set(err, IDF_EIO, "cannot create a folder in %s: %s", tmp, strerror(errno));
        return 0;
    }
    if (!*given || strlen(given) > DEMO_PATH_MAX)
        return idf_err_set(err, IDF_EINVAL, "--dir must be a path of 1 to %u characters", DEMO_PATH_MAX);
    if (stat(given, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return idf_err_set(err, IDF_EINVAL, "--dir %s exists and is not a folder", given);
        rc = dir_is_empty(given, &empty, err);
        if (rc)
            return rc;
        if (!empty)
            return idf_err_set(err, IDF_EINVAL,
                               "--dir %s is not empty: the demo starts from a fresh database, give a new or empty "
                               "folder",
                               given);
    } else if (errno != ENOENT) {
        return idf_err_set(err, IDF_EIO, "%s: %s", given, strerror(errno));
    } else {
        snprintf(probe, sizeof probe, "%s/x", given); /* fs_mkdir_parents makes the folders above a file */
        rc = fs_mkdir_parents(probe, NULL, err);
        if (rc)
            return rc;
    }
    resolved = realpath(given, NULL); /* malloc'd: a resolved path may be longer than out */
    if (!resolved)
        return idf_err_set(err, IDF_EIO, "%s: %s", given, strerror(errno));
    if (strlen(resolved) >= n || strlen(resolved) > DEMO_PATH_MAX)
        rc = idf_err_set(err, IDF_EINVAL, "--dir %s: its full path is longer than %u characters", given,
                         DEMO_PATH_MAX);
    else
        snprintf(out, n, "%s", resolved);
    free(resolved);
    return rc;
}

/* The whole file at path, NUL-terminated, into *text_out (caller frees). */
static int slurp(const char *path, char **text_out, size_t *len_out, struct idf_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len;
    int rc = 0;

    *text_out = NULL;
    if (!f)
        return idf_err_set(err, IDF_EIO, "%s: %s", path, strerror(errno));
    buf = malloc(DEMO_WF_FILE_MAX + 1);
    if (!buf) {
        rc = idf_err_set(err, IDF_ENOMEM, "out of memory");
        goto out;
    }
    len = fread(buf, 1, DEMO_WF_FILE_MAX + 1, f);
    if (ferror(f)) {
        rc = idf_err_set(err, IDF_EIO, "%s: read error", path);
        goto out;
    }
    if (len > DEMO_WF_FILE_MAX) {
        rc = idf_err_set(err, IDF_ETOOBIG, "%s: larger than %u bytes", path, DEMO_WF_FILE_MAX);
        goto out;
    }
    buf[len] = '\0';
    *text_out = buf;
    *len_out = len;
    buf = NULL;
out:
    free(buf);
    fclose(f);
    return rc;
}

/* Writes len bytes of text to a new file at path (mode 0600). */
static int write_new(const char *path, const char *text, size_t len, struct idf_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FS_PRIVATE_FILE_MODE);
    size_t done = 0;
    int rc = 0;

    if (fd < 0)
        return idf_err_set(err, IDF_EIO, "%s: %s", path, strerror(errno));
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = idf_err_set(err, IDF_EIO, "%s: %s", path, strerror(errno));
            break;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0 && rc == 0)
        rc = idf_err_set(err, IDF_EIO, "%s: %s", path, strerror(errno));
    return rc;
}

/* "name" of "name.yaml" / "name.yml" into stem; false for other files. */
static bool workflow_file(const char *file, char *stem, size_t n)
{
    size_t len = strlen(file);
    size_t ext = len > 5 && strcmp(file + len - 5, ".yaml") == 0  ? 5
                 : len > 4 && strcmp(file + len - 4, ".yml") == 0 ? 4
                                                                  : 0;

    if (!ext || file[0] == '.' || len - ext >= n)
        return false;
    snprintf(stem, n, "%.*s", (int)(len - ext), file);
    return true;
}

int demo__workflows_copy(const char *from, const char *dir, char *out, size_t n, struct idf_err *err)
{
    static const char off[] = "\nenabled: false\n", on[] = "\nenabled: true\n";
    char src[DEMO_PATH_MAX * 2 + 300], dst[DEMO_PATH_MAX * 2 + 300], stem[256];
    DIR *d = NULL;
    struct dirent *e;
    char *text = NULL;
    size_t len = 0;
    bool approval = false;
    int rc = 0;

    if ((size_t)snprintf(out, n, "%s/workflows", dir) >= n)
        return idf_err_set(err, IDF_EINVAL, "%s: path too long", dir);
    if (mkdir(out, FS_PRIVATE_DIR_MODE) != 0)
        return idf_err_set(err, IDF_EIO, "%s: %s", out, strerror(errno));
    d = opendir(from);
    if (!d)
        return idf_err_set(err, IDF_EIO, "%s: %s", from, strerror(errno));
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char *at;
        if (!workflow_file(e->d_name, stem, sizeof stem) || strcmp(stem, DEMO_PLAIN_OFFBOARDING) == 0)
            continue;
        snprintf(src, sizeof src, "%s/%s", from, e->d_name);
        snprintf(dst, sizeof dst, "%s/%s", out, e->d_name);
        rc = slurp(src, &text, &len, err);
        if (rc)
            break;
        if (strcmp(stem, DEMO_APPROVAL_OFFBOARDING) == 0) {
            at = strstr(text, off);
            if (!at) {
                rc = idf_err_set(err, IDF_EINVAL, "%s: no line \"enabled: false\" to turn on", src);
                break;
            }
            /* "false" -> "true" and the rest moved one byte to the left */
            memcpy(at, on, sizeof on - 1);
            memmove(at + sizeof on - 1, at + sizeof off - 1, len - (size_t)(at - text) - (sizeof off - 1) + 1);
            len--;
            approval = true;
        }
        rc = write_new(dst, text, len, err);
        free(text);
        text = NULL;
    }
    if (rc == 0 && !approval)
        rc = idf_err_set(err, IDF_EINVAL, "%s has no %s.yaml: the demo plays that approval", from,
                         DEMO_APPROVAL_OFFBOARDING);
    free(text);
    closedir(d);
    return rc;
}

const char *demo__ticket_subject(const char *title)
{
    const char *p = title;

    while (*p == ' ')
        p++;
    if (*p < '0' || *p > '9')
        return title;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p != '.')
        return title;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

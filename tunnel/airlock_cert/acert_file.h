/*
 * Files for airlock-cert: bounded reads that refuse symlinks and non-regular
 * files, and staged writes. A stage collects files as O_EXCL temporary files
 * next to their final paths (written, fchmod'ed, fsync'ed); commit renames
 * them all into place and fsyncs the directories; abort (or any failure
 * before commit) unlinks the temporaries, so that nothing is installed.
 */
#ifndef AIRLOCK_ACERT_FILE_H
#define AIRLOCK_ACERT_FILE_H

#include <stddef.h>
#include <sys/types.h>

#define ACERT_PATH_MAX	   1024
#define ACERT_PATH_OPT_MAX 900 /* a path option, leaving room for the names below it */
#define ACERT_ERR_MAX	   (ACERT_PATH_MAX * 2 + 256) /* room for two paths and a reason */

/*
 * Reads path (O_NOFOLLOW, regular file, at most max octets). On success
 * *out (gets owned by the caller; NUL-terminated after *len octets; wipe
 * secrets with sodium_memzero before free()) and *len are set. Returns 0,
 * or -1 with a reason in err.
 */
int acert_read_file(const char *path, size_t max, unsigned char **out, size_t *len, char *err,
		    size_t errlen);

/* printf into out (ACERT_PATH_MAX octets). Returns 0, or -1 if the result did not fit. */
int acert_pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 if path exists (lstat), else 0. */
int acert_exists(const char *path);

/* mkdir -p with mode for every directory created. Returns 0 or -1 with err. */
int acert_mkdirs(const char *dir, mode_t mode, char *err, size_t errlen);

/* mkdir -p of the directory part of path. */
int acert_mkdirs_for(const char *path, mode_t mode, char *err, size_t errlen);

struct acert_stage;

/* A new empty stage (gets owned by the caller, acert_stage_free()), NULL when out of memory. */
struct acert_stage *acert_stage_new(void);

/*
 * Writes data to a new temporary file beside path (creating missing parent
 * directories with mode 0755, or 0700 when mode has no group/other bits),
 * with mode, fsync'ed. Nothing is at path yet. Returns 0, or -1 with err.
 */
int acert_stage_add(struct acert_stage *st, const char *path, const void *data, size_t len,
		    mode_t mode, char *err, size_t errlen);

/*
 * Renames every staged file into place, in the order added, and fsyncs the
 * directories. Returns 0, or -1 with err (files renamed before the failure
 * stay; the rest are unlinked).
 */
int acert_stage_commit(struct acert_stage *st, char *err, size_t errlen);

/* Unlinks every temporary file not yet committed and frees. NULL is accepted. */
void acert_stage_free(struct acert_stage *st);

/* One-file convenience: stage, commit, free. */
int acert_write_file(const char *path, const void *data, size_t len, mode_t mode, char *err,
		     size_t errlen);

/*
 * Copies src to dst with mode (staged write). Returns 0, or -1 with err.
 */
int acert_copy_file(const char *src, const char *dst, mode_t mode, char *err, size_t errlen);

#endif

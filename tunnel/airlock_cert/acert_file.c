/*
 * Safe reads and staged writes (see acert_file.h).
 */
#include "tunnel/airlock_cert/acert_file.h"

#include "common/errmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAGE_MAX 32

struct staged {
	char tmp[ACERT_PATH_MAX];
	char path[ACERT_PATH_MAX];
	int done;
};

struct acert_stage {
	struct staged files[STAGE_MAX];
	size_t n;
};

int acert_read_file(const char *path, size_t max, unsigned char **out, size_t *len, char *err,
		    size_t errlen)
{
	*out = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errmsg_set(err, errlen, "cannot open %s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return errmsg_set(err, errlen, "%s: not a regular file", path);
	}
	if ((size_t)sb.st_size > max) {
		close(fd);
		return errmsg_set(err, errlen, "%s: larger than %zu octets", path, max);
	}
	unsigned char *buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		close(fd);
		return errmsg_set(err, errlen, "out of memory");
	}
	size_t got = 0;
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			close(fd);
			sodium_memzero(buf, (size_t)sb.st_size + 1);
			free(buf);
			return errmsg_set(err, errlen, "cannot read %s: %s", path, strerror(e));
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

int acert_pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, ACERT_PATH_MAX, fmt, ap);
	va_end(ap);
	return n < 0 || n >= ACERT_PATH_MAX ? -1 : 0;
}

int acert_exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

int acert_mkdirs(const char *dir, mode_t mode, char *err, size_t errlen)
{
	char buf[ACERT_PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return errmsg_set(err, errlen, "path too long: %s", dir);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) != 0 && errno != EEXIST)
				return errmsg_set(err, errlen, "cannot create %s: %s", buf,
						  strerror(errno));
			*p = c;
			if (!c)
				break;
		}
	}
	struct stat sb;
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return errmsg_set(err, errlen, "%s: not a directory", dir);
	return 0;
}

int acert_mkdirs_for(const char *path, mode_t mode, char *err, size_t errlen)
{
	char buf[ACERT_PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return errmsg_set(err, errlen, "path too long: %s", path);
	return acert_mkdirs(dirname(buf), mode, err, errlen);
}

static int fsync_dir_of(const char *path)
{
	char buf[ACERT_PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

struct acert_stage *acert_stage_new(void)
{
	return calloc(1, sizeof(struct acert_stage));
}

int acert_stage_add(struct acert_stage *st, const char *path, const void *data, size_t len,
		    mode_t mode, char *err, size_t errlen)
{
	if (st->n >= STAGE_MAX)
		return errmsg_set(err, errlen, "too many files in one install");
	struct staged *f = &st->files[st->n];
	unsigned char rnd[8];
	randombytes_buf(rnd, sizeof(rnd));
	char hex[17];
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	if (snprintf(f->path, sizeof(f->path), "%s", path) >= (int)sizeof(f->path) ||
	    snprintf(f->tmp, sizeof(f->tmp), "%s.tmp-%s", path, hex) >= (int)sizeof(f->tmp))
		return errmsg_set(err, errlen, "path too long: %s", path);
	if (acert_mkdirs_for(path, (mode & 077) ? 0755 : 0700, err, errlen) != 0)
		return -1;
	int fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return errmsg_set(err, errlen, "cannot create %s: %s", f->tmp, strerror(errno));
	const unsigned char *p = data;
	size_t off = 0;
	int e = 0;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			e = w < 0 ? errno : EIO;
			break;
		}
		off += (size_t)w;
	}
	if (!e && fchmod(fd, mode) != 0)
		e = errno;
	if (!e && fsync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && !e)
		e = errno;
	if (e) {
		unlink(f->tmp);
		return errmsg_set(err, errlen, "cannot write %s: %s", f->tmp, strerror(e));
	}
	f->done = 0;
	st->n++;
	return 0;
}

int acert_stage_commit(struct acert_stage *st, char *err, size_t errlen)
{
	for (size_t i = 0; i < st->n; i++) {
		struct staged *f = &st->files[i];
		if (rename(f->tmp, f->path) != 0)
			return errmsg_set(err, errlen, "cannot rename %s to %s: %s", f->tmp,
					  f->path, strerror(errno));
		f->done = 1;
	}
	for (size_t i = 0; i < st->n; i++)
		if (fsync_dir_of(st->files[i].path) != 0)
			return errmsg_set(err, errlen, "cannot fsync the directory of %s: %s",
					  st->files[i].path, strerror(errno));
	return 0;
}

void acert_stage_free(struct acert_stage *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++)
		if (!st->files[i].done)
			unlink(st->files[i].tmp);
	free(st);
}

int acert_write_file(const char *path, const void *data, size_t len, mode_t mode, char *err,
		     size_t errlen)
{
	struct acert_stage *st = acert_stage_new();
	if (!st)
		return errmsg_set(err, errlen, "out of memory");
	int rc = acert_stage_add(st, path, data, len, mode, err, errlen);
	if (rc == 0)
		rc = acert_stage_commit(st, err, errlen);
	acert_stage_free(st);
	return rc;
}

int acert_copy_file(const char *src, const char *dst, mode_t mode, char *err, size_t errlen)
{
	unsigned char *buf;
	size_t len;
	if (acert_read_file(src, 4 * 1024 * 1024, &buf, &len, err, errlen) != 0)
		return -1;
	int rc = acert_write_file(dst, buf, len, mode, err, errlen);
	sodium_memzero(buf, len);
	free(buf);
	return rc;
}

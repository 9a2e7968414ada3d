/*
 * The spool: directories, safe file primitives, clean-up at start, free
 * space, and the reader's operations on committed messages. Transactions and
 * the group commit worker are in queue_tx.c.
 */
#include "relay/queue_spool.h"
#include "common/errmsg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/log.h"
#include "relay/queue_spool_priv.h"

#define SIDECAR_SUFFIX	 ".done"
#define HOLDTMP_SUFFIX	 ".tmp"
#define SIDECAR_READ_MAX (256 * 1024) /* more than any honest sidecar; the rest is ignored */
#define COPY_CHUNK	 (64 * 1024)

static const char *const area_names[] = {
	[QUEUE_AREA_TMP] = "tmp",
	[QUEUE_AREA_QUEUE] = "queue",
	[QUEUE_AREA_HOLD] = "hold",
};

int queue_spool_dirfd(const struct queue_spool *q, enum queue_area area)
{
	if ((unsigned)area > QUEUE_AREA_HOLD)
		fatal("bad spool area %d", (int)area);
	return q->dirfd[area];
}

/* Opens (creating if missing) a directory that only we may write. */
static int open_private_dir(int at, const char *name, const char *shown, char *err, size_t errlen)
{
	struct stat st;

	if (mkdirat(at, name, 0700) < 0 && errno != EEXIST) {
		errmsg_set(err, errlen, "cannot create %s: %s", shown, strerror(errno));
		return -1;
	}
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		errmsg_set(err, errlen, "cannot open %s: %s", shown,
			   errno == ELOOP || errno == ENOTDIR ? "not a directory"
							      : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		errmsg_set(err, errlen, "%s must be owned by uid %u and not group/other writable",
			   shown, (unsigned)geteuid());
		close(fd);
		return -1;
	}
	return fd;
}

struct queue_spool *queue_spool_open(const char *dir, struct event_base *base,
				     const struct queue_spool_opts *opts, char *err, size_t errlen)
{
	char shown[PATH_MAX + 16];
	struct queue_spool *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		errmsg_set(err, errlen, "out of memory");
		return NULL;
	}
	q->top = -1;
	for (int a = 0; a <= QUEUE_AREA_HOLD; a++)
		q->dirfd[a] = -1;
	if (opts != NULL)
		q->opts = *opts;
	q->top = open_private_dir(AT_FDCWD, dir, dir, err, errlen);
	for (int a = 0; q->top >= 0 && a <= QUEUE_AREA_HOLD; a++) {
		snprintf(shown, sizeof(shown), "%s/%s", dir, area_names[a]);
		q->dirfd[a] = open_private_dir(q->top, area_names[a], shown, err, errlen);
		if (q->dirfd[a] < 0)
			break;
	}
	if (q->dirfd[QUEUE_AREA_HOLD] < 0 ||
	    (base != NULL && queue_commit_start(q, base, err, errlen) < 0)) {
		queue_spool_free(q);
		return NULL;
	}
	return q;
}

void queue_spool_free(struct queue_spool *q)
{
	if (q == NULL)
		return;
	queue_commit_stop(q);
	for (int a = 0; a <= QUEUE_AREA_HOLD; a++) {
		if (q->dirfd[a] >= 0)
			close(q->dirfd[a]);
	}
	if (q->top >= 0)
		close(q->top);
	free(q);
}

int queue_rename_noreplace(int fromdir, const char *from, int todir, const char *to)
{
	if (renameat2(fromdir, from, todir, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(fromdir, from, todir, to, 0) < 0)
		return -1;
	return unlinkat(fromdir, from, 0);
}

static int check_fd(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

static bool plain_name(const char *name)
{
	return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL;
}

int queue_file_openat(int dirfd, const char *name, int flags)
{
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0 && check_fd(fd) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int queue_spool_create(struct queue_spool *q, enum queue_area area, const char *name)
{
	if (!plain_name(name))
		fatal("bad spool file name");
	return queue_file_openat(queue_spool_dirfd(q, area), name, O_WRONLY | O_CREAT | O_EXCL);
}

int queue_spool_open_file(struct queue_spool *q, enum queue_area area, const char *name, int flags)
{
	if (!plain_name(name))
		fatal("bad spool file name");
	return queue_file_openat(queue_spool_dirfd(q, area), name, flags);
}

/*
 * Calls fn(q, area, name, arg) for each entry of area other than "." and
 * "..". Returns the sum of what fn returned, or -1 if the directory cannot
 * be read.
 */
static int each_entry(struct queue_spool *q, enum queue_area area,
		      int (*fn)(struct queue_spool *, enum queue_area, const char *, void *),
		      void *arg)
{
	int fd = openat(queue_spool_dirfd(q, area), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int total = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		log_error("event=spool-error area=%s op=opendir error=\"%s\"", area_names[area],
			  strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		int r = fn(q, area, de->d_name, arg);
		if (r < 0)
			break;
		total += r;
	}
	closedir(d);
	return total;
}

static int unlink_entry(struct queue_spool *q, enum queue_area area, const char *name, void *arg)
{
	char shown[80];
	(void)arg;
	if (unlinkat(queue_spool_dirfd(q, area), name, 0) < 0) {
		log_warning("event=spool-unlink-failed area=%s name=%s error=\"%s\"",
			    area_names[area], log_quote(shown, sizeof(shown), name),
			    strerror(errno));
		return 0;
	}
	log_info("event=spool-removed area=%s name=%s", area_names[area],
		 log_quote(shown, sizeof(shown), name));
	return 1;
}

int queue_spool_clean_tmp(struct queue_spool *q)
{
	int n = each_entry(q, QUEUE_AREA_TMP, unlink_entry, NULL);
	if (n > 0)
		fsync(q->dirfd[QUEUE_AREA_TMP]);
	return n;
}

/* If name is "ID" + suffix (suffix may be ""), copies ID into id and returns true. */
static bool split_name(const char *name, const char *suffix, char id[QUEUE_ID_MAX + 1])
{
	size_t n = strlen(name), sl = strlen(suffix);
	if (n != QUEUE_ID_LEN + sl || strcmp(name + QUEUE_ID_LEN, suffix) != 0)
		return false;
	memcpy(id, name, QUEUE_ID_LEN);
	id[QUEUE_ID_LEN] = '\0';
	return queue_id_valid(id);
}

static bool exists(struct queue_spool *q, enum queue_area area, const char *name)
{
	struct stat st;
	return fstatat(queue_spool_dirfd(q, area), name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int recover_hold_entry(struct queue_spool *q, enum queue_area area, const char *name,
			      void *arg)
{
	char id[QUEUE_ID_MAX + 1];
	(void)arg;
	if (split_name(name, HOLDTMP_SUFFIX, id))
		return unlink_entry(q, area, name, NULL);
	return 0;
}

static int recover_queue_entry(struct queue_spool *q, enum queue_area area, const char *name,
			       void *arg)
{
	char id[QUEUE_ID_MAX + 1], sidecar[QUEUE_ID_MAX + sizeof(SIDECAR_SUFFIX)];
	(void)arg;
	if (!exists(q, area, name))
		return 0; /* a sidecar removed earlier in this walk, still listed by readdir */
	if (split_name(name, "", id) && exists(q, QUEUE_AREA_HOLD, id)) {
		/* Its sidecar goes with it, whether the walk saw it already or not. */
		snprintf(sidecar, sizeof(sidecar), "%s%s", id, SIDECAR_SUFFIX);
		int n = exists(q, area, sidecar) ? unlink_entry(q, area, sidecar, NULL) : 0;
		return n + unlink_entry(q, area, name, NULL);
	}
	if (split_name(name, SIDECAR_SUFFIX, id) && !exists(q, QUEUE_AREA_QUEUE, id))
		return unlink_entry(q, area, name, NULL);
	return 0;
}

int queue_spool_recover(struct queue_spool *q)
{
	int h = each_entry(q, QUEUE_AREA_HOLD, recover_hold_entry, NULL);
	int a = each_entry(q, QUEUE_AREA_QUEUE, recover_queue_entry, NULL);
	if (h < 0 || a < 0)
		return -1;
	if (h > 0)
		fsync(q->dirfd[QUEUE_AREA_HOLD]);
	if (a > 0)
		fsync(q->dirfd[QUEUE_AREA_QUEUE]);
	return h + a;
}

bool queue_spool_space_ok(struct queue_spool *q)
{
	struct statvfs vfs;

	if (fstatvfs(q->top, &vfs) < 0) {
		log_error("event=spool-statvfs-failed error=\"%s\"", strerror(errno));
		return false;
	}
	uint64_t unit = vfs.f_frsize ? vfs.f_frsize : vfs.f_bsize;
	uint64_t avail = (uint64_t)vfs.f_bavail, total = (uint64_t)vfs.f_blocks;
	uint64_t free_bytes = avail > UINT64_MAX / unit ? UINT64_MAX : avail * unit;
	if (free_bytes < q->opts.min_free_bytes)
		return false;
	if (q->opts.min_free_percent > 0 &&
	    (total == 0 ||
	     (long double)avail * 100 < (long double)total * q->opts.min_free_percent))
		return false;
	return true;
}

struct list_ctx {
	int (*each)(void *arg, const char *id);
	void *arg;
	bool stopped;
};

static int list_entry(struct queue_spool *q, enum queue_area area, const char *name, void *arg)
{
	struct list_ctx *c = arg;
	char id[QUEUE_ID_MAX + 1];
	(void)q;
	(void)area;
	if (c->stopped || !split_name(name, "", id))
		return 0;
	if (c->each(c->arg, id) != 0)
		c->stopped = true;
	return 1;
}

int queue_spool_list(struct queue_spool *q, enum queue_area area,
		     int (*each)(void *arg, const char *id), void *arg)
{
	struct list_ctx c = {.each = each, .arg = arg};
	if (area != QUEUE_AREA_QUEUE && area != QUEUE_AREA_HOLD)
		fatal("queue_spool_list: bad area %d", (int)area);
	return each_entry(q, area, list_entry, &c);
}

/* --- reading one message --- */

/* Reads from fd until the envelope's empty line or QUEUE_ENVELOPE_MAX octets. */
static char *read_envelope(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	while (buf != NULL) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		size_t from = n > 0 ? n - 1 : 0;
		n += (size_t)r;
		if (r == 0 || memmem(buf + from, n - from, "\n\n", 2) != NULL ||
		    n >= QUEUE_ENVELOPE_MAX) {
			*len = n;
			return buf;
		}
		if (n == cap) {
			cap = cap * 2 > QUEUE_ENVELOPE_MAX ? QUEUE_ENVELOPE_MAX : cap * 2;
			char *grown = realloc(buf, cap);
			if (grown == NULL)
				break;
			buf = grown;
		}
	}
	free(buf);
	return NULL;
}

/* Marks the recipients that queue/ID.done records; damaged lines are ignored. */
static void read_sidecar(struct queue_spool *q, const struct queue_envelope *env, bool *done)
{
	char name[QUEUE_ID_MAX + sizeof(SIDECAR_SUFFIX)];
	char buf[4096], line[64];
	size_t ll = 0, total = 0;
	ssize_t r;

	snprintf(name, sizeof(name), "%s%s", env->id, SIDECAR_SUFFIX);
	int fd = queue_spool_open_file(q, QUEUE_AREA_QUEUE, name, O_RDONLY);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warning("event=spool-sidecar-unreadable id=%s error=\"%s\"", env->id,
				    strerror(errno));
		return;
	}
	while (total < SIDECAR_READ_MAX &&
	       ((r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))) {
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll] = buf[i];
				ll++;
				continue;
			}
			unsigned long idx;
			char idbuf[QUEUE_ID_MAX + 2], tail;
			line[ll < sizeof(line) ? ll : sizeof(line) - 1] = '\0';
			if (ll < sizeof(line) &&
			    sscanf(line, "done %lu %21s%c", &idx, idbuf, &tail) == 2 &&
			    strcmp(idbuf, env->id) == 0 && line[5] >= '0' && line[5] <= '9' &&
			    idx < env->nrcpts)
				done[idx] = true;
			ll = 0;
		}
		total += r > 0 ? (size_t)r : 0;
	}
	close(fd);
}

int queue_msg_open(struct queue_spool *q, enum queue_area area, const char *id,
		   struct queue_envelope *env, int *fd, off_t *content_off, uint64_t *content_len,
		   char *err, size_t errlen)
{
	char perr[160];
	struct stat st;
	size_t len, off;

	memset(env, 0, sizeof(*env));
	*fd = -1;
	if (area != QUEUE_AREA_QUEUE && area != QUEUE_AREA_HOLD)
		fatal("queue_msg_open: bad area %d", (int)area);
	if (!queue_id_valid(id)) {
		errmsg_set(err, errlen, "not a queue id");
		return -1;
	}
	int f = queue_spool_open_file(q, area, id, O_RDONLY);
	if (f < 0) {
		errmsg_set(err, errlen, "cannot open %s/%s: %s", area_names[area], id,
			   errno == EPERM ? "not a regular file with one link owned by us"
					  : strerror(errno));
		return -1;
	}
	char *buf = read_envelope(f, &len);
	if (buf == NULL || fstat(f, &st) < 0) {
		errmsg_set(err, errlen, "cannot read %s/%s: %s", area_names[area], id,
			   strerror(errno));
		goto fail;
	}
	if (queue_envelope_parse(buf, len, env, &off, perr, sizeof(perr)) < 0) {
		errmsg_set(err, errlen, "malformed %s/%s: %s", area_names[area], id, perr);
		goto fail;
	}
	if (strcmp(env->id, id) != 0) {
		errmsg_set(err, errlen, "malformed %s/%s: its id line says %s", area_names[area],
			   id, env->id);
		goto fail;
	}
	env->rcpt_done = calloc(env->nrcpts, sizeof(bool));
	if (env->rcpt_done == NULL) {
		errmsg_set(err, errlen, "out of memory");
		goto fail;
	}
	if (area == QUEUE_AREA_QUEUE)
		read_sidecar(q, env, env->rcpt_done);
	free(buf);
	*fd = f;
	*content_off = (off_t)off;
	*content_len = (uint64_t)st.st_size - off;
	return 0;
fail:
	free(buf);
	queue_envelope_free(env);
	close(f);
	return -1;
}

int queue_msg_stat(struct queue_spool *q, enum queue_area area, const char *id,
		   struct queue_msg_info *out, char *err, size_t errlen)
{
	struct queue_envelope env;
	off_t off;
	uint64_t clen;
	int fd;

	memset(out, 0, sizeof(*out));
	if (queue_msg_open(q, area, id, &env, &fd, &off, &clen, err, errlen) < 0)
		return -1;
	close(fd);
	memcpy(out->id, env.id, sizeof(out->id));
	out->arrived = env.arrived;
	out->file_size = (uint64_t)off + clen;
	out->content_size = clen;
	snprintf(out->from, sizeof(out->from), "%s", env.from);
	out->nrcpts = env.nrcpts;
	for (size_t i = 0; i < env.nrcpts; i++)
		out->ndone += env.rcpt_done[i];
	if (env.hold_reason != NULL)
		snprintf(out->hold_reason, sizeof(out->hold_reason), "%s", env.hold_reason);
	queue_envelope_free(&env);
	return 0;
}

int queue_msg_rcpt_done(struct queue_spool *q, const char *id, size_t rcpt_index)
{
	char name[QUEUE_ID_MAX + sizeof(SIDECAR_SUFFIX)], rec[80];
	struct stat st;

	if (!queue_id_valid(id))
		fatal("queue_msg_rcpt_done: bad id");
	if (fstatat(q->dirfd[QUEUE_AREA_QUEUE], id, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	snprintf(name, sizeof(name), "%s%s", id, SIDECAR_SUFFIX);
	int n = snprintf(rec, sizeof(rec), "done %zu %s\n", rcpt_index, id);
	int fd = queue_spool_open_file(q, QUEUE_AREA_QUEUE, name, O_WRONLY | O_APPEND | O_CREAT);
	if (fd < 0)
		return -1;
	ssize_t w;
	do {
		w = write(fd, rec, (size_t)n);
	} while (w < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (w != n) {
		errno = w < 0 ? e : EIO;
		return -1;
	}
	return 0;
}

int queue_msg_remove(struct queue_spool *q, enum queue_area area, const char *id)
{
	char name[QUEUE_ID_MAX + sizeof(SIDECAR_SUFFIX)];
	int dfd = queue_spool_dirfd(q, area);

	if (!queue_id_valid(id) || area == QUEUE_AREA_TMP)
		fatal("queue_msg_remove: bad id or area");
	if (unlinkat(dfd, id, 0) < 0)
		return -1;
	snprintf(name, sizeof(name), "%s%s", id, SIDECAR_SUFFIX);
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		log_warning("event=spool-unlink-failed name=%s error=\"%s\"", name,
			    strerror(errno));
	/*
	 * No directory fsync: a removal lost in a crash only means the message
	 * is delivered once more (at least once, as SMTP is); the acceptance was
	 * durable long before. An fsync per delivered message cost more than
	 * the delivery itself when the disk was busy.
	 */
	return 0;
}

int queue_file_write_all(int fd, const void *data, size_t n)
{
	const char *p = data;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int queue_file_write_copy(int out, const struct queue_envelope *env, int in, off_t off,
			  uint64_t len)
{
	char *text, *chunk;
	size_t tlen;

	if (queue_envelope_format(env, &text, &tlen) < 0)
		return -1;
	int r = queue_file_write_all(out, text, tlen);
	free(text);
	chunk = malloc(COPY_CHUNK);
	if (chunk == NULL)
		return -1;
	while (r == 0 && len > 0) {
		ssize_t n = pread(in, chunk, len < COPY_CHUNK ? len : COPY_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* shorter than it was a moment ago */
			r = -1;
			break;
		}
		r = queue_file_write_all(out, chunk, (size_t)n);
		off += n;
		len -= (uint64_t)n;
	}
	free(chunk);
	return r == 0 ? fdatasync(out) : -1;
}

/* Builds the envelope of the held copy: pending recipients and the reason. */
static int held_envelope(const struct queue_envelope *env, const char *reason,
			 struct queue_envelope *held)
{
	char clean[QUEUE_VALUE_MAX + 1];
	size_t n = 0;

	*held = *env;
	held->from = env->from;
	held->rcpts = calloc(env->nrcpts, sizeof(char *));
	held->rcpt_done = NULL;
	if (held->rcpts == NULL)
		return -1;
	for (size_t i = 0; i < env->nrcpts; i++) {
		if (!env->rcpt_done[i])
			held->rcpts[n++] = env->rcpts[i];
	}
	held->nrcpts = n;
	for (size_t i = 0; i < QUEUE_VALUE_MAX && reason[i] != '\0'; i++) {
		clean[i] = (unsigned char)reason[i] < 0x20 || reason[i] == 0x7f ? ' ' : reason[i];
		clean[i + 1] = '\0';
	}
	if (reason[0] == '\0')
		snprintf(clean, sizeof(clean), "held");
	held->hold_reason = strdup(clean);
	return held->hold_reason == NULL ? -1 : 0;
}

int queue_msg_hold(struct queue_spool *q, const char *id, const char *reason, char *err,
		   size_t errlen)
{
	char tmpname[QUEUE_ID_MAX + sizeof(HOLDTMP_SUFFIX)];
	struct queue_envelope env, held = {0};
	off_t off;
	uint64_t clen;
	int in, out = -1, ret = -1;

	if (queue_msg_open(q, QUEUE_AREA_QUEUE, id, &env, &in, &off, &clen, err, errlen) < 0)
		return -1;
	if (held_envelope(&env, reason, &held) < 0) {
		errmsg_set(err, errlen, "out of memory");
		goto out;
	}
	if (held.nrcpts == 0) {
		errmsg_set(err, errlen, "every recipient of %s is delivered", id);
		goto out;
	}
	snprintf(tmpname, sizeof(tmpname), "%s%s", id, HOLDTMP_SUFFIX);
	out = queue_spool_create(q, QUEUE_AREA_HOLD, tmpname);
	if (out < 0 && errno == EEXIST && unlinkat(q->dirfd[QUEUE_AREA_HOLD], tmpname, 0) == 0)
		out = queue_spool_create(q, QUEUE_AREA_HOLD, tmpname); /* a dead mover's */
	if (out < 0) {
		errmsg_set(err, errlen, "cannot create hold/%s: %s", tmpname, strerror(errno));
		goto out;
	}
	if (queue_file_write_copy(out, &held, in, off, clen) < 0 ||
	    queue_rename_noreplace(q->dirfd[QUEUE_AREA_HOLD], tmpname, q->dirfd[QUEUE_AREA_HOLD],
				   id) < 0 ||
	    fsync(q->dirfd[QUEUE_AREA_HOLD]) < 0) {
		errmsg_set(err, errlen, "cannot write hold/%s: %s", id, strerror(errno));
		unlinkat(q->dirfd[QUEUE_AREA_HOLD], tmpname, 0);
		goto out;
	}
	/* The held copy is durable; a crash from here on is finished by queue_spool_recover(). */
	if (queue_msg_remove(q, QUEUE_AREA_QUEUE, id) < 0)
		log_warning("event=spool-hold-incomplete id=%s error=\"%s\"", id, strerror(errno));
	ret = 0;
out:
	if (out >= 0)
		close(out);
	close(in);
	free(held.rcpts);
	free(held.hold_reason);
	queue_envelope_free(&env);
	return ret;
}

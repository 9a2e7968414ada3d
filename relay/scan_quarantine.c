/*
 * The quarantine directory: storing, listing, showing, releasing and
 * deleting quarantined messages.
 */
#include "relay/scan_quarantine.h"
#include "common/errmsg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

#define TMP_SUFFIX "tmp"
#define REL_SUFFIX "rel"
/* What is read of a file to show it: the envelope at its longest and the header section. */
#define READ_MAX (QUEUE_ENVELOPE_MAX + SCAN_QUARANTINE_HEADERS_MAX)

struct scan_quarantine {
	int dirfd;
};

struct scan_quarantine *scan_quarantine_open(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		errmsg_set(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return NULL;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		errmsg_set(err, errlen, "cannot open %s: %s", dir,
			   errno == ELOOP || errno == ENOTDIR ? "not a directory"
							      : strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		errmsg_set(err, errlen, "%s must be owned by uid %u and not group/other writable",
			   dir, (unsigned)geteuid());
		close(fd);
		return NULL;
	}
	struct scan_quarantine *qr = calloc(1, sizeof(*qr));
	if (!qr) {
		close(fd);
		errmsg_set(err, errlen, "out of memory");
		return NULL;
	}
	qr->dirfd = fd;
	return qr;
}

void scan_quarantine_free(struct scan_quarantine *qr)
{
	if (!qr)
		return;
	close(qr->dirfd);
	free(qr);
}

int scan_quarantine_store(struct scan_quarantine *qr, const struct queue_envelope *env,
			  const char *reason, const void *content, size_t len, char *err,
			  size_t errlen)
{
	char clean[QUEUE_VALUE_MAX + 1] = "quarantined", tmp[QUEUE_ID_MAX + 8];
	if (!queue_id_valid(env->id))
		fatal("scan_quarantine_store: bad id");
	for (size_t i = 0; reason && i < QUEUE_VALUE_MAX && reason[i] != '\0'; i++) {
		unsigned char c = (unsigned char)reason[i];
		clean[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
		clean[i + 1] = '\0';
	}
	struct queue_envelope q = *env;
	q.hold_reason = clean;
	q.rcpt_done = NULL;
	char *text;
	size_t tlen;
	if (queue_envelope_format(&q, &text, &tlen) < 0) {
		errmsg_set(err, errlen, "the envelope does not format: %s", strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.%s", env->id, TMP_SUFFIX);
	int fd = queue_file_openat(qr->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL);
	if (fd < 0) {
		errmsg_set(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		free(text);
		return -1;
	}
	int rc = queue_file_write_all(fd, text, tlen) < 0 ||
				 queue_file_write_all(fd, content, len) < 0 || fdatasync(fd) < 0 ||
				 queue_rename_noreplace(qr->dirfd, tmp, qr->dirfd, env->id) < 0 ||
				 fsync(qr->dirfd) < 0
			 ? -1
			 : 0;
	if (rc < 0) {
		errmsg_set(err, errlen, "cannot write %s: %s", env->id, strerror(errno));
		unlinkat(qr->dirfd, tmp, 0);
	}
	close(fd);
	free(text);
	return rc;
}

/* If name is ID.suffix (suffix NULL: ID alone), copies ID into id. */
static bool split_name(const char *name, const char *suffix, char id[QUEUE_ID_MAX + 1])
{
	size_t n = strlen(name);
	if (suffix ? n != QUEUE_ID_LEN + 1 + strlen(suffix) || name[QUEUE_ID_LEN] != '.' ||
			     strcmp(name + QUEUE_ID_LEN + 1, suffix) != 0
		   : n != QUEUE_ID_LEN)
		return false;
	memcpy(id, name, QUEUE_ID_LEN);
	id[QUEUE_ID_LEN] = '\0';
	return queue_id_valid(id);
}

/* Calls fn(qr, name, arg) per entry; sum of its results, or -1. */
static int each_entry(struct scan_quarantine *qr,
		      int (*fn)(struct scan_quarantine *, const char *, void *), void *arg)
{
	int fd = openat(qr->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int total = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		int r = fn(qr, de->d_name, arg);
		if (r < 0)
			break;
		total += r;
	}
	closedir(d);
	return total;
}

struct list_ctx {
	int (*each)(void *arg, const char *id);
	void *arg;
	bool stopped;
};

static int list_entry(struct scan_quarantine *qr, const char *name, void *arg)
{
	struct list_ctx *c = arg;
	char id[QUEUE_ID_MAX + 1];
	(void)qr;
	if (c->stopped || !split_name(name, NULL, id))
		return 0;
	if (c->each(c->arg, id) != 0)
		c->stopped = true;
	return 1;
}

int scan_quarantine_list(struct scan_quarantine *qr, int (*each)(void *arg, const char *id),
			 void *arg)
{
	struct list_ctx c = {.each = each, .arg = arg};
	return each_entry(qr, list_entry, &c);
}

/*
 * Opens id, reads its first READ_MAX octets and parses the envelope. On
 * success *fd is open (caller closes), *buf holds what was read (caller
 * frees), *off is where the content starts and *size the file's size.
 */
static int open_msg(struct scan_quarantine *qr, const char *id, struct queue_envelope *env, int *fd,
		    char **buf, size_t *buflen, size_t *off, uint64_t *size, char *err,
		    size_t errlen)
{
	char perr[160];
	struct stat st;
	memset(env, 0, sizeof(*env));
	*buf = NULL;
	if (!queue_id_valid(id)) {
		errmsg_set(err, errlen, "not a queue id");
		return -1;
	}
	int f = queue_file_openat(qr->dirfd, id, O_RDONLY);
	if (f < 0) {
		errmsg_set(err, errlen, "no quarantined message %s: %s", id,
			   errno == EPERM ? "not a regular file with one link owned by us"
					  : strerror(errno));
		return -1;
	}
	if (fstat(f, &st) < 0)
		goto fail_errno;
	size_t want = (uint64_t)st.st_size < READ_MAX ? (size_t)st.st_size : READ_MAX, got = 0;
	char *b = malloc(want + 1);
	if (!b)
		goto fail_errno;
	while (got < want) {
		ssize_t n = pread(f, b + got, want - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	b[got] = '\0';
	if (queue_envelope_parse(b, got, env, off, perr, sizeof(perr)) < 0 ||
	    strcmp(env->id, id) != 0) {
		errmsg_set(err, errlen, "malformed quarantine file %s: %s", id,
			   env->id[0] ? "its id line does not match" : perr);
		queue_envelope_free(env);
		free(b);
		close(f);
		return -1;
	}
	*fd = f;
	*buf = b;
	*buflen = got;
	*size = (uint64_t)st.st_size;
	return 0;
fail_errno:
	errmsg_set(err, errlen, "cannot read %s: %s", id, strerror(errno));
	close(f);
	return -1;
}

int scan_quarantine_stat(struct scan_quarantine *qr, const char *id,
			 struct scan_quarantine_info *out, char *err, size_t errlen)
{
	struct queue_envelope env;
	char *buf;
	size_t buflen, off;
	uint64_t size;
	int fd;
	memset(out, 0, sizeof(*out));
	if (open_msg(qr, id, &env, &fd, &buf, &buflen, &off, &size, err, errlen) < 0)
		return -1;
	close(fd);
	free(buf);
	snprintf(out->id, sizeof(out->id), "%s", env.id);
	out->arrived = env.arrived;
	out->content_size = size - off;
	snprintf(out->from, sizeof(out->from), "%s", env.from ? env.from : "");
	snprintf(out->first_rcpt, sizeof(out->first_rcpt), "%s", env.rcpts[0]);
	out->nrcpts = env.nrcpts;
	snprintf(out->client, sizeof(out->client), "%s", env.client_addr);
	snprintf(out->reason, sizeof(out->reason), "%s", env.hold_reason ? env.hold_reason : "");
	queue_envelope_free(&env);
	return 0;
}

int scan_quarantine_headers(struct scan_quarantine *qr, const char *id, struct queue_envelope *env,
			    char **hdr, size_t *hdrlen, bool *cut, char *err, size_t errlen)
{
	char *buf;
	size_t buflen, off;
	uint64_t size;
	int fd;
	if (open_msg(qr, id, env, &fd, &buf, &buflen, &off, &size, err, errlen) < 0)
		return -1;
	close(fd);
	const char *c = buf + off;
	size_t clen = buflen - off, hlen = clen;
	const char *end =
		clen >= 2 && c[0] == '\r' && c[1] == '\n' ? c : memmem(c, clen, "\r\n\r\n", 4);
	if (end)
		hlen = (size_t)(end - c) + (end == c ? 0 : 2);
	*cut = !end && (hlen > SCAN_QUARANTINE_HEADERS_MAX || off + clen < size);
	if (hlen > SCAN_QUARANTINE_HEADERS_MAX)
		hlen = SCAN_QUARANTINE_HEADERS_MAX;
	memmove(buf, c, hlen);
	buf[hlen] = '\0';
	*hdr = buf;
	*hdrlen = hlen;
	return 0;
}

int scan_quarantine_delete(struct scan_quarantine *qr, const char *id)
{
	if (!queue_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (unlinkat(qr->dirfd, id, 0) < 0)
		return -1;
	return fsync(qr->dirfd);
}

/* Writes the released copy of id (open on in) into the new file out. */
static int write_released(int out, const struct queue_envelope *env, int in, size_t off,
			  uint64_t size)
{
	struct queue_envelope rel = *env;
	rel.hold_reason = NULL;
	rel.rcpt_done = NULL;
	return queue_file_write_copy(out, &rel, in, (off_t)off, size - off);
}

int scan_quarantine_release(struct scan_quarantine *qr, struct queue_spool *spool, const char *id,
			    char *err, size_t errlen)
{
	struct queue_envelope env;
	char *buf, rel[QUEUE_ID_MAX + 8];
	size_t buflen, off;
	uint64_t size;
	int in;
	if (open_msg(qr, id, &env, &in, &buf, &buflen, &off, &size, err, errlen) < 0)
		return -1;
	free(buf);
	snprintf(rel, sizeof(rel), "%s.%s", id, REL_SUFFIX);
	int out = queue_file_openat(qr->dirfd, rel, O_WRONLY | O_CREAT | O_EXCL);
	if (out < 0 && errno == EEXIST && unlinkat(qr->dirfd, rel, 0) == 0)
		out = queue_file_openat(qr->dirfd, rel,
					O_WRONLY | O_CREAT | O_EXCL); /* a dead one's */
	int qdir = queue_spool_dirfd(spool, QUEUE_AREA_QUEUE), ret = -1;
	if (out < 0) {
		errmsg_set(err, errlen, "cannot create %s: %s", rel, strerror(errno));
	} else if (write_released(out, &env, in, off, size) < 0 ||
		   queue_rename_noreplace(qr->dirfd, rel, qdir, id) < 0 || fsync(qdir) < 0) {
		errmsg_set(err, errlen, "cannot move %s into the queue: %s", id, strerror(errno));
		unlinkat(qr->dirfd, rel, 0);
	} else {
		/* queue/ID is durable; a crash from here on is finished by the recovery. */
		if (unlinkat(qr->dirfd, id, 0) < 0 || fsync(qr->dirfd) < 0)
			log_warning("event=quarantine-release-incomplete id=%s error=\"%s\"", id,
				    strerror(errno));
		ret = 0;
	}
	if (out >= 0)
		close(out);
	close(in);
	queue_envelope_free(&env);
	return ret;
}

/* Removes name from the quarantine directory; 1 if it did (logged). */
static int drop_entry(struct scan_quarantine *qr, const char *name, const char *id)
{
	if (unlinkat(qr->dirfd, name, 0) < 0) {
		log_warning("event=quarantine-unlink-failed id=%s error=\"%s\"", id,
			    strerror(errno));
		return 0;
	}
	log_info("event=quarantine-recovered id=%s removed=%s", id,
		 strlen(name) == QUEUE_ID_LEN ? "released-copy" : "partial-file");
	return 1;
}

/* A release that died: its .rel copy, or the original once queue/ID exists. */
static int recover_entry(struct scan_quarantine *qr, const char *name, void *arg)
{
	struct queue_spool *spool = arg;
	char id[QUEUE_ID_MAX + 1];
	struct stat st;
	if (split_name(name, REL_SUFFIX, id) ||
	    (split_name(name, NULL, id) && fstatat(queue_spool_dirfd(spool, QUEUE_AREA_QUEUE), id,
						   &st, AT_SYMLINK_NOFOLLOW) == 0))
		return drop_entry(qr, name, id);
	return 0;
}

/* A store that died: its .tmp file (only the smtp process writes those). */
static int clean_tmp_entry(struct scan_quarantine *qr, const char *name, void *arg)
{
	char id[QUEUE_ID_MAX + 1];
	(void)arg;
	return split_name(name, TMP_SUFFIX, id) ? drop_entry(qr, name, id) : 0;
}

int scan_quarantine_clean_tmp(struct scan_quarantine *qr)
{
	int n = each_entry(qr, clean_tmp_entry, NULL);
	if (n > 0)
		fsync(qr->dirfd);
	return n;
}

int scan_quarantine_recover(struct scan_quarantine *qr, struct queue_spool *spool)
{
	int n = each_entry(qr, recover_entry, spool);
	if (n > 0)
		fsync(qr->dirfd);
	return n;
}

/*
 * Unit tests for the spool and its reader side (relay/queue_spool.c):
 * directory checks, listing, opening with delivery progress, a damaged
 * sidecar, removal, hold, recovery after a crash, refusal of symlinks and
 * hard links, and the free-space check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/queue_spool.h"

#define CONTENT "Received: from x by y\r\nSubject: hi\r\n\r\nbody\r\n"

struct fixture {
	char dir[64];
	struct queue_spool *q;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char err[200];

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/airlock-qsp-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->q = queue_spool_open(fx->dir, NULL, NULL, err, sizeof(err));
	if (fx->q == NULL)
		fail_msg("open: %s", err);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	queue_spool_free(fx->q);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static int dfd(struct fixture *fx, enum queue_area a)
{
	return queue_spool_dirfd(fx->q, a);
}

static bool exists_in(struct fixture *fx, enum queue_area area, const char *name)
{
	struct stat st;
	return fstatat(dfd(fx, area), name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void put_file(int dirfd, const char *name, const char *data, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Writes a committed message with n recipients r0@example.com... into area; id into id. */
static void put_msg(struct fixture *fx, enum queue_area area, size_t n, char id[QUEUE_ID_MAX + 1])
{
	struct queue_envelope env = {0};
	char rcpt[48], *text;
	size_t len;

	queue_id_new(env.id);
	env.arrived = 1767225600;
	snprintf(env.client_addr, sizeof(env.client_addr), "2001:db8::25");
	snprintf(env.helo, sizeof(env.helo), "mx.example.org");
	assert_int_equal(queue_envelope_set_from(&env, "s@example.org"), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(rcpt, sizeof(rcpt), "r%zu@example.com", i);
		assert_int_equal(queue_envelope_add_rcpt(&env, rcpt), 0);
	}
	assert_int_equal(queue_envelope_format(&env, &text, &len), 0);
	text = realloc(text, len + sizeof(CONTENT));
	memcpy(text + len, CONTENT, sizeof(CONTENT) - 1);
	put_file(dfd(fx, area), env.id, text, len + sizeof(CONTENT) - 1);
	memcpy(id, env.id, QUEUE_ID_MAX + 1);
	free(text);
	queue_envelope_free(&env);
}

static void assert_content(int fd, off_t off, uint64_t len)
{
	char buf[128];
	assert_int_equal(len, sizeof(CONTENT) - 1);
	assert_int_equal(pread(fd, buf, sizeof(buf), off), (ssize_t)len);
	assert_memory_equal(buf, CONTENT, len);
}

static void test_open_checks_directories(void **state)
{
	struct fixture *fx = *state;
	char err[200], path[256], link[128];
	struct stat st;

	for (int a = 0; a <= QUEUE_AREA_HOLD; a++) {
		assert_int_equal(fstat(dfd(fx, (enum queue_area)a), &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	/* The spool directory is a symlink. */
	snprintf(link, sizeof(link), "%s/link", fx->dir);
	assert_int_equal(symlink(fx->dir, link), 0);
	assert_null(queue_spool_open(link, NULL, NULL, err, sizeof(err)));
	snprintf(path, sizeof(path), "cannot open %s: not a directory", link);
	assert_string_equal(err, path);
	/* A subdirectory that others may write. */
	snprintf(path, sizeof(path), "%s/s2", fx->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(link, sizeof(link), "%s/s2/queue", fx->dir);
	assert_int_equal(mkdir(link, 0700), 0);
	assert_int_equal(chmod(link, 0777), 0);
	assert_null(queue_spool_open(path, NULL, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "s2/queue must be owned by uid"));
	/* A file where hold/ should be. */
	assert_int_equal(chmod(link, 0700), 0);
	snprintf(link, sizeof(link), "%s/s2/hold", fx->dir);
	close(open(link, O_CREAT | O_WRONLY, 0600));
	assert_null(queue_spool_open(path, NULL, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "s2/hold: "));
}

struct id_set {
	char ids[8][QUEUE_ID_MAX + 1];
	int n;
};

static int collect(void *arg, const char *id)
{
	struct id_set *s = arg;
	assert_true(s->n < 8);
	memcpy(s->ids[s->n++], id, QUEUE_ID_MAX + 1);
	return 0;
}

static bool has(const struct id_set *s, const char *id)
{
	for (int i = 0; i < s->n; i++) {
		if (strcmp(s->ids[i], id) == 0)
			return true;
	}
	return false;
}

static void test_list_open_done_remove(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_MAX + 1], b[QUEUE_ID_MAX + 1], err[200];
	struct queue_envelope env;
	struct id_set set = {0};
	off_t off;
	uint64_t len;
	int fd;

	put_msg(fx, QUEUE_AREA_QUEUE, 3, a);
	put_msg(fx, QUEUE_AREA_QUEUE, 1, b);
	put_file(dfd(fx, QUEUE_AREA_QUEUE), "README", "x", 1); /* not an id: skipped */
	assert_int_equal(queue_spool_list(fx->q, QUEUE_AREA_QUEUE, collect, &set), 2);
	assert_true(has(&set, a) && has(&set, b));
	set.n = 0;
	assert_int_equal(queue_spool_list(fx->q, QUEUE_AREA_HOLD, collect, &set), 0);

	assert_int_equal(
		queue_msg_open(fx->q, QUEUE_AREA_QUEUE, a, &env, &fd, &off, &len, err, sizeof(err)),
		0);
	assert_string_equal(env.id, a);
	assert_string_equal(env.client_addr, "2001:db8::25");
	assert_int_equal(env.nrcpts, 3);
	assert_string_equal(env.rcpts[2], "r2@example.com");
	assert_false(env.rcpt_done[0] || env.rcpt_done[1] || env.rcpt_done[2]);
	assert_content(fd, off, len);
	close(fd);
	queue_envelope_free(&env);

	assert_int_equal(queue_msg_rcpt_done(fx->q, a, 2), 0);
	assert_int_equal(queue_msg_rcpt_done(fx->q, a, 0), 0);
	assert_int_equal(queue_msg_rcpt_done(fx->q, a, 0), 0); /* twice is harmless */
	assert_int_equal(
		queue_msg_open(fx->q, QUEUE_AREA_QUEUE, a, &env, &fd, &off, &len, err, sizeof(err)),
		0);
	assert_int_equal(env.nrcpts, 3); /* indices are kept */
	assert_true(env.rcpt_done[0]);
	assert_false(env.rcpt_done[1]);
	assert_true(env.rcpt_done[2]);
	close(fd);
	queue_envelope_free(&env);

	struct queue_msg_info info;
	assert_int_equal(queue_msg_stat(fx->q, QUEUE_AREA_QUEUE, a, &info, err, sizeof(err)), 0);
	assert_string_equal(info.id, a);
	assert_int_equal(info.nrcpts, 3);
	assert_int_equal(info.ndone, 2);
	assert_int_equal(info.content_size, sizeof(CONTENT) - 1);
	assert_true(info.file_size > info.content_size);
	assert_string_equal(info.from, "s@example.org");
	assert_string_equal(info.hold_reason, "");
	assert_true(info.arrived == 1767225600);

	assert_int_equal(queue_msg_remove(fx->q, QUEUE_AREA_QUEUE, a), 0);
	assert_false(exists_in(fx, QUEUE_AREA_QUEUE, a));
	char side[64];
	snprintf(side, sizeof(side), "%s.done", a);
	assert_false(exists_in(fx, QUEUE_AREA_QUEUE, side));
	assert_int_equal(queue_msg_remove(fx->q, QUEUE_AREA_QUEUE, a), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(queue_msg_rcpt_done(fx->q, a, 1), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(exists_in(fx, QUEUE_AREA_QUEUE, side)); /* no orphan sidecar created */
	assert_int_equal(
		queue_msg_open(fx->q, QUEUE_AREA_QUEUE, a, &env, &fd, &off, &len, err, sizeof(err)),
		-1);
	char want[200];
	snprintf(want, sizeof(want), "cannot open queue/%s: No such file or directory", a);
	assert_string_equal(err, want);
	assert_int_equal(fd, -1);
	set.n = 0;
	assert_int_equal(queue_spool_list(fx->q, QUEUE_AREA_QUEUE, collect, &set), 1);
	assert_string_equal(set.ids[0], b);
}

static void test_damaged_sidecar_never_marks_wrongly(void **state)
{
	struct fixture *fx = *state;
	char id[QUEUE_ID_MAX + 1], other[QUEUE_ID_MAX + 1], err[200], side[64], text[600];
	struct queue_envelope env;
	off_t off;
	uint64_t len;
	int fd;

	put_msg(fx, QUEUE_AREA_QUEUE, 8, id);
	queue_id_new(other);
	/* Only "done 3" and "done 5" are complete records of this message. */
	int n = snprintf(text, sizeof(text),
			 "done 3 %s\n"	      /* good */
			 "done 1 %s\n"	      /* another message's id */
			 "done 2 %s"	      /* torn: no LF, then the next append */
			 "done 4 %s\n"	      /* ...so this line is "done 2 IDdone 4 ID" */
			 "done 9 %s\n"	      /* out of range */
			 "done -6 %s\n"	      /* sign */
			 "done 7 %s extra\n", /* trailing garbage */
			 id, other, id, id, id, id, id);
	memset(text + n, 0, 8); /* zeros, as a crash may leave them */
	n += 8;
	text[n++] = '\n';
	n += snprintf(text + n, sizeof(text) - (size_t)n, "done 5 %s\ndone 6 %.10s", id, id);
	snprintf(side, sizeof(side), "%s.done", id);
	put_file(dfd(fx, QUEUE_AREA_QUEUE), side, text, (size_t)n);
	assert_int_equal(queue_msg_open(fx->q, QUEUE_AREA_QUEUE, id, &env, &fd, &off, &len, err,
					sizeof(err)),
			 0);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(env.rcpt_done[i], i == 3 || i == 5);
	close(fd);
	queue_envelope_free(&env);
}

static void test_hold(void **state)
{
	struct fixture *fx = *state;
	char id[QUEUE_ID_MAX + 1], err[200], side[64];
	struct queue_envelope env;
	struct id_set set = {0};
	off_t off;
	uint64_t len;
	int fd;

	put_msg(fx, QUEUE_AREA_QUEUE, 3, id);
	assert_int_equal(queue_msg_rcpt_done(fx->q, id, 0), 0);
	assert_int_equal(
		queue_msg_hold(fx->q, id, "expired\r\nrcpt evil@example.net", err, sizeof(err)), 0);
	snprintf(side, sizeof(side), "%s.done", id);
	assert_false(exists_in(fx, QUEUE_AREA_QUEUE, id));
	assert_false(exists_in(fx, QUEUE_AREA_QUEUE, side));
	assert_true(exists_in(fx, QUEUE_AREA_HOLD, id));
	snprintf(side, sizeof(side), "%s.tmp", id);
	assert_false(exists_in(fx, QUEUE_AREA_HOLD, side));
	assert_int_equal(queue_spool_list(fx->q, QUEUE_AREA_HOLD, collect, &set), 1);
	assert_string_equal(set.ids[0], id);

	assert_int_equal(
		queue_msg_open(fx->q, QUEUE_AREA_HOLD, id, &env, &fd, &off, &len, err, sizeof(err)),
		0);
	assert_int_equal(env.nrcpts, 2);
	assert_string_equal(env.rcpts[0], "r1@example.com");
	assert_string_equal(env.rcpts[1], "r2@example.com");
	assert_false(env.rcpt_done[0] || env.rcpt_done[1]);
	assert_string_equal(env.hold_reason, "expired  rcpt evil@example.net");
	assert_string_equal(env.client_addr, "2001:db8::25");
	assert_content(fd, off, len);
	close(fd);
	queue_envelope_free(&env);

	struct queue_msg_info info;
	assert_int_equal(queue_msg_stat(fx->q, QUEUE_AREA_HOLD, id, &info, err, sizeof(err)), 0);
	assert_string_equal(info.hold_reason, "expired  rcpt evil@example.net");

	/* Every recipient done: nothing to hold, nothing moved. */
	put_msg(fx, QUEUE_AREA_QUEUE, 1, id);
	assert_int_equal(queue_msg_rcpt_done(fx->q, id, 0), 0);
	assert_int_equal(queue_msg_hold(fx->q, id, "x", err, sizeof(err)), -1);
	snprintf(side, sizeof(side), "every recipient of %s is delivered", id);
	assert_string_equal(err, side);
	assert_true(exists_in(fx, QUEUE_AREA_QUEUE, id));
	assert_false(exists_in(fx, QUEUE_AREA_HOLD, id));
}

static void test_recover(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_MAX + 1], b[QUEUE_ID_MAX + 1], c[QUEUE_ID_MAX + 1], d[QUEUE_ID_MAX + 1];
	char name[64];

	put_msg(fx, QUEUE_AREA_QUEUE, 1, a); /* a hold interrupted before its rename */
	snprintf(name, sizeof(name), "%s.tmp", a);
	put_file(dfd(fx, QUEUE_AREA_HOLD), name, "partial", 7);
	put_msg(fx, QUEUE_AREA_QUEUE, 2, b); /* a hold interrupted after its rename */
	put_msg(fx, QUEUE_AREA_HOLD, 2, c);
	assert_int_equal(renameat(dfd(fx, QUEUE_AREA_HOLD), c, dfd(fx, QUEUE_AREA_HOLD), b), 0);
	assert_int_equal(queue_msg_rcpt_done(fx->q, b, 0), 0);
	put_msg(fx, QUEUE_AREA_QUEUE, 1, c); /* a removal interrupted between its unlinks */
	assert_int_equal(queue_msg_rcpt_done(fx->q, c, 0), 0);
	assert_int_equal(unlinkat(dfd(fx, QUEUE_AREA_QUEUE), c, 0), 0);
	put_msg(fx, QUEUE_AREA_QUEUE, 2, d); /* healthy, with progress */
	assert_int_equal(queue_msg_rcpt_done(fx->q, d, 1), 0);

	assert_int_equal(queue_spool_recover(fx->q), 4);
	assert_true(exists_in(fx, QUEUE_AREA_QUEUE, a));
	snprintf(name, sizeof(name), "%s.tmp", a);
	assert_false(exists_in(fx, QUEUE_AREA_HOLD, name));
	assert_false(exists_in(fx, QUEUE_AREA_QUEUE, b));
	snprintf(name, sizeof(name), "%s.done", b);
	assert_false(exists_in(fx, QUEUE_AREA_QUEUE, name));
	assert_true(exists_in(fx, QUEUE_AREA_HOLD, b));
	snprintf(name, sizeof(name), "%s.done", c);
	assert_false(exists_in(fx, QUEUE_AREA_QUEUE, name));
	assert_true(exists_in(fx, QUEUE_AREA_QUEUE, d));
	snprintf(name, sizeof(name), "%s.done", d);
	assert_true(exists_in(fx, QUEUE_AREA_QUEUE, name));
	assert_int_equal(queue_spool_recover(fx->q), 0);
}

static void test_unsafe_files_refused(void **state)
{
	struct fixture *fx = *state;
	char id[QUEUE_ID_MAX + 1], err[200], victim[128], want[200], name[64];
	struct queue_envelope env;
	off_t off;
	uint64_t len;
	int fd, qd = dfd(fx, QUEUE_AREA_QUEUE);

	/* A valid message outside the spool, reached through a symlink. */
	put_msg(fx, QUEUE_AREA_HOLD, 1, id);
	snprintf(victim, sizeof(victim), "%s/hold/%s", fx->dir, id);
	assert_int_equal(symlinkat(victim, qd, id), 0);
	assert_int_equal(queue_msg_open(fx->q, QUEUE_AREA_QUEUE, id, &env, &fd, &off, &len, err,
					sizeof(err)),
			 -1);
	snprintf(want, sizeof(want), "cannot open queue/%s: Too many levels of symbolic links", id);
	assert_string_equal(err, want);
	assert_int_equal(queue_spool_create(fx->q, QUEUE_AREA_QUEUE, id), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(queue_spool_open_file(fx->q, QUEUE_AREA_QUEUE, id, O_WRONLY | O_APPEND),
			 -1);
	assert_int_equal(errno, ELOOP);

	/* A hard link: two names for one file. */
	assert_int_equal(unlinkat(qd, id, 0), 0);
	assert_int_equal(linkat(dfd(fx, QUEUE_AREA_HOLD), id, qd, id, 0), 0);
	assert_int_equal(queue_msg_open(fx->q, QUEUE_AREA_QUEUE, id, &env, &fd, &off, &len, err,
					sizeof(err)),
			 -1);
	snprintf(want, sizeof(want),
		 "cannot open queue/%s: not a regular file with one link owned by us", id);
	assert_string_equal(err, want);

	/* A sidecar that is a symlink: progress is not written through it. */
	assert_int_equal(unlinkat(qd, id, 0), 0);
	assert_int_equal(renameat(dfd(fx, QUEUE_AREA_HOLD), id, qd, id), 0);
	snprintf(name, sizeof(name), "%s.done", id);
	snprintf(victim, sizeof(victim), "%s/victim", fx->dir);
	put_file(AT_FDCWD, victim, "", 0);
	assert_int_equal(symlinkat(victim, qd, name), 0);
	assert_int_equal(queue_msg_rcpt_done(fx->q, id, 0), -1);
	assert_int_equal(errno, ELOOP);
	struct stat st;
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* ...and is not read either. */
	assert_int_equal(queue_msg_open(fx->q, QUEUE_AREA_QUEUE, id, &env, &fd, &off, &len, err,
					sizeof(err)),
			 0);
	assert_false(env.rcpt_done[0]);
	close(fd);
	queue_envelope_free(&env);

	/* A directory in place of a message; a file whose id line names another message. */
	queue_id_new(id);
	assert_int_equal(mkdirat(qd, id, 0700), 0);
	assert_int_equal(queue_msg_open(fx->q, QUEUE_AREA_QUEUE, id, &env, &fd, &off, &len, err,
					sizeof(err)),
			 -1);
	char other[QUEUE_ID_MAX + 1];
	put_msg(fx, QUEUE_AREA_QUEUE, 1, other);
	queue_id_new(id);
	assert_int_equal(renameat(qd, other, qd, id), 0);
	assert_int_equal(queue_msg_open(fx->q, QUEUE_AREA_QUEUE, id, &env, &fd, &off, &len, err,
					sizeof(err)),
			 -1);
	snprintf(want, sizeof(want), "malformed queue/%s: its id line says %s", id, other);
	assert_string_equal(err, want);

	/* Garbage. */
	queue_id_new(id);
	put_file(qd, id, "airlock-queue 1\nid x\n\n", 22);
	assert_int_equal(queue_msg_open(fx->q, QUEUE_AREA_QUEUE, id, &env, &fd, &off, &len, err,
					sizeof(err)),
			 -1);
	snprintf(want, sizeof(want), "malformed queue/%s: line 2: bad queue id", id);
	assert_string_equal(err, want);
	assert_null(env.rcpts);
	assert_int_equal(queue_msg_open(fx->q, QUEUE_AREA_QUEUE, "../hold/x", &env, &fd, &off, &len,
					err, sizeof(err)),
			 -1);
	assert_string_equal(err, "not a queue id");
}

static void test_space_ok(void **state)
{
	struct fixture *fx = *state;
	char err[200];
	struct queue_spool_opts o = {0};

	assert_true(queue_spool_space_ok(fx->q));
	queue_spool_free(fx->q);

	o.min_free_bytes = UINT64_MAX / 2;
	fx->q = queue_spool_open(fx->dir, NULL, &o, err, sizeof(err));
	assert_non_null(fx->q);
	assert_false(queue_spool_space_ok(fx->q));
	queue_spool_free(fx->q);

	o.min_free_bytes = 1;
	o.min_free_percent = 101;
	fx->q = queue_spool_open(fx->dir, NULL, &o, err, sizeof(err));
	assert_non_null(fx->q);
	assert_false(queue_spool_space_ok(fx->q));
	queue_spool_free(fx->q);

	o.min_free_percent = 1;
	fx->q = queue_spool_open(fx->dir, NULL, &o, err, sizeof(err));
	assert_non_null(fx->q);
	assert_true(queue_spool_space_ok(fx->q)); /* this test needs 1% free on /tmp */
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_checks_directories),
		T(test_list_open_done_remove),
		T(test_damaged_sidecar_never_marks_wrongly),
		T(test_hold),
		T(test_recover),
		T(test_unsafe_files_refused),
		T(test_space_ok),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for the writer side of relay/queue_spool (queue_tx.c): exact
 * bytes committed, the callback only once the file is at its final path,
 * abort, group commit batching, a planted symlink at the final path, a
 * file size limit hit mid-message, the scanner's read fd, the edge's
 * rewrite of a transaction in place (queue_tx_restart), a prefix put in
 * front of the content through room in the envelope (queue_tx_prefix), clean-up of
 * a dead writer's temp files, and other disk work run on the commit thread
 * (queue_spool_run_job). Every event loop run is bounded by a timer.
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
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#include <event2/event.h>

#include "relay/queue_spool.h"

struct fixture {
	char dir[64];
	struct event_base *base;
	struct queue_spool *q;
};

struct result {
	struct fixture *fx;
	int calls;
	int ok;
	char id[QUEUE_ID_MAX + 1];
	char err[200];
	bool final_existed; /* queue/ID was there when the callback ran */
	bool tmp_existed;   /* tmp/ID was still there */
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
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/airlock-qtx-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->base = event_base_new();
	assert_non_null(fx->base);
	fx->q = queue_spool_open(fx->dir, fx->base, NULL, err, sizeof(err));
	if (fx->q == NULL)
		fail_msg("open: %s", err);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	queue_spool_free(fx->q);
	event_base_free(fx->base);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static bool exists_in(struct fixture *fx, enum queue_area area, const char *name)
{
	struct stat st;
	return fstatat(queue_spool_dirfd(fx->q, area), name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Number of entries in a spool subdirectory. */
static int count_in(struct fixture *fx, const char *sub)
{
	char path[128];
	int n = 0;
	snprintf(path, sizeof(path), "%s/%s", fx->dir, sub);
	DIR *d = opendir(path);
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void on_commit(void *arg, int ok, const char *id, const char *err)
{
	struct result *r = arg;
	r->calls++;
	r->ok = ok;
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
	r->final_existed = exists_in(r->fx, QUEUE_AREA_QUEUE, id);
	r->tmp_existed = exists_in(r->fx, QUEUE_AREA_TMP, id);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/* Runs the loop until *calls reaches want, for at most 5 seconds. */
static void run_until(struct fixture *fx, const int *calls, int want)
{
	bool timed_out = false;
	struct timeval tv = {5, 0};
	struct event *t = evtimer_new(fx->base, on_timeout, &timed_out);
	evtimer_add(t, &tv);
	while (*calls < want && !timed_out)
		event_base_loop(fx->base, EVLOOP_ONCE);
	event_free(t);
	assert_false(timed_out);
}

static void make_env(struct queue_envelope *env)
{
	memset(env, 0, sizeof(*env));
	env->arrived = 1767225600;
	snprintf(env->client_addr, sizeof(env->client_addr), "198.51.100.10");
	snprintf(env->helo, sizeof(env->helo), "mail.example.org");
	env->body = QUEUE_BODY_7BIT;
	assert_int_equal(queue_envelope_set_from(env, "user@example.org"), 0);
	assert_int_equal(queue_envelope_add_rcpt(env, "a@example.com"), 0);
}

static char *read_file(int dirfd, const char *name, size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY);
	struct stat st;
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	char *buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void test_commit_exact_bytes(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct result r = {.fx = fx};
	char err[200], *text;
	size_t tlen, flen;
	static char big[100000];

	make_env(&env);
	struct queue_tx *tx = queue_tx_begin(fx->q, &env, err, sizeof(err));
	assert_non_null(tx);
	assert_true(queue_id_valid(env.id));
	assert_string_equal(queue_tx_id(tx), env.id);
	assert_true(exists_in(fx, QUEUE_AREA_TMP, env.id));
	assert_false(exists_in(fx, QUEUE_AREA_QUEUE, env.id));

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : (char)('a' + i % 26);
	assert_int_equal(queue_tx_write(tx, "Received: from x\r\n", 18), 0);
	assert_int_equal(queue_tx_write(tx, "\r\n", 2), 0);
	assert_int_equal(queue_tx_write(tx, big, sizeof(big)), 0);
	assert_int_equal(queue_tx_write(tx, "end\r\n", 5), 0);
	assert_int_equal(queue_tx_content_size(tx), 18 + 2 + sizeof(big) + 5);
	queue_tx_commit(tx, on_commit, &r);
	assert_int_equal(r.calls, 0); /* never from inside queue_tx_commit */
	run_until(fx, &r.calls, 1);

	assert_int_equal(r.calls, 1);
	assert_int_equal(r.ok, 1);
	assert_string_equal(r.id, env.id);
	assert_string_equal(r.err, "");
	assert_true(r.final_existed);
	assert_false(r.tmp_existed);
	assert_int_equal(count_in(fx, "tmp"), 0);

	assert_int_equal(queue_envelope_format(&env, &text, &tlen), 0);
	char *file = read_file(queue_spool_dirfd(fx->q, QUEUE_AREA_QUEUE), env.id, &flen);
	assert_int_equal(flen, tlen + 18 + 2 + sizeof(big) + 5);
	assert_memory_equal(file, text, tlen);
	assert_memory_equal(file + tlen, "Received: from x\r\n\r\n", 20);
	assert_memory_equal(file + tlen + 20, big, sizeof(big));
	assert_memory_equal(file + tlen + 20 + sizeof(big), "end\r\n", 5);

	struct stat st;
	assert_int_equal(fstatat(queue_spool_dirfd(fx->q, QUEUE_AREA_QUEUE), env.id, &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	struct queue_spool_stats stats;
	queue_spool_get_stats(fx->q, &stats);
	assert_int_equal(stats.commits, 1);
	assert_int_equal(stats.commit_failures, 0);
	assert_int_equal(stats.dir_fsyncs, 1);
	free(file);
	free(text);
	queue_envelope_free(&env);
}

static void test_abort_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	char err[200];

	make_env(&env);
	struct queue_tx *tx = queue_tx_begin(fx->q, &env, err, sizeof(err));
	assert_non_null(tx);
	assert_int_equal(queue_tx_write(tx, "x\r\n", 3), 0);
	assert_int_equal(count_in(fx, "tmp"), 1);
	queue_tx_abort(tx);
	assert_int_equal(count_in(fx, "tmp"), 0);
	assert_int_equal(count_in(fx, "queue"), 0);
	queue_envelope_free(&env);
}

static void test_begin_refuses_bad_envelope(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	char err[200];

	make_env(&env);
	assert_int_equal(queue_envelope_add_rcpt(&env, "b@example.com\nrcpt evil@example.net"), 0);
	assert_null(queue_tx_begin(fx->q, &env, err, sizeof(err)));
	assert_string_equal(err, "envelope not writable: Invalid argument");
	assert_int_equal(count_in(fx, "tmp"), 0);
	queue_envelope_free(&env);
}

static void test_group_commit_batches(void **state)
{
	struct fixture *fx = *state;
	enum { N = 50 };
	struct result r[N];
	int total = 0;
	char err[200];

	struct queue_tx *tx[N];
	for (int i = 0; i < N; i++) {
		struct queue_envelope env;
		make_env(&env);
		tx[i] = queue_tx_begin(fx->q, &env, err, sizeof(err));
		assert_non_null(tx[i]);
		assert_int_equal(queue_tx_write(tx[i], "Subject: batch\r\n\r\nhi\r\n", 22), 0);
		queue_envelope_free(&env);
		memset(&r[i], 0, sizeof(r[i]));
		r[i].fx = fx;
	}
	for (int i = 0; i < N; i++)
		queue_tx_commit(tx[i], on_commit, &r[i]);

	bool timed_out = false;
	struct timeval tv = {5, 0};
	struct event *t = evtimer_new(fx->base, on_timeout, &timed_out);
	evtimer_add(t, &tv);
	while (total < N && !timed_out) {
		event_base_loop(fx->base, EVLOOP_ONCE);
		total = 0;
		for (int i = 0; i < N; i++)
			total += r[i].calls;
	}
	event_free(t);
	assert_false(timed_out);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].ok, 1);
		assert_true(r[i].final_existed);
	}
	assert_int_equal(count_in(fx, "queue"), N);
	assert_int_equal(count_in(fx, "tmp"), 0);

	struct queue_spool_stats stats;
	queue_spool_get_stats(fx->q, &stats);
	assert_int_equal(stats.commits, N);
	/* Commits issued in one loop pass go to the worker as one batch: one directory fsync. */
	assert_true(stats.dir_fsyncs < N);
	assert_int_equal(stats.dir_fsyncs, 1);
	assert_int_equal(stats.batches, 1);
}

static void test_commit_refuses_planted_symlink(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct result r = {.fx = fx};
	char err[200], victim[128];
	size_t len;

	snprintf(victim, sizeof(victim), "%s/victim", fx->dir);
	FILE *f = fopen(victim, "w");
	assert_non_null(f);
	fputs("precious\n", f);
	fclose(f);

	make_env(&env);
	struct queue_tx *tx = queue_tx_begin(fx->q, &env, err, sizeof(err));
	assert_non_null(tx);
	assert_int_equal(queue_tx_write(tx, "x\r\n", 3), 0);
	assert_int_equal(symlinkat(victim, queue_spool_dirfd(fx->q, QUEUE_AREA_QUEUE), env.id), 0);
	queue_tx_commit(tx, on_commit, &r);
	run_until(fx, &r.calls, 1);
	assert_int_equal(r.ok, 0);
	assert_string_equal(r.err, "rename into queue/: File exists");
	assert_false(r.tmp_existed);
	assert_int_equal(count_in(fx, "tmp"), 0);

	struct stat st;
	assert_int_equal(fstatat(queue_spool_dirfd(fx->q, QUEUE_AREA_QUEUE), env.id, &st,
				 AT_SYMLINK_NOFOLLOW),
			 0);
	assert_true(S_ISLNK(st.st_mode));
	char *content = read_file(AT_FDCWD, victim, &len);
	assert_int_equal(len, 9);
	assert_memory_equal(content, "precious\n", 9);
	free(content);

	struct queue_spool_stats stats;
	queue_spool_get_stats(fx->q, &stats);
	assert_int_equal(stats.commit_failures, 1);
	assert_int_equal(stats.commits, 0);
	queue_envelope_free(&env);
}

static void test_write_fails_on_file_size_limit(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct result r = {.fx = fx};
	struct rlimit saved, small;
	char err[200], chunk[4096];
	int failed_at = -1;

	memset(chunk, 'z', sizeof(chunk));
	make_env(&env);
	struct queue_tx *tx = queue_tx_begin(fx->q, &env, err, sizeof(err));
	assert_non_null(tx);

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	small = saved;
	small.rlim_cur = 64 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	for (int i = 0; i < 64 && failed_at < 0; i++) {
		if (queue_tx_write(tx, chunk, sizeof(chunk)) < 0)
			failed_at = i;
	}
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, SIG_DFL);

	assert_true(failed_at > 0);			     /* the first 64 KiB went in */
	assert_false(exists_in(fx, QUEUE_AREA_TMP, env.id)); /* removed at once */
	assert_int_equal(queue_tx_write(tx, "x", 1), -1);
	assert_int_equal(queue_tx_read_fd(tx), -1);
	queue_tx_commit(tx, on_commit, &r);
	run_until(fx, &r.calls, 1);
	assert_int_equal(r.ok, 0);
	assert_string_equal(r.err, "write: File too large");
	assert_int_equal(count_in(fx, "tmp"), 0);
	assert_int_equal(count_in(fx, "queue"), 0);
	queue_envelope_free(&env);
}

static void test_read_fd_for_scanner(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct result r = {.fx = fx};
	char err[200], buf[64];

	make_env(&env);
	struct queue_tx *tx = queue_tx_begin(fx->q, &env, err, sizeof(err));
	assert_non_null(tx);
	assert_int_equal(queue_tx_write(tx, "Subject: scan me\r\n", 18), 0);
	int fd = queue_tx_read_fd(tx);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), queue_tx_content_offset(tx)), 18);
	assert_memory_equal(buf, "Subject: scan me\r\n", 18);
	assert_int_equal(write(fd, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	close(fd);
	queue_tx_commit(tx, on_commit, &r);
	run_until(fx, &r.calls, 1);
	assert_int_equal(r.ok, 1);
	queue_envelope_free(&env);
}

/*
 * The edge's stamped rewrite: the file is started over under the same id,
 * with the new envelope (one more recipient) and a shorter content, and is
 * committed as exactly that (the new octets overwrite the old, whose longer
 * tail is cut at commit: nothing of it is left; no other file is created).
 * A bad envelope leaves tx as it was.
 */
static void test_restart_rewrites_in_place(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env, bad;
	struct result r = {.fx = fx};
	char err[200], *text;
	size_t tlen, flen;
	static char big[100000];
	struct stat before, after;

	make_env(&env);
	struct queue_tx *tx = queue_tx_begin(fx->q, &env, err, sizeof(err));
	assert_non_null(tx);
	char id[QUEUE_ID_MAX + 1];
	snprintf(id, sizeof(id), "%s", queue_tx_id(tx));
	memset(big, 'b', sizeof(big));
	assert_int_equal(queue_tx_write(tx, big, sizeof(big)), 0); /* written through */
	assert_int_equal(queue_tx_write(tx, "buffered\r\n", 10), 0);
	int scanfd = queue_tx_read_fd(tx);
	assert_true(scanfd >= 0);
	assert_int_equal(fstat(scanfd, &before), 0);

	memset(&bad, 0, sizeof(bad)); /* no recipient: does not format */
	assert_int_equal(queue_tx_restart(tx, &bad, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "envelope"));
	assert_int_equal(queue_tx_content_size(tx), sizeof(big) + 10);

	assert_int_equal(queue_envelope_add_rcpt(&env, "bcc@example.com"), 0);
	memset(env.id, 0, sizeof(env.id));
	assert_int_equal(queue_tx_restart(tx, &env, err, sizeof(err)), 0);
	assert_string_equal(env.id, id);
	assert_string_equal(queue_tx_id(tx), id);
	assert_int_equal(queue_tx_content_size(tx), 0);
	assert_int_equal(queue_tx_write(tx, "X-Stamp: 1\r\n\r\nhi\r\n", 18), 0);
	assert_int_equal(queue_tx_content_size(tx), 18);
	assert_int_equal(count_in(fx, "tmp"), 1);
	queue_tx_commit(tx, on_commit, &r);
	run_until(fx, &r.calls, 1);
	assert_int_equal(r.ok, 1);
	assert_string_equal(r.id, id);
	assert_int_equal(count_in(fx, "tmp"), 0);
	assert_int_equal(count_in(fx, "queue"), 1);

	assert_int_equal(queue_envelope_format(&env, &text, &tlen), 0);
	char *file = read_file(queue_spool_dirfd(fx->q, QUEUE_AREA_QUEUE), id, &flen);
	assert_int_equal(flen, tlen + 18);
	assert_memory_equal(file, text, tlen);
	assert_non_null(strstr(text, "rcpt bcc@example.com\n"));
	assert_memory_equal(file + tlen, "X-Stamp: 1\r\n\r\nhi\r\n", 18);
	/* The same file the scanner had open, now in queue/. */
	assert_int_equal(fstatat(queue_spool_dirfd(fx->q, QUEUE_AREA_QUEUE), id, &after, 0), 0);
	assert_true(before.st_ino == after.st_ino && before.st_dev == after.st_dev);
	close(scanfd);
	free(file);
	free(text);
	queue_envelope_free(&env);
}

/*
 * queue_tx_prefix(): a transaction begun with room in its envelope gets a
 * prefix in front of its content and a changed envelope without its content
 * being written again, in the buffer (small) or on disk (large), and is
 * committed as exactly envelope + pad + prefix + content, which the queue's
 * reader parses back. What does not fit is refused with nothing written.
 */
static void prefix_case(struct fixture *fx, size_t clen, bool read_first)
{
	struct queue_envelope env, back;
	struct result r = {.fx = fx};
	char err[200], *text;
	size_t tlen, flen, off;
	static char content[100000];
	static const char prefix[] = "X-Stamp: 1\r\nX-Result: clean\r\n";
	size_t plen = sizeof(prefix) - 1;

	assert_true(clen <= sizeof(content));
	make_env(&env);
	queue_id_new(env.id); /* for the length: every id has the same */
	assert_int_equal(queue_envelope_format(&env, &text, &tlen), 0);
	free(text);
	struct queue_tx *tx = queue_tx_begin_reserve(fx->q, &env, 600, err, sizeof(err));
	assert_non_null(tx);
	assert_int_equal(queue_tx_content_offset(tx), tlen + 600);
	char id[QUEUE_ID_MAX + 1];
	snprintf(id, sizeof(id), "%s", queue_tx_id(tx));
	for (size_t i = 0; i < clen; i++)
		content[i] = (char)('a' + i % 26);
	assert_int_equal(queue_tx_write(tx, content, clen), 0);
	int scanfd = read_first ? queue_tx_read_fd(tx) : -1;

	/* Too big for the room: refused, nothing changed. */
	static char huge[700];
	memset(huge, 'h', sizeof(huge));
	assert_int_equal(queue_tx_prefix(tx, &env, huge, sizeof(huge), err, sizeof(err)), 1);
	assert_int_equal(queue_tx_content_size(tx), clen);

	assert_int_equal(queue_envelope_add_rcpt(&env, "bcc@example.com"), 0);
	memset(env.id, 0, sizeof(env.id));
	assert_int_equal(queue_tx_prefix(tx, &env, prefix, plen, err, sizeof(err)), 0);
	assert_string_equal(env.id, id);
	assert_int_equal(queue_tx_content_size(tx), clen + plen);
	queue_tx_commit(tx, on_commit, &r);
	run_until(fx, &r.calls, 1);
	assert_int_equal(r.ok, 1);
	assert_int_equal(count_in(fx, "tmp"), 0);

	char *file = read_file(queue_spool_dirfd(fx->q, QUEUE_AREA_QUEUE), id, &flen);
	assert_int_equal(flen, tlen + 600 + clen);
	assert_int_equal(queue_envelope_parse(file, flen, &back, &off, err, sizeof(err)), 0);
	assert_int_equal(back.nrcpts, 2);
	assert_string_equal(back.rcpts[1], "bcc@example.com");
	assert_int_equal(off, tlen + 600 - plen);
	assert_memory_equal(file + off, prefix, plen);
	assert_memory_equal(file + off + plen, content, clen);
	queue_envelope_free(&back);
	if (scanfd >= 0)
		close(scanfd);
	free(file);
	queue_envelope_free(&env);
	assert_int_equal(unlinkat(queue_spool_dirfd(fx->q, QUEUE_AREA_QUEUE), id, 0), 0);
}

static void test_prefix_in_place(void **state)
{
	struct fixture *fx = *state;
	prefix_case(fx, 0, false);
	prefix_case(fx, 20, false);	/* still in the buffer */
	prefix_case(fx, 20, true);	/* flushed for the scanner */
	prefix_case(fx, 100000, false); /* written through */
	/* Without room (queue_tx_begin) nothing fits. */
	struct queue_envelope env;
	char err[200];
	make_env(&env);
	struct queue_tx *tx = queue_tx_begin(fx->q, &env, err, sizeof(err));
	assert_non_null(tx);
	assert_int_equal(queue_tx_prefix(tx, &env, "X: 1\r\n", 6, err, sizeof(err)), 1);
	queue_tx_abort(tx);
	queue_envelope_free(&env);
}

static void test_clean_tmp(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct result r = {.fx = fx};
	char err[200];

	make_env(&env);
	struct queue_tx *tx = queue_tx_begin(fx->q, &env, err, sizeof(err));
	assert_non_null(tx);
	queue_tx_commit(tx, on_commit, &r);
	run_until(fx, &r.calls, 1);
	assert_int_equal(r.ok, 1);

	/* A dead writer's leftovers, including odd names. */
	int tfd = queue_spool_dirfd(fx->q, QUEUE_AREA_TMP);
	close(openat(tfd, "7KQ2M0X9ZC4TDV1R8HNB", O_CREAT | O_WRONLY, 0600));
	close(openat(tfd, "not-an-id", O_CREAT | O_WRONLY, 0600));
	assert_int_equal(symlinkat("/etc/passwd", tfd, ".hidden"), 0);
	assert_int_equal(queue_spool_clean_tmp(fx->q), 3);
	assert_int_equal(count_in(fx, "tmp"), 0);
	assert_int_equal(count_in(fx, "queue"), 1);
	assert_true(exists_in(fx, QUEUE_AREA_QUEUE, env.id));
	assert_int_equal(queue_spool_clean_tmp(fx->q), 0);
	queue_envelope_free(&env);
}

static void test_free_runs_pending_callbacks(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct result r = {.fx = fx};
	char err[200];

	make_env(&env);
	struct queue_tx *tx = queue_tx_begin(fx->q, &env, err, sizeof(err));
	assert_non_null(tx);
	queue_tx_commit(tx, on_commit, &r);
	queue_spool_free(fx->q); /* the loop never ran */
	fx->q = NULL;
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.ok, 1);
	struct stat st;
	char path[128];
	snprintf(path, sizeof(path), "%s/queue/%s", fx->dir, env.id);
	assert_int_equal(stat(path, &st), 0);
	queue_envelope_free(&env);
}

/* queue_spool_run_job: the work on the commit thread, in turn with commits, done in the loop. */
struct job_result {
	pthread_t work_thread;
	int works, dones;
	int order; /* the commit's callback count when the work ran */
	const int *commit_calls;
};

static void job_work(void *arg)
{
	struct job_result *j = arg;
	j->work_thread = pthread_self();
	j->order = *j->commit_calls;
	j->works++;
}

static void job_done(void *arg)
{
	struct job_result *j = arg;
	assert_int_equal(j->works, 1);
	j->dones++;
}

static void test_run_job(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct result r = {.fx = fx};
	struct job_result j = {.commit_calls = &r.calls};
	char err[200];

	make_env(&env);
	struct queue_tx *tx = queue_tx_begin(fx->q, &env, err, sizeof(err));
	assert_non_null(tx);
	assert_int_equal(queue_tx_write(tx, "x\r\n", 3), 0);
	queue_tx_commit(tx, on_commit, &r);
	queue_spool_run_job(fx->q, job_work, job_done, &j);
	assert_int_equal(j.dones, 0); /* never from inside the call */
	run_until(fx, &j.dones, 1);
	assert_int_equal(j.works, 1);
	assert_int_equal(j.dones, 1);
	assert_false(pthread_equal(j.work_thread, pthread_self()));
	assert_int_equal(j.order, 0); /* in the commit's batch, before its callback */
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.ok, 1);
	queue_envelope_free(&env);

	/* A job still queued when the spool is freed: run, and its done called. */
	struct job_result k = {.commit_calls = &r.calls};
	queue_spool_run_job(fx->q, job_work, job_done, &k);
	queue_spool_free(fx->q); /* the loop never ran */
	fx->q = NULL;
	assert_int_equal(k.works, 1);
	assert_int_equal(k.dones, 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_commit_exact_bytes),
		T(test_abort_leaves_nothing),
		T(test_begin_refuses_bad_envelope),
		T(test_group_commit_batches),
		T(test_commit_refuses_planted_symlink),
		T(test_write_fails_on_file_size_limit),
		T(test_read_fd_for_scanner),
		T(test_restart_rewrites_in_place),
		T(test_prefix_in_place),
		T(test_clean_tmp),
		T(test_free_runs_pending_callbacks),
		T(test_run_job),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

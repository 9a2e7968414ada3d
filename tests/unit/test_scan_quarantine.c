/*
 * Unit tests for the quarantine directory (relay/scan_quarantine.c): store
 * with its reason, list, stat, headers, delete, release into the spool's
 * queue/ (without the hold line, readable by the queue's reader), recovery
 * of a release that died, and refusal of unsafe files and directories.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/scan_quarantine.h"

#define CONTENT "Received: from x by y\r\nSubject: quarantine me\r\n\r\nbody line\r\n"

struct fixture {
	char dir[64];
	char qdir[96];
	struct queue_spool *spool;
	struct scan_quarantine *qr;
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
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/airlock-quar-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->spool = queue_spool_open(fx->dir, NULL, NULL, err, sizeof(err));
	if (!fx->spool)
		fail_msg("spool: %s", err);
	snprintf(fx->qdir, sizeof(fx->qdir), "%s/quarantine", fx->dir);
	fx->qr = scan_quarantine_open(fx->qdir, err, sizeof(err));
	if (!fx->qr)
		fail_msg("quarantine: %s", err);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	scan_quarantine_free(fx->qr);
	queue_spool_free(fx->spool);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Stores CONTENT from a@example.org to two recipients; returns its id in id. */
static void store(struct fixture *fx, const char *reason, char id[QUEUE_ID_MAX + 1])
{
	struct queue_envelope env = {0};
	char err[200];
	queue_id_new(env.id);
	env.arrived = 1767225600;
	snprintf(env.client_addr, sizeof(env.client_addr), "198.51.100.10");
	snprintf(env.helo, sizeof(env.helo), "client.example.org");
	assert_int_equal(queue_envelope_set_from(&env, "a@example.org"), 0);
	assert_int_equal(queue_envelope_add_rcpt(&env, "r1@example.com"), 0);
	assert_int_equal(queue_envelope_add_rcpt(&env, "r2@example.com"), 0);
	if (scan_quarantine_store(fx->qr, &env, reason, CONTENT, strlen(CONTENT), err,
				  sizeof(err)) < 0)
		fail_msg("store: %s", err);
	memcpy(id, env.id, QUEUE_ID_MAX + 1);
	queue_envelope_free(&env);
}

static bool exists_at(const char *dir, const char *name)
{
	char path[256];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

static int collect(void *arg, const char *id)
{
	char *ids = arg;
	strcat(ids, id);
	strcat(ids, " ");
	return 0;
}

static void test_store_stat_headers(void **state)
{
	struct fixture *fx = *state;
	char id[QUEUE_ID_MAX + 1], err[200];
	store(fx, "rule q1: subject\r\nX", id);
	assert_true(exists_at(fx->qdir, id));
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", id);
	assert_false(exists_at(fx->qdir, tmp));

	struct scan_quarantine_info in;
	assert_int_equal(scan_quarantine_stat(fx->qr, id, &in, err, sizeof(err)), 0);
	assert_string_equal(in.id, id);
	assert_int_equal(in.arrived, 1767225600);
	assert_int_equal(in.content_size, strlen(CONTENT));
	assert_string_equal(in.from, "a@example.org");
	assert_string_equal(in.first_rcpt, "r1@example.com");
	assert_int_equal(in.nrcpts, 2);
	assert_string_equal(in.client, "198.51.100.10");
	assert_string_equal(in.reason, "rule q1: subject  X"); /* CR, LF became spaces */

	struct queue_envelope env;
	char *hdr;
	size_t hlen;
	bool cut = true;
	assert_int_equal(
		scan_quarantine_headers(fx->qr, id, &env, &hdr, &hlen, &cut, err, sizeof(err)), 0);
	assert_string_equal(hdr, "Received: from x by y\r\nSubject: quarantine me\r\n");
	assert_int_equal(hlen, strlen(hdr));
	assert_false(cut);
	assert_string_equal(env.helo, "client.example.org");
	assert_string_equal(env.rcpts[1], "r2@example.com");
	free(hdr);
	queue_envelope_free(&env);

	assert_int_equal(
		scan_quarantine_stat(fx->qr, "0000000000000000000Z", &in, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no quarantined message"));
	assert_int_equal(scan_quarantine_stat(fx->qr, "../queue/x", &in, err, sizeof(err)), -1);
	assert_string_equal(err, "not a queue id");
}

static void test_list_and_delete(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_MAX + 1], b[QUEUE_ID_MAX + 1], ids[128] = "";
	store(fx, "one", a);
	store(fx, "two", b);
	/* names that are not ids are not listed */
	char path[256];
	snprintf(path, sizeof(path), "%s/notes.txt", fx->qdir);
	fclose(fopen(path, "w"));
	assert_int_equal(scan_quarantine_list(fx->qr, collect, ids), 2);
	assert_non_null(strstr(ids, a));
	assert_non_null(strstr(ids, b));
	assert_int_equal(strlen(ids), 2 * (QUEUE_ID_LEN + 1));

	assert_int_equal(scan_quarantine_delete(fx->qr, a), 0);
	assert_false(exists_at(fx->qdir, a));
	assert_int_equal(scan_quarantine_delete(fx->qr, a), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(scan_quarantine_delete(fx->qr, "notes.txt"), -1);
	assert_int_equal(errno, EINVAL);
	assert_true(exists_at(fx->qdir, "notes.txt"));
	ids[0] = '\0';
	assert_int_equal(scan_quarantine_list(fx->qr, collect, ids), 1);
	assert_int_equal(strncmp(ids, b, QUEUE_ID_LEN), 0);
}

static void test_release_into_queue(void **state)
{
	struct fixture *fx = *state;
	char id[QUEUE_ID_MAX + 1], err[200];
	store(fx, "rule q1", id);
	assert_int_equal(scan_quarantine_release(fx->qr, fx->spool, id, err, sizeof(err)), 0);
	assert_false(exists_at(fx->qdir, id));
	char rel[64];
	snprintf(rel, sizeof(rel), "%s.rel", id);
	assert_false(exists_at(fx->qdir, rel));

	struct queue_envelope env;
	int fd;
	off_t off;
	uint64_t clen;
	assert_int_equal(queue_msg_open(fx->spool, QUEUE_AREA_QUEUE, id, &env, &fd, &off, &clen,
					err, sizeof(err)),
			 0);
	assert_null(env.hold_reason); /* released: no hold line */
	assert_string_equal(env.from, "a@example.org");
	assert_int_equal(env.nrcpts, 2);
	assert_int_equal(env.arrived, 1767225600);
	assert_int_equal(clen, strlen(CONTENT));
	char body[128] = "";
	assert_int_equal(pread(fd, body, clen, off), (ssize_t)clen);
	assert_string_equal(body, CONTENT);
	close(fd);
	queue_envelope_free(&env);

	/* released twice: it is gone */
	assert_int_equal(scan_quarantine_release(fx->qr, fx->spool, id, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no quarantined message"));
}

static void test_release_never_replaces(void **state)
{
	struct fixture *fx = *state;
	char id[QUEUE_ID_MAX + 1], err[200];
	store(fx, "r", id);
	/* a name already in queue/ (planted, or a release that died after its rename) */
	int fd = openat(queue_spool_dirfd(fx->spool, QUEUE_AREA_QUEUE), id,
			O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "other", 5), 5);
	close(fd);
	assert_int_equal(scan_quarantine_release(fx->qr, fx->spool, id, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot move"));
	assert_true(exists_at(fx->qdir, id)); /* still quarantined */

	/* the recovery takes queue/ID as the released copy and drops the quarantined one */
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", id);
	int dir = open(fx->qdir, O_RDONLY | O_DIRECTORY);
	fd = openat(dir, tmp, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	close(dir);
	/* the queue process's recovery leaves a store in progress (ID.tmp) alone */
	assert_int_equal(scan_quarantine_recover(fx->qr, fx->spool), 1);
	assert_false(exists_at(fx->qdir, id));
	assert_true(exists_at(fx->qdir, tmp));
	/* the writer's own start-up removes it */
	assert_int_equal(scan_quarantine_clean_tmp(fx->qr), 1);
	assert_false(exists_at(fx->qdir, tmp));
}

static void test_unsafe_refused(void **state)
{
	struct fixture *fx = *state;
	char id[QUEUE_ID_MAX + 1], err[200], path[256], target[256];
	struct scan_quarantine_info in;
	store(fx, "r", id);
	/* a symlink in place of a message */
	char fake[QUEUE_ID_MAX + 1];
	queue_id_new(fake);
	snprintf(path, sizeof(path), "%s/%s", fx->qdir, fake);
	snprintf(target, sizeof(target), "%s/%s", fx->qdir, id);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(scan_quarantine_stat(fx->qr, fake, &in, err, sizeof(err)), -1);
	assert_int_equal(scan_quarantine_release(fx->qr, fx->spool, fake, err, sizeof(err)), -1);
	/* a hard link to it: two links */
	unlink(path);
	assert_int_equal(link(target, path), 0);
	assert_int_equal(scan_quarantine_stat(fx->qr, id, &in, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "one link"));
	unlink(path);
	/* a file whose id line names another message */
	assert_int_equal(rename(target, path), 0);
	assert_int_equal(scan_quarantine_stat(fx->qr, fake, &in, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "malformed"));
	/* garbage */
	snprintf(path, sizeof(path), "%s/%s", fx->qdir, id);
	FILE *f = fopen(path, "w");
	fputs("not an envelope\n\nbody", f);
	fclose(f);
	assert_int_equal(scan_quarantine_stat(fx->qr, id, &in, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "malformed"));

	/* a directory others may write, and a symlink as the directory */
	char d[160];
	snprintf(d, sizeof(d), "%s/open", fx->dir);
	assert_int_equal(mkdir(d, 0777), 0);
	assert_int_equal(chmod(d, 0777), 0);
	assert_null(scan_quarantine_open(d, err, sizeof(err)));
	assert_non_null(strstr(err, "not group/other writable"));
	snprintf(path, sizeof(path), "%s/link", fx->dir);
	assert_int_equal(symlink(fx->qdir, path), 0);
	assert_null(scan_quarantine_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, "not a directory"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_stat_headers),	T(test_list_and_delete), T(test_release_into_queue),
		T(test_release_never_replaces), T(test_unsafe_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

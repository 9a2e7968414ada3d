/*
 * Shared by test_scan_engine.c and test_scan_engine_reload.c: the signature
 * database generated once per run by tests/scan/make-test-db.sh into a temp
 * directory (every test skips when sigtool or clamav-testfiles is missing),
 * an engine with default limits on it, and file and scan helpers.
 */
#ifndef TEST_SCAN_ENGINE_FIXTURE_H
#define TEST_SCAN_ENGINE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <clamav.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "relay/scan_engine.h"

#define TESTFILES "/usr/share/clamav-testfiles"
#define CLAM_SIG  "Airlock.Test.clam.exe.UNOFFICIAL"

static char root[64]; /* temp dir of this run */
static char base_db[128];
static bool no_db;		/* sigtool or the test files are missing: every test skips */
static struct scan_engine *eng; /* default limits on base_db */

/* ---- files and buffers ---- */

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	char *buf = NULL;
	size_t cap = 0, n = 0, got;
	do {
		cap = cap * 2 + 4096;
		buf = realloc(buf, cap);
		assert_non_null(buf);
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	*len = n;
	return buf;
}

static inline void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static inline int run_make_db(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "sh %s/tests/scan/make-test-db.sh %s >/dev/null",
		 AIRLOCK_SOURCE_DIR, dir);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A fresh copy of the test database in its own directory (reload tests change it). */
static inline void copy_db(const char *dir)
{
	static const char *files[] = {"airlock-test.hdb", "airlock-test.ndb"};
	assert_int_equal(mkdir(dir, 0700), 0);
	for (size_t i = 0; i < 2; i++) {
		char from[256], to[256];
		size_t len;
		snprintf(from, sizeof(from), "%s/%s", base_db, files[i]);
		snprintf(to, sizeof(to), "%s/%s", dir, files[i]);
		void *data = read_all(from, &len);
		write_file(to, data, len);
		free(data);
	}
}

/* A sealed in-memory file with these bytes, as the scan process gets from the spool. */
static inline int mem_fd(const void *data, size_t len)
{
	int fd = memfd_create("scan-test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		assert_true(n > 0);
		off += (size_t)n;
	}
	return fd;
}

static inline int scan_buf(struct scan_engine *e, const void *data, size_t len,
			   struct scan_verdict *v)
{
	int fd = mem_fd(data, len);
	int rc = scan_engine_scan_fd(e, fd, v);
	close(fd);
	return rc;
}

static inline struct scan_engine *engine_with(const char *dir, const struct scan_limits *l)
{
	char err[256];
	struct scan_engine *e = scan_engine_new(dir, l, err, sizeof(err));
	if (!e)
		fail_msg("scan_engine_new: %s", err);
	return e;
}

#define ASSERT_VERDICT(v, res, nm)                                                                 \
	do {                                                                                       \
		assert_int_equal((v).result, (res));                                               \
		assert_string_equal((v).name, (nm));                                               \
	} while (0)

/* ---- group setup ---- */

static inline int group_setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/airlock-scan-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(base_db, sizeof(base_db), "%s/db", root);
	int rc = run_make_db(base_db);
	if (rc == 77) {
		fprintf(stderr, "SKIP: sigtool (clamav) or clamav-testfiles not installed\n");
		no_db = true;
		return 0;
	}
	if (rc != 0)
		return -1;
	struct scan_limits l;
	scan_limits_default(&l);
	char err[256];
	eng = scan_engine_new(base_db, &l, err, sizeof(err));
	if (!eng)
		fprintf(stderr, "scan_engine_new: %s\n", err);
	return eng ? 0 : -1;
}

static inline int group_teardown(void **state)
{
	(void)state;
	scan_engine_free(eng);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static inline int need_db(void **state)
{
	(void)state;
	if (no_db)
		skip();
	return 0;
}

#endif

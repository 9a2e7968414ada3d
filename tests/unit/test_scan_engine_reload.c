/*
 * Unit tests for reloading the scan engine (relay/scan_engine_reload.c):
 * engine and database information, change detection on the database
 * directory, background and blocking reloads while four threads scan, and
 * failed reloads.
 */
#include "test_scan_engine_fixture.h"

#define MARKER	   "AIRLOCK-RELOAD-MARKER-7Q2M0X9Z"
#define MARKER_SIG "Airlock.Test.Reload.UNOFFICIAL"

static void test_info_and_db_changed(void **state)
{
	(void)state;
	char dir[160], path[200];
	snprintf(dir, sizeof(dir), "%s/watch", root);
	copy_db(dir);
	struct scan_limits l;
	scan_limits_default(&l);
	struct scan_engine *e = engine_with(dir, &l);

	struct scan_engine_info info;
	scan_engine_info(e, &info);
	assert_string_equal(info.engine_version, cl_retver());
	assert_int_equal(info.signatures, 12); /* 11 executables + EICAR */
	assert_int_equal(info.db_version, 0);
	struct stat st;
	snprintf(path, sizeof(path), "%s/airlock-test.ndb", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(info.db_time, st.st_mtim.tv_sec);
	assert_true(info.loaded_at >= time(NULL) - 60 && info.loaded_at <= time(NULL));
	assert_int_equal(info.last_reload, 0);
	assert_int_equal(info.reloads, 0);
	assert_false(info.reloading);

	assert_false(scan_engine_db_changed(e));
	/* Regenerating the same database changes nothing (the script is idempotent). */
	assert_int_equal(run_make_db(dir), 0);
	assert_false(scan_engine_db_changed(e));
	/* A dot-file (an updater's temp file) is not a change. */
	snprintf(path, sizeof(path), "%s/.tmp-download", dir);
	write_file(path, "x", 1);
	assert_false(scan_engine_db_changed(e));

	/* A new database file is. */
	snprintf(path, sizeof(path), "%s/extra.ndb", dir);
	const char *extra = "Airlock.Test.Extra:0:*:41495245585452414d41524b4552\n";
	write_file(path, extra, strlen(extra));
	assert_true(scan_engine_db_changed(e));
	assert_int_equal(scan_engine_reload(e, true, NULL, NULL), 0);
	assert_false(scan_engine_db_changed(e));
	scan_engine_info(e, &info);
	assert_int_equal(info.signatures, 13);
	assert_int_equal(info.reloads, 1);

	/* Same size, new mtime: a change. */
	struct timespec ts[2] = {{0, UTIME_OMIT}, {1767225600, 0}};
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	assert_true(scan_engine_db_changed(e));
	/* Removed: a change. */
	assert_int_equal(scan_engine_reload(e, true, NULL, NULL), 0);
	assert_false(scan_engine_db_changed(e));
	assert_int_equal(unlink(path), 0);
	assert_true(scan_engine_db_changed(e));
	scan_engine_free(e);

	uint64_t a, b;
	assert_int_equal(scan_db_fingerprint(dir, &a), 0);
	assert_int_equal(scan_db_fingerprint(dir, &b), 0);
	assert_true(a == b);
	snprintf(path, sizeof(path), "%s/nope", root);
	assert_int_equal(scan_db_fingerprint(path, &a), -1);
}

struct load {
	struct scan_engine *e;
	void *exe;
	size_t exelen;
	atomic_bool stop;
	atomic_uint scans, bad;
	char bad_name[2 * SCAN_NAME_MAX + 16];
};

static void *scanner(void *arg)
{
	struct load *ld = arg;
	int fd = mem_fd(ld->exe, ld->exelen);
	while (!atomic_load(&ld->stop)) {
		struct scan_verdict v;
		int rc = scan_engine_scan_fd(ld->e, fd, &v);
		if (rc != 0 || v.result != SCAN_INFECTED || strcmp(v.name, CLAM_SIG) != 0) {
			if (atomic_fetch_add(&ld->bad, 1) == 0)
				snprintf(ld->bad_name, sizeof(ld->bad_name), "%d %s %s", v.result,
					 v.name, v.detail);
		}
		atomic_fetch_add(&ld->scans, 1);
	}
	close(fd);
	return NULL;
}

struct done_rec {
	atomic_int calls, ok;
	char err[256];
};

static void on_done(void *arg, int ok, const char *err)
{
	struct done_rec *d = arg;
	if (err)
		snprintf(d->err, sizeof(d->err), "%s", err);
	atomic_store(&d->ok, ok);
	atomic_fetch_add(&d->calls, 1);
}

static void wait_done(struct done_rec *d, int calls)
{
	for (int i = 0; i < 3000 && atomic_load(&d->calls) < calls; i++)
		usleep(5000);
	assert_int_equal(atomic_load(&d->calls), calls);
}

static void add_marker_sig(const char *dir)
{
	char path[200], line[256], hex[80];
	for (size_t i = 0; i < strlen(MARKER); i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)MARKER[i]);
	snprintf(path, sizeof(path), "%s/reload.ndb", dir);
	int n = snprintf(line, sizeof(line), "Airlock.Test.Reload:0:*:%s\n", hex);
	write_file(path, line, (size_t)n);
}

static void reload_under_load(bool blocking)
{
	char dir[160];
	snprintf(dir, sizeof(dir), "%s/reload-%d", root, blocking);
	copy_db(dir);
	struct scan_limits l;
	scan_limits_default(&l);
	struct load ld = {.e = engine_with(dir, &l)};
	ld.exe = read_all(TESTFILES "/clam.exe", &ld.exelen);
	const char *marked = "Subject: x\r\n\r\nhello " MARKER "\r\n";
	struct scan_verdict v;
	assert_int_equal(scan_buf(ld.e, marked, strlen(marked), &v), 0);
	ASSERT_VERDICT(v, SCAN_CLEAN, "");

	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, scanner, &ld), 0);
	while (atomic_load(&ld.scans) < 20)
		usleep(1000);
	add_marker_sig(dir);
	struct done_rec d = {0};
	unsigned before = atomic_load(&ld.scans);
	assert_int_equal(scan_engine_reload(ld.e, blocking, on_done, &d), 0);
	if (blocking)
		assert_int_equal(atomic_load(&d.calls), 1);
	wait_done(&d, 1);
	assert_int_equal(atomic_load(&d.ok), 1);
	unsigned during = atomic_load(&ld.scans) - before;
	/* The new engine is in use: the new signature matches. */
	assert_int_equal(scan_buf(ld.e, marked, strlen(marked), &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, MARKER_SIG);
	unsigned after = atomic_load(&ld.scans);
	while (atomic_load(&ld.scans) < after + 20)
		usleep(1000);
	atomic_store(&ld.stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&ld.bad) != 0)
		fail_msg("%u of %u scans wrong, first: %s", atomic_load(&ld.bad),
			 atomic_load(&ld.scans), ld.bad_name);
	/* In the background mode scanning went on while the new engine compiled. */
	if (!blocking)
		assert_true(during > 0);

	struct scan_engine_info info;
	scan_engine_info(ld.e, &info);
	assert_int_equal(info.reloads, 1);
	assert_int_equal(info.signatures, 13);
	assert_true(info.last_reload > 0);
	assert_false(info.reloading);
	scan_engine_free(ld.e);
	free(ld.exe);
}

static void test_reload_background(void **state)
{
	(void)state;
	reload_under_load(false);
}

static void test_reload_blocking(void **state)
{
	(void)state;
	reload_under_load(true);
}

static void test_reload_failures(void **state)
{
	(void)state;
	char dir[160], path[200];
	snprintf(dir, sizeof(dir), "%s/fail", root);
	copy_db(dir);
	struct scan_limits l;
	scan_limits_default(&l);
	struct scan_engine *e = engine_with(dir, &l);
	size_t exelen;
	void *exe = read_all(TESTFILES "/clam.exe", &exelen);
	struct scan_verdict v;
	struct done_rec d = {0};

	/* Background: a malformed database fails the reload; the old engine keeps scanning. */
	snprintf(path, sizeof(path), "%s/broken.ndb", dir);
	write_file(path, "this is not a signature\n", 24);
	assert_int_equal(scan_engine_reload(e, false, on_done, &d), 0);
	wait_done(&d, 1);
	assert_int_equal(atomic_load(&d.ok), 0);
	assert_non_null(strstr(d.err, dir));
	assert_int_equal(scan_buf(e, exe, exelen, &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, CLAM_SIG);
	struct scan_engine_info info;
	scan_engine_info(e, &info);
	assert_int_equal(info.reload_failures, 1);
	assert_int_equal(info.reloads, 0);
	assert_string_equal(info.last_error, d.err);
	assert_int_equal(info.signatures, 12);

	/* Blocking: a failure leaves no engine, and scans are errors, never clean. */
	assert_int_equal(scan_engine_reload(e, true, on_done, &d), 0);
	assert_int_equal(atomic_load(&d.calls), 2);
	assert_int_equal(atomic_load(&d.ok), 0);
	assert_int_equal(scan_buf(e, "hello", 5, &v), -1);
	ASSERT_VERDICT(v, SCAN_ERROR, "error");
	assert_string_equal(v.detail, "no engine loaded (last reload failed)");

	/* Fixed: the next reload brings scanning back. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(scan_engine_reload(e, false, on_done, &d), 0);
	wait_done(&d, 3);
	assert_int_equal(atomic_load(&d.ok), 1);
	assert_int_equal(scan_buf(e, exe, exelen, &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, CLAM_SIG);
	scan_engine_info(e, &info);
	assert_int_equal(info.reload_failures, 2);
	assert_int_equal(info.reloads, 1);
	assert_string_equal(info.last_error, "");
	free(exe);
	scan_engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_info_and_db_changed, need_db),
		cmocka_unit_test_setup(test_reload_background, need_db),
		cmocka_unit_test_setup(test_reload_blocking, need_db),
		cmocka_unit_test_setup(test_reload_failures, need_db),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

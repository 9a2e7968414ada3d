/*
 * Unit tests for the libclamav engine wrapper (relay/scan_engine.c) on a
 * signature database generated at test time from Debian's clamav-testfiles:
 * the test files themselves and containers built here with libarchive, exact
 * signature names, every limit, heuristics, errors and the pure verdict
 * mapping. Reloads are in test_scan_engine_reload.c.
 */
#include "test_scan_engine_fixture.h"

#define EICAR_SIG "Airlock.Test.EICAR.UNOFFICIAL"
#define EICAR	  "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

/* ---- building test data ---- */

static int scan_file(struct scan_engine *e, const char *path, struct scan_verdict *v)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("cannot open %s", path);
	int rc = scan_engine_scan_fd(e, fd, v);
	close(fd);
	return rc;
}

/* An archive (zip, or tar.gz when tgz) holding count members name (name.N after the first). */
static void *archive_of(bool tgz, const char *name, const void *data, size_t len, int count,
			size_t *outlen)
{
	size_t cap = len * (size_t)count + 4096 * (size_t)count + 65536;
	char *out = malloc(cap);
	assert_non_null(out);
	struct archive *a = archive_write_new();
	if (tgz) {
		assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	} else {
		assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	}
	assert_int_equal(archive_write_open_memory(a, out, cap, outlen), ARCHIVE_OK);
	for (int i = 0; i < count; i++) {
		char member[128];
		if (i == 0)
			snprintf(member, sizeof(member), "%s", name);
		else
			snprintf(member, sizeof(member), "%s.%d", name, i);
		struct archive_entry *ent = archive_entry_new();
		archive_entry_set_pathname(ent, member);
		archive_entry_set_filetype(ent, AE_IFREG);
		archive_entry_set_perm(ent, 0644);
		archive_entry_set_size(ent, (la_int64_t)len);
		archive_entry_set_mtime(ent, 1767225600, 0);
		assert_int_equal(archive_write_header(a, ent), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
		archive_entry_free(ent);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return out;
}

/* data wrapped in depth zips, innermost first; *len is updated. */
static void *nest_zips(const char *name, const void *data, size_t *len, int depth)
{
	void *cur = malloc(*len);
	assert_non_null(cur);
	memcpy(cur, data, *len);
	for (int i = 0; i < depth; i++) {
		size_t outlen;
		void *z = archive_of(false, i == 0 ? name : "inner.zip", cur, *len, 1, &outlen);
		free(cur);
		cur = z;
		*len = outlen;
	}
	return cur;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A MIME message with a text part and one base64 attachment of data. Caller frees. */
static char *message_with(const char *text, const char *filename, const void *data, size_t len)
{
	size_t cap = 1024 + strlen(text) + len / 3 * 4 + len / 54 * 2 + 16;
	char *m = malloc(cap);
	assert_non_null(m);
	int n = snprintf(m, cap,
			 "From: a@example.org\r\nTo: b@example.com\r\nSubject: test\r\n"
			 "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n"
			 "\r\n--BB\r\nContent-Type: text/plain\r\n\r\n%s\r\n--BB\r\n"
			 "Content-Type: application/octet-stream; name=\"%s\"\r\n"
			 "Content-Transfer-Encoding: base64\r\n\r\n",
			 text, filename);
	size_t o = (size_t)n;
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		v |= i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0;
		v |= i + 2 < len ? p[i + 2] : 0;
		m[o++] = b64[v >> 18 & 63];
		m[o++] = b64[v >> 12 & 63];
		m[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		m[o++] = i + 2 < len ? b64[v & 63] : '=';
		if ((i / 3 + 1) % 19 == 0) {
			m[o++] = '\r';
			m[o++] = '\n';
		}
	}
	o += (size_t)snprintf(m + o, cap - o, "\r\n--BB--\r\n");
	assert_true(o < cap);
	return m;
}

/* ---- detection ---- */

static void test_testfiles(void **state)
{
	(void)state;
	static const char *files[] = {
		"clam.exe",  "clam.zip", "clam.tar.gz", "clam.7z", "clam.exe.mbox.base64",
		"clam.mail", "clam.pdf"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[256];
		struct scan_verdict v;
		snprintf(path, sizeof(path), "%s/%s", TESTFILES, files[i]);
		assert_int_equal(scan_file(eng, path, &v), 0);
		if (v.result != SCAN_INFECTED || strcmp(v.name, CLAM_SIG) != 0)
			fail_msg("%s: result %d name %s", files[i], v.result, v.name);
	}
	struct scan_verdict v;
	assert_int_equal(scan_file(eng, TESTFILES "/clam-upx.exe", &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, "Airlock.Test.clam-upx.exe.UNOFFICIAL");
}

static void test_built_containers(void **state)
{
	(void)state;
	size_t exelen, len;
	void *exe = read_all(TESTFILES "/clam.exe", &exelen);
	struct scan_verdict v;

	/* A zip inside a zip, alone and attached to a message. */
	size_t zzlen = exelen;
	void *zz = nest_zips("clam.exe", exe, &zzlen, 2);
	assert_int_equal(scan_buf(eng, zz, zzlen, &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, CLAM_SIG);
	char *m = message_with("hello", "docs.zip", zz, zzlen);
	assert_int_equal(scan_buf(eng, m, strlen(m), &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, CLAM_SIG);
	free(m);
	free(zz);

	/* A tar.gz made here (not Debian's), alone and attached. */
	void *tgz = archive_of(true, "clam.exe", exe, exelen, 1, &len);
	assert_int_equal(scan_buf(eng, tgz, len, &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, CLAM_SIG);
	m = message_with("see attached", "clam.tar.gz", tgz, len);
	assert_int_equal(scan_buf(eng, m, strlen(m), &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, CLAM_SIG);
	free(m);
	free(tgz);
	free(exe);
}

static void test_eicar_and_clean(void **state)
{
	(void)state;
	struct scan_verdict v;
	/* In the text of a plain message. */
	const char *text = "From: a@example.org\r\nTo: b@example.com\r\nSubject: hi\r\n\r\n"
			   "Dear user,\r\nplease find " EICAR " in this line.\r\n";
	assert_int_equal(scan_buf(eng, text, strlen(text), &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, EICAR_SIG);
	assert_string_equal(v.detail, "");

	/* Only inside a base64 attachment: found because the mail parser decodes it. */
	char *m = message_with("nothing here", "readme.txt", EICAR, strlen(EICAR));
	assert_null(strstr(m, "EICAR"));
	assert_int_equal(scan_buf(eng, m, strlen(m), &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, EICAR_SIG);
	free(m);

	/* Clean: a text message and a clean attachment. */
	char body[5000];
	memset(body, 'a', sizeof(body));
	m = message_with("Meeting at 10.", "notes.bin", body, sizeof(body));
	assert_int_equal(scan_buf(eng, m, strlen(m), &v), 0);
	ASSERT_VERDICT(v, SCAN_CLEAN, "");
	assert_string_equal(v.detail, "");
	free(m);
}

/* A file: head, then body, then tail; the offset of body in *off. */
static int file_of(const char *head, const char *body, size_t blen, const char *tail, size_t *off)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *all = malloc(hl + blen + tl);
	assert_non_null(all);
	memcpy(all, head, hl);
	memcpy(all + hl, body, blen);
	memcpy(all + hl + blen, tail, tl);
	int fd = mem_fd(all, hl + blen + tl);
	free(all);
	*off = hl;
	return fd;
}

/* Only the range is scanned, as a file of its own, however large. */
static void test_scan_range(void **state)
{
	(void)state;
	struct scan_verdict v;
	size_t off;
	const char *clean = "From: a@example.org\r\nSubject: hi\r\n\r\nNothing to see.\r\n";
	int fd = file_of("envelope " EICAR "\n\n", clean, strlen(clean), EICAR, &off);
	assert_int_equal(scan_engine_scan_range(eng, fd, off, strlen(clean), &v), 0);
	ASSERT_VERDICT(v, SCAN_CLEAN, "");
	/* The whole file is not clean: the range really bounds the scan. */
	assert_int_equal(scan_engine_scan_fd(eng, fd, &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, EICAR_SIG);
	assert_int_equal(scan_engine_scan_range(eng, fd, off, 0, &v), 0);
	ASSERT_VERDICT(v, SCAN_CLEAN, "");
	assert_int_equal(scan_engine_scan_range(eng, fd, off, strlen(clean) + 1000, &v), -1);
	assert_int_equal(v.result, SCAN_ERROR);
	close(fd);
	assert_int_equal(scan_engine_scan_range(eng, -1, 0, 1, &v), -1);

	/* EICAR at the end of a 300 KB base64 attachment, past many of the map's pages. */
	size_t n = 300000;
	char *data = malloc(n);
	assert_non_null(data);
	memset(data, 'q', n);
	memcpy(data + n - strlen(EICAR), EICAR, strlen(EICAR));
	char *m = message_with("see attached", "big.txt", data, n);
	fd = file_of("envelope\n\n", m, strlen(m), "", &off);
	assert_int_equal(scan_engine_scan_range(eng, fd, off, strlen(m), &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, EICAR_SIG);
	close(fd);
	free(m);
	free(data);
}

/* ---- limits ---- */

static void test_recursion_limit(void **state)
{
	(void)state;
	struct scan_limits l;
	scan_limits_default(&l);
	l.max_recursion = 5;
	struct scan_engine *e = engine_with(base_db, &l);
	struct scan_verdict v;
	const char *txt = "plain clean text\n";
	size_t exelen, len = strlen(txt);
	void *exe = read_all(TESTFILES "/clam.exe", &exelen);

	void *deep = nest_zips("a.txt", txt, &len, 12);
	assert_int_equal(scan_buf(e, deep, len, &v), 0);
	ASSERT_VERDICT(v, SCAN_LIMITS, "max_recursion");
	assert_string_equal(v.detail, "Heuristics.Limits.Exceeded.MaxRecursion");
	free(deep);

	/* A virus past the limit is not found, but is not called clean either. */
	len = exelen;
	deep = nest_zips("clam.exe", exe, &len, 12);
	assert_int_equal(scan_buf(e, deep, len, &v), 0);
	ASSERT_VERDICT(v, SCAN_LIMITS, "max_recursion");
	free(deep);

	/* Within the limit it is found. */
	len = exelen;
	deep = nest_zips("clam.exe", exe, &len, 3);
	assert_int_equal(scan_buf(e, deep, len, &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, CLAM_SIG);
	free(deep);
	free(exe);
	scan_engine_free(e);
}

static void test_size_and_file_limits(void **state)
{
	(void)state;
	struct scan_limits l;
	scan_limits_default(&l);
	l.max_file_size = 1 << 20;
	l.max_files = 4;
	struct scan_engine *e = engine_with(base_db, &l);
	struct scan_verdict v;
	size_t big = 3 << 19; /* 1.5 MiB */
	char *blob = malloc(big);
	assert_non_null(blob);
	for (size_t i = 0; i < big; i++)
		blob[i] = (char)('a' + i % 23);

	/* A zip member over max_file_size: libclamav truncates it silently. */
	size_t len;
	void *z = archive_of(false, "big.txt", blob, big, 1, &len);
	assert_true(len < l.max_file_size);
	for (int i = 0; i < 2; i++) {
		/* Twice: the first verdict must not leave it in libclamav's clean cache. */
		assert_int_equal(scan_buf(e, z, len, &v), 0);
		ASSERT_VERDICT(v, SCAN_LIMITS, "max_file_size");
		assert_string_equal(v.detail, "archive member over max_file_size");
	}
	free(z);

	/* The same member in a tar.gz. */
	z = archive_of(true, "big.txt", blob, big, 1, &len);
	assert_int_equal(scan_buf(e, z, len, &v), 0);
	ASSERT_VERDICT(v, SCAN_LIMITS, "max_file_size");
	assert_string_equal(v.detail, "Heuristics.Limits.Exceeded.MaxFileSize");
	free(z);

	/* A message with an oversize attachment. */
	char *m = message_with("big one", "big.bin", blob, big);
	assert_int_equal(scan_buf(e, m, strlen(m), &v), 0);
	ASSERT_VERDICT(v, SCAN_LIMITS, "max_file_size");
	free(m);

	/* More members than max_files. */
	z = archive_of(false, "f.txt", "small\n", 6, 10, &len);
	assert_int_equal(scan_buf(e, z, len, &v), 0);
	ASSERT_VERDICT(v, SCAN_LIMITS, "max_files");
	free(z);
	scan_engine_free(e);

	/* max_scan_time: 1 ms is far too little for two thousand members. */
	scan_limits_default(&l);
	l.max_scan_time_ms = 1;
	e = engine_with(base_db, &l);
	z = archive_of(false, "f.txt", blob, 300, 2000, &len);
	assert_int_equal(scan_buf(e, z, len, &v), 0);
	ASSERT_VERDICT(v, SCAN_LIMITS, "max_scan_time");
	free(z);
	scan_engine_free(e);

	/* max_scan_size: the parts together, each under max_file_size. */
	scan_limits_default(&l);
	l.max_scan_size = 1 << 20;
	e = engine_with(base_db, &l);
	m = message_with("big one", "big.bin", blob, big);
	assert_int_equal(scan_buf(e, m, strlen(m), &v), 0);
	ASSERT_VERDICT(v, SCAN_LIMITS, "max_scan_size");
	free(m);
	scan_engine_free(e);
	free(blob);
}

static void *encrypted_zip(size_t *outlen)
{
	size_t cap = 8192;
	char *out = malloc(cap);
	assert_non_null(out);
	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_options(a, "zip:encryption=zipcrypt"), ARCHIVE_OK);
	assert_int_equal(archive_write_set_passphrase(a, "secret"), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, out, cap, outlen), ARCHIVE_OK);
	struct archive_entry *ent = archive_entry_new();
	archive_entry_set_pathname(ent, "invoice.txt");
	archive_entry_set_filetype(ent, AE_IFREG);
	archive_entry_set_perm(ent, 0644);
	archive_entry_set_size(ent, 6);
	assert_int_equal(archive_write_header(a, ent), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, "hello\n", 6), 6);
	archive_entry_free(ent);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return out;
}

static void test_heuristics(void **state)
{
	(void)state;
	size_t len;
	void *z = encrypted_zip(&len);
	struct scan_verdict v;
	/* Off (the default): an encrypted zip without a signature match is clean. */
	assert_int_equal(scan_buf(eng, z, len, &v), 0);
	ASSERT_VERDICT(v, SCAN_CLEAN, "");

	struct scan_limits l;
	scan_limits_default(&l);
	l.heuristic_encrypted_archive = true;
	struct scan_engine *e = engine_with(base_db, &l);
	assert_int_equal(scan_buf(e, z, len, &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, "Heuristics.Encrypted.Zip");
	/* The same zip attached to a message. */
	char *m = message_with("password is secret", "invoice.zip", z, len);
	assert_int_equal(scan_buf(e, m, strlen(m), &v), 0);
	ASSERT_VERDICT(v, SCAN_INFECTED, "Heuristics.Encrypted.Zip");
	free(m);
	scan_engine_free(e);
	free(z);
}

/* ---- errors and the pure mapping ---- */

static void test_errors(void **state)
{
	(void)state;
	struct scan_limits l;
	char err[256], dir[160];
	scan_limits_default(&l);

	snprintf(dir, sizeof(dir), "%s/missing", root);
	assert_null(scan_engine_new(dir, &l, err, sizeof(err)));
	assert_non_null(strstr(err, dir));
	assert_int_equal(scan_db_check(dir, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file or directory"));
	unsigned sigs = 0;
	assert_int_equal(scan_db_check(base_db, &sigs, err, sizeof(err)), 0);
	assert_true(sigs > 0);

	snprintf(dir, sizeof(dir), "%s/empty", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_null(scan_engine_new(dir, &l, err, sizeof(err)));
	assert_non_null(strstr(err, dir));
	/* Only an ignore list: loads, but not a single signature to scan with. */
	char path[200];
	snprintf(path, sizeof(path), "%s/local.ign2", dir);
	write_file(path, "Airlock.Test.EICAR\n", 19);
	assert_null(scan_engine_new(dir, &l, err, sizeof(err)));
	assert_non_null(strstr(err, "no signatures found"));
	/* airlock-edge refuses to start on such a directory */
	assert_int_equal(scan_db_check(dir, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "holds no ClamAV signatures"));

	l.max_recursion = 0;
	assert_null(scan_engine_new(base_db, &l, err, sizeof(err)));
	assert_non_null(strstr(err, "max_recursion must be"));

	struct scan_verdict v;
	assert_int_equal(scan_engine_scan_fd(eng, -1, &v), -1);
	ASSERT_VERDICT(v, SCAN_ERROR, "error");
	assert_true(v.detail[0] != '\0');
}

/*
 * libclamav answers CL_CLEAN when it cannot write its temporary files, having
 * skipped what needed them (here the decoded attachment with EICAR in it):
 * its error message makes that a scan error, never clean.
 */
static void test_temp_dir_unusable(void **state)
{
	(void)state;
	struct scan_limits l;
	scan_limits_default(&l);
	l.tmp_dir = "/nonexistent/airlock-scan-tmp";
	struct scan_engine *e = engine_with(base_db, &l);
	char *m = message_with("nothing here", "readme.txt", EICAR, strlen(EICAR));
	struct scan_verdict v;
	assert_int_equal(scan_buf(e, m, strlen(m), &v), -1);
	assert_int_equal(v.result, SCAN_ERROR);
	if (strncmp(v.detail, "libclamav: ", 11) != 0)
		fail_msg("detail: %s", v.detail);
	free(m);
	scan_engine_free(e);
}

/* Which libclamav messages say a temporary file could not be made (libclamav 1.4's texts). */
static void test_temp_failure_messages(void **state)
{
	(void)state;
	static const char *const yes[] = {
		"fileblobAddData: Can't write 57 bytes to temporary file big.bin",
		"Can't create temporary directory for scan: /x/20261128-scantemp.3c47.",
		"cli_gentempfd_with_prefix: Can't create temporary file /x/a: Permission denied",
		"GZip: Can't generate temporary file.",
		"cli_magic_scan: Can't create tmp sub-directory for scan: /x.",
		"cli_scanembpe: Can't write to temporary file",
		"fmap_dump_to_file: failed to generate temporary file.",
		"cli_magic_scan_nested_fmap_type: cli_writen error writing subdoc temporary file.",
		"js: can't create temp dir /x",
		"can't mmap() extracted temporary file /x",
		"Mail: Can't create temporary directory /x",
	};
	/* a warning at error level: libclamav goes on with another name */
	static const char renamed[] = "cli_gentempfd_with_prefix: Can't create temp file using "
				      "prefix. Using a randomly generated name instead.";
	static const char *const no[] = {
		"scanzws: LzmaInit() failed",
		renamed,
		"cli_rmdirs: Can't remove temporary directory /x: Directory not empty",
		"cli_ole2_tempdir_scan_vba: uniq_get('_vba_project') failed with ret code (1)!",
		"cli_bcomp_compare_check: unable to normalize temp buffer, params null",
		"cli_pdf: bad pdf version",
		"",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!scan_engine_temp_failure(yes[i]))
			fail_msg("not taken for a temporary file failure: %s", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (scan_engine_temp_failure(no[i]))
			fail_msg("taken for a temporary file failure: %s", no[i]);
}

static void test_verdict_mapping(void **state)
{
	(void)state;
	static const struct {
		int rc;
		const char *virname;
		bool too_big;
		enum scan_result result;
		const char *name;
	} cases[] = {
		{CL_CLEAN, NULL, false, SCAN_CLEAN, ""},
		{CL_CLEAN, NULL, true, SCAN_LIMITS, "max_file_size"},
		{CL_VIRUS, "Detected.By.Callback", true, SCAN_LIMITS, "max_file_size"},
		{CL_VIRUS, NULL, true, SCAN_LIMITS, "max_file_size"},
		{CL_VIRUS, "Detected.By.Callback", false, SCAN_INFECTED, "Detected.By.Callback"},
		{CL_VIRUS, "Win.Test.EICAR_HDB-1", false, SCAN_INFECTED, "Win.Test.EICAR_HDB-1"},
		{CL_VIRUS, "Win.Test.EICAR_HDB-1", true, SCAN_INFECTED, "Win.Test.EICAR_HDB-1"},
		{CL_VIRUS, NULL, false, SCAN_INFECTED, "unnamed"},
		{CL_VIRUS, "", false, SCAN_INFECTED, "unnamed"},
		{CL_VIRUS, "bad name\n\x01", false, SCAN_INFECTED, "bad?name??"},
		{CL_VIRUS, "Heuristics.Limits.Exceeded.MaxScanSize", false, SCAN_LIMITS,
		 "max_scan_size"},
		{CL_VIRUS, "Heuristics.Limits.Exceeded.MaxFileSize", false, SCAN_LIMITS,
		 "max_file_size"},
		{CL_VIRUS, "Heuristics.Limits.Exceeded.MaxRecursion", false, SCAN_LIMITS,
		 "max_recursion"},
		{CL_VIRUS, "Heuristics.Limits.Exceeded.MaxFiles", false, SCAN_LIMITS, "max_files"},
		{CL_VIRUS, "Heuristics.Limits.Exceeded.MaxScanTime", false, SCAN_LIMITS,
		 "max_scan_time"},
		{CL_VIRUS, "Heuristics.Limits.Exceeded.Other", false, SCAN_LIMITS, "limits"},
		{CL_VIRUS, "Heuristics.Limits.ExceededX", false, SCAN_LIMITS, "limits"},
		{CL_VIRUS, "Heuristics.Encrypted.Zip", false, SCAN_INFECTED,
		 "Heuristics.Encrypted.Zip"},
		{CL_ETIMEOUT, NULL, false, SCAN_LIMITS, "max_scan_time"},
		{CL_EMAXREC, NULL, false, SCAN_LIMITS, "max_recursion"},
		{CL_EMAXFILES, NULL, false, SCAN_LIMITS, "max_files"},
		{CL_EMAXSIZE, NULL, false, SCAN_LIMITS, "limits"},
		{CL_EREAD, NULL, false, SCAN_ERROR, "error"},
		{CL_EMEM, "x", false, SCAN_ERROR, "error"},
		{CL_BREAK, NULL, false, SCAN_ERROR, "error"},
		{-1, NULL, false, SCAN_ERROR, "error"},
		{9999, NULL, false, SCAN_ERROR, "error"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct scan_verdict v;
		memset(&v, 'x', sizeof(v));
		scan_verdict_from_cl(cases[i].rc, cases[i].virname, cases[i].too_big, &v);
		if (v.result != cases[i].result || strcmp(v.name, cases[i].name) != 0)
			fail_msg("case %zu: result %d name %s", i, v.result, v.name);
	}
	char longname[600];
	memset(longname, 'N', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	struct scan_verdict v;
	scan_verdict_from_cl(CL_VIRUS, longname, false, &v);
	assert_int_equal(strlen(v.name), SCAN_NAME_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdict_mapping),
		cmocka_unit_test(test_temp_failure_messages),
		cmocka_unit_test_setup(test_testfiles, need_db),
		cmocka_unit_test_setup(test_built_containers, need_db),
		cmocka_unit_test_setup(test_eicar_and_clean, need_db),
		cmocka_unit_test_setup(test_scan_range, need_db),
		cmocka_unit_test_setup(test_recursion_limit, need_db),
		cmocka_unit_test_setup(test_size_and_file_limits, need_db),
		cmocka_unit_test_setup(test_heuristics, need_db),
		cmocka_unit_test_setup(test_errors, need_db),
		cmocka_unit_test_setup(test_temp_dir_unusable, need_db),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

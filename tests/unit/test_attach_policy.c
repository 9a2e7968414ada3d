/*
 * Attachment policy: the verdicts a sender would see for .exe, .js,
 * invoice.pdf.exe, RFC 2231 and RFC 2047 names, an .exe in a zip and in a
 * tar.gz, a PE renamed .txt, nested archives past the depth limit and a clean
 * message; administrator's rules; and strip mode, which must leave every
 * other part byte-identical.
 */
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

#include "policy/attach_policy.h"
#include "policy/mime_walk.h"

#define TESTFILES "/usr/share/clamav-testfiles/"

static struct mime_walker *walker;
static uint8_t *clam_exe;
static size_t clam_exe_len;

static uint8_t *slurp(const char *path, size_t *len)
{
	gchar *data = NULL;
	gsize n = 0;
	if (!g_file_get_contents(path, &data, &n, NULL))
		fail_msg("cannot read %s", path);
	*len = n;
	return (uint8_t *)data;
}

static GString *msg_begin(void)
{
	return g_string_new("From: <a@example.org>\r\nTo: <b@example.com>\r\nSubject: test\r\n"
			    "MIME-Version: 1.0\r\n"
			    "Content-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n"
			    "This is a multi-part message in MIME format.\r\n");
}

static void msg_text(GString *m, const char *text)
{
	g_string_append_printf(m,
			       "--BOUNDARY\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
			       "%s\r\n",
			       text);
}

static void msg_attach(GString *m, const char *type, const char *params, const void *data,
		       size_t len)
{
	g_string_append_printf(m,
			       "--BOUNDARY\r\nContent-Type: %s\r\n"
			       "Content-Disposition: attachment;\r\n %s\r\n"
			       "Content-Transfer-Encoding: base64\r\n\r\n",
			       type, params);
	gchar *b64 = g_base64_encode(data, len);
	for (size_t off = 0, n = strlen(b64); off < n; off += 76) {
		g_string_append_len(m, b64 + off, (gssize)(n - off < 76 ? n - off : 76));
		g_string_append(m, "\r\n");
	}
	g_free(b64);
}

static void msg_end(GString *m)
{
	g_string_append(m, "--BOUNDARY--\r\n");
}

/* A message with a text body and one attachment of data under params. */
static GString *one_attachment(const char *type, const char *params, const void *data, size_t len)
{
	GString *m = msg_begin();
	msg_text(m, "Please find the document attached.");
	msg_attach(m, type, params, data, len);
	msg_end(m);
	return m;
}

/* Walks m (freed) and decides with o (NULL: defaults) into *v. */
static void check(GString *m, const struct attach_policy_options *o, struct attach_verdict *v)
{
	struct attach_policy_options defaults;
	attach_policy_options_default(&defaults);
	struct mime_walk *w = mime_walk_mem(walker, m->str, m->len);
	assert_non_null(w);
	g_string_free(m, TRUE);
	assert_int_equal(attach_policy_check(o ? o : &defaults, w, v), 0);
	mime_walk_free(w);
}

static void expect_reject(GString *m, const char *rule, const char *name, const char *path,
			  const char *reason)
{
	struct attach_verdict v;
	check(m, NULL, &v);
	assert_int_equal(v.action, ATTACH_REJECT);
	assert_string_equal(v.rule, rule);
	assert_string_equal(v.name, name);
	assert_string_equal(v.path, path);
	assert_string_equal(v.reason, reason);
	char reply[ATTACH_REPLY_MAX];
	snprintf(reply, sizeof(reply), "550 5.7.1 Message rejected: attachment %s not allowed (%s)",
		 name, rule);
	assert_string_equal(v.reply, reply);
	assert_int_equal(v.nstrip, 0);
	attach_verdict_clear(&v);
}

static void test_exe_js_double_extension(void **state)
{
	(void)state;
	expect_reject(one_attachment("application/octet-stream", "filename=\"clam.exe\"", clam_exe,
				     clam_exe_len),
		      "default-extension", "clam.exe", "2", "extension .exe");
	expect_reject(one_attachment("application/octet-stream", "filename=\"run.JS\"",
				     "WScript.Echo(1);", 16),
		      "default-extension", "run.JS", "2", "extension .JS");
	expect_reject(one_attachment("application/pdf", "filename=\"invoice.pdf.exe\"", clam_exe,
				     clam_exe_len),
		      "double-extension", "invoice.pdf.exe", "2", "double extension .pdf.exe");
	/* Windows drops trailing dots and spaces. */
	expect_reject(
		one_attachment("application/octet-stream", "filename=\"setup.msi. .\"", "x", 1),
		"default-extension", "setup.msi. .", "2", "extension .msi");
}

static void test_encoded_names(void **state)
{
	(void)state;
	expect_reject(one_attachment("application/octet-stream",
				     "filename*=UTF-8''%E2%82%ACinvoice.scr", "MZ", 2),
		      "default-extension", "???invoice.scr", "2", "extension .scr");
	expect_reject(one_attachment("application/octet-stream",
				     "filename*0*=UTF-8''%E2%82%ACinv; filename*1*=oice.pdf.s; "
				     "filename*2=cr",
				     "MZ", 2),
		      "double-extension", "???invoice.pdf.scr", "2", "double extension .pdf.scr");
	expect_reject(one_attachment("application/octet-stream",
				     "filename=\"=?UTF-8?Q?Rechnung_M=C3=A4rz.vbs?=\"", "x", 1),
		      "default-extension", "Rechnung M??rz.vbs", "2", "extension .vbs");
	/* A CR LF smuggled into the name never reaches the SMTP reply. */
	expect_reject(one_attachment("application/octet-stream",
				     "filename*=UTF-8''a%0D%0A250%20ok.bat", "x", 1),
		      "default-extension", "a??250 ok.bat", "2", "extension .bat");
}

static void test_archives(void **state)
{
	(void)state;
	size_t len;
	uint8_t *zip = slurp(TESTFILES "clam.zip", &len);
	expect_reject(one_attachment("application/zip", "filename=\"clam.zip\"", zip, len),
		      "default-extension", "clam.zip!clam.exe", "2", "extension .exe");
	g_free(zip);
	uint8_t *tgz = slurp(TESTFILES "clam.tar.gz", &len);
	expect_reject(one_attachment("application/x-gzip", "filename=\"clam.tar.gz\"", tgz, len),
		      "default-extension", "clam.tar.gz!clam.exe", "2", "extension .exe");
	g_free(tgz);

	/* The PE inside a bzip2 stream has no name, only its content. */
	uint8_t *bz2 = slurp(TESTFILES "clam.exe.bz2", &len);
	expect_reject(
		one_attachment("application/octet-stream", "filename=\"update.bz2\"", bz2, len),
		"default-true-type", "update.bz2!data", "2",
		"detected type application/vnd.microsoft.portable-executable");
	g_free(bz2);
}

/* levels zips around clam.exe: a.zip holds d.zip holds c.zip holds b.zip (4). */
static uint8_t *nested_zips(int levels, size_t *outlen)
{
	const char *names[] = {"clam.exe", "b.zip", "c.zip", "d.zip", "e.zip"};
	uint8_t *data = clam_exe;
	size_t len = clam_exe_len;
	for (int level = 0; level < levels; level++) {
		size_t cap = len + 4096, used = 0;
		uint8_t *buf = malloc(cap);
		struct archive *a = archive_write_new();
		archive_write_set_format_zip(a);
		assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, names[level]);
		archive_entry_set_size(e, (la_int64_t)len);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
		archive_entry_free(e);
		assert_int_equal(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
		if (data != clam_exe)
			free(data);
		data = buf;
		len = used;
	}
	*outlen = len;
	return data;
}

static void test_nested_archives_and_limits(void **state)
{
	(void)state;
	size_t len;
	uint8_t *zip = nested_zips(3, &len);
	expect_reject(one_attachment("application/zip", "filename=\"a.zip\"", zip, len),
		      "default-extension", "a.zip!c.zip!b.zip!clam.exe", "2", "extension .exe");
	free(zip);

	/* One level more and the exe is out of sight: the limit decides. */
	zip = nested_zips(4, &len);
	struct attach_verdict v;
	check(one_attachment("application/zip", "filename=\"a.zip\"", zip, len), NULL, &v);
	assert_int_equal(v.action, ATTACH_REJECT);
	assert_string_equal(v.rule, "limit-archive-depth");
	assert_string_equal(v.name, "a.zip!d.zip!c.zip!b.zip");
	assert_string_equal(v.reason, "scanning limit reached: limit-archive-depth");
	assert_string_equal(v.reply,
			    "550 5.7.1 Message rejected: attachment a.zip!d.zip!c.zip!b.zip "
			    "not allowed (limit-archive-depth)");
	assert_true(v.walk_flags & MIME_WALK_LIMIT_ARCHIVE_DEPTH);
	attach_verdict_clear(&v);

	struct attach_policy_options o;
	attach_policy_options_default(&o);
	o.on_limit = ATTACH_TEMPFAIL;
	check(one_attachment("application/zip", "filename=\"a.zip\"", zip, len), &o, &v);
	assert_int_equal(v.action, ATTACH_TEMPFAIL);
	assert_string_equal(v.reply,
			    "451 4.7.1 Message deferred: attachment a.zip!d.zip!c.zip!b.zip "
			    "could not be checked (limit-archive-depth)");
	attach_verdict_clear(&v);

	o.on_limit = ATTACH_ACCEPT;
	check(one_attachment("application/zip", "filename=\"a.zip\"", zip, len), &o, &v);
	assert_int_equal(v.action, ATTACH_ACCEPT);
	assert_int_equal(v.walk_flags, MIME_WALK_LIMIT_ARCHIVE_DEPTH);
	assert_string_equal(v.reply, "");
	attach_verdict_clear(&v);
	free(zip);
}

static void test_true_type_and_clean(void **state)
{
	(void)state;
	expect_reject(
		one_attachment("text/plain", "filename=\"notes.txt\"", clam_exe, clam_exe_len),
		"default-true-type", "notes.txt", "2",
		"detected type application/vnd.microsoft.portable-executable");
	expect_reject(
		one_attachment("message/partial; id=\"x\"; number=1", "filename=\"part\"", "x", 1),
		"default-content-type", "part", "2", "declared type message/partial");

	const char pdf[] = "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n";
	GString *m = msg_begin();
	msg_text(m, "The report, and last year's.");
	msg_attach(m, "application/pdf", "filename=\"report.pdf\"", pdf, sizeof(pdf) - 1);
	msg_attach(m, "application/pdf", "filename=\"report.exe.pdf\"", pdf, sizeof(pdf) - 1);
	msg_end(m);
	struct attach_verdict v;
	check(m, NULL, &v);
	assert_int_equal(v.action, ATTACH_ACCEPT);
	assert_string_equal(v.rule, "");
	assert_string_equal(v.reply, "");
	assert_int_equal(v.walk_flags, 0);
	assert_int_equal(v.nstrip, 0);
	attach_verdict_clear(&v);
}

static void test_admin_rules(void **state)
{
	(void)state;
	const struct attach_rule rules[] = {
		{"allow-tools", ATTACH_MATCH_NAME, "tool-*.EXE", ATTACH_ACCEPT},
		{"no-docm", ATTACH_MATCH_EXTENSION, ".docm", ATTACH_REJECT},
		{"strip-images", ATTACH_MATCH_DECLARED_TYPE, "image/*", ATTACH_STRIP},
		{"no-elf", ATTACH_MATCH_TRUE_TYPE, "application/x-*executable", ATTACH_REJECT},
	};
	struct attach_policy_options o;
	attach_policy_options_default(&o);
	o.rules = rules;
	o.nrules = 4;
	o.reject_text = "550 5.7.1 RULE forbids NAME here";
	struct attach_verdict v;
	check(one_attachment("application/octet-stream", "filename=\"tool-v2.exe\"", clam_exe,
			     clam_exe_len),
	      &o, &v);
	assert_int_equal(v.action, ATTACH_ACCEPT);
	attach_verdict_clear(&v);
	check(one_attachment("application/octet-stream", "filename=\"m.docm\"", "x", 1), &o, &v);
	assert_int_equal(v.action, ATTACH_REJECT);
	assert_string_equal(v.reply, "550 5.7.1 no-docm forbids m.docm here");
	attach_verdict_clear(&v);
	check(one_attachment("image/png", "filename=\"logo.png\"", "x", 1), &o, &v);
	assert_int_equal(v.action, ATTACH_STRIP);
	assert_string_equal(v.rule, "strip-images");
	assert_int_equal(v.nstrip, 1);
	assert_string_equal(v.strip[0].path, "2");
	assert_string_equal(v.strip[0].reason, "declared type image/png");
	attach_verdict_clear(&v);

	/* Without the built-in list, an exe is only caught by a rule. */
	o.nrules = 0;
	o.builtin_rules = false;
	o.double_extension = false;
	check(one_attachment("application/octet-stream", "filename=\"a.pdf.exe\"", "x", 1), &o, &v);
	assert_int_equal(v.action, ATTACH_ACCEPT);
	attach_verdict_clear(&v);

	assert_true(attach_policy_reply_valid(ATTACH_REJECT_TEXT_DEFAULT));
	assert_true(attach_policy_reply_valid("554 5.7.1 no NAME"));
	assert_false(attach_policy_reply_valid("451 4.7.1 later"));
	assert_false(attach_policy_reply_valid("550 5.7.1 bad\r\n250 ok"));
	assert_false(attach_policy_reply_valid("5507 x"));
	assert_false(attach_policy_reply_valid(NULL));
	assert_string_equal(attach_action_name(ATTACH_STRIP), "strip");
}

/* Splits raw on the boundary delimiter line into its segments. */
static gchar **segments(const char *raw)
{
	return g_strsplit(raw, "\r\n--BOUNDARY", -1);
}

static void test_strip_keeps_the_rest(void **state)
{
	(void)state;
	const char pdf[] = "%PDF-1.4\n%%EOF\n";
	size_t zlen;
	uint8_t *zip = slurp(TESTFILES "clam.zip", &zlen);
	GString *m = msg_begin();
	msg_text(m, "Three files.");
	msg_attach(m, "application/octet-stream", "filename=\"clam.exe\"", clam_exe, clam_exe_len);
	msg_attach(m, "application/pdf", "filename=\"report.pdf\"", pdf, sizeof(pdf) - 1);
	msg_attach(m, "application/zip", "filename=\"clam.zip\"", zip, zlen);
	msg_end(m);
	g_free(zip);
	gchar *original = g_strndup(m->str, m->len);

	struct attach_policy_options o;
	attach_policy_options_default(&o);
	o.builtin_action = ATTACH_STRIP;
	struct mime_walk *w = mime_walk_mem(walker, m->str, m->len);
	g_string_free(m, TRUE);
	struct attach_verdict v;
	assert_int_equal(attach_policy_check(&o, w, &v), 0);
	assert_int_equal(v.action, ATTACH_STRIP);
	assert_int_equal(v.nstrip, 2);
	assert_string_equal(v.strip[0].path, "2");
	assert_string_equal(v.strip[0].name, "clam.exe");
	assert_string_equal(v.strip[1].path, "4");
	assert_string_equal(v.strip[1].name, "clam.zip!clam.exe");
	char *out = NULL;
	size_t outlen = 0;
	assert_int_equal(attach_policy_strip(w->message, v.strip, v.nstrip, &out, &outlen), 0);
	assert_int_equal(strlen(out), outlen);

	gchar **before = segments(original), **after = segments(out);
	assert_int_equal(g_strv_length(before), 6);
	assert_int_equal(g_strv_length(after), 6);
	/* Headers and preamble, the text, the PDF and the closing delimiter: as they were. */
	const int kept[] = {0, 1, 3, 5};
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(after[kept[i]], before[kept[i]]);
	assert_string_equal(after[5], "--\r\n");
	assert_non_null(strstr(after[2], "Content-Type: text/plain"));
	assert_non_null(strstr(after[2], "Name: clam.exe\r\nRule: default-extension\r\n"
					 "Reason: extension .exe"));
	assert_null(strstr(after[2], "TVqQ"));
	assert_non_null(strstr(after[4], "Name: clam.zip!clam.exe\r\n"));
	g_strfreev(before);
	g_strfreev(after);

	/* What comes out walks clean. */
	struct mime_walk *again = mime_walk_mem(walker, out, outlen);
	struct attach_verdict v2;
	assert_int_equal(attach_policy_check(&o, again, &v2), 0);
	assert_int_equal(v2.action, ATTACH_ACCEPT);
	assert_int_equal(again->nparts, 4);
	mime_walk_free(again);
	free(out);
	attach_verdict_clear(&v);
	mime_walk_free(w);
	g_free(original);
}

static void test_strip_nested_and_single(void **state)
{
	(void)state;
	const char *msg =
		"From: <a@example.org>\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
		"--outer\r\nContent-Type: text/plain\r\n\r\nforwarded\r\n"
		"--outer\r\nContent-Type: message/rfc822\r\n\r\n"
		"Subject: inner\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n"
		"--inner\r\nContent-Type: text/plain\r\n\r\ninner text\r\n"
		"--inner\r\nContent-Type: application/octet-stream; name=\"x.vbs\"\r\n\r\n"
		"MsgBox 1\r\n--inner--\r\n"
		"\r\n--outer--\r\nepilogue\r\n";
	struct attach_policy_options o;
	attach_policy_options_default(&o);
	o.builtin_action = ATTACH_STRIP;
	struct mime_walk *w = mime_walk_mem(walker, msg, strlen(msg));
	struct attach_verdict v;
	assert_int_equal(attach_policy_check(&o, w, &v), 0);
	assert_int_equal(v.action, ATTACH_STRIP);
	assert_int_equal(v.nstrip, 1);
	assert_string_equal(v.strip[0].path, "2.2");
	char *out;
	size_t outlen;
	assert_int_equal(attach_policy_strip(w->message, v.strip, v.nstrip, &out, &outlen), 0);
	const char *cut = strstr(msg, "--inner\r\nContent-Type: application");
	assert_int_equal(memcmp(out, msg, (size_t)(cut - msg)), 0);
	assert_non_null(strstr(out, "Name: x.vbs\r\n"));
	assert_null(strstr(out, "MsgBox"));
	assert_non_null(strstr(out, "--inner--\r\n\r\n--outer--\r\nepilogue\r\n"));
	free(out);
	attach_verdict_clear(&v);
	mime_walk_free(w);

	/* Nothing to strip: the message comes back byte for byte. */
	w = mime_walk_mem(walker, msg, strlen(msg));
	assert_int_equal(attach_policy_strip(w->message, NULL, 0, &out, &outlen), 0);
	assert_int_equal(outlen, strlen(msg));
	assert_memory_equal(out, msg, outlen);
	free(out);
	mime_walk_free(w);

	/* A message that is nothing but the attachment becomes the notice. */
	const char *single = "From: <a@example.org>\r\nSubject: s\r\n"
			     "Content-Type: application/x-msdownload; name=\"a.com\"\r\n\r\nMZ\r\n";
	w = mime_walk_mem(walker, single, strlen(single));
	assert_int_equal(attach_policy_check(&o, w, &v), 0);
	assert_int_equal(v.action, ATTACH_STRIP);
	assert_string_equal(v.strip[0].path, "1");
	assert_int_equal(attach_policy_strip(w->message, v.strip, v.nstrip, &out, &outlen), 0);
	assert_int_equal(memcmp(out, "From: <a@example.org>\r\nSubject: s\r\n", 35), 0);
	assert_non_null(strstr(out, "Content-Type: text/plain"));
	assert_non_null(strstr(out, "Name: a.com\r\n"));
	assert_null(strstr(out, "x-msdownload"));
	free(out);
	struct attach_strip missing = {.path = "7"};
	assert_int_equal(attach_policy_strip(w->message, &missing, 1, &out, &outlen), -1);
	attach_verdict_clear(&v);
	mime_walk_free(w);
}

/* The decision alone, on a hand-made walk: no GMime, no libmagic. */
static void test_pure_walks(void **state)
{
	(void)state;
	struct mime_part parts[3] = {
		{.kind = MIME_PART_LEAF,
		 .path = "2",
		 .parent = SIZE_MAX,
		 .content_type = "application/zip",
		 .filename = "photos.zip",
		 .is_archive = true},
		{.kind = MIME_PART_ARCHIVE_ENTRY,
		 .path = "2",
		 .depth = 1,
		 .parent = 0,
		 .filename = "dir/IMG_0001.JPG.lnk"},
		{.kind = MIME_PART_ARCHIVE_ENTRY,
		 .path = "2",
		 .depth = 1,
		 .parent = 0,
		 .filename = "secret.docx",
		 .flags = MIME_WALK_ENCRYPTED},
	};
	struct mime_walk w = {.parts = parts, .nparts = 3, .flags = MIME_WALK_ENCRYPTED};
	struct attach_policy_options o;
	attach_policy_options_default(&o);
	struct attach_verdict v;
	assert_int_equal(attach_policy_check(&o, &w, &v), 0);
	assert_int_equal(v.action, ATTACH_REJECT);
	assert_string_equal(v.rule, "double-extension");
	assert_string_equal(v.name, "photos.zip!dir/IMG_0001.JPG.lnk");
	assert_string_equal(v.reason, "double extension .JPG.lnk");
	attach_verdict_clear(&v);

	o.check_archives = false;
	assert_int_equal(attach_policy_check(&o, &w, &v), 0);
	assert_int_equal(v.action, ATTACH_ACCEPT);
	attach_verdict_clear(&v);
	o.on_encrypted = ATTACH_REJECT;
	assert_int_equal(attach_policy_check(&o, &w, &v), 0);
	assert_int_equal(v.action, ATTACH_REJECT);
	assert_string_equal(v.rule, "encrypted-archive");
	assert_string_equal(v.name, "photos.zip!secret.docx");
	attach_verdict_clear(&v);

	w.flags = MIME_WALK_AMBIGUOUS;
	parts[2].flags = 0;
	assert_int_equal(attach_policy_check(&o, &w, &v), 0);
	assert_int_equal(v.action, ATTACH_REJECT);
	assert_string_equal(v.rule, "ambiguous-mime");
	assert_string_equal(v.name, "message");
	assert_string_equal(v.path, "");
	attach_verdict_clear(&v);

	/* A name too long for the reply keeps its end, where the extension is. */
	char longname[400];
	memset(longname, 'a', sizeof(longname));
	memcpy(longname + sizeof(longname) - 5, ".exe", 5);
	parts[1].filename = longname;
	w.flags = 0;
	o.check_archives = true;
	assert_int_equal(attach_policy_check(&o, &w, &v), 0);
	assert_int_equal(v.action, ATTACH_REJECT);
	assert_string_equal(v.rule, "default-extension");
	assert_int_equal(strlen(v.name), ATTACH_NAME_MAX - 1);
	assert_memory_equal(v.name, "...aaa", 6);
	assert_string_equal(v.name + ATTACH_NAME_MAX - 6, "a.exe");
	attach_verdict_clear(&v);

	struct mime_walk big = {.flags = MIME_WALK_LIMIT_MESSAGE_BYTES};
	assert_int_equal(attach_policy_check(&o, &big, &v), 0);
	assert_int_equal(v.action, ATTACH_REJECT);
	assert_string_equal(v.rule, "limit-message-bytes");
	assert_string_equal(v.reply, "550 5.7.1 Message rejected: attachment message not allowed "
				     "(limit-message-bytes)");
	attach_verdict_clear(&v);
}

static int setup(void **state)
{
	(void)state;
	walker = mime_walker_new(NULL);
	clam_exe = slurp(TESTFILES "clam.exe", &clam_exe_len);
	return walker ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	g_free(clam_exe);
	mime_walker_free(walker);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exe_js_double_extension),
		cmocka_unit_test(test_encoded_names),
		cmocka_unit_test(test_archives),
		cmocka_unit_test(test_nested_archives_and_limits),
		cmocka_unit_test(test_true_type_and_clean),
		cmocka_unit_test(test_admin_rules),
		cmocka_unit_test(test_strip_keeps_the_rest),
		cmocka_unit_test(test_strip_nested_and_single),
		cmocka_unit_test(test_pure_walks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

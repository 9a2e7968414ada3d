/*
 * MIME walk: paths, decoded names (RFC 2047, RFC 2231 with charsets and
 * continuations), sizes, true types, archive listings (clam.zip,
 * clam.tar.gz, nested zips built here), every limit, malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "policy/mime_walk.h"

#define TESTFILES "/usr/share/clamav-testfiles/"
#define PE_TYPE	  "application/vnd.microsoft.portable-executable"

static struct mime_walker *walker;

static uint8_t *slurp(const char *path, size_t *len)
{
	gchar *data = NULL;
	gsize n = 0;
	if (!g_file_get_contents(path, &data, &n, NULL))
		fail_msg("cannot read %s", path);
	*len = n;
	return (uint8_t *)data;
}

/* A multipart/mixed message, built part by part. */
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

/* An attachment; params is the rest of Content-Disposition (the name). */
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

static struct mime_walk *walk_string(GString *m)
{
	struct mime_walk *w = mime_walk_mem(walker, m->str, m->len);
	assert_non_null(w);
	g_string_free(m, TRUE);
	return w;
}

struct entry {
	const char *name;
	const void *data;
	size_t len;
};

/* A zip (or, with gzip, a tar.gz) holding entries, built with libarchive. */
static uint8_t *make_archive(bool tar_gz, const struct entry *entries, size_t n, size_t *outlen)
{
	size_t cap = 65536;
	for (size_t i = 0; i < n; i++)
		cap += entries[i].len + 1024;
	uint8_t *buf = malloc(cap);
	assert_non_null(buf);
	struct archive *a = archive_write_new();
	if (tar_gz) {
		archive_write_add_filter_gzip(a);
		archive_write_set_format_pax_restricted(a);
	} else {
		archive_write_set_format_zip(a);
	}
	assert_int_equal(archive_write_open_memory(a, buf, cap, outlen), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, entries[i].name);
		archive_entry_set_size(e, (la_int64_t)entries[i].len);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, entries[i].data, entries[i].len),
				 (la_ssize_t)entries[i].len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return buf;
}

static void test_exe_attachment(void **state)
{
	(void)state;
	size_t len;
	uint8_t *exe = slurp(TESTFILES "clam.exe", &len);
	GString *m = msg_begin();
	msg_text(m, "Please see the attachment.");
	msg_attach(m, "application/octet-stream", "filename=\"clam.exe\"", exe, len);
	msg_end(m);
	struct mime_walk *w = walk_string(m);
	assert_int_equal(w->nparts, 2);
	assert_int_equal(w->flags, 0);
	assert_string_equal(w->parts[0].path, "1");
	assert_string_equal(w->parts[0].content_type, "text/plain");
	assert_null(w->parts[0].disposition);
	assert_null(w->parts[0].filename);
	assert_int_equal(w->parts[0].size, strlen("Please see the attachment."));
	/* An unnamed inline text body is not sniffed: no policy looks at its true type. */
	assert_null(w->parts[0].true_type);
	assert_string_equal(w->parts[1].path, "2");
	assert_int_equal(w->parts[1].kind, MIME_PART_LEAF);
	assert_string_equal(w->parts[1].content_type, "application/octet-stream");
	assert_string_equal(w->parts[1].disposition, "attachment");
	assert_string_equal(w->parts[1].filename, "clam.exe");
	assert_int_equal(w->parts[1].size, len);
	assert_int_equal(w->parts[1].size, 544);
	assert_string_equal(w->parts[1].true_type, PE_TYPE);
	assert_false(w->parts[1].is_archive);
	assert_int_equal(w->parts[1].parent, SIZE_MAX);
	mime_walk_free(w);
	g_free(exe);
}

/*
 * skip_sizes (the scan process's walkers): the same parts, names and true
 * types, but a part is decoded only as far as the sniff needs (a text body
 * not at all), not to its end; an archive is still read whole.
 */
static void test_skip_sizes(void **state)
{
	(void)state;
	struct mime_walk_limits l;
	mime_walk_limits_default(&l);
	l.skip_sizes = true;
	struct mime_walker *quick = mime_walker_new(&l);
	assert_non_null(quick);
	uint8_t big[200000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	/* a big member (read only for its sniff) and a nested zip (read whole, listed) */
	struct entry inner_entries[] = {{"deep.exe", "MZ", 2}};
	size_t ilen;
	uint8_t *inner = make_archive(false, inner_entries, 1, &ilen);
	struct entry in_zip[] = {
		{"tool.exe", "MZ", 2}, {"data.txt", big, sizeof(big)}, {"inner.bin", inner, ilen}};
	size_t zlen;
	uint8_t *zip = make_archive(false, in_zip, 3, &zlen);
	GString *m = msg_begin();
	msg_text(m, "Please see the attachments.");
	msg_attach(m, "application/octet-stream", "filename=\"data.bin\"", big, sizeof(big));
	msg_attach(m, "application/zip", "filename=\"a.zip\"", zip, zlen);
	msg_end(m);
	struct mime_walk *full = mime_walk_mem(walker, m->str, m->len);
	struct mime_walk *w = mime_walk_mem(quick, m->str, m->len);
	g_string_free(m, TRUE);
	assert_non_null(full);
	assert_non_null(w);
	assert_int_equal(w->nparts, full->nparts);
	assert_int_equal(w->flags, full->flags);
	for (size_t i = 0; i < w->nparts; i++) {
		assert_string_equal(w->parts[i].path, full->parts[i].path);
		if (full->parts[i].filename)
			assert_string_equal(w->parts[i].filename, full->parts[i].filename);
		if (full->parts[i].true_type)
			assert_string_equal(w->parts[i].true_type, full->parts[i].true_type);
	}
	assert_int_equal(full->parts[1].size, sizeof(big));
	assert_true(w->parts[1].size < sizeof(big)); /* only the sniff was decoded */
	assert_int_equal(w->parts[0].size, 0);	     /* the text body: nothing */
	assert_int_equal(w->parts[2].size, zlen);    /* the archive: whole */
	assert_string_equal(w->parts[3].filename, "tool.exe");
	/* the archive's members: the same names and true types, the big one read only in part */
	assert_int_equal(w->parts[4].size, MIME_WALK_SNIFF_BYTES);
	assert_int_equal(full->parts[4].size, sizeof(big));
	assert_string_equal(w->parts[5].filename, "inner.bin");
	assert_true(w->parts[5].is_archive); /* a zip by its true type: read whole and listed */
	assert_int_equal(w->parts[5].size, ilen);
	assert_string_equal(w->parts[6].filename, "deep.exe");
	assert_int_equal(w->parts[6].parent, 5);
	mime_walk_free(full);
	mime_walk_free(w);
	free(inner);
	free(zip);
	mime_walker_free(quick);
}

static void test_rfc2231_and_rfc2047_names(void **state)
{
	(void)state;
	GString *m = msg_begin();
	msg_attach(m, "application/octet-stream", "filename*=UTF-8''%E2%82%ACinvoice.scr", "MZ", 2);
	msg_attach(m, "application/octet-stream",
		   "filename*0*=UTF-8''%E2%82%AC; filename*1*=in; filename*2=voice.scr", "MZ", 2);
	msg_attach(m, "application/octet-stream", "filename*=iso-8859-1'fr'%E9t%E9.scr", "MZ", 2);
	msg_attach(m, "application/octet-stream", "filename=\"=?UTF-8?B?4oKsaW52b2ljZS5zY3I=?=\"",
		   "MZ", 2);
	msg_attach(m, "application/octet-stream; name=\"=?ISO-8859-1?Q?r=E9sum=E9.vbs?=\"",
		   "size=2", "MZ", 2);
	msg_end(m);
	struct mime_walk *w = walk_string(m);
	assert_int_equal(w->nparts, 5);
	assert_string_equal(w->parts[0].filename, "\xe2\x82\xacinvoice.scr");
	assert_string_equal(w->parts[1].filename, "\xe2\x82\xacinvoice.scr");
	assert_string_equal(w->parts[2].filename, "\xc3\xa9t\xc3\xa9.scr");
	assert_string_equal(w->parts[3].filename, "\xe2\x82\xacinvoice.scr");
	assert_string_equal(w->parts[4].filename, "r\xc3\xa9sum\xc3\xa9.vbs");
	assert_string_equal(w->parts[4].path, "5");
	mime_walk_free(w);
}

static void test_zip_and_tar_gz(void **state)
{
	(void)state;
	size_t zlen, tlen, blen;
	uint8_t *zip = slurp(TESTFILES "clam.zip", &zlen);
	uint8_t *tgz = slurp(TESTFILES "clam.tar.gz", &tlen);
	uint8_t *bz2 = slurp(TESTFILES "clam.exe.bz2", &blen);
	GString *m = msg_begin();
	msg_attach(m, "application/zip", "filename=\"clam.zip\"", zip, zlen);
	msg_attach(m, "application/octet-stream", "filename=\"clam.tar.gz\"", tgz, tlen);
	msg_attach(m, "application/octet-stream", "filename=\"clam.exe.bz2\"", bz2, blen);
	msg_end(m);
	struct mime_walk *w = walk_string(m);
	assert_int_equal(w->flags, 0);
	assert_int_equal(w->nparts, 6);
	const char *names[] = {"clam.zip", "clam.exe",	   "clam.tar.gz",
			       "clam.exe", "clam.exe.bz2", "data"};
	const char *paths[] = {"1", "1", "2", "2", "3", "3"};
	for (size_t i = 0; i < 6; i++) {
		const struct mime_part *p = &w->parts[i];
		assert_string_equal(p->filename, names[i]);
		assert_string_equal(p->path, paths[i]);
		assert_int_equal(p->kind, i % 2 ? MIME_PART_ARCHIVE_ENTRY : MIME_PART_LEAF);
		assert_int_equal(p->depth, i % 2);
		assert_int_equal(p->parent, i % 2 ? i - 1 : SIZE_MAX);
		assert_int_equal(p->is_archive, i % 2 == 0);
		if (i % 2) {
			assert_int_equal(p->size, 544);
			assert_string_equal(p->true_type, PE_TYPE);
			assert_null(p->content_type);
		}
	}
	assert_string_equal(w->parts[0].true_type, "application/zip");
	assert_int_equal(w->archive_entries, 3);
	assert_int_equal(w->archive_bytes, 3 * 544);
	mime_walk_free(w);
	g_free(zip);
	g_free(tgz);
	g_free(bz2);
}

/* clam.exe in d.zip in c.zip in b.zip in a.zip. */
static uint8_t *nested_zips(size_t *len)
{
	size_t n;
	uint8_t *data = slurp(TESTFILES "clam.exe", &n);
	const char *names[] = {"clam.exe", "d.zip", "c.zip", "b.zip"};
	for (int level = 0; level < 4; level++) {
		struct entry e = {names[level], data, n};
		uint8_t *zip = make_archive(false, &e, 1, &n);
		if (level == 0)
			g_free(data);
		else
			free(data);
		data = zip;
	}
	*len = n;
	return data;
}

static void test_archive_depth_limit(void **state)
{
	(void)state;
	size_t len;
	uint8_t *zip = nested_zips(&len);
	GString *m = msg_begin();
	msg_attach(m, "application/zip", "filename=\"a.zip\"", zip, len);
	msg_end(m);
	struct mime_walk *w = walk_string(m);
	/* a.zip, b.zip (1), c.zip (2), d.zip (3): d.zip would list at depth 4. */
	assert_int_equal(w->nparts, 4);
	assert_string_equal(w->parts[3].filename, "d.zip");
	assert_int_equal(w->parts[3].depth, 3);
	assert_int_equal(w->parts[3].parent, 2);
	assert_true(w->parts[3].is_archive);
	assert_int_equal(w->parts[3].flags, MIME_WALK_LIMIT_ARCHIVE_DEPTH);
	assert_int_equal(w->flags, MIME_WALK_LIMIT_ARCHIVE_DEPTH);
	mime_walk_free(w);

	struct mime_walk_limits limits;
	mime_walk_limits_default(&limits);
	limits.max_archive_depth = 4;
	struct mime_walker *deep = mime_walker_new(&limits);
	assert_non_null(deep);
	m = msg_begin();
	msg_attach(m, "application/zip", "filename=\"a.zip\"", zip, len);
	msg_end(m);
	w = mime_walk_mem(deep, m->str, m->len);
	g_string_free(m, TRUE);
	assert_int_equal(w->flags, 0);
	assert_int_equal(w->nparts, 5);
	assert_string_equal(w->parts[4].filename, "clam.exe");
	assert_int_equal(w->parts[4].depth, 4);
	assert_string_equal(w->parts[4].true_type, PE_TYPE);
	mime_walk_free(w);
	mime_walker_free(deep);
	free(zip);
}

static void test_archive_entry_and_byte_limits(void **state)
{
	(void)state;
	struct mime_walk_limits limits;
	mime_walk_limits_default(&limits);
	limits.max_archive_entries = 5;
	limits.max_archive_bytes = 100000;
	struct mime_walker *small = mime_walker_new(&limits);
	assert_non_null(small);

	struct entry many[10];
	char names[10][32];
	for (int i = 0; i < 10; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d.txt", i);
		many[i] = (struct entry){names[i], "hello\n", 6};
	}
	size_t zlen;
	uint8_t *zip = make_archive(false, many, 10, &zlen);
	GString *m = msg_begin();
	msg_attach(m, "application/zip", "filename=\"many.zip\"", zip, zlen);
	msg_end(m);
	struct mime_walk *w = mime_walk_mem(small, m->str, m->len);
	g_string_free(m, TRUE);
	assert_int_equal(w->nparts, 6);
	assert_string_equal(w->parts[5].filename, "f4.txt");
	assert_int_equal(w->parts[0].flags, MIME_WALK_LIMIT_ARCHIVE_ENTRIES);
	assert_int_equal(w->flags, MIME_WALK_LIMIT_ARCHIVE_ENTRIES);
	mime_walk_free(w);
	free(zip);

	/* A megabyte of zeros deflates to a kilobyte: a small bomb. */
	uint8_t *zeros = calloc(1, 1 << 20);
	struct entry bomb = {"zeros.bin", zeros, 1 << 20};
	zip = make_archive(false, &bomb, 1, &zlen);
	assert_true(zlen < 10000);
	m = msg_begin();
	msg_attach(m, "application/zip", "filename=\"bomb.zip\"", zip, zlen);
	msg_end(m);
	w = mime_walk_mem(small, m->str, m->len);
	g_string_free(m, TRUE);
	assert_int_equal(w->nparts, 2);
	assert_int_equal(w->parts[1].flags, MIME_WALK_LIMIT_ARCHIVE_BYTES);
	assert_int_equal(w->parts[1].size, 100000);
	assert_int_equal(w->archive_bytes, 100000);
	assert_int_equal(w->flags, MIME_WALK_LIMIT_ARCHIVE_BYTES);
	mime_walk_free(w);
	free(zip);
	free(zeros);
	mime_walker_free(small);
}

static void test_encrypted_zip(void **state)
{
	(void)state;
	uint8_t buf[8192];
	size_t used = 0;
	struct archive *a = archive_write_new();
	archive_write_set_format_zip(a);
	assert_int_equal(archive_write_set_options(a, "zip:encryption=zipcrypt"), ARCHIVE_OK);
	assert_int_equal(archive_write_set_passphrase(a, "secret"), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, buf, sizeof(buf), &used), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "evil.exe");
	archive_entry_set_size(e, 2);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, "MZ", 2), 2);
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	GString *m = msg_begin();
	msg_attach(m, "application/zip", "filename=\"locked.zip\"", buf, used);
	msg_end(m);
	struct mime_walk *w = walk_string(m);
	/* The name is in the clear, the content is not: listed, flagged, not read. */
	assert_int_equal(w->nparts, 2);
	assert_string_equal(w->parts[1].filename, "evil.exe");
	assert_int_equal(w->parts[1].flags, MIME_WALK_ENCRYPTED);
	assert_int_equal(w->parts[1].size, 0);
	assert_null(w->parts[1].true_type);
	assert_true(w->flags & MIME_WALK_ENCRYPTED);
	assert_false(w->flags & MIME_WALK_ARCHIVE_ERROR);
	mime_walk_free(w);
}

static void test_message_rfc822_and_find(void **state)
{
	(void)state;
	const char *msg = "From: <a@example.org>\r\nMIME-Version: 1.0\r\n"
			  "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
			  "--outer\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
			  "--outer\r\nContent-Type: message/rfc822\r\n"
			  "Content-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n"
			  "From: <c@example.net>\r\nSubject: inner\r\nMIME-Version: 1.0\r\n"
			  "Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n"
			  "--inner\r\nContent-Type: text/plain\r\n\r\ninner text\r\n"
			  "--inner\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
			  "--alt\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
			  "--alt\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--alt--\r\n"
			  "--inner--\r\n"
			  "--outer\r\nContent-Type: message/rfc822\r\n\r\n"
			  "Subject: single\r\n\r\nsingle body\r\n"
			  "--outer--\r\n";
	struct mime_walk *w = mime_walk_mem(walker, msg, strlen(msg));
	assert_non_null(w);
	assert_int_equal(w->flags, 0);
	const char *paths[] = {"1", "2", "2.1", "2.2.1", "2.2.2", "3", "3.1"};
	const char *types[] = {"text/plain", "message/rfc822", "text/plain", "text/plain",
			       "text/html",  "message/rfc822", "text/plain"};
	assert_int_equal(w->nparts, 7);
	for (size_t i = 0; i < 7; i++) {
		assert_string_equal(w->parts[i].path, paths[i]);
		assert_string_equal(w->parts[i].content_type, types[i]);
		GMimeObject *found = mime_walk_find(w->message, paths[i], NULL, NULL, NULL);
		assert_non_null(found);
		gchar *t = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(found));
		assert_string_equal(t, types[i]);
		g_free(t);
	}
	assert_int_equal(w->parts[1].kind, MIME_PART_MESSAGE);
	assert_string_equal(w->parts[1].filename, "fwd.eml");
	assert_int_equal(w->parts[4].size, strlen("<p>html</p>"));
	GMimeMultipart *parent;
	GMimeMessage *owner;
	int index;
	assert_non_null(mime_walk_find(w->message, "2.2.2", &parent, &index, &owner));
	assert_int_equal(index, 1);
	assert_null(owner);
	assert_non_null(mime_walk_find(w->message, "3.1", &parent, &index, &owner));
	assert_null(parent);
	assert_non_null(owner);
	assert_ptr_not_equal(owner, w->message);
	const char *bad[] = {"", "0", "4", "1.1", "3.2", "2.2.3", "01", "1.", ".1", "2..1", "x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(mime_walk_find(w->message, bad[i], NULL, NULL, NULL));
	mime_walk_free(w);
}

static void test_single_part_and_fd(void **state)
{
	(void)state;
	const char *envelope = "envelope line\r\n\r\n";
	const char *msg = "From: <a@example.org>\r\nContent-Type: application/octet-stream; "
			  "name=\"x.bat\"\r\n\r\n@echo off\r\n";
	FILE *f = tmpfile();
	assert_non_null(f);
	fputs(envelope, f);
	fputs(msg, f);
	fflush(f);
	int fd = fileno(f);
	assert_int_equal(lseek(fd, (off_t)strlen(envelope), SEEK_SET), (off_t)strlen(envelope));
	struct mime_walk *w = mime_walk_fd(walker, fd);
	assert_non_null(w);
	assert_int_equal(w->nparts, 1);
	assert_string_equal(w->parts[0].path, "1");
	assert_string_equal(w->parts[0].filename, "x.bat");
	assert_int_equal(w->parts[0].size, strlen("@echo off\r\n"));
	GMimeMessage *owner = NULL;
	assert_non_null(mime_walk_find(w->message, "1", NULL, NULL, &owner));
	assert_ptr_equal(owner, w->message);
	mime_walk_free(w);

	struct mime_walk_limits limits;
	mime_walk_limits_default(&limits);
	limits.max_message_bytes = 20;
	struct mime_walker *tiny = mime_walker_new(&limits);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	w = mime_walk_fd(tiny, fd);
	assert_non_null(w);
	assert_int_equal(w->nparts, 0);
	assert_int_equal(w->flags, MIME_WALK_LIMIT_MESSAGE_BYTES);
	mime_walk_free(w);
	w = mime_walk_mem(tiny, msg, strlen(msg));
	assert_int_equal(w->flags, MIME_WALK_LIMIT_MESSAGE_BYTES);
	mime_walk_free(w);
	mime_walker_free(tiny);
	fclose(f);
}

/* A PE whose own header sits at 0x6000, far past the first MIME_WALK_SNIFF_BYTES. */
static uint8_t *far_pe(size_t *len)
{
	*len = 0x8000;
	uint8_t *b = calloc(1, *len);
	assert_non_null(b);
	for (size_t i = 0x40; i < 0x6000; i++)
		b[i] = (uint8_t)(i * 7 + 3);
	b[0] = 'M', b[1] = 'Z';
	b[0x18] = 0x40;
	b[0x3c] = 0x00, b[0x3d] = 0x60; /* e_lfanew = 0x6000 */
	memcpy(b + 0x6000, "PE\0\0", 4);
	b[0x6004] = 0x4c, b[0x6005] = 0x01; /* i386 */
	b[0x6014] = 0xe0;		    /* optional header size */
	b[0x6016] = 0x02, b[0x6017] = 0x01; /* executable */
	b[0x6018] = 0x0b, b[0x6019] = 0x01; /* PE32 */
	return b;
}

static void test_what_is_sniffed(void **state)
{
	(void)state;
	size_t pelen;
	uint8_t *pe = far_pe(&pelen);
	const char *csv = "a,b,c\n1,2,3\n";
	GString *m = msg_begin();
	msg_text(m, "#!/bin/sh\r\necho an inline body is shown, not run");
	msg_attach(m, "text/plain", "filename=\"notes.txt\"", csv, strlen(csv));
	g_string_append(m, "--BOUNDARY\r\nContent-Type: text/plain\r\n"
			   "Content-Disposition: attachment\r\n\r\nsaved as a file\r\n");
	msg_attach(m, "application/octet-stream", "filename=\"invoice.pdf\"", pe, pelen);
	msg_end(m);
	GString *copy = g_string_new_len(m->str, (gssize)m->len);
	struct mime_walk *w = walk_string(m);
	assert_int_equal(w->nparts, 4);
	assert_null(w->parts[0].true_type);
	assert_int_equal(w->parts[0].size,
			 strlen("#!/bin/sh\r\necho an inline body is shown, not run"));
	assert_non_null(w->parts[1].true_type);			  /* named */
	assert_string_equal(w->parts[2].true_type, "text/plain"); /* an attachment */
	/* The PE header is found wherever e_lfanew puts it. */
	assert_string_equal(w->parts[3].true_type, PE_TYPE);
	assert_int_equal(w->parts[3].size, pelen);
	mime_walk_free(w);

	struct mime_walk_limits limits;
	mime_walk_limits_default(&limits);
	limits.sniff_text_bodies = true;
	struct mime_walker *all = mime_walker_new(&limits);
	assert_non_null(all);
	w = mime_walk_mem(all, copy->str, copy->len);
	assert_non_null(w);
	assert_string_equal(w->parts[0].true_type, "text/x-shellscript");
	mime_walk_free(w);
	mime_walker_free(all);
	g_string_free(copy, TRUE);
	free(pe);
}

/* mime_walk_fd_range() sees what mime_walk_mem() sees, reading the file in place. */
static void test_fd_range(void **state)
{
	(void)state;
	size_t exelen, ziplen;
	uint8_t *exe = slurp(TESTFILES "clam.exe", &exelen);
	uint8_t *zip = slurp(TESTFILES "clam.zip", &ziplen);
	GString *m = msg_begin();
	msg_text(m, "Two attachments.");
	msg_attach(m, "application/octet-stream", "filename=\"clam.exe\"", exe, exelen);
	msg_attach(m, "application/zip", "filename=\"clam.zip\"", zip, ziplen);
	msg_end(m);
	const char *before = "envelope line\r\n\r\n", *after = "trailing octets outside";
	char path[] = "/tmp/test_mime_walk.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, before, strlen(before)), (ssize_t)strlen(before));
	assert_int_equal(write(fd, m->str, m->len), (ssize_t)m->len);
	assert_int_equal(write(fd, after, strlen(after)), (ssize_t)strlen(after));
	struct mime_walk *a = mime_walk_mem(walker, m->str, m->len);
	struct mime_walk *b = mime_walk_fd_range(walker, fd, strlen(before), m->len);
	assert_non_null(a);
	assert_non_null(b);
	/* The walk holds its own descriptor: parts are read after the caller's is closed. */
	close(fd);
	assert_int_equal(a->nparts, b->nparts);
	assert_int_equal(a->flags, b->flags);
	assert_true(b->nparts >= 4);
	for (size_t i = 0; i < a->nparts; i++) {
		assert_string_equal(a->parts[i].path, b->parts[i].path);
		assert_int_equal(a->parts[i].size, b->parts[i].size);
		assert_int_equal(a->parts[i].kind, b->parts[i].kind);
		if (a->parts[i].true_type)
			assert_string_equal(a->parts[i].true_type, b->parts[i].true_type);
		else
			assert_null(b->parts[i].true_type);
	}
	assert_string_equal(b->parts[1].true_type, PE_TYPE);
	assert_true(b->parts[2].is_archive);
	/* The message serialises from the file as it does from memory. */
	char *ta = g_mime_object_to_string(GMIME_OBJECT(a->message), NULL);
	char *tb = g_mime_object_to_string(GMIME_OBJECT(b->message), NULL);
	assert_string_equal(ta, tb);
	assert_true(strstr(tb, "Two attachments.") != NULL);
	g_free(ta);
	g_free(tb);
	mime_walk_free(a);
	mime_walk_free(b);
	assert_null(mime_walk_fd_range(walker, -1, 0, 10));
	g_string_free(m, TRUE);
	g_free(exe);
	g_free(zip);
}

static void test_part_and_depth_limits(void **state)
{
	(void)state;
	struct mime_walk_limits limits;
	mime_walk_limits_default(&limits);
	limits.max_parts = 2;
	limits.max_mime_depth = 2;
	struct mime_walker *small = mime_walker_new(&limits);
	GString *m = msg_begin();
	for (int i = 0; i < 3; i++)
		msg_text(m, "x");
	msg_end(m);
	struct mime_walk *w = mime_walk_mem(small, m->str, m->len);
	g_string_free(m, TRUE);
	assert_int_equal(w->nparts, 2);
	assert_int_equal(w->flags, MIME_WALK_LIMIT_PARTS);
	mime_walk_free(w);

	GString *deep = g_string_new("Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
	for (int i = 1; i <= 4; i++)
		g_string_append_printf(
			deep, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n",
			i - 1, i);
	g_string_append(deep, "--b4\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--b4--\r\n");
	w = mime_walk_mem(small, deep->str, deep->len);
	assert_int_equal(w->nparts, 0);
	assert_true(w->flags & MIME_WALK_LIMIT_MIME_DEPTH);
	mime_walk_free(w);
	w = mime_walk_mem(walker, deep->str, deep->len);
	assert_int_equal(w->nparts, 1);
	assert_string_equal(w->parts[0].path, "1.1.1.1.1");
	assert_false(w->flags & MIME_WALK_LIMITS);
	mime_walk_free(w);
	g_string_free(deep, TRUE);
	mime_walker_free(small);
}

static void test_malformed_and_ambiguous(void **state)
{
	(void)state;
	/* Conflicting names: one reader sees the .txt, another the .exe. */
	const char *two =
		"From: <a@example.org>\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n"
		"Content-Type: application/octet-stream\r\n"
		"Content-Disposition: attachment; filename=\"a.txt\"; filename=\"a.exe\"\r\n"
		"\r\nMZ\r\n--B--\r\n";
	struct mime_walk *w = mime_walk_mem(walker, two, strlen(two));
	assert_true(w->flags & MIME_WALK_AMBIGUOUS);
	assert_true(w->parser_warnings > 0);
	mime_walk_free(w);

	const char *truncated = "From: <a@example.org>\r\nMIME-Version: 1.0\r\n"
				"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n"
				"Content-Type: text/plain\r\n\r\ncut off";
	w = mime_walk_mem(walker, truncated, strlen(truncated));
	assert_true(w->flags & MIME_WALK_MALFORMED);
	assert_int_equal(w->nparts, 1);
	mime_walk_free(w);

	const char *noboundary = "Content-Type: multipart/mixed\r\n\r\n--B\r\n\r\nx\r\n";
	w = mime_walk_mem(walker, noboundary, strlen(noboundary));
	assert_true(w->flags & MIME_WALK_MALFORMED);
	mime_walk_free(w);

	/* Not a zip at all, only named like one: listed as plain data. */
	GString *m = msg_begin();
	msg_attach(m, "application/zip", "filename=\"fake.zip\"", "just text\n", 10);
	msg_end(m);
	w = walk_string(m);
	assert_int_equal(w->nparts, 1);
	assert_false(w->parts[0].is_archive);
	assert_int_equal(w->flags, 0);
	mime_walk_free(w);

	/* A zip cut in half: what can be listed is, and the error is flagged. */
	size_t zlen;
	uint8_t *zip = slurp(TESTFILES "clam.zip", &zlen);
	m = msg_begin();
	msg_attach(m, "application/zip", "filename=\"half.zip\"", zip, zlen / 2);
	msg_end(m);
	w = walk_string(m);
	assert_true(w->parts[0].flags & MIME_WALK_ARCHIVE_ERROR);
	assert_true(w->flags & MIME_WALK_ARCHIVE_ERROR);
	mime_walk_free(w);
	g_free(zip);

	const uint8_t garbage[] = {0, 1, 2, 0xff, '\r', '\n', '-', '-', 0x80};
	w = mime_walk_mem(walker, garbage, sizeof(garbage));
	assert_non_null(w);
	mime_walk_free(w);
	w = mime_walk_mem(walker, "", 0);
	assert_non_null(w);
	assert_int_equal(w->nparts, 0);
	mime_walk_free(w);
}

static void test_flag_names(void **state)
{
	(void)state;
	char buf[128];
	assert_string_equal(mime_walk_flag_name(MIME_WALK_LIMIT_ARCHIVE_DEPTH),
			    "limit-archive-depth");
	assert_string_equal(mime_walk_flag_name(1u << 30), "unknown");
	assert_string_equal(mime_walk_flags_text(0, buf, sizeof(buf)), "none");
	assert_string_equal(
		mime_walk_flags_text(MIME_WALK_MALFORMED | MIME_WALK_LIMIT_PARTS, buf, sizeof(buf)),
		"malformed,limit-parts");
}

static int setup(void **state)
{
	(void)state;
	walker = mime_walker_new(NULL);
	return walker ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mime_walker_free(walker);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exe_attachment),
		cmocka_unit_test(test_skip_sizes),
		cmocka_unit_test(test_rfc2231_and_rfc2047_names),
		cmocka_unit_test(test_zip_and_tar_gz),
		cmocka_unit_test(test_archive_depth_limit),
		cmocka_unit_test(test_archive_entry_and_byte_limits),
		cmocka_unit_test(test_encrypted_zip),
		cmocka_unit_test(test_message_rfc822_and_find),
		cmocka_unit_test(test_single_part_and_fd),
		cmocka_unit_test(test_what_is_sniffed),
		cmocka_unit_test(test_fd_range),
		cmocka_unit_test(test_part_and_depth_limits),
		cmocka_unit_test(test_malformed_and_ambiguous),
		cmocka_unit_test(test_flag_names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * The pure parts of the SMTP client: the reply parser, the EHLO keyword
 * reader and the content encoder (CRLF enforcement, dot stuffing), table
 * driven, with exact octets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>

#include "relay/smtp_client_content.h"
#include "relay/smtp_client_reply.h"

static struct smtp_reply reply;

struct reply_case {
	const char *in;
	enum smtp_reply_status st;
	int code;
	unsigned nlines;
	size_t used;
	const char *text;
	size_t len; /* of in, when it holds a NUL; else 0 */
};

static const struct reply_case reply_cases[] = {
	{"220 hub ESMTP\r\n", SMTP_REPLY_DONE, 220, 1, 15, "hub ESMTP", 0},
	{"250\r\n", SMTP_REPLY_DONE, 250, 1, 5, "", 0},
	{"250-a\r\n250-b\r\n250 c\r\n", SMTP_REPLY_DONE, 250, 3, 21, "a\nb\nc", 0},
	{"250-a\r\n250 b\r\n354 next\r\n", SMTP_REPLY_DONE, 250, 2, 14, "a\nb", 0},
	{"250-\r\n250 x\r\n", SMTP_REPLY_DONE, 250, 2, 13, "\nx", 0},
	{"550 5.1.1 \xc3\xa9t\xc3\xa9\r\n", SMTP_REPLY_DONE, 550, 1, 17, "5.1.1 \xc3\xa9t\xc3\xa9",
	 0},
	{"250 a\tb\r\n", SMTP_REPLY_DONE, 250, 1, 9, "a\tb", 0},
	/* incomplete, still valid so far */
	{"", SMTP_REPLY_NEED_MORE, 0, 0, 0, NULL, 0},
	{"2", SMTP_REPLY_NEED_MORE, 0, 0, 0, NULL, 0},
	{"250 ok", SMTP_REPLY_NEED_MORE, 0, 0, 0, NULL, 0},
	{"250 ok\r", SMTP_REPLY_NEED_MORE, 0, 0, 0, NULL, 0},
	{"250-a\r\n", SMTP_REPLY_NEED_MORE, 0, 0, 0, NULL, 0},
	{"250-a\r\n25", SMTP_REPLY_NEED_MORE, 0, 0, 0, NULL, 0},
	/* malformed */
	{"250 ok\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"250-a\n250 b\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"250 a\rb\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"250 a\rb", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"250 a\0b\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 9},
	{"250-a\r\n251 b\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"150 x\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"699 x\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"260 x\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"2a0 x\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"250x\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"25\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"250\r\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
	{"HTTP/1.1 400\r\n", SMTP_REPLY_MALFORMED, 0, 0, 0, NULL, 0},
};

static void test_reply_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct reply_case *c = &reply_cases[i];
		size_t len = c->len ? c->len : strlen(c->in), used = 99;
		enum smtp_reply_status st = smtp_reply_parse(c->in, len, &reply, &used);
		if (st != c->st)
			fail_msg("case %zu (%s): status %d, want %d", i, c->in, st, c->st);
		if (st != SMTP_REPLY_DONE) {
			assert_int_equal(used, 0);
			continue;
		}
		assert_int_equal(reply.code, c->code);
		assert_int_equal(reply.nlines, c->nlines);
		assert_int_equal(used, c->used);
		assert_string_equal(reply.text, c->text);
	}
}

/* The same reply split at every point: never malformed, done only when whole. */
static void test_reply_any_split(void **state)
{
	static const char in[] = "250-hub\r\n250-PIPELINING\r\n250 SIZE 1000\r\n";
	size_t len = sizeof(in) - 1, used;

	(void)state;
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(smtp_reply_parse(in, cut, &reply, &used), SMTP_REPLY_NEED_MORE);
	assert_int_equal(smtp_reply_parse(in, len, &reply, &used), SMTP_REPLY_DONE);
	assert_int_equal(used, len);
}

static void test_reply_limits(void **state)
{
	char *buf = malloc(SMTP_REPLY_INPUT_MAX + 1024);
	size_t pos = 0, used;

	(void)state;
	/* A line of exactly 512 octets with CRLF is fine, 513 is not. */
	memcpy(buf, "250 ", 4);
	memset(buf + 4, 'x', 506);
	memcpy(buf + 510, "\r\n", 2);
	assert_int_equal(smtp_reply_parse(buf, 512, &reply, &used), SMTP_REPLY_DONE);
	assert_int_equal(reply.text_len, 506);
	memset(buf + 4, 'x', 507);
	memcpy(buf + 511, "\r\n", 2);
	assert_int_equal(smtp_reply_parse(buf, 513, &reply, &used), SMTP_REPLY_MALFORMED);
	assert_int_equal(smtp_reply_parse(buf, 512, &reply, &used), SMTP_REPLY_MALFORMED);
	/* 64 lines are fine; a 64th line announcing more is refused at once. */
	for (int i = 0; i < 63; i++)
		pos += (size_t)sprintf(buf + pos, "250-line %d\r\n", i);
	size_t before_last = pos;
	pos += (size_t)sprintf(buf + pos, "250 last\r\n");
	assert_int_equal(smtp_reply_parse(buf, pos, &reply, &used), SMTP_REPLY_DONE);
	assert_int_equal(reply.nlines, 64);
	pos = before_last + (size_t)sprintf(buf + before_last, "250-more\r\n");
	assert_int_equal(smtp_reply_parse(buf, pos, &reply, &used), SMTP_REPLY_MALFORMED);
	free(buf);
}

static void test_reply_format(void **state)
{
	static const char in[] = "421-4.7.0 closing\r\n421 4.7.0 bye\r\n";
	char out[64], tiny[12];
	size_t used;

	(void)state;
	assert_int_equal(smtp_reply_parse(in, sizeof(in) - 1, &reply, &used), SMTP_REPLY_DONE);
	smtp_reply_format(&reply, out, sizeof(out));
	assert_string_equal(out, "421 4.7.0 closing / 4.7.0 bye");
	smtp_reply_format(&reply, tiny, sizeof(tiny));
	assert_string_equal(tiny, "421 4.7.0 c");
}

static void test_caps(void **state)
{
	static const char in[] = "250-hub.example\r\n250-pipelining\r\n250-SIZE 10240000\r\n"
				 "250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-STARTTLS\r\n"
				 "250-PIPELININGX\r\n250 ENHANCEDSTATUSCODES\r\n";
	static const char plain[] = "250-hub\r\n250-SIZE\r\n250 SIZE99\r\n";
	static const char huge[] = "250-hub\r\n250 SIZE 99999999999999999999999\r\n";
	struct smtp_caps caps;
	size_t used;

	(void)state;
	assert_int_equal(smtp_reply_parse(in, sizeof(in) - 1, &reply, &used), SMTP_REPLY_DONE);
	smtp_caps_parse(&reply, &caps);
	assert_true(caps.pipelining && caps.chunking && caps.eightbitmime && caps.smtputf8);
	assert_true(caps.starttls && caps.enhanced && caps.size);
	assert_int_equal(caps.size_max, 10240000);
	assert_int_equal(smtp_reply_parse(plain, sizeof(plain) - 1, &reply, &used),
			 SMTP_REPLY_DONE);
	smtp_caps_parse(&reply, &caps);
	assert_true(caps.size);
	assert_int_equal(caps.size_max, 0);
	assert_false(caps.pipelining || caps.chunking || caps.starttls);
	assert_int_equal(smtp_reply_parse(huge, sizeof(huge) - 1, &reply, &used), SMTP_REPLY_DONE);
	smtp_caps_parse(&reply, &caps);
	assert_true(caps.size);
	assert_int_equal(caps.size_max, 0);
}

/* ---- content encoder ---- */

struct enc_case {
	const char *in;
	const char *data; /* DATA mode wire */
	const char *bdat; /* BDAT mode wire */
	bool fixed;	  /* a bare CR or LF was rewritten */
};

static const struct enc_case enc_cases[] = {
	{"", ".\r\n", "", false},
	{"a\r\n", "a\r\n.\r\n", "a\r\n", false},
	{"a", "a\r\n.\r\n", "a\r\n", false},
	{".\r\n", "..\r\n.\r\n", ".\r\n", false},
	{"x\r\n.\r\n..y\r\n", "x\r\n..\r\n...y\r\n.\r\n", "x\r\n.\r\n..y\r\n", false},
	{"a\n.\nb\r\n", "a\r\n..\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true},
	{"a\r.\rb", "a\r\n..\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true},
	{"a\r\r\n.\r\r\n", "a\r\n\r\n..\r\n\r\n.\r\n", "a\r\n\r\n.\r\n\r\n", true},
	{"a\r", "a\r\n.\r\n", "a\r\n", true},
	{"\n", "\r\n.\r\n", "\r\n", true},
	{"x.y\r\n", "x.y\r\n.\r\n", "x.y\r\n", false},
};

static void enc_run(const char *in, size_t len, bool data_mode, size_t split, char **out,
		    size_t *outlen, bool *fixed)
{
	struct evbuffer *b = evbuffer_new();
	struct smtp_content_enc e;

	smtp_content_enc_init(&e, data_mode);
	for (size_t pos = 0; pos < len;) {
		size_t n = len - pos < split ? len - pos : split;
		assert_int_equal(smtp_content_enc_feed(&e, in + pos, n, b), 0);
		pos += n;
	}
	assert_int_equal(smtp_content_enc_finish(&e, b), 0);
	*outlen = evbuffer_get_length(b);
	*out = malloc(*outlen + 1);
	evbuffer_remove(b, *out, *outlen);
	(*out)[*outlen] = '\0';
	*fixed = e.any_newline;
	evbuffer_free(b);
}

static void test_encoder_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		const struct enc_case *c = &enc_cases[i];
		size_t len = strlen(c->in);
		for (size_t split = 1; split <= len + 1; split++) {
			char *out;
			size_t outlen;
			bool fixed;
			enc_run(c->in, len, true, split, &out, &outlen, &fixed);
			if (strcmp(out, c->data) != 0)
				fail_msg("case %zu split %zu DATA: got \"%s\"", i, split, out);
			assert_int_equal(fixed, c->fixed);
			free(out);
			enc_run(c->in, len, false, split, &out, &outlen, &fixed);
			if (strcmp(out, c->bdat) != 0)
				fail_msg("case %zu split %zu BDAT: got \"%s\"", i, split, out);
			free(out);
		}
	}
}

/* Large input crosses the encoder's internal block size without losing a stuffed dot. */
static void test_encoder_large(void **state)
{
	size_t len = 3 * 8192 + 7, outlen;
	char *in = malloc(len), *out;
	bool fixed;

	(void)state;
	for (size_t i = 0; i < len; i++)
		in[i] = (i % 3 == 0) ? '.' : (i % 3 == 1 ? '\r' : '\n');
	enc_run(in, len, true, len, &out, &outlen, &fixed);
	/* Each ".\r\n" becomes "..\r\n"; the last "." too, with a CRLF; then ".\r\n". */
	assert_int_equal(len % 3, 1);
	assert_int_equal(outlen, (len / 3) * 4 + 4 + 3);
	assert_false(fixed);
	assert_memory_equal(out + outlen - 7, "..\r\n.\r\n", 7);
	free(in);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_table),   cmocka_unit_test(test_reply_any_split),
		cmocka_unit_test(test_reply_limits),  cmocka_unit_test(test_reply_format),
		cmocka_unit_test(test_caps),	      cmocka_unit_test(test_encoder_table),
		cmocka_unit_test(test_encoder_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

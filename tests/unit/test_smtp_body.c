/*
 * Unit tests for relay/smtp_body: end of data, dot-stuffing, every
 * smuggling variant from notes/smtp.md at every split point, strict and
 * normalising modes, long lines, size limit, Received: counting, bytes
 * after the end left for the next command, and BDAT chunks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relay/smtp_body.h"

#define S(lit) lit, sizeof(lit) - 1

struct collect {
	char *buf;
	size_t len;
	size_t cap;
	int fail_calls; /* fail from this call on (counting from 1); 0: never */
	int calls;
};

static int collect_sink(void *arg, const char *data, size_t len)
{
	struct collect *c = arg;
	c->calls++;
	if (c->fail_calls && c->calls >= c->fail_calls)
		return -1;
	assert_true(len > 0);
	if (c->len + len > c->cap) {
		c->cap = (c->len + len) * 2;
		c->buf = realloc(c->buf, c->cap);
		assert_non_null(c->buf);
	}
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	return 0;
}

struct outcome {
	struct collect out;
	size_t consumed;
	bool ended;
	struct smtp_body_result res;
};

/*
 * Feeds in[0..len) in DATA mode cut at the ascending positions cuts[], stops
 * at end of data. Checks that each call consumes all it got unless it ends.
 */
static void feed_data_cuts(const char *in, size_t len, const struct smtp_body_opts *opts,
			   const size_t *cuts, size_t ncuts, struct outcome *oc)
{
	memset(oc, 0, sizeof(*oc));
	struct smtp_body *b = smtp_body_new(SMTP_BODY_DATA, opts, collect_sink, &oc->out);
	assert_non_null(b);
	size_t pos = 0;
	for (size_t i = 0; i <= ncuts && !oc->ended; i++) {
		size_t stop = i < ncuts ? cuts[i] : len;
		size_t used = 12345;
		enum smtp_body_status st = smtp_body_feed(b, in + pos, stop - pos, &used);
		assert_true(used <= stop - pos);
		pos += used;
		if (st == SMTP_BODY_END)
			oc->ended = true;
		else
			assert_int_equal(pos, stop);
		assert_int_not_equal(st, SMTP_BODY_CHUNK_DONE);
	}
	oc->consumed = pos;
	smtp_body_result(b, &oc->res);
	assert_int_equal(oc->res.ended, oc->ended);
	smtp_body_free(b);
}

static void expect_same(const struct outcome *got, const struct outcome *want, const char *how,
			size_t k)
{
	if (got->consumed != want->consumed || got->ended != want->ended ||
	    got->res.err != want->res.err || got->out.len != want->out.len ||
	    (got->out.len && memcmp(got->out.buf, want->out.buf, got->out.len) != 0) ||
	    got->res.size != want->res.size || got->res.received != want->res.received ||
	    got->res.bare_newlines != want->res.bare_newlines ||
	    got->res.long_lines != want->res.long_lines)
		fail_msg("%s at %zu differs from one-shot feed", how, k);
}

/*
 * Feeds the input one-shot, split at every position, split at every pair of
 * positions (short inputs) and one octet at a time; all must agree with
 * each other and with the expectation. exp_out NULL: output not checked.
 */
static void check_data(const char *in, size_t len, const struct smtp_body_opts *opts,
		       const char *exp_out, size_t exp_out_len, enum smtp_err exp_err,
		       size_t exp_consumed)
{
	struct outcome one, other;
	size_t cuts[2];

	feed_data_cuts(in, len, opts, NULL, 0, &one);
	if (one.res.err != exp_err)
		fail_msg("err %s, want %s", smtp_err_name(one.res.err), smtp_err_name(exp_err));
	assert_true(one.ended);
	assert_int_equal(one.consumed, exp_consumed);
	if (exp_out) {
		assert_int_equal(one.out.len, exp_out_len);
		assert_memory_equal(one.out.buf ? one.out.buf : "", exp_out, exp_out_len);
	}
	if (exp_err == SMTP_OK)
		assert_int_equal(one.res.size, one.out.len);

	/* every split point; for big inputs a spread of them (still > 100) */
	size_t stride = len > 4000 ? len / 150 : 1;
	for (size_t k = 0; k <= len; k += (k < 16 || len - k < 16) ? 1 : stride) {
		cuts[0] = k;
		feed_data_cuts(in, len, opts, cuts, 1, &other);
		expect_same(&other, &one, "split", k);
		free(other.out.buf);
	}
	if (len <= 300) {
		for (size_t i = 0; i <= len; i++) {
			for (size_t j = i; j <= len; j++) {
				cuts[0] = i;
				cuts[1] = j;
				feed_data_cuts(in, len, opts, cuts, 2, &other);
				expect_same(&other, &one, "double split", i * 1000 + j);
				free(other.out.buf);
			}
		}
	}
	size_t *bytewise = malloc((len + 1) * sizeof(size_t));
	assert_non_null(bytewise);
	for (size_t k = 0; k < len; k++)
		bytewise[k] = k + 1;
	feed_data_cuts(in, len, opts, bytewise, len, &other);
	expect_same(&other, &one, "octet by octet", 0);
	free(other.out.buf);
	free(bytewise);
	free(one.out.buf);
}

static const struct smtp_body_opts strict = {0, false, false};
static const struct smtp_body_opts normalise = {0, true, false};

static void test_simple_message(void **state)
{
	(void)state;
	check_data(S("Subject: hi\r\n\r\nHello\r\n.\r\n"), &strict,
		   S("Subject: hi\r\n\r\nHello\r\n"), SMTP_OK, 25);
}

static void test_empty_message(void **state)
{
	(void)state;
	/* the DATA line's CRLF is the first CRLF of the terminator */
	check_data(S(".\r\n"), &strict, S(""), SMTP_OK, 3);
	check_data(S(".\r\nQUIT\r\n"), &strict, S(""), SMTP_OK, 3);
	/* one empty line, then the terminator */
	check_data(S("\r\n.\r\n"), &strict, S("\r\n"), SMTP_OK, 5);
}

static void test_pipelined_rest_untouched(void **state)
{
	static const char in[] = "Hi\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>"
				 "\r\nDATA\r\n";
	struct outcome oc;

	(void)state;
	check_data(in, sizeof(in) - 1, &strict, S("Hi\r\n"), SMTP_OK, 7);
	feed_data_cuts(in, sizeof(in) - 1, &strict, NULL, 0, &oc);
	assert_memory_equal(in + oc.consumed, "MAIL FROM:", 10);
	free(oc.out.buf);
	/* a second terminator after the first belongs to the next command stream */
	check_data(S("a\r\n.\r\n.\r\n"), &strict, S("a\r\n"), SMTP_OK, 6);
}

static void test_dot_stuffing(void **state)
{
	(void)state;
	check_data(S("..foo\r\n.bar\r\n...\r\n..\r\n.\r\n"), &strict,
		   S(".foo\r\nbar\r\n..\r\n.\r\n"), SMTP_OK, 25);
	/* dots that are not at a line start are content */
	check_data(S("a.b\r\n a.\r\n.a.\r\nx.\r\n.\r\n"), &strict, S("a.b\r\n a.\r\na.\r\nx.\r\n"),
		   SMTP_OK, 22);
	/* ". " is not the terminator */
	check_data(S(". \r\n.\r\n"), &strict, S(" \r\n"), SMTP_OK, 7);
}

static void test_not_ended(void **state)
{
	struct outcome oc;
	static const char *never[] = {"abc", "abc\r\n",	    "abc\r\n.", "abc\r\n.\r", ".",
				      ".\r", "a\r\n..\r\n", "a\n.\n",	"a\r.\r"};

	(void)state;
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		feed_data_cuts(never[i], strlen(never[i]), &strict, NULL, 0, &oc);
		assert_false(oc.ended);
		assert_int_equal(oc.consumed, strlen(never[i]));
		free(oc.out.buf);
	}
}

/* notes/smtp.md: none of these ends the data; the real end comes later. */
static const struct {
	const char *seq;
	const char *normalised; /* what normalise mode stores for it */
	unsigned bare;		/* bare CR/LF it contains */
} smuggle[] = {
	{"\n.\n", "\r\n.\r\n", 2},
	{"\n.\r\n", "\r\n.\r\n", 1},
	{"\r\n.\n", "\r\n\r\n", 1},
	{"\r.\r", "\r\n.\r\n", 2},
	{"\r\r\n.\r\r\n", "\r\n\r\n\r\n\r\n", 2},
	{"\n", "\r\n", 1},
	{"\r", "\r\n", 1},
};

static void test_smuggling_variants(void **state)
{
	static const char head[] = "Subject: x\r\n\r\nhello";
	static const char smuggled[] = "MAIL FROM:<evil@example.org>\r\n";
	static const char tail[] = ".\r\nQUIT\r\n";
	char in[256], want[256];

	(void)state;
	for (size_t i = 0; i < sizeof(smuggle) / sizeof(smuggle[0]); i++) {
		size_t n = 0, w = 0;
		n += (size_t)sprintf(in + n, "%s%s%s%s", head, smuggle[i].seq, smuggled, tail);
		size_t end = n - strlen("QUIT\r\n");

		/* strict: refused, but read to the real end and not one octet further */
		check_data(in, n, &strict, NULL, 0, SMTP_ERR_BODY_BARE_NEWLINE, end);

		/* normalised: stored with CRLF, the terminator found at the same place */
		w += (size_t)sprintf(want + w, "%s%s%s", head, smuggle[i].normalised, smuggled);
		check_data(in, n, &normalise, want, w, SMTP_OK, end);

		struct outcome oc;
		feed_data_cuts(in, n, &normalise, NULL, 0, &oc);
		assert_int_equal(oc.res.bare_newlines, smuggle[i].bare);
		assert_memory_equal(in + oc.consumed, "QUIT\r\n", 6);
		free(oc.out.buf);

		/* the same sequences at the very start of the content */
		n = (size_t)sprintf(in, "%s%s%s", smuggle[i].seq, smuggled, tail);
		check_data(in, n, &strict, NULL, 0, SMTP_ERR_BODY_BARE_NEWLINE,
			   n - strlen("QUIT\r\n"));
	}
}

static void test_bare_newline_reply(void **state)
{
	struct outcome oc;

	(void)state;
	feed_data_cuts(S("a\nb\r\n.\r\n"), &strict, NULL, 0, &oc);
	assert_int_equal(oc.res.err, SMTP_ERR_BODY_BARE_NEWLINE);
	assert_string_equal(smtp_err_reply(oc.res.err, SMTP_ROLE_SENDER),
			    "550 5.5.2 Bare CR or LF in message content");
	/* nothing after the bare LF reached the sink */
	assert_int_equal(oc.out.len, 1);
	free(oc.out.buf);
	check_data(S("a\rb\r\n.\r\n"), &strict, NULL, 0, SMTP_ERR_BODY_BARE_NEWLINE, 8);
	check_data(S("a\rb\r\n.\r\n"), &normalise, S("a\r\nb\r\n"), SMTP_OK, 8);
	check_data(S("a\nb\r\n.\r\n"), &normalise, S("a\r\nb\r\n"), SMTP_OK, 8);
	/* after a bare LF, ".." is content and not unstuffed */
	check_data(S("a\n..b\r\n.\r\n"), &normalise, S("a\r\n..b\r\n"), SMTP_OK, 10);
}

static void test_long_lines(void **state)
{
	char in[2200];
	struct smtp_body_opts allow = {0, false, true};
	struct outcome oc;

	(void)state;
	/* 998 octets + CRLF = 1000: fine */
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	check_data(in, 1003, &strict, in, 1000, SMTP_OK, 1003);
	/* 999 + CRLF: refused, consumed to the end */
	memset(in, 'x', 999);
	memcpy(in + 999, "\r\n.\r\nQUIT\r\n", 11);
	check_data(in, 1010, &strict, NULL, 0, SMTP_ERR_BODY_LINE_TOO_LONG, 1004);
	feed_data_cuts(in, 1010, &strict, NULL, 0, &oc);
	assert_int_equal(oc.out.len, 998);
	assert_string_equal(smtp_err_reply(oc.res.err, SMTP_ROLE_SENDER),
			    "550 5.5.2 Message line longer than 1000 octets");
	free(oc.out.buf);
	/* allowed: stored unchanged and flagged */
	check_data(in, 1010, &allow, in, 1001, SMTP_OK, 1004);
	feed_data_cuts(in, 1010, &allow, NULL, 0, &oc);
	assert_true(oc.res.long_lines);
	free(oc.out.buf);
	/* the stuffed dot does not count: "." + 998 octets is a 998-octet line */
	in[0] = '.';
	memset(in + 1, '.', 998);
	memcpy(in + 999, "\r\n.\r\n", 5);
	check_data(in, 1004, &strict, in + 1, 1000, SMTP_OK, 1004);
	/* a long line in the header section, split across the fast path */
	memcpy(in, "Received: ", 10);
	memset(in + 10, 'y', 2000);
	memcpy(in + 2010, "\r\n\r\n.\r\n", 7);
	check_data(in, 2017, &allow, in, 2014, SMTP_OK, 2017);
	check_data(in, 2017, &strict, NULL, 0, SMTP_ERR_BODY_LINE_TOO_LONG, 2017);
}

static void test_size_limit(void **state)
{
	struct smtp_body_opts max10 = {10, false, false};
	struct outcome oc;

	(void)state;
	/* 8 + CRLF = 10 octets: exactly the limit */
	check_data(S("01234567\r\n.\r\n"), &max10, S("01234567\r\n"), SMTP_OK, 13);
	/* 11 octets: refused, but read to the end so the session stays in sync */
	check_data(S("012345678\r\n.\r\nQUIT\r\n"), &max10, NULL, 0, SMTP_ERR_BODY_TOO_BIG, 14);
	feed_data_cuts(S("012345678\r\nmore\r\nand more\r\n.\r\nQUIT\r\n"), &max10, NULL, 0, &oc);
	assert_int_equal(oc.res.err, SMTP_ERR_BODY_TOO_BIG);
	assert_int_equal(oc.res.size, 10);
	assert_int_equal(oc.out.len, 10);
	assert_int_equal(oc.consumed, 30);
	assert_string_equal(smtp_err_reply(oc.res.err, SMTP_ROLE_SENDER),
			    "552 5.3.4 Message size exceeds fixed limit");
	free(oc.out.buf);
	/* stuffed dots do not count, CRLF counts two */
	check_data(S("..\r\n..\r\n..\r\n..\r\n.\r\n"), &max10, NULL, 0, SMTP_ERR_BODY_TOO_BIG, 19);
	check_data(S("..\r\n..\r\n.\r\n"), &(struct smtp_body_opts){6, false, false},
		   S(".\r\n.\r\n"), SMTP_OK, 11);
}

static void test_received_count(void **state)
{
	static const char in[] = "Received: from a\r\n"
				 "Received: from b\r\n"
				 "  by c; folded Received: no\r\n"
				 "received : old syntax\r\n"
				 "RECEIVED:x\r\n"
				 "X-Received: no\r\n"
				 "Received-SPF: pass\r\n"
				 "Receive: no\r\n"
				 "Subject: Received: no\r\n"
				 "\r\n"
				 "Received: in the body, not counted\r\n"
				 ".\r\n";
	struct outcome oc;
	char big[4096];
	size_t n = 0;

	(void)state;
	feed_data_cuts(in, sizeof(in) - 1, &strict, NULL, 0, &oc);
	assert_int_equal(oc.res.err, SMTP_OK);
	assert_int_equal(oc.res.received, 4);
	free(oc.out.buf);
	check_data(in, sizeof(in) - 1, &strict, in, sizeof(in) - 4, SMTP_OK, sizeof(in) - 1);

	for (int i = 0; i < SMTP_BODY_HOPS_MAX + 1; i++)
		n += (size_t)sprintf(big + n, "Received: from hop%d\r\n", i);
	n += (size_t)sprintf(big + n, "\r\nbody\r\n.\r\n");
	feed_data_cuts(big, n, &strict, NULL, 0, &oc);
	assert_int_equal(oc.res.received, SMTP_BODY_HOPS_MAX + 1);
	assert_true(oc.res.received > SMTP_BODY_HOPS_MAX);
	assert_string_equal(smtp_err_reply(SMTP_ERR_TOO_MANY_HOPS, SMTP_ROLE_SENDER),
			    "554 5.4.0 Too many hops (mail loop?)");
	free(oc.out.buf);
	/* no header section at all: an empty first line */
	feed_data_cuts(S("\r\nReceived: x\r\n.\r\n"), &strict, NULL, 0, &oc);
	assert_int_equal(oc.res.received, 0);
	free(oc.out.buf);
}

static void test_large_message(void **state)
{
	size_t n = 0, w = 0;
	char *in = malloc(40000), *want = malloc(40000);

	(void)state;
	for (int i = 0; i < 300; i++) {
		int k = sprintf(in + n, "%s%03d %s\r\n", i % 7 == 0 ? ".." : "", i,
				"the quick brown fox jumps over the lazy dog again and again");
		n += (size_t)k;
		k = sprintf(want + w, "%s%03d %s\r\n", i % 7 == 0 ? "." : "", i,
			    "the quick brown fox jumps over the lazy dog again and again");
		w += (size_t)k;
	}
	memcpy(in + n, ".\r\nQUIT\r\n", 9);
	check_data(in, n + 9, &strict, want, w, SMTP_OK, n + 3);
	free(in);
	free(want);
}

static void test_sink_failure(void **state)
{
	char in[10000];
	struct collect c = {.fail_calls = 1};
	struct smtp_body_result res;
	size_t used;

	(void)state;
	memset(in, 'a', sizeof(in));
	for (size_t i = 99; i < sizeof(in); i += 100) {
		in[i - 1] = '\r';
		in[i] = '\n';
	}
	memcpy(in + sizeof(in) - 8, "\r\n.\r\nXYZ", 8);
	struct smtp_body *b = smtp_body_new(SMTP_BODY_DATA, NULL, collect_sink, &c);
	assert_int_equal(smtp_body_feed(b, in, sizeof(in), &used), SMTP_BODY_END);
	assert_int_equal(used, sizeof(in) - 3);
	smtp_body_result(b, &res);
	assert_int_equal(res.err, SMTP_ERR_BODY_WRITE);
	assert_string_equal(smtp_err_reply(res.err, SMTP_ROLE_SENDER),
			    "451 4.3.0 Error writing message");
	assert_int_equal(c.calls, 1); /* never called again after failing */
	smtp_body_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_message),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_pipelined_rest_untouched),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_not_ended),
		cmocka_unit_test(test_smuggling_variants),
		cmocka_unit_test(test_bare_newline_reply),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_received_count),
		cmocka_unit_test(test_large_message),
		cmocka_unit_test(test_sink_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

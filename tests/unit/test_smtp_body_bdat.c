/*
 * Unit tests for relay/smtp_body in BDAT mode (RFC 3030): exact chunk
 * lengths, no dot handling, CRLF across chunks, bare CR/LF inside chunks,
 * size and Received: accounting across chunks, reading on after an error,
 * and results that do not depend on how the stream was split.
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
};

static int collect_sink(void *arg, const char *data, size_t len)
{
	struct collect *c = arg;
	c->buf = realloc(c->buf, c->len + len);
	assert_non_null(c->buf);
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	return 0;
}

struct chunk {
	size_t size;
	bool last;
};

struct outcome {
	struct collect out;
	size_t consumed;
	size_t chunks_done; /* CHUNK_DONE and END results seen */
	bool ended;
	struct smtp_body_result res;
};

/*
 * Plays a server: announces each chunk, feeds the stream as the network
 * delivered it (cut at cuts[]), and records what was consumed.
 */
static void feed_bdat(const char *in, size_t len, const struct smtp_body_opts *opts,
		      const struct chunk *chunks, size_t nchunks, const size_t *cuts, size_t ncuts,
		      struct outcome *oc)
{
	size_t pos = 0, ci = 0;

	memset(oc, 0, sizeof(*oc));
	struct smtp_body *b = smtp_body_new(SMTP_BODY_BDAT, opts, collect_sink, &oc->out);
	assert_non_null(b);
	for (size_t c = 0; c < nchunks && !oc->ended; c++) {
		smtp_body_bdat_chunk(b, chunks[c].size, chunks[c].last);
		for (;;) {
			while (ci < ncuts && cuts[ci] <= pos)
				ci++;
			size_t stop = ci < ncuts ? cuts[ci] : len;
			size_t used;
			enum smtp_body_status st = smtp_body_feed(b, in + pos, stop - pos, &used);
			pos += used;
			if (st == SMTP_BODY_END)
				oc->ended = true;
			if (st != SMTP_BODY_MORE) {
				oc->chunks_done++;
				break;
			}
			assert_int_equal(pos, stop);
			if (pos == len)
				goto out;
		}
	}
out:
	oc->consumed = pos;
	smtp_body_result(b, &oc->res);
	smtp_body_free(b);
}

static void check_bdat(const char *in, size_t len, const struct smtp_body_opts *opts,
		       const struct chunk *chunks, size_t nchunks, const char *exp_out,
		       size_t exp_out_len, enum smtp_err exp_err, size_t exp_consumed)
{
	struct outcome one, other;
	size_t cuts[2];

	feed_bdat(in, len, opts, chunks, nchunks, NULL, 0, &one);
	if (one.res.err != exp_err)
		fail_msg("err %s, want %s", smtp_err_name(one.res.err), smtp_err_name(exp_err));
	assert_true(one.ended);
	assert_int_equal(one.chunks_done, nchunks);
	assert_int_equal(one.consumed, exp_consumed);
	if (exp_out) {
		assert_int_equal(one.out.len, exp_out_len);
		assert_memory_equal(one.out.buf ? one.out.buf : "", exp_out, exp_out_len);
	}
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len; j++) {
			cuts[0] = i;
			cuts[1] = j;
			feed_bdat(in, len, opts, chunks, nchunks, cuts, 2, &other);
			if (other.consumed != one.consumed || other.ended != one.ended ||
			    other.res.err != one.res.err || other.out.len != one.out.len ||
			    (one.out.len && memcmp(other.out.buf, one.out.buf, one.out.len) != 0) ||
			    other.res.size != one.res.size ||
			    other.res.received != one.res.received)
				fail_msg("split at %zu,%zu differs", i, j);
			free(other.out.buf);
		}
	}
	free(one.out.buf);
}

static const struct smtp_body_opts strict = {0, false, false};
static const struct smtp_body_opts normalise = {0, true, false};

static void test_two_chunks(void **state)
{
	static const struct chunk ch[] = {{7, false}, {7, true}};

	(void)state;
	check_bdat(S("Hello\r\nWorld\r\nQUIT\r\n"), &strict, ch, 2, S("Hello\r\nWorld\r\n"),
		   SMTP_OK, 14);
}

static void test_no_dot_handling(void **state)
{
	static const struct chunk ch[] = {{35, true}};

	(void)state;
	check_bdat(S(".\r\n..x\r\nMAIL FROM:<a@example.org>\r\nQUIT"), &strict, ch, 1,
		   S(".\r\n..x\r\nMAIL FROM:<a@example.org>\r\n"), SMTP_OK, 35);
}

static void test_crlf_across_chunks(void **state)
{
	static const struct chunk ch[] = {{2, false}, {2, true}};

	(void)state;
	check_bdat(S("a\r\nb"), &strict, ch, 2, S("a\r\nb"), SMTP_OK, 4);
}

static void test_bare_newlines(void **state)
{
	static const struct chunk one3[] = {{3, true}};
	static const struct chunk one2[] = {{2, true}};
	static const struct chunk split[] = {{2, false}, {1, true}};

	(void)state;
	check_bdat(S("a\nb"), &strict, one3, 1, NULL, 0, SMTP_ERR_BODY_BARE_NEWLINE, 3);
	check_bdat(S("a\nb"), &normalise, one3, 1, S("a\r\nb"), SMTP_OK, 3);
	check_bdat(S("a\rb"), &strict, one3, 1, NULL, 0, SMTP_ERR_BODY_BARE_NEWLINE, 3);
	check_bdat(S("a\rb"), &normalise, one3, 1, S("a\r\nb"), SMTP_OK, 3);
	/* a CR ending the LAST chunk is bare */
	check_bdat(S("a\r"), &strict, one2, 1, NULL, 0, SMTP_ERR_BODY_BARE_NEWLINE, 2);
	check_bdat(S("a\r"), &normalise, one2, 1, S("a\r\n"), SMTP_OK, 2);
	/* a CR ending a chunk, not followed by LF in the next */
	check_bdat(S("a\rb"), &strict, split, 2, NULL, 0, SMTP_ERR_BODY_BARE_NEWLINE, 3);
}

static void test_smuggling_in_bdat(void **state)
{
	static const char *seqs[] = {"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r\r\n.\r\r\n"};
	char in[128];

	(void)state;
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		size_t n = (size_t)sprintf(in, "x%sMAIL FROM:<e@example.org>\r\n", seqs[i]);
		struct chunk ch[] = {{n / 2, false}, {n - n / 2, true}};
		check_bdat(in, n, &strict, ch, 2, NULL, 0, SMTP_ERR_BODY_BARE_NEWLINE, n);
		struct outcome oc;
		feed_bdat(in, n, &normalise, ch, 2, NULL, 0, &oc);
		assert_int_equal(oc.res.err, SMTP_OK);
		for (size_t k = 0; k < oc.out.len; k++) {
			if (oc.out.buf[k] == '\n')
				assert_true(k > 0 && oc.out.buf[k - 1] == '\r');
			if (oc.out.buf[k] == '\r')
				assert_true(k + 1 < oc.out.len && oc.out.buf[k + 1] == '\n');
		}
		free(oc.out.buf);
	}
}

static void test_zero_last(void **state)
{
	static const struct chunk ch[] = {{3, false}, {0, true}};
	static const struct chunk only[] = {{0, true}};
	struct smtp_body_result res;
	size_t used = 9;

	(void)state;
	check_bdat(S("abcQUIT"), &strict, ch, 2, S("abc"), SMTP_OK, 3);
	struct smtp_body *b = smtp_body_new(SMTP_BODY_BDAT, NULL, NULL, NULL);
	smtp_body_bdat_chunk(b, only[0].size, only[0].last);
	assert_int_equal(smtp_body_feed(b, NULL, 0, &used), SMTP_BODY_END);
	assert_int_equal(used, 0);
	smtp_body_result(b, &res);
	assert_true(res.ended);
	assert_int_equal(res.size, 0);
	smtp_body_free(b);
}

static void test_size_across_chunks(void **state)
{
	static const struct chunk ch[] = {{6, false}, {6, true}};
	struct smtp_body_opts max10 = {10, false, false};
	struct outcome oc;

	(void)state;
	check_bdat(S("123456789012RSET\r\n"), &max10, ch, 2, NULL, 0, SMTP_ERR_BODY_TOO_BIG, 12);
	feed_bdat(S("123456789012RSET\r\n"), &max10, ch, 2, NULL, 0, &oc);
	assert_int_equal(oc.out.len, 10);
	assert_int_equal(oc.chunks_done, 2);
	free(oc.out.buf);
}

static void test_received_across_chunks(void **state)
{
	static const struct chunk ch[] = {{16, false}, {16, true}};
	struct outcome oc;

	(void)state;
	feed_bdat(S("Received: a\r\nRec"
		    "eived: b\r\n\r\nbody"),
		  &strict, ch, 2, NULL, 0, &oc);
	assert_int_equal(oc.res.err, SMTP_OK);
	assert_int_equal(oc.res.received, 2);
	free(oc.out.buf);
}

static void test_reads_on_after_error(void **state)
{
	static const struct chunk ch[] = {{3, false}, {4, true}};
	struct outcome oc;

	(void)state;
	feed_bdat(S("a\nbcdefNOOP\r\n"), &strict, ch, 2, NULL, 0, &oc);
	assert_int_equal(oc.res.err, SMTP_ERR_BODY_BARE_NEWLINE);
	assert_int_equal(oc.consumed, 7);
	assert_int_equal(oc.chunks_done, 2);
	assert_int_equal(oc.out.len, 1);
	free(oc.out.buf);
}

static void test_long_line_across_chunks(void **state)
{
	char in[1100];
	struct chunk ch[] = {{600, false}, {401, true}};

	(void)state;
	memset(in, 'z', 999);
	memcpy(in + 999, "\r\n", 2);
	ch[1].size = 401;
	struct outcome oc;
	feed_bdat(in, 1001, &strict, ch, 2, NULL, 0, &oc);
	assert_int_equal(oc.res.err, SMTP_ERR_BODY_LINE_TOO_LONG);
	assert_int_equal(oc.consumed, 1001);
	free(oc.out.buf);
	ch[0].size = 599;
	ch[1].size = 401;
	feed_bdat(in + 1, 1000, &strict, ch, 2, NULL, 0, &oc);
	assert_int_equal(oc.res.err, SMTP_OK);
	assert_int_equal(oc.out.len, 1000);
	free(oc.out.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_chunks),
		cmocka_unit_test(test_no_dot_handling),
		cmocka_unit_test(test_crlf_across_chunks),
		cmocka_unit_test(test_bare_newlines),
		cmocka_unit_test(test_smuggling_in_bdat),
		cmocka_unit_test(test_zero_last),
		cmocka_unit_test(test_size_across_chunks),
		cmocka_unit_test(test_received_across_chunks),
		cmocka_unit_test(test_reads_on_after_error),
		cmocka_unit_test(test_long_line_across_chunks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

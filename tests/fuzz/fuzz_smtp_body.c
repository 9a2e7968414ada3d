/*
 * Fuzz target for relay/smtp_body. Octet 0 picks the mode (DATA/BDAT), the
 * options and the size limit; octets 1-3 seed the chunking; the rest is the
 * input stream. The stream is fed once whole and once in pseudo-random
 * pieces (including empty ones): both runs must agree exactly. Invariants:
 * consumed <= input, the end is reported at most once and exactly at the
 * first CRLF "." CRLF (DATA) or after the announced octets (BDAT), output
 * is never longer than the input (twice, when normalising), and a message
 * without error holds no bare CR/LF, no line over the limit, no more than
 * max_size octets, and in strict DATA mode equals a naive unstuffing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/smtp_body.h"

#include "fuzz_check.h"

#define MAX_CHUNKS 64

struct collect {
	char *buf;
	size_t len;
	size_t cap;
};

struct run {
	struct collect out;
	size_t consumed;
	bool ended;
	struct smtp_body_result res;
};

struct chunk {
	size_t size;
	bool last;
};

static int collect_sink(void *arg, const char *data, size_t len)
{
	struct collect *c = arg;
	CHECK(len > 0 && c->len + len <= c->cap);
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	return 0;
}

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/*
 * Feeds the stream; with rng NULL each call gets everything that is left,
 * otherwise pieces of pseudo-random length (0 to 64 octets).
 */
static void feed(enum smtp_body_mode mode, const struct smtp_body_opts *opts, const char *in,
		 size_t len, const struct chunk *chunks, size_t nchunks, uint32_t *rng,
		 struct run *r)
{
	memset(r, 0, sizeof(*r));
	r->out.cap = 2 * len + 16;
	r->out.buf = malloc(r->out.cap);
	CHECK(r->out.buf != NULL);
	struct smtp_body *b = smtp_body_new(mode, opts, collect_sink, &r->out);
	CHECK(b != NULL);
	size_t pos = 0;
	size_t ci = 0;

	if (mode == SMTP_BODY_BDAT && nchunks > 0)
		smtp_body_bdat_chunk(b, chunks[0].size, chunks[0].last);
	while (!r->ended && (mode == SMTP_BODY_DATA || ci < nchunks)) {
		size_t n = len - pos;
		if (rng && n > 0)
			n = next_rand(rng) % (n < 64 ? n + 1 : 65);
		size_t used = SIZE_MAX;
		enum smtp_body_status st = smtp_body_feed(b, in + pos, n, &used);
		CHECK(used <= n);
		pos += used;
		if (st == SMTP_BODY_END) {
			CHECK(!r->ended);
			r->ended = true;
		} else if (st == SMTP_BODY_CHUNK_DONE) {
			CHECK(mode == SMTP_BODY_BDAT && !chunks[ci].last);
			if (++ci < nchunks)
				smtp_body_bdat_chunk(b, chunks[ci].size, chunks[ci].last);
		} else {
			CHECK(used == n);
			if (pos == len && (!rng || n == 0))
				break; /* input exhausted */
		}
	}
	r->consumed = pos;
	smtp_body_result(b, &r->res);
	CHECK(r->res.ended == r->ended);
	smtp_body_free(b);
}

static void check_output(const struct run *r, const struct smtp_body_opts *opts)
{
	const char *o = r->out.buf;
	size_t line = 0;

	CHECK(r->res.size == r->out.len);
	CHECK(!opts->max_size || r->res.size <= opts->max_size);
	for (size_t i = 0; i < r->out.len; i++) {
		if (o[i] == '\r') {
			/* only an unfinished message may stop right after a CR */
			CHECK(i + 1 == r->out.len ? !r->ended : o[i + 1] == '\n');
		} else if (o[i] == '\n') {
			CHECK(i > 0 && o[i - 1] == '\r');
			line = 0;
		} else {
			line++;
			CHECK(opts->allow_long_lines || line <= SMTP_BODY_LINE_MAX - 2);
		}
	}
}

/* Strict DATA reference: strip one leading "." from each CRLF line. */
static void check_unstuffed(const char *in, size_t end, const struct run *r)
{
	size_t o = 0;
	bool line_start = true;

	for (size_t i = 0; i < end; i++) {
		if (line_start && in[i] == '.') {
			line_start = false;
			continue;
		}
		CHECK(o < r->out.len && r->out.buf[o] == in[i]);
		o++;
		line_start = in[i] == '\n';
	}
	CHECK(o == r->out.len);
}

static void compare(const struct run *a, const struct run *b)
{
	CHECK(a->consumed == b->consumed && a->ended == b->ended);
	CHECK(a->res.err == b->res.err && a->res.size == b->res.size);
	CHECK(a->res.received == b->res.received && a->res.long_lines == b->res.long_lines);
	CHECK(a->res.bare_newlines == b->res.bare_newlines);
	CHECK(a->out.len == b->out.len && memcmp(a->out.buf, b->out.buf, a->out.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t max_sizes[4] = {0, 1, 64, 1000};

	if (size < 4)
		return 0;
	enum smtp_body_mode mode = (data[0] & 1) ? SMTP_BODY_BDAT : SMTP_BODY_DATA;
	struct smtp_body_opts opts = {max_sizes[(data[0] >> 3) & 3], (data[0] & 2) != 0,
				      (data[0] & 4) != 0};
	uint32_t seed = ((uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3]) | 1;
	const char *in = (const char *)data + 4;
	size_t len = size - 4;
	struct chunk chunks[MAX_CHUNKS];
	size_t nchunks = 0, announced = 0;

	if (mode == SMTP_BODY_BDAT) {
		/* chunk sizes from the seed; LAST may come early or ask for more than exists */
		uint32_t cs = seed;
		while (nchunks < MAX_CHUNKS) {
			size_t left = len > announced ? len - announced : 0;
			size_t sz = next_rand(&cs) % (left + 2);
			bool last =
				nchunks == MAX_CHUNKS - 1 || sz >= left || next_rand(&cs) % 8 == 0;
			chunks[nchunks++] = (struct chunk){sz, last};
			announced += sz;
			if (last)
				break;
		}
	}

	struct run one, pieces;
	uint32_t rng = seed;
	feed(mode, &opts, in, len, chunks, nchunks, NULL, &one);
	feed(mode, &opts, in, len, chunks, nchunks, &rng, &pieces);
	compare(&one, &pieces);

	CHECK(one.consumed <= len);
	CHECK(one.out.len <= (opts.normalise ? 2 * one.consumed : one.consumed));
	if (mode == SMTP_BODY_DATA) {
		/* the end is the first CRLF "." CRLF, the DATA line's CRLF counting */
		size_t want = len;
		bool found = false;
		for (size_t i = 0; i + 3 <= len && !found; i++) {
			if (memcmp(in + i, ".\r\n", 3) == 0 &&
			    (i == 0 || (i >= 2 && in[i - 2] == '\r' && in[i - 1] == '\n'))) {
				want = i + 3;
				found = true;
			}
		}
		CHECK(one.ended == found);
		CHECK(one.consumed == want);
		if (one.ended && one.res.err == SMTP_OK && !opts.normalise)
			check_unstuffed(in, want - 3, &one);
	} else {
		CHECK(one.consumed == (announced < len ? announced : len));
	}
	if (one.res.err == SMTP_OK)
		check_output(&one, &opts);

	free(one.out.buf);
	free(pieces.out.buf);
	return 0;
}

/*
 * DATA / BDAT content reader. Input octets drive a small state machine
 * (line start, text, pending CR, line-start dot, dot + CR); the octets it
 * decides are content go through out_byte()/out_run(), which do all the
 * accounting (size, line length, Received: count) on the stored form and
 * stage them for the sink. Runs of plain text take a fast path that does
 * exactly what the per-octet path would, so chunking never changes results.
 */
#include "relay/smtp_body.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "relay/smtp_octets.h"

#define BODY_STAGE_SIZE 4096
/* Longest line content, CRLF excluded. */
#define BODY_LINE_TEXT_MAX (SMTP_BODY_LINE_MAX - 2)

enum body_state {
	ST_LINE_START, /* after CRLF (or the DATA command's CRLF) */
	ST_TEXT,       /* inside a line */
	ST_CR,	       /* a CR is pending: CRLF or bare CR? */
	ST_DOT,	       /* "." at line start: stuffing or terminator? */
	ST_DOT_CR,     /* "." CR at line start: the terminator if LF follows */
	ST_END,
};

struct smtp_body {
	enum smtp_body_mode mode;
	struct smtp_body_opts opts;
	smtp_body_sink_fn sink;
	void *sink_arg;
	enum body_state state;
	enum smtp_err err;

	uint64_t size;
	size_t line_len; /* content octets of the current stored line */
	bool long_lines;
	uint64_t bare_newlines;

	bool in_headers;
	bool hdr_line_start; /* nothing of the current header line stored yet */
	int hdr_match;	     /* octets of "received" matched; -1: not a Received: line */
	unsigned received;

	bool chunk_active;
	bool chunk_last;
	uint64_t chunk_left;
	bool ended;

	size_t staged;
	char stage[BODY_STAGE_SIZE];
};

static void stage_flush(struct smtp_body *b)
{
	if (b->staged > 0 && b->sink && b->sink(b->sink_arg, b->stage, b->staged) != 0)
		b->err = SMTP_ERR_BODY_WRITE;
	b->staged = 0;
}

/* Records the first error; octets stored before it still reach the sink. */
static void body_fail(struct smtp_body *b, enum smtp_err err)
{
	if (b->err != SMTP_OK)
		return;
	stage_flush(b);
	if (b->err == SMTP_OK)
		b->err = err;
}

static void stage_write(struct smtp_body *b, const char *s, size_t n)
{
	while (n > 0 && b->err == SMTP_OK) {
		size_t k = sizeof(b->stage) - b->staged;
		if (k > n)
			k = n;
		memcpy(b->stage + b->staged, s, k);
		b->staged += k;
		s += k;
		n -= k;
		if (b->staged == sizeof(b->stage))
			stage_flush(b);
	}
}

/* Header section bookkeeping for one stored content octet (not CR/LF). */
static void header_octet(struct smtp_body *b, unsigned char c)
{
	static const char name[] = "received";

	if (b->hdr_line_start) {
		b->hdr_line_start = false;
		b->hdr_match = 0;
	}
	if (b->hdr_match < 0)
		return;
	if (b->hdr_match < (int)sizeof(name) - 1) {
		unsigned char lc = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
		b->hdr_match = lc == (unsigned char)name[b->hdr_match] ? b->hdr_match + 1 : -1;
		return;
	}
	if (c == ' ' || c == '\t') /* obsolete WSP before the colon */
		return;
	if (c == ':' && b->received < UINT_MAX)
		b->received++;
	b->hdr_match = -1;
}

static void out_byte(struct smtp_body *b, char c)
{
	if (b->err != SMTP_OK)
		return;
	if (b->opts.max_size && b->size >= b->opts.max_size) {
		body_fail(b, SMTP_ERR_BODY_TOO_BIG);
		return;
	}
	if (c == '\n') {
		b->line_len = 0;
		if (b->in_headers) {
			if (b->hdr_line_start) /* empty line: end of the header section */
				b->in_headers = false;
			b->hdr_line_start = true;
		}
	} else if (c != '\r') {
		if (++b->line_len > BODY_LINE_TEXT_MAX) {
			if (!b->opts.allow_long_lines) {
				body_fail(b, SMTP_ERR_BODY_LINE_TOO_LONG);
				return;
			}
			b->long_lines = true;
		}
		if (b->in_headers)
			header_octet(b, (unsigned char)c);
	}
	b->size++;
	stage_write(b, &c, 1);
}

/* Stores a run of content octets without CR or LF, as out_byte() would. */
static void out_run(struct smtp_body *b, const char *s, size_t n)
{
	while (n > 0 && b->err == SMTP_OK) {
		size_t k = n;
		if (b->in_headers && (b->hdr_line_start || b->hdr_match >= 0))
			k = 0; /* still deciding whether this is a Received: line */
		if (b->opts.max_size && b->opts.max_size - b->size < k)
			k = (size_t)(b->opts.max_size - b->size);
		if (!b->opts.allow_long_lines && BODY_LINE_TEXT_MAX - b->line_len < k)
			k = BODY_LINE_TEXT_MAX - b->line_len;
		if (k == 0) { /* at a limit or a field name: one octet the slow way */
			out_byte(b, *s);
			s++;
			n--;
			continue;
		}
		b->line_len += k;
		if (b->line_len > BODY_LINE_TEXT_MAX)
			b->long_lines = true;
		b->size += k;
		stage_write(b, s, k);
		s += k;
		n -= k;
	}
}

static void bare_newline(struct smtp_body *b)
{
	if (!b->opts.normalise) {
		body_fail(b, SMTP_ERR_BODY_BARE_NEWLINE);
		return;
	}
	if (b->err != SMTP_OK)
		return;
	b->bare_newlines++;
	out_byte(b, '\r');
	out_byte(b, '\n');
}

/* One input octet outside the fast path. Returns true at CRLF "." CRLF. */
static bool step(struct smtp_body *b, unsigned char c)
{
	switch (b->state) {
	case ST_LINE_START:
		if (c == '.') {
			b->state = ST_DOT;
			return false;
		}
		break;
	case ST_DOT:
		if (c == '\r') {
			b->state = ST_DOT_CR;
			return false;
		}
		break; /* other octets follow: the "." was stuffing */
	case ST_DOT_CR:
		if (c == '\n') {
			b->state = ST_END;
			return true;
		}
		bare_newline(b); /* "." then a bare CR: the "." was stuffing */
		break;
	case ST_CR:
		if (c == '\n') {
			out_byte(b, '\r');
			out_byte(b, '\n');
			b->state = b->mode == SMTP_BODY_DATA ? ST_LINE_START : ST_TEXT;
			return false;
		}
		bare_newline(b);
		break;
	case ST_TEXT:
		break;
	case ST_END:
		fatal("smtp_body: input after end of data");
	}
	if (c == '\r') {
		b->state = ST_CR;
	} else {
		if (c == '\n')
			bare_newline(b);
		else
			out_byte(b, (char)c);
		b->state = ST_TEXT;
	}
	return false;
}

/* Runs data[0..len) through the machine; returns octets used, sets *end. */
static size_t run(struct smtp_body *b, const char *data, size_t len, bool *end)
{
	size_t i = 0;

	*end = false;
	while (i < len) {
		if (b->state == ST_TEXT) {
			const char *stop = smtp_next_line_octet(data + i, len - i);
			size_t j = stop ? (size_t)(stop - data) : len;
			if (j > i) {
				out_run(b, data + i, j - i);
				i = j;
				continue;
			}
		}
		if (step(b, (unsigned char)data[i++])) {
			*end = true;
			break;
		}
	}
	return i;
}

struct smtp_body *smtp_body_new(enum smtp_body_mode mode, const struct smtp_body_opts *opts,
				smtp_body_sink_fn sink, void *sink_arg)
{
	struct smtp_body *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->mode = mode;
	if (opts)
		b->opts = *opts;
	b->sink = sink;
	b->sink_arg = sink_arg;
	b->state = mode == SMTP_BODY_DATA ? ST_LINE_START : ST_TEXT;
	b->in_headers = true;
	b->hdr_line_start = true;
	return b;
}

void smtp_body_free(struct smtp_body *b)
{
	free(b);
}

void smtp_body_bdat_chunk(struct smtp_body *b, uint64_t size, bool last)
{
	if (b->mode != SMTP_BODY_BDAT || b->chunk_active || b->ended)
		fatal("smtp_body: BDAT chunk announced out of sequence");
	b->chunk_active = true;
	b->chunk_left = size;
	b->chunk_last = last;
}

enum smtp_body_status smtp_body_feed(struct smtp_body *b, const char *data, size_t len,
				     size_t *consumed)
{
	bool end;

	if (b->ended)
		fatal("smtp_body: fed after end of data");
	if (b->mode == SMTP_BODY_DATA) {
		*consumed = run(b, data, len, &end);
		stage_flush(b);
		if (!end)
			return SMTP_BODY_MORE;
		b->ended = true;
		return SMTP_BODY_END;
	}

	if (!b->chunk_active)
		fatal("smtp_body: BDAT data without a chunk");
	size_t n = len < b->chunk_left ? len : (size_t)b->chunk_left;
	*consumed = run(b, data, n, &end);
	b->chunk_left -= n;
	if (b->chunk_left > 0) {
		stage_flush(b);
		return SMTP_BODY_MORE;
	}
	b->chunk_active = false;
	if (!b->chunk_last) {
		stage_flush(b);
		return SMTP_BODY_CHUNK_DONE;
	}
	if (b->state == ST_CR) /* the message ends in a CR without LF */
		bare_newline(b);
	b->state = ST_END;
	stage_flush(b);
	b->ended = true;
	return SMTP_BODY_END;
}

void smtp_body_result(const struct smtp_body *b, struct smtp_body_result *result)
{
	memset(result, 0, sizeof(*result));
	result->err = b->err;
	result->size = b->size;
	result->received = b->received;
	result->long_lines = b->long_lines;
	result->bare_newlines = b->bare_newlines;
	result->ended = b->ended;
}

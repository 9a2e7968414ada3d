/*
 * Fuzz target for relay/smtp_client_content (the content encoder of the
 * SMTP client). Octet 0 picks DATA or BDAT mode and seeds the split; the
 * rest is the spooled content. It is encoded in pseudo-random pieces
 * (including empty ones) and compared with a plain octet-by-octet encoder
 * of the same rules written here: the outputs and the any_newline flag
 * must be equal. Invariants: no bare CR or LF on the wire, DATA output ends
 * with CRLF "." CRLF and no line of it is "." alone before that.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "relay/smtp_client_content.h"

#include "fuzz_check.h"

/* The rules of smtp_client_content.h, one octet at a time. Returns the length written. */
static size_t reference(const uint8_t *in, size_t len, bool data_mode, char *out, bool *any_nl)
{
	size_t o = 0;
	bool line_start = true, cr = false;
	*any_nl = false;
	for (size_t i = 0; i < len; i++) {
		char c = (char)in[i];
		if (cr) {
			cr = false;
			out[o++] = '\r';
			out[o++] = '\n';
			line_start = true;
			if (c == '\n')
				continue;
			*any_nl = true;
		}
		if (c == '\r') {
			cr = true;
			continue;
		}
		if (c == '\n') {
			*any_nl = true;
			out[o++] = '\r';
			out[o++] = '\n';
			line_start = true;
			continue;
		}
		if (line_start && c == '.' && data_mode)
			out[o++] = '.';
		out[o++] = c;
		line_start = false;
	}
	if (cr) {
		*any_nl = true;
		out[o++] = '\r';
		out[o++] = '\n';
		line_start = true;
	}
	if (!line_start) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	if (data_mode) {
		memcpy(out + o, ".\r\n", 3);
		o += 3;
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool data_mode = data[0] & 1;
	uint32_t seed = data[0] >> 1;
	const uint8_t *in = data + 1;
	size_t len = size - 1;

	char *want = malloc(2 * len + 8);
	CHECK(want != NULL);
	bool want_nl;
	size_t want_len = reference(in, len, data_mode, want, &want_nl);

	struct evbuffer *out = evbuffer_new();
	CHECK(out != NULL);
	struct smtp_content_enc e;
	smtp_content_enc_init(&e, data_mode);
	size_t off = 0;
	while (off < len) {
		seed = seed * 1103515245u + 12345u;
		size_t piece = (seed >> 16) % 97; /* 0 .. 96 octets, empty pieces too */
		if (piece > len - off)
			piece = len - off;
		CHECK(smtp_content_enc_feed(&e, (const char *)in + off, piece, out) == 0);
		off += piece;
	}
	CHECK(smtp_content_enc_finish(&e, out) == 0);

	size_t got_len = evbuffer_get_length(out);
	const char *got = (const char *)evbuffer_pullup(out, -1);
	CHECK(got_len == want_len);
	CHECK(got_len == 0 || memcmp(got, want, got_len) == 0);
	CHECK(e.any_newline == want_nl);
	for (size_t i = 0; i < got_len; i++) {
		if (got[i] == '\r')
			CHECK(i + 1 < got_len && got[i + 1] == '\n');
		if (got[i] == '\n')
			CHECK(i > 0 && got[i - 1] == '\r');
	}
	if (data_mode) {
		CHECK(got_len >= 3 && memcmp(got + got_len - 3, ".\r\n", 3) == 0);
		CHECK(got_len == 3 || (got_len >= 5 && got[got_len - 5] == '\r'));
		for (size_t i = 0; i + 3 < got_len; i++)
			if (i == 0 || got[i - 1] == '\n')
				CHECK(!(got[i] == '.' && got[i + 1] == '\r'));
	}
	evbuffer_free(out);
	free(want);
	return 0;
}

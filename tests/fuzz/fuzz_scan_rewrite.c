/*
 * Fuzz target for relay/scan_rewrite (header fields of an untrusted message
 * for the transport rules, and the header edits) and relay/scan_reply (the
 * verdict reader). The input is a message; invariants:
 *  - every listed field has a non-empty name without ':' and a value of at
 *    most SCAN_HEADER_VALUE_MAX octets; at most SCAN_HEADERS_MAX fields;
 *  - a rewrite without actions is an exact copy; with a remove_header it
 *    never grows the message and the body (after the first CRLF CRLF) is
 *    kept byte for byte; a removed name is absent from the rewritten fields;
 *  - scan_reply_get() on the input as a payload either fails or reads a
 *    reply that encodes back to the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "relay/scan_reply.h"
#include "relay/scan_rewrite.h"

#include "fuzz_check.h"

static const char *body_of(const char *m, size_t len)
{
	if (len >= 2 && m[0] == '\r' && m[1] == '\n')
		return m;
	for (size_t i = 0; i + 3 < len; i++)
		if (!memcmp(m + i, "\r\n\r\n", 4))
			return m + i + 2;
	return m + len;
}

static void check_fields(const char *m, size_t len, const char *absent)
{
	struct scan_headers h;
	if (scan_headers_parse(m, len, &h) < 0)
		return;
	CHECK(h.nfields <= SCAN_HEADERS_MAX);
	for (size_t i = 0; i < h.nfields; i++) {
		CHECK(h.fields[i].name[0] != '\0');
		CHECK(strchr(h.fields[i].name, ':') == NULL);
		CHECK(strlen(h.fields[i].value) <= SCAN_HEADER_VALUE_MAX);
		if (absent)
			CHECK(strcasecmp(h.fields[i].name, absent) != 0);
	}
	scan_headers_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *m = (const char *)data;
	check_fields(m, size, NULL);

	char *out = NULL;
	size_t outlen = 0;
	if (scan_rewrite_headers(m, size, NULL, 0, &out, &outlen) == 0) {
		CHECK(outlen == size && (size == 0 || memcmp(out, m, size) == 0));
		free(out);
	}
	struct rules_action rm = {.kind = RULES_ACT_REMOVE_HEADER, .remove_header = {"Subject"}};
	const struct rules_action *acts[] = {&rm};
	if (scan_rewrite_headers(m, size, acts, 1, &out, &outlen) == 1) {
		CHECK(outlen <= size);
		const char *b = body_of(m, size);
		size_t blen = size - (size_t)(b - m);
		CHECK(outlen >= blen && memcmp(out + outlen - blen, b, blen) == 0);
		check_fields(out, outlen, "Subject");
		free(out);
	}

	struct ipc_reader rd;
	struct scan_reply r;
	ipc_reader_init(&rd, data, size);
	if (scan_reply_get(&rd, &r) == 0) {
		struct ipc_writer w;
		ipc_writer_init(&w);
		CHECK(scan_reply_put(&w, &r) == 0);
		CHECK(w.len == size && memcmp(w.buf, data, size) == 0);
		ipc_writer_free(&w);
	}
	return 0;
}

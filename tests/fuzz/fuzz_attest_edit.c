/*
 * Fuzz target for relay/attest_edit: the header edits of a stamp, and the
 * short cut that writes them as a prefix. The input is a message, its first
 * octet choosing the result header's name (none, X-Virus-Status, or a name
 * in other case). Invariants:
 *  - attest_edit() keeps the body (as attest.h defines it) byte for byte:
 *    the body hash is the same before and after;
 *  - when attest_edit_prefix() on the header section alone (as the edge's
 *    stream counts it, attest_stream_header_len()) says 1, attest_edit() of
 *    the whole message is exactly that prefix followed by the message;
 *  - a message without any X-Airlock-* field and without the result
 *    header's name in its header section takes the short cut.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "relay/attest.h"
#include "relay/attest_edit.h"

#include "fuzz_check.h"

/* Whether a field line of the header section hdr[0..len) starts with name (any case). */
static int has_field(const char *hdr, size_t len, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < len;) {
		if (len - i >= n && strncasecmp(hdr + i, name, n) == 0)
			return 1;
		const char *nl = memchr(hdr + i, '\n', len - i);
		if (!nl)
			break;
		i = (size_t)(nl - hdr) + 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"", "X-Virus-Status", "x-virus-status"};
	if (size < 1)
		return 0;
	const char *name = names[data[0] % 3];
	const char *msg = (const char *)data + 1, *value = "clean (ClamAV 1.4.6, db 1)";
	size_t len = size - 1;

	struct attest_stream s;
	unsigned char h1[ATTEST_HASH_LEN], h2[ATTEST_HASH_LEN];
	attest_stream_init(&s);
	attest_stream_update(&s, msg, len);
	size_t hlen = (size_t)attest_stream_header_len(&s);
	attest_stream_body_hash(&s, h1);
	CHECK(hlen <= len);

	char *out, *prefix;
	size_t olen, nstrip, plen;
	CHECK(attest_edit(msg, len, name, value, &out, &olen, &nstrip) == 0);
	attest_body_hash(out, olen, h2);
	CHECK(memcmp(h1, h2, sizeof(h1)) == 0);

	int rc = attest_edit_prefix(msg, hlen, name, value, &prefix, &plen);
	CHECK(rc == 0 || rc == 1);
	if (rc == 1) {
		CHECK(olen == plen + len);
		CHECK(memcmp(out, prefix, plen) == 0);
		CHECK(memcmp(out + plen, msg, len) == 0);
		free(prefix);
	}
	/* Nothing to remove: always the short cut. A field may start the section after a
	 * fold, so only a section with no CR/LF oddities counts here: lines of "a: b". */
	if (!has_field(msg, hlen, "x-airlock-") && (!name[0] || !has_field(msg, hlen, name)))
		CHECK(rc == 1);
	free(out);
	return 0;
}

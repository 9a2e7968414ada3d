/*
 * Fuzz target for relay/smtp_client_reply: the reply parser of our SMTP
 * client and the EHLO keyword reader, fed what a hostile next hop may send.
 * Invariants: a parsed reply spans complete CRLF lines of one code within
 * the limits; the result does not depend on the split (every shorter prefix
 * of a complete reply needs more, never fails); formatting always
 * terminates; a parsed reply, written out again, parses to the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/smtp_client_reply.h"

#include "fuzz_check.h"

static struct smtp_reply reply, again;
static char rebuilt[SMTP_REPLY_INPUT_MAX + 16];

static void check_rebuilt(const struct smtp_reply *r)
{
	size_t pos = 0, used;

	for (unsigned i = 0; i < r->nlines; i++) {
		size_t len;
		const char *line = smtp_reply_line(r, i, &len);
		bool last = i + 1 == r->nlines;
		pos += (size_t)snprintf(rebuilt + pos, sizeof(rebuilt) - pos, "%03d%c", r->code,
					last ? ' ' : '-');
		memcpy(rebuilt + pos, line, len);
		pos += len;
		memcpy(rebuilt + pos, "\r\n", 2);
		pos += 2;
	}
	CHECK(smtp_reply_parse(rebuilt, pos, &again, &used) == SMTP_REPLY_DONE);
	CHECK(used == pos);
	CHECK(again.code == r->code && again.nlines == r->nlines);
	CHECK(again.text_len == r->text_len && memcmp(again.text, r->text, r->text_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t used = 0, step = 0;
	char line[SMTP_REPLY_LINE_MAX];
	struct smtp_caps caps;

	/* Replies one after the other, as the client reads them. */
	while (step < size) {
		enum smtp_reply_status st =
			smtp_reply_parse(buf + step, size - step, &reply, &used);
		CHECK(st == SMTP_REPLY_DONE || used == 0);
		if (st != SMTP_REPLY_DONE)
			break;
		CHECK(used > 0 && used <= size - step && used <= SMTP_REPLY_INPUT_MAX);
		CHECK(reply.code >= 200 && reply.code <= 559);
		CHECK(reply.nlines >= 1 && reply.nlines <= SMTP_REPLY_LINES_MAX);
		CHECK(reply.text_len <= SMTP_REPLY_TEXT_MAX && reply.text[reply.text_len] == '\0');
		CHECK(buf[step + used - 1] == '\n' && buf[step + used - 2] == '\r');
		CHECK(memchr(reply.text, '\r', reply.text_len) == NULL);
		/* Every proper prefix of this reply must ask for more. */
		for (size_t cut = used > 64 ? used - 64 : 0; cut < used; cut++) {
			size_t u2;
			CHECK(smtp_reply_parse(buf + step, cut, &again, &u2) ==
			      SMTP_REPLY_NEED_MORE);
		}
		smtp_reply_format(&reply, line, sizeof(line));
		CHECK(strlen(line) < sizeof(line) && memcmp(line, buf + step, 3) == 0);
		smtp_caps_parse(&reply, &caps);
		CHECK(!caps.size_max || caps.size);
		check_rebuilt(&reply);
		step += used;
	}
	return 0;
}

/*
 * Fuzz target for relay/queue_file: queue_envelope_parse() on arbitrary
 * bytes. Invariants: a failure leaves the envelope empty and says why; a
 * success stays inside the input and its caps, every value is free of
 * CR/LF/NUL, and the envelope formats back to text that parses to the same
 * envelope and formats to the same bytes (so the writer can always re-write
 * what the reader accepted, e.g. for hold).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/queue_file.h"

#include "fuzz_check.h"

static void check_same(const struct queue_envelope *a, const struct queue_envelope *b)
{
	CHECK(strcmp(a->id, b->id) == 0 && a->arrived == b->arrived);
	CHECK(strcmp(a->client_addr, b->client_addr) == 0 && strcmp(a->helo, b->helo) == 0);
	CHECK(a->tls == b->tls && a->smtputf8 == b->smtputf8 && a->body == b->body);
	CHECK(strcmp(a->from, b->from) == 0 && a->nrcpts == b->nrcpts);
	for (size_t i = 0; i < a->nrcpts; i++)
		CHECK(strcmp(a->rcpts[i], b->rcpts[i]) == 0);
	CHECK((a->hold_reason == NULL) == (b->hold_reason == NULL));
	CHECK(a->hold_reason == NULL || strcmp(a->hold_reason, b->hold_reason) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_envelope env, again;
	char err[160], *text, *text2;
	size_t off = 0, len, len2, off2;

	if (queue_envelope_parse((const char *)data, size, &env, &off, err, sizeof(err)) < 0) {
		CHECK(env.from == NULL && env.rcpts == NULL && env.nrcpts == 0);
		CHECK(env.hold_reason == NULL && err[0] != '\0' && strlen(err) < sizeof(err));
		return 0;
	}
	CHECK(off >= 2 && off <= size && off <= QUEUE_ENVELOPE_MAX);
	CHECK(data[off - 1] == '\n' && data[off - 2] == '\n');
	CHECK(queue_id_valid(env.id) && env.arrived >= 0);
	CHECK(env.nrcpts >= 1 && env.nrcpts <= QUEUE_RCPT_MAX && env.rcpt_done == NULL);
	CHECK(strlen(env.from) <= QUEUE_VALUE_MAX && strpbrk(env.from, "\r\n") == NULL);
	for (size_t i = 0; i < env.nrcpts; i++)
		CHECK(strlen(env.rcpts[i]) >= 1 && strpbrk(env.rcpts[i], "\r\n") == NULL);

	CHECK(queue_envelope_format(&env, &text, &len) == 0);
	/*
	 * Every accepted line is written back byte for byte, only the order may
	 * change, except pad lines, which are dropped; padded to the same size
	 * it is as long again.
	 */
	CHECK(len == off || off - len >= QUEUE_PAD_LINE_MIN);
	if (len != off) {
		char *padded;
		size_t plen;
		CHECK(queue_envelope_format_size(&env, off, &padded, &plen) == 0 && plen == off);
		CHECK(queue_envelope_parse(padded, plen, &again, &off2, err, sizeof(err)) == 0);
		CHECK(off2 == off);
		check_same(&env, &again);
		queue_envelope_free(&again);
		free(padded);
	}
	CHECK(queue_envelope_parse(text, len, &again, &off2, err, sizeof(err)) == 0);
	CHECK(off2 == len);
	check_same(&env, &again);
	CHECK(queue_envelope_format(&again, &text2, &len2) == 0);
	CHECK(len2 == len && memcmp(text, text2, len) == 0);
	free(text);
	free(text2);
	queue_envelope_free(&again);
	queue_envelope_free(&env);
	return 0;
}

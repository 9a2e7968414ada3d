/*
 * Fuzz target for relay/attest: the X-Airlock-Scan reader and verifier, the
 * streaming body hash and attest_strip_incoming(), with one fixed trusted key
 * (seed 01..20, the key of the unit tests; the seed corpus holds a stamp it
 * signed). The first input octet picks the mode, the rest is the input:
 *
 *	even: a header value for attest_parse(). A value that parses is
 *	      written back by attest_format_field(), which must succeed, and
 *	      reads back to the same stamp; attest_verify() gives a result in
 *	      range and never OK for anything the key did not sign.
 *	odd:  a whole message for attest_verify_message(). Feeding it in two
 *	      chunks (split where the second octet says) gives the same
 *	      result; stripping X-Airlock-* fields never grows the message,
 *	      is idempotent, leaves the body hash unchanged, and leaves no stamp.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/attest.h"
#include "relay/attest_keys.h"

#include "fuzz_check.h"

#define T0	 1767225600
#define NAME_LEN (sizeof(ATTEST_HEADER_NAME ":") - 1)

static struct attest_trust *trust;
static const struct attest_verify_opts opts = {.now = T0 + 60, .max_age = 3600, .max_skew = 300};

static void init(void)
{
	unsigned char seed[ATTEST_SEED_LEN];
	struct attest_signer *s;

	if (trust != NULL)
		return;
	for (size_t i = 0; i < sizeof(seed); i++)
		seed[i] = (unsigned char)(i + 1);
	s = attest_signer_new_from_seed(seed);
	trust = attest_trust_new();
	CHECK(s != NULL && trust != NULL && attest_trust_add(trust, s->pub.pk) == 0);
	attest_signer_free(s);
}

static void value_mode(const uint8_t *data, size_t size)
{
	struct attest_stamp st, again;
	char err[200], field[ATTEST_FIELD_MAX];
	unsigned char bh[ATTEST_HASH_LEN] = {0};

	if (attest_parse((const char *)data, size, &st, err, sizeof(err)) < 0) {
		CHECK(err[0] != '\0' && st.id[0] == '\0' && st.verdict == 0);
		return;
	}
	CHECK(size <= ATTEST_VALUE_MAX);
	CHECK(attest_verdict_name(st.verdict) != NULL);
	int n = attest_format_field(&st, field, sizeof(field));
	CHECK(n > (int)NAME_LEN + 2 && memcmp(field, ATTEST_HEADER_NAME ":", NAME_LEN) == 0);
	for (const char *l = field, *e; (e = strstr(l, "\r\n")) != NULL; l = e + 2)
		CHECK(e - l <= ATTEST_LINE_MAX);
	CHECK(attest_parse(field + NAME_LEN, (size_t)n - NAME_LEN - 2, &again, err, sizeof(err)) ==
	      0);
	CHECK(strcmp(st.id, again.id) == 0 && st.time == again.time);
	CHECK(strcmp(st.engine, again.engine) == 0 && strcmp(st.db, again.db) == 0);
	CHECK(st.verdict == again.verdict && strcmp(st.key_id, again.key_id) == 0);
	CHECK(memcmp(st.body_hash, again.body_hash, ATTEST_HASH_LEN) == 0);
	CHECK(memcmp(st.sig, again.sig, ATTEST_SIG_LEN) == 0);
	enum attest_result r = attest_verify(&st, st.body_hash, trust, &opts);
	CHECK(r >= ATTEST_OK && r <= ATTEST_UNSCANNED && r != ATTEST_MISSING &&
	      r != ATTEST_DUPLICATE && r != ATTEST_MALFORMED);
	r = attest_verify(&st, bh, trust, &opts);
	CHECK(r != ATTEST_MISSING && r != ATTEST_DUPLICATE && r != ATTEST_MALFORMED);
}

static void message_mode(const uint8_t *data, size_t size)
{
	struct attest_stream s;
	struct attest_stamp st;
	char err[200];
	unsigned char h1[ATTEST_HASH_LEN], h2[ATTEST_HASH_LEN];
	size_t split = size > 0 ? data[0] % (size + 1) : 0;

	enum attest_result r =
		attest_verify_message(data, size, trust, &opts, &st, err, sizeof(err));
	CHECK(r <= ATTEST_UNSCANNED);
	CHECK(r == ATTEST_OK || (err[0] != '\0' && strlen(err) < sizeof(err)));
	attest_stream_init(&s);
	attest_stream_update(&s, data, split);
	attest_stream_update(&s, data + split, size - split);
	CHECK(attest_stream_verify(&s, trust, &opts, NULL, err, sizeof(err)) == r);

	char *buf = malloc(size + 1);
	CHECK(buf != NULL);
	if (size > 0)
		memcpy(buf, data, size);
	size_t removed, removed2, len = attest_strip_incoming(buf, size, &removed);
	CHECK(len <= size && (removed == 0) == (len == size));
	CHECK(attest_strip_incoming(buf, len, &removed2) == len && removed2 == 0);
	attest_body_hash(data, size, h1);
	attest_body_hash(buf, len, h2);
	CHECK(memcmp(h1, h2, sizeof(h1)) == 0);
	CHECK(attest_verify_message(buf, len, trust, &opts, NULL, err, sizeof(err)) ==
	      ATTEST_MISSING);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		value_mode(data + 1, size - 1);
	else
		message_mode(data + 1, size - 1);
	return 0;
}

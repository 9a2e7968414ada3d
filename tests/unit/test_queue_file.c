/*
 * Unit tests for relay/queue_file: the exact bytes of the envelope, round
 * trips, every class of malformed envelope rejected with its reason, line
 * injection refused at write time, caps, and queue ids.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relay/queue_file.h"

#define ID "7KQ2M0X9ZC4TDV1R8HNB"

static const char canonical[] = "airlock-queue 1\n"
				"id " ID "\n"
				"arrived 1767225600\n"
				"client 198.51.100.10\n"
				"helo mail.example.org\n"
				"tls yes\n"
				"smtputf8 no\n"
				"body 8bitmime\n"
				"from user@example.org\n"
				"rcpt a@example.com\n"
				"rcpt b@example.com\n"
				"\n";

static void make_env(struct queue_envelope *env)
{
	memset(env, 0, sizeof(*env));
	snprintf(env->id, sizeof(env->id), "%s", ID);
	env->arrived = 1767225600;
	snprintf(env->client_addr, sizeof(env->client_addr), "198.51.100.10");
	snprintf(env->helo, sizeof(env->helo), "mail.example.org");
	env->tls = true;
	env->body = QUEUE_BODY_8BITMIME;
	assert_int_equal(queue_envelope_set_from(env, "user@example.org"), 0);
	assert_int_equal(queue_envelope_add_rcpt(env, "a@example.com"), 0);
	assert_int_equal(queue_envelope_add_rcpt(env, "b@example.com"), 0);
}

static void assert_env_equal(const struct queue_envelope *a, const struct queue_envelope *b)
{
	assert_string_equal(a->id, b->id);
	assert_true(a->arrived == b->arrived);
	assert_string_equal(a->client_addr, b->client_addr);
	assert_string_equal(a->helo, b->helo);
	assert_int_equal(a->tls, b->tls);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_int_equal(a->body, b->body);
	assert_string_equal(a->from, b->from);
	assert_int_equal(a->nrcpts, b->nrcpts);
	for (size_t i = 0; i < a->nrcpts; i++)
		assert_string_equal(a->rcpts[i], b->rcpts[i]);
	if (a->hold_reason == NULL)
		assert_null(b->hold_reason);
	else
		assert_string_equal(a->hold_reason, b->hold_reason);
}

static void test_format_exact_bytes(void **state)
{
	(void)state;
	struct queue_envelope env;
	char *out;
	size_t len;

	make_env(&env);
	assert_int_equal(queue_envelope_format(&env, &out, &len), 0);
	assert_int_equal(len, sizeof(canonical) - 1);
	assert_memory_equal(out, canonical, len);
	assert_int_equal(out[len], '\0');
	free(out);
	queue_envelope_free(&env);
}

static void roundtrip(struct queue_envelope *env)
{
	struct queue_envelope back;
	char *out, *again, err[128];
	size_t len, len2, off;

	assert_int_equal(queue_envelope_format(env, &out, &len), 0);
	/* Content follows, including something that looks like an envelope. */
	char *file = malloc(len + 40);
	assert_non_null(file);
	memcpy(file, out, len);
	memcpy(file + len, "rcpt evil@x\n\nSubject: x\r\n\r\n", 27);
	assert_int_equal(queue_envelope_parse(file, len + 27, &back, &off, err, sizeof(err)), 0);
	assert_int_equal(off, len);
	assert_env_equal(env, &back);
	assert_null(back.rcpt_done);
	assert_int_equal(queue_envelope_format(&back, &again, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(out, again, len);
	free(file);
	free(out);
	free(again);
	queue_envelope_free(&back);
}

static void test_roundtrip(void **state)
{
	(void)state;
	struct queue_envelope env;

	make_env(&env);
	roundtrip(&env);
	/* Null reverse-path, empty helo, SMTPUTF8, a hold reason, odd but legal octets. */
	assert_int_equal(queue_envelope_set_from(&env, ""), 0);
	env.helo[0] = '\0';
	env.smtputf8 = true;
	env.tls = false;
	env.body = QUEUE_BODY_NONE;
	env.arrived = 0;
	assert_int_equal(queue_envelope_add_rcpt(&env, "\xc3\xa9l\xc3\xa8ve@example.com"), 0);
	assert_int_equal(queue_envelope_set_hold_reason(&env, "expired: 421 4.7.0 try later"), 0);
	roundtrip(&env);
	env.body = QUEUE_BODY_7BIT;
	env.arrived = INT64_MAX;
	roundtrip(&env);
	queue_envelope_free(&env);
	assert_null(env.from);
	assert_int_equal(env.nrcpts, 0);
}

static void expect_format_fails(struct queue_envelope *env)
{
	char *out = (char *)1;
	size_t len = 99;
	assert_int_equal(queue_envelope_format(env, &out, &len), -1);
	assert_null(out);
	assert_int_equal(len, 0);
}

static void test_format_refuses_injection(void **state)
{
	(void)state;
	struct queue_envelope env;
	char big[QUEUE_VALUE_MAX + 2];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	static const char *const bad_values[] = {
		"a@b\nrcpt evil@example.net",
		"a@b\r\nrcpt evil@example.net",
		"a@b\r",
		"\n",
	};
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		make_env(&env);
		assert_int_equal(queue_envelope_set_from(&env, bad_values[i]), 0);
		expect_format_fails(&env);
		queue_envelope_free(&env);

		make_env(&env);
		assert_int_equal(queue_envelope_add_rcpt(&env, bad_values[i]), 0);
		expect_format_fails(&env);
		queue_envelope_free(&env);

		make_env(&env);
		assert_int_equal(queue_envelope_set_hold_reason(&env, bad_values[i]), 0);
		expect_format_fails(&env);
		queue_envelope_free(&env);

		make_env(&env);
		snprintf(env.helo, sizeof(env.helo), "%s", bad_values[i]);
		expect_format_fails(&env);
		queue_envelope_free(&env);

		make_env(&env);
		snprintf(env.client_addr, sizeof(env.client_addr), "%s", bad_values[i]);
		expect_format_fails(&env);
		queue_envelope_free(&env);
	}

	/* Lengths, emptiness, numbers, enums, ids, recipient counts. */
	make_env(&env);
	assert_int_equal(queue_envelope_set_from(&env, big), 0);
	expect_format_fails(&env);
	big[QUEUE_VALUE_MAX] = '\0';
	assert_int_equal(queue_envelope_set_from(&env, big), 0);
	char *out;
	size_t len;
	assert_int_equal(queue_envelope_format(&env, &out, &len), 0); /* exactly the maximum */
	free(out);
	queue_envelope_free(&env);

	make_env(&env);
	assert_int_equal(queue_envelope_add_rcpt(&env, ""), 0);
	expect_format_fails(&env);
	queue_envelope_free(&env);

	make_env(&env);
	assert_int_equal(queue_envelope_set_hold_reason(&env, ""), 0);
	expect_format_fails(&env);
	queue_envelope_free(&env);

	make_env(&env);
	env.client_addr[0] = '\0';
	expect_format_fails(&env);
	env.client_addr[0] = '1';
	env.arrived = -1;
	expect_format_fails(&env);
	env.arrived = 1;
	env.body = (enum queue_body)3;
	expect_format_fails(&env);
	env.body = QUEUE_BODY_7BIT;
	snprintf(env.id, sizeof(env.id), "7KQ2M0X9ZC4TDV1R8HNI"); /* I is not in the alphabet */
	expect_format_fails(&env);
	env.id[0] = '\0';
	expect_format_fails(&env);
	queue_envelope_free(&env);

	make_env(&env);
	for (size_t i = 0; i < 2; i++)
		free(env.rcpts[i]);
	env.nrcpts = 0;
	expect_format_fails(&env);
	queue_envelope_free(&env);

	make_env(&env);
	for (size_t i = env.nrcpts; i < QUEUE_RCPT_MAX; i++)
		assert_int_equal(queue_envelope_add_rcpt(&env, "r@example.com"), 0);
	assert_int_equal(queue_envelope_add_rcpt(&env, "one-too-many@example.com"), -1);
	assert_int_equal(queue_envelope_format(&env, &out, &len), 0);
	free(out);
	queue_envelope_free(&env);
}

/* Replaces the first occurrence of from in canonical by to. */
static char *edited(const char *from, const char *to, size_t *len)
{
	const char *at = strstr(canonical, from);
	assert_non_null(at);
	size_t pre = (size_t)(at - canonical), fl = strlen(from), tl = strlen(to);
	size_t n = sizeof(canonical) - 1 - fl + tl;
	char *s = malloc(n + 1);
	assert_non_null(s);
	memcpy(s, canonical, pre);
	memcpy(s + pre, to, tl);
	memcpy(s + pre + tl, at + fl, sizeof(canonical) - 1 - pre - fl);
	s[n] = '\0';
	*len = n;
	return s;
}

struct bad_case {
	const char *from, *to; /* edit applied to the canonical envelope */
	const char *reason;    /* expected error text */
};

static const struct bad_case bad_cases[] = {
	{"airlock-queue 1\n", "airlock-queue 2\n", "line 1: unsupported format version"},
	{"airlock-queue 1\n", "airlock-queue 1 \n", "line 1: unsupported format version"},
	{"airlock-queue 1\n", "From MAILER-DAEMON\n", "line 1: not a queue file"},
	{"airlock-queue 1\n", "", "line 1: not a queue file"},
	{"tls yes\n", "tls yes\nfoo bar\n", "line 7: unknown key \"foo\""},
	{"tls yes\n", "tls yes\nTLS yes\n", "line 7: unknown key \"???\""},
	{"tls yes\n", "tls yes\nfrom x@y\n", "line 10: duplicate key \"from\""},
	{"tls yes\n", "tls yes\ntls no\n", "line 7: duplicate key \"tls\""},
	{"helo mail.example.org\n", "", "line 11: missing key \"helo\""},
	{"id " ID "\n", "", "line 11: missing key \"id\""},
	{"from user@example.org\n", "", "line 11: missing key \"from\""},
	{"rcpt a@example.com\nrcpt b@example.com\n", "", "line 10: missing key \"rcpt\""},
	{"tls yes\n", "tls\n", "line 6: no space after key \"tls\""},
	{"tls yes\n", "tls maybe\n", "line 6: tls must be yes or no"},
	{"tls yes\n", "tls yes \n", "line 6: tls must be yes or no"},
	{"smtputf8 no\n", "smtputf8 NO\n", "line 7: smtputf8 must be yes or no"},
	{"body 8bitmime\n", "body binarymime\n", "line 8: body must be none, 7bit or 8bitmime"},
	{"arrived 1767225600\n", "arrived -1\n", "line 3: bad arrived time"},
	{"arrived 1767225600\n", "arrived 01767225600\n", "line 3: bad arrived time"},
	{"arrived 1767225600\n", "arrived \n", "line 3: bad arrived time"},
	{"arrived 1767225600\n", "arrived 12x\n", "line 3: bad arrived time"},
	{"arrived 1767225600\n", "arrived 9223372036854775808\n",
	 "line 3: arrived time out of range"},
	{"arrived 1767225600\n", "arrived 99999999999999999999\n", "line 3: bad arrived time"},
	{"id " ID "\n", "id 7kq2m0x9zc4tdv1r8hnb\n", "line 2: bad queue id"},
	{"id " ID "\n", "id ../../etc/passwd\n", "line 2: bad queue id"},
	{"id " ID "\n", "id " ID "0\n", "line 2: bad queue id"},
	{"client 198.51.100.10\n", "client \n", "line 4: bad client address length"},
	{"rcpt a@example.com\n", "rcpt \n", "line 10: bad recipient length"},
	{"rcpt b@example.com\n", "rcpt b@example.com\nhold \n", "line 12: bad hold reason length"},
	{"rcpt b@example.com\n", "rcpt b@example.com\r\n", "line 11: CR or NUL in envelope"},
	{"helo mail.example.org\n", "helo mail.example.org\rrcpt x@y\n",
	 "line 5: CR or NUL in envelope"},
	{"rcpt b@example.com\n\n", "rcpt b@example.com\n",
	 "line 12: no empty line ends the envelope"},
	{"rcpt b@example.com\n\n", "rcpt b@example.com",
	 "line 11: no empty line ends the envelope"},
	{"tls yes\n", "tls yes\npad ..x.\n", "line 7: pad other than dots"},
	{"tls yes\n", "tls yes\npad  \n", "line 7: pad other than dots"},
	{"tls yes\n", "tls yes\npad\n", "line 7: no space after key \"pad\""},
	{"\n", "\n", NULL}, /* control: the canonical form parses */
	{"tls yes\n", "pad \ntls yes\npad ...\npad ...\n", NULL}, /* pad: anywhere, repeated */
};

static void test_parse_rejects_malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct queue_envelope env;
		char err[160];
		size_t len, off = 12345;
		char *s = edited(c->from, c->to, &len);

		int r = queue_envelope_parse(s, len, &env, &off, err, sizeof(err));
		if (c->reason == NULL) {
			assert_int_equal(r, 0);
			queue_envelope_free(&env);
		} else {
			if (r != -1 || strcmp(err, c->reason) != 0)
				fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r, err,
					 c->reason);
			assert_null(env.from);
			assert_null(env.rcpts);
			assert_int_equal(env.nrcpts, 0);
			assert_int_equal(off, 12345);
		}
		free(s);
	}
}

/* Padded to every size from the shortest to two lines and more, or refused; or by pad octets. */
static void test_format_size(void **state)
{
	(void)state;
	struct queue_envelope env, back;
	char *out, err[128];
	size_t len, off, base = sizeof(canonical) - 1;

	make_env(&env);
	for (size_t size = 0; size < base + 3 * QUEUE_LINE_MAX; size++) {
		int rc = queue_envelope_format_size(&env, size, &out, &len);
		bool fits = size == base || (size >= base + QUEUE_PAD_LINE_MIN);
		if (!fits) {
			if (rc != -1 || errno != ENOSPC || out != NULL)
				fail_msg("size %zu: %d", size, rc);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(len, size);
		assert_int_equal(strlen(out), size);
		/* the canonical lines, then the pad lines, then the empty line */
		assert_memory_equal(out, canonical, base - 1);
		for (size_t p = base - 1; p < len - 1;) {
			const char *nl = memchr(out + p, '\n', len - p);
			assert_non_null(nl);
			size_t n = (size_t)(nl - (out + p)) + 1;
			assert_true(n >= QUEUE_PAD_LINE_MIN && n <= QUEUE_LINE_MAX);
			assert_memory_equal(out + p, "pad ", 4);
			assert_int_equal(strspn(out + p + 4, "."), n - QUEUE_PAD_LINE_MIN);
			p += n;
		}
		assert_int_equal(queue_envelope_parse(out, len, &back, &off, err, sizeof(err)), 0);
		assert_int_equal(off, size);
		assert_env_equal(&env, &back);
		queue_envelope_free(&back);
		free(out);
	}
	assert_int_equal(queue_envelope_format_size(&env, QUEUE_ENVELOPE_MAX + 1, &out, &len), -1);
	assert_int_equal(errno, ENOSPC);
	/*
	 * By pad octets: the same bytes as padded to that size; under the shortest
	 * line, that; none, the unpadded envelope.
	 */
	for (size_t pad = 0; pad < 2 * QUEUE_LINE_MAX + 3; pad++) {
		size_t want = base + (pad == 0			 ? 0
				      : pad < QUEUE_PAD_LINE_MIN ? QUEUE_PAD_LINE_MIN
								 : pad);
		char *sized;
		assert_int_equal(queue_envelope_format_pad(&env, pad, &out, &len), 0);
		assert_int_equal(len, want);
		assert_int_equal(queue_envelope_format_size(&env, want, &sized, &len), 0);
		assert_memory_equal(out, sized, want);
		free(out);
		free(sized);
	}
	assert_int_equal(queue_envelope_format_pad(&env, QUEUE_ENVELOPE_MAX, &out, &len), -1);
	assert_int_equal(errno, ENOSPC);
	env.arrived = -1; /* not formattable: EINVAL, as queue_envelope_format() */
	assert_int_equal(queue_envelope_format_size(&env, 4096, &out, &len), -1);
	assert_int_equal(errno, EINVAL);
	queue_envelope_free(&env);
}

static void test_parse_nul_and_caps(void **state)
{
	(void)state;
	struct queue_envelope env;
	char err[160];
	size_t off;
	char buf[sizeof(canonical)];

	memcpy(buf, canonical, sizeof(canonical));
	buf[strstr(canonical, "example.org\n") - canonical] = '\0';
	assert_int_equal(
		queue_envelope_parse(buf, sizeof(canonical) - 1, &env, &off, err, sizeof(err)), -1);
	assert_string_equal(err, "line 5: CR or NUL in envelope");

	/* A line of exactly QUEUE_LINE_MAX octets is measured; one more octet is refused. */
	size_t head = strlen("airlock-queue 1\nhold ");
	char *big = malloc(QUEUE_LINE_MAX * 2);
	assert_non_null(big);
	memcpy(big, "airlock-queue 1\nhold ", head);
	memset(big + head, 'x', QUEUE_LINE_MAX * 2 - head);
	assert_int_equal(
		queue_envelope_parse(big, QUEUE_LINE_MAX * 2, &env, &off, err, sizeof(err)), -1);
	assert_string_equal(err, "line 2: line longer than 1024 octets");
	big[head + QUEUE_VALUE_MAX + 1] = '\n';
	assert_int_equal(
		queue_envelope_parse(big, QUEUE_LINE_MAX * 2, &env, &off, err, sizeof(err)), -1);
	assert_string_equal(err, "line 2: bad hold reason length");
	big[head + QUEUE_VALUE_MAX] = '\n';
	big[head + QUEUE_VALUE_MAX + 1] = 'x';
	assert_int_equal(
		queue_envelope_parse(big, QUEUE_LINE_MAX * 2, &env, &off, err, sizeof(err)), -1);
	assert_string_equal(err, "line 3: line longer than 1024 octets"); /* line 2 was fine */
	free(big);

	/* Recipients: QUEUE_RCPT_MAX parse, one more is refused before it is stored. */
	size_t cap = sizeof(canonical) + (QUEUE_RCPT_MAX + 1) * 8;
	char *many = malloc(cap);
	assert_non_null(many);
	size_t n = strstr(canonical, "rcpt a@") - canonical;
	memcpy(many, canonical, n);
	for (int i = 0; i < QUEUE_RCPT_MAX; i++)
		n += (size_t)snprintf(many + n, cap - n, "rcpt r\n");
	size_t end_of_max = n;
	n += (size_t)snprintf(many + n, cap - n, "\n");
	assert_int_equal(queue_envelope_parse(many, n, &env, &off, err, sizeof(err)), 0);
	assert_int_equal(env.nrcpts, QUEUE_RCPT_MAX);
	assert_int_equal(off, n);
	queue_envelope_free(&env);
	n = end_of_max + (size_t)snprintf(many + end_of_max, cap - end_of_max, "rcpt r\n\n");
	assert_int_equal(queue_envelope_parse(many, n, &env, &off, err, sizeof(err)), -1);
	assert_string_equal(err, "line 1010: more than 1000 recipients");
	free(many);

	/* errlen 0 and an empty input are fine. */
	assert_int_equal(queue_envelope_parse("", 0, &env, &off, err, 0), -1);
	assert_int_equal(queue_envelope_parse("", 0, &env, &off, err, sizeof(err)), -1);
	assert_string_equal(err, "line 1: no empty line ends the envelope");
}

static int cmp_ids(const void *a, const void *b)
{
	return memcmp(a, b, QUEUE_ID_MAX + 1);
}

static void test_ids_unique_and_valid(void **state)
{
	(void)state;
	enum { N = 10000 };
	char(*ids)[QUEUE_ID_MAX + 1] = malloc(N * sizeof(*ids));
	bool last_seen[32] = {false}, first_seen[32] = {false};
	size_t distinct_last = 0, distinct_first = 0;

	assert_non_null(ids);
	for (int i = 0; i < N; i++) {
		queue_id_new(ids[i]);
		assert_int_equal(strlen(ids[i]), QUEUE_ID_LEN);
		assert_true(queue_id_valid(ids[i]));
		size_t l = (size_t)(strchr(QUEUE_ID_ALPHABET, ids[i][QUEUE_ID_LEN - 1]) -
				    QUEUE_ID_ALPHABET);
		size_t f = (size_t)(strchr(QUEUE_ID_ALPHABET, ids[i][0]) - QUEUE_ID_ALPHABET);
		distinct_last += !last_seen[l];
		distinct_first += !first_seen[f];
		last_seen[l] = first_seen[f] = true;
	}
	qsort(ids, N, sizeof(*ids), cmp_ids);
	for (int i = 1; i < N; i++)
		assert_true(strcmp(ids[i - 1], ids[i]) != 0);
	/* Every position carries 5 random bits: all 32 characters show up at both ends. */
	assert_int_equal(distinct_first, 32);
	assert_int_equal(distinct_last, 32);
	free(ids);
}

static void test_id_valid(void **state)
{
	(void)state;
	assert_true(queue_id_valid(ID));
	assert_true(queue_id_valid("00000000000000000000"));
	assert_true(queue_id_valid("ZZZZZZZZZZZZZZZZZZZZ"));
	assert_false(queue_id_valid(NULL));
	assert_false(queue_id_valid(""));
	assert_false(queue_id_valid("7KQ2M0X9ZC4TDV1R8HN"));   /* 19 */
	assert_false(queue_id_valid("7KQ2M0X9ZC4TDV1R8HNB0")); /* 21 */
	assert_false(queue_id_valid("7kq2m0x9zc4tdv1r8hnb"));
	assert_false(queue_id_valid("7KQ2M0X9ZC4TDV1R8HNO"));
	assert_false(queue_id_valid("7KQ2M0X9ZC4TDV1R8HNU"));
	assert_false(queue_id_valid("7KQ2M0X9ZC4TDV1R8HNL"));
	assert_false(queue_id_valid("../../../../etc/pass"));
	assert_false(queue_id_valid("7KQ2M0X9ZC4TDV1R8H.B"));
	assert_false(queue_id_valid("7KQ2M0X9ZC 4TDV1R8HN"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_exact_bytes),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_format_refuses_injection),
		cmocka_unit_test(test_parse_rejects_malformed),
		cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_parse_nul_and_caps),
		cmocka_unit_test(test_ids_unique_and_valid),
		cmocka_unit_test(test_id_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

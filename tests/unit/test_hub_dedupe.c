/*
 * hub_dedupe: the digest names exactly one transaction (recipients in any
 * order; any other key, queue id, body, sender or recipient set differs), a
 * digest is seen for window_s seconds after it was added and not after, and
 * at most cap are remembered, the oldest forgotten first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <sodium.h>

#include "relay/hub/hub_dedupe.h"

static struct attest_stamp stamp(const char *key, const char *id, unsigned char body)
{
	struct attest_stamp st;
	memset(&st, 0, sizeof(st));
	snprintf(st.key_id, sizeof(st.key_id), "%s", key);
	snprintf(st.id, sizeof(st.id), "%s", id);
	memset(st.body_hash, body, sizeof(st.body_hash));
	return st;
}

static void digest(const char *key, const char *id, unsigned char body, const char *from,
		   const char *const *rcpts, size_t n, unsigned char out[HUB_DEDUPE_DIGEST])
{
	struct attest_stamp st = stamp(key, id, body);
	unsigned char env[HUB_DEDUPE_DIGEST];
	hub_dedupe_envelope(from, rcpts, n, env);
	hub_dedupe_digest(&st, env, out);
}

static void test_digest(void **state)
{
	(void)state;
	const char *ab[] = {"a@example.com", "b@example.com"};
	const char *ba[] = {"b@example.com", "a@example.com"};
	const char *a[] = {"a@example.com"};
	const char *joined[] = {"a@example.comb@example.com"};
	unsigned char d0[16], d[16];
	digest("k1", "Q1", 1, "s@example.org", ab, 2, d0);
	digest("k1", "Q1", 1, "s@example.org", ba, 2, d);
	assert_memory_equal(d, d0, 16); /* the order of the recipients does not matter */
	digest("k2", "Q1", 1, "s@example.org", ab, 2, d);
	assert_memory_not_equal(d, d0, 16);
	digest("k1", "Q2", 1, "s@example.org", ab, 2, d);
	assert_memory_not_equal(d, d0, 16);
	digest("k1", "Q1", 2, "s@example.org", ab, 2, d);
	assert_memory_not_equal(d, d0, 16);
	digest("k1", "Q1", 1, "t@example.org", ab, 2, d);
	assert_memory_not_equal(d, d0, 16);
	digest("k1", "Q1", 1, "s@example.org", a, 1, d);
	assert_memory_not_equal(d, d0, 16);
	digest("k1", "Q1", 1, "s@example.org", joined, 1, d); /* fields are delimited */
	assert_memory_not_equal(d, d0, 16);
	digest("k1", "Q1", 1, "", NULL, 0, d); /* null sender, no recipient: still a digest */
	assert_memory_not_equal(d, d0, 16);
}

static void test_window_and_cap(void **state)
{
	(void)state;
	assert_null(hub_dedupe_new(0, 10));
	assert_null(hub_dedupe_new(4, 0));
	struct hub_dedupe *dd = hub_dedupe_new(4, 100);
	assert_non_null(dd);
	unsigned char d[8][16];
	for (int i = 0; i < 8; i++) {
		char id[8];
		snprintf(id, sizeof(id), "Q%d", i);
		digest("k", id, 0, "s@example.org", NULL, 0, d[i]);
	}
	assert_false(hub_dedupe_seen(dd, d[0], 1000));
	hub_dedupe_add(dd, d[0], 1000);
	assert_true(hub_dedupe_seen(dd, d[0], 1000));
	assert_true(hub_dedupe_seen(dd, d[0], 1099));
	assert_false(hub_dedupe_seen(dd, d[0], 1100)); /* window_s later: forgotten */
	assert_false(hub_dedupe_seen(dd, d[1], 1000));
	/* Added again later: remembered from then on. */
	hub_dedupe_add(dd, d[0], 1100);
	assert_true(hub_dedupe_seen(dd, d[0], 1150));
	/* The expired copy went when the new one came. */
	assert_int_equal(hub_dedupe_count(dd), 1);
	/* Capacity 4: the fifth add forgets the oldest. */
	for (int i = 1; i <= 4; i++)
		hub_dedupe_add(dd, d[i], 1100 + i);
	assert_int_equal(hub_dedupe_count(dd), 4);
	assert_false(hub_dedupe_seen(dd, d[0], 1150));
	for (int i = 1; i <= 4; i++)
		assert_true(hub_dedupe_seen(dd, d[i], 1150));
	/* Many more, over and over: the ring and the chains stay consistent. */
	for (int r = 0; r < 1000; r++)
		hub_dedupe_add(dd, d[r % 8], 2000 + r);
	assert_int_equal(hub_dedupe_count(dd), 4);
	for (int i = 0; i < 8; i++) /* the last four added: 996..999 → d[4..7] */
		assert_int_equal(hub_dedupe_seen(dd, d[i], 3000), i >= 4);
	/* All of them expire together. */
	hub_dedupe_add(dd, d[0], 5000);
	assert_int_equal(hub_dedupe_count(dd), 1);
	hub_dedupe_free(dd);
	hub_dedupe_free(NULL);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_window_and_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

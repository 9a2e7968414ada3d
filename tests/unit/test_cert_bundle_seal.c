/*
 * Unit tests for tunnel/cert_bundle_seal.c: the sealed layout, round trips,
 * every way the opener must refuse (wrong passphrase, each octet flipped,
 * truncation, expiry, a created time in the future, absurd kdf parameters
 * refused before deriving, oversized input) and the one-time passphrase. Sealing uses the cheapest
 * Argon2id cost so that the loops stay fast; the opener is told to accept it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tunnel/cert_bundle.h"

#define T0	       INT64_C(1767225600) /* 2026-01-01T00:00:00Z */
#define PASS	       "k3m9p-2qrst-vwxyz-01234-56789-abcde"
#define UNREADABLE_MSG "cannot open bundle: wrong passphrase or damaged file"

static const struct cert_bundle_kdf fast = {1, 8192};

static struct cert_bundle_open_opts opts_at(int64_t now)
{
	struct cert_bundle_open_opts o;

	cert_bundle_open_opts_init(&o, now);
	o.min = fast;
	return o;
}

static struct cert_bundle *bundle_new(const char *edge, int64_t created, int64_t expires)
{
	struct cert_bundle_meta m = {.created = created, .expires = expires};
	char err[200];

	snprintf(m.edge_name, sizeof(m.edge_name), "%s", edge);
	snprintf(m.hub_id, sizeof(m.hub_id), "%s", "hub.example.com");
	return cert_bundle_new(&m, err, sizeof(err));
}

static void add(struct cert_bundle *b, const char *name, unsigned flags, const char *text)
{
	char err[200] = "";

	assert_int_equal(cert_bundle_add(b, name, flags, text, strlen(text), err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static struct cert_bundle *full_bundle(void)
{
	struct cert_bundle *b = bundle_new("edge1", T0, T0 + CERT_BUNDLE_LIFETIME);

	assert_non_null(b);
	add(b, CERT_BUNDLE_EDGE_KEY, CERT_BUNDLE_SECRET, "-----BEGIN PRIVATE KEY-----\nAAA\n");
	add(b, CERT_BUNDLE_EDGE_CERT, 0, "-----BEGIN CERTIFICATE-----\nBBB\n");
	add(b, CERT_BUNDLE_CA_CERT, 0, "-----BEGIN CERTIFICATE-----\nCCC\n");
	add(b, CERT_BUNDLE_HUB_ADDRS, 0, "203.0.113.2\n");
	add(b, CERT_BUNDLE_ATTEST_KEY, CERT_BUNDLE_SECRET, "airlock-attest-ed25519-secret X\n");
	add(b, CERT_BUNDLE_ATTEST_PUB, 0, "airlock-attest-ed25519 Y\n");
	add(b, CERT_BUNDLE_SWANCTL, 0, "connections { airlock { } }\n");
	add(b, CERT_BUNDLE_AIRLOCK_CNF, 0, "tunnel = { };\n");
	return b;
}

/* Seals b with PASS at the fast cost; returns the sealed octets. */
static unsigned char *seal(const struct cert_bundle *b, size_t *len)
{
	unsigned char *out = NULL;
	char err[200] = "";

	assert_int_equal(cert_bundle_seal(b, PASS, &fast, &out, len, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	return out;
}

static enum cert_bundle_status open_at(const unsigned char *s, size_t len, const char *pass,
				       int64_t now, char *err, size_t errlen)
{
	struct cert_bundle_open_opts o = opts_at(now);
	struct cert_bundle *b = (struct cert_bundle *)1;
	enum cert_bundle_status st = cert_bundle_open(s, len, pass, &o, &b, err, errlen);

	assert_true(st == CERT_BUNDLE_OK ? b != NULL : b == NULL);
	cert_bundle_free(b);
	return st;
}

static void test_round_trip(void **state)
{
	struct cert_bundle *b = full_bundle(), *got = NULL;
	struct cert_bundle_open_opts o = opts_at(T0 + 3600);
	size_t len = 0, len2 = 0;
	unsigned char *s = seal(b, &len), *s2 = seal(b, &len2);
	unsigned char *p1 = NULL, *p2 = NULL;
	size_t l1 = 0, l2 = 0;
	char err[200] = "";

	(void)state;
	/* header: magic, version 1, kdf 1, opslimit 1, memlimit 8192 */
	assert_memory_equal(s, "ALBUNDLE\x01\x01\0\0\0\x01\0\0\0\0\0\0\x20\0", 22);
	assert_int_equal(cert_bundle_serialize(b, &p1, &l1), 0);
	assert_int_equal(len, CERT_BUNDLE_HEADER_LEN + l1 + CERT_BUNDLE_TAG_LEN);
	assert_int_equal(len2, len);
	assert_memory_not_equal(s + 22, s2 + 22, 40); /* fresh salt and nonce */

	assert_int_equal(cert_bundle_open(s, len, PASS, &o, &got, err, sizeof(err)),
			 CERT_BUNDLE_OK);
	assert_null(cert_bundle_missing(got));
	assert_string_equal(cert_bundle_meta(got)->edge_name, "edge1");
	assert_string_equal(cert_bundle_meta(got)->hub_id, "hub.example.com");
	assert_int_equal(cert_bundle_meta(got)->created, T0);
	assert_int_equal(cert_bundle_meta(got)->expires, T0 + 86400);
	assert_int_equal(cert_bundle_count(got), 8);
	assert_string_equal(cert_bundle_entry_at(got, 0)->name, CERT_BUNDLE_EDGE_KEY);
	assert_int_equal(cert_bundle_find(got, CERT_BUNDLE_EDGE_KEY)->flags, CERT_BUNDLE_SECRET);
	assert_int_equal(cert_bundle_find(got, CERT_BUNDLE_CA_CERT)->flags, 0);
	const struct cert_bundle_entry *e = cert_bundle_find(got, CERT_BUNDLE_HUB_ADDRS);
	assert_int_equal(e->len, 12);
	assert_memory_equal(e->data, "203.0.113.2\n", 12);
	assert_int_equal(cert_bundle_serialize(got, &p2, &l2), 0);
	assert_int_equal(l2, l1);
	assert_memory_equal(p1, p2, l1);
	cert_bundle_free(got);
	assert_int_equal(cert_bundle_open(s2, len2, PASS, &o, &got, err, sizeof(err)),
			 CERT_BUNDLE_OK);
	free(p1);
	free(p2);
	free(s);
	free(s2);
	cert_bundle_free(got);
	cert_bundle_free(b);
}

static void test_wrong_passphrase(void **state)
{
	struct cert_bundle *b = full_bundle();
	size_t len = 0;
	unsigned char *s = seal(b, &len);
	char err[200];

	(void)state;
	assert_int_equal(
		open_at(s, len, "k3m9p-2qrst-vwxyz-01234-56789-abcdf", T0, err, sizeof(err)),
		CERT_BUNDLE_UNREADABLE);
	assert_string_equal(err, UNREADABLE_MSG);
	assert_int_equal(open_at(s, len, "", T0, err, sizeof(err)), CERT_BUNDLE_UNREADABLE);
	assert_string_equal(err, UNREADABLE_MSG);
	assert_int_equal(open_at(s, len, PASS, T0, err, sizeof(err)), CERT_BUNDLE_OK);
	free(s);
	cert_bundle_free(b);
}

/* Which refusal a change at header octet i must give; past the header: unreadable. */
static void assert_flip_refused(const unsigned char *s, size_t len, size_t i)
{
	char err[200];
	enum cert_bundle_status st = open_at(s, len, PASS, T0, err, sizeof(err));

	if (i < 8)
		assert_int_equal(st, CERT_BUNDLE_NOT_BUNDLE);
	else if (i < 10)
		assert_int_equal(st, CERT_BUNDLE_UNSUPPORTED);
	else if (i < 22)
		assert_true(st == CERT_BUNDLE_BAD_PARAMS || st == CERT_BUNDLE_UNREADABLE);
	else
		assert_int_equal(st, CERT_BUNDLE_UNREADABLE);
	if (st == CERT_BUNDLE_UNREADABLE)
		assert_string_equal(err, UNREADABLE_MSG);
}

static void test_every_octet_flipped(void **state)
{
	struct cert_bundle *b = bundle_new("e1", T0, T0 + 60);
	static const unsigned char masks[] = {0x01, 0x80, 0xff};
	size_t len = 0, refused = 0;
	unsigned char *s;
	char err[200];

	(void)state;
	add(b, "a.pem", 0, "payload");
	s = seal(b, &len);
	assert_int_equal(open_at(s, len, PASS, T0, err, sizeof(err)), CERT_BUNDLE_OK);
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			s[i] ^= masks[m];
			assert_flip_refused(s, len, i);
			s[i] ^= masks[m];
			refused++;
		}
	}
	assert_int_equal(refused, 3 * len);
	assert_int_equal(open_at(s, len, PASS, T0, err, sizeof(err)), CERT_BUNDLE_OK);
	free(s);
	cert_bundle_free(b);
}

static void test_truncated_and_extended(void **state)
{
	struct cert_bundle *b = full_bundle();
	size_t len = 0;
	unsigned char *s = seal(b, &len), *longer = malloc(len + 1);
	char err[200];

	(void)state;
	for (size_t n = 0; n < len; n++) {
		enum cert_bundle_status st = open_at(s, n, PASS, T0, err, sizeof(err));
		if (n < CERT_BUNDLE_HEADER_LEN + CERT_BUNDLE_TAG_LEN) {
			assert_int_equal(st, CERT_BUNDLE_NOT_BUNDLE);
			assert_string_equal(err, "cannot open bundle: not an airlock enrollment "
						 "bundle (too short)");
		} else {
			assert_int_equal(st, CERT_BUNDLE_UNREADABLE);
			assert_string_equal(err, UNREADABLE_MSG);
		}
	}
	memcpy(longer, s, len);
	longer[len] = 0;
	assert_int_equal(open_at(longer, len + 1, PASS, T0, err, sizeof(err)),
			 CERT_BUNDLE_UNREADABLE);
	free(longer);
	free(s);
	cert_bundle_free(b);
}

static void test_expired_and_future(void **state)
{
	struct cert_bundle *b = full_bundle();
	size_t len = 0;
	unsigned char *s = seal(b, &len);
	char err[200];

	(void)state;
	assert_int_equal(open_at(s, len, PASS, T0 + 86399, err, sizeof(err)), CERT_BUNDLE_OK);
	assert_int_equal(open_at(s, len, PASS, T0 + 86400, err, sizeof(err)), CERT_BUNDLE_EXPIRED);
	assert_string_equal(err, "bundle expired at 2026-01-02T00:00:00Z");
	/* created at T0: a clock up to CERT_BUNDLE_SKEW behind is tolerated */
	assert_int_equal(open_at(s, len, PASS, T0 - 300, err, sizeof(err)), CERT_BUNDLE_OK);
	assert_int_equal(open_at(s, len, PASS, T0 - 301, err, sizeof(err)), CERT_BUNDLE_FUTURE);
	assert_string_equal(err, "bundle created at 2026-01-01T00:00:00Z, in the future: check "
				 "the clock");
	free(s);
	cert_bundle_free(b);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void set_kdf(unsigned char *s, uint32_t ops, uint64_t mem)
{
	for (int i = 0; i < 4; i++)
		s[10 + i] = (unsigned char)(ops >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		s[14 + i] = (unsigned char)(mem >> (56 - 8 * i));
}

static void test_absurd_params_refused_before_deriving(void **state)
{
	static const struct {
		uint32_t ops;
		uint64_t mem;
	} bad[] = {
		{1, UINT64_C(1) << 40},
		{4, UINT64_C(4) << 30},
		{4, (UINT64_C(1) << 30) + 1024},
		{UINT32_MAX, 8192},
		{17, 8192},
		{0, 8192},
		{1, 4096},
		{1, 0},
		{UINT32_MAX, UINT64_MAX},
	};
	struct cert_bundle *b = full_bundle();
	struct cert_bundle_open_opts def;
	struct cert_bundle *got = NULL;
	size_t len = 0;
	unsigned char *s = seal(b, &len);
	struct timespec t0;
	char err[200], want[200];

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_kdf(s, bad[i].ops, bad[i].mem);
		assert_int_equal(open_at(s, len, PASS, T0, err, sizeof(err)),
				 CERT_BUNDLE_BAD_PARAMS);
		snprintf(want, sizeof(want),
			 "cannot open bundle: key derivation parameters out of range (opslimit "
			 "%u, memlimit %llu)",
			 bad[i].ops, (unsigned long long)bad[i].mem);
		assert_string_equal(err, want);
	}
	/* a caller's generous maximum does not lift the module's own cap */
	def = opts_at(T0);
	def.max = (struct cert_bundle_kdf){UINT32_MAX, UINT64_MAX};
	set_kdf(s, 4, UINT64_C(4) << 30);
	assert_int_equal(cert_bundle_open(s, len, PASS, &def, &got, err, sizeof(err)),
			 CERT_BUNDLE_BAD_PARAMS);
	set_kdf(s, 100, 8192);
	assert_int_equal(cert_bundle_open(s, len, PASS, &def, &got, err, sizeof(err)),
			 CERT_BUNDLE_BAD_PARAMS);
	assert_null(got);
	assert_true(seconds_since(&t0) < 1.0);

	/* the default limits refuse the cheap test cost: no downgrade below INTERACTIVE */
	set_kdf(s, 1, 8192);
	cert_bundle_open_opts_init(&def, T0);
	assert_int_equal(cert_bundle_open(s, len, PASS, &def, &got, err, sizeof(err)),
			 CERT_BUNDLE_BAD_PARAMS);
	assert_null(got);
	assert_string_equal(err, "cannot open bundle: key derivation parameters out of range "
				 "(opslimit 1, memlimit 8192)");
	assert_int_equal(open_at(s, len, PASS, T0, err, sizeof(err)), CERT_BUNDLE_OK);

	s[8] = 2;
	assert_int_equal(open_at(s, len, PASS, T0, err, sizeof(err)), CERT_BUNDLE_UNSUPPORTED);
	assert_string_equal(err,
			    "cannot open bundle: format version 2 is not supported (expected 1)");
	s[8] = 1;
	s[9] = 2;
	assert_int_equal(open_at(s, len, PASS, T0, err, sizeof(err)), CERT_BUNDLE_UNSUPPORTED);
	assert_string_equal(err, "cannot open bundle: key derivation 2 is not supported");
	s[9] = 1;
	s[0] = 'X';
	assert_int_equal(open_at(s, len, PASS, T0, err, sizeof(err)), CERT_BUNDLE_NOT_BUNDLE);
	assert_string_equal(err, "cannot open bundle: not an airlock enrollment bundle");
	free(s);
	cert_bundle_free(b);
}

static void test_oversized_sealed_refused(void **state)
{
	size_t len = CERT_BUNDLE_SEALED_MAX + 1;
	unsigned char *s = calloc(1, len);
	char err[200];

	(void)state;
	memcpy(s, "ALBUNDLE\x01\x01", 10);
	set_kdf(s, 1, 8192);
	assert_int_equal(open_at(s, len, PASS, T0, err, sizeof(err)), CERT_BUNDLE_NOT_BUNDLE);
	assert_string_equal(err, "cannot open bundle: larger than 1048654 octets");
	free(s);
}

static void test_passphrase(void **state)
{
	char *p = cert_bundle_passphrase_new(), *q = cert_bundle_passphrase_new();
	char canon[CERT_BUNDLE_PASSPHRASE_LEN + 1];
	static const char *const bad[] = {
		"k3m9p-2qrst-vwxyz-01234-56789-abcd",
		"k3m9p-2qrst-vwxyz-01234-56789-abcdef",
		"k3m9p--2qrst-vwxyz-01234-56789-abcde",
		"-k3m9p-2qrst-vwxyz-01234-56789-abcde",
		"k3m9p-2qrst-vwxyz-01234-56789-abcdu",
		"k3m9-p2qrst-vwxyz-01234-56789-abcde",
		"",
	};

	(void)state;
	assert_non_null(p);
	assert_int_equal(strlen(p), CERT_BUNDLE_PASSPHRASE_LEN);
	for (size_t i = 0; i < CERT_BUNDLE_PASSPHRASE_LEN; i++) {
		if (i % 6 == 5)
			assert_int_equal(p[i], '-');
		else
			assert_non_null(strchr("0123456789abcdefghjkmnpqrstvwxyz", p[i]));
	}
	assert_string_not_equal(p, q);
	assert_int_equal(cert_bundle_passphrase_canon(p, canon), 0);
	assert_string_equal(canon, p);
	assert_int_equal(
		cert_bundle_passphrase_canon("  K3M9P 2QRST vwxyz0I234-56789ABCDE\t", canon), 0);
	assert_string_equal(canon, "k3m9p-2qrst-vwxyz-01234-56789-abcde");
	assert_int_equal(cert_bundle_passphrase_canon("k3m9p2qrstvwxyzO1L3456789abcde", canon), 0);
	assert_string_equal(canon, "k3m9p-2qrst-vwxyz-01134-56789-abcde");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cert_bundle_passphrase_canon(bad[i], canon), -1);
		assert_int_equal(canon[0], 0);
	}
	cert_bundle_passphrase_free(p);
	cert_bundle_passphrase_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wrong_passphrase),
		cmocka_unit_test(test_every_octet_flipped),
		cmocka_unit_test(test_truncated_and_extended),
		cmocka_unit_test(test_expired_and_future),
		cmocka_unit_test(test_absurd_params_refused_before_deriving),
		cmocka_unit_test(test_oversized_sealed_refused),
		cmocka_unit_test(test_passphrase),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

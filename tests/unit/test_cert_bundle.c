/*
 * Unit tests for tunnel/cert_bundle.c: the exact plain form, the entry name
 * charset (no path can be smuggled in), caps when adding and when parsing,
 * metadata checks. Sealing and opening are in test_cert_bundle_seal.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tunnel/cert_bundle.h"

#define T0 INT64_C(1767225600) /* 2026-01-01T00:00:00Z */

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

static void test_plain_layout(void **state)
{
	static const unsigned char expected[] = {'A',  'L', 'B',  'P',	1,    0,    0,
						 0,    0,   0x69, 0x55, 0xb9, 0x00, /* created */
						 0,    0,   0,	  0,	0x69, 0x57, 0x0a,
						 0x80, /* expires */
						 2,    'e', '1',  15,	'h',  'u',  'b',
						 '.',  'e', 'x',  'a',	'm',  'p',  'l',
						 'e',  '.', 'c',  'o',	'm',  1, /* one entry */
						 5,    'a', '.',  'p',	'e',  'm',  1,
						 0,    0,   0,	  3,	'x',  'y',  'z'};
	struct cert_bundle *b = bundle_new("e1", T0, T0 + 86400), *again = NULL;
	unsigned char *plain = NULL;
	size_t len = 0;
	char err[200];

	(void)state;
	add(b, "a.pem", CERT_BUNDLE_SECRET, "xyz");
	assert_int_equal(cert_bundle_serialize(b, &plain, &len), 0);
	assert_int_equal(len, sizeof(expected));
	assert_memory_equal(plain, expected, sizeof(expected));
	assert_int_equal(cert_bundle_parse_plain(plain, len, &again, err, sizeof(err)),
			 CERT_BUNDLE_OK);
	assert_string_equal(cert_bundle_meta(again)->edge_name, "e1");
	assert_int_equal(cert_bundle_meta(again)->expires, T0 + 86400);
	assert_int_equal(cert_bundle_entry_at(again, 0)->flags, CERT_BUNDLE_SECRET);
	assert_null(cert_bundle_entry_at(again, 1));
	free(plain);
	cert_bundle_free(again);
	cert_bundle_free(b);
}

static void test_entry_names(void **state)
{
	static const char *const bad[] = {
		"",
		".",
		"..",
		"../etc/passwd",
		"a/b",
		"/etc/passwd",
		".hidden",
		"-rf",
		"a..b",
		"a b",
		"a\\b",
		"x\n",
		"caf\xc3\xa9",
		"a:b",
		"..a",
		"a*",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
	};
	static const char *const good[] = {
		"edge.key.pem",
		"_x",
		"A-b_c.9",
		"swanctl.conf",
		"a.",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 64 */
	};
	struct cert_bundle *b = bundle_new("e1", T0, T0 + 60), *got = NULL;
	unsigned char *plain = NULL, *p;
	size_t len = 0;
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cert_bundle_name_valid(bad[i]), 0);
		assert_int_equal(cert_bundle_add(b, bad[i], 0, "x", 1, err, sizeof(err)), -1);
		assert_memory_equal(err, "invalid entry name ", 19);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(cert_bundle_name_valid(good[i]), 1);
	assert_int_equal(cert_bundle_count(b), 0);

	/* a plain form naming "../etc" (as a hub with a bug, or a forger, might) */
	add(b, "xx_etc", 0, "x");
	assert_int_equal(cert_bundle_serialize(b, &plain, &len), 0);
	p = memmem(plain, len, "xx_etc", 6);
	assert_non_null(p);
	memcpy(p, "../etc", 6);
	assert_int_equal(cert_bundle_parse_plain(plain, len, &got, err, sizeof(err)),
			 CERT_BUNDLE_MALFORMED);
	assert_null(got);
	assert_string_equal(err, "invalid entry name");
	memcpy(p, "xx/etc", 6);
	assert_int_equal(cert_bundle_parse_plain(plain, len, &got, err, sizeof(err)),
			 CERT_BUNDLE_MALFORMED);
	memcpy(p, "xx_etc", 6);
	assert_int_equal(cert_bundle_parse_plain(plain, len, &got, err, sizeof(err)),
			 CERT_BUNDLE_OK);
	cert_bundle_free(got);
	free(plain);
	cert_bundle_free(b);
}

static void test_caps_when_adding(void **state)
{
	struct cert_bundle *b = bundle_new("e1", T0, T0 + 60);
	unsigned char *big = calloc(1, CERT_BUNDLE_ENTRY_MAX + 1);
	char err[200], name[16];

	(void)state;
	assert_int_equal(
		cert_bundle_add(b, "big", 0, big, CERT_BUNDLE_ENTRY_MAX + 1, err, sizeof(err)), -1);
	assert_string_equal(err, "entry big: 262145 octets, more than 262144");
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "big%d", i);
		assert_int_equal(
			cert_bundle_add(b, name, 0, big, CERT_BUNDLE_ENTRY_MAX, err, sizeof(err)),
			0);
	}
	assert_int_equal(
		cert_bundle_add(b, "big3", 0, big, CERT_BUNDLE_ENTRY_MAX, err, sizeof(err)), -1);
	assert_string_equal(err, "bundle larger than 1048576 octets");
	assert_int_equal(cert_bundle_add(b, "big0", 0, "x", 1, err, sizeof(err)), -1);
	assert_string_equal(err, "entry big0 present twice");
	assert_int_equal(cert_bundle_add(b, "f", 2, "x", 1, err, sizeof(err)), -1);
	assert_string_equal(err, "entry f: unknown flags 0x02");
	for (int i = 3; i < CERT_BUNDLE_ENTRIES_MAX; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		assert_int_equal(cert_bundle_add(b, name, 0, "", 0, err, sizeof(err)), 0);
	}
	assert_int_equal(cert_bundle_add(b, "one-more", 0, "", 0, err, sizeof(err)), -1);
	assert_string_equal(err, "more than 32 entries");
	assert_int_equal(cert_bundle_count(b), CERT_BUNDLE_ENTRIES_MAX);
	assert_string_equal(cert_bundle_missing(b), CERT_BUNDLE_EDGE_KEY);
	free(big);
	cert_bundle_free(b);
}

static void test_caps_when_parsing(void **state)
{
	struct cert_bundle *b = bundle_new("e1", T0, T0 + 60), *got = NULL;
	unsigned char *plain = NULL, *buf;
	size_t len = 0, entry;
	char err[200];

	(void)state;
	add(b, "a", 0, "xyz");
	assert_int_equal(cert_bundle_serialize(b, &plain, &len), 0);
	entry = len - 3 - 4 - 1 - 1 - 1; /* offset of the entry's name length */
	assert_int_equal(plain[entry - 1], 1);
	buf = malloc(len + 1);

	memcpy(buf, plain, len);
	buf[entry - 1] = 33;
	assert_int_equal(cert_bundle_parse_plain(buf, len, &got, err, sizeof(err)),
			 CERT_BUNDLE_MALFORMED);
	assert_string_equal(err, "bad entry count");
	memcpy(buf, plain, len);
	memset(buf + entry + 3, 0xff, 4); /* data length 4 GiB - 1 */
	assert_int_equal(cert_bundle_parse_plain(buf, len, &got, err, sizeof(err)),
			 CERT_BUNDLE_MALFORMED);
	assert_string_equal(err, "entry data too long or truncated");
	memcpy(buf, plain, len);
	buf[entry + 2] = 4; /* unknown flag */
	assert_int_equal(cert_bundle_parse_plain(buf, len, &got, err, sizeof(err)),
			 CERT_BUNDLE_MALFORMED);
	assert_string_equal(err, "entry a: unknown flags 0x04");
	memcpy(buf, plain, len);
	buf[len] = 0;
	assert_int_equal(cert_bundle_parse_plain(buf, len + 1, &got, err, sizeof(err)),
			 CERT_BUNDLE_MALFORMED);
	assert_string_equal(err, "trailing octets after the last entry");
	for (size_t n = 0; n < len; n++) {
		assert_int_equal(cert_bundle_parse_plain(plain, n, &got, err, sizeof(err)),
				 CERT_BUNDLE_MALFORMED);
		assert_null(got);
	}
	assert_int_equal(
		cert_bundle_parse_plain(plain, CERT_BUNDLE_PLAIN_MAX + 1, &got, err, sizeof(err)),
		CERT_BUNDLE_MALFORMED);
	assert_string_equal(err, "larger than the size limit");
	free(buf);
	free(plain);
	cert_bundle_free(b);
}

static void test_meta_checked(void **state)
{
	struct cert_bundle_meta m = {.hub_id = "CN=hub.example.com, O=airlock",
				     .created = T0,
				     .expires = T0 + CERT_BUNDLE_LIFETIME_MAX};
	struct cert_bundle *b;
	char err[200];

	(void)state;
	snprintf(m.edge_name, sizeof(m.edge_name), "edge-1.example.com");
	b = cert_bundle_new(&m, err, sizeof(err));
	assert_non_null(b);
	cert_bundle_free(b);
	m.expires++;
	assert_null(cert_bundle_new(&m, err, sizeof(err)));
	assert_string_equal(err, "invalid lifetime: expires must follow created by at most "
				 "2592000 s");
	m.expires = T0;
	assert_null(cert_bundle_new(&m, err, sizeof(err)));
	m.expires = T0 + 1;
	snprintf(m.edge_name, sizeof(m.edge_name), "../edge");
	assert_null(cert_bundle_new(&m, err, sizeof(err)));
	assert_string_equal(err, "invalid edge name (1..253 of A-Z a-z 0-9 . _ -)");
	snprintf(m.edge_name, sizeof(m.edge_name), "edge");
	snprintf(m.hub_id, sizeof(m.hub_id), "hub\tx");
	assert_null(cert_bundle_new(&m, err, sizeof(err)));
	assert_string_equal(err, "invalid hub identity (1..255 printable ASCII characters)");
}

static void test_status_names(void **state)
{
	(void)state;
	assert_string_equal(cert_bundle_status_name(CERT_BUNDLE_OK), "ok");
	assert_string_equal(cert_bundle_status_name(CERT_BUNDLE_UNREADABLE), "unreadable");
	assert_string_equal(cert_bundle_status_name(CERT_BUNDLE_NO_MEMORY), "no-memory");
	assert_string_equal(cert_bundle_status_name((enum cert_bundle_status)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_layout),	 cmocka_unit_test(test_entry_names),
		cmocka_unit_test(test_caps_when_adding), cmocka_unit_test(test_caps_when_parsing),
		cmocka_unit_test(test_meta_checked),	 cmocka_unit_test(test_status_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

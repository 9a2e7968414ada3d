/*
 * Fuzz target for tunnel/cert_bundle: the plain-form reader and the sealed
 * bundle opener. The first input octet picks the mode, the rest is the input:
 *
 *	even: a plain form for cert_bundle_parse_plain(). One that parses has
 *	      only valid, unique names within the caps, serialises back to the
 *	      very same octets, and survives seal + open unchanged.
 *	odd:  a sealed bundle for cert_bundle_open(), with the passphrase of the
 *	      seed corpus and the cheapest Argon2id cost accepted (at most
 *	      opslimit 2 and 64 KiB, so each run stays fast). Every refusal has
 *	      a one-line reason; a bundle that opens is in date and has a plain
 *	      form that parses back to itself.
 *
 * The seed corpus holds bundles sealed with PASS at opslimit 1, memlimit
 * 8192, created at T0 and expiring a day later.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/cert_bundle.h"

#include "fuzz_check.h"

#define T0   INT64_C(1767225600)
#define PASS "fuzz0-fuzz1-fuzz2-fuzz3-fuzz4-fuzz5"

static const struct cert_bundle_kdf fast = {1, 8192};

static struct cert_bundle_open_opts opts(void)
{
	struct cert_bundle_open_opts o;

	cert_bundle_open_opts_init(&o, T0 + 60);
	o.min = fast;
	o.max = (struct cert_bundle_kdf){2, 64 * 1024};
	return o;
}

/* Structural invariants of any bundle the reader accepted. */
static void check_bundle(const struct cert_bundle *b)
{
	size_t n = cert_bundle_count(b);

	CHECK(n <= CERT_BUNDLE_ENTRIES_MAX);
	CHECK(cert_bundle_entry_at(b, n) == NULL);
	for (size_t i = 0; i < n; i++) {
		const struct cert_bundle_entry *e = cert_bundle_entry_at(b, i);
		CHECK(e != NULL && cert_bundle_name_valid(e->name));
		CHECK(strchr(e->name, '/') == NULL && strstr(e->name, "..") == NULL);
		CHECK(e->len <= CERT_BUNDLE_ENTRY_MAX && (e->flags & ~CERT_BUNDLE_SECRET) == 0);
		CHECK(cert_bundle_find(b, e->name) == e);
	}
	const struct cert_bundle_meta *m = cert_bundle_meta(b);
	CHECK(m->expires > m->created && m->expires - m->created <= CERT_BUNDLE_LIFETIME_MAX);
	CHECK(m->edge_name[0] != '\0' && m->hub_id[0] != '\0');
}

/* The plain form of b; checks that it parses back to the same octets. */
static void check_reparse(const struct cert_bundle *b, const uint8_t *expect, size_t expect_len)
{
	unsigned char *plain = NULL, *again = NULL;
	size_t len = 0, len2 = 0;
	struct cert_bundle *b2 = NULL;
	char err[200];

	CHECK(cert_bundle_serialize(b, &plain, &len) == 0);
	CHECK(len <= CERT_BUNDLE_PLAIN_MAX);
	if (expect != NULL)
		CHECK(len == expect_len && memcmp(plain, expect, len) == 0);
	CHECK(cert_bundle_parse_plain(plain, len, &b2, err, sizeof(err)) == CERT_BUNDLE_OK);
	CHECK(cert_bundle_serialize(b2, &again, &len2) == 0);
	CHECK(len2 == len && memcmp(plain, again, len) == 0);
	free(plain);
	free(again);
	cert_bundle_free(b2);
}

static void plain_mode(const uint8_t *data, size_t size)
{
	struct cert_bundle *b = NULL, *opened = NULL;
	struct cert_bundle_open_opts o = opts();
	unsigned char *sealed = NULL;
	size_t sealed_len = 0;
	char err[200] = "";

	enum cert_bundle_status st = cert_bundle_parse_plain(data, size, &b, err, sizeof(err));
	if (st != CERT_BUNDLE_OK) {
		CHECK(st == CERT_BUNDLE_MALFORMED && b == NULL && err[0] != '\0');
		return;
	}
	check_bundle(b);
	check_reparse(b, data, size);
	st = cert_bundle_check_time(cert_bundle_meta(b), o.now, o.max_skew, err, sizeof(err));
	CHECK(st == CERT_BUNDLE_OK || st == CERT_BUNDLE_EXPIRED || st == CERT_BUNDLE_FUTURE);

	CHECK(cert_bundle_seal(b, PASS, &fast, &sealed, &sealed_len, err, sizeof(err)) == 0);
	CHECK(sealed_len == CERT_BUNDLE_HEADER_LEN + size + CERT_BUNDLE_TAG_LEN);
	o.now = cert_bundle_meta(b)->created;
	CHECK(cert_bundle_open(sealed, sealed_len, PASS, &o, &opened, err, sizeof(err)) ==
	      CERT_BUNDLE_OK);
	check_reparse(opened, data, size);
	free(sealed);
	cert_bundle_free(opened);
	cert_bundle_free(b);
}

static void sealed_mode(const uint8_t *data, size_t size)
{
	struct cert_bundle *b = NULL;
	struct cert_bundle_open_opts o = opts();
	char err[300] = "";

	enum cert_bundle_status st = cert_bundle_open(data, size, PASS, &o, &b, err, sizeof(err));
	if (st != CERT_BUNDLE_OK) {
		CHECK(b == NULL && st <= CERT_BUNDLE_NO_MEMORY);
		CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
		CHECK(strcmp(cert_bundle_status_name(st), "unknown") != 0);
		return;
	}
	check_bundle(b);
	check_reparse(b, NULL, 0);
	CHECK(cert_bundle_check_time(cert_bundle_meta(b), o.now, o.max_skew, err, sizeof(err)) ==
	      CERT_BUNDLE_OK);
	cert_bundle_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		plain_mode(data + 1, size - 1);
	else
		sealed_mode(data + 1, size - 1);
	return 0;
}

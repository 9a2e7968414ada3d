/*
 * Unit tests for relay/attest and relay/attest_keys: the exact header an
 * edge writes (values cross-checked with an independent Ed25519/BLAKE2b
 * implementation), verification results for every kind of tampering, the
 * reader's refusals, folding, the streaming body hash, stripping of
 * incoming X-Airlock-* fields, and the key files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "relay/attest.h"
#include "relay/attest_edit.h"
#include "relay/attest_keys.h"

#define ID   "7KQ2M0X9ZC4TDV1R8HNB"
#define T0   1767225600
#define HEAD "Received: from mail.example.org\r\nSubject: test\r\n"
#define BODY "Hello, world.\r\n.. dots\r\n"
/* Computed with Python's hashlib.blake2b and cryptography's Ed25519 for seed 01..20. */
#define PK_B64	 "ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ"
#define KEYID	 "4d4dbe917544b079"
#define BH	 "TJ6-uoQ1ECuhIQjwrpEan4R99CwIBp9vBq5gFoJyPys"
#define SIG	 "jIT2chmr4juefiWXQ80JidOF0KTxMZpkaoQfdo4KfsAvwZA8YIJaI50CaSBAOTGlicg-cmpLOW_IZA-HHRh6DA"
#define BH_EMPTY "DldRwCblQ7Loqy6wYJnaodHl30d3j3eH-qtFzfEv46g"
#define SEED_B64 "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"

static const char field_expected[] =
	"X-Airlock-Scan: v=1; id=" ID "; t=1767225600;\r\n"
	" engine=ClamAV 1.4.6; db=27450; verdict=clean;\r\n"
	" bh=" BH "; k=" KEYID "; s=jIT2chm\r\n"
	" r4juefiWXQ80JidOF0KTxMZpkaoQfdo4KfsAvwZA8YIJaI50CaSBAOTGlicg-cmpLOW_IZA-HHRh6\r\n"
	" DA\r\n";

static const char value_flat[] = " v=1; id=" ID "; t=1767225600; engine=ClamAV 1.4.6; db=27450; "
				 "verdict=clean; bh=" BH "; k=" KEYID "; s=" SIG;

struct fixture {
	struct attest_signer *signer, *other;
	struct attest_trust *trust;
	struct attest_verify_opts opts;
};

static struct attest_signer *signer_from_byte(unsigned char first)
{
	unsigned char seed[ATTEST_SEED_LEN];

	for (size_t i = 0; i < sizeof(seed); i++)
		seed[i] = (unsigned char)(first + i);
	return attest_signer_new_from_seed(seed);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->signer = signer_from_byte(1);
	f->other = signer_from_byte(100);
	f->trust = attest_trust_new();
	assert_int_equal(attest_trust_add(f->trust, f->signer->pub.pk), 0);
	f->opts = (struct attest_verify_opts){.now = T0 + 60, .max_age = 3600, .max_skew = 300};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	attest_signer_free(f->signer);
	attest_signer_free(f->other);
	attest_trust_free(f->trust);
	free(f);
	return 0;
}

static void make_stamp(struct attest_stamp *st, const char *body)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->id, sizeof(st->id), "%s", ID);
	st->time = T0;
	snprintf(st->engine, sizeof(st->engine), "ClamAV 1.4.6");
	snprintf(st->db, sizeof(st->db), "27450");
	st->verdict = ATTEST_VERDICT_CLEAN;
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), "A: 1\r\n\r\n%s", body);

	attest_body_hash(msg, (size_t)n, st->body_hash);
}

/* HEAD + field + "\r\n" + body, NUL-terminated, in a static buffer. */
static const char *message(const char *field, const char *body)
{
	static char buf[8192];

	snprintf(buf, sizeof(buf), "%s%s\r\n%s", HEAD, field, body);
	return buf;
}

static enum attest_result verify_text(struct fixture *f, const char *msg)
{
	char err[200];

	return attest_verify_message(msg, strlen(msg), f->trust, &f->opts, NULL, err, sizeof(err));
}

static void stamped(struct attest_signer *by, struct attest_stamp *st, char *field)
{
	assert_int_equal(attest_sign(st, by), 0);
	assert_true(attest_format_field(st, field, ATTEST_FIELD_MAX) > 0);
}

static void test_exact_field(void **state)
{
	struct fixture *f = *state;
	struct attest_stamp st;
	char field[ATTEST_FIELD_MAX], line[128];

	assert_string_equal(f->signer->pub.id, KEYID);
	assert_int_equal(attest_pubkey_format(&f->signer->pub, line, sizeof(line)), 84);
	assert_string_equal(line, "airlock-attest-ed25519 " PK_B64 " " KEYID "\n");
	make_stamp(&st, BODY);
	assert_int_equal(attest_sign(&st, f->signer), 0);
	assert_string_equal(st.key_id, KEYID);
	assert_int_equal(attest_format_field(&st, field, sizeof(field)),
			 sizeof(field_expected) - 1);
	assert_string_equal(field, field_expected);
	assert_int_equal(attest_format_field(&st, field, sizeof(field_expected) - 1), -1);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct attest_stamp st, got;
	char field[ATTEST_FIELD_MAX], err[200] = "";
	const char *msg;

	make_stamp(&st, BODY);
	stamped(f->signer, &st, field);
	msg = message(field, BODY);
	assert_int_equal(
		attest_verify_message(msg, strlen(msg), f->trust, &f->opts, &got, err, sizeof(err)),
		ATTEST_OK);
	assert_string_equal(got.id, ID);
	assert_true(got.time == T0);
	assert_string_equal(got.engine, "ClamAV 1.4.6");
	assert_string_equal(got.db, "27450");
	assert_int_equal(got.verdict, ATTEST_VERDICT_CLEAN);
	assert_memory_equal(got.sig, st.sig, ATTEST_SIG_LEN);
	/* A hop may add fields and reorder them; only the body is hashed. */
	char buf[8192];
	snprintf(buf, sizeof(buf), "Received: by hub\r\n%sX-Other: 1\r\n%s\r\n%s", field, HEAD,
		 BODY);
	assert_int_equal(verify_text(f, buf), ATTEST_OK);
}

static void test_tampered_body(void **state)
{
	struct fixture *f = *state;
	struct attest_stamp st;
	char field[ATTEST_FIELD_MAX];

	make_stamp(&st, BODY);
	stamped(f->signer, &st, field);
	assert_int_equal(verify_text(f, message(field, "Hello, world!\r\n.. dots\r\n")),
			 ATTEST_BODY_MISMATCH);
	assert_int_equal(verify_text(f, message(field, BODY "\r\n")), ATTEST_BODY_MISMATCH);
	assert_int_equal(verify_text(f, message(field, "")), ATTEST_BODY_MISMATCH);
}

/* Replaces the first occurrence of from with to in the flat header value. */
static enum attest_result verify_edited(struct fixture *f, const char *from, const char *to)
{
	char value[1024], field[1100];
	const char *at = strstr(value_flat, from);

	assert_non_null(at);
	snprintf(value, sizeof(value), "%.*s%s%s", (int)(at - value_flat), value_flat, to,
		 at + strlen(from));
	snprintf(field, sizeof(field), "X-Airlock-Scan:%s\r\n", value);
	return verify_text(f, message(field, BODY));
}

static void test_tampered_fields(void **state)
{
	struct fixture *f = *state;

	f->opts.accept_unscanned = true;
	assert_int_equal(verify_edited(f, "v=1", "v=1"), ATTEST_OK);
	assert_int_equal(verify_edited(f, "id=7KQ", "id=8KQ"), ATTEST_BAD_SIGNATURE);
	assert_int_equal(verify_edited(f, "t=1767225600", "t=1767225601"), ATTEST_BAD_SIGNATURE);
	assert_int_equal(verify_edited(f, "1.4.6", "1.4.7"), ATTEST_BAD_SIGNATURE);
	assert_int_equal(verify_edited(f, "db=27450", "db=27451"), ATTEST_BAD_SIGNATURE);
	assert_int_equal(verify_edited(f, "verdict=clean", "verdict=unscanned"),
			 ATTEST_BAD_SIGNATURE);
	assert_int_equal(verify_edited(f, "bh=TJ6", "bh=TJ7"), ATTEST_BAD_SIGNATURE);
	assert_int_equal(verify_edited(f, "s=jIT", "s=jIU"), ATTEST_BAD_SIGNATURE);
	assert_int_equal(verify_edited(f, "k=4d4d", "k=4d4e"), ATTEST_UNKNOWN_KEY);
	assert_int_equal(verify_edited(f, "v=1", "v=2"), ATTEST_MALFORMED);
}

static void test_wrong_and_unknown_key(void **state)
{
	struct fixture *f = *state;
	struct attest_stamp st;
	char field[ATTEST_FIELD_MAX];

	make_stamp(&st, BODY);
	stamped(f->other, &st, field);
	assert_int_equal(verify_text(f, message(field, BODY)), ATTEST_UNKNOWN_KEY);
	/* Signed by another key but claiming the trusted key's id. */
	memcpy(st.key_id, f->signer->pub.id, sizeof(st.key_id));
	assert_true(attest_format_field(&st, field, sizeof(field)) > 0);
	assert_int_equal(verify_text(f, message(field, BODY)), ATTEST_BAD_SIGNATURE);
	/* Once the other key is trusted too, its own stamps verify. */
	assert_int_equal(attest_trust_add(f->trust, f->other->pub.pk), 0);
	assert_int_equal(attest_trust_add(f->trust, f->other->pub.pk), 0);
	assert_int_equal(attest_trust_count(f->trust), 2);
	stamped(f->other, &st, field);
	assert_int_equal(verify_text(f, message(field, BODY)), ATTEST_OK);
}

static void test_freshness_and_verdict(void **state)
{
	struct fixture *f = *state;
	struct attest_stamp st;
	char field[ATTEST_FIELD_MAX];
	const char *msg;

	make_stamp(&st, BODY);
	stamped(f->signer, &st, field);
	msg = message(field, BODY);
	f->opts.now = T0 + 3600;
	assert_int_equal(verify_text(f, msg), ATTEST_OK);
	f->opts.now = T0 + 3601;
	assert_int_equal(verify_text(f, msg), ATTEST_STALE);
	f->opts.now = T0 - 300;
	assert_int_equal(verify_text(f, msg), ATTEST_OK);
	f->opts.now = T0 - 301;
	assert_int_equal(verify_text(f, msg), ATTEST_FUTURE);

	f->opts.now = T0;
	st.verdict = ATTEST_VERDICT_UNSCANNED;
	stamped(f->signer, &st, field);
	assert_non_null(strstr(field, "verdict=unscanned;"));
	msg = message(field, BODY);
	assert_int_equal(verify_text(f, msg), ATTEST_UNSCANNED);
	f->opts.accept_unscanned = true;
	assert_int_equal(verify_text(f, msg), ATTEST_OK);
	assert_string_equal(attest_result_name(ATTEST_UNSCANNED), "unscanned");
	assert_string_equal(attest_result_name(ATTEST_BODY_MISMATCH), "body-mismatch");
}

static void test_missing_and_duplicate(void **state)
{
	struct fixture *f = *state;
	struct attest_stamp st;
	char field[ATTEST_FIELD_MAX], buf[8192], err[200];

	assert_int_equal(verify_text(f, message("", BODY)), ATTEST_MISSING);
	/* In the body it does not count. */
	snprintf(buf, sizeof(buf), "%s\r\nX-Airlock-Scan:%s\r\n", HEAD, value_flat);
	assert_int_equal(verify_text(f, buf), ATTEST_MISSING);
	/* Neither does a longer name. */
	snprintf(buf, sizeof(buf), "X-Airlock-Scanned:%s\r\n\r\n" BODY, value_flat);
	assert_int_equal(verify_text(f, buf), ATTEST_MISSING);
	make_stamp(&st, BODY);
	stamped(f->signer, &st, field);
	snprintf(buf, sizeof(buf), "%sx-airlock-scan :%s\r\n", field, value_flat);
	assert_int_equal(
		attest_verify_message(buf, strlen(buf), f->trust, &f->opts, NULL, err, sizeof(err)),
		ATTEST_DUPLICATE);
	assert_string_equal(err, "2 X-Airlock-Scan headers");
}

static void expect_bad(const char *value, const char *reason)
{
	struct attest_stamp st;
	char err[200] = "";

	assert_int_equal(attest_parse(value, strlen(value), &st, err, sizeof(err)), -1);
	assert_string_equal(err, reason);
	assert_int_equal(st.id[0], '\0');
	assert_int_equal(st.verdict, 0);
}

#define V_ID   " v=1; id=" ID
#define V_REST "; engine=E; db=1; verdict=clean; bh=" BH "; k=" KEYID "; s=" SIG

static void test_malformed(void **state)
{
	(void)state;
	char big[ATTEST_VALUE_MAX + 2];

	expect_bad(V_ID V_REST, "tag engine where t expected");
	expect_bad(V_ID "; t=1; t=1" V_REST, "duplicate tag t");
	expect_bad(V_ID "; t=1; engine=E; db=1; verdict=clean; bh=" BH "; k=" KEYID,
		   "tag s missing");
	expect_bad(V_ID "; t=1" V_REST "; x=1", "unknown tag");
	expect_bad(V_ID "; t=1" V_REST ";", "empty element");
	expect_bad(V_ID "; t=1; foo" V_REST, "element without '='");
	expect_bad(" v=2; id=" ID "; t=1" V_REST, "unsupported version");
	expect_bad(" V=1; id=" ID "; t=1" V_REST, "unknown tag");
	expect_bad(" v=1; id=a/b; t=1" V_REST, "bad id");
	expect_bad(" v=1; id=; t=1" V_REST, "bad id");
	expect_bad(V_ID "; t=01" V_REST, "bad t");
	expect_bad(V_ID "; t=-1" V_REST, "bad t");
	expect_bad(V_ID "; t=10000000000000000" V_REST, "bad t");
	expect_bad(V_ID "; t=1; engine=; db=1; verdict=clean; bh=" BH "; k=" KEYID "; s=" SIG,
		   "bad engine");
	expect_bad(V_ID "; t=1; engine=E; db=1; verdict=infected; bh=" BH "; k=" KEYID "; s=" SIG,
		   "bad verdict");
	expect_bad(V_ID "; t=1; engine=E; db=1; verdict=clean; bh=" BH "A; k=" KEYID "; s=" SIG,
		   "bad bh");
	expect_bad(V_ID "; t=1; engine=E; db=1; verdict=clean; bh=" BH_EMPTY "=; k=" KEYID
			"; s=" SIG,
		   "bad bh");
	/* 43 characters whose last one carries bits beyond 256: not canonical. */
	expect_bad(V_ID
		   "; t=1; engine=E; db=1; verdict=clean; bh=TJ6-uoQ1ECuhIQjwrpEan4R99CwIBp9vBq5"
		   "gFoJyPyt; k=" KEYID "; s=" SIG,
		   "bad bh");
	expect_bad(V_ID
		   "; t=1; engine=E; db=1; verdict=clean; bh=TJ6+uoQ1ECuhIQjwrpEan4R99CwIBp9vBq5"
		   "gFoJyPys; k=" KEYID "; s=" SIG,
		   "bad bh");
	expect_bad(V_ID "; t=1; engine=E; db=1; verdict=clean; bh=" BH
			"; k=4D4DBE917544B079; s=" SIG,
		   "bad k");
	expect_bad(V_ID "; t=1; engine=E; db=1; verdict=clean; bh=" BH "; k=" KEYID "; s=" BH,
		   "bad s");
	expect_bad(V_ID "; t=1\n" V_REST, "CR or LF outside a fold");
	expect_bad(V_ID "; t=1\r\n" V_REST, "CR or LF outside a fold");
	expect_bad(V_ID "; t=1" V_REST "\r\n", "CR or LF outside a fold");
	expect_bad(V_ID "; t=1; engine=\xc3\xa9" V_REST, "control or non-ASCII octet");
	expect_bad(V_ID "; t=1; engine=\x01" V_REST, "control or non-ASCII octet");
	memset(big, ' ', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	expect_bad(big, "value longer than 1024 octets");

	struct attest_stamp st;
	char err[100] = "";
	const char nul[] = " v=1\0; id=x";
	assert_int_equal(attest_parse(nul, sizeof(nul) - 1, &st, err, sizeof(err)), -1);
	assert_string_equal(err, "control or non-ASCII octet");
}

static void test_folding(void **state)
{
	struct fixture *f = *state;
	char field[2048];
	struct attest_stamp st;
	char err[200] = "";

	/* Every element on its own line with tabs, engine split, s cut in three. */
	snprintf(field, sizeof(field),
		 "X-Airlock-Scan:\r\n\tv=1;\r\n\tid=" ID ";\r\n t=1767225600 ;\r\n engine = "
		 "ClamAV\r\n\t  1.4.6;db=27450;\r\n verdict=clean;\r\n bh=TJ6-uoQ1ECuhIQjw\r\n "
		 "rpEan4R99CwIBp9vBq5gFoJyPys;\r\n k=" KEYID ";\r\n s=%.30s\r\n %.30s\r\n\t%s\r\n",
		 &SIG[0], &SIG[30], &SIG[60]);
	assert_int_equal(verify_text(f, message(field, BODY)), ATTEST_OK);
	assert_int_equal(attest_parse(field + 15, strlen(field) - 17, &st, err, sizeof(err)), 0);
	assert_string_equal(st.engine, "ClamAV 1.4.6");
	/* The builder's lines all fit in 78 octets, even with values at their caps. */
	make_stamp(&st, BODY);
	memset(st.id, 'A', ATTEST_ID_MAX);
	memset(st.engine, 'E', ATTEST_TEXT_MAX);
	memset(st.db, 'D', ATTEST_TEXT_MAX);
	st.time = ATTEST_TIME_MAX;
	assert_int_equal(attest_sign(&st, f->signer), 0);
	int n = attest_format_field(&st, field, ATTEST_FIELD_MAX);
	assert_true(n > 0);
	for (const char *l = field, *e; (e = strstr(l, "\r\n")) != NULL; l = e + 2)
		assert_true(e - l <= ATTEST_LINE_MAX && e > l);
	f->opts.now = ATTEST_TIME_MAX;
	assert_int_equal(verify_text(f, message(field, BODY)), ATTEST_OK);
	/* Out-of-syntax values are refused at signing time. */
	make_stamp(&st, BODY);
	snprintf(st.engine, sizeof(st.engine), "ClamAV  1.4.6");
	assert_int_equal(attest_sign(&st, f->signer), -1);
	make_stamp(&st, BODY);
	snprintf(st.id, sizeof(st.id), "a;b");
	assert_int_equal(attest_sign(&st, f->signer), -1);
	make_stamp(&st, BODY);
	st.verdict = 0;
	assert_int_equal(attest_sign(&st, f->signer), -1);
}

static void hash_hex(const char *msg, size_t len, char out[ATTEST_HASH_LEN * 2 + 1])
{
	unsigned char h[ATTEST_HASH_LEN];

	attest_body_hash(msg, len, h);
	sodium_bin2base64(out, ATTEST_HASH_LEN * 2 + 1, h, ATTEST_HASH_LEN,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void test_body_hash(void **state)
{
	(void)state;
	static const char msg[] = HEAD "X-Airlock-Scan: a\r\n b\r\n\r\n" BODY;
	char b64[ATTEST_HASH_LEN * 2 + 1];

	hash_hex(msg, sizeof(msg) - 1, b64);
	assert_string_equal(b64, BH);
	hash_hex("\r\n" BODY, strlen(BODY) + 2, b64);
	assert_string_equal(b64, BH);
	hash_hex(HEAD, strlen(HEAD), b64);
	assert_string_equal(b64, BH_EMPTY);
	hash_hex("A: b\r\n\r\n", 8, b64);
	assert_string_equal(b64, BH_EMPTY);
	/* A bare LF or CR is not a line end. */
	hash_hex("A: b\n\r\n" BODY, 7 + strlen(BODY), b64);
	assert_string_equal(b64, BH_EMPTY);
	hash_hex("A: b\r\r\n\r\n" BODY, 9 + strlen(BODY), b64);
	assert_string_equal(b64, BH);

	/* Every chunking gives the one-shot result and finds the field. */
	for (size_t chunk = 1; chunk <= sizeof(msg); chunk++) {
		struct attest_stream s;
		unsigned char h[ATTEST_HASH_LEN], want[ATTEST_HASH_LEN];

		attest_body_hash(msg, sizeof(msg) - 1, want);
		attest_stream_init(&s);
		for (size_t off = 0; off < sizeof(msg) - 1; off += chunk) {
			size_t n = sizeof(msg) - 1 - off < chunk ? sizeof(msg) - 1 - off : chunk;
			attest_stream_update(&s, msg + off, n);
		}
		assert_int_equal(s.nfields, 1);
		assert_int_equal(s.value_len, 6);
		assert_memory_equal(s.value, " a\r\n b", 6);
		attest_stream_body_hash(&s, h);
		assert_memory_equal(h, want, sizeof(h));
	}
}

static void test_chunked_verify(void **state)
{
	struct fixture *f = *state;
	struct attest_stamp st;
	char field[ATTEST_FIELD_MAX], err[200];

	make_stamp(&st, BODY);
	stamped(f->signer, &st, field);
	const char *msg = message(field, BODY);
	size_t len = strlen(msg);
	for (size_t chunk = 1; chunk < len; chunk += 7) {
		struct attest_stream s;
		attest_stream_init(&s);
		for (size_t off = 0; off < len; off += chunk)
			attest_stream_update(&s, msg + off, len - off < chunk ? len - off : chunk);
		assert_int_equal(
			attest_stream_verify(&s, f->trust, &f->opts, NULL, err, sizeof(err)),
			ATTEST_OK);
	}
}

static void expect_strip(const char *in, const char *want, size_t want_removed)
{
	char buf[1024];
	size_t removed = 99, len = strlen(in);

	memcpy(buf, in, len);
	len = attest_strip_incoming(buf, len, &removed);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	assert_int_equal(removed, want_removed);
}

static void test_strip(void **state)
{
	(void)state;

	expect_strip(
		"A: 1\r\nX-Airlock-Scan: v=1;\r\n s=abc\r\n\tdef\r\nB: 2\r\n\r\nX-Airlock-Scan: "
		"body\r\n",
		"A: 1\r\nB: 2\r\n\r\nX-Airlock-Scan: body\r\n", 1);
	expect_strip("x-AIRLOCK-scan:1\r\nX-Airlock-Whatever: 2\r\n folded\r\nX-AirlockX: 3\r\n"
		     "X-Airlock-\r\nC: x-airlock-no\r\n",
		     "X-AirlockX: 3\r\nC: x-airlock-no\r\n", 3);
	/* A last line without CRLF, a leading continuation line, bare CR and LF inside lines. */
	expect_strip(" lead\r\nA: 1\rX-Airlock-A: 2\r\nX-Airlock-B: 3\nZ: 4\r\nX-AIRLOCK-c",
		     " lead\r\nA: 1\rX-Airlock-A: 2\r\n", 2);
	expect_strip("", "", 0);
	expect_strip("\r\nX-Airlock-Scan: 1\r\n", "\r\nX-Airlock-Scan: 1\r\n", 0);
	expect_strip("A: 1\r\n", "A: 1\r\n", 0);
}

/* Key files. */

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/attest-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void write_text(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

static void cleanup(char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

/* The header section's length as the stream counts it, fed in chunks of every size. */
static void test_stream_header_len(void **state)
{
	(void)state;
	static const struct {
		const char *msg;
		size_t hlen;
	} cases[] = {
		{"Subject: a\r\n\r\nbody\r\n", 14},
		{"\r\nbody only\r\n", 2},
		{"Subject: no body", 16},
		{"Subject: a\r\n \r\n\r\nX: in body\r\n\r\n", 17}, /* a fold of blanks */
		{"Subject: a\r\n\rx\r\n\r\nbody", 18},		   /* a bare CR */
		{"", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].msg);
		for (size_t chunk = 1; chunk <= len + 1; chunk++) {
			struct attest_stream s;
			unsigned char h[ATTEST_HASH_LEN];
			attest_stream_init(&s);
			for (size_t o = 0; o < len; o += chunk)
				attest_stream_update(&s, cases[i].msg + o,
						     len - o < chunk ? len - o : chunk);
			if (attest_stream_header_len(&s) != cases[i].hlen)
				fail_msg("case %zu chunk %zu: %llu", i, chunk,
					 (unsigned long long)attest_stream_header_len(&s));
			attest_stream_body_hash(&s, h);
		}
	}
}

/* attest_edit(), and its prefix short cut taken exactly when nothing is removed. */
static void test_edit_prefix(void **state)
{
	(void)state;
	static const char plain[] = "Received: x\r\nSubject: a\r\n\r\nX-Airlock-Scan: body\r\n";
	static const size_t plain_hlen = 28;
	char *out, *prefix;
	size_t olen, nstrip, plen;

	assert_int_equal(
		attest_edit(plain, strlen(plain), "X-Virus-Status", "clean", &out, &olen, &nstrip),
		0);
	assert_int_equal(nstrip, 0);
	assert_int_equal(olen, strlen("X-Virus-Status: clean\r\n") + strlen(plain));
	assert_memory_equal(out, "X-Virus-Status: clean\r\n", 23);
	assert_memory_equal(out + 23, plain, strlen(plain));
	free(out);
	assert_int_equal(
		attest_edit_prefix(plain, plain_hlen, "X-Virus-Status", "clean", &prefix, &plen),
		1);
	assert_int_equal(plen, 23);
	assert_memory_equal(prefix, "X-Virus-Status: clean\r\n", 23);
	free(prefix);
	/* No result header: an empty prefix. */
	assert_int_equal(attest_edit_prefix(plain, plain_hlen, "", "clean", &prefix, &plen), 1);
	assert_int_equal(plen, 0);
	free(prefix);

	/* Fields to remove: no short cut, and attest_edit() removes them. */
	static const char forged[] = "x-airlock-scan: v=1\r\nSubject: a\r\n\r\nbody\r\n";
	assert_int_equal(attest_edit_prefix(forged, 36, "", "clean", &prefix, &plen), 0);
	assert_int_equal(attest_edit(forged, strlen(forged), "", "clean", &out, &olen, &nstrip), 0);
	assert_int_equal(nstrip, 1);
	assert_int_equal(olen, strlen("Subject: a\r\n\r\nbody\r\n"));
	assert_memory_equal(out, "Subject: a\r\n\r\nbody\r\n", olen);
	free(out);
	static const char status[] = "Subject: a\r\nX-VIRUS-STATUS: clean (forged)\r\n\r\nb";
	assert_int_equal(attest_edit_prefix(status, strlen(status) - 1, "X-Virus-Status", "v",
					    &prefix, &plen),
			 0);
	assert_int_equal(
		attest_edit(status, strlen(status), "X-Virus-Status", "v", &out, &olen, &nstrip),
		0);
	assert_int_equal(olen, strlen("X-Virus-Status: v\r\nSubject: a\r\n\r\nb"));
	assert_memory_equal(out, "X-Virus-Status: v\r\nSubject: a\r\n\r\nb", olen);
	free(out);
}

static void test_keys_create_load(void **state)
{
	(void)state;
	char *dir = tmpdir(), path[512], err[300] = "", line[128];
	struct attest_signer *a = NULL, *b = NULL;
	struct attest_trust *t = attest_trust_new();
	struct stat st;
	bool created = false;

	assert_int_equal(attest_signer_load_or_create(dir, &a, &created, err, sizeof(err)), 0);
	assert_true(created);
	snprintf(path, sizeof(path), "%s/attest.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, strlen(ATTEST_SECRET_TAG) + 1 + 43 + 1);
	snprintf(path, sizeof(path), "%s/attest.pub", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(attest_signer_load_or_create(dir, &b, &created, err, sizeof(err)), 0);
	assert_false(created);
	assert_memory_equal(a->pub.pk, b->pub.pk, ATTEST_PK_LEN);
	assert_memory_equal(a->sk, b->sk, ATTEST_SK_LEN);
	attest_signer_free(b);

	/* The public file is a trusted-keys file; so is a directory of *.pub. */
	assert_int_equal(attest_trust_load(t, path, err, sizeof(err)), 0);
	assert_int_equal(attest_trust_count(t), 1);
	assert_non_null(attest_trust_find(t, a->pub.id, 0));
	assert_null(attest_trust_find(t, a->pub.id, 1));
	assert_int_equal(attest_trust_load(t, dir, err, sizeof(err)), 0);
	assert_int_equal(attest_trust_count(t), 1);
	write_text(dir, "junk.pub~", "garbage\n", 0644);
	write_text(dir, "edge2.pub", "# second edge\n\nairlock-attest-ed25519 " PK_B64 " edge2\n",
		   0644);
	assert_int_equal(attest_trust_load(t, dir, err, sizeof(err)), 0);
	assert_int_equal(attest_trust_count(t), 2);
	assert_non_null(attest_trust_find(t, KEYID, 0));

	/* A stale attest.pub is rewritten from the secret key. */
	write_text(dir, "attest.pub", "old\n", 0644);
	assert_int_equal(attest_signer_load_or_create(dir, &b, NULL, err, sizeof(err)), 0);
	attest_signer_free(b);
	FILE *fp = fopen(path, "r");
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	char want[128];
	attest_pubkey_format(&a->pub, want, sizeof(want));
	assert_string_equal(line, want);
	attest_signer_free(a);
	attest_trust_free(t);
	cleanup(dir);
}

static void expect_load_error(const char *dir, const char *reason)
{
	struct attest_signer *s = (struct attest_signer *)1;
	char err[300] = "", want[600];

	assert_int_equal(attest_signer_load_or_create(dir, &s, NULL, err, sizeof(err)), -1);
	assert_null(s);
	snprintf(want, sizeof(want), "%s/attest.key: %s", dir, reason);
	assert_string_equal(err, want);
}

static void test_keys_refused(void **state)
{
	(void)state;
	char *dir = tmpdir(), path[512], target[512];
	struct attest_signer *s = NULL;
	char err[300];

	assert_int_equal(attest_signer_load_or_create(dir, &s, NULL, err, sizeof(err)), 0);
	attest_signer_free(s);
	snprintf(path, sizeof(path), "%s/attest.key", dir);
	assert_int_equal(chmod(path, 0644), 0);
	expect_load_error(dir, "mode 0644 gives group or others access, must be 0600");
	assert_int_equal(chmod(path, 0640), 0);
	expect_load_error(dir, "mode 0640 gives group or others access, must be 0600");
	assert_int_equal(chmod(path, 0600), 0);
	write_text(dir, "attest.key", ATTEST_SECRET_TAG " " PK_B64 "\nmore\n", 0600);
	expect_load_error(dir, "not an airlock attestation secret key");
	write_text(dir, "attest.key", ATTEST_SECRET_TAG " " PK_B64, 0600);
	expect_load_error(dir, "not an airlock attestation secret key");
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	write_text(dir, "elsewhere", ATTEST_SECRET_TAG " " SEED_B64 "\n", 0600);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(target, path), 0);
	expect_load_error(dir, "is a symbolic link");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(link(target, path), 0);
	expect_load_error(dir, "has 2 links, expected 1");
	assert_int_equal(unlink(target), 0);
	/* A good key file is taken as it is. */
	assert_int_equal(attest_signer_load_or_create(dir, &s, NULL, err, sizeof(err)), 0);
	assert_string_equal(s->pub.id, KEYID);
	attest_signer_free(s);
	cleanup(dir);
	assert_int_equal(
		attest_signer_load_or_create("/nonexistent-attest", &s, NULL, err, sizeof(err)),
		-1);
	assert_string_equal(err, "/nonexistent-attest: No such file or directory");
}

static void test_trust_parse(void **state)
{
	(void)state;
	struct attest_trust *t = attest_trust_new();
	char err[200] = "";
	static const char good[] = "# edges\n\nairlock-attest-ed25519 " PK_B64 "\n";

	assert_int_equal(attest_trust_parse(t, good, sizeof(good) - 1, err, sizeof(err)), 0);
	assert_int_equal(attest_trust_count(t), 1);
	static const char bad[] =
		"airlock-attest-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		" a\nairlock-attest-ed25519 " PK_B64 "x\n";
	assert_int_equal(attest_trust_parse(t, bad, sizeof(bad) - 1, err, sizeof(err)), -1);
	assert_string_equal(err, "line 2: bad key");
	assert_int_equal(attest_trust_count(t), 1); /* all or nothing */
	assert_int_equal(attest_trust_parse(t, "ssh-ed25519 AAAA\n", 17, err, sizeof(err)), -1);
	assert_string_equal(err, "line 1: expected \"airlock-attest-ed25519 KEY\"");
	assert_int_equal(attest_trust_parse(t, "#\r\n", 3, err, sizeof(err)), -1);
	assert_string_equal(err, "line 1: NUL or CR in line");
	attest_trust_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exact_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_and_unknown_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_freshness_and_verdict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_duplicate, setup, teardown),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test_setup_teardown(test_folding, setup, teardown),
		cmocka_unit_test(test_body_hash),
		cmocka_unit_test_setup_teardown(test_chunked_verify, setup, teardown),
		cmocka_unit_test(test_strip),
		cmocka_unit_test(test_stream_header_len),
		cmocka_unit_test(test_edit_prefix),
		cmocka_unit_test(test_keys_create_load),
		cmocka_unit_test(test_keys_refused),
		cmocka_unit_test(test_trust_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

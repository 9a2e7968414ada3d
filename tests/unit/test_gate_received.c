/*
 * What the hub does with a gate result: the Received: clause naming the
 * authenticated IKE identity (exact bytes, hostile identities, cutting), the
 * reply line, and the counters of refused sources.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/gate.h"

#define EDGE_ID "C=US, O=Example, CN=edge1.example.com"

static struct gate_result accepted(const char *identity)
{
	struct gate_result r;
	memset(&r, 0, sizeof(r));
	r.verdict = GATE_ACCEPT;
	r.reason = GATE_OK;
	r.enhanced = "";
	snprintf(r.peer, sizeof(r.peer), "192.0.2.1");
	snprintf(r.remote_id, sizeof(r.remote_id), "%s", identity);
	snprintf(r.conn, sizeof(r.conn), "edge1");
	snprintf(r.child, sizeof(r.child), "mail");
	r.ike_uniqueid = 1;
	r.child_uniqueid = 7;
	return r;
}

static struct gate_result refused(enum gate_verdict v, enum gate_reason reason, const char *peer)
{
	struct gate_result r;
	memset(&r, 0, sizeof(r));
	r.verdict = v;
	r.reason = reason;
	r.code = v == GATE_TEMPFAIL ? 421 : 554;
	r.enhanced = v == GATE_TEMPFAIL ? "4.7.0" : "5.7.1";
	snprintf(r.peer, sizeof(r.peer), "%s", peer);
	return r;
}

/*
 * Reads the identity back out of a clause: checks that the whole clause is
 * printable ASCII with balanced parentheses, undoes the quoted-pairs, then
 * the %XX escapes. Returns the decoded length, or -1 if malformed.
 */
static int decode_identity(const char *clause, char *out, size_t outsz)
{
	static const char head[] = "(IKE identity \"";
	int depth = 0;
	size_t n = 0;
	const char *p;

	for (p = clause; *p; p++) {
		if (*p < 0x20 || *p > 0x7e)
			return -1;
		if (*p == '\\') {
			if (!*++p)
				return -1;
			continue;
		}
		depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
		if (depth < 0 || (depth == 0 && p[1] != '\0'))
			return -1;
	}
	if (depth != 0 || strncmp(clause, head, sizeof(head) - 1) != 0)
		return -1;
	for (p = clause + sizeof(head) - 1; *p && *p != '"'; p++) {
		unsigned v;
		if (n + 1 >= outsz)
			return -1;
		if (*p == '\\') {
			out[n++] = *++p;
		} else if (*p == '%') {
			if (sscanf(p + 1, "%2X", &v) != 1)
				return -1;
			out[n++] = (char)v;
			p += 2;
		} else {
			out[n++] = *p;
		}
	}
	if (*p != '"')
		return -1;
	out[n] = '\0';
	return (int)n;
}

static void test_clause_exact(void **state)
{
	(void)state;
	struct gate_result r = accepted(EDGE_ID);
	char out[GATE_RECEIVED_MAX];
	const char *want =
		"(IKE identity \"C=US, O=Example, CN=edge1.example.com\", IKE_SA edge1[1], "
		"CHILD_SA mail{7})";
	assert_int_equal(gate_received_clause(&r, out, sizeof(out)), (int)strlen(want));
	assert_string_equal(out, want);

	r.ike_uniqueid = 4294967295u;
	r.child_uniqueid = 0;
	snprintf(r.conn, sizeof(r.conn), "a(b)");
	gate_received_clause(&r, out, sizeof(out));
	assert_string_equal(out, "(IKE identity \"" EDGE_ID "\", IKE_SA a\\(b\\)[4294967295], "
				 "CHILD_SA mail{0})");
}

static void test_clause_hostile(void **state)
{
	(void)state;
	struct gate_result r = accepted("a\"b(c)d\\e%f\r\nX-Airlock-Scan: 1\t\xc3\xbc\x7f)");
	char out[GATE_RECEIVED_MAX], back[GATE_STR_MAX];
	gate_received_clause(&r, out, sizeof(out));
	assert_string_equal(out, "(IKE identity \"a\\\"b\\(c\\)d\\\\e%25f%0D%0AX-Airlock-Scan: "
				 "1%09%C3%BC%7F\\)\", IKE_SA edge1[1], CHILD_SA mail{7})");
	assert_null(strchr(out, '\r'));
	assert_null(strchr(out, '\n'));
	assert_int_equal(decode_identity(out, back, sizeof(back)), (int)strlen(r.remote_id));
	assert_string_equal(back, r.remote_id);
}

/* Every byte value survives the round trip and never breaks the header. */
static void test_clause_every_byte(void **state)
{
	(void)state;
	char id[256], back[GATE_STR_MAX], out[GATE_RECEIVED_MAX * 2];
	for (int b = 1; b < 256; b++) {
		snprintf(id, sizeof(id), "x%cy%c", b, b);
		struct gate_result r = accepted(id);
		assert_true(gate_received_clause(&r, out, sizeof(out)) > 0);
		assert_int_equal(decode_identity(out, back, sizeof(back)), 4);
		assert_memory_equal(back, id, 4);
	}
}

static void test_clause_cut(void **state)
{
	(void)state;
	char id[GATE_STR_MAX], out[GATE_RECEIVED_MAX], back[GATE_STR_MAX];
	const char *tail = "...\", IKE_SA edge1[1], CHILD_SA mail{7})";

	/* 1024 plain bytes: cut to fill the buffer exactly. */
	memset(id, 'A', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	struct gate_result r = accepted(id);
	int n = gate_received_clause(&r, out, sizeof(out));
	assert_int_equal(n, GATE_RECEIVED_MAX - 1);
	assert_int_equal(strlen(out), GATE_RECEIVED_MAX - 1);
	assert_string_equal(out + n - strlen(tail), tail);
	assert_true(decode_identity(out, back, sizeof(back)) > 0);

	/* Escapes are never split: only whole "\(" pairs and whole %XX before the marker. */
	for (size_t fill = 0; fill < 3; fill++) {
		memset(id, '(', sizeof(id) - 1);
		memset(id, 'B', fill);
		r = accepted(id);
		n = gate_received_clause(&r, out, sizeof(out));
		assert_true(n > 0 && n < GATE_RECEIVED_MAX);
		assert_string_equal(out + n - strlen(tail), tail);
		assert_int_equal(decode_identity(out, back, sizeof(back)) >= 0, 1);
		for (size_t i = fill; back[i] && back[i] != '.'; i++)
			assert_int_equal(back[i], '(');
		memset(id, '\x80', sizeof(id) - 1);
		r = accepted(id);
		n = gate_received_clause(&r, out, sizeof(out) - fill);
		assert_true(n > 0);
		assert_string_equal(out + n - strlen(tail), tail);
		assert_true(decode_identity(out, back, sizeof(back)) > 0);
	}
}

static void test_clause_refused(void **state)
{
	(void)state;
	char out[GATE_RECEIVED_MAX];
	struct gate_result r = refused(GATE_REJECT, GATE_NO_SA, "192.0.2.66");
	memset(out, 'x', sizeof(out));
	assert_int_equal(gate_received_clause(&r, out, sizeof(out)), -1);
	assert_string_equal(out, "");

	/* Room for the names but not even for the cut marker. */
	r = accepted(EDGE_ID);
	const size_t least =
		strlen("(IKE identity \"...\", IKE_SA edge1[1], CHILD_SA mail{7})") + 1;
	assert_int_equal(gate_received_clause(&r, out, least - 1), -1);
	assert_string_equal(out, "");
	assert_int_equal(gate_received_clause(&r, out, least), (int)least - 1);
	assert_string_equal(out, "(IKE identity \"...\", IKE_SA edge1[1], CHILD_SA mail{7})");
	assert_int_equal(gate_received_clause(&r, out, 0), -1);
}

static void test_reply(void **state)
{
	(void)state;
	char out[64];
	struct gate_result r = refused(GATE_TEMPFAIL, GATE_VICI_DOWN, "192.0.2.1");
	snprintf(r.text, sizeof(r.text), "VICI unreachable");
	assert_string_equal(gate_reply(&r, out, sizeof(out)), "421 4.7.0 VICI unreachable");
	assert_string_equal(gate_reply(&r, out, 10), "421 4.7.0");
	r = accepted(EDGE_ID);
	assert_string_equal(gate_reply(&r, out, sizeof(out)), "");
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(gate_reason_name(GATE_OK), "ok");
	assert_string_equal(gate_reason_name(GATE_VICI_DOWN), "vici-down");
	assert_string_equal(gate_reason_name(GATE_TABLE_STALE), "table-stale");
	assert_string_equal(gate_reason_name(GATE_LOCAL_ADDRESS), "local-address");
	assert_string_equal(gate_reason_name(GATE_PEER_ADDRESS), "peer-address");
	assert_string_equal(gate_reason_name(GATE_NO_SA), "no-sa");
	assert_string_equal(gate_reason_name(GATE_AMBIGUOUS), "ambiguous");
	assert_string_equal(gate_reason_name(GATE_NO_IDENTITY), "no-identity");
	assert_string_equal(gate_reason_name(GATE_REASON_COUNT), "unknown");
	assert_string_equal(gate_verdict_name(GATE_ACCEPT), "accept");
	assert_string_equal(gate_verdict_name(GATE_TEMPFAIL), "tempfail");
	assert_string_equal(gate_verdict_name(GATE_REJECT), "reject");
}

static void test_counters(void **state)
{
	(void)state;
	struct gate_counters c;
	memset(&c, 0, sizeof(c));
	struct gate_result a = accepted(EDGE_ID);
	struct gate_result nosa = refused(GATE_REJECT, GATE_NO_SA, "192.0.2.66");
	struct gate_result amb = refused(GATE_REJECT, GATE_AMBIGUOUS, "192.0.2.1");
	struct gate_result down = refused(GATE_TEMPFAIL, GATE_VICI_DOWN, "203.0.113.66");
	struct gate_result stale = refused(GATE_TEMPFAIL, GATE_TABLE_STALE, "192.0.2.1");

	assert_string_equal(c.last_refused, "");
	assert_int_equal(c.last_reason, GATE_OK);
	gate_counters_note(&c, &a);
	gate_counters_note(&c, &a);
	gate_counters_note(&c, &nosa);
	gate_counters_note(&c, &nosa);
	gate_counters_note(&c, &amb);
	gate_counters_note(&c, &stale);
	gate_counters_note(&c, &down);
	assert_int_equal(c.accepted, 2);
	assert_int_equal(c.by_reason[GATE_OK], 2);
	assert_int_equal(c.by_reason[GATE_NO_SA], 2);
	assert_int_equal(c.by_reason[GATE_AMBIGUOUS], 1);
	assert_int_equal(c.by_reason[GATE_VICI_DOWN], 1);
	assert_int_equal(c.by_reason[GATE_TABLE_STALE], 1);
	assert_int_equal(c.by_reason[GATE_PEER_ADDRESS], 0);
	assert_int_equal(gate_counters_rejected(&c), 3);
	assert_int_equal(gate_counters_tempfailed(&c), 2);
	assert_string_equal(c.last_refused, "203.0.113.66");
	assert_int_equal(c.last_reason, GATE_VICI_DOWN);

	/* An accept does not change the last refused source. */
	gate_counters_note(&c, &a);
	assert_string_equal(c.last_refused, "203.0.113.66");

	/* Saturation, not wrap-around, for a counter and for the sums. */
	c.by_reason[GATE_NO_SA] = UINT64_MAX;
	gate_counters_note(&c, &nosa);
	assert_true(c.by_reason[GATE_NO_SA] == UINT64_MAX);
	assert_true(gate_counters_rejected(&c) == UINT64_MAX);
	assert_int_equal(gate_counters_tempfailed(&c), 2);

	/* A refusal that claims no reason still counts as a refusal. */
	struct gate_result odd = refused(GATE_REJECT, GATE_OK, "192.0.2.99");
	c.by_reason[GATE_NO_SA] = 0;
	gate_counters_note(&c, &odd);
	assert_int_equal(c.by_reason[GATE_NO_SA], 1);
	assert_int_equal(c.accepted, 3);
	assert_string_equal(c.last_refused, "192.0.2.99");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clause_exact),
		cmocka_unit_test(test_clause_hostile),
		cmocka_unit_test(test_clause_every_byte),
		cmocka_unit_test(test_clause_cut),
		cmocka_unit_test(test_clause_refused),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_counters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

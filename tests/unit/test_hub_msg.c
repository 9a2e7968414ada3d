/*
 * airlock-hub's parent <-> smtp messages: round trips and the readers'
 * fail-closed checks (trailing bytes, lengths, values out of range).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "relay/hub/hub_msg.h"

static void accepted_result(struct gate_result *g, const char *id)
{
	memset(g, 0, sizeof(*g));
	g->verdict = GATE_ACCEPT;
	g->reason = GATE_OK;
	g->enhanced = "";
	snprintf(g->peer, sizeof(g->peer), "192.0.2.1");
	g->peer_port = 40123;
	snprintf(g->remote_id, sizeof(g->remote_id), "%s", id);
	snprintf(g->conn, sizeof(g->conn), "airlock");
	snprintf(g->child, sizeof(g->child), "airlock");
	g->ike_uniqueid = 7;
	g->child_uniqueid = 9;
}

static int read_conn(const struct ipc_writer *w, struct hub_conn *out)
{
	struct ipc_reader r;
	ipc_reader_init(&r, w->buf, w->len);
	return hub_msg_get_conn(&r, out);
}

static void test_conn_round_trip(void **state)
{
	struct gate_result g;
	struct hub_conn c, back;
	struct ipc_writer w;
	(void)state;

	/* An identity with characters the Received: clause must escape. */
	accepted_result(&g, "C=US, O=Ex (\"a\"), CN=edge.example.com");
	hub_conn_from_gate(&g, &c);
	assert_string_equal(c.peer, "192.0.2.1");
	assert_int_equal(c.peer_port, 40123);
	assert_non_null(strstr(c.received, "IKE identity"));
	assert_non_null(strstr(c.received, "\\(\\\"a\\\"\\)"));
	ipc_writer_init(&w);
	assert_int_equal(hub_msg_put_conn(&w, &c), 0);
	assert_int_equal(read_conn(&w, &back), 0);
	assert_memory_equal(&c, &back, sizeof(c));

	/* One byte more or less: refused. */
	ipc_put_u8(&w, 0);
	assert_int_equal(read_conn(&w, &back), -1);
	w.len -= 2;
	assert_int_equal(read_conn(&w, &back), -1);
	ipc_writer_free(&w);
}

static void expect_conn_refused(const struct hub_conn *c)
{
	struct ipc_writer w;
	struct hub_conn back;
	ipc_writer_init(&w);
	assert_int_equal(hub_msg_put_conn(&w, c), 0);
	assert_int_equal(read_conn(&w, &back), -1);
	ipc_writer_free(&w);
}

static void test_conn_bad_values(void **state)
{
	struct gate_result g;
	struct hub_conn c, bad;
	(void)state;

	accepted_result(&g, "edge.example.com");
	hub_conn_from_gate(&g, &c);
	bad = c;
	bad.remote_id[0] = '\0'; /* no identity: never served */
	expect_conn_refused(&bad);
	bad = c;
	bad.peer[0] = '\0';
	expect_conn_refused(&bad);
	bad = c;
	snprintf(bad.received, sizeof(bad.received), "(IKE identity) and more");
	expect_conn_refused(&bad);
	bad = c;
	snprintf(bad.received, sizeof(bad.received), "(line\r\nbreak)");
	expect_conn_refused(&bad);
	bad = c;
	snprintf(bad.received, sizeof(bad.received), "(unbalanced");
	expect_conn_refused(&bad);
	bad = c;
	bad.conn[0] = '\x7f';
	expect_conn_refused(&bad);

	/* A port over 65535. */
	struct ipc_writer w;
	ipc_writer_init(&w);
	ipc_put_str(&w, c.peer);
	ipc_put_u32(&w, 70000);
	ipc_put_str(&w, c.remote_id);
	ipc_put_str(&w, c.conn);
	ipc_put_str(&w, c.child);
	ipc_put_u32(&w, 1);
	ipc_put_u32(&w, 1);
	ipc_put_str(&w, c.received);
	assert_int_equal(read_conn(&w, &bad), -1);
	ipc_writer_free(&w);
}

static void test_keys_round_trip(void **state)
{
	struct attest_trust *t = attest_trust_new(), *back = NULL;
	unsigned char pk[ATTEST_PK_LEN];
	struct ipc_writer w;
	struct ipc_reader r;
	(void)state;

	for (int i = 0; i < 3; i++) {
		memset(pk, 'a' + i, sizeof(pk));
		assert_int_equal(attest_trust_add(t, pk), 0);
	}
	ipc_writer_init(&w);
	assert_int_equal(hub_msg_put_keys(&w, t), 0);
	assert_int_equal(w.len, 4 + 3 * ATTEST_PK_LEN);
	ipc_reader_init(&r, w.buf, w.len);
	assert_int_equal(hub_msg_get_keys(&r, &back), 0);
	assert_int_equal(attest_trust_count(back), 3);
	for (size_t i = 0; i < 3; i++)
		assert_memory_equal(attest_trust_get(back, i)->pk, attest_trust_get(t, i)->pk,
				    ATTEST_PK_LEN);
	attest_trust_free(back);

	/* A count that does not match the keys that follow. */
	w.buf[3] = 4;
	ipc_reader_init(&r, w.buf, w.len);
	assert_int_equal(hub_msg_get_keys(&r, &back), -1);
	assert_null(back);
	w.buf[3] = 2;
	ipc_reader_init(&r, w.buf, w.len);
	assert_int_equal(hub_msg_get_keys(&r, &back), -1);
	/* More than a trust set may hold. */
	w.buf[0] = 0x7f;
	ipc_reader_init(&r, w.buf, w.len);
	assert_int_equal(hub_msg_get_keys(&r, &back), -1);
	ipc_writer_free(&w);

	/* An empty set is a valid message. */
	struct attest_trust *empty = attest_trust_new();
	ipc_writer_init(&w);
	assert_int_equal(hub_msg_put_keys(&w, empty), 0);
	ipc_reader_init(&r, w.buf, w.len);
	assert_int_equal(hub_msg_get_keys(&r, &back), 0);
	assert_int_equal(attest_trust_count(back), 0);
	attest_trust_free(back);
	attest_trust_free(empty);
	ipc_writer_free(&w);
	attest_trust_free(t);
}

static int read_result(uint8_t a, uint8_t p, struct hub_result *out)
{
	uint8_t buf[2] = {a, p};
	struct ipc_reader r;
	ipc_reader_init(&r, buf, sizeof(buf));
	return hub_msg_get_result(&r, out);
}

static void test_result(void **state)
{
	struct hub_result res = {ATTEST_OK, HUB_PROXY_DELIVERED}, back;
	struct ipc_writer w;
	struct ipc_reader r;
	(void)state;

	ipc_writer_init(&w);
	assert_int_equal(hub_msg_put_result(&w, &res), 0);
	ipc_reader_init(&r, w.buf, w.len);
	assert_int_equal(hub_msg_get_result(&r, &back), 0);
	assert_int_equal(back.attest, ATTEST_OK);
	assert_int_equal(back.proxy, HUB_PROXY_DELIVERED);
	ipc_writer_free(&w);

	assert_int_equal(read_result(ATTEST_BODY_MISMATCH, HUB_PROXY_NONE, &back), 0);
	assert_int_equal(back.attest, ATTEST_BODY_MISMATCH);
	/* Proxied exactly when the stamp was good. */
	assert_int_equal(read_result(ATTEST_OK, HUB_PROXY_NONE, &back), -1);
	assert_int_equal(read_result(ATTEST_MISSING, HUB_PROXY_DELIVERED, &back), -1);
	/* Out of range. */
	assert_int_equal(read_result(ATTEST_UNSCANNED + 1, HUB_PROXY_NONE, &back), -1);
	assert_int_equal(read_result(ATTEST_OK, HUB_PROXY_OUTCOME_COUNT, &back), -1);
	assert_string_equal(hub_proxy_outcome_name(HUB_PROXY_TEMPFAILED), "tempfailed");
	/* A duplicate (hub_dedupe.h) is a verified stamp answered without a second delivery. */
	assert_int_equal(read_result(ATTEST_OK, HUB_PROXY_DUPLICATE, &back), 0);
	assert_int_equal(back.proxy, HUB_PROXY_DUPLICATE);
	assert_int_equal(read_result(ATTEST_STALE, HUB_PROXY_DUPLICATE, &back), -1);
	assert_string_equal(hub_proxy_outcome_name(HUB_PROXY_DUPLICATE), "duplicate");
}

static void test_pool(void **state)
{
	struct hub_pool_stats st = {.opened = 5000000000ULL, .reused = 7, .idle = 3}, back;
	struct ipc_writer w;
	struct ipc_reader r;
	(void)state;

	ipc_writer_init(&w);
	assert_int_equal(hub_msg_put_pool(&w, &st), 0);
	ipc_reader_init(&r, w.buf, w.len);
	assert_int_equal(hub_msg_get_pool(&r, &back), 0);
	assert_true(back.opened == st.opened && back.reused == 7 && back.idle == 3);
	/* Short, trailing bytes, an absurd idle count. */
	ipc_reader_init(&r, w.buf, w.len - 1);
	assert_int_equal(hub_msg_get_pool(&r, &back), -1);
	ipc_writer_free(&w);
	ipc_writer_init(&w);
	hub_msg_put_pool(&w, &st);
	ipc_put_u8(&w, 0);
	ipc_reader_init(&r, w.buf, w.len);
	assert_int_equal(hub_msg_get_pool(&r, &back), -1);
	ipc_writer_free(&w);
	st.idle = HUB_POOL_IDLE_MAX + 1;
	ipc_writer_init(&w);
	hub_msg_put_pool(&w, &st);
	ipc_reader_init(&r, w.buf, w.len);
	assert_int_equal(hub_msg_get_pool(&r, &back), -1);
	ipc_writer_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conn_round_trip),
		cmocka_unit_test(test_conn_bad_values),
		cmocka_unit_test(test_keys_round_trip),
		cmocka_unit_test(test_result),
		cmocka_unit_test(test_pool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

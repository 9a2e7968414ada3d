/*
 * scan_reply: the scan verdict on the wire round-trips and its reader
 * fails closed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "relay/scan_reply.h"

static void encode(const struct scan_reply *r, struct ipc_writer *w)
{
	ipc_writer_init(w);
	assert_int_equal(scan_reply_put(w, r), 0);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct scan_reply in = {.seq = 77, .action = SCAN_REPLY_REJECT, .has_content = false};
	strcpy(in.reply, "550 5.7.1 Message rejected: virus found (X)");
	strcpy(in.engine, "ClamAV 1.4.6");
	strcpy(in.db, "27450");
	strcpy(in.log, " verdict=infected virus=X");
	struct ipc_writer w;
	encode(&in, &w);
	struct ipc_reader rd;
	struct scan_reply out;
	ipc_reader_init(&rd, w.buf, w.len);
	assert_int_equal(scan_reply_get(&rd, &out), 0);
	assert_int_equal(out.seq, 77);
	assert_int_equal(out.action, SCAN_REPLY_REJECT);
	assert_string_equal(out.reply, in.reply);
	assert_string_equal(out.engine, "ClamAV 1.4.6");
	assert_string_equal(out.db, "27450");
	assert_string_equal(out.log, in.log);
	assert_false(out.has_content);
	/* trailing byte */
	ipc_put_u8(&w, 0);
	ipc_reader_init(&rd, w.buf, w.len);
	assert_int_equal(scan_reply_get(&rd, &out), -1);
	/* every truncation */
	for (size_t n = 0; n + 1 < w.len; n++) {
		ipc_reader_init(&rd, w.buf, n);
		assert_int_equal(scan_reply_get(&rd, &out), -1);
	}
	ipc_writer_free(&w);
}

static void test_checks(void **state)
{
	(void)state;
	struct scan_reply r = {.seq = 1, .action = SCAN_REPLY_REJECT};
	strcpy(r.reply, "451 4.7.1 x"); /* a reject must be 5xx */
	struct ipc_writer w;
	struct ipc_reader rd;
	struct scan_reply out;
	encode(&r, &w);
	ipc_reader_init(&rd, w.buf, w.len);
	assert_int_equal(scan_reply_get(&rd, &out), -1);
	ipc_writer_free(&w);
	r.action = SCAN_REPLY_TEMPFAIL; /* and a tempfail 4xx */
	encode(&r, &w);
	ipc_reader_init(&rd, w.buf, w.len);
	assert_int_equal(scan_reply_get(&rd, &out), 0);
	ipc_writer_free(&w);
	r.action = (enum scan_reply_action)(SCAN_REPLY_ACTION_LAST + 1);
	encode(&r, &w);
	ipc_reader_init(&rd, w.buf, w.len);
	assert_int_equal(scan_reply_get(&rd, &out), -1);
	ipc_writer_free(&w);
	r.action = SCAN_REPLY_ACCEPT;
	r.has_content = true;
	encode(&r, &w);
	w.buf[w.len - 1] = 2; /* has_content must be 0 or 1 */
	ipc_reader_init(&rd, w.buf, w.len);
	assert_int_equal(scan_reply_get(&rd, &out), -1);
	w.buf[w.len - 1] = 1;
	ipc_reader_init(&rd, w.buf, w.len);
	assert_int_equal(scan_reply_get(&rd, &out), 0);
	assert_true(out.has_content);
	ipc_writer_free(&w);
	assert_string_equal(scan_reply_action_name(SCAN_REPLY_ACCEPT_UNSCANNED),
			    "accept-unscanned");
	assert_string_equal(scan_reply_action_name((enum scan_reply_action)0), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

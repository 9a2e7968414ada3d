/*
 * Unit tests for the SMTP server engine, content side: every smuggling
 * variant of notes/smtp.md through the real engine (strict and normalising),
 * dot-stuffing, size limit during DATA, the Received: field, loop
 * detection, BDAT chunks and their errors, DATA/BDAT mixing, the sink's
 * asynchronous done() with pipelined commands waiting, and sink failures.
 */
#include <regex.h>

#include "test_smtp_server_harness.h"

struct smuggle_case {
	const char *name;
	const char *eod; /* the fake end of data */
	const char *normalised;
};

/*
 * Each variant is followed by commands an attacker wants run, then the real
 * end of data, then a NOOP: the server must answer exactly one end-of-data
 * reply and then the NOOP.
 */
static const struct smuggle_case smuggle_cases[] = {
	{"lf-dot-lf", "\n.\n", "\r\n.\r\n"},
	{"lf-dot-crlf", "\n.\r\n", "\r\n.\r\n"},
	/* Here the "." starts a line after a real CRLF, so it is unstuffed like any other. */
	{"crlf-dot-lf", "\r\n.\n", "\r\n\r\n"},
	{"cr-dot-cr", "\r.\r", "\r\n.\r\n"},
	{"crcrlf-dot-crcrlf", "\r\r\n.\r\r\n", "\r\n\r\n\r\n\r\n"},
};

#define SMUGGLED "MAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"

static void run_smuggle(const struct smuggle_case *c, bool normalise)
{
	struct harness h;
	char content[512], want[512];

	h_default_opts(&h.opts);
	h.opts.normalise_bare_newlines = normalise;
	h_start(&h, &h.opts);
	h_connect(&h);
	h_envelope(&h);
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	snprintf(content, sizeof(content),
		 "Subject: t\r\n\r\nhello%s" SMUGGLED "bad\r\n.\r\nNOOP\r\n", c->eod);
	h_send(&h, content);
	if (normalise) {
		h_expect(&h, "250 2.0.0 Ok: queued as Q1");
		snprintf(want, sizeof(want), "Subject: t\r\n\r\nhello%s" SMUGGLED "bad\r\n",
			 c->normalised);
		assert_int_equal(h.sink.nmsgs, 1);
		assert_string_equal(h_content(&h, 0), want);
	} else {
		h_expect(&h, "550 5.5.2 Bare CR or LF in message content");
		assert_int_equal(h.sink.nmsgs, 0);
		assert_int_equal(h.sink.aborted, 1);
	}
	h_expect(&h, "250 2.0.0 Ok");
	h_expect_silence(&h, 20);
	assert_int_equal(h.sink.begun, 1);
	h_stop(&h);
}

static void test_smuggling_strict(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(smuggle_cases) / sizeof(smuggle_cases[0]); i++) {
		print_message("variant %s\n", smuggle_cases[i].name);
		run_smuggle(&smuggle_cases[i], false);
	}
}

static void test_smuggling_normalised(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(smuggle_cases) / sizeof(smuggle_cases[0]); i++) {
		print_message("variant %s\n", smuggle_cases[i].name);
		run_smuggle(&smuggle_cases[i], true);
	}
}

static void test_bdat_bare_lf(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_envelope(&h);
	/* 17 octets holding a bare LF and a fake "\n.\n"; then the next command. */
	h_send(&h, "BDAT 17 LAST\r\nhello\n.\nNOOP\r\nxxxNOOP\r\n");
	h_expect(&h, "550 5.5.2 Bare CR or LF in message content");
	h_expect(&h, "250 2.0.0 Ok");
	h_expect_silence(&h, 20);
	assert_int_equal(h.sink.nmsgs, 0);
	assert_int_equal(h.sink.aborted, 1);
	h_stop(&h);
}

static void test_dot_stuffing(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_envelope(&h);
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "..dot\r\n...\r\n.x\r\nend.\r\n.\r\n");
	h_expect(&h, "250 2.0.0 Ok: queued as Q1");
	assert_string_equal(h_content(&h, 0), ".dot\r\n..\r\nx\r\nend.\r\n");
	h_stop(&h);
}

static void test_size_during_data(void **state)
{
	struct harness h;
	char *big = malloc(12000);
	struct smtp_server_stats st;

	(void)state;
	assert_non_null(big);
	for (int i = 0; i < 12000; i += 100) {
		memset(big + i, 'a', 98);
		memcpy(big + i + 98, "\r\n", 2);
	}
	h_start(&h, NULL);
	h_connect(&h);
	h_envelope(&h);
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	h_send_len(&h, big, 12000);
	h_send(&h, ".\r\nNOOP\r\n");
	h_expect(&h, "552 5.3.4 Message size exceeds fixed limit");
	h_expect(&h, "250 2.0.0 Ok");
	assert_int_equal(h.sink.nmsgs, 0);
	assert_int_equal(h.sink.aborted, 1);
	/* Exactly the limit is fine. */
	h_send(&h, "MAIL FROM:<a@example.org>\r\nRCPT TO:<r@example.com>\r\nDATA\r\n");
	h_expect(&h, "250 2.1.0 Ok");
	h_expect(&h, "250 2.1.5 Ok");
	h_expect_prefix(&h, "354 ");
	h_send_len(&h, big, 10000);
	h_send(&h, ".\r\n");
	h_expect(&h, "250 2.0.0 Ok: queued as Q1");
	smtp_server_get_stats(h.srv, &st);
	assert_int_equal(st.messages_rejected, 1);
	assert_int_equal(st.messages_accepted, 1);
	free(big);
	h_stop(&h);
}

static void test_received_header(void **state)
{
	struct harness h;
	regex_t re;
	int rc;

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_envelope(&h);
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "Subject: x\r\n\r\nbody\r\n.\r\n");
	h_expect(&h, "250 2.0.0 Ok: queued as Q1");
	assert_int_equal(
		regcomp(&re,
			"^Received: from client\\.example\\.org \\(unknown "
			"\\[192\\.0\\.2\\.10\\]\\)\r\n"
			"\tby mx\\.example\\.com \\(airlock\\) with ESMTP id [0-9a-f]{16}\r\n"
			"\tfor <rcpt@example\\.com>;\r\n"
			"\t(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
			"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
			"[0-9]{2}:[0-9]{2}:[0-9]{2} \\+0000\r\n"
			"Subject: x\r\n\r\nbody\r\n$",
			REG_EXTENDED),
		0);
	rc = regexec(&re, h.sink.msgs[0], 0, NULL, 0);
	if (rc != 0)
		print_error("stored: %s\n", h.sink.msgs[0]);
	assert_int_equal(rc, 0);
	regfree(&re);

	/* Two recipients: no "for"; SMTPUTF8 changes the protocol name. */
	h_send(&h, "MAIL FROM:<\xc3\xa9@example.org> SMTPUTF8\r\n");
	h_expect(&h, "250 2.1.0 Ok");
	h_send(&h, "RCPT TO:<a@example.com>\r\n");
	h_expect(&h, "250 2.1.5 Ok");
	h_send(&h, "RCPT TO:<b@example.com>\r\n");
	h_expect(&h, "250 2.1.5 Ok");
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "x\r\n.\r\n");
	h_expect(&h, "250 2.0.0 Ok: queued as Q2");
	assert_non_null(strstr(h.sink.msgs[1], " with UTF8SMTP id "));
	assert_null(strstr(h.sink.msgs[1], "\tfor <"));
	h_stop(&h);
}

static void send_hops(struct harness *h, int hops)
{
	char *m = malloc((size_t)hops * 64 + 64);
	size_t off = 0;

	assert_non_null(m);
	for (int i = 0; i < hops; i++)
		off += (size_t)sprintf(m + off, "Received: from hop%d.example by x.example\r\n", i);
	off += (size_t)sprintf(m + off, "\r\nbody\r\n.\r\n");
	h_send(h, "MAIL FROM:<a@example.org>\r\nRCPT TO:<r@example.com>\r\nDATA\r\n");
	h_expect(h, "250 2.1.0 Ok");
	h_expect(h, "250 2.1.5 Ok");
	h_expect_prefix(h, "354 ");
	h_send_len(h, m, off);
	free(m);
}

static void test_loop_detection(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "EHLO client.example.org\r\n");
	h_expect_prefix(&h, "250 CHUNKING");
	send_hops(&h, 51);
	h_expect(&h, "554 5.4.0 Too many hops (mail loop?)");
	assert_int_equal(h.sink.nmsgs, 0);
	send_hops(&h, 50);
	h_expect(&h, "250 2.0.0 Ok: queued as Q1");
	h_stop(&h);
}

static void test_bdat(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	/* Refused chunks are read and dropped: their octets never run. */
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "BDAT 6\r\nQUIT\r\n");
	h_expect(&h, "503 5.5.1 Send EHLO or HELO first");
	h_send(&h, "EHLO client.example.org\r\n");
	h_expect_prefix(&h, "250 CHUNKING");
	h_send(&h, "BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n");
	h_expect(&h, "503 5.5.1 Need MAIL command");
	h_expect(&h, "250 2.0.0 Ok");
	h_send(&h, "MAIL FROM:<a@example.org>\r\nBDAT 4\r\nRSETNOOP\r\n");
	h_expect(&h, "250 2.1.0 Ok");
	h_expect(&h, "554 5.5.1 No valid recipients");
	h_expect(&h, "250 2.0.0 Ok");
	/* A message in three chunks, a CRLF split between two, pipelined. */
	h_send(&h, "RCPT TO:<r@example.com>\r\nBDAT 6\r\nhello\rBDAT 8\r\n\nworld\r\n"
		   "BDAT 0 LAST\r\nNOOP\r\n");
	h_expect(&h, "250 2.1.5 Ok");
	h_expect(&h, "250 2.0.0 6 octets received");
	h_expect(&h, "250 2.0.0 8 octets received");
	h_expect(&h, "250 2.0.0 Ok: queued as Q1");
	h_expect(&h, "250 2.0.0 Ok");
	assert_string_equal(h_content(&h, 0), "hello\r\nworld\r\n");
	/* An error in a middle chunk ends the transaction; later chunks are dropped. */
	h_send(&h, "MAIL FROM:<a@example.org>\r\nRCPT TO:<r@example.com>\r\n"
		   "BDAT 3\r\na\nbBDAT 6 LAST\r\nNOOP\r\nNOOP\r\n");
	h_expect(&h, "250 2.1.0 Ok");
	h_expect(&h, "250 2.1.5 Ok");
	h_expect(&h, "550 5.5.2 Bare CR or LF in message content");
	h_expect(&h, "503 5.5.1 Need MAIL command");
	h_expect(&h, "250 2.0.0 Ok");
	/* An unreadable size cannot be resynced: 501 and close. */
	h_send(&h, "BDAT lots\r\n");
	h_expect(&h, "501 5.5.4 Syntax: BDAT size [LAST]");
	h_expect_closed(&h);
	assert_int_equal(h.sink.nmsgs, 1);
	assert_int_equal(h.sink.aborted, 1);
	h_stop(&h);
}

static void test_data_bdat_mixing(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_envelope(&h);
	h_send(&h, "BDAT 3\r\nabc");
	h_expect(&h, "250 2.0.0 3 octets received");
	h_send(&h, "DATA\r\n");
	h_expect(&h, "503 5.5.1 DATA and BDAT cannot be mixed");
	h_send(&h, "RCPT TO:<more@example.com>\r\n");
	h_expect(&h, "503 5.5.1 DATA and BDAT cannot be mixed");
	h_send(&h, "BDAT 2 LAST\r\n\r\n");
	h_expect(&h, "250 2.0.0 Ok: queued as Q1");
	assert_string_equal(h_content(&h, 0), "abc\r\n");
	assert_int_equal(h.sink.begun, 1);
	h_stop(&h);
}

static void test_async_done_holds_pipeline(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h.sink.delay_ms = 300;
	h_connect(&h);
	h_envelope(&h);
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "one\r\n.\r\nNOOP\r\nMAIL FROM:<b@example.org>\r\nRCPT TO:<c@example.com>\r\n");
	/* Nothing, not even the NOOP, is answered before the sink's done(). */
	h_expect_silence(&h, 150);
	assert_int_equal(h.sink.ended, 1);
	assert_int_equal(h.sink.done_calls, 0);
	h_expect(&h, "250 2.0.0 Ok: queued as Q1");
	h_expect(&h, "250 2.0.0 Ok");
	h_expect(&h, "250 2.1.0 Ok");
	h_expect(&h, "250 2.1.5 Ok");
	/* done() from inside txn_end works as well. */
	h.sink.delay_ms = -1;
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "two\r\n.\r\nNOOP\r\n");
	h_expect(&h, "250 2.0.0 Ok: queued as Q2");
	h_expect(&h, "250 2.0.0 Ok");
	assert_string_equal(h_content(&h, 1), "two\r\n");
	h_stop(&h);
}

static void test_client_gone_while_committing(void **state)
{
	struct harness h;
	struct smtp_server_stats st;

	(void)state;
	h_start(&h, NULL);
	h.sink.delay_ms = 100;
	h_connect(&h);
	h_envelope(&h);
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "x\r\n.\r\n");
	close(h.cfd);
	h.cfd = -1;
	for (int i = 0; i < 1000 && h.sink.done_calls == 0; i++)
		event_base_loop(h.base, EVLOOP_ONCE);
	assert_int_equal(h.sink.done_calls, 1);
	smtp_server_get_stats(h.srv, &st);
	assert_int_equal(st.connections_now, 0);
	h_stop(&h);
}

static void test_sink_failures(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h.sink.fail_write_at = 2; /* the Received: field goes, the content fails */
	h_connect(&h);
	h_envelope(&h);
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "Subject: x\r\n\r\nbody\r\n.\r\n");
	h_expect(&h, "451 4.3.0 Error writing message");
	assert_int_equal(h.sink.aborted, 1);
	h.sink.fail_write_at = 0;
	h_send(&h, "NOOP\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<r@example.com>\r\nDATA\r\n");
	h_expect(&h, "250 2.0.0 Ok");
	h_expect(&h, "250 2.1.0 Ok");
	h_expect(&h, "250 2.1.5 Ok");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "ok\r\n.\r\n");
	h_expect(&h, "250 2.0.0 Ok: queued as Q1");
	/* The sink cannot open a transaction: its reply goes to the client. */
	h.sink.begin_refusal = "451 4.3.0 Queue unavailable";
	h_send(&h, "MAIL FROM:<a@example.org>\r\nRCPT TO:<r@example.com>\r\nDATA\r\n");
	h_expect(&h, "250 2.1.0 Ok");
	h_expect(&h, "250 2.1.5 Ok");
	h_expect(&h, "451 4.3.0 Queue unavailable");
	h_send(&h,
	       "MAIL FROM:<a@example.org>\r\nRCPT TO:<r@example.com>\r\nBDAT 2 LAST\r\nhiNOOP\r\n");
	h_expect(&h, "250 2.1.0 Ok");
	h_expect(&h, "250 2.1.5 Ok");
	h_expect(&h, "451 4.3.0 Queue unavailable");
	h_expect(&h, "250 2.0.0 Ok");
	h_stop(&h);
}

static void test_min_data_rate(void **state)
{
	struct harness h;

	(void)state;
	h_default_opts(&h.opts);
	h.opts.min_data_rate = 1000;
	h.opts.data_rate_grace_s = 1;
	h_start(&h, &h.opts);
	h_connect(&h);
	h_envelope(&h);
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "Subject: slow\r\n");
	h_expect_silence(&h, 500);
	h_send(&h, "x");
	h_expect(&h, "421 4.4.2 Timeout exceeded, closing connection");
	h_expect_closed(&h);
	assert_int_equal(h.sink.aborted, 1);
	assert_int_equal(h.sink.nmsgs, 0);
	h_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smuggling_strict),
		cmocka_unit_test(test_smuggling_normalised),
		cmocka_unit_test(test_bdat_bare_lf),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_size_during_data),
		cmocka_unit_test(test_received_header),
		cmocka_unit_test(test_loop_detection),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_data_bdat_mixing),
		cmocka_unit_test(test_async_done_holds_pipeline),
		cmocka_unit_test(test_client_gone_while_committing),
		cmocka_unit_test(test_sink_failures),
		cmocka_unit_test(test_min_data_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

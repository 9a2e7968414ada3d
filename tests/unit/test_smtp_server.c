/*
 * Unit tests for the SMTP server engine, protocol side: a full session, the
 * EHLO list, the command table and sequence errors, pipelining order and
 * violations, framing (bare LF, long lines), relay domains, recipient and
 * size limits, error limit, timeouts, connection caps and shutdown. Driven
 * through socketpairs with smtp_server_serve_fd().
 */
#include "test_smtp_server_harness.h"

static void test_full_session(void **state)
{
	struct harness h;
	struct smtp_server_stats st;

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_envelope(&h);
	h_send(&h, "DATA\r\n");
	h_expect(&h, "354 End data with <CR><LF>.<CR><LF>");
	h_send(&h, "Subject: hi\r\n\r\nHello.\r\n.\r\n");
	h_expect(&h, "250 2.0.0 Ok: queued as Q1");
	h_send(&h, "QUIT\r\n");
	h_expect(&h, "221 2.0.0 Bye");
	h_expect_closed(&h);
	assert_int_equal(h.sink.nmsgs, 1);
	assert_string_equal(h_content(&h, 0), "Subject: hi\r\n\r\nHello.\r\n");
	assert_int_equal(h.sink.last_nrcpts, 1);
	assert_string_equal(h.sink.last_helo, "client.example.org");
	smtp_server_get_stats(h.srv, &st);
	assert_int_equal(st.connections_now, 0);
	assert_int_equal(st.connections_total, 1);
	assert_int_equal(st.messages_accepted, 1);
	assert_int_equal(st.bytes_received, strlen("Subject: hi\r\n\r\nHello.\r\n"));
	assert_int_equal(st.protocol_errors, 0);
	h_stop(&h);
}

static void test_ehlo_extensions(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "EHLO client.example.org\r\n");
	assert_string_equal(h_reply(&h), "250-mx.example.com\r\n"
					 "250-PIPELINING\r\n"
					 "250-SIZE 10000\r\n"
					 "250-8BITMIME\r\n"
					 "250-SMTPUTF8\r\n"
					 "250-ENHANCEDSTATUSCODES\r\n"
					 "250 CHUNKING\r\n");
	h_send(&h, "HELO client.example.org\r\n");
	h_expect(&h, "250 mx.example.com");
	/* After HELO, ESMTP parameters are refused. */
	h_send(&h, "MAIL FROM:<a@example.org> SIZE=10\r\n");
	h_expect(&h, "555 5.5.4 Unsupported parameter");
	h_send(&h, "EHLO bad_name!\r\n");
	h_expect(&h, "501 5.5.4 Invalid domain name");
	h_stop(&h);
}

static void test_command_table(void **state)
{
	struct harness h;
	static const struct {
		const char *send, *expect;
	} steps[] = {
		{"MAIL FROM:<a@example.org>\r\n", "503 5.5.1 Send EHLO or HELO first"},
		{"NOOP\r\n", "250 2.0.0 Ok"},
		{"EHLO client.example.org\r\n", NULL},
		{"RCPT TO:<rcpt@example.com>\r\n", "503 5.5.1 Need MAIL command"},
		{"DATA\r\n", "503 5.5.1 Need MAIL command"},
		{"VRFY someone\r\n", "252 2.5.2 Cannot VRFY user, but will accept message"},
		{"EXPN list\r\n", "502 5.5.1 EXPN not available"},
		{"AUTH PLAIN\r\n", "502 5.5.1 AUTH not available"},
		{"HELP\r\n", "214 2.0.0 See RFC 5321"},
		{"STARTTLS\r\n", "502 5.5.1 STARTTLS not available"},
		{"FROB\r\n", "500 5.5.2 Command not recognized"},
		{"MAIL FROM:<a@example.org>\r\n", "250 2.1.0 Ok"},
		{"MAIL FROM:<b@example.org>\r\n", "503 5.5.1 Nested MAIL command"},
		{"RCPT TO:<bad address>\r\n", "501 5.1.3 Bad recipient address syntax"},
		{"RSET\r\n", "250 2.0.0 Ok"},
		{"RCPT TO:<rcpt@example.com>\r\n", "503 5.5.1 Need MAIL command"},
		{"MAIL FROM:<\xc3\xbc@example.org>\r\n",
		 "553 5.6.7 Non-ASCII sender address requires SMTPUTF8"},
		{"MAIL FROM:<\xc3\xbc@example.org> SMTPUTF8\r\n", "250 2.1.0 Ok"},
		{"RCPT TO:<\xc3\xbc@example.com>\r\n", "250 2.1.5 Ok"},
		{"QUIT\r\n", "221 2.0.0 Bye"},
	};

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		h_send(&h, steps[i].send);
		if (steps[i].expect)
			h_expect(&h, steps[i].expect);
		else
			h_expect_prefix(&h, "250 CHUNKING");
	}
	h_expect_closed(&h);
	h_stop(&h);
}

static void test_pipelined_replies_in_order(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "EHLO client.example.org\r\n");
	h_expect_prefix(&h, "250 CHUNKING");
	h_send(&h, "MAIL FROM:<a@example.org>\r\nRCPT TO:<one@example.com>\r\n"
		   "RCPT TO:<x@elsewhere.example>\r\nRCPT TO:<two@example.com>\r\nDATA\r\n");
	h_expect(&h, "250 2.1.0 Ok");
	h_expect(&h, "250 2.1.5 Ok");
	h_expect(&h, "554 5.7.1 Relay access denied");
	h_expect(&h, "250 2.1.5 Ok");
	h_expect(&h, "354 End data with <CR><LF>.<CR><LF>");
	h_send(&h, "x\r\n.\r\nRSET\r\nMAIL FROM:<b@example.org>\r\nNOOP\r\n");
	h_expect(&h, "250 2.0.0 Ok: queued as Q1");
	h_expect(&h, "250 2.0.0 Ok");
	h_expect(&h, "250 2.1.0 Ok");
	h_expect(&h, "250 2.0.0 Ok");
	assert_int_equal(h.sink.last_nrcpts, 2);
	h_stop(&h);
}

static void test_data_without_rcpt(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "EHLO client.example.org\r\n");
	h_expect_prefix(&h, "250 CHUNKING");
	h_send(&h, "MAIL FROM:<a@example.org>\r\nRCPT TO:<x@elsewhere.example>\r\nDATA\r\n");
	h_expect(&h, "250 2.1.0 Ok");
	h_expect(&h, "554 5.7.1 Relay access denied");
	h_expect(&h, "554 5.5.1 No valid recipients");
	h_send(&h, "NOOP\r\n");
	h_expect(&h, "250 2.0.0 Ok");
	assert_int_equal(h.sink.begun, 0);
	h_stop(&h);
}

static void test_talk_before_greeting(void **state)
{
	struct harness h;
	int sv[2];
	struct sockaddr_in sin = {.sin_family = AF_INET};

	(void)state;
	h_start(&h, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	inet_pton(AF_INET, "192.0.2.10", &sin.sin_addr);
	assert_int_equal(write(sv[0], "EHLO early.example\r\n", 20), 20);
	assert_int_equal(smtp_server_serve_fd(h.srv, sv[1], (struct sockaddr *)&sin, sizeof(sin)),
			 0);
	h.cfd = sv[0];
	h_expect(&h, "554 5.5.0 Protocol error: client spoke before the greeting");
	h_expect_closed(&h);
	h_stop(&h);
}

static void test_pipelining_violations(void **state)
{
	struct harness h;

	(void)state;
	/* Content sent together with DATA, before 354: never read as commands. */
	h_start(&h, NULL);
	h_connect(&h);
	h_envelope(&h);
	h_send(&h, "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n");
	h_expect(&h, "554 5.5.0 Protocol error: pipelining not allowed here");
	h_expect_closed(&h);
	assert_int_equal(h.sink.begun, 0);
	assert_int_equal(h.sink.aborted, 0);
	h_stop(&h);

	/* Commands sent together with EHLO. */
	h_start(&h, NULL);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "EHLO client.example.org\r\nMAIL FROM:<a@example.org>\r\n");
	h_expect(&h, "554 5.5.0 Protocol error: pipelining not allowed here");
	h_expect_closed(&h);
	h_stop(&h);
}

static void test_framing(void **state)
{
	struct harness h;
	char longline[700];

	(void)state;
	/* An over-long line is refused in order, and the session stays in sync. */
	h_start(&h, NULL);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	memset(longline, 'A', sizeof(longline));
	memcpy(longline, "NOOP ", 5);
	h_send(&h, "NOOP\r\n");
	h_send_len(&h, longline, sizeof(longline));
	h_send(&h, "\r\nNOOP x\r\n");
	h_expect(&h, "250 2.0.0 Ok");
	h_expect(&h, "500 5.5.2 Line too long");
	h_expect(&h, "250 2.0.0 Ok");
	/* Bare LF ends nothing: 521 and close, the rest is never run. */
	h_send(&h, "NOOP\nNOOP\r\n");
	h_expect(&h, "521 5.5.2 Bare CR or LF received");
	h_expect_closed(&h);
	h_stop(&h);

	h_start(&h, NULL);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "NOOP\rRSET\r\n");
	h_expect(&h, "521 5.5.2 Bare CR or LF received");
	h_expect_closed(&h);
	h_stop(&h);
}

static void test_relay_domains(void **state)
{
	struct harness h;
	static const struct {
		const char *rcpt, *expect;
	} rows[] = {
		{"<a@example.com>", "250 2.1.5 Ok"},
		{"<a@EXAMPLE.com>", "250 2.1.5 Ok"},
		{"<a@b.sub.example.com>", "250 2.1.5 Ok"},
		{"<a@sub.example.com>", "554 5.7.1 Relay access denied"},
		{"<a@other.example.com>", "554 5.7.1 Relay access denied"},
		{"<a@example.com.evil.example>", "554 5.7.1 Relay access denied"},
		{"<a@[192.0.2.1]>", "554 5.7.1 Relay access denied"},
		{"<Postmaster>", "250 2.1.5 Ok"},
	};
	char line[128];

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_envelope(&h);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(line, sizeof(line), "RCPT TO:%s\r\n", rows[i].rcpt);
		h_send(&h, line);
		h_expect(&h, rows[i].expect);
	}
	h_stop(&h);
}

static void test_too_many_recipients(void **state)
{
	struct harness h;
	char *batch = malloc(102 * 40);
	size_t off = 0;

	(void)state;
	assert_non_null(batch);
	h_start(&h, NULL);
	h_connect(&h);
	h_envelope(&h); /* one recipient already */
	for (int i = 0; i < 101; i++)
		off += (size_t)sprintf(batch + off, "RCPT TO:<r%d@example.com>\r\n", i);
	h_send_len(&h, batch, off);
	for (int i = 0; i < 99; i++)
		h_expect(&h, "250 2.1.5 Ok");
	h_expect(&h, "452 4.5.3 Too many recipients");
	h_expect(&h, "452 4.5.3 Too many recipients");
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "x\r\n.\r\n");
	h_expect(&h, "250 2.0.0 Ok: queued as Q1");
	assert_int_equal(h.sink.last_nrcpts, 100);
	free(batch);
	h_stop(&h);
}

static void test_size_at_mail(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "EHLO client.example.org\r\n");
	h_expect_prefix(&h, "250 CHUNKING");
	h_send(&h, "MAIL FROM:<a@example.org> SIZE=10001\r\n");
	h_expect(&h, "552 5.3.4 Message size exceeds fixed limit");
	h_send(&h, "MAIL FROM:<a@example.org> SIZE=99999999999999999999999\r\n");
	h_expect(&h, "501 5.5.4 Invalid parameter");
	h_send(&h, "MAIL FROM:<a@example.org> SIZE=10000 BODY=8BITMIME\r\n");
	h_expect(&h, "250 2.1.0 Ok");
	h_stop(&h);
}

static void test_check_mail_refusal(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h.sink.mail_refusal = "452 4.3.1 Insufficient system storage";
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "EHLO client.example.org\r\n");
	h_expect_prefix(&h, "250 CHUNKING");
	h_send(&h, "MAIL FROM:<a@example.org>\r\nRCPT TO:<r@example.com>\r\n");
	h_expect(&h, "452 4.3.1 Insufficient system storage");
	h_expect(&h, "503 5.5.1 Need MAIL command");
	h_stop(&h);
}

static void test_max_errors(void **state)
{
	struct harness h;
	struct smtp_server_stats st;

	(void)state;
	h_default_opts(&h.opts);
	h.opts.max_errors = 3;
	h_start(&h, &h.opts);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n");
	h_expect(&h, "500 5.5.2 Command not recognized");
	h_expect(&h, "500 5.5.2 Command not recognized");
	h_expect(&h, "500 5.5.2 Command not recognized");
	h_expect(&h, "421 4.7.0 Too many errors, closing connection");
	h_expect_closed(&h);
	smtp_server_get_stats(h.srv, &st);
	assert_int_equal(st.protocol_errors, 3);
	h_stop(&h);
}

static void test_idle_timeout(void **state)
{
	struct harness h;

	(void)state;
	h_default_opts(&h.opts);
	h.opts.command_timeout_s = 1;
	h_start(&h, &h.opts);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_expect_silence(&h, 700);
	h_expect(&h, "421 4.4.2 Timeout exceeded, closing connection");
	h_expect_closed(&h);
	h_stop(&h);
}

static void test_request_deadline(void **state)
{
	struct harness h;

	(void)state;
	h_default_opts(&h.opts);
	h.opts.request_deadline_s = 1;
	h_start(&h, &h.opts);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	/* A command trickled one octet at a time never completes in time. */
	h_send(&h, "N");
	h_expect_silence(&h, 300);
	h_send(&h, "O");
	h_expect_silence(&h, 300);
	h_expect(&h, "421 4.4.2 Timeout exceeded, closing connection");
	h_expect_closed(&h);
	h_stop(&h);
}

static void test_connection_caps(void **state)
{
	struct harness h;
	struct smtp_server_stats st;
	int extra;
	char buf[128];
	ssize_t n = 0;

	(void)state;
	h_default_opts(&h.opts);
	h.opts.max_connections = 3;
	h.opts.max_per_client = 2;
	h_start(&h, &h.opts);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	int second = h_connect_from(&h, "192.0.2.10");
	/* A third from the same address: over the per-client cap. */
	extra = h_connect_from(&h, "192.0.2.10");
	for (int i = 0; i < 100 && n <= 0; i++) {
		h_turn(&h);
		n = read(extra, buf, sizeof(buf) - 1);
	}
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "421 4.7.0 Too many connections, try again later\r\n");
	assert_int_equal(read(extra, buf, sizeof(buf)), 0);
	close(extra);
	/* Another address is fine until the global cap. */
	int other = h_connect_from(&h, "192.0.2.11");
	extra = h_connect_from(&h, "192.0.2.12");
	n = read(extra, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "421 4.7.0 Too many connections, try again later\r\n");
	close(extra);
	smtp_server_get_stats(h.srv, &st);
	assert_int_equal(st.refused_by_cap, 2);
	assert_int_equal(st.connections_now, 3);
	/* Closing one frees a place. */
	close(second);
	for (int i = 0; i < 200 && st.connections_now == 3; i++) {
		h_turn(&h);
		smtp_server_get_stats(h.srv, &st);
	}
	assert_int_equal(st.connections_now, 2);
	close(other);
	h_stop(&h);
}

static void test_shutdown(void **state)
{
	struct harness h;

	(void)state;
	h_start(&h, NULL);
	h_connect(&h);
	h_envelope(&h); /* in a transaction: answered at its next command */
	int idle = h_connect_from(&h, "192.0.2.20");
	smtp_server_shutdown(h.srv);
	h_expect_silence(&h, 50);
	h_send(&h, "DATA\r\n");
	h_expect(&h, "421 4.7.0 Server shutting down, try again later");
	h_expect_closed(&h);
	char buf[256];
	ssize_t n = 0, total = 0;
	for (int i = 0; i < 200; i++) {
		h_turn(&h);
		n = read(idle, buf + total, sizeof(buf) - 1 - (size_t)total);
		if (n == 0)
			break;
		if (n > 0)
			total += n;
	}
	assert_int_equal(n, 0);
	buf[total] = '\0';
	assert_string_equal(buf, "220 mx.example.com ESMTP\r\n"
				 "421 4.7.0 Server shutting down, try again later\r\n");
	close(idle);
	h_stop(&h);
}

static bool fd_is(int fd, void *arg)
{
	return fd == *(int *)arg;
}

/*
 * drop_sessions closes the sessions its predicate calls stale at once,
 * without a reply, aborting their transaction (the hub: connections that
 * came over a TUN device charon deleted); the others carry on.
 */
static void test_drop_sessions(void **state)
{
	struct harness h;
	struct smtp_server_stats st;
	int stale_fd = -1, other_fd = -1;

	(void)state;
	h_start(&h, NULL);
	h.cfd = h_connect_from_fd(&h, "192.0.2.10", &stale_fd);
	h_envelope(&h);
	h_send(&h, "DATA\r\n");
	h_expect(&h, "354 End data with <CR><LF>.<CR><LF>");
	h_send(&h, "Subject: half\r\n"); /* in the middle of the content */
	h_expect_silence(&h, 20);
	assert_int_equal(h.sink.begun, 1);
	int other = h_connect_from_fd(&h, "192.0.2.20", &other_fd);
	int nobody = -1;
	assert_int_equal(smtp_server_drop_sessions(h.srv, fd_is, &nobody, "test"), 0);
	assert_int_equal(smtp_server_drop_sessions(h.srv, fd_is, &stale_fd, "test"), 1);
	h_expect_closed(&h); /* nothing written: no reply */
	assert_int_equal(h.sink.aborted, 1);
	smtp_server_get_stats(h.srv, &st);
	assert_int_equal(st.connections_now, 1);
	/* the other session still answers */
	char buf[256];
	ssize_t total = 0;
	for (int i = 0; i < 200 && total < 26; i++) {
		h_turn(&h);
		ssize_t n = read(other, buf + total, sizeof(buf) - 1 - (size_t)total);
		if (n > 0)
			total += n;
	}
	buf[total] = '\0';
	assert_string_equal(buf, "220 mx.example.com ESMTP\r\n");
	assert_int_equal(smtp_server_drop_sessions(h.srv, fd_is, &other_fd, "test"), 1);
	smtp_server_get_stats(h.srv, &st);
	assert_int_equal(st.connections_now, 0);
	close(other);
	h_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_session),
		cmocka_unit_test(test_drop_sessions),
		cmocka_unit_test(test_ehlo_extensions),
		cmocka_unit_test(test_command_table),
		cmocka_unit_test(test_pipelined_replies_in_order),
		cmocka_unit_test(test_data_without_rcpt),
		cmocka_unit_test(test_talk_before_greeting),
		cmocka_unit_test(test_pipelining_violations),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_relay_domains),
		cmocka_unit_test(test_too_many_recipients),
		cmocka_unit_test(test_size_at_mail),
		cmocka_unit_test(test_check_mail_refusal),
		cmocka_unit_test(test_max_errors),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_request_deadline),
		cmocka_unit_test(test_connection_caps),
		cmocka_unit_test(test_shutdown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

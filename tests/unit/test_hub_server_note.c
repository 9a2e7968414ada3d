/*
 * The SMTP server engine's additions for the hub: accept_any_domain (the
 * internal MTA decides about recipients) and smtp_server_serve_fd_note (the
 * gate's IKE identity as a comment line in the Received: field, and in
 * smtp_txn_info.note).
 */
#include "test_smtp_server_harness.h"

static char seen_note[1100];

static void *note_begin(void *ctx, const struct smtp_txn_info *info, const char **reply)
{
	snprintf(seen_note, sizeof(seen_note), "%s", info->note ? info->note : "(null)");
	return fake_begin(ctx, info, reply);
}

static int connect_note(struct harness *h, const char *note)
{
	int sv[2];
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};

	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	int rc = smtp_server_serve_fd_note(h->srv, sv[1], (struct sockaddr *)&sin, sizeof(sin),
					   note);
	if (rc < 0) {
		close(sv[0]);
		return -1;
	}
	h->cfd = sv[0];
	h->inlen = 0;
	h->eof = false;
	return 0;
}

static void start_hooked(struct harness *h, bool any_domain)
{
	struct smtp_server_opts o;
	h_default_opts(&o);
	o.accept_any_domain = any_domain;
	h_start(h, &o);
	smtp_server_free(h->srv);
	struct smtp_server_hooks hooks = {.check_mail = fake_check_mail,
					  .txn_begin = note_begin,
					  .txn_write = fake_write,
					  .txn_end = fake_end,
					  .txn_abort = fake_abort,
					  .ctx = &h->sink};
	h->srv = smtp_server_new(h->base, &h->opts, &hooks);
	assert_non_null(h->srv);
}

static void test_note_in_received(void **state)
{
	struct harness h;
	const char *note = "(IKE identity \"edge.example.com\", IKE_SA airlock[1], "
			   "CHILD_SA airlock{2})";
	(void)state;
	start_hooked(&h, true);
	assert_int_equal(connect_note(&h, note), 0);
	h_envelope(&h);
	h_send(&h, "RCPT TO:<someone@elsewhere.test>\r\n");
	h_expect(&h, "250 2.1.5 Ok");
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "Subject: x\r\n\r\nbody\r\n.\r\n");
	h_expect_prefix(&h, "250 ");
	assert_int_equal(h.sink.nmsgs, 1);
	assert_string_equal(seen_note, note);
	char want[300];
	snprintf(want, sizeof(want),
		 "Received: from client.example.org (unknown [192.0.2.1])\r\n\t%s\r\n\tby "
		 "mx.example.com",
		 note);
	assert_memory_equal(h.sink.msgs[0], want, strlen(want));
	assert_string_equal(h_content(&h, 0), "Subject: x\r\n\r\nbody\r\n");
	h_stop(&h);
}

static void test_no_note_unchanged(void **state)
{
	struct harness h;
	(void)state;
	start_hooked(&h, false);
	assert_int_equal(connect_note(&h, NULL), 0);
	h_envelope(&h);
	/* Without accept_any_domain relay_domains still applies. */
	h_send(&h, "RCPT TO:<someone@elsewhere.test>\r\n");
	h_expect(&h, "554 5.7.1 Relay access denied");
	h_send(&h, "DATA\r\n");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "Subject: y\r\n\r\nbody\r\n.\r\n");
	h_expect_prefix(&h, "250 ");
	assert_string_equal(seen_note, "(null)");
	const char *want = "Received: from client.example.org (unknown [192.0.2.1])\r\n\tby ";
	assert_memory_equal(h.sink.msgs[0], want, strlen(want));
	h_stop(&h);
}

static void test_bad_notes_refused(void **state)
{
	struct harness h;
	static const char *const bad[] = {
		"no parentheses", "(unbalanced", "(a) trailing", "(a)(b)",
		"(ctl\x01)",	  "(crlf\r\n)",	 "(high\x80)",	 "(ends in a backslash\\)",
	};
	(void)state;
	start_hooked(&h, true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(connect_note(&h, bad[i]), -1);
	assert_int_equal(connect_note(&h, "(quoted \\( pair \\) ok (nested))"), 0);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_note_in_received),
		cmocka_unit_test(test_no_note_unchanged),
		cmocka_unit_test(test_bad_notes_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

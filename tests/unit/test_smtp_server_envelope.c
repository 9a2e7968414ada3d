/*
 * The SMTP server engine's asynchronous envelope hooks (mail_async,
 * rcpt_async, envelope_end), which the hub uses to relay the internal MTA's
 * MAIL and RCPT replies live: replies in order under pipelining, nothing read
 * while a decision is pending, refused senders and recipients, 421, and a
 * client that leaves while the sink decides.
 */
#include "test_smtp_server_harness.h"

static struct {
	smtp_txn_done_fn reply;
	void *cookie;
	int mails, rcpts, ends;
	size_t begin_nrcpts;
	char last_rcpt[256];
	char last_end_id[32];
} as;

static void a_mail(void *ctx, const struct smtp_txn_info *info, smtp_txn_done_fn reply,
		   void *cookie)
{
	(void)ctx;
	assert_int_equal(info->nrcpts, 0);
	assert_null(as.reply); /* one decision at a time */
	as.mails++;
	as.reply = reply;
	as.cookie = cookie;
}

static void a_rcpt(void *ctx, const struct smtp_txn_info *info, const struct smtp_addr *rcpt,
		   smtp_txn_done_fn reply, void *cookie)
{
	(void)ctx;
	(void)info;
	assert_null(as.reply);
	as.rcpts++;
	snprintf(as.last_rcpt, sizeof(as.last_rcpt), "%s", rcpt->mailbox);
	as.reply = reply;
	as.cookie = cookie;
}

static void a_end(void *ctx, const char *session_id)
{
	(void)ctx;
	as.ends++;
	snprintf(as.last_end_id, sizeof(as.last_end_id), "%s", session_id);
}

static void *a_begin(void *ctx, const struct smtp_txn_info *info, const char **reply)
{
	as.begin_nrcpts = info->nrcpts;
	return fake_begin(ctx, info, reply);
}

static void start(struct harness *h)
{
	struct smtp_server_opts o;
	memset(&as, 0, sizeof(as));
	h_default_opts(&o);
	o.accept_any_domain = true;
	h_start(h, &o);
	smtp_server_free(h->srv);
	struct smtp_server_hooks hooks = {
		.txn_begin = a_begin,
		.txn_write = fake_write,
		.txn_end = fake_end,
		.txn_abort = fake_abort,
		.ctx = &h->sink,
		.mail_async = a_mail,
		.rcpt_async = a_rcpt,
		.envelope_end = a_end,
	};
	h->srv = smtp_server_new(h->base, &h->opts, &hooks);
	assert_non_null(h->srv);
	h_connect(h);
	h_expect(h, "220 mx.example.com ESMTP");
	h_send(h, "EHLO client.example.org\r\n");
	h_expect_prefix(h, "250 CHUNKING");
}

/* Lets the loop run, then answers the pending decision. */
static void decide(struct harness *h, const char *reply)
{
	for (int i = 0; i < 20 && !as.reply; i++)
		h_turn(h);
	assert_non_null(as.reply);
	smtp_txn_done_fn fn = as.reply;
	as.reply = NULL;
	fn(as.cookie, reply);
}

/* A MAIL the sink accepts, answered. */
static void mail_accepted(struct harness *h)
{
	h_send(h, "MAIL FROM:<a@example.org>\r\n");
	decide(h, "250 2.1.0 Ok");
	h_expect(h, "250 2.1.0 Ok");
}

static void test_pipelined_envelope_in_order(void **state)
{
	struct harness h;
	(void)state;
	start(&h);
	h_send(&h, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\n"
		   "DATA\r\n");
	/* Nothing answered and no RCPT asked while MAIL is pending. */
	h_expect_silence(&h, 100);
	assert_int_equal(as.mails, 1);
	assert_int_equal(as.rcpts, 0);
	decide(&h, "250 2.1.0 Sender ok (internal)");
	/* MAIL's reply waits with the RCPTs' (RFC 2920 3.2). */
	h_expect_silence(&h, 50);
	decide(&h, "250 2.1.5 b ok");
	assert_string_equal(as.last_rcpt, "b@x.test");
	decide(&h, "550 5.1.1 <c@x.test>: no such user");
	assert_string_equal(as.last_rcpt, "c@x.test");
	h_expect_together(&h, "250 2.1.0 Sender ok (internal)\r\n250 2.1.5 b ok\r\n"
			      "550 5.1.1 <c@x.test>: no such user\r\n354 ");
	h_expect(&h, "250 2.1.0 Sender ok (internal)");
	h_expect(&h, "250 2.1.5 b ok");
	h_expect(&h, "550 5.1.1 <c@x.test>: no such user");
	h_expect_prefix(&h, "354 ");
	assert_int_equal(as.begin_nrcpts, 1); /* only the accepted recipient */
	h_send(&h, "Subject: s\r\n\r\nbody\r\n.\r\n");
	h_expect_prefix(&h, "250 ");
	assert_string_equal(h_content(&h, 0), "Subject: s\r\n\r\nbody\r\n");
	assert_int_equal(as.ends, 1);
	h_send(&h, "QUIT\r\n");
	h_expect_prefix(&h, "221 ");
	assert_int_equal(as.ends, 1);
	h_stop(&h);
}

/*
 * A pipelined group whose commands wait for the sink: the replies made
 * before (RSET's) wait with them, and every reply of the group goes out in
 * one write once the last decision is in, so that through the tunnel the
 * group costs one segment, not one per reply.
 */
static void test_replies_wait_for_the_sink(void **state)
{
	struct harness h;
	(void)state;
	start(&h);
	mail_accepted(&h);
	h_send(&h, "RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@x.test>\r\n");
	/* RSET is answered at once by the engine, but its reply waits for MAIL's. */
	h_expect_silence(&h, 100);
	assert_int_equal(as.mails, 2);
	decide(&h, "250 2.1.0 Sender ok");
	h_expect_silence(&h, 50);
	decide(&h, "250 2.1.5 Recipient ok");
	h_expect_together(&h, "250 2.0.0 Ok\r\n250 2.1.0 Sender ok\r\n250 2.1.5 Recipient ok\r\n");
	h_expect(&h, "250 2.0.0 Ok");
	h_expect(&h, "250 2.1.0 Sender ok");
	h_expect(&h, "250 2.1.5 Recipient ok");
	/* A command that waits for nobody is answered at once again. */
	h_send(&h, "NOOP\r\n");
	h_expect(&h, "250 2.0.0 Ok");
	h_send(&h, "QUIT\r\n");
	h_expect_prefix(&h, "221 ");
	h_stop(&h);
}

static void test_refused_sender(void **state)
{
	struct harness h;
	(void)state;
	start(&h);
	h_send(&h, "MAIL FROM:<a@example.org>\r\n");
	decide(&h, "550 5.7.1 Sender refused");
	h_expect(&h, "550 5.7.1 Sender refused");
	assert_int_equal(as.ends, 1);
	h_send(&h, "RCPT TO:<b@x.test>\r\n");
	h_expect_prefix(&h, "503 ");
	assert_int_equal(as.rcpts, 0);
	/* A new transaction, ended by RSET. */
	mail_accepted(&h);
	h_send(&h, "RSET\r\n");
	h_expect_prefix(&h, "250 ");
	assert_int_equal(as.ends, 2);
	h_stop(&h);
}

static void test_sync_reply_and_421(void **state)
{
	struct harness h;
	(void)state;
	start(&h);
	mail_accepted(&h);
	h_send(&h, "RCPT TO:<b@x.test>\r\n");
	decide(&h, "421 4.4.1 Internal MTA unavailable");
	h_expect(&h, "421 4.4.1 Internal MTA unavailable");
	for (int i = 0; i < 50 && !h.eof; i++)
		h_turn(&h);
	assert_true(h.eof);
	assert_int_equal(as.ends, 1);
	h_stop(&h);
}

static void test_client_gone_while_pending(void **state)
{
	struct harness h;
	(void)state;
	start(&h);
	h_send(&h, "MAIL FROM:<a@example.org>\r\n");
	for (int i = 0; i < 20 && !as.reply; i++)
		h_turn(&h);
	assert_non_null(as.reply);
	close(h.cfd);
	h.cfd = -1;
	for (int i = 0; i < 20; i++)
		event_base_loop(h.base, EVLOOP_NONBLOCK);
	assert_int_equal(as.ends, 0); /* the reply is still owed */
	smtp_txn_done_fn fn = as.reply;
	as.reply = NULL;
	fn(as.cookie, "250 2.1.0 Ok"); /* frees the session (ASan watches) */
	assert_int_equal(as.ends, 1);
	h_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_envelope_in_order),
		cmocka_unit_test(test_replies_wait_for_the_sink),
		cmocka_unit_test(test_refused_sender),
		cmocka_unit_test(test_sync_reply_and_421),
		cmocka_unit_test(test_client_gone_while_pending),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

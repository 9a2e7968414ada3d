/*
 * SMTP client engine, step-wise transactions (smtp_client_conn_mail, _rcpt,
 * _content, _abandon) against the scripted server on loopback: lockstep
 * commands, each reply to its own callback, never from inside the call, the
 * content's outcome, failures while a step waits. Every loop run is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "relay/smtp_client.h"
#include "test_smtp_client_fake.h"

struct t {
	struct event_base *base;
	struct fake *f;
	struct smtp_client_opts o;
	struct smtp_client_conn *conn;
	int ready;
	int steps, done;
	int step_code;
	char step_reply[SMTP_CLIENT_REPLY_MAX];
	struct smtp_client_result r;
	int rcpt_code[4];
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	t->base = event_base_new();
	t->f = fake_new(t->base);
	t->o.helo_name = "client.test";
	t->o.greeting_timeout_s = 5;
	t->o.data_end_timeout_s = 5;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	smtp_client_conn_free(t->conn);
	fake_free(t->f);
	event_base_free(t->base);
	free(t);
	return 0;
}

static void on_ready(void *arg, struct smtp_client_conn *conn, const struct smtp_client_result *r)
{
	struct t *t = arg;
	(void)conn;
	t->ready = r ? -1 : 1;
}

static void on_step(void *arg, struct smtp_client_conn *conn, int code, const char *reply)
{
	struct t *t = arg;
	assert_ptr_equal(conn, t->conn);
	t->steps++;
	t->step_code = code;
	snprintf(t->step_reply, sizeof(t->step_reply), "%s", reply);
}

static void on_done(void *arg, struct smtp_client_conn *conn, const struct smtp_client_result *r)
{
	struct t *t = arg;
	assert_ptr_equal(conn, t->conn);
	t->done++;
	t->r = *r;
	for (size_t i = 0; i < r->nrcpts && i < 4; i++)
		t->rcpt_code[i] = r->rcpt_code[i];
}

static void connect_ready(struct t *t)
{
	t->conn = smtp_client_conn_new(t->base, (struct sockaddr *)&t->f->addr, sizeof(t->f->addr),
				       &t->o, on_ready, t);
	assert_non_null(t->conn);
	RUN_UNTIL(t->base, t->ready != 0, 5000);
	assert_int_equal(t->ready, 1);
}

/* Waits for the step callback that the call just started; returns its code. */
static int wait_step(struct t *t, int before)
{
	assert_int_equal(t->steps, before); /* never from inside the call */
	RUN_UNTIL(t->base, t->steps > before, 5000);
	assert_int_equal(t->steps, before + 1);
	return t->step_code;
}

static void assert_wire(struct t *t, const char *want)
{
	char *got = fake_wire(t->f);
	if (strcmp(got, want) != 0)
		fail_msg("wire:\n%s\nwant:\n%s", got, want);
	free(got);
}

static void test_step_by_step(void **state)
{
	struct t *t = *state;
	static const char content[] = "Subject: s\r\n\r\n.dot\r\n";
	off_t off;
	int fd = fake_content_file(content, sizeof(content) - 1, &off);

	t->f->rules[0] = (struct fake_rule){"RCPT TO:<c@", "550 5.1.1 No such user\r\n"};
	t->f->rules[1] = (struct fake_rule){".", "250 2.0.0 Ok: queued as Z\r\n"};
	connect_ready(t);
	/* Nothing to send before MAIL. */
	assert_int_equal(smtp_client_conn_rcpt(t->conn, "b@example.com", on_step, t), -1);
	assert_int_equal(smtp_client_conn_mail(t->conn, "a@example.org", sizeof(content) - 1, false,
					       false, on_step, t),
			 0);
	/* A second step while one waits is refused. */
	assert_int_equal(smtp_client_conn_rcpt(t->conn, "b@example.com", on_step, t), -1);
	assert_int_equal(wait_step(t, 0), 250);
	/* No accepted recipient yet: no content. */
	assert_int_equal(
		smtp_client_conn_content(t->conn, fd, off, sizeof(content) - 1, on_done, t), -1);
	assert_int_equal(smtp_client_conn_rcpt(t->conn, "b@example.com", on_step, t), 0);
	assert_int_equal(wait_step(t, 1), 250);
	assert_int_equal(smtp_client_conn_rcpt(t->conn, "c@example.com", on_step, t), 0);
	assert_int_equal(wait_step(t, 2), 550);
	assert_string_equal(t->step_reply, "550 5.1.1 No such user");
	assert_int_equal(
		smtp_client_conn_content(t->conn, fd, off, sizeof(content) - 1, on_done, t), 0);
	assert_int_equal(t->done, 0);
	RUN_UNTIL(t->base, t->done, 5000);
	assert_int_equal(t->done, 1);
	assert_int_equal(t->r.stage, SMTP_CLIENT_STAGE_DOT);
	assert_int_equal(t->r.code, 250);
	assert_string_equal(t->r.reply, "250 2.0.0 Ok: queued as Z");
	assert_int_equal(t->r.nrcpts, 2);
	assert_int_equal(t->rcpt_code[0], 250);
	assert_int_equal(t->rcpt_code[1], 550);
	assert_true(smtp_client_conn_usable(t->conn));
	assert_wire(t, "EHLO client.test\r\n"
		       "MAIL FROM:<a@example.org> SIZE=20\r\n"
		       "RCPT TO:<b@example.com>\r\n"
		       "RCPT TO:<c@example.com>\r\n"
		       "DATA\r\n"
		       "Subject: s\r\n\r\n..dot\r\n.\r\n");
	close(fd);
}

static void test_mail_refused_then_abandon(void **state)
{
	struct t *t = *state;
	t->f->rules[0] = (struct fake_rule){"MAIL FROM:<bad@", "550 5.7.1 Sender refused\r\n"};
	connect_ready(t);
	assert_int_equal(
		smtp_client_conn_mail(t->conn, "bad@example.org", 0, false, false, on_step, t), 0);
	assert_int_equal(wait_step(t, 0), 550);
	assert_int_equal(smtp_client_conn_rcpt(t->conn, "b@example.com", on_step, t), -1);
	assert_false(smtp_client_conn_usable(t->conn));
	assert_int_equal(smtp_client_conn_abandon(t->conn), 0);
	assert_true(smtp_client_conn_usable(t->conn));
	/* The next transaction starts with RSET; the empty reverse path, no SIZE for 0. */
	assert_int_equal(smtp_client_conn_mail(t->conn, "", 0, false, false, on_step, t), 0);
	assert_int_equal(wait_step(t, 1), 250);
	assert_wire(t,
		    "EHLO client.test\r\nMAIL FROM:<bad@example.org>\r\nRSET\r\nMAIL FROM:<>\r\n");
}

static void test_failure_while_a_step_waits(void **state)
{
	struct t *t = *state;
	t->o.rcpt_timeout_s = 1;
	t->f->rules[0] = (struct fake_rule){"RCPT", FAKE_SILENT};
	connect_ready(t);
	assert_int_equal(
		smtp_client_conn_mail(t->conn, "a@example.org", 10, false, false, on_step, t), 0);
	assert_int_equal(wait_step(t, 0), 250);
	assert_int_equal(smtp_client_conn_rcpt(t->conn, "b@example.com", on_step, t), 0);
	long long t0 = fake_now_ms();
	assert_int_equal(wait_step(t, 1), 0);
	assert_true(fake_now_ms() - t0 >= 900);
	assert_non_null(strstr(t->step_reply, "timeout"));
	assert_int_equal(t->done, 0);
	assert_false(smtp_client_conn_usable(t->conn));
	assert_int_equal(smtp_client_conn_rcpt(t->conn, "c@example.com", on_step, t), -1);
}

static void test_idle_envelope_has_no_timer(void **state)
{
	struct t *t = *state;
	t->o.data_block_timeout_s = 1;
	t->o.rcpt_timeout_s = 1;
	connect_ready(t);
	assert_int_equal(
		smtp_client_conn_mail(t->conn, "a@example.org", 10, false, false, on_step, t), 0);
	assert_int_equal(wait_step(t, 0), 250);
	/* The caller (a proxy waiting for its client's next command) may take its time. */
	fake_run_ms(t->base, 1500);
	assert_int_equal(t->steps, 1);
	assert_int_equal(smtp_client_conn_rcpt(t->conn, "b@example.com", on_step, t), 0);
	assert_int_equal(wait_step(t, 1), 250);
}

static void test_utf8_without_smtputf8_is_local(void **state)
{
	struct t *t = *state;
	t->f->ehlo = "250-fake.test\r\n250 8BITMIME\r\n";
	connect_ready(t);
	assert_int_equal(smtp_client_conn_mail(t->conn, "j\xc3\xb6rg@example.org", 10, true, false,
					       on_step, t),
			 0);
	assert_int_equal(wait_step(t, 0), 553);
	assert_memory_equal(t->step_reply, "553 5.6.7 ", 10);
	assert_true(smtp_client_conn_usable(t->conn));
	assert_wire(t, "EHLO client.test\r\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_step_by_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mail_refused_then_abandon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_while_a_step_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_envelope_has_no_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8_without_smtputf8_is_local, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

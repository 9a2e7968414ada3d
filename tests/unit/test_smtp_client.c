/*
 * SMTP client engine against a scripted server on loopback (same event
 * loop): exact octets on the wire, reply codes per recipient, every failure
 * path. Every loop run is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "relay/smtp_client.h"
#include "test_smtp_client_fake.h"
#include "test_tun_netns.h"

#define MAX_RCPTS 8

struct box {
	struct smtp_client_conn *conn;
	int ready;		     /* 0 not yet, 1 ok, -1 failed */
	int done;		     /* results received */
	struct smtp_client_result r; /* pointers cleared */
	int code[MAX_RCPTS];
	char reply[MAX_RCPTS][SMTP_CLIENT_REPLY_MAX];
};

struct t {
	struct event_base *base;
	struct fake *f;
	struct smtp_client_opts o;
	struct box b;
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

	smtp_client_conn_free(t->b.conn);
	fake_free(t->f);
	event_base_free(t->base);
	free(t);
	return 0;
}

static void copy_result(struct box *b, const struct smtp_client_result *r)
{
	b->r = *r;
	b->r.rcpt_code = NULL;
	b->r.rcpt_reply = NULL;
	for (size_t i = 0; i < r->nrcpts && i < MAX_RCPTS; i++) {
		b->code[i] = r->rcpt_code[i];
		snprintf(b->reply[i], sizeof(b->reply[i]), "%s", r->rcpt_reply[i]);
	}
}

static void on_ready(void *arg, struct smtp_client_conn *conn, const struct smtp_client_result *r)
{
	struct box *b = arg;

	assert_ptr_equal(conn, b->conn);
	b->ready = r ? -1 : 1;
	if (r)
		copy_result(b, r);
}

static void on_done(void *arg, struct smtp_client_conn *conn, const struct smtp_client_result *r)
{
	struct box *b = arg;

	assert_ptr_equal(conn, b->conn);
	b->done++;
	copy_result(b, r);
}

static void connect_to(struct t *t)
{
	t->b.conn = smtp_client_conn_new(t->base, (struct sockaddr *)&t->f->addr,
					 sizeof(t->f->addr), &t->o, on_ready, &t->b);
	assert_non_null(t->b.conn);
	RUN_UNTIL(t->base, t->b.ready != 0, 5000);
}

static void connect_ready(struct t *t)
{
	connect_to(t);
	if (t->b.ready != 1)
		fail_msg("not ready: %s", t->b.r.reply);
}

/* Sends content to rcpts and waits for the result. */
static void send_msg(struct t *t, const char *content, size_t len, const char *const *rcpts,
		     size_t n, bool utf8)
{
	off_t off;
	int fd = fake_content_file(content, len, &off);
	struct smtp_client_msg m = {"s@example.org", rcpts, n, fd, off, len, utf8, false};
	int before = t->b.done;

	assert_int_equal(smtp_client_conn_send(t->b.conn, &m, on_done, &t->b), 0);
	assert_int_equal(t->b.done, before); /* never from inside the call */
	RUN_UNTIL(t->base, t->b.done > before, 6000);
	assert_int_equal(t->b.done, before + 1);
	close(fd);
}

static void assert_wire(struct t *t, const char *want)
{
	char *got = fake_wire(t->f);
	if (strcmp(got, want) != 0)
		fail_msg("wire:\n%s\nwant:\n%s", got, want);
	free(got);
}

static const char *const three[] = {"a@example.com", "b@example.com", "c@example.com"};

/* Pipelined envelope, one refused recipient, dot stuffing and a bare LF on the wire. */
/* Both recipients of the last message refused with code, for good. */
static void assert_both_refused(struct t *t, int code)
{
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_RCPT);
	assert_int_equal(t->b.r.code, code);
	assert_int_equal(t->b.code[0], code);
	assert_int_equal(t->b.code[1], code);
	assert_false(t->b.r.temporary);
	assert_false(t->b.r.delivered);
}

static void test_pipelined_data(void **state)
{
	struct t *t = *state;
	static const char content[] = "Subject: t\r\n\r\n.hidden\r\nbare\nlf\r\n..two\r\nend";
	char want[512];

	t->f->rules[0] = (struct fake_rule){"RCPT TO:<b@", "550 5.1.1 No such user\r\n"};
	t->f->hold_lines = 5; /* replies to MAIL and RCPTs only once all four arrived */
	connect_ready(t);
	send_msg(t, content, sizeof(content) - 1, three, 3, false);
	snprintf(want, sizeof(want),
		 "EHLO client.test\r\nMAIL FROM:<s@example.org> SIZE=%zu\r\n"
		 "RCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\n"
		 "DATA\r\nSubject: t\r\n\r\n..hidden\r\nbare\r\nlf\r\n...two\r\nend\r\n.\r\n",
		 sizeof(content) - 1);
	assert_wire(t, want);
	assert_true(t->f->max_lines_per_read >= 4);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_DOT);
	assert_int_equal(t->b.r.code, 250);
	assert_false(t->b.r.delivered);
	assert_false(t->b.r.temporary);
	assert_int_equal(t->b.r.nrcpts, 3);
	assert_int_equal(t->b.code[0], 250);
	assert_int_equal(t->b.code[1], 550);
	assert_int_equal(t->b.code[2], 250);
	assert_string_equal(t->b.reply[1], "550 5.1.1 No such user");
	assert_string_equal(t->b.reply[0], "250 2.0.0 Ok: queued");
	assert_true(smtp_client_conn_usable(t->b.conn));
}

/* No PIPELINING: one command per round trip; multi-line replies. */
static void test_lockstep_multiline(void **state)
{
	struct t *t = *state;

	t->f->greeting = "220-fake.test\r\n220-more text\r\n220 ESMTP\r\n";
	t->f->ehlo = "250-fake.test\r\n250 8BITMIME\r\n";
	t->f->rules[0] = (struct fake_rule){".", "250-2.0.0 Ok\r\n250 2.0.0 queued as X\r\n"};
	connect_ready(t);
	send_msg(t, "hi\r\n", 4, three, 2, false);
	assert_wire(t, "EHLO client.test\r\nMAIL FROM:<s@example.org>\r\n"
		       "RCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nhi\r\n.\r\n");
	assert_int_equal(t->f->max_lines_per_read, 1);
	assert_true(t->b.r.delivered);
	assert_string_equal(t->b.r.reply, "250 2.0.0 Ok / 2.0.0 queued as X");
	assert_string_equal(t->b.reply[1], "250 2.0.0 Ok / 2.0.0 queued as X");
}

/* CHUNKING: exact chunk sizes, no dot stuffing, bare LF still fixed. */
static void test_bdat(void **state)
{
	struct t *t = *state;
	size_t len = 150000;
	char *content = malloc(len);

	t->f->ehlo = "250-fake.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
	for (size_t i = 0; i < len; i++)
		content[i] =
			(i % 100 == 98) ? '\r' : (i % 100 == 99 ? '\n' : (i % 100 ? 'x' : '.'));
	connect_ready(t);
	send_msg(t, content, len, three, 1, false);
	assert_true(t->b.r.delivered);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_DOT);
	char *wire = fake_wire(t->f);
	const char *p = strstr(wire, "BDAT 65536\r\n");
	assert_non_null(p);
	p += strlen("BDAT 65536\r\n");
	assert_memory_equal(p, content, 65536);
	p += 65536;
	assert_memory_equal(p, "BDAT 65536\r\n", 12);
	p += 12 + 65536;
	assert_memory_equal(p, "BDAT 18928 LAST\r\n", 17);
	p += 17;
	assert_memory_equal(p, content + 131072, 18928);
	assert_int_equal(strlen(p), 18928);
	free(wire);
	free(content);

	/* A small one: dots untouched, bare LF and a missing last CRLF fixed. */
	evbuffer_drain(t->f->wire, evbuffer_get_length(t->f->wire));
	send_msg(t, ".a\nb", 4, three, 1, false);
	assert_wire(t, "MAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.com>\r\n"
		       "BDAT 7 LAST\r\n.a\r\nb\r\n");
	assert_true(t->b.r.delivered);
}

/*
 * CHUNKING with PIPELINING: a content of one chunk goes as BDAT LAST in the
 * envelope's group; when the envelope fails the envelope's replies decide,
 * whatever the chunk got, and the next message begins with RSET. A longer
 * content waits for the RCPT replies.
 */
static void test_bdat_in_the_group(void **state)
{
	struct t *t = *state;
	size_t len = SMTP_CLIENT_CHUNK + 1;
	char *big = malloc(len);

	memset(big, 'z', len);
	t->f->ehlo = "250-fake.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
	connect_ready(t);
	evbuffer_drain(t->f->wire, evbuffer_get_length(t->f->wire));
	t->f->max_lines_per_read = 0;
	send_msg(t, "one\r\n", 5, three, 2, false);
	assert_true(t->b.r.delivered);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_DOT);
	assert_true(t->f->max_lines_per_read >= 4); /* MAIL, 2 x RCPT, BDAT in one read */
	assert_wire(t, "MAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.com>\r\n"
		       "RCPT TO:<b@example.com>\r\nBDAT 5 LAST\r\none\r\n");

	/* No recipient accepted, the chunk refused: the RCPT replies decide. */
	evbuffer_drain(t->f->wire, evbuffer_get_length(t->f->wire));
	t->f->rules[0] = (struct fake_rule){"RCPT", "550 5.1.1 Unknown\r\n"};
	t->f->rules[1] = (struct fake_rule){"BDAT", "554 5.5.1 No valid recipients\r\n"};
	send_msg(t, "two\r\n", 5, three, 2, false);
	assert_both_refused(t, 550);
	assert_false(t->b.r.delivered);
	assert_wire(t, "MAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.com>\r\n"
		       "RCPT TO:<b@example.com>\r\nBDAT 5 LAST\r\ntwo\r\n");
	assert_true(smtp_client_conn_usable(t->b.conn));

	/* A server that takes the chunk all the same delivers nothing. */
	evbuffer_drain(t->f->wire, evbuffer_get_length(t->f->wire));
	t->f->rules[1] = (struct fake_rule){NULL, NULL};
	send_msg(t, "three\r\n", 7, three, 1, false);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_RCPT);
	assert_int_equal(t->b.code[0], 550);
	assert_false(t->b.r.delivered);
	assert_wire(t, "RSET\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.com>\r\n"
		       "BDAT 7 LAST\r\nthree\r\n");

	/* The sender refused: MAIL's reply decides. */
	evbuffer_drain(t->f->wire, evbuffer_get_length(t->f->wire));
	t->f->rules[0] = (struct fake_rule){"MAIL", "451 4.3.0 Try later\r\n"};
	t->f->rules[1] = (struct fake_rule){"RCPT", "503 5.5.1 MAIL first\r\n"};
	t->f->rules[2] = (struct fake_rule){"BDAT", "503 5.5.1 MAIL first\r\n"};
	send_msg(t, "four\r\n", 6, three, 1, false);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_MAIL);
	assert_int_equal(t->b.code[0], 451);
	assert_true(t->b.r.temporary);

	/* More than a chunk: no content before the RCPT replies, so none at all here. */
	evbuffer_drain(t->f->wire, evbuffer_get_length(t->f->wire));
	t->f->rules[0] = (struct fake_rule){"RCPT", "550 5.1.1 Unknown\r\n"};
	t->f->rules[1] = (struct fake_rule){NULL, NULL};
	send_msg(t, big, len, three, 1, false);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_RCPT);
	assert_int_equal(t->b.code[0], 550);
	assert_wire(t, "RSET\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.com>\r\n");

	/* And accepted, it goes in chunks after them. */
	evbuffer_drain(t->f->wire, evbuffer_get_length(t->f->wire));
	t->f->rules[0] = (struct fake_rule){NULL, NULL};
	send_msg(t, big, len, three, 1, false);
	assert_true(t->b.r.delivered);
	char *wire = fake_wire(t->f);
	assert_non_null(strstr(wire, "RCPT TO:<a@example.com>\r\nBDAT 65536\r\n"));
	assert_non_null(strstr(wire, "BDAT 3 LAST\r\nz\r\n"));
	free(wire);
	free(big);
}

/* A refused chunk ends the message; the session goes on. */
static void test_bdat_refused(void **state)
{
	struct t *t = *state;

	size_t len = 100000;
	char *big = malloc(len);

	memset(big, 'y', len);
	t->f->ehlo = "250-fake.test\r\n250 CHUNKING\r\n";
	t->f->rules[0] = (struct fake_rule){"BDAT 3 LAST", "554 5.6.0 Content refused\r\n"};
	t->f->rules[1] = (struct fake_rule){"BDAT 65536", "452 4.3.1 Full\r\n"};
	connect_ready(t);
	send_msg(t, "x\r\n", 3, three, 2, false);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_DOT);
	assert_int_equal(t->b.code[0], 554);
	assert_int_equal(t->b.code[1], 554);
	assert_false(t->b.r.temporary);
	assert_true(smtp_client_conn_usable(t->b.conn));
	/* The first of two chunks refused: that reply decides, whatever LAST gets. */
	send_msg(t, big, len, three, 1, false);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_DATA);
	assert_int_equal(t->b.code[0], 452);
	assert_true(t->b.r.temporary);
	assert_true(smtp_client_conn_usable(t->b.conn));
	free(big);
}

/* The peer's SIZE is smaller: permanent, nothing sent; SMTPUTF8 missing likewise. */
static void test_local_refusals(void **state)
{
	struct t *t = *state;
	char big[600];

	memset(big, 'x', sizeof(big));
	t->f->ehlo = "250-fake.test\r\n250-PIPELINING\r\n250 SIZE 500\r\n";
	connect_ready(t);
	send_msg(t, big, sizeof(big), three, 2, false);
	assert_int_equal(t->b.r.code, 552);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_MAIL);
	assert_false(t->b.r.temporary);
	assert_int_equal(t->b.code[1], 552);
	assert_non_null(strstr(t->b.r.reply, "552 5.3.4"));
	send_msg(t, "x\r\n", 3, three, 1, true);
	assert_int_equal(t->b.r.code, 553);
	assert_non_null(strstr(t->b.r.reply, "553 5.6.7"));
	assert_wire(t, "EHLO client.test\r\n");
	assert_true(smtp_client_conn_usable(t->b.conn));
}

/* SIZE=, BODY=8BITMIME and SMTPUTF8 when offered; a UTF-8 address needs SMTPUTF8. */

static void test_utf8_params(void **state)
{
	struct t *t = *state;
	static const char *const utf8[] = {"j\xc3\xb6rg@example.com"};
	off_t off;
	int fd = fake_content_file("x\r\n", 3, &off);
	struct smtp_client_msg m = {"s@example.org", utf8, 1, fd, off, 3, false, true};

	connect_ready(t);
	assert_int_equal(smtp_client_conn_send(t->b.conn, &m, on_done, &t->b), 0);
	RUN_UNTIL(t->base, t->b.done == 1, 5000);
	close(fd);
	assert_true(t->b.r.delivered);
	assert_wire(t, "EHLO client.test\r\n"
		       "MAIL FROM:<s@example.org> SIZE=3 BODY=8BITMIME SMTPUTF8\r\n"
		       "RCPT TO:<j\xc3\xb6rg@example.com>\r\nDATA\r\nx\r\n.\r\n");
}

/* 4xx and 5xx at each stage. */
static void test_failures(void **state)
{
	struct t *t = *state;

	t->f->rules[0] = (struct fake_rule){"MAIL", "451 4.3.0 Try later\r\n"};
	connect_ready(t);
	send_msg(t, "x\r\n", 3, three, 3, false);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_MAIL);
	assert_true(t->b.r.temporary);
	for (int i = 0; i < 3; i++)
		assert_int_equal(t->b.code[i], 451);
	assert_string_equal(t->b.reply[2], "451 4.3.0 Try later");

	t->f->rules[0] = (struct fake_rule){"RCPT", "550 5.1.1 Unknown\r\n"};
	send_msg(t, "x\r\n", 3, three, 2, false);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_RCPT);
	assert_int_equal(t->b.r.code, 550);
	assert_false(t->b.r.temporary);

	t->f->rules[0] = (struct fake_rule){"RCPT TO:<a", "452 4.5.3 Too many\r\n"};
	t->f->rules[1] = (struct fake_rule){"DATA", "554 5.5.1 No valid recipients\r\n"};
	send_msg(t, "x\r\n", 3, three, 2, false);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_DATA);
	assert_int_equal(t->b.code[0], 452);
	assert_int_equal(t->b.code[1], 554);
	assert_true(t->b.r.temporary);

	t->f->rules[0] = (struct fake_rule){".", "452 4.3.1 Insufficient storage\r\n"};
	t->f->rules[1] = (struct fake_rule){NULL, NULL};
	send_msg(t, "x\r\n", 3, three, 1, false);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_DOT);
	assert_int_equal(t->b.code[0], 452);
	assert_true(t->b.r.temporary);
	assert_true(smtp_client_conn_usable(t->b.conn));
	char *wire = fake_wire(t->f);
	assert_non_null(strstr(wire, "DATA\r\nx\r\n.\r\n"));
	free(wire);
}

/* 421 to a RCPT: every recipient temporary, the connection is gone. */
static void test_421(void **state)
{
	struct t *t = *state;

	t->f->rules[0] = (struct fake_rule){"RCPT TO:<b", "421 4.7.0 Shutting down\r\n"};
	connect_ready(t);
	send_msg(t, "x\r\n", 3, three, 3, false);
	assert_true(t->b.r.temporary);
	assert_int_equal(t->b.r.code, 421);
	assert_int_equal(t->b.code[0], 421); /* its 250 to RCPT was not delivery */
	assert_int_equal(t->b.code[2], 421);
	assert_false(smtp_client_conn_usable(t->b.conn));
}

static void test_malformed(void **state)
{
	struct t *t = *state;

	t->f->ehlo = "250-fake.test\n250 PIPELINING\r\n";
	connect_to(t);
	assert_int_equal(t->b.ready, -1);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_EHLO);
	assert_int_equal(t->b.r.code, 0);
	assert_true(t->b.r.temporary);
	assert_non_null(strstr(t->b.r.reply, "malformed reply"));
}

static void test_ehlo_refused_helo(void **state)
{
	struct t *t = *state;

	t->f->rules[0] = (struct fake_rule){"EHLO", "502 5.5.2 What\r\n"};
	connect_ready(t);
	send_msg(t, "x\r\n", 3, three, 1, false);
	assert_true(t->b.r.delivered);
	assert_wire(t, "EHLO client.test\r\nHELO client.test\r\nMAIL FROM:<s@example.org>\r\n"
		       "RCPT TO:<a@example.com>\r\nDATA\r\nx\r\n.\r\n");
}

static void test_greeting_timeout(void **state)
{
	struct t *t = *state;
	long long start = fake_now_ms();

	t->f->greeting = FAKE_SILENT;
	t->o.greeting_timeout_s = 1;
	connect_to(t);
	assert_int_equal(t->b.ready, -1);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_GREETING);
	assert_true(t->b.r.temporary);
	assert_non_null(strstr(t->b.r.reply, "timeout"));
	assert_true(fake_now_ms() - start >= 900);
}

static void test_data_end_timeout(void **state)
{
	struct t *t = *state;

	t->f->rules[0] = (struct fake_rule){".", FAKE_SILENT};
	t->o.data_end_timeout_s = 1;
	connect_ready(t);
	send_msg(t, "x\r\n", 3, three, 2, false);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_DOT);
	assert_true(t->b.r.temporary);
	assert_int_equal(t->b.code[0], 0);
	assert_non_null(strstr(t->b.reply[1], "timeout"));
	assert_false(smtp_client_conn_usable(t->b.conn));
}

static void test_connect_refused(void **state)
{
	struct t *t = *state;
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(addr);
	char want[80];
	/* A bound port nobody listens on: refused, and no other test can take it meanwhile. */
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(s, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&addr, &alen), 0);
	t->b.conn = smtp_client_conn_new(t->base, (struct sockaddr *)&addr, sizeof(addr), &t->o,
					 on_ready, &t->b);
	RUN_UNTIL(t->base, t->b.ready != 0, 3000);
	assert_int_equal(t->b.ready, -1);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_CONNECT);
	snprintf(want, sizeof(want), "connect to 127.0.0.1:%u: Connection refused",
		 ntohs(addr.sin_port));
	assert_string_equal(t->b.r.reply, want);
	close(s);
}

/*
 * xfrm_out pins the socket with an XFRM OUT policy requiring ESP. Without an
 * SA (and without CAP_NET_ADMIN the policy cannot even be set) nothing may
 * reach the peer in clear: the connection fails and the server never sees it.
 */
static void test_xfrm_out_never_in_clear(void **state)
{
	struct t *t = *state;

	t->o.xfrm_out = true;
	t->o.connect_timeout_s = 2;
	connect_to(t);
	assert_int_equal(t->b.ready, -1);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_CONNECT);
	assert_true(t->b.r.temporary);
	fake_run_ms(t->base, 100);
	assert_int_equal(t->f->accepted, 0);
}

/* ---- a connection pinned to a device that goes away ---------------------------------------- */

/* In a private network namespace; returns 0, 77 to skip, or the failed step. */
static int pinned_device_child(void)
{
	int tun = tun_netns_enter();
	if (tun < 0)
		return -tun;

	struct event_base *base = event_base_new();
	struct in_addr a;
	inet_pton(AF_INET, TUN_NETNS_ADDR, &a);
	struct fake *f = fake_new_at(base, a.s_addr);
	struct smtp_client_opts o = {.helo_name = "client.test", .bind_device = TUN_NETNS_DEV};
	struct box b = {0};
	b.conn = smtp_client_conn_new(base, (struct sockaddr *)&f->addr, sizeof(f->addr), &o,
				      on_ready, &b);
	CHILD_CHECK(b.conn, 4, "connection object");
	RUN_UNTIL(base, b.ready != 0, 5000);
	CHILD_CHECK(b.ready == 1, 5, "ready over the pinned device");
	CHILD_CHECK(smtp_client_conn_usable(b.conn), 6, "usable while the device is there");
	CHILD_CHECK(!smtp_client_conn_device_gone(b.conn), 11, "device there");

	close(tun); /* the device is gone with its last fd */
	CHILD_CHECK(if_nametoindex(TUN_NETNS_DEV) == 0, 7, "device deleted");
	CHILD_CHECK(!smtp_client_conn_usable(b.conn), 8, "not usable once the device is gone");
	CHILD_CHECK(smtp_client_conn_device_gone(b.conn), 12, "device gone");

	tun = tun_netns_open(TUN_NETNS_DEV, NULL); /* the same name, another index */
	CHILD_CHECK(tun >= 0, 9, "create the TUN device again");
	CHILD_CHECK(!smtp_client_conn_usable(b.conn), 10, "not usable over the new device");
	CHILD_CHECK(smtp_client_conn_device_gone(b.conn), 13, "device recreated");

	smtp_client_conn_free(b.conn);
	fake_free(f);
	event_base_free(base);
	close(tun);
	return 0;
}

/*
 * A connection pinned to a device (SO_BINDTODEVICE) is usable only while
 * that device exists under the index it had: the TUN device of a restarted
 * charon is deleted and created anew, and carries nothing of the old
 * connections, so they must not be reused. Root only (a private network
 * namespace with its own TUN device, in a child process).
 */
static void test_pinned_device_gone(void **state)
{
	(void)state;
	tun_netns_run(pinned_device_child);
}

/* Two messages over one connection (the first end of data reset the server: no RSET), QUIT. */
static void test_reuse_and_quit(void **state)
{
	struct t *t = *state;

	connect_ready(t);
	send_msg(t, "one\r\n", 5, three, 1, false);
	send_msg(t, "two\r\n", 5, three + 1, 1, false);
	assert_true(t->b.r.delivered);
	assert_int_equal(t->f->accepted, 1);
	assert_int_equal(t->f->messages, 2);
	smtp_client_conn_quit(t->b.conn);
	t->b.conn = NULL;
	RUN_UNTIL(t->base, t->f->conns[0] == NULL, 2000);
	assert_wire(t, "EHLO client.test\r\nMAIL FROM:<s@example.org> SIZE=5\r\n"
		       "RCPT TO:<a@example.com>\r\nDATA\r\none\r\n.\r\n"
		       "MAIL FROM:<s@example.org> SIZE=5\r\nRCPT TO:<b@example.com>\r\n"
		       "DATA\r\ntwo\r\n.\r\nQUIT\r\n");
}

/*
 * PIPELINING: DATA goes in one group with MAIL and RCPT (one read at the
 * server). Every RCPT refused: a server that still answers DATA with 354
 * gets an empty content, the RCPT replies decide, and as the end of data
 * reset the server the next transaction needs no RSET; one whose DATA is
 * refused instead still holds the MAIL: RSET before the next.
 */
static void test_data_in_the_group(void **state)
{
	struct t *t = *state;

	connect_ready(t);
	t->f->max_lines_per_read = 0;
	send_msg(t, "one\r\n", 5, three, 2, false);
	assert_true(t->b.r.delivered);
	assert_true(t->f->max_lines_per_read >= 4); /* MAIL, 2 x RCPT, DATA in one read */

	evbuffer_drain(t->f->wire, evbuffer_get_length(t->f->wire));
	t->f->rules[0] = (struct fake_rule){"RCPT", "550 5.1.1 Unknown\r\n"};
	send_msg(t, "two\r\n", 5, three, 2, false);
	assert_both_refused(t, 550);
	assert_int_equal(t->f->messages, 2); /* the empty one ended the 354 */
	assert_wire(t, "MAIL FROM:<s@example.org> SIZE=5\r\nRCPT TO:<a@example.com>\r\n"
		       "RCPT TO:<b@example.com>\r\nDATA\r\n.\r\n");
	assert_true(smtp_client_conn_usable(t->b.conn));

	evbuffer_drain(t->f->wire, evbuffer_get_length(t->f->wire));
	t->f->rules[1] = (struct fake_rule){"DATA", "554 5.5.1 No valid recipients\r\n"};
	send_msg(t, "three\r\n", 7, three, 1, false);
	assert_int_equal(t->b.r.stage, SMTP_CLIENT_STAGE_RCPT);
	assert_int_equal(t->b.code[0], 550);
	assert_wire(t, "MAIL FROM:<s@example.org> SIZE=7\r\nRCPT TO:<a@example.com>\r\n"
		       "DATA\r\n");

	evbuffer_drain(t->f->wire, evbuffer_get_length(t->f->wire));
	t->f->rules[0] = (struct fake_rule){NULL, NULL};
	t->f->rules[1] = (struct fake_rule){NULL, NULL};
	send_msg(t, "four\r\n", 6, three, 1, false);
	assert_true(t->b.r.delivered);
	assert_wire(t, "RSET\r\nMAIL FROM:<s@example.org> SIZE=6\r\nRCPT TO:<a@example.com>\r\n"
		       "DATA\r\nfour\r\n.\r\n");
}

/* Freeing the connection from inside its done callback is safe. */
static void on_done_free(void *arg, struct smtp_client_conn *conn,
			 const struct smtp_client_result *r)
{
	struct box *b = arg;
	(void)r;
	b->done++;
	smtp_client_conn_free(conn);
	b->conn = NULL;
}

static void test_free_in_callback(void **state)
{
	struct t *t = *state;
	off_t off;
	int fd = fake_content_file("x\r\n", 3, &off);
	struct smtp_client_msg m = {"s@example.org", three, 2, fd, off, 3, false, false};

	t->f->rules[0] = (struct fake_rule){"RCPT TO:<a", "421 4.7.0 Bye\r\n354 x\r\n"};
	connect_ready(t);
	assert_int_equal(smtp_client_conn_send(t->b.conn, &m, on_done_free, &t->b), 0);
	RUN_UNTIL(t->base, t->b.done == 1, 3000);
	fake_run_ms(t->base, 20);
	assert_int_equal(t->b.done, 1);
	assert_null(t->b.conn);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipelined_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockstep_multiline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bdat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bdat_in_the_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bdat_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_421, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ehlo_refused_helo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_greeting_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_end_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xfrm_out_never_in_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_in_the_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_and_quit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_in_callback, setup, teardown),
		cmocka_unit_test(test_pinned_device_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

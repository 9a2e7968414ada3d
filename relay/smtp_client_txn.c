/*
 * SMTP client engine: one message over a ready session. Envelope
 * (pipelined or lockstep), content (DATA with dot stuffing or BDAT chunks,
 * read straight from the spool file) and the per-recipient results.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "relay/smtp_client_conn.h"

/* Octets read from the spool file per pread(). */
#define READ_BLOCK (64 * 1024)
/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its brackets. */
#define PATH_MAX_OCTETS 254

void client_txn_release(struct smtp_client_conn *c)
{
	struct client_txn *t = &c->txn;

	free(t->rcpt_code);
	free(t->rcpt_reply);
	free(t->rcpt_buf);
	if (t->step_rcpts)
		for (size_t i = 0; i < t->m.nrcpts; i++)
			free(t->step_rcpts[i]);
	free(t->step_rcpts);
	free(t->step_from);
	if (t->chunk)
		evbuffer_free(t->chunk);
	memset(t, 0, sizeof(*t));
}

static void txn_set_rcpt(struct client_txn *t, size_t i, int code, const char *text)
{
	t->rcpt_code[i] = code;
	snprintf(t->rcpt_buf[i], SMTP_CLIENT_REPLY_MAX, "%s", text);
}

/* Reports the message and returns the session to idle (unless it died). */
static void txn_finish(struct smtp_client_conn *c, int stage, int code, const char *text)
{
	struct client_txn *t = &c->txn;
	struct smtp_client_result *res = &c->res;
	smtp_client_done_fn cb = t->done_cb;
	size_t ok = 0;

	memset(res, 0, sizeof(*res));
	res->stage = stage;
	res->code = code;
	snprintf(res->reply, sizeof(res->reply), "%s", text);
	res->nrcpts = t->m.nrcpts;
	res->rcpt_code = t->rcpt_code;
	res->rcpt_reply = t->rcpt_reply;
	for (size_t i = 0; i < t->m.nrcpts; i++) {
		int cls = t->rcpt_code[i] / 100;
		if (cls == 2)
			ok++;
		else if (cls != 5)
			res->temporary = true;
	}
	res->delivered = ok == t->m.nrcpts;
	t->local_pending = false;
	t->done_cb = NULL;
	if (c->phase == PH_TXN) {
		c->phase = PH_READY;
		evtimer_del(c->timer);
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	}
	if (t->step && t->step_waiting) {
		/* A step-wise MAIL or RCPT waited: its callback hears of the failure. */
		smtp_client_step_fn scb = t->step_cb;
		t->step_waiting = false;
		scb(t->step_arg, c, code, res->reply);
		return;
	}
	if (cb)
		cb(t->done_arg, c, res);
}

void client_txn_abort(struct smtp_client_conn *c, int stage, int code, const char *text)
{
	struct client_txn *t = &c->txn;

	/* Nothing is final before the content's reply: a RCPT 250 is not delivery. */
	for (size_t i = 0; i < t->m.nrcpts; i++) {
		int cls = t->rcpt_code[i] / 100;
		if (i >= t->rcpt_replied || t->mail_failed || cls == 2 || cls == 0)
			txn_set_rcpt(t, i, code, text);
	}
	txn_finish(c, stage, code, text);
}

void client_txn_report_local(struct smtp_client_conn *c)
{
	struct client_txn *t = &c->txn;

	txn_finish(c, SMTP_CLIENT_STAGE_MAIL, t->fail_code, t->fail_text);
}

static bool txn_addr_ok(const char *a, bool *utf8)
{
	size_t n = strlen(a);

	if (n > PATH_MAX_OCTETS)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)a[i];
		if (ch < 0x20 || ch == 0x7f)
			return false;
		if (ch >= 0x80)
			*utf8 = true;
	}
	return true;
}

/* Checks that need no peer: returns 0, or fills fail_code/fail_text (permanent). */
static int txn_local_check(struct smtp_client_conn *c, bool *need_utf8)
{
	struct client_txn *t = &c->txn;
	bool ok = txn_addr_ok(t->m.from, need_utf8);

	for (size_t i = 0; i < t->m.nrcpts; i++)
		ok = txn_addr_ok(t->m.rcpts[i], need_utf8) && ok;
	if (!ok) {
		t->fail_code = 553;
		snprintf(t->fail_text, sizeof(t->fail_text),
			 "553 5.1.3 Unusable address in the queue file");
		return -1;
	}
	if (*need_utf8 && !(c->esmtp && c->caps.smtputf8)) {
		t->fail_code = 553;
		snprintf(t->fail_text, sizeof(t->fail_text),
			 "553 5.6.7 The message needs SMTPUTF8, which %s does not offer",
			 c->peer_text);
		return -1;
	}
	if (c->esmtp && c->caps.size && c->caps.size_max && t->m.length > c->caps.size_max) {
		t->fail_code = 552;
		snprintf(t->fail_text, sizeof(t->fail_text),
			 "552 5.3.4 Message of %" PRIu64 " octets exceeds the limit of %s (%" PRIu64
			 ")",
			 t->m.length, c->peer_text, c->caps.size_max);
		return -1;
	}
	return 0;
}

/*
 * Sends t->chunk as the next BDAT (the last one when last) and expects its
 * reply. 0, or -1 when the output takes no more.
 */
static int txn_send_chunk(struct smtp_client_conn *c, bool last)
{
	struct client_txn *t = &c->txn;

	client_send(c, "BDAT %zu%s\r\n", evbuffer_get_length(t->chunk), last ? " LAST" : "");
	if (evbuffer_add_buffer(client_output(c), t->chunk) != 0)
		return -1;
	if (last) {
		t->content_queued = true;
		client_expect_push(c, EXP_DOT);
	} else {
		t->bdat_inflight++;
		client_expect_push(c, EXP_BDAT);
	}
	return 0;
}

/* pread() of the content at read_off: octets read (0 at a premature end), or -1. */
static ssize_t txn_pread(struct client_txn *t, char *buf, size_t want)
{
	ssize_t n;

	do
		n = pread(t->m.fd, buf, want, t->m.offset + (off_t)t->read_off);
	while (n < 0 && errno == EINTR);
	return n;
}

/*
 * A content of at most one chunk goes whole as BDAT LAST right behind the
 * RCPTs (RFC 3030 4.2, RFC 2920) instead of a round trip later: the server
 * refuses the chunk when it accepted no recipient, and then the envelope's
 * replies decide (client_txn_on_dot). It is read here, before anything is
 * sent; a file that lets us down, or no memory, means only that the BDAT
 * waits for the RCPT replies as a longer content does, and the content stage
 * reports the trouble then.
 */
static void txn_bdat_with_envelope(struct smtp_client_conn *c)
{
	struct client_txn *t = &c->txn;
	size_t len = (size_t)t->m.length;
	char *buf;

	if (t->m.length > SMTP_CLIENT_CHUNK || !(buf = malloc(len ? len : 1)))
		return;
	if (!(t->chunk = evbuffer_new()))
		goto out;
	while (t->read_off < t->m.length) {
		ssize_t n = txn_pread(t, buf + t->read_off, len - (size_t)t->read_off);
		if (n <= 0)
			goto out;
		t->read_off += (uint64_t)n;
	}
	smtp_content_enc_init(&t->enc, false);
	if (smtp_content_enc_feed(&t->enc, buf, len, t->chunk) != 0 ||
	    smtp_content_enc_finish(&t->enc, t->chunk) != 0)
		goto out;
	if (txn_send_chunk(c, true) != 0)
		fatal("smtp client: cannot move a chunk into the output");
	t->bdat = true;
	t->content_started = true;
	t->data_pipelined = true;
	free(buf);
	return;
out:
	free(buf);
	t->read_off = 0;
	if (t->chunk) {
		evbuffer_free(t->chunk);
		t->chunk = NULL;
	}
}

static void txn_send_rcpt(struct smtp_client_conn *c)
{
	struct client_txn *t = &c->txn;

	client_send(c, "RCPT TO:<%s>\r\n", t->m.rcpts[t->rcpt_sent++]);
	client_expect_push(c, EXP_RCPT);
}

static void txn_send_mail(struct smtp_client_conn *c, bool utf8)
{
	struct client_txn *t = &c->txn;
	char params[96] = "";
	size_t n = 0;

	if (c->esmtp && c->caps.size && !(t->step && t->m.length == 0))
		n += (size_t)snprintf(params + n, sizeof(params) - n, " SIZE=%" PRIu64,
				      t->m.length);
	if (c->esmtp && t->m.eightbit && c->caps.eightbitmime)
		n += (size_t)snprintf(params + n, sizeof(params) - n, " BODY=8BITMIME");
	if (utf8)
		snprintf(params + n, sizeof(params) - n, " SMTPUTF8");
	client_send(c, "MAIL FROM:<%s>%s\r\n", t->m.from, params);
	client_expect_push(c, EXP_MAIL);
	if (!t->pipelining)
		return;
	while (t->rcpt_sent < t->m.nrcpts)
		txn_send_rcpt(c);
	/*
	 * DATA as the last command of the group (RFC 2920 3.1) saves a round
	 * trip; with CHUNKING a content of one chunk goes whole as BDAT LAST,
	 * and a longer one waits for the RCPT replies.
	 */
	if (t->step)
		return;
	if (!c->caps.chunking) {
		client_send(c, "DATA\r\n");
		client_expect_push(c, EXP_DATA);
		t->data_pipelined = true;
	} else {
		txn_bdat_with_envelope(c);
	}
}

/* Room for cap expected replies; the FIFO starts empty. 0, or -1 (out of memory). */
static int expect_reserve(struct smtp_client_conn *c, size_t cap)
{
	if (cap > c->exp_cap) {
		uint8_t *exp = realloc(c->expect, cap);
		if (!exp)
			return -1;
		c->expect = exp;
		c->exp_cap = cap;
	}
	c->exp_head = 0;
	return 0;
}

/*
 * Starts the transaction: MAIL (with RCPTs and DATA when pipelining), after
 * RSET if the server may still hold a transaction; pipelined, MAIL goes with
 * the RSET, else it waits for its reply (client_txn_on_rset).
 */
static void txn_begin(struct smtp_client_conn *c, bool utf8)
{
	c->txn.utf8 = utf8;
	if (c->used) {
		client_send(c, "RSET\r\n");
		client_expect_push(c, EXP_RSET);
		if (c->txn.pipelining)
			txn_send_mail(c, utf8);
	} else {
		txn_send_mail(c, utf8);
	}
	c->used = true;
	client_arm_for_head(c);
}

int smtp_client_conn_send(struct smtp_client_conn *c, const struct smtp_client_msg *m,
			  smtp_client_done_fn done_cb, void *arg)
{
	struct client_txn *t = &c->txn;
	bool utf8 = m->smtputf8;

	if (!smtp_client_conn_usable(c) || c->exp_count != 0)
		return -1;
	if (m->nrcpts == 0 || !m->from)
		fatal("smtp_client_conn_send: a message without recipients");
	client_txn_release(c);
	t->m = *m;
	t->done_cb = done_cb;
	t->done_arg = arg;
	t->rcpt_code = calloc(m->nrcpts, sizeof(*t->rcpt_code));
	t->rcpt_reply = calloc(m->nrcpts, sizeof(*t->rcpt_reply));
	t->rcpt_buf = calloc(m->nrcpts, sizeof(*t->rcpt_buf));
	if (!t->rcpt_code || !t->rcpt_reply || !t->rcpt_buf ||
	    expect_reserve(c, m->nrcpts + CLIENT_BDAT_INFLIGHT + 4) < 0) {
		client_txn_release(c);
		return -1;
	}
	for (size_t i = 0; i < m->nrcpts; i++)
		t->rcpt_reply[i] = t->rcpt_buf[i];
	c->phase = PH_TXN;
	t->pipelining = c->esmtp && c->caps.pipelining;
	if (txn_local_check(c, &utf8) != 0) {
		for (size_t i = 0; i < m->nrcpts; i++)
			txn_set_rcpt(t, i, t->fail_code, t->fail_text);
		t->local_pending = true;
		event_active(c->kick, EV_TIMEOUT, 1);
		return 0;
	}
	txn_begin(c, utf8);
	return 0;
}

void client_txn_on_rset(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	if (r->code / 100 != 2) {
		client_fail(c, SMTP_CLIENT_STAGE_MAIL, r, NULL);
		return;
	}
	if (!c->txn.pipelining)
		txn_send_mail(c, c->txn.utf8);
}

/* Every RCPT has its reply: send the content, or end the message. */
static void txn_envelope_done(struct smtp_client_conn *c)
{
	struct client_txn *t = &c->txn;
	char text[SMTP_CLIENT_REPLY_MAX];

	if (t->mail_failed) {
		for (size_t i = 0; i < t->m.nrcpts; i++)
			txn_set_rcpt(t, i, t->fail_code, t->fail_text);
		txn_finish(c, SMTP_CLIENT_STAGE_MAIL, t->fail_code, t->fail_text);
		return;
	}
	if (t->rcpt_ok == 0) {
		/* The decisive reply: a temporary one if any, so the message is retried. */
		size_t pick = 0;
		for (size_t i = 0; i < t->m.nrcpts; i++)
			if (t->rcpt_code[i] / 100 == 4) {
				pick = i;
				break;
			}
		snprintf(text, sizeof(text), "%s", t->rcpt_reply[pick]);
		txn_finish(c, SMTP_CLIENT_STAGE_RCPT, t->rcpt_code[pick], text);
		return;
	}
	if (c->esmtp && c->caps.chunking) {
		t->bdat = true;
		t->content_started = true;
		t->chunk = evbuffer_new();
		if (!t->chunk) {
			client_fail(c, SMTP_CLIENT_STAGE_DATA, NULL, "out of memory");
			return;
		}
		smtp_content_enc_init(&t->enc, false);
		client_txn_pump(c);
		return;
	}
	client_send(c, "DATA\r\n");
	client_expect_push(c, EXP_DATA);
}

/* The reply to a step-wise MAIL or RCPT goes to its callback as it is. */
static void txn_step_reply(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	struct client_txn *t = &c->txn;
	char text[SMTP_CLIENT_REPLY_MAX];

	smtp_reply_format(r, text, sizeof(text));
	t->step_waiting = false;
	client_arm_for_head(c);
	t->step_cb(t->step_arg, c, r->code, text);
}

void client_txn_on_mail(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	struct client_txn *t = &c->txn;

	if (t->step) {
		t->step_mail_ok = r->code / 100 == 2;
		txn_step_reply(c, r);
		return;
	}

	if (r->code / 100 != 2) {
		t->mail_failed = true;
		t->fail_code = r->code;
		smtp_reply_format(r, t->fail_text, sizeof(t->fail_text));
		if (t->rcpt_sent == 0) /* lockstep: no RCPT replies to wait for */
			txn_envelope_done(c);
		return;
	}
	if (!t->pipelining)
		txn_send_rcpt(c);
}

void client_txn_on_rcpt(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	struct client_txn *t = &c->txn;
	size_t i = t->rcpt_replied++;

	if (t->step) {
		t->rcpt_code[i] = r->code;
		smtp_reply_format(r, t->rcpt_buf[i], SMTP_CLIENT_REPLY_MAX);
		if (r->code / 100 == 2)
			t->rcpt_ok++;
		txn_step_reply(c, r);
		return;
	}
	if (!t->mail_failed) {
		t->rcpt_code[i] = r->code;
		smtp_reply_format(r, t->rcpt_buf[i], SMTP_CLIENT_REPLY_MAX);
		if (r->code / 100 == 2)
			t->rcpt_ok++;
	}
	if (t->rcpt_replied < t->rcpt_sent)
		return;
	if (t->rcpt_sent < t->m.nrcpts && !t->mail_failed)
		txn_send_rcpt(c);
	else if (!t->data_pipelined) /* else the DATA reply comes next */
		txn_envelope_done(c);
}

/* The content was refused: accepted recipients get that reply. */
static void txn_content_failed(struct smtp_client_conn *c, int stage)
{
	struct client_txn *t = &c->txn;

	for (size_t i = 0; i < t->m.nrcpts; i++)
		if (t->rcpt_code[i] / 100 == 2)
			txn_set_rcpt(t, i, t->fail_code, t->fail_text);
	txn_finish(c, stage, t->fail_code, t->fail_text);
}

void client_txn_on_data(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	struct client_txn *t = &c->txn;

	if (t->data_pipelined && (t->mail_failed || t->rcpt_ok == 0)) {
		/* The envelope failed; a server that still said 354 gets an empty content. */
		if (r->code / 100 == 3) {
			t->data_abandoned = true;
			client_send(c, ".\r\n");
			client_expect_push(c, EXP_DOT);
			return;
		}
		txn_envelope_done(c);
		return;
	}
	if (r->code / 100 != 3) {
		t->fail_code = r->code;
		smtp_reply_format(r, t->fail_text, sizeof(t->fail_text));
		txn_content_failed(c, SMTP_CLIENT_STAGE_DATA);
		return;
	}
	t->content_started = true;
	smtp_content_enc_init(&t->enc, true);
	client_txn_pump(c);
}

void client_txn_on_bdat(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	struct client_txn *t = &c->txn;

	t->bdat_inflight--;
	if (r->code / 100 != 2 && !t->content_failed) {
		t->content_failed = true; /* send no more; the replies still due are read */
		t->fail_code = r->code;
		smtp_reply_format(r, t->fail_text, sizeof(t->fail_text));
	}
	if (t->content_failed) {
		if (c->exp_count == 0)
			txn_content_failed(c, SMTP_CLIENT_STAGE_DATA);
		return;
	}
	client_txn_pump(c);
}

void client_txn_on_dot(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	struct client_txn *t = &c->txn;
	char text[SMTP_CLIENT_REPLY_MAX];

	c->used = false; /* the end of data's reply: the server has reset */
	if (t->data_abandoned) {
		txn_envelope_done(c); /* the envelope's failure decides */
		return;
	}
	if (t->bdat && t->data_pipelined && (t->mail_failed || t->rcpt_ok == 0)) {
		/* The same, but a refused chunk may leave the server's MAIL standing. */
		c->used = true;
		txn_envelope_done(c);
		return;
	}
	if (t->content_failed) {
		txn_content_failed(c, SMTP_CLIENT_STAGE_DATA);
		return;
	}
	smtp_reply_format(r, text, sizeof(text));
	for (size_t i = 0; i < t->m.nrcpts; i++)
		if (t->rcpt_code[i] / 100 == 2)
			txn_set_rcpt(t, i, r->code, text);
	txn_finish(c, SMTP_CLIENT_STAGE_DOT, r->code, text);
}

/* Reads the next block of content; -1 with c failed when the file lets us down. */
static ssize_t txn_read(struct smtp_client_conn *c, char *buf, size_t want)
{
	struct client_txn *t = &c->txn;
	char text[SMTP_CLIENT_REPLY_MAX];
	uint64_t left = t->m.length - t->read_off;
	ssize_t n;

	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	n = txn_pread(t, buf, want);
	if (n <= 0) {
		/* Never end the content: a cut message must not look complete. */
		snprintf(text, sizeof(text), "read queue file: %s",
			 n == 0 ? "file shorter than its envelope says" : strerror(errno));
		client_fail(c, SMTP_CLIENT_STAGE_DATA, NULL, text);
		return -1;
	}
	t->read_off += (uint64_t)n;
	return n;
}

static int txn_pump_data(struct smtp_client_conn *c, char *buf)
{
	struct client_txn *t = &c->txn;
	struct evbuffer *out = client_output(c);

	while (!t->content_queued && evbuffer_get_length(out) < CLIENT_OUTPUT_HIGH) {
		ssize_t n = txn_read(c, buf, READ_BLOCK);
		if (n < 0)
			return -1;
		if (smtp_content_enc_feed(&t->enc, buf, (size_t)n, out) != 0)
			return -1;
		if (t->read_off == t->m.length) {
			if (smtp_content_enc_finish(&t->enc, out) != 0)
				return -1;
			t->content_queued = true;
			client_expect_push(c, EXP_DOT);
		}
	}
	return 0;
}

static int txn_pump_bdat(struct smtp_client_conn *c, char *buf)
{
	struct client_txn *t = &c->txn;
	struct evbuffer *out = client_output(c);

	while (!t->content_queued && evbuffer_get_length(out) < CLIENT_OUTPUT_HIGH &&
	       t->bdat_inflight < CLIENT_BDAT_INFLIGHT) {
		ssize_t n = txn_read(c, buf, READ_BLOCK);
		if (n < 0)
			return -1;
		if (smtp_content_enc_feed(&t->enc, buf, (size_t)n, t->chunk) != 0)
			return -1;
		bool last = t->read_off == t->m.length;
		if (last && smtp_content_enc_finish(&t->enc, t->chunk) != 0)
			return -1;
		if (!last && evbuffer_get_length(t->chunk) < SMTP_CLIENT_CHUNK)
			continue;
		if (txn_send_chunk(c, last) != 0)
			return -1;
	}
	return 0;
}

void client_txn_pump(struct smtp_client_conn *c)
{
	struct client_txn *t = &c->txn;
	char *buf;
	int rc;

	if (c->phase != PH_TXN || !t->content_started || t->content_failed)
		return;
	if (!t->content_queued) {
		buf = malloc(READ_BLOCK);
		if (!buf) {
			client_fail(c, SMTP_CLIENT_STAGE_DATA, NULL, "out of memory");
			return;
		}
		rc = t->bdat ? txn_pump_bdat(c, buf) : txn_pump_data(c, buf);
		free(buf);
		if (rc != 0) {
			if (c->phase == PH_TXN)
				client_fail(c, SMTP_CLIENT_STAGE_DATA, NULL, "out of memory");
			return;
		}
	}
	if (t->content_queued) {
		/* The end timeout runs from when the last octet left, so hear about that. */
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		if (evbuffer_get_length(client_output(c)) == 0)
			client_arm_for_head(c);
		else
			client_arm_timer(c, c->o.data_block_timeout_s ? c->o.data_block_timeout_s
								      : 180);
	} else {
		bufferevent_setwatermark(c->bev, EV_WRITE, CLIENT_OUTPUT_HIGH / 4, 0);
		client_arm_timer(c, c->o.data_block_timeout_s ? c->o.data_block_timeout_s : 180);
	}
}

/* ---- step-wise transactions ------------------------------------------------------------ */

/* Room for n recipients in the step-wise arrays; rcpt_reply points into rcpt_buf. */
static int step_grow(struct client_txn *t, size_t n)
{
	if (n <= t->step_cap)
		return 0;
	size_t cap = t->step_cap ? t->step_cap * 2 : 4;
	while (cap < n)
		cap *= 2;
	char **rc = realloc(t->step_rcpts, cap * sizeof(*rc));
	if (rc)
		t->step_rcpts = rc;
	int *code = realloc(t->rcpt_code, cap * sizeof(*code));
	if (code)
		t->rcpt_code = code;
	char **rep = realloc(t->rcpt_reply, cap * sizeof(*rep));
	if (rep)
		t->rcpt_reply = rep;
	char(*buf)[SMTP_CLIENT_REPLY_MAX] = realloc(t->rcpt_buf, cap * sizeof(*buf));
	if (buf)
		t->rcpt_buf = buf;
	if (!rc || !code || !rep || !buf)
		return -1;
	for (size_t i = 0; i < cap; i++)
		t->rcpt_reply[i] = t->rcpt_buf[i];
	t->m.rcpts = (const char *const *)t->step_rcpts;
	t->step_cap = cap;
	return 0;
}

int smtp_client_conn_mail(struct smtp_client_conn *c, const char *from, uint64_t size,
			  bool smtputf8, bool eightbit, smtp_client_step_fn step_cb, void *arg)
{
	struct client_txn *t = &c->txn;
	bool utf8 = smtputf8;

	if (!smtp_client_conn_usable(c) || c->exp_count != 0 || !from || !step_cb)
		return -1;
	client_txn_release(c);
	if (expect_reserve(c, CLIENT_BDAT_INFLIGHT + 4) < 0 || !(t->step_from = strdup(from)) ||
	    step_grow(t, 1) != 0) {
		client_txn_release(c);
		return -1;
	}
	t->step = true;
	t->step_cb = step_cb;
	t->step_arg = arg;
	t->step_waiting = true;
	t->m.from = t->step_from;
	t->m.length = size;
	t->m.smtputf8 = smtputf8;
	t->m.eightbit = eightbit;
	t->pipelining = false;
	c->phase = PH_TXN;
	if (txn_local_check(c, &utf8) != 0) {
		t->local_pending = true;
		event_active(c->kick, EV_TIMEOUT, 1);
		return 0;
	}
	txn_begin(c, utf8);
	return 0;
}

/* An open step-wise transaction with every step answered. */
static bool step_idle(const struct smtp_client_conn *c)
{
	const struct client_txn *t = &c->txn;
	return c->phase == PH_TXN && t->step && !t->step_waiting && !t->local_pending &&
	       !t->content_started && !t->done_cb && c->exp_count == 0 && !c->free_pending;
}

int smtp_client_conn_rcpt(struct smtp_client_conn *c, const char *rcpt, smtp_client_step_fn step_cb,
			  void *arg)
{
	struct client_txn *t = &c->txn;
	bool utf8 = false;

	if (!step_idle(c) || !t->step_mail_ok || !rcpt || !step_cb || !txn_addr_ok(rcpt, &utf8) ||
	    (utf8 && !t->utf8))
		return -1;
	if (step_grow(t, t->m.nrcpts + 1) != 0)
		return -1;
	if (!(t->step_rcpts[t->m.nrcpts] = strdup(rcpt)))
		return -1;
	t->rcpt_code[t->m.nrcpts] = 0;
	t->rcpt_buf[t->m.nrcpts][0] = '\0';
	t->m.nrcpts++;
	t->step_cb = step_cb;
	t->step_arg = arg;
	t->step_waiting = true;
	txn_send_rcpt(c);
	client_arm_for_head(c);
	return 0;
}

int smtp_client_conn_content(struct smtp_client_conn *c, int fd, off_t offset, uint64_t length,
			     smtp_client_done_fn done_cb, void *arg)
{
	struct client_txn *t = &c->txn;

	if (!step_idle(c) || t->rcpt_ok == 0 || !done_cb)
		return -1;
	t->m.fd = fd;
	t->m.offset = offset;
	t->m.length = length;
	t->done_cb = done_cb;
	t->done_arg = arg;
	txn_envelope_done(c);
	if (c->phase == PH_TXN)
		client_arm_for_head(c);
	return 0;
}

int smtp_client_conn_abandon(struct smtp_client_conn *c)
{
	if (!step_idle(c))
		return -1;
	c->phase = PH_READY;
	evtimer_del(c->timer);
	return 0;
}

/*
 * DATA and BDAT: the transaction's way to the sink. The engine writes its
 * Received: field first, then streams the content through smtp_body into
 * txn_write; at the end it refuses (size, bare newline, loop, write error)
 * or hands the message to txn_end and answers with the sink's reply.
 *
 * Long lines (over 1000 octets) are accepted and passed on unchanged: real
 * senders produce them, and refusing them would lose mail that every other
 * MTA takes; our client never folds or truncates them either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "common/clock.h"
#include "common/log.h"
#include "relay/smtp_session.h"

#define REPLY_354	"354 End data with <CR><LF>.<CR><LF>"
#define REPLY_NO_SINK	"451 4.3.0 Temporary failure, try again later"
#define RECEIVED_MAX	(2048 + SMTP_SERVER_NOTE_MAX)
#define DEFAULT_GRACE_S 10

static int session_body_sink(void *arg, const char *data, size_t len)
{
	struct smtp_session *s = arg;
	struct smtp_txn *t = s->txn;

	if (t->write_failed)
		return -1;
	if (s->server->hooks.txn_write(t->sink, data, len) != 0) {
		t->write_failed = true;
		return -1;
	}
	return 0;
}

static const char *received_protocol(const struct smtp_session *s)
{
	if (!s->esmtp)
		return "SMTP";
	if (s->txn->params.smtputf8)
		return s->tls ? "UTF8SMTPS" : "UTF8SMTP";
	return s->tls ? "ESMTPS" : "ESMTP";
}

/* RFC 5321 4.4 time stamp line; fields come from checked input only. */
static int format_received(const struct smtp_session *s, char *buf, size_t size)
{
	char date[64], peer[INET6_ADDRSTRLEN + 32], tls[160] = "",
						    rcpt[SMTP_ADDR_PATH_MAX + 16] = "";
	const char *note_sep = s->note ? "\r\n\t" : "", *note = s->note ? s->note : "";
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (!s->addr_ip)
		snprintf(peer, sizeof(peer), "local");
	else
		snprintf(peer, sizeof(peer), "unknown [%s%s]", s->addr_ip6 ? "IPv6:" : "", s->addr);
	if (s->tls)
		snprintf(tls, sizeof(tls), "\r\n\t(using %s with cipher %s)",
			 s->tls_version ? s->tls_version : "TLS",
			 s->tls_cipher ? s->tls_cipher : "unknown");
	if (s->txn->nrcpts == 1)
		snprintf(rcpt, sizeof(rcpt), "\r\n\tfor <%s>", s->txn->rcpts[0].mailbox);
	int n = snprintf(
		buf, size,
		"Received: from %s (%s)%s%s\r\n\tby %s (airlock) with %s id %s%s%s;\r\n\t%s\r\n",
		s->helo, peer, note_sep, note, s->server->hostname, received_protocol(s), s->id,
		tls, rcpt, date);
	return n > 0 && (size_t)n < size ? n : -1;
}

static void log_message(const struct smtp_session *s, const char *reply)
{
	char from[SMTP_ADDR_PATH_MAX * 4 + 8], quoted_reply[600];

	log_info("event=smtp-message session=%s client=%s from=%s nrcpt=%zu size=%llu reply=%s",
		 s->id, s->addr, log_quote(from, sizeof(from), s->txn->from.mailbox),
		 s->txn->nrcpts, (unsigned long long)s->txn->size,
		 log_quote(quoted_reply, sizeof(quoted_reply), reply));
}

static void count_reply(struct smtp_session *s, const char *reply)
{
	if (!s->server)
		return;
	switch (reply[0]) {
	case '2':
		s->server->stats.messages_accepted++;
		s->accepted++;
		break;
	case '4':
		s->server->stats.messages_tempfailed++;
		break;
	default:
		s->server->stats.messages_rejected++;
		break;
	}
}

/* Opens the sink's transaction and the body reader; NULL or the refusal. */
static const char *txn_open(struct smtp_session *s, enum smtp_body_mode mode, char *refusal,
			    size_t refusal_size)
{
	const struct smtp_server *srv = s->server;
	struct smtp_txn *t = s->txn;
	struct smtp_txn_info info;
	const char *reply = NULL;
	char received[RECEIVED_MAX];

	smtp_session_txn_info(s, &info);
	t->sink = srv->hooks.txn_begin(srv->hooks.ctx, &info, &reply);
	if (!t->sink) {
		snprintf(refusal, refusal_size, "%s", reply ? reply : REPLY_NO_SINK);
		return refusal;
	}
	struct smtp_body_opts bo = {
		.max_size = srv->opts.max_message_size,
		.normalise = srv->opts.normalise_bare_newlines,
		.allow_long_lines = true,
	};
	t->body = smtp_body_new(mode, &bo, session_body_sink, s);
	if (!t->body)
		return REPLY_NO_SINK;
	t->mode = mode == SMTP_BODY_DATA ? SMTP_TXN_DATA : SMTP_TXN_BDAT;
	s->messages++;
	int n = format_received(s, received, sizeof(received));
	if (n < 0 || srv->hooks.txn_write(t->sink, received, (size_t)n) != 0)
		t->write_failed = true;
	return NULL;
}

void smtp_session_data_start(struct smtp_session *s)
{
	char refusal[SMTP_CMD_LINE_MAX];
	const char *reply = txn_open(s, SMTP_BODY_DATA, refusal, sizeof(refusal));

	if (reply) {
		log_message(s, reply);
		smtp_session_txn_reset(s);
		smtp_session_reply(s, reply);
		return;
	}
	smtp_session_reply(s, REPLY_354);
	s->phase = SMTP_PHASE_DATA;
	s->request_start = clock_mono_s();
	s->content_bytes = 0;
}

static void start_discard(struct smtp_session *s, uint64_t size, const char *reply, bool is_error)
{
	s->discard_reply = strdup(reply);
	s->discard_is_error = is_error;
	s->discard_left = size;
	s->phase = SMTP_PHASE_BDAT_DISCARD;
	s->request_start = clock_mono_s();
	s->content_bytes = 0;
}

void smtp_session_bdat_start(struct smtp_session *s, uint64_t size, bool last)
{
	char refusal[SMTP_CMD_LINE_MAX];
	const char *reply;

	if (!s->helo_done) {
		start_discard(s, size, "503 5.5.1 Send EHLO or HELO first", true);
		return;
	}
	if (!s->txn) {
		start_discard(s, size, "503 5.5.1 Need MAIL command", true);
		return;
	}
	if (s->txn->nrcpts == 0) {
		start_discard(s, size, "554 5.5.1 No valid recipients", true);
		return;
	}
	if (s->txn->mode == SMTP_TXN_ENVELOPE) {
		reply = txn_open(s, SMTP_BODY_BDAT, refusal, sizeof(refusal));
		if (reply) {
			log_message(s, reply);
			smtp_session_txn_reset(s);
			start_discard(s, size, reply, false);
			return;
		}
	}
	smtp_body_bdat_chunk(s->txn->body, size, last);
	s->txn->chunk_size = size;
	s->phase = SMTP_PHASE_BDAT;
	s->request_start = clock_mono_s();
	s->content_bytes = 0;
}

/* The message is refused: tell the client, drop the sink's copy. */
static void message_refused(struct smtp_session *s, const char *reply)
{
	log_message(s, reply);
	count_reply(s, reply);
	smtp_session_reply(s, reply);
	smtp_session_txn_reset(s);
}

static void txn_done(void *cookie, const char *reply)
{
	struct smtp_session *s = cookie;

	if (!reply || reply[0] < '2' || reply[0] > '5' || reply[0] == '3' ||
	    strcspn(reply, "\r\n") != strlen(reply))
		fatal("sink gave a malformed end-of-data reply");
	if (!s->gone && s->phase != SMTP_PHASE_COMMIT)
		fatal("done() called without a pending txn_end");
	log_message(s, reply);
	count_reply(s, reply);
	if (s->gone) {
		smtp_session_txn_reset(s);
		free(s->note);
		free(s);
		return;
	}
	s->phase = SMTP_PHASE_COMMAND;
	smtp_session_reply(s, reply);
	smtp_session_txn_reset(s);
	smtp_session_resume(s);
}

static void message_end(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	struct smtp_body_result r;

	smtp_body_result(t->body, &r);
	t->size = r.size;
	if (s->server)
		s->server->stats.bytes_received += r.size;
	s->phase = SMTP_PHASE_COMMAND;
	s->request_start = 0;
	if (r.err != SMTP_OK) {
		message_refused(s, smtp_err_reply(r.err, SMTP_ROLE_SENDER));
		return;
	}
	if (r.received > SMTP_BODY_HOPS_MAX) {
		message_refused(s, smtp_err_reply(SMTP_ERR_TOO_MANY_HOPS, SMTP_ROLE_SENDER));
		return;
	}
	if (t->write_failed) {
		message_refused(s, smtp_err_reply(SMTP_ERR_BODY_WRITE, SMTP_ROLE_SENDER));
		return;
	}
	void *sink = t->sink;
	t->sink = NULL;
	smtp_body_free(t->body);
	t->body = NULL;
	s->phase = SMTP_PHASE_COMMIT;
	/* No idle timeout while the sink commits: the client waits for us. */
	struct timeval idle = {s->server->opts.command_timeout_s, 0};
	bufferevent_set_timeouts(s->bev, NULL, &idle);
	s->server->hooks.txn_end(sink, txn_done, s);
}

static void chunk_end(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	struct smtp_body_result r;
	char reply[64];

	smtp_body_result(t->body, &r);
	s->phase = SMTP_PHASE_COMMAND;
	s->request_start = 0;
	if (r.err != SMTP_OK || t->write_failed) {
		t->size = r.size;
		message_refused(s, smtp_err_reply(r.err != SMTP_OK ? r.err : SMTP_ERR_BODY_WRITE,
						  SMTP_ROLE_SENDER));
		return;
	}
	snprintf(reply, sizeof(reply), "250 2.0.0 %llu octets received",
		 (unsigned long long)t->chunk_size);
	smtp_session_reply(s, reply);
}

static bool discard_feed(struct smtp_session *s, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	size_t n = avail < s->discard_left ? avail : (size_t)s->discard_left;

	evbuffer_drain(in, n);
	s->discard_left -= n;
	s->content_bytes += n;
	if (s->discard_left > 0)
		return false;
	s->phase = SMTP_PHASE_COMMAND;
	s->request_start = 0;
	if (s->discard_is_error)
		smtp_session_error(s, s->discard_reply ? s->discard_reply : REPLY_NO_SINK);
	else
		smtp_session_reply(s, s->discard_reply ? s->discard_reply : REPLY_NO_SINK);
	free(s->discard_reply);
	s->discard_reply = NULL;
	return true;
}

bool smtp_session_content_feed(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	if (s->phase == SMTP_PHASE_BDAT_DISCARD)
		return discard_feed(s, in);
	for (;;) {
		struct evbuffer_iovec v = {(void *)"", 0};
		size_t used = 0;

		evbuffer_peek(in, -1, NULL, &v, 1);
		enum smtp_body_status st =
			smtp_body_feed(s->txn->body, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		s->content_bytes += used;
		if (st == SMTP_BODY_END) {
			message_end(s);
			return true;
		}
		if (st == SMTP_BODY_CHUNK_DONE) {
			chunk_end(s);
			return true;
		}
		if (v.iov_len == 0 || evbuffer_get_length(in) == 0)
			return false;
	}
}

bool smtp_session_data_too_slow(const struct smtp_session *s, uint64_t now)
{
	const struct smtp_server_opts *o = &s->server->opts;
	unsigned grace = o->data_rate_grace_s ? o->data_rate_grace_s : DEFAULT_GRACE_S;

	if (!o->min_data_rate || !s->request_start)
		return false;
	if (s->phase != SMTP_PHASE_DATA && s->phase != SMTP_PHASE_BDAT &&
	    s->phase != SMTP_PHASE_BDAT_DISCARD)
		return false;
	uint64_t elapsed = now - s->request_start;
	return elapsed >= grace && s->content_bytes < elapsed * o->min_data_rate;
}

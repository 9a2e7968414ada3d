/*
 * SMTP session: lifecycle on a bufferevent, the framing layer, and the
 * protocol table (policy described in smtp_session.h).
 */
#include "relay/smtp_session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>

#include "common/clock.h"
#include "common/log.h"
#include "relay/smtp_tls.h"

#define REPLY_VIOLATION	  "554 5.5.0 Protocol error: pipelining not allowed here"
#define REPLY_PREGREET	  "554 5.5.0 Protocol error: client spoke before the greeting"
#define REPLY_SEQUENCE	  "503 5.5.1 Bad sequence of commands"
#define REPLY_TIMEOUT	  "421 4.4.2 Timeout exceeded, closing connection"
#define REPLY_SHUTDOWN	  "421 4.7.0 Server shutting down, try again later"
#define REPLY_TOO_MANY	  "421 4.7.0 Too many errors, closing connection"
#define LINGER_CHECK_MS	  20
#define DEFAULT_TIMEOUT_S 300

/* Row flags of the protocol table. */
#define ROW_NEEDS_HELO 1u /* 503 5.5.1 before EHLO/HELO */
#define ROW_ENDS_GROUP 2u /* input buffered behind it is a violation */

struct smtp_verb_row {
	enum smtp_verb verb;
	unsigned flags;
	/* NULL to go on, or the refusal (counted as an error). */
	const char *(*check)(struct smtp_session *s, const struct smtp_cmd *cmd);
	void (*proceed)(struct smtp_session *s, const struct smtp_cmd *cmd);
};

static void session_process(struct smtp_session *s);
static void session_update_timers(struct smtp_session *s);
static void session_set_callbacks(struct smtp_session *s);

/* Entry points (callbacks) nest; only the outermost may destroy the session. */
static void session_enter(struct smtp_session *s)
{
	s->depth++;
}

static size_t session_output_pending(const struct smtp_session *s)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));
	struct bufferevent *under = bufferevent_get_underlying(s->bev);

	if (under)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

static void session_log_end(struct smtp_session *s)
{
	log_info("event=smtp-disconnect session=%s client=%s reason=%s commands=%llu "
		 "messages=%llu accepted=%llu errors=%u tls=%s",
		 s->id, s->addr, s->close_reason ? s->close_reason : "client-quit",
		 (unsigned long long)s->commands, (unsigned long long)s->messages,
		 (unsigned long long)s->accepted, s->errors, s->tls ? "yes" : "no");
}

/* Drops the connection; keeps the memory when the sink still owes done(). */
static void session_destroy(struct smtp_session *s)
{
	if (s->bev) {
		session_log_end(s);
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	if (s->tick) {
		event_free(s->tick);
		s->tick = NULL;
	}
	if (!smtp_session_owed(s))
		smtp_session_txn_reset(s);
	free(s->discard_reply);
	s->discard_reply = NULL;
	if (s->server) {
		smtp_server_session_closed(s->server, s);
		s->server = NULL;
	}
	if (smtp_session_owed(s)) {
		s->gone = true;
		return;
	}
	free(s->note);
	free(s);
}

/*
 * RFC 2920 3.2: while the session waits for its sink (an envelope check, a
 * commit) the replies it has made wait too, and all go out when it next
 * waits for its client. A pipelined group then gets its replies in one
 * segment instead of one each: through the tunnel, every segment is an ESP
 * packet for charon to seal and open, and an ACK back.
 */
static void session_pace_output(struct smtp_session *s)
{
	bool hold = smtp_session_owed(s);

	if (!s->bev || hold == s->output_held)
		return;
	s->output_held = hold;
	if (hold)
		bufferevent_disable(s->bev, EV_WRITE);
	else
		bufferevent_enable(s->bev, EV_WRITE);
}

static void session_leave(struct smtp_session *s)
{
	if (--s->depth > 0)
		return;
	session_pace_output(s);
	if (s->phase == SMTP_PHASE_CLOSING && s->bev && session_output_pending(s) == 0)
		s->want_destroy = true;
	if (s->want_destroy) {
		session_destroy(s);
		return;
	}
	session_update_timers(s);
}

void smtp_session_reply(struct smtp_session *s, const char *reply)
{
	if (!s->bev || s->phase == SMTP_PHASE_CLOSING)
		return;
	evbuffer_add_printf(bufferevent_get_output(s->bev), "%s\r\n", reply);
}

void smtp_session_close(struct smtp_session *s, const char *reason)
{
	if (s->phase == SMTP_PHASE_CLOSING)
		return;
	if (!s->close_reason)
		s->close_reason = reason;
	if (smtp_session_owed(s)) {
		/* The sink still owes done(): drop the connection, keep the session. */
		s->want_destroy = true;
		return;
	}
	smtp_session_txn_reset(s);
	s->phase = SMTP_PHASE_CLOSING;
	s->close_start = clock_mono_s();
	if (s->bev)
		bufferevent_disable(s->bev, EV_READ);
}

void smtp_session_error(struct smtp_session *s, const char *reply)
{
	smtp_session_reply(s, reply);
	s->errors++;
	if (s->server)
		s->server->stats.protocol_errors++;
	if (s->server && s->errors >= s->server->opts.max_errors) {
		smtp_session_reply(s, REPLY_TOO_MANY);
		smtp_session_close(s, "too-many-errors");
	}
}

static void session_violation(struct smtp_session *s, const char *reply, const char *reason)
{
	smtp_session_reply(s, reply);
	if (s->server)
		s->server->stats.protocol_errors++;
	s->errors++;
	smtp_session_close(s, reason);
}

void smtp_session_txn_info(const struct smtp_session *s, struct smtp_txn_info *info)
{
	memset(info, 0, sizeof(*info));
	info->session_id = s->id;
	info->client_addr = s->addr;
	info->helo = s->helo;
	info->esmtp = s->esmtp;
	info->tls = s->tls;
	info->tls_version = s->tls_version;
	info->tls_cipher = s->tls_cipher;
	info->note = s->note;
	if (s->txn) {
		info->from = &s->txn->from;
		info->rcpts = s->txn->rcpts;
		info->nrcpts = s->txn->nrcpts;
		info->smtputf8 = s->txn->params.smtputf8;
		info->body = s->txn->params.body;
		info->declared_size = s->txn->params.has_size ? s->txn->params.size : 0;
	}
}

void smtp_session_txn_reset(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;

	if (!t)
		return;
	if (t->sink && s->server)
		s->server->hooks.txn_abort(t->sink);
	if (t->envelope_async && t->envelope_end)
		t->envelope_end(t->envelope_ctx, s->id);
	smtp_body_free(t->body);
	free(t->rcpts);
	free(t);
	s->txn = NULL;
}

/* ---- the protocol table ---- */

static const char *check_no_txn(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	return s->txn ? "503 5.5.1 Nested MAIL command" : NULL;
}

static const char *check_in_envelope(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	if (!s->txn)
		return "503 5.5.1 Need MAIL command";
	if (s->txn->mode != SMTP_TXN_ENVELOPE)
		return "503 5.5.1 DATA and BDAT cannot be mixed";
	return NULL;
}

static const char *check_data(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	const char *refusal = check_in_envelope(s, cmd);

	if (refusal)
		return refusal;
	return s->txn->nrcpts == 0 ? "554 5.5.1 No valid recipients" : NULL;
}

static const char *check_starttls(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	if (!s->server->opts.tls)
		return "502 5.5.1 STARTTLS not available";
	if (s->tls)
		return "503 5.5.1 TLS already active";
	if (s->txn)
		return "503 5.5.1 STARTTLS not allowed during a transaction";
	return NULL;
}

/* A refused EHLO/HELO leaves the session as it was. */
static bool helo_common(struct smtp_session *s, const struct smtp_cmd *cmd, bool esmtp)
{
	if (cmd->arg_len >= sizeof(s->helo) ||
	    smtp_addr_check_domain(cmd->arg, cmd->arg_len, true) != SMTP_OK) {
		smtp_session_error(s, "501 5.5.4 Invalid domain name");
		return false;
	}
	smtp_session_txn_reset(s);
	memcpy(s->helo, cmd->arg, cmd->arg_len + 1);
	s->helo_done = true;
	s->esmtp = esmtp;
	return true;
}

static void proceed_helo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	char reply[300];

	if (!helo_common(s, cmd, false))
		return;
	snprintf(reply, sizeof(reply), "250 %s", s->server->hostname);
	smtp_session_reply(s, reply);
}

static void proceed_ehlo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	const struct smtp_server_opts *o = &s->server->opts;
	struct evbuffer *out = bufferevent_get_output(s->bev);

	if (!helo_common(s, cmd, true))
		return;
	evbuffer_add_printf(out, "250-%s\r\n250-PIPELINING\r\n", s->server->hostname);
	if (o->max_message_size)
		evbuffer_add_printf(out, "250-SIZE %llu\r\n",
				    (unsigned long long)o->max_message_size);
	else
		evbuffer_add_printf(out, "250-SIZE\r\n");
	evbuffer_add_printf(out, "250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n");
	if (o->tls && !s->tls)
		evbuffer_add_printf(out, "250-STARTTLS\r\n");
	evbuffer_add_printf(out, "250 CHUNKING\r\n");
}

static void proceed_mail(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	const struct smtp_server *srv = s->server;
	struct smtp_txn_info info;
	const char *refusal = NULL;

	if (cmd->params.has_size && srv->opts.max_message_size &&
	    cmd->params.size > srv->opts.max_message_size) {
		smtp_session_reply(s, smtp_err_reply(SMTP_ERR_BODY_TOO_BIG, SMTP_ROLE_SENDER));
		return;
	}
	s->txn = calloc(1, sizeof(*s->txn));
	if (!s->txn) {
		smtp_session_reply(s, "451 4.3.0 Out of memory");
		return;
	}
	s->txn->from = cmd->path;
	s->txn->params = cmd->params;
	if (srv->hooks.mail_async) {
		smtp_session_mail_async(s);
		return;
	}
	if (srv->hooks.check_mail) {
		smtp_session_txn_info(s, &info);
		refusal = srv->hooks.check_mail(srv->hooks.ctx, &info);
	}
	if (refusal) {
		smtp_session_txn_reset(s);
		smtp_session_error(s, refusal);
		return;
	}
	smtp_session_reply(s, "250 2.1.0 Ok");
}

static bool domain_is_relayed(const struct smtp_server *srv, const char *domain)
{
	size_t dlen = strlen(domain);

	for (size_t i = 0; i < srv->opts.nrelay_domains; i++) {
		const char *rd = srv->relay_domains[i];
		size_t rlen = strlen(rd);

		if (rd[0] == '.') {
			if (dlen > rlen && strcasecmp(domain + dlen - rlen, rd) == 0)
				return true;
		} else if (strcasecmp(domain, rd) == 0) {
			return true;
		}
	}
	return false;
}

static void proceed_rcpt(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	const struct smtp_server *srv = s->server;
	struct smtp_txn *t = s->txn;

	if (!cmd->path.postmaster && !srv->opts.accept_any_domain &&
	    (cmd->path.literal || !domain_is_relayed(srv, cmd->path.domain))) {
		smtp_session_error(s, "554 5.7.1 Relay access denied");
		return;
	}
	if (t->nrcpts >= srv->opts.max_recipients) {
		smtp_session_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (t->nrcpts == t->rcpts_cap) {
		size_t cap = t->rcpts_cap ? t->rcpts_cap * 2 : 4;
		struct smtp_addr *r = realloc(t->rcpts, cap * sizeof(*r));
		if (!r) {
			smtp_session_reply(s, "452 4.3.0 Out of memory");
			return;
		}
		t->rcpts = r;
		t->rcpts_cap = cap;
	}
	if (srv->hooks.rcpt_async) {
		smtp_session_rcpt_async(s, &cmd->path);
		return;
	}
	t->rcpts[t->nrcpts++] = cmd->path;
	smtp_session_reply(s, "250 2.1.5 Ok");
}

static void proceed_data(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_session_data_start(s);
}

static void proceed_bdat(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_session_bdat_start(s, cmd->bdat_size, cmd->bdat_last);
}

static void proceed_rset(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_session_txn_reset(s);
	smtp_session_reply(s, "250 2.0.0 Ok");
}

static void proceed_noop(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_session_reply(s, "250 2.0.0 Ok");
}

static void proceed_quit(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_session_reply(s, "221 2.0.0 Bye");
	smtp_session_close(s, "client-quit");
}

static void proceed_vrfy(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_session_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message");
}

static void proceed_help(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_session_reply(s, "214 2.0.0 See RFC 5321");
}

static void proceed_not_offered(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_session_error(s, cmd->verb == SMTP_VERB_EXPN ? "502 5.5.1 EXPN not available"
							  : "502 5.5.1 AUTH not available");
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg);

static void proceed_starttls(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct bufferevent *tls;

	(void)cmd;
	smtp_session_reply(s, "220 2.0.0 Ready to start TLS");
	/* RFC 3207 4.2: forget everything learnt from the client so far. */
	s->helo_done = false;
	s->esmtp = false;
	s->helo[0] = '\0';
	tls = smtp_tls_start(s->bev, s->server->opts.tls);
	if (!tls) {
		log_error("event=smtp-tls-error session=%s client=%s error=setup", s->id, s->addr);
		s->want_destroy = true;
		return;
	}
	s->bev = tls;
	s->phase = SMTP_PHASE_TLS_HANDSHAKE;
	session_set_callbacks(s);
}

static const struct smtp_verb_row verb_table[SMTP_VERB_COUNT] = {
	[SMTP_VERB_HELO] = {SMTP_VERB_HELO, ROW_ENDS_GROUP, NULL, proceed_helo},
	[SMTP_VERB_EHLO] = {SMTP_VERB_EHLO, ROW_ENDS_GROUP, NULL, proceed_ehlo},
	[SMTP_VERB_MAIL] = {SMTP_VERB_MAIL, ROW_NEEDS_HELO, check_no_txn, proceed_mail},
	[SMTP_VERB_RCPT] = {SMTP_VERB_RCPT, ROW_NEEDS_HELO, check_in_envelope, proceed_rcpt},
	[SMTP_VERB_DATA] = {SMTP_VERB_DATA, ROW_NEEDS_HELO | ROW_ENDS_GROUP, check_data,
			    proceed_data},
	/* BDAT checks itself: a refused chunk must still be read. */
	[SMTP_VERB_BDAT] = {SMTP_VERB_BDAT, 0, NULL, proceed_bdat},
	[SMTP_VERB_RSET] = {SMTP_VERB_RSET, 0, NULL, proceed_rset},
	[SMTP_VERB_NOOP] = {SMTP_VERB_NOOP, 0, NULL, proceed_noop},
	[SMTP_VERB_QUIT] = {SMTP_VERB_QUIT, 0, NULL, proceed_quit},
	[SMTP_VERB_VRFY] = {SMTP_VERB_VRFY, 0, NULL, proceed_vrfy},
	[SMTP_VERB_EXPN] = {SMTP_VERB_EXPN, 0, NULL, proceed_not_offered},
	[SMTP_VERB_HELP] = {SMTP_VERB_HELP, 0, NULL, proceed_help},
	[SMTP_VERB_STARTTLS] = {SMTP_VERB_STARTTLS, ROW_NEEDS_HELO, check_starttls,
				proceed_starttls},
	[SMTP_VERB_AUTH] = {SMTP_VERB_AUTH, 0, NULL, proceed_not_offered},
};

static void session_execute(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmd cmd;
	unsigned flags = 0;

	s->commands++;
	if (s->server->shutting_down) {
		smtp_session_reply(s, REPLY_SHUTDOWN);
		smtp_session_close(s, "shutdown");
		return;
	}
	if (s->esmtp)
		flags |= SMTP_CMD_F_ESMTP | SMTP_CMD_F_SMTPUTF8_OFFERED;
	if (s->txn && s->txn->params.smtputf8)
		flags |= SMTP_CMD_F_SMTPUTF8_TXN;
	if (smtp_cmd_parse(line, len, flags, &cmd) != SMTP_OK) {
		smtp_session_error(s, cmd.reply);
		if (smtp_err_closes_session(cmd.err))
			smtp_session_close(s, smtp_err_name(cmd.err));
		return;
	}
	const struct smtp_verb_row *row = &verb_table[cmd.verb];
	if (!row->proceed)
		fatal("no protocol table row for %s", smtp_verb_name(cmd.verb));
	if ((row->flags & ROW_ENDS_GROUP) &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		session_violation(s, REPLY_VIOLATION, "pipelining-violation");
		return;
	}
	if ((row->flags & ROW_NEEDS_HELO) && !s->helo_done) {
		smtp_session_error(s, "503 5.5.1 Send EHLO or HELO first");
		return;
	}
	const char *refusal = row->check ? row->check(s, &cmd) : NULL;
	if (refusal) {
		smtp_session_error(s, refusal);
		return;
	}
	row->proceed(s, &cmd);
}

/* ---- framing ---- */

enum line_status { LINE_NONE = 0, LINE_OK, LINE_TOO_LONG, LINE_BARE_NEWLINE };

static char byte_at(struct evbuffer *in, size_t pos)
{
	struct evbuffer_ptr p;
	char c = 0;

	if (evbuffer_ptr_set(in, &p, pos, EVBUFFER_PTR_SET) == 0)
		evbuffer_copyout_from(in, &p, &c, 1);
	return c;
}

/* Takes the next line (without CRLF) off the input into line[]. */
static enum line_status session_next_line(struct smtp_session *s, char *line, size_t *len)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t avail = evbuffer_get_length(in);
	struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, NULL);

	if (lf.pos < 0) {
		if (avail > 1 && (s->discard_line || avail > SMTP_CMD_TEXT_MAX + 1)) {
			/* Keep the last octet: it may be the CR of the CRLF. */
			s->discard_line = true;
			evbuffer_drain(in, avail - 1);
		}
		return LINE_NONE;
	}
	size_t pos = (size_t)lf.pos;
	bool cr = pos > 0 && byte_at(in, pos - 1) == '\r';
	if (s->discard_line || pos > SMTP_CMD_TEXT_MAX + 1) {
		s->discard_line = false;
		evbuffer_drain(in, pos + 1);
		return cr ? LINE_TOO_LONG : LINE_BARE_NEWLINE;
	}
	evbuffer_remove(in, line, pos + 1);
	if (!cr)
		return LINE_BARE_NEWLINE;
	*len = pos - 1;
	return LINE_OK;
}

static bool session_can_run(struct smtp_session *s)
{
	if (!s->bev || s->want_destroy)
		return false;
	switch (s->phase) {
	case SMTP_PHASE_COMMIT:
	case SMTP_PHASE_ENVELOPE:
	case SMTP_PHASE_TLS_HANDSHAKE:
	case SMTP_PHASE_CLOSING:
		return false;
	default:
		return evbuffer_get_length(bufferevent_get_output(s->bev)) <=
		       SMTP_SESSION_OUTPUT_HIGH;
	}
}

static void session_process(struct smtp_session *s)
{
	char line[SMTP_CMD_TEXT_MAX + 2];
	size_t len = 0;

	while (session_can_run(s)) {
		if (s->phase != SMTP_PHASE_COMMAND) {
			if (!smtp_session_content_feed(s))
				break;
			continue;
		}
		enum line_status st = session_next_line(s, line, &len);
		if (st == LINE_NONE)
			break;
		s->request_start = 0;
		if (st == LINE_OK) {
			session_execute(s, line, len);
		} else if (st == LINE_TOO_LONG) {
			s->commands++;
			smtp_session_error(
				s, smtp_err_reply(SMTP_ERR_LINE_TOO_LONG, SMTP_ROLE_SENDER));
		} else {
			s->commands++;
			session_violation(
				s, smtp_err_reply(SMTP_ERR_LINE_BARE_NEWLINE, SMTP_ROLE_SENDER),
				"line-bare-newline");
		}
	}
	/* A partial command line has started its request deadline. */
	if (s->bev && s->phase == SMTP_PHASE_COMMAND && s->request_start == 0 &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		s->request_start = clock_mono_s();
}

/* ---- callbacks and timers ---- */

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	session_enter(s);
	if (!s->greeting_flushed && s->phase == SMTP_PHASE_COMMAND &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		session_violation(s, REPLY_PREGREET, "pregreet");
	else
		session_process(s);
	session_leave(s);
}

static void session_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	session_enter(s);
	s->greeting_flushed = true;
	session_process(s);
	session_leave(s);
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	session_enter(s);
	if (what & BEV_EVENT_CONNECTED) {
		s->tls = true;
		s->phase = SMTP_PHASE_COMMAND;
		smtp_tls_describe(s->bev, &s->tls_version, &s->tls_cipher);
		log_info("event=smtp-tls session=%s client=%s version=%s cipher=%s", s->id, s->addr,
			 s->tls_version ? s->tls_version : "unknown",
			 s->tls_cipher ? s->tls_cipher : "unknown");
		session_process(s);
	} else if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
		   s->phase != SMTP_PHASE_CLOSING && s->phase != SMTP_PHASE_TLS_HANDSHAKE) {
		smtp_session_reply(s, REPLY_TIMEOUT);
		smtp_session_close(s, "idle-timeout");
		bufferevent_enable(s->bev, EV_WRITE);
	} else {
		if (!s->close_reason)
			s->close_reason = (what & BEV_EVENT_EOF)       ? "client-eof"
					  : (what & BEV_EVENT_TIMEOUT) ? "write-timeout"
					  : s->phase == SMTP_PHASE_TLS_HANDSHAKE
						  ? "tls-handshake-failed"
						  : "io-error";
		s->want_destroy = true;
	}
	session_leave(s);
}

static void session_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	const struct smtp_server_opts *o = &s->server->opts;
	uint64_t now = clock_mono_s();

	(void)fd;
	(void)what;
	session_enter(s);
	if (s->phase == SMTP_PHASE_CLOSING) {
		if (now - s->close_start >= o->command_timeout_s)
			s->want_destroy = true;
	} else if (o->request_deadline_s && s->request_start &&
		   now - s->request_start >= o->request_deadline_s) {
		smtp_session_reply(s, REPLY_TIMEOUT);
		smtp_session_close(s, "request-deadline");
	} else if (smtp_session_data_too_slow(s, now)) {
		smtp_session_reply(s, REPLY_TIMEOUT);
		smtp_session_close(s, "data-rate");
	}
	session_leave(s);
}

/* Arms the tick only while something is timed: a request, a rate, a linger. */
static void session_update_timers(struct smtp_session *s)
{
	struct timeval tv = {1, 0};
	bool need;

	if (!s->bev || !s->server)
		return;
	const struct smtp_server_opts *o = &s->server->opts;

	if (s->phase == SMTP_PHASE_CLOSING) {
		need = true;
		tv.tv_sec = 0;
		tv.tv_usec = LINGER_CHECK_MS * 1000;
	} else {
		need = (o->request_deadline_s && s->request_start) ||
		       (o->min_data_rate &&
			(s->phase == SMTP_PHASE_DATA || s->phase == SMTP_PHASE_BDAT ||
			 s->phase == SMTP_PHASE_BDAT_DISCARD));
	}
	if (!need) {
		if (s->tick)
			evtimer_del(s->tick);
		return;
	}
	if (!s->tick && !(s->tick = evtimer_new(s->server->base, session_tick_cb, s)))
		return;
	if (s->phase == SMTP_PHASE_CLOSING || !evtimer_pending(s->tick, NULL))
		evtimer_add(s->tick, &tv);
}

static void session_set_callbacks(struct smtp_session *s)
{
	struct timeval idle = {s->server->opts.command_timeout_s, 0};

	bufferevent_setcb(s->bev, session_read_cb, session_write_cb, session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_SESSION_INPUT_HIGH);
	bufferevent_set_timeouts(s->bev, &idle, &idle);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

void smtp_session_resume(struct smtp_session *s)
{
	if (!s->bev)
		return;
	struct timeval idle = {s->server->opts.command_timeout_s, 0};
	bufferevent_set_timeouts(s->bev, &idle, &idle);
	if (s->depth == 0)
		bufferevent_trigger(s->bev, EV_READ,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

int smtp_session_new(struct smtp_server *srv, int fd, const char *addr, bool addr_ip, bool addr_ip6,
		     struct smtp_client_count *client, const char *note)
{
	struct smtp_session *s = calloc(1, sizeof(*s));
	unsigned char rnd[8];
	char reply[300];

	if (!s) {
		close(fd);
		return -1;
	}
	if (note && note[0] && !(s->note = strdup(note))) {
		close(fd);
		free(s);
		return -1;
	}
	s->server = srv;
	s->client = client;
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(s->id, sizeof(s->id), rnd, sizeof(rnd));
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	s->addr_ip = addr_ip;
	s->addr_ip6 = addr_ip6;
	evutil_make_socket_nonblocking(fd);
	s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!s->bev) {
		close(fd);
		free(s->note);
		free(s);
		return -1;
	}
	s->next = srv->sessions;
	if (srv->sessions)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->stats.connections_now++;
	srv->stats.connections_total++;
	log_info("event=smtp-connect session=%s client=%s", s->id, s->addr);

	session_enter(s);
	session_set_callbacks(s);
	char peek;
	if (recv(fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
		s->greeting_flushed = true;
		session_violation(s, REPLY_PREGREET, "pregreet");
	} else {
		snprintf(reply, sizeof(reply), "220 %s ESMTP", srv->hostname);
		smtp_session_reply(s, reply);
	}
	session_leave(s);
	return 0;
}

void smtp_session_shutdown(struct smtp_session *s)
{
	struct evbuffer *in;

	if (!s->bev || s->phase != SMTP_PHASE_COMMAND || s->txn)
		return;
	in = bufferevent_get_input(s->bev);
	if (evbuffer_get_length(in) > 0)
		return;
	session_enter(s);
	smtp_session_reply(s, REPLY_SHUTDOWN);
	smtp_session_close(s, "shutdown");
	session_leave(s);
}

void smtp_session_drop(struct smtp_session *s, const char *reason)
{
	session_enter(s);
	if (!s->close_reason)
		s->close_reason = reason;
	s->want_destroy = true;
	session_leave(s);
}

void smtp_session_orphan(struct smtp_session *s)
{
	if (!s->close_reason)
		s->close_reason = "server-stop";
	if (s->depth == 0) {
		session_destroy(s);
		return;
	}
	/* Inside one of its own callbacks: unlink now, free on the way out. */
	if (!smtp_session_owed(s))
		smtp_session_txn_reset(s);
	if (s->tick) {
		event_free(s->tick);
		s->tick = NULL;
	}
	smtp_server_session_closed(s->server, s);
	s->server = NULL;
	s->want_destroy = true;
}

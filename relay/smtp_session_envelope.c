/*
 * SMTP session: MAIL and RCPT decided asynchronously by the sink
 * (smtp_server_hooks.mail_async / rcpt_async, for the hub's live proxy).
 * The session waits in SMTP_PHASE_ENVELOPE, reading no command, until the
 * sink's reply; like a pending end of data, it stays allocated until then
 * even when its client has gone.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "common/log.h"
#include "relay/smtp_session.h"

static void envelope_wait(struct smtp_session *s)
{
	s->phase = SMTP_PHASE_ENVELOPE;
	/* No idle timeout while the sink decides: the client waits for us. */
	struct timeval idle = {s->server->opts.command_timeout_s, 0};
	bufferevent_set_timeouts(s->bev, NULL, &idle);
}

static void envelope_reply(void *cookie, const char *reply)
{
	struct smtp_session *s = cookie;

	if (!reply || reply[0] < '2' || reply[0] > '5' || reply[0] == '3' ||
	    strcspn(reply, "\r\n") != strlen(reply))
		fatal("sink gave a malformed MAIL/RCPT reply");
	if (s->phase != SMTP_PHASE_ENVELOPE && !s->gone)
		fatal("envelope reply() without a pending mail_async/rcpt_async");
	bool ok = reply[0] == '2';
	bool rcpt = s->env_rcpt_wait;
	if (s->gone) {
		smtp_session_txn_reset(s);
		free(s->note);
		free(s);
		return;
	}
	s->phase = SMTP_PHASE_COMMAND;
	s->env_rcpt_wait = false;
	if (rcpt && ok && s->txn && s->txn->nrcpts < s->txn->rcpts_cap)
		s->txn->rcpts[s->txn->nrcpts++] = s->env_rcpt;
	if (!rcpt && !ok)
		smtp_session_txn_reset(s); /* the sender was refused: no transaction */
	smtp_session_reply(s, reply);
	if (strncmp(reply, "421", 3) == 0)
		smtp_session_close(s, "sink-421");
	smtp_session_resume(s);
}

void smtp_session_mail_async(struct smtp_session *s)
{
	const struct smtp_server *srv = s->server;
	struct smtp_txn_info info;

	s->txn->envelope_async = true;
	s->txn->envelope_end = srv->hooks.envelope_end;
	s->txn->envelope_ctx = srv->hooks.ctx;
	s->env_rcpt_wait = false;
	envelope_wait(s);
	smtp_session_txn_info(s, &info);
	srv->hooks.mail_async(srv->hooks.ctx, &info, envelope_reply, s);
}

void smtp_session_rcpt_async(struct smtp_session *s, const struct smtp_addr *rcpt)
{
	const struct smtp_server *srv = s->server;
	struct smtp_txn_info info;

	s->env_rcpt = *rcpt;
	s->env_rcpt_wait = true;
	envelope_wait(s);
	smtp_session_txn_info(s, &info);
	srv->hooks.rcpt_async(srv->hooks.ctx, &info, &s->env_rcpt, envelope_reply, s);
}

/*
 * Fuzz target for the SMTP server engine (relay/smtp_server, smtp_session,
 * smtp_session_data): the framing layer, the protocol table and DATA/BDAT
 * handling, driven through a socketpair exactly as a client would.
 *
 * Octet 0 picks the options (normalising, size limit, recipient limit,
 * synchronous or deferred done()); octet 1 seeds how the rest, the client's
 * byte stream, is cut into writes, with event-loop turns between them.
 * Invariants: every octet the server sends belongs to a well-formed reply
 * line ("ddd" then " " or "-", at most 512 octets with CRLF, no bare CR or
 * LF); stored messages begin with the engine's Received: field; once the
 * client has gone, the session is gone too (no leak, nothing pending).
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "relay/smtp_server.h"

#include "fuzz_check.h"

struct sink {
	struct event_base *base;
	bool deferred;
	int open;
};

struct txn {
	struct sink *sink;
	size_t len;
	bool received_checked;
};

struct done_call {
	smtp_txn_done_fn done;
	void *cookie;
};

static void *sink_begin(void *ctx, const struct smtp_txn_info *info, const char **reply)
{
	struct sink *s = ctx;
	struct txn *t = calloc(1, sizeof(*t));

	CHECK(info->nrcpts > 0);
	if (!t) {
		*reply = "451 4.3.0 Out of memory";
		return NULL;
	}
	t->sink = s;
	s->open++;
	return t;
}

static int sink_write(void *txn, const char *data, size_t len)
{
	struct txn *t = txn;

	if (!t->received_checked) {
		CHECK(len >= 10 && memcmp(data, "Received: ", 10) == 0);
		t->received_checked = true;
	}
	t->len += len;
	return 0;
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct done_call *d = arg;

	(void)fd;
	(void)what;
	d->done(d->cookie, "250 2.0.0 Ok: queued as F");
	free(d);
}

static void sink_end(void *txn, smtp_txn_done_fn done, void *cookie)
{
	struct txn *t = txn;
	struct sink *s = t->sink;
	struct done_call *d = malloc(sizeof(*d));

	CHECK(d != NULL);
	s->open--;
	free(t);
	d->done = done;
	d->cookie = cookie;
	if (!s->deferred) {
		done_cb(-1, 0, d);
		return;
	}
	struct timeval now = {0, 0};
	CHECK(event_base_once(s->base, -1, EV_TIMEOUT, done_cb, d, &now) == 0);
}

static void sink_abort(void *txn)
{
	struct txn *t = txn;

	t->sink->open--;
	free(t);
}

struct replies {
	size_t line_len; /* octets of the current line so far */
	bool cr;
};

static void check_output(struct replies *r, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (r->cr) {
			CHECK(c == '\n');
			r->cr = false;
			r->line_len = 0;
			continue;
		}
		CHECK(c != '\n');
		if (c == '\r') {
			CHECK(r->line_len >= 4);
			r->cr = true;
			continue;
		}
		if (r->line_len < 3)
			CHECK(c >= '0' && c <= '9');
		if (r->line_len == 3)
			CHECK(c == ' ' || c == '-');
		r->line_len++;
		CHECK(r->line_len <= 510);
	}
}

static void pump(struct event_base *base, int fd, struct replies *r, int turns, bool *eof)
{
	char buf[4096];

	for (int i = 0; i < turns; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		for (;;) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n == 0)
				*eof = true;
			if (n <= 0)
				break;
			check_output(r, buf, (size_t)n);
		}
	}
}

/* Asynchronous envelope hooks (opt & 32), answering at once; every MAIL asked must end. */
static unsigned env_asked, env_ended;

static void env_mail(void *ctx, const struct smtp_txn_info *info, smtp_txn_done_fn reply,
		     void *cookie)
{
	(void)ctx;
	env_asked++;
	reply(cookie, info->from->mailbox[0] == 'x' ? "451 4.3.0 later" : "250 2.1.0 ok");
}

static void env_rcpt(void *ctx, const struct smtp_txn_info *info, const struct smtp_addr *rcpt,
		     smtp_txn_done_fn reply, void *cookie)
{
	(void)ctx;
	(void)info;
	reply(cookie, rcpt->mailbox[0] == 'x'	? "550 5.1.1 no"
		      : rcpt->mailbox[0] == 'q' ? "421 4.3.2 closing"
						: "250 2.1.5 ok");
}

static void env_end(void *ctx, const char *session_id)
{
	(void)ctx;
	(void)session_id;
	env_ended++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const domains[] = {"example.com", ".sub.example.com"};
	static bool init;
	struct replies r = {0, false};
	bool eof = false;
	int sv[2];

	if (!init) {
		log_init("fuzz", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
		init = true;
	}
	if (size < 2)
		return 0;
	uint8_t opt = data[0];
	uint32_t seed = data[1] | 1u;
	data += 2;
	size -= 2;

	struct event_base *base = event_base_new();
	CHECK(base != NULL);
	struct sink sink = {base, (opt & 4) != 0, 0};
	struct smtp_server_opts o = {
		.hostname = "mx.example.com",
		.max_message_size = (opt & 2) ? 64 : 0,
		.max_recipients = (opt & 8) ? 2 : 100,
		.relay_domains = domains,
		.nrelay_domains = 2,
		.normalise_bare_newlines = (opt & 1) != 0,
		.command_timeout_s = 300,
		.max_errors = (opt & 16) ? 3 : 0,
		.accept_any_domain = (opt & 64) != 0,
	};
	struct smtp_server_hooks hooks = {.txn_begin = sink_begin,
					  .txn_write = sink_write,
					  .txn_end = sink_end,
					  .txn_abort = sink_abort,
					  .ctx = &sink};
	if (opt & 32) {
		hooks.mail_async = env_mail;
		hooks.rcpt_async = env_rcpt;
		hooks.envelope_end = env_end;
	}
	env_asked = env_ended = 0;
	struct smtp_server *srv = smtp_server_new(base, &o, &hooks);
	CHECK(srv != NULL);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0xc000020a)};
	CHECK(smtp_server_serve_fd(srv, sv[1], (struct sockaddr *)&sin, sizeof(sin)) == 0);
	pump(base, sv[0], &r, 2, &eof);

	size_t off = 0;
	while (off < size && !eof) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		size_t piece = 1 + seed % 97;
		if (piece > size - off)
			piece = size - off;
		ssize_t n = write(sv[0], data + off, piece);
		if (n > 0)
			off += (size_t)n;
		pump(base, sv[0], &r, 1, &eof);
		if (n <= 0 && !eof)
			pump(base, sv[0], &r, 4, &eof);
		if (n <= 0 && !eof)
			break; /* the server stopped reading (a full buffer while it waits) */
	}
	pump(base, sv[0], &r, 4, &eof);
	close(sv[0]);
	struct smtp_server_stats st;
	for (int i = 0; i < 50; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		smtp_server_get_stats(srv, &st);
		if (st.connections_now == 0 && sink.open == 0)
			break;
	}
	CHECK(st.connections_now == 0);
	CHECK(sink.open == 0);
	smtp_server_free(srv);
	event_base_loop(base, EVLOOP_NONBLOCK);
	/* Every envelope the sink was asked about ended exactly once (deferred commits may lag). */
	CHECK(env_ended <= env_asked);
	CHECK(sink.deferred || env_ended == env_asked);
	event_base_free(base);
	return 0;
}

/*
 * SMTP client engine: the session (connect, greeting, EHLO/HELO, STARTTLS,
 * QUIT), reply reading, deadlines and the reply table. The message
 * transaction is in smtp_client_txn.c.
 */
#include "relay/smtp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "relay/smtp_client_conn.h"
#include "tunnel/tunnel_socket.h"

/* RFC 5321 4.5.3.2 values, used when an option is 0. */
#define DEFAULT_CONNECT_S 30
#define DEFAULT_HELO_S	  300
/* The most we wait for the answer to QUIT before closing anyway. */
#define QUIT_TIMEOUT_S 5

static void client_on_greeting(struct smtp_client_conn *c, const struct smtp_reply *r);
static void client_on_ehlo(struct smtp_client_conn *c, const struct smtp_reply *r);
static void client_on_helo(struct smtp_client_conn *c, const struct smtp_reply *r);
static void client_on_starttls(struct smtp_client_conn *c, const struct smtp_reply *r);
static void client_on_quit(struct smtp_client_conn *c, const struct smtp_reply *r);

/* The protocol as a table: what each awaited reply answers and who handles it. */
static const struct client_expect_row {
	const char *name; /* the command, for messages */
	int stage;
	size_t timeout_off; /* offsetof the option in struct smtp_client_opts */
	unsigned default_s;
	void (*on_reply)(struct smtp_client_conn *c, const struct smtp_reply *r);
} expect_rows[EXP_COUNT] = {
	[EXP_GREETING] = {"greeting", SMTP_CLIENT_STAGE_GREETING,
			  offsetof(struct smtp_client_opts, greeting_timeout_s), 300,
			  client_on_greeting},
	[EXP_EHLO] = {"EHLO", SMTP_CLIENT_STAGE_EHLO,
		      offsetof(struct smtp_client_opts, helo_timeout_s), DEFAULT_HELO_S,
		      client_on_ehlo},
	[EXP_HELO] = {"HELO", SMTP_CLIENT_STAGE_EHLO,
		      offsetof(struct smtp_client_opts, helo_timeout_s), DEFAULT_HELO_S,
		      client_on_helo},
	[EXP_STARTTLS] = {"STARTTLS", SMTP_CLIENT_STAGE_TLS,
			  offsetof(struct smtp_client_opts, helo_timeout_s), DEFAULT_HELO_S,
			  client_on_starttls},
	[EXP_RSET] = {"RSET", SMTP_CLIENT_STAGE_MAIL,
		      offsetof(struct smtp_client_opts, mail_timeout_s), 300, client_txn_on_rset},
	[EXP_MAIL] = {"MAIL FROM", SMTP_CLIENT_STAGE_MAIL,
		      offsetof(struct smtp_client_opts, mail_timeout_s), 300, client_txn_on_mail},
	[EXP_RCPT] = {"RCPT TO", SMTP_CLIENT_STAGE_RCPT,
		      offsetof(struct smtp_client_opts, rcpt_timeout_s), 300, client_txn_on_rcpt},
	[EXP_DATA] = {"DATA", SMTP_CLIENT_STAGE_DATA,
		      offsetof(struct smtp_client_opts, data_init_timeout_s), 120,
		      client_txn_on_data},
	[EXP_BDAT] = {"BDAT", SMTP_CLIENT_STAGE_DATA,
		      offsetof(struct smtp_client_opts, data_block_timeout_s), 180,
		      client_txn_on_bdat},
	[EXP_DOT] = {"end of data", SMTP_CLIENT_STAGE_DOT,
		     offsetof(struct smtp_client_opts, data_end_timeout_s), 600, client_txn_on_dot},
	[EXP_QUIT] = {"QUIT", SMTP_CLIENT_STAGE_MAIL, 0, QUIT_TIMEOUT_S, client_on_quit},
};

static const char *const stage_names[SMTP_CLIENT_STAGE_COUNT] = {
	"connect", "greeting", "ehlo", "tls", "mail", "rcpt", "data", "dot",
};

const char *smtp_client_stage_name(int stage)
{
	if (stage < 0 || stage >= SMTP_CLIENT_STAGE_COUNT)
		return "unknown";
	return stage_names[stage];
}

unsigned client_timeout(const struct smtp_client_conn *c, enum client_expect e)
{
	const struct client_expect_row *row = &expect_rows[e];
	unsigned v = 0;

	if (e != EXP_QUIT)
		memcpy(&v, (const char *)&c->o + row->timeout_off, sizeof(v));
	return v ? v : row->default_s;
}

struct evbuffer *client_output(struct smtp_client_conn *c)
{
	return bufferevent_get_output(c->bev);
}

void client_send(struct smtp_client_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(client_output(c), fmt, ap);
	va_end(ap);
}

void client_expect_push(struct smtp_client_conn *c, enum client_expect e)
{
	if (c->exp_count == c->exp_cap)
		fatal("smtp client: reply queue overflow (%zu)", c->exp_cap);
	c->expect[(c->exp_head + c->exp_count++) % c->exp_cap] = (uint8_t)e;
}

void client_arm_timer(struct smtp_client_conn *c, unsigned seconds)
{
	struct timeval tv = {(time_t)seconds, 0};
	evtimer_add(c->timer, &tv);
}

void client_arm_for_head(struct smtp_client_conn *c)
{
	if (c->exp_count > 0)
		client_arm_timer(c, client_timeout(c, (enum client_expect)c->expect[c->exp_head]));
	else if (c->phase == PH_TXN && c->txn.step && !c->txn.content_started)
		evtimer_del(c->timer); /* a step-wise envelope waits for its caller */
	else if (c->phase == PH_TXN)
		client_arm_timer(c, c->o.data_block_timeout_s ? c->o.data_block_timeout_s : 180);
	else
		evtimer_del(c->timer);
}

static void client_destroy(struct smtp_client_conn *c)
{
	if (c->bev)
		bufferevent_free(c->bev);
	event_free(c->timer);
	event_free(c->kick);
	client_txn_release(c);
	free(c->expect);
	free(c);
}

void smtp_client_conn_free(struct smtp_client_conn *c)
{
	if (!c)
		return;
	c->ready_cb = NULL;
	c->idle_cb = NULL;
	c->txn.done_cb = NULL;
	if (c->depth > 0) {
		c->free_pending = true; /* inside one of our callbacks: free on the way out */
		c->phase = PH_DEAD;
		return;
	}
	client_destroy(c);
}

static void client_enter(struct smtp_client_conn *c)
{
	c->depth++;
}

static void client_leave(struct smtp_client_conn *c)
{
	if (--c->depth == 0 && c->free_pending)
		client_destroy(c);
}

/* Stops all I/O; the object stays until the owner frees it. */
static void client_go_dead(struct smtp_client_conn *c)
{
	c->phase = PH_DEAD;
	evtimer_del(c->timer);
	if (c->bev)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
}

void client_fail(struct smtp_client_conn *c, int stage, const struct smtp_reply *reply,
		 const char *text)
{
	char buf[SMTP_CLIENT_REPLY_MAX];
	int code = reply ? reply->code : 0;

	if (reply)
		smtp_reply_format(reply, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%s", text);
	switch (c->phase) {
	case PH_CONNECTING:
	case PH_HELLO:
	case PH_TLS_HANDSHAKE: {
		smtp_client_ready_fn cb = c->ready_cb;
		memset(&c->res, 0, sizeof(c->res));
		c->res.stage = stage;
		c->res.code = code;
		c->res.temporary = true; /* session trouble: the message may go later */
		snprintf(c->res.reply, sizeof(c->res.reply), "%s", buf);
		client_go_dead(c);
		c->ready_cb = NULL;
		if (cb)
			cb(c->ready_arg, c, &c->res);
		break;
	}
	case PH_TXN:
		client_go_dead(c);
		client_txn_abort(c, stage, code, buf);
		break;
	case PH_QUIT:
		smtp_client_conn_free(c);
		break;
	case PH_READY: {
		smtp_client_idle_fn cb = c->idle_cb;
		client_go_dead(c);
		c->idle_cb = NULL;
		if (cb)
			cb(c->idle_arg, c);
		break;
	}
	case PH_DEAD:
		client_go_dead(c);
		break;
	}
}

static void client_ready(struct smtp_client_conn *c)
{
	smtp_client_ready_fn cb = c->ready_cb;

	c->phase = PH_READY;
	c->ready_cb = NULL;
	evtimer_del(c->timer);
	if (cb)
		cb(c->ready_arg, c, NULL);
}

static void client_send_ehlo(struct smtp_client_conn *c)
{
	client_send(c, "EHLO %s\r\n", c->o.helo_name);
	client_expect_push(c, EXP_EHLO);
}

static void client_on_greeting(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	if (r->code / 100 != 2) {
		client_fail(c, SMTP_CLIENT_STAGE_GREETING, r, NULL);
		return;
	}
	client_send_ehlo(c);
}

/* After EHLO/HELO: STARTTLS if the mode wants it, else ready. */
static void client_after_hello(struct smtp_client_conn *c)
{
	char text[160];

	if (c->tls_active || c->o.tls_mode == SMTP_CLIENT_TLS_NEVER) {
		client_ready(c);
		return;
	}
	if (c->esmtp && c->caps.starttls && c->o.tls) {
		client_send(c, "STARTTLS\r\n");
		client_expect_push(c, EXP_STARTTLS);
		return;
	}
	if (c->o.tls_mode == SMTP_CLIENT_TLS_REQUIRED) {
		snprintf(text, sizeof(text), "TLS is required, but %s does not offer STARTTLS",
			 c->peer_text);
		client_fail(c, SMTP_CLIENT_STAGE_TLS, NULL, text);
		return;
	}
	client_ready(c);
}

static void client_on_ehlo(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	if (r->code / 100 == 2) {
		c->esmtp = true;
		smtp_caps_parse(r, &c->caps);
		client_after_hello(c);
	} else if (r->code / 100 == 5) {
		client_send(c, "HELO %s\r\n", c->o.helo_name);
		client_expect_push(c, EXP_HELO);
	} else {
		client_fail(c, SMTP_CLIENT_STAGE_EHLO, r, NULL);
	}
}

static void client_on_helo(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	if (r->code / 100 != 2) {
		client_fail(c, SMTP_CLIENT_STAGE_EHLO, r, NULL);
		return;
	}
	c->esmtp = false;
	memset(&c->caps, 0, sizeof(c->caps));
	client_after_hello(c);
}

static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);

static void client_start_tls(struct smtp_client_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	SSL *ssl = SSL_new(c->o.tls);
	struct bufferevent *tls;

	/* RFC 3207 5: whatever came with or after the 220 was not protected. */
	evbuffer_drain(in, evbuffer_get_length(in));
	if (!ssl) {
		client_fail(c, SMTP_CLIENT_STAGE_TLS, NULL, "cannot create a TLS session");
		return;
	}
	if (c->o.tls_servername)
		SSL_set_tlsext_host_name(ssl, c->o.tls_servername);
	if (c->o.tls_verify) {
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		if (c->o.tls_servername)
			SSL_set1_host(ssl, c->o.tls_servername);
	}
	tls = bufferevent_openssl_filter_new(c->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!tls) {
		SSL_free(ssl);
		client_fail(c, SMTP_CLIENT_STAGE_TLS, NULL, "cannot create a TLS session");
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	c->bev = tls;
	c->phase = PH_TLS_HANDSHAKE;
	bufferevent_setcb(tls, client_read_cb, client_write_cb, client_event_cb, c);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	client_arm_timer(c, client_timeout(c, EXP_STARTTLS));
}

static void client_on_starttls(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	if (r->code / 100 == 2) {
		client_start_tls(c);
	} else if (c->o.tls_mode == SMTP_CLIENT_TLS_REQUIRED) {
		client_fail(c, SMTP_CLIENT_STAGE_TLS, r, NULL);
	} else {
		client_ready(c); /* opportunistic: carry on in plaintext */
	}
}

static void client_on_quit(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	(void)r;
	smtp_client_conn_free(c);
}

/* A reply arrived: match it to the oldest command waiting for one. */
static void client_dispatch(struct smtp_client_conn *c, const struct smtp_reply *r)
{
	char text[SMTP_CLIENT_REPLY_MAX];

	if (c->exp_count == 0) {
		char quoted[160];
		smtp_reply_format(r, text, sizeof(text));
		log_info("event=smtp-client-unsolicited peer=%s reply=%s", c->peer_text,
			 log_quote(quoted, sizeof(quoted), text));
		/* Idle, it is the peer ending the session (a 421): the idle watcher hears of it. */
		if (c->phase == PH_READY)
			client_fail(c, SMTP_CLIENT_STAGE_MAIL, r, NULL);
		else
			client_go_dead(c);
		return;
	}
	enum client_expect e = (enum client_expect)c->expect[c->exp_head];
	c->exp_head = (c->exp_head + 1) % c->exp_cap;
	c->exp_count--;
	if (r->code == 421 && e != EXP_QUIT) {
		client_fail(c, expect_rows[e].stage, r, NULL); /* the peer is closing */
		return;
	}
	expect_rows[e].on_reply(c, r);
	if (!c->free_pending && c->phase != PH_DEAD && c->phase != PH_TLS_HANDSHAKE)
		client_arm_for_head(c);
}

static int client_head_stage(const struct smtp_client_conn *c)
{
	if (c->phase == PH_CONNECTING)
		return SMTP_CLIENT_STAGE_CONNECT;
	if (c->phase == PH_TLS_HANDSHAKE)
		return SMTP_CLIENT_STAGE_TLS;
	if (c->exp_count > 0)
		return expect_rows[c->expect[c->exp_head]].stage;
	return SMTP_CLIENT_STAGE_DATA;
}

static const char *client_head_name(const struct smtp_client_conn *c)
{
	if (c->phase == PH_TLS_HANDSHAKE)
		return "TLS handshake";
	if (c->exp_count > 0)
		return expect_rows[c->expect[c->exp_head]].name;
	return "message content";
}

/* The TCP connection is up: the greeting is next. */
static void client_connected(struct smtp_client_conn *c)
{
	c->phase = PH_HELLO;
	client_expect_push(c, EXP_GREETING);
	client_arm_for_head(c);
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client_conn *c = arg;
	char text[200];

	(void)bev;
	client_enter(c);
	/* Data can only arrive on a connected socket, whatever order libevent reports it in. */
	if (c->phase == PH_CONNECTING)
		client_connected(c);
	while (!c->free_pending && (c->phase == PH_HELLO || c->phase == PH_TXN ||
				    c->phase == PH_READY || c->phase == PH_QUIT)) {
		struct evbuffer *in = bufferevent_get_input(c->bev);
		size_t len = evbuffer_get_length(in), used;

		if (len == 0)
			break;
		if (len > SMTP_REPLY_INPUT_MAX)
			len = SMTP_REPLY_INPUT_MAX;
		const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
		enum smtp_reply_status st = smtp_reply_parse(p, len, &c->reply, &used);
		if (st == SMTP_REPLY_NEED_MORE)
			break;
		if (st == SMTP_REPLY_MALFORMED) {
			snprintf(text, sizeof(text), "malformed reply from %s to %s", c->peer_text,
				 client_head_name(c));
			client_fail(c, client_head_stage(c), NULL, text);
			break;
		}
		evbuffer_drain(in, used);
		client_dispatch(c, &c->reply);
	}
	client_leave(c);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client_conn *c = arg;

	(void)bev;
	client_enter(c);
	if (c->phase == PH_TXN)
		client_txn_pump(c);
	client_leave(c);
}

/* Describes a TLS failure: the certificate check if that failed, else OpenSSL's error. */
static void client_tls_error(struct smtp_client_conn *c, char *out, size_t outsz)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	unsigned long e = bufferevent_get_openssl_error(c->bev);
	char err[160] = "handshake failed";
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (vr != X509_V_OK)
		snprintf(err, sizeof(err), "certificate: %s", X509_verify_cert_error_string(vr));
	else if (e)
		ERR_error_string_n(e, err, sizeof(err));
	snprintf(out, outsz, "TLS with %s failed: %s", c->peer_text, err);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client_conn *c = arg;
	char text[SMTP_CLIENT_REPLY_MAX];
	int err = EVUTIL_SOCKET_ERROR();

	(void)bev;
	client_enter(c);
	if (what & BEV_EVENT_CONNECTED) {
		if (c->phase == PH_CONNECTING) {
			client_connected(c);
			/*
			 * libevent may have read the greeting before reporting the
			 * connect: handle what is already buffered, or it would wait
			 * for input that never comes.
			 */
			if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
				client_read_cb(c->bev, c);
		} else if (c->phase == PH_TLS_HANDSHAKE) {
			c->phase = PH_HELLO;
			c->tls_active = true;
			c->esmtp = false;
			memset(&c->caps, 0, sizeof(c->caps));
			client_send_ehlo(c);
			client_arm_for_head(c);
		}
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		if (c->phase == PH_CONNECTING) {
			snprintf(text, sizeof(text), "connect to %s: %s", c->peer_text,
				 err ? strerror(err) : "connection failed");
		} else if (c->phase == PH_TLS_HANDSHAKE) {
			client_tls_error(c, text, sizeof(text));
		} else {
			snprintf(text, sizeof(text), "lost connection with %s while waiting for %s",
				 c->peer_text, client_head_name(c));
		}
		client_fail(c, client_head_stage(c), NULL, text);
	}
	client_leave(c);
}

static void client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client_conn *c = arg;
	char text[200];

	(void)fd;
	(void)what;
	client_enter(c);
	c->timed_out = true;
	if (c->phase == PH_CONNECTING)
		snprintf(text, sizeof(text), "connect to %s: timed out", c->peer_text);
	else
		snprintf(text, sizeof(text), "timeout talking to %s while waiting for %s",
			 c->peer_text, client_head_name(c));
	client_fail(c, client_head_stage(c), NULL, text);
	client_leave(c);
}

static void client_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client_conn *c = arg;

	(void)fd;
	(void)what;
	client_enter(c);
	if (c->phase == PH_CONNECTING && c->res.reply[0])
		client_fail(c, SMTP_CLIENT_STAGE_CONNECT, NULL, c->res.reply);
	else if (c->phase == PH_TXN && c->txn.local_pending)
		client_txn_report_local(c);
	client_leave(c);
}

static void client_peer_text(const struct sockaddr *sa, char *out, size_t outsz)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, outsz, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, outsz, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(out, outsz, "unix");
	}
}

/* Pins and binds the socket as configured; a failure is described in c->res.reply. */
static int client_prepare_socket(struct smtp_client_conn *c, int fd)
{
	if (c->o.bind_device && c->o.bind_device[0] &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, c->o.bind_device,
		       (socklen_t)strlen(c->o.bind_device)) != 0) {
		snprintf(c->res.reply, sizeof(c->res.reply), "bind to device %s: %s",
			 c->o.bind_device, strerror(errno));
		return -1;
	}
	if (c->o.bind_device && c->o.bind_device[0])
		snprintf(c->bound_device, sizeof(c->bound_device), "%s", c->o.bind_device);
	if (c->o.xfrm_out) {
		char why[256];
		if (tunnel_socket_xfrm_policy(fd, c->peer.ss_family, TUNNEL_SOCKET_OUT, why,
					      sizeof(why)) != 0) {
			snprintf(c->res.reply, sizeof(c->res.reply), "pin to the tunnel: %s", why);
			return -1;
		}
	}
	if (c->o.source && bind(fd, c->o.source, c->o.source_len) != 0) {
		char src[64];
		client_peer_text(c->o.source, src, sizeof(src));
		snprintf(c->res.reply, sizeof(c->res.reply), "bind to %s: %s", src,
			 strerror(errno));
		return -1;
	}
	return 0;
}

struct smtp_client_conn *smtp_client_conn_new(struct event_base *base, const struct sockaddr *peer,
					      socklen_t len, const struct smtp_client_opts *o,
					      smtp_client_ready_fn ready_cb, void *arg)
{
	struct smtp_client_conn *c;
	int fd;

	if (len > sizeof(c->peer) || !o->helo_name)
		fatal("smtp_client_conn_new: bad arguments");
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->base = base;
	c->o = *o;
	c->o.source = NULL; /* the caller's pointer need not outlive this call */
	memcpy(&c->peer, peer, len);
	c->peer_len = len;
	c->ready_cb = ready_cb;
	c->ready_arg = arg;
	c->exp_cap = 8;
	c->expect = calloc(c->exp_cap, 1);
	c->timer = evtimer_new(base, client_timer_cb, c);
	c->kick = event_new(base, -1, 0, client_kick_cb, c);
	fd = socket(peer->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!c->expect || !c->timer || !c->kick || fd < 0)
		goto fail;
	client_peer_text(peer, c->peer_text, sizeof(c->peer_text));
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		goto fail;
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
	c->o.source = o->source;
	if (client_prepare_socket(c, fd) != 0 ||
	    bufferevent_socket_connect(c->bev, peer, len) != 0) {
		if (!c->res.reply[0])
			snprintf(c->res.reply, sizeof(c->res.reply), "connect to %s: %s",
				 c->peer_text, strerror(errno));
		event_active(c->kick, EV_TIMEOUT, 1);
	} else {
		client_arm_timer(c, c->o.connect_timeout_s ? c->o.connect_timeout_s
							   : DEFAULT_CONNECT_S);
	}
	c->o.source = NULL;
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
fail:
	if (fd >= 0)
		close(fd);
	if (c->timer)
		event_free(c->timer);
	if (c->kick)
		event_free(c->kick);
	free(c->expect);
	free(c);
	errno = ENOMEM;
	return NULL;
}

bool smtp_client_conn_usable(const struct smtp_client_conn *c)
{
	return c->phase == PH_READY && !c->free_pending && !smtp_client_conn_device_gone(c);
}

bool smtp_client_conn_device_gone(const struct smtp_client_conn *c)
{
	return c->bound_device[0] && c->bev &&
	       tunnel_socket_device_gone(bufferevent_getfd(c->bev), c->bound_device);
}

void smtp_client_conn_watch_idle(struct smtp_client_conn *c, smtp_client_idle_fn cb, void *arg)
{
	c->idle_cb = cb;
	c->idle_arg = arg;
}

bool smtp_client_conn_lost(const struct smtp_client_conn *c)
{
	return c->phase == PH_DEAD && !c->timed_out;
}

void smtp_client_conn_quit(struct smtp_client_conn *c)
{
	if (!smtp_client_conn_usable(c) || c->exp_count != 0) {
		smtp_client_conn_free(c);
		return;
	}
	c->ready_cb = NULL;
	c->phase = PH_QUIT;
	client_send(c, "QUIT\r\n");
	client_expect_push(c, EXP_QUIT);
	client_arm_for_head(c);
}

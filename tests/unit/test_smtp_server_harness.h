/*
 * Shared by the test_smtp_server*.c files: a server on a private event base,
 * a client on the other end of a socketpair (plain or TLS, pumped from the
 * same thread) and a fake sink that keeps messages in memory and answers
 * end of data after a delay. Every wait is bounded (WAIT_MS).
 */
#ifndef TEST_SMTP_SERVER_HARNESS_H
#define TEST_SMTP_SERVER_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "relay/smtp_server.h"

/* Not every test file uses every helper. */
#define HARNESS_FN static __attribute__((unused))

#define WAIT_MS	 5000
#define MAX_MSGS 8

struct fake_sink {
	struct event_base *base;
	int delay_ms;		   /* done() after this long; < 0: inside txn_end */
	int fail_write_at;	   /* the nth txn_write of a message fails; 0: never */
	const char *mail_refusal;  /* check_mail answer */
	const char *begin_refusal; /* txn_begin refuses with it */
	char *msgs[MAX_MSGS];
	size_t lens[MAX_MSGS];
	int nmsgs, begun, aborted, ended, done_calls;
	size_t last_nrcpts;
	char last_helo[256];
};

struct fake_txn {
	struct fake_sink *sink;
	char *buf;
	size_t len;
	int writes;
};

struct pending_done {
	smtp_txn_done_fn done;
	void *cookie;
	char reply[64];
	struct fake_sink *sink;
};

static const char *fake_check_mail(void *ctx, const struct smtp_txn_info *info)
{
	struct fake_sink *fs = ctx;
	assert_int_equal(info->nrcpts, 0);
	return fs->mail_refusal;
}

HARNESS_FN void *fake_begin(void *ctx, const struct smtp_txn_info *info, const char **reply)
{
	struct fake_sink *fs = ctx;
	fs->begun++;
	fs->last_nrcpts = info->nrcpts;
	snprintf(fs->last_helo, sizeof(fs->last_helo), "%s", info->helo);
	if (fs->begin_refusal) {
		*reply = fs->begin_refusal;
		return NULL;
	}
	struct fake_txn *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->sink = fs;
	return t;
}

HARNESS_FN int fake_write(void *txn, const char *data, size_t len)
{
	struct fake_txn *t = txn;
	t->writes++;
	if (t->sink->fail_write_at && t->writes >= t->sink->fail_write_at)
		return -1;
	t->buf = realloc(t->buf, t->len + len + 1);
	assert_non_null(t->buf);
	memcpy(t->buf + t->len, data, len);
	t->len += len;
	t->buf[t->len] = '\0';
	return 0;
}

HARNESS_FN void fake_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pending_done *p = arg;
	(void)fd;
	(void)what;
	p->sink->done_calls++;
	p->done(p->cookie, p->reply);
	free(p);
}

HARNESS_FN void fake_end(void *txn, smtp_txn_done_fn done, void *cookie)
{
	struct fake_txn *t = txn;
	struct fake_sink *fs = t->sink;
	struct pending_done *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	fs->ended++;
	assert_true(fs->nmsgs < MAX_MSGS);
	fs->msgs[fs->nmsgs] = t->buf ? t->buf : strdup("");
	fs->lens[fs->nmsgs] = t->len;
	fs->nmsgs++;
	free(t);
	p->done = done;
	p->cookie = cookie;
	p->sink = fs;
	snprintf(p->reply, sizeof(p->reply), "250 2.0.0 Ok: queued as Q%d", fs->nmsgs);
	if (fs->delay_ms < 0) {
		fake_done_cb(-1, 0, p);
		return;
	}
	struct timeval tv = {fs->delay_ms / 1000, (fs->delay_ms % 1000) * 1000};
	assert_int_equal(event_base_once(fs->base, -1, EV_TIMEOUT, fake_done_cb, p, &tv), 0);
}

HARNESS_FN void fake_abort(void *txn)
{
	struct fake_txn *t = txn;
	t->sink->aborted++;
	free(t->buf);
	free(t);
}

struct harness {
	struct event_base *base;
	struct smtp_server *srv;
	struct smtp_server_opts opts;
	struct fake_sink sink;
	int cfd;
	SSL_CTX *cctx;
	SSL *ssl;
	char in[256 * 1024];
	size_t inlen;
	bool eof;
};

static const char *const test_domains[] = {"example.com", ".sub.example.com"};

HARNESS_FN void h_default_opts(struct smtp_server_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->hostname = "mx.example.com";
	o->max_message_size = 10000;
	o->max_recipients = 100;
	o->relay_domains = test_domains;
	o->nrelay_domains = 2;
	o->command_timeout_s = 300;
	o->max_errors = 20;
}

/* Starts a server with opts (NULL: the defaults); h->opts may be edited first. */
HARNESS_FN void h_start(struct harness *h, const struct smtp_server_opts *opts)
{
	struct smtp_server_opts o;

	if (opts)
		o = *opts; /* may point into *h */
	else
		h_default_opts(&o);
	signal(SIGPIPE, SIG_IGN);
	memset(h, 0, sizeof(*h));
	h->opts = o;
	h->cfd = -1;
	h->base = event_base_new();
	assert_non_null(h->base);
	h->sink.base = h->base;
	struct smtp_server_hooks hooks = {.check_mail = fake_check_mail,
					  .txn_begin = fake_begin,
					  .txn_write = fake_write,
					  .txn_end = fake_end,
					  .txn_abort = fake_abort,
					  .ctx = &h->sink};
	h->srv = smtp_server_new(h->base, &h->opts, &hooks);
	assert_non_null(h->srv);
}

/* A new client connection from addr; returns the client's fd, the server's in *server_fd. */
HARNESS_FN int h_connect_from_fd(struct harness *h, const char *addr, int *server_fd)
{
	int sv[2];
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};

	assert_int_equal(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	if (server_fd)
		*server_fd = sv[1];
	assert_int_equal(smtp_server_serve_fd(h->srv, sv[1], (struct sockaddr *)&sin, sizeof(sin)),
			 0);
	return sv[0];
}

/* A new client connection from addr; returns the client's fd. */
HARNESS_FN int h_connect_from(struct harness *h, const char *addr)
{
	return h_connect_from_fd(h, addr, NULL);
}

HARNESS_FN void h_connect(struct harness *h)
{
	h->cfd = h_connect_from(h, "192.0.2.10");
	h->inlen = 0;
	h->eof = false;
}

HARNESS_FN void h_stop(struct harness *h)
{
	if (h->ssl)
		SSL_free(h->ssl);
	if (h->cctx)
		SSL_CTX_free(h->cctx);
	if (h->cfd >= 0)
		close(h->cfd);
	smtp_server_free(h->srv);
	/* Let pending done() timers run against orphaned sessions. */
	event_base_loop(h->base, EVLOOP_NONBLOCK);
	event_base_free(h->base);
	for (int i = 0; i < h->sink.nmsgs; i++)
		free(h->sink.msgs[i]);
}

/* One turn: run ready events, then read what the client can. */
HARNESS_FN void h_turn(struct harness *h)
{
	struct pollfd p = {h->cfd, POLLIN, 0};

	event_base_loop(h->base, EVLOOP_NONBLOCK);
	poll(&p, 1, 1);
	event_base_loop(h->base, EVLOOP_NONBLOCK);
	while (!h->eof && h->inlen < sizeof(h->in)) {
		ssize_t n;
		if (h->ssl) {
			ERR_clear_error();
			n = SSL_read(h->ssl, h->in + h->inlen, (int)(sizeof(h->in) - h->inlen));
			if (n <= 0) {
				int e = SSL_get_error(h->ssl, (int)n);
				if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ||
				    e == SSL_ERROR_SSL)
					h->eof = true;
				break;
			}
		} else {
			n = read(h->cfd, h->in + h->inlen, sizeof(h->in) - h->inlen);
			if (n == 0)
				h->eof = true;
			if (n <= 0)
				break;
		}
		h->inlen += (size_t)n;
	}
}

HARNESS_FN void h_send_len(struct harness *h, const char *data, size_t len)
{
	size_t off = 0;
	int spins = 0;

	while (off < len) {
		ssize_t n;
		if (h->ssl) {
			ERR_clear_error();
			n = SSL_write(h->ssl, data + off, (int)(len - off));
		} else {
			n = write(h->cfd, data + off, len - off);
		}
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		assert_true(h->ssl || errno == EAGAIN);
		assert_true(++spins < WAIT_MS);
		h_turn(h);
	}
}

HARNESS_FN void h_send(struct harness *h, const char *text)
{
	h_send_len(h, text, strlen(text));
}

/* Length of the first complete reply in h->in (through its last line), 0 if none. */
HARNESS_FN size_t h_reply_len(const struct harness *h)
{
	size_t start = 0;

	for (size_t i = 0; i + 1 < h->inlen; i++) {
		if (h->in[i] != '\r' || h->in[i + 1] != '\n')
			continue;
		if (i - start >= 4 && h->in[start + 3] == ' ')
			return i + 2;
		if (i - start < 4 || h->in[start + 3] != '-')
			return i + 2; /* malformed: hand it to the caller as is */
		start = i + 2;
	}
	return 0;
}

/* Waits for one complete reply and returns it (all lines, CRLF kept). */
static const char *h_reply(struct harness *h)
{
	static char out[8192];
	size_t len = 0;

	for (int i = 0; i < WAIT_MS && !(len = h_reply_len(h)) && !h->eof; i++)
		h_turn(h);
	if (!len)
		len = h_reply_len(h);
	if (!len) {
		print_error("no reply; have %zu octets: %.*s\n", h->inlen, (int)h->inlen, h->in);
		fail();
	}
	assert_true(len < sizeof(out));
	memcpy(out, h->in, len);
	out[len] = '\0';
	memmove(h->in, h->in + len, h->inlen - len);
	h->inlen -= len;
	return out;
}

/* The next reply is the single line expect (given without CRLF). */
HARNESS_FN void h_expect(struct harness *h, const char *expect)
{
	const char *r = h_reply(h);
	char want[1024];

	snprintf(want, sizeof(want), "%s\r\n", expect);
	assert_string_equal(r, want);
}

/* The next reply's last line starts with prefix. */
HARNESS_FN void h_expect_prefix(struct harness *h, const char *prefix)
{
	const char *r = h_reply(h);
	const char *last = r;

	for (const char *p = r; *p; p++) {
		if (p[0] == '\n' && p[1])
			last = p + 1;
	}
	if (strncmp(last, prefix, strlen(prefix)) != 0) {
		print_error("expected \"%s...\", got \"%s\"\n", prefix, r);
		fail();
	}
}

/* Nothing arrives for ms milliseconds (the event loop keeps running). */
HARNESS_FN void h_expect_silence(struct harness *h, int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		h_turn(h);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
	if (h->inlen) {
		print_error("unexpected: %.*s\n", (int)h->inlen, h->in);
		fail();
	}
}

/*
 * The first octets to arrive begin with prefix, all of it in one read: what
 * the server wrote at once (nothing is taken off h->in).
 */
HARNESS_FN void h_expect_together(struct harness *h, const char *prefix)
{
	for (int i = 0; i < WAIT_MS && h->inlen == 0 && !h->eof; i++)
		h_turn(h);
	if (h->inlen < strlen(prefix) || memcmp(h->in, prefix, strlen(prefix)) != 0) {
		print_error("expected at once \"%s...\", got \"%.*s\"\n", prefix, (int)h->inlen,
			    h->in);
		fail();
	}
}

/* The server closes the connection, sending nothing more. */
HARNESS_FN void h_expect_closed(struct harness *h)
{
	for (int i = 0; i < WAIT_MS && !h->eof; i++)
		h_turn(h);
	assert_true(h->eof);
	if (h->inlen) {
		print_error("unexpected before close: %.*s\n", (int)h->inlen, h->in);
		fail();
	}
}

/* Greeting, EHLO, MAIL from a@example.org, RCPT to rcpt@example.com. */
HARNESS_FN void h_envelope(struct harness *h)
{
	h_expect(h, "220 mx.example.com ESMTP");
	h_send(h, "EHLO client.example.org\r\n");
	h_expect_prefix(h, "250 CHUNKING");
	h_send(h, "MAIL FROM:<a@example.org>\r\n");
	h_expect(h, "250 2.1.0 Ok");
	h_send(h, "RCPT TO:<rcpt@example.com>\r\n");
	h_expect(h, "250 2.1.5 Ok");
}

/* The stored message i without the engine's Received: field (4 lines). */
static const char *h_content(const struct harness *h, int i)
{
	const char *m = h->sink.msgs[i];
	assert_non_null(m);
	assert_memory_equal(m, "Received: ", 10);
	const char *end = strstr(m, ";\r\n\t");
	assert_non_null(end);
	end = strstr(end + 4, "\r\n");
	assert_non_null(end);
	return end + 2;
}

#endif

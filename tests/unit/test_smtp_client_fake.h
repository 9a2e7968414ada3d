/*
 * A scripted SMTP server for the client and runner tests: a loopback
 * listener on the test's own event_base. It records every octet it
 * receives (after STARTTLS too, preceded by "[tls]") and answers by rules:
 * the first rule whose prefix starts the command line gives the reply
 * (raw octets, CRLFs included; FAKE_SILENT for none), else a default.
 * In DATA mode the rule for the end of data has the prefix ".".
 * FAKE_DROP as a reply closes the connection at once, unanswered.
 */
#ifndef TEST_SMTP_CLIENT_FAKE_H
#define TEST_SMTP_CLIENT_FAKE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define FAKE_SILENT "(silent)"
#define FAKE_DROP   "(drop)"
#define FAKE_RULES  16
#define FAKE_CONNS  16

struct fake_rule {
	const char *prefix;
	const char *reply;
};

struct fake;

struct fake_conn {
	struct fake *f;
	struct bufferevent *bev;
	int mode; /* 0 commands, 1 DATA content, 2 BDAT chunk */
	uint64_t bdat_left;
	const char *bdat_reply;
	size_t lines;
	struct evbuffer *held;
	int closing;
	int in_txn;
	int drop; /* a FAKE_DROP reply: close after this read */
};

struct fake {
	struct event_base *base;
	struct evconnlistener *lis;
	struct sockaddr_in addr;
	const char *greeting;
	const char *ehlo;
	struct fake_rule rules[FAKE_RULES];
	size_t hold_lines;  /* hold replies to lines 2.. until this many lines arrived */
	SSL_CTX *tls;	    /* STARTTLS offered by rule only; this makes it work */
	const char *inject; /* sent right after the 220 to STARTTLS, in the same write */
	struct evbuffer *wire;
	unsigned accepted;
	size_t max_lines_per_read;
	unsigned messages;	/* ends of content seen */
	int in_txn, max_in_txn; /* transactions open at once (MAIL seen, not ended) */
	struct fake_conn *conns[FAKE_CONNS];
};

static inline const char *fake_reply_for(struct fake *f, const char *line, const char *dflt)
{
	for (int i = 0; i < FAKE_RULES && f->rules[i].prefix; i++)
		if (strncmp(line, f->rules[i].prefix, strlen(f->rules[i].prefix)) == 0)
			return f->rules[i].reply;
	return dflt;
}

static inline void fake_txn(struct fake_conn *c, int open)
{
	if (c->in_txn == open)
		return;
	c->in_txn = open;
	c->f->in_txn += open ? 1 : -1;
	if (c->f->in_txn > c->f->max_in_txn)
		c->f->max_in_txn = c->f->in_txn;
}

static inline void fake_say(struct fake_conn *c, const char *reply)
{
	if (!reply || strcmp(reply, FAKE_SILENT) == 0)
		return;
	if (strcmp(reply, FAKE_DROP) == 0) {
		c->drop = 1;
		return;
	}
	evbuffer_add(c->held, reply, strlen(reply));
}

static inline void fake_read_cb(struct bufferevent *bev, void *arg);
static inline void fake_conn_free(struct fake_conn *c);
static inline void fake_event_cb(struct bufferevent *bev, short what, void *arg);

static inline void fake_start_tls(struct fake_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	SSL *ssl = SSL_new(c->f->tls);

	evbuffer_drain(in, evbuffer_get_length(in));
	c->bev = bufferevent_openssl_filter_new(c->f->base, c->bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, fake_read_cb, NULL, fake_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	evbuffer_add(c->f->wire, "[tls]", 5);
}

/* One command line (without CRLF). Returns 1 when TLS must start after the reply. */
static inline int fake_command(struct fake_conn *c, const char *line)
{
	struct fake *f = c->f;

	c->lines++;
	if (strncmp(line, "EHLO", 4) == 0) {
		fake_say(c, fake_reply_for(f, line, f->ehlo));
	} else if (strncmp(line, "HELO", 4) == 0) {
		fake_say(c, fake_reply_for(f, line, "250 fake\r\n"));
	} else if (strncmp(line, "MAIL", 4) == 0) {
		fake_txn(c, 1);
		fake_say(c, fake_reply_for(f, line, "250 2.1.0 Ok\r\n"));
	} else if (strncmp(line, "RCPT", 4) == 0) {
		fake_say(c, fake_reply_for(f, line, "250 2.1.5 Ok\r\n"));
	} else if (strcmp(line, "DATA") == 0) {
		const char *r = fake_reply_for(f, line, "354 go ahead\r\n");
		fake_say(c, r);
		if (strncmp(r, "354", 3) == 0)
			c->mode = 1;
	} else if (strncmp(line, "BDAT ", 5) == 0) {
		c->bdat_left = strtoull(line + 5, NULL, 10);
		c->bdat_reply = fake_reply_for(f, line,
					       strstr(line, "LAST") ? "250 2.0.0 Ok: queued\r\n"
								    : "250 2.0.0 chunk ok\r\n");
		c->mode = 2;
	} else if (strcmp(line, "RSET") == 0) {
		fake_txn(c, 0);
		fake_say(c, fake_reply_for(f, line, "250 2.0.0 Ok\r\n"));
	} else if (strcmp(line, "STARTTLS") == 0) {
		const char *r = fake_reply_for(f, line, "220 2.0.0 Ready to start TLS\r\n");
		fake_say(c, r);
		if (f->inject)
			fake_say(c, f->inject);
		return strncmp(r, "220", 3) == 0 && f->tls;
	} else if (strcmp(line, "QUIT") == 0) {
		fake_say(c, "221 2.0.0 Bye\r\n");
		c->closing = 1;
	} else {
		fake_say(c, fake_reply_for(f, line, "502 5.5.2 Unknown\r\n"));
	}
	return 0;
}

static inline void fake_flush(struct fake_conn *c)
{
	struct fake *f = c->f;

	if (f->hold_lines && c->lines >= 2 && c->lines < f->hold_lines)
		return;
	bufferevent_write_buffer(c->bev, c->held);
}

static inline void fake_read_cb(struct bufferevent *bev, void *arg)
{
	struct fake_conn *c = arg;
	struct fake *f = c->f;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t lines_now = 0;
	int start_tls = 0;

	while (!start_tls && !c->drop) {
		if (c->mode == 2) {
			size_t n = evbuffer_get_length(in);
			if (n == 0)
				break;
			if (n > c->bdat_left)
				n = (size_t)c->bdat_left;
			evbuffer_remove_buffer(in, f->wire, n);
			c->bdat_left -= n;
			if (c->bdat_left == 0) {
				fake_say(c, c->bdat_reply);
				if (c->bdat_reply && strstr(c->bdat_reply, "queued"))
					f->messages++;
				if (strstr(c->bdat_reply ? c->bdat_reply : "", "queued"))
					fake_txn(c, 0);
				c->mode = 0;
			}
			continue;
		}
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF_STRICT);
		if (!line)
			break;
		evbuffer_add(f->wire, line, len);
		evbuffer_add(f->wire, "\r\n", 2);
		if (c->mode == 1) {
			if (strcmp(line, ".") == 0) {
				c->mode = 0;
				const char *r = fake_reply_for(f, ".", "250 2.0.0 Ok: queued\r\n");
				fake_say(c, r);
				if (r[0] == '2')
					f->messages++;
				fake_txn(c, 0);
			}
		} else {
			lines_now++;
			start_tls = fake_command(c, line);
		}
		free(line);
	}
	if (lines_now > f->max_lines_per_read)
		f->max_lines_per_read = lines_now;
	if (c->drop) {
		fake_conn_free(c);
		return;
	}
	fake_flush(c);
	if (start_tls)
		fake_start_tls(c);
}

static inline void fake_conn_free(struct fake_conn *c)
{
	fake_txn(c, 0);
	for (int i = 0; i < FAKE_CONNS; i++)
		if (c->f->conns[i] == c)
			c->f->conns[i] = NULL;
	bufferevent_free(c->bev);
	evbuffer_free(c->held);
	free(c);
}

static inline void fake_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		fake_conn_free(arg);
}

static inline void fake_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
				  int salen, void *arg)
{
	struct fake *f = arg;
	struct fake_conn *c = calloc(1, sizeof(*c));

	(void)l;
	(void)sa;
	(void)salen;
	c->f = f;
	c->held = evbuffer_new();
	c->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, fake_read_cb, NULL, fake_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	for (int i = 0; i < FAKE_CONNS; i++)
		if (!f->conns[i]) {
			f->conns[i] = c;
			break;
		}
	f->accepted++;
	fake_say(c, f->greeting);
	fake_flush(c);
}

#define FAKE_EHLO_FULL                                                                             \
	"250-fake.test\r\n250-PIPELINING\r\n250-SIZE 10000000\r\n250-8BITMIME\r\n"                 \
	"250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n"

/* A fake listening on addr (network order), any free port. */
static inline struct fake *fake_new_at(struct event_base *base, in_addr_t addr)
{
	struct fake *f = calloc(1, sizeof(*f));
	socklen_t len = sizeof(f->addr);

	f->base = base;
	f->greeting = "220 fake.test ESMTP\r\n";
	f->ehlo = FAKE_EHLO_FULL;
	f->wire = evbuffer_new();
	f->addr.sin_family = AF_INET;
	f->addr.sin_addr.s_addr = addr;
	f->lis = evconnlistener_new_bind(base, fake_accept_cb, f,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
					 (struct sockaddr *)&f->addr, sizeof(f->addr));
	if (!f->lis)
		abort();
	getsockname(evconnlistener_get_fd(f->lis), (struct sockaddr *)&f->addr, &len);
	return f;
}

static inline struct fake *fake_new(struct event_base *base)
{
	return fake_new_at(base, htonl(INADDR_LOOPBACK));
}

static inline void fake_free(struct fake *f)
{
	for (int i = 0; i < FAKE_CONNS; i++)
		if (f->conns[i])
			fake_conn_free(f->conns[i]);
	evconnlistener_free(f->lis);
	evbuffer_free(f->wire);
	free(f);
}

/* Everything received so far, as a NUL-terminated string (caller frees). */
static inline char *fake_wire(struct fake *f)
{
	size_t n = evbuffer_get_length(f->wire);
	char *s = malloc(n + 1);
	evbuffer_copyout(f->wire, s, n);
	s[n] = '\0';
	return s;
}

static inline long long fake_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void fake_run_ms(struct event_base *base, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Runs the loop in short slices until cond holds or max_ms have passed. */
#define RUN_UNTIL(base, cond, max_ms)                                                              \
	do {                                                                                       \
		long long deadline_ = fake_now_ms() + (max_ms);                                    \
		while (!(cond) && fake_now_ms() < deadline_)                                       \
			fake_run_ms((base), 5);                                                    \
	} while (0)

/* A spool-like file: junk before offset, then content. Returns an fd. */
static inline int fake_content_file(const char *content, size_t len, off_t *offset)
{
	char path[] = "/tmp/airlock-test-content-XXXXXX";
	int fd = mkstemp(path);
	static const char pre[] = "airlock-queue 1\nid X\n\n";

	if (fd < 0)
		abort();
	unlink(path);
	if (write(fd, pre, sizeof(pre) - 1) != (ssize_t)(sizeof(pre) - 1) ||
	    write(fd, content, len) != (ssize_t)len)
		abort();
	*offset = (off_t)(sizeof(pre) - 1);
	return fd;
}

#endif

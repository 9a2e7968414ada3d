/*
 * The SMTP server object: options, listeners, connection caps (global and
 * per client address), the session list, shutdown and counters.
 *
 * Per-client counting uses the exact address (an IPv4-mapped IPv6 address
 * counts as its IPv4 address); unix-socket clients are not counted per
 * client, only globally.
 */
#include "relay/smtp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <sodium.h>

#include "common/log.h"
#include "relay/smtp_session.h"

#define REPLY_CAP "421 4.7.0 Too many connections, try again later\r\n"

struct smtp_client_count {
	struct smtp_client_count *next;
	unsigned count;
	char addr[INET6_ADDRSTRLEN];
};

static unsigned client_bucket(const char *addr)
{
	unsigned h = 5381;

	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		h = h * 33 + *p;
	return h % SMTP_SERVER_CLIENT_BUCKETS;
}

static struct smtp_client_count *client_find(struct smtp_server *s, const char *addr)
{
	for (struct smtp_client_count *c = s->clients[client_bucket(addr)]; c; c = c->next) {
		if (strcmp(c->addr, addr) == 0)
			return c;
	}
	return NULL;
}

static struct smtp_client_count *client_add(struct smtp_server *s, const char *addr)
{
	struct smtp_client_count *c = client_find(s, addr);

	if (c) {
		c->count++;
		return c;
	}
	if (!(c = calloc(1, sizeof(*c))))
		return NULL;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	c->count = 1;
	unsigned b = client_bucket(addr);
	c->next = s->clients[b];
	s->clients[b] = c;
	return c;
}

static void client_release(struct smtp_server *s, struct smtp_client_count *c)
{
	if (!c || --c->count > 0)
		return;
	struct smtp_client_count **pp = &s->clients[client_bucket(c->addr)];
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	free(c);
}

void smtp_server_session_closed(struct smtp_server *srv, struct smtp_session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	client_release(srv, s->client);
	s->client = NULL;
	srv->stats.connections_now--;
}

static char *copy_string(const char *text)
{
	return text ? strdup(text) : NULL;
}

struct smtp_server *smtp_server_new(struct event_base *base, const struct smtp_server_opts *opts,
				    const struct smtp_server_hooks *hooks)
{
	if (!opts->hostname || !opts->hostname[0] ||
	    strcspn(opts->hostname, " \r\n") != strlen(opts->hostname)) {
		log_error("event=smtp-server-error error=\"hostname missing or invalid\"");
		return NULL;
	}
	if (!hooks->txn_begin || !hooks->txn_write || !hooks->txn_end || !hooks->txn_abort) {
		log_error("event=smtp-server-error error=\"sink hooks missing\"");
		return NULL;
	}
	if (sodium_init() < 0) {
		log_error("event=smtp-server-error error=\"libsodium unusable\"");
		return NULL;
	}
	struct smtp_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->base = base;
	s->opts = *opts;
	s->hooks = *hooks;
	s->hostname = copy_string(opts->hostname);
	s->opts.hostname = s->hostname;
	if (opts->nrelay_domains) {
		s->relay_domains = calloc(opts->nrelay_domains, sizeof(char *));
		if (!s->relay_domains)
			goto fail;
		for (size_t i = 0; i < opts->nrelay_domains; i++) {
			if (!(s->relay_domains[i] = copy_string(opts->relay_domains[i])))
				goto fail;
		}
	}
	s->opts.relay_domains = (const char *const *)s->relay_domains;
	if (!s->hostname)
		goto fail;
	if (!s->opts.max_recipients)
		s->opts.max_recipients = 100;
	if (!s->opts.command_timeout_s)
		s->opts.command_timeout_s = 300;
	if (!s->opts.max_errors)
		s->opts.max_errors = 20;
	return s;
fail:
	smtp_server_free(s);
	return NULL;
}

/* The address as text; IPv4-mapped IPv6 as IPv4. Returns false for non-IP. */
static bool peer_address(const struct sockaddr *peer, socklen_t len, char *out, size_t outsz,
			 bool *ip6)
{
	*ip6 = false;
	if (peer && peer->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)peer;
		return inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)outsz) != NULL;
	}
	if (peer && peer->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)peer;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			return inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], out,
					 (socklen_t)outsz) != NULL;
		*ip6 = true;
		return inet_ntop(AF_INET6, &sin6->sin6_addr, out, (socklen_t)outsz) != NULL;
	}
	snprintf(out, outsz, "unix");
	return false;
}

static void refuse(struct smtp_server *s, int fd, const char *addr, const char *why)
{
	s->stats.refused_by_cap++;
	log_info("event=smtp-refused client=%s reason=%s", addr, why);
	/* Best effort: the socket buffer of a fresh connection takes one line. */
	if (send(fd, REPLY_CAP, strlen(REPLY_CAP), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("event=smtp-refused-send client=%s errno=%d", addr, errno);
	close(fd);
}

int smtp_server_serve_fd(struct smtp_server *s, int fd, const struct sockaddr *peer, socklen_t len)
{
	return smtp_server_serve_fd_note(s, fd, peer, len, NULL);
}

/* An RFC 5322 comment of printable ASCII: "(...)" with balanced, quoted-pair-aware parentheses. */
static bool note_ok(const char *note)
{
	size_t n = strlen(note);
	int depth = 0;

	if (n < 2 || n > SMTP_SERVER_NOTE_MAX || note[0] != '(' || note[n - 1] != ')')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)note[i];
		if (ch < 0x20 || ch > 0x7e)
			return false;
		if (depth == 0 && i > 0)
			return false; /* text after the comment closed */
		if (ch == '\\') {
			if (++i >= n || note[i] < 0x20 || note[i] > 0x7e)
				return false;
		} else if (ch == '(') {
			depth++;
		} else if (ch == ')') {
			depth--;
		}
	}
	return depth == 0;
}

int smtp_server_serve_fd_note(struct smtp_server *s, int fd, const struct sockaddr *peer,
			      socklen_t len, const char *note)
{
	char addr[INET6_ADDRSTRLEN];
	bool ip6;
	bool ip = peer_address(peer, len, addr, sizeof(addr), &ip6);
	struct smtp_client_count *client = NULL;

	if (note && note[0] && !note_ok(note)) {
		log_error("event=smtp-bad-note client=%s", addr);
		close(fd);
		return -1;
	}
	if (s->shutting_down) {
		refuse(s, fd, addr, "shutdown");
		return 0;
	}
	if (s->opts.max_connections && s->stats.connections_now >= s->opts.max_connections) {
		refuse(s, fd, addr, "global-cap");
		return 0;
	}
	if (ip) {
		client = client_find(s, addr);
		if (s->opts.max_per_client && client && client->count >= s->opts.max_per_client) {
			refuse(s, fd, addr, "client-cap");
			return 0;
		}
		if (!(client = client_add(s, addr))) {
			close(fd);
			return -1;
		}
	}
	if (smtp_session_new(s, fd, addr, ip, ip6, client, note) != 0) {
		client_release(s, client);
		return -1;
	}
	return 0;
}

static void listener_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *peer,
			int len, void *arg)
{
	(void)l;
	smtp_server_serve_fd(arg, fd, peer, (socklen_t)len);
}

static void listener_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	/* EMFILE and friends: libevent retries on the next readiness. */
	log_warning("event=smtp-accept-error errno=%d", errno);
}

int smtp_server_add_listener(struct smtp_server *s, int listen_fd)
{
	struct evconnlistener **l = realloc(s->listeners, (s->nlisteners + 1) * sizeof(*l));

	if (!l) {
		close(listen_fd);
		return -1;
	}
	s->listeners = l;
	evutil_make_socket_nonblocking(listen_fd);
	l[s->nlisteners] =
		evconnlistener_new(s->base, listener_cb, s, LEV_OPT_CLOSE_ON_FREE, -1, listen_fd);
	if (!l[s->nlisteners]) {
		close(listen_fd);
		return -1;
	}
	evconnlistener_set_error_cb(l[s->nlisteners], listener_error_cb);
	s->nlisteners++;
	return 0;
}

static void close_listeners(struct smtp_server *s)
{
	for (size_t i = 0; i < s->nlisteners; i++)
		evconnlistener_free(s->listeners[i]);
	free(s->listeners);
	s->listeners = NULL;
	s->nlisteners = 0;
}

void smtp_server_shutdown(struct smtp_server *s)
{
	if (s->shutting_down)
		return;
	s->shutting_down = true;
	close_listeners(s);
	log_info("event=smtp-shutdown sessions=%llu", (unsigned long long)s->stats.connections_now);
	for (struct smtp_session *sess = s->sessions, *next; sess; sess = next) {
		next = sess->next;
		smtp_session_shutdown(sess);
	}
}

size_t smtp_server_drop_sessions(struct smtp_server *s, bool (*stale)(int fd, void *arg), void *arg,
				 const char *reason)
{
	size_t n = 0;

	for (struct smtp_session *sess = s->sessions, *next; sess; sess = next) {
		next = sess->next;
		int fd = sess->bev ? bufferevent_getfd(sess->bev) : -1;
		if (fd < 0 || !stale(fd, arg))
			continue;
		smtp_session_drop(sess, reason);
		n++;
	}
	return n;
}

void smtp_server_get_stats(const struct smtp_server *s, struct smtp_server_stats *out)
{
	*out = s->stats;
}

void smtp_server_free(struct smtp_server *s)
{
	if (!s)
		return;
	close_listeners(s);
	while (s->sessions)
		smtp_session_orphan(s->sessions);
	for (unsigned b = 0; b < SMTP_SERVER_CLIENT_BUCKETS; b++) {
		while (s->clients[b]) {
			struct smtp_client_count *c = s->clients[b];
			s->clients[b] = c->next;
			free(c);
		}
	}
	for (size_t i = 0; s->relay_domains && i < s->opts.nrelay_domains; i++)
		free(s->relay_domains[i]);
	free(s->relay_domains);
	free(s->hostname);
	free(s);
}

/*
 * airlock-hub's smtp process: SMTP sessions on the connections the parent
 * gated and passed over, each transaction verified and proxied by
 * hub_proxy.
 */
#include "relay/hub/hub.h"

#include "common/log.h"
#include "relay/hub/hub_msg.h"
#include "relay/hub/hub_proxy.h"
#include "relay/ipc.h"
#include "relay/smtp_server.h"
#include "tunnel/tunnel_socket.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

struct hub_smtp {
	struct event_base *base;
	struct smtp_server *server;
	struct hub_proxy *proxy;
	struct ipc_chan *chan;
	struct event
		*pool_note; /* sends the pool's counters once per loop pass when they changed */
	struct event *device_watch; /* every second, with a tunnel device configured */
	const char *device;
};

/* A session that came over a TUN device that is gone (never one over kernel XFRM). */
static bool stale_session(int fd, void *arg)
{
	struct hub_smtp *hs = arg;
	return tunnel_socket_device_gone(fd, hs->device);
}

/*
 * charon's restart deletes the kernel-libipsec TUN device and creates it
 * anew under another index: sessions accepted over the old one can neither
 * read nor answer any more, and would hold their slot (and an internal
 * transaction) until hub.command_timeout. They are dropped at once; the
 * edge has abandoned its side and sends again over the new SA.
 */
static void watch_device(evutil_socket_t fd, short what, void *arg)
{
	struct hub_smtp *hs = arg;
	(void)fd;
	(void)what;
	size_t n = smtp_server_drop_sessions(hs->server, stale_session, hs, "tunnel-device-gone");
	if (n)
		log_warning("event=stale-sessions-dropped device=%s ifindex=%u dropped=%zu "
			    "msg=\"their connections came over a TUN device that is gone\"",
			    hs->device, if_nametoindex(hs->device), n);
}

static void on_pool_changed(void *arg)
{
	struct hub_smtp *hs = arg;
	event_active(hs->pool_note, EV_TIMEOUT, 1);
}

static void send_pool(evutil_socket_t fd, short what, void *arg)
{
	struct hub_smtp *hs = arg;
	struct hub_pool_stats st;
	struct ipc_writer w;

	(void)fd;
	(void)what;
	if (!hs->chan)
		return;
	hub_proxy_get_stats(hs->proxy, &st);
	ipc_writer_init(&w);
	if (hub_msg_put_pool(&w, &st) < 0 || ipc_send_writer(hs->chan, HUB_MSG_POOL, &w, -1) < 0)
		log_warning("event=hub-pool-stats-lost");
	ipc_writer_free(&w);
}

static void on_result(void *arg, const struct hub_result *r)
{
	struct hub_smtp *hs = arg;
	struct ipc_writer w;

	if (!hs->chan)
		return;
	ipc_writer_init(&w);
	if (hub_msg_put_result(&w, r) < 0 || ipc_send_writer(hs->chan, HUB_MSG_RESULT, &w, -1) < 0)
		log_warning("event=hub-result-lost");
	ipc_writer_free(&w);
}

/* Serves one gated connection. fd gets owned. */
static int serve_conn(struct hub_smtp *hs, struct ipc_reader *r, int fd)
{
	struct hub_conn c;
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char q[GATE_STR_MAX * 2];

	if (fd < 0 || hub_msg_get_conn(r, &c) < 0) {
		if (fd >= 0)
			close(fd); /* never serve a socket without its gate facts */
		return -1;
	}
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, c.peer, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(c.peer_port);
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, c.peer, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(c.peer_port);
		len = sizeof(*sin6);
	} else {
		close(fd);
		return -1;
	}
	log_info("event=hub-session client=%s port=%u identity=%s ike=%s[%u] child=%s{%u}", c.peer,
		 c.peer_port, log_quote(q, sizeof(q), c.remote_id), c.conn, c.ike_uniqueid, c.child,
		 c.child_uniqueid);
	smtp_server_serve_fd_note(hs->server, fd, (struct sockaddr *)&ss, len, c.received);
	return 0;
}

static int parent_handler(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct hub_smtp *hs = arg;
	struct attest_trust *t;

	switch (type) {
	case IPC_CLOSED:
		hs->chan = NULL;
		log_info("event=parent-gone");
		event_base_loopbreak(hs->base);
		return 0;
	case HUB_MSG_CONN:
		return serve_conn(hs, r, fd);
	case HUB_MSG_KEYS:
		if (fd >= 0)
			close(fd);
		if (hub_msg_get_keys(r, &t) < 0)
			return -1;
		hub_proxy_set_trust(hs->proxy, t);
		log_info("event=hub-keys count=%zu", attest_trust_count(t));
		return 0;
	default:
		if (fd >= 0)
			close(fd);
		return -1;
	}
}

int hub_smtp_main(void *arg, int parent_fd)
{
	struct hub_ctx *ctx = arg;
	const struct airlock_config *cfg = &ctx->cfg;
	struct hub_smtp hs;

	memset(&hs, 0, sizeof(hs));
	signal(SIGPIPE, SIG_IGN);
	hs.base = event_base_new();
	if (!hs.base)
		fatal("out of memory");
	struct hub_proxy_opts po = {
		.mta = (struct sockaddr *)&ctx->mta,
		.mta_len = ctx->mta_len,
		.helo_name = ctx->hostname,
		.timeout_s = (unsigned)cfg->hub.internal_timeout,
		.max_age = cfg->hub.attestation_max_age,
		.max_skew = cfg->hub.attestation_max_skew,
		.accept_unscanned = cfg->hub.accept_unscanned,
		.duplicate_window_s = (unsigned)cfg->hub.duplicate_window,
		.duplicate_memory = (unsigned)cfg->hub.duplicate_memory,
	};
	hs.proxy = hub_proxy_new(hs.base, &po, on_result, &hs);
	hs.pool_note = event_new(hs.base, -1, 0, send_pool, &hs);
	if (!hs.pool_note)
		fatal("out of memory");
	if (hs.proxy)
		hub_proxy_set_stats_cb(hs.proxy, on_pool_changed, &hs);
	struct smtp_server_opts so = {
		.hostname = ctx->hostname,
		.max_message_size = (uint64_t)cfg->hub.max_message_size,
		.max_connections = (unsigned)cfg->hub.max_connections,
		.command_timeout_s = (unsigned)cfg->hub.command_timeout,
		.accept_any_domain = true,
		.max_recipients = 1000,
	};
	struct smtp_server_hooks hooks = {
		.txn_begin = hub_txn_begin,
		.txn_write = hub_txn_write,
		.txn_end = hub_txn_end,
		.txn_abort = hub_txn_abort,
		.ctx = hs.proxy,
		.mail_async = hub_mail_async,
		.rcpt_async = hub_rcpt_async,
		.envelope_end = hub_envelope_end,
	};
	hs.server = hs.proxy ? smtp_server_new(hs.base, &so, &hooks) : NULL;
	hs.chan = ipc_chan_new(hs.base, parent_fd, parent_handler, &hs);
	if (!hs.server || !hs.chan)
		fatal("hub smtp: cannot set up (out of memory)");
	ipc_chan_set_name(hs.chan, "parent");
	if (cfg->tunnel.device[0]) {
		static const struct timeval every = {1, 0};
		hs.device = cfg->tunnel.device;
		hs.device_watch = event_new(hs.base, -1, EV_PERSIST, watch_device, &hs);
		if (!hs.device_watch || event_add(hs.device_watch, &every) < 0)
			fatal("hub smtp: cannot set up the device watch");
	}
	/*
	 * SIGTERM keeps its default action (proc.h resets dispositions): the
	 * parent stops the child only on shutdown, and a message in flight then
	 * simply gets no reply, so the edge keeps it (nothing was acknowledged).
	 */
	log_info("event=smtp-ready internal_mta=%s", cfg->hub.internal_mta);

	event_base_dispatch(hs.base);

	smtp_server_free(hs.server);
	hub_proxy_free(hs.proxy); /* QUIT to the idle internal sessions: a moment for it */
	struct timeval quit_wait = {0, 200 * 1000};
	event_base_loopexit(hs.base, &quit_wait);
	event_base_dispatch(hs.base);
	event_free(hs.pool_note);
	if (hs.device_watch)
		event_free(hs.device_watch);
	ipc_chan_free(hs.chan);
	event_base_free(hs.base);
	return 0;
}

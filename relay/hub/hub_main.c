/*
 * airlock-hub's parent process: configuration, the tunnel backend, the
 * kernel-gated listeners, the VICI session and the gate for every accepted
 * connection, the trusted keys, the smtp child and the control socket.
 */
#include "relay/hub/hub.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "policy/gate.h"
#include "relay/attest_keys.h"
#include "relay/control.h"
#include "relay/hub/hub_listen.h"
#include "relay/hub/hub_msg.h"
#include "relay/ipc.h"
#include "relay/proc.h"
#include "tunnel/sa_monitor.h"
#include "tunnel/tunnel_socket.h"
#include "tunnel/vici_client.h"

#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

/* How long start-up waits for charon's VICI socket (backend auto) or its TUN device. */
#define HUB_START_WAIT_S 30

struct hub_parent {
	struct hub_ctx ctx;
	struct event_base *base;
	struct proc_supervisor *sup;
	struct ipc_chan *chan; /* to the smtp child; NULL while it is down */
	struct control_server *control;
	struct sa_monitor *mon;
	enum tunnel_backend backend;
	const char *conns[CONFIG_MAX_LISTEN];
	size_t nconns;
	struct evconnlistener *listeners[CONFIG_MAX_LISTEN];
	int nlisteners;
	bool device_gone;    /* tunnel.device was missing at the last look */
	bool reopen_failing; /* the last attempt to listen on the new device failed */
	struct event *device_watch;
	struct attest_trust *trust;
	uint64_t trust_fp;	   /* trusted_keys_fingerprint() when trust was loaded */
	struct event *trust_watch; /* re-reads the keys when their files change */
	time_t started;
	struct gate_counters gate;
	uint64_t attest_verified, attest_refused, by_result[ATTEST_UNSCANNED + 1];
	uint64_t proxy[HUB_PROXY_OUTCOME_COUNT];
	/* Internal sessions: of earlier smtp children, and the current one's last report. */
	struct hub_pool_stats pool_base, pool;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: airlock-hub [-c FILE] [-n]\n"
		     "  -c FILE  configuration (default " CONFIG_DEFAULT_PATH ")\n"
		     "  -n       check the configuration and exit\n");
}

/* ---- the gate on accepted connections ----------------------------------------------- */

/* Answers a refused connection with one reply line and closes it. Never blocks. */
static void refuse(int fd, const char *line)
{
	char buf[GATE_TEXT_MAX + 32];
	int n = snprintf(buf, sizeof(buf), "%s\r\n", line);
	if (n > 0)
		(void)!send(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void send_keys(struct hub_parent *p)
{
	struct ipc_writer w;
	if (!p->chan)
		return;
	ipc_writer_init(&w);
	if (hub_msg_put_keys(&w, p->trust) < 0 ||
	    ipc_send_writer(p->chan, HUB_MSG_KEYS, &w, -1) < 0)
		log_error("event=hub-keys-send-failed");
	ipc_writer_free(&w);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *peer,
		      int peer_len, void *arg)
{
	struct hub_parent *p = arg;
	struct sockaddr_storage local;
	socklen_t local_len = sizeof(local);
	struct gate_result g;
	char reply[GATE_TEXT_MAX + 16], q[GATE_STR_MAX * 2];
	(void)l;

	if (getsockname(fd, (struct sockaddr *)&local, &local_len) < 0)
		local_len = 0;
	struct gate_input in = {
		.peer = peer,
		.peer_len = (socklen_t)peer_len,
		.local = (struct sockaddr *)&local,
		.local_len = local_len,
		.table = sa_monitor_table(p->mon),
		.now = clock_mono_s(),
		.stale_after = (uint64_t)p->ctx.cfg.tunnel.stale_after,
		.conns = p->conns,
		.conn_count = p->nconns,
		.vici_connected = vici_client_connected(sa_monitor_client(p->mon)) != 0,
	};
	gate_check(&in, &g);
	gate_counters_note(&p->gate, &g);
	if (g.verdict != GATE_ACCEPT) {
		gate_reply(&g, reply, sizeof(reply));
		log_warning("event=gate-refused peer=%s port=%u verdict=%s reason=%s reply=%s",
			    g.peer, g.peer_port, gate_verdict_name(g.verdict),
			    gate_reason_name(g.reason), log_quote(q, sizeof(q), reply));
		refuse(fd, reply);
		return;
	}
	log_info("event=gate-accepted peer=%s port=%u identity=%s ike=%s[%u] child=%s{%u}", g.peer,
		 g.peer_port, log_quote(q, sizeof(q), g.remote_id), g.conn, g.ike_uniqueid, g.child,
		 g.child_uniqueid);
	if (hub_listen_accepted(fd) < 0)
		log_warning("event=hub-sockopt-failed peer=%s option=TCP_NODELAY error=\"%s\"",
			    g.peer, strerror(errno));
	struct hub_conn c;
	struct ipc_writer w;
	hub_conn_from_gate(&g, &c);
	ipc_writer_init(&w);
	int rc = p->chan ? hub_msg_put_conn(&w, &c) : -1;
	if (rc == 0)
		rc = ipc_send_writer(p->chan, HUB_MSG_CONN, &w, fd);
	ipc_writer_free(&w);
	if (rc < 0) {
		log_warning(
			"event=hub-handoff-failed peer=%s reason=\"smtp process not available\"",
			g.peer);
		refuse(fd, "421 4.3.0 Service not available, try again later");
		return;
	}
	close(fd); /* the channel holds its own duplicate */
}

/* ---- the smtp child ---------------------------------------------------------------- */

static int child_handler(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct hub_parent *p = arg;
	struct hub_result res;
	struct hub_pool_stats pool;

	if (fd >= 0)
		close(fd); /* no message from the child carries one */
	switch (type) {
	case IPC_CLOSED:
		p->chan = NULL;
		return 0;
	case HUB_MSG_RESULT:
		if (hub_msg_get_result(r, &res) < 0)
			return -1;
		if (res.attest == ATTEST_OK)
			p->attest_verified++;
		else
			p->attest_refused++;
		p->by_result[res.attest]++;
		p->proxy[res.proxy]++;
		return 0;
	case HUB_MSG_POOL:
		if (hub_msg_get_pool(r, &pool) < 0)
			return -1;
		p->pool = pool;
		return 0;
	default:
		return -1;
	}
}

static void child_restarted(void *arg, const struct proc_spec *spec, struct ipc_chan *chan)
{
	struct hub_parent *p = arg;
	p->chan = chan;
	/* The new child counts from 0; its idle sessions died with the old one. */
	p->pool_base.opened += p->pool.opened;
	p->pool_base.reused += p->pool.reused;
	memset(&p->pool, 0, sizeof(p->pool));
	log_info("event=child-restarted name=%s", spec->name);
	send_keys(p);
}

/* ---- control ------------------------------------------------------------------------- */

static void cmd_status(void *arg, json_t *req, struct control_reply *r)
{
	struct hub_parent *p = arg;
	const struct airlock_config *cfg = &p->ctx.cfg;
	(void)req;

	json_t *listen = json_array();
	for (int i = 0; i < cfg->hub.nlisten; i++)
		json_array_append_new(listen, json_string(cfg->hub.listen[i]));
	json_t *by_reason = json_object();
	for (int i = GATE_OK + 1; i < GATE_REASON_COUNT; i++)
		json_object_set_new(by_reason, gate_reason_name((enum gate_reason)i),
				    json_integer((json_int_t)p->gate.by_reason[i]));
	json_t *last = json_null();
	if (p->gate.last_reason != GATE_OK)
		last = json_pack("{s:s, s:s}", "peer", p->gate.last_refused, "reason",
				 gate_reason_name(p->gate.last_reason));
	json_t *by_result = json_object();
	for (int i = ATTEST_OK + 1; i <= ATTEST_UNSCANNED; i++)
		json_object_set_new(by_result, attest_result_name((enum attest_result)i),
				    json_integer((json_int_t)p->by_result[i]));
	json_t *gate = json_pack(
		"{s:s, s:s, s:b, s:s, s:I, s:I, s:I, s:o, s:o}", "backend",
		tunnel_backend_name(p->backend), "device", cfg->tunnel.device, "vici_connected",
		vici_client_connected(sa_monitor_client(p->mon)) != 0, "sa_table",
		sa_freshness_name(sa_monitor_freshness(p->mon, (uint64_t)cfg->tunnel.stale_after)),
		"accepted", (json_int_t)p->gate.accepted, "rejected",
		(json_int_t)gate_counters_rejected(&p->gate), "tempfailed",
		(json_int_t)gate_counters_tempfailed(&p->gate), "by_reason", by_reason,
		"last_refused", last);
	json_t *attest =
		json_pack("{s:I, s:I, s:o, s:I}", "verified", (json_int_t)p->attest_verified,
			  "refused", (json_int_t)p->attest_refused, "by_result", by_result,
			  "trusted_keys", (json_int_t)attest_trust_count(p->trust));
	json_t *proxy = json_pack(
		"{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "internal_mta", cfg->hub.internal_mta,
		"delivered", (json_int_t)p->proxy[HUB_PROXY_DELIVERED], "tempfailed",
		(json_int_t)p->proxy[HUB_PROXY_TEMPFAILED], "rejected",
		(json_int_t)p->proxy[HUB_PROXY_REJECTED], "duplicates",
		(json_int_t)p->proxy[HUB_PROXY_DUPLICATE], "sessions_opened",
		(json_int_t)(p->pool_base.opened + p->pool.opened), "sessions_reused",
		(json_int_t)(p->pool_base.reused + p->pool.reused), "idle",
		(json_int_t)p->pool.idle);
	json_t *hub = json_pack("{s:i, s:I, s:o, s:o, s:o, s:o}", "pid", (int)getpid(), "uptime",
				(json_int_t)(time(NULL) - p->started), "listen", listen, "gate",
				gate, "attestation", attest, "proxy", proxy);
	control_reply_send(r, json_pack("{s:b, s:o}", "ok", 1, "hub", hub));
}

/* ---- start-up ------------------------------------------------------------------------ */

struct stats_wait {
	bool done;
	enum tunnel_backend backend;
	char err[256];
};

static void stats_reply(enum vici_status st, const struct vici_node *reply, void *arg)
{
	struct stats_wait *sw = arg;
	sw->done = true;
	if (st != VICI_OK) {
		snprintf(sw->err, sizeof(sw->err), "VICI stats: %s", vici_status_str(st));
		return;
	}
	sw->backend = tunnel_backend_detect(reply);
}

static void wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs the loop for up to ms milliseconds (or until something happens). */
static void run_for(struct event_base *base, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct event *t = evtimer_new(base, wake, NULL);
	evtimer_add(t, &tv);
	event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
}

/* tunnel.backend, with auto resolved from charon's loaded plugins. */
static int resolve_backend(struct hub_parent *p)
{
	const char *conf = p->ctx.cfg.tunnel.backend;
	if (strcmp(conf, "auto") != 0) {
		if (tunnel_backend_parse(conf, &p->backend) < 0) {
			fprintf(stderr, "airlock-hub: tunnel.backend: unknown backend %s\n", conf);
			return -1;
		}
		return 0;
	}
	struct vici_client *vc = sa_monitor_client(p->mon);
	struct stats_wait sw = {0};
	uint64_t deadline = clock_mono_s() + HUB_START_WAIT_S;
	bool asked = false, logged = false;
	while (!sw.done && clock_mono_s() < deadline) {
		if (!asked && vici_client_connected(vc)) {
			asked = vici_request(vc, "stats", NULL, stats_reply, &sw) == 0;
		} else if (!asked && !logged) {
			log_info(
				"event=waiting-for-charon uri=%s msg=\"tunnel.backend = auto needs "
				"charon's VICI stats\"",
				p->ctx.cfg.tunnel.vici);
			logged = true;
		}
		run_for(p->base, 200);
	}
	if (!sw.done) {
		fprintf(stderr,
			"airlock-hub: tunnel.backend = auto: cannot ask charon which kernel "
			"backend it uses (%s): start charon or set tunnel.backend\n",
			vici_client_error(vc) ? vici_client_error(vc) : "no answer");
		return -1;
	}
	if (sw.err[0] || sw.backend == TUNNEL_BACKEND_UNKNOWN) {
		fprintf(stderr,
			"airlock-hub: tunnel.backend = auto: %s: refusing to start; set "
			"tunnel.backend = \"xfrm\" or \"libipsec\"\n",
			sw.err[0] ? sw.err
				  : "charon's loaded plugins name neither kernel-libipsec nor "
				    "kernel-netlink/kernel-pfkey");
		return -1;
	}
	p->backend = sw.backend;
	return 0;
}

/* Accepts on fd (owned: closed if this fails). */
static struct evconnlistener *watch_listener(struct hub_parent *p, int fd)
{
	struct evconnlistener *l =
		evconnlistener_new(p->base, on_accept, p, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!l)
		close(fd);
	return l;
}

/*
 * libipsec: charon creates tunnel.device when it starts and removes it when
 * it stops, and a listener bound to the device keeps the old interface
 * index: after a restart of charon it would never see a connection again.
 * Checked every second: a listener bound to another index than the device's
 * now is closed (it hears nothing) and opened again on the device; one that
 * cannot be opened is tried again at the next check.
 */
static void on_device_watch(evutil_socket_t fd, short what, void *arg)
{
	struct hub_parent *p = arg;
	const struct airlock_config *cfg = &p->ctx.cfg;
	char err[512];
	(void)fd;
	(void)what;
	unsigned now = if_nametoindex(cfg->tunnel.device);
	if (now == 0) {
		if (!p->device_gone)
			log_warning("event=tunnel-device-gone device=%s msg=\"the listeners are "
				    "opened again when charon creates it\"",
				    cfg->tunnel.device);
		p->device_gone = true;
		return;
	}
	p->device_gone = false;
	for (int i = 0; i < p->nlisteners; i++) {
		struct evconnlistener *l = p->listeners[i];
		int lfd = l ? evconnlistener_get_fd(l) : -1;
		if (l && !tunnel_socket_device_gone(lfd, cfg->tunnel.device))
			continue;
		unsigned old = l ? tunnel_socket_bound_ifindex(lfd, cfg->tunnel.device) : 0;
		if (l)
			evconnlistener_free(l);
		p->listeners[i] = NULL;
		lfd = hub_listen_open(cfg->hub.listen[i], p->backend, cfg->tunnel.device, err,
				      sizeof(err));
		if (lfd < 0 || !(p->listeners[i] = watch_listener(p, lfd))) {
			if (!p->reopen_failing)
				log_warning("event=listen-reopen-failed device=%s listen=%s "
					    "reason=\"%s\" msg=\"trying again every second\"",
					    cfg->tunnel.device, cfg->hub.listen[i],
					    lfd < 0 ? err : "cannot watch it");
			p->reopen_failing = true;
			continue;
		}
		p->reopen_failing = false;
		log_warning(
			"event=listeners-reopened device=%s listen=%s ifindex=%u old_ifindex=%u "
			"msg=\"charon created the device anew\"",
			cfg->tunnel.device, cfg->hub.listen[i],
			tunnel_socket_bound_ifindex(lfd, cfg->tunnel.device), old);
	}
}

static int open_listeners(struct hub_parent *p)
{
	const struct airlock_config *cfg = &p->ctx.cfg;
	char err[512];
	for (int i = 0; i < cfg->hub.nlisten; i++) {
		uint64_t deadline = clock_mono_s() + HUB_START_WAIT_S;
		int fd;
		bool logged = false;
		/* charon creates the TUN device when it starts: wait for it, within bounds. */
		while ((fd = hub_listen_open(cfg->hub.listen[i], p->backend, cfg->tunnel.device,
					     err, sizeof(err))) < 0 &&
		       errno == ENODEV && clock_mono_s() < deadline) {
			if (!logged)
				log_warning("event=waiting-for-device device=%s listen=%s "
					    "msg=\"retrying for up to %d s\"",
					    cfg->tunnel.device, cfg->hub.listen[i],
					    HUB_START_WAIT_S);
			logged = true;
			run_for(p->base, 500);
		}
		if (fd < 0) {
			fprintf(stderr, "airlock-hub: %s\n", err);
			return -1;
		}
		p->listeners[i] = watch_listener(p, fd);
		if (!p->listeners[i]) {
			fprintf(stderr, "airlock-hub: cannot watch %s\n", cfg->hub.listen[i]);
			return -1;
		}
		p->nlisteners++;
	}
	if (p->backend == TUNNEL_BACKEND_LIBIPSEC && p->nlisteners > 0) {
		struct timeval every = {1, 0};
		p->device_watch = event_new(p->base, -1, EV_PERSIST, on_device_watch, p);
		if (!p->device_watch || event_add(p->device_watch, &every) < 0)
			fatal("out of memory");
	}
	return 0;
}

/*
 * A cheap fingerprint of hub.trusted_keys: its own and, for a directory,
 * every "*.pub" entry's name, size, mtime and inode, independent of order.
 * 0 when nothing can be read.
 */
static uint64_t trusted_keys_fingerprint(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;
	uint64_t fp = (uint64_t)st.st_ino * 1000003u ^ (uint64_t)st.st_size ^
		      (uint64_t)st.st_mtim.tv_sec * 1000000007u ^ (uint64_t)st.st_mtim.tv_nsec;
	if (!S_ISDIR(st.st_mode))
		return fp | 1;
	DIR *d = opendir(path);
	if (!d)
		return fp | 1;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 4 || strcmp(de->d_name + n - 4, ".pub") != 0 ||
		    fstatat(dirfd(d), de->d_name, &st, 0) < 0)
			continue;
		uint64_t h = 1469598103934665603u; /* FNV-1a over the name, then the stat data */
		for (size_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)de->d_name[i]) * 1099511628211u;
		h ^= (uint64_t)st.st_size * 31u ^ (uint64_t)st.st_mtim.tv_sec * 1000000007u ^
		     (uint64_t)st.st_mtim.tv_nsec ^ (uint64_t)st.st_ino << 20;
		fp += h * 1099511628211u; /* a sum: directory order does not matter */
	}
	closedir(d);
	return fp | 1;
}

static int load_keys(struct hub_parent *p, struct attest_trust **out, char *err, size_t errlen)
{
	struct attest_trust *t = attest_trust_new();
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (attest_trust_load(t, p->ctx.cfg.hub.trusted_keys, err, errlen) < 0) {
		attest_trust_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

static int make_socket_dir(const char *sock)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s", sock);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "airlock-hub: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int prepare(struct hub_parent *p, char *err, size_t errlen)
{
	struct airlock_config *cfg = &p->ctx.cfg;
	if (cfg->hub.nlisten == 0) {
		fprintf(stderr, "airlock-hub: hub.listen is empty: nothing to accept on\n");
		return -1;
	}
	if (cfg->hub.hostname[0])
		snprintf(p->ctx.hostname, sizeof(p->ctx.hostname), "%s", cfg->hub.hostname);
	else if (gethostname(p->ctx.hostname, sizeof(p->ctx.hostname) - 1) < 0)
		snprintf(p->ctx.hostname, sizeof(p->ctx.hostname), "localhost");
	if (netaddr_parse(cfg->hub.internal_mta, &p->ctx.mta, &p->ctx.mta_len) < 0) {
		fprintf(stderr, "airlock-hub: hub.internal_mta: bad address %s\n",
			cfg->hub.internal_mta);
		return -1;
	}
	for (int i = 0; i < cfg->hub.nconnections; i++)
		p->conns[p->nconns++] = cfg->hub.connections[i];
	if (p->nconns == 0)
		p->conns[p->nconns++] = cfg->tunnel.connection;
	p->trust_fp = trusted_keys_fingerprint(p->ctx.cfg.hub.trusted_keys);
	if (load_keys(p, &p->trust, err, errlen) < 0) {
		fprintf(stderr, "airlock-hub: hub.trusted_keys: %s\n", err);
		return -1;
	}
	if (attest_trust_count(p->trust) == 0)
		log_warning("event=no-trusted-keys path=%s msg=\"every message will be refused\"",
			    cfg->hub.trusted_keys);
	return make_socket_dir(cfg->hub.control_socket);
}

static void reload_keys(struct hub_parent *p, const char *why)
{
	struct attest_trust *t;
	char err[512];
	uint64_t fp = trusted_keys_fingerprint(p->ctx.cfg.hub.trusted_keys);
	if (load_keys(p, &t, err, sizeof(err)) < 0) {
		log_error("event=keys-reload-failed path=%s reason=\"%s\" msg=\"keeping the %zu "
			  "keys loaded before\"",
			  p->ctx.cfg.hub.trusted_keys, err, attest_trust_count(p->trust));
		p->trust_fp = fp; /* not again until the files change once more */
		return;
	}
	attest_trust_free(p->trust);
	p->trust = t;
	p->trust_fp = fp;
	log_info("event=keys-reloaded path=%s count=%zu why=%s", p->ctx.cfg.hub.trusted_keys,
		 attest_trust_count(t), why);
	send_keys(p);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	reload_keys(arg, "sighup");
}

/*
 * airlock-cert sign / serve add an edge's next attestation key to the
 * trusted keys while mail flows: pick it up within a second, before the
 * edge switches to it, so that no message stamped with it is refused.
 */
static void on_trust_watch(evutil_socket_t fd, short what, void *arg)
{
	struct hub_parent *p = arg;
	(void)fd;
	(void)what;
	if (trusted_keys_fingerprint(p->ctx.cfg.hub.trusted_keys) != p->trust_fp)
		reload_keys(p, "changed");
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct hub_parent *p = arg;
	(void)what;
	log_info("event=stopping signal=%d", (int)sig);
	event_base_loopbreak(p->base);
}

int main(int argc, char **argv)
{
	static struct hub_parent parent;
	struct hub_parent *p = &parent;
	const char *path = CONFIG_DEFAULT_PATH;
	bool check_only = false;
	char err[512];

	int rc = config_parse_cmdline(argc, argv, &path, &check_only, usage);
	if (rc >= 0)
		return rc;
	if (config_load_file(path, &p->ctx.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "airlock-hub: %s\n", err);
		return 1;
	}
	if (check_only) {
		printf("airlock-hub: %s: configuration ok\n", path);
		config_release(&p->ctx.cfg);
		return 0;
	}
	log_init("airlock-hub", p->ctx.cfg.log.level, p->ctx.cfg.log.target);
	signal(SIGPIPE, SIG_IGN);
	if (prepare(p, err, sizeof(err)) < 0)
		return 1;

	p->base = event_base_new();
	p->sup = p->base ? proc_supervisor_new(p->base) : NULL;
	if (!p->base || !p->sup)
		fatal("out of memory");
	p->mon = sa_monitor_new(p->base, p->ctx.cfg.tunnel.vici,
				p->ctx.cfg.tunnel.request_timeout * 1000,
				p->ctx.cfg.tunnel.refresh_interval);
	if (!p->mon) {
		fprintf(stderr, "airlock-hub: tunnel.vici: unusable URI %s\n",
			p->ctx.cfg.tunnel.vici);
		return 1;
	}
	if (sa_monitor_start(p->mon) < 0)
		log_warning("event=vici-down uri=%s reason=\"%s\" msg=\"retrying; connections get "
			    "421 until it is up\"",
			    p->ctx.cfg.tunnel.vici, vici_client_error(sa_monitor_client(p->mon)));
	if (resolve_backend(p) < 0 || open_listeners(p) < 0)
		return 1;
	p->started = time(NULL);

	proc_supervisor_set_restart_cb(p->sup, child_restarted, p);
	struct proc_spec spec = {
		.name = "smtp",
		.main = hub_smtp_main,
		.arg = &p->ctx,
		.user = p->ctx.cfg.hub.user[0] ? p->ctx.cfg.hub.user : NULL,
	};
	if (proc_start(p->sup, &spec, &p->chan, child_handler, p, err, sizeof(err)) < 0) {
		fprintf(stderr, "airlock-hub: cannot start smtp: %s\n", err);
		return 1;
	}
	send_keys(p);
	const struct control_command cmds[] = {{"status", cmd_status, p}};
	p->control = control_server_new(p->base, p->ctx.cfg.hub.control_socket, cmds, 1, err,
					sizeof(err));
	if (!p->control) {
		fprintf(stderr, "airlock-hub: %s\n", err);
		proc_stop_all(p->sup, 2000);
		return 1;
	}
	struct event *sigterm = evsignal_new(p->base, SIGTERM, on_stop_signal, p);
	struct event *sigint = evsignal_new(p->base, SIGINT, on_stop_signal, p);
	struct event *sighup = evsignal_new(p->base, SIGHUP, on_hup, p);
	p->trust_watch = event_new(p->base, -1, EV_PERSIST, on_trust_watch, p);
	struct timeval watch_every = {1, 0};
	if (!p->trust_watch || event_add(p->trust_watch, &watch_every) < 0)
		fatal("out of memory");
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	evsignal_add(sighup, NULL);
	char listen_text[600] = "";
	for (int i = 0; i < p->ctx.cfg.hub.nlisten; i++)
		snprintf(listen_text + strlen(listen_text),
			 sizeof(listen_text) - strlen(listen_text), "%s%s", i ? "," : "",
			 p->ctx.cfg.hub.listen[i]);
	log_info("event=started listen=%s backend=%s device=%s connections=%zu internal_mta=%s "
		 "trusted_keys=%zu control=%s",
		 listen_text, tunnel_backend_name(p->backend),
		 p->backend == TUNNEL_BACKEND_LIBIPSEC ? p->ctx.cfg.tunnel.device : "-", p->nconns,
		 p->ctx.cfg.hub.internal_mta, attest_trust_count(p->trust),
		 p->ctx.cfg.hub.control_socket);

	event_base_dispatch(p->base);

	if (p->device_watch)
		event_free(p->device_watch);
	for (int i = 0; i < p->nlisteners; i++)
		if (p->listeners[i])
			evconnlistener_free(p->listeners[i]);
	control_server_free(p->control);
	proc_stop_all(p->sup, 5000);
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	event_free(p->trust_watch);
	proc_supervisor_free(p->sup);
	sa_monitor_free(p->mon);
	attest_trust_free(p->trust);
	event_base_free(p->base);
	config_release(&p->ctx.cfg);
	log_info("event=stopped");
	return 0;
}

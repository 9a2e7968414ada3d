/*
 * The route to the hubs through the SA; see edge_forward.h.
 */
#include "relay/edge/edge_forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "relay/forward_choice.h"
#include "relay/forward_hubs.h"
#include "relay/forward_initiate.h"
#include "tunnel/sa_monitor.h"
#include "tunnel/tunnel_socket.h"

struct edge_forward {
	struct event_base *base;
	const struct airlock_config *cfg;
	const struct forward_hubs *hubs;
	struct forward_health health[FORWARD_HUBS_MAX];
	int local_family;
	uint8_t local[16];
	struct sockaddr_storage source;
	socklen_t source_len;
	struct sa_monitor *monitor;
	struct forward_initiate *initiate;
	struct queue_runner *runner;
	enum tunnel_backend backend;
	bool backend_fixed;		      /* configured, not detected */
	bool stats_pending;		      /* a stats request is out */
	int64_t stats_last;		      /* when the last one was sent */
	int last_hub;			      /* the previous choice, -1 none */
	bool had_sa[FORWARD_HUBS_MAX];	      /* per hub, at the last SA change */
	int64_t sa_lost_at[FORWARD_HUBS_MAX]; /* when its SA went away; 0 = not lost */
	struct event *abort_timer;
	char last_why[320]; /* the previous deferral reason, for logs */
};

static int64_t now_s(void)
{
	return (int64_t)clock_mono_s();
}

static void forward_view(struct edge_forward *f, struct forward_view *v)
{
	memset(v, 0, sizeof(*v));
	v->hubs = f->hubs;
	v->health = f->health;
	v->table = sa_monitor_table(f->monitor);
	v->vici_connected = vici_client_connected(sa_monitor_client(f->monitor)) != 0;
	v->freshness = sa_monitor_freshness(f->monitor, (uint64_t)f->cfg->tunnel.stale_after);
	v->local_family = f->local_family;
	memcpy(v->local, f->local, sizeof(v->local));
	v->now = now_s();
}

/* Asks charon to bring up every hub the choice wants initiated (rate-limited). */
static void forward_initiate_wanted(struct edge_forward *f, const struct forward_choice *c)
{
	for (size_t i = 0; i < f->hubs->n; i++)
		if (c->initiate[i])
			forward_initiate_request(f->initiate, i, f->hubs->hub[i].connection,
						 f->hubs->hub[i].child, now_s());
}

/* ---- the kernel backend ------------------------------------------------------------------- */

static void stats_reply(enum vici_status st, const struct vici_node *reply, void *arg)
{
	struct edge_forward *f = arg;
	f->stats_pending = false;
	if (st != VICI_OK) {
		log_warning("event=tunnel-backend-unknown reason=\"stats: %s\"",
			    vici_status_str(st));
		return;
	}
	enum tunnel_backend b = tunnel_backend_detect(reply);
	if (b != f->backend)
		log_info("event=tunnel-backend backend=%s", tunnel_backend_name(b));
	f->backend = b;
	if (b != TUNNEL_BACKEND_UNKNOWN && f->runner)
		queue_runner_kick_all(f->runner);
}

static void backend_detect(struct edge_forward *f)
{
	if (f->backend_fixed || f->stats_pending)
		return;
	struct vici_client *c = sa_monitor_client(f->monitor);
	if (!vici_client_connected(c))
		return;
	f->stats_last = now_s();
	if (vici_request(c, "stats", NULL, stats_reply, f) == 0)
		f->stats_pending = true;
}

/* ---- SA changes ----------------------------------------------------------------------------- */

/* Closes the connections kept for reuse over hub tag (every hub when < 0): their path is gone. */
static void drop_idle(struct edge_forward *f, int tag, const char *reason)
{
	size_t n = f->runner ? queue_runner_drop_idle(f->runner, tag) : 0;
	if (n)
		log_info("event=idle-connections-closed reason=%s closed=%zu", reason, n);
}

static void monitor_changed(struct sa_monitor *m, const char *what, void *arg)
{
	struct edge_forward *f = arg;
	(void)m;
	bool up = strcmp(what, "connected") == 0;
	if (up) {
		/* charon may have restarted with another backend: ask again. */
		if (!f->backend_fixed)
			f->backend = TUNNEL_BACKEND_UNKNOWN;
		backend_detect(f);
	}
	/*
	 * A lost VICI session is most often charon going away: its SAs, and with
	 * libipsec its TUN device, went with it. Connections kept for reuse were
	 * opened over them and would hang until a timeout: close them.
	 */
	if (up || strcmp(what, "disconnected") == 0)
		drop_idle(f, -1, up ? "vici-connected" : "vici-down");
	struct forward_view v;
	struct forward_choice c;
	forward_view(f, &v);
	forward_choose(&v, &c);
	/*
	 * A hub's SA went away (the table is fresh, so this is charon's word).
	 * Bring it back at once if mail is waiting or in flight: connections
	 * over it resume if the new SA comes within EDGE_FORWARD_ABORT_AFTER_S
	 * (a break-before-make reauthentication, an SA torn down by hand);
	 * otherwise they are abandoned then (abort_cb), as they hold every
	 * delivery slot until their timeouts.
	 */
	bool table_ok = v.vici_connected && v.freshness == SA_FRESH;
	for (size_t i = 0; table_ok && i < f->hubs->n; i++) {
		const struct forward_hub *h = &f->hubs->hub[i];
		if (f->had_sa[i] && !c.has_sa[i]) {
			struct queue_runner_stats rs = {0};
			if (f->runner)
				queue_runner_get_stats(f->runner, &rs);
			log_warning("event=hub-sa-down hub=%s queued=%zu active=%zu", h->address,
				    rs.queued, rs.active);
			/* Idle connections rode the lost SA; the next message opens anew. */
			drop_idle(f, (int)i, "sa-down");
			if (rs.queued > 0)
				forward_initiate_request(f->initiate, i, h->connection, h->child,
							 now_s());
			f->sa_lost_at[i] = now_s();
			struct timeval tv = {EDGE_FORWARD_ABORT_AFTER_S, 0};
			evtimer_add(f->abort_timer, &tv);
		}
		if (c.has_sa[i])
			f->sa_lost_at[i] = 0;
		f->had_sa[i] = c.has_sa[i];
	}
	if (c.hub >= 0 && c.hub != f->last_hub) {
		size_t n = f->runner ? queue_runner_kick_all(f->runner) : 0;
		log_info("event=hub-usable hub=%s deferred_kicked=%zu", f->hubs->hub[c.hub].address,
			 n);
	}
	f->last_hub = c.hub;
	/*
	 * Messages that already failed wait for their back-off before the route
	 * hook sees them again: initiate for them now. Otherwise the next due
	 * message does it (edge_forward_route), deferred with the reason.
	 */
	struct queue_runner_stats rs;
	if (f->runner) {
		queue_runner_get_stats(f->runner, &rs);
		if (rs.deferred > 0)
			forward_initiate_wanted(f, &c);
	}
}

/* Connections over a hub whose SA stayed away are abandoned (their messages are retried). */
static void abort_cb(evutil_socket_t fd, short what, void *arg)
{
	struct edge_forward *f = arg;
	struct forward_view v;
	struct forward_choice c;
	(void)fd;
	(void)what;

	forward_view(f, &v);
	forward_choose(&v, &c);
	for (size_t i = 0; i < f->hubs->n; i++) {
		if (!f->sa_lost_at[i] || c.has_sa[i])
			continue;
		if (v.now - f->sa_lost_at[i] < EDGE_FORWARD_ABORT_AFTER_S) {
			struct timeval tv = {1, 0};
			evtimer_add(f->abort_timer, &tv);
			continue;
		}
		f->sa_lost_at[i] = 0;
		if (!f->runner)
			continue;
		const struct forward_hub *h = &f->hubs->hub[i];
		char why[600];
		snprintf(why, sizeof(why), "no SA to hub %s (%s/%s)", h->address, h->connection,
			 h->child);
		size_t n = queue_runner_abort_route(f->runner, (int)i, why);
		log_warning("event=hub-connections-abandoned hub=%s abandoned=%zu", h->address, n);
	}
}

static void initiate_done(void *arg, size_t slot, bool ok, const char *err)
{
	struct edge_forward *f = arg;
	(void)slot;
	(void)err;
	/* The child-updown event normally arrives first; this covers a missed one. */
	if (ok)
		monitor_changed(f->monitor, "initiated", f);
}

/* ---- the route hook ------------------------------------------------------------------------- */

int edge_forward_route(void *arg, struct queue_route *out, char *why, size_t whylen)
{
	struct edge_forward *f = arg;
	struct forward_view v;
	struct forward_choice c;

	forward_view(f, &v);
	forward_choose(&v, &c);
	forward_initiate_wanted(f, &c);
	f->last_hub = c.hub;
	if (c.hub < 0) {
		snprintf(why, whylen, "%s", c.why);
		if (strcmp(c.why, f->last_why) != 0) {
			char q[400];
			log_warning("event=forward-blocked reason=%s",
				    log_quote(q, sizeof(q), c.why));
			snprintf(f->last_why, sizeof(f->last_why), "%s", c.why);
		}
		return -1;
	}
	f->last_why[0] = '\0';
	if (f->backend == TUNNEL_BACKEND_UNKNOWN) {
		if (now_s() - f->stats_last >= EDGE_FORWARD_INITIATE_EVERY_S)
			backend_detect(f);
		snprintf(why, whylen, "tunnel backend unknown");
		return -1;
	}
	const struct forward_hub *h = &f->hubs->hub[c.hub];
	memset(out, 0, sizeof(*out));
	memcpy(&out->peer, &h->addr, h->addr_len);
	out->peer_len = h->addr_len;
	memcpy(&out->source, &f->source, f->source_len);
	out->source_len = f->source_len;
	if (f->backend == TUNNEL_BACKEND_XFRM)
		out->xfrm_out = true;
	else
		snprintf(out->bind_device, sizeof(out->bind_device), "%s", f->cfg->tunnel.device);
	snprintf(out->name, sizeof(out->name), "%s", h->address);
	out->tag = c.hub;
	return 0;
}

void edge_forward_outcome(void *arg, const struct queue_runner_outcome *o)
{
	struct edge_forward *f = arg;
	int i = o->route->tag;
	if (i < 0 || (size_t)i >= f->hubs->n)
		return;
	struct forward_health *h = &f->health[i];
	if (o->kind == QUEUE_OUTCOME_SESSION_OK) {
		if (h->failures)
			log_info("event=hub-recovered hub=%s", f->hubs->hub[i].address);
		forward_health_ok(h);
		return;
	}
	bool was_failing = now_s() < h->failing_until;
	forward_health_failed(h, now_s(), EDGE_FORWARD_HOLD_S, o->reply);
	if (!was_failing) {
		char q[300];
		log_warning("event=hub-failing hub=%s hold=%d reason=%s", f->hubs->hub[i].address,
			    EDGE_FORWARD_HOLD_S, log_quote(q, sizeof(q), o->reply));
	}
}

/* ---- status -----------------------------------------------------------------------------------
 */

json_t *edge_forward_hubs_json(struct edge_forward *f)
{
	struct forward_view v;
	struct forward_choice c;
	json_t *a = json_array();

	forward_view(f, &v);
	forward_choose(&v, &c);
	for (size_t i = 0; i < f->hubs->n; i++) {
		const struct forward_hub *h = &f->hubs->hub[i];
		json_array_append_new(a, json_pack("{s:s, s:i, s:s, s:s, s:s}", "address",
						   h->address, "priority", h->priority,
						   "connection", h->connection, "child", h->child,
						   "state", forward_hub_state_name(c.state[i])));
	}
	return a;
}

json_t *edge_forward_tunnel_json(struct edge_forward *f)
{
	struct forward_view v;
	forward_view(f, &v);
	return json_pack("{s:s, s:b, s:s}", "backend", tunnel_backend_name(f->backend),
			 "vici_connected", v.vici_connected, "sa_table",
			 sa_freshness_name(v.freshness));
}

/* ---- life cycle -------------------------------------------------------------------------------
 */

struct edge_forward *edge_forward_new(struct event_base *base, const struct airlock_config *cfg,
				      char *err, size_t errlen)
{
	const struct forward_hubs *hubs = cfg->edge.hubs;
	if (!hubs || hubs->n == 0) {
		snprintf(err, errlen, "edge.hubs is not set: nowhere to forward mail");
		return NULL;
	}
	struct edge_forward *f = calloc(1, sizeof(*f));
	if (!f)
		fatal("out of memory");
	f->base = base;
	f->cfg = cfg;
	f->hubs = hubs;
	f->last_hub = -1;
	if (ts_addr_parse(cfg->tunnel.local_address, &f->local_family, f->local) != 0) {
		snprintf(err, errlen, "tunnel.local_address %s is not an address",
			 cfg->tunnel.local_address);
		free(f);
		return NULL;
	}
	if (f->local_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&f->source;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, f->local, 4);
		f->source_len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&f->source;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, f->local, 16);
		f->source_len = sizeof(*in6);
	}
	if (strcmp(cfg->tunnel.backend, "auto") != 0) {
		if (tunnel_backend_parse(cfg->tunnel.backend, &f->backend) != 0) {
			snprintf(err, errlen, "tunnel.backend %s is unknown", cfg->tunnel.backend);
			free(f);
			return NULL;
		}
		f->backend_fixed = true;
	}
	int timeout_ms = cfg->tunnel.request_timeout * 1000;
	f->monitor =
		sa_monitor_new(base, cfg->tunnel.vici, timeout_ms, cfg->tunnel.refresh_interval);
	f->initiate = forward_initiate_new(base, cfg->tunnel.vici, EDGE_FORWARD_INITIATE_TIMEOUT,
					   EDGE_FORWARD_INITIATE_EVERY_S);
	if (!f->monitor || !f->initiate) {
		snprintf(err, errlen, "tunnel.vici %s is not usable", cfg->tunnel.vici);
		edge_forward_free(f);
		return NULL;
	}
	f->abort_timer = evtimer_new(base, abort_cb, f);
	if (!f->abort_timer)
		fatal("out of memory");
	sa_monitor_set_cb(f->monitor, monitor_changed, f);
	forward_initiate_set_done_cb(f->initiate, initiate_done, f);
	if (sa_monitor_start(f->monitor) != 0)
		log_warning("event=vici-unreachable uri=%s error=\"%s\"", cfg->tunnel.vici,
			    vici_client_error(sa_monitor_client(f->monitor)));
	if (forward_initiate_start(f->initiate) != 0)
		log_warning("event=vici-unreachable uri=%s use=initiate", cfg->tunnel.vici);
	return f;
}

void edge_forward_set_runner(struct edge_forward *f, struct queue_runner *r)
{
	f->runner = r;
}

void edge_forward_free(struct edge_forward *f)
{
	if (!f)
		return;
	sa_monitor_free(f->monitor);
	forward_initiate_free(f->initiate);
	if (f->abort_timer)
		event_free(f->abort_timer);
	free(f);
}

/*
 * airlockctl status and check: one snapshot, or a live view redrawn on VICI
 * events and every few seconds.
 */
#include "tunnel/airlockctl/ctl.h"

#include "tunnel/sa_monitor.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

struct fetch_once {
	struct event_base *base;
	struct tunnel_status *st;
};

static void fetch_once_done(struct tunnel_status *st, void *arg)
{
	struct fetch_once *f = arg;
	f->st = st;
	event_base_loopbreak(f->base);
}

struct tunnel_status *ctl_fetch_once(const struct ctl_opts *o)
{
	const char *uri = o->cfg.tunnel.vici;
	struct event_base *base = event_base_new();
	if (!base)
		return tunnel_status_unreachable(uri, "cannot create event loop");
	struct vici_client *c = vici_client_new(base, uri, o->cfg.tunnel.request_timeout * 1000);
	struct fetch_once f = {.base = base};
	if (!c) {
		f.st = tunnel_status_unreachable(uri, "unusable VICI socket URI");
	} else {
		vici_client_set_reconnect(c, 0);
		if (vici_client_start(c) < 0)
			f.st = tunnel_status_unreachable(uri, vici_client_error(c));
		else if (tunnel_status_fetch(c, fetch_once_done, &f) < 0)
			f.st = tunnel_status_unreachable(uri, vici_client_error(c));
		else
			event_base_dispatch(base);
		if (!f.st)
			f.st = tunnel_status_unreachable(uri, "no answer");
	}
	vici_client_free(c);
	event_base_free(base);
	return f.st;
}

static void print_json(const struct tunnel_status *st, const struct tunnel_check *chk,
		       json_t *daemon, json_t *hub, int compact)
{
	json_t *j = tunnel_status_json(st, chk, time(NULL));
	if (daemon) {
		json_t *copy = json_deep_copy(daemon);
		json_object_del(copy, "ok");
		json_object_set_new(j, "edge", copy);
	} else {
		json_object_set_new(j, "edge", json_null());
	}
	/* The hub's control socket's "hub" object as is, null when it does not answer. */
	json_object_set(j, "hub", hub ? hub : json_null());
	char *text = json_dumps(j, compact ? JSON_COMPACT : JSON_INDENT(2));
	if (text) {
		fputs(text, stdout);
		fputc('\n', stdout);
	}
	free(text);
	json_decref(j);
	fflush(stdout);
}

static void show(const struct ctl_opts *o, const struct tunnel_status *st, int live)
{
	struct tunnel_check_params p;
	struct tunnel_check chk;
	char err[512];
	ctl_check_params(o, &p);
	tunnel_check_eval(st, &p, time(NULL), &chk);
	/* The daemon section is there when the daemon runs; its absence is not an error. */
	json_t *daemon = ctl_daemon_request(o, "status", err, sizeof(err));
	/* The hub section likewise, on a host configured as a hub or running one. */
	char hub_err[512] = "";
	bool want_hub = ctl_hub_wanted(o);
	json_t *hub = want_hub ? ctl_hub_request(o, hub_err, sizeof(hub_err)) : NULL;
	if (o->json) {
		print_json(st, &chk, daemon, hub, live);
		json_decref(daemon);
		json_decref(hub);
		return;
	}
	if (live && isatty(STDOUT_FILENO))
		fputs("\033[H\033[2J", stdout);
	else if (live)
		fputs("----\n", stdout);
	ctl_render_status(stdout, st, &chk, time(NULL));
	/* A hub-only host has no edge daemon to report missing. */
	if (daemon || !want_hub || o->cfg.edge.nrelay_domains > 0)
		ctl_render_daemon(stdout, daemon);
	if (want_hub)
		ctl_render_hub(stdout, hub, hub_err);
	json_decref(daemon);
	json_decref(hub);
	fflush(stdout);
}

/* ---- the live view -------------------------------------------------------- */

struct watch {
	const struct ctl_opts *o;
	struct event_base *base;
	struct sa_monitor *mon;
	struct event *tick;
	int fetching;
	int again;
	const char *reason;
};

static void watch_redraw(struct watch *w);

static void watch_fetched(struct tunnel_status *st, void *arg)
{
	struct watch *w = arg;
	w->fetching = 0;
	show(w->o, st, 1);
	tunnel_status_free(st);
	if (w->again) {
		w->again = 0;
		watch_redraw(w);
	}
}

static void watch_redraw(struct watch *w)
{
	if (w->fetching) {
		w->again = 1;
		return;
	}
	struct vici_client *c = sa_monitor_client(w->mon);
	if (tunnel_status_fetch(c, watch_fetched, w) == 0) {
		w->fetching = 1;
		return;
	}
	char err[600];
	snprintf(err, sizeof(err), "%s; reconnecting",
		 vici_client_error(c)[0] ? vici_client_error(c) : "not connected");
	struct tunnel_status *st = tunnel_status_unreachable(w->o->cfg.tunnel.vici, err);
	show(w->o, st, 1);
	tunnel_status_free(st);
}

static void watch_changed(struct sa_monitor *m, const char *what, void *arg)
{
	struct watch *w = arg;
	(void)m;
	w->reason = what;
	watch_redraw(w);
}

static void watch_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	watch_redraw(arg);
}

static void watch_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static int ctl_watch(const struct ctl_opts *o)
{
	struct watch w = {.o = o};
	w.base = event_base_new();
	if (!w.base) {
		fprintf(stderr, "airlockctl: cannot create event loop\n");
		return 1;
	}
	w.mon = sa_monitor_new(w.base, o->cfg.tunnel.vici, o->cfg.tunnel.request_timeout * 1000,
			       o->cfg.tunnel.refresh_interval);
	if (!w.mon) {
		fprintf(stderr, "airlockctl: unusable VICI socket URI %s\n", o->cfg.tunnel.vici);
		event_base_free(w.base);
		return 1;
	}
	sa_monitor_set_cb(w.mon, watch_changed, &w);
	w.tick = event_new(w.base, -1, EV_PERSIST, watch_tick, &w);
	struct event *sigint = evsignal_new(w.base, SIGINT, watch_signal, w.base);
	struct event *sigterm = evsignal_new(w.base, SIGTERM, watch_signal, w.base);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	struct timeval tv = {o->interval_s, 0};
	evtimer_add(w.tick, &tv);
	if (sa_monitor_start(w.mon) < 0)
		watch_redraw(&w); /* show why, retries go on */
	event_base_dispatch(w.base);
	event_free(sigint);
	event_free(sigterm);
	event_free(w.tick);
	sa_monitor_free(w.mon);
	event_base_free(w.base);
	return 0;
}

int ctl_cmd_status(struct ctl_opts *o)
{
	if (o->watch) {
		signal(SIGPIPE, SIG_IGN);
		return ctl_watch(o);
	}
	struct tunnel_status *st = ctl_fetch_once(o);
	int rc = st->reachable ? 0 : 1;
	if (!st->reachable && !o->json)
		fprintf(stderr, "airlockctl: %s\n", st->error);
	show(o, st, 0);
	tunnel_status_free(st);
	return rc;
}

int ctl_cmd_check(struct ctl_opts *o)
{
	struct tunnel_status *st = ctl_fetch_once(o);
	struct tunnel_check_params p;
	struct tunnel_check chk;
	ctl_check_params(o, &p);
	tunnel_check_eval(st, &p, time(NULL), &chk);
	printf("TUNNEL %s: %s\n", tunnel_check_level_str(chk.level), chk.text);
	tunnel_status_free(st);
	return (int)chk.level;
}

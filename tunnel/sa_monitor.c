/*
 * The live SA table: full listings plus events.
 */
#include "tunnel/sa_monitor.h"

#include "common/clock.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

/* Events arriving in a burst (a rekey sends several) share one listing. */
#define SA_MONITOR_REFRESH_DELAY_MS 100

static const char *const sa_events[] = {"ike-updown", "child-updown", "ike-rekey", "child-rekey"};

struct sa_monitor {
	struct vici_client *client;
	struct sa_table *table;
	struct event *periodic;
	struct event *soon;
	int refresh_interval_s;
	int refreshing;
	int refresh_again; /* a refresh was asked for while one ran */
	int ever_connected;
	sa_monitor_cb cb;
	void *arg;
	struct sa_monitor_stats stats;
};

static void monitor_notify(struct sa_monitor *m, const char *what)
{
	if (m->cb)
		m->cb(m, what, m->arg);
}

static void monitor_refresh(struct sa_monitor *m);

static void refresh_event(const struct vici_node *event, void *arg)
{
	struct sa_monitor *m = arg;
	sa_table_refresh_add(m->table, event);
}

static void refresh_reply(enum vici_status st, const struct vici_node *reply, void *arg)
{
	struct sa_monitor *m = arg;
	m->refreshing = 0;
	if (st == VICI_OK) {
		struct sa_table_report rep;
		if (sa_table_refresh_commit(m->table, clock_mono_s(), &rep) == 0) {
			m->stats.refreshes++;
			if (rep.ike_skipped || rep.child_skipped)
				log_warning("event=sa-refresh-skipped ike=%u child=%u",
					    rep.ike_skipped, rep.child_skipped);
			if (rep.refresh_advisable)
				m->refresh_again = 1;
			monitor_notify(m, "refresh");
		} else {
			m->stats.refresh_errors++;
			m->refresh_again = 1;
		}
	} else {
		(void)reply;
		sa_table_refresh_abort(m->table);
		m->stats.refresh_errors++;
		log_warning("event=sa-refresh-failed reason=\"%s\"", vici_status_str(st));
	}
	if (m->refresh_again && vici_client_connected(m->client)) {
		m->refresh_again = 0;
		struct timeval tv = {0, SA_MONITOR_REFRESH_DELAY_MS * 1000};
		evtimer_add(m->soon, &tv);
	}
}

static void monitor_refresh(struct sa_monitor *m)
{
	if (m->refreshing) {
		m->refresh_again = 1;
		return;
	}
	sa_table_refresh_begin(m->table);
	/*
	 * Not "noblock": that skips every IKE_SA charon has in use at that
	 * instant (during a rekey, or both SAs of a make-before-break rotation),
	 * and the listing replaces the table, so an SA that is up would drop out
	 * of it until the next refresh. charon holds an SA only while it
	 * processes a message; the request's timeout bounds the wait.
	 */
	if (vici_request_stream(m->client, "list-sas", NULL, "list-sa", refresh_event,
				refresh_reply, m) < 0) {
		sa_table_refresh_abort(m->table);
		return;
	}
	m->refreshing = 1;
}

static void soon_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	monitor_refresh(arg);
}

static void periodic_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sa_monitor *m = arg;
	if (vici_client_connected(m->client))
		monitor_refresh(m);
}

static void sa_event_cb(const char *name, const struct vici_node *event, void *arg)
{
	struct sa_monitor *m = arg;
	unsigned r = sa_table_apply_event(m->table, name, event, clock_mono_s());
	m->stats.events++;
	log_debug("event=sa-event name=%s result=%u", name, r);
	if (r & (SA_EVENT_REFRESH | SA_EVENT_MALFORMED | SA_EVENT_CHANGED)) {
		/* Events carry the essentials; the listing brings every detail. */
		struct timeval tv = {0, SA_MONITOR_REFRESH_DELAY_MS * 1000};
		evtimer_add(m->soon, &tv);
	}
	monitor_notify(m, "event");
}

static void state_cb(int connected, const char *err, void *arg)
{
	struct sa_monitor *m = arg;
	if (connected) {
		if (m->ever_connected)
			m->stats.reconnects++;
		m->ever_connected = 1;
		log_info("event=vici-up uri=%s", vici_client_uri(m->client));
		monitor_refresh(m);
		monitor_notify(m, "connected");
	} else {
		m->refreshing = 0;
		sa_table_mark_disconnected(m->table);
		log_warning("event=vici-down reason=\"%s\"", err ? err : "");
		monitor_notify(m, "disconnected");
	}
}

struct sa_monitor *sa_monitor_new(struct event_base *base, const char *uri, int timeout_ms,
				  int refresh_interval_s)
{
	struct vici_client *c = vici_client_new(base, uri, timeout_ms);
	if (!c)
		return NULL;
	struct sa_monitor *m = calloc(1, sizeof(*m));
	if (!m || !(m->table = sa_table_new()))
		fatal("out of memory");
	m->client = c;
	m->refresh_interval_s = refresh_interval_s > 0 ? refresh_interval_s : 10;
	m->periodic = event_new(base, -1, EV_PERSIST, periodic_cb, m);
	m->soon = evtimer_new(base, soon_cb, m);
	if (!m->periodic || !m->soon)
		fatal("out of memory");
	vici_client_set_state_cb(c, state_cb, m);
	for (size_t i = 0; i < sizeof(sa_events) / sizeof(sa_events[0]); i++) {
		if (vici_subscribe(c, sa_events[i], sa_event_cb, m) < 0)
			fatal("cannot subscribe to %s", sa_events[i]);
	}
	return m;
}

void sa_monitor_free(struct sa_monitor *m)
{
	if (!m)
		return;
	vici_client_free(m->client);
	event_free(m->periodic);
	event_free(m->soon);
	sa_table_free(m->table);
	free(m);
}

void sa_monitor_set_cb(struct sa_monitor *m, sa_monitor_cb cb, void *arg)
{
	m->cb = cb;
	m->arg = arg;
}

int sa_monitor_start(struct sa_monitor *m)
{
	struct timeval tv = {m->refresh_interval_s, 0};
	evtimer_add(m->periodic, &tv);
	return vici_client_start(m->client);
}

const struct sa_table *sa_monitor_table(const struct sa_monitor *m)
{
	return m->table;
}

enum sa_freshness sa_monitor_freshness(const struct sa_monitor *m, uint64_t stale_after_s)
{
	return sa_table_freshness(m->table, clock_mono_s(), stale_after_s);
}

struct vici_client *sa_monitor_client(struct sa_monitor *m)
{
	return m->client;
}

void sa_monitor_get_stats(const struct sa_monitor *m, struct sa_monitor_stats *out)
{
	*out = m->stats;
}

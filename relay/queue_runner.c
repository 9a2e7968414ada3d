/*
 * Delivery scheduler of the queue process; see queue_runner.h.
 *
 * Messages live in one table (hash by id) and one of three lists: ready
 * (due, waiting for a delivery slot), waiting (deferred until
 * next_attempt) and active (a delivery holds it). A one-second tick moves
 * due messages from waiting to ready, expires idle connections and
 * re-lists the spool every scan_interval_s.
 */
#include "relay/queue_runner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/log.h"

#define RUNNER_BUCKETS	   4096
#define RUNNER_IDLE_KEEP_S 5

enum msg_list { LIST_READY = 0, LIST_WAITING, LIST_ACTIVE, LIST_COUNT };

struct runner_msg {
	char id[QUEUE_RUNNER_ID_MAX + 1];
	int64_t arrived;
	int64_t next_attempt;
	unsigned attempts;
	enum msg_list list;
	char reason[QUEUE_RUNNER_REASON_MAX];
	bool *perm_failed; /* recipients refused for good, by original index */
	size_t nperm;
	struct runner_msg *prev, *next; /* in its list */
	struct runner_msg *hnext;	/* in its hash bucket */
};

struct runner_delivery {
	struct queue_runner *r;
	struct runner_msg *msg;
	struct queue_runner_msg sm;
	struct queue_route route;
	struct smtp_client_conn *conn;
	const char **rcpts; /* pending recipients */
	size_t *idx;	    /* their original indexes */
	size_t n;
	struct runner_delivery *prev, *next;
};

struct runner_idle {
	struct smtp_client_conn *conn;
	struct queue_route route;
	int64_t until;
};

struct queue_runner {
	struct event_base *base;
	struct queue_runner_store store;
	struct queue_runner_opts o;
	queue_route_fn route;
	void *route_arg;
	queue_outcome_fn outcome;
	void *outcome_arg;
	struct event *tick;
	struct event *kick_ev; /* dispatches outside the caller's stack */
	struct runner_msg *buckets[RUNNER_BUCKETS];
	struct runner_msg *head[LIST_COUNT], *tail[LIST_COUNT];
	size_t count[LIST_COUNT];
	size_t deferred;
	struct runner_delivery *deliveries;
	struct runner_idle *idle; /* max_parallel slots */
	int64_t last_scan;
	uint64_t delivered, held;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static size_t runner_hash(const char *id)
{
	uint32_t h = 2166136261u;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % RUNNER_BUCKETS;
}

static struct runner_msg *runner_find(const struct queue_runner *r, const char *id)
{
	for (struct runner_msg *m = r->buckets[runner_hash(id)]; m; m = m->hnext)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static void list_unlink(struct queue_runner *r, struct runner_msg *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		r->head[m->list] = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		r->tail[m->list] = m->prev;
	m->prev = m->next = NULL;
	r->count[m->list]--;
	if (m->list == LIST_WAITING && m->attempts > 0)
		r->deferred--;
}

/* Appends at the tail: the ready list is served first in, first out. */
static void list_link(struct queue_runner *r, struct runner_msg *m, enum msg_list l)
{
	m->list = l;
	m->next = NULL;
	m->prev = r->tail[l];
	if (m->prev)
		m->prev->next = m;
	else
		r->head[l] = m;
	r->tail[l] = m;
	r->count[l]++;
	if (l == LIST_WAITING && m->attempts > 0)
		r->deferred++;
}

static void list_move(struct queue_runner *r, struct runner_msg *m, enum msg_list l)
{
	list_unlink(r, m);
	list_link(r, m, l);
}

static struct runner_msg *runner_add(struct queue_runner *r, const char *id)
{
	struct runner_msg *m;
	size_t b;

	if (strlen(id) > QUEUE_RUNNER_ID_MAX || runner_find(r, id))
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		log_error("event=queue-runner-oom id=%s", id);
		return NULL;
	}
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->next_attempt = now_s();
	b = runner_hash(id);
	m->hnext = r->buckets[b];
	r->buckets[b] = m;
	list_link(r, m, LIST_READY);
	return m;
}

static void runner_forget(struct queue_runner *r, struct runner_msg *m)
{
	struct runner_msg **pp = &r->buckets[runner_hash(m->id)];

	while (*pp != m)
		pp = &(*pp)->hnext;
	*pp = m->hnext;
	list_unlink(r, m);
	free(m->perm_failed);
	free(m);
}

static bool route_same(const struct queue_route *a, const struct queue_route *b)
{
	return a->peer_len == b->peer_len && memcmp(&a->peer, &b->peer, a->peer_len) == 0 &&
	       a->source_len == b->source_len &&
	       memcmp(&a->source, &b->source, a->source_len) == 0 &&
	       strcmp(a->bind_device, b->bind_device) == 0 && a->xfrm_out == b->xfrm_out &&
	       a->tag == b->tag;
}

static void runner_outcome(struct queue_runner *r, enum queue_outcome_kind kind,
			   const struct queue_route *route, const char *reply)
{
	if (!r->outcome)
		return;
	struct queue_runner_outcome o = {kind, route, reply ? reply : ""};
	r->outcome(r->outcome_arg, &o);
}

static void runner_dispatch(struct queue_runner *r);

static void runner_schedule_dispatch(struct queue_runner *r)
{
	event_active(r->kick_ev, EV_TIMEOUT, 1);
}

/* ---- outcomes --------------------------------------------------------------------------- */

static unsigned runner_backoff(const struct queue_runner *r, unsigned attempts)
{
	uint64_t d = r->o.retry_min_s;

	for (unsigned i = 1; i < attempts && d < r->o.retry_max_s; i++)
		d *= 2;
	return d > r->o.retry_max_s ? r->o.retry_max_s : (unsigned)d;
}

static void runner_hold(struct queue_runner *r, struct runner_msg *m, const char *why)
{
	char err[200] = "", q1[QUEUE_RUNNER_REASON_MAX + 16], q2[220];
	int64_t now = now_s();

	if (r->store.hold(r->store.arg, m->id, why, err, sizeof(err)) != 0) {
		log_error("event=hold-failed id=%s reason=%s error=%s", m->id,
			  log_quote(q1, sizeof(q1), why), log_quote(q2, sizeof(q2), err));
		/* Keep it queued; the next attempt or scan tries again. */
		snprintf(m->reason, sizeof(m->reason), "%s", why);
		m->attempts++;
		m->next_attempt = now + runner_backoff(r, m->attempts);
		list_move(r, m, LIST_WAITING);
		return;
	}
	log_info("event=held id=%s delay=%lld reason=%s", m->id,
		 (long long)(m->arrived ? now - m->arrived : 0), log_quote(q1, sizeof(q1), why));
	r->held++;
	runner_forget(r, m);
}

/* A temporary failure: back off, or hold at the end of the lifetime. */
static void runner_defer(struct queue_runner *r, struct runner_msg *m, const char *hop,
			 const char *why)
{
	char q[QUEUE_RUNNER_REASON_MAX + 16], reason[QUEUE_RUNNER_REASON_MAX + 64];
	int64_t now = now_s();

	snprintf(m->reason, sizeof(m->reason), "%s", why);
	m->attempts++;
	if (m->arrived && now - m->arrived >= (int64_t)r->o.max_lifetime_s) {
		snprintf(reason, sizeof(reason), "expired after %u attempts: %s", m->attempts, why);
		runner_hold(r, m, reason);
		return;
	}
	unsigned delay = runner_backoff(r, m->attempts);
	m->next_attempt = now + delay;
	list_move(r, m, LIST_WAITING);
	log_info("event=deferred id=%s to=%s delay=%lld attempts=%u retry_in=%u reason=%s", m->id,
		 hop, (long long)(m->arrived ? now - m->arrived : 0), m->attempts, delay,
		 log_quote(q, sizeof(q), why));
}

/* ---- deliveries ------------------------------------------------------------------------- */

static void delivery_free(struct runner_delivery *d)
{
	struct queue_runner *r = d->r;

	if (d->prev)
		d->prev->next = d->next;
	else
		r->deliveries = d->next;
	if (d->next)
		d->next->prev = d->prev;
	if (d->sm.fd >= 0 || d->sm.handle)
		r->store.close(r->store.arg, &d->sm);
	free(d->rcpts);
	free(d->idx);
	free(d);
}

/* Parks a connection for reuse, or closes it. */
static void runner_park(struct queue_runner *r, struct smtp_client_conn *conn,
			const struct queue_route *route)
{
	if (conn && smtp_client_conn_usable(conn)) {
		for (unsigned i = 0; i < r->o.max_parallel; i++) {
			if (r->idle[i].conn)
				continue;
			r->idle[i].conn = conn;
			r->idle[i].route = *route;
			r->idle[i].until = now_s() + r->o.idle_keep_s;
			return;
		}
		smtp_client_conn_quit(conn);
		return;
	}
	smtp_client_conn_free(conn);
}

static void runner_record(struct runner_delivery *d, const struct smtp_client_result *res)
{
	struct queue_runner *r = d->r;
	struct runner_msg *m = d->msg;
	char q[SMTP_CLIENT_REPLY_MAX + 16], why[QUEUE_RUNNER_REASON_MAX];
	size_t left_temp = 0, done = 0;
	const char *perm_reason = NULL, *temp_reason = NULL;
	int64_t now = now_s();

	for (size_t i = 0; i < d->n; i++) {
		int code = i < res->nrcpts ? res->rcpt_code[i] : 0;
		size_t k = d->idx[i];
		if (code / 100 == 2) {
			done++;
		} else if (code / 100 == 5) {
			if (!m->perm_failed[k])
				m->nperm++;
			m->perm_failed[k] = true;
			perm_reason = res->rcpt_reply[i];
		} else {
			left_temp++;
			if (!temp_reason && i < res->nrcpts)
				temp_reason = res->rcpt_reply[i];
		}
	}
	/*
	 * A message finished by this delivery is removed without recording its
	 * recipients first: the record would be removed with it a moment later,
	 * and a crash in between makes the message come back either way (the
	 * removal is not synced). Only a message that stays gets its progress.
	 */
	bool finished = left_temp == 0 && m->nperm == 0;
	for (size_t i = 0; i < d->n && !finished; i++) {
		size_t k = d->idx[i];
		if (i < res->nrcpts && res->rcpt_code[i] / 100 == 2 &&
		    r->store.rcpt_done(r->store.arg, m->id, k) != 0)
			log_error("event=rcpt-done-failed id=%s rcpt=%zu error=%s", m->id, k,
				  strerror(errno));
	}
	if (finished) {
		log_info("event=delivered id=%s to=%s delay=%lld rcpts=%zu reply=%s", m->id,
			 d->route.name, (long long)(m->arrived ? now - m->arrived : 0), done,
			 log_quote(q, sizeof(q), res->reply));
		if (r->store.remove(r->store.arg, m->id) != 0)
			log_error("event=remove-failed id=%s error=%s", m->id, strerror(errno));
		r->delivered++;
		runner_forget(r, m);
		return;
	}
	if (done > 0)
		log_info("event=delivered id=%s to=%s partial=yes rcpts=%zu delay=%lld", m->id,
			 d->route.name, done, (long long)(m->arrived ? now - m->arrived : 0));
	if (left_temp == 0) {
		snprintf(why, sizeof(why), "%s said: %s", d->route.name,
			 perm_reason ? perm_reason : res->reply);
		runner_hold(r, m, why);
		return;
	}
	snprintf(why, sizeof(why), "%s %s", d->route.name,
		 temp_reason && temp_reason[0] ? temp_reason : res->reply);
	runner_defer(r, m, d->route.name, why);
}

static void delivery_done(void *arg, struct smtp_client_conn *conn,
			  const struct smtp_client_result *res)
{
	struct runner_delivery *d = arg;
	struct queue_runner *r = d->r;
	struct queue_route route = d->route;

	runner_record(d, res);
	d->conn = NULL;
	delivery_free(d);
	runner_park(r, conn, &route);
	runner_dispatch(r);
}

static void delivery_send(struct runner_delivery *d)
{
	struct smtp_client_msg cm = {
		.from = d->sm.from,
		.rcpts = d->rcpts,
		.nrcpts = d->n,
		.fd = d->sm.fd,
		.offset = d->sm.content_off,
		.length = d->sm.content_len,
		.smtputf8 = d->sm.smtputf8,
		.eightbit = d->sm.eightbit,
	};

	if (smtp_client_conn_send(d->conn, &cm, delivery_done, d) != 0) {
		struct queue_runner *r = d->r;
		struct runner_msg *m = d->msg;
		smtp_client_conn_free(d->conn);
		d->conn = NULL;
		runner_defer(r, m, d->route.name, "connection unusable");
		delivery_free(d);
		runner_schedule_dispatch(r);
	}
}

static void delivery_ready(void *arg, struct smtp_client_conn *conn,
			   const struct smtp_client_result *res)
{
	struct runner_delivery *d = arg;
	struct queue_runner *r = d->r;

	if (!res) {
		runner_outcome(r, QUEUE_OUTCOME_SESSION_OK, &d->route, NULL);
		delivery_send(d);
		return;
	}
	char why[QUEUE_RUNNER_REASON_MAX];
	snprintf(why, sizeof(why), "%s %s", d->route.name, res->reply);
	runner_outcome(r, QUEUE_OUTCOME_SESSION_FAILED, &d->route, res->reply);
	runner_defer(r, d->msg, d->route.name, why);
	smtp_client_conn_free(conn);
	d->conn = NULL;
	delivery_free(d);
	runner_schedule_dispatch(r);
}

/* Takes an idle connection to the same next hop, if one is still usable. */
static struct smtp_client_conn *runner_take_idle(struct queue_runner *r,
						 const struct queue_route *route)
{
	for (unsigned i = 0; i < r->o.max_parallel; i++) {
		struct runner_idle *s = &r->idle[i];
		if (!s->conn)
			continue;
		if (!smtp_client_conn_usable(s->conn)) {
			smtp_client_conn_free(s->conn);
			s->conn = NULL;
			continue;
		}
		if (route_same(&s->route, route)) {
			struct smtp_client_conn *c = s->conn;
			s->conn = NULL;
			return c;
		}
	}
	return NULL;
}

/* Starts delivering m over route. */
static void runner_start_delivery(struct queue_runner *r, struct runner_msg *m,
				  const struct queue_route *route)
{
	struct runner_delivery *d = calloc(1, sizeof(*d));
	char err[200], why[QUEUE_RUNNER_REASON_MAX];

	list_move(r, m, LIST_ACTIVE);
	if (!d) {
		runner_defer(r, m, route->name, "out of memory");
		return;
	}
	d->r = r;
	d->msg = m;
	d->route = *route;
	d->sm.fd = -1;
	d->next = r->deliveries;
	if (d->next)
		d->next->prev = d;
	r->deliveries = d;
	if (r->store.open(r->store.arg, m->id, &d->sm, err, sizeof(err)) != 0) {
		d->sm.fd = -1;
		d->sm.handle = NULL;
		snprintf(why, sizeof(why), "queue file: %s", err);
		runner_defer(r, m, route->name, why);
		delivery_free(d);
		return;
	}
	m->arrived = d->sm.arrived;
	if (!m->perm_failed)
		m->perm_failed = calloc(d->sm.nrcpts ? d->sm.nrcpts : 1, sizeof(bool));
	d->rcpts = calloc(d->sm.nrcpts ? d->sm.nrcpts : 1, sizeof(*d->rcpts));
	d->idx = calloc(d->sm.nrcpts ? d->sm.nrcpts : 1, sizeof(*d->idx));
	if (!m->perm_failed || !d->rcpts || !d->idx) {
		runner_defer(r, m, route->name, "out of memory");
		delivery_free(d);
		return;
	}
	for (size_t i = 0; i < d->sm.nrcpts; i++) {
		if ((d->sm.rcpt_done && d->sm.rcpt_done[i]) || m->perm_failed[i])
			continue;
		d->rcpts[d->n] = d->sm.rcpts[i];
		d->idx[d->n++] = i;
	}
	if (d->n == 0) {
		/* Nothing left to send: finished before, or only refused recipients. */
		struct smtp_client_result none = {.reply = "no recipient left"};
		runner_record(d, &none);
		delivery_free(d);
		return;
	}
	d->conn = runner_take_idle(r, route);
	if (d->conn) {
		delivery_send(d);
		return;
	}
	struct smtp_client_opts co = r->o.client;
	if (route->source_len > 0) {
		co.source = (const struct sockaddr *)&route->source;
		co.source_len = route->source_len;
	}
	co.bind_device = route->bind_device[0] ? d->route.bind_device : NULL;
	co.xfrm_out = route->xfrm_out;
	d->conn = smtp_client_conn_new(r->base, (const struct sockaddr *)&route->peer,
				       route->peer_len, &co, delivery_ready, d);
	if (!d->conn) {
		runner_defer(r, m, route->name, "cannot create a connection");
		delivery_free(d);
	}
}

static void runner_dispatch(struct queue_runner *r)
{
	while (r->head[LIST_READY] && r->count[LIST_ACTIVE] < r->o.max_parallel) {
		struct queue_route route;
		char why[QUEUE_RUNNER_REASON_MAX] = "no route";

		memset(&route, 0, sizeof(route));
		if (r->route(r->route_arg, &route, why, sizeof(why)) != 0) {
			while (r->head[LIST_READY])
				runner_defer(r, r->head[LIST_READY], "none", why);
			return;
		}
		if (!route.name[0])
			snprintf(route.name, sizeof(route.name), "next-hop");
		runner_start_delivery(r, r->head[LIST_READY], &route);
	}
}

/* ---- timers and scanning ---------------------------------------------------------------- */

static int runner_scan_one(void *arg, const char *id)
{
	runner_add(arg, id);
	return 0;
}

static void runner_scan(struct queue_runner *r)
{
	r->last_scan = now_s();
	if (r->store.list(r->store.arg, runner_scan_one, r) < 0)
		log_error("event=queue-scan-failed error=%s", strerror(errno));
}

/* Gives up a delivery in flight: its connection is closed, the message deferred with reason. */
static void runner_abandon(struct queue_runner *r, struct runner_delivery *d, const char *reason)
{
	smtp_client_conn_free(d->conn);
	d->conn = NULL;
	runner_defer(r, d->msg, d->route.name, reason);
	delivery_free(d);
}

/*
 * Deliveries over a device that went away (charon restarted: its TUN device
 * was deleted, perhaps created anew) would wait for their timeouts, up to
 * ten minutes, holding delivery slots: they are abandoned at the next tick.
 */
static void runner_abandon_device_gone(struct queue_runner *r)
{
	char why[QUEUE_RUNNER_REASON_MAX];
	size_t n = 0;

	for (struct runner_delivery *d = r->deliveries, *next; d; d = next) {
		next = d->next;
		if (!d->conn || !smtp_client_conn_device_gone(d->conn))
			continue;
		snprintf(why, sizeof(why), "device %s gone during the delivery",
			 d->route.bind_device);
		runner_abandon(r, d, why);
		n++;
	}
	if (n) {
		log_warning("event=deliveries-abandoned reason=device-gone abandoned=%zu", n);
		runner_schedule_dispatch(r);
	}
}

static void runner_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_runner *r = arg;
	int64_t now = now_s();

	(void)fd;
	(void)what;
	for (struct runner_msg *m = r->head[LIST_WAITING], *next; m; m = next) {
		next = m->next;
		if (m->next_attempt <= now)
			list_move(r, m, LIST_READY);
	}
	for (unsigned i = 0; i < r->o.max_parallel; i++) {
		struct runner_idle *s = &r->idle[i];
		if (s->conn && (s->until <= now || !smtp_client_conn_usable(s->conn))) {
			smtp_client_conn_quit(s->conn);
			s->conn = NULL;
		}
	}
	runner_abandon_device_gone(r);
	if (r->o.scan_interval_s && now - r->last_scan >= (int64_t)r->o.scan_interval_s)
		runner_scan(r);
	runner_dispatch(r);
}

static void runner_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	runner_dispatch(arg);
}

struct queue_runner *queue_runner_new(struct event_base *base,
				      const struct queue_runner_store *store,
				      const struct queue_runner_opts *o, queue_route_fn route,
				      void *route_arg)
{
	struct queue_runner *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->base = base;
	r->store = *store;
	r->o = *o;
	if (!r->o.max_parallel)
		r->o.max_parallel = 1;
	if (!r->o.retry_min_s)
		r->o.retry_min_s = 1;
	if (r->o.retry_max_s < r->o.retry_min_s)
		r->o.retry_max_s = r->o.retry_min_s;
	if (!r->o.idle_keep_s)
		r->o.idle_keep_s = RUNNER_IDLE_KEEP_S;
	r->route = route;
	r->route_arg = route_arg;
	r->idle = calloc(r->o.max_parallel, sizeof(*r->idle));
	r->tick = event_new(base, -1, EV_PERSIST, runner_tick_cb, r);
	r->kick_ev = event_new(base, -1, 0, runner_kick_cb, r);
	if (!r->idle || !r->tick || !r->kick_ev) {
		queue_runner_free(r);
		return NULL;
	}
	return r;
}

void queue_runner_start(struct queue_runner *r)
{
	struct timeval one = {1, 0};

	runner_scan(r);
	evtimer_add(r->tick, &one);
	runner_schedule_dispatch(r);
}

void queue_runner_kick(struct queue_runner *r, const char *id)
{
	if (runner_add(r, id))
		runner_schedule_dispatch(r);
}

void queue_runner_set_outcome_cb(struct queue_runner *r, queue_outcome_fn fn, void *arg)
{
	r->outcome = fn;
	r->outcome_arg = fn ? arg : NULL;
}

size_t queue_runner_kick_all(struct queue_runner *r)
{
	size_t n = 0;

	while (r->head[LIST_WAITING]) {
		struct runner_msg *m = r->head[LIST_WAITING];
		m->next_attempt = now_s();
		list_move(r, m, LIST_READY);
		n++;
	}
	if (n)
		runner_schedule_dispatch(r);
	return n;
}

size_t queue_runner_abort_route(struct queue_runner *r, int tag, const char *reason)
{
	size_t n = 0;

	for (struct runner_delivery *d = r->deliveries, *next; d; d = next) {
		next = d->next;
		if (d->route.tag != tag)
			continue;
		runner_abandon(r, d, reason);
		n++;
	}
	queue_runner_drop_idle(r, tag);
	runner_schedule_dispatch(r);
	return n;
}

size_t queue_runner_drop_idle(struct queue_runner *r, int tag)
{
	size_t n = 0;

	for (unsigned i = 0; i < r->o.max_parallel; i++) {
		if (r->idle[i].conn && (tag < 0 || r->idle[i].route.tag == tag)) {
			smtp_client_conn_free(r->idle[i].conn);
			r->idle[i].conn = NULL;
			n++;
		}
	}
	return n;
}

void queue_runner_get_stats(const struct queue_runner *r, struct queue_runner_stats *out)
{
	int64_t now = now_s(), oldest = 0;

	memset(out, 0, sizeof(*out));
	out->active = r->count[LIST_ACTIVE];
	out->queued = r->count[LIST_READY] + r->count[LIST_WAITING] + out->active;
	out->deferred = r->deferred;
	out->delivered = r->delivered;
	out->held = r->held;
	for (int l = 0; l < LIST_COUNT; l++)
		for (const struct runner_msg *m = r->head[l]; m; m = m->next)
			if (m->arrived && (!oldest || m->arrived < oldest))
				oldest = m->arrived;
	out->oldest_age_s = oldest && now > oldest ? (uint64_t)(now - oldest) : 0;
}

int queue_runner_list(const struct queue_runner *r,
		      int (*each)(void *arg, const struct queue_runner_entry *e), void *arg)
{
	int n = 0;

	for (int l = 0; l < LIST_COUNT; l++) {
		for (const struct runner_msg *m = r->head[l]; m; m = m->next) {
			struct queue_runner_entry e = {
				.id = m->id,
				.arrived = m->arrived,
				.next_attempt = m->next_attempt,
				.attempts = m->attempts,
				.active = l == LIST_ACTIVE,
				.last_reason = m->reason,
			};
			n++;
			if (each(arg, &e) != 0)
				return n;
		}
	}
	return n;
}

void queue_runner_free(struct queue_runner *r)
{
	if (!r)
		return;
	while (r->deliveries) {
		smtp_client_conn_free(r->deliveries->conn);
		delivery_free(r->deliveries);
	}
	for (unsigned i = 0; r->idle && i < r->o.max_parallel; i++)
		smtp_client_conn_free(r->idle[i].conn);
	for (size_t b = 0; b < RUNNER_BUCKETS; b++) {
		for (struct runner_msg *m = r->buckets[b], *next; m; m = next) {
			next = m->hnext;
			free(m->perm_failed);
			free(m);
		}
	}
	if (r->tick)
		event_free(r->tick);
	if (r->kick_ev)
		event_free(r->kick_ev);
	free(r->idle);
	free(r);
}

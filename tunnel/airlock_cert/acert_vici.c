/*
 * Blocking VICI calls on top of the async client (see acert_vici.h).
 */
#include "tunnel/airlock_cert/acert_vici.h"

#include "common/errmsg.h"
#include "tunnel/vici_client.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_QUEUE_MAX 256

struct acert_vici {
	struct event_base *base;
	struct vici_client *client;
	int timeout_ms;
	int state; /* 0 pending, 1 connected, -1 lost */
	char state_err[256];
	struct {
		char name[32];
		struct vici_node *ev;
	} q[EVENT_QUEUE_MAX];
	size_t qhead, qlen;
	char cur_name[32];
};

struct call {
	int done;
	enum vici_status st;
	struct vici_node *reply;
	struct vici_node **events;
	size_t n, cap;
};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Runs the loop until *flag is set or ms pass. Returns 0 when flagged, -1 on timeout. */
static int run_until(struct acert_vici *v, const int *flag, int ms)
{
	int timed_out = 0;
	struct event *t = evtimer_new(v->base, on_timer, &timed_out);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(t, &tv);
	while (!*flag && !timed_out)
		event_base_loop(v->base, EVLOOP_ONCE);
	event_free(t);
	return *flag ? 0 : -1;
}

static void on_state(int connected, const char *err, void *arg)
{
	struct acert_vici *v = arg;
	v->state = connected ? 1 : -1;
	if (!connected)
		snprintf(v->state_err, sizeof(v->state_err), "%s", err ? err : "disconnected");
}

static void on_event(const char *name, const struct vici_node *event, void *arg)
{
	struct acert_vici *v = arg;
	if (v->qlen >= EVENT_QUEUE_MAX)
		return; /* a flood is dropped; waiters poll list-sas as well */
	size_t i = (v->qhead + v->qlen) % EVENT_QUEUE_MAX;
	snprintf(v->q[i].name, sizeof(v->q[i].name), "%s", name);
	v->q[i].ev = vici_node_dup(event);
	if (v->q[i].ev)
		v->qlen++;
}

struct acert_vici *acert_vici_open(const char *uri, int timeout_ms, int events, char *err,
				   size_t errlen)
{
	struct acert_vici *v = calloc(1, sizeof(*v));
	if (!v || !(v->base = event_base_new())) {
		free(v);
		errmsg_set(err, errlen, "out of memory");
		return NULL;
	}
	v->timeout_ms = timeout_ms;
	v->client = vici_client_new(v->base, uri, timeout_ms);
	if (!v->client) {
		errmsg_set(err, errlen, "unusable VICI URI %s", uri);
		acert_vici_free(v);
		return NULL;
	}
	vici_client_set_reconnect(v->client, 0);
	vici_client_set_state_cb(v->client, on_state, v);
	if (events && (vici_subscribe(v->client, "ike-updown", on_event, v) != 0 ||
		       vici_subscribe(v->client, "child-updown", on_event, v) != 0)) {
		errmsg_set(err, errlen, "cannot subscribe to VICI events");
		acert_vici_free(v);
		return NULL;
	}
	if (vici_client_start(v->client) != 0) {
		errmsg_set(err, errlen, "%s", vici_client_error(v->client));
		acert_vici_free(v);
		return NULL;
	}
	run_until(v, &v->state, timeout_ms);
	if (v->state != 1) {
		errmsg_set(err, errlen, "cannot talk to charon at %s: %s", uri,
			   v->state ? v->state_err : "timed out");
		acert_vici_free(v);
		return NULL;
	}
	return v;
}

void acert_vici_free(struct acert_vici *v)
{
	if (!v)
		return;
	vici_client_free(v->client);
	while (v->qlen) {
		vici_node_free(v->q[v->qhead].ev);
		v->qhead = (v->qhead + 1) % EVENT_QUEUE_MAX;
		v->qlen--;
	}
	if (v->base)
		event_base_free(v->base);
	free(v);
}

static void call_reply(enum vici_status st, const struct vici_node *reply, void *arg)
{
	struct call *c = arg;
	c->st = st;
	c->reply = reply ? vici_node_dup(reply) : NULL;
	c->done = 1;
}

static void call_stream(const struct vici_node *event, void *arg)
{
	struct call *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct vici_node **ne = realloc(c->events, cap * sizeof(*ne));
		if (!ne)
			return;
		c->events = ne;
		c->cap = cap;
	}
	struct vici_node *d = vici_node_dup(event);
	if (d)
		c->events[c->n++] = d;
}

static int finish_call(struct acert_vici *v, const char *cmd, struct call *c, char *err,
		       size_t errlen)
{
	if (run_until(v, &c->done, v->timeout_ms + 2000) != 0)
		return errmsg_set(err, errlen, "%s: no reply", cmd);
	if (c->st != VICI_OK)
		return errmsg_set(err, errlen, "%s: %s", cmd,
				  c->st == VICI_DISCONNECTED ? vici_client_error(v->client)
							     : vici_status_str(c->st));
	const char *ok = vici_str(c->reply, "success");
	if (ok && strcmp(ok, "yes") != 0) {
		const char *msg = vici_str(c->reply, "errmsg");
		return errmsg_set(err, errlen, "%s: %s", cmd, msg ? msg : "failed");
	}
	return 0;
}

int acert_vici_call(struct acert_vici *v, const char *cmd, struct vici_builder *args,
		    struct vici_node **reply, char *err, size_t errlen)
{
	struct call c = {0};
	if (reply)
		*reply = NULL;
	if (vici_request(v->client, cmd, args, call_reply, &c) != 0)
		return errmsg_set(err, errlen, "%s: cannot send (%s)", cmd,
				  vici_client_error(v->client)[0] ? vici_client_error(v->client)
								  : "request too large");
	int rc = finish_call(v, cmd, &c, err, errlen);
	if (rc == 0 && reply)
		*reply = c.reply;
	else
		vici_node_free(c.reply);
	return rc;
}

int acert_vici_stream(struct acert_vici *v, const char *cmd, struct vici_builder *args,
		      const char *event, struct vici_node ***events, size_t *nevents, char *err,
		      size_t errlen)
{
	struct call c = {0};
	*events = NULL;
	*nevents = 0;
	if (vici_request_stream(v->client, cmd, args, event, call_stream, call_reply, &c) != 0)
		return errmsg_set(err, errlen, "%s: cannot send", cmd);
	int rc = finish_call(v, cmd, &c, err, errlen);
	vici_node_free(c.reply);
	if (rc != 0) {
		acert_vici_events_free(c.events, c.n);
		return -1;
	}
	*events = c.events;
	*nevents = c.n;
	return 0;
}

void acert_vici_events_free(struct vici_node **events, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vici_node_free(events[i]);
	free(events);
}

int acert_vici_next_event(struct acert_vici *v, int timeout_ms, const char **name,
			  struct vici_node **ev)
{
	int have = v->qlen > 0;
	if (!have) {
		/* Wake up on the first queued event or the timeout. */
		int timed_out = 0;
		struct event *t = evtimer_new(v->base, on_timer, &timed_out);
		struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
		evtimer_add(t, &tv);
		while (!v->qlen && !timed_out && v->state == 1)
			event_base_loop(v->base, EVLOOP_ONCE);
		event_free(t);
	}
	if (!v->qlen)
		return v->state == 1 ? 0 : -1;
	snprintf(v->cur_name, sizeof(v->cur_name), "%s", v->q[v->qhead].name);
	*name = v->cur_name;
	*ev = v->q[v->qhead].ev;
	v->qhead = (v->qhead + 1) % EVENT_QUEUE_MAX;
	v->qlen--;
	return 1;
}

void acert_vici_sleep(struct acert_vici *v, int ms)
{
	int never = 0;
	run_until(v, &never, ms);
}

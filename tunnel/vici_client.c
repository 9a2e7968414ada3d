/*
 * Asynchronous VICI client: two connections, a FIFO of operations on each,
 * timeouts, reconnect with back-off.
 */
#include "tunnel/vici_client.h"

#include "common/log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#define VICI_MAX_SUBSCRIPTIONS 16
#define VICI_BACKOFF_MIN_MS    250
#define VICI_BACKOFF_MAX_MS    5000

/*
 * One exchange on a connection. A plain command is a single step; a streamed
 * command walks REGISTER -> COMMAND -> UNREGISTER; a subscription is a single
 * REGISTER step on the event connection.
 */
enum op_kind { OP_COMMAND, OP_STREAM, OP_SUBSCRIBE };
enum op_step { STEP_REGISTER, STEP_COMMAND, STEP_UNREGISTER };

struct vici_op {
	enum op_kind kind;
	enum op_step step;
	char cmd[256];
	char event[256];
	uint8_t *msg; /* encoded command message */
	size_t msg_len;
	vici_reply_cb reply_cb;
	vici_stream_cb stream_cb;
	void *arg;
	/* A streamed command's reply, held until its event is unregistered. */
	struct vici_node *held_reply;
	enum vici_status held_status;
	struct vici_op *next;
};

struct vici_conn {
	struct vici_client *client;
	const char *label;
	struct bufferevent *bev;
	struct vici_op *head, *tail; /* head is in flight once sent */
	int head_sent;
	struct event *timer;
};

struct vici_subscription {
	char event[256];
	vici_event_cb cb;
	void *arg;
	int confirmed;
};

struct vici_client {
	struct event_base *base;
	char uri[256];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int timeout_ms;
	int reconnect;
	int backoff_ms;
	int connected;
	char error[512];
	struct vici_conn cmd, evt;
	struct event *retry;
	vici_state_cb state_cb;
	void *state_arg;
	struct vici_subscription subs[VICI_MAX_SUBSCRIPTIONS];
	int nsubs;
};

static void conn_fail(struct vici_conn *conn, enum vici_status st, const char *why);
static void conn_kick(struct vici_conn *conn);

const char *vici_status_str(enum vici_status st)
{
	switch (st) {
	case VICI_OK:
		return "ok";
	case VICI_UNKNOWN_CMD:
		return "unknown command or event";
	case VICI_TIMEOUT:
		return "timed out";
	case VICI_DISCONNECTED:
		return "disconnected";
	case VICI_PROTOCOL_ERROR:
		return "protocol error";
	}
	return "?";
}

static void op_free(struct vici_op *op)
{
	free(op->msg);
	vici_node_free(op->held_reply);
	free(op);
}

/* Finishes an operation: runs its callback (if any) and frees it. */
static void op_finish(struct vici_op *op, enum vici_status st, const struct vici_node *reply)
{
	if (op->reply_cb)
		op->reply_cb(st, st == VICI_OK ? reply : NULL, op->arg);
	op_free(op);
}

static void conn_send(struct vici_conn *conn, enum vici_packet_type type, const char *name,
		      const uint8_t *msg, size_t len)
{
	uint8_t *frame;
	size_t flen;
	if (vici_packet_encode(type, name, msg, len, &frame, &flen) < 0)
		fatal("vici: cannot encode packet %s", name ? name : "");
	bufferevent_write(conn->bev, frame, flen);
	free(frame);
}

/* Sends the head operation's current step and arms its timer. */
static void conn_kick(struct vici_conn *conn)
{
	struct vici_op *op = conn->head;
	if (!op || conn->head_sent || !conn->bev)
		return;
	switch (op->step) {
	case STEP_REGISTER:
		conn_send(conn, VICI_EVENT_REGISTER, op->event, NULL, 0);
		break;
	case STEP_COMMAND:
		conn_send(conn, VICI_CMD_REQUEST, op->cmd, op->msg, op->msg_len);
		break;
	case STEP_UNREGISTER:
		conn_send(conn, VICI_EVENT_UNREGISTER, op->event, NULL, 0);
		break;
	}
	conn->head_sent = 1;
	struct timeval tv = {conn->client->timeout_ms / 1000,
			     (conn->client->timeout_ms % 1000) * 1000};
	evtimer_add(conn->timer, &tv);
}

static struct vici_op *conn_pop(struct vici_conn *conn)
{
	struct vici_op *op = conn->head;
	conn->head = op->next;
	if (!conn->head)
		conn->tail = NULL;
	conn->head_sent = 0;
	evtimer_del(conn->timer);
	return op;
}

static void conn_push(struct vici_conn *conn, struct vici_op *op)
{
	if (conn->tail)
		conn->tail->next = op;
	else
		conn->head = op;
	conn->tail = op;
	conn_kick(conn);
}

static void client_check_connected(struct vici_client *c)
{
	if (c->connected || !c->cmd.bev || !c->evt.bev)
		return;
	for (int i = 0; i < c->nsubs; i++) {
		if (!c->subs[i].confirmed)
			return;
	}
	c->connected = 1;
	c->backoff_ms = VICI_BACKOFF_MIN_MS;
	c->error[0] = '\0';
	log_debug("event=vici-connected uri=%s", c->uri);
	if (c->state_cb)
		c->state_cb(1, NULL, c->state_arg);
}

static void subscription_confirmed(struct vici_client *c, const char *event, int ok)
{
	for (int i = 0; i < c->nsubs; i++) {
		if (strcmp(c->subs[i].event, event) == 0) {
			c->subs[i].confirmed = 1;
			if (!ok)
				log_warning("event=vici-subscribe-failed uri=%s name=%s", c->uri,
					    event);
		}
	}
	client_check_connected(c);
}

/* Handles a reply-type packet (anything but EVENT) for the head operation. */
static void conn_handle_reply(struct vici_conn *conn, const struct vici_packet *pkt)
{
	struct vici_op *op = conn->head;
	if (!op || !conn->head_sent) {
		conn_fail(conn, VICI_PROTOCOL_ERROR, "unexpected reply");
		return;
	}
	int is_cmd_reply = pkt->type == VICI_CMD_RESPONSE || pkt->type == VICI_CMD_UNKNOWN;
	int is_evt_reply = pkt->type == VICI_EVENT_CONFIRM || pkt->type == VICI_EVENT_UNKNOWN;
	if ((op->step == STEP_COMMAND && !is_cmd_reply) ||
	    (op->step != STEP_COMMAND && !is_evt_reply)) {
		conn_fail(conn, VICI_PROTOCOL_ERROR, "reply of the wrong type");
		return;
	}

	struct vici_node *reply = NULL;
	if (pkt->type == VICI_CMD_RESPONSE) {
		const char *err;
		if (vici_msg_parse(pkt->msg, pkt->msg_len, &reply, &err) < 0) {
			char why[128];
			snprintf(why, sizeof(why), "bad response message: %s", err);
			conn_fail(conn, VICI_PROTOCOL_ERROR, why);
			return;
		}
	}

	switch (op->kind) {
	case OP_SUBSCRIBE:
		conn_pop(conn);
		subscription_confirmed(conn->client, op->event, pkt->type == VICI_EVENT_CONFIRM);
		op_free(op);
		break;
	case OP_COMMAND:
		conn_pop(conn);
		op_finish(op, pkt->type == VICI_CMD_UNKNOWN ? VICI_UNKNOWN_CMD : VICI_OK, reply);
		break;
	case OP_STREAM:
		conn->head_sent = 0;
		evtimer_del(conn->timer);
		if (op->step == STEP_REGISTER) {
			if (pkt->type == VICI_EVENT_UNKNOWN) {
				conn_pop(conn);
				op_finish(op, VICI_UNKNOWN_CMD, NULL);
				break;
			}
			op->step = STEP_COMMAND;
		} else if (op->step == STEP_COMMAND) {
			op->held_reply = reply;
			reply = NULL;
			op->held_status =
				pkt->type == VICI_CMD_UNKNOWN ? VICI_UNKNOWN_CMD : VICI_OK;
			op->step = STEP_UNREGISTER;
		} else {
			conn_pop(conn);
			op_finish(op, op->held_status, op->held_reply);
		}
		break;
	}
	vici_node_free(reply);
	conn_kick(conn);
}

static void conn_handle_event(struct vici_conn *conn, const struct vici_packet *pkt)
{
	struct vici_client *c = conn->client;
	struct vici_node *msg;
	const char *err;
	if (vici_msg_parse(pkt->msg, pkt->msg_len, &msg, &err) < 0) {
		char why[128];
		snprintf(why, sizeof(why), "bad event message: %s", err);
		conn_fail(conn, VICI_PROTOCOL_ERROR, why);
		return;
	}
	if (conn == &c->cmd) {
		/* Events on the command connection belong to the streamed command. */
		struct vici_op *op = conn->head;
		if (op && op->kind == OP_STREAM && op->step == STEP_COMMAND &&
		    strcmp(op->event, pkt->name) == 0 && op->stream_cb)
			op->stream_cb(msg, op->arg);
	} else {
		for (int i = 0; i < c->nsubs; i++) {
			if (strcmp(c->subs[i].event, pkt->name) == 0)
				c->subs[i].cb(pkt->name, msg, c->subs[i].arg);
		}
	}
	vici_node_free(msg);
}

static void conn_read_cb(struct bufferevent *bev, void *ctx)
{
	struct vici_conn *conn = ctx;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (conn->bev == bev) {
		uint8_t hdr[4];
		if (evbuffer_copyout(in, hdr, 4) < 4)
			return;
		size_t len =
			(size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
		if (len > VICI_MAX_FRAME) {
			conn_fail(conn, VICI_PROTOCOL_ERROR, "frame too large");
			return;
		}
		if (evbuffer_get_length(in) < 4 + len)
			return;
		evbuffer_drain(in, 4);
		if (len == 0)
			continue; /* legal, ignored */
		uint8_t *frame = malloc(len);
		if (!frame)
			fatal("out of memory");
		evbuffer_remove(in, frame, len);
		struct vici_packet pkt;
		const char *err;
		if (vici_packet_parse(frame, len, &pkt, &err) < 0) {
			free(frame);
			conn_fail(conn, VICI_PROTOCOL_ERROR, err);
			return;
		}
		if (pkt.type == VICI_EVENT)
			conn_handle_event(conn, &pkt);
		else if (pkt.type == VICI_CMD_REQUEST || pkt.type == VICI_EVENT_REGISTER ||
			 pkt.type == VICI_EVENT_UNREGISTER)
			conn_fail(conn, VICI_PROTOCOL_ERROR, "server sent a request");
		else
			conn_handle_reply(conn, &pkt);
		free(frame);
	}
}

static void conn_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct vici_conn *conn = ctx;
	(void)bev;
	if (what & BEV_EVENT_EOF)
		conn_fail(conn, VICI_DISCONNECTED, "charon closed the connection");
	else if (what & BEV_EVENT_ERROR)
		conn_fail(conn, VICI_DISCONNECTED, strerror(EVUTIL_SOCKET_ERROR()));
}

static void conn_timeout_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct vici_conn *conn = ctx;
	(void)fd;
	(void)what;
	conn_fail(conn, VICI_TIMEOUT, "request timed out");
}

static void conn_close(struct vici_conn *conn)
{
	if (conn->bev) {
		bufferevent_free(conn->bev);
		conn->bev = NULL;
	}
	conn->head_sent = 0;
	if (conn->timer)
		evtimer_del(conn->timer);
}

/* Detaches every operation of a connection, to be failed with ops_fail. */
static struct vici_op *conn_detach(struct vici_conn *conn)
{
	struct vici_op *op = conn->head;
	conn->head = conn->tail = NULL;
	return op;
}

/* Fails a detached list of operations; the callbacks may queue new ones. */
static void ops_fail(struct vici_op *op, enum vici_status st)
{
	while (op) {
		struct vici_op *next = op->next;
		op_finish(op, st, NULL);
		op = next;
	}
}

static void client_schedule_retry(struct vici_client *c)
{
	if (!c->reconnect)
		return;
	struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
	evtimer_add(c->retry, &tv);
	c->backoff_ms *= 2;
	if (c->backoff_ms > VICI_BACKOFF_MAX_MS)
		c->backoff_ms = VICI_BACKOFF_MAX_MS;
}

/*
 * Something went wrong on one connection: the protocol state of both is
 * no longer trustworthy as a pair, so close both, fail what was pending, tell
 * the owner, and reconnect later.
 */
static void conn_fail(struct vici_conn *conn, enum vici_status st, const char *why)
{
	struct vici_client *c = conn->client;
	int was_connected = c->connected;
	snprintf(c->error, sizeof(c->error), "%s connection to %s: %s", conn->label, c->uri, why);
	if (st == VICI_PROTOCOL_ERROR || st == VICI_TIMEOUT || was_connected)
		log_warning("event=vici-connection-lost uri=%s conn=%s reason=\"%s\"", c->uri,
			    conn->label, why);
	conn_close(&c->cmd);
	conn_close(&c->evt);
	c->connected = 0;
	for (int i = 0; i < c->nsubs; i++)
		c->subs[i].confirmed = 0;
	client_schedule_retry(c);
	/*
	 * Detach everything before any callback runs: a callback may start the
	 * client again, and what it queues then must not be failed with the old.
	 */
	struct vici_op *cmd_ops = conn_detach(&c->cmd);
	struct vici_op *evt_ops = conn_detach(&c->evt);
	if (c->state_cb)
		c->state_cb(0, c->error, c->state_arg);
	ops_fail(cmd_ops, st);
	ops_fail(evt_ops, VICI_DISCONNECTED);
}

static int conn_open(struct vici_client *c, struct vici_conn *conn)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(c->error, sizeof(c->error), "socket: %s", strerror(errno));
		return -1;
	}
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	memcpy(sun.sun_path, c->path, sizeof(sun.sun_path));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		/* Non-blocking: a charon too busy to accept (EAGAIN) must not stall the loop. */
		int e = errno;
		const char *hint = e == ENOENT || e == ECONNREFUSED ? " (is charon running?)"
				   : e == EACCES ? " (run as root or charon's group)"
						 : "";
		snprintf(c->error, sizeof(c->error), "cannot connect to %s: %s%s", c->uri,
			 strerror(e), hint);
		close(fd);
		return -1;
	}
	conn->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!conn->bev)
		fatal("out of memory");
	bufferevent_setcb(conn->bev, conn_read_cb, NULL, conn_event_cb, conn);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	return 0;
}

static struct vici_op *op_new(enum op_kind kind, enum op_step step)
{
	struct vici_op *op = calloc(1, sizeof(*op));
	if (!op)
		fatal("out of memory");
	op->kind = kind;
	op->step = step;
	return op;
}

int vici_client_start(struct vici_client *c)
{
	evtimer_del(c->retry);
	if (c->cmd.bev && c->evt.bev)
		return 0;
	conn_close(&c->cmd);
	conn_close(&c->evt);
	if (conn_open(c, &c->cmd) < 0 || conn_open(c, &c->evt) < 0) {
		conn_close(&c->cmd);
		conn_close(&c->evt);
		client_schedule_retry(c);
		return -1;
	}
	for (int i = 0; i < c->nsubs; i++) {
		struct vici_op *op = op_new(OP_SUBSCRIBE, STEP_REGISTER);
		snprintf(op->event, sizeof(op->event), "%s", c->subs[i].event);
		conn_push(&c->evt, op);
	}
	client_check_connected(c);
	return 0;
}

static void client_retry_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct vici_client *c = ctx;
	(void)fd;
	(void)what;
	if (vici_client_start(c) < 0)
		log_debug("event=vici-reconnect-failed uri=%s reason=\"%s\"", c->uri, c->error);
}

struct vici_client *vici_client_new(struct event_base *base, const char *uri, int timeout_ms)
{
	const char *path = uri;
	if (strncmp(uri, "unix://", 7) == 0)
		path = uri + 7;
	if (path[0] != '/' || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
	    strlen(uri) >= sizeof(((struct vici_client *)0)->uri))
		return NULL;
	/*
	 * A write to a connection charon just closed must fail that request,
	 * not kill the process.
	 */
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	struct vici_client *c = calloc(1, sizeof(*c));
	if (!c)
		fatal("out of memory");
	c->base = base;
	snprintf(c->uri, sizeof(c->uri), "%s", uri);
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	c->reconnect = 1;
	c->backoff_ms = VICI_BACKOFF_MIN_MS;
	c->cmd = (struct vici_conn){.client = c, .label = "command"};
	c->evt = (struct vici_conn){.client = c, .label = "event"};
	c->cmd.timer = evtimer_new(base, conn_timeout_cb, &c->cmd);
	c->evt.timer = evtimer_new(base, conn_timeout_cb, &c->evt);
	c->retry = evtimer_new(base, client_retry_cb, c);
	if (!c->cmd.timer || !c->evt.timer || !c->retry)
		fatal("out of memory");
	return c;
}

static void conn_free_ops(struct vici_conn *conn)
{
	struct vici_op *op = conn->head;
	while (op) {
		struct vici_op *next = op->next;
		op_free(op);
		op = next;
	}
	conn->head = conn->tail = NULL;
}

void vici_client_free(struct vici_client *c)
{
	if (!c)
		return;
	conn_close(&c->cmd);
	conn_close(&c->evt);
	conn_free_ops(&c->cmd);
	conn_free_ops(&c->evt);
	event_free(c->cmd.timer);
	event_free(c->evt.timer);
	event_free(c->retry);
	free(c);
}

void vici_client_set_state_cb(struct vici_client *c, vici_state_cb cb, void *arg)
{
	c->state_cb = cb;
	c->state_arg = arg;
}

void vici_client_set_reconnect(struct vici_client *c, int reconnect)
{
	c->reconnect = reconnect;
	if (!reconnect)
		evtimer_del(c->retry);
}

int vici_client_connected(const struct vici_client *c)
{
	return c->connected;
}

const char *vici_client_uri(const struct vici_client *c)
{
	return c->uri;
}

const char *vici_client_error(const struct vici_client *c)
{
	return c->error;
}

static int op_set_command(struct vici_op *op, const char *cmd, struct vici_builder *args)
{
	int rc = 0;
	if (strlen(cmd) >= sizeof(op->cmd))
		rc = -1;
	snprintf(op->cmd, sizeof(op->cmd), "%s", cmd);
	if (args) {
		const uint8_t *data;
		size_t len;
		if (vici_builder_finish(args, &data, &len) < 0) {
			rc = -1;
		} else if (len > 0) {
			op->msg = malloc(len);
			if (!op->msg)
				fatal("out of memory");
			memcpy(op->msg, data, len);
			op->msg_len = len;
		}
		vici_builder_free(args);
	}
	return rc;
}

int vici_request(struct vici_client *c, const char *cmd, struct vici_builder *args,
		 vici_reply_cb cb, void *arg)
{
	struct vici_op *op = op_new(OP_COMMAND, STEP_COMMAND);
	if (op_set_command(op, cmd, args) < 0 || !c->cmd.bev) {
		op_free(op);
		return -1;
	}
	op->reply_cb = cb;
	op->arg = arg;
	conn_push(&c->cmd, op);
	return 0;
}

int vici_request_stream(struct vici_client *c, const char *cmd, struct vici_builder *args,
			const char *event, vici_stream_cb stream_cb, vici_reply_cb reply_cb,
			void *arg)
{
	struct vici_op *op = op_new(OP_STREAM, STEP_REGISTER);
	if (op_set_command(op, cmd, args) < 0 || strlen(event) >= sizeof(op->event) ||
	    !c->cmd.bev) {
		op_free(op);
		return -1;
	}
	snprintf(op->event, sizeof(op->event), "%s", event);
	op->stream_cb = stream_cb;
	op->reply_cb = reply_cb;
	op->arg = arg;
	conn_push(&c->cmd, op);
	return 0;
}

int vici_subscribe(struct vici_client *c, const char *event, vici_event_cb cb, void *arg)
{
	if (c->nsubs >= VICI_MAX_SUBSCRIPTIONS || strlen(event) >= sizeof(c->subs[0].event))
		return -1;
	struct vici_subscription *s = &c->subs[c->nsubs++];
	snprintf(s->event, sizeof(s->event), "%s", event);
	s->cb = cb;
	s->arg = arg;
	s->confirmed = 0;
	if (c->evt.bev) {
		struct vici_op *op = op_new(OP_SUBSCRIBE, STEP_REGISTER);
		snprintf(op->event, sizeof(op->event), "%s", event);
		conn_push(&c->evt, op);
	}
	return 0;
}

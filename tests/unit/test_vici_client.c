/*
 * VICI client against a fake charon in the same process: a unix socket in a
 * temporary directory, accepted on the client's own event_base and speaking
 * the real framing through the codec. Every loop run is bounded by
 * event_base_loopexit, so a client that never answers fails the test instead
 * of hanging it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "tunnel/vici_client.h"
#include "tunnel/vici_msg.h"

/* Request timeout given to every client here: short, so timeouts are cheap to test. */
#define TIMEOUT_MS 200
/* charon's side restarts this long after it went away, well before any sane back-off. */
#define RESTART_MS 20
/* The least a reconnect may wait after a loss: a back-off, not a tight loop. */
#define MIN_BACKOFF_MS 150

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop for ms milliseconds at most. */
static void run_ms(struct event_base *base, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Runs the loop in short slices until cond holds or max_ms have passed. */
#define RUN_UNTIL(t, cond, max_ms)                                                                 \
	do {                                                                                       \
		long long deadline_ = now_ms() + (max_ms);                                         \
		while (!(cond) && now_ms() < deadline_)                                            \
			run_ms((t)->base, 2);                                                      \
	} while (0)

/* A broken test harness, not a client failure. */
static _Noreturn void harness_bug(const char *what)
{
	fprintf(stderr, "test harness: %s\n", what);
	abort();
}

/* ---- the fake charon ---------------------------------------------------- */

#define FAKE_MAX_CONNS 8
#define FAKE_MAX_RX    64
#define FAKE_MAX_REG   4

struct fake;

struct fake_conn {
	struct fake *fake;
	struct bufferevent *bev; /* NULL once closed */
	int index;		 /* accept order: even = command, odd = event connection */
	int eof;		 /* the client closed it */
	int awaiting_answer;	 /* a request came in and has not been answered yet */
	struct evbuffer *held;	 /* the answer, until the reply delay has passed */
	struct event *delay;
	char last_n[32]; /* the "n" argument of the last command */
	char registered[FAKE_MAX_REG][256];
};

/* One packet received from the client. */
struct fake_rx {
	int conn;
	enum vici_packet_type type;
	char name[256];
	char n[32];
};

struct fake {
	struct event_base *base;
	char dir[64];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char uri[160];
	struct evconnlistener *listener;
	struct fake_conn conns[FAKE_MAX_CONNS];
	int nconns;
	struct fake_rx rx[FAKE_MAX_RX];
	int nrx;
	char violation[256];	/* the first thing the client did wrong, "" if nothing */
	int reply_delay_ms;	/* answers are written this long after the request */
	int silent;		/* never answer a command */
	int hold_registrations; /* leave EVENT_REGISTER unanswered; the test confirms */
	int drop_registrations; /* close the connection on EVENT_REGISTER */
	/* Written, instead of the answer, in reply to each command. */
	const uint8_t *raw;
	size_t raw_len;
	int raw_on_event_conn; /* write raw to the event connection instead */
	int raw_then_answer;   /* answer normally after raw */
	uint8_t *raw_owned;    /* freed with the fake */
};

static void fake_violation(struct fake *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fake_violation(struct fake *f, const char *fmt, ...)
{
	if (f->violation[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->violation, sizeof(f->violation), fmt, ap);
	va_end(ap);
}

/* Appends one encoded packet to out; b (NULL for no message) is consumed. */
static void put_packet(struct evbuffer *out, enum vici_packet_type type, const char *name,
		       struct vici_builder *b)
{
	const uint8_t *msg = NULL;
	size_t msg_len = 0;
	if (b && vici_builder_finish(b, &msg, &msg_len) < 0)
		harness_bug("cannot build message");
	uint8_t *frame;
	size_t len;
	if (vici_packet_encode(type, name, msg, msg_len, &frame, &len) < 0)
		harness_bug("cannot encode packet");
	evbuffer_add(out, frame, len);
	free(frame);
	vici_builder_free(b);
}

static void fake_conn_close(struct fake_conn *fc)
{
	if (fc->bev) {
		bufferevent_free(fc->bev);
		fc->bev = NULL;
	}
	if (fc->delay)
		evtimer_del(fc->delay);
}

/* Writes the held answer; the pending request counts as answered. */
static void fake_flush(struct fake_conn *fc)
{
	if (fc->bev)
		bufferevent_write_buffer(fc->bev, fc->held);
	else
		evbuffer_drain(fc->held, evbuffer_get_length(fc->held));
	fc->awaiting_answer = 0;
}

static void fake_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fake_flush(arg);
}

static void fake_release(struct fake_conn *fc)
{
	int ms = fc->fake->reply_delay_ms;
	if (ms <= 0) {
		fake_flush(fc);
		return;
	}
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(fc->delay, &tv);
}

/* Sends a packet now, outside the request/answer flow (events, late confirmations). */
static void fake_send(struct fake_conn *fc, enum vici_packet_type type, const char *name,
		      struct vici_builder *b)
{
	if (!fc->bev)
		harness_bug("sending on a closed connection");
	put_packet(bufferevent_get_output(fc->bev), type, name, b);
	if (type != VICI_EVENT)
		fc->awaiting_answer = 0;
}

static int fake_registered(struct fake_conn *fc, const char *event)
{
	for (int i = 0; i < FAKE_MAX_REG; i++) {
		if (strcmp(fc->registered[i], event) == 0)
			return i;
	}
	return -1;
}

static void fake_answer_command(struct fake_conn *fc, const struct vici_packet *pkt)
{
	struct vici_builder *b;
	if (strcmp(pkt->name, "list-sas") == 0) {
		/* Events only flow to a connection that registered them, as in charon. */
		for (int i = 1; fake_registered(fc, "list-sa") >= 0 && i <= 3; i++) {
			b = vici_builder_new();
			vici_begin_section(b, i == 2 ? "mail" : "relay");
			vici_add_kvf(b, "uniqueid", "%d", i);
			vici_add_kv(b, "state", "ESTABLISHED");
			vici_end_section(b);
			put_packet(fc->held, VICI_EVENT, "list-sa", b);
			if (i == 2) {
				/* Not the streamed event: not for the stream callback. */
				b = vici_builder_new();
				vici_begin_section(b, "other");
				vici_add_kv(b, "uniqueid", "99");
				vici_end_section(b);
				put_packet(fc->held, VICI_EVENT, "control-log", b);
			}
		}
		put_packet(fc->held, VICI_CMD_RESPONSE, NULL, NULL);
	} else if (strcmp(pkt->name, "version") == 0 || strcmp(pkt->name, "initiate") == 0) {
		b = vici_builder_new();
		vici_add_kv(b, "daemon", "charon");
		vici_add_kv(b, "version", "5.9.8");
		if (fc->last_n[0])
			vici_add_kv(b, "n", fc->last_n);
		put_packet(fc->held, VICI_CMD_RESPONSE, NULL, b);
	} else {
		put_packet(fc->held, VICI_CMD_UNKNOWN, NULL, NULL);
	}
	fake_release(fc);
}

static void fake_command(struct fake_conn *fc, const struct vici_packet *pkt)
{
	struct fake *f = fc->fake;
	if (f->silent)
		return;
	if (!f->raw) {
		fake_answer_command(fc, pkt);
		return;
	}
	struct fake_conn *to = &f->conns[fc->index + (f->raw_on_event_conn ? 1 : 0)];
	if (to->bev)
		bufferevent_write(to->bev, f->raw, f->raw_len);
	fc->awaiting_answer = 0;
	if (f->raw_then_answer)
		fake_answer_command(fc, pkt);
}

static void fake_packet(struct fake_conn *fc, const uint8_t *frame, size_t len)
{
	struct fake *f = fc->fake;
	struct vici_packet pkt;
	const char *err;
	if (vici_packet_parse(frame, len, &pkt, &err) < 0) {
		fake_violation(f, "conn %d: bad packet: %s", fc->index, err);
		return;
	}
	fc->last_n[0] = '\0';
	if (pkt.type == VICI_CMD_REQUEST) {
		struct vici_node *msg;
		if (vici_msg_parse(pkt.msg, pkt.msg_len, &msg, &err) < 0) {
			fake_violation(f, "conn %d: bad request message: %s", fc->index, err);
			return;
		}
		const char *n = vici_str(msg, "n");
		snprintf(fc->last_n, sizeof(fc->last_n), "%s", n ? n : "");
		vici_node_free(msg);
	}
	if (f->nrx < FAKE_MAX_RX) {
		struct fake_rx *rx = &f->rx[f->nrx];
		rx->conn = fc->index;
		rx->type = pkt.type;
		snprintf(rx->name, sizeof(rx->name), "%s", pkt.name);
		snprintf(rx->n, sizeof(rx->n), "%s", fc->last_n);
	}
	f->nrx++;

	if (pkt.type != VICI_CMD_REQUEST && pkt.type != VICI_EVENT_REGISTER &&
	    pkt.type != VICI_EVENT_UNREGISTER) {
		fake_violation(f, "conn %d: client sent packet type %d", fc->index, pkt.type);
		return;
	}
	if (fc->awaiting_answer)
		fake_violation(
			f, "conn %d: '%s' (type %d) sent before the previous request was answered",
			fc->index, pkt.name, pkt.type);
	fc->awaiting_answer = 1;

	int slot;
	switch (pkt.type) {
	case VICI_CMD_REQUEST:
		fake_command(fc, &pkt);
		break;
	case VICI_EVENT_REGISTER:
		if (strncmp(pkt.name, "no-such-", 8) == 0) {
			put_packet(fc->held, VICI_EVENT_UNKNOWN, NULL, NULL);
			fake_release(fc);
			break;
		}
		if (f->drop_registrations) {
			fake_conn_close(fc);
			break;
		}
		slot = fake_registered(fc, "");
		if (slot < 0)
			harness_bug("too many registrations");
		snprintf(fc->registered[slot], sizeof(fc->registered[slot]), "%s", pkt.name);
		if (f->hold_registrations)
			break;
		put_packet(fc->held, VICI_EVENT_CONFIRM, NULL, NULL);
		fake_release(fc);
		break;
	default: /* VICI_EVENT_UNREGISTER */
		slot = fake_registered(fc, pkt.name);
		if (slot < 0)
			fake_violation(f, "conn %d: unregistering '%s', never registered",
				       fc->index, pkt.name);
		else
			fc->registered[slot][0] = '\0';
		put_packet(fc->held, VICI_EVENT_CONFIRM, NULL, NULL);
		fake_release(fc);
		break;
	}
}

static void fake_read_cb(struct bufferevent *bev, void *arg)
{
	struct fake_conn *fc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (fc->bev == bev) {
		uint8_t hdr[4];
		if (evbuffer_copyout(in, hdr, 4) < 4)
			return;
		size_t len =
			(size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
		if (len == 0 || len > VICI_MAX_FRAME) {
			fake_violation(fc->fake, "conn %d: frame of %zu bytes", fc->index, len);
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		if (evbuffer_get_length(in) < 4 + len)
			return;
		evbuffer_drain(in, 4);
		uint8_t *frame = malloc(len);
		if (!frame)
			harness_bug("out of memory");
		evbuffer_remove(in, frame, len);
		fake_packet(fc, frame, len);
		free(frame);
	}
}

static void fake_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct fake_conn *fc = arg;
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		fc->eof = 1;
		fake_conn_close(fc);
	}
}

static void fake_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			   int socklen, void *arg)
{
	struct fake *f = arg;
	(void)l;
	(void)sa;
	(void)socklen;
	if (f->nconns >= FAKE_MAX_CONNS) {
		fake_violation(f, "more than %d connections", FAKE_MAX_CONNS);
		evutil_closesocket(fd);
		return;
	}
	struct fake_conn *fc = &f->conns[f->nconns];
	fc->fake = f;
	fc->index = f->nconns++;
	fc->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	fc->held = evbuffer_new();
	fc->delay = evtimer_new(f->base, fake_delay_cb, fc);
	if (!fc->bev || !fc->held || !fc->delay)
		harness_bug("out of memory");
	bufferevent_setcb(fc->bev, fake_read_cb, NULL, fake_event_cb, fc);
	bufferevent_enable(fc->bev, EV_READ | EV_WRITE);
}

static struct sockaddr_un fake_addr(const struct fake *f)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	memcpy(sun.sun_path, f->path, sizeof(sun.sun_path));
	return sun;
}

static int fake_listen(struct fake *f)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un sun = fake_addr(f);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	f->listener = evconnlistener_new(f->base, fake_accept_cb, f, LEV_OPT_CLOSE_ON_FREE, 16, fd);
	return f->listener ? 0 : -1;
}

static void fake_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	(void)fd;
	(void)what;
	if (fake_listen(f) < 0)
		fake_violation(f, "cannot listen again on %s", f->path);
}

/* charon closes every connection but keeps listening. */
static void fake_drop(struct fake *f)
{
	for (int i = 0; i < f->nconns; i++)
		fake_conn_close(&f->conns[i]);
}

/* charon goes away: every connection closed, the socket removed. */
static void fake_stop(struct fake *f)
{
	fake_drop(f);
	if (f->listener) {
		evconnlistener_free(f->listener);
		f->listener = NULL;
	}
	unlink(f->path);
}

/* A fake charon listening on dir/charon.vici; dir exists and is removed by fake_free. */
static struct fake *fake_new_in(struct event_base *base, const char *dir)
{
	struct fake *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->base = base;
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	snprintf(f->path, sizeof(f->path), "%s/charon.vici", f->dir);
	snprintf(f->uri, sizeof(f->uri), "unix://%s", f->path);
	if (fake_listen(f) < 0) {
		free(f);
		return NULL;
	}
	return f;
}

static struct fake *fake_new(struct event_base *base)
{
	char dir[] = "/tmp/airlock-vici-XXXXXX";
	if (!mkdtemp(dir))
		return NULL;
	struct fake *f = fake_new_in(base, dir);
	if (!f)
		rmdir(dir);
	return f;
}

static void fake_free(struct fake *f)
{
	fake_stop(f);
	for (int i = 0; i < f->nconns; i++) {
		evbuffer_free(f->conns[i].held);
		event_free(f->conns[i].delay);
	}
	rmdir(f->dir);
	free(f->raw_owned);
	free(f);
}

/* Packets of type (and name, unless NULL) received on conn (-1: any). */
static int fake_count(const struct fake *f, int conn, enum vici_packet_type type, const char *name)
{
	int count = 0;
	for (int i = 0; i < f->nrx && i < FAKE_MAX_RX; i++) {
		const struct fake_rx *rx = &f->rx[i];
		if ((conn < 0 || rx->conn == conn) && rx->type == type &&
		    (!name || strcmp(rx->name, name) == 0))
			count++;
	}
	return count;
}

/* ---- the client's side -------------------------------------------------- */

#define MAX_STATES 8
#define MAX_STREAM 8

struct ctx {
	struct event_base *base;
	struct fake *fake;
	struct vici_client *client;
	int seq; /* order of every client callback */
	int nstates;
	int states[MAX_STATES];
	int state_err_null[MAX_STATES];
	char state_err[MAX_STATES][512];
	long long state_at[MAX_STATES];
};

/* What one request's callbacks saw. */
struct reply_rec {
	struct ctx *t;
	int calls;
	enum vici_status st;
	int order;
	long long at;
	int had_reply;
	char n[32];
	char version[32];
	int unregister_seen; /* the fake had the UNREGISTER when the reply came */
	int nstream;
	char stream_ids[MAX_STREAM][16];
	char stream_sa[MAX_STREAM][16];
	int stream_order[MAX_STREAM];
};

struct sub_rec {
	struct ctx *t;
	int calls;
	char name[32];
	char up[8];
	int order;
};

static void on_state(int connected, const char *err, void *arg)
{
	struct ctx *t = arg;
	if (t->nstates < MAX_STATES) {
		t->states[t->nstates] = connected;
		t->state_err_null[t->nstates] = err == NULL;
		snprintf(t->state_err[t->nstates], sizeof(t->state_err[0]), "%s", err ? err : "");
		t->state_at[t->nstates] = now_ms();
	}
	t->nstates++;
}

static void on_reply(enum vici_status st, const struct vici_node *reply, void *arg)
{
	struct reply_rec *r = arg;
	r->calls++;
	r->st = st;
	r->order = ++r->t->seq;
	r->at = now_ms();
	r->had_reply = reply != NULL;
	if (reply) {
		const char *n = vici_str(reply, "n");
		const char *version = vici_str(reply, "version");
		snprintf(r->n, sizeof(r->n), "%s", n ? n : "");
		snprintf(r->version, sizeof(r->version), "%s", version ? version : "");
	}
	r->unregister_seen = fake_count(r->t->fake, -1, VICI_EVENT_UNREGISTER, NULL) > 0;
}

static void on_stream(const struct vici_node *event, void *arg)
{
	struct reply_rec *r = arg;
	int i = r->nstream++;
	if (i >= MAX_STREAM)
		return;
	const struct vici_node *sa = event->first;
	const char *id = sa && sa->type == VICI_NODE_SECTION ? vici_str(sa, "uniqueid") : NULL;
	snprintf(r->stream_ids[i], sizeof(r->stream_ids[i]), "%s", id ? id : "?");
	snprintf(r->stream_sa[i], sizeof(r->stream_sa[i]), "%s", sa ? sa->name : "?");
	r->stream_order[i] = ++r->t->seq;
}

static void on_event(const char *name, const struct vici_node *event, void *arg)
{
	struct sub_rec *s = arg;
	const char *up = vici_str(event, "up");
	s->calls++;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->up, sizeof(s->up), "%s", up ? up : "");
	s->order = ++s->t->seq;
}

static struct vici_builder *args_n(int n)
{
	struct vici_builder *b = vici_builder_new();
	vici_add_kvf(b, "n", "%d", n);
	return b;
}

static struct vici_client *client_new(struct ctx *t)
{
	t->client = vici_client_new(t->base, t->fake->uri, TIMEOUT_MS);
	assert_non_null(t->client);
	vici_client_set_state_cb(t->client, on_state, t);
	return t->client;
}

/* Starts the client and waits until it reports connected. */
static void client_connect(struct ctx *t)
{
	assert_int_equal(vici_client_start(t->client), 0);
	RUN_UNTIL(t, t->nstates >= 1, 1000);
	assert_int_equal(t->nstates, 1);
	assert_int_equal(t->states[0], 1);
	assert_true(t->state_err_null[0]);
	assert_true(vici_client_connected(t->client));
	assert_string_equal(vici_client_error(t->client), "");
}

static int setup(void **state)
{
	struct ctx *t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	t->base = event_base_new();
	t->fake = t->base ? fake_new(t->base) : NULL;
	if (!t->fake) {
		if (t->base)
			event_base_free(t->base);
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *t = *state;
	int rc = 0;
	if (t->fake->violation[0]) {
		fprintf(stderr, "fake charon: %s\n", t->fake->violation);
		rc = -1;
	}
	vici_client_free(t->client);
	fake_free(t->fake);
	event_base_free(t->base);
	free(t);
	return rc;
}

/* ---- tests --------------------------------------------------------------- */

static void test_request_reply(void **state)
{
	struct ctx *t = *state;
	struct vici_client *c = client_new(t);
	client_connect(t);

	struct reply_rec r = {.t = t};
	assert_int_equal(vici_request(c, "version", NULL, on_reply, &r), 0);
	RUN_UNTIL(t, r.calls > 0, 1000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.st, VICI_OK);
	assert_true(r.had_reply);
	assert_string_equal(r.version, "5.9.8");
	/* Commands go on the first connection, nothing on the event connection. */
	assert_int_equal(fake_count(t->fake, 0, VICI_CMD_REQUEST, "version"), 1);
	assert_int_equal(t->fake->nrx, 1);

	run_ms(t->base, 20);
	assert_int_equal(r.calls, 1);
	assert_int_equal(t->nstates, 1);
}

static void test_requests_fifo(void **state)
{
	struct ctx *t = *state;
	struct vici_client *c = client_new(t);
	client_connect(t);
	/* A delayed answer: a client that pipelined would be caught by the fake. */
	t->fake->reply_delay_ms = 5;

	struct reply_rec r[5];
	for (int i = 0; i < 5; i++) {
		r[i] = (struct reply_rec){.t = t};
		assert_int_equal(vici_request(c, "version", args_n(i + 1), on_reply, &r[i]), 0);
	}
	RUN_UNTIL(t, r[4].calls > 0, 1000);
	for (int i = 0; i < 5; i++) {
		char n[8];
		snprintf(n, sizeof(n), "%d", i + 1);
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].st, VICI_OK);
		assert_int_equal(r[i].order, i + 1);
		assert_string_equal(r[i].n, n);
		assert_int_equal(t->fake->rx[i].type, VICI_CMD_REQUEST);
		assert_string_equal(t->fake->rx[i].n, n);
	}
	assert_int_equal(t->fake->nrx, 5);
	assert_string_equal(t->fake->violation, "");
}

static void test_unknown_command(void **state)
{
	struct ctx *t = *state;
	struct vici_client *c = client_new(t);
	client_connect(t);

	struct reply_rec r = {.t = t}, after = {.t = t};
	assert_int_equal(vici_request(c, "no-such-command", NULL, on_reply, &r), 0);
	assert_int_equal(vici_request(c, "version", NULL, on_reply, &after), 0);
	RUN_UNTIL(t, after.calls > 0, 1000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.st, VICI_UNKNOWN_CMD);
	assert_false(r.had_reply);
	/* Not a connection problem: the next command is answered on the same connection. */
	assert_int_equal(after.calls, 1);
	assert_int_equal(after.st, VICI_OK);
	assert_int_equal(t->nstates, 1);
	assert_int_equal(t->fake->nconns, 2);
}

static void test_stream_list_sas(void **state)
{
	struct ctx *t = *state;
	struct vici_client *c = client_new(t);
	client_connect(t);

	struct reply_rec r = {.t = t};
	struct vici_builder *args = vici_builder_new();
	vici_add_kv(args, "noblock", "yes");
	assert_int_equal(
		vici_request_stream(c, "list-sas", args, "list-sa", on_stream, on_reply, &r), 0);
	RUN_UNTIL(t, r.calls > 0, 1000);

	assert_int_equal(r.nstream, 3);
	assert_string_equal(r.stream_ids[0], "1");
	assert_string_equal(r.stream_ids[1], "2");
	assert_string_equal(r.stream_ids[2], "3");
	assert_string_equal(r.stream_sa[1], "mail");
	assert_int_equal(r.stream_order[0], 1);
	assert_int_equal(r.stream_order[1], 2);
	assert_int_equal(r.stream_order[2], 3);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.order, 4);
	assert_int_equal(r.st, VICI_OK);
	assert_true(r.had_reply);
	assert_true(r.unregister_seen);

	/* register, command, unregister, one at a time, on the command connection */
	const struct fake *f = t->fake;
	assert_int_equal(f->nrx, 3);
	assert_int_equal(f->rx[0].type, VICI_EVENT_REGISTER);
	assert_string_equal(f->rx[0].name, "list-sa");
	assert_int_equal(f->rx[1].type, VICI_CMD_REQUEST);
	assert_string_equal(f->rx[1].name, "list-sas");
	assert_int_equal(f->rx[2].type, VICI_EVENT_UNREGISTER);
	assert_string_equal(f->rx[2].name, "list-sa");
	for (int i = 0; i < 3; i++)
		assert_int_equal(f->rx[i].conn, 0);

	run_ms(t->base, 20);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.nstream, 3);
}

static void test_stream_unknown_event(void **state)
{
	struct ctx *t = *state;
	struct vici_client *c = client_new(t);
	client_connect(t);

	struct reply_rec r = {.t = t};
	assert_int_equal(
		vici_request_stream(c, "list-sas", NULL, "no-such-event", on_stream, on_reply, &r),
		0);
	RUN_UNTIL(t, r.calls > 0, 1000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.st, VICI_UNKNOWN_CMD);
	assert_int_equal(r.nstream, 0);
	/* The command is not sent when its event cannot be registered. */
	assert_int_equal(t->fake->nrx, 1);
	assert_int_equal(fake_count(t->fake, 0, VICI_CMD_REQUEST, NULL), 0);
	assert_int_equal(t->nstates, 1);
}

static void test_subscriptions(void **state)
{
	struct ctx *t = *state;
	struct fake *f = t->fake;
	struct vici_client *c = client_new(t);
	struct sub_rec ike = {.t = t}, child = {.t = t};
	assert_int_equal(vici_subscribe(c, "ike-updown", on_event, &ike), 0);
	assert_int_equal(vici_subscribe(c, "child-updown", on_event, &child), 0);
	f->hold_registrations = 1;
	assert_int_equal(vici_client_start(c), 0);

	RUN_UNTIL(t, fake_count(f, -1, VICI_EVENT_REGISTER, NULL) > 0, 1000);
	run_ms(t->base, 20);
	/* One registration at a time, on the event connection, and not connected yet. */
	assert_int_equal(fake_count(f, -1, VICI_EVENT_REGISTER, NULL), 1);
	assert_int_equal(fake_count(f, 1, VICI_EVENT_REGISTER, "ike-updown"), 1);
	assert_int_equal(t->nstates, 0);
	assert_false(vici_client_connected(c));

	fake_send(&f->conns[1], VICI_EVENT_CONFIRM, NULL, NULL);
	RUN_UNTIL(t, fake_count(f, 1, VICI_EVENT_REGISTER, "child-updown") > 0, 1000);
	run_ms(t->base, 5);
	assert_int_equal(fake_count(f, 1, VICI_EVENT_REGISTER, "child-updown"), 1);
	assert_int_equal(t->nstates, 0);
	assert_false(vici_client_connected(c));

	fake_send(&f->conns[1], VICI_EVENT_CONFIRM, NULL, NULL);
	RUN_UNTIL(t, t->nstates > 0, 1000);
	assert_int_equal(t->nstates, 1);
	assert_int_equal(t->states[0], 1);
	assert_true(t->state_err_null[0]);
	assert_true(vici_client_connected(c));
	assert_int_equal(fake_count(f, 0, VICI_EVENT_REGISTER, NULL), 0);

	/* An event nobody subscribed, then the two subscribed ones. */
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "msg", "not subscribed");
	fake_send(&f->conns[1], VICI_EVENT, "log", b);
	b = vici_builder_new();
	vici_add_kv(b, "up", "yes");
	fake_send(&f->conns[1], VICI_EVENT, "ike-updown", b);
	b = vici_builder_new();
	vici_add_kv(b, "up", "no");
	fake_send(&f->conns[1], VICI_EVENT, "child-updown", b);
	RUN_UNTIL(t, ike.calls > 0 && child.calls > 0, 1000);
	run_ms(t->base, 20);

	assert_int_equal(ike.calls, 1);
	assert_string_equal(ike.name, "ike-updown");
	assert_string_equal(ike.up, "yes");
	assert_int_equal(child.calls, 1);
	assert_string_equal(child.name, "child-updown");
	assert_string_equal(child.up, "no");
	/* "log" was first on the wire: had it been delivered, seq would have moved past 2. */
	assert_int_equal(ike.order, 1);
	assert_int_equal(child.order, 2);
	assert_int_equal(t->seq, 2);
	assert_int_equal(t->nstates, 1);
}

static void test_timeout_reconnects(void **state)
{
	struct ctx *t = *state;
	struct fake *f = t->fake;
	struct vici_client *c = client_new(t);
	struct sub_rec ike = {.t = t};
	assert_int_equal(vici_subscribe(c, "ike-updown", on_event, &ike), 0);
	client_connect(t);
	assert_int_equal(fake_count(f, 1, VICI_EVENT_REGISTER, "ike-updown"), 1);

	f->silent = 1;
	struct reply_rec r[3];
	long long t0 = now_ms();
	for (int i = 0; i < 3; i++) {
		r[i] = (struct reply_rec){.t = t};
		assert_int_equal(vici_request(c, i == 0 ? "initiate" : "version", args_n(i + 1),
					      on_reply, &r[i]),
				 0);
	}
	RUN_UNTIL(t, r[2].calls > 0, 1000);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].st, VICI_TIMEOUT);
		assert_int_equal(r[i].order, i + 1);
	}
	assert_true(r[0].at - t0 >= TIMEOUT_MS - 20);
	/* Only the first request went out. */
	assert_int_equal(fake_count(f, -1, VICI_CMD_REQUEST, NULL), 1);
	assert_int_equal(t->nstates, 2);
	assert_int_equal(t->states[1], 0);
	assert_non_null(strstr(t->state_err[1], "timed out"));
	assert_non_null(strstr(t->state_err[1], f->uri));
	assert_false(vici_client_connected(c));
	RUN_UNTIL(t, f->conns[0].eof && f->conns[1].eof, 500);
	assert_true(f->conns[0].eof);
	assert_true(f->conns[1].eof);

	/* The client comes back by itself and registers its subscription again. */
	f->silent = 0;
	RUN_UNTIL(t, t->nstates >= 3, 1500);
	assert_int_equal(t->nstates, 3);
	assert_int_equal(t->states[2], 1);
	assert_int_equal(f->nconns, 4);
	assert_int_equal(fake_count(f, 3, VICI_EVENT_REGISTER, "ike-updown"), 1);
	assert_true(vici_client_connected(c));

	struct reply_rec again = {.t = t};
	assert_int_equal(vici_request(c, "version", args_n(4), on_reply, &again), 0);
	RUN_UNTIL(t, again.calls > 0, 1000);
	assert_int_equal(again.st, VICI_OK);
	assert_string_equal(again.n, "4");
	assert_int_equal(fake_count(f, 2, VICI_CMD_REQUEST, "version"), 1);

	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "up", "yes");
	fake_send(&f->conns[3], VICI_EVENT, "ike-updown", b);
	RUN_UNTIL(t, ike.calls > 0, 1000);
	assert_int_equal(ike.calls, 1);
}

static void test_charon_restart(void **state)
{
	struct ctx *t = *state;
	struct fake *f = t->fake;
	struct vici_client *c = client_new(t);
	struct sub_rec ike = {.t = t};
	assert_int_equal(vici_subscribe(c, "ike-updown", on_event, &ike), 0);
	client_connect(t);

	f->silent = 1;
	struct reply_rec r1 = {.t = t}, r2 = {.t = t};
	assert_int_equal(vici_request(c, "initiate", NULL, on_reply, &r1), 0);
	assert_int_equal(vici_request(c, "version", NULL, on_reply, &r2), 0);
	RUN_UNTIL(t, fake_count(f, 0, VICI_CMD_REQUEST, NULL) > 0, 1000);
	assert_int_equal(fake_count(f, 0, VICI_CMD_REQUEST, "initiate"), 1);

	fake_stop(f);
	RUN_UNTIL(t, r1.calls > 0 && r2.calls > 0 && t->nstates >= 2, TIMEOUT_MS / 2);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.st, VICI_DISCONNECTED);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.st, VICI_DISCONNECTED);
	assert_int_equal(t->nstates, 2);
	assert_int_equal(t->states[1], 0);
	assert_false(t->state_err_null[1]);
	assert_non_null(strstr(t->state_err[1], "charon closed the connection"));
	assert_non_null(strstr(t->state_err[1], f->uri));
	assert_false(vici_client_connected(c));

	/* Nothing can be queued while it is away, and nothing calls back. */
	struct reply_rec refused = {.t = t};
	assert_int_equal(vici_request(c, "version", args_n(9), on_reply, &refused), -1);

	/* The same path comes back a little later: the client finds it on its own. */
	f->silent = 0;
	struct timeval later = {0, RESTART_MS * 1000};
	assert_int_equal(event_base_once(t->base, -1, EV_TIMEOUT, fake_restart_cb, f, &later), 0);
	RUN_UNTIL(t, t->nstates >= 3, 1500);
	assert_int_equal(t->nstates, 3);
	assert_int_equal(t->states[2], 1);
	assert_true(t->state_at[2] - t->state_at[1] >= MIN_BACKOFF_MS);
	assert_int_equal(f->nconns, 4);
	assert_int_equal(fake_count(f, 3, VICI_EVENT_REGISTER, "ike-updown"), 1);
	assert_int_equal(refused.calls, 0);

	struct reply_rec again = {.t = t};
	assert_int_equal(vici_request(c, "version", NULL, on_reply, &again), 0);
	RUN_UNTIL(t, again.calls > 0, 1000);
	assert_int_equal(again.st, VICI_OK);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r2.calls, 1);
}

static void test_start_missing_socket(void **state)
{
	struct ctx *t = *state;
	struct fake *f = t->fake;
	fake_stop(f);
	struct vici_client *c = client_new(t);

	assert_int_equal(vici_client_start(c), -1);
	const char *err = vici_client_error(c);
	assert_non_null(strstr(err, "No such file or directory"));
	assert_non_null(strstr(err, f->uri));
	assert_false(vici_client_connected(c));
	struct reply_rec r = {.t = t};
	assert_int_equal(vici_request(c, "version", args_n(1), on_reply, &r), -1);

	/* A retry is already scheduled: charon appearing later is found. */
	assert_int_equal(fake_listen(f), 0);
	RUN_UNTIL(t, t->nstates > 0, 1500);
	assert_int_equal(t->nstates, 1);
	assert_int_equal(t->states[0], 1);
	assert_true(vici_client_connected(c));
	assert_int_equal(r.calls, 0);
}

static void test_start_permission_denied(void **state)
{
	struct ctx *t = *state;
	if (geteuid() == 0)
		skip(); /* root connects whatever the mode; see test_start_unconnectable */
	assert_int_equal(chmod(t->fake->path, 0), 0);
	struct vici_client *c = client_new(t);
	vici_client_set_reconnect(c, 0);
	assert_int_equal(vici_client_start(c), -1);
	const char *err = vici_client_error(c);
	assert_non_null(strstr(err, "Permission denied"));
	assert_non_null(strstr(err, t->fake->uri));
	run_ms(t->base, 20);
	assert_int_equal(t->fake->nconns, 0);
}

static void test_start_unconnectable(void **state)
{
	struct ctx *t = *state;
	struct fake *f = t->fake;
	/* charon died and left its socket behind: the file is there, nobody listens. */
	fake_stop(f);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sun = fake_addr(f);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);

	struct vici_client *c = client_new(t);
	vici_client_set_reconnect(c, 0);
	assert_int_equal(vici_client_start(c), -1);
	const char *err = vici_client_error(c);
	assert_non_null(strstr(err, "Connection refused"));
	assert_non_null(strstr(err, f->uri));
	assert_false(vici_client_connected(c));
	run_ms(t->base, 20);
	assert_int_equal(t->nstates, 0);
}

static void test_request_not_connected(void **state)
{
	struct ctx *t = *state;
	struct vici_client *c = client_new(t);
	struct reply_rec r = {.t = t}, s = {.t = t};
	assert_int_equal(vici_request(c, "version", args_n(1), on_reply, &r), -1);
	assert_int_equal(
		vici_request_stream(c, "list-sas", args_n(2), "list-sa", on_stream, on_reply, &s),
		-1);
	run_ms(t->base, 50);
	assert_int_equal(r.calls, 0);
	assert_int_equal(s.calls, 0);
	assert_int_equal(s.nstream, 0);
	assert_int_equal(t->nstates, 0);
	assert_int_equal(t->fake->nconns, 0);
}

static void test_free_with_pending(void **state)
{
	struct ctx *t = *state;
	struct vici_client *c = client_new(t);
	client_connect(t);
	t->fake->silent = 1;
	struct reply_rec r1 = {.t = t}, r2 = {.t = t};
	assert_int_equal(vici_request(c, "initiate", args_n(1), on_reply, &r1), 0);
	assert_int_equal(vici_request(c, "version", args_n(2), on_reply, &r2), 0);
	RUN_UNTIL(t, t->fake->nrx > 0, 1000);
	vici_client_free(c);
	t->client = NULL;
	RUN_UNTIL(t, t->fake->conns[0].eof && t->fake->conns[1].eof, 500);
	assert_true(t->fake->conns[0].eof);
	assert_true(t->fake->conns[1].eof);
	run_ms(t->base, TIMEOUT_MS + 20);
	assert_int_equal(r1.calls, 0);
	assert_int_equal(r2.calls, 0);
	assert_int_equal(t->nstates, 1);
}

/*
 * Connects a client with one subscription, has the fake answer the first of
 * two commands with raw, and checks the client gave up on that connection.
 */
static void expect_protocol_error(struct ctx *t, const uint8_t *raw, size_t raw_len,
				  int on_event_conn, const char *why)
{
	struct fake *f = t->fake;
	struct vici_client *c = client_new(t);
	struct sub_rec ike = {.t = t};
	assert_int_equal(vici_subscribe(c, "ike-updown", on_event, &ike), 0);
	client_connect(t);

	f->raw = raw;
	f->raw_len = raw_len;
	f->raw_on_event_conn = on_event_conn;
	struct reply_rec r1 = {.t = t}, r2 = {.t = t};
	assert_int_equal(vici_request(c, "version", args_n(1), on_reply, &r1), 0);
	assert_int_equal(vici_request(c, "version", args_n(2), on_reply, &r2), 0);
	RUN_UNTIL(t, r1.calls > 0 && r2.calls > 0 && t->nstates >= 2, TIMEOUT_MS / 2);

	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.st, VICI_PROTOCOL_ERROR);
	assert_false(r1.had_reply);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.st, VICI_PROTOCOL_ERROR);
	assert_true(r1.order < r2.order);
	assert_int_equal(t->nstates, 2);
	assert_int_equal(t->states[1], 0);
	assert_non_null(strstr(t->state_err[1], why));
	assert_non_null(strstr(t->state_err[1], f->uri));
	assert_false(vici_client_connected(c));
	assert_int_equal(ike.calls, 0);
	RUN_UNTIL(t, f->conns[0].eof && f->conns[1].eof, 500);
	assert_true(f->conns[0].eof);
	assert_true(f->conns[1].eof);
	assert_int_equal(fake_count(f, -1, VICI_CMD_REQUEST, NULL), 1);
}

static void test_protocol_frame_too_large(void **state)
{
	/* Only the header: the client must not wait for 512 KiB + 1 bytes. */
	static const uint8_t raw[] = {0x00, 0x08, 0x00, 0x01};
	expect_protocol_error(*state, raw, sizeof(raw), 0, "frame too large");
}

/* Same, with the answer encoded as one packet of type carrying msg. */
static void expect_protocol_error_packet(struct ctx *t, enum vici_packet_type type,
					 const char *name, const uint8_t *msg, size_t msg_len,
					 int on_event_conn, const char *why)
{
	uint8_t *frame;
	size_t len;
	assert_int_equal(vici_packet_encode(type, name, msg, msg_len, &frame, &len), 0);
	t->fake->raw_owned = frame;
	expect_protocol_error(t, frame, len, on_event_conn, why);
}

static void test_protocol_malformed_response(void **state)
{
	/* A section opened and never closed. */
	static const uint8_t bad[] = {VICI_SECTION_START, 3, 's', 'e', 'c'};
	expect_protocol_error_packet(*state, VICI_CMD_RESPONSE, NULL, bad, sizeof(bad), 0,
				     "bad response message");
}

static void test_protocol_wrong_reply_type(void **state)
{
	/* EVENT_CONFIRM in answer to a command. */
	static const uint8_t raw[] = {0, 0, 0, 1, VICI_EVENT_CONFIRM};
	expect_protocol_error(*state, raw, sizeof(raw), 0, "reply of the wrong type");
}

static void test_protocol_unsolicited_reply(void **state)
{
	/* A CMD_RESPONSE on the event connection, where nothing is pending. */
	static const uint8_t raw[] = {0, 0, 0, 1, VICI_CMD_RESPONSE};
	expect_protocol_error(*state, raw, sizeof(raw), 1, "unexpected reply");
}

static void test_protocol_malformed_event(void **state)
{
	/* A subscribed event whose message has a list item outside any list. */
	static const uint8_t bad[] = {VICI_LIST_ITEM, 0, 0};
	expect_protocol_error_packet(*state, VICI_EVENT, "ike-updown", bad, sizeof(bad), 1,
				     "bad event message");
}

static void test_protocol_zero_length_frame(void **state)
{
	struct ctx *t = *state;
	struct fake *f = t->fake;
	struct vici_client *c = client_new(t);
	client_connect(t);

	static const uint8_t empty[] = {0, 0, 0, 0, 0, 0, 0, 0};
	f->raw = empty;
	f->raw_len = sizeof(empty);
	f->raw_then_answer = 1;
	struct reply_rec r1 = {.t = t}, r2 = {.t = t};
	assert_int_equal(vici_request(c, "version", args_n(1), on_reply, &r1), 0);
	assert_int_equal(vici_request(c, "version", args_n(2), on_reply, &r2), 0);
	RUN_UNTIL(t, r2.calls > 0, 1000);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.st, VICI_OK);
	assert_string_equal(r1.n, "1");
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.st, VICI_OK);
	assert_string_equal(r2.n, "2");
	assert_int_equal(t->nstates, 1);
	assert_true(vici_client_connected(c));
	assert_false(f->conns[0].eof);
}

static void test_backoff_grows(void **state)
{
	struct ctx *t = *state;
	struct fake *f = t->fake;
	struct vici_client *c = client_new(t);
	struct sub_rec ike = {.t = t};
	assert_int_equal(vici_subscribe(c, "ike-updown", on_event, &ike), 0);
	/* charon accepts, then drops each connection as soon as it is used. */
	f->drop_registrations = 1;
	assert_int_equal(vici_client_start(c), 0);
	run_ms(t->base, 600);
	/*
	 * The client's back-off starts at 250 ms and doubles: attempts at 0,
	 * 250 and 750 ms. A fixed delay would make a third attempt by 500 ms,
	 * a tight loop hundreds.
	 */
	assert_int_equal(f->nconns, 4);
	assert_int_equal(fake_count(f, 1, VICI_EVENT_REGISTER, "ike-updown"), 1);
	assert_int_equal(fake_count(f, 3, VICI_EVENT_REGISTER, "ike-updown"), 1);
	assert_false(vici_client_connected(c));
	assert_int_equal(ike.calls, 0);
}

static void alarm_ignored(int sig)
{
	(void)sig;
}

static void test_start_full_backlog(void **state)
{
	struct ctx *t = *state;
	struct fake *f = t->fake;
	/* charon hangs: its socket is there, but it accepts nothing and the backlog is full. */
	fake_stop(f);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	struct sockaddr_un sun = fake_addr(f);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	int filler[8], nfill = 0;
	while (nfill < 8) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			if (fd >= 0)
				close(fd);
			break;
		}
		filler[nfill++] = fd;
	}

	struct vici_client *c = client_new(t);
	vici_client_set_reconnect(c, 0);
	/* A connect that waits for charon would wait forever: a timer interrupts it. */
	struct sigaction sa = {.sa_handler = alarm_ignored}, old_sa;
	struct itimerval it = {.it_value = {0, 500 * 1000}}, off = {{0, 0}, {0, 0}};
	sigaction(SIGALRM, &sa, &old_sa);
	setitimer(ITIMER_REAL, &it, NULL);
	long long t0 = now_ms();
	int rc = vici_client_start(c);
	long long took = now_ms() - t0;
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old_sa, NULL);
	for (int i = 0; i < nfill; i++)
		close(filler[i]);
	close(lfd);

	assert_true(nfill < 8); /* the backlog really was full */
	/* The event loop (the whole relay) must not stall on a hung charon. */
	assert_true(took < 100);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(vici_client_error(c), f->uri));
	assert_false(vici_client_connected(c));
}

/* The child of test_request_after_charon_closed; returns its exit code. */
static int request_after_close_child(const char *dir)
{
	signal(SIGPIPE, SIG_DFL); /* as in a program that never touched it */
	alarm(5);		  /* whatever happens, the child ends */
	struct ctx t = {.base = event_base_new()};
	if (!t.base || !(t.fake = fake_new_in(t.base, dir)))
		return 10;
	t.client = vici_client_new(t.base, t.fake->uri, TIMEOUT_MS);
	if (!t.client)
		return 11;
	vici_client_set_state_cb(t.client, on_state, &t);
	if (vici_client_start(t.client) < 0)
		return 12;
	RUN_UNTIL(&t, t.nstates > 0 && t.fake->nconns == 2, 1000);
	if (!vici_client_connected(t.client) || t.fake->nconns != 2)
		return 13;
	/* charon closes; the client learns it only when it next reads or writes. */
	fake_drop(t.fake);
	struct reply_rec r = {.t = &t};
	if (vici_request(t.client, "version", NULL, on_reply, &r) < 0)
		return 14;
	RUN_UNTIL(&t, r.calls > 0, 1000);
	if (r.calls != 1 || r.st != VICI_DISCONNECTED) {
		fprintf(stderr, "child: %d callback(s), last status \"%s\"\n", r.calls,
			vici_status_str(r.st));
		return 15;
	}
	vici_client_free(t.client);
	fake_free(t.fake);
	event_base_free(t.base);
	return 0;
}

static void test_request_after_charon_closed(void **state)
{
	struct ctx *t = *state;
	/* In a child, with its own loop and fake: the failure this looks for kills the process. */
	char dir[sizeof(t->fake->dir) + 8], path[sizeof(dir) + 16];
	snprintf(dir, sizeof(dir), "%s/child", t->fake->dir);
	snprintf(path, sizeof(path), "%s/charon.vici", dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0)
		_exit(request_after_close_child(dir));
	int status = 0;
	pid_t waited = pid > 0 ? waitpid(pid, &status, 0) : -1;
	unlink(path);
	rmdir(dir);
	assert_true(pid > 0);
	assert_int_equal(waited, pid);
	if (WIFSIGNALED(status))
		fail_msg("the process was killed by signal %d (%s) when charon closed the "
			 "connection under a request",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

struct restarter {
	struct reply_rec rec;
	int start_rc;
};

/* A caller that runs its own reconnect (reconnect off) from the failed request. */
static void on_reply_restart(enum vici_status st, const struct vici_node *reply, void *arg)
{
	struct restarter *rs = arg;
	on_reply(st, reply, &rs->rec);
	if (st == VICI_DISCONNECTED)
		rs->start_rc = vici_client_start(rs->rec.t->client);
}

static void test_restart_from_reply_callback(void **state)
{
	struct ctx *t = *state;
	struct fake *f = t->fake;
	struct vici_client *c = client_new(t);
	struct sub_rec ike = {.t = t};
	assert_int_equal(vici_subscribe(c, "ike-updown", on_event, &ike), 0);
	vici_client_set_reconnect(c, 0);
	client_connect(t);

	f->silent = 1;
	struct restarter rs = {.rec = {.t = t}, .start_rc = -2};
	assert_int_equal(vici_request(c, "initiate", NULL, on_reply_restart, &rs), 0);
	RUN_UNTIL(t, f->nrx > 1, 1000);
	f->silent = 0;
	fake_drop(f);
	RUN_UNTIL(t, rs.rec.calls > 0, 1000);
	assert_int_equal(rs.rec.st, VICI_DISCONNECTED);
	assert_int_equal(rs.start_rc, 0);

	/* The connections opened from the callback register the subscription and stay up. */
	RUN_UNTIL(t, t->nstates >= 3, 500);
	run_ms(t->base, 20);
	assert_int_equal(f->nconns, 4);
	assert_int_equal(fake_count(f, 3, VICI_EVENT_REGISTER, "ike-updown"), 1);
	assert_int_equal(t->nstates, 3);
	assert_int_equal(t->states[1], 0);
	assert_int_equal(t->states[2], 1);
	assert_true(vici_client_connected(c));
	assert_false(f->conns[2].eof);
	assert_false(f->conns[3].eof);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_request_reply),
		T(test_requests_fifo),
		T(test_unknown_command),
		T(test_stream_list_sas),
		T(test_stream_unknown_event),
		T(test_subscriptions),
		T(test_timeout_reconnects),
		T(test_charon_restart),
		T(test_start_missing_socket),
		T(test_start_permission_denied),
		T(test_start_unconnectable),
		T(test_request_not_connected),
		T(test_free_with_pending),
		T(test_protocol_frame_too_large),
		T(test_protocol_malformed_response),
		T(test_protocol_wrong_reply_type),
		T(test_protocol_unsolicited_reply),
		T(test_protocol_malformed_event),
		T(test_protocol_zero_length_frame),
		T(test_backoff_grows),
		T(test_start_full_backlog),
		T(test_request_after_charon_closed),
		T(test_restart_from_reply_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

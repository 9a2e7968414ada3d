/*
 * The edge's `initiate` requester (relay/forward_initiate.c) against a small
 * fake charon on a unix socket: the request carries child, ike and timeout;
 * at most one is in flight per hub; a new one waits min_interval; charon's
 * errmsg and a lost connection reach the done callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "relay/forward_initiate.h"
#include "tunnel/vici_msg.h"

struct fake {
	struct evconnlistener *lis;
	struct bufferevent *conns[4];
	int nconns;
	int initiates; /* initiate requests seen */
	char child[64], ike[64], timeout[16];
	struct bufferevent *pending; /* the connection of an unanswered initiate */
	const char *answer_errmsg;   /* NULL: success */
};

struct t {
	struct event_base *base;
	char dir[128], path[200], uri[220];
	struct fake f;
	struct forward_initiate *fi;
	int done, ok;
	size_t slot;
	char err[300];
};

static void fake_send(struct bufferevent *bev, enum vici_packet_type type, struct vici_builder *b)
{
	const uint8_t *msg = NULL;
	size_t len = 0;
	uint8_t *frame;
	size_t flen;

	if (b)
		assert_int_equal(vici_builder_finish(b, &msg, &len), 0);
	assert_int_equal(vici_packet_encode(type, NULL, msg, len, &frame, &flen), 0);
	bufferevent_write(bev, frame, flen);
	free(frame);
	vici_builder_free(b);
}

/* Answers the held initiate: success=yes, or success=no with errmsg. */
static void fake_answer(struct fake *f)
{
	struct vici_builder *b = vici_builder_new();

	assert_non_null(f->pending);
	vici_add_kv(b, "success", f->answer_errmsg ? "no" : "yes");
	if (f->answer_errmsg)
		vici_add_kv(b, "errmsg", f->answer_errmsg);
	fake_send(f->pending, VICI_CMD_RESPONSE, b);
	f->pending = NULL;
}

static void fake_read(struct bufferevent *bev, void *arg)
{
	struct fake *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		uint8_t hdr[4];
		if (evbuffer_copyout(in, hdr, 4) < 4)
			return;
		size_t len = (size_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
		if (evbuffer_get_length(in) < 4 + len)
			return;
		uint8_t *frame = malloc(len + 4);
		evbuffer_remove(in, frame, 4 + len);
		struct vici_packet pkt;
		assert_int_equal(vici_packet_parse(frame + 4, len, &pkt, NULL), 0);
		assert_int_equal(pkt.type, VICI_CMD_REQUEST);
		assert_string_equal(pkt.name, "initiate");
		struct vici_node *root;
		assert_int_equal(vici_msg_parse(pkt.msg, pkt.msg_len, &root, NULL), 0);
		snprintf(f->child, sizeof(f->child), "%s", vici_str(root, "child"));
		snprintf(f->ike, sizeof(f->ike), "%s", vici_str(root, "ike"));
		snprintf(f->timeout, sizeof(f->timeout), "%s", vici_str(root, "timeout"));
		vici_node_free(root);
		free(frame);
		f->initiates++;
		f->pending = bev; /* charon answers when the SA is up (fake_answer) */
	}
}

static void fake_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	(void)arg;
}

static void fake_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			int socklen, void *arg)
{
	struct fake *f = arg;
	(void)sa;
	(void)socklen;
	struct bufferevent *bev =
		bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(bev, fake_read, NULL, fake_event, f);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	assert_true(f->nconns < 4);
	f->conns[f->nconns++] = bev;
}

static void on_done(void *arg, size_t slot, bool ok, const char *err)
{
	struct t *t = arg;
	t->done++;
	t->ok = ok;
	t->slot = slot;
	snprintf(t->err, sizeof(t->err), "%s", err);
}

static void run_ms(struct t *t, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(t->base, &tv);
	event_base_dispatch(t->base);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	const char *tmp = getenv("TMPDIR");

	t->base = event_base_new();
	snprintf(t->dir, sizeof(t->dir), "%s/fi.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/vici", t->dir);
	snprintf(t->uri, sizeof(t->uri), "unix://%s", t->path);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	assert_true(strlen(t->path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, t->path, strlen(t->path) + 1);
	t->f.lis = evconnlistener_new_bind(t->base, fake_accept, &t->f,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 8,
					   (struct sockaddr *)&sun, sizeof(sun));
	assert_non_null(t->f.lis);
	t->fi = forward_initiate_new(t->base, t->uri, 15, 5);
	assert_non_null(t->fi);
	forward_initiate_set_done_cb(t->fi, on_done, t);
	assert_int_equal(forward_initiate_start(t->fi), 0);
	run_ms(t, 100);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	forward_initiate_free(t->fi);
	for (int i = 0; i < t->f.nconns; i++)
		bufferevent_free(t->f.conns[i]);
	evconnlistener_free(t->f.lis);
	unlink(t->path);
	rmdir(t->dir);
	event_base_free(t->base);
	free(t);
	return 0;
}

static void test_request_and_rate_limits(void **state)
{
	struct t *t = *state;

	assert_int_equal(forward_initiate_request(t->fi, 1, "airlock-hub2", "mail2", 100), 1);
	run_ms(t, 100);
	assert_int_equal(t->f.initiates, 1);
	assert_string_equal(t->f.child, "mail2");
	assert_string_equal(t->f.ike, "airlock-hub2");
	assert_string_equal(t->f.timeout, "15000");
	assert_true(forward_initiate_pending(t->fi, 1));
	/* One in flight per hub, even after the interval. */
	assert_int_equal(forward_initiate_request(t->fi, 1, "airlock-hub2", "mail2", 200), 0);
	/* Another hub is not held back by it. */
	assert_false(forward_initiate_pending(t->fi, 0));
	fake_answer(&t->f);
	run_ms(t, 100);
	assert_int_equal(t->done, 1);
	assert_true(t->ok);
	assert_int_equal(t->slot, 1);
	assert_false(forward_initiate_pending(t->fi, 1));
	/* At most once per min_interval (5 s), counted from the start of the last one. */
	assert_int_equal(forward_initiate_request(t->fi, 1, "airlock-hub2", "mail2", 104), 0);
	assert_int_equal(forward_initiate_request(t->fi, 1, "airlock-hub2", "mail2", 105), 1);
	run_ms(t, 100);
	assert_int_equal(t->f.initiates, 2);
	t->f.answer_errmsg = "establishing CHILD_SA 'mail2' failed";
	fake_answer(&t->f);
	run_ms(t, 100);
	assert_int_equal(t->done, 2);
	assert_false(t->ok);
	assert_string_equal(t->err, "establishing CHILD_SA 'mail2' failed");
	assert_int_equal(forward_initiate_request(t->fi, 5, "airlock", "airlock", 105), 1);
	assert_int_equal(forward_initiate_request(t->fi, FORWARD_HUBS_MAX, "a", "a", 105), -1);
}

/* charon goes away with an initiate in flight: it ends (not ok), and the next may go later. */
static void test_connection_lost(void **state)
{
	struct t *t = *state;

	assert_int_equal(forward_initiate_request(t->fi, 0, "airlock", "airlock", 100), 1);
	run_ms(t, 100);
	assert_int_equal(t->f.initiates, 1);
	for (int i = 0; i < t->f.nconns; i++)
		bufferevent_free(t->f.conns[i]);
	t->f.nconns = 0;
	t->f.pending = NULL;
	run_ms(t, 100);
	assert_int_equal(t->done, 1);
	assert_false(t->ok);
	assert_false(forward_initiate_pending(t->fi, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_and_rate_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_lost, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

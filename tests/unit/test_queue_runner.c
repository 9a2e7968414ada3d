/*
 * Delivery scheduler with an in-memory store and the scripted SMTP server
 * as next hop: delivery and removal, retry after 4xx, lifetime expiry to
 * hold, permanent refusal, partial delivery, route deferral, the parallel
 * limit, connection reuse and kicks. Retry times are one second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "relay/queue_runner.h"
#include "test_smtp_client_fake.h"
#include "test_tun_netns.h"

#define STORE_MAX 16

struct smsg {
	char id[QUEUE_RUNNER_ID_MAX + 1];
	int64_t arrived;
	const char *rcpts[4];
	size_t nrcpts;
	bool done[4];
	int fd;
	off_t off;
	uint64_t len;
	bool present, removed, held;
	char hold_reason[QUEUE_RUNNER_REASON_MAX];
};

struct t {
	struct event_base *base;
	struct fake *f;
	struct queue_runner *r;
	struct queue_runner_opts o;
	struct smsg msgs[STORE_MAX];
	size_t nmsgs;
	bool no_route;
	const char *bind_device; /* the route's, when set */
	unsigned opens;
	unsigned outcomes_ok, outcomes_failed;
	int outcome_tag;
	char outcome_reply[SMTP_CLIENT_REPLY_MAX];
};

static struct smsg *store_find(struct t *t, const char *id)
{
	for (size_t i = 0; i < t->nmsgs; i++)
		if (strcmp(t->msgs[i].id, id) == 0 && t->msgs[i].present)
			return &t->msgs[i];
	return NULL;
}

static int store_list(void *arg, int (*each)(void *, const char *), void *each_arg)
{
	struct t *t = arg;
	int n = 0;
	for (size_t i = 0; i < t->nmsgs; i++)
		if (t->msgs[i].present) {
			n++;
			if (each(each_arg, t->msgs[i].id))
				break;
		}
	return n;
}

static int store_open(void *arg, const char *id, struct queue_runner_msg *m, char *err,
		      size_t errlen)
{
	struct t *t = arg;
	struct smsg *s = store_find(t, id);

	if (!s) {
		snprintf(err, errlen, "no such message");
		return -1;
	}
	t->opens++;
	memset(m, 0, sizeof(*m));
	m->arrived = s->arrived;
	m->from = "s@example.org";
	m->rcpts = s->rcpts;
	m->nrcpts = s->nrcpts;
	m->rcpt_done = s->done;
	m->fd = dup(s->fd);
	m->content_off = s->off;
	m->content_len = s->len;
	return 0;
}

static void store_close(void *arg, struct queue_runner_msg *m)
{
	(void)arg;
	close(m->fd);
}

static int store_rcpt_done(void *arg, const char *id, size_t i)
{
	struct smsg *s = store_find(arg, id);
	assert_non_null(s);
	assert_true(i < s->nrcpts);
	s->done[i] = true;
	return 0;
}

static int store_remove(void *arg, const char *id)
{
	struct smsg *s = store_find(arg, id);
	assert_non_null(s);
	s->present = false;
	s->removed = true;
	return 0;
}

static int store_hold(void *arg, const char *id, const char *reason, char *err, size_t errlen)
{
	struct smsg *s = store_find(arg, id);
	(void)err;
	(void)errlen;
	assert_non_null(s);
	s->present = false;
	s->held = true;
	snprintf(s->hold_reason, sizeof(s->hold_reason), "%s", reason);
	return 0;
}

static int route(void *arg, struct queue_route *out, char *why, size_t whylen)
{
	struct t *t = arg;

	if (t->no_route) {
		snprintf(why, whylen, "no SA");
		return -1;
	}
	memcpy(&out->peer, &t->f->addr, sizeof(t->f->addr));
	out->peer_len = sizeof(t->f->addr);
	snprintf(out->name, sizeof(out->name), "hub");
	if (t->bind_device)
		snprintf(out->bind_device, sizeof(out->bind_device), "%s", t->bind_device);
	out->tag = 7;
	return 0;
}

static void outcome(void *arg, const struct queue_runner_outcome *o)
{
	struct t *t = arg;

	if (o->kind == QUEUE_OUTCOME_SESSION_OK)
		t->outcomes_ok++;
	else
		t->outcomes_failed++;
	t->outcome_tag = o->route->tag;
	snprintf(t->outcome_reply, sizeof(t->outcome_reply), "%s", o->reply);
}

static struct smsg *add_msg(struct t *t, const char *id, size_t nrcpts, int64_t age)
{
	static const char *const rc[] = {"a@example.com", "b@example.com", "c@example.com"};
	static const char content[] = "Subject: x\r\n\r\nbody\r\n";
	struct smsg *s = &t->msgs[t->nmsgs++];

	snprintf(s->id, sizeof(s->id), "%s", id);
	s->arrived = (int64_t)time(NULL) - age;
	for (size_t i = 0; i < nrcpts; i++)
		s->rcpts[i] = rc[i];
	s->nrcpts = nrcpts;
	s->len = sizeof(content) - 1;
	s->fd = fake_content_file(content, s->len, &s->off);
	s->present = true;
	return s;
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	t->base = event_base_new();
	t->f = fake_new(t->base);
	t->o.max_parallel = 1;
	t->o.retry_min_s = 1;
	t->o.retry_max_s = 4;
	t->o.max_lifetime_s = 3600;
	t->o.idle_keep_s = 30;
	t->o.client.helo_name = "edge.test";
	*state = t;
	return 0;
}

static void runner_go(struct t *t)
{
	struct queue_runner_store st = {
		t, store_list, store_open, store_close, store_rcpt_done, store_remove, store_hold};
	t->r = queue_runner_new(t->base, &st, &t->o, route, t);
	assert_non_null(t->r);
	queue_runner_set_outcome_cb(t->r, outcome, t);
	queue_runner_start(t->r);
}

static int teardown(void **state)
{
	struct t *t = *state;

	queue_runner_free(t->r);
	fake_free(t->f);
	for (size_t i = 0; i < t->nmsgs; i++)
		close(t->msgs[i].fd);
	event_base_free(t->base);
	free(t);
	return 0;
}

static void stats(struct t *t, struct queue_runner_stats *s)
{
	queue_runner_get_stats(t->r, s);
}

static void test_delivered_and_removed(void **state)
{
	struct t *t = *state;
	struct queue_runner_stats s;
	struct smsg *a = add_msg(t, "MSGA", 2, 5), *b = add_msg(t, "MSGB", 1, 0);

	runner_go(t);
	RUN_UNTIL(t->base, a->removed && b->removed, 3000);
	assert_true(a->removed && b->removed);
	/* Finished in one attempt: removed without a progress record. */
	assert_false(a->done[0] || a->done[1] || b->done[0]);
	stats(t, &s);
	assert_int_equal(s.delivered, 2);
	assert_int_equal(s.queued, 0);
	assert_int_equal(t->f->messages, 2);
	assert_int_equal(t->f->accepted, 1); /* the second went over the same connection */
	char *wire = fake_wire(t->f);
	/* the first end of data reset the server: no RSET before the second MAIL */
	assert_non_null(strstr(wire, ".\r\nMAIL FROM:<s@example.org>"));
	assert_null(strstr(wire, "RSET"));
	free(wire);
}

struct listing {
	unsigned n, attempts;
	char reason[QUEUE_RUNNER_REASON_MAX];
	int64_t next;
};

static int list_one(void *arg, const struct queue_runner_entry *e)
{
	struct listing *l = arg;
	l->n++;
	l->attempts = e->attempts;
	l->next = e->next_attempt;
	snprintf(l->reason, sizeof(l->reason), "%s", e->last_reason);
	return 0;
}

static void test_retry_after_4xx(void **state)
{
	struct t *t = *state;
	struct listing l = {0};
	struct queue_runner_stats s;
	struct smsg *a = add_msg(t, "MSGA", 1, 0);

	t->f->rules[0] = (struct fake_rule){"RCPT", "451 4.3.0 Try again later\r\n"};
	runner_go(t);
	RUN_UNTIL(t->base,
		  t->f->max_lines_per_read > 0 && queue_runner_list(t->r, list_one, &l) &&
			  l.attempts == 1,
		  2000);
	assert_int_equal(queue_runner_list(t->r, list_one, &l), 1);
	assert_int_equal(l.attempts, 1);
	assert_string_equal(l.reason, "hub 451 4.3.0 Try again later");
	stats(t, &s);
	assert_int_equal(s.deferred, 1);
	assert_false(a->removed);
	t->f->rules[0] = (struct fake_rule){NULL, NULL};
	long long start = fake_now_ms();
	RUN_UNTIL(t->base, a->removed, 4000);
	assert_true(a->removed);
	assert_true(fake_now_ms() - start >= 200); /* after a back-off, not at once */
}

static void test_lifetime_expiry_held(void **state)
{
	struct t *t = *state;
	struct queue_runner_stats s;
	struct smsg *a = add_msg(t, "MSGA", 1, 100);

	t->o.max_lifetime_s = 10;
	t->f->rules[0] = (struct fake_rule){"MAIL", "421 4.7.0 Not now\r\n"};
	runner_go(t);
	RUN_UNTIL(t->base, a->held, 3000);
	assert_true(a->held);
	assert_non_null(strstr(a->hold_reason, "expired"));
	assert_non_null(strstr(a->hold_reason, "421 4.7.0 Not now"));
	stats(t, &s);
	assert_int_equal(s.held, 1);
	assert_int_equal(s.queued, 0);
}

static void test_permanent_held(void **state)
{
	struct t *t = *state;
	struct smsg *a = add_msg(t, "MSGA", 2, 0);

	t->f->rules[0] = (struct fake_rule){"RCPT", "550 5.1.1 No such user\r\n"};
	runner_go(t);
	RUN_UNTIL(t->base, a->held, 3000);
	assert_true(a->held);
	assert_string_equal(a->hold_reason, "hub said: 550 5.1.1 No such user");
	assert_false(a->done[0] || a->done[1]);
}

/* a gets its 250, b a 451: only b is tried again. */
static void test_partial(void **state)
{
	struct t *t = *state;
	struct smsg *a = add_msg(t, "MSGA", 2, 0);

	t->f->rules[0] = (struct fake_rule){"RCPT TO:<b", "451 4.2.0 Busy\r\n"};
	runner_go(t);
	RUN_UNTIL(t->base, a->done[0], 2000);
	assert_true(a->done[0]);
	assert_false(a->done[1]);
	assert_false(a->removed);
	struct listing l = {0};
	fake_run_ms(t->base, 20);
	assert_int_equal(queue_runner_list(t->r, list_one, &l), 1);
	assert_string_equal(l.reason, "hub 451 4.2.0 Busy");
	t->f->rules[0] = (struct fake_rule){NULL, NULL};
	evbuffer_drain(t->f->wire, evbuffer_get_length(t->f->wire));
	RUN_UNTIL(t->base, a->removed, 4000);
	assert_true(a->removed);
	assert_false(a->done[1]); /* the attempt that finished it records nothing */
	char *wire = fake_wire(t->f);
	assert_null(strstr(wire, "RCPT TO:<a@"));
	assert_non_null(strstr(wire, "RCPT TO:<b@"));
	free(wire);
}

static void test_route_deferral(void **state)
{
	struct t *t = *state;
	struct listing l = {0};
	struct queue_runner_stats s;

	add_msg(t, "MSGA", 1, 0);
	t->no_route = true;
	runner_go(t);
	fake_run_ms(t->base, 100);
	assert_int_equal(queue_runner_list(t->r, list_one, &l), 1);
	assert_string_equal(l.reason, "no SA");
	assert_int_equal(l.attempts, 1);
	assert_true(l.next > (int64_t)time(NULL) - 1);
	stats(t, &s);
	assert_int_equal(s.deferred, 1);
	assert_int_equal(t->f->accepted, 0);
	assert_int_equal(t->opens, 0);
	t->no_route = false;
	RUN_UNTIL(t->base, t->msgs[0].removed, 4000);
	assert_true(t->msgs[0].removed);
}

static void test_max_parallel(void **state)
{
	struct t *t = *state;
	struct queue_runner_stats s;
	char id[8];
	size_t max_active = 0;

	for (int i = 0; i < 8; i++) {
		snprintf(id, sizeof(id), "M%d", i);
		add_msg(t, id, 1, 0);
	}
	t->o.max_parallel = 2;
	runner_go(t);
	long long deadline = fake_now_ms() + 4000;
	do {
		fake_run_ms(t->base, 1);
		stats(t, &s);
		if (s.active > max_active)
			max_active = s.active;
	} while (s.delivered < 8 && fake_now_ms() < deadline);
	assert_int_equal(s.delivered, 8);
	assert_true(max_active <= 2);
	assert_int_equal(t->f->max_in_txn, 2);
	assert_int_equal(t->f->accepted, 2);
}

static void test_kick(void **state)
{
	struct t *t = *state;

	runner_go(t);
	fake_run_ms(t->base, 20);
	struct smsg *a = add_msg(t, "LATE", 1, 0);
	long long start = fake_now_ms();
	queue_runner_kick(t->r, "LATE");
	RUN_UNTIL(t->base, a->removed, 2000);
	assert_true(a->removed);
	assert_true(fake_now_ms() - start < 900); /* at once, not at a tick or scan */
}

/* A 4xx greeting is a failed session, reported with the route's tag; a good one is not. */
static void test_outcome_feedback(void **state)
{
	struct t *t = *state;
	struct smsg *a = add_msg(t, "MSGA", 1, 0);

	t->f->greeting = "421 4.3.2 Busy, go elsewhere\r\n";
	runner_go(t);
	RUN_UNTIL(t->base, t->outcomes_failed == 1, 2000);
	assert_int_equal(t->outcomes_failed, 1);
	assert_int_equal(t->outcomes_ok, 0);
	assert_int_equal(t->outcome_tag, 7);
	assert_non_null(strstr(t->outcome_reply, "421 4.3.2 Busy"));
	assert_false(a->removed);
	t->f->greeting = "220 fake.test ESMTP\r\n";
	RUN_UNTIL(t->base, a->removed, 4000);
	assert_true(a->removed);
	assert_int_equal(t->outcomes_ok, 1);
	assert_string_equal(t->outcome_reply, "");
	/* A refused recipient is the message's problem, not a failing session. */
	struct smsg *b = add_msg(t, "MSGB", 1, 0);
	t->f->rules[0] = (struct fake_rule){"RCPT", "451 4.3.0 Try again later\r\n"};
	queue_runner_kick(t->r, "MSGB");
	RUN_UNTIL(t->base, t->f->messages > 0 || b->removed, 500);
	fake_run_ms(t->base, 200);
	assert_int_equal(t->outcomes_failed, 1);
}

/* A connection that cannot be made (nothing listens) is a failed session too. */
static void test_outcome_connect_refused(void **state)
{
	struct t *t = *state;

	add_msg(t, "MSGA", 1, 0);
	fake_free(t->f);
	t->f = fake_new(t->base);
	struct sockaddr_in dead = t->f->addr;
	fake_free(t->f);
	t->f = fake_new(t->base);
	t->f->addr = dead; /* the route now points at a closed port */
	runner_go(t);
	RUN_UNTIL(t->base, t->outcomes_failed == 1, 2000);
	assert_int_equal(t->outcomes_failed, 1);
	assert_non_null(strstr(t->outcome_reply, "connect"));
}

/* kick_all makes deferred messages due at once, without waiting for their back-off. */
static void test_kick_all(void **state)
{
	struct t *t = *state;
	struct listing l = {0};

	add_msg(t, "MSGA", 1, 0);
	add_msg(t, "MSGB", 1, 0);
	t->o.retry_min_s = 60;
	t->o.retry_max_s = 60;
	t->no_route = true;
	runner_go(t);
	fake_run_ms(t->base, 100);
	assert_int_equal(queue_runner_list(t->r, list_one, &l), 2);
	assert_int_equal(l.attempts, 1);
	t->no_route = false;
	fake_run_ms(t->base, 1500);
	assert_false(t->msgs[0].removed); /* the back-off holds them */
	long long start = fake_now_ms();
	assert_int_equal(queue_runner_kick_all(t->r), 2);
	RUN_UNTIL(t->base, t->msgs[0].removed && t->msgs[1].removed, 2000);
	assert_true(t->msgs[0].removed && t->msgs[1].removed);
	assert_true(fake_now_ms() - start < 900);
	assert_int_equal(queue_runner_kick_all(t->r), 0);
}

/* The route's SA went down: a delivery hanging on it is abandoned at once, with the reason. */
static void test_abort_route(void **state)
{
	struct t *t = *state;
	struct listing l = {0};
	struct queue_runner_stats s;
	struct smsg *a = add_msg(t, "MSGA", 1, 0);

	t->o.retry_min_s = 60;
	t->o.retry_max_s = 60;
	t->f->rules[0] = (struct fake_rule){"MAIL", FAKE_SILENT};
	runner_go(t);
	RUN_UNTIL(t->base, t->f->accepted == 1, 2000);
	fake_run_ms(t->base, 100);
	stats(t, &s);
	assert_int_equal(s.active, 1);
	assert_int_equal(queue_runner_abort_route(t->r, 8, "other route"), 0);
	assert_int_equal(queue_runner_abort_route(t->r, 7, "no SA to hub x"), 1);
	stats(t, &s);
	assert_int_equal(s.active, 0);
	assert_int_equal(s.deferred, 1);
	assert_int_equal(queue_runner_list(t->r, list_one, &l), 1);
	assert_string_equal(l.reason, "no SA to hub x");
	t->f->rules[0] = (struct fake_rule){NULL, NULL};
	assert_int_equal(queue_runner_kick_all(t->r), 1);
	RUN_UNTIL(t->base, a->removed, 2000);
	assert_true(a->removed);
	assert_int_equal(t->f->accepted, 2); /* a new connection, not the abandoned one */
}

/*
 * The path of the connections kept for reuse went away (an SA lost, charon
 * restarted): drop_idle closes those of that route, and the next message
 * opens a new connection instead of writing into the dead one.
 */
static void test_drop_idle(void **state)
{
	struct t *t = *state;
	struct smsg *a = add_msg(t, "MSGA", 1, 0);

	runner_go(t);
	RUN_UNTIL(t->base, a->removed, 2000);
	assert_true(a->removed);
	assert_int_equal(t->f->accepted, 1);
	assert_int_equal(queue_runner_drop_idle(t->r, 8), 0); /* another route's: kept */
	assert_int_equal(queue_runner_drop_idle(t->r, 7), 1);
	assert_int_equal(queue_runner_drop_idle(t->r, -1), 0); /* nothing left */
	struct smsg *b = add_msg(t, "MSGB", 1, 0);
	queue_runner_kick(t->r, "MSGB");
	RUN_UNTIL(t->base, b->removed, 2000);
	assert_true(b->removed);
	assert_int_equal(t->f->accepted, 2);
	/* every route's with a negative tag */
	assert_int_equal(queue_runner_drop_idle(t->r, -1), 1);
}

static int device_gone_child(void)
{
	int tun = tun_netns_enter();
	if (tun < 0)
		return -tun;

	struct t *t;
	struct in_addr a;
	struct queue_runner_stats s;
	struct listing l = {0};
	setup((void **)&t);
	fake_free(t->f);
	inet_pton(AF_INET, TUN_NETNS_ADDR, &a);
	t->f = fake_new_at(t->base, a.s_addr);
	t->bind_device = TUN_NETNS_DEV;
	t->o.retry_min_s = 60;
	t->o.retry_max_s = 60;
	t->f->rules[0] = (struct fake_rule){"MAIL", FAKE_SILENT}; /* the delivery hangs */
	add_msg(t, "MSGA", 1, 0);
	runner_go(t);
	RUN_UNTIL(t->base, t->f->accepted == 1, 2000);
	fake_run_ms(t->base, 100);
	stats(t, &s);
	CHILD_CHECK(s.active == 1, 4, "the delivery hangs over the device");
	close(tun); /* charon went away with its TUN device */
	long long start = fake_now_ms();
	RUN_UNTIL(t->base, (stats(t, &s), s.active == 0), 10000);
	CHILD_CHECK(s.active == 0 && s.deferred == 1, 5, "abandoned and deferred");
	/* the one-second tick, with room for a loaded machine; the MAIL timeout is 300 s */
	CHILD_CHECK(fake_now_ms() - start < 5000, 6, "at the next tick, not at a timeout");
	CHILD_CHECK(queue_runner_list(t->r, list_one, &l) == 1, 7, "listed");
	CHILD_CHECK(strcmp(l.reason, "device " TUN_NETNS_DEV " gone during the delivery") == 0, 8,
		    l.reason);
	teardown((void **)&t);
	return 0;
}

/*
 * A delivery pinned to a TUN device that goes away (charon restarted) is
 * abandoned at the next tick and its message deferred with the reason,
 * instead of holding a delivery slot until its timeout (root only).
 */
static void test_device_gone(void **state)
{
	(void)state;
	tun_netns_run(device_gone_child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_delivered_and_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_4xx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifetime_expiry_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permanent_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_deferral, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_parallel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outcome_feedback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outcome_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_idle, setup, teardown),
		cmocka_unit_test(test_device_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

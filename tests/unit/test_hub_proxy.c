/*
 * The hub's live proxy against a scripted internal MTA on loopback
 * (tests/unit/test_smtp_client_fake.h): MAIL and each RCPT relayed with the
 * internal MTA's replies, the attestation verified before any content goes
 * on, the edge's end-of-data reply only after the internal MTA's, the reply
 * mapping, trust replacement, and the idle pool of internal sessions (reuse,
 * sessions the MTA closed, the transparent retry on a stale one, failed
 * transactions not pooled, idle timeout, retirement, the bound), and a
 * retry of a delivered message answered without a second delivery. Every
 * loop run is bounded.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "relay/hub/hub_proxy.h"
#include "test_smtp_client_fake.h"

static const char MSG[] = "From: <a@example.org>\r\nSubject: t\r\n\r\nbody line\r\n.dot line\r\n";

struct t {
	struct event_base *base;
	struct fake *f;
	struct hub_proxy *p;
	struct attest_signer *signer, *other;
	struct hub_result res;
	int results;
	int done;
	char reply[1024];
	int steps;
	char step_reply[1024];
	char stamped[4096];
	size_t stamped_len;
};

static void on_result(void *arg, const struct hub_result *r)
{
	struct t *t = arg;
	t->res = *r;
	t->results++;
}

static void on_step(void *cookie, const char *reply)
{
	struct t *t = cookie;
	snprintf(t->step_reply, sizeof(t->step_reply), "%s", reply);
	t->steps++;
}

static void on_done(void *cookie, const char *reply)
{
	struct t *t = cookie;
	snprintf(t->reply, sizeof(t->reply), "%s", reply);
	t->done++;
}

static struct attest_trust *trust_of(const struct attest_signer *s)
{
	struct attest_trust *tr = attest_trust_new();
	assert_int_equal(attest_trust_add(tr, s->pub.pk), 0);
	return tr;
}

/* MSG with a stamp by signer (verdict clean) in t->stamped. */
static void stamp(struct t *t, const struct attest_signer *signer, enum attest_verdict v)
{
	struct attest_stamp st;
	memset(&st, 0, sizeof(st));
	snprintf(st.id, sizeof(st.id), "Q1");
	st.time = (int64_t)time(NULL);
	snprintf(st.engine, sizeof(st.engine), "ClamAV 1.0");
	snprintf(st.db, sizeof(st.db), "1");
	st.verdict = v;
	attest_body_hash(MSG, sizeof(MSG) - 1, st.body_hash);
	assert_int_equal(attest_sign(&st, signer), 0);
	int n = attest_format_field(&st, t->stamped, sizeof(t->stamped));
	assert_true(n > 0);
	memcpy(t->stamped + n, MSG, sizeof(MSG) - 1);
	t->stamped_len = (size_t)n + sizeof(MSG) - 1;
}

static struct hub_proxy *proxy_new_pool(struct t *t, unsigned timeout_s, unsigned idle_max,
					unsigned idle_timeout_ms, unsigned max_uses)
{
	struct hub_proxy_opts o = {
		.mta = (struct sockaddr *)&t->f->addr,
		.mta_len = sizeof(t->f->addr),
		.helo_name = "hub.test",
		.timeout_s = timeout_s,
		.max_age = 3600,
		.max_skew = 60,
		.idle_max = idle_max,
		.idle_timeout_ms = idle_timeout_ms,
		.max_uses = max_uses,
	};
	struct hub_proxy *p = hub_proxy_new(t->base, &o, on_result, t);
	assert_non_null(p);
	return p;
}

static struct hub_proxy *proxy_new(struct t *t, unsigned timeout_s)
{
	return proxy_new_pool(t, timeout_s, 0, 0, 0);
}

/* Replaces t's proxy (trusting t->signer). */
static void proxy_replace(struct t *t, struct hub_proxy *p)
{
	hub_proxy_free(t->p);
	t->p = p;
	hub_proxy_set_trust(t->p, trust_of(t->signer));
}

static struct hub_pool_stats pool(struct t *t)
{
	struct hub_pool_stats st;
	hub_proxy_get_stats(t->p, &st);
	return st;
}

/* QUITs in what the fake MTA received. */
static int quits(struct t *t)
{
	char *w = fake_wire(t->f);
	int n = 0;
	for (const char *s = w; (s = strstr(s, "QUIT\r\n")); s++)
		n++;
	free(w);
	return n;
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	unsigned char seed[ATTEST_SEED_LEN];

	signal(SIGPIPE, SIG_IGN);
	t->base = event_base_new();
	t->f = fake_new(t->base);
	memset(seed, 1, sizeof(seed));
	t->signer = attest_signer_new_from_seed(seed);
	memset(seed, 2, sizeof(seed));
	t->other = attest_signer_new_from_seed(seed);
	t->p = proxy_new(t, 2);
	hub_proxy_set_trust(t->p, trust_of(t->signer));
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	hub_proxy_free(t->p);
	fake_run_ms(t->base, 50); /* the idle sessions' QUIT and its answer */
	fake_free(t->f);
	event_base_free(t->base);
	attest_signer_free(t->signer);
	attest_signer_free(t->other);
	free(t);
	return 0;
}

static bool wire_has(struct t *t, const char *what)
{
	char *w = fake_wire(t->f);
	bool has = strstr(w, what) != NULL;
	free(w);
	return has;
}

static struct smtp_addr from, rcpts[2];
static struct smtp_txn_info info;

/* MAIL from a@example.org through the proxy; returns the edge's reply. */
static const char *mail(struct t *t)
{
	memset(&from, 0, sizeof(from));
	memset(rcpts, 0, sizeof(rcpts));
	snprintf(from.mailbox, sizeof(from.mailbox), "a@example.org");
	snprintf(rcpts[0].mailbox, sizeof(rcpts[0].mailbox), "b@example.com");
	snprintf(rcpts[1].mailbox, sizeof(rcpts[1].mailbox), "c@example.com");
	info = (struct smtp_txn_info){
		.session_id = "s1",
		.client_addr = "192.0.2.1",
		.from = &from,
		.rcpts = rcpts,
	};
	int before = t->steps;
	hub_mail_async(t->p, &info, on_step, t);
	RUN_UNTIL(t->base, t->steps > before, 8000);
	assert_int_equal(t->steps, before + 1);
	return t->step_reply;
}

/* RCPT i through the proxy; returns the edge's reply. */
static const char *rcpt(struct t *t, int i)
{
	int before = t->steps;
	hub_rcpt_async(t->p, &info, &rcpts[i], on_step, t);
	RUN_UNTIL(t->base, t->steps > before, 8000);
	assert_int_equal(t->steps, before + 1);
	return t->step_reply;
}

/* The content data[0..len) of the open transaction; runs until the edge's reply. */
static void content(struct t *t, const char *data, size_t len, size_t naccepted)
{
	const char *refusal = NULL;
	info.nrcpts = naccepted;
	void *txn = hub_txn_begin(t->p, &info, &refusal);
	assert_non_null(txn);
	/* In pieces, as the engine writes them. */
	for (size_t off = 0; off < len; off += 7)
		assert_int_equal(hub_txn_write(txn, data + off, len - off < 7 ? len - off : 7), 0);
	t->done = 0;
	hub_txn_end(txn, on_done, t);
	RUN_UNTIL(t->base, t->done, 8000);
	assert_int_equal(t->done, 1);
}

/* A whole transaction for both recipients (both must be accepted), then its end. */
static void run_txn(struct t *t, const char *data, size_t len)
{
	assert_memory_equal(mail(t), "250", 3);
	assert_memory_equal(rcpt(t, 0), "250", 3);
	assert_memory_equal(rcpt(t, 1), "250", 3);
	content(t, data, len, 2);
	hub_envelope_end(t->p, "s1");
	fake_run_ms(t->base, 20);
}

static void test_valid_stamp_is_proxied(void **state)
{
	struct t *t = *state;
	stamp(t, t->signer, ATTEST_VERDICT_CLEAN);
	t->f->rules[0] = (struct fake_rule){".", "250 2.0.0 Ok: queued as INT1\r\n"};
	run_txn(t, t->stamped, t->stamped_len);
	assert_string_equal(t->reply, "250 2.0.0 Ok: delivered by the internal MTA (250 2.0.0 Ok: "
				      "queued as INT1)");
	assert_int_equal(t->results, 1);
	assert_int_equal(t->res.attest, ATTEST_OK);
	assert_int_equal(t->res.proxy, HUB_PROXY_DELIVERED);
	char *wire = fake_wire(t->f);
	assert_non_null(strstr(wire, "MAIL FROM:<a@example.org>"));
	assert_non_null(strstr(wire, "RCPT TO:<b@example.com>"));
	assert_non_null(strstr(wire, "RCPT TO:<c@example.com>"));
	/* The message as written, dot-stuffed on the wire. */
	assert_non_null(strstr(wire, "X-Airlock-Scan: v=1; id=Q1;"));
	assert_non_null(strstr(wire, "\r\n\r\nbody line\r\n..dot line\r\n.\r\n"));
	free(wire);
}

static void check_refused(struct t *t, const char *data, size_t len, enum attest_result want)
{
	char prefix[128];
	run_txn(t, data, len);
	snprintf(prefix, sizeof(prefix), "550 5.7.1 Scan attestation refused: %s",
		 attest_result_name(want));
	assert_memory_equal(t->reply, prefix, strlen(prefix));
	assert_int_equal(t->res.attest, want);
	assert_int_equal(t->res.proxy, HUB_PROXY_NONE);
	/* The internal MTA got the envelope, never the content: RSET, then QUIT. */
	char *wire = fake_wire(t->f);
	assert_null(strstr(wire, "DATA"));
	assert_null(strstr(wire, "body line"));
	free(wire);
	/* The envelope was reset, not failed: the session waits in the pool. */
	assert_int_equal(quits(t), 0);
	assert_int_equal(pool(t).idle, 1);
}

static void test_refused_stamps_never_reach_the_mta(void **state)
{
	struct t *t = *state;

	check_refused(t, MSG, sizeof(MSG) - 1, ATTEST_MISSING);
	stamp(t, t->signer, ATTEST_VERDICT_CLEAN);
	t->stamped[t->stamped_len - 3] = 'X'; /* the body changed after the scan */
	check_refused(t, t->stamped, t->stamped_len, ATTEST_BODY_MISMATCH);
	stamp(t, t->other, ATTEST_VERDICT_CLEAN);
	check_refused(t, t->stamped, t->stamped_len, ATTEST_UNKNOWN_KEY);
	stamp(t, t->signer, ATTEST_VERDICT_UNSCANNED);
	check_refused(t, t->stamped, t->stamped_len, ATTEST_UNSCANNED);
	/* Two stamps. */
	char twice[8192];
	stamp(t, t->signer, ATTEST_VERDICT_CLEAN);
	size_t flen = t->stamped_len - (sizeof(MSG) - 1);
	memcpy(twice, t->stamped, flen);
	memcpy(twice + flen, t->stamped, t->stamped_len);
	check_refused(t, twice, flen + t->stamped_len, ATTEST_DUPLICATE);
	assert_int_equal(t->results, 5);
	/* All five on one internal session, each after an RSET. */
	assert_int_equal(t->f->accepted, 1);
	assert_int_equal(pool(t).opened, 1);
	assert_int_equal(pool(t).reused, 4);
	assert_true(wire_has(t, "RCPT TO:<c@example.com>\r\nRSET\r\nMAIL FROM:"));
}

static void test_trust_replaced(void **state)
{
	struct t *t = *state;
	hub_proxy_set_trust(t->p, trust_of(t->other));
	assert_int_equal(hub_proxy_trust_count(t->p), 1);
	stamp(t, t->signer, ATTEST_VERDICT_CLEAN);
	check_refused(t, t->stamped, t->stamped_len, ATTEST_UNKNOWN_KEY);
	stamp(t, t->other, ATTEST_VERDICT_CLEAN);
	run_txn(t, t->stamped, t->stamped_len);
	assert_int_equal(t->res.proxy, HUB_PROXY_DELIVERED);
}

static void test_mta_answers(void **state)
{
	struct t *t = *state;
	stamp(t, t->signer, ATTEST_VERDICT_CLEAN);

	t->f->rules[0] = (struct fake_rule){".", "452 4.3.1 Insufficient storage\r\n"};
	run_txn(t, t->stamped, t->stamped_len);
	assert_string_equal(t->reply, "451 4.3.0 Internal MTA deferred it: 452 4.3.1 Insufficient "
				      "storage");
	assert_int_equal(t->res.proxy, HUB_PROXY_TEMPFAILED);

	t->f->rules[0] = (struct fake_rule){".", "554 5.6.0 Content refused\r\n"};
	run_txn(t, t->stamped, t->stamped_len);
	assert_string_equal(t->reply, "554 5.6.0 Content refused");
	assert_int_equal(t->res.proxy, HUB_PROXY_REJECTED);
}

static void test_envelope_relayed_live(void **state)
{
	struct t *t = *state;
	stamp(t, t->signer, ATTEST_VERDICT_CLEAN);

	/* Each recipient gets the internal MTA's own verdict, as it comes. */
	t->f->rules[0] =
		(struct fake_rule){"RCPT TO:<c@", "550 5.1.1 <c@example.com>: unknown\r\n"};
	t->f->rules[1] = (struct fake_rule){".", "250 2.0.0 Ok: queued as I2\r\n"};
	assert_memory_equal(mail(t), "250 ", 4);
	assert_memory_equal(rcpt(t, 0), "250 ", 4);
	assert_string_equal(rcpt(t, 1), "550 5.1.1 <c@example.com>: unknown");
	content(t, t->stamped, t->stamped_len, 1);
	assert_string_equal(t->reply, "250 2.0.0 Ok: delivered by the internal MTA (250 2.0.0 Ok: "
				      "queued as I2)");
	hub_envelope_end(t->p, "s1");
	fake_run_ms(t->base, 20);
	char *wire = fake_wire(t->f);
	const char *m = strstr(wire, "MAIL FROM:<a@example.org>");
	assert_non_null(m);
	assert_true(strstr(m, "RCPT TO:<b@") < strstr(m, "RCPT TO:<c@"));
	assert_true(strstr(m, "RCPT TO:<c@") < strstr(m, "DATA\r\n"));
	assert_non_null(strstr(m, "\r\n.\r\n"));
	assert_null(strstr(m, "QUIT")); /* pooled */
	free(wire);
	assert_int_equal(pool(t).idle, 1);

	/* A sender the internal MTA refuses: its reply, and the session is ended. */
	t->f->rules[0] = (struct fake_rule){"MAIL", "553 5.7.1 Sender rejected\r\n"};
	t->f->rules[1] = (struct fake_rule){NULL, NULL};
	assert_string_equal(mail(t), "553 5.7.1 Sender rejected");
	hub_envelope_end(t->p, "s1");
	/* A 421 from the internal MTA does not close the edge's session. */
	t->f->rules[0] = (struct fake_rule){"RCPT", "421 4.3.2 Shutting down\r\n"};
	assert_memory_equal(mail(t), "250", 3);
	assert_string_equal(rcpt(t, 0), "451 4.3.0 Internal MTA closing: 421 4.3.2 Shutting down");
	/* Nothing usable is left for this transaction. */
	assert_string_equal(rcpt(t, 1), "451 4.4.1 Internal MTA unavailable");
	hub_envelope_end(t->p, "s1");
}

static void test_mta_hangs(void **state)
{
	struct t *t = *state;
	hub_proxy_free(t->p);
	t->p = proxy_new(t, 1);
	hub_proxy_set_trust(t->p, trust_of(t->signer));
	stamp(t, t->signer, ATTEST_VERDICT_CLEAN);
	t->f->rules[0] = (struct fake_rule){".", FAKE_SILENT};
	long long t0 = fake_now_ms();
	run_txn(t, t->stamped, t->stamped_len);
	long long dt = fake_now_ms() - t0;
	assert_memory_equal(t->reply, "451 4.4.1 Internal MTA unavailable: ", 36);
	assert_int_equal(t->res.proxy, HUB_PROXY_TEMPFAILED);
	assert_true(dt >= 900 && dt < 5000);
}

static void test_mta_down(void **state)
{
	struct t *t = *state;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);

	/* A loopback port nobody listens on. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	struct hub_proxy_opts o = {
		.mta = (struct sockaddr *)&sin,
		.mta_len = sizeof(sin),
		.helo_name = "hub.test",
		.timeout_s = 2,
		.max_age = 3600,
		.max_skew = 60,
	};
	hub_proxy_free(t->p);
	t->p = hub_proxy_new(t->base, &o, on_result, t);
	hub_proxy_set_trust(t->p, trust_of(t->signer));
	assert_memory_equal(mail(t), "451 4.4.1 Internal MTA unavailable: ", 36);
	hub_envelope_end(t->p, "s1");
}

/* A delivered transaction on a fresh stamp; asserts it was delivered. */
static void delivered_txn(struct t *t)
{
	stamp(t, t->signer, ATTEST_VERDICT_CLEAN);
	run_txn(t, t->stamped, t->stamped_len);
	assert_int_equal(t->res.proxy, HUB_PROXY_DELIVERED);
	assert_memory_equal(t->reply, "250 ", 4);
}

static void test_duplicate_not_delivered_again(void **state)
{
	struct t *t = *state;
	struct hub_proxy_opts o = {
		.mta = (struct sockaddr *)&t->f->addr,
		.mta_len = sizeof(t->f->addr),
		.helo_name = "hub.test",
		.timeout_s = 5,
		.max_age = 3600,
		.max_skew = 60,
		.duplicate_window_s = 3600,
	};
	struct hub_proxy *p = hub_proxy_new(t->base, &o, on_result, t);
	assert_non_null(p);
	proxy_replace(t, p);

	delivered_txn(t);
	assert_int_equal(t->f->messages, 1);
	/* The edge retries it (it never saw our 250): answered 250, not delivered again. */
	stamp(t, t->signer, ATTEST_VERDICT_CLEAN);
	run_txn(t, t->stamped, t->stamped_len);
	assert_string_equal(t->reply, "250 2.0.0 Ok: already delivered (Q1), not delivered again");
	assert_int_equal(t->res.attest, ATTEST_OK);
	assert_int_equal(t->res.proxy, HUB_PROXY_DUPLICATE);
	assert_int_equal(t->f->messages, 1);
	/* A retry to one recipient only is another transaction: delivered, after an RSET. */
	assert_memory_equal(mail(t), "250", 3);
	assert_memory_equal(rcpt(t, 0), "250", 3);
	content(t, t->stamped, t->stamped_len, 1);
	hub_envelope_end(t->p, "s1");
	assert_int_equal(t->res.proxy, HUB_PROXY_DELIVERED);
	assert_int_equal(t->f->messages, 2);
	assert_true(wire_has(t, "RSET"));
	/* A tampered retry is still refused, never taken for a duplicate. */
	stamp(t, t->signer, ATTEST_VERDICT_CLEAN);
	t->stamped[t->stamped_len - 3] ^= 1;
	run_txn(t, t->stamped, t->stamped_len);
	assert_memory_equal(t->reply, "550 5.7.1 Scan attestation refused: body", 40);
	assert_int_equal(t->res.attest, ATTEST_BODY_MISMATCH);
	assert_int_equal(t->f->messages, 2);
}

static void test_pool_reuses_sessions(void **state)
{
	struct t *t = *state;

	delivered_txn(t);
	assert_int_equal(pool(t).idle, 1);
	delivered_txn(t);
	delivered_txn(t);
	/* Three messages, one connect, greeting and EHLO; no RSET: each end of data reset it. */
	assert_int_equal(t->f->accepted, 1);
	assert_int_equal(t->f->messages, 3);
	assert_int_equal(quits(t), 0);
	struct hub_pool_stats st = pool(t);
	assert_int_equal(st.opened, 1);
	assert_int_equal(st.reused, 2);
	assert_int_equal(st.idle, 1);
	char *w = fake_wire(t->f);
	const char *first = strstr(w, "EHLO");
	assert_non_null(first);
	assert_null(strstr(first + 1, "EHLO"));
	assert_non_null(strstr(w, ".\r\nMAIL FROM:<a@example.org>"));
	assert_null(strstr(w, "RSET"));
	free(w);

	/* Freeing the proxy ends the idle session politely. */
	hub_proxy_free(t->p);
	t->p = NULL;
	RUN_UNTIL(t->base, quits(t) == 1, 2000);
	assert_int_equal(quits(t), 1);
}

static void test_pool_session_closed_while_idle(void **state)
{
	struct t *t = *state;

	delivered_txn(t);
	assert_int_equal(pool(t).idle, 1);
	/* The internal MTA ends the idle session (its idle timeout): it leaves the pool. */
	for (int i = 0; i < FAKE_CONNS; i++)
		if (t->f->conns[i])
			fake_conn_free(t->f->conns[i]);
	RUN_UNTIL(t->base, pool(t).idle == 0, 2000);
	assert_int_equal(pool(t).idle, 0);
	delivered_txn(t);
	assert_int_equal(t->f->accepted, 2);
	assert_int_equal(pool(t).reused, 0);

	/* The same with a 421 before it goes (the session stays open, but is unusable). */
	for (int i = 0; i < FAKE_CONNS; i++)
		if (t->f->conns[i])
			bufferevent_write(t->f->conns[i]->bev, "421 4.4.2 Idle timeout\r\n", 24);
	RUN_UNTIL(t->base, pool(t).idle == 0, 2000);
	assert_int_equal(pool(t).idle, 0);
	delivered_txn(t);
	assert_int_equal(t->f->accepted, 3);
	assert_int_equal(pool(t).reused, 0);
}

static void test_pool_stale_session_retried(void **state)
{
	struct t *t = *state;

	delivered_txn(t);
	/*
	 * An envelope the edge abandons (MAIL, then the session ends) leaves
	 * the session pooled with the MTA still holding that MAIL: the next
	 * transaction on it begins with RSET. The session dies right then (the
	 * MTA drops it at the RSET): the edge's MAIL still succeeds, on a fresh
	 * session, and so does the whole transaction.
	 */
	assert_memory_equal(mail(t), "250", 3);
	hub_envelope_end(t->p, "s1");
	assert_int_equal(pool(t).idle, 1);
	t->f->rules[0] = (struct fake_rule){"RSET", FAKE_DROP};
	delivered_txn(t);
	assert_int_equal(t->f->accepted, 2);
	assert_int_equal(t->f->messages, 2);
	assert_int_equal(pool(t).opened, 2);
	assert_int_equal(pool(t).idle, 1);
	char *w = fake_wire(t->f);
	assert_non_null(strstr(w, "RSET\r\n"));
	free(w);

	/* Dropped at the MAIL itself (after the RSET): also retried. */
	t->f->rules[0] = (struct fake_rule){"MAIL", FAKE_DROP};
	t->f->rules[1] = (struct fake_rule){NULL, NULL};
	int n = 0;
	for (int i = 0; i < FAKE_CONNS; i++)
		n += t->f->conns[i] != NULL;
	assert_int_equal(n, 1);
	/* ... but only once: the fresh session fails the same way, and that is the answer. */
	assert_memory_equal(mail(t), "451 4.4.1 Internal MTA unavailable: ", 36);
	hub_envelope_end(t->p, "s1");
	assert_int_equal(t->f->accepted, 3);
	assert_int_equal(pool(t).idle, 0);
	/* A fresh session that fails is never retried. */
	assert_memory_equal(mail(t), "451 4.4.1 Internal MTA unavailable: ", 36);
	hub_envelope_end(t->p, "s1");
	assert_int_equal(t->f->accepted, 4);

	/* A 421 to the RSET of a pooled session: retried too. */
	t->f->rules[0] = (struct fake_rule){NULL, NULL};
	delivered_txn(t);
	assert_memory_equal(mail(t), "250", 3);
	hub_envelope_end(t->p, "s1");
	t->f->rules[0] = (struct fake_rule){"RSET", "421 4.3.2 Closing\r\n"};
	delivered_txn(t);
	assert_int_equal(t->f->accepted, 6);
}

static void test_pool_failed_session_not_pooled(void **state)
{
	struct t *t = *state;

	/* 4xx at end of data: the edge gets 451, the session is closed, not pooled. */
	stamp(t, t->signer, ATTEST_VERDICT_CLEAN);
	t->f->rules[0] = (struct fake_rule){".", "451 4.3.0 Try later\r\n"};
	run_txn(t, t->stamped, t->stamped_len);
	assert_int_equal(t->res.proxy, HUB_PROXY_TEMPFAILED);
	assert_int_equal(pool(t).idle, 0);
	t->f->rules[0] = (struct fake_rule){NULL, NULL};
	delivered_txn(t);
	assert_int_equal(t->f->accepted, 2);
	assert_int_equal(pool(t).reused, 0);

	/* A timeout at end of data: closed too, the next transaction opens a new one. */
	proxy_replace(t, proxy_new(t, 1));
	stamp(t, t->signer, ATTEST_VERDICT_CLEAN);
	t->f->rules[0] = (struct fake_rule){".", FAKE_SILENT};
	run_txn(t, t->stamped, t->stamped_len);
	assert_memory_equal(t->reply, "451 4.4.1 Internal MTA unavailable: ", 36);
	assert_int_equal(pool(t).idle, 0);
	t->f->rules[0] = (struct fake_rule){NULL, NULL};
	unsigned before = t->f->accepted;
	delivered_txn(t);
	assert_int_equal(t->f->accepted, before + 1);

	/* A timeout on a pooled session's MAIL is not retried: the MTA is slow, not gone. */
	t->f->rules[0] = (struct fake_rule){"MAIL", FAKE_SILENT};
	before = t->f->accepted;
	assert_memory_equal(mail(t), "451 4.4.1 Internal MTA unavailable: timeout", 43);
	hub_envelope_end(t->p, "s1");
	assert_int_equal(t->f->accepted, before);
	assert_int_equal(pool(t).idle, 0);
}

static void test_pool_idle_timeout(void **state)
{
	struct t *t = *state;

	proxy_replace(t, proxy_new_pool(t, 2, 0, 300, 0));
	delivered_txn(t);
	assert_int_equal(pool(t).idle, 1);
	long long t0 = fake_now_ms();
	RUN_UNTIL(t->base, pool(t).idle == 0, 3000);
	long long dt = fake_now_ms() - t0;
	assert_int_equal(pool(t).idle, 0);
	assert_true(dt >= 200 && dt < 2000);
	RUN_UNTIL(t->base, quits(t) == 1, 2000);
	assert_int_equal(quits(t), 1);
	delivered_txn(t);
	assert_int_equal(t->f->accepted, 2);
}

static void test_pool_retirement(void **state)
{
	struct t *t = *state;

	/* Three transactions per session: the third ends with QUIT, the fourth opens a new one. */
	proxy_replace(t, proxy_new_pool(t, 2, 0, 0, 3));
	delivered_txn(t);
	delivered_txn(t);
	delivered_txn(t);
	RUN_UNTIL(t->base, quits(t) == 1, 2000);
	assert_int_equal(quits(t), 1);
	assert_int_equal(pool(t).idle, 0);
	assert_int_equal(t->f->accepted, 1);
	delivered_txn(t);
	assert_int_equal(t->f->accepted, 2);
	assert_int_equal(pool(t).opened, 2);
	assert_int_equal(pool(t).reused, 2);
}

static void test_pool_bounded(void **state)
{
	struct t *t = *state;
	struct smtp_addr f2 = {0}, r2 = {0};
	struct smtp_txn_info i2;

	/* Two transactions at once need two sessions; only one stays idle (idle_max 1). */
	proxy_replace(t, proxy_new_pool(t, 2, 1, 0, 0));
	snprintf(f2.mailbox, sizeof(f2.mailbox), "x@example.org");
	snprintf(r2.mailbox, sizeof(r2.mailbox), "y@example.com");
	i2 = (struct smtp_txn_info){.session_id = "s2", .client_addr = "192.0.2.9", .from = &f2};
	assert_memory_equal(mail(t), "250", 3);
	int before = t->steps;
	hub_mail_async(t->p, &i2, on_step, t);
	RUN_UNTIL(t->base, t->steps > before, 4000);
	assert_memory_equal(t->step_reply, "250", 3);
	assert_int_equal(t->f->accepted, 2);
	hub_envelope_end(t->p, "s1");
	hub_envelope_end(t->p, "s2");
	RUN_UNTIL(t->base, quits(t) == 1, 2000);
	assert_int_equal(quits(t), 1);
	assert_int_equal(pool(t).idle, 1);
	/* The most recently used one (s2's) is taken next: its MAIL follows its RSET. */
	assert_memory_equal(mail(t), "250", 3);
	hub_envelope_end(t->p, "s1");
	assert_int_equal(t->f->accepted, 2);
	assert_int_equal(pool(t).reused, 1);

	/* With room for both: the most recently used one is taken first. */
	proxy_replace(t, proxy_new_pool(t, 2, 2, 0, 0));
	RUN_UNTIL(t->base, !t->f->conns[0] && !t->f->conns[1], 2000);
	assert_memory_equal(mail(t), "250", 3);
	struct fake_conn *a = t->f->conns[0];
	assert_non_null(a);
	before = t->steps;
	hub_mail_async(t->p, &i2, on_step, t);
	RUN_UNTIL(t->base, t->steps > before, 4000);
	struct fake_conn *b = t->f->conns[1];
	assert_non_null(b);
	hub_envelope_end(t->p, "s1");
	hub_envelope_end(t->p, "s2"); /* b ends last */
	fake_run_ms(t->base, 20);
	assert_int_equal(pool(t).idle, 2);
	size_t la = a->lines, lb = b->lines;
	assert_memory_equal(mail(t), "250", 3);
	assert_int_equal(a->lines, la);
	assert_int_equal(b->lines, lb + 2); /* RSET, MAIL */
	hub_envelope_end(t->p, "s1");
	assert_int_equal(pool(t).idle, 2);
}

static void test_reply_mapping(void **state)
{
	struct smtp_client_result r = {.code = 250, .stage = SMTP_CLIENT_STAGE_DOT};
	char out[64];
	(void)state;

	snprintf(r.reply, sizeof(r.reply), "250 ok\r\nINJECTED");
	assert_int_equal(hub_reply_map(&r, out, sizeof(out)), HUB_PROXY_DELIVERED);
	assert_null(strchr(out, '\r'));
	assert_null(strchr(out, '\n'));
	assert_true(strlen(out) < sizeof(out));
	/* A 2xx that is not the content's (cannot happen, but is not delivery). */
	r.stage = SMTP_CLIENT_STAGE_DATA;
	assert_int_equal(hub_reply_map(&r, out, sizeof(out)), HUB_PROXY_TEMPFAILED);
	/* A local failure (no reply at all) is temporary. */
	r = (struct smtp_client_result){.code = 0, .temporary = true};
	snprintf(r.reply, sizeof(r.reply), "connect: refused");
	assert_int_equal(hub_reply_map(&r, out, sizeof(out)), HUB_PROXY_TEMPFAILED);
	assert_string_equal(out, "451 4.4.1 Internal MTA unavailable: connect: refused");
	/* A 5xx whose text does not start with its code is not passed on as it is. */
	r = (struct smtp_client_result){.code = 550, .stage = SMTP_CLIENT_STAGE_DOT};
	snprintf(r.reply, sizeof(r.reply), "local: 552 too big");
	assert_int_equal(hub_reply_map(&r, out, sizeof(out)), HUB_PROXY_REJECTED);
	assert_memory_equal(out, "554 5.0.0 ", 10);

	hub_reply_step(250, "250 2.1.5 Ok", out, sizeof(out));
	assert_string_equal(out, "250 2.1.5 Ok");
	hub_reply_step(550, "550 5.1.1 No such user", out, sizeof(out));
	assert_string_equal(out, "550 5.1.1 No such user");
	hub_reply_step(452, "452 4.5.3 Too many", out, sizeof(out));
	assert_string_equal(out, "452 4.5.3 Too many");
	hub_reply_step(0, "timeout", out, sizeof(out));
	assert_string_equal(out, "451 4.4.1 Internal MTA unavailable: timeout");
	hub_reply_step(421, "421 4.3.2 Bye", out, sizeof(out));
	assert_string_equal(out, "451 4.3.0 Internal MTA closing: 421 4.3.2 Bye");
	hub_reply_step(553, "553 x\x01y", out, sizeof(out));
	assert_string_equal(out, "553 x?y");

	hub_reply_attest(ATTEST_STALE, "stale (key k, t=1)", out, sizeof(out));
	assert_string_equal(out, "550 5.7.1 Scan attestation refused: stale (key k, t=1)");
	hub_reply_attest(ATTEST_MISSING, "", out, sizeof(out));
	assert_string_equal(out, "550 5.7.1 Scan attestation refused: missing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid_stamp_is_proxied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_stamps_never_reach_the_mta, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_trust_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mta_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_relayed_live, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mta_hangs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mta_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_not_delivered_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_reuses_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_session_closed_while_idle, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_stale_session_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_failed_session_not_pooled, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_retirement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_bounded, setup, teardown),
		cmocka_unit_test(test_reply_mapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

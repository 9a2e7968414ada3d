/*
 * The hub's live proxy to the internal MTA: an internal session per
 * transaction, taken from the idle pool (most recently used first) or
 * opened at MAIL, and put back into the pool when the transaction ends in a
 * known-good state; the message held in a memfd and its attestation checked
 * before the content goes on. See hub_proxy.h.
 */
#include "relay/hub/hub_proxy.h"
#include "relay/hub/hub_dedupe.h"

#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

struct hub_env;

/* An idle internal session in the pool. */
struct idle_sess {
	struct smtp_client_conn *conn;
	unsigned uses;	    /* transactions it carried */
	long long since_ms; /* idle since (monotonic) */
};

struct hub_proxy {
	struct event_base *base;
	struct sockaddr_storage mta;
	socklen_t mta_len;
	char *helo_name;
	struct hub_proxy_opts o;
	struct attest_trust *trust;
	hub_proxy_result_fn cb;
	void *cb_arg;
	struct hub_env *envs; /* open transactions, one per session at most */
	unsigned refs;	      /* envelopes and transactions alive; freed after the last */
	bool dead;
	/* The idle pool: idle[0] the oldest, idle[nidle - 1] the most recently used. */
	struct idle_sess idle[HUB_IDLE_CAP];
	size_t nidle;
	struct event *idle_timer; /* the oldest idle session's idle timeout */
	uint64_t opened, reused;
	struct hub_dedupe *dedupe; /* NULL: off */
	hub_proxy_stats_fn stats_cb;
	void *stats_arg;
};

/* One transaction's internal session, from MAIL to envelope_end. */
struct hub_env {
	struct hub_proxy *p;
	struct hub_env *next;
	char session[32];
	struct smtp_client_conn *conn;
	unsigned uses;	   /* transactions conn carried before this one */
	bool reused;	   /* conn came from the idle pool */
	bool retried;	   /* MAIL was retried on a fresh session once */
	bool mail_waiting; /* the step in flight is the MAIL */
	/* The edge's MAIL or RCPT waiting for the internal MTA. */
	smtp_txn_done_fn reply;
	void *cookie;
	char *from;
	uint64_t size;
	bool smtputf8, eightbit;
	struct hub_txn *txn;
	bool ended; /* envelope_end came while something was pending */
};

/* The content of one transaction. */
struct hub_txn {
	struct hub_proxy *p;
	struct hub_env *env;
	char session[32];
	char peer[64];
	int fd; /* memfd holding the message as the engine wrote it */
	uint64_t size;
	struct attest_stream as;
	smtp_txn_done_fn done;
	void *cookie;
	unsigned char envelope[HUB_DEDUPE_DIGEST]; /* hub_dedupe_envelope() */
	unsigned char digest[HUB_DEDUPE_DIGEST];   /* the whole transaction, once verified */
	bool has_digest;
};

static void idle_timer_cb(evutil_socket_t fd, short what, void *arg);

struct hub_proxy *hub_proxy_new(struct event_base *base, const struct hub_proxy_opts *o,
				hub_proxy_result_fn cb, void *arg)
{
	struct hub_proxy *p = calloc(1, sizeof(*p));
	if (!p || o->mta_len > sizeof(p->mta) || !(p->helo_name = strdup(o->helo_name)) ||
	    !(p->idle_timer = evtimer_new(base, idle_timer_cb, p))) {
		if (p)
			free(p->helo_name);
		free(p);
		return NULL;
	}
	p->base = base;
	memcpy(&p->mta, o->mta, o->mta_len);
	p->mta_len = o->mta_len;
	p->o = *o;
	p->o.mta = (struct sockaddr *)&p->mta;
	p->o.helo_name = p->helo_name;
	if (!p->o.idle_max)
		p->o.idle_max = HUB_IDLE_MAX;
	if (p->o.idle_max > HUB_IDLE_CAP)
		p->o.idle_max = HUB_IDLE_CAP;
	if (!p->o.idle_timeout_ms)
		p->o.idle_timeout_ms = HUB_IDLE_TIMEOUT_MS;
	if (!p->o.max_uses)
		p->o.max_uses = HUB_SESSION_MAX_USES;
	if (o->duplicate_window_s &&
	    !(p->dedupe = hub_dedupe_new(o->duplicate_memory ? o->duplicate_memory
							     : HUB_DUPLICATE_MEMORY,
					 o->duplicate_window_s))) {
		event_free(p->idle_timer);
		free(p->helo_name);
		free(p);
		return NULL;
	}
	p->cb = cb;
	p->cb_arg = arg;
	return p;
}

/* ---- the idle pool ------------------------------------------------------------------- */

static void stats_changed(struct hub_proxy *p)
{
	if (!p->dead && p->stats_cb)
		p->stats_cb(p->stats_arg);
}

/* Arms the idle timer for the oldest idle session, or stops it. */
static void pool_arm(struct hub_proxy *p)
{
	if (p->nidle == 0) {
		evtimer_del(p->idle_timer);
		return;
	}
	long long left = p->idle[0].since_ms + (long long)p->o.idle_timeout_ms - clock_mono_ms();
	if (left < 0)
		left = 0;
	struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
	evtimer_add(p->idle_timer, &tv);
}

/* Takes entry i out of the pool; returns its connection (no longer watched). */
static struct smtp_client_conn *pool_remove(struct hub_proxy *p, size_t i)
{
	struct smtp_client_conn *c = p->idle[i].conn;

	smtp_client_conn_watch_idle(c, NULL, NULL);
	memmove(&p->idle[i], &p->idle[i + 1], (p->nidle - i - 1) * sizeof(p->idle[0]));
	p->nidle--;
	return c;
}

/* The internal MTA ended an idle session (closed it, 421): it leaves the pool. */
static void pool_lost(void *arg, struct smtp_client_conn *conn)
{
	struct hub_proxy *p = arg;

	for (size_t i = 0; i < p->nidle; i++) {
		if (p->idle[i].conn == conn) {
			pool_remove(p, i);
			break;
		}
	}
	log_debug("event=hub-internal-idle-closed idle=%zu", p->nidle);
	smtp_client_conn_free(conn);
	pool_arm(p);
	stats_changed(p);
}

static void idle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hub_proxy *p = arg;
	long long now = clock_mono_ms();

	(void)fd;
	(void)what;
	while (p->nidle > 0 && p->idle[0].since_ms + (long long)p->o.idle_timeout_ms <= now)
		smtp_client_conn_quit(pool_remove(p, 0));
	pool_arm(p);
	stats_changed(p);
}

/*
 * Ends a transaction's internal session: into the pool when it is ready for
 * the next one (the oldest idle session makes room), else QUIT (a busy or
 * dead one is freed at once). uses counts the transactions it carried.
 */
static void pool_put(struct hub_proxy *p, struct smtp_client_conn *c, unsigned uses)
{
	if (p->dead || !smtp_client_conn_usable(c) || uses >= p->o.max_uses) {
		smtp_client_conn_quit(c);
		return;
	}
	if (p->nidle >= p->o.idle_max)
		smtp_client_conn_quit(pool_remove(p, 0));
	p->idle[p->nidle++] = (struct idle_sess){c, uses, clock_mono_ms()};
	smtp_client_conn_watch_idle(c, pool_lost, p);
	pool_arm(p);
	stats_changed(p);
}

/* The most recently used idle session that is still usable, or NULL. */
static struct smtp_client_conn *pool_take(struct hub_proxy *p, unsigned *uses)
{
	struct smtp_client_conn *c = NULL;

	while (!c && p->nidle > 0) {
		*uses = p->idle[p->nidle - 1].uses;
		c = pool_remove(p, p->nidle - 1);
		if (!smtp_client_conn_usable(c)) {
			smtp_client_conn_free(c);
			c = NULL;
		}
	}
	pool_arm(p);
	return c;
}

static void pool_drain(struct hub_proxy *p)
{
	while (p->nidle > 0)
		smtp_client_conn_quit(pool_remove(p, p->nidle - 1));
	evtimer_del(p->idle_timer);
}

void hub_proxy_set_stats_cb(struct hub_proxy *p, hub_proxy_stats_fn fn, void *arg)
{
	p->stats_cb = fn;
	p->stats_arg = arg;
}

void hub_proxy_get_stats(const struct hub_proxy *p, struct hub_pool_stats *out)
{
	out->opened = p->opened;
	out->reused = p->reused;
	out->idle = (uint32_t)p->nidle;
}

static void proxy_unref(struct hub_proxy *p)
{
	p->refs--;
	if (!p->dead || p->refs > 0)
		return;
	attest_trust_free(p->trust);
	hub_dedupe_free(p->dedupe);
	free(p->helo_name);
	free(p);
}

void hub_proxy_free(struct hub_proxy *p)
{
	if (!p)
		return;
	p->dead = true;
	pool_drain(p);
	event_free(p->idle_timer);
	p->idle_timer = NULL;
	p->refs++;
	proxy_unref(p);
}

void hub_proxy_set_trust(struct hub_proxy *p, struct attest_trust *t)
{
	/* Verification is synchronous inside hub_txn_end: nothing holds the old set. */
	attest_trust_free(p->trust);
	p->trust = t;
}

size_t hub_proxy_trust_count(const struct hub_proxy *p)
{
	return p->trust ? attest_trust_count(p->trust) : 0;
}

/* ---- the envelope -------------------------------------------------------------------- */

static struct hub_env *env_find(struct hub_proxy *p, const char *session)
{
	for (struct hub_env *e = p->envs; e; e = e->next)
		if (strcmp(e->session, session) == 0)
			return e;
	return NULL;
}

/* Ends the transaction's internal session (into the pool when it can carry more) and frees e. */
static void env_free(struct hub_env *e)
{
	struct hub_proxy *p = e->p;
	for (struct hub_env **pp = &p->envs; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	if (e->conn) {
		smtp_client_conn_abandon(e->conn); /* an envelope without content: RSET next */
		pool_put(p, e->conn, e->uses + 1); /* or QUIT; a busy or dead one is freed */
	}
	if (e->txn)
		e->txn->env = NULL;
	free(e->from);
	free(e);
	proxy_unref(p);
}

/* Answers the edge's waiting MAIL or RCPT. */
static void env_answer(struct hub_env *e, int code, const char *line)
{
	char reply[SMTP_CLIENT_REPLY_MAX + 64], q[SMTP_CLIENT_REPLY_MAX + 80];
	smtp_txn_done_fn fn = e->reply;

	hub_reply_step(code, line, reply, sizeof(reply));
	if (code == 0 || code == 421) {
		log_warning("event=hub-internal-failed session=%s reply=%s", e->session,
			    log_quote(q, sizeof(q), reply));
		if (e->conn) {
			smtp_client_conn_free(e->conn); /* unusable now */
			e->conn = NULL;
		}
	}
	e->reply = NULL;
	if (e->ended) {
		env_free(e);
		return;
	}
	fn(e->cookie, reply);
}

static void env_open(struct hub_env *e);

static void env_step(void *arg, struct smtp_client_conn *conn, int code, const char *line)
{
	struct hub_env *e = arg;
	bool was_mail = e->mail_waiting;
	char q[SMTP_CLIENT_REPLY_MAX + 16];

	e->mail_waiting = false;
	if (was_mail && e->reused && !e->retried && !e->ended && smtp_client_conn_lost(conn)) {
		/*
		 * The pooled session was stale (the internal MTA closed or reset it
		 * while it sat idle): nothing of this transaction reached it, so it
		 * starts again on a fresh session, once; the edge sees only that.
		 */
		log_info("event=hub-internal-retry session=%s reason=%s", e->session,
			 log_quote(q, sizeof(q), line));
		smtp_client_conn_free(conn);
		e->conn = NULL;
		e->reused = false;
		e->retried = true;
		env_open(e);
		return;
	}
	env_answer(e, code, line);
}

/* Sends the MAIL on e->conn, ready and idle. */
static void env_start_mail(struct hub_env *e)
{
	e->mail_waiting = true;
	if (smtp_client_conn_mail(e->conn, e->from, e->size, e->smtputf8, e->eightbit, env_step,
				  e) < 0) {
		e->mail_waiting = false;
		env_answer(e, 0, "cannot start the transaction");
	}
}

static void env_ready(void *arg, struct smtp_client_conn *conn, const struct smtp_client_result *r)
{
	struct hub_env *e = arg;

	(void)conn;
	if (r) {
		env_answer(e, 0, r->reply);
		return;
	}
	env_start_mail(e);
}

/* Opens a fresh internal session for e; the MAIL follows once it is ready. */
static void env_open(struct hub_env *e)
{
	struct hub_proxy *p = e->p;
	struct smtp_client_opts co = {
		.helo_name = p->helo_name,
		.tls_mode = SMTP_CLIENT_TLS_NEVER,
		.connect_timeout_s = p->o.timeout_s,
		.greeting_timeout_s = p->o.timeout_s,
		.helo_timeout_s = p->o.timeout_s,
		.mail_timeout_s = p->o.timeout_s,
		.rcpt_timeout_s = p->o.timeout_s,
		.data_init_timeout_s = p->o.timeout_s,
		.data_block_timeout_s = p->o.timeout_s,
		.data_end_timeout_s = p->o.timeout_s,
	};
	e->uses = 0;
	e->conn = smtp_client_conn_new(p->base, (struct sockaddr *)&p->mta, p->mta_len, &co,
				       env_ready, e);
	if (!e->conn) {
		env_answer(e, 0, strerror(errno));
		return;
	}
	p->opened++;
	stats_changed(p);
}

void hub_mail_async(void *ctx, const struct smtp_txn_info *info, smtp_txn_done_fn reply,
		    void *cookie)
{
	struct hub_proxy *p = ctx;
	struct hub_env *e = calloc(1, sizeof(*e));

	if (!e || !(e->from = strdup(info->from->null_path ? "" : info->from->mailbox))) {
		free(e);
		reply(cookie, "451 4.3.0 Out of memory");
		return;
	}
	e->p = p;
	p->refs++;
	snprintf(e->session, sizeof(e->session), "%s", info->session_id);
	e->next = p->envs;
	p->envs = e;
	e->reply = reply;
	e->cookie = cookie;
	e->size = info->declared_size;
	e->smtputf8 = info->smtputf8;
	e->eightbit = info->body == SMTP_BODY_TYPE_8BITMIME;
	unsigned uses = 0;
	if ((e->conn = pool_take(p, &uses))) {
		e->uses = uses;
		e->reused = true;
		p->reused++;
		stats_changed(p);
		env_start_mail(e); /* RSET first: the engine knows the session was used */
		return;
	}
	env_open(e);
}

void hub_rcpt_async(void *ctx, const struct smtp_txn_info *info, const struct smtp_addr *rcpt,
		    smtp_txn_done_fn reply, void *cookie)
{
	struct hub_env *e = env_find(ctx, info->session_id);

	if (!e || !e->conn) {
		reply(cookie, "451 4.4.1 Internal MTA unavailable");
		return;
	}
	e->reply = reply;
	e->cookie = cookie;
	if (smtp_client_conn_rcpt(e->conn, rcpt->mailbox, env_step, e) < 0)
		env_answer(e, 0, "the internal session is not usable");
}

void hub_envelope_end(void *ctx, const char *session_id)
{
	struct hub_env *e = env_find(ctx, session_id);

	if (!e)
		return;
	if (e->reply || e->txn) {
		e->ended = true; /* freed when what is pending completes */
		return;
	}
	env_free(e);
}

/* ---- the content --------------------------------------------------------------------- */

static void txn_free(struct hub_txn *t)
{
	struct hub_proxy *p = t->p;
	struct hub_env *e = t->env;

	if (t->fd >= 0)
		close(t->fd);
	free(t);
	if (e) {
		e->txn = NULL;
		if (e->ended)
			env_free(e);
	}
	proxy_unref(p);
}

/* The sender and accepted recipients, for the duplicate check at the end. */
static void txn_envelope_digest(struct hub_txn *t, const struct smtp_txn_info *info)
{
	const char *few[64] = {NULL}, **rcpts = few;
	if (info->nrcpts > 64 && !(rcpts = malloc(info->nrcpts * sizeof(*rcpts))))
		return; /* no digest: checked and remembered as nothing */
	for (size_t i = 0; i < info->nrcpts; i++)
		rcpts[i] = info->rcpts[i].mailbox;
	hub_dedupe_envelope(info->from ? info->from->mailbox : "", rcpts, info->nrcpts,
			    t->envelope);
	t->has_digest = true; /* of the envelope, until hub_txn_end */
	if (rcpts != few)
		free(rcpts);
}

void *hub_txn_begin(void *ctx, const struct smtp_txn_info *info, const char **reply)
{
	struct hub_proxy *p = ctx;
	struct hub_env *e = env_find(p, info->session_id);
	struct hub_txn *t;

	if (!e || !e->conn || e->txn) {
		*reply = "451 4.4.1 Internal MTA unavailable";
		return NULL;
	}
	if (!(t = calloc(1, sizeof(*t)))) {
		*reply = "451 4.3.0 Out of memory";
		return NULL;
	}
	t->p = p;
	p->refs++;
	t->env = e;
	e->txn = t;
	snprintf(t->session, sizeof(t->session), "%s", info->session_id);
	snprintf(t->peer, sizeof(t->peer), "%s", info->client_addr);
	t->fd = memfd_create("airlock-hub-message", MFD_CLOEXEC);
	if (t->fd < 0) {
		log_error("event=hub-txn-error session=%s reason=\"memfd: %s\"", t->session,
			  strerror(errno));
		txn_free(t);
		*reply = "451 4.3.0 Cannot hold the message";
		return NULL;
	}
	attest_stream_init(&t->as);
	if (p->dedupe)
		txn_envelope_digest(t, info);
	return t;
}

int hub_txn_write(void *txn, const char *data, size_t len)
{
	struct hub_txn *t = txn;

	attest_stream_update(&t->as, data, len);
	while (len > 0) {
		ssize_t n = write(t->fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error("event=hub-txn-error session=%s reason=\"memfd: %s\"", t->session,
				  strerror(errno));
			return -1;
		}
		data += n;
		len -= (size_t)n;
		t->size += (uint64_t)n;
	}
	return 0;
}

void hub_txn_abort(void *txn)
{
	txn_free(txn);
}

static void txn_finish(struct hub_txn *t, enum attest_result a, enum hub_proxy_outcome o,
		       const char *reply)
{
	struct hub_proxy *p = t->p;
	struct hub_result res = {a, o};
	char q[700];

	log_info("event=hub-message session=%s client=%s size=%llu attestation=%s proxy=%s "
		 "reply=%s",
		 t->session, t->peer, (unsigned long long)t->size, attest_result_name(a),
		 hub_proxy_outcome_name(o), log_quote(q, sizeof(q), reply));
	if (!p->dead && p->cb)
		p->cb(p->cb_arg, &res);
	smtp_txn_done_fn done = t->done;
	void *cookie = t->cookie;
	txn_free(t);
	done(cookie, reply);
}

static void content_done(void *arg, struct smtp_client_conn *conn,
			 const struct smtp_client_result *r)
{
	struct hub_txn *t = arg;
	char reply[SMTP_CLIENT_REPLY_MAX + 64];
	enum hub_proxy_outcome o = hub_reply_map(r, reply, sizeof(reply));
	if (o == HUB_PROXY_DELIVERED && t->has_digest && t->p->dedupe)
		hub_dedupe_add(t->p->dedupe, t->digest, (int64_t)time(NULL));

	if (t->env && (!smtp_client_conn_usable(conn) || o == HUB_PROXY_TEMPFAILED)) {
		/* A failed transaction does not leave its session for the next one. */
		smtp_client_conn_free(conn);
		t->env->conn = NULL;
	}
	txn_finish(t, ATTEST_OK, o, reply);
}

void hub_txn_end(void *txn, smtp_txn_done_fn done, void *cookie)
{
	struct hub_txn *t = txn;
	struct hub_proxy *p = t->p;
	struct attest_stamp st;
	char err[256] = "", reply[600];
	struct attest_verify_opts vo = {
		.now = (int64_t)time(NULL),
		.max_age = p->o.max_age,
		.max_skew = p->o.max_skew,
		.accept_unscanned = p->o.accept_unscanned,
	};

	t->done = done;
	t->cookie = cookie;
	enum attest_result a = ATTEST_UNKNOWN_KEY;
	if (p->trust)
		a = attest_stream_verify(&t->as, p->trust, &vo, &st, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "no trusted keys loaded");
	if (a != ATTEST_OK) {
		/* The internal transaction is abandoned: RSET or QUIT, never the content. */
		if (t->env && t->env->conn)
			smtp_client_conn_abandon(t->env->conn);
		hub_reply_attest(a, err, reply, sizeof(reply));
		txn_finish(t, a, HUB_PROXY_NONE, reply);
		return;
	}
	log_info("event=hub-attestation session=%s result=ok id=%s key=%s verdict=%s", t->session,
		 st.id, st.key_id, attest_verdict_name(st.verdict));
	if (t->has_digest && p->dedupe) {
		hub_dedupe_digest(&st, t->envelope, t->digest);
		if (hub_dedupe_seen(p->dedupe, t->digest, vo.now)) {
			/* Our 250 for it was lost on the way to the edge: not a second time. */
			if (t->env && t->env->conn)
				smtp_client_conn_abandon(t->env->conn);
			log_info("event=hub-duplicate session=%s id=%s key=%s", t->session, st.id,
				 st.key_id);
			snprintf(reply, sizeof(reply),
				 "250 2.0.0 Ok: already delivered (%s), not delivered again",
				 st.id);
			txn_finish(t, ATTEST_OK, HUB_PROXY_DUPLICATE, reply);
			return;
		}
	}
	if (!t->env || !t->env->conn ||
	    smtp_client_conn_content(t->env->conn, t->fd, 0, t->size, content_done, t) < 0)
		txn_finish(t, ATTEST_OK, HUB_PROXY_TEMPFAILED,
			   "451 4.4.1 Internal MTA unavailable: the internal session was lost");
}

/*
 * The hub's transaction sink: memfd + attestation stream, then the internal
 * MTA over the SMTP client engine. See hub_proxy.h.
 */
#include "relay/hub/hub_proxy.h"

#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

struct hub_proxy {
	struct event_base *base;
	struct sockaddr_storage mta;
	socklen_t mta_len;
	char *helo_name;
	struct hub_proxy_opts o;
	struct attest_trust *trust;
	hub_proxy_result_fn cb;
	void *cb_arg;
	unsigned ntxn; /* transactions alive; the proxy is freed after the last */
	bool dead;
};

struct hub_txn {
	struct hub_proxy *p;
	char session[32];
	char peer[64];
	int fd; /* memfd holding the message as the engine wrote it */
	uint64_t size;
	bool write_failed;
	struct attest_stream as;
	char *from;
	char **rcpts;
	size_t nrcpts;
	bool smtputf8, eightbit;
	struct smtp_client_conn *conn;
	smtp_txn_done_fn done;
	void *cookie;
};

struct hub_proxy *hub_proxy_new(struct event_base *base, const struct hub_proxy_opts *o,
				hub_proxy_result_fn cb, void *arg)
{
	struct hub_proxy *p = calloc(1, sizeof(*p));
	if (!p || o->mta_len > sizeof(p->mta) || !(p->helo_name = strdup(o->helo_name))) {
		free(p);
		return NULL;
	}
	p->base = base;
	memcpy(&p->mta, o->mta, o->mta_len);
	p->mta_len = o->mta_len;
	p->o = *o;
	p->o.mta = (struct sockaddr *)&p->mta;
	p->o.helo_name = p->helo_name;
	p->cb = cb;
	p->cb_arg = arg;
	return p;
}

static void proxy_release(struct hub_proxy *p)
{
	if (!p->dead || p->ntxn > 0)
		return;
	attest_trust_free(p->trust);
	free(p->helo_name);
	free(p);
}

void hub_proxy_free(struct hub_proxy *p)
{
	if (!p)
		return;
	p->dead = true;
	proxy_release(p);
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

/* ---- replies --------------------------------------------------------------------- */

/* Copies text into out, replacing anything but printable ASCII by '?'. */
static void copy_printable(char *out, size_t outsz, const char *text)
{
	size_t i = 0;
	for (; text[i] && i + 1 < outsz; i++) {
		unsigned char ch = (unsigned char)text[i];
		out[i] = ch >= 0x20 && ch <= 0x7e ? (char)ch : '?';
	}
	if (outsz)
		out[i] = '\0';
}

/* A reply line "NXX ..." (N the wanted class) from the peer, or NULL. */
static const char *reply_of_class(const char *reply, char cls)
{
	if (reply && reply[0] == cls && reply[1] >= '0' && reply[1] <= '9' && reply[2] >= '0' &&
	    reply[2] <= '9' && (reply[3] == ' ' || reply[3] == '\0'))
		return reply;
	return NULL;
}

enum hub_proxy_outcome hub_reply_map(const struct smtp_client_result *r, char *out, size_t outsz)
{
	char text[SMTP_CLIENT_REPLY_MAX];
	char line[SMTP_CLIENT_REPLY_MAX + 64];
	size_t ok = 0, perm = 0;
	const char *first_perm = NULL;

	copy_printable(text, sizeof(text), r->reply);
	for (size_t i = 0; i < r->nrcpts; i++) {
		int cls = r->rcpt_code ? r->rcpt_code[i] / 100 : 0;
		if (cls == 2)
			ok++;
		else if (cls == 5) {
			perm++;
			if (!first_perm && r->rcpt_reply)
				first_perm = r->rcpt_reply[i];
		}
	}
	if (r->delivered && r->nrcpts > 0 && ok == r->nrcpts) {
		snprintf(line, sizeof(line), "250 2.0.0 Ok: delivered by the internal MTA (%s)",
			 text);
		copy_printable(out, outsz, line);
		return HUB_PROXY_DELIVERED;
	}
	if (!r->temporary && r->nrcpts > 0 && ok + perm == r->nrcpts) {
		const char *five = reply_of_class(first_perm, '5');
		if (!five)
			five = reply_of_class(r->reply, '5');
		if (ok > 0)
			snprintf(line, sizeof(line),
				 "550 5.0.0 The internal MTA refused some recipients: %s",
				 five ? five : text);
		else if (five)
			snprintf(line, sizeof(line), "%s", five);
		else
			snprintf(line, sizeof(line), "554 5.0.0 The internal MTA refused it: %s",
				 text);
		copy_printable(out, outsz, line);
		return HUB_PROXY_REJECTED;
	}
	if (r->code == 0)
		snprintf(line, sizeof(line), "451 4.4.1 Internal MTA unavailable: %s", text);
	else
		snprintf(line, sizeof(line), "451 4.3.0 Internal MTA deferred it: %s", text);
	copy_printable(out, outsz, line);
	return HUB_PROXY_TEMPFAILED;
}

void hub_reply_attest(enum attest_result a, const char *detail, char *out, size_t outsz)
{
	char line[512];
	size_t nlen = strlen(attest_result_name(a));
	if (detail && strncmp(detail, attest_result_name(a), nlen) == 0)
		snprintf(line, sizeof(line), "550 5.7.1 Scan attestation refused: %s", detail);
	else if (detail && detail[0])
		snprintf(line, sizeof(line), "550 5.7.1 Scan attestation refused: %s (%s)",
			 attest_result_name(a), detail);
	else
		snprintf(line, sizeof(line), "550 5.7.1 Scan attestation refused: %s",
			 attest_result_name(a));
	copy_printable(out, outsz, line);
}

/* ---- transactions ------------------------------------------------------------------ */

static void txn_free(struct hub_txn *t)
{
	struct hub_proxy *p = t->p;
	if (t->conn)
		smtp_client_conn_free(t->conn);
	if (t->fd >= 0)
		close(t->fd);
	free(t->from);
	for (size_t i = 0; i < t->nrcpts; i++)
		free(t->rcpts[i]);
	free(t->rcpts);
	free(t);
	p->ntxn--;
	proxy_release(p);
}

void *hub_txn_begin(void *ctx, const struct smtp_txn_info *info, const char **reply)
{
	struct hub_proxy *p = ctx;
	struct hub_txn *t = calloc(1, sizeof(*t));

	if (!t) {
		*reply = "451 4.3.0 Out of memory";
		return NULL;
	}
	t->p = p;
	p->ntxn++;
	t->fd = memfd_create("airlock-hub-message", MFD_CLOEXEC);
	snprintf(t->session, sizeof(t->session), "%s", info->session_id);
	snprintf(t->peer, sizeof(t->peer), "%s", info->client_addr);
	t->from = strdup(info->from->null_path ? "" : info->from->mailbox);
	t->rcpts = calloc(info->nrcpts ? info->nrcpts : 1, sizeof(char *));
	bool ok = t->fd >= 0 && t->from && t->rcpts;
	for (size_t i = 0; ok && i < info->nrcpts; i++) {
		ok = (t->rcpts[i] = strdup(info->rcpts[i].mailbox)) != NULL;
		t->nrcpts += ok;
	}
	if (!ok) {
		log_error("event=hub-txn-error session=%s reason=\"%s\"", t->session,
			  t->fd < 0 ? strerror(errno) : "out of memory");
		txn_free(t);
		*reply = "451 4.3.0 Cannot hold the message";
		return NULL;
	}
	t->smtputf8 = info->smtputf8;
	t->eightbit = info->body == SMTP_BODY_TYPE_8BITMIME;
	attest_stream_init(&t->as);
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
			t->write_failed = true;
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

static void client_done(void *arg, struct smtp_client_conn *conn,
			const struct smtp_client_result *r)
{
	struct hub_txn *t = arg;
	char reply[SMTP_CLIENT_REPLY_MAX + 64];
	enum hub_proxy_outcome o = hub_reply_map(r, reply, sizeof(reply));

	t->conn = NULL;
	smtp_client_conn_quit(conn);
	txn_finish(t, ATTEST_OK, o, reply);
}

static void client_ready(void *arg, struct smtp_client_conn *conn,
			 const struct smtp_client_result *r)
{
	struct hub_txn *t = arg;
	char reply[SMTP_CLIENT_REPLY_MAX + 64];

	if (r) {
		enum hub_proxy_outcome o = hub_reply_map(r, reply, sizeof(reply));
		t->conn = NULL;
		smtp_client_conn_free(conn);
		txn_finish(t, ATTEST_OK, o, reply);
		return;
	}
	struct smtp_client_msg m = {
		.from = t->from,
		.rcpts = (const char *const *)t->rcpts,
		.nrcpts = t->nrcpts,
		.fd = t->fd,
		.offset = 0,
		.length = t->size,
		.smtputf8 = t->smtputf8,
		.eightbit = t->eightbit,
	};
	if (smtp_client_conn_send(conn, &m, client_done, t) < 0) {
		t->conn = NULL;
		smtp_client_conn_free(conn);
		txn_finish(t, ATTEST_OK, HUB_PROXY_TEMPFAILED,
			   "451 4.4.1 Internal MTA unavailable: session not usable");
	}
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
		hub_reply_attest(a, err, reply, sizeof(reply));
		txn_finish(t, a, HUB_PROXY_NONE, reply);
		return;
	}
	log_info("event=hub-attestation session=%s result=ok id=%s key=%s verdict=%s", t->session,
		 st.id, st.key_id, attest_verdict_name(st.verdict));
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
	t->conn = smtp_client_conn_new(p->base, (struct sockaddr *)&p->mta, p->mta_len, &co,
				       client_ready, t);
	if (!t->conn)
		txn_finish(t, ATTEST_OK, HUB_PROXY_TEMPFAILED,
			   "451 4.4.1 Internal MTA unavailable: cannot open a connection");
}

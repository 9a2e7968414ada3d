/*
 * The edge's smtp process: SMTP sessions on the inherited listeners, each
 * accepted message written to the spool and acknowledged only once the
 * spool has committed it (file and directory fsynced).
 */
#include "relay/edge/edge_smtp.h"

#include "common/log.h"
#include "relay/attest_keys.h"
#include "relay/ipc.h"
#include "relay/queue_spool.h"
#include "relay/smtp_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

static const char *check_mail(void *ctx, const struct smtp_txn_info *info)
{
	struct edge_smtp *es = ctx;
	(void)info;
	if (!queue_spool_space_ok(es->spool))
		return "452 4.3.1 Insufficient system storage";
	return NULL;
}

static void *txn_begin(void *ctx, const struct smtp_txn_info *info, const char **reply)
{
	struct edge_smtp *es = ctx;
	struct queue_envelope env;
	memset(&env, 0, sizeof(env));
	env.arrived = time(NULL);
	snprintf(env.client_addr, sizeof(env.client_addr), "%s", info->client_addr);
	snprintf(env.helo, sizeof(env.helo), "%s", info->helo ? info->helo : "");
	env.tls = info->tls;
	env.smtputf8 = info->smtputf8;
	env.body = info->body == SMTP_BODY_TYPE_8BITMIME ? QUEUE_BODY_8BITMIME
		   : info->body == SMTP_BODY_TYPE_7BIT	 ? QUEUE_BODY_7BIT
							 : QUEUE_BODY_NONE;
	int bad = queue_envelope_set_from(&env, info->from->null_path ? "" : info->from->mailbox);
	for (size_t i = 0; i < info->nrcpts && !bad; i++)
		bad = queue_envelope_add_rcpt(&env, info->rcpts[i].mailbox);
	char err[256] = "";
	/* With scanning, room for the stamp in front of the content (edge_verdict.c). */
	size_t reserve = es->ctx->cfg.scan.enabled ? EDGE_STAMP_RESERVE : 0;
	struct queue_tx *tx =
		bad ? NULL : queue_tx_begin_reserve(es->spool, &env, reserve, err, sizeof(err));
	if (!tx) {
		queue_envelope_free(&env);
		es->queue_write_errors++;
		log_error("event=queue-error session=%s reason=\"%s\"", info->session_id,
			  bad ? "envelope" : err);
		*reply = "451 4.3.0 Queue write error";
		return NULL;
	}
	struct edge_txn *t = calloc(1, sizeof(*t));
	if (!t)
		fatal("out of memory");
	t->es = es;
	t->tx = tx;
	t->read_fd = -1;
	t->env = env; /* the envelope's strings move to t */
	snprintf(t->first_id, sizeof(t->first_id), "%s", queue_tx_id(tx));
	snprintf(t->session_id, sizeof(t->session_id), "%s", info->session_id);
	if (es->ctx->cfg.scan.enabled)
		attest_stream_init(&t->as);
	return t;
}

static int txn_write(void *txn, const char *data, size_t len)
{
	struct edge_txn *t = txn;
	if (t->es->ctx->cfg.scan.enabled)
		attest_stream_update(&t->as, data, len);
	return queue_tx_write(t->tx, data, len);
}

void edge_txn_free(struct edge_txn *t)
{
	if (t->timer)
		event_free(t->timer);
	if (t->read_fd >= 0)
		close(t->read_fd);
	queue_envelope_free(&t->env);
	free(t);
}

void edge_smtp_committed(void *arg, int ok, const char *id, const char *err)
{
	struct edge_txn *t = arg;
	struct edge_smtp *es = t->es;
	char reply[128];
	if (ok) {
		snprintf(reply, sizeof(reply), "250 2.0.0 Ok: queued as %s", id);
		log_info("event=received id=%s session=%s", id, t->session_id);
		if (es->parent) {
			struct ipc_writer w;
			ipc_writer_init(&w);
			ipc_put_str(&w, id);
			ipc_send_writer(es->parent, EDGE_MSG_COMMITTED, &w, -1);
			ipc_writer_free(&w);
		}
	} else {
		es->queue_write_errors++;
		snprintf(reply, sizeof(reply), "451 4.3.0 Queue write error");
		log_error("event=queue-error session=%s reason=\"%s\"", t->session_id,
			  err ? err : "commit failed");
	}
	t->done(t->cookie, reply);
	edge_txn_free(t);
}

/* Takes t off the scanning list; false if it was not on it. */
static bool unlink_scanning(struct edge_txn *t)
{
	for (struct edge_txn **pp = &t->es->scanning; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			t->next = NULL;
			return true;
		}
	}
	return false;
}

static void scan_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct edge_txn *t = arg;
	t->es->scan_timeouts++;
	unlink_scanning(t);
	edge_smtp_verdict(t, NULL, -1, "timeout");
}

/*
 * Scanning on: the scan process gets a read-only fd of the complete temp
 * file over the scan link; the reply waits for its verdict (or the
 * timeout), and edge_smtp_verdict() commits or refuses. Scanning off:
 * every complete message is committed as it is.
 */
static void txn_end(void *txn, smtp_txn_done_fn done, void *cookie)
{
	struct edge_txn *t = txn;
	struct edge_smtp *es = t->es;
	t->done = done;
	t->cookie = cookie;
	if (!es->ctx->cfg.scan.enabled) {
		queue_tx_commit(t->tx, edge_smtp_committed, t);
		return;
	}
	t->seq = ++es->next_seq;
	t->next = es->scanning;
	es->scanning = t;
	struct timeval tv = {es->ctx->cfg.scan.timeout, 0};
	t->timer = evtimer_new(es->base, scan_timeout, t);
	if (!t->timer)
		fatal("out of memory");
	evtimer_add(t->timer, &tv);
	int fd = t->read_fd = queue_tx_read_fd(t->tx);
	struct ipc_writer w;
	ipc_writer_init(&w);
	ipc_put_u32(&w, t->seq);
	ipc_put_str(&w, t->first_id);
	int rc = fd < 0 || !es->scan ? -1 : ipc_send_writer(es->scan, EDGE_MSG_SCAN_REQ, &w, fd);
	ipc_writer_free(&w);
	if (rc < 0) {
		if (fd >= 0)
			log_warning("event=scan-unavailable id=%s", t->first_id);
		unlink_scanning(t);
		edge_smtp_verdict(t, NULL, -1, fd < 0 ? "spool-read" : "scanner-unavailable");
	}
}

static void txn_abort(void *txn)
{
	struct edge_txn *t = txn;
	queue_tx_abort(t->tx);
	edge_txn_free(t);
}

/* A verdict from the scan process. */
static int scan_reply(struct edge_smtp *es, struct ipc_reader *r, int fd)
{
	struct scan_reply rep;
	if (scan_reply_get(r, &rep) < 0 || rep.has_content != (fd >= 0)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct edge_txn *t = es->scanning;
	while (t && t->seq != rep.seq)
		t = t->next;
	if (!t) { /* timed out already */
		if (fd >= 0)
			close(fd);
		return 0;
	}
	unlink_scanning(t);
	edge_smtp_verdict(t, &rep, fd, NULL);
	return 0;
}

static json_t *status_json(struct edge_smtp *es)
{
	struct smtp_server_stats ss;
	struct queue_spool_stats qs;
	smtp_server_get_stats(es->server, &ss);
	queue_spool_get_stats(es->spool, &qs);
	json_t *o = json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
		"connections_now", (json_int_t)ss.connections_now, "connections_total",
		(json_int_t)ss.connections_total, "refused_by_cap", (json_int_t)ss.refused_by_cap,
		"messages_accepted", (json_int_t)ss.messages_accepted, "messages_rejected",
		(json_int_t)ss.messages_rejected, "messages_tempfailed",
		(json_int_t)ss.messages_tempfailed, "protocol_errors",
		(json_int_t)ss.protocol_errors, "bytes_received", (json_int_t)ss.bytes_received,
		"commits", (json_int_t)qs.commits, "commit_failures",
		(json_int_t)qs.commit_failures, "commit_batches", (json_int_t)qs.batches,
		"queue_write_errors", (json_int_t)es->queue_write_errors, "spool_space_ok",
		queue_spool_space_ok(es->spool));
	json_object_set_new(o, "scan_timeouts", json_integer((json_int_t)es->scan_timeouts));
	json_object_set_new(o, "scan_failures", json_integer((json_int_t)es->scan_failures));
	json_object_set_new(o, "scan_rejects", json_integer((json_int_t)es->scan_rejects));
	json_object_set_new(o, "stamped", json_integer((json_int_t)es->stamped));
	json_object_set_new(o, "stamped_unscanned",
			    json_integer((json_int_t)es->stamped_unscanned));
	json_object_set_new(o, "quarantined", json_integer((json_int_t)es->quarantined));
	return o;
}

/*
 * SIGHUP: the attestation key may have been rotated (airlock-cert rotate).
 * Messages stamped from now on use the key on disk; a key that does not load
 * leaves the current one in use.
 */
static void reload_signer(struct edge_smtp *es)
{
	const struct airlock_config *cfg = &es->ctx->cfg;
	struct attest_signer *s = NULL;
	char err[512];
	if (!es->signer)
		return; /* scanning off: nothing is stamped */
	if (attest_signer_load_or_create(cfg->edge.state_dir, &s, NULL, err, sizeof(err)) < 0) {
		log_warning("event=attest-key-reload-failed reason=\"%s\" key_id=%s", err,
			    es->signer->pub.id);
		return;
	}
	if (strcmp(s->pub.id, es->signer->pub.id) == 0) {
		attest_signer_free(s);
		log_info("event=attest-key-unchanged key_id=%s", es->signer->pub.id);
		return;
	}
	log_info("event=attest-key-reloaded old_key_id=%s key_id=%s", es->signer->pub.id,
		 s->pub.id);
	attest_signer_free(es->signer);
	es->signer = s;
}

/*
 * The scan link closed (scan died) or is being replaced: every request on it
 * gets the scanner-failure verdict, and the link goes.
 */
static void scan_lost(struct edge_smtp *es, const char *why)
{
	unsigned n = 0;
	for (struct edge_txn *t = es->scanning; t; t = t->next)
		n++;
	if (n > 0)
		log_warning("event=scan-lost in_flight=%u why=%s", n, why);
	while (es->scanning) {
		struct edge_txn *t = es->scanning;
		es->scanning = t->next;
		t->next = NULL;
		edge_smtp_verdict(t, NULL, -1, why);
	}
	ipc_chan_free(es->scan);
	es->scan = NULL;
}

static int scan_handler(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct edge_smtp *es = arg;
	if (type == EDGE_MSG_SCAN_REP)
		return scan_reply(es, r, fd);
	if (fd >= 0)
		close(fd);
	if (type == IPC_CLOSED) {
		scan_lost(es, "scanner-died");
		return 0;
	}
	return -1;
}

/* A new scan link from the parent (fd owned here). */
static int scan_link(struct edge_smtp *es, struct ipc_reader *r, int fd)
{
	if (fd < 0 || ipc_get_end(r) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!es->ctx->cfg.scan.enabled) {
		close(fd);
		return 0;
	}
	if (es->scan)
		scan_lost(es, "scanner-restarted");
	es->scan = ipc_chan_new(es->base, fd, scan_handler, es);
	if (!es->scan)
		fatal("cannot create the scan link");
	ipc_chan_set_name(es->scan, "scan");
	log_info("event=scan-linked");
	return 0;
}

static int parent_handler(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct edge_smtp *es = arg;
	uint32_t id;
	if (type == EDGE_MSG_SCAN_LINK)
		return scan_link(es, r, fd);
	if (fd >= 0)
		close(fd);
	switch (type) {
	case IPC_CLOSED:
		/* The parent is gone: stop; acknowledged mail is on disk. */
		es->parent = NULL;
		event_base_loopbreak(es->base);
		return 0;
	case EDGE_MSG_STATUS_REQ:
		if (ipc_get_u32(r, &id) < 0 || ipc_get_end(r) < 0)
			return -1;
		return edge_send_json(es->parent, EDGE_MSG_STATUS_REP, id, status_json(es));
	case EDGE_MSG_RELOAD:
		if (ipc_get_end(r) < 0)
			return -1;
		reload_signer(es);
		return 0;
	default:
		return -1;
	}
}

int edge_smtp_main(void *arg, int parent_fd)
{
	const struct edge_ctx *ctx = arg;
	const struct airlock_config *cfg = &ctx->cfg;
	struct edge_smtp es = {.ctx = ctx};
	char err[512];

	log_init("airlock-edge/smtp", cfg->log.level, cfg->log.target);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN); /* a file size limit must fail the write, not kill us */
	es.base = event_base_new();
	if (!es.base)
		fatal("out of memory");
	struct queue_spool_opts qo = {.min_free_bytes = (uint64_t)cfg->queue.min_free_mb << 20};
	es.spool = queue_spool_open(cfg->queue.directory, es.base, &qo, err, sizeof(err));
	if (!es.spool) {
		log_error("event=spool-error reason=\"%s\"", err);
		return 1;
	}
	if (cfg->scan.enabled) {
		bool created = false;
		if (attest_signer_load_or_create(cfg->edge.state_dir, &es.signer, &created, err,
						 sizeof(err)) < 0) {
			log_error("event=attest-key-error reason=\"%s\"", err);
			return 1;
		}
		if (created)
			log_info("event=attest-key-created dir=%s key_id=%s", cfg->edge.state_dir,
				 es.signer->pub.id);
		char qdir[sizeof(cfg->queue.quarantine_dir) + 16];
		edge_quarantine_dir(cfg, qdir, sizeof(qdir));
		es.quarantine = scan_quarantine_open(qdir, err, sizeof(err));
		if (!es.quarantine) /* quarantined messages then get 451 */
			log_error("event=quarantine-error reason=\"%s\"", err);
		else
			scan_quarantine_clean_tmp(es.quarantine);
	}
	int cleaned = queue_spool_clean_tmp(es.spool);
	if (cleaned > 0)
		log_info("event=spool-cleaned incomplete=%d", cleaned);

	const char *domains[CONFIG_MAX_DOMAINS];
	for (int i = 0; i < cfg->edge.nrelay_domains; i++)
		domains[i] = cfg->edge.relay_domains[i];
	struct smtp_server_opts so = {
		.hostname = ctx->hostname,
		.max_message_size = (uint64_t)cfg->edge.max_message_size,
		.max_recipients = (unsigned)cfg->edge.max_recipients,
		.relay_domains = domains,
		.nrelay_domains = (size_t)cfg->edge.nrelay_domains,
		.normalise_bare_newlines = strcmp(cfg->edge.bare_newlines, "normalise") == 0,
		.max_connections = (unsigned)cfg->edge.max_connections,
		.max_per_client = (unsigned)cfg->edge.max_connections_per_client,
		.command_timeout_s = (unsigned)cfg->edge.command_timeout,
		.request_deadline_s = (unsigned)cfg->edge.request_deadline,
		.min_data_rate = (unsigned)cfg->edge.min_data_rate,
		.tls = ctx->server_tls,
	};
	struct smtp_server_hooks hooks = {
		.check_mail = check_mail,
		.txn_begin = txn_begin,
		.txn_write = txn_write,
		.txn_end = txn_end,
		.txn_abort = txn_abort,
		.ctx = &es,
	};
	es.server = smtp_server_new(es.base, &so, &hooks);
	if (!es.server)
		fatal("cannot create the SMTP server");
	for (int i = 0; i < ctx->nlisten; i++) {
		if (smtp_server_add_listener(es.server, ctx->listen_fds[i]) < 0) {
			log_error("event=listen-error listen=%s", cfg->edge.listen[i]);
			return 1;
		}
	}
	es.parent = ipc_chan_new(es.base, parent_fd, parent_handler, &es);
	if (!es.parent)
		fatal("cannot create the parent channel");
	ipc_chan_set_name(es.parent, "parent");
	log_info("event=smtp-ready listeners=%d", ctx->nlisten);
	event_base_dispatch(es.base);

	while (es.scanning) {
		struct edge_txn *t = es.scanning;
		es.scanning = t->next;
		t->next = NULL;
		edge_smtp_verdict(t, NULL, -1, "shutdown");
	}
	smtp_server_free(es.server);
	queue_spool_free(es.spool); /* finishes commits in flight */
	attest_signer_free(es.signer);
	scan_quarantine_free(es.quarantine);
	if (es.parent)
		ipc_chan_free(es.parent);
	ipc_chan_free(es.scan);
	event_base_free(es.base);
	return 0;
}

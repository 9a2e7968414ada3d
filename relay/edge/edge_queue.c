/*
 * The edge's queue process: delivers committed messages to the hubs through
 * the IPsec SA (edge_forward.h) with queue_runner, on top of the spool;
 * answers status and listings.
 */
#include "relay/edge/edge.h"
#include "relay/edge/edge_forward.h"

#include "common/log.h"
#include "relay/forward_hubs.h"
#include "relay/ipc.h"
#include "relay/queue_runner.h"
#include "relay/queue_spool.h"
#include "relay/scan_quarantine.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

struct edge_queue {
	const struct edge_ctx *ctx;
	struct event_base *base;
	struct ipc_chan *parent;
	struct queue_spool *spool;
	struct queue_runner *runner;
	struct scan_quarantine *quarantine; /* NULL: not open (commands answer an error) */
	struct edge_forward *forward;	    /* the route through the SA */
};

/* ---- the runner's view of the spool ---------------------------------------------- */

static int store_list(void *arg, int (*each)(void *each_arg, const char *id), void *each_arg)
{
	struct edge_queue *eq = arg;
	return queue_spool_list(eq->spool, QUEUE_AREA_QUEUE, each, each_arg);
}

static int store_open(void *arg, const char *id, struct queue_runner_msg *m, char *err,
		      size_t errlen)
{
	struct edge_queue *eq = arg;
	struct queue_envelope *env = calloc(1, sizeof(*env));
	if (!env)
		fatal("out of memory");
	int fd;
	off_t off;
	uint64_t len;
	if (queue_msg_open(eq->spool, QUEUE_AREA_QUEUE, id, env, &fd, &off, &len, err, errlen) <
	    0) {
		free(env);
		return -1;
	}
	memset(m, 0, sizeof(*m));
	m->arrived = env->arrived;
	m->from = env->from ? env->from : "";
	m->rcpts = (const char *const *)env->rcpts;
	m->nrcpts = env->nrcpts;
	m->rcpt_done = env->rcpt_done;
	m->smtputf8 = env->smtputf8;
	m->eightbit = env->body == QUEUE_BODY_8BITMIME;
	m->fd = fd;
	m->content_off = off;
	m->content_len = len;
	m->handle = env;
	return 0;
}

static void store_close(void *arg, struct queue_runner_msg *m)
{
	(void)arg;
	if (m->fd >= 0)
		close(m->fd);
	queue_envelope_free(m->handle);
	free(m->handle);
	m->handle = NULL;
	m->fd = -1;
}

static int store_rcpt_done(void *arg, const char *id, size_t rcpt_index)
{
	struct edge_queue *eq = arg;
	return queue_msg_rcpt_done(eq->spool, id, rcpt_index);
}

static int store_remove(void *arg, const char *id)
{
	struct edge_queue *eq = arg;
	return queue_msg_remove(eq->spool, QUEUE_AREA_QUEUE, id);
}

static int store_hold(void *arg, const char *id, const char *reason, char *err, size_t errlen)
{
	struct edge_queue *eq = arg;
	return queue_msg_hold(eq->spool, id, reason, err, errlen);
}

/* ---- status and listings --------------------------------------------------------- */

static int count_one(void *arg, const char *id)
{
	(void)id;
	(*(size_t *)arg)++;
	return 0;
}

static json_t *status_json(struct edge_queue *eq)
{
	struct queue_runner_stats rs;
	queue_runner_get_stats(eq->runner, &rs);
	size_t held = 0, quarantined = 0;
	queue_spool_list(eq->spool, QUEUE_AREA_HOLD, count_one, &held);
	if (eq->quarantine)
		scan_quarantine_list(eq->quarantine, count_one, &quarantined);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "queued",
			 (json_int_t)rs.queued, "active", (json_int_t)rs.active, "deferred",
			 (json_int_t)rs.deferred, "delivered", (json_int_t)rs.delivered,
			 "held_since_start", (json_int_t)rs.held, "hold_area", (json_int_t)held,
			 "quarantined", (json_int_t)quarantined, "oldest_age_s",
			 (json_int_t)rs.oldest_age_s, "hubs", edge_forward_hubs_json(eq->forward),
			 "tunnel", edge_forward_tunnel_json(eq->forward));
}

struct listing {
	struct edge_queue *eq;
	json_t *messages;
	size_t total;
	size_t limit;
	time_t now;
};

static int list_one(void *arg, const struct queue_runner_entry *e)
{
	struct listing *l = arg;
	if (l->total++ >= l->limit)
		return 0;
	struct queue_msg_info info;
	char err[128];
	int have =
		queue_msg_stat(l->eq->spool, QUEUE_AREA_QUEUE, e->id, &info, err, sizeof(err)) == 0;
	int64_t arrived = e->arrived ? e->arrived : (have ? info.arrived : 0);
	json_array_append_new(
		l->messages,
		json_pack("{s:s, s:I, s:I, s:I, s:i, s:b, s:s, s:o, s:I, s:I, s:I}", "id", e->id,
			  "arrived", (json_int_t)arrived, "age_s",
			  (json_int_t)(arrived ? l->now - arrived : 0), "next_attempt_in_s",
			  (json_int_t)(e->next_attempt > l->now ? e->next_attempt - l->now : 0),
			  "attempts", (int)e->attempts, "active", e->active, "reason",
			  e->last_reason, "from", have ? json_string(info.from) : json_null(),
			  "recipients", (json_int_t)(have ? info.nrcpts : 0), "delivered_rcpts",
			  (json_int_t)(have ? info.ndone : 0), "size",
			  (json_int_t)(have ? info.content_size : 0)));
	return 0;
}

static json_t *listing_json(struct edge_queue *eq, uint32_t limit)
{
	struct listing l = {eq, json_array(), 0, limit, time(NULL)};
	queue_runner_list(eq->runner, list_one, &l);
	return json_pack("{s:o, s:I, s:b}", "messages", l.messages, "total", (json_int_t)l.total,
			 "truncated", l.total > l.limit);
}

static int parent_handler(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct edge_queue *eq = arg;
	uint32_t id, limit;
	char qid[64], op[16];
	bool released;
	if (fd >= 0)
		close(fd);
	switch (type) {
	case IPC_CLOSED:
		eq->parent = NULL;
		event_base_loopbreak(eq->base);
		return 0;
	case EDGE_MSG_KICK:
		if (ipc_get_str(r, qid, sizeof(qid)) < 0 || ipc_get_end(r) < 0)
			return -1;
		if (queue_id_valid(qid))
			queue_runner_kick(eq->runner, qid);
		return 0;
	case EDGE_MSG_STATUS_REQ:
		if (ipc_get_u32(r, &id) < 0 || ipc_get_end(r) < 0)
			return -1;
		return edge_send_json(eq->parent, EDGE_MSG_STATUS_REP, id, status_json(eq));
	case EDGE_MSG_QUEUE_REQ:
		if (ipc_get_u32(r, &id) < 0 || ipc_get_u32(r, &limit) < 0 || ipc_get_end(r) < 0)
			return -1;
		/* A listing entry is under 400 bytes of JSON: keep the reply in one message. */
		if (limit > 120)
			limit = 120;
		return edge_send_json(eq->parent, EDGE_MSG_QUEUE_REP, id, listing_json(eq, limit));
	case EDGE_MSG_QUAR_REQ: {
		if (ipc_get_u32(r, &id) < 0 || ipc_get_str(r, op, sizeof(op)) < 0 ||
		    ipc_get_str(r, qid, sizeof(qid)) < 0 || ipc_get_end(r) < 0)
			return -1;
		json_t *rep =
			edge_quarantine_command(eq->quarantine, eq->spool, op, qid, &released);
		if (released)
			queue_runner_kick(eq->runner, qid);
		return edge_send_json(eq->parent, EDGE_MSG_QUAR_REP, id, rep);
	}
	default:
		return -1;
	}
}

int edge_queue_main(void *arg, int parent_fd)
{
	const struct edge_ctx *ctx = arg;
	const struct airlock_config *cfg = &ctx->cfg;
	struct edge_queue eq = {.ctx = ctx};
	char err[512];

	log_init("airlock-edge/queue", cfg->log.level, cfg->log.target);
	signal(SIGPIPE, SIG_IGN);
	if (cfg->edge.user[0] &&
	    edge_queue_drop_privileges(cfg->edge.user, cfg->tunnel.vici, err, sizeof(err)) < 0) {
		log_error("event=privileges-error reason=\"%s\"", err);
		return 1;
	}
	eq.base = event_base_new();
	if (!eq.base)
		fatal("out of memory");
	struct queue_spool_opts qo = {.min_free_bytes = (uint64_t)cfg->queue.min_free_mb << 20};
	/* NULL base: this process never commits, so no commit worker. */
	eq.spool = queue_spool_open(cfg->queue.directory, NULL, &qo, err, sizeof(err));
	if (!eq.spool) {
		log_error("event=spool-error reason=\"%s\"", err);
		return 1;
	}
	int fixed = queue_spool_recover(eq.spool);
	if (fixed > 0)
		log_info("event=spool-recovered files=%d", fixed);
	char qdir[sizeof(cfg->queue.quarantine_dir) + 16];
	edge_quarantine_dir(cfg, qdir, sizeof(qdir));
	eq.quarantine = scan_quarantine_open(qdir, err, sizeof(err));
	if (!eq.quarantine)
		log_error("event=quarantine-error reason=\"%s\"", err);
	else if (scan_quarantine_recover(eq.quarantine, eq.spool) < 0)
		log_error("event=quarantine-error reason=\"cannot read %s\"", qdir);

	struct queue_runner_store store = {
		.arg = &eq,
		.list = store_list,
		.open = store_open,
		.close = store_close,
		.rcpt_done = store_rcpt_done,
		.remove = store_remove,
		.hold = store_hold,
	};
	int tls_mode = strcmp(cfg->queue.tls, "required") == 0 ? SMTP_CLIENT_TLS_REQUIRED
		       : strcmp(cfg->queue.tls, "opportunistic") == 0
			       ? SMTP_CLIENT_TLS_OPPORTUNISTIC
			       : SMTP_CLIENT_TLS_NEVER;
	struct queue_runner_opts ro = {
		.max_parallel = (unsigned)cfg->queue.max_parallel,
		.retry_min_s = (unsigned)cfg->queue.retry_min,
		.retry_max_s = (unsigned)cfg->queue.retry_max,
		.max_lifetime_s = (unsigned)cfg->queue.max_lifetime,
		.scan_interval_s = (unsigned)cfg->queue.scan_interval,
		.idle_keep_s = (unsigned)cfg->queue.connection_cache_time,
		.client = {.helo_name = ctx->hostname,
			   .tls_mode = tls_mode,
			   .tls = ctx->client_tls},
	};
	eq.forward = edge_forward_new(eq.base, cfg, err, sizeof(err));
	if (!eq.forward) {
		log_error("event=forward-error reason=\"%s\"", err);
		return 1;
	}
	eq.runner = queue_runner_new(eq.base, &store, &ro, edge_forward_route, eq.forward);
	if (!eq.runner)
		fatal("cannot create the queue runner");
	queue_runner_set_outcome_cb(eq.runner, edge_forward_outcome, eq.forward);
	edge_forward_set_runner(eq.forward, eq.runner);
	eq.parent = ipc_chan_new(eq.base, parent_fd, parent_handler, &eq);
	if (!eq.parent)
		fatal("cannot create the parent channel");
	ipc_chan_set_name(eq.parent, "parent");
	queue_runner_start(eq.runner);
	log_info("event=queue-ready hubs=%zu local=%s vici=%s",
		 ((const struct forward_hubs *)cfg->edge.hubs)->n, cfg->tunnel.local_address,
		 cfg->tunnel.vici);
	event_base_dispatch(eq.base);

	queue_runner_free(eq.runner);
	edge_forward_free(eq.forward);
	scan_quarantine_free(eq.quarantine);
	queue_spool_free(eq.spool);
	if (eq.parent)
		ipc_chan_free(eq.parent);
	event_base_free(eq.base);
	return 0;
}

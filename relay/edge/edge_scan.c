/*
 * The edge's scan process: one libclamav engine, a MIME walker per thread,
 * the attachment policy and the transport rules, behind a thread pool whose
 * workers read smtp's requests themselves (one at a time, the reader: see
 * take()) and answer them. It opens no socket and writes nothing in the
 * spool: it reads the fds smtp sends, answers verdicts, and reloads its
 * database on request (SIGHUP to the parent) or when the database directory
 * changes. The event loop serves the parent (status, reloads, new links).
 */
#include "relay/edge/edge.h"
#include "relay/edge/edge_scan_temp.h"

#include "common/log.h"
#include "relay/ipc.h"
#include "relay/queue_file.h"
#include "relay/scan_job.h"
#include "relay/scan_pool.h"
#include "relay/scan_reply.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

/* How often the database directory is checked for changes. */
#define DB_WATCH_SECONDS 30

struct edge_scan {
	const struct edge_ctx *ctx;
	struct event_base *base;
	struct ipc_chan *parent;
	struct scan_engine *engine;
	struct scan_pool *pool;
	struct mime_walker *walkers[SCAN_POOL_MAX_THREADS];
	unsigned nwalkers;
	struct attach_policy_options attach;
	struct scan_job_opts opts;
	struct event *watch;
	/* counted by the scanning threads, read by the loop */
	_Atomic uint64_t scans, clean, infected, rejected, limits, errors, quarantined;
	pthread_mutex_t lmu;
	struct scan_link *link;	      /* lmu: the link requests are read from; NULL: none */
	uint8_t req[IPC_MAX_PAYLOAD]; /* the reader's (one at a time: scan_pool.h, take) */
};

/*
 * How long a scanning thread waits for room on a link to answer: smtp reads
 * its link at once; one that read nothing for this long has its own scan
 * timeout (451) for the message anyway.
 */
#define REPLY_TIMEOUT_MS 5000

/*
 * One smtp process's link (edge.h, "scan link"): the socket requests are
 * read from, by the pool's reader (take() below), and answers written to, by
 * the scanning thread that ended a message (no hop through the loop), one
 * at a time under mu. Freed with its last reference: the current link holds
 * one, the reader one while it reads, each message one.
 */
struct scan_link {
	int fd;
	pthread_mutex_t mu; /* one answer at a time */
	bool broken;	    /* mu: an answer was cut short; the stream is unusable */
	atomic_int refs;
};

struct scan_msg {
	struct edge_scan *es;
	struct scan_link *link; /* where the answer goes */
	int fd;
	char id[QUEUE_ID_MAX + 1];
	struct scan_job job;
	bool begun; /* scan_job_begin() succeeded: there is something to scan */
	struct scan_reply reply;
	int content_fd;
};

/*
 * A message over SCAN_JOB_SPLIT_MIN is a pool job of two tasks, libclamav
 * and the MIME walk, which run side by side when two workers are free: the
 * verdict then takes the longer of the two instead of their sum. A smaller
 * one is one task doing both in turn (scan_job_ntasks()). The worker that
 * ends the job applies the policies (scan_job.h), writes the answer to smtp
 * itself, counts and logs: the event loop has no part in a message.
 */
static void work(void *job, unsigned task, void *walker)
{
	struct scan_msg *m = job;
	if (m->begun)
		scan_job_task(&m->job, task, &m->reply, walker);
}

/* Writes m's reply to the smtp process that asked; false when it is gone or stuck. */
static bool send_reply(struct scan_msg *m)
{
	struct scan_link *l = m->link;
	struct ipc_writer w;
	ipc_writer_init(&w);
	scan_reply_put(&w, &m->reply);
	pthread_mutex_lock(&l->mu);
	bool ok = !l->broken &&
		  ipc_write_msg(l->fd, EDGE_MSG_SCAN_REP, &w, m->content_fd, REPLY_TIMEOUT_MS) == 0;
	if (!ok && errno == ETIMEDOUT)
		l->broken = true; /* part of a message may be out: nothing more on it */
	pthread_mutex_unlock(&l->mu);
	ipc_writer_free(&w);
	if (m->content_fd >= 0) {
		close(m->content_fd);
		m->content_fd = -1;
	}
	return ok;
}

static void count(struct edge_scan *es, const struct scan_reply *r)
{
	es->scans++;
	if (r->finding == SCAN_FINDING_INFECTED)
		es->infected++;
	else if (r->finding == SCAN_FINDING_LIMITS)
		es->limits++;
	if (r->action == SCAN_REPLY_FAILED)
		es->errors++;
	else if (r->action == SCAN_REPLY_REJECT || r->action == SCAN_REPLY_TEMPFAIL)
		es->rejected++;
	else if (r->action == SCAN_REPLY_ACCEPT)
		es->clean++;
	else if (r->action == SCAN_REPLY_QUARANTINE)
		es->quarantined++;
}

static void link_unref(struct scan_link *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	close(l->fd);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/*
 * On the scanning thread that ended the message's last task: the decision,
 * the answer, the counters and the log line; then m is freed. Nothing goes
 * back to the event loop (scan_pool.h, done NULL).
 */
static void finish(void *job, void *walker)
{
	(void)walker;
	struct scan_msg *m = job;
	scan_job_finish(&m->job, &m->reply, &m->content_fd);
	bool lost = !send_reply(m);
	close(m->fd);
	count(m->es, &m->reply);
	log_info("event=scanned id=%s action=%s%s", m->id, scan_reply_action_name(m->reply.action),
		 m->reply.log);
	if (lost)
		log_warning("event=scan-reply-lost id=%s reason=\"the smtp process went away or "
			    "stopped reading\"",
			    m->id);
	link_unref(m->link);
	free(m);
}

/* The current link with a reference for the caller, or NULL. Any thread. */
static struct scan_link *link_current(struct edge_scan *es)
{
	pthread_mutex_lock(&es->lmu);
	struct scan_link *l = es->link;
	if (l)
		atomic_fetch_add(&l->refs, 1);
	pthread_mutex_unlock(&es->lmu);
	return l;
}

/*
 * Makes l (NULL: none) the link requests are read from. The one before is
 * shut down for reading, so that a reader waiting on it returns at once
 * (its smtp process is gone: that is when the parent sends a new link),
 * and the current link's reference to it is dropped. Any thread.
 */
static void link_set(struct edge_scan *es, struct scan_link *l)
{
	pthread_mutex_lock(&es->lmu);
	struct scan_link *old = es->link;
	es->link = l;
	pthread_mutex_unlock(&es->lmu);
	if (old) {
		shutdown(old->fd, SHUT_RD);
		link_unref(old);
	}
}

/* l ended: if it is still the current link, there is none now. Any thread. */
static void link_drop(struct edge_scan *es, struct scan_link *l)
{
	pthread_mutex_lock(&es->lmu);
	bool current = es->link == l;
	if (current)
		es->link = NULL;
	pthread_mutex_unlock(&es->lmu);
	if (current)
		link_unref(l);
}

static void reload_done(void *arg, int ok, const char *err)
{
	(void)arg;
	if (!ok) /* success is logged by the engine */
		log_error("event=scan-reload-failed reason=\"%s\"", err ? err : "");
}

static void reload(struct edge_scan *es, const char *why)
{
	bool blocking = strcmp(es->ctx->cfg.scan.reload, "blocking") == 0;
	log_info("event=scan-reload-start why=%s mode=%s", why,
		 blocking ? "blocking" : "background");
	if (scan_engine_reload(es->engine, blocking, reload_done, es) == 1)
		log_info("event=scan-reload-busy msg=\"a reload is already running\"");
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct edge_scan *es = arg;
	if (scan_engine_db_changed(es->engine))
		reload(es, "changed");
}

static json_t *status_json(struct edge_scan *es)
{
	struct scan_engine_info in;
	scan_engine_info(es->engine, &in);
	int64_t now = time(NULL);
	json_t *o =
		json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:I, s:I, s:I, s:I, "
			  "s:I, s:I, s:s}",
			  "engine_version", in.engine_version, "db_version",
			  (json_int_t)in.db_version, "signatures", (json_int_t)in.signatures,
			  "db_age_s", (json_int_t)(in.db_time ? now - in.db_time : -1), "loaded_at",
			  (json_int_t)in.loaded_at, "last_reload", (json_int_t)in.last_reload,
			  "reloads", (json_int_t)in.reloads, "reloading", in.reloading, "in_flight",
			  (json_int_t)scan_pool_in_flight(es->pool), "scans", (json_int_t)es->scans,
			  "clean", (json_int_t)es->clean, "infected", (json_int_t)es->infected,
			  "rejected", (json_int_t)es->rejected, "errors", (json_int_t)es->errors,
			  "limits", (json_int_t)es->limits, "last_reload_error", in.last_error);
	json_object_set_new(o, "quarantined", json_integer((json_int_t)es->quarantined));
	return o;
}

/*
 * smtp's SCAN_REQ (u32 seq, str queue id; fd of the spool file) as a job
 * on the reader's thread, with the reader's reference to l; NULL (fd
 * closed) when it does not parse.
 */
static struct scan_msg *scan_request(struct edge_scan *es, struct scan_link *l, size_t len, int fd,
				     unsigned *ntasks)
{
	struct scan_msg *m = calloc(1, sizeof(*m));
	if (!m)
		fatal("out of memory");
	struct ipc_reader r;
	ipc_reader_init(&r, es->req, len);
	if (fd < 0 || ipc_get_u32(&r, &m->reply.seq) < 0 ||
	    ipc_get_str(&r, m->id, sizeof(m->id)) < 0 || ipc_get_end(&r) < 0) {
		if (fd >= 0)
			close(fd);
		free(m);
		return NULL;
	}
	m->es = es;
	m->link = l;
	m->fd = fd;
	m->content_fd = -1;
	/* A request the envelope decides (begin fails) has nothing to scan: finish() answers. */
	m->begun = scan_job_begin(&m->job, &es->opts, fd, &m->reply) == 0;
	*ntasks = m->begun ? scan_job_ntasks(&m->job) : 1;
	return m;
}

/*
 * The pool's source (scan_pool.h, take): on the worker that is the reader,
 * waits for the next request on the current link and returns it as a job,
 * whose first task this worker then runs: no hand-off between reading a
 * message and scanning it. A link that ends (EOF: smtp went away; an error;
 * anything but a well-formed request) is shut down, and the next current
 * one is read; with none, NULL (a new link kicks the pool).
 */
static void *take(void *arg, unsigned *ntasks, void *walker)
{
	(void)walker;
	struct edge_scan *es = arg;
	struct scan_link *l;
	while ((l = link_current(es)) != NULL) {
		uint16_t type = 0;
		size_t len = 0;
		int fd = -1;
		const char *why = NULL;
		int rc = ipc_read_msg(l->fd, &type, es->req, &len, &fd, &why);
		if (rc == 1 && type == EDGE_MSG_SCAN_REQ) {
			struct scan_msg *m = scan_request(es, l, len, fd, ntasks);
			if (m)
				return m;
			why = "malformed payload";
		} else if (rc == 1) {
			if (fd >= 0)
				close(fd);
			why = "unexpected message";
		}
		/*
		 * EOF: smtp went away, or the link was replaced or shut down for reading here;
		 * its jobs still answer if they can. Anything else closes it both ways, as a
		 * channel would, so that smtp sees it gone.
		 */
		if (rc == 0) {
			log_debug("event=ipc-eof chan=smtp");
		} else {
			log_error("event=ipc-protocol-error chan=smtp reason=\"%s\" type=%u",
				  why ? why : strerror(errno), (unsigned)type);
			shutdown(l->fd, SHUT_RDWR);
		}
		link_drop(es, l);
		link_unref(l); /* the reader's */
	}
	return NULL;
}

/* A new scan link from the parent (fd owned here): requests are read from it from now on. */
static int scan_link(struct edge_scan *es, struct ipc_reader *r, int fd)
{
	if (fd < 0 || ipc_get_end(r) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct scan_link *l = calloc(1, sizeof(*l));
	if (!l)
		fatal("out of memory");
	l->fd = fd;
	pthread_mutex_init(&l->mu, NULL);
	atomic_init(&l->refs, 1); /* the current link's */
	link_set(es, l);
	scan_pool_kick(es->pool);
	return 0;
}

static int parent_handler(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct edge_scan *es = arg;
	uint32_t id;
	switch (type) {
	case IPC_CLOSED:
		es->parent = NULL;
		event_base_loopbreak(es->base);
		return 0;
	case EDGE_MSG_SCAN_LINK:
		return scan_link(es, r, fd);
	case EDGE_MSG_RELOAD:
		if (fd >= 0)
			close(fd);
		if (ipc_get_end(r) < 0)
			return -1;
		reload(es, "signal");
		return 0;
	case EDGE_MSG_STATUS_REQ:
		if (fd >= 0)
			close(fd);
		if (ipc_get_u32(r, &id) < 0 || ipc_get_end(r) < 0)
			return -1;
		return edge_send_json(es->parent, EDGE_MSG_STATUS_REP, id, status_json(es));
	default:
		if (fd >= 0)
			close(fd);
		return -1;
	}
}

static void limits_from_config(const struct airlock_config *cfg, struct scan_limits *l)
{
	scan_limits_default(l);
	l->max_scan_size = (uint64_t)cfg->scan.max_scan_size;
	l->max_file_size = (uint64_t)cfg->scan.max_file_size;
	l->max_recursion = (unsigned)cfg->scan.max_recursion;
	l->max_files = (unsigned)cfg->scan.max_files;
	l->max_scan_time_ms = (unsigned)cfg->scan.max_scan_time * 1000u;
	l->heuristic_encrypted_archive = cfg->scan.heuristic_encrypted_archive;
	l->heuristic_encrypted_doc = cfg->scan.heuristic_encrypted_doc;
	l->heuristic_macros = cfg->scan.heuristic_macros;
}

static void options_from_config(struct edge_scan *es)
{
	const struct airlock_config *cfg = &es->ctx->cfg;
	attach_policy_options_default(&es->attach);
	es->attach.builtin_rules = cfg->policy.attachment_builtin_list;
	es->attach.double_extension = cfg->policy.attachment_builtin_list;
	es->attach.builtin_action =
		strcmp(cfg->policy.attachment_action, "strip") == 0 ? ATTACH_STRIP : ATTACH_REJECT;
	const char *ol = cfg->scan.on_limits;
	es->opts = (struct scan_job_opts){
		.engine = es->engine,
		.attach = &es->attach,
		.rules = cfg->policy.rules,
		.on_limits = strcmp(ol, "accept") == 0	   ? ATTACH_ACCEPT
			     : strcmp(ol, "tempfail") == 0 ? ATTACH_TEMPFAIL
							   : ATTACH_REJECT,
		/* the envelope is at most QUEUE_ENVELOPE_MAX; content at most the SMTP limit plus
		 * our Received: field */
		.max_file_bytes = (size_t)cfg->edge.max_message_size + QUEUE_ENVELOPE_MAX + 4096,
		.quarantine_infected = strcmp(cfg->scan.on_infected, "quarantine") == 0,
	};
	es->attach.on_limit = es->opts.on_limits;
}

/*
 * With 0 two threads per online CPU: a message is two tasks (libclamav and
 * the walk), so that one per CPU let a single message hold every worker of a
 * two-CPU edge while the next waited (tests/bench/README.md, "Two scanning
 * threads per CPU").
 */
unsigned edge_scan_threads(int configured)
{
	long n = configured > 0 ? configured : 2 * sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > SCAN_POOL_MAX_THREADS ? SCAN_POOL_MAX_THREADS : (unsigned)n;
}

int edge_scan_main(void *arg, int parent_fd)
{
	const struct edge_ctx *ctx = arg;
	const struct airlock_config *cfg = &ctx->cfg;
	struct edge_scan es = {.ctx = ctx};
	char err[512];

	log_init("airlock-edge/scan", cfg->log.level, cfg->log.target);
	signal(SIGPIPE, SIG_IGN);
	es.base = event_base_new();
	if (!es.base)
		fatal("out of memory");
	struct scan_limits limits;
	limits_from_config(cfg, &limits);
	const struct edge_scan_temp *temp = edge_scan_temp_chosen();
	if (temp->note[0])
		log_warning("event=scan-temp-fallback dir=%s reason=\"%s\"",
			    edge_scan_temp_in_use(temp), temp->note);
	limits.tmp_dir = temp->dir[0] ? temp->dir : NULL;
	if (edge_scan_temp_check(temp, err, sizeof(err)) < 0) {
		log_error("event=scan-error reason=\"%s\"", err);
		return 1;
	}
	time_t t0 = time(NULL);
	es.engine = scan_engine_new(cfg->scan.database_dir, &limits, err, sizeof(err));
	if (!es.engine) {
		log_error("event=scan-error reason=\"%s\"", err);
		return 1;
	}
	options_from_config(&es);
	es.nwalkers = edge_scan_threads(cfg->scan.threads);
	struct mime_walk_limits wl;
	scan_job_walk_limits(&wl);
	for (unsigned i = 0; i < es.nwalkers; i++) {
		es.walkers[i] = mime_walker_new(&wl);
		if (!es.walkers[i]) {
			log_error("event=scan-error reason=\"libmagic cannot load its database\"");
			return 1;
		}
	}
	pthread_mutex_init(&es.lmu, NULL);
	static const struct scan_pool_fns fns = {.work = work, .finish = finish, .take = take};
	es.pool = scan_pool_new(es.base, es.nwalkers, (void *const *)es.walkers, &fns, &es, err,
				sizeof(err));
	if (!es.pool) {
		log_error("event=scan-error reason=\"%s\"", err);
		return 1;
	}
	es.parent = ipc_chan_new(es.base, parent_fd, parent_handler, &es);
	if (!es.parent)
		fatal("cannot create the parent channel");
	ipc_chan_set_name(es.parent, "parent");
	es.watch = event_new(es.base, -1, EV_PERSIST, on_watch, &es);
	struct timeval tv = {DB_WATCH_SECONDS, 0};
	event_add(es.watch, &tv);
	struct scan_engine_info in;
	scan_engine_info(es.engine, &in);
	log_info("event=scan-ready engine=%s signatures=%u db=%u threads=%u load_s=%lld temp=%s "
		 "temp_private=%s temp_size_mib=%llu",
		 in.engine_version, in.signatures, in.db_version, es.nwalkers,
		 (long long)(time(NULL) - t0), edge_scan_temp_in_use(temp),
		 temp->private_mount ? "yes" : "no", (unsigned long long)(temp->size >> 20));
	event_base_dispatch(es.base);

	event_free(es.watch);
	struct ipc_chan *pc = es.parent;
	es.parent = NULL;    /* answers of the last jobs have nowhere to go */
	link_set(&es, NULL); /* the reader returns; jobs in flight still answer */
	scan_pool_free(es.pool);
	pthread_mutex_destroy(&es.lmu);
	if (pc)
		ipc_chan_free(pc);
	for (unsigned i = 0; i < es.nwalkers; i++)
		mime_walker_free(es.walkers[i]);
	scan_engine_free(es.engine);
	event_base_free(es.base);
	return 0;
}

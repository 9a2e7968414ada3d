/*
 * airlock-edge's parent process: configuration, listening sockets, spool
 * and state directories, TLS contexts, the children, the routing of scan
 * requests between them, and the control socket.
 */
#include "relay/edge/edge.h"
#include "relay/edge/edge_scan_temp.h"
#include "relay/scan_engine.h"

#include "common/log.h"
#include "common/netaddr.h"
#include "policy/transport_rules_config.h"
#include "relay/forward_hubs.h"
#include "relay/control.h"
#include "relay/ipc.h"
#include "relay/proc.h"
#include "relay/smtp_tls.h"
#include "tunnel/ts.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

/* How long the parent waits for a child's status before answering without it. */
#define EDGE_STATUS_TIMEOUT_MS 2000

enum edge_child { CHILD_SMTP = 0, CHILD_QUEUE, CHILD_SCAN, CHILD_COUNT };
static const char *const child_names[CHILD_COUNT] = {"smtp", "queue", "scan"};

struct edge_parent;

/* A control request waiting for the children's answers. */
struct pending {
	struct edge_parent *p;
	uint32_t id;
	struct control_reply *reply;
	json_t *acc;	  /* the answer being assembled */
	unsigned waiting; /* bit per child still to answer */
	struct event *timer;
	struct pending *next;
};

struct child_ref {
	struct edge_parent *p;
	enum edge_child which;
};

struct edge_parent {
	struct edge_ctx ctx;
	struct event_base *base;
	struct proc_supervisor *sup;
	struct ipc_chan *chan[CHILD_COUNT];
	struct child_ref refs[CHILD_COUNT];
	struct control_server *control;
	struct pending *pending;
	uint32_t next_id;
	time_t started;
	uint64_t committed_seen;
};

/* Whether child c runs in this configuration. */
static bool child_wanted(const struct edge_parent *p, int c)
{
	return c != CHILD_SCAN || p->ctx.cfg.scan.enabled;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: airlock-edge [-c FILE] [-n]\n"
		     "  -c FILE  configuration (default " CONFIG_DEFAULT_PATH ")\n"
		     "  -n       check the configuration and exit\n");
}

/* ---- control requests ---------------------------------------------------------- */

static void pending_finish(struct pending *pd)
{
	struct edge_parent *p = pd->p;
	for (struct pending **pp = &p->pending; *pp; pp = &(*pp)->next) {
		if (*pp == pd) {
			*pp = pd->next;
			break;
		}
	}
	for (int i = 0; i < CHILD_COUNT; i++) {
		if (pd->waiting & (1u << i))
			json_object_set_new(pd->acc, child_names[i], json_null());
	}
	control_reply_send(pd->reply, pd->acc);
	event_free(pd->timer);
	free(pd);
}

static void pending_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	log_warning("event=control-timeout msg=\"a child did not answer in time\"");
	pending_finish(arg);
}

static struct pending *pending_new(struct edge_parent *p, struct control_reply *r, json_t *acc)
{
	struct pending *pd = calloc(1, sizeof(*pd));
	if (!pd)
		fatal("out of memory");
	pd->p = p;
	pd->id = ++p->next_id;
	pd->reply = r;
	pd->acc = acc;
	pd->timer = evtimer_new(p->base, pending_timeout, pd);
	struct timeval tv = {EDGE_STATUS_TIMEOUT_MS / 1000, (EDGE_STATUS_TIMEOUT_MS % 1000) * 1000};
	evtimer_add(pd->timer, &tv);
	pd->next = p->pending;
	p->pending = pd;
	return pd;
}

static int send_req(struct edge_parent *p, enum edge_child c, uint16_t type, uint32_t id,
		    uint32_t extra)
{
	if (!p->chan[c])
		return -1;
	struct ipc_writer w;
	ipc_writer_init(&w);
	ipc_put_u32(&w, id);
	if (type == EDGE_MSG_QUEUE_REQ)
		ipc_put_u32(&w, extra);
	int rc = ipc_send_writer(p->chan[c], type, &w, -1);
	ipc_writer_free(&w);
	return rc;
}

static json_t *processes_json(struct edge_parent *p)
{
	json_t *a = json_array();
	for (size_t i = 0; i < proc_count(p->sup); i++) {
		struct proc_info pi;
		if (proc_get_info(p->sup, i, &pi) == 0)
			json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:b}", "name", pi.name,
							   "pid", (int)pi.pid, "restarts",
							   (int)pi.restarts, "crash_loop",
							   pi.crash_loop));
	}
	return a;
}

static void cmd_status(void *arg, json_t *req, struct control_reply *r)
{
	struct edge_parent *p = arg;
	(void)req;
	json_t *acc = json_pack("{s:b, s:s, s:i, s:I, s:s, s:o}", "ok", 1, "daemon", "edge", "pid",
				(int)getpid(), "uptime_s", (json_int_t)(time(NULL) - p->started),
				"hostname", p->ctx.hostname, "processes", processes_json(p));
	struct pending *pd = pending_new(p, r, acc);
	for (int i = 0; i < CHILD_COUNT; i++) {
		if (!child_wanted(p, i))
			continue;
		if (send_req(p, (enum edge_child)i, EDGE_MSG_STATUS_REQ, pd->id, 0) == 0)
			pd->waiting |= 1u << i;
		else
			json_object_set_new(acc, child_names[i], json_null());
	}
	if (!pd->waiting)
		pending_finish(pd);
}

static void cmd_queue(void *arg, json_t *req, struct control_reply *r)
{
	struct edge_parent *p = arg;
	json_int_t limit = json_integer_value(json_object_get(req, "limit"));
	if (limit <= 0 || limit > 500)
		limit = 500;
	struct pending *pd = pending_new(p, r, json_pack("{s:b}", "ok", 1));
	if (send_req(p, CHILD_QUEUE, EDGE_MSG_QUEUE_REQ, pd->id, (uint32_t)limit) == 0)
		pd->waiting = 1u << CHILD_QUEUE;
	else
		json_object_set_new(pd->acc, "error", json_string("queue process not running"));
	if (!pd->waiting)
		pending_finish(pd);
}

/*
 * `airlockctl quarantine`: {"cmd": "quarantine", "op": "list" | "show" |
 * "release" | "delete", "id": ID}; the queue process does the work (it runs
 * as the spool's owner) and its answer is the reply.
 */
static void cmd_quarantine(void *arg, json_t *req, struct control_reply *r)
{
	struct edge_parent *p = arg;
	const char *op = json_string_value(json_object_get(req, "op"));
	const char *id = json_string_value(json_object_get(req, "id"));
	static const char *const ops[] = {"list", "show", "release", "delete"};
	bool known = false;
	for (size_t i = 0; op && i < sizeof(ops) / sizeof(ops[0]); i++)
		known |= strcmp(op, ops[i]) == 0;
	if (!known || (strcmp(op, "list") != 0 && (!id || strlen(id) > 64))) {
		control_reply_send(r, json_pack("{s:b, s:s}", "ok", 0, "error",
						"expected op list, or show, release or delete "
						"with an id"));
		return;
	}
	struct pending *pd = pending_new(p, r, json_object());
	struct ipc_writer w;
	ipc_writer_init(&w);
	ipc_put_u32(&w, pd->id);
	ipc_put_str(&w, op);
	ipc_put_str(&w, id ? id : "");
	if (p->chan[CHILD_QUEUE] &&
	    ipc_send_writer(p->chan[CHILD_QUEUE], EDGE_MSG_QUAR_REQ, &w, -1) == 0) {
		pd->waiting = 1u << CHILD_QUEUE;
	} else {
		json_object_set_new(pd->acc, "ok", json_false());
		json_object_set_new(pd->acc, "error", json_string("queue process not running"));
	}
	ipc_writer_free(&w);
	if (!pd->waiting)
		pending_finish(pd);
}

/*
 * A child's JSON answer: merged into the pending request it belongs to,
 * at the top (listings, quarantine answers) or under the child's name.
 */
static int child_reply(struct edge_parent *p, enum edge_child c, struct ipc_reader *r, bool top)
{
	uint32_t id;
	char *text = NULL;
	if (ipc_get_u32(r, &id) < 0 || ipc_get_str_alloc(r, EDGE_JSON_MAX, &text) < 0 ||
	    ipc_get_end(r) < 0) {
		free(text);
		return -1;
	}
	json_t *obj = json_loads(text, 0, NULL);
	free(text);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return -1;
	}
	struct pending *pd = p->pending;
	while (pd && pd->id != id)
		pd = pd->next;
	if (!pd || !(pd->waiting & (1u << c))) {
		json_decref(obj); /* answered after its timeout */
		return 0;
	}
	if (top || json_object_get(obj, "messages"))
		json_object_update(pd->acc, obj);
	else
		json_object_set(pd->acc, child_names[c], obj);
	json_decref(obj);
	pd->waiting &= ~(1u << c);
	if (!pd->waiting)
		pending_finish(pd);
	return 0;
}

/* ---- children ---------------------------------------------------------------- */

static int child_handler(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct child_ref *ref = arg;
	struct edge_parent *p = ref->p;
	char id[64];
	if (fd >= 0)
		close(fd); /* no other message of ours carries one */
	switch (type) {
	case IPC_CLOSED:
		p->chan[ref->which] = NULL;
		return 0;
	case EDGE_MSG_COMMITTED:
		if (ref->which != CHILD_SMTP || ipc_get_str(r, id, sizeof(id)) < 0 ||
		    ipc_get_end(r) < 0)
			return -1;
		p->committed_seen++;
		if (p->chan[CHILD_QUEUE])
			ipc_send(p->chan[CHILD_QUEUE], EDGE_MSG_KICK, r->p, r->len, -1);
		return 0;
	case EDGE_MSG_STATUS_REP:
	case EDGE_MSG_QUEUE_REP:
		return child_reply(p, ref->which, r, false);
	case EDGE_MSG_QUAR_REP:
		return ref->which == CHILD_QUEUE ? child_reply(p, ref->which, r, true) : -1;
	default:
		return -1;
	}
}

/*
 * Gives smtp and scan a channel of their own (EDGE_MSG_SCAN_LINK, one end
 * each) once both run: scan requests and verdicts go over it directly. A
 * restarted smtp or scan gets a new one, and so does the other side, which
 * drops its old channel (closed by the death anyway).
 */
static void link_scan(struct edge_parent *p)
{
	if (!p->chan[CHILD_SMTP] || !p->chan[CHILD_SCAN])
		return;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_error("event=scan-link-failed reason=\"socketpair: %s\"", strerror(errno));
		return; /* smtp answers 451 without a link; the next restart tries again */
	}
	if (ipc_send(p->chan[CHILD_SCAN], EDGE_MSG_SCAN_LINK, NULL, 0, sv[0]) < 0 ||
	    ipc_send(p->chan[CHILD_SMTP], EDGE_MSG_SCAN_LINK, NULL, 0, sv[1]) < 0)
		log_error("event=scan-link-failed reason=\"cannot pass the channel\"");
	close(sv[0]);
	close(sv[1]);
}

static void child_restarted(void *arg, const struct proc_spec *spec, struct ipc_chan *chan)
{
	struct edge_parent *p = arg;
	for (int i = 0; i < CHILD_COUNT; i++) {
		if (strcmp(spec->name, child_names[i]) == 0)
			p->chan[i] = chan;
	}
	log_info("event=child-restarted name=%s", spec->name);
	if (strcmp(spec->name, child_names[CHILD_QUEUE]) != 0)
		link_scan(p);
}

static int start_children(struct edge_parent *p)
{
	const char *user = p->ctx.cfg.edge.user[0] ? p->ctx.cfg.edge.user : NULL;
	int (*mains[CHILD_COUNT])(void *, int) = {edge_smtp_main, edge_queue_main, edge_scan_main};
	for (int i = 0; i < CHILD_COUNT; i++) {
		if (!child_wanted(p, i))
			continue;
		struct proc_spec spec = {
			.name = child_names[i],
			.main = mains[i],
			.arg = &p->ctx,
			/* queue drops its own privileges, keeping VICI access (edge_queue_privs.c).
			 */
			.user = i == CHILD_QUEUE ? NULL : user,
			.keep_fds = i == CHILD_SMTP ? p->ctx.listen_fds : NULL,
			.n_keep_fds = i == CHILD_SMTP ? (size_t)p->ctx.nlisten : 0,
			/* libclamav's temporary files on a tmpfs of its own (edge_scan_temp.h) */
			.setup = i == CHILD_SCAN ? edge_scan_temp_setup : NULL,
		};
		char err[256];
		p->refs[i] = (struct child_ref){p, (enum edge_child)i};
		if (proc_start(p->sup, &spec, &p->chan[i], child_handler, &p->refs[i], err,
			       sizeof(err)) < 0) {
			fprintf(stderr, "airlock-edge: cannot start %s: %s\n", child_names[i], err);
			return -1;
		}
	}
	return 0;
}

/* ---- start-up ------------------------------------------------------------------ */

static int bind_listener(const char *text, int *out)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (netaddr_parse(text, &ss, &len) < 0) {
		fprintf(stderr, "airlock-edge: edge.listen: bad address %s\n", text);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
		fprintf(stderr, "airlock-edge: cannot listen on %s: %s\n", text, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*out = fd;
	return 0;
}

/* mkdir -p for path's parent (make_parent) or path itself, then mode and owner. */
static int make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = buf + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -1;
			*s = '/';
		}
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -1;
	struct stat st;
	if (lstat(buf, &st) < 0 || !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	if (chmod(buf, mode) < 0 || chown(buf, uid, gid) < 0)
		return -1;
	return 0;
}

/*
 * The attestation key pair in the state directory belongs to edge.user, who
 * loads it: airlock-cert enroll and rotate run as root and leave root-owned
 * files. Only regular files directly in the directory, never through a link.
 */
static int own_attest_keys(const char *state_dir, uid_t uid, gid_t gid)
{
	static const char *const names[] = {"attest.key", "attest.pub"};
	int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct stat st;
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* generated at the first start */
			close(dfd);
			return -1;
		}
		if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
			close(dfd);
			errno = EPERM;
			return -1;
		}
		if ((st.st_uid != uid || st.st_gid != gid) &&
		    fchownat(dfd, names[i], uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
			close(dfd);
			return -1;
		}
	}
	close(dfd);
	return 0;
}

/* edge.hubs and tunnel.local_address: mail leaves only from the inner address, through the SA. */
static int check_forwarding(struct airlock_config *cfg)
{
	struct forward_hubs *hubs = cfg->edge.hubs;
	if (!hubs) {
		fprintf(stderr, "airlock-edge: edge.hubs is not set: nowhere to forward mail\n");
		return -1;
	}
	if (!cfg->tunnel.local_address[0]) {
		fprintf(stderr, "airlock-edge: tunnel.local_address is not set: edge.hubs are "
				"reached only from the edge's inner tunnel address\n");
		return -1;
	}
	int family;
	uint8_t addr[16];
	if (ts_addr_parse(cfg->tunnel.local_address, &family, addr) < 0) {
		fprintf(stderr, "airlock-edge: tunnel.local_address %s is not an address\n",
			cfg->tunnel.local_address);
		return -1;
	}
	for (size_t i = 0; i < hubs->n; i++) {
		if (hubs->hub[i].addr.ss_family != family) {
			fprintf(stderr,
				"airlock-edge: edge.hubs: %s is not of the family of "
				"tunnel.local_address %s\n",
				hubs->hub[i].address, cfg->tunnel.local_address);
			return -1;
		}
	}
	forward_hubs_set_defaults(hubs, cfg->tunnel.connection, cfg->tunnel.child);
	return 0;
}

/* Scanning on needs signatures: refuse to start rather than tempfail every message. */
static int check_scanning(const struct airlock_config *cfg)
{
	char err[1200];
	if (cfg->scan.enabled &&
	    scan_db_check(cfg->scan.database_dir, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr,
			"airlock-edge: scan.database_dir %s (install or update the signatures, "
			"e.g. freshclam, or set scan.enabled = false)\n",
			err);
		return -1;
	}
	/* Whether edge.user may write there is checked by the scan process itself. */
	struct stat st;
	const char *tmp = cfg->scan.temp_dir;
	if (cfg->scan.enabled && tmp[0]) {
		const char *why = stat(tmp, &st) < 0	 ? strerror(errno)
				  : !S_ISDIR(st.st_mode) ? "not a directory"
							 : NULL;
		if (why) {
			fprintf(stderr, "airlock-edge: scan.temp_dir %s: %s\n", tmp, why);
			return -1;
		}
	}
	return 0;
}

static int prepare(struct edge_parent *p)
{
	struct airlock_config *cfg = &p->ctx.cfg;
	if (cfg->edge.nrelay_domains == 0) {
		fprintf(stderr, "airlock-edge: edge.relay_domains is empty: the edge would accept "
				"no mail\n");
		return -1;
	}
	if (check_forwarding(cfg) < 0 || check_scanning(cfg) < 0)
		return -1;
	if (cfg->edge.hostname[0])
		snprintf(p->ctx.hostname, sizeof(p->ctx.hostname), "%s", cfg->edge.hostname);
	else if (gethostname(p->ctx.hostname, sizeof(p->ctx.hostname) - 1) < 0)
		snprintf(p->ctx.hostname, sizeof(p->ctx.hostname), "localhost");

	char err[512];
	if (cfg->edge.tls_certificate[0] || cfg->edge.tls_key[0]) {
		if (!cfg->edge.tls_certificate[0] || !cfg->edge.tls_key[0]) {
			fprintf(stderr, "airlock-edge: edge.tls_certificate and edge.tls_key go "
					"together\n");
			return -1;
		}
		/* Loaded as root: the key file need not be readable by the children's user. */
		p->ctx.server_tls = smtp_tls_ctx_new(cfg->edge.tls_certificate, cfg->edge.tls_key,
						     err, sizeof(err));
		if (!p->ctx.server_tls) {
			fprintf(stderr, "airlock-edge: %s\n", err);
			return -1;
		}
	}
	if (strcmp(cfg->queue.tls, "none") != 0) {
		p->ctx.client_tls = SSL_CTX_new(TLS_client_method());
		if (!p->ctx.client_tls) {
			fprintf(stderr, "airlock-edge: cannot create a TLS client context\n");
			return -1;
		}
		SSL_CTX_set_min_proto_version(p->ctx.client_tls, TLS1_2_VERSION);
	}

	uid_t uid = getuid();
	gid_t gid = getgid();
	if (cfg->edge.user[0]) {
		struct passwd *pw = getpwnam(cfg->edge.user);
		if (!pw) {
			fprintf(stderr, "airlock-edge: edge.user: no such user %s\n",
				cfg->edge.user);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (cfg->scan.enabled && (make_dir(cfg->edge.state_dir, 0700, uid, gid) < 0 ||
				  own_attest_keys(cfg->edge.state_dir, uid, gid) < 0)) {
		fprintf(stderr, "airlock-edge: edge.state_dir %s: %s\n", cfg->edge.state_dir,
			strerror(errno));
		return -1;
	}
	if (make_dir(cfg->queue.directory, 0700, uid, gid) < 0) {
		fprintf(stderr, "airlock-edge: queue.directory %s: %s\n", cfg->queue.directory,
			strerror(errno));
		return -1;
	}
	char qdir[sizeof(cfg->queue.quarantine_dir) + 16];
	edge_quarantine_dir(cfg, qdir, sizeof(qdir));
	if (make_dir(qdir, 0700, uid, gid) < 0) {
		fprintf(stderr, "airlock-edge: queue.quarantine_dir %s: %s\n", qdir,
			strerror(errno));
		return -1;
	}
	char sockdir[sizeof(cfg->edge.control_socket)];
	snprintf(sockdir, sizeof(sockdir), "%s", cfg->edge.control_socket);
	char *slash = strrchr(sockdir, '/');
	if (slash && slash != sockdir) {
		*slash = '\0';
		if (make_dir(sockdir, 0755, 0, 0) < 0) {
			fprintf(stderr, "airlock-edge: %s: %s\n", sockdir, strerror(errno));
			return -1;
		}
	}
	for (int i = 0; i < cfg->edge.nlisten; i++) {
		if (bind_listener(cfg->edge.listen[i], &p->ctx.listen_fds[i]) < 0)
			return -1;
		p->ctx.nlisten++;
	}
	return 0;
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	struct edge_parent *p = arg;
	const struct airlock_config *cfg = &p->ctx.cfg;
	if (!cfg->scan.enabled) {
		log_info("event=reload-ignored msg=\"scanning is off\"");
		return;
	}
	log_info("event=reload-requested");
	/* airlock-cert rotate may have left a new, root-owned attestation key pair. */
	struct passwd *pw = cfg->edge.user[0] ? getpwnam(cfg->edge.user) : NULL;
	if (own_attest_keys(cfg->edge.state_dir, pw ? pw->pw_uid : getuid(),
			    pw ? pw->pw_gid : getgid()) < 0)
		log_warning("event=attest-key-owner-failed dir=%s error=\"%s\"",
			    cfg->edge.state_dir, strerror(errno));
	if (p->chan[CHILD_SMTP])
		ipc_send(p->chan[CHILD_SMTP], EDGE_MSG_RELOAD, NULL, 0, -1);
	if (p->chan[CHILD_SCAN])
		ipc_send(p->chan[CHILD_SCAN], EDGE_MSG_RELOAD, NULL, 0, -1);
}

static void *rules_build(const struct config_setting_t *s, const char *file, char *err,
			 size_t errlen)
{
	return transport_rules_from_setting(s, file, err, errlen);
}

static void rules_free(void *obj)
{
	transport_rules_free(obj);
}

static void *hubs_build(const struct config_setting_t *s, const char *file, char *err,
			size_t errlen)
{
	return forward_hubs_from_setting(s, file, err, errlen);
}

static void hubs_free(void *obj)
{
	forward_hubs_free(obj);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct edge_parent *p = arg;
	log_info("event=stopping signal=%d", (int)sig);
	event_base_loopbreak(p->base);
}

int main(int argc, char **argv)
{
	static struct edge_parent parent;
	struct edge_parent *p = &parent;
	const char *path = CONFIG_DEFAULT_PATH;
	bool check_only = false;
	int rc = config_parse_cmdline(argc, argv, &path, &check_only, usage);
	if (rc >= 0)
		return rc;
	char err[512];
	if (config_set_custom("policy.rules", rules_build, rules_free) < 0)
		fatal("config: policy.rules is not a custom key");
	if (config_set_custom("edge.hubs", hubs_build, hubs_free) < 0)
		fatal("config: edge.hubs is not a custom key");
	if (config_load_file(path, &p->ctx.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "airlock-edge: %s\n", err);
		return 1;
	}
	if (check_only) {
		if (check_forwarding(&p->ctx.cfg) < 0 || check_scanning(&p->ctx.cfg) < 0) {
			config_release(&p->ctx.cfg);
			return 1;
		}
		printf("airlock-edge: %s: configuration ok\n", path);
		config_release(&p->ctx.cfg);
		return 0;
	}
	log_init("airlock-edge", p->ctx.cfg.log.level, p->ctx.cfg.log.target);
	signal(SIGPIPE, SIG_IGN);
	if (prepare(p) < 0)
		return 1;

	p->base = event_base_new();
	p->sup = proc_supervisor_new(p->base);
	if (!p->base || !p->sup)
		fatal("out of memory");
	p->started = time(NULL);
	proc_supervisor_set_restart_cb(p->sup, child_restarted, p);
	if (start_children(p) < 0)
		return 1;
	link_scan(p);
	const struct control_command cmds[] = {
		{"status", cmd_status, p},
		{"queue", cmd_queue, p},
		{"quarantine", cmd_quarantine, p},
	};
	p->control = control_server_new(p->base, p->ctx.cfg.edge.control_socket, cmds,
					sizeof(cmds) / sizeof(cmds[0]), err, sizeof(err));
	if (!p->control) {
		fprintf(stderr, "airlock-edge: %s\n", err);
		proc_stop_all(p->sup, 2000);
		return 1;
	}
	struct event *sigterm = evsignal_new(p->base, SIGTERM, on_stop_signal, p);
	struct event *sigint = evsignal_new(p->base, SIGINT, on_stop_signal, p);
	struct event *sighup = evsignal_new(p->base, SIGHUP, on_hup, p);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	evsignal_add(sighup, NULL);
	char listen_text[600] = "";
	for (int i = 0; i < p->ctx.cfg.edge.nlisten; i++)
		snprintf(listen_text + strlen(listen_text),
			 sizeof(listen_text) - strlen(listen_text), "%s%s", i ? "," : "",
			 p->ctx.cfg.edge.listen[i]);
	const struct forward_hubs *hubs = p->ctx.cfg.edge.hubs;
	char hubs_text[600] = "";
	for (size_t i = 0; i < hubs->n; i++)
		snprintf(hubs_text + strlen(hubs_text), sizeof(hubs_text) - strlen(hubs_text),
			 "%s%s", i ? "," : "", hubs->hub[i].address);
	log_info("event=started listen=%s hubs=%s spool=%s control=%s scan=%s", listen_text,
		 hubs_text, p->ctx.cfg.queue.directory, p->ctx.cfg.edge.control_socket,
		 p->ctx.cfg.scan.enabled ? "on" : "off");

	event_base_dispatch(p->base);

	control_server_free(p->control);
	proc_stop_all(p->sup, 5000);
	while (p->pending)
		pending_finish(p->pending);
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	proc_supervisor_free(p->sup);
	event_base_free(p->base);
	config_release(&p->ctx.cfg);
	log_info("event=stopped");
	return 0;
}

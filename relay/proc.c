/*
 * Child process supervision: fork with a clean slate, privilege drop,
 * restart with back-off, orderly stop.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "relay/proc.h"

/* Exit status of a child that could not set itself up (EX_CONFIG). */
#define PROC_EXIT_SETUP 78
/* Deaths remembered for crash-loop detection; caps burst_count. */
#define PROC_MAX_DEATHS 64

struct proc_child {
	struct proc_supervisor *s;
	struct proc_spec spec; /* strings and keep_fds owned */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	struct ipc_chan *chan;
	ipc_handler_fn handler;
	void *handler_arg;
	struct event *restart_ev;
	long long started_ms;
	int backoff_ms;
	long long deaths[PROC_MAX_DEATHS]; /* ring of death times */
	size_t n_deaths;
	unsigned restarts;
	int crash_loop;
};

struct proc_supervisor {
	struct event_base *base;
	struct event *sigchld;
	struct proc_child **children;
	size_t n_children;
	struct proc_policy policy;
	proc_restart_fn restart_cb;
	void *restart_arg;
	int stopping;
};

/* ---- privileges ------------------------------------------------------ */

static int drop_to(uid_t uid, gid_t gid, const char *user, char *err, size_t errlen)
{
	if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0) {
		snprintf(err, errlen, "cannot switch to user %s: %s", user, strerror(errno));
		return -1;
	}
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != uid ||
	    eu != uid || su != uid || rg != gid || eg != gid || sg != gid ||
	    getgroups(0, NULL) != 0) {
		snprintf(err, errlen, "switching to user %s left other ids in place", user);
		return -1;
	}
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		snprintf(err, errlen, "root could be regained after switching to user %s", user);
		return -1;
	}
	if (gid != 0 && setegid(0) != -1) {
		snprintf(err, errlen, "group 0 could be regained after switching to user %s", user);
		return -1;
	}
	return 0;
}

/* Looks user up and checks that this process can become it. */
static int resolve_user(const char *user, uid_t *uid, gid_t *gid, int *noop, char *err,
			size_t errlen)
{
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errlen, "unknown user %s", user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	*noop = 0;
	if (geteuid() != 0) {
		if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid) {
			*noop = 1;
			return 0;
		}
		snprintf(err, errlen, "cannot switch to user %s: not running as root", user);
		return -1;
	}
	return 0;
}

int proc_drop_privileges(const char *user, char *err, size_t errlen)
{
	uid_t uid;
	gid_t gid;
	int noop;
	if (resolve_user(user, &uid, &gid, &noop, err, errlen) != 0)
		return -1;
	return noop ? 0 : drop_to(uid, gid, user, err, errlen);
}

/* ---- in the child ------------------------------------------------------ */

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Closes every descriptor from 3 up except the sorted keep list. */
static void close_all_but(const int *keep, size_t n)
{
	unsigned lo = 3;
	for (size_t i = 0; i <= n; i++) {
		unsigned hi = i < n ? (unsigned)keep[i] : ~0U;
		if (hi < lo) {
			continue;
		} else if (hi > lo && close_range(lo, hi - 1, 0) != 0) {
			long max = sysconf(_SC_OPEN_MAX);
			unsigned end =
				i < n ? hi : (max > 0 && max < 65536 ? (unsigned)max : 65536);
			for (unsigned fd = lo; fd < end; fd++)
				close((int)fd);
		}
		lo = hi + 1;
	}
}

/*
 * Names the child after its daemon and role, so that ps, top and
 * /proc/PID/comm tell the processes apart: airlock-edge's "smtp" child is
 * "edge-smtp", airlock-hub's "hub-smtp" (at most 15 characters).
 */
static void name_child(const char *role)
{
	char parent[17] = "", comm[16];
	prctl(PR_GET_NAME, parent);
	const char *daemon = strncmp(parent, "airlock-", 8) == 0 ? parent + 8 : parent;
	snprintf(comm, sizeof(comm), "%s-%s", daemon, role);
	prctl(PR_SET_NAME, comm);
}

static _Noreturn void child_run(struct proc_child *ch, int fd, pid_t parent)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);

	size_t nkeep = ch->spec.n_keep_fds + 1;
	int keep[nkeep];
	keep[0] = fd;
	for (size_t i = 0; i < ch->spec.n_keep_fds; i++)
		keep[i + 1] = ch->spec.keep_fds[i];
	qsort(keep, nkeep, sizeof(int), cmp_int);
	close_all_but(keep, nkeep);

	char err[256];
	if (ch->spec.setup && ch->spec.setup(ch->spec.arg, err, sizeof(err)) != 0) {
		log_error("event=proc-setup-failed name=%s reason=\"%s\"", ch->spec.name, err);
		_exit(PROC_EXIT_SETUP);
	}
	if (ch->spec.chroot_or_null && (chroot(ch->spec.chroot_or_null) != 0 || chdir("/") != 0)) {
		log_error("event=proc-setup-failed name=%s reason=\"chroot %s: %s\"", ch->spec.name,
			  ch->spec.chroot_or_null, strerror(errno));
		_exit(PROC_EXIT_SETUP);
	}
	if (ch->spec.user && geteuid() == 0 &&
	    drop_to(ch->uid, ch->gid, ch->spec.user, err, sizeof(err)) != 0) {
		log_error("event=proc-setup-failed name=%s reason=\"%s\"", ch->spec.name, err);
		_exit(PROC_EXIT_SETUP);
	}
	/* Cleared by the credential change above, so set afterwards. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	name_child(ch->spec.name);
	if (getppid() != parent)
		_exit(0);
	int rc = ch->spec.main(ch->spec.arg, fd);
	_exit(rc & 0xff);
}

/* ---- in the parent ------------------------------------------------------ */

static void schedule_restart(struct proc_child *ch);

static int on_child_message(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct proc_child *ch = arg;
	int rc = ch->handler(ch->handler_arg, type, r, fd);
	if (type == IPC_CLOSED) {
		ipc_chan_free(ch->chan);
		ch->chan = NULL;
		if (ch->pid > 0 && !ch->s->stopping) {
			log_warning("event=proc-channel-closed name=%s pid=%d action=terminate",
				    ch->spec.name, (int)ch->pid);
			kill(ch->pid, SIGTERM);
		}
	}
	return rc;
}

static int spawn(struct proc_child *ch, char *err, size_t errlen)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(err, errlen, "socketpair for %s: %s", ch->spec.name, strerror(errno));
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork for %s: %s", ch->spec.name, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		child_run(ch, sv[1], parent);
	}
	close(sv[1]);
	ch->pid = pid;
	ch->started_ms = clock_mono_ms();
	ch->chan = ipc_chan_new(ch->s->base, sv[0], on_child_message, ch);
	if (!ch->chan) {
		/* Reaped and restarted like any other death. */
		log_error("event=proc-error name=%s reason=\"cannot create channel\"",
			  ch->spec.name);
		kill(pid, SIGKILL);
		return 0;
	}
	ipc_chan_set_name(ch->chan, ch->spec.name);
	log_info("event=proc-start name=%s pid=%d", ch->spec.name, (int)pid);
	return 0;
}

static void on_restart_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct proc_child *ch = arg;
	struct proc_supervisor *s = ch->s;
	char err[256];
	if (s->stopping || ch->pid > 0)
		return;
	if (spawn(ch, err, sizeof(err)) != 0) {
		log_error("event=proc-restart-failed name=%s reason=\"%s\"", ch->spec.name, err);
		schedule_restart(ch);
		return;
	}
	ch->restarts++;
	if (s->restart_cb && ch->chan)
		s->restart_cb(s->restart_arg, &ch->spec, ch->chan);
}

static void schedule_restart(struct proc_child *ch)
{
	struct proc_policy *p = &ch->s->policy;
	long long now = clock_mono_ms();
	if (now - ch->started_ms >= p->burst_window_ms)
		ch->backoff_ms = p->min_backoff_ms;
	ch->deaths[ch->n_deaths++ % PROC_MAX_DEATHS] = now;
	size_t recent = 0;
	size_t known = ch->n_deaths < PROC_MAX_DEATHS ? ch->n_deaths : PROC_MAX_DEATHS;
	for (size_t i = 0; i < known; i++)
		if (now - ch->deaths[i] < p->burst_window_ms)
			recent++;
	int delay = ch->backoff_ms;
	ch->crash_loop = recent > (size_t)p->burst_count;
	if (ch->crash_loop) {
		delay = p->max_backoff_ms;
		log_error("event=proc-crash-loop name=%s deaths=%zu window_ms=%d restart_in_ms=%d",
			  ch->spec.name, recent, p->burst_window_ms, delay);
	}
	ch->backoff_ms =
		ch->backoff_ms * 2 > p->max_backoff_ms ? p->max_backoff_ms : ch->backoff_ms * 2;
	struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
	/* From now, not from the loop's cached (maybe stale) time: the full back-off. */
	event_base_update_cache_time(ch->s->base);
	evtimer_add(ch->restart_ev, &tv);
}

/* The child is gone: deliver its last words, close its channel, restart it. */
static void child_exited(struct proc_child *ch, int status)
{
	pid_t pid = ch->pid;
	ch->pid = 0;
	int quiet = ch->s->stopping;
	if (WIFSIGNALED(status))
		log_msg(quiet ? LOG_LEVEL_INFO : LOG_LEVEL_WARNING,
			"event=proc-exit name=%s pid=%d signal=%d", ch->spec.name, (int)pid,
			WTERMSIG(status));
	else
		log_msg(quiet ? LOG_LEVEL_INFO : LOG_LEVEL_WARNING,
			"event=proc-exit name=%s pid=%d status=%d", ch->spec.name, (int)pid,
			WEXITSTATUS(status));
	if (ch->chan)
		ipc_chan_read_now(ch->chan);
	if (ch->chan) {
		/* Something else still holds the child's end open. */
		struct ipc_chan *c = ch->chan;
		ch->chan = NULL;
		ch->handler(ch->handler_arg, IPC_CLOSED, NULL, -1);
		ipc_chan_free(c);
	}
	if (!ch->s->stopping)
		schedule_restart(ch);
}

/* Reaps whichever of our children have exited. Returns how many still run. */
static size_t reap(struct proc_supervisor *s)
{
	size_t alive = 0;
	for (size_t i = 0; i < s->n_children; i++) {
		struct proc_child *ch = s->children[i];
		if (ch->pid <= 0)
			continue;
		int status;
		pid_t r;
		do {
			r = waitpid(ch->pid, &status, WNOHANG);
		} while (r < 0 && errno == EINTR);
		if (r == ch->pid)
			child_exited(ch, status);
		else if (r < 0 && errno == ECHILD)
			child_exited(ch, 0);
		else
			alive++;
	}
	return alive;
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reap(arg);
}

struct proc_supervisor *proc_supervisor_new(struct event_base *base)
{
	struct proc_supervisor *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->base = base;
	s->policy = (struct proc_policy){.min_backoff_ms = 100,
					 .max_backoff_ms = 10000,
					 .burst_count = 5,
					 .burst_window_ms = 60000};
	s->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, s);
	if (!s->sigchld || evsignal_add(s->sigchld, NULL) != 0) {
		if (s->sigchld)
			event_free(s->sigchld);
		free(s);
		return NULL;
	}
	return s;
}

void proc_supervisor_set_policy(struct proc_supervisor *s, const struct proc_policy *p)
{
	if (p->min_backoff_ms > 0)
		s->policy.min_backoff_ms = p->min_backoff_ms;
	if (p->max_backoff_ms > 0)
		s->policy.max_backoff_ms = p->max_backoff_ms;
	if (p->burst_count > 0)
		s->policy.burst_count =
			p->burst_count < PROC_MAX_DEATHS - 1 ? p->burst_count : PROC_MAX_DEATHS - 1;
	if (p->burst_window_ms > 0)
		s->policy.burst_window_ms = p->burst_window_ms;
	if (s->policy.max_backoff_ms < s->policy.min_backoff_ms)
		s->policy.max_backoff_ms = s->policy.min_backoff_ms;
}

void proc_supervisor_set_restart_cb(struct proc_supervisor *s, proc_restart_fn cb, void *arg)
{
	s->restart_cb = cb;
	s->restart_arg = arg;
}

static void child_free(struct proc_child *ch)
{
	if (!ch)
		return;
	if (ch->restart_ev)
		event_free(ch->restart_ev);
	ipc_chan_free(ch->chan);
	free((char *)ch->spec.name);
	free((char *)ch->spec.user);
	free((char *)ch->spec.chroot_or_null);
	free((int *)ch->spec.keep_fds);
	free(ch);
}

static char *dup_or_null(const char *s, int *failed)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*failed = 1;
	return d;
}

int proc_start(struct proc_supervisor *s, const struct proc_spec *spec,
	       struct ipc_chan **parent_side, ipc_handler_fn handler, void *arg, char *err,
	       size_t errlen)
{
	if (!spec->name || !spec->main || !handler)
		fatal("proc_start: spec without name, main or handler");
	struct proc_child *ch = calloc(1, sizeof(*ch));
	struct proc_child **grown =
		realloc(s->children, (s->n_children + 1) * sizeof(*s->children));
	if (grown)
		s->children = grown;
	if (!ch || !grown) {
		free(ch);
		snprintf(err, errlen, "out of memory starting %s", spec->name);
		return -1;
	}
	int failed = 0;
	ch->s = s;
	ch->spec = *spec;
	ch->spec.name = dup_or_null(spec->name, &failed);
	ch->spec.user = dup_or_null(spec->user, &failed);
	ch->spec.chroot_or_null = dup_or_null(spec->chroot_or_null, &failed);
	ch->spec.keep_fds = NULL;
	if (spec->n_keep_fds) {
		int *keep = malloc(spec->n_keep_fds * sizeof(int));
		if (keep)
			memcpy(keep, spec->keep_fds, spec->n_keep_fds * sizeof(int));
		else
			failed = 1;
		ch->spec.keep_fds = keep;
	}
	ch->handler = handler;
	ch->handler_arg = arg;
	ch->backoff_ms = s->policy.min_backoff_ms;
	ch->restart_ev = evtimer_new(s->base, on_restart_timer, ch);
	if (failed || !ch->restart_ev) {
		child_free(ch);
		snprintf(err, errlen, "out of memory starting %s", spec->name);
		return -1;
	}
	int noop;
	if (spec->user && resolve_user(spec->user, &ch->uid, &ch->gid, &noop, err, errlen) != 0) {
		child_free(ch);
		return -1;
	}
	if (spawn(ch, err, errlen) != 0) {
		child_free(ch);
		return -1;
	}
	s->children[s->n_children++] = ch;
	if (parent_side)
		*parent_side = ch->chan;
	return 0;
}

int proc_stop_all(struct proc_supervisor *s, int timeout_ms)
{
	s->stopping = 1;
	for (size_t i = 0; i < s->n_children; i++) {
		event_del(s->children[i]->restart_ev);
		if (s->children[i]->pid > 0)
			kill(s->children[i]->pid, SIGTERM);
	}
	long long deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	while (reap(s) > 0 && clock_mono_ms() < deadline) {
		struct timespec pause = {0, 10 * 1000 * 1000};
		nanosleep(&pause, NULL);
	}
	int killed = 0;
	for (size_t i = 0; i < s->n_children; i++) {
		struct proc_child *ch = s->children[i];
		if (ch->pid <= 0)
			continue;
		log_warning("event=proc-kill name=%s pid=%d", ch->spec.name, (int)ch->pid);
		kill(ch->pid, SIGKILL);
		int status = 0;
		while (waitpid(ch->pid, &status, 0) < 0 && errno == EINTR)
			;
		child_exited(ch, status);
		killed++;
	}
	return killed;
}

void proc_supervisor_free(struct proc_supervisor *s)
{
	if (!s)
		return;
	proc_stop_all(s, 1000);
	for (size_t i = 0; i < s->n_children; i++)
		child_free(s->children[i]);
	free(s->children);
	event_free(s->sigchld);
	free(s);
}

size_t proc_count(const struct proc_supervisor *s)
{
	return s->n_children;
}

int proc_get_info(const struct proc_supervisor *s, size_t i, struct proc_info *out)
{
	if (i >= s->n_children)
		return -1;
	const struct proc_child *ch = s->children[i];
	*out = (struct proc_info){.name = ch->spec.name,
				  .pid = ch->pid,
				  .restarts = ch->restarts,
				  .next_backoff_ms = ch->backoff_ms,
				  .crash_loop = ch->crash_loop};
	return 0;
}

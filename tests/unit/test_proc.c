/*
 * Process supervision with real children: a child that answers pings over
 * IPC, killed with SIGKILL and restarted; a child that keeps crashing, to
 * observe the back-off; orderly stop; descriptors a child inherits; the
 * privilege drop (only when running as root). Every loop run is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>

#include "common/log.h"
#include "relay/ipc.h"
#include "relay/proc.h"

enum { MSG_PING = 1, MSG_PONG, MSG_PIPE };

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_ms(struct event_base *base, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

#define RUN_UNTIL(base, cond, max_ms)                                                              \
	do {                                                                                       \
		long long deadline_ = now_ms() + (max_ms);                                         \
		while (!(cond) && now_ms() < deadline_)                                            \
			run_ms((base), 5);                                                         \
	} while (0)

/* ---- the child side (no cmocka here: it runs in another process) ---------- */

struct child_cfg {
	int keep_fd;   /* listed in keep_fds: must be open in the child */
	int closed_fd; /* not listed: must be closed in the child */
};

struct child_state {
	struct event_base *base;
	struct ipc_chan *chan;
	const struct child_cfg *cfg;
};

static int child_handler(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct child_state *cs = arg;
	if (type == IPC_CLOSED) {
		event_base_loopbreak(cs->base);
		return 0;
	}
	if (type == MSG_PIPE) {
		if (fd == -1 || ipc_get_end(r) != 0)
			return -1;
		static const char hello[] = "hello from the child";
		ssize_t n = write(fd, hello, sizeof(hello) - 1);
		close(fd);
		return n == (ssize_t)sizeof(hello) - 1 ? 0 : -1;
	}
	uint32_t n;
	if (type != MSG_PING || fd != -1 || ipc_get_u32(r, &n) != 0 || ipc_get_end(r) != 0)
		return -1;
	struct ipc_writer w;
	ipc_writer_init(&w);
	ipc_put_u32(&w, n);
	ipc_put_u32(&w, (uint32_t)getpid());
	ipc_put_u32(&w, (uint32_t)getuid());
	ipc_put_u32(&w, (uint32_t)geteuid());
	ipc_put_u32(&w, (uint32_t)getgid());
	ipc_put_u32(&w, (uint32_t)getgroups(0, NULL));
	uint8_t keep_open = 0, other_closed = 0;
	if (cs->cfg) {
		keep_open = fcntl(cs->cfg->keep_fd, F_GETFD) != -1;
		other_closed = fcntl(cs->cfg->closed_fd, F_GETFD) == -1 && errno == EBADF;
	}
	ipc_put_u8(&w, keep_open);
	ipc_put_u8(&w, other_closed);
	int rc = ipc_send_writer(cs->chan, MSG_PONG, &w, -1);
	ipc_writer_free(&w);
	return rc;
}

/* Answers pings until the parent goes away (or 30 s, as a safety net). */
static int ping_main(void *arg, int parent_fd)
{
	struct child_state cs = {.cfg = arg};
	cs.base = event_base_new();
	if (!cs.base)
		return 2;
	cs.chan = ipc_chan_new(cs.base, parent_fd, child_handler, &cs);
	if (!cs.chan)
		return 3;
	struct timeval limit = {30, 0};
	event_base_loopexit(cs.base, &limit);
	event_base_dispatch(cs.base);
	ipc_chan_free(cs.chan);
	event_base_free(cs.base);
	return 0;
}

static int crash_main(void *arg, int parent_fd)
{
	(void)arg;
	(void)parent_fd;
	return 3;
}

static int stubborn_main(void *arg, int parent_fd)
{
	(void)arg;
	(void)parent_fd;
	signal(SIGTERM, SIG_IGN);
	for (int i = 0; i < 300; i++)
		usleep(100 * 1000);
	return 0;
}

/*
 * The first run (the marker file arg does not exist yet) closes its channel
 * but keeps running, as a wedged child would; later runs answer pings.
 */
static int deaf_main(void *arg, int parent_fd)
{
	int fd = open(arg, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return ping_main(NULL, parent_fd);
	close(fd);
	close(parent_fd);
	for (int i = 0; i < 300; i++)
		usleep(100 * 1000);
	return 0;
}

/* ---- the parent side ---------------------------------------------------- */

struct pong {
	uint32_t n, pid, uid, euid, gid, ngroups;
	uint8_t keep_open, other_closed;
};

struct parent {
	struct event_base *base;
	struct proc_supervisor *sup;
	struct ipc_chan *chan;
	int closed;
	int pongs;
	struct pong last;
	int restarts;
	long long restart_at[16];
};

static int parent_handler(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct parent *p = arg;
	if (fd != -1)
		close(fd);
	if (type == IPC_CLOSED) {
		p->closed++;
		p->chan = NULL;
		return 0;
	}
	struct pong *g = &p->last;
	if (type != MSG_PONG || ipc_get_u32(r, &g->n) || ipc_get_u32(r, &g->pid) ||
	    ipc_get_u32(r, &g->uid) || ipc_get_u32(r, &g->euid) || ipc_get_u32(r, &g->gid) ||
	    ipc_get_u32(r, &g->ngroups) || ipc_get_u8(r, &g->keep_open) ||
	    ipc_get_u8(r, &g->other_closed) || ipc_get_end(r))
		return -1;
	p->pongs++;
	return 0;
}

static void on_restart(void *arg, const struct proc_spec *spec, struct ipc_chan *chan)
{
	struct parent *p = arg;
	assert_non_null(spec->name);
	if (p->restarts < 16)
		p->restart_at[p->restarts] = now_ms();
	p->restarts++;
	p->chan = chan;
}

static void parent_setup(struct parent *p)
{
	memset(p, 0, sizeof(*p));
	p->base = event_base_new();
	assert_non_null(p->base);
	p->sup = proc_supervisor_new(p->base);
	assert_non_null(p->sup);
	proc_supervisor_set_restart_cb(p->sup, on_restart, p);
}

static void parent_teardown(struct parent *p)
{
	proc_supervisor_free(p->sup);
	event_base_free(p->base);
}

/* Sends ping n and waits for its pong. */
static void ping(struct parent *p, uint32_t n)
{
	assert_non_null(p->chan);
	uint8_t payload[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
			      (uint8_t)n};
	int before = p->pongs;
	assert_int_equal(ipc_send(p->chan, MSG_PING, payload, sizeof(payload), -1), 0);
	RUN_UNTIL(p->base, p->pongs > before, 3000);
	assert_int_equal(p->pongs, before + 1);
	assert_int_equal(p->last.n, n);
}

static void test_ping_and_fd_across_processes(void **state)
{
	(void)state;
	struct parent p;
	parent_setup(&p);
	int keep[2], other[2];
	assert_int_equal(pipe(keep), 0);
	assert_int_equal(pipe(other), 0);
	struct child_cfg cfg = {.keep_fd = keep[1], .closed_fd = other[1]};
	struct proc_spec spec = {.name = "pinger",
				 .main = ping_main,
				 .arg = &cfg,
				 .keep_fds = &keep[1],
				 .n_keep_fds = 1};
	char err[256];
	assert_int_equal(proc_start(p.sup, &spec, &p.chan, parent_handler, &p, err, sizeof(err)),
			 0);
	ping(&p, 7);
	assert_int_not_equal(p.last.pid, getpid());
	assert_int_equal(p.last.keep_open, 1);
	assert_int_equal(p.last.other_closed, 1);
	struct proc_info info;
	assert_int_equal(proc_count(p.sup), 1);
	assert_int_equal(proc_get_info(p.sup, 0, &info), 0);
	assert_string_equal(info.name, "pinger");
	assert_int_equal(info.pid, (pid_t)p.last.pid);
	assert_int_equal(info.restarts, 0);
	assert_int_equal(proc_get_info(p.sup, 1, &info), -1);
	/* ps and top show the child by its daemon and role: here "test_proc-pinger", cut to 15. */
	char path[64], comm[32] = "";
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)info.pid);
	FILE *cf = fopen(path, "r");
	assert_non_null(cf);
	assert_non_null(fgets(comm, sizeof(comm), cf));
	fclose(cf);
	assert_string_equal(comm, "test_proc-pinge\n");

	/* A pipe's write end goes to the child, which writes through it. */
	int pf[2];
	assert_int_equal(pipe(pf), 0);
	assert_int_equal(ipc_send(p.chan, MSG_PIPE, NULL, 0, pf[1]), 0);
	close(pf[1]);
	char buf[64] = {0};
	ssize_t got = 0;
	long long deadline = now_ms() + 3000;
	fcntl(pf[0], F_SETFL, O_NONBLOCK);
	while (got == 0 && now_ms() < deadline) {
		run_ms(p.base, 5);
		ssize_t n = read(pf[0], buf, sizeof(buf) - 1);
		if (n > 0)
			got = n;
	}
	assert_string_equal(buf, "hello from the child");
	close(pf[0]);

	assert_int_equal(proc_stop_all(p.sup, 2000), 0);
	assert_int_equal(p.closed, 1);
	close(keep[0]);
	close(keep[1]);
	close(other[0]);
	close(other[1]);
	parent_teardown(&p);
}

static void test_killed_child_is_restarted(void **state)
{
	(void)state;
	struct parent p;
	parent_setup(&p);
	struct proc_spec spec = {.name = "pinger", .main = ping_main};
	char err[256];
	assert_int_equal(proc_start(p.sup, &spec, &p.chan, parent_handler, &p, err, sizeof(err)),
			 0);
	ping(&p, 1);
	pid_t first = (pid_t)p.last.pid;
	assert_int_equal(kill(first, SIGKILL), 0);
	RUN_UNTIL(p.base, p.restarts == 1, 5000);
	assert_int_equal(p.restarts, 1);
	assert_int_equal(p.closed, 1);
	ping(&p, 2);
	assert_int_not_equal(p.last.pid, first);
	struct proc_info info;
	assert_int_equal(proc_get_info(p.sup, 0, &info), 0);
	assert_int_equal(info.restarts, 1);
	assert_int_equal(info.pid, (pid_t)p.last.pid);
	/* The old process is gone for good (reaped, not a zombie). */
	assert_int_equal(kill(first, 0), -1);
	parent_teardown(&p);
}

static void test_backoff_grows_and_crash_loop_is_flagged(void **state)
{
	(void)state;
	struct parent p;
	parent_setup(&p);
	struct proc_policy pol = {.min_backoff_ms = 50,
				  .max_backoff_ms = 400,
				  .burst_count = 3,
				  .burst_window_ms = 10000};
	proc_supervisor_set_policy(p.sup, &pol);
	struct proc_spec spec = {.name = "crasher", .main = crash_main};
	char err[256];
	long long t0 = now_ms();
	assert_int_equal(proc_start(p.sup, &spec, &p.chan, parent_handler, &p, err, sizeof(err)),
			 0);
	RUN_UNTIL(p.base, p.restarts >= 6, 20000);
	assert_true(p.restarts >= 6);
	/* Delays 50, 100, 200, 400, then capped at 400 (crash loop: max back-off). */
	const int want[] = {50, 100, 200, 400, 400, 400};
	long long prev = t0;
	for (int i = 0; i < 6; i++) {
		long long gap = p.restart_at[i] - prev;
		if (gap < want[i] - 2)
			fail_msg("restart %d came after %lld ms, expected at least %d", i + 1, gap,
				 want[i]);
		/* Not wildly late either: the back-off is what paces restarts. */
		if (gap > want[i] + 3000)
			fail_msg("restart %d came after %lld ms, expected about %d", i + 1, gap,
				 want[i]);
		prev = p.restart_at[i];
	}
	struct proc_info info;
	assert_int_equal(proc_get_info(p.sup, 0, &info), 0);
	assert_true(info.crash_loop);
	assert_int_equal(info.next_backoff_ms, 400);
	parent_teardown(&p);
}

static void test_stop_all_kills_stubborn_child(void **state)
{
	(void)state;
	struct parent p;
	parent_setup(&p);
	struct proc_spec spec = {.name = "stubborn", .main = stubborn_main};
	char err[256];
	assert_int_equal(proc_start(p.sup, &spec, &p.chan, parent_handler, &p, err, sizeof(err)),
			 0);
	struct proc_info info;
	assert_int_equal(proc_get_info(p.sup, 0, &info), 0);
	pid_t pid = info.pid;
	run_ms(p.base, 100); /* let it ignore SIGTERM */
	long long t0 = now_ms();
	assert_int_equal(proc_stop_all(p.sup, 200), 1);
	long long took = now_ms() - t0;
	assert_true(took >= 190 && took < 2000);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(proc_get_info(p.sup, 0, &info), 0);
	assert_int_equal(info.pid, 0);
	/* No restart after a stop. */
	run_ms(p.base, 300);
	assert_int_equal(p.restarts, 0);
	parent_teardown(&p);
}

static void test_child_without_channel_is_replaced(void **state)
{
	(void)state;
	struct parent p;
	parent_setup(&p);
	char marker[] = "/tmp/airlock-proc-XXXXXX";
	int mfd = mkstemp(marker);
	assert_true(mfd >= 0);
	close(mfd);
	unlink(marker);
	struct proc_spec spec = {.name = "deaf", .main = deaf_main, .arg = marker};
	char err[256];
	assert_int_equal(proc_start(p.sup, &spec, &p.chan, parent_handler, &p, err, sizeof(err)),
			 0);
	struct proc_info info;
	assert_int_equal(proc_get_info(p.sup, 0, &info), 0);
	pid_t first = info.pid;
	/* The supervisor sees the channel close, terminates the child and starts another. */
	RUN_UNTIL(p.base, p.restarts == 1, 3000);
	assert_int_equal(p.restarts, 1);
	assert_int_equal(p.closed, 1);
	assert_int_equal(kill(first, 0), -1);
	ping(&p, 9);
	assert_int_not_equal(p.last.pid, first);
	unlink(marker);
	parent_teardown(&p);
}

static void test_unknown_user_is_a_start_error(void **state)
{
	(void)state;
	struct parent p;
	parent_setup(&p);
	struct proc_spec spec = {
		.name = "pinger", .main = ping_main, .user = "no-such-user-airlock"};
	char err[256] = "";
	assert_int_equal(proc_start(p.sup, &spec, &p.chan, parent_handler, &p, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "unknown user no-such-user-airlock");
	assert_int_equal(proc_count(p.sup), 0);
	assert_int_equal(proc_drop_privileges("no-such-user-airlock", err, sizeof(err)), -1);
	assert_string_equal(err, "unknown user no-such-user-airlock");
	parent_teardown(&p);
}

static void test_drop_privileges_to_nobody(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: not root: dropping privileges to nobody needs root\n");
		skip();
	}
	struct passwd *pw = getpwnam("nobody");
	if (!pw) {
		print_message("skipped: no user nobody on this system\n");
		skip();
	}
	uid_t nobody_uid = pw->pw_uid;
	gid_t nobody_gid = pw->pw_gid;

	/* On its own, in a forked process. */
	int res[2];
	assert_int_equal(pipe(res), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];
		int out[6];
		out[0] = proc_drop_privileges("nobody", err, sizeof(err));
		out[1] = (int)getuid();
		out[2] = (int)geteuid();
		out[3] = (int)getgid();
		out[4] = setuid(0);
		out[5] = getgroups(0, NULL);
		_exit(write(res[1], out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : 1);
	}
	close(res[1]);
	int out[6];
	assert_int_equal(read(res[0], out, sizeof(out)), (ssize_t)sizeof(out));
	close(res[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], (int)nobody_uid);
	assert_int_equal(out[2], (int)nobody_uid);
	assert_int_equal(out[3], (int)nobody_gid);
	assert_int_equal(out[4], -1);
	assert_int_equal(out[5], 0);

	/* As a supervised child. */
	struct parent p;
	parent_setup(&p);
	struct proc_spec spec = {.name = "pinger", .main = ping_main, .user = "nobody"};
	char err[256];
	assert_int_equal(proc_start(p.sup, &spec, &p.chan, parent_handler, &p, err, sizeof(err)),
			 0);
	ping(&p, 3);
	assert_int_equal(p.last.uid, nobody_uid);
	assert_int_equal(p.last.euid, nobody_uid);
	assert_int_equal(p.last.gid, nobody_gid);
	assert_int_equal(p.last.ngroups, 0);
	parent_teardown(&p);
}

int main(void)
{
	log_init("test_proc", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_and_fd_across_processes),
		cmocka_unit_test(test_killed_child_is_restarted),
		cmocka_unit_test(test_backoff_grows_and_crash_loop_is_flagged),
		cmocka_unit_test(test_stop_all_kills_stubborn_child),
		cmocka_unit_test(test_child_without_channel_is_replaced),
		cmocka_unit_test(test_unknown_user_is_a_start_error),
		cmocka_unit_test(test_drop_privileges_to_nobody),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

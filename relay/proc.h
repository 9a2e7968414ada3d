/*
 * Child processes of a daemon: start, supervise, restart, stop.
 *
 * The parent (root) starts each child with proc_start(): a socketpair, a
 * fork, and in the child a clean slate (every descriptor closed except the
 * parent channel and the listening sockets the spec keeps, signal
 * dispositions and mask reset), the spec's setup function (still with the
 * parent's privileges), an optional chroot, privileges dropped to the
 * spec's user, then the spec's main function, whose result is the exit
 * status. The child never returns into the parent's code or event loop.
 *
 * A child that exits is logged (status or signal) and restarted after an
 * exponential back-off (100 ms doubling to 10 s; a child that stayed up for
 * the burst window starts again at 100 ms). A child that dies more than
 * burst_count times within burst_window_ms is logged at error level
 * ("event=proc-crash-loop") and still restarted, at the maximum back-off.
 *
 * Channels: the supervisor owns the parent side of every child's channel.
 * When a child exits, whatever it sent before dying is delivered first, then
 * the handler gets IPC_CLOSED and the channel is freed; the restarted child
 * gets a new channel, handed to the restart callback. A channel that closes
 * while its child still runs (a protocol error, or the child closed it) makes
 * the supervisor terminate that child, which is then restarted.
 *
 * SIGCHLD is watched with a libevent signal event on the supervisor's base,
 * and only the supervisor's own children are reaped (waitpid on each pid),
 * so other children of the process are left alone.
 */
#ifndef AIRLOCK_PROC_H
#define AIRLOCK_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include <event2/event.h>

#include "relay/ipc.h"

/* What a child is. The supervisor copies the spec and every string in it. */
struct proc_spec {
	const char *name; /* "smtp", "queue": logs and lookups */
	/*
	 * Runs in the child with its end of the socketpair (owned by main).
	 * Returns the exit status (0..255). main should create its own
	 * event_base; the parent's is not usable in the child.
	 */
	int (*main)(void *arg, int parent_fd);
	void *arg;		    /* passed to main; not copied */
	const char *user;	    /* switch to this user; NULL: stay as is (tests only) */
	const char *chroot_or_null; /* chroot here before dropping privileges */
	const int *keep_fds;	    /* descriptors the child inherits (listening sockets) */
	size_t n_keep_fds;
	/*
	 * NULL, or run in the child before the chroot and the user switch,
	 * with the parent's privileges (e.g. to mount something private to
	 * the child). Returns 0, or -1 with one line in err: the child logs it
	 * and exits with a set-up failure (restarted like any other death).
	 */
	int (*setup)(void *arg, char *err, size_t errlen);
};

/* Back-off and crash-loop policy; proc_supervisor_new sets these defaults. */
struct proc_policy {
	int min_backoff_ms;  /* 100 */
	int max_backoff_ms;  /* 10000 */
	int burst_count;     /* 5: more deaths than this within the window is a crash loop */
	int burst_window_ms; /* 60000; also the uptime that resets the back-off */
};

/* One child's state, for status output. */
struct proc_info {
	const char *name; /* internal data */
	pid_t pid;	  /* 0 while waiting to be restarted */
	unsigned restarts;
	int next_backoff_ms; /* the delay the next restart will wait */
	int crash_loop;	     /* 1 while it is dying faster than the policy allows */
};

struct proc_supervisor;

/*
 * Called after a child was restarted, with its spec (internal data) and its
 * new channel (owned by the supervisor, same handler and argument as given
 * to proc_start), so that the daemon can replace the pointer it keeps and
 * send the child its start-up state.
 */
typedef void (*proc_restart_fn)(void *arg, const struct proc_spec *spec, struct ipc_chan *chan);

/*
 * Creates a supervisor on base, watching SIGCHLD there (libevent lets only
 * one base watch signals at a time). Returns NULL if the signal event cannot
 * be set up.
 */
struct proc_supervisor *proc_supervisor_new(struct event_base *base);

/*
 * Stops every child (proc_stop_all with a 1 s timeout) and frees the
 * supervisor and the channels it owns. NULL is allowed.
 */
void proc_supervisor_free(struct proc_supervisor *s);

/* Replaces the back-off policy (values <= 0 keep the current ones). */
void proc_supervisor_set_policy(struct proc_supervisor *s, const struct proc_policy *p);

void proc_supervisor_set_restart_cb(struct proc_supervisor *s, proc_restart_fn cb, void *arg);

/*
 * Starts a child. *parent_side receives the parent's end of its channel
 * (owned by the supervisor; valid until its handler gets IPC_CLOSED), whose
 * messages go to handler with arg. Returns 0, or -1 with a one-line reason
 * in err: an unknown user, a failed socketpair or fork. The user is looked up
 * here, in the parent, so that a bad one is an error at start and not a
 * child dying in a loop.
 */
int proc_start(struct proc_supervisor *s, const struct proc_spec *spec,
	       struct ipc_chan **parent_side, ipc_handler_fn handler, void *arg, char *err,
	       size_t errlen);

/*
 * For SIGTERM: stops restarting (for good: a child that exits later is not
 * restarted either), sends SIGTERM to every child, waits up to timeout_ms for
 * them to exit (blocking: this is the shutdown path), then SIGKILLs the rest
 * and reaps them. Each channel gets the child's last messages and IPC_CLOSED,
 * and is freed. Returns the number of children that had to be killed.
 */
int proc_stop_all(struct proc_supervisor *s, int timeout_ms);

/* Number of children and their state; i runs from 0 to proc_count() - 1. */
size_t proc_count(const struct proc_supervisor *s);
int proc_get_info(const struct proc_supervisor *s, size_t i, struct proc_info *out);

/*
 * Switches the process to user for good: supplementary groups dropped
 * (setgroups(0)), setresgid and setresuid to the user's ids, then checked:
 * every real, effective and saved id is the user's and root cannot be
 * regained. Does nothing and succeeds if the process already runs as that
 * user without privileges. Returns 0, or -1 with a one-line reason in err.
 */
int proc_drop_privileges(const char *user, char *err, size_t errlen);

#endif

/*
 * A small pool of scanning threads for the scan process: jobs are submitted
 * from the event loop thread, or read by the workers themselves (take()
 * below), run on workers, and come back to the event loop thread through a
 * wake pipe.
 *
 * A job has one or more tasks that may run at the same time on different
 * workers (the scan process runs libclamav and the MIME walk of one message
 * side by side). When the last of them has ended, the worker that ended it
 * runs finish(), and then done() is called once on the loop thread.
 *
 * Each worker has its own context (thread_ctx[i], e.g. a MIME walker, which
 * must not be shared between threads); the pool does not own them.
 */
#ifndef AIRLOCK_SCAN_POOL_H
#define AIRLOCK_SCAN_POOL_H

#include <stddef.h>

struct event_base;
struct scan_pool;

#define SCAN_POOL_MAX_THREADS 64

struct scan_pool_fns {
	/* Task number task (0 .. ntasks - 1) of job, on a worker with that worker's context. */
	void (*work)(void *job, unsigned task, void *thread_ctx);
	/* NULL, or on the worker that ended the job's last task, after every task ended. */
	void (*finish)(void *job, void *thread_ctx);
	/*
	 * On the event loop thread after that; the job is the caller's again.
	 * NULL (with a finish()): the job is the caller's again when finish()
	 * returns, and nothing comes back to the loop (no wake-up of it per job).
	 */
	void (*done)(void *job, void *arg);
	/*
	 * NULL, or the pool's own source of jobs, beside scan_pool_submit(): a
	 * worker that finds no task waiting becomes the reader (one at a time)
	 * and calls take(), which waits for the next job (e.g. reads a request
	 * from a socket) and returns it with its number of tasks in *ntasks
	 * (>= 1). The reader runs task 0 itself, so that a job starts on the
	 * thread that read it, with no hand-off to another; its other tasks go
	 * to the next free workers, and another idle worker becomes the reader
	 * meanwhile. take() returns NULL when there is nothing to read for now
	 * (e.g. no socket): it is then called again only after scan_pool_kick().
	 * Before scan_pool_free(), the caller makes a waiting take() return
	 * (e.g. shuts its socket down); take() is not called once the pool is
	 * being freed.
	 */
	void *(*take)(void *arg, unsigned *ntasks, void *thread_ctx);
};

/*
 * Starts nthreads (1..SCAN_POOL_MAX_THREADS) workers; thread_ctx holds
 * nthreads pointers (copied). Returns NULL with a one-line reason in err
 * when a thread, the pipe or the event cannot be created.
 */
struct scan_pool *scan_pool_new(struct event_base *base, unsigned nthreads, void *const *thread_ctx,
				const struct scan_pool_fns *fns, void *arg, char *err,
				size_t errlen);

/*
 * Queues job with ntasks (>= 1) tasks (not owned: the caller keeps it until
 * done() is called for it). Tasks start in order, each on the next free
 * worker. Returns 0, or -1 after scan_pool_free() began.
 */
int scan_pool_submit(struct scan_pool *p, void *job, unsigned ntasks);

/* Jobs submitted or taken and not yet handed to done(). Any thread. */
size_t scan_pool_in_flight(const struct scan_pool *p);

/* Any thread: take() may have something to read again (e.g. a new socket). */
void scan_pool_kick(struct scan_pool *p);

/*
 * Lets the workers finish every job queued, calls done() for each, joins
 * the threads and frees the pool. Call from the event loop thread. NULL ok.
 */
void scan_pool_free(struct scan_pool *p);

#endif

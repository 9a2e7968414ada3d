/*
 * A small pool of scanning threads for the scan process: jobs are submitted
 * from the event loop thread, run on a worker, and come back to the event
 * loop thread through a wake pipe.
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

/* Runs on a worker thread with that worker's context. */
typedef void (*scan_pool_work_fn)(void *job, void *thread_ctx);
/* Runs on the event loop thread once work() returned; the job is the caller's again. */
typedef void (*scan_pool_done_fn)(void *job, void *arg);

/*
 * Starts nthreads (1..SCAN_POOL_MAX_THREADS) workers; thread_ctx holds
 * nthreads pointers (copied). Returns NULL with a one-line reason in err
 * when a thread, the pipe or the event cannot be created.
 */
struct scan_pool *scan_pool_new(struct event_base *base, unsigned nthreads, void *const *thread_ctx,
				scan_pool_work_fn work, scan_pool_done_fn done, void *arg,
				char *err, size_t errlen);

/*
 * Queues job (not owned: the caller keeps it until done() is called for it).
 * Returns 0, or -1 after scan_pool_free() began.
 */
int scan_pool_submit(struct scan_pool *p, void *job);

/* Jobs submitted and not yet handed to done(). */
size_t scan_pool_in_flight(const struct scan_pool *p);

/*
 * Lets the workers finish every job queued, calls done() for each, joins
 * the threads and frees the pool. Call from the event loop thread. NULL ok.
 */
void scan_pool_free(struct scan_pool *p);

#endif

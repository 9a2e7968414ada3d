/*
 * scan_pool: every job runs once on a worker with that worker's context and
 * comes back once on the loop thread; freeing drains what was queued.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include <event2/event.h>

#include "relay/scan_pool.h"

#define NJOBS 200

struct job {
	int ran;
	int done;
	void *ctx;
	pthread_t thread;
};

static struct job jobs[NJOBS];
static int ndone;
static struct event_base *base;
static pthread_t loop_thread;

static void work(void *job, void *ctx)
{
	struct job *j = job;
	j->ran++;
	j->ctx = ctx;
	j->thread = pthread_self();
	usleep(100);
}

static void done(void *job, void *arg)
{
	struct job *j = job;
	assert_ptr_equal(arg, &ndone);
	assert_true(pthread_equal(pthread_self(), loop_thread));
	j->done++;
	if (++ndone == NJOBS)
		event_base_loopbreak(base);
}

static void test_jobs(void **state)
{
	(void)state;
	int ctx[3];
	void *ctxs[3] = {&ctx[0], &ctx[1], &ctx[2]};
	char err[128];
	base = event_base_new();
	loop_thread = pthread_self();
	struct scan_pool *p = scan_pool_new(base, 3, ctxs, work, done, &ndone, err, sizeof(err));
	assert_non_null(p);
	for (int i = 0; i < NJOBS; i++)
		assert_int_equal(scan_pool_submit(p, &jobs[i]), 0);
	assert_int_equal(scan_pool_in_flight(p), NJOBS);
	event_base_dispatch(base);
	assert_int_equal(ndone, NJOBS);
	assert_int_equal(scan_pool_in_flight(p), 0);
	for (int i = 0; i < NJOBS; i++) {
		assert_int_equal(jobs[i].ran, 1);
		assert_int_equal(jobs[i].done, 1);
		assert_true(jobs[i].ctx == ctxs[0] || jobs[i].ctx == ctxs[1] ||
			    jobs[i].ctx == ctxs[2]);
		assert_false(pthread_equal(jobs[i].thread, loop_thread));
	}
	/* queued and not yet dispatched: free drains them */
	ndone = 0;
	for (int i = 0; i < 10; i++)
		assert_int_equal(scan_pool_submit(p, &jobs[i]), 0);
	scan_pool_free(p);
	assert_int_equal(ndone, 10);
	assert_int_equal(jobs[9].ran, 2);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jobs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

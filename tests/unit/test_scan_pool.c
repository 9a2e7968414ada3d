/*
 * scan_pool: every task of every job runs once on a worker with that
 * worker's context, finish() once after the job's last task on the worker
 * that ended it, and the job comes back once on the loop thread; the tasks
 * of one job run at the same time when workers are free; freeing drains
 * what was queued; jobs read by the workers themselves (take()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "relay/scan_pool.h"

#define NJOBS 200

#define NTASKS 3

struct job {
	atomic_int ran[NTASKS];
	atomic_int running; /* tasks of this job running now */
	int finished;
	int done;
	int tasks_at_finish; /* tasks that had ended when finish() ran */
	void *ctx;
	pthread_t thread, finish_thread;
	pthread_t taker; /* the worker whose take() read it */
};

static struct job jobs[NJOBS];
static int ndone;
static struct event_base *base;
static pthread_t loop_thread;

static unsigned ntasks = 1;
static int expect_done = NJOBS;

static void work(void *job, unsigned task, void *ctx)
{
	struct job *j = job;
	assert_true(task < ntasks);
	atomic_fetch_add(&j->ran[task], 1);
	atomic_fetch_add(&j->running, 1);
	if (task == 0) { /* one writer: the tasks of a job run at the same time */
		j->ctx = ctx;
		j->thread = pthread_self();
	}
	usleep(100);
	atomic_fetch_sub(&j->running, 1);
}

static void finish(void *job, void *ctx)
{
	struct job *j = job;
	assert_non_null(ctx);
	assert_false(pthread_equal(pthread_self(), loop_thread));
	char name[16] = "";
	assert_int_equal(pthread_getname_np(pthread_self(), name, sizeof(name)), 0);
	assert_string_equal(name, "scan-worker"); /* top -H shows it */
	j->finished++;
	j->finish_thread = pthread_self();
	j->tasks_at_finish = 0;
	for (unsigned t = 0; t < ntasks; t++)
		j->tasks_at_finish += atomic_load(&j->ran[t]);
	assert_int_equal(atomic_load(&j->running), 0);
}

static void done(void *job, void *arg)
{
	struct job *j = job;
	assert_ptr_equal(arg, &ndone);
	assert_true(pthread_equal(pthread_self(), loop_thread));
	j->done++;
	if (++ndone == expect_done)
		event_base_loopbreak(base);
}

static const struct scan_pool_fns fns = {.work = work, .finish = finish, .done = done};

static void reset(unsigned tasks)
{
	memset(jobs, 0, sizeof(jobs));
	ndone = 0;
	ntasks = tasks;
	expect_done = NJOBS;
}

static void run_jobs(unsigned nthreads, unsigned tasks)
{
	int ctx[3];
	void *ctxs[3] = {&ctx[0], &ctx[1], &ctx[2]};
	char err[128];
	base = event_base_new();
	loop_thread = pthread_self();
	reset(tasks);
	struct scan_pool *p = scan_pool_new(base, nthreads, ctxs, &fns, &ndone, err, sizeof(err));
	assert_non_null(p);
	for (int i = 0; i < NJOBS; i++)
		assert_int_equal(scan_pool_submit(p, &jobs[i], tasks), 0);
	assert_int_equal(scan_pool_in_flight(p), NJOBS);
	event_base_dispatch(base);
	assert_int_equal(ndone, NJOBS);
	assert_int_equal(scan_pool_in_flight(p), 0);
	for (int i = 0; i < NJOBS; i++) {
		for (unsigned t = 0; t < tasks; t++)
			assert_int_equal(atomic_load(&jobs[i].ran[t]), 1);
		assert_int_equal(jobs[i].finished, 1);
		assert_int_equal(jobs[i].tasks_at_finish, (int)tasks);
		assert_int_equal(jobs[i].done, 1);
		bool known = false;
		for (unsigned c = 0; c < nthreads; c++)
			known |= jobs[i].ctx == ctxs[c];
		assert_true(known);
		assert_false(pthread_equal(jobs[i].thread, loop_thread));
	}
	/* queued and not yet dispatched: free drains them */
	ndone = 0;
	for (int i = 0; i < 10; i++)
		assert_int_equal(scan_pool_submit(p, &jobs[i], tasks), 0);
	scan_pool_free(p);
	assert_int_equal(ndone, 10);
	assert_int_equal(atomic_load(&jobs[9].ran[tasks - 1]), 2);
	assert_int_equal(jobs[9].finished, 2);
	event_base_free(base);
}

static void test_jobs(void **state)
{
	(void)state;
	run_jobs(3, 1);
}

static void test_jobs_of_several_tasks(void **state)
{
	(void)state;
	run_jobs(3, NTASKS);
	run_jobs(1, NTASKS); /* one worker runs them one after the other */
}

/* The two tasks of one job meet: each waits (up to 10 s) until the other started. */
static atomic_int met_started;
static atomic_int met_together;

static void meet(void *job, unsigned task, void *ctx)
{
	(void)job;
	(void)task;
	(void)ctx;
	atomic_fetch_add(&met_started, 1);
	for (int i = 0; i < 10000 && atomic_load(&met_started) < 2; i++)
		usleep(1000);
	if (atomic_load(&met_started) == 2)
		atomic_fetch_add(&met_together, 1);
}

static void meet_done(void *job, void *arg)
{
	(void)job;
	(void)arg;
	event_base_loopbreak(base);
}

static void test_tasks_run_side_by_side(void **state)
{
	(void)state;
	char err[128];
	int ctx[2];
	void *ctxs[2] = {&ctx[0], &ctx[1]};
	static const struct scan_pool_fns meet_fns = {.work = meet, .done = meet_done};
	base = event_base_new();
	struct scan_pool *p = scan_pool_new(base, 2, ctxs, &meet_fns, NULL, err, sizeof(err));
	assert_non_null(p);
	int job;
	assert_int_equal(scan_pool_submit(p, &job, 2), 0);
	event_base_dispatch(base);
	assert_int_equal(atomic_load(&met_together), 2);
	scan_pool_free(p);
	event_base_free(base);
}

/*
 * take(): jobs read by the workers themselves from a pipe (a job's index,
 * 4 octets; EOF: nothing to read), one reader at a time, task 0 on the
 * thread that read the job; a source found empty is not read again until
 * scan_pool_kick(), and then it is (a new pipe, as a new socket).
 */
static atomic_int source_fd = -1;
static atomic_int takes, readers, most_readers;

static void *take(void *arg, unsigned *n, void *ctx)
{
	(void)arg;
	(void)ctx;
	atomic_fetch_add(&takes, 1);
	int now = atomic_fetch_add(&readers, 1) + 1;
	if (now > atomic_load(&most_readers))
		atomic_store(&most_readers, now);
	uint32_t idx;
	ssize_t got = read(atomic_load(&source_fd), &idx, sizeof(idx));
	atomic_fetch_sub(&readers, 1);
	if (got != (ssize_t)sizeof(idx))
		return NULL;
	assert_true(idx < NJOBS);
	jobs[idx].taker = pthread_self();
	*n = ntasks;
	return &jobs[idx];
}

static void feed(int fd, uint32_t from, uint32_t to)
{
	for (uint32_t i = from; i < to; i++)
		assert_int_equal(write(fd, &i, sizeof(i)), (ssize_t)sizeof(i));
}

static void take_jobs(unsigned tasks)
{
	int ctx[3], pf[2];
	void *ctxs[3] = {&ctx[0], &ctx[1], &ctx[2]};
	char err[128];
	static const struct scan_pool_fns take_fns = {
		.work = work, .finish = finish, .done = done, .take = take};
	base = event_base_new();
	loop_thread = pthread_self();
	reset(tasks);
	atomic_store(&takes, 0);
	atomic_store(&most_readers, 0);
	assert_int_equal(pipe(pf), 0);
	atomic_store(&source_fd, pf[0]);
	struct scan_pool *p = scan_pool_new(base, 3, ctxs, &take_fns, &ndone, err, sizeof(err));
	assert_non_null(p);
	expect_done = NJOBS - 20;
	feed(pf[1], 0, NJOBS - 20);
	event_base_dispatch(base);
	assert_int_equal(ndone, NJOBS - 20);
	close(pf[1]); /* EOF: the source is empty */
	for (int i = 0; i < 1000 && atomic_load(&readers) + scan_pool_in_flight(p) > 0; i++)
		usleep(1000);
	usleep(20000);
	int before = atomic_load(&takes);
	usleep(50000);
	assert_int_equal(atomic_load(&takes), before); /* not read again without a kick */
	close(pf[0]);
	assert_int_equal(pipe(pf), 0); /* a new source */
	atomic_store(&source_fd, pf[0]);
	feed(pf[1], NJOBS - 20, NJOBS);
	expect_done = NJOBS;
	scan_pool_kick(p);
	event_base_dispatch(base);
	assert_int_equal(ndone, NJOBS);
	for (int i = 0; i < NJOBS; i++) {
		for (unsigned t = 0; t < tasks; t++)
			assert_int_equal(atomic_load(&jobs[i].ran[t]), 1);
		assert_int_equal(jobs[i].finished, 1);
		assert_int_equal(jobs[i].done, 1);
		assert_true(pthread_equal(jobs[i].thread, jobs[i].taker));
	}
	assert_int_equal(atomic_load(&most_readers), 1);
	close(pf[1]); /* take() returns: the pool can be freed */
	scan_pool_free(p);
	close(pf[0]);
	event_base_free(base);
}

static void test_jobs_taken_by_workers(void **state)
{
	(void)state;
	take_jobs(1);
	take_jobs(NTASKS);
}

/* Without done(): finish() ends each job on its worker, and the pool counts it out. */
static atomic_int finished_alone;

static void finish_alone(void *job, void *ctx)
{
	(void)job;
	(void)ctx;
	assert_false(pthread_equal(pthread_self(), loop_thread));
	atomic_fetch_add(&finished_alone, 1);
}

static void test_jobs_without_done(void **state)
{
	(void)state;
	int ctx[2];
	void *ctxs[2] = {&ctx[0], &ctx[1]};
	char err[128];
	static const struct scan_pool_fns alone = {.work = work, .finish = finish_alone};
	base = event_base_new();
	loop_thread = pthread_self();
	reset(2);
	atomic_store(&finished_alone, 0);
	struct scan_pool *p = scan_pool_new(base, 2, ctxs, &alone, NULL, err, sizeof(err));
	assert_non_null(p);
	for (int i = 0; i < NJOBS; i++)
		assert_int_equal(scan_pool_submit(p, &jobs[i], 2), 0);
	for (int i = 0; i < 10000 && scan_pool_in_flight(p) > 0; i++)
		usleep(1000);
	assert_int_equal(scan_pool_in_flight(p), 0);
	assert_int_equal(atomic_load(&finished_alone), NJOBS);
	for (int i = 0; i < NJOBS; i++) {
		assert_int_equal(atomic_load(&jobs[i].ran[0]), 1);
		assert_int_equal(atomic_load(&jobs[i].ran[1]), 1);
	}
	scan_pool_free(p);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jobs),
		cmocka_unit_test(test_jobs_of_several_tasks),
		cmocka_unit_test(test_tasks_run_side_by_side),
		cmocka_unit_test(test_jobs_taken_by_workers),
		cmocka_unit_test(test_jobs_without_done),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

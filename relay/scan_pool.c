/*
 * The scanning thread pool. The mutex guards the two job lists, the task
 * counters of the jobs, the reader's state and the stop flag; a byte on the
 * wake pipe tells the loop that the done list grew. A job stays at the head
 * of the todo list until its last task was started, so that its tasks go to
 * the next free workers one after the other. A worker takes a waiting task
 * before it reads a new job: the tasks of jobs in flight come first.
 */
#include "relay/scan_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"

struct pool_job {
	void *job;
	unsigned ntasks, started, ended; /* mu */
	struct pool_job *next;
};

struct job_list {
	struct pool_job *head, **tail;
};

struct scan_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job_list todo, done; /* mu */
	bool stop;		    /* mu */
	bool reading;		    /* mu: a worker is in take() */
	bool source_empty;	    /* mu: take() found nothing, and no kick came since */
	unsigned kicks;		    /* mu: scan_pool_kick() calls */
	_Atomic size_t in_flight;
	unsigned nthreads;
	pthread_t threads[SCAN_POOL_MAX_THREADS];
	void *ctx[SCAN_POOL_MAX_THREADS];
	struct scan_pool_fns fns;
	void *arg;
	int wake[2];
	struct event *wake_ev;
};

struct worker_arg {
	struct scan_pool *p;
	unsigned index;
};

static void list_init(struct job_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void list_push(struct job_list *l, struct pool_job *j)
{
	j->next = NULL;
	*l->tail = j;
	l->tail = &j->next;
}

static struct pool_job *list_pop(struct job_list *l)
{
	struct pool_job *j = l->head;
	if (j) {
		l->head = j->next;
		if (!l->head)
			l->tail = &l->head;
	}
	return j;
}

/*
 * With mu held: a task of j ran. The last one to end finishes j and hands it
 * to the loop, or, without done(), counts it out and frees it.
 */
static void task_ended(struct scan_pool *p, struct pool_job *j, void *ctx)
{
	if (++j->ended < j->ntasks)
		return;
	if (p->fns.finish) {
		pthread_mutex_unlock(&p->mu);
		p->fns.finish(j->job, ctx);
		pthread_mutex_lock(&p->mu);
	}
	if (!p->fns.done) { /* finish() was the job's end */
		p->in_flight--;
		free(j);
		return;
	}
	/* The loop takes the whole list at once: only the first job in it needs to wake it. */
	bool was_empty = !p->done.head;
	list_push(&p->done, j);
	if (was_empty) {
		char b = 1;
		ssize_t n = write(p->wake[1], &b, 1); /* a full pipe already wakes the loop */
		(void)n;
	}
}

/*
 * With mu held, as the reader: a job from take(), or NULL. Its tasks after
 * the first go to the todo list; the first is the caller's to run.
 */
static struct pool_job *read_job(struct scan_pool *p, void *ctx)
{
	unsigned kicks = p->kicks, ntasks = 0;
	p->reading = true;
	pthread_mutex_unlock(&p->mu);
	void *job = p->fns.take(p->arg, &ntasks, ctx);
	struct pool_job *j = NULL;
	if (job) {
		if (ntasks < 1)
			fatal("scan_pool: take() gave a job without tasks");
		if (!(j = calloc(1, sizeof(*j))))
			fatal("out of memory");
		j->job = job;
		j->ntasks = ntasks;
		j->started = 1;
		p->in_flight++;
	}
	pthread_mutex_lock(&p->mu);
	p->reading = false;
	if (!job && p->kicks == kicks)
		p->source_empty = true;
	if (j && ntasks > 1)
		list_push(&p->todo, j);
	/* With a job: another worker reads now, and the job's other tasks want workers. */
	for (unsigned i = 0; j && i < ntasks && i < p->nthreads; i++)
		pthread_cond_signal(&p->cv);
	return j;
}

static void *worker_main(void *arg)
{
	struct scan_pool *p = ((struct worker_arg *)arg)->p;
	void *ctx = p->ctx[((struct worker_arg *)arg)->index];
	free(arg);
	pthread_setname_np(pthread_self(), "scan-worker");
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct pool_job *j = p->todo.head;
		unsigned task = 0;
		if (j) {
			task = j->started++;
			if (j->started == j->ntasks)
				list_pop(&p->todo);
		} else if (p->stop) {
			break;
		} else if (p->fns.take && !p->reading && !p->source_empty) {
			if (!(j = read_job(p, ctx)))
				continue;
		} else {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		p->fns.work(j->job, task, ctx);
		pthread_mutex_lock(&p->mu);
		task_ended(p, j, ctx);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void run_done(struct scan_pool *p)
{
	pthread_mutex_lock(&p->mu);
	struct pool_job *j = p->done.head;
	list_init(&p->done);
	pthread_mutex_unlock(&p->mu);
	while (j) {
		struct pool_job *next = j->next;
		p->in_flight--;
		p->fns.done(j->job, p->arg);
		free(j);
		j = next;
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	char buf[256];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	run_done(arg);
}

struct scan_pool *scan_pool_new(struct event_base *base, unsigned nthreads, void *const *thread_ctx,
				const struct scan_pool_fns *fns, void *arg, char *err,
				size_t errlen)
{
	if (nthreads < 1 || nthreads > SCAN_POOL_MAX_THREADS || !fns || !fns->work ||
	    (!fns->done && !fns->finish))
		fatal("scan_pool_new: bad arguments");
	struct scan_pool *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	list_init(&p->todo);
	list_init(&p->done);
	p->fns = *fns;
	p->arg = arg;
	if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		free(p);
		return NULL;
	}
	p->wake_ev = event_new(base, p->wake[0], EV_READ | EV_PERSIST, on_wake, p);
	if (!p->wake_ev || event_add(p->wake_ev, NULL) < 0) {
		snprintf(err, errlen, "cannot watch the wake pipe");
		p->nthreads = 0;
		scan_pool_free(p);
		return NULL;
	}
	for (unsigned i = 0; i < nthreads; i++) {
		p->ctx[i] = thread_ctx ? thread_ctx[i] : NULL;
		struct worker_arg *wa = malloc(sizeof(*wa));
		if (!wa)
			fatal("out of memory");
		*wa = (struct worker_arg){p, i};
		int rc = pthread_create(&p->threads[i], NULL, worker_main, wa);
		if (rc != 0) {
			free(wa);
			snprintf(err, errlen, "pthread_create: %s", strerror(rc));
			scan_pool_free(p);
			return NULL;
		}
		p->nthreads = i + 1;
	}
	return p;
}

int scan_pool_submit(struct scan_pool *p, void *job, unsigned ntasks)
{
	if (ntasks < 1)
		fatal("scan_pool_submit: a job without tasks");
	struct pool_job *j = calloc(1, sizeof(*j));
	if (!j)
		fatal("out of memory");
	j->job = job;
	j->ntasks = ntasks;
	pthread_mutex_lock(&p->mu);
	if (p->stop) {
		pthread_mutex_unlock(&p->mu);
		free(j);
		return -1;
	}
	list_push(&p->todo, j);
	p->in_flight++;
	pthread_mutex_unlock(&p->mu);
	/*
	 * One worker per task, woken after the unlock so that it does not wait
	 * for the mutex: a broadcast would wake every idle worker, and those
	 * that find nothing would take CPU from the two that do.
	 */
	for (unsigned i = 0; i < ntasks && i < p->nthreads; i++)
		pthread_cond_signal(&p->cv);
	return 0;
}

size_t scan_pool_in_flight(const struct scan_pool *p)
{
	return p->in_flight;
}

void scan_pool_kick(struct scan_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->kicks++;
	bool wake = p->source_empty && !p->reading;
	p->source_empty = false;
	pthread_mutex_unlock(&p->mu);
	if (wake)
		pthread_cond_signal(&p->cv);
}

void scan_pool_free(struct scan_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	run_done(p);
	if (p->wake_ev)
		event_free(p->wake_ev);
	close(p->wake[0]);
	close(p->wake[1]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

/*
 * Writer transactions and group commit.
 *
 * Threads: everything here runs in the event loop thread except
 * worker_main() and what it calls. A transaction belongs to the loop thread
 * until queue_tx_commit(); it is then staged, handed to the worker in one
 * piece per loop pass (so that commits issued in the same pass make one
 * batch), and comes back through the done list and the wake pipe. The mutex
 * guards the pending and done lists, the stop flag and the counters; the
 * list hand-offs order every access to a transaction between the threads.
 */
#include "relay/queue_spool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "relay/queue_spool_priv.h"

#define TX_BUF_SIZE	(32 * 1024)
#define ID_CREATE_TRIES 4

struct queue_tx {
	struct queue_spool *q;
	struct queue_tx *next;
	char id[QUEUE_ID_MAX + 1];
	int fd;
	off_t content_off;
	uint64_t content_size;
	off_t size;	 /* octets written or buffered since begin or the last restart */
	off_t stale_end; /* a restart left older octets up to here: cut at commit */
	char *buf;
	size_t buflen;
	bool failed;   /* the temp file is gone; commit reports ok=0 */
	bool renamed;  /* the worker moved it into queue/ */
	char err[160]; /* why it failed */
	queue_commit_cb cb;
	void *arg;
	/* A job instead of a commit (queue_spool_run_job): no file, no rename. */
	void (*job)(void *arg);
	void (*job_done)(void *arg);
};

struct tx_list {
	struct queue_tx *head, **tail;
};

struct queue_committer {
	struct event_base *base;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct tx_list staged;		/* loop thread only */
	struct tx_list pending;		/* mu */
	struct tx_list done;		/* mu */
	bool stop;			/* mu */
	struct queue_spool_stats stats; /* mu */
	size_t open_txs;		/* loop thread only */
	int wake[2];
	struct event *wake_ev, *handoff_ev;
};

static void list_init(struct tx_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void list_append(struct tx_list *l, struct tx_list *from)
{
	if (from->head == NULL)
		return;
	*l->tail = from->head;
	l->tail = from->tail;
	list_init(from);
}

/* Marks tx failed with a reason and removes its temp file (any thread). */
static void tx_fail(struct queue_tx *tx, const char *what, int err)
{
	if (tx->failed)
		return;
	tx->failed = true;
	snprintf(tx->err, sizeof(tx->err), "%s: %s", what, strerror(err));
	if (tx->fd >= 0) {
		close(tx->fd);
		tx->fd = -1;
	}
	if (unlinkat(queue_spool_dirfd(tx->q, QUEUE_AREA_TMP), tx->id, 0) < 0 && errno != ENOENT)
		snprintf(tx->err + strlen(tx->err), sizeof(tx->err) - strlen(tx->err),
			 "; temp file not removed");
}

static int write_out(struct queue_tx *tx, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(tx->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			tx_fail(tx, "write", errno);
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int tx_flush(struct queue_tx *tx)
{
	if (tx->failed)
		return -1;
	if (tx->buflen > 0 && write_out(tx, tx->buf, tx->buflen) < 0)
		return -1;
	tx->buflen = 0;
	return 0;
}

static int tx_append(struct queue_tx *tx, const void *data, size_t len)
{
	if (tx->failed)
		return -1;
	if (tx->buflen + len > TX_BUF_SIZE && tx_flush(tx) < 0)
		return -1;
	if (len >= TX_BUF_SIZE) {
		if (write_out(tx, data, len) < 0)
			return -1;
	} else {
		memcpy(tx->buf + tx->buflen, data, len);
		tx->buflen += len;
	}
	tx->size += (off_t)len;
	return 0;
}

/* After a restart that wrote less than was there: the older octets past the new end go. */
static int tx_cut_stale(struct queue_tx *tx)
{
	if (tx->stale_end > tx->size && ftruncate(tx->fd, tx->size) < 0) {
		tx_fail(tx, "truncate", errno);
		return -1;
	}
	return 0;
}

static void tx_free(struct queue_tx *tx)
{
	if (tx->fd >= 0)
		close(tx->fd);
	free(tx->buf);
	free(tx);
}

struct queue_tx *queue_tx_begin(struct queue_spool *q, struct queue_envelope *env, char *err,
				size_t errlen)
{
	return queue_tx_begin_reserve(q, env, 0, err, errlen);
}

struct queue_tx *queue_tx_begin_reserve(struct queue_spool *q, struct queue_envelope *env,
					size_t reserve, char *err, size_t errlen)
{
	char *text = NULL;
	size_t tlen;

	if (q->commit == NULL)
		fatal("queue_tx_begin on a spool opened without an event loop");
	struct queue_tx *tx = calloc(1, sizeof(*tx));
	if (tx == NULL || (tx->buf = malloc(TX_BUF_SIZE)) == NULL) {
		free(tx);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tx->q = q;
	tx->fd = -1;
	for (int i = 0; i < ID_CREATE_TRIES && tx->fd < 0; i++) {
		queue_id_new(env->id);
		if (queue_envelope_format_pad(env, reserve, &text, &tlen) < 0) {
			snprintf(err, errlen, "envelope not writable: %s", strerror(errno));
			goto fail;
		}
		memcpy(tx->id, env->id, sizeof(tx->id));
		tx->fd = queue_spool_create(q, QUEUE_AREA_TMP, tx->id);
		if (tx->fd < 0 && errno != EEXIST)
			break;
		if (tx->fd < 0) {
			free(text);
			text = NULL;
		}
	}
	if (tx->fd < 0) {
		snprintf(err, errlen, "cannot create tmp/%s: %s", tx->id, strerror(errno));
		goto fail;
	}
	tx->content_off = (off_t)tlen;
	if (tx_append(tx, text, tlen) < 0) {
		snprintf(err, errlen, "%s", tx->err);
		goto fail;
	}
	free(text);
	q->commit->open_txs++;
	return tx;
fail:
	free(text);
	env->id[0] = '\0';
	if (tx->fd >= 0) {
		unlinkat(queue_spool_dirfd(q, QUEUE_AREA_TMP), tx->id, 0);
	}
	tx_free(tx);
	return NULL;
}

int queue_tx_restart(struct queue_tx *tx, struct queue_envelope *env, char *err, size_t errlen)
{
	char *text = NULL;
	size_t tlen;

	if (tx->failed) {
		snprintf(err, errlen, "%s", tx->err);
		return -1;
	}
	memcpy(env->id, tx->id, sizeof(tx->id));
	if (queue_envelope_format(env, &text, &tlen) < 0) {
		snprintf(err, errlen, "envelope not writable: %s", strerror(errno));
		return -1;
	}
	tx->buflen = 0;
	tx->content_size = 0;
	if (tx->size > tx->stale_end)
		tx->stale_end = tx->size;
	tx->size = 0;
	if (lseek(tx->fd, 0, SEEK_SET) < 0)
		tx_fail(tx, "seek", errno);
	if (tx_append(tx, text, tlen) < 0) {
		snprintf(err, errlen, "%s", tx->err);
		free(text);
		return -1;
	}
	free(text);
	tx->content_off = (off_t)tlen;
	return 0;
}

int queue_tx_prefix(struct queue_tx *tx, struct queue_envelope *env, const void *prefix,
		    size_t plen, char *err, size_t errlen)
{
	char *text = NULL;
	size_t tlen, head = (size_t)tx->content_off;

	if (tx->failed) {
		snprintf(err, errlen, "%s", tx->err);
		return -1;
	}
	memcpy(env->id, tx->id, sizeof(tx->id));
	if (plen >= head)
		return 1; /* no room: the caller starts over instead */
	if (queue_envelope_format_size(env, head - plen, &text, &tlen) < 0) {
		if (errno == ENOSPC)
			return 1;
		snprintf(err, errlen, "envelope not writable: %s", strerror(errno));
		return -1;
	}
	char *all = realloc(text, head);
	if (!all) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(all + tlen, prefix, plen);
	/* The head may still be in the buffer: flushed first, then written over in place. */
	ssize_t n = -1;
	if (tx_flush(tx) == 0) {
		do
			n = pwrite(tx->fd, all, head, 0);
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)head)
			tx_fail(tx, "write", n < 0 ? errno : EIO);
	}
	free(all);
	if (n != (ssize_t)head) {
		snprintf(err, errlen, "%s", tx->err);
		return -1;
	}
	tx->content_off = (off_t)tlen;
	tx->content_size += plen;
	return 0;
}

const char *queue_tx_id(const struct queue_tx *tx)
{
	return tx->id;
}

uint64_t queue_tx_content_size(const struct queue_tx *tx)
{
	return tx->content_size;
}

off_t queue_tx_content_offset(const struct queue_tx *tx)
{
	return tx->content_off;
}

int queue_tx_write(struct queue_tx *tx, const void *data, size_t len)
{
	if (tx_append(tx, data, len) < 0)
		return -1;
	tx->content_size += len;
	return 0;
}

int queue_tx_read_fd(struct queue_tx *tx)
{
	struct stat a, b;

	if (tx_flush(tx) < 0)
		return -1;
	int fd = queue_spool_open_file(tx->q, QUEUE_AREA_TMP, tx->id, O_RDONLY);
	if (fd < 0)
		return -1;
	if (fstat(fd, &a) < 0 || fstat(tx->fd, &b) < 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

void queue_tx_abort(struct queue_tx *tx)
{
	if (tx == NULL)
		return;
	if (!tx->failed)
		unlinkat(queue_spool_dirfd(tx->q, QUEUE_AREA_TMP), tx->id, 0);
	tx->q->commit->open_txs--;
	tx_free(tx);
}

/* Puts tx on the staged list, which goes to the worker at the end of this loop pass. */
static void stage(struct queue_committer *c, struct queue_tx *tx)
{
	struct tx_list one = {.head = tx, .tail = &tx->next};
	tx->next = NULL;
	bool first = c->staged.head == NULL;
	list_append(&c->staged, &one);
	if (first)
		event_active(c->handoff_ev, EV_TIMEOUT, 0);
}

void queue_tx_commit(struct queue_tx *tx, queue_commit_cb cb, void *arg)
{
	if (cb == NULL)
		fatal("queue_tx_commit without a callback");
	tx->cb = cb;
	tx->arg = arg;
	tx->q->commit->open_txs--;
	stage(tx->q->commit, tx);
}

void queue_spool_run_job(struct queue_spool *q, void (*work)(void *arg), void (*done)(void *arg),
			 void *arg)
{
	if (work == NULL || done == NULL)
		fatal("queue_spool_run_job without a function");
	struct queue_tx *tx = calloc(1, sizeof(*tx));
	if (tx == NULL)
		fatal("out of memory");
	tx->q = q;
	tx->fd = -1;
	tx->job = work;
	tx->job_done = done;
	tx->arg = arg;
	stage(q->commit, tx);
}

/* --- the worker thread --- */

static void process_batch(struct queue_spool *q, struct queue_tx *batch)
{
	int tmpfd = queue_spool_dirfd(q, QUEUE_AREA_TMP);
	int qfd = queue_spool_dirfd(q, QUEUE_AREA_QUEUE);
	size_t renamed = 0;

	for (struct queue_tx *tx = batch; tx != NULL; tx = tx->next) {
		if (tx->job)
			tx->job(tx->arg);
		else if (tx_flush(tx) == 0 && tx_cut_stale(tx) == 0 && fdatasync(tx->fd) < 0)
			tx_fail(tx, "fdatasync", errno);
	}
	for (struct queue_tx *tx = batch; tx != NULL; tx = tx->next) {
		if (tx->failed || tx->job)
			continue;
		if (queue_rename_noreplace(tmpfd, tx->id, qfd, tx->id) < 0) {
			tx_fail(tx, "rename into queue/", errno);
			continue;
		}
		tx->renamed = true;
		renamed++;
	}
	if (renamed > 0 && fsync(qfd) < 0) {
		int e = errno;
		/* Not known to be durable: take them back out so that no 451 is delivered. */
		for (struct queue_tx *tx = batch; tx != NULL; tx = tx->next) {
			if (!tx->renamed)
				continue;
			unlinkat(qfd, tx->id, 0);
			tx->renamed = false;
			tx_fail(tx, "fsync queue/", e);
		}
	}
	for (struct queue_tx *tx = batch; tx != NULL; tx = tx->next) {
		if (tx->fd >= 0) {
			close(tx->fd);
			tx->fd = -1;
		}
	}
	pthread_mutex_lock(&q->commit->mu);
	q->commit->stats.batches++;
	q->commit->stats.dir_fsyncs += renamed > 0;
	pthread_mutex_unlock(&q->commit->mu);
}

static void *worker_main(void *arg)
{
	struct queue_spool *q = arg;
	struct queue_committer *c = q->commit;
	struct tx_list batch;

	pthread_setname_np(pthread_self(), "queue-commit");
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (c->pending.head == NULL && !c->stop)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->pending.head == NULL)
			break;
		batch = c->pending;
		list_init(&c->pending);
		pthread_mutex_unlock(&c->mu);

		process_batch(q, batch.head);

		pthread_mutex_lock(&c->mu);
		list_append(&c->done, &batch);
		ssize_t w;
		do {
			w = write(c->wake[1], "x", 1);
		} while (w < 0 && errno == EINTR); /* EAGAIN: a wake-up is already pending */
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* --- back in the loop thread --- */

static void run_done(struct queue_committer *c)
{
	struct tx_list done;
	char quoted[200];

	pthread_mutex_lock(&c->mu);
	done = c->done;
	list_init(&c->done);
	for (struct queue_tx *tx = done.head; tx != NULL; tx = tx->next) {
		if (tx->job)
			continue;
		if (tx->failed)
			c->stats.commit_failures++;
		else
			c->stats.commits++;
	}
	pthread_mutex_unlock(&c->mu);
	for (struct queue_tx *tx = done.head, *next; tx != NULL; tx = next) {
		next = tx->next;
		if (tx->job) {
			tx->job_done(tx->arg);
			tx_free(tx);
			continue;
		}
		if (tx->failed)
			log_warning("event=queue-commit-failed id=%s error=%s", tx->id,
				    log_quote(quoted, sizeof(quoted), tx->err));
		tx->cb(tx->arg, !tx->failed, tx->id, tx->failed ? tx->err : NULL);
		tx_free(tx);
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	char drain[64];
	(void)what;
	while (read(fd, drain, sizeof(drain)) > 0)
		;
	run_done(arg);
}

static void hand_off(struct queue_committer *c)
{
	pthread_mutex_lock(&c->mu);
	list_append(&c->pending, &c->staged);
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void on_handoff(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hand_off(arg);
}

static void committer_free(struct queue_committer *c)
{
	if (c->wake_ev != NULL)
		event_free(c->wake_ev);
	if (c->handoff_ev != NULL)
		event_free(c->handoff_ev);
	if (c->wake[0] >= 0)
		close(c->wake[0]);
	if (c->wake[1] >= 0)
		close(c->wake[1]);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int queue_commit_start(struct queue_spool *q, struct event_base *base, char *err, size_t errlen)
{
	struct queue_committer *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->base = base;
	c->wake[0] = c->wake[1] = -1;
	list_init(&c->staged);
	list_init(&c->pending);
	list_init(&c->done);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) < 0 ||
	    (c->wake_ev = event_new(base, c->wake[0], EV_READ | EV_PERSIST, on_wake, c)) == NULL ||
	    (c->handoff_ev = event_new(base, -1, 0, on_handoff, c)) == NULL ||
	    event_add(c->wake_ev, NULL) < 0) {
		snprintf(err, errlen, "cannot set up the commit worker: %s", strerror(errno));
		committer_free(c);
		return -1;
	}
	q->commit = c;
	/* The worker blocks every signal, so signals keep reaching the loop thread. */
	sigset_t all, saved;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	int e = pthread_create(&c->thread, NULL, worker_main, q);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (e != 0) {
		snprintf(err, errlen, "cannot start the commit worker: %s", strerror(e));
		q->commit = NULL;
		committer_free(c);
		return -1;
	}
	return 0;
}

void queue_commit_stop(struct queue_spool *q)
{
	struct queue_committer *c = q->commit;

	if (c == NULL)
		return;
	if (c->open_txs != 0)
		fatal("spool freed with %zu open transactions", c->open_txs);
	hand_off(c);
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	run_done(c);
	q->commit = NULL;
	committer_free(c);
}

void queue_spool_get_stats(struct queue_spool *q, struct queue_spool_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (q->commit == NULL)
		return;
	pthread_mutex_lock(&q->commit->mu);
	*out = q->commit->stats;
	pthread_mutex_unlock(&q->commit->mu);
}

/*
 * Internal to the spool module (queue_spool.c and queue_tx.c): the spool
 * structure and the hooks between the two files. Not an API.
 */
#ifndef AIRLOCK_QUEUE_SPOOL_PRIV_H
#define AIRLOCK_QUEUE_SPOOL_PRIV_H

#include <stddef.h>

#include "relay/queue_spool.h"

struct queue_committer;

struct queue_spool {
	int top;			/* the spool directory */
	int dirfd[QUEUE_AREA_HOLD + 1]; /* tmp/, queue/, hold/ */
	struct queue_spool_opts opts;
	struct queue_committer *commit; /* NULL in a process that only reads */
};

/* Starts the commit worker of a writer spool (queue_tx.c). Returns 0 or -1 with err. */
int queue_commit_start(struct queue_spool *q, struct event_base *base, char *err, size_t errlen);

/* Finishes commits in flight, runs their callbacks, stops the worker. No-op for a reader. */
void queue_commit_stop(struct queue_spool *q);

#endif

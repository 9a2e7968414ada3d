/*
 * Internal data of the scan engine, shared by scan_engine.c (build, scan)
 * and scan_engine_reload.c (reload, database directory). Not an API.
 */
#ifndef AIRLOCK_SCAN_ENGINE_PRIV_H
#define AIRLOCK_SCAN_ENGINE_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "relay/scan_engine.h"

struct cl_engine;

/* One compiled libclamav engine and what it was loaded from. */
struct scan_compiled {
	struct cl_engine *cl;
	unsigned refs; /* under scan_engine.lock: 1 while current, +1 per scan on it */
	unsigned signatures;
	unsigned db_version;
	int64_t db_time;
	int64_t loaded_at;
};

struct scan_engine {
	char *db_dir;
	char *tmp_dir;		   /* owned; limits.tmp_dir points here */
	struct scan_limits limits; /* constant after scan_engine_new() */

	pthread_mutex_t lock;	   /* everything below */
	pthread_cond_t cond;	   /* an engine was freed, or a blocking reload ended */
	struct scan_compiled *cur; /* NULL only after a failed blocking reload */
	unsigned live;		   /* compiled engines not yet freed */
	bool reloading;		   /* a reload (either kind) is running */
	bool blocking_reload;	   /* scans wait while set */
	bool thread_started;	   /* thread needs a join */
	pthread_t thread;
	uint64_t fingerprint; /* of db_dir when cur started loading */
	bool fingerprint_ok;
	int64_t last_reload;
	unsigned reloads, reload_failures;
	char last_error[SCAN_NAME_MAX];
	void (*done)(void *arg, int ok, const char *err);
	void *done_arg;
};

/* Per-scan context handed to libclamav's callbacks. */
struct scan_ctx {
	uint64_t max_file_size;
	bool member_too_big;
	char found[SCAN_NAME_MAX]; /* first alert name, "" if none */
	/*
	 * libclamav's first message during the scan that it could not create or
	 * write a temporary file (scan_engine_temp_failure), "" if none.
	 * libclamav goes on and may answer CL_CLEAN, having skipped what needed
	 * the file: a clean answer with such a message is not a completed scan.
	 * (Its errors about malformed content do not count: those scans did
	 * complete. The clean answer libclamav may cache for the message's
	 * bytes does not serve a retry: the edge's Received: field makes each
	 * attempt's content differ.)
	 */
	char error[SCAN_NAME_MAX];
};

/* Loads and compiles db_dir with limits l. NULL with a reason in err on failure. */
struct scan_compiled *scan_compiled_new(const char *db_dir, const struct scan_limits *l, char *err,
					size_t errlen);
void scan_compiled_free(struct scan_compiled *c);

/* Drops one reference on c; frees it (outside the lock) when it was the last. */
void scan_engine_release(struct scan_engine *e, struct scan_compiled *c);

/*
 * Walks db_dir's regular files (dot-files skipped): the order-independent
 * fingerprint into fp and the newest mtime into newest, each if not NULL.
 * Returns 0, or -1 if the directory cannot be read.
 */
int scan_db_walk(const char *db_dir, uint64_t *fp, int64_t *newest);

#endif

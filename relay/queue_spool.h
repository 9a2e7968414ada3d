/*
 * The durable queue on disk (the spool): its directories, safe file
 * creation, the writer's transactions with group commit, and the reader's
 * operations on committed messages.
 *
 * Layout under the spool directory (default /var/spool/airlock):
 *
 *	tmp/ID		being written by the smtp process (only it writes here)
 *	queue/ID	committed messages, one queue file (queue_file.h) each
 *	queue/ID.done	delivery progress of queue/ID (see below)
 *	hold/ID		expired or held messages, with a "hold" line
 *	hold/ID.tmp	a hold being written by the queue process
 *
 * Both processes run as the same user. Every file is opened relative to a
 * directory fd kept open since queue_spool_open(), never by a path that a
 * rename could redirect, with O_NOFOLLOW; new files with O_CREAT|O_EXCL and
 * mode 0600; every open file is checked with fstat() to be a regular file
 * owned by the effective user with exactly one link (Postfix's safe_open).
 *
 * Durability (RFC 5321 6.1, a 250 means the message is on disk): a
 * transaction writes tmp/ID, then at commit the file is flushed and
 * fdatasync()ed, renamed into queue/ (never replacing an existing name), and
 * the queue/ directory is fsync()ed; only then does the commit callback
 * report success, so the server sends its 250 after all of it. Commits are
 * grouped: a worker thread takes every commit issued so far as one batch,
 * syncs each file, renames each, and syncs queue/ once for the batch.
 *
 * Delivery progress (queue/ID.done): one line "done INDEX ID\n" appended
 * per delivered recipient, with O_APPEND and no fsync; the queue process
 * writes it only for a message that stays queued after an attempt (one
 * finished in one attempt is removed without it). A lost line after a
 * crash only makes that recipient be delivered twice. A damaged line (a torn
 * append, zeros, garbage) is ignored, because it cannot both carry the
 * message's own id and end with LF by accident; so the sidecar can make a
 * recipient look pending when it was delivered, never the reverse. Whether a
 * message is finished is decided by the queue process from its own delivery
 * results, never from the sidecar alone; it then removes queue/ID first and
 * the sidecar second, so a crash in between leaves an orphan sidecar (removed
 * by queue_spool_recover()), never a message without its progress.
 *
 * Process notes: a writer spool starts a thread, so open it in the process
 * that uses it, after any fork(). A process that writes the spool must
 * ignore SIGXFSZ, so that a file size limit fails one write with EFBIG
 * instead of killing the process.
 *
 * Errors: functions that can fail at run time return -1 (or NULL) and write
 * a one-line reason into err when they take one; they never abort on
 * anything found on disk. Misuse by the caller (our bug) is fatal().
 */
#ifndef AIRLOCK_QUEUE_SPOOL_H
#define AIRLOCK_QUEUE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "relay/queue_file.h"

struct event_base;
struct queue_spool;
struct queue_tx;

#define QUEUE_SPOOL_DEFAULT_DIR "/var/spool/airlock"

enum queue_area { QUEUE_AREA_TMP = 0, QUEUE_AREA_QUEUE, QUEUE_AREA_HOLD };

struct queue_spool_opts {
	/* Back-pressure: queue_spool_space_ok() is false below either threshold. */
	uint64_t min_free_bytes;
	unsigned min_free_percent; /* 0..100 */
};

/* Counters of the writer side, for the control socket and tests. */
struct queue_spool_stats {
	uint64_t commits;	  /* commit callbacks run with ok=1 */
	uint64_t commit_failures; /* commit callbacks run with ok=0 */
	uint64_t batches;	  /* batches taken by the commit worker */
	uint64_t dir_fsyncs;	  /* fsync()s of queue/ by the commit worker */
};

/*
 * Opens the spool at dir, creating dir and its tmp/, queue/ and hold/ with
 * mode 0700 when missing. Each must be a real directory (not a symlink)
 * owned by the effective user and not writable by group or others.
 * base: the event loop of the writer (the smtp process), whose thread runs
 * the commit callbacks; a commit worker thread is started. NULL for a
 * process that only reads (the queue process); transactions are then our
 * bug. opts may be NULL (no free-space thresholds); it is copied.
 * Returns a new spool, or NULL with a one-line reason in err.
 */
struct queue_spool *queue_spool_open(const char *dir, struct event_base *base,
				     const struct queue_spool_opts *opts, char *err, size_t errlen);

/*
 * Waits for commits in flight, runs their callbacks (so call it from the
 * loop thread, before freeing base), stops the worker and frees q. Every
 * transaction must have been committed or aborted (else fatal()). NULL ok.
 */
void queue_spool_free(struct queue_spool *q);

/* The directory fd of an area (internal data of q; do not close). */
int queue_spool_dirfd(const struct queue_spool *q, enum queue_area area);

void queue_spool_get_stats(struct queue_spool *q, struct queue_spool_stats *out);

/*
 * Removes everything in tmp/: the leftovers of a writer that died. Call it
 * when the smtp process starts, before its first transaction. Returns the
 * number of files removed, or -1 if tmp/ cannot be read.
 */
int queue_spool_clean_tmp(struct queue_spool *q);

/*
 * Finishes what a queue process that died left half done. Call it when the
 * queue process starts, before listing. Removes hold/ID.tmp files, queue/ID
 * when hold/ID exists (a hold that got as far as its rename), and
 * queue/ID.done when queue/ID is gone. Returns the number of files removed,
 * or -1 if a directory cannot be read.
 */
int queue_spool_recover(struct queue_spool *q);

/*
 * False when the file system of the spool has less free space than the
 * thresholds of the options (the server then answers 452 4.3.1), or when
 * statvfs() fails (logged).
 */
bool queue_spool_space_ok(struct queue_spool *q);

/*
 * Safe file primitives, used by this module and exposed for tests and for
 * other spool users. name must be a single path component.
 * queue_spool_create: a new file, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0600.
 * queue_spool_open_file: an existing file with flags (O_RDONLY, or
 * O_WRONLY|O_APPEND, optionally with O_CREAT), always O_NOFOLLOW.
 * Both fstat-check the result. Return an fd (caller closes) or -1 with errno
 * set (ELOOP for a symlink, EEXIST, EPERM for a failed fstat check...).
 */
int queue_spool_create(struct queue_spool *q, enum queue_area area, const char *name);

/*
 * The same safe open for a spool-like directory of another module (the
 * quarantine): openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, 0600),
 * then the fstat checks. Returns an fd or -1 with errno.
 */
int queue_file_openat(int dirfd, const char *name, int flags);

/* write() of all n octets, retried on EINTR. Returns 0, or -1 with errno. */
int queue_file_write_all(int fd, const void *data, size_t n);

/*
 * Writes env's envelope, then len octets of in from offset off, into the
 * new file out, and fdatasyncs it. Returns 0, or -1 with errno (EIO when in
 * is shorter than len).
 */
int queue_file_write_copy(int out, const struct queue_envelope *env, int in, off_t off,
			  uint64_t len);

/*
 * rename() that never replaces an existing name (which may be a planted
 * symlink or another message): renameat2(RENAME_NOREPLACE), or link+unlink
 * on a file system without it. Returns 0 or -1 with errno (EEXIST...).
 */
int queue_rename_noreplace(int fromdir, const char *from, int todir, const char *to);
int queue_spool_open_file(struct queue_spool *q, enum queue_area area, const char *name, int flags);

/* --- writer side (the smtp process; event loop thread only) --- */

/*
 * Starts a transaction: draws a new queue id into env->id, creates tmp/ID
 * and writes env's envelope into it (env's other fields are read, not kept:
 * the caller still owns them). Returns the transaction, or NULL with a
 * reason in err (the envelope does not format, the file cannot be created).
 */
struct queue_tx *queue_tx_begin(struct queue_spool *q, struct queue_envelope *env, char *err,
				size_t errlen);

/*
 * Starts tx's file over, for a writer that replaces what it wrote (the edge
 * after the scan: the stamped content, perhaps for changed recipients):
 * writes env's envelope again from the start of tmp/ID. tx keeps its id,
 * which is copied into env->id; the content written so far is dropped
 * (content size 0, buffered octets discarded), so read what is still needed
 * first. The new octets overwrite the old ones in place (no truncation, so
 * the file's pages are reused); whatever is left past the new end is cut off
 * at commit, before the file is synced. One file per message: nothing is
 * created or removed, and content that had not reached the disk yet never
 * does. Returns 0, or -1 with a
 * reason in err: the envelope does not format (tx unchanged), or the file
 * cannot be written (tx is then failed, as after queue_tx_write()).
 */
int queue_tx_restart(struct queue_tx *tx, struct queue_envelope *env, char *err, size_t errlen);

/*
 * queue_tx_begin() with reserve octets of pad lines in the envelope
 * (queue_envelope_format_pad(): 0 none, a reserve under QUEUE_PAD_LINE_MIN
 * rounded up to it), the room queue_tx_prefix() writes into.
 */
struct queue_tx *queue_tx_begin_reserve(struct queue_spool *q, struct queue_envelope *env,
					size_t reserve, char *err, size_t errlen);

/*
 * Puts prefix[0..plen) in front of the content written so far, without
 * writing the content again: the octets before the content (the envelope
 * with its pad lines) are written over in place, from the start of tmp/ID,
 * as env's envelope (id copied into env->id, as by queue_tx_restart), padded
 * to end exactly where prefix must start. The content then starts plen
 * octets earlier and is plen octets longer. Returns 0; 1 when they do not
 * fit in that room (nothing written: start over with queue_tx_restart());
 * -1 with a reason in err when the envelope does not format or the file
 * cannot be written (tx is then failed, as after queue_tx_write()).
 */
int queue_tx_prefix(struct queue_tx *tx, struct queue_envelope *env, const void *prefix,
		    size_t plen, char *err, size_t errlen);

/* The queue id of tx (internal data of tx, valid until it is freed). */
const char *queue_tx_id(const struct queue_tx *tx);

/* Content octets given to queue_tx_write() so far. */
uint64_t queue_tx_content_size(const struct queue_tx *tx);

/* Offset of the content in the file (the envelope's length). */
off_t queue_tx_content_offset(const struct queue_tx *tx);

/*
 * Appends message content (buffered). Returns 0, or -1 when the file
 * cannot be written (ENOSPC, EFBIG, EIO...): the transaction is then failed,
 * its temp file is already removed, further writes return -1 and its commit
 * reports ok=0. The caller still commits or aborts it.
 */
int queue_tx_write(struct queue_tx *tx, const void *data, size_t len);

/*
 * Flushes what was written and returns a new read-only fd of the temp file
 * (the same file, checked by inode), for the scanner; the caller closes it.
 * The content starts at queue_tx_content_offset(). -1 on error or when tx
 * has failed.
 */
int queue_tx_read_fd(struct queue_tx *tx);

/*
 * Called exactly once per commit, in the event loop thread. ok=1: the file
 * is at queue/ID and durable; ok=0: it is not in the queue (the server
 * answers 451 4.3.0), err says why. id and err are valid during the call.
 */
typedef void (*queue_commit_cb)(void *arg, int ok, const char *id, const char *err);

/*
 * Commits tx: flush, fdatasync the file, rename tmp/ID to queue/ID without
 * replacing anything there, fsync queue/ (grouped with other commits by the
 * worker thread). cb runs later from the event loop, never from inside this
 * call. On failure the temp file is removed. tx gets owned by the spool and
 * is freed after cb returns.
 */
void queue_tx_commit(struct queue_tx *tx, queue_commit_cb cb, void *arg);

/* Removes the temp file and frees tx. Only before queue_tx_commit(). */
void queue_tx_abort(struct queue_tx *tx);

/*
 * Other blocking disk work of the writer (e.g. storing a message in the
 * quarantine, with its fdatasync and directory fsync): work(arg) runs on the
 * commit thread, in turn with the commit batches, so that the event loop
 * never waits for the disk; done(arg) runs later in the event loop thread,
 * never from inside this call. work must not touch what the loop thread
 * uses meanwhile.
 */
void queue_spool_run_job(struct queue_spool *q, void (*work)(void *arg), void (*done)(void *arg),
			 void *arg);

/* --- reader side (the queue process) --- */

/*
 * Calls each(arg, id) for every committed message in area (QUEUE_AREA_QUEUE
 * or QUEUE_AREA_HOLD), in no particular order; names that are not queue ids
 * are skipped. each returns 0 to go on, non-zero to stop. Returns the number
 * of ids passed to each, or -1 if the directory cannot be read.
 */
int queue_spool_list(struct queue_spool *q, enum queue_area area,
		     int (*each)(void *arg, const char *id), void *arg);

/*
 * Opens message id in area (QUEUE_AREA_QUEUE or QUEUE_AREA_HOLD) safely and
 * parses its envelope into *env (owned by the caller: queue_envelope_free()).
 * env->rcpts keeps every recipient at its original index, and
 * env->rcpt_done[i] is true when the sidecar records rcpts[i] as delivered
 * (always false in hold/, whose files list pending recipients only).
 * *fd gets a read-only fd of the file (caller closes); the content is the
 * *content_len octets from *content_off. Returns 0, or -1 with a reason in
 * err (missing, unsafe, malformed, or its id line does not match its name);
 * nothing is then owned by the caller.
 */
int queue_msg_open(struct queue_spool *q, enum queue_area area, const char *id,
		   struct queue_envelope *env, int *fd, off_t *content_off, uint64_t *content_len,
		   char *err, size_t errlen);

/*
 * Records that recipient rcpt_index of queued message id was delivered
 * (appended to queue/ID.done, not synced; see the top of this file).
 * Returns 0, or -1 with errno (ENOENT when queue/ID does not exist).
 */
int queue_msg_rcpt_done(struct queue_spool *q, const char *id, size_t rcpt_index);

/*
 * Removes message id from area: the file, then its sidecar. The directory is
 * not fsynced: after a crash a removed message may come back and be
 * delivered again, never lost. Returns 0, or -1 with errno (ENOENT if it was
 * not there).
 */
int queue_msg_remove(struct queue_spool *q, enum queue_area area, const char *id);

/*
 * Moves queued message id to hold/ with reason recorded in its envelope.
 * The held copy lists only the recipients not yet delivered, so it has no
 * sidecar. reason is sanitised (CR, LF, NUL and other control octets become
 * spaces; cut to QUEUE_VALUE_MAX). Order: hold/ID.tmp written and synced,
 * renamed to hold/ID, hold/ synced, then queue/ID and its sidecar removed
 * and queue/ synced. Returns 0, or -1 with a reason in err (nothing moved),
 * e.g. when every recipient is already delivered (remove it instead).
 */
int queue_msg_hold(struct queue_spool *q, const char *id, const char *reason, char *err,
		   size_t errlen);

/* What a listing shows about one message. */
struct queue_msg_info {
	char id[QUEUE_ID_MAX + 1];
	int64_t arrived;
	uint64_t file_size;    /* octets of the whole file */
	uint64_t content_size; /* octets of the message content */
	char from[QUEUE_VALUE_MAX + 1];
	size_t nrcpts;
	size_t ndone;			       /* recipients already delivered */
	char hold_reason[QUEUE_VALUE_MAX + 1]; /* "" unless held */
};

/* Fills *out for message id in area. Returns 0, or -1 with a reason in err. */
int queue_msg_stat(struct queue_spool *q, enum queue_area area, const char *id,
		   struct queue_msg_info *out, char *err, size_t errlen);

#endif

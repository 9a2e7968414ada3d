/*
 * The quarantine: messages a transport rule (action quarantine) kept out of
 * delivery, each in one file of the spool's format (relay/queue_file.h)
 * whose "hold" line says why, until an operator releases or deletes it.
 *
 * Layout of the quarantine directory (queue.quarantine_dir, by default
 * SPOOL/quarantine):
 *
 *	ID		a quarantined message: envelope (with "hold REASON"),
 *			empty line, content exactly as it would have been queued
 *	ID.tmp		being written by scan_quarantine_store()
 *	ID.rel		the released copy being written by scan_quarantine_release()
 *
 * The envelope gives the envelope (sender, recipients, client address,
 * HELO), "arrived" says when (a message is quarantined before the client is
 * answered, so arrival is the time of the quarantine) and "hold" says why.
 * The id is a queue id, and stays the message's id when it is released.
 *
 * Files are opened like the spool's (queue_spool.h): relative to a
 * directory fd kept open, O_NOFOLLOW, new files O_EXCL and 0600, checked
 * with fstat() (regular, owned by us, one link). The directory must be
 * owned by the effective user and not writable by group or others.
 * Reading a quarantined file parses its envelope with the spool's fail-closed
 * reader; a file that does not parse is reported, never trusted.
 *
 * The smtp process stores (synchronously: quarantining is rare), the queue
 * process lists, shows, releases and deletes; both run as the spool's
 * owner. Errors are run-time trouble: -1 with a one-line reason in err.
 */
#ifndef AIRLOCK_SCAN_QUARANTINE_H
#define AIRLOCK_SCAN_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "relay/queue_file.h"
#include "relay/queue_spool.h"

/* Octets of the header section that scan_quarantine_headers() returns at most. */
#define SCAN_QUARANTINE_HEADERS_MAX (32 * 1024)

struct scan_quarantine;

/*
 * Opens the quarantine directory dir, creating it (mode 0700) when missing.
 * Returns a handle (free with scan_quarantine_free()), or NULL with a reason
 * in err (not a directory, a symlink, wrong owner or mode).
 */
struct scan_quarantine *scan_quarantine_open(const char *dir, char *err, size_t errlen);

void scan_quarantine_free(struct scan_quarantine *qr);

/*
 * Stores a message: env (read, not kept; env->id must be a fresh queue id,
 * its hold reason is replaced by reason, sanitised like queue_msg_hold()'s)
 * and the content[0..len). Writes ID.tmp, fdatasync()s it, renames it to ID
 * without replacing anything, fsync()s the directory. Returns 0 once the
 * message is durable, or -1 with a reason in err (nothing is left behind).
 */
int scan_quarantine_store(struct scan_quarantine *qr, const struct queue_envelope *env,
			  const char *reason, const void *content, size_t len, char *err,
			  size_t errlen);

/*
 * Calls each(arg, id) for every quarantined message (names that are not
 * queue ids are skipped). each returns non-zero to stop. Returns the number
 * of ids passed, or -1 if the directory cannot be read.
 */
int scan_quarantine_list(struct scan_quarantine *qr, int (*each)(void *arg, const char *id),
			 void *arg);

/* What a listing shows about one quarantined message. */
struct scan_quarantine_info {
	char id[QUEUE_ID_MAX + 1];
	int64_t arrived;       /* unix seconds: when it was quarantined */
	uint64_t content_size; /* octets */
	char from[QUEUE_VALUE_MAX + 1];
	char first_rcpt[QUEUE_VALUE_MAX + 1];
	size_t nrcpts;
	char client[QUEUE_CLIENT_MAX + 1];
	char reason[QUEUE_VALUE_MAX + 1];
};

/* Fills *out for message id. Returns 0, or -1 with a reason in err. */
int scan_quarantine_stat(struct scan_quarantine *qr, const char *id,
			 struct scan_quarantine_info *out, char *err, size_t errlen);

/*
 * Opens message id: parses its envelope into *env (gets owned by the
 * caller: queue_envelope_free()) and returns in *hdr (malloc'd, gets owned,
 * NUL-terminated, *hdrlen octets) its header section, up to the empty line
 * or SCAN_QUARANTINE_HEADERS_MAX octets (*cut true when cut there).
 * Returns 0, or -1 with a reason in err (nothing owned then).
 */
int scan_quarantine_headers(struct scan_quarantine *qr, const char *id, struct queue_envelope *env,
			    char **hdr, size_t *hdrlen, bool *cut, char *err, size_t errlen);

/* Removes message id and fsyncs the directory. Returns 0, or -1 with errno (ENOENT...). */
int scan_quarantine_delete(struct scan_quarantine *qr, const char *id);

/*
 * Releases message id into spool's queue/ under the same id: writes the
 * released copy (the envelope without its hold line, the content as it is)
 * as ID.rel, fdatasync()s it, renames it to queue/ID without replacing
 * anything, fsync()s queue/, then removes quarantine/ID and fsync()s the
 * quarantine directory. The caller then kicks the queue runner. Returns 0,
 * or -1 with a reason in err (the message stays quarantined).
 */
int scan_quarantine_release(struct scan_quarantine *qr, struct queue_spool *spool, const char *id,
			    char *err, size_t errlen);

/*
 * Finishes what a release that died left: removes ID.rel files, and ID when
 * spool's queue/ID exists (a release that got as far as its rename). Call it
 * when the queue process starts. Returns the number of files removed, or -1
 * if the directory cannot be read.
 */
int scan_quarantine_recover(struct scan_quarantine *qr, struct queue_spool *spool);

/*
 * Removes the ID.tmp files of stores that died. Only the writer (the smtp
 * process) may call it, at its start: the queue process restarting on its
 * own must not remove a store in progress. Returns as scan_quarantine_recover.
 */
int scan_quarantine_clean_tmp(struct scan_quarantine *qr);

#endif

/*
 * One message through the scan process: read the spooled file, scan it with
 * libclamav, walk its MIME structure, apply the attachment policy and the
 * transport rules, and say what to do (struct scan_reply), with a rewritten
 * message when parts were stripped or headers edited.
 *
 * Order, first decision wins: libclamav (infected: 550 5.7.1 with the
 * signature name; limits: per on_limits; did not complete: FAILED), then the
 * attachment policy (reject or tempfail with its reply; strip), then the
 * transport rules (reject with the rule's code and text; add_header,
 * remove_header, prepend_subject applied; log appended to the log text;
 * redirect and bcc returned as envelope changes in the reply, the first
 * redirect winning; quarantine turns an accepting answer into
 * SCAN_REPLY_QUARANTINE with "rule NAME: REASON", the first one winning,
 * header edits still applied to the content kept). Rules see the message as
 * it arrived and the scan verdict "clean" (or "limits" when on_limits =
 * accept). With quarantine_infected, a virus is SCAN_REPLY_QUARANTINE
 * ("virus NAME", clean false) instead of a 550 and no other step runs.
 */
#ifndef AIRLOCK_SCAN_JOB_H
#define AIRLOCK_SCAN_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "policy/attach_policy.h"
#include "policy/mime_walk.h"
#include "policy/transport_rules.h"
#include "relay/queue_file.h"
#include "relay/scan_engine.h"
#include "relay/scan_reply.h"

struct scan_job_opts {
	struct scan_engine *engine;
	const struct attach_policy_options *attach;
	const struct transport_rules *rules; /* NULL: none */
	enum attach_action on_limits;	     /* REJECT, TEMPFAIL or ACCEPT */
	size_t max_file_bytes;		     /* a spool file larger than this: FAILED */
	bool quarantine_infected;	     /* scan.on_infected = quarantine */
};

/*
 * Decides on the spool file open on fd (envelope, then content; fd not
 * closed, its offset moved). The content is not copied: libclamav and GMime
 * read it from fd in place (scan_engine_scan_range(), mime_walk_fd_range());
 * only transport rules get it in a buffer. Fills *out (seq left as it is).
 * When the content is to be replaced, *content_fd gets a new fd (memfd,
 * offset 0; the caller closes it) and out->has_content is true; else
 * *content_fd is -1.
 * Thread-safe for distinct walkers (one per thread).
 */
void scan_job_run(const struct scan_job_opts *o, struct mime_walker *walker, int fd,
		  struct scan_reply *out, int *content_fd);

/*
 * The same decision in steps, so that libclamav and the MIME walk of one
 * message can run at the same time on two threads (the scan process does):
 *   scan_job_begin()   resets *out and reads the envelope; -1 when that
 *                      already decided (FAILED): skip the next two steps;
 *   scan_job_clamav()  libclamav, writing its verdict into *out;
 *   scan_job_walk()    the MIME walk, with the calling thread's walker,
 *                      into j (it touches no reply); skipped by itself when
 *                      libclamav already decided;
 *                      these two once each, in either order or at the same
 *                      time on two threads;
 *   scan_job_finish()  once both returned, the caller ordering it after
 *                      them (e.g. by a mutex): the attachment policy, the
 *                      rules, the replaced content; frees what j holds.
 * The result is the one scan_job_run() gives, which is these four in turn.
 */
struct scan_job {
	const struct scan_job_opts *o;
	int fd;
	struct queue_envelope env;
	size_t off, clen;	/* the content in fd */
	atomic_bool decided;	/* begin or libclamav decided: the walk is not needed */
	struct mime_walk *walk; /* NULL until walked, or when the walk failed */
	bool walked;
};
int scan_job_begin(struct scan_job *j, const struct scan_job_opts *o, int fd,
		   struct scan_reply *out);
/* The two middle steps as numbered tasks, e.g. of a struct scan_pool job. */
enum scan_job_task { SCAN_JOB_CLAMAV, SCAN_JOB_WALK, SCAN_JOB_NTASKS };
/*
 * How many tasks j is worth after a successful begin: SCAN_JOB_NTASKS, or 1
 * for content of at most SCAN_JOB_SPLIT_MIN octets, whose one task (number
 * 0) runs libclamav and then the walk. A small message's walk (0.1 ms for
 * 10 KB) costs less than waking a second thread for it: as one task the
 * scan process spends 0.1-0.2 ms less CPU on it, with no later verdict
 * (tests/bench/README.md, "Small messages as one task").
 */
#define SCAN_JOB_SPLIT_MIN (64 * 1024)
unsigned scan_job_ntasks(const struct scan_job *j);
void scan_job_task(struct scan_job *j, enum scan_job_task task, struct scan_reply *out,
		   struct mime_walker *walker);
void scan_job_clamav(struct scan_job *j, struct scan_reply *out);
void scan_job_walk(struct scan_job *j, struct mime_walker *walker);
void scan_job_finish(struct scan_job *j, struct scan_reply *out, int *content_fd);

/* A new memfd holding data[0..len), offset 0; -1 on error (errno). */
int scan_job_memfd(const char *name, const void *data, size_t len);

/*
 * The MIME walk limits of the scan process's walkers: mime_walk's defaults,
 * with skip_sizes (neither the attachment policy nor the rules use part
 * sizes: parts are decoded only as far as the sniff and archives need).
 */
void scan_job_walk_limits(struct mime_walk_limits *l);

#endif

/*
 * The scan process's answer for one message, as it travels scan -> parent ->
 * smtp over relay/ipc: what to do with the message and what to stamp.
 *
 * Payload (ipc_put_*): u32 seq, u8 action, str reply, str engine, str db,
 * str log, u8 has_content. When has_content is 1 the message carries a
 * descriptor: a file whose whole content (from offset 0) replaces the
 * message content (attachments stripped, headers edited).
 */
#ifndef AIRLOCK_SCAN_REPLY_H
#define AIRLOCK_SCAN_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "relay/ipc.h"

#define SCAN_REPLY_TEXT_MAX   512
#define SCAN_REPLY_ENGINE_MAX 64 /* ATTEST_TEXT_MAX */

enum scan_reply_action {
	SCAN_REPLY_ACCEPT = 1,	     /* scanned, nothing found: stamp verdict=clean */
	SCAN_REPLY_ACCEPT_UNSCANNED, /* a limit stopped the scan, on_limits = accept */
	SCAN_REPLY_REJECT,	     /* answer reply (5xx) */
	SCAN_REPLY_TEMPFAIL,	     /* answer reply (4xx) */
	SCAN_REPLY_FAILED,	     /* the scan did not complete: on_scanner_failure decides */
};
#define SCAN_REPLY_ACTION_LAST SCAN_REPLY_FAILED

struct scan_reply {
	uint32_t seq;
	enum scan_reply_action action;
	char reply[SCAN_REPLY_TEXT_MAX];	/* REJECT, TEMPFAIL: the SMTP reply line */
	char engine[SCAN_REPLY_ENGINE_MAX + 1]; /* "ClamAV 1.4.6" */
	char db[SCAN_REPLY_ENGINE_MAX + 1];	/* signature database version */
	char log[SCAN_REPLY_TEXT_MAX];		/* key=value text for the message's log line */
	bool has_content;
};

/* "accept", "reject"...; "?" for a value out of range. */
const char *scan_reply_action_name(enum scan_reply_action a);

/* Appends r to w. Returns 0, or -1 when the writer failed. */
int scan_reply_put(struct ipc_writer *w, const struct scan_reply *r);

/*
 * Reads a reply (untrusted framing from our own process: fails closed).
 * Checks the action range, that REJECT carries a 5xx reply and TEMPFAIL a
 * 4xx one, and that no byte is left. Returns 0 or -1.
 */
int scan_reply_get(struct ipc_reader *rd, struct scan_reply *r);

#endif

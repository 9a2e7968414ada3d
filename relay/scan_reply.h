/*
 * The scan process's answer for one message, as it travels scan -> parent ->
 * smtp over relay/ipc: what to do with the message and what to stamp.
 *
 * Payload (ipc_put_*): u32 seq, u8 action, str reply, str engine, str db,
 * str log, str quarantine, u8 clean, str redirect, u8 nbcc, nbcc x str bcc,
 * u8 has_content. When has_content is 1 the message carries a descriptor: a
 * file whose whole content (from offset 0) replaces the message content
 * (attachments stripped, headers edited).
 *
 * Envelope changes of the transport rules travel with every accepting
 * action: redirect (non-empty) replaces all recipients, then each bcc is
 * added unless it is already a recipient. The smtp process applies them to
 * the envelope it spools (or quarantines).
 */
#ifndef AIRLOCK_SCAN_REPLY_H
#define AIRLOCK_SCAN_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "relay/ipc.h"

#define SCAN_REPLY_TEXT_MAX   512
#define SCAN_REPLY_ENGINE_MAX 64  /* ATTEST_TEXT_MAX */
#define SCAN_REPLY_ADDR_MAX   254 /* TRANSPORT_RULES_ADDR_MAX */
#define SCAN_REPLY_BCC_MAX    16

enum scan_reply_action {
	SCAN_REPLY_ACCEPT = 1,	     /* scanned, nothing found: stamp verdict=clean */
	SCAN_REPLY_ACCEPT_UNSCANNED, /* a limit stopped the scan, on_limits = accept */
	SCAN_REPLY_REJECT,	     /* answer reply (5xx) */
	SCAN_REPLY_TEMPFAIL,	     /* answer reply (4xx) */
	SCAN_REPLY_FAILED,	     /* the scan did not complete: on_scanner_failure decides */
	SCAN_REPLY_QUARANTINE,	     /* keep it in quarantine (reason in quarantine), answer 250 */
};
#define SCAN_REPLY_ACTION_LAST SCAN_REPLY_QUARANTINE

struct scan_reply {
	uint32_t seq;
	enum scan_reply_action action;
	char reply[SCAN_REPLY_TEXT_MAX];	/* REJECT, TEMPFAIL: the SMTP reply line */
	char engine[SCAN_REPLY_ENGINE_MAX + 1]; /* "ClamAV 1.4.6" */
	char db[SCAN_REPLY_ENGINE_MAX + 1];	/* signature database version */
	char log[SCAN_REPLY_TEXT_MAX];		/* key=value text for the message's log line */
	char quarantine[SCAN_REPLY_TEXT_MAX];	/* QUARANTINE: why ("rule NAME: REASON") */
	bool clean; /* QUARANTINE: scanned and nothing found (else stamped unscanned) */
	char redirect[SCAN_REPLY_ADDR_MAX + 1]; /* "" or the one recipient instead of all */
	char bcc[SCAN_REPLY_BCC_MAX][SCAN_REPLY_ADDR_MAX + 1]; /* recipients added */
	unsigned nbcc;
	bool has_content;
	/*
	 * What libclamav found, for the scan process's own counters (the log
	 * text holds sender-chosen names, so it is never parsed). Not sent
	 * over IPC.
	 */
	enum scan_finding {
		SCAN_FINDING_NONE = 0,
		SCAN_FINDING_INFECTED,
		SCAN_FINDING_LIMITS
	} finding;
};

/* "accept", "reject"...; "?" for a value out of range. */
const char *scan_reply_action_name(enum scan_reply_action a);

/* Appends r to w. Returns 0, or -1 when the writer failed. */
int scan_reply_put(struct ipc_writer *w, const struct scan_reply *r);

/*
 * Reads a reply (untrusted framing from our own process: fails closed).
 * Checks the action range, that REJECT carries a 5xx reply and TEMPFAIL a
 * 4xx one, that QUARANTINE carries a reason, that nbcc is at most
 * SCAN_REPLY_BCC_MAX, that every address is non-empty (redirect may be
 * empty), holds an '@' and no octet under 0x21 or over 0x7e, and that no
 * byte is left. Returns 0 or -1.
 */
int scan_reply_get(struct ipc_reader *rd, struct scan_reply *r);

#endif

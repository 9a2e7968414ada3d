/*
 * Internal to the edge's smtp process (edge_smtp.c, edge_verdict.c): its
 * state, one transaction, and the end of a scanned transaction.
 */
#ifndef AIRLOCK_EDGE_SMTP_H
#define AIRLOCK_EDGE_SMTP_H

#include <stdint.h>

#include <event2/event.h>

#include "relay/attest.h"
#include "relay/attest_keys.h"
#include "relay/edge/edge.h"
#include "relay/queue_spool.h"
#include "relay/scan_quarantine.h"
#include "relay/scan_reply.h"
#include "relay/smtp_server.h"

struct edge_txn;

struct edge_smtp {
	const struct edge_ctx *ctx;
	struct event_base *base;
	struct ipc_chan *parent;
	struct ipc_chan *scan; /* the scan link (edge.h); NULL: none at the moment */
	struct queue_spool *spool;
	struct smtp_server *server;
	struct attest_signer *signer;	    /* scan.enabled only */
	struct scan_quarantine *quarantine; /* scan.enabled only */
	struct edge_txn *scanning;	    /* waiting for a verdict */
	uint32_t next_seq;
	uint64_t queue_write_errors;
	uint64_t scan_timeouts, scan_failures, scan_rejects, stamped, stamped_unscanned;
	uint64_t quarantined;
};

/*
 * Octets of pad lines in the envelope of a message that will be scanned:
 * room for the X-Airlock-Scan field, the result header and a few more
 * recipients, so that stamping writes them in front of the content instead
 * of the whole message again (queue_tx_prefix()).
 */
#define EDGE_STAMP_RESERVE (ATTEST_FIELD_MAX + 1024)

/* One message on its way into the spool. */
struct edge_txn {
	struct edge_smtp *es;
	struct queue_tx *tx;
	struct queue_envelope env; /* kept for the stamped rewrite of tx (queue_tx_restart) */
	struct attest_stream as;   /* scan.enabled: the content as written, for the stamp */
	smtp_txn_done_fn done;
	void *cookie;
	char session_id[40];
	char first_id[QUEUE_ID_MAX + 1]; /* the id the scanner saw */
	uint32_t seq;
	struct event *timer;
	struct edge_txn *next;
	/* scan.enabled: the temp file read-only (queue_tx_read_fd), sent to the
	 * scanner and kept to read the message back at the verdict; -1 until then */
	int read_fd;
};

/* Commit callback of the spool (edge_smtp.c): replies and frees t. */
void edge_smtp_committed(void *arg, int ok, const char *id, const char *err);

/* Frees t and what it holds (not t->tx). */
void edge_txn_free(struct edge_txn *t);

/*
 * Ends t, which was removed from the scanning list, by the verdict r (NULL:
 * the scanner failed, died or timed out; why says which), with content_fd
 * (-1, or the rewritten content; closed here): stamps and commits, or
 * answers a 4xx/5xx and discards the temp file. t is done with afterwards.
 */
void edge_smtp_verdict(struct edge_txn *t, const struct scan_reply *r, int content_fd,
		       const char *why);

#endif

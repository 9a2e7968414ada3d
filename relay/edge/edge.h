/*
 * airlock-edge: the Internet-facing relay. A root parent binds the
 * listeners, owns the control socket and supervises unprivileged
 * children:
 *
 *	smtp	SMTP sessions (smtp_server) writing the spool (queue_spool);
 *		answers 250 only after the message is fsynced and renamed
 *	scan	(scan.enabled) libclamav, attachment policy and transport
 *		rules over a thread pool; no network, no spool writes
 *	queue	delivers committed messages to the hubs (queue_runner), only
 *		through the IPsec SA (edge_forward.h); owns the VICI session
 *
 * Children talk to the parent over socketpairs (relay/ipc), and smtp to
 * scan over one of their own (below): smtp
 * reports each committed queue id, which the parent hands to queue; the
 * parent asks each for its status to answer the control socket, and passes
 * `airlockctl quarantine` requests to queue, which does the file work.
 *
 * Scanning: smtp and scan talk directly, over a socketpair the parent
 * creates once both run and hands to each (SCAN_LINK); a restart of either
 * gives both a new one. At end of data smtp sends a read-only fd of the
 * complete temp file (SCAN_REQ); scan answers SCAN_REP (relay/scan_reply.h,
 * maybe with an fd of rewritten content). Two process hops per verdict
 * instead of four through the parent. When the channel closes (scan died)
 * or is replaced, smtp answers every request still on it 451 4.7.1 (or
 * accepts unscanned, per scan.on_scanner_failure); without a channel it
 * does so at once. When smtp dies, scan's answers for it have nowhere to go
 * and are dropped (its temp files are cleaned by the next smtp). smtp also
 * times out each request after scan.timeout.
 */
#ifndef AIRLOCK_EDGE_H
#define AIRLOCK_EDGE_H

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <jansson.h>

#include "common/config.h"

/* Messages between the parent and its children (ipc type field). */
enum edge_msg {
	EDGE_MSG_COMMITTED = 1,	 /* smtp -> parent: str id */
	EDGE_MSG_KICK = 2,	 /* parent -> queue: str id */
	EDGE_MSG_STATUS_REQ = 3, /* parent -> child: u32 request id */
	EDGE_MSG_STATUS_REP = 4, /* child -> parent: u32 request id, str JSON object */
	EDGE_MSG_QUEUE_REQ = 5,	 /* parent -> queue: u32 request id, u32 limit */
	EDGE_MSG_QUEUE_REP = 6,	 /* queue -> parent: u32 request id, str JSON object */
	EDGE_MSG_SCAN_REQ = 7,	 /* smtp -> scan (link): u32 seq, str queue id; fd */
	EDGE_MSG_SCAN_REP = 8,	 /* scan -> smtp (link): struct scan_reply; maybe fd */
	EDGE_MSG_RELOAD = 9, /* parent -> scan: reload the database; -> smtp: the attestation key */
	EDGE_MSG_QUAR_REQ = 10,	 /* parent -> queue: u32 request id, str op, str queue id */
	EDGE_MSG_QUAR_REP = 11,	 /* queue -> parent: u32 request id, str JSON object */
	EDGE_MSG_SCAN_LINK = 12, /* parent -> smtp and scan: fd, their end of the scan link */
};

/* Longest JSON text a child sends in one reply (an ipc payload). */
#define EDGE_JSON_MAX (60 * 1024)

/* What the parent prepared before forking; children inherit it read-only. */
struct edge_ctx {
	struct airlock_config cfg;
	char hostname[256]; /* cfg.edge.hostname or the system's */
	int listen_fds[CONFIG_MAX_LISTEN];
	int nlisten;
	SSL_CTX *server_tls; /* NULL: no STARTTLS offered */
	SSL_CTX *client_tls; /* NULL when queue.tls is "none" */
};

/* Child entry points (proc_spec.main). arg is the struct edge_ctx. */
int edge_smtp_main(void *arg, int parent_fd);
int edge_queue_main(void *arg, int parent_fd);
int edge_scan_main(void *arg, int parent_fd);

/*
 * Sends a JSON object (reference stolen) as a reply of type to the parent,
 * truncating nothing: a text over EDGE_JSON_MAX is replaced by an error
 * object. Returns 0 or -1.
 */
struct ipc_chan;
int edge_send_json(struct ipc_chan *chan, uint16_t type, uint32_t req, json_t *obj);

/*
 * In the queue process (started as root when edge.user is set): becomes
 * user, keeping the group of the VICI socket of vici_uri as its only
 * supplementary group and CAP_NET_ADMIN (edge_queue_privs.c). Returns 0, or
 * -1 with a one-line reason in err.
 */
int edge_queue_drop_privileges(const char *user, const char *vici_uri, char *err, size_t errlen);

/* The quarantine directory: queue.quarantine_dir, or quarantine/ in the spool. */
void edge_quarantine_dir(const struct airlock_config *cfg, char *out, size_t size);

/*
 * The queue process's side of `airlockctl quarantine`: op is "list",
 * "show", "release" or "delete", id the message (ignored by list). Returns
 * the answer (gets owned), {"ok": true, ...} or {"ok": false, "error": ...};
 * *released is set when a message moved into queue/ (kick the runner).
 * qr NULL: the quarantine could not be opened, every op answers an error.
 */
struct scan_quarantine;
struct queue_spool;
json_t *edge_quarantine_command(struct scan_quarantine *qr, struct queue_spool *spool,
				const char *op, const char *id, bool *released);

#endif

/*
 * One SMTP session of the server engine: framing, the protocol table,
 * session and transaction state, timeouts. Internal to the engine
 * (smtp_server.c, smtp_session.c, smtp_session_data.c); the public API is
 * smtp_server.h.
 *
 * Policy, all of it here so that nothing is decided twice:
 *
 * Framing. Input is split at CRLF only. A line ending in a bare LF, or
 * holding a CR, is answered 521 5.5.2 and the connection closed (the
 * parser refuses CR inside a line). A line longer than SMTP_CMD_TEXT_MAX
 * is discarded up to its CRLF and answered 500 5.5.2, in order, so the
 * session stays in sync (a bare LF ending such a line still closes).
 *
 * Pipelining (RFC 2920). Commands are executed in order and their replies
 * appended to the output buffer, which libevent writes once the callback
 * returns, that is, when no complete command is left or the session waits
 * (for the sink's done(), a TLS handshake, a full output buffer). Buffered
 * input is never dropped except after STARTTLS (RFC 3207) or when the
 * session closes. Protocol violations, answered 554 5.5.0 and closed:
 * - input before the greeting (checked with MSG_PEEK before it is sent and
 *   again on the first read until it has been written);
 * - input already buffered behind DATA (RFC 2920 3.1: the client must wait
 *   for 354), whether DATA would have been accepted or not, since those
 *   octets can only be content that would otherwise run as commands;
 * - input already buffered behind EHLO or HELO (the client has not seen
 *   our extensions yet, so it cannot know PIPELINING is allowed).
 * Not enforced: NOOP, VRFY, EXPN, HELP end a group in RFC 2920 but change
 * no state, so answering what follows them is harmless; after QUIT the rest
 * is dropped with the connection; after STARTTLS it is discarded.
 * While the sink commits (between txn_end and done) nothing more is read
 * from the input buffer; reading from the socket stops at a high watermark.
 *
 * Sequence. EHLO/HELO first (503 5.5.1), then MAIL, RCPT..., then DATA or
 * BDAT. EHLO/HELO and RSET end a transaction. DATA and BDAT never mix in
 * one transaction (503 5.5.1). A failed BDAT (sequence, sink, content) is
 * read and discarded to the end of its chunk before it is answered, and
 * ends the transaction, so following pipelined BDATs get 503 5.5.1 and are
 * discarded likewise.
 *
 * Errors. Syntax errors, unknown commands, sequence errors, refused
 * recipients and senders count as errors; at opts.max_errors the session
 * is closed with 421 4.7.0.
 */
#ifndef AIRLOCK_SMTP_SESSION_H
#define AIRLOCK_SMTP_SESSION_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "relay/smtp_body.h"
#include "relay/smtp_server.h"

struct bufferevent;
struct event;
struct evconnlistener;
struct smtp_client_count;

/* Sessions stop reading the socket when this much input is waiting. */
#define SMTP_SESSION_INPUT_HIGH (16 * 1024)
/* Commands are not executed while more than this much output waits. */
#define SMTP_SESSION_OUTPUT_HIGH (16 * 1024)
/* Buckets of the per-client-address connection count table. */
#define SMTP_SERVER_CLIENT_BUCKETS 256

struct smtp_server {
	struct event_base *base;
	struct smtp_server_opts opts; /* strings point at the copies below */
	char *hostname;
	char **relay_domains;
	struct smtp_server_hooks hooks;
	struct smtp_server_stats stats;
	struct smtp_session *sessions; /* doubly linked */
	struct evconnlistener **listeners;
	size_t nlisteners;
	struct smtp_client_count *clients[SMTP_SERVER_CLIENT_BUCKETS];
	bool shutting_down;
};

enum smtp_session_phase {
	SMTP_PHASE_COMMAND = 0,	  /* reading command lines */
	SMTP_PHASE_DATA,	  /* DATA content to the body reader */
	SMTP_PHASE_BDAT,	  /* a BDAT chunk to the body reader */
	SMTP_PHASE_BDAT_DISCARD,  /* a BDAT chunk read and dropped after an error */
	SMTP_PHASE_COMMIT,	  /* txn_end called, waiting for done() */
	SMTP_PHASE_ENVELOPE,	  /* mail_async / rcpt_async called, waiting for reply() */
	SMTP_PHASE_TLS_HANDSHAKE, /* after 220 to STARTTLS */
	SMTP_PHASE_CLOSING,	  /* the last reply is being written */
};

enum smtp_txn_mode { SMTP_TXN_ENVELOPE = 0, SMTP_TXN_DATA, SMTP_TXN_BDAT };

/* One transaction: from MAIL to the end-of-data reply (or RSET). */
struct smtp_txn {
	struct smtp_addr from;
	struct smtp_mail_params params;
	struct smtp_addr *rcpts; /* accepted ones, grown as needed */
	size_t nrcpts, rcpts_cap;
	enum smtp_txn_mode mode;
	void *sink; /* txn_begin's handle until txn_end or txn_abort */
	struct smtp_body *body;
	bool write_failed;   /* txn_write returned -1 */
	uint64_t chunk_size; /* announced size of the current BDAT chunk */
	bool envelope_async; /* mail_async was called: envelope_end is owed */
	/* The hook and its ctx, kept: the session may outlive its link to the server. */
	void (*envelope_end)(void *ctx, const char *session_id);
	void *envelope_ctx;
	uint64_t size; /* octets stored, known at the end of the content */
};

struct smtp_session {
	struct smtp_server *server; /* NULL once the connection is gone */
	struct smtp_session *prev, *next;
	struct bufferevent *bev;	  /* the TLS filter after STARTTLS */
	struct event *tick;		  /* deadline, rate and linger checks; made when needed */
	struct smtp_client_count *client; /* per-address count, NULL for unix */
	char id[17];
	char addr[INET6_ADDRSTRLEN];
	bool addr_ip; /* addr is an IP address (else "unix") */
	bool addr_ip6;
	char helo[SMTP_ADDR_DOMAIN_MAX + 1];
	bool helo_done, esmtp, tls, greeting_flushed;
	const char *tls_version, *tls_cipher; /* static strings */
	enum smtp_session_phase phase;
	struct smtp_txn *txn;	/* NULL outside a transaction */
	uint64_t discard_left;	/* SMTP_PHASE_BDAT_DISCARD */
	char *discard_reply;	/* owned; sent when the discarded chunk ends */
	bool discard_is_error;	/* the refusal counts as a protocol error */
	bool discard_line;	/* an over-long command line is being dropped */
	uint64_t request_start; /* clock_mono_s() a request began, 0: none */
	uint64_t content_bytes; /* input octets of the current DATA/chunk */
	uint64_t close_start;
	unsigned errors;
	unsigned depth;	   /* nested entry points running on this session */
	bool want_destroy; /* destroy when the outermost entry point returns */
	bool gone;	   /* connection closed while committing */
	bool output_held;  /* replies wait for the sink (session_pace_output) */
	const char *close_reason;
	uint64_t messages, accepted, commands;
	char *note;		   /* smtp_server_serve_fd_note(), owned; NULL for none */
	bool env_rcpt_wait;	   /* SMTP_PHASE_ENVELOPE waits for an RCPT (else MAIL) */
	struct smtp_addr env_rcpt; /* the RCPT being decided */
};

/*
 * Creates a session for the accepted connection fd (gets owned; closed on
 * failure) from the client address addr ("unix" when not an IP), sends the
 * greeting (or 554 5.5.0 when the client spoke first) and links the session
 * into srv; client is its per-address count (NULL for unix), handed back in
 * smtp_server_session_closed(). Returns 0, or -1 when memory is exhausted.
 */
int smtp_session_new(struct smtp_server *srv, int fd, const char *addr, bool addr_ip, bool addr_ip6,
		     struct smtp_client_count *client, const char *note);

/* Server shutdown: idle sessions get 421 4.7.0 now, the rest at their next command. */
void smtp_session_shutdown(struct smtp_session *s);

/*
 * Server free: drops the connection now without a reply. A session waiting
 * for done() stays allocated, detached from the server, until then.
 */
void smtp_session_orphan(struct smtp_session *s);

/*
 * Drops the connection now, without a reply, as if the client had gone:
 * the transaction is aborted (txn_abort) unless the sink owes done().
 * Not from inside the session's own callbacks.
 */
void smtp_session_drop(struct smtp_session *s, const char *reason);

/* Appends reply (one line, no CRLF) to the output. */
void smtp_session_reply(struct smtp_session *s, const char *reply);

/* Like smtp_session_reply() for a refused command: counts an error. */
void smtp_session_error(struct smtp_session *s, const char *reply);

/* Sends nothing more after what is queued, closes once it is written. */
void smtp_session_close(struct smtp_session *s, const char *reason);

/* Fills *info from the session and its transaction (internal data). */
void smtp_session_txn_info(const struct smtp_session *s, struct smtp_txn_info *info);

/* Ends the transaction: aborts the sink's one if open, frees everything. */
void smtp_session_txn_reset(struct smtp_session *s);

/* Whether the sink owes the session a callback (done() or an envelope reply()). */
static inline bool smtp_session_owed(const struct smtp_session *s)
{
	return s->phase == SMTP_PHASE_COMMIT || s->phase == SMTP_PHASE_ENVELOPE;
}

/* smtp_session_envelope.c: asks mail_async about the MAIL whose txn was just set up. */
void smtp_session_mail_async(struct smtp_session *s);

/* smtp_session_envelope.c: asks rcpt_async about rcpt (room in txn->rcpts ensured). */
void smtp_session_rcpt_async(struct smtp_session *s, const struct smtp_addr *rcpt);

/* Runs queued commands again (after done(), a drained output buffer). */
void smtp_session_resume(struct smtp_session *s);

/* smtp_server.c: the session is closing; unlink it and release its counts. */
void smtp_server_session_closed(struct smtp_server *srv, struct smtp_session *s);

/* smtp_session_data.c: the DATA row's proceed(): 354 or a refusal. */
void smtp_session_data_start(struct smtp_session *s);

/* smtp_session_data.c: the BDAT row: starts reading (or discarding) a chunk. */
void smtp_session_bdat_start(struct smtp_session *s, uint64_t size, bool last);

/*
 * smtp_session_data.c: moves content from the input buffer to the body
 * reader (or drops a discarded chunk). Returns true when the content or
 * chunk ended (the phase changed), false when more input is needed.
 */
bool smtp_session_content_feed(struct smtp_session *s);

/*
 * smtp_session_data.c: the rate check of the tick timer. Returns true when
 * the session is below opts.min_data_rate after the grace period.
 */
bool smtp_session_data_too_slow(const struct smtp_session *s, uint64_t now);

#endif

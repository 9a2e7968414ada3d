/*
 * SMTP client engine (RFC 5321) on libevent, for forwarding spooled mail to
 * a next hop: one connection object that connects, reads the greeting,
 * says EHLO (HELO when EHLO gets a 5xx), starts TLS as configured, and then
 * sends any number of messages one after the other (RSET between them).
 *
 * - Envelope: pipelined (MAIL, every RCPT in one write) when the peer offers
 *   PIPELINING, otherwise lockstep. DATA or BDAT follows only if a RCPT was
 *   accepted; otherwise the transaction is reset.
 * - Content: BDAT in chunks of SMTP_CLIENT_CHUNK octets when the peer offers
 *   CHUNKING, else DATA with dot stuffing. Every line leaves with CRLF (see
 *   smtp_client_content.h): a bare CR or LF in the spool never reaches the
 *   wire as such.
 * - MAIL parameters: SIZE= when offered; BODY=8BITMIME and SMTPUTF8 when
 *   the message needs them and the peer offers them. A message larger than
 *   the peer's SIZE, or needing SMTPUTF8 the peer lacks, fails permanently
 *   without being sent (552 5.3.4, 553 5.6.7: local results).
 * - Timeouts per stage (RFC 5321 4.5.3.2); a timeout is a temporary failure
 *   and ends the connection.
 * - Replies are parsed strictly (smtp_client_reply.h); a malformed reply
 *   is a temporary failure and ends the connection.
 * - STARTTLS: after the 220, every reply octet already received is
 *   discarded (RFC 3207 response injection), TLS starts, EHLO is sent again.
 *
 * Callbacks may call smtp_client_conn_free() (and, from the done callback,
 * smtp_client_conn_send() for the next message); the engine touches nothing
 * of the connection after a callback that freed it.
 */
#ifndef AIRLOCK_SMTP_CLIENT_H
#define AIRLOCK_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct event_base;

/* BDAT chunk size: octets of encoded content per chunk. */
#define SMTP_CLIENT_CHUNK (64 * 1024)
/* Size of the reply texts in a result, NUL included. */
#define SMTP_CLIENT_REPLY_MAX 512

enum smtp_client_tls_mode {
	SMTP_CLIENT_TLS_NEVER = 0,
	SMTP_CLIENT_TLS_OPPORTUNISTIC = 1, /* if the peer offers STARTTLS */
	SMTP_CLIENT_TLS_REQUIRED = 2,	   /* no TLS, no mail: temporary failure */
};

struct smtp_client_opts {
	const char *helo_name;	    /* our name in EHLO/HELO; required */
	int tls_mode;		    /* enum smtp_client_tls_mode */
	SSL_CTX *tls;		    /* client context, not owned; required unless TLS_NEVER */
	bool tls_verify;	    /* check the chain and tls_servername (or fail, temporary) */
	const char *tls_servername; /* SNI and the name verified; may be NULL */
	/* Seconds; 0 takes the RFC 5321 value (connect 30, helo 300). */
	unsigned connect_timeout_s, greeting_timeout_s, helo_timeout_s, mail_timeout_s,
		rcpt_timeout_s, data_init_timeout_s, data_block_timeout_s, data_end_timeout_s;
	const struct sockaddr *source; /* bind before connect; NULL for any */
	socklen_t source_len;
	const char *bind_device; /* SO_BINDTODEVICE before connect; NULL for none */
	/*
	 * Before connect, a per-socket XFRM OUT policy requiring ESP
	 * (tunnel_socket_xfrm_policy): the kernel cannot send this connection
	 * in clear. Needs CAP_NET_ADMIN; a failure fails the connection.
	 */
	bool xfrm_out;
};

/* One message. Every pointer is borrowed until the done callback returns. */
struct smtp_client_msg {
	const char *from; /* reverse-path without brackets; "" for <> */
	const char *const *rcpts;
	size_t nrcpts; /* at least 1 */
	int fd;	       /* the spool file, read with pread(); not closed */
	off_t offset;  /* where the content starts in fd */
	uint64_t length;
	bool smtputf8; /* the envelope or header needs SMTPUTF8 */
	bool eightbit; /* the content has 8-bit octets: BODY=8BITMIME if offered */
};

/* Where an attempt ended. */
enum smtp_client_stage {
	SMTP_CLIENT_STAGE_CONNECT = 0,
	SMTP_CLIENT_STAGE_GREETING,
	SMTP_CLIENT_STAGE_EHLO,
	SMTP_CLIENT_STAGE_TLS,
	SMTP_CLIENT_STAGE_MAIL,
	SMTP_CLIENT_STAGE_RCPT,
	SMTP_CLIENT_STAGE_DATA,
	SMTP_CLIENT_STAGE_DOT, /* the reply to the end of the content (dot or BDAT LAST) */
	SMTP_CLIENT_STAGE_COUNT
};

/*
 * The outcome of connecting or of one message. Everything is internal data
 * of the connection, valid only during the callback.
 */
struct smtp_client_result {
	int stage; /* enum smtp_client_stage */
	/*
	 * The decisive reply code, or 0 when the failure was local (connect
	 * error, timeout, malformed reply, TLS failure, connection lost) and
	 * no reply decided it; local failures are temporary except the
	 * permanent local 552/553 refusals described above, which carry
	 * those codes.
	 */
	int code;
	char reply[SMTP_CLIENT_REPLY_MAX]; /* "250 2.0.0 Ok" or "connect to 127.0.0.1:25: ..." */
	bool temporary;			   /* retry later */
	bool delivered;			   /* every recipient got a 2xx after the content */
	/*
	 * Per recipient of the message, in order (0 and NULL for the ready
	 * callback): 2xx = delivered; 5xx = refused for good; 4xx or 0 = try
	 * again. rcpt_reply[i] is the reply that decided recipient i.
	 */
	size_t nrcpts;
	int *rcpt_code;
	char **rcpt_reply;
};

struct smtp_client_conn;

/*
 * Called once per connection: r == NULL when the session is ready for
 * messages, otherwise the failure (the connection is then unusable; free it).
 */
typedef void (*smtp_client_ready_fn)(void *arg, struct smtp_client_conn *conn,
				     const struct smtp_client_result *r);
/* Called once per smtp_client_conn_send() with the outcome of that message. */
typedef void (*smtp_client_done_fn)(void *arg, struct smtp_client_conn *conn,
				    const struct smtp_client_result *r);

/*
 * Starts connecting to peer (copied). o is copied; the strings and SSL_CTX
 * it points to must outlive the connection. Returns NULL only when memory
 * or a socket cannot be had (errno set); every later failure is reported
 * through ready_cb, never from inside this call.
 */
struct smtp_client_conn *smtp_client_conn_new(struct event_base *base, const struct sockaddr *peer,
					      socklen_t len, const struct smtp_client_opts *o,
					      smtp_client_ready_fn ready_cb, void *arg);

/*
 * Sends one message over a ready, idle connection (smtp_client_conn_usable()).
 * done_cb is called exactly once, never from inside this call. Returns 0,
 * or -1 when the connection is not usable (nothing is called then).
 */
int smtp_client_conn_send(struct smtp_client_conn *conn, const struct smtp_client_msg *m,
			  smtp_client_done_fn done_cb, void *arg);

/*
 * True when the connection is ready and idle: the next message may be sent.
 * A connection pinned to a device is not usable once that device is gone or
 * was recreated under another index (the TUN device of a restarted charon).
 */
bool smtp_client_conn_usable(const struct smtp_client_conn *conn);

/*
 * True when the connection was pinned to a device (SO_BINDTODEVICE) that is
 * gone, or was created anew under another index, since: nothing it sends
 * reaches the peer any more (charon restarted and made a new TUN device).
 */
bool smtp_client_conn_device_gone(const struct smtp_client_conn *conn);

/*
 * Ends the session politely: sends QUIT (on an idle, usable connection) and
 * hands the connection over to the engine, which frees it after the reply,
 * the peer's close or a short timeout. The caller must not use conn again;
 * no callback is called. An unusable or busy connection is freed at once.
 */
void smtp_client_conn_quit(struct smtp_client_conn *conn);

/*
 * Closes the connection at once and frees it; no callback is called any
 * more. NULL is ignored. A message in flight is abandoned (its done
 * callback is not called).
 */
void smtp_client_conn_free(struct smtp_client_conn *conn);

/*
 * Step-wise transactions, for a proxy that relays every reply as it comes
 * (the hub): MAIL, then each RCPT, then the content, each started only when
 * the previous step has its reply. Commands go in lockstep (no pipelining).
 * The replies of MAIL and RCPT go to step_cb; the content's outcome to
 * done_cb as for smtp_client_conn_send() (its per-recipient arrays list every
 * RCPT of the transaction, refused ones with their RCPT reply).
 *
 * step_cb gets the reply code and line ("250 2.1.5 Ok"), or code 0 and a
 * description when the session failed while the step waited (timeout,
 * connection lost, malformed reply); the connection is then unusable (free
 * it). A step callback may call smtp_client_conn_free().
 */
typedef void (*smtp_client_step_fn)(void *arg, struct smtp_client_conn *conn, int code,
				    const char *reply);

/*
 * Starts a step-wise transaction on a ready, idle connection: RSET first if
 * the connection was used, then MAIL FROM:<from> with SIZE=size (when
 * offered and size > 0), BODY=8BITMIME (eightbit, when offered) and SMTPUTF8
 * (when smtputf8 or the address needs it; if the peer lacks it, step_cb gets
 * a local 553 5.6.7 and nothing is sent). from is copied ("" for <>).
 * step_cb is called exactly once, never from inside this call. Returns 0, or
 * -1 when the connection is not usable (nothing is called then).
 */
int smtp_client_conn_mail(struct smtp_client_conn *conn, const char *from, uint64_t size,
			  bool smtputf8, bool eightbit, smtp_client_step_fn step_cb, void *arg);

/*
 * Sends RCPT TO:<rcpt> in the transaction smtp_client_conn_mail() started,
 * after MAIL was accepted and no other step is waiting. rcpt is copied.
 * step_cb is called exactly once, never from inside this call. Returns 0,
 * or -1 (nothing called) when no step-wise transaction is open, MAIL was
 * refused, a step is still waiting, or memory is short.
 */
int smtp_client_conn_rcpt(struct smtp_client_conn *conn, const char *rcpt,
			  smtp_client_step_fn step_cb, void *arg);

/*
 * Sends the content (fd, offset, length as in struct smtp_client_msg: read
 * with pread(), not closed, borrowed until done_cb returns) of the step-wise
 * transaction, once at least one RCPT was accepted and no step is waiting:
 * BDAT when offered, else DATA. done_cb is called exactly once, never from
 * inside this call; the connection is then ready for the next transaction.
 * Returns 0, or -1 (nothing called) when that is not the case.
 */
int smtp_client_conn_content(struct smtp_client_conn *conn, int fd, off_t offset, uint64_t length,
			     smtp_client_done_fn done_cb, void *arg);

/*
 * Abandons an open step-wise transaction whose steps have all been answered:
 * the connection becomes ready again (the next transaction starts with
 * RSET). Returns 0, or -1 when a step is still waiting or none is open.
 */
int smtp_client_conn_abandon(struct smtp_client_conn *conn);

/*
 * Called at most once when an idle (ready) connection ends without being
 * asked to: the peer closed or reset it, or sent something unsolicited (a
 * 421 before closing, typically its idle timeout). The connection is then
 * unusable; the callback may free it. For a cache of idle sessions.
 */
typedef void (*smtp_client_idle_fn)(void *arg, struct smtp_client_conn *conn);
void smtp_client_conn_watch_idle(struct smtp_client_conn *conn, smtp_client_idle_fn cb, void *arg);

/*
 * True when the session has ended for good for a reason other than a
 * deadline: the peer closed or reset the connection, answered 421, sent a
 * malformed or unsolicited reply, or refused RSET. A caller that started a
 * transaction on a reused idle session may then retry on a fresh
 * connection: the session was stale, the peer need not be in trouble. False
 * while the connection is usable or in a transaction, and after a timeout.
 */
bool smtp_client_conn_lost(const struct smtp_client_conn *conn);

/* A short name for a stage, for logs ("rcpt"). */
const char *smtp_client_stage_name(int stage);

#endif

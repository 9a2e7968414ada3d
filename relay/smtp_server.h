/*
 * SMTP server engine (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
 * ENHANCEDSTATUSCODES, CHUNKING and STARTTLS) on a libevent event base.
 *
 * The engine speaks SMTP and nothing else: it never touches disk. Each
 * transaction is handed to a sink (the durable queue, later the scanner in
 * front of it) through struct smtp_server_hooks, and the end-of-data reply
 * is the sink's, sent only when the sink calls back.
 *
 * Policy that lives here, in one place (details in smtp_session.h):
 * - input is split at CRLF only; a bare CR or LF in a command line is
 *   answered 521 5.5.2 and the connection is closed;
 * - pipelining: replies in order, flushed when no complete command is left;
 *   input sent before the greeting, after DATA (before 354) or after
 *   EHLO/HELO is a protocol violation, 554 5.5.0 and close;
 * - after STARTTLS every buffered plaintext byte is discarded;
 * - timeouts, a per-request deadline and a minimum data rate (421 4.4.2);
 * - a global and a per-client-address connection cap (421 4.7.0).
 *
 * Everything runs on the event base's thread; no function here is
 * thread-safe. The process must ignore SIGPIPE (libevent writes to sockets
 * with plain writev()).
 */
#ifndef AIRLOCK_SMTP_SERVER_H
#define AIRLOCK_SMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "relay/smtp_addr.h"
#include "relay/smtp_cmd.h"

struct event_base;

struct smtp_server_opts {
	const char *hostname;	   /* greeting, EHLO reply, Received "by"; copied */
	uint64_t max_message_size; /* SIZE advertised and enforced; 0: no limit */
	unsigned max_recipients;   /* per transaction; extra ones get 452 4.5.3; 0: 100 */
	/*
	 * Domains we accept mail for: a RCPT domain must equal one of them
	 * (ASCII case-insensitive); an entry starting with "." matches every
	 * subdomain (".example.com" matches "a.example.com", not
	 * "example.com"). Anything else gets 554 5.7.1. <Postmaster> is
	 * always accepted. Strings are copied.
	 */
	const char *const *relay_domains;
	size_t nrelay_domains;
	bool normalise_bare_newlines; /* store bare CR/LF in content as CRLF; default: refuse */
	unsigned max_connections;     /* global cap, 421 4.7.0 then close; 0: none */
	unsigned max_per_client;      /* per client IP address; 0: none */
	unsigned command_timeout_s;   /* idle wait for a command or data, 421 4.4.2; 0: 300 */
	/*
	 * Most seconds one command line may take from its first octet to its
	 * CRLF, and one DATA content or one BDAT chunk from its command to its
	 * end (trickle guard); 421 4.4.2. 0: none.
	 */
	unsigned request_deadline_s;
	/*
	 * Least octets per second during DATA content or a BDAT chunk,
	 * averaged from its start, checked once the grace period is over;
	 * below it: 421 4.4.2. 0: no minimum.
	 */
	unsigned min_data_rate;
	unsigned data_rate_grace_s; /* 0: 10 */
	SSL_CTX *tls;		    /* STARTTLS offered when not NULL; not owned, must outlive */
	unsigned max_errors;	    /* bad commands before 421 4.7.0 and close; 0: 20 */
	/*
	 * Accept every RCPT domain (relay_domains is not consulted): for a
	 * proxy whose next hop decides about recipients, such as the hub.
	 */
	bool accept_any_domain;
};

/*
 * The facts of one transaction, given to the hooks. Internal data: valid
 * only during the hook call; a sink keeps copies of what it needs.
 */
struct smtp_txn_info {
	const char *session_id;	       /* random hex, also in every log line */
	const char *client_addr;       /* "192.0.2.1" or "2001:db8::1" or "unix" */
	const char *client_ptr;	       /* verified reverse name, or NULL */
	const char *helo;	       /* EHLO/HELO argument */
	bool esmtp;		       /* EHLO (not HELO) */
	bool tls;		       /* the session runs over TLS */
	const char *tls_version;       /* "TLSv1.3", NULL without TLS */
	const char *tls_cipher;	       /* NULL without TLS */
	const struct smtp_addr *from;  /* reverse-path */
	const struct smtp_addr *rcpts; /* accepted recipients; none at check_mail */
	size_t nrcpts;
	bool smtputf8;		  /* MAIL carried SMTPUTF8 */
	enum smtp_body_type body; /* MAIL BODY= (NONE when absent) */
	uint64_t declared_size;	  /* MAIL SIZE=, 0 when absent */
	const char *note;	  /* smtp_server_serve_fd_note()'s note, or NULL */
};

/*
 * Called by the sink exactly once per txn_end, from any later event-loop
 * turn or from inside txn_end itself. reply is the full reply line without
 * CRLF ("250 2.0.0 Ok: queued as X", "451 4.3.0 ..."); it is copied, and
 * must start with a 2xx, 4xx or 5xx code (anything else is our bug:
 * fatal()). The session stays allocated until this call even when its
 * client has gone.
 */
typedef void (*smtp_txn_done_fn)(void *session_cookie, const char *reply);

struct smtp_server_hooks {
	/*
	 * MAIL FROM was accepted syntactically (info->rcpts is empty).
	 * Returns NULL to accept, or a reply line without CRLF to refuse
	 * with, e.g. "452 4.3.1 Insufficient system storage"; the string
	 * must stay valid until the next event-loop turn (a literal, say).
	 * May be NULL: every sender accepted.
	 */
	const char *(*check_mail)(void *ctx, const struct smtp_txn_info *info);
	/*
	 * DATA or the first BDAT of a transaction with at least one
	 * recipient. Returns a transaction handle (opaque to the engine), or
	 * NULL with *reply set to a reply line such as "451 4.3.0 Queue
	 * unavailable" (same lifetime rule as check_mail).
	 */
	void *(*txn_begin)(void *ctx, const struct smtp_txn_info *info, const char **reply);
	/*
	 * Message octets in order: first the engine's own Received: field,
	 * then the content as stored (dot-unstuffed, CRLF line ends). Returns
	 * 0, or -1 when they cannot be kept: the message then fails with
	 * 451 4.3.0, txn_abort() follows, and the session carries on.
	 */
	int (*txn_write)(void *txn, const char *data, size_t len);
	/*
	 * The content is complete and accepted by the engine: commit it, then
	 * call done(cookie, reply) exactly once. The handle is the sink's
	 * again; the engine does not use it after this call.
	 */
	void (*txn_end)(void *txn, smtp_txn_done_fn done, void *cookie);
	/* Content refused or the session gone before txn_end: discard txn. */
	void (*txn_abort)(void *txn);
	void *ctx; /* first argument of check_mail and txn_begin */
	/*
	 * Optional, for a proxy that relays the envelope live (the hub):
	 * MAIL and RCPT decided later. mail_async, when set, replaces
	 * check_mail: it is called for a MAIL that passed the engine's own
	 * checks, and the session reads no further command until
	 * reply(cookie, line) was called exactly once, from a later
	 * event-loop turn or inside the call. line is a full reply without
	 * CRLF (copied; 2xx, 4xx or 5xx, else fatal()): it is sent as it is,
	 * a 2xx accepts the sender, anything else ends the transaction, and a
	 * 421 also closes the session. rcpt_async does the same for each RCPT
	 * that passed the engine's checks (rcpt is internal data, valid during
	 * the call; a 2xx adds the recipient). The session stays allocated
	 * until reply() even when its client has gone.
	 */
	void (*mail_async)(void *ctx, const struct smtp_txn_info *info, smtp_txn_done_fn reply,
			   void *cookie);
	void (*rcpt_async)(void *ctx, const struct smtp_txn_info *info,
			   const struct smtp_addr *rcpt, smtp_txn_done_fn reply, void *cookie);
	/*
	 * Optional: the transaction of session_id that mail_async was asked
	 * about has ended, whatever its outcome (refused MAIL, RSET, a new
	 * MAIL, QUIT, the connection gone, or after the end-of-data reply or
	 * txn_abort). Called once per mail_async call, after its reply.
	 */
	void (*envelope_end)(void *ctx, const char *session_id);
};

struct smtp_server_stats {
	uint64_t connections_now;
	uint64_t connections_total;   /* served, refused ones not included */
	uint64_t refused_by_cap;      /* 421 4.7.0 at connect: global or per-client cap */
	uint64_t messages_accepted;   /* 2xx after end of data */
	uint64_t messages_rejected;   /* 5xx after end of data (content, size, loop, sink) */
	uint64_t messages_tempfailed; /* 4xx after end of data */
	uint64_t protocol_errors;     /* bad commands, sequence errors, violations */
	uint64_t bytes_received;      /* message octets handed to the sink */
};

struct smtp_server;

/* Longest note of smtp_server_serve_fd_note(), in octets. */
#define SMTP_SERVER_NOTE_MAX 1000

/*
 * Creates a server on base with a copy of opts and hooks (the strings in
 * opts are copied; opts->tls is borrowed). txn_begin, txn_write, txn_end
 * and txn_abort are required. Returns NULL on bad options (hostname
 * missing or a hook missing: a one-line reason is logged) or exhausted
 * memory. Free with smtp_server_free().
 */
struct smtp_server *smtp_server_new(struct event_base *base, const struct smtp_server_opts *opts,
				    const struct smtp_server_hooks *hooks);

/*
 * Accepts connections on listen_fd, already bound and listening (IPv4,
 * IPv6 or unix). The fd gets owned, also on failure. Returns 0 or -1.
 */
int smtp_server_add_listener(struct smtp_server *s, int listen_fd);

/*
 * Serves one already accepted connection (the daemon's own accept loop,
 * tests). fd gets owned, also on failure. peer/len give the client address
 * (NULL or a unix address: "unix"). The caps apply: over them the client
 * gets 421 4.7.0 and fd is closed, which still returns 0. Returns -1 when
 * no session could be set up (memory), fd closed.
 */
int smtp_server_serve_fd(struct smtp_server *s, int fd, const struct sockaddr *peer, socklen_t len);

/*
 * smtp_server_serve_fd() with a note about the connection that the caller
 * established before (the hub: the authenticated IKE identity). note (copied;
 * NULL or "" for none) must be an RFC 5322 comment, "(...)", of printable
 * ASCII without CR or LF, at most 1000 octets; anything else is refused (fd
 * closed, -1). It is written into every Received: field of the session, as
 * a line of its own after the "from" clause, and handed to the hooks in
 * smtp_txn_info.note.
 */
int smtp_server_serve_fd_note(struct smtp_server *s, int fd, const struct sockaddr *peer,
			      socklen_t len, const char *note);

/*
 * Stops accepting (listeners are closed), answers idle sessions (no
 * transaction, nothing pending) 421 4.7.0 now and every other session at
 * its next command. Idempotent.
 */
void smtp_server_shutdown(struct smtp_server *s);

/*
 * Drops, without a reply, every session whose socket stale(fd, arg) calls
 * stale (airlock-hub: connections that came over a TUN device charon has
 * since deleted, which nothing can reach any more), aborting their
 * transactions; logged as a disconnect with reason. Returns how many.
 */
size_t smtp_server_drop_sessions(struct smtp_server *s, bool (*stale)(int fd, void *arg), void *arg,
				 const char *reason);

/* Copies the counters into *out. */
void smtp_server_get_stats(const struct smtp_server *s, struct smtp_server_stats *out);

/*
 * Closes all listeners and connections at once (no reply), aborting open
 * transactions with txn_abort(). A session whose txn_end is still pending
 * stays allocated, without its connection, until its done() call.
 * NULL is fine.
 */
void smtp_server_free(struct smtp_server *s);

#endif

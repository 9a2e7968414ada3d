/*
 * Internal to the SMTP client engine (smtp_client.c: session, I/O, TLS;
 * smtp_client_txn.c: one message). Not an API: use smtp_client.h.
 */
#ifndef AIRLOCK_SMTP_CLIENT_CONN_H
#define AIRLOCK_SMTP_CLIENT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "relay/smtp_client.h"
#include "relay/smtp_client_content.h"
#include "relay/smtp_client_reply.h"

struct bufferevent;
struct evbuffer;
struct event;

/* What the next reply from the peer answers; one row each in the reply table. */
enum client_expect {
	EXP_GREETING = 0,
	EXP_EHLO,
	EXP_HELO,
	EXP_STARTTLS,
	EXP_RSET,
	EXP_MAIL,
	EXP_RCPT,
	EXP_DATA,
	EXP_BDAT,
	EXP_DOT, /* end of content: the dot, or BDAT LAST */
	EXP_QUIT,
	EXP_COUNT
};

enum client_phase {
	PH_CONNECTING = 0,
	PH_HELLO,	  /* greeting, EHLO/HELO, STARTTLS */
	PH_TLS_HANDSHAKE, /* TLS started, waiting for it to finish */
	PH_READY,	  /* idle, may send */
	PH_TXN,		  /* a message is in flight */
	PH_QUIT,	  /* QUIT sent; frees itself */
	PH_DEAD,	  /* unusable; waits for smtp_client_conn_free() */
};

/* Outstanding replies the engine tracks at most (RSET, MAIL, RCPTs, BDAT chunks). */
#define CLIENT_BDAT_INFLIGHT 8
/* Encoded content we keep queued for the socket before waiting for it to drain. */
#define CLIENT_OUTPUT_HIGH (256 * 1024)

struct client_txn {
	struct smtp_client_msg m;
	smtp_client_done_fn done_cb;
	void *done_arg;
	size_t rcpt_sent, rcpt_replied, rcpt_ok;
	bool mail_failed;
	bool bdat;	      /* content goes as BDAT chunks */
	bool content_started; /* DATA got its 354, or BDAT began */
	bool content_queued;  /* every content octet and the end marker are in the output */
	bool content_failed;  /* a BDAT chunk was refused: send no more */
	bool data_pipelined;  /* DATA, or BDAT LAST with the content, went with MAIL and RCPT */
	bool data_abandoned;  /* 354 with no recipient accepted: "." sent to end it empty */
	unsigned bdat_inflight;
	uint64_t read_off; /* content octets read from the file so far */
	struct smtp_content_enc enc;
	int *rcpt_code;
	char **rcpt_reply;
	char (*rcpt_buf)[SMTP_CLIENT_REPLY_MAX];
	bool local_pending;	/* a local result waits to be reported from the kick event */
	bool pipelining;	/* this transaction's envelope goes pipelined */
	bool utf8;		/* MAIL carries SMTPUTF8 */
	struct evbuffer *chunk; /* BDAT: the encoded chunk being built */
	/* The reply that decided a failed content stage (BDAT or DATA refused). */
	int fail_code;
	char fail_text[SMTP_CLIENT_REPLY_MAX];
	/* Step-wise transactions (smtp_client_conn_mail and friends). */
	bool step;
	bool step_waiting; /* a MAIL or RCPT reply is due to step_cb */
	bool step_mail_ok;
	smtp_client_step_fn step_cb;
	void *step_arg;
	char *step_from;
	char **step_rcpts; /* owned copies; t->m.rcpts points here */
	size_t step_cap;
};

struct smtp_client_conn {
	struct event_base *base;
	struct smtp_client_opts o;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char peer_text[64]; /* "192.0.2.2:25", "[2001:db8::2]:25" */
	/*
	 * The device the socket is pinned to (SO_BINDTODEVICE): once it is gone
	 * or recreated under another index (charon restarted) it no longer
	 * carries this connection (smtp_client_conn_device_gone()).
	 */
	char bound_device[32];
	struct bufferevent *bev; /* the socket, or the TLS filter over it */
	struct event *timer;	 /* the deadline of whatever we wait for */
	struct event *kick;	 /* reports results that must not come from inside a call */
	enum client_phase phase;
	smtp_client_ready_fn ready_cb;
	void *ready_arg;
	bool esmtp;
	bool tls_active;
	/*
	 * A transaction began and did not end with the reply to its end of
	 * data (after which the server has reset: RFC 5321 4.1.1.4): the server
	 * may hold transaction state, RSET before the next one.
	 */
	bool used;
	bool timed_out;		     /* a deadline ended the session */
	smtp_client_idle_fn idle_cb; /* the peer ended the session while it was idle */
	void *idle_arg;
	struct smtp_caps caps;
	/* FIFO of replies we wait for, in order. */
	uint8_t *expect;
	size_t exp_head, exp_count, exp_cap;
	unsigned depth; /* nesting of engine entry points on the stack */
	bool free_pending;
	struct client_txn txn;
	struct smtp_client_result res;
	struct smtp_reply reply; /* the reply being handled (large, so not on the stack) */
};

/* smtp_client.c */
void client_expect_push(struct smtp_client_conn *c, enum client_expect e);
void client_send(struct smtp_client_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void client_arm_timer(struct smtp_client_conn *c, unsigned seconds);
void client_arm_for_head(struct smtp_client_conn *c);
struct evbuffer *client_output(struct smtp_client_conn *c);
/* A session-level failure: reply == NULL for a local one described by text. */
void client_fail(struct smtp_client_conn *c, int stage, const struct smtp_reply *reply,
		 const char *text);
unsigned client_timeout(const struct smtp_client_conn *c, enum client_expect e);

/* smtp_client_txn.c */
void client_txn_on_rset(struct smtp_client_conn *c, const struct smtp_reply *r);
void client_txn_on_mail(struct smtp_client_conn *c, const struct smtp_reply *r);
void client_txn_on_rcpt(struct smtp_client_conn *c, const struct smtp_reply *r);
void client_txn_on_data(struct smtp_client_conn *c, const struct smtp_reply *r);
void client_txn_on_bdat(struct smtp_client_conn *c, const struct smtp_reply *r);
void client_txn_on_dot(struct smtp_client_conn *c, const struct smtp_reply *r);
/* The socket drained below the low watermark: queue more content. */
void client_txn_pump(struct smtp_client_conn *c);
/* Ends the message in flight: every undecided recipient gets code/text. */
void client_txn_abort(struct smtp_client_conn *c, int stage, int code, const char *text);
/* Reports a local result prepared by smtp_client_conn_send(). */
void client_txn_report_local(struct smtp_client_conn *c);
void client_txn_release(struct smtp_client_conn *c);

#endif

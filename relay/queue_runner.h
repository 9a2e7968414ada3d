/*
 * The delivery scheduler of the queue process: takes committed messages
 * from the spool, sends them to the next hop with the SMTP client engine,
 * retries with exponential back-off, and moves what cannot be delivered to
 * hold.
 *
 * - At most max_parallel deliveries at once. A connection that finished a
 *   message is kept idle for idle_keep_s seconds (at most max_parallel of
 *   them) and the next due message to the same next hop goes over it, with
 *   RSET between.
 * - The message is removed from the spool (store->remove) only once every
 *   recipient got the next hop's 2xx to the end of the content. When an
 *   attempt leaves recipients pending (4xx) or refused (5xx), the delivered
 *   ones are recorded (store->rcpt_done) first, so that they are not sent
 *   again; a message finished by one attempt is removed without such a
 *   record (it would only be removed with it, one file less per message).
 * - A temporary failure (4xx, timeout, connection trouble, route deferral)
 *   schedules the next attempt: retry_min_s after the first failure, then
 *   doubling, capped at retry_max_s. When max_lifetime_s have passed since
 *   arrival the message moves to hold instead (DSNs come later).
 * - Recipients refused for good (5xx) are not tried again; when only such
 *   recipients remain, the message moves to hold with that reply as the
 *   reason (no bounce yet).
 * - One log line per attempt: event=delivered|deferred|held with the id,
 *   the next hop, the delay since arrival and the reason.
 *
 * The runner never touches the spool itself: it goes through a
 * queue_runner_store, which the queue process fills with the spool's
 * functions (queue_spool.h) and tests with an in-memory fake.
 */
#ifndef AIRLOCK_QUEUE_RUNNER_H
#define AIRLOCK_QUEUE_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "relay/smtp_client.h"

struct event_base;

/* Longest queue id the runner keeps (queue_file.h's QUEUE_ID_MAX fits). */
#define QUEUE_RUNNER_ID_MAX 32
/* Size of a remembered reason, NUL included. */
#define QUEUE_RUNNER_REASON_MAX 640

/* One opened message, as the store hands it to the runner. */
struct queue_runner_msg {
	int64_t arrived; /* unix seconds */
	const char *from;
	const char *const *rcpts; /* every recipient, at its original index */
	size_t nrcpts;
	const bool *rcpt_done; /* nrcpts flags, or NULL: already delivered ones */
	bool smtputf8;
	bool eightbit;
	int fd; /* read-only; the content is content_len octets from content_off */
	off_t content_off;
	uint64_t content_len;
	void *handle; /* the store's own data for close() */
};

/*
 * What the runner needs from the spool; every function gets arg first. The
 * spool's counterparts are named; each returns 0 or -1 like them.
 */
struct queue_runner_store {
	void *arg;
	/* queue_spool_list(QUEUE_AREA_QUEUE): each(each_arg, id) per committed message. */
	int (*list)(void *arg, int (*each)(void *each_arg, const char *id), void *each_arg);
	/* queue_msg_open(QUEUE_AREA_QUEUE): fills *m; -1 with a reason in err. */
	int (*open)(void *arg, const char *id, struct queue_runner_msg *m, char *err,
		    size_t errlen);
	/* Releases what open() gave (queue_envelope_free(), close(fd)). */
	void (*close)(void *arg, struct queue_runner_msg *m);
	/* queue_msg_rcpt_done(): recipient rcpt_index (original index) was delivered. */
	int (*rcpt_done)(void *arg, const char *id, size_t rcpt_index);
	/* queue_msg_remove(QUEUE_AREA_QUEUE). */
	int (*remove)(void *arg, const char *id);
	/* queue_msg_hold(): moves the message to hold with reason. */
	int (*hold)(void *arg, const char *id, const char *reason, char *err, size_t errlen);
};

struct queue_runner_opts {
	unsigned max_parallel;	  /* deliveries at once; 0 means 1 */
	unsigned retry_min_s;	  /* first back-off; 0 means 1 */
	unsigned retry_max_s;	  /* back-off cap; below retry_min_s means retry_min_s */
	unsigned max_lifetime_s;  /* from arrival to hold */
	unsigned scan_interval_s; /* re-list the spool this often; 0 never (kicks only) */
	unsigned idle_keep_s;	  /* keep a finished connection this long; 0 means 5 */
	/* Copied; its strings and SSL_CTX must outlive the runner. */
	struct smtp_client_opts client;
};

/* Where to send: filled by the route hook for each delivery. */
struct queue_route {
	struct sockaddr_storage peer;
	socklen_t peer_len;
	struct sockaddr_storage source; /* bind before connect when source_len > 0 */
	socklen_t source_len;
	char bind_device[32]; /* SO_BINDTODEVICE when not empty */
	char name[64];	      /* the next hop in logs ("hub") */
	bool xfrm_out;	      /* pin with a per-socket XFRM OUT policy requiring ESP */
	int tag; /* the route hook's own number for this route, given back in outcomes */
};

/*
 * Fills *out for the next delivery. Returns 0, or -1 to defer every due
 * message now, with a reason in why (e.g. "no SA"); the messages keep their
 * back-off schedule.
 */
typedef int (*queue_route_fn)(void *arg, struct queue_route *out, char *why, size_t whylen);

struct queue_runner_stats {
	size_t queued;	       /* messages known to the runner */
	size_t active;	       /* being delivered now */
	size_t deferred;       /* waiting for a retry after a failed attempt */
	uint64_t delivered;    /* since start */
	uint64_t held;	       /* moved to hold since start */
	uint64_t oldest_age_s; /* now minus the oldest known arrival; 0 if empty */
};

/* One message as airlockctl queue lists it. Internal data, valid during the call. */
struct queue_runner_entry {
	const char *id;
	int64_t arrived;      /* unix seconds; 0 until the message was first opened */
	int64_t next_attempt; /* unix seconds */
	unsigned attempts;    /* failed attempts so far */
	bool active;
	const char *last_reason; /* "" before the first failure */
};

struct queue_runner;

/*
 * A new runner on base; nothing happens before queue_runner_start(). store
 * and o are copied (the functions and pointers they hold must outlive the
 * runner). route gets route_arg. Returns NULL when out of memory.
 */
struct queue_runner *queue_runner_new(struct event_base *base,
				      const struct queue_runner_store *store,
				      const struct queue_runner_opts *o, queue_route_fn route,
				      void *route_arg);

/* Lists the spool and makes every committed message due now; starts the timers. */
void queue_runner_start(struct queue_runner *r);

/* Message id was just committed: deliver it as soon as a slot is free. */
void queue_runner_kick(struct queue_runner *r, const char *id);

void queue_runner_get_stats(const struct queue_runner *r, struct queue_runner_stats *out);

/*
 * Calls each(arg, e) per known message, in no particular order, until it
 * returns non-zero. Returns the number of calls.
 */
int queue_runner_list(const struct queue_runner *r,
		      int (*each)(void *arg, const struct queue_runner_entry *e), void *arg);

/*
 * Outcome feedback to the route hook's owner, so that it can steer away from
 * a next hop that fails (hub failover). SESSION_OK: a new connection got
 * through connect, greeting, EHLO (and STARTTLS) and is ready for mail;
 * SESSION_FAILED: it did not (connect error, timeout, a 4xx/5xx greeting or
 * EHLO, TLS failure) and reply says why. Replies to a message (MAIL, RCPT,
 * content) are not sessions failing and are not reported.
 */
enum queue_outcome_kind {
	QUEUE_OUTCOME_SESSION_OK = 0,
	QUEUE_OUTCOME_SESSION_FAILED,
};

struct queue_runner_outcome {
	enum queue_outcome_kind kind;
	const struct queue_route *route; /* as the route hook filled it, tag included */
	const char *reply;		 /* "" for SESSION_OK */
};

/* Internal data during the call. May call queue_runner_kick_all(), not free the runner. */
typedef void (*queue_outcome_fn)(void *arg, const struct queue_runner_outcome *o);

/* Sets (or with fn NULL clears) the outcome callback. */
void queue_runner_set_outcome_cb(struct queue_runner *r, queue_outcome_fn fn, void *arg);

/*
 * Makes every deferred message due now (their attempt counts stay) and
 * dispatches soon: the route came back (an SA is up again), so waiting for
 * the back-off would only delay mail. Returns how many were made due.
 */
size_t queue_runner_kick_all(struct queue_runner *r);

/*
 * The route with this tag is gone (its SA went down): every delivery in
 * flight over it is abandoned and deferred with reason, and its idle
 * connections are closed, instead of waiting for their timeouts. A message
 * whose content was already sent may then arrive twice. Returns the number
 * of deliveries abandoned.
 */
size_t queue_runner_abort_route(struct queue_runner *r, int tag, const char *reason);

/*
 * Closes the idle connections kept for reuse over the route with this tag
 * (every route when tag < 0), without QUIT: the path they were opened over
 * is gone (an SA lost, charon restarted), so nothing would reach the peer.
 * Returns how many were closed.
 */
size_t queue_runner_drop_idle(struct queue_runner *r, int tag);

/* Abandons deliveries in flight (they are retried at the next start) and frees r. NULL ok. */
void queue_runner_free(struct queue_runner *r);

#endif

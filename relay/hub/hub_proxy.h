/*
 * The hub's SMTP sink (the smtp process): a live proxy of each transaction
 * to the internal MTA, with the scan attestation checked before any content
 * is passed on.
 *
 *  - MAIL: a connection to the internal MTA is opened and MAIL sent; its
 *    reply is the edge's reply (no connection, a timeout or a 421:
 *    451 4.4.1 / 451 4.3.0).
 *  - each RCPT: sent on, its reply is the edge's reply, so per-recipient
 *    verdicts reach the edge.
 *  - content: held only in memory (a memfd; the hub keeps no copy on disk)
 *    while attest_stream hashes it; at end of data the stamp is verified
 *    against the trusted keys. Refused: 550 5.7.1 Scan attestation refused:
 *    REASON, and the internal transaction is abandoned (RSET / QUIT);
 *    valid: the content goes to the internal MTA, and the edge's end of data
 *    is answered only after the internal MTA answered:
 *
 *	internal MTA 2xx after the content     250 2.0.0 Ok: ... (its reply quoted)
 *	internal MTA 5xx                       its 5xx reply
 *	4xx, timeout, lost connection          451 4.x.x ...
 *
 *  - a valid stamp on a transaction the internal MTA already accepted (same
 *    signing key, edge queue id, body hash, sender and recipients, within
 *    duplicate_window_s; hub_dedupe.h): the edge lost our 250 and retries.
 *    The internal transaction is abandoned and the edge gets "250 2.0.0 Ok:
 *    already delivered (ID), not delivered again"; outcome duplicate.
 *  - the transaction's end (RSET, QUIT, next MAIL, the edge gone): the
 *    internal session goes back to an idle pool when it is in a known-good
 *    state (the content was answered 2xx or 5xx, after which the MTA has
 *    reset; or the envelope ended without content: the next transaction
 *    starts with RSET); a session
 *    that failed (4xx at end of data, timeout, 421, lost) is closed.
 *
 * The idle pool (a connection cache): MAIL takes the most recently used idle
 * session and opens a new one only when none is idle. At most idle_max
 * sessions are idle (the oldest is closed to make room), each for at most
 * idle_timeout_ms (then QUIT), and a session is retired (QUIT) after
 * max_uses transactions. An idle session the internal MTA closes (EOF, 421)
 * leaves the pool at once. When a reused session turns out dead as its
 * transaction starts (closed, reset or 421 before the MAIL reply; not a
 * timeout), the transaction starts again once on a fresh session: the
 * edge's MAIL does not fail because of a stale session. hub_proxy_free()
 * QUITs the idle sessions.
 *
 * Every wait for the internal MTA is bounded by timeout_s. The functions
 * plug straight into struct smtp_server_hooks (hub_smtp.c).
 */
#ifndef AIRLOCK_HUB_PROXY_H
#define AIRLOCK_HUB_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "relay/attest.h"
#include "relay/hub/hub_msg.h"
#include "relay/smtp_client.h"
#include "relay/smtp_server.h"

struct event_base;

/* Defaults of the idle pool (hub_proxy_opts fields left 0). */
#define HUB_IDLE_MAX	     20	   /* an edge delivers over up to queue.max_parallel (20) at once */
#define HUB_IDLE_CAP	     64	   /* idle_max is capped here */
#define HUB_IDLE_TIMEOUT_MS  30000 /* below common MTA idle timeouts (60-300 s) */
#define HUB_SESSION_MAX_USES 100
#define HUB_DUPLICATE_MEMORY 100000 /* transactions remembered; about 40 octets each */

struct hub_proxy_opts {
	const struct sockaddr *mta; /* the internal MTA; copied */
	socklen_t mta_len;
	const char *helo_name; /* our EHLO name towards it; copied */
	unsigned timeout_s;    /* every stage of the internal session */
	int64_t max_age, max_skew;
	bool accept_unscanned;
	unsigned idle_max;	  /* idle sessions kept at most; 0: HUB_IDLE_MAX */
	unsigned idle_timeout_ms; /* an idle session is QUIT after it; 0: HUB_IDLE_TIMEOUT_MS */
	unsigned max_uses;	  /* transactions per session; 0: HUB_SESSION_MAX_USES */
	/* Transactions delivered are remembered this long (hub_dedupe.h); 0: not at all. */
	unsigned duplicate_window_s;
	unsigned duplicate_memory; /* at most this many of them; 0: HUB_DUPLICATE_MEMORY */
};

/* Called once per finished message (refused or proxied) with its outcome. */
typedef void (*hub_proxy_result_fn)(void *arg, const struct hub_result *r);

struct hub_proxy;
struct hub_txn;

/* A new sink (gets owned; hub_proxy_free). NULL when out of memory. No keys until set. */
struct hub_proxy *hub_proxy_new(struct event_base *base, const struct hub_proxy_opts *o,
				hub_proxy_result_fn cb, void *arg);
/* Frees the proxy; transactions still running keep a reference and finish. NULL is fine. */
void hub_proxy_free(struct hub_proxy *p);

/*
 * Replaces the trusted keys (t gets owned; the old set is freed once no
 * transaction uses it any more). Before the first call every stamp is
 * refused as unknown-key.
 */
void hub_proxy_set_trust(struct hub_proxy *p, struct attest_trust *t);
size_t hub_proxy_trust_count(const struct hub_proxy *p);

/*
 * The pool's counters: sessions opened, transactions started on a reused
 * session, sessions idle now. fn (may be NULL) is called whenever they
 * change, from inside the proxy: it should only note that.
 */
typedef void (*hub_proxy_stats_fn)(void *arg);
void hub_proxy_set_stats_cb(struct hub_proxy *p, hub_proxy_stats_fn fn, void *arg);
void hub_proxy_get_stats(const struct hub_proxy *p, struct hub_pool_stats *out);

/* smtp_server_hooks: ctx is the struct hub_proxy. */
void hub_mail_async(void *ctx, const struct smtp_txn_info *info, smtp_txn_done_fn reply,
		    void *cookie);
void hub_rcpt_async(void *ctx, const struct smtp_txn_info *info, const struct smtp_addr *rcpt,
		    smtp_txn_done_fn reply, void *cookie);
void hub_envelope_end(void *ctx, const char *session_id);
void *hub_txn_begin(void *ctx, const struct smtp_txn_info *info, const char **reply);
int hub_txn_write(void *txn, const char *data, size_t len);
void hub_txn_end(void *txn, smtp_txn_done_fn done, void *cookie);
void hub_txn_abort(void *txn);

/*
 * The edge's reply to its MAIL or RCPT for the internal MTA's reply (code,
 * line), or for a local failure (code 0, line describing it) (pure): writes
 * one reply line without CRLF into out, printable ASCII: a 2xx, 4xx or 5xx
 * is passed on as it is (a malformed one becomes 451 4.3.0 / 554 5.0.0
 * quoting it), a 421 becomes 451 4.3.0 (the internal session ends, the
 * edge's need not), a local failure 451 4.4.1.
 */
void hub_reply_step(int code, const char *line, char *out, size_t outsz);

/*
 * The edge's end-of-data reply for the internal MTA's result r of the
 * content (pure): one reply line without CRLF into out (printable ASCII, at
 * most outsz - 1 octets): 250 when the content got a 2xx, the MTA's reply
 * when it got a 5xx, else 451. Returns the outcome.
 */
enum hub_proxy_outcome hub_reply_map(const struct smtp_client_result *r, char *out, size_t outsz);

/* The reply for a refused attestation: "550 5.7.1 Scan attestation refused: NAME (DETAIL)". */
void hub_reply_attest(enum attest_result a, const char *detail, char *out, size_t outsz);

#endif

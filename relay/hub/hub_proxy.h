/*
 * The hub's transaction sink (the smtp process): holds one message in
 * memory (a memfd; the hub keeps no copy on disk) while hashing it with
 * attest_stream, verifies its scan attestation at end of data, and only if
 * it is valid proxies it to the internal MTA with the SMTP client engine.
 * The edge's end-of-data reply is decided by the internal MTA's answer,
 * given only after it answered (end-to-end acknowledgement):
 *
 *	attestation refused (any reason)     550 5.7.1 Scan attestation refused: REASON
 *	internal MTA 2xx for every recipient  250 2.0.0 Ok: ... (its reply quoted)
 *	internal MTA 5xx (nothing retryable)  its 5xx reply
 *	internal MTA 4xx, timeout, connection
 *	failure, malformed reply              451 4.x.x ...
 *
 * The functions plug straight into struct smtp_server_hooks (hub_smtp.c).
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

struct hub_proxy_opts {
	const struct sockaddr *mta; /* the internal MTA; copied */
	socklen_t mta_len;
	const char *helo_name; /* our EHLO name towards it; copied */
	unsigned timeout_s;    /* every stage of the internal session */
	int64_t max_age, max_skew;
	bool accept_unscanned;
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

/* smtp_server_hooks: ctx is the struct hub_proxy. */
void *hub_txn_begin(void *ctx, const struct smtp_txn_info *info, const char **reply);
int hub_txn_write(void *txn, const char *data, size_t len);
void hub_txn_end(void *txn, smtp_txn_done_fn done, void *cookie);
void hub_txn_abort(void *txn);

/*
 * The edge's end-of-data reply for the internal MTA's result r of one
 * message (pure): writes one reply line without CRLF into out (printable
 * ASCII, at most outsz - 1 octets, starting with 250, 451 or the MTA's 5xx
 * code) and returns the outcome.
 */
enum hub_proxy_outcome hub_reply_map(const struct smtp_client_result *r, char *out, size_t outsz);

/* The reply for a refused attestation: "550 5.7.1 Scan attestation refused: NAME (DETAIL)". */
void hub_reply_attest(enum attest_result a, const char *detail, char *out, size_t outsz);

#endif

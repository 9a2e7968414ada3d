/*
 * Messages between airlock-hub's parent and its smtp process (relay/ipc.h
 * payloads), and their fail-closed readers.
 *
 *	HUB_MSG_CONN	parent -> smtp, with the accepted socket (SCM_RIGHTS): the
 *			connection passed the gate; struct hub_conn (gate facts).
 *	HUB_MSG_KEYS	parent -> smtp: the trusted attestation keys, sent at start,
 *			after every restart of the child and after SIGHUP.
 *	HUB_MSG_RESULT	smtp -> parent: the outcome of one message, for counters.
 *	HUB_MSG_POOL	smtp -> parent: the internal-session pool's counters
 *			(struct hub_pool_stats, the smtp process's totals), when
 *			they change.
 *
 * The smtp process only ever serves a socket that came with a HUB_MSG_CONN
 * it could read in full: a message that fails its reader is a protocol error
 * (ipc closes the channel and the socket is closed unserved).
 */
#ifndef AIRLOCK_HUB_MSG_H
#define AIRLOCK_HUB_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "policy/gate.h"
#include "relay/attest.h"
#include "relay/ipc.h"

enum hub_msg_type {
	HUB_MSG_CONN = 1,
	HUB_MSG_KEYS = 2,
	HUB_MSG_RESULT = 3,
	HUB_MSG_POOL = 4,
};

/* What the smtp process learns about an accepted connection. Strings are NUL-terminated. */
struct hub_conn {
	char peer[GATE_ADDR_MAX]; /* "192.0.2.1" */
	uint16_t peer_port;
	char remote_id[GATE_STR_MAX]; /* the authenticated IKE identity */
	char conn[GATE_STR_MAX];
	char child[GATE_STR_MAX];
	uint32_t ike_uniqueid, child_uniqueid;
	char received[GATE_RECEIVED_MAX]; /* gate_received_clause(), the Received: comment */
};

/* The outcome of one message in the smtp process. */
enum hub_proxy_outcome {
	HUB_PROXY_NONE = 0,   /* not proxied: the attestation refused it */
	HUB_PROXY_DELIVERED,  /* the internal MTA answered 2xx; the edge got 250 */
	HUB_PROXY_TEMPFAILED, /* 4xx, timeout, connection failure; the edge got 451 */
	HUB_PROXY_REJECTED,   /* 5xx from the internal MTA; the edge got 5xx */
	HUB_PROXY_DUPLICATE,  /* delivered before (hub_dedupe.h): not again; the edge got 250 */
	HUB_PROXY_OUTCOME_COUNT,
};

struct hub_result {
	enum attest_result attest; /* ATTEST_OK or why it was refused */
	enum hub_proxy_outcome proxy;
};

/* The pool of internal-MTA sessions in the smtp process (hub_proxy.h). */
struct hub_pool_stats {
	uint64_t opened; /* sessions opened */
	uint64_t reused; /* transactions started on a pooled session */
	uint32_t idle;	 /* sessions idle now */
};

/* The result of an accepted gate_check as a struct hub_conn (received clause included). */
void hub_conn_from_gate(const struct gate_result *g, struct hub_conn *out);

/* Writers: 0, or -1 when the writer failed (see ipc_writer). */
int hub_msg_put_conn(struct ipc_writer *w, const struct hub_conn *c);
int hub_msg_put_keys(struct ipc_writer *w, const struct attest_trust *t);
int hub_msg_put_result(struct ipc_writer *w, const struct hub_result *r);
int hub_msg_put_pool(struct ipc_writer *w, const struct hub_pool_stats *s);

/*
 * Readers of untrusted payloads: each reads the whole payload (trailing
 * bytes are an error) and returns 0, or -1 leaving *out unusable. A conn
 * must have a printable peer, a non-empty identity and connection name,
 * printable names and a received clause that is an RFC 5322 comment of
 * printable ASCII. Keys: a u32 count (at most ATTEST_TRUST_MAX) and that
 * many 32-octet public keys; *out gets a new set (owned by the caller).
 */
int hub_msg_get_conn(struct ipc_reader *r, struct hub_conn *out);
int hub_msg_get_keys(struct ipc_reader *r, struct attest_trust **out);
int hub_msg_get_result(struct ipc_reader *r, struct hub_result *out);
/* Pool counters: two u64 and a u32 (idle at most HUB_POOL_IDLE_MAX). */
int hub_msg_get_pool(struct ipc_reader *r, struct hub_pool_stats *out);
#define HUB_POOL_IDLE_MAX 1024

/* "none", "delivered", "tempfailed", "rejected". */
const char *hub_proxy_outcome_name(enum hub_proxy_outcome o);

#endif

/*
 * The hub's gate: may a connection the acceptor just accepted talk SMTP?
 *
 * A pure decision over plain data: the peer's and the local socket address
 * (from accept() and getsockname() on the accepted socket), the live SA
 * table, the time, and the state of the VICI session. No sockets, no clock,
 * no logging; the caller logs the result, counts it (gate_counters_note) and
 * answers the peer. The kernel gate on the listener (tunnel/tunnel_socket.h)
 * comes first; this check is the second, independent one (DESIGN.md, "The
 * tunnel-only rule").
 *
 * Every path fails closed. In order:
 *  1. VICI not connected                      -> TEMPFAIL 421 4.7.0
 *  2. the SA table not fresh                  -> TEMPFAIL 421 4.7.0
 *  3. a socket address that is not IPv4/IPv6  -> REJECT 554 5.7.1 (peer)
 *                                                 or TEMPFAIL (our own side)
 *  4. no INSTALLED ESP CHILD_SA of an ESTABLISHED IKE_SA of a configured
 *     connection whose selectors cover (local address and port, peer address
 *     and port, TCP)                          -> REJECT 554 5.7.1
 *  5. CHILD_SAs of different authenticated peers cover it (in one connection
 *     or across configured connections)       -> REJECT 554 5.7.1
 *  6. the covering IKE_SA carries no remote identity -> REJECT 554 5.7.1
 *  otherwise ACCEPT, with the authenticated IKE identity (the IKE_SA's
 *  remote-id) and the IKE and CHILD uniqueids copied into the result.
 *
 * The result owns copies of everything it reports: it stays valid after the
 * SA table changes, so a session can keep it for its Received: header.
 */
#ifndef AIRLOCK_GATE_H
#define AIRLOCK_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tunnel/sa_table.h"

/* Room for an address as text ("2001:db8::1", "192.0.2.66"), NUL included. */
#define GATE_ADDR_MAX 48
/* Room for the reason text of a verdict, NUL included. */
#define GATE_TEXT_MAX 128
/* Room for a copied identity or name: the SA table's limit plus the NUL. */
#define GATE_STR_MAX (SA_TABLE_MAX_STR + 1)
/* Recommended size of a buffer for gate_received_clause (one header line's worth). */
#define GATE_RECEIVED_MAX 512

enum gate_verdict {
	GATE_ACCEPT = 0,
	GATE_TEMPFAIL, /* 421 4.7.0, then close */
	GATE_REJECT,   /* 554 5.7.1, then close */
};

/* Why; one counter each in struct gate_counters. */
enum gate_reason {
	GATE_OK = 0,	    /* accepted */
	GATE_VICI_DOWN,	    /* TEMPFAIL: VICI unreachable */
	GATE_TABLE_STALE,   /* TEMPFAIL: SA table not fresh */
	GATE_LOCAL_ADDRESS, /* TEMPFAIL: our own socket address unusable */
	GATE_PEER_ADDRESS,  /* REJECT: peer address not IPv4/IPv6, or families differ */
	GATE_NO_SA,	    /* REJECT: no usable CHILD_SA covers the connection */
	GATE_AMBIGUOUS,	    /* REJECT: CHILD_SAs of different peers cover it */
	GATE_NO_IDENTITY,   /* REJECT: the IKE_SA has no remote identity */
	GATE_REASON_COUNT,
};

/* What the gate looks at. Nothing is kept or changed. */
struct gate_input {
	const struct sockaddr *peer; /* from accept() */
	socklen_t peer_len;
	const struct sockaddr *local; /* getsockname() of the accepted socket */
	socklen_t local_len;
	const struct sa_table *table; /* the live table (sa_monitor's) */
	uint64_t now;		      /* monotonic seconds, as the table is fed */
	uint64_t stale_after;	      /* seconds after the last refresh the table is stale */
	const char *const *conns;     /* the configured connection names, at least one */
	size_t conn_count;
	bool vici_connected; /* the VICI command and event connections are up */
};

/* The decision. Text fields are NUL-terminated and free of control characters. */
struct gate_result {
	enum gate_verdict verdict;
	enum gate_reason reason;
	int code;		  /* 421 or 554; 0 when accepted */
	const char *enhanced;	  /* "4.7.0" or "5.7.1" (static); "" when accepted */
	char text[GATE_TEXT_MAX]; /* "no INSTALLED CHILD_SA covers 192.0.2.66", ... */
	char peer[GATE_ADDR_MAX]; /* the peer address as text, "unknown" if unusable */
	uint16_t peer_port;
	/* Set only when accepted, empty / 0 otherwise: */
	char remote_id[GATE_STR_MAX]; /* the authenticated IKE identity */
	char conn[GATE_STR_MAX];      /* the IKE_SA's connection name */
	char child[GATE_STR_MAX];     /* the CHILD_SA's name */
	uint32_t ike_uniqueid;
	uint32_t child_uniqueid;
};

/* Rejections by reason, plus what status output shows. Zero-initialise it. */
struct gate_counters {
	uint64_t accepted;
	uint64_t by_reason[GATE_REASON_COUNT]; /* by_reason[GATE_OK] == accepted */
	char last_refused[GATE_ADDR_MAX];      /* peer of the last TEMPFAIL or REJECT */
	enum gate_reason last_reason;	       /* its reason; GATE_OK if none yet */
};

/*
 * Decides about one accepted connection; see the order above. in and out
 * must not be NULL, in->table must not be NULL and in->conns must hold
 * in->conn_count >= 1 non-NULL names (the configuration requires one):
 * anything else is a caller bug (fatal). Everything that comes from the
 * network or from charon only ever leads to a verdict. Always fills *out.
 */
void gate_check(const struct gate_input *in, struct gate_result *out);

/*
 * The reply line for a refused connection, without CRLF: "421 4.7.0 VICI
 * unreachable". Writes at most outsz bytes (always NUL-terminated) and
 * returns out; for an accepted connection writes "".
 */
const char *gate_reply(const struct gate_result *r, char *out, size_t outsz);

/* Short fixed name of a reason for logs and metrics ("no-sa", "vici-down", ...). */
const char *gate_reason_name(enum gate_reason reason);

/* Short fixed name of a verdict: "accept", "tempfail", "reject". */
const char *gate_verdict_name(enum gate_verdict verdict);

/*
 * Counts one result: accepted or by its reason, and remembers the peer of a
 * refused one as the last refused source. Saturates instead of wrapping.
 */
void gate_counters_note(struct gate_counters *c, const struct gate_result *r);

/* The sum of the REJECT reasons / of the TEMPFAIL reasons. */
uint64_t gate_counters_rejected(const struct gate_counters *c);
uint64_t gate_counters_tempfailed(const struct gate_counters *c);

/*
 * The comment the hub writes into its Received: header for an accepted
 * connection, e.g.
 *
 *   (IKE identity "C=US, O=Example, CN=edge1.example.com", IKE_SA edge1[1],
 *   CHILD_SA mail{7})
 *
 * (one line; wrapped here). It is an RFC 5322 comment built only of printable
 * ASCII, never CR or LF, with balanced parentheses whatever the identity
 * holds: '(' ')' '\' '"' inside the identity and the names are written as
 * quoted-pairs ("\(" ...), and '%', control characters and bytes >= 0x80 as
 * %XX (upper-case hex), so the exact identity can be read back by undoing
 * the quoted-pairs and then the %XX escapes. If it does not fit into outsz
 * bytes the identity is cut between two escapes and marked with "..."
 * before its closing quote (with GATE_RECEIVED_MAX and the usual short
 * connection names that leaves room for over 400 bytes of identity); the
 * names are never cut. Returns the length written (excluding the NUL), or -1
 * if r is not an accepted result or outsz cannot hold the clause even with
 * an empty cut identity (out is then "").
 */
int gate_received_clause(const struct gate_result *r, char *out, size_t outsz);

#endif

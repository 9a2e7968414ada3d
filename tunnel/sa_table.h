/*
 * The live IPsec SA table: what charon reports over VICI, kept as plain data
 * so that the rest of airlock can ask "may this connection pass?" without
 * sockets. Filled by full refreshes (the list-sa events of one list-sas
 * command) and kept current between them by ike-updown, child-updown,
 * ike-rekey and child-rekey events. Time is always passed in by the caller
 * (monotonic seconds), so tests control it.
 *
 * Fail-closed rules:
 *  - a query only finds an INSTALLED ESP CHILD_SA of an ESTABLISHED IKE_SA;
 *  - a down event removes the SA at once, and a down event that arrives while
 *    a refresh is being collected also removes the SA from that refresh;
 *  - a malformed event that cannot be applied, or a lost event connection,
 *    makes the whole table stale until the next full refresh;
 *  - a malformed SA in a refresh is skipped (and counted), never guessed at;
 *  - queries find nothing on a table never refreshed, disconnected or hit
 *    by a malformed event, nor when the answer is ambiguous; the age of the
 *    table is the caller's check (sa_table_freshness).
 *
 * Message shapes, checked against strongSwan's vici plugin
 * (src/libcharon/plugins/vici/vici_query.c: list_sas, list_ike, list_child,
 * ike_updown, ike_rekey, child_updown, child_rekey; a 5.x and a 6.0 copy
 * agree on all of this except the child-updown section name, noted below):
 *
 *   list-sa       { <ike> { IKE, child-sas { <child>-<id> { CHILD } } } }
 *   ike-updown    { up = yes, <ike> { IKE } }
 *   child-updown  { up = yes, <ike> { IKE, child-sas { <child>-<id> { CHILD } } } }
 *   ike-rekey     { <ike> { old { IKE }, new { IKE } } }
 *   child-rekey   { <ike> { IKE, child-sas { <child> { old { CHILD }, new { CHILD } } } } }
 *
 * "up = yes" is a key of the message root, before the IKE section, and is
 * absent (not "no") when the SA goes down. ike-updown and ike-rekey carry no
 * child-sas: list_ike() only writes IKE_SA fields, list_sas() adds the
 * child-sas section itself. child-updown names the child section
 * "<name>-<uniqueid>" in current releases (plain "<name>" in older ones);
 * child-rekey names it by the plain child name. Every CHILD section carries
 * its "name" key, so section names are never parsed.
 *
 * IKE is uniqueid, version, state, local-host, local-port, local-id,
 * remote-host, remote-port, remote-id, [initiator = yes], initiator-spi,
 * responder-spi, [encr-alg, encr-keysize, integ-alg, prf-alg, dh-group], and
 * only when ESTABLISHED: established, [rekey-time], [reauth-time]. CHILD is
 * name, uniqueid, reqid, state, mode, and only when INSTALLED, REKEYING or
 * REKEYED (6.0: also DELETING, DELETED): protocol, [encap = yes], spi-in,
 * spi-out, [encr-alg, encr-keysize, integ-alg, dh-group], bytes-in,
 * packets-in, [use-in], bytes-out, packets-out, [use-out], [rekey-time],
 * [life-time], install-time; then always the lists local-ts and remote-ts.
 * Times are seconds relative to charon's clock when it built the message:
 * "established", "install-time", "use-*" are seconds ago, "rekey-time",
 * "reauth-time", "life-time" seconds ahead (negative when overdue).
 */
#ifndef AIRLOCK_SA_TABLE_H
#define AIRLOCK_SA_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunnel/ts.h"
#include "tunnel/vici_msg.h"

/* Bounds on what the table accepts; larger input is skipped and counted. */
#define SA_TABLE_MAX_IKE   4096 /* IKE_SAs in the table */
#define SA_TABLE_MAX_CHILD 4096 /* CHILD_SAs in the table, all IKE_SAs together */
#define SA_TABLE_MAX_TS	   32	/* traffic selectors per side of one CHILD_SA */
#define SA_TABLE_MAX_STR   1024 /* bytes of one text field (identities are the longest) */
/* Down events remembered while a refresh is being collected; more taints it. */
#define SA_TABLE_MAX_TOMBSTONES 256

/* An optional number: set is false when charon did not send the field. */
struct sa_opt_i64 {
	bool set;
	int64_t value;
};

struct sa_opt_u64 {
	bool set;
	uint64_t value;
};

/* The traffic selectors of one side of a CHILD_SA. */
struct sa_ts_list {
	size_t count;
	char **text;   /* as charon printed them, for display */
	struct ts *ts; /* ts[i] is text[i] parsed */
};

/*
 * One CHILD_SA. Text fields are NUL-terminated, free of control characters,
 * at most SA_TABLE_MAX_STR bytes, and NULL when charon did not send them.
 */
struct sa_child {
	char *name; /* the CHILD_SA config name */
	uint32_t uniqueid;
	uint32_t reqid;
	char *state;	/* INSTALLED, REKEYED, ... */
	char *mode;	/* TUNNEL, TRANSPORT, BEET, ... */
	char *protocol; /* ESP or AH */
	bool encap;	/* UDP encapsulated */
	char *spi_in;	/* hex */
	char *spi_out;
	char *encr_alg;
	uint32_t encr_keysize; /* 0 when not sent */
	char *integ_alg;
	char *dh_group;
	uint64_t bytes_in, bytes_out, packets_in, packets_out;
	struct sa_opt_u64 use_in;	/* seconds since the last inbound packet */
	struct sa_opt_u64 use_out;	/* seconds since the last outbound packet */
	struct sa_opt_i64 install_time; /* seconds ago */
	struct sa_opt_i64 rekey_time;	/* seconds ahead */
	struct sa_opt_i64 life_time;	/* seconds ahead */
	struct sa_ts_list local_ts;
	struct sa_ts_list remote_ts;
	uint64_t reported_at; /* caller's monotonic time when these values arrived */
};

/* One IKE_SA and its CHILD_SAs. Text fields as in struct sa_child. */
struct sa_ike {
	char *name; /* the connection name */
	uint32_t uniqueid;
	uint32_t version; /* 1 or 2 */
	char *state;	  /* ESTABLISHED, CONNECTING, REKEYING, DELETING, ... */
	char *local_host;
	uint16_t local_port; /* 0 when not sent */
	char *local_id;
	char *remote_host;
	uint16_t remote_port;
	char *remote_id;     /* the authenticated peer identity once ESTABLISHED */
	bool initiator;	     /* we initiated this IKE_SA */
	char *initiator_spi; /* hex, as charon prints it */
	char *responder_spi;
	char *encr_alg;
	uint32_t encr_keysize;
	char *integ_alg;
	char *prf_alg;
	char *dh_group;
	struct sa_opt_i64 established; /* seconds ago */
	struct sa_opt_i64 rekey_time;  /* seconds ahead */
	struct sa_opt_i64 reauth_time; /* seconds ahead */
	uint64_t reported_at;
	size_t child_count;
	struct sa_child *children;
};

/* What a full refresh did. */
struct sa_table_report {
	unsigned ike_added;
	unsigned child_added;
	unsigned ike_skipped;	    /* malformed, duplicate, or over SA_TABLE_MAX_IKE */
	unsigned child_skipped;	    /* malformed, duplicate, or over SA_TABLE_MAX_CHILD */
	unsigned dropped_by_events; /* SAs that down events during the refresh removed */
	bool discarded;		    /* the refresh was tainted and the table left unchanged */
	bool refresh_advisable;	    /* events during the refresh may be missing from it */
};

/* Bits returned by sa_table_apply_event. */
#define SA_EVENT_CHANGED   0x1 /* the table content changed */
#define SA_EVENT_REFRESH   0x2 /* a full refresh (list-sas) is advisable now */
#define SA_EVENT_MALFORMED 0x4 /* the event was unusable; the table is now stale */

/* Why the table is or is not fresh. */
enum sa_freshness {
	SA_FRESH = 0,
	SA_STALE_NEVER,	       /* no full refresh yet */
	SA_STALE_AGE,	       /* the last full refresh is too old */
	SA_STALE_DISCONNECTED, /* sa_table_mark_disconnected since the last refresh */
	SA_STALE_EVENT,	       /* a down event too malformed to apply since the last refresh */
};

/* Result of a query. */
enum sa_match {
	SA_MATCH_FOUND = 0,
	SA_MATCH_NONE,	    /* no usable CHILD_SA covers it */
	SA_MATCH_AMBIGUOUS, /* usable CHILD_SAs of different peers cover it */
	SA_MATCH_STALE,	    /* the table is stale for a reason other than age */
};

/* A connection to check. Addresses are 16 bytes, laid out as in struct ts. */
struct sa_flow {
	int family; /* AF_INET or AF_INET6 */
	uint8_t local[16];
	uint8_t remote[16];
	uint8_t proto;	      /* IP protocol, 0 = don't care */
	uint16_t local_port;  /* 0 = don't care */
	uint16_t remote_port; /* 0 = don't care */
};

struct sa_table;

/* A new, empty table that is not fresh (SA_STALE_NEVER). NULL if out of memory. */
struct sa_table *sa_table_new(void);

/* Frees the table and everything in it. NULL is allowed. */
void sa_table_free(struct sa_table *t);

/* ---- full refresh --------------------------------------------------------- */

/*
 * Starts collecting a full refresh. Call it before sending list-sas, so that
 * down events arriving meanwhile (on the event connection) are also applied
 * to what the refresh collects. Discards a refresh already being collected.
 */
void sa_table_refresh_begin(struct sa_table *t);

/*
 * Adds one list-sa event message (internal data of the caller; nothing is
 * kept pointing into it) to the refresh being collected. A malformed IKE_SA,
 * a duplicate, or one past SA_TABLE_MAX_IKE is skipped as a whole; a
 * malformed, duplicate or surplus CHILD_SA is skipped alone; both are counted
 * for the report and logged. Returns 0 if the IKE_SA was added, 1 if it was
 * skipped, -1 if no refresh is being collected, it is already tainted (see
 * sa_table_refresh_commit), or memory ran out (which taints it).
 */
int sa_table_refresh_add(struct sa_table *t, const struct vici_node *msg);

/*
 * Replaces the table's content with the collected refresh in one step and
 * records now as the time of the last full refresh, which makes the table
 * fresh again (clears SA_STALE_DISCONNECTED and SA_STALE_EVENT). SAs that
 * down or rekey events took away while the refresh was collected are dropped
 * from it. If the refresh was tainted (out of memory, too many events to
 * remember, or sa_table_mark_disconnected meanwhile) it is discarded instead
 * and the table is left as it was. report may be NULL. Returns 0 if the
 * content was replaced, -1 if it was not (no refresh being collected, or
 * discarded).
 */
int sa_table_refresh_commit(struct sa_table *t, uint64_t now, struct sa_table_report *report);

/* Drops a refresh being collected, if any, leaving the table as it was. */
void sa_table_refresh_abort(struct sa_table *t);

/*
 * The whole refresh in one call: begin, add each of the n list-sa event
 * messages (internal data of the caller), commit. Returns as
 * sa_table_refresh_commit.
 */
int sa_table_replace(struct sa_table *t, const struct vici_node *const *events, size_t n,
		     uint64_t now, struct sa_table_report *report);

/* ---- events --------------------------------------------------------------- */

/*
 * Applies one event message (internal data of the caller) received at now:
 *  - ike-updown with up: adds the IKE_SA or updates its fields (its CHILD_SAs
 *    arrive as child-updown events); without up: removes it and its CHILD_SAs.
 *  - child-updown with up: adds or updates the IKE_SA fields and the CHILD_SA;
 *    without up: removes the CHILD_SA.
 *  - ike-rekey: the new IKE_SA takes the old one's place and CHILD_SAs.
 *  - child-rekey: removes the old CHILD_SA, adds the new one.
 * A down or rekey only needs the uniqueids; if even those are unusable the
 * table becomes stale (SA_STALE_EVENT) and SA_EVENT_MALFORMED is returned.
 * Other event names are ignored (returns 0). Returns a combination of the
 * SA_EVENT_* bits; SA_EVENT_REFRESH asks the caller to run a full refresh
 * because the table may now differ from charon (an SA an event referred to was
 * unknown, part of an event was malformed, a limit was hit, memory ran out).
 */
unsigned sa_table_apply_event(struct sa_table *t, const char *event_name,
			      const struct vici_node *msg, uint64_t now);

/*
 * The event connection was lost (or charon restarted): events may have been
 * missed, so the table is stale (SA_STALE_DISCONNECTED) until the next full
 * refresh that begins after this call. Content stays available for display.
 */
void sa_table_mark_disconnected(struct sa_table *t);

/* ---- freshness ------------------------------------------------------------ */

/*
 * SA_FRESH if a full refresh was committed, no malformed event or lost event
 * connection since, and now - last refresh <= stale_after seconds. A now
 * before the last refresh (a clock mix-up) counts as SA_STALE_AGE.
 */
enum sa_freshness sa_table_freshness(const struct sa_table *t, uint64_t now, uint64_t stale_after);

/* sa_table_freshness() == SA_FRESH. */
bool sa_table_is_fresh(const struct sa_table *t, uint64_t now, uint64_t stale_after);

/*
 * The time of the last committed full refresh. Returns false (and leaves
 * *when alone) if there was none.
 */
bool sa_table_last_refresh(const struct sa_table *t, uint64_t *when);

/* Short fixed text for a freshness value ("fresh", "never-refreshed", ...). */
const char *sa_freshness_name(enum sa_freshness f);

/* ---- queries -------------------------------------------------------------- */

/*
 * Finds a usable CHILD_SA for the flow: state INSTALLED, protocol ESP, of an
 * IKE_SA in state ESTABLISHED and, when conn is not NULL, named conn; one of
 * its local selectors covers (local, proto, local_port) and one of its remote
 * selectors covers (remote, proto, remote_port) (see ts_contains). If several
 * match and their IKE_SAs have the same remote identity, the newest CHILD_SA
 * (highest uniqueid) wins; if their identities differ the answer is
 * SA_MATCH_AMBIGUOUS, as the address alone cannot say which peer it is.
 * Does not look at the age of the table: check sa_table_freshness too.
 * Returns SA_MATCH_FOUND with *ike and *child set (internal data, valid until
 * the table is next changed), otherwise sets them to NULL. ike or child may
 * be NULL if not wanted.
 */
enum sa_match sa_table_find_covering(const struct sa_table *t, const struct sa_flow *flow,
				     const char *conn, const struct sa_ike **ike,
				     const struct sa_child **child);

/*
 * The IKE_SA that owns a remote address: one of its usable CHILD_SAs (as
 * above) has a remote selector covering addr (family, 16 bytes). Its
 * remote_id is the authenticated peer. Same tie and ambiguity rules and
 * results as sa_table_find_covering; *ike is internal data, NULL unless
 * SA_MATCH_FOUND.
 */
enum sa_match sa_table_owner(const struct sa_table *t, int family, const uint8_t addr[16],
			     const struct sa_ike **ike);

/* ---- iteration, for display ----------------------------------------------- */

/* Number of IKE_SAs and of CHILD_SAs (all IKE_SAs together) in the table. */
size_t sa_table_ike_count(const struct sa_table *t);
size_t sa_table_child_count(const struct sa_table *t);

/*
 * The i-th IKE_SA (0 <= i < sa_table_ike_count), in the order charon listed
 * them, events appending. Internal data, valid until the table is next
 * changed; NULL if i is out of range. Its CHILD_SAs are ike->children[0 ..
 * ike->child_count - 1].
 */
const struct sa_ike *sa_table_ike_at(const struct sa_table *t, size_t i);

#endif

/*
 * Which hub the edge forwards to now, as a pure function of the hubs
 * (edge.hubs), a snapshot of the SA table, the hubs' failure state and the
 * time (DESIGN.md "The tunnel-only rule", "Scale beyond one machine").
 *
 * A hub is usable when an INSTALLED ESP CHILD_SA of an ESTABLISHED IKE_SA
 * of its connection covers TCP from the local inner address
 * (tunnel.local_address) to the hub's address and port, and the hub is not
 * in a failure hold-down. The usable hub with the lowest priority wins, ties
 * in configuration order; when every hub with an SA is held down, the
 * preferred of them is used all the same (mail then follows each message's
 * back-off, as with a single hub). Fail closed: VICI not connected or a
 * table that is not fresh gives no hub at all.
 *
 * The caller records outcomes with forward_health_failed() and
 * forward_health_ok(): a hub that fails (connection, greeting) is held down
 * for a while and the next one is used; after the hold-down the preferred
 * hub is tried again, so mail comes back to it.
 */
#ifndef AIRLOCK_FORWARD_CHOICE_H
#define AIRLOCK_FORWARD_CHOICE_H

#include <stdbool.h>
#include <stdint.h>

#include "relay/forward_hubs.h"
#include "tunnel/sa_table.h"

/* One hub's failure state, kept by the caller (zeroed: healthy). */
struct forward_health {
	int64_t failing_until; /* held down while now < failing_until */
	unsigned failures;     /* consecutive failed sessions */
	char last_error[200];
};

enum forward_hub_state {
	FORWARD_HUB_UP = 0, /* SA up, not failing: may be used */
	FORWARD_HUB_NO_SA,  /* no covering CHILD_SA (or the table cannot tell) */
	FORWARD_HUB_FAILING /* in a failure hold-down */
};

/* "up", "no-sa", "failing". */
const char *forward_hub_state_name(enum forward_hub_state s);

/* Everything the choice looks at; pointers are only read. */
struct forward_view {
	const struct forward_hubs *hubs;     /* with connection/child defaults filled */
	const struct forward_health *health; /* hubs->n entries */
	const struct sa_table *table;	     /* may be NULL (nothing known) */
	bool vici_connected;		     /* the monitor's session is up */
	enum sa_freshness freshness;	     /* of table, now */
	int local_family;		     /* tunnel.local_address, as in struct ts */
	uint8_t local[16];
	int64_t now; /* seconds, same clock as failing_until */
};

struct forward_choice {
	int hub; /* index into hubs, or -1: defer with why */
	char why[320];
	enum forward_hub_state state[FORWARD_HUBS_MAX];
	bool has_sa[FORWARD_HUBS_MAX]; /* a covering CHILD_SA (false when the table cannot tell) */
	/*
	 * Hubs whose SA should be initiated: every hub without an SA that is
	 * preferred over the chosen one (all of them when none was chosen), so
	 * that a preferred hub comes back once it can. Never set when VICI is
	 * down or the table is stale.
	 */
	bool initiate[FORWARD_HUBS_MAX];
};

/*
 * Fills *out. The reasons are fixed texts a user sees in `airlockctl queue`:
 * "VICI unreachable", "SA table stale (never-refreshed)", "no SA to hub
 * 192.0.2.2:25 (airlock/airlock)".
 */
void forward_choose(const struct forward_view *v, struct forward_choice *out);

/* A session to the hub failed at now: hold it down for hold_s seconds. */
void forward_health_failed(struct forward_health *h, int64_t now, unsigned hold_s, const char *why);

/* A session to the hub worked: healthy again. */
void forward_health_ok(struct forward_health *h);

#endif

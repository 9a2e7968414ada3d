/*
 * Asks charon to bring a hub's CHILD_SA up (VICI `initiate` with child, ike
 * and timeout) on a VICI connection of its own: `initiate` blocks the
 * connection it runs on until charon is done, so it must not share the SA
 * monitor's session.
 *
 * Rate limits, per hub slot: at most one initiate in flight, and a new one
 * at most every min_interval_s seconds (counted from the start of the last
 * one), so that a queue full of deferred mail cannot flood charon.
 */
#ifndef AIRLOCK_FORWARD_INITIATE_H
#define AIRLOCK_FORWARD_INITIATE_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "relay/forward_hubs.h"

struct forward_initiate;

/*
 * Called when an initiate of slot ends: ok when charon answered success,
 * otherwise err says why (internal data, valid during the call).
 */
typedef void (*forward_initiate_done_fn)(void *arg, size_t slot, bool ok, const char *err);

/*
 * A new initiator for the VICI socket uri on base; charon is given
 * timeout_s seconds per initiate (our request times out a little later).
 * Returns NULL if the URI is unusable or memory ran out. Connects at
 * forward_initiate_start() and keeps reconnecting.
 */
struct forward_initiate *forward_initiate_new(struct event_base *base, const char *uri,
					      unsigned timeout_s, unsigned min_interval_s);
void forward_initiate_free(struct forward_initiate *fi);

void forward_initiate_set_done_cb(struct forward_initiate *fi, forward_initiate_done_fn fn,
				  void *arg);

/* Connects (retries in the background). Returns 0, or -1 if the first attempt failed. */
int forward_initiate_start(struct forward_initiate *fi);

/*
 * Initiates child of IKE connection ike for slot (< FORWARD_HUBS_MAX) at
 * now (seconds, any steady clock) unless one is in flight for that slot or
 * the last began less than min_interval_s ago. Returns 1 if a request was
 * sent, 0 if rate-limited, -1 if it could not be sent (VICI not connected:
 * counts as an attempt for the rate limit).
 */
int forward_initiate_request(struct forward_initiate *fi, size_t slot, const char *ike,
			     const char *child, int64_t now);

/* True while an initiate of slot is in flight. */
bool forward_initiate_pending(const struct forward_initiate *fi, size_t slot);

#endif

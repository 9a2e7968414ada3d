/*
 * The queue process's route to the hubs, only through the IPsec SA
 * (DESIGN.md "The tunnel-only rule", edge side). Owns the VICI session:
 *
 *  - an sa_monitor keeps the SA table live (list-sas, updown events);
 *  - the route hook (edge_forward_route, a queue_route_fn) picks a hub with
 *    forward_choose(): the lowest priority whose CHILD_SA covers
 *    (tunnel.local_address, hub address, TCP port) and which is not held
 *    down after a failure; otherwise it defers every due message with the
 *    reason ("no SA to hub ...", "VICI unreachable", "SA table stale ...",
 *    "tunnel backend unknown");
 *  - a missing SA is initiated on a second VICI connection
 *    (forward_initiate: one in flight per hub, one per EDGE_FORWARD_INITIATE_EVERY_S);
 *    when an SA comes up, deferred messages are kicked at once; when a hub's
 *    SA goes away with mail in flight it is initiated at once, and the
 *    connections over it are abandoned if it is not back within
 *    EDGE_FORWARD_ABORT_AFTER_S (they resume if it is: no duplicates);
 *  - the connection leaves from tunnel.local_address and is pinned to the
 *    tunnel: kernel XFRM → a per-socket OUT policy requiring ESP,
 *    kernel-libipsec → bound to tunnel.device; tunnel.backend "auto" asks
 *    charon (VICI stats). No backend known: nothing is sent;
 *  - session outcomes from the runner hold a failing hub down for
 *    EDGE_FORWARD_HOLD_S seconds, then it is tried again.
 */
#ifndef AIRLOCK_EDGE_FORWARD_H
#define AIRLOCK_EDGE_FORWARD_H

#include <event2/event.h>
#include <jansson.h>

#include "common/config.h"
#include "relay/queue_runner.h"

#define EDGE_FORWARD_HOLD_S	      20 /* a failing hub is avoided this long */
#define EDGE_FORWARD_INITIATE_EVERY_S 5	 /* at most one initiate per hub this often */
#define EDGE_FORWARD_INITIATE_TIMEOUT 15 /* seconds charon gets per initiate */
#define EDGE_FORWARD_ABORT_AFTER_S    5	 /* connections over a lost SA are abandoned then */

struct edge_forward;

/*
 * Creates the route for cfg (edge.hubs set, tunnel.local_address valid:
 * checked by the parent at start) on base and starts its VICI sessions.
 * Returns NULL with a reason in err only for unusable arguments; VICI being
 * down is a run-time state (messages wait).
 */
struct edge_forward *edge_forward_new(struct event_base *base, const struct airlock_config *cfg,
				      char *err, size_t errlen);
void edge_forward_free(struct edge_forward *f);

/* The runner to kick when an SA comes up and to ask for its queue size. */
void edge_forward_set_runner(struct edge_forward *f, struct queue_runner *r);

/* queue_route_fn: arg is the struct edge_forward. */
int edge_forward_route(void *arg, struct queue_route *out, char *why, size_t whylen);

/* queue_outcome_fn: arg is the struct edge_forward. */
void edge_forward_outcome(void *arg, const struct queue_runner_outcome *o);

/*
 * The hubs for the status JSON (gets owned): [{"address", "priority",
 * "connection", "child", "state": "up" | "no-sa" | "failing"}, ...].
 */
json_t *edge_forward_hubs_json(struct edge_forward *f);

/* Backend, VICI and table state for the status JSON (gets owned). */
json_t *edge_forward_tunnel_json(struct edge_forward *f);

#endif

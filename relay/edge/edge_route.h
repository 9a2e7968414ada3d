/*
 * Internal to the edge's parent (edge_main.c): scan requests and verdicts
 * routed between the smtp and scan children, with every request passed to
 * scan remembered until it is answered, so that a scan process that dies
 * costs its messages a 451 4.7.1 at once instead of a timeout.
 */
#ifndef AIRLOCK_EDGE_ROUTE_H
#define AIRLOCK_EDGE_ROUTE_H

#include "relay/ipc.h"

struct edge_route;

/* A new router (gets owned by the caller: edge_route_free()). */
struct edge_route *edge_route_new(void);
void edge_route_free(struct edge_route *r);

/*
 * smtp's SCAN_REQ (payload rd, fd owned and closed here) is passed to scan,
 * or, when scan is NULL or refuses it, answered with SCAN_REPLY_FAILED at
 * once. smtp_gen numbers the smtp process (raised by the caller when smtp
 * restarts). Returns 0, or -1 for a malformed request.
 */
int edge_route_request(struct edge_route *r, struct ipc_chan *smtp, unsigned smtp_gen,
		       struct ipc_chan *scan, struct ipc_reader *rd, int fd);

/*
 * scan's SCAN_REP (fd, if any, owned and closed here): passed to smtp when
 * it answers a request of the current smtp process, dropped otherwise.
 * Returns 0, or -1 for a malformed reply.
 */
int edge_route_reply(struct edge_route *r, struct ipc_chan *smtp, unsigned smtp_gen,
		     struct ipc_reader *rd, int fd);

/* scan died: every request it had is answered SCAN_REPLY_FAILED. */
void edge_route_scan_closed(struct edge_route *r, struct ipc_chan *smtp, unsigned smtp_gen);

/* Requests passed to scan and not answered yet. */
unsigned edge_route_in_flight(const struct edge_route *r);

#endif

/*
 * edge.hubs: the hubs the edge forwards mail to, only through the IPsec SA
 * (DESIGN.md "The tunnel-only rule"). Built from the libconfig setting by
 * forward_hubs_from_setting(), which airlock-edge registers with
 * config_set_custom("edge.hubs", ...):
 *
 *	edge = { hubs = ( { address = "192.0.2.2:25"; priority = 10; },
 *			  { address = "192.0.2.3:25"; priority = 20;
 *			    connection = "airlock-hub2"; child = "airlock-hub2"; } ); };
 *
 * address is the hub's inner address and port (numeric, IPv6 in brackets);
 * priority (0..65535, default 10) orders the hubs, lower preferred, ties in
 * list order; connection and child name the edge's IKE connection and
 * CHILD_SA towards that hub and default to tunnel.connection / tunnel.child
 * (filled in by forward_hubs_set_defaults()).
 */
#ifndef AIRLOCK_FORWARD_HUBS_H
#define AIRLOCK_FORWARD_HUBS_H

#include <stddef.h>
#include <sys/socket.h>

#define FORWARD_HUBS_MAX	     16
#define FORWARD_HUB_DEFAULT_PRIORITY 10

struct forward_hub {
	char address[64]; /* as configured: "192.0.2.2:25" */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int priority;
	char connection[256]; /* "" until forward_hubs_set_defaults() */
	char child[256];
};

struct forward_hubs {
	size_t n; /* 1..FORWARD_HUBS_MAX */
	struct forward_hub hub[FORWARD_HUBS_MAX];
};

/*
 * Builds the hub list from the setting edge.hubs (a list of groups). file
 * names the top-level configuration file for messages whose setting has no
 * source file. Returns the list (gets owned: forward_hubs_free()), or NULL
 * with one line "FILE:LINE: edge.hubs[I].KEY: what is wrong" in err: not a
 * list, empty, more than FORWARD_HUBS_MAX, an entry that is not a group, an
 * unknown key, a missing or malformed address, a duplicate address, a
 * priority out of range, an empty or too long connection/child.
 */
struct config_setting_t;
struct forward_hubs *forward_hubs_from_setting(const struct config_setting_t *list,
					       const char *file, char *err, size_t errlen);

/* Frees h. NULL is allowed. */
void forward_hubs_free(struct forward_hubs *h);

/* Fills every empty connection / child with these (tunnel.connection / tunnel.child). */
void forward_hubs_set_defaults(struct forward_hubs *h, const char *connection, const char *child);

#endif

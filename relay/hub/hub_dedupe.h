/*
 * The hub's memory of the transactions the internal MTA accepted, so that an
 * edge's retry of a message already delivered is answered 250 without a
 * second delivery. That retry happens when the edge never saw the hub's 250:
 * the SA went down between the internal MTA's 2xx and the edge, or the edge
 * gave up waiting; without this memory the recipient gets the message twice.
 *
 * A transaction is named by a BLAKE2b-128 digest of what its verified stamp
 * proves (the signing key, the edge's queue id, the body hash) and of its
 * envelope (the sender and the accepted recipients, in sorted order): the
 * edge's retry of one message to the same recipients has the same digest,
 * and nothing else does (queue ids are random and never reused). A retry to
 * some of the recipients only (the others were delivered) is a different
 * transaction and is delivered.
 *
 * Digests are remembered for window_s seconds, at most cap of them (the
 * oldest forgotten first), in memory only: a restart of the hub's smtp
 * process forgets them.
 */
#ifndef AIRLOCK_HUB_DEDUPE_H
#define AIRLOCK_HUB_DEDUPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/attest.h"

#define HUB_DEDUPE_DIGEST 16

struct hub_dedupe;

/* cap >= 1 digests for window_s >= 1 seconds; NULL when out of memory. */
struct hub_dedupe *hub_dedupe_new(size_t cap, int64_t window_s);
void hub_dedupe_free(struct hub_dedupe *d); /* NULL ok */

/*
 * The digest of a transaction: hub_dedupe_envelope() of its sender and
 * accepted recipients (in any order), then hub_dedupe_digest() of that and
 * its verified stamp.
 */
void hub_dedupe_envelope(const char *from, const char *const *rcpts, size_t nrcpts,
			 unsigned char out[HUB_DEDUPE_DIGEST]);
void hub_dedupe_digest(const struct attest_stamp *st,
		       const unsigned char envelope[HUB_DEDUPE_DIGEST],
		       unsigned char out[HUB_DEDUPE_DIGEST]);

/* Whether digest was added less than window_s seconds before now. */
bool hub_dedupe_seen(struct hub_dedupe *d, const unsigned char digest[HUB_DEDUPE_DIGEST],
		     int64_t now);

/* Remembers digest from now on (again, if it was already there). */
void hub_dedupe_add(struct hub_dedupe *d, const unsigned char digest[HUB_DEDUPE_DIGEST],
		    int64_t now);

/* Digests remembered now (expired ones may still count until the next add). */
size_t hub_dedupe_count(const struct hub_dedupe *d);

#endif

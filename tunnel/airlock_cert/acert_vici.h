/*
 * A blocking façade over the asynchronous VICI client for a one-shot tool:
 * each call runs the event loop until its reply (bounded by the client's
 * request timeout) and returns. Events of subscribed types (ike-updown,
 * child-updown) are queued as they arrive and handed out by
 * acert_vici_next_event().
 *
 * Errors are one line in err: transport failures ("list-sas: timed out")
 * and charon's own refusals ("load-key: <charon's errmsg>").
 */
#ifndef AIRLOCK_ACERT_VICI_H
#define AIRLOCK_ACERT_VICI_H

#include <stddef.h>

#include "tunnel/vici_msg.h"

struct acert_vici;

/*
 * Connects to uri (no reconnects) and waits for the connection, subscribed
 * to ike-updown and child-updown when events is set. Returns the session
 * (acert_vici_free()) or NULL with err.
 */
struct acert_vici *acert_vici_open(const char *uri, int timeout_ms, int events, char *err,
				   size_t errlen);

void acert_vici_free(struct acert_vici *v);

/*
 * Sends cmd with args (gets owned; NULL for none) and waits for the reply.
 * A reply with success=no is an error. On 0, *reply (may be NULL: not
 * wanted) gets owned by the caller (vici_node_free).
 */
int acert_vici_call(struct acert_vici *v, const char *cmd, struct vici_builder *args,
		    struct vici_node **reply, char *err, size_t errlen);

/*
 * A streamed command: every event named event is collected into *events
 * (array and nodes get owned by the caller: acert_vici_events_free()).
 */
int acert_vici_stream(struct acert_vici *v, const char *cmd, struct vici_builder *args,
		      const char *event, struct vici_node ***events, size_t *nevents, char *err,
		      size_t errlen);

void acert_vici_events_free(struct vici_node **events, size_t n);

/*
 * The next queued event, waiting up to timeout_ms. Returns 1 with *name
 * (static storage of the session, valid until the next call) and *ev (gets
 * owned), 0 on timeout, -1 when the connection is lost.
 */
int acert_vici_next_event(struct acert_vici *v, int timeout_ms, const char **name,
			  struct vici_node **ev);

/* Runs the loop for ms milliseconds (events keep queueing). */
void acert_vici_sleep(struct acert_vici *v, int ms);

#endif

/*
 * Asynchronous VICI client on libevent.
 *
 * A client talks to one charon over two unix-socket connections: one for
 * commands (one request in flight at a time, answered in order, streamed
 * commands such as list-sas included) and one for event subscriptions, so
 * that a long command never delays an event and vice versa.
 *
 * Every request has a timeout. A timeout, a protocol error or the loss of
 * either connection fails every pending request (its callback runs once with
 * the reason), and the client reconnects with exponential back-off; the
 * subscriptions are registered again on the new connection. Callers learn
 * about connection state through the state callback.
 */
#ifndef AIRLOCK_VICI_CLIENT_H
#define AIRLOCK_VICI_CLIENT_H

#include <event2/event.h>

#include "tunnel/vici_msg.h"

enum vici_status {
	VICI_OK = 0,	     /* charon answered; the reply may still say success=no */
	VICI_UNKNOWN_CMD,    /* charon does not know the command or event */
	VICI_TIMEOUT,	     /* no answer within the request timeout */
	VICI_DISCONNECTED,   /* the connection was lost or the client is stopping */
	VICI_PROTOCOL_ERROR, /* charon sent something we could not parse */
};

/* Text for a status, for logs and error messages. */
const char *vici_status_str(enum vici_status st);

/*
 * Called exactly once per accepted request. reply is the parsed CMD_RESPONSE
 * message when st is VICI_OK, NULL otherwise (internal data, valid during the
 * call only).
 */
typedef void (*vici_reply_cb)(enum vici_status st, const struct vici_node *reply, void *arg);

/* Called for each event of a streamed command, before its reply callback. */
typedef void (*vici_stream_cb)(const struct vici_node *event, void *arg);

/* Called for each event of a subscription. */
typedef void (*vici_event_cb)(const char *name, const struct vici_node *event, void *arg);

/*
 * Called when the client becomes connected (both connections up and every
 * subscription confirmed) or disconnected. err describes why it is not
 * connected (internal data), NULL when connected.
 */
typedef void (*vici_state_cb)(int connected, const char *err, void *arg);

struct vici_client;

/*
 * Creates a client for uri ("unix:///path"; a plain absolute path is accepted
 * too) on base. timeout_ms bounds every request, from the moment it is sent.
 * Does not connect yet. Returns NULL if the URI is not usable. If SIGPIPE is
 * still at its default action it is set to ignored, so that a write to a
 * connection charon closed fails that request instead of killing the process.
 * Callbacks may start the client again or queue requests, but must not free
 * it.
 */
struct vici_client *vici_client_new(struct event_base *base, const char *uri, int timeout_ms);

/* Frees the client; pending callbacks are not called. NULL is allowed. */
void vici_client_free(struct vici_client *c);

void vici_client_set_state_cb(struct vici_client *c, vici_state_cb cb, void *arg);

/*
 * Whether to reconnect after a loss (default yes). A one-shot tool turns it
 * off so that a dead charon ends the program instead of waiting for it.
 */
void vici_client_set_reconnect(struct vici_client *c, int reconnect);

/*
 * Connects both connections now. Returns 0 if the sockets connected (the
 * state callback still follows once subscriptions are confirmed), or -1 with
 * a message in vici_client_error() such as "cannot connect to
 * unix:///run/charon.vici: Permission denied"; with reconnect on, a retry is
 * already scheduled.
 */
int vici_client_start(struct vici_client *c);

/* 1 when both connections are up and subscriptions confirmed. */
int vici_client_connected(const struct vici_client *c);

/* The URI given at creation (internal data). */
const char *vici_client_uri(const struct vici_client *c);

/* The last connection error (internal data, "" if none). */
const char *vici_client_error(const struct vici_client *c);

/*
 * Sends command cmd with message args (gets owned; NULL for none). Returns 0
 * and the callback runs exactly once later, or -1 if the command connection
 * is not up or args could not be encoded (the callback never runs). Requests
 * may be sent before the subscriptions are confirmed.
 */
int vici_request(struct vici_client *c, const char *cmd, struct vici_builder *args,
		 vici_reply_cb cb, void *arg);

/*
 * A streamed command: registers event, sends cmd, hands each event to
 * stream_cb until the reply, then unregisters. Same return rules as
 * vici_request; reply_cb ends the stream.
 */
int vici_request_stream(struct vici_client *c, const char *cmd, struct vici_builder *args,
			const char *event, vici_stream_cb stream_cb, vici_reply_cb reply_cb,
			void *arg);

/*
 * Subscribes to event for the life of the client (registered again after
 * each reconnect). Call before vici_client_start. Returns 0, or -1 if too
 * many subscriptions.
 */
int vici_subscribe(struct vici_client *c, const char *event, vici_event_cb cb, void *arg);

#endif

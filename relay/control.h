/*
 * The daemon's control socket: JSON lines over a unix socket.
 *
 * A client writes one JSON object per line, {"cmd":"status", ...}, and reads
 * one JSON object per line back, in order. The daemon registers a table of
 * commands; a handler answers at once or later (after asking a child over
 * IPC) with control_reply_send().
 *
 * Errors a client can cause are answered, never fatal:
 *	malformed JSON		{"ok":false,"error":"malformed request: ..."}
 *	not an object		{"ok":false,"error":"request must be a JSON object"}
 *	no string "cmd"		{"ok":false,"error":"missing cmd"}
 *	unknown command		{"ok":false,"error":"unknown command"}
 * and the connection stays usable for the next line. A line longer than
 * CONTROL_MAX_LINE gets {"ok":false,"error":"request too long"} and the
 * connection is closed, since the rest of that line cannot be told apart
 * from the next request.
 *
 * One request per connection is handled at a time: while a reply is pending
 * the server reads no further lines, so replies keep the order of requests
 * and a client cannot pile up work.
 */
#ifndef AIRLOCK_CONTROL_H
#define AIRLOCK_CONTROL_H

#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/control_client.h"

/* Longest request line, without its newline. */
#define CONTROL_MAX_LINE (64 * 1024)
/* Connections served at once; more are closed at accept. */
#define CONTROL_MAX_CONNS 32

/* A pending answer to one request. */
struct control_reply;

/*
 * Handles one request. req is the parsed object (internal data, valid during
 * the call only; json_incref it to keep it). The handler must eventually
 * call control_reply_send (or control_reply_error) on r exactly once, now
 * or later; r stays valid until then even if the client goes away.
 */
typedef void (*control_handler_fn)(void *arg, json_t *req, struct control_reply *r);

struct control_command {
	const char *name; /* the "cmd" value */
	control_handler_fn handler;
	void *arg;
};

struct control_server;

/*
 * Listens on the unix socket path (mode 0660) on base, serving the commands
 * of cmds (ncmds rows; the table must outlive the server). A stale socket
 * left at path is removed; if another process is listening there, or path
 * exists and is not a socket, it refuses. If SIGPIPE is still at its
 * default action it is set to ignored, so that a client hanging up before
 * its reply costs only that connection. Returns NULL with a one-line reason
 * in err on failure (an environment error at start).
 */
struct control_server *control_server_new(struct event_base *base, const char *path,
					  const struct control_command *cmds, size_t ncmds,
					  char *err, size_t errlen);

/*
 * Closes every connection, stops listening and removes the socket (only if
 * it is still the one this server created). Pending replies stay valid and
 * are discarded when sent. NULL is allowed.
 */
void control_server_free(struct control_server *s);

/*
 * Sends obj (gets owned) as the reply line and frees r. If the client has
 * gone, obj is dropped. If obj cannot be encoded the client gets an error
 * reply instead.
 */
void control_reply_send(struct control_reply *r, json_t *obj);

/* Sends {"ok":false,"error":msg} and frees r. */
void control_reply_error(struct control_reply *r, const char *msg);

/*
 * Parses one request line (without its newline). Returns the request object
 * (the caller decrefs it) with *cmd pointing to its "cmd" string (internal
 * data of the object), or NULL with the error reply text in err. Exposed for
 * fuzzing.
 */
json_t *control_parse_request(const char *line, size_t len, const char **cmd, char *err,
			      size_t errlen);

#endif

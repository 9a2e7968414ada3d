/*
 * The blocking control-socket client used by tools (airlockctl): one JSON
 * request line out, one reply line in. It lives in common/ because the
 * tools sit below relay/ in the layering while the daemons' servers
 * (relay/control.c) sit above it.
 */
#ifndef AIRLOCK_CONTROL_CLIENT_H
#define AIRLOCK_CONTROL_CLIENT_H

#include <stddef.h>

#include <jansson.h>
#include <sys/un.h>

/*
 * Fills *sun for the unix socket path. Returns 0, or -1 with a one-line
 * reason in err when the path does not fit.
 */
int control_socket_addr(const char *path, struct sockaddr_un *sun, char *err, size_t errlen);

/* Longest reply line control_request() accepts. */
#define CONTROL_MAX_REPLY (16 * 1024 * 1024)

/*
 * Blocking client for tools: connects to path, sends req as one line, reads
 * one line and parses it. The whole exchange takes at most timeout_ms.
 * Returns the reply object (the caller decrefs it), or NULL with a one-line
 * reason in err, e.g. "control socket /run/airlock/edge.sock does not exist
 * (is the daemon running?)", "permission denied on control socket ...",
 * "no reply from ... within 2000 ms".
 */
json_t *control_request(const char *path, const json_t *req, int timeout_ms, char *err,
			size_t errlen);

#endif

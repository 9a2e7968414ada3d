/*
 * The edge's side of the automatic rotation path: one request to the hub's
 * `airlock-cert serve` through the tunnel (see acert_serve.c for the
 * exchange). The socket is bound to the edge's inner address, so the kernel
 * routes it into the SA; the hub only answers on its tunnel side.
 */
#include "tunnel/airlock_cert/acert_cmd.h"

#include "common/errmsg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY_MAX (64 * 1024)

static int fill(const char *text, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

int acert_request_via_hub(const struct acert_opts *o, const struct acert_conn *conn,
			  const char *text, size_t len, char **cert_out, char *err, size_t errlen)
{
	char local[64], hub[64];
	struct sockaddr_storage ls, hs;
	socklen_t llen, hlen;
	*cert_out = NULL;
	acert_ts_address(conn->local_ts, local, sizeof(local));
	acert_ts_address(conn->remote_ts, hub, sizeof(hub));
	if (fill(local, 0, &ls, &llen) != 0 || fill(hub, o->serve_port, &hs, &hlen) != 0 ||
	    ls.ss_family != hs.ss_family)
		return errmsg_set(err, errlen, "the connection's inner addresses are not usable");
	int fd = socket(hs.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errmsg_set(err, errlen, "socket: %s", strerror(errno));
	struct timeval tv = {o->timeout_s, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	char *reply = NULL;
	int rc = -1;
	if (bind(fd, (struct sockaddr *)&ls, llen) != 0 ||
	    connect(fd, (struct sockaddr *)&hs, hlen) != 0) {
		errmsg_set(err, errlen, "cannot reach the hub's signing service at %s:%d: %s", hub,
			   o->serve_port, strerror(errno));
		goto out;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			errmsg_set(err, errlen, "sending the request: %s", strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	reply = malloc(REPLY_MAX + 1);
	size_t got = 0;
	while (reply && got < REPLY_MAX) {
		ssize_t r = read(fd, reply + got, REPLY_MAX - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			errmsg_set(err, errlen, "reading the reply: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (!reply) {
		errmsg_set(err, errlen, "out of memory");
		goto out;
	}
	reply[got] = '\0';
	if (got >= 3 && memcmp(reply, "OK\n", 3) == 0 && !memchr(reply, '\0', got)) {
		*cert_out = strdup(reply + 3);
		rc = *cert_out ? 0 : errmsg_set(err, errlen, "out of memory");
	} else if (got > 4 && memcmp(reply, "ERR ", 4) == 0) {
		reply[strcspn(reply, "\n")] = '\0';
		for (char *p = reply; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				*p = '?';
		errmsg_set(err, errlen, "the hub refused: %.300s", reply + 4);
	} else {
		errmsg_set(err, errlen, "the hub's signing service gave no usable reply");
	}
out:
	free(reply);
	close(fd);
	return rc;
}

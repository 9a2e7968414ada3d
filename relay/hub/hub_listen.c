/*
 * The hub's kernel-gated listeners; see hub_listen.h.
 */
#include "relay/hub/hub_listen.h"

#include "common/netaddr.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>

int hub_listen_open(const char *addr, enum tunnel_backend backend, const char *device, char *err,
		    size_t errsz)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (netaddr_parse(addr, &ss, &len) < 0) {
		snprintf(err, errsz, "hub.listen: bad address %s", addr);
		errno = EINVAL;
		return -1;
	}
	return tunnel_socket_listen((struct sockaddr *)&ss, len, backend, device, err, errsz);
}

int hub_listen_accepted(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

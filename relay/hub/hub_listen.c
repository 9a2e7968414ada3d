/*
 * The hub's kernel-gated listeners; see hub_listen.h.
 */
#include "relay/hub/hub_listen.h"

#include "common/netaddr.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int hub_listen_open(const char *addr, enum tunnel_backend backend, const char *device, char *err,
		    size_t errsz)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char why[256];
	int one = 1, saved;

	if (netaddr_parse(addr, &ss, &len) < 0) {
		snprintf(err, errsz, "hub.listen: bad address %s", addr);
		errno = EINVAL;
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsz, "%s: socket: %s", addr, strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)) {
		saved = errno;
		snprintf(err, errsz, "%s: setsockopt: %s", addr, strerror(saved));
		goto fail;
	}
	/* The pin comes before bind() and listen(): nothing is accepted unpinned. */
	int rc;
	switch (backend) {
	case TUNNEL_BACKEND_XFRM:
		rc = tunnel_socket_xfrm_policy(fd, ss.ss_family, TUNNEL_SOCKET_IN, why,
					       sizeof(why));
		break;
	case TUNNEL_BACKEND_LIBIPSEC:
		rc = tunnel_socket_bind_device(fd, device, why, sizeof(why));
		break;
	default:
		snprintf(why, sizeof(why), "no tunnel backend to pin the listener with");
		errno = EINVAL;
		rc = -1;
		break;
	}
	if (rc < 0) {
		saved = errno;
		snprintf(err, errsz, "%s: %s", addr, why);
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
		saved = errno;
		snprintf(err, errsz, "cannot listen on %s: %s", addr, strerror(saved));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	errno = saved;
	return -1;
}

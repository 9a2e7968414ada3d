/*
 * Kernel pinning of sockets: per-socket XFRM policies, device binding, and
 * the backend charon runs. See tunnel_socket.h.
 */
#include "tunnel/tunnel_socket.h"
#include "common/errmsg.h"
#include "common/netaddr.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/xfrm.h>

/* The layout the kernel reads (xfrm_compile_policy): the policy, then its templates. */
struct policy_buf {
	struct xfrm_userpolicy_info info;
	struct xfrm_user_tmpl tmpl;
};

_Static_assert(sizeof(struct policy_buf) == TUNNEL_SOCKET_POLICY_LEN,
	       "xfrm_userpolicy_info + xfrm_user_tmpl is not the 232 bytes the kernel expects");
_Static_assert((int)TUNNEL_SOCKET_IN == (int)XFRM_POLICY_IN &&
		       (int)TUNNEL_SOCKET_OUT == (int)XFRM_POLICY_OUT,
	       "direction values differ from the kernel's");

/* Sets errno to e, writes nothing else; returns -1 for the callers' convenience. */
static int fail_errno(int e)
{
	errno = e;
	return -1;
}

int tunnel_socket_policy_build(int family, int dir, unsigned char *buf)
{
	struct policy_buf p;

	if ((family != AF_INET && family != AF_INET6) ||
	    (dir != TUNNEL_SOCKET_IN && dir != TUNNEL_SOCKET_OUT))
		return -1;
	memset(&p, 0, sizeof(p));
	/* An all-zero selector of the socket's family: every packet of this socket. */
	p.info.sel.family = (uint16_t)family;
	p.info.lft.soft_byte_limit = XFRM_INF;
	p.info.lft.hard_byte_limit = XFRM_INF;
	p.info.lft.soft_packet_limit = XFRM_INF;
	p.info.lft.hard_packet_limit = XFRM_INF;
	p.info.dir = (uint8_t)dir;
	p.info.action = XFRM_POLICY_ALLOW;
	p.info.share = XFRM_SHARE_ANY;
	/* One template: ESP in tunnel mode, from any SA (reqid 0), any algorithm. */
	p.tmpl.family = (uint16_t)family;
	p.tmpl.id.proto = IPPROTO_ESP;
	p.tmpl.mode = XFRM_MODE_TUNNEL;
	p.tmpl.optional = 0;
	p.tmpl.share = XFRM_SHARE_ANY;
	p.tmpl.aalgos = ~(uint32_t)0;
	p.tmpl.ealgos = ~(uint32_t)0;
	p.tmpl.calgos = ~(uint32_t)0;
	memcpy(buf, &p, sizeof(p));
	return 0;
}

/* Checks that fd is a socket of family, and for IPv6 that it is V6ONLY. */
static int check_socket(int fd, int family, char *err, size_t errsz)
{
	int domain = 0, v6only = 0;
	socklen_t len = sizeof(domain);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) {
		errmsg_set(err, errsz, "fd %d is not a socket: %s", fd, strerror(errno));
		return -1;
	}
	if (domain != family) {
		errmsg_set(err, errsz, "socket family %d does not match the policy family %d",
			   domain, family);
		return fail_errno(EINVAL);
	}
	if (family != AF_INET6)
		return 0;
	len = sizeof(v6only);
	if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) != 0) {
		errmsg_set(err, errsz, "getsockopt IPV6_V6ONLY: %s", strerror(errno));
		return -1;
	}
	if (!v6only) {
		errmsg_set(err, errsz,
			   "IPv6 socket is not IPV6_V6ONLY: IPv4 traffic on it would bypass the "
			   "policy");
		return fail_errno(EINVAL);
	}
	return 0;
}

int tunnel_socket_xfrm_policy(int fd, int family, int dir, char *err, size_t errsz)
{
	unsigned char buf[TUNNEL_SOCKET_POLICY_LEN];
	const char *opt_name = family == AF_INET6 ? "IPV6_XFRM_POLICY" : "IP_XFRM_POLICY";

	if (fd < 0) {
		errmsg_set(err, errsz, "bad socket %d", fd);
		return fail_errno(EBADF);
	}
	if (tunnel_socket_policy_build(family, dir, buf) != 0) {
		errmsg_set(err, errsz, "bad XFRM socket policy arguments (family %d, dir %d)",
			   family, dir);
		return fail_errno(EINVAL);
	}
	if (check_socket(fd, family, err, errsz) != 0)
		return -1;
	int rc = family == AF_INET6
			 ? setsockopt(fd, IPPROTO_IPV6, IPV6_XFRM_POLICY, buf, sizeof(buf))
			 : setsockopt(fd, IPPROTO_IP, IP_XFRM_POLICY, buf, sizeof(buf));
	if (rc == 0)
		return 0;
	switch (errno) {
	case EPERM:
	case EACCES:
		errmsg_set(err, errsz, "setsockopt %s: %s (needs CAP_NET_ADMIN)", opt_name,
			   strerror(errno));
		break;
	case EINVAL:
	case EOPNOTSUPP:
	case ENOPROTOOPT:
		errmsg_set(err, errsz, "setsockopt %s: %s (kernel without XFRM or xfrm_user?)",
			   opt_name, strerror(errno));
		break;
	default:
		errmsg_set(err, errsz, "setsockopt %s: %s", opt_name, strerror(errno));
		break;
	}
	return -1;
}

/* A name the kernel could hold as a device: 1..IFNAMSIZ-1 bytes, no '/', ':' or space. */
static bool ifname_ok(const char *ifname)
{
	size_t n = ifname ? strnlen(ifname, IFNAMSIZ) : 0;
	if (n == 0 || n >= IFNAMSIZ || strcmp(ifname, ".") == 0 || strcmp(ifname, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)ifname[i];
		if (c <= ' ' || c >= 0x7f || c == '/' || c == ':')
			return false;
	}
	return true;
}

int tunnel_socket_bind_device(int fd, const char *ifname, char *err, size_t errsz)
{
	if (fd < 0) {
		errmsg_set(err, errsz, "bad socket %d", fd);
		return fail_errno(EBADF);
	}
	if (!ifname_ok(ifname)) {
		errmsg_set(err, errsz, "bad device name for SO_BINDTODEVICE");
		return fail_errno(EINVAL);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) == 0)
		return 0;
	switch (errno) {
	case ENODEV:
		errmsg_set(err, errsz, "setsockopt SO_BINDTODEVICE %s: %s (is charon running?)",
			   ifname, strerror(errno));
		break;
	case EPERM:
	case EACCES:
		errmsg_set(err, errsz, "setsockopt SO_BINDTODEVICE %s: %s (needs CAP_NET_RAW)",
			   ifname, strerror(errno));
		break;
	default:
		errmsg_set(err, errsz, "setsockopt SO_BINDTODEVICE %s: %s", ifname,
			   strerror(errno));
		break;
	}
	return -1;
}

/* ---- backend ----------------------------------------------------------------- */

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62 /* Linux 5.7 */
#endif

int tunnel_socket_listen(const struct sockaddr *sa, socklen_t salen, enum tunnel_backend backend,
			 const char *device, char *err, size_t errsz)
{
	char addr[64], why[256];
	int one = 1, saved, rc;
	netaddr_format(sa, salen, addr, sizeof(addr));
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		saved = errno;
		errmsg_set(err, errsz, "%s: socket: %s", addr, strerror(saved));
		errno = saved;
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (sa->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)) {
		saved = errno;
		errmsg_set(err, errsz, "%s: setsockopt: %s", addr, strerror(saved));
		goto fail;
	}
	switch (backend) {
	case TUNNEL_BACKEND_XFRM:
		rc = tunnel_socket_xfrm_policy(fd, sa->sa_family, TUNNEL_SOCKET_IN, why,
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
		errmsg_set(err, errsz, "%s: %s", addr, why);
		goto fail;
	}
	if (bind(fd, sa, salen) < 0 || listen(fd, 1024) < 0) {
		saved = errno;
		errmsg_set(err, errsz, "cannot listen on %s: %s", addr, strerror(saved));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	errno = saved;
	return -1;
}

/* The interface index fd is bound to; 0 if none, or a kernel that cannot tell (before 5.7). */
static unsigned bound_index(int fd)
{
	int idx = 0;
	socklen_t len = sizeof(idx);
	if (getsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &idx, &len) != 0 || idx <= 0)
		return 0;
	return (unsigned)idx;
}

bool tunnel_socket_device_gone(int fd, const char *device)
{
	unsigned idx = bound_index(fd);
	return idx != 0 && idx != if_nametoindex(device);
}

unsigned tunnel_socket_bound_ifindex(int fd, const char *device)
{
	unsigned idx = bound_index(fd);
	return idx ? idx : if_nametoindex(device);
}

enum tunnel_backend tunnel_backend_detect(const struct vici_node *stats)
{
	const struct vici_node *list = stats ? vici_child(stats, "plugins") : NULL;
	bool libipsec = false, xfrm = false;

	if (!list || list->type != VICI_NODE_LIST)
		return TUNNEL_BACKEND_UNKNOWN;
	for (const struct vici_node *it = list->first; it; it = it->next) {
		const char *name = (const char *)it->value;
		/* A NUL inside the value makes the list untrustworthy as a whole. */
		if (it->type != VICI_NODE_VALUE || !name || strlen(name) != it->value_len)
			return TUNNEL_BACKEND_UNKNOWN;
		if (strcmp(name, "kernel-libipsec") == 0)
			libipsec = true;
		else if (strcmp(name, "kernel-netlink") == 0 || strcmp(name, "kernel-pfkey") == 0)
			xfrm = true;
	}
	if (libipsec)
		return TUNNEL_BACKEND_LIBIPSEC;
	return xfrm ? TUNNEL_BACKEND_XFRM : TUNNEL_BACKEND_UNKNOWN;
}

const char *tunnel_backend_name(enum tunnel_backend b)
{
	switch (b) {
	case TUNNEL_BACKEND_XFRM:
		return "xfrm";
	case TUNNEL_BACKEND_LIBIPSEC:
		return "libipsec";
	case TUNNEL_BACKEND_UNKNOWN:
		break;
	}
	return "unknown";
}

int tunnel_backend_parse(const char *text, enum tunnel_backend *out)
{
	if (text && strcmp(text, "xfrm") == 0)
		*out = TUNNEL_BACKEND_XFRM;
	else if (text && strcmp(text, "libipsec") == 0)
		*out = TUNNEL_BACKEND_LIBIPSEC;
	else
		return -1;
	return 0;
}

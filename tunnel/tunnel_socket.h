/*
 * Kernel pinning of sockets to the IPsec tunnel, the first half of the
 * tunnel-only rule (DESIGN.md): whatever the firewall or the routes say, a
 * pinned socket does not talk in clear text.
 *
 * Two mechanisms, one per charon kernel backend (shared notes on strongSwan,
 * "The two gate mechanisms"):
 *  - kernel XFRM (kernel-netlink): a per-socket XFRM policy requiring ESP in
 *    tunnel mode. On a listener (dir IN) the kernel drops clear-text SYNs
 *    and counts them as XfrmInTmplMismatch in /proc/net/xfrm_stat; accepted
 *    sockets inherit the policy. On a client socket (dir OUT) the kernel
 *    cannot send without an SA. Needs CAP_NET_ADMIN; works even on a kernel
 *    without ESP (nothing then passes, which is the point on the IN side).
 *  - kernel-libipsec: packets come out of the TUN device (ipsec0) and carry
 *    no XFRM state, so a socket policy would drop them all; instead the
 *    socket is bound to the TUN device (SO_BINDTODEVICE).
 *
 * Which backend charon runs is read from its VICI "stats" reply
 * (tunnel_backend_detect), so "auto" in the configuration can choose.
 *
 * Errors are written into a caller's buffer as one line (no CR/LF) that
 * names the option, the errno text and, where it helps, the likely cause.
 */
#ifndef AIRLOCK_TUNNEL_SOCKET_H
#define AIRLOCK_TUNNEL_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "tunnel/vici_msg.h"

/* Direction of a socket policy (the values of XFRM_POLICY_IN / _OUT). */
enum tunnel_socket_dir {
	TUNNEL_SOCKET_IN = 0,  /* what the socket receives: listeners, accepted sockets */
	TUNNEL_SOCKET_OUT = 1, /* what the socket sends: client sockets */
};

/* The bytes handed to the kernel: one xfrm_userpolicy_info and one xfrm_user_tmpl. */
#define TUNNEL_SOCKET_POLICY_LEN 232

/*
 * Builds the policy buffer tunnel_socket_xfrm_policy() installs: action
 * ALLOW, share ANY, selector of family (all addresses, ports, protocols),
 * lifetimes all XFRM_INF, priority 0, one template (id.proto ESP, family,
 * mode TUNNEL, optional 0, reqid 0 = any SA, any addresses and SPI, all
 * algorithms). buf must hold TUNNEL_SOCKET_POLICY_LEN bytes. Returns 0, or
 * -1 if family is not AF_INET / AF_INET6 or dir is not IN / OUT. Exposed so
 * tests can check the bytes without privileges.
 */
int tunnel_socket_policy_build(int family, int dir, unsigned char *buf);

/*
 * Installs a per-socket XFRM policy requiring ESP in tunnel mode for dir on
 * fd (IP_XFRM_POLICY for AF_INET, IPV6_XFRM_POLICY for AF_INET6). family must
 * be the socket's own (checked with SO_DOMAIN); an AF_INET6 socket must be
 * IPV6_V6ONLY, because IPv4 traffic on a dual-stack socket would fall back to
 * the global policy database instead of this one. Set it on a listener
 * before listen() so no connection is accepted unpinned. Returns 0, or -1
 * with errno set and a one-line reason in err (errsz bytes, may be NULL /
 * 0): EINVAL for bad arguments or a family mismatch, EPERM without
 * CAP_NET_ADMIN, other errno values as the kernel gave them.
 */
int tunnel_socket_xfrm_policy(int fd, int family, int dir, char *err, size_t errsz);

/*
 * Binds fd to the network device ifname (SO_BINDTODEVICE), e.g. the
 * kernel-libipsec TUN device "ipsec0": the socket then only receives what
 * arrived on that device and only sends through it. ifname must be 1 to
 * IFNAMSIZ - 1 bytes without '/', ':' or white space. Rebinding a bound
 * socket needs CAP_NET_RAW. Returns 0, or -1 with errno set and a one-line
 * reason in err: EINVAL for a bad name, ENODEV when the device does not
 * exist (yet: charon creates ipsec0 when it starts), EPERM.
 */
int tunnel_socket_bind_device(int fd, const char *ifname, char *err, size_t errsz);

/* charon's kernel backend for IPsec SAs. */
enum tunnel_backend {
	TUNNEL_BACKEND_UNKNOWN = 0, /* cannot tell: refuse to guess */
	TUNNEL_BACKEND_XFRM,	    /* kernel-netlink or kernel-pfkey: the kernel's XFRM */
	TUNNEL_BACKEND_LIBIPSEC,    /* kernel-libipsec: ESP in user space, a TUN device */
};

/*
 * A listening TCP socket on sa, pinned to the tunnel before listen() so
 * that no connection is ever accepted unpinned: backend XFRM, an IN policy
 * (tunnel_socket_xfrm_policy); LIBIPSEC, bound to the TUN device
 * (tunnel_socket_bind_device). SO_REUSEADDR; an IPv6 socket is V6ONLY.
 * Returns the non-blocking fd, or -1 with errno set (ENODEV: the device
 * does not exist yet) and a one-line reason naming the address in err.
 */
int tunnel_socket_listen(const struct sockaddr *sa, socklen_t salen, enum tunnel_backend backend,
			 const char *device, char *err, size_t errsz);

/*
 * The interface index a socket is bound to (SO_BINDTOIFINDEX); where the
 * kernel cannot tell, device's index now (for a socket just bound to it by
 * name). A listener bound to the kernel-libipsec TUN device keeps the index
 * of the device it was bound to: when charon restarts and creates the device
 * anew under another index, it hears nothing any more and has to be opened
 * again (tunnel_socket_device_gone()); for logs.
 */
unsigned tunnel_socket_bound_ifindex(int fd, const char *device);

/*
 * True when fd is bound to an interface index that is not device's index
 * now: the device is gone, or charon created it anew (kernel-libipsec), and
 * nothing reaches the socket any more. False for a socket not bound to a
 * device (kernel XFRM) and where the kernel cannot tell (before 5.7).
 */
bool tunnel_socket_device_gone(int fd, const char *device);

/*
 * Reads the backend from a parsed VICI "stats" reply (internal data of the
 * caller; nothing is kept): its root "plugins" list names every loaded
 * plugin. kernel-libipsec loaded means LIBIPSEC (charon only loads it to use
 * it, and it registers before kernel-netlink, which still handles routes and
 * addresses); otherwise kernel-netlink or kernel-pfkey means XFRM. No list,
 * a list with a non-text item, or neither plugin gives UNKNOWN. stats may be
 * NULL (UNKNOWN).
 */
enum tunnel_backend tunnel_backend_detect(const struct vici_node *stats);

/* "unknown", "xfrm", "libipsec". */
const char *tunnel_backend_name(enum tunnel_backend b);

/*
 * Parses a configured backend name: "xfrm" or "libipsec" (not "auto", which
 * the caller resolves with tunnel_backend_detect). Returns 0, or -1.
 */
int tunnel_backend_parse(const char *text, enum tunnel_backend *out);

#endif

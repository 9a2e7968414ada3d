/*
 * The hub's kernel-gated listeners (DESIGN.md, "The tunnel-only rule", step
 * 1): each socket is pinned to the tunnel before listen(), so that no
 * connection is ever accepted unpinned.
 *  - kernel XFRM: a per-socket IN policy requiring ESP (clear-text SYNs are
 *    dropped by the kernel and counted as XfrmInTmplMismatch);
 *  - kernel-libipsec: SO_BINDTODEVICE to the TUN device.
 */
#ifndef AIRLOCK_HUB_LISTEN_H
#define AIRLOCK_HUB_LISTEN_H

#include <stddef.h>

#include "tunnel/tunnel_socket.h"

/*
 * Opens a listening TCP socket on addr ("192.0.2.2:25", "[2001:db8::2]:25";
 * an IPv6 socket is V6ONLY) pinned for backend (XFRM or LIBIPSEC; device is
 * the TUN device for LIBIPSEC). Returns the non-blocking fd, or -1 with errno
 * set (ENODEV: the device does not exist yet) and a one-line reason in err.
 */
int hub_listen_open(const char *addr, enum tunnel_backend backend, const char *device, char *err,
		    size_t errsz);

#endif

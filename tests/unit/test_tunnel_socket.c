/*
 * Kernel pinning of sockets, as far as it runs without privileges: the exact
 * policy bytes handed to the kernel, argument checks, the errors an
 * unprivileged process gets (checked in a child that drops to "nobody" when
 * the test runs as root), pinned listeners (their errors, and as root one
 * bound to lo that accepts a connection), and the backend read from a VICI
 * stats reply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/xfrm.h>

#include <cmocka.h>

#include "tunnel/tunnel_socket.h"
#include "tunnel/vici_msg.h"

/* ---- the policy bytes ------------------------------------------------------------ */

static void test_policy_bytes(void **state)
{
	(void)state;
	unsigned char buf[TUNNEL_SOCKET_POLICY_LEN];
	struct xfrm_userpolicy_info info;
	struct xfrm_user_tmpl tmpl;
	const unsigned char zero[16] = {0};

	assert_int_equal(sizeof(info) + sizeof(tmpl), 232);
	for (int family = AF_INET; family <= AF_INET6; family += AF_INET6 - AF_INET) {
		for (int dir = TUNNEL_SOCKET_IN; dir <= TUNNEL_SOCKET_OUT; dir++) {
			memset(buf, 0x5a, sizeof(buf));
			assert_int_equal(tunnel_socket_policy_build(family, dir, buf), 0);
			memcpy(&info, buf, sizeof(info));
			memcpy(&tmpl, buf + sizeof(info), sizeof(tmpl));
			assert_int_equal(info.sel.family, family);
			assert_int_equal(info.sel.prefixlen_d, 0);
			assert_int_equal(info.sel.prefixlen_s, 0);
			assert_int_equal(info.sel.proto, 0);
			assert_memory_equal(&info.sel.daddr, zero, 16);
			assert_int_equal(info.dir, dir);
			assert_int_equal(info.action, XFRM_POLICY_ALLOW);
			assert_int_equal(info.share, XFRM_SHARE_ANY);
			assert_int_equal(info.index, 0);
			assert_int_equal(info.priority, 0);
			assert_true(info.lft.soft_byte_limit == XFRM_INF);
			assert_true(info.lft.hard_byte_limit == XFRM_INF);
			assert_true(info.lft.soft_packet_limit == XFRM_INF);
			assert_true(info.lft.hard_packet_limit == XFRM_INF);
			assert_int_equal(info.lft.hard_add_expires_seconds, 0);
			assert_int_equal(tmpl.family, family);
			assert_int_equal(tmpl.id.proto, IPPROTO_ESP);
			assert_int_equal(tmpl.id.spi, 0);
			assert_int_equal(tmpl.mode, XFRM_MODE_TUNNEL);
			assert_int_equal(tmpl.optional, 0);
			assert_int_equal(tmpl.reqid, 0);
			assert_true(tmpl.aalgos == 0xffffffffu);
			assert_true(tmpl.ealgos == 0xffffffffu);
			assert_true(tmpl.calgos == 0xffffffffu);
			assert_memory_equal(&tmpl.saddr, zero, 16);
		}
	}
	assert_int_equal(tunnel_socket_policy_build(AF_UNIX, TUNNEL_SOCKET_IN, buf), -1);
	assert_int_equal(tunnel_socket_policy_build(AF_INET, 2, buf), -1);
	assert_int_equal(tunnel_socket_policy_build(AF_INET, -1, buf), -1);
}

/* ---- argument checks ------------------------------------------------------------ */

static void expect_fail(int rc, int want_errno, const char *err, const char *want)
{
	assert_int_equal(rc, -1);
	assert_int_equal(errno, want_errno);
	assert_string_equal(err, want);
}

static void test_policy_arguments(void **state)
{
	(void)state;
	char err[160];
	int s4 = socket(AF_INET, SOCK_STREAM, 0);
	int s6 = socket(AF_INET6, SOCK_STREAM, 0);
	int p[2];
	assert_true(s4 >= 0);
	assert_int_equal(pipe(p), 0);

	expect_fail(tunnel_socket_xfrm_policy(-1, AF_INET, TUNNEL_SOCKET_IN, err, sizeof(err)),
		    EBADF, err, "bad socket -1");
	expect_fail(tunnel_socket_xfrm_policy(s4, AF_INET, 7, err, sizeof(err)), EINVAL, err,
		    "bad XFRM socket policy arguments (family 2, dir 7)");
	expect_fail(tunnel_socket_xfrm_policy(s4, AF_UNIX, TUNNEL_SOCKET_IN, err, sizeof(err)),
		    EINVAL, err, "bad XFRM socket policy arguments (family 1, dir 0)");
	expect_fail(tunnel_socket_xfrm_policy(s4, AF_INET6, TUNNEL_SOCKET_IN, err, sizeof(err)),
		    EINVAL, err, "socket family 2 does not match the policy family 10");
	snprintf(err, sizeof(err), "fd %d is not a socket: %s", p[0], strerror(ENOTSOCK));
	char want[160];
	memcpy(want, err, sizeof(want));
	expect_fail(tunnel_socket_xfrm_policy(p[0], AF_INET, TUNNEL_SOCKET_IN, err, sizeof(err)),
		    ENOTSOCK, err, want);
	if (s6 >= 0) {
		int off = 0;
		assert_int_equal(setsockopt(s6, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
		expect_fail(
			tunnel_socket_xfrm_policy(s6, AF_INET6, TUNNEL_SOCKET_IN, err, sizeof(err)),
			EINVAL, err,
			"IPv6 socket is not IPV6_V6ONLY: IPv4 traffic on it would bypass the "
			"policy");
		close(s6);
	}
	/* No error buffer is fine, and a short one is cut, not overrun. */
	expect_fail(tunnel_socket_xfrm_policy(-1, AF_INET, TUNNEL_SOCKET_IN, NULL, 0), EBADF, "",
		    "");
	char tiny[5] = "xxxx";
	expect_fail(tunnel_socket_xfrm_policy(-1, AF_INET, TUNNEL_SOCKET_IN, tiny, 4), EBADF, tiny,
		    "bad");
	close(s4);
	close(p[0]);
	close(p[1]);
}

static void test_bind_arguments(void **state)
{
	(void)state;
	char err[160];
	int s = socket(AF_INET, SOCK_STREAM, 0);
	const char *bad[] = {"", "sixteen-chars-xx", "a/b", "a b", "ipsec0:1", "..", "a\tb"};
	assert_true(s >= 0);

	expect_fail(tunnel_socket_bind_device(-1, "ipsec0", err, sizeof(err)), EBADF, err,
		    "bad socket -1");
	expect_fail(tunnel_socket_bind_device(s, NULL, err, sizeof(err)), EINVAL, err,
		    "bad device name for SO_BINDTODEVICE");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_fail(tunnel_socket_bind_device(s, bad[i], err, sizeof(err)), EINVAL, err,
			    "bad device name for SO_BINDTODEVICE");
	expect_fail(tunnel_socket_bind_device(s, "al-nodev0", err, sizeof(err)), ENODEV, err,
		    "setsockopt SO_BINDTODEVICE al-nodev0: No such device (is charon running?)");
	close(s);
}

/* ---- unprivileged errors ------------------------------------------------------ */

/*
 * Runs fn in a child without privileges (as "nobody" if we are root) and
 * returns what it wrote to the pipe; the child's exit status must be 0.
 */
static void unprivileged(void (*fn)(int out), char *text, size_t textsz)
{
	int p[2];
	int status;
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(2);
		fn(p[1]);
		_exit(0);
	}
	close(p[1]);
	ssize_t n = read(p[0], text, textsz - 1);
	text[n > 0 ? n : 0] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void xfrm_as_nobody(int out)
{
	char err[160];
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int rc = tunnel_socket_xfrm_policy(s, AF_INET, TUNNEL_SOCKET_IN, err, sizeof(err));
	dprintf(out, "%d %d %s", rc, rc ? errno : 0, rc ? err : "");
}

static void test_policy_needs_cap(void **state)
{
	(void)state;
	char text[256], want[256];
	unprivileged(xfrm_as_nobody, text, sizeof(text));
	snprintf(want, sizeof(want), "-1 %d setsockopt IP_XFRM_POLICY: %s (needs CAP_NET_ADMIN)",
		 EPERM, strerror(EPERM));
	assert_string_equal(text, want);
}

static void bind_as_nobody(int out)
{
	char err[160];
	int s = socket(AF_INET, SOCK_STREAM, 0);
	/* A first binding needs no privilege; rebinding does (CAP_NET_RAW). */
	int first = tunnel_socket_bind_device(s, "lo", err, sizeof(err));
	int rc = tunnel_socket_bind_device(s, "lo", err, sizeof(err));
	dprintf(out, "%d %d %d %s", first, rc, rc ? errno : 0, rc ? err : "");
}

static void test_bind_rebind_needs_cap(void **state)
{
	(void)state;
	char text[256], want[256];
	unprivileged(bind_as_nobody, text, sizeof(text));
	snprintf(want, sizeof(want),
		 "0 -1 %d setsockopt SO_BINDTODEVICE lo: %s (needs CAP_NET_RAW)", EPERM,
		 strerror(EPERM));
	assert_string_equal(text, want);
}

/* With CAP_NET_ADMIN (a root run) the kernel takes the policy for both families. */
static void test_policy_accepted_by_kernel(void **state)
{
	(void)state;
	char err[160] = "";
	if (geteuid() != 0)
		skip();
	int s4 = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(tunnel_socket_xfrm_policy(s4, AF_INET, TUNNEL_SOCKET_IN, err, sizeof(err)),
			 0);
	assert_int_equal(
		tunnel_socket_xfrm_policy(s4, AF_INET, TUNNEL_SOCKET_OUT, err, sizeof(err)), 0);
	close(s4);
	int s6 = socket(AF_INET6, SOCK_STREAM, 0);
	if (s6 >= 0) {
		int on = 1;
		assert_int_equal(setsockopt(s6, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)), 0);
		assert_int_equal(
			tunnel_socket_xfrm_policy(s6, AF_INET6, TUNNEL_SOCKET_IN, err, sizeof(err)),
			0);
		close(s6);
	}
	assert_string_equal(err, "");
}

/* ---- pinned listeners ------------------------------------------------------------ */

static socklen_t loopback(struct sockaddr_in *sin, uint16_t port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*sin);
}

static void test_listen(void **state)
{
	(void)state;
	char err[200];
	struct sockaddr_in sin;
	socklen_t len = loopback(&sin, 0);
	errno = 0;
	assert_int_equal(tunnel_socket_listen((struct sockaddr *)&sin, len, TUNNEL_BACKEND_UNKNOWN,
					      NULL, err, sizeof(err)),
			 -1);
	assert_int_equal(errno, EINVAL);
	assert_string_equal(err, "127.0.0.1:0: no tunnel backend to pin the listener with");
	errno = 0;
	assert_int_equal(tunnel_socket_listen((struct sockaddr *)&sin, len, TUNNEL_BACKEND_LIBIPSEC,
					      "al-nodev0", err, sizeof(err)),
			 -1);
	assert_int_equal(errno, ENODEV);
	assert_string_equal(err, "127.0.0.1:0: setsockopt SO_BINDTODEVICE al-nodev0: No such "
				 "device (is charon running?)");
	if (geteuid() != 0)
		skip();
	/* Bound to lo: listening, non-blocking, its index known, and it accepts from lo. */
	int fd = tunnel_socket_listen((struct sockaddr *)&sin, len, TUNNEL_BACKEND_LIBIPSEC, "lo",
				      err, sizeof(err));
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	int on = 0;
	socklen_t olen = sizeof(on);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen), 0);
	assert_int_equal(on, 1);
	assert_int_equal(tunnel_socket_bound_ifindex(fd, "lo"), if_nametoindex("lo"));
	assert_false(tunnel_socket_device_gone(fd, "lo"));
	assert_true(tunnel_socket_device_gone(fd, "al-nodev0")); /* bound, but not to that one */
	struct sockaddr_in bound;
	socklen_t blen = sizeof(bound);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&bound, &blen), 0);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	assert_false(tunnel_socket_device_gone(c, "lo")); /* not bound to a device: never gone */
	assert_int_equal(connect(c, (struct sockaddr *)&bound, blen), 0);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	int a = accept(fd, NULL, NULL);
	assert_true(a >= 0);
	close(a);
	close(c);
	/* A second listener on the same address and device: the reason names both. */
	char want[120];
	snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%u: Address already in use",
		 (unsigned)ntohs(bound.sin_port));
	assert_int_equal(tunnel_socket_listen((struct sockaddr *)&bound, blen,
					      TUNNEL_BACKEND_LIBIPSEC, "lo", err, sizeof(err)),
			 -1);
	assert_int_equal(errno, EADDRINUSE);
	assert_string_equal(err, want);
	close(fd);
	/* XFRM on IPv6: V6ONLY, as the IN policy requires. */
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int fd6 = tunnel_socket_listen((struct sockaddr *)&sin6, sizeof(sin6), TUNNEL_BACKEND_XFRM,
				       NULL, err, sizeof(err));
	if (fd6 >= 0) { /* a machine without IPv6 has no ::1 */
		olen = sizeof(on);
		assert_int_equal(getsockopt(fd6, IPPROTO_IPV6, IPV6_V6ONLY, &on, &olen), 0);
		assert_int_equal(on, 1);
		close(fd6);
	}
}

/* ---- backend detection ------------------------------------------------------------ */

static struct vici_node *parse_built(struct vici_builder *b)
{
	const uint8_t *data;
	size_t len;
	struct vici_node *root;
	assert_int_equal(vici_builder_finish(b, &data, &len), 0);
	assert_int_equal(vici_msg_parse(data, len, &root, NULL), 0);
	vici_builder_free(b);
	return root;
}

/* A stats reply shaped like charon's (vici_query.c stats), with the given plugin list. */
static struct vici_node *stats_with(const char *const *plugins, size_t n)
{
	struct vici_builder *b = vici_builder_new();
	vici_begin_section(b, "uptime");
	vici_add_kv(b, "running", "5 minutes");
	vici_add_kv(b, "since", "Mar 01 10:00:00 2025");
	vici_end_section(b);
	vici_begin_section(b, "workers");
	vici_add_kv(b, "total", "16");
	vici_add_kv(b, "idle", "11");
	vici_end_section(b);
	vici_add_kv(b, "scheduled", "3");
	vici_begin_section(b, "ikesas");
	vici_add_kv(b, "total", "1");
	vici_add_kv(b, "half-open", "0");
	vici_end_section(b);
	vici_begin_list(b, "plugins");
	for (size_t i = 0; i < n; i++)
		vici_add_list_item(b, plugins[i]);
	vici_end_list(b);
	return parse_built(b);
}

static void expect_backend(const char *const *plugins, size_t n, enum tunnel_backend want)
{
	struct vici_node *m = stats_with(plugins, n);
	assert_int_equal(tunnel_backend_detect(m), want);
	vici_node_free(m);
}

static void test_backend_detect(void **state)
{
	(void)state;
	const char *libipsec[] = {"charon",	    "random",	      "x509", "kernel-libipsec",
				  "kernel-netlink", "socket-default", "vici"};
	const char *netlink[] = {"charon", "random", "kernel-netlink", "socket-default", "vici"};
	const char *pfkey[] = {"kernel-pfkey", "vici"};
	const char *none[] = {"charon", "vici", "kernel-libipsecx", "kernel-netlink2"};

	expect_backend(libipsec, 7, TUNNEL_BACKEND_LIBIPSEC);
	expect_backend(libipsec + 3, 1, TUNNEL_BACKEND_LIBIPSEC);
	expect_backend(netlink, 5, TUNNEL_BACKEND_XFRM);
	expect_backend(pfkey, 2, TUNNEL_BACKEND_XFRM);
	expect_backend(none, 4, TUNNEL_BACKEND_UNKNOWN);
	expect_backend(none, 0, TUNNEL_BACKEND_UNKNOWN);
	assert_int_equal(tunnel_backend_detect(NULL), TUNNEL_BACKEND_UNKNOWN);

	/* "plugins" as a key/value, or inside a section: not charon's shape. */
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "plugins", "kernel-netlink");
	struct vici_node *m = parse_built(b);
	assert_int_equal(tunnel_backend_detect(m), TUNNEL_BACKEND_UNKNOWN);
	vici_node_free(m);
	b = vici_builder_new();
	vici_begin_section(b, "mem");
	vici_begin_list(b, "plugins");
	vici_add_list_item(b, "kernel-netlink");
	vici_end_list(b);
	vici_end_section(b);
	m = parse_built(b);
	assert_int_equal(tunnel_backend_detect(m), TUNNEL_BACKEND_UNKNOWN);
	vici_node_free(m);

	/* An item with a NUL makes the whole list untrustworthy. */
	b = vici_builder_new();
	vici_begin_list(b, "plugins");
	vici_add_list_item(b, "kernel-netlink");
	vici_add_list_item_bin(b, "kernel-libipsec\0evil", 20);
	vici_end_list(b);
	m = parse_built(b);
	assert_int_equal(tunnel_backend_detect(m), TUNNEL_BACKEND_UNKNOWN);
	vici_node_free(m);
}

static void test_backend_names(void **state)
{
	(void)state;
	enum tunnel_backend b = TUNNEL_BACKEND_UNKNOWN;
	assert_string_equal(tunnel_backend_name(TUNNEL_BACKEND_XFRM), "xfrm");
	assert_string_equal(tunnel_backend_name(TUNNEL_BACKEND_LIBIPSEC), "libipsec");
	assert_string_equal(tunnel_backend_name(TUNNEL_BACKEND_UNKNOWN), "unknown");
	assert_int_equal(tunnel_backend_parse("xfrm", &b), 0);
	assert_int_equal(b, TUNNEL_BACKEND_XFRM);
	assert_int_equal(tunnel_backend_parse("libipsec", &b), 0);
	assert_int_equal(b, TUNNEL_BACKEND_LIBIPSEC);
	assert_int_equal(tunnel_backend_parse("auto", &b), -1);
	assert_int_equal(tunnel_backend_parse("XFRM", &b), -1);
	assert_int_equal(tunnel_backend_parse(NULL, &b), -1);
	assert_int_equal(b, TUNNEL_BACKEND_LIBIPSEC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_bytes),
		cmocka_unit_test(test_policy_arguments),
		cmocka_unit_test(test_bind_arguments),
		cmocka_unit_test(test_policy_needs_cap),
		cmocka_unit_test(test_bind_rebind_needs_cap),
		cmocka_unit_test(test_policy_accepted_by_kernel),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_backend_detect),
		cmocka_unit_test(test_backend_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * hub_listen_accepted(): an accepted connection leaves with TCP_NODELAY set
 * (the hub's pipelined replies must not wait for the edge's delayed ACK), on
 * a loopback connection; and it fails cleanly on something that is not a TCP
 * socket. hub_listen_open() itself needs the tunnel (scenario hub_gate).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "relay/hub/hub_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int nodelay(int fd)
{
	int v = -1;
	socklen_t len = sizeof(v);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	return v;
}

static void test_accepted_gets_nodelay(void **state)
{
	(void)state;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sin, &len), 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	int a = accept(ls, NULL, NULL);
	assert_true(a >= 0);

	assert_int_equal(nodelay(a), 0); /* the kernel's default: Nagle on */
	assert_int_equal(hub_listen_accepted(a), 0);
	assert_int_not_equal(nodelay(a), 0);
	/* Only the hub's side is changed. */
	assert_int_equal(nodelay(c), 0);

	close(a);
	close(c);
	close(ls);
}

static void test_not_a_tcp_socket(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	errno = 0;
	assert_int_equal(hub_listen_accepted(sv[0]), -1);
	assert_int_not_equal(errno, 0);
	close(sv[0]);
	close(sv[1]);
	errno = 0;
	assert_int_equal(hub_listen_accepted(-1), -1);
	assert_int_equal(errno, EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_gets_nodelay),
		cmocka_unit_test(test_not_a_tcp_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * xfrm_listen: a TCP listener pinned to the tunnel the way airlock-hub pins
 * its own, for scenario tests on the testbed (tests/scenario/gate_xfrm.sh).
 *
 *   xfrm_listen --xfrm ADDR:PORT [SECONDS]        per-socket IN policy requiring ESP
 *   xfrm_listen --device IFNAME ADDR:PORT [SECONDS] SO_BINDTODEVICE
 *   xfrm_listen --plain ADDR:PORT [SECONDS]       no pinning (the control case)
 *
 * Prints "listening ADDR:PORT" once the socket listens, then for every
 * connection it accepts prints "accepted PEER" (the peer's address without
 * the port), sends the same line followed by CRLF to the peer and closes.
 * Exits 0 after SECONDS (default 60), or 1 with a one-line error on stderr
 * when the socket cannot be set up.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/netaddr.h"
#include "tunnel/tunnel_socket.h"

static void usage(void)
{
	fprintf(stderr, "usage: xfrm_listen (--xfrm | --device IFNAME | --plain) ADDR:PORT "
			"[SECONDS]\n");
	exit(2);
}

static void on_alarm(int sig)
{
	(void)sig;
	_exit(0);
}

/* Creates, pins, binds and listens; exits 1 with a message on any failure. */
static int open_listener(const char *mode, const char *ifname, const struct sockaddr_storage *ss,
			 socklen_t len)
{
	char err[256];
	int one = 1;
	int fd = socket(ss->ss_family, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("xfrm_listen: socket");
		exit(1);
	}
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) {
		perror("xfrm_listen: IPV6_V6ONLY");
		exit(1);
	}
	int rc = 0;
	if (strcmp(mode, "--xfrm") == 0)
		rc = tunnel_socket_xfrm_policy(fd, ss->ss_family, TUNNEL_SOCKET_IN, err,
					       sizeof(err));
	else if (strcmp(mode, "--device") == 0)
		rc = tunnel_socket_bind_device(fd, ifname, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "xfrm_listen: %s\n", err);
		exit(1);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, 16) != 0) {
		perror("xfrm_listen: bind/listen");
		exit(1);
	}
	return fd;
}

/* The peer's address as text, without the port. */
static const char *peer_text(const struct sockaddr_storage *ss, char *out, size_t outsz)
{
	const void *addr = ss->ss_family == AF_INET6
				   ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
				   : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	if (!inet_ntop(ss->ss_family, addr, out, (socklen_t)outsz))
		snprintf(out, outsz, "unknown");
	return out;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	const char *ifname = NULL;
	int i = 1;

	if (argc < 3)
		usage();
	const char *mode = argv[i++];
	if (strcmp(mode, "--device") == 0) {
		ifname = argv[i++];
	} else if (strcmp(mode, "--xfrm") != 0 && strcmp(mode, "--plain") != 0) {
		usage();
	}
	if (i >= argc || netaddr_parse(argv[i], &ss, &len) != 0)
		usage();
	const char *where = argv[i++];
	unsigned seconds = i < argc ? (unsigned)strtoul(argv[i], NULL, 10) : 60;

	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	alarm(seconds ? seconds : 60);
	int fd = open_listener(mode, ifname, &ss, len);
	printf("listening %s\n", where);
	fflush(stdout);
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		char text[INET6_ADDRSTRLEN], line[INET6_ADDRSTRLEN + 16];
		int c = accept(fd, (struct sockaddr *)&peer, &plen);
		if (c < 0)
			continue;
		snprintf(line, sizeof(line), "accepted %s", peer_text(&peer, text, sizeof(text)));
		printf("%s\n", line);
		fflush(stdout);
		dprintf(c, "%s\r\n", line);
		close(c);
	}
}

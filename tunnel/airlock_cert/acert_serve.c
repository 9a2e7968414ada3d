/*
 * airlock-cert serve (hub): the automatic path of an edge's rotation. A small
 * service on the hub's inner address, reachable only through the tunnel (the
 * listener is bound to the TUN device, or pinned to ESP with an
 * IP_XFRM_POLICY), signs an edge's CSR when the IKE identity that charon
 * authenticated for the connection's peer address is the CSR's identity.
 *
 * One request per connection, one connection at a time, each bounded in
 * size (ACERT_CSR_REQUEST_MAX) and time (10 s):
 *
 *	edge -> hub	the request text of acert_csr_request.h, then EOF
 *	hub -> edge	"OK\n" and the certificate PEM, or "ERR reason\n"
 *
 * The owner of the peer address comes from a fresh list-sas (sa_table_owner:
 * an INSTALLED CHILD_SA of the hub's connection whose remote selector covers
 * the address; its remote_id is the authenticated edge).
 */
#include "tunnel/airlock_cert/acert_cmd.h"

#include "tunnel/airlock_cert/acert_csr_request.h"
#include "tunnel/airlock_cert/acert_vici.h"
#include "tunnel/sa_table.h"
#include "tunnel/tunnel_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SERVE_IO_TIMEOUT_S 10

static int fail(const char *msg)
{
	fprintf(stderr, "airlock-cert: %s\n", msg);
	return 1;
}

static void set_timeouts(int fd, int secs)
{
	struct timeval tv = {secs, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Reads until EOF, at most max octets (one more means too large). Returns the length or -1. */
static long read_all(int fd, char *buf, size_t max)
{
	size_t got = 0;
	while (got <= max) {
		ssize_t r = read(fd, buf + got, max + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return (long)got;
		got += (size_t)r;
	}
	return (long)got;
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}

/* The authenticated identity owning addr, from a fresh list-sas. */
static int peer_identity(struct acert_vici *v, const struct acert_conn *c, int family,
			 const uint8_t addr[16], char *id, size_t idlen, char *err, size_t errlen)
{
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "noblock", "yes");
	struct vici_node **evs;
	size_t n;
	if (acert_vici_stream(v, "list-sas", b, "list-sa", &evs, &n, err, errlen) != 0)
		return -1;
	struct sa_table *t = sa_table_new();
	int rc = -1;
	const struct sa_ike *ike = NULL;
	if (!t)
		snprintf(err, errlen, "out of memory");
	else if (sa_table_replace(t, (const struct vici_node *const *)evs, n, (uint64_t)time(NULL),
				  NULL) != 0)
		snprintf(err, errlen, "charon's SA list is unusable");
	else if (sa_table_owner(t, family, addr, &ike) != SA_MATCH_FOUND || !ike->remote_id)
		snprintf(err, errlen, "no INSTALLED CHILD_SA covers the peer address");
	else if (strcmp(ike->name, c->name) != 0)
		snprintf(err, errlen, "the peer's SA belongs to connection %s, not %s", ike->name,
			 c->name);
	else {
		snprintf(id, idlen, "%s", ike->remote_id);
		rc = 0;
	}
	sa_table_free(t);
	acert_vici_events_free(evs, n);
	return rc;
}

static void handle(const struct acert_opts *o, const struct acert_conn *c, struct acert_vici **v,
		   int fd, const struct sockaddr_storage *ss)
{
	char err[ACERT_ERR_MAX] = "", peer[64] = "?", id[256] = "", signed_id[ACERT_ID_MAX + 1];
	uint8_t addr[16] = {0};
	int family = ss->ss_family;
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		memcpy(addr, &sin->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		memcpy(addr, &sin6->sin6_addr, 16);
	}
	inet_ntop(family, addr, peer, sizeof(peer));
	set_timeouts(fd, SERVE_IO_TIMEOUT_S);
	char *buf = malloc(ACERT_CSR_REQUEST_MAX + 1);
	char *cert = NULL;
	size_t cert_len = 0;
	long len = buf ? read_all(fd, buf, ACERT_CSR_REQUEST_MAX) : -1;
	if (len < 0) {
		snprintf(err, sizeof(err), "cannot read the request");
	} else if (len > ACERT_CSR_REQUEST_MAX) {
		snprintf(err, sizeof(err), "request too large");
	} else {
		if (!*v)
			*v = acert_vici_open(o->vici, o->timeout_s * 1000, 0, err, sizeof(err));
		int rc = *v ? peer_identity(*v, c, family, addr, id, sizeof(id), err, sizeof(err))
			    : -1;
		if (rc != 0 && *v && !strstr(err, "CHILD_SA") && !strstr(err, "connection")) {
			/* charon may have restarted: one new session next time. */
			acert_vici_free(*v);
			*v = NULL;
		}
		if (rc == 0)
			acert_sign_request(o, buf, (size_t)len, id, &cert, &cert_len, signed_id,
					   err, sizeof(err));
	}
	if (cert) {
		write_all(fd, "OK\n", 3);
		write_all(fd, cert, cert_len);
		fprintf(stderr, "airlock-cert: request from %s (%s): signed\n", peer, id);
	} else {
		char line[ACERT_ERR_MAX + 8];
		int n = snprintf(line, sizeof(line), "ERR %s\n", err);
		write_all(fd, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 4);
		fprintf(stderr, "airlock-cert: request from %s (%s): refused: %s\n", peer,
			id[0] ? id : "unauthenticated", err);
	}
	free(cert);
	free(buf);
}

int acert_cmd_serve(struct acert_opts *o)
{
	char err[ACERT_ERR_MAX], role[16], addr[64];
	struct acert_conn c;
	if (acert_load_role(o, role, sizeof(role), &c, err, sizeof(err)) != 0)
		return fail(err);
	if (strcmp(role, "hub") != 0)
		return fail("serve runs on the hub");
	acert_ts_address(c.local_ts, addr, sizeof(addr));
	struct sockaddr_storage ss = {0};
	socklen_t sslen;
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)o->serve_port);
		sslen = sizeof(*sin);
		if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
			return fail("the hub's inner address is not an address");
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)o->serve_port);
		sslen = sizeof(*sin6);
		if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
			return fail("the hub's inner address is not an address");
	}
	/* Reachable only through the tunnel, like the hub's mail listener. */
	if (!o->xfrm && !o->device[0])
		return fail("serve needs --device DEV (kernel-libipsec) or --xfrm");
	enum tunnel_backend backend = o->xfrm ? TUNNEL_BACKEND_XFRM : TUNNEL_BACKEND_LIBIPSEC;
	int fd = tunnel_socket_listen((struct sockaddr *)&ss, sslen, backend, o->device, err,
				      sizeof(err));
	if (fd < 0)
		return fail(err);
	bool failing = false;
	printf("serving certificate requests on %s:%d (%s)\n", addr, o->serve_port,
	       o->xfrm ? "ESP only" : o->device);
	fflush(stdout);
	struct acert_vici *v = NULL;
	for (int served = 0; !o->max_requests || served < o->max_requests;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN}; /* fd -1: a one-second wait */
		int n = poll(&pfd, 1, 1000);
		if (n == 0 && !o->xfrm) {
			/* charon restarted: its TUN device is new, and a listener bound to the
			 * old one hears nothing: close it and listen on the new one. */
			if (if_nametoindex(o->device) == 0 ||
			    (fd >= 0 && !tunnel_socket_device_gone(fd, o->device)))
				continue;
			if (fd >= 0)
				close(fd);
			fd = tunnel_socket_listen((struct sockaddr *)&ss, sslen, backend, o->device,
						  err, sizeof(err));
			if (fd < 0) {
				if (!failing)
					fprintf(stderr,
						"airlock-cert: %s (trying again every second)\n",
						err);
				failing = true;
				continue;
			}
			failing = false;
			fprintf(stderr,
				"airlock-cert: %s was created anew: listening on it again\n",
				o->device);
			continue;
		}
		if (n <= 0)
			continue;
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int cfd = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
				continue;
			snprintf(err, sizeof(err), "accept: %s", strerror(errno));
			break;
		}
		handle(o, &c, &v, cfd, &peer);
		close(cfd);
		served++;
	}
	acert_vici_free(v);
	if (fd >= 0)
		close(fd);
	return 0;
}

/*
 * Fuzz target: the hub's gate over an SA table built from an arbitrary
 * list-sa message, arbitrary peer and local addresses, and the Received:
 * clause over arbitrary identities; the same message also goes to the
 * backend detection (as a stats reply).
 *
 * Input: flags (1 byte: bit 0 VICI connected, bit 1 IPv6 peer, bit 2 IPv6
 * local, bits 4-5 seconds past the refresh), peer address (16) and port (2),
 * local address (16) and port (2), then the VICI message. Checked
 * invariants: a verdict always matches its code, an accepted connection has
 * a real identity, every text is free of control characters, and every
 * clause is printable ASCII with balanced parentheses.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "policy/gate.h"
#include "tunnel/sa_table.h"
#include "tunnel/tunnel_socket.h"
#include "tunnel/vici_msg.h"

#define HEAD 37

static void check_text(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			abort();
	}
}

/* Printable ASCII, parentheses balanced outside quoted-pairs, closed at the end. */
static void check_clause(const char *s, int n)
{
	int depth = 0;
	if (n < 0)
		return;
	if ((size_t)n != strlen(s) || s[0] != '(')
		abort();
	for (int i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			abort();
		if (s[i] == '\\') {
			if (++i >= n)
				abort();
			continue;
		}
		depth += s[i] == '(' ? 1 : s[i] == ')' ? -1 : 0;
		if (depth < 0 || (depth == 0 && i != n - 1))
			abort();
	}
	if (depth != 0)
		abort();
}

static socklen_t make_addr(struct sockaddr_storage *ss, bool v6, const uint8_t *addr,
			   const uint8_t *port)
{
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, addr, 16);
		memcpy(&s6->sin6_port, port, 2);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	memcpy(&s4->sin_addr, addr, 4);
	memcpy(&s4->sin_port, port, 2);
	return sizeof(*s4);
}

static void clause_of_raw_identity(const uint8_t *data, size_t size, uint8_t flags)
{
	struct gate_result r;
	char out[GATE_RECEIVED_MAX];
	size_t n = size < GATE_STR_MAX - 1 ? size : GATE_STR_MAX - 1;
	memset(&r, 0, sizeof(r));
	r.verdict = GATE_ACCEPT;
	memcpy(r.remote_id, data, n);
	r.remote_id[n] = '\0';
	memcpy(r.conn, "edge1", 6);
	memcpy(r.child, "mail", 5);
	size_t outsz = 60 + (size_t)flags * 2 < sizeof(out) ? 60 + (size_t)flags * 2 : sizeof(out);
	check_clause(out, gate_received_clause(&r, out, outsz));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		/* The SA table logs every skipped SA; that would drown the fuzzer's output. */
		log_init("fuzz_gate", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
		quiet = true;
	}
	if (size < HEAD)
		return 0;
	const uint8_t flags = data[0];
	clause_of_raw_identity(data + HEAD, size - HEAD, flags);

	struct vici_node *msg;
	if (vici_msg_parse(data + HEAD, size - HEAD, &msg, NULL) < 0)
		return 0;
	enum tunnel_backend b = tunnel_backend_detect(msg);
	if (b != TUNNEL_BACKEND_UNKNOWN && b != TUNNEL_BACKEND_XFRM && b != TUNNEL_BACKEND_LIBIPSEC)
		abort();

	struct sa_table *t = sa_table_new();
	const struct vici_node *evs[] = {msg};
	sa_table_replace(t, evs, 1, 100, NULL);

	/* Configured names: the message's first section (so matches happen) and a fixed one. */
	const char *conns[2] = {"edge1", "edge1"};
	if (msg->first && msg->first->type == VICI_NODE_SECTION)
		conns[1] = msg->first->name;

	struct sockaddr_storage peer, local;
	socklen_t plen = make_addr(&peer, flags & 2, data + 1, data + 17);
	socklen_t llen = make_addr(&local, flags & 4, data + 19, data + 35);
	struct gate_input in = {
		.peer = (struct sockaddr *)&peer,
		.peer_len = plen,
		.local = (struct sockaddr *)&local,
		.local_len = llen,
		.table = t,
		.now = 100 + ((flags >> 4) & 3),
		.stale_after = 2,
		.conns = conns,
		.conn_count = 2,
		.vici_connected = flags & 1,
	};
	struct gate_result r;
	gate_check(&in, &r);
	sa_table_free(t);
	vici_node_free(msg);

	check_text(r.text);
	check_text(r.peer);
	check_text(r.remote_id);
	if (r.verdict == GATE_ACCEPT) {
		if (r.code != 0 || r.reason != GATE_OK || r.remote_id[0] == '\0' ||
		    strcmp(r.remote_id, "%any") == 0 || !(flags & 1) || ((flags >> 4) & 3) > 2)
			abort();
		char out[GATE_RECEIVED_MAX];
		int n = gate_received_clause(&r, out, sizeof(out));
		check_clause(out, n);
	} else if ((r.verdict == GATE_TEMPFAIL && r.code != 421) ||
		   (r.verdict == GATE_REJECT && r.code != 554) || r.reason == GATE_OK) {
		abort();
	}
	struct gate_counters c;
	memset(&c, 0, sizeof(c));
	gate_counters_note(&c, &r);
	if (c.accepted + gate_counters_rejected(&c) + gate_counters_tempfailed(&c) != 1)
		abort();
	return 0;
}

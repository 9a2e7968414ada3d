/*
 * The hub's gate decision, table-driven: SA tables are built from list-sa
 * messages shaped like charon's (encoded with the VICI builder, parsed back
 * with the codec, fed to the SA table), then gate_check is asked about one
 * accepted connection. Testbed names: the hub (inner 192.0.2.2, outer
 * 203.0.113.2) sees the edge (inner 192.0.2.1) over connection "edge1".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "common/netaddr.h"
#include "policy/gate.h"
#include "tunnel/sa_table.h"
#include "tunnel/vici_msg.h"

#define EDGE_ID	 "C=US, O=Example, CN=edge1.example.com"
#define OTHER_ID "C=US, O=Example, CN=edge2.example.com"
#define T0	 1000 /* when the tables are refreshed */
#define STALE	 60

/* One IKE_SA with up to two CHILD_SAs, as charon lists it. */
struct sa_def {
	const char *conn;
	unsigned ike_id;
	const char *ike_state;
	const char *remote_id;
	struct {
		const char *name; /* NULL: no such child */
		unsigned id;
		const char *state;
		const char *protocol;
		const char *lts;
		const char *rts;
	} child[2];
};

/* clang-format off */
#define SA(conn, ike_id, rid, child_id, lts, rts) \
	{conn, ike_id, "ESTABLISHED", rid, {{"mail", child_id, "INSTALLED", "ESP", lts, rts}}}
/* clang-format on */

static void kv_u(struct vici_builder *b, const char *key, unsigned v)
{
	vici_add_kvf(b, key, "%u", v);
}

/* list-sa { <conn> { IKE, child-sas { <child>-<id> { CHILD } } } } */
static struct vici_node *list_sa(const struct sa_def *d)
{
	struct vici_builder *b = vici_builder_new();
	const uint8_t *data;
	size_t len;
	struct vici_node *root;

	vici_begin_section(b, d->conn);
	kv_u(b, "uniqueid", d->ike_id);
	vici_add_kv(b, "version", "2");
	vici_add_kv(b, "state", d->ike_state);
	vici_add_kv(b, "local-host", "203.0.113.2");
	vici_add_kv(b, "local-id", "hub.example.com");
	vici_add_kv(b, "remote-host", "203.0.113.1");
	vici_add_kv(b, "remote-id", d->remote_id);
	vici_add_kv(b, "initiator-spi", "8f2a3b4c5d6e7f01");
	vici_add_kv(b, "responder-spi", "0123456789abcdef");
	if (strcmp(d->ike_state, "ESTABLISHED") == 0)
		vici_add_kv(b, "established", "42");
	vici_begin_section(b, "child-sas");
	for (size_t i = 0; i < 2 && d->child[i].name; i++) {
		char sec[64];
		snprintf(sec, sizeof(sec), "%s-%u", d->child[i].name, d->child[i].id);
		vici_begin_section(b, sec);
		vici_add_kv(b, "name", d->child[i].name);
		kv_u(b, "uniqueid", d->child[i].id);
		vici_add_kv(b, "reqid", "1");
		vici_add_kv(b, "state", d->child[i].state);
		vici_add_kv(b, "mode", "TUNNEL");
		vici_add_kv(b, "protocol", d->child[i].protocol);
		vici_add_kv(b, "encap", "yes");
		vici_add_kv(b, "spi-in", "c8a1d3f2");
		vici_add_kv(b, "spi-out", "c5e0b1a7");
		vici_add_kv(b, "bytes-in", "0");
		vici_add_kv(b, "packets-in", "0");
		vici_add_kv(b, "bytes-out", "0");
		vici_add_kv(b, "packets-out", "0");
		vici_add_kv(b, "install-time", "10");
		vici_begin_list(b, "local-ts");
		vici_add_list_item(b, d->child[i].lts);
		vici_end_list(b);
		vici_begin_list(b, "remote-ts");
		vici_add_list_item(b, d->child[i].rts);
		vici_end_list(b);
		vici_end_section(b);
	}
	vici_end_section(b);
	vici_end_section(b);
	assert_int_equal(vici_builder_finish(b, &data, &len), 0);
	assert_int_equal(vici_msg_parse(data, len, &root, NULL), 0);
	vici_builder_free(b);
	return root;
}

/* A table refreshed at T0 with the given SAs (none: refreshed and empty). */
static struct sa_table *table_of(const struct sa_def *defs, size_t n)
{
	struct sa_table *t = sa_table_new();
	const struct vici_node *ev[4];
	struct vici_node *owned[4];
	struct sa_table_report rep;
	assert_non_null(t);
	assert_true(n <= 4);
	for (size_t i = 0; i < n; i++)
		ev[i] = owned[i] = list_sa(&defs[i]);
	assert_int_equal(sa_table_replace(t, ev, n, T0, &rep), 0);
	assert_int_equal(rep.ike_added, n);
	assert_int_equal(rep.ike_skipped + rep.child_skipped, 0);
	for (size_t i = 0; i < n; i++)
		vici_node_free(owned[i]);
	return t;
}

/* ---- the table ------------------------------------------------------------------ */

#define EDGE_SA SA("edge1", 1, EDGE_ID, 7, "192.0.2.2/32", "192.0.2.1/32")
enum fixture_id {
	F_EDGE,
	F_EMPTY,
	F_REKEYED,
	F_DELETING,
	F_AH,
	F_PORT,
	F_UDP,
	F_TWO_PEERS,
	F_TWO_CONNS,
	F_SAME_PEER,
	F_ANY,
	F_V6,
};

struct fixture {
	struct sa_def sas[2];
	size_t n;
};

/* clang-format off */
#define CHILD(state, proto) {{"mail", 7, state, proto, "192.0.2.2/32", "192.0.2.1/32"}}
static const struct fixture fixtures[] = {
	[F_EDGE] = {{EDGE_SA}, 1},
	[F_EMPTY] = {{{0}}, 0},
	[F_REKEYED] = {{{"edge1", 1, "ESTABLISHED", EDGE_ID, CHILD("REKEYED", "ESP")}}, 1},
	[F_DELETING] = {{{"edge1", 1, "DELETING", EDGE_ID, CHILD("INSTALLED", "ESP")}}, 1},
	[F_AH] = {{{"edge1", 1, "ESTABLISHED", EDGE_ID, CHILD("INSTALLED", "AH")}}, 1},
	[F_PORT] = {{SA("edge1", 1, EDGE_ID, 7, "192.0.2.2/32[tcp/smtp]", "192.0.2.1/32[tcp]")}, 1},
	[F_UDP] = {{SA("edge1", 1, EDGE_ID, 7, "192.0.2.2/32[udp]", "192.0.2.1/32")}, 1},
	[F_TWO_PEERS] = {{SA("edge1", 1, EDGE_ID, 7, "192.0.2.2/32", "192.0.2.0/24"),
			  SA("edge1", 2, OTHER_ID, 8, "192.0.2.2/32", "192.0.2.1/32")}, 2},
	[F_TWO_CONNS] = {{EDGE_SA, SA("edge2", 2, OTHER_ID, 8, "192.0.2.2/32", "192.0.2.0/24")}, 2},
	[F_SAME_PEER] = {{SA("edge1", 1, EDGE_ID, 9, "192.0.2.2/32", "192.0.2.1/32"),
			  SA("edge1b", 3, EDGE_ID, 4, "192.0.2.0/24", "192.0.2.0/24")}, 2},
	[F_ANY] = {{SA("edge1", 1, "%any", 7, "192.0.2.2/32", "192.0.2.1/32")}, 1},
	[F_V6] = {{SA("edge6", 5, EDGE_ID, 11, "2001:db8:2::2/128", "2001:db8:1::/64")}, 1},
};
/* clang-format on */

enum table_state { T_FRESH, T_NEVER, T_DISCONNECTED };

struct row {
	const char *what;
	enum fixture_id fix;
	enum table_state tstate;
	bool vici;
	uint64_t now;
	const char *peer;  /* netaddr text, or NULL for an AF_UNIX address */
	const char *local; /* likewise */
	const char *conns[3];
	/* expected */
	enum gate_verdict verdict;
	enum gate_reason reason;
	const char *reply; /* gate_reply, "" when accepted */
	const char *remote_id;
	unsigned ike_id, child_id;
	const char *conn;
};

#define HUB			  "192.0.2.2:25"
#define EDGE			  "192.0.2.1:40000"
#define OK(rid, ike, child, conn) GATE_ACCEPT, GATE_OK, "", rid, ike, child, conn
#define NO(v, reason, reply)	  v, reason, reply, NULL, 0, 0, NULL
#define NOSA(addr)		  NO(GATE_REJECT, GATE_NO_SA, "554 5.7.1 no INSTALLED CHILD_SA covers " addr)
#define STALE_AS(name)		  NO(GATE_TEMPFAIL, GATE_TABLE_STALE, "421 4.7.0 SA table stale: " name)

/* clang-format off */
static const struct row rows[] = {
	{"tunnelled peer", F_EDGE, T_FRESH, true, T0 + 5, EDGE, HUB, {"edge1"},
	 OK(EDGE_ID, 1, 7, "edge1")},
	{"table exactly stale_after old", F_EDGE, T_FRESH, true, T0 + STALE, EDGE, HUB, {"edge1"},
	 OK(EDGE_ID, 1, 7, "edge1")},
	{"DMZ host", F_EDGE, T_FRESH, true, T0, "203.0.113.66:5000", "203.0.113.2:25", {"edge1"},
	 NOSA("203.0.113.66")},
	{"spoofed inner source", F_EDGE, T_FRESH, true, T0, "192.0.2.66:5000", HUB, {"edge1"},
	 NOSA("192.0.2.66")},
	{"edge in clear to the outer address", F_EDGE, T_FRESH, true, T0, "203.0.113.1:40000",
	 "203.0.113.2:25", {"edge1"}, NOSA("203.0.113.1")},
	{"inner source, but to the outer local address", F_EDGE, T_FRESH, true, T0, EDGE,
	 "203.0.113.2:25", {"edge1"}, NOSA("192.0.2.1")},
	{"SA torn down (table empty)", F_EMPTY, T_FRESH, true, T0, EDGE, HUB, {"edge1"},
	 NOSA("192.0.2.1")},
	{"VICI unreachable", F_EDGE, T_FRESH, false, T0, EDGE, HUB, {"edge1"},
	 NO(GATE_TEMPFAIL, GATE_VICI_DOWN, "421 4.7.0 VICI unreachable")},
	{"VICI unreachable wins over a bad peer", F_EDGE, T_FRESH, false, T0, NULL, HUB, {"edge1"},
	 NO(GATE_TEMPFAIL, GATE_VICI_DOWN, "421 4.7.0 VICI unreachable")},
	{"table too old", F_EDGE, T_FRESH, true, T0 + STALE + 1, EDGE, HUB, {"edge1"},
	 STALE_AS("too-old")},
	{"clock before the refresh", F_EDGE, T_FRESH, true, T0 - 1, EDGE, HUB, {"edge1"},
	 STALE_AS("too-old")},
	{"never refreshed", F_EMPTY, T_NEVER, true, T0, EDGE, HUB, {"edge1"},
	 STALE_AS("never-refreshed")},
	{"event connection lost", F_EDGE, T_DISCONNECTED, true, T0, EDGE, HUB, {"edge1"},
	 STALE_AS("disconnected")},
	{"connection not configured", F_EDGE, T_FRESH, true, T0, EDGE, HUB, {"other"},
	 NOSA("192.0.2.1")},
	{"CHILD_SA not INSTALLED", F_REKEYED, T_FRESH, true, T0, EDGE, HUB, {"edge1"},
	 NOSA("192.0.2.1")},
	{"IKE_SA not ESTABLISHED", F_DELETING, T_FRESH, true, T0, EDGE, HUB, {"edge1"},
	 NOSA("192.0.2.1")},
	{"AH, not ESP", F_AH, T_FRESH, true, T0, EDGE, HUB, {"edge1"}, NOSA("192.0.2.1")},
	{"port-restricted selector, right port", F_PORT, T_FRESH, true, T0, EDGE, HUB, {"edge1"},
	 OK(EDGE_ID, 1, 7, "edge1")},
	{"port-restricted selector, other port", F_PORT, T_FRESH, true, T0, EDGE, "192.0.2.2:2525",
	 {"edge1"}, NOSA("192.0.2.1")},
	{"UDP-only selector", F_UDP, T_FRESH, true, T0, EDGE, HUB, {"edge1"}, NOSA("192.0.2.1")},
	{"two peers, one connection", F_TWO_PEERS, T_FRESH, true, T0, EDGE, HUB, {"edge1"},
	 NO(GATE_REJECT, GATE_AMBIGUOUS, "554 5.7.1 ambiguous peers")},
	{"two peers across configured connections", F_TWO_CONNS, T_FRESH, true, T0, EDGE, HUB,
	 {"edge1", "edge2"}, NO(GATE_REJECT, GATE_AMBIGUOUS, "554 5.7.1 ambiguous peers")},
	{"other peer's connection not configured", F_TWO_CONNS, T_FRESH, true, T0, EDGE, HUB,
	 {"edge2"}, OK(OTHER_ID, 2, 8, "edge2")},
	{"same peer in two connections: newest CHILD_SA", F_SAME_PEER, T_FRESH, true, T0, EDGE, HUB,
	 {"edge1b", "edge1"}, OK(EDGE_ID, 1, 9, "edge1")},
	{"connection named twice", F_EDGE, T_FRESH, true, T0, EDGE, HUB, {"edge1", "edge1"},
	 OK(EDGE_ID, 1, 7, "edge1")},
	{"wildcard identity", F_ANY, T_FRESH, true, T0, EDGE, HUB, {"edge1"},
	 NO(GATE_REJECT, GATE_NO_IDENTITY, "554 5.7.1 no authenticated IKE identity")},
	{"IPv4-mapped IPv6 socket", F_EDGE, T_FRESH, true, T0, "[::ffff:192.0.2.1]:40000",
	 "[::ffff:192.0.2.2]:25", {"edge1"}, OK(EDGE_ID, 1, 7, "edge1")},
	{"IPv6 tunnel", F_V6, T_FRESH, true, T0, "[2001:db8:1::1]:40000", "[2001:db8:2::2]:25",
	 {"edge6"}, OK(EDGE_ID, 5, 11, "edge6")},
	{"IPv6 outside the selector", F_V6, T_FRESH, true, T0, "[2001:db8:9::66]:40000",
	 "[2001:db8:2::2]:25", {"edge6"}, NOSA("2001:db8:9::66")},
	{"unix-domain peer", F_EDGE, T_FRESH, true, T0, NULL, HUB, {"edge1"},
	 NO(GATE_REJECT, GATE_PEER_ADDRESS, "554 5.7.1 unsupported peer address")},
	{"address families differ", F_EDGE, T_FRESH, true, T0, EDGE, "[2001:db8:2::2]:25", {"edge1"},
	 NO(GATE_REJECT, GATE_PEER_ADDRESS, "554 5.7.1 address families differ")},
	{"local address unknown", F_EDGE, T_FRESH, true, T0, EDGE, NULL, {"edge1"},
	 NO(GATE_TEMPFAIL, GATE_LOCAL_ADDRESS, "421 4.7.0 local address unknown")},
};
/* clang-format on */

static void set_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	if (!text) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		memset(ss, 0, sizeof(*ss));
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, "/run/airlock/x");
		*len = sizeof(*un);
		return;
	}
	assert_int_equal(netaddr_parse(text, ss, len), 0);
}

static void run_row(const struct row *r)
{
	struct sockaddr_storage peer, local;
	socklen_t plen, llen;
	struct gate_result res;
	char reply[256];
	size_t nconns = 0;
	struct sa_table *t;

	print_message("  %s\n", r->what);
	if (r->tstate == T_NEVER) {
		t = sa_table_new();
		assert_non_null(t);
	} else {
		t = table_of(fixtures[r->fix].sas, fixtures[r->fix].n);
	}
	if (r->tstate == T_DISCONNECTED)
		sa_table_mark_disconnected(t);
	while (nconns < 3 && r->conns[nconns])
		nconns++;
	set_addr(r->peer, &peer, &plen);
	set_addr(r->local, &local, &llen);
	struct gate_input in = {
		.peer = (struct sockaddr *)&peer,
		.peer_len = plen,
		.local = (struct sockaddr *)&local,
		.local_len = llen,
		.table = t,
		.now = r->now,
		.stale_after = STALE,
		.conns = r->conns,
		.conn_count = nconns,
		.vici_connected = r->vici,
	};
	memset(&res, 0xa5, sizeof(res));
	gate_check(&in, &res);
	/* The result owns its copies: free the table before looking at it. */
	sa_table_free(t);

	assert_int_equal(res.verdict, r->verdict);
	assert_int_equal(res.reason, r->reason);
	assert_string_equal(gate_reply(&res, reply, sizeof(reply)), r->reply);
	if (r->verdict == GATE_ACCEPT) {
		assert_int_equal(res.code, 0);
		assert_string_equal(res.remote_id, r->remote_id);
		assert_string_equal(res.conn, r->conn);
		assert_string_equal(res.child, "mail");
		assert_int_equal(res.ike_uniqueid, r->ike_id);
		assert_int_equal(res.child_uniqueid, r->child_id);
	} else {
		assert_int_equal(res.code, r->verdict == GATE_TEMPFAIL ? 421 : 554);
		assert_string_equal(res.remote_id, "");
		assert_string_equal(res.conn, "");
		assert_int_equal(res.ike_uniqueid, 0);
		assert_int_equal(res.child_uniqueid, 0);
	}
}

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(&rows[i]);
}

/* The peer address and port are reported whatever the verdict. */
static void test_peer_text(void **state)
{
	(void)state;
	const struct sa_def defs[] = {EDGE_SA};
	struct sa_table *t = table_of(defs, 1);
	const char *conns[] = {"edge1"};
	struct sockaddr_storage peer, local;
	socklen_t plen, llen;
	struct gate_result res;

	set_addr("[::ffff:192.0.2.66]:4711", &peer, &plen);
	set_addr("[::ffff:192.0.2.2]:25", &local, &llen);
	struct gate_input in = {(struct sockaddr *)&peer,
				plen,
				(struct sockaddr *)&local,
				llen,
				t,
				T0,
				STALE,
				conns,
				1,
				false};
	gate_check(&in, &res);
	assert_int_equal(res.verdict, GATE_TEMPFAIL);
	assert_string_equal(res.peer, "192.0.2.66");
	assert_int_equal(res.peer_port, 4711);

	set_addr(NULL, &peer, &plen);
	in.vici_connected = true;
	gate_check(&in, &res);
	assert_string_equal(res.peer, "unknown");
	assert_int_equal(res.peer_port, 0);

	in.peer = NULL;
	gate_check(&in, &res);
	assert_int_equal(res.verdict, GATE_REJECT);
	assert_int_equal(res.reason, GATE_PEER_ADDRESS);
	sa_table_free(t);
}

/* A short socket length is a bad address, not an out-of-bounds read. */
static void test_short_sockaddr(void **state)
{
	(void)state;
	const struct sa_def defs[] = {EDGE_SA};
	struct sa_table *t = table_of(defs, 1);
	const char *conns[] = {"edge1"};
	struct sockaddr_storage peer, local;
	socklen_t plen, llen;
	struct gate_result res;

	set_addr(EDGE, &peer, &plen);
	set_addr(HUB, &local, &llen);
	struct gate_input in = {(struct sockaddr *)&peer,
				4,
				(struct sockaddr *)&local,
				llen,
				t,
				T0,
				STALE,
				conns,
				1,
				true};
	gate_check(&in, &res);
	assert_int_equal(res.reason, GATE_PEER_ADDRESS);
	in.peer_len = plen;
	in.local_len = 2;
	gate_check(&in, &res);
	assert_int_equal(res.reason, GATE_LOCAL_ADDRESS);
	in.local_len = llen;
	gate_check(&in, &res);
	assert_int_equal(res.verdict, GATE_ACCEPT);
	sa_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_peer_text),
		cmocka_unit_test(test_short_sockaddr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

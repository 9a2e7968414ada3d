/*
 * SA table: messages shaped like charon's (vici_query.c list_sas, list_ike,
 * list_child and the updown/rekey listeners) are built with the VICI builder,
 * encoded, parsed back with the codec, and fed to the table; then the gate's
 * questions are asked. Testbed names: the hub (local 192.0.2.2) sees the edge
 * (remote 192.0.2.1) over connection "edge1".
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

#include <cmocka.h>

#include "tunnel/sa_table.h"
#include "tunnel/vici_msg.h"

#define EDGE_ID	 "C=US, O=Example, CN=edge1.example.com"
#define OTHER_ID "C=US, O=Example, CN=edge2.example.com"

/* ---- message building ------------------------------------------------------- */

/* A field to leave out or to send with another value, to make a message malformed. */
struct tweak {
	const char *omit;
	const char *key;
	const char *value;
};

struct ike_def {
	const char *name;
	unsigned id;
	const char *state;
	const char *remote_id;
	struct tweak tweak;
};

struct child_def {
	const char *name;
	unsigned id;
	const char *state;
	const char *protocol;
	const char *spi_in;
	const char *lts[4];
	const char *rts[4];
	struct tweak tweak;
};

static const struct ike_def edge1 = {"edge1", 1, "ESTABLISHED", EDGE_ID, {NULL, NULL, NULL}};
static const struct child_def mail = {"mail",		7,
				      "INSTALLED",	"ESP",
				      "c8a1d3f2",	{"192.0.2.2/32"},
				      {"192.0.2.1/32"}, {NULL, NULL, NULL}};

/* Whether kv() has sent the tweaked key; if not, it is added at the end. */
static bool tweak_sent;

static void kv(struct vici_builder *b, const struct tweak *tw, const char *key, const char *value)
{
	if (tw->omit && strcmp(tw->omit, key) == 0)
		return;
	if (tw->key && strcmp(tw->key, key) == 0) {
		value = tw->value;
		tweak_sent = true;
	}
	vici_add_kv(b, key, value);
}

static void tweak_rest(struct vici_builder *b, const struct tweak *tw)
{
	if (tw->key && !tweak_sent)
		vici_add_kv(b, tw->key, tw->value);
}

static void kvu(struct vici_builder *b, const struct tweak *tw, const char *key, unsigned v)
{
	char buf[16];
	snprintf(buf, sizeof(buf), "%u", v);
	kv(b, tw, key, buf);
}

static void add_ike_fields(struct vici_builder *b, const struct ike_def *d)
{
	const struct tweak *tw = &d->tweak;
	tweak_sent = false;
	kvu(b, tw, "uniqueid", d->id);
	kv(b, tw, "version", "2");
	kv(b, tw, "state", d->state);
	kv(b, tw, "local-host", "203.0.113.2");
	kv(b, tw, "local-port", "4500");
	kv(b, tw, "local-id", "C=US, O=Example, CN=hub.example.com");
	kv(b, tw, "remote-host", "203.0.113.1");
	kv(b, tw, "remote-port", "4500");
	kv(b, tw, "remote-id", d->remote_id);
	kv(b, tw, "initiator-spi", "8f2a3b4c5d6e7f01");
	kv(b, tw, "responder-spi", "0123456789abcdef");
	kv(b, tw, "encr-alg", "AES_GCM_16");
	kv(b, tw, "encr-keysize", "256");
	kv(b, tw, "prf-alg", "PRF_HMAC_SHA2_256");
	kv(b, tw, "dh-group", "CURVE_25519");
	if (strcmp(d->state, "ESTABLISHED") == 0) {
		kv(b, tw, "established", "42");
		kv(b, tw, "rekey-time", "13000");
	}
	tweak_rest(b, tw);
	vici_begin_list(b, "tasks-active");
	vici_add_list_item(b, "CHILD_REKEY");
	vici_end_list(b);
}

static void add_child_fields(struct vici_builder *b, const struct child_def *d)
{
	const struct tweak *tw = &d->tweak;
	tweak_sent = false;
	kv(b, tw, "name", d->name);
	kvu(b, tw, "uniqueid", d->id);
	kv(b, tw, "reqid", "1");
	kv(b, tw, "state", d->state);
	kv(b, tw, "mode", "TUNNEL");
	if (strcmp(d->state, "INSTALLED") == 0 || strcmp(d->state, "REKEYING") == 0 ||
	    strcmp(d->state, "REKEYED") == 0) {
		kv(b, tw, "protocol", d->protocol);
		kv(b, tw, "spi-in", d->spi_in);
		kv(b, tw, "spi-out", "c5e0b1a7");
		kv(b, tw, "encr-alg", "AES_GCM_16");
		kv(b, tw, "encr-keysize", "256");
		kv(b, tw, "bytes-in", "1234");
		kv(b, tw, "packets-in", "10");
		kv(b, tw, "use-in", "3");
		kv(b, tw, "bytes-out", "5678");
		kv(b, tw, "packets-out", "12");
		kv(b, tw, "rekey-time", "3100");
		kv(b, tw, "life-time", "3500");
		kv(b, tw, "install-time", "100");
	}
	tweak_rest(b, tw);
	vici_begin_list(b, "local-ts");
	for (size_t i = 0; i < 4 && d->lts[i]; i++)
		vici_add_list_item(b, d->lts[i]);
	vici_end_list(b);
	vici_begin_list(b, "remote-ts");
	for (size_t i = 0; i < 4 && d->rts[i]; i++)
		vici_add_list_item(b, d->rts[i]);
	vici_end_list(b);
}

/* Every parsed message of a test, freed in teardown. */
static struct vici_node **msgs;
static size_t msg_count;

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < msg_count; i++)
		vici_node_free(msgs[i]);
	free(msgs);
	msgs = NULL;
	msg_count = 0;
	return 0;
}

/* Encodes, parses back through the codec, frees the builder. */
static struct vici_node *finish(struct vici_builder *b)
{
	const uint8_t *data;
	size_t len;
	struct vici_node *root;
	assert_int_equal(vici_builder_finish(b, &data, &len), 0);
	assert_int_equal(vici_msg_parse(data, len, &root, NULL), 0);
	vici_builder_free(b);
	msgs = realloc(msgs, (msg_count + 1) * sizeof(*msgs));
	assert_non_null(msgs);
	msgs[msg_count++] = root;
	return root;
}

static void add_child_section(struct vici_builder *b, const struct child_def *c)
{
	char sec[300];
	snprintf(sec, sizeof(sec), "%s-%u", c->name, c->id);
	vici_begin_section(b, sec);
	add_child_fields(b, c);
	vici_end_section(b);
}

/* list-sa { <ike> { IKE, child-sas { <child>-<id> { CHILD } } } } */
static struct vici_node *list_sa(const struct ike_def *ike, const struct child_def *children,
				 size_t n)
{
	struct vici_builder *b = vici_builder_new();
	vici_begin_section(b, ike->name);
	add_ike_fields(b, ike);
	vici_begin_section(b, "child-sas");
	for (size_t i = 0; i < n; i++)
		add_child_section(b, &children[i]);
	vici_end_section(b);
	vici_end_section(b);
	return finish(b);
}

/* ike-updown { up = yes, <ike> { IKE } } */
static struct vici_node *ike_updown(bool up, const struct ike_def *ike)
{
	struct vici_builder *b = vici_builder_new();
	if (up)
		vici_add_kv(b, "up", "yes");
	vici_begin_section(b, ike->name);
	add_ike_fields(b, ike);
	vici_end_section(b);
	return finish(b);
}

/* child-updown { up = yes, <ike> { IKE, child-sas { <child>-<id> { CHILD } } } } */
static struct vici_node *child_updown(bool up, const struct ike_def *ike, const struct child_def *c)
{
	struct vici_builder *b = vici_builder_new();
	if (up)
		vici_add_kv(b, "up", "yes");
	vici_begin_section(b, ike->name);
	add_ike_fields(b, ike);
	vici_begin_section(b, "child-sas");
	add_child_section(b, c);
	vici_end_section(b);
	vici_end_section(b);
	return finish(b);
}

/* ike-rekey { <ike> { old { IKE }, new { IKE } } } */
static struct vici_node *ike_rekey(const struct ike_def *old, const struct ike_def *new)
{
	struct vici_builder *b = vici_builder_new();
	vici_begin_section(b, old->name);
	vici_begin_section(b, "old");
	add_ike_fields(b, old);
	vici_end_section(b);
	vici_begin_section(b, "new");
	add_ike_fields(b, new);
	vici_end_section(b);
	vici_end_section(b);
	return finish(b);
}

/* child-rekey { <ike> { IKE, child-sas { <child> { old { CHILD }, new { CHILD } } } } } */
static struct vici_node *child_rekey(const struct ike_def *ike, const struct child_def *old,
				     const struct child_def *new)
{
	struct vici_builder *b = vici_builder_new();
	vici_begin_section(b, ike->name);
	add_ike_fields(b, ike);
	vici_begin_section(b, "child-sas");
	vici_begin_section(b, old->name);
	vici_begin_section(b, "old");
	add_child_fields(b, old);
	vici_end_section(b);
	vici_begin_section(b, "new");
	add_child_fields(b, new);
	vici_end_section(b);
	vici_end_section(b);
	vici_end_section(b);
	vici_end_section(b);
	return finish(b);
}

/* ---- helpers ------------------------------------------------------------------ */

static struct sa_flow flow(const char *local, const char *remote, uint8_t proto, uint16_t lport,
			   uint16_t rport)
{
	struct sa_flow f = {.proto = proto, .local_port = lport, .remote_port = rport};
	int fam2;
	assert_int_equal(ts_addr_parse(local, &f.family, f.local), 0);
	assert_int_equal(ts_addr_parse(remote, &fam2, f.remote), 0);
	assert_int_equal(f.family, fam2);
	return f;
}

/* The hub's question: may 192.0.2.1 talk to our port 25? */
static enum sa_match hub_check(const struct sa_table *t, const struct sa_ike **ike,
			       const struct sa_child **child)
{
	struct sa_flow f = flow("192.0.2.2", "192.0.2.1", IPPROTO_TCP, 25, 40000);
	return sa_table_find_covering(t, &f, "edge1", ike, child);
}

/* A table holding one IKE_SA with the given children, refreshed at time 100. */
static struct sa_table *table_with(const struct ike_def *ike, const struct child_def *children,
				   size_t n)
{
	struct sa_table *t = sa_table_new();
	struct sa_table_report rep;
	const struct vici_node *ev[] = {list_sa(ike, children, n)};
	assert_non_null(t);
	assert_int_equal(sa_table_replace(t, ev, 1, 100, &rep), 0);
	return t;
}

/* ---- tests -------------------------------------------------------------------- */

static void test_refresh_fields(void **state)
{
	(void)state;
	struct sa_table *t = sa_table_new();
	struct sa_table_report rep;
	struct child_def second = mail;
	second.name = "mail6";
	second.id = 8;
	second.lts[0] = "2001:db8:2::2/128";
	second.lts[1] = "192.0.2.2/32[tcp/smtp]";
	second.rts[0] = "2001:db8:1::/64";
	const struct child_def kids[] = {mail, second};
	const struct vici_node *ev[] = {list_sa(&edge1, kids, 2)};

	assert_int_equal(sa_table_replace(t, ev, 1, 100, &rep), 0);
	assert_int_equal(rep.ike_added, 1);
	assert_int_equal(rep.child_added, 2);
	assert_int_equal(rep.ike_skipped, 0);
	assert_int_equal(rep.child_skipped, 0);
	assert_false(rep.discarded);
	assert_false(rep.refresh_advisable);
	assert_int_equal(sa_table_ike_count(t), 1);
	assert_int_equal(sa_table_child_count(t), 2);
	assert_null(sa_table_ike_at(t, 1));

	const struct sa_ike *ike = sa_table_ike_at(t, 0);
	assert_non_null(ike);
	assert_string_equal(ike->name, "edge1");
	assert_int_equal(ike->uniqueid, 1);
	assert_int_equal(ike->version, 2);
	assert_string_equal(ike->state, "ESTABLISHED");
	assert_string_equal(ike->local_host, "203.0.113.2");
	assert_int_equal(ike->local_port, 4500);
	assert_string_equal(ike->local_id, "C=US, O=Example, CN=hub.example.com");
	assert_string_equal(ike->remote_host, "203.0.113.1");
	assert_int_equal(ike->remote_port, 4500);
	assert_string_equal(ike->remote_id, EDGE_ID);
	assert_false(ike->initiator);
	assert_string_equal(ike->initiator_spi, "8f2a3b4c5d6e7f01");
	assert_string_equal(ike->responder_spi, "0123456789abcdef");
	assert_string_equal(ike->encr_alg, "AES_GCM_16");
	assert_int_equal(ike->encr_keysize, 256);
	assert_null(ike->integ_alg);
	assert_string_equal(ike->prf_alg, "PRF_HMAC_SHA2_256");
	assert_string_equal(ike->dh_group, "CURVE_25519");
	assert_true(ike->established.set);
	assert_int_equal(ike->established.value, 42);
	assert_true(ike->rekey_time.set);
	assert_int_equal(ike->rekey_time.value, 13000);
	assert_false(ike->reauth_time.set);
	assert_int_equal(ike->reported_at, 100);
	assert_int_equal(ike->child_count, 2);

	const struct sa_child *c = &ike->children[0];
	assert_string_equal(c->name, "mail");
	assert_int_equal(c->uniqueid, 7);
	assert_int_equal(c->reqid, 1);
	assert_string_equal(c->state, "INSTALLED");
	assert_string_equal(c->mode, "TUNNEL");
	assert_string_equal(c->protocol, "ESP");
	assert_false(c->encap);
	assert_string_equal(c->spi_in, "c8a1d3f2");
	assert_string_equal(c->spi_out, "c5e0b1a7");
	assert_string_equal(c->encr_alg, "AES_GCM_16");
	assert_int_equal(c->encr_keysize, 256);
	assert_null(c->integ_alg);
	assert_null(c->dh_group);
	assert_int_equal(c->bytes_in, 1234);
	assert_int_equal(c->packets_in, 10);
	assert_int_equal(c->bytes_out, 5678);
	assert_int_equal(c->packets_out, 12);
	assert_true(c->use_in.set);
	assert_int_equal(c->use_in.value, 3);
	assert_false(c->use_out.set);
	assert_int_equal(c->install_time.value, 100);
	assert_int_equal(c->rekey_time.value, 3100);
	assert_int_equal(c->life_time.value, 3500);
	assert_int_equal(c->reported_at, 100);
	assert_int_equal(c->local_ts.count, 1);
	assert_string_equal(c->local_ts.text[0], "192.0.2.2/32");
	assert_int_equal(c->local_ts.ts[0].family, AF_INET);
	assert_int_equal(c->remote_ts.count, 1);
	assert_string_equal(c->remote_ts.text[0], "192.0.2.1/32");

	c = &ike->children[1];
	assert_string_equal(c->name, "mail6");
	assert_int_equal(c->local_ts.count, 2);
	assert_string_equal(c->local_ts.text[1], "192.0.2.2/32[tcp/smtp]");
	assert_int_equal(c->local_ts.ts[1].proto, IPPROTO_TCP);
	assert_int_equal(c->local_ts.ts[1].from_port, 25);
	assert_int_equal(c->remote_ts.ts[0].family, AF_INET6);

	/* a second refresh replaces everything */
	const struct vici_node *ev2[] = {list_sa(&edge1, &second, 1)};
	assert_int_equal(sa_table_replace(t, ev2, 1, 150, &rep), 0);
	assert_int_equal(sa_table_child_count(t), 1);
	assert_string_equal(sa_table_ike_at(t, 0)->children[0].name, "mail6");
	assert_int_equal(sa_table_ike_at(t, 0)->reported_at, 150);
	sa_table_free(t);
}

static void test_covering_basic(void **state)
{
	(void)state;
	struct sa_table *t = table_with(&edge1, &mail, 1);
	const struct sa_ike *ike = NULL;
	const struct sa_child *child = NULL;
	struct sa_flow f;

	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);
	assert_non_null(ike);
	assert_string_equal(ike->remote_id, EDGE_ID);
	assert_int_equal(child->uniqueid, 7);
	assert_ptr_equal(child, &ike->children[0]);

	/* any connection name, and don't-care protocol and ports */
	f = flow("192.0.2.2", "192.0.2.1", 0, 0, 0);
	assert_int_equal(sa_table_find_covering(t, &f, NULL, NULL, NULL), SA_MATCH_FOUND);
	assert_int_equal(sa_table_find_covering(t, &f, "edge2", &ike, &child), SA_MATCH_NONE);
	assert_null(ike);
	assert_null(child);

	/* the hostile DMZ host, a wrong local address, swapped sides */
	f = flow("192.0.2.2", "203.0.113.66", IPPROTO_TCP, 25, 40000);
	assert_int_equal(sa_table_find_covering(t, &f, "edge1", &ike, &child), SA_MATCH_NONE);
	f = flow("192.0.2.3", "192.0.2.1", IPPROTO_TCP, 25, 40000);
	assert_int_equal(sa_table_find_covering(t, &f, "edge1", &ike, &child), SA_MATCH_NONE);
	f = flow("192.0.2.1", "192.0.2.2", IPPROTO_TCP, 25, 40000);
	assert_int_equal(sa_table_find_covering(t, &f, "edge1", &ike, &child), SA_MATCH_NONE);
	f = flow("2001:db8::2", "2001:db8::1", IPPROTO_TCP, 25, 40000);
	assert_int_equal(sa_table_find_covering(t, &f, "edge1", &ike, &child), SA_MATCH_NONE);

	/* owner of the edge's inner address; the outer address is not inside the tunnel */
	uint8_t a[16];
	int fam;
	assert_int_equal(ts_addr_parse("192.0.2.1", &fam, a), 0);
	assert_int_equal(sa_table_owner(t, fam, a, &ike), SA_MATCH_FOUND);
	assert_string_equal(ike->remote_id, EDGE_ID);
	assert_string_equal(ike->name, "edge1");
	assert_int_equal(ts_addr_parse("203.0.113.1", &fam, a), 0);
	assert_int_equal(sa_table_owner(t, fam, a, &ike), SA_MATCH_NONE);
	assert_null(ike);
	sa_table_free(t);
}

static void test_covering_requires_usable_sa(void **state)
{
	(void)state;
	static const char *const child_states[] = {"REKEYED", "INSTALLING", "CREATED", "DELETING",
						   "ROUTED"};
	static const char *const ike_states[] = {"CONNECTING", "REKEYING", "REKEYED",
						 "DELETING",   "PASSIVE",  "CREATED"};
	const struct sa_ike *ike;
	const struct sa_child *child;
	for (size_t i = 0; i < sizeof(child_states) / sizeof(child_states[0]); i++) {
		struct child_def c = mail;
		c.state = child_states[i];
		struct sa_table *t = table_with(&edge1, &c, 1);
		assert_int_equal(sa_table_child_count(t), 1);
		assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_NONE);
		sa_table_free(t);
	}
	for (size_t i = 0; i < sizeof(ike_states) / sizeof(ike_states[0]); i++) {
		struct ike_def d = edge1;
		d.state = ike_states[i];
		struct sa_table *t = table_with(&d, &mail, 1);
		assert_int_equal(sa_table_child_count(t), 1);
		assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_NONE);
		sa_table_free(t);
	}
	/* AH authenticates but does not encrypt: mail must not travel over it */
	struct child_def ah = mail;
	ah.protocol = "AH";
	struct sa_table *t = table_with(&edge1, &ah, 1);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_NONE);
	sa_table_free(t);
}

static void test_covering_ports_ranges_ipv6(void **state)
{
	(void)state;
	const struct sa_ike *ike;
	const struct sa_child *child;
	struct sa_flow f;

	/* only SMTP to the hub, any source port on the edge */
	struct child_def smtp = mail;
	smtp.lts[0] = "192.0.2.2/32[tcp/smtp]";
	smtp.rts[0] = "192.0.2.1/32[tcp]";
	struct sa_table *t = table_with(&edge1, &smtp, 1);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);
	f = flow("192.0.2.2", "192.0.2.1", IPPROTO_TCP, 587, 40000);
	assert_int_equal(sa_table_find_covering(t, &f, "edge1", &ike, &child), SA_MATCH_NONE);
	f = flow("192.0.2.2", "192.0.2.1", IPPROTO_UDP, 25, 40000);
	assert_int_equal(sa_table_find_covering(t, &f, "edge1", &ike, &child), SA_MATCH_NONE);
	f = flow("192.0.2.2", "192.0.2.1", 0, 0, 0);
	assert_int_equal(sa_table_find_covering(t, &f, "edge1", &ike, &child), SA_MATCH_FOUND);
	sa_table_free(t);

	/* edge addresses as a range, several selectors per side, IPv6 */
	struct child_def multi = mail;
	multi.lts[0] = "2001:db8:2::/64";
	multi.lts[1] = "192.0.2.2/32";
	multi.rts[0] = "2001:db8:1::/64[tcp/1024-65535]";
	multi.rts[1] = "192.0.2.1..192.0.2.9";
	t = table_with(&edge1, &multi, 1);
	f = flow("192.0.2.2", "192.0.2.9", IPPROTO_TCP, 25, 40000);
	assert_int_equal(sa_table_find_covering(t, &f, "edge1", &ike, &child), SA_MATCH_FOUND);
	f = flow("192.0.2.2", "192.0.2.10", IPPROTO_TCP, 25, 40000);
	assert_int_equal(sa_table_find_covering(t, &f, "edge1", &ike, &child), SA_MATCH_NONE);
	f = flow("2001:db8:2::25", "2001:db8:1::7", IPPROTO_TCP, 25, 40000);
	assert_int_equal(sa_table_find_covering(t, &f, "edge1", &ike, &child), SA_MATCH_FOUND);
	f = flow("2001:db8:2::25", "2001:db8:1::7", IPPROTO_TCP, 25, 1023);
	assert_int_equal(sa_table_find_covering(t, &f, "edge1", &ike, &child), SA_MATCH_NONE);
	f = flow("2001:db8:3::25", "2001:db8:1::7", IPPROTO_TCP, 25, 40000);
	assert_int_equal(sa_table_find_covering(t, &f, "edge1", &ike, &child), SA_MATCH_NONE);
	sa_table_free(t);
}

static void test_ambiguous_and_newest(void **state)
{
	(void)state;
	struct sa_table *t = sa_table_new();
	struct sa_table_report rep;
	const struct sa_ike *ike;
	const struct sa_child *child;
	struct ike_def reauth = edge1;
	reauth.id = 2;
	struct child_def newer = mail;
	newer.id = 9;
	newer.spi_in = "deadbeef";
	/* make-before-break: the same peer twice; the newest CHILD_SA answers */
	const struct vici_node *ev[] = {list_sa(&edge1, &mail, 1), list_sa(&reauth, &newer, 1)};
	assert_int_equal(sa_table_replace(t, ev, 2, 100, &rep), 0);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);
	assert_int_equal(ike->uniqueid, 2);
	assert_string_equal(child->spi_in, "deadbeef");

	/* another peer claiming the same inner address: nobody is trusted with it */
	struct ike_def other = {"edge1", 3, "ESTABLISHED", OTHER_ID, {NULL, NULL, NULL}};
	struct child_def oc = mail;
	oc.id = 10;
	const struct vici_node *ev2[] = {list_sa(&edge1, &mail, 1), list_sa(&other, &oc, 1)};
	assert_int_equal(sa_table_replace(t, ev2, 2, 100, &rep), 0);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_AMBIGUOUS);
	assert_null(ike);
	assert_null(child);
	uint8_t a[16];
	int fam;
	assert_int_equal(ts_addr_parse("192.0.2.1", &fam, a), 0);
	assert_int_equal(sa_table_owner(t, fam, a, &ike), SA_MATCH_AMBIGUOUS);
	assert_null(ike);
	sa_table_free(t);
}

static void test_event_child_down(void **state)
{
	(void)state;
	struct sa_table *t = table_with(&edge1, &mail, 1);
	const struct sa_ike *ike;
	const struct sa_child *child;
	struct child_def going = mail;
	going.state = "DELETING";
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);
	assert_int_equal(
		sa_table_apply_event(t, "child-updown", child_updown(false, &edge1, &going), 101),
		SA_EVENT_CHANGED);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_NONE);
	assert_int_equal(sa_table_child_count(t), 0);
	assert_int_equal(sa_table_ike_count(t), 1);
	assert_true(sa_table_is_fresh(t, 101, 30));
	/* the same event again changes nothing */
	assert_int_equal(
		sa_table_apply_event(t, "child-updown", child_updown(false, &edge1, &going), 102),
		0);
	sa_table_free(t);
}

static void test_event_ike_down_and_up(void **state)
{
	(void)state;
	struct sa_table *t = table_with(&edge1, &mail, 1);
	const struct sa_ike *ike;
	const struct sa_child *child;
	struct ike_def going = edge1;
	going.state = "DELETING";
	assert_int_equal(sa_table_apply_event(t, "ike-updown", ike_updown(false, &going), 101),
			 SA_EVENT_CHANGED);
	assert_int_equal(sa_table_ike_count(t), 0);
	assert_int_equal(sa_table_child_count(t), 0);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_NONE);

	/* a new IKE_SA comes up, then its CHILD_SA */
	struct ike_def again = edge1;
	again.id = 5;
	assert_int_equal(sa_table_apply_event(t, "ike-updown", ike_updown(true, &again), 110),
			 SA_EVENT_CHANGED);
	assert_int_equal(sa_table_ike_count(t), 1);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_NONE);
	struct child_def c = mail;
	c.id = 11;
	assert_int_equal(
		sa_table_apply_event(t, "child-updown", child_updown(true, &again, &c), 111),
		SA_EVENT_CHANGED);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);
	assert_int_equal(ike->uniqueid, 5);
	assert_int_equal(child->uniqueid, 11);
	assert_int_equal(child->reported_at, 111);
	/* ike-updown up again (an update) keeps the CHILD_SA */
	assert_int_equal(sa_table_apply_event(t, "ike-updown", ike_updown(true, &again), 112),
			 SA_EVENT_CHANGED);
	assert_int_equal(sa_table_child_count(t), 1);
	assert_int_equal(sa_table_ike_at(t, 0)->reported_at, 112);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);
	/* a child-updown up for an IKE_SA the table never saw brings both */
	struct ike_def third = {"edge1", 6, "ESTABLISHED", EDGE_ID, {NULL, NULL, NULL}};
	struct child_def c3 = mail;
	c3.id = 12;
	assert_int_equal(
		sa_table_apply_event(t, "child-updown", child_updown(true, &third, &c3), 113),
		SA_EVENT_CHANGED);
	assert_int_equal(sa_table_ike_count(t), 2);
	assert_int_equal(sa_table_child_count(t), 2);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);
	assert_int_equal(child->uniqueid, 12);
	/* unknown events are ignored */
	assert_int_equal(sa_table_apply_event(t, "log", ike_updown(false, &third), 114), 0);
	assert_int_equal(sa_table_ike_count(t), 2);
	sa_table_free(t);
}

static void test_event_rekey(void **state)
{
	(void)state;
	struct sa_table *t = table_with(&edge1, &mail, 1);
	const struct sa_ike *ike;
	const struct sa_child *child;

	struct child_def old = mail, new = mail;
	old.state = "REKEYED";
	new.id = 8;
	new.spi_in = "aabbccdd";
	assert_int_equal(
		sa_table_apply_event(t, "child-rekey", child_rekey(&edge1, &old, &new), 120),
		SA_EVENT_CHANGED);
	assert_int_equal(sa_table_child_count(t), 1);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);
	assert_int_equal(child->uniqueid, 8);
	assert_string_equal(child->spi_in, "aabbccdd");

	struct ike_def oldike = edge1, newike = edge1;
	oldike.state = "REKEYED";
	newike.id = 4;
	assert_int_equal(sa_table_apply_event(t, "ike-rekey", ike_rekey(&oldike, &newike), 130),
			 SA_EVENT_CHANGED);
	assert_int_equal(sa_table_ike_count(t), 1);
	assert_int_equal(sa_table_child_count(t), 1);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);
	assert_int_equal(ike->uniqueid, 4);
	assert_int_equal(child->uniqueid, 8);

	/* rekey of an IKE_SA the table does not know: the new one is added, refresh advised */
	struct ike_def ghost = edge1, ghost_new = edge1;
	ghost.id = 40;
	ghost_new.id = 41;
	assert_int_equal(sa_table_apply_event(t, "ike-rekey", ike_rekey(&ghost, &ghost_new), 131),
			 SA_EVENT_CHANGED | SA_EVENT_REFRESH);
	assert_int_equal(sa_table_ike_count(t), 2);
	sa_table_free(t);
}

static void test_ike_rekey_into_listed(void **state)
{
	(void)state;
	/* a refresh already listed the new IKE_SA (with no children yet) */
	struct ike_def newike = edge1;
	newike.id = 2;
	struct sa_table *t = sa_table_new();
	const struct vici_node *ev[] = {list_sa(&edge1, &mail, 1), list_sa(&newike, NULL, 0)};
	assert_int_equal(sa_table_replace(t, ev, 2, 100, NULL), 0);
	assert_int_equal(sa_table_ike_count(t), 2);
	assert_int_equal(sa_table_apply_event(t, "ike-rekey", ike_rekey(&edge1, &newike), 101),
			 SA_EVENT_CHANGED);
	assert_int_equal(sa_table_ike_count(t), 1);
	assert_int_equal(sa_table_child_count(t), 1);
	assert_int_equal(sa_table_ike_at(t, 0)->uniqueid, 2);
	assert_int_equal(sa_table_ike_at(t, 0)->children[0].uniqueid, 7);
	sa_table_free(t);
}

static void test_refresh_skips_malformed(void **state)
{
	(void)state;
	struct sa_table *t = sa_table_new();
	struct sa_table_report rep;
	char long_id[SA_TABLE_MAX_STR + 2];
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';

	static const struct tweak bad_ike[] = {
		{"uniqueid", NULL, NULL},     {"state", NULL, NULL},
		{"remote-id", NULL, NULL},    {NULL, "uniqueid", "seven"},
		{NULL, "uniqueid", "-1"},     {NULL, "uniqueid", "4294967296"},
		{NULL, "version", "3"},	      {NULL, "local-port", "65536"},
		{NULL, "established", "1x"},  {NULL, "remote-id", "CN=edge\r\nX-Evil: 1"},
		{NULL, "initiator", "maybe"},
	};
	static const struct tweak bad_child[] = {
		{"name", NULL, NULL},
		{"state", NULL, NULL},
		{"uniqueid", NULL, NULL},
		{"mode", NULL, NULL},
		{NULL, "spi-in", "xyz"},
		{NULL, "bytes-in", "-5"},
		{NULL, "encap", "perhaps"},
		{NULL, "rekey-time", ""},
		{NULL, "use-in", "18446744073709551616"},
	};
	size_t nike = sizeof(bad_ike) / sizeof(bad_ike[0]);
	size_t nchild = sizeof(bad_child) / sizeof(bad_child[0]);
	const struct vici_node *ev[64];
	size_t n = 0;

	ev[n++] = list_sa(&edge1, &mail, 1); /* the one good IKE_SA */
	for (size_t i = 0; i < nike; i++) {
		struct ike_def d = edge1;
		d.id = 100 + (unsigned)i;
		d.tweak = bad_ike[i];
		struct child_def c = mail;
		c.id = 100 + (unsigned)i;
		ev[n++] = list_sa(&d, &c, 1);
	}
	struct ike_def longd = edge1;
	longd.id = 200;
	longd.remote_id = long_id;
	ev[n++] = list_sa(&longd, NULL, 0);
	ev[n++] = list_sa(&edge1, NULL, 0); /* duplicate uniqueid */

	/* children: the good IKE_SA 300 carries one good and many bad ones */
	struct child_def kids[16];
	size_t nk = 0;
	kids[nk++] = mail;
	kids[0].id = 300;
	for (size_t i = 0; i < nchild; i++) {
		kids[nk] = mail;
		kids[nk].id = 301 + (unsigned)i;
		kids[nk].tweak = bad_child[i];
		nk++;
	}
	kids[nk] = mail;
	kids[nk].id = 320;
	kids[nk].rts[0] = "dynamic";
	nk++;
	kids[nk] = mail;
	kids[nk].id = 321;
	kids[nk].lts[0] = "192.0.2.2/32[tcp/no-such-service-here]";
	nk++;
	kids[nk] = mail;
	kids[nk].id = 300; /* duplicate */
	nk++;
	struct ike_def host = edge1;
	host.id = 300;
	ev[n++] = list_sa(&host, kids, nk);

	/* shapes that are not a list-sa at all */
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "uniqueid", "1");
	ev[n++] = finish(b);
	b = vici_builder_new();
	vici_begin_section(b, "a");
	add_ike_fields(b, &edge1);
	vici_end_section(b);
	vici_begin_section(b, "b");
	vici_end_section(b);
	ev[n++] = finish(b);
	b = vici_builder_new();
	vici_begin_section(b, "nochildren");
	struct ike_def nc = edge1;
	nc.id = 400;
	add_ike_fields(b, &nc);
	vici_end_section(b);
	ev[n++] = finish(b);

	assert_int_equal(sa_table_replace(t, ev, n, 100, &rep), 0);
	assert_int_equal(rep.ike_added, 2);
	assert_int_equal(rep.ike_skipped, nike + 2 + 3);
	assert_int_equal(rep.child_added, 2);
	assert_int_equal(rep.child_skipped, nchild + 3);
	assert_int_equal(sa_table_ike_count(t), 2);
	assert_int_equal(sa_table_child_count(t), 2);
	assert_int_equal(sa_table_ike_at(t, 1)->uniqueid, 300);
	assert_int_equal(sa_table_ike_at(t, 1)->child_count, 1);
	assert_int_equal(sa_table_ike_at(t, 1)->children[0].uniqueid, 300);
	assert_true(sa_table_is_fresh(t, 100, 30));
	sa_table_free(t);
}

static void test_malformed_events(void **state)
{
	(void)state;
	struct sa_table *t = table_with(&edge1, &mail, 1);
	const struct sa_ike *ike;
	const struct sa_child *child;

	/* a down whose SA cannot be told: the whole table goes stale */
	struct child_def noid = mail;
	noid.tweak.omit = "uniqueid";
	assert_int_equal(
		sa_table_apply_event(t, "child-updown", child_updown(false, &edge1, &noid), 101),
		SA_EVENT_MALFORMED | SA_EVENT_REFRESH);
	assert_int_equal(sa_table_freshness(t, 101, 30), SA_STALE_EVENT);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_STALE);
	assert_null(ike);
	assert_int_equal(sa_table_child_count(t), 1); /* still shown */

	/* the next full refresh makes it fresh again */
	const struct vici_node *ev[] = {list_sa(&edge1, &mail, 1)};
	assert_int_equal(sa_table_replace(t, ev, 1, 102, NULL), 0);
	assert_int_equal(sa_table_freshness(t, 102, 30), SA_FRESH);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);

	/* a down that carries its uniqueid but is otherwise broken still removes */
	struct ike_def broken = edge1;
	broken.tweak.omit = "state";
	assert_int_equal(sa_table_apply_event(t, "ike-updown", ike_updown(false, &broken), 103),
			 SA_EVENT_CHANGED);
	assert_int_equal(sa_table_ike_count(t), 0);
	assert_int_equal(sa_table_freshness(t, 103, 30), SA_FRESH);

	/* a broken up is not applied and asks for a refresh; the table stays fresh */
	assert_int_equal(sa_table_apply_event(t, "ike-updown", ike_updown(true, &broken), 104),
			 SA_EVENT_REFRESH);
	assert_int_equal(sa_table_ike_count(t), 0);
	struct child_def badts = mail;
	badts.rts[0] = "dynamic";
	assert_int_equal(
		sa_table_apply_event(t, "child-updown", child_updown(true, &edge1, &badts), 105),
		SA_EVENT_CHANGED | SA_EVENT_REFRESH);
	assert_int_equal(sa_table_child_count(t), 0);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_NONE);

	/* rekeys without the old uniqueid, an event with no IKE section */
	struct ike_def oldnoid = edge1;
	oldnoid.tweak.omit = "uniqueid";
	assert_int_equal(sa_table_apply_event(t, "ike-rekey", ike_rekey(&oldnoid, &edge1), 106),
			 SA_EVENT_MALFORMED | SA_EVENT_REFRESH);
	assert_int_equal(sa_table_freshness(t, 106, 30), SA_STALE_EVENT);
	assert_int_equal(
		sa_table_apply_event(t, "child-rekey", child_rekey(&edge1, &noid, &mail), 107),
		SA_EVENT_MALFORMED | SA_EVENT_REFRESH);
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "up", "yes");
	assert_int_equal(sa_table_apply_event(t, "ike-updown", finish(b), 108),
			 SA_EVENT_MALFORMED | SA_EVENT_REFRESH);
	assert_int_equal(sa_table_apply_event(t, "child-updown", NULL, 109),
			 SA_EVENT_MALFORMED | SA_EVENT_REFRESH);
	sa_table_free(t);
}

static void test_freshness(void **state)
{
	(void)state;
	struct sa_table *t = sa_table_new();
	const struct sa_ike *ike;
	const struct sa_child *child;
	uint64_t when = 0;

	assert_int_equal(sa_table_freshness(t, 0, 30), SA_STALE_NEVER);
	assert_false(sa_table_is_fresh(t, 50, 30));
	assert_false(sa_table_last_refresh(t, &when));
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_STALE);
	/* events before the first refresh are kept but do not make it fresh */
	assert_int_equal(
		sa_table_apply_event(t, "child-updown", child_updown(true, &edge1, &mail), 60),
		SA_EVENT_CHANGED);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_STALE);

	const struct vici_node *ev[] = {list_sa(&edge1, &mail, 1)};
	assert_int_equal(sa_table_replace(t, ev, 1, 100, NULL), 0);
	assert_true(sa_table_last_refresh(t, &when));
	assert_int_equal(when, 100);
	assert_int_equal(sa_table_freshness(t, 100, 30), SA_FRESH);
	assert_int_equal(sa_table_freshness(t, 130, 30), SA_FRESH);
	assert_int_equal(sa_table_freshness(t, 131, 30), SA_STALE_AGE);
	assert_int_equal(sa_table_freshness(t, 99, 30), SA_STALE_AGE);
	assert_string_equal(sa_freshness_name(SA_STALE_AGE), "too-old");
	/* age alone is the caller's check; queries still answer */
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);

	sa_table_mark_disconnected(t);
	assert_int_equal(sa_table_freshness(t, 101, 30), SA_STALE_DISCONNECTED);
	assert_string_equal(sa_freshness_name(SA_STALE_DISCONNECTED), "disconnected");
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_STALE);
	assert_int_equal(sa_table_ike_count(t), 1);

	assert_int_equal(sa_table_replace(t, ev, 1, 200, NULL), 0);
	assert_int_equal(sa_table_freshness(t, 200, 30), SA_FRESH);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);

	/* an empty refresh is a valid answer: no SAs, fresh */
	assert_int_equal(sa_table_replace(t, NULL, 0, 300, NULL), 0);
	assert_int_equal(sa_table_ike_count(t), 0);
	assert_int_equal(sa_table_freshness(t, 300, 30), SA_FRESH);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_NONE);
	sa_table_free(t);
}

static void test_events_during_refresh(void **state)
{
	(void)state;
	struct sa_table *t = table_with(&edge1, &mail, 1);
	struct sa_table_report rep;
	const struct sa_ike *ike;
	const struct sa_child *child;

	/* charon lists the CHILD_SA, then it goes down before the listing ends */
	sa_table_refresh_begin(t);
	assert_int_equal(sa_table_refresh_add(t, list_sa(&edge1, &mail, 1)), 0);
	assert_int_equal(
		sa_table_apply_event(t, "child-updown", child_updown(false, &edge1, &mail), 101),
		SA_EVENT_CHANGED);
	assert_int_equal(sa_table_refresh_commit(t, 102, &rep), 0);
	assert_int_equal(rep.child_added, 1);
	assert_int_equal(rep.dropped_by_events, 1);
	assert_false(rep.refresh_advisable);
	assert_int_equal(sa_table_child_count(t), 0);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_NONE);

	/* the IKE_SA goes down after being listed: gone with its children */
	sa_table_refresh_begin(t);
	assert_int_equal(sa_table_refresh_add(t, list_sa(&edge1, &mail, 1)), 0);
	sa_table_apply_event(t, "ike-updown", ike_updown(false, &edge1), 103);
	assert_int_equal(sa_table_refresh_commit(t, 104, &rep), 0);
	assert_int_equal(rep.dropped_by_events, 1);
	assert_int_equal(sa_table_ike_count(t), 0);

	/* something came up meanwhile: the refresh may lack it */
	struct ike_def newer = edge1;
	newer.id = 2;
	struct child_def nc = mail;
	nc.id = 20;
	sa_table_refresh_begin(t);
	assert_int_equal(sa_table_refresh_add(t, list_sa(&edge1, &mail, 1)), 0);
	assert_int_equal(
		sa_table_apply_event(t, "child-updown", child_updown(true, &newer, &nc), 105),
		SA_EVENT_CHANGED);
	assert_int_equal(sa_table_refresh_commit(t, 106, &rep), 0);
	assert_true(rep.refresh_advisable);
	assert_int_equal(rep.dropped_by_events, 0);
	assert_int_equal(sa_table_ike_at(t, 0)->uniqueid, 1);

	/* the event connection drops during a refresh: it is discarded */
	sa_table_refresh_begin(t);
	assert_int_equal(sa_table_refresh_add(t, list_sa(&newer, &nc, 1)), 0);
	sa_table_mark_disconnected(t);
	assert_int_equal(sa_table_refresh_add(t, list_sa(&edge1, &mail, 1)), -1);
	assert_int_equal(sa_table_refresh_commit(t, 107, &rep), -1);
	assert_true(rep.discarded);
	assert_true(rep.refresh_advisable);
	assert_int_equal(sa_table_ike_at(t, 0)->uniqueid, 1); /* unchanged */
	assert_int_equal(sa_table_freshness(t, 107, 30), SA_STALE_DISCONNECTED);

	/* a refresh begun after reconnecting clears it */
	sa_table_refresh_begin(t);
	assert_int_equal(sa_table_refresh_add(t, list_sa(&newer, &nc, 1)), 0);
	assert_int_equal(sa_table_refresh_commit(t, 108, &rep), 0);
	assert_int_equal(sa_table_freshness(t, 108, 30), SA_FRESH);
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_FOUND);
	assert_int_equal(child->uniqueid, 20);

	/* misuse: add or commit with no refresh begun; abort leaves the table */
	assert_int_equal(sa_table_refresh_add(t, list_sa(&edge1, &mail, 1)), -1);
	assert_int_equal(sa_table_refresh_commit(t, 109, &rep), -1);
	assert_false(rep.discarded);
	sa_table_refresh_begin(t);
	assert_int_equal(sa_table_refresh_add(t, list_sa(&edge1, &mail, 1)), 0);
	sa_table_refresh_abort(t);
	assert_int_equal(sa_table_refresh_commit(t, 110, &rep), -1);
	assert_int_equal(sa_table_ike_at(t, 0)->uniqueid, 2);
	assert_true(sa_table_last_refresh(t, &(uint64_t){0}));
	sa_table_free(t);
}

static void test_too_many_downs_during_refresh(void **state)
{
	(void)state;
	struct sa_table *t = table_with(&edge1, &mail, 1);
	struct sa_table_report rep;
	sa_table_refresh_begin(t);
	assert_int_equal(sa_table_refresh_add(t, list_sa(&edge1, &mail, 1)), 0);
	for (unsigned i = 0; i <= SA_TABLE_MAX_TOMBSTONES; i++) {
		struct child_def c = mail;
		c.id = 1000 + i;
		sa_table_apply_event(t, "child-updown", child_updown(false, &edge1, &c), 101);
	}
	assert_int_equal(sa_table_refresh_commit(t, 102, &rep), -1);
	assert_true(rep.discarded);
	assert_int_equal(sa_table_child_count(t), 1); /* the old content is kept */
	sa_table_free(t);
}

static void test_limits(void **state)
{
	(void)state;
	struct sa_table *t = sa_table_new();
	struct sa_table_report rep;

	/* more IKE_SAs than the table holds, each with one CHILD_SA */
	size_t n = SA_TABLE_MAX_IKE + 3;
	const struct vici_node **ev = calloc(n, sizeof(*ev));
	assert_non_null(ev);
	for (size_t i = 0; i < n; i++) {
		struct ike_def d = edge1;
		struct child_def c = mail;
		d.id = 1 + (unsigned)i;
		c.id = 1 + (unsigned)i;
		ev[i] = list_sa(&d, &c, 1);
	}
	assert_int_equal(sa_table_replace(t, ev, n, 100, &rep), 0);
	assert_int_equal(rep.ike_added, SA_TABLE_MAX_IKE);
	assert_int_equal(rep.ike_skipped, 3);
	assert_int_equal(rep.child_added, SA_TABLE_MAX_CHILD);
	assert_int_equal(sa_table_ike_count(t), SA_TABLE_MAX_IKE);
	assert_int_equal(sa_table_child_count(t), SA_TABLE_MAX_CHILD);
	/* a further CHILD_SA by event does not fit */
	struct child_def extra = mail;
	extra.id = 99999;
	assert_int_equal(
		sa_table_apply_event(t, "child-updown", child_updown(true, &edge1, &extra), 101),
		SA_EVENT_CHANGED | SA_EVENT_REFRESH);
	assert_int_equal(sa_table_child_count(t), SA_TABLE_MAX_CHILD);
	free(ev);

	/* too many selectors on one side */
	struct vici_builder *b = vici_builder_new();
	vici_begin_section(b, "edge1");
	add_ike_fields(b, &edge1);
	vici_begin_section(b, "child-sas");
	vici_begin_section(b, "mail-7");
	struct child_def no_remote = mail;
	no_remote.rts[0] = NULL; /* valid, but covers no remote address */
	add_child_fields(b, &no_remote);
	vici_end_section(b);
	vici_begin_section(b, "mail-8");
	vici_add_kv(b, "name", "mail");
	vici_add_kv(b, "uniqueid", "8");
	vici_add_kv(b, "reqid", "1");
	vici_add_kv(b, "state", "INSTALLED");
	vici_add_kv(b, "mode", "TUNNEL");
	vici_add_kv(b, "protocol", "ESP");
	vici_begin_list(b, "local-ts");
	for (unsigned i = 0; i <= SA_TABLE_MAX_TS; i++) {
		char ts[32];
		snprintf(ts, sizeof(ts), "10.0.%u.0/24", i);
		vici_add_list_item(b, ts);
	}
	vici_end_list(b);
	vici_begin_list(b, "remote-ts");
	vici_add_list_item(b, "192.0.2.1/32");
	vici_end_list(b);
	vici_end_section(b);
	vici_end_section(b);
	vici_end_section(b);
	const struct vici_node *one[] = {finish(b)};
	assert_int_equal(sa_table_replace(t, one, 1, 200, &rep), 0);
	assert_int_equal(rep.ike_added, 1);
	assert_int_equal(rep.child_added, 1);	/* mail-7, with no remote selectors */
	assert_int_equal(rep.child_skipped, 1); /* mail-8 */
	const struct sa_ike *ike;
	const struct sa_child *child;
	assert_int_equal(hub_check(t, &ike, &child), SA_MATCH_NONE);
	sa_table_free(t);
}

static void test_free_null(void **state)
{
	(void)state;
	sa_table_free(NULL);
	struct sa_table *t = sa_table_new();
	assert_null(sa_table_ike_at(t, 0));
	assert_int_equal(sa_table_ike_count(t), 0);
	sa_table_refresh_begin(t);
	assert_int_equal(sa_table_refresh_add(t, list_sa(&edge1, &mail, 1)), 0);
	sa_table_free(t); /* a pending refresh is freed too */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_refresh_fields, teardown),
		cmocka_unit_test_teardown(test_covering_basic, teardown),
		cmocka_unit_test_teardown(test_covering_requires_usable_sa, teardown),
		cmocka_unit_test_teardown(test_covering_ports_ranges_ipv6, teardown),
		cmocka_unit_test_teardown(test_ambiguous_and_newest, teardown),
		cmocka_unit_test_teardown(test_event_child_down, teardown),
		cmocka_unit_test_teardown(test_event_ike_down_and_up, teardown),
		cmocka_unit_test_teardown(test_event_rekey, teardown),
		cmocka_unit_test_teardown(test_ike_rekey_into_listed, teardown),
		cmocka_unit_test_teardown(test_refresh_skips_malformed, teardown),
		cmocka_unit_test_teardown(test_malformed_events, teardown),
		cmocka_unit_test_teardown(test_freshness, teardown),
		cmocka_unit_test_teardown(test_events_during_refresh, teardown),
		cmocka_unit_test_teardown(test_too_many_downs_during_refresh, teardown),
		cmocka_unit_test_teardown(test_limits, teardown),
		cmocka_unit_test_teardown(test_free_null, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

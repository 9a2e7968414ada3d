/*
 * The edge's hub choice (relay/forward_choice.c): SA tables shaped like
 * charon's list-sa messages (encoded with the VICI builder, parsed back,
 * fed to the SA table), hubs as edge.hubs builds them, failure state and
 * time given. Testbed names: the edge (inner 192.0.2.1) reaches hub
 * 192.0.2.2 over connection "airlock" and hub2 192.0.2.3 over
 * "airlock-hub2".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/netaddr.h"
#include "relay/forward_choice.h"
#include "tunnel/sa_table.h"
#include "tunnel/vici_msg.h"

#define T0 1000

struct sa_def {
	const char *conn;
	unsigned id;
	const char *ike_state;
	const char *child_state;
	const char *lts, *rts;
};

static struct vici_node *list_sa(const struct sa_def *d)
{
	struct vici_builder *b = vici_builder_new();
	const uint8_t *data;
	size_t len;
	struct vici_node *root;
	char sec[64];

	vici_begin_section(b, d->conn);
	vici_add_kvf(b, "uniqueid", "%u", d->id);
	vici_add_kv(b, "version", "2");
	vici_add_kv(b, "state", d->ike_state);
	vici_add_kv(b, "local-host", "203.0.113.1");
	vici_add_kv(b, "local-id", "edge.example.com");
	vici_add_kv(b, "remote-host", "203.0.113.2");
	vici_add_kvf(b, "remote-id", "%s.example.com", d->conn);
	vici_add_kv(b, "initiator-spi", "8f2a3b4c5d6e7f01");
	vici_add_kv(b, "responder-spi", "0123456789abcdef");
	if (strcmp(d->ike_state, "ESTABLISHED") == 0)
		vici_add_kv(b, "established", "42");
	vici_begin_section(b, "child-sas");
	snprintf(sec, sizeof(sec), "%s-%u", d->conn, d->id);
	vici_begin_section(b, sec);
	vici_add_kv(b, "name", d->conn);
	vici_add_kvf(b, "uniqueid", "%u", d->id);
	vici_add_kv(b, "reqid", "1");
	vici_add_kv(b, "state", d->child_state);
	vici_add_kv(b, "mode", "TUNNEL");
	vici_add_kv(b, "protocol", "ESP");
	vici_add_kv(b, "encap", "yes");
	vici_add_kv(b, "spi-in", "c8a1d3f2");
	vici_add_kv(b, "spi-out", "c5e0b1a7");
	vici_add_kv(b, "bytes-in", "0");
	vici_add_kv(b, "packets-in", "0");
	vici_add_kv(b, "bytes-out", "0");
	vici_add_kv(b, "packets-out", "0");
	vici_add_kv(b, "install-time", "10");
	vici_begin_list(b, "local-ts");
	vici_add_list_item(b, d->lts);
	vici_end_list(b);
	vici_begin_list(b, "remote-ts");
	vici_add_list_item(b, d->rts);
	vici_end_list(b);
	vici_end_section(b);
	vici_end_section(b);
	vici_end_section(b);
	assert_int_equal(vici_builder_finish(b, &data, &len), 0);
	assert_int_equal(vici_msg_parse(data, len, &root, NULL), 0);
	vici_builder_free(b);
	return root;
}

static struct sa_table *table_of(const struct sa_def *defs, size_t n)
{
	struct sa_table *t = sa_table_new();
	const struct vici_node *ev[4];
	struct vici_node *owned[4];
	assert_non_null(t);
	for (size_t i = 0; i < n; i++)
		ev[i] = owned[i] = list_sa(&defs[i]);
	assert_int_equal(sa_table_replace(t, ev, n, T0, NULL), 0);
	for (size_t i = 0; i < n; i++)
		vici_node_free(owned[i]);
	return t;
}

static const struct sa_def HUB1 = {"airlock",	  1, "ESTABLISHED", "INSTALLED", "192.0.2.1/32",
				   "192.0.2.2/32"};
static const struct sa_def HUB2 = {"airlock-hub2", 2, "ESTABLISHED", "INSTALLED", "192.0.2.1/32",
				   "192.0.2.3/32"};

static void add_hub(struct forward_hubs *h, const char *addr, int prio, const char *conn)
{
	struct forward_hub *x = &h->hub[h->n++];
	memset(x, 0, sizeof(*x));
	snprintf(x->address, sizeof(x->address), "%s", addr);
	assert_int_equal(netaddr_parse(addr, &x->addr, &x->addr_len), 0);
	x->priority = prio;
	snprintf(x->connection, sizeof(x->connection), "%s", conn);
	snprintf(x->child, sizeof(x->child), "%s", conn);
}

/* Two hubs as the testbed has them: hub (prio 10, listed second), hub2 (prio 20). */
struct fx {
	struct forward_hubs hubs;
	struct forward_health health[FORWARD_HUBS_MAX];
	struct forward_view v;
	struct forward_choice c;
	struct sa_table *t;
};

static void fx_init(struct fx *f, struct sa_table *t)
{
	memset(f, 0, sizeof(*f));
	add_hub(&f->hubs, "192.0.2.3:25", 20, "airlock-hub2");
	add_hub(&f->hubs, "192.0.2.2:25", 10, "airlock");
	f->t = t;
	f->v.hubs = &f->hubs;
	f->v.health = f->health;
	f->v.table = t;
	f->v.vici_connected = true;
	f->v.freshness = SA_FRESH;
	f->v.local_family = AF_INET;
	f->v.local[0] = 192;
	f->v.local[1] = 0;
	f->v.local[2] = 2;
	f->v.local[3] = 1;
	f->v.now = T0;
}

static void choose(struct fx *f)
{
	forward_choose(&f->v, &f->c);
}

static void test_prefers_lowest_priority_with_sa(void **state)
{
	(void)state;
	struct sa_def both[] = {HUB2, HUB1};
	struct fx f;
	fx_init(&f, table_of(both, 2));
	choose(&f);
	assert_int_equal(f.c.hub, 1); /* 192.0.2.2, priority 10, though listed second */
	assert_int_equal(f.c.state[0], FORWARD_HUB_UP);
	assert_int_equal(f.c.state[1], FORWARD_HUB_UP);
	assert_false(f.c.initiate[0]);
	assert_false(f.c.initiate[1]);
	sa_table_free(f.t);
}

static void test_falls_back_when_preferred_has_no_sa(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, table_of(&HUB2, 1));
	choose(&f);
	assert_int_equal(f.c.hub, 0);
	assert_int_equal(f.c.state[1], FORWARD_HUB_NO_SA);
	assert_true(f.c.initiate[1]); /* the preferred hub is brought back */
	assert_false(f.c.initiate[0]);
	assert_string_equal(forward_hub_state_name(f.c.state[1]), "no-sa");
	sa_table_free(f.t);
}

static void test_no_sa_anywhere(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, table_of(NULL, 0));
	choose(&f);
	assert_int_equal(f.c.hub, -1);
	assert_string_equal(f.c.why, "no SA to hub 192.0.2.2:25 (airlock/airlock)");
	assert_true(f.c.initiate[0]);
	assert_true(f.c.initiate[1]);
	sa_table_free(f.t);
}

static void test_sa_must_be_usable_and_cover(void **state)
{
	(void)state;
	/* Not INSTALLED, not ESTABLISHED, wrong selectors, wrong connection name. */
	const struct sa_def bad[] = {
		{"airlock", 1, "ESTABLISHED", "REKEYED", "192.0.2.1/32", "192.0.2.2/32"},
		{"airlock", 1, "CONNECTING", "INSTALLED", "192.0.2.1/32", "192.0.2.2/32"},
		{"airlock", 1, "ESTABLISHED", "INSTALLED", "192.0.2.9/32", "192.0.2.2/32"},
		{"airlock", 1, "ESTABLISHED", "INSTALLED", "192.0.2.1/32", "192.0.2.2/32[tcp/26]"},
		{"other", 1, "ESTABLISHED", "INSTALLED", "192.0.2.1/32", "192.0.2.2/32"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fx f;
		fx_init(&f, table_of(&bad[i], 1));
		choose(&f);
		if (f.c.hub != -1)
			fail_msg("case %zu chose hub %d", i, f.c.hub);
		assert_int_equal(f.c.state[1], FORWARD_HUB_NO_SA);
		sa_table_free(f.t);
	}
	/* A selector limited to the hub's port covers it. */
	const struct sa_def port = {
		"airlock", 1, "ESTABLISHED", "INSTALLED", "192.0.2.1/32", "192.0.2.2/32[tcp/25]"};
	struct fx f;
	fx_init(&f, table_of(&port, 1));
	choose(&f);
	assert_int_equal(f.c.hub, 1);
	sa_table_free(f.t);
}

static void test_fail_closed(void **state)
{
	(void)state;
	struct sa_def both[] = {HUB2, HUB1};
	struct fx f;
	fx_init(&f, table_of(both, 2));
	f.v.vici_connected = false;
	choose(&f);
	assert_int_equal(f.c.hub, -1);
	assert_string_equal(f.c.why, "VICI unreachable");
	assert_false(f.c.initiate[0] || f.c.initiate[1]);
	f.v.vici_connected = true;
	f.v.freshness = SA_STALE_AGE;
	choose(&f);
	assert_int_equal(f.c.hub, -1);
	assert_non_null(strstr(f.c.why, "SA table stale"));
	assert_false(f.c.initiate[0] || f.c.initiate[1]);
	f.v.freshness = SA_FRESH;
	f.v.table = NULL;
	choose(&f);
	assert_int_equal(f.c.hub, -1);
	sa_table_free(f.t);
}

static void test_failing_hub_held_down_then_back(void **state)
{
	(void)state;
	struct sa_def both[] = {HUB2, HUB1};
	struct fx f;
	fx_init(&f, table_of(both, 2));
	forward_health_failed(&f.health[1], T0, 20, "connect to 192.0.2.2:25: Connection refused");
	choose(&f);
	assert_int_equal(f.c.hub, 0); /* hub2 while hub is held down */
	assert_int_equal(f.c.state[1], FORWARD_HUB_FAILING);
	assert_false(f.c.initiate[1]); /* it has an SA: nothing to initiate */
	f.v.now = T0 + 19;
	choose(&f);
	assert_int_equal(f.c.hub, 0);
	f.v.now = T0 + 20; /* the hold-down is over: mail comes back */
	choose(&f);
	assert_int_equal(f.c.hub, 1);
	/* Both failing: the preferred one all the same (messages keep their back-off). */
	f.v.now = T0 + 30;
	forward_health_failed(&f.health[1], T0 + 30, 20, "421 4.3.2 busy");
	forward_health_failed(&f.health[0], T0 + 30, 20, "timeout");
	choose(&f);
	assert_int_equal(f.c.hub, 1);
	assert_int_equal(f.c.state[0], FORWARD_HUB_FAILING);
	assert_int_equal(f.c.state[1], FORWARD_HUB_FAILING);
	assert_int_equal(f.health[1].failures, 2);
	/* Only hub2 has an SA, and it is failing: hub2, and hub is initiated. */
	sa_table_free(f.t);
	f.t = table_of(&HUB2, 1);
	f.v.table = f.t;
	choose(&f);
	assert_int_equal(f.c.hub, 0);
	assert_true(f.c.initiate[1]);
	forward_health_ok(&f.health[0]);
	assert_int_equal(f.health[0].failures, 0);
	choose(&f);
	assert_int_equal(f.c.state[0], FORWARD_HUB_UP);
	sa_table_free(f.t);
}

static void test_family_mismatch(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, table_of(&HUB1, 1));
	f.hubs.n = 0;
	add_hub(&f.hubs, "[2001:db8::2]:25", 10, "airlock");
	choose(&f);
	assert_int_equal(f.c.hub, -1);
	f.hubs.n = 0;
	choose(&f);
	assert_string_equal(f.c.why, "no hub configured");
	sa_table_free(f.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefers_lowest_priority_with_sa),
		cmocka_unit_test(test_falls_back_when_preferred_has_no_sa),
		cmocka_unit_test(test_no_sa_anywhere),
		cmocka_unit_test(test_sa_must_be_usable_and_cover),
		cmocka_unit_test(test_fail_closed),
		cmocka_unit_test(test_failing_hub_held_down_then_back),
		cmocka_unit_test(test_family_mismatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for the fragments airlock-cert writes (acert_frag.c) and the
 * "key=value" parameter reader (acert_params.c): identity-based certificate
 * selection (no pinned local certs), the CA pinned for the peer, the same
 * connection in the VICI load-conn message, make-before-break, the hub's
 * airlock.conf fragment loading with the real config loader, and values that
 * would break out of their line refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "tunnel/airlock_cert/acert_frag.h"
#include "tunnel/airlock_cert/acert_params.h"

static struct acert_conn edge_conn(void)
{
	struct acert_conn c;
	acert_conn_defaults(&c);
	snprintf(c.local_addrs, sizeof(c.local_addrs), "203.0.113.1");
	snprintf(c.remote_addrs, sizeof(c.remote_addrs), "203.0.113.2,203.0.113.3");
	snprintf(c.local_id, sizeof(c.local_id), "edge.example.com");
	snprintf(c.remote_id, sizeof(c.remote_id), "hub.example.com");
	snprintf(c.local_ts, sizeof(c.local_ts), "192.0.2.1/32");
	snprintf(c.remote_ts, sizeof(c.remote_ts), "192.0.2.2/32");
	return c;
}

static void test_swanctl_fragment(void **state)
{
	(void)state;
	struct acert_conn c = edge_conn();
	char err[200];
	assert_int_equal(acert_conn_check(&c, err, sizeof(err)), 0);
	char *t = acert_frag_swanctl(&c);
	assert_non_null(t);
	assert_non_null(
		strstr(t, "\t\tlocal {\n\t\t\tauth = pubkey\n\t\t\tid = edge.example.com\n"));
	assert_non_null(strstr(t, "\t\t\tid = hub.example.com\n\t\t\tcacerts = airlock-ca.crt\n"));
	assert_non_null(strstr(t, "remote_addrs = 203.0.113.2,203.0.113.3\n"));
	assert_non_null(strstr(t, "local_ts = 192.0.2.1/32\n"));
	assert_non_null(strstr(t, "encap = yes\n"));
	/* Rotation depends on charon choosing the certificate by identity. */
	assert_null(strstr(t, "\tcerts = "));
	free(t);
	assert_non_null(strstr(acert_frag_strongswan(), "make_before_break = yes"));
}

static void test_vici_conn(void **state)
{
	(void)state;
	struct acert_conn c = edge_conn();
	struct vici_builder *b = acert_frag_vici_conn(&c, "-----BEGIN CERTIFICATE-----\n");
	const uint8_t *data;
	size_t len;
	assert_int_equal(vici_builder_finish(b, &data, &len), 0);
	struct vici_node *root;
	assert_int_equal(vici_msg_parse(data, len, &root, NULL), 0);
	const struct vici_node *conn = vici_child(root, "airlock");
	assert_non_null(conn);
	const struct vici_node *ra = vici_child(conn, "remote_addrs");
	assert_non_null(ra);
	assert_string_equal((const char *)ra->first->value, "203.0.113.2");
	assert_string_equal((const char *)ra->first->next->value, "203.0.113.3");
	assert_string_equal(vici_str(vici_child(conn, "local"), "id"), "edge.example.com");
	assert_null(vici_child(vici_child(conn, "local"), "certs"));
	const struct vici_node *remote = vici_child(conn, "remote");
	assert_string_equal(vici_str(remote, "id"), "hub.example.com");
	assert_non_null(vici_child(remote, "cacerts"));
	const struct vici_node *child = vici_child(vici_child(conn, "children"), "airlock");
	assert_non_null(child);
	assert_string_equal(vici_str(child, "start_action"), "none");
	assert_string_equal((const char *)vici_child(child, "local_ts")->first->value,
			    "192.0.2.1/32");
	vici_node_free(root);
	vici_builder_free(b);
}

static void test_airlock_fragments(void **state)
{
	(void)state;
	struct acert_conn c;
	acert_conn_defaults(&c);
	snprintf(c.local_addrs, sizeof(c.local_addrs), "203.0.113.2");
	snprintf(c.remote_addrs, sizeof(c.remote_addrs), "%%any");
	snprintf(c.local_id, sizeof(c.local_id), "hub.example.com");
	snprintf(c.remote_id, sizeof(c.remote_id), "%%any");
	snprintf(c.local_ts, sizeof(c.local_ts), "192.0.2.2/32");
	snprintf(c.remote_ts, sizeof(c.remote_ts), "192.0.2.1/32");
	char *hub = acert_frag_airlock_hub(&c, "/var/lib/airlock/trusted-edges");
	assert_non_null(hub);
	/* The hub keys of the shared config contract, loaded by the real loader. */
	struct airlock_config cfg;
	char err[512];
	assert_int_equal(config_load_string(hub, "hub-fragment", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.hub.nlisten, 1);
	assert_string_equal(cfg.hub.listen[0], "192.0.2.2:25");
	assert_string_equal(cfg.hub.connections[0], "airlock");
	assert_string_equal(cfg.hub.trusted_keys, "/var/lib/airlock/trusted-edges");
	assert_string_equal(cfg.tunnel.local_address, "192.0.2.2");
	config_release(&cfg);
	free(hub);

	struct acert_conn e = edge_conn();
	char *edge = acert_frag_airlock_edge(&e, "/var/lib/airlock");
	assert_non_null(strstr(edge, "hubs = ( { address = \"192.0.2.2:25\"; priority = 10; } );"));
	assert_non_null(strstr(edge, "local_address = \"192.0.2.1\";"));
	free(edge);
}

static void test_values_refused(void **state)
{
	(void)state;
	char err[200];
	const char *bad[] = {"edge.example.com\n\t\tcerts = x", "a b", "x\"y", "a{", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct acert_conn c = edge_conn();
		snprintf(c.local_id, sizeof(c.local_id), "%s", bad[i]);
		assert_int_equal(acert_conn_check(&c, err, sizeof(err)), -1);
		c = edge_conn();
		snprintf(c.remote_ts, sizeof(c.remote_ts), "%s", bad[i]);
		assert_int_equal(acert_conn_check(&c, err, sizeof(err)), -1);
	}
	struct acert_conn c = edge_conn();
	snprintf(c.start_action, sizeof(c.start_action), "restart");
	assert_int_equal(acert_conn_check(&c, err, sizeof(err)), -1);
}

static void test_params_round_trip(void **state)
{
	(void)state;
	struct acert_conn c = edge_conn(), back;
	struct acert_params *p = calloc(1, sizeof(*p)), *q = calloc(1, sizeof(*q));
	char err[200];
	assert_int_equal(acert_params_set(p, "role", "edge", err, sizeof(err)), 0);
	assert_int_equal(acert_conn_to_params(&c, p, err, sizeof(err)), 0);
	size_t len;
	char *text = acert_params_format(p, &len);
	assert_int_equal(acert_params_parse(text, len, q, err, sizeof(err)), 0);
	assert_string_equal(acert_params_get(q, "role"), "edge");
	assert_int_equal(acert_conn_from_params(q, &back, err, sizeof(err)), 0);
	assert_memory_equal(&c, &back, sizeof(c));
	free(text);

	const char *bad[] = {
		"a=b",	      /* no newline */
		"a=b\na=c\n", /* twice */
		"A=b\n",      /* key charset */
		"a\n",	      /* no '=' */
		"a=b\r\n",    /* CR */
		"a=\x01\n",   /* control character */
		"=b\n",	      /* empty key */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(acert_params_parse(bad[i], strlen(bad[i]), q, err, sizeof(err)),
				 -1);
	assert_int_equal(acert_params_parse("# c\n\na=\n", 8, q, err, sizeof(err)), 0);
	assert_string_equal(acert_params_get(q, "a"), "");
	/* A missing connection key is named. */
	assert_int_equal(acert_params_parse("conn=airlock\n", 13, q, err, sizeof(err)), 0);
	assert_int_equal(acert_conn_from_params(q, &back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "child missing"));
	free(p);
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swanctl_fragment),  cmocka_unit_test(test_vici_conn),
		cmocka_unit_test(test_airlock_fragments), cmocka_unit_test(test_values_refused),
		cmocka_unit_test(test_params_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

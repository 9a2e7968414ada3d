/*
 * The tunnel health check, the status JSON, and certificate decoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tunnel/cert_info.h"
#include "tunnel/tunnel_status.h"

#define NOW 1800000000 /* a fixed wall clock for the tests */

/* A self-signed certificate valid for days from NOW, as DER. */
static uint8_t *make_cert_der(const char *cn, long days, long serial, size_t *len)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(key);
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &(time_t){NOW});
	X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &(time_t){NOW});
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"airlock", -1,
				   -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, key);
	char san[300];
	snprintf(san, sizeof(san), "DNS:%s", cn);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	uint8_t *copy = malloc((size_t)n);
	memcpy(copy, der, (size_t)n);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(key);
	return copy;
}

static void test_cert_info(void **state)
{
	(void)state;
	size_t len;
	uint8_t *der = make_cert_der("edge.example.com", 365, 0x1234abcd, &len);
	struct cert_info ci;
	assert_int_equal(cert_info_from_der(der, len, &ci), 0);
	assert_string_equal(ci.subject, "CN=edge.example.com,O=airlock");
	assert_string_equal(ci.issuer, "CN=edge.example.com,O=airlock");
	assert_string_equal(ci.serial, "1234ABCD");
	assert_string_equal(ci.san, "edge.example.com");
	assert_int_equal(ci.not_before, NOW);
	assert_int_equal(ci.not_after, NOW + 365 * 86400);
	assert_int_equal(cert_info_days_left(&ci, NOW), 365);
	assert_int_equal(cert_info_days_left(&ci, NOW + 365 * 86400 - 1), 0);
	assert_int_equal(cert_info_days_left(&ci, NOW + 365 * 86400 + 1), -1);
	/* Truncated DER is refused. */
	assert_int_equal(cert_info_from_der(der, len / 2, &ci), -1);
	assert_string_equal(ci.subject, "");
	free(der);
}

/* One list-sa event: IKE "airlock" #ike_id with CHILD "airlock" in child_state. */
static struct vici_node *list_sa(const char *ike_state, const char *child_state, unsigned ike_id,
				 const char *local_ts, const char *remote_ts)
{
	struct vici_builder *b = vici_builder_new();
	vici_begin_section(b, "airlock");
	vici_add_kvf(b, "uniqueid", "%u", ike_id);
	vici_add_kv(b, "version", "2");
	vici_add_kv(b, "state", ike_state);
	vici_add_kv(b, "local-host", "203.0.113.1");
	vici_add_kv(b, "local-port", "4500");
	vici_add_kv(b, "local-id", "edge.example.com");
	vici_add_kv(b, "remote-host", "203.0.113.2");
	vici_add_kv(b, "remote-port", "4500");
	vici_add_kv(b, "remote-id", "hub.example.com");
	vici_add_kv(b, "initiator", "yes");
	vici_add_kv(b, "encr-alg", "AES_GCM_16");
	vici_add_kv(b, "encr-keysize", "256");
	vici_add_kv(b, "prf-alg", "PRF_HMAC_SHA2_256");
	vici_add_kv(b, "dh-group", "ECP_256");
	vici_add_kv(b, "established", "12");
	vici_add_kv(b, "rekey-time", "13000");
	vici_begin_section(b, "child-sas");
	vici_begin_section(b, "airlock-3");
	vici_add_kv(b, "name", "airlock");
	vici_add_kv(b, "uniqueid", "3");
	vici_add_kv(b, "reqid", "1");
	vici_add_kv(b, "state", child_state);
	vici_add_kv(b, "mode", "TUNNEL");
	vici_add_kv(b, "protocol", "ESP");
	vici_add_kv(b, "encap", "yes");
	vici_add_kv(b, "spi-in", "c1a2b3c4");
	vici_add_kv(b, "spi-out", "c4b3a2c1");
	vici_add_kv(b, "encr-alg", "AES_GCM_16");
	vici_add_kv(b, "encr-keysize", "256");
	vici_add_kv(b, "bytes-in", "1000");
	vici_add_kv(b, "packets-in", "10");
	vici_add_kv(b, "use-in", "3");
	vici_add_kv(b, "bytes-out", "2000");
	vici_add_kv(b, "packets-out", "20");
	vici_add_kv(b, "rekey-time", "3000");
	vici_add_kv(b, "life-time", "3500");
	vici_add_kv(b, "install-time", "10");
	vici_begin_list(b, "local-ts");
	vici_add_list_item(b, local_ts);
	vici_end_list(b);
	vici_begin_list(b, "remote-ts");
	vici_add_list_item(b, remote_ts);
	vici_end_list(b);
	vici_end_section(b);
	vici_end_section(b);
	vici_end_section(b);
	const uint8_t *data;
	size_t len;
	assert_int_equal(vici_builder_finish(b, &data, &len), 0);
	struct vici_node *msg;
	assert_int_equal(vici_msg_parse(data, len, &msg, NULL), 0);
	vici_builder_free(b);
	return msg;
}

static struct tunnel_status *status_with(const char *ike_state, const char *child_state,
					 long cert_days)
{
	struct tunnel_status *st = tunnel_status_unreachable("unix:///test.vici", "");
	st->reachable = 1;
	st->error[0] = '\0';
	snprintf(st->daemon, sizeof(st->daemon), "charon 5.9.8");
	st->conns = calloc(1, sizeof(*st->conns));
	st->nconns = 1;
	snprintf(st->conns[0].name, sizeof(st->conns[0].name), "airlock");
	snprintf(st->conns[0].local_addrs, sizeof(st->conns[0].local_addrs), "203.0.113.1");
	snprintf(st->conns[0].children, sizeof(st->conns[0].children), "airlock");
	if (ike_state) {
		struct vici_node *ev =
			list_sa(ike_state, child_state, 1, "192.0.2.1/32", "192.0.2.2/32");
		const struct vici_node *evs[] = {ev};
		assert_int_equal(sa_table_replace(st->sas, evs, 1, 100, NULL), 0);
		vici_node_free(ev);
	}
	if (cert_days != LONG_MIN) {
		size_t len;
		uint8_t *der = make_cert_der("edge.example.com", cert_days, 7, &len);
		st->certs = calloc(1, sizeof(*st->certs));
		assert_int_equal(cert_info_from_der(der, len, &st->certs[0]), 0);
		st->certs[0].has_private_key = 1;
		st->ncerts = 1;
		free(der);
	}
	return st;
}

static const struct tunnel_check_params params = {
	.connection = "airlock",
	.child = "airlock",
	.local_address = "192.0.2.1",
	.remote_address = "192.0.2.2",
	.cert_warn_days = 30,
};

struct check_case {
	const char *what;
	const char *ike_state, *child_state;
	long cert_days;
	struct tunnel_check_params p;
	enum tunnel_check_level want;
	const char *want_text;
};

static void test_check_table(void **state)
{
	(void)state;
	struct tunnel_check_params other_addr = params;
	other_addr.remote_address = "192.0.2.3";
	struct tunnel_check_params other_conn = params;
	other_conn.connection = "other";
	struct tunnel_check_params no_addr = params;
	no_addr.local_address = "";
	no_addr.remote_address = "";
	struct tunnel_check_params other_child = no_addr;
	other_child.child = "mail";
	const struct check_case cases[] = {
		{"up, cert fine", "ESTABLISHED", "INSTALLED", 365, params, TUNNEL_CHECK_OK,
		 "airlock up to hub.example.com, CHILD_SA airlock #3 INSTALLED 192.0.2.1/32 === "
		 "192.0.2.2/32; certificate CN=edge.example.com,O=airlock expires in 365 days"},
		{"up, no certificate", "ESTABLISHED", "INSTALLED", LONG_MIN, params,
		 TUNNEL_CHECK_OK,
		 "airlock up to hub.example.com, CHILD_SA airlock #3 INSTALLED "
		 "192.0.2.1/32 === 192.0.2.2/32"},
		{"cert within 30 days", "ESTABLISHED", "INSTALLED", 30, params,
		 TUNNEL_CHECK_WARNING, NULL},
		{"cert at 31 days", "ESTABLISHED", "INSTALLED", 31, params, TUNNEL_CHECK_OK, NULL},
		{"cert expired", "ESTABLISHED", "INSTALLED", -2, params, TUNNEL_CHECK_CRITICAL,
		 NULL},
		{"no SA at all", NULL, NULL, 365, params, TUNNEL_CHECK_CRITICAL,
		 "no INSTALLED CHILD_SA airlock covers 192.0.2.1 === 192.0.2.2"},
		{"child rekeyed only", "ESTABLISHED", "REKEYED", 365, params, TUNNEL_CHECK_CRITICAL,
		 NULL},
		{"IKE connecting", "CONNECTING", "INSTALLED", 365, params, TUNNEL_CHECK_CRITICAL,
		 NULL},
		{"addresses not covered", "ESTABLISHED", "INSTALLED", 365, other_addr,
		 TUNNEL_CHECK_CRITICAL, NULL},
		{"connection not loaded", "ESTABLISHED", "INSTALLED", 365, other_conn,
		 TUNNEL_CHECK_CRITICAL, "connection other is not loaded in charon"},
		{"no addresses configured", "ESTABLISHED", "INSTALLED", 365, no_addr,
		 TUNNEL_CHECK_OK, NULL},
		{"other child name", "ESTABLISHED", "INSTALLED", 365, other_child,
		 TUNNEL_CHECK_CRITICAL, "no INSTALLED CHILD_SA mail of connection airlock"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct check_case *c = &cases[i];
		struct tunnel_status *st = status_with(c->ike_state, c->child_state, c->cert_days);
		struct tunnel_check chk;
		tunnel_check_eval(st, &c->p, NOW, &chk);
		if (chk.level != c->want || (c->want_text && strcmp(chk.text, c->want_text) != 0))
			fail_msg("case '%s': got %s '%s'", c->what,
				 tunnel_check_level_str(chk.level), chk.text);
		tunnel_status_free(st);
	}
}

static void test_check_unreachable(void **state)
{
	(void)state;
	struct tunnel_status *st = tunnel_status_unreachable(
		"unix:///x.vici", "cannot connect to unix:///x.vici: No such file or directory");
	struct tunnel_check chk;
	tunnel_check_eval(st, &params, NOW, &chk);
	assert_int_equal(chk.level, TUNNEL_CHECK_CRITICAL);
	assert_string_equal(
		chk.text,
		"charon unreachable: cannot connect to unix:///x.vici: No such file or directory");
	json_t *j = tunnel_status_json(st, &chk, NOW);
	assert_false(json_is_true(json_object_get(json_object_get(j, "vici"), "reachable")));
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(j, "check"), "status")),
		"CRITICAL");
	json_decref(j);
	tunnel_status_free(st);
}

static void test_status_json(void **state)
{
	(void)state;
	struct tunnel_status *st = status_with("ESTABLISHED", "INSTALLED", 100);
	struct tunnel_check chk;
	tunnel_check_eval(st, &params, NOW, &chk);
	json_t *j = tunnel_status_json(st, &chk, NOW);
	assert_int_equal(json_integer_value(json_object_get(j, "schema")), 1);
	json_t *conn = json_array_get(json_object_get(j, "connections"), 0);
	assert_string_equal(json_string_value(json_object_get(conn, "name")), "airlock");
	assert_true(json_is_true(json_object_get(conn, "loaded")));
	json_t *ike = json_array_get(json_object_get(conn, "ike_sas"), 0);
	assert_string_equal(json_string_value(json_object_get(ike, "state")), "ESTABLISHED");
	assert_string_equal(json_string_value(json_object_get(ike, "remote_id")),
			    "hub.example.com");
	assert_int_equal(json_integer_value(json_object_get(ike, "rekey_in_s")), 13000);
	assert_true(json_is_null(json_object_get(ike, "reauth_in_s")));
	json_t *child = json_array_get(json_object_get(ike, "child_sas"), 0);
	assert_string_equal(json_string_value(json_object_get(child, "spi_in")), "c1a2b3c4");
	assert_int_equal(json_integer_value(json_object_get(child, "bytes_out")), 2000);
	assert_int_equal(json_integer_value(json_object_get(child, "last_in_ago_s")), 3);
	assert_true(json_is_null(json_object_get(child, "last_out_ago_s")));
	assert_true(json_is_true(json_object_get(child, "encap")));
	assert_string_equal(
		json_string_value(json_array_get(json_object_get(child, "remote_ts"), 0)),
		"192.0.2.2/32");
	json_t *cert = json_array_get(json_object_get(j, "certificates"), 0);
	assert_int_equal(json_integer_value(json_object_get(cert, "days_left")), 100);
	assert_string_equal(json_string_value(json_object_get(cert, "serial")), "07");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(j, "check"), "status")), "OK");
	json_decref(j);
	tunnel_status_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cert_info),
		cmocka_unit_test(test_check_table),
		cmocka_unit_test(test_check_unreachable),
		cmocka_unit_test(test_status_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

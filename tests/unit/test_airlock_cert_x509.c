/*
 * Unit tests for tunnel/airlock_cert/acert_x509.c: the CA, host certificates
 * and CSRs that airlock-cert makes, and the verification chain (a certificate
 * of another CA, an expired one, a CSR with a broken signature or no valid
 * identity are refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tunnel/airlock_cert/acert_csr_request.h"
#include "tunnel/airlock_cert/acert_x509.h"
#include "tunnel/cert_info.h"

struct ca {
	EVP_PKEY *key;
	X509 *cert;
};

static struct ca make_ca(const char *cn)
{
	char err[256];
	struct ca ca;
	ca.key = acert_key_new(err, sizeof(err));
	assert_non_null(ca.key);
	ca.cert = acert_ca_new(ca.key, cn, ACERT_CA_DAYS, err, sizeof(err));
	assert_non_null(ca.cert);
	return ca;
}

static void free_ca(struct ca *ca)
{
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
}

static void test_issue_and_verify(void **state)
{
	(void)state;
	char err[256], id[ACERT_ID_MAX + 1], serial[128];
	struct ca ca = make_ca("test CA"), other = make_ca("other CA");
	EVP_PKEY *key = acert_key_new(err, sizeof(err));
	X509 *cert =
		acert_cert_issue(ca.cert, ca.key, key, "edge.example.com", 30, err, sizeof(err));
	assert_non_null(cert);
	assert_int_equal(acert_verify(ca.cert, cert, time(NULL), err, sizeof(err)), 0);
	/* A certificate does not verify against a CA that did not sign it. */
	assert_int_equal(acert_verify(other.cert, cert, time(NULL), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not verify"));
	/* Nor after it expired. */
	assert_int_equal(acert_verify(ca.cert, cert, time(NULL) + 31 * 86400, err, sizeof(err)),
			 -1);
	assert_int_equal(acert_cert_identity(cert, id, sizeof(id)), 0);
	assert_string_equal(id, "edge.example.com");
	assert_true(acert_cert_matches_key(cert, key));
	assert_false(acert_cert_matches_key(cert, ca.key));
	long days = acert_cert_days_left(cert, time(NULL));
	assert_true(days == 29 || days == 30);
	assert_int_equal(acert_cert_days_left(cert, time(NULL) + 40 * 86400) < 0, 1);

	/* The serial as cert_info (and so status and airlockctl) shows it. */
	acert_cert_serial(cert, serial, sizeof(serial));
	assert_int_equal(strlen(serial), 32);
	char *pem = acert_cert_pem(cert, NULL, err, sizeof(err));
	X509 *back = acert_cert_from_pem(pem, strlen(pem), err, sizeof(err));
	assert_non_null(back);
	unsigned char *der = NULL;
	int n = i2d_X509(back, &der);
	struct cert_info ci;
	assert_int_equal(cert_info_from_der(der, (size_t)n, &ci), 0);
	assert_string_equal(ci.serial, serial);
	assert_string_equal(ci.san, "edge.example.com");
	assert_string_equal(ci.subject, "CN=edge.example.com,O=airlock");
	OPENSSL_free(der);
	free(pem);
	X509_free(back);
	X509_free(cert);
	EVP_PKEY_free(key);
	free_ca(&ca);
	free_ca(&other);
}

static void test_ip_identity(void **state)
{
	(void)state;
	char err[256], id[ACERT_ID_MAX + 1];
	struct ca ca = make_ca("test CA");
	EVP_PKEY *key = acert_key_new(err, sizeof(err));
	X509 *cert = acert_cert_issue(ca.cert, ca.key, key, "203.0.113.1", 30, err, sizeof(err));
	assert_non_null(cert);
	assert_int_equal(acert_cert_identity(cert, id, sizeof(id)), 0);
	assert_string_equal(id, "203.0.113.1");
	X509_free(cert);
	EVP_PKEY_free(key);
	free_ca(&ca);
}

static void test_csr_round_trip(void **state)
{
	(void)state;
	char err[256], id[ACERT_ID_MAX + 1];
	struct ca ca = make_ca("test CA");
	EVP_PKEY *key = acert_key_new(err, sizeof(err));
	X509_REQ *req = acert_csr_new(key, "edge.example.com", err, sizeof(err));
	assert_non_null(req);
	size_t len;
	char *pem = acert_csr_pem(req, &len, err, sizeof(err));
	/* Text beside the PEM block (the attestation line rotate appends) is ignored. */
	char *text = malloc(len + 100);
	snprintf(text, len + 100, "%sairlock-attest-ed25519 AAAA edge\n", pem);
	X509_REQ *back = acert_csr_from_pem(text, strlen(text), err, sizeof(err));
	assert_non_null(back);
	X509 *cert = acert_csr_sign(ca.cert, ca.key, back, 30, id, err, sizeof(err));
	assert_non_null(cert);
	assert_string_equal(id, "edge.example.com");
	assert_true(acert_cert_matches_key(cert, key));
	assert_int_equal(acert_verify(ca.cert, cert, time(NULL), err, sizeof(err)), 0);
	X509_free(cert);

	/* A CSR whose signature is broken is refused. */
	unsigned char *der = NULL;
	int n = i2d_X509_REQ(req, &der);
	der[n - 5] ^= 0x01;
	const unsigned char *p = der;
	X509_REQ *bad = d2i_X509_REQ(NULL, &p, n);
	if (bad) {
		assert_null(acert_csr_sign(ca.cert, ca.key, bad, 30, id, err, sizeof(err)));
		X509_REQ_free(bad);
	}
	OPENSSL_free(der);
	free(text);
	free(pem);
	X509_REQ_free(req);
	X509_REQ_free(back);
	EVP_PKEY_free(key);
	free_ca(&ca);
}

static void test_identity_rules(void **state)
{
	(void)state;
	char err[256];
	assert_true(acert_id_valid("edge.example.com"));
	assert_true(acert_id_valid("192.0.2.1"));
	assert_false(acert_id_valid(""));
	assert_false(acert_id_valid("-edge"));
	assert_false(acert_id_valid("edge example"));
	assert_false(acert_id_valid("edge\"; x"));
	assert_false(acert_id_valid("a..b"));
	EVP_PKEY *key = acert_key_new(err, sizeof(err));
	assert_null(acert_csr_new(key, "bad id", err, sizeof(err)));
	assert_non_null(strstr(err, "invalid identity"));
	EVP_PKEY_free(key);
	assert_null(acert_key_from_pem("junk", 4, err, sizeof(err)));
	assert_null(acert_cert_from_pem("junk", 4, err, sizeof(err)));
}

/* The request an edge sends: CSR plus at most one well-formed attestation line. */
static void test_csr_request(void **state)
{
	(void)state;
	char err[256], text[8192];
	struct acert_attest at;
	assert_int_equal(acert_attest_new(&at), 0);
	EVP_PKEY *key = acert_key_new(err, sizeof(err));
	X509_REQ *req = acert_csr_new(key, "edge.example.com", err, sizeof(err));
	char *pem = acert_csr_pem(req, NULL, err, sizeof(err));
	struct acert_csr_request r;

	snprintf(text, sizeof(text), "%s%s", pem, at.public_line);
	assert_int_equal(acert_csr_request_parse(text, strlen(text), &r, err, sizeof(err)), 0);
	assert_string_equal(r.attest_line, at.public_line);
	assert_string_equal(r.attest_id, at.key_id);
	acert_csr_request_clear(&r);

	assert_int_equal(acert_csr_request_parse(pem, strlen(pem), &r, err, sizeof(err)), 0);
	assert_string_equal(r.attest_line, "");
	acert_csr_request_clear(&r);

	snprintf(text, sizeof(text), "%s%s%s", pem, at.public_line, at.public_line);
	assert_int_equal(acert_csr_request_parse(text, strlen(text), &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than one"));
	snprintf(text, sizeof(text), "%sairlock-attest-ed25519 notbase64 x\n", pem);
	assert_int_equal(acert_csr_request_parse(text, strlen(text), &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "malformed"));
	snprintf(text, sizeof(text), "%s%.*s", pem, (int)strlen(at.public_line) - 1,
		 at.public_line);
	assert_int_equal(acert_csr_request_parse(text, strlen(text), &r, err, sizeof(err)), -1);
	assert_int_equal(acert_csr_request_parse("junk\n", 5, &r, err, sizeof(err)), -1);
	assert_null(r.req);
	free(pem);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	acert_attest_wipe(&at);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_and_verify), cmocka_unit_test(test_ip_identity),
		cmocka_unit_test(test_csr_round_trip),	 cmocka_unit_test(test_identity_rules),
		cmocka_unit_test(test_csr_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

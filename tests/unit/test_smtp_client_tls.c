/*
 * STARTTLS in the SMTP client against the scripted server, with a
 * throw-away certificate made in memory: injected plaintext after the 220
 * is discarded, EHLO is repeated under TLS, required TLS without an offer
 * fails, and certificate verification fails closed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "relay/smtp_client.h"
#include "test_smtp_client_fake.h"

#define EHLO_TLS "250-fake.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"

struct t {
	struct event_base *base;
	struct fake *f;
	struct smtp_client_opts o;
	SSL_CTX *server, *client;
	X509 *cert;
	EVP_PKEY *key;
	struct smtp_client_conn *conn;
	int ready, done;
	struct smtp_client_result r;
};

static void make_cert(struct t *t)
{
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX v3;

	t->key = EVP_EC_gen("P-256");
	t->cert = X509_new();
	assert_non_null(t->key);
	X509_set_version(t->cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(t->cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(t->cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(t->cert), 3600);
	X509_set_pubkey(t->cert, t->key);
	name = X509_get_subject_name(t->cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"hub.test", -1,
				   -1, 0);
	X509_set_issuer_name(t->cert, name);
	X509V3_set_ctx(&v3, t->cert, t->cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:hub.test");
	X509_add_ext(t->cert, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(t->cert, t->key, EVP_sha256()) > 0);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	t->base = event_base_new();
	t->f = fake_new(t->base);
	make_cert(t);
	t->server = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate(t->server, t->cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(t->server, t->key), 1);
	t->client = SSL_CTX_new(TLS_client_method());
	t->f->tls = t->server;
	t->f->ehlo = EHLO_TLS;
	t->o.helo_name = "client.test";
	t->o.tls = t->client;
	t->o.tls_mode = SMTP_CLIENT_TLS_OPPORTUNISTIC;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	smtp_client_conn_free(t->conn);
	fake_free(t->f);
	SSL_CTX_free(t->server);
	SSL_CTX_free(t->client);
	X509_free(t->cert);
	EVP_PKEY_free(t->key);
	event_base_free(t->base);
	free(t);
	return 0;
}

static void on_ready(void *arg, struct smtp_client_conn *conn, const struct smtp_client_result *r)
{
	struct t *t = arg;

	(void)conn;
	t->ready = r ? -1 : 1;
	if (r)
		t->r = *r;
}

static void on_done(void *arg, struct smtp_client_conn *conn, const struct smtp_client_result *r)
{
	struct t *t = arg;

	(void)conn;
	t->done++;
	t->r = *r;
	t->r.rcpt_code = NULL;
	t->r.rcpt_reply = NULL;
}

static void connect_to(struct t *t)
{
	t->conn = smtp_client_conn_new(t->base, (struct sockaddr *)&t->f->addr, sizeof(t->f->addr),
				       &t->o, on_ready, t);
	assert_non_null(t->conn);
	RUN_UNTIL(t->base, t->ready != 0, 5000);
}

static void send_one(struct t *t)
{
	static const char *const rcpt[] = {"a@example.com"};
	off_t off;
	int fd = fake_content_file("secret\r\n", 8, &off);
	struct smtp_client_msg m = {"s@example.org", rcpt, 1, fd, off, 8, false, false};

	assert_int_equal(smtp_client_conn_send(t->conn, &m, on_done, t), 0);
	RUN_UNTIL(t->base, t->done == 1, 5000);
	close(fd);
}

static void assert_wire(struct t *t, const char *want)
{
	char *got = fake_wire(t->f);
	if (strcmp(got, want) != 0)
		fail_msg("wire:\n%s\nwant:\n%s", got, want);
	free(got);
}

/* The server sends a forged reply right after its 220: the client must not read it. */
static void test_starttls_discards_injection(void **state)
{
	struct t *t = *state;

	t->f->inject = "250-injected\r\n250 PIPELINING\r\n";
	connect_to(t);
	if (t->ready != 1)
		fail_msg("not ready: %s", t->r.reply);
	send_one(t);
	assert_true(t->r.delivered);
	assert_wire(t, "EHLO client.test\r\nSTARTTLS\r\n[tls]EHLO client.test\r\n"
		       "MAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.com>\r\n"
		       "DATA\r\nsecret\r\n.\r\n");
}

/* The same with verification: the trusted certificate and its name pass. */
static void test_starttls_verified(void **state)
{
	struct t *t = *state;

	X509_STORE_add_cert(SSL_CTX_get_cert_store(t->client), t->cert);
	t->o.tls_verify = true;
	t->o.tls_servername = "hub.test";
	t->o.tls_mode = SMTP_CLIENT_TLS_REQUIRED;
	connect_to(t);
	if (t->ready != 1)
		fail_msg("not ready: %s", t->r.reply);
	send_one(t);
	assert_true(t->r.delivered);
}

static void test_starttls_wrong_name(void **state)
{
	struct t *t = *state;

	X509_STORE_add_cert(SSL_CTX_get_cert_store(t->client), t->cert);
	t->o.tls_verify = true;
	t->o.tls_servername = "other.test";
	t->o.tls_mode = SMTP_CLIENT_TLS_REQUIRED;
	connect_to(t);
	assert_int_equal(t->ready, -1);
	assert_int_equal(t->r.stage, SMTP_CLIENT_STAGE_TLS);
	assert_true(t->r.temporary);
	assert_non_null(strstr(t->r.reply, "certificate"));
}

static void test_starttls_untrusted(void **state)
{
	struct t *t = *state;

	t->o.tls_verify = true;
	t->o.tls_servername = "hub.test";
	connect_to(t);
	assert_int_equal(t->ready, -1);
	assert_int_equal(t->r.stage, SMTP_CLIENT_STAGE_TLS);
	assert_non_null(strstr(t->r.reply, "certificate"));
}

static void test_tls_required_not_offered(void **state)
{
	struct t *t = *state;

	t->f->ehlo = "250-fake.test\r\n250 PIPELINING\r\n";
	t->o.tls_mode = SMTP_CLIENT_TLS_REQUIRED;
	connect_to(t);
	assert_int_equal(t->ready, -1);
	assert_int_equal(t->r.stage, SMTP_CLIENT_STAGE_TLS);
	assert_true(t->r.temporary);
	assert_non_null(strstr(t->r.reply, "does not offer STARTTLS"));
	assert_wire(t, "EHLO client.test\r\n");
}

/* Opportunistic: a refused STARTTLS leaves a plaintext session. */
static void test_starttls_refused_opportunistic(void **state)
{
	struct t *t = *state;

	t->f->rules[0] = (struct fake_rule){"STARTTLS", "454 4.7.0 TLS not available\r\n"};
	connect_to(t);
	assert_int_equal(t->ready, 1);
	send_one(t);
	assert_true(t->r.delivered);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_starttls_discards_injection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_verified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_wrong_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_untrusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_required_not_offered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_refused_opportunistic, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

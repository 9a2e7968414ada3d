/*
 * Unit tests for STARTTLS in the SMTP server engine (RFC 3207), with a
 * throw-away self-signed certificate made at run time: the injection test
 * (STARTTLS and NOOP in one write: the NOOP is never answered), state reset
 * and a fresh EHLO required, a second STARTTLS refused, a message over TLS,
 * and smtp_tls_ctx_new() errors.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "relay/smtp_tls.h"
#include "test_smtp_server_harness.h"

static char cert_path[256], key_path[256], tmp_dir[64];

static void write_pem_files(void)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;

	assert_non_null(pkey);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"mx.example.com", -1, -1, 0);
	X509_set_issuer_name(x, name);
	assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);

	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/smtp-tls-test-XXXXXX");
	assert_non_null(mkdtemp(tmp_dir));
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmp_dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", tmp_dir);
	assert_non_null(f = fopen(cert_path, "w"));
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	assert_non_null(f = fopen(key_path, "w"));
	assert_int_equal(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pkey);
}

static int setup(void **state)
{
	(void)state;
	write_pem_files();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(cert_path);
	unlink(key_path);
	rmdir(tmp_dir);
	return 0;
}

static SSL_CTX *start_tls_server(struct harness *h)
{
	char err[256] = "";
	SSL_CTX *ctx = smtp_tls_ctx_new(cert_path, key_path, err, sizeof(err));

	if (!ctx)
		print_error("%s\n", err);
	assert_non_null(ctx);
	h_default_opts(&h->opts);
	h->opts.tls = ctx;
	h_start(h, &h->opts);
	return ctx;
}

/* Reads the plaintext 220 octet by octet, so that nothing after it is taken. */
static void expect_plain_220(struct harness *h)
{
	char line[64];
	size_t n = 0;

	assert_int_equal(h->inlen, 0);
	for (int i = 0; i < WAIT_MS && n < sizeof(line) - 1;) {
		event_base_loop(h->base, EVLOOP_NONBLOCK);
		if (read(h->cfd, line + n, 1) != 1) {
			usleep(1000);
			i++;
			continue;
		}
		n++;
		if (n >= 2 && line[n - 2] == '\r' && line[n - 1] == '\n')
			break;
	}
	line[n] = '\0';
	assert_string_equal(line, "220 2.0.0 Ready to start TLS\r\n");
}

static void client_handshake(struct harness *h)
{
	int rc = 0;

	h->cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(h->cctx);
	SSL_CTX_set_verify(h->cctx, SSL_VERIFY_NONE, NULL);
	h->ssl = SSL_new(h->cctx);
	assert_non_null(h->ssl);
	SSL_set_fd(h->ssl, h->cfd);
	for (int i = 0; i < WAIT_MS; i++) {
		ERR_clear_error();
		rc = SSL_connect(h->ssl);
		if (rc == 1)
			break;
		int e = SSL_get_error(h->ssl, rc);
		assert_true(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
		event_base_loop(h->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_int_equal(rc, 1);
}

static void test_starttls_injection(void **state)
{
	struct harness h;
	SSL_CTX *ctx;

	(void)state;
	ctx = start_tls_server(&h);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "EHLO client.example.org\r\n");
	assert_string_equal(h_reply(&h), "250-mx.example.com\r\n"
					 "250-PIPELINING\r\n"
					 "250-SIZE 10000\r\n"
					 "250-8BITMIME\r\n"
					 "250-SMTPUTF8\r\n"
					 "250-ENHANCEDSTATUSCODES\r\n"
					 "250-STARTTLS\r\n"
					 "250 CHUNKING\r\n");
	/* The injected NOOP rides in the same segment as STARTTLS. */
	h_send(&h, "STARTTLS\r\nNOOP\r\n");
	expect_plain_220(&h);
	client_handshake(&h);
	/* Had the NOOP been answered, its 250 would come before our EHLO reply. */
	h_expect_silence(&h, 100);
	h_send(&h, "EHLO client.example.org\r\n");
	assert_string_equal(h_reply(&h), "250-mx.example.com\r\n"
					 "250-PIPELINING\r\n"
					 "250-SIZE 10000\r\n"
					 "250-8BITMIME\r\n"
					 "250-SMTPUTF8\r\n"
					 "250-ENHANCEDSTATUSCODES\r\n"
					 "250 CHUNKING\r\n");
	h_send(&h, "STARTTLS\r\n");
	h_expect(&h, "503 5.5.1 TLS already active");
	/* A message over TLS, stamped ESMTPS. */
	h_send(&h, "MAIL FROM:<a@example.org>\r\nRCPT TO:<r@example.com>\r\nDATA\r\n");
	h_expect(&h, "250 2.1.0 Ok");
	h_expect(&h, "250 2.1.5 Ok");
	h_expect_prefix(&h, "354 ");
	h_send(&h, "over tls\r\n.\r\nQUIT\r\n");
	h_expect(&h, "250 2.0.0 Ok: queued as Q1");
	h_expect(&h, "221 2.0.0 Bye");
	h_expect_closed(&h);
	assert_non_null(strstr(h.sink.msgs[0], " with ESMTPS id "));
	assert_non_null(strstr(h.sink.msgs[0], "(using TLSv1."));
	assert_string_equal(h_content(&h, 0), "over tls\r\n");
	h_stop(&h);
	smtp_tls_ctx_free(ctx);
}

static void test_starttls_resets_state(void **state)
{
	struct harness h;
	SSL_CTX *ctx;

	(void)state;
	ctx = start_tls_server(&h);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "STARTTLS\r\n");
	h_expect(&h, "503 5.5.1 Send EHLO or HELO first");
	h_send(&h, "EHLO client.example.org\r\n");
	h_expect_prefix(&h, "250 CHUNKING");
	h_send(&h, "MAIL FROM:<a@example.org>\r\n");
	h_expect(&h, "250 2.1.0 Ok");
	h_send(&h, "STARTTLS\r\n");
	h_expect(&h, "503 5.5.1 STARTTLS not allowed during a transaction");
	h_send(&h, "RSET\r\n");
	h_expect(&h, "250 2.0.0 Ok");
	h_send(&h, "STARTTLS\r\n");
	expect_plain_220(&h);
	client_handshake(&h);
	/* The EHLO before TLS no longer counts. */
	h_send(&h, "MAIL FROM:<a@example.org>\r\n");
	h_expect(&h, "503 5.5.1 Send EHLO or HELO first");
	h_send(&h, "EHLO client.example.org\r\n");
	h_expect_prefix(&h, "250 CHUNKING");
	h_send(&h, "MAIL FROM:<a@example.org>\r\n");
	h_expect(&h, "250 2.1.0 Ok");
	h_stop(&h);
	smtp_tls_ctx_free(ctx);
}

static void test_handshake_garbage(void **state)
{
	struct harness h;
	SSL_CTX *ctx;
	struct smtp_server_stats st;

	(void)state;
	ctx = start_tls_server(&h);
	h_connect(&h);
	h_expect(&h, "220 mx.example.com ESMTP");
	h_send(&h, "EHLO client.example.org\r\n");
	h_expect_prefix(&h, "250 CHUNKING");
	h_send(&h, "STARTTLS\r\n");
	expect_plain_220(&h);
	h_send(&h, "this is not a TLS ClientHello\r\n");
	h_expect_closed(&h);
	smtp_server_get_stats(h.srv, &st);
	assert_int_equal(st.connections_now, 0);
	h_stop(&h);
	smtp_tls_ctx_free(ctx);
}

static void test_ctx_errors(void **state)
{
	char err[512] = "";

	(void)state;
	assert_null(smtp_tls_ctx_new("/nonexistent/cert.pem", key_path, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot load certificate /nonexistent/cert.pem"));
	assert_null(smtp_tls_ctx_new(cert_path, "/nonexistent/key.pem", err, sizeof(err)));
	assert_non_null(strstr(err, "cannot load private key /nonexistent/key.pem"));
	smtp_tls_ctx_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_starttls_resets_state),
		cmocka_unit_test(test_handshake_garbage),
		cmocka_unit_test(test_ctx_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * OpenSSL server context and the STARTTLS switch of a bufferevent to a
 * bufferevent_openssl filter in the accepting state.
 */
#include "relay/smtp_tls.h"

#include <stdio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

static void tls_error(char *err, size_t errlen, const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	char reason[256] = "unknown error";

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	snprintf(err, errlen, "%s%s%s: %s", what, file ? " " : "", file ? file : "", reason);
	ERR_clear_error();
}

SSL_CTX *smtp_tls_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		tls_error(err, errlen, "cannot create TLS context", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		tls_error(err, errlen, "cannot load certificate", cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		tls_error(err, errlen, "cannot load private key", key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errlen, "private key does not match certificate", key_file);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void smtp_tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

struct bufferevent *smtp_tls_start(struct bufferevent *plain, SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);
	struct bufferevent *tls;

	if (!ssl) {
		ERR_clear_error();
		return NULL;
	}
	/* RFC 3207 section 5: nothing sent before the handshake may count. */
	struct evbuffer *in = bufferevent_get_input(plain);
	evbuffer_drain(in, evbuffer_get_length(in));
	tls = bufferevent_openssl_filter_new(bufferevent_get_base(plain), plain, ssl,
					     BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	/* On failure libevent has already released ssl as it sees fit (memory only). */
	if (!tls)
		return NULL;
	/* A clean shutdown is not required of SMTP clients; EOF ends the session. */
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	return tls;
}

void smtp_tls_describe(struct bufferevent *tls_bev, const char **version, const char **cipher)
{
	SSL *ssl = bufferevent_openssl_get_ssl(tls_bev);

	*version = NULL;
	*cipher = NULL;
	if (!ssl)
		return;
	*version = SSL_get_version(ssl);
	*cipher = SSL_get_cipher_name(ssl);
}

/*
 * TLS for the SMTP server: an OpenSSL server context from PEM files, and the
 * STARTTLS upgrade of a session's bufferevent (RFC 3207).
 */
#ifndef AIRLOCK_SMTP_TLS_H
#define AIRLOCK_SMTP_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct bufferevent;

/*
 * Creates a server context from cert_file (PEM, the certificate followed by
 * its chain) and key_file (PEM private key, must match). TLS 1.2 is the
 * minimum; renegotiation, compression and session tickets are off.
 * Returns the context, or NULL with a one-line reason in err (errlen
 * bytes, NUL-terminated) for the caller to print at start. Free with
 * smtp_tls_ctx_free().
 */
SSL_CTX *smtp_tls_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errlen);

/* Frees ctx (NULL is fine). Sessions still using it keep a reference. */
void smtp_tls_ctx_free(SSL_CTX *ctx);

/*
 * Starts the server side of a TLS handshake over plain: every octet still in
 * plain's input buffer is discarded first (plaintext sent after STARTTLS
 * must never be read as part of the encrypted session), what is in its
 * output buffer (the 220 reply) is sent before the handshake. Returns the
 * new filtering bufferevent, which gets plain owned (freeing it frees
 * plain and closes the socket); the caller sets its callbacks, watermarks
 * and timeouts. Returns NULL when memory is exhausted; the caller then
 * closes the session.
 */
struct bufferevent *smtp_tls_start(struct bufferevent *plain, SSL_CTX *ctx);

/*
 * The negotiated protocol ("TLSv1.3") and cipher of a bufferevent made by
 * smtp_tls_start() after its handshake; static strings, NULL when unknown.
 */
void smtp_tls_describe(struct bufferevent *tls_bev, const char **version, const char **cipher);

#endif

/*
 * Keys, certificates and CSRs for airlock-cert, with OpenSSL 3.
 *
 * Keys are EC P-256 (ECDSA with SHA-256): charon 5.9.8's pubkey
 * authentication accepts them through its openssl plugin, and the testbed
 * used them before airlock-cert existed. Private keys are written as
 * unencrypted PKCS#8 PEM (charon's load-key type "any" reads them).
 *
 * Host certificates carry the IKE identity as CN and as a dNSName (or
 * iPAddress, when the identity is an address) subjectAltName, because charon
 * matches local.id / remote.id against the SAN. The CA is a self-signed
 * certificate with basicConstraints CA:TRUE, pathlen 0.
 *
 * Functions returning pointers give the caller ownership (EVP_PKEY_free,
 * X509_free, X509_REQ_free) and return NULL with a reason in err on failure.
 */
#ifndef AIRLOCK_ACERT_X509_H
#define AIRLOCK_ACERT_X509_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define ACERT_ID_MAX	253
#define ACERT_CA_DAYS	3650
#define ACERT_HOST_DAYS 365
#define ACERT_PEM_MAX	(64 * 1024)

/* 1 if id is a usable IKE identity: 1..253 of [A-Za-z0-9.-:], starts alphanumeric. */
int acert_id_valid(const char *id);

/* A new P-256 key. */
EVP_PKEY *acert_key_new(char *err, size_t errlen);

/* PKCS#8 PEM of key into a new NUL-terminated buffer (wipe with sodium_memzero, free()). */
char *acert_key_pem(EVP_PKEY *key, size_t *len, char *err, size_t errlen);

/* A private key from PEM (PKCS#8 or traditional). */
EVP_PKEY *acert_key_from_pem(const void *pem, size_t len, char *err, size_t errlen);

/* A self-signed CA certificate "CN=cn,O=airlock" valid for days. */
X509 *acert_ca_new(EVP_PKEY *key, const char *cn, int days, char *err, size_t errlen);

/*
 * A host certificate for identity id with public key pub, issued by ca/cakey,
 * valid for days, with a random positive 128-bit serial.
 */
X509 *acert_cert_issue(X509 *ca, EVP_PKEY *cakey, EVP_PKEY *pub, const char *id, int days,
		       char *err, size_t errlen);

/* A CSR "CN=id,O=airlock" with the SAN of id, signed by key. */
X509_REQ *acert_csr_new(EVP_PKEY *key, const char *id, char *err, size_t errlen);

/*
 * Checks a CSR (its own signature, a valid identity in CN) and issues a
 * certificate for it. The identity is written into id_out (ACERT_ID_MAX + 1).
 */
X509 *acert_csr_sign(X509 *ca, EVP_PKEY *cakey, X509_REQ *req, int days, char *id_out, char *err,
		     size_t errlen);

/* PEM of a certificate / CSR into a new NUL-terminated buffer (free()). */
char *acert_cert_pem(X509 *cert, size_t *len, char *err, size_t errlen);
char *acert_csr_pem(X509_REQ *req, size_t *len, char *err, size_t errlen);

/* The first certificate / CSR in PEM text (untrusted input; text beside the PEM is ignored). */
X509 *acert_cert_from_pem(const void *pem, size_t len, char *err, size_t errlen);
X509_REQ *acert_csr_from_pem(const void *pem, size_t len, char *err, size_t errlen);

/*
 * Verifies that cert chains to ca (the only trust anchor), is in date at now
 * and is fit for an end entity. Returns 0, or -1 with the reason.
 */
int acert_verify(X509 *ca, X509 *cert, time_t now, char *err, size_t errlen);

/* 1 if cert's public key is key's. */
int acert_cert_matches_key(X509 *cert, EVP_PKEY *key);

/* The identity a certificate carries (first DNS or IP SAN, else CN). Returns 0 or -1. */
int acert_cert_identity(X509 *cert, char *out, size_t outlen);

/* Serial in upper-case hex without separators, as cert_info shows it. */
void acert_cert_serial(X509 *cert, char *out, size_t outlen);

/* Whole days from now until notAfter (negative once expired). */
long acert_cert_days_left(X509 *cert, time_t now);

#endif

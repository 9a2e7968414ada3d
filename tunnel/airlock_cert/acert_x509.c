/*
 * Keys, certificates and CSRs with OpenSSL (see acert_x509.h).
 */
#include "tunnel/airlock_cert/acert_x509.h"

#include "common/errmsg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static int ossl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return errmsg_set(err, errlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

int acert_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > ACERT_ID_MAX || !isalnum((unsigned char)id[0]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (!isalnum(c) && c != '.' && c != '-' && c != ':')
			return 0;
	}
	return strstr(id, "..") == NULL;
}

EVP_PKEY *acert_key_new(char *err, size_t errlen)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	if (!k)
		ossl_err(err, errlen, "cannot generate a P-256 key");
	return k;
}

static char *bio_take(BIO *bio, size_t *len, char *err, size_t errlen)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *out = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (!out) {
		errmsg_set(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	if (len)
		*len = (size_t)n;
	return out;
}

char *acert_key_pem(EVP_PKEY *key, size_t *len, char *err, size_t errlen)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	if (!bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(bio);
		ossl_err(err, errlen, "cannot encode the private key");
		return NULL;
	}
	char *out = bio_take(bio, len, err, errlen);
	BIO_free(bio);
	return out;
}

EVP_PKEY *acert_key_from_pem(const void *pem, size_t len, char *err, size_t errlen)
{
	if (len > ACERT_PEM_MAX) {
		errmsg_set(err, errlen, "private key too large");
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!k)
		ossl_err(err, errlen, "not a PEM private key");
	return k;
}

static int set_name(X509_NAME *name, const char *cn)
{
	return X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
					  (const unsigned char *)"airlock", -1, -1, 0) == 1 &&
	       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					  -1, 0) == 1;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return 0;
	int ok = X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return ok == 1;
}

static int random_serial(X509 *cert)
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return 0;
	b[0] &= 0x7f; /* positive */
	b[0] |= 0x40; /* full length, so every serial prints with 32 digits */
	BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
	int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
	BN_free(bn);
	return ok;
}

static void san_value(const char *id, char *out, size_t outlen)
{
	unsigned char buf[16];
	if (inet_pton(AF_INET, id, buf) == 1 || inet_pton(AF_INET6, id, buf) == 1)
		snprintf(out, outlen, "IP:%s", id);
	else
		snprintf(out, outlen, "DNS:%s", id);
}

static X509 *cert_skeleton(EVP_PKEY *pub, const char *cn, int days)
{
	X509 *c = X509_new();
	if (!c)
		return NULL;
	if (X509_set_version(c, 2) != 1 || !random_serial(c) ||
	    !X509_gmtime_adj(X509_getm_notBefore(c), -300) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), (long)days * 86400) ||
	    X509_set_pubkey(c, pub) != 1 || !set_name(X509_get_subject_name(c), cn)) {
		X509_free(c);
		return NULL;
	}
	return c;
}

X509 *acert_ca_new(EVP_PKEY *key, const char *cn, int days, char *err, size_t errlen)
{
	X509 *c = cert_skeleton(key, cn, days);
	if (!c || X509_set_issuer_name(c, X509_get_subject_name(c)) != 1 ||
	    !add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    !add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(c, c, NID_subject_key_identifier, "hash") ||
	    X509_sign(c, key, EVP_sha256()) <= 0) {
		X509_free(c);
		ossl_err(err, errlen, "cannot create the CA certificate");
		return NULL;
	}
	return c;
}

X509 *acert_cert_issue(X509 *ca, EVP_PKEY *cakey, EVP_PKEY *pub, const char *id, int days,
		       char *err, size_t errlen)
{
	if (!acert_id_valid(id)) {
		errmsg_set(err, errlen, "invalid identity '%.64s'", id);
		return NULL;
	}
	char san[ACERT_ID_MAX + 8];
	san_value(id, san, sizeof(san));
	X509 *c = cert_skeleton(pub, id, days);
	if (!c || X509_set_issuer_name(c, X509_get_subject_name(ca)) != 1 ||
	    !add_ext(c, ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(c, ca, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(c, ca, NID_subject_alt_name, san) ||
	    !add_ext(c, ca, NID_subject_key_identifier, "hash") ||
	    !add_ext(c, ca, NID_authority_key_identifier, "keyid") ||
	    X509_sign(c, cakey, EVP_sha256()) <= 0) {
		X509_free(c);
		ossl_err(err, errlen, "cannot issue the certificate");
		return NULL;
	}
	return c;
}

X509_REQ *acert_csr_new(EVP_PKEY *key, const char *id, char *err, size_t errlen)
{
	if (!acert_id_valid(id)) {
		errmsg_set(err, errlen, "invalid identity '%.64s'", id);
		return NULL;
	}
	X509_REQ *r = X509_REQ_new();
	if (!r || X509_REQ_set_version(r, 0) != 1 || X509_REQ_set_pubkey(r, key) != 1 ||
	    !set_name(X509_REQ_get_subject_name(r), id) ||
	    X509_REQ_sign(r, key, EVP_sha256()) <= 0) {
		X509_REQ_free(r);
		ossl_err(err, errlen, "cannot create the CSR");
		return NULL;
	}
	return r;
}

static int name_cn(const X509_NAME *name, char *out, size_t outlen)
{
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (idx < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0)
		return -1;
	const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
	if (!s || s->length <= 0 || (size_t)s->length >= outlen)
		return -1;
	memcpy(out, s->data, (size_t)s->length);
	out[s->length] = '\0';
	return strlen(out) == (size_t)s->length ? 0 : -1;
}

X509 *acert_csr_sign(X509 *ca, EVP_PKEY *cakey, X509_REQ *req, int days, char *id_out, char *err,
		     size_t errlen)
{
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	if (!pub || X509_REQ_verify(req, pub) != 1) {
		ossl_err(err, errlen, "the CSR's signature does not verify");
		return NULL;
	}
	if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC || EVP_PKEY_get_bits(pub) != 256) {
		errmsg_set(err, errlen, "the CSR's key is not a P-256 key");
		return NULL;
	}
	char id[ACERT_ID_MAX + 1];
	if (name_cn(X509_REQ_get_subject_name(req), id, sizeof(id)) != 0 || !acert_id_valid(id)) {
		errmsg_set(err, errlen, "the CSR's subject has no single valid CN identity");
		return NULL;
	}
	snprintf(id_out, ACERT_ID_MAX + 1, "%s", id);
	return acert_cert_issue(ca, cakey, pub, id, days, err, errlen);
}

char *acert_cert_pem(X509 *cert, size_t *len, char *err, size_t errlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio_X509(bio, cert)) {
		BIO_free(bio);
		ossl_err(err, errlen, "cannot encode the certificate");
		return NULL;
	}
	char *out = bio_take(bio, len, err, errlen);
	BIO_free(bio);
	return out;
}

char *acert_csr_pem(X509_REQ *req, size_t *len, char *err, size_t errlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio_X509_REQ(bio, req)) {
		BIO_free(bio);
		ossl_err(err, errlen, "cannot encode the CSR");
		return NULL;
	}
	char *out = bio_take(bio, len, err, errlen);
	BIO_free(bio);
	return out;
}

X509 *acert_cert_from_pem(const void *pem, size_t len, char *err, size_t errlen)
{
	if (len > ACERT_PEM_MAX) {
		errmsg_set(err, errlen, "certificate too large");
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *c = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!c)
		ossl_err(err, errlen, "not a PEM certificate");
	return c;
}

X509_REQ *acert_csr_from_pem(const void *pem, size_t len, char *err, size_t errlen)
{
	if (len > ACERT_PEM_MAX) {
		errmsg_set(err, errlen, "CSR too large");
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509_REQ *r = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!r)
		ossl_err(err, errlen, "not a PEM certificate request");
	return r;
}

int acert_verify(X509 *ca, X509 *cert, time_t now, char *err, size_t errlen)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc = -1;
	if (!store || !ctx || X509_STORE_add_cert(store, ca) != 1 ||
	    X509_STORE_CTX_init(ctx, store, cert, NULL) != 1) {
		ossl_err(err, errlen, "cannot set up verification");
		goto out;
	}
	X509_STORE_CTX_set_time(ctx, 0, now);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY);
	if (X509_verify_cert(ctx) == 1) {
		rc = 0;
	} else {
		errmsg_set(err, errlen, "certificate does not verify against the CA: %s",
			   X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		ERR_clear_error();
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

int acert_cert_matches_key(X509 *cert, EVP_PKEY *key)
{
	return X509_check_private_key(cert, key) == 1 || (ERR_clear_error(), 0);
}

int acert_cert_identity(X509 *cert, char *out, size_t outlen)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int rc = -1;
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && rc != 0; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		if (gn->type == GEN_DNS) {
			const ASN1_IA5STRING *s = gn->d.ia5;
			if (s->length > 0 && (size_t)s->length < outlen &&
			    !memchr(s->data, 0, (size_t)s->length)) {
				memcpy(out, s->data, (size_t)s->length);
				out[s->length] = '\0';
				rc = 0;
			}
		} else if (gn->type == GEN_IPADD) {
			const ASN1_OCTET_STRING *ip = gn->d.iPAddress;
			int af = ip->length == 4 ? AF_INET : ip->length == 16 ? AF_INET6 : 0;
			if (af && inet_ntop(af, ip->data, out, (socklen_t)outlen))
				rc = 0;
		}
	}
	GENERAL_NAMES_free(names);
	if (rc != 0)
		rc = name_cn(X509_get_subject_name(cert), out, outlen);
	return rc;
}

void acert_cert_serial(X509 *cert, char *out, size_t outlen)
{
	out[0] = '\0';
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	if (hex)
		snprintf(out, outlen, "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
}

long acert_cert_days_left(X509 *cert, time_t now)
{
	int days = 0, secs = 0;
	ASN1_TIME *t = ASN1_TIME_set(NULL, now);
	if (!t || ASN1_TIME_diff(&days, &secs, t, X509_get0_notAfter(cert)) != 1) {
		ASN1_TIME_free(t);
		return -1;
	}
	ASN1_TIME_free(t);
	long long total = (long long)days * 86400 + secs;
	return (long)(total >= 0 ? total / 86400 : -((-total + 86399) / 86400));
}

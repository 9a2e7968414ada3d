/*
 * X.509 decoding for status output.
 */
#include "tunnel/cert_info.h"

#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static void name_to_text(const X509_NAME *name, char *out, size_t outsz)
{
	out[0] = '\0';
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio)
		return;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		int n = BIO_read(bio, out, (int)outsz - 1);
		out[n > 0 ? n : 0] = '\0';
	}
	BIO_free(bio);
}

static int asn1_time_to_time_t(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = timegm(&tm);
	return 0;
}

static void sans_to_text(X509 *x, char *out, size_t outsz)
{
	out[0] = '\0';
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (!names)
		return;
	size_t used = 0;
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		char item[256] = "";
		if (gn->type == GEN_DNS || gn->type == GEN_EMAIL) {
			const ASN1_IA5STRING *s = gn->d.ia5;
			snprintf(item, sizeof(item), "%.*s", s->length, (const char *)s->data);
		} else if (gn->type == GEN_IPADD) {
			const ASN1_OCTET_STRING *ip = gn->d.iPAddress;
			if (ip->length == 4)
				snprintf(item, sizeof(item), "%u.%u.%u.%u", ip->data[0],
					 ip->data[1], ip->data[2], ip->data[3]);
		}
		if (!item[0])
			continue;
		int n = snprintf(out + used, outsz - used, "%s%s", used ? "," : "", item);
		if (n < 0 || (size_t)n >= outsz - used) {
			out[used] = '\0';
			break;
		}
		used += (size_t)n;
	}
	GENERAL_NAMES_free(names);
}

int cert_info_from_der(const uint8_t *der, size_t len, struct cert_info *out)
{
	memset(out, 0, sizeof(*out));
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	if (!x)
		return -1;
	int rc = -1;
	name_to_text(X509_get_subject_name(x), out->subject, sizeof(out->subject));
	name_to_text(X509_get_issuer_name(x), out->issuer, sizeof(out->issuer));
	sans_to_text(x, out->san, sizeof(out->san));
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	if (hex && asn1_time_to_time_t(X509_get0_notBefore(x), &out->not_before) == 0 &&
	    asn1_time_to_time_t(X509_get0_notAfter(x), &out->not_after) == 0) {
		snprintf(out->serial, sizeof(out->serial), "%s", hex);
		rc = 0;
	}
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

long cert_info_days_left(const struct cert_info *ci, time_t now)
{
	double secs = difftime(ci->not_after, now);
	long days = (long)(secs / 86400);
	if (secs < 0 && (double)days * 86400 != secs)
		days--;
	return days;
}

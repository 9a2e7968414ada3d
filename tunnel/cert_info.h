/*
 * What airlock shows about an X.509 certificate: subject, issuer, serial and
 * validity, decoded with OpenSSL from the DER that charon's list-certs returns.
 */
#ifndef AIRLOCK_CERT_INFO_H
#define AIRLOCK_CERT_INFO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cert_info {
	char subject[512]; /* RFC 2253 form, e.g. "CN=edge.example.com,O=airlock" */
	char issuer[512];
	char serial[128]; /* hex, upper case, no separators */
	char san[512];	  /* DNS/IP/email alternative names, comma separated, "" if none */
	time_t not_before;
	time_t not_after;
	int has_private_key; /* filled by the caller: charon holds the matching key */
};

/*
 * Decodes a DER certificate of len bytes into *out. Returns 0, or -1 if it
 * is not a parseable X.509 certificate (out is then zeroed).
 */
int cert_info_from_der(const uint8_t *der, size_t len, struct cert_info *out);

/*
 * Whole days from now until not_after, rounded down; negative once expired.
 */
long cert_info_days_left(const struct cert_info *ci, time_t now);

#endif

/*
 * Reading an edge's certificate request (see acert_csr_request.h).
 */
#include "tunnel/airlock_cert/acert_csr_request.h"

#include "common/errmsg.h"
#include "tunnel/airlock_cert/acert_x509.h"

#include <stdio.h>
#include <string.h>

#define ATTEST_PREFIX "airlock-attest-ed25519 "

int acert_csr_request_parse(const char *text, size_t len, struct acert_csr_request *out, char *err,
			    size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len == 0 || len > ACERT_CSR_REQUEST_MAX)
		return errmsg_set(err, errlen, "request empty or larger than %d octets",
				  ACERT_CSR_REQUEST_MAX);
	if (memchr(text, '\0', len))
		return errmsg_set(err, errlen, "request is not text");
	/* Attestation lines: at the start of a line, at most one. */
	const size_t plen = strlen(ATTEST_PREFIX);
	const char *found = NULL;
	for (size_t i = 0; i + plen <= len; i++) {
		if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, ATTEST_PREFIX, plen) == 0) {
			if (found)
				return errmsg_set(err, errlen,
						  "more than one attestation key line");
			found = text + i;
		}
	}
	if (found) {
		const char *nl = memchr(found, '\n', len - (size_t)(found - text));
		size_t n = nl ? (size_t)(nl - found) + 1 : 0;
		if (!nl || n >= sizeof(out->attest_line) ||
		    acert_attest_pub_id(found, n, out->attest_id) != 0)
			return errmsg_set(err, errlen, "malformed attestation key line");
		memcpy(out->attest_line, found, n);
		out->attest_line[n] = '\0';
	}
	char why[256];
	out->req = acert_csr_from_pem(text, len, why, sizeof(why));
	if (!out->req) {
		memset(out, 0, sizeof(*out));
		return errmsg_set(err, errlen, "%s", why);
	}
	return 0;
}

void acert_csr_request_clear(struct acert_csr_request *r)
{
	X509_REQ_free(r->req);
	memset(r, 0, sizeof(*r));
}

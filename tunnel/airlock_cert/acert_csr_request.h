/*
 * A certificate request as an edge sends it to the hub (a file for
 * `airlock-cert sign`, or the request over the tunnel to `airlock-cert
 * serve`): a PEM CSR, optionally followed by the edge's next attestation
 * public key line "airlock-attest-ed25519 PUBKEY KEYID\n".
 *
 * Untrusted input: at most ACERT_CSR_REQUEST_MAX octets, no NUL; the CSR must
 * parse; a present attestation line must be well formed and LF-terminated;
 * more than one attestation line is refused.
 */
#ifndef AIRLOCK_ACERT_CSR_REQUEST_H
#define AIRLOCK_ACERT_CSR_REQUEST_H

#include <stddef.h>

#include <openssl/x509.h>

#include "tunnel/airlock_cert/acert_attest.h"

#define ACERT_CSR_REQUEST_MAX (16 * 1024)

struct acert_csr_request {
	X509_REQ *req;				 /* gets owned: acert_csr_request_clear() */
	char attest_line[ACERT_ATTEST_LINE_MAX]; /* "" when absent */
	char attest_id[ACERT_ATTEST_KEYID_LEN + 1];
};

/* Parses text[0..len). Returns 0, or -1 with a one-line reason in err (out cleared). */
int acert_csr_request_parse(const char *text, size_t len, struct acert_csr_request *out, char *err,
			    size_t errlen);

void acert_csr_request_clear(struct acert_csr_request *r);

#endif

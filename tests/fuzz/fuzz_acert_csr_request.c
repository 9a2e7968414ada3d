/*
 * Fuzz target for the certificate request an edge sends to the hub
 * (acert_csr_request.c: read by `airlock-cert sign` from a file and by
 * `airlock-cert serve` from the tunnel). Invariants: a refusal has a reason
 * and leaves no CSR; an accepted request has a CSR and, if it carries an
 * attestation line, a 16-digit key id and an LF-terminated line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/airlock_cert/acert_csr_request.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256] = "";
	struct acert_csr_request r;
	if (acert_csr_request_parse((const char *)data, size, &r, err, sizeof(err)) != 0) {
		CHECK(err[0] != '\0');
		CHECK(r.req == NULL);
		return 0;
	}
	CHECK(r.req != NULL);
	size_t n = strlen(r.attest_line);
	if (n) {
		CHECK(r.attest_line[n - 1] == '\n');
		CHECK(strlen(r.attest_id) == 16);
	}
	acert_csr_request_clear(&r);
	return 0;
}
